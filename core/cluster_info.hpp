// Payloads of the cluster: what a node knows about the members, what it
// advertises, and what `qmesh cluster` shows. Plain data, serializable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace qmesh {

/// Prefix of the transmission queues: `SYSTEM.XMIT.<QM>` holds the messages
/// on their way to queue manager QM.
constexpr std::string_view transmission_queue_prefix = "SYSTEM.XMIT.";

/// Properties a message carries while it is in a transmission queue; the
/// receiving queue manager removes them before it stores the message.
/// Target queue at the receiver (a put), or ...
constexpr std::string_view xmit_queue_property = "qmesh.xmit.q";
/// ... topic to publish on at the receiver (a publication).
constexpr std::string_view xmit_topic_property = "qmesh.xmit.topic";
/// Transfer id: unique per sending queue manager and never reused; the
/// receiver skips an id it already stored (exactly once across resends).
constexpr std::string_view xmit_id_property = "qmesh.xmit.id";

/// One member of the cluster as a node's directory knows it.
struct member_info {
  /// Queue-manager name, unique in the cluster.
  std::string name;
  /// Its cluster listener, `host:port`.
  std::string address;
  /// Random, new at every start of the member: tells a restart from a
  /// reconnect, and one process from an impostor with the same name.
  uint64_t incarnation = 0;
  /// Grows with every change of what the member advertises.
  uint64_t version = 0;
  /// Reachable now (as seen by the node that reports it).
  bool up = false;
  /// Wall-clock ms of the last change of `up` (as seen by the reporter).
  int64_t since_ms = 0;
  /// Its queues with the `cluster` attribute set, by name.
  std::vector<std::string> queues;
  /// Of those, the ones that have consumers now (balancing prefers them).
  std::vector<std::string> consumed;
  /// Distinct topic filters of its subscriptions.
  std::vector<std::string> filters;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("qmesh::member_info"), x.name, x.address,
           x.incarnation, x.version, x.up, x.since_ms, x.queues, x.consumed,
           x.filters);
}

/// What a queue manager advertises to the cluster.
struct advertisement {
  std::vector<std::string> queues;
  std::vector<std::string> consumed;
  std::vector<std::string> filters;

  friend bool operator==(const advertisement&, const advertisement&)
    = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, advertisement& x) {
  return f(caf::meta::type_name("qmesh::advertisement"), x.queues,
           x.consumed, x.filters);
}

/// The state of the channel that moves a transmission queue's messages to
/// one remote queue manager.
struct channel_info {
  /// The remote queue manager.
  std::string remote;
  /// `running` (connected, moving or idle), `retrying` (the remote is down
  /// or refused; messages wait), `stopped`.
  std::string state;
  /// Why the last attempt failed (empty if none did).
  std::string last_error;
  /// Messages in the transmission queue, and of those sent and not yet
  /// confirmed by the remote.
  uint64_t backlog = 0;
  uint64_t in_flight = 0;
  /// Messages and batches confirmed since start.
  uint64_t sent_total = 0;
  uint64_t batches_total = 0;
  /// Wall-clock ms of the last state change.
  int64_t since_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_info& x) {
  return f(caf::meta::type_name("qmesh::channel_info"), x.remote, x.state,
           x.last_error, x.backlog, x.in_flight, x.sent_total,
           x.batches_total, x.since_ms);
}

/// What `qmesh cluster` shows.
struct cluster_status {
  /// This queue manager.
  std::string self;
  /// False when the node runs without --cluster-listen.
  bool enabled = false;
  /// This node's cluster listener (`host:port`), empty when disabled.
  std::string listen;
  /// Every member this node knows, itself included, in name order.
  std::vector<member_info> members;
  /// One per remote queue manager with a transmission queue.
  std::vector<channel_info> channels;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("qmesh::cluster_status"), x.self, x.enabled,
           x.listen, x.members, x.channels);
}

} // namespace qmesh
