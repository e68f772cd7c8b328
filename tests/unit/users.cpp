#define CAF_SUITE unit.users
#include "test_fixture.hpp"

#include <string>

#include "core/password.hpp"
#include "core/users.hpp"

using namespace qmesh;

namespace {

// One cheap hash for the whole suite (the minimum iterations: fast tests).
const std::string& test_hash() {
  static const std::string h = hash_password("secret",
                                             min_password_iterations);
  return h;
}

std::string parse_error(const std::string& text) {
  std::string err;
  auto db = user_db::parse(text, err);
  if (db != nullptr)
    return "<ok>";
  return err;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

} // namespace

CAF_TEST(password hashes verify the right password only) {
  auto h = test_hash();
  CAF_CHECK(starts_with(h, "pbkdf2-sha256$1000$"));
  CAF_CHECK(is_valid_password_hash(h));
  CAF_CHECK(verify_password("secret", h));
  CAF_CHECK(!verify_password("secreT", h));
  CAF_CHECK(!verify_password("", h));
  // Fresh salt each time: two hashes of one password differ.
  CAF_CHECK_NOT_EQUAL(hash_password("secret", min_password_iterations), h);
}

CAF_TEST(malformed hashes are rejected) {
  CAF_CHECK(!is_valid_password_hash(""));
  CAF_CHECK(!is_valid_password_hash("secret"));
  CAF_CHECK(!is_valid_password_hash("pbkdf2-sha256$1000$abc$def"));
  CAF_CHECK(!is_valid_password_hash("md5$1000$AAAAAAAAAAAAAAAAAAAAAA==$x"));
  auto h = test_hash();
  CAF_CHECK(!is_valid_password_hash(h + "$extra"));
  auto low = h;
  low.replace(low.find("1000"), 4, "999");
  CAF_CHECK(!is_valid_password_hash(low));
  CAF_CHECK(!verify_password("secret", low));
}

CAF_TEST(a users file with permissions) {
  auto text = "# comment\n"
              "[user alice]\n"
              "password = " + test_hash() + "\n"
              "admin = ORDERS*\n"
              "put = ORDERS, prices/+/eur\n"
              "get = *\n"
              "\n"
              "[user bob]\n"
              "password = " + test_hash() + "\n"
              "get = sports/#\n";
  std::string err;
  auto db = user_db::parse(text, err);
  CAF_REQUIRE(db != nullptr);
  CAF_CHECK_EQUAL(db->size(), 2u);
  auto alice = db->find("alice");
  CAF_REQUIRE(alice != nullptr);
  CAF_CHECK(alice->allows(permission::admin, "ORDERS"));
  CAF_CHECK(alice->allows(permission::admin, "ORDERS.EU"));
  CAF_CHECK(!alice->allows(permission::admin, "PAYMENTS"));
  CAF_CHECK(alice->allows(permission::put, "ORDERS"));
  CAF_CHECK(alice->allows(permission::put, "QM2/ORDERS"));
  CAF_CHECK(!alice->allows(permission::put, "ORDERS2"));
  CAF_CHECK(alice->allows(permission::put, "prices/fx/eur"));
  CAF_CHECK(!alice->allows(permission::put, "prices/fx/usd"));
  CAF_CHECK(alice->allows(permission::get, "ANYTHING"));
  auto bob = db->find("bob");
  CAF_REQUIRE(bob != nullptr);
  CAF_CHECK(bob->allows(permission::get, "sports/football/results"));
  CAF_CHECK(bob->allows(permission::get, "sports"));
  CAF_CHECK(!bob->allows(permission::get, "news"));
  CAF_CHECK(!bob->allows(permission::put, "sports/x"));
  // Subscriptions: a filter is allowed when the pattern covers it.
  CAF_CHECK(bob->allows(permission::get, "sports/+"));
  CAF_CHECK(bob->allows(permission::get, "sports/#"));
  CAF_CHECK(bob->allows(permission::get, "sports/+/results"));
  CAF_CHECK(!bob->allows(permission::get, "+/football"));
  CAF_CHECK(!bob->allows(permission::get, "#"));
  CAF_CHECK(alice->allows(permission::put, "prices/+/eur"));
  CAF_CHECK(!alice->allows(permission::put, "prices/#"));
  CAF_CHECK(!alice->allows(permission::put, "prices/fx/+"));
  CAF_CHECK(!bob->allows(permission::admin, "ORDERS"));
  CAF_CHECK(db->find("carol") == nullptr);
  CAF_CHECK(verify_password("secret", alice->password_hash));
}

CAF_TEST(errors name their line) {
  auto pw = "password = " + test_hash() + "\n";
  CAF_CHECK_EQUAL(parse_error("[user a]\n" + pw + "colour = red\n"),
                  "line 3: unknown key 'colour' (expected password, admin, "
                  "put or get)");
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "[user a]\n" + pw),
                        "line 3: duplicate user 'a'"));
  CAF_CHECK(starts_with(parse_error("[user a\n"), "line 1: section header"));
  CAF_CHECK(starts_with(parse_error("[group x]\n"), "line 1: expected [user"));
  CAF_CHECK(starts_with(parse_error("[user bad/name]\n"), "line 1: user name"));
  CAF_CHECK(starts_with(parse_error("get = *\n"), "line 1: key outside"));
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "just text\n"),
                        "line 3: expected KEY = VALUE"));
  CAF_CHECK(starts_with(parse_error("[user a]\npassword = plain\n"),
                        "line 2: password is not a hash"));
  CAF_CHECK(starts_with(parse_error("[user a]\nget = *\n"),
                        "line 1: user 'a' has no password"));
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "get = A*B\n"),
                        "line 3: get: '*' only at the end"));
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "put = a/#/b\n"),
                        "line 3: put: malformed topic filter"));
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "put = A,,B\n"),
                        "line 3: put: empty pattern"));
  CAF_CHECK(starts_with(parse_error("[user a]\n" + pw + "get = A\nget = B\n"),
                        "line 4: get given twice"));
  CAF_CHECK_EQUAL(parse_error(""), "<ok>");
}

CAF_TEST(huge files and too many users are refused) {
  std::string big(max_users_file_bytes + 1, '#');
  CAF_CHECK(starts_with(parse_error(big), "line 0: file larger than"));
  std::string many;
  auto pw = "password = " + test_hash() + "\n";
  for (size_t i = 0; i <= max_users; ++i)
    many += "[user u" + std::to_string(i) + "]\n" + pw;
  if (many.size() <= max_users_file_bytes)
    CAF_CHECK(parse_error(many).find("more than") != std::string::npos);
  else
    CAF_CHECK(starts_with(parse_error(many), "line 0: file larger than"));
}

CAF_TEST(loading a missing file fails cleanly) {
  std::string err;
  CAF_CHECK(user_db::load("/nonexistent/qmesh-users", err) == nullptr);
  CAF_CHECK_EQUAL(err, "cannot open file");
}
