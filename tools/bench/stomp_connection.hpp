// qmesh-bench: one STOMP connection over a blocking socket, the broker
// dialects (CONNECT, SUBSCRIBE) and the SEND encoder.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "protocols/stomp/frame.hpp"
#include "protocols/stomp/parser.hpp"
#include "tools/bench/common.hpp"
#include "tools/bench/options.hpp"

namespace qmesh::bench {

// -- one STOMP connection over a blocking socket ------------------------------

inline int connect_tcp(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto where = host + ":" + std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                           &found);
      rc != 0)
    throw bench_error("cannot resolve " + host + ": " + gai_strerror(rc));
  int err = 0;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(found);
      return fd;
    }
    err = errno;
    ::close(fd);
  }
  freeaddrinfo(found);
  throw bench_error("cannot connect to " + where + ": " + std::strerror(err));
}

/// "No progress for --timeout seconds" over all connections of a run:
/// a byte read or written on any of them is progress. (A fan-out
/// subscriber may legitimately wait while the others are served.)
class watchdog {
public:
  explicit watchdog(int timeout_s) : timeout_s_(timeout_s) {
    kick();
  }

  void kick() noexcept {
    last_.store(clock_type::now().time_since_epoch().count(),
                std::memory_order_relaxed);
  }

  /// Throws once nothing happened for the timeout.
  void check() const {
    clock_type::time_point last{
      clock_type::duration{last_.load(std::memory_order_relaxed)}};
    if (clock_type::now() - last >= std::chrono::seconds(timeout_s_))
      throw bench_error("no progress on any connection for "
                        + std::to_string(timeout_s_) + " s");
  }

private:
  int timeout_s_;
  std::atomic<clock_type::rep> last_;
};

/// A STOMP connection: blocking socket with TCP_NODELAY, our parser on the
/// input side. Blocked calls wake up every second to ask the watchdog.
/// Every failure throws bench_error, an ERROR frame from the server
/// included.
class connection {
public:
  connection(const std::string& host, uint16_t port, watchdog& dog,
             size_t body_limit)
    : fd_(connect_tcp(host, port)),
      parser_(stomp::limits{.max_body = std::max(body_limit,
                                                 stomp::limits{}.max_body)}),
      buf_(read_buffer_size),
      dog_(dog) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tick{};
    tick.tv_sec = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
  }

  ~connection() {
    ::close(fd_);
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int fd() const noexcept {
    return fd_;
  }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        int err = errno;
        if (err == EINTR)
          continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          dog_.check();
          continue;
        }
        look_for_error_frame();
        throw bench_error(std::string{"write failed: "} + std::strerror(err));
      }
      dog_.kick();
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  /// Appends the frames already parsed or, if none, those of one read to
  /// `out` (possibly none, when the read ended mid-frame).
  void read(std::vector<stomp::frame>& out) {
    if (pending_.empty()) {
      read_once(out);
      return;
    }
    for (auto& f : pending_)
      out.push_back(std::move(f));
    pending_.clear();
  }

  /// The next frame, reading as needed.
  stomp::frame next() {
    while (pending_.empty())
      read_once(pending_);
    auto f = std::move(pending_.front());
    pending_.pop_front();
    return f;
  }

private:
  template <class Frames>
  void read_once(Frames& out) {
    ssize_t n;
    for (;;) {
      n = ::recv(fd_, buf_.data(), buf_.size(), 0);
      if (n >= 0 || errno == EINTR)
        break;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        throw bench_error(std::string{"read failed: "} + std::strerror(errno));
      dog_.check();
    }
    if (n == 0)
      throw bench_error("the server closed the connection");
    if (n < 0)
      return; // EINTR
    dog_.kick();
    feed(buf_.data(), static_cast<size_t>(n), out);
  }

  template <class Frames>
  void feed(const char* data, size_t size, Frames& out) {
    frames_.clear();
    bool ok = parser_.feed(data, size, frames_);
    for (auto& f : frames_) {
      if (f.command == "ERROR")
        throw bench_error("server ERROR: " + describe_error(f));
      out.push_back(std::move(f));
    }
    if (!ok)
      throw bench_error("malformed frame from the server: " + parser_.error());
  }

  static std::string describe_error(const stomp::frame& f) {
    auto msg = f.header("message");
    std::string text = msg != nullptr ? *msg : "(no message header) " + f.body;
    if (auto r = f.header("receipt-id"))
      text += " (receipt-id " + *r + ")";
    return text;
  }

  /// After a failed write: an ERROR the server sent before closing explains
  /// the failure better than EPIPE does.
  void look_for_error_frame() {
    std::deque<stomp::frame> ignored;
    for (;;) {
      auto n = ::recv(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (n <= 0)
        return;
      feed(buf_.data(), static_cast<size_t>(n), ignored); // throws on ERROR
    }
  }

  int fd_;
  stomp::parser parser_;
  std::vector<char> buf_;
  std::vector<stomp::frame> frames_;
  std::deque<stomp::frame> pending_;
  watchdog& dog_;
};

/// Fails unless `f` is a `command` frame.
inline void expect_command(const stomp::frame& f, std::string_view command,
                    std::string_view context) {
  if (f.command != command)
    throw bench_error(std::string{context} + ": expected " + std::string{command}
                      + ", got " + f.command);
}

inline void expect_receipt(connection& c, std::string_view id,
                    std::string_view context) {
  auto f = c.next();
  expect_command(f, "RECEIPT", context);
  auto got = f.header("receipt-id");
  if (got == nullptr || *got != id)
    throw bench_error(std::string{context} + ": expected receipt-id "
                      + std::string{id} + ", got "
                      + (got != nullptr ? *got : "none"));
}

inline void write_frame(connection& c, const stomp::frame& f) {
  std::string out;
  stomp::encode(f, out);
  c.write(out);
}

// -- broker dialects ----------------------------------------------------------
//
// qmesh: as qmesh documents it. rabbitmq (3.10, rabbitmq_stomp): no `/`
// inside destination names, CONNECT host = the virtual host ("/"),
// `prefetch-count`, never `persistent:false` (it takes it as a queue
// durability flag and closes the connection). activemq (5.17): dotted
// names, `activemq.prefetchSize`. All: `persistent:true` only on persistent
// SENDs, no `persistent` header otherwise.

inline void stomp_connect(connection& c, const options& o) {
  stomp::frame f{"CONNECT",
                 {{"accept-version", "1.2"},
                  {"host", o.vhost ? *o.vhost
                           : o.broker == broker_kind::rabbitmq ? "/"
                                                               : o.host},
                  {"heart-beat", "0,0"}},
                 {}};
  if (o.login)
    f.headers.emplace_back("login", *o.login);
  if (o.passcode)
    f.headers.emplace_back("passcode", *o.passcode);
  write_frame(c, f);
  auto got = c.next();
  expect_command(got, "CONNECTED", "CONNECT");
  auto version = got.header("version");
  if (version == nullptr || *version != "1.2")
    throw bench_error("CONNECT: the server did not agree on STOMP 1.2");
}

inline void subscribe(connection& c, const options& o, const std::string& destination,
               const std::string& ack, uint64_t prefetch) {
  stomp::frame f{"SUBSCRIBE",
                 {{"id", "0"},
                  {"destination", destination},
                  {"ack", ack}},
                 {}};
  f.headers.emplace_back(o.broker == broker_kind::activemq
                           ? "activemq.prefetchSize"
                           : "prefetch-count",
                         std::to_string(prefetch));
  f.headers.emplace_back("receipt", "subscribed");
  write_frame(c, f);
  expect_receipt(c, "subscribed", "SUBSCRIBE " + destination);
}

/// DISCONNECT with a receipt: everything before it is done when it returns.
inline void disconnect(connection& c) {
  write_frame(c, {"DISCONNECT", {{"receipt", "bye"}}, {}});
  expect_receipt(c, "bye", "DISCONNECT");
}

/// A connected STOMP session to `host`:`port` (default: --host, --port).
inline std::unique_ptr<connection>
open_connection(const options& o, watchdog& dog,
                const std::string* host = nullptr, uint16_t port = 0) {
  auto c = std::make_unique<connection>(host ? *host : o.host,
                                        port ? port : o.port, dog,
                                        o.size + 1024);
  stomp_connect(*c, o);
  return c;
}

// -- message bodies -----------------------------------------------------------

/// Preformatted SEND frames: fixed header block, body template. Only
/// persistent SENDs carry a `persistent` header (RabbitMQ misreads
/// `persistent:false`).
class send_encoder {
public:
  send_encoder(const std::string& destination, size_t size,
               bool persistent = false)
    : body_(size, 'x') {
    head_ = "SEND\ndestination:";
    stomp::append_escaped(head_, destination);
    head_ += "\ncontent-length:" + std::to_string(size) + "\n";
    if (persistent)
      head_ += "persistent:true\n";
  }

  size_t frame_size() const noexcept {
    return head_.size() + body_.size() + 32;
  }

  /// Appends one SEND; `receipt` 0 means none. `sent_ns` is the body's
  /// second word: the send time, or in persistent runs the producer's index.
  void append(std::string& out, uint64_t seq, uint64_t sent_ns,
              uint64_t receipt) const {
    out += head_;
    if (receipt != 0) {
      out += "receipt:";
      out += std::to_string(receipt);
      out += '\n';
    }
    out += '\n';
    auto at = out.size();
    out += body_;
    std::memcpy(out.data() + at, &seq, sizeof seq);
    std::memcpy(out.data() + at + sizeof seq, &sent_ns, sizeof sent_ns);
    out += '\0';
  }

private:
  std::string head_;
  std::string body_;
};

struct body_stamp {
  uint64_t seq;
  uint64_t sent_ns; // persistent runs: the producer's index
};

inline body_stamp read_stamp(const std::string& body, size_t size) {
  if (body.size() != size)
    throw bench_error("MESSAGE body of " + std::to_string(body.size())
                      + " bytes, expected " + std::to_string(size));
  body_stamp s{};
  std::memcpy(&s.seq, body.data(), sizeof s.seq);
  std::memcpy(&s.sent_ns, body.data() + sizeof s.seq, sizeof s.sent_ns);
  return s;
}

} // namespace qmesh::bench
