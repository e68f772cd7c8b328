// Wiring of one qmesh node: actor system, queue manager, listeners, and the
// orderly stop on SIGINT / SIGTERM.
#pragma once

#include "node/options.hpp"

namespace qmesh::node {

/// Exit codes of qmesh-node.
enum exit_code : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

/// Runs the node until SIGINT or SIGTERM; returns the process exit code.
/// Must be called from main() before any other thread exists (it blocks the
/// stop signals for every thread it starts).
int run(const options& opts);

} // namespace qmesh::node
