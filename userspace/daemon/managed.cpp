#include <xlb/daemon/managed.h>

#include <xlb/dataplane/fallback.h>
#include <xlb/util/file.h>

#include <boost/json.hpp>

namespace xlb::daemon {

namespace json = boost::json;

std::string managed_path(const std::string& backend, const std::string& pin_dir) {
    return fmt::format("{}/xlbd/{}.managed", run_dir(), escape_path(backend == "ipvs" ? "ipvs" : pin_dir));
}

namespace {

json::object to_json(const service_key& k) {
    json::object o;
    if (k.is_fwmark()) {
        o["fwmark"] = k.fwmark;
        o["family"] = k.vip.addr.is_v4() ? "inet" : "inet6";
    } else {
        o["protocol"] = to_string(k.proto);
        o["address"] = k.vip.to_string();
    }
    return o;
}

std::optional<protocol> parse_protocol(std::string_view p) {
    for (auto c : {protocol::tcp, protocol::udp, protocol::sctp}) {
        if (to_string(c) == p) {
            return c;
        }
    }
    return std::nullopt;
}

std::optional<service_key> from_json(const json::value& v) {
    const auto* o = v.if_object();
    if (!o) {
        return std::nullopt;
    }
    service_key k;
    if (const auto* mark = o->if_contains("fwmark")) {
        const auto* fam = o->if_contains("family");
        if (!mark->is_int64() || mark->as_int64() <= 0 || !fam || !fam->is_string()) {
            return std::nullopt;
        }
        k.fwmark = static_cast<uint32_t>(mark->as_int64());
        k.vip.addr = ip_address(fam->as_string() == "inet" ? family::inet : family::inet6, {});
        return k;
    }
    const auto* proto = o->if_contains("protocol");
    const auto* addr = o->if_contains("address");
    if (!proto || !proto->is_string() || !addr || !addr->is_string()) {
        return std::nullopt;
    }
    auto p = parse_protocol(std::string_view(proto->as_string()));
    auto e = endpoint::parse(std::string_view(addr->as_string()));
    if (!p || !e) {
        return std::nullopt;
    }
    k.proto = *p;
    k.vip = *e;
    return k;
}

} // namespace

result<std::vector<service_key>> read_managed(const std::string& path) {
    auto text = read_file(path);
    if (!text) {
        if (text.error().code == ENOENT) {
            return std::vector<service_key>{};
        }
        return text.error();
    }
    boost::system::error_code ec;
    auto v = json::parse(*text, ec);
    const auto* arr = ec ? nullptr : v.if_object() ? v.as_object().if_contains("services") : nullptr;
    if (!arr || !arr->is_array()) {
        return make_error(EINVAL, "{}: not a record of xlbd's services", path);
    }
    std::vector<service_key> out;
    for (const auto& e : arr->as_array()) {
        auto k = from_json(e);
        if (!k) {
            return make_error(EINVAL, "{}: bad service entry {}", path, json::serialize(e));
        }
        out.push_back(*k);
    }
    return out;
}

result<> write_managed(const std::string& path, const std::vector<service_key>& keys) {
    if (auto r = make_dirs(path.substr(0, path.rfind('/')), 0700); !r) {
        return r.error();
    }
    json::array arr;
    for (const auto& k : keys) {
        arr.push_back(to_json(k));
    }
    json::object o;
    o["services"] = std::move(arr);
    return write_file_atomic(path, json::serialize(o) + "\n", 0600);
}

} // namespace xlb::daemon
