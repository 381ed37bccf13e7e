#include <xlb/util/file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace xlb {

result<> make_dirs(const std::string& path, unsigned mode) {
    for (size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            auto part = path.substr(0, i);
            if (::mkdir(part.c_str(), mode) < 0 && errno != EEXIST) {
                return errno_error("create {}", part);
            }
        }
    }
    return {};
}

result<> write_file_atomic(const std::string& path, const std::string& text, unsigned mode) {
    auto tmp = fmt::format("{}.tmp.{}", path, ::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return errno_error("create {}", tmp);
    }
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    int saved = errno;
    ::close(fd);
    if (!ok) {
        ::unlink(tmp.c_str());
        return error{saved, fmt::format("write {}", tmp)};
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        auto e = errno_error("rename {} to {}", tmp, path);
        ::unlink(tmp.c_str());
        return e;
    }
    return {};
}

result<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return errno_error("open {}", path);
    }
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) {
        return errno_error("read {}", path);
    }
    return s.str();
}

std::string escape_path(const std::string& path) {
    std::string out;
    for (char c : path) {
        if (c == '/') {
            out += "%2F";
        } else if (c == '%') {
            out += "%25";
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace xlb
