#define CAF_SUITE unit.queue_attrs
#include "test_fixture.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/queue_attrs.hpp"
#include "core/reason.hpp"

using namespace qmesh;

namespace {

/// Every settable field, as text, for comparisons.
std::vector<std::string> dump(const queue_attrs& a) {
  return {std::to_string(a.max_depth),
          std::to_string(a.max_msg_length),
          std::to_string(a.default_persistence),
          std::to_string(static_cast<int>(a.default_priority)),
          std::to_string(a.put_inhibited),
          std::to_string(a.get_inhibited),
          std::to_string(a.backout_threshold),
          a.backout_queue,
          std::to_string(a.cluster),
          a.description,
          to_string(a.overflow)};
}

/// Attributes that differ from the defaults in every field.
queue_attrs non_default_attrs() {
  queue_attrs a;
  a.max_depth = 77;
  a.max_msg_length = 888;
  a.default_persistence = true;
  a.default_priority = 6;
  a.put_inhibited = true;
  a.get_inhibited = true;
  a.backout_threshold = 3;
  a.backout_queue = "BACKOUT.Q";
  a.cluster = true;
  a.description = "before";
  a.overflow = overflow_policy::reject;
  return a;
}

/// Valid changes to every settable attribute, all different from both the
/// defaults and `non_default_attrs()`.
attr_map all_valid_changes() {
  return {{"max_depth", "5000"},
          {"max_msg_length", "65536"},
          {"default_persistence", "not_persistent"},
          {"default_priority", "2"},
          {"put_inhibited", "false"},
          {"get_inhibited", "false"},
          {"backout_threshold", "9"},
          {"backout_queue", "OTHER.BACKOUT"},
          {"cluster", "false"},
          {"description", "after"},
          {"overflow_policy", "drop-oldest"}};
}

const std::vector<std::string> settable_names{
  "max_depth",         "max_msg_length", "default_persistence",
  "default_priority",  "put_inhibited",  "get_inhibited",
  "backout_threshold", "backout_queue",  "cluster",
  "description",       "overflow_policy"};

const std::vector<std::string> read_only_names{
  "name",           "current_depth",     "unacked_count",
  "uncommitted_count", "open_input_count", "open_output_count",
  "consumer_count", "enqueued_total",    "dequeued_total",
  "expired_total",  "oldest_msg_age",    "dropped_total",
  "rejected_total", "blocked_count",     "blocked_total",
  "blocked_ms_total"};

/// The MQRC number of `err`; 0 if none, -1 if not a qmesh error.
int rc(const caf::error& err) {
  if (!err)
    return 0;
  if (err.category() != caf::atom("qmesh"))
    return -1;
  return mqrc(static_cast<ec>(err.code()));
}

struct fixture {
  attr_limits limits;
  queue_attrs attrs = non_default_attrs();

  /// Applies one change to `attrs`; returns the MQRC (0 on success).
  int set(const std::string& key, const std::string& value) {
    return rc(apply_attrs(attrs, attr_map{{key, value}}, limits));
  }

  /// Applies one change to a fresh copy of non_default_attrs(); returns the
  /// MQRC and checks that a failure changed nothing.
  int try_set(const std::string& key, const std::string& value) {
    attrs = non_default_attrs();
    auto result = set(key, value);
    if (result != 0 && dump(attrs) != dump(non_default_attrs()))
      CAF_ERROR("failed set of " << key << " changed the attributes");
    return result;
  }

  bool unchanged() const {
    return dump(attrs) == dump(non_default_attrs());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(queue_attrs_tests, fixture)

// -- defaults -----------------------------------------------------------------

CAF_TEST(defaults) {
  queue_attrs a;
  CAF_CHECK_EQUAL(a.max_depth, 100'000u);
  CAF_CHECK_EQUAL(a.max_msg_length, 4u * 1024 * 1024);
  CAF_CHECK(!a.default_persistence);
  CAF_CHECK_EQUAL(static_cast<int>(a.default_priority), 0);
  CAF_CHECK(!a.put_inhibited);
  CAF_CHECK(!a.get_inhibited);
  CAF_CHECK_EQUAL(a.backout_threshold, 0u);
  CAF_CHECK(a.backout_queue.empty());
  CAF_CHECK(!a.cluster);
  CAF_CHECK(a.description.empty());
  attr_limits l;
  CAF_CHECK_EQUAL(l.max_msg_length_cap, 100u * 1024 * 1024);
  CAF_CHECK_EQUAL(attr_limits::max_depth_cap, 100'000'000u);
  CAF_CHECK_EQUAL(attr_limits::backout_threshold_cap, 999'999'999u);
  CAF_CHECK_EQUAL(attr_limits::description_max, 64u);
}

CAF_TEST(an empty change set succeeds and changes nothing) {
  CAF_CHECK_EQUAL(rc(apply_attrs(attrs, {}, limits)), 0);
  CAF_CHECK(unchanged());
}

CAF_TEST(all attributes at once) {
  CAF_REQUIRE_EQUAL(rc(apply_attrs(attrs, all_valid_changes(), limits)), 0);
  CAF_CHECK_EQUAL(attrs.max_depth, 5000u);
  CAF_CHECK_EQUAL(attrs.max_msg_length, 65536u);
  CAF_CHECK(!attrs.default_persistence);
  CAF_CHECK_EQUAL(static_cast<int>(attrs.default_priority), 2);
  CAF_CHECK(!attrs.put_inhibited);
  CAF_CHECK(!attrs.get_inhibited);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 9u);
  CAF_CHECK_EQUAL(attrs.backout_queue, "OTHER.BACKOUT");
  CAF_CHECK(!attrs.cluster);
  CAF_CHECK_EQUAL(attrs.description, "after");
}

// -- max_depth ----------------------------------------------------------------

CAF_TEST(max_depth valid values) {
  CAF_CHECK_EQUAL(set("max_depth", "1"), 0);
  CAF_CHECK_EQUAL(attrs.max_depth, 1u);
  CAF_CHECK_EQUAL(set("max_depth", "5000"), 0);
  CAF_CHECK_EQUAL(attrs.max_depth, 5000u);
  CAF_CHECK_EQUAL(set("max_depth", "100000000"), 0);
  CAF_CHECK_EQUAL(attrs.max_depth, 100'000'000u);
  CAF_CHECK_EQUAL(set("max_depth", "007"), 0);
  CAF_CHECK_EQUAL(attrs.max_depth, 7u);
}

CAF_TEST(max_depth invalid values) {
  for (auto v : {"0", "100000001", "-1", "-0", "abc", "", " 5", "5 ", "+5",
                 "5x", "0x10", "1e3", "5.0", "5,000", "99999999999999999999999",
                 "18446744073709551616", "18446744073709551615",
                 "4294967296"})
    CAF_CHECK_EQUAL(try_set("max_depth", v), 2046);
  CAF_CHECK(unchanged());
  // The error names the attribute and the value.
  auto err = apply_attrs(attrs, {{"max_depth", "0"}}, limits);
  CAF_CHECK(is(err, ec::options_error));
  auto text = render(err);
  CAF_CHECK(text.find("2046 options_error") == 0);
  CAF_CHECK(text.find("max_depth") != std::string::npos);
}

// -- max_msg_length -----------------------------------------------------------

CAF_TEST(max_msg_length valid values) {
  CAF_CHECK_EQUAL(set("max_msg_length", "1"), 0);
  CAF_CHECK_EQUAL(attrs.max_msg_length, 1u);
  CAF_CHECK_EQUAL(set("max_msg_length", "4194304"), 0);
  CAF_CHECK_EQUAL(attrs.max_msg_length, 4194304u);
  CAF_CHECK_EQUAL(set("max_msg_length", std::to_string(limits.max_msg_length_cap)),
                  0);
  CAF_CHECK_EQUAL(attrs.max_msg_length, limits.max_msg_length_cap);
}

CAF_TEST(max_msg_length invalid values) {
  for (auto v : {"0", "-1", "x", "", "1.5", "99999999999999999999999"})
    CAF_CHECK_EQUAL(try_set("max_msg_length", v), 2046);
  CAF_CHECK_EQUAL(
    try_set("max_msg_length", std::to_string(limits.max_msg_length_cap + 1)),
    2046);
  CAF_CHECK(unchanged());
}

CAF_TEST(max_msg_length respects the configured cap) {
  limits.max_msg_length_cap = 1024;
  CAF_CHECK_EQUAL(set("max_msg_length", "1024"), 0);
  CAF_CHECK_EQUAL(attrs.max_msg_length, 1024u);
  CAF_CHECK_EQUAL(try_set("max_msg_length", "1025"), 2046);
  CAF_CHECK_EQUAL(try_set("max_msg_length", "4194304"), 2046);
  CAF_CHECK(unchanged());
}

// -- default_persistence ------------------------------------------------------

CAF_TEST(default_persistence valid values) {
  attrs.default_persistence = false;
  CAF_CHECK_EQUAL(set("default_persistence", "persistent"), 0);
  CAF_CHECK(attrs.default_persistence);
  CAF_CHECK_EQUAL(set("default_persistence", "not_persistent"), 0);
  CAF_CHECK(!attrs.default_persistence);
  for (auto v : {"true", "yes", "1", "on"}) {
    attrs.default_persistence = false;
    CAF_CHECK_EQUAL(set("default_persistence", v), 0);
    CAF_CHECK(attrs.default_persistence);
  }
  for (auto v : {"false", "no", "0", "off"}) {
    attrs.default_persistence = true;
    CAF_CHECK_EQUAL(set("default_persistence", v), 0);
    CAF_CHECK(!attrs.default_persistence);
  }
}

CAF_TEST(default_persistence invalid values) {
  for (auto v : {"", "2", "-1", "maybe", "persist", "persistent ", "truee",
                 "yes!", "nope"})
    CAF_CHECK_EQUAL(try_set("default_persistence", v), 2046);
  CAF_CHECK(unchanged());
}

// -- default_priority ---------------------------------------------------------

CAF_TEST(default_priority valid values) {
  for (int p = 0; p <= 9; ++p) {
    CAF_CHECK_EQUAL(set("default_priority", std::to_string(p)), 0);
    CAF_CHECK_EQUAL(static_cast<int>(attrs.default_priority), p);
  }
}

CAF_TEST(default_priority invalid values) {
  for (auto v : {"10", "-1", "99", "256", "", "x", "5.5", " 5",
                 "99999999999999999999999"})
    CAF_CHECK_EQUAL(try_set("default_priority", v), 2050);
  CAF_CHECK(unchanged());
  CAF_CHECK(is(apply_attrs(attrs, {{"default_priority", "10"}}, limits),
               ec::priority_error));
}

// -- put_inhibited / get_inhibited / cluster ----------------------------------

CAF_TEST(boolean attributes valid values) {
  for (auto name : {"put_inhibited", "get_inhibited", "cluster"}) {
    auto field = [&]() -> bool& {
      if (std::string{name} == "put_inhibited")
        return attrs.put_inhibited;
      if (std::string{name} == "get_inhibited")
        return attrs.get_inhibited;
      return attrs.cluster;
    };
    for (auto v : {"true", "yes", "1", "on"}) {
      field() = false;
      CAF_CHECK_EQUAL(set(name, v), 0);
      CAF_CHECK(field());
    }
    for (auto v : {"false", "no", "0", "off"}) {
      field() = true;
      CAF_CHECK_EQUAL(set(name, v), 0);
      CAF_CHECK(!field());
    }
  }
}

CAF_TEST(boolean attributes invalid values) {
  for (auto name : {"put_inhibited", "get_inhibited", "cluster"}) {
    for (auto v : {"", "2", "-1", "maybe", "persistent", "true ", " false",
                   "99999999999999999999999"})
      CAF_CHECK_EQUAL(try_set(name, v), 2046);
  }
  CAF_CHECK(unchanged());
}

// -- backout_threshold / backout_queue ----------------------------------------

CAF_TEST(backout_threshold valid values) {
  CAF_CHECK_EQUAL(set("backout_threshold", "0"), 0);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 0u);
  CAF_CHECK_EQUAL(set("backout_threshold", "1"), 0);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 1u);
  CAF_CHECK_EQUAL(set("backout_threshold", "999999999"), 0);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 999'999'999u);
}

CAF_TEST(backout_threshold invalid values) {
  for (auto v : {"1000000000", "4294967296", "4294967295", "-1", "", "three",
                 "3.0", "99999999999999999999999"})
    CAF_CHECK_EQUAL(try_set("backout_threshold", v), 2046);
  CAF_CHECK(unchanged());
}

CAF_TEST(backout_queue valid values) {
  CAF_CHECK_EQUAL(set("backout_queue", "Q.BACKOUT"), 0);
  CAF_CHECK_EQUAL(attrs.backout_queue, "Q.BACKOUT");
  CAF_CHECK_EQUAL(set("backout_queue", std::string(48, 'B')), 0);
  CAF_CHECK_EQUAL(attrs.backout_queue, std::string(48, 'B'));
  CAF_CHECK_EQUAL(set("backout_queue", "SYSTEM.DEAD.LETTER.QUEUE"), 0);
  CAF_CHECK_EQUAL(attrs.backout_queue, "SYSTEM.DEAD.LETTER.QUEUE");
  // Empty resets to the dead-letter queue.
  CAF_CHECK_EQUAL(set("backout_queue", ""), 0);
  CAF_CHECK(attrs.backout_queue.empty());
}

CAF_TEST(backout_queue with a bad name) {
  for (auto v : {"bad name", "QM/Q", "a-b", "Q\xc3\xa9", "/", " "})
    CAF_CHECK_EQUAL(try_set("backout_queue", v), 2152);
  CAF_CHECK_EQUAL(try_set("backout_queue", std::string(49, 'B')), 2152);
  CAF_CHECK_EQUAL(try_set("backout_queue", std::string("A\0B", 3)), 2152);
  CAF_CHECK(unchanged());
  CAF_CHECK(is(apply_attrs(attrs, {{"backout_queue", "a b"}}, limits),
               ec::object_name_error));
}

// -- description --------------------------------------------------------------

CAF_TEST(description valid values) {
  CAF_CHECK_EQUAL(set("description", ""), 0);
  CAF_CHECK(attrs.description.empty());
  CAF_CHECK_EQUAL(set("description", "Orders from the web shop"), 0);
  CAF_CHECK_EQUAL(attrs.description, "Orders from the web shop");
  auto d64 = std::string(64, 'd');
  CAF_CHECK_EQUAL(set("description", d64), 0);
  CAF_CHECK_EQUAL(attrs.description, d64);
  // Punctuation and UTF-8 are printable text.
  CAF_CHECK_EQUAL(set("description", "caf\xc3\xa9 / 100% ~ {x}"), 0);
  CAF_CHECK_EQUAL(attrs.description, "caf\xc3\xa9 / 100% ~ {x}");
  // 64 bytes of UTF-8 (32 two-byte characters) fit.
  std::string utf8;
  for (int i = 0; i < 32; ++i)
    utf8 += "\xc3\xa9";
  CAF_CHECK_EQUAL(set("description", utf8), 0);
  CAF_CHECK_EQUAL(attrs.description, utf8);
}

CAF_TEST(description invalid values) {
  CAF_CHECK_EQUAL(try_set("description", std::string(65, 'd')), 2046);
  CAF_CHECK_EQUAL(try_set("description", std::string(1000, 'd')), 2046);
  std::string utf8;
  for (int i = 0; i < 33; ++i) // 66 bytes
    utf8 += "\xc3\xa9";
  CAF_CHECK_EQUAL(try_set("description", utf8), 2046);
  for (auto v : {"line\nbreak", "tab\there", "cr\r", "\x1b[31mred", "del\x7f",
                 "\x01", "bell\a"})
    CAF_CHECK_EQUAL(try_set("description", v), 2046);
  CAF_CHECK_EQUAL(try_set("description", std::string("nul\0x", 5)), 2046);
  CAF_CHECK(unchanged());
}

// -- names --------------------------------------------------------------------

CAF_TEST(unknown attribute names) {
  for (auto k : {"", "foo", "max-depth", "MAX_DEPTH", "max_depth ",
                 " max_depth", "maxdepth", "priority", "persistent",
                 "description\n"})
    CAF_CHECK_EQUAL(try_set(k, "1"), 2067);
  CAF_CHECK_EQUAL(try_set(std::string(1000, 'k'), "1"), 2067);
  CAF_CHECK(unchanged());
  CAF_CHECK(is(apply_attrs(attrs, {{"foo", "1"}}, limits), ec::selector_error));
}

CAF_TEST(read-only attribute names) {
  for (const auto& k : read_only_names)
    CAF_CHECK_EQUAL(try_set(k, "0"), 2067);
  CAF_CHECK_EQUAL(try_set("current_depth", "5"), 2067);
  CAF_CHECK_EQUAL(try_set("name", "NEW.NAME"), 2067);
  CAF_CHECK(unchanged());
  auto text = render(apply_attrs(attrs, {{"current_depth", "1"}}, limits));
  CAF_CHECK(text.find("2067 selector_error") == 0);
  CAF_CHECK(text.find("current_depth") != std::string::npos);
}

// -- atomicity ----------------------------------------------------------------

CAF_TEST(any error leaves every attribute unchanged) {
  // For each settable attribute: all other changes valid, this one bad.
  const std::vector<std::pair<std::string, std::string>> bad_values{
    {"max_depth", "0"},
    {"max_depth", "99999999999999999999999"},
    {"max_msg_length", "0"},
    {"max_msg_length", "104857601"},
    {"default_persistence", "maybe"},
    {"default_priority", "10"},
    {"put_inhibited", "2"},
    {"get_inhibited", ""},
    {"backout_threshold", "-1"},
    {"backout_queue", "bad name"},
    {"cluster", "x"},
    {"description", std::string(65, 'd')},
    {"description", "a\nb"},
  };
  for (const auto& [key, value] : bad_values) {
    auto changes = all_valid_changes();
    changes[key] = value;
    attrs = non_default_attrs();
    auto err = apply_attrs(attrs, changes, limits);
    CAF_CHECK(err);
    if (!unchanged())
      CAF_ERROR("bad " << key << " left a partial change");
    CAF_CHECK(unchanged());
  }
}

CAF_TEST(an unknown or read-only name after valid ones changes nothing) {
  // std::map orders keys: "zzz" comes after every valid one, "aaa" before.
  for (auto extra : {"zzz", "aaa", "oldest_msg_age", "current_depth", "name"}) {
    auto changes = all_valid_changes();
    changes[extra] = "1";
    attrs = non_default_attrs();
    CAF_CHECK_EQUAL(rc(apply_attrs(attrs, changes, limits)), 2067);
    CAF_CHECK(unchanged());
  }
}

CAF_TEST(an error in the last key keeps earlier valid keys unapplied) {
  // "backout_threshold" < "max_depth" in map order: the valid key is applied
  // to the copy first, then the bad one fails.
  attrs = non_default_attrs();
  CAF_CHECK_EQUAL(rc(apply_attrs(
                    attrs, {{"backout_threshold", "4"}, {"max_depth", "0"}},
                    limits)),
                  2046);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 3u);
  CAF_CHECK_EQUAL(attrs.max_depth, 77u);
  CAF_CHECK_EQUAL(rc(apply_attrs(
                    attrs, {{"cluster", "false"}, {"default_priority", "12"}},
                    limits)),
                  2050);
  CAF_CHECK(attrs.cluster);
  CAF_CHECK_EQUAL(static_cast<int>(attrs.default_priority), 6);
  CAF_CHECK(unchanged());
  // The same valid keys alone succeed.
  CAF_CHECK_EQUAL(rc(apply_attrs(attrs, {{"backout_threshold", "4"},
                                          {"cluster", "false"}},
                                 limits)),
                  0);
  CAF_CHECK_EQUAL(attrs.backout_threshold, 4u);
  CAF_CHECK(!attrs.cluster);
}

// -- overflow policy ----------------------------------------------------------

CAF_TEST(overflow_policy takes block reject and drop-oldest only) {
  CAF_CHECK_EQUAL(queue_attrs{}.overflow, overflow_policy::block);
  CAF_CHECK_EQUAL(set("overflow_policy", "block"), 0);
  CAF_CHECK_EQUAL(attrs.overflow, overflow_policy::block);
  CAF_CHECK_EQUAL(set("overflow_policy", "drop-oldest"), 0);
  CAF_CHECK_EQUAL(attrs.overflow, overflow_policy::drop_oldest);
  CAF_CHECK_EQUAL(set("overflow_policy", "reject"), 0);
  CAF_CHECK_EQUAL(attrs.overflow, overflow_policy::reject);
  for (auto bad : {"", "BLOCK", "drop_oldest", "ring", "block ", "0"})
    CAF_CHECK_EQUAL(try_set("overflow_policy", bad), 2046);
  auto text = render(apply_attrs(attrs, {{"overflow_policy", "x"}}, limits));
  CAF_CHECK(text.find("block, reject or drop-oldest") != std::string::npos);
}

// -- to_fields ----------------------------------------------------------------

CAF_TEST(to_fields lists every attribute and statistic in a stable order) {
  queue_status s;
  s.name = "ORDERS";
  s.attrs = non_default_attrs();
  s.attrs.description = "the orders";
  s.current_depth = 11;
  s.unacked_count = 12;
  s.uncommitted_count = 13;
  s.open_input_count = 14;
  s.open_output_count = 15;
  s.consumer_count = 16;
  s.enqueued_total = 17;
  s.dequeued_total = 18;
  s.expired_total = 19;
  s.oldest_msg_age = 20;
  s.dropped_total = 21;
  s.rejected_total = 22;
  s.blocked_count = 23;
  s.blocked_total = 24;
  s.blocked_ms_total = 25;
  using fields = std::vector<std::pair<std::string, std::string>>;
  fields expected{
    {"name", "ORDERS"},
    {"description", "the orders"},
    {"max_depth", "77"},
    {"max_msg_length", "888"},
    {"default_persistence", "true"},
    {"default_priority", "6"},
    {"put_inhibited", "true"},
    {"get_inhibited", "true"},
    {"backout_threshold", "3"},
    {"backout_queue", "BACKOUT.Q"},
    {"cluster", "true"},
    {"overflow_policy", "reject"},
    {"current_depth", "11"},
    {"unacked_count", "12"},
    {"uncommitted_count", "13"},
    {"open_input_count", "14"},
    {"open_output_count", "15"},
    {"consumer_count", "16"},
    {"enqueued_total", "17"},
    {"dequeued_total", "18"},
    {"expired_total", "19"},
    {"oldest_msg_age", "20"},
    {"dropped_total", "21"},
    {"rejected_total", "22"},
    {"blocked_count", "23"},
    {"blocked_total", "24"},
    {"blocked_ms_total", "25"},
  };
  auto got = to_fields(s);
  CAF_REQUIRE_EQUAL(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAF_CHECK_EQUAL(got[i].first, expected[i].first);
    CAF_CHECK_EQUAL(got[i].second, expected[i].second);
  }
}

CAF_TEST(to_fields of defaults) {
  queue_status s;
  auto got = to_fields(s);
  std::map<std::string, std::string> m(got.begin(), got.end());
  CAF_CHECK_EQUAL(m.size(), got.size()); // names are unique
  CAF_CHECK_EQUAL(m["name"], "");
  CAF_CHECK_EQUAL(m["max_depth"], "100000");
  CAF_CHECK_EQUAL(m["max_msg_length"], "4194304");
  CAF_CHECK_EQUAL(m["default_persistence"], "false");
  CAF_CHECK_EQUAL(m["default_priority"], "0");
  CAF_CHECK_EQUAL(m["put_inhibited"], "false");
  CAF_CHECK_EQUAL(m["get_inhibited"], "false");
  CAF_CHECK_EQUAL(m["backout_threshold"], "0");
  CAF_CHECK_EQUAL(m["backout_queue"], "");
  CAF_CHECK_EQUAL(m["cluster"], "false");
  CAF_CHECK_EQUAL(m["overflow_policy"], "block");
  CAF_CHECK_EQUAL(m["oldest_msg_age"], "0");
  CAF_CHECK_EQUAL(m["current_depth"], "0");
}

CAF_TEST(to_fields output feeds back into apply_attrs) {
  // Every field is either settable (and its text is accepted back) or
  // read-only (and rejected with 2067).
  queue_status s;
  s.name = "Q";
  s.attrs = non_default_attrs();
  s.attrs.description = "round trip";
  attr_map settable;
  std::set<std::string> names;
  for (const auto& [key, value] : to_fields(s)) {
    names.insert(key);
    queue_attrs probe;
    auto code = rc(apply_attrs(probe, {{key, value}}, limits));
    bool is_settable = std::find(settable_names.begin(), settable_names.end(),
                                 key)
                       != settable_names.end();
    if (is_settable) {
      CAF_CHECK_EQUAL(code, 0);
      settable.emplace(key, value);
    } else {
      CAF_CHECK_EQUAL(code, 2067);
    }
  }
  for (const auto& k : settable_names)
    CAF_CHECK_EQUAL(names.count(k), 1u);
  for (const auto& k : read_only_names)
    CAF_CHECK_EQUAL(names.count(k), 1u);
  CAF_CHECK_EQUAL(names.size(), settable_names.size() + read_only_names.size());
  queue_attrs copy;
  CAF_REQUIRE_EQUAL(rc(apply_attrs(copy, settable, limits)), 0);
  CAF_CHECK_EQUAL(dump(copy), dump(s.attrs));
}

CAF_TEST_FIXTURE_SCOPE_END()
