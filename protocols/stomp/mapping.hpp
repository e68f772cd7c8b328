// STOMP ↔ qmesh: destinations, SEND headers → message descriptor, message
// → MESSAGE frame, and the server's own frames (plain C++, no actors; the
// rules are in docs/protocol-stomp.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "core/message.hpp"
#include "core/reason.hpp"
#include "protocols/stomp/frame.hpp"

namespace qmesh::stomp {

/// A parsed STOMP destination.
struct destination {
  enum kind_t : uint8_t { queue, topic, temp_queue };
  kind_t kind = queue;
  /// queue: `Q` or `QM/Q`; topic: the topic string or filter (`a/b/#`);
  /// temp_queue: the connection-local NAME.
  std::string name;
};

/// Prefix of a connection's temporary-queue destinations.
constexpr std::string_view temp_queue_prefix = "/temp-queue/";

/// Parses `/queue/Q`, `/queue/QM/Q`, `/topic/T`, `/temp-queue/NAME`.
/// Errors: 2152 for a bad queue name, 2425 for an empty topic, 2085 for
/// anything else.
caf::expected<destination> parse_destination(std::string_view text);

/// Appends `text` as one part of a durable subscription name: A-Z a-z 0-9
/// and `_` as they are, every other byte (`.`, `%`, `-`, UTF-8, ...) as
/// `%XX` (upper-case hex), so that parts joined by `.` never collide.
void append_name_part(std::string& out, std::string_view text);

/// The qmesh durable subscription name a SUBSCRIBE or UNSUBSCRIBE frame
/// asks for, or "" if it asks for none. `client_id` is the CONNECT's
/// `client-id` ("" if none). The conventions (docs/protocol-stomp.md,
/// "Durable subscriptions"):
/// - ActiveMQ: `activemq.subscriptionName:N` (or `durable-subscription-name:N`)
///   → `<client_id>.<N>`; needs a client-id;
/// - RabbitMQ: `durable:true` or `persistent:true` with `id:I` →
///   `<client_id>.<I>`, or `<I>` without a client-id.
/// Parts are written by append_name_part(). Errors: 2046 for a bad
/// `durable`/`persistent` value, conflicting names, no client-id (ActiveMQ)
/// or no id (RabbitMQ); 2152 for an empty name or a result that breaks the
/// name rules (too long).
caf::expected<std::string> durable_name(const frame& f,
                                        std::string_view client_id);

/// SUBSCRIBE headers qmesh does not implement and refuses instead of
/// ignoring them: an error (2046, naming the header) for the first one `f`
/// carries, or none. Boolean ActiveMQ options are refused only when true.
caf::error refused_subscribe_header(const frame& f);

/// Maps a temp-queue NAME to its real queue name; nullptr if it has none.
using temp_lookup = std::function<const std::string*(std::string_view)>;

/// `message::expiry` of a SEND whose `expires` time has already passed: the
/// message is accepted (and receipted) but dropped, as it would expire on
/// arrival.
constexpr int64_t expired_on_arrival = -1;

/// Builds the message of a SEND frame, moving the body out of `f`. `now_ms`
/// is the wall clock (ms since the epoch) for `expires`. Header errors are
/// 2046 (bad message-id, persistent, expires) or 2050 (priority).
caf::error to_message(frame& f, message& out, int64_t now_ms,
                      const temp_lookup& temps);

/// True for headers that are not user properties (mapped, or frame-level).
bool is_reserved_header(std::string_view name) noexcept;

/// The MESSAGE destination of a delivery: `/topic/<t>` if the message was
/// published on topic t, else `dest` (the subscription's destination).
std::string_view delivery_destination(const message& m, std::string_view dest,
                                      std::string& scratch);

/// Appends the MESSAGE frame for `m` (consumed from a subscription) to
/// `out`, its headers written for version `v`. `subscription` empty: no
/// `subscription` header (a 1.0 SUBSCRIBE without id). `delivery_id` names
/// the delivery for ACK and NACK: in 1.2 it is the `ack` header (empty for
/// ack:auto subscriptions: none) and `message-id` is the message's id; in
/// 1.0 and 1.1, which acknowledge by `message-id`, it is the `message-id`
/// (never empty) and the message's id goes in `qmesh-message-id`.
void append_message(std::string& out, const message& m,
                    std::string_view subscription, std::string_view dest,
                    std::string_view delivery_id,
                    protocol_version v = protocol_version::v1_2);

/// Appends a RECEIPT frame.
void append_receipt(std::string& out, std::string_view receipt_id,
                    protocol_version v = protocol_version::v1_2);

/// Appends an ERROR frame: `message: <text>`, `qmesh-reason: <mqrc>`,
/// `receipt-id` if non-empty, `version` (the versions the server speaks)
/// if `versions` is non-empty, and the text as body; headers written for
/// version `v`.
void append_error(std::string& out, int mqrc, std::string_view text,
                  std::string_view receipt_id, std::string_view versions = {},
                  protocol_version v = protocol_version::v1_2);

/// Appends an ERROR frame for a CAF error (qmesh reasons keep their MQRC;
/// anything else is 2195).
void append_error(std::string& out, const caf::error& err,
                  std::string_view receipt_id,
                  protocol_version v = protocol_version::v1_2);

} // namespace qmesh::stomp
