#define CAF_SUITE unit.reason
#include "test_fixture.hpp"

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/message.hpp"
#include "core/reason.hpp"

using namespace qmesh;
using namespace std::literals;

namespace {

struct code_case {
  ec code;
  int number;
  std::string_view name;
};

// Every reason code with its MQRC number and name.
const code_case all_codes[] = {
  {ec::no_msg_available, 2033, "no_msg_available"},
  {ec::unknown_object_name, 2085, "unknown_object_name"},
  {ec::unknown_remote_qmgr, 2087, "unknown_remote_qmgr"},
  {ec::q_full, 2053, "q_full"},
  {ec::msg_too_big_for_q, 2030, "msg_too_big_for_q"},
  {ec::put_inhibited, 2051, "put_inhibited"},
  {ec::get_inhibited, 2016, "get_inhibited"},
  {ec::not_authorized, 2035, "not_authorized"},
  {ec::q_not_empty, 2055, "q_not_empty"},
  {ec::object_name_error, 2152, "object_name_error"},
  {ec::syncpoint_limit_reached, 2024, "syncpoint_limit_reached"},
  {ec::object_already_exists, 2100, "object_already_exists"},
  {ec::object_in_use, 2042, "object_in_use"},
  {ec::topic_string_error, 2425, "topic_string_error"},
  {ec::uow_not_available, 2255, "uow_not_available"},
  {ec::selector_error, 2067, "selector_error"},
  {ec::options_error, 2046, "options_error"},
  {ec::priority_error, 2050, "priority_error"},
  {ec::expiry_error, 2013, "expiry_error"},
  {ec::hobj_error, 2019, "hobj_error"},
  {ec::max_conns_limit_reached, 2025, "max_conns_limit_reached"},
  {ec::resource_problem, 2102, "resource_problem"},
  {ec::q_mgr_not_available, 2059, "q_mgr_not_available"},
  {ec::connection_broken, 2009, "connection_broken"},
  {ec::cluster_resource_error, 2189, "cluster_resource_error"},
  {ec::unexpected_error, 2195, "unexpected_error"},
};

int code_of(const caf::error& err) {
  return mqrc(static_cast<ec>(err.code()));
}

} // namespace

// -- reason codes -------------------------------------------------------------

CAF_TEST(every code has its MQRC number and name) {
  for (const auto& c : all_codes) {
    CAF_CHECK_EQUAL(mqrc(c.code), c.number);
    CAF_CHECK_EQUAL(std::string{to_name(c.code)}, std::string{c.name});
    CAF_CHECK_EQUAL(to_string(c.code),
                    std::to_string(c.number) + " " + std::string{c.name});
  }
}

CAF_TEST(the table covers the whole enum) {
  // The enum starts at 1 and is dense up to unexpected_error.
  auto last = static_cast<int>(ec::unexpected_error);
  CAF_CHECK_EQUAL(static_cast<int>(ec::no_msg_available), 1);
  CAF_CHECK_EQUAL(static_cast<size_t>(last), std::size(all_codes));
  std::set<int> numbers;
  std::set<std::string> names;
  for (int i = 1; i <= last; ++i) {
    auto code = static_cast<ec>(i);
    numbers.insert(mqrc(code));
    names.insert(std::string{to_name(code)});
    auto row = std::find_if(std::begin(all_codes), std::end(all_codes),
                            [&](const code_case& c) { return c.code == code; });
    CAF_CHECK(row != std::end(all_codes));
  }
  // Numbers and names are unique.
  CAF_CHECK_EQUAL(numbers.size(), static_cast<size_t>(last));
  CAF_CHECK_EQUAL(names.size(), static_cast<size_t>(last));
}

CAF_TEST(the documented codes) {
  CAF_CHECK_EQUAL(mqrc(ec::no_msg_available), 2033);
  CAF_CHECK_EQUAL(mqrc(ec::unknown_object_name), 2085);
  CAF_CHECK_EQUAL(mqrc(ec::unknown_remote_qmgr), 2087);
  CAF_CHECK_EQUAL(mqrc(ec::q_full), 2053);
  CAF_CHECK_EQUAL(mqrc(ec::msg_too_big_for_q), 2030);
  CAF_CHECK_EQUAL(mqrc(ec::put_inhibited), 2051);
  CAF_CHECK_EQUAL(mqrc(ec::get_inhibited), 2016);
  CAF_CHECK_EQUAL(mqrc(ec::not_authorized), 2035);
  CAF_CHECK_EQUAL(mqrc(ec::q_not_empty), 2055);
  CAF_CHECK_EQUAL(mqrc(ec::object_name_error), 2152);
  CAF_CHECK_EQUAL(mqrc(ec::syncpoint_limit_reached), 2024);
  CAF_CHECK_EQUAL(mqrc(ec::max_conns_limit_reached), 2025);
}

CAF_TEST(unknown enum values map to unexpected_error) {
  CAF_CHECK_EQUAL(mqrc(static_cast<ec>(0)), 2195);
  CAF_CHECK_EQUAL(mqrc(static_cast<ec>(200)), 2195);
  CAF_CHECK_EQUAL(std::string{to_name(static_cast<ec>(255))},
                  "unexpected_error");
  CAF_CHECK_EQUAL(to_string(static_cast<ec>(0)), "2195 unexpected_error");
}

CAF_TEST(to_string) {
  CAF_CHECK_EQUAL(to_string(ec::q_full), "2053 q_full");
  CAF_CHECK_EQUAL(to_string(ec::no_msg_available), "2033 no_msg_available");
  CAF_CHECK_EQUAL(to_string(ec::unknown_remote_qmgr),
                  "2087 unknown_remote_qmgr");
}

// -- CAF errors -----------------------------------------------------------------

CAF_TEST(errors carry the qmesh category and code) {
  auto err = caf::make_error(ec::q_full, "Q1");
  CAF_CHECK(err);
  CAF_CHECK_EQUAL(err.category(), caf::atom("qmesh"));
  CAF_CHECK_EQUAL(code_of(err), 2053);
  CAF_CHECK_EQUAL(err.code(), static_cast<uint8_t>(ec::q_full));
  for (const auto& c : all_codes)
    CAF_CHECK_EQUAL(code_of(caf::make_error(c.code)), c.number);
}

CAF_TEST(render qmesh errors) {
  CAF_CHECK_EQUAL(render(caf::make_error(ec::q_full, "Q1")), "2053 q_full: Q1");
  CAF_CHECK_EQUAL(render(caf::make_error(ec::q_full, std::string{"Q1"})),
                  "2053 q_full: Q1");
  CAF_CHECK_EQUAL(render(caf::make_error(ec::q_full)), "2053 q_full");
  CAF_CHECK_EQUAL(render(caf::make_error(ec::unknown_object_name,
                                         "queue ORDERS not defined")),
                  "2085 unknown_object_name: queue ORDERS not defined");
  CAF_CHECK_EQUAL(render(caf::make_error(ec::no_msg_available, "a", "b")),
                  "2033 no_msg_available: a b");
  for (const auto& c : all_codes)
    CAF_CHECK_EQUAL(render(caf::make_error(c.code, "ctx")),
                    std::to_string(c.number) + " " + std::string{c.name}
                      + ": ctx");
}

CAF_TEST(render with a code and a context message) {
  CAF_CHECK_EQUAL(render(ec::q_full, caf::make_message("Q1"s)),
                  "2053 q_full: Q1");
  CAF_CHECK_EQUAL(render(ec::q_full, caf::message{}), "2053 q_full");
  CAF_CHECK_EQUAL(render(ec::put_inhibited, caf::make_message("A"s, "B"s)),
                  "2051 put_inhibited: A B");
}

CAF_TEST(render non-string context) {
  auto text = render(caf::make_error(ec::q_full, 42));
  CAF_CHECK(text.rfind("2053 q_full: ", 0) == 0);
  CAF_CHECK(text.find("42") != std::string::npos);
  auto mixed = render(caf::make_error(ec::q_full, "Q1"s, 7));
  CAF_CHECK(mixed.rfind("2053 q_full: ", 0) == 0);
  CAF_CHECK(mixed.find("Q1") != std::string::npos);
  CAF_CHECK(mixed.find('7') != std::string::npos);
}

CAF_TEST(render other errors as CAF does) {
  auto err = caf::make_error(caf::sec::request_timeout);
  CAF_CHECK_EQUAL(render(err), caf::to_string(err));
  CAF_CHECK(render(err).find("request_timeout") != std::string::npos);
  caf::error none;
  CAF_CHECK_EQUAL(render(none), caf::to_string(none));
}

CAF_TEST(is matches category and code) {
  auto err = caf::make_error(ec::q_full, "Q1");
  CAF_CHECK(is(err, ec::q_full));
  CAF_CHECK(!is(err, ec::no_msg_available));
  CAF_CHECK(!is(err, ec::put_inhibited));
  for (const auto& a : all_codes)
    for (const auto& b : all_codes)
      CAF_CHECK_EQUAL(is(caf::make_error(a.code), b.code), a.code == b.code);
  // Same numeric code, other category.
  auto sec_err = caf::make_error(
    static_cast<caf::sec>(static_cast<uint8_t>(ec::q_full)));
  CAF_CHECK_EQUAL(sec_err.code(), static_cast<uint8_t>(ec::q_full));
  CAF_CHECK(!is(sec_err, ec::q_full));
  // No error at all.
  CAF_CHECK(!is(caf::error{}, ec::q_full));
  CAF_CHECK(!is(caf::error{}, ec::no_msg_available));
}

// -- msg_id ---------------------------------------------------------------------

CAF_TEST(msg_id defaults to empty) {
  msg_id id;
  CAF_CHECK(id.empty());
  CAF_CHECK_EQUAL(to_string(id), std::string(32, '0'));
  CAF_CHECK(!(msg_id{0, 1}.empty()));
  CAF_CHECK(!(msg_id{1, 0}.empty()));
}

CAF_TEST(msg_id next is unique and never empty) {
  std::unordered_set<msg_id, msg_id_hash> seen;
  std::unordered_set<std::string> texts;
  constexpr size_t n = 100'000;
  auto prev = msg_id::next();
  seen.insert(prev);
  size_t bad = 0;
  for (size_t i = 1; i < n; ++i) {
    auto id = msg_id::next();
    if (id.empty() || id == prev || !seen.insert(id).second)
      ++bad;
    prev = id;
  }
  CAF_CHECK_EQUAL(bad, 0u);
  CAF_CHECK_EQUAL(seen.size(), n);
  for (const auto& id : seen)
    texts.insert(to_string(id));
  CAF_CHECK_EQUAL(texts.size(), n);
}

CAF_TEST(msg_id next is unique across threads) {
  constexpr size_t per_thread = 20'000;
  constexpr size_t threads = 4;
  std::vector<std::vector<msg_id>> results(threads);
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t)
    workers.emplace_back([&results, t] {
      results[t].reserve(per_thread);
      for (size_t i = 0; i < per_thread; ++i)
        results[t].push_back(msg_id::next());
    });
  for (auto& w : workers)
    w.join();
  std::unordered_set<msg_id, msg_id_hash> all;
  for (const auto& r : results)
    all.insert(r.begin(), r.end());
  CAF_CHECK_EQUAL(all.size(), per_thread * threads);
}

CAF_TEST(msg_id text form) {
  msg_id id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  CAF_CHECK_EQUAL(to_string(id), "0123456789abcdeffedcba9876543210");
  CAF_CHECK_EQUAL(to_string(msg_id{0, 1}), "00000000000000000000000000000001");
  CAF_CHECK_EQUAL(to_string(msg_id{1, 0}), "00000000000000010000000000000000");
  CAF_CHECK_EQUAL(to_string(msg_id{~uint64_t{0}, ~uint64_t{0}}),
                  std::string(32, 'f'));
  auto text = to_string(msg_id::next());
  CAF_CHECK_EQUAL(text.size(), 32u);
  CAF_CHECK(std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }));
}

CAF_TEST(msg_id parse round trip) {
  for (int i = 0; i < 1000; ++i) {
    auto id = msg_id::next();
    auto back = msg_id::parse(to_string(id));
    CAF_REQUIRE(back);
    CAF_CHECK(*back == id);
  }
  for (auto id : {msg_id{0, 0}, msg_id{0, 1}, msg_id{1, 0},
                  msg_id{~uint64_t{0}, ~uint64_t{0}},
                  msg_id{0x0123456789abcdefULL, 0xfedcba9876543210ULL},
                  msg_id{0x8000000000000000ULL, 0x1ULL}}) {
    auto back = msg_id::parse(to_string(id));
    CAF_REQUIRE(back);
    CAF_CHECK(*back == id);
    CAF_CHECK_EQUAL(back->hi, id.hi);
    CAF_CHECK_EQUAL(back->lo, id.lo);
  }
  auto parsed = msg_id::parse("0123456789abcdeffedcba9876543210");
  CAF_REQUIRE(parsed);
  CAF_CHECK_EQUAL(parsed->hi, 0x0123456789abcdefULL);
  CAF_CHECK_EQUAL(parsed->lo, 0xfedcba9876543210ULL);
}

CAF_TEST(msg_id parse accepts upper case hex) {
  auto upper = msg_id::parse("0123456789ABCDEFFEDCBA9876543210");
  CAF_REQUIRE(upper);
  CAF_CHECK(*upper == (msg_id{0x0123456789abcdefULL, 0xfedcba9876543210ULL}));
  CAF_CHECK_EQUAL(to_string(*upper), "0123456789abcdeffedcba9876543210");
}

CAF_TEST(msg_id parse rejects bad length) {
  auto good = std::string(32, 'a');
  CAF_CHECK(msg_id::parse(good));
  CAF_CHECK(!msg_id::parse(""));
  CAF_CHECK(!msg_id::parse("0"));
  CAF_CHECK(!msg_id::parse(std::string(16, 'a')));
  CAF_CHECK(!msg_id::parse(std::string(31, 'a')));
  CAF_CHECK(!msg_id::parse(std::string(33, 'a')));
  CAF_CHECK(!msg_id::parse(std::string(64, 'a')));
  CAF_CHECK(!msg_id::parse(" " + good));
  CAF_CHECK(!msg_id::parse(good + " "));
  CAF_CHECK(!msg_id::parse(good + "\n"));
  CAF_CHECK(!msg_id::parse("0x" + std::string(30, 'a')));
  CAF_CHECK(!msg_id::parse("0x" + good));
}

CAF_TEST(msg_id parse rejects bad hex) {
  auto good = std::string(32, '0');
  for (char bad : {'g', 'G', 'z', 'x', ' ', '-', '+', '/', ':', '@', '`', '.',
                   '\0', '\xc3'}) {
    for (size_t pos : {size_t{0}, size_t{15}, size_t{16}, size_t{31}}) {
      auto text = good;
      text[pos] = bad;
      CAF_CHECK(!msg_id::parse(text));
    }
  }
  CAF_CHECK(!msg_id::parse("0123456789abcdef-fedcba987654321"));
  CAF_CHECK(!msg_id::parse("01234567-89ab-cdef-fedc-ba98765432"));
}

CAF_TEST(msg_id hash distinguishes ids) {
  msg_id_hash h;
  CAF_CHECK_EQUAL(h(msg_id{1, 2}), h(msg_id{1, 2}));
  std::unordered_set<size_t> hashes;
  for (uint64_t i = 1; i <= 1000; ++i)
    hashes.insert(h(msg_id{42, i}));
  CAF_CHECK_EQUAL(hashes.size(), 1000u);
}

// -- message ----------------------------------------------------------------------

CAF_TEST(message defaults) {
  message msg;
  CAF_CHECK(msg.id.empty());
  CAF_CHECK_EQUAL(msg.priority, priority_as_queue);
  CAF_CHECK_EQUAL(msg.persistent, static_cast<int8_t>(persistence::as_queue));
  CAF_CHECK_EQUAL(msg.expiry, 0);
  CAF_CHECK_EQUAL(msg.delivery_count, 0u);
  CAF_CHECK(!msg.redelivered());
  CAF_CHECK(!msg.is_persistent());
  CAF_CHECK_EQUAL(msg.tag, 0u);
  msg.delivery_count = 1;
  CAF_CHECK(msg.redelivered());
  msg.persistent = static_cast<int8_t>(persistence::yes);
  CAF_CHECK(msg.is_persistent());
  msg.persistent = static_cast<int8_t>(persistence::no);
  CAF_CHECK(!msg.is_persistent());
}
