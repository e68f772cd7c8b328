// Waiting for the journal inside an actor.
//
// actor_listener bridges the journal's writer thread to an actor: it sends
// (atom::durable, seq, ok) to its actor, which it holds weakly (an actor
// that ended is not kept alive by the journal and hears nothing).
// durable_waits is the actor's list of what runs once a seq is on disk.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include "actors/actors.hpp"
#include "store/journal_sink.hpp"

namespace qmesh {

class actor_listener final : public store::durability_listener {
public:
  template <class Handle>
  explicit actor_listener(const Handle& hdl)
    : who_(caf::actor_cast<caf::weak_actor_ptr>(hdl)) {
  }

  void on_durable(uint64_t seq, bool ok) override {
    if (auto strong = who_.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), atom::durable_v, seq,
                     ok);
  }

private:
  caf::weak_actor_ptr who_;
};

/// Continuations waiting for journal seqs, run in order. Single-threaded
/// (the owning actor's).
class durable_waits {
public:
  /// Runs `f(ok)` once `seq` is on disk and after everything added before
  /// (so replies and deliveries keep their order); at once with ok = true
  /// for seq 0 when nothing waits, and with ok = false for append_failed.
  void after(uint64_t seq, std::function<void(bool)> f) {
    if (seq == store::append_failed) {
      f(false);
      return;
    }
    if (!waits_.empty())
      seq = std::max(seq, waits_.back().seq);
    if (seq == 0) {
      f(true);
      return;
    }
    waits_.push_back(wait{seq, std::move(f)});
  }

  /// Delivers `value` on `rp` once `seq` is on disk (as after()), or
  /// `on_failure()` if the write failed.
  template <class T, class OnFailure>
  void reply(uint64_t seq, caf::typed_response_promise<T> rp, T value,
             OnFailure on_failure) {
    after(seq, [rp, v = std::move(value), on_failure](bool ok) mutable {
      if (ok)
        rp.deliver(std::move(v));
      else
        rp.deliver(on_failure());
    });
  }

  /// The journal reached `seq` (ok) or failed up to it: runs what waited.
  void reached(uint64_t seq, bool ok) {
    while (!waits_.empty() && waits_.front().seq <= seq) {
      auto f = std::move(waits_.front().then);
      waits_.pop_front();
      f(ok);
    }
  }

  bool empty() const noexcept { return waits_.empty(); }

private:
  struct wait {
    uint64_t seq;
    std::function<void(bool)> then;
  };
  std::deque<wait> waits_;
};

} // namespace qmesh
