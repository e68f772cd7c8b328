#include "cluster/channel.hpp"

#include <algorithm>
#include <chrono>
#include <deque>

#include <caf/all.hpp>

#include "actors/log.hpp"

namespace qmesh::cluster {

namespace {

struct channel_state {
  static inline const char* name = "qmesh.channel";

  channel_actor::pointer self = nullptr;
  channel_settings cfg;
  std::string remote;
  queue_actor xmitq;
  queue_manager_actor qm;
  /// The remote queue manager; empty while it is down.
  queue_manager_actor peer;
  /// The channel's consumer id on the transmission queue.
  uint64_t consumer_id = 0;
  /// Deliveries not yet confirmed by the remote, oldest first; the first
  /// `in_flight` of them are in the batches on their way.
  std::deque<message> pending;
  size_t in_flight = 0;
  /// The batches on their way, oldest first (tag range, size).
  struct flight {
    uint64_t first = 0;
    uint64_t last = 0;
    size_t n = 0;
  };
  std::deque<flight> flights;
  /// Generation of the batches on their way: after a failure or a new
  /// link every batch goes again from the oldest unconfirmed message, and
  /// answers to the older sends are ignored.
  uint64_t send_gen = 0;
  /// Generation of retry timers (older ones are stale).
  uint64_t retry_gen = 0;
  bool retry_wait = false;
  int64_t retry_delay_ms = 0;
  channel_info info;

  void report(const std::string& state, std::string error = {}) {
    bool changed = info.state != state || info.last_error != error;
    if (changed) {
      info.state = state;
      if (!error.empty() || state == "running")
        info.last_error = std::move(error);
      info.since_ms = wall_clock_ms();
    }
    info.in_flight = in_flight;
    info.backlog = pending.size();
    self->send(qm, atom::channel_v, info);
  }

  void start() {
    info.remote = remote;
    retry_delay_ms = cfg.retry_min_ms;
    report("retrying", remote + " not reachable yet");
    auto me = caf::actor_cast<consumer_actor>(self);
    self
      ->request(xmitq, caf::infinite, atom::consume_v, me, cfg.window,
                ack_mode::client)
      .then([this](uint64_t id) { consumer_id = id; },
            [this](caf::error& e) {
              log::cluster().error("channel to {}: cannot consume its "
                                   "transmission queue: {}",
                                   remote, render(e));
              self->quit(e);
            });
  }

  void on_deliver(delivery_batch& batch) {
    for (auto& m : batch.messages)
      pending.push_back(std::move(m));
    pump();
  }

  void on_peer(caf::actor hdl) {
    peer = caf::actor_cast<queue_manager_actor>(hdl);
    if (peer) {
      retry_delay_ms = cfg.retry_min_ms;
      retry_wait = false;
      // A batch still on its way went to the old link: send it again now
      // rather than wait for its timeout (the remote skips what it has).
      if (in_flight > 0)
        restart_sends();
      report("running");
      pump();
    } else {
      report("retrying", remote + " is down");
    }
  }

  /// Forgets the batches on their way; they go again from the oldest.
  void restart_sends() {
    ++send_gen;
    flights.clear();
    in_flight = 0;
  }

  /// Sends batches while fewer than `max_batches` are on their way and the
  /// remote is up. The remote stores one sender's batches in arrival
  /// order, so several on their way keep the order.
  void pump() {
    while (!retry_wait && peer && flights.size() < cfg.max_batches
           && in_flight < pending.size())
      send_batch();
  }

  void send_batch() {
    std::vector<message> batch;
    batch.reserve(std::min<size_t>(cfg.batch, pending.size() - in_flight));
    uint64_t bytes = 0;
    for (auto i = pending.begin() + static_cast<long>(in_flight);
         i != pending.end(); ++i) {
      if (batch.size() == cfg.batch
          || (!batch.empty() && bytes + i->body.size() > cfg.batch_bytes))
        break;
      bytes += i->body.size();
      batch.push_back(*i);
      // A delivery count here counts deliveries to the channel, not to
      // applications: the message's own count (0 from its put) goes on.
      batch.back().delivery_count = 0;
      batch.back().tag = 0;
    }
    flight f;
    f.n = batch.size();
    f.first = pending[in_flight].tag;
    f.last = pending[in_flight + f.n - 1].tag;
    flights.push_back(f);
    in_flight += f.n;
    auto gen = send_gen;
    self
      ->request(peer, std::chrono::milliseconds{cfg.timeout_ms},
                atom::transfer_v, cfg.local, std::move(batch))
      .then(
        [this, f, gen](uint64_t) {
          if (gen == send_gen && !flights.empty()
              && flights.front().first == f.first)
            confirmed(f.first, f.last, f.n);
        },
        [this, gen](caf::error& e) {
          if (gen == send_gen)
            failed(e);
        });
  }

  void confirmed(uint64_t first, uint64_t last, size_t n) {
    // Stored at the remote: now (and only now) the transmission queue may
    // forget them. A lost ack leaves them there; they go again, and the
    // remote skips them by transfer id.
    self->request(xmitq, caf::infinite, atom::ack_v, consumer_id, first, last)
      .then([](uint64_t) {},
            [this](caf::error& e) {
              log::cluster().warn("channel to {}: ack on the transmission "
                                  "queue: {}",
                                  remote, render(e));
            });
    pending.erase(pending.begin(), pending.begin() + static_cast<long>(n));
    flights.pop_front();
    in_flight -= n;
    info.sent_total += n;
    ++info.batches_total;
    retry_delay_ms = cfg.retry_min_ms;
    if (info.state != "running")
      report("running");
    else if (pending.empty())
      report("running"); // backlog drained: tell the queue manager
    pump();
  }

  void failed(const caf::error& e) {
    restart_sends();
    auto text = e == caf::sec::request_timeout
                  ? remote + " did not confirm within "
                      + std::to_string(cfg.timeout_ms) + " ms"
                  : render(e);
    log::cluster().warn("channel to {}: batch not confirmed ({}); "
                        "retrying in {} ms",
                        remote, text, retry_delay_ms);
    report("retrying", text);
    retry_wait = true;
    self->delayed_send(self, std::chrono::milliseconds{retry_delay_ms},
                       atom::tick_v, ++retry_gen);
    retry_delay_ms = std::min(retry_delay_ms * 2, cfg.retry_max_ms);
  }

  void on_tick(uint64_t gen) {
    if (gen != retry_gen)
      return;
    retry_wait = false;
    pump();
  }
};

channel_actor::behavior_type
channel_impl(channel_actor::stateful_pointer<channel_state> self,
             queue_manager_actor qm, channel_settings cfg, std::string remote,
             queue_actor xmitq) {
  auto& st = self->state;
  st.self = self;
  st.qm = std::move(qm);
  st.cfg = std::move(cfg);
  st.remote = std::move(remote);
  st.xmitq = std::move(xmitq);
  st.start();
  return {
    [self](atom::deliver, delivery_batch& batch) {
      self->state.on_deliver(batch);
    },
    [self](atom::cluster, caf::actor& peer) {
      self->state.on_peer(std::move(peer));
    },
    [self](atom::tick, uint64_t gen) { self->state.on_tick(gen); },
  };
}

} // namespace

channel_actor spawn_channel(queue_manager_actor::pointer qm,
                            const channel_settings& settings,
                            const std::string& remote,
                            const queue_actor& xmitq) {
  auto hdl = caf::actor_cast<queue_manager_actor>(qm);
  return qm->spawn<caf::linked>(channel_impl, hdl, settings, remote, xmitq);
}

} // namespace qmesh::cluster
