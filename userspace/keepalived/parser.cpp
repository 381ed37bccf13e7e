// keepalived.conf's top level: virtual_server and virtual_server_group
// blocks are read; every other block keepalived knows is skipped with one
// notice.

#include <xlb/keepalived/parser.h>

#include "lexer.h"
#include "reader.h"
#include "virtual_server.h"

#include <fmt/format.h>

#include <algorithm>

#include <array>

namespace xlb::keepalived {
namespace detail {
namespace {

bool vrrp_block(std::string_view kw) {
    return kw.rfind("vrrp_", 0) == 0 || kw == "static_ipaddress" || kw == "static_routes" ||
           kw == "static_rules" || kw == "garp_group" || kw == "linkbeat_interfaces" ||
           kw == "track_file" || kw == "track_process" || kw == "bfd_instance";
}

// `ADDR[-END] [PORT]`: END is the last byte (decimal) of an IPv4 range or
// the last group (hex) of an IPv6 one (inet_stor()); a whole end address
// is accepted when only that byte or group differs.
result<std::optional<group_entry>> read_range(session& s, const statement& st) {
    group_entry e;
    e.where = st.where();
    const token& head = st.words.front();
    auto dash = head.text.find('-');
    token start = head;
    start.text = head.text.substr(0, dash);
    if (head.text.find('/') != std::string::npos) {
        s.note(st.where(), fmt::format("virtual_server_group entry {} (a prefix) not supported: ignored", head.text));
        return std::optional<group_entry>();
    }
    auto a = read_address(start, "virtual_server_group");
    if (!a) {
        return a.error();
    }
    endpoint ep{*a, 0};
    if (st.args() >= 1) {
        auto p = read_port(st.arg(1), "virtual_server_group port");
        if (!p) {
            return p.error();
        }
        ep.port = *p;
    }
    e.first = ep;
    if (dash == std::string::npos) {
        return std::optional<group_entry>(e);
    }
    std::string end = head.text.substr(dash + 1);
    bool v4 = a->is_v4();
    uint32_t first_last = v4 ? a->bytes()[3] : (uint32_t{a->bytes()[14]} << 8 | a->bytes()[15]);
    uint64_t last = 0;
    if (auto full = ip_address::parse(end)) {
        auto fa = full->bytes();
        auto sa = a->bytes();
        size_t prefix = v4 ? 3 : 14;
        if (full->af() != a->af() || !std::equal(sa.begin(), sa.begin() + static_cast<long>(prefix), fa.begin())) {
            return syntax_error(head.where, fmt::format("range {} may only vary the last {}", head.text,
                                                        v4 ? "byte" : "group"));
        }
        last = v4 ? fa[3] : (uint32_t{fa[14]} << 8 | fa[15]);
    } else {
        size_t used = 0;
        bool ok = !end.empty() && end.size() <= 5;
        try {
            last = ok ? std::stoul(end, &used, v4 ? 10 : 16) : 0;
        } catch (const std::exception&) {
            ok = false;
        }
        if (!ok || used != end.size() || last > (v4 ? 255u : 0xffffu)) {
            return syntax_error(head.where, fmt::format("bad range end '{}' in {}", end, head.text));
        }
    }
    if (last <= first_last) {
        return syntax_error(head.where, fmt::format("range {} does not end above its start", head.text));
    }
    e.range_end = static_cast<uint32_t>(last);
    return std::optional<group_entry>(e);
}

result<void> group_line(session& s, virtual_server_group& g, const statement& st) {
    if (st.keyword() != "fwmark") {
        auto e = read_range(s, st);
        if (!e) {
            return e.error();
        }
        if (*e) {
            g.entries.push_back(**e);
        }
        return {};
    }
    if (auto r = need_args(st, 1, "a mark"); !r) {
        return r;
    }
    group_entry e;
    e.where = st.where();
    auto m = read_uint(st.arg(1), 1, UINT32_MAX, "fwmark");
    if (!m) {
        return m.error();
    }
    e.fwmark = *m;
    if (st.args() >= 2) {
        const std::string& f = st.arg(2).text;
        if (f != "inet" && f != "inet6") {
            return syntax_error(st.arg(2).where, fmt::format("unknown fwmark family '{}' (inet or inet6)", f));
        }
        e.fwmark_family = f == "inet" ? family::inet : family::inet6;
    }
    g.entries.push_back(e);
    return {};
}

result<void> read_group(session& s, config& out, const statement& st) {
    if (auto r = need_args(st, 1, "a name"); !r) {
        return r;
    }
    virtual_server_group g;
    g.where = st.where();
    g.name = st.arg(1).text;
    auto r = s.stream.each_in_block(st, [&](const statement& line) { return group_line(s, g, line); });
    if (!r) {
        return r;
    }
    if (g.entries.empty()) {
        s.note(st.where(), fmt::format("virtual_server_group {} has no entries: ignored (as keepalived does)", g.name));
        return {};
    }
    for (const auto& other : out.groups) {
        if (other.name == g.name) {
            return syntax_error(st.where(), fmt::format("virtual_server_group {} defined twice (first at {})",
                                                        g.name, other.where.to_string()));
        }
    }
    out.groups.push_back(std::move(g));
    return {};
}

// The top-level SSL block (check_parser.c ssl_handler()): its `ca` is
// what SSL_GET checkers trust; keepalived loads it without verifying the
// peer, so verify_cert stays false. Client certificates are not supported.
result<void> read_ssl(session& s, std::optional<std::string>& ca, const statement& st) {
    return s.stream.each_in_block(st, [&](const statement& line) -> result<void> {
        if (line.keyword() != "ca") {
            return s.unsupported(line, "SSL");
        }
        if (auto r = need_args(line, 1, "a file"); !r) {
            return r;
        }
        ca = line.arg(1).text;
        return {};
    });
}

void apply_ssl_ca(config& out, const std::optional<std::string>& ca) {
    for (auto& vs : out.virtual_servers) {
        for (auto& rs : vs.reals) {
            for (auto& ck : rs.checkers) {
                if (ck.kind == checker_kind::ssl && !ck.ca_file) {
                    ck.ca_file = ca;
                }
            }
        }
    }
}

result<void> top_level(session& s, config& out, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "virtual_server") {
        auto vs = parse_virtual_server(s, st);
        if (!vs) {
            return vs.error();
        }
        if (*vs) {
            out.virtual_servers.push_back(std::move(**vs));
        }
        return {};
    }
    if (kw == "virtual_server_group") {
        return read_group(s, out, st);
    }
    if (kw == "SSL") {
        return read_ssl(s, s.ssl_ca, st);
    }
    if (kw == "real_server" || kw == "sorry_server") {
        return syntax_error(st.where(), fmt::format("{} outside virtual_server", kw));
    }
    std::string name = st.args() > 0 ? " " + st.arg(1).text : "";
    if (vrrp_block(kw)) {
        s.note(st.where(), fmt::format("{}{} skipped: VRRP stays with keepalived", kw, name));
    } else {
        s.note(st.where(), fmt::format("{}{} skipped: not part of virtual_server", kw, name));
    }
    return s.stream.skip_block_if_any(st);
}

// Groups may be defined after the virtual_server naming them. A group
// with an address entry of port 0 makes its service persistent, as a
// virtual_server of port 0 does (validate_check_config()).
result<void> settle_groups(session& s, config& out) {
    for (auto& vs : out.virtual_servers) {
        if (vs.what != virtual_server_spec::kind::group) {
            continue;
        }
        const virtual_server_group* group = nullptr;
        for (const auto& g : out.groups) {
            group = g.name == vs.group ? &g : group;
        }
        if (!group) {
            return syntax_error(vs.where, fmt::format("no virtual_server_group named {}", vs.group));
        }
        bool zero_port = false;
        for (const auto& e : group->entries) {
            zero_port = zero_port || (e.first && e.first->port == 0);
        }
        if (zero_port && !vs.persistence_timeout) {
            s.note(vs.where, fmt::format("group {} has port 0: persistence_timeout 360 set (as keepalived does)",
                                         vs.group));
            vs.persistence_timeout = 360;
        }
    }
    return {};
}

result<config> parse(lexed&& l) {
    config out;
    out.files = std::move(l.files);
    session s{token_stream(l.tokens), std::move(l.notices), std::nullopt};
    while (true) {
        auto st = s.stream.next_statement();
        if (!st) {
            if (const token* t = s.stream.peek_close()) {
                return syntax_error(t->where, t->kind == token_kind::close ? "unbalanced '}'"
                                                                          : "unexpected '{' without a keyword");
            }
            break;
        }
        if (auto r = top_level(s, out, *st); !r) {
            return r.error();
        }
        if (auto r = s.stream.no_block(*st); !r) {
            return r.error();
        }
    }
    if (auto r = settle_groups(s, out); !r) {
        return r.error();
    }
    apply_ssl_ca(out, s.ssl_ca);
    out.notices = std::move(s.notices);
    return out;
}

} // namespace
} // namespace detail

result<config> parse_file(const std::string& path) {
    auto l = detail::lex_file(path);
    if (!l) {
        return l.error();
    }
    return detail::parse(std::move(*l));
}

result<config> parse_string(std::string_view text, const std::string& name) {
    auto l = detail::lex_string(text, name);
    if (!l) {
        return l.error();
    }
    return detail::parse(std::move(*l));
}

} // namespace xlb::keepalived
