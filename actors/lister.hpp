// The lister actor: a short-lived helper that gathers one listing.
//
// A listing needs one inquire per queue (or subscription) actor. Asked by
// the queue manager itself, the replies would queue up in its mailbox ahead
// of every put, and CAF 0.17 matches each reply by a linear scan over the
// asking actor's outstanding requests (quadratic in the listing's size). So
// the queue manager hands the listing to a lister: it gives the lister the
// entries answered from its own records (in parts, one per slice of its
// table walk, so that it never moves a large vector) and the actors to ask.
// The lister asks at most `window` actors at a time, replies the whole
// listing in the given order and ends.
//
// An actor that fails to answer (it stopped meanwhile, e.g. deleted) is left
// out of the listing. Everything here runs on the lister's thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace qmesh {

/// Lister state for entries of type `Status` gathered from `Handle` actors
/// (queue_status from queue_actor, subscription_info from
/// subscription_actor).
template <class Status, class Handle>
struct lister_state {
  static inline const char* name = "qmesh.lister";

  using pointer = typename lister_actor<Status>::template stateful_pointer<
    lister_state>;

  // -- state ------------------------------------------------------------------

  pointer self = nullptr;
  /// The listing in its final order; the slots of actors still to answer
  /// hold a default-constructed entry.
  std::vector<Status> entries;
  /// Slots to fill from an actor: (index into entries, actor), in order.
  std::vector<std::pair<size_t, Handle>> to_ask;
  /// Slots whose actor did not answer; left out of the reply.
  std::vector<bool> missing;
  /// Next element of `to_ask` to send an inquire to.
  size_t next = 0;
  size_t in_flight = 0;
  /// Most inquiries in flight at once.
  size_t window = 256;
  /// The listing was asked for (the reply is due once all answered).
  bool started = false;
  caf::typed_response_promise<std::vector<Status>> rp;

  // -- operations -------------------------------------------------------------

  /// Starts the listing for the current request; the reply comes when every
  /// actor has answered.
  caf::result<std::vector<Status>> list() {
    rp = self->template make_response_promise<std::vector<Status>>();
    started = true;
    missing.assign(entries.size(), false);
    ask_more();
    finish_if_done();
    return rp;
  }

  /// Sends inquiries until `window` are in flight or none is left.
  void ask_more() {
    for (; next < to_ask.size() && in_flight < window; ++next) {
      auto slot = to_ask[next].first;
      auto hdl = std::move(to_ask[next].second); // not needed after this
      ++in_flight;
      self->request(hdl, caf::infinite, atom::inquire_v)
        .then(
          [this, slot](Status& s) {
            entries[slot] = std::move(s);
            answered();
          },
          [this, slot](caf::error&) {
            missing[slot] = true; // gone meanwhile
            answered();
          });
    }
  }

  void answered() {
    --in_flight;
    ask_more();
    finish_if_done();
  }

  /// Replies and ends once every actor has answered.
  void finish_if_done() {
    if (!started || in_flight > 0 || next < to_ask.size())
      return;
    std::vector<Status> result;
    result.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i)
      if (!missing[i])
        result.push_back(std::move(entries[i]));
    rp.deliver(std::move(result));
    self->quit();
  }
};

/// Spawnable behavior of the lister: the listing in order is the
/// concatenation of `parts`; `to_ask` names the slots (indexes into that
/// concatenation) to fill from actors; at most `window` (at least 1)
/// inquiries are in flight.
template <class Status, class Handle>
typename lister_actor<Status>::behavior_type
lister_impl(typename lister_state<Status, Handle>::pointer self,
            std::vector<std::vector<Status>> parts,
            std::vector<std::pair<size_t, Handle>> to_ask, size_t window) {
  auto& st = self->state;
  st.self = self;
  size_t total = 0;
  for (const auto& part : parts)
    total += part.size();
  st.entries.reserve(total);
  for (auto& part : parts)
    std::move(part.begin(), part.end(), std::back_inserter(st.entries));
  st.to_ask = std::move(to_ask);
  st.window = window > 0 ? window : 1;
  return {
    [self](atom::list) { return self->state.list(); },
  };
}

} // namespace qmesh
