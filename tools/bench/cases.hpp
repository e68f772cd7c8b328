// qmesh-bench: the scenarios (one configuration each, its name and id),
// the matrix a --scenario runs, and the figures of one run.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "tools/bench/common.hpp"
#include "tools/bench/histogram.hpp"
#include "tools/bench/options.hpp"

namespace qmesh::bench {

// -- runs ---------------------------------------------------------------------

enum class kind {
  p2p,
  fanout,
  latency,
  persistent,
  mxm,
  idle_queues,
  idle_subscriptions,
  cluster
};

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
  uint64_t objects = 0;     // idle: queues or subscriptions
  uint64_t connections = 0; // idle: connections they are spread over
  bool native = false;      // --transport native

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
      case kind::idle_queues:
        return "idle queues=" + std::to_string(objects);
      case kind::idle_subscriptions:
        return "idle subscriptions=" + std::to_string(objects);
      case kind::cluster:
        return "cluster remote put" + common;
    }
    return common;
  }

  /// The stable scenario id of the JSON output: different knobs, different
  /// ids (docs/benchmarks.md lists them).
  std::string id() const {
    return (native ? "native-" : "") + base_id();
  }

  std::string base_id() const {
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
      case kind::idle_queues:
        return "idle-queues";
      case kind::idle_subscriptions:
        return "idle-subscriptions";
      case kind::cluster:
        return "cluster-remote-put" + (size == 16 ? "" : "-" + sz)
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
      case kind::idle_queues:
      case kind::idle_subscriptions:
        return "idle";
      case kind::cluster:
        return "cluster";
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
  uint64_t rss_before = 0; // idle: the broker's VmRSS, bytes
  uint64_t rss_after = 0;
  double bytes_per_object = 0; // idle: (after - before) / objects
};

/// p50 .. max of a histogram of nanoseconds, in microseconds.
inline latency_figures summarize(const histogram& h) {
  auto us = [&](double q) {
    return static_cast<double>(h.quantile(q)) / 1000.0;
  };
  return {us(0.5), us(0.9), us(0.99), us(0.999),
          static_cast<double>(h.max()) / 1000.0};
}

// -- the matrix ---------------------------------------------------------------

/// The cases of --scenario, before --transport: see cases_for().
inline std::vector<bench_case> matrix_for(const options& o) {
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
    case scenario::cluster:
      return {{kind::cluster, o.size, o.ack, p2p_n, 1, 0}};
    case scenario::idle: {
      bench_case q{kind::idle_queues, 16, "auto", 0, 0, 0};
      q.objects = o.queues;
      q.connections = o.connections;
      bench_case s = q;
      s.what = kind::idle_subscriptions;
      s.objects = o.subscriptions;
      // qmesh allows 1000 subscriptions per connection (reason 2046)
      s.connections = std::max<uint64_t>(o.connections,
                                         (s.objects + 999) / 1000);
      return {q, s};
    }
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

/// The cases --scenario and --transport name, in order.
inline std::vector<bench_case> cases_for(const options& o) {
  auto cases = matrix_for(o);
  for (auto& bc : cases)
    bc.native = o.native;
  return cases;
}

} // namespace qmesh::bench
