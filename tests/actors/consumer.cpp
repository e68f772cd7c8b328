#define CAF_SUITE actors.consumer
#include "test_fixture.hpp"

using namespace qmesh;
using namespace qmesh::test;

namespace {

struct fixture : qm_fixture {
  std::vector<std::string> bodies(const recorder_state* st) {
    std::vector<std::string> result;
    for (const auto& msg : st->received)
      result.push_back(msg.body);
    return result;
  }

  void put_n(const std::string& name, int n) {
    for (int i = 0; i < n; ++i)
      put(name, text("m" + std::to_string(i)));
  }
};

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(consumer_tests, fixture)

CAF_TEST(a consumer gets up to its window in one batch) {
  define("Q1");
  put_n("Q1", 5);
  auto c = consume("Q1", 3, ack_mode::automatic);
  CAF_CHECK_EQUAL(c.st->batches, 1u);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1", "m2"}));
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 2u);
  CAF_CHECK_EQUAL(inquire("Q1").consumer_count, 1u);
  // Credit reopens the window.
  self->send(c.queue, atom::credit_v, c.id, uint32_t{3});
  run();
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1", "m2", "m3", "m4"}));
  CAF_CHECK_EQUAL(inquire("Q1").dequeued_total, 5u);
  // New messages flow while the window is open.
  put("Q1", text("m5"));
  CAF_CHECK_EQUAL(c.st->received.size(), 6u);
}

CAF_TEST(delivery tags ascend and are in each message) {
  define("Q1");
  put_n("Q1", 3);
  auto c = consume("Q1", 10, ack_mode::client);
  CAF_REQUIRE_EQUAL(c.st->received.size(), 3u);
  CAF_CHECK_EQUAL(c.st->received[0].tag, 1u);
  CAF_CHECK_EQUAL(c.st->received[2].tag, 3u);
}

CAF_TEST(client acks settle deliveries and reopen the window) {
  define("Q1");
  put_n("Q1", 4);
  auto c = consume("Q1", 2, ack_mode::client);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1"}));
  CAF_CHECK_EQUAL(inquire("Q1").unacked_count, 2u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 4u);
  // Ack only the second: the window opens by one.
  CAF_CHECK_EQUAL(ask<uint64_t>(c.queue, atom::ack_v, c.id, uint64_t{2},
                                uint64_t{2})
                    .value_or(99),
                  1u);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1", "m2"}));
  // Cumulative ack of everything delivered so far.
  CAF_CHECK_EQUAL(ask<uint64_t>(c.queue, atom::ack_v, c.id, uint64_t{0},
                                uint64_t{3})
                    .value_or(99),
                  2u);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1", "m2", "m3"}));
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.unacked_count, 1u);
  CAF_CHECK_EQUAL(s.dequeued_total, 3u);
  CAF_CHECK_EQUAL(s.current_depth, 1u);
}

CAF_TEST(bad acks are rejected) {
  define("Q1");
  put_n("Q1", 1);
  auto c = consume("Q1", 2, ack_mode::client);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(c.queue, atom::ack_v, c.id,
                                       uint64_t{5}, uint64_t{5})),
                  2019);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(c.queue, atom::ack_v, uint64_t{999},
                                       uint64_t{1}, uint64_t{1})),
                  2019);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(c.queue, atom::ack_v, c.id,
                                       uint64_t{3}, uint64_t{1})),
                  2046);
  auto a = consume("Q1", 2, ack_mode::automatic);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(a.queue, atom::ack_v, a.id,
                                       uint64_t{1}, uint64_t{1})),
                  2046);
  // Acking twice settles nothing the second time, without error.
  CAF_CHECK_EQUAL(ask<uint64_t>(c.queue, atom::ack_v, c.id, uint64_t{1},
                                uint64_t{1})
                    .value_or(99),
                  1u);
  CAF_CHECK_EQUAL(ask<uint64_t>(c.queue, atom::ack_v, c.id, uint64_t{1},
                                uint64_t{1})
                    .value_or(99),
                  0u);
}

CAF_TEST(prefetch zero and unknown ack mode are rejected) {
  define("Q1");
  auto [hdl, st] = make_recorder();
  auto rp = self->request(qm, caf::infinite, atom::consume_v,
                          std::string{"Q1"}, hdl, uint32_t{0},
                          ack_mode::client);
  run();
  rp.receive([](queue_actor&, uint64_t) { CAF_FAIL("accepted prefetch 0"); },
             [](caf::error& e) { CAF_CHECK(is(e, ec::options_error)); });
  CAF_CHECK_EQUAL(inquire("Q1").consumer_count, 0u);
}

CAF_TEST(nack with requeue puts messages back in their original order) {
  define("Q1");
  put_n("Q1", 3);
  auto c = consume("Q1", 3, ack_mode::client);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1", "m2"}));
  put("Q1", text("m3")); // newer; waits behind the window
  // Nack m2 first, then m0 and m1: all return ahead of m3, in queue order.
  ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{3}, uint64_t{3}, true);
  ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{1}, uint64_t{2}, true);
  // The window reopened: the consumer gets them again, oldest first.
  CAF_CHECK_EQUAL(bodies(c.st),
                  (strings{"m0", "m1", "m2", "m2", "m0", "m1"}));
  ask<atom::ok>(c.queue, atom::cancel_v, c.id);
  auto d = consume("Q1", 10, ack_mode::client);
  auto got = bodies(d.st);
  CAF_CHECK_EQUAL(got, (strings{"m0", "m1", "m2", "m3"}));
  CAF_REQUIRE_EQUAL(d.st->received.size(), 4u);
  CAF_CHECK(d.st->received[0].redelivered());
  CAF_CHECK_EQUAL(d.st->received[0].delivery_count, 2u); // nack + cancel
  CAF_CHECK_EQUAL(d.st->received[2].delivery_count, 2u);
  CAF_CHECK(!d.st->received[3].redelivered());
}

CAF_TEST(nack without requeue dead-letters with a reason) {
  define("Q1");
  put_n("Q1", 1);
  auto c = consume("Q1", 1, ack_mode::client);
  CAF_CHECK_EQUAL(ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{1},
                                uint64_t{1}, false)
                    .value_or(99),
                  1u);
  run();
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  auto dl = get(dead_letter_queue_name);
  CAF_REQUIRE(dl);
  CAF_CHECK_EQUAL(dl->body, "m0");
  CAF_CHECK_EQUAL(dl->properties[std::string{dead_letter_reason_property}],
                  dlq_reason::nacked);
  CAF_CHECK_EQUAL(dl->properties[std::string{dead_letter_source_property}],
                  "Q1");
}

CAF_TEST(backout threshold moves a message to the backout queue) {
  define("BQ");
  define("Q1", {{"backout_threshold", "2"}, {"backout_queue", "BQ"}});
  put_n("Q1", 1);
  auto c = consume("Q1", 1, ack_mode::client);
  ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{1}, uint64_t{1}, true);
  CAF_CHECK_EQUAL(c.st->received.size(), 2u); // redelivered once
  CAF_CHECK_EQUAL(c.st->received.back().delivery_count, 1u);
  ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{2}, uint64_t{2}, true);
  run();
  CAF_CHECK_EQUAL(c.st->received.size(), 2u); // not delivered again
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  auto moved = get("BQ");
  CAF_REQUIRE(moved);
  CAF_CHECK_EQUAL(moved->body, "m0");
  CAF_CHECK_EQUAL(moved->delivery_count, 2u);
  CAF_CHECK_EQUAL(moved->properties[std::string{dead_letter_reason_property}],
                  dlq_reason::backout);
}

CAF_TEST(backout threshold without backout queue uses the dead-letter queue) {
  define("Q1", {{"backout_threshold", "1"}});
  put_n("Q1", 1);
  auto c = consume("Q1", 1, ack_mode::client);
  ask<uint64_t>(c.queue, atom::nack_v, c.id, uint64_t{1}, uint64_t{1}, true);
  run();
  auto dl = get(dead_letter_queue_name);
  CAF_REQUIRE(dl);
  CAF_CHECK_EQUAL(dl->body, "m0");
}

CAF_TEST(a consumer that dies returns its unacked deliveries redelivered) {
  define("Q1");
  put_n("Q1", 3);
  auto c = consume("Q1", 2, ack_mode::client);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"m0", "m1"}));
  caf::anon_send_exit(c.hdl, caf::exit_reason::kill);
  run();
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.consumer_count, 0u);
  CAF_CHECK_EQUAL(s.unacked_count, 0u);
  CAF_CHECK_EQUAL(s.current_depth, 3u);
  auto first = get("Q1");
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->body, "m0");
  CAF_CHECK(first->redelivered());
  CAF_CHECK_EQUAL(first->delivery_count, 1u);
  CAF_CHECK_EQUAL(get("Q1")->body, "m1");
  auto third = get("Q1");
  CAF_CHECK_EQUAL(third->body, "m2");
  CAF_CHECK(!third->redelivered());
}

CAF_TEST(cancel returns unacked deliveries to another consumer) {
  define("Q1");
  put_n("Q1", 2);
  auto c = consume("Q1", 5, ack_mode::client);
  auto d = consume("Q1", 5, ack_mode::client);
  CAF_CHECK_EQUAL(c.st->received.size(), 2u);
  CAF_CHECK_EQUAL(d.st->received.size(), 0u);
  CAF_CHECK(ask<atom::ok>(c.queue, atom::cancel_v, c.id));
  CAF_CHECK_EQUAL(bodies(d.st), (strings{"m0", "m1"}));
  CAF_CHECK(d.st->received[0].redelivered());
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(c.queue, atom::cancel_v, c.id)), 2019);
}

CAF_TEST(consumers share a queue round robin) {
  define("Q1");
  auto c = consume("Q1", 100, ack_mode::automatic);
  auto d = consume("Q1", 100, ack_mode::automatic);
  auto q = c.queue;
  std::vector<message> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(text("m" + std::to_string(i)));
  ask<uint64_t>(q, atom::put_v, batch);
  CAF_CHECK_EQUAL(c.st->received.size() + d.st->received.size(), 10u);
  CAF_CHECK_EQUAL(c.st->received.size(), 5u);
  CAF_CHECK_EQUAL(d.st->received.size(), 5u);
  // Single puts alternate.
  put("Q1", text("x"));
  put("Q1", text("y"));
  CAF_CHECK_EQUAL(c.st->received.size(), 6u);
  CAF_CHECK_EQUAL(d.st->received.size(), 6u);
}

CAF_TEST(a waiting getter and a consumer race for one message) {
  define("Q1");
  get_options opts;
  opts.wait_ms = wait_unlimited;
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          opts);
  run();
  auto c = consume("Q1", 10, ack_mode::client);
  put("Q1", text("only"));
  // Waiting getters are served first; the message exists exactly once.
  bool got = false;
  rp.receive([&](message& msg) { got = msg.body == "only"; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK(got);
  CAF_CHECK_EQUAL(c.st->received.size(), 0u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  put("Q1", text("next"));
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"next"}));
}

CAF_TEST(consumers never get expired messages) {
  define("Q1");
  auto m = text("stale");
  m.expiry = 10;
  put("Q1", m);
  put("Q1", text("fresh"));
  sched.clock().current_time += std::chrono::milliseconds{20};
  auto c = consume("Q1", 10, ack_mode::automatic);
  CAF_CHECK_EQUAL(bodies(c.st), (strings{"fresh"}));
  CAF_CHECK_EQUAL(inquire("Q1").expired_total, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
