// The pieces of STOMP over WebSocket that need no socket: splitting our own
// output into one message per frame, and the UTF-8 check that picks text
// or binary messages.
#define CAF_SUITE unit.stomp_wire
#include "test_fixture.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "core/message.hpp"
#include "protocols/net/ws_connection.hpp"
#include "protocols/stomp/frame.hpp"
#include "protocols/stomp/mapping.hpp"
#include "protocols/stomp/parser.hpp"

using namespace qmesh;
using namespace qmesh::stomp;
using namespace std::literals;

namespace {

/// `wire` cut by wire_frame_length; a remainder it cannot cut comes last,
/// prefixed with "REST:".
std::vector<std::string> split(std::string_view wire) {
  std::vector<std::string> out;
  while (!wire.empty()) {
    auto n = wire_frame_length(wire);
    if (n == 0) {
      out.push_back("REST:" + std::string{wire});
      break;
    }
    out.emplace_back(wire.substr(0, n));
    wire.remove_prefix(n);
  }
  return out;
}

} // namespace

CAF_TEST(a frame without content - length ends at its NUL) {
  auto wire = "RECEIPT\nreceipt-id:7\n\n\0"s;
  CAF_CHECK_EQUAL(wire_frame_length(wire), wire.size());
  CAF_CHECK_EQUAL(wire_frame_length(wire + "CONNECTED\n\n\0"s), wire.size());
}

CAF_TEST(content - length covers NULs in the body) {
  auto wire = "MESSAGE\ncontent-length:5\n\na\0b\0c\0"s;
  CAF_CHECK_EQUAL(wire_frame_length(wire), wire.size());
  // The first content-length wins, as the parser decides.
  auto twice = "MESSAGE\ncontent-length:3\ncontent-length:1\n\na\0b\0"s;
  CAF_CHECK_EQUAL(wire_frame_length(twice), twice.size());
}

CAF_TEST(heart - beats are units of their own) {
  CAF_CHECK_EQUAL(split("\n\n"), (std::vector<std::string>{"\n", "\n"}));
  CAF_CHECK_EQUAL(split("\r\nRECEIPT\n\n\0\n"s),
                  (std::vector<std::string>{"\r\n", "RECEIPT\n\n\0"s, "\n"}));
}

CAF_TEST(incomplete or inconsistent input gives 0) {
  CAF_CHECK_EQUAL(wire_frame_length(""), 0u);
  CAF_CHECK_EQUAL(wire_frame_length("RECEIPT"), 0u);
  CAF_CHECK_EQUAL(wire_frame_length("RECEIPT\nreceipt-id:1\n"), 0u);
  CAF_CHECK_EQUAL(wire_frame_length("RECEIPT\n\nno nul"), 0u);
  CAF_CHECK_EQUAL(wire_frame_length("MESSAGE\ncontent-length:9\n\nab\0"s), 0u);
  // The byte after the body must be the NUL.
  CAF_CHECK_EQUAL(wire_frame_length("MESSAGE\ncontent-length:1\n\nab\0"s), 0u);
  CAF_CHECK_EQUAL(wire_frame_length("MESSAGE\ncontent-length:x\n\n\0"s), 0u);
}

CAF_TEST(a batch of our own output splits into the frames the parser sees) {
  std::string out;
  message m;
  m.body = "binary\0body\nwith NUL"s;
  m.content_type = "application/octet-stream";
  m.properties["k:ey"] = "va\nlue";
  append_message(out, m, "sub-1", "/queue/A", "1-1");
  out += '\n';
  append_receipt(out, "r-1");
  append_error(out, 2046, "2046 options_error: bad", "r-2");
  message text;
  text.body = "plain";
  append_message(out, text, "sub-2", "/topic/t", "");
  auto units = split(out);
  CAF_REQUIRE_EQUAL(units.size(), 5u);
  CAF_CHECK_EQUAL(units[1], "\n");
  std::vector<std::string> commands;
  for (const auto& u : units) {
    CAF_CHECK(!u.starts_with("REST:"));
    parser p;
    std::vector<frame> frames;
    CAF_CHECK(p.feed(u.data(), u.size(), frames));
    if (u == "\n") {
      CAF_CHECK(frames.empty());
      CAF_CHECK_EQUAL(p.take_heartbeats(), 1u);
      continue;
    }
    CAF_REQUIRE_EQUAL(frames.size(), 1u);
    CAF_CHECK_EQUAL(p.partial_frame(), 0u); // nothing left over
    commands.push_back(frames[0].command);
  }
  CAF_CHECK_EQUAL(commands, (std::vector<std::string>{"MESSAGE", "RECEIPT",
                                                      "ERROR", "MESSAGE"}));
}

CAF_TEST(valid UTF - 8 is text and anything else binary) {
  using net::valid_utf8;
  CAF_CHECK(valid_utf8(""));
  CAF_CHECK(valid_utf8("MESSAGE\n\nplain ascii\0"sv));
  CAF_CHECK(valid_utf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
  CAF_CHECK(valid_utf8("\xed\x9f\xbf"));     // U+D7FF
  CAF_CHECK(valid_utf8("\xf4\x8f\xbf\xbf")); // U+10FFFF
  CAF_CHECK(!valid_utf8("\xff"));
  CAF_CHECK(!valid_utf8("\xc3"));             // truncated
  CAF_CHECK(!valid_utf8("\xe2\x82"));         // truncated
  CAF_CHECK(!valid_utf8("\xc0\xaf"));         // overlong '/'
  CAF_CHECK(!valid_utf8("\xe0\x80\xaf"));     // overlong
  CAF_CHECK(!valid_utf8("\xed\xa0\x80"));     // surrogate U+D800
  CAF_CHECK(!valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  CAF_CHECK(!valid_utf8("\x80"));             // lone continuation
  CAF_CHECK(!valid_utf8("a\xc3(b"));          // bad continuation
}
