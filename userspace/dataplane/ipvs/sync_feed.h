#pragma once
// Connections handed to kernel IPVS through its own sync protocol: the
// messages a master sync daemon multicasts (version 1, ip_vs_sync.c), built
// here from xlb's connection entries and sent to a backup sync daemon on
// this host, which makes each an IPVS connection (ip_vs_proc_conn()). This
// is how a table move from XDP to IPVS keeps every established flow on its
// server, whatever the scheduler.
//
// Layout (all in network order), one message a datagram:
//   header   8 bytes: 0, syncid, size (whole message), count, version 1, 0 0
//   per conn 36 bytes (IPv4: ip_vs_sync_v4) or 72 (IPv6: ip_vs_sync_v6):
//            type (bit 0: IPv6), protocol, version 0 << 12 | size,
//            flags (32 bits), state (16), cport, vport, dport, fwmark,
//            timeout (seconds), caddr, vaddr, daddr
// Private to libxlb's ipvs backend.

#include <xlb/model/address.h>
#include <xlb/model/conn.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <string>
#include <vector>

namespace xlb::ipvs {

using sync_message = std::vector<uint8_t>;

// The conns as version 1 messages of at most `maxlen` bytes each (the
// backup reads that much a datagram; 255 conns at most, the count is a
// byte). A flow keeps its state and its time left as the timeout; a
// template is flagged so, with state 0. EINVAL if maxlen cannot hold one
// IPv6 conn, or for a conn of a protocol IPVS's sync does not carry.
[[nodiscard]] result<std::vector<sync_message>> sync_messages(const std::vector<conn_state>& conns, uint8_t syncid,
                                                              size_t maxlen);

// Sends each message as one UDP datagram to group:port out of `ifname`,
// multicast with TTL 0: the kernel loops it back to this host's sockets and
// puts nothing on the wire.
[[nodiscard]] result<> send_sync_messages(const std::vector<sync_message>& messages, const std::string& ifname,
                                          const ip_address& group, uint16_t port);

} // namespace xlb::ipvs
