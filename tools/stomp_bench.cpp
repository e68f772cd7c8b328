// qmesh-bench: a STOMP 1.2 load generator for a qmesh node.
//
// What it measures (one line per run, then a summary table):
//   p2p      one producer connection -> one queue -> one consumer connection:
//            msg/s = messages received / (first send .. last receive), and
//            MB/s of body bytes (10^6 bytes/s).
//   fanout   one producer -> /topic/bench/<pid>/<run> -> N subscriber
//            connections: publications/s and deliveries/s (summed over the
//            subscribers), both over first send .. last delivery anywhere.
//   latency  one producer paced at a fixed rate (absolute schedule, one
//            write per message, no batching) -> one queue -> one consumer.
//            The body carries the steady_clock send time; the consumer takes
//            (time of the read that brought the message - send time). Reports
//            p50/p90/p99/p99.9/max in microseconds and the rate achieved.
//
// How: plain blocking POSIX sockets with TCP_NODELAY, one thread per
// connection, no CAF. Input goes through our STOMP parser; SEND frames are a
// preformatted header block + body + NUL. Throughput runs batch their
// writes: the producer writes ~64 KiB of SENDs at a time, a consumer writes
// the ACKs for all MESSAGEs of one read in one write. Flow control without
// sleeps: every 1000th SEND (and the last) carries a receipt and at most 4
// receipts are outstanding, so the producer cannot overrun the broker; it
// also stays at most 50,000 messages ahead of the slowest consumer so the
// queue stays below the default max depth (100,000). Subscriptions use
// prefetch-count.
//
// Checks: every body starts with an 8-byte sequence number and an 8-byte
// send time (native byte order), then padding. Each consumer checks that
// the sequence numbers arrive in order without gaps and that it gets every
// message, no more. Loss, misorder, an ERROR frame, a connection failure or
// no progress for --timeout seconds ends the program with exit code 1.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "protocols/stomp/frame.hpp"
#include "protocols/stomp/parser.hpp"

namespace {

namespace stomp = qmesh::stomp;
using clock_type = std::chrono::steady_clock;

constexpr size_t write_chunk = 64 * 1024;    // producer write size
constexpr uint64_t receipt_every = 1000;     // a receipt on every Nth SEND
constexpr size_t receipt_window = 4;         // receipts outstanding at most
constexpr uint64_t max_backlog = 50'000;     // producer lead over consumers
constexpr size_t read_buffer_size = 256 * 1024;
constexpr size_t min_body = 16;              // sequence + send time
constexpr size_t max_body = 64 * 1024 * 1024;

/// A failure that ends the program with exit code 1.
struct bench_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Bad command line: usage on stderr, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// -- options ------------------------------------------------------------------

constexpr const char* usage_text = R"(usage: qmesh-bench [--key value ...]

STOMP 1.2 load generator for a qmesh node (see the comment on top of
tools/stomp_bench.cpp for what is measured and how).

  --host HOST           server host (127.0.0.1)
  --port PORT           server STOMP port (61613)
  --scenario NAME       p2p | fanout | latency | all (all)
                          p2p:     1 producer -> 1 queue -> 1 consumer
                          fanout:  1 producer -> 1 topic -> N subscribers
                          latency: fixed rate, p50/p90/p99/p99.9/max
                          all:     p2p 16 B auto, p2p 16 B client-individual,
                                   p2p 1 KiB auto, p2p 1 KiB client-individual,
                                   fanout 1->N 16 B auto, latency 16 B
                                   (--size and --ack do not apply)
  --messages N          messages per run (p2p 1000000, fanout 200000)
  --size BYTES          body size, at least 16 (16)
  --ack MODE            auto | client-individual | client (auto)
  --subscribers N       fanout subscribers (10)
  --rate MSG_PER_S      latency: send rate (5000)
  --seconds S           latency: duration (10)
  --prefetch N          SUBSCRIBE prefetch-count, 1-100000 (1000)
  --runs N              runs per scenario; each is printed, then the median (1)
  --timeout S           give up after S s without progress on any
                        connection of a run (30)
  --help                this text

Exit codes: 0 done, 1 error (connection, ERROR frame, lost or misordered
messages, timeout), 2 bad options.
)";

enum class scenario { p2p, fanout, latency, all };

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 61613;
  scenario which = scenario::all;
  std::optional<uint64_t> messages;
  size_t size = 16;
  std::string ack = "auto";
  bool size_or_ack_given = false;
  uint64_t subscribers = 10;
  uint64_t rate = 5000;
  double seconds = 10;
  uint64_t prefetch = 1000;
  uint64_t runs = 1;
  int timeout_s = 30;
};

uint64_t parse_uint(std::string_view key, std::string_view text, uint64_t min,
                    uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min
      || value > max)
    throw usage_error(std::string{key} + " expects an integer from "
                      + std::to_string(min) + " to " + std::to_string(max)
                      + ", got \"" + std::string{text} + "\"");
  return value;
}

double parse_seconds(std::string_view key, std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc{} || end != text.data() + text.size() || !(value > 0)
      || value > 86400)
    throw usage_error(std::string{key} + " expects seconds (> 0), got \""
                      + std::string{text} + "\"");
  return value;
}

scenario parse_scenario(std::string_view text) {
  if (text == "p2p")
    return scenario::p2p;
  if (text == "fanout")
    return scenario::fanout;
  if (text == "latency")
    return scenario::latency;
  if (text == "all")
    return scenario::all;
  throw usage_error("--scenario expects p2p, fanout, latency or all, got \""
                    + std::string{text} + "\"");
}

/// Applies one `--key value` pair; false if the key is unknown.
bool apply_option(options& o, std::string_view key, std::string_view value) {
  if (key == "--host") {
    if (value.empty())
      throw usage_error("--host expects a host name");
    o.host = value;
  } else if (key == "--port") {
    o.port = static_cast<uint16_t>(parse_uint(key, value, 1, 65535));
  } else if (key == "--scenario") {
    o.which = parse_scenario(value);
  } else if (key == "--messages") {
    o.messages = parse_uint(key, value, 1, 1'000'000'000'000);
  } else if (key == "--size") {
    o.size = parse_uint(key, value, min_body, max_body);
    o.size_or_ack_given = true;
  } else if (key == "--ack") {
    if (value != "auto" && value != "client-individual" && value != "client")
      throw usage_error("--ack expects auto, client-individual or client, "
                        "got \"" + std::string{value} + "\"");
    o.ack = value;
    o.size_or_ack_given = true;
  } else if (key == "--subscribers") {
    o.subscribers = parse_uint(key, value, 1, 10'000);
  } else if (key == "--rate") {
    o.rate = parse_uint(key, value, 1, 10'000'000);
  } else if (key == "--seconds") {
    o.seconds = parse_seconds(key, value);
  } else if (key == "--prefetch") {
    o.prefetch = parse_uint(key, value, 1, 100'000);
  } else if (key == "--runs") {
    o.runs = parse_uint(key, value, 1, 1000);
  } else if (key == "--timeout") {
    o.timeout_s = static_cast<int>(parse_uint(key, value, 1, 86400));
  } else {
    return false;
  }
  return true;
}

/// Parses argv; nullopt for --help. Throws usage_error.
std::optional<options> parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i];
    if (key == "--help" || key == "-h")
      return std::nullopt;
    if (i + 1 == argc) {
      options probe;
      if (!apply_option(probe, key, "1"))
        throw usage_error("unknown option " + std::string{key});
      throw usage_error(std::string{key} + " needs a value");
    }
    if (!apply_option(o, key, argv[++i]))
      throw usage_error("unknown option " + std::string{key});
  }
  if (o.which == scenario::all && o.size_or_ack_given)
    throw usage_error("--size and --ack do not apply to --scenario all");
  if (o.which == scenario::latency && o.rate * o.seconds < 2)
    throw usage_error("--rate x --seconds must give at least 2 messages");
  return o;
}

// -- formatting ---------------------------------------------------------------

/// 312000 -> "312,000".
std::string grouped(double value) {
  auto digits = std::to_string(static_cast<uint64_t>(value + 0.5));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

double seconds_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

uint64_t now_ns() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      clock_type::now().time_since_epoch())
      .count());
}

// -- one STOMP connection over a blocking socket ------------------------------

int connect_tcp(const std::string& host, uint16_t port) {
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
void expect_command(const stomp::frame& f, std::string_view command,
                    std::string_view context) {
  if (f.command != command)
    throw bench_error(std::string{context} + ": expected " + std::string{command}
                      + ", got " + f.command);
}

void expect_receipt(connection& c, std::string_view id,
                    std::string_view context) {
  auto f = c.next();
  expect_command(f, "RECEIPT", context);
  auto got = f.header("receipt-id");
  if (got == nullptr || *got != id)
    throw bench_error(std::string{context} + ": expected receipt-id "
                      + std::string{id} + ", got "
                      + (got != nullptr ? *got : "none"));
}

void write_frame(connection& c, const stomp::frame& f) {
  std::string out;
  stomp::encode(f, out);
  c.write(out);
}

void stomp_connect(connection& c, const std::string& host) {
  write_frame(c, {"CONNECT",
                  {{"accept-version", "1.2"},
                   {"host", host},
                   {"heart-beat", "0,0"}},
                  {}});
  auto f = c.next();
  expect_command(f, "CONNECTED", "CONNECT");
  auto version = f.header("version");
  if (version == nullptr || *version != "1.2")
    throw bench_error("CONNECT: the server did not agree on STOMP 1.2");
}

void subscribe(connection& c, const std::string& destination,
               const std::string& ack, uint64_t prefetch) {
  write_frame(c, {"SUBSCRIBE",
                  {{"id", "0"},
                   {"destination", destination},
                   {"ack", ack},
                   {"prefetch-count", std::to_string(prefetch)},
                   {"receipt", "subscribed"}},
                  {}});
  expect_receipt(c, "subscribed", "SUBSCRIBE " + destination);
}

/// DISCONNECT with a receipt: everything before it is done when it returns.
void disconnect(connection& c) {
  write_frame(c, {"DISCONNECT", {{"receipt", "bye"}}, {}});
  expect_receipt(c, "bye", "DISCONNECT");
}

std::unique_ptr<connection> open_connection(const options& o,
                                            watchdog& dog) {
  auto c = std::make_unique<connection>(o.host, o.port, dog, o.size + 1024);
  stomp_connect(*c, o.host);
  return c;
}

// -- message bodies -----------------------------------------------------------

/// Preformatted SEND frames: fixed header block, body template.
class send_encoder {
public:
  send_encoder(const std::string& destination, size_t size)
    : body_(size, 'x') {
    head_ = "SEND\ndestination:";
    stomp::append_escaped(head_, destination);
    head_ += "\ncontent-length:" + std::to_string(size) + "\n";
  }

  size_t frame_size() const noexcept {
    return head_.size() + body_.size() + 32;
  }

  /// Appends one SEND; `receipt` 0 means none.
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
  uint64_t sent_ns;
};

body_stamp read_stamp(const std::string& body, size_t size) {
  if (body.size() != size)
    throw bench_error("MESSAGE body of " + std::to_string(body.size())
                      + " bytes, expected " + std::to_string(size));
  body_stamp s{};
  std::memcpy(&s.seq, body.data(), sizeof s.seq);
  std::memcpy(&s.sent_ns, body.data() + sizeof s.seq, sizeof s.sent_ns);
  return s;
}

// -- what the threads of one run share ----------------------------------------

/// Consumer progress (for the producer's backlog limit) and the first
/// failure, which shuts every socket of the run down so that no thread
/// stays blocked.
class run_state {
public:
  explicit run_state(size_t consumers) : received_(consumers, 0) {}

  void watch(int fd) {
    std::lock_guard guard{mtx_};
    fds_.push_back(fd);
  }

  void progress(size_t consumer, uint64_t received) {
    {
      std::lock_guard guard{mtx_};
      received_[consumer] = received;
    }
    cv_.notify_all();
  }

  /// The producer's progress: SENDs written, and confirmed by RECEIPT.
  void sent(uint64_t written, uint64_t confirmed) {
    std::lock_guard guard{mtx_};
    written_ = written;
    confirmed_ = confirmed;
  }

  bool all_received(uint64_t n) {
    std::lock_guard guard{mtx_};
    return slowest() >= n;
  }

  /// Blocks until every consumer has at least `n` messages; throws if the
  /// run failed meanwhile.
  void wait_received(uint64_t n) {
    std::unique_lock guard{mtx_};
    cv_.wait(guard, [&] { return failed_ || slowest() >= n; });
    if (failed_)
      throw bench_error("aborted");
  }

  void fail(const std::string& what) {
    {
      std::lock_guard guard{mtx_};
      if (failed_)
        return;
      failed_ = true;
      error_ = what;
      for (int fd : fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
  }

  /// Throws the first failure, if any, with where everybody was.
  void check() {
    std::lock_guard guard{mtx_};
    if (!failed_)
      return;
    auto what = error_ + "; the producer had written "
                + std::to_string(written_) + " SENDs, "
                + std::to_string(confirmed_)
                + " confirmed by RECEIPT; messages received per consumer:";
    for (auto n : received_) {
      what += ' ';
      what += std::to_string(n);
    }
    throw bench_error(what);
  }

private:
  uint64_t slowest() const {
    return *std::min_element(received_.begin(), received_.end());
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<uint64_t> received_;
  std::vector<int> fds_;
  uint64_t written_ = 0;
  uint64_t confirmed_ = 0;
  bool failed_ = false;
  std::string error_;
};

/// Runs `body` on a thread; an exception becomes the run's failure.
std::thread guarded(run_state& st, std::string role,
                    std::function<void()> body) {
  return std::thread([&st, role = std::move(role), body = std::move(body)] {
    try {
      body();
    } catch (const std::exception& e) {
      st.fail(role + ": " + e.what());
    }
  });
}

// -- producers ----------------------------------------------------------------

/// Sends `n` messages in ~64 KiB writes; receipt-based flow control (see the
/// comment on top). Sets `start` just before the first write.
void produce_batched(connection& c, run_state& st, const send_encoder& enc,
                     uint64_t n, clock_type::time_point& start) {
  std::string buf;
  buf.reserve(write_chunk + enc.frame_size());
  std::deque<uint64_t> outstanding;
  uint64_t appended = 0;
  uint64_t written = 0;
  uint64_t confirmed = 0;
  auto flush = [&] {
    if (!buf.empty()) {
      c.write(buf);
      buf.clear();
      written = appended;
      st.sent(written, confirmed);
    }
  };
  auto await_receipt = [&] {
    expect_receipt(c, std::to_string(outstanding.front()), "SEND");
    confirmed = outstanding.front();
    outstanding.pop_front();
    st.sent(written, confirmed);
  };
  start = clock_type::now();
  for (uint64_t seq = 0; seq < n; ++seq) {
    uint64_t receipt = 0;
    if ((seq + 1) % receipt_every == 0 || seq + 1 == n) {
      receipt = seq + 1;
      if (outstanding.size() >= receipt_window) {
        flush();
        await_receipt();
      }
      if (seq > max_backlog && !st.all_received(seq - max_backlog)) {
        flush();
        st.wait_received(seq - max_backlog);
      }
      outstanding.push_back(receipt);
    }
    enc.append(buf, seq, 0, receipt);
    ++appended;
    if (buf.size() >= write_chunk)
      flush();
  }
  flush();
  while (!outstanding.empty())
    await_receipt();
}

/// Sends `n` messages at `rate` per second on an absolute schedule, one
/// write each, the send time in the body; only the last has a receipt.
/// Sets `start` / `last_sent` to the first / last write.
void produce_paced(connection& c, run_state& st, const send_encoder& enc,
                   uint64_t n,
                   uint64_t rate, clock_type::time_point& start,
                   clock_type::time_point& last_sent) {
  std::string buf;
  buf.reserve(enc.frame_size());
  auto t0 = clock_type::now();
  for (uint64_t seq = 0; seq < n; ++seq) {
    auto due = t0 + std::chrono::nanoseconds(seq * 1'000'000'000 / rate);
    std::this_thread::sleep_until(due);
    buf.clear();
    enc.append(buf, seq, now_ns(), seq + 1 == n ? n : 0);
    auto now = clock_type::now();
    if (seq == 0)
      start = now;
    last_sent = now;
    c.write(buf);
    st.sent(seq + 1, 0);
  }
  expect_receipt(c, std::to_string(n), "SEND");
  st.sent(n, n);
}

// -- consumers ----------------------------------------------------------------

enum class ack_mode { automatic, client, client_individual };

ack_mode to_ack_mode(const std::string& text) {
  if (text == "client-individual")
    return ack_mode::client_individual;
  if (text == "client")
    return ack_mode::client;
  return ack_mode::automatic;
}

struct consumer_result {
  uint64_t received = 0;
  clock_type::time_point last_receive;
  std::vector<uint64_t> latencies_ns; // latency runs only
};

void append_ack(std::string& out, const stomp::frame& msg) {
  auto id = msg.header("ack");
  if (id == nullptr)
    throw bench_error("MESSAGE without an ack header on a client ack "
                      "subscription");
  out += "ACK\nid:";
  stomp::append_escaped(out, *id);
  out += "\n\n";
  out += '\0';
}

/// Receives exactly `n` messages of `size` bytes with sequence numbers 0 ..
/// n-1 in order; ACKs (client modes) are written once per read.
void receive_all(connection& c, run_state& st, size_t index, uint64_t n,
                 size_t size, ack_mode ack, bool measure_latency,
                 consumer_result& r) {
  std::vector<stomp::frame> frames;
  std::string acks;
  if (measure_latency)
    r.latencies_ns.reserve(n);
  while (r.received < n) {
    frames.clear();
    c.read(frames);
    auto now = clock_type::now();
    auto now_stamp = now_ns();
    for (const auto& f : frames) {
      expect_command(f, "MESSAGE", "receive");
      auto stamp = read_stamp(f.body, size);
      if (stamp.seq != r.received)
        throw bench_error(
          r.received < n
            ? "got message " + std::to_string(stamp.seq) + ", expected "
                + std::to_string(r.received) + " (lost or out of order)"
            : "got message " + std::to_string(stamp.seq) + " after all "
                + std::to_string(n) + " (more messages than were sent)");
      ++r.received;
      if (measure_latency)
        r.latencies_ns.push_back(now_stamp - stamp.sent_ns);
      if (ack == ack_mode::client_individual)
        append_ack(acks, f);
    }
    if (frames.empty())
      continue;
    if (ack == ack_mode::client)
      append_ack(acks, frames.back());
    if (!acks.empty()) {
      c.write(acks);
      acks.clear();
    }
    r.last_receive = now;
    st.progress(index, r.received);
  }
}

/// receive_all(), with the count so far added to any error.
void consume(connection& c, run_state& st, size_t index, uint64_t n,
             size_t size, ack_mode ack, bool measure_latency,
             consumer_result& r) {
  try {
    receive_all(c, st, index, n, size, ack, measure_latency, r);
  } catch (const bench_error& e) {
    st.progress(index, r.received);
    throw bench_error(std::string{e.what()} + " (after "
                      + std::to_string(r.received) + " of "
                      + std::to_string(n) + " messages)");
  }
}

// -- runs ---------------------------------------------------------------------

enum class kind { p2p, fanout, latency };

/// One configuration of the matrix.
struct bench_case {
  kind what;
  size_t size;
  std::string ack;
  uint64_t messages;    // p2p, fanout; latency: rate x seconds
  uint64_t subscribers; // fanout
  uint64_t rate;        // latency

  std::string name() const {
    auto common = " size=" + std::to_string(size) + " ack=" + ack;
    switch (what) {
      case kind::p2p:
        return "p2p" + common;
      case kind::fanout:
        return "fanout 1->" + std::to_string(subscribers) + common;
      case kind::latency:
        return "latency" + common + " rate=" + std::to_string(rate);
    }
    return common;
  }
};

struct latency_figures {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0; // microseconds
};

struct result {
  uint64_t published = 0;
  uint64_t delivered = 0;
  double seconds = 0;
  double pub_rate = 0;     // publications/s
  double deliv_rate = 0;   // deliveries/s
  double mb_rate = 0;      // delivered body MB/s
  latency_figures lat;     // latency runs only
};

/// Nearest-rank percentile of sorted `v`, in microseconds.
double percentile_us(const std::vector<uint64_t>& v, double q) {
  auto rank = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return static_cast<double>(v[rank - 1]) / 1000.0;
}

latency_figures summarize(std::vector<uint64_t> ns) {
  std::sort(ns.begin(), ns.end());
  return {percentile_us(ns, 0.5), percentile_us(ns, 0.9),
          percentile_us(ns, 0.99), percentile_us(ns, 0.999),
          static_cast<double>(ns.back()) / 1000.0};
}

/// A destination no earlier run used: nothing left over mixes in.
std::string destination_for(const bench_case& bc, uint64_t run_id) {
  auto pid = std::to_string(::getpid());
  auto run = std::to_string(run_id);
  return bc.what == kind::fanout ? "/topic/bench/" + pid + "/" + run
                                 : "/queue/BENCH." + pid + "." + run;
}

/// The figures of a finished run.
result figures(const bench_case& bc, std::vector<consumer_result>& got,
               clock_type::time_point start,
               clock_type::time_point last_sent) {
  result r;
  r.published = bc.messages;
  auto last = start;
  for (auto& g : got) {
    r.delivered += g.received;
    last = std::max(last, g.last_receive);
  }
  r.seconds = seconds_between(start, last);
  if (bc.what == kind::latency) {
    r.lat = summarize(std::move(got[0].latencies_ns));
    auto send_span = seconds_between(start, last_sent);
    r.pub_rate = static_cast<double>(bc.messages - 1) / send_span;
  } else {
    r.pub_rate = static_cast<double>(r.published) / r.seconds;
  }
  r.deliv_rate = static_cast<double>(r.delivered) / r.seconds;
  r.mb_rate = r.deliv_rate * static_cast<double>(bc.size) / 1e6;
  return r;
}

/// One run: subscribers first (each SUBSCRIBE receipted), then the
/// producer; returns when every subscriber has every message.
result run_once(const options& o, const bench_case& bc, uint64_t run_id) {
  auto destination = destination_for(bc, run_id);
  size_t subs = bc.what == kind::fanout ? bc.subscribers : 1;
  watchdog dog{o.timeout_s}; // outlives the connections
  std::vector<std::unique_ptr<connection>> consumers;
  for (size_t i = 0; i < subs; ++i) {
    consumers.push_back(open_connection(o, dog));
    subscribe(*consumers.back(), destination, bc.ack, o.prefetch);
  }
  auto producer = open_connection(o, dog);
  run_state st{subs};
  for (auto& c : consumers)
    st.watch(c->fd());
  st.watch(producer->fd());
  std::vector<consumer_result> got(subs);
  send_encoder enc{destination, bc.size};
  clock_type::time_point start;
  clock_type::time_point last_sent;
  bool paced = bc.what == kind::latency;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < subs; ++i)
    threads.push_back(guarded(st, "consumer " + std::to_string(i + 1), [&, i] {
      consume(*consumers[i], st, i, bc.messages, bc.size, to_ack_mode(bc.ack),
              paced, got[i]);
    }));
  threads.push_back(guarded(st, "producer", [&] {
    if (paced)
      produce_paced(*producer, st, enc, bc.messages, bc.rate, start, last_sent);
    else
      produce_batched(*producer, st, enc, bc.messages, start);
  }));
  for (auto& t : threads)
    t.join();
  st.check();
  disconnect(*producer);
  for (auto& c : consumers)
    disconnect(*c);
  return figures(bc, got, start, last_sent);
}

// -- reporting ----------------------------------------------------------------

std::string describe(const bench_case& bc, const result& r) {
  auto head = bc.name() + ": ";
  switch (bc.what) {
    case kind::p2p:
      return head + grouped(r.deliv_rate) + " msg/s (" + fixed(r.mb_rate, 2)
             + " MB/s) " + std::to_string(r.delivered) + " msgs in "
             + fixed(r.seconds, 2) + " s";
    case kind::fanout:
      return head + grouped(r.pub_rate) + " pub/s, " + grouped(r.deliv_rate)
             + " deliveries/s (" + fixed(r.mb_rate, 2) + " MB/s) "
             + std::to_string(r.published) + " msgs x "
             + std::to_string(bc.subscribers) + " subscribers in "
             + fixed(r.seconds, 2) + " s";
    case kind::latency:
      return head + "p50 " + fixed(r.lat.p50, 0) + " us, p90 "
             + fixed(r.lat.p90, 0) + " us, p99 " + fixed(r.lat.p99, 0)
             + " us, p99.9 " + fixed(r.lat.p999, 0) + " us, max "
             + fixed(r.lat.max, 0) + " us; achieved "
             + grouped(r.pub_rate) + " msg/s, "
             + std::to_string(r.delivered) + " msgs in "
             + fixed(r.seconds, 2) + " s";
  }
  return head;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/// Figure by figure median (each column on its own).
result median_of(const std::vector<result>& runs) {
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : runs)
      v.push_back(static_cast<double>(field(r)));
    return median(std::move(v));
  };
  result m = runs.front();
  m.seconds = med([](const result& r) { return r.seconds; });
  m.pub_rate = med([](const result& r) { return r.pub_rate; });
  m.deliv_rate = med([](const result& r) { return r.deliv_rate; });
  m.mb_rate = med([](const result& r) { return r.mb_rate; });
  m.lat.p50 = med([](const result& r) { return r.lat.p50; });
  m.lat.p90 = med([](const result& r) { return r.lat.p90; });
  m.lat.p99 = med([](const result& r) { return r.lat.p99; });
  m.lat.p999 = med([](const result& r) { return r.lat.p999; });
  m.lat.max = med([](const result& r) { return r.lat.max; });
  return m;
}

void print_table(const std::vector<std::pair<bench_case, result>>& rows,
                 uint64_t runs) {
  auto median_note = runs > 1 ? ", median of " + std::to_string(runs) + " runs"
                              : std::string{};
  std::printf("\nsummary%s (MB/s: delivered bodies; latency in us)\n",
              median_note.c_str());
  std::printf("%-48s %11s %13s %8s %7s %7s %7s %7s\n", "scenario", "pub/s",
              "deliveries/s", "MB/s", "p50", "p99", "p99.9", "max");
  for (const auto& [bc, r] : rows) {
    bool lat = bc.what == kind::latency;
    auto us = [&](double v) { return lat ? fixed(v, 0) : std::string{"-"}; };
    std::printf("%-48s %11s %13s %8s %7s %7s %7s %7s\n", bc.name().c_str(),
                grouped(r.pub_rate).c_str(), grouped(r.deliv_rate).c_str(),
                fixed(r.mb_rate, 2).c_str(), us(r.lat.p50).c_str(),
                us(r.lat.p99).c_str(), us(r.lat.p999).c_str(),
                us(r.lat.max).c_str());
  }
}

// -- the matrix ---------------------------------------------------------------

std::vector<bench_case> cases_for(const options& o) {
  auto p2p_n = o.messages.value_or(1'000'000);
  auto fan_n = o.messages.value_or(200'000);
  auto lat_n = static_cast<uint64_t>(static_cast<double>(o.rate) * o.seconds);
  switch (o.which) {
    case scenario::p2p:
      return {{kind::p2p, o.size, o.ack, p2p_n, 1, 0}};
    case scenario::fanout:
      return {{kind::fanout, o.size, o.ack, fan_n, o.subscribers, 0}};
    case scenario::latency:
      return {{kind::latency, o.size, o.ack, lat_n, 1, o.rate}};
    case scenario::all:
      break;
  }
  return {{kind::p2p, 16, "auto", p2p_n, 1, 0},
          {kind::p2p, 16, "client-individual", p2p_n, 1, 0},
          {kind::p2p, 1024, "auto", p2p_n, 1, 0},
          {kind::p2p, 1024, "client-individual", p2p_n, 1, 0},
          {kind::fanout, 16, "auto", fan_n, o.subscribers, 0},
          {kind::latency, 16, "auto", lat_n, 1, o.rate}};
}

void run_all(const options& o) {
  std::vector<std::pair<bench_case, result>> rows;
  uint64_t run_id = 0;
  for (const auto& bc : cases_for(o)) {
    std::vector<result> runs;
    for (uint64_t i = 1; i <= o.runs; ++i) {
      try {
        runs.push_back(run_once(o, bc, ++run_id));
      } catch (const bench_error& e) {
        throw bench_error(bc.name() + ": " + e.what());
      }
      auto prefix = o.runs > 1 ? "[run " + std::to_string(i) + "/"
                                   + std::to_string(o.runs) + "] "
                               : std::string{};
      std::printf("%s%s\n", prefix.c_str(), describe(bc, runs.back()).c_str());
      std::fflush(stdout);
    }
    auto m = median_of(runs);
    if (o.runs > 1)
      std::printf("[median] %s\n", describe(bc, m).c_str());
    rows.emplace_back(bc, m);
  }
  print_table(rows, o.runs);
}

} // namespace

int main(int argc, char** argv) {
  std::optional<options> opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "qmesh-bench: %s\n\n%s", e.what(), usage_text);
    return 2;
  }
  if (!opts) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  try {
    run_all(*opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmesh-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
