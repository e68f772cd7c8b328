// An actor that claims to live on another node, for the deterministic actor
// tests: to a local actor it looks like the proxy BASP makes for a remote
// actor (same node id, same actor id = same actor). Whatever is sent to it
// is kept in `inbox`, in order; it never runs and never ends by itself.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include <caf/actor_proxy.hpp>
#include <caf/make_actor.hpp>
#include <caf/node_id.hpp>

namespace qmesh::test {

class fake_remote_actor : public caf::actor_proxy {
public:
  using inbox_ptr = std::shared_ptr<std::vector<caf::message>>;

  fake_remote_actor(caf::actor_config& cfg, inbox_ptr inbox)
    : caf::actor_proxy(cfg), inbox_(std::move(inbox)) {
    // nop
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    inbox_->push_back(what->move_content_to_message());
  }

  void kill_proxy(caf::execution_unit*, caf::error) override {
    // nop
  }

private:
  inbox_ptr inbox_;
};

/// A node id that is not the test system's: process `pid` on a made-up
/// host.
inline caf::node_id fake_node(uint32_t pid, uint8_t host_byte = 0xAB) {
  caf::node_id::default_data::host_id_type host;
  host.fill(host_byte);
  return caf::make_node_id(pid, host);
}

/// A fake remote actor `aid` on `node`, and what it receives.
struct fake_remote {
  caf::strong_actor_ptr ptr;
  fake_remote_actor::inbox_ptr inbox;
};

inline fake_remote make_fake_remote(caf::actor_system& sys,
                                    const caf::node_id& node,
                                    caf::actor_id aid) {
  fake_remote result;
  result.inbox = std::make_shared<std::vector<caf::message>>();
  caf::actor_config cfg;
  result.ptr = caf::make_actor<fake_remote_actor, caf::strong_actor_ptr>(
    aid, node, &sys, cfg, result.inbox);
  return result;
}

/// Sends `xs` to `dest` as `from`: a request (with a request id) if
/// `request_id` is not 0, else an asynchronous message. A null `from` is
/// an anonymous sender.
template <class Dest, class... Ts>
void send_from(const caf::strong_actor_ptr& from, const Dest& dest,
               uint64_t request_id, Ts&&... xs) {
  auto mid = request_id != 0 ? caf::make_message_id(request_id)
                             : caf::make_message_id();
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(dest);
  ptr->enqueue(caf::make_mailbox_element(from, mid, {},
                                         std::forward<Ts>(xs)...),
               nullptr);
}

} // namespace qmesh::test
