#define CAF_SUITE actors.cluster
#include "test_fixture.hpp"

#include "cluster/channel.hpp"
#include "recording_journal.hpp"

// Two queue managers in one actor system on the test coordinator, joined by
// hand (the directory a membership actor would push): routes to the other
// queue manager, the channel's protocol (batches, confirmation, resend
// after a lost batch or a lost confirmation, the remote down and back),
// the receiving side (descriptor kept, duplicates skipped, dead-letter,
// transfer ids journaled and recovered), remote gets and consumers,
// units of work, cluster-queue balancing and publications.

using namespace qmesh;
using namespace qmesh::test;

namespace {

qm_config member_config(const std::string& name,
                        std::shared_ptr<recording_journal> j = {},
                        std::shared_ptr<store::recovered_state> r = {}) {
  auto cfg = no_wait_config();
  cfg.name = name;
  cfg.journal = std::move(j);
  cfg.recovered = std::move(r);
  cfg.remote_timeout_ms = 1000;
  cluster::channel_settings cs;
  cs.local = name;
  cs.timeout_ms = 1000;
  cs.batch = 4;
  cfg.channel_factory = [cs](queue_manager_actor::pointer self,
                             const std::string& remote,
                             const queue_actor& xmitq) {
    return cluster::spawn_channel(self, cs, remote, xmitq);
  };
  return cfg;
}

/// Stands between a channel and the receiving queue manager: passes
/// transfers on, or drops the request or the reply, as told.
struct link_state {
  static inline const char* name = "qmesh.test.link";
  caf::actor target;
  int drop_requests = 0;
  int drop_replies = 0;
  int seen = 0;
};

caf::behavior link_impl(caf::stateful_actor<link_state>* self,
                        caf::actor target) {
  self->state.target = std::move(target);
  return {
    [self](atom::transfer, std::string& from,
           std::vector<message>& msgs) -> caf::result<uint64_t> {
      auto& st = self->state;
      ++st.seen;
      auto rp = self->make_response_promise<uint64_t>();
      if (st.drop_requests > 0) {
        --st.drop_requests;
        return rp; // never answered: the channel's request times out
      }
      bool drop_reply = st.drop_replies > 0;
      if (drop_reply)
        --st.drop_replies;
      self->request(st.target, caf::infinite, atom::transfer_v,
                    std::move(from), std::move(msgs))
        .then([rp, drop_reply](uint64_t n) mutable {
          if (!drop_reply)
            rp.deliver(n);
        });
      return rp;
    },
  };
}

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<recording_journal> jb = std::make_shared<recording_journal>();
  queue_manager_actor qma;
  queue_manager_actor qmb;

  fixture() {
    qma = sys.spawn(queue_manager_impl, member_config("QMA"));
    qmb = sys.spawn(queue_manager_impl, member_config("QMB", jb));
    run();
    show(qma, "QMB", caf::actor_cast<caf::actor>(qmb), true);
    show(qmb, "QMA", caf::actor_cast<caf::actor>(qma), true);
  }

  ~fixture() {
    caf::anon_send_exit(qma, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(qmb, caf::exit_reason::user_shutdown);
    run();
  }

  /// Delivers every pending message, saying "on disk" for whatever QMB
  /// journaled meanwhile; fires no timer.
  size_t run() {
    size_t n = 0;
    uint64_t synced = 0;
    for (;;) {
      while (consume_message())
        ++n;
      if (jb->next == synced + 1)
        return n;
      synced = jb->next - 1;
      jb->sync();
    }
  }

  /// Pushes a one-member directory to `qm`.
  void show(const queue_manager_actor& qm, const std::string& name,
            caf::actor hdl, bool up, std::vector<std::string> queues = {},
            std::vector<std::string> consumed = {},
            std::vector<std::string> filters = {}) {
    peer_view p;
    p.info.name = name;
    p.info.up = up;
    p.info.queues = std::move(queues);
    p.info.consumed = std::move(consumed);
    p.info.filters = std::move(filters);
    p.qm = up ? std::move(hdl) : caf::actor{};
    self->send(qm, atom::cluster_v, std::vector<peer_view>{p});
    run();
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& hdl, Ts&&... xs) {
    caf::expected<T> result{caf::sec::request_timeout};
    auto rp = self->request(hdl, caf::infinite, std::forward<Ts>(xs)...);
    run();
    rp.receive([&](T& x) { result = std::move(x); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  uint64_t depth(const queue_manager_actor& qm, const std::string& name) {
    auto s = ask<queue_status>(qm, atom::inquire_v, name);
    return s ? s->current_depth : ~uint64_t{0};
  }

  std::string take(const queue_manager_actor& qm, const std::string& name) {
    auto m = ask<message>(qm, atom::get_v, name, get_options{});
    return m ? m->body : "<" + render(m.error()) + ">";
  }

  static int reason(const caf::error& e) {
    return e.category() == caf::atom("qmesh")
             ? mqrc(static_cast<ec>(e.code()))
             : -1;
  }
};

message text_msg(std::string body, bool persistent = false) {
  message m;
  m.body = std::move(body);
  m.persistent = persistent ? 1 : 0;
  return m;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, fixture)

CAF_TEST(a put to another queue manager arrives there with its descriptor) {
  auto id = ask<msg_id>(qma, atom::put_v, std::string{"QMB/ORDERS"},
                        text_msg("one", true));
  CAF_REQUIRE(id);
  auto m = ask<message>(qmb, atom::get_v, std::string{"ORDERS"},
                        get_options{});
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "one");
  CAF_CHECK_EQUAL(to_string(m->id), to_string(*id));
  CAF_CHECK_EQUAL(m->origin_qmgr, "QMA");
  CAF_CHECK(m->put_time > 0);
  CAF_CHECK_EQUAL(m->delivery_count, 0u);
  CAF_CHECK_EQUAL(m->properties.count(std::string{xmit_id_property}), 0u);
  CAF_CHECK_EQUAL(m->properties.count(std::string{xmit_queue_property}), 0u);
  // Gone from the transmission queue once confirmed; the commit journaled
  // the transfer id.
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 0u);
  CAF_CHECK_EQUAL(jb->count(store::record_kind::transfer_commit), 1u);
  auto& rec = jb->last<store::transfer_record>(
    store::record_kind::transfer_commit);
  CAF_CHECK_EQUAL(rec.sender, "QMA");
  CAF_CHECK_EQUAL(rec.ids.size(), 1u);
}

CAF_TEST(messages arrive in order across batches) {
  for (int i = 0; i < 10; ++i)
    CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"QMB/Q"},
                            text_msg(std::to_string(i))));
  CAF_REQUIRE_EQUAL(depth(qmb, "Q"), 10u);
  for (int i = 0; i < 10; ++i)
    CAF_CHECK_EQUAL(take(qmb, "Q"), std::to_string(i));
}

CAF_TEST(an unknown queue manager is 2087 and a down one still takes puts) {
  auto r = ask<msg_id>(qma, atom::put_v, std::string{"QMX/Q"}, text_msg("x"));
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(reason(r.error()), 2087);
  show(qma, "QMB", {}, false);
  CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"QMB/Q"},
                          text_msg("while down")));
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 1u);
  CAF_CHECK_EQUAL(depth(qmb, "Q"), ~uint64_t{0}); // not there yet
  // A get from a down queue manager says so.
  auto g = ask<message>(qma, atom::get_v, std::string{"QMB/Q"},
                        get_options{});
  CAF_REQUIRE(!g);
  CAF_CHECK_EQUAL(reason(g.error()), 2059);
  show(qma, "QMB", caf::actor_cast<caf::actor>(qmb), true);
  CAF_CHECK_EQUAL(depth(qmb, "Q"), 1u);
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 0u);
}

CAF_TEST(a lost batch is sent again and stored once) {
  auto link = sys.spawn(link_impl, caf::actor_cast<caf::actor>(qmb));
  link_state* ls = &deref<caf::stateful_actor<link_state>>(link).state;
  ls->drop_requests = 1;
  show(qma, "QMB", link, true);
  CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"QMB/Q"},
                          text_msg("a")));
  CAF_CHECK_EQUAL(depth(qmb, "Q"), ~uint64_t{0}); // not there yet
  // The channel's request times out (1 s), it waits its retry delay, sends
  // again.
  advance_time(std::chrono::milliseconds{1000});
  run();
  advance_time(std::chrono::milliseconds{200});
  run();
  CAF_CHECK_EQUAL(ls->seen, 2);
  CAF_CHECK_EQUAL(depth(qmb, "Q"), 1u);
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 0u);
}

CAF_TEST(a lost confirmation resends a stored batch which is skipped) {
  auto link = sys.spawn(link_impl, caf::actor_cast<caf::actor>(qmb));
  link_state* ls = &deref<caf::stateful_actor<link_state>>(link).state;
  ls->drop_replies = 1;
  show(qma, "QMB", link, true);
  CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"QMB/Q"},
                          text_msg("once", true)));
  CAF_CHECK_EQUAL(depth(qmb, "Q"), 1u);
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 1u);
  advance_time(std::chrono::milliseconds{1000});
  run();
  advance_time(std::chrono::milliseconds{200});
  run();
  CAF_CHECK_EQUAL(ls->seen, 2);
  CAF_CHECK_EQUAL(depth(qmb, "Q"), 1u);
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 0u);
}

CAF_TEST(transfer ids recovered from the journal are skipped) {
  // A fresh receiver whose journal remembers id "p-1" from QMA.
  auto r = std::make_shared<store::recovered_state>();
  r->transfers["QMA"] = {"p-1"};
  auto qmc = sys.spawn(queue_manager_impl, member_config("QMC", {}, r));
  run();
  auto mk = [](std::string id, std::string body) {
    auto m = text_msg(std::move(body));
    m.properties[std::string{xmit_id_property}] = std::move(id);
    m.properties[std::string{xmit_queue_property}] = "Q";
    return m;
  };
  std::vector<message> batch{mk("p-1", "old"), mk("p-2", "new")};
  auto n = ask<uint64_t>(qmc, atom::transfer_v, std::string{"QMA"}, batch);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 1u);
  CAF_CHECK_EQUAL(depth(qmc, "Q"), 1u);
  // And the same batch again: nothing new.
  n = ask<uint64_t>(qmc, atom::transfer_v, std::string{"QMA"}, batch);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(depth(qmc, "Q"), 1u);
  caf::anon_send_exit(qmc, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(what no queue takes goes to the dead-letter queue with a reason) {
  CAF_REQUIRE(ask<queue_status>(qmb, atom::define_v, std::string{"FULL"},
                                attr_map{{"max_depth", "1"}}));
  CAF_REQUIRE(ask<queue_status>(qmb, atom::define_v, std::string{"SHUT"},
                                attr_map{{"put_inhibited", "true"}}));
  for (auto q : {"QMB/FULL", "QMB/FULL", "QMB/SHUT"})
    CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{q}, text_msg(q)));
  CAF_CHECK_EQUAL(depth(qmb, "FULL"), 1u);
  CAF_CHECK_EQUAL(depth(qmb, "SHUT"), 0u);
  CAF_CHECK_EQUAL(depth(qmb, dead_letter_queue_name), 2u);
  auto m = ask<message>(qmb, atom::get_v, std::string{dead_letter_queue_name},
                        get_options{});
  CAF_REQUIRE(m);
  auto reason_text = m->properties[std::string{dead_letter_reason_property}];
  CAF_CHECK(reason_text.find("2053") != std::string::npos);
  CAF_CHECK_EQUAL(depth(qma, "SYSTEM.XMIT.QMB"), 0u);
}

CAF_TEST(remote gets and consumers) {
  CAF_REQUIRE(ask<msg_id>(qmb, atom::put_v, std::string{"R"}, text_msg("1")));
  CAF_REQUIRE(ask<msg_id>(qmb, atom::put_v, std::string{"R"}, text_msg("2")));
  CAF_CHECK_EQUAL(take(qma, "QMB/R"), "1");
  auto rec = sys.spawn(recorder);
  run();
  auto rp = self->request(qma, caf::infinite, atom::consume_v,
                          std::string{"QMB/R"},
                          caf::actor_cast<consumer_actor>(rec), uint32_t{10},
                          ack_mode::client);
  run();
  rp.receive([](queue_actor& q, uint64_t) { CAF_CHECK(q); },
             [](caf::error& e) { CAF_FAIL("consume: " << render(e)); });
  auto& st = deref<consumer_actor::stateful_base<recorder_state>>(rec).state;
  CAF_REQUIRE_EQUAL(st.received.size(), 1u);
  CAF_CHECK_EQUAL(st.received[0].body, "2");
  // Under a unit of work: refused (units of work stay local).
  get_options in_uow;
  in_uow.uow = 1;
  auto g = ask<message>(qma, atom::get_v, std::string{"QMB/R"}, in_uow);
  CAF_CHECK(!g);
}

CAF_TEST(a remote put in a unit of work leaves only at commit) {
  auto uow = ask<uint64_t>(qma, atom::begin_v);
  CAF_REQUIRE(uow);
  CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"QMB/U"},
                          text_msg("u"), *uow));
  CAF_CHECK_EQUAL(depth(qmb, "U"), ~uint64_t{0}); // not even defined yet
  CAF_REQUIRE(ask<atom::ok>(qma, atom::commit_v, *uow));
  CAF_CHECK_EQUAL(depth(qmb, "U"), 1u);
}

CAF_TEST(puts to a cluster queue prefer instances with consumers) {
  CAF_REQUIRE(ask<queue_status>(qma, atom::define_v, std::string{"CQ"},
                                attr_map{{"cluster", "true"}}));
  CAF_REQUIRE(ask<queue_status>(qmb, atom::define_v, std::string{"CQ"},
                                attr_map{{"cluster", "true"}}));
  // No consumers anywhere: round-robin over both instances.
  show(qma, "QMB", caf::actor_cast<caf::actor>(qmb), true, {"CQ"});
  for (int i = 0; i < 4; ++i)
    CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"CQ"},
                            text_msg("rr")));
  CAF_CHECK_EQUAL(depth(qma, "CQ"), 2u);
  CAF_CHECK_EQUAL(depth(qmb, "CQ"), 2u);
  // QMB's instance has consumers: every put goes there.
  show(qma, "QMB", caf::actor_cast<caf::actor>(qmb), true, {"CQ"}, {"CQ"});
  for (int i = 0; i < 4; ++i)
    CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"CQ"},
                            text_msg("c")));
  CAF_CHECK_EQUAL(depth(qma, "CQ"), 2u);
  CAF_CHECK_EQUAL(depth(qmb, "CQ"), 6u);
  // QMB down: nothing new goes there.
  show(qma, "QMB", {}, false, {"CQ"}, {"CQ"});
  CAF_REQUIRE(ask<msg_id>(qma, atom::put_v, std::string{"CQ"},
                          text_msg("local")));
  CAF_CHECK_EQUAL(depth(qma, "CQ"), 3u);
}

CAF_TEST(publications reach members with a matching filter once) {
  subscription_spec spec;
  spec.filter = "news/#";
  CAF_REQUIRE(ask<subscription_info>(qmb, atom::subscribe_v, spec));
  spec.filter = "news/+";
  auto s2 = ask<subscription_info>(qmb, atom::subscribe_v, spec);
  CAF_REQUIRE(s2);
  show(qma, "QMB", caf::actor_cast<caf::actor>(qmb), true, {}, {},
       {"news/#", "news/+"});
  CAF_REQUIRE(ask<uint64_t>(qma, atom::publish_v, std::string{"news/today"},
                            text_msg("hello"), false));
  CAF_REQUIRE(ask<uint64_t>(qma, atom::publish_v, std::string{"sport/x"},
                            text_msg("no"), false));
  // One copy travelled (the channel confirmed one message) and both
  // subscriptions on QMB got it.
  auto subs = ask<std::vector<subscription_info>>(qmb, atom::list_v,
                                                  atom::subs_v);
  CAF_REQUIRE(subs);
  CAF_REQUIRE_EQUAL(subs->size(), 2u);
  for (auto& s : *subs)
    CAF_CHECK_EQUAL(depth(qmb, s.queue), 1u);
  auto cs = ask<cluster_status>(qma, atom::cluster_v);
  CAF_REQUIRE(cs);
  CAF_REQUIRE_EQUAL(cs->channels.size(), 1u);
  CAF_CHECK_EQUAL(cs->channels[0].sent_total, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
