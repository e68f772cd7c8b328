// The queue manager's part in the cluster: routes to other queue managers,
// transmission queues and their channels, transfers from other queue
// managers' channels, cluster-queue balancing, publications to other
// members, and `qmesh cluster`.
//
// Contracts:
//  - A put to `QM/Q` of another member lands on `SYSTEM.XMIT.QM` (marked
//    with the target and a transfer id) and is confirmed as any put there
//    is; the channel moves it (cluster/channel.hpp).
//  - A transfer from one sender is stored as one unit of work, one at a
//    time per sender, in arrival order; its transfer ids are journaled with
//    the commit (transfer_commit) and remembered, so a resent message is
//    skipped, also after a restart.
//  - Requests to another queue manager carry a timeout (remote_timeout_ms).
#include "actors/queue_manager.hpp"

#include <algorithm>
#include <random>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "core/names.hpp"

namespace qmesh {

namespace {

/// Removes a property and returns its value ("" if absent).
std::string take_property(message& msg, std::string_view key) {
  auto it = msg.properties.find(std::string{key});
  if (it == msg.properties.end())
    return {};
  auto value = std::move(it->second);
  msg.properties.erase(it);
  return value;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

// -- routes -------------------------------------------------------------------

caf::expected<queue_manager_state::route>
queue_manager_state::route_of(const std::string& text, bool balance) const {
  address addr;
  if (!parse_address(text, addr))
    return bad_name(text);
  std::string queue{addr.queue};
  if (!addr.qmgr.empty() && addr.qmgr != cfg.name) {
    std::string qmgr{addr.qmgr};
    auto xmit = std::string{transmission_queue_prefix} + qmgr;
    if (peers.count(qmgr) == 0 && queues.count(xmit) == 0)
      return reason_error(ec::unknown_remote_qmgr,
                          qmgr + ": not a member of this queue manager's "
                                 "cluster");
    return route{std::move(xmit), std::move(qmgr), std::move(queue)};
  }
  if (balance && addr.qmgr.empty() && !peers.empty()) {
    auto inst = pick_instance(queue);
    if (!inst.empty() && inst != cfg.name) {
      auto xmit = std::string{transmission_queue_prefix} + inst;
      return route{std::move(xmit), std::move(inst), std::move(queue)};
    }
  }
  return route{std::move(queue), {}, {}};
}

std::string
queue_manager_state::pick_instance(const std::string& name) const {
  // Instances: this queue manager's if its queue is a cluster queue (a
  // local queue that is not one keeps every put), and every member that
  // is up and advertises the name.
  std::vector<const std::string*> all;
  std::vector<const std::string*> consumed;
  if (auto it = queues.find(name); it != queues.end()) {
    if (!record_attrs(it->second).cluster)
      return cfg.name;
    all.push_back(&cfg.name);
    if (local_consumed.count(name) > 0)
      consumed.push_back(&cfg.name);
  }
  for (const auto& [peer_name, peer] : peers) {
    if (!peer.info.up || !contains(peer.info.queues, name))
      continue;
    all.push_back(&peer_name);
    if (contains(peer.info.consumed, name))
      consumed.push_back(&peer_name);
  }
  const auto& pool = consumed.empty() ? all : consumed;
  if (pool.empty())
    return {};
  auto& cursor = balance_cursor[name];
  return *pool[cursor++ % pool.size()];
}

caf::expected<queue_manager_actor>
queue_manager_state::peer_qm(const std::string& qmgr) const {
  auto it = peers.find(qmgr);
  if (it == peers.end())
    return reason_error(ec::unknown_remote_qmgr,
                        qmgr + ": not a member of this queue manager's "
                               "cluster");
  if (!it->second.info.up || !it->second.qm)
    return reason_error(ec::q_mgr_not_available,
                        qmgr + " is down (since "
                          + std::to_string(it->second.info.since_ms)
                          + " ms after the epoch)");
  return caf::actor_cast<queue_manager_actor>(it->second.qm);
}

// -- transmission queues and channels ----------------------------------------

queue_actor queue_manager_state::xmit_queue(const std::string& qmgr) {
  auto name = std::string{transmission_queue_prefix} + qmgr;
  auto it = queues.find(name);
  if (it == queues.end()) {
    auto attrs = cfg.queue_defaults;
    attrs.max_depth = attr_limits::max_depth_cap;
    attrs.description = "messages on their way to " + qmgr;
    it = add_queue(name, attrs, true);
  }
  auto q = activate(*it);
  start_channel(qmgr, q);
  return q;
}

void queue_manager_state::start_channel(const std::string& qmgr,
                                        const queue_actor& xmitq) {
  auto& entry = channels[qmgr];
  if (entry.hdl || !cfg.channel_factory) {
    if (entry.info.remote.empty()) {
      entry.info.remote = qmgr;
      entry.info.state = cfg.channel_factory ? "starting" : "stopped";
      entry.info.since_ms = wall_clock_ms();
    }
    return;
  }
  entry.info.remote = qmgr;
  entry.info.state = "starting";
  entry.info.since_ms = wall_clock_ms();
  entry.hdl = cfg.channel_factory(self, qmgr, xmitq);
  if (auto p = peers.find(qmgr); p != peers.end() && p->second.info.up)
    self->send(entry.hdl, atom::cluster_v, p->second.qm);
}

void queue_manager_state::mark_for_transfer(message& msg,
                                            std::string_view key,
                                            const std::string& target) {
  if (xmit_prefix.empty()) {
    std::random_device rd;
    uint64_t r = (uint64_t{rd()} << 32) ^ rd();
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(r));
    xmit_prefix = buf;
  }
  msg.properties[std::string{key}] = target;
  msg.properties[std::string{xmit_id_property}]
    = xmit_prefix + '-' + std::to_string(next_xmit++);
}

// -- transfers from other queue managers -------------------------------------

caf::result<uint64_t>
queue_manager_state::transfer(const std::string& from,
                              std::vector<message>& msgs) {
  auto& waiting = transfers[from];
  auto rp = self->make_response_promise<uint64_t>();
  waiting.push_back(pending_transfer{std::move(msgs), rp});
  if (waiting.size() == 1)
    store_transfer(from);
  return rp;
}

void queue_manager_state::store_transfer(const std::string& from) {
  auto wit = transfers.find(from);
  if (wit == transfers.end() || wit->second.empty())
    return;
  auto& window = received.try_emplace(from, store::transfer_ids_kept)
                   .first->second;
  auto msgs = std::move(wit->second.front().msgs);
  // Split the batch: puts by target queue (order kept per queue),
  // publications by topic in order, messages no queue can take.
  std::vector<std::pair<queue_actor, std::vector<message>>> puts;
  std::vector<std::pair<std::string, std::vector<message>>> pubs;
  std::vector<message> dead;
  std::vector<std::string> ids;
  std::unordered_set<std::string> batch_ids;
  auto add_put = [&puts](const queue_actor& q, message&& m) {
    for (auto& [hdl, group] : puts)
      if (hdl == q) {
        group.push_back(std::move(m));
        return;
      }
    puts.emplace_back(q, std::vector<message>{});
    puts.back().second.push_back(std::move(m));
  };
  for (auto& m : msgs) {
    auto id = take_property(m, xmit_id_property);
    if (!id.empty()) {
      if (window.seen(id) || !batch_ids.insert(id).second)
        continue; // stored before: a resend
      ids.push_back(id);
    }
    auto topic = take_property(m, xmit_topic_property);
    auto target = take_property(m, xmit_queue_property);
    if (!topic.empty()) {
      if (pubs.empty() || pubs.back().first != topic)
        pubs.emplace_back(topic, std::vector<message>{});
      pubs.back().second.push_back(std::move(m));
      continue;
    }
    caf::expected<queue_actor> q{caf::error{}};
    if (target.empty())
      q = reason_error(ec::unknown_object_name,
                       "a transferred message without a target queue");
    else if (target.find('/') != std::string::npos)
      q = reason_error(ec::object_name_error,
                       "transferred to '" + target + "', not a queue name");
    else
      q = resolve(target, true);
    if (!q) {
      m.properties[std::string{dead_letter_reason_property}] = render(
        q.error());
      m.properties[std::string{dead_letter_source_property}]
        = from + "/" + target;
      dead.push_back(std::move(m));
      continue;
    }
    add_put(*q, std::move(m));
  }
  auto uow = next_uow++;
  struct batch_state {
    uow_entry work;
    size_t outstanding = 0;
    std::vector<message> refused;
    caf::error failure;
    uint64_t stored = 0;
    std::vector<std::string> ids;
    std::vector<std::pair<std::string, std::vector<message>>> pubs;
  };
  auto st = std::make_shared<batch_state>();
  st->refused = std::move(dead);
  st->ids = std::move(ids);
  st->pubs = std::move(pubs);
  for (const auto& [q, group] : puts) {
    join(st->work, q);
    st->stored += group.size();
  }
  for (const auto& [topic, group] : st->pubs)
    st->stored += group.size();
  auto finish = [this, from, uow, st]() mutable {
    auto& front = transfers[from].front();
    auto rp = front.rp;
    auto next = [this, from] {
      auto& waiting = transfers[from];
      waiting.pop_front();
      if (waiting.empty())
        transfers.erase(from);
      else
        store_transfer(from);
    };
    if (st->failure) {
      finish_uow(std::move(st->work), uow, false,
                 [rp, err = st->failure]() mutable { rp.deliver(err); });
      next();
      return;
    }
    uint64_t seq = 0;
    if (cfg.journal && cfg.journal->holds_uow(uow))
      seq = journal(store::record_kind::transfer_commit,
                    store::transfer_record{uow, from, st->ids});
    // The next transfer of this sender waits until this one is final: a
    // resend of this batch must find its ids remembered, and commits
    // stay in order whatever their persistence.
    waits.after(seq, [this, from, uow, st, rp, next](bool ok) mutable {
      if (!ok) {
        finish_uow(std::move(st->work), uow, false, [this, rp]() mutable {
          rp.deliver(journal_failed());
        });
        next();
        return;
      }
      auto& window = received.try_emplace(from, store::transfer_ids_kept)
                       .first->second;
      for (const auto& id : st->ids)
        window.add(id);
      finish_uow(std::move(st->work), uow, true,
                 [rp, n = st->stored]() mutable { rp.deliver(n); });
      // Publications go to this node's subscriptions only (each member
      // forwards its own copies; nothing travels twice).
      for (auto& [topic, group] : st->pubs)
        publish_local(topic, group);
      next();
    });
  };
  // Refused messages (no queue, full, inhibited) go to the dead-letter
  // queue in the same unit of work.
  auto to_dead_letter = [this, uow, st, finish]() mutable {
    if (st->failure || st->refused.empty()) {
      finish();
      return;
    }
    auto dlq = resolve(dead_letter_queue_name, false);
    if (!dlq) {
      st->failure = dlq.error();
      finish();
      return;
    }
    join(st->work, *dlq);
    for (const auto& m : st->refused)
      log::qm().warn("{}: transferred message {} dead-lettered: {}",
                     cfg.name, to_string(m.id),
                     m.properties.count(
                       std::string{dead_letter_reason_property})
                       ? m.properties.at(
                         std::string{dead_letter_reason_property})
                       : std::string{});
    self
      ->request(*dlq, caf::infinite, atom::transfer_v,
                std::move(st->refused), uow, true)
      .then([st, finish](std::vector<message>&) mutable { finish(); },
            [st, finish](caf::error& e) mutable {
              st->failure = std::move(e);
              finish();
            });
  };
  if (puts.empty()) {
    to_dead_letter();
    return;
  }
  st->outstanding = puts.size();
  for (auto& [q, group] : puts) {
    self->request(q, caf::infinite, atom::transfer_v, std::move(group), uow,
                  false)
      .then(
        [st, to_dead_letter](std::vector<message>& refused) mutable {
          for (auto& m : refused) {
            --st->stored;
            st->refused.push_back(std::move(m));
          }
          if (--st->outstanding == 0)
            to_dead_letter();
        },
        [st, to_dead_letter](caf::error& e) mutable {
          if (!st->failure)
            st->failure = std::move(e);
          if (--st->outstanding == 0)
            to_dead_letter();
        });
  }
}

// -- publications to other members -------------------------------------------

void queue_manager_state::forward_publication(
  const std::string& topic, const std::vector<message>& msgs) {
  for (const auto& [name, peer] : peers) {
    bool match = false;
    for (const auto& filter : peer.info.filters)
      if (topic_matches(filter, topic)) {
        match = true;
        break;
      }
    if (!match)
      continue;
    std::vector<message> copies;
    copies.reserve(msgs.size());
    for (const auto& m : msgs) {
      copies.push_back(m);
      mark_for_transfer(copies.back(), xmit_topic_property, topic);
    }
    auto q = xmit_queue(name);
    self->request(q, caf::infinite, atom::put_v, std::move(copies))
      .then([](uint64_t) {},
            [this, name, topic](caf::error& e) {
              log::pubsub().warn("{}: publication on {} not forwarded to "
                                 "{}: {}",
                                 cfg.name, topic, name, render(e));
            });
  }
}

// -- the directory and status ------------------------------------------------

void queue_manager_state::on_view(std::vector<peer_view>& view) {
  std::map<std::string, peer_view> next;
  for (auto& p : view)
    if (p.info.name != cfg.name)
      next.emplace(p.info.name, std::move(p));
  // Tell each channel when its remote comes or goes.
  for (auto& [name, ch] : channels) {
    if (!ch.hdl)
      continue;
    auto before = peers.find(name);
    auto after = next.find(name);
    bool was_up = before != peers.end() && before->second.info.up;
    bool is_up = after != next.end() && after->second.info.up;
    if (is_up && (!was_up || before->second.qm != after->second.qm))
      self->send(ch.hdl, atom::cluster_v, after->second.qm);
    else if (!is_up && was_up)
      self->send(ch.hdl, atom::cluster_v, caf::actor{});
  }
  peers = std::move(next);
}

caf::result<advertisement> queue_manager_state::advertise() {
  auto ad = std::make_shared<advertisement>();
  std::vector<std::pair<std::string, queue_actor>> active;
  for (auto& entry : queues) {
    if (entry.second.system || !record_attrs(entry.second).cluster)
      continue;
    ad->queues.push_back(entry.first);
    if (entry.second.hdl)
      active.emplace_back(entry.first, entry.second.hdl);
  }
  std::set<std::string> filters;
  for (const auto& [id, sub] : subs)
    filters.insert(sub.info.filter);
  ad->filters.assign(filters.begin(), filters.end());
  if (active.empty()) {
    local_consumed.clear();
    advertised = *ad;
    return std::move(*ad);
  }
  // Which cluster queues have consumers: ask their actors (few; a bounded
  // wait each).
  auto rp = self->make_response_promise<advertisement>();
  auto left = std::make_shared<size_t>(active.size());
  auto done = [this, ad, rp, left]() mutable {
    if (--*left > 0)
      return;
    std::sort(ad->consumed.begin(), ad->consumed.end());
    local_consumed = {ad->consumed.begin(), ad->consumed.end()};
    advertised = *ad;
    rp.deliver(std::move(*ad));
  };
  for (auto& [name, q] : active)
    self->request(q, std::chrono::seconds{1}, atom::inquire_v)
      .then(
        [ad, done, name = name](queue_status& s) mutable {
          if (s.consumer_count > 0 || s.open_input_count > 0)
            ad->consumed.push_back(name);
          done();
        },
        [done](caf::error&) mutable { done(); });
  return rp;
}

void queue_manager_state::on_channel(channel_info& info) {
  auto& entry = channels[info.remote];
  entry.info = std::move(info);
}

caf::result<cluster_status> queue_manager_state::cluster_state() {
  auto st = std::make_shared<cluster_status>();
  st->self = cfg.name;
  st->enabled = !cfg.cluster_listen.empty();
  st->listen = cfg.cluster_listen;
  member_info me;
  me.name = cfg.name;
  me.address = cfg.cluster_listen;
  me.up = true;
  me.since_ms = started_wall_ms;
  me.queues = advertised.queues;
  me.consumed = advertised.consumed;
  me.filters = advertised.filters;
  for (const auto& [name, peer] : peers)
    st->members.push_back(peer.info);
  st->members.push_back(std::move(me));
  std::sort(st->members.begin(), st->members.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  // Backlogs: the depth of each transmission queue.
  std::vector<std::pair<size_t, queue_actor>> ask;
  for (auto& [name, ch] : channels) {
    st->channels.push_back(ch.info);
    auto q = queues.find(std::string{transmission_queue_prefix} + name);
    if (q != queues.end() && q->second.hdl)
      ask.emplace_back(st->channels.size() - 1, q->second.hdl);
  }
  if (ask.empty())
    return std::move(*st);
  auto rp = self->make_response_promise<cluster_status>();
  auto left = std::make_shared<size_t>(ask.size());
  for (auto& [index, q] : ask)
    self->request(q, std::chrono::seconds{2}, atom::inquire_v)
      .then(
        [st, rp, left, index = index](queue_status& s) mutable {
          st->channels[index].backlog = s.current_depth;
          if (--*left == 0)
            rp.deliver(std::move(*st));
        },
        [st, rp, left](caf::error&) mutable {
          if (--*left == 0)
            rp.deliver(std::move(*st));
        });
  return rp;
}

void queue_manager_state::start_cluster() {
  started_wall_ms = wall_clock_ms();
  for (const auto& [name, recovered_ids] : recovered_transfers) {
    auto& window = received.try_emplace(name, store::transfer_ids_kept)
                     .first->second;
    for (const auto& id : recovered_ids)
      window.add(id);
  }
  recovered_transfers.clear();
  // Transmission queues that survived a restart get their channels now.
  std::vector<std::string> remotes;
  auto prefix = std::string{transmission_queue_prefix};
  for (auto it = queues.lower_bound(prefix);
       it != queues.end() && it->first.starts_with(prefix); ++it)
    remotes.push_back(it->first.substr(prefix.size()));
  for (const auto& r : remotes)
    xmit_queue(r);
}

} // namespace qmesh
