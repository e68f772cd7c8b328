#include "actors/subscription.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"

namespace qmesh {

void subscription_state::on_publication(const std::string& topic,
                                        message& msg) {
  msg.properties[std::string{topic_property}] = topic;
  // Keep a copy until the queue confirms, so a refused publication can be
  // dead-lettered instead of lost.
  auto copy = msg;
  self->request(queue, caf::infinite, atom::put_v, std::move(msg))
    .then([this](const msg_id&) { ++info.delivered_total; },
          [this, copy](caf::error& e) mutable {
            log::pubsub().warn("subscription {}: publication to {} refused: "
                               "{}; dead-lettered",
                               info.name, info.queue, render(e));
            copy.properties[std::string{dead_letter_reason_property}]
              = render(e);
            copy.properties[std::string{dead_letter_source_property}]
              = info.queue;
            self->send(qm, atom::dead_letter_v, std::string{},
                       std::move(copy));
          });
}

subscription_actor::behavior_type
subscription_impl(subscription_actor::stateful_pointer<subscription_state> self,
                  subscription_info info, queue_actor queue,
                  queue_manager_actor qm) {
  auto& st = self->state;
  st.self = self;
  st.info = std::move(info);
  st.queue = std::move(queue);
  st.qm = std::move(qm);
  return {
    [self](atom::publish, const std::string& topic, message& msg) {
      self->state.on_publication(topic, msg);
    },
    [self](atom::inquire) { return self->state.info; },
  };
}

} // namespace qmesh
