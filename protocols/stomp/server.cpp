#include "protocols/stomp/server.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "protocols/net/actor_bridge.hpp"

namespace qmesh::stomp {

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
    conn->start(std::make_shared<net::actor_bridge>(std::move(hdl)));
  };
  net::listener_options opts;
  opts.name = "stomp";
  opts.limits = limits;
  opts.refusal = refusal_frame;
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

} // namespace qmesh::stomp
