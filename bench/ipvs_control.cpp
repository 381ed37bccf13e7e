// xlb-bench-ipvs: the control plane on kernel IPVS, xlbctl --backend ipvs
// against real ipvsadm on the same kernel, in the same run. Runs where
// kernel IPVS is (bench/ipvs boots the ipvs tier's VM for it), as root.
//
//   xlb-bench-ipvs XLBCTL IPVSADM [--quick]
//
// Rows, each tool's median wall time over interleaved runs (one tool, then
// the other, so the machine's noise falls on both alike) and their ratio:
//   restore_SxD     -R of S services with D dests each, into an empty table
//   single_a/e/d    one -a, -e or -d with the S x D table loaded
//   list_SxD        -L -n of that table
// Prints one JSON document on stdout, each line prefixed "xlb-bench-ipvs-json: "
// so that bench/ipvs can cut it out of the VM's console output; progress
// goes to stderr.

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

// Runs argv with stdin from `in` (or /dev/null) and stdout to /dev/null;
// the wall time in ms. Throws if it fails: a failed write times nothing.
double run_ms(const std::vector<std::string>& argv, const std::string& in = "/dev/null") {
    auto start = clock_type::now();
    pid_t pid = fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        int fd = open(in.c_str(), O_RDONLY);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0) {
            _exit(126);
        }
        dup2(fd, 0);
        dup2(null, 1);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string line;
        for (const auto& a : argv) {
            line += " " + a;
        }
        throw std::runtime_error(fmt::format("{} < {} failed (status {})", line, in, status));
    }
    return ms;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

std::string vip(int i) { return fmt::format("10.{}.{}.{}:80", 100 + i / 65536, (i / 256) % 256, i % 256); }

// The -R input: S services (rr) with D direct-routed dests each.
void write_table(const std::string& path, int services, int dests) {
    std::ofstream out(path);
    for (int i = 0; i < services; ++i) {
        out << "-A -t " << vip(i) << " -s rr\n";
        for (int j = 0; j < dests; ++j) {
            out << fmt::format("-a -t {} -r 172.{}.{}.{}:80 -g -w 1\n", vip(i), 16 + j / 65536, (j / 256) % 256,
                               j % 256);
        }
    }
}

struct row {
    std::string name;
    double ipvsadm_ms;
    double xlbctl_ms;
    int lines;
};

} // namespace

int main(int argc, char** argv) {
    if (argc < 3 || (argc == 4 && std::string(argv[3]) != "--quick") || argc > 4) {
        std::fprintf(stderr, "usage: xlb-bench-ipvs XLBCTL IPVSADM [--quick]\n");
        return 2;
    }
    const std::string xlbctl = argv[1];
    const std::string ipvsadm = argv[2];
    const bool quick = argc == 4;
    const int services = quick ? 1000 : 10000;
    const int dests = 10;
    const int restores = 3;
    const int singles = 11;
    // xlbctl answers as ipvsadm would only under that name; --backend ipvs
    // makes sure it is kernel IPVS it writes.
    auto xlb = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {xlbctl, "--backend", "ipvs"});
        return args;
    };
    auto real = [&](std::vector<std::string> args) {
        args.insert(args.begin(), ipvsadm);
        return args;
    };

    char tmpl[] = "/tmp/xlb-bench-ipvs.XXXXXX";
    if (!mkdtemp(tmpl)) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string dir = tmpl;
    const std::string table = dir + "/table";
    write_table(table, services, dests);
    const int lines = services * (dests + 1);
    std::vector<row> rows;

    try {
        auto progress = [](const std::string& what) { std::fprintf(stderr, "xlb-bench-ipvs: %s\n", what.c_str()); };
        // -R into an empty table; the -C after each (the kernel's grace
        // periods for thousands of deletes) is not timed.
        std::vector<double> r_real, r_xlb;
        for (int i = 0; i < restores; ++i) {
            progress(fmt::format("restore {}x{}, round {} of {}", services, dests, i + 1, restores));
            run_ms(real({"-C"}));
            r_real.push_back(run_ms(real({"-R"}), table));
            run_ms(real({"-C"}));
            r_xlb.push_back(run_ms(xlb({"-R"}), table));
        }
        rows.push_back({fmt::format("restore_{}x{}", services, dests), median(r_real), median(r_xlb), lines});

        // Single writes against the loaded table (the last restore's).
        const std::string v = vip(7);
        for (const char* op : {"-a", "-e", "-d"}) {
            progress(fmt::format("single {} with {} services", op, services));
            std::vector<double> a_real, a_xlb;
            for (int i = 0; i < singles; ++i) {
                for (bool by_xlb : {false, true}) {
                    auto with = [&](std::vector<std::string> args) { return by_xlb ? xlb(args) : real(args); };
                    std::string o = op;
                    if (o != "-a") {
                        run_ms(real({"-a", "-t", v, "-r", "192.0.2.1:80", "-g", "-w", "1"}));
                    }
                    std::vector<std::string> args =
                        o == "-d" ? std::vector<std::string>{o, "-t", v, "-r", "192.0.2.1:80"}
                                  : std::vector<std::string>{o, "-t", v, "-r", "192.0.2.1:80", "-g", "-w", "2"};
                    (by_xlb ? a_xlb : a_real).push_back(run_ms(with(args)));
                    if (o != "-d") {
                        run_ms(real({"-d", "-t", v, "-r", "192.0.2.1:80"}));
                    }
                }
            }
            rows.push_back({fmt::format("single_{}_with_{}_services", std::string(op).substr(1), services),
                            median(a_real), median(a_xlb), 1});
        }

        progress(fmt::format("list {}x{}", services, dests));
        std::vector<double> l_real, l_xlb;
        for (int i = 0; i < 5; ++i) {
            l_real.push_back(run_ms(real({"-L", "-n"})));
            l_xlb.push_back(run_ms(xlb({"-L", "-n"})));
        }
        rows.push_back({fmt::format("list_{}x{}", services, dests), median(l_real), median(l_xlb), 0});
        run_ms(real({"-C"}));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xlb-bench-ipvs: %s\n", e.what());
        std::remove(table.c_str());
        rmdir(dir.c_str());
        return 1;
    }
    std::remove(table.c_str());
    rmdir(dir.c_str());

    std::string json = "{\n  \"harness\": \"bench/ipvs: xlbctl --backend ipvs against ipvsadm on the same kernel "
                       "IPVS, median wall time of interleaved runs, ms\",\n  \"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        json += fmt::format("{}\n    {{\"name\": \"{}\", \"ipvsadm_ms\": {:.2f}, \"xlbctl_ms\": {:.2f}, "
                            "\"xlbctl_over_ipvsadm\": {:.2f}, \"lines\": {}}}",
                            i ? "," : "", r.name, r.ipvsadm_ms, r.xlbctl_ms,
                            r.ipvsadm_ms > 0 ? r.xlbctl_ms / r.ipvsadm_ms : 0.0, r.lines);
    }
    json += "\n  ]\n}\n";
    // Line by line, marked, for bench/ipvs to cut out of the console log.
    size_t start = 0;
    while (start < json.size()) {
        auto end = json.find('\n', start);
        std::printf("xlb-bench-ipvs-json: %s\n", json.substr(start, end - start).c_str());
        start = end + 1;
    }
    return 0;
}
