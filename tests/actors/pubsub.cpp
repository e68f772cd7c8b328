#define CAF_SUITE actors.pubsub
#include "test_fixture.hpp"

#include <memory>

using namespace qmesh;
using namespace qmesh::test;

namespace {

using strings = std::vector<std::string>;

struct pubsub_fixture : qm_fixture {
  caf::expected<subscription_info> try_subscribe(subscription_spec spec) {
    return ask<subscription_info>(qm, atom::subscribe_v, std::move(spec));
  }

  subscription_info subscribe(std::string filter, std::string durable = {},
                              std::string queue = {}) {
    auto info = try_subscribe(
      subscription_spec{filter, std::move(durable), std::move(queue)});
    if (!info)
      CAF_FAIL("subscribe " << filter << ": " << render(info.error()));
    return *info;
  }

  caf::expected<uint64_t> publish(const std::string& topic, message msg,
                                  bool retain = false) {
    return ask<uint64_t>(qm, atom::publish_v, topic, std::move(msg), retain);
  }

  /// Publishes and requires success; returns the number of matches.
  uint64_t pub(const std::string& topic, std::string body,
               bool retain = false) {
    auto n = publish(topic, text(std::move(body)), retain);
    if (!n)
      CAF_FAIL("publish " << topic << ": " << render(n.error()));
    return *n;
  }

  caf::expected<atom::ok> unsubscribe(const std::string& name) {
    return ask<atom::ok>(qm, atom::unsubscribe_v, name);
  }

  /// Gets every message from a queue.
  std::vector<message> drain(const std::string& queue) {
    std::vector<message> result;
    for (;;) {
      auto m = get(queue);
      if (!m) {
        if (reason(m) != 2033)
          CAF_FAIL("get " << queue << ": " << render(m.error()));
        return result;
      }
      result.push_back(std::move(*m));
    }
  }

  /// The bodies of every message on a queue (which is drained).
  strings bodies(const std::string& queue) {
    strings result;
    for (auto& m : drain(queue))
      result.push_back(m.body);
    return result;
  }

  uint64_t depth(const std::string& queue) {
    return inquire(queue).current_depth;
  }

  std::vector<subscription_info> list_subs() {
    auto xs = ask<std::vector<subscription_info>>(qm, atom::list_v,
                                                  atom::subs_v);
    if (!xs)
      CAF_FAIL("list subs: " << render(xs.error()));
    return *xs;
  }

  /// Publishes on `topic` to subscriptions with each of `filters`; returns
  /// the filters whose queue got the publication.
  strings matching(const strings& filters, const std::string& topic) {
    std::vector<subscription_info> infos;
    for (const auto& f : filters)
      infos.push_back(subscribe(f));
    auto n = pub(topic, "p");
    strings hits;
    for (auto& info : infos)
      if (!drain(info.queue).empty())
        hits.push_back(info.filter);
    CAF_CHECK_EQUAL(n, hits.size());
    for (auto& info : infos)
      CAF_CHECK(unsubscribe(info.name));
    return hits;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pubsub_tests, pubsub_fixture)

// -- delivery -----------------------------------------------------------------

CAF_TEST(a subscription gets matching publications on its managed queue) {
  auto info = subscribe("sports/football/results");
  CAF_CHECK_EQUAL(info.filter, "sports/football/results");
  CAF_CHECK(info.managed_queue);
  CAF_CHECK(!info.durable);
  CAF_CHECK_EQUAL(info.queue.rfind(managed_queue_prefix, 0), 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count(info.queue), 1u);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
  auto msg = text("3-1");
  msg.correl_id = "c1";
  msg.properties["k"] = "v";
  auto n = publish("sports/football/results", msg);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 1u);
  auto got = get(info.queue);
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->body, "3-1");
  CAF_CHECK_EQUAL(got->correl_id, "c1");
  CAF_CHECK_EQUAL(got->properties["k"], "v");
  CAF_CHECK_EQUAL(got->properties[std::string{topic_property}],
                  "sports/football/results");
  CAF_CHECK_EQUAL(got->origin_qmgr, "QM1");
  CAF_CHECK(!got->id.empty());
  CAF_CHECK_EQUAL(reason(get(info.queue)), 2033);
}

CAF_TEST(non matching topics do not arrive) {
  auto info = subscribe("sports/football/results");
  CAF_CHECK_EQUAL(pub("sports/football", "x"), 0u);
  CAF_CHECK_EQUAL(pub("sports/football/results/extra", "x"), 0u);
  CAF_CHECK_EQUAL(pub("sports/tennis/results", "x"), 0u);
  CAF_CHECK_EQUAL(pub("Sports/football/results", "x"), 0u);
  CAF_CHECK_EQUAL(pub("sports/football/results/", "x"), 0u);
  CAF_CHECK_EQUAL(depth(info.queue), 0u);
  CAF_CHECK_EQUAL(pub("sports/football/results", "y"), 1u);
  CAF_CHECK_EQUAL(bodies(info.queue), strings{"y"});
}

CAF_TEST(publications arrive in order) {
  auto info = subscribe("t");
  for (int i = 0; i < 20; ++i)
    self->send(qm, atom::publish_v, std::string{"t"},
               text(std::to_string(i)), false);
  run();
  strings expected;
  for (int i = 0; i < 20; ++i)
    expected.push_back(std::to_string(i));
  // Drop the 20 publish replies from the mailbox.
  for (int i = 0; i < 20; ++i)
    self->receive([](uint64_t) {}, [](caf::error&) {});
  CAF_CHECK_EQUAL(bodies(info.queue), expected);
}

// -- filters ------------------------------------------------------------------

CAF_TEST(plus matches exactly one level) {
  strings filters{"a/+/c", "+/b/c", "a/b/+", "+", "+/+", "+/+/+", "a/+"};
  CAF_CHECK_EQUAL(matching(filters, "a/b/c"),
                  (strings{"a/+/c", "+/b/c", "a/b/+", "+/+/+"}));
  CAF_CHECK_EQUAL(matching(filters, "a/x/c"), (strings{"a/+/c", "+/+/+"}));
  CAF_CHECK_EQUAL(matching(filters, "a/b/c/d"), strings{});
  CAF_CHECK_EQUAL(matching(filters, "a/c"), (strings{"+/+", "a/+"}));
  CAF_CHECK_EQUAL(matching(filters, "a"), (strings{"+"}));
}

CAF_TEST(hash matches zero or more levels) {
  strings filters{"#", "a/#", "a/b/#", "b/#", "+/#", "a/+/#"};
  CAF_CHECK_EQUAL(matching(filters, "a"), (strings{"#", "a/#", "+/#"}));
  CAF_CHECK_EQUAL(matching(filters, "a/b"),
                  (strings{"#", "a/#", "a/b/#", "+/#", "a/+/#"}));
  CAF_CHECK_EQUAL(matching(filters, "a/b/c/d/e"),
                  (strings{"#", "a/#", "a/b/#", "+/#", "a/+/#"}));
  CAF_CHECK_EQUAL(matching(filters, "c/d"), (strings{"#", "+/#"}));
}

CAF_TEST(hash alone matches every topic) {
  auto info = subscribe("#");
  for (auto t : {"a", "a/b", "x/y/z", "/", "a//b", "/lead"})
    CAF_CHECK_EQUAL(pub(t, t), 1u);
  CAF_CHECK_EQUAL(bodies(info.queue),
                  (strings{"a", "a/b", "x/y/z", "/", "a//b", "/lead"}));
}

CAF_TEST(empty levels are levels) {
  strings filters{"a//c", "a/+/c", "/x", "+/x", "a/", "a/+", "a/b"};
  CAF_CHECK_EQUAL(matching(filters, "a//c"), (strings{"a//c", "a/+/c"}));
  CAF_CHECK_EQUAL(matching(filters, "/x"), (strings{"/x", "+/x"}));
  CAF_CHECK_EQUAL(matching(filters, "a/"), (strings{"a/", "a/+"}));
  CAF_CHECK_EQUAL(matching(filters, "a/b"), (strings{"a/+", "a/b"}));
  CAF_CHECK_EQUAL(matching(filters, "a/c"), (strings{"a/+"}));
}

CAF_TEST(invalid topics and filters are 2425) {
  auto info = subscribe("#");
  for (auto t : {std::string{}, std::string{"a/+"}, std::string{"a/#"},
                 std::string{"a+"}, std::string{"#"},
                 std::string{"a\0b", 3}, std::string(4097, 'a')}) {
    CAF_MESSAGE("topic of " << t.size() << " bytes");
    CAF_CHECK_EQUAL(reason(publish(t, text("x"))), 2425);
    CAF_CHECK_EQUAL(reason(publish(t, text("x"), true)), 2425);
  }
  CAF_CHECK_EQUAL(depth(info.queue), 0u);
  CAF_CHECK(qm_state().retained.empty());
  CAF_CHECK(unsubscribe(info.name));
  auto queues_before = qm_state().queues.size();
  for (auto f : {std::string{}, std::string{"a/#/b"}, std::string{"a+/b"},
                 std::string{"a/b#"}, std::string{"#/"}, std::string{"++"},
                 std::string{"a\0b", 3}, std::string(4097, 'a')}) {
    CAF_MESSAGE("filter of " << f.size() << " bytes");
    CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{f, "", ""})),
                    2425);
    CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{f, "D", ""})),
                    2425);
  }
  CAF_CHECK(qm_state().subs.empty());
  CAF_CHECK(qm_state().sub_names.empty());
  CAF_CHECK_EQUAL(qm_state().tree.size(), 0u);
  CAF_CHECK_EQUAL(qm_state().queues.size(), queues_before);
}

// -- fan-out ------------------------------------------------------------------

CAF_TEST(publish replies the number of matching subscriptions) {
  CAF_CHECK_EQUAL(pub("a/b", "none"), 0u);
  auto s1 = subscribe("a/b");
  CAF_CHECK_EQUAL(pub("a/b", "one"), 1u);
  auto s2 = subscribe("a/+");
  auto s3 = subscribe("#");
  auto s4 = subscribe("x/y");
  CAF_CHECK_EQUAL(pub("a/b", "three"), 3u);
  CAF_CHECK_EQUAL(pub("x/y", "x"), 2u);
  CAF_CHECK_EQUAL(pub("q", "q"), 1u);
  CAF_CHECK_EQUAL(bodies(s1.queue), (strings{"one", "three"}));
  CAF_CHECK_EQUAL(bodies(s2.queue), (strings{"three"}));
  CAF_CHECK_EQUAL(bodies(s3.queue), (strings{"three", "x", "q"}));
  CAF_CHECK_EQUAL(bodies(s4.queue), (strings{"x"}));
}

CAF_TEST(fan out gives each subscription its own copy) {
  std::vector<subscription_info> subs;
  for (int i = 0; i < 5; ++i)
    subs.push_back(subscribe("news/#"));
  auto msg = text("headline");
  msg.properties["lang"] = "en";
  auto n = publish("news/today", msg);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 5u);
  std::vector<msg_id> ids;
  for (auto& s : subs) {
    CAF_CHECK_EQUAL(depth(s.queue), 1u);
    auto m = get(s.queue);
    CAF_REQUIRE(m);
    CAF_CHECK_EQUAL(m->body, "headline");
    CAF_CHECK_EQUAL(m->properties["lang"], "en");
    CAF_CHECK_EQUAL(m->properties[std::string{topic_property}], "news/today");
    ids.push_back(m->id);
  }
  // Taking one copy leaves the others; each copy is a distinct message.
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = i + 1; j < ids.size(); ++j)
      CAF_CHECK(!(ids[i] == ids[j]));
  auto infos = list_subs();
  CAF_REQUIRE_EQUAL(infos.size(), 5u);
  for (auto& info : infos)
    CAF_CHECK_EQUAL(info.delivered_total, 1u);
}

// -- named target queues ------------------------------------------------------

CAF_TEST(a subscription can deliver to a named queue) {
  define("INBOX");
  auto a = subscribe("a/#", "", "INBOX");
  CAF_CHECK_EQUAL(a.queue, "INBOX");
  CAF_CHECK(!a.managed_queue);
  auto b = subscribe("b/#", "", "INBOX");
  CAF_CHECK_EQUAL(pub("a/1", "a1"), 1u);
  CAF_CHECK_EQUAL(pub("b/1", "b1"), 1u);
  CAF_CHECK_EQUAL(pub("c/1", "c1"), 0u);
  auto msgs = drain("INBOX");
  CAF_REQUIRE_EQUAL(msgs.size(), 2u);
  CAF_CHECK_EQUAL(msgs[0].body, "a1");
  CAF_CHECK_EQUAL(msgs[0].properties[std::string{topic_property}], "a/1");
  CAF_CHECK_EQUAL(msgs[1].body, "b1");
  CAF_CHECK_EQUAL(msgs[1].properties[std::string{topic_property}], "b/1");
  // The queue receives subscriptions: it cannot be deleted.
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(qm, atom::delete_v,
                                       std::string{"INBOX"}, true)),
                  2042);
  // Unsubscribing does not delete a named queue.
  CAF_CHECK(unsubscribe(a.name));
  CAF_CHECK(unsubscribe(b.name));
  CAF_CHECK_EQUAL(qm_state().queues.count("INBOX"), 1u);
  CAF_CHECK(ask<uint64_t>(qm, atom::delete_v, std::string{"INBOX"}, false));
}

CAF_TEST(a named queue is auto defined and bad ones are refused) {
  auto a = subscribe("a", "", "AUTOQ");
  CAF_CHECK_EQUAL(qm_state().queues.count("AUTOQ"), 1u);
  CAF_CHECK_EQUAL(pub("a", "x"), 1u);
  CAF_CHECK_EQUAL(bodies("AUTOQ"), strings{"x"});
  auto subs_before = qm_state().subs.size();
  CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{"a", "", "A-B"})),
                  2152);
  CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{"a", "", "QM9/Q"})),
                  2087);
  CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{"a", "BAD NAME",
                                                         ""})),
                  2152);
  CAF_CHECK_EQUAL(qm_state().subs.size(), subs_before);
  CAF_CHECK_EQUAL(pub("a", "y"), 1u);
}

CAF_TEST(a named queue given as a local address is the same queue) {
  define("INBOX");
  auto a = subscribe("a", "", "QM1/INBOX");
  CAF_CHECK_EQUAL(pub("a", "x"), 1u);
  CAF_CHECK_EQUAL(depth("INBOX"), 1u);
  // The subscription holds the queue: it cannot be deleted under it.
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(qm, atom::delete_v,
                                       std::string{"INBOX"}, true)),
                  2042);
  CAF_CHECK_EQUAL(qm_state().queues.count("INBOX"), 1u);
  CAF_CHECK_EQUAL(pub("a", "y"), 1u);
  CAF_CHECK_EQUAL(bodies("INBOX"), (strings{"x", "y"}));
}

// -- durability and ownership -------------------------------------------------

CAF_TEST(a durable subscription survives its creator) {
  auto infos = std::make_shared<std::vector<subscription_info>>();
  auto helper = spawn_helper([qm = qm, infos](caf::event_based_actor* self) {
    for (auto durable : {std::string{"DUR1"}, std::string{}})
      self->request(qm, caf::infinite, atom::subscribe_v,
                    subscription_spec{"orders/#", durable, ""})
        .then([infos](subscription_info& x) { infos->push_back(x); },
              [](caf::error&) {});
  });
  CAF_REQUIRE_EQUAL(infos->size(), 2u);
  auto durable = (*infos)[0].durable ? (*infos)[0] : (*infos)[1];
  auto transient = (*infos)[0].durable ? (*infos)[1] : (*infos)[0];
  CAF_CHECK(durable.durable);
  CAF_CHECK_EQUAL(durable.name, "DUR1");
  CAF_CHECK(!transient.durable);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 2u);
  CAF_CHECK_EQUAL(pub("orders/1", "before"), 2u);
  CAF_CHECK_EQUAL(depth(transient.queue), 1u);
  kill(helper);
  // The non-durable one ended with its owner, managed queue and all.
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
  CAF_CHECK_EQUAL(qm_state().subs.count(durable.id), 1u);
  CAF_CHECK_EQUAL(qm_state().subs.count(transient.id), 0u);
  CAF_CHECK_EQUAL(qm_state().sub_names.count(transient.name), 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count(transient.queue), 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count(durable.queue), 1u);
  CAF_CHECK_EQUAL(qm_state().tree.size(), 1u);
  CAF_CHECK_EQUAL(reason(unsubscribe(transient.name)), 2085);
  // The durable one still delivers.
  CAF_CHECK_EQUAL(pub("orders/2", "after"), 1u);
  CAF_CHECK_EQUAL(bodies(durable.queue), (strings{"before", "after"}));
  auto subs = list_subs();
  CAF_REQUIRE_EQUAL(subs.size(), 1u);
  CAF_CHECK_EQUAL(subs[0].name, "DUR1");
}

CAF_TEST(managed queues are system queues) {
  auto info = subscribe("x");
  CAF_CHECK_EQUAL(info.name, info.queue);
  // Managed queues are system queues.
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(qm, atom::delete_v, info.queue, true)),
                  2035);
  CAF_CHECK_EQUAL(pub("x", "1"), 1u);
  CAF_CHECK_EQUAL(depth(info.queue), 1u);
}

CAF_TEST(durable resume with the same filter returns the same subscription) {
  auto first = subscribe("a/+", "DUR");
  CAF_CHECK(first.durable);
  CAF_CHECK(first.managed_queue);
  CAF_CHECK_EQUAL(pub("a/b", "kept"), 1u);
  auto again = subscribe("a/+", "DUR");
  CAF_CHECK_EQUAL(again.id, first.id);
  CAF_CHECK_EQUAL(again.name, first.name);
  CAF_CHECK_EQUAL(again.queue, first.queue);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
  // Resuming does not duplicate deliveries.
  CAF_CHECK_EQUAL(pub("a/c", "next"), 1u);
  CAF_CHECK_EQUAL(bodies(first.queue), (strings{"kept", "next"}));
  // Another filter or another queue under the same name: 2100.
  CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{"a/#", "DUR", ""})),
                  2100);
  CAF_CHECK_EQUAL(reason(try_subscribe(subscription_spec{"a/+", "DUR",
                                                         "OTHERQ"})),
                  2100);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
  CAF_CHECK_EQUAL(qm_state().subs[first.id].info.filter, "a/+");
}

CAF_TEST(a durable name cannot resume a non durable subscription) {
  auto transient = subscribe("a");
  auto r = try_subscribe(subscription_spec{"a", transient.name, ""});
  CAF_CHECK_EQUAL(reason(r), 2100);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
}

CAF_TEST(managed queue names never clash with user queues) {
  // A user queue that looks like the managed queue of the next subscription.
  auto next = qm_state().next_sub;
  auto name = std::string{managed_queue_prefix} + std::to_string(next);
  define(name);
  CAF_CHECK(put(name, text("user data")));
  auto info = subscribe("t");
  CAF_CHECK_NOT_EQUAL(info.queue, name);
  CAF_CHECK_EQUAL(pub("t", "pub"), 1u);
  // The user's queue and its message are untouched.
  CAF_CHECK_EQUAL(bodies(name), strings{"user data"});
  CAF_CHECK_EQUAL(bodies(info.queue), strings{"pub"});
  // And a durable subscription named like a future managed name does not
  // capture the next non-durable subscription's name.
  auto future = std::string{managed_queue_prefix}
                + std::to_string(qm_state().next_sub + 1);
  auto d = subscribe("d", future);
  auto n = subscribe("n");
  CAF_CHECK_NOT_EQUAL(n.name, d.name);
  CAF_CHECK_EQUAL(pub("d", "to d"), 1u);
  CAF_CHECK_EQUAL(bodies(d.queue), strings{"to d"});
  CAF_CHECK(unsubscribe(n.name));
  CAF_CHECK_EQUAL(qm_state().subs.count(d.id), 1u);
  CAF_CHECK(unsubscribe(d.name));
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
}

CAF_TEST(unsubscribe ends a subscription and deletes its managed queue) {
  auto info = subscribe("a/b");
  auto durable = subscribe("a/#", "DURABLE");
  CAF_CHECK_EQUAL(pub("a/b", "x"), 2u);
  CAF_REQUIRE(unsubscribe(info.name));
  CAF_CHECK_EQUAL(qm_state().subs.count(info.id), 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count(info.queue), 0u);
  CAF_CHECK_EQUAL(reason(get(info.queue)), 2033); // auto-defined afresh
  CAF_CHECK_EQUAL(pub("a/b", "y"), 1u);
  CAF_REQUIRE(unsubscribe("DURABLE"));
  CAF_CHECK_EQUAL(qm_state().queues.count(durable.queue), 0u);
  CAF_CHECK(qm_state().subs.empty());
  CAF_CHECK_EQUAL(qm_state().tree.size(), 0u);
  CAF_CHECK_EQUAL(pub("a/b", "z"), 0u);
  CAF_CHECK_EQUAL(reason(unsubscribe("DURABLE")), 2085);
  CAF_CHECK_EQUAL(reason(unsubscribe("NOPE")), 2085);
  CAF_CHECK_EQUAL(reason(unsubscribe("")), 2085);
  // A durable name can be used again after unsubscribe, with any filter.
  auto fresh = subscribe("other", "DURABLE");
  CAF_CHECK_NOT_EQUAL(fresh.id, durable.id);
  CAF_CHECK_EQUAL(pub("other", "o"), 1u);
}

// -- retained publications ----------------------------------------------------

CAF_TEST(the last retained publication goes to new subscribers first) {
  CAF_CHECK_EQUAL(pub("r/a", "old", true), 0u);
  CAF_CHECK_EQUAL(pub("r/a", "new", true), 0u);
  CAF_CHECK_EQUAL(pub("r/b", "b1", true), 0u);
  CAF_CHECK_EQUAL(pub("r/a", "not retained"), 0u);
  CAF_CHECK_EQUAL(qm_state().retained.size(), 2u);
  auto info = subscribe("r/#");
  CAF_CHECK_EQUAL(pub("r/a", "live"), 1u);
  auto msgs = drain(info.queue);
  CAF_REQUIRE_EQUAL(msgs.size(), 3u);
  CAF_CHECK_EQUAL(msgs[0].body, "new");
  CAF_CHECK_EQUAL(msgs[0].properties[std::string{topic_property}], "r/a");
  CAF_CHECK_EQUAL(msgs[1].body, "b1");
  CAF_CHECK_EQUAL(msgs[1].properties[std::string{topic_property}], "r/b");
  CAF_CHECK_EQUAL(msgs[2].body, "live");
  // Only matching retained topics are given.
  auto only_b = subscribe("r/b");
  CAF_CHECK_EQUAL(bodies(only_b.queue), strings{"b1"});
  auto none = subscribe("s/#");
  CAF_CHECK_EQUAL(depth(none.queue), 0u);
}

CAF_TEST(retained publications come before a burst sent right after) {
  CAF_CHECK_EQUAL(pub("r", "retained", true), 0u);
  // Subscribe and publish without running in between.
  self->send(qm, atom::subscribe_v, subscription_spec{"r", "", ""});
  self->send(qm, atom::publish_v, std::string{"r"}, text("live"), false);
  run();
  subscription_info info;
  self->receive([&](subscription_info& x) { info = x; },
                [](caf::error& e) { CAF_FAIL(render(e)); });
  self->receive([](uint64_t n) { CAF_CHECK_EQUAL(n, 1u); },
                [](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK_EQUAL(bodies(info.queue), (strings{"retained", "live"}));
}

CAF_TEST(an empty retained publication clears the topic) {
  CAF_CHECK_EQUAL(pub("r/a", "keep", true), 0u);
  CAF_CHECK_EQUAL(pub("r/b", "drop", true), 0u);
  auto s = ask<qm_status>(qm, atom::status_v);
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->retained_count, 2u);
  auto early = subscribe("r/b");
  CAF_CHECK_EQUAL(bodies(early.queue), strings{"drop"});
  CAF_CHECK_EQUAL(pub("r/b", "", true), 1u);
  CAF_CHECK_EQUAL(qm_state().retained.count("r/b"), 0u);
  s = ask<qm_status>(qm, atom::status_v);
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->retained_count, 1u);
  auto info = subscribe("r/+");
  CAF_CHECK_EQUAL(bodies(info.queue), strings{"keep"});
}

// -- refused publications -----------------------------------------------------

CAF_TEST(a managed queue cannot be the named target of another subscription) {
  auto first = subscribe("a/#");
  subscription_spec spec;
  spec.filter = "b/#";
  spec.queue = first.queue;
  CAF_CHECK_EQUAL(reason(ask<subscription_info>(qm, atom::subscribe_v, spec)),
                  2035);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 1u);
}

CAF_TEST(a publication a full reject queue refuses is dead lettered) {
  define("SMALL", {{"max_depth", "1"}, {"overflow_policy", "reject"}});
  auto info = subscribe("alerts/#", "", "SMALL");
  CAF_CHECK_EQUAL(pub("alerts/1", "fits"), 1u);
  CAF_CHECK_EQUAL(pub("alerts/2", "overflow"), 1u);
  CAF_CHECK_EQUAL(depth("SMALL"), 1u);
  CAF_CHECK_EQUAL(depth(dead_letter_queue_name), 1u);
  auto dead = get(dead_letter_queue_name);
  CAF_REQUIRE(dead);
  CAF_CHECK_EQUAL(dead->body, "overflow");
  CAF_CHECK_EQUAL(dead->properties[std::string{topic_property}], "alerts/2");
  auto why = dead->properties[std::string{dead_letter_reason_property}];
  CAF_CHECK_EQUAL(why.rfind("2053", 0), 0u);
  CAF_MESSAGE("reason: " << why);
  CAF_CHECK_EQUAL(dead->properties[std::string{dead_letter_source_property}],
                  "SMALL");
  CAF_CHECK_EQUAL(bodies("SMALL"), strings{"fits"});
  // Only accepted publications count as delivered.
  auto subs = list_subs();
  CAF_REQUIRE_EQUAL(subs.size(), 1u);
  CAF_CHECK_EQUAL(subs[0].delivered_total, 1u);
  // Inhibited puts are dead-lettered too.
  CAF_REQUIRE(ask<queue_status>(qm, atom::alter_v, std::string{"SMALL"},
                                attr_map{{"put_inhibited", "true"}}));
  CAF_CHECK_EQUAL(pub("alerts/3", "inhibited"), 1u);
  dead = get(dead_letter_queue_name);
  CAF_REQUIRE(dead);
  CAF_CHECK_EQUAL(dead->body, "inhibited");
  CAF_CHECK_EQUAL(
    dead->properties[std::string{dead_letter_reason_property}].rfind("2051",
                                                                     0),
    0u);
}

// -- listing ------------------------------------------------------------------

CAF_TEST(list subscriptions shows every subscription) {
  CAF_CHECK(list_subs().empty());
  auto a = subscribe("a/#");
  auto b = subscribe("b", "DURB");
  define("NAMED");
  auto c = subscribe("c/+", "", "NAMED");
  CAF_CHECK_EQUAL(pub("a/1", "x"), 1u);
  CAF_CHECK_EQUAL(pub("a/2", "x"), 1u);
  auto subs = list_subs();
  CAF_REQUIRE_EQUAL(subs.size(), 3u);
  // In creation (id) order.
  CAF_CHECK_EQUAL(subs[0].id, a.id);
  CAF_CHECK_EQUAL(subs[0].filter, "a/#");
  CAF_CHECK_EQUAL(subs[0].name, a.name);
  CAF_CHECK(!subs[0].durable);
  CAF_CHECK(subs[0].managed_queue);
  CAF_CHECK_EQUAL(subs[0].delivered_total, 2u);
  CAF_CHECK_EQUAL(subs[1].name, "DURB");
  CAF_CHECK(subs[1].durable);
  CAF_CHECK_EQUAL(subs[1].queue, b.queue);
  CAF_CHECK_EQUAL(subs[1].delivered_total, 0u);
  CAF_CHECK_EQUAL(subs[2].queue, "NAMED");
  CAF_CHECK(!subs[2].managed_queue);
  CAF_CHECK_EQUAL(subs[2].filter, c.filter);
  auto s = ask<qm_status>(qm, atom::status_v);
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->subscription_count, 3u);
  CAF_CHECK(unsubscribe(b.name));
  CAF_CHECK_EQUAL(list_subs().size(), 2u);
}

// -- scale --------------------------------------------------------------------

CAF_TEST(ten thousand subscriptions on one topic tree) {
  // 9000 exact filters grid/<x>/<y> (x < 90, y < 100), 100 of grid/+/<y>,
  // 90 of grid/<x>/#, 10 of grid/#, 800 elsewhere.
  std::vector<subscription_info> subs;
  subs.reserve(10'000);
  auto filter_of = [](int i) {
    if (i < 9000)
      return "grid/" + std::to_string(i % 90) + "/" + std::to_string(i / 90);
    if (i < 9100)
      return "grid/+/" + std::to_string(i - 9000);
    if (i < 9190)
      return "grid/" + std::to_string(i - 9100) + "/#";
    if (i < 9200)
      return std::string{"grid/#"};
    return "other/" + std::to_string(i);
  };
  for (int i = 0; i < 10'000; ++i) {
    self->send(qm, atom::subscribe_v, subscription_spec{filter_of(i), "", ""});
    if (i % 500 == 499) {
      run();
      for (int k = 0; k < 500; ++k)
        self->receive([&](subscription_info& x) { subs.push_back(x); },
                      [](caf::error& e) { CAF_FAIL(render(e)); });
    }
  }
  CAF_REQUIRE_EQUAL(subs.size(), 10'000u);
  CAF_CHECK_EQUAL(qm_state().subs.size(), 10'000u);
  CAF_CHECK_EQUAL(qm_state().tree.size(), 10'000u);
  // grid/17/42: exact #3797, grid/+/42 #9042, grid/17/# #9117, 10 x grid/#.
  CAF_CHECK_EQUAL(pub("grid/17/42", "hit"), 13u);
  for (int i : {3797, 9042, 9117, 9190, 9199}) {
    CAF_CHECK_EQUAL(subs[i].filter, filter_of(i));
    auto msgs = drain(subs[i].queue);
    CAF_REQUIRE_EQUAL(msgs.size(), 1u);
    CAF_CHECK_EQUAL(msgs[0].body, "hit");
    CAF_CHECK_EQUAL(msgs[0].properties[std::string{topic_property}],
                    "grid/17/42");
  }
  for (int i : {3796, 3798, 3707, 42 * 90 + 18, 9041, 9118, 9200, 9999})
    CAF_CHECK_EQUAL(depth(subs[i].queue), 0u);
  // grid/17: only grid/17/# (zero levels) and grid/#.
  CAF_CHECK_EQUAL(pub("grid/17", "short"), 11u);
  CAF_CHECK_EQUAL(bodies(subs[9117].queue), strings{"short"});
  CAF_CHECK_EQUAL(depth(subs[3797].queue), 0u);
  // other/9500: exactly one.
  CAF_CHECK_EQUAL(pub("other/9500", "o"), 1u);
  CAF_CHECK_EQUAL(bodies(subs[9500].queue), strings{"o"});
  // Unsubscribing the wildcards shrinks the match set.
  for (int i = 9000; i < 9200; ++i)
    CAF_CHECK(unsubscribe(subs[i].name));
  CAF_CHECK_EQUAL(pub("grid/17/42", "again"), 1u);
  CAF_CHECK_EQUAL(bodies(subs[3797].queue), strings{"again"});
  CAF_CHECK_EQUAL(qm_state().tree.size(), 9'800u);
}

CAF_TEST_FIXTURE_SCOPE_END()
