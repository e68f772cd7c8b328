// The shared TCP layer of the network front-ends (STOMP, HTTP, and
// WebSocket through Boost.Beast on the same sockets).
//
// Thin by design: it moves bytes and nothing else. A protocol sees a
// connection as "chunks of bytes in, buffers out"; framing, sessions and
// everything else live in the protocol's own actor (docs/architecture.md,
// "Network front-ends").
//
// Threading: every socket operation runs on one Boost.Asio io_context
// thread (io_thread). tcp_connection's stream calls and hand_over may be
// called from any thread (actors call them); they post to the io thread. Handler callbacks run on the io thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocols/net/stream.hpp"

namespace qmesh::net {

/// One accepted TCP connection (TCP_NODELAY set). Shared: the io thread and
/// the protocol actor both hold it; whatever is queued is written in as few
/// syscalls as possible (all buffers queued while a write is in progress go
/// out together in the next gather write).
///
/// Its socket can be handed over to another protocol layer (a WebSocket,
/// hand_over()); the object then stays as the listener's token for that
/// connection until the new owner calls released().
class tcp_connection final
  : public stream,
    public std::enable_shared_from_this<tcp_connection> {
public:
  /// Takes over a socket (hand_over()): gets the socket and the bytes that
  /// were read but not delivered. Runs on the io thread.
  using taker
    = std::function<void(boost::asio::ip::tcp::socket, std::string unread)>;

  /// Largest chunk handed to on_data.
  static constexpr size_t chunk_size = 64 * 1024;
  /// Unconsumed chunks after which reading pauses.
  static constexpr unsigned max_unconsumed = 4;

  explicit tcp_connection(boost::asio::ip::tcp::socket sock);
  ~tcp_connection();

  /// Starts reading into `h` (io thread).
  void start(std::shared_ptr<connection_handler> h);

  /// Runs `f` once, on the io thread, when the socket closes (before the
  /// handler's on_closed). For whoever accounts for open sockets (the
  /// listener); set it on the io thread before start().
  void when_closed(std::function<void()> f);

  // -- stream (any thread) ----------------------------------------------------

  void write(std::string bytes) override;

  void close_after_flush() override;

  void close() override;

  void consumed() override;

  void notify_when_drained() override;

  size_t backlog() const noexcept override {
    return backlog_.load(std::memory_order_relaxed);
  }

  const std::string& peer() const noexcept override {
    return peer_;
  }

  const std::string& address() const noexcept override {
    return address_;
  }

  bool message_oriented() const noexcept override {
    return false;
  }

  // -- handing the socket over ------------------------------------------------

  /// Gives the socket up. Any thread. Reading stops (a read in progress is
  /// cancelled once no write is in progress) and the handler gets no further call; once the queued bytes
  /// are written, `take` runs on the io thread with the socket. If the
  /// connection closes first, `take` never runs. close_after_flush() is
  /// ignored from now on (the old protocol actor lets go); close() still
  /// closes, through the new owner's closer once it has the socket.
  void hand_over(taker take);

  /// For the new owner (io thread, inside or after `take`): how close()
  /// reaches it.
  void set_closer(std::function<void()> closer);

  /// For the new owner (io thread): the socket it took is closed; the
  /// listener stops counting this connection.
  void released();

private:
  void read();
  void start_write();
  void shut(const std::string& why);
  void try_hand_over();

  boost::asio::ip::tcp::socket sock_;
  std::string address_;
  std::string peer_;
  std::shared_ptr<connection_handler> handler_;
  std::function<void()> when_closed_;
  // -- io thread only --
  std::vector<std::string> queued_;
  std::vector<std::string> writing_;
  unsigned unconsumed_ = 0;
  bool reading_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool notify_drained_ = false;
  // Handing over: requested, the read in progress cancelled, and done
  // (the socket is gone).
  taker taker_;
  bool handing_ = false;
  bool cancelled_ = false;
  bool handed_ = false;
  std::string unread_;
  std::function<void()> closer_;
  // -- any thread --
  std::atomic<size_t> backlog_{0};
};

/// Caps on the connections one listener holds open (accepted and not yet
/// closed). A connection over a cap is refused: it gets the listener's
/// refusal bytes and is closed.
struct listener_limits {
  /// Open connections of the listener.
  size_t max_connections = 10'000;
  /// Open connections of the listener from one IP address.
  size_t max_per_address = 1'000;
};

/// What a listener is and how it refuses.
struct listener_options {
  /// Names the listener in logs (`stomp`).
  std::string name;
  listener_limits limits;
  /// The bytes written to a refused connection before it closes, given one
  /// line saying which cap was hit (the protocol's error frame). Called on
  /// the io thread; must not block. Unset: the connection just closes.
  std::function<std::string(const std::string& why)> refusal;
  /// How the refusal bytes reach a refused connection, which must then
  /// close (a TLS listener sends them after a handshake). Unset: they are
  /// written to the socket as they are.
  std::function<void(std::shared_ptr<tcp_connection>, std::string bytes)>
    send_refusal;
};

/// Accepts connections on one address and hands each admitted one to a
/// factory (io thread), which attaches a handler and calls start().
///
/// Overload behaviour: connections over a cap are refused (see
/// listener_limits; logged at most once a second with a count); when the
/// process runs out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
/// ENOMEM) accepting backs off, 50 ms doubling to 1 s, and resumes by itself
/// once accept succeeds again (one log line per episode).
///
/// Threading: everything but open() and port() runs on the io thread.
class tcp_listener : public std::enable_shared_from_this<tcp_listener> {
public:
  using factory = std::function<void(std::shared_ptr<tcp_connection>)>;

  /// Shortest and longest pause of the accept loop after running out of
  /// descriptors or memory.
  static constexpr std::chrono::milliseconds min_backoff{50};
  static constexpr std::chrono::milliseconds max_backoff{1000};

  /// Binds and listens; on failure returns nullptr and sets `error`.
  static std::shared_ptr<tcp_listener>
  open(boost::asio::io_context& ctx, const std::string& host, uint16_t port,
       listener_options opts, factory make, std::string& error);

  tcp_listener(boost::asio::io_context& ctx, listener_options opts,
               factory make);

  /// The bound port (useful with port 0).
  uint16_t port() const;

  /// Stops accepting and closes every connection it accepted (io thread).
  void stop();

private:
  /// One socket the listener accepted and that is not closed yet.
  struct open_socket {
    std::weak_ptr<tcp_connection> conn;
    /// False for a refused connection on its way out: it counts against
    /// no cap.
    bool admitted = false;
  };

  void accept();
  void on_accepted(boost::asio::ip::tcp::socket sock);
  void on_accept_error(const boost::system::error_code& ec);

  /// Why a new connection from `address` would be over a cap; empty if
  /// it is not.
  std::string over_cap(const std::string& address) const;

  void admit(std::shared_ptr<tcp_connection> conn);
  void refuse(std::shared_ptr<tcp_connection> conn, const std::string& why);

  /// Remembers `conn` until its socket closes.
  void track(const std::shared_ptr<tcp_connection>& conn, bool admitted);
  void release(const tcp_connection* conn);

  /// Counts a refusal; logs at once if nothing was logged in the last
  /// second, else the count is logged when that second is over.
  void note_refusal(const std::string& what);
  void log_refusals();

  std::string describe() const;

  boost::asio::ip::tcp::acceptor acceptor_;
  listener_options opts_;
  factory make_;
  std::unordered_map<const tcp_connection*, open_socket> open_;
  size_t admitted_ = 0;
  std::unordered_map<std::string, size_t> per_address_;
  // Accept back-off (zero: not backing off).
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_{0};
  size_t failed_accepts_ = 0;
  // Refusal log.
  boost::asio::steady_timer refusal_log_timer_;
  bool refusal_log_armed_ = false;
  size_t refusals_unlogged_ = 0;
  std::string last_refusal_;
  bool stopped_ = false;
};

/// The io_context and its thread. Outlives every connection: declare it
/// before the actor system, so that actors holding connections are gone
/// before it is destroyed.
class io_thread {
public:
  io_thread();
  ~io_thread();

  boost::asio::io_context& context() noexcept {
    return ctx_;
  }

  /// Runs the io_context on its own thread.
  void start();

  /// Stops the listeners, closes their connections, lets pending handlers
  /// finish and joins the thread. Idempotent.
  void stop(std::vector<std::shared_ptr<tcp_listener>> listeners);

private:
  boost::asio::io_context ctx_;
  std::unique_ptr<std::thread> thread_;
  std::optional<boost::asio::executor_work_guard<
    boost::asio::io_context::executor_type>>
    guard_;
};

} // namespace qmesh::net
