#include "actors/session.hpp"

#include <set>

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "core/names.hpp"

namespace qmesh {

namespace {

/// Sends a request to `dest` as the session (so the session owns what it
/// creates) and relays the reply.
template <class... Rs, class Self, class Dest, class... Ts>
caf::result<Rs...> relay(Self* self, const Dest& dest, Ts&&... xs) {
  auto rp = self->template make_response_promise<Rs...>();
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then([rp](Rs&... rs) mutable { rp.deliver(std::move(rs)...); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

} // namespace

caf::error session_state::check_sender(const char* what) {
  const auto& sender = self->current_sender();
  if (sender != nullptr && sender->node() == client.node())
    return {};
  // Throttled: a hostile peer must not be able to flood the log.
  auto n = ++refused_senders;
  if (n <= 10 || (n & (n - 1)) == 0)
    log::qm().warn("session {} ({}): refused {} from {} (not the client's "
                   "node {}; {} refused so far)",
                   self->id(), who(), what,
                   sender ? caf::to_string(sender->address()) : "anonymous",
                   caf::to_string(client.node()), n);
  return caf::make_error(ec::not_authorized,
                         "session " + std::to_string(self->id())
                           + " takes requests only from its client");
}

std::string session_state::who() const {
  auto str = access.user ? "user " + access.user->name : std::string{"anonymous"};
  return str + " from " + (access.peer.empty() ? "?" : access.peer);
}

caf::result<qm_status> session_state::status() {
  auto rp = self->make_response_promise<qm_status>();
  auto user = access.user ? access.user->name : std::string{};
  self->request(qm, caf::infinite, atom::status_v)
    .then(
      [rp, user](qm_status& st) mutable {
        st.user = user;
        rp.deliver(std::move(st));
      },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::error session_state::check(permission p, const std::string& object) {
  if (access.probe_only)
    return caf::make_error(ec::not_authorized,
                           "no user: this connection did not authenticate");
  if (access.user == nullptr || own_temporaries.count(object) > 0)
    return {};
  auto key = std::make_pair(p, object);
  auto i = decisions.find(key);
  bool allowed;
  if (i != decisions.end()) {
    allowed = i->second;
  } else {
    allowed = access.user->allows(p, object);
    if (decisions.size() >= max_cached_decisions)
      decisions.clear();
    decisions.emplace(std::move(key), allowed);
  }
  if (allowed)
    return {};
  auto text = "user " + access.user->name + " may not " + std::string{
    p == permission::admin ? "administer"
    : p == permission::put ? "put to"
                           : "get from"} + " " + object.substr(0, 200);
  log::qm().warn("session {}: refused ({} permission) from {}: {}", self->id(),
                 to_string(p), access.peer, text);
  return caf::make_error(ec::not_authorized, std::move(text));
}

caf::error session_state::check_put(const std::string& address,
                                    const message& msg) {
  if (auto err = check(permission::put, address))
    return err;
  if (msg.reply_to_queue.empty())
    return {};
  auto reply_to = msg.reply_to_qmgr.empty()
                    ? msg.reply_to_queue
                    : msg.reply_to_qmgr + "/" + msg.reply_to_queue;
  return check(permission::put, reply_to);
}

caf::result<uint64_t> session_state::consume(const std::string& name,
                                             uint32_t prefetch,
                                             ack_mode mode) {
  auto rp = self->make_response_promise<uint64_t>();
  auto me = caf::actor_cast<consumer_actor>(self);
  ++pending_consumes;
  self
    ->request(qm, caf::infinite, atom::consume_v, name, me, prefetch, mode)
    .then(
      [this, rp, mode](queue_actor& q, uint64_t qcid) mutable {
        --pending_consumes;
        auto id = next_consumer_id++;
        auto key = std::make_pair(q.address(), qcid);
        // A queue on another queue manager: its going (the link broke)
        // ends the consumer, and the client hears why.
        if (q.node() != self->node())
          self->monitor(q);
        by_queue[key] = id;
        consumers[id] = consumer_link{std::move(q), qcid, mode};
        rp.deliver(id);
        if (auto i = early.find(key); i != early.end()) {
          for (auto& batch : i->second) {
            batch.consumer_id = id;
            self->send(client, atom::deliver_v, std::move(batch));
          }
          early.erase(i);
        }
      },
      [this, rp](caf::error& e) mutable {
        --pending_consumes;
        rp.deliver(std::move(e));
      });
  return rp;
}

void session_state::on_queue_gone(const caf::down_msg& dm) {
  std::vector<uint64_t> ended;
  for (auto& [id, link] : consumers)
    if (link.queue.address() == dm.source)
      ended.push_back(id);
  for (auto id : ended) {
    auto& link = consumers[id];
    by_queue.erase(std::make_pair(link.queue.address(),
                                  link.queue_consumer_id));
    consumers.erase(id);
    delivery_batch note;
    note.consumer_id = id;
    note.ended = render(reason_error(
      ec::connection_broken,
      "the queue of consumer " + std::to_string(id)
        + " is on another queue manager and went away ("
        + caf::to_string(dm.reason) + ")"));
    log::qm().warn("session {}: {}", self->id(), note.ended);
    self->send(client, atom::deliver_v, std::move(note));
  }
}

void session_state::deliver(delivery_batch& batch) {
  auto src = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto key = std::make_pair(src, batch.consumer_id);
  auto it = by_queue.find(key);
  if (it == by_queue.end()) {
    // Only a delivery that overtook the reply to a consume request may come
    // from a queue the session does not know yet; any other is not from a
    // queue of this session's consumers.
    if (pending_consumes == 0) {
      auto n = ++refused_senders;
      if (n <= 10 || (n & (n - 1)) == 0)
        log::qm().warn("session {} ({}): dropped a delivery from {}, not a "
                       "queue of its consumers ({} refused so far)",
                       self->id(), who(), caf::to_string(src), n);
      return;
    }
    early[key].push_back(std::move(batch));
    return;
  }
  if (leaving) {
    // The client is gone: automatic-ack deliveries go back to their queue
    // (client-ack ones return when the consumer ends).
    if (auto l = consumers.find(it->second);
        l != consumers.end() && l->second.mode == ack_mode::automatic)
      for (auto& msg : batch.messages) {
        msg.tag = 0;
        caf::anon_send(l->second.queue, atom::dead_letter_v, std::move(msg),
                       std::string{}, uint64_t{0});
      }
    return;
  }
  batch.consumer_id = it->second;
  self->send(client, atom::deliver_v, std::move(batch));
}

uint64_t session_state::track_get(const std::string& address,
                                  const get_options& opts) {
  pending_get g;
  // The address, so that a message got for a client that went returns to
  // its queue, also on another queue manager.
  if (struct address a; parse_address(address, a))
    g.queue = address;
  g.destructive = opts.uow == 0
                  && opts.browse == static_cast<uint8_t>(browse_mode::none);
  auto token = next_get++;
  gets.emplace(token, std::move(g));
  return token;
}

bool session_state::hand_out(const pending_get& g, message& msg) {
  if (!leaving || !g.destructive || g.queue.empty())
    return true;
  log::qm().info("session {}: client gone; message {} returned to {}",
                 self->id(), to_string(msg.id), g.queue);
  msg.tag = 0;
  caf::anon_send(qm, atom::dead_letter_v, g.queue, std::move(msg),
                 std::string{}, uint64_t{0});
  return false;
}

bool session_state::hand_out(const pending_get& g,
                             std::vector<message>& msgs) {
  bool kept = true;
  for (auto& msg : msgs)
    kept = hand_out(g, msg) && kept;
  return kept;
}

template <class T, class... Ts>
caf::result<T> session_state::relay_get(const std::string& address,
                                        get_options& opts, Ts... more) {
  auto rp = self->make_response_promise<T>();
  auto token = track_get(address, opts);
  self
    ->request(qm, caf::infinite, atom::get_v, address, std::move(opts),
              more...)
    .then(
      [this, rp, token](T& got) mutable {
        auto g = std::move(gets[token]);
        gets.erase(token);
        if (hand_out(g, got))
          rp.deliver(std::move(got));
        else if (exit_reason) // closed by an administrator: the client is told
          rp.deliver(exit_reason);
        maybe_quit();
      },
      [this, rp, token](caf::error& e) mutable {
        gets.erase(token);
        rp.deliver(exit_reason ? exit_reason : std::move(e));
        maybe_quit();
      });
  return rp;
}

caf::result<message> session_state::get(const std::string& address,
                                        get_options& opts) {
  return relay_get<message>(address, opts);
}

caf::result<std::vector<message>>
session_state::get_many(const std::string& address, get_options& opts,
                        uint32_t max) {
  return relay_get<std::vector<message>>(address, opts, max);
}

void session_state::on_client_gone() {
  leaving = true;
  if (!gets.empty())
    for (auto& [id, link] : consumers)
      self->request(link.queue, caf::infinite, atom::cancel_v,
                    link.queue_consumer_id)
        .then([](atom::ok) {}, [](caf::error&) {});
  std::set<std::string> names;
  for (auto& [token, g] : gets)
    if (!g.queue.empty())
      names.insert(g.queue);
  for (auto& name : names)
    self->send(qm, atom::cancel_v, atom::get_v, name);
  // Gets under a unit of work end with its backout once the session is
  // gone; do not wait for them longer than a moment.
  if (!gets.empty())
    self->delayed_send(self, std::chrono::seconds{2}, atom::close_v);
  maybe_quit();
}

void session_state::maybe_quit() {
  if (leaving && gets.empty())
    self->quit(exit_reason);
}

caf::expected<session_state::consumer_link>
session_state::link(uint64_t id) const {
  auto it = consumers.find(id);
  if (it == consumers.end())
    return caf::make_error(ec::hobj_error,
                           "no consumer " + std::to_string(id));
  return it->second;
}

caf::result<atom::ok> session_state::cancel(uint64_t id) {
  auto it = consumers.find(id);
  if (it == consumers.end())
    return caf::make_error(ec::hobj_error,
                           "no consumer " + std::to_string(id));
  auto link = it->second;
  consumers.erase(it);
  auto rp = self->make_response_promise<atom::ok>();
  self->request(link.queue, caf::infinite, atom::cancel_v, link.queue_consumer_id)
    .then(
      [this, rp, link](atom::ok) mutable {
        by_queue.erase({link.queue.address(), link.queue_consumer_id});
        rp.deliver(atom::ok_v);
      },
      [this, rp, link](caf::error& e) mutable {
        by_queue.erase({link.queue.address(), link.queue_consumer_id});
        rp.deliver(std::move(e));
      });
  return rp;
}

session_actor::behavior_type
session_impl(session_actor::stateful_pointer<session_state> self,
             queue_manager_actor qm, consumer_actor client,
             session_access access) {
  auto& st = self->state;
  st.self = self;
  st.access = std::move(access);
  st.qm = std::move(qm);
  st.client = std::move(client);
  self->monitor(st.client);
  // Every end is logged with user and address: an in-process front-end's
  // session usually ends as unreachable (its connection actor, the last
  // holder of its handle, went) before its down handler runs.
  self->attach_functor([id = self->id(), who = st.who()](const caf::error& r) {
    if (r)
      log::qm().info("session {} ({}): ended ({})", id, who,
                     caf::to_string(r));
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.client.address()) {
      log::qm().info("session {} ({}): client left ({})", self->id(),
                     self->state.who(),
                     caf::to_string(dm.reason));
      self->state.on_client_gone();
      return;
    }
    self->state.on_queue_gone(dm);
  });
  log::qm().info("session {} ({}): client connected from node {}",
                 self->id(), st.who(),
                 caf::to_string(st.client.node()));
  auto qm_hdl = st.qm;
  return {
    // -- administration: no ownership, replies go straight to the client --
    [self, qm_hdl](atom::define, std::string& name,
                   attr_map& attrs) -> caf::result<queue_status> {
      if (auto err = self->state.check_sender("define"))
        return err;
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return self->delegate(qm_hdl, atom::define_v, std::move(name),
                            std::move(attrs));
    },
    // Relayed: the session owns its temporary queues.
    [self, qm_hdl](atom::define,
                   atom::temporary) -> caf::result<queue_status> {
      if (auto err = self->state.check_sender("define"))
        return err;
      if (self->state.access.probe_only)
        return self->state.check(permission::put, "temporary queue");
      auto rp = self->make_response_promise<queue_status>();
      self->request(qm_hdl, caf::infinite, atom::define_v, atom::temporary_v)
        .then(
          [self, rp](queue_status& qs) mutable {
            self->state.own_temporaries.insert(qs.name);
            rp.deliver(std::move(qs));
          },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [self, qm_hdl](atom::alter, std::string& name,
                   attr_map& attrs) -> caf::result<queue_status> {
      if (auto err = self->state.check_sender("alter"))
        return err;
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return self->delegate(qm_hdl, atom::alter_v, std::move(name),
                            std::move(attrs));
    },
    [self, qm_hdl](atom::delete_, std::string& name,
                   bool purge) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("delete"))
        return err;
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return self->delegate(qm_hdl, atom::delete_v, std::move(name), purge);
    },
    [self, qm_hdl](atom::purge, std::string& name) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("purge"))
        return err;
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return self->delegate(qm_hdl, atom::purge_v, std::move(name));
    },
    [self, qm_hdl](atom::list, std::string& pattern)
      -> caf::result<std::vector<queue_status>> {
      if (auto err = self->state.check_sender("list"))
        return err;
      if (auto err = self->state.check(permission::admin,
                                       pattern.empty() ? "*" : pattern))
        return err;
      return self->delegate(qm_hdl, atom::list_v, std::move(pattern));
    },
    [self, qm_hdl](atom::inquire, std::string& name)
      -> caf::result<queue_status> {
      if (auto err = self->state.check_sender("inquire"))
        return err;
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return self->delegate(qm_hdl, atom::inquire_v, std::move(name));
    },
    [self](atom::status) -> caf::result<qm_status> {
      if (auto err = self->state.check_sender("status"))
        return err;
      return self->state.status();
    },
    [self, qm_hdl](atom::cluster) -> caf::result<cluster_status> {
      if (auto err = self->state.check_sender("cluster"))
        return err;
      return self->delegate(qm_hdl, atom::cluster_v);
    },
    // -- point to point --
    [self, qm_hdl](atom::open, std::string& name,
                   open_mode mode) -> caf::result<queue_actor> {
      if (auto err = self->state.check_sender("open"))
        return err;
      auto p = mode == open_mode::output ? permission::put : permission::get;
      if (auto err = self->state.check(p, name))
        return err;
      return relay<queue_actor>(self, qm_hdl, atom::open_v, std::move(name),
                                mode);
    },
    [self, qm_hdl](atom::close, std::string& name,
                   open_mode mode) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("close"))
        return err;
      return relay<atom::ok>(self, qm_hdl, atom::close_v, std::move(name),
                             mode);
    },
    [self, qm_hdl](atom::put, std::string& address,
                   message& msg) -> caf::result<msg_id> {
      if (auto err = self->state.check_sender("put"))
        return err;
      if (auto err = self->state.check_put(address, msg))
        return err;
      return self->delegate(qm_hdl, atom::put_v, std::move(address),
                            std::move(msg));
    },
    [self, qm_hdl](atom::put, std::string& address, message& msg,
                   uint64_t uow) -> caf::result<msg_id> {
      if (auto err = self->state.check_sender("put"))
        return err;
      if (auto err = self->state.check_put(address, msg))
        return err;
      return relay<msg_id>(self, qm_hdl, atom::put_v, std::move(address),
                           std::move(msg), uow);
    },
    [self, qm_hdl](atom::put, std::string& address,
                   std::vector<message>& msgs) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("put"))
        return err;
      for (auto& msg : msgs)
        if (auto err = self->state.check_put(address, msg))
          return err;
      return self->delegate(qm_hdl, atom::put_v, std::move(address),
                            std::move(msgs));
    },
    [self](atom::get, const std::string& name,
           get_options& opts) -> caf::result<message> {
      if (auto err = self->state.check_sender("get"))
        return err;
      if (auto err = self->state.check(permission::get, name))
        return err;
      return self->state.get(name, opts);
    },
    [self](atom::get, const std::string& name, get_options& opts,
           uint32_t max) -> caf::result<std::vector<message>> {
      if (auto err = self->state.check_sender("get"))
        return err;
      if (auto err = self->state.check(permission::get, name))
        return err;
      return self->state.get_many(name, opts, max);
    },
    [self](atom::consume, std::string& name, uint32_t prefetch,
           ack_mode mode) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("consume"))
        return err;
      if (auto err = self->state.check(permission::get, name))
        return err;
      return self->state.consume(name, prefetch, mode);
    },
    [self](atom::credit, uint64_t id, uint32_t n) {
      if (!self->state.sender_ok("credit"))
        return;
      if (auto l = self->state.link(id))
        self->send(l->queue, atom::credit_v, l->queue_consumer_id, n);
    },
    [self](atom::ack, uint64_t id, uint64_t first,
           uint64_t last) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("ack"))
        return err;
      auto l = self->state.link(id);
      if (!l)
        return std::move(l.error());
      return self->delegate(l->queue, atom::ack_v, l->queue_consumer_id,
                            first, last);
    },
    [self](atom::nack, uint64_t id, uint64_t first, uint64_t last,
           bool requeue) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("nack"))
        return err;
      auto l = self->state.link(id);
      if (!l)
        return std::move(l.error());
      return self->delegate(l->queue, atom::nack_v, l->queue_consumer_id,
                            first, last, requeue);
    },
    [self](atom::cancel, uint64_t id) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("cancel"))
        return err;
      return self->state.cancel(id);
    },
    // -- units of work: owned by the session --
    [self, qm_hdl](atom::begin) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("begin"))
        return err;
      if (self->state.access.probe_only)
        return self->state.check(permission::put, "unit of work");
      return relay<uint64_t>(self, qm_hdl, atom::begin_v);
    },
    [self, qm_hdl](atom::commit, uint64_t uow) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("commit"))
        return err;
      return relay<atom::ok>(self, qm_hdl, atom::commit_v, uow);
    },
    [self, qm_hdl](atom::backout, uint64_t uow) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("backout"))
        return err;
      return relay<atom::ok>(self, qm_hdl, atom::backout_v, uow);
    },
    // -- publish / subscribe --
    [self, qm_hdl](atom::publish, std::string& topic, message& msg,
                   bool retain) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("publish"))
        return err;
      if (auto err = self->state.check(permission::put, topic))
        return err;
      return self->delegate(qm_hdl, atom::publish_v, std::move(topic),
                            std::move(msg), retain);
    },
    [self, qm_hdl](atom::publish, std::string& topic,
                   std::vector<message>& msgs,
                   bool retain) -> caf::result<uint64_t> {
      if (auto err = self->state.check_sender("publish"))
        return err;
      if (auto err = self->state.check(permission::put, topic))
        return err;
      return self->delegate(qm_hdl, atom::publish_v, std::move(topic),
                            std::move(msgs), retain);
    },
    [self, qm_hdl](atom::subscribe,
                   subscription_spec& spec) -> caf::result<subscription_info> {
      if (auto err = self->state.check_sender("subscribe"))
        return err;
      if (auto err = self->state.check(permission::get, spec.filter))
        return err;
      if (!spec.queue.empty())
        if (auto err = self->state.check(permission::get, spec.queue))
          return err;
      auto rp = self->make_response_promise<subscription_info>();
      self->request(qm_hdl, caf::infinite, atom::subscribe_v, std::move(spec))
        .then(
          [self, rp](subscription_info& info) mutable {
            // The subscription's own queue is the subscriber's to consume.
            if (info.managed_queue)
              self->state.own_temporaries.insert(info.queue);
            self->state.own_temporaries.insert(info.name);
            rp.deliver(std::move(info));
          },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [self, qm_hdl](atom::unsubscribe,
                   std::string& name) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("unsubscribe"))
        return err;
      // Subscriptions this session made (or resumed) are its own; others
      // need admin on their name.
      if (auto err = self->state.check(permission::admin, name))
        return err;
      return relay<atom::ok>(self, qm_hdl, atom::unsubscribe_v,
                             std::move(name));
    },
    [self, qm_hdl](atom::list, atom::subs)
      -> caf::result<std::vector<subscription_info>> {
      if (auto err = self->state.check_sender("list"))
        return err;
      if (auto err = self->state.check(permission::admin, "*"))
        return err;
      return self->delegate(qm_hdl, atom::list_v, atom::subs_v);
    },
    // -- internal --
    [self](atom::deliver, delivery_batch& batch) {
      self->state.deliver(batch);
    },
    [self, qm_hdl](atom::list, atom::conns)
      -> caf::result<std::vector<connection_info>> {
      if (auto err = self->state.check_sender("list"))
        return err;
      if (auto err = self->state.check(permission::admin, "*"))
        return err;
      return self->delegate(qm_hdl, atom::list_v, atom::conns_v);
    },
    [self, qm_hdl](atom::disconnect, uint64_t id) -> caf::result<atom::ok> {
      if (auto err = self->state.check_sender("disconnect"))
        return err;
      if (auto err = self->state.check(permission::admin, "*"))
        return err;
      return self->delegate(qm_hdl, atom::disconnect_v, id);
    },
    [self](atom::disconnect, std::string& why) {
      // From the client (a front-end ending it) or the queue manager (an
      // administrator's disconnect, a reload).
      if (caf::actor_cast<caf::actor_addr>(self->current_sender())
            != self->state.qm.address()
          && !self->state.sender_ok("disconnect"))
        return;
      if (self->state.leaving)
        return;
      log::qm().info("session {} ({}): {}", self->id(), self->state.who(),
                     why);
      self->state.exit_reason = caf::make_error(ec::connection_broken,
                                                std::move(why));
      self->state.on_client_gone();
    },
    [self](atom::close) {
      // The session's own timer only.
      if (self->current_sender().get() != self->ctrl())
        return;
      self->quit(self->state.exit_reason);
    },
  };
}

} // namespace qmesh
