// qmesh-bench --transport native: the scenarios over qmesh's own protocol
// through the C++ client library (client/client.hpp), qmesh only. The
// bodies, checks and figures are those of the STOMP scenarios
// (stomp_driver.cpp); what differs is how the client drives the node:
//
//   p2p, mxm, cluster  one producer thread per queue puts batches of 64
//            (put_many, one round trip each) through an open queue handle,
//            staying at most 50,000 messages ahead of the slowest consumer.
//            A consumer is a client consumer (prefetch --prefetch); with
//            --ack client-individual (or client) it acks every delivery,
//            one ack call each. msg/s = received / (first put .. last
//            receive).
//   persistent  --in-flight K puts in flight = K producer threads on one
//            client, each putting its share one persistent message at a
//            time (the put returns once the node has it); confirmed msg/s
//            and put round trip p50 .. max; one consumer drains.
//   fanout   N subscriptions (managed queues), each consumed; one producer
//            thread publishes one message at a time.
//   latency  one producer thread puts at --rate on an absolute schedule,
//            the body carries the intended send time; the consumer
//            measures from it into the histogram (no coordinated omission).
//   cluster  the producer's client is connected to this node (--host,
//            --native-port) and puts to <--remote-qm>/<queue>; the
//            consumer's client is connected to the remote node
//            (--remote-host, --remote-port = its native port).
// Every consumer checks exactly-once and per-producer order; loss shows as
// --timeout seconds without a delivery anywhere.
#include "tools/bench/native_driver.hpp"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "client/client.hpp"
#include "tools/bench/report.hpp"

namespace qmesh::bench {

namespace {

constexpr size_t put_batch = 64;
constexpr uint64_t native_backlog = 50'000;

/// A body like the STOMP ones: sequence number, second word, padding.
std::string make_body(size_t size, uint64_t seq, uint64_t word) {
  std::string body(size, 'x');
  std::memcpy(body.data(), &seq, sizeof seq);
  std::memcpy(body.data() + sizeof seq, &word, sizeof word);
  return body;
}

qmesh::message make_message(size_t size, uint64_t seq, uint64_t word,
                            bool persistent) {
  auto m = qmesh::client::text(make_body(size, seq, word));
  m.persistent = static_cast<int8_t>(persistent ? qmesh::persistence::yes
                                                : qmesh::persistence::no);
  return m;
}

/// What the threads of a native run share: progress for the backlog limit
/// and the watchdog, and the first failure.
struct shared_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<uint64_t> received;     // per consumer
  std::atomic<uint64_t> put{0};       // messages put, all producers
  std::atomic<uint64_t> confirmed{0}; // persistent: puts returned
  std::atomic<clock_type::rep> last_progress{0};
  std::string error;

  void kick() {
    last_progress.store(clock_type::now().time_since_epoch().count(),
                        std::memory_order_relaxed);
  }

  uint64_t slowest() {
    std::lock_guard guard{mtx};
    uint64_t low = UINT64_MAX;
    for (auto n : received)
      low = std::min(low, n);
    return received.empty() ? UINT64_MAX : low;
  }

  uint64_t total_received() {
    std::lock_guard guard{mtx};
    uint64_t sum = 0;
    for (auto n : received)
      sum += n;
    return sum;
  }

  void fail(const std::string& what) {
    {
      std::lock_guard guard{mtx};
      if (error.empty())
        error = what;
    }
    cv.notify_all();
  }

  bool failed() {
    std::lock_guard guard{mtx};
    return !error.empty();
  }
};

/// One consumer: its checks, latencies and the time of its last delivery.
struct native_consumer {
  std::mutex mtx; // the consumer thread writes, the run reads
  std::optional<order_check> check;
  histogram latencies_ns;
  clock_type::time_point last_receive;
  uint64_t id = 0;
};

/// Runs `body` on a thread; an exception becomes the run's failure.
std::thread guarded_thread(shared_state& st, std::string role,
                           std::function<void()> body) {
  return std::thread([&st, role = std::move(role), body = std::move(body)] {
    try {
      body();
    } catch (const std::exception& e) {
      st.fail(role + ": " + e.what());
    }
  });
}

qmesh::client connect_to(const options& o, const std::string& host,
                         uint16_t port) {
  qmesh::client_options co;
  co.timeout = std::chrono::seconds(o.timeout_s);
  if (o.login)
    co.user = *o.login;
  if (o.passcode)
    co.password = *o.passcode;
  return qmesh::client::connect(host, port, co);
}

/// Defines `name` unless it exists (2100).
void define_queue(qmesh::client& c, const std::string& name) {
  try {
    c.define(name);
  } catch (const qmesh::client_error& e) {
    if (e.code() != 2100)
      throw;
  }
}

/// Starts consuming `queue` into `nc` (`sent`: messages per producer;
/// `producers` > 0: the second word names the producer; `latency`: it is
/// the intended send time).
void start_consumer(qmesh::client& c, shared_state& st, size_t index,
                    const std::string& queue, native_consumer& nc,
                    const std::vector<uint64_t>& sent, size_t size,
                    bool client_ack, bool latency, size_t producers,
                    uint32_t prefetch) {
  nc.check.emplace(sent);
  auto mode = client_ack ? qmesh::ack_mode::client
                         : qmesh::ack_mode::automatic;
  nc.id = c.consume(
    queue,
    [&c, &st, &nc, index, size, client_ack, latency,
     producers](qmesh::delivery& d) {
      auto now = clock_type::now();
      auto now_stamp = now_ns();
      uint64_t received = 0;
      {
        std::lock_guard guard{nc.mtx};
        const auto& body = d.msg.body;
        if (body.size() != size) {
          nc.check->see(UINT64_MAX, 0); // never sent: a duplicate
        } else {
          uint64_t seq = 0, word = 0;
          std::memcpy(&seq, body.data(), sizeof seq);
          std::memcpy(&word, body.data() + sizeof seq, sizeof word);
          bool fresh = nc.check->see(producers > 0 ? word : 0, seq);
          if (fresh && latency)
            nc.latencies_ns.record(now_stamp > word ? now_stamp - word : 0);
        }
        nc.last_receive = now;
        received = nc.check->received();
      }
      if (client_ack)
        c.ack(d);
      {
        std::lock_guard guard{st.mtx};
        st.received[index] = received;
      }
      st.kick();
      st.cv.notify_all();
    },
    prefetch, mode);
}

/// Waits until every consumer is complete; throws after --timeout seconds
/// without progress or on a failure.
void await_consumers(const options& o, shared_state& st,
                     std::vector<std::unique_ptr<native_consumer>>& cs) {
  auto complete = [&] {
    for (auto& nc : cs) {
      std::lock_guard guard{nc->mtx};
      if (!nc->check->complete())
        return false;
    }
    return true;
  };
  std::unique_lock guard{st.mtx};
  for (;;) {
    if (!st.error.empty())
      throw bench_error(st.error);
    guard.unlock();
    bool done = complete();
    guard.lock();
    if (done)
      return;
    st.cv.wait_for(guard, std::chrono::milliseconds(200));
    clock_type::time_point last{
      clock_type::duration{st.last_progress.load(std::memory_order_relaxed)}};
    if (clock_type::now() - last >= std::chrono::seconds(o.timeout_s))
      throw bench_error("no progress for " + std::to_string(o.timeout_s)
                        + " s");
  }
}

check_counts sum_native(std::vector<std::unique_ptr<native_consumer>>& cs) {
  check_counts total;
  for (auto& nc : cs) {
    std::lock_guard guard{nc->mtx};
    if (nc->check)
      total += nc->check->counts();
  }
  return total;
}

/// Waits until the puts are fewer than native_backlog ahead of the
/// slowest consumer.
void hold_back(shared_state& st, uint64_t ahead_of) {
  std::unique_lock guard{st.mtx};
  st.cv.wait_for(guard, std::chrono::seconds(1), [&] {
    if (!st.error.empty())
      return true;
    uint64_t low = UINT64_MAX;
    for (auto n : st.received)
      low = std::min(low, n);
    return st.received.empty() || ahead_of < low + native_backlog;
  });
  if (!st.error.empty())
    throw bench_error("aborted");
}

} // namespace

result run_native(const options& o, const bench_case& bc, uint64_t run_id,
                  const std::string& label, check_counts& chk) {
  auto tag = std::to_string(::getpid()) + "." + std::to_string(run_id);
  bool persistent = bc.what == kind::persistent;
  bool fanout = bc.what == kind::fanout;
  bool mxm = bc.what == kind::mxm;
  bool cluster = bc.what == kind::cluster;
  bool latency = bc.what == kind::latency;
  size_t pubs = mxm ? bc.producers : persistent ? bc.in_flight : 1;
  size_t subs = fanout ? bc.subscribers : mxm ? bc.producers : 1;
  // per consumer: messages per producer it hears from
  std::vector<std::vector<uint64_t>> sent(subs);
  std::vector<uint64_t> per_pub(pubs);
  for (size_t p = 0; p < pubs; ++p)
    per_pub[p] = share(bc.messages, pubs, p);
  for (size_t i = 0; i < subs; ++i)
    sent[i] = mxm ? std::vector<uint64_t>{per_pub[i]}
              : persistent ? per_pub
                           : std::vector<uint64_t>{bc.messages};
  chk = {};
  for (auto& v : sent)
    for (auto n : v)
      chk.expected += n;
  chk.lost = chk.expected;
  auto producer_client = connect_to(o, o.host, o.native_port);
  auto consumer_client = cluster ? connect_to(o, o.remote_host,
                                              *o.remote_port)
                                 : connect_to(o, o.host, o.native_port);
  // queue names: what the producers put to, what the consumers read
  std::vector<std::string> queues(subs), targets(pubs);
  std::vector<std::string> subscriptions;
  auto topic = "bench/" + std::to_string(::getpid()) + "/"
               + std::to_string(run_id);
  for (size_t i = 0; i < subs; ++i) {
    if (fanout) {
      auto info = consumer_client.subscribe(topic);
      queues[i] = info.queue;
      subscriptions.push_back(info.name);
    } else {
      queues[i] = "BENCH.native." + tag + (mxm ? "." + std::to_string(i) : "");
      define_queue(consumer_client, queues[i]);
    }
  }
  for (size_t p = 0; p < pubs; ++p)
    targets[p] = fanout  ? topic
                 : mxm   ? queues[p]
                 : cluster ? o.remote_qm + "/" + queues[0]
                           : queues[0];
  shared_state st;
  st.received.assign(subs, 0);
  st.kick();
  std::vector<std::unique_ptr<native_consumer>> cs;
  bool client_ack = bc.ack != "auto" && !persistent;
  for (size_t i = 0; i < subs; ++i) {
    cs.push_back(std::make_unique<native_consumer>());
    start_consumer(consumer_client, st, i, queues[i], *cs.back(), sent[i],
                   bc.size, client_ack, latency, persistent ? pubs : 0,
                   static_cast<uint32_t>(o.prefetch));
  }
  std::vector<clock_type::time_point> starts(pubs);
  std::vector<histogram> put_latency(persistent ? pubs : 0);
  std::vector<clock_type::time_point> last_confirm(pubs);
  clock_type::time_point last_sent;
  std::string failure;
  {
    progress_meter meter{!o.quiet, label, [&] {
                           return persistent ? st.confirmed.load()
                                             : st.total_received();
                         }};
    std::vector<std::thread> threads;
    for (size_t p = 0; p < pubs; ++p)
      threads.push_back(guarded_thread(st, "producer " + std::to_string(p + 1),
                                       [&, p] {
        auto& c = producer_client;
        auto n = per_pub[p];
        starts[p] = clock_type::now();
        if (persistent) {
          auto h = c.open(targets[p]);
          for (uint64_t seq = 0; seq < n; ++seq) {
            hold_back(st, st.put.load());
            auto t0 = clock_type::now();
            h.put(make_message(bc.size, seq, p, true));
            auto t1 = clock_type::now();
            put_latency[p].record(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                .count()));
            last_confirm[p] = t1;
            ++st.put;
            ++st.confirmed;
            st.kick();
          }
        } else if (latency) {
          auto h = c.open(targets[p]);
          auto t0 = clock_type::now();
          auto t0_ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
              t0.time_since_epoch())
              .count());
          starts[p] = t0;
          for (uint64_t seq = 0; seq < n; ++seq) {
            auto offset = static_cast<uint64_t>(
              static_cast<double>(seq) * 1e9 / static_cast<double>(bc.rate));
            std::this_thread::sleep_until(t0
                                          + std::chrono::nanoseconds(offset));
            h.put(make_message(bc.size, seq, t0_ns + offset, false));
            last_sent = clock_type::now();
            ++st.put;
            st.kick();
          }
        } else if (fanout) {
          for (uint64_t seq = 0; seq < n; ++seq) {
            hold_back(st, seq);
            c.publish(targets[p], make_message(bc.size, seq, 0, false));
            ++st.put;
            st.kick();
          }
        } else {
          auto h = c.open(targets[p]);
          std::vector<qmesh::message> batch;
          for (uint64_t seq = 0; seq < n;) {
            hold_back(st, mxm ? st.put.load() / pubs : seq);
            auto k = std::min<uint64_t>(put_batch, n - seq);
            batch.clear();
            for (uint64_t j = 0; j < k; ++j)
              batch.push_back(make_message(bc.size, seq + j, 0, false));
            h.put_many(std::move(batch));
            batch = {};
            seq += k;
            st.put += k;
            st.kick();
          }
        }
      }));
    try {
      await_consumers(o, st, cs);
    } catch (const bench_error& e) {
      failure = e.what();
      st.fail(failure);
    }
    for (auto& t : threads)
      t.join();
  }
  for (auto& nc : cs)
    consumer_client.cancel(nc->id);
  chk = sum_native(cs);
  if (failure.empty() && st.failed())
    failure = st.error;
  if (!failure.empty())
    throw bench_error(failure);
  for (auto& name : subscriptions)
    consumer_client.unsubscribe(name);
  if (!fanout)
    for (auto& q : queues)
      if (!cluster)
        consumer_client.delete_queue(q, true);
  // messages after the last expected one show up as duplicates meanwhile
  chk = sum_native(cs);
  if (!chk.ok())
    throw bench_error(std::to_string(chk.lost) + " lost, "
                      + std::to_string(chk.duplicates) + " duplicates, "
                      + std::to_string(chk.reordered) + " reordered of "
                      + std::to_string(chk.expected) + " messages");
  result r;
  auto start = *std::min_element(starts.begin(), starts.end());
  auto last = start;
  for (auto& nc : cs) {
    r.delivered += nc->check->received();
    last = std::max(last, nc->last_receive);
  }
  r.published = bc.messages;
  r.seconds = seconds_between(start, last);
  if (persistent) {
    histogram all;
    auto last_c = start;
    for (size_t p = 0; p < pubs; ++p) {
      all.merge(put_latency[p]);
      last_c = std::max(last_c, last_confirm[p]);
    }
    r.lat = summarize(all);
    r.seconds = seconds_between(start, last_c);
    r.pub_rate = static_cast<double>(bc.messages) / r.seconds;
    r.mb_rate = r.pub_rate * static_cast<double>(bc.size) / 1e6;
    r.deliv_rate = static_cast<double>(r.delivered)
                   / seconds_between(start, cs[0]->last_receive);
    return r;
  }
  if (latency) {
    r.lat = summarize(cs[0]->latencies_ns);
    r.pub_rate = static_cast<double>(bc.messages - 1)
                 / seconds_between(start, last_sent);
  } else {
    r.pub_rate = static_cast<double>(r.published) / r.seconds;
  }
  r.deliv_rate = static_cast<double>(r.delivered) / r.seconds;
  r.mb_rate = r.deliv_rate * static_cast<double>(bc.size) / 1e6;
  return r;
}

} // namespace qmesh::bench
