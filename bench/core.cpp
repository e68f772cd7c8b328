// qmesh-bench-core: in-process benchmark of the actor core.
//
// Runs a real (threaded) CAF actor system with qmesh's configuration, one
// queue manager, and measures:
//   put     put-to-consume throughput through ONE queue actor, automatic
//           acknowledgement (credit per batch) and client acknowledgement
//           (one range ack per batch);
//   fanout  the same spread over many queues at once (one producer and one
//           consumer per queue by default);
//   idle    memory of many idle queues (VmRSS before and after defining them).
//   list    time to list many queues, and put latency through the queue
//           manager while the listing runs.
//
// Without --only, every section runs in its own child process (this binary
// re-executed with --only SECTION), so one section's heap does not flatter the
// next one's memory figure. See docs/benchmarks.md for what the figures mean.
//
// This is a benchmark, not a test: it prints figures and fails only when the
// system under test reports an error or a run does not finish.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "actors/actors.hpp"
#include "actors/queue_manager.hpp"
#include "actors/system_config.hpp"

using namespace qmesh;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

// -- options ------------------------------------------------------------------

struct options {
  uint64_t messages = 2'000'000;    // put: per variant
  uint64_t fan_messages = 0;        // fanout: total (0 = --messages)
  uint64_t queues = 1'000;          // fanout: queues
  uint64_t producers = 0;           // fanout: producers (0 = one per queue)
  uint64_t idle_queues = 1'000'000; // idle: queues
  uint64_t list_queues = 100'000;   // list: queues of each variant
  uint32_t batch = 64;              // messages per put request
  uint32_t window = 16;             // put: outstanding batch requests
  uint32_t fan_window = 4;          // fanout: outstanding batches per queue
  uint32_t prefetch = 1'000;        // consumer window
  uint32_t define_window = 256;     // idle: outstanding define requests
  size_t body = 100;                // body bytes
  size_t threads = 0;               // scheduler.max-threads (0 = CAF default)
  uint64_t timeout_s = 600;         // per run
  uint32_t runs = 1;                // put, fanout: runs per figure (median)
  std::string only; // put | put-auto | put-client | fanout | idle | list
};

const char* usage = R"(usage: qmesh-bench-core [options]

In-process benchmark of qmesh's queue and queue-manager actors (CAF 0.17.6).

sections:
  put      N messages through ONE queue: producer -> queue -> consumer,
           once with ack_mode automatic (credit per batch), once with
           ack_mode client (one range ack per batch); prints messages/s
  fanout   the same over many queues at once; prints total messages/s
  idle     defines many idle queues; prints VmRSS growth per queue
  list     lists many never-used queues, then as many used ones (one
           message each); prints the listing time and the latency of puts
           sent through the queue manager, one at a time, meanwhile

options:
  --messages N        messages per put variant            (default 2000000)
  --fanout-messages N total messages of the fanout run    (default: --messages)
  --queues N          queues of the fanout run            (default 1000)
  --producers N       producers of the fanout run, each feeding
                      queues/N queues                     (default: one per queue)
  --idle-queues N     queues of the idle run              (default 1000000)
  --list-queues N     queues of each list variant         (default 100000)
  --batch N           messages per put request            (default 64)
  --window N          put: outstanding batch requests     (default 16)
  --fanout-window N   fanout: outstanding batches per queue (default 4)
  --prefetch N        consumer prefetch window            (default 1000)
  --define-window N   idle: outstanding define/delete requests (default 256)
  --body N            body bytes                          (default 100)
  --threads N         CAF scheduler threads               (default: CAF's,
                      max(cores, 4))
  --runs R            put, fanout: run R times, report the median (default 1)
  --timeout S         give up a run after S seconds       (default 600)
  --only SECTION      put | put-auto | put-client | fanout | idle | list
                      (default: every section, each in a child process)
  --help              this text
)";

bool parse_u64(std::string_view s, uint64_t& out) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    return false;
  out = v;
  return true;
}

/// Returns 0 to run, 1 for a usage error, 2 for --help.
int parse_args(int argc, char** argv, options& o) {
  auto bad = [](const std::string& msg) {
    std::cerr << "qmesh-bench-core: " << msg << "\n(see --help)\n";
    return 1;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 2;
    }
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto next = [&]() -> bool {
      if (has_value)
        return true;
      if (i + 1 >= argc)
        return false;
      value = argv[++i];
      return true;
    };
    auto number = [&](auto& field, uint64_t min, uint64_t max) -> int {
      if (!next())
        return bad(std::string{name} + " needs a value");
      uint64_t v = 0;
      if (!parse_u64(value, v) || v < min || v > max)
        return bad(std::string{name} + ": '" + std::string{value}
                   + "' is not a number in " + std::to_string(min) + ".."
                   + std::to_string(max));
      field = static_cast<std::remove_reference_t<decltype(field)>>(v);
      return 0;
    };
    constexpr uint64_t u32max = 0xffffffffu;
    int rc = 0;
    if (name == "--messages")
      rc = number(o.messages, 1, uint64_t{1} << 40);
    else if (name == "--fanout-messages")
      rc = number(o.fan_messages, 1, uint64_t{1} << 40);
    else if (name == "--queues")
      rc = number(o.queues, 1, 10'000'000);
    else if (name == "--producers")
      rc = number(o.producers, 1, 10'000'000);
    else if (name == "--idle-queues")
      rc = number(o.idle_queues, 1, 100'000'000);
    else if (name == "--list-queues")
      rc = number(o.list_queues, 1, 100'000'000);
    else if (name == "--batch")
      rc = number(o.batch, 1, 100'000);
    else if (name == "--window")
      rc = number(o.window, 1, 100'000);
    else if (name == "--fanout-window")
      rc = number(o.fan_window, 1, 100'000);
    else if (name == "--prefetch")
      rc = number(o.prefetch, 1, u32max);
    else if (name == "--define-window")
      rc = number(o.define_window, 1, 1'000'000);
    else if (name == "--body")
      rc = number(o.body, 0, 4 * 1024 * 1024);
    else if (name == "--threads")
      rc = number(o.threads, 1, 1024);
    else if (name == "--runs")
      rc = number(o.runs, 1, 1000);
    else if (name == "--timeout")
      rc = number(o.timeout_s, 1, 86'400);
    else if (name == "--only") {
      if (!next())
        return bad("--only needs a value");
      if (value != "put" && value != "put-auto" && value != "put-client"
          && value != "fanout" && value != "idle" && value != "list")
        return bad("--only: unknown section '" + std::string{value} + "'");
      o.only = value;
    } else
      return bad("unknown option '" + std::string{arg} + "'");
    if (rc != 0)
      return rc;
  }
  if (o.fan_messages == 0)
    o.fan_messages = o.messages;
  if (o.producers == 0 || o.producers > o.queues)
    o.producers = o.queues;
  return 0;
}

// -- helpers ------------------------------------------------------------------

/// VmRSS of this process in bytes (0 if unreadable).
uint64_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

/// Bytes the C heap has handed out (all arenas).
uint64_t heap_bytes() {
  auto mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

std::string with_commas(uint64_t x) {
  auto digits = std::to_string(x);
  std::string s;
  s.reserve(digits.size() + digits.size() / 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

std::string mib(uint64_t bytes) {
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 1) + " MiB";
}

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

std::string queue_name(const char* prefix, uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s.%07llu", prefix,
                static_cast<unsigned long long>(i));
  return buf;
}

// -- shared run state -----------------------------------------------------------

/// Shared between the actors of one throughput run and the main thread.
/// Counters are touched once per batch, not per message.
struct run_stats {
  uint64_t expected = 0;
  std::atomic<int64_t> start_ns{0}; // first put (steady clock)
  int64_t end_ns = 0;               // last consume; written once, before done
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> accepted{0}; // put replies seen by producers
  std::atomic<uint64_t> peak_backlog{0};
  std::atomic<uint64_t> deliveries{0};
  std::atomic<bool> finished{false};
  std::mutex err_mtx;
  std::string error;
  std::promise<bool> done;

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             steady::now().time_since_epoch())
      .count();
  }

  void mark_start() {
    int64_t zero = 0;
    start_ns.compare_exchange_strong(zero, now_ns());
  }

  void finish(bool ok) {
    if (!finished.exchange(true))
      done.set_value(ok);
  }

  void fail(std::string what) {
    {
      std::lock_guard<std::mutex> guard{err_mtx};
      if (error.empty())
        error = std::move(what);
    }
    finish(false);
  }

  void on_consumed(uint64_t n) {
    deliveries.fetch_add(1, std::memory_order_relaxed);
    if (consumed.fetch_add(n, std::memory_order_acq_rel) + n == expected) {
      end_ns = now_ns();
      finish(true);
    }
  }

  /// Called by producers per put reply: tracks how far puts run ahead of
  /// consumption (messages the queues hold, ready or in a consumer window).
  void on_accepted(uint64_t n) {
    auto acc = accepted.fetch_add(n, std::memory_order_relaxed) + n;
    auto con = consumed.load(std::memory_order_relaxed);
    auto backlog = acc > con ? acc - con : 0;
    auto peak = peak_backlog.load(std::memory_order_relaxed);
    while (backlog > peak
           && !peak_backlog.compare_exchange_weak(peak, backlog,
                                                  std::memory_order_relaxed)) {
    }
  }

  double seconds() const {
    return static_cast<double>(end_ns - start_ns.load()) / 1e9;
  }
};

using stats_ptr = std::shared_ptr<run_stats>;

// -- consumer -------------------------------------------------------------------

struct consumer_state {
  static inline const char* name = "bench.consumer";
  // Not an aggregate: CAF would otherwise try to construct it from `self`.
  consumer_state() = default;
  queue_actor queue; // the sender of the first delivery
  uint64_t body_bytes = 0;
};

/// Counts deliveries; returns credit (automatic) or acks the batch's tag range
/// (client) once per delivery_batch.
consumer_actor::behavior_type
bench_consumer(consumer_actor::stateful_pointer<consumer_state> self,
               stats_ptr stats, ack_mode mode) {
  return {
    [self, stats, mode](atom::deliver, delivery_batch& batch) {
      auto n = batch.messages.size();
      if (n == 0)
        return;
      auto& st = self->state;
      if (!st.queue)
        st.queue = caf::actor_cast<queue_actor>(self->current_sender());
      for (const auto& msg : batch.messages) // touch what a client would read
        st.body_bytes += msg.body.size();
      if (mode == ack_mode::automatic) {
        self->send(st.queue, atom::credit_v, batch.consumer_id,
                   static_cast<uint32_t>(n));
      } else {
        auto first = batch.messages.front().tag;
        auto last = batch.messages.back().tag;
        self
          ->request(st.queue, caf::infinite, atom::ack_v, batch.consumer_id,
                    first, last)
          .then(
            [stats, n](uint64_t settled) {
              if (settled != n)
                stats->fail("ack settled " + std::to_string(settled)
                            + " of " + std::to_string(n));
            },
            [self, stats](caf::error& e) {
              stats->fail("ack: " + self->system().render(e));
            });
      }
      stats->on_consumed(n);
    },
  };
}

// -- producer -------------------------------------------------------------------

struct producer_state {
  static inline const char* name = "bench.producer";
  producer_state() = default;
  std::vector<queue_actor> queues;
  std::vector<uint64_t> remaining; // messages still to put, per queue
  std::string body;
  uint32_t batch = 64;
};

void send_batch(caf::stateful_actor<producer_state>* self, stats_ptr stats,
                size_t i) {
  auto& st = self->state;
  auto n = static_cast<size_t>(std::min<uint64_t>(st.batch, st.remaining[i]));
  if (n == 0)
    return;
  st.remaining[i] -= n;
  std::vector<message> msgs(n);
  for (auto& msg : msgs)
    msg.body = st.body;
  self->request(st.queues[i], caf::infinite, atom::put_v, std::move(msgs))
    .then(
      [self, stats, i](uint64_t accepted) {
        stats->on_accepted(accepted);
        send_batch(self, stats, i);
      },
      [self, stats](caf::error& e) {
        stats->fail("put: " + self->system().render(e));
        self->quit();
      });
}

/// Opens each named queue for output through the queue manager, then puts
/// `per_queue` messages on each in batches, with at most `window` batch
/// requests outstanding per queue.
caf::behavior bench_producer(caf::stateful_actor<producer_state>* self,
                             stats_ptr stats, queue_manager_actor qm,
                             std::vector<std::string> names,
                             uint64_t per_queue, uint32_t batch,
                             uint32_t window, size_t body) {
  auto& st = self->state;
  st.queues.resize(names.size());
  st.remaining.assign(names.size(), per_queue);
  st.body.assign(body, 'x');
  st.batch = batch;
  auto opened = std::make_shared<size_t>(0);
  for (size_t i = 0; i < names.size(); ++i)
    self->request(qm, caf::infinite, atom::open_v, names[i], open_mode::output)
      .then(
        [self, stats, opened, i, window](queue_actor& q) {
          auto& st = self->state;
          st.queues[i] = std::move(q);
          if (++*opened < st.queues.size())
            return;
          stats->mark_start(); // the first put follows
          for (uint32_t w = 0; w < window; ++w)
            for (size_t k = 0; k < st.queues.size(); ++k)
              send_batch(self, stats, k);
        },
        [self, stats, name = names[i]](caf::error& e) {
          stats->fail("open " + name + ": " + self->system().render(e));
          self->quit();
        });
  return {
    [](atom::ok) {}, // nothing to do: replies drive the producer
  };
}

// -- setup helpers (blocking, from main) ------------------------------------------

struct bench_system {
  system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  /// For blocking requests from main; must end before the actor system
  /// (it counts as a running actor, so ~actor_system would wait for it).
  std::unique_ptr<caf::scoped_actor> self;
  queue_manager_actor qm;

  explicit bench_system(const options& o) {
    if (o.threads > 0)
      cfg.set("scheduler.max-threads", o.threads);
    sys = std::make_unique<caf::actor_system>(cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
    qm_config qc;
    qc.name = "BENCH";
    qm = sys->spawn(queue_manager_impl, std::move(qc));
  }

  bench_system(const bench_system&) = delete;
  bench_system& operator=(const bench_system&) = delete;

  ~bench_system() {
    shutdown({});
  }

  size_t threads() const { return sys->scheduler().num_workers(); }

  /// Ends every actor we started (the queue manager ends its queues), the
  /// scoped actor, then the actor system (whose destructor waits for every
  /// actor to finish).
  void shutdown(const std::vector<caf::actor_addr>& extra) {
    if (!sys)
      return;
    for (const auto& a : extra)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    if (qm)
      caf::anon_send_exit(qm, caf::exit_reason::user_shutdown);
    qm = nullptr;
    self.reset();
    sys.reset();
  }
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "qmesh-bench-core: " << what << std::endl;
  std::_Exit(1); // the actor system might not shut down cleanly now
}

void define_queue(caf::scoped_actor& self, const queue_manager_actor& qm,
                  const std::string& name, const attr_map& attrs) {
  self->request(qm, caf::infinite, atom::define_v, name, attrs)
    .receive([](queue_status&) {},
             [&](caf::error& e) {
               die("define " + name + ": " + self->system().render(e));
             });
}

/// Registers consumer `c` on queue `name` through the queue manager.
void start_consumer(caf::scoped_actor& self, const queue_manager_actor& qm,
                    const std::string& name, const consumer_actor& c,
                    uint32_t prefetch, ack_mode mode) {
  self
    ->request(qm, caf::infinite, atom::consume_v, name, c, prefetch, mode)
    .receive([](queue_actor&, uint64_t) {},
             [&](caf::error& e) {
               die("consume " + name + ": " + self->system().render(e));
             });
}

/// Waits for a throughput run; dies on error or timeout.
void await_run(run_stats& stats, const options& o, const char* what) {
  auto fut = stats.done.get_future();
  if (fut.wait_for(std::chrono::seconds(o.timeout_s))
      != std::future_status::ready)
    die(std::string{what} + ": no result after " + std::to_string(o.timeout_s)
        + " s (consumed " + with_commas(stats.consumed.load()) + " of "
        + with_commas(stats.expected) + ")");
  if (!fut.get()) {
    std::lock_guard<std::mutex> guard{stats.err_mtx};
    die(std::string{what} + ": " + stats.error);
  }
}

const char* mode_name(ack_mode m) {
  return m == ack_mode::automatic ? "automatic" : "client";
}

attr_map big_queue() {
  return {{"max_depth", "10000000"}};
}

/// What one throughput run measured.
struct run_result {
  uint64_t messages = 0;
  double seconds = 0;
  double cpu_seconds = 0; // process CPU time (user + system) during the run
  uint64_t deliveries = 0;
  uint64_t peak_backlog = 0;
  uint64_t rss = 0;
  size_t threads = 0;

  double rate() const { return static_cast<double>(messages) / seconds; }
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec)
           + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

std::string describe(const run_result& r) {
  return with_commas(r.messages) + " msgs in " + fixed(r.seconds, 3)
         + " s, CPU " + fixed(r.cpu_seconds, 2) + " s = "
         + fixed(r.cpu_seconds / r.seconds, 2) + " cores, "
         + fixed(r.cpu_seconds * 1e9 / static_cast<double>(r.messages), 0)
         + " ns CPU/msg; avg delivery "
         + fixed(static_cast<double>(r.messages)
                   / static_cast<double>(std::max<uint64_t>(r.deliveries, 1)),
                 1)
         + " msgs; peak backlog " + with_commas(r.peak_backlog) + "; RSS "
         + mib(r.rss);
}

/// Runs `one` `o.runs` times, prints each run when there are several, and
/// returns the run with the median rate.
template <class F>
run_result repeat(const options& o, F one) {
  std::vector<run_result> results;
  for (uint32_t i = 0; i < o.runs; ++i) {
    results.push_back(one());
    if (o.runs > 1)
      std::cout << "  run " << (i + 1) << ": "
                << with_commas(static_cast<uint64_t>(results.back().rate()))
                << " msg/s  (" << describe(results.back()) << ")"
                << std::endl;
  }
  std::sort(results.begin(), results.end(),
            [](const auto& x, const auto& y) { return x.rate() < y.rate(); });
  return results[results.size() / 2];
}

std::string median_note(const options& o) {
  return o.runs > 1 ? "median of " + std::to_string(o.runs) + " runs; " : "";
}

// -- section: put ---------------------------------------------------------------

run_result put_once(const options& o, ack_mode mode) {
  bench_system bs{o};
  auto& self = *bs.self;
  auto name = std::string{"BENCH.PUT."} + mode_name(mode);
  define_queue(self, bs.qm, name, big_queue());
  auto stats = std::make_shared<run_stats>();
  stats->expected = o.messages;
  auto c = bs.sys->spawn(bench_consumer, stats, mode);
  start_consumer(self, bs.qm, name, c, o.prefetch, mode);
  auto cpu0 = cpu_seconds();
  // The producer opens the queue through the queue manager and then puts
  // straight to the queue actor.
  auto p = bs.sys->spawn(bench_producer, stats, bs.qm,
                         std::vector<std::string>{name}, o.messages, o.batch,
                         o.window, o.body);
  await_run(*stats, o, "put");
  run_result r;
  r.cpu_seconds = cpu_seconds() - cpu0;
  r.messages = o.messages;
  r.seconds = stats->seconds();
  r.deliveries = stats->deliveries.load();
  r.peak_backlog = stats->peak_backlog.load();
  r.rss = rss_bytes();
  r.threads = bs.threads();
  bs.shutdown({p.address(), c.address()});
  return r;
}

int run_put(const options& o, ack_mode mode) {
  auto r = repeat(o, [&] { return put_once(o, mode); });
  std::cout << "put-to-consume, 1 queue, ack " << mode_name(mode) << ": "
            << with_commas(static_cast<uint64_t>(r.rate())) << " msg/s  ("
            << median_note(o) << o.body << " B bodies, batch " << o.batch
            << ", window " << o.window << ", prefetch " << o.prefetch << ", "
            << r.threads << " threads; " << describe(r) << ")" << std::endl;
  return 0;
}

// -- section: fanout --------------------------------------------------------------

run_result fanout_once(const options& o) {
  bench_system bs{o};
  auto& self = *bs.self;
  auto nq = o.queues;
  auto per_queue = o.fan_messages / nq;
  if (per_queue == 0)
    die("fanout: fewer messages than queues");
  auto stats = std::make_shared<run_stats>();
  stats->expected = per_queue * nq;
  std::vector<caf::actor_addr> actors;
  std::vector<std::string> names;
  for (uint64_t i = 0; i < nq; ++i) {
    auto name = queue_name("BENCH.FAN", i);
    define_queue(self, bs.qm, name, big_queue());
    auto c = bs.sys->spawn(bench_consumer, stats, ack_mode::automatic);
    actors.push_back(c.address());
    start_consumer(self, bs.qm, name, c, o.prefetch, ack_mode::automatic);
    names.push_back(std::move(name));
  }
  // Producer k feeds queues k, k + P, k + 2P, ...
  std::vector<std::vector<std::string>> feeds(o.producers);
  for (uint64_t i = 0; i < nq; ++i)
    feeds[i % o.producers].push_back(names[i]);
  auto cpu0 = cpu_seconds();
  for (auto& feed : feeds) {
    auto p = bs.sys->spawn(bench_producer, stats, bs.qm, std::move(feed),
                           per_queue, o.batch, o.fan_window, o.body);
    actors.push_back(p.address());
  }
  await_run(*stats, o, "fanout");
  run_result r;
  r.cpu_seconds = cpu_seconds() - cpu0;
  r.messages = stats->expected;
  r.seconds = stats->seconds();
  r.deliveries = stats->deliveries.load();
  r.peak_backlog = stats->peak_backlog.load();
  r.rss = rss_bytes();
  r.threads = bs.threads();
  bs.shutdown(actors);
  return r;
}

int run_fanout(const options& o) {
  auto r = repeat(o, [&] { return fanout_once(o); });
  std::cout << "put-to-consume, " << with_commas(o.queues)
            << " queues, ack automatic: "
            << with_commas(static_cast<uint64_t>(r.rate()))
            << " msg/s total  (" << median_note(o) << with_commas(o.producers)
            << " producers, " << with_commas(o.queues) << " consumers, "
            << o.body << " B bodies, batch " << o.batch << ", window "
            << o.fan_window << "/queue, prefetch " << o.prefetch << ", "
            << r.threads << " threads; " << describe(r) << ")" << std::endl;
  return 0;
}

// -- section: idle ------------------------------------------------------------------

/// What a pipeline does to each queue.
enum class pipe_op { define, put, delete_ };

const char* op_name(pipe_op op) {
  switch (op) {
    case pipe_op::define:
      return "define";
    case pipe_op::put:
      return "put";
    default:
      return "delete";
  }
}

struct pipeline_state {
  static inline const char* name = "bench.pipeline";
  pipeline_state() = default;
  queue_manager_actor qm;
  pipe_op op = pipe_op::define;
  std::string prefix;
  uint64_t count = 0;
  uint64_t next = 0;
  uint64_t replied = 0;
  bool failed = false;
  std::shared_ptr<std::promise<std::string>> done;
};

void pipeline_next(caf::stateful_actor<pipeline_state>* self) {
  auto& st = self->state;
  if (st.failed || st.next >= st.count)
    return;
  auto name = queue_name(st.prefix.c_str(), st.next++);
  auto on_reply = [self] {
    auto& st = self->state;
    if (++st.replied == st.count && !st.failed)
      st.done->set_value({});
    else
      pipeline_next(self);
  };
  auto on_error = [self](caf::error& e) {
    auto& st = self->state;
    if (!st.failed) {
      st.failed = true;
      st.done->set_value(self->system().render(e));
    }
  };
  switch (st.op) {
    case pipe_op::define:
      self->request(st.qm, caf::infinite, atom::define_v, name, attr_map{})
        .then([on_reply](queue_status&) { on_reply(); }, on_error);
      break;
    case pipe_op::put: {
      message msg;
      msg.body = "x";
      self->request(st.qm, caf::infinite, atom::put_v, name, std::move(msg))
        .then([on_reply](msg_id) { on_reply(); }, on_error);
      break;
    }
    case pipe_op::delete_:
      // Purge: a queue the list section put to holds its message.
      self->request(st.qm, caf::infinite, atom::delete_v, name, true)
        .then([on_reply](uint64_t) { on_reply(); }, on_error);
      break;
  }
}

/// Defines, puts one message to, or deletes queues PREFIX.0000000 ...
/// through the queue manager with at most `window` requests outstanding;
/// fulfils `done` with the empty string or the first error.
caf::behavior pipeline(caf::stateful_actor<pipeline_state>* self,
                       queue_manager_actor qm, pipe_op op, std::string prefix,
                       uint64_t count, uint32_t window,
                       std::shared_ptr<std::promise<std::string>> done) {
  auto& st = self->state;
  st.qm = std::move(qm);
  st.op = op;
  st.prefix = std::move(prefix);
  st.count = count;
  st.done = std::move(done);
  if (count == 0)
    st.done->set_value({});
  for (uint32_t i = 0; i < window; ++i)
    pipeline_next(self);
  return {
    [](atom::ok) {},
  };
}

/// Runs a pipeline over `count` queues to the end; returns its duration.
double run_pipeline(bench_system& bs, const options& o, pipe_op op,
                    const char* prefix, uint64_t count) {
  auto t0 = steady::now();
  auto done = std::make_shared<std::promise<std::string>>();
  auto fut = done->get_future();
  auto p = bs.sys->spawn(pipeline, bs.qm, op, std::string{prefix}, count,
                         o.define_window, done);
  if (fut.wait_for(std::chrono::seconds(o.timeout_s))
      != std::future_status::ready)
    die(std::string{prefix} + ": " + op_name(op) + " did not finish in time");
  if (auto e = fut.get(); !e.empty())
    die(std::string{prefix} + ": " + op_name(op) + ": " + e);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  return seconds_since(t0);
}

uint64_t queue_count(bench_system& bs) {
  uint64_t count = 0;
  (*bs.self)
    ->request(bs.qm, caf::infinite, atom::status_v)
    .receive([&](qm_status& s) { count = s.queue_count; },
             [&](caf::error& e) { die("status: " + bs.sys->render(e)); });
  return count;
}

int run_idle(const options& o) {
  bench_system bs{o};
  // Let the system and the queue manager settle (its dead-letter queue
  // exists once status answers).
  auto base = queue_count(bs);
  std::this_thread::sleep_for(200ms);
  auto before = rss_bytes();
  auto heap_before = heap_bytes();
  auto define_secs = run_pipeline(bs, o, pipe_op::define, "IDLE",
                                  o.idle_queues);
  auto count = queue_count(bs) - base;
  // Queue actors initialise on their first run; wait until RSS settles.
  auto after = rss_bytes();
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(200ms);
    auto now = rss_bytes();
    bool settled = now <= after + after / 1000;
    after = std::max(after, now);
    if (settled && i >= 2)
      break;
  }
  auto grown = after > before ? after - before : 0;
  auto per_queue = static_cast<double>(grown)
                   / static_cast<double>(o.idle_queues);
  auto heap_after = heap_bytes();
  auto heap_grown = heap_after > heap_before ? heap_after - heap_before : 0;
  std::cout << "idle queues: " << with_commas(o.idle_queues) << " queues, "
            << with_commas(static_cast<uint64_t>(per_queue))
            << " bytes/queue, " << mib(grown) << " total  (VmRSS "
            << mib(before) << " -> " << mib(after) << "; malloc'd "
            << with_commas(heap_grown / o.idle_queues)
            << " bytes/queue; the queue manager "
            << "lists " << with_commas(count) << " new queues; defined in "
            << fixed(define_secs, 2) << " s = "
            << with_commas(static_cast<uint64_t>(
                 static_cast<double>(o.idle_queues) / define_secs))
            << " defines/s, " << bs.threads() << " threads)" << std::endl;
  // Delete the queues through the queue manager, bounded in flight, rather
  // than letting the queue manager stop them all at once when it exits: a
  // million exits at once make CAF 0.17's work stealing quadratic (see
  // docs/benchmarks.md).
  auto delete_secs = run_pipeline(bs, o, pipe_op::delete_, "IDLE",
                                  o.idle_queues);
  auto t1 = steady::now();
  bs.shutdown({});
  std::cout << "  (then deleted in " << fixed(delete_secs, 2) << " s = "
            << with_commas(static_cast<uint64_t>(
                 static_cast<double>(o.idle_queues) / delete_secs))
            << " deletes/s; shutdown " << fixed(seconds_since(t1), 2)
            << " s)" << std::endl;
  return 0;
}

// -- section: list ------------------------------------------------------------------

/// Put round trips of the prober; written by the prober only, read by main
/// after `done`.
struct probe_log {
  std::atomic<bool> stop{false};
  /// (start on the steady clock in ns, round trip in ns) per put.
  std::vector<std::pair<int64_t, int64_t>> samples;
  std::string error;
  std::promise<void> done;
};

using probe_ptr = std::shared_ptr<probe_log>;

struct prober_state {
  static inline const char* name = "bench.prober";
  prober_state() = default;
  queue_manager_actor qm;
  std::string queue;
  probe_ptr log;
};

/// Puts one message at a time to `queue` through the queue manager (the
/// path a STOMP SEND takes) until told to stop.
void probe_next(caf::stateful_actor<prober_state>* self) {
  auto& st = self->state;
  if (st.log->stop.load()) {
    st.log->done.set_value();
    self->quit();
    return;
  }
  message msg;
  msg.body = "probe";
  auto t0 = run_stats::now_ns();
  self->request(st.qm, caf::infinite, atom::put_v, st.queue, std::move(msg))
    .then(
      [self, t0](msg_id) {
        self->state.log->samples.emplace_back(t0, run_stats::now_ns() - t0);
        probe_next(self);
      },
      [self](caf::error& e) {
        self->state.log->error = self->system().render(e);
        self->state.log->done.set_value();
        self->quit();
      });
}

caf::behavior prober(caf::stateful_actor<prober_state>* self,
                     queue_manager_actor qm, std::string queue,
                     probe_ptr log) {
  auto& st = self->state;
  st.qm = std::move(qm);
  st.queue = std::move(queue);
  st.log = std::move(log);
  probe_next(self);
  return {
    [](atom::ok) {},
  };
}

std::string micros(int64_t ns) {
  if (ns >= 10'000'000)
    return fixed(static_cast<double>(ns) / 1e9, 2) + " s";
  return with_commas(static_cast<uint64_t>(ns / 1000)) + " us";
}

/// Lists PREFIX.* while a prober puts to LIST.PROBE; prints both figures.
void list_once(bench_system& bs, const options& o, const char* prefix,
               const char* what) {
  auto log = std::make_shared<probe_log>();
  auto done = log->done.get_future();
  auto p = bs.sys->spawn(prober, bs.qm, std::string{"LIST.PROBE"}, log);
  std::this_thread::sleep_for(200ms); // baseline samples
  auto t0 = run_stats::now_ns();
  size_t listed = 0;
  (*bs.self)
    ->request(bs.qm, caf::infinite, atom::list_v, std::string{prefix} + ".*")
    .receive([&](std::vector<queue_status>& xs) { listed = xs.size(); },
             [&](caf::error& e) { die("list: " + bs.sys->render(e)); });
  auto t1 = run_stats::now_ns();
  log->stop = true;
  if (done.wait_for(std::chrono::seconds(o.timeout_s))
      != std::future_status::ready)
    die("list: the prober did not stop");
  if (!log->error.empty())
    die("list: probe put: " + log->error);
  if (listed != o.list_queues)
    die("list: " + std::to_string(listed) + " of "
        + std::to_string(o.list_queues) + " queues listed");
  std::vector<int64_t> before;
  std::vector<int64_t> during;
  for (auto [start, rtt] : log->samples) {
    if (start + rtt <= t0)
      before.push_back(rtt);
    else if (start < t1)
      during.push_back(rtt); // overlapped the listing
  }
  auto pct = [](std::vector<int64_t>& xs, double q) -> int64_t {
    if (xs.empty())
      return 0;
    std::sort(xs.begin(), xs.end());
    auto i = static_cast<size_t>(q * static_cast<double>(xs.size() - 1));
    return xs[i];
  };
  auto before_p50 = pct(before, 0.5);
  auto p50 = pct(during, 0.5);
  auto p99 = pct(during, 0.99);
  auto max = during.empty() ? int64_t{0} : during.back(); // sorted by pct
  std::cout << "list " << with_commas(o.list_queues) << " " << what
            << " queues: " << fixed(static_cast<double>(t1 - t0) / 1e9, 3)
            << " s; puts through the queue manager meanwhile: "
            << with_commas(during.size()) << ", p50 " << micros(p50)
            << ", p99 " << micros(p99) << ", max " << micros(max)
            << "  (before the listing: p50 " << micros(before_p50) << ")"
            << std::endl;
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

int run_list(const options& o) {
  bench_system bs{o};
  define_queue(*bs.self, bs.qm, "LIST.PROBE", big_queue());
  auto t0 = steady::now();
  run_pipeline(bs, o, pipe_op::define, "LISTR", o.list_queues);
  run_pipeline(bs, o, pipe_op::define, "LISTA", o.list_queues);
  run_pipeline(bs, o, pipe_op::put, "LISTA", o.list_queues);
  std::cout << "list: defined 2 x " << with_commas(o.list_queues)
            << " queues, put one message on each LISTA queue, in "
            << fixed(seconds_since(t0), 1) << " s (" << bs.threads()
            << " threads)" << std::endl;
  list_once(bs, o, "LISTR", "never-used");
  list_once(bs, o, "LISTA", "used");
  run_pipeline(bs, o, pipe_op::delete_, "LISTR", o.list_queues);
  run_pipeline(bs, o, pipe_op::delete_, "LISTA", o.list_queues);
  bs.shutdown({});
  return 0;
}

// -- driver -------------------------------------------------------------------------

/// Runs this binary again with the same arguments plus --only SECTION.
int run_child(int argc, char** argv, const char* section) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i)
    args.emplace_back(argv[i]);
  args.emplace_back("--only");
  args.emplace_back(section);
  std::vector<char*> cargs;
  for (auto& a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::cout.flush();
  auto pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    execv("/proc/self/exe", cargs.data());
    std::perror("execv");
    std::_Exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) {
    std::perror("waitpid");
    return 1;
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  std::cerr << "qmesh-bench-core: section " << section << " died (signal "
            << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")\n";
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (auto rc = parse_args(argc, argv, o); rc != 0)
    return rc == 2 ? 0 : 2;
  if (o.only.empty()) {
    std::cout << "qmesh-bench-core: " << std::thread::hardware_concurrency()
              << " hardware threads; every section runs in its own process"
              << std::endl;
    int failed = 0;
    for (auto section : {"put-auto", "put-client", "fanout", "idle", "list"})
      if (run_child(argc, argv, section) != 0)
        ++failed;
    return failed == 0 ? 0 : 1;
  }
  if (o.only == "put-auto")
    return run_put(o, ack_mode::automatic);
  if (o.only == "put-client")
    return run_put(o, ack_mode::client);
  if (o.only == "put") {
    // Both variants in this process, one actor system each.
    auto rc = run_put(o, ack_mode::automatic);
    return rc != 0 ? rc : run_put(o, ack_mode::client);
  }
  if (o.only == "fanout")
    return run_fanout(o);
  if (o.only == "list")
    return run_list(o);
  return run_idle(o);
}
