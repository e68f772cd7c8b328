#include "protocols/net/tls_connection.hpp"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "actors/log.hpp"

namespace qmesh::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;

namespace {

spdlog::logger& tls_log() {
  static auto l = log::get("qmesh.net");
  return *l;
}

/// OpenSSL's oldest queued error as text, and the queue cleared.
std::string openssl_error() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

} // namespace

// -- the server context -------------------------------------------------------

std::shared_ptr<ssl::context>
make_server_context(const std::string& cert_file, const std::string& key_file,
                    std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                   | ssl::context::no_tlsv1_1 | ssl::context::no_compression
                   | ssl::context::single_dh_use);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // No TLS 1.3 session tickets: nothing is resumed, and tickets written
  // after the handshake reach clients mixed with the protocol's first
  // bytes, which some (stomp.py) fail to read.
  SSL_CTX_set_num_tickets(native, 0);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
    error = "--tls-cert '" + cert_file
            + "': cannot load a PEM certificate: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM)
      != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      error = "--tls-key '" + key_file + "' does not match --tls-cert '"
              + cert_file + "'";
    else
      error = "--tls-key '" + key_file
              + "': cannot load a PEM private key: " + openssl_error();
    ERR_clear_error();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    error = "--tls-key '" + key_file + "' does not match --tls-cert '"
            + cert_file + "': " + openssl_error();
    return nullptr;
  }
  return ctx;
}

std::string check_ca_file(const std::string& ca_file) {
  ssl::context ctx{ssl::context::tls};
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx.native_handle(), ca_file.c_str(),
                                    nullptr)
      != 1)
    return "--tls-ca '" + ca_file
           + "': cannot load PEM CA certificates: " + openssl_error();
  return {};
}

// -- accepting ----------------------------------------------------------------

void accept_tls(std::shared_ptr<tcp_connection> conn,
                std::shared_ptr<const tls_settings> cfg,
                tls_settings::factory make) {
  std::weak_ptr<tcp_connection> weak = conn;
  conn->hand_over([weak, cfg = std::move(cfg), make = std::move(make)](
                    tcp::socket sock, std::string) mutable {
    // Nothing was read from an unstarted connection: no unread bytes.
    auto shell = weak.lock();
    if (!shell)
      return; // cannot happen: the shell runs this
    auto tls = std::make_shared<tls_connection>(shell, std::move(sock), cfg);
    shell->set_closer([w = std::weak_ptr<tls_connection>{tls}] {
      if (auto s = w.lock())
        s->close();
    });
    tls->start(std::move(make));
  });
}

namespace {

/// The handler of a refused connection: it reads nothing that matters.
class ignoring_handler final : public connection_handler {
public:
  void on_data(std::string) override {
    // nop
  }
  void on_drained() override {
    // nop
  }
  void on_closed(const std::string&) override {
    // nop
  }
};

} // namespace

void refuse_tls(std::shared_ptr<tcp_connection> conn,
                std::shared_ptr<const tls_settings> cfg, std::string bytes) {
  accept_tls(std::move(conn), std::move(cfg),
             [bytes = std::move(bytes)](std::shared_ptr<tls_connection> s)
               -> std::shared_ptr<connection_handler> {
               s->write(bytes);
               s->close_after_flush();
               return std::make_shared<ignoring_handler>();
             });
}

// -- tls_connection -----------------------------------------------------------

tls_connection::tls_connection(std::shared_ptr<tcp_connection> shell,
                               tcp::socket sock,
                               std::shared_ptr<const tls_settings> cfg)
  : shell_(std::move(shell)),
    cfg_(std::move(cfg)),
    tls_(std::move(sock), *cfg_->context),
    ex_(tls_.get_executor()),
    timer_(ex_),
    address_(shell_->address()),
    peer_(shell_->peer()) {
  // nop
}

tls_connection::~tls_connection() = default;

void tls_connection::start(tls_settings::factory make) {
  timer_.expires_after(cfg_->handshake_timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->open_ || self->closed_)
      return; // (a hand-over needs an open connection)
    tls_log().debug("tls from {}: no handshake within {} ms; closed",
                    self->peer_, self->cfg_->handshake_timeout.count());
    self->shut("TLS handshake timed out");
  });
  tls_.async_handshake(
    ssl::stream_base::server,
    [self = shared_from_this(),
     make = std::move(make)](boost::system::error_code ec) {
      if (self->closed_)
        return;
      self->timer_.cancel();
      if (ec) {
        tls_log().debug("tls from {}: handshake failed: {}", self->peer_,
                        ec.message());
        self->shut("TLS handshake failed: " + ec.message());
        return;
      }
      self->open_ = true;
      self->handler_ = make(self);
      self->read();
      // Bytes the protocol wrote before the handshake completed.
      if (!self->queued_.empty() && !self->write_pending_)
        self->start_write();
      else if (self->closing_ && !self->write_pending_)
        self->start_shutdown();
    });
}

void tls_connection::read() {
  if (!open_ || closed_ || closing_ || handing_ || reading_
      || unconsumed_ >= max_unconsumed)
    return;
  reading_ = true;
  auto buf = std::make_shared<std::string>();
  buf->resize(chunk_size);
  tls_.async_read_some(
    asio::buffer(buf->data(), buf->size()),
    [self = shared_from_this(), buf](boost::system::error_code ec, size_t n) {
      self->reading_ = false;
      if (self->closed_)
        return;
      if (self->handing_ && (!ec || ec == asio::error::operation_aborted)) {
        self->unread_.append(buf->data(), ec ? 0 : n);
        self->try_hand_over();
        return;
      }
      if (ec) {
        if (self->shutting_down_)
          return; // the shutdown finishes the connection
        self->shut(ec == asio::error::eof || ec == ssl::error::stream_truncated
                     ? "peer closed the connection"
                     : ec.message());
        return;
      }
      buf->resize(n);
      ++self->unconsumed_;
      if (self->handler_)
        self->handler_->on_data(std::move(*buf));
      self->read();
    });
}

void tls_connection::consumed() {
  asio::post(ex_, [self = shared_from_this()] {
    if (self->unconsumed_ > 0)
      --self->unconsumed_;
    self->read();
  });
}

void tls_connection::write(std::string bytes) {
  if (bytes.empty())
    return;
  backlog_.fetch_add(bytes.size(), std::memory_order_relaxed);
  asio::post(ex_,
             [self = shared_from_this(), b = std::move(bytes)]() mutable {
               if (self->closed_ || self->shutting_down_ || self->handing_) {
                 self->backlog_.fetch_sub(b.size(), std::memory_order_relaxed);
                 return;
               }
               self->queued_.push_back(std::move(b));
               if (self->open_ && !self->write_pending_)
                 self->start_write();
             });
}

void tls_connection::start_write() {
  // Everything queued goes out as one TLS write (few records, few
  // syscalls): Asio's TLS stream writes one buffer per operation.
  if (queued_.size() == 1) {
    writing_ = std::move(queued_.front());
  } else {
    size_t total = 0;
    for (auto& b : queued_)
      total += b.size();
    writing_.clear();
    writing_.reserve(total);
    for (auto& b : queued_)
      writing_ += b;
  }
  queued_.clear();
  write_pending_ = true;
  asio::async_write(
    tls_, asio::buffer(writing_),
    [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->write_pending_ = false;
      self->backlog_.fetch_sub(self->writing_.size(),
                               std::memory_order_relaxed);
      self->writing_.clear();
      if (self->closed_)
        return;
      if (ec) {
        self->shut(ec.message());
        return;
      }
      if (!self->queued_.empty()) {
        self->start_write();
        return;
      }
      if (self->handing_) {
        self->try_hand_over();
        return;
      }
      if (self->closing_) {
        self->start_shutdown();
        return;
      }
      if (self->notify_drained_ && self->handler_) {
        self->notify_drained_ = false;
        self->handler_->on_drained();
      }
    });
}

void tls_connection::notify_when_drained() {
  asio::post(ex_, [self = shared_from_this()] {
    if (self->closed_)
      return;
    if (!self->write_pending_ && self->queued_.empty()) {
      if (self->handler_)
        self->handler_->on_drained();
      return;
    }
    self->notify_drained_ = true;
  });
}

void tls_connection::close_after_flush() {
  asio::post(ex_, [self = shared_from_this()] {
    if (self->closed_ || self->closing_ || self->handing_)
      return;
    self->closing_ = true;
    if (!self->open_)
      return; // the handshake's end (or its timeout) decides
    if (!self->write_pending_ && self->queued_.empty())
      self->start_shutdown();
  });
}

void tls_connection::start_shutdown() {
  if (shutting_down_ || closed_)
    return;
  shutting_down_ = true;
  // close_notify out; the peer's answer is waited for at most one
  // handshake timeout (a peer may just close, or never answer).
  timer_.expires_after(cfg_->handshake_timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec)
      self->shut("closed by the server");
  });
  tls_.async_shutdown([self = shared_from_this()](boost::system::error_code) {
    self->shut("closed by the server");
  });
}

void tls_connection::close() {
  asio::post(ex_, [self = shared_from_this()] {
    self->shut("closed by the server");
  });
}

void tls_connection::shut(const std::string& why) {
  if (closed_ || handed_)
    return; // (after a hand-over the new owner closes)
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  tls_.next_layer().close(ignored);
  size_t dropped = 0;
  for (auto& b : queued_)
    dropped += b.size();
  queued_.clear();
  backlog_.fetch_sub(dropped, std::memory_order_relaxed);
  shell_->released();
  if (auto h = std::move(handler_))
    h->on_closed(why);
}

// -- handing over -------------------------------------------------------------

void tls_connection::hand_over(taker take) {
  asio::post(ex_, [self = shared_from_this(), t = std::move(take)]() mutable {
    if (self->closed_ || self->handing_ || !self->open_)
      return;
    self->handing_ = true;
    self->handler_.reset();
    self->taker_ = std::move(t);
    self->try_hand_over();
  });
}

void tls_connection::try_hand_over() {
  if (closed_ || handed_ || write_pending_ || !queued_.empty())
    return; // a write's end comes back here
  if (reading_) {
    // Cancelling the socket cancels every operation on it: only once
    // nothing is being written. The read's end comes back here.
    if (!cancelled_) {
      cancelled_ = true;
      boost::system::error_code ignored;
      tls_.next_layer().cancel(ignored);
    }
    return;
  }
  handed_ = true;
  timer_.cancel();
  auto take = std::exchange(taker_, nullptr);
  take(std::move(tls_), std::exchange(unread_, {}));
}

} // namespace qmesh::net
