// The journal on real files: recovery rules (torn tail, corruption,
// recover_truncate) and replay of every record kind.
#define CAF_SUITE unit.journal
#include <caf/test/unit_test.hpp>

#include <fstream>

#include "core/reason.hpp"
#include "store/live_index.hpp"
#include "tests/unit/journal_helpers.hpp"

using namespace qmesh;
using namespace qmesh::store;
using namespace qmesh::test;
namespace fs = std::filesystem;

namespace {


/// Appends and waits until the record is on disk; returns its seq.
uint64_t put_sync(journal& j, record_kind kind, record_body body) {
  auto who = std::make_shared<waiting_listener>();
  auto seq = j.append(kind, body, who);
  if (seq == append_failed || !who->wait_for(seq))
    CAF_FAIL("append of kind " << static_cast<int>(kind) << " not durable");
  return seq;
}

uint64_t put_msg(journal& j, const std::string& queue, std::string body,
                 uint64_t uow = 0) {
  return put_sync(j, record_kind::put,
                  put_record{queue, 0, uow, msg_with(std::move(body))});
}

std::vector<std::string> bodies(const recovered_queue* q) {
  std::vector<std::string> result;
  if (q)
    for (auto& [key, msg] : q->messages)
      result.push_back(msg.body);
  return result;
}

void flip_bit(const fs::path& path, size_t offset, int bit) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

std::vector<char> slurp(const fs::path& path) {
  std::ifstream f{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{f}, std::istreambuf_iterator<char>{}};
}

void spit(const fs::path& path, const std::vector<char>& bytes, size_t n) {
  std::ofstream f{path, std::ios::binary | std::ios::trunc};
  f.write(bytes.data(), static_cast<std::streamsize>(n));
}

/// A journal of one segment: define Q, then puts a, b, c. Returns the
/// segment's path.
fs::path three_puts(const fs::path& dir) {
  auto [j, st] = open_ok(config_for(dir));
  put_sync(*j, record_kind::queue_define, queue_record{"Q", {}, false});
  put_msg(*j, "Q", "a");
  put_msg(*j, "Q", "b");
  put_msg(*j, "Q", "c");
  j->close();
  auto segs = segments_of(dir);
  CAF_REQUIRE_EQUAL(segs.size(), 1u);
  return segs.back().path;
}

} // namespace

CAF_TEST(an empty directory opens empty and reopens with what was put) {
  temp_dir tmp;
  {
    auto [j, st] = open_ok(config_for(tmp.path / "j"));
    CAF_CHECK(st.queues.empty());
    CAF_CHECK(st.notes.empty());
    CAF_CHECK(j->accepting_puts());
    put_sync(*j, record_kind::queue_define, queue_record{"Q", {}, false});
    auto k = put_msg(*j, "Q", "hello");
    CAF_CHECK_GREATER(k, 0u);
  }
  auto [j, st] = open_ok(config_for(tmp.path / "j"));
  CAF_REQUIRE_EQUAL(st.queues.size(), 1u);
  CAF_CHECK_EQUAL(bodies(&st.queues[0]), std::vector<std::string>{"hello"});
  CAF_CHECK_EQUAL(st.records, 2u);
  // Never appends into a recovered file: a second segment exists now.
  CAF_CHECK_EQUAL(segments_of(tmp.path / "j").size(), 2u);
}

CAF_TEST(a torn final record at every byte offset is truncated) {
  temp_dir tmp;
  auto seg = three_puts(tmp.path / "orig");
  auto bytes = slurp(seg);
  auto offsets = frame_offsets(seg);
  CAF_REQUIRE_EQUAL(offsets.size(), 4u);
  auto last = offsets.back();
  for (size_t cut = last + 1; cut < bytes.size(); ++cut) {
    temp_dir run;
    auto path = run.path / seg.filename();
    spit(path, bytes, cut);
    auto cfg = config_for(run.path);
    cfg.sync = sync_mode::none;
    {
      auto [j, st] = open_ok(cfg);
      if (bodies(find_queue(st, "Q")) != std::vector<std::string>{"a", "b"})
        CAF_FAIL("cut at " << cut << ": wrong messages");
      if (!any_note_contains(st, seg.filename().string() + ": torn record at "
                                                           "offset "
                                   + std::to_string(last)))
        CAF_FAIL("cut at " << cut << ": no note naming file and offset");
      CAF_CHECK_EQUAL(fs::file_size(path), last);
      put_msg(*j, "Q", "d");
    }
    auto [j, st] = open_ok(cfg);
    if (bodies(find_queue(st, "Q")) != std::vector<std::string>{"a", "b", "d"})
      CAF_FAIL("cut at " << cut << ": append after recovery lost");
    CAF_CHECK(st.notes.empty());
  }
}

CAF_TEST(a corrupt final record with zeros after it is a torn tail) {
  temp_dir tmp;
  auto seg = three_puts(tmp.path);
  auto last = frame_offsets(seg).back();
  flip_bit(seg, last + frame_header_size + 2, 3);
  {
    std::ofstream f{seg, std::ios::binary | std::ios::app};
    f.write(std::string(100, '\0').data(), 100);
  }
  auto [j, st] = open_ok(config_for(tmp.path));
  CAF_CHECK_EQUAL(bodies(find_queue(st, "Q")),
                  (std::vector<std::string>{"a", "b"}));
  CAF_CHECK(any_note_contains(st, "CRC mismatch"));
}

CAF_TEST(a flipped bit before the tail refuses to open) {
  temp_dir tmp;
  auto seg = three_puts(tmp.path);
  auto offsets = frame_offsets(seg);
  auto bad = offsets[2]; // put "b"
  flip_bit(seg, bad + frame_header_size + 5, 0);
  auto res = journal::open(config_for(tmp.path));
  CAF_REQUIRE(!res);
  auto text = render(res.error());
  CAF_MESSAGE("error: " << text);
  CAF_CHECK(text.find(seg.filename().string()) != std::string::npos);
  CAF_CHECK(text.find("offset " + std::to_string(bad)) != std::string::npos);
  CAF_CHECK(is(res.error(), ec::resource_problem));
  // Nothing was changed by the refused open.
  CAF_CHECK_EQUAL(frame_offsets(seg).size(), 2u);
  CAF_CHECK_GREATER(fs::file_size(seg), offsets[3]);
  // With recover_truncate it opens, keeps what came before, says so.
  auto cfg = config_for(tmp.path);
  cfg.recover_truncate = true;
  auto [j, st] = open_ok(cfg);
  CAF_CHECK_EQUAL(bodies(find_queue(st, "Q")), std::vector<std::string>{"a"});
  CAF_CHECK(any_note_contains(st, "dropped"));
  CAF_CHECK(any_note_contains(st, "offset " + std::to_string(bad)));
  put_msg(*j, "Q", "e");
  j->close();
  auto again = open_ok(config_for(tmp.path));
  CAF_CHECK_EQUAL(bodies(find_queue(again.second, "Q")),
                  (std::vector<std::string>{"a", "e"}));
}

CAF_TEST(a bad frame in an earlier segment is corruption) {
  temp_dir tmp;
  three_puts(tmp.path);
  {
    auto [j, st] = open_ok(config_for(tmp.path));
    put_msg(*j, "Q", "later");
  }
  auto segs = segments_of(tmp.path);
  CAF_REQUIRE_EQUAL(segs.size(), 2u);
  // Cut the first segment's last record short: not the last segment, so
  // not a torn tail.
  auto first = segs[0].path;
  auto cut = frame_offsets(first).back() + 5;
  fs::resize_file(first, cut);
  auto res = journal::open(config_for(tmp.path));
  CAF_REQUIRE(!res);
  CAF_CHECK(render(res.error()).find(first.filename().string())
            != std::string::npos);
  auto cfg = config_for(tmp.path);
  cfg.recover_truncate = true;
  auto [j, st] = open_ok(cfg);
  CAF_CHECK_EQUAL(bodies(find_queue(st, "Q")),
                  (std::vector<std::string>{"a", "b"}));
  CAF_CHECK(any_note_contains(st, "1 later segment(s) deleted"));
}

CAF_TEST(a bad magic is corruption) {
  temp_dir tmp;
  auto seg = three_puts(tmp.path);
  flip_bit(seg, 0, 1);
  auto res = journal::open(config_for(tmp.path));
  CAF_REQUIRE(!res);
  CAF_CHECK(render(res.error()).find("offset 0") != std::string::npos);
}

CAF_TEST(replay applies every record kind) {
  temp_dir tmp;
  uint64_t k1, k2, k3, k_uow, k_moved;
  {
    auto [j, st] = open_ok(config_for(tmp.path));
    queue_attrs attrs;
    attrs.max_depth = 10;
    put_sync(*j, record_kind::queue_define, queue_record{"A", attrs, false});
    put_sync(*j, record_kind::queue_define,
             queue_record{"DLQ", {}, true});
    k1 = put_msg(*j, "A", "one");
    k2 = put_msg(*j, "A", "two");
    k3 = put_msg(*j, "A", "three");
    // explicit key
    put_sync(*j, record_kind::put, put_record{"A", 1000, 0, msg_with("k")});
    // removal and delivery count
    put_sync(*j, record_kind::remove, remove_record{"A", 0, {k1, 1000}});
    put_sync(*j, record_kind::delivery_count, count_record{"A", k2, 4});
    // move k3 to DLQ under a new key (0 = the move's seq)
    k_moved = put_sync(*j, record_kind::move,
                       move_record{"A", k3, put_record{"DLQ", 0, 0,
                                                      msg_with("three", 1)}});
    // alter keeps the messages
    attrs.max_depth = 20;
    put_sync(*j, record_kind::queue_define, queue_record{"A", attrs, false});
    // units of work: committed, backed out, never ended
    k_uow = put_msg(*j, "A", "uow-committed", 7);
    put_sync(*j, record_kind::remove, remove_record{"A", 7, {k2}});
    put_sync(*j, record_kind::uow_commit, uow_record{7});
    put_msg(*j, "A", "uow-backed-out", 8);
    put_sync(*j, record_kind::remove, remove_record{"A", 8, {k_uow}});
    put_sync(*j, record_kind::uow_backout, uow_record{8});
    put_msg(*j, "A", "uow-open", 21);
    // a queue defined, filled and deleted
    put_sync(*j, record_kind::queue_define, queue_record{"GONE", {}, false});
    put_msg(*j, "GONE", "x");
    put_sync(*j, record_kind::queue_delete, name_record{"GONE"});
    // a put into a queue never defined
    put_msg(*j, "IMPLICIT", "y");
    // subscriptions and retained publications
    subscription_info s1, s2;
    s1.name = "S1";
    s1.filter = "a/#";
    s1.durable = true;
    s2 = s1;
    s2.name = "S2";
    put_sync(*j, record_kind::sub_define, sub_record{s1});
    put_sync(*j, record_kind::sub_define, sub_record{s2});
    s1.filter = "b/#";
    put_sync(*j, record_kind::sub_define, sub_record{s1});
    put_sync(*j, record_kind::sub_delete, name_record{"S2"});
    put_sync(*j, record_kind::retained,
             retained_record{"t/1", true, msg_with("r1")});
    put_sync(*j, record_kind::retained,
             retained_record{"t/2", true, msg_with("r2")});
    put_sync(*j, record_kind::retained,
             retained_record{"t/1", true, msg_with("r1b")});
    put_sync(*j, record_kind::retained, retained_record{"t/2", false, {}});
  }
  auto [j, st] = open_ok(config_for(tmp.path));
  CAF_REQUIRE_EQUAL(st.queues.size(), 3u);
  CAF_CHECK_EQUAL(st.queues[0].name, "A");
  CAF_CHECK_EQUAL(st.queues[1].name, "DLQ");
  CAF_CHECK_EQUAL(st.queues[2].name, "IMPLICIT");
  auto& a = st.queues[0];
  CAF_CHECK_EQUAL(a.attrs.max_depth, 20u);
  CAF_REQUIRE_EQUAL(a.messages.size(), 1u);
  CAF_CHECK_EQUAL(a.messages[0].first, k_uow);
  CAF_CHECK_EQUAL(a.messages[0].second.body, "uow-committed");
  auto& dlq = st.queues[1];
  CAF_CHECK(dlq.system);
  CAF_REQUIRE_EQUAL(dlq.messages.size(), 1u);
  CAF_CHECK_EQUAL(dlq.messages[0].first, k_moved);
  CAF_CHECK_EQUAL(dlq.messages[0].second.delivery_count, 1u);
  CAF_CHECK_EQUAL(bodies(&st.queues[2]), std::vector<std::string>{"y"});
  CAF_CHECK(any_note_contains(st, "IMPLICIT"));
  CAF_CHECK(any_note_contains(st, "1 unit(s) of work without commit"));
  CAF_CHECK_EQUAL(st.max_uow, 21u);
  CAF_REQUIRE_EQUAL(st.subscriptions.size(), 1u);
  CAF_CHECK_EQUAL(st.subscriptions[0].name, "S1");
  CAF_CHECK_EQUAL(st.subscriptions[0].filter, "b/#");
  CAF_REQUIRE_EQUAL(st.retained.size(), 1u);
  CAF_CHECK_EQUAL(st.retained[0].first, "t/1");
  CAF_CHECK_EQUAL(st.retained[0].second.body, "r1b");
  CAF_CHECK_EQUAL(j->stats().live_messages, 3u);
  (void) k2;
}

CAF_TEST(delivery counts survive a reopen) {
  temp_dir tmp;
  uint64_t k;
  {
    auto [j, st] = open_ok(config_for(tmp.path));
    k = put_msg(*j, "Q", "m");
    put_sync(*j, record_kind::delivery_count, count_record{"Q", k, 2});
    put_sync(*j, record_kind::delivery_count, count_record{"Q", k, 3});
  }
  auto [j, st] = open_ok(config_for(tmp.path));
  auto q = find_queue(st, "Q");
  CAF_REQUIRE(q != nullptr);
  CAF_REQUIRE_EQUAL(q->messages.size(), 1u);
  CAF_CHECK_EQUAL(q->messages[0].second.delivery_count, 3u);
}

CAF_TEST(appends continue the sequence after a reopen) {
  temp_dir tmp;
  uint64_t before;
  {
    auto [j, st] = open_ok(config_for(tmp.path));
    before = put_msg(*j, "Q", "x");
  }
  auto [j, st] = open_ok(config_for(tmp.path));
  auto after = put_msg(*j, "Q", "y");
  CAF_CHECK_EQUAL(after, before + 1);
  CAF_CHECK(j->append(record_kind::put, name_record{"bad"}, nullptr)
            == append_failed);
}

CAF_TEST(a unit of work is held from its first record to its end) {
  temp_dir tmp;
  auto [j, st] = open_ok(config_for(tmp.path / "j"));
  CAF_CHECK(!j->holds_uow(5));
  put_msg(*j, "Q", "in uow", 5);
  CAF_CHECK(j->holds_uow(5));
  CAF_CHECK(!j->holds_uow(6));
  put_sync(*j, record_kind::uow_commit, uow_record{5});
  CAF_CHECK(!j->holds_uow(5));
  put_sync(*j, record_kind::remove, remove_record{"Q", 6, {1}});
  CAF_CHECK(j->holds_uow(6));
  put_sync(*j, record_kind::uow_backout, uow_record{6});
  CAF_CHECK(!j->holds_uow(6));
}

CAF_TEST(a transfer commit commits its unit of work and keeps its ids) {
  temp_dir tmp;
  {
    auto [j, st] = open_ok(config_for(tmp.path / "j"));
    put_sync(*j, record_kind::queue_define, queue_record{"Q", {}, false});
    put_msg(*j, "Q", "stored", 7);
    put_msg(*j, "Q", "never committed", 8);
    CAF_CHECK(j->holds_uow(7));
    put_sync(*j, record_kind::transfer_commit,
             transfer_record{7, "QMA", {"x-1", "x-2"}});
    CAF_CHECK(!j->holds_uow(7));
    put_sync(*j, record_kind::transfer_commit,
             transfer_record{9, "QMB", {"y-1"}});
  }
  auto [j, st] = open_ok(config_for(tmp.path / "j"));
  CAF_REQUIRE_EQUAL(st.queues.size(), 1u);
  CAF_CHECK_EQUAL(bodies(&st.queues[0]), std::vector<std::string>{"stored"});
  CAF_REQUIRE_EQUAL(st.transfers.size(), 2u);
  CAF_CHECK_EQUAL(st.transfers["QMA"],
                  (std::vector<std::string>{"x-1", "x-2"}));
  CAF_CHECK_EQUAL(st.transfers["QMB"], std::vector<std::string>{"y-1"});
  CAF_CHECK_GREATER_OR_EQUAL(st.max_uow, 9u);
}

CAF_TEST(the live index keeps the newest transfer ids of each sender) {
  store::live_index idx;
  idx.add_segment(1);
  std::vector<std::string> half(store::transfer_ids_kept / 2, "id");
  uint64_t seq = 1;
  // Three records of half the kept ids each: the oldest is no longer
  // needed once the two newer ones hold transfer_ids_kept ids.
  for (uint64_t uow = 1; uow <= 3; ++uow)
    idx.apply(seq++, record_kind::transfer_commit,
              transfer_record{uow, "QMA", half}, 100);
  CAF_CHECK_EQUAL(idx.live_transfer_records(), 2u);
  // Another sender has its own.
  idx.apply(seq++, record_kind::transfer_commit,
            transfer_record{4, "QMB", {"b"}}, 100);
  CAF_CHECK_EQUAL(idx.live_transfer_records(), 3u);
  // A compaction copy (same uow, later seq) replaces its original.
  store::record old_rec{2, record_kind::transfer_commit,
                        transfer_record{2, "QMA", half}};
  auto copy = idx.live_copy(old_rec);
  CAF_REQUIRE(copy);
  idx.apply(seq++, copy->first, copy->second, 100);
  CAF_CHECK_EQUAL(idx.live_transfer_records(), 3u);
  CAF_CHECK(!idx.live_copy(old_rec));
  // The first record is dead: no copy.
  store::record first{1, record_kind::transfer_commit,
                      transfer_record{1, "QMA", half}};
  CAF_CHECK(!idx.live_copy(first));
}
