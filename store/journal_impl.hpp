// The journal's internals (internal to store/): shared by journal.cpp (open,
// append, stats, close) and journal_writer.cpp (the writer thread, space
// reclamation, the disk guard).
//
// Locking: `mu` guards everything under "guarded by mu". The writer thread
// alone owns the members under "writer thread only". The atomics are read
// without a lock by accepting_puts() and refusal().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "store/journal.hpp"
#include "store/live_index.hpp"

namespace qmesh::store {

/// Records appended since the writer last took a batch.
struct batch {
  std::vector<char> buf;
  uint64_t records = 0;
  uint64_t last_seq = 0;
  /// A new segment starts at buf offset `first` with seq `second`.
  std::vector<std::pair<size_t, uint64_t>> rotations;
  /// Each listener once, with the highest seq it appended here.
  std::vector<std::pair<std::shared_ptr<durability_listener>, uint64_t>>
    listeners;
  std::unordered_map<durability_listener*, size_t> listener_pos;

  void add_listener(const std::shared_ptr<durability_listener>& who,
                    uint64_t seq);
  /// Tells every listener (seq, ok) once.
  void notify(bool ok);
  /// Empties the batch, keeping the buffer's capacity.
  void clear();
};

struct journal::impl {
  using clock = std::chrono::steady_clock;

  journal_config cfg;
  std::shared_ptr<spdlog::logger> log;

  // -- guarded by mu ----------------------------------------------------------

  mutable std::mutex mu;
  std::condition_variable wake; // the writer waits here for work
  batch open_batch;
  live_index index;
  uint64_t next_seq = 1;
  /// Bytes of the newest segment, written or still in a batch.
  uint64_t segment_fill = 0;
  bool closing = false;
  std::string failure;
  /// After a compaction: nothing is deleted before this seq is on disk.
  uint64_t reclaim_barrier = 0;
  uint64_t durable_seq = 0;
  journal_stats counters; // records, fsyncs, records_synced, deletes, ...

  // -- writer thread only -----------------------------------------------------

  std::thread writer;
  int fd = -1;
  /// First seq of the segment `fd` writes to.
  uint64_t fd_segment = 0;
  clock::time_point last_disk_check{};

  // -- lock-free reads ----------------------------------------------------------

  std::atomic<bool> failed{false};
  std::atomic<bool> closed{false};
  std::atomic<bool> disk_alarm{false};
  std::atomic<uint64_t> disk_free{0};
  std::atomic<uint64_t> disk_limit{0};
  std::mutex disk_mu; // serializes disk checks (transitions log once)

  // -- members ----------------------------------------------------------------

  std::filesystem::path segment_path(uint64_t first_seq) const;

  /// Encodes one record with `seq` into the open batch and accounts for it
  /// in the index, starting a new segment first if the current one is
  /// full. Returns the message key of a put or move. Requires mu.
  uint64_t append_locked(uint64_t seq, record_kind kind,
                         const record_body& body);

  /// Creates segment `first_seq`, writes its magic, syncs file and
  /// directory, and makes it the one `fd` writes to. Returns an errno.
  int start_segment(uint64_t first_seq);

  /// The writer thread's loop.
  void run_writer();

  /// Writes one batch (one write per segment touched, one fdatasync each)
  /// and tells its listeners.
  void write_batch(batch& b);

  /// Marks the journal failed (first failure wins), logs it.
  void fail(std::string why);

  /// Deletes or compacts the oldest closed segments (writer thread).
  void reclaim();

  /// Compacts segment `first_seq`: re-appends its live records (writer
  /// thread, mu not held).
  void compact(uint64_t first_seq);

  /// statvfs() if the last check is older than 100 ms (or `force`); sets
  /// disk_alarm and logs transitions.
  void check_disk(bool force);
};

} // namespace qmesh::store
