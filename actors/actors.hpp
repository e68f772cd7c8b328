// Every actor interface of qmesh, and the one type-ID block.
//
// Read this file to know the whole in-process protocol. Each interface lists
// its handlers with one comment line each; handlers marked (internal) are sent
// only by qmesh's own actors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "core/cluster_info.hpp"
#include "core/message.hpp"
#include "core/queue_attrs.hpp"
#include "core/reason.hpp"
#include "core/requests.hpp"

// -- atoms --------------------------------------------------------------------

namespace qmesh::atom {

// Re-exported from CAF.
using close = caf::close_atom;
using connect = caf::connect_atom;
using delete_ = caf::delete_atom;
using get = caf::get_atom;
using ok = caf::ok_atom;
using open = caf::open_atom;
using publish = caf::publish_atom;
using put = caf::put_atom;
using subscribe = caf::subscribe_atom;
using timeout = caf::timeout_atom;
using unsubscribe = caf::unsubscribe_atom;
constexpr auto close_v = close::value;
constexpr auto connect_v = connect::value;
constexpr auto delete_v = delete_::value;
constexpr auto get_v = get::value;
constexpr auto ok_v = ok::value;
constexpr auto open_v = open::value;
constexpr auto publish_v = publish::value;
constexpr auto put_v = put::value;
constexpr auto subscribe_v = subscribe::value;
constexpr auto timeout_v = timeout::value;
constexpr auto unsubscribe_v = unsubscribe::value;

} // namespace qmesh::atom

// -- administration --
CAF_ADD_ATOM(qmesh, qmesh::atom, define, "define")
CAF_ADD_ATOM(qmesh, qmesh::atom, alter, "alter")
CAF_ADD_ATOM(qmesh, qmesh::atom, purge, "purge")
CAF_ADD_ATOM(qmesh, qmesh::atom, list, "list")
CAF_ADD_ATOM(qmesh, qmesh::atom, inquire, "inquire")
CAF_ADD_ATOM(qmesh, qmesh::atom, status, "status")
CAF_ADD_ATOM(qmesh, qmesh::atom, subs, "subs")
CAF_ADD_ATOM(qmesh, qmesh::atom, conns, "conns")
CAF_ADD_ATOM(qmesh, qmesh::atom, disconnect, "disconnect")
CAF_ADD_ATOM(qmesh, qmesh::atom, temporary, "temporary")
// -- consumers --
CAF_ADD_ATOM(qmesh, qmesh::atom, consume, "consume")
CAF_ADD_ATOM(qmesh, qmesh::atom, deliver, "deliver")
CAF_ADD_ATOM(qmesh, qmesh::atom, credit, "credit")
CAF_ADD_ATOM(qmesh, qmesh::atom, ack, "ack")
CAF_ADD_ATOM(qmesh, qmesh::atom, nack, "nack")
CAF_ADD_ATOM(qmesh, qmesh::atom, cancel, "cancel")
// -- units of work --
CAF_ADD_ATOM(qmesh, qmesh::atom, begin, "begin")
CAF_ADD_ATOM(qmesh, qmesh::atom, commit, "commit")
CAF_ADD_ATOM(qmesh, qmesh::atom, backout, "backout")
// -- network connections --
CAF_ADD_ATOM(qmesh, qmesh::atom, received, "received")
CAF_ADD_ATOM(qmesh, qmesh::atom, drained, "drained")
CAF_ADD_ATOM(qmesh, qmesh::atom, tick, "tick")
// -- flow control --
CAF_ADD_ATOM(qmesh, qmesh::atom, resume, "resume")
// -- internal --
CAF_ADD_ATOM(qmesh, qmesh::atom, sweep, "sweep")
CAF_ADD_ATOM(qmesh, qmesh::atom, dead_letter, "deadletter")
CAF_ADD_ATOM(qmesh, qmesh::atom, durable, "durable")
// -- cluster --
CAF_ADD_ATOM(qmesh, qmesh::atom, join, "join")
CAF_ADD_ATOM(qmesh, qmesh::atom, heartbeat, "heartbeat")
CAF_ADD_ATOM(qmesh, qmesh::atom, leave, "leave")
CAF_ADD_ATOM(qmesh, qmesh::atom, cluster, "cluster")
CAF_ADD_ATOM(qmesh, qmesh::atom, advertise, "advertise")
CAF_ADD_ATOM(qmesh, qmesh::atom, transfer, "transfer")
CAF_ADD_ATOM(qmesh, qmesh::atom, channel, "channel")

namespace qmesh {

/// A member as the cluster actor shows it to its queue manager: the
/// directory entry and the member's queue-manager actor (a
/// `queue_manager_actor`; empty while the member is down or for this node).
struct peer_view {
  member_info info;
  caf::actor qm;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_view& x) {
  return f(caf::meta::type_name("qmesh::peer_view"), x.info, x.qm);
}

// -- actor interfaces ---------------------------------------------------------

/// The CONSUMER interface: anything that takes pushed deliveries.
using consumer_actor = caf::typed_actor<
  // Up to the consumer's window of messages from one queue.
  caf::reacts_to<atom::deliver, delivery_batch>>;

/// The QUEUE interface: one actor per queue (actors/queue.hpp).
using queue_actor = caf::typed_actor<
  // Put one message outside any unit of work; replies its msg_id.
  caf::replies_to<atom::put, message>::with<msg_id>,
  // Put a batch, all or nothing; replies how many were put.
  caf::replies_to<atom::put, std::vector<message>>::with<uint64_t>,
  // Put under a unit of work (internal: the queue manager owns UoWs).
  caf::replies_to<atom::put, message, uint64_t>::with<msg_id>,
  // Get or browse one message, waiting as the options say.
  caf::replies_to<atom::get, get_options>::with<message>,
  // Get or browse up to n messages that are ready now (no wait), in queue
  // order; 2033 if there is none.
  caf::replies_to<atom::get, get_options, uint32_t>::with<std::vector<message>>,
  // Register a consumer with a prefetch window and ack mode; replies its id.
  caf::replies_to<atom::consume, consumer_actor, uint32_t,
                  ack_mode>::with<uint64_t>,
  // Reopen an automatic-ack consumer's window by n messages.
  caf::reacts_to<atom::credit, uint64_t, uint32_t>,
  // Ack tags [first, last] of a consumer; replies how many were settled.
  caf::replies_to<atom::ack, uint64_t, uint64_t, uint64_t>::with<uint64_t>,
  // Nack tags [first, last]; requeue (true) or dead-letter; replies count.
  caf::replies_to<atom::nack, uint64_t, uint64_t, uint64_t,
                  bool>::with<uint64_t>,
  // End a consumer; its unacked deliveries return to the queue.
  caf::replies_to<atom::cancel, uint64_t>::with<atom::ok>,
  // Make a unit of work's puts visible and its gets final (internal).
  caf::replies_to<atom::commit, uint64_t>::with<atom::ok>,
  // Drop a unit of work's puts and return its gets (internal).
  caf::replies_to<atom::backout, uint64_t>::with<atom::ok>,
  // Count an open by `owner` (monitored; its opens end with it).
  caf::replies_to<atom::open, open_mode, caf::actor_addr>::with<atom::ok>,
  // Undo one open by `owner`.
  caf::replies_to<atom::close, open_mode, caf::actor_addr>::with<atom::ok>,
  // Attributes and statistics.
  caf::replies_to<atom::inquire>::with<queue_status>,
  // Change attributes, all or nothing.
  caf::replies_to<atom::alter, attr_map>::with<queue_status>,
  // Remove every ready message; replies how many.
  caf::replies_to<atom::purge>::with<uint64_t>,
  // Prepare deletion: fails with 2055 unless empty or purge, 2042 if open;
  // on success replies how many messages were purged and stops.
  caf::replies_to<atom::delete_, bool>::with<uint64_t>,
  // Accept a moved message (dead-letter, backout, returned delivery)
  // regardless of limits, from queue `from` where it had journal key
  // `from_key` (0: not journaled; "" : no source); replies once it is
  // stored (on disk if persistent) (internal).
  caf::replies_to<atom::dead_letter, message, std::string,
                  uint64_t>::with<atom::ok>,
  // The journal has every record up to seq on disk (ok) or failed
  // (internal, from the journal's writer).
  caf::reacts_to<atom::durable, uint64_t, bool>,
  // Messages that came from another queue manager, put under unit of work
  // `uow` with their descriptors kept (msg_id, put_time, origin_qmgr,
  // delivery_count). With `force` (the dead-letter queue) limits and
  // inhibits do not apply. Replies the messages it refused, each with its
  // reason in the `qmesh.dlq.reason` property (internal).
  caf::replies_to<atom::transfer, std::vector<message>, uint64_t,
                  bool>::with<std::vector<message>>,
  // Publications from a subscription, under the overflow policy; the ones
  // the queue refuses (limits, reject) it dead-letters itself. Replies
  // how many it took (internal).
  caf::replies_to<atom::publish, std::vector<message>>::with<uint64_t>,
  // End the waiting gets of a requester that is going (internal).
  caf::reacts_to<atom::cancel, atom::get, caf::actor_addr>,
  // A get's wait elapsed (internal).
  caf::reacts_to<atom::timeout, uint64_t>,
  // A blocked put's wait elapsed (internal).
  caf::reacts_to<atom::timeout, atom::put, uint64_t>,
  // The node's memory alarm cleared: take blocked puts again (internal).
  caf::reacts_to<atom::resume>,
  // Drop expired messages (internal timer).
  caf::reacts_to<atom::sweep>>;

/// The SUBSCRIPTION interface: one actor per subscription.
using subscription_actor = caf::typed_actor<
  // A matching publication (topic, message) to put on the target queue.
  caf::reacts_to<atom::publish, std::string, message>,
  // Several publications on one topic, in order.
  caf::reacts_to<atom::publish, std::string, std::vector<message>>,
  // Its description and counters.
  caf::replies_to<atom::inquire>::with<subscription_info>>;

/// The QUEUE MANAGER interface: one per node (actors/queue_manager.hpp).
using queue_manager_actor = caf::typed_actor<
  // Define a queue with attributes; 2100 if it exists.
  caf::replies_to<atom::define, std::string, attr_map>::with<queue_status>,
  // Define a temporary queue `SYSTEM.TEMP.<n>` owned by the sender: anyone
  // may put to it, only the owner may get, browse or consume; it ends, with
  // its messages, when the owner goes.
  caf::replies_to<atom::define, atom::temporary>::with<queue_status>,
  // Change a queue's attributes.
  caf::replies_to<atom::alter, std::string, attr_map>::with<queue_status>,
  // Delete a queue (purging first if the flag is set); replies purged count.
  caf::replies_to<atom::delete_, std::string, bool>::with<uint64_t>,
  // Remove every ready message of a queue; replies how many.
  caf::replies_to<atom::purge, std::string>::with<uint64_t>,
  // Queues whose names match a pattern (`*` at the end = prefix).
  caf::replies_to<atom::list, std::string>::with<std::vector<queue_status>>,
  // Walk the next slice of the queue table for listing `id` (internal, sent
  // to itself).
  caf::reacts_to<atom::list, uint64_t>,
  // One queue's attributes and statistics.
  caf::replies_to<atom::inquire, std::string>::with<queue_status>,
  // Open a queue for the sender; replies the queue's handle.
  caf::replies_to<atom::open, std::string, open_mode>::with<queue_actor>,
  // Close a queue the sender opened.
  caf::replies_to<atom::close, std::string, open_mode>::with<atom::ok>,
  // Put to an address (`Q` or `QM/Q`).
  caf::replies_to<atom::put, std::string, message>::with<msg_id>,
  // Put to an address under a unit of work of the sender.
  caf::replies_to<atom::put, std::string, message, uint64_t>::with<msg_id>,
  // Put a batch to an address, all or nothing; replies how many.
  caf::replies_to<atom::put, std::string,
                  std::vector<message>>::with<uint64_t>,
  // Get from a queue (options may name a unit of work of the sender).
  caf::replies_to<atom::get, std::string, get_options>::with<message>,
  // Get up to n ready messages from a queue in one reply (as above).
  caf::replies_to<atom::get, std::string, get_options,
                  uint32_t>::with<std::vector<message>>,
  // Start a consumer on a queue; replies the queue and the consumer id.
  caf::replies_to<atom::consume, std::string, consumer_actor, uint32_t,
                  ack_mode>::with<queue_actor, uint64_t>,
  // Start a unit of work owned by the sender; replies its id.
  caf::replies_to<atom::begin>::with<uint64_t>,
  // Commit a unit of work.
  caf::replies_to<atom::commit, uint64_t>::with<atom::ok>,
  // Back out a unit of work.
  caf::replies_to<atom::backout, uint64_t>::with<atom::ok>,
  // Publish on a topic, optionally retained; replies matching subscriptions.
  caf::replies_to<atom::publish, std::string, message, bool>::with<uint64_t>,
  // Publish several messages on one topic, in order (the last one is
  // retained if the flag is set); replies matching subscriptions.
  caf::replies_to<atom::publish, std::string, std::vector<message>,
                  bool>::with<uint64_t>,
  // Create a subscription owned by the sender (durable ones outlive it).
  caf::replies_to<atom::subscribe, subscription_spec>::with<subscription_info>,
  // End a subscription by name.
  caf::replies_to<atom::unsubscribe, std::string>::with<atom::ok>,
  // Every subscription.
  caf::replies_to<atom::list, atom::subs>::with<std::vector<subscription_info>>,
  // Queue-manager status.
  caf::replies_to<atom::status>::with<qm_status>,
  // Move a message from queue `from` (journal key `from_key`) to the named
  // queue, else the dead-letter queue; replies once the target stored it
  // (internal).
  caf::replies_to<atom::dead_letter, std::string, message, std::string,
                  uint64_t>::with<atom::ok>,
  // The journal has every record up to seq on disk (internal).
  caf::reacts_to<atom::durable, uint64_t, bool>,
  // A subscription took n publications (puts them on its queue) and has
  // room for as many more (internal).
  caf::reacts_to<atom::credit, uint64_t, uint64_t>,
  // End the sender's waiting gets on a queue (internal, from a session
  // whose client went).
  caf::reacts_to<atom::cancel, atom::get, std::string>,
  // A held publication's wait elapsed (internal).
  caf::reacts_to<atom::timeout, atom::publish, uint64_t>,
  // The node's memory alarm cleared: release held publications (internal).
  caf::reacts_to<atom::resume>,
  // Count a client session until it ends (internal, from the front door).
  caf::reacts_to<atom::connect, caf::actor_addr, connection_info>,
  // The client connections (sessions) of this node.
  caf::replies_to<atom::list, atom::conns>::with<std::vector<connection_info>>,
  // Close connection (session) `id`: its client is told and it ends as if
  // its client had gone; 2085 if there is no such connection.
  caf::replies_to<atom::disconnect, uint64_t>::with<atom::ok>,
  // -- cluster --
  // Members, their states and the channels (`qmesh cluster`).
  caf::replies_to<atom::cluster>::with<cluster_status>,
  // The directory changed: every member but this one (internal, from the
  // cluster actor).
  caf::reacts_to<atom::cluster, std::vector<peer_view>>,
  // What this queue manager advertises: cluster queues (those with
  // consumers) and subscription filters (internal, asked by the cluster
  // actor once per heartbeat).
  caf::replies_to<atom::advertise>::with<advertisement>,
  // Messages from queue manager `sender`'s channel, in its order: puts
  // (property qmesh.xmit.q) and publications (qmesh.xmit.topic), stored as
  // one unit of work; messages whose transfer id (qmesh.xmit.id) it stored
  // before are skipped; ones no queue takes go to the dead-letter queue.
  // Replies once stored (on disk if persistent) with how many were new
  // (internal, across nodes).
  caf::replies_to<atom::transfer, std::string,
                  std::vector<message>>::with<uint64_t>,
  // A channel's state changed (internal, from a channel).
  caf::reacts_to<atom::channel, channel_info>>;

/// The LISTER interface: a short-lived helper that gathers one listing of
/// `Status` entries for the queue manager and ends (actors/lister.hpp).
template <class Status>
using lister_actor = caf::typed_actor<
  // Ask the actors given at spawn, a bounded number at a time; replies the
  // whole listing in the given order.
  caf::replies_to<atom::list>::with<std::vector<Status>>>;

/// The CLUSTER interface: one per node with --cluster-listen, published on
/// that port (cluster/membership.hpp). Peers' handles are `caf::actor`s so
/// that the queue-manager interface can name them; they are cluster actors.
using cluster_actor = caf::typed_actor<
  // A node joins (the sender: its cluster actor): its entry and its queue
  // manager. Replies this node's queue manager and every member it knows,
  // itself first; 2189 if the name belongs to a running member.
  caf::replies_to<atom::join, member_info, caf::actor>::with<
    caf::actor, std::vector<member_info>>,
  // A member learned of another member (its entry, as the sender knows
  // it): dial it unless it is up here already.
  caf::reacts_to<atom::join, member_info>,
  // Liveness probe: replies this node's own entry.
  caf::replies_to<atom::heartbeat>::with<member_info>,
  // A member's entry, once per heartbeat interval (the sender: its cluster
  // actor); a newer version replaces what it advertises.
  caf::reacts_to<atom::heartbeat, member_info, caf::actor>,
  // A member (name, incarnation) is stopping.
  caf::reacts_to<atom::leave, std::string, uint64_t>,
  // Heartbeat timer (internal).
  caf::reacts_to<atom::tick>,
  // Reconnect timer: dial the addresses that are due (internal).
  caf::reacts_to<atom::tick, atom::connect>>;

/// The CHANNEL interface: one per remote queue manager with a transmission
/// queue (cluster/channel.hpp). It consumes `SYSTEM.XMIT.<QM>` and moves
/// its messages to QM in batches.
using channel_actor = consumer_actor::extend<
  // The remote queue manager is up (its queue-manager actor) or down
  // (empty) (internal, from the queue manager).
  caf::reacts_to<atom::cluster, caf::actor>,
  // Retry timer of the given generation (internal).
  caf::reacts_to<atom::tick, uint64_t>>;

/// The SESSION interface: one actor per client connection (actors/session.hpp).
/// It owns what its client opened, consumed, subscribed or left uncommitted,
/// and releases all of it when the client goes.
using session_actor = caf::typed_actor<
  // -- administration, as the queue manager --
  caf::replies_to<atom::define, std::string, attr_map>::with<queue_status>,
  // A temporary queue owned by the session (ends with it).
  caf::replies_to<atom::define, atom::temporary>::with<queue_status>,
  caf::replies_to<atom::alter, std::string, attr_map>::with<queue_status>,
  caf::replies_to<atom::delete_, std::string, bool>::with<uint64_t>,
  caf::replies_to<atom::purge, std::string>::with<uint64_t>,
  caf::replies_to<atom::list, std::string>::with<std::vector<queue_status>>,
  caf::replies_to<atom::inquire, std::string>::with<queue_status>,
  caf::replies_to<atom::status>::with<qm_status>,
  caf::replies_to<atom::cluster>::with<cluster_status>,
  // -- point to point --
  // Open for the session; replies the queue handle (puts may go straight
  // to it).
  caf::replies_to<atom::open, std::string, open_mode>::with<queue_actor>,
  caf::replies_to<atom::close, std::string, open_mode>::with<atom::ok>,
  caf::replies_to<atom::put, std::string, message>::with<msg_id>,
  caf::replies_to<atom::put, std::string, message, uint64_t>::with<msg_id>,
  // Put a batch to one address, all or nothing; replies how many.
  caf::replies_to<atom::put, std::string,
                  std::vector<message>>::with<uint64_t>,
  caf::replies_to<atom::get, std::string, get_options>::with<message>,
  caf::replies_to<atom::get, std::string, get_options,
                  uint32_t>::with<std::vector<message>>,
  // Start a consumer; deliveries go to the session's client with the
  // returned session-wide consumer id.
  caf::replies_to<atom::consume, std::string, uint32_t,
                  ack_mode>::with<uint64_t>,
  caf::reacts_to<atom::credit, uint64_t, uint32_t>,
  caf::replies_to<atom::ack, uint64_t, uint64_t, uint64_t>::with<uint64_t>,
  caf::replies_to<atom::nack, uint64_t, uint64_t, uint64_t,
                  bool>::with<uint64_t>,
  caf::replies_to<atom::cancel, uint64_t>::with<atom::ok>,
  // -- units of work --
  caf::replies_to<atom::begin>::with<uint64_t>,
  caf::replies_to<atom::commit, uint64_t>::with<atom::ok>,
  caf::replies_to<atom::backout, uint64_t>::with<atom::ok>,
  // -- publish / subscribe --
  caf::replies_to<atom::publish, std::string, message, bool>::with<uint64_t>,
  caf::replies_to<atom::publish, std::string, std::vector<message>,
                  bool>::with<uint64_t>,
  caf::replies_to<atom::subscribe, subscription_spec>::with<subscription_info>,
  caf::replies_to<atom::unsubscribe, std::string>::with<atom::ok>,
  caf::replies_to<atom::list, atom::subs>::with<std::vector<subscription_info>>,
  // -- connections, as the queue manager --
  caf::replies_to<atom::list, atom::conns>::with<std::vector<connection_info>>,
  caf::replies_to<atom::disconnect, uint64_t>::with<atom::ok>,
  // -- internal --
  // An administrator closed this connection (from the queue manager): end
  // as if the client had gone; the exit reason (2009) carries the text.
  caf::reacts_to<atom::disconnect, std::string>,
  // Deliveries from a queue to one of the session's consumers.
  caf::reacts_to<atom::deliver, delivery_batch>,
  // The client went a while ago: end now (internal timer).
  caf::reacts_to<atom::close>>;

/// The FRONT DOOR interface: the actor a node publishes for clients.
using front_door_actor = caf::typed_actor<
  // Open a session for a client; deliveries go to the given consumer actor
  // and the session ends when that actor goes. Replies the session and the
  // queue manager's status.
  caf::replies_to<atom::connect, consumer_actor,
                  client_info>::with<session_actor, qm_status>,
  // The same with credentials: checked against the node's users (2035 if
  // they do not match; repeated failures from one host are answered ever
  // later). Without users the credentials are ignored.
  caf::replies_to<atom::connect, consumer_actor, client_info,
                  credentials>::with<session_actor, qm_status>,
  // A delayed refusal is due (internal timer).
  caf::reacts_to<atom::tick, uint64_t>>;

/// The CONNECTION interface: one actor per network connection of a
/// protocol front-end (protocols/, e.g. STOMP). The socket layer
/// (protocols/net/) sends it bytes; it speaks to its session as the
/// session's client, so it also takes deliveries.
using connection_actor = consumer_actor::extend<
  // Bytes read from the socket; the actor calls consumed() when done.
  caf::reacts_to<atom::received, std::string>,
  // The write backlog drained (after notify_when_drained()).
  caf::reacts_to<atom::drained>,
  // The socket closed; the text says why.
  caf::reacts_to<atom::close, std::string>,
  // Heart-beat timer of the given generation (internal; older ones are
  // stale).
  caf::reacts_to<atom::tick, uint64_t>>;

} // namespace qmesh

// -- type IDs -----------------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(qmesh, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(qmesh, (qmesh::msg_id))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::message))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::message>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::attr_map))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::queue_attrs))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::queue_status))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::queue_status>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::get_options))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::delivery_batch))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::open_mode))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::ack_mode))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::subscription_spec))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::subscription_info))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::subscription_info>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::client_info))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::connection_info))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::connection_info>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::qm_status))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::consumer_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::queue_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::subscription_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::queue_manager_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::session_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::front_door_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::member_info))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::member_info>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::advertisement))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::channel_info))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::cluster_status))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::peer_view))
  CAF_ADD_TYPE_ID(qmesh, (std::vector<qmesh::peer_view>))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::cluster_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::channel_actor))
  CAF_ADD_TYPE_ID(qmesh, (qmesh::credentials))
CAF_END_TYPE_ID_BLOCK(qmesh)
