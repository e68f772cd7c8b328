#include "actors/front_door.hpp"

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "actors/session.hpp"
#include "core/message.hpp"

namespace qmesh {

namespace {

using connect_result = caf::result<session_actor, qm_status>;
using connect_promise
  = caf::typed_response_promise<session_actor, qm_status>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;

/// Opens the session of an accepted client and answers `rp`.
void open_session(front_door_actor::stateful_pointer<front_door_state> self,
                  const queue_manager_actor& qm, consumer_actor client,
                  client_info who, session_access access,
                  connect_promise rp) {
  // Linked: when the front door stops (node shutdown), its sessions
  // stop too, and their clients see the connection end at once.
  auto session = self->spawn<caf::linked>(session_impl, qm, std::move(client),
                                          std::move(access));
  connection_info info;
  info.id = session.id();
  info.client = std::move(who);
  info.connected_at_ms = wall_clock_ms();
  auto user = info.client.user;
  self->send(qm, atom::connect_v, caf::actor_cast<caf::actor_addr>(session),
             std::move(info));
  self->request(qm, caf::infinite, atom::status_v)
    .then([rp, session, user](qm_status& st) mutable {
            st.user = user;
            rp.deliver(session, std::move(st));
          },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

/// A user name as given, fit for a log line: at most 64 bytes, control
/// characters replaced.
std::string printable(std::string text) {
  if (text.size() > 64)
    text.resize(64);
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return text;
}

/// A worker that checks one password off the front door's thread, after
/// `wait` (the node-wide bound for unverified hosts), and ends.
caf::behavior verifier(caf::event_based_actor* self,
                       std::shared_ptr<authenticator> auth) {
  return {
    [self, auth](verify_atom, credentials& c,
                 caf::timespan wait) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      auto check = [self, auth, c, rp]() mutable {
        rp.deliver(auth->check(c.user, c.password) != nullptr);
        self->quit();
      };
      if (wait.count() <= 0) {
        check();
        return rp;
      }
      self->delayed_send(self, wait, verify_atom::value);
      self->become([self, check](verify_atom) mutable {
        // Its own timer only: nobody else starts the check early.
        if (self->current_sender().get() == self->ctrl())
          check();
      });
      return rp;
    },
  };
}

} // namespace

front_door_actor::behavior_type
front_door_impl(front_door_actor::stateful_pointer<front_door_state> self,
                queue_manager_actor qm, std::shared_ptr<authenticator> auth) {
  // A session that ends, however it ends, concerns only its client; only an
  // exit sent to the front door itself (anon_send_exit: the node stopping)
  // stops it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source == self->address())
      self->quit(msg.reason);
  });
  auto connect = [self, qm, auth](consumer_actor& client, client_info& who,
                                  credentials& cred) -> connect_result {
    if (!client)
      return caf::make_error(ec::options_error, "no client actor");
    auto rp = self->make_response_promise<session_actor, qm_status>();
    if (auth == nullptr || !auth->enabled()) {
      who.user.clear();
      session_access access;
      access.peer = who.peer;
      open_session(self, qm, std::move(client), std::move(who),
                   std::move(access), rp);
      return rp;
    }
    auto host = authenticator::host_of(who.peer);
    // In-process front-ends (STOMP, WebSocket) give the socket's address;
    // a remote (native) client names its host itself, so its failures
    // also count node-wide.
    bool unverified = client.node() != self->node();
    auto refuse = [self, auth, rp, host, who, unverified](std::string why,
                                                           const std::string& user) mutable {
      log::qm().warn("connect from {} ({}{}) as '{}' refused: {}", who.peer,
                     who.protocol, unverified ? ", host as reported" : "",
                     printable(user), why);
      auto delay = auth->failed(host);
      if (unverified)
        auth->failed_unverified(self->clock().now());
      auto id = self->state.next_refusal++;
      self->state.refusals.emplace(id, rp);
      self->delayed_send(self, delay, atom::tick_v, id);
    };
    if (cred.user.empty()) {
      refuse("no user given", cred.user);
      return rp;
    }
    caf::timespan wait{0};
    if (unverified) {
      auto admitted = auth->admit_unverified(self->clock().now());
      if (!admitted) {
        // Unchecked, so it tells the caller nothing about the password.
        log::qm().warn("connect from {} ({}, host as reported) as '{}' "
                       "refused unchecked: too many failed logins on this "
                       "node",
                       who.peer, who.protocol, printable(cred.user));
        rp.deliver(caf::make_error(ec::not_authorized,
                                   "too many failed logins on this node; "
                                   "try again later"));
        return rp;
      }
      wait = *admitted;
    }
    auto worker = self->spawn(verifier, auth);
    self->request(worker, caf::infinite, verify_atom::value, cred, wait)
      .then(
        [self, qm, auth, client, who, host, cred, rp,
         refuse](bool ok) mutable {
          // Verified: this check hits the authenticator's cache.
          auto entry = ok ? auth->check(cred.user, cred.password) : nullptr;
          auto user = std::move(cred.user);
          cred.password.clear();
          if (entry == nullptr) {
            refuse("wrong user or password", user);
            return;
          }
          auth->succeeded(host);
          who.user = user;
          session_access access;
          access.user = std::move(entry);
          access.peer = who.peer;
          log::qm().info("user {} authenticated from {} ({})", user,
                         who.peer, who.protocol);
          open_session(self, qm, std::move(client), std::move(who),
                       std::move(access), rp);
        },
        [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  };
  return {
    [self, qm, auth](atom::connect, consumer_actor& client,
                     client_info& who) -> connect_result {
      if (!client)
        return caf::make_error(ec::options_error, "no client actor");
      who.user.clear();
      session_access access;
      access.peer = who.peer;
      access.probe_only = auth != nullptr && auth->enabled();
      auto rp = self->make_response_promise<session_actor, qm_status>();
      open_session(self, qm, std::move(client), std::move(who),
                   std::move(access), rp);
      return rp;
    },
    [connect](atom::connect, consumer_actor& client, client_info& who,
              credentials& cred) mutable -> connect_result {
      return connect(client, who, cred);
    },
    [self](atom::tick, uint64_t id) {
      auto i = self->state.refusals.find(id);
      if (i == self->state.refusals.end())
        return;
      auto rp = std::move(i->second);
      self->state.refusals.erase(i);
      rp.deliver(caf::make_error(ec::not_authorized,
                                 "wrong user or password"));
    },
  };
}

} // namespace qmesh
