#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/fallback.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace xlb {

namespace {

// '/' and '%' as %2F and %25: one file name per pin dir, reversible.
std::string escape(const std::string& pin_dir) {
    std::string out;
    for (char c : pin_dir) {
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

result<> make_dirs(const std::string& path) {
    for (size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            auto part = path.substr(0, i);
            if (mkdir(part.c_str(), 0755) < 0 && errno != EEXIST) {
                return errno_error("create {}", part);
            }
        }
    }
    return {};
}

// Values are one line each: a newline in one would end it.
std::string one_line(std::string s) {
    for (auto& c : s) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return s;
}

} // namespace

std::string run_dir() {
    const char* env = std::getenv("XLB_RUN_DIR");
    return env && *env ? env : "/run/xlb";
}

std::string fallback_path(const std::string& pin_dir) { return run_dir() + "/fallback/" + escape(pin_dir); }

result<std::optional<fallback_record>> read_fallback(const std::string& pin_dir) {
    auto path = fallback_path(pin_dir);
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) {
            return std::optional<fallback_record>{};
        }
        return errno_error("read the fallback record {}", path);
    }
    fallback_record rec;
    rec.pin_dir = pin_dir;
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) {
            continue;
        }
        auto key = line.substr(0, eq);
        auto value = line.substr(eq + 1);
        if (key == "interface") {
            rec.ifname = value;
        } else if (key == "reason") {
            rec.reason = value;
        } else if (key == "since") {
            rec.since_unix = std::strtoll(value.c_str(), nullptr, 10);
        }
    }
    return std::optional<fallback_record>{rec};
}

result<> write_fallback(const fallback_record& rec) {
    auto dir = run_dir() + "/fallback";
    if (auto r = make_dirs(dir); !r) {
        return r.error();
    }
    auto path = fallback_path(rec.pin_dir);
    auto tmp = fmt::format("{}.tmp.{}", path, getpid());
    std::string text = fmt::format("# xlb: the instance at this pin dir is served by kernel IPVS\n"
                                   "pin_dir={}\ninterface={}\nreason={}\nsince={}\n",
                                   one_line(rec.pin_dir), one_line(rec.ifname), one_line(rec.reason),
                                   rec.since_unix);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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

result<> remove_fallback(const std::string& pin_dir) {
    auto path = fallback_path(pin_dir);
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
        return errno_error("remove the fallback record {}", path);
    }
    return {};
}

std::vector<change> copy_table(const std::vector<service_state>& table, const timeouts* t, bool replace) {
    change_set out;
    if (replace) {
        out.push_back(change::clear_all());
    }
    for (const auto& s : table) {
        out.push_back(change::add_service(s.config));
        // Each add goes first in the list: add the oldest first.
        for (auto d = s.dests.rbegin(); d != s.dests.rend(); ++d) {
            out.push_back(change::add_dest(s.config.key, d->config));
        }
    }
    if (t) {
        out.push_back(change::set_timeouts(*t));
    }
    return out;
}

std::vector<change> delete_table(const std::vector<service_state>& table) {
    change_set out;
    for (const auto& s : table) {
        out.push_back(change::del_service(s.config.key));
    }
    return out;
}

} // namespace xlb
