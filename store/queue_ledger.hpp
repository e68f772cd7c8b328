// The one owner of a queue's message lifecycle.
//
// Holds the queue's ready messages, the persistent puts on their way to
// disk, and the counts of delivered-unacked, uncommitted and moving
// messages; every change of a message's fate is one named transition here,
// and each transition of a journaled (persistent) message appends its
// record through the journal_sink given at construction. The queue actor
// keeps the who (waiters, consumers, units of work, replies) and calls the
// ledger for the what.
//
// Durability: a transition returns the seq of its journal record (0 when
// nothing needs to wait: a non-persistent message or the null journal). A
// persistent put becomes visible (ready) only in on_durable() for its seq;
// the caller replies to gets, acks and commits only after on_durable() for
// the seq they returned.
//
// Plain C++, single-threaded (the queue actor's thread). Time is passed in.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/message_store.hpp"
#include "store/journal_sink.hpp"

namespace qmesh {

class queue_ledger {
public:
  /// `journal` null means store::null_journal.
  queue_ledger(std::string queue,
               std::shared_ptr<store::journal_sink> journal,
               std::shared_ptr<store::durability_listener> listener);

  // -- what the queue holds ---------------------------------------------------

  const message_store& ready() const noexcept { return ready_; }

  /// Messages the queue is responsible for: ready, on their way to disk,
  /// delivered-unacked, uncommitted and moving out.
  uint64_t depth() const noexcept {
    return ready_.size() + pending_.size() + unacked_ + uncommitted_
           + moving_;
  }

  uint64_t unacked() const noexcept { return unacked_; }
  uint64_t uncommitted() const noexcept { return uncommitted_; }

  /// False while persistent puts must be refused (disk guard, journal
  /// failure); refusal() says why.
  bool accepting_persistent() const noexcept;
  std::string refusal() const;

  // -- transitions ------------------------------------------------------------

  /// A new message (stamped). Persistent: journaled and ready once durable
  /// (returns the seq); else ready now (returns 0). `append_failed` if the
  /// journal failed (nothing was taken).
  uint64_t accept(message&& msg, int64_t expires_at);

  /// A message arriving from another queue (dead-letter or backout move):
  /// like accept(), but one move record also removes it from `from`
  /// (`from_key` 0: it was not journaled there).
  uint64_t accept_moved(message&& msg, int64_t expires_at,
                        const std::string& from, uint64_t from_key);

  /// A message recovered from the journal at start: ready at once.
  void recover(uint64_t key, message&& msg, int64_t expires_at);

  /// A put under unit of work `uow`: journaled with it, held uncommitted
  /// until commit() or backout().
  uint64_t hold_put(uint64_t uow, message&& msg, int64_t expires_at);

  /// Takes the next ready message that matches; expired ones met on the way
  /// are dropped (journaled) and counted.
  std::optional<stored_message> take(const match_spec& spec, int64_t now);

  /// A taken message leaves for good (destructive get, automatic-ack
  /// delivery, ack): journals its removal; returns the seq to wait for.
  uint64_t consume(const stored_message& entry);

  /// A taken message goes to a consumer that acknowledges: counted as
  /// unacked; its delivery count on disk becomes count + 1, so that after a
  /// crash it comes back redelivered.
  void deliver(const stored_message& entry);

  /// An unacked delivery was acked: journals its removal.
  uint64_t settle(const stored_message& entry);

  /// A delivered message (unacked delivery, or a get of a backed-out unit
  /// of work) returns to its place; the caller has raised its delivery
  /// count (journaled here); `was_unacked` says which.
  void restore(stored_message&& entry, bool was_unacked);

  /// A delivered message leaves by a move (backout threshold, nack without
  /// requeue): counted as moving until moved() or move_failed().
  void moving_out(bool was_unacked);

  void moved() noexcept { --moving_; ++dequeued_; }
  /// The move was refused: the message returns to its place (ready).
  void move_failed(stored_message&& entry);

  /// A get under unit of work `uow`: journaled with it, held uncommitted.
  uint64_t hold_get(uint64_t uow, stored_message&& entry);

  /// True if unit of work `uow` holds messages here.
  bool in_uow(uint64_t uow) const { return uows_.count(uow) > 0; }

  /// Ends unit of work `uow` as committed (the commit record is the queue
  /// manager's, already on disk): its puts become ready, its gets final.
  void commit(uint64_t uow);

  /// Ends unit of work `uow` as backed out (the backout record is the
  /// queue manager's): its puts are dropped, its gets restored. Returns
  /// the gets for the caller to roll back (restore() or a backout move).
  std::vector<stored_message> backout(uint64_t uow);

  /// Drops every ready message (purge, delete); returns how many.
  uint64_t purge();

  /// Drops the oldest ready message (drop-oldest policy); false if none.
  bool drop_oldest(int64_t now);

  /// Drops expired ready messages; returns how many.
  uint64_t drop_expired(int64_t now);

  /// Records up to `seq` are on disk (ok) or failed (!ok): pending puts up
  /// to it become ready (or are dropped on failure). Returns how many
  /// became ready.
  size_t on_durable(uint64_t seq, bool ok);

  // -- counters ---------------------------------------------------------------

  uint64_t enqueued_total() const noexcept { return enqueued_; }
  uint64_t dequeued_total() const noexcept { return dequeued_; }
  uint64_t expired_total() const noexcept { return expired_; }
  uint64_t dropped_total() const noexcept { return dropped_; }
  /// Counts a message that left outside the ledger's own transitions.
  void count_dequeued(uint64_t n = 1) noexcept { dequeued_ += n; }

private:
  struct pending_put {
    uint64_t seq;
    stored_message entry;
  };

  /// Journals the removal of messages the ready store dropped.
  void journal_dropped();
  uint64_t append(store::record_kind kind, const store::record_body& body);

  std::string queue_;
  std::shared_ptr<store::journal_sink> journal_;
  std::shared_ptr<store::durability_listener> listener_;
  message_store ready_;
  std::deque<pending_put> pending_;
  struct uow_work {
    std::vector<stored_message> puts;
    std::vector<stored_message> gets;
  };
  std::unordered_map<uint64_t, uow_work> uows_;
  uint64_t unacked_ = 0;
  uint64_t uncommitted_ = 0;
  uint64_t moving_ = 0;
  uint64_t enqueued_ = 0;
  uint64_t dequeued_ = 0;
  uint64_t expired_ = 0;
  uint64_t dropped_ = 0;
};

} // namespace qmesh
