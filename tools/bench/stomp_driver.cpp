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
//            The body carries the steady_clock time the message was due
//            (start + seq / rate); the consumer takes (time of the read that
//            brought the message - due time), free of coordinated omission,
//            into a log-linear histogram (histogram.hpp). Reports
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
#include "tools/bench/stomp_driver.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "tools/bench/report.hpp"
#include "tools/bench/run_state.hpp"
#include "tools/bench/stomp_connection.hpp"

namespace qmesh::bench {

namespace {

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
/// write each; only the last has a receipt. The body carries the message's
/// intended send time (start + seq / rate), not the time of its write: a
/// producer that falls behind (a blocked write) sends late, and the
/// consumer still measures from when the message was due, so the stall
/// shows in the latency of every message it delayed (no coordinated
/// omission). Sets `start` / `last_sent` to the first / last write.
void produce_paced(connection& c, run_state& st, const send_encoder& enc,
                   uint64_t n,
                   uint64_t rate, clock_type::time_point& start,
                   clock_type::time_point& last_sent) {
  std::string buf;
  buf.reserve(enc.frame_size());
  auto t0 = clock_type::now();
  auto t0_ns = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch())
      .count());
  for (uint64_t seq = 0; seq < n; ++seq) {
    auto offset = static_cast<uint64_t>(static_cast<double>(seq) * 1e9
                                        / static_cast<double>(rate));
    auto due = t0 + std::chrono::nanoseconds(offset);
    std::this_thread::sleep_until(due);
    buf.clear();
    enc.append(buf, seq, t0_ns + offset, seq + 1 == n ? n : 0);
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
  histogram latencies_ns;              // send -> receipt, per message
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
      r.latencies_ns.record(static_cast<uint64_t>(
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
  std::optional<order_check> check;
  clock_type::time_point last_receive;
  histogram latencies_ns; // latency runs only: intended send -> read

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
  while (!chk.complete()) {
    frames.clear();
    c.read(frames);
    auto now = clock_type::now();
    auto now_stamp = now_ns();
    for (const auto& f : frames) {
      uint64_t sent_ns = 0;
      if (record(chk, f, size, producers, sent_ns) && measure_latency)
        r.latencies_ns.record(now_stamp > sent_ns ? now_stamp - sent_ns : 0);
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
    case kind::cluster:
      return "/queue/BENCH.cluster." + pid + "." + run;
    case kind::p2p:
    case kind::idle_queues:
    case kind::idle_subscriptions:
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
    r.lat = summarize(got[0].latencies_ns);
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
  histogram latencies;
  for (auto& p : sent) {
    r.published += p.confirmed;
    start = std::min(start, p.start);
    last = std::max(last, p.last_receipt);
    latencies.merge(p.latencies_ns);
  }
  r.seconds = seconds_between(start, last);
  r.pub_rate = static_cast<double>(r.published) / r.seconds;
  r.mb_rate = r.pub_rate * static_cast<double>(bc.size) / 1e6;
  r.lat = summarize(latencies);
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
} // namespace

result run_stomp(const options& o, const bench_case& bc, uint64_t run_id,
                 const std::string& label, check_counts& chk) {
  if (bc.what == kind::persistent)
    return run_persistent(o, bc, run_id, label, chk);
  if (bc.what == kind::idle_queues || bc.what == kind::idle_subscriptions)
    return run_idle(o, bc, run_id, label, chk);
  // cluster: the consumer on the remote node takes its local queue, the
  // producer here puts to <remote QM>/<that queue>
  bool cluster = bc.what == kind::cluster;
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
    consumers.push_back(cluster ? open_connection(o, dog, &o.remote_host,
                                                  *o.remote_port)
                                : open_connection(o, dog));
    subscribe(*consumers.back(), o, destination_for(o, bc, run_id, i), bc.ack,
              o.prefetch);
  }
  std::vector<std::unique_ptr<connection>> producers;
  std::vector<send_encoder> encoders;
  for (size_t i = 0; i < pubs; ++i) {
    producers.push_back(open_connection(o, dog));
    auto dest = destination_for(o, bc, run_id, i);
    if (cluster)
      dest.insert(std::string_view{"/queue/"}.size(), o.remote_qm + "/");
    encoders.emplace_back(dest, bc.size);
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

} // namespace qmesh::bench
