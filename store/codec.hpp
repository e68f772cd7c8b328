// Binary writer and reader for journal payloads (internal to store/).
//
// Both are CAF 0.17 style inspectors, so the field lists of the domain
// types (`inspect()` in core/) are written once and shared with CAF; the
// bytes, though, are our own fixed format, independent of CAF's serializer
// (which changes between CAF releases):
//   integers  one byte if 8 bits wide; wider ones as LEB128 varints (7
//             bits per byte, low first), signed ones zigzag-encoded, so
//             small values (lengths, counts, zeros) take one byte;
//   bool      one byte (0 or 1); enums as their underlying integer;
//   string    length (varint), then the bytes;
//   vector    count (varint), then the elements; map: count, then key,
//             value.
// Adding a field to an inspected type changes the format: bump the segment
// magic when doing so.
//
// le_reader never reads past its input, never throws on bad input (it
// only allocates what the input can back) and stays failed after the first
// error.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/meta/annotation.hpp>

namespace qmesh::store {

/// Container shapes the codec writes element by element.
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};

class le_writer {
public:
  using result_type = void;

  explicit le_writer(std::vector<char>& out) : out_(out) {
  }

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (put(xs), ...);
  }

private:
  template <class T>
  void put(const T& x) {
    if constexpr (caf::meta::is_annotation<T>::value) {
      // type names and other annotations are not stored
    } else if constexpr (std::is_same_v<T, bool>) {
      out_.push_back(x ? 1 : 0);
    } else if constexpr (std::is_enum_v<T>) {
      put(static_cast<std::underlying_type_t<T>>(x));
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
      out_.push_back(static_cast<char>(x));
    } else if constexpr (std::is_integral_v<T>) {
      // LEB128, signed values zigzag-encoded first: small numbers (counts,
      // lengths, priorities, zeros) take one byte.
      uint64_t u;
      if constexpr (std::is_signed_v<T>)
        u = (static_cast<uint64_t>(x) << 1)
            ^ static_cast<uint64_t>(static_cast<int64_t>(x) >> 63);
      else
        u = static_cast<uint64_t>(x);
      char bytes[10];
      size_t n = 0;
      do {
        auto b = static_cast<unsigned char>(u & 0x7f);
        u >>= 7;
        bytes[n++] = static_cast<char>(u != 0 ? (b | 0x80) : b);
      } while (u != 0);
      out_.insert(out_.end(), bytes, bytes + n);
    } else if constexpr (std::is_same_v<T, std::string>) {
      put(static_cast<uint32_t>(x.size()));
      out_.insert(out_.end(), x.begin(), x.end());
    } else if constexpr (is_vector<T>::value || is_map<T>::value) {
      put(static_cast<uint32_t>(x.size()));
      for (auto& elem : x)
        put_elem(elem);
    } else {
      // an inspectable type: its inspect() calls back into operator()
      inspect(*this, const_cast<T&>(x));
    }
  }

  template <class K, class V>
  void put_elem(const std::pair<const K, V>& kv) {
    put(kv.first);
    put(kv.second);
  }

  template <class T>
  void put_elem(const T& x) {
    put(x);
  }

  std::vector<char>& out_;
};

class le_reader {
public:
  using result_type = void;

  explicit le_reader(std::span<const char> in) : in_(in) {
  }

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (get(xs), ...);
  }

  /// False once any read failed (input too short or a bad value).
  bool ok() const noexcept {
    return ok_;
  }

  /// Bytes not consumed yet.
  size_t remaining() const noexcept {
    return in_.size() - pos_;
  }

  void fail() noexcept {
    ok_ = false;
  }

private:
  bool take(void* dst, size_t n) noexcept {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return false;
    }
    std::memcpy(dst, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }

  /// Reads a LEB128 value of at most 10 bytes (the 10th holding 1 bit).
  bool varint(uint64_t& out) noexcept {
    uint64_t u = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      if (!ok_ || remaining() == 0) {
        ok_ = false;
        return false;
      }
      auto b = static_cast<unsigned char>(in_[pos_++]);
      if (shift == 63 && b > 1) {
        ok_ = false;
        return false;
      }
      u |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        out = u;
        return true;
      }
    }
    ok_ = false;
    return false;
  }

  /// Reads a u32 count of elements that need at least `min_size` bytes
  /// each; fails if the input cannot hold that many.
  bool count(uint32_t& n, size_t min_size) noexcept {
    get(n);
    if (ok_ && static_cast<uint64_t>(n) * min_size > remaining())
      ok_ = false;
    return ok_;
  }

  template <class T>
  void get(T& x) {
    if (!ok_)
      return;
    if constexpr (caf::meta::is_annotation<T>::value) {
      // nothing stored
    } else if constexpr (std::is_same_v<T, bool>) {
      uint8_t b = 0;
      if (take(&b, 1)) {
        if (b > 1)
          ok_ = false;
        x = b == 1;
      }
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> u{};
      get(u);
      x = static_cast<T>(u);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
      take(&x, 1);
    } else if constexpr (std::is_integral_v<T>) {
      uint64_t u = 0;
      if (!varint(u))
        return;
      using U = std::make_unsigned_t<T>;
      if constexpr (std::is_signed_v<T>) {
        auto v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
        if (v < std::numeric_limits<T>::min()
            || v > std::numeric_limits<T>::max()) {
          ok_ = false;
          return;
        }
        x = static_cast<T>(v);
      } else {
        if (u > std::numeric_limits<U>::max()) {
          ok_ = false;
          return;
        }
        x = static_cast<T>(u);
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      uint32_t n = 0;
      if (!count(n, 1))
        return;
      x.assign(in_.data() + pos_, n);
      pos_ += n;
    } else if constexpr (is_vector<T>::value) {
      uint32_t n = 0;
      if (!count(n, 1))
        return;
      x.clear();
      x.reserve(n);
      for (uint32_t i = 0; i < n && ok_; ++i) {
        typename T::value_type elem{};
        get(elem);
        x.push_back(std::move(elem));
      }
    } else if constexpr (is_map<T>::value) {
      uint32_t n = 0;
      if (!count(n, 2))
        return;
      x.clear();
      for (uint32_t i = 0; i < n && ok_; ++i) {
        typename T::key_type k{};
        typename T::mapped_type v{};
        get(k);
        get(v);
        if (ok_)
          x.emplace_hint(x.end(), std::move(k), std::move(v));
      }
    } else {
      inspect(*this, x);
    }
  }

  std::span<const char> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

} // namespace qmesh::store
