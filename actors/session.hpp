// The session actor: one per client connection, whatever the protocol.
//
// Everything a client does goes through its session, so the session is the
// owner the queue manager and the queues see: opens, consumers, units of
// work and non-durable subscriptions belong to it. The session monitors its
// client and ends when the client goes (disconnect, crash, network loss);
// the monitors on the session then close the opens, return unacked
// deliveries (redelivered), back out uncommitted work and end non-durable
// subscriptions.
//
// A get that waits is the one request a session keeps open on a queue for
// long. When the client goes, the session first ends its waiting gets
// (the queue fails them) and hands back any message that was already on
// its way, so no message is given to a client that is gone; then it ends.
//
// Consumers get session-wide ids: deliveries from any queue reach the client
// tagged with that id, and the client acks through the session.
//
// Who may speak for the client: an actor on the client actor's node (the
// client itself, or the blocking actors a native client sends its calls
// from; for in-process front-ends the local node). Every request from
// anyone else, and every anonymous message, is refused (2035 naming the
// session) or, when no reply is expected, dropped; both are logged. The
// node of a remote sender is what BASP says it is: see docs/operations.md
// ("What the native port trusts") for how far that goes.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "core/users.hpp"

namespace qmesh {

/// What a session's user may do, given by the front door.
struct session_access {
  /// The user's entry; null when the node has no users (all allowed).
  std::shared_ptr<const user_entry> user;
  /// The client's address, for refusal logs.
  std::string peer;
  /// A session without credentials on a node with users (a health probe):
  /// it answers status and cluster only.
  bool probe_only = false;
};

struct session_state {
  static inline const char* name = "qmesh.session";

  struct consumer_link {
    queue_actor queue;
    uint64_t queue_consumer_id = 0;
    ack_mode mode = ack_mode::automatic;
  };

  /// A get relayed to the queue manager and not answered yet.
  struct pending_get {
    /// The queue's address as the client gave it.
    std::string queue;
    /// Removes the message from its queue: not a browse (a copy), not
    /// under a unit of work (a backout returns that one). Only such a
    /// message goes back when the client is gone.
    bool destructive = false;
  };

  session_actor::pointer self = nullptr;
  queue_manager_actor qm;
  /// Receives this session's deliveries; its end ends the session.
  consumer_actor client;
  std::unordered_map<uint64_t, consumer_link> consumers;
  /// (queue, queue's consumer id) → session consumer id.
  std::map<std::pair<caf::actor_addr, uint64_t>, uint64_t> by_queue;
  uint64_t next_consumer_id = 1;
  /// Deliveries that overtook the reply to their consume request (the queue
  /// delivers at once, the reply travels through the queue manager).
  std::map<std::pair<caf::actor_addr, uint64_t>, std::vector<delivery_batch>>
    early;
  std::unordered_map<uint64_t, pending_get> gets;
  uint64_t next_get = 1;
  /// Who the client is and what it may do.
  session_access access;
  /// Decisions already taken, per permission and object: a permission is
  /// checked once per object, not per message (bounded; cleared when full).
  std::map<std::pair<permission, std::string>, bool, std::less<>> decisions;
  /// Temporary queues this session defined, the subscriptions it made and
  /// their managed queues: always its own to use.
  std::set<std::string, std::less<>> own_temporaries;
  /// The client went; the session ends once its gets are answered.
  bool leaving = false;
  /// The session's exit reason: none when its client went, 2009 with the
  /// text when an administrator closed it (its client is told by this).
  caf::error exit_reason;

  /// Requests refused because of their sender (for log throttling).
  uint64_t refused_senders = 0;
  /// Consume requests waiting for the queue manager's reply: only then
  /// may deliveries from an unknown queue arrive (they overtook it).
  uint64_t pending_consumes = 0;

  /// None if the current message comes from an actor on the client's node;
  /// else 2035 naming the session and the request `what` (logged with the
  /// sender). One node comparison.
  caf::error check_sender(const char* what);

  /// check_sender() for messages without a reply: true if it may be
  /// handled; else logs and the caller drops it.
  bool sender_ok(const char* what) { return !check_sender(what); }

  /// "user NAME from PEER" (or "anonymous from PEER"), for log lines.
  std::string who() const;

  /// The queue manager's status with this session's user.
  caf::result<qm_status> status();

  /// None if the user holds `p` on `object`; else 2035 naming both (and
  /// logs the refusal with user and peer).
  caf::error check(permission p, const std::string& object);

  /// check() of put on `address` and on the message's reply-to queue.
  caf::error check_put(const std::string& address, const message& msg);

  /// Most cached decisions.
  static constexpr size_t max_cached_decisions = 4096;

  /// Relays a get; a message that arrives after the client went goes back
  /// to its queue.
  caf::result<message> get(const std::string& address, get_options& opts);

  /// Relays a batch get, as get() does a get.
  caf::result<std::vector<message>>
  get_many(const std::string& address, get_options& opts, uint32_t max);

  /// Registers a get about to be relayed; returns its token.
  uint64_t track_get(const std::string& address, const get_options& opts);

  /// The reply to get `token` came: true if the client may have `msg`;
  /// false if the client went and the message went back to its queue.
  bool hand_out(const pending_get& g, message& msg);
  bool hand_out(const pending_get& g, std::vector<message>& msgs);

  /// Relays a get (T = message) or a batch get (T = std::vector<message>,
  /// `more` = its size) to the queue manager, tracked as `gets`.
  template <class T, class... Ts>
  caf::result<T> relay_get(const std::string& address, get_options& opts,
                           Ts... more);

  /// The client went: end waiting gets, then the session.
  void on_client_gone();

  /// A remote queue with consumers of this session went away: those
  /// consumers end and the client is told (delivery_batch::ended).
  void on_queue_gone(const caf::down_msg& dm);

  /// Ends the session if it is leaving and no get is open.
  void maybe_quit();

  /// Starts a consumer on `name` with this session as the queue's consumer.
  caf::result<uint64_t> consume(const std::string& name, uint32_t prefetch,
                                ack_mode mode);

  /// Forwards a queue's delivery to the client under the session id.
  void deliver(delivery_batch& batch);

  /// The link of a session consumer id, or 2019.
  caf::expected<consumer_link> link(uint64_t id) const;

  /// Cancels a consumer; it stays known until the queue confirms, so
  /// deliveries already on their way still reach the client.
  caf::result<atom::ok> cancel(uint64_t id);
};

session_actor::behavior_type
session_impl(session_actor::stateful_pointer<session_state> self,
             queue_manager_actor qm, consumer_actor client,
             session_access access);

} // namespace qmesh
