// The ready messages of one queue: priority 0-9 (higher first), FIFO within a
// priority, with expiry and optional match indexes.
//
// Plain C++, owned by one queue actor (single-threaded). Time is passed in
// (`now`, nanoseconds of the actor clock) so tests control it.
//
// Cost: put and get are O(log n) map operations with an end/begin hint, i.e.
// O(1) amortised; match by msg_id / correl_id uses indexes that are built on
// the first matching get and maintained from then on, so queues never matched
// by id pay nothing for them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/message.hpp"

namespace qmesh {

/// What a get or browse must match; empty fields match anything.
struct match_spec {
  msg_id id;
  std::string correl_id;

  bool any() const noexcept { return id.empty() && correl_id.empty(); }
  bool matches(const message& msg) const noexcept {
    return (id.empty() || msg.id == id)
           && (correl_id.empty() || msg.correl_id == correl_id);
  }
};

/// A message as the store keeps it: the message plus its absolute expiry.
struct stored_message {
  message msg;
  /// Actor-clock nanoseconds after which it must not be delivered; 0 = never.
  int64_t expires_at = 0;
  /// Position in queue order; assigned by the store, kept across requeue.
  uint64_t key = 0;
  /// The journal's key of a persistent message (0: not journaled).
  uint64_t jkey = 0;

  bool expired(int64_t now) const noexcept {
    return expires_at != 0 && now >= expires_at;
  }
};

class message_store {
public:
  /// Queue-order key: higher priority first, then arrival sequence.
  static uint64_t make_key(int priority, uint64_t seq) noexcept {
    return (static_cast<uint64_t>(9 - priority) << 59) | seq;
  }

  message_store();
  ~message_store();
  message_store(message_store&&) noexcept;
  message_store& operator=(message_store&&) noexcept;

  /// Adds a new message at the back of its priority (priority resolved);
  /// `jkey` is its journal key (0: not journaled).
  void push(message&& msg, int64_t expires_at, uint64_t jkey = 0);

  /// Puts a message back at its original position (after nack or backout).
  void restore(stored_message&& entry);

  /// Removes and returns the first message in queue order that matches
  /// `spec`; expired messages met on the way are dropped and counted in
  /// `expired`.
  std::optional<stored_message> take(const match_spec& spec, int64_t now,
                                     uint64_t& expired);

  /// Returns (a copy of) the first matching message after `cursor` in queue
  /// order without removing it (cursor 0 = from the start); its `tag` is the
  /// cursor for the next browse.
  std::optional<message> browse(const match_spec& spec, uint64_t cursor,
                                int64_t now) const;

  /// Drops every expired message; returns how many.
  uint64_t drop_expired(int64_t now);

  /// Earliest expiry among stored messages, 0 if none expires.
  int64_t next_expiry() const noexcept;

  /// Removes everything; returns how many.
  uint64_t clear();

  /// Put time of the oldest message (smallest put_time), 0 if empty.
  int64_t oldest_put_time() const noexcept;

  /// Journal keys of the journaled messages dropped since the last call
  /// (expired on take or sweep, cleared): the owner journals their removal.
  std::vector<uint64_t> take_dropped_keys() noexcept {
    return std::exchange(dropped_keys_, {});
  }

  /// True if take_dropped_keys() has something (cheap: the hot path asks
  /// after every take).
  bool has_dropped_keys() const noexcept { return !dropped_keys_.empty(); }

  size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

private:
  using map_type = std::map<uint64_t, stored_message>;
  struct indexes;

  void insert(stored_message&& entry);
  stored_message extract(map_type::iterator it);
  void build_indexes();
  map_type::const_iterator find_match(const match_spec& spec,
                                      uint64_t after) const;

  map_type entries_;
  /// (expires_at, key) of every message that expires.
  std::set<std::pair<int64_t, uint64_t>> expiries_;
  std::unique_ptr<indexes> indexes_;
  uint64_t next_seq_ = 1;
  std::vector<uint64_t> dropped_keys_;
};

} // namespace qmesh
