// Replay: rebuilds what the journal holds (queues, messages, durable
// subscriptions, retained publications) from its records in log order.
//
// Rules: queue_define creates or replaces a queue's attributes (its
// messages stay); queue_delete drops the queue and its messages. A put with
// uow 0 stores its message under its key (0 = the record's seq); with a uow
// it waits for that uow's commit (backout, or no commit at all, discards
// it); likewise removes. A move erases `from` and stores `to`. A put or move
// into an undefined queue creates it with default attributes (noted, unless
// a define follows). delivery_count sets a present message's count.
// sub_define / sub_delete upsert / erase by name, retained by topic.
//
// Not thread-safe; used once, by journal::open().
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/journal.hpp"
#include "store/records.hpp"

namespace qmesh::store {

class replayer {
public:
  /// Applies one record; may move from it.
  void apply(record& rec);

  /// The state after every record applied so far; uows without a commit
  /// are discarded. Call once.
  recovered_state finish();

private:
  /// A queue's messages in arrival order (usually key order already),
  /// erased ones flagged, plus key -> position. Recovery of long queues
  /// then moves each message once, from the decoded record into `msgs`,
  /// and the vector itself into the result.
  struct queue_build {
    queue_attrs attrs;
    bool system = false;
    bool defined = false;
    std::vector<std::pair<uint64_t, message>> msgs;
    std::vector<bool> erased;
    std::unordered_map<uint64_t, uint32_t> pos;
    size_t erased_count = 0;
    bool sorted = true;

    void put(uint64_t key, message&& msg);
    void erase(uint64_t key);
    message* find(uint64_t key);
    /// The live messages in key order.
    std::vector<std::pair<uint64_t, message>> take_sorted();
  };

  /// An operation waiting for its uow's commit.
  struct pending_op {
    bool is_put = false;
    put_record put;       // is_put: key already resolved
    remove_record remove; // !is_put
  };

  queue_build& queue_for(const std::string& name);
  queue_build* find_queue(const std::string& name);
  void store(put_record& put);
  void erase(const std::string& queue, const std::vector<uint64_t>& keys);
  void seen_uow(uint64_t uow);

  std::unordered_map<std::string, queue_build> queues_;
  /// One-entry cache for queue_for / find_queue (puts come in runs).
  std::string last_name_;
  queue_build* last_queue_ = nullptr;
  std::unordered_map<uint64_t, std::vector<pending_op>> uows_;
  std::unordered_map<std::string, subscription_info> subs_;
  std::unordered_map<std::string, message> retained_;
  uint64_t max_uow_ = 0;
  /// Transfer ids per sending queue manager, oldest first.
  std::map<std::string, std::vector<std::string>> transfers_;
  uint64_t records_ = 0;
};

} // namespace qmesh::store
