#define CAF_SUITE unit.crc32c
#include <caf/test/unit_test.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "store/crc32c.hpp"

using namespace qmesh::store;

namespace {

struct vec {
  std::string data;
  uint32_t crc;
};

/// Known CRC32C values (RFC 3720 B.4 and the common check value).
std::vector<vec> vectors() {
  return {
    {"", 0},
    {"123456789", 0xE3069283u},
    {std::string(32, '\0'), 0x8A9136AAu},
    {std::string(32, '\xff'), 0x62A8AB43u},
    {"a", 0xC1D04330u},
  };
}

std::string ascending32() {
  std::string s(32, '\0');
  for (int i = 0; i < 32; ++i)
    s[i] = static_cast<char>(i);
  return s;
}

} // namespace

CAF_TEST(portable path matches known vectors) {
  for (auto& v : vectors())
    CAF_CHECK_EQUAL(crc32c::value_portable(v.data.data(), v.data.size()),
                    v.crc);
  auto asc = ascending32();
  CAF_CHECK_EQUAL(crc32c::value_portable(asc.data(), asc.size()),
                  0x46DD794Eu);
}

CAF_TEST(hardware path matches known vectors) {
  if (!crc32c::hardware_available()) {
    CAF_MESSAGE("no SSE4.2 on this CPU: hardware path not tested");
    return;
  }
  for (auto& v : vectors())
    CAF_CHECK_EQUAL(crc32c::value_hardware(v.data.data(), v.data.size()),
                    v.crc);
  auto asc = ascending32();
  CAF_CHECK_EQUAL(crc32c::value_hardware(asc.data(), asc.size()),
                  0x46DD794Eu);
}

CAF_TEST(both paths agree on random data at every length and alignment) {
  std::mt19937_64 rng{42};
  std::vector<char> buf(4096 + 16);
  for (auto& c : buf)
    c = static_cast<char>(rng());
  for (size_t len = 0; len < 300; ++len)
    for (size_t off = 0; off < 8; ++off) {
      auto p = buf.data() + off;
      auto a = crc32c::value_portable(p, len);
      auto b = crc32c::value(p, len);
      if (a != b)
        CAF_FAIL("mismatch at len " << len << " off " << off);
    }
  CAF_CHECK_EQUAL(crc32c::value_portable(buf.data(), 4096),
                  crc32c::value(buf.data(), 4096));
}

CAF_TEST(extending equals computing over the concatenation) {
  std::string a = "hello, ", b = "journal frames";
  auto whole = a + b;
  auto full = crc32c::value(whole.data(), whole.size());
  CAF_CHECK_EQUAL(crc32c::value(b.data(), b.size(),
                                crc32c::value(a.data(), a.size())),
                  full);
  CAF_CHECK_EQUAL(crc32c::value_portable(b.data(), b.size(),
                                         crc32c::value_portable(a.data(),
                                                                a.size())),
                  full);
}
