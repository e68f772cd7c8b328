// The STOMP listener: accepts TCP connections on the shared io thread and
// gives each its own connection actor (protocols/stomp/connection.hpp).
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "protocols/net/tcp_server.hpp"
#include "protocols/stomp/connection.hpp"

namespace qmesh::stomp {

/// Starts listening on host:port; connections reach the queue manager
/// through `door`. A connection over one of `limits` gets an ERROR frame
/// `2025 max_conns_limit_reached` and is closed. Returns the listener (stop
/// it through io_thread::stop), or nullptr with `error` set.
std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error);

/// The ERROR frame a connection refused for a connection cap gets.
std::string refusal_frame(const std::string& why);

} // namespace qmesh::stomp
