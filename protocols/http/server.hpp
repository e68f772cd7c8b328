// The HTTP listener: accepts TCP connections on the shared io thread and
// gives each its own connection actor (protocols/http/connection.hpp).
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "protocols/http/connection.hpp"
#include "protocols/net/tcp_server.hpp"
#include "protocols/net/tls_connection.hpp"

namespace qmesh::http {

/// Starts listening on host:port; requests reach the queue manager through
/// `door`. A connection over one of `limits` gets `503` and is closed.
/// Returns the listener (stop it through io_thread::stop), or nullptr with
/// `error` set. With `tls` set it serves HTTPS: a connection gets its actor
/// once its handshake succeeded, one over a cap gets its 503 after
/// the handshake, and GET /ws upgrades to a WebSocket over TLS (wss://).
std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error,
       std::shared_ptr<const net::tls_settings> tls = nullptr);

} // namespace qmesh::http
