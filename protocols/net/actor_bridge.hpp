// The one adapter from a tcp_connection's events to the connection actor
// of a protocol front-end (STOMP, HTTP): bytes, drained, closed become
// messages to the actor. Runs on the io thread; sending never blocks.
#pragma once

#include <string>

#include <caf/send.hpp>

#include "actors/actors.hpp"
#include "protocols/net/tcp_server.hpp"

namespace qmesh::net {

class actor_bridge : public connection_handler {
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

} // namespace qmesh::net
