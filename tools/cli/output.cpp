// The qmesh CLI's output: times, escaping of client-supplied text, messages,
// tables, and the progress line of long runs.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "tools/cli/cli.hpp"

namespace qmesh::cli {

std::string format_time(int64_t ms_since_epoch) {
  if (ms_since_epoch <= 0)
    return "";
  std::time_t secs = ms_since_epoch / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf,
                static_cast<int>(ms_since_epoch % 1000));
  return out;
}

std::string shown(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c != 0x7f) {
      out += ch;
    } else {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case 0x1b: out += "\\e"; break;
        default: {
          char buf[5];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
      }
    }
  }
  return out;
}

void print_descriptor(const qmesh::message& m) {
  std::cout << "msg_id: " << qmesh::to_string(m.id) << '\n'
            << "correl_id: " << shown(m.correl_id) << '\n'
            << "priority: " << static_cast<int>(m.priority) << '\n'
            << "persistent: " << (m.is_persistent() ? "true" : "false")
            << '\n'
            << "expiry: " << m.expiry << '\n'
            << "reply_to_queue: " << shown(m.reply_to_queue) << '\n'
            << "reply_to_qmgr: " << shown(m.reply_to_qmgr) << '\n'
            << "put_time: " << format_time(m.put_time) << '\n'
            << "origin_qmgr: " << shown(m.origin_qmgr) << '\n'
            << "delivery_count: " << m.delivery_count << '\n'
            << "redelivered: " << (m.redelivered() ? "true" : "false")
            << '\n'
            << "content_type: " << shown(m.content_type) << '\n';
  for (const auto& [k, v] : m.properties)
    std::cout << "property " << shown(k) << ": " << shown(v) << '\n';
}

void print_message(const qmesh::message& m, bool descriptor, bool flush) {
  if (descriptor)
    print_descriptor(m);
  std::cout << m.body << '\n';
  if (descriptor)
    std::cout << '\n';
  if (flush)
    std::cout.flush();
}

std::string utc_time(int64_t ms) {
  if (ms <= 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out.empty() ? "-" : out;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size())
        line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

// -- progress_line ------------------------------------------------------------

progress_line::progress_line(const char* what)
  : what_(what), on_(::isatty(STDERR_FILENO) == 1),
    start_(std::chrono::steady_clock::now()), last_(start_) {
}

void progress_line::update(uint64_t n) {
  if (!on_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds{1}
      || now - last_ < std::chrono::milliseconds{500})
    return;
  last_ = now;
  shown_ = true;
  std::cerr << "\rqmesh: " << n << " messages " << what_ << std::flush;
}

void progress_line::done() {
  if (shown_)
    std::cerr << '\n';
  shown_ = false;
}

} // namespace qmesh::cli
