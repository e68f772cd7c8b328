// Batched gets for the CLI's bulk commands (get --count / --all, move).
//
// The messages of one batch come in batch gets (many messages per round
// trip), several in flight through the client's asynchronous API, and are
// collected in queue order. The caller runs them under a unit of work and
// commits only once it has written (get) or put (move) what they returned:
// a CLI killed or cut off mid-batch leaves the batch on its queue
// (delivery_count + 1) instead of losing it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/client.hpp"

namespace qmesh::cli {

/// What one batch of gets returned.
struct batch_result {
  /// The messages, in queue order.
  std::vector<message> messages;
  /// The queue had no more (or a waiting get's wait elapsed).
  bool empty = false;
  /// The first request that failed; none was sent after it.
  std::optional<client_error> failure;
};

/// Gets up to `want` messages from `queue` as `opts` says: batch gets that
/// do not wait, several in flight, until one comes back short (the queue
/// had no more) or fails (those already in flight are still collected).
/// With a wait (opts.wait_ms != 0), one get of one message.
batch_result get_batch(client& c, const std::string& queue,
                       const get_options& opts, uint64_t want);

/// True if `address` (`Q` or `QM/Q`) names a queue of the queue manager `c`
/// is connected to: units of work take only those.
bool is_local(const client& c, const std::string& address);

} // namespace qmesh::cli
