// The one interface through which actors reach the journal.
//
// A queue (and the queue manager) gets a journal_sink when spawned: the
// node's journal, or null_journal for unit tests and nodes without
// persistence. Appends return the record's sequence number; the caller acts
// on the record (replies, makes a message visible) only once its listener
// heard on_durable() for that seq. Seq 0 means "nothing to wait for".
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "store/records.hpp"

namespace qmesh::store {

/// What append() returns when the journal can no longer write: the
/// largest seq, so the max of several appends' seqs keeps a failure.
constexpr uint64_t append_failed = ~uint64_t{0};

/// Hears that records are on disk. Called from the journal's writer thread:
/// implementations must be thread-safe (the actors' one sends a message to
/// its actor).
class durability_listener {
public:
  virtual ~durability_listener() = default;

  /// Every record this listener appended with seq <= `seq` is on disk
  /// (ok), or the batch holding them failed (!ok).
  virtual void on_durable(uint64_t seq, bool ok) = 0;
};

class journal_sink {
public:
  virtual ~journal_sink() = default;

  /// Appends a record; returns its seq, 0 if nothing needs to wait
  /// (null_journal), or `append_failed` when the journal failed (the
  /// operation must fail with 2102). Thread-safe.
  virtual uint64_t append(record_kind kind, const record_body& body,
                          const std::shared_ptr<durability_listener>& who)
    = 0;

  /// False while puts must be refused (disk below its free limit, or the
  /// journal failed); refusal() says why.
  virtual bool accepting_puts() const noexcept = 0;

  virtual std::string refusal() const = 0;

  /// True if records of unit of work `uow` were appended and no commit or
  /// backout record yet: only then does its end need a record (and a
  /// commit a sync). Thread-safe.
  virtual bool holds_uow(uint64_t uow) const = 0;
};

/// Stores nothing; every append is "durable" at once.
class null_journal final : public journal_sink {
public:
  uint64_t append(record_kind, const record_body&,
                  const std::shared_ptr<durability_listener>&) override {
    return 0;
  }
  bool accepting_puts() const noexcept override {
    return true;
  }
  std::string refusal() const override {
    return {};
  }
  bool holds_uow(uint64_t) const override {
    return false;
  }
};

} // namespace qmesh::store
