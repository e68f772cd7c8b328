#include "protocols/net/tcp_server.hpp"

#include <cerrno>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "actors/log.hpp"

namespace qmesh::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

spdlog::logger& net_log() {
  static auto l = log::get("qmesh.net");
  return *l;
}

/// Accept failed because the process or the system ran out of descriptors
/// or memory: retrying at once fails again.
bool out_of_resources(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category())
    return false;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

/// Accept failed for this one connection only (the peer went away first):
/// the next accept may succeed at once.
bool transient(const boost::system::error_code& ec) {
  return ec == asio::error::connection_aborted
         || ec == asio::error::interrupted || ec == asio::error::try_again
         || ec == asio::error::would_block
         || (ec.category() == boost::system::system_category()
             && ec.value() == EPROTO);
}

} // namespace

connection_handler::~connection_handler() = default;

stream::~stream() = default;

// -- tcp_connection -----------------------------------------------------------

tcp_connection::tcp_connection(tcp::socket sock) : sock_(std::move(sock)) {
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay{true}, ec);
  auto ep = sock_.remote_endpoint(ec);
  address_ = ec ? "?" : ep.address().to_string();
  peer_ = ec ? "?" : address_ + ":" + std::to_string(ep.port());
}

tcp_connection::~tcp_connection() = default;

void tcp_connection::start(std::shared_ptr<connection_handler> h) {
  handler_ = std::move(h);
  read();
}

void tcp_connection::when_closed(std::function<void()> f) {
  when_closed_ = std::move(f);
}

void tcp_connection::read() {
  if (closed_ || closing_ || handing_ || reading_
      || unconsumed_ >= max_unconsumed)
    return;
  reading_ = true;
  auto buf = std::make_shared<std::string>();
  buf->resize(chunk_size);
  sock_.async_read_some(
    asio::buffer(buf->data(), buf->size()),
    [self = shared_from_this(), buf](boost::system::error_code ec,
                                     size_t n) {
      self->reading_ = false;
      if (self->closed_)
        return;
      if (self->handing_ && (!ec || ec == asio::error::operation_aborted)) {
        self->unread_.append(buf->data(), ec ? 0 : n);
        self->try_hand_over();
        return;
      }
      if (ec) {
        self->shut(ec == asio::error::eof ? "peer closed the connection"
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

void tcp_connection::consumed() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    if (self->unconsumed_ > 0)
      --self->unconsumed_;
    self->read();
  });
}

void tcp_connection::write(std::string bytes) {
  if (bytes.empty())
    return;
  backlog_.fetch_add(bytes.size(), std::memory_order_relaxed);
  asio::post(sock_.get_executor(),
             [self = shared_from_this(), b = std::move(bytes)]() mutable {
               if (self->closed_ || self->handing_) {
                 self->backlog_.fetch_sub(b.size(), std::memory_order_relaxed);
                 return;
               }
               self->queued_.push_back(std::move(b));
               if (self->writing_.empty())
                 self->start_write();
             });
}

void tcp_connection::start_write() {
  writing_.swap(queued_);
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(writing_.size());
  for (auto& b : writing_)
    bufs.emplace_back(b.data(), b.size());
  asio::async_write(
    sock_, bufs,
    [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->backlog_.fetch_sub(n, std::memory_order_relaxed);
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
        boost::system::error_code ignored;
        self->sock_.shutdown(tcp::socket::shutdown_send, ignored);
        self->shut("closed by the server");
        return;
      }
      if (self->notify_drained_ && self->handler_) {
        self->notify_drained_ = false;
        self->handler_->on_drained();
      }
    });
}

void tcp_connection::notify_when_drained() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    if (self->closed_)
      return;
    if (self->writing_.empty() && self->queued_.empty()) {
      if (self->handler_)
        self->handler_->on_drained();
      return;
    }
    self->notify_drained_ = true;
  });
}

void tcp_connection::close_after_flush() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    if (self->closed_ || self->closing_ || self->handing_)
      return;
    self->closing_ = true;
    if (self->writing_.empty() && self->queued_.empty()) {
      boost::system::error_code ignored;
      self->sock_.shutdown(tcp::socket::shutdown_send, ignored);
      self->shut("closed by the server");
    }
  });
}

void tcp_connection::close() {
  asio::post(sock_.get_executor(),
             [self = shared_from_this()] { self->shut("closed by the server"); });
}

void tcp_connection::shut(const std::string& why) {
  if (handed_) {
    if (closer_)
      closer_();
    return;
  }
  if (closed_)
    return;
  closed_ = true;
  boost::system::error_code ignored;
  sock_.close(ignored);
  size_t dropped = 0;
  for (auto& b : queued_)
    dropped += b.size();
  queued_.clear();
  backlog_.fetch_sub(dropped, std::memory_order_relaxed);
  if (auto f = std::exchange(when_closed_, nullptr))
    f();
  if (auto h = std::move(handler_))
    h->on_closed(why);
}

void tcp_connection::hand_over(taker take) {
  asio::post(sock_.get_executor(),
             [self = shared_from_this(), t = std::move(take)]() mutable {
               if (self->closed_ || self->handing_)
                 return;
               self->handing_ = true;
               self->handler_.reset();
               self->taker_ = std::move(t);
               self->try_hand_over();
             });
}

void tcp_connection::try_hand_over() {
  if (closed_ || handed_ || !writing_.empty() || !queued_.empty())
    return; // a write's end comes back here
  if (reading_) {
    // Cancelling the socket cancels every operation on it: only once
    // nothing is being written. The read's end comes back here.
    if (!cancelled_) {
      cancelled_ = true;
      boost::system::error_code ignored;
      sock_.cancel(ignored);
    }
    return;
  }
  handed_ = true;
  auto take = std::exchange(taker_, nullptr);
  take(std::move(sock_), std::exchange(unread_, {}));
}

void tcp_connection::set_closer(std::function<void()> closer) {
  closer_ = std::move(closer);
}

void tcp_connection::released() {
  if (closed_)
    return;
  closed_ = true;
  closer_ = nullptr;
  if (auto f = std::exchange(when_closed_, nullptr))
    f();
}

// -- tcp_listener -------------------------------------------------------------

tcp_listener::tcp_listener(asio::io_context& ctx, listener_options opts,
                           factory make)
  : acceptor_(ctx),
    opts_(std::move(opts)),
    make_(std::move(make)),
    retry_timer_(ctx),
    refusal_log_timer_(ctx) {
  // nop
}

std::shared_ptr<tcp_listener>
tcp_listener::open(asio::io_context& ctx, const std::string& host,
                   uint16_t port, listener_options opts, factory make,
                   std::string& error) {
  auto l = std::make_shared<tcp_listener>(ctx, std::move(opts),
                                          std::move(make));
  boost::system::error_code ec;
  tcp::resolver resolver{ctx};
  auto results = resolver.resolve(host, std::to_string(port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    error = "cannot resolve " + host + ": "
            + (ec ? ec.message() : std::string{"no address"});
    return nullptr;
  }
  auto ep = results.begin()->endpoint();
  l->acceptor_.open(ep.protocol(), ec);
  if (!ec)
    l->acceptor_.set_option(tcp::acceptor::reuse_address{true}, ec);
  if (!ec)
    l->acceptor_.bind(ep, ec);
  if (!ec)
    l->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = ec.message();
    return nullptr;
  }
  asio::post(ctx, [l] { l->accept(); });
  return l;
}

uint16_t tcp_listener::port() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

std::string tcp_listener::describe() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  auto where = ec ? std::string{"?"}
                  : ep.address().to_string() + ":" + std::to_string(ep.port());
  return opts_.name.empty() ? "listener " + where
                            : opts_.name + " listener " + where;
}

void tcp_listener::accept() {
  if (stopped_)
    return;
  acceptor_.async_accept(
    [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
      if (self->stopped_)
        return;
      if (ec) {
        self->on_accept_error(ec);
        return;
      }
      if (self->backoff_.count() > 0) {
        net_log().info("{}: accepting again after {} failed attempts",
                       self->describe(), self->failed_accepts_);
        self->backoff_ = milliseconds{0};
        self->failed_accepts_ = 0;
      }
      self->on_accepted(std::move(s));
      self->accept();
    });
}

void tcp_listener::on_accept_error(const boost::system::error_code& ec) {
  if (transient(ec)) {
    accept();
    return;
  }
  // Out of descriptors or memory, or an error we do not know: retrying at
  // once would fail again at once, so wait, longer each time.
  ++failed_accepts_;
  if (backoff_.count() == 0) {
    backoff_ = min_backoff;
    net_log().warn("{}: cannot accept: {}{}; retrying in {} ms, backing off "
                   "up to {} ms",
                   describe(), ec.message(),
                   out_of_resources(ec) ? " (out of descriptors or memory)"
                                        : "",
                   backoff_.count(), max_backoff.count());
  } else {
    backoff_ = std::min(backoff_ * 2, max_backoff);
  }
  retry_timer_.expires_after(backoff_);
  retry_timer_.async_wait(
    [self = shared_from_this()](boost::system::error_code timer_ec) {
      if (!timer_ec)
        self->accept();
    });
}

void tcp_listener::on_accepted(tcp::socket sock) {
  auto conn = std::make_shared<tcp_connection>(std::move(sock));
  if (auto why = over_cap(conn->address()); !why.empty())
    refuse(std::move(conn), why);
  else
    admit(std::move(conn));
}

std::string tcp_listener::over_cap(const std::string& address) const {
  const auto& lim = opts_.limits;
  if (admitted_ >= lim.max_connections)
    return "this listener already has " + std::to_string(admitted_)
           + " connections (limit " + std::to_string(lim.max_connections)
           + ")";
  auto i = per_address_.find(address);
  if (i != per_address_.end() && i->second >= lim.max_per_address)
    return std::to_string(i->second) + " connections from " + address
           + " are already open (limit "
           + std::to_string(lim.max_per_address) + " per address)";
  return {};
}

void tcp_listener::admit(std::shared_ptr<tcp_connection> conn) {
  track(conn, true);
  make_(std::move(conn));
}

void tcp_listener::refuse(std::shared_ptr<tcp_connection> conn,
                          const std::string& why) {
  track(conn, false);
  note_refusal(why + ", from " + conn->peer());
  if (opts_.refusal && opts_.send_refusal) {
    opts_.send_refusal(std::move(conn), opts_.refusal(why));
    return;
  }
  if (opts_.refusal)
    conn->write(opts_.refusal(why));
  conn->close_after_flush();
}

void tcp_listener::track(const std::shared_ptr<tcp_connection>& conn,
                         bool admitted) {
  const tcp_connection* key = conn.get();
  open_[key] = open_socket{conn, admitted};
  if (admitted) {
    ++admitted_;
    ++per_address_[conn->address()];
  }
  conn->when_closed([w = weak_from_this(), key] {
    if (auto self = w.lock())
      self->release(key);
  });
}

void tcp_listener::release(const tcp_connection* key) {
  auto i = open_.find(key);
  if (i == open_.end())
    return; // stop() forgot it already
  if (i->second.admitted) {
    --admitted_;
    auto conn = i->second.conn.lock();
    // The connection runs this from its own shut(), so it is alive.
    if (conn) {
      auto j = per_address_.find(conn->address());
      if (j != per_address_.end() && --j->second == 0)
        per_address_.erase(j);
    }
  }
  open_.erase(i);
}

void tcp_listener::note_refusal(const std::string& what) {
  ++refusals_unlogged_;
  last_refusal_ = what;
  if (!refusal_log_armed_)
    log_refusals();
}

void tcp_listener::log_refusals() {
  if (stopped_ || refusals_unlogged_ == 0) {
    refusal_log_armed_ = false;
    return;
  }
  if (refusals_unlogged_ == 1)
    net_log().warn("{}: refused a connection: {}", describe(), last_refusal_);
  else
    net_log().warn("{}: refused {} connections in the last second (last: {})",
                   describe(), refusals_unlogged_, last_refusal_);
  refusals_unlogged_ = 0;
  refusal_log_armed_ = true;
  refusal_log_timer_.expires_after(std::chrono::seconds{1});
  refusal_log_timer_.async_wait(
    [self = shared_from_this()](boost::system::error_code ec) {
      if (ec)
        self->refusal_log_armed_ = false;
      else
        self->log_refusals();
    });
}

void tcp_listener::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  refusal_log_timer_.cancel();
  auto open = std::move(open_);
  open_.clear();
  admitted_ = 0;
  per_address_.clear();
  for (auto& [key, s] : open)
    if (auto c = s.conn.lock())
      c->close();
}

// -- io_thread ----------------------------------------------------------------

io_thread::io_thread() : ctx_(1) {
  // nop
}

io_thread::~io_thread() {
  stop({});
}

void io_thread::start() {
  if (thread_)
    return;
  guard_.emplace(ctx_.get_executor());
  thread_ = std::make_unique<std::thread>([this] { ctx_.run(); });
}

void io_thread::stop(std::vector<std::shared_ptr<tcp_listener>> listeners) {
  if (!thread_)
    return;
  asio::post(ctx_, [ls = std::move(listeners)] {
    for (auto& l : ls)
      l->stop();
  });
  guard_.reset();
  thread_->join();
  thread_.reset();
  // Handlers posted after run() returned (an actor writing late) still hold
  // connections: run them so that every connection is released here.
  ctx_.restart();
  ctx_.run();
}

} // namespace qmesh::net
