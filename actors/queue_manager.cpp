#include "actors/queue_manager.hpp"

#include <algorithm>
#include <iterator>
#include <memory>

#include <caf/all.hpp>

#include "actors/lister.hpp"
#include "actors/log.hpp"
#include "core/names.hpp"
#include "actors/queue.hpp"
#include "actors/subscription.hpp"

namespace qmesh {

namespace {

bool matches_pattern(const std::string& pattern, const std::string& name) {
  if (pattern.empty() || pattern == "*")
    return true;
  if (pattern.back() == '*')
    return name.compare(0, pattern.size() - 1, pattern, 0,
                        pattern.size() - 1)
           == 0;
  return name == pattern;
}

} // namespace

caf::error queue_manager_state::bad_name(const std::string& name) {
  return reason_error(ec::object_name_error,
                      "'" + name.substr(0, 64) + "': "
                        + std::string{name_rule});
}

queue_manager_state::~queue_manager_state() {
  for (auto& [name, entry] : queues)
    caf::anon_send_exit(entry.hdl, caf::exit_reason::user_shutdown);
  for (auto& [id, entry] : subs)
    caf::anon_send_exit(entry.hdl, caf::exit_reason::user_shutdown);
}

// -- helpers ------------------------------------------------------------------

caf::actor_addr queue_manager_state::sender() const {
  return caf::actor_cast<caf::actor_addr>(self->current_sender());
}

queue_manager_state::owner_entry&
queue_manager_state::owner(const caf::actor_addr& who) {
  auto [it, added] = owners.try_emplace(who);
  if (added)
    self->monitor(who);
  return it->second;
}

uint64_t queue_manager_state::journal(store::record_kind kind,
                                      const store::record_body& body) {
  if (!cfg.journal)
    return 0;
  last_journaled = cfg.journal->append(kind, body, listener);
  return last_journaled;
}

uint64_t
queue_manager_state::journal_queue(const queue_table::value_type& queue) {
  if (queue.second.transient)
    return 0;
  return journal(store::record_kind::queue_define,
                 store::queue_record{queue.first, record_attrs(queue.second),
                                     queue.second.system});
}

template <class T>
caf::result<T> queue_manager_state::reply_durable(uint64_t seq, T value) {
  if (seq == 0 && waits.empty())
    return value;
  auto rp = self->make_response_promise<T>();
  waits.reply(seq, rp, std::move(value), [this] { return journal_failed(); });
  return rp;
}

caf::error queue_manager_state::journal_failed() const {
  return reason_error(ec::resource_problem,
                      cfg.name + ": the journal failed: "
                        + cfg.journal->refusal());
}

void queue_manager_state::on_durable(uint64_t seq, bool ok) {
  waits.reached(seq, ok);
}

queue_manager_state::queue_table::iterator
queue_manager_state::add_queue(const std::string& name, queue_attrs attrs,
                               bool system, bool transient) {
  auto it = queues.try_emplace(name).first;
  it->second = queue_entry{};
  it->second.system = system;
  it->second.transient = transient;
  set_record_attrs(it->second, std::move(attrs));
  journal_queue(*it);
  log::qm().info("{}: queue {} defined", cfg.name, name);
  if (system)
    activate(*it);
  return it;
}

queue_actor queue_manager_state::spawn_queue(const std::string& name,
                                             queue_attrs attrs, bool system,
                                             bool transient) {
  return activate(*add_queue(name, std::move(attrs), system, transient));
}

queue_actor queue_manager_state::activate(queue_table::value_type& queue) {
  auto& [name, entry] = queue;
  if (entry.hdl)
    return entry.hdl;
  queue_config qc;
  qc.name = name;
  qc.qmgr = cfg.name;
  qc.attrs = record_attrs(entry);
  qc.limits = cfg.limits;
  qc.qm = self;
  qc.put_wait_ms = cfg.put_wait_ms;
  qc.flow = cfg.flow;
  if (!entry.transient)
    qc.journal = cfg.journal;
  if (auto r = recovered_messages.find(name); r != recovered_messages.end()) {
    qc.recovered = std::make_shared<
      std::vector<std::pair<uint64_t, message>>>(std::move(r->second));
    recovered_messages.erase(r);
  }
  entry.hdl = self->spawn(queue_impl, std::move(qc));
  log::qm().debug("{}: queue {} activated", cfg.name, name);
  return entry.hdl;
}

const queue_attrs&
queue_manager_state::record_attrs(const queue_entry& entry) const {
  return entry.attrs ? *entry.attrs : cfg.queue_defaults;
}

void queue_manager_state::set_record_attrs(queue_entry& entry,
                                           queue_attrs attrs) const {
  if (attrs == cfg.queue_defaults)
    entry.attrs.reset();
  else if (entry.attrs)
    *entry.attrs = std::move(attrs);
  else
    entry.attrs = std::make_unique<queue_attrs>(std::move(attrs));
}

queue_status
queue_manager_state::record_status(const std::string& name,
                                   const queue_entry& entry) const {
  queue_status s;
  s.name = name;
  s.attrs = record_attrs(entry);
  return s;
}

caf::expected<queue_manager_state::queue_table::iterator>
queue_manager_state::lookup(const std::string& text, bool may_define) {
  auto r = route_of(text);
  if (!r)
    return std::move(r.error());
  if (r->remote())
    return reason_error(ec::options_error,
                        text + ": a queue of another queue manager cannot "
                               "be used here");
  const auto& name = r->queue;
  if (auto it = queues.find(name); it != queues.end())
    return it;
  if (!may_define || !cfg.auto_define)
    return reason_error(ec::unknown_object_name, name);
  return add_queue(name, cfg.queue_defaults, false);
}

caf::expected<queue_actor>
queue_manager_state::resolve(const std::string& text, bool may_define) {
  auto it = lookup(text, may_define);
  if (!it)
    return std::move(it.error());
  return activate(**it);
}

caf::expected<queue_manager_state::uow_entry*>
queue_manager_state::own_uow(uint64_t uow) {
  auto it = uows.find(uow);
  if (it == uows.end() || it->second.owner != sender())
    return reason_error(ec::uow_not_available,
               "no unit of work " + std::to_string(uow) + " of the caller");
  return &it->second;
}

void queue_manager_state::join(uow_entry& entry, const queue_actor& q) {
  for (const auto& p : entry.participants)
    if (p == q)
      return;
  entry.participants.push_back(q);
}

void queue_manager_state::finish_uow(uow_entry entry, uint64_t uow,
                                     bool commit, std::function<void()> done) {
  if (entry.participants.empty()) {
    done();
    return;
  }
  auto outstanding = std::make_shared<size_t>(entry.participants.size());
  auto one = [outstanding, done] {
    if (--*outstanding == 0)
      done();
  };
  for (auto& q : entry.participants) {
    auto req = commit ? self->request(q, caf::infinite, atom::commit_v, uow)
                      : self->request(q, caf::infinite, atom::backout_v, uow);
    req.then([one](atom::ok) { one(); }, [one](caf::error&) { one(); });
  }
}

void queue_manager_state::remove_subscription(uint64_t id) {
  auto it = subs.find(id);
  if (it == subs.end())
    return;
  auto& entry = it->second;
  tree.erase(entry.info.filter, id);
  sub_names.erase(entry.info.name);
  caf::anon_send_exit(entry.hdl, caf::exit_reason::user_shutdown);
  if (entry.info.durable)
    journal(store::record_kind::sub_delete,
            store::name_record{entry.info.name});
  if (entry.info.managed_queue) {
    if (auto q = queues.find(entry.info.queue); q != queues.end()) {
      if (!q->second.transient)
        journal(store::record_kind::queue_delete, store::name_record{q->first});
      caf::anon_send_exit(q->second.hdl, caf::exit_reason::user_shutdown);
      queues.erase(q);
    }
  }
  log::pubsub().info("{}: subscription {} ended", cfg.name, entry.info.name);
  subs.erase(it);
}

// -- queue administration -----------------------------------------------------

caf::result<queue_status>
queue_manager_state::define(const std::string& address,
                            const attr_map& attrs) {
  if (auto r = route_of(address); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    return ask_peer<queue_status>(*peer, 0, atom::define_v, r->remote_queue, attrs);
  }
  auto r = route_of(address);
  if (!r)
    return std::move(r.error());
  const auto& name = r->queue;
  if (queues.count(name) > 0)
    return reason_error(ec::object_already_exists, name);
  auto qa = cfg.queue_defaults;
  if (auto e = apply_attrs(qa, attrs, cfg.limits))
    return e;
  auto it = add_queue(name, qa, false); // a record until first use
  return reply_durable(last_journaled, record_status(name, it->second));
}

caf::result<queue_status> queue_manager_state::define_temporary() {
  auto who = sender();
  std::string name;
  do
    name = temporary_queue_prefix + std::to_string(next_temp++);
  while (queues.count(name) > 0);
  auto qa = cfg.queue_defaults;
  qa.description = "temporary";
  spawn_queue(name, qa, true, true);
  queues[name].owner = who;
  owner(who).temp_queues.push_back(name);
  queue_status s;
  s.name = name;
  s.attrs = std::move(qa);
  return s;
}

caf::error
queue_manager_state::check_reader(const std::string& address) const {
  auto r = route_of(address);
  if (!r)
    return {}; // resolve() gives the error
  auto it = queues.find(r->queue);
  if (it == queues.end() || !it->second.owner || it->second.owner == sender())
    return {};
  return reason_error(ec::not_authorized,
                      r->queue + " is another connection's temporary queue");
}

caf::result<queue_status>
queue_manager_state::alter(const std::string& address,
                           const attr_map& changes) {
  if (auto r = route_of(address); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    return ask_peer<queue_status>(*peer, 0, atom::alter_v, r->remote_queue, changes);
  }
  auto found = lookup(address, false);
  if (!found)
    return std::move(found.error());
  auto it = *found;
  const auto& name = it->first;
  // The catalog first (all or nothing, validated as the queue actor
  // does), then the queue.
  auto qa = record_attrs(it->second);
  if (auto e = apply_attrs(qa, changes, cfg.limits))
    return e;
  set_record_attrs(it->second, std::move(qa));
  auto seq = journal_queue(*it);
  if (!it->second.hdl)
    return reply_durable(seq, record_status(name, it->second));
  auto rp = self->make_response_promise<queue_status>();
  self->request(it->second.hdl, caf::infinite, atom::alter_v, changes)
    .then(
      [this, rp, seq](queue_status& st) mutable {
        waits.reply(seq, rp, std::move(st),
                    [this] { return journal_failed(); });
      },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<uint64_t>
queue_manager_state::delete_queue(const std::string& address, bool purge) {
  if (auto r = route_of(address); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    return ask_peer<uint64_t>(*peer, 0, atom::delete_v, r->remote_queue, purge);
  }
  auto found = lookup(address, false);
  if (!found)
    return std::move(found.error());
  auto it = *found;
  const auto name = it->first; // a copy: the entry may be erased below
  if (it->second.system)
    return reason_error(ec::not_authorized, name + " is a system queue");
  for (const auto& [id, sub] : subs)
    if (sub.info.queue == name)
      return reason_error(ec::object_in_use,
                 name + " receives subscription " + sub.info.name);
  if (!it->second.hdl) {
    // A record: never opened, consumed or put to, so nothing to check.
    auto seq = it->second.transient
                 ? 0
                 : journal(store::record_kind::queue_delete,
                           store::name_record{name});
    queues.erase(it);
    recovered_messages.erase(name);
    log::qm().info("{}: queue {} deleted", cfg.name, name);
    return reply_durable(seq, uint64_t{0});
  }
  auto rp = self->make_response_promise<uint64_t>();
  auto hdl = it->second.hdl;
  // await, not then: nothing may be routed to the queue between its reply
  // (after which it stops) and the erase below, or that request would fail
  // with a CAF system error instead of reaching a queue.
  self->request(hdl, caf::infinite, atom::delete_v, purge)
    .await(
      [this, rp, name, hdl](uint64_t purged) mutable {
        uint64_t seq = 0;
        auto i = queues.find(name);
        if (i != queues.end() && i->second.hdl == hdl) {
          if (!i->second.transient)
            seq = journal(store::record_kind::queue_delete,
                          store::name_record{name});
          queues.erase(i);
        }
        log::qm().info("{}: queue {} deleted", cfg.name, name);
        waits.after(seq, [rp, purged](bool) mutable { rp.deliver(purged); });
      },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<uint64_t>
queue_manager_state::purge(const std::string& address) {
  if (auto r = route_of(address); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    return ask_peer<uint64_t>(*peer, 0, atom::purge_v, r->remote_queue);
  }
  auto found = lookup(address, false);
  if (!found)
    return std::move(found.error());
  auto it = *found;
  if (!it->second.hdl)
    return uint64_t{0}; // a record holds no messages
  return self->delegate(it->second.hdl, atom::purge_v);
}

caf::result<std::vector<queue_status>>
queue_manager_state::list(const std::string& pattern) {
  auto id = next_listing++;
  auto& job = listings[id];
  job.pattern = pattern;
  job.rp = self->make_response_promise<std::vector<queue_status>>();
  auto rp = job.rp;
  walk_listing(id);
  return rp;
}

void queue_manager_state::walk_listing(uint64_t id) {
  auto i = listings.find(id);
  if (i == listings.end())
    return;
  auto& job = i->second;
  // Matching names are contiguous in the table: from the pattern's prefix.
  const auto& p = job.pattern;
  auto prefix = p == "*" ? std::string{}
                : !p.empty() && p.back() == '*' ? p.substr(0, p.size() - 1)
                                                 : p;
  auto pos = job.last.empty() ? queues.lower_bound(prefix)
                              : queues.upper_bound(job.last);
  auto slice = std::max(cfg.list_slice, uint32_t{1});
  auto& part = job.parts.emplace_back();
  for (uint32_t walked = 0;
       pos != queues.end() && pos->first.starts_with(prefix); ++pos) {
    if (walked++ == slice) {
      // Resume after the last name walked, behind what waits meanwhile.
      job.last = std::prev(pos)->first;
      self->send(self, atom::list_v, id);
      return;
    }
    const auto& [name, entry] = *pos;
    if (!matches_pattern(p, name))
      continue;
    if (entry.hdl) {
      job.to_ask.emplace_back(job.count, entry.hdl);
      part.emplace_back();
    } else {
      part.push_back(record_status(name, entry));
    }
    ++job.count;
  }
  // Walked: records answer now; a lister asks the actors, in slices, and
  // joins the parts.
  auto done = std::move(job);
  listings.erase(i);
  if (done.to_ask.empty() && done.parts.size() == 1) {
    done.rp.deliver(std::move(done.parts.front()));
    return;
  }
  auto lister = self->spawn(lister_impl<queue_status, queue_actor>,
                            std::move(done.parts), std::move(done.to_ask),
                            size_t{cfg.list_window});
  self->request(lister, caf::infinite, atom::list_v)
    .then(
      [rp = done.rp](std::vector<queue_status>& xs) mutable {
        rp.deliver(std::move(xs));
      },
      [rp = done.rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

caf::result<queue_status>
queue_manager_state::inquire(const std::string& address) {
  if (auto r = route_of(address); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    return ask_peer<queue_status>(*peer, 0, atom::inquire_v, r->remote_queue);
  }
  auto found = lookup(address, false);
  if (!found)
    return std::move(found.error());
  auto it = *found;
  const auto& name = it->first;
  if (!it->second.hdl)
    return record_status(name, it->second);
  return self->delegate(it->second.hdl, atom::inquire_v);
}

// -- point to point -----------------------------------------------------------

caf::result<queue_actor> queue_manager_state::open(const std::string& name,
                                                   open_mode mode) {
  // Another queue manager's queue has no handle here: the client puts and
  // gets by address (an empty handle says so).
  if (auto r = route_of(name); r && r->remote()) {
    if (mode != open_mode::output) {
      if (auto peer = peer_qm(r->qmgr); !peer)
        return std::move(peer.error());
    }
    return queue_actor{};
  }
  if (mode != open_mode::output)
    if (auto e = check_reader(name))
      return e;
  auto q = resolve(name, true);
  if (!q)
    return std::move(q.error());
  // Read the sender first: make_response_promise() moves it out of the
  // current message.
  auto who = sender();
  auto rp = self->make_response_promise<queue_actor>();
  auto hdl = *q;
  self->request(hdl, caf::infinite, atom::open_v, mode, std::move(who))
    .then([rp, hdl](atom::ok) mutable { rp.deliver(hdl); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<atom::ok> queue_manager_state::close(const std::string& name,
                                                 open_mode mode) {
  if (auto r = route_of(name); r && r->remote())
    return atom::ok_v;
  auto q = resolve(name, false);
  if (!q)
    return std::move(q.error());
  return self->delegate(*q, atom::close_v, mode, sender());
}

caf::result<msg_id> queue_manager_state::put(const std::string& address,
                                             message& msg) {
  auto r = route_of(address, true);
  if (!r)
    return std::move(r.error());
  if (r->remote()) {
    mark_for_transfer(msg, xmit_queue_property, r->remote_queue);
    return self->delegate(xmit_queue(r->qmgr), atom::put_v, std::move(msg));
  }
  auto q = resolve(r->queue, true);
  if (!q)
    return std::move(q.error());
  return self->delegate(*q, atom::put_v, std::move(msg));
}

caf::result<uint64_t>
queue_manager_state::put_batch(const std::string& address,
                               std::vector<message>& msgs) {
  auto r = route_of(address, true);
  if (!r)
    return std::move(r.error());
  if (r->remote()) {
    for (auto& msg : msgs)
      mark_for_transfer(msg, xmit_queue_property, r->remote_queue);
    return self->delegate(xmit_queue(r->qmgr), atom::put_v, std::move(msgs));
  }
  auto q = resolve(r->queue, true);
  if (!q)
    return std::move(q.error());
  return self->delegate(*q, atom::put_v, std::move(msgs));
}

caf::result<msg_id> queue_manager_state::put_in_uow(const std::string& address,
                                                    message& msg,
                                                    uint64_t uow) {
  auto entry = own_uow(uow);
  if (!entry)
    return std::move(entry.error());
  if ((*entry)->count >= cfg.max_uncommitted)
    return reason_error(ec::syncpoint_limit_reached,
               std::to_string(cfg.max_uncommitted) + " uncommitted messages");
  // A put to another queue manager's queue waits in the transmission
  // queue, uncommitted: it leaves only at commit.
  auto r = route_of(address, true);
  if (!r)
    return std::move(r.error());
  caf::expected<queue_actor> q{caf::error{}};
  if (r->remote()) {
    mark_for_transfer(msg, xmit_queue_property, r->remote_queue);
    q = xmit_queue(r->qmgr);
  } else {
    q = resolve(r->queue, true);
  }
  if (!q)
    return std::move(q.error());
  join(**entry, *q);
  ++(*entry)->count;
  auto rp = self->make_response_promise<msg_id>();
  self->request(*q, caf::infinite, atom::put_v, std::move(msg), uow)
    .then([rp](msg_id id) mutable { rp.deliver(id); },
          [this, rp, uow](caf::error& e) mutable {
            if (auto i = uows.find(uow); i != uows.end() && i->second.count > 0)
              --i->second.count;
            rp.deliver(std::move(e));
          });
  return rp;
}

caf::expected<queue_manager_state::get_target>
queue_manager_state::route_get(const std::string& name,
                               const get_options& opts) {
  get_target t;
  if (auto r = route_of(name); r && r->remote()) {
    // Units of work stay on their queue manager.
    if (opts.uow != 0)
      return reason_error(ec::options_error,
                          name + ": a get under a unit of work must name a "
                                 "queue of this queue manager");
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    t.peer = std::move(*peer);
    t.remote_queue = r->remote_queue;
    return t;
  }
  if (auto e = check_reader(name))
    return e;
  auto q = resolve(name, true);
  if (!q)
    return std::move(q.error());
  t.queue = std::move(*q);
  if (opts.uow == 0)
    return t;
  auto entry = own_uow(opts.uow);
  if (!entry)
    return std::move(entry.error());
  if ((*entry)->count >= cfg.max_uncommitted)
    return reason_error(ec::syncpoint_limit_reached,
               std::to_string(cfg.max_uncommitted) + " uncommitted messages");
  // Counted when the reply comes: the room is not reserved, so gets in
  // flight together may pass the limit by their sizes.
  t.room = cfg.max_uncommitted - (*entry)->count;
  join(**entry, t.queue);
  return t;
}

namespace {

size_t count_of(const message&) {
  return 1;
}

size_t count_of(const std::vector<message>& msgs) {
  return msgs.size();
}

} // namespace

template <class T, class... Ts>
caf::result<T> queue_manager_state::get_in_uow(const queue_actor& q,
                                              get_options& opts, Ts... more) {
  auto uow = opts.uow;
  auto rp = self->make_response_promise<T>();
  self->request(q, caf::infinite, atom::get_v, std::move(opts), more...)
    .then(
      [this, rp, uow](T& got) mutable {
        if (auto i = uows.find(uow); i != uows.end())
          i->second.count += count_of(got);
        rp.deliver(std::move(got));
      },
      [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<message> queue_manager_state::get(const std::string& name,
                                              get_options& opts) {
  auto t = route_get(name, opts);
  if (!t)
    return std::move(t.error());
  if (t->peer) {
    auto wait = opts.wait_ms == wait_unlimited ? int64_t{24} * 3600 * 1000
                                                : opts.wait_ms;
    return ask_peer<message>(*t->peer, wait, atom::get_v, t->remote_queue,
                             std::move(opts));
  }
  if (opts.uow == 0)
    return self->delegate(t->queue, atom::get_v, std::move(opts));
  return get_in_uow<message>(t->queue, opts);
}

caf::result<std::vector<message>>
queue_manager_state::get_many(const std::string& name, get_options& opts,
                              uint32_t max) {
  auto t = route_get(name, opts);
  if (!t)
    return std::move(t.error());
  if (t->peer)
    return ask_peer<std::vector<message>>(*t->peer, 0, atom::get_v,
                                          t->remote_queue, std::move(opts),
                                          max);
  if (opts.uow == 0)
    return self->delegate(t->queue, atom::get_v, std::move(opts), max);
  // At most what the unit of work still takes.
  max = static_cast<uint32_t>(std::min<uint64_t>(max, t->room));
  return get_in_uow<std::vector<message>>(t->queue, opts, max);
}

caf::result<queue_actor, uint64_t>
queue_manager_state::consume(const std::string& name, consumer_actor hdl,
                             uint32_t prefetch, ack_mode mode) {
  if (auto r = route_of(name); r && r->remote()) {
    auto peer = peer_qm(r->qmgr);
    if (!peer)
      return std::move(peer.error());
    auto rp = self->make_response_promise<queue_actor, uint64_t>();
    self
      ->request(*peer, std::chrono::milliseconds{cfg.remote_timeout_ms},
                atom::consume_v, r->remote_queue, std::move(hdl), prefetch,
                mode)
      .then([rp](queue_actor& q, uint64_t id) mutable { rp.deliver(q, id); },
            [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  }
  if (auto e = check_reader(name))
    return e;
  auto q = resolve(name, true);
  if (!q)
    return std::move(q.error());
  auto rp = self->make_response_promise<queue_actor, uint64_t>();
  auto qh = *q;
  self->request(qh, caf::infinite, atom::consume_v, std::move(hdl), prefetch,
                mode)
    .then([rp, qh](uint64_t id) mutable { rp.deliver(qh, id); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// -- units of work ------------------------------------------------------------

uint64_t queue_manager_state::begin() {
  auto who = sender();
  auto id = next_uow++;
  uows[id].owner = who;
  owner(who).uows.push_back(id);
  return id;
}

caf::result<atom::ok> queue_manager_state::end_uow(uint64_t uow, bool commit) {
  auto entry = own_uow(uow);
  if (!entry)
    return std::move(entry.error());
  auto work = std::move(**entry);
  uows.erase(uow);
  if (auto o = owners.find(work.owner); o != owners.end())
    std::erase(o->second.uows, uow);
  auto rp = self->make_response_promise<atom::ok>();
  // A commit is final once its record is on disk; the queues make the
  // unit's puts visible after that. A backout needs no wait: without a
  // commit record, recovery drops the unit anyway. A unit of work that
  // journaled nothing (no persistent message) ends without a record.
  uint64_t seq = 0;
  if (cfg.journal && cfg.journal->holds_uow(uow)) {
    seq = journal(commit ? store::record_kind::uow_commit
                         : store::record_kind::uow_backout,
                  store::uow_record{uow});
    if (!commit && seq != store::append_failed)
      seq = 0;
  }
  waits.after(seq, [this, rp, uow, commit,
                    work = std::move(work)](bool ok) mutable {
    if (!ok) {
      // Not on disk: the unit is backed out, in memory as after a crash.
      finish_uow(std::move(work), uow, false, [this, rp]() mutable {
        rp.deliver(reason_error(ec::resource_problem,
                                cfg.name + ": commit not written; backed "
                                           "out"));
      });
      return;
    }
    finish_uow(std::move(work), uow, commit,
               [rp]() mutable { rp.deliver(atom::ok_v); });
  });
  return rp;
}

// -- publish / subscribe ------------------------------------------------------

caf::result<uint64_t> queue_manager_state::publish(const std::string& topic,
                                                   message& msg, bool retain) {
  std::vector<message> one;
  one.push_back(std::move(msg));
  return publish_batch(topic, one, retain);
}

caf::result<uint64_t>
queue_manager_state::publish_batch(const std::string& topic,
                                   std::vector<message>& msgs, bool retain) {
  if (!is_valid_topic(topic))
    return reason_error(ec::topic_string_error,
               "'" + topic.substr(0, 64) + "' is not a valid topic");
  if (msgs.empty())
    return uint64_t{0};
  if (!peers.empty())
    forward_publication(topic, msgs);
  std::vector<uint64_t> ids;
  tree.match(topic, ids);
  auto publisher = sender();
  if (held_by_publisher.count(publisher) == 0 && !must_hold(ids))
    return dispatch(topic, msgs, retain, ids);
  if (cfg.put_wait_ms == 0)
    return reason_error(ec::q_full,
                        "publication on '" + topic.substr(0, 64)
                          + "' not taken: its subscribers do not keep up "
                            "(or the node is over its memory limit)");
  auto& h = held.emplace_back();
  h.id = next_held++;
  h.topic = topic;
  h.msgs = std::move(msgs);
  h.retain = retain;
  h.targets = std::move(ids);
  h.publisher = publisher;
  h.rp = self->make_response_promise<uint64_t>();
  ++held_by_publisher[publisher];
  ++held_total;
  if (cfg.put_wait_ms > 0)
    self->delayed_send(self, std::chrono::milliseconds{cfg.put_wait_ms},
                       atom::timeout_v, atom::publish_v, h.id);
  if (cfg.flow && cfg.flow->alarmed() && !resume_asked) {
    resume_asked = true;
    cfg.flow->resume_on_clear(caf::actor_cast<caf::actor>(self));
  }
  return h.rp;
}

void queue_manager_state::publish_local(const std::string& topic,
                                        std::vector<message>& msgs) {
  std::vector<uint64_t> ids;
  tree.match(topic, ids);
  if (!ids.empty())
    dispatch(topic, msgs, false, ids);
}

bool queue_manager_state::must_hold(const std::vector<uint64_t>& targets) const {
  if (targets.empty())
    return false; // nothing to copy anywhere
  if (cfg.flow && cfg.flow->alarmed())
    return true;
  for (auto id : targets)
    if (auto it = subs.find(id);
        it != subs.end() && it->second.in_flight >= cfg.subscription_window)
      return true;
  return false;
}

uint64_t queue_manager_state::dispatch(const std::string& topic,
                                       std::vector<message>& msgs,
                                       bool retain,
                                       const std::vector<uint64_t>& targets) {
  if (retain) {
    auto& last = msgs.back();
    if (last.body.empty()) {
      if (retained.erase(topic) > 0)
        journal(store::record_kind::retained,
                store::retained_record{topic, false, {}});
    } else {
      retained[topic] = last;
      if (last.is_persistent())
        journal(store::record_kind::retained,
                store::retained_record{topic, true, last});
    }
  }
  std::vector<sub_entry*> live;
  live.reserve(targets.size());
  for (auto id : targets)
    if (auto it = subs.find(id); it != subs.end())
      live.push_back(&it->second);
  for (size_t i = 0; i < live.size(); ++i) {
    live[i]->in_flight += msgs.size();
    if (i + 1 == live.size())
      self->send(live[i]->hdl, atom::publish_v, topic, std::move(msgs));
    else
      self->send(live[i]->hdl, atom::publish_v, topic, msgs);
  }
  return static_cast<uint64_t>(live.size());
}

void queue_manager_state::release_held() {
  // Bounded work per message: at most this many releases, then the rest
  // through a resume to self, so status and puts are not held up.
  constexpr size_t max_releases = 64;
  size_t released = 0;
  std::unordered_set<caf::actor_addr> waiting; // publishers still held
  for (auto i = held.begin(); i != held.end();) {
    if (cfg.flow && cfg.flow->alarmed()) {
      if (!resume_asked) {
        resume_asked = true;
        cfg.flow->resume_on_clear(caf::actor_cast<caf::actor>(self));
      }
      return;
    }
    if (released == max_releases) {
      self->send(self, atom::resume_v);
      resume_asked = true; // one resume in flight is enough
      return;
    }
    if (waiting.count(i->publisher) > 0 || must_hold(i->targets)) {
      waiting.insert(i->publisher);
      ++i;
      continue;
    }
    auto h = unhold(i);
    h.rp.deliver(dispatch(h.topic, h.msgs, h.retain, h.targets));
    ++released;
  }
}

caf::result<subscription_info>
queue_manager_state::subscribe(subscription_spec& spec) {
  if (auto why = filter_error(spec.filter); !why.empty())
    return reason_error(ec::topic_string_error, why);
  if (!spec.queue.empty()) {
    // Record the target by its queue name, so `QM1/Q` and `Q` are the same
    // queue for resume and for the in-use check of delete.
    auto r = route_of(spec.queue);
    if (!r)
      return std::move(r.error());
    spec.queue = std::move(r->queue);
    // A managed queue belongs to its subscription and ends with it.
    if (auto it = queues.find(spec.queue);
        it != queues.end() && it->second.system)
      return reason_error(ec::not_authorized,
                 spec.queue + " is a system queue; name a queue of your own");
  }
  bool durable = !spec.durable_name.empty();
  if (durable) {
    if (!is_valid_name(spec.durable_name))
      return bad_name(spec.durable_name);
    if (auto it = sub_names.find(spec.durable_name); it != sub_names.end()) {
      const auto& existing = subs[it->second].info;
      if (existing.durable && existing.filter == spec.filter
          && (spec.queue.empty() || spec.queue == existing.queue))
        return existing; // resume
      return reason_error(ec::object_already_exists,
                 "subscription " + spec.durable_name
                   + " exists with another filter or queue");
    }
  }
  // Skip ids whose generated name or managed queue name is already taken
  // (by a user queue or a durable subscription named SYSTEM.SUB.<n>).
  auto id = next_sub++;
  auto generated = [](uint64_t n) {
    return std::string{managed_queue_prefix} + std::to_string(n);
  };
  while (queues.count(generated(id)) > 0 || sub_names.count(generated(id)) > 0)
    id = next_sub++;
  subscription_info info;
  info.id = id;
  info.name = durable ? spec.durable_name
                      : std::string{managed_queue_prefix} + std::to_string(id);
  info.filter = spec.filter;
  info.durable = durable;
  queue_actor target;
  if (spec.queue.empty()) {
    info.queue = std::string{managed_queue_prefix} + std::to_string(id);
    info.managed_queue = true;
    target = spawn_queue(info.queue, cfg.queue_defaults, true, !durable);
  } else {
    auto q = resolve(spec.queue, true);
    if (!q)
      return std::move(q.error());
    info.queue = spec.queue;
    target = *q;
  }
  uint64_t seq = 0;
  if (durable)
    seq = journal(store::record_kind::sub_define, store::sub_record{info});
  start_subscription(info, target, true);
  if (!durable) {
    auto& entry = subs[id];
    entry.owner = sender();
    owner(entry.owner).subs.push_back(id);
  }
  return reply_durable(seq, info);
}

subscription_actor
queue_manager_state::start_subscription(const subscription_info& info,
                                        const queue_actor& target,
                                        bool send_retained) {
  auto hdl = self->spawn(subscription_impl, info, target, self);
  auto& entry = subs[info.id];
  entry.info = info;
  entry.hdl = hdl;
  sub_names[info.name] = info.id;
  tree.insert(info.filter, info.id);
  // Retained publications go first: they are sent before any publication
  // this actor handles later.
  for (const auto& [topic, msg] : retained)
    if (send_retained && topic_matches(info.filter, topic)) {
      ++entry.in_flight;
      self->send(hdl, atom::publish_v, topic, msg);
    }
  log::pubsub().info("{}: subscription {} on '{}' -> {}", cfg.name, info.name,
                     info.filter, info.queue);
  return hdl;
}

caf::result<atom::ok>
queue_manager_state::unsubscribe(const std::string& name) {
  auto it = sub_names.find(name);
  if (it == sub_names.end())
    return reason_error(ec::unknown_object_name,
                        "subscription " + name.substr(0, 64));
  auto id = it->second;
  if (auto& owner_addr = subs[id].owner; owner_addr) {
    if (auto o = owners.find(owner_addr); o != owners.end())
      std::erase(o->second.subs, id);
  }
  remove_subscription(id);
  return atom::ok_v;
}

caf::result<std::vector<subscription_info>>
queue_manager_state::list_subscriptions() {
  if (subs.empty())
    return std::vector<subscription_info>{};
  std::vector<std::pair<size_t, subscription_actor>> to_ask;
  to_ask.reserve(subs.size());
  for (const auto& [id, entry] : subs)
    to_ask.emplace_back(to_ask.size(), entry.hdl);
  std::vector<std::vector<subscription_info>> parts(1);
  parts.front().resize(subs.size());
  auto lister = self->spawn(lister_impl<subscription_info, subscription_actor>,
                            std::move(parts), std::move(to_ask),
                            size_t{cfg.list_window});
  return self->delegate(lister, atom::list_v);
}

// -- misc ---------------------------------------------------------------------

qm_status queue_manager_state::status() const {
  qm_status s;
  s.name = cfg.name;
  s.version = QMESH_VERSION;
  s.queue_count = queues.size();
  s.subscription_count = subs.size();
  s.open_uow_count = uows.size();
  s.retained_count = retained.size();
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  self->clock().now() - started)
                  .count();
  s.connection_count = sessions.size();
  for (auto& [addr, info] : sessions)
    ++s.connections_by_user[info.client.user];
  if (auto& f = cfg.flow) {
    s.memory_limit = f->memory_limit.load(std::memory_order_relaxed);
    s.memory_used = f->memory_used.load(std::memory_order_relaxed);
    s.memory_alarm = f->alarmed();
    s.memory_alarms_total = f->alarms_total();
    s.paused_puts = static_cast<uint64_t>(
      std::max<int64_t>(0, f->paused.load(std::memory_order_relaxed)));
  }
  s.put_wait_ms = cfg.put_wait_ms;
  s.held_publications = held.size();
  s.held_publications_total = held_total;
  if (cfg.journal_stats) {
    auto j = cfg.journal_stats();
    s.journal_bytes = j.bytes;
    s.journal_segments = j.segments;
    s.journal_records = j.records;
    s.journal_live_messages = j.live_messages;
    s.journal_fsyncs = j.fsyncs;
    s.journal_records_synced = j.records_synced;
    s.journal_recovery_ms = j.recovery_ms;
    s.disk_free = j.disk_free;
    s.disk_alarm = j.disk_alarm || j.failed;
  }
  return s;
}

void queue_manager_state::on_credit(uint64_t sub_id, uint64_t n) {
  if (auto it = subs.find(sub_id); it != subs.end())
    it->second.in_flight -= std::min(it->second.in_flight, n);
  if (!held.empty())
    release_held();
}

void queue_manager_state::cancel_waits(const std::string& address) {
  auto r = route_of(address);
  // A get waiting on another queue manager runs out its wait there; a
  // message it gets after the client went comes back (dead_letter()).
  if (!r || r->remote())
    return;
  auto it = queues.find(r->queue);
  if (it != queues.end() && it->second.hdl) // a record has no waiters
    self->send(it->second.hdl, atom::cancel_v, atom::get_v, sender());
}

queue_manager_state::held_publication
queue_manager_state::unhold(std::deque<held_publication>::iterator& i) {
  auto h = std::move(*i);
  i = held.erase(i);
  if (auto p = held_by_publisher.find(h.publisher);
      p != held_by_publisher.end() && --p->second == 0)
    held_by_publisher.erase(p);
  return h;
}

void queue_manager_state::on_held_timeout(uint64_t id) {
  auto i = std::lower_bound(held.begin(), held.end(), id,
                            [](const held_publication& h, uint64_t x) {
                              return h.id < x;
                            });
  if (i == held.end() || i->id != id)
    return; // released meanwhile
  auto h = unhold(i);
  h.rp.deliver(reason_error(
    ec::q_full, "publication on '" + h.topic.substr(0, 64) + "' held for "
                  + std::to_string(cfg.put_wait_ms)
                  + " ms: its subscribers do not keep up"));
  // Later publications of the same publisher may go now.
  release_held();
}

void queue_manager_state::on_resume() {
  resume_asked = false;
  if (!held.empty())
    release_held();
}

caf::result<atom::ok>
queue_manager_state::dead_letter(const std::string& target, message& msg,
                                 const std::string& from, uint64_t from_key) {
  // The target is an address: a message got from another queue manager's
  // queue for a client that went goes back there (descriptor kept).
  std::string name = target;
  if (auto r = target.empty() ? caf::expected<route>{caf::error{}}
                              : route_of(target)) {
    if (r->remote()) {
      mark_for_transfer(msg, xmit_queue_property, r->remote_queue);
      auto rp = self->make_response_promise<atom::ok>();
      self
        ->request(xmit_queue(r->qmgr), caf::infinite, atom::dead_letter_v,
                  std::move(msg), std::string{}, uint64_t{0})
        .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    }
    name = r->queue;
  }
  auto it = name.empty() ? queues.end() : queues.find(name);
  if (it == queues.end())
    it = queues.find(dead_letter_queue_name);
  if (it == queues.end()) // cannot happen: the DLQ is never deleted
    return reason_error(ec::unknown_object_name,
                        cfg.name + ": no dead-letter queue");
  return self->delegate(activate(*it), atom::dead_letter_v, std::move(msg),
                        from, from_key);
}

void queue_manager_state::recover(store::recovered_state& state) {
  for (auto& rq : state.queues) {
    auto it = queues.try_emplace(rq.name).first;
    it->second = queue_entry{};
    it->second.system = rq.system;
    set_record_attrs(it->second, std::move(rq.attrs));
    if (!rq.messages.empty())
      recovered_messages[rq.name] = std::move(rq.messages);
  }
  for (auto& [topic, msg] : state.retained)
    retained[topic] = std::move(msg);
  next_uow = std::max(next_uow, state.max_uow + 1);
  recovered_transfers = std::move(state.transfers);
  for (auto& info : state.subscriptions) {
    auto q = queues.find(info.queue);
    if (q == queues.end()) {
      log::pubsub().warn("{}: durable subscription {} lost its queue {}; "
                         "defined again",
                         cfg.name, info.name, info.queue);
      q = add_queue(info.queue, cfg.queue_defaults, info.managed_queue);
    }
    info.id = next_sub++;
    info.delivered_total = 0;
    // It got the retained publications when it was made.
    start_subscription(info, activate(*q), false);
  }
  // Queues with messages get their actors now: expiry runs and consumers
  // find them at once.
  for (auto& kvp : queues)
    if (kvp.second.system || recovered_messages.count(kvp.first) > 0)
      activate(kvp);
  log::qm().info("{}: recovered {} queues, {} durable subscriptions, {} "
                 "retained publications",
                 cfg.name, state.queues.size(), state.subscriptions.size(),
                 state.retained.size());
}

std::vector<connection_info> queue_manager_state::connections() const {
  std::vector<connection_info> out;
  out.reserve(sessions.size());
  for (const auto& [addr, info] : sessions)
    out.push_back(info);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

caf::result<atom::ok> queue_manager_state::disconnect(uint64_t id) {
  for (const auto& [addr, info] : sessions) {
    if (info.id != id)
      continue;
    log::qm().info("{}: closing connection {} ({} from {}) on request",
                   cfg.name, id, info.client.protocol, info.client.peer);
    auto session = caf::actor_cast<session_actor>(addr);
    if (session)
      self->send(session, atom::disconnect_v,
                 std::string{"closed by an administrator"});
    return atom::ok_v;
  }
  return caf::make_error(ec::unknown_object_name,
                         "no connection " + std::to_string(id));
}

void queue_manager_state::on_down(const caf::down_msg& dm) {
  sessions.erase(dm.source);
  auto it = owners.find(dm.source);
  if (it == owners.end())
    return;
  auto entry = std::move(it->second);
  owners.erase(it);
  for (auto id : entry.uows) {
    auto u = uows.find(id);
    if (u == uows.end())
      continue;
    auto work = std::move(u->second);
    uows.erase(u);
    finish_uow(std::move(work), id, false, [] {});
  }
  for (auto id : entry.subs)
    remove_subscription(id);
  for (auto& name : entry.temp_queues) {
    auto q = queues.find(name);
    if (q == queues.end())
      continue;
    caf::anon_send_exit(q->second.hdl, caf::exit_reason::user_shutdown);
    queues.erase(q);
    log::qm().info("{}: temporary queue {} deleted with its owner", cfg.name,
                   name);
  }
}

// -- behavior -----------------------------------------------------------------

queue_manager_actor::behavior_type
queue_manager_impl(queue_manager_actor::stateful_pointer<queue_manager_state>
                     self,
                   qm_config cfg) {
  auto& st = self->state;
  st.self = self;
  st.cfg = std::move(cfg);
  st.started = self->clock().now();
  st.listener = std::make_shared<actor_listener>(self);
  if (st.cfg.recovered) {
    st.recover(*st.cfg.recovered);
    st.cfg.recovered.reset();
  }
  if (st.queues.count(dead_letter_queue_name) == 0) {
    auto dlq_attrs = st.cfg.queue_defaults;
    dlq_attrs.max_depth = attr_limits::max_depth_cap;
    dlq_attrs.description = "undeliverable messages";
    st.spawn_queue(dead_letter_queue_name, dlq_attrs, true);
  }
  st.start_cluster();
  self->set_down_handler(
    [self](caf::down_msg& dm) { self->state.on_down(dm); });
  return {
    [self](atom::define, atom::temporary) {
      return self->state.define_temporary();
    },
    [self](atom::define, const std::string& name, const attr_map& attrs) {
      return self->state.define(name, attrs);
    },
    [self](atom::alter, const std::string& name, const attr_map& changes) {
      return self->state.alter(name, changes);
    },
    [self](atom::delete_, const std::string& name, bool purge) {
      return self->state.delete_queue(name, purge);
    },
    [self](atom::purge, const std::string& name) {
      return self->state.purge(name);
    },
    [self](atom::list, const std::string& pattern) {
      return self->state.list(pattern);
    },
    [self](atom::list, uint64_t id) { self->state.walk_listing(id); },
    [self](atom::inquire, const std::string& name) {
      return self->state.inquire(name);
    },
    [self](atom::open, const std::string& name, open_mode mode) {
      return self->state.open(name, mode);
    },
    [self](atom::close, const std::string& name, open_mode mode) {
      return self->state.close(name, mode);
    },
    [self](atom::put, const std::string& address, message& msg) {
      return self->state.put(address, msg);
    },
    [self](atom::put, const std::string& address,
           std::vector<message>& msgs) {
      return self->state.put_batch(address, msgs);
    },
    [self](atom::put, const std::string& address, message& msg,
           uint64_t uow) { return self->state.put_in_uow(address, msg, uow); },
    [self](atom::get, const std::string& name, get_options& opts) {
      return self->state.get(name, opts);
    },
    [self](atom::get, const std::string& name, get_options& opts,
           uint32_t max) { return self->state.get_many(name, opts, max); },
    [self](atom::consume, const std::string& name, consumer_actor& hdl,
           uint32_t prefetch, ack_mode mode) {
      return self->state.consume(name, std::move(hdl), prefetch, mode);
    },
    [self](atom::begin) { return self->state.begin(); },
    [self](atom::commit, uint64_t uow) {
      return self->state.end_uow(uow, true);
    },
    [self](atom::backout, uint64_t uow) {
      return self->state.end_uow(uow, false);
    },
    [self](atom::publish, const std::string& topic,
           std::vector<message>& msgs, bool retain) {
      return self->state.publish_batch(topic, msgs, retain);
    },
    [self](atom::publish, const std::string& topic, message& msg,
           bool retain) { return self->state.publish(topic, msg, retain); },
    [self](atom::subscribe, subscription_spec& spec) {
      return self->state.subscribe(spec);
    },
    [self](atom::unsubscribe, const std::string& name) {
      return self->state.unsubscribe(name);
    },
    [self](atom::list, atom::subs) {
      return self->state.list_subscriptions();
    },
    [self](atom::status) { return self->state.status(); },
    [self](atom::dead_letter, const std::string& target, message& msg,
           const std::string& from, uint64_t from_key) {
      return self->state.dead_letter(target, msg, from, from_key);
    },
    [self](atom::durable, uint64_t seq, bool ok) {
      self->state.on_durable(seq, ok);
    },
    [self](atom::credit, uint64_t sub_id, uint64_t n) {
      self->state.on_credit(sub_id, n);
    },
    [self](atom::cancel, atom::get, const std::string& name) {
      self->state.cancel_waits(name);
    },
    [self](atom::timeout, atom::publish, uint64_t id) {
      self->state.on_held_timeout(id);
    },
    [self](atom::resume) { self->state.on_resume(); },
    [self](atom::connect, const caf::actor_addr& session,
           connection_info& info) {
      if (session
          && self->state.sessions.emplace(session, std::move(info)).second)
        self->monitor(session);
    },
    [self](atom::list, atom::conns) { return self->state.connections(); },
    [self](atom::disconnect, uint64_t id) {
      return self->state.disconnect(id);
    },
    [self](atom::cluster) { return self->state.cluster_state(); },
    [self](atom::cluster, std::vector<peer_view>& view) {
      self->state.on_view(view);
    },
    [self](atom::advertise) { return self->state.advertise(); },
    [self](atom::transfer, const std::string& from,
           std::vector<message>& msgs) {
      return self->state.transfer(from, msgs);
    },
    [self](atom::channel, channel_info& info) {
      self->state.on_channel(info);
    },
  };
}

} // namespace qmesh
