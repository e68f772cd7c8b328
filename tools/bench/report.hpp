// qmesh-bench: reporting: the human lines and table, the JSON line of a
// scenario, where it goes, and progress on stderr.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/bench/cases.hpp"
#include "tools/bench/check.hpp"
#include "tools/bench/common.hpp"
#include "tools/bench/options.hpp"

namespace qmesh::bench {

// -- reporting ----------------------------------------------------------------

inline std::string describe(const bench_case& bc, const result& r) {
  auto head = bc.name() + ": ";
  switch (bc.what) {
    case kind::idle_queues:
    case kind::idle_subscriptions:
      return head + grouped(r.bytes_per_object) + " bytes each (RSS "
             + grouped(static_cast<double>(r.rss_before) / 1024) + " -> "
             + grouped(static_cast<double>(r.rss_after) / 1024) + " KiB), "
             + std::to_string(r.published) + " created in "
             + fixed(r.seconds, 2) + " s";
    case kind::p2p:
    case kind::mxm:
    case kind::cluster:
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

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/// Figure by figure median (each column on its own).
inline result median_of(const std::vector<result>& runs) {
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
  m.bytes_per_object = med([](const result& r) { return r.bytes_per_object; });
  return m;
}

using json = nlohmann::ordered_json;

/// One run's figures under the keys of the JSON format (docs/benchmarks.md).
inline json figures_json(const bench_case& bc, const result& r) {
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
    case kind::cluster:
      j["msgs_per_s"] = r.deliv_rate;
      break;
    case kind::idle_queues:
    case kind::idle_subscriptions:
      j.erase("mb_per_s");
      j[bc.what == kind::idle_queues ? "bytes_per_queue"
                                     : "bytes_per_subscription"] =
        r.bytes_per_object;
      j["created_per_s"] = r.pub_rate;
      j["rss_before"] = r.rss_before;
      j["rss_after"] = r.rss_after;
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
inline json params_json(const options& o, const bench_case& bc) {
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
    case kind::idle_queues:
    case kind::idle_subscriptions:
      p.erase("messages");
      p.erase("ack");
      p.erase("size");
      p[bc.what == kind::idle_queues ? "queues" : "subscriptions"] =
        bc.objects;
      p["connections"] = bc.connections;
      p["node_pid"] = o.node_pid.value_or(0);
      break;
    case kind::cluster:
      p["remote_qm"] = o.remote_qm;
      p["remote_host"] = o.remote_host;
      p["remote_port"] = o.remote_port.value_or(0);
      break;
    case kind::p2p:
      break;
  }
  return p;
}

/// The scenario's JSON line: runs, key-by-key median / min / max over them,
/// the summed checks, ok.
inline json scenario_json(const options& o, const bench_case& bc,
                   const std::vector<result>& runs, const check_counts& chk,
                   const std::string& error) {
  json j;
  j["tool"] = "qmesh-bench";
  j["id"] = bc.id();
  j["scenario"] = bc.scenario_name();
  j["transport"] = bc.native ? "native" : "stomp";
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

inline void print_table(std::FILE* out,
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
    bool undrained = (bc.what == kind::persistent && !bc.drain)
                     || bc.what == kind::idle_queues
                     || bc.what == kind::idle_subscriptions;
    auto us = [&](double v) { return lat ? fixed(v, 0) : std::string{"-"}; };
    std::fprintf(out, "%-48s %11s %13s %8s %7s %7s %7s %7s\n",
                 bc.name().c_str(), grouped(r.pub_rate).c_str(),
                 undrained ? "-" : grouped(r.deliv_rate).c_str(),
                 fixed(r.mb_rate, 2).c_str(), us(r.lat.p50).c_str(),
                 us(r.lat.p99).c_str(), us(r.lat.p999).c_str(),
                 us(r.lat.max).c_str());
  }
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

} // namespace qmesh::bench
