#define CAF_SUITE unit.message_store
#include "test_fixture.hpp"

#include <string>
#include <vector>

#include "core/message_store.hpp"

using namespace qmesh;

namespace {

/// A message as a queue would push it: resolved priority, id set.
message mk(std::string body, int8_t priority = 0, std::string correl = {},
           int64_t put_time = 0) {
  message msg;
  msg.id = msg_id::next();
  msg.body = std::move(body);
  msg.priority = priority;
  msg.correl_id = std::move(correl);
  msg.put_time = put_time;
  return msg;
}

struct fixture {
  message_store store;
  uint64_t expired = 0;

  /// Pushes a message that never expires and returns its id.
  msg_id push(std::string body, int8_t priority = 0, std::string correl = {},
              int64_t expires_at = 0) {
    auto msg = mk(std::move(body), priority, std::move(correl));
    auto id = msg.id;
    store.push(std::move(msg), expires_at);
    return id;
  }

  /// Body of the next message in queue order, "<none>" if there is none.
  std::string take_body(const match_spec& spec = {}, int64_t now = 0) {
    auto entry = store.take(spec, now, expired);
    return entry ? entry->msg.body : std::string{"<none>"};
  }

  /// Drains the store; returns the bodies in order.
  std::vector<std::string> drain(int64_t now = 0) {
    std::vector<std::string> result;
    while (auto entry = store.take({}, now, expired))
      result.push_back(entry->msg.body);
    return result;
  }

  /// Browses everything matching `spec` from the start; returns the bodies.
  std::vector<std::string> browse_all(const match_spec& spec = {},
                                      int64_t now = 0) {
    std::vector<std::string> result;
    uint64_t cursor = 0;
    while (auto msg = store.browse(spec, cursor, now)) {
      if (msg->tag <= cursor) {
        CAF_ERROR("browse cursor did not advance");
        break;
      }
      cursor = msg->tag;
      result.push_back(msg->body);
    }
    return result;
  }
};

match_spec by_id(msg_id id) {
  match_spec spec;
  spec.id = id;
  return spec;
}

match_spec by_correl(std::string correl) {
  match_spec spec;
  spec.correl_id = std::move(correl);
  return spec;
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(message_store_tests, fixture)

// -- basics -------------------------------------------------------------------

CAF_TEST(a new store is empty) {
  CAF_CHECK(store.empty());
  CAF_CHECK_EQUAL(store.size(), 0u);
  CAF_CHECK_EQUAL(take_body(), "<none>");
  CAF_CHECK(!store.browse({}, 0, 0));
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 0);
  CAF_CHECK_EQUAL(store.drop_expired(1'000'000), 0u);
  CAF_CHECK_EQUAL(store.clear(), 0u);
  CAF_CHECK_EQUAL(expired, 0u);
}

CAF_TEST(keys order by priority then sequence) {
  CAF_CHECK_LESS(message_store::make_key(9, 1), message_store::make_key(9, 2));
  CAF_CHECK_LESS(message_store::make_key(9, 1'000'000'000'000),
                 message_store::make_key(8, 1));
  CAF_CHECK_LESS(message_store::make_key(1, (uint64_t{1} << 59) - 1),
                 message_store::make_key(0, 1));
  for (int p = 9; p > 0; --p)
    CAF_CHECK_LESS(message_store::make_key(p, 12345),
                   message_store::make_key(p - 1, 1));
}

CAF_TEST(take returns the whole message) {
  auto msg = mk("payload", 4, "corr");
  msg.reply_to_queue = "REPLY";
  msg.properties["k"] = "v";
  msg.put_time = 1234;
  auto id = msg.id;
  store.push(std::move(msg), 0);
  CAF_CHECK_EQUAL(store.size(), 1u);
  CAF_CHECK(!store.empty());
  auto entry = store.take({}, 0, expired);
  CAF_REQUIRE(entry);
  CAF_CHECK(entry->msg.id == id);
  CAF_CHECK_EQUAL(entry->msg.body, "payload");
  CAF_CHECK_EQUAL(entry->msg.correl_id, "corr");
  CAF_CHECK_EQUAL(entry->msg.priority, 4);
  CAF_CHECK_EQUAL(entry->msg.reply_to_queue, "REPLY");
  CAF_CHECK_EQUAL(entry->msg.properties.at("k"), "v");
  CAF_CHECK_EQUAL(entry->msg.put_time, 1234);
  CAF_CHECK_EQUAL(entry->expires_at, 0);
  CAF_CHECK_EQUAL(entry->key, message_store::make_key(4, 1));
  CAF_CHECK(store.empty());
}

CAF_TEST(higher priority first then FIFO) {
  push("p0-a", 0);
  push("p5-a", 5);
  push("p9-a", 9);
  push("p5-b", 5);
  push("p0-b", 0);
  push("p9-b", 9);
  push("p1-a", 1);
  push("p8-a", 8);
  push("p5-c", 5);
  CAF_CHECK_EQUAL(store.size(), 9u);
  CAF_CHECK_EQUAL(drain(), (strings{"p9-a", "p9-b", "p8-a", "p5-a", "p5-b",
                                    "p5-c", "p1-a", "p0-a", "p0-b"}));
  CAF_CHECK(store.empty());
}

CAF_TEST(all ten priorities) {
  for (int round = 0; round < 3; ++round)
    for (int p = 0; p <= 9; ++p)
      push(std::to_string(p) + "." + std::to_string(round),
           static_cast<int8_t>(p));
  strings expected;
  for (int p = 9; p >= 0; --p)
    for (int round = 0; round < 3; ++round)
      expected.push_back(std::to_string(p) + "." + std::to_string(round));
  CAF_CHECK_EQUAL(drain(), expected);
}

CAF_TEST(interleaved push and take keep order) {
  push("a", 3);
  push("b", 3);
  CAF_CHECK_EQUAL(take_body(), "a");
  push("c", 7);
  push("d", 3);
  CAF_CHECK_EQUAL(take_body(), "c");
  CAF_CHECK_EQUAL(take_body(), "b");
  push("e", 3);
  CAF_CHECK_EQUAL(drain(), (strings{"d", "e"}));
}

// -- restore ------------------------------------------------------------------

CAF_TEST(restore puts the first message back in front) {
  push("a");
  push("b");
  push("c");
  auto a = store.take({}, 0, expired);
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(a->msg.body, "a");
  push("d");
  store.restore(std::move(*a));
  CAF_CHECK_EQUAL(store.size(), 4u);
  CAF_CHECK_EQUAL(drain(), (strings{"a", "b", "c", "d"}));
}

CAF_TEST(restore puts a middle message back at its position) {
  push("a");
  push("b");
  push("c");
  push("d");
  auto a = store.take({}, 0, expired);
  auto b = store.take({}, 0, expired);
  auto c = store.take({}, 0, expired);
  CAF_REQUIRE(a && b && c);
  // Restore out of order: each lands at its original place.
  store.restore(std::move(*c));
  store.restore(std::move(*a));
  push("e");
  store.restore(std::move(*b));
  CAF_CHECK_EQUAL(drain(), (strings{"a", "b", "c", "d", "e"}));
}

CAF_TEST(restore keeps the priority position) {
  push("low", 1);
  push("high-1", 8);
  auto high = store.take({}, 0, expired);
  CAF_REQUIRE(high);
  CAF_CHECK_EQUAL(high->msg.body, "high-1");
  push("high-2", 8);
  push("top", 9);
  // Delivery count changes on rollback; position does not.
  ++high->msg.delivery_count;
  store.restore(std::move(*high));
  auto first = store.take({}, 0, expired);
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->msg.body, "top");
  auto second = store.take({}, 0, expired);
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(second->msg.body, "high-1");
  CAF_CHECK_EQUAL(second->msg.delivery_count, 1u);
  CAF_CHECK_EQUAL(drain(), (strings{"high-2", "low"}));
}

CAF_TEST(restore keeps expiry and indexes) {
  auto id = push("a", 0, "corr", 500);
  push("b");
  // Build the indexes with a matching take.
  auto entry = store.take(by_id(id), 0, expired);
  CAF_REQUIRE(entry);
  CAF_CHECK_EQUAL(entry->expires_at, 500);
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
  CAF_CHECK(!store.take(by_id(id), 0, expired));
  store.restore(std::move(*entry));
  CAF_CHECK_EQUAL(store.next_expiry(), 500);
  // Findable again by id and by correl_id.
  auto msg = store.browse(by_id(id), 0, 0);
  CAF_REQUIRE(msg);
  CAF_CHECK_EQUAL(msg->body, "a");
  CAF_CHECK_EQUAL(browse_all(by_correl("corr")), strings{"a"});
  // Its expiry still applies.
  CAF_CHECK_EQUAL(store.drop_expired(500), 1u);
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
  CAF_CHECK_EQUAL(drain(), strings{"b"});
}

// -- match by msg_id / correl_id ------------------------------------------------

CAF_TEST(take by msg_id) {
  auto a = push("a");
  auto b = push("b", 5);
  auto c = push("c");
  CAF_CHECK_EQUAL(take_body(by_id(c)), "c");
  CAF_CHECK_EQUAL(store.size(), 2u);
  CAF_CHECK_EQUAL(take_body(by_id(c)), "<none>");
  CAF_CHECK_EQUAL(take_body(by_id(msg_id::next())), "<none>");
  CAF_CHECK_EQUAL(store.size(), 2u);
  CAF_CHECK_EQUAL(take_body(by_id(a)), "a");
  CAF_CHECK_EQUAL(take_body(by_id(a)), "<none>");
  CAF_CHECK_EQUAL(take_body(by_id(b)), "b");
  CAF_CHECK(store.empty());
}

CAF_TEST(take by correl_id in queue order) {
  push("x1", 0, "X");
  push("y1", 0, "Y");
  push("x2", 5, "X");
  push("none", 9);
  push("x3", 0, "X");
  push("y2", 9, "Y");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "x2");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "x1");
  CAF_CHECK_EQUAL(take_body(by_correl("Y")), "y2");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "x3");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "<none>");
  CAF_CHECK_EQUAL(take_body(by_correl("Z")), "<none>");
  CAF_CHECK_EQUAL(store.size(), 2u);
  CAF_CHECK_EQUAL(drain(), (strings{"none", "y1"}));
}

CAF_TEST(take by msg_id and correl_id together) {
  auto a = push("a", 0, "X");
  auto b = push("b", 0, "Y");
  match_spec wrong;
  wrong.id = a;
  wrong.correl_id = "Y";
  CAF_CHECK_EQUAL(take_body(wrong), "<none>");
  wrong.id = b;
  wrong.correl_id = "X";
  CAF_CHECK_EQUAL(take_body(wrong), "<none>");
  CAF_CHECK_EQUAL(store.size(), 2u);
  match_spec right;
  right.id = b;
  right.correl_id = "Y";
  CAF_CHECK_EQUAL(take_body(right), "b");
  right.id = a;
  right.correl_id = "X";
  CAF_CHECK_EQUAL(take_body(right), "a");
  CAF_CHECK(store.empty());
}

CAF_TEST(indexes follow pushes and takes after they are built) {
  auto a = push("a", 0, "C1");
  CAF_CHECK_EQUAL(take_body(by_id(a)), "a"); // builds the indexes
  auto b = push("b", 0, "C2");
  auto c = push("c", 0, "C2");
  CAF_CHECK_EQUAL(take_body(by_correl("C2")), "b");
  CAF_CHECK_EQUAL(take_body(by_id(b)), "<none>");
  // A plain take also keeps the indexes right.
  CAF_CHECK_EQUAL(take_body(), "c");
  CAF_CHECK_EQUAL(take_body(by_id(c)), "<none>");
  CAF_CHECK_EQUAL(take_body(by_correl("C2")), "<none>");
  // Clear drops the indexes; matching still works afterwards.
  push("d", 0, "C3");
  CAF_CHECK_EQUAL(store.clear(), 1u);
  auto e = push("e", 0, "C3");
  CAF_CHECK_EQUAL(take_body(by_correl("C3")), "e");
  CAF_CHECK_EQUAL(take_body(by_id(e)), "<none>");
}

CAF_TEST(the match spec) {
  match_spec any;
  CAF_CHECK(any.any());
  auto msg = mk("m", 0, "C");
  CAF_CHECK(any.matches(msg));
  CAF_CHECK(!by_id(msg.id).any());
  CAF_CHECK(by_id(msg.id).matches(msg));
  CAF_CHECK(!by_id(msg_id::next()).matches(msg));
  CAF_CHECK(!by_correl("C").any());
  CAF_CHECK(by_correl("C").matches(msg));
  CAF_CHECK(!by_correl("D").matches(msg));
  CAF_CHECK(!by_correl("c").matches(msg));
}

// -- browse -------------------------------------------------------------------

CAF_TEST(browse walks the queue in order without removing) {
  push("a", 0);
  push("b", 9);
  push("c", 0);
  push("d", 5);
  CAF_CHECK_EQUAL(browse_all(), (strings{"b", "d", "a", "c"}));
  CAF_CHECK_EQUAL(store.size(), 4u);
  // Browsing again starts from the beginning.
  CAF_CHECK_EQUAL(browse_all(), (strings{"b", "d", "a", "c"}));
  CAF_CHECK_EQUAL(drain(), (strings{"b", "d", "a", "c"}));
}

CAF_TEST(browse tags are the queue keys) {
  push("a", 2);
  auto first = store.browse({}, 0, 0);
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->tag, message_store::make_key(2, 1));
  CAF_CHECK(!store.browse({}, first->tag, 0));
  // The stored message itself carries no tag.
  auto entry = store.take({}, 0, expired);
  CAF_REQUIRE(entry);
  CAF_CHECK_EQUAL(entry->msg.tag, 0u);
  CAF_CHECK_EQUAL(entry->key, first->tag);
}

CAF_TEST(browse after the cursored message was removed) {
  push("a");
  push("b");
  push("c");
  push("d");
  auto a = store.browse({}, 0, 0);
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(a->body, "a");
  // Someone gets "a": browse next continues with "b".
  CAF_CHECK_EQUAL(take_body(), "a");
  auto b = store.browse({}, a->tag, 0);
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(b->body, "b");
  // "b" and "c" both go (c by id); the cursor still leads to "d".
  auto c = store.browse({}, b->tag, 0);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->body, "c");
  CAF_CHECK_EQUAL(take_body(), "b");
  CAF_CHECK_EQUAL(take_body(by_id(c->id)), "c");
  auto d = store.browse({}, b->tag, 0);
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->body, "d");
  CAF_CHECK(!store.browse({}, d->tag, 0));
  // A message pushed after the cursor is seen by the next browse.
  push("e");
  auto e = store.browse({}, d->tag, 0);
  CAF_REQUIRE(e);
  CAF_CHECK_EQUAL(e->body, "e");
}

CAF_TEST(browse after the cursored message was removed with a match) {
  push("x1", 0, "X");
  push("y1", 0, "Y");
  push("x2", 0, "X");
  push("x3", 0, "X");
  auto x1 = store.browse(by_correl("X"), 0, 0);
  CAF_REQUIRE(x1);
  CAF_CHECK_EQUAL(x1->body, "x1");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "x1");
  auto x2 = store.browse(by_correl("X"), x1->tag, 0);
  CAF_REQUIRE(x2);
  CAF_CHECK_EQUAL(x2->body, "x2");
  CAF_CHECK_EQUAL(take_body(by_id(x2->id)), "x2");
  auto x3 = store.browse(by_correl("X"), x2->tag, 0);
  CAF_REQUIRE(x3);
  CAF_CHECK_EQUAL(x3->body, "x3");
  CAF_CHECK(!store.browse(by_correl("X"), x3->tag, 0));
  CAF_CHECK_EQUAL(browse_all(by_correl("Y")), strings{"y1"});
  CAF_CHECK_EQUAL(store.size(), 2u);
}

CAF_TEST(browse with a restored message before the cursor) {
  push("a");
  push("b");
  push("c");
  auto a = store.take({}, 0, expired);
  CAF_REQUIRE(a);
  auto b = store.browse({}, 0, 0);
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(b->body, "b");
  // "a" comes back before the cursor: browse next does not return it.
  store.restore(std::move(*a));
  auto c = store.browse({}, b->tag, 0);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->body, "c");
  CAF_CHECK_EQUAL(browse_all(), (strings{"a", "b", "c"}));
}

CAF_TEST(browse by msg_id) {
  push("a");
  auto b = push("b");
  push("c");
  auto msg = store.browse(by_id(b), 0, 0);
  CAF_REQUIRE(msg);
  CAF_CHECK_EQUAL(msg->body, "b");
  CAF_CHECK(!store.browse(by_id(b), msg->tag, 0));
  CAF_CHECK(!store.browse(by_id(msg_id::next()), 0, 0));
  CAF_CHECK_EQUAL(store.size(), 3u);
}

// -- expiry -------------------------------------------------------------------

CAF_TEST(expired messages are skipped and counted) {
  push("e1", 0, {}, 100);
  push("live", 0, {}, 0);
  push("e2", 0, {}, 150);
  push("later", 0, {}, 1000);
  // Before expiry everything is there.
  CAF_CHECK_EQUAL(browse_all({}, 99), (strings{"e1", "live", "e2", "later"}));
  // Expiry is inclusive: at now == expires_at the message is gone.
  CAF_CHECK_EQUAL(browse_all({}, 100), (strings{"live", "e2", "later"}));
  CAF_CHECK_EQUAL(store.size(), 4u); // browse removes nothing
  CAF_CHECK_EQUAL(take_body({}, 200), "live");
  CAF_CHECK_EQUAL(expired, 1u); // e1, met on the way
  CAF_CHECK_EQUAL(store.size(), 2u);
  CAF_CHECK_EQUAL(take_body({}, 200), "later");
  CAF_CHECK_EQUAL(expired, 2u); // e2
  CAF_CHECK(store.empty());
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
}

CAF_TEST(a take that finds only expired messages drops them all) {
  push("a", 9, {}, 10);
  push("b", 0, {}, 20);
  push("c", 5, {}, 30);
  CAF_CHECK_EQUAL(take_body({}, 30), "<none>");
  CAF_CHECK_EQUAL(expired, 3u);
  CAF_CHECK(store.empty());
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
}

CAF_TEST(take drops only the expired messages it meets) {
  push("live", 0, {}, 0);
  push("dead", 0, {}, 10);
  CAF_CHECK_EQUAL(take_body({}, 50), "live");
  CAF_CHECK_EQUAL(expired, 0u);
  CAF_CHECK_EQUAL(store.size(), 1u);
  CAF_CHECK_EQUAL(take_body({}, 50), "<none>");
  CAF_CHECK_EQUAL(expired, 1u);
}

CAF_TEST(matching take skips expired matches) {
  push("x-dead", 0, "X", 10);
  push("y-dead", 0, "Y", 10);
  push("x-live", 0, "X", 0);
  CAF_CHECK_EQUAL(take_body(by_correl("X"), 10), "x-live");
  CAF_CHECK_EQUAL(expired, 1u);
  CAF_CHECK_EQUAL(store.size(), 1u); // y-dead was not met
  auto id = push("z", 0, {}, 20);
  CAF_CHECK_EQUAL(take_body(by_id(id), 20), "<none>");
  CAF_CHECK_EQUAL(expired, 2u);
  CAF_CHECK_EQUAL(store.drop_expired(20), 1u);
  CAF_CHECK(store.empty());
}

CAF_TEST(drop_expired and next_expiry) {
  push("a", 0, {}, 300);
  push("b", 9, {}, 100);
  push("c", 0, {}, 0);
  push("d", 5, {}, 200);
  push("e", 0, {}, 100);
  CAF_CHECK_EQUAL(store.next_expiry(), 100);
  CAF_CHECK_EQUAL(store.drop_expired(99), 0u);
  CAF_CHECK_EQUAL(store.size(), 5u);
  CAF_CHECK_EQUAL(store.drop_expired(100), 2u);
  CAF_CHECK_EQUAL(store.size(), 3u);
  CAF_CHECK_EQUAL(store.next_expiry(), 200);
  CAF_CHECK_EQUAL(store.drop_expired(250), 1u);
  CAF_CHECK_EQUAL(store.next_expiry(), 300);
  // A message taken before it expires no longer counts for next_expiry.
  CAF_CHECK_EQUAL(take_body({}, 250), "a");
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
  CAF_CHECK_EQUAL(store.drop_expired(1'000'000), 0u);
  CAF_CHECK_EQUAL(drain(1'000'000), strings{"c"});
  CAF_CHECK_EQUAL(expired, 0u); // drop_expired does not touch the counter
}

CAF_TEST(stored message expiry predicate) {
  stored_message never;
  CAF_CHECK(!never.expired(0));
  CAF_CHECK(!never.expired(INT64_MAX));
  stored_message soon;
  soon.expires_at = 10;
  CAF_CHECK(!soon.expired(9));
  CAF_CHECK(soon.expired(10));
  CAF_CHECK(soon.expired(11));
}

// -- clear / oldest_put_time ----------------------------------------------------

CAF_TEST(clear removes everything) {
  push("a", 0, "X", 100);
  push("b", 9);
  push("c", 4, {}, 50);
  CAF_CHECK_EQUAL(store.clear(), 3u);
  CAF_CHECK(store.empty());
  CAF_CHECK_EQUAL(store.size(), 0u);
  CAF_CHECK_EQUAL(store.next_expiry(), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 0);
  CAF_CHECK_EQUAL(store.drop_expired(1000), 0u);
  CAF_CHECK_EQUAL(take_body(), "<none>");
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "<none>");
  CAF_CHECK(!store.browse({}, 0, 0));
  CAF_CHECK_EQUAL(store.clear(), 0u);
  // The store is usable afterwards and keeps FIFO order.
  push("d");
  push("e");
  CAF_CHECK_EQUAL(drain(), (strings{"d", "e"}));
}

CAF_TEST(oldest put time over all priorities) {
  auto put = [&](std::string body, int8_t prio, int64_t put_time) {
    store.push(mk(std::move(body), prio, {}, put_time), 0);
  };
  put("p5", 5, 3000);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 3000);
  put("p9", 9, 4000);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 3000);
  put("p0", 0, 5000);
  put("p3", 3, 6000);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 3000);
  CAF_CHECK_EQUAL(take_body(), "p9");
  CAF_CHECK_EQUAL(store.oldest_put_time(), 3000);
  CAF_CHECK_EQUAL(take_body(), "p5");
  CAF_CHECK_EQUAL(store.oldest_put_time(), 5000);
  CAF_CHECK_EQUAL(take_body(), "p3");
  CAF_CHECK_EQUAL(store.oldest_put_time(), 5000);
  CAF_CHECK_EQUAL(take_body(), "p0");
  CAF_CHECK_EQUAL(store.oldest_put_time(), 0);
}

CAF_TEST(oldest put time with only the lowest or highest priority) {
  store.push(mk("p0", 0, {}, 700), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 700);
  store.push(mk("p0", 0, {}, 800), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 700);
  CAF_CHECK_EQUAL(store.clear(), 2u);
  store.push(mk("p9", 9, {}, 900), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 900);
  store.push(mk("p9", 9, {}, 950), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 900);
  // The oldest is the first of the lowest priority.
  store.push(mk("p1", 1, {}, 100), 0);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 100);
}

CAF_TEST(oldest put time after restore) {
  store.push(mk("a", 2, {}, 10), 0);
  store.push(mk("b", 2, {}, 20), 0);
  auto a = store.take({}, 0, expired);
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(store.oldest_put_time(), 20);
  store.restore(std::move(*a));
  CAF_CHECK_EQUAL(store.oldest_put_time(), 10);
}

// -- moves and volume -----------------------------------------------------------

CAF_TEST(a moved store keeps its messages) {
  push("a", 0, "X");
  push("b", 9);
  CAF_CHECK_EQUAL(take_body(by_correl("X")), "a"); // build the indexes
  push("c", 0, "X");
  message_store other{std::move(store)};
  CAF_CHECK_EQUAL(other.size(), 2u);
  auto c = other.take(by_correl("X"), 0, expired);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->msg.body, "c");
  message_store third;
  third = std::move(other);
  auto b = third.take({}, 0, expired);
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(b->msg.body, "b");
  CAF_CHECK(third.empty());
}

CAF_TEST(100000 messages in and out in FIFO order) {
  constexpr int n = 100'000;
  for (int i = 0; i < n; ++i)
    push(std::to_string(i), 4);
  CAF_CHECK_EQUAL(store.size(), static_cast<size_t>(n));
  // Browse the first few without disturbing the order.
  CAF_CHECK_EQUAL(store.browse({}, 0, 0)->body, "0");
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    auto entry = store.take({}, 0, expired);
    if (!entry || entry->msg.body != std::to_string(i)) {
      if (++bad <= 5)
        CAF_ERROR("message " << i << " out of order");
    }
  }
  CAF_CHECK_EQUAL(bad, 0);
  CAF_CHECK(store.empty());
  CAF_CHECK_EQUAL(expired, 0u);
}

CAF_TEST(100000 messages of mixed priority in and out in order) {
  constexpr int n = 100'000;
  for (int i = 0; i < n; ++i)
    push(std::to_string(i), static_cast<int8_t>((i * 7) % 10));
  CAF_CHECK_EQUAL(store.size(), static_cast<size_t>(n));
  // Expected: priority 9 down to 0, ascending i within each priority.
  std::vector<int> expected;
  expected.reserve(n);
  for (int p = 9; p >= 0; --p)
    for (int i = 0; i < n; ++i)
      if ((i * 7) % 10 == p)
        expected.push_back(i);
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    auto entry = store.take({}, 0, expired);
    if (!entry || entry->msg.body != std::to_string(expected[i])) {
      if (++bad <= 5)
        CAF_ERROR("position " << i << ": expected " << expected[i]);
    }
  }
  CAF_CHECK_EQUAL(bad, 0);
  CAF_CHECK(store.empty());
}

CAF_TEST(100000 messages matched by correl_id) {
  constexpr int n = 100'000;
  std::vector<msg_id> ids;
  ids.reserve(n);
  for (int i = 0; i < n; ++i)
    ids.push_back(push(std::to_string(i), 0, "C" + std::to_string(i % 100)));
  // Take every message of one correl_id: in order, 1000 of them.
  int count = 0;
  int last = -1;
  while (auto entry = store.take(by_correl("C42"), 0, expired)) {
    auto i = std::stoi(entry->msg.body);
    CAF_CHECK_EQUAL(i % 100, 42);
    CAF_CHECK_GREATER(i, last);
    last = i;
    ++count;
  }
  CAF_CHECK_EQUAL(count, n / 100);
  // Take by id from the back; FIFO of the rest is unaffected.
  CAF_CHECK_EQUAL(take_body(by_id(ids[n - 1])), std::to_string(n - 1));
  CAF_CHECK_EQUAL(take_body(by_id(ids[42])), "<none>");
  CAF_CHECK_EQUAL(store.size(), static_cast<size_t>(n - n / 100 - 1));
  CAF_CHECK_EQUAL(take_body(), "0");
  CAF_CHECK_EQUAL(take_body(), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()
