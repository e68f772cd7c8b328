#include "protocols/stomp/server.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "protocols/net/actor_bridge.hpp"
#include "protocols/net/ws_connection.hpp"

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
       uint16_t port, std::string& error,
       std::shared_ptr<const net::tls_settings> tls) {
  net::tcp_listener::factory make;
  if (tls) {
    make = [&sys, door, cfg, tls](std::shared_ptr<net::tcp_connection> conn) {
      net::accept_tls(std::move(conn), tls,
                      [&sys, door, cfg](std::shared_ptr<net::stream> s) {
                        auto hdl = sys.spawn(connection_impl, std::move(s),
                                             door, cfg,
                                             protocol_version::v1_2);
                        return std::make_shared<net::actor_bridge>(
                          std::move(hdl));
                      });
    };
  } else {
    make = [&sys, door, cfg](std::shared_ptr<net::tcp_connection> conn) {
      auto hdl = sys.spawn(connection_impl, conn, door, cfg,
                           protocol_version::v1_2);
      conn->start(std::make_shared<net::actor_bridge>(std::move(hdl)));
    };
  }
  net::listener_options opts;
  opts.name = tls ? "stomp+tls" : "stomp";
  opts.limits = limits;
  opts.refusal = refusal_frame;
  if (tls)
    opts.send_refusal = [tls](std::shared_ptr<net::tcp_connection> conn,
                              std::string bytes) {
      net::refuse_tls(std::move(conn), tls, std::move(bytes));
    };
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

uint64_t max_frame_size(const limits& lim) noexcept {
  // Command line, header lines (CR LF each), blank line, body, NUL.
  return lim.max_command_length + 2
         + uint64_t{lim.max_headers} * (lim.max_header_line + 2) + 2
         + lim.max_body + 1;
}

std::shared_ptr<net::ws_settings>
websocket_settings(caf::actor_system& sys, front_door_actor door,
                   std::shared_ptr<const server_settings> cfg) {
  auto ws = std::make_shared<net::ws_settings>();
  ws->subprotocols = {"v12.stomp", "v11.stomp", "v10.stomp"};
  ws->max_message = max_frame_size(cfg->frame_limits);
  ws->server_name = cfg->server_name;
  ws->make = [&sys, door, cfg](std::shared_ptr<net::stream> conn,
                               const std::string& subprotocol)
    -> std::shared_ptr<net::connection_handler> {
    // Version negotiation is CONNECT's business, as on TCP, but the agreed
    // subprotocol caps it: a v11.stomp connection never speaks 1.2.
    auto highest = subprotocol == "v10.stomp"   ? protocol_version::v1_0
                   : subprotocol == "v11.stomp" ? protocol_version::v1_1
                                                : protocol_version::v1_2;
    auto hdl = sys.spawn(connection_impl, std::move(conn), door, cfg,
                         highest);
    return std::make_shared<net::actor_bridge>(std::move(hdl));
  };
  return ws;
}

} // namespace qmesh::stomp
