// qmesh-bench-native: a client and a node over loopback (the native
// protocol: CAF's middleman), measured with the client library.
//
//   qmesh-bench-native HOST:PORT [messages] [samples] [in-flight]
//
// 1. pipelined: one client keeps `in-flight` batches of 64 on their way to
//    one queue (one producer thread per batch in flight, sharing the client
//    and its connection) while one consumer of the same client (prefetch
//    1000, automatic ack) takes them; messages/s from the first put to the
//    last consumed message.
// 2. one at a time: put (p50/p99 round trip), then get (p50/p99).
// A benchmark, not a test: it prints figures and fails only on errors.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "client/client.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void report(const char* what, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * (us.size() - 1))]; };
  std::printf("%s: p50 %.0f us, p99 %.0f us (%zu samples)\n", what, at(0.5),
              at(0.99), us.size());
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: qmesh-bench-native HOST:PORT [messages] "
                         "[samples]\n");
    return 2;
  }
  std::string target = argv[1];
  auto colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "qmesh-bench-native: expected HOST:PORT\n");
    return 2;
  }
  auto host = target.substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoi(target.substr(colon + 1)));
  uint64_t n = argc > 2 ? std::stoull(argv[2]) : 1'000'000;
  size_t samples = argc > 3 ? std::stoul(argv[3]) : 10'000;
  size_t in_flight = argc > 4 ? std::stoul(argv[4]) : 4;
  if (in_flight == 0)
    in_flight = 1;
  try {
    auto c = qmesh::client::connect(host, port);
    for (const char* name : {"BENCH.PIPE", "BENCH.RTT"}) {
      try {
        c.define(name, {{"max_depth", "10000000"}});
      } catch (const qmesh::client_error& e) {
        if (e.code() != 2100) // already defined by an earlier run: fine
          throw;
      }
    }
    // -- pipelined --
    std::atomic<uint64_t> consumed{0};
    std::mutex mtx;
    std::condition_variable done;
    c.consume(
      "BENCH.PIPE",
      [&](qmesh::delivery&) {
        if (consumed.fetch_add(1) + 1 == n) {
          std::lock_guard<std::mutex> guard{mtx};
          done.notify_all();
        }
      },
      1000, qmesh::ack_mode::automatic);
    std::string body(100, 'x');
    std::atomic<uint64_t> claimed{0};
    auto start = clock_type::now();
    std::vector<std::thread> producers;
    for (size_t p = 0; p < in_flight; ++p)
      producers.emplace_back([&] {
        auto q = c.open("BENCH.PIPE");
        for (;;) {
          auto first = claimed.fetch_add(64);
          if (first >= n)
            return;
          auto k = std::min<uint64_t>(64, n - first);
          std::vector<qmesh::message> batch;
          batch.reserve(k);
          for (uint64_t i = 0; i < k; ++i)
            batch.push_back(qmesh::client::text(body));
          q.put_many(std::move(batch));
        }
      });
    for (auto& t : producers)
      t.join();
    {
      std::unique_lock<std::mutex> guard{mtx};
      done.wait(guard, [&] { return consumed.load() >= n; });
    }
    auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
    std::printf("pipelined put-to-consume, 1 client, 1 queue, 100 B, batches "
                "of 64, %zu in flight: %.0f msg/s (%llu msgs in %.2f s)\n",
                in_flight, static_cast<double>(n) / secs,
                static_cast<unsigned long long>(n), secs);
    // -- one at a time --
    std::vector<double> put_us;
    std::vector<double> get_us;
    for (size_t i = 0; i < samples; ++i) {
      auto t0 = clock_type::now();
      c.put("BENCH.RTT", qmesh::client::text(body));
      auto t1 = clock_type::now();
      c.get("BENCH.RTT");
      auto t2 = clock_type::now();
      put_us.push_back(micros(t1 - t0));
      get_us.push_back(micros(t2 - t1));
    }
    report("one-at-a-time put round trip", put_us);
    report("one-at-a-time get round trip", get_us);
    double total = 0;
    for (auto x : put_us)
      total += x;
    for (auto x : get_us)
      total += x;
    std::printf("one-at-a-time put+get: %.0f msg/s\n",
                static_cast<double>(samples) / (total / 1e6));
    c.delete_queue("BENCH.RTT", true);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmesh-bench-native: %s\n", e.what());
    return 1;
  }
}
