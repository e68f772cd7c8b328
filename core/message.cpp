#include "core/message.hpp"

#include <atomic>
#include <chrono>
#include <random>

namespace qmesh {

namespace {

uint64_t process_prefix() {
  std::random_device rd;
  uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  x ^= static_cast<uint64_t>(
    std::chrono::system_clock::now().time_since_epoch().count());
  return x == 0 ? 1 : x;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

msg_id msg_id::next() noexcept {
  static const uint64_t prefix = process_prefix();
  static std::atomic<uint64_t> counter{0};
  return {prefix, counter.fetch_add(1, std::memory_order_relaxed) + 1};
}

std::optional<msg_id> msg_id::parse(std::string_view hex) {
  if (hex.size() != 32)
    return std::nullopt;
  msg_id result;
  for (size_t i = 0; i < 32; ++i) {
    auto v = hex_value(hex[i]);
    if (v < 0)
      return std::nullopt;
    auto& word = i < 16 ? result.hi : result.lo;
    word = (word << 4) | static_cast<uint64_t>(v);
  }
  return result;
}

std::string to_string(const msg_id& x) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result(32, '0');
  for (int i = 0; i < 16; ++i) {
    result[15 - i] = digits[(x.hi >> (4 * i)) & 0xf];
    result[31 - i] = digits[(x.lo >> (4 * i)) & 0xf];
  }
  return result;
}

int64_t wall_clock_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace qmesh
