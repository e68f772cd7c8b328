// The subscription actor: one per subscription.
//
// Receives each matching publication from the queue manager and puts it on
// its target queue, stamped with the topic, in order. At most one put is in
// flight: publications that arrive meanwhile wait and go together as one
// batch (a CAF 0.17 actor looks up replies in a flat list, so thousands of
// outstanding requests would make every reply cost thousands of steps).
//
// Flow control: the queue takes a batch under its overflow policy (block:
// the reply waits until there is room; publications it refuses for its
// limits or the reject policy it dead-letters itself). Each reply is
// passed on to the queue manager as credit; the queue manager sends a
// subscription at most a window of publications beyond its credit and
// holds publishers meanwhile, so a slow consumer slows the publishers
// down and `pending` stays bounded. Lifetime is managed by the queue
// manager: it ends the actor on unsubscribe, or when the owner of a
// non-durable subscription goes.
#pragma once

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"

namespace qmesh {

/// Property carrying the topic a publication was published on.
constexpr std::string_view topic_property = "qmesh.topic";

struct subscription_state {
  static inline const char* name = "qmesh.subscription";

  subscription_actor::pointer self = nullptr;
  subscription_info info;
  queue_actor queue;
  queue_manager_actor qm;

  /// Publications waiting for the put in flight (at most the queue
  /// manager's window).
  std::vector<message> pending;
  /// A put to the queue is in flight.
  bool in_flight = false;

  /// Takes one publication.
  void on_publication(const std::string& topic, message& msg);

  /// Takes several publications on one topic.
  void on_publications(const std::string& topic, std::vector<message>& msgs);

  /// Starts the next put unless one is in flight.
  void flush();

  /// The queue is done with `n` publications (stored or dead-lettered):
  /// return the credit.
  void taken(uint64_t n);
};

subscription_actor::behavior_type
subscription_impl(subscription_actor::stateful_pointer<subscription_state> self,
                  subscription_info info, queue_actor queue,
                  queue_manager_actor qm);

} // namespace qmesh
