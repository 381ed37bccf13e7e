#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/fallback.h>
#include <xlb/util/file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace xlb {

namespace {

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

std::string fallback_path(const std::string& pin_dir) { return run_dir() + "/fallback/" + escape_path(pin_dir); }

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
    std::string text = fmt::format("# xlb: the instance at this pin dir is served by kernel IPVS\n"
                                   "pin_dir={}\ninterface={}\nreason={}\nsince={}\n",
                                   one_line(rec.pin_dir), one_line(rec.ifname), one_line(rec.reason),
                                   rec.since_unix);
    return write_file_atomic(path, text);
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
