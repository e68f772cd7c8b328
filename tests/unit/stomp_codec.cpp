#define CAF_SUITE unit.stomp_codec
#include "test_fixture.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/stomp/frame.hpp"
#include "protocols/stomp/parser.hpp"

using namespace qmesh::stomp;
using namespace std::literals;

namespace {

/// What one parser made of some input.
struct result {
  bool ok = false;
  std::vector<frame> frames;
  std::string error;
  std::string receipt;
  size_t heartbeats = 0;
  size_t buffered = 0;
};

result finish(parser& p, bool ok, std::vector<frame> frames) {
  result r;
  r.ok = ok;
  r.frames = std::move(frames);
  r.error = p.error();
  r.receipt = p.error_receipt();
  r.heartbeats = p.take_heartbeats();
  r.buffered = p.buffered();
  return r;
}

/// Parses `wire` in one feed() call.
result parse(std::string_view wire, limits lim = {}) {
  parser p{lim};
  std::vector<frame> frames;
  bool ok = p.feed(wire.data(), wire.size(), frames);
  return finish(p, ok, std::move(frames));
}

/// Parses `wire` one byte per feed() call.
result parse_bytewise(std::string_view wire, limits lim = {}) {
  parser p{lim};
  std::vector<frame> frames;
  bool ok = true;
  for (size_t i = 0; i < wire.size() && ok; ++i)
    ok = p.feed(wire.data() + i, 1, frames);
  return finish(p, ok, std::move(frames));
}

/// The error text, or "<ok>" if `wire` parsed.
std::string error_of(std::string_view wire, limits lim = {}) {
  auto r = parse(wire, lim);
  return r.ok ? "<ok>"s : r.error;
}

std::string encoded(const frame& f) {
  std::string out;
  encode(f, out);
  return out;
}

frame make(std::string command,
           std::vector<std::pair<std::string, std::string>> headers = {},
           std::string body = {}) {
  frame f;
  f.command = std::move(command);
  f.headers = std::move(headers);
  f.body = std::move(body);
  return f;
}

} // namespace

// Passes if the text contains the fragment; on failure shows the text.
#define CHECK_CONTAINS(text, fragment)                                         \
  do {                                                                         \
    std::string text_ = (text);                                                \
    std::string frag_ = (fragment);                                            \
    CAF_CHECK_EQUAL(text_.find(frag_) != std::string::npos ? frag_ : text_,    \
                    frag_);                                                    \
  } while (false)

// -- frame --------------------------------------------------------------------

CAF_TEST(header returns the first occurrence or nullptr) {
  frame f;
  CAF_CHECK(f.header("foo") == nullptr);
  f.add("foo", "World");
  f.add("foo", "Hello");
  f.add("bar", "");
  CAF_REQUIRE(f.header("foo") != nullptr);
  CAF_CHECK_EQUAL(*f.header("foo"), "World");
  CAF_REQUIRE(f.header("bar") != nullptr);
  CAF_CHECK_EQUAL(*f.header("bar"), "");
  CAF_CHECK(f.header("Foo") == nullptr); // names are case-sensitive
  CAF_CHECK(f.header("fo") == nullptr);
  CAF_CHECK_EQUAL(f.headers.size(), 3u);
}

CAF_TEST(only CONNECT and CONNECTED frames go unescaped) {
  CAF_CHECK(!uses_escapes("CONNECT"));
  CAF_CHECK(!uses_escapes("CONNECTED"));
  for (auto cmd : {"STOMP"sv, "SEND"sv, "MESSAGE"sv, "ERROR"sv, "RECEIPT"sv,
                   "SUBSCRIBE"sv, "ACK"sv, "CONNECTX"sv, "CONNEC"sv})
    CAF_CHECK(uses_escapes(cmd));
}

// -- encode -------------------------------------------------------------------

CAF_TEST(encode writes command headers blank line body and NUL with LF) {
  auto f = make("SEND", {{"destination", "/queue/a"}, {"receipt", "r1"}},
                "hello");
  CAF_CHECK_EQUAL(encoded(f),
                  "SEND\ndestination:/queue/a\nreceipt:r1\n\nhello\0"s);
  CAF_CHECK_EQUAL(encoded(make("DISCONNECT")), "DISCONNECT\n\n\0"s);
}

CAF_TEST(encode appends and adds no content length) {
  std::string out = "prefix";
  encode(make("SEND", {}, "a\0b"s), out);
  CAF_CHECK_EQUAL(out, "prefixSEND\n\na\0b\0"s);
  CAF_CHECK(out.find("content-length") == std::string::npos);
}

CAF_TEST(encode escapes header names and values) {
  auto f = make("MESSAGE", {{"a:b\\c", "x\ny\rz:\\"}});
  CAF_CHECK_EQUAL(encoded(f), "MESSAGE\na\\cb\\\\c:x\\ny\\rz\\c\\\\\n\n\0"s);
  std::string out;
  append_escaped(out, "plain");
  CAF_CHECK_EQUAL(out, "plain");
  append_escaped(out, "");
  append_escaped(out, ":");
  CAF_CHECK_EQUAL(out, "plain\\c");
}

CAF_TEST(encode writes CONNECT and CONNECTED headers literally) {
  auto f = make("CONNECT", {{"login", "DOMAIN\\me"}, {"passcode", "a:b"}});
  CAF_CHECK_EQUAL(encoded(f),
                  "CONNECT\nlogin:DOMAIN\\me\npasscode:a:b\n\n\0"s);
  f.command = "CONNECTED";
  CAF_CHECK_EQUAL(encoded(f),
                  "CONNECTED\nlogin:DOMAIN\\me\npasscode:a:b\n\n\0"s);
}

// -- frames from the specification ---------------------------------------------

CAF_TEST(spec CONNECT frame) {
  auto r = parse("CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  auto& f = r.frames[0];
  CAF_CHECK_EQUAL(f.command, "CONNECT");
  CAF_REQUIRE_EQUAL(f.headers.size(), 2u);
  CAF_CHECK_EQUAL(f.headers[0].first, "accept-version");
  CAF_CHECK_EQUAL(f.headers[0].second, "1.2");
  CAF_CHECK_EQUAL(f.headers[1].first, "host");
  CAF_CHECK_EQUAL(f.headers[1].second, "stomp.github.org");
  CAF_CHECK_EQUAL(f.body, "");
  CAF_CHECK_EQUAL(r.buffered, 0u);
  CAF_CHECK_EQUAL(r.heartbeats, 0u);
}

CAF_TEST(spec SEND frame with a text body) {
  auto r = parse("SEND\ndestination:/queue/a\ncontent-type:text/plain\n\n"
                 "hello queue a\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK(r.frames[0] == make("SEND",
                                {{"destination", "/queue/a"},
                                 {"content-type", "text/plain"}},
                                "hello queue a\n"));
}

CAF_TEST(spec ERROR frame with content length) {
  std::string body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\n"
                     "receipt:message-12345\n\nHello queue a!\n-----\n"
                     "Did not contain a destination header, which is "
                     "REQUIRED\nfor message propagation.\n";
  std::string wire = "ERROR\nreceipt-id:message-12345\n"
                     "content-type:text/plain\ncontent-length:"
                     + std::to_string(body.size())
                     + "\nmessage:malformed frame received\n\n" + body + '\0';
  auto r = parse(wire);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK_EQUAL(r.frames[0].body, body);
  CAF_CHECK_EQUAL(*r.frames[0].header("message"), "malformed frame received");
}

CAF_TEST(every client and server frame of the spec parses) {
  std::string wire
    = "STOMP\naccept-version:1.2\nhost:stomp.github.org\n\n\0"s
      + "CONNECTED\nversion:1.2\n\n\0"s
      + "SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0"s
      + "UNSUBSCRIBE\nid:0\n\n\0"s + "ACK\nid:12345\ntransaction:tx1\n\n\0"s
      + "NACK\nid:12345\ntransaction:tx1\n\n\0"s
      + "BEGIN\ntransaction:tx1\n\n\0"s + "COMMIT\ntransaction:tx1\n\n\0"s
      + "ABORT\ntransaction:tx1\n\n\0"s + "DISCONNECT\nreceipt:77\n\n\0"s
      + "RECEIPT\nreceipt-id:77\n\n\0"s
      + "MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n"
        "content-type:text/plain\n\nhello queue a\0"s;
  auto r = parse(wire);
  CAF_REQUIRE(r.ok);
  std::vector<std::string> commands;
  for (auto& f : r.frames)
    commands.push_back(f.command);
  CAF_CHECK_EQUAL(commands,
                  (std::vector<std::string>{"STOMP", "CONNECTED", "SUBSCRIBE",
                                            "UNSUBSCRIBE", "ACK", "NACK",
                                            "BEGIN", "COMMIT", "ABORT",
                                            "DISCONNECT", "RECEIPT",
                                            "MESSAGE"}));
  CAF_CHECK_EQUAL(r.frames.back().body, "hello queue a");
}

CAF_TEST(a frame without headers or body) {
  auto r = parse("DISCONNECT\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK(r.frames[0] == make("DISCONNECT"));
}

CAF_TEST(unknown commands are left to the front end) {
  auto r = parse("FROBNICATE\nx:y\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK_EQUAL(r.frames[0].command, "FROBNICATE");
}

// -- line endings and heart-beats ----------------------------------------------

CAF_TEST(CRLF line ends and mixed line ends) {
  auto crlf = parse("SEND\r\ndestination:/queue/a\r\nreceipt:r\r\n\r\nbody\r\n\0"s);
  CAF_REQUIRE(crlf.ok);
  CAF_REQUIRE_EQUAL(crlf.frames.size(), 1u);
  CAF_CHECK(crlf.frames[0]
            == make("SEND", {{"destination", "/queue/a"}, {"receipt", "r"}},
                    "body\r\n")); // the body is not touched
  auto mixed = parse("SEND\r\ndestination:/queue/a\nreceipt:r\r\n\nbody\r\n\0"s);
  CAF_REQUIRE(mixed.ok);
  CAF_CHECK(mixed.frames == crlf.frames);
}

CAF_TEST(heart-beat EOLs between frames are skipped and counted) {
  auto frame1 = "SEND\ndestination:/queue/a\n\nx\0"s;
  auto r = parse("\n\r\n" + frame1 + "\n\n\r\n" + frame1 + "\r\n");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.frames.size(), 2u);
  CAF_CHECK_EQUAL(r.heartbeats, 6u);
  CAF_CHECK_EQUAL(r.buffered, 0u);
  // Heart-beats alone.
  auto beats = parse("\n\n\n\r\n");
  CAF_CHECK(beats.ok);
  CAF_CHECK(beats.frames.empty());
  CAF_CHECK_EQUAL(beats.heartbeats, 4u);
}

CAF_TEST(take_heartbeats resets and a split CRLF counts once) {
  parser p;
  std::vector<frame> out;
  CAF_CHECK(p.feed("\n\r", 2, out));
  CAF_CHECK_EQUAL(p.take_heartbeats(), 1u);
  CAF_CHECK_EQUAL(p.take_heartbeats(), 0u);
  CAF_CHECK_EQUAL(p.buffered(), 1u); // the CR
  CAF_CHECK(p.feed("\n", 1, out));
  CAF_CHECK_EQUAL(p.take_heartbeats(), 1u);
  CAF_CHECK_EQUAL(p.buffered(), 0u);
  CAF_CHECK(out.empty());
}

// -- bodies ---------------------------------------------------------------------

CAF_TEST(binary body with embedded NULs via content length) {
  std::string body;
  for (int i = 0; i < 256; ++i)
    body += static_cast<char>(i);
  body += "\0\0\n\0"s;
  auto wire = "SEND\ndestination:/queue/bin\ncontent-length:"
              + std::to_string(body.size()) + "\n\n" + body + '\0'
              + "SEND\ndestination:/queue/next\n\nnext\0"s;
  for (auto& r : {parse(wire), parse_bytewise(wire)}) {
    CAF_REQUIRE(r.ok);
    CAF_REQUIRE_EQUAL(r.frames.size(), 2u);
    CAF_CHECK_EQUAL(r.frames[0].body.size(), body.size());
    CAF_CHECK(r.frames[0].body == body);
    CAF_CHECK_EQUAL(r.frames[1].body, "next");
  }
}

CAF_TEST(without content length the body ends at the first NUL) {
  auto r = parse("SEND\ndestination:/q\n\nab\0SEND\ndestination:/q\n\ncd\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 2u);
  CAF_CHECK_EQUAL(r.frames[0].body, "ab");
  CAF_CHECK_EQUAL(r.frames[1].body, "cd");
}

CAF_TEST(content length zero and leading zeros) {
  auto r = parse("SEND\ncontent-length:0\n\n\0SEND\ncontent-length:003\n\nabc\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 2u);
  CAF_CHECK_EQUAL(r.frames[0].body, "");
  CAF_CHECK_EQUAL(r.frames[1].body, "abc");
}

CAF_TEST(a large body split across many feeds) {
  std::string body(1024 * 1024, 'x');
  for (size_t i = 0; i < body.size(); i += 997)
    body[i] = '\0';
  auto wire = "SEND\ncontent-length:" + std::to_string(body.size()) + "\n\n"
              + body + '\0';
  parser p;
  std::vector<frame> out;
  for (size_t i = 0; i < wire.size(); i += 4096) {
    auto n = std::min<size_t>(4096, wire.size() - i);
    CAF_REQUIRE(p.feed(wire.data() + i, n, out));
    if (i + n < wire.size()) {
      CAF_CHECK_EQUAL(p.buffered(), i + n);
      CAF_CHECK(out.empty());
    }
  }
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK(out[0].body == body);
  CAF_CHECK_EQUAL(p.buffered(), 0u);
}

// -- headers --------------------------------------------------------------------

CAF_TEST(repeated headers are kept and the first wins) {
  auto r = parse("MESSAGE\nfoo:World\nfoo:Hello\ncontent-length:2\n"
                 "content-length:5\n\nab\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  auto& f = r.frames[0];
  CAF_CHECK_EQUAL(f.headers.size(), 4u);
  CAF_CHECK_EQUAL(*f.header("foo"), "World");
  CAF_CHECK_EQUAL(f.headers[1].second, "Hello");
  CAF_CHECK_EQUAL(f.body, "ab"); // the first content-length counts
}

CAF_TEST(header escapes are decoded in names and values) {
  auto r = parse("MESSAGE\na\\cb\\\\c\\n:x\\ny\\rz\\c\\\\\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_REQUIRE_EQUAL(r.frames[0].headers.size(), 1u);
  CAF_CHECK_EQUAL(r.frames[0].headers[0].first, "a:b\\c\n");
  CAF_CHECK_EQUAL(r.frames[0].headers[0].second, "x\ny\rz:\\");
}

CAF_TEST(CONNECT and CONNECTED header values are taken literally) {
  for (auto cmd : {"CONNECT"s, "CONNECTED"s}) {
    auto r = parse(cmd + "\nlogin:DOMAIN\\me\npasscode:s\\t:x\\\n\n\0"s);
    CAF_REQUIRE(r.ok);
    CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
    CAF_CHECK_EQUAL(*r.frames[0].header("login"), "DOMAIN\\me");
    CAF_CHECK_EQUAL(*r.frames[0].header("passcode"), "s\\t:x\\");
  }
  // STOMP is the 1.2 name of CONNECT but escapes like any other frame.
  CHECK_CONTAINS(error_of("STOMP\nlogin:DOMAIN\\me\n\n\0"s),
                 "undefined escape sequence");
}

CAF_TEST(a colon in a value and an empty value are accepted) {
  auto r = parse("SEND\ntime:12:30:00\nempty:\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK_EQUAL(*r.frames[0].header("time"), "12:30:00");
  CAF_CHECK_EQUAL(*r.frames[0].header("empty"), "");
}

CAF_TEST(header values are not trimmed) {
  auto r = parse("SEND\n key : value \n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1u);
  CAF_CHECK_EQUAL(r.frames[0].headers[0].first, " key ");
  CAF_CHECK_EQUAL(r.frames[0].headers[0].second, " value ");
}

CAF_TEST(escapes round-trip through encode and parse) {
  std::string nasty = "\\:\n\r\\\\::\r\n plain \\c\\n";
  std::vector<frame> frames{
    make("SEND", {{nasty, nasty}, {"k", ""}, {"content-length", "3"}},
         "a\0b"s),
    make("MESSAGE", {{"destination", "/queue/x:y"}, {"x", "\\"}}, "body"),
    make("CONNECT", {{"login", "a\\b"}, {"passcode", "p:q\\c"}}),
    make("CONNECTED", {{"version", "1.2"}, {"server", "qmesh\\1"}}),
    make("ERROR", {{"message", "line1\nline2"}}, "text")};
  std::string wire;
  for (auto& f : frames)
    encode(f, wire);
  for (auto& r : {parse(wire), parse_bytewise(wire)}) {
    CAF_REQUIRE(r.ok);
    CAF_CHECK(r.frames == frames);
    CAF_CHECK_EQUAL(r.heartbeats, 0u);
  }
}

// -- incremental parsing --------------------------------------------------------

CAF_TEST(a frame fed one byte at a time) {
  auto wire = "\r\nSEND\r\ndestination:/queue/a\r\nreceipt:r\\c1\r\n"
              "content-length:4\r\n\r\na\0b\n\0\n"
              "MESSAGE\nsubscription:0\n\nhi\0"s;
  auto whole = parse(wire);
  auto bytewise = parse_bytewise(wire);
  CAF_REQUIRE(whole.ok);
  CAF_REQUIRE(bytewise.ok);
  CAF_REQUIRE_EQUAL(bytewise.frames.size(), 2u);
  CAF_CHECK(bytewise.frames == whole.frames);
  CAF_CHECK_EQUAL(*bytewise.frames[0].header("receipt"), "r:1");
  CAF_CHECK_EQUAL(bytewise.frames[0].body, "a\0b\n"s);
  CAF_CHECK_EQUAL(bytewise.heartbeats, 2u);
  CAF_CHECK_EQUAL(whole.heartbeats, 2u);
}

CAF_TEST(every split point gives the same frames) {
  auto wire = "SEND\ndestination:/queue/a\ncontent-length:3\n\nx\0y\0\n"
              "SEND\r\nk:v\\n\r\n\r\nnul-terminated\0"s;
  auto expected = parse(wire);
  CAF_REQUIRE(expected.ok);
  CAF_REQUIRE_EQUAL(expected.frames.size(), 2u);
  for (size_t i = 0; i <= wire.size(); ++i) {
    parser p;
    std::vector<frame> out;
    CAF_CHECK(p.feed(wire.data(), i, out));
    CAF_CHECK(p.feed(wire.data() + i, wire.size() - i, out));
    CAF_CHECK(out == expected.frames);
    CAF_CHECK_EQUAL(p.take_heartbeats(), 1u);
  }
}

CAF_TEST(1000 frames in one feed) {
  std::string wire;
  for (int i = 0; i < 1000; ++i) {
    auto body = "message " + std::to_string(i);
    encode(make("SEND",
                {{"destination", "/queue/a"},
                 {"content-length", std::to_string(body.size())},
                 {"receipt", "r" + std::to_string(i)}},
                body),
           wire);
    if (i % 10 == 0)
      wire += '\n';
  }
  auto r = parse(wire);
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    CAF_CHECK_EQUAL(r.frames[i].body, "message " + std::to_string(i));
    CAF_CHECK_EQUAL(*r.frames[i].header("receipt"), "r" + std::to_string(i));
  }
  CAF_CHECK_EQUAL(r.heartbeats, 100u);
  CAF_CHECK_EQUAL(r.buffered, 0u);
}

CAF_TEST(buffered counts the bytes of the incomplete frame) {
  parser p;
  std::vector<frame> out;
  std::string part1 = "SEND\ndestination:/qu";
  CAF_CHECK(p.feed(part1.data(), part1.size(), out));
  CAF_CHECK_EQUAL(p.buffered(), part1.size());
  std::string part2 = "eue/a\n\nbod";
  CAF_CHECK(p.feed(part2.data(), part2.size(), out));
  CAF_CHECK_EQUAL(p.buffered(), part1.size() + part2.size());
  std::string part3 = "y\0SEN"s;
  CAF_CHECK(p.feed(part3.data(), part3.size(), out));
  CAF_CHECK_EQUAL(p.buffered(), 3u);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK_EQUAL(out[0].body, "body");
}

CAF_TEST(partial_frame numbers the frame in progress) {
  parser p;
  std::vector<frame> out;
  auto feed = [&](std::string_view bytes) {
    CAF_CHECK(p.feed(bytes.data(), bytes.size(), out));
    return p.partial_frame();
  };
  CAF_CHECK_EQUAL(p.partial_frame(), 0u);
  // Heart-beats, even a CR LF split after its CR, are not a frame.
  CAF_CHECK_EQUAL(feed("\n\n\r"), 0u);
  CAF_CHECK_EQUAL(feed("\n"), 0u);
  // From the first command byte to the NUL, in every state.
  CAF_CHECK_EQUAL(feed("S"), 1u);
  CAF_CHECK_EQUAL(feed("END\n"), 1u);
  CAF_CHECK_EQUAL(feed("destination:/queue/a\ncontent-length:4\n"), 1u);
  CAF_CHECK_EQUAL(feed("\nbo"), 1u);
  CAF_CHECK_EQUAL(feed("dy"), 1u);
  CAF_CHECK_EQUAL(feed("\0"sv), 0u);
  CAF_CHECK_EQUAL(out.size(), 1u);
  // A body up to the first NUL.
  CAF_CHECK_EQUAL(feed("\nSEND\n\nabc"), 2u);
  // One chunk ends a frame and starts the next: a new number.
  CAF_CHECK_EQUAL(feed("\0\nSE"sv), 3u);
  CAF_CHECK_EQUAL(out.size(), 2u);
  CAF_CHECK_EQUAL(feed("ND\n\n\0"sv), 0u);
  CAF_CHECK_EQUAL(out.size(), 3u);
  // Several whole frames in one chunk leave nothing in progress.
  CAF_CHECK_EQUAL(feed("SEND\n\n\0SEND\n\n\0\n"sv), 0u);
  CAF_CHECK_EQUAL(out.size(), 5u);
  CAF_CHECK_EQUAL(feed("SEND\n\n\0SEND\n"sv), 7u);
  CAF_CHECK_EQUAL(out.size(), 6u);
}

CAF_TEST(partial_frame is 0 after a failure) {
  parser p;
  std::vector<frame> out;
  std::string part = "SEND\ndestination:/queue/a\n";
  CAF_CHECK(p.feed(part.data(), part.size(), out));
  CAF_CHECK_EQUAL(p.partial_frame(), 1u);
  std::string bad = "no colon\n";
  CAF_CHECK(!p.feed(bad.data(), bad.size(), out));
  CAF_CHECK_EQUAL(p.partial_frame(), 0u);
}

// -- errors ---------------------------------------------------------------------

CAF_TEST(invalid commands) {
  for (auto wire : {"send\n\n\0"s, "SEND \n\n\0"s, " SEND\n\n\0"s,
                    "SEND1\n\n\0"s, "SE-ND\n\n\0"s, ":\n\n\0"s,
                    "SEND\r\r\n\n\0"s, "SE\rND\n\n\0"s, "\0"s, "\x80\n"s,
                    "GET / HTTP/1.1\r\nHost: x\r\n\r\n"s})
    CHECK_CONTAINS(error_of(wire), "invalid command");
  CAF_CHECK_EQUAL(error_of("SEND\n\n\0\0"s),
                  "invalid command \"\\x00\" (expected 1 to 32 uppercase "
                  "letters)");
}

CAF_TEST(invalid commands fail before their line ends) {
  // A stray NUL after a frame, or garbage, fails at once.
  auto r = parse("SEND\n\n\0\0"s);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.frames.size(), 1u); // the good frame before it is kept
  CHECK_CONTAINS(error_of("sEND"), "invalid command");
}

CAF_TEST(command length limit) {
  CAF_CHECK_EQUAL(error_of(std::string(32, 'A') + "\n\n\0"s), "<ok>");
  CAF_CHECK_EQUAL(error_of(std::string(32, 'A') + "\r\n\r\n\0"s), "<ok>");
  CAF_CHECK_EQUAL(error_of(std::string(33, 'A') + "\n\n\0"s),
                  "command line too long (limit 32 bytes)");
  // Without a LF: fails once the line can no longer fit.
  CAF_CHECK_EQUAL(error_of(std::string(33, 'A')), "<ok>"); // 32 + CR?
  CHECK_CONTAINS(error_of(std::string(34, 'A')), "command line too long");
  CHECK_CONTAINS(error_of(std::string(1000, 'A')), "command line too long");
  limits lim;
  lim.max_command_length = 4;
  CAF_CHECK_EQUAL(error_of("SEND\n\n\0"s, lim), "<ok>");
  CAF_CHECK_EQUAL(error_of("ABORT\n\n\0"s, lim),
                  "command line too long (limit 4 bytes)");
}

CAF_TEST(header count limit) {
  auto with = [](size_t n) {
    std::string wire = "SEND\n";
    for (size_t i = 0; i < n; ++i)
      wire += "h" + std::to_string(i) + ":v\n";
    return wire + "\n\0"s;
  };
  CAF_CHECK_EQUAL(error_of(with(128)), "<ok>");
  CAF_CHECK_EQUAL(parse(with(128)).frames.at(0).headers.size(), 128u);
  CAF_CHECK_EQUAL(error_of(with(129)), "too many headers (limit 128)");
  limits lim;
  lim.max_headers = 2;
  CAF_CHECK_EQUAL(error_of(with(2), lim), "<ok>");
  CAF_CHECK_EQUAL(error_of(with(3), lim), "too many headers (limit 2)");
  lim.max_headers = 0;
  CAF_CHECK_EQUAL(error_of(with(0), lim), "<ok>");
  CAF_CHECK_EQUAL(error_of(with(1), lim), "too many headers (limit 0)");
}

CAF_TEST(header line length limit) {
  auto line = [](size_t n) { return "k:" + std::string(n - 2, 'v'); };
  CAF_CHECK_EQUAL(error_of("SEND\n" + line(16384) + "\n\n\0"s), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\r\n" + line(16384) + "\r\n\r\n\0"s), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\n" + line(16385) + "\n\n\0"s),
                  "header line too long (limit 16384 bytes)");
  // Without a LF: fails as soon as the line cannot fit any more.
  CAF_CHECK_EQUAL(error_of("SEND\n" + line(16385)), "<ok>"); // + CR?
  CAF_CHECK_EQUAL(error_of("SEND\n" + line(16386)),
                  "header line too long (limit 16384 bytes)");
  CAF_CHECK_EQUAL(parse_bytewise("SEND\n" + line(16386)).error,
                  "header line too long (limit 16384 bytes)");
  limits lim;
  lim.max_header_line = 5;
  CAF_CHECK_EQUAL(error_of("SEND\nab:cd\n\n\0"s, lim), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\nab:cde\n\n\0"s, lim),
                  "header line too long (limit 5 bytes)");
  // The limit is on wire bytes: escapes count as two.
  CAF_CHECK_EQUAL(error_of("SEND\nab:\\c\\c\n\n\0"s, lim),
                  "header line too long (limit 5 bytes)");
}

CAF_TEST(an unterminated header section is bounded) {
  limits lim;
  lim.max_headers = 10;
  lim.max_header_line = 100;
  parser p{lim};
  std::vector<frame> out;
  std::string line = "key:" + std::string(96, 'v') + "\r\n";
  CAF_REQUIRE(p.feed("SEND\n", 5, out));
  bool ok = true;
  size_t fed = 0;
  for (int i = 0; i < 1000 && ok; ++i) {
    ok = p.feed(line.data(), line.size(), out);
    fed += line.size();
    CAF_CHECK_LESS_OR_EQUAL(p.buffered(), 5u + 10 * 102);
  }
  CAF_CHECK(!ok);
  CAF_CHECK_EQUAL(fed, 11 * line.size()); // the 11th line fails
  CAF_CHECK_EQUAL(p.error(), "too many headers (limit 10)");
}

CAF_TEST(malformed header lines) {
  CAF_CHECK_EQUAL(error_of("SEND\nno-colon\n\n\0"s),
                  "header line without ':' \"no-colon\"");
  CAF_CHECK_EQUAL(error_of("SEND\n:value\n\n\0"s), "empty header name");
  CAF_CHECK_EQUAL(error_of("SEND\nk:a\rb\n\n\0"s),
                  "CR inside a header line (only CR LF may end a line)");
  CAF_CHECK_EQUAL(error_of("SEND\nk:v\r\r\n\n\0"s),
                  "CR inside a header line (only CR LF may end a line)");
  CAF_CHECK_EQUAL(error_of("CONNECT\nk:a\rb\n\n\0"s),
                  "CR inside a header line (only CR LF may end a line)");
  CHECK_CONTAINS(error_of("SEND\nk:a\0b\n\n\0"s), "NUL in a header line");
}

CAF_TEST(a frame missing its blank line fails at the NUL) {
  // The client waits for a reply, so no LF ever comes: fail at once.
  auto r = parse("CONNECT\naccept-version:1.2\n\0"s);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.error, "NUL in a header line (is the blank line before "
                           "the body missing?)");
}

CAF_TEST(undefined and incomplete escapes) {
  CAF_CHECK_EQUAL(error_of("SEND\nk:a\\tb\n\n\0"s),
                  "undefined escape sequence \"\\t\" in a header");
  CAF_CHECK_EQUAL(error_of("SEND\nk\\x:v\n\n\0"s),
                  "undefined escape sequence \"\\x\" in a header");
  CAF_CHECK_EQUAL(error_of("SEND\nk:\\\x01\n\n\0"s),
                  "undefined escape sequence \"\\\\x01\" in a header");
  CAF_CHECK_EQUAL(error_of("SEND\nk:\\C\n\n\0"s),
                  "undefined escape sequence \"\\C\" in a header");
  CHECK_CONTAINS(error_of("SEND\nk:ab\\\n\n\0"s), "incomplete escape sequence");
  CHECK_CONTAINS(error_of("SEND\nk\\:v\n\n\0"s), "incomplete escape sequence");
  // Not in CONNECT and CONNECTED frames.
  CAF_CHECK_EQUAL(error_of("CONNECT\nk:a\\tb\\\n\n\0"s), "<ok>");
}

CAF_TEST(invalid content length values) {
  for (auto value : {"abc"s, "-1"s, "+5"s, " 5"s, "5 "s, "0x10"s, "1e3"s,
                     "1.0"s, "5\\c"s})
    CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:" + value + "\n\nxxxxx\0"s),
                    "invalid content-length \""
                      + (value == "5\\c" ? "5:"s : value)
                      + "\" (expected a decimal number of bytes)");
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:\n\n\0"s),
                  "invalid content-length \"\" (expected a decimal number "
                  "of bytes)");
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:99999999999999999999999\n\n"),
                  "invalid content-length \"99999999999999999999999\" (out "
                  "of range)");
  // The first content-length is the one that counts, even when bad.
  CHECK_CONTAINS(error_of("SEND\ncontent-length:x\ncontent-length:1\n\na\0"s),
                 "invalid content-length");
}

CAF_TEST(content length over the body limit fails without buffering) {
  parser p;
  std::vector<frame> out;
  std::string head = "SEND\ndestination:/queue/a\nreceipt:big-1\n"
                     "content-length:4194305\n\n";
  CAF_CHECK(!p.feed(head.data(), head.size(), out));
  CAF_CHECK_EQUAL(p.error(),
                  "content-length 4194305 exceeds the body limit (4194304 "
                  "bytes)");
  CAF_CHECK_EQUAL(p.error_receipt(), "big-1");
  CAF_CHECK_EQUAL(p.buffered(), 0u);
  // Even an absurd claim followed by data takes no memory.
  auto r = parse("SEND\ncontent-length:18446744073709551615\n\n"
                 + std::string(100000, 'x'));
  CHECK_CONTAINS(r.error, "exceeds the body limit");
  CAF_CHECK_EQUAL(r.buffered, 0u);
  CAF_CHECK(r.frames.empty());
}

CAF_TEST(body limit exact boundaries) {
  limits lim;
  lim.max_body = 10;
  auto body10 = std::string(10, 'b');
  auto body11 = std::string(11, 'b');
  // With content-length.
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:10\n\n" + body10 + '\0', lim),
                  "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:11\n\n", lim),
                  "content-length 11 exceeds the body limit (10 bytes)");
  // Up to the NUL.
  CAF_CHECK_EQUAL(error_of("SEND\n\n" + body10 + '\0', lim), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\n\n" + body11 + '\0', lim),
                  "body too long (limit 10 bytes)");
  // Without waiting for the NUL, also when fed byte by byte.
  CAF_CHECK_EQUAL(error_of("SEND\n\n" + body10, lim), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\n\n" + body11, lim),
                  "body too long (limit 10 bytes)");
  CAF_CHECK_EQUAL(parse_bytewise("SEND\n\n" + body11, lim).error,
                  "body too long (limit 10 bytes)");
  auto r = parse("SEND\n\n" + std::string(100000, 'b'), lim);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.buffered, 0u);
  lim.max_body = 0;
  CAF_CHECK_EQUAL(error_of("SEND\n\n\0"s, lim), "<ok>");
  CAF_CHECK_EQUAL(error_of("SEND\n\nx"s, lim), "body too long (limit 0 bytes)");
}

CAF_TEST(only the body limit counts as a body too long) {
  limits lim;
  lim.max_body = 10;
  lim.max_header_line = 64;
  auto too_long = [&](const std::string& bytes) {
    parser p{lim};
    std::vector<frame> out;
    CAF_CHECK(!p.feed(bytes.data(), bytes.size(), out));
    return p.body_too_long();
  };
  CAF_CHECK(too_long("SEND\ncontent-length:11\n\n"));
  CAF_CHECK(too_long("SEND\n\n" + std::string(11, 'b')));
  CAF_CHECK(!too_long("SEND\nh:" + std::string(100, 'v') + "\n\n"));
  CAF_CHECK(!too_long("SEND\ncontent-length:x\n\n"));
  CAF_CHECK(!too_long("send\n\n"s + '\0'));
}

CAF_TEST(content length body must be followed by NUL) {
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:3\n\nabcd\0"s),
                  "frame not terminated by NUL after its content-length (3 "
                  "bytes)");
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:3\n\nab\0\n"s),
                  "frame not terminated by NUL after its content-length (3 "
                  "bytes)");
  CAF_CHECK_EQUAL(error_of("SEND\ncontent-length:0\n\n\n"s),
                  "frame not terminated by NUL after its content-length (0 "
                  "bytes)");
  CAF_CHECK_EQUAL(parse_bytewise("SEND\ncontent-length:3\n\nabcd\0"s).error,
                  "frame not terminated by NUL after its content-length (3 "
                  "bytes)");
}

CAF_TEST(huge limits do not overflow) {
  constexpr auto max = std::numeric_limits<size_t>::max();
  limits lim{max, max, max, max};
  auto wire = "SEND\nk:v\n\nbody\0SEND\ncontent-length:2\n\nab\0"s;
  auto r = parse(wire, lim);
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.frames.size(), 2u);
  CAF_CHECK(parse_bytewise(wire, lim).frames == r.frames);
  CAF_CHECK(parse("SEND\n\nunterminated", lim).ok);
}

CAF_TEST(a failed parser stays failed) {
  parser p;
  std::vector<frame> out;
  auto bad = "SEND\nk:\\t\n\n\0"s;
  CAF_CHECK(!p.feed(bad.data(), bad.size(), out));
  CAF_CHECK(p.failed());
  auto error = p.error();
  CAF_CHECK(!error.empty());
  auto good = "SEND\n\n\0"s;
  CAF_CHECK(!p.feed(good.data(), good.size(), out));
  CAF_CHECK(!p.feed(nullptr, 0, out));
  CAF_CHECK(out.empty());
  CAF_CHECK_EQUAL(p.error(), error);
  parser fresh;
  CAF_CHECK(!fresh.failed());
  CAF_CHECK_EQUAL(fresh.error(), "");
  CAF_CHECK_EQUAL(fresh.error_receipt(), "");
  CAF_CHECK(fresh.feed(nullptr, 0, out));
}

CAF_TEST(frames before the offending one are still delivered) {
  auto r = parse("SEND\n\none\0\nSEND\n\ntwo\0BAD!\n"s);
  CAF_CHECK(!r.ok);
  CAF_REQUIRE_EQUAL(r.frames.size(), 2u);
  CAF_CHECK_EQUAL(r.frames[1].body, "two");
  CAF_CHECK_EQUAL(r.heartbeats, 1u);
  CHECK_CONTAINS(r.error, "invalid command");
}

CAF_TEST(error texts are one line) {
  for (auto wire : {"SE\nND\n"s, "SEND\nk:\\\n\n\n"s, "SEND\nbad\r\rline\n"s,
                    "SEND\ncontent-length:1\n\n\n"s, "SEND\nx\n\n"s})
    CAF_CHECK(parse(wire).error.find_first_of("\r\n") == std::string::npos);
  auto r = parse("SEND\nk\x01\x7f:v\n\n\0"s);
  CAF_CHECK(r.ok);
  r = parse("SEND\nlong" + std::string(100, 'x') + "\n\n\0"s);
  CAF_CHECK_EQUAL(r.error, "header line without ':' \"long"
                             + std::string(28, 'x') + "...\"");
}

// -- receipt of the offending frame ------------------------------------------------

CAF_TEST(error receipt is captured from the offending frame) {
  // Error found after the receipt header.
  auto r = parse("SEND\nreceipt:r-1\nk:\\t\n\n\0"s);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.receipt, "r-1");
  // In the body.
  r = parse("SEND\nreceipt:r-2\ncontent-length:1\n\nab\0"s);
  CAF_CHECK_EQUAL(r.receipt, "r-2");
  r = parse("SEND\nreceipt:r-3\ncontent-length:x\n\n"s);
  CAF_CHECK_EQUAL(r.receipt, "r-3");
  // Escaped, and the first one wins.
  r = parse("SEND\nreceipt:r\\c4\nreceipt:other\ncontent-length:1\n\nab\0"s);
  CAF_CHECK_EQUAL(r.receipt, "r:4");
  // Literal in CONNECT.
  r = parse("CONNECT\nreceipt:r\\c5\n:x\n\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "r\\c5");
  // The receipt line after the bad line, in bytes already received.
  r = parse("SEND\nk:\\t\nreceipt:r-6\n\n\0"s);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.receipt, "r-6");
  r = parse("SEND\nk:\\t\r\nother:x\r\nreceipt:r\\n7\r\n\r\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "r\n7");
  // ... but not past the end of the header section.
  r = parse("SEND\nk:\\t\n\nreceipt:r-8\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "");
  // No receipt: empty. Bad command: no frame, no receipt.
  r = parse("SEND\nk:\\t\n\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "");
  r = parse("send\nreceipt:r-9\n\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "");
  // A receipt of an earlier, good frame does not leak into the next error.
  r = parse("SEND\nreceipt:good\n\n\0SEND\nk:\\t\n\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "");
}

// -- many frames (the rate is printed, never asserted: tests do not time) ------

CAF_TEST(200000 frames parse from socket-sized reads) {
  std::string wire;
  for (int i = 0; i < 10000; ++i)
    encode(make("SEND",
                {{"destination", "/queue/ORDERS"},
                 {"content-length", "16"},
                 {"receipt", "r" + std::to_string(i)}},
                "0123456789abcdef"),
           wire);
  size_t frames = 0;
  auto start = std::chrono::steady_clock::now();
  std::vector<frame> out;
  for (int round = 0; round < 20; ++round) {
    parser p;
    out.clear();
    // 64 KiB reads, as from a socket.
    for (size_t i = 0; i < wire.size(); i += 65536)
      p.feed(wire.data() + i, std::min<size_t>(65536, wire.size() - i), out);
    frames += out.size();
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - start)
                .count();
  auto rate = static_cast<double>(frames) / secs;
  CAF_MESSAGE("parsed " << frames << " SEND frames (3 headers, 16-byte body) "
                        << "in " << secs << " s: " << rate << " frames/s, "
                        << (static_cast<double>(wire.size()) * 20 / secs / 1e6)
                        << " MB/s");
  CAF_CHECK_EQUAL(frames, 200000u);
  CAF_CHECK_EQUAL(out.back().body, "0123456789abcdef");
  CAF_CHECK_EQUAL(*out.back().header("receipt"), "r9999");
}

// -- versions -----------------------------------------------------------------

namespace {

/// Parses `wire` in one feed() call with version `v`.
result parse_as(protocol_version v, std::string_view wire) {
  parser p;
  p.set_version(v);
  std::vector<frame> frames;
  bool ok = p.feed(wire.data(), wire.size(), frames);
  return finish(p, ok, std::move(frames));
}

std::string negotiated(const char* accept,
                       protocol_version highest = protocol_version::v1_2) {
  std::string header = accept ? accept : "";
  auto v = protocol_version::v1_2;
  if (!negotiate_version(accept ? &header : nullptr, highest, v))
    return "<none>";
  return std::string{to_string(v)};
}

} // namespace

CAF_TEST(version negotiation) {
  CAF_CHECK_EQUAL(negotiated(nullptr), "1.0"); // no accept-version
  CAF_CHECK_EQUAL(negotiated("1.0"), "1.0");
  CAF_CHECK_EQUAL(negotiated("1.0,1.1"), "1.1");
  CAF_CHECK_EQUAL(negotiated("1.1,1.2"), "1.2");
  CAF_CHECK_EQUAL(negotiated("1.2,1.0"), "1.2"); // order does not matter
  CAF_CHECK_EQUAL(negotiated(" 1.1 , 1.0 "), "1.1");
  CAF_CHECK_EQUAL(negotiated("2.0,1.1,x"), "1.1");
  CAF_CHECK_EQUAL(negotiated("2.0"), "<none>");
  CAF_CHECK_EQUAL(negotiated(""), "<none>");
  CAF_CHECK_EQUAL(negotiated(",,"), "<none>");
  CAF_CHECK_EQUAL(negotiated("1.20"), "<none>");
  // Capped (a WebSocket subprotocol).
  CAF_CHECK_EQUAL(negotiated("1.0,1.1,1.2", protocol_version::v1_1), "1.1");
  CAF_CHECK_EQUAL(negotiated("1.2", protocol_version::v1_1), "<none>");
  CAF_CHECK_EQUAL(negotiated(nullptr, protocol_version::v1_0), "1.0");
}

CAF_TEST(the 1.1 escapes have no backslash r) {
  auto r = parse_as(protocol_version::v1_1,
                    "SEND\nk\\cey:a\\nb\\cc\\\\d\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(*r.frames.at(0).header("k:ey"), "a\nb:c\\d");
  CAF_CHECK_EQUAL(error_of("SEND\nk:a\\rb\n\n\0"s), "<ok>"); // 1.2 has it
  r = parse_as(protocol_version::v1_1, "SEND\nreceipt:r9\nk:a\\rb\n\n\0"s);
  CAF_CHECK(!r.ok);
  CAF_CHECK_EQUAL(r.error, "undefined escape sequence \"\\r\" in a header "
                           "(STOMP 1.1 has no \\r)");
  CAF_CHECK_EQUAL(r.receipt, "r9");
  // The best-effort receipt after the bad line decodes by 1.1 too.
  r = parse_as(protocol_version::v1_1, "SEND\nk:\\t\nreceipt:a\\cb\n\n\0"s);
  CAF_CHECK_EQUAL(r.receipt, "a:b");
  CAF_CHECK(!parse_as(protocol_version::v1_1, "SEND\nk:\\t\n\n\0"s).ok);
}

CAF_TEST(1.0 has no escapes) {
  auto r = parse_as(protocol_version::v1_0,
                    "SEND\npath:C:\\new\\table\\\nk\\c:\\r\\\\\n\n\0"s);
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(*r.frames.at(0).header("path"), "C:\\new\\table\\");
  CAF_CHECK_EQUAL(*r.frames.at(0).header("k\\c"), "\\r\\\\");
  // Other rules stay: a CR inside a line is still an error.
  CAF_CHECK(!parse_as(protocol_version::v1_0, "SEND\nk:a\rb\n\n\0"s).ok);
}

CAF_TEST(negotiate on connect switches the frames behind the connect) {
  // `\c` is an escape in 1.1 and 1.2, two characters in 1.0.
  for (auto [connect, version] :
       std::vector<std::pair<std::string, protocol_version>>{
         {"CONNECT\n\n\0"s, protocol_version::v1_0},
         {"CONNECT\naccept-version:1.0,1.1\n\n\0"s, protocol_version::v1_1},
         {"STOMP\naccept-version:1.1,1.2\n\n\0"s, protocol_version::v1_2},
         {"CONNECT\naccept-version:9.9\n\n\0"s, protocol_version::v1_2}}) {
    parser p;
    p.negotiate_on_connect(protocol_version::v1_2);
    auto wire = connect + "SEND\nk:a\\cb\n\n\0"s;
    std::vector<frame> frames;
    // Byte by byte: the switch happens between frames, however split.
    bool ok = true;
    for (size_t i = 0; i < wire.size() && ok; ++i)
      ok = p.feed(wire.data() + i, 1, frames);
    CAF_REQUIRE(ok);
    CAF_CHECK(p.version() == version);
    CAF_REQUIRE_EQUAL(frames.size(), 2u);
    CAF_CHECK_EQUAL(*frames[1].header("k"),
                    version == protocol_version::v1_0 ? "a\\cb" : "a:b");
  }
  // Capped, and only the first CONNECT counts.
  parser p;
  p.negotiate_on_connect(protocol_version::v1_1);
  std::vector<frame> frames;
  auto wire = "CONNECT\naccept-version:1.1,1.2\n\n\0"s
              + "CONNECT\naccept-version:1.0\n\n\0"s;
  CAF_REQUIRE(p.feed(wire.data(), wire.size(), frames));
  CAF_CHECK(p.version() == protocol_version::v1_1);
  // Without negotiate_on_connect a CONNECT changes nothing.
  parser plain;
  wire = "CONNECT\n\n\0"s;
  CAF_REQUIRE(plain.feed(wire.data(), wire.size(), frames));
  CAF_CHECK(plain.version() == protocol_version::v1_2);
}

CAF_TEST(header text by version) {
  auto text = [](std::string_view in, protocol_version v, bool name = false) {
    std::string out;
    append_header_text(out, in, v, name);
    return out;
  };
  auto all = "a\\b\nc:d\re"sv;
  CAF_CHECK_EQUAL(text(all, protocol_version::v1_2), "a\\\\b\\nc\\cd\\re");
  CAF_CHECK_EQUAL(text(all, protocol_version::v1_1), "a\\\\b\\nc\\cd e");
  CAF_CHECK_EQUAL(text(all, protocol_version::v1_0), "a\\b c:d e");
  CAF_CHECK_EQUAL(text(all, protocol_version::v1_0, true), "a\\b c d e");
  CAF_CHECK_EQUAL(text("plain", protocol_version::v1_0), "plain");
  // encode() with a version; CONNECTED stays literal in every version.
  auto f = make("MESSAGE", {{"k:1", "x\\y\n"}});
  std::string out;
  encode(f, out, protocol_version::v1_0);
  CAF_CHECK_EQUAL(out, "MESSAGE\nk 1:x\\y \n\n\0"s);
  out.clear();
  encode(f, out, protocol_version::v1_1);
  CAF_CHECK_EQUAL(out, "MESSAGE\nk\\c1:x\\\\y\\n\n\n\0"s);
  out.clear();
  encode(make("CONNECTED", {{"version", "1.0"}, {"s", "a\\b"}}), out,
         protocol_version::v1_1);
  CAF_CHECK_EQUAL(out, "CONNECTED\nversion:1.0\ns:a\\b\n\n\0"s);
}

CAF_TEST(what each version writes it reads back) {
  // Values a 1.0 or 1.1 parser can produce survive encode and parse.
  auto f = make("SEND", {{"a", "x\\y:z"}, {"b", ""}}, "body");
  for (auto v : {protocol_version::v1_0, protocol_version::v1_1,
                 protocol_version::v1_2}) {
    std::string out;
    encode(f, out, v);
    auto r = parse_as(v, out);
    CAF_REQUIRE(r.ok);
    CAF_CHECK(r.frames.at(0) == f);
  }
  auto g = make("SEND", {{"a", "line\nbreak"}});
  for (auto v : {protocol_version::v1_1, protocol_version::v1_2}) {
    std::string out;
    encode(g, out, v);
    auto r = parse_as(v, out);
    CAF_REQUIRE(r.ok);
    CAF_CHECK(r.frames.at(0) == g);
  }
}
