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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

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

private:
  void read();
  void start_write();
  void shut(const std::string& why);

  boost::asio::ip::tcp::socket sock_;
  std::string peer_;
  std::shared_ptr<connection_handler> handler_;
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

/// Accepts connections on one address and hands each to a factory (io
/// thread), which attaches a handler and calls start().
class tcp_listener : public std::enable_shared_from_this<tcp_listener> {
public:
  using factory = std::function<void(std::shared_ptr<tcp_connection>)>;

  /// Binds and listens; on failure returns nullptr and sets `error`.
  static std::shared_ptr<tcp_listener>
  open(boost::asio::io_context& ctx, const std::string& host, uint16_t port,
       factory make, std::string& error);

  tcp_listener(boost::asio::io_context& ctx, factory make);

  /// The bound port (useful with port 0).
  uint16_t port() const;

  /// Stops accepting and closes every connection it accepted (io thread).
  void stop();

private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  factory make_;
  std::vector<std::weak_ptr<tcp_connection>> accepted_;
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
