#define CAF_SUITE actors.queue
#include "test_fixture.hpp"

using namespace qmesh;
using namespace qmesh::test;
using namespace std::chrono_literals;

namespace {

get_options wait_for(int64_t ms) {
  get_options opts;
  opts.wait_ms = ms;
  return opts;
}

message with_correl(std::string body, std::string correl) {
  auto msg = text(std::move(body));
  msg.correl_id = std::move(correl);
  return msg;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(queue_tests, qm_fixture)

CAF_TEST(put then get returns the message with its descriptor) {
  define("Q1");
  auto msg = text("hello");
  msg.correl_id = "c1";
  msg.reply_to_queue = "REPLY";
  msg.content_type = "text/plain";
  msg.properties["k"] = "v";
  auto id = put("Q1", msg);
  CAF_REQUIRE(id);
  auto got = get("Q1");
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->body, "hello");
  CAF_CHECK(got->id == *id);
  CAF_CHECK_EQUAL(got->correl_id, "c1");
  CAF_CHECK_EQUAL(got->reply_to_queue, "REPLY");
  CAF_CHECK_EQUAL(got->content_type, "text/plain");
  CAF_CHECK_EQUAL(got->properties["k"], "v");
  CAF_CHECK_EQUAL(got->origin_qmgr, "QM1");
  CAF_CHECK_EQUAL(got->priority, 0);
  CAF_CHECK_EQUAL(got->delivery_count, 0u);
  CAF_CHECK(!got->redelivered());
  CAF_CHECK_GREATER(got->put_time, 0);
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
}

CAF_TEST(a given msg_id is kept and a missing one is unique) {
  define("Q1");
  auto msg = text("a");
  msg.id = msg_id{7, 9};
  auto id1 = put("Q1", msg);
  auto id2 = put("Q1", text("b"));
  auto id3 = put("Q1", text("c"));
  CAF_REQUIRE(id1 && id2 && id3);
  CAF_CHECK(*id1 == (msg_id{7, 9}));
  CAF_CHECK(!(*id2 == *id3));
  CAF_CHECK(!id2->empty());
}

CAF_TEST(higher priority first then FIFO within a priority) {
  define("Q1");
  put("Q1", text("low-1", 1));
  put("Q1", text("high-1", 9));
  put("Q1", text("mid", 5));
  put("Q1", text("high-2", 9));
  put("Q1", text("low-2", 1));
  put("Q1", text("default")); // default_priority 0
  std::vector<std::string> order;
  while (auto msg = get("Q1"))
    order.push_back(msg->body);
  std::vector<std::string> expected{"high-1", "high-2", "mid",
                                    "low-1",  "low-2",  "default"};
  CAF_CHECK_EQUAL(order, expected);
}

CAF_TEST(default priority and persistence come from the queue) {
  define("Q1", {{"default_priority", "7"}, {"default_persistence", "true"}});
  put("Q1", text("x"));
  auto explicit_msg = text("y", 2);
  explicit_msg.persistent = 0;
  put("Q1", explicit_msg);
  auto a = get("Q1");
  auto b = get("Q1");
  CAF_REQUIRE(a && b);
  CAF_CHECK_EQUAL(a->priority, 7);
  CAF_CHECK(a->is_persistent());
  CAF_CHECK_EQUAL(b->priority, 2);
  CAF_CHECK(!b->is_persistent());
}

CAF_TEST(full queue rejects with 2053 and keeps what it has) {
  define("Q1", {{"max_depth", "2"}});
  CAF_CHECK(put("Q1", text("a")));
  CAF_CHECK(put("Q1", text("b")));
  CAF_CHECK_EQUAL(reason(put("Q1", text("c"))), 2053);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 2u);
  CAF_CHECK_EQUAL(inquire("Q1").enqueued_total, 2u);
  CAF_CHECK_EQUAL(get("Q1")->body, "a");
  CAF_CHECK(put("Q1", text("c")));
}

CAF_TEST(batch put is all or nothing) {
  define("Q1", {{"max_depth", "3"}});
  // Opened for output: the handle clients put to directly.
  auto q = ask<queue_actor>(qm, atom::open_v, std::string{"Q1"},
                            open_mode::output)
             .value_or(queue_actor{});
  CAF_REQUIRE(q);
  std::vector<message> batch{text("a"), text("b")};
  CAF_CHECK_EQUAL(ask<uint64_t>(q, atom::put_v, batch).value_or(0), 2u);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(q, atom::put_v, batch)), 2053);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 2u);
  get("Q1");
  get("Q1");
  std::vector<message> bad{text("ok"), text("bad", 12)};
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(q, atom::put_v, bad)), 2050);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
}

CAF_TEST(oversized message rejects with 2030) {
  define("Q1", {{"max_msg_length", "10"}});
  CAF_CHECK(put("Q1", text(std::string(10, 'x'))));
  CAF_CHECK_EQUAL(reason(put("Q1", text(std::string(11, 'x')))), 2030);
  auto huge_props = text("x");
  for (int i = 0; i < 100; ++i)
    huge_props.properties["p" + std::to_string(i)] = std::string(1000, 'v');
  CAF_CHECK_EQUAL(reason(put("Q1", huge_props)), 2030);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
}

CAF_TEST(bad descriptor values are rejected) {
  define("Q1");
  CAF_CHECK_EQUAL(reason(put("Q1", text("x", 10))), 2050);
  CAF_CHECK_EQUAL(reason(put("Q1", text("x", -5))), 2050);
  auto m = text("x");
  m.expiry = -1;
  CAF_CHECK_EQUAL(reason(put("Q1", m)), 2013);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
}

CAF_TEST(inhibited put and get) {
  define("Q1", {{"put_inhibited", "true"}});
  CAF_CHECK_EQUAL(reason(put("Q1", text("x"))), 2051);
  ask<queue_status>(qm, atom::alter_v, std::string{"Q1"},
                    attr_map{{"put_inhibited", "false"},
                             {"get_inhibited", "true"}});
  CAF_CHECK(put("Q1", text("x")));
  CAF_CHECK_EQUAL(reason(get("Q1")), 2016);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
}

CAF_TEST(get with wait is answered the moment a message arrives) {
  define("Q1");
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          wait_for(5000));
  run();
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 1u);
  put("Q1", text("late"));
  rp.receive([](message& msg) { CAF_CHECK_EQUAL(msg.body, "late"); },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK(qstate("Q1").waiters.empty());
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
}

CAF_TEST(several waiters are served in arrival order) {
  define("Q1");
  auto w1 = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          wait_for(wait_unlimited));
  auto w2 = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          wait_for(wait_unlimited));
  run();
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 2u);
  put("Q1", text("first"));
  put("Q1", text("second"));
  std::string a;
  std::string b;
  w1.receive([&](message& msg) { a = msg.body; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  w2.receive([&](message& msg) { b = msg.body; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(a, "first");
  CAF_CHECK_EQUAL(b, "second");
}

CAF_TEST(wait timeout answers 2033 at the deadline and not before) {
  define("Q1");
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          wait_for(1000));
  run();
  advance_time(999ms);
  run();
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 1u);
  advance_time(1ms);
  run();
  CAF_CHECK(qstate("Q1").waiters.empty());
  rp.receive([](message&) { CAF_FAIL("unexpected message"); },
             [](caf::error& e) { CAF_CHECK(is(e, ec::no_msg_available)); });
  // A message that arrives after the timeout stays on the queue.
  put("Q1", text("after"));
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
}

CAF_TEST(expired messages are never delivered and are counted) {
  define("Q1");
  auto m = text("short-lived");
  m.expiry = 100;
  put("Q1", m);
  put("Q1", text("keeper"));
  advance_time(100ms);
  run();
  CAF_CHECK_EQUAL(inquire("Q1").expired_total, 1u);
  CAF_CHECK_EQUAL(get("Q1")->body, "keeper");
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
}

CAF_TEST(a message that expires before a get is skipped lazily) {
  define("Q1");
  auto m = text("short-lived");
  m.expiry = 50;
  put("Q1", m);
  // Move the clock without firing the sweep timer.
  sched.clock().current_time += std::chrono::milliseconds{60};
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
  CAF_CHECK_EQUAL(inquire("Q1").expired_total, 1u);
}

CAF_TEST(expiry while waiting: the waiter never sees the expired message) {
  define("Q1");
  auto m = with_correl("stale", "c1");
  m.expiry = 50;
  put("Q1", m);
  advance_time(60ms);
  get_options opts = wait_for(500);
  opts.match_correl_id = "c1";
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          opts);
  run();
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 1u);
  advance_time(500ms);
  run();
  rp.receive([](message&) { CAF_FAIL("expired message delivered"); },
             [](caf::error& e) { CAF_CHECK(is(e, ec::no_msg_available)); });
  CAF_CHECK_EQUAL(inquire("Q1").expired_total, 1u);
}

CAF_TEST(browse first and next walk the queue without removing) {
  define("Q1");
  put("Q1", text("a"));
  put("Q1", text("b", 5));
  put("Q1", text("c"));
  get_options opts;
  opts.browse = static_cast<uint8_t>(browse_mode::first);
  std::vector<std::string> seen;
  for (auto msg = get("Q1", opts); msg; msg = get("Q1", opts)) {
    seen.push_back(msg->body);
    opts.browse = static_cast<uint8_t>(browse_mode::next);
    opts.browse_cursor = msg->tag;
  }
  std::vector<std::string> expected{"b", "a", "c"};
  CAF_CHECK_EQUAL(seen, expected);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 3u);
  CAF_CHECK_EQUAL(get("Q1")->body, "b");
}

CAF_TEST(a batch get takes up to n ready messages in queue order) {
  define("Q1");
  put("Q1", text("a"));
  put("Q1", text("b", 5));
  put("Q1", text("c"));
  put("Q1", text("d"));
  auto first = ask<std::vector<message>>(qm, atom::get_v, std::string{"Q1"},
                                         get_options{}, uint32_t{3});
  CAF_REQUIRE(first);
  std::vector<std::string> bodies;
  for (auto& m : *first)
    bodies.push_back(m.body);
  CAF_CHECK_EQUAL(bodies, (std::vector<std::string>{"b", "a", "c"}));
  // Fewer left than asked: what there is; then none: 2033.
  auto rest = ask<std::vector<message>>(qm, atom::get_v, std::string{"Q1"},
                                        get_options{}, uint32_t{10});
  CAF_REQUIRE(rest);
  CAF_REQUIRE_EQUAL(rest->size(), 1u);
  CAF_CHECK_EQUAL(rest->front().body, "d");
  CAF_CHECK_EQUAL(reason(ask<std::vector<message>>(
                    qm, atom::get_v, std::string{"Q1"}, get_options{},
                    uint32_t{10})),
                  2033);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
}

CAF_TEST(a batch get browses on from the cursor and refuses waits and bad sizes) {
  define("Q1");
  for (auto x : {"a", "b", "c", "d", "e"})
    put("Q1", text(x));
  get_options opts;
  opts.browse = static_cast<uint8_t>(browse_mode::first);
  std::vector<std::string> seen;
  for (;;) {
    auto got = ask<std::vector<message>>(qm, atom::get_v, std::string{"Q1"},
                                         opts, uint32_t{2});
    if (!got)
      break;
    for (auto& m : *got)
      seen.push_back(m.body);
    opts.browse = static_cast<uint8_t>(browse_mode::next);
    opts.browse_cursor = got->back().tag;
  }
  CAF_CHECK_EQUAL(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 5u);
  auto ask_n = [&](get_options o, uint32_t n) {
    return reason(ask<std::vector<message>>(qm, atom::get_v,
                                            std::string{"Q1"}, o, n));
  };
  CAF_CHECK_EQUAL(ask_n(wait_for(100), 2), 2046);
  CAF_CHECK_EQUAL(ask_n(get_options{}, 0), 2046);
  CAF_CHECK_EQUAL(ask_n(get_options{}, max_get_batch + 1), 2046);
  ask<queue_status>(qm, atom::alter_v, std::string{"Q1"},
                    attr_map{{"get_inhibited", "true"}});
  CAF_CHECK_EQUAL(ask_n(get_options{}, 2), 2016);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 5u);
}

CAF_TEST(get matches by msg_id and by correl_id) {
  define("Q1");
  put("Q1", with_correl("r1", "req-1"));
  auto id2 = put("Q1", with_correl("r2", "req-2"));
  put("Q1", with_correl("r3", "req-2"));
  get_options by_correl;
  by_correl.match_correl_id = "req-2";
  CAF_CHECK_EQUAL(get("Q1", by_correl)->body, "r2");
  CAF_CHECK_EQUAL(get("Q1", by_correl)->body, "r3");
  CAF_CHECK_EQUAL(reason(get("Q1", by_correl)), 2033);
  get_options by_id;
  by_id.match_msg_id = *id2;
  CAF_CHECK_EQUAL(reason(get("Q1", by_id)), 2033); // already got
  auto id4 = put("Q1", text("r4"));
  by_id.match_msg_id = *id4;
  CAF_CHECK_EQUAL(get("Q1", by_id)->body, "r4");
  CAF_CHECK_EQUAL(get("Q1")->body, "r1");
}

CAF_TEST(a waiter for a correl_id ignores other messages) {
  define("Q1");
  get_options opts = wait_for(wait_unlimited);
  opts.match_correl_id = "mine";
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          opts);
  run();
  put("Q1", with_correl("other", "theirs"));
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 1u);
  put("Q1", with_correl("reply", "mine"));
  rp.receive([](message& msg) { CAF_CHECK_EQUAL(msg.body, "reply"); },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(get("Q1")->body, "other");
}

CAF_TEST(inhibiting gets fails the waiters with 2016) {
  define("Q1");
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          wait_for(wait_unlimited));
  run();
  ask<queue_status>(qm, atom::alter_v, std::string{"Q1"},
                    attr_map{{"get_inhibited", "true"}});
  rp.receive([](message&) { CAF_FAIL("unexpected message"); },
             [](caf::error& e) { CAF_CHECK(is(e, ec::get_inhibited)); });
}

CAF_TEST(bad get options are rejected with 2046) {
  define("Q1");
  CAF_CHECK_EQUAL(reason(get("Q1", wait_for(-2))), 2046);
  get_options opts;
  opts.browse = 9;
  CAF_CHECK_EQUAL(reason(get("Q1", opts)), 2046);
}

CAF_TEST(statistics count what went in and out) {
  define("Q1");
  put("Q1", text("a"));
  put("Q1", text("b"));
  get("Q1");
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.enqueued_total, 2u);
  CAF_CHECK_EQUAL(s.dequeued_total, 1u);
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_GREATER_OR_EQUAL(s.oldest_msg_age, 0);
  CAF_CHECK_EQUAL(ask<uint64_t>(qm, atom::purge_v, std::string{"Q1"})
                    .value_or(0),
                  1u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  CAF_CHECK_EQUAL(inquire("Q1").oldest_msg_age, 0);
}

CAF_TEST(alter sets every attribute or none) {
  define("Q1");
  attr_map all{{"max_depth", "10"},          {"max_msg_length", "100"},
               {"default_persistence", "true"}, {"default_priority", "3"},
               {"put_inhibited", "false"},   {"get_inhibited", "false"},
               {"backout_threshold", "4"},   {"backout_queue", "BQ"},
               {"cluster", "true"},          {"description", "orders"}};
  auto s = ask<queue_status>(qm, atom::alter_v, std::string{"Q1"}, all);
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->attrs.max_depth, 10u);
  CAF_CHECK_EQUAL(s->attrs.max_msg_length, 100u);
  CAF_CHECK(s->attrs.default_persistence);
  CAF_CHECK_EQUAL(s->attrs.default_priority, 3);
  CAF_CHECK_EQUAL(s->attrs.backout_threshold, 4u);
  CAF_CHECK_EQUAL(s->attrs.backout_queue, "BQ");
  CAF_CHECK(s->attrs.cluster);
  CAF_CHECK_EQUAL(s->attrs.description, "orders");
  attr_map bad{{"max_depth", "20"}, {"default_priority", "10"}};
  CAF_CHECK_EQUAL(reason(ask<queue_status>(qm, atom::alter_v,
                                           std::string{"Q1"}, bad)),
                  2050);
  CAF_CHECK_EQUAL(inquire("Q1").attrs.max_depth, 10u);
  CAF_CHECK_EQUAL(reason(ask<queue_status>(qm, atom::alter_v,
                                           std::string{"Q1"},
                                           attr_map{{"current_depth", "1"}})),
                  2067);
}

CAF_TEST(lowering max_depth below the depth blocks puts but keeps messages) {
  define("Q1");
  for (int i = 0; i < 5; ++i)
    put("Q1", text("m"));
  ask<queue_status>(qm, atom::alter_v, std::string{"Q1"},
                    attr_map{{"max_depth", "2"}});
  CAF_CHECK_EQUAL(reason(put("Q1", text("x"))), 2053);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 5u);
}

CAF_TEST_FIXTURE_SCOPE_END()
