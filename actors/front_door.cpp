#include "actors/front_door.hpp"

#include <caf/all.hpp>

#include "actors/session.hpp"
#include "core/message.hpp"

namespace qmesh {

front_door_actor::behavior_type
front_door_impl(front_door_actor::pointer self, queue_manager_actor qm) {
  // A session that ends, however it ends, concerns only its client; only an
  // exit sent to the front door itself (anon_send_exit: the node stopping)
  // stops it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source == self->address())
      self->quit(msg.reason);
  });
  return {
    [self, qm](atom::connect, consumer_actor& client, client_info& who)
      -> caf::result<session_actor, qm_status> {
      if (!client)
        return caf::make_error(ec::options_error, "no client actor");
      // Linked: when the front door stops (node shutdown), its sessions
      // stop too, and their clients see the connection end at once.
      auto session = self->spawn<caf::linked>(session_impl, qm,
                                              std::move(client));
      connection_info info;
      info.id = session.id();
      info.client = std::move(who);
      info.connected_at_ms = wall_clock_ms();
      self->send(qm, atom::connect_v,
                 caf::actor_cast<caf::actor_addr>(session), std::move(info));
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
