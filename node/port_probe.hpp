// Checks that a node's listen addresses can be bound before the node
// creates anything (data dir, journal, queues): a busy or unknown address
// stops it with one plain line instead of a half-started node.
#pragma once

#include <string>
#include <vector>

#include "node/options.hpp"

namespace qmesh::node {

/// One listener to check: its address and what it is for ("native",
/// "stomp", "http", "stomp+tls", "https", "cluster").
struct listen_address {
  endpoint ep;
  std::string what;
};

/// The listeners `opts` asks for (port 0, "any free port", is left out).
std::vector<listen_address> listen_addresses(const options& opts);

/// Empty if `addr` can be bound now (bound and released at once, with
/// SO_REUSEADDR as the listeners use it); else "cannot listen on H:P
/// (what): reason", the reason in plain words. A race with another
/// process binding in between is still reported by the listener itself.
std::string probe(const listen_address& addr);

} // namespace qmesh::node
