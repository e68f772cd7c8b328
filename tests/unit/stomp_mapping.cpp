#define CAF_SUITE unit.stomp_mapping
#include "test_fixture.hpp"

#include <string>
#include <vector>

#include "actors/subscription.hpp"
#include "protocols/stomp/mapping.hpp"
#include "protocols/stomp/parser.hpp"

using namespace qmesh;
using namespace qmesh::stomp;
using namespace std::literals;

namespace {

int code_of(const caf::error& e) {
  return e ? mqrc(static_cast<ec>(e.code())) : 0;
}

template <class T>
int code_of(const caf::expected<T>& x) {
  return x ? 0 : code_of(x.error());
}

frame send_frame(std::vector<std::pair<std::string, std::string>> headers,
                 std::string body = "body") {
  frame f;
  f.command = "SEND";
  f.headers = std::move(headers);
  f.body = std::move(body);
  return f;
}

/// Parses the bytes of exactly one frame.
frame parse_one(const std::string& bytes) {
  parser p;
  std::vector<frame> out;
  if (!p.feed(bytes.data(), bytes.size(), out) || out.size() != 1)
    CAF_FAIL("not one frame: " << p.error());
  return std::move(out.front());
}

const temp_lookup no_temps = [](std::string_view) -> const std::string* {
  return nullptr;
};

} // namespace

CAF_TEST(destinations) {
  auto q = parse_destination("/queue/ORDERS");
  CAF_REQUIRE(q);
  CAF_CHECK_EQUAL(q->kind, destination::queue);
  CAF_CHECK_EQUAL(q->name, "ORDERS");
  auto remote = parse_destination("/queue/QM2/ORDERS");
  CAF_REQUIRE(remote);
  CAF_CHECK_EQUAL(remote->name, "QM2/ORDERS");
  auto t = parse_destination("/topic/a/+/#");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->kind, destination::topic);
  CAF_CHECK_EQUAL(t->name, "a/+/#");
  auto tmp = parse_destination("/temp-queue/replies");
  CAF_REQUIRE(tmp);
  CAF_CHECK_EQUAL(tmp->kind, destination::temp_queue);
  CAF_CHECK_EQUAL(tmp->name, "replies");
}

CAF_TEST(bad destinations have reason codes) {
  CAF_CHECK_EQUAL(code_of(parse_destination("")), 2085);
  CAF_CHECK_EQUAL(code_of(parse_destination("ORDERS")), 2085);
  CAF_CHECK_EQUAL(code_of(parse_destination("/exchange/x")), 2085);
  CAF_CHECK_EQUAL(code_of(parse_destination("/queue")), 2085);
  CAF_CHECK_EQUAL(code_of(parse_destination("/queue/")), 2152);
  CAF_CHECK_EQUAL(code_of(parse_destination("/queue/A-B")), 2152);
  CAF_CHECK_EQUAL(code_of(parse_destination("/queue/QM/A/B")), 2152);
  CAF_CHECK_EQUAL(code_of(parse_destination("/queue/" + std::string(49, 'A'))),
                  2152);
  CAF_CHECK_EQUAL(code_of(parse_destination("/topic/")), 2425);
  CAF_CHECK_EQUAL(code_of(parse_destination("/temp-queue/a/b")), 2152);
  CAF_CHECK_EQUAL(code_of(parse_destination("/temp-queue/")), 2152);
}

CAF_TEST(send headers map to the descriptor) {
  auto f = send_frame({{"destination", "/queue/Q"},
                       {"message-id", "000102030405060708090a0b0c0d0e0f"},
                       {"correlation-id", "c-1"},
                       {"priority", "7"},
                       {"persistent", "true"},
                       {"expires", "1000500"},
                       {"reply-to", "/queue/QM2/REPLIES"},
                       {"content-type", "text/plain"},
                       {"receipt", "r1"},
                       {"transaction", "tx"},
                       {"content-length", "4"},
                       {"x-user", "value:with:colons"},
                       {"x-user", "second (ignored)"}},
                      "body");
  message m;
  CAF_REQUIRE(!to_message(f, m, 1000000, no_temps));
  CAF_CHECK_EQUAL(to_string(m.id), "000102030405060708090a0b0c0d0e0f");
  CAF_CHECK_EQUAL(m.correl_id, "c-1");
  CAF_CHECK_EQUAL(m.priority, 7);
  CAF_CHECK(m.is_persistent());
  CAF_CHECK_EQUAL(m.expiry, 500);
  CAF_CHECK_EQUAL(m.reply_to_qmgr, "QM2");
  CAF_CHECK_EQUAL(m.reply_to_queue, "REPLIES");
  CAF_CHECK_EQUAL(m.content_type, "text/plain");
  CAF_CHECK_EQUAL(m.body, "body");
  // Only the user header became a property; the first occurrence won.
  CAF_REQUIRE_EQUAL(m.properties.size(), 1u);
  CAF_CHECK_EQUAL(m.properties["x-user"], "value:with:colons");
}

CAF_TEST(repeated headers keep their first value) {
  // Also when a later one would be an error.
  message m;
  auto f = send_frame({{"priority", "3"},
                       {"priority", "bad"},
                       {"correlation-id", "first"},
                       {"correlation-id", "second"},
                       {"x", "1"},
                       {"x", "2"}});
  CAF_REQUIRE(!to_message(f, m, 1000, no_temps));
  CAF_CHECK_EQUAL(m.priority, 3);
  CAF_CHECK_EQUAL(m.correl_id, "first");
  CAF_CHECK_EQUAL(m.properties["x"], "1");
}

CAF_TEST(defaults and special values) {
  message m;
  auto f = send_frame({{"destination", "/queue/Q"}});
  CAF_REQUIRE(!to_message(f, m, 1000, no_temps));
  CAF_CHECK(m.id.empty());
  CAF_CHECK_EQUAL(m.priority, priority_as_queue);
  CAF_CHECK_EQUAL(m.persistent, static_cast<int8_t>(persistence::as_queue));
  CAF_CHECK_EQUAL(m.expiry, 0);
  // expires: 0 = never; a time already past marks the message expired on
  // arrival (the connection drops it).
  message never;
  auto f0 = send_frame({{"expires", "0"}});
  CAF_REQUIRE(!to_message(f0, never, 1000, no_temps));
  CAF_CHECK_EQUAL(never.expiry, 0);
  message past;
  auto f1 = send_frame({{"expires", "10"}});
  CAF_REQUIRE(!to_message(f1, past, 1000, no_temps));
  CAF_CHECK_EQUAL(past.expiry, expired_on_arrival);
  // reply-to values that are not /queue/ addresses are kept verbatim.
  message verbatim;
  auto f2 = send_frame({{"reply-to", "/topic/answers"}});
  CAF_REQUIRE(!to_message(f2, verbatim, 1000, no_temps));
  CAF_CHECK_EQUAL(verbatim.reply_to_queue, "/topic/answers");
  CAF_CHECK(verbatim.reply_to_qmgr.empty());
  // /temp-queue/ reply-to becomes the real queue.
  std::string real = "SYSTEM.TEMP.9";
  temp_lookup temps = [&](std::string_view n) -> const std::string* {
    return n == "r" ? &real : nullptr;
  };
  message tmp;
  auto f3 = send_frame({{"reply-to", "/temp-queue/r"}});
  CAF_REQUIRE(!to_message(f3, tmp, 1000, temps));
  CAF_CHECK_EQUAL(tmp.reply_to_queue, "SYSTEM.TEMP.9");
}

CAF_TEST(bad send headers have reason codes) {
  auto code = [](std::string name, std::string value) {
    message m;
    auto f = send_frame({{std::move(name), std::move(value)}});
    return code_of(to_message(f, m, 1000, no_temps));
  };
  CAF_CHECK_EQUAL(code("priority", "10"), 2050);
  CAF_CHECK_EQUAL(code("priority", "-1"), 2050);
  CAF_CHECK_EQUAL(code("priority", "high"), 2050);
  CAF_CHECK_EQUAL(code("priority", ""), 2050);
  CAF_CHECK_EQUAL(code("priority", "99999999999999999999999"), 2050);
  CAF_CHECK_EQUAL(code("persistent", "yes"), 2046);
  CAF_CHECK_EQUAL(code("persistent", "TRUE"), 2046);
  CAF_CHECK_EQUAL(code("expires", "-5"), 2046);
  CAF_CHECK_EQUAL(code("expires", "soon"), 2046);
  CAF_CHECK_EQUAL(code("message-id", "123"), 2046);
  CAF_CHECK_EQUAL(code("message-id", std::string(32, 'g')), 2046);
  CAF_CHECK_EQUAL(code("priority", "0"), 0);
  CAF_CHECK_EQUAL(code("priority", "9"), 0);
}

CAF_TEST(message frames round trip through the parser) {
  message m;
  m.id = *msg_id::parse("000102030405060708090a0b0c0d0e0f");
  m.correl_id = "c:1\nx";
  m.priority = 4;
  m.persistent = 1;
  m.expiry = 250;
  m.put_time = 1000;
  m.reply_to_qmgr = "QM2";
  m.reply_to_queue = "R";
  m.content_type = "application/octet-stream";
  m.origin_qmgr = "QM1";
  m.delivery_count = 2;
  m.properties["user\\key"] = "a:b\r\nc";
  m.properties["destination"] = "ignored (reserved)";
  m.body = "bin\0ary"s;
  std::string out;
  append_message(out, m, "sub-1", "/queue/Q", "3-17");
  auto f = parse_one(out);
  CAF_CHECK_EQUAL(f.command, "MESSAGE");
  auto h = [&](std::string_view n) {
    auto p = f.header(n);
    return p ? *p : "<absent>"s;
  };
  CAF_CHECK_EQUAL(h("subscription"), "sub-1");
  CAF_CHECK_EQUAL(h("message-id"), "000102030405060708090a0b0c0d0e0f");
  CAF_CHECK_EQUAL(h("destination"), "/queue/Q");
  CAF_CHECK_EQUAL(h("ack"), "3-17");
  CAF_CHECK_EQUAL(h("correlation-id"), "c:1\nx");
  CAF_CHECK_EQUAL(h("priority"), "4");
  CAF_CHECK_EQUAL(h("persistent"), "true");
  CAF_CHECK_EQUAL(h("expires"), "1250");
  CAF_CHECK_EQUAL(h("timestamp"), "1000");
  CAF_CHECK_EQUAL(h("reply-to"), "/queue/QM2/R");
  CAF_CHECK_EQUAL(h("redelivered"), "true");
  CAF_CHECK_EQUAL(h("qmesh-origin-qmgr"), "QM1");
  CAF_CHECK_EQUAL(h("content-type"), "application/octet-stream");
  CAF_CHECK_EQUAL(h("user\\key"), "a:b\r\nc");
  CAF_CHECK_EQUAL(h("content-length"), "7");
  CAF_CHECK_EQUAL(f.body, "bin\0ary"s);
  // The reserved-name property did not become a second destination.
  size_t destinations = 0;
  for (auto& [k, v] : f.headers)
    if (k == "destination")
      ++destinations;
  CAF_CHECK_EQUAL(destinations, 1u);
}

CAF_TEST(topic deliveries name the published topic) {
  message m;
  m.properties[std::string{topic_property}] = "prices/eu/fr";
  std::string out;
  append_message(out, m, "s", "/topic/prices/#", "");
  auto f = parse_one(out);
  CAF_CHECK_EQUAL(*f.header("destination"), "/topic/prices/eu/fr");
  CAF_CHECK(f.header("ack") == nullptr);
  CAF_CHECK(f.header("redelivered") == nullptr);
  CAF_CHECK(f.header(topic_property) == nullptr);
}

CAF_TEST(receipts and errors) {
  std::string out;
  append_receipt(out, "r:1");
  append_error(out, reason_error(ec::q_full, "Q holds 1 message"), "r:2");
  append_error(out, caf::make_error(caf::sec::request_timeout), "");
  parser p;
  std::vector<frame> frames;
  CAF_REQUIRE(p.feed(out.data(), out.size(), frames));
  CAF_REQUIRE_EQUAL(frames.size(), 3u);
  CAF_CHECK_EQUAL(frames[0].command, "RECEIPT");
  CAF_CHECK_EQUAL(*frames[0].header("receipt-id"), "r:1");
  CAF_CHECK_EQUAL(frames[1].command, "ERROR");
  CAF_CHECK_EQUAL(*frames[1].header("message"),
                  "2053 q_full: Q holds 1 message");
  CAF_CHECK_EQUAL(*frames[1].header("qmesh-reason"), "2053");
  CAF_CHECK_EQUAL(*frames[1].header("receipt-id"), "r:2");
  CAF_CHECK_EQUAL(frames[1].body, "2053 q_full: Q holds 1 message\n");
  CAF_CHECK_EQUAL(*frames[2].header("qmesh-reason"), "2195");
  CAF_CHECK(frames[2].header("receipt-id") == nullptr);
}
