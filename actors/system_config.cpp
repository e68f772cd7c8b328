#include "actors/system_config.hpp"

#include <caf/all.hpp>

#include "actors/actors.hpp"

namespace qmesh {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::qmesh>();
  cfg.add_error_category(caf::atom("qmesh"),
                         [](uint8_t code, caf::atom_value,
                            const caf::message& ctx) -> std::string {
                           return render(static_cast<ec>(code), ctx);
                         });
}

system_config::system_config() {
  qmesh::add_message_types(*this);
}

} // namespace qmesh
