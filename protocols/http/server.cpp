#include "protocols/http/server.hpp"

#include <caf/all.hpp>

#include "protocols/net/actor_bridge.hpp"
#include "protocols/net/ws_connection.hpp"

namespace qmesh::http {

namespace {

std::string refusal(const std::string& text) {
  std::string why;
  for (char c : text)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20)
      why += c;
  std::string body = "{\"reason\":2025,\"error\":\"2025 "
                     "max_conns_limit_reached: "
                     + why + "\"}\n";
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
         "application/json\r\nConnection: close\r\nContent-Length: "
         + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// How a connection of either kind becomes a WebSocket.
template <class Connection>
ws_upgrade upgrade_of(std::shared_ptr<Connection> conn) {
  return [conn](auto req, auto ws, auto subprotocol) {
    net::upgrade(conn, std::move(req), std::move(ws), std::move(subprotocol));
  };
}

} // namespace

std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error,
       std::shared_ptr<const net::tls_settings> tls) {
  net::tcp_listener::factory make;
  if (tls) {
    make = [&sys, door, cfg, tls](std::shared_ptr<net::tcp_connection> conn) {
      net::accept_tls(
        std::move(conn), tls,
        [&sys, door, cfg](std::shared_ptr<net::tls_connection> s) {
          auto hdl = spawn_connection(sys, s, upgrade_of(s), door, cfg);
          return std::make_shared<net::actor_bridge>(std::move(hdl));
        });
    };
  } else {
    make = [&sys, door, cfg](std::shared_ptr<net::tcp_connection> conn) {
      auto hdl = spawn_connection(sys, conn, upgrade_of(conn), door, cfg);
      conn->start(std::make_shared<net::actor_bridge>(std::move(hdl)));
    };
  }
  net::listener_options opts;
  opts.name = tls ? "https" : "http";
  opts.limits = limits;
  opts.refusal = refusal;
  if (tls)
    opts.send_refusal = [tls](std::shared_ptr<net::tcp_connection> conn,
                              std::string bytes) {
      net::refuse_tls(std::move(conn), tls, std::move(bytes));
    };
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

} // namespace qmesh::http
