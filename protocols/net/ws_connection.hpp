// WebSocket connections (RFC 6455, with Boost.Beast) on the shared io
// thread: an HTTP connection whose request asks for an upgrade hands its
// socket to a ws_connection, which completes the handshake and gives a
// protocol actor the connection as a message-oriented net::stream (one
// chunk per message read, one message per write). docs/architecture.md,
// "Network front-ends"; the STOMP use in docs/protocol-stomp.md.
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

/// Hands `conn`'s socket to a new WebSocket that answers `req` (already
/// accepted by check_upgrade). Any thread. `conn` stays counted by its
/// listener until the WebSocket closes; the listener's stop() closes it.
void upgrade(std::shared_ptr<tcp_connection> conn, http_request req,
             std::shared_ptr<const ws_settings> cfg, std::string subprotocol);

/// True if `text` is valid UTF-8 (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text) noexcept;

/// One WebSocket connection after the handshake: reads whole messages,
/// writes queued whole messages one after the other, as text when they are
/// valid UTF-8 and binary otherwise. Owned jointly by the io thread's
/// pending operations and the protocol actor.
class ws_connection final
  : public stream,
    public std::enable_shared_from_this<ws_connection> {
public:
  /// Reading pauses while this many messages, or this many bytes (but at
  /// least one message), are unconsumed.
  static constexpr size_t max_unconsumed = 8;
  static constexpr size_t max_unconsumed_bytes = 256 * 1024;

  ws_connection(std::shared_ptr<tcp_connection> shell,
                boost::asio::ip::tcp::socket sock,
                std::shared_ptr<const ws_settings> cfg);
  ~ws_connection();

  /// Answers the upgrade request; on success makes the handler and reads
  /// (io thread).
  void start(http_request req, std::string subprotocol);

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
    return true;
  }

private:
  void read();
  void start_write();
  void start_close();
  void shut(const std::string& why);

  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
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

} // namespace qmesh::net
