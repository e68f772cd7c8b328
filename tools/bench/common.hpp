// qmesh-bench: the clock, limits, errors and number formatting every
// part shares.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace qmesh::bench {


using clock_type = std::chrono::steady_clock;

constexpr size_t write_chunk = 64 * 1024;    // producer write size
constexpr uint64_t receipt_every = 1000;     // a receipt on every Nth SEND
constexpr size_t receipt_window = 4;         // receipts outstanding at most
constexpr uint64_t max_backlog = 50'000;     // producer lead over consumers
constexpr uint64_t max_undrained = 100'000;  // default max depth of a queue
constexpr uint64_t default_persistent = 20'000; // persistent: messages
constexpr uint64_t default_mxm = 1'000'000;   // mxm: messages, all pairs
constexpr size_t read_buffer_size = 256 * 1024;
constexpr size_t min_body = 16;              // sequence + send time
constexpr size_t max_body = 64 * 1024 * 1024;

/// A failure that ends the program with exit code 1.
struct bench_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Bad command line: usage on stderr, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// -- formatting ---------------------------------------------------------------

/// 312000 -> "312,000".
inline std::string grouped(double value) {
  auto digits = std::to_string(static_cast<uint64_t>(value + 0.5));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

inline std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

inline double seconds_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

inline uint64_t now_ns() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      clock_type::now().time_since_epoch())
      .count());
}

/// Part `i`'s share of `n` over `parts` parts (the first n % parts get one
/// more).
inline uint64_t share(uint64_t n, size_t parts, size_t i) {
  return n / parts + (i < n % parts ? 1 : 0);
}

} // namespace qmesh::bench
