#include "protocols/http/server.hpp"

#include <caf/all.hpp>

namespace qmesh::http {

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
    conn->start(std::make_shared<actor_bridge>(std::move(hdl)));
  };
  net::listener_options opts;
  opts.name = "http";
  opts.limits = limits;
  opts.refusal = refusal;
  return net::tcp_listener::open(io.context(), host, port, std::move(opts),
                                 std::move(make), error);
}

} // namespace qmesh::http
