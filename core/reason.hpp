// MQ reason codes: the one error enum of qmesh.
//
// Codes carry IBM MQ's MQRC numbers so users can search them. CAF 0.17 error
// codes are 8 bits wide, so the enum values are small and `mqrc()` maps each
// to its MQRC number. Every interface prints `<number> <name>[: context]`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace qmesh {

enum class ec : uint8_t {
  /// 2033: no message matched the get (queue empty, or wait elapsed).
  no_msg_available = 1,
  /// 2085: no queue (or subscription) of that name.
  unknown_object_name,
  /// 2087: the address names a queue manager this node does not know.
  unknown_remote_qmgr,
  /// 2053: the queue holds max_depth messages.
  q_full,
  /// 2030: the body is longer than the queue's max_msg_length.
  msg_too_big_for_q,
  /// 2051: puts are inhibited on the queue.
  put_inhibited,
  /// 2016: gets are inhibited on the queue.
  get_inhibited,
  /// 2035: the operation is not allowed on this object.
  not_authorized,
  /// 2055: delete of a queue that still holds messages (use purge).
  q_not_empty,
  /// 2152: a queue, subscription or queue manager name breaks the name rules.
  object_name_error,
  /// 2024: the unit of work holds the maximum number of uncommitted messages.
  syncpoint_limit_reached,
  /// 2100: define of an object that already exists.
  object_already_exists,
  /// 2042: the object is open or in use and cannot be deleted.
  object_in_use,
  /// 2425: a topic string or topic filter is malformed.
  topic_string_error,
  /// 2255: the unit of work does not exist or belongs to someone else.
  uow_not_available,
  /// 2067: unknown attribute, or an attempt to set a read-only one.
  selector_error,
  /// 2046: an attribute or option value is out of range.
  options_error,
  /// 2050: a priority outside 0-9.
  priority_error,
  /// 2013: a negative expiry.
  expiry_error,
  /// 2019: unknown handle (consumer id, delivery tag).
  hobj_error,
  /// 2025: a listener's connection cap (total or per address) is reached.
  max_conns_limit_reached,
  /// 2102: a resource is short (disk below --disk-free-limit, or the journal
  /// cannot write).
  resource_problem,
  /// 2059: the queue manager an address names is in the cluster but not
  /// reachable now (remote get, consume, inquire).
  q_mgr_not_available,
  /// 2009: the link to another queue manager broke while a consumer or a
  /// request used it.
  connection_broken,
  /// 2189: the cluster refused a request: a queue-manager name already taken
  /// by a running member, or a cluster operation that cannot be done.
  cluster_resource_error,
  /// 2195: an internal error; always a bug.
  unexpected_error,
};

/// The MQRC number of a reason code (2033, 2085, ...).
int mqrc(ec code) noexcept;

/// The lower-case name of a reason code (`q_full`).
std::string_view to_name(ec code) noexcept;

/// `2053 q_full`.
std::string to_string(ec code);

/// Renders a CAF error: qmesh errors as `2053 q_full: context`, others as CAF
/// renders them.
std::string render(const caf::error& err);

/// `2053 q_full: context` for a code and its context message.
std::string render(ec code, const caf::message& ctx);

/// A qmesh error with context text, rendered `2053 q_full: <text>`.
caf::error reason_error(ec code, std::string text);

/// True if `err` carries the qmesh reason `code`.
bool is(const caf::error& err, ec code) noexcept;

} // namespace qmesh

CAF_ERROR_CODE_ENUM(qmesh::ec, "qmesh")
