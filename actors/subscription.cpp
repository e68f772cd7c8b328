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
  if (singles > 0 || pending.size() == 1) {
    // Keep a copy until the queue confirms, so a refused publication can
    // be dead-lettered instead of lost.
    auto copy = pending.front();
    auto msg = std::move(pending.front());
    pending.erase(pending.begin());
    if (singles > 0)
      --singles;
    self->request(queue, caf::infinite, atom::put_v, std::move(msg))
      .then(
        [this](const msg_id&) {
          ++info.delivered_total;
          in_flight = false;
          flush();
        },
        [this, copy](caf::error& e) mutable {
          dead_letter(std::move(copy), e);
          in_flight = false;
          flush();
        });
    return;
  }
  auto batch = std::move(pending);
  pending.clear();
  auto copy = batch;
  auto n = batch.size();
  self->request(queue, caf::infinite, atom::put_v, std::move(batch))
    .then(
      [this](uint64_t count) {
        info.delivered_total += count;
        in_flight = false;
        flush();
      },
      [this, n, copy](caf::error&) mutable {
        // All or nothing: retry each one alone, ahead of later arrivals.
        copy.insert(copy.end(), std::make_move_iterator(pending.begin()),
                    std::make_move_iterator(pending.end()));
        pending = std::move(copy);
        singles = n;
        in_flight = false;
        flush();
      });
}

void subscription_state::dead_letter(message&& msg, const caf::error& why) {
  log::pubsub().warn("subscription {}: publication to {} refused: {}; "
                     "dead-lettered",
                     info.name, info.queue, render(why));
  msg.properties[std::string{dead_letter_reason_property}] = render(why);
  msg.properties[std::string{dead_letter_source_property}] = info.queue;
  self->send(qm, atom::dead_letter_v, std::string{}, std::move(msg));
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
