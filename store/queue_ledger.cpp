#include "store/queue_ledger.hpp"

namespace qmesh {

namespace {

store::null_journal& no_journal() {
  static store::null_journal instance;
  return instance;
}

} // namespace

queue_ledger::queue_ledger(std::string queue,
                           std::shared_ptr<store::journal_sink> journal,
                           std::shared_ptr<store::durability_listener> listener)
  : queue_(std::move(queue)),
    journal_(std::move(journal)),
    listener_(std::move(listener)) {
  if (!journal_)
    journal_ = std::shared_ptr<store::journal_sink>(
      std::shared_ptr<void>{}, &no_journal());
}

bool queue_ledger::accepting_persistent() const noexcept {
  return journal_->accepting_puts();
}

std::string queue_ledger::refusal() const {
  return journal_->refusal();
}

uint64_t queue_ledger::append(store::record_kind kind,
                              const store::record_body& body) {
  return journal_->append(kind, body, listener_);
}

void queue_ledger::journal_dropped() {
  if (!ready_.has_dropped_keys())
    return;
  auto keys = ready_.take_dropped_keys();
  append(store::record_kind::remove,
         store::remove_record{queue_, 0, std::move(keys)});
}

uint64_t queue_ledger::accept(message&& msg, int64_t expires_at) {
  if (!msg.is_persistent() && pending_.empty()) { // the hot path
    ++enqueued_;
    ready_.push(std::move(msg), expires_at, 0);
    return 0;
  }
  static const std::string no_source;
  return accept_moved(std::move(msg), expires_at, no_source, 0);
}

uint64_t queue_ledger::accept_moved(message&& msg, int64_t expires_at,
                                    const std::string& from,
                                    uint64_t from_key) {
  uint64_t seq = 0;
  if (msg.is_persistent()) {
    msg.tag = 0;
    // The record borrows the message while it is encoded (no copy).
    store::record_body body;
    if (from.empty()) {
      body = store::put_record{queue_, 0, 0, std::move(msg)};
      seq = append(store::record_kind::put, body);
      msg = std::move(std::get<store::put_record>(body).msg);
    } else {
      body = store::move_record{from, from_key,
                                store::put_record{queue_, 0, 0,
                                                  std::move(msg)}};
      seq = append(store::record_kind::move, body);
      msg = std::move(std::get<store::move_record>(body).to.msg);
    }
    if (seq == store::append_failed)
      return seq;
  } else if (!from.empty() && from_key != 0) {
    // A journaled message that is no longer persistent on arrival (moves
    // keep the descriptor, so only in theory) still leaves `from`.
    append(store::record_kind::remove,
           store::remove_record{from, 0, {from_key}});
  }
  ++enqueued_;
  if (seq == 0 && pending_.empty()) {
    ready_.push(std::move(msg), expires_at, 0);
    return 0;
  }
  // Behind a persistent put on its way to disk, a later message waits too:
  // messages become ready in put order.
  auto wait_for = seq != 0 ? seq : pending_.back().seq;
  pending_put p;
  p.seq = wait_for;
  p.entry.expires_at = expires_at;
  p.entry.jkey = seq;
  p.entry.msg = std::move(msg);
  pending_.push_back(std::move(p));
  return wait_for;
}

void queue_ledger::recover(uint64_t key, message&& msg, int64_t expires_at) {
  ++enqueued_;
  ready_.push(std::move(msg), expires_at, key);
}

uint64_t queue_ledger::hold_put(uint64_t uow, message&& msg,
                                int64_t expires_at) {
  uint64_t seq = 0;
  if (msg.is_persistent()) {
    store::record_body body = store::put_record{queue_, 0, uow,
                                                std::move(msg)};
    seq = append(store::record_kind::put, body);
    msg = std::move(std::get<store::put_record>(body).msg);
    if (seq == store::append_failed)
      return seq;
  }
  stored_message entry;
  entry.expires_at = expires_at;
  entry.jkey = seq;
  entry.msg = std::move(msg);
  uows_[uow].puts.push_back(std::move(entry));
  ++uncommitted_;
  return seq;
}

std::optional<stored_message> queue_ledger::take(const match_spec& spec,
                                                 int64_t now) {
  auto entry = ready_.take(spec, now, expired_);
  journal_dropped();
  return entry;
}

uint64_t queue_ledger::consume(const stored_message& entry) {
  ++dequeued_;
  if (entry.jkey == 0)
    return 0;
  return append(store::record_kind::remove,
                store::remove_record{queue_, 0, {entry.jkey}});
}

void queue_ledger::deliver(const stored_message& entry) {
  ++unacked_;
  if (entry.jkey != 0)
    append(store::record_kind::delivery_count,
           store::count_record{queue_, entry.jkey,
                               entry.msg.delivery_count + 1});
}

uint64_t queue_ledger::settle(const stored_message& entry) {
  --unacked_;
  return consume(entry);
}

void queue_ledger::restore(stored_message&& entry, bool was_unacked) {
  if (was_unacked)
    --unacked_;
  if (entry.jkey != 0)
    append(store::record_kind::delivery_count,
           store::count_record{queue_, entry.jkey, entry.msg.delivery_count});
  ready_.restore(std::move(entry));
}

void queue_ledger::moving_out(bool was_unacked) {
  if (was_unacked)
    --unacked_;
  ++moving_;
}

void queue_ledger::move_failed(stored_message&& entry) {
  --moving_;
  ready_.restore(std::move(entry));
}

uint64_t queue_ledger::hold_get(uint64_t uow, stored_message&& entry) {
  uint64_t seq = 0;
  if (entry.jkey != 0)
    seq = append(store::record_kind::remove,
                 store::remove_record{queue_, uow, {entry.jkey}});
  uows_[uow].gets.push_back(std::move(entry));
  ++uncommitted_;
  return seq;
}

void queue_ledger::commit(uint64_t uow) {
  auto it = uows_.find(uow);
  if (it == uows_.end())
    return;
  auto& work = it->second;
  uncommitted_ -= work.puts.size() + work.gets.size();
  dequeued_ += work.gets.size();
  for (auto& entry : work.puts) {
    ++enqueued_;
    ready_.push(std::move(entry.msg), entry.expires_at, entry.jkey);
  }
  uows_.erase(it);
}

std::vector<stored_message> queue_ledger::backout(uint64_t uow) {
  auto it = uows_.find(uow);
  if (it == uows_.end())
    return {};
  auto work = std::move(it->second);
  uows_.erase(it);
  uncommitted_ -= work.puts.size() + work.gets.size();
  return std::move(work.gets);
}

uint64_t queue_ledger::purge() {
  auto n = ready_.clear();
  journal_dropped();
  return n;
}

bool queue_ledger::drop_oldest(int64_t now) {
  auto entry = ready_.take(match_spec{}, now, expired_);
  if (entry) {
    ++dropped_;
    if (entry->jkey != 0)
      append(store::record_kind::remove,
             store::remove_record{queue_, 0, {entry->jkey}});
  }
  journal_dropped();
  return entry.has_value();
}

uint64_t queue_ledger::drop_expired(int64_t now) {
  auto n = ready_.drop_expired(now);
  expired_ += n;
  journal_dropped();
  return n;
}

size_t queue_ledger::on_durable(uint64_t seq, bool ok) {
  size_t n = 0;
  while (!pending_.empty() && pending_.front().seq <= seq) {
    auto& p = pending_.front();
    if (ok) {
      ready_.push(std::move(p.entry.msg), p.entry.expires_at, p.entry.jkey);
      ++n;
    } else {
      --enqueued_;
    }
    pending_.pop_front();
  }
  return n;
}

} // namespace qmesh
