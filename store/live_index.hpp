// The live index: which records of which segment are still needed, for
// space reclamation.
//
// Fed every record with the segment that holds it, in log order: by the
// recovery scan at open, then by journal::append(). It tracks
//  - each live message by key: the seq of the record that backs it (a put,
//    a move, or a compaction re-append), its queue, delivery count and
//    uow (0 once committed);
//  - the latest catalog records: queue definitions and durable
//    subscriptions by name, retained publications by topic;
//  - per segment: records, put/move records, live messages and live
//    catalog records backed by it;
//  - open units of work and the first segment holding one of their
//    records (such a segment is pinned: neither deleted nor compacted,
//    since a pending remove in it must outlive its commit).
//
// Not thread-safe: the journal guards it with its mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/records.hpp"

namespace qmesh::store {

class live_index {
public:
  struct segment_acct {
    uint64_t first_seq = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;
    /// put and move records held.
    uint64_t puts = 0;
    /// Live messages and live catalog records backed by this segment.
    uint64_t live = 0;
    uint64_t catalog = 0;
  };

  /// Starts a segment holding records from `first_seq` on (above every
  /// existing segment).
  void add_segment(uint64_t first_seq);

  /// Forgets the oldest segment (its file was deleted).
  void drop_oldest();

  const std::deque<segment_acct>& segments() const noexcept {
    return segs_;
  }

  /// Accounts for one record (`bytes` frame bytes) held in the newest
  /// segment. Returns the key a put or move stored (else 0).
  uint64_t apply(uint64_t seq, record_kind kind, const record_body& body,
                 uint64_t bytes);

  /// Live transfer_commit records (for tests).
  size_t live_transfer_records() const noexcept {
    return live_transfers_.size();
  }

  /// Forgets units of work that can never commit (after recovery).
  void drop_open_uows();

  /// True if unit of work `uow` has records and has not ended.
  bool has_open_uow(uint64_t uow) const noexcept {
    return uows_.count(uow) > 0;
  }

  /// Whether an open unit of work has a record in `seg` or before it.
  bool pinned(const segment_acct& seg) const noexcept;

  /// For compaction of the segment holding `rec`: the record to append in
  /// its stead if it is still needed (a live put or move target as a put
  /// with its key and current delivery count; the latest catalog record
  /// unchanged), else nullopt.
  std::optional<std::pair<record_kind, record_body>>
  live_copy(const record& rec) const;

  uint64_t live_messages() const noexcept {
    return msgs_.size();
  }

private:
  struct entry {
    uint64_t seq = 0; // record backing this message
    uint64_t uow = 0;
    uint32_t queue = 0;
    uint32_t delivery_count = 0;
  };

  struct uow_state {
    uint64_t first_segment = 0;
    std::vector<uint64_t> puts;
    std::vector<uint64_t> removes;
  };

  segment_acct& acct_of(uint64_t seq);
  uint32_t queue_id(const std::string& name);
  void store(uint64_t key, const entry& e);
  void erase(uint64_t key);
  uow_state& open_uow(uint64_t uow);
  /// Makes `seq` the latest catalog record under `name` in `table`.
  void set_catalog(std::unordered_map<std::string, uint64_t>& table,
                   const std::string& name, uint64_t seq);
  void drop_catalog(std::unordered_map<std::string, uint64_t>& table,
                    const std::string& name);

  std::deque<segment_acct> segs_;
  std::unordered_map<uint64_t, entry> msgs_;
  std::unordered_map<std::string, uint32_t> queue_ids_;
  std::unordered_map<std::string, uint64_t> queues_, subs_, retained_;
  std::unordered_map<uint64_t, uow_state> uows_;
  /// Per sending queue manager, its live transfer_commit records, oldest
  /// first: the newest ones holding at least transfer_ids_kept ids (each
  /// counts as a catalog record of its segment).
  struct transfer_entry {
    uint64_t seq = 0;
    uint64_t uow = 0;
    uint64_t ids = 0;
  };
  struct sender_transfers {
    std::deque<transfer_entry> recs;
    uint64_t ids = 0;
  };
  std::unordered_map<std::string, sender_transfers> transfers_;
  std::unordered_map<uint64_t, std::string> live_transfers_;
  void add_transfer(uint64_t seq, const transfer_record& x);
};

} // namespace qmesh::store
