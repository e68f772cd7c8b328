#define CAF_SUITE unit.names
#include "test_fixture.hpp"

#include <string>
#include <string_view>

#include "core/names.hpp"

using namespace qmesh;
using namespace std::literals;

namespace {

/// Parses `text`; returns "qmgr|queue" on success, "<invalid>" otherwise.
std::string parsed(std::string_view text) {
  address addr{"untouched", "untouched"};
  if (!parse_address(text, addr))
    return "<invalid>";
  return std::string{addr.qmgr} + "|" + std::string{addr.queue};
}

} // namespace

CAF_TEST(the name rule limit is 48) {
  CAF_CHECK_EQUAL(max_name_length, 48u);
  CAF_CHECK(!name_rule.empty());
}

CAF_TEST(empty names are invalid) {
  CAF_CHECK(!is_valid_name(""));
  CAF_CHECK(!is_valid_name(std::string_view{}));
}

CAF_TEST(length from 1 to 48 is valid and 49 is not) {
  CAF_CHECK(is_valid_name("Q"));
  CAF_CHECK(is_valid_name("1"));
  for (size_t n = 1; n <= 48; ++n)
    CAF_CHECK(is_valid_name(std::string(n, 'A')));
  CAF_CHECK(is_valid_name(std::string(47, 'x') + "%"));
  CAF_CHECK(!is_valid_name(std::string(49, 'A')));
  CAF_CHECK(!is_valid_name(std::string(48, 'A') + "."));
  CAF_CHECK(!is_valid_name(std::string(100, 'a')));
  CAF_CHECK(!is_valid_name(std::string(10000, 'a')));
}

CAF_TEST(every letter and digit is allowed) {
  for (char c = 'A'; c <= 'Z'; ++c)
    CAF_CHECK(is_valid_name(std::string(1, c)));
  for (char c = 'a'; c <= 'z'; ++c)
    CAF_CHECK(is_valid_name(std::string(1, c)));
  for (char c = '0'; c <= '9'; ++c)
    CAF_CHECK(is_valid_name(std::string(1, c)));
  CAF_CHECK(is_valid_name("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"));
  CAF_CHECK(is_valid_name("0123456789"));
}

CAF_TEST(dot underscore and percent are allowed anywhere) {
  for (auto name : {"."sv, "_"sv, "%"sv, "..."sv, "SYSTEM.DEAD.LETTER.QUEUE"sv,
                    "my_queue"sv, "50%off"sv, ".lead"sv, "trail."sv,
                    "_x_"sv, "%"sv, "a.b_c%d"sv, "%%%"sv})
    CAF_CHECK(is_valid_name(name));
}

CAF_TEST(exactly the 65 allowed characters pass as single characters) {
  size_t allowed = 0;
  for (int i = 0; i < 256; ++i) {
    char c = static_cast<char>(i);
    bool expected = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                    || (c >= '0' && c <= '9') || c == '.' || c == '_'
                    || c == '%';
    std::string one(1, c);
    CAF_CHECK_EQUAL(is_valid_name(one), expected);
    // A forbidden character also spoils an otherwise valid name.
    CAF_CHECK_EQUAL(is_valid_name("AB" + one + "CD"), expected);
    if (expected)
      ++allowed;
  }
  CAF_CHECK_EQUAL(allowed, 65u);
}

CAF_TEST(forbidden characters) {
  for (auto name : {"QM/Q"sv, "/"sv, "a b"sv, " "sv, "Q "sv, " Q"sv, "a-b"sv,
                    "-"sv, "a+b"sv, "a#b"sv, "a*"sv, "a:b"sv, "a\\b"sv,
                    "a\tb"sv, "a\nb"sv, "a,b"sv, "a;b"sv, "a'b"sv, "a\"b"sv,
                    "a@b"sv, "a$b"sv, "a!b"sv, "a?b"sv, "(a)"sv, "a~"sv,
                    "a=b"sv, "a&b"sv, "<a>"sv, "[a]"sv, "{a}"sv, "a|b"sv,
                    "a^b"sv, "`a`"sv})
    CAF_CHECK(!is_valid_name(name));
}

CAF_TEST(NUL bytes are rejected anywhere) {
  CAF_CHECK(!is_valid_name("\0"sv));
  CAF_CHECK(!is_valid_name("Q\0"sv));
  CAF_CHECK(!is_valid_name("\0Q"sv));
  CAF_CHECK(!is_valid_name("QU\0EUE"sv));
  CAF_CHECK(!is_valid_name(std::string(48, '\0')));
}

CAF_TEST(UTF-8 bytes are rejected) {
  CAF_CHECK(!is_valid_name("Queue\xc3\xa9"));       // é
  CAF_CHECK(!is_valid_name("\xc3\x9c"));            // Ü
  CAF_CHECK(!is_valid_name("Q\xe2\x82\xac"));       // €
  CAF_CHECK(!is_valid_name("\xf0\x9f\x98\x80"));    // emoji
  CAF_CHECK(!is_valid_name("\xff"));
  CAF_CHECK(!is_valid_name("\x80"));
  // A full-width 'A' looks alphanumeric but is not ASCII.
  CAF_CHECK(!is_valid_name("\xef\xbc\xa1"));
}

CAF_TEST(parse address with queue only) {
  CAF_CHECK_EQUAL(parsed("Q"), "|Q");
  CAF_CHECK_EQUAL(parsed("ORDERS"), "|ORDERS");
  CAF_CHECK_EQUAL(parsed("SYSTEM.DEAD.LETTER.QUEUE"),
                  "|SYSTEM.DEAD.LETTER.QUEUE");
  address addr;
  CAF_REQUIRE(parse_address("Q", addr));
  CAF_CHECK(addr.qmgr.empty());
  CAF_CHECK_EQUAL(std::string{addr.queue}, "Q");
}

CAF_TEST(parse address with queue manager and queue) {
  CAF_CHECK_EQUAL(parsed("QM/Q"), "QM|Q");
  CAF_CHECK_EQUAL(parsed("QM2/ORDERS"), "QM2|ORDERS");
  CAF_CHECK_EQUAL(parsed("a.b/c_d%"), "a.b|c_d%");
  auto qm48 = std::string(48, 'M');
  auto q48 = std::string(48, 'Q');
  CAF_CHECK_EQUAL(parsed(qm48 + "/" + q48), qm48 + "|" + q48);
  // The parts are views into the input.
  std::string text = "QM1/Q1";
  address addr;
  CAF_REQUIRE(parse_address(text, addr));
  CAF_CHECK_EQUAL(std::string{addr.qmgr}, "QM1");
  CAF_CHECK_EQUAL(std::string{addr.queue}, "Q1");
  CAF_CHECK(addr.qmgr.data() == text.data());
  CAF_CHECK(addr.queue.data() == text.data() + 4);
}

CAF_TEST(parse address rejects empty parts) {
  CAF_CHECK_EQUAL(parsed(""), "<invalid>");
  CAF_CHECK_EQUAL(parsed("/"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("/Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("//"), "<invalid>");
}

CAF_TEST(parse address rejects more than one slash) {
  CAF_CHECK_EQUAL(parsed("a/b/c"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM//Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/Q/"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("/QM/Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("a/b/c/d"), "<invalid>");
}

CAF_TEST(parse address rejects bad parts) {
  CAF_CHECK_EQUAL(parsed("Q-1"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM 1/Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/Q 1"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM-1/Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/Q-1"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/Q\xc3\xa9"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM\0/Q"sv), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/Q\0"sv), "<invalid>");
  CAF_CHECK_EQUAL(parsed(std::string(49, 'M') + "/Q"), "<invalid>");
  CAF_CHECK_EQUAL(parsed("QM/" + std::string(49, 'Q')), "<invalid>");
  CAF_CHECK_EQUAL(parsed(std::string(49, 'Q')), "<invalid>");
  CAF_CHECK_EQUAL(parsed(std::string(48, 'Q')), "|" + std::string(48, 'Q'));
}
