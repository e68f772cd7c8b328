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
  uint32_t batch = 64;              // messages per put request
  uint32_t window = 32;             // put: outstanding batch requests
  uint32_t fan_window = 4;          // fanout: outstanding batches per queue
  uint32_t prefetch = 1'000;        // consumer window
  uint32_t define_window = 256;     // idle: outstanding define requests
  size_t body = 100;                // body bytes
  size_t threads = 0;               // scheduler.max-threads (0 = CAF default)
  uint64_t timeout_s = 600;         // per run
  std::string only;                 // put | put-auto | put-client | fanout | idle
};

const char* usage = R"(usage: qmesh-bench-core [options]

In-process benchmark of qmesh's queue and queue-manager actors (CAF 0.17.6).

sections:
  put      N messages through ONE queue: producer -> queue -> consumer,
           once with ack_mode automatic (credit per batch), once with
           ack_mode client (one range ack per batch); prints messages/s
  fanout   the same over many queues at once; prints total messages/s
  idle     defines many idle queues; prints VmRSS growth per queue

options:
  --messages N        messages per put variant            (default 2000000)
  --fanout-messages N total messages of the fanout run    (default: --messages)
  --queues N          queues of the fanout run            (default 1000)
  --producers N       producers of the fanout run, each feeding
                      queues/N queues                     (default: one per queue)
  --idle-queues N     queues of the idle run              (default 1000000)
  --batch N           messages per put request            (default 64)
  --window N          put: outstanding batch requests     (default 32)
  --fanout-window N   fanout: outstanding batches per queue (default 4)
  --prefetch N        consumer prefetch window            (default 1000)
  --define-window N   idle: outstanding define requests   (default 256)
  --body N            body bytes                          (default 100)
  --threads N         CAF scheduler threads               (default: CAF's,
                      the number of cores)
  --timeout S         give up a run after S seconds       (default 600)
  --only SECTION      put | put-auto | put-client | fanout | idle
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
    else if (name == "--timeout")
      rc = number(o.timeout_s, 1, 86'400);
    else if (name == "--only") {
      if (!next())
        return bad("--only needs a value");
      if (value != "put" && value != "put-auto" && value != "put-client"
          && value != "fanout" && value != "idle")
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

/// Puts `per_queue` messages on each queue in batches, with at most `window`
/// batch requests outstanding per queue; starts at once.
caf::behavior bench_producer(caf::stateful_actor<producer_state>* self,
                             stats_ptr stats, std::vector<queue_actor> queues,
                             uint64_t per_queue, uint32_t batch,
                             uint32_t window, size_t body) {
  auto& st = self->state;
  st.queues = std::move(queues);
  st.remaining.assign(st.queues.size(), per_queue);
  st.body.assign(body, 'x');
  st.batch = batch;
  stats->mark_start();
  for (uint32_t w = 0; w < window; ++w)
    for (size_t i = 0; i < st.queues.size(); ++i)
      send_batch(self, stats, i);
  return {
    [](atom::ok) {}, // nothing to do: replies drive the producer
  };
}

// -- setup helpers (blocking, from main) ------------------------------------------

struct bench_system {
  system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  queue_manager_actor qm;

  explicit bench_system(const options& o) {
    if (o.threads > 0)
      cfg.set("scheduler.max-threads", o.threads);
    sys = std::make_unique<caf::actor_system>(cfg);
    qm_config qc;
    qc.name = "BENCH";
    qm = sys->spawn(queue_manager_impl, std::move(qc));
  }

  size_t threads() const { return sys->scheduler().num_workers(); }

  /// Ends every actor we started (the queue manager ends its queues), then
  /// the actor system; prints nothing.
  void shutdown(const std::vector<caf::actor_addr>& extra) {
    for (const auto& a : extra)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(qm, caf::exit_reason::user_shutdown);
    qm = nullptr;
    sys.reset(); // waits for every actor
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

std::pair<queue_actor, uint64_t>
start_consumer(caf::scoped_actor& self, const queue_manager_actor& qm,
               const std::string& name, const consumer_actor& c,
               uint32_t prefetch, ack_mode mode) {
  std::pair<queue_actor, uint64_t> result;
  self
    ->request(qm, caf::infinite, atom::consume_v, name, c, prefetch, mode)
    .receive([&](queue_actor& q, uint64_t id) { result = {q, id}; },
             [&](caf::error& e) {
               die("consume " + name + ": " + self->system().render(e));
             });
  return result;
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

// -- section: put ---------------------------------------------------------------

int run_put(const options& o, ack_mode mode) {
  bench_system bs{o};
  caf::scoped_actor self{*bs.sys};
  auto name = std::string{"BENCH.PUT."} + mode_name(mode);
  define_queue(self, bs.qm, name, big_queue());
  auto stats = std::make_shared<run_stats>();
  stats->expected = o.messages;
  auto c = bs.sys->spawn(bench_consumer, stats, mode);
  // The producer puts straight to the queue actor whose handle the queue
  // manager returned for the consume request.
  auto q = start_consumer(self, bs.qm, name, c, o.prefetch, mode).first;
  auto p = bs.sys->spawn(bench_producer, stats, std::vector<queue_actor>{q},
                         o.messages, o.batch, o.window, o.body);
  await_run(*stats, o, "put");
  auto secs = stats->seconds();
  auto rate = static_cast<double>(o.messages) / secs;
  std::cout << "put-to-consume, 1 queue, ack " << mode_name(mode) << ": "
            << with_commas(static_cast<uint64_t>(rate)) << " msg/s  ("
            << with_commas(o.messages) << " msgs of " << o.body << " B in "
            << fixed(secs, 3) << " s; batch " << o.batch << ", window "
            << o.window << ", prefetch " << o.prefetch << ", "
            << bs.threads() << " threads; avg delivery "
            << fixed(static_cast<double>(o.messages)
                       / static_cast<double>(stats->deliveries.load()),
                     1)
            << " msgs; peak backlog " << with_commas(stats->peak_backlog)
            << "; peak RSS " << mib(rss_bytes()) << ")" << std::endl;
  bs.shutdown({p.address(), c.address()});
  return 0;
}

// -- section: fanout --------------------------------------------------------------

int run_fanout(const options& o) {
  bench_system bs{o};
  caf::scoped_actor self{*bs.sys};
  auto nq = o.queues;
  auto per_queue = o.fan_messages / nq;
  if (per_queue == 0)
    die("fanout: fewer messages than queues");
  auto stats = std::make_shared<run_stats>();
  stats->expected = per_queue * nq;
  std::vector<caf::actor_addr> actors;
  std::vector<queue_actor> handles;
  auto t0 = steady::now();
  for (uint64_t i = 0; i < nq; ++i) {
    auto name = queue_name("BENCH.FAN", i);
    define_queue(self, bs.qm, name, big_queue());
    auto c = bs.sys->spawn(bench_consumer, stats, ack_mode::automatic);
    actors.push_back(c.address());
    handles.push_back(
      start_consumer(self, bs.qm, name, c, o.prefetch, ack_mode::automatic)
        .first);
  }
  auto setup = seconds_since(t0);
  // Producer k feeds queues k, k + P, k + 2P, ...
  std::vector<std::vector<queue_actor>> feeds(o.producers);
  for (uint64_t i = 0; i < nq; ++i)
    feeds[i % o.producers].push_back(handles[i]);
  for (auto& feed : feeds) {
    auto p = bs.sys->spawn(bench_producer, stats, std::move(feed), per_queue,
                           o.batch, o.fan_window, o.body);
    actors.push_back(p.address());
  }
  await_run(*stats, o, "fanout");
  auto secs = stats->seconds();
  auto rate = static_cast<double>(stats->expected) / secs;
  std::cout << "put-to-consume, " << with_commas(nq) << " queues, ack "
            << "automatic: " << with_commas(static_cast<uint64_t>(rate))
            << " msg/s total  (" << with_commas(stats->expected)
            << " msgs of " << o.body << " B in " << fixed(secs, 3) << " s; "
            << with_commas(o.producers) << " producers, " << with_commas(nq)
            << " consumers; batch " << o.batch << ", window " << o.fan_window
            << "/queue, prefetch " << o.prefetch << ", " << bs.threads()
            << " threads; avg delivery "
            << fixed(static_cast<double>(stats->expected)
                       / static_cast<double>(stats->deliveries.load()),
                     1)
            << " msgs; setup " << fixed(setup, 2) << " s; peak RSS "
            << mib(rss_bytes()) << ")" << std::endl;
  bs.shutdown(actors);
  return 0;
}

// -- section: idle ------------------------------------------------------------------

struct definer_state {
  static inline const char* name = "bench.definer";
  definer_state() = default;
  queue_manager_actor qm;
  uint64_t count = 0;
  uint64_t next = 0;
  uint64_t replied = 0;
  bool failed = false;
  std::shared_ptr<std::promise<std::string>> done;
};

void define_next(caf::stateful_actor<definer_state>* self) {
  auto& st = self->state;
  if (st.failed || st.next >= st.count)
    return;
  auto name = queue_name("IDLE", st.next++);
  self->request(st.qm, caf::infinite, atom::define_v, name, attr_map{})
    .then(
      [self](queue_status&) {
        auto& st = self->state;
        if (++st.replied == st.count && !st.failed)
          st.done->set_value({});
        else
          define_next(self);
      },
      [self](caf::error& e) {
        auto& st = self->state;
        if (!st.failed) {
          st.failed = true;
          st.done->set_value("define: " + self->system().render(e));
        }
      });
}

/// Defines queues IDLE.0000000 ... with at most `window` define requests
/// outstanding; fulfils `done` with the empty string or the first error.
caf::behavior definer(caf::stateful_actor<definer_state>* self,
                      queue_manager_actor qm, uint64_t count, uint32_t window,
                      std::shared_ptr<std::promise<std::string>> done) {
  auto& st = self->state;
  st.qm = std::move(qm);
  st.count = count;
  st.done = std::move(done);
  for (uint32_t i = 0; i < window; ++i)
    define_next(self);
  return {
    [](atom::ok) {},
  };
}

int run_idle(const options& o) {
  bench_system bs{o};
  caf::scoped_actor self{*bs.sys};
  // Let the system and the queue manager settle (its dead-letter queue
  // exists once status answers).
  self->request(bs.qm, caf::infinite, atom::status_v)
    .receive([](qm_status&) {},
             [&](caf::error& e) { die("status: " + bs.sys->render(e)); });
  std::this_thread::sleep_for(200ms);
  auto before = rss_bytes();
  auto t0 = steady::now();
  auto done = std::make_shared<std::promise<std::string>>();
  auto fut = done->get_future();
  auto d = bs.sys->spawn(definer, bs.qm, o.idle_queues, o.define_window, done);
  if (fut.wait_for(std::chrono::seconds(o.timeout_s))
      != std::future_status::ready)
    die("idle: defines did not finish in time");
  if (auto e = fut.get(); !e.empty())
    die("idle: " + e);
  auto define_secs = seconds_since(t0);
  uint64_t count = 0;
  self->request(bs.qm, caf::infinite, atom::status_v)
    .receive([&](qm_status& s) { count = s.queue_count; },
             [&](caf::error& e) { die("status: " + bs.sys->render(e)); });
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
  std::cout << "idle queues: " << with_commas(o.idle_queues) << " queues, "
            << with_commas(static_cast<uint64_t>(per_queue))
            << " bytes/queue, " << mib(grown) << " total  (VmRSS "
            << mib(before) << " -> " << mib(after) << "; queue manager holds "
            << with_commas(count) << " queues incl. the dead-letter queue; "
            << "defined in " << fixed(define_secs, 2) << " s = "
            << with_commas(static_cast<uint64_t>(
                 static_cast<double>(o.idle_queues) / define_secs))
            << " defines/s, " << bs.threads() << " threads)" << std::endl;
  auto t1 = steady::now();
  bs.shutdown({d.address()});
  std::cout << "  (shutdown of " << with_commas(count) << " queue actors took "
            << fixed(seconds_since(t1), 2) << " s)" << std::endl;
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
    for (auto section : {"put-auto", "put-client", "fanout", "idle"})
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
  return run_idle(o);
}
