#include "store/records.hpp"

#include <cstring>

#include "store/codec.hpp"
#include "store/crc32c.hpp"

namespace qmesh::store {

// -- field lists of the record bodies (the payload format) -------------------

template <class F>
void inspect(F& f, queue_record& x) {
  f(x.name, x.attrs, x.system);
}

template <class F>
void inspect(F& f, name_record& x) {
  f(x.name);
}

template <class F>
void inspect(F& f, put_record& x) {
  f(x.queue, x.key, x.uow, x.msg);
}

template <class F>
void inspect(F& f, remove_record& x) {
  f(x.queue, x.uow, x.keys);
}

template <class F>
void inspect(F& f, move_record& x) {
  f(x.from, x.from_key, x.to);
}

template <class F>
void inspect(F& f, count_record& x) {
  f(x.queue, x.key, x.delivery_count);
}

template <class F>
void inspect(F& f, uow_record& x) {
  f(x.uow);
}

template <class F>
void inspect(F& f, transfer_record& x) {
  f(x.uow, x.sender, x.ids);
}

template <class F>
void inspect(F& f, sub_record& x) {
  f(x.info);
}

template <class F>
void inspect(F& f, retained_record& x) {
  f(x.topic, x.present, x.msg);
}

namespace {

void put_le(char* p, uint64_t x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<char>((x >> (8 * i)) & 0xff);
}

uint64_t get_le(const char* p, size_t n) {
  uint64_t x = 0;
  for (size_t i = n; i-- > 0;)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

/// The body alternative a kind is stored as; -1 for an unknown kind.
int body_index(record_kind kind) noexcept {
  switch (kind) {
    case record_kind::queue_define:
      return 0;
    case record_kind::queue_delete:
    case record_kind::sub_delete:
      return 1;
    case record_kind::put:
      return 2;
    case record_kind::remove:
      return 3;
    case record_kind::move:
      return 4;
    case record_kind::delivery_count:
      return 5;
    case record_kind::uow_commit:
    case record_kind::uow_backout:
      return 6;
    case record_kind::sub_define:
      return 7;
    case record_kind::retained:
      return 8;
    case record_kind::transfer_commit:
      return 9;
  }
  return -1;
}

template <size_t I>
bool read_alternative(le_reader& r, record_body& body) {
  auto& x = body.emplace<I>();
  r(x);
  return r.ok() && r.remaining() == 0;
}

bool read_body(record_kind kind, std::span<const char> payload,
               record_body& body) {
  le_reader r{payload};
  switch (body_index(kind)) {
    case 0:
      return read_alternative<0>(r, body);
    case 1:
      return read_alternative<1>(r, body);
    case 2:
      return read_alternative<2>(r, body);
    case 3:
      return read_alternative<3>(r, body);
    case 4:
      return read_alternative<4>(r, body);
    case 5:
      return read_alternative<5>(r, body);
    case 6:
      return read_alternative<6>(r, body);
    case 7:
      return read_alternative<7>(r, body);
    case 8:
      return read_alternative<8>(r, body);
    case 9:
      return read_alternative<9>(r, body);
    default:
      return false;
  }
}

} // namespace

bool kind_matches(record_kind kind, const record_body& body) noexcept {
  return body_index(kind) == static_cast<int>(body.index());
}

void encode(uint64_t seq, record_kind kind, const record_body& body,
            std::vector<char>& out) {
  auto start = out.size();
  out.resize(start + frame_header_size);
  le_writer w{out};
  std::visit([&](auto& x) { w(x); }, body);
  auto len = out.size() - start - frame_header_size;
  char* p = out.data() + start;
  put_le(p, len, 4);
  put_le(p + 8, seq, 8);
  p[16] = static_cast<char>(kind);
  put_le(p + 4, crc32c::value(p + 8, 9 + len), 4);
}

decoded_frame decode(std::span<const char> in) {
  decoded_frame result;
  if (in.size() < frame_header_size)
    return result; // truncated
  auto len = get_le(in.data(), 4);
  if (len > max_payload_size) {
    result.status = frame_status::bad_length;
    return result;
  }
  if (in.size() - frame_header_size < len)
    return result; // truncated
  result.size = frame_header_size + len;
  auto stored = static_cast<uint32_t>(get_le(in.data() + 4, 4));
  if (crc32c::value(in.data() + 8, 9 + len) != stored) {
    result.status = frame_status::bad_crc;
    return result;
  }
  result.rec.seq = get_le(in.data() + 8, 8);
  result.rec.kind = static_cast<record_kind>(in[16]);
  if (!read_body(result.rec.kind, in.subspan(frame_header_size, len),
                 result.rec.body)) {
    result.status = frame_status::bad_body;
    return result;
  }
  result.status = frame_status::ok;
  return result;
}

record_kind kind_of(const record_body& body) noexcept {
  static constexpr record_kind kinds[] = {
    record_kind::queue_define, record_kind::queue_delete, record_kind::put,
    record_kind::remove,       record_kind::move,
    record_kind::delivery_count, record_kind::uow_commit,
    record_kind::sub_define,   record_kind::retained,
    record_kind::transfer_commit};
  return kinds[body.index()];
}

} // namespace qmesh::store
