#define CAF_SUITE actors.session
#include "test_fixture.hpp"

#include "actors/front_door.hpp"
#include "actors/session.hpp"

using namespace qmesh;
using namespace qmesh::test;

namespace {

struct fixture : qm_fixture {
  front_door_actor door;
  consumer_actor client;
  recorder_state* client_state = nullptr;
  session_actor session;

  fixture() {
    door = sys.spawn(front_door_impl, qm,
                     std::shared_ptr<authenticator>{});
    std::tie(client, client_state) = make_recorder();
    auto rp = self->request(door, caf::infinite, atom::connect_v, client,
                            client_info{"test", "peer:1", {}});
    run();
    rp.receive(
      [&](session_actor& s, qm_status& st) {
        session = s;
        CAF_CHECK_EQUAL(st.name, "QM1");
      },
      [](caf::error& e) { CAF_FAIL("connect failed: " << render(e)); });
  }

  ~fixture() {
    caf::anon_send_exit(door, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
  }

  session_state& sstate() {
    return deref<session_actor::stateful_base<session_state>>(session).state;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(a session puts gets and administers through the queue manager) {
  CAF_CHECK(ask<queue_status>(session, atom::define_v, std::string{"Q1"},
                              attr_map{}));
  CAF_CHECK(ask<msg_id>(session, atom::put_v, std::string{"Q1"}, text("a")));
  std::vector<message> batch{text("b"), text("c")};
  CAF_CHECK_EQUAL(ask<uint64_t>(session, atom::put_v, std::string{"Q1"}, batch)
                    .value_or(0),
                  2u);
  auto msg = ask<message>(session, atom::get_v, std::string{"Q1"},
                          get_options{});
  CAF_REQUIRE(msg);
  CAF_CHECK_EQUAL(msg->body, "a");
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 2u);
  CAF_CHECK_EQUAL(reason(ask<message>(session, atom::get_v,
                                      std::string{"bad/name/x"},
                                      get_options{})),
                  2152);
}

CAF_TEST(deliveries reach the client under a session consumer id) {
  define("Q1");
  define("Q2");
  put("Q1", text("one"));
  put("Q2", text("two"));
  auto c1 = ask<uint64_t>(session, atom::consume_v, std::string{"Q1"},
                          uint32_t{10}, ack_mode::client);
  auto c2 = ask<uint64_t>(session, atom::consume_v, std::string{"Q2"},
                          uint32_t{10}, ack_mode::client);
  CAF_REQUIRE(c1 && c2);
  CAF_CHECK_NOT_EQUAL(*c1, *c2);
  CAF_REQUIRE_EQUAL(client_state->received.size(), 2u);
  CAF_CHECK_EQUAL(client_state->batches, 2u);
  CAF_CHECK_EQUAL(ask<uint64_t>(session, atom::ack_v, *c1, uint64_t{1},
                                uint64_t{1})
                    .value_or(0),
                  1u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  CAF_CHECK_EQUAL(inquire("Q2").unacked_count, 1u);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(session, atom::ack_v, uint64_t{77},
                                       uint64_t{1}, uint64_t{1})),
                  2019);
}

CAF_TEST(the client going releases everything the session held) {
  define("Q1");
  put("Q1", text("held"));
  put("Q1", text("taken"));
  auto c = ask<uint64_t>(session, atom::consume_v, std::string{"Q1"},
                         uint32_t{1}, ack_mode::client);
  CAF_REQUIRE(c);
  auto uow = ask<uint64_t>(session, atom::begin_v);
  CAF_REQUIRE(uow);
  CAF_CHECK(ask<msg_id>(session, atom::put_v, std::string{"Q1"},
                        text("uncommitted"), *uow));
  get_options opts;
  opts.uow = *uow;
  CAF_CHECK(ask<message>(session, atom::get_v, std::string{"Q1"}, opts));
  CAF_CHECK(ask<queue_actor>(session, atom::open_v, std::string{"Q1"},
                             open_mode::output));
  subscription_spec spec;
  spec.filter = "news/#";
  CAF_CHECK(ask<subscription_info>(session, atom::subscribe_v, spec));
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.unacked_count, 1u);
  CAF_CHECK_EQUAL(s.uncommitted_count, 2u);
  CAF_CHECK_EQUAL(s.open_output_count, 1u);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  s = inquire("Q1");
  CAF_CHECK_EQUAL(s.unacked_count, 0u);
  CAF_CHECK_EQUAL(s.uncommitted_count, 0u);
  CAF_CHECK_EQUAL(s.open_output_count, 0u);
  CAF_CHECK_EQUAL(s.consumer_count, 0u);
  CAF_CHECK_EQUAL(s.current_depth, 2u);
  CAF_CHECK(qm_state().subs.empty());
  CAF_CHECK(qm_state().uows.empty());
  auto first = get("Q1");
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->body, "held");
  CAF_CHECK(first->redelivered());
}

CAF_TEST(the connection list names each session and closing one releases it) {
  auto conns = ask<std::vector<connection_info>>(session, atom::list_v,
                                                 atom::conns_v);
  CAF_REQUIRE(conns);
  CAF_REQUIRE_EQUAL(conns->size(), 1u);
  CAF_CHECK_EQUAL(conns->front().id, session.id());
  CAF_CHECK_EQUAL(conns->front().client.protocol, "test");
  CAF_CHECK_EQUAL(conns->front().client.peer, "peer:1");
  CAF_CHECK_GREATER(conns->front().connected_at_ms, 0);
  define("Q1");
  put("Q1", text("held"));
  auto c = ask<uint64_t>(session, atom::consume_v, std::string{"Q1"},
                         uint32_t{1}, ack_mode::client);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(inquire("Q1").unacked_count, 1u);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(session, atom::disconnect_v,
                                       uint64_t{999999})),
                  2085);
  // The session's client learns why through the session's exit reason.
  caf::error why;
  self->monitor(session);
  CAF_CHECK(ask<atom::ok>(session, atom::disconnect_v, session.id()));
  run();
  self->receive([&](caf::down_msg& dm) { why = dm.reason; });
  CAF_CHECK(is(why, ec::connection_broken));
  CAF_CHECK_NOT_EQUAL(render(why).find("administrator"), std::string::npos);
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.unacked_count, 0u);
  CAF_CHECK_EQUAL(s.consumer_count, 0u);
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK(qm_state().sessions.empty());
}

CAF_TEST(cancel through the session stops deliveries) {
  define("Q1");
  auto c = ask<uint64_t>(session, atom::consume_v, std::string{"Q1"},
                         uint32_t{10}, ack_mode::automatic);
  CAF_REQUIRE(c);
  put("Q1", text("a"));
  CAF_CHECK_EQUAL(client_state->received.size(), 1u);
  CAF_CHECK_EQUAL(client_state->received[0].tag, 1u);
  CAF_CHECK(ask<atom::ok>(session, atom::cancel_v, *c));
  put("Q1", text("b"));
  CAF_CHECK_EQUAL(client_state->received.size(), 1u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
  CAF_CHECK(sstate().consumers.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
