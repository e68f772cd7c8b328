#include "actors/flow_control.hpp"

#include <caf/all.hpp>

#include "actors/actors.hpp"

namespace qmesh {

void flow_control::set_alarm(bool on) {
  std::vector<caf::actor> wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (alarm_.load(std::memory_order_relaxed) == on)
      return;
    alarm_.store(on, std::memory_order_relaxed);
    if (on)
      alarms_total_.fetch_add(1, std::memory_order_relaxed);
    else
      wake.swap(sleepers_);
  }
  for (auto& who : wake)
    caf::anon_send(who, atom::resume_v);
}

void flow_control::resume_on_clear(caf::actor who) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (alarm_.load(std::memory_order_relaxed)) {
      sleepers_.push_back(std::move(who));
      return;
    }
  }
  caf::anon_send(who, atom::resume_v);
}

} // namespace qmesh
