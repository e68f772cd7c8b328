#include "store/journal.hpp"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "core/reason.hpp"
#include "store/file_io.hpp"
#include "store/journal_impl.hpp"
#include "store/replay.hpp"
#include "store/segment.hpp"

namespace qmesh::store {

namespace fs = std::filesystem;

// -- batch --------------------------------------------------------------------

void batch::add_listener(const std::shared_ptr<durability_listener>& who,
                         uint64_t seq) {
  if (!who)
    return;
  auto [it, added] = listener_pos.try_emplace(who.get(), listeners.size());
  if (added)
    listeners.emplace_back(who, seq);
  else
    listeners[it->second].second = seq; // seqs only grow within a batch
}

void batch::notify(bool ok) {
  for (auto& [who, seq] : listeners)
    who->on_durable(seq, ok);
}

void batch::clear() {
  buf.clear();
  records = 0;
  last_seq = 0;
  rotations.clear();
  listeners.clear();
  listener_pos.clear();
}

// -- impl helpers ---------------------------------------------------------------

fs::path journal::impl::segment_path(uint64_t first_seq) const {
  return cfg.dir / segment_name(first_seq);
}

uint64_t journal::impl::append_locked(uint64_t seq, record_kind kind,
                                      const record_body& body) {
  auto& b = open_batch;
  if (segment_fill >= cfg.segment_bytes
      && index.segments().back().records > 0) {
    b.rotations.emplace_back(b.buf.size(), seq);
    index.add_segment(seq);
    segment_fill = segment_magic.size();
  }
  auto before = b.buf.size();
  encode(seq, kind, body, b.buf);
  auto size = b.buf.size() - before;
  segment_fill += size;
  ++b.records;
  b.last_seq = seq;
  ++counters.records;
  return index.apply(seq, kind, body, size);
}

int journal::impl::start_segment(uint64_t first_seq) {
  auto path = segment_path(first_seq);
  int new_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0644);
  if (new_fd < 0)
    return errno;
  int err = io::write_all(new_fd, segment_magic.data(), segment_magic.size());
  if (err == 0 && cfg.sync == sync_mode::fdatasync && ::fdatasync(new_fd) != 0)
    err = errno;
  if (err == 0 && cfg.sync == sync_mode::fdatasync)
    err = io::sync_dir(cfg.dir);
  if (err != 0) {
    ::close(new_fd);
    return err;
  }
  if (fd >= 0)
    ::close(fd);
  fd = new_fd;
  fd_segment = first_seq;
  return 0;
}

// -- journal --------------------------------------------------------------------

journal::journal(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

journal::~journal() {
  close();
}

caf::expected<std::pair<std::unique_ptr<journal>, recovered_state>>
journal::open(journal_config cfg) {
  auto started = impl::clock::now();
  auto p = std::make_unique<impl>();
  p->log = cfg.logger;
  if (!p->log)
    p->log = spdlog::get("qmesh.store");
  if (!p->log)
    p->log = spdlog::default_logger();
  p->cfg = std::move(cfg);
  p->disk_limit = p->cfg.disk_free_limit;
  auto& dir = p->cfg.dir;
  std::error_code ec_dir;
  fs::create_directories(dir, ec_dir);
  if (ec_dir)
    return reason_error(ec::resource_problem,
                        "journal: cannot create " + dir.string() + ": "
                          + ec_dir.message());
  // Recovery: one pass feeding both the replay and the live index.
  replayer rep;
  auto& idx = p->index;
  auto scanned = scan_segments(
    dir, p->cfg.recover_truncate,
    [&](record& rec, uint64_t segment, size_t frame_size) {
      if (idx.segments().empty() || idx.segments().back().first_seq != segment)
        idx.add_segment(segment);
      idx.apply(rec.seq, rec.kind, rec.body, frame_size);
      rep.apply(rec);
    });
  if (!scanned)
    return scanned.error();
  // Segments without records (created, never written) go: the new segment
  // below may even want the same name.
  for (auto& seg : scanned->segments)
    if (seg.records == 0) {
      std::error_code err;
      fs::remove(seg.path, err);
    }
  idx.drop_open_uows();
  auto state = rep.finish();
  state.notes.insert(state.notes.begin(), scanned->notes.begin(),
                     scanned->notes.end());
  for (auto& note : state.notes)
    p->log->warn("{}", note);
  // Appends go to a new segment, never into a recovered file.
  p->next_seq = scanned->last_seq + 1;
  if (auto err = p->start_segment(p->next_seq))
    return reason_error(ec::resource_problem,
                        "journal: cannot create "
                          + p->segment_path(p->next_seq).string() + ": "
                          + io::error_text(err));
  idx.add_segment(p->next_seq);
  p->segment_fill = segment_magic.size();
  p->durable_seq = scanned->last_seq;
  p->counters.recovery_ms = std::chrono::duration_cast<
                              std::chrono::milliseconds>(impl::clock::now()
                                                         - started)
                              .count();
  p->check_disk(true);
  auto* raw = p.get();
  p->writer = std::thread{[raw] { raw->run_writer(); }};
  std::unique_ptr<journal> j{new journal(std::move(p))};
  return std::make_pair(std::move(j), std::move(state));
}

uint64_t journal::append(record_kind kind, const record_body& body,
                         const std::shared_ptr<durability_listener>& who) {
  auto& p = *impl_;
  if (!kind_matches(kind, body)) {
    p.log->error("journal: record kind {} does not match its body (a bug)",
                 static_cast<int>(kind));
    return append_failed;
  }
  uint64_t seq;
  {
    std::lock_guard<std::mutex> guard{p.mu};
    if (p.failed || p.closing)
      return append_failed;
    seq = p.next_seq++;
    p.append_locked(seq, kind, body);
    p.open_batch.add_listener(who, seq);
  }
  p.wake.notify_one();
  return seq;
}

bool journal::holds_uow(uint64_t uow) const {
  auto& p = *impl_;
  std::lock_guard<std::mutex> guard{p.mu};
  return p.index.has_open_uow(uow);
}

bool journal::accepting_puts() const noexcept {
  auto& p = *impl_;
  return !p.failed && !p.closed && !p.disk_alarm;
}

std::string journal::refusal() const {
  auto& p = *impl_;
  if (p.failed) {
    std::lock_guard<std::mutex> guard{p.mu};
    return "journal failed: " + p.failure;
  }
  if (p.closed)
    return "journal closed";
  if (p.disk_alarm)
    return "disk free " + std::to_string(p.disk_free >> 20)
           + " MiB below --disk-free-limit " + std::to_string(p.disk_limit >> 20)
           + " MiB";
  return {};
}

journal_stats journal::stats() const {
  auto& p = *impl_;
  std::lock_guard<std::mutex> guard{p.mu};
  auto result = p.counters;
  result.segments = p.index.segments().size();
  result.bytes = 0;
  for (auto& seg : p.index.segments())
    result.bytes += segment_magic.size() + seg.bytes;
  result.live_messages = p.index.live_messages();
  result.disk_free = p.disk_free;
  result.disk_alarm = p.disk_alarm;
  result.failed = p.failed;
  return result;
}

void journal::set_disk_free_limit(uint64_t bytes) {
  impl_->disk_limit = bytes;
  impl_->check_disk(true);
}

void journal::close() {
  auto& p = *impl_;
  {
    std::lock_guard<std::mutex> guard{p.mu};
    if (p.closing)
      return;
    p.closing = true;
  }
  p.wake.notify_one();
  if (p.writer.joinable())
    p.writer.join();
  if (p.fd >= 0) {
    ::close(p.fd);
    p.fd = -1;
  }
  p.closed = true;
}

} // namespace qmesh::store
