// The subscription actor: one per subscription.
//
// Receives each matching publication from the queue manager and puts it on
// its target queue, stamped with the topic. A publication the queue refuses
// (full, inhibited, too big, gone) goes to the dead-letter queue with the
// reason, so nothing is dropped silently. Lifetime is managed by the queue
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

  /// Puts one publication on the target queue.
  void on_publication(const std::string& topic, message& msg);
};

subscription_actor::behavior_type
subscription_impl(subscription_actor::stateful_pointer<subscription_state> self,
                  subscription_info info, queue_actor queue,
                  queue_manager_actor qm);

} // namespace qmesh
