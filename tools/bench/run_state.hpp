// qmesh-bench: what the threads of one run share (progress, backlog, the
// first failure).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "tools/bench/common.hpp"

namespace qmesh::bench {

// -- what the threads of one run share ----------------------------------------

/// Consumer progress (for the producers' backlog limit) and the first
/// failure, which shuts every socket of the run down so that no thread
/// stays blocked.
class run_state {
public:
  explicit run_state(size_t consumers, size_t producers = 1)
    : received_(consumers, 0), written_(producers, 0),
      confirmed_(producers, 0) {}

  void watch(int fd) {
    std::lock_guard guard{mtx_};
    fds_.push_back(fd);
  }

  void progress(size_t consumer, uint64_t received) {
    {
      std::lock_guard guard{mtx_};
      received_[consumer] = received;
    }
    cv_.notify_all();
  }

  /// A producer's progress: SENDs written, and confirmed by RECEIPT.
  void sent(size_t producer, uint64_t written, uint64_t confirmed) {
    std::lock_guard guard{mtx_};
    written_[producer] = written;
    confirmed_[producer] = confirmed;
  }

  /// Messages received by all consumers, confirmed for all producers.
  std::pair<uint64_t, uint64_t> totals() {
    std::lock_guard guard{mtx_};
    return {sum(received_), sum(confirmed_)};
  }

  bool all_received(uint64_t n) {
    std::lock_guard guard{mtx_};
    return slowest() >= n;
  }

  /// Blocks until every consumer has at least `n` messages; throws if the
  /// run failed meanwhile.
  void wait_received(uint64_t n) {
    std::unique_lock guard{mtx_};
    cv_.wait(guard, [&] { return failed_ || slowest() >= n; });
    if (failed_)
      throw bench_error("aborted");
  }

  /// Blocks until the SENDs written by all producers together are fewer
  /// than `limit` ahead of the slowest consumer; throws if the run failed
  /// meanwhile.
  void wait_backlog(uint64_t limit) {
    std::unique_lock guard{mtx_};
    cv_.wait(guard, [&] {
      return failed_ || sum(written_) < slowest() + limit;
    });
    if (failed_)
      throw bench_error("aborted");
  }

  void fail(const std::string& what) {
    {
      std::lock_guard guard{mtx_};
      if (failed_)
        return;
      failed_ = true;
      error_ = what;
      for (int fd : fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
  }

  /// Throws the first failure, if any, with where everybody was.
  void check() {
    std::lock_guard guard{mtx_};
    if (!failed_)
      return;
    auto per = [](const std::vector<uint64_t>& v) {
      std::string out;
      for (auto n : v) {
        if (!out.empty())
          out += '/';
        out += std::to_string(n);
      }
      return out;
    };
    auto what = error_
                + (written_.size() == 1 ? "; the producer had written "
                                        : "; the producers had written ")
                + per(written_) + " SENDs, " + per(confirmed_)
                + " confirmed by RECEIPT; messages received per consumer:";
    for (auto n : received_) {
      what += ' ';
      what += std::to_string(n);
    }
    throw bench_error(what);
  }

private:
  uint64_t slowest() const {
    return received_.empty()
             ? 0
             : *std::min_element(received_.begin(), received_.end());
  }

  static uint64_t sum(const std::vector<uint64_t>& v) {
    uint64_t total = 0;
    for (auto n : v)
      total += n;
    return total;
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<uint64_t> received_;
  std::vector<int> fds_;
  std::vector<uint64_t> written_;
  std::vector<uint64_t> confirmed_;
  bool failed_ = false;
  std::string error_;
};

/// Runs `body` on a thread; an exception becomes the run's failure.
inline std::thread guarded(run_state& st, std::string role,
                    std::function<void()> body) {
  return std::thread([&st, role = std::move(role), body = std::move(body)] {
    try {
      body();
    } catch (const std::exception& e) {
      st.fail(role + ": " + e.what());
    }
  });
}

} // namespace qmesh::bench
