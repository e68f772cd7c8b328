#define CAF_SUITE actors.session
#include "test_fixture.hpp"

#include "actors/front_door.hpp"
#include "actors/session.hpp"
#include "fake_node.hpp"

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

/// The error in a reply kept by a fake remote actor (none if it is not
/// one).
caf::error error_in(const caf::message& reply) {
  if (reply.match_elements<caf::error>())
    return reply.get_as<caf::error>(0);
  return {};
}

/// True if `reply` is the session's 2035 refusal of its sender.
bool refused_sender(const caf::message& reply) {
  auto err = error_in(reply);
  return err.category() == caf::atom("qmesh")
         && static_cast<ec>(err.code()) == ec::not_authorized
         && render(err).find("session") != std::string::npos;
}

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

CAF_TEST(messages of a batch get answered after the client went go back) {
  define("Q1");
  for (auto x : {"a", "b", "c"})
    put("Q1", text(x));
  // The session relays the get; the client dies before the reply is back.
  self->request(session, caf::infinite, atom::get_v, std::string{"Q1"},
                get_options{}, uint32_t{10});
  sched.run_once();
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 3u);
  std::vector<std::string> bodies;
  while (auto m = get("Q1"))
    bodies.push_back(m->body);
  std::sort(bodies.begin(), bodies.end());
  CAF_CHECK_EQUAL(bodies, (std::vector<std::string>{"a", "b", "c"}));
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

CAF_TEST(a session refuses requests from actors on other nodes) {
  define("Q1");
  // Another node's actor that learned the session's handle.
  auto mallory = make_fake_remote(sys, fake_node(4242), 7);
  send_from(mallory.ptr, session, 1, atom::put_v, std::string{"Q1"},
            text("forged"));
  send_from(mallory.ptr, session, 2, atom::status_v);
  send_from(mallory.ptr, session, 3, atom::define_v, std::string{"Q2"},
            attr_map{});
  run();
  CAF_REQUIRE_EQUAL(mallory.inbox->size(), 3u);
  for (auto& reply : *mallory.inbox)
    CAF_CHECK(refused_sender(reply));
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  CAF_CHECK_EQUAL(reason(ask<queue_status>(qm, atom::inquire_v,
                                           std::string{"Q2"})),
                  2085);
  CAF_CHECK_EQUAL(sstate().refused_senders, 3u);
  // Actors of the client's node (here: this node) are served.
  CAF_CHECK(ask<msg_id>(session, atom::put_v, std::string{"Q1"}, text("a")));
  CAF_CHECK(ask<qm_status>(session, atom::status_v));
}

CAF_TEST(a session drops anonymous and foreign messages that need no reply) {
  define("Q1");
  auto mallory = make_fake_remote(sys, fake_node(4242), 7);
  // Each of these would end the session if it were obeyed.
  send_from(nullptr, session, 0, atom::disconnect_v, std::string{"bye"});
  send_from(mallory.ptr, session, 0, atom::disconnect_v, std::string{"bye"});
  send_from(mallory.ptr, session, 0, atom::close_v);
  // Not the session's own timer, though local.
  send_from(caf::actor_cast<caf::strong_actor_ptr>(self), session, 0,
            atom::close_v);
  // A forged delivery: not from a queue of the session's consumers.
  delivery_batch forged;
  forged.consumer_id = 1;
  forged.messages.push_back(text("forged"));
  send_from(mallory.ptr, session, 0, atom::deliver_v, forged);
  run();
  CAF_CHECK(!sstate().leaving);
  CAF_CHECK(ask<qm_status>(session, atom::status_v));
  CAF_CHECK_EQUAL(client_state->received.size(), 0u);
  CAF_CHECK(sstate().early.empty());
  CAF_CHECK(mallory.inbox->empty());
  // The client's own node still ends it.
  self->send(session, atom::disconnect_v, std::string{"front-end closed"});
  run();
  CAF_CHECK(qm_state().sessions.empty());
}

CAF_TEST(a session of a remote client serves only actors of that node) {
  auto node = fake_node(777);
  // The native client's bridge (its consumer actor) and one of the
  // blocking actors it sends calls from: same node, other actor ids.
  auto bridge = make_fake_remote(sys, node, 3);
  auto caller = make_fake_remote(sys, node, 9);
  auto rp = self->request(door, caf::infinite, atom::connect_v,
                          caf::actor_cast<consumer_actor>(bridge.ptr),
                          client_info{"native", "host pid 777", {}});
  run();
  session_actor remote;
  rp.receive([&](session_actor& s, qm_status&) { remote = s; },
             [](caf::error& e) { CAF_FAIL("connect failed: " << render(e)); });
  define("Q1");
  send_from(caller.ptr, remote, 1, atom::put_v, std::string{"Q1"},
            text("from the client"));
  // Same actor id as the bridge, other node.
  auto mallory = make_fake_remote(sys, fake_node(778), 3);
  send_from(mallory.ptr, remote, 2, atom::put_v, std::string{"Q1"},
            text("forged"));
  run();
  CAF_REQUIRE_EQUAL(caller.inbox->size(), 1u);
  CAF_CHECK((*caller.inbox)[0].match_elements<msg_id>());
  CAF_REQUIRE_EQUAL(mallory.inbox->size(), 1u);
  CAF_CHECK(refused_sender((*mallory.inbox)[0]));
  // A local actor is not on the client's node either.
  CAF_CHECK_EQUAL(reason(ask<qm_status>(remote, atom::status_v)), 2035);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
  caf::anon_send_exit(remote, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST_FIXTURE_SCOPE_END()
