#define CAF_SUITE actors.flow
#include "test_fixture.hpp"

#include "actors/front_door.hpp"
#include "actors/session.hpp"

// Flow control: overflow policies, blocked puts and their wait, the memory
// alarm, waiters that end with their requester, and publishers held by
// subscription credit. Time moves only through advance_time().

using namespace qmesh;
using namespace qmesh::test;
using namespace std::chrono_literals;

namespace {

qm_config flow_config() {
  qm_config cfg;
  cfg.put_wait_ms = 1000;
  cfg.subscription_window = 2;
  cfg.flow = std::make_shared<flow_control>();
  return cfg;
}

struct fixture : qm_fixture {
  std::shared_ptr<flow_control> flow;

  front_door_actor door;

  fixture() : qm_fixture(flow_config()) {
    flow = qm_state().cfg.flow;
  }

  ~fixture() {
    if (door)
      caf::anon_send_exit(door, caf::exit_reason::user_shutdown);
    run();
  }

  using strings = std::vector<std::string>;

  qm_status status() {
    auto s = ask<qm_status>(qm, atom::status_v);
    if (!s)
      CAF_FAIL("status: " << render(s.error()));
    return *s;
  }

  /// Gets every ready message of a queue (no wait), in order.
  strings drain(const std::string& name) {
    strings out;
    while (auto m = get(name))
      out.push_back(m->body);
    return out;
  }

  /// A native client's session: the client is a recorder (killed to make
  /// the client go); the front door ends with the fixture.
  std::tuple<consumer_actor, recorder_state*, session_actor> connect() {
    if (!door)
      door = sys.spawn(front_door_impl, qm,
                       std::shared_ptr<authenticator>{});
    auto [client, client_state] = make_recorder();
    session_actor session;
    auto rp = self->request(door, caf::infinite, atom::connect_v, client,
                            client_info{"test", "peer:1", {}});
    run();
    rp.receive([&](session_actor& s, qm_status&) { session = s; },
               [](caf::error& e) { CAF_FAIL(render(e)); });
    return {client, client_state, session};
  }

  /// A put whose reply is awaited later.
  auto put_later(const std::string& address, message msg) {
    auto rp = self->request(qm, caf::infinite, atom::put_v, address,
                            std::move(msg));
    run();
    return rp;
  }

  /// The reply of a put started with put_later: 0, the MQRC, or -3 if no
  /// reply is there yet (the producer is still paused). Checks the
  /// mailbox, so call it only while no other reply is pending.
  template <class Handle>
  int outcome(Handle& rp) {
    if (self->mailbox().empty())
      return -3;
    int result = -2;
    rp.receive([&](msg_id&) { result = 0; },
               [&](caf::error& e) {
                 result = e.category() == caf::atom("qmesh")
                            ? mqrc(static_cast<ec>(e.code()))
                            : -1;
               });
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(flow_tests, fixture)

// -- block --------------------------------------------------------------------

CAF_TEST(a put to a full queue waits for room and keeps the order) {
  define("Q", {{"max_depth", "2"}});
  CAF_REQUIRE(put("Q", text("a")));
  CAF_REQUIRE(put("Q", text("b")));
  auto c = put_later("Q", text("c"));
  auto d = put_later("Q", text("d"));
  CAF_CHECK_EQUAL(qstate("Q").blocked.size(), 2u);
  CAF_CHECK_EQUAL(inquire("Q").blocked_count, 2u);
  CAF_CHECK_EQUAL(flow->paused.load(), 2);
  CAF_CHECK_EQUAL(outcome(c), -3); // no reply yet: the producer is paused
  CAF_CHECK_EQUAL(get("Q")->body, "a");
  CAF_CHECK_EQUAL(outcome(c), 0);
  CAF_CHECK_EQUAL(outcome(d), -3);
  CAF_CHECK_EQUAL(get("Q")->body, "b");
  CAF_CHECK_EQUAL(outcome(d), 0);
  CAF_CHECK_EQUAL(drain("Q"), (strings{"c", "d"}));
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.blocked_count, 0u);
  CAF_CHECK_EQUAL(s.blocked_total, 2u);
  CAF_CHECK_EQUAL(s.rejected_total, 0u);
  CAF_CHECK_EQUAL(flow->paused.load(), 0);
}

CAF_TEST(a later put waits behind a blocked one even when it would fit) {
  define("Q", {{"max_depth", "2"}});
  CAF_REQUIRE(put("Q", text("a")));
  std::vector<message> two{text("b1"), text("b2")};
  auto rp = self->request(qm, caf::infinite, atom::put_v, std::string{"Q"},
                          two);
  run();
  CAF_CHECK_EQUAL(qstate("Q").blocked.size(), 1u);
  auto c = put_later("Q", text("c")); // one would fit; it must not overtake
  CAF_CHECK_EQUAL(outcome(c), -3);
  CAF_CHECK_EQUAL(get("Q")->body, "a");
  uint64_t n = 0;
  rp.receive([&](uint64_t x) { n = x; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(n, 2u);
  CAF_CHECK_EQUAL(get("Q")->body, "b1");
  CAF_CHECK_EQUAL(outcome(c), 0);
  CAF_CHECK_EQUAL(drain("Q"), (strings{"b2", "c"}));
}

CAF_TEST(a blocked put fails with 2053 when its wait runs out) {
  define("Q", {{"max_depth", "1"}});
  CAF_REQUIRE(put("Q", text("a")));
  auto b = put_later("Q", text("b"));
  advance_time(999ms);
  run();
  CAF_CHECK_EQUAL(outcome(b), -3);
  advance_time(2ms);
  run();
  CAF_CHECK_EQUAL(outcome(b), 2053);
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(s.rejected_total, 1u);
  CAF_CHECK_EQUAL(s.blocked_count, 0u);
  CAF_CHECK_EQUAL(flow->paused.load(), 0);
  CAF_CHECK_EQUAL(drain("Q"), strings{"a"});
}

CAF_TEST(the put wait is set per put) {
  define("Q", {{"max_depth", "1"}});
  CAF_REQUIRE(put("Q", text("a")));
  auto now = text("now");
  now.put_wait_ms = 0;
  CAF_CHECK_EQUAL(reason(put("Q", now)), 2053);
  auto longer = text("later");
  longer.put_wait_ms = 5000;
  auto rp = put_later("Q", longer);
  advance_time(2000ms); // past the node's 1000 ms
  run();
  CAF_CHECK_EQUAL(outcome(rp), -3);
  CAF_CHECK_EQUAL(get("Q")->body, "a");
  CAF_CHECK_EQUAL(outcome(rp), 0);
  auto bad = text("bad");
  bad.put_wait_ms = -7;
  CAF_CHECK_EQUAL(reason(put("Q", bad)), 2046);
}

CAF_TEST(deleting a queue fails its blocked puts) {
  define("Q", {{"max_depth", "1"}});
  CAF_REQUIRE(put("Q", text("a")));
  auto b = put_later("Q", text("b"));
  CAF_REQUIRE(ask<uint64_t>(qm, atom::delete_v, std::string{"Q"}, true));
  CAF_CHECK_EQUAL(outcome(b), 2085);
  CAF_CHECK_EQUAL(flow->paused.load(), 0);
}

// -- reject and drop-oldest ---------------------------------------------------

CAF_TEST(reject answers 2053 at once) {
  define("Q", {{"max_depth", "1"}, {"overflow_policy", "reject"}});
  CAF_REQUIRE(put("Q", text("a")));
  CAF_CHECK_EQUAL(reason(put("Q", text("b"))), 2053);
  CAF_CHECK_EQUAL(qstate("Q").blocked.size(), 0u);
  CAF_CHECK_EQUAL(inquire("Q").rejected_total, 1u);
}

CAF_TEST(switching to reject fails the blocked puts) {
  define("Q", {{"max_depth", "1"}});
  CAF_REQUIRE(put("Q", text("a")));
  auto b = put_later("Q", text("b"));
  CAF_REQUIRE(ask<queue_status>(qm, atom::alter_v, std::string{"Q"},
                                attr_map{{"overflow_policy", "reject"}}));
  CAF_CHECK_EQUAL(outcome(b), 2053);
}

CAF_TEST(drop oldest keeps the newest messages and counts each drop) {
  define("RING", {{"max_depth", "3"}, {"overflow_policy", "drop-oldest"}});
  for (auto body : {"1", "2", "3", "4", "5"})
    CAF_REQUIRE(put("RING", text(body)));
  std::vector<message> batch{text("6"), text("7")};
  CAF_REQUIRE(ask<uint64_t>(qm, atom::put_v, std::string{"RING"}, batch));
  auto s = inquire("RING");
  CAF_CHECK_EQUAL(s.current_depth, 3u);
  CAF_CHECK_EQUAL(s.dropped_total, 4u);
  CAF_CHECK_EQUAL(s.enqueued_total, 7u);
  CAF_CHECK_EQUAL(drain("RING"), (strings{"5", "6", "7"}));
}

CAF_TEST(a blocked queue switched to drop oldest takes its blocked puts) {
  define("Q", {{"max_depth", "1"}});
  CAF_REQUIRE(put("Q", text("a")));
  auto b = put_later("Q", text("b"));
  CAF_REQUIRE(ask<queue_status>(qm, atom::alter_v, std::string{"Q"},
                                attr_map{{"overflow_policy", "drop-oldest"}}));
  CAF_CHECK_EQUAL(outcome(b), 0);
  CAF_CHECK_EQUAL(drain("Q"), strings{"b"});
  CAF_CHECK_EQUAL(inquire("Q").dropped_total, 1u);
}

// -- memory alarm -------------------------------------------------------------

CAF_TEST(the memory alarm holds producers and lets consumers drain) {
  define("Q");
  CAF_REQUIRE(put("Q", text("before")));
  flow->set_alarm(true);
  auto held = put_later("Q", text("during"));
  CAF_CHECK_EQUAL(outcome(held), -3);
  CAF_CHECK_EQUAL(status().paused_puts, 1u);
  CAF_CHECK(status().memory_alarm);
  CAF_CHECK_EQUAL(get("Q")->body, "before"); // consumers go on
  CAF_CHECK_EQUAL(outcome(held), -3);
  flow->set_alarm(false); // sends resume to the queue
  run();
  CAF_CHECK_EQUAL(outcome(held), 0);
  CAF_CHECK_EQUAL(drain("Q"), strings{"during"});
  CAF_CHECK_EQUAL(flow->alarms_total(), 1u);
}

CAF_TEST(reject answers 2053 during the memory alarm) {
  define("Q", {{"overflow_policy", "reject"}});
  flow->set_alarm(true);
  CAF_CHECK_EQUAL(reason(put("Q", text("x"))), 2053);
  flow->set_alarm(false);
  run();
  CAF_CHECK(put("Q", text("x")));
}

// -- waiters ------------------------------------------------------------------

CAF_TEST(a waiting get ends with its requester and loses no message) {
  define("Q");
  get_options opts;
  opts.wait_ms = wait_unlimited;
  auto qm_hdl = qm;
  auto waiter = sys.spawn([qm_hdl, opts](caf::event_based_actor* a) {
    a->request(qm_hdl, caf::infinite, atom::get_v, std::string{"Q"}, opts)
      .then([](message&) {}, [](caf::error&) {});
    return caf::behavior{[](int) {}};
  });
  run();
  CAF_CHECK_EQUAL(qstate("Q").waiters.size(), 1u);
  CAF_CHECK_EQUAL(qstate("Q").watched.size(), 1u);
  CAF_CHECK(qstate("Q").waiters.begin()->second.requester == waiter.address());
  kill(waiter);
  CAF_CHECK_EQUAL(qstate("Q").waiters.size(), 0u);
  CAF_REQUIRE(put("Q", text("kept")));
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(s.dequeued_total, 0u);
  CAF_CHECK_EQUAL(drain("Q"), strings{"kept"});
}

CAF_TEST(a session whose client goes ends its waits first) {
  define("Q");
  auto [client, client_state, session] = connect();
  get_options opts;
  opts.wait_ms = wait_unlimited;
  self->request(session, caf::infinite, atom::get_v, std::string{"Q"}, opts);
  run();
  CAF_CHECK_EQUAL(qstate("Q").waiters.size(), 1u);
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  CAF_CHECK_EQUAL(qstate("Q").waiters.size(), 0u);
  CAF_REQUIRE(put("Q", text("kept")));
  CAF_CHECK_EQUAL(drain("Q"), strings{"kept"});
  CAF_CHECK_EQUAL(client_state->received.size(), 0u);
}

CAF_TEST(a message on its way to a gone client goes back to its queue) {
  define("Q");
  auto [client, client_state, session] = connect();
  get_options opts;
  opts.wait_ms = wait_unlimited;
  self->request(session, caf::infinite, atom::get_v, std::string{"Q"}, opts);
  run();
  // The put serves the waiter; the client dies before the session gets
  // the message back from the queue.
  self->send(qm, atom::put_v, std::string{"Q"}, text("in flight"));
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  CAF_CHECK_EQUAL(drain("Q"), strings{"in flight"});
}

CAF_TEST(a browsed copy on its way to a gone client is not put back) {
  define("Q");
  auto [client, client_state, session] = connect();
  get_options opts;
  opts.wait_ms = wait_unlimited;
  opts.browse = static_cast<uint8_t>(browse_mode::first);
  self->request(session, caf::infinite, atom::get_v, std::string{"Q"}, opts);
  run();
  // The put serves the browsing waiter with a copy; the client dies before
  // the session gets it back. The message is still on the queue: putting
  // the copy back would duplicate it.
  self->send(qm, atom::put_v, std::string{"Q"}, text("browsed"));
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  CAF_CHECK_EQUAL(drain("Q"), strings{"browsed"});
}

// -- publish / subscribe ------------------------------------------------------

CAF_TEST(a slow subscription holds its publishers and loses nothing) {
  define("SUBQ", {{"max_depth", "1"}});
  auto info = ask<subscription_info>(qm, atom::subscribe_v,
                                     subscription_spec{"t/#", "", "SUBQ"});
  CAF_REQUIRE(info);
  auto publish = [&](std::string body) {
    auto rp = self->request(qm, caf::infinite, atom::publish_v,
                            std::string{"t/x"}, text(std::move(body)), false);
    run();
    return rp;
  };
  auto p1 = publish("p1"); // on the queue
  auto p2 = publish("p2"); // waits at the queue (full)
  auto p3 = publish("p3"); // waits in the subscription: window 2 reached
  auto p4 = publish("p4"); // held by the queue manager
  CAF_CHECK_EQUAL(qm_state().held.size(), 1u);
  CAF_CHECK_EQUAL(status().held_publications, 1u);
  // p1 to p3 were dispatched (each reply counts the subscription), p4 not.
  for (auto* rp : {&p1, &p2, &p3}) {
    uint64_t n = 0;
    rp->receive([&](uint64_t x) { n = x; },
                [](caf::error& e) { CAF_FAIL(render(e)); });
    CAF_CHECK_EQUAL(n, 1u);
  }
  CAF_CHECK(self->mailbox().empty());
  uint64_t n = 0;
  strings got;
  for (int i = 0; i < 4; ++i) {
    auto m = get("SUBQ");
    CAF_REQUIRE(m);
    got.push_back(m->body);
    run();
  }
  CAF_CHECK_EQUAL(got, (strings{"p1", "p2", "p3", "p4"}));
  p4.receive([&](uint64_t x) { n = x; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(n, 1u);
  CAF_CHECK_EQUAL(qm_state().held.size(), 0u);
  CAF_CHECK_EQUAL(inquire(dead_letter_queue_name).current_depth, 0u);
  CAF_CHECK_EQUAL(qm_state().subs.begin()->second.in_flight, 0u);
}

CAF_TEST(a held publication fails with 2053 when its wait runs out) {
  define("SUBQ", {{"max_depth", "1"}});
  CAF_REQUIRE(ask<subscription_info>(qm, atom::subscribe_v,
                                     subscription_spec{"t/#", "", "SUBQ"}));
  for (auto body : {"p1", "p2", "p3"})
    CAF_REQUIRE(ask<uint64_t>(qm, atom::publish_v, std::string{"t/x"},
                              text(body), false));
  auto rp = self->request(qm, caf::infinite, atom::publish_v,
                          std::string{"t/x"}, text("p4"), false);
  run();
  advance_time(1001ms);
  run();
  int code = 0;
  rp.receive([&](uint64_t) { code = 0; },
             [&](caf::error& e) { code = mqrc(static_cast<ec>(e.code())); });
  CAF_CHECK_EQUAL(code, 2053);
  CAF_CHECK_EQUAL(qm_state().held.size(), 0u);
}

CAF_TEST(the memory alarm holds publications) {
  CAF_REQUIRE(ask<subscription_info>(qm, atom::subscribe_v,
                                     subscription_spec{"t/#", "", ""}));
  flow->set_alarm(true);
  auto rp = self->request(qm, caf::infinite, atom::publish_v,
                          std::string{"t/x"}, text("p"), false);
  run();
  CAF_CHECK_EQUAL(qm_state().held.size(), 1u);
  flow->set_alarm(false);
  run();
  uint64_t n = 0;
  rp.receive([&](uint64_t x) { n = x; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(n, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
