// SPDX-License-Identifier: BSL-1.0
// bench/alternatives.hpp - what people use instead of venom, as echo RPC servers and clients
// with the same request sizes: a pipe pair, a Unix domain socket (SOCK_STREAM), TCP loopback
// with TCP_NODELAY, boost::interprocess::message_queue, and ZeroMQ ipc:// REQ/REP (compiled in
// only when libzmq was found: VENOM_BENCH_HAVE_ZMQ).
//
// Protocol, every mechanism: the client sends n bytes; the server reads exactly n bytes and
// sends them back. A request whose first byte is 'Q' is the last of a measuring segment: the
// server echoes it and returns to the peer's command loop.
#pragma once

#include "common.hpp"

#include <boost/interprocess/ipc/message_queue.hpp>

#include <memory>
#include <string>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifdef VENOM_BENCH_HAVE_ZMQ
#include <zmq.h>
#endif

namespace vb {

namespace bip = boost::interprocess;

inline bool zmq_available() {
#ifdef VENOM_BENCH_HAVE_ZMQ
    return true;
#else
    return false;
#endif
}

// ---- byte streams ----------------------------------------------------------------------------

inline bool read_all(int fd, void* p, std::size_t n) noexcept {
    auto* b = static_cast<unsigned char*>(p);
    while (n != 0) {
        const ssize_t r = ::read(fd, b, n);
        if (r > 0) {
            b += r;
            n -= static_cast<std::size_t>(r);
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
            return false;
        }
    }
    return true;
}
inline bool write_all(int fd, const void* p, std::size_t n) noexcept {
    const auto* b = static_cast<const unsigned char*>(p);
    while (n != 0) {
        const ssize_t r = ::write(fd, b, n);
        if (r > 0) {
            b += r;
            n -= static_cast<std::size_t>(r);
        } else if (r < 0 && errno != EINTR && errno != EAGAIN) {
            return false;
        }
    }
    return true;
}

/// Echo client over a stream (pipe pair: rfd != wfd; socket: rfd == wfd).
struct StreamClient {
    int rfd = -1;
    int wfd = -1;
    const char* what = "";
    void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n, bool = false) {
        if (!write_all(wfd, req, n) || !read_all(rfd, resp, n))
            fail(std::string(what) + ": the server closed the connection");
    }
};

/// Echo server loop over a stream: serves n-byte requests until a 'Q' request. false: EOF.
inline bool serve_stream(int rfd, int wfd, std::size_t n) {
    unsigned char buf[max_msg];
    for (;;) {
        if (!read_all(rfd, buf, n)) return false;
        if (!write_all(wfd, buf, n)) return false;
        if (buf[0] == 'Q') return true;
    }
}

// ---- sockets ---------------------------------------------------------------------------------

/// The abstract Unix socket address of this run (no file to clean up).
inline sockaddr_un uds_address(const std::string& name, socklen_t& len) {
    sockaddr_un a;
    std::memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    const std::size_t n = std::min(name.size(), sizeof a.sun_path - 2);
    std::memcpy(a.sun_path + 1, name.data(), n); // sun_path[0] == 0: abstract namespace
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
    return a;
}

inline int uds_listen(const std::string& name, int backlog = 64) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket(AF_UNIX)");
    socklen_t len;
    sockaddr_un a = uds_address(name, len);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) fail_errno("bind uds " + name);
    if (::listen(fd, backlog) != 0) fail_errno("listen uds");
    return fd;
}

inline void set_recv_timeout(int fd, int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

inline int uds_connect(const std::string& name) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket(AF_UNIX)");
    socklen_t len;
    sockaddr_un a = uds_address(name, len);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) fail_errno("connect uds " + name);
    set_recv_timeout(fd, 20);
    return fd;
}

inline void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/// Listens on 127.0.0.1, an ephemeral port; returns the fd and sets `port`.
inline int tcp_listen(std::uint32_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket(AF_INET)");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail_errno("bind tcp");
    if (::listen(fd, 64) != 0) fail_errno("listen tcp");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

inline int tcp_connect(std::uint32_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket(AF_INET)");
    sockaddr_in a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail_errno("connect tcp");
    set_nodelay(fd);
    set_recv_timeout(fd, 20);
    return fd;
}

/// Accepts one connection, waiting at most `limit_ms`. -1 on timeout.
inline int accept_within(int listen_fd, int limit_ms) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, limit_ms) <= 0) return -1;
    return ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
}

// ---- boost::interprocess::message_queue ----------------------------------------------------

/// Request and answer queues (16 messages of up to max_msg bytes each).
struct MqPair {
    std::unique_ptr<bip::message_queue> req, resp;
    static MqPair create(const std::string& base) {
        bip::message_queue::remove((base + ".req").c_str());
        bip::message_queue::remove((base + ".resp").c_str());
        MqPair p;
        p.req = std::make_unique<bip::message_queue>(bip::create_only, (base + ".req").c_str(), 16,
                                                     max_msg);
        p.resp = std::make_unique<bip::message_queue>(bip::create_only, (base + ".resp").c_str(),
                                                      16, max_msg);
        return p;
    }
    static MqPair open(const std::string& base) {
        MqPair p;
        p.req = std::make_unique<bip::message_queue>(bip::open_only, (base + ".req").c_str());
        p.resp = std::make_unique<bip::message_queue>(bip::open_only, (base + ".resp").c_str());
        return p;
    }
};

struct MqClient {
    MqPair* q = nullptr;
    void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n, bool = false) {
        q->req->send(req, n, 0);
        bip::message_queue::size_type got = 0;
        unsigned prio = 0;
        q->resp->receive(resp, max_msg, got, prio);
        if (got != n) fail("message_queue: answer of " + std::to_string(got) + " bytes");
    }
};

inline bool serve_mq(MqPair& q) {
    unsigned char buf[max_msg];
    for (;;) {
        bip::message_queue::size_type got = 0;
        unsigned prio = 0;
        q.req->receive(buf, max_msg, got, prio);
        q.resp->send(buf, got, 0);
        if (got != 0 && buf[0] == 'Q') return true;
    }
}

// ---- ZeroMQ ----------------------------------------------------------------------------------

#ifdef VENOM_BENCH_HAVE_ZMQ
/// One ZeroMQ context and socket. Create it after pinning: its I/O thread inherits the pinning.
struct ZmqSocket {
    void* ctx = nullptr;
    void* sock = nullptr;
    ZmqSocket() = default;
    ZmqSocket(const ZmqSocket&) = delete;
    ZmqSocket& operator=(const ZmqSocket&) = delete;
    ~ZmqSocket() {
        if (sock) {
            int zero = 0;
            zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(sock);
        }
        if (ctx) zmq_ctx_term(ctx);
    }
    void open(int type) {
        ctx = zmq_ctx_new();
        if (!ctx) fail("zmq_ctx_new failed");
        sock = zmq_socket(ctx, type);
        if (!sock) fail(std::string("zmq_socket: ") + zmq_strerror(zmq_errno()));
        int timeout = 20000;
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    }
    void bind(const std::string& ep) {
        open(ZMQ_REP);
        if (zmq_bind(sock, ep.c_str()) != 0)
            fail("zmq_bind " + ep + ": " + zmq_strerror(zmq_errno()));
    }
    void connect(const std::string& ep) {
        open(ZMQ_REQ);
        if (zmq_connect(sock, ep.c_str()) != 0)
            fail("zmq_connect " + ep + ": " + zmq_strerror(zmq_errno()));
    }
};

struct ZmqClient {
    ZmqSocket* z = nullptr;
    void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n, bool = false) {
        if (zmq_send(z->sock, req, n, 0) != static_cast<int>(n))
            fail(std::string("zmq_send: ") + zmq_strerror(zmq_errno()));
        if (zmq_recv(z->sock, resp, max_msg, 0) != static_cast<int>(n))
            fail(std::string("zmq_recv: ") + zmq_strerror(zmq_errno()));
    }
};

inline bool serve_zmq(ZmqSocket& z) {
    unsigned char buf[max_msg];
    for (;;) {
        const int got = zmq_recv(z.sock, buf, max_msg, 0);
        if (got < 0) return false;
        if (zmq_send(z.sock, buf, static_cast<std::size_t>(got), 0) != got) return false;
        if (got != 0 && buf[0] == 'Q') return true;
    }
}
#endif

} // namespace vb
