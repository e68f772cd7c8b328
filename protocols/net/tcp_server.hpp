// The shared TCP layer of the network front-ends (STOMP now; HTTP and
// WebSocket, through Boost.Beast on the same sockets, next).
//
// Thin by design: it moves bytes and nothing else. A protocol sees a
// connection as "chunks of bytes in, buffers out"; framing, sessions and
// everything else live in the protocol's own actor (docs/architecture.md,
// "Network front-ends").
//
// Threading: every socket operation runs on one Boost.Asio io_context
// thread (io_thread). tcp_connection::write, close, close_after_flush and
// consumed may be called from any thread (actors call them); they post to
// the io thread. Handler callbacks run on the io thread and must not block.
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

namespace qmesh::net {

/// Receives what a connection reads. Called on the io thread only.
class connection_handler {
public:
  virtual ~connection_handler();

  /// Bytes read. The receiver calls tcp_connection::consumed() once it is
  /// done with them; reading pauses while too many chunks are unconsumed
  /// (back-pressure towards the peer).
  virtual void on_data(std::string chunk) = 0;

  /// The write backlog fell to zero after notify_when_drained().
  virtual void on_drained() = 0;

  /// The connection is closed (peer closed, error, or close()). Called once;
  /// no call follows it.
  virtual void on_closed(const std::string& why) = 0;
};

/// One accepted TCP connection (TCP_NODELAY set). Shared: the io thread and
/// the protocol actor both hold it; whatever is queued is written in as few
/// syscalls as possible (all buffers queued while a write is in progress go
/// out together in the next gather write).
class tcp_connection : public std::enable_shared_from_this<tcp_connection> {
public:
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

  /// Queues bytes for writing. Any thread.
  void write(std::string bytes);

  /// Writes what is queued, then closes. Any thread.
  void close_after_flush();

  /// Closes at once, dropping queued bytes. Any thread.
  void close();

  /// One chunk from on_data is processed. Any thread.
  void consumed();

  /// Calls on_drained once the write backlog is empty. Any thread.
  void notify_when_drained();

  /// Bytes queued or being written.
  size_t backlog() const noexcept {
    return backlog_.load(std::memory_order_relaxed);
  }

  /// The peer's address, `HOST:PORT`.
  const std::string& peer() const noexcept {
    return peer_;
  }

  /// The peer's IP address alone (`?` if unknown).
  const std::string& address() const noexcept {
    return address_;
  }

private:
  void read();
  void start_write();
  void shut(const std::string& why);

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
