#include "protocols/http/server.hpp"

#include <caf/all.hpp>

#include "protocols/net/actor_bridge.hpp"

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

} // namespace

std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error) {
  auto make = [&sys, door, cfg](std::shared_ptr<net::tcp_connection> conn) {
    auto hdl = spawn_connection(sys, conn, door, cfg);
    conn->start(std::make_shared<net::actor_bridge>(std::move(hdl)));
  };
  net::listener_options opts;
  opts.name = "http";
  opts.limits = limits;
  opts.refusal = refusal;
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

} // namespace qmesh::http
