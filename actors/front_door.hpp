// The front door: the actor a node publishes for native clients. It opens
// one session per client and holds no state of its own.
#pragma once

#include "actors/actors.hpp"

namespace qmesh {

front_door_actor::behavior_type
front_door_impl(front_door_actor::pointer self, queue_manager_actor qm);

} // namespace qmesh
