// Memory budgets shared by the connections of a node (plain C++).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace qmesh::net {

/// A node-wide number of bytes that connections take from and give back
/// (e.g. the bodies held by open STOMP transactions). Thread-safe: every
/// connection actor uses the same budget from its own scheduler thread.
class byte_budget {
public:
  explicit byte_budget(size_t limit) : limit_(limit) {
    // nop
  }

  byte_budget(const byte_budget&) = delete;
  byte_budget& operator=(const byte_budget&) = delete;

  /// Takes `n` bytes if that keeps the total within the limit; false (and
  /// nothing taken) otherwise.
  bool try_take(size_t n) noexcept {
    auto used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || used > limit_ - n)
        return false;
    } while (!used_.compare_exchange_weak(used, used + n,
                                          std::memory_order_relaxed));
    return true;
  }

  /// Gives back `n` bytes taken earlier.
  void give_back(size_t n) noexcept {
    used_.fetch_sub(n, std::memory_order_relaxed);
  }

  size_t used() const noexcept {
    return used_.load(std::memory_order_relaxed);
  }

  size_t limit() const noexcept {
    return limit_;
  }

private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

/// One holder's share of a byte_budget: what it took is given back when it
/// shrinks or ends. Not thread-safe itself (one owner, e.g. one actor).
class budget_share {
public:
  budget_share() = default;

  explicit budget_share(std::shared_ptr<byte_budget> budget)
    : budget_(std::move(budget)) {
    // nop
  }

  budget_share(const budget_share&) = delete;
  budget_share& operator=(const budget_share&) = delete;

  budget_share(budget_share&& other) noexcept
    : budget_(std::move(other.budget_)), held_(other.held_) {
    other.held_ = 0;
  }

  budget_share& operator=(budget_share&& other) noexcept {
    if (this != &other) {
      release();
      budget_ = std::move(other.budget_);
      held_ = other.held_;
      other.held_ = 0;
    }
    return *this;
  }

  ~budget_share() {
    release();
  }

  /// Takes `n` more bytes; false if the budget has no room (a share without
  /// a budget always has room).
  bool grow(size_t n) noexcept {
    if (budget_ && !budget_->try_take(n))
      return false;
    held_ += n;
    return true;
  }

  /// Gives back `n` of the bytes held (at most what is held).
  void shrink(size_t n) noexcept {
    if (n > held_)
      n = held_;
    if (budget_)
      budget_->give_back(n);
    held_ -= n;
  }

  /// Gives back everything held.
  void release() noexcept {
    shrink(held_);
  }

  size_t held() const noexcept {
    return held_;
  }

  /// The shared budget; nullptr if there is none.
  const byte_budget* budget() const noexcept {
    return budget_.get();
  }

private:
  std::shared_ptr<byte_budget> budget_;
  size_t held_ = 0;
};

} // namespace qmesh::net
