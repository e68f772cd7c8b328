#include "protocols/net/tcp_server.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace qmesh::net {

namespace asio = boost::asio;
using asio::ip::tcp;

connection_handler::~connection_handler() = default;

// -- tcp_connection -----------------------------------------------------------

tcp_connection::tcp_connection(tcp::socket sock) : sock_(std::move(sock)) {
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay{true}, ec);
  auto ep = sock_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

tcp_connection::~tcp_connection() = default;

void tcp_connection::start(std::shared_ptr<connection_handler> h) {
  handler_ = std::move(h);
  read();
}

void tcp_connection::read() {
  if (closed_ || closing_ || reading_ || unconsumed_ >= max_unconsumed)
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
               if (self->closed_) {
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
    if (self->closed_ || self->closing_)
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
  if (auto h = std::move(handler_))
    h->on_closed(why);
}

// -- tcp_listener -------------------------------------------------------------

tcp_listener::tcp_listener(asio::io_context& ctx, factory make)
  : acceptor_(ctx), make_(std::move(make)) {
  // nop
}

std::shared_ptr<tcp_listener>
tcp_listener::open(asio::io_context& ctx, const std::string& host,
                   uint16_t port, factory make, std::string& error) {
  auto l = std::make_shared<tcp_listener>(ctx, std::move(make));
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

void tcp_listener::accept() {
  if (stopped_)
    return;
  acceptor_.async_accept(
    [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
      if (self->stopped_)
        return;
      if (!ec) {
        auto conn = std::make_shared<tcp_connection>(std::move(s));
        // Forget connections that are gone, then remember this one.
        std::erase_if(self->accepted_,
                      [](const auto& w) { return w.expired(); });
        self->accepted_.push_back(conn);
        self->make_(std::move(conn));
      }
      // Errors such as EMFILE: keep accepting (the next try may succeed).
      self->accept();
    });
}

void tcp_listener::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& w : accepted_)
    if (auto c = w.lock())
      c->close();
  accepted_.clear();
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
