// qmesh::client — the C++ client library for ordinary programs.
//
// A client is one connection to one qmesh node (queue manager). It needs no
// CAF knowledge: the public types are this header's classes and the plain
// structs of core/message.hpp (message, msg_id), core/requests.hpp
// (get_options, ack_mode, open_mode, subscription_info, qm_status),
// core/queue_attrs.hpp (attr_map, queue_status) and core/cluster_info.hpp
// (cluster_status).
//
//   auto c = qmesh::client::connect("127.0.0.1", 7700);
//   c.put("ORDERS", qmesh::client::text("hello"));
//   auto msg = c.get("ORDERS", qmesh::client::wait(1000));
//
// Errors. Every failure throws qmesh::client_error, which carries the MQRC
// reason number (2033, 2085, ...), its name (`no_msg_available`) and the
// node's context text. Besides the node's reason codes (docs/reason-codes.md)
// the client itself raises:
//   2059 q_mgr_not_available  connect() could not reach a qmesh node
//   2009 connection_broken    the connection to the node was lost, or the
//                             node did not answer within the timeout
//   2018 hconn_error          the client was closed (or moved from)
// try_get() is the one call that reports "no message" (2033) as a value.
//
// Threads. All calls are blocking and thread-safe: any number of threads may
// use one client. Consumer callbacks run on threads the client owns (one per
// consumer) and may call back into the client (ack, put, ...). The
// asynchronous calls (put_async, get_async) return a std::future at once, so
// that one thread can keep many requests in flight; at most
// client_options::window of them are in flight per client.
//
// Lifetime. Everything the client opened, consumed, subscribed without a
// durable name or left uncommitted belongs to its session on the node and is
// released when the client is closed or destroyed, or its process dies:
// opens are closed, unacked deliveries return to their queue (redelivered,
// delivery_count + 1), units of work are backed out, non-durable
// subscriptions end.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/cluster_info.hpp"
#include "core/message.hpp"
#include "core/queue_attrs.hpp"
#include "core/requests.hpp"

namespace qmesh {

/// A failed client call: the reason code, its name and the context text.
class client_error : public std::runtime_error {
public:
  client_error(int code, std::string name, std::string text);

  /// The MQRC number (2033, 2085, ...).
  int code() const noexcept { return code_; }

  /// The reason's lower-case name (`no_msg_available`).
  const std::string& name() const noexcept { return name_; }

  /// Context from the node or the client (may be empty).
  const std::string& text() const noexcept { return text_; }

  // what() is `2033 no_msg_available: ORDERS` (no `: ...` without text).

private:
  int code_;
  std::string name_;
  std::string text_;
};

/// Reason codes raised by the client itself (the node's are in
/// core/reason.hpp, docs/reason-codes.md).
namespace client_rc {
constexpr int connection_broken = 2009;
constexpr int hconn_error = 2018;
constexpr int no_msg_available = 2033;
constexpr int q_mgr_not_available = 2059;
} // namespace client_rc

/// Connection settings.
struct client_options {
  /// Longest wait for any reply from the node (gets add their wait).
  std::chrono::milliseconds timeout{30'000};
  /// Longest wait for connect() to reach the node and open a session.
  std::chrono::milliseconds connect_timeout{10'000};
  /// CAF scheduler threads of the client (0 = CAF's default, one per core).
  size_t threads = 2;
  /// Most asynchronous calls in flight at once (put_async, get_async); a
  /// call beyond it blocks until one of them completes (at least 1).
  size_t window = 256;
  /// Credentials for a node with users (docs/client.md); empty user:
  /// anonymous, which only a node without users accepts.
  std::string user;
  std::string password;
  /// Mutual TLS to a node whose native listener runs it (docs/client.md,
  /// "TLS"): the client's certificate and key (PEM) and the CA that signs
  /// the node's certificate. All three or none; none: plain BASP, which a
  /// node accepts on loopback only.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;

  /// True if the TLS files are set.
  bool tls() const noexcept {
    return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty();
  }
};

/// One message pushed to a consumer callback.
struct delivery {
  /// The consumer (session-wide id returned by consume()).
  uint64_t consumer = 0;
  /// The message; `msg.tag` is its delivery tag for ack / nack.
  message msg;
};

class client;

/// A queue opened for repeated puts (or gets) by one client: puts go straight
/// to the queue, without address resolution per message. Closed on
/// destruction or close(); must not outlive its client's connection (calls
/// then fail with 2018). Movable, not copyable.
class queue_handle {
public:
  queue_handle() noexcept;
  queue_handle(queue_handle&&) noexcept;
  queue_handle& operator=(queue_handle&&) noexcept;
  ~queue_handle();

  /// The address it was opened with.
  const std::string& address() const noexcept;

  /// Puts one message; returns its msg_id.
  msg_id put(message msg);

  /// Puts a batch in one round trip, all or nothing; returns how many.
  uint64_t put_many(std::vector<message> msgs);

  /// Closes the open (idempotent; also done by the destructor, which ignores
  /// errors).
  void close();

  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }

  struct impl;

private:
  friend class client;
  explicit queue_handle(std::unique_ptr<impl> x) noexcept;
  std::unique_ptr<impl> impl_;
};

/// A connection to one qmesh node. Movable, not copyable.
class client {
public:
  /// Called for each consumed message, on the consumer's own thread.
  using handler = std::function<void(delivery&)>;

  /// Connects to the node listening on host:port and opens a session.
  /// Throws client_error 2059 if no qmesh node answers there.
  static client connect(const std::string& host, uint16_t port,
                        client_options opts = {});

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  /// Closes the connection (see close()).
  ~client();

  /// Ends the session: stops every consumer thread, then the node releases
  /// everything this client holds. Idempotent; later calls throw 2018.
  void close();

  /// False once closed or once the connection to the node is lost (then
  /// every call fails with 2009; connect again for a new session).
  bool connected() const noexcept;

  /// The queue manager's status as of connect().
  const qm_status& qmgr() const;

  /// The queue manager's current status.
  qm_status status();

  /// The cluster as this node sees it: members (itself included) and the
  /// channels to the other queue managers; `enabled` is false on a node
  /// without --cluster-listen.
  cluster_status cluster();

  /// The node's client connections (sessions): id, protocol, peer, user
  /// and connect time; this client's own one included.
  std::vector<connection_info> connections();

  /// Closes connection `id` (from connections()): its client sees reason
  /// 2009 and what it held is released as if it had gone. 2085 if there is
  /// no such connection.
  void disconnect(uint64_t id);

  // -- administration ---------------------------------------------------------

  /// Defines a queue with attributes (`max_depth` → `5000`, ...).
  queue_status define(const std::string& name, const attr_map& attrs = {});

  /// Changes a queue's attributes, all or nothing (`set` in the CLI).
  queue_status set(const std::string& name, const attr_map& changes);

  /// A queue's attributes and statistics.
  queue_status inquire(const std::string& name);

  /// Deletes a queue; with `purge` its messages go too. Returns how many
  /// messages were purged.
  uint64_t delete_queue(const std::string& name, bool purge = false);

  /// Removes every ready message of a queue; returns how many.
  uint64_t purge(const std::string& name);

  /// Queues whose names match `pattern` (`*` = all, `ABC*` = prefix).
  std::vector<queue_status> list(const std::string& pattern = "*");

  // -- point to point ---------------------------------------------------------

  /// Opens a queue (`Q` or `QM/Q`) for repeated puts; counts as an open
  /// for output (or `mode`) until the handle closes.
  queue_handle open(const std::string& address,
                    open_mode mode = open_mode::output);

  /// Puts one message to an address (`Q` or `QM/Q`); returns its msg_id.
  msg_id put(const std::string& address, message msg);

  /// Same as put(address, msg): open, put, close in one call (MQPUT1).
  msg_id put1(const std::string& address, message msg);

  /// Puts one message under a unit of work (see begin()).
  msg_id put(const std::string& address, message msg, uint64_t uow);

  /// Puts a batch in one round trip, all or nothing; returns how many.
  uint64_t put_many(const std::string& address, std::vector<message> msgs);

  /// Gets (or browses) one message as `opts` says: wait_ms (0 = no wait,
  /// wait_unlimited), browse first / next (next: browse_cursor = the `tag`
  /// of the message browsed before), match_msg_id, match_correl_id, uow.
  /// Throws 2033 when no message arrives in time.
  message get(const std::string& queue, const get_options& opts = {});

  /// As get(), but returns nullopt instead of throwing 2033.
  std::optional<message> try_get(const std::string& queue,
                                 const get_options& opts = {});

  /// Gets up to `max` messages (1 to max_get_batch, 10,000) in one round
  /// trip: those ready now, in queue order, without waiting (opts.wait_ms
  /// must be 0, else 2046). With opts.browse it browses them instead (first,
  /// or next after opts.browse_cursor; a following batch goes on from the
  /// last one's `tag`). Under opts.uow at most what still fits in the unit
  /// of work. Empty when no message is ready.
  std::vector<message> get_many(const std::string& queue, uint32_t max,
                                const get_options& opts = {});

  // -- asynchronous point to point ------------------------------------------

  // Each returns at once (or, with client_options::window calls in flight,
  // as soon as one of them completes) and sends its request in call order:
  // the node applies one client's puts to a queue, and serves its gets from
  // a queue, in the order they were called. The future yields the result or
  // throws client_error as the blocking call would (2009 also when no reply
  // comes within the timeout, 2018 when the client is closed first). A
  // future that is never waited for is harmless: the call completes anyway.
  // Messages a destructive get_async took are the caller's once the node
  // answered, whether or not the future is read; get under a unit of work
  // (get_options::uow) to keep them recoverable until commit.

  /// As put(address, msg), or under a unit of work when `uow` is not 0.
  std::future<msg_id> put_async(const std::string& address, message msg,
                                uint64_t uow = 0);

  /// As try_get(): nullopt when no message arrives in time (2033).
  std::future<std::optional<message>> get_async(const std::string& queue,
                                                const get_options& opts = {});

  /// As get_many(): an empty vector when no message is ready.
  std::future<std::vector<message>>
  get_many_async(const std::string& queue, uint32_t max,
                 const get_options& opts = {});

  // -- consumers --------------------------------------------------------------

  /// Starts a consumer: the node pushes up to `prefetch` messages at a time
  /// and `f` runs for each, in queue order, on a thread of this consumer.
  /// ack_mode::automatic: a delivered message is consumed (the window
  /// reopens after each callback); ack_mode::client: each delivery must be
  /// acked or nacked (until then it counts against the window, and it
  /// returns to the queue if the client goes). Returns the consumer id.
  /// An exception thrown by `f` is swallowed; in client mode the delivery is
  /// then nacked with requeue.
  uint64_t consume(const std::string& queue, handler f,
                   uint32_t prefetch = 64,
                   ack_mode mode = ack_mode::automatic);

  /// Ends a consumer. Unacked deliveries return to the queue; messages
  /// delivered in automatic mode but not yet handed to the callback still
  /// are (cancel waits for that). May be called from the callback.
  void cancel(uint64_t consumer);

  /// Acks one delivery (client mode); returns how many were settled (0 if
  /// it was already settled).
  uint64_t ack(const delivery& d);

  /// Acks the consumer's tags [first, last] in one call.
  uint64_t ack(uint64_t consumer, uint64_t first_tag, uint64_t last_tag);

  /// Nacks one delivery: back to the queue (requeue, delivery_count + 1)
  /// or to the dead-letter queue.
  uint64_t nack(const delivery& d, bool requeue = true);

  /// Nacks the consumer's tags [first, last].
  uint64_t nack(uint64_t consumer, uint64_t first_tag, uint64_t last_tag,
                bool requeue = true);

  // -- units of work ----------------------------------------------------------

  /// Starts a unit of work; pass its id to put(address, msg, uow) and in
  /// get_options::uow. Puts stay invisible and gets reversible until
  /// commit; backout returns the gets (delivery_count + 1).
  uint64_t begin();
  void commit(uint64_t uow);
  void backout(uint64_t uow);

  // -- publish / subscribe ----------------------------------------------------

  /// Publishes to a topic (`a/b/c`); with `retain` it is also kept for
  /// future subscribers. Returns how many subscriptions matched.
  uint64_t publish(const std::string& topic, message msg, bool retain = false);

  /// Subscribes to a topic filter (`+` one level, `#` the rest). With a
  /// durable name the subscription outlives this client (subscribing again
  /// with that name resumes it); publications land on `queue`, or on a
  /// managed queue (info.queue) when empty. Read them with get() or
  /// consume() on info.queue.
  subscription_info subscribe(const std::string& filter,
                              const std::string& durable_name = {},
                              const std::string& queue = {});

  /// Ends a subscription by name (durable name or `SYSTEM.SUB.<id>`).
  void unsubscribe(const std::string& name);

  /// Every subscription of the queue manager.
  std::vector<subscription_info> subscriptions();

  // -- helpers ----------------------------------------------------------------

  /// A message with `body` and a default descriptor.
  static message text(std::string body);

  /// get_options that wait up to `ms` milliseconds.
  static get_options wait(int64_t ms);

  struct impl;

private:
  explicit client(std::shared_ptr<impl> x) noexcept;
  std::shared_ptr<impl> impl_;
};

} // namespace qmesh
