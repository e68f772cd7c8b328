// The STOMP listener: accepts TCP connections on the shared io thread and
// gives each its own connection actor (protocols/stomp/connection.hpp);
// and the same actors for STOMP over WebSocket on the HTTP listener.
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "protocols/net/tcp_server.hpp"
#include "protocols/net/tls_connection.hpp"
#include "protocols/stomp/connection.hpp"

namespace qmesh::net {
struct ws_settings;
} // namespace qmesh::net

namespace qmesh::stomp {

/// Starts listening on host:port; connections reach the queue manager
/// through `door`. A connection over one of `limits` gets an ERROR frame
/// `2025 max_conns_limit_reached` and is closed. Returns the listener (stop
/// it through io_thread::stop), or nullptr with `error` set.
///
/// With `tls` set, the listener speaks STOMP over TLS: a connection gets
/// its STOMP actor once its handshake succeeded, and one over a cap gets
/// its ERROR frame after the handshake.
std::shared_ptr<net::tcp_listener>
listen(net::io_thread& io, caf::actor_system& sys, front_door_actor door,
       std::shared_ptr<const server_settings> cfg,
       const net::listener_limits& limits, const std::string& host,
       uint16_t port, std::string& error,
       std::shared_ptr<const net::tls_settings> tls = nullptr);

/// STOMP over WebSocket (docs/protocol-stomp.md): subprotocols v12.stomp,
/// v11.stomp, v10.stomp; messages up to the largest frame `cfg`'s limits
/// let through; each WebSocket gets a connection actor as a TCP
/// connection does. For http::server_settings::websocket.
std::shared_ptr<net::ws_settings>
websocket_settings(caf::actor_system& sys, front_door_actor door,
                   std::shared_ptr<const server_settings> cfg);

/// The longest frame `lim` lets through: command, headers, body, EOLs
/// and NUL at their limits.
uint64_t max_frame_size(const limits& lim) noexcept;

/// The ERROR frame a connection refused for a connection cap gets.
std::string refusal_frame(const std::string& why);

} // namespace qmesh::stomp
