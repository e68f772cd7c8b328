// Percent-decoding of URL parts (RFC 3986 section 2.1) for the HTTP
// listener: path segments (the API's and the static files') and query
// values. Plain C++, no state.
#pragma once

#include <string>
#include <string_view>

namespace qmesh::http {

/// Decodes `in` into `out`; false if a `%` is not followed by two hex
/// digits. `plus_is_space`: `+` means a space (query values, HTML form
/// encoding); in a path segment `+` is itself.
inline bool percent_decode(std::string_view in, std::string& out,
                           bool plus_is_space) {
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9')
      return h - '0';
    if (h >= 'a' && h <= 'f')
      return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
      return h - 'A' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      if (i + 2 >= in.size())
        return false;
      int hi = hex(in[i + 1]);
      int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return true;
}

} // namespace qmesh::http
