// Node-wide flow-control state: the memory alarm and what it pauses.
//
// One per node, shared by pointer. The memory monitor (node/memory_monitor)
// raises and clears the alarm; queues and the queue manager read it on
// their put and publish paths and, while it is raised, hold producers
// instead of taking more messages. Consumers are never held.
//
// Threading: every member is safe to use from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>

namespace qmesh {

class flow_control {
public:
  /// True while the node is over its memory limit.
  bool alarmed() const noexcept {
    return alarm_.load(std::memory_order_relaxed);
  }

  /// Raises or clears the alarm. Clearing sends `atom::resume` to every
  /// actor registered with resume_on_clear() and forgets them.
  void set_alarm(bool on);

  /// `who` gets `atom::resume` once the alarm is clear (at once if it is
  /// clear now). Each registration gets one resume.
  void resume_on_clear(caf::actor who);

  /// How often the alarm was raised.
  uint64_t alarms_total() const noexcept {
    return alarms_total_.load(std::memory_order_relaxed);
  }

  // -- figures the monitor publishes (for status) -------------------------

  std::atomic<uint64_t> memory_limit{0};
  std::atomic<uint64_t> memory_used{0};

  // -- producers held right now, node-wide (for status) ------------------

  /// Puts and publications waiting for room or for the alarm to clear.
  std::atomic<int64_t> paused{0};

private:
  std::atomic<bool> alarm_{false};
  std::atomic<uint64_t> alarms_total_{0};
  std::mutex mtx_;
  std::vector<caf::actor> sleepers_;
};

} // namespace qmesh
