// The journal's writer on real files: group commit under concurrent
// appends, rotation, deletion and compaction of segments, the disk guard
// and a failing write.
#define CAF_SUITE unit.journal_writer
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <map>
#include <thread>

#include <sys/resource.h>

#include "core/reason.hpp"
#include "store/file_io.hpp"
#include "tests/unit/journal_helpers.hpp"

using namespace qmesh;
using namespace qmesh::store;
using namespace qmesh::test;
namespace fs = std::filesystem;


CAF_TEST(concurrent appends are committed in groups) {
  temp_dir tmp;
  constexpr int threads = 8;
  constexpr int per_thread = 2000;
  std::vector<std::shared_ptr<waiting_listener>> listeners;
  std::vector<uint64_t> max_seq(threads, 0);
  journal_stats stats;
  {
    auto [j, st] = open_ok(config_for(tmp.path));
    for (int t = 0; t < threads; ++t)
      listeners.push_back(std::make_shared<waiting_listener>());
    std::vector<std::thread> workers;
    std::atomic<bool> any_failed{false};
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto body = std::to_string(t) + ":" + std::to_string(i);
          auto seq = j->append(record_kind::put,
                               put_record{"Q" + std::to_string(t), 0, 0,
                                          msg_with(body)},
                               listeners[t]);
          if (seq == append_failed)
            any_failed = true;
          max_seq[t] = std::max(max_seq[t], seq);
          // Every tenth append waits, like a producer that wants its
          // acknowledgement.
          if (i % 10 == 9)
            listeners[t]->wait_for(seq);
        }
      });
    for (auto& w : workers)
      w.join();
    CAF_CHECK(!any_failed);
    for (int t = 0; t < threads; ++t)
      CAF_CHECK(listeners[t]->wait_for(max_seq[t]));
    stats = j->stats();
  }
  uint64_t records = threads * per_thread;
  CAF_CHECK_EQUAL(stats.records, records);
  CAF_CHECK_EQUAL(stats.records_synced, records);
  CAF_CHECK_LESS(stats.fsyncs, records);
  for (int t = 0; t < threads; ++t) {
    CAF_CHECK_EQUAL(listeners[t]->ok_seq, max_seq[t]);
    CAF_CHECK_EQUAL(listeners[t]->failed_seq, 0u);
    // one call per batch at most: fewer calls than records
    CAF_CHECK_LESS_OR_EQUAL(listeners[t]->calls, uint64_t{per_thread});
  }
  CAF_MESSAGE("group commit: " << records << " records in " << stats.fsyncs
                               << " fdatasyncs ("
                               << double(records) / double(stats.fsyncs)
                               << " records per sync)");
  auto [j, st] = open_ok(config_for(tmp.path));
  CAF_CHECK_EQUAL(st.records, records);
  CAF_REQUIRE_EQUAL(st.queues.size(), size_t{threads});
  for (auto& q : st.queues) {
    CAF_CHECK_EQUAL(q.messages.size(), size_t{per_thread});
    // key order is each thread's append order
    auto t = q.name.substr(1);
    for (size_t i = 0; i < q.messages.size(); ++i)
      if (q.messages[i].second.body != t + ":" + std::to_string(i))
        CAF_FAIL("queue " << q.name << " out of order at " << i);
  }
}

CAF_TEST(segments rotate and dead ones are deleted or compacted) {
  temp_dir tmp;
  auto cfg = config_for(tmp.path);
  cfg.segment_bytes = 4096;
  cfg.sync = sync_mode::none;
  auto who = std::make_shared<waiting_listener>();
  // What must survive: key -> (queue, body, delivery count).
  std::map<uint64_t, std::tuple<std::string, std::string, uint32_t>> live;
  journal_stats stats;
  {
    auto [j, st] = open_ok(cfg);
    queue_attrs attrs;
    attrs.description = "first";
    j->append(record_kind::queue_define, queue_record{"Q", attrs, false}, who);
    subscription_info sub;
    sub.name = "SUB";
    sub.filter = "x/#";
    j->append(record_kind::sub_define, sub_record{sub}, who);
    j->append(record_kind::retained,
              retained_record{"x/1", true, msg_with("ret")}, who);
    uint64_t last = 0;
    for (int round = 0; round < 20; ++round) {
      std::vector<uint64_t> keys;
      for (int i = 0; i < 100; ++i) {
        auto body = "m" + std::to_string(round) + "-" + std::to_string(i)
                    + std::string(40, 'x');
        auto key = j->append(record_kind::put,
                             put_record{"Q", 0, 0, msg_with(body)}, who);
        keys.push_back(key);
        live[key] = {"Q", body, 0};
      }
      // Keep every 10th; count a delivery on some survivors; move one.
      std::vector<uint64_t> gone;
      for (size_t i = 0; i < keys.size(); ++i)
        if (i % 10 != 0)
          gone.push_back(keys[i]);
      j->append(record_kind::remove, remove_record{"Q", 0, gone}, who);
      for (auto k : gone)
        live.erase(k);
      j->append(record_kind::delivery_count,
                count_record{"Q", keys[0], uint32_t(round + 1)}, who);
      std::get<2>(live[keys[0]]) = uint32_t(round + 1);
      auto moved_body = std::get<1>(live[keys[10]]);
      auto moved = j->append(record_kind::move,
                             move_record{"Q", keys[10],
                                         put_record{"DLQ", 0, 0,
                                                    msg_with(moved_body)}},
                             who);
      live.erase(keys[10]);
      live[moved] = {"DLQ", moved_body, 0};
      last = j->append(record_kind::uow_commit, uow_record{999}, who);
      CAF_REQUIRE(who->wait_for(last));
    }
    // More batches let the writer catch up (it compacts at most 4
    // segments per batch and deletes once the copies are on disk).
    for (int i = 0; i < 20; ++i) {
      last = j->append(record_kind::uow_backout, uow_record{1}, who);
      CAF_REQUIRE(who->wait_for(last));
    }
    stats = j->stats();
    CAF_CHECK_EQUAL(stats.live_messages, live.size());
  }
  CAF_MESSAGE("segments: " << stats.segments << ", deleted "
                           << stats.segments_deleted << ", records compacted "
                           << stats.records_compacted << ", bytes "
                           << stats.bytes);
  CAF_CHECK_GREATER(stats.segments_deleted, 10u);
  CAF_CHECK_GREATER(stats.records_compacted, 0u);
  // The policy keeps closed segments at most ~4x the live records (plus
  // 2 segments): far fewer than were written.
  CAF_CHECK_LESS(stats.segments * 2, stats.segments + stats.segments_deleted);
  CAF_CHECK_EQUAL(segments_of(tmp.path).size(), stats.segments);
  // Exactly the live messages, with their counts, and the catalog.
  auto [j, st] = open_ok(cfg);
  std::map<uint64_t, std::tuple<std::string, std::string, uint32_t>> got;
  for (auto& q : st.queues)
    for (auto& [key, msg] : q.messages)
      got[key] = {q.name, msg.body, msg.delivery_count};
  CAF_CHECK_EQUAL(got.size(), live.size());
  CAF_CHECK(got == live);
  auto q = find_queue(st, "Q");
  CAF_REQUIRE(q != nullptr);
  CAF_CHECK_EQUAL(q->attrs.description, "first");
  CAF_REQUIRE_EQUAL(st.subscriptions.size(), 1u);
  CAF_CHECK_EQUAL(st.subscriptions[0].filter, "x/#");
  CAF_REQUIRE_EQUAL(st.retained.size(), 1u);
  CAF_CHECK_EQUAL(st.retained[0].second.body, "ret");
}

CAF_TEST(an open unit of work pins its segment) {
  temp_dir tmp;
  auto cfg = config_for(tmp.path);
  cfg.segment_bytes = 1024;
  cfg.sync = sync_mode::none;
  auto who = std::make_shared<waiting_listener>();
  uint64_t k;
  {
    auto [j, st] = open_ok(cfg);
    k = j->append(record_kind::put, put_record{"Q", 0, 0, msg_with("keep")},
                  who);
    // a pending remove of k under uow 5, then lots of churn
    j->append(record_kind::remove, remove_record{"Q", 5, {k}}, who);
    uint64_t last = 0;
    for (int i = 0; i < 300; ++i) {
      auto t = j->append(record_kind::put,
                         put_record{"T", 0, 0, msg_with(std::string(50, 'y'))},
                         who);
      last = j->append(record_kind::remove, remove_record{"T", 0, {t}}, who);
      if (i % 20 == 0)
        who->wait_for(last);
    }
    CAF_REQUIRE(who->wait_for(last));
    auto first = segments_of(tmp.path).front().first_seq;
    CAF_CHECK_EQUAL(first, 1u); // pinned: not deleted, not compacted
    last = j->append(record_kind::uow_commit, uow_record{5}, who);
    CAF_REQUIRE(who->wait_for(last));
  }
  auto [j, st] = open_ok(cfg);
  CAF_CHECK(find_queue(st, "Q") == nullptr
            || find_queue(st, "Q")->messages.empty());
}

CAF_TEST(the disk guard refuses puts below the free limit) {
  temp_dir tmp;
  uint64_t free = 0;
  CAF_REQUIRE_EQUAL(io::free_bytes(tmp.path, free), 0);
  auto cfg = config_for(tmp.path);
  cfg.disk_free_limit = free + (1ull << 40);
  auto [j, st] = open_ok(cfg);
  CAF_CHECK(!j->accepting_puts());
  auto text = j->refusal();
  CAF_MESSAGE("refusal: " << text);
  CAF_CHECK(text.find("disk free ") == 0);
  CAF_CHECK(text.find(" MiB below --disk-free-limit "
                      + std::to_string(cfg.disk_free_limit >> 20) + " MiB")
            != std::string::npos);
  CAF_CHECK(j->stats().disk_alarm);
  // Appends (removals, commits) still work while puts are refused.
  auto who = std::make_shared<waiting_listener>();
  auto seq = j->append(record_kind::uow_commit, uow_record{1}, who);
  CAF_CHECK(who->wait_for(seq));
  j->set_disk_free_limit(0);
  CAF_CHECK(j->accepting_puts());
  CAF_CHECK_EQUAL(j->refusal(), "");
  CAF_CHECK(!j->stats().disk_alarm);
}

CAF_TEST(a failed write fails the journal for good) {
  temp_dir tmp;
  auto cfg = config_for(tmp.path);
  auto [j, st] = open_ok(cfg);
  auto who = std::make_shared<waiting_listener>();
  auto ok_seq = j->append(record_kind::put,
                          put_record{"Q", 0, 0, msg_with("before")}, who);
  CAF_REQUIRE(who->wait_for(ok_seq));
  // Limit the file size so the next write hits EFBIG (a real write error
  // on a real file; SIGXFSZ ignored for the test).
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit small = old_limit;
  small.rlim_cur = fs::file_size(segments_of(tmp.path).back().path) + 100;
  setrlimit(RLIMIT_FSIZE, &small);
  auto bad = j->append(record_kind::put,
                       put_record{"Q", 0, 0, msg_with(std::string(4096, 'z'))},
                       who);
  bool failed = who->wait_failed(bad);
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  CAF_CHECK(failed);
  CAF_CHECK(!j->accepting_puts());
  CAF_MESSAGE("refusal: " << j->refusal());
  CAF_CHECK(j->refusal().find("journal failed") == 0);
  CAF_CHECK(j->stats().failed);
  CAF_CHECK(j->append(record_kind::uow_commit, uow_record{1}, who)
            == append_failed);
  j->close();
  // The partial write is a torn tail: the earlier record survives.
  auto [j2, st2] = open_ok(cfg);
  auto q = find_queue(st2, "Q");
  CAF_REQUIRE(q != nullptr);
  CAF_REQUIRE_EQUAL(q->messages.size(), 1u);
  CAF_CHECK_EQUAL(q->messages[0].second.body, "before");
  CAF_CHECK(j2->accepting_puts());
}
