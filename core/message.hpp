// The message: descriptor (after IBM MQ's MQMD) plus body.
//
// Messages travel between actors by value and are moved, never copied, along
// the point-to-point path; only pub/sub fan-out copies them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

namespace qmesh {

/// A 16-byte message identifier, unique per queue manager incarnation.
/// Rendered as 32 lower-case hex digits. All-zero means "not set".
struct msg_id {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool empty() const noexcept { return hi == 0 && lo == 0; }
  friend bool operator==(const msg_id&, const msg_id&) = default;

  /// Returns a new identifier: a per-process random prefix plus a counter.
  /// Thread-safe.
  static msg_id next() noexcept;

  /// Parses 32 hex digits; nullopt for anything else.
  static std::optional<msg_id> parse(std::string_view hex);
};

std::string to_string(const msg_id& x);

/// Milliseconds since the Unix epoch now: the clock of put_time and of
/// every wall-clock "since" the node reports.
int64_t wall_clock_ms() noexcept;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, msg_id& x) {
  return f(caf::meta::type_name("qmesh::msg_id"), x.hi, x.lo);
}

struct msg_id_hash {
  size_t operator()(const msg_id& x) const noexcept {
    return static_cast<size_t>(x.lo * 0x9e3779b97f4a7c15ULL ^ x.hi);
  }
};

/// Priority value that means "use the queue's default_priority".
constexpr int8_t priority_as_queue = -1;

/// Put wait meaning "the node's default put wait" (message::put_wait_ms).
constexpr int64_t put_wait_default = -2;

/// Persistence values; `as_queue` means "use the queue's default".
enum class persistence : int8_t { as_queue = -1, no = 0, yes = 1 };

/// One message. Fields set by the queue manager on put are marked (QM).
struct message {
  /// Unique id; set by the QM when empty.
  msg_id id;
  /// Application correlation id (free text, e.g. the request's msg_id).
  std::string correl_id;
  /// 0-9, higher first; `priority_as_queue` until put resolves it.
  int8_t priority = priority_as_queue;
  /// Resolved against the queue's default_persistence on put.
  int8_t persistent = static_cast<int8_t>(persistence::as_queue);
  /// Milliseconds to live from put; 0 = never expires.
  int64_t expiry = 0;
  std::string reply_to_queue;
  std::string reply_to_qmgr;
  /// (QM) Milliseconds since the Unix epoch when the put happened.
  int64_t put_time = 0;
  /// (QM) Name of the queue manager that accepted the put.
  std::string origin_qmgr;
  /// (QM) How often this message was delivered and rolled back (nack with
  /// requeue, backout, owner gone).
  uint32_t delivery_count = 0;
  std::string content_type;
  /// User properties, string to string.
  std::map<std::string, std::string> properties;
  std::string body;
  /// Transient, not part of the descriptor: the delivery tag of a consumed
  /// message, or the browse cursor of a browsed one.
  uint64_t tag = 0;
  /// Transient put option, not part of the descriptor: how long a put may
  /// wait for room in a full queue (block policy) before it fails with
  /// 2053, in ms; `put_wait_default` = the node's default, -1 = unlimited,
  /// 0 = no wait. A batch uses its first message's value.
  int64_t put_wait_ms = put_wait_default;

  bool redelivered() const noexcept { return delivery_count > 0; }
  bool is_persistent() const noexcept { return persistent > 0; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("qmesh::message"), x.id, x.correl_id,
           x.priority, x.persistent, x.expiry, x.reply_to_queue,
           x.reply_to_qmgr, x.put_time, x.origin_qmgr, x.delivery_count,
           x.content_type, x.properties, x.body, x.tag, x.put_wait_ms);
}

/// Property set on a message moved to a dead-letter or backout queue.
constexpr std::string_view dead_letter_reason_property = "qmesh.dlq.reason";
/// Property naming the queue a dead-lettered message came from.
constexpr std::string_view dead_letter_source_property = "qmesh.dlq.source";

} // namespace qmesh
