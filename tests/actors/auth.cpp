#define CAF_SUITE actors.auth
#include "test_fixture.hpp"

#include "actors/front_door.hpp"
#include "actors/session.hpp"
#include "core/authenticator.hpp"
#include "core/password.hpp"
#include "fake_node.hpp"

using namespace qmesh;
using namespace qmesh::test;

namespace {

/// alice: admin on ORDERS*, put on ORDERS and prices/#, get on ORDERS;
/// bob: get on news/+ only.
std::shared_ptr<const user_db> test_users() {
  auto pw = [](const char* p) {
    return hash_password(p, min_password_iterations);
  };
  auto text = "[user alice]\npassword = " + pw("apass")
              + "\nadmin = ORDERS*\nput = ORDERS, prices/#\nget = ORDERS\n"
                "[user bob]\npassword = "
              + pw("bpass") + "\nget = news/+\n";
  std::string err;
  auto db = user_db::parse(text, err);
  if (db == nullptr)
    CAF_FAIL("users: " << err);
  return db;
}

struct fixture : qm_fixture {
  std::shared_ptr<authenticator> auth;
  front_door_actor door;

  fixture() {
    auth = std::make_shared<authenticator>(test_users());
    door = sys.spawn(front_door_impl, qm, auth);
    run();
  }

  ~fixture() {
    caf::anon_send_exit(door, caf::exit_reason::user_shutdown);
    run();
  }

  /// Connects as `user`; fires the refusal timer if there is one.
  caf::expected<session_actor> login(const std::string& user,
                                     const std::string& password) {
    auto [client, st] = make_recorder();
    caf::expected<session_actor> result{caf::sec::request_timeout};
    auto rp = self->request(door, caf::infinite, atom::connect_v, client,
                            client_info{"test", "10.0.0.1:5", {}},
                            credentials{user, password});
    run();
    sched.trigger_timeouts();
    run();
    rp.receive([&](session_actor& s, qm_status&) { result = s; },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  /// Connects as a native client would: its consumer actor on another
  /// node, its host as it reports it. Fires timers one at a time, earliest
  /// first, until the answer is there, so the virtual clock stands at the
  /// time of the answer afterwards.
  caf::expected<session_actor> login_native(const std::string& user,
                                            const std::string& password,
                                            const std::string& host) {
    auto bridge = make_fake_remote(sys, fake_node(999), next_fake_id++);
    caf::expected<session_actor> result{caf::sec::request_timeout};
    auto rp = self->request(door, caf::infinite, atom::connect_v,
                            caf::actor_cast<consumer_actor>(bridge.ptr),
                            client_info{"native", host, {}},
                            credentials{user, password});
    run();
    while (!self->has_next_message() && sched.trigger_timeout())
      run();
    rp.receive([&](session_actor& s, qm_status&) { result = s; },
               [&](caf::error& e) { result = std::move(e); });
    if (result)
      caf::anon_send_exit(*result, caf::exit_reason::user_shutdown);
    run();
    return result;
  }

  caf::actor_id next_fake_id = 100;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(auth_tests, fixture)

CAF_TEST(wrong passwords and unknown users are refused with 2035) {
  CAF_CHECK_EQUAL(reason(login("alice", "wrong")), 2035);
  CAF_CHECK_EQUAL(reason(login("mallory", "apass")), 2035);
  CAF_CHECK_EQUAL(reason(login("", "")), 2035);
  CAF_CHECK(login("alice", "apass"));
}

CAF_TEST(repeated failures from one host are answered ever later) {
  auto d1 = auth->failed("10.9.9.9");
  auto d2 = auth->failed("10.9.9.9");
  auto d3 = auth->failed("10.9.9.9");
  CAF_CHECK(d1 < d2);
  CAF_CHECK(d2 < d3);
  CAF_CHECK_EQUAL(auth->failed("10.1.1.1"), authenticator::first_delay);
  for (int i = 0; i < 20; ++i)
    auth->failed("10.9.9.9");
  CAF_CHECK_EQUAL(auth->failed("10.9.9.9"), authenticator::max_delay);
  auth->succeeded("10.9.9.9");
  CAF_CHECK_EQUAL(auth->failed("10.9.9.9"), authenticator::first_delay);
}

CAF_TEST(failures of unverified hosts are bounded node wide) {
  using namespace std::chrono_literals;
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  for (uint32_t i = 0; i < authenticator::node_wide_free; ++i) {
    CAF_CHECK_EQUAL(auth->admit_unverified(t).value_or(-1ms), 0ms);
    auth->failed_unverified(t);
  }
  CAF_CHECK_EQUAL(auth->unverified_spacing(t), 0ms);
  auth->failed_unverified(t);
  CAF_CHECK_EQUAL(auth->unverified_spacing(t), authenticator::first_delay);
  auth->failed_unverified(t);
  CAF_CHECK_EQUAL(auth->unverified_spacing(t), 2 * authenticator::first_delay);
  // Checks that come all at once queue, spaced.
  auto w1 = auth->admit_unverified(t);
  auto w2 = auth->admit_unverified(t);
  CAF_REQUIRE(w1 && w2);
  CAF_CHECK_EQUAL(*w2 - *w1, 2 * authenticator::first_delay);
  // A full queue refuses at once.
  size_t admitted = 2;
  while (auth->admit_unverified(t) && admitted < 100000)
    ++admitted;
  CAF_CHECK_LESS_OR_EQUAL(admitted, 30000 / 200 + 1);
  CAF_CHECK(!auth->admit_unverified(t));
  // One failure is forgotten per node_wide_forget, and successes do not
  // reset it.
  auth->succeeded("10.0.0.1");
  CAF_CHECK_EQUAL(auth->unverified_spacing(t + authenticator::node_wide_forget),
                  authenticator::first_delay);
  CAF_CHECK_EQUAL(
    auth->unverified_spacing(t + 2 * authenticator::node_wide_forget), 0ms);
}

CAF_TEST(native failures with rotating reported hosts are still slowed) {
  auto t0 = sched.clock().now();
  for (int i = 0; i < 10; ++i)
    CAF_CHECK_EQUAL(reason(login_native("alice", "wrong",
                                        "10.7.0." + std::to_string(i)
                                          + ":4000")),
                    2035);
  auto elapsed = sched.clock().now() - t0;
  // Per host alone (each host new): 10 refusals of 100 ms = 1 s. With the
  // node-wide bound the 6th to 10th checks wait for spacings of 200 ms,
  // 400 ms, ... 3.2 s after the one before: 6.7 s in all.
  CAF_CHECK_GREATER_OR_EQUAL(elapsed, std::chrono::milliseconds{6000});
  // The right password still gets in (after its turn).
  auto t1 = sched.clock().now();
  CAF_CHECK(login_native("alice", "apass", "10.7.1.1:4000"));
  CAF_CHECK_GREATER_OR_EQUAL(sched.clock().now() - t1,
                          std::chrono::milliseconds{1000});
}

CAF_TEST(failures of in-process front-ends are not bound node wide) {
  // STOMP and WebSocket connections give the socket's address: per host
  // is enough for them.
  for (int i = 0; i < 10; ++i)
    CAF_CHECK_EQUAL(reason(login("alice", "wrong")), 2035);
  CAF_CHECK_EQUAL(auth->unverified_spacing(sched.clock().now()),
                  std::chrono::milliseconds{0});
}

CAF_TEST(status names the connection user and counts connections per user) {
  auto a1 = login("alice", "apass");
  auto a2 = login("alice", "apass");
  auto b = login("bob", "bpass");
  CAF_REQUIRE(a1 && a2 && b);
  auto st = ask<qm_status>(*a1, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->user, "alice");
  CAF_CHECK_EQUAL(st->connections_by_user["alice"], 2u);
  CAF_CHECK_EQUAL(st->connections_by_user["bob"], 1u);
  CAF_CHECK_EQUAL(st->connection_count, 3u);
  auto sb = ask<qm_status>(*b, atom::status_v);
  CAF_REQUIRE(sb);
  CAF_CHECK_EQUAL(sb->user, "bob");
}

CAF_TEST(put get and admin are checked against the user permissions) {
  auto alice = login("alice", "apass");
  CAF_REQUIRE(alice);
  auto s = *alice;
  CAF_CHECK(ask<queue_status>(s, atom::define_v, std::string{"ORDERS"},
                              attr_map{}));
  CAF_CHECK_EQUAL(reason(ask<queue_status>(s, atom::define_v,
                                           std::string{"PAYMENTS"},
                                           attr_map{})),
                  2035);
  CAF_CHECK(ask<msg_id>(s, atom::put_v, std::string{"ORDERS"}, text("a")));
  CAF_CHECK_EQUAL(reason(ask<msg_id>(s, atom::put_v, std::string{"OTHER"},
                                     text("b"))),
                  2035);
  auto with_reply = text("c");
  with_reply.reply_to_queue = "OTHER";
  CAF_CHECK_EQUAL(reason(ask<msg_id>(s, atom::put_v, std::string{"ORDERS"},
                                     with_reply)),
                  2035);
  CAF_CHECK(ask<message>(s, atom::get_v, std::string{"ORDERS"},
                         get_options{}));
  CAF_CHECK_EQUAL(reason(ask<message>(s, atom::get_v, std::string{"OTHER"},
                                      get_options{})),
                  2035);
  CAF_CHECK_EQUAL(reason(ask<queue_actor>(s, atom::open_v,
                                          std::string{"OTHER"},
                                          open_mode::output)),
                  2035);
  CAF_CHECK(ask<queue_actor>(s, atom::open_v, std::string{"ORDERS"},
                             open_mode::output));
  CAF_CHECK(ask<uint64_t>(s, atom::publish_v, std::string{"prices/fx"},
                          text("1.1"), false));
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(s, atom::publish_v,
                                       std::string{"news/x"}, text("n"),
                                       false)),
                  2035);
  CAF_CHECK_EQUAL(reason(ask<std::vector<connection_info>>(s, atom::list_v,
                                                           atom::conns_v)),
                  2035);
  auto err = ask<message>(s, atom::get_v, std::string{"OTHER"},
                          get_options{});
  CAF_REQUIRE(!err);
  CAF_CHECK_EQUAL(render(err.error()),
                  "2035 not_authorized: user alice may not get from OTHER");
}

CAF_TEST(subscriptions need get on the filter) {
  auto bob = login("bob", "bpass");
  CAF_REQUIRE(bob);
  subscription_spec ok;
  ok.filter = "news/+";
  CAF_CHECK(ask<subscription_info>(*bob, atom::subscribe_v, ok));
  subscription_spec wider;
  wider.filter = "news/#";
  CAF_CHECK_EQUAL(reason(ask<subscription_info>(*bob, atom::subscribe_v,
                                                wider)),
                  2035);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(*bob, atom::publish_v,
                                       std::string{"news/x"}, text("n"),
                                       false)),
                  2035);
  // Durable: bob's own may be removed by bob, not by alice (no admin).
  subscription_spec durable;
  durable.filter = "news/+";
  durable.durable_name = "BOBS";
  CAF_CHECK(ask<subscription_info>(*bob, atom::subscribe_v, durable));
  auto alice = login("alice", "apass");
  CAF_REQUIRE(alice);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(*alice, atom::unsubscribe_v,
                                       std::string{"BOBS"})),
                  2035);
  CAF_CHECK(ask<atom::ok>(*bob, atom::unsubscribe_v, std::string{"BOBS"}));
}

CAF_TEST(a session may always use its own temporary queues) {
  auto bob = login("bob", "bpass");
  CAF_REQUIRE(bob);
  auto tmp = ask<queue_status>(*bob, atom::define_v, atom::temporary_v);
  CAF_REQUIRE(tmp);
  CAF_CHECK(ask<msg_id>(*bob, atom::put_v, tmp->name, text("to myself")));
  CAF_CHECK(ask<message>(*bob, atom::get_v, tmp->name, get_options{}));
}

CAF_TEST(a connection without credentials only answers status) {
  auto [client, st] = make_recorder();
  caf::expected<session_actor> s{caf::sec::request_timeout};
  auto rp = self->request(door, caf::infinite, atom::connect_v, client,
                          client_info{"http", "127.0.0.1:9", {}});
  run();
  rp.receive([&](session_actor& x, qm_status&) { s = x; },
             [&](caf::error& e) { s = std::move(e); });
  CAF_REQUIRE(s);
  CAF_CHECK(ask<qm_status>(*s, atom::status_v));
  CAF_CHECK_EQUAL(reason(ask<msg_id>(*s, atom::put_v, std::string{"ORDERS"},
                                     text("x"))),
                  2035);
  CAF_CHECK_EQUAL(reason(ask<queue_status>(*s, atom::define_v,
                                           atom::temporary_v)),
                  2035);
}

CAF_TEST(without users everything is allowed) {
  auth->replace(nullptr);
  auto [client, st] = make_recorder();
  auto rp = self->request(door, caf::infinite, atom::connect_v, client,
                          client_info{"test", "peer:1", {}},
                          credentials{"whoever", "x"});
  run();
  session_actor s;
  rp.receive([&](session_actor& x, qm_status&) { s = x; },
             [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK(ask<msg_id>(s, atom::put_v, std::string{"ANY"}, text("a")));
  CAF_CHECK(ask<std::vector<connection_info>>(s, atom::list_v,
                                              atom::conns_v));
}

CAF_TEST_FIXTURE_SCOPE_END()
