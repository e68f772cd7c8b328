// Request and reply payloads of the actor interfaces (actors/actors.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "core/message.hpp"

namespace qmesh {

/// Wait value meaning "wait until a message arrives".
constexpr int64_t wait_unlimited = -1;

/// Most messages one batch get returns.
constexpr uint32_t max_get_batch = 10'000;

/// How a queue is opened; counts show in inquire.
enum class open_mode : uint8_t { input = 1, output = 2, browse = 3 };

/// Browse position of a get.
enum class browse_mode : uint8_t { none = 0, first = 1, next = 2 };

/// Options of a get (MQGMO): wait, browse, match, unit of work.
struct get_options {
  /// Milliseconds to wait for a message; 0 = no wait; wait_unlimited.
  int64_t wait_ms = 0;
  uint8_t browse = static_cast<uint8_t>(browse_mode::none);
  /// For browse next: the `tag` of the previously browsed message.
  uint64_t browse_cursor = 0;
  /// Match by msg_id (empty = any) and correl_id (empty = any).
  msg_id match_msg_id;
  std::string match_correl_id;
  /// Unit of work (0 = none); set by the queue manager, which owns UoWs.
  uint64_t uow = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_options& x) {
  return f(caf::meta::type_name("qmesh::get_options"), x.wait_ms, x.browse,
           x.browse_cursor, x.match_msg_id, x.match_correl_id, x.uow);
}

/// Messages pushed to a consumer in one actor message. Delivery tags are
/// `first_tag`, `first_tag + 1`, ... (also in each message's `tag`).
struct delivery_batch {
  uint64_t consumer_id = 0;
  std::vector<message> messages;
  /// Non-empty: the consumer has ended without being cancelled (its queue
  /// is on another queue manager that went away); the reason, rendered
  /// `2009 connection_broken: ...`. No messages come with it.
  std::string ended;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_batch& x) {
  return f(caf::meta::type_name("qmesh::delivery_batch"), x.consumer_id,
           x.messages, x.ended);
}

/// How a consumer settles its deliveries.
enum class ack_mode : uint8_t {
  /// Delivered = consumed; the window reopens through `credit`.
  automatic = 0,
  /// Each delivery is acked or nacked; acks reopen the window.
  client = 1,
};

/// A subscription request.
struct subscription_spec {
  std::string filter;
  /// Non-empty: durable subscription of that name, outlives its creator.
  std::string durable_name;
  /// Non-empty: publications go to this queue (created if auto-define is
  /// on); empty: to a managed queue the subscription owns.
  std::string queue;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_spec& x) {
  return f(caf::meta::type_name("qmesh::subscription_spec"), x.filter,
           x.durable_name, x.queue);
}

/// A subscription as the queue manager reports it.
struct subscription_info {
  uint64_t id = 0;
  /// Durable name, or `SYSTEM.SUB.<id>` for a non-durable one.
  std::string name;
  std::string filter;
  /// Queue its publications land on.
  std::string queue;
  bool durable = false;
  bool managed_queue = false;
  uint64_t delivered_total = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_info& x) {
  return f(caf::meta::type_name("qmesh::subscription_info"), x.id, x.name,
           x.filter, x.queue, x.durable, x.managed_queue, x.delivered_total);
}

/// Who a client connection is, as its front-end says when it asks the
/// front door for a session (`protocol`: native, stomp, http, ws).
struct client_info {
  std::string protocol;
  /// The peer as the front-end sees it: `HOST:PORT` for network
  /// front-ends, what the client library reports for native clients.
  std::string peer;
  /// Authenticated user; empty while the node has no users.
  std::string user;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_info& x) {
  return f(caf::meta::type_name("qmesh::client_info"), x.protocol, x.peer,
           x.user);
}

/// What a client presents at connect (user and password). Never stored
/// in connection_info, never logged. Empty user: anonymous, which only a
/// node without users accepts.
struct credentials {
  std::string user;
  std::string password;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credentials& x) {
  return f(caf::meta::type_name("qmesh::credentials"), x.user, x.password);
}

/// One client connection (session) as the queue manager reports it
/// (`qmesh connections`, `GET /api/connections`).
struct connection_info {
  /// The session's id: unique on this node while it runs.
  uint64_t id = 0;
  client_info client;
  /// Wall-clock time of connect (ms since the epoch).
  int64_t connected_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_info& x) {
  return f(caf::meta::type_name("qmesh::connection_info"), x.id, x.client,
           x.connected_at_ms);
}

/// Queue-manager status.
struct qm_status {
  std::string name;
  std::string version;
  uint64_t queue_count = 0;
  uint64_t subscription_count = 0;
  uint64_t open_uow_count = 0;
  uint64_t retained_count = 0;
  /// Milliseconds since the queue manager started.
  int64_t uptime_ms = 0;
  /// Client sessions currently connected.
  uint64_t connection_count = 0;
  /// The user the asking connection authenticated as; empty: anonymous
  /// (no users file, or a probe without credentials). Filled in by the
  /// session that relays the status, not by the queue manager.
  std::string user;
  /// Client sessions currently connected, per user ("" = anonymous).
  std::map<std::string, uint64_t> connections_by_user;
  // -- flow control --
  /// The node's memory limit and resident memory (bytes; 0 = unknown).
  uint64_t memory_limit = 0;
  uint64_t memory_used = 0;
  /// True while over the memory limit: producers are held.
  bool memory_alarm = false;
  uint64_t memory_alarms_total = 0;
  /// Puts held for room in a queue or for the alarm, node-wide.
  uint64_t paused_puts = 0;
  /// Publications held for slow subscriptions or the alarm; and how many
  /// were ever held.
  uint64_t held_publications = 0;
  uint64_t held_publications_total = 0;
  /// The node's default put wait (ms; -1 = unlimited): clients wait this
  /// much longer for a put's reply.
  int64_t put_wait_ms = 0;
  // -- journal (all 0 without one) --
  /// Bytes and segment files of the journal.
  uint64_t journal_bytes = 0;
  uint64_t journal_segments = 0;
  /// Records appended since start; persistent messages stored now.
  uint64_t journal_records = 0;
  uint64_t journal_live_messages = 0;
  /// Batches written with one fdatasync each, and records in them.
  uint64_t journal_fsyncs = 0;
  uint64_t journal_records_synced = 0;
  /// How long recovery took at start (ms).
  int64_t journal_recovery_ms = 0;
  /// Free bytes on the journal's disk; true while persistent puts are
  /// refused for lack of space (or a failed journal).
  uint64_t disk_free = 0;
  bool disk_alarm = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, qm_status& x) {
  return f(caf::meta::type_name("qmesh::qm_status"), x.name, x.version,
           x.queue_count, x.subscription_count, x.open_uow_count,
           x.retained_count, x.uptime_ms, x.connection_count, x.user,
           x.connections_by_user, x.memory_limit,
           x.memory_used, x.memory_alarm, x.memory_alarms_total,
           x.paused_puts, x.held_publications, x.held_publications_total,
           x.put_wait_ms, x.journal_bytes, x.journal_segments,
           x.journal_records, x.journal_live_messages, x.journal_fsyncs,
           x.journal_records_synced, x.journal_recovery_ms, x.disk_free,
           x.disk_alarm);
}

} // namespace qmesh
