// Helpers for the journal tests: a temporary directory that is always
// removed, a listener that can be waited on, and short constructors.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/reason.hpp"
#include "store/journal.hpp"
#include "store/segment.hpp"

namespace qmesh::test {

/// A fresh directory under /tmp (mkdtemp), removed with everything in it.
struct temp_dir {
  std::filesystem::path path;

  temp_dir() {
    char tmpl[] = "/tmp/qmesh-journal-XXXXXX";
    if (auto p = ::mkdtemp(tmpl))
      path = p;
  }

  ~temp_dir() {
    std::error_code err;
    std::filesystem::remove_all(path, err);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Remembers what the journal said; wait_for() blocks until a seq is
/// acknowledged (or failed).
struct waiting_listener : store::durability_listener {
  std::mutex mtx;
  std::condition_variable cv;
  uint64_t ok_seq = 0;
  uint64_t failed_seq = 0;
  uint64_t calls = 0;

  void on_durable(uint64_t seq, bool ok) override {
    std::lock_guard<std::mutex> guard{mtx};
    ++calls;
    if (ok)
      ok_seq = std::max(ok_seq, seq);
    else
      failed_seq = std::max(failed_seq, seq);
    cv.notify_all();
  }

  /// True once `seq` was acknowledged as durable within `limit`.
  bool wait_for(uint64_t seq,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_for(lock, limit,
                [&] { return ok_seq >= seq || failed_seq >= seq; });
    return ok_seq >= seq;
  }

  /// True once `seq` was reported as failed within `limit`.
  bool wait_failed(uint64_t seq,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_for(lock, limit, [&] { return failed_seq >= seq; });
    return failed_seq >= seq;
  }
};

inline store::journal_config config_for(const std::filesystem::path& dir) {
  store::journal_config cfg;
  cfg.dir = dir;
  cfg.disk_free_limit = 0;
  return cfg;
}

inline message msg_with(std::string body, uint32_t delivery_count = 0) {
  message msg;
  msg.id = msg_id::next();
  msg.persistent = 1;
  msg.priority = 4;
  msg.body = std::move(body);
  msg.delivery_count = delivery_count;
  return msg;
}

/// Segment files of `dir` in log order.
inline std::vector<store::segment_file>
segments_of(const std::filesystem::path& dir) {
  auto segs = store::list_segments(dir);
  return segs ? *segs : std::vector<store::segment_file>{};
}

/// Byte offsets at which the frames of the segment file `path` start.
inline std::vector<size_t> frame_offsets(const std::filesystem::path& path) {
  std::vector<size_t> result;
  std::vector<char> buf;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
      return result;
    char chunk[65536];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
      buf.insert(buf.end(), chunk, chunk + n);
    std::fclose(f);
  }
  std::span<const char> all{buf.data(), buf.size()};
  for (size_t off = store::segment_magic.size(); off < buf.size();) {
    auto d = store::decode(all.subspan(off));
    if (d.status != store::frame_status::ok)
      break;
    result.push_back(off);
    off += d.size;
  }
  return result;
}

/// The recovered queue `name`, or nullptr.
inline const store::recovered_queue*
find_queue(const store::recovered_state& st, const std::string& name) {
  for (auto& q : st.queues)
    if (q.name == name)
      return &q;
  return nullptr;
}

inline bool any_note_contains(const store::recovered_state& st,
                              const std::string& text) {
  for (auto& note : st.notes)
    if (note.find(text) != std::string::npos)
      return true;
  return false;
}

/// A journal and what it recovered.
using opened
  = std::pair<std::unique_ptr<store::journal>, store::recovered_state>;

/// Opens a journal; the test fails if it cannot.
inline opened open_ok(const store::journal_config& cfg) {
  auto res = store::journal::open(cfg);
  if (!res)
    CAF_FAIL("open failed: " << render(res.error()));
  return std::move(*res);
}

} // namespace qmesh::test
