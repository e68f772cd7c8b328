// STOMP 1.2 frames and their wire encoding (plain C++, no actors, no I/O).
// See docs/protocol-stomp-codec.md.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qmesh::stomp {

/// One STOMP frame with decoded (unescaped) header names and values.
struct frame {
  /// "SEND", "CONNECT", ...
  std::string command;
  /// Decoded (unescaped), in wire order, repeats kept.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// First occurrence wins (STOMP 1.2 repeated-header rule); nullptr if absent.
  const std::string* header(std::string_view name) const noexcept;

  /// Appends a header (after any existing one of the same name, which
  /// therefore still wins).
  void add(std::string name, std::string value);

  friend bool operator==(const frame&, const frame&) = default;
};

/// False for CONNECT and CONNECTED, whose header names and values are not
/// escaped on the wire (STOMP 1.2 "Value Encoding"); true for every other
/// command. The parser and encode() both decide by this function.
bool uses_escapes(std::string_view command) noexcept;

/// Appends the wire form of `f` to `out`: command, headers (escaped per 1.2
/// except for CONNECT and CONNECTED frames), a content-length header is NOT
/// added automatically (caller adds it), blank line, body, NUL. Uses LF line
/// endings. For CONNECT/CONNECTED the caller must not put CR, LF (or ':' in
/// names) into headers: they cannot be represented.
void encode(const frame& f, std::string& out);

/// Length of the first unit at the start of `wire`, which holds output as
/// this codec writes it (encode(), mapping.hpp's append_* functions): a
/// heart-beat EOL (LF, or CR LF) alone, or a whole frame up to and with its
/// NUL (a content-length header, the first one, gives the body's length;
/// else the body ends at the first NUL). 0 if `wire` is empty or does not
/// start with a whole unit. For writing one frame per message on a
/// message-oriented transport (STOMP over WebSocket).
size_t wire_frame_length(std::string_view wire) noexcept;

/// Appends `text` with the 1.2 header escapes applied: `\` → `\\`,
/// LF → `\n`, CR → `\r`, `:` → `\c`.
void append_escaped(std::string& out, std::string_view text);

} // namespace qmesh::stomp
