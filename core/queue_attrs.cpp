#include "core/queue_attrs.hpp"

#include <set>

#include "core/names.hpp"
#include "core/numbers.hpp"
#include "core/reason.hpp"

namespace qmesh {

namespace {

const std::set<std::string>& read_only_names() {
  static const std::set<std::string> names{
    "name",           "current_depth",    "unacked_count",
    "uncommitted_count", "open_input_count", "open_output_count",
    "consumer_count", "enqueued_total",   "dequeued_total",
    "expired_total",  "oldest_msg_age",   "dropped_total",
    "rejected_total", "blocked_count",    "blocked_total",
    "blocked_ms_total"};
  return names;
}

caf::error bad_value(const std::string& key, const std::string& value,
                     const char* expected) {
  return caf::make_error(ec::options_error, key + "=" + value + ": expected "
                                              + expected);
}

bool parse_bool(const std::string& text, bool& out) {
  if (text == "true" || text == "yes" || text == "1" || text == "on") {
    out = true;
    return true;
  }
  if (text == "false" || text == "no" || text == "0" || text == "off") {
    out = false;
    return true;
  }
  return false;
}

caf::error set_uint(const std::string& key, const std::string& value,
                    uint64_t lo, uint64_t hi, uint64_t& out) {
  uint64_t v = 0;
  if (!parse_uint(value, v) || v < lo || v > hi)
    return bad_value(key, value,
                     ("an integer in " + std::to_string(lo) + ".."
                      + std::to_string(hi))
                       .c_str());
  out = v;
  return {};
}

caf::error set_bool(const std::string& key, const std::string& value,
                    bool& out) {
  if (!parse_bool(value, out))
    return bad_value(key, value, "true or false");
  return {};
}

caf::error apply_one(queue_attrs& a, const std::string& key,
                     const std::string& value, const attr_limits& limits) {
  uint64_t v = 0;
  if (key == "max_depth")
    return set_uint(key, value, 1, attr_limits::max_depth_cap, a.max_depth);
  if (key == "max_msg_length")
    return set_uint(key, value, 1, limits.max_msg_length_cap,
                    a.max_msg_length);
  if (key == "default_persistence") {
    if (value == "persistent") {
      a.default_persistence = true;
      return {};
    }
    if (value == "not_persistent") {
      a.default_persistence = false;
      return {};
    }
    return set_bool(key, value, a.default_persistence);
  }
  if (key == "default_priority") {
    if (auto err = set_uint(key, value, 0, 9, v))
      return caf::make_error(ec::priority_error, key + "=" + value
                                                   + ": expected 0..9");
    a.default_priority = static_cast<int8_t>(v);
    return {};
  }
  if (key == "put_inhibited")
    return set_bool(key, value, a.put_inhibited);
  if (key == "get_inhibited")
    return set_bool(key, value, a.get_inhibited);
  if (key == "backout_threshold") {
    if (auto err = set_uint(key, value, 0, attr_limits::backout_threshold_cap,
                            v))
      return err;
    a.backout_threshold = static_cast<uint32_t>(v);
    return {};
  }
  if (key == "backout_queue") {
    if (!value.empty() && !is_valid_name(value))
      return caf::make_error(ec::object_name_error,
                             "backout_queue=" + value + ": "
                               + std::string{name_rule});
    a.backout_queue = value;
    return {};
  }
  if (key == "cluster")
    return set_bool(key, value, a.cluster);
  if (key == "description") {
    if (value.size() > attr_limits::description_max)
      return bad_value(key, value.substr(0, 16) + "...", "at most 64 bytes");
    for (unsigned char c : value)
      if (c < 0x20 || c == 0x7f)
        return bad_value(key, "<text>", "printable text");
    a.description = value;
    return {};
  }
  if (key == "overflow_policy") {
    for (auto p : {overflow_policy::block, overflow_policy::reject,
                   overflow_policy::drop_oldest})
      if (value == to_string(p)) {
        a.overflow = p;
        return {};
      }
    return bad_value(key, value.substr(0, 32), "block, reject or drop-oldest");
  }
  if (read_only_names().count(key) > 0)
    return caf::make_error(ec::selector_error, key + " is read-only");
  return caf::make_error(ec::selector_error,
                         "unknown attribute " + key.substr(0, 64));
}

} // namespace

const char* to_string(overflow_policy x) noexcept {
  switch (x) {
    case overflow_policy::reject:
      return "reject";
    case overflow_policy::drop_oldest:
      return "drop-oldest";
    default:
      return "block";
  }
}

caf::error apply_attrs(queue_attrs& attrs, const attr_map& changes,
                       const attr_limits& limits) {
  auto copy = attrs;
  for (const auto& [key, value] : changes)
    if (auto err = apply_one(copy, key, value, limits))
      return err;
  attrs = std::move(copy);
  return {};
}

std::vector<std::pair<std::string, std::string>>
to_fields(const queue_status& s) {
  auto b = [](bool x) { return std::string{x ? "true" : "false"}; };
  auto n = [](auto x) { return std::to_string(x); };
  const auto& a = s.attrs;
  return {
    {"name", s.name},
    {"description", a.description},
    {"max_depth", n(a.max_depth)},
    {"max_msg_length", n(a.max_msg_length)},
    {"default_persistence", b(a.default_persistence)},
    {"default_priority", n(static_cast<int>(a.default_priority))},
    {"put_inhibited", b(a.put_inhibited)},
    {"get_inhibited", b(a.get_inhibited)},
    {"backout_threshold", n(a.backout_threshold)},
    {"backout_queue", a.backout_queue},
    {"cluster", b(a.cluster)},
    {"overflow_policy", to_string(a.overflow)},
    {"current_depth", n(s.current_depth)},
    {"unacked_count", n(s.unacked_count)},
    {"uncommitted_count", n(s.uncommitted_count)},
    {"open_input_count", n(s.open_input_count)},
    {"open_output_count", n(s.open_output_count)},
    {"consumer_count", n(s.consumer_count)},
    {"enqueued_total", n(s.enqueued_total)},
    {"dequeued_total", n(s.dequeued_total)},
    {"expired_total", n(s.expired_total)},
    {"oldest_msg_age", n(s.oldest_msg_age)},
    {"dropped_total", n(s.dropped_total)},
    {"rejected_total", n(s.rejected_total)},
    {"blocked_count", n(s.blocked_count)},
    {"blocked_total", n(s.blocked_total)},
    {"blocked_ms_total", n(s.blocked_ms_total)},
  };
}

} // namespace qmesh
