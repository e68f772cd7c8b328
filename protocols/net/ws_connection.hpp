// WebSocket connections (RFC 6455, with Boost.Beast) on the shared io
// thread: an HTTP connection whose request asks for an upgrade hands its
// socket (ws://) or its TLS stream (wss://) to a ws_connection, which
// completes the handshake and gives a protocol actor the connection as a
// message-oriented net::stream (one chunk per message read, one message
// per write). One implementation serves both: a template over the stream
// beneath, its bookkeeping in a base. docs/architecture.md, "Network
// front-ends"; the STOMP use in docs/protocol-stomp.md.
//
// Threading: as tcp_connection; the stream calls may be made from any
// thread, everything else runs on the io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "protocols/net/stream.hpp"
#include "protocols/net/tcp_server.hpp"
#include "protocols/net/tls_connection.hpp"

namespace qmesh::net {

using http_request
  = boost::beast::http::request<boost::beast::http::string_body>;

/// The one path WebSocket upgrades are accepted on.
inline constexpr const char* ws_path = "/ws";

/// How a node's WebSocket endpoint behaves; shared by its connections.
struct ws_settings {
  /// Makes the protocol side of an accepted WebSocket: gets the stream and
  /// the agreed subprotocol ("" if the client offered none) and returns
  /// the handler of its events. Runs on the io thread; must not block.
  using factory = std::function<std::shared_ptr<connection_handler>(
    std::shared_ptr<stream>, const std::string& subprotocol)>;

  factory make;
  /// Accepted subprotocols, best first. A client offering none is accepted
  /// (subprotocol ""); one offering only others is refused.
  std::vector<std::string> subprotocols;
  /// Largest message read; a larger one closes with 1009.
  uint64_t max_message = 16 * 1024 * 1024;
  /// Time for the opening and the closing handshake.
  std::chrono::seconds handshake_timeout{30};
  /// Nothing received for this long closes the connection; a ping goes out
  /// after half of it.
  std::chrono::seconds idle_timeout{60};
  /// The Server header of the handshake response.
  std::string server_name = "qmesh";
};

/// Whether an HTTP request may become a WebSocket.
struct ws_verdict {
  /// 0: yes; else the HTTP status of the refusal (400, 405).
  unsigned status = 0;
  /// Why not, one line.
  std::string error;
  /// The chosen subprotocol ("" if the client offered none).
  std::string subprotocol;
};

/// Checks `req` (a request for ws_path) against RFC 6455's opening
/// handshake and `cfg`'s subprotocols.
ws_verdict check_upgrade(const ws_settings& cfg, const http_request& req);

/// Hands an HTTP connection to a new WebSocket that answers `req` (already
/// accepted by check_upgrade): a plain one's socket (ws://) or a TLS one's
/// TLS stream (wss://). Any thread. The connection's listener keeps
/// counting it until the WebSocket closes; the listener's stop() closes
/// it.
void upgrade(std::shared_ptr<tcp_connection> conn, http_request req,
             std::shared_ptr<const ws_settings> cfg, std::string subprotocol);
void upgrade(std::shared_ptr<tls_connection> conn, http_request req,
             std::shared_ptr<const ws_settings> cfg, std::string subprotocol);

/// True if `text` is valid UTF-8 (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text) noexcept;

/// What a WebSocket connection is whatever stream it runs on: the stream
/// interface's properties and the io thread's bookkeeping of what is read,
/// queued and closed. Io thread only, but for the stream calls.
class ws_connection_base : public stream {
public:
  /// Reading pauses while this many messages, or this many bytes (but at
  /// least one message), are unconsumed.
  static constexpr size_t max_unconsumed = 8;
  static constexpr size_t max_unconsumed_bytes = 256 * 1024;

  ~ws_connection_base() override;

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
    return true;
  }

protected:
  ws_connection_base(std::shared_ptr<tcp_connection> shell,
                     std::shared_ptr<const ws_settings> cfg);

  /// Too much is unconsumed: reading waits for consumed().
  bool input_held_back() const noexcept;

  /// A message of `n` bytes was read and goes to the handler.
  void note_read(size_t n);

  /// The oldest unconsumed message is consumed.
  void note_consumed();

  /// Queues a message (write()) unless the connection is closing; true if
  /// queued.
  bool enqueue(std::string& bytes);

  /// The message at the front was written (or failed): it leaves the
  /// queue and the backlog.
  void pop_written();

  /// Marks the connection closed: drops what is queued (but a message
  /// being written), releases the listener's token and tells the handler
  /// why. The socket must be closed already.
  void finish(const std::string& why);

  std::shared_ptr<tcp_connection> shell_;
  std::shared_ptr<const ws_settings> cfg_;
  std::string address_;
  std::string peer_;
  std::shared_ptr<connection_handler> handler_;
  // -- io thread only --
  boost::beast::flat_buffer rbuf_;
  std::deque<std::string> queued_; // the front is being written if writing_
  std::deque<size_t> unconsumed_;  // sizes of the messages not consumed
  size_t unconsumed_bytes_ = 0;
  bool open_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool notify_drained_ = false;
  // -- any thread --
  std::atomic<size_t> backlog_{0};
};

/// One WebSocket connection after the handshake, over `NextLayer` (a TCP
/// socket, or a TLS stream): reads whole messages, writes queued whole
/// messages one after the other, as text when they are valid UTF-8 and
/// binary otherwise. Owned jointly by the io thread's pending operations
/// and the protocol actor. Instantiated for tcp::socket and tls_stream
/// only (ws_connection.cpp).
template <class NextLayer>
class ws_connection final
  : public ws_connection_base,
    public std::enable_shared_from_this<ws_connection<NextLayer>> {
public:
  ws_connection(std::shared_ptr<tcp_connection> shell, NextLayer next,
                std::shared_ptr<const ws_settings> cfg);
  ~ws_connection() override;

  /// Answers the upgrade request; on success makes the handler and reads
  /// (io thread).
  void start(http_request req, std::string subprotocol);

  // -- stream (any thread) ----------------------------------------------------

  void write(std::string bytes) override;
  void close_after_flush() override;
  void close() override;
  void consumed() override;
  void notify_when_drained() override;

private:
  void read();
  void start_write();
  void start_close();
  void shut(const std::string& why);

  boost::beast::websocket::stream<NextLayer> ws_;
};

extern template class ws_connection<boost::asio::ip::tcp::socket>;
extern template class ws_connection<tls_stream>;

} // namespace qmesh::net
