#include <xlb/dataplane/xdp/capabilities.h>

namespace xlb::xdp {

capabilities xdp_capabilities(uint32_t max_dests_hashed, uint32_t max_dests_scanned) {
    capabilities c;
    c.backend = "xdp";
    for (uint32_t i = 0; i < XLB_SCHED_MAX; ++i) {
        auto s = static_cast<scheduler>(i);
        // Locality-based scheduling needs a table per destination address.
        if (s != scheduler::lblc && s != scheduler::lblcr) {
            c.schedulers.push_back(s);
        }
    }
    c.methods = {forwarding::dr, forwarding::tun, forwarding::nat};
    c.protocols = {protocol::tcp, protocol::udp};
    c.tunnels = {tun_type::ipip, tun_type::gue};
    c.fwmark_services = false; // no netfilter marks at XDP time
    c.wire_only = true;
    c.persistence_engines = {"sip"};
    c.verdict_counters = true;
    c.rates = true;
    c.conn_listing = true;
    c.max_dests_hashed = max_dests_hashed;
    c.max_dests_scanned = max_dests_scanned;
    return c;
}

} // namespace xlb::xdp
