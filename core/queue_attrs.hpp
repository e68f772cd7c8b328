// Queue attributes (settable) and status (attributes plus read-only
// statistics), and the text form used by define / set / inquire.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

namespace qmesh {

/// Attribute name to value text, as given to define / set (`max_depth` →
/// `5000`). Unknown names and bad values are rejected as a whole.
using attr_map = std::map<std::string, std::string>;

/// Limits every queue attribute must respect, whatever the defaults.
struct attr_limits {
  /// Hard cap for max_msg_length (configurable per node).
  uint64_t max_msg_length_cap = 100 * 1024 * 1024;
  static constexpr uint64_t max_depth_cap = 100'000'000;
  static constexpr uint64_t backout_threshold_cap = 999'999'999;
  static constexpr size_t description_max = 64;
};

/// What a put to a full queue (current_depth at max_depth) does.
enum class overflow_policy : uint8_t {
  /// The put waits (at most the put wait) until there is room; the
  /// producer is paused meanwhile. The default.
  block = 0,
  /// The put fails at once with 2053 q_full (IBM MQ's MQPUT).
  reject = 1,
  /// The oldest ready message is dropped (counted in dropped_total) to
  /// make room: a ring.
  drop_oldest = 2,
};

/// `block`, `reject`, `drop-oldest`.
const char* to_string(overflow_policy x) noexcept;

/// The settable attributes of a queue.
struct queue_attrs {
  uint64_t max_depth = 100'000;
  uint64_t max_msg_length = 4 * 1024 * 1024;
  bool default_persistence = false;
  int8_t default_priority = 0;
  bool put_inhibited = false;
  bool get_inhibited = false;
  /// 0 = never move backed-out messages.
  uint32_t backout_threshold = 0;
  /// Empty = SYSTEM.DEAD.LETTER.QUEUE.
  std::string backout_queue;
  /// Advertise to the cluster (used once clustering exists).
  bool cluster = false;
  std::string description;
  overflow_policy overflow = overflow_policy::block;

  bool operator==(const queue_attrs&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_attrs& x) {
  return f(caf::meta::type_name("qmesh::queue_attrs"), x.max_depth,
           x.max_msg_length, x.default_persistence, x.default_priority,
           x.put_inhibited, x.get_inhibited, x.backout_threshold,
           x.backout_queue, x.cluster, x.description, x.overflow);
}

/// Applies `changes` to a copy of `attrs`; on success assigns the copy, on
/// any error (2067 unknown or read-only name, 2046 bad value) leaves `attrs`
/// untouched.
caf::error apply_attrs(queue_attrs& attrs, const attr_map& changes,
                       const attr_limits& limits);

/// A queue's attributes plus its read-only statistics.
struct queue_status {
  std::string name;
  queue_attrs attrs;
  /// Messages the queue holds: ready, delivered but unacked, uncommitted.
  uint64_t current_depth = 0;
  uint64_t unacked_count = 0;
  uint64_t uncommitted_count = 0;
  uint32_t open_input_count = 0;
  uint32_t open_output_count = 0;
  uint32_t consumer_count = 0;
  uint64_t enqueued_total = 0;
  uint64_t dequeued_total = 0;
  uint64_t expired_total = 0;
  /// Milliseconds since the oldest ready message was put; 0 when empty.
  int64_t oldest_msg_age = 0;
  // -- flow control --
  /// Messages dropped by the drop-oldest policy.
  uint64_t dropped_total = 0;
  /// Puts refused with 2053: reject policy, or a blocked put whose wait
  /// ran out.
  uint64_t rejected_total = 0;
  /// Puts (or batches) waiting for room right now: paused producers.
  uint64_t blocked_count = 0;
  /// Puts (or batches) that had to wait, and their total wait.
  uint64_t blocked_total = 0;
  int64_t blocked_ms_total = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_status& x) {
  return f(caf::meta::type_name("qmesh::queue_status"), x.name, x.attrs,
           x.current_depth, x.unacked_count, x.uncommitted_count,
           x.open_input_count, x.open_output_count, x.consumer_count,
           x.enqueued_total, x.dequeued_total, x.expired_total,
           x.oldest_msg_age, x.dropped_total, x.rejected_total,
           x.blocked_count, x.blocked_total, x.blocked_ms_total);
}

/// Every attribute and statistic as `name → value` text, in a stable order.
std::vector<std::pair<std::string, std::string>>
to_fields(const queue_status& status);

} // namespace qmesh
