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
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

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
constexpr uint64_t default_mxm = 1'000'000;   // mxm: messages, all pairs
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

STOMP 1.2 load generator for qmesh or any STOMP broker (see the comment on
top of tools/stomp_bench.cpp for what is measured and how).

  --host HOST           server host (127.0.0.1)
  --port PORT           server STOMP port (61613)
  --broker NAME         qmesh | rabbitmq | activemq (qmesh): the header and
                        destination dialect (docs/benchmarks.md)
  --login USER          CONNECT login (none)
  --passcode PASS       CONNECT passcode (none)
  --vhost NAME          CONNECT host header (--host; rabbitmq: /)
  --scenario NAME       p2p | fanout | latency | persistent | mxm | all |
                        compare (all)
                          p2p:     1 producer -> 1 queue -> 1 consumer
                          fanout:  1 producer -> 1 topic -> N subscribers
                          latency: fixed rate, p50/p90/p99/p99.9/max
                          persistent: P producers -> 1 queue, confirmed
                                   persistent puts (a receipt on every SEND),
                                   send->receipt p50/p99; optional drain
                          mxm:     M producers -> M queues -> M consumers
                          all:     p2p 16 B auto, p2p 16 B client-individual,
                                   p2p 1 KiB auto, p2p 1 KiB client-individual,
                                   fanout 1->N 16 B auto, latency 16 B
                          compare: p2p 16 B auto, p2p 16 B client-individual,
                                   p2p 1 KiB auto, persistent in-flight 1, 8
                                   and 64 (16 B, drain on), fanout 1->10
                                   16 B, mxm 4x4 16 B, latency 16 B
                          (all, compare: --size, --ack, --in-flight,
                          --subscribers, --producers, --drain do not apply)
  --messages N          messages per run (p2p 1000000, fanout 200000,
                        persistent 20000 and mxm 1000000 over all producers)
  --scale F             multiplies the default message counts and the
                        default latency duration, 0.0001-100 (1)
  --size BYTES          body size, at least 16 (16)
  --ack MODE            auto | client-individual | client (auto);
                        persistent: the drain always uses auto
  --subscribers N       fanout subscribers (10)
  --rate MSG_PER_S      latency: send rate (5000)
  --seconds S           latency: duration (10)
  --in-flight N         persistent: un-receipted SENDs per producer
                        connection at most, 1-10000 (1)
  --producers N         persistent: producer connections, 1-1000 (1);
                        mxm: M, the producers, queues and consumers (4)
  --drain on|off        persistent: a consumer (ack:auto) empties the queue
                        meanwhile (on); off: nothing consumes, --messages at
                        most 100000 (the default max depth of a queue)
  --prefetch N          SUBSCRIBE prefetch, 1-100000 (1000)
  --runs N              runs per scenario; each is printed, then the median (1)
  --timeout S           give up after S s without progress on any
                        connection of a run (30)
  --json PATH           append one JSON line per scenario to PATH (- :
                        stdout; the human output then goes to stderr)
  --quiet               no progress lines on stderr
  --help                this text

Exit codes: 0 done, 1 error (connection, ERROR frame, lost, duplicated or
misordered messages, timeout) in any scenario, 2 bad options.
)";

enum class scenario { p2p, fanout, latency, persistent, mxm, all, compare };

/// The STOMP dialect of the broker under test: destination names and the
/// headers it understands (see dialect below).
enum class broker_kind { qmesh, rabbitmq, activemq };

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 61613;
  broker_kind broker = broker_kind::qmesh;
  std::string broker_name = "qmesh";
  std::optional<std::string> login;
  std::optional<std::string> passcode;
  std::optional<std::string> vhost;
  scenario which = scenario::all;
  std::optional<uint64_t> messages;
  double scale = 1;
  size_t size = 16;
  std::string ack = "auto";
  bool set_knob_given = false; // an option that all/compare fix themselves
  uint64_t subscribers = 10;
  uint64_t rate = 5000;
  std::optional<double> seconds;
  uint64_t in_flight = 1;
  std::optional<uint64_t> producers;
  bool drain = true;
  uint64_t prefetch = 1000;
  uint64_t runs = 1;
  int timeout_s = 30;
  std::optional<std::string> json_path;
  bool quiet = false;
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
  if (text == "mxm")
    return scenario::mxm;
  if (text == "all")
    return scenario::all;
  if (text == "compare")
    return scenario::compare;
  throw usage_error("--scenario expects p2p, fanout, latency, persistent, "
                    "mxm, all or compare, got \""
                    + std::string{text} + "\"");
}

/// Applies one `--key value` pair; false if the key is unknown.
bool apply_option(options& o, std::string_view key, std::string_view value) {
  if (key == "--host") {
    if (value.empty())
      throw usage_error("--host expects a host name");
    o.host = value;
  } else if (key == "--broker") {
    if (value == "qmesh")
      o.broker = broker_kind::qmesh;
    else if (value == "rabbitmq")
      o.broker = broker_kind::rabbitmq;
    else if (value == "activemq")
      o.broker = broker_kind::activemq;
    else
      throw usage_error("--broker expects qmesh, rabbitmq or activemq, got \""
                        + std::string{value} + "\"");
    o.broker_name = value;
  } else if (key == "--login") {
    o.login = value;
  } else if (key == "--passcode") {
    o.passcode = value;
  } else if (key == "--vhost") {
    o.vhost = value;
  } else if (key == "--json") {
    if (value.empty())
      throw usage_error("--json expects a path or -");
    o.json_path = value;
  } else if (key == "--scale") {
    o.scale = parse_seconds(key, value);
    if (o.scale < 0.0001 || o.scale > 100)
      throw usage_error("--scale expects a factor from 0.0001 to 100");
  } else if (key == "--port") {
    o.port = static_cast<uint16_t>(parse_uint(key, value, 1, 65535));
  } else if (key == "--scenario") {
    o.which = parse_scenario(value);
  } else if (key == "--messages") {
    o.messages = parse_uint(key, value, 1, 1'000'000'000'000);
  } else if (key == "--size") {
    o.size = parse_uint(key, value, min_body, max_body);
    o.set_knob_given = true;
  } else if (key == "--ack") {
    if (value != "auto" && value != "client-individual" && value != "client")
      throw usage_error("--ack expects auto, client-individual or client, "
                        "got \"" + std::string{value} + "\"");
    o.ack = value;
    o.set_knob_given = true;
  } else if (key == "--subscribers") {
    o.subscribers = parse_uint(key, value, 1, 10'000);
    o.set_knob_given = true;
  } else if (key == "--rate") {
    o.rate = parse_uint(key, value, 1, 10'000'000);
  } else if (key == "--seconds") {
    o.seconds = parse_seconds(key, value);
  } else if (key == "--in-flight") {
    o.in_flight = parse_uint(key, value, 1, 10'000);
    o.set_knob_given = true;
  } else if (key == "--producers") {
    o.producers = parse_uint(key, value, 1, 1000);
    o.set_knob_given = true;
  } else if (key == "--drain") {
    if (value != "on" && value != "off")
      throw usage_error("--drain expects on or off, got \""
                        + std::string{value} + "\"");
    o.drain = value == "on";
    o.set_knob_given = true;
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

/// The latency duration: --seconds, or 10 s x --scale.
double latency_seconds(const options& o) {
  return o.seconds.value_or(10 * o.scale);
}

/// A default message count scaled by --scale (at least 1).
uint64_t scaled(const options& o, uint64_t n) {
  return std::max<uint64_t>(
    1, static_cast<uint64_t>(static_cast<double>(n) * o.scale + 0.5));
}

/// Parses argv; nullopt for --help. Throws usage_error.
std::optional<options> parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i];
    if (key == "--help" || key == "-h")
      return std::nullopt;
    if (key == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (i + 1 == argc) {
      options probe;
      if (!apply_option(probe, key, "1"))
        throw usage_error("unknown option " + std::string{key});
      throw usage_error(std::string{key} + " needs a value");
    }
    if (!apply_option(o, key, argv[++i]))
      throw usage_error("unknown option " + std::string{key});
  }
  if ((o.which == scenario::all || o.which == scenario::compare)
      && o.set_knob_given)
    throw usage_error("--size, --ack, --in-flight, --subscribers, "
                      "--producers and --drain do not apply to --scenario "
                      "all or compare");
  if (o.which == scenario::latency
      && static_cast<double>(o.rate) * latency_seconds(o) < 2)
    throw usage_error("--rate x --seconds must give at least 2 messages");
  if (o.which == scenario::persistent && !o.drain
      && o.messages.value_or(0) > max_undrained)
    throw usage_error("--drain off keeps every message in the queue: "
                      "--messages must be at most "
                      + std::to_string(max_undrained));
  if (o.which == scenario::persistent
      && o.messages.value_or(default_persistent) < o.producers.value_or(1))
    throw usage_error("--messages must be at least --producers");
  if (o.which == scenario::mxm
      && o.messages.value_or(default_mxm) < o.producers.value_or(4))
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

// -- broker dialects ----------------------------------------------------------
//
// qmesh: as qmesh documents it. rabbitmq (3.10, rabbitmq_stomp): no `/`
// inside destination names, CONNECT host = the virtual host ("/"),
// `prefetch-count`, never `persistent:false` (it takes it as a queue
// durability flag and closes the connection). activemq (5.17): dotted
// names, `activemq.prefetchSize`. All: `persistent:true` only on persistent
// SENDs, no `persistent` header otherwise.

void stomp_connect(connection& c, const options& o) {
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

void subscribe(connection& c, const options& o, const std::string& destination,
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
void disconnect(connection& c) {
  write_frame(c, {"DISCONNECT", {{"receipt", "bye"}}, {}});
  expect_receipt(c, "bye", "DISCONNECT");
}

std::unique_ptr<connection> open_connection(const options& o,
                                            watchdog& dog) {
  auto c = std::make_unique<connection>(o.host, o.port, dog, o.size + 1024);
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

  /// Messages received by all consumers, confirmed for all producers.
  std::pair<uint64_t, uint64_t> totals() {
    std::lock_guard guard{mtx_};
    return {sum(received_), sum(confirmed_)};
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
void produce_batched(connection& c, run_state& st, size_t index,
                     const send_encoder& enc, uint64_t n,
                     clock_type::time_point& start) {
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
      st.sent(index, written, confirmed);
    }
  };
  auto await_receipt = [&] {
    expect_receipt(c, std::to_string(outstanding.front()), "SEND");
    confirmed = outstanding.front();
    outstanding.pop_front();
    st.sent(index, written, confirmed);
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

/// What a run checked, summed over its consumers: `expected` messages
/// (fan-out: per subscriber, added up), `received` distinct ones among them,
/// `lost` = expected - received, `duplicates` (a message seen again, or one
/// that was never sent), `reordered` (a message that arrived after a later
/// one of the same producer).
struct check_counts {
  uint64_t expected = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t reordered = 0;

  bool ok() const noexcept {
    return lost == 0 && duplicates == 0 && reordered == 0
           && received == expected;
  }

  check_counts& operator+=(const check_counts& x) noexcept {
    expected += x.expected;
    received += x.received;
    lost += x.lost;
    duplicates += x.duplicates;
    reordered += x.reordered;
    return *this;
  }
};

/// One consumer's exactly-once, in-order-per-producer bookkeeping: a bit per
/// message each producer sent.
class order_check {
public:
  /// `sent[i]`: how many messages producer i sends to this consumer.
  explicit order_check(const std::vector<uint64_t>& sent) {
    for (auto n : sent) {
      seen_.emplace_back(n, false);
      next_.push_back(0);
      counts_.expected += n;
    }
  }

  /// Records message `seq` of `producer`; true if it is new.
  bool see(uint64_t producer, uint64_t seq) {
    if (producer >= seen_.size() || seq >= seen_[producer].size()
        || seen_[producer][seq]) {
      ++counts_.duplicates;
      return false;
    }
    seen_[producer][seq] = true;
    ++counts_.received;
    if (seq < next_[producer])
      ++counts_.reordered;
    else
      next_[producer] = seq + 1;
    return true;
  }

  uint64_t received() const noexcept {
    return counts_.received;
  }

  bool complete() const noexcept {
    return counts_.received == counts_.expected;
  }

  check_counts counts() const {
    auto c = counts_;
    c.lost = c.expected - c.received;
    return c;
  }

private:
  std::vector<std::vector<bool>> seen_;
  std::vector<uint64_t> next_; // one past the highest seq seen, per producer
  check_counts counts_;
};

struct consumer_result {
  std::optional<order_check> check;
  clock_type::time_point last_receive;
  std::vector<uint64_t> latencies_ns; // latency runs only

  uint64_t received() const noexcept {
    return check ? check->received() : 0;
  }
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

/// Records MESSAGE `f` in `chk`; true if it is new. `producers` > 0: the
/// body's second word names the producer.
bool record(order_check& chk, const stomp::frame& f, size_t size,
            size_t producers, uint64_t& sent_ns) {
  expect_command(f, "MESSAGE", "receive");
  auto stamp = read_stamp(f.body, size);
  sent_ns = stamp.sent_ns;
  return chk.see(producers > 0 ? stamp.sent_ns : 0, stamp.seq);
}

/// Receives until every message of `sent` (messages per producer) has
/// arrived once; counts duplicates and misorder on the way (loss shows as a
/// timeout). ACKs (client modes) are written once per read. `producers` > 0
/// (persistent runs): the bodies name their producer, else there is one.
void receive_all(connection& c, run_state& st, size_t index,
                 const std::vector<uint64_t>& sent, size_t size, ack_mode ack,
                 bool measure_latency, size_t producers, consumer_result& r) {
  std::vector<stomp::frame> frames;
  std::string acks;
  r.check.emplace(sent);
  auto& chk = *r.check;
  if (measure_latency)
    r.latencies_ns.reserve(chk.counts().expected);
  while (!chk.complete()) {
    frames.clear();
    c.read(frames);
    auto now = clock_type::now();
    auto now_stamp = now_ns();
    for (const auto& f : frames) {
      uint64_t sent_ns = 0;
      if (record(chk, f, size, producers, sent_ns) && measure_latency)
        r.latencies_ns.push_back(now_stamp - sent_ns);
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
    st.progress(index, chk.received());
  }
}

/// receive_all(), with the count so far added to any error.
void consume(connection& c, run_state& st, size_t index,
             const std::vector<uint64_t>& sent, size_t size, ack_mode ack,
             bool measure_latency, size_t producers, consumer_result& r) {
  try {
    receive_all(c, st, index, sent, size, ack, measure_latency, producers, r);
  } catch (const bench_error& e) {
    st.progress(index, r.received());
    auto n = r.check ? r.check->counts().expected : 0;
    throw bench_error(std::string{e.what()} + " (after "
                      + std::to_string(r.received()) + " of "
                      + std::to_string(n) + " messages)");
  }
}

/// DISCONNECT of a consumer: MESSAGEs still arriving before the receipt are
/// recorded (they can only be duplicates).
void disconnect_consumer(connection& c, size_t size, size_t producers,
                         consumer_result& r) {
  write_frame(c, {"DISCONNECT", {{"receipt", "bye"}}, {}});
  for (;;) {
    auto f = c.next();
    if (f.command != "MESSAGE") {
      expect_command(f, "RECEIPT", "DISCONNECT");
      auto id = f.header("receipt-id");
      if (id == nullptr || *id != "bye")
        throw bench_error("DISCONNECT: expected receipt-id bye");
      return;
    }
    uint64_t ignored = 0;
    record(*r.check, f, size, producers, ignored);
  }
}

// -- runs ---------------------------------------------------------------------

enum class kind { p2p, fanout, latency, persistent, mxm };

/// One configuration of the matrix.
struct bench_case {
  kind what;
  size_t size;
  std::string ack;
  uint64_t messages;    // p2p, fanout, mxm (all pairs); latency: rate x seconds
  uint64_t subscribers; // fanout
  uint64_t rate;        // latency
  uint64_t in_flight = 0; // persistent: per producer connection
  uint64_t producers = 1; // persistent; mxm: M
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
      case kind::mxm:
        return "mxm " + std::to_string(producers) + "x"
               + std::to_string(producers) + common;
    }
    return common;
  }

  /// The stable scenario id of the JSON output: different knobs, different
  /// ids (docs/benchmarks.md lists them).
  std::string id() const {
    auto sz = std::to_string(size);
    switch (what) {
      case kind::p2p:
        return "p2p-" + sz + "-" + ack;
      case kind::fanout:
        return "fanout-" + std::to_string(subscribers) + "-" + sz
               + (ack == "auto" ? "" : "-" + ack);
      case kind::latency:
        return "latency-" + std::to_string(rate) + "-" + sz
               + (ack == "auto" ? "" : "-" + ack);
      case kind::persistent:
        return "persistent-" + std::to_string(in_flight)
               + (size == 16 ? "" : "-" + sz)
               + (producers == 1 ? "" : "-p" + std::to_string(producers))
               + (drain ? "" : "-nodrain");
      case kind::mxm:
        return "mxm-" + std::to_string(producers) + "-" + sz
               + (ack == "auto" ? "" : "-" + ack);
    }
    return sz;
  }

  const char* scenario_name() const {
    switch (what) {
      case kind::p2p:
        return "p2p";
      case kind::fanout:
        return "fanout";
      case kind::latency:
        return "latency";
      case kind::persistent:
        return "persistent";
      case kind::mxm:
        return "mxm";
    }
    return "";
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
  if (ns.empty())
    return {};
  std::sort(ns.begin(), ns.end());
  return {percentile_us(ns, 0.5), percentile_us(ns, 0.9),
          percentile_us(ns, 0.99), percentile_us(ns, 0.999),
          static_cast<double>(ns.back()) / 1000.0};
}

/// A destination no earlier run used: nothing left over mixes in. `pair`:
/// the queue of one mxm pair. Other brokers than qmesh get names without
/// `/` inside.
std::string destination_for(const options& o, const bench_case& bc,
                            uint64_t run_id, size_t pair = 0) {
  auto pid = std::to_string(::getpid());
  auto run = std::to_string(run_id);
  bool qmesh = o.broker == broker_kind::qmesh;
  switch (bc.what) {
    case kind::persistent:
      return "/queue/bench.persistent." + pid + "." + run;
    case kind::fanout:
      return qmesh ? "/topic/bench/" + pid + "/" + run
                   : "/topic/bench." + pid + "." + run;
    case kind::mxm:
      return (qmesh ? "/queue/BENCH.mxm." : "/queue/bench.mxm.") + pid + "."
             + run + "." + std::to_string(pair);
    case kind::latency:
      return qmesh ? "/queue/BENCH." + pid + "." + run
                   : "/queue/bench.latency." + pid + "." + run;
    case kind::p2p:
      break;
  }
  return qmesh ? "/queue/BENCH." + pid + "." + run
               : "/queue/bench.p2p." + pid + "." + run;
}

/// The figures of a finished run.
result figures(const bench_case& bc, std::vector<consumer_result>& got,
               clock_type::time_point start,
               clock_type::time_point last_sent) {
  result r;
  r.published = bc.messages;
  auto last = start;
  for (auto& g : got) {
    r.delivered += g.received();
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
    r.delivered = got.front().received();
    r.deliv_rate = static_cast<double>(r.delivered)
                   / seconds_between(start, got.front().last_receive);
  }
  return r;
}

/// The checks of the consumers in `got`; a consumer that never started
/// counts its `expected` messages as lost.
check_counts sum_checks(const std::vector<consumer_result>& got,
                        const std::vector<uint64_t>& expected) {
  check_counts total;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].check) {
      total += got[i].check->counts();
    } else {
      total.expected += expected[i];
      total.lost += expected[i];
    }
  }
  return total;
}

/// Throws unless `chk` is clean.
void require_clean(const check_counts& chk) {
  if (!chk.ok())
    throw bench_error(std::to_string(chk.lost) + " lost, "
                      + std::to_string(chk.duplicates) + " duplicates, "
                      + std::to_string(chk.reordered) + " reordered of "
                      + std::to_string(chk.expected) + " messages");
}

/// Prints "<label>: N messages, R msg/s" on stderr every 2 s once a run has
/// lasted 3 s, until destroyed. `count` is read on the meter's thread.
class progress_meter {
public:
  progress_meter(bool enabled, std::string label,
                 std::function<uint64_t()> count)
    : label_(std::move(label)), count_(std::move(count)) {
    if (enabled)
      thread_ = std::thread([this] { loop(); });
  }

  ~progress_meter() {
    {
      std::lock_guard guard{mtx_};
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

  progress_meter(const progress_meter&) = delete;
  progress_meter& operator=(const progress_meter&) = delete;

private:
  void loop() {
    auto t0 = clock_type::now();
    auto due = t0 + std::chrono::seconds(3);
    std::unique_lock guard{mtx_};
    while (!cv_.wait_until(guard, due, [this] { return stop_; })) {
      auto n = count_();
      auto now = clock_type::now();
      std::fprintf(stderr, "qmesh-bench: %s: %s messages, %s msg/s\n",
                   label_.c_str(), grouped(static_cast<double>(n)).c_str(),
                   grouped(static_cast<double>(n - last_)
                           / seconds_between(last_at_ == clock_type::time_point{}
                                               ? t0
                                               : last_at_,
                                             now))
                     .c_str());
      last_ = n;
      last_at_ = now;
      due = now + std::chrono::seconds(2);
    }
  }

  std::string label_;
  std::function<uint64_t()> count_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t last_ = 0;
  clock_type::time_point last_at_{};
  std::thread thread_;
};

/// A persistent run: the drain first (SUBSCRIBE receipted), if any, then
/// the producers, all at once; returns when every SEND is confirmed and the
/// drain has every message. `chk`: what the drain (or, without one, the
/// receipts) showed, also when the run fails.
result run_persistent(const options& o, const bench_case& bc, uint64_t run_id,
                      const std::string& label, check_counts& chk) {
  auto destination = destination_for(o, bc, run_id);
  size_t subs = bc.drain ? 1 : 0;
  std::vector<uint64_t> per_producer;
  for (size_t i = 0; i < bc.producers; ++i)
    per_producer.push_back(share(bc.messages, bc.producers, i));
  chk = {bc.messages, 0, bc.messages, 0, 0};
  watchdog dog{o.timeout_s}; // outlives the connections
  std::vector<std::unique_ptr<connection>> consumers;
  for (size_t i = 0; i < subs; ++i) {
    consumers.push_back(open_connection(o, dog));
    subscribe(*consumers.back(), o, destination, bc.ack, o.prefetch);
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
  {
    progress_meter meter{!o.quiet, label, [&] { return st.totals().second; }};
    for (size_t i = 0; i < subs; ++i)
      threads.push_back(guarded(st, "drain", [&, i] {
        consume(*consumers[i], st, i, per_producer, bc.size,
                to_ack_mode(bc.ack), false, producers.size(), got[i]);
      }));
    for (size_t i = 0; i < producers.size(); ++i)
      threads.push_back(guarded(st, "producer " + std::to_string(i), [&, i] {
        produce_persistent(*producers[i], st, i, enc, per_producer[i],
                           bc.in_flight, bc.drain, sent[i]);
      }));
    for (auto& t : threads)
      t.join();
  }
  auto settle = [&] {
    if (bc.drain) {
      chk = sum_checks(got, {bc.messages});
    } else {
      uint64_t confirmed = 0;
      for (auto& p : sent)
        confirmed += p.confirmed;
      chk = {bc.messages, confirmed, bc.messages - confirmed, 0, 0};
    }
  };
  settle();
  st.check();
  for (size_t i = 0; i < producers.size(); ++i) {
    try {
      disconnect(*producers[i]); // a receipt left over fails here
    } catch (const bench_error& e) {
      throw bench_error("producer " + std::to_string(i) + ": " + e.what());
    }
  }
  for (size_t i = 0; i < subs; ++i)
    disconnect_consumer(*consumers[i], bc.size, producers.size(), got[i]);
  settle();
  require_clean(chk);
  return persistent_figures(bc, sent, got);
}

/// One run: subscribers first (each SUBSCRIBE receipted), then the
/// producers; returns when every subscriber has every message. `chk`: what
/// the consumers saw, also when the run fails (then it throws).
result run_once(const options& o, const bench_case& bc, uint64_t run_id,
                const std::string& label, check_counts& chk) {
  if (bc.what == kind::persistent)
    return run_persistent(o, bc, run_id, label, chk);
  bool mxm = bc.what == kind::mxm;
  size_t subs = bc.what == kind::fanout ? bc.subscribers
                : mxm                   ? bc.producers
                                        : 1;
  size_t pubs = mxm ? bc.producers : 1;
  // expected[i]: messages consumer i gets (from its one producer)
  std::vector<uint64_t> expected(subs, bc.messages);
  if (mxm)
    for (size_t i = 0; i < subs; ++i)
      expected[i] = share(bc.messages, pubs, i);
  std::vector<consumer_result> got(subs);
  chk = sum_checks(got, expected);
  watchdog dog{o.timeout_s}; // outlives the connections
  std::vector<std::unique_ptr<connection>> consumers;
  for (size_t i = 0; i < subs; ++i) {
    consumers.push_back(open_connection(o, dog));
    subscribe(*consumers.back(), o, destination_for(o, bc, run_id, i), bc.ack,
              o.prefetch);
  }
  std::vector<std::unique_ptr<connection>> producers;
  std::vector<send_encoder> encoders;
  for (size_t i = 0; i < pubs; ++i) {
    producers.push_back(open_connection(o, dog));
    encoders.emplace_back(destination_for(o, bc, run_id, i), bc.size);
  }
  run_state st{subs, pubs};
  for (auto& c : consumers)
    st.watch(c->fd());
  for (auto& c : producers)
    st.watch(c->fd());
  std::vector<clock_type::time_point> start(pubs);
  clock_type::time_point last_sent;
  bool paced = bc.what == kind::latency;
  std::vector<std::thread> threads;
  {
    progress_meter meter{!o.quiet, label, [&] { return st.totals().first; }};
    for (size_t i = 0; i < subs; ++i)
      threads.push_back(
        guarded(st, "consumer " + std::to_string(i + 1), [&, i] {
          consume(*consumers[i], st, i, {expected[i]}, bc.size,
                  to_ack_mode(bc.ack), paced, 0, got[i]);
        }));
    for (size_t i = 0; i < pubs; ++i)
      threads.push_back(guarded(
        st, pubs == 1 ? "producer" : "producer " + std::to_string(i + 1),
        [&, i] {
          if (paced)
            produce_paced(*producers[i], st, encoders[i], bc.messages, bc.rate,
                          start[i], last_sent);
          else
            produce_batched(*producers[i], st, i, encoders[i],
                            mxm ? expected[i] : bc.messages, start[i]);
        }));
    for (auto& t : threads)
      t.join();
  }
  chk = sum_checks(got, expected);
  st.check();
  for (auto& c : producers)
    disconnect(*c);
  for (size_t i = 0; i < subs; ++i)
    disconnect_consumer(*consumers[i], bc.size, 0, got[i]);
  chk = sum_checks(got, expected);
  require_clean(chk);
  return figures(bc, got, *std::min_element(start.begin(), start.end()),
                 last_sent);
}

// -- reporting ----------------------------------------------------------------

std::string describe(const bench_case& bc, const result& r) {
  auto head = bc.name() + ": ";
  switch (bc.what) {
    case kind::p2p:
    case kind::mxm:
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

using json = nlohmann::ordered_json;

/// One run's figures under the keys of the JSON format (docs/benchmarks.md).
json figures_json(const bench_case& bc, const result& r) {
  json j;
  j["seconds"] = r.seconds;
  j["mb_per_s"] = r.mb_rate;
  auto latencies = [&] {
    j["p50_us"] = r.lat.p50;
    j["p90_us"] = r.lat.p90;
    j["p99_us"] = r.lat.p99;
    j["p999_us"] = r.lat.p999;
    j["max_us"] = r.lat.max;
  };
  switch (bc.what) {
    case kind::p2p:
    case kind::mxm:
      j["msgs_per_s"] = r.deliv_rate;
      break;
    case kind::fanout:
      j["msgs_per_s"] = r.pub_rate;
      j["deliveries_per_s"] = r.deliv_rate;
      break;
    case kind::latency:
      j["msgs_per_s"] = r.pub_rate;
      latencies();
      break;
    case kind::persistent:
      j["msgs_per_s"] = r.pub_rate;
      j["confirmed_per_s"] = r.pub_rate;
      if (bc.drain)
        j["deliveries_per_s"] = r.deliv_rate;
      latencies();
      break;
  }
  return j;
}

/// Every knob of `bc` (and of the run) under its option's name.
json params_json(const options& o, const bench_case& bc) {
  json p;
  p["size"] = bc.size;
  p["ack"] = bc.ack;
  p["messages"] = bc.messages;
  p["prefetch"] = o.prefetch;
  p["runs"] = o.runs;
  switch (bc.what) {
    case kind::fanout:
      p["subscribers"] = bc.subscribers;
      break;
    case kind::latency:
      p["rate"] = bc.rate;
      p["seconds"] = static_cast<double>(bc.messages)
                     / static_cast<double>(bc.rate);
      break;
    case kind::persistent:
      p["in_flight"] = bc.in_flight;
      p["producers"] = bc.producers;
      p["drain"] = bc.drain;
      break;
    case kind::mxm:
      p["producers"] = bc.producers;
      p["consumers"] = bc.producers;
      p["queues"] = bc.producers;
      break;
    case kind::p2p:
      break;
  }
  return p;
}

/// The scenario's JSON line: runs, key-by-key median / min / max over them,
/// the summed checks, ok.
json scenario_json(const options& o, const bench_case& bc,
                   const std::vector<result>& runs, const check_counts& chk,
                   const std::string& error) {
  json j;
  j["tool"] = "qmesh-bench";
  j["id"] = bc.id();
  j["scenario"] = bc.scenario_name();
  j["transport"] = "stomp";
  j["broker"] = o.broker_name;
  j["params"] = params_json(o, bc);
  j["runs"] = json::array();
  for (const auto& r : runs)
    j["runs"].push_back(figures_json(bc, r));
  json med = json::object(), lo = json::object(), hi = json::object();
  if (!runs.empty()) {
    for (auto& [key, ignored] : j["runs"][0].items()) {
      std::vector<double> v;
      for (const auto& r : j["runs"])
        v.push_back(r[key].get<double>());
      med[key] = median(v);
      lo[key] = *std::min_element(v.begin(), v.end());
      hi[key] = *std::max_element(v.begin(), v.end());
    }
  }
  j["median"] = med;
  j["min"] = lo;
  j["max"] = hi;
  j["check"] = {{"expected", chk.expected}, {"received", chk.received},
                {"lost", chk.lost},         {"duplicates", chk.duplicates},
                {"reordered", chk.reordered}};
  j["ok"] = error.empty();
  if (!error.empty())
    j["error"] = error;
  return j;
}

void print_table(std::FILE* out,
                 const std::vector<std::pair<bench_case, result>>& rows,
                 uint64_t runs) {
  auto median_note = runs > 1 ? ", median of " + std::to_string(runs) + " runs"
                              : std::string{};
  std::fprintf(out, "\nsummary%s (MB/s: delivered bodies; latency in us)\n",
               median_note.c_str());
  bool any_persistent = std::any_of(rows.begin(), rows.end(), [](auto& row) {
    return row.first.what == kind::persistent;
  });
  if (any_persistent)
    std::fprintf(out, "persistent: pub/s = confirmed puts/s, deliveries/s = "
                      "the drain, MB/s = confirmed bodies, latency = "
                      "send->receipt\n");
  std::fprintf(out, "%-48s %11s %13s %8s %7s %7s %7s %7s\n", "scenario",
               "pub/s", "deliveries/s", "MB/s", "p50", "p99", "p99.9", "max");
  for (const auto& [bc, r] : rows) {
    bool lat = bc.what == kind::latency || bc.what == kind::persistent;
    bool undrained = bc.what == kind::persistent && !bc.drain;
    auto us = [&](double v) { return lat ? fixed(v, 0) : std::string{"-"}; };
    std::fprintf(out, "%-48s %11s %13s %8s %7s %7s %7s %7s\n",
                 bc.name().c_str(), grouped(r.pub_rate).c_str(),
                 undrained ? "-" : grouped(r.deliv_rate).c_str(),
                 fixed(r.mb_rate, 2).c_str(), us(r.lat.p50).c_str(),
                 us(r.lat.p99).c_str(), us(r.lat.p999).c_str(),
                 us(r.lat.max).c_str());
  }
}

// -- the matrix ---------------------------------------------------------------

std::vector<bench_case> cases_for(const options& o) {
  auto p2p_n = o.messages.value_or(scaled(o, 1'000'000));
  auto fan_n = o.messages.value_or(scaled(o, 200'000));
  auto per_n = o.messages.value_or(scaled(o, default_persistent));
  auto mxm_n = o.messages.value_or(scaled(o, default_mxm));
  auto lat_n = static_cast<uint64_t>(static_cast<double>(o.rate)
                                     * latency_seconds(o));
  switch (o.which) {
    case scenario::p2p:
      return {{kind::p2p, o.size, o.ack, p2p_n, 1, 0}};
    case scenario::fanout:
      return {{kind::fanout, o.size, o.ack, fan_n, o.subscribers, 0}};
    case scenario::latency:
      return {{kind::latency, o.size, o.ack, lat_n, 1, o.rate}};
    case scenario::persistent:
      return {{kind::persistent, o.size, "auto", per_n, 1, 0, o.in_flight,
               o.producers.value_or(1), o.drain}};
    case scenario::mxm:
      return {{kind::mxm, o.size, o.ack, mxm_n, 1, 0, 0,
               o.producers.value_or(4)}};
    case scenario::compare:
      return {{kind::p2p, 16, "auto", p2p_n, 1, 0},
              {kind::p2p, 16, "client-individual", p2p_n, 1, 0},
              {kind::p2p, 1024, "auto", p2p_n, 1, 0},
              {kind::persistent, 16, "auto", per_n, 1, 0, 1, 1, true},
              {kind::persistent, 16, "auto", per_n, 1, 0, 8, 1, true},
              {kind::persistent, 16, "auto", per_n, 1, 0, 64, 1, true},
              {kind::fanout, 16, "auto", fan_n, 10, 0},
              {kind::mxm, 16, "auto", mxm_n, 1, 0, 0, 4},
              {kind::latency, 16, "auto", lat_n, 1, o.rate}};
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

/// Where the JSON lines go: nowhere, stdout or a file opened for append.
class json_sink {
public:
  explicit json_sink(const std::optional<std::string>& path) {
    if (!path || *path == "-")
      return;
    file_.open(*path, std::ios::app);
    if (!file_)
      throw bench_error("cannot open " + *path + " for appending");
  }

  void write(const json& line, bool to_stdout) {
    auto text = line.dump() + "\n";
    if (to_stdout) {
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    } else if (file_.is_open()) {
      file_ << text << std::flush;
    }
  }

private:
  std::ofstream file_;
};

/// Runs every case of the matrix; a failed scenario is reported (stderr,
/// JSON with ok:false) and the next one runs. False if any failed.
bool run_all(const options& o) {
  bool json_stdout = o.json_path && *o.json_path == "-";
  json_sink sink{o.json_path};
  std::FILE* out = json_stdout ? stderr : stdout;
  std::vector<std::pair<bench_case, result>> rows;
  uint64_t run_id = 0;
  bool all_ok = true;
  for (const auto& bc : cases_for(o)) {
    std::vector<result> runs;
    check_counts total;
    std::string error;
    for (uint64_t i = 1; i <= o.runs; ++i) {
      auto label = bc.id() + " run " + std::to_string(i) + "/"
                   + std::to_string(o.runs);
      check_counts chk;
      try {
        runs.push_back(run_once(o, bc, ++run_id, label, chk));
      } catch (const bench_error& e) {
        total += chk;
        error = bc.name() + ": " + e.what();
        std::fprintf(stderr, "qmesh-bench: %s\n", error.c_str());
        break;
      }
      total += chk;
      auto prefix = o.runs > 1 ? "[run " + std::to_string(i) + "/"
                                   + std::to_string(o.runs) + "] "
                               : std::string{};
      std::fprintf(out, "%s%s\n", prefix.c_str(),
                   describe(bc, runs.back()).c_str());
      std::fflush(out);
    }
    sink.write(scenario_json(o, bc, runs, total, error), json_stdout);
    if (!error.empty()) {
      all_ok = false;
      continue;
    }
    auto m = median_of(runs);
    if (o.runs > 1)
      std::fprintf(out, "[median] %s\n", describe(bc, m).c_str());
    rows.emplace_back(bc, m);
  }
  if (!rows.empty())
    print_table(out, rows, o.runs);
  return all_ok;
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
    return run_all(*opts) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmesh-bench: %s\n", e.what());
    return 1;
  }
}
