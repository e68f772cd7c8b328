#include "protocols/stomp/frame.hpp"

#include <charconv>

namespace qmesh::stomp {

const std::string* frame::header(std::string_view name) const noexcept {
  for (const auto& kv : headers)
    if (kv.first == name)
      return &kv.second;
  return nullptr;
}

void frame::add(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
}

std::string_view to_string(protocol_version v) noexcept {
  switch (v) {
    case protocol_version::v1_0:
      return "1.0";
    case protocol_version::v1_1:
      return "1.1";
    case protocol_version::v1_2:
      break;
  }
  return "1.2";
}

bool negotiate_version(const std::string* accept_version,
                       protocol_version highest, protocol_version& out) {
  if (accept_version == nullptr) {
    out = protocol_version::v1_0;
    return true;
  }
  bool found = false;
  std::string_view versions{*accept_version};
  for (;;) {
    auto comma = versions.find(',');
    auto v = versions.substr(0, comma);
    while (!v.empty() && v.front() == ' ')
      v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ')
      v.remove_suffix(1);
    auto pv = protocol_version::v1_0;
    bool known = true;
    if (v == "1.2")
      pv = protocol_version::v1_2;
    else if (v == "1.1")
      pv = protocol_version::v1_1;
    else if (v == "1.0")
      pv = protocol_version::v1_0;
    else
      known = false;
    if (known && pv <= highest && (!found || pv > out)) {
      out = pv;
      found = true;
    }
    if (comma == std::string_view::npos)
      return found;
    versions.remove_prefix(comma + 1);
  }
}

bool uses_escapes(std::string_view command) noexcept {
  return command != "CONNECT" && command != "CONNECTED";
}

namespace {

/// Appends `text` to `out` with each byte for which `sub` returns a
/// replacement replaced by it (an empty view: the byte stays).
template <class Sub>
void append_replaced(std::string& out, std::string_view text, Sub sub) {
  const char* run = text.data();
  const char* end = text.data() + text.size();
  for (const char* i = run; i != end; ++i) {
    if (auto rep = sub(*i); !rep.empty()) {
      out.append(run, i);
      out.append(rep);
      run = i + 1;
    }
  }
  out.append(run, end);
}

/// The 1.2 escape of `c`, or empty.
inline std::string_view escape_of(char c) noexcept {
  switch (c) {
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case ':':
      return "\\c";
    default:
      return {};
  }
}

/// 1.1 escapes: as 1.2 but without one for CR (a space instead).
inline std::string_view escape_of_11(char c) noexcept {
  return c == '\r' ? std::string_view{" "} : escape_of(c);
}

} // namespace

void append_escaped(std::string& out, std::string_view text) {
  append_replaced(out, text, escape_of);
}

void append_header_text(std::string& out, std::string_view text,
                        protocol_version v, bool is_name) {
  switch (v) {
    case protocol_version::v1_2:
      append_escaped(out, text);
      break;
    case protocol_version::v1_1:
      append_replaced(out, text, escape_of_11);
      break;
    case protocol_version::v1_0:
      // No escapes: what would break the frame becomes a space.
      append_replaced(out, text, [is_name](char c) -> std::string_view {
        if (c == '\n' || c == '\r' || (is_name && c == ':'))
          return " ";
        return {};
      });
  }
}

void encode(const frame& f, std::string& out, protocol_version v) {
  // One allocation in the common case: every byte plus a little escape room.
  size_t size = f.command.size() + 3 + f.body.size();
  for (const auto& [name, value] : f.headers)
    size += name.size() + value.size() + 2;
  out.reserve(out.size() + size + 16);
  out += f.command;
  out += '\n';
  if (uses_escapes(f.command)) {
    for (const auto& [name, value] : f.headers) {
      append_header_text(out, name, v, true);
      out += ':';
      append_header_text(out, value, v);
      out += '\n';
    }
  } else {
    for (const auto& [name, value] : f.headers) {
      out += name;
      out += ':';
      out += value;
      out += '\n';
    }
  }
  out += '\n';
  out += f.body;
  out += '\0';
}

size_t wire_frame_length(std::string_view wire) noexcept {
  if (wire.empty())
    return 0;
  if (wire[0] == '\n')
    return 1;
  if (wire.starts_with("\r\n"))
    return 2;
  // Command line, then header lines up to the blank line.
  auto eol = wire.find('\n');
  if (eol == std::string_view::npos)
    return 0;
  size_t pos = eol + 1;
  bool have_length = false;
  size_t length = 0;
  for (;;) {
    eol = wire.find('\n', pos);
    if (eol == std::string_view::npos)
      return 0;
    auto line = wire.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty())
      break;
    constexpr std::string_view key = "content-length:";
    if (!have_length && line.starts_with(key)) {
      auto value = line.substr(key.size());
      auto [p, ec] = std::from_chars(value.data(),
                                     value.data() + value.size(), length);
      if (ec != std::errc{} || p != value.data() + value.size())
        return 0;
      have_length = true;
    }
  }
  if (have_length) {
    if (length >= wire.size() - pos || wire[pos + length] != '\0')
      return 0;
    return pos + length + 1;
  }
  auto nul = wire.find('\0', pos);
  return nul == std::string_view::npos ? 0 : nul + 1;
}

} // namespace qmesh::stomp
