#include "core/authenticator.hpp"

#include <algorithm>

#include <openssl/crypto.h>

#include "core/password.hpp"

namespace qmesh {

authenticator::authenticator(std::shared_ptr<const user_db> users)
  : users_(std::move(users)) {
  // nop
}

bool authenticator::enabled() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return users_ != nullptr;
}

std::shared_ptr<const user_db> authenticator::users() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return users_;
}

void authenticator::replace(std::shared_ptr<const user_db> users) {
  std::lock_guard<std::mutex> guard{mtx_};
  users_ = std::move(users);
  verified_.clear();
}

std::shared_ptr<const user_entry>
authenticator::check(std::string_view user, std::string_view password) {
  std::shared_ptr<const user_db> db;
  std::string digest = fast_digest(password);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    db = users_;
    if (db == nullptr)
      return nullptr;
    auto entry = db->find(user);
    if (entry == nullptr)
      return nullptr;
    auto i = verified_.find(std::string{user});
    if (i != verified_.end() && !digest.empty()
        && i->second.size() == digest.size()
        && CRYPTO_memcmp(i->second.data(), digest.data(), digest.size())
             == 0)
      return {db, entry};
  }
  // The slow part outside the lock.
  auto entry = db->find(user);
  if (!verify_password(password, entry->password_hash))
    return nullptr;
  std::lock_guard<std::mutex> guard{mtx_};
  if (users_ == db && !digest.empty())
    verified_[std::string{user}] = std::move(digest);
  return {db, entry};
}

std::chrono::milliseconds authenticator::failed(const std::string& host) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (failures_.size() >= max_tracked_hosts
      && failures_.count(host) == 0) {
    auto oldest = std::min_element(failures_.begin(), failures_.end(),
                                   [](const auto& a, const auto& b) {
                                     return a.second.last_seq
                                            < b.second.last_seq;
                                   });
    failures_.erase(oldest);
  }
  auto& f = failures_[host];
  f.last_seq = ++seq_;
  if (f.count < 32)
    ++f.count;
  auto delay = first_delay;
  for (uint32_t i = 1; i < f.count && delay < max_delay; ++i)
    delay *= 2;
  return std::min(delay, max_delay);
}

void authenticator::succeeded(const std::string& host) {
  std::lock_guard<std::mutex> guard{mtx_};
  failures_.erase(host);
}

void authenticator::forget_unverified(time_point now) {
  if (unverified_failures_ == 0 || now < unverified_since_) {
    unverified_since_ = now;
    return;
  }
  auto n = static_cast<uint64_t>((now - unverified_since_) / node_wide_forget);
  if (n >= unverified_failures_) {
    unverified_failures_ = 0;
    unverified_since_ = now;
    return;
  }
  unverified_failures_ -= static_cast<uint32_t>(n);
  unverified_since_ += n * node_wide_forget;
}

std::chrono::milliseconds authenticator::spacing_locked() const {
  if (unverified_failures_ <= node_wide_free)
    return std::chrono::milliseconds{0};
  auto spacing = first_delay;
  for (uint32_t i = node_wide_free + 1;
       i < unverified_failures_ && spacing < max_delay; ++i)
    spacing *= 2;
  return std::min(spacing, max_delay);
}

std::optional<std::chrono::milliseconds>
authenticator::admit_unverified(time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  forget_unverified(now);
  auto spacing = spacing_locked();
  auto slot = std::max(now, last_unverified_check_ + spacing);
  if (slot - now > node_wide_max_wait)
    return std::nullopt;
  last_unverified_check_ = slot;
  return std::chrono::ceil<std::chrono::milliseconds>(slot - now);
}

void authenticator::failed_unverified(time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  forget_unverified(now);
  if (unverified_failures_ < 64)
    ++unverified_failures_;
}

std::chrono::milliseconds authenticator::unverified_spacing(time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  forget_unverified(now);
  return spacing_locked();
}

std::string authenticator::host_of(std::string_view peer) {
  auto colon = peer.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::string{peer};
  auto host = peer.substr(0, colon);
  // [v6]:port
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::string{host};
}

} // namespace qmesh
