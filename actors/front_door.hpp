// The front door: the actor a node publishes for native clients. It checks
// credentials against the node's users (core/authenticator.hpp), opens one
// session per client and gives it the user's permissions.
//
// Checking a password is slow (PBKDF2, tens of ms): the front door hands it
// to a short-lived worker actor, so connects of others are not held up. A
// refusal is answered late when the same host failed before (see
// authenticator::failed).
//
// A connect without credentials on a node with users opens a session that
// answers status and cluster only (HTTP's /readyz); everything else it
// refuses with 2035. Native and STOMP clients always send credentials.
#pragma once

#include <map>
#include <memory>

#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "core/authenticator.hpp"

namespace qmesh {

struct front_door_state {
  static inline const char* name = "qmesh.front_door";
  /// Refusals waiting for their delay, by timer id.
  std::map<uint64_t, caf::typed_response_promise<session_actor, qm_status>>
    refusals;
  uint64_t next_refusal = 1;
};

/// `auth` may be null: no users, everyone anonymous and allowed.
front_door_actor::behavior_type
front_door_impl(front_door_actor::stateful_pointer<front_door_state> self,
                queue_manager_actor qm, std::shared_ptr<authenticator> auth);

} // namespace qmesh
