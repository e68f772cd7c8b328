// qmesh-bench: a log-linear latency histogram (HdrHistogram's layout, our
// own code): exact below 1024 ns, above that 512 equal buckets per power of
// two, so a recorded value is reported at most 0.2% high. Not thread-safe:
// one histogram per thread, merged afterwards.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace qmesh::bench {

class histogram {
public:
  static constexpr int sub_bits = 10;
  static constexpr uint64_t sub_count = uint64_t{1} << sub_bits; // exact
  static constexpr uint64_t half = sub_count / 2; // buckets per octave

  histogram() : counts_((64 - sub_bits + 2) * half, 0) {}

  void record(uint64_t value) {
    ++counts_[index(value)];
    ++total_;
    max_ = std::max(max_, value);
  }

  void merge(const histogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i)
      counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  uint64_t count() const noexcept {
    return total_;
  }

  uint64_t max() const noexcept {
    return max_;
  }

  /// The value at quantile `q` (0..1) by nearest rank: the highest value of
  /// the bucket that holds it (never above max()); 0 when empty.
  uint64_t quantile(double q) const {
    if (total_ == 0)
      return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_)
                                      + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank)
        return std::min(highest(i), max_);
    }
    return max_;
  }

  static size_t index(uint64_t v) noexcept {
    if (v < sub_count)
      return static_cast<size_t>(v);
    auto msb = 63 - std::countl_zero(v); // >= sub_bits
    auto shift = static_cast<uint64_t>(msb - (sub_bits - 1));
    return static_cast<size_t>(shift * half + (v >> shift));
  }

  /// The highest value that lands in bucket `i`.
  static uint64_t highest(size_t i) noexcept {
    if (i < sub_count)
      return i;
    auto shift = i / half - 1;
    auto mantissa = i - shift * half;
    return ((mantissa + 1) << shift) - 1;
  }

private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

} // namespace qmesh::bench
