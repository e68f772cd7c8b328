// The channel: moves one transmission queue's messages to its remote queue
// manager (design §6, docs/cluster.md).
//
// One channel per remote queue manager QM, spawned by the queue manager
// (linked to it) for `SYSTEM.XMIT.QM`. The channel is a client-ack consumer
// of that queue with a window of `window` messages: a message stays in the
// transmission queue (on disk if persistent) until QM has confirmed that it
// stored it, and only then is acked away. Batches go out in queue order,
// up to `max_batches` at a time, each as one `transfer` request to QM's
// queue manager with a timeout; QM stores one sender's batches one at a
// time in arrival order. After a failure, a timeout or a new link every
// unconfirmed batch goes again, unchanged, from the oldest: the transfer
// ids in the messages let QM skip what it already has, so each message is
// stored there exactly once and in order. What the channel holds in memory
// is bounded by the window.
#pragma once

#include <cstdint>
#include <string>

#include "actors/actors.hpp"

namespace qmesh::cluster {

struct channel_settings {
  /// This queue manager's name (the sender named in transfers).
  std::string local;
  /// Messages sent and not yet confirmed at most (the consumer window).
  uint32_t window = 4096;
  /// Messages per batch at most; a batch also stops at `batch_bytes`.
  uint32_t batch = 256;
  uint64_t batch_bytes = 1 << 20;
  /// Batches on their way at most (pipelining over the link's latency).
  uint32_t max_batches = 16;
  /// How long a transfer may take before the channel sends it again (ms).
  int64_t timeout_ms = 10'000;
  /// Retry delays while the remote refuses or is unreachable (ms).
  int64_t retry_min_ms = 200;
  int64_t retry_max_ms = 5'000;
};

/// Spawns the channel to `remote` for transmission queue `xmitq`, linked
/// to `qm` (which it reports its state to).
channel_actor spawn_channel(queue_manager_actor::pointer qm,
                            const channel_settings& settings,
                            const std::string& remote,
                            const queue_actor& xmitq);

} // namespace qmesh::cluster
