#include "protocols/stomp/frame.hpp"

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

} // namespace qmesh::stomp
