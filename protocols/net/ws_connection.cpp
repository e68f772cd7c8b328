#include "protocols/net/ws_connection.hpp"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "actors/log.hpp"

namespace qmesh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {

spdlog::logger& ws_log() {
  static auto l = log::get("qmesh.net");
  return *l;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// The subprotocols a request offers, in its order.
std::vector<std::string> offered_subprotocols(const http_request& req) {
  std::vector<std::string> out;
  auto [first, last] = req.equal_range(bhttp::field::sec_websocket_protocol);
  for (auto i = first; i != last; ++i) {
    std::string_view list{i->value().data(), i->value().size()};
    while (!list.empty()) {
      auto comma = list.find(',');
      auto item = trim(list.substr(0, comma));
      if (!item.empty())
        out.emplace_back(item);
      if (comma == std::string_view::npos)
        break;
      list.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) {
    if (!out.empty())
      out += ", ";
    out += x;
  }
  return out;
}

/// Up to 100 printable ASCII characters of untrusted text, for messages.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100))
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  return out;
}

websocket::stream_base::timeout timeouts(const ws_settings& cfg) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = cfg.handshake_timeout;
  t.idle_timeout = cfg.idle_timeout;
  t.keep_alive_pings = true;
  return t;
}

websocket::stream_base::timeout no_timeouts() {
  websocket::stream_base::timeout t;
  t.handshake_timeout = websocket::stream_base::none();
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  return t;
}

} // namespace

// -- the handshake ------------------------------------------------------------

ws_verdict check_upgrade(const ws_settings& cfg, const http_request& req) {
  ws_verdict v;
  auto refuse = [&v](unsigned status, std::string why) {
    v.status = status;
    v.error = std::move(why);
    return v;
  };
  if (req.method() != bhttp::verb::get)
    return refuse(405, std::string{ws_path} + " takes GET (a WebSocket "
                                              "upgrade)");
  if (!websocket::is_upgrade(req))
    return refuse(400, "not a WebSocket upgrade: " + std::string{ws_path}
                         + " needs HTTP/1.1 with `Connection: Upgrade` and "
                           "`Upgrade: websocket`");
  auto key = req[bhttp::field::sec_websocket_key];
  if (key.size() != 24)
    return refuse(400, "missing or malformed Sec-WebSocket-Key");
  auto version = req[bhttp::field::sec_websocket_version];
  if (version != "13")
    return refuse(400, "unsupported Sec-WebSocket-Version '"
                         + printable({version.data(), version.size()})
                         + "' (13 expected)");
  auto offered = offered_subprotocols(req);
  if (offered.empty())
    return v; // no subprotocol: the default one
  for (const auto& ours : cfg.subprotocols)
    for (const auto& theirs : offered)
      if (theirs == ours) {
        v.subprotocol = ours;
        return v;
      }
  return refuse(400, "no supported WebSocket subprotocol among '"
                       + printable(joined(offered)) + "' (supported: "
                       + joined(cfg.subprotocols) + ")");
}

namespace {

/// Makes the WebSocket of a connection whose stream `next` was just handed
/// over by `shell`'s connection, or closes it if the client sent bytes
/// before the handshake's answer.
template <class NextLayer>
void take_over(std::shared_ptr<tcp_connection> shell, NextLayer next,
               std::string unread, http_request req,
               std::shared_ptr<const ws_settings> cfg, std::string sub) {
  if (!unread.empty()) {
    // A client must wait for the handshake's answer before it sends.
    ws_log().info("websocket from {}: {} bytes sent before the handshake "
                  "completed; closed",
                  shell->peer(), unread.size());
    boost::system::error_code ignored;
    beast::get_lowest_layer(next).close(ignored);
    shell->released();
    return;
  }
  auto ws = std::make_shared<ws_connection<NextLayer>>(shell, std::move(next),
                                                       std::move(cfg));
  shell->set_closer([w = std::weak_ptr<ws_connection<NextLayer>>{ws}] {
    if (auto s = w.lock())
      s->close();
  });
  ws->start(std::move(req), std::move(sub));
}

} // namespace

void upgrade(std::shared_ptr<tcp_connection> conn, http_request req,
             std::shared_ptr<const ws_settings> cfg,
             std::string subprotocol) {
  std::weak_ptr<tcp_connection> weak = conn;
  conn->hand_over([weak, req = std::move(req), cfg = std::move(cfg),
                   sub = std::move(subprotocol)](tcp::socket sock,
                                                 std::string unread) mutable {
    if (auto shell = weak.lock()) // (always: the shell runs this)
      take_over(std::move(shell), std::move(sock), std::move(unread),
                std::move(req), std::move(cfg), std::move(sub));
  });
}

void upgrade(std::shared_ptr<tls_connection> conn, http_request req,
             std::shared_ptr<const ws_settings> cfg,
             std::string subprotocol) {
  // The TLS connection ends with the hand-over; its shell stays the
  // listener's token.
  conn->hand_over([shell = conn->shell(), req = std::move(req),
                   cfg = std::move(cfg), sub = std::move(subprotocol)](
                    tls_stream tls, std::string unread) mutable {
    take_over(shell, std::move(tls), std::move(unread), std::move(req),
              std::move(cfg), std::move(sub));
  });
}

// -- ws_connection_base -------------------------------------------------------

ws_connection_base::ws_connection_base(std::shared_ptr<tcp_connection> shell,
                                       std::shared_ptr<const ws_settings> cfg)
  : shell_(std::move(shell)),
    cfg_(std::move(cfg)),
    address_(shell_->address()),
    peer_(shell_->peer()) {
  // nop
}

ws_connection_base::~ws_connection_base() = default;

bool ws_connection_base::input_held_back() const noexcept {
  return unconsumed_.size() >= max_unconsumed
         || unconsumed_bytes_ >= max_unconsumed_bytes;
}

void ws_connection_base::note_read(size_t n) {
  unconsumed_.push_back(n);
  unconsumed_bytes_ += n;
}

void ws_connection_base::note_consumed() {
  if (!unconsumed_.empty()) {
    unconsumed_bytes_ -= unconsumed_.front();
    unconsumed_.pop_front();
  }
}

bool ws_connection_base::enqueue(std::string& bytes) {
  if (closed_ || closing_) {
    backlog_.fetch_sub(bytes.size(), std::memory_order_relaxed);
    return false;
  }
  queued_.push_back(std::move(bytes));
  return true;
}

void ws_connection_base::pop_written() {
  writing_ = false;
  backlog_.fetch_sub(queued_.front().size(), std::memory_order_relaxed);
  queued_.pop_front();
}

void ws_connection_base::finish(const std::string& why) {
  closed_ = true;
  // The message being written is accounted for by its write's handler.
  size_t dropped = 0;
  for (size_t i = writing_ ? 1 : 0; i < queued_.size(); ++i)
    dropped += queued_[i].size();
  queued_.resize(writing_ ? 1 : 0);
  backlog_.fetch_sub(dropped, std::memory_order_relaxed);
  shell_->released();
  if (auto h = std::move(handler_))
    h->on_closed(why);
}

// -- ws_connection ------------------------------------------------------------

template <class NextLayer>
ws_connection<NextLayer>::ws_connection(std::shared_ptr<tcp_connection> shell,
                                        NextLayer next,
                                        std::shared_ptr<const ws_settings> cfg)
  : ws_connection_base(std::move(shell), std::move(cfg)),
    ws_(std::move(next)) {
  // nop
}

template <class NextLayer>
ws_connection<NextLayer>::~ws_connection() = default;

template <class NextLayer>
void ws_connection<NextLayer>::start(http_request req,
                                     std::string subprotocol) {
  ws_.set_option(timeouts(*cfg_));
  ws_.set_option(websocket::stream_base::decorator(
    [server = cfg_->server_name, sub = subprotocol](
      websocket::response_type& res) {
      res.set(bhttp::field::server, server);
      if (!sub.empty())
        res.set(bhttp::field::sec_websocket_protocol, sub);
    }));
  ws_.read_message_max(cfg_->max_message);
  ws_.auto_fragment(false);
  auto r = std::make_shared<http_request>(std::move(req));
  ws_.async_accept(*r, [self = this->shared_from_this(), r,
                        sub = std::move(subprotocol)](beast::error_code ec) {
    if (self->closed_)
      return;
    if (ec) {
      self->shut("WebSocket handshake failed: " + ec.message());
      return;
    }
    self->open_ = true;
    self->handler_ = self->cfg_->make(self, sub);
    if (!self->handler_) {
      self->shut("no handler");
      return;
    }
    if (self->closing_) {
      self->start_close();
      return;
    }
    if (!self->queued_.empty())
      self->start_write();
    self->read();
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::read() {
  if (closed_ || reading_)
    return;
  if (input_held_back()) {
    // Input held back: the idle timer would count the pause as silence.
    ws_.set_option(no_timeouts());
    return;
  }
  reading_ = true;
  ws_.set_option(timeouts(*cfg_)); // (re-)armed as the read starts
  ws_.async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec,
                                                          size_t) {
    self->reading_ = false;
    if (self->closed_)
      return;
    if (ec) {
      if (ec == websocket::error::closed)
        self->shut("peer closed the WebSocket (code "
                   + std::to_string(self->ws_.reason().code) + ")");
      else
        self->shut(ec.message());
      return;
    }
    auto chunk = beast::buffers_to_string(self->rbuf_.data());
    self->rbuf_.consume(self->rbuf_.size());
    if (self->rbuf_.capacity() > max_unconsumed_bytes)
      self->rbuf_.shrink_to_fit(); // after a large message
    self->note_read(chunk.size());
    if (self->handler_)
      self->handler_->on_data(std::move(chunk));
    self->read();
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::consumed() {
  asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
    self->note_consumed();
    self->read();
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::write(std::string bytes) {
  backlog_.fetch_add(bytes.size(), std::memory_order_relaxed);
  asio::post(ws_.get_executor(), [self = this->shared_from_this(),
                                  b = std::move(bytes)]() mutable {
    if (self->enqueue(b) && self->open_ && !self->writing_)
      self->start_write();
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::start_write() {
  writing_ = true;
  const auto& msg = queued_.front();
  // Browsers fail a connection on a text message that is not UTF-8.
  ws_.text(valid_utf8(msg));
  ws_.async_write(
    asio::buffer(msg.data(), msg.size()),
    [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->pop_written();
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
      if (self->closing_) {
        self->start_close();
        return;
      }
      if (self->notify_drained_ && self->handler_) {
        self->notify_drained_ = false;
        self->handler_->on_drained();
      }
    });
}

template <class NextLayer>
void ws_connection<NextLayer>::notify_when_drained() {
  asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
    if (self->closed_)
      return;
    if (self->queued_.empty()) {
      if (self->handler_)
        self->handler_->on_drained();
      return;
    }
    self->notify_drained_ = true;
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::close_after_flush() {
  asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
    if (self->closed_ || self->closing_)
      return;
    self->closing_ = true;
    if (self->open_ && !self->writing_)
      self->start_close();
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::start_close() {
  ws_.set_option(timeouts(*cfg_)); // the closing handshake is timed
  ws_.async_close(websocket::close_code::normal,
                  [self = this->shared_from_this()](beast::error_code) {
                    self->shut("closed by the server");
                  });
}

template <class NextLayer>
void ws_connection<NextLayer>::close() {
  asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
    self->shut("closed by the server");
  });
}

template <class NextLayer>
void ws_connection<NextLayer>::shut(const std::string& why) {
  if (closed_)
    return;
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
  finish(why);
}

template class ws_connection<tcp::socket>;
template class ws_connection<tls_stream>;

// -- UTF-8 --------------------------------------------------------------------

bool valid_utf8(std::string_view text) noexcept {
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  auto end = p + text.size();
  while (p != end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0)
        lo = 0xA0; // no overlong forms
      else if (c == 0xED)
        hi = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0)
        lo = 0x90; // no overlong forms
      else if (c == 0xF4)
        hi = 0x8F; // nothing above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n)
      return false;
    if (p[1] < lo || p[1] > hi)
      return false;
    for (size_t i = 2; i <= n; ++i)
      if (p[i] < 0x80 || p[i] > 0xBF)
        return false;
    p += n + 1;
  }
  return true;
}

} // namespace qmesh::net
