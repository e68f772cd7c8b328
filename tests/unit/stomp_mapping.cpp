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

namespace {

frame sub_frame(std::vector<std::pair<std::string, std::string>> headers) {
  frame f;
  f.command = "SUBSCRIBE";
  f.headers = std::move(headers);
  return f;
}

std::string durable_of(const frame& f, std::string_view client_id) {
  auto name = durable_name(f, client_id);
  if (!name)
    CAF_FAIL("durable_name failed: " << render(name.error()));
  return *name;
}

} // namespace

CAF_TEST(durable names: none) {
  auto f = sub_frame({{"id", "1"}, {"destination", "/topic/a"}});
  CAF_CHECK_EQUAL(durable_of(f, ""), "");
  CAF_CHECK_EQUAL(durable_of(f, "app"), "");
  // false is the default and accepted.
  f.add("durable", "false");
  f.add("persistent", "false");
  CAF_CHECK_EQUAL(durable_of(f, "app"), "");
}

CAF_TEST(durable names: ActiveMQ convention) {
  auto f = sub_frame({{"id", "1"}, {"activemq.subscriptionName", "audit"}});
  CAF_CHECK_EQUAL(durable_of(f, "APP1"), "APP1.audit");
  auto old = sub_frame({{"id", "1"}, {"durable-subscription-name", "audit"}});
  CAF_CHECK_EQUAL(durable_of(old, "APP1"), "APP1.audit");
  // Both, equal: fine; different: refused.
  auto both = sub_frame({{"activemq.subscriptionName", "x"},
                         {"durable-subscription-name", "x"}});
  CAF_CHECK_EQUAL(durable_of(both, "c"), "c.x");
  auto differ = sub_frame({{"activemq.subscriptionName", "x"},
                           {"durable-subscription-name", "y"}});
  CAF_CHECK_EQUAL(code_of(durable_name(differ, "c")), 2046);
  // ActiveMQ's name wins over RabbitMQ's flag (one subscription either way).
  auto mixed = sub_frame({{"id", "7"},
                          {"activemq.subscriptionName", "n"},
                          {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(mixed, "c"), "c.n");
  // No client-id: refused, as ActiveMQ does.
  CAF_CHECK_EQUAL(code_of(durable_name(f, "")), 2046);
  // Empty name.
  auto empty = sub_frame({{"id", "1"}, {"activemq.subscriptionName", ""}});
  CAF_CHECK_EQUAL(code_of(durable_name(empty, "c")), 2152);
}

CAF_TEST(durable names: RabbitMQ convention) {
  auto f = sub_frame({{"id", "orders"}, {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(f, ""), "orders");
  CAF_CHECK_EQUAL(durable_of(f, "app"), "app.orders");
  auto p = sub_frame({{"id", "orders"}, {"persistent", "true"}});
  CAF_CHECK_EQUAL(durable_of(p, ""), "orders");
  // Without an id (or an empty one): refused.
  CAF_CHECK_EQUAL(code_of(durable_name(sub_frame({{"durable", "true"}}), "")),
                  2046);
  CAF_CHECK_EQUAL(
    code_of(durable_name(sub_frame({{"id", ""}, {"durable", "true"}}), "")),
    2046);
  // Values other than true/false, even next to an ActiveMQ name.
  for (auto bad : {"TRUE", "yes", "1", "", "true "}) {
    CAF_CHECK_EQUAL(
      code_of(durable_name(sub_frame({{"id", "1"}, {"durable", bad}}), "")),
      2046);
    CAF_CHECK_EQUAL(code_of(durable_name(
                      sub_frame({{"id", "1"},
                                 {"activemq.subscriptionName", "n"},
                                 {"persistent", bad}}),
                      "c")),
                    2046);
  }
}

CAF_TEST(durable names: encoding) {
  // Everything but A-Z a-z 0-9 _ is %XX, so parts never collide.
  std::string out;
  append_name_part(out, "a.b-c%d_E9 \xc3\xa9");
  CAF_CHECK_EQUAL(out, "a%2Eb%2Dc%25d_E9%20%C3%A9");
  auto f = sub_frame({{"id", "1"}, {"activemq.subscriptionName", "b.c"}});
  CAF_CHECK_EQUAL(durable_of(f, "a"), "a.b%2Ec");
  auto g = sub_frame({{"id", "1"}, {"activemq.subscriptionName", "c"}});
  CAF_CHECK_EQUAL(durable_of(g, "a.b"), "a%2Eb.c");
  auto r = sub_frame({{"id", "my-sub"}, {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(r, "client-1"), "client%2D1.my%2Dsub");
  // Hostile parts: CR/LF/colon/NUL are just bytes to encode.
  auto h = sub_frame({{"id", "a\nb:c"s + '\0'}, {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(h, ""), "a%0Ab%3Ac%00");
}

CAF_TEST(durable names: length) {
  // 48 is the longest name.
  auto f = sub_frame({{"activemq.subscriptionName", std::string(40, 'n')}});
  CAF_CHECK_EQUAL(durable_of(f, "cccccc1"), "cccccc1." + std::string(40, 'n'));
  CAF_CHECK_EQUAL(code_of(durable_name(f, "cccccc12")), 2152);
  auto r = sub_frame({{"id", std::string(48, 'i')}, {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(r, ""), std::string(48, 'i'));
  CAF_CHECK_EQUAL(code_of(durable_name(r, "c")), 2152);
  // Encoded characters count 3: 16 dashes are 48.
  auto d = sub_frame({{"id", std::string(16, '-')}, {"durable", "true"}});
  CAF_CHECK_EQUAL(durable_of(d, "").size(), 48u);
  auto d17 = sub_frame({{"id", std::string(17, '-')}, {"durable", "true"}});
  auto e = durable_name(d17, "");
  CAF_REQUIRE(!e);
  CAF_CHECK_EQUAL(code_of(e), 2152);
  // The text gives the hint.
  CAF_CHECK(render(e.error()).find("3 each") != std::string::npos);
  // Huge input: refused, and the error text stays short.
  auto huge = sub_frame({{"id", std::string(100000, 'x')}, {"durable", "true"}});
  auto he = durable_name(huge, "");
  CAF_REQUIRE(!he);
  CAF_CHECK_LESS(render(he.error()).size(), 600u);
}

CAF_TEST(refused subscribe headers) {
  auto ok = sub_frame({{"id", "1"},
                       {"destination", "/topic/a"},
                       {"ack", "client"},
                       {"prefetch-count", "10"},
                       {"activemq.noLocal", "false"},
                       {"activemq.retroactive", "false"},
                       {"activemq.exclusive", "false"},
                       {"exclusive", "false"},
                       {"x-queue-type", "classic"},
                       {"activemq.prefetchSize", "5"},
                       {"auto-delete", "true"},
                       {"x-custom", "1"}});
  CAF_CHECK(!refused_subscribe_header(ok));
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
         {"selector", "a = 1"},
         {"selector", ""},
         {"activemq.selector", "a = 1"},
         {"activemq.noLocal", "true"},
         {"activemq.retroactive", "true"},
         {"activemq.exclusive", "true"},
         {"activemq.noLocal", "maybe"},
         {"exclusive", "true"},
         {"x-queue-type", "quorum"},
         {"x-queue-type", "stream"},
         {"x-queue-name", "Q"},
         {"x-stream-offset", "first"},
         {"x-message-ttl", "1000"},
         {"x-max-length", "10"},
         {"x-dead-letter-exchange", "dlx"},
         {"x-single-active-consumer", "true"},
         {"x-priority", "5"}}) {
    auto f = sub_frame({{"id", "1"}, {"destination", "/topic/a"}});
    f.add(name, value);
    auto err = refused_subscribe_header(f);
    CAF_CHECK_EQUAL(code_of(err), 2046);
    // The text names the header.
    CAF_CHECK(render(err).find("'" + name + ":") != std::string::npos);
  }
}

CAF_TEST(persistent on SEND is true or false) {
  for (auto [value, want] :
       std::vector<std::pair<std::string, int>>{{"true", 1}, {"false", 0}}) {
    message m;
    auto f = send_frame({{"persistent", value}});
    CAF_REQUIRE(!to_message(f, m, 1000, no_temps));
    CAF_CHECK_EQUAL(m.is_persistent(), want == 1);
  }
  for (auto bad : {"TRUE", "1", "yes", "", "true "}) {
    message m;
    auto f = send_frame({{"persistent", bad}});
    auto err = to_message(f, m, 1000, no_temps);
    CAF_CHECK_EQUAL(code_of(err), 2046);
    CAF_CHECK(render(err).find("persistent") != std::string::npos);
  }
}

CAF_TEST(MESSAGE for 1.0 and 1.1 clients) {
  message m;
  m.id = *msg_id::parse("000102030405060708090a0b0c0d0e0f");
  m.correl_id = "c:1\\x";
  m.properties["we\\ird:name"] = "multi\nline\r";
  m.body = "b";
  for (auto v : {protocol_version::v1_0, protocol_version::v1_1}) {
    std::string out;
    append_message(out, m, "sub-1", "/queue/Q", "3-17", v);
    parser p;
    p.set_version(v);
    std::vector<frame> frames;
    CAF_REQUIRE(p.feed(out.data(), out.size(), frames));
    CAF_REQUIRE_EQUAL(frames.size(), 1u);
    auto& f = frames[0];
    // Acknowledged by message-id: the delivery id; no ack header.
    CAF_CHECK_EQUAL(*f.header("message-id"), "3-17");
    CAF_CHECK_EQUAL(*f.header("qmesh-message-id"),
                    "000102030405060708090a0b0c0d0e0f");
    CAF_CHECK(f.header("ack") == nullptr);
    CAF_CHECK_EQUAL(*f.header("subscription"), "sub-1");
    CAF_CHECK_EQUAL(*f.header("correlation-id"), "c:1\\x");
    if (v == protocol_version::v1_1) {
      CAF_CHECK_EQUAL(*f.header("we\\ird:name"), "multi\nline ");
    } else {
      CAF_CHECK_EQUAL(*f.header("we\\ird name"), "multi line ");
    }
    CAF_CHECK_EQUAL(f.body, "b");
  }
  // A 1.0 SUBSCRIBE without id: no subscription header.
  std::string out;
  append_message(out, m, "", "/queue/Q", "3-18", protocol_version::v1_0);
  CAF_CHECK(out.find("subscription:") == std::string::npos);
  // qmesh-message-id is reserved: a SEND cannot fake it.
  CAF_CHECK(is_reserved_header("qmesh-message-id"));
}

CAF_TEST(errors and receipts for 1.0 are not escaped) {
  std::string out;
  append_receipt(out, "r:1\\", protocol_version::v1_0);
  append_error(out, mqrc(ec::options_error), "2046 options_error: a\\b",
               "r:2", "1.0,1.1,1.2", protocol_version::v1_0);
  CAF_CHECK_EQUAL(out.substr(0, out.find('\0')),
                  "RECEIPT\nreceipt-id:r:1\\\n\n");
  CAF_CHECK(out.find("message:2046 options_error: a\\b\n")
            != std::string::npos);
  CAF_CHECK(out.find("version:1.0,1.1,1.2\n") != std::string::npos);
}
