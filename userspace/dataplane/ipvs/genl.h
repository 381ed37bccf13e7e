#pragma once
// A generic-netlink socket (libnl-genl-3) as a move-only owner, with the
// family resolved, and one exchange at a time: send a request, then read
// its replies until the kernel's ack, error or end of dump. The kernel's
// errno comes back as it is: libnl's own codes fold ESRCH and ENOENT into
// one, so the error callback keeps the raw value, as ipvsadm's libipvs does.
// Private to libxlb's ipvs backend.

#include <xlb/util/error.h>

#include <cstdint>
#include <functional>
#include <memory>

struct nl_sock;
struct nl_msg;

namespace xlb::ipvs {

struct msg_deleter {
    void operator()(nl_msg* m) const noexcept;
};
using msg_ptr = std::unique_ptr<nl_msg, msg_deleter>;

class genl_socket {
public:
    // Connects and resolves `family`: ENOENT if the kernel has no such family.
    static result<genl_socket> open(const char* family, uint8_t version);

    genl_socket(genl_socket&& o) noexcept;
    genl_socket& operator=(genl_socket&& o) noexcept;
    genl_socket(const genl_socket&) = delete;
    genl_socket& operator=(const genl_socket&) = delete;
    ~genl_socket();

    // A request of `cmd` to the family, a dump if `dump`.
    [[nodiscard]] result<msg_ptr> request(uint8_t cmd, bool dump) const;

    // Called with each reply of an exchange; an error stops nothing on the
    // wire (the rest is read and dropped) and is the exchange's result.
    using reply_handler = std::function<result<>(nl_msg*)>;

    // Sends `m` and reads until the ack (or the dump's end).
    [[nodiscard]] result<> exchange(msg_ptr m, const reply_handler& on_reply = {}) const;

private:
    genl_socket(nl_sock* sock, int family) noexcept : _sock(sock), _family(family) {}

    nl_sock* _sock = nullptr;
    int _family = 0;
    uint8_t _version = 0;
};

} // namespace xlb::ipvs
