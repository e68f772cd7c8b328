#include "protocols/stomp/parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

namespace qmesh::stomp {

namespace {

/// `text` made safe for a one-line error message: printable ASCII kept,
/// anything else as \xNN, cut after 32 input bytes.
std::string printable(std::string_view text) {
  constexpr size_t max_shown = 32;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (text.size() > max_shown)
    out += "...";
  return out;
}

/// a + b, saturating (limits may be configured as SIZE_MAX).
constexpr size_t sat_add(size_t a, size_t b) noexcept {
  return a > std::numeric_limits<size_t>::max() - b
           ? std::numeric_limits<size_t>::max()
           : a + b;
}

constexpr const char* nul_in_header
  = "NUL in a header line (is the blank line before the body missing?)";

inline const char* find(const char* first, size_t size, char c) noexcept {
  return static_cast<const char*>(std::memchr(first, c, size));
}

/// Decodes the header escapes of [first, first + size) into `out`: 1.2's,
/// or 1.1's (no `\r`) if !cr. On error returns false with the error text
/// in `what`.
bool unescape(const char* first, size_t size, std::string& out,
              std::string& what, bool cr) {
  const char* end = first + size;
  const char* bs = find(first, size, '\\');
  if (bs == nullptr) {
    out.assign(first, size);
    return true;
  }
  out.reserve(size);
  out.assign(first, bs);
  for (;;) {
    if (bs + 1 == end) {
      what = "incomplete escape sequence (a '\\' ends a header name or value)";
      return false;
    }
    switch (bs[1]) {
      case 'n':
        out += '\n';
        break;
      case 'r':
        if (!cr) {
          what = "undefined escape sequence \"\\r\" in a header (STOMP 1.1 "
                 "has no \\r)";
          return false;
        }
        out += '\r';
        break;
      case 'c':
        out += ':';
        break;
      case '\\':
        out += '\\';
        break;
      default:
        what = "undefined escape sequence \"\\"
               + printable(std::string_view{bs + 1, 1}) + "\" in a header";
        return false;
    }
    const char* run = bs + 2;
    bs = find(run, static_cast<size_t>(end - run), '\\');
    if (bs == nullptr) {
      out.append(run, end);
      return true;
    }
    out.append(run, bs);
  }
}

} // namespace

parser::parser(limits lim) : lim_(lim) {
  // Nothing else: the frame under construction starts empty.
}

bool parser::feed(const char* data, size_t size, std::vector<frame>& out) {
  if (state_ == state::failed)
    return false;
  const char* p = data;
  const char* end = data + size;
  while (p != end) {
    auto avail = static_cast<size_t>(end - p);
    switch (state_) {
      case state::command:
      case state::headers: {
        // Content limit of this line, not counting its CR LF.
        size_t max_line = state_ == state::command ? lim_.max_command_length
                                                   : lim_.max_header_line;
        // line_ never holds more than max_line + 1 bytes (content + CR).
        size_t have = line_.size();
        size_t scan = std::min(avail, sat_add(max_line, 2) - have);
        const char* lf = find(p, scan, '\n');
        if (lf == nullptr) {
          // No LF yet. Checks that a prefix can fail come first, in the same
          // order as for a complete line, so how the bytes were split across
          // feed() calls never changes which error is reported.
          if (state_ == state::headers) {
            if (find(p, scan, '\0') != nullptr)
              return fail(nul_in_header);
          } else {
            // Fail fast on garbage rather than wait for a LF.
            for (size_t i = 0; i < scan; ++i)
              if ((p[i] < 'A' || p[i] > 'Z') && p[i] != '\r')
                return fail_command(line_ + std::string{p, scan});
          }
          if (have + scan > sat_add(max_line, 1))
            return fail(state_ == state::command
                          ? "command line too long (limit "
                              + std::to_string(max_line) + " bytes)"
                          : "header line too long (limit "
                              + std::to_string(max_line) + " bytes)");
          line_.append(p, scan);
          p += scan;
          break;
        }
        const char* next = lf + 1;
        bool ok;
        if (have == 0) {
          ok = on_line(p, static_cast<size_t>(lf - p), next, end);
        } else {
          line_.append(p, lf);
          ok = on_line(line_.data(), line_.size(), next, end);
          line_.clear();
        }
        if (!ok)
          return false;
        p = next;
        break;
      }
      case state::body_length: {
        size_t need = body_length_ - frame_.body.size();
        if (need > 0) {
          size_t take = std::min(need, avail);
          frame_.body.append(p, take);
          partial_ += take;
          p += take;
          if (take < need)
            break; // p == end
        }
        if (p == end)
          break;
        if (*p != '\0')
          return fail("frame not terminated by NUL after its content-length ("
                      + std::to_string(body_length_) + " bytes)");
        ++p;
        emit(out);
        break;
      }
      case state::body_nul: {
        size_t room = lim_.max_body - frame_.body.size();
        size_t scan = std::min(avail, sat_add(room, 1));
        const char* nul = find(p, scan, '\0');
        if (nul == nullptr) {
          if (frame_.body.size() + scan > lim_.max_body) {
            body_too_long_ = true;
            return fail("body too long (limit " + std::to_string(lim_.max_body)
                        + " bytes)");
          }
          frame_.body.append(p, scan);
          partial_ += scan;
          p += scan;
          break;
        }
        frame_.body.append(p, nul);
        p = nul + 1;
        emit(out);
        break;
      }
      case state::failed:
        return false;
    }
  }
  return true;
}

bool parser::on_line(const char* line, size_t size, const char* rest,
                     const char* end) {
  size_t raw = size + 1;
  if (size > 0 && line[size - 1] == '\r')
    --size;
  if (state_ == state::command) {
    if (size == 0) {
      ++heartbeats_;
      return true;
    }
    for (size_t i = 0; i < size; ++i)
      if (line[i] < 'A' || line[i] > 'Z')
        return fail_command({line, size});
    if (size > lim_.max_command_length)
      return fail("command line too long (limit "
                  + std::to_string(lim_.max_command_length) + " bytes)");
    frame_.command.assign(line, size);
    frame_.headers.reserve(8);
    frame_version_ = version_;
    escapes_ = uses_escapes(frame_.command)
               && frame_version_ != protocol_version::v1_0;
    partial_ = raw;
    state_ = state::headers;
    return true;
  }
  // state::headers
  partial_ += raw;
  if (size == 0)
    return on_headers_done();
  if (!on_header(line, size))
    return fail(std::move(error_), rest, end);
  return true;
}

bool parser::on_header(const char* line, size_t size) {
  if (find(line, size, '\0') != nullptr) {
    error_ = nul_in_header;
    return false;
  }
  if (size > lim_.max_header_line) {
    error_ = "header line too long (limit "
             + std::to_string(lim_.max_header_line) + " bytes)";
    return false;
  }
  if (frame_.headers.size() >= lim_.max_headers) {
    error_ = "too many headers (limit " + std::to_string(lim_.max_headers)
             + ")";
    return false;
  }
  if (find(line, size, '\r') != nullptr) {
    error_ = "CR inside a header line (only CR LF may end a line)";
    return false;
  }
  const char* colon = find(line, size, ':');
  if (colon == nullptr) {
    error_ = "header line without ':' \"" + printable({line, size}) + "\"";
    return false;
  }
  if (colon == line) {
    error_ = "empty header name";
    return false;
  }
  auto name_size = static_cast<size_t>(colon - line);
  const char* value = colon + 1;
  auto value_size = size - name_size - 1;
  auto& [name, val] = frame_.headers.emplace_back();
  if (!escapes_) {
    name.assign(line, name_size);
    val.assign(value, value_size);
    return true;
  }
  bool cr = frame_version_ == protocol_version::v1_2;
  if (!unescape(line, name_size, name, error_, cr)
      || !unescape(value, value_size, val, error_, cr)) {
    frame_.headers.pop_back();
    return false;
  }
  return true;
}

bool parser::on_headers_done() {
  const std::string* cl = frame_.header("content-length");
  if (cl == nullptr) {
    state_ = state::body_nul;
    return true;
  }
  if (cl->empty())
    return fail("invalid content-length \"\" (expected a decimal number of "
                "bytes)");
  constexpr auto max = std::numeric_limits<size_t>::max();
  size_t n = 0;
  for (char c : *cl) {
    if (c < '0' || c > '9')
      return fail("invalid content-length \"" + printable(*cl)
                  + "\" (expected a decimal number of bytes)");
    auto digit = static_cast<size_t>(c - '0');
    if (n > (max - digit) / 10)
      return fail("invalid content-length \"" + printable(*cl)
                  + "\" (out of range)");
    n = n * 10 + digit;
  }
  if (n > lim_.max_body) {
    body_too_long_ = true;
    return fail("content-length " + std::to_string(n)
                + " exceeds the body limit (" + std::to_string(lim_.max_body)
                + " bytes)");
  }
  body_length_ = n;
  state_ = state::body_length;
  return true;
}

bool parser::fail_command(std::string_view text) {
  return fail("invalid command \"" + printable(text) + "\" (expected 1 to "
              + std::to_string(lim_.max_command_length)
              + " uppercase letters)");
}

bool parser::fail(std::string what, const char* rest, const char* end) {
  error_ = std::move(what);
  receipt_.clear();
  if (state_ != state::command) {
    if (auto r = frame_.header("receipt")) {
      receipt_ = *r;
    } else if (state_ == state::headers && rest != nullptr) {
      // Best effort: the receipt header may follow the bad line in the
      // bytes we already have.
      for (size_t i = 0; i < lim_.max_headers && rest != end; ++i) {
        auto left = static_cast<size_t>(end - rest);
        const char* lf = find(rest, left, '\n');
        if (lf == nullptr)
          break;
        auto n = static_cast<size_t>(lf - rest);
        if (n > 0 && rest[n - 1] == '\r')
          --n;
        if (n == 0)
          break;
        std::string_view line{rest, n};
        constexpr std::string_view key = "receipt:";
        if (line.substr(0, key.size()) == key) {
          std::string val;
          std::string ignored;
          auto v = line.substr(key.size());
          if (!escapes_)
            receipt_.assign(v);
          else if (unescape(v.data(), v.size(), val, ignored,
                            frame_version_ == protocol_version::v1_2))
            receipt_ = std::move(val);
          break;
        }
        rest = lf + 1;
      }
    }
  }
  state_ = state::failed;
  frame_ = frame{};
  line_ = std::string{};
  partial_ = 0;
  return false;
}

void parser::emit(std::vector<frame>& out) {
  if (negotiate_
      && (frame_.command == "CONNECT" || frame_.command == "STOMP")) {
    negotiate_version(frame_.header("accept-version"), highest_, version_);
    negotiate_ = false;
  }
  out.push_back(std::move(frame_));
  frame_ = frame{};
  partial_ = 0;
  ++completed_;
  state_ = state::command;
}

} // namespace qmesh::stomp
