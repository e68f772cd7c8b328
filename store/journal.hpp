// The node's write-ahead journal: segment files under the data directory,
// group commit, recovery, space reclamation and the disk guard.
//
// Threading: append() is called from any actor's thread (it encodes the
// record and adds it to the open batch under one lock; it never waits for
// I/O). One writer thread takes the open batch while the previous write +
// fdatasync is in flight, writes it with one write and one fdatasync, then
// tells each listener that appended to that batch, once, the highest seq of
// its records now on disk (group commit).
//
// Durability contract: a record is on disk when its listener heard
// on_durable(seq >= its seq, true). On a failed write or fdatasync the
// listeners of that batch hear ok = false, the journal stops accepting
// appends (append returns append_failed) and says so in the log; nothing after a failed
// batch is ever acknowledged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "store/journal_sink.hpp"
#include "store/records.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace qmesh::store {

/// When a batch counts as written.
enum class sync_mode : uint8_t {
  /// After write() and fdatasync() (the default; survives power loss).
  fdatasync,
  /// After write() only: survives a crash of the process, not of the
  /// machine (explicit option, documented as losing the last batches on
  /// power loss).
  none,
};

struct journal_config {
  std::filesystem::path dir;
  /// A segment is closed and a new one started beyond this size.
  uint64_t segment_bytes = 64ull * 1024 * 1024;
  /// Below this many free bytes on the journal's filesystem, puts are
  /// refused (accepting_puts() false) until space returns.
  uint64_t disk_free_limit = 1ull << 30;
  sync_mode sync = sync_mode::fdatasync;
  /// Corruption before the tail: truncate there (dropping everything
  /// after it) instead of refusing to open.
  bool recover_truncate = false;
  /// Where recovery notes, write failures and disk alarms go; null: the
  /// registered spdlog logger "qmesh.store", else spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;
};

/// One queue as recovery rebuilt it.
struct recovered_queue {
  std::string name;
  queue_attrs attrs;
  bool system = false;
  /// Committed persistent messages in key order (= arrival order), with
  /// their delivery counts; `first` is the key.
  std::vector<std::pair<uint64_t, message>> messages;
};

/// Everything recovery rebuilt from the journal.
struct recovered_state {
  /// In name order.
  std::vector<recovered_queue> queues;
  /// Durable subscriptions, in name order.
  std::vector<subscription_info> subscriptions;
  /// Retained publications by topic, in topic order.
  std::vector<std::pair<std::string, message>> retained;
  /// Per sending queue manager, the transfer ids of its latest
  /// transfer_commit records still in the journal, oldest first (at least
  /// the last `transfer_ids_kept` of them).
  std::map<std::string, std::vector<std::string>> transfers;
  /// Highest unit-of-work id seen: new units of work start above it.
  uint64_t max_uow = 0;
  /// Records replayed, and what recovery had to say (torn tail truncated,
  /// corruption truncated with --recover-truncate), one line each.
  uint64_t records = 0;
  std::vector<std::string> notes;
};

struct journal_stats {
  /// Bytes in all segment files, and how many segments.
  uint64_t bytes = 0;
  uint64_t segments = 0;
  /// Records appended since start, and persistent messages live now.
  uint64_t records = 0;
  uint64_t live_messages = 0;
  /// Batches written (one write + one fdatasync each) and the records in
  /// them: records_synced / fsyncs is the group-commit factor.
  uint64_t fsyncs = 0;
  uint64_t records_synced = 0;
  /// Segments deleted and live records re-appended by compaction.
  uint64_t segments_deleted = 0;
  uint64_t records_compacted = 0;
  /// Wall time recovery took at open, in ms.
  int64_t recovery_ms = 0;
  /// Free bytes on the journal's filesystem at the last check, and whether
  /// puts are refused for lack of space.
  uint64_t disk_free = 0;
  bool disk_alarm = false;
  /// A write or fdatasync failed: nothing is accepted any more.
  bool failed = false;
};

class journal final : public journal_sink {
public:
  /// Opens (creating if needed) the journal in cfg.dir, recovers it and
  /// starts the writer thread. Errors (corruption before the tail, I/O)
  /// name the segment file and offset.
  static caf::expected<std::pair<std::unique_ptr<journal>, recovered_state>>
  open(journal_config cfg);

  ~journal() override; // close()

  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  uint64_t append(record_kind kind, const record_body& body,
                  const std::shared_ptr<durability_listener>& who) override;

  bool accepting_puts() const noexcept override;

  std::string refusal() const override;

  bool holds_uow(uint64_t uow) const override;

  journal_stats stats() const;

  /// Changes the disk free limit and checks the disk at once (tests, and
  /// a future runtime option). Thread-safe.
  void set_disk_free_limit(uint64_t bytes);

  /// Writes what is pending, stops the writer thread and closes the files.
  /// Idempotent.
  void close();

  struct impl;

private:
  explicit journal(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace qmesh::store
