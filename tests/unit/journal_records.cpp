#define CAF_SUITE unit.journal_records
#include <caf/test/unit_test.hpp>

#include <random>
#include <vector>

#include "store/crc32c.hpp"
#include "store/records.hpp"

using namespace qmesh;
using namespace qmesh::store;

namespace {

message sample_message(std::string body) {
  message msg;
  msg.id = msg_id{0x0123456789abcdefULL, 42};
  msg.correl_id = "corr";
  msg.priority = 7;
  msg.persistent = 1;
  msg.expiry = -5;
  msg.reply_to_queue = "REPLY.Q";
  msg.put_time = 1700000000000;
  msg.origin_qmgr = "QM1";
  msg.delivery_count = 3;
  msg.content_type = "text/plain";
  msg.properties = {{"a", "1"}, {"b", std::string("\0x", 2)}};
  msg.body = std::move(body);
  return msg;
}

/// One record of every kind, with non-default fields.
std::vector<std::pair<record_kind, record_body>> every_kind() {
  queue_attrs attrs;
  attrs.max_depth = 77;
  attrs.description = "desc";
  attrs.overflow = overflow_policy::drop_oldest;
  subscription_info sub;
  sub.name = "S1";
  sub.filter = "a/#";
  sub.queue = "SYSTEM.SUB.Q";
  sub.durable = true;
  sub.managed_queue = true;
  return {
    {record_kind::queue_define, queue_record{"Q1", attrs, true}},
    {record_kind::queue_delete, name_record{"Q1"}},
    {record_kind::put, put_record{"Q1", 0, 9, sample_message("body")}},
    {record_kind::remove, remove_record{"Q1", 4, {1, 2, 3}}},
    {record_kind::move,
     move_record{"Q1", 17, put_record{"DLQ", 0, 0, sample_message("m")}}},
    {record_kind::delivery_count, count_record{"Q1", 5, 2}},
    {record_kind::uow_commit, uow_record{12}},
    {record_kind::uow_backout, uow_record{13}},
    {record_kind::sub_define, sub_record{sub}},
    {record_kind::sub_delete, name_record{"S1"}},
    {record_kind::retained, retained_record{"a/b", true, sample_message("r")}},
    {record_kind::retained, retained_record{"a/b", false, {}}},
  };
}

std::vector<char> frame(uint64_t seq, record_kind kind,
                        const record_body& body) {
  std::vector<char> out;
  encode(seq, kind, body, out);
  return out;
}

/// A frame with a valid CRC around arbitrary payload bytes.
std::vector<char> reframe(uint64_t seq, record_kind kind,
                          const std::vector<char>& payload) {
  std::vector<char> out(frame_header_size);
  auto put = [&](size_t at, uint64_t x, size_t n) {
    for (size_t i = 0; i < n; ++i)
      out[at + i] = static_cast<char>((x >> (8 * i)) & 0xff);
  };
  put(0, payload.size(), 4);
  put(8, seq, 8);
  out[16] = static_cast<char>(kind);
  out.insert(out.end(), payload.begin(), payload.end());
  put(4, crc32c::value(out.data() + 8, 9 + payload.size()), 4);
  return out;
}

} // namespace

CAF_TEST(every kind round-trips) {
  uint64_t seq = 1;
  for (auto& [kind, body] : every_kind()) {
    auto bytes = frame(seq, kind, body);
    auto d = decode(bytes);
    CAF_REQUIRE(d.status == frame_status::ok);
    CAF_CHECK_EQUAL(d.size, bytes.size());
    CAF_CHECK_EQUAL(d.rec.seq, seq);
    CAF_CHECK(d.rec.kind == kind);
    CAF_CHECK_EQUAL(d.rec.body.index(), body.index());
    CAF_CHECK(kind_matches(kind, d.rec.body));
    // Re-encoding the decoded record gives the same bytes: every field
    // survived.
    CAF_CHECK(frame(seq, d.rec.kind, d.rec.body) == bytes);
    ++seq;
  }
}

CAF_TEST(decoded fields are the encoded ones) {
  auto bytes = frame(99, record_kind::put,
                     put_record{"Q", 5, 6, sample_message("hello")});
  auto d = decode(bytes);
  CAF_REQUIRE(d.status == frame_status::ok);
  auto& p = std::get<put_record>(d.rec.body);
  CAF_CHECK_EQUAL(p.queue, "Q");
  CAF_CHECK_EQUAL(p.key, 5u);
  CAF_CHECK_EQUAL(p.uow, 6u);
  CAF_CHECK_EQUAL(p.msg.body, "hello");
  CAF_CHECK_EQUAL(p.msg.delivery_count, 3u);
  CAF_CHECK_EQUAL(p.msg.priority, 7);
  CAF_CHECK_EQUAL(p.msg.expiry, -5);
  CAF_CHECK_EQUAL(p.msg.properties.at("b"), std::string("\0x", 2));
  CAF_CHECK(p.msg.id == (msg_id{0x0123456789abcdefULL, 42}));
  auto q = decode(frame(1, record_kind::queue_define,
                        queue_record{"Q", queue_attrs{}, false}));
  CAF_REQUIRE(q.status == frame_status::ok);
  CAF_CHECK(std::get<queue_record>(q.rec.body).attrs == queue_attrs{});
}

CAF_TEST(kind_of names the kind each body is stored under) {
  for (auto& [kind, body] : every_kind())
    if (kind != record_kind::uow_backout && kind != record_kind::queue_delete
        && kind != record_kind::sub_delete)
      CAF_CHECK(kind_of(body) == kind);
  CAF_CHECK(kind_matches(record_kind::sub_delete, name_record{}));
  CAF_CHECK(!kind_matches(record_kind::put, name_record{}));
}

CAF_TEST(a frame cut short is truncated at every length) {
  auto bytes = frame(7, record_kind::put, put_record{"Q", 0, 0,
                                                      sample_message("x")});
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto d = decode(std::span<const char>{bytes.data(), n});
    if (d.status != frame_status::truncated)
      CAF_FAIL("length " << n << " not truncated");
  }
}

CAF_TEST(every flipped bit is caught) {
  auto bytes = frame(7, record_kind::remove, remove_record{"Q", 0, {1, 2}});
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    auto copy = bytes;
    copy[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    auto d = decode(copy);
    if (d.status == frame_status::ok)
      CAF_FAIL("flipped bit " << bit << " decoded as ok");
  }
}

CAF_TEST(huge declared lengths are bad_length or truncated) {
  auto bytes = frame(7, record_kind::uow_commit, uow_record{1});
  bytes[0] = bytes[1] = bytes[2] = bytes[3] = '\xff';
  CAF_CHECK(decode(bytes).status == frame_status::bad_length);
  bytes[3] = 0x0f; // 256 MiB - 1 at most: fits the limit, not the input
  CAF_CHECK(decode(bytes).status == frame_status::truncated);
}

CAF_TEST(bodies that do not match their kind are bad_body) {
  std::vector<char> wrong;
  encode(7, record_kind::put, uow_record{1}, wrong);
  CAF_CHECK(decode(wrong).status == frame_status::bad_body);
  std::vector<char> unknown;
  encode(7, static_cast<record_kind>(200), uow_record{1}, unknown);
  CAF_CHECK(decode(unknown).status == frame_status::bad_body);
}

CAF_TEST(hostile payloads behind a valid CRC are bad_body) {
  auto payload = [](record_kind kind, const record_body& body) {
    auto f = frame(1, kind, body);
    return std::vector<char>(f.begin() + frame_header_size, f.end());
  };
  // remove: claim 2^32-1 keys.
  auto p = payload(record_kind::remove, remove_record{"Q", 0, {}});
  for (size_t i = p.size() - 4; i < p.size(); ++i)
    p[i] = '\xff';
  CAF_CHECK(decode(reframe(1, record_kind::remove, p)).status
            == frame_status::bad_body);
  // put: queue name claims 2^32-1 bytes.
  p = payload(record_kind::put, put_record{"Q", 0, 0, {}});
  for (size_t i = 0; i < 4; ++i)
    p[i] = '\xff';
  CAF_CHECK(decode(reframe(1, record_kind::put, p)).status
            == frame_status::bad_body);
  // a bool that is neither 0 nor 1, and a trailing byte.
  p = payload(record_kind::retained, retained_record{"t", false, {}});
  auto bad_bool = p;
  bad_bool[5] = 2;
  CAF_CHECK(decode(reframe(1, record_kind::retained, bad_bool)).status
            == frame_status::bad_body);
  p.push_back(0);
  CAF_CHECK(decode(reframe(1, record_kind::retained, p)).status
            == frame_status::bad_body);
  // random payloads of every kind
  std::mt19937_64 rng{11};
  for (int round = 0; round < 20000; ++round) {
    std::vector<char> junk(rng() % 300);
    for (auto& c : junk)
      c = static_cast<char>(rng() % 4 == 0 ? 0xff : rng() % 8);
    auto kind = static_cast<record_kind>(1 + rng() % 11);
    auto d = decode(reframe(1, kind, junk));
    CAF_CHECK(d.status == frame_status::ok
              || d.status == frame_status::bad_body);
  }
}

CAF_TEST(random bytes never crash decode) {
  std::mt19937_64 rng{7};
  std::vector<char> buf;
  size_t ok = 0;
  for (int round = 0; round < 20000; ++round) {
    buf.resize(rng() % 200);
    for (auto& c : buf)
      c = static_cast<char>(rng());
    if (buf.size() >= 4 && round % 2 == 0) {
      // plausible small length so the CRC check is reached
      auto len = buf.size() > frame_header_size
                   ? buf.size() - frame_header_size
                   : 0;
      buf[0] = static_cast<char>(len);
      buf[1] = buf[2] = buf[3] = 0;
    }
    auto d = decode(buf);
    if (d.status == frame_status::ok)
      ++ok;
    CAF_CHECK(d.size <= buf.size());
  }
  CAF_CHECK_EQUAL(ok, 0u);
}
