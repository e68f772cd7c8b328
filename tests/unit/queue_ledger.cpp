#define CAF_SUITE unit.queue_ledger
#include "test_fixture.hpp"

#include "recording_journal.hpp"
#include "store/queue_ledger.hpp"

// The ledger's transitions: what each journals, when a message becomes
// ready, and the counts it keeps. Plain C++: no actors.

using namespace qmesh;
using namespace qmesh::test;
using store::record_kind;

namespace {

message msg(std::string body, bool persistent) {
  message m;
  m.id = msg_id::next();
  m.body = std::move(body);
  m.priority = 0;
  m.persistent = persistent ? 1 : 0;
  return m;
}

struct fixture {
  std::shared_ptr<recording_journal> journal
    = std::make_shared<recording_journal>();
  queue_ledger ledger{"Q", journal, nullptr};
  int64_t now = 1'000;

  std::optional<stored_message> take() {
    return ledger.take(match_spec{}, now);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(queue_ledger_tests, fixture)

CAF_TEST(a persistent accept is journaled and ready only once durable) {
  auto seq = ledger.accept(msg("p", true), 0);
  CAF_CHECK_EQUAL(seq, 1u);
  CAF_CHECK_EQUAL(journal->count(record_kind::put), 1u);
  CAF_CHECK_EQUAL(ledger.depth(), 1u);
  CAF_CHECK(ledger.ready().empty());
  // A later non-persistent message waits behind it.
  CAF_CHECK_EQUAL(ledger.accept(msg("n", false), 0), 1u);
  CAF_CHECK_EQUAL(ledger.on_durable(1, true), 2u);
  auto first = take();
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->msg.body, "p");
  CAF_CHECK_EQUAL(first->jkey, 1u);
  auto second = take();
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(second->msg.body, "n");
}

CAF_TEST(a failed write drops the pending puts) {
  ledger.accept(msg("p", true), 0);
  CAF_CHECK_EQUAL(ledger.on_durable(1, false), 0u);
  CAF_CHECK_EQUAL(ledger.depth(), 0u);
  CAF_CHECK_EQUAL(ledger.enqueued_total(), 0u);
}

CAF_TEST(non persistent messages bypass the journal) {
  CAF_CHECK_EQUAL(ledger.accept(msg("n", false), 0), 0u);
  auto e = take();
  CAF_REQUIRE(e);
  CAF_CHECK_EQUAL(ledger.consume(*e), 0u);
  CAF_CHECK(journal->records.empty());
  CAF_CHECK_EQUAL(ledger.dequeued_total(), 1u);
}

CAF_TEST(consume settle and restore journal removals and counts) {
  ledger.accept(msg("a", true), 0);
  ledger.accept(msg("b", true), 0);
  ledger.on_durable(2, true);
  auto a = take();
  CAF_CHECK_EQUAL(ledger.consume(*a), 3u);
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys,
                  std::vector<uint64_t>{1});
  auto b = take();
  ledger.deliver(*b);
  CAF_CHECK_EQUAL(ledger.unacked(), 1u);
  auto& cnt = journal->last<store::count_record>(record_kind::delivery_count);
  CAF_CHECK_EQUAL(cnt.key, 2u);
  CAF_CHECK_EQUAL(cnt.delivery_count, 1u);
  b->msg.delivery_count = 1;
  ledger.restore(std::move(*b), true);
  CAF_CHECK_EQUAL(ledger.unacked(), 0u);
  CAF_CHECK_EQUAL(ledger.ready().size(), 1u);
  auto again = take();
  ledger.deliver(*again);
  CAF_CHECK_GREATER(ledger.settle(*again), 0u);
  CAF_CHECK_EQUAL(ledger.unacked(), 0u);
  CAF_CHECK_EQUAL(ledger.depth(), 0u);
}

CAF_TEST(units of work journal with their id and end in commit or backout) {
  ledger.accept(msg("ready", true), 0);
  ledger.on_durable(1, true);
  ledger.hold_put(7, msg("put", true), 0);
  CAF_CHECK_EQUAL(journal->last<store::put_record>(record_kind::put).uow, 7u);
  auto got = take();
  ledger.hold_get(7, std::move(*got));
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .uow,
                  7u);
  CAF_CHECK_EQUAL(ledger.uncommitted(), 2u);
  CAF_CHECK(ledger.ready().empty());
  auto gets = ledger.backout(7);
  CAF_CHECK_EQUAL(gets.size(), 1u);
  CAF_CHECK_EQUAL(ledger.uncommitted(), 0u);
  ledger.restore(std::move(gets.front()), false);
  CAF_CHECK_EQUAL(ledger.ready().size(), 1u);
  // Commit: puts become ready, gets final.
  ledger.hold_put(8, msg("put2", true), 0);
  auto g2 = take();
  ledger.hold_get(8, std::move(*g2));
  ledger.commit(8);
  CAF_CHECK_EQUAL(ledger.uncommitted(), 0u);
  CAF_REQUIRE_EQUAL(ledger.ready().size(), 1u);
  auto last = take();
  CAF_REQUIRE(last);
  CAF_CHECK_EQUAL(last->msg.body, "put2");
}

CAF_TEST(moves are counted until confirmed and come back if refused) {
  ledger.accept(msg("m", true), 0);
  ledger.on_durable(1, true);
  auto e = take();
  ledger.deliver(*e);
  ledger.moving_out(true);
  CAF_CHECK_EQUAL(ledger.depth(), 1u);
  CAF_CHECK_EQUAL(ledger.unacked(), 0u);
  ledger.move_failed(std::move(*e));
  CAF_CHECK_EQUAL(ledger.ready().size(), 1u);
  auto again = take();
  ledger.moving_out(false);
  ledger.moved();
  CAF_CHECK_EQUAL(ledger.depth(), 0u);
  // The target journals one move record naming the source.
  queue_ledger target{"DLQ", journal, nullptr};
  target.accept_moved(std::move(again->msg), 0, "Q", again->jkey);
  auto& mv = journal->last<store::move_record>(record_kind::move);
  CAF_CHECK_EQUAL(mv.from, "Q");
  CAF_CHECK_EQUAL(mv.from_key, 1u);
  CAF_CHECK_EQUAL(mv.to.queue, "DLQ");
}

CAF_TEST(expiry purge and drop oldest journal their removals) {
  ledger.accept(msg("x", true), now + 10);
  ledger.accept(msg("y", true), 0);
  ledger.accept(msg("z", true), 0);
  ledger.on_durable(3, true);
  now += 20;
  CAF_CHECK_EQUAL(ledger.drop_expired(now), 1u);
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys,
                  std::vector<uint64_t>{1});
  CAF_CHECK(ledger.drop_oldest(now));
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys,
                  std::vector<uint64_t>{2});
  CAF_CHECK_EQUAL(ledger.purge(), 1u);
  CAF_CHECK_EQUAL(journal->last<store::remove_record>(record_kind::remove)
                    .keys,
                  std::vector<uint64_t>{3});
  CAF_CHECK_EQUAL(ledger.expired_total(), 1u);
  CAF_CHECK_EQUAL(ledger.dropped_total(), 1u);
}

CAF_TEST(recovered messages are ready at once under their keys) {
  ledger.recover(42, msg("r", true), 0);
  auto e = take();
  CAF_REQUIRE(e);
  CAF_CHECK_EQUAL(e->jkey, 42u);
  CAF_CHECK(journal->records.empty());
}

CAF_TEST(a refusing journal is reported) {
  journal->accepting = false;
  CAF_CHECK(!ledger.accepting_persistent());
  CAF_CHECK_EQUAL(ledger.refusal(), "disk full (test)");
  journal->failed = true;
  CAF_CHECK_EQUAL(ledger.accept(msg("p", true), 0), store::append_failed);
  CAF_CHECK_EQUAL(ledger.depth(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
