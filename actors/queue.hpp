// The queue actor: one per queue.
//
// Its ledger (store/queue_ledger.hpp) owns the messages and their fate; the
// actor owns who waits for them: waiting getters, consumers with their
// windows and unacked deliveries, paused producers, and the replies that
// wait for the journal. Everything here runs on the actor's thread; the
// state is never shared.
//
// Durability: every transition of a persistent message is journaled by the
// ledger; the queue replies to a put, a destructive get or an ack, and
// sends an automatic-ack delivery, only once the journal says the record is
// on disk (atom::durable). Replies and deliveries that wait keep their
// order (durable_waits).
//
// Ownership: openers and consumers are monitored; when one goes, its opens
// are closed and its unacked deliveries return to the queue (redelivered).
// Units of work are owned by the queue manager, which tells the queue to
// commit or back them out. Messages that pass the backout threshold, or are
// nacked without requeue, move to the backout queue or the dead-letter queue
// through the queue manager; a message is never dropped silently.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/durability.hpp"
#include "actors/flow_control.hpp"
#include "core/message_store.hpp"
#include "store/queue_ledger.hpp"

namespace qmesh {

/// What a queue actor starts with.
struct queue_config {
  std::string name;
  /// Name of the owning queue manager (stamped as origin_qmgr).
  std::string qmgr;
  queue_attrs attrs;
  attr_limits limits;
  /// Where dead-lettered messages go; may be null in unit tests (they are
  /// then kept on the queue).
  queue_manager_actor qm;
  /// How long a put may wait for room when the message does not say
  /// (ms; -1 = unlimited, 0 = no wait).
  int64_t put_wait_ms = 60'000;
  /// The node's memory alarm; null = none (unit tests).
  std::shared_ptr<flow_control> flow;
  /// Where persistent transitions go; null = nowhere (unit tests, nodes
  /// without persistence).
  std::shared_ptr<store::journal_sink> journal;
  /// Persistent messages recovered from the journal (key, message), in
  /// key order; the queue starts with them (moved out). Shared, since
  /// spawning copies the config.
  std::shared_ptr<std::vector<std::pair<uint64_t, message>>> recovered;
};

/// The dead-letter reasons a queue gives.
namespace dlq_reason {
constexpr const char* backout = "2362 backout_threshold_reached";
constexpr const char* nacked = "nack_without_requeue";
} // namespace dlq_reason

struct queue_state {
  static inline const char* name = "qmesh.queue";

  // -- member types -----------------------------------------------------------

  struct waiter {
    caf::typed_response_promise<message> rp;
    get_options opts;
    /// Who asked (monitored while it waits; its waiters end with it).
    caf::actor_addr requester;
  };

  /// A put (or batch) waiting for room: its producer is paused until the
  /// reply. FIFO: later puts wait behind it, so order is kept.
  struct blocked_put {
    enum kind_t : uint8_t { single, batch, in_uow, publication };
    kind_t kind = single;
    uint64_t id = 0;
    std::vector<message> msgs;
    uint64_t uow = 0;
    /// single, in_uow: replies the msg_id.
    caf::typed_response_promise<msg_id> rp_id;
    /// batch, publication: replies the count.
    caf::typed_response_promise<uint64_t> rp_count;
    /// Actor-clock nanoseconds when it started waiting.
    int64_t since = 0;
  };

  struct consumer {
    consumer_actor hdl;
    uint32_t prefetch = 0;
    ack_mode mode = ack_mode::automatic;
    /// Deliveries not yet settled (acked, nacked or credited).
    uint32_t in_flight = 0;
    uint64_t next_tag = 1;
    /// Client mode: the delivery with tag `unacked_base + i` is unacked[i];
    /// settled ones are empty until the front is popped.
    std::deque<std::optional<stored_message>> unacked;
    uint64_t unacked_base = 1;

    uint32_t window() const noexcept {
      return in_flight < prefetch ? prefetch - in_flight : 0;
    }
  };

  struct opener {
    uint32_t input = 0;
    uint32_t output = 0;
  };

  // -- state ------------------------------------------------------------------

  queue_actor::pointer self = nullptr;
  queue_config cfg;
  /// The messages and their lifecycle (set when the actor starts).
  std::optional<queue_ledger> ledger;
  std::map<uint64_t, waiter> waiters;
  uint64_t next_waiter_id = 1;
  std::map<uint64_t, consumer> consumers;
  uint64_t next_consumer_id = 1;
  /// Id of the consumer served last (round robin).
  uint64_t last_served = 0;
  std::unordered_map<caf::actor_addr, opener> openers;
  /// Replies and deliveries waiting for the journal, in order.
  durable_waits waits;
  /// Messages moving out (dead-letter, backout) until the target confirms,
  /// by token; back to ready if it refuses.
  std::unordered_map<uint64_t, stored_message> moving;
  uint64_t next_move = 1;
  /// Actor-clock time of the earliest pending sweep, 0 if none.
  int64_t sweep_at = 0;
  /// Paused producers, oldest first (ids ascending).
  std::deque<blocked_put> blocked;
  uint64_t next_blocked_id = 1;
  /// Requesters that have waited here, monitored once each until they go.
  std::unordered_set<caf::actor_addr> watched;
  /// Registered with the flow control to hear when the alarm clears.
  bool resume_asked = false;

  // -- statistics -------------------------------------------------------------

  uint32_t open_input = 0;
  uint32_t open_output = 0;
  uint64_t rejected_total = 0;
  uint64_t blocked_total = 0;
  int64_t blocked_ns_total = 0;

  // -- operations (one per handler) -------------------------------------------

  caf::result<msg_id> put(message& msg);
  caf::result<uint64_t> put_batch(std::vector<message>& msgs);
  caf::result<msg_id> put_in_uow(message& msg, uint64_t uow);
  /// Messages from another queue manager, held under `uow` with their
  /// descriptors kept; returns the refused ones with their reasons.
  caf::result<std::vector<message>> transfer(std::vector<message>& msgs,
                                             uint64_t uow, bool force);
  caf::result<message> get(get_options& opts);
  /// Up to `max` messages that are ready now, in queue order (a browse
  /// goes on from the cursor); no wait. Replies once their removals are
  /// durable, as get() does.
  caf::result<std::vector<message>> get_many(get_options& opts, uint32_t max);
  caf::result<uint64_t> consume(consumer_actor hdl, uint32_t prefetch,
                                ack_mode mode);
  void credit(uint64_t consumer_id, uint32_t n);
  caf::result<uint64_t> ack(uint64_t consumer_id, uint64_t first,
                            uint64_t last);
  caf::result<uint64_t> nack(uint64_t consumer_id, uint64_t first,
                             uint64_t last, bool requeue);
  caf::result<atom::ok> cancel(uint64_t consumer_id);
  caf::result<atom::ok> commit(uint64_t uow);
  caf::result<atom::ok> backout(uint64_t uow);
  caf::result<atom::ok> open(open_mode mode, const caf::actor_addr& owner);
  caf::result<atom::ok> close(open_mode mode, const caf::actor_addr& owner);
  queue_status inquire() const;
  caf::result<queue_status> alter(const attr_map& changes);
  uint64_t purge();
  caf::result<uint64_t> delete_queue(bool purge_first);
  caf::result<atom::ok> accept_dead_letter(message& msg,
                                           const std::string& from,
                                           uint64_t from_key);
  void on_durable(uint64_t seq, bool ok);
  caf::result<uint64_t> publish(std::vector<message>& msgs);
  void cancel_waits(const caf::actor_addr& requester);
  void on_timeout(uint64_t waiter_id);
  void on_put_timeout(uint64_t blocked_id);
  void on_resume();
  void sweep();
  void on_down(const caf::down_msg& dm);

  // -- helpers ----------------------------------------------------------------

  /// Messages the queue is responsible for: ready, unacked, uncommitted.
  uint64_t depth() const noexcept {
    return ledger->depth();
  }

  /// True while the node's memory alarm is raised.
  bool alarmed() const noexcept {
    return cfg.flow && cfg.flow->alarmed();
  }

  /// Checks one message against the queue's limits (everything but room).
  caf::error check_put(const message& msg) const;

  /// Checks a get's browse options (a get and a batch get alike).
  static caf::error check_browse(const get_options& opts);

  /// 2053 for a put of `n` that finds no room (policy reject, or no wait).
  caf::error full_error(size_t n);

  /// True if `n` more messages fit: below max_depth, or an empty queue (a
  /// batch larger than max_depth waits for an empty queue); never while
  /// the memory alarm is raised or earlier puts wait.
  bool has_room(size_t n) const noexcept;

  /// Room for `n` now, by the policy: true = go ahead (drop-oldest may
  /// make room later in trim()); false = refuse or block.
  bool admits(size_t n) const noexcept;

  /// Drop-oldest: drops ready messages, oldest first, while over
  /// max_depth.
  void trim();

  /// The wait a put of `msg` may take (ms; -1 unlimited).
  int64_t put_wait(const message& msg) const noexcept;

  /// Parks a put until there is room; arms its wait. Returns its id.
  blocked_put& block(blocked_put::kind_t kind, std::vector<message> msgs,
                     int64_t wait_ms);

  /// Takes blocked puts, oldest first, while they fit; true if it took
  /// any.
  bool admit_blocked();

  /// Fails every blocked put that `pred` selects with `make_error(put)`.
  template <class Pred, class MakeError>
  void fail_blocked_if(Pred pred, MakeError make_error);

  /// Fails the blocked puts of a unit of work that ended.
  void fail_blocked_uow(uint64_t uow);

  /// Fails every blocked put with 2053 (the policy became reject).
  void fail_all_blocked();

  /// A single put that found no room: 2053 at once (reject, or no put
  /// wait), else blocked (`uow` for kind in_uow).
  caf::result<msg_id> refuse_or_block(message&& msg, blocked_put::kind_t kind,
                                      uint64_t uow);

  /// Holds a checked put under a unit of work; the journal seq to wait
  /// for in `seq`.
  msg_id hold_in_uow(message&& msg, uint64_t uow, uint64_t& seq);

  /// Accepts a put now (limits already checked): stamps and hands it to
  /// the ledger; raises `seq` to the journal seq to wait for.
  msg_id accept(message&& msg, int64_t put_time, uint64_t& seq);

  /// Accepts publications now: each checked alone; refused ones are
  /// dead-lettered. Returns how many were taken; raises `seq`.
  uint64_t accept_publications(std::vector<message>& msgs, uint64_t& seq);

  /// Replies `value` on `rp` once `seq` is on disk (2102 if the write
  /// failed; at once for seq 0).
  template <class T>
  void reply_after(uint64_t seq, caf::typed_response_promise<T> rp, T value);

  /// `value` now if nothing waits for `seq`, else a promise replied once
  /// it is on disk.
  template <class T>
  caf::result<T> reply_durable(uint64_t seq, T value);

  /// 2102: the journal refuses persistent puts (disk guard, failure).
  caf::error journal_refusal() const;

  /// True if the put stores a persistent message on this queue.
  bool persistent(const message& msg) const noexcept;

  /// Ends a blocked put with `err` and counts its wait.
  void fail_blocked(blocked_put& b, const caf::error& err);

  /// Counts the end of a blocked put's wait.
  void unblocked(const blocked_put& b);

  /// Asks the flow control for a resume once the alarm clears.
  void ask_resume();

  /// Monitors a waiting requester (once until it goes).
  void watch(const caf::actor_addr& who);

  /// Resolves what a message left to the queue (priority, persistence,
  /// msg_id) and clears its delivery tag; the rest of the descriptor stays.
  void resolve_defaults(message& msg) const;

  /// resolve_defaults(), then stamps the QM fields; `put_time` is
  /// milliseconds since the epoch (one clock read per batch).
  void stamp(message& msg, int64_t put_time) const;

  /// Absolute expiry on the actor clock (0 = never).
  int64_t expires_at(const message& msg) const noexcept;

  /// Serves waiting getters, then consumers, from the ready messages.
  void serve();
  void serve_waiters();
  void dispatch();

  /// Takes or browses per `opts` right now; `seq` is the journal seq the
  /// reply must wait for.
  std::optional<message> try_get(const get_options& opts, uint64_t& seq);

  /// A delivered message came back (`was_unacked`: from a consumer): count
  /// it and requeue, or move it to the backout queue past the threshold.
  void roll_back(stored_message&& entry, bool was_unacked);

  /// Moves a taken message out through the queue manager; it stays this
  /// queue's until the target confirms it stored it, and returns to ready
  /// if the target refuses.
  void dead_letter(stored_message&& entry, const std::string& target,
                   const std::string& reason, bool was_unacked);

  /// Fails every waiter that `pred` selects with `err`.
  template <class Pred>
  void fail_waiters(Pred pred, const caf::error& err);

  /// Settles a client-mode consumer's tags [first, last], calling f for each
  /// unacked delivery in tag order; replies how many.
  template <class F>
  caf::result<uint64_t> settle(uint64_t consumer_id, uint64_t first,
                               uint64_t last, F f);

  /// Removes a consumer, rolling back its unacked deliveries.
  void drop_consumer(std::map<uint64_t, consumer>::iterator it);

  void schedule_sweep(int64_t at);
  int64_t now() const;
};

/// Spawnable behavior of the queue actor.
queue_actor::behavior_type
queue_impl(queue_actor::stateful_pointer<queue_state> self, queue_config cfg);

} // namespace qmesh
