// qmesh-bench: the command line (usage text, options, parsing).
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "tools/bench/common.hpp"

namespace qmesh::bench {

// -- options ------------------------------------------------------------------

constexpr const char* usage_text = R"(usage: qmesh-bench [--key value ...]

STOMP 1.2 load generator for qmesh or any STOMP broker (see the comment on
top of tools/bench/stomp_driver.cpp for what is measured and how).

  --host HOST           server host (127.0.0.1)
  --port PORT           server STOMP port (61613)
  --broker NAME         qmesh | rabbitmq | activemq (qmesh): the header and
                        destination dialect (docs/benchmarks.md)
  --login USER          CONNECT login (none)
  --passcode PASS       CONNECT passcode (none)
  --vhost NAME          CONNECT host header (--host; rabbitmq: /)
  --transport T         stomp | native (stomp); native: qmesh's own protocol
                        through the C++ client, to --host:--native-port
  --native-port PORT    the node's native listener (7000)
  --scenario NAME       p2p | fanout | latency | persistent | mxm | idle |
                        cluster | all | compare (all)
                          p2p:     1 producer -> 1 queue -> 1 consumer
                          fanout:  1 producer -> 1 topic -> N subscribers
                          latency: fixed rate, p50/p90/p99/p99.9/max
                          persistent: P producers -> 1 queue, confirmed
                                   persistent puts (a receipt on every SEND),
                                   send->receipt p50/p99; optional drain
                          mxm:     M producers -> M queues -> M consumers
                          idle:    --queues idle queues, then
                                   --subscriptions idle subscriptions: node
                                   RSS per object (needs --node-pid)
                          cluster: 1 producer on this node -> a queue on
                                   --remote-qm -> 1 consumer on the remote
                                   node (--remote-port, qmesh only)
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
  --queues N            idle: queues to define (10000)
  --subscriptions N     idle: subscriptions to hold (10000)
  --connections N       idle: connections they are spread over (4)
  --node-pid PID        idle: the broker's process, for its VmRSS
  --remote-host HOST    cluster: the remote node's host (--host)
  --remote-port PORT    cluster: the remote node's STOMP port (or, with
                        --transport native, its native port)
  --remote-qm NAME      cluster: the remote node's queue manager (QM2)
  --json PATH           append one JSON line per scenario to PATH (- :
                        stdout; the human output then goes to stderr)
  --quiet               no progress lines on stderr
  --help                this text

Exit codes: 0 done, 1 error (connection, ERROR frame, lost, duplicated or
misordered messages, timeout) in any scenario, 2 bad options.
)";

enum class scenario {
  p2p,
  fanout,
  latency,
  persistent,
  mxm,
  idle,
  cluster,
  all,
  compare
};

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
  bool native = false;        // --transport native
  uint16_t native_port = 7000;
  uint64_t queues = 10'000;   // idle
  uint64_t subscriptions = 10'000;
  uint64_t connections = 4;
  std::optional<uint64_t> node_pid;
  std::string remote_host;    // cluster; empty: --host
  std::optional<uint16_t> remote_port;
  std::string remote_qm = "QM2";
};

inline uint64_t parse_uint(std::string_view key, std::string_view text, uint64_t min,
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

inline double parse_seconds(std::string_view key, std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc{} || end != text.data() + text.size() || !(value > 0)
      || value > 86400)
    throw usage_error(std::string{key} + " expects seconds (> 0), got \""
                      + std::string{text} + "\"");
  return value;
}

inline scenario parse_scenario(std::string_view text) {
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
  if (text == "idle")
    return scenario::idle;
  if (text == "cluster")
    return scenario::cluster;
  if (text == "all")
    return scenario::all;
  if (text == "compare")
    return scenario::compare;
  throw usage_error("--scenario expects p2p, fanout, latency, persistent, "
                    "mxm, idle, cluster, all or compare, got \""
                    + std::string{text} + "\"");
}

/// Applies one `--key value` pair; false if the key is unknown.
inline bool apply_option(options& o, std::string_view key, std::string_view value) {
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
  } else if (key == "--transport") {
    if (value != "stomp" && value != "native")
      throw usage_error("--transport expects stomp or native, got \""
                        + std::string{value} + "\"");
    o.native = value == "native";
  } else if (key == "--native-port") {
    o.native_port = static_cast<uint16_t>(parse_uint(key, value, 1, 65535));
  } else if (key == "--queues") {
    o.queues = parse_uint(key, value, 1, 10'000'000);
  } else if (key == "--subscriptions") {
    o.subscriptions = parse_uint(key, value, 1, 10'000'000);
  } else if (key == "--connections") {
    o.connections = parse_uint(key, value, 1, 1000);
  } else if (key == "--node-pid") {
    o.node_pid = parse_uint(key, value, 1, 4'194'304);
  } else if (key == "--remote-host") {
    if (value.empty())
      throw usage_error("--remote-host expects a host name");
    o.remote_host = value;
  } else if (key == "--remote-port") {
    o.remote_port = static_cast<uint16_t>(parse_uint(key, value, 1, 65535));
  } else if (key == "--remote-qm") {
    if (value.empty() || value.find('/') != std::string_view::npos)
      throw usage_error("--remote-qm expects a queue manager name");
    o.remote_qm = value;
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
inline double latency_seconds(const options& o) {
  return o.seconds.value_or(10 * o.scale);
}

/// A default message count scaled by --scale (at least 1).
inline uint64_t scaled(const options& o, uint64_t n) {
  return std::max<uint64_t>(
    1, static_cast<uint64_t>(static_cast<double>(n) * o.scale + 0.5));
}

/// Parses argv; nullopt for --help. Throws usage_error.
inline std::optional<options> parse_options(int argc, char** argv) {
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
  if (o.which == scenario::idle && !o.node_pid)
    throw usage_error("--scenario idle needs --node-pid (the broker's "
                      "process, whose VmRSS it reads)");
  if (o.which == scenario::cluster && !o.remote_port)
    throw usage_error("--scenario cluster needs --remote-port");
  if (o.which == scenario::cluster && o.broker != broker_kind::qmesh)
    throw usage_error("--scenario cluster is qmesh only");
  if (o.native && o.broker != broker_kind::qmesh)
    throw usage_error("--transport native is qmesh only");
  if (o.native && o.which == scenario::idle)
    throw usage_error("--scenario idle runs over STOMP only");
  if (o.remote_host.empty())
    o.remote_host = o.host;
  return o;
}

} // namespace qmesh::bench
