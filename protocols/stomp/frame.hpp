// STOMP 1.0, 1.1 and 1.2 frames and their wire encoding (plain C++, no
// actors, no I/O). See docs/protocol-stomp-codec.md.
#pragma once

#include <cstdint>
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

/// A STOMP protocol version. The order is the preference order (newer is
/// preferred).
enum class protocol_version : uint8_t { v1_0, v1_1, v1_2 };

/// "1.0", "1.1" or "1.2".
std::string_view to_string(protocol_version v) noexcept;

/// The version a CONNECT or STOMP frame asks for, given its
/// `accept-version` header (nullptr if absent): absent means 1.0 (STOMP
/// 1.1 "Protocol Negotiation"); otherwise the highest version of the
/// comma-separated list that is at most `highest` (spaces around entries
/// are ignored, unknown entries skipped). False if there is none.
bool negotiate_version(const std::string* accept_version,
                       protocol_version highest, protocol_version& out);

/// False for CONNECT and CONNECTED, whose header names and values are not
/// escaped on the wire (STOMP 1.2 "Value Encoding"); true for every other
/// command. The parser and encode() both decide by this function.
bool uses_escapes(std::string_view command) noexcept;

/// Appends the wire form of `f` to `out`: command, headers (written by
/// append_header_text() for `v`, except for CONNECT and CONNECTED frames,
/// whose headers are written literally), a content-length header is NOT
/// added automatically (caller adds it), blank line, body, NUL. Uses LF line
/// endings. For CONNECT/CONNECTED the caller must not put CR, LF (or ':' in
/// names) into headers: they cannot be represented.
void encode(const frame& f, std::string& out,
            protocol_version v = protocol_version::v1_2);

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

/// Appends a header name or value as version `v` writes it. 1.2:
/// append_escaped(). 1.1: `\` → `\\`, LF → `\n`, `:` → `\c`; 1.1 has no
/// escape for CR, which becomes a space. 1.0: no escapes at all; CR and LF
/// cannot be represented and become spaces, and so does `:` in a name
/// (`is_name`). The result never breaks the frame's line structure.
void append_header_text(std::string& out, std::string_view text,
                        protocol_version v, bool is_name = false);

} // namespace qmesh::stomp
