#include "store/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#  include <nmmintrin.h>
#  define QMESH_CRC32C_X86 1
#endif

namespace qmesh::store::crc32c {

namespace {

constexpr uint32_t poly = 0x82F63B78u; // reflected Castagnoli polynomial

/// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC
/// of byte b followed by k zero bytes, which lets eight bytes be folded in
/// with eight independent lookups (slicing-by-8).
using table_set = std::array<std::array<uint32_t, 256>, 8>;

constexpr table_set make_tables() {
  table_set t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i)
      c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k)
    for (uint32_t b = 0; b < 256; ++b)
      t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  return t;
}

constexpr table_set tables = make_tables();

uint64_t load_le64(const unsigned char* p) noexcept {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | p[i];
  return x;
}

} // namespace

uint32_t value_portable(const void* data, size_t n, uint32_t crc) noexcept {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (n >= 8) {
    uint64_t word = load_le64(p) ^ c;
    c = tables[7][word & 0xff] ^ tables[6][(word >> 8) & 0xff]
        ^ tables[5][(word >> 16) & 0xff] ^ tables[4][(word >> 24) & 0xff]
        ^ tables[3][(word >> 32) & 0xff] ^ tables[2][(word >> 40) & 0xff]
        ^ tables[1][(word >> 48) & 0xff] ^ tables[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    c = (c >> 8) ^ tables[0][(c ^ *p++) & 0xff];
  return ~c;
}

#ifdef QMESH_CRC32C_X86

__attribute__((target("sse4.2"))) uint32_t
value_hardware(const void* data, size_t n, uint32_t crc) noexcept {
  auto p = static_cast<const unsigned char*>(data);
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

bool hardware_available() noexcept {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

#else

uint32_t value_hardware(const void* data, size_t n, uint32_t crc) noexcept {
  return value_portable(data, n, crc);
}

bool hardware_available() noexcept {
  return false;
}

#endif

uint32_t value(const void* data, size_t n, uint32_t crc) noexcept {
  return hardware_available() ? value_hardware(data, n, crc)
                              : value_portable(data, n, crc);
}

} // namespace qmesh::store::crc32c
