// Incremental STOMP 1.0/1.1/1.2 frame parser (plain C++, no actors, no I/O).
// See docs/protocol-stomp-codec.md for the limits and the error texts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/stomp/frame.hpp"

namespace qmesh::stomp {

/// Per-connection limits; each is inclusive (a value equal to the limit
/// passes, one more fails).
struct limits {
  size_t max_command_length = 32;
  size_t max_headers = 128;           // header lines per frame
  size_t max_header_line = 16 * 1024; // bytes in one header line (no EOL)
  size_t max_body = 4 * 1024 * 1024;  // bytes; the node sets it to its max message length
};

/// Incremental STOMP parser: frames split across any number of feed()
/// calls, several frames in one call; CRLF or LF line ends; EOLs between
/// frames (heart-beats) are skipped and counted; bodies by content-length
/// (may contain NULs) or up to the first NUL; header escapes decoded by the
/// version in use (version()): 1.2 `\r` `\n` `\c` `\\`, 1.1 the same
/// without `\r`, 1.0 none (a `\` is a `\`); any other escape is an error;
/// no unescaping in CONNECT and CONNECTED frames — their header values are
/// taken literally; repeated headers kept (frame::header returns the
/// first).
///
/// Limits are checked before memory is taken: a content-length over max_body
/// fails as soon as the header section ends, without buffering the body; a
/// line longer than its limit fails as soon as that many bytes arrived
/// without a LF, so an unterminated header section never holds more than
/// max_headers * (max_header_line + 2) bytes. A non-numeric, negative or
/// overflowing content-length is an error; so is a content-length body not
/// followed by NUL. Unknown commands are the front-end's business, but the
/// command must be 1 to max_command_length uppercase letters.
///
/// Stricter than the letter of the spec (both are malformed input the BNF
/// does not allow): a CR in a command or header line other than right
/// before its LF, and a NUL in a header line (usually a frame that forgot
/// the blank line before its body) are errors. Lenient: a ':' in a header
/// value is taken literally (only the first ':' separates), as RabbitMQ
/// and ActiveMQ do.
///
/// Memory: no input is copied except an incomplete command or header line;
/// header lines are decoded straight into the frame under construction and
/// body bytes are appended to its body as they arrive (each byte is scanned
/// once, never re-scanned on a later feed()), and complete frames are moved
/// into `out`.
class parser {
public:
  explicit parser(limits lim = {});

  /// Consumes bytes; appends each complete frame to `out`. Returns false on
  /// a protocol violation; then error() says what was wrong in one line,
  /// and error_receipt() holds the `receipt` header of the offending frame
  /// if it was parsed far enough to have one (else empty). Frames completed
  /// before the violation in the same call are still appended to `out`.
  /// After a failure the parser stays failed (further feed() calls return
  /// false and leave `out` alone).
  bool feed(const char* data, size_t size, std::vector<frame>& out);

  /// The version whose escapes the frames after the current one use; 1.2
  /// until set_version() or a CONNECT (see negotiate_on_connect()).
  protocol_version version() const noexcept {
    return version_;
  }

  /// Decodes the header escapes of the frames that start from now on by
  /// version `v`.
  void set_version(protocol_version v) noexcept {
    version_ = v;
  }

  /// Server side: the next complete CONNECT or STOMP frame (only the
  /// first: a server refuses a second) sets the version of the frames after
  /// it to negotiate_version() of its `accept-version` header with
  /// `highest` (unchanged if there is none in common: the server refuses
  /// that CONNECT). Frames a client sends right behind its CONNECT, in the
  /// same read, are thereby decoded by the version the server is about to
  /// answer with.
  void negotiate_on_connect(protocol_version highest) noexcept {
    negotiate_ = true;
    highest_ = highest;
  }

  /// One line, empty while no error occurred.
  const std::string& error() const noexcept {
    return error_;
  }

  const std::string& error_receipt() const noexcept {
    return receipt_;
  }

  /// True if the violation was a body over `max_body` (a message too big,
  /// not a malformed frame).
  bool body_too_long() const noexcept {
    return body_too_long_;
  }

  /// True after a protocol violation.
  bool failed() const noexcept {
    return state_ == state::failed;
  }

  /// Heart-beat EOLs seen since the last call (reset on read).
  size_t take_heartbeats() noexcept {
    auto n = heartbeats_;
    heartbeats_ = 0;
    return n;
  }

  /// Bytes buffered but not yet a complete frame (raw wire bytes of the
  /// partial frame: its command and header lines, body so far, partial line).
  size_t buffered() const noexcept {
    return partial_ + line_.size();
  }

  /// 0 while the parser is between frames (nothing buffered but perhaps
  /// part of a heart-beat CR LF) or failed; otherwise the number of the
  /// frame in progress (1 for the first frame, 2 for the next, ...), so a
  /// caller can tell how long one partial frame has been in progress and
  /// when the next one starts. A frame is in progress from its first
  /// command byte until its NUL.
  uint64_t partial_frame() const noexcept {
    if (state_ == state::failed)
      return 0;
    if (state_ == state::command && (line_.empty() || line_ == "\r"))
      return 0;
    return completed_ + 1;
  }

  const limits& limits_in_use() const noexcept {
    return lim_;
  }

private:
  enum class state : unsigned char {
    command, // between frames: heart-beat EOLs or a command line
    headers, // header lines until the blank line
    body_length, // content-length bytes, then a NUL
    body_nul,    // body up to the first NUL
    failed,
  };

  bool on_line(const char* line, size_t size, const char* rest,
               const char* end);
  bool on_header(const char* line, size_t size);
  bool on_headers_done();
  bool fail(std::string what, const char* rest = nullptr,
            const char* end = nullptr);
  bool fail_command(std::string_view text);
  void emit(std::vector<frame>& out);

  limits lim_;
  state state_ = state::command;
  bool escapes_ = true;      // the current frame decodes header escapes
  protocol_version version_ = protocol_version::v1_2; // of the frames to come
  protocol_version frame_version_ = protocol_version::v1_2; // current frame
  bool negotiate_ = false;   // the next CONNECT sets version_
  protocol_version highest_ = protocol_version::v1_2;
  frame frame_;              // the frame being parsed
  std::string line_;         // an incomplete line (no LF yet)
  size_t partial_ = 0;       // raw bytes of the current frame outside line_
  size_t body_length_ = 0;   // content-length of the current frame
  bool body_too_long_ = false; // the failure was the body limit
  size_t heartbeats_ = 0;
  uint64_t completed_ = 0;   // frames emitted so far
  std::string error_;
  std::string receipt_;
};

} // namespace qmesh::stomp
