// Whole decimal numbers from text (attribute values, command-line options).
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace qmesh {

/// `text` as a whole number of type T: decimal digits only (a leading `-`
/// for a signed T), at most 20 characters, in range; false otherwise.
template <class T>
bool parse_decimal(std::string_view text, T& out) {
  if (text.empty() || text.size() > 20)
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

inline bool parse_uint(std::string_view text, uint64_t& out) {
  return parse_decimal(text, out);
}

inline bool parse_int(std::string_view text, int64_t& out) {
  return parse_decimal(text, out);
}

} // namespace qmesh
