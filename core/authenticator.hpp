// The authenticator: the node's current users and the checks of credentials
// against them (docs/operations.md "Users and permissions").
//
// Thread-safe: the front door, the HTTP connections and the node's reload
// (SIGHUP) share one. Without users (no users file) everyone is anonymous
// and allowed everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/users.hpp"

namespace qmesh {

class authenticator {
public:
  /// Hosts whose failures are remembered; beyond, the oldest state is
  /// dropped.
  static constexpr size_t max_tracked_hosts = 4096;
  /// First and longest delay of a refusal after repeated failures.
  static constexpr std::chrono::milliseconds first_delay{100};
  static constexpr std::chrono::milliseconds max_delay{5000};

  explicit authenticator(std::shared_ptr<const user_db> users = nullptr);

  /// True if the node has users (a users file).
  bool enabled() const;

  /// The current users (null without a users file).
  std::shared_ptr<const user_db> users() const;

  /// Replaces the users (a reload); forgets cached verifications.
  void replace(std::shared_ptr<const user_db> users);

  /// The entry of `user` if `password` is theirs, else null. Slow (PBKDF2)
  /// the first time a user and password meet, fast after (a digest cache);
  /// call it off hot paths.
  std::shared_ptr<const user_entry> check(std::string_view user,
                                          std::string_view password);

  /// Records a failure from `host`; returns how long to hold the refusal
  /// (doubling from first_delay up to max_delay).
  std::chrono::milliseconds failed(const std::string& host);

  /// A success from `host`: its failures are forgotten.
  void succeeded(const std::string& host);

  // -- the node-wide bound for hosts the node cannot verify ------------------
  //
  // A native client names its host itself (BASP does not tell the node a
  // peer's address), so rotating that name would dodge failed(). Failures
  // of such connects also count node-wide: past `node_wide_free` recent
  // ones, password checks of unverified connects start no closer together
  // than a spacing that doubles with each further failure (from
  // first_delay up to max_delay); one failure is forgotten per
  // `node_wide_forget`. The wait comes before the check, so neither a
  // refusal nor a success comes sooner, and parallel attempts queue.

  using time_point = std::chrono::steady_clock::time_point;
  static constexpr uint32_t node_wide_free = 3;
  static constexpr std::chrono::seconds node_wide_forget{5};
  /// Longest queue of waiting checks; a connect that would wait longer is
  /// refused at once, unchecked.
  static constexpr std::chrono::seconds node_wide_max_wait{30};

  /// Admits the password check of a connect from an unverified host at
  /// `now`: how long it must wait first, or nothing if the queue is full.
  std::optional<std::chrono::milliseconds> admit_unverified(time_point now);

  /// A connect from an unverified host failed at `now`.
  void failed_unverified(time_point now);

  /// The current spacing of unverified checks (0: no bound in force).
  std::chrono::milliseconds unverified_spacing(time_point now);

  /// The host part of `HOST:PORT` (or the text as given).
  static std::string host_of(std::string_view peer);

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const user_db> users_;
  /// user → digest of the last password that verified.
  std::unordered_map<std::string, std::string> verified_;
  struct failures {
    uint32_t count = 0;
    uint64_t last_seq = 0;
  };
  std::unordered_map<std::string, failures> failures_;
  uint64_t seq_ = 0;
  // The node-wide bound (guarded by mtx_).
  uint32_t unverified_failures_ = 0;
  time_point unverified_since_{};
  time_point last_unverified_check_{};
  void forget_unverified(time_point now);
  std::chrono::milliseconds spacing_locked() const;
};

} // namespace qmesh
