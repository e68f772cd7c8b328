// TLS for the network front-ends (Boost.Asio SSL over OpenSSL) on the
// shared io thread: a TLS listener is a tcp_listener whose factory hands
// each admitted socket to a tls_connection, which completes the server
// handshake (bounded by a timeout) before any protocol actor exists, and
// then gives the protocol the connection as a byte stream (net::stream),
// as tcp_connection does. Like tcp_connection it can hand its TLS stream
// over to another protocol layer (a WebSocket, wss://).
// docs/architecture.md, "Network front-ends"; docs/operations.md, "TLS".
//
// Protocol choice: TLS 1.2 and 1.3 only, no TLS compression, no
// renegotiation, no session tickets (nothing is resumed); the cipher
// suites are OpenSSL's defaults.
//
// Threading: as tcp_connection; the stream calls may be made from any
// thread, everything else runs on the io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "protocols/net/stream.hpp"
#include "protocols/net/tcp_server.hpp"

namespace qmesh::net {

class tls_connection;

/// The TLS stream of a connection: Asio's SSL stream behind Beast's
/// wrapper, which is movable (hand_over) and writes a buffer sequence as
/// one TLS record where Asio's would write one record per buffer (a
/// WebSocket frame is a header and a payload).
using tls_stream = boost::beast::ssl_stream<boost::asio::ip::tcp::socket>;

/// A node's TLS server side; shared by the connections of its TLS
/// listeners.
struct tls_settings {
  /// Makes the protocol side of a connection whose handshake succeeded and
  /// returns the handler of its events. Runs on the io thread; must not
  /// block.
  using factory = std::function<std::shared_ptr<connection_handler>(
    std::shared_ptr<tls_connection>)>;

  /// The certificate and key (make_server_context).
  std::shared_ptr<boost::asio::ssl::context> context;
  /// Time a new connection has to complete its handshake; then it closes.
  std::chrono::milliseconds handshake_timeout{10'000};
};

/// A TLS server context from a PEM certificate chain and its PEM private
/// key: TLS 1.2+, no compression, no renegotiation, no session tickets. On failure (a file
/// missing or unreadable, not PEM, or key and certificate that do not
/// match) returns nullptr and sets `error` to one line.
std::shared_ptr<boost::asio::ssl::context>
make_server_context(const std::string& cert_file, const std::string& key_file,
                    std::string& error);

/// Checks that `ca_file` holds PEM CA certificates; returns why not, or
/// an empty string.
std::string check_ca_file(const std::string& ca_file);

/// Turns an admitted TCP connection into a TLS one: takes its socket, runs
/// the handshake and, once it succeeds, gives `make` the stream. A failed
/// or timed-out handshake just closes (logged at debug). `conn` stays
/// counted by its listener until the TLS connection closes; the listener's
/// stop() closes it. Io thread (a tcp_listener factory).
void accept_tls(std::shared_ptr<tcp_connection> conn,
                std::shared_ptr<const tls_settings> cfg,
                tls_settings::factory make);

/// Refuses an admitted-over-a-cap TCP connection on a TLS listener: after
/// the handshake, `bytes` (the protocol's refusal) are written and the
/// connection closes. For listener_options::send_refusal.
void refuse_tls(std::shared_ptr<tcp_connection> conn,
                std::shared_ptr<const tls_settings> cfg, std::string bytes);

/// One TLS connection. Reads chunks with the same back-pressure as
/// tcp_connection and writes everything queued while a write is in
/// progress as one TLS write; close_after_flush() sends the TLS
/// close_notify before closing.
///
/// Its TLS stream can be handed over to another protocol layer (a
/// WebSocket, hand_over()); the listener's token for the connection stays
/// the tcp_connection it was made from (its shell), which the new owner
/// releases.
class tls_connection final
  : public stream,
    public std::enable_shared_from_this<tls_connection> {
public:
  static constexpr size_t chunk_size = tcp_connection::chunk_size;
  static constexpr unsigned max_unconsumed = tcp_connection::max_unconsumed;

  /// Takes over the TLS stream (hand_over()): gets the stream and the
  /// bytes that were read (decrypted) but not delivered. Runs on the io
  /// thread.
  using taker = std::function<void(tls_stream, std::string unread)>;

  tls_connection(std::shared_ptr<tcp_connection> shell,
                 boost::asio::ip::tcp::socket sock,
                 std::shared_ptr<const tls_settings> cfg);
  ~tls_connection();

  /// Runs the handshake; on success makes the handler and reads (io
  /// thread).
  void start(tls_settings::factory make);

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

  // -- handing the stream over ------------------------------------------------

  /// Gives the TLS stream up. Any thread. Reading stops (a read in
  /// progress is cancelled once no write is in progress) and the handler
  /// gets no further call; once the queued bytes are written, `take` runs
  /// on the io thread with the stream. If the connection closes first,
  /// `take` never runs. From now on close_after_flush() is ignored and the
  /// shell's closer, released() and close() belong to the new owner.
  void hand_over(taker take);

  /// The listener's token for this connection (for the new owner).
  const std::shared_ptr<tcp_connection>& shell() const noexcept {
    return shell_;
  }

private:
  void read();
  void start_write();
  void start_shutdown();
  void shut(const std::string& why);
  void try_hand_over();

  std::shared_ptr<tcp_connection> shell_;
  std::shared_ptr<const tls_settings> cfg_;
  tls_stream tls_;
  // tls_'s executor, kept apart: tls_ is gone after a hand-over.
  boost::asio::ip::tcp::socket::executor_type ex_;
  boost::asio::steady_timer timer_;
  std::string address_;
  std::string peer_;
  std::shared_ptr<connection_handler> handler_;
  // -- io thread only --
  std::vector<std::string> queued_;
  std::string writing_;
  bool write_pending_ = false;
  unsigned unconsumed_ = 0;
  bool open_ = false; // the handshake succeeded
  bool reading_ = false;
  bool closing_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  bool notify_drained_ = false;
  // Handing over: requested, the read in progress cancelled, and done.
  taker taker_;
  bool handing_ = false;
  bool cancelled_ = false;
  bool handed_ = false;
  std::string unread_;
  // -- any thread --
  std::atomic<size_t> backlog_{0};
};

} // namespace qmesh::net
