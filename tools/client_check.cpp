// qmesh-client-check — a test helper that drives the client library against
// a running node (used by tests/integration).
//
//   qmesh-client-check HOST:PORT api PREFIX
//       Runs every client-library check on queues named PREFIX.*; prints
//       `ok NAME` per check and exits 0, or prints `FAIL NAME: why` and
//       exits 1.
//   qmesh-client-check HOST:PORT hold QUEUE N
//       Consumes QUEUE with client acknowledgement and prefetch N, prints
//       `held N` once N messages arrived, and then waits forever without
//       acking (the test kills it).
//   qmesh-client-check HOST:PORT watch QUEUE
//       Consumes QUEUE, prints `consuming`, then `disconnected` and the
//       reason a call then fails with once the connection is lost.
//   qmesh-client-check HOST:PORT connect
//       Connects and prints the queue manager's name (exit 1 with the
//       reason on failure).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"

using namespace std::chrono_literals;
using qmesh::client;
using qmesh::client_error;

namespace {

struct check_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      throw check_failed(std::string{#cond} + " (line "                        \
                         + std::to_string(__LINE__) + ")");                    \
  } while (false)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    auto va_ = (a);                                                            \
    auto vb_ = (b);                                                            \
    if (!(va_ == vb_)) {                                                       \
      std::ostringstream os_;                                                  \
      os_ << #a << " == " << #b << ": " << va_ << " != " << vb_ << " (line "   \
          << __LINE__ << ")";                                                  \
      throw check_failed(os_.str());                                           \
    }                                                                          \
  } while (false)

/// Runs f, which must throw client_error with `code`.
template <class F>
void expect_reason(int code, F f, int line) {
  try {
    f();
  } catch (const client_error& e) {
    if (e.code() != code)
      throw check_failed("expected reason " + std::to_string(code) + ", got "
                         + e.what() + " (line " + std::to_string(line) + ")");
    return;
  }
  throw check_failed("expected reason " + std::to_string(code)
                     + ", got success (line " + std::to_string(line) + ")");
}

#define EXPECT_REASON(code, stmt) expect_reason(code, [&] { stmt; }, __LINE__)

/// Waits for a condition with a deadline (no sleeps as synchronisation).
struct latch {
  std::mutex mtx;
  std::condition_variable cv;

  template <class Pred>
  bool wait_for(std::chrono::milliseconds limit, Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, limit, pred);
  }

  template <class F>
  void update(F f) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      f();
    }
    cv.notify_all();
  }
};

qmesh::message text(std::string body, int priority = -1) {
  auto m = client::text(std::move(body));
  m.priority = static_cast<int8_t>(priority);
  return m;
}

struct api_checks {
  client& c;
  std::string host;
  uint16_t port;
  std::string p; // queue-name prefix

  std::string q(const std::string& suffix) const {
    return p + "." + suffix;
  }

  void connect_info() {
    CHECK(!c.qmgr().name.empty());
    CHECK(!c.qmgr().version.empty());
    auto st = c.status();
    CHECK_EQ(st.name, c.qmgr().name);
  }

  void admin() {
    auto name = q("ADMIN");
    auto st = c.define(name, {{"max_depth", "5"}, {"description", "t"}});
    CHECK_EQ(st.attrs.max_depth, 5u);
    EXPECT_REASON(2100, c.define(name));
    st = c.set(name, {{"max_depth", "7"}});
    CHECK_EQ(c.inquire(name).attrs.max_depth, 7u);
    EXPECT_REASON(2067, c.set(name, {{"current_depth", "1"}}));
    EXPECT_REASON(2046, c.set(name, {{"max_depth", "0"}}));
    CHECK_EQ(c.inquire(name).attrs.max_depth, 7u);
    auto found = c.list(p + ".ADM*");
    CHECK_EQ(found.size(), 1u);
    CHECK_EQ(found[0].name, name);
    c.put(name, text("x"));
    c.put(name, text("y"));
    CHECK_EQ(c.purge(name), 2u);
    c.put(name, text("z"));
    EXPECT_REASON(2055, c.delete_queue(name));
    CHECK_EQ(c.delete_queue(name, true), 1u);
    EXPECT_REASON(2085, c.inquire(name));
    EXPECT_REASON(2152, c.define("bad name!"));
    EXPECT_REASON(2152, c.put("a/b/c", text("x")));
  }

  void put_get_order() {
    auto name = q("ORDER");
    c.define(name);
    c.put1(name, text("low1", 1));
    c.put(name, text("high", 9));
    c.put(name, text("low2", 1));
    std::vector<qmesh::message> batch;
    for (int i = 0; i < 100; ++i)
      batch.push_back(text("b" + std::to_string(i), 0));
    CHECK_EQ(c.put_many(name, std::move(batch)), 100u);
    CHECK_EQ(c.get(name).body, "high");
    CHECK_EQ(c.get(name).body, "low1");
    CHECK_EQ(c.get(name).body, "low2");
    for (int i = 0; i < 100; ++i)
      CHECK_EQ(c.get(name).body, "b" + std::to_string(i));
    CHECK(!c.try_get(name));
    EXPECT_REASON(2033, c.get(name));
    EXPECT_REASON(2050, c.put(name, text("x", 12)));
  }

  void open_handle() {
    auto name = q("OPEN");
    c.define(name);
    {
      auto h = c.open(name);
      CHECK_EQ(c.inquire(name).open_output_count, 1u);
      auto id = h.put(text("one"));
      CHECK(!id.empty());
      std::vector<qmesh::message> batch{text("two"), text("three")};
      CHECK_EQ(h.put_many(std::move(batch)), 2u);
      CHECK_EQ(c.inquire(name).current_depth, 3u);
    }
    CHECK_EQ(c.inquire(name).open_output_count, 0u);
    auto h = c.open(name);
    h.close();
    EXPECT_REASON(qmesh::client_rc::hconn_error, h.put(text("x")));
    CHECK_EQ(c.get(name).body, "one");
    c.purge(name);
  }

  void waiting_get() {
    auto name = q("WAIT");
    c.define(name);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_REASON(2033, c.get(name, client::wait(300)));
    CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
    // A put from another client during the wait ends it.
    std::string got;
    std::thread getter{[&] {
      try {
        got = c.get(name, client::wait(20'000)).body;
      } catch (const std::exception& e) {
        got = std::string{"error: "} + e.what();
      }
    }};
    // A put from a second connection: whether it lands before or during
    // the getter's wait, the get returns it.
    auto other = client::connect(host, port);
    other.put(name, text("late"));
    getter.join();
    CHECK_EQ(got, "late");
  }

  void browse_and_match() {
    auto name = q("BROWSE");
    c.define(name);
    auto a = c.put(name, text("a"));
    auto m = text("b");
    m.correl_id = "corr-b";
    auto b = c.put(name, std::move(m));
    c.put(name, text("c"));
    qmesh::get_options opts;
    opts.browse = static_cast<uint8_t>(qmesh::browse_mode::first);
    auto first = c.get(name, opts);
    CHECK_EQ(first.body, "a");
    opts.browse = static_cast<uint8_t>(qmesh::browse_mode::next);
    opts.browse_cursor = first.tag;
    auto second = c.get(name, opts);
    CHECK_EQ(second.body, "b");
    CHECK_EQ(c.inquire(name).current_depth, 3u);
    qmesh::get_options by_id;
    by_id.match_msg_id = b;
    CHECK_EQ(c.get(name, by_id).body, "b");
    qmesh::get_options by_correl;
    by_correl.match_correl_id = "corr-b";
    EXPECT_REASON(2033, c.get(name, by_correl));
    by_id.match_msg_id = a;
    auto got = c.get(name, by_id);
    CHECK_EQ(got.body, "a");
    CHECK(got.id == a);
    CHECK_EQ(c.get(name).body, "c");
  }

  void consume_automatic() {
    auto name = q("AUTO");
    c.define(name);
    std::vector<qmesh::message> batch;
    for (int i = 0; i < 200; ++i)
      batch.push_back(text(std::to_string(i)));
    c.put_many(name, std::move(batch));
    latch l;
    std::vector<std::string> seen;
    auto id = c.consume(
      name,
      [&](qmesh::delivery& d) { l.update([&] { seen.push_back(d.msg.body); }); },
      16, qmesh::ack_mode::automatic);
    CHECK(l.wait_for(10s, [&] { return seen.size() >= 200; }));
    c.cancel(id);
    for (int i = 0; i < 200; ++i)
      CHECK_EQ(seen[i], std::to_string(i));
    auto st = c.inquire(name);
    CHECK_EQ(st.current_depth, 0u);
    CHECK_EQ(st.consumer_count, 0u);
  }

  void consume_client_ack() {
    auto name = q("ACK");
    c.define(name);
    c.put(name, text("one"));
    c.put(name, text("two"));
    latch l;
    std::vector<qmesh::delivery> seen;
    auto id = c.consume(
      name,
      [&](qmesh::delivery& d) { l.update([&] { seen.push_back(d); }); }, 10,
      qmesh::ack_mode::client);
    CHECK(l.wait_for(10s, [&] { return seen.size() >= 2; }));
    CHECK_EQ(c.inquire(name).unacked_count, 2u);
    CHECK_EQ(c.ack(seen[0]), 1u);
    // nack with requeue: "two" comes back redelivered.
    CHECK_EQ(c.nack(seen[1], true), 1u);
    CHECK(l.wait_for(10s, [&] { return seen.size() >= 3; }));
    CHECK_EQ(seen[2].msg.body, "two");
    CHECK(seen[2].msg.redelivered());
    CHECK_EQ(seen[2].msg.delivery_count, 1u);
    EXPECT_REASON(2019, c.ack(seen[2].consumer, 99, 99));
    // Cancel with an unacked delivery: it returns to the queue.
    c.cancel(id);
    auto back = c.get(name);
    CHECK_EQ(back.body, "two");
    CHECK_EQ(back.delivery_count, 2u);
    EXPECT_REASON(2019, c.cancel(id));
  }

  void consume_callback_acks() {
    // The callback may call back into the client.
    auto name = q("CBACK");
    c.define(name);
    for (int i = 0; i < 50; ++i)
      c.put(name, text(std::to_string(i)));
    latch l;
    size_t acked = 0;
    auto id = c.consume(
      name,
      [&](qmesh::delivery& d) {
        auto n = c.ack(d);
        l.update([&] { acked += n; });
      },
      5, qmesh::ack_mode::client);
    CHECK(l.wait_for(10s, [&] { return acked >= 50; }));
    c.cancel(id);
    CHECK_EQ(c.inquire(name).current_depth, 0u);
  }

  void cancel_in_callback() {
    // A callback may cancel its own consumer; its unacked delivery returns.
    auto name = q("CANCEL");
    c.define(name);
    c.put(name, text("first"));
    c.put(name, text("second"));
    latch l;
    int calls = 0;
    std::string error;
    c.consume(
      name,
      [&](qmesh::delivery& d) {
        try {
          c.cancel(d.consumer);
        } catch (const std::exception& e) {
          error = e.what();
        }
        l.update([&] { ++calls; });
      },
      1, qmesh::ack_mode::client);
    CHECK(l.wait_for(10s, [&] { return calls >= 1; }));
    CHECK_EQ(error, "");
    auto st = c.inquire(name);
    CHECK_EQ(st.consumer_count, 0u);
    CHECK_EQ(st.unacked_count, 0u);
    auto back = c.get(name);
    CHECK_EQ(back.body, "first");
    CHECK_EQ(back.delivery_count, 1u);
    CHECK_EQ(calls, 1);
  }

  void concurrent_calls() {
    // One client, several threads: every call gets its own reply.
    auto name = q("THREADS");
    c.define(name);
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          try {
            auto body = std::to_string(t) + "-" + std::to_string(i);
            auto id = c.put(name, text(body));
            qmesh::get_options opts;
            opts.match_msg_id = id;
            opts.browse = static_cast<uint8_t>(qmesh::browse_mode::first);
            if (c.get(name, opts).body != body)
              ++errors;
          } catch (...) {
            ++errors;
          }
        }
      });
    for (auto& th : threads)
      th.join();
    CHECK_EQ(errors.load(), 0);
    CHECK_EQ(c.inquire(name).current_depth, 800u);
    c.purge(name);
  }

  void units_of_work() {
    auto name = q("UOW");
    c.define(name);
    auto uow = c.begin();
    c.put(name, text("in-uow"), uow);
    CHECK(!c.try_get(name));
    c.commit(uow);
    uow = c.begin();
    qmesh::get_options opts;
    opts.uow = uow;
    CHECK_EQ(c.get(name, opts).body, "in-uow");
    CHECK(!c.try_get(name));
    c.backout(uow);
    auto m = c.get(name);
    CHECK_EQ(m.body, "in-uow");
    CHECK_EQ(m.delivery_count, 1u);
    EXPECT_REASON(2255, c.commit(uow));
  }

  void pubsub() {
    auto sub = c.subscribe(p + "/news/+");
    CHECK(!sub.queue.empty());
    auto dur = c.subscribe(p + "/news/#", p + ".DUR");
    CHECK(dur.durable);
    CHECK_EQ(c.publish(p + "/news/today", text("hello")), 2u);
    CHECK_EQ(c.publish(p + "/sport", text("nothing")), 0u);
    CHECK_EQ(c.get(sub.queue, client::wait(5000)).body, "hello");
    CHECK_EQ(c.get(dur.queue, client::wait(5000)).body, "hello");
    // Retained: a new subscriber gets the last retained publication first.
    c.publish(p + "/state", text("v1"), true);
    c.publish(p + "/state", text("v2"), true);
    auto late = c.subscribe(p + "/state");
    CHECK_EQ(c.get(late.queue, client::wait(5000)).body, "v2");
    bool listed = false;
    for (auto& s : c.subscriptions())
      listed = listed || s.name == p + ".DUR";
    CHECK(listed);
    c.unsubscribe(p + ".DUR");
    EXPECT_REASON(2085, c.unsubscribe(p + ".DUR"));
    EXPECT_REASON(2425, c.publish("bad/#/topic", text("x")));
  }

  void async_calls() {
    auto name = q("ASYNC");
    // A small window: the calls beyond it wait for earlier ones.
    qmesh::client_options o;
    o.window = 4;
    auto a = client::connect(host, port, o);
    std::vector<std::future<qmesh::msg_id>> puts;
    for (int i = 0; i < 500; ++i)
      puts.push_back(a.put_async(name, text("a" + std::to_string(i))));
    std::vector<qmesh::msg_id> ids;
    for (auto& f : puts)
      ids.push_back(f.get());
    std::set<std::string> distinct;
    for (auto& id : ids)
      distinct.insert(qmesh::to_string(id));
    CHECK_EQ(distinct.size(), 500u);
    // Gets are served in call order: the queue's order.
    std::vector<std::future<std::optional<qmesh::message>>> gets;
    for (int i = 0; i < 501; ++i)
      gets.push_back(a.get_async(name));
    for (int i = 0; i < 500; ++i) {
      auto m = gets[static_cast<size_t>(i)].get();
      CHECK(m.has_value());
      CHECK_EQ(m->body, "a" + std::to_string(i));
      CHECK(m->id == ids[static_cast<size_t>(i)]);
    }
    CHECK(!gets.back().get().has_value()); // empty: nullopt, not 2033
    // Under a unit of work, and a waiting get that a later put satisfies.
    auto uow = a.begin();
    a.put_async(name, text("in-uow"), uow).get();
    CHECK(!c.try_get(name));
    a.commit(uow);
    CHECK_EQ(a.get_async(name).get()->body, "in-uow");
    auto waiting = a.get_async(name, client::wait(30'000));
    c.put(name, text("late"));
    CHECK_EQ(waiting.get()->body, "late");
    // The window holds: with one call in flight, the next call returns
    // only once that one completed (here a put the full queue holds for
    // 300 ms, then refuses).
    {
      qmesh::client_options one;
      one.window = 1;
      auto w = client::connect(host, port, one);
      auto full = q("ASYNC.FULL");
      w.define(full, {{"max_depth", "1"}});
      w.put(full, text("fills it"));
      auto held = text("held");
      held.put_wait_ms = 300;
      auto first = w.put_async(full, held);
      auto second = w.put_async(full, held);
      CHECK(first.wait_for(0s) == std::future_status::ready);
      EXPECT_REASON(2053, first.get());
      EXPECT_REASON(2053, second.get());
    }
    // The node's reasons arrive through the future.
    a.define(q("ASYNC.INH"), {{"put_inhibited", "true"}});
    auto refused = a.put_async(q("ASYNC.INH"), text("x"));
    EXPECT_REASON(2051, refused.get());
    EXPECT_REASON(2152, a.get_async("bad name!").get());
    // Closing completes what is still in flight with 2018; later calls
    // throw at once.
    auto forever = a.get_async(name, client::wait(qmesh::wait_unlimited));
    a.close();
    EXPECT_REASON(qmesh::client_rc::hconn_error, forever.get());
    EXPECT_REASON(qmesh::client_rc::hconn_error, a.put_async(name, text("y")));
  }

  void batch_gets() {
    auto name = q("MANY");
    std::vector<qmesh::message> msgs;
    for (int i = 0; i < 250; ++i)
      msgs.push_back(text("m" + std::to_string(i)));
    c.put_many(name, std::move(msgs));
    // Browse in batches: everything, in order, nothing removed.
    qmesh::get_options browse;
    browse.browse = static_cast<uint8_t>(qmesh::browse_mode::first);
    std::vector<std::string> seen;
    for (auto part = c.get_many(name, 100, browse); !part.empty();
         part = c.get_many(name, 100, browse)) {
      for (auto& m : part)
        seen.push_back(m.body);
      browse.browse = static_cast<uint8_t>(qmesh::browse_mode::next);
      browse.browse_cursor = part.back().tag;
    }
    CHECK_EQ(seen.size(), 250u);
    CHECK_EQ(seen[249], "m249");
    CHECK_EQ(c.inquire(name).current_depth, 250u);
    // Under a unit of work, taken and given back.
    auto uow = c.begin();
    qmesh::get_options in_uow;
    in_uow.uow = uow;
    CHECK_EQ(c.get_many(name, 100, in_uow).size(), 100u);
    c.backout(uow);
    // Destructive, pipelined: all 250 in order, then nothing.
    auto a = c.get_many_async(name, 100);
    auto b = c.get_many_async(name, 100);
    auto d = c.get_many_async(name, 100);
    auto first = a.get();
    CHECK_EQ(first.size(), 100u);
    CHECK_EQ(first[0].body, "m0");
    CHECK_EQ(first[0].delivery_count, 1u); // backed out once
    CHECK_EQ(b.get()[99].body, "m199");
    auto last = d.get();
    CHECK_EQ(last.size(), 50u);
    CHECK_EQ(last.back().body, "m249");
    CHECK(c.get_many(name, 100).empty());
    CHECK(c.get_many_async(name, 5).get().empty());
    EXPECT_REASON(2046, c.get_many(name, 10, client::wait(100)));
    EXPECT_REASON(2046, c.get_many(name, 0));
    EXPECT_REASON(2046, c.get_many_async(name, 10, client::wait(5)).get());
  }

  void close_and_errors() {
    auto other = client::connect(host, port);
    CHECK(other.connected());
    other.close();
    CHECK(!other.connected());
    EXPECT_REASON(qmesh::client_rc::hconn_error, other.status());
    // A port nobody listens on: bind one, close it, connect.
    EXPECT_REASON(qmesh::client_rc::q_mgr_not_available,
                  client::connect("127.0.0.1", 1));
  }
};

int api(const std::string& host, uint16_t port, const std::string& prefix) {
  auto c = client::connect(host, port);
  api_checks t{c, host, port, prefix};
  std::vector<std::pair<const char*, void (api_checks::*)()>> checks{
    {"connect_info", &api_checks::connect_info},
    {"admin", &api_checks::admin},
    {"put_get_order", &api_checks::put_get_order},
    {"open_handle", &api_checks::open_handle},
    {"waiting_get", &api_checks::waiting_get},
    {"browse_and_match", &api_checks::browse_and_match},
    {"consume_automatic", &api_checks::consume_automatic},
    {"consume_client_ack", &api_checks::consume_client_ack},
    {"consume_callback_acks", &api_checks::consume_callback_acks},
    {"cancel_in_callback", &api_checks::cancel_in_callback},
    {"concurrent_calls", &api_checks::concurrent_calls},
    {"units_of_work", &api_checks::units_of_work},
    {"pubsub", &api_checks::pubsub},
    {"async_calls", &api_checks::async_calls},
    {"batch_gets", &api_checks::batch_gets},
    {"close_and_errors", &api_checks::close_and_errors},
  };
  int failed = 0;
  for (auto& [name, fn] : checks) {
    try {
      (t.*fn)();
      std::cout << "ok " << name << std::endl;
    } catch (const std::exception& e) {
      std::cout << "FAIL " << name << ": " << e.what() << std::endl;
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}

int hold(const std::string& host, uint16_t port, const std::string& queue,
         uint32_t n) {
  auto c = client::connect(host, port);
  latch l;
  uint32_t got = 0;
  c.consume(
    queue, [&](qmesh::delivery&) { l.update([&] { ++got; }); }, n,
    qmesh::ack_mode::client);
  if (!l.wait_for(30s, [&] { return got >= n; })) {
    std::cout << "only " << got << " of " << n << " arrived" << std::endl;
    return 1;
  }
  std::cout << "held " << got << std::endl;
  for (;;)
    pause(); // until killed
}

/// Consumes QUEUE; prints `consuming`, then `disconnected` once the client
/// sees its connection go (polled, with a deadline).
int watch(const std::string& host, uint16_t port, const std::string& queue) {
  auto c = client::connect(host, port);
  c.consume(queue, [](qmesh::delivery&) {});
  std::cout << "consuming" << std::endl;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (c.connected()) {
    if (std::chrono::steady_clock::now() > deadline)
      return 1;
    std::this_thread::sleep_for(10ms);
  }
  std::cout << "disconnected" << std::endl;
  try {
    c.status();
  } catch (const client_error& e) {
    std::cout << e.what() << std::endl;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::cerr << "usage: qmesh-client-check HOST:PORT api PREFIX | hold "
                   "QUEUE N | connect\n";
      return 2;
    }
    std::string node = argv[1];
    auto colon = node.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "qmesh-client-check: expected HOST:PORT\n";
      return 2;
    }
    auto host = node.substr(0, colon);
    auto port = static_cast<uint16_t>(std::stoi(node.substr(colon + 1)));
    std::string mode = argv[2];
    if (mode == "api" && argc == 4)
      return api(host, port, argv[3]);
    if (mode == "hold" && argc == 5)
      return hold(host, port, argv[3],
                  static_cast<uint32_t>(std::stoul(argv[4])));
    if (mode == "watch" && argc == 4)
      return watch(host, port, argv[3]);
    if (mode == "connect") {
      auto c = client::connect(host, port);
      std::cout << c.qmgr().name << std::endl;
      return 0;
    }
    std::cerr << "qmesh-client-check: bad arguments\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qmesh-client-check: " << e.what() << '\n';
    return 1;
  }
}
