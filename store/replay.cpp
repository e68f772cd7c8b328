#include "store/replay.hpp"

#include <algorithm>
#include <map>

#include "store/file_io.hpp"

namespace qmesh::store {

// -- queue_build ----------------------------------------------------------------

void replayer::queue_build::put(uint64_t key, message&& msg) {
  auto [it, added] = pos.try_emplace(key, static_cast<uint32_t>(msgs.size()));
  if (!added) {
    // A compaction copy of a message still present: same key, latest wins.
    msgs[it->second].second = std::move(msg);
    return;
  }
  if (!msgs.empty() && key < msgs.back().first)
    sorted = false;
  if (msgs.size() == msgs.capacity()) {
    // Grow by doubling, with huge pages for the large buffers.
    msgs.reserve(std::max<size_t>(msgs.capacity() * 2, 64));
    auto bytes = msgs.capacity() * sizeof(msgs[0]);
    if (bytes >= (size_t{4} << 20))
      io::advise_huge_pages(msgs.data(), bytes);
  }
  msgs.emplace_back(key, std::move(msg));
  erased.push_back(false);
}

void replayer::queue_build::erase(uint64_t key) {
  auto it = pos.find(key);
  if (it == pos.end())
    return;
  erased[it->second] = true;
  msgs[it->second].second = message{};
  ++erased_count;
  pos.erase(it);
}

message* replayer::queue_build::find(uint64_t key) {
  auto it = pos.find(key);
  return it == pos.end() ? nullptr : &msgs[it->second].second;
}

std::vector<std::pair<uint64_t, message>> replayer::queue_build::take_sorted() {
  if (erased_count > 0) {
    size_t out = 0;
    for (size_t i = 0; i < msgs.size(); ++i)
      if (!erased[i]) {
        if (out != i)
          msgs[out] = std::move(msgs[i]);
        ++out;
      }
    msgs.resize(out);
  }
  if (!sorted) {
    std::vector<uint32_t> order(msgs.size());
    for (uint32_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return msgs[a].first < msgs[b].first; });
    std::vector<std::pair<uint64_t, message>> result;
    result.reserve(msgs.size());
    for (auto i : order)
      result.push_back(std::move(msgs[i]));
    msgs = std::move(result);
  }
  pos.clear();
  erased.clear();
  return std::move(msgs);
}

// -- replayer -------------------------------------------------------------------

replayer::queue_build& replayer::queue_for(const std::string& name) {
  if (last_queue_ && last_name_ == name)
    return *last_queue_;
  auto& q = queues_[name];
  last_name_ = name;
  last_queue_ = &q;
  return q;
}

replayer::queue_build* replayer::find_queue(const std::string& name) {
  if (last_queue_ && last_name_ == name)
    return last_queue_;
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : &it->second;
}

void replayer::store(put_record& put) {
  queue_for(put.queue).put(put.key, std::move(put.msg));
}

void replayer::erase(const std::string& queue,
                     const std::vector<uint64_t>& keys) {
  if (auto q = find_queue(queue))
    for (auto key : keys)
      q->erase(key);
}

void replayer::seen_uow(uint64_t uow) {
  max_uow_ = std::max(max_uow_, uow);
}

void replayer::apply(record& rec) {
  ++records_;
  switch (rec.kind) {
    case record_kind::queue_define: {
      auto& x = std::get<queue_record>(rec.body);
      auto& q = queue_for(x.name);
      q.attrs = std::move(x.attrs);
      q.system = x.system;
      q.defined = true;
      break;
    }
    case record_kind::queue_delete: {
      auto& x = std::get<name_record>(rec.body);
      if (last_queue_ && last_name_ == x.name)
        last_queue_ = nullptr;
      queues_.erase(x.name);
      break;
    }
    case record_kind::put: {
      auto& x = std::get<put_record>(rec.body);
      if (x.key == 0)
        x.key = rec.seq;
      if (x.uow == 0) {
        store(x);
      } else {
        seen_uow(x.uow);
        auto& ops = uows_[x.uow];
        ops.emplace_back();
        ops.back().is_put = true;
        ops.back().put = std::move(x);
      }
      break;
    }
    case record_kind::remove: {
      auto& x = std::get<remove_record>(rec.body);
      if (x.uow == 0) {
        erase(x.queue, x.keys);
      } else {
        seen_uow(x.uow);
        auto& ops = uows_[x.uow];
        ops.emplace_back();
        ops.back().remove = std::move(x);
      }
      break;
    }
    case record_kind::move: {
      auto& x = std::get<move_record>(rec.body);
      erase(x.from, {x.from_key});
      if (x.to.key == 0)
        x.to.key = rec.seq;
      seen_uow(x.to.uow);
      store(x.to);
      break;
    }
    case record_kind::delivery_count: {
      auto& x = std::get<count_record>(rec.body);
      if (auto q = find_queue(x.queue)) {
        if (auto msg = q->find(x.key))
          msg->delivery_count = x.delivery_count;
      }
      break;
    }
    case record_kind::transfer_commit:
    case record_kind::uow_commit: {
      uint64_t uow = 0;
      if (rec.kind == record_kind::transfer_commit) {
        auto& x = std::get<transfer_record>(rec.body);
        uow = x.uow;
        auto& ids = transfers_[x.sender];
        for (auto& id : x.ids)
          ids.push_back(std::move(id));
        // Keep what the live index keeps, and a little more.
        if (ids.size() > 2 * transfer_ids_kept)
          ids.erase(ids.begin(), ids.end() - transfer_ids_kept);
      } else {
        uow = std::get<uow_record>(rec.body).uow;
      }
      seen_uow(uow);
      auto it = uows_.find(uow);
      if (it == uows_.end())
        break;
      for (auto& op : it->second) {
        if (op.is_put)
          store(op.put);
        else
          erase(op.remove.queue, op.remove.keys);
      }
      uows_.erase(it);
      break;
    }
    case record_kind::uow_backout: {
      auto uow = std::get<uow_record>(rec.body).uow;
      seen_uow(uow);
      uows_.erase(uow);
      break;
    }
    case record_kind::sub_define: {
      auto& x = std::get<sub_record>(rec.body);
      auto name = x.info.name;
      subs_.insert_or_assign(std::move(name), std::move(x.info));
      break;
    }
    case record_kind::sub_delete:
      subs_.erase(std::get<name_record>(rec.body).name);
      break;
    case record_kind::retained: {
      auto& x = std::get<retained_record>(rec.body);
      if (x.present)
        retained_.insert_or_assign(x.topic, std::move(x.msg));
      else
        retained_.erase(x.topic);
      break;
    }
  }
}

recovered_state replayer::finish() {
  recovered_state st;
  st.records = records_;
  st.max_uow = max_uow_;
  st.transfers = std::move(transfers_);
  if (!uows_.empty())
    st.notes.push_back("journal: " + std::to_string(uows_.size())
                       + " unit(s) of work without commit discarded");
  std::vector<std::string> names;
  names.reserve(queues_.size());
  for (auto& [name, q] : queues_)
    names.push_back(name);
  std::sort(names.begin(), names.end());
  st.queues.reserve(names.size());
  for (auto& name : names) {
    auto& q = queues_[name];
    if (!q.defined)
      st.notes.push_back("journal: queue " + name
                         + " has messages but no definition: created with "
                           "default attributes");
    recovered_queue out;
    out.name = name;
    out.attrs = std::move(q.attrs);
    out.system = q.system;
    out.messages = q.take_sorted();
    st.queues.push_back(std::move(out));
  }
  std::map<std::string, subscription_info> subs(subs_.begin(), subs_.end());
  for (auto& kv : subs)
    st.subscriptions.push_back(std::move(kv.second));
  std::map<std::string, message> retained;
  for (auto& kv : retained_)
    retained.emplace(kv.first, std::move(kv.second));
  for (auto& kv : retained)
    st.retained.emplace_back(kv.first, std::move(kv.second));
  queues_.clear();
  last_queue_ = nullptr;
  return st;
}

} // namespace qmesh::store
