#define CAF_SUITE actors.durability
#include "test_fixture.hpp"

#include "recording_journal.hpp"

// Persistence seen from the actors: what the queue manager and the queues
// journal, that replies wait for the journal, and recovery from a
// recovered_state. The journal is a recording fake (the real one has its own
// tests in unit.journal); it says "on disk" only when a test calls sync().

using namespace qmesh;
using namespace qmesh::test;

namespace {

using store::record_kind;
using fake_journal = recording_journal;

qm_config journal_config(std::shared_ptr<fake_journal> j,
                         std::shared_ptr<store::recovered_state> r = {}) {
  auto cfg = no_wait_config();
  cfg.journal = j;
  cfg.recovered = std::move(r);
  return cfg;
}

message persistent(std::string body) {
  auto msg = text(std::move(body));
  msg.persistent = 1;
  return msg;
}

struct fixture : qm_fixture {
  std::shared_ptr<fake_journal> journal;

  explicit fixture(std::shared_ptr<fake_journal> j
                   = std::make_shared<fake_journal>())
    : qm_fixture(journal_config(j)), journal(j) {
    sync();
  }

  void sync(bool ok = true) {
    journal->sync(ok);
    run();
  }

  /// define, then the journal syncs (the reply waits for it).
  void define(const std::string& name, attr_map attrs = {}) {
    auto r = ask_later<queue_status>(qm, atom::define_v, name,
                                     std::move(attrs));
    sync();
    if (!r->has_value() || !**r)
      CAF_FAIL("define " << name);
  }

  /// A destructive get whose reply may wait for the journal: syncs.
  std::string take(const std::string& name) {
    auto r = ask_later<message>(qm, atom::get_v, name, get_options{});
    sync();
    if (!r->has_value() || !**r)
      return "<none>";
    return (**r)->body;
  }

  /// A request whose reply may come later: the slot fills when it does.
  template <class T, class Handle, class... Ts>
  std::shared_ptr<std::optional<reply<T>>> ask_later(const Handle& hdl,
                                                     Ts... xs) {
    auto out = std::make_shared<std::optional<reply<T>>>();
    spawn_helper([=](caf::event_based_actor* h) {
      h->request(hdl, caf::infinite, xs...)
        .then([out](T& x) { *out = reply<T>{std::move(x)}; },
              [out](caf::error& e) {
                *out = reply<T>{caf::expected<T>{std::move(e)}};
              });
    });
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(durability_tests, fixture)

CAF_TEST(a persistent put is confirmed and visible only once on disk) {
  define("Q");
  auto r = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                             persistent("p1"));
  CAF_CHECK(!r->has_value());
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u); // counted, not ready
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
  auto& put = journal->last<store::put_record>(record_kind::put);
  CAF_CHECK_EQUAL(put.queue, "Q");
  CAF_CHECK_EQUAL(put.msg.body, "p1");
  CAF_CHECK_EQUAL(put.uow, 0u);
  sync();
  CAF_REQUIRE(r->has_value());
  CAF_CHECK(static_cast<bool>(**r));
  auto got = ask_later<message>(qm, atom::get_v, std::string{"Q"},
                                get_options{});
  // The destructive get of a persistent message waits for its removal.
  CAF_CHECK(!got->has_value());
  auto& rm = journal->last<store::remove_record>(record_kind::remove);
  CAF_CHECK_EQUAL(rm.keys.size(), 1u);
  sync();
  CAF_REQUIRE(got->has_value());
  CAF_CHECK_EQUAL((**got)->body, "p1");
}

CAF_TEST(a batch get of persistent messages replies once their removals are on disk) {
  define("Q");
  for (auto x : {"p1", "p2", "p3"}) {
    auto r = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                               persistent(x));
    sync();
    CAF_REQUIRE(r->has_value());
  }
  auto got = ask_later<std::vector<message>>(qm, atom::get_v, std::string{"Q"},
                                             get_options{}, uint32_t{10});
  CAF_CHECK(!got->has_value());
  sync();
  CAF_REQUIRE(got->has_value());
  CAF_REQUIRE(static_cast<bool>(**got));
  CAF_CHECK_EQUAL((**got)->size(), 3u);
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 0u);
}

CAF_TEST(non persistent messages never touch the journal) {
  define("Q");
  auto before = journal->records.size();
  CAF_CHECK(put("Q", text("n1")));
  CAF_CHECK_EQUAL(get("Q").value().body, "n1");
  CAF_CHECK_EQUAL(journal->records.size(), before);
}

CAF_TEST(a non persistent put behind a persistent one keeps its order) {
  define("Q");
  auto r1 = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                              persistent("first"));
  auto r2 = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                              text("second"));
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
  sync();
  CAF_CHECK(r1->has_value() && r2->has_value());
  CAF_CHECK_EQUAL(take("Q"), "first");
  CAF_CHECK_EQUAL(take("Q"), "second");
}

CAF_TEST(the catalog is journaled and replies wait for it) {
  auto d = ask_later<queue_status>(qm, atom::define_v, std::string{"Q"},
                                   attr_map{{"max_depth", "7"}});
  CAF_CHECK(!d->has_value());
  auto& def = journal->last<store::queue_record>(record_kind::queue_define);
  CAF_CHECK_EQUAL(def.name, "Q");
  CAF_CHECK_EQUAL(def.attrs.max_depth, 7u);
  sync();
  CAF_CHECK(d->has_value());
  // alter: the catalog first, then the queue (used or a record alike).
  CAF_CHECK(put("Q", text("x")));
  auto a = ask_later<queue_status>(qm, atom::alter_v, std::string{"Q"},
                                   attr_map{{"max_depth", "9"}});
  CAF_CHECK_EQUAL(
    journal->last<store::queue_record>(record_kind::queue_define)
      .attrs.max_depth,
    9u);
  sync();
  CAF_REQUIRE(a->has_value());
  CAF_CHECK_EQUAL((**a)->attrs.max_depth, 9u);
  CAF_CHECK_EQUAL(inquire("Q").attrs.max_depth, 9u);
  // delete
  auto del = ask_later<uint64_t>(qm, atom::delete_v, std::string{"Q"}, true);
  sync();
  CAF_CHECK(del->has_value());
  CAF_CHECK_EQUAL(journal->last<store::name_record>(record_kind::queue_delete)
                    .name,
                  "Q");
  // A temporary queue is never journaled.
  auto before = journal->records.size();
  CAF_CHECK(ask<queue_status>(qm, atom::define_v, atom::temporary_v));
  CAF_CHECK_EQUAL(journal->records.size(), before);
}

CAF_TEST(a commit is confirmed once its record is on disk) {
  define("Q");
  auto uow = ask<uint64_t>(qm, atom::begin_v).value_or(0);
  CAF_REQUIRE(uow != 0);
  CAF_CHECK(ask<msg_id>(qm, atom::put_v, std::string{"Q"}, persistent("u1"),
                        uow));
  CAF_CHECK_EQUAL(journal->last<store::put_record>(record_kind::put).uow, uow);
  // The owner (self) commits.
  auto c2 = self->request(qm, caf::infinite, atom::commit_v, uow);
  run();
  CAF_CHECK_EQUAL(journal->count(record_kind::uow_commit), 1u);
  CAF_CHECK_EQUAL(reason(get("Q")), 2033); // not visible before the commit
  sync();
  bool ok = false;
  c2.receive([&](atom::ok) { ok = true; }, [](caf::error&) {});
  CAF_CHECK(ok);
  CAF_CHECK_EQUAL(journal->last<store::uow_record>(record_kind::uow_commit).uow,
                  uow);
  // A unit of work of non-persistent messages commits without a record.
  auto plain = ask<uint64_t>(qm, atom::begin_v).value_or(0);
  CAF_CHECK(ask<msg_id>(qm, atom::put_v, std::string{"Q"}, text("n1"), plain));
  auto before = journal->records.size();
  CAF_CHECK(ask<atom::ok>(qm, atom::commit_v, plain));
  CAF_CHECK_EQUAL(journal->records.size(), before);
  auto got = ask_later<message>(qm, atom::get_v, std::string{"Q"},
                                get_options{});
  sync();
  CAF_REQUIRE(got->has_value());
  CAF_CHECK_EQUAL((**got)->body, "u1");
}

CAF_TEST(a backout move is one journaled move and confirmed) {
  define("Q", {{"backout_threshold", "1"}, {"backout_queue", "BO"}});
  define("BO");
  auto r = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                             persistent("b1"));
  sync();
  auto key = journal->records.back().seq;
  auto uow = ask<uint64_t>(qm, atom::begin_v).value_or(0);
  get_options opts;
  opts.uow = uow;
  auto g = self->request(qm, caf::infinite, atom::get_v, std::string{"Q"},
                         opts);
  run();
  sync();
  g.receive([](message&) {}, [](caf::error& e) { CAF_FAIL(render(e)); });
  auto b = self->request(qm, caf::infinite, atom::backout_v, uow);
  run();
  b.receive([](atom::ok) {}, [](caf::error& e) { CAF_FAIL(render(e)); });
  auto& mv = journal->last<store::move_record>(record_kind::move);
  CAF_CHECK_EQUAL(mv.from, "Q");
  CAF_CHECK_EQUAL(mv.from_key, key);
  CAF_CHECK_EQUAL(mv.to.queue, "BO");
  // Until the target confirms, the message is still the source's.
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u);
  sync();
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 0u);
  auto got = ask_later<message>(qm, atom::get_v, std::string{"BO"},
                                get_options{});
  sync();
  CAF_REQUIRE(got->has_value());
  CAF_CHECK_EQUAL((**got)->body, "b1");
}

CAF_TEST(an acknowledging consumer journals deliveries and acks) {
  define("Q");
  ask_later<msg_id>(qm, atom::put_v, std::string{"Q"}, persistent("c1"));
  sync();
  auto key = journal->records.back().seq;
  auto [q, id, hdl, st] = consume("Q", 10, ack_mode::client);
  CAF_REQUIRE_EQUAL(st->received.size(), 1u);
  auto& cnt = journal->last<store::count_record>(record_kind::delivery_count);
  CAF_CHECK_EQUAL(cnt.key, key);
  CAF_CHECK_EQUAL(cnt.delivery_count, 1u);
  auto a = ask_later<uint64_t>(q, atom::ack_v, id, uint64_t{1}, uint64_t{1});
  CAF_CHECK(!a->has_value());
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys.front(),
                  key);
  sync();
  CAF_CHECK(a->has_value());
}

CAF_TEST(an automatic delivery whose consumer ends before the sync returns) {
  define("Q");
  ask_later<msg_id>(qm, atom::put_v, std::string{"Q"}, persistent("a1"));
  sync();
  auto [q, id, hdl, st] = consume("Q", 10, ack_mode::automatic);
  // Taken and its removal journaled, but not yet sent.
  CAF_CHECK(st->received.empty());
  CAF_CHECK(ask<atom::ok>(q, atom::cancel_v, id));
  sync();
  CAF_CHECK(st->received.empty());
  // Back on the queue as a new persistent put.
  sync();
  CAF_CHECK_EQUAL(take("Q"), "a1");
}

CAF_TEST(persistent puts are refused while the journal refuses them) {
  define("Q");
  journal->accepting = false;
  CAF_CHECK_EQUAL(reason(put("Q", persistent("p"))), 2102);
  CAF_CHECK(put("Q", text("n")));
  journal->accepting = true;
  auto r = ask_later<msg_id>(qm, atom::put_v, std::string{"Q"},
                             persistent("p"));
  sync(false); // the write failed
  CAF_REQUIRE(r->has_value());
  CAF_CHECK_EQUAL(reason(**r), 2102);
  CAF_CHECK_EQUAL(get("Q").value().body, "n");
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

std::shared_ptr<store::recovered_state> sample_state() {
  auto r = std::make_shared<store::recovered_state>();
  store::recovered_queue q;
  q.name = "ORDERS";
  q.attrs.max_depth = 77;
  for (int i = 1; i <= 3; ++i) {
    auto msg = persistent("m" + std::to_string(i));
    msg.priority = 0;
    msg.id = msg_id::next();
    msg.delivery_count = i == 1 ? 1 : 0;
    q.messages.emplace_back(100 + i, std::move(msg));
  }
  r->queues.push_back(std::move(q));
  store::recovered_queue idle;
  idle.name = "IDLE";
  r->queues.push_back(std::move(idle));
  store::recovered_queue managed;
  managed.name = "SYSTEM.SUB.9";
  managed.system = true;
  r->queues.push_back(std::move(managed));
  subscription_info sub;
  sub.name = "SUB9";
  sub.filter = "news/#";
  sub.queue = "SYSTEM.SUB.9";
  sub.durable = true;
  sub.managed_queue = true;
  r->subscriptions.push_back(sub);
  auto retained = persistent("latest");
  r->retained.emplace_back("news/today", retained);
  r->max_uow = 41;
  return r;
}

struct recovered_fixture : qm_fixture {
  std::shared_ptr<fake_journal> journal;
  recovered_fixture()
    : qm_fixture(journal_config(std::make_shared<fake_journal>(),
                                sample_state())) {
    journal = std::static_pointer_cast<fake_journal>(qm_state().cfg.journal);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(recovery_tests, recovered_fixture)

CAF_TEST(recovery rebuilds queues messages subscriptions and retained) {
  auto s = inquire("ORDERS");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 77u);
  CAF_CHECK_EQUAL(s.current_depth, 3u);
  CAF_CHECK_EQUAL(inquire("IDLE").current_depth, 0u);
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    auto got = self->request(qm, caf::infinite, atom::get_v,
                             std::string{"ORDERS"}, get_options{});
    run();
    journal->sync();
    run();
    got.receive(
      [&](message& m) {
        bodies.push_back(m.body);
        if (m.body == "m1")
          CAF_CHECK(m.redelivered());
      },
      [](caf::error& e) { CAF_FAIL(render(e)); });
  }
  CAF_CHECK_EQUAL(bodies, (std::vector<std::string>{"m1", "m2", "m3"}));
  // Removals name the recovered keys.
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys.front(),
                  103u);
  // The durable subscription is back, with its queue.
  auto subs = ask<std::vector<subscription_info>>(qm, atom::list_v,
                                                  atom::subs_v);
  CAF_REQUIRE(subs);
  CAF_REQUIRE_EQUAL(subs->size(), 1u);
  CAF_CHECK_EQUAL(subs->front().name, "SUB9");
  CAF_CHECK(subs->front().durable);
  // It got the retained publication when it was made, not again now.
  CAF_CHECK_EQUAL(inquire("SYSTEM.SUB.9").current_depth, 0u);
  // Units of work continue above the highest recovered one.
  CAF_CHECK_GREATER(ask<uint64_t>(qm, atom::begin_v).value_or(0), 41u);
  // The retained publication reaches a new subscriber.
  subscription_spec spec;
  spec.filter = "news/+";
  auto info = ask<subscription_info>(qm, atom::subscribe_v, spec);
  CAF_REQUIRE(info);
  run();
  CAF_CHECK_EQUAL(get(info->queue).value().body, "latest");
}

CAF_TEST_FIXTURE_SCOPE_END()
