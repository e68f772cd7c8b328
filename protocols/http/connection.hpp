// The HTTP connection actor: one per HTTP/1.1 connection on the node's
// HTTP listener (--http-listen).
//
// Requests are parsed with Boost.Beast from the chunks the shared TCP layer
// reads, and answered one at a time in arrival order (keep-alive and
// pipelining: later requests wait, unparsed, while one is answered). The
// actor speaks to the queue manager through its own session, as STOMP
// connections do.
//
// Endpoints today: `GET /healthz` (the process answers), `GET /readyz` (200,
// or 503 with the reasons: memory or disk alarm, no known cluster member
// reachable), `GET /metrics`
// (Prometheus text), and the JSON admin API under `/api/` (overview,
// queues: list / inquire / define / alter / delete / purge / browse / get /
// put, subscriptions: list / create durable / end, publish, connections:
// list / close, cluster; docs/operations.md). Any other path is a static
// file of the web root (protocols/http/static_files.hpp), or 404; or 405
// for a known path with
// another method; bad requests 400, bodies over the limit 413; errors are
// JSON with the reason code. A connection idle for `idle_timeout` (or
// slower than that to send a request) is closed, and so is one whose
// session ends first (closed by an administrator).
//
// Over TLS (HTTPS) the connection is a net::tls_connection; GET /ws
// upgrades either kind (ws:// and wss://, net::upgrade).
//
// Threading: all state is the actor's; the connection is shared with the
// io thread and used only through its thread-safe calls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "actors/actors.hpp"
#include "core/authenticator.hpp"
#include "protocols/http/static_files.hpp"
#include "protocols/net/tcp_server.hpp"

namespace qmesh::net {
struct ws_settings;
} // namespace qmesh::net

namespace qmesh::http {

/// Hands the connection to a WebSocket that answers `req` with
/// `subprotocol` (net::upgrade for the connection's kind). Any thread.
using ws_upgrade = std::function<void(
  boost::beast::http::request<boost::beast::http::string_body> req,
  std::shared_ptr<const net::ws_settings> cfg, std::string subprotocol)>;

/// What every HTTP connection of a node shares.
struct server_settings {
  /// Longest request head and body.
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 1 << 20;
  /// A connection with nothing to do (or a request not complete) for this
  /// long is closed.
  std::chrono::milliseconds idle_timeout{30'000};
  std::string server_name = "qmesh";
  /// The web root (console, chat): every path no other route takes; null
  /// answers those with 404.
  std::shared_ptr<const static_files> web;
  /// Serves WebSocket upgrades of GET /ws (net::ws_path); nullptr: /ws is
  /// an unknown resource.
  std::shared_ptr<const net::ws_settings> websocket;
  /// The node's users: with users, /api/ and /metrics need Basic auth.
  std::shared_ptr<authenticator> auth;
};

/// Spawns the actor of one connection; `to_websocket` turns `conn` into
/// a WebSocket.
connection_actor
spawn_connection(caf::actor_system& sys, std::shared_ptr<net::stream> conn,
                 ws_upgrade to_websocket, front_door_actor door,
                 std::shared_ptr<const server_settings> cfg);

} // namespace qmesh::http
