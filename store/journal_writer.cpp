// The journal's writer thread: group commit, segment rotation, space
// reclamation and the disk guard.
//
// Space policy (reclaim()): segments are only ever deleted oldest-first,
// so a removal, delete or commit in a newer segment never outlives the
// put it cancels. Only closed segments (older than the one being written,
// hence fully on disk) are considered, and not while an open unit of work
// has a record in them (a pending remove must outlive its commit).
//  - The oldest closed segment with no live message and no live catalog
//    record (latest queue definition, durable subscription, retained
//    publication) is deleted.
//  - With more than 2 closed segments, the oldest one is compacted when it
//    is sparse (live messages + live catalog records < 25% of its records)
//    or when all closed segments together are (a dense oldest segment,
//    e.g. messages parked on a queue, must not keep the garbage behind it
//    forever): its live records are appended again (puts with their
//    original key, current delivery count and uow; catalog records
//    unchanged), which leaves it with nothing live; it is deleted once
//    those copies are on disk. Segments after it may be compacted by the
//    same rule before that (at most 4 per batch written); deletion stays
//    oldest-first.
// So the closed segments hold at most about 4 times the live records,
// plus 2 segments.
#include <cerrno>
#include <system_error>

#include <unistd.h>

#include "store/file_io.hpp"
#include "store/journal_impl.hpp"
#include "store/segment.hpp"

namespace qmesh::store {

namespace fs = std::filesystem;

namespace {

constexpr auto disk_check_interval = std::chrono::milliseconds{100};

/// Records re-appended per lock hold while compacting.
constexpr size_t compact_chunk = 256;

/// Segments compacted per reclaim() (after one batch): bounds how long
/// the writer leaves new batches waiting.
constexpr size_t max_compactions = 4;

} // namespace

void journal::impl::run_writer() {
  batch work;
  for (;;) {
    bool have = false;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock{mu};
      wake.wait_for(lock, disk_check_interval,
                    [&] { return open_batch.records > 0 || closing; });
      if (open_batch.records > 0) {
        std::swap(work, open_batch);
        have = true;
      } else if (closing) {
        stop = true;
      }
    }
    if (have) {
      write_batch(work);
      work.clear();
    }
    if (stop)
      break;
    check_disk(false);
    if (have)
      reclaim();
  }
}

void journal::impl::write_batch(batch& b) {
  if (failed) {
    b.notify(false);
    return;
  }
  int err = 0;
  const char* what = "write";
  uint64_t at_segment = fd_segment;
  auto sync = [&] {
    if (err == 0 && cfg.sync == sync_mode::fdatasync && ::fdatasync(fd) != 0) {
      err = errno;
      what = "fdatasync";
    }
  };
  size_t pos = 0;
  for (auto& [offset, first_seq] : b.rotations) {
    if (offset > pos) {
      err = io::write_all(fd, b.buf.data() + pos, offset - pos);
      sync();
    }
    if (err != 0)
      break;
    pos = offset;
    if ((err = start_segment(first_seq)) != 0) {
      what = "create segment";
      at_segment = first_seq;
      break;
    }
    at_segment = first_seq;
  }
  if (err == 0) {
    err = io::write_all(fd, b.buf.data() + pos, b.buf.size() - pos);
    sync();
  }
  if (err != 0) {
    fail(std::string{what} + " " + segment_path(at_segment).string() + ": "
         + io::error_text(err));
    b.notify(false);
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mu};
    ++counters.fsyncs;
    counters.records_synced += b.records;
    durable_seq = b.last_seq;
  }
  b.notify(true);
}

void journal::impl::fail(std::string why) {
  {
    std::lock_guard<std::mutex> guard{mu};
    if (failed)
      return;
    failure = why;
    failed = true;
  }
  log->critical("journal: {}: the journal has FAILED; no more persistent "
                "operations are accepted (reason 2102) until restart",
                why);
}

void journal::impl::reclaim() {
  size_t compactions = 0;
  for (;;) {
    uint64_t victim = 0;
    bool remove = false;
    {
      std::lock_guard<std::mutex> guard{mu};
      if (failed || closing)
        return;
      auto& segs = index.segments();
      size_t closed = 0;
      while (closed < segs.size() && segs[closed].first_seq < fd_segment)
        ++closed;
      auto dead = [](const live_index::segment_acct& seg) {
        return seg.live == 0 && seg.catalog == 0;
      };
      if (closed == 0)
        return;
      if (durable_seq >= reclaim_barrier && dead(segs.front())
          && !index.pinned(segs.front())) {
        victim = segs.front().first_seq;
        remove = true;
        index.drop_oldest();
        ++counters.segments_deleted;
      } else {
        // Dead segments wait for their compaction copies to reach the
        // disk; the first live one after them may be compacted meanwhile.
        size_t i = 0;
        while (i < closed && dead(segs[i]))
          ++i;
        if (i == closed || closed - i <= 2 || compactions == max_compactions
            || index.pinned(segs[i]))
          return;
        auto sparse = [](uint64_t live, uint64_t records) {
          return live * 4 < records;
        };
        uint64_t live = 0;
        uint64_t records = 0;
        for (size_t k = i; k < closed; ++k) {
          live += segs[k].live + segs[k].catalog;
          records += segs[k].records;
        }
        if (!sparse(segs[i].live + segs[i].catalog, segs[i].records)
            && !sparse(live, records))
          return;
        victim = segs[i].first_seq;
      }
    }
    if (remove) {
      std::error_code err;
      fs::remove(segment_path(victim), err);
      if (err)
        log->error("journal: cannot delete {}: {}",
                   segment_path(victim).string(), err.message());
      if (cfg.sync == sync_mode::fdatasync)
        io::sync_dir(cfg.dir);
      continue;
    }
    // The copies go to the open batch; the segment is deleted by a later
    // reclaim() once they are on disk.
    compact(victim);
    ++compactions;
  }
}

void journal::impl::compact(uint64_t first_seq) {
  std::vector<record> recs;
  auto err = read_segment(segment_path(first_seq),
                          [&](record& rec) { recs.push_back(std::move(rec)); });
  if (err) {
    log->error("journal: compaction of {} failed: {}",
               segment_path(first_seq).string(), to_string(err));
    fail("compaction cannot read " + segment_path(first_seq).string());
    return;
  }
  uint64_t copied = 0;
  for (size_t i = 0; i < recs.size(); i += compact_chunk) {
    {
      std::lock_guard<std::mutex> guard{mu};
      if (failed || closing)
        return;
      auto end = std::min(recs.size(), i + compact_chunk);
      for (size_t j = i; j < end; ++j)
        if (auto copy = index.live_copy(recs[j])) {
          auto seq = next_seq++;
          append_locked(seq, copy->first, copy->second);
          reclaim_barrier = seq;
          ++counters.records_compacted;
          ++copied;
        }
    }
  }
  {
    std::lock_guard<std::mutex> guard{mu};
    // Nothing copied: the segment is dead already, delete at once.
    if (copied == 0)
      reclaim_barrier = durable_seq;
  }
  log->info("journal: compacting {}: {} live records of {} copied",
            segment_path(first_seq).string(), copied, recs.size());
}

void journal::impl::check_disk(bool force) {
  std::lock_guard<std::mutex> guard{disk_mu};
  auto now = clock::now();
  if (!force && now - last_disk_check < disk_check_interval)
    return;
  last_disk_check = now;
  uint64_t free = 0;
  if (io::free_bytes(cfg.dir, free) != 0)
    return;
  disk_free = free;
  auto limit = disk_limit.load();
  bool below = free < limit;
  bool was = disk_alarm.exchange(below);
  if (below && !was)
    log->warn("journal: disk free {} MiB below --disk-free-limit {} MiB: "
              "refusing persistent puts until space returns",
              free >> 20, limit >> 20);
  else if (!below && was)
    log->warn("journal: disk free {} MiB, above --disk-free-limit {} MiB "
              "again: accepting persistent puts",
              free >> 20, limit >> 20);
}

} // namespace qmesh::store
