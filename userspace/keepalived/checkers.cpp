#include "checkers.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace xlb::keepalived {

std::string_view to_string(checker_kind k) noexcept {
    switch (k) {
    case checker_kind::tcp:
        return "TCP_CHECK";
    case checker_kind::http:
        return "HTTP_GET";
    case checker_kind::ssl:
        return "SSL_GET";
    case checker_kind::misc:
        return "MISC_CHECK";
    case checker_kind::udp:
        return "UDP_CHECK";
    case checker_kind::dns:
        return "DNS_CHECK";
    }
    return "?";
}

namespace detail {
namespace {

using std::chrono::milliseconds;

// result<bool>: whether the keyword was this group's.
using handled = result<bool>;

// connect_ip, connect_port, bindto, bind_port, bind_if, connect_timeout:
// check_api.c install_checker_common_keywords(true); MISC_CHECK has none.
handled connection_keyword(checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    if (c.spec.kind == checker_kind::misc) {
        return false;
    }
    if (kw == "connect_ip" || kw == "bindto" || kw == "bind_to") {
        if (auto r = need_args(st, 1, "an address"); !r) {
            return r.error();
        }
        auto a = read_address(st.arg(1), kw);
        if (!a) {
            return a.error();
        }
        (kw == "connect_ip" ? c.connect_ip : c.spec.bind_to) = *a;
    } else if (kw == "connect_port" || kw == "bind_port") {
        if (auto r = need_args(st, 1, "a port"); !r) {
            return r.error();
        }
        auto p = read_uint(st.arg(1), 1, 65535, kw); // co_port_handler(): 1-65535
        if (!p) {
            return p.error();
        }
        if (kw == "connect_port") {
            c.connect_port = static_cast<uint16_t>(*p);
        } else {
            c.spec.bind_port = static_cast<uint16_t>(*p);
        }
    } else if (kw == "bind_if") {
        if (auto r = need_args(st, 1, "an interface name"); !r) {
            return r.error();
        }
        c.spec.bind_interface = st.arg(1).text;
    } else if (kw == "connect_timeout") {
        if (auto r = need_args(st, 1); !r) {
            return r.error();
        }
        auto t = read_seconds(st.arg(1), milliseconds(1), kw);
        if (!t) {
            return t.error();
        }
        c.set.connect_timeout = *t;
    } else {
        return false;
    }
    return true;
}

// retry (nb_get_retry: HTTP_GET's old spelling), delay_before_retry,
// warmup, delay_loop, and xlb's rise and fall.
handled timing_keyword(checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    bool count = kw == "retry" || kw == "nb_get_retry" || kw == "rise" || kw == "fall";
    bool time = kw == "delay_before_retry" || kw == "warmup" || kw == "delay_loop";
    if (!count && !time) {
        return false;
    }
    if (auto r = need_args(st, 1); !r) {
        return r.error();
    }
    if (time) {
        auto t = read_seconds(st.arg(1), milliseconds(kw == "delay_loop" ? 1 : 0), kw);
        if (!t) {
            return t.error();
        }
        (kw == "delay_loop" ? c.set.delay_loop : kw == "warmup" ? c.set.warmup : c.set.delay_before_retry) = *t;
        return true;
    }
    bool retry = kw == "retry" || kw == "nb_get_retry";
    auto v = read_uint(st.arg(1), retry ? 0 : 1, retry ? UINT32_MAX : 1000000, kw);
    if (!v) {
        return v.error();
    }
    (retry ? c.set.retry : kw == "rise" ? c.set.rise : c.set.fall) = *v;
    return true;
}

handled common_keyword(checker_draft& c, const statement& st) {
    auto r = connection_keyword(c, st);
    if (!r || *r) {
        return r;
    }
    return timing_keyword(c, st);
}

// `status_code 200-299 301`: each word a code or an inclusive range, 100-599.
result<void> read_status_codes(const statement& st, http_url& url) {
    if (auto r = need_args(st, 1, "a code or range"); !r) {
        return r;
    }
    for (size_t i = 1; i <= st.args(); ++i) {
        const token& t = st.arg(i);
        auto dash = t.text.find('-');
        token lo = t;
        token hi = t;
        if (dash != std::string::npos) {
            lo.text = t.text.substr(0, dash);
            hi.text = t.text.substr(dash + 1);
        }
        auto a = read_uint(lo, 100, 599, "status_code");
        auto b = read_uint(hi, 100, 599, "status_code");
        if (!a || !b) {
            return !a ? a.error() : b.error();
        }
        if (*a > *b) {
            return syntax_error(t.where, fmt::format("status_code range {} runs backwards", t.text));
        }
        url.status_codes.emplace_back(static_cast<uint16_t>(*a), static_cast<uint16_t>(*b));
    }
    return {};
}

result<void> url_keyword(session& s, http_url& url, bool& has_path, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "path") {
        if (auto r = need_args(st, 1, "a path"); !r) {
            return r;
        }
        url.path = st.arg(1).text;
        has_path = true;
    } else if (kw == "digest") {
        if (auto r = need_args(st, 1, "an MD5 digest"); !r) {
            return r;
        }
        std::string d = st.arg(1).text;
        bool ok = d.size() == 32;
        for (char& ch : d) {
            if (ch >= 'A' && ch <= 'F') {
                ch = static_cast<char>(ch - 'A' + 'a');
            }
            ok = ok && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
        }
        if (!ok) {
            return syntax_error(st.arg(1).where,
                                fmt::format("bad digest '{}' (32 hex digits)", st.arg(1).text));
        }
        url.digest = d;
    } else if (kw == "status_code") {
        return read_status_codes(st, url);
    } else if (kw == "virtualhost") {
        if (auto r = need_args(st, 1, "a host name"); !r) {
            return r;
        }
        url.virtualhost = st.arg(1).text;
    } else {
        return s.unsupported(st, "url");
    }
    return {};
}

result<void> read_url(session& s, checker_draft& c, const statement& st) {
    http_url url;
    bool has_path = false;
    auto r = s.stream.each_in_block(st, [&](const statement& inner) {
        return url_keyword(s, url, has_path, inner);
    });
    if (!r) {
        return r;
    }
    if (!has_path) {
        s.note(st.where(), "url without a path ignored (as keepalived does)");
        return {};
    }
    if (url.status_codes.empty()) {
        url.status_codes.emplace_back(200, 299); // HTTP_DEFAULT_STATUS_CODE_MIN/MAX
    }
    c.spec.urls.push_back(std::move(url));
    return {};
}

handled http_keyword(session& s, checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "url") {
        if (auto r = read_url(s, c, st); !r) {
            return r.error();
        }
    } else if (kw == "virtualhost") {
        if (auto r = need_args(st, 1, "a host name"); !r) {
            return r.error();
        }
        c.set.virtualhost = st.arg(1).text;
    } else if (kw == "http_protocol") {
        if (auto r = need_args(st, 1, "a version"); !r) {
            return r.error();
        }
        const std::string& v = st.arg(1).text;
        if (v != "1.0" && v != "1.1" && v != "1.0C" && v != "1.0c") {
            return syntax_error(st.arg(1).where, fmt::format("bad http_protocol '{}' (1.0, 1.0C or 1.1)", v));
        }
        c.spec.http_protocol_minor = v == "1.1" ? 1 : 0;
    } else if (kw == "enable_sni" || kw == "fast_recovery") {
        auto f = read_flag(st);
        if (!f) {
            return f.error();
        }
        (kw == "enable_sni" ? c.spec.enable_sni : c.spec.fast_recovery) = *f;
    } else if (kw == "verify_cert") {
        // Beyond keepalived, which never verifies: SSL_GET checks the chain
        // against ca_file (else the SSL block's ca, else the system's).
        auto f = read_flag(st);
        if (!f) {
            return f.error();
        }
        c.spec.verify_cert = *f;
    } else if (kw == "ca_file") {
        if (auto r = need_args(st, 1, "a file"); !r) {
            return r.error();
        }
        c.spec.ca_file = st.arg(1).text;
    } else {
        return false;
    }
    return true;
}

handled misc_keyword(checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "misc_path") {
        if (auto r = need_args(st, 1, "a command"); !r) {
            return r.error();
        }
        c.spec.misc_path = st.rest(1);
    } else if (kw == "misc_timeout") {
        if (auto r = need_args(st, 1); !r) {
            return r.error();
        }
        auto v = read_uint(st.arg(1), 0, UINT32_MAX / 1000000, kw); // whole seconds
        if (!v) {
            return v.error();
        }
        if (*v != 0) {
            c.misc_timeout = milliseconds(uint64_t{*v} * 1000);
        }
    } else if (kw == "misc_dynamic") {
        c.spec.misc_dynamic = true;
    } else if (kw == "user") {
        if (auto r = need_args(st, 1, "a user name"); !r) {
            return r.error();
        }
        c.spec.user = st.rest(1); // "user [group]"
    } else {
        return false;
    }
    return true;
}

handled udp_keyword(checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "payload") {
        auto p = read_hex(st, 1, "payload");
        if (!p) {
            return p.error();
        }
        c.spec.payload = *p;
    } else if (kw == "require_reply") {
        c.spec.require_reply = true;
        if (st.args() > 0) {
            auto p = read_hex(st, 1, "require_reply");
            if (!p) {
                return p.error();
            }
            c.spec.reply_payload = *p;
        }
    } else {
        return false;
    }
    return true;
}

// check_dns.c's DNS_TYPE table.
constexpr std::array<std::string_view, 9> dns_types = {"A", "NS", "CNAME", "SOA", "MX",
                                                        "TXT", "AAAA", "RRSIG", "DNSKEY"};

handled dns_keyword(checker_draft& c, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "type") {
        if (auto r = need_args(st, 1, "a record type"); !r) {
            return r.error();
        }
        bool known = false;
        for (auto t : dns_types) {
            known = known || t == st.arg(1).text;
        }
        if (!known) {
            return syntax_error(st.arg(1).where, fmt::format("unknown DNS_CHECK type '{}'", st.arg(1).text));
        }
        c.spec.dns_type = st.arg(1).text;
    } else if (kw == "name") {
        if (auto r = need_args(st, 1, "a name"); !r) {
            return r.error();
        }
        const std::string& n = st.arg(1).text;
        if ((n.size() > 1 && n.front() == '.') || n.find("..") != std::string::npos) {
            return syntax_error(st.arg(1).where, fmt::format("DNS_CHECK name '{}' has an empty label", n));
        }
        c.spec.dns_name = n;
    } else {
        return false;
    }
    return true;
}

handled kind_keyword(session& s, checker_draft& c, const statement& st) {
    switch (c.spec.kind) {
    case checker_kind::http:
    case checker_kind::ssl:
        return http_keyword(s, c, st);
    case checker_kind::misc:
        return misc_keyword(c, st);
    case checker_kind::udp:
        return udp_keyword(c, st);
    case checker_kind::dns:
        return dns_keyword(c, st);
    case checker_kind::tcp:
        break;
    }
    return false;
}

// Each checker's own defaults: check_api.c queue_checker() sets retry 1 and
// delay_before_retry 1 s; check_http.c 3 s; check_misc.c retry 0;
// check_dns.c retry 3 (DNS_DEFAULT_RETRY) and delay_before_retry delay_loop.
void own_defaults(checker_draft& c) {
    switch (c.spec.kind) {
    case checker_kind::http:
    case checker_kind::ssl:
        c.default_delay_before_retry = milliseconds(3000);
        break;
    case checker_kind::misc:
        c.default_retry = 0;
        break;
    case checker_kind::dns:
        c.default_retry = 3;
        c.default_delay_before_retry = std::nullopt;
        break;
    case checker_kind::tcp:
    case checker_kind::udp:
        break;
    }
}

} // namespace

std::optional<checker_kind> checker_keyword(std::string_view keyword) noexcept {
    static constexpr std::array<std::pair<std::string_view, checker_kind>, 6> table = {{
        {"TCP_CHECK", checker_kind::tcp},
        {"HTTP_GET", checker_kind::http},
        {"SSL_GET", checker_kind::ssl},
        {"MISC_CHECK", checker_kind::misc},
        {"UDP_CHECK", checker_kind::udp},
        {"DNS_CHECK", checker_kind::dns},
    }};
    for (const auto& [name, kind] : table) {
        if (name == keyword) {
            return kind;
        }
    }
    return std::nullopt;
}

bool unsupported_checker(std::string_view keyword) noexcept {
    return keyword == "SMTP_CHECK" || keyword == "BFD_CHECK" || keyword == "FILE_CHECK" ||
           keyword == "PING_CHECK" || keyword == "track_file" || keyword == "track_bfd";
}

result<std::optional<checker_draft>> parse_checker(session& s, const statement& st,
                                                   checker_kind kind) {
    checker_draft c;
    c.spec.kind = kind;
    c.spec.where = st.where();
    own_defaults(c);
    auto r = s.stream.each_in_block(st, [&](const statement& inner) -> result<void> {
        auto common = common_keyword(c, inner);
        if (!common) {
            return common.error();
        }
        if (*common) {
            return {};
        }
        auto own = kind_keyword(s, c, inner);
        if (!own) {
            return own.error();
        }
        if (*own) {
            return {};
        }
        return s.unsupported(inner, to_string(kind));
    });
    if (!r) {
        return r.error();
    }
    bool web = kind == checker_kind::http || kind == checker_kind::ssl;
    if (web && c.spec.urls.empty()) {
        s.note(st.where(), fmt::format("{} without a url ignored (as keepalived does)", st.keyword()));
        return std::optional<checker_draft>();
    }
    if (kind == checker_kind::misc && c.spec.misc_path.empty()) {
        s.note(st.where(), "MISC_CHECK without misc_path ignored (as keepalived does)");
        return std::optional<checker_draft>();
    }
    return std::optional<checker_draft>(std::move(c));
}

} // namespace detail
} // namespace xlb::keepalived
