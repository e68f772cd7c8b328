// The STOMP connection actor: one per STOMP client connection.
//
// It owns the connection's codec and protocol state and speaks to one
// session actor (the same kind native clients get) as that session's
// client: deliveries arrive here and leave as MESSAGE frames. What the
// client holds (consumers, unacked messages, temporary queues) belongs to
// the session and is released when this actor ends — however it ends.
//
// Ordering contract: frames are handled in arrival order; RECEIPTs and
// ERRORs leave in the order of the frames they answer (reply slots).
// Handling pauses (later frames wait) only while a frame needs something
// that does not exist yet: the session (CONNECT), a temporary queue, a
// subscription still being set up, or a COMMIT in progress.
//
// Transport: a TCP byte stream or a WebSocket (net::stream); on a
// message-oriented stream each frame leaves as its own message and each
// message read is taken as one frame (docs/protocol-stomp.md, "STOMP over
// WebSocket"). Everything else is the same on both.
//
// Threading: all state is the actor's; the stream is shared with the io
// thread and used only through its thread-safe calls.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "protocols/net/byte_budget.hpp"
#include "protocols/net/stream.hpp"
#include "protocols/stomp/mapping.hpp"
#include "protocols/stomp/parser.hpp"

namespace qmesh::stomp {

/// What every STOMP connection of a node shares.
struct server_settings {
  limits frame_limits;
  /// Heart-beat interval offered and asked for; 0 = none.
  std::chrono::milliseconds heartbeat{10'000};
  /// Time a frame has to arrive in full once its first byte came; 0 = no
  /// limit. Time while the server holds the connection's input back (flow
  /// control) does not count.
  std::chrono::milliseconds frame_timeout{30'000};
  /// Unacknowledged messages per subscription when SUBSCRIBE has no
  /// prefetch-count.
  uint32_t default_prefetch = 1000;
  uint32_t max_prefetch = 100'000;
  /// Frames one transaction may hold.
  size_t max_transaction_frames = 10'000;
  /// Body bytes all open transactions of a connection may hold.
  size_t max_transaction_bytes = 64 * 1024 * 1024;
  /// Body bytes the open transactions of all connections of the node may
  /// hold together; shared by those connections (thread-safe). nullptr: no
  /// node-wide limit.
  std::shared_ptr<net::byte_budget> transaction_memory;
  /// Open transactions per connection.
  size_t max_transactions = 100;
  /// Subscriptions per connection.
  size_t max_subscriptions = 1000;
  /// Requests in flight after which handling frames and reading from the
  /// socket pause.
  size_t max_outstanding = 64;
  /// Write backlog (bytes) above which auto-ack credit is held back.
  size_t max_backlog = 4 * 1024 * 1024;
  std::string server_name = "qmesh";
};

struct connection_state {
  static inline const char* name = "qmesh.stomp.connection";

  // -- member types -----------------------------------------------------------

  struct subscription {
    /// The SUBSCRIBE `id`; a 1.0 SUBSCRIBE without one: its destination.
    std::string id;
    /// A 1.0 SUBSCRIBE without `id`: MESSAGEs carry no `subscription`.
    bool anonymous = false;
    /// As the client wrote it (MESSAGE destination for queue deliveries).
    std::string destination;
    destination::kind_t kind = destination::queue;
    /// Topic subscriptions: the queue manager's subscription name.
    std::string sub_name;
    /// A durable subscription: UNSUBSCRIBE only detaches the consumer (the
    /// subscription stays until deleted by name).
    bool durable = false;
    /// The session's consumer id; 0 while being set up.
    uint64_t consumer = 0;
    /// "auto", "client" or "client-individual".
    bool client_ack = false;
    bool cumulative = false;
    /// Auto-ack credit held back while the write backlog is high.
    uint32_t owed_credit = 0;
    /// UNSUBSCRIBE sent; deliveries still arriving are written.
    bool cancelling = false;
  };

  /// One held operation of a transaction.
  struct tx_op {
    enum kind_t : uint8_t { put, publish, ack, nack } kind = put;
    std::string address;
    message msg;
    uint64_t consumer = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    bool requeue = true;
  };

  /// A reply slot: output waiting for every earlier slot.
  struct slot {
    bool done = false;
    /// Close the connection after writing this slot.
    bool close = false;
    std::string out;
  };

  // -- state ------------------------------------------------------------------

  connection_actor::pointer self = nullptr;
  std::shared_ptr<net::stream> conn;
  front_door_actor door;
  std::shared_ptr<const server_settings> cfg;
  parser codec;
  session_actor session;
  bool connected = false;
  /// The STOMP version: 1.2 until CONNECT negotiates (the codec switches by
  /// itself, for frames read behind the CONNECT). Every version-dependent
  /// step branches on it.
  protocol_version version = protocol_version::v1_2;
  /// The highest version this connection may negotiate (a WebSocket's
  /// subprotocol caps it).
  protocol_version highest = protocol_version::v1_2;
  /// CONNECT's `client-id` ("" if none): part of durable subscription names.
  std::string client_id;
  /// Durable subscriptions this connection is deleting (UNSUBSCRIBE in
  /// flight), with counts: a SUBSCRIBE to one of them waits, so that it
  /// makes a new subscription instead of resuming the doomed one.
  std::unordered_map<std::string, unsigned> deleting;
  /// An ERROR or DISCONNECT is on its way: no more input, no more output.
  bool closing = false;
  std::deque<frame> input;
  /// No frame is handled until an asynchronous step (CONNECT, COMMIT)
  /// completes, or ever again (ERROR, DISCONNECT).
  bool blocked = false;
  /// The front frame waits for something in flight (a temporary queue, a
  /// subscription being set up); retried when any request completes.
  bool stalled = false;
  size_t outstanding = 0;
  unsigned held_chunks = 0;
  std::deque<slot> slots;
  uint64_t slot_base = 0;
  /// Bytes produced by the current handler; written by flush().
  std::string out;
  /// By SUBSCRIBE id; an UNSUBSCRIBE removes the entry at once (the id is
  /// free again).
  std::unordered_map<std::string, std::shared_ptr<subscription>> subs;
  /// By the session's consumer id, until the consumer is cancelled.
  std::unordered_map<uint64_t, std::shared_ptr<subscription>> by_consumer;
  std::unordered_map<std::string, std::vector<tx_op>> txs;
  /// Body bytes held by open transactions, taken from the node-wide
  /// budget; given back when a transaction ends and when the actor ends.
  net::budget_share tx_bytes;
  /// /temp-queue/NAME → SYSTEM.TEMP.<n>.
  std::unordered_map<std::string, std::string> temps;
  bool waiting_drain = false;
  // Heart-beats (zero: off).
  std::chrono::milliseconds send_every{0};
  std::chrono::milliseconds expect_every{0};
  std::chrono::steady_clock::time_point started;
  /// Generation of the tick in flight; older ticks are ignored.
  uint64_t tick_gen = 0;
  /// A tick is in flight, due at tick_due.
  bool tick_armed = false;
  std::chrono::steady_clock::time_point tick_due;
  /// The codec's partial frame whose deadline runs (parser::partial_frame;
  /// 0: none) and when its clock started.
  uint64_t timed_frame = 0;
  std::chrono::steady_clock::time_point frame_started;
  /// process() is running (it must not run inside itself).
  bool processing = false;
  std::chrono::steady_clock::time_point last_read;
  std::chrono::steady_clock::time_point last_write;

  // -- input ------------------------------------------------------------------

  /// Feeds bytes to the codec and handles the frames. On a
  /// message-oriented stream a chunk is one frame, whose final NUL may be
  /// missing (it is added), or heart-beat EOLs.
  void on_bytes(std::string& chunk);

  /// Handles queued frames until done, blocked, stalled or closing.
  void process();

  /// process(), then lets the socket read on if nothing holds it back.
  void resume();

  /// Handles one frame; false if it must wait (it stays at the front).
  bool handle(frame& f);

  // -- frames -----------------------------------------------------------------

  bool on_connect(frame& f);
  bool on_send(frame& f);
  bool on_subscribe(frame& f);
  bool on_unsubscribe(frame& f);
  bool on_ack(frame& f, bool ack);
  bool on_begin(frame& f);
  bool on_commit(frame& f);
  bool on_abort(frame& f);
  bool on_disconnect(frame& f);

  // -- deliveries -------------------------------------------------------------

  void on_deliver(delivery_batch& batch);
  void on_drained();

  /// The session went before this connection did: ERROR, then close.
  void on_session_down(const caf::down_msg& dm);

  // -- heart-beats ------------------------------------------------------------

  void on_tick(uint64_t gen);

  /// Sends the next tick (replacing any in flight) after tick_period().
  void schedule_tick();

  /// Every second before CONNECT, then at half the shorter heart-beat
  /// interval; at most a quarter of the frame timeout while a frame is
  /// partial.
  std::chrono::milliseconds tick_period() const;

  /// Something needs ticks: the CONNECT deadline, heart-beats or a
  /// partial frame's deadline.
  bool needs_tick() const;

  // -- frame deadline ---------------------------------------------------------

  /// Starts the deadline of a partial frame the codec began since the last
  /// call (and makes sure a tick comes in time to enforce it).
  void watch_frame();

  /// The partial frame is past its deadline.
  bool frame_overdue(std::chrono::steady_clock::time_point now) const;

  // -- replies ----------------------------------------------------------------

  /// Opens a reply slot; returns its number.
  uint64_t open_slot();

  /// Completes slot `n` with `bytes` (RECEIPT, ERROR or nothing).
  void finish_slot(uint64_t n, std::string bytes, bool close = false);

  /// Completes slot `n` with an ERROR for `err`; the connection closes
  /// once it is written.
  void error_slot(uint64_t n, const caf::error& err,
                  std::string_view receipt_id);

  /// Completes slot `n` of a request that finished with `bytes` (a
  /// RECEIPT or nothing) and lets frame handling go on.
  void reply_slot(uint64_t n, std::string bytes);

  /// A slot done at once: RECEIPT if the frame asked for one.
  void receipt_now(const frame& f);

  /// ERROR for `f` (in order), then close.
  void fail(const frame& f, const caf::error& err);
  void fail(const frame& f, ec code, std::string text);

  /// Ends the queue manager's subscriptions `names` one after the other,
  /// then completes slot `n` with `receipt`; an ERROR at the first failure.
  void unsubscribe_names(uint64_t n, std::string receipt,
                         std::string receipt_id,
                         std::vector<std::string> names);

  /// A request finished: resume reading if it was held back.
  void request_done();

  /// Writes `out` to the stream (one message per frame and per heart-beat
  /// on a message-oriented stream).
  void flush();

  /// Closes after what is written; the actor ends.
  void close_now();

  // -- helpers ----------------------------------------------------------------

  /// Real name of the temporary queue NAME; nullptr while it does not
  /// exist (yet).
  const std::string* temp_queue(std::string_view name) const;

  /// The queue a `/queue/` or `/temp-queue/` destination names; nullptr
  /// after answering `f` with an ERROR (too many temporary queues).
  const std::string* queue_of(const frame& f, const destination& d);

  /// Ensures every temp queue `f` names (destination, reply-to) exists;
  /// false if handling must wait.
  bool temps_ready(const frame& f);

  /// The subscription of a delivery id `<consumer>-<tag>` (the 1.2 `ack`
  /// header, the 1.0/1.1 `message-id`) of a client-ack subscription.
  subscription* parse_ack_id(std::string_view id, uint64_t& tag);

  /// The client-ack subscription and tag the ACK or NACK `f` names, by the
  /// version: 1.2 `id`; 1.1 `message-id` and `subscription`; 1.0
  /// `message-id` (and `subscription` if present). nullptr with `code` and
  /// `why` set if it names none.
  subscription* ack_target(const frame& f, uint64_t& tag, ec& code,
                           std::string& why);

  /// The value of header `name`, or nullptr after answering `f` with an
  /// ERROR (absent or empty).
  const std::string* need(const frame& f, std::string_view name);

  /// True if transaction `name` is open; else answers `f` with an ERROR.
  bool known_transaction(const frame& f, const std::string& name);

  /// Adds `op` to transaction `name`, or answers `f` with an ERROR (no such
  /// transaction, or a limit reached).
  void hold(const frame& f, const std::string& name, tx_op op);

  /// Removes a transaction, releasing its byte count.
  std::vector<tx_op> take_transaction(const std::string& name);

  /// Makes a RECEIPT for `f` if it asked (empty string otherwise).
  std::string receipt_for(const frame& f) const;
};

connection_actor::behavior_type
connection_impl(connection_actor::stateful_pointer<connection_state> self,
                std::shared_ptr<net::stream> conn,
                front_door_actor door,
                std::shared_ptr<const server_settings> cfg,
                protocol_version highest);

} // namespace qmesh::stomp
