// Pipelined gets for the CLI's bulk commands (get --count / --all, move).
//
// The gets of one batch are sent with up to `window` in flight through the
// client's asynchronous API and collected in queue order. The caller runs
// them under a unit of work and commits only once it has written (get) or
// put (move) what they returned: a CLI killed or cut off mid-batch leaves
// the batch on its queue (delivery_count + 1) instead of losing it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/client.hpp"

namespace qmesh::cli {

/// What one batch of gets returned.
struct batch_result {
  /// The messages, in the order the gets were sent (queue order).
  std::vector<message> messages;
  /// A get found no message: the queue is empty (or its wait elapsed).
  bool empty = false;
  /// The first get that failed; no get was sent after it.
  std::optional<client_error> failure;
};

/// Gets up to `want` messages from `queue` as `opts` says, keeping up to
/// `window` gets in flight, and stops sending at the first empty or failed
/// get (the ones already in flight are still collected).
batch_result get_batch(client& c, const std::string& queue,
                       const get_options& opts, uint64_t want,
                       size_t window);

/// True if `address` (`Q` or `QM/Q`) names a queue of the queue manager `c`
/// is connected to: units of work take only those.
bool is_local(const client& c, const std::string& address);

} // namespace qmesh::cli
