#include "core/message_store.hpp"

#include <algorithm>

namespace qmesh {

struct message_store::indexes {
  std::unordered_map<msg_id, std::set<uint64_t>, msg_id_hash> by_id;
  std::unordered_map<std::string, std::set<uint64_t>> by_correl;

  void add(const stored_message& e) {
    by_id[e.msg.id].insert(e.key);
    if (!e.msg.correl_id.empty())
      by_correl[e.msg.correl_id].insert(e.key);
  }

  template <class Map, class Key>
  static void remove_from(Map& map, const Key& k, uint64_t key) {
    auto it = map.find(k);
    if (it == map.end())
      return;
    it->second.erase(key);
    if (it->second.empty())
      map.erase(it);
  }

  void remove(const stored_message& e) {
    remove_from(by_id, e.msg.id, e.key);
    if (!e.msg.correl_id.empty())
      remove_from(by_correl, e.msg.correl_id, e.key);
  }
};

message_store::message_store() = default;
message_store::~message_store() = default;
message_store::message_store(message_store&&) noexcept = default;
message_store& message_store::operator=(message_store&&) noexcept = default;

void message_store::push(message&& msg, int64_t expires_at, uint64_t jkey) {
  auto key = make_key(msg.priority, next_seq_++);
  // A new key is the largest of its priority; while no lower priority is
  // stored (the usual case: one priority in use) it is the largest of all
  // and end() is an exact hint, so the put costs no tree descent.
  auto hint = entries_.empty() || entries_.rbegin()->first < key
                ? entries_.end()
                : entries_.lower_bound(key);
  // Built in its map node: the message is moved once.
  auto it = entries_.emplace_hint(hint, std::piecewise_construct,
                                  std::forward_as_tuple(key),
                                  std::forward_as_tuple());
  auto& entry = it->second;
  entry.key = key;
  entry.expires_at = expires_at;
  entry.jkey = jkey;
  entry.msg = std::move(msg);
  if (expires_at != 0)
    expiries_.emplace(expires_at, key);
  if (indexes_)
    indexes_->add(entry);
}

void message_store::restore(stored_message&& entry) {
  insert(std::move(entry));
}

void message_store::insert(stored_message&& entry) {
  if (entry.expires_at != 0)
    expiries_.emplace(entry.expires_at, entry.key);
  if (indexes_)
    indexes_->add(entry);
  auto key = entry.key;
  auto hint = entries_.lower_bound(key);
  entries_.emplace_hint(hint, key, std::move(entry));
}

stored_message message_store::extract(map_type::iterator it) {
  auto entry = std::move(it->second);
  entries_.erase(it);
  if (entry.expires_at != 0)
    expiries_.erase({entry.expires_at, entry.key});
  if (indexes_)
    indexes_->remove(entry);
  return entry;
}

void message_store::build_indexes() {
  indexes_ = std::make_unique<indexes>();
  for (const auto& kvp : entries_)
    indexes_->add(kvp.second);
}

message_store::map_type::const_iterator
message_store::find_match(const match_spec& spec, uint64_t after) const {
  if (spec.any()) // key 0 is never used: from the start means begin()
    return after == 0 ? entries_.begin() : entries_.upper_bound(after);
  // Candidates come from the more selective index, in queue order.
  const std::set<uint64_t>* keys = nullptr;
  if (!spec.id.empty()) {
    auto it = indexes_->by_id.find(spec.id);
    if (it != indexes_->by_id.end())
      keys = &it->second;
  } else {
    auto it = indexes_->by_correl.find(spec.correl_id);
    if (it != indexes_->by_correl.end())
      keys = &it->second;
  }
  if (keys == nullptr)
    return entries_.end();
  for (auto k = keys->upper_bound(after); k != keys->end(); ++k) {
    auto it = entries_.find(*k);
    if (it != entries_.end() && spec.matches(it->second.msg))
      return it;
  }
  return entries_.end();
}

std::optional<stored_message>
message_store::take(const match_spec& spec, int64_t now, uint64_t& expired) {
  if (!spec.any() && !indexes_)
    build_indexes();
  uint64_t after = 0;
  for (;;) {
    auto cit = find_match(spec, after);
    if (cit == entries_.end())
      return std::nullopt;
    auto it = entries_.erase(cit, cit); // const_iterator -> iterator
    if (!it->second.expired(now))
      return extract(it);
    after = it->first;
    if (auto dropped = extract(it); dropped.jkey != 0)
      dropped_keys_.push_back(dropped.jkey);
    ++expired;
  }
}

std::optional<message> message_store::browse(const match_spec& spec,
                                             uint64_t cursor,
                                             int64_t now) const {
  if (!spec.any() && !indexes_)
    const_cast<message_store*>(this)->build_indexes();
  for (;;) {
    auto it = find_match(spec, cursor);
    if (it == entries_.end())
      return std::nullopt;
    if (!it->second.expired(now)) {
      auto copy = it->second.msg;
      copy.tag = it->first;
      return copy;
    }
    cursor = it->first;
  }
}

uint64_t message_store::drop_expired(int64_t now) {
  uint64_t n = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    auto key = expiries_.begin()->second;
    auto it = entries_.find(key);
    if (it == entries_.end()) { // cannot happen; keep the set consistent
      expiries_.erase(expiries_.begin());
      continue;
    }
    if (auto dropped = extract(it); dropped.jkey != 0)
      dropped_keys_.push_back(dropped.jkey);
    ++n;
  }
  return n;
}

int64_t message_store::next_expiry() const noexcept {
  return expiries_.empty() ? 0 : expiries_.begin()->first;
}

uint64_t message_store::clear() {
  auto n = entries_.size();
  for (const auto& kvp : entries_)
    if (kvp.second.jkey != 0)
      dropped_keys_.push_back(kvp.second.jkey);
  entries_.clear();
  expiries_.clear();
  indexes_.reset();
  return n;
}

int64_t message_store::oldest_put_time() const noexcept {
  // The oldest message is the first of some priority: check each priority's
  // first entry (at most 10 lookups).
  int64_t oldest = 0;
  for (int prio = 9; prio >= 0; --prio) {
    auto it = entries_.lower_bound(make_key(prio, 0));
    if (it == entries_.end())
      break;
    if (it->first >= make_key(prio - 1, 0) && prio > 0)
      continue;
    if (oldest == 0 || it->second.msg.put_time < oldest)
      oldest = it->second.msg.put_time;
  }
  return oldest;
}

} // namespace qmesh
