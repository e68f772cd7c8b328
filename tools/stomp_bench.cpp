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
//   persistent  P producer connections (--producers, 1) -> one queue
//            /queue/bench.persistent.<pid>.<run>; every SEND carries
//            `persistent:true` and a receipt, at most --in-flight (1) SENDs
//            per connection are un-receipted. confirmed msg/s = receipts
//            received / (first send .. last receipt, over all producers);
//            p50/p90/p99/p99.9/max of send -> receipt per message (time of
//            the write that carried the SEND .. time of the read that
//            brought its RECEIPT). By default (--drain on) one consumer
//            connection drains the queue concurrently in ack:auto mode
//            (drain msg/s = received / (first send .. last receive)), so the
//            queue's default max depth (100,000) never stops a run; with
//            --drain off nothing consumes and --messages is at most 100,000.
//            Transient scenarios send no `persistent` header at all.
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
// prefetch-count. A persistent producer writes the SENDs that fit into its
// window in one write, and refills it after each read that brought
// receipts; with --drain on its producers stay at most 50,000 messages
// ahead of the drain.
//
// Checks: every body starts with an 8-byte sequence number and an 8-byte
// send time (native byte order), then padding; persistent runs put the
// producer's index where the others put the send time. Each consumer checks
// that the sequence numbers (of each producer) arrive in order without gaps
// and that it gets every message, no more. A persistent producer checks
// that the receipt ids come back exactly once and in order (its RECEIPTs
// name its SENDs 1, 2, 3, ...; the DISCONNECT receipt must come next). Loss, misorder, an ERROR frame, a connection failure or
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
constexpr uint64_t max_undrained = 100'000;  // default max depth of a queue
constexpr uint64_t default_persistent = 20'000; // persistent: messages
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
  --scenario NAME       p2p | fanout | latency | persistent | all (all)
                          p2p:     1 producer -> 1 queue -> 1 consumer
                          fanout:  1 producer -> 1 topic -> N subscribers
                          latency: fixed rate, p50/p90/p99/p99.9/max
                          persistent: P producers -> 1 queue, confirmed
                                   persistent puts (a receipt on every SEND),
                                   send->receipt p50/p99; optional drain
                          all:     p2p 16 B auto, p2p 16 B client-individual,
                                   p2p 1 KiB auto, p2p 1 KiB client-individual,
                                   fanout 1->N 16 B auto, latency 16 B
                                   (--size and --ack do not apply;
                                   persistent is not part of it)
  --messages N          messages per run (p2p 1000000, fanout 200000,
                        persistent 20000 over all producers)
  --size BYTES          body size, at least 16 (16)
  --ack MODE            auto | client-individual | client (auto);
                        persistent: the drain always uses auto
  --subscribers N       fanout subscribers (10)
  --rate MSG_PER_S      latency: send rate (5000)
  --seconds S           latency: duration (10)
  --in-flight N         persistent: un-receipted SENDs per producer
                        connection at most, 1-10000 (1)
  --producers N         persistent: producer connections, 1-1000 (1)
  --drain on|off        persistent: a consumer (ack:auto) empties the queue
                        meanwhile (on); off: nothing consumes, --messages at
                        most 100000 (the default max depth of a queue)
  --prefetch N          SUBSCRIBE prefetch-count, 1-100000 (1000)
  --runs N              runs per scenario; each is printed, then the median (1)
  --timeout S           give up after S s without progress on any
                        connection of a run (30)
  --help                this text

Exit codes: 0 done, 1 error (connection, ERROR frame, lost or misordered
messages, timeout), 2 bad options.
)";

enum class scenario { p2p, fanout, latency, persistent, all };

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
  uint64_t in_flight = 1;
  uint64_t producers = 1;
  bool drain = true;
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
  if (text == "persistent")
    return scenario::persistent;
  if (text == "all")
    return scenario::all;
  throw usage_error("--scenario expects p2p, fanout, latency, persistent or "
                    "all, got \""
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
  } else if (key == "--in-flight") {
    o.in_flight = parse_uint(key, value, 1, 10'000);
  } else if (key == "--producers") {
    o.producers = parse_uint(key, value, 1, 1000);
  } else if (key == "--drain") {
    if (value != "on" && value != "off")
      throw usage_error("--drain expects on or off, got \""
                        + std::string{value} + "\"");
    o.drain = value == "on";
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
  if (o.which == scenario::persistent && !o.drain
      && o.messages.value_or(0) > max_undrained)
    throw usage_error("--drain off keeps every message in the queue: "
                      "--messages must be at most "
                      + std::to_string(max_undrained));
  if (o.which == scenario::persistent
      && o.messages.value_or(default_persistent) < o.producers)
    throw usage_error("--messages must be at least --producers");
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

/// Consumer progress (for the producers' backlog limit) and the first
/// failure, which shuts every socket of the run down so that no thread
/// stays blocked.
class run_state {
public:
  explicit run_state(size_t consumers, size_t producers = 1)
    : received_(consumers, 0), written_(producers, 0),
      confirmed_(producers, 0) {}

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

  /// A producer's progress: SENDs written, and confirmed by RECEIPT.
  void sent(size_t producer, uint64_t written, uint64_t confirmed) {
    std::lock_guard guard{mtx_};
    written_[producer] = written;
    confirmed_[producer] = confirmed;
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

  /// Blocks until the SENDs written by all producers together are fewer
  /// than `limit` ahead of the slowest consumer; throws if the run failed
  /// meanwhile.
  void wait_backlog(uint64_t limit) {
    std::unique_lock guard{mtx_};
    cv_.wait(guard, [&] {
      return failed_ || sum(written_) < slowest() + limit;
    });
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
    auto per = [](const std::vector<uint64_t>& v) {
      std::string out;
      for (auto n : v) {
        if (!out.empty())
          out += '/';
        out += std::to_string(n);
      }
      return out;
    };
    auto what = error_
                + (written_.size() == 1 ? "; the producer had written "
                                        : "; the producers had written ")
                + per(written_) + " SENDs, " + per(confirmed_)
                + " confirmed by RECEIPT; messages received per consumer:";
    for (auto n : received_) {
      what += ' ';
      what += std::to_string(n);
    }
    throw bench_error(what);
  }

private:
  uint64_t slowest() const {
    return received_.empty()
             ? 0
             : *std::min_element(received_.begin(), received_.end());
  }

  static uint64_t sum(const std::vector<uint64_t>& v) {
    uint64_t total = 0;
    for (auto n : v)
      total += n;
    return total;
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<uint64_t> received_;
  std::vector<int> fds_;
  std::vector<uint64_t> written_;
  std::vector<uint64_t> confirmed_;
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
      st.sent(0, written, confirmed);
    }
  };
  auto await_receipt = [&] {
    expect_receipt(c, std::to_string(outstanding.front()), "SEND");
    confirmed = outstanding.front();
    outstanding.pop_front();
    st.sent(0, written, confirmed);
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
    st.sent(0, seq + 1, 0);
  }
  expect_receipt(c, std::to_string(n), "SEND");
  st.sent(0, n, n);
}

/// What one persistent producer saw.
struct producer_result {
  uint64_t confirmed = 0;
  clock_type::time_point start;        // just before the first write
  clock_type::time_point last_receipt; // the read that brought the last
  std::vector<uint64_t> latencies_ns;  // send -> receipt, per message
};

/// Confirmed persistent puts: sends `n` messages, each with a receipt (its
/// number, 1 .. n), at most `in_flight` of them un-receipted. The SENDs that
/// fit into the window go out in one write; each read that brings receipts
/// refills it. Every RECEIPT must name the oldest outstanding SEND.
/// `backlog`: stay fewer than max_backlog messages (all producers
/// together) ahead of the drain.
void produce_confirmed(connection& c, run_state& st, size_t index,
                       const send_encoder& enc, uint64_t n, uint64_t in_flight,
                       bool backlog, producer_result& r) {
  std::string buf;
  std::deque<clock_type::time_point> outstanding; // write times, oldest first
  std::vector<stomp::frame> frames;
  uint64_t written = 0;
  r.latencies_ns.reserve(n);
  r.start = clock_type::now();
  while (r.confirmed < n) {
    if (written < n && outstanding.size() < in_flight) {
      if (backlog)
        st.wait_backlog(max_backlog);
      auto k = std::min<uint64_t>(in_flight - outstanding.size(), n - written);
      buf.clear();
      for (uint64_t i = 0; i < k; ++i)
        enc.append(buf, written + i, index, written + i + 1);
      auto now = clock_type::now();
      if (written == 0)
        r.start = now;
      c.write(buf);
      outstanding.insert(outstanding.end(), k, now);
      written += k;
      st.sent(index, written, r.confirmed);
    }
    frames.clear();
    c.read(frames);
    if (frames.empty())
      continue;
    auto now = clock_type::now();
    for (const auto& f : frames) {
      expect_command(f, "RECEIPT", "SEND");
      auto id = f.header("receipt-id");
      auto expected = std::to_string(r.confirmed + 1);
      if (outstanding.empty())
        throw bench_error("RECEIPT " + (id != nullptr ? *id : "without id")
                          + " while no SEND was outstanding (a duplicate or "
                            "unknown receipt)");
      if (id == nullptr || *id != expected)
        throw bench_error("SEND: expected receipt-id " + expected + ", got "
                          + (id != nullptr ? *id : "none")
                          + " (lost, duplicated or out of order)");
      r.latencies_ns.push_back(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
          now - outstanding.front())
          .count()));
      outstanding.pop_front();
      ++r.confirmed;
    }
    r.last_receipt = now;
    st.sent(index, written, r.confirmed);
  }
}

/// produce_confirmed(), with the count so far added to any error.
void produce_persistent(connection& c, run_state& st, size_t index,
                        const send_encoder& enc, uint64_t n,
                        uint64_t in_flight, bool backlog,
                        producer_result& r) {
  try {
    produce_confirmed(c, st, index, enc, n, in_flight, backlog, r);
  } catch (const bench_error& e) {
    throw bench_error(std::string{e.what()} + " (after "
                      + std::to_string(r.confirmed) + " of "
                      + std::to_string(n) + " receipts)");
  }
}

/// Producer `i`'s part of `n` messages over `parts` producers.
uint64_t share(uint64_t n, size_t parts, size_t i) {
  return n / parts + (i < n % parts ? 1 : 0);
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
/// `producers` > 0 (persistent runs): the bodies name their producer, each
/// of them sent its share() of `n`, and each producer's sequence numbers
/// must arrive in order.
void receive_all(connection& c, run_state& st, size_t index, uint64_t n,
                 size_t size, ack_mode ack, bool measure_latency,
                 size_t producers, consumer_result& r) {
  std::vector<stomp::frame> frames;
  std::string acks;
  std::vector<uint64_t> next(std::max<size_t>(producers, 1), 0);
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
      if (producers > 0 && stamp.sent_ns >= producers)
        throw bench_error("got a message from producer "
                          + std::to_string(stamp.sent_ns) + " of "
                          + std::to_string(producers));
      auto from = producers > 0 ? static_cast<size_t>(stamp.sent_ns) : 0;
      auto expected = next[from];
      auto sent = producers > 0 ? share(n, producers, from) : n;
      auto of = producers > 0 ? " of producer " + std::to_string(from)
                              : std::string{};
      if (stamp.seq != expected || expected >= sent || r.received >= n)
        throw bench_error(
          expected < sent && r.received < n
            ? "got message " + std::to_string(stamp.seq) + of + ", expected "
                + std::to_string(expected) + " (lost or out of order)"
            : "got message " + std::to_string(stamp.seq) + of + " after all "
                + std::to_string(sent) + " (more messages than were sent)");
      ++next[from];
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
             size_t size, ack_mode ack, bool measure_latency, size_t producers,
             consumer_result& r) {
  try {
    receive_all(c, st, index, n, size, ack, measure_latency, producers, r);
  } catch (const bench_error& e) {
    st.progress(index, r.received);
    throw bench_error(std::string{e.what()} + " (after "
                      + std::to_string(r.received) + " of "
                      + std::to_string(n) + " messages)");
  }
}

// -- runs ---------------------------------------------------------------------

enum class kind { p2p, fanout, latency, persistent };

/// One configuration of the matrix.
struct bench_case {
  kind what;
  size_t size;
  std::string ack;
  uint64_t messages;    // p2p, fanout; latency: rate x seconds
  uint64_t subscribers; // fanout
  uint64_t rate;        // latency
  uint64_t in_flight = 0; // persistent: per producer connection
  uint64_t producers = 1; // persistent
  bool drain = false;     // persistent: a consumer empties the queue

  std::string name() const {
    auto common = " size=" + std::to_string(size) + " ack=" + ack;
    switch (what) {
      case kind::p2p:
        return "p2p" + common;
      case kind::fanout:
        return "fanout 1->" + std::to_string(subscribers) + common;
      case kind::latency:
        return "latency" + common + " rate=" + std::to_string(rate);
      case kind::persistent:
        return "persistent size=" + std::to_string(size) + " in-flight="
               + std::to_string(in_flight) + " producers="
               + std::to_string(producers) + (drain ? "" : " drain=off");
    }
    return common;
  }
};

struct latency_figures {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0; // microseconds
};

/// Persistent runs: published = confirmed, pub_rate = confirmed/s over
/// `seconds` (first send .. last receipt), deliv_rate = the drain's rate
/// (first send .. last receive), lat = send -> receipt, mb_rate = confirmed
/// bodies.
struct result {
  uint64_t published = 0;
  uint64_t delivered = 0;
  double seconds = 0;
  double pub_rate = 0;     // publications/s
  double deliv_rate = 0;   // deliveries/s
  double mb_rate = 0;      // delivered body MB/s
  latency_figures lat;     // latency and persistent runs only
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
  if (bc.what == kind::persistent)
    return "/queue/bench.persistent." + pid + "." + run;
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

/// The figures of a finished persistent run.
result persistent_figures(const bench_case& bc,
                          std::vector<producer_result>& sent,
                          const std::vector<consumer_result>& got) {
  result r;
  auto start = sent.front().start;
  auto last = start;
  std::vector<uint64_t> latencies;
  latencies.reserve(bc.messages);
  for (auto& p : sent) {
    r.published += p.confirmed;
    start = std::min(start, p.start);
    last = std::max(last, p.last_receipt);
    latencies.insert(latencies.end(), p.latencies_ns.begin(),
                     p.latencies_ns.end());
  }
  r.seconds = seconds_between(start, last);
  r.pub_rate = static_cast<double>(r.published) / r.seconds;
  r.mb_rate = r.pub_rate * static_cast<double>(bc.size) / 1e6;
  r.lat = summarize(std::move(latencies));
  if (!got.empty()) {
    r.delivered = got.front().received;
    r.deliv_rate = static_cast<double>(r.delivered)
                   / seconds_between(start, got.front().last_receive);
  }
  return r;
}

/// A persistent run: the drain first (SUBSCRIBE receipted), if any, then
/// the producers, all at once; returns when every SEND is confirmed and the
/// drain has every message.
result run_persistent(const options& o, const bench_case& bc,
                      uint64_t run_id) {
  auto destination = destination_for(bc, run_id);
  size_t subs = bc.drain ? 1 : 0;
  watchdog dog{o.timeout_s}; // outlives the connections
  std::vector<std::unique_ptr<connection>> consumers;
  for (size_t i = 0; i < subs; ++i) {
    consumers.push_back(open_connection(o, dog));
    subscribe(*consumers.back(), destination, bc.ack, o.prefetch);
  }
  std::vector<std::unique_ptr<connection>> producers;
  for (size_t i = 0; i < bc.producers; ++i)
    producers.push_back(open_connection(o, dog));
  run_state st{subs, producers.size()};
  for (auto& c : consumers)
    st.watch(c->fd());
  for (auto& c : producers)
    st.watch(c->fd());
  std::vector<consumer_result> got(subs);
  std::vector<producer_result> sent(producers.size());
  send_encoder enc{destination, bc.size, true};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < subs; ++i)
    threads.push_back(guarded(st, "drain", [&, i] {
      consume(*consumers[i], st, i, bc.messages, bc.size, to_ack_mode(bc.ack),
              false, producers.size(), got[i]);
    }));
  for (size_t i = 0; i < producers.size(); ++i)
    threads.push_back(guarded(st, "producer " + std::to_string(i), [&, i] {
      produce_persistent(*producers[i], st, i, enc,
                         share(bc.messages, producers.size(), i), bc.in_flight,
                         bc.drain, sent[i]);
    }));
  for (auto& t : threads)
    t.join();
  st.check();
  for (size_t i = 0; i < producers.size(); ++i) {
    try {
      disconnect(*producers[i]); // a receipt left over fails here
    } catch (const bench_error& e) {
      throw bench_error("producer " + std::to_string(i) + ": " + e.what());
    }
  }
  for (auto& c : consumers)
    disconnect(*c);
  return persistent_figures(bc, sent, got);
}

/// One run: subscribers first (each SUBSCRIBE receipted), then the
/// producer; returns when every subscriber has every message.
result run_once(const options& o, const bench_case& bc, uint64_t run_id) {
  if (bc.what == kind::persistent)
    return run_persistent(o, bc, run_id);
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
              paced, 0, got[i]);
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
    case kind::persistent:
      return head + grouped(r.pub_rate) + " confirmed msg/s ("
             + fixed(r.mb_rate, 2) + " MB/s), send->receipt p50 "
             + fixed(r.lat.p50, 0) + " us, p99 " + fixed(r.lat.p99, 0)
             + " us, max " + fixed(r.lat.max, 0) + " us; "
             + (bc.drain ? "drain " + grouped(r.deliv_rate) + " msg/s; "
                         : std::string{"no drain; "})
             + std::to_string(r.published) + " msgs in "
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
  bool any_persistent = std::any_of(rows.begin(), rows.end(), [](auto& row) {
    return row.first.what == kind::persistent;
  });
  if (any_persistent)
    std::printf("persistent: pub/s = confirmed puts/s, deliveries/s = the "
                "drain, MB/s = confirmed bodies, latency = send->receipt\n");
  std::printf("%-48s %11s %13s %8s %7s %7s %7s %7s\n", "scenario", "pub/s",
              "deliveries/s", "MB/s", "p50", "p99", "p99.9", "max");
  for (const auto& [bc, r] : rows) {
    bool lat = bc.what == kind::latency || bc.what == kind::persistent;
    bool undrained = bc.what == kind::persistent && !bc.drain;
    auto us = [&](double v) { return lat ? fixed(v, 0) : std::string{"-"}; };
    std::printf("%-48s %11s %13s %8s %7s %7s %7s %7s\n", bc.name().c_str(),
                grouped(r.pub_rate).c_str(),
                undrained ? "-" : grouped(r.deliv_rate).c_str(),
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
    case scenario::persistent:
      return {{kind::persistent, o.size, "auto",
               o.messages.value_or(default_persistent), 1, 0, o.in_flight,
               o.producers, o.drain}};
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
