// qmesh-bench: exactly-once, in-order-per-producer bookkeeping of a
// consumer.
#pragma once

#include <cstdint>
#include <vector>

namespace qmesh::bench {

/// What a run checked, summed over its consumers: `expected` messages
/// (fan-out: per subscriber, added up), `received` distinct ones among them,
/// `lost` = expected - received, `duplicates` (a message seen again, or one
/// that was never sent), `reordered` (a message that arrived after a later
/// one of the same producer).
struct check_counts {
  uint64_t expected = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t reordered = 0;

  bool ok() const noexcept {
    return lost == 0 && duplicates == 0 && reordered == 0
           && received == expected;
  }

  check_counts& operator+=(const check_counts& x) noexcept {
    expected += x.expected;
    received += x.received;
    lost += x.lost;
    duplicates += x.duplicates;
    reordered += x.reordered;
    return *this;
  }
};

/// One consumer's exactly-once, in-order-per-producer bookkeeping: a bit per
/// message each producer sent.
class order_check {
public:
  /// `sent[i]`: how many messages producer i sends to this consumer.
  explicit order_check(const std::vector<uint64_t>& sent) {
    for (auto n : sent) {
      seen_.emplace_back(n, false);
      next_.push_back(0);
      counts_.expected += n;
    }
  }

  /// Records message `seq` of `producer`; true if it is new.
  bool see(uint64_t producer, uint64_t seq) {
    if (producer >= seen_.size() || seq >= seen_[producer].size()
        || seen_[producer][seq]) {
      ++counts_.duplicates;
      return false;
    }
    seen_[producer][seq] = true;
    ++counts_.received;
    if (seq < next_[producer])
      ++counts_.reordered;
    else
      next_[producer] = seq + 1;
    return true;
  }

  uint64_t received() const noexcept {
    return counts_.received;
  }

  bool complete() const noexcept {
    return counts_.received == counts_.expected;
  }

  check_counts counts() const {
    auto c = counts_;
    c.lost = c.expected - c.received;
    return c;
  }

private:
  std::vector<std::vector<bool>> seen_;
  std::vector<uint64_t> next_; // one past the highest seq seen, per producer
  check_counts counts_;
};

} // namespace qmesh::bench
