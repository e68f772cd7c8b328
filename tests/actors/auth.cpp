#define CAF_SUITE actors.auth
#include "test_fixture.hpp"

#include "actors/front_door.hpp"
#include "actors/session.hpp"
#include "core/authenticator.hpp"
#include "core/password.hpp"

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
