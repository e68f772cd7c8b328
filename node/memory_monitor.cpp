#include "node/memory_monitor.hpp"

#include <malloc.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>

#include "actors/log.hpp"

namespace qmesh::node {

namespace {

constexpr auto sample_period = std::chrono::milliseconds{100};

/// Free heap bytes above which the monitor trims.
constexpr size_t trim_threshold = 64 * 1024 * 1024;

/// Samples between trims outside an alarm (1 s).
constexpr uint64_t trim_every = 10;

spdlog::logger& mem_log() {
  static auto l = log::get("qmesh.memory");
  return *l;
}

uint64_t read_first_uint(const char* path) {
  std::ifstream in{path};
  uint64_t x = 0;
  if (in >> x)
    return x;
  return 0;
}

} // namespace

uint64_t available_memory() {
  uint64_t total = 0;
  std::ifstream meminfo{"/proc/meminfo"};
  std::string key;
  uint64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") {
      total = kib * 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  // cgroup v2, then v1; "max" or a huge number means no limit.
  for (auto path : {"/sys/fs/cgroup/memory.max",
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    auto limit = read_first_uint(path);
    if (limit > 0 && (total == 0 || limit < total))
      total = limit;
  }
  return total;
}

uint64_t resident_memory() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0;
  uint64_t resident = 0;
  if (!(statm >> size >> resident))
    return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

bool parse_memory_size(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 32)
    return false;
  double value = 0;
  auto first = text.data();
  auto last = text.data() + text.size();
  auto res = std::from_chars(first, last, value);
  if (res.ec != std::errc{} || !(value > 0) || !std::isfinite(value))
    return false;
  std::string_view unit{res.ptr, static_cast<size_t>(last - res.ptr)};
  double factor = 1;
  if (unit.empty() || unit == "B")
    factor = 1;
  else if (unit == "K" || unit == "KiB")
    factor = 1024.0;
  else if (unit == "M" || unit == "MiB")
    factor = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    factor = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB")
    factor = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "%") {
    if (value > 100)
      return false;
    factor = static_cast<double>(available_memory()) / 100.0;
  } else
    return false;
  auto bytes = value * factor;
  if (bytes < 1 || bytes > 1e18)
    return false;
  out = static_cast<uint64_t>(bytes);
  return true;
}

memory_monitor::memory_monitor(std::shared_ptr<flow_control> flow,
                               uint64_t limit)
  : flow_(std::move(flow)), limit_(limit) {
  flow_->memory_limit.store(limit_, std::memory_order_relaxed);
}

memory_monitor::~memory_monitor() {
  stop();
}

void memory_monitor::start() {
  if (thread_.joinable())
    return;
  thread_ = std::thread{[this] { run(); }};
}

void memory_monitor::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void memory_monitor::run() {
  std::unique_lock<std::mutex> guard{mtx_};
  while (!stopping_) {
    guard.unlock();
    sample();
    guard.lock();
    cv_.wait_for(guard, sample_period, [this] { return stopping_; });
  }
}

void memory_monitor::sample() {
  ++samples_;
  auto rss = resident_memory();
  // Give freed heap back while alarmed (every sample) and otherwise once a
  // second when the allocator holds much unused memory.
  bool over = rss >= limit_;
  if (over || flow_->alarmed()
      || samples_ - last_trim_ >= trim_every) {
    // mallinfo2 walks every arena: at most once a second unless alarmed.
    last_trim_ = samples_;
    auto info = mallinfo2();
    if (info.fordblks >= trim_threshold || over) {
      malloc_trim(0);
      rss = resident_memory();
    }
  }
  flow_->memory_used.store(rss, std::memory_order_relaxed);
  if (!flow_->alarmed() && rss >= limit_) {
    mem_log().warn("memory alarm: resident {} MiB >= limit {} MiB; "
                   "producers are held until it falls below {} MiB",
                   rss >> 20, limit_ >> 20, (limit_ / 10 * 9) >> 20);
    flow_->set_alarm(true);
  } else if (flow_->alarmed() && rss < limit_ / 10 * 9) {
    mem_log().info("memory alarm cleared: resident {} MiB", rss >> 20);
    flow_->set_alarm(false);
  }
}

} // namespace qmesh::node
