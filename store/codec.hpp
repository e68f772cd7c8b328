// Little-endian binary writer and reader for journal payloads (internal to
// store/).
//
// Both are CAF 0.17 style inspectors, so the field lists of the domain
// types (`inspect()` in core/) are written once and shared with CAF; the
// bytes, though, are our own fixed format, independent of CAF's serializer
// (which changes between CAF releases):
//   integers  little-endian, their own width; bool one byte (0 or 1);
//   enums     as their underlying integer;
//   string    u32 length, then the bytes;
//   vector    u32 count, then the elements; map: u32 count, then key, value.
// Adding a field to an inspected type changes the format: bump the segment
// magic when doing so.
//
// le_reader never reads past its input, never throws on bad input (it
// only allocates what the input can back) and stays failed after the first
// error.
#pragma once

#include <cstdint>
#include <cstring>
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
    } else if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      auto u = static_cast<U>(x);
      char bytes[sizeof(T)];
      for (size_t i = 0; i < sizeof(T); ++i)
        bytes[i] = static_cast<char>((u >> (8 * i)) & 0xff);
      out_.insert(out_.end(), bytes, bytes + sizeof(T));
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
    } else if constexpr (std::is_integral_v<T>) {
      unsigned char bytes[sizeof(T)];
      if (!take(bytes, sizeof(T)))
        return;
      std::make_unsigned_t<T> u = 0;
      for (size_t i = sizeof(T); i-- > 0;)
        u = static_cast<std::make_unsigned_t<T>>((u << 8) | bytes[i]);
      x = static_cast<T>(u);
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
