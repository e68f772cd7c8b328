// A journal_sink for unit and actor tests: records every append and says
// "on disk" only when the test calls sync().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/journal_sink.hpp"

namespace qmesh::test {

/// Records appends; durable only on sync().
struct recording_journal : store::journal_sink {
  struct entry {
    uint64_t seq;
    store::record_kind kind;
    store::record_body body;
  };
  std::vector<entry> records;
  std::vector<std::weak_ptr<store::durability_listener>> listeners;
  uint64_t next = 1;
  bool accepting = true;
  bool failed = false;

  uint64_t append(store::record_kind kind, const store::record_body& body,
                  const std::shared_ptr<store::durability_listener>& who)
    override {
    if (failed)
      return store::append_failed;
    records.push_back(entry{next, kind, body});
    bool known = false;
    for (auto& l : listeners)
      known = known || l.lock() == who;
    if (!known)
      listeners.push_back(who);
    return next++;
  }

  bool accepting_puts() const noexcept override {
    return accepting;
  }

  std::string refusal() const override {
    return "disk full (test)";
  }

  bool holds_uow(uint64_t uow) const override {
    bool open = false;
    for (auto& r : records) {
      if (auto p = std::get_if<store::put_record>(&r.body); p && p->uow == uow)
        open = true;
      else if (auto m = std::get_if<store::remove_record>(&r.body);
               m && m->uow == uow)
        open = true;
      else if (auto u = std::get_if<store::uow_record>(&r.body);
               u && u->uow == uow)
        open = false;
      else if (auto t = std::get_if<store::transfer_record>(&r.body);
               t && t->uow == uow)
        open = false;
    }
    return open;
  }

  /// Every listener hears that everything appended so far is on disk (or
  /// failed).
  void sync(bool ok = true) {
    for (auto& l : listeners)
      if (auto p = l.lock())
        p->on_durable(next - 1, ok);
  }

  size_t count(store::record_kind kind) const {
    size_t n = 0;
    for (auto& r : records)
      n += r.kind == kind ? 1 : 0;
    return n;
  }

  template <class T>
  const T& last(store::record_kind kind) const {
    for (auto i = records.rbegin(); i != records.rend(); ++i)
      if (i->kind == kind)
        return std::get<T>(i->body);
    CAF_FAIL("no record of kind " << static_cast<int>(kind));
  }
};

} // namespace qmesh::test
