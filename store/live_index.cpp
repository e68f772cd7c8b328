#include "store/live_index.hpp"

#include <algorithm>

namespace qmesh::store {

void live_index::add_segment(uint64_t first_seq) {
  segment_acct acct;
  acct.first_seq = first_seq;
  segs_.push_back(acct);
}

void live_index::drop_oldest() {
  if (!segs_.empty())
    segs_.pop_front();
}

live_index::segment_acct& live_index::acct_of(uint64_t seq) {
  auto it = std::upper_bound(segs_.begin(), segs_.end(), seq,
                             [](uint64_t s, const segment_acct& a) {
                               return s < a.first_seq;
                             });
  // Every record lies in some segment; seqs below the oldest cannot be
  // referenced (their segment was deleted only once nothing was live).
  return it == segs_.begin() ? segs_.front() : *std::prev(it);
}

uint32_t live_index::queue_id(const std::string& name) {
  auto [it, added] = queue_ids_.try_emplace(
    name, static_cast<uint32_t>(queue_ids_.size()));
  return it->second;
}

void live_index::store(uint64_t key, const entry& e) {
  auto [it, added] = msgs_.try_emplace(key, e);
  if (!added) {
    --acct_of(it->second.seq).live;
    it->second = e;
  }
  ++acct_of(e.seq).live;
}

void live_index::erase(uint64_t key) {
  auto it = msgs_.find(key);
  if (it == msgs_.end())
    return;
  --acct_of(it->second.seq).live;
  msgs_.erase(it);
}

live_index::uow_state& live_index::open_uow(uint64_t uow) {
  auto [it, added] = uows_.try_emplace(uow);
  if (added)
    it->second.first_segment = segs_.back().first_seq;
  return it->second;
}

void live_index::set_catalog(std::unordered_map<std::string, uint64_t>& table,
                             const std::string& name, uint64_t seq) {
  auto [it, added] = table.try_emplace(name, seq);
  if (!added) {
    --acct_of(it->second).catalog;
    it->second = seq;
  }
  ++acct_of(seq).catalog;
}

void live_index::drop_catalog(std::unordered_map<std::string, uint64_t>& table,
                              const std::string& name) {
  auto it = table.find(name);
  if (it == table.end())
    return;
  --acct_of(it->second).catalog;
  table.erase(it);
}

uint64_t live_index::apply(uint64_t seq, record_kind kind,
                           const record_body& body, uint64_t bytes) {
  auto& seg = segs_.back();
  ++seg.records;
  seg.bytes += bytes;
  switch (kind) {
    case record_kind::queue_define:
      set_catalog(queues_, std::get<queue_record>(body).name, seq);
      break;
    case record_kind::queue_delete: {
      auto& name = std::get<name_record>(body).name;
      drop_catalog(queues_, name);
      auto qit = queue_ids_.find(name);
      if (qit == queue_ids_.end())
        break;
      // Rare: one pass over all live messages.
      for (auto it = msgs_.begin(); it != msgs_.end();) {
        if (it->second.queue == qit->second) {
          --acct_of(it->second.seq).live;
          it = msgs_.erase(it);
        } else {
          ++it;
        }
      }
      break;
    }
    case record_kind::put: {
      auto& x = std::get<put_record>(body);
      auto key = x.key != 0 ? x.key : seq;
      ++seg.puts;
      if (x.uow != 0)
        open_uow(x.uow).puts.push_back(key);
      store(key, entry{seq, x.uow, queue_id(x.queue),
                       x.msg.delivery_count});
      return key;
    }
    case record_kind::remove: {
      auto& x = std::get<remove_record>(body);
      if (x.uow == 0) {
        for (auto key : x.keys)
          erase(key);
      } else {
        auto& u = open_uow(x.uow);
        u.removes.insert(u.removes.end(), x.keys.begin(), x.keys.end());
      }
      break;
    }
    case record_kind::move: {
      auto& x = std::get<move_record>(body);
      auto key = x.to.key != 0 ? x.to.key : seq;
      ++seg.puts;
      erase(x.from_key);
      store(key, entry{seq, 0, queue_id(x.to.queue),
                       x.to.msg.delivery_count});
      return key;
    }
    case record_kind::delivery_count: {
      auto& x = std::get<count_record>(body);
      auto it = msgs_.find(x.key);
      if (it != msgs_.end())
        it->second.delivery_count = x.delivery_count;
      break;
    }
    case record_kind::transfer_commit:
    case record_kind::uow_commit:
    case record_kind::uow_backout: {
      uint64_t uow = 0;
      if (kind == record_kind::transfer_commit) {
        auto& x = std::get<transfer_record>(body);
        uow = x.uow;
        add_transfer(seq, x);
      } else {
        uow = std::get<uow_record>(body).uow;
      }
      auto it = uows_.find(uow);
      if (it == uows_.end())
        break;
      bool commit = kind != record_kind::uow_backout;
      for (auto key : it->second.puts) {
        auto m = msgs_.find(key);
        if (m == msgs_.end() || m->second.uow != uow)
          continue;
        if (commit)
          m->second.uow = 0;
        else
          erase(key);
      }
      if (commit)
        for (auto key : it->second.removes)
          erase(key);
      uows_.erase(it);
      break;
    }
    case record_kind::sub_define:
      set_catalog(subs_, std::get<sub_record>(body).info.name, seq);
      break;
    case record_kind::sub_delete:
      drop_catalog(subs_, std::get<name_record>(body).name);
      break;
    case record_kind::retained: {
      auto& x = std::get<retained_record>(body);
      if (x.present)
        set_catalog(retained_, x.topic, seq);
      else
        drop_catalog(retained_, x.topic);
      break;
    }
  }
  return 0;
}

void live_index::drop_open_uows() {
  std::vector<uint64_t> open;
  for (auto& kv : uows_)
    open.push_back(kv.first);
  for (auto uow : open) {
    auto& u = uows_[uow];
    for (auto key : u.puts) {
      auto m = msgs_.find(key);
      if (m != msgs_.end() && m->second.uow == uow)
        erase(key);
    }
    uows_.erase(uow);
  }
}

bool live_index::pinned(const segment_acct& seg) const noexcept {
  return std::any_of(uows_.begin(), uows_.end(), [&](auto& kv) {
    return kv.second.first_segment <= seg.first_seq;
  });
}

void live_index::add_transfer(uint64_t seq, const transfer_record& x) {
  auto& t = transfers_[x.sender];
  // A compaction copy (same uow, later seq) takes its original's place.
  for (auto& e : t.recs)
    if (e.uow == x.uow) {
      --acct_of(e.seq).catalog;
      live_transfers_.erase(e.seq);
      e.seq = seq;
      ++acct_of(seq).catalog;
      live_transfers_.emplace(seq, x.sender);
      return;
    }
  t.recs.push_back(transfer_entry{seq, x.uow, x.ids.size()});
  t.ids += x.ids.size();
  ++acct_of(seq).catalog;
  live_transfers_.emplace(seq, x.sender);
  while (t.recs.size() > 1
         && t.ids - t.recs.front().ids >= transfer_ids_kept) {
    auto& old = t.recs.front();
    --acct_of(old.seq).catalog;
    live_transfers_.erase(old.seq);
    t.ids -= old.ids;
    t.recs.pop_front();
  }
}

std::optional<std::pair<record_kind, record_body>>
live_index::live_copy(const record& rec) const {
  auto backed_by = [&](uint64_t key) -> const entry* {
    auto it = msgs_.find(key);
    return it != msgs_.end() && it->second.seq == rec.seq ? &it->second
                                                          : nullptr;
  };
  auto latest = [&](const std::unordered_map<std::string, uint64_t>& table,
                    const std::string& name) {
    auto it = table.find(name);
    return it != table.end() && it->second == rec.seq;
  };
  switch (rec.kind) {
    case record_kind::put: {
      auto& x = std::get<put_record>(rec.body);
      auto key = x.key != 0 ? x.key : rec.seq;
      if (auto e = backed_by(key)) {
        put_record copy = x;
        copy.key = key;
        copy.uow = e->uow;
        copy.msg.delivery_count = e->delivery_count;
        return std::make_pair(record_kind::put, record_body{std::move(copy)});
      }
      return std::nullopt;
    }
    case record_kind::move: {
      auto& x = std::get<move_record>(rec.body);
      auto key = x.to.key != 0 ? x.to.key : rec.seq;
      if (auto e = backed_by(key)) {
        put_record copy = x.to;
        copy.key = key;
        copy.uow = 0;
        copy.msg.delivery_count = e->delivery_count;
        return std::make_pair(record_kind::put, record_body{std::move(copy)});
      }
      return std::nullopt;
    }
    case record_kind::queue_define:
      if (latest(queues_, std::get<queue_record>(rec.body).name))
        return std::make_pair(rec.kind, rec.body);
      return std::nullopt;
    case record_kind::sub_define:
      if (latest(subs_, std::get<sub_record>(rec.body).info.name))
        return std::make_pair(rec.kind, rec.body);
      return std::nullopt;
    case record_kind::transfer_commit:
      if (live_transfers_.count(rec.seq) > 0)
        return std::make_pair(rec.kind, rec.body);
      return std::nullopt;
    case record_kind::retained:
      if (std::get<retained_record>(rec.body).present
          && latest(retained_, std::get<retained_record>(rec.body).topic))
        return std::make_pair(rec.kind, rec.body);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

} // namespace qmesh::store
