// Journal records: what the write-ahead journal stores, and their framing.
//
// Plain C++ (no actors, no I/O). A record is one frame on disk:
//
//   offset  size  field
//   0       4     payload length N (little-endian)
//   4       4     CRC32C over bytes [8, 17 + N): seq, kind, payload
//   8       8     sequence number (little-endian), strictly increasing
//   16      1     record kind
//   17      N     payload (the record body, binary)
//
// Message keys: a put's key is the sequence number of the record that first
// stored it (0 in an appended put_record means "use this record's seq").
// Compaction re-appends a live put under a new seq with its original key, so
// removals, delivery counts and commits keep naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "core/message.hpp"
#include "core/queue_attrs.hpp"
#include "core/requests.hpp"

namespace qmesh::store {

/// On-disk record kinds; values are part of the file format: never reuse.
enum class record_kind : uint8_t {
  queue_define = 1,   // queue_record: define, or alter (replaces attributes)
  queue_delete = 2,   // name_record
  put = 3,            // put_record
  remove = 4,         // remove_record: get, ack, expiry, purge, drop
  move = 5,           // move_record: dead-letter or backout move
  delivery_count = 6, // count_record
  uow_commit = 7,     // uow_record
  uow_backout = 8,    // uow_record
  sub_define = 9,     // sub_record (durable subscriptions only)
  sub_delete = 10,    // name_record
  retained = 11,      // retained_record
  transfer_commit = 12, // transfer_record
};

/// A queue definition (define or alter).
struct queue_record {
  std::string name;
  queue_attrs attrs;
  /// System queue (dead-letter, managed queue of a durable subscription).
  bool system = false;
};

/// A name: deleted queue or deleted durable subscription.
struct name_record {
  std::string name;
};

/// A persistent message stored on a queue. With uow != 0 it is part of that
/// unit of work and counts only once a uow_commit for it follows.
struct put_record {
  std::string queue;
  uint64_t key = 0;
  uint64_t uow = 0;
  message msg;
};

/// Messages that left a queue for good. With uow != 0: a get under that unit
/// of work, final only once a uow_commit for it follows.
struct remove_record {
  std::string queue;
  uint64_t uow = 0;
  std::vector<uint64_t> keys;
};

/// One message leaves `from` and lands on `to.queue` atomically (to.uow is
/// always 0; to.key 0 = this record's seq).
struct move_record {
  std::string from;
  uint64_t from_key = 0;
  put_record to;
};

/// A stored message's delivery count changed (delivered to a consumer that
/// acknowledges, or rolled back).
struct count_record {
  std::string queue;
  uint64_t key = 0;
  uint32_t delivery_count = 0;
};

/// A unit of work ended (commit or backout, by the record's kind).
struct uow_record {
  uint64_t uow = 0;
};

/// A durable subscription (id and delivered_total are not meaningful).
struct sub_record {
  subscription_info info;
};

/// The retained publication of a topic; `present` false clears it.
struct retained_record {
  std::string topic;
  bool present = false;
  message msg;
};

/// A unit of work that stored messages from another queue manager's
/// channel committed: exactly a uow_commit of `uow`, plus the transfer ids
/// it stored from `sender` (the receiver's memory of what it has, so that a
/// resent message is skipped even after a restart).
/// How many transfer ids per sender the journal keeps recoverable: above
/// any channel's window of unconfirmed messages (qm_config::channel_window).
constexpr size_t transfer_ids_kept = 16384;

struct transfer_record {
  uint64_t uow = 0;
  std::string sender;
  std::vector<std::string> ids;
};

/// The body of a record; the kind follows from the alternative, except
/// uow_record, whose kind says commit or backout.
using record_body
  = std::variant<queue_record, name_record, put_record, remove_record,
                 move_record, count_record, uow_record, sub_record,
                 retained_record, transfer_record>;

/// A decoded record.
struct record {
  uint64_t seq = 0;
  record_kind kind = record_kind::put;
  record_body body;
};

/// Bytes of a frame's header (length, CRC, seq, kind).
constexpr size_t frame_header_size = 17;

/// Largest payload a frame may declare (a longer length is corruption).
constexpr uint32_t max_payload_size = 256u * 1024 * 1024;

/// Appends one frame for (seq, kind, body) to `out`.
void encode(uint64_t seq, record_kind kind, const record_body& body,
            std::vector<char>& out);

/// What decode() found at the start of `in`.
enum class frame_status {
  ok,         // a whole, valid frame: `rec` and `size` are set
  truncated,  // fewer bytes than the header or the declared length
  bad_length, // declared length above max_payload_size
  bad_crc,    // CRC mismatch
  bad_body,   // CRC fine but the payload does not decode for its kind
};

struct decoded_frame {
  frame_status status = frame_status::truncated;
  record rec;
  /// Bytes the frame occupies (header + payload) when status is ok or
  /// bad_crc / bad_body (declared length), else 0.
  size_t size = 0;
};

/// Decodes the frame at the start of `in`.
decoded_frame decode(std::span<const char> in);

/// The kind a body is stored under (uow_record: `uow_commit`; pass the kind
/// explicitly to encode() for a backout).
record_kind kind_of(const record_body& body) noexcept;

/// Whether `body` is the alternative `kind` is stored as (name_record for
/// both deletes, uow_record for commit and backout).
bool kind_matches(record_kind kind, const record_body& body) noexcept;

} // namespace qmesh::store
