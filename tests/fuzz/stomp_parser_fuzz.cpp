// libFuzzer harness for the STOMP codec (protocols/stomp/).
//
// Build and run: `make fuzz` (10 minutes) or ctest `fuzz.stomp_parser`
// (20 seconds); both go through tests/fuzz/run_fuzz.sh.
//
// The input is raw wire bytes (the seed corpus holds the spec's example
// frames and 1.0/1.1 sessions). A hash of the input picks the parser limits
// (defaults, or tiny ones so that every limit is reachable with short
// inputs), whether a CONNECT switches the version (negotiate_on_connect) and
// the points at which the input is split across feed() calls. Invariants
// checked:
//  - feeding the input whole or in pieces gives the same frames, the same
//    success, the same kind of error and the same heart-beat count;
//  - every frame respects the limits;
//  - a failed parser stays failed; error() is one non-empty line;
//  - the parsed frames, encoded (each by the version it was parsed with)
//    and parsed again, are the same frames;
//  - buffered() never exceeds what the limits allow.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/stomp/frame.hpp"
#include "protocols/stomp/parser.hpp"

using namespace qmesh::stomp;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

uint64_t next(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

limits pick_limits(uint64_t& rng) {
  limits lim;
  if (next(rng) % 2 == 0)
    return lim; // the defaults
  lim.max_command_length = next(rng) % 12;
  lim.max_headers = next(rng) % 6;
  lim.max_header_line = next(rng) % 48;
  lim.max_body = next(rng) % 96;
  return lim;
}

/// The error text up to its first quote: the quoted excerpt of an invalid
/// command may legitimately show fewer bytes when the input came in pieces.
std::string_view error_kind(const std::string& error) {
  std::string_view e{error};
  return e.substr(0, e.find('"'));
}

/// Upper bound of buffered() for `lim`.
size_t max_buffered(const limits& lim) {
  // Saturation is irrelevant here: the fuzzer's limits are small or default.
  return lim.max_command_length + 2
         + lim.max_headers * (lim.max_header_line + 2) + 2
         + (lim.max_header_line + 1) + lim.max_body;
}

void check_frames(const std::vector<frame>& frames, const limits& lim) {
  for (const auto& f : frames) {
    require(!f.command.empty(), "empty command");
    require(f.command.size() <= lim.max_command_length, "command limit");
    for (char c : f.command)
      require(c >= 'A' && c <= 'Z', "command is uppercase letters");
    require(f.headers.size() <= lim.max_headers, "header count limit");
    require(f.body.size() <= lim.max_body, "body limit");
    for (const auto& [name, value] : f.headers)
      require(!name.empty(), "empty header name");
    if (auto cl = f.header("content-length"))
      require(std::strtoull(cl->c_str(), nullptr, 10) == f.body.size(),
              "content-length = body");
    else
      require(f.body.find('\0') == std::string::npos,
              "NUL in a body without content-length");
  }
}

void check_failed(parser& p, const std::string& error) {
  require(p.failed(), "failed()");
  require(!p.error().empty(), "error() set on failure");
  require(p.error().find_first_of("\r\n") == std::string::npos,
          "error() is one line");
  std::vector<frame> more;
  require(!p.feed("\n", 1, more) && more.empty(), "a failed parser stays failed");
  require(p.error() == error, "error() unchanged after failure");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  uint64_t rng = fnv1a(data, size) | 1;
  auto lim = pick_limits(rng);
  bool negotiate = next(rng) % 2 == 0;
  auto make = [&](limits l) {
    parser p{l};
    if (negotiate)
      p.negotiate_on_connect(protocol_version::v1_2);
    return p;
  };

  // 1. The whole input in one call.
  parser whole = make(lim);
  std::vector<frame> frames;
  bool ok = whole.feed(bytes, size, frames);
  check_frames(frames, lim);
  auto heartbeats = whole.take_heartbeats();
  require(whole.take_heartbeats() == 0, "take_heartbeats() resets");
  if (ok) {
    require(whole.error().empty() && !whole.failed(), "no error on success");
    require(whole.buffered() <= max_buffered(lim), "buffered() bound");
  } else {
    check_failed(whole, whole.error());
  }

  // 2. The same bytes in pieces: one byte at a time, or pieces of random
  // length (empty ones included).
  parser pieces = make(lim);
  std::vector<frame> frames2;
  bool ok2 = true;
  size_t heartbeats2 = 0;
  bool bytewise = next(rng) % 4 == 0;
  for (size_t pos = 0; pos < size && ok2;) {
    size_t n = bytewise ? 1 : next(rng) % (next(rng) % 2 ? 8 : 300);
    n = std::min(n, size - pos);
    ok2 = pieces.feed(bytes + pos, n, frames2);
    heartbeats2 += pieces.take_heartbeats();
    require(pieces.buffered() <= max_buffered(lim), "buffered() bound");
    pos += n;
  }
  require(ok == ok2, "split input: same success");
  require(frames == frames2, "split input: same frames");
  require(heartbeats == heartbeats2, "split input: same heart-beats");
  if (ok)
    require(whole.buffered() == pieces.buffered(), "split: same buffered()");
  else
    require(error_kind(whole.error()) == error_kind(pieces.error()),
            "split input: same kind of error");

  // 3. Encode what was parsed and parse it again (with limits that the
  // encoding can exceed: it may escape a ':' that came in literally). Each
  // frame is encoded by the version it was parsed with: 1.2 until the
  // first CONNECT or STOMP, then the one it negotiated.
  std::string wire;
  auto version = protocol_version::v1_2;
  bool switched = false;
  for (const auto& f : frames) {
    encode(f, wire, version);
    if (negotiate && !switched
        && (f.command == "CONNECT" || f.command == "STOMP")) {
      negotiate_version(f.header("accept-version"), protocol_version::v1_2,
                        version);
      switched = true;
    }
  }
  limits open;
  open.max_command_length = 64;
  open.max_headers = lim.max_headers;
  open.max_header_line = 2 * lim.max_header_line + 2;
  open.max_body = lim.max_body;
  parser again = make(open);
  std::vector<frame> reparsed;
  require(again.feed(wire.data(), wire.size(), reparsed),
          "re-encoded frames parse");
  require(reparsed == frames, "re-encoded frames are the same frames");
  require(again.take_heartbeats() == 0, "no heart-beats in encoded frames");
  require(again.buffered() == 0, "encoded frames are complete");
  return 0;
}
