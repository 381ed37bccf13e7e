#include "options.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

namespace xlbd {

std::string usage() {
    return "usage: xlbd [-f FILE] [--interface IFACE]... [--pin-dir DIR] [--backend xdp|ipvs|auto]\n"
           "            [--metrics [ADDR:]PORT|off] [--log-level debug|info|warning|error]\n"
           "            [--log-target stderr|journald] [--cleanup-on-exit] [--socket PATH]\n"
           "       xlbd -t [-f FILE]\n"
           "       xlbd -h | -v\n"
           "FILE defaults to /etc/keepalived/keepalived.conf.\n";
}

namespace {

// "--name=value" or "--name value" (and "-f value", "-fvalue").
struct arg_reader {
    int argc;
    const char* const* argv;
    int i = 1;

    bool done() const { return i >= argc; }
    std::string_view peek() const { return argv[i]; }

    std::string value(std::string_view name, std::string_view inline_value, bool has_inline) {
        if (has_inline) {
            return std::string(inline_value);
        }
        if (i + 1 >= argc) {
            throw usage_error(fmt::format("option {} needs a value", name));
        }
        return argv[++i];
    }
};

// A bare port listens on loopback; "off" turns the endpoint off.
std::string metrics_address(const std::string& v) {
    if (v == "off") {
        return {};
    }
    if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
        return "127.0.0.1:" + v;
    }
    if (v.empty()) {
        throw usage_error("--metrics needs [ADDR:]PORT or off");
    }
    return v;
}

} // namespace

options parse_options(int argc, const char* const* argv) {
    options o;
    if (const char* b = std::getenv("XLB_BACKEND"); b && *b) {
        o.backend = b;
    }
    arg_reader r{argc, argv};
    for (; !r.done(); ++r.i) {
        std::string_view a = r.peek();
        std::string_view name = a;
        std::string_view inl;
        bool has_inline = false;
        if (a.starts_with("--")) {
            if (auto eq = a.find('='); eq != std::string_view::npos) {
                name = a.substr(0, eq);
                inl = a.substr(eq + 1);
                has_inline = true;
            }
        } else if (a.size() > 2 && a[0] == '-' && a[1] == 'f') {
            name = "-f";
            inl = a.substr(2);
            has_inline = true;
        }
        if (name == "-f" || name == "--use-file") {
            o.config_file = r.value(name, inl, has_inline);
        } else if (name == "-t" || name == "--config-test") {
            o.test_only = true;
        } else if (name == "-h" || name == "--help") {
            o.help = true;
        } else if (name == "-v" || name == "--version") {
            o.version = true;
        } else if (name == "--interface" || name == "-i") {
            o.interfaces.push_back(r.value(name, inl, has_inline));
        } else if (name == "--pin-dir") {
            o.pin_dir = r.value(name, inl, has_inline);
        } else if (name == "--backend") {
            o.backend = r.value(name, inl, has_inline);
        } else if (name == "--metrics") {
            o.metrics = metrics_address(r.value(name, inl, has_inline));
        } else if (name == "--log-level") {
            auto v = r.value(name, inl, has_inline);
            auto l = xlb::log::parse_level(v);
            if (!l) {
                throw usage_error(fmt::format("--log-level is debug, info, warning or error, not '{}'", v));
            }
            o.log_level = *l;
        } else if (name == "--log-target") {
            auto v = r.value(name, inl, has_inline);
            if (v == "stderr") {
                o.log_target = xlb::log::target::stderr_stream;
            } else if (v == "journald") {
                o.log_target = xlb::log::target::journald;
            } else {
                throw usage_error(fmt::format("--log-target is stderr or journald, not '{}'", v));
            }
        } else if (name == "--cleanup-on-exit") {
            o.cleanup_on_exit = true;
        } else if (name == "--socket") {
            o.socket = r.value(name, inl, has_inline);
        } else {
            throw usage_error(fmt::format("unknown argument '{}'", a));
        }
    }
    if (o.backend != "xdp" && o.backend != "ipvs" && o.backend != "auto") {
        throw usage_error(fmt::format("--backend is xdp, ipvs or auto, not '{}'", o.backend));
    }
    if (o.config_file.empty()) {
        throw usage_error("-f needs a file name");
    }
    if (o.backend == "ipvs" && !o.interfaces.empty()) {
        throw usage_error("--interface attaches XDP: it does not go with --backend ipvs");
    }
    return o;
}

} // namespace xlbd
