// Membership on CAF's simulated network: three planets, each with a real
// queue manager and a membership actor published on its cluster port.
//
// The loop below delivers messages and network traffic but fires no timer:
// heartbeats, silences and backoffs stay out of the way, so every check
// follows from joins, notices, probe answers and down messages alone.
// (Silence and SIGSTOP are covered by tests/integration/
// cluster_membership_test.py.)
#define CAF_SUITE actors.cluster_membership

#include "test_fixture.hpp"

#include <caf/test/io_dsl.hpp>

#include "cluster/channel.hpp"
#include "cluster/membership.hpp"

using namespace qmesh;

namespace {

struct node_config : test::test_config {
  node_config() {
    load<caf::io::middleman>();
  }
};

using node_base = test_coordinator_fixture<node_config>;
using planet_type = test_node_fixture<node_base>;

struct fatal_log {
  int code = 0;
  std::string why;
};

struct fixture : belt_fixture<node_base> {
  struct member {
    queue_manager_actor qm;
    cluster_actor ms;
    std::shared_ptr<fatal_log> fatal = std::make_shared<fatal_log>();
  };

  /// Prepares a connection from `client` to `server`'s `host:port`; every
  /// connection to one port shares its acceptor.
  void connect_later(planet_type& server, planet_type& client,
                     const std::string& host, uint16_t port) {
    auto key = host + ":" + std::to_string(port);
    auto it = acceptors.find(key);
    if (it == acceptors.end())
      it = acceptors.emplace(key, next_accept_handle()).first;
    this->prepare_connection(server, client, host, port, it->second);
  }

  std::map<std::string, caf::io::accept_handle> acceptors;

  /// Delivers messages and network traffic until nothing moves; fires no
  /// timer.
  void exec_loop() {
    auto advance = [](planet_type& p) {
      return p.sched.try_run_once() || p.mpx.read_data()
             || p.mpx.try_exec_runnable() || p.mpx.try_accept_connection();
    };
    while (advance(earth) || advance(mars) || advance(jupiter))
      ; // repeat
  }

  /// After an actor of `p` ended. Observed: the other planets hear of it
  /// only once `p`'s pending timeouts fire (not traced further into the
  /// test multiplexer). Only `p`'s clock fires: the others' clocks, and so
  /// their silence checks, stay put.
  void settle(planet_type& p) {
    exec_loop();
    p.sched.trigger_timeouts();
    exec_loop();
  }

  member start(planet_type& p, const std::string& name,
               const std::string& host, uint16_t port,
               std::vector<std::string> seeds) {
    member m;
    qm_config qcfg;
    qcfg.name = name;
    qcfg.cluster_listen = host + ":" + std::to_string(port);
    cluster::channel_settings cs;
    cs.local = name;
    qcfg.channel_factory = [cs](queue_manager_actor::pointer self,
                                const std::string& remote,
                                const queue_actor& xmitq) {
      return cluster::spawn_channel(self, cs, remote, xmitq);
    };
    m.qm = p.sys.spawn(queue_manager_impl, qcfg);
    cluster::membership_settings s;
    s.name = name;
    s.address = host + ":" + std::to_string(port);
    s.seeds = std::move(seeds);
    s.qm = m.qm;
    auto fatal = m.fatal;
    s.on_fatal = [fatal](int code, std::string why) {
      fatal->code = code;
      fatal->why = std::move(why);
    };
    m.ms = p.sys.spawn(cluster::membership, std::move(s));
    // publish() runs the next job inline: nothing else may be queued.
    exec_loop();
    auto key = host + ":" + std::to_string(port);
    if (acceptors.count(key) == 0) { // nobody dials it in this test
      acceptors.emplace(key, next_accept_handle());
      p.mpx.provide_acceptor(port, acceptors.at(key));
    }
    p.publish(m.ms, port);
    started.emplace_back(&p, m);
    return m;
  }

  cluster::membership_state& state(planet_type& p, const member& m) {
    return p.deref<cluster_actor::stateful_base<cluster::membership_state>>(
               m.ms)
      .state;
  }

  /// "up", "down" or "unknown": `who` as `m` on planet `p` sees it.
  std::string seen(planet_type& p, const member& m, const std::string& who) {
    auto& st = state(p, m);
    auto it = st.members.find(who);
    if (it == st.members.end())
      return "unknown";
    return it->second.info.up ? "up" : "down";
  }

  /// What the queue manager was told last about `who`.
  std::string qm_seen(planet_type& p, const member& m,
                      const std::string& who) {
    auto& st = p.deref<queue_manager_actor::stateful_base<queue_manager_state>>(
                  m.qm)
                 .state;
    auto it = st.peers.find(who);
    if (it == st.peers.end())
      return "unknown";
    if (it->second.info.up != static_cast<bool>(it->second.qm))
      return "inconsistent";
    return it->second.info.up ? "up" : "down";
  }

  ~fixture() {
    for (auto& [p, m] : started) {
      caf::anon_send_exit(m.ms, caf::exit_reason::kill);
      caf::anon_send_exit(m.qm, caf::exit_reason::user_shutdown);
    }
    exec_loop();
  }

  std::vector<std::pair<planet_type*, member>> started;

  /// A request from planet `p`'s scoped actor, run to its reply.
  template <class T, class... Ts>
  caf::expected<T> ask(planet_type& p, const queue_manager_actor& qm,
                       Ts&&... xs) {
    caf::expected<T> result{caf::sec::request_timeout};
    auto rp = p.self->request(qm, caf::infinite, std::forward<Ts>(xs)...);
    exec_loop();
    rp.receive([&](T& x) { result = std::move(x); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  uint64_t depth(planet_type& p, const member& m, const std::string& q) {
    auto s = ask<queue_status>(p, m.qm, atom::inquire_v, q);
    return s ? s->current_depth : ~uint64_t{0};
  }
};

message body(std::string text) {
  message m;
  m.body = std::move(text);
  m.persistent = 0;
  return m;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_membership_tests, fixture)

CAF_TEST(joins spread the directory to every member) {
  // mars and jupiter join through earth; each then dials the other.
  connect_later(earth, mars, "earth", 4242);
  connect_later(earth, jupiter, "earth", 4242);
  connect_later(mars, jupiter, "mars", 4243);
  connect_later(jupiter, mars, "jupiter", 4244);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  auto c = start(jupiter, "QMC", "jupiter", 4244, {"earth:4242"});
  exec_loop();
  CAF_CHECK_EQUAL(seen(earth, a, "QMB"), "up");
  CAF_CHECK_EQUAL(seen(earth, a, "QMC"), "up");
  CAF_CHECK_EQUAL(seen(mars, b, "QMA"), "up");
  CAF_CHECK_EQUAL(seen(mars, b, "QMC"), "up");
  CAF_CHECK_EQUAL(seen(jupiter, c, "QMA"), "up");
  CAF_CHECK_EQUAL(seen(jupiter, c, "QMB"), "up");
  // The queue managers got the directory, with queue-manager handles.
  CAF_CHECK_EQUAL(qm_seen(earth, a, "QMB"), "up");
  CAF_CHECK_EQUAL(qm_seen(mars, b, "QMC"), "up");
  CAF_CHECK_EQUAL(qm_seen(jupiter, c, "QMA"), "up");
  CAF_CHECK_EQUAL(state(mars, b).members.count("QMB"), 0u);
  CAF_CHECK_EQUAL(a.fatal->code, 0);
  CAF_CHECK_EQUAL(b.fatal->code, 0);
  CAF_CHECK_EQUAL(c.fatal->code, 0);
}

CAF_TEST(a taken name is refused and the joiner gets exit code 2) {
  connect_later(earth, mars, "earth", 4242);
  connect_later(earth, jupiter, "earth", 4242);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  exec_loop();
  CAF_REQUIRE_EQUAL(seen(earth, a, "QMB"), "up");
  // Another QMB: earth probes the running one, which answers.
  auto dup = start(jupiter, "QMB", "jupiter", 4244, {"earth:4242"});
  exec_loop();
  CAF_CHECK_EQUAL(dup.fatal->code, 2);
  CAF_CHECK(dup.fatal->why.find("QMB is taken by the member at mars:4243")
            != std::string::npos);
  CAF_MESSAGE("fatal: " << dup.fatal->why);
  CAF_CHECK_EQUAL(b.fatal->code, 0);
  CAF_CHECK_EQUAL(seen(earth, a, "QMB"), "up");
  CAF_CHECK(state(earth, a).members.at("QMB").info.incarnation
            == state(mars, b).me.incarnation);
}

CAF_TEST(the name of the seed itself is refused) {
  connect_later(earth, mars, "earth", 4242);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto dup = start(mars, "QMA", "mars", 4243, {"earth:4242"});
  exec_loop();
  CAF_CHECK_EQUAL(dup.fatal->code, 2);
  CAF_CHECK(dup.fatal->why.find("QMA is taken by the member at earth:4242")
            != std::string::npos);
  CAF_CHECK_EQUAL(state(earth, a).members.count("QMA"), 0u);
}

CAF_TEST(a lost member is down and up again when it returns) {
  connect_later(earth, mars, "earth", 4242);
  connect_later(earth, jupiter, "earth", 4242);
  connect_later(mars, jupiter, "mars", 4243);
  connect_later(jupiter, mars, "jupiter", 4244);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  auto c = start(jupiter, "QMC", "jupiter", 4244, {"earth:4242"});
  exec_loop();
  CAF_REQUIRE_EQUAL(seen(earth, a, "QMC"), "up");
  CAF_REQUIRE_EQUAL(seen(mars, b, "QMC"), "up");
  // jupiter's membership ends without a word: the monitors fire.
  caf::anon_send_exit(c.ms, caf::exit_reason::kill);
  settle(jupiter);
  CAF_CHECK_EQUAL(seen(earth, a, "QMC"), "down");
  CAF_CHECK_EQUAL(seen(mars, b, "QMC"), "down");
  CAF_CHECK_EQUAL(qm_seen(earth, a, "QMC"), "down");
  CAF_CHECK_EQUAL(qm_seen(mars, b, "QMC"), "down");
  CAF_CHECK_EQUAL(seen(earth, a, "QMB"), "up");
  // It comes back (new incarnation, new port) through earth; earth tells
  // mars, which dials it.
  connect_later(jupiter, mars, "jupiter", 4245);
  auto c2 = start(jupiter, "QMC", "jupiter", 4245, {"earth:4242"});
  exec_loop();
  CAF_CHECK_EQUAL(seen(earth, a, "QMC"), "up");
  CAF_CHECK_EQUAL(seen(mars, b, "QMC"), "up");
  CAF_CHECK_EQUAL(qm_seen(mars, b, "QMC"), "up");
  CAF_CHECK_EQUAL(seen(jupiter, c2, "QMB"), "up");
  CAF_CHECK(state(earth, a).members.at("QMC").info.incarnation
            == state(jupiter, c2).me.incarnation);
  CAF_CHECK_EQUAL(c2.fatal->code, 0);
}

CAF_TEST(a stopping member is down at once) {
  connect_later(earth, mars, "earth", 4242);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  exec_loop();
  CAF_REQUIRE_EQUAL(seen(earth, a, "QMB"), "up");
  // A stopping node leaves (and its monitor fires): no waiting for silence.
  caf::anon_send_exit(b.ms, caf::exit_reason::user_shutdown);
  settle(mars);
  CAF_CHECK_EQUAL(seen(earth, a, "QMB"), "down");
}

CAF_TEST(a put crosses the simulated network through the channel) {
  connect_later(earth, mars, "earth", 4242);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  exec_loop();
  CAF_REQUIRE_EQUAL(qm_seen(earth, a, "QMB"), "up");
  for (int i = 0; i < 3; ++i)
    CAF_REQUIRE(ask<msg_id>(earth, a.qm, atom::put_v,
                            std::string{"QMB/ORDERS"},
                            body(std::to_string(i))));
  exec_loop();
  CAF_CHECK_EQUAL(depth(earth, a, "SYSTEM.XMIT.QMB"), 0u);
  for (int i = 0; i < 3; ++i) {
    auto m = ask<message>(mars, b.qm, atom::get_v, std::string{"ORDERS"},
                          get_options{});
    CAF_REQUIRE(m);
    CAF_CHECK_EQUAL(m->body, std::to_string(i));
    CAF_CHECK_EQUAL(m->origin_qmgr, "QMA");
  }
}

CAF_TEST(puts wait while the receiver is lost and arrive once it returns) {
  connect_later(earth, mars, "earth", 4242);
  auto a = start(earth, "QMA", "earth", 4242, {});
  auto b = start(mars, "QMB", "mars", 4243, {"earth:4242"});
  exec_loop();
  CAF_REQUIRE_EQUAL(qm_seen(earth, a, "QMB"), "up");
  caf::anon_send_exit(b.ms, caf::exit_reason::kill);
  settle(mars);
  CAF_REQUIRE_EQUAL(qm_seen(earth, a, "QMB"), "down");
  CAF_REQUIRE(ask<msg_id>(earth, a.qm, atom::put_v, std::string{"QMB/Q"},
                          body("while away")));
  CAF_CHECK_EQUAL(depth(earth, a, "SYSTEM.XMIT.QMB"), 1u);
  auto g = ask<message>(earth, a.qm, atom::get_v, std::string{"QMB/Q"},
                        get_options{});
  CAF_REQUIRE(!g);
  CAF_CHECK_EQUAL(mqrc(static_cast<ec>(g.error().code())), 2059);
  // QMB's membership comes back (same queue manager, new port): the
  // channel delivers, once.
  connect_later(earth, mars, "earth", 4242);
  cluster::membership_settings s;
  s.name = "QMB";
  s.address = "mars:4245";
  s.seeds = {"earth:4242"};
  s.qm = b.qm;
  auto ms2 = mars.sys.spawn(cluster::membership, std::move(s));
  exec_loop();
  mars.mpx.provide_acceptor(4245, next_accept_handle());
  mars.publish(ms2, 4245);
  exec_loop();
  CAF_REQUIRE_EQUAL(qm_seen(earth, a, "QMB"), "up");
  exec_loop();
  CAF_CHECK_EQUAL(depth(mars, b, "Q"), 1u);
  CAF_CHECK_EQUAL(depth(earth, a, "SYSTEM.XMIT.QMB"), 0u);
  caf::anon_send_exit(ms2, caf::exit_reason::kill);
}

CAF_TEST_FIXTURE_SCOPE_END()
