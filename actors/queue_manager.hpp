// The queue-manager actor: one per node.
//
// Owns the name → queue table, the topic tree, the subscription table,
// retained publications and units of work. Routes open / put / get / define
// / publish by name; point-to-point traffic after an open goes straight to
// the queue actor. Everything here runs on the actor's thread.
//
// Ownership: the sender of begin, subscribe (non-durable) is monitored; when
// it goes, its units of work are backed out and its non-durable
// subscriptions end. Queue actors and subscription actors live until deleted
// or until the queue manager ends, which ends them too.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "actors/flow_control.hpp"
#include "actors/topic_tree.hpp"

namespace qmesh {

/// Name of the dead-letter queue every queue manager has.
constexpr const char* dead_letter_queue_name = "SYSTEM.DEAD.LETTER.QUEUE";

/// Prefix of the managed queues of subscriptions.
constexpr const char* managed_queue_prefix = "SYSTEM.SUB.";

/// Prefix of temporary queues (owned by a session, gone with it).
constexpr const char* temporary_queue_prefix = "SYSTEM.TEMP.";

/// What a queue manager starts with.
struct qm_config {
  std::string name = "QM1";
  /// Define missing local queues on put / get / open / subscribe.
  bool auto_define = true;
  /// Attributes of queues defined without explicit values.
  queue_attrs queue_defaults;
  attr_limits limits;
  /// Most uncommitted messages (puts + gets) in one unit of work.
  uint64_t max_uncommitted = 10'000;
  /// How long a put or publication may be held for room before it fails
  /// with 2053 (ms; -1 = unlimited, 0 = never held: 2053 at once).
  int64_t put_wait_ms = 60'000;
  /// Publications a subscription may have on its way to its queue; beyond
  /// it, publishers matching the subscription are held.
  uint64_t subscription_window = 4096;
  /// The node's memory alarm; null = none (unit tests).
  std::shared_ptr<flow_control> flow;
};

struct queue_manager_state {
  static inline const char* name = "qmesh.qm";

  // -- member types -----------------------------------------------------------

  struct queue_entry {
    queue_actor hdl;
    /// System queues (dead-letter, managed, temporary) cannot be deleted
    /// by users.
    bool system = false;
    /// Owner of a temporary queue; the only one who may read it.
    caf::actor_addr owner;
  };

  struct sub_entry {
    subscription_info info;
    subscription_actor hdl;
    /// Owner of a non-durable subscription; empty for durable ones.
    caf::actor_addr owner;
    /// Publications sent to it and not yet on its queue (credit).
    uint64_t in_flight = 0;
  };

  /// A publication held back: a matching subscription is over its window
  /// or the memory alarm is raised. Its publisher gets no reply meanwhile
  /// (a STOMP connection stops reading). Per publisher, publications leave
  /// in order.
  struct held_publication {
    uint64_t id = 0;
    std::string topic;
    std::vector<message> msgs;
    bool retain = false;
    /// Matching subscriptions when it was published.
    std::vector<uint64_t> targets;
    caf::actor_addr publisher;
    caf::typed_response_promise<uint64_t> rp;
  };

  struct uow_entry {
    caf::actor_addr owner;
    std::vector<queue_actor> participants;
    uint64_t count = 0;
  };

  struct owner_entry {
    std::vector<uint64_t> uows;
    std::vector<uint64_t> subs;
    std::vector<std::string> temp_queues;
  };

  // -- state ------------------------------------------------------------------

  queue_manager_actor::pointer self = nullptr;
  qm_config cfg;
  std::map<std::string, queue_entry> queues;
  topic_tree tree;
  std::map<uint64_t, sub_entry> subs;
  std::unordered_map<std::string, uint64_t> sub_names;
  std::map<std::string, message> retained;
  std::unordered_map<uint64_t, uow_entry> uows;
  std::unordered_map<caf::actor_addr, owner_entry> owners;
  uint64_t next_uow = 1;
  uint64_t next_sub = 1;
  uint64_t next_temp = 1;
  /// Client sessions (monitored; counted in status).
  std::unordered_set<caf::actor_addr> sessions;
  /// Actor-clock time of the start, for uptime.
  caf::actor_clock::time_point started;
  /// Held publications, oldest first (ids ascending), and per publisher
  /// how many.
  std::deque<held_publication> held;
  std::unordered_map<caf::actor_addr, uint32_t> held_by_publisher;
  uint64_t next_held = 1;
  uint64_t held_total = 0;
  /// Registered with the flow control to hear when the alarm clears.
  bool resume_asked = false;

  ~queue_manager_state();

  // -- operations (one per handler) -------------------------------------------

  caf::result<queue_status> define(const std::string& name,
                                   const attr_map& attrs);
  caf::result<queue_status> define_temporary();
  caf::result<queue_status> alter(const std::string& name,
                                  const attr_map& changes);
  caf::result<uint64_t> delete_queue(const std::string& name, bool purge);
  caf::result<uint64_t> purge(const std::string& name);
  caf::result<std::vector<queue_status>> list(const std::string& pattern);
  caf::result<queue_status> inquire(const std::string& name);
  caf::result<queue_actor> open(const std::string& name, open_mode mode);
  caf::result<atom::ok> close(const std::string& name, open_mode mode);
  caf::result<msg_id> put(const std::string& address, message& msg);
  caf::result<uint64_t> put_batch(const std::string& address,
                                  std::vector<message>& msgs);
  caf::result<msg_id> put_in_uow(const std::string& address, message& msg,
                                 uint64_t uow);
  caf::result<message> get(const std::string& name, get_options& opts);
  caf::result<queue_actor, uint64_t> consume(const std::string& name,
                                             consumer_actor hdl,
                                             uint32_t prefetch, ack_mode mode);
  uint64_t begin();
  caf::result<atom::ok> end_uow(uint64_t uow, bool commit);
  caf::result<uint64_t> publish(const std::string& topic, message& msg,
                                bool retain);
  caf::result<uint64_t> publish_batch(const std::string& topic,
                                      std::vector<message>& msgs, bool retain);
  caf::result<subscription_info> subscribe(subscription_spec& spec);
  caf::result<atom::ok> unsubscribe(const std::string& name);
  caf::result<std::vector<subscription_info>> list_subscriptions();
  qm_status status() const;
  void dead_letter(const std::string& target, message& msg);
  void on_credit(uint64_t sub_id, uint64_t n);
  void cancel_waits(const std::string& name);
  void on_held_timeout(uint64_t id);
  void on_resume();
  void on_down(const caf::down_msg& dm);

  // -- helpers ----------------------------------------------------------------

  /// Creates the queue actor for a validated name.
  queue_actor spawn_queue(const std::string& name, queue_attrs attrs,
                          bool system);

  /// Finds a queue by address (`Q` or `QM/Q`), defining it when allowed.
  caf::expected<queue_actor> resolve(const std::string& address,
                                     bool may_define);

  /// The sender of the current message, as an owner.
  caf::actor_addr sender() const;

  /// 2035 if `name` is another owner's temporary queue (reads only).
  caf::error check_reader(const std::string& name) const;

  /// Registers an owner (monitored once).
  owner_entry& owner(const caf::actor_addr& who);

  /// Checks that `uow` exists and belongs to the sender.
  caf::expected<uow_entry*> own_uow(uint64_t uow);

  /// Records `q` as a participant of `entry`.
  static void join(uow_entry& entry, const queue_actor& q);

  /// Sends commit or backout to every participant; calls done() when all
  /// replied.
  void finish_uow(uow_entry entry, uint64_t uow, bool commit,
                  std::function<void()> done);

  /// Ends a subscription and its managed queue.
  void remove_subscription(uint64_t id);

  /// True if a publication to `targets` must be held now.
  bool must_hold(const std::vector<uint64_t>& targets) const;

  /// Sends publications to their subscriptions (counting credit), updating
  /// the retained one first; returns how many subscriptions got them.
  uint64_t dispatch(const std::string& topic, std::vector<message>& msgs,
                    bool retain, const std::vector<uint64_t>& targets);

  /// Releases held publications, oldest first, that may go now (bounded
  /// work per call; continues through a resume message).
  void release_held();
};

queue_manager_actor::behavior_type
queue_manager_impl(queue_manager_actor::stateful_pointer<queue_manager_state>
                     self,
                   qm_config cfg);

} // namespace qmesh
