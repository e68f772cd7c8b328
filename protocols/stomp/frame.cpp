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

bool uses_escapes(std::string_view command) noexcept {
  return command != "CONNECT" && command != "CONNECTED";
}

namespace {

/// Escapes needed for `c`, or nullptr.
inline const char* escape_of(char c) noexcept {
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
      return nullptr;
  }
}

} // namespace

void append_escaped(std::string& out, std::string_view text) {
  const char* run = text.data();
  const char* end = text.data() + text.size();
  for (const char* i = run; i != end; ++i) {
    if (auto esc = escape_of(*i)) {
      out.append(run, i);
      out.append(esc, 2);
      run = i + 1;
    }
  }
  out.append(run, end);
}

void encode(const frame& f, std::string& out) {
  // One allocation in the common case: every byte plus a little escape room.
  size_t size = f.command.size() + 3 + f.body.size();
  for (const auto& [name, value] : f.headers)
    size += name.size() + value.size() + 2;
  out.reserve(out.size() + size + 16);
  out += f.command;
  out += '\n';
  if (uses_escapes(f.command)) {
    for (const auto& [name, value] : f.headers) {
      append_escaped(out, name);
      out += ':';
      append_escaped(out, value);
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
