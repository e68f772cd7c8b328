// The transfer ids a queue manager stored lately from one sender: the
// receiving side of a channel's exactly-once delivery.
//
// A sender has at most its channel window of messages sent and not yet
// confirmed; only those can come again (after a reconnect or a restart of
// either side). Remembering the last `capacity` ids, capacity above that
// window, is therefore enough to skip every resent message. Plain C++, not
// thread-safe; the queue manager owns one per sender and rebuilds it from the
// journal at start.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

namespace qmesh {

class transfer_window {
public:
  explicit transfer_window(size_t capacity = 16384) : capacity_(capacity) {
    // nop
  }

  /// True if `id` was stored (and is still remembered).
  bool seen(const std::string& id) const {
    return ids_.count(id) > 0;
  }

  /// Remembers `id`, forgetting the oldest beyond the capacity.
  void add(const std::string& id) {
    if (!ids_.insert(id).second)
      return;
    order_.push_back(id);
    while (order_.size() > capacity_) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }

  size_t size() const noexcept {
    return order_.size();
  }

  size_t capacity() const noexcept {
    return capacity_;
  }

private:
  size_t capacity_;
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;
};

} // namespace qmesh
