// qmesh-bench: the idle scenarios over STOMP: what an idle queue and an
// idle subscription cost the broker, in resident memory.
//
//   idle-queues  --queues N queues /queue/BENCH.idle.<pid>.<run>.<i>
//               (other brokers: /queue/bench.idle.<pid>.<run>.<i>), each
//               created by a SUBSCRIBE and left by an UNSUBSCRIBE (qmesh
//               defines a queue on first use, as RabbitMQ and ActiveMQ do);
//               the queues stay behind, empty.
//   idle-subscriptions  --subscriptions S subscriptions, each to a topic
//               of its own, held until the memory is read, then released by
//               DISCONNECT.
// Both spread their objects over --connections connections (each writes
// 500 frames at a time, the last with a receipt, and waits for it), all
// opened before the first reading. bytes per object = (VmRSS after the
// last receipt - VmRSS before the first frame) / objects, VmRSS from
// /proc/<--node-pid>/status. Allocators keep freed memory and grow in
// steps, so small N gives coarse figures; use 10,000 or more.
#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "tools/bench/report.hpp"
#include "tools/bench/run_state.hpp"
#include "tools/bench/stomp_connection.hpp"
#include "tools/bench/stomp_driver.hpp"

namespace qmesh::bench {

namespace {

constexpr uint64_t idle_batch = 500; // frames per write, one receipt

/// VmRSS of process `pid` in bytes; throws if it cannot be read.
uint64_t rss_bytes(uint64_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024; // "VmRSS:   1234 kB"
  }
  throw bench_error("cannot read VmRSS from " + path
                    + " (is --node-pid the broker's process?)");
}

std::string idle_name(const options& o, const bench_case& bc, uint64_t run_id,
                      uint64_t i) {
  auto tail = std::to_string(::getpid()) + "." + std::to_string(run_id) + "."
              + std::to_string(i);
  bool qmesh = o.broker == broker_kind::qmesh;
  if (bc.what == kind::idle_queues)
    return (qmesh ? "/queue/BENCH.idle." : "/queue/bench.idle.") + tail;
  if (qmesh)
    return "/topic/bench/idle/" + std::to_string(::getpid()) + "/"
           + std::to_string(run_id) + "/" + std::to_string(i);
  return "/topic/bench.idle." + tail;
}

/// Connection `c`'s objects first .. first+n-1, in batches; `done` counts
/// the confirmed ones.
void create_objects(connection& c, const options& o, const bench_case& bc,
                    uint64_t run_id, uint64_t first, uint64_t n,
                    std::atomic<uint64_t>& done) {
  std::string buf;
  for (uint64_t at = 0; at < n; at += idle_batch) {
    auto k = std::min(idle_batch, n - at);
    buf.clear();
    for (uint64_t j = 0; j < k; ++j) {
      auto i = first + at + j;
      auto id = std::to_string(i);
      bool last = j + 1 == k;
      stomp::frame sub{"SUBSCRIBE",
                       {{"id", id},
                        {"destination", idle_name(o, bc, run_id, i)},
                        {"ack", "auto"}},
                       {}};
      if (bc.what == kind::idle_subscriptions && last)
        sub.headers.emplace_back("receipt", "b" + id);
      stomp::encode(sub, buf);
      if (bc.what == kind::idle_queues) {
        stomp::frame unsub{"UNSUBSCRIBE", {{"id", id}}, {}};
        if (last)
          unsub.headers.emplace_back("receipt", "b" + id);
        stomp::encode(unsub, buf);
      }
    }
    c.write(buf);
    expect_receipt(c, "b" + std::to_string(first + at + k - 1),
                   bc.what == kind::idle_queues ? "UNSUBSCRIBE" : "SUBSCRIBE");
    done += k;
  }
}

} // namespace

result run_idle(const options& o, const bench_case& bc, uint64_t run_id,
                const std::string& label, check_counts& chk) {
  auto n = bc.objects;
  chk = {n, 0, n, 0, 0};
  watchdog dog{o.timeout_s};
  auto conns = std::min<uint64_t>(bc.connections, n);
  std::vector<std::unique_ptr<connection>> cs;
  for (uint64_t i = 0; i < conns; ++i)
    cs.push_back(open_connection(o, dog));
  run_state st{0, conns};
  for (auto& c : cs)
    st.watch(c->fd());
  std::atomic<uint64_t> done{0};
  result r;
  r.rss_before = rss_bytes(*o.node_pid);
  auto start = clock_type::now();
  {
    progress_meter meter{!o.quiet, label, [&] { return done.load(); }};
    std::vector<std::thread> threads;
    uint64_t first = 0;
    for (uint64_t i = 0; i < conns; ++i) {
      auto k = share(n, conns, i);
      threads.push_back(guarded(st, "connection " + std::to_string(i + 1),
                                [&, i, first, k] {
                                  create_objects(*cs[i], o, bc, run_id, first,
                                                 k, done);
                                }));
      first += k;
    }
    for (auto& t : threads)
      t.join();
  }
  chk = {n, done.load(), n - done.load(), 0, 0};
  st.check();
  r.rss_after = rss_bytes(*o.node_pid);
  r.seconds = seconds_between(start, clock_type::now());
  r.published = n;
  r.pub_rate = static_cast<double>(n) / r.seconds;
  r.bytes_per_object = (static_cast<double>(r.rss_after)
                        - static_cast<double>(r.rss_before))
                       / static_cast<double>(n);
  for (auto& c : cs)
    disconnect(*c);
  return r;
}

} // namespace qmesh::bench
