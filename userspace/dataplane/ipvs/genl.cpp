#include "genl.h"

#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include <utility>

namespace xlb::ipvs {

void msg_deleter::operator()(nl_msg* m) const noexcept { nlmsg_free(m); }

namespace {

// libnl's codes, for the failures that are libnl's own (no kernel errno).
error nl_error(int rc, const char* what) {
    return error{EIO, fmt::format("{}: {}", what, nl_geterror(rc))};
}

struct cb_deleter {
    void operator()(nl_cb* cb) const noexcept { nl_cb_put(cb); }
};

// What one exchange has seen so far.
struct exchange_state {
    const genl_socket::reply_handler* on_reply = nullptr;
    bool done = false;
    int kernel_errno = 0;
    result<> handler_result{};
};

int on_valid(nl_msg* m, void* arg) {
    auto* st = static_cast<exchange_state*>(arg);
    if (st->on_reply && *st->on_reply && st->handler_result) {
        st->handler_result = (*st->on_reply)(m);
    }
    return NL_OK;
}

int on_finish(nl_msg*, void* arg) {
    static_cast<exchange_state*>(arg)->done = true;
    return NL_STOP;
}

int on_ack(nl_msg*, void* arg) {
    static_cast<exchange_state*>(arg)->done = true;
    return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
    auto* st = static_cast<exchange_state*>(arg);
    st->kernel_errno = e->error < 0 ? -e->error : e->error;
    st->done = true;
    return NL_STOP;
}

} // namespace

result<genl_socket> genl_socket::open(const char* family, uint8_t version) {
    nl_sock* sock = nl_socket_alloc();
    if (!sock) {
        return make_error(ENOMEM, "allocate a netlink socket");
    }
    if (int rc = genl_connect(sock); rc < 0) {
        nl_socket_free(sock);
        return nl_error(rc, "connect a generic netlink socket");
    }
    int id = genl_ctrl_resolve(sock, family);
    if (id < 0) {
        nl_socket_free(sock);
        if (id == -NLE_OBJ_NOTFOUND) {
            return make_error(ENOENT, "the {} generic netlink family is missing", family);
        }
        return nl_error(id, "resolve the generic netlink family");
    }
    genl_socket s(sock, id);
    s._version = version;
    return s;
}

genl_socket::genl_socket(genl_socket&& o) noexcept
    : _sock(std::exchange(o._sock, nullptr)), _family(o._family), _version(o._version) {}

genl_socket& genl_socket::operator=(genl_socket&& o) noexcept {
    if (this != &o) {
        if (_sock) {
            nl_socket_free(_sock);
        }
        _sock = std::exchange(o._sock, nullptr);
        _family = o._family;
        _version = o._version;
    }
    return *this;
}

genl_socket::~genl_socket() {
    if (_sock) {
        nl_socket_free(_sock);
    }
}

result<msg_ptr> genl_socket::request(uint8_t cmd, bool dump) const {
    msg_ptr m(nlmsg_alloc());
    if (!m) {
        return make_error(ENOMEM, "allocate a netlink message");
    }
    if (!genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, _family, 0, dump ? NLM_F_DUMP : 0, cmd, _version)) {
        return make_error(EMSGSIZE, "netlink header of command {}", cmd);
    }
    return m;
}

result<> genl_socket::exchange(msg_ptr m, const reply_handler& on_reply) const {
    std::unique_ptr<nl_cb, cb_deleter> cb(nl_cb_alloc(NL_CB_DEFAULT));
    if (!cb) {
        return make_error(ENOMEM, "allocate netlink callbacks");
    }
    exchange_state st;
    st.on_reply = &on_reply;
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &st);
    nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &st);
    nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &st);
    nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &st);

    if (int rc = nl_send_auto(_sock, m.get()); rc < 0) {
        return nl_error(rc, "send a netlink request");
    }
    while (!st.done) {
        int rc = nl_recvmsgs(_sock, cb.get());
        if (st.kernel_errno) {
            return error{st.kernel_errno, "kernel"};
        }
        if (rc < 0) {
            return nl_error(rc, "read the netlink reply");
        }
    }
    if (st.kernel_errno) {
        return error{st.kernel_errno, "kernel"};
    }
    return st.handler_result;
}

} // namespace xlb::ipvs
