#include "actors/front_door.hpp"

#include <caf/all.hpp>

#include "actors/session.hpp"

namespace qmesh {

front_door_actor::behavior_type
front_door_impl(front_door_actor::pointer self, queue_manager_actor qm) {
  return {
    [self, qm](atom::connect, consumer_actor& client)
      -> caf::result<session_actor, qm_status> {
      if (!client)
        return caf::make_error(ec::options_error, "no client actor");
      auto session = self->spawn(session_impl, qm, std::move(client));
      auto rp = self->make_response_promise<session_actor, qm_status>();
      self->request(qm, caf::infinite, atom::status_v)
        .then([rp, session](qm_status& st) mutable {
                rp.deliver(session, std::move(st));
              },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
  };
}

} // namespace qmesh
