#pragma once
// A strict reader of the Prometheus text exposition format 0.0.4, written
// from the format's description and not from metrics.cpp:
//   # HELP name text        (text: \\ and \n escapes only)
//   # TYPE name counter|gauge
//   name{label="value",...} value
// It refuses any other line (other comments, timestamps, blank lines), a
// sample whose family has no HELP and TYPE before it, a family's samples
// apart from each other, a HELP or TYPE given twice, a duplicate series
// (same name and label set), a label given twice in one sample, a counter
// not named *_total, and a negative counter.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace xlb::test {

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct prom_family {
    std::string help;
    std::string type;
    size_t samples = 0;
};

struct prom_parse_result {
    std::string error; // empty when the whole text is valid; else "line N: why"
    std::map<std::string, prom_family> families;
    std::vector<prom_sample> samples;

    // The one sample of `name` whose labels include every one given; nullopt
    // if there is none or more than one.
    [[nodiscard]] std::optional<double> value(const std::string& name,
                                              const std::map<std::string, std::string>& match) const {
        std::optional<double> found;
        for (const auto& s : samples) {
            if (s.name != name) {
                continue;
            }
            bool all = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
                auto it = s.labels.find(kv.first);
                return it != s.labels.end() && it->second == kv.second;
            });
            if (all) {
                if (found) {
                    return std::nullopt;
                }
                found = s.value;
            }
        }
        return found;
    }
    [[nodiscard]] size_t count(const std::string& name, const std::map<std::string, std::string>& match) const {
        return static_cast<size_t>(std::count_if(samples.begin(), samples.end(), [&](const prom_sample& s) {
            return s.name == name && std::all_of(match.begin(), match.end(), [&](const auto& kv) {
                       auto it = s.labels.find(kv.first);
                       return it != s.labels.end() && it->second == kv.second;
                   });
        }));
    }
};

namespace prom_detail {

inline bool name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
inline bool name_char(char c) {
    return name_start(c) || (c >= '0' && c <= '9');
}
inline bool valid_metric_name(std::string_view n) {
    return !n.empty() && name_start(n[0]) && std::all_of(n.begin(), n.end(), name_char);
}
inline bool valid_label_name(std::string_view n) {
    return !n.empty() && n[0] != ':' && name_start(n[0]) &&
           std::all_of(n.begin(), n.end(), [](char c) { return c != ':' && name_char(c); }) &&
           n.substr(0, 2) != "__";
}

inline std::optional<double> parse_value(std::string_view v) {
    if (v == "+Inf") {
        return HUGE_VAL;
    }
    if (v == "-Inf") {
        return -HUGE_VAL;
    }
    if (v == "NaN") {
        return std::nan("");
    }
    if (v.empty()) {
        return std::nullopt;
    }
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || p != v.data() + v.size()) {
        return std::nullopt;
    }
    return d;
}

} // namespace prom_detail

inline prom_parse_result prom_parse(std::string_view text) {
    using namespace prom_detail;
    prom_parse_result r;
    std::set<std::string> series;
    std::set<std::string> closed; // families whose samples have ended
    std::string current;          // the family of the last sample
    size_t lineno = 0;
    auto fail = [&](const std::string& why) {
        r.error = "line " + std::to_string(lineno) + ": " + why;
        return r;
    };
    if (!text.empty() && text.back() != '\n') {
        lineno = 0;
        return fail("the text does not end in a newline");
    }
    size_t pos = 0;
    while (pos < text.size()) {
        ++lineno;
        auto eol = text.find('\n', pos);
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.empty()) {
            return fail("blank line");
        }
        if (line[0] == '#') {
            bool help = line.substr(0, 7) == "# HELP ";
            bool type = line.substr(0, 7) == "# TYPE ";
            if (!help && !type) {
                return fail("a comment other than HELP or TYPE");
            }
            auto rest = line.substr(7);
            auto sp = rest.find(' ');
            if (sp == std::string_view::npos) {
                return fail("HELP or TYPE without text");
            }
            std::string name(rest.substr(0, sp));
            auto what = rest.substr(sp + 1);
            if (!valid_metric_name(name)) {
                return fail("bad metric name '" + name + "'");
            }
            if (closed.count(name) || current == name || r.families[name].samples) {
                return fail("HELP or TYPE after samples of " + name);
            }
            auto& f = r.families[name];
            if (help) {
                if (!f.help.empty()) {
                    return fail("second HELP for " + name);
                }
                std::string h;
                for (size_t i = 0; i < what.size(); ++i) {
                    if (what[i] == '\\') {
                        if (i + 1 >= what.size() || (what[i + 1] != '\\' && what[i + 1] != 'n')) {
                            return fail("bad escape in HELP");
                        }
                        h += what[i + 1] == 'n' ? '\n' : '\\';
                        ++i;
                    } else {
                        h += what[i];
                    }
                }
                if (h.empty()) {
                    return fail("empty HELP");
                }
                f.help = h;
            } else {
                if (!f.type.empty()) {
                    return fail("second TYPE for " + name);
                }
                if (what != "counter" && what != "gauge") {
                    return fail("TYPE neither counter nor gauge: " + std::string(what));
                }
                if (what == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
                    return fail("counter not named *_total: " + name);
                }
                f.type = what;
            }
            continue;
        }
        // A sample.
        prom_sample s;
        size_t i = 0;
        while (i < line.size() && name_char(line[i])) {
            ++i;
        }
        s.name = line.substr(0, i);
        if (!valid_metric_name(s.name)) {
            return fail("bad sample name");
        }
        auto fam = r.families.find(s.name);
        if (fam == r.families.end() || fam->second.help.empty() || fam->second.type.empty()) {
            return fail("sample of " + s.name + " without HELP and TYPE before it");
        }
        if (s.name != current) {
            if (closed.count(s.name)) {
                return fail("samples of " + s.name + " apart from each other");
            }
            if (!current.empty()) {
                closed.insert(current);
            }
            current = s.name;
        }
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (true) {
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                size_t ls = i;
                while (i < line.size() && line[i] != '=') {
                    ++i;
                }
                std::string lname(line.substr(ls, i - ls));
                if (!valid_label_name(lname)) {
                    return fail("bad label name '" + lname + "'");
                }
                if (i + 1 >= line.size() || line[i + 1] != '"') {
                    return fail("label value not quoted");
                }
                i += 2;
                std::string value;
                bool closed_quote = false;
                while (i < line.size()) {
                    char c = line[i];
                    if (c == '\\') {
                        if (i + 1 >= line.size()) {
                            return fail("escape at end of line");
                        }
                        char e = line[i + 1];
                        if (e == '\\') {
                            value += '\\';
                        } else if (e == '"') {
                            value += '"';
                        } else if (e == 'n') {
                            value += '\n';
                        } else {
                            return fail("bad escape in label value");
                        }
                        i += 2;
                    } else if (c == '"') {
                        ++i;
                        closed_quote = true;
                        break;
                    } else {
                        value += c;
                        ++i;
                    }
                }
                if (!closed_quote) {
                    return fail("unterminated label value");
                }
                if (!s.labels.emplace(lname, value).second) {
                    return fail("label " + lname + " twice");
                }
                if (i < line.size() && line[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                return fail("expected , or } after a label");
            }
        }
        if (i >= line.size() || line[i] != ' ') {
            return fail("expected one space before the value");
        }
        auto v = parse_value(line.substr(i + 1));
        if (!v) {
            return fail("bad value (or a timestamp) '" + std::string(line.substr(i + 1)) + "'");
        }
        s.value = *v;
        if (fam->second.type == "counter" && !(s.value >= 0)) {
            return fail("negative or NaN counter");
        }
        std::string key = s.name;
        for (const auto& [k, val] : s.labels) {
            key += '\x1f' + k + '\x1e' + val;
        }
        if (!series.insert(key).second) {
            return fail("duplicate series " + s.name);
        }
        ++fam->second.samples;
        r.samples.push_back(std::move(s));
    }
    return r;
}

} // namespace xlb::test
