// The queue actor: one per queue.
//
// Owns the queue's ready messages (message_store), waiting getters, consumers
// with their windows and unacked deliveries, uncommitted units of work, and
// statistics. Everything here runs on the actor's thread; the state is never
// shared.
//
// Ownership: openers and consumers are monitored; when one goes, its opens
// are closed and its unacked deliveries return to the queue (redelivered).
// Units of work are owned by the queue manager, which tells the queue to
// commit or back them out. Messages that pass the backout threshold, or are
// nacked without requeue, move to the backout queue or the dead-letter queue
// through the queue manager; a message is never dropped silently.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/message_store.hpp"

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

  struct uow_work {
    std::vector<stored_message> puts;
    std::vector<stored_message> gets;
  };

  // -- state ------------------------------------------------------------------

  queue_actor::pointer self = nullptr;
  queue_config cfg;
  message_store store;
  std::map<uint64_t, waiter> waiters;
  uint64_t next_waiter_id = 1;
  std::map<uint64_t, consumer> consumers;
  uint64_t next_consumer_id = 1;
  /// Id of the consumer served last (round robin).
  uint64_t last_served = 0;
  std::unordered_map<caf::actor_addr, opener> openers;
  std::unordered_map<uint64_t, uow_work> uows;
  /// Actor-clock time of the earliest pending sweep, 0 if none.
  int64_t sweep_at = 0;

  // -- statistics -------------------------------------------------------------

  uint64_t unacked_total = 0;
  uint64_t uncommitted_total = 0;
  uint32_t open_input = 0;
  uint32_t open_output = 0;
  uint64_t enqueued_total = 0;
  uint64_t dequeued_total = 0;
  uint64_t expired_total = 0;

  // -- operations (one per handler) -------------------------------------------

  caf::result<msg_id> put(message& msg);
  caf::result<uint64_t> put_batch(std::vector<message>& msgs);
  caf::result<msg_id> put_in_uow(message& msg, uint64_t uow);
  caf::result<message> get(get_options& opts);
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
  void accept_dead_letter(message& msg);
  void on_timeout(uint64_t waiter_id);
  void sweep();
  void on_down(const caf::down_msg& dm);

  // -- helpers ----------------------------------------------------------------

  /// Messages the queue is responsible for: ready, unacked, uncommitted.
  uint64_t depth() const noexcept {
    return store.size() + unacked_total + uncommitted_total;
  }

  /// Checks a put of `n` messages against the queue's limits.
  caf::error check_put(const message& msg, size_t n = 1) const;

  /// Resolves priority and persistence and stamps the QM fields;
  /// `put_time` is milliseconds since the epoch (one clock read per batch).
  void stamp(message& msg, int64_t put_time) const;

  /// Absolute expiry on the actor clock (0 = never).
  int64_t expires_at(const message& msg) const noexcept;

  /// Makes a message visible to getters and consumers.
  void enqueue(message&& msg, int64_t expires_at);

  /// Serves waiting getters, then consumers, from the ready messages.
  void serve();
  void serve_waiters();
  void dispatch();

  /// Takes or browses per `opts` right now.
  std::optional<message> try_get(const get_options& opts);

  /// A delivered message came back: count it and requeue or dead-letter.
  void roll_back(stored_message&& entry);

  /// Moves a message out through the queue manager.
  void dead_letter(message&& msg, const std::string& target,
                   const char* reason);

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
