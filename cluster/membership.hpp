// The membership actor: who is in the cluster, who is up (design §6).
//
// One per node with a cluster listener, published on that port by the node.
// It joins the cluster through its seeds, learns every member from the
// join replies and from notices, heartbeats every member it thinks up, and
// tells the local queue manager the directory (every member but this one,
// with the member's queue-manager actor while it is up) on every change.
//
// Contracts:
//  - Node loss: a member is down when its cluster actor's proxy reports
//    down (remote_link_unreachable, or the actor ended), when it leaves, or
//    when nothing came from it for `timeout_ms`. Down members and seeds not
//    joined yet are dialled again with a backoff per address (250 ms,
//    doubling, at most 5 s).
//  - Names are unique: a join under this node's name, or under the name of
//    a member that is up with another incarnation and answers a probe, is
//    refused with 2189. A joiner refused with 2189 calls `on_fatal(2, why)`
//    once and stops dialling.
//  - Every request to another node carries a finite timeout.
//  - The known members (not their up/down state) are kept in
//    `<data_dir>/cluster-members.json` (temp file + rename) and loaded at
//    start as down, so routes to them exist before they are reachable.
//  - Threading: everything runs on the actor; `on_fatal` is called on the
//    actor's thread and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"

namespace qmesh::cluster {

struct membership_settings {
  /// This queue manager's name.
  std::string name;
  /// This node's cluster listener as the other members reach it
  /// (`host:port`).
  std::string address;
  /// Where to join (`host:port` each); may include this node's address.
  std::vector<std::string> seeds;
  int64_t heartbeat_ms = 1000;
  /// Silence after which a member counts as down.
  int64_t timeout_ms = 5000;
  /// Longest wait for a connect plus handshake, and for a join reply.
  int64_t connect_timeout_ms = 5000;
  /// Longest wait for a probe of a member whose name a joiner claims.
  int64_t probe_timeout_ms = 1000;
  /// Reconnect backoff per address.
  int64_t backoff_min_ms = 250;
  int64_t backoff_max_ms = 5000;
  /// The local queue manager (asked for its advertisement, told the
  /// directory).
  queue_manager_actor qm;
  /// Where `cluster-members.json` lives; empty = not persisted.
  std::string data_dir;
  /// 0 = a random one (the normal case; tests may fix it).
  uint64_t incarnation = 0;
  /// Called once when this node cannot be a member (exit code, reason).
  std::function<void(int, std::string)> on_fatal;
};

struct membership_state {
  static inline const char* name = "qmesh.membership";

  /// Another member as this node knows it.
  struct member {
    /// `up` and `since_ms` as seen from here.
    member_info info;
    /// Its cluster actor and queue-manager actor; empty while down.
    caf::actor hdl;
    caf::actor qm;
    /// Actor-clock ms of the last message from it.
    int64_t last_heard = 0;
  };

  /// Dialling state of one address (a seed or a member's address).
  struct dial {
    int64_t next_ms = 0;
    int64_t backoff_ms = 0;
    bool busy = false;
    /// The member that answered there last (skip the address while up).
    std::string member;
  };

  cluster_actor::pointer self = nullptr;
  membership_settings cfg;
  /// This node's entry (always up).
  member_info me;
  std::map<std::string, member> members;
  std::map<std::string, dial> dials;
  bool fatal = false;
  /// The members file as last written (skip identical writes).
  std::string saved;

  // -- lifecycle --------------------------------------------------------------

  void init(cluster_actor::pointer self_ptr, membership_settings settings);
  void on_tick();
  /// Sends `leave` to every member that is up (the node is stopping).
  void leave_all();

  // -- handlers ---------------------------------------------------------------

  caf::result<caf::actor, std::vector<member_info>>
  on_join(member_info& info, caf::actor& sender, caf::actor& qm);
  void on_heartbeat(member_info& info, const caf::actor& sender,
                    caf::actor& qm);
  /// A member told us about another one: dial it unless known up.
  void on_notice(member_info& info);
  void on_leave(const std::string& who, uint64_t incarnation);
  void on_down(const caf::down_msg& dm);

  // -- helpers (plain; tests call them) ----------------------------------------

  /// Adopts what a member advertises if `info` is newer than ours (another
  /// incarnation or a higher version); true if anything persisted changed.
  bool adopt(member& m, const member_info& info);
  /// True if anything the view shows changed.
  bool mark_up(member& m, caf::actor hdl, caf::actor qm);
  void mark_down(member& m, const std::string& why);
  /// Dials every due address: down members' and seeds not joined.
  void dial_due();
  void connect(const std::string& address);
  void joined(const std::string& address, caf::actor peer, caf::actor qm,
              std::vector<member_info>& directory);
  void dial_failed(const std::string& address, const caf::error& err);
  /// Sends the queue manager the directory.
  void push_view();
  /// Writes the members file if it changed.
  void save();
  void load();
  /// Every member known here, this node first.
  std::vector<member_info> directory() const;
  int64_t now_ms() const;
};

using membership_actor_ptr = cluster_actor::stateful_pointer<membership_state>;

cluster_actor::behavior_type membership(membership_actor_ptr self,
                                        membership_settings settings);

} // namespace qmesh::cluster
