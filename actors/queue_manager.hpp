// The queue-manager actor: one per node.
//
// Owns the name → queue table, the topic tree, the subscription table,
// retained publications and units of work. Routes open / put / get / define
// / publish by name; point-to-point traffic after an open goes straight to
// the queue actor. Everything here runs on the actor's thread.
//
// The catalog: the table holds every queue's definition (name, attributes)
// and the queue manager journals every change of a lasting one (define,
// alter, delete; durable subscriptions; retained publications) before it
// replies; temporary queues and the managed queues of non-durable
// subscriptions are not journaled. `alter` updates the catalog, then the
// queue. At start the queue manager rebuilds the catalog and the queues'
// persistent messages from the journal's recovered state.
//
// Queue lifecycle: a defined queue starts as a record in the table (name,
// attributes) and gets its actor on first use (open, put, get, consume,
// subscription target, unit of work, dead-letter target); every route to a
// queue actor goes through activate(). Inquire, list, alter, purge and
// delete answer from the record while there is no actor. System queues
// (dead-letter, managed, temporary) get their actor at once.
//
// Listings: the queue manager walks its table a slice per message
// (`list_slice` entries, so other messages run in between), answers records
// itself and hands the actors to a short-lived lister (actors/lister.hpp)
// that asks them a bounded number at a time; it never waits for one reply
// per queue.
//
// Ownership: the sender of begin, subscribe (non-durable) is monitored; when
// it goes, its units of work are backed out and its non-durable
// subscriptions end. Queue actors and subscription actors live until deleted
// or until the queue manager ends, which ends them too.
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

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/durability.hpp"
#include "actors/flow_control.hpp"
#include "core/topic_tree.hpp"
#include "core/transfer_window.hpp"
#include "store/journal.hpp"

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
  /// Most inquiries one listing has in flight (list, list subscriptions).
  uint32_t list_window = 256;
  /// Most table entries a listing walks per message of the queue manager.
  uint32_t list_slice = 4096;
  /// Where the catalog, commits and the queues' persistent messages go;
  /// null = nowhere (unit tests).
  std::shared_ptr<store::journal_sink> journal;
  /// The journal's figures for status; empty = no journal.
  std::function<store::journal_stats()> journal_stats;
  /// What the journal recovered at start; null = nothing.
  std::shared_ptr<store::recovered_state> recovered;
  /// This node's cluster listener (`host:port`); empty = no cluster.
  std::string cluster_listen;
  /// Most messages a channel has sent and not yet seen confirmed (also
  /// the prefetch of its transmission queue), and per batch.
  uint32_t channel_window = 4096;
  uint32_t channel_batch = 256;
  /// How long a request to another queue manager may take before it fails
  /// (ms; a get's own wait comes on top).
  int64_t remote_timeout_ms = 10'000;
  /// Retry delays of a channel whose remote is down or refused (ms).
  int64_t channel_retry_min_ms = 200;
  int64_t channel_retry_max_ms = 5'000;
  /// Spawns the channel of transmission queue `xmitq` for queue manager
  /// `remote`, linked to the queue manager (cluster/channel.hpp); null = no
  /// channels: transmission queues only fill (unit tests, no cluster).
  std::function<channel_actor(queue_manager_actor::pointer self,
                              const std::string& remote,
                              const queue_actor& xmitq)>
    channel_factory;
};

struct queue_manager_state {
  static inline const char* name = "qmesh.qm";

  // -- member types -----------------------------------------------------------

  /// One per queue, used or not: keep it small. It is 32 bytes; with its
  /// name, a node of the table takes 112 bytes of heap (names of up to 15
  /// characters; longer ones add their own allocation).
  struct queue_entry {
    /// The queue's actor; empty while the queue is a record (never used).
    /// Routes to the actor go through activate(); administration tests it
    /// to answer from the record instead.
    queue_actor hdl;
    /// System queues (dead-letter, managed, temporary) cannot be deleted
    /// by users.
    bool system = false;
    /// Not journaled: a temporary queue, or the managed queue of a
    /// non-durable subscription.
    bool transient = false;
    /// Owner of a temporary queue; the only one who may read it.
    caf::actor_addr owner;
    /// The queue's attributes if they differ from the node's queue
    /// defaults (null: `cfg.queue_defaults`): the catalog's copy, which
    /// the actor's follows.
    std::unique_ptr<queue_attrs> attrs;
  };

  using queue_table = std::map<std::string, queue_entry>;

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

  /// A listing of queues while the queue manager walks its table.
  struct list_job {
    std::string pattern;
    /// The walk resumes after this name (empty: at the start).
    std::string last;
    /// The listing in name order, one part per slice walked; records
    /// answered, the slots of actors empty.
    std::vector<std::vector<queue_status>> parts;
    size_t count = 0;
    /// Slots to fill by asking actors: (index in the listing, actor).
    std::vector<std::pair<size_t, queue_actor>> to_ask;
    caf::typed_response_promise<std::vector<queue_status>> rp;
  };

  struct owner_entry {
    std::vector<uint64_t> uows;
    std::vector<uint64_t> subs;
    std::vector<std::string> temp_queues;
  };

  // -- state ------------------------------------------------------------------

  queue_manager_actor::pointer self = nullptr;
  qm_config cfg;
  queue_table queues;
  topic_tree tree;
  std::map<uint64_t, sub_entry> subs;
  std::unordered_map<std::string, uint64_t> sub_names;
  std::map<std::string, message> retained;
  std::unordered_map<uint64_t, uow_entry> uows;
  std::unordered_map<caf::actor_addr, owner_entry> owners;
  uint64_t next_uow = 1;
  uint64_t next_sub = 1;
  uint64_t next_temp = 1;
  /// Listings whose table walk is not complete, by id.
  std::unordered_map<uint64_t, list_job> listings;
  uint64_t next_listing = 1;
  /// Client sessions (monitored; counted in status) and who they are.
  std::unordered_map<caf::actor_addr, connection_info> sessions;
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
  /// Hears the journal; what waits for it.
  std::shared_ptr<store::durability_listener> listener;
  durable_waits waits;
  /// Seq of the last record the queue manager appended.
  uint64_t last_journaled = 0;
  /// Persistent messages recovered for queues not yet activated.
  std::unordered_map<std::string, std::vector<std::pair<uint64_t, message>>>
    recovered_messages;

  // -- cluster (actors/queue_manager_cluster.cpp) --

  /// A transfer from another queue manager's channel waiting for the one
  /// before it (transfers from one sender are stored one at a time, in
  /// order).
  struct pending_transfer {
    std::vector<message> msgs;
    caf::typed_response_promise<uint64_t> rp;
  };
  struct channel_entry {
    channel_actor hdl;
    channel_info info;
  };
  /// The other members, by name, as the cluster actor last said.
  std::map<std::string, peer_view> peers;
  /// Channels by remote queue-manager name.
  std::map<std::string, channel_entry> channels;
  /// Transfer ids stored lately, per sending queue manager.
  std::unordered_map<std::string, transfer_window> received;
  /// Per sender, the transfer being stored first, then those waiting.
  std::unordered_map<std::string, std::deque<pending_transfer>> transfers;
  /// Transfer ids of this incarnation: a random prefix and a counter.
  std::string xmit_prefix;
  uint64_t next_xmit = 1;
  /// The last advertisement (this node's row in `qmesh cluster`) and the
  /// wall-clock start.
  advertisement advertised;
  int64_t started_wall_ms = 0;
  /// Local cluster queues that had consumers at the last advertisement.
  std::unordered_set<std::string> local_consumed;
  /// Transfer ids recovered from the journal, until start_cluster().
  std::map<std::string, std::vector<std::string>> recovered_transfers;
  /// Round-robin position per cluster queue name.
  mutable std::unordered_map<std::string, uint64_t> balance_cursor;

  ~queue_manager_state();

  // -- operations (one per handler) -------------------------------------------

  caf::result<queue_status> define(const std::string& address,
                                   const attr_map& attrs);
  caf::result<queue_status> define_temporary();
  caf::result<queue_status> alter(const std::string& address,
                                  const attr_map& changes);
  caf::result<uint64_t> delete_queue(const std::string& address, bool purge);
  caf::result<uint64_t> purge(const std::string& address);
  caf::result<std::vector<queue_status>> list(const std::string& pattern);
  void walk_listing(uint64_t id);
  caf::result<queue_status> inquire(const std::string& address);
  caf::result<queue_actor> open(const std::string& name, open_mode mode);
  caf::result<atom::ok> close(const std::string& name, open_mode mode);
  caf::result<msg_id> put(const std::string& address, message& msg);
  caf::result<uint64_t> put_batch(const std::string& address,
                                  std::vector<message>& msgs);
  caf::result<msg_id> put_in_uow(const std::string& address, message& msg,
                                 uint64_t uow);
  caf::result<message> get(const std::string& name, get_options& opts);
  /// Up to `max` ready messages of one queue (queue_state::get_many); under
  /// a unit of work at most what still fits in it.
  caf::result<std::vector<message>> get_many(const std::string& name,
                                             get_options& opts, uint32_t max);

  /// Where a get goes: another queue manager (`peer`, with the queue's
  /// name there), or a local queue, joined to the get's unit of work if it
  /// names one (`room`: how many more messages that unit takes).
  struct get_target {
    std::optional<queue_manager_actor> peer;
    std::string remote_queue;
    queue_actor queue;
    uint64_t room = 0;
  };
  caf::expected<get_target> route_get(const std::string& name,
                                      const get_options& opts);

  /// Sends a get (T = message) or batch get (T = std::vector<message>,
  /// `more` = its size) under opts.uow to a local queue; counts what it
  /// got toward the unit of work.
  template <class T, class... Ts>
  caf::result<T> get_in_uow(const queue_actor& q, get_options& opts,
                            Ts... more);
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

  // -- connections --------------------------------------------------------------

  /// The client connections, oldest first.
  std::vector<connection_info> connections() const;

  /// Tells session `id` to end (its client sees exit reason 2009); 2085 if
  /// there is no such session.
  caf::result<atom::ok> disconnect(uint64_t id);
  qm_status status() const;
  caf::result<atom::ok> dead_letter(const std::string& target, message& msg,
                                    const std::string& from,
                                    uint64_t from_key);
  void on_durable(uint64_t seq, bool ok);
  /// Rebuilds the catalog and queues from the journal's recovered state.
  void recover(store::recovered_state& state);
  void on_credit(uint64_t sub_id, uint64_t n);
  void cancel_waits(const std::string& address);
  void on_held_timeout(uint64_t id);
  void on_resume();
  void on_down(const caf::down_msg& dm);
  // cluster
  caf::result<cluster_status> cluster_state();
  void on_view(std::vector<peer_view>& view);
  caf::result<advertisement> advertise();
  caf::result<uint64_t> transfer(const std::string& sender,
                                 std::vector<message>& msgs);
  void on_channel(channel_info& info);
  /// After recovery: transfer memory, channels of transmission queues.
  void start_cluster();

  // -- helpers ----------------------------------------------------------------

  /// Adds a queue with a validated, unused name to the table as a record
  /// and journals its definition unless `transient`; a system queue gets
  /// its actor at once.
  queue_table::iterator add_queue(const std::string& name, queue_attrs attrs,
                                  bool system, bool transient = false);

  /// Adds a queue with a validated, unused name and its actor.
  queue_actor spawn_queue(const std::string& name, queue_attrs attrs,
                          bool system, bool transient = false);

  /// Appends a catalog record (not for transient queues); returns its seq.
  uint64_t journal(store::record_kind kind, const store::record_body& body);

  /// Journals the definition of queue `it` (unless transient).
  uint64_t journal_queue(const queue_table::value_type& queue);

  /// `value` now if `seq` is 0 and nothing waits, else a promise replied
  /// once the journal has it (journal_failed() if the write failed).
  template <class T>
  caf::result<T> reply_durable(uint64_t seq, T value);

  /// 2102: a journal write failed (the journal says why).
  caf::error journal_failed() const;

  /// Starts a subscription actor for `info` (its target queue exists),
  /// first sending it the matching retained publications if asked.
  subscription_actor start_subscription(const subscription_info& info,
                                        const queue_actor& target,
                                        bool send_retained);

  /// The queue's actor, spawned from its record on first use (the record's
  /// attributes move into it). The one way to a queue actor.
  queue_actor activate(queue_table::value_type& queue);

  /// The attributes of a record (the defaults when it holds none).
  const queue_attrs& record_attrs(const queue_entry& entry) const;

  /// Stores `attrs` in a record, compactly (nothing for the defaults).
  void set_record_attrs(queue_entry& entry, queue_attrs attrs) const;

  /// What a record answers to inquire: its attributes and zero statistics.
  queue_status record_status(const std::string& name,
                             const queue_entry& entry) const;

  /// Where an address leads: the one place that reads addresses (`Q`,
  /// `QM/Q`). 2152 for a malformed one. Today every route is a queue of
  /// this queue manager (another queue manager's name is 2087); the
  /// cluster adds routes to transmission queues here.
  struct route {
    /// The local queue: the queue itself, or the transmission queue of a
    /// remote queue manager.
    std::string queue;
    /// The remote queue manager and its queue; empty for a local queue.
    std::string qmgr;
    std::string remote_queue;
    bool remote() const noexcept { return !qmgr.empty(); }
  };
  /// With `balance` (puts), a bare name of a cluster queue may lead to any
  /// instance; else a bare name is always local.
  caf::expected<route> route_of(const std::string& address,
                                bool balance = false) const;

  /// 2152 for a name (or address) that breaks the name rules.
  static caf::error bad_name(const std::string& name);

  /// The instance of cluster queue `name` a put goes to now (this queue
  /// manager's name for the local one), or empty if no member hosts it.
  std::string pick_instance(const std::string& name) const;

  /// The peer's queue-manager actor, or 2059 if it is down (2087 unknown).
  caf::expected<queue_manager_actor> peer_qm(const std::string& qmgr) const;

  /// The transmission queue for `qmgr` (defined on first use, persistent
  /// definition) with its channel running.
  queue_actor xmit_queue(const std::string& qmgr);

  /// Starts the channel for a transmission queue (once).
  void start_channel(const std::string& qmgr, const queue_actor& xmitq);

  /// Marks a message for a remote queue (or topic): transfer id and target.
  void mark_for_transfer(message& msg, std::string_view key,
                         const std::string& target);

  /// Stores the first waiting transfer of `from` (one at a time).
  void store_transfer(const std::string& from);

  /// Dispatches publications that came from another member to this node's
  /// subscriptions only.
  void publish_local(const std::string& topic, std::vector<message>& msgs);

  /// Copies a publication to every member with a matching filter.
  void forward_publication(const std::string& topic,
                           const std::vector<message>& msgs);

  /// Sends a request to a remote queue manager with the remote timeout
  /// (plus `extra_ms`) and relays its one reply.
  template <class T, class... Ts>
  caf::result<T> ask_peer(const queue_manager_actor& peer, int64_t extra_ms,
                          Ts&&... xs);

  /// Finds a queue by address (`Q` or `QM/Q`), defining it (a record) when
  /// allowed.
  caf::expected<queue_table::iterator> lookup(const std::string& address,
                                              bool may_define);

  /// lookup(), then activate(): the queue's actor.
  caf::expected<queue_actor> resolve(const std::string& address,
                                     bool may_define);

  /// The sender of the current message, as an owner.
  caf::actor_addr sender() const;

  /// 2035 if `address` is another owner's temporary queue (reads only).
  caf::error check_reader(const std::string& address) const;

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

  /// Takes a held publication out of `held` (and its publisher's count);
  /// `i` moves on to the next one.
  held_publication unhold(std::deque<held_publication>::iterator& i);

  /// Releases held publications, oldest first, that may go now (bounded
  /// work per call; continues through a resume message).
  void release_held();
};

template <class T, class... Ts>
caf::result<T> queue_manager_state::ask_peer(const queue_manager_actor& peer,
                                             int64_t extra_ms, Ts&&... xs) {
  auto rp = self->make_response_promise<T>();
  auto timeout = std::chrono::milliseconds{cfg.remote_timeout_ms
                                           + std::max<int64_t>(extra_ms, 0)};
  self->request(peer, timeout, std::forward<Ts>(xs)...)
    .then([rp](T& x) mutable { rp.deliver(std::move(x)); },
          [rp](caf::error& e) mutable {
            if (e == caf::sec::request_timeout)
              e = reason_error(ec::q_mgr_not_available,
                               "no answer from the remote queue manager "
                               "in time");
            rp.deliver(std::move(e));
          });
  return rp;
}

queue_manager_actor::behavior_type
queue_manager_impl(queue_manager_actor::stateful_pointer<queue_manager_state>
                     self,
                   qm_config cfg);

} // namespace qmesh
