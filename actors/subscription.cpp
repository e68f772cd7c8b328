#include "actors/subscription.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"

namespace qmesh {

void subscription_state::on_publication(const std::string& topic,
                                        message& msg) {
  msg.properties[std::string{topic_property}] = topic;
  pending.push_back(std::move(msg));
  flush();
}

void subscription_state::on_publications(const std::string& topic,
                                         std::vector<message>& msgs) {
  for (auto& msg : msgs) {
    msg.properties[std::string{topic_property}] = topic;
    pending.push_back(std::move(msg));
  }
  flush();
}

void subscription_state::flush() {
  if (in_flight || pending.empty())
    return;
  in_flight = true;
  auto n = static_cast<uint64_t>(pending.size());
  auto batch = std::move(pending);
  pending.clear();
  self->request(queue, caf::infinite, atom::publish_v, std::move(batch))
    .then(
      [this, n](uint64_t stored) {
        info.delivered_total += stored;
        taken(n);
      },
          [this, n](caf::error& e) {
            // Only when the queue actor itself is gone (node stopping): the
            // queue manager refuses to delete a subscription's target.
            log::pubsub().error("subscription {}: {} publications to {} "
                                "lost: {}",
                                info.name, n, info.queue, render(e));
            taken(n);
          });
}

void subscription_state::taken(uint64_t n) {
  in_flight = false;
  if (qm)
    self->send(qm, atom::credit_v, info.id, n);
  flush();
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
    [self](atom::publish, const std::string& topic,
           std::vector<message>& msgs) {
      self->state.on_publications(topic, msgs);
    },
    [self](atom::inquire) { return self->state.info; },
  };
}

} // namespace qmesh
