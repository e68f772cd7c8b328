#include "protocols/stomp/server.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"

namespace qmesh::stomp {

namespace {

/// Hands socket events to the connection actor (runs on the io thread).
class actor_bridge : public net::connection_handler {
public:
  explicit actor_bridge(connection_actor hdl) : hdl_(std::move(hdl)) {
    // nop
  }

  void on_data(std::string chunk) override {
    caf::anon_send(hdl_, atom::received_v, std::move(chunk));
  }

  void on_drained() override {
    caf::anon_send(hdl_, atom::drained_v);
  }

  void on_closed(const std::string& why) override {
    caf::anon_send(hdl_, atom::close_v, why);
  }

private:
  connection_actor hdl_;
};

} // namespace

std::string refusal_frame(const std::string& why) {
  std::string bytes;
  append_error(bytes, mqrc(ec::max_conns_limit_reached),
               to_string(ec::max_conns_limit_reached) + ": " + why, {});
  return bytes;
}

std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error) {
  auto make = [&sys, door, cfg](std::shared_ptr<net::tcp_connection> conn) {
    auto hdl = sys.spawn(connection_impl, conn, door, cfg);
    conn->start(std::make_shared<actor_bridge>(std::move(hdl)));
  };
  net::listener_options opts;
  opts.name = "stomp";
  opts.limits = limits;
  opts.refusal = refusal_frame;
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

} // namespace qmesh::stomp
