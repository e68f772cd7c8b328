// The one place that registers qmesh's message types and error category.
#pragma once

#include <caf/actor_system_config.hpp>

namespace qmesh {

/// Registers every type of the `qmesh` ID block and the `qmesh` error
/// category (rendered `2053 q_full: context`) on `cfg`.
void add_message_types(caf::actor_system_config& cfg);

/// An actor-system configuration with qmesh's types; nodes, tools and tests
/// all derive from it so they register exactly the same types.
struct system_config : caf::actor_system_config {
  system_config();
};

} // namespace qmesh
