#include "cluster/membership.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <nlohmann/json.hpp>

#include "actors/log.hpp"

namespace qmesh::cluster {

namespace {

using std::chrono::milliseconds;

uint64_t random_incarnation() {
  std::random_device rd;
  uint64_t x = 0;
  while (x == 0)
    x = (uint64_t{rd()} << 32) ^ rd();
  return x;
}

bool split_address(const std::string& text, std::string& host,
                   uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  unsigned p = 0;
  auto first = text.data() + colon + 1;
  auto last = text.data() + text.size();
  auto res = std::from_chars(first, last, p);
  if (res.ec != std::errc{} || res.ptr != last || p == 0 || p > 65535)
    return false;
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(p);
  return true;
}

constexpr const char* members_file = "cluster-members.json";

} // namespace

// -- lifecycle ----------------------------------------------------------------

int64_t membership_state::now_ms() const {
  return std::chrono::duration_cast<milliseconds>(
           self->clock().now().time_since_epoch())
    .count();
}

void membership_state::init(cluster_actor::pointer self_ptr,
                            membership_settings settings) {
  self = self_ptr;
  cfg = std::move(settings);
  me.name = cfg.name;
  me.address = cfg.address;
  me.incarnation = cfg.incarnation != 0 ? cfg.incarnation
                                        : random_incarnation();
  me.version = 1;
  me.up = true;
  me.since_ms = wall_clock_ms();
  load();
  log::cluster().info("membership of {} (incarnation {:016x}) on {}: {} "
                      "known members, seeds [{}]",
                      me.name, me.incarnation, me.address, members.size(),
                      fmt::join(cfg.seeds, ", "));
  push_view();
  self->send(self, atom::tick_v);
}

void membership_state::on_tick() {
  if (fatal)
    return;
  self->delayed_send(self, milliseconds{cfg.heartbeat_ms}, atom::tick_v);
  self
    ->request(cfg.qm, milliseconds{std::max<int64_t>(cfg.heartbeat_ms, 1000)},
              atom::advertise_v)
    .then(
      [this](advertisement& ad) {
        advertisement current{me.queues, me.consumed, me.filters};
        if (ad == current)
          return;
        me.queues = std::move(ad.queues);
        me.consumed = std::move(ad.consumed);
        me.filters = std::move(ad.filters);
        ++me.version;
        push_view();
      },
      [](caf::error& err) {
        log::cluster().warn("the queue manager did not advertise: {}",
                            render(err));
      });
  auto qm = caf::actor_cast<caf::actor>(cfg.qm);
  auto now = now_ms();
  bool changed = false;
  for (auto& [name, m] : members) {
    if (!m.info.up)
      continue;
    if (now - m.last_heard > cfg.timeout_ms) {
      mark_down(m, "silent for " + std::to_string(now - m.last_heard)
                     + " ms");
      changed = true;
      continue;
    }
    self->send(caf::actor_cast<cluster_actor>(m.hdl), atom::heartbeat_v, me,
               qm);
  }
  if (changed)
    push_view();
  dial_due();
}

void membership_state::leave_all() {
  for (auto& [name, m] : members)
    if (m.info.up && m.hdl)
      self->send(caf::actor_cast<cluster_actor>(m.hdl), atom::leave_v,
                 me.name, me.incarnation);
}

// -- handlers -----------------------------------------------------------------

caf::result<caf::actor, std::vector<member_info>>
membership_state::on_join(member_info& info, caf::actor& sender,
                          caf::actor& qm) {
  auto taken = [](const std::string& name, const std::string& where) {
    return reason_error(ec::cluster_resource_error,
                        "queue manager name " + name
                          + " is taken by the member at " + where);
  };
  if (!sender)
    return caf::make_error(caf::sec::invalid_argument,
                           "join without a sender");
  if (info.name == me.name) {
    log::cluster().warn("refused a join from {} ({}): the name is this "
                        "node's",
                        info.address, info.name);
    return taken(info.name, me.address);
  }
  auto accept = [this](member_info& info, caf::actor& sender,
                       caf::actor& qm) {
    auto& m = members[info.name];
    adopt(m, info);
    mark_up(m, sender, qm);
    for (auto& [name, other] : members)
      if (name != info.name && other.info.up && other.hdl)
        self->send(caf::actor_cast<cluster_actor>(other.hdl), atom::join_v,
                   m.info);
    save();
    push_view();
  };
  auto it = members.find(info.name);
  if (it == members.end() || !it->second.info.up || !it->second.hdl
      || it->second.info.incarnation == info.incarnation) {
    accept(info, sender, qm);
    return {caf::actor_cast<caf::actor>(cfg.qm), directory()};
  }
  // The name is up here with another incarnation: a restart whose old
  // process we have not seen die yet, or a second node under the same name.
  // Ask the old one.
  auto old = it->second.hdl;
  auto rp = self->make_response_promise<caf::actor,
                                        std::vector<member_info>>();
  self
    ->request(caf::actor_cast<cluster_actor>(old),
              milliseconds{cfg.probe_timeout_ms}, atom::heartbeat_v)
    .then(
      [this, rp, info, taken](member_info& alive) mutable {
        log::cluster().warn("refused a join from {} as {}: the member at {} "
                            "runs under that name",
                            info.address, info.name, alive.address);
        rp.deliver(taken(info.name, alive.address));
      },
      [this, rp, info, sender, qm, old, accept](caf::error&) mutable {
        auto i = members.find(info.name);
        if (i != members.end() && i->second.hdl == old)
          mark_down(i->second, "no answer to a probe: restarted");
        accept(info, sender, qm);
        rp.deliver(caf::actor_cast<caf::actor>(cfg.qm), directory());
      });
  return rp;
}

void membership_state::on_heartbeat(member_info& info,
                                    const caf::actor& sender,
                                    caf::actor& qm) {
  if (fatal || !sender || info.name == me.name)
    return;
  auto& m = members[info.name];
  bool changed = adopt(m, info);
  changed = mark_up(m, sender, qm) || changed;
  if (changed) {
    save();
    push_view();
  }
}

void membership_state::on_notice(member_info& info) {
  if (fatal || info.name == me.name || info.name.empty())
    return;
  auto& m = members[info.name];
  if (m.info.up)
    return;
  if (adopt(m, info)) {
    save();
    push_view();
  }
  if (!info.address.empty() && info.address != me.address) {
    auto& d = dials[info.address];
    d.next_ms = 0;
    d.backoff_ms = cfg.backoff_min_ms;
  }
  dial_due();
}

void membership_state::on_leave(const std::string& who,
                                uint64_t incarnation) {
  auto it = members.find(who);
  if (it == members.end() || it->second.info.incarnation != incarnation)
    return;
  if (it->second.info.up) {
    mark_down(it->second, "left the cluster");
    push_view();
  }
}

void membership_state::on_down(const caf::down_msg& dm) {
  // Only the current handle counts: down_msgs of replaced handles can
  // arrive late (demonitor does not remove queued ones).
  for (auto& [name, m] : members) {
    if (m.hdl && m.hdl.address() == dm.source) {
      mark_down(m, "link lost: " + caf::to_string(dm.reason));
      push_view();
      return;
    }
  }
}

// -- helpers ------------------------------------------------------------------

bool membership_state::adopt(member& m, const member_info& info) {
  if (!m.info.name.empty() && info.incarnation == m.info.incarnation
      && info.version <= m.info.version && info.address == m.info.address)
    return false;
  bool up = m.info.up;
  auto since = m.info.since_ms;
  m.info = info;
  m.info.up = up;
  m.info.since_ms = since != 0 ? since : wall_clock_ms();
  return true;
}

bool membership_state::mark_up(member& m, caf::actor hdl, caf::actor qm) {
  bool changed = false;
  if (m.hdl != hdl) {
    if (m.hdl)
      self->demonitor(m.hdl);
    self->monitor(hdl);
    m.hdl = std::move(hdl);
    changed = true;
  }
  if (m.qm != qm) {
    m.qm = std::move(qm);
    changed = true;
  }
  if (!m.info.up) {
    m.info.up = true;
    m.info.since_ms = wall_clock_ms();
    log::cluster().info("member {} up ({}, incarnation {:016x})",
                        m.info.name, m.info.address, m.info.incarnation);
    changed = true;
  }
  m.last_heard = now_ms();
  if (!m.info.address.empty()) {
    auto& d = dials[m.info.address];
    d.backoff_ms = cfg.backoff_min_ms;
    d.member = m.info.name;
  }
  return changed;
}

void membership_state::mark_down(member& m, const std::string& why) {
  if (!m.info.up)
    return;
  m.info.up = false;
  m.info.since_ms = wall_clock_ms();
  if (m.hdl)
    self->demonitor(m.hdl);
  m.hdl = nullptr;
  m.qm = nullptr;
  log::cluster().warn("member {} down ({}): {}", m.info.name,
                      m.info.address, why);
  if (!m.info.address.empty() && !fatal) {
    auto& d = dials[m.info.address];
    d.backoff_ms = cfg.backoff_min_ms;
    d.next_ms = now_ms() + cfg.backoff_min_ms;
    self->delayed_send(self, milliseconds{cfg.backoff_min_ms}, atom::tick_v,
                       atom::connect_v);
  }
}

void membership_state::dial_due() {
  if (fatal)
    return;
  std::set<std::string> targets;
  for (const auto& seed : cfg.seeds)
    targets.insert(seed);
  std::set<std::string> up_addresses;
  for (const auto& [name, m] : members) {
    if (m.info.up)
      up_addresses.insert(m.info.address);
    else if (!m.info.address.empty())
      targets.insert(m.info.address);
  }
  auto now = now_ms();
  for (const auto& address : targets) {
    if (address == me.address || up_addresses.count(address) > 0)
      continue;
    auto& d = dials[address];
    if (d.backoff_ms == 0)
      d.backoff_ms = cfg.backoff_min_ms;
    if (d.busy || now < d.next_ms)
      continue;
    if (!d.member.empty()) {
      auto it = members.find(d.member);
      if (it != members.end() && it->second.info.up)
        continue;
    }
    connect(address);
  }
}

void membership_state::connect(const std::string& address) {
  auto& d = dials[address];
  std::string host;
  uint16_t port = 0;
  if (!split_address(address, host, port)) {
    log::cluster().error("cannot dial '{}': expected HOST:PORT", address);
    d.next_ms = std::numeric_limits<int64_t>::max();
    return;
  }
  d.busy = true;
  auto timeout = milliseconds{cfg.connect_timeout_ms};
  // With mutual TLS configured (the node loaded CAF's OpenSSL module),
  // members dial each other over TLS too.
  auto& sys = self->system();
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  self->request(mm, timeout, caf::connect_atom_v, host, port)
    .then(
      [this, address, timeout](const caf::node_id& nid,
                               caf::strong_actor_ptr& ptr,
                               const std::set<std::string>&) {
        if (nid == self->node()) {
          // One of the seeds is this node under another spelling.
          auto& d = dials[address];
          d.busy = false;
          d.next_ms = std::numeric_limits<int64_t>::max();
          return;
        }
        if (!ptr) {
          dial_failed(address, caf::make_error(caf::sec::no_actor_published_at_port,
                                               address));
          return;
        }
        auto peer = caf::actor_cast<cluster_actor>(std::move(ptr));
        self
          ->request(peer, timeout, atom::join_v, me,
                    caf::actor_cast<caf::actor>(cfg.qm))
          .then(
            [this, address, peer](caf::actor& their_qm,
                                  std::vector<member_info>& dir) {
              joined(address, caf::actor_cast<caf::actor>(peer), their_qm,
                     dir);
            },
            [this, address](caf::error& err) { dial_failed(address, err); });
      },
      [this, address](caf::error& err) { dial_failed(address, err); });
}

void membership_state::joined(const std::string& address, caf::actor peer,
                              caf::actor qm,
                              std::vector<member_info>& directory) {
  auto& d = dials[address];
  d.busy = false;
  d.next_ms = 0;
  d.backoff_ms = cfg.backoff_min_ms;
  if (directory.empty() || directory.front().name == me.name) {
    dial_failed(address, caf::make_error(caf::sec::unexpected_response,
                                         "join reply without the member"));
    return;
  }
  auto& first = directory.front();
  d.member = first.name;
  auto& m = members[first.name];
  adopt(m, first);
  mark_up(m, std::move(peer), std::move(qm));
  for (size_t i = 1; i < directory.size(); ++i) {
    auto& e = directory[i];
    if (e.name == me.name || e.name.empty())
      continue;
    auto& other = members[e.name];
    if (other.info.up)
      continue;
    adopt(other, e);
    if (e.up && !e.address.empty()) {
      auto& od = dials[e.address];
      od.next_ms = 0;
      od.backoff_ms = cfg.backoff_min_ms;
    }
  }
  save();
  push_view();
  dial_due();
}

void membership_state::dial_failed(const std::string& address,
                                   const caf::error& err) {
  auto& d = dials[address];
  d.busy = false;
  if (is(err, ec::cluster_resource_error)) {
    if (!fatal) {
      fatal = true;
      auto text = "cannot join the cluster through " + address + ": "
                  + render(err);
      log::cluster().error("{}", text);
      if (cfg.on_fatal)
        cfg.on_fatal(2, text);
    }
    return;
  }
  if (d.backoff_ms == 0)
    d.backoff_ms = cfg.backoff_min_ms;
  log::cluster().debug("dialling {} failed: {} (next in {} ms)", address,
                       render(err), d.backoff_ms);
  d.next_ms = now_ms() + d.backoff_ms;
  self->delayed_send(self, milliseconds{d.backoff_ms}, atom::tick_v,
                     atom::connect_v);
  d.backoff_ms = std::min(d.backoff_ms * 2, cfg.backoff_max_ms);
}

void membership_state::push_view() {
  std::vector<peer_view> view;
  view.reserve(members.size());
  for (const auto& [name, m] : members)
    view.push_back(peer_view{m.info, m.info.up ? m.qm : caf::actor{}});
  self->send(cfg.qm, atom::cluster_v, std::move(view));
}

std::vector<member_info> membership_state::directory() const {
  std::vector<member_info> out;
  out.reserve(members.size() + 1);
  out.push_back(me);
  for (const auto& [name, m] : members)
    out.push_back(m.info);
  return out;
}

// -- the members file ------------------------------------------------------

void membership_state::save() {
  if (cfg.data_dir.empty())
    return;
  auto arr = nlohmann::json::array();
  for (const auto& [name, m] : members) {
    nlohmann::json j;
    j["name"] = m.info.name;
    j["address"] = m.info.address;
    j["incarnation"] = m.info.incarnation;
    j["version"] = m.info.version;
    j["queues"] = m.info.queues;
    j["filters"] = m.info.filters;
    arr.push_back(std::move(j));
  }
  auto text = arr.dump(2) + "\n";
  if (text == saved)
    return;
  namespace fs = std::filesystem;
  auto path = fs::path{cfg.data_dir} / members_file;
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << text;
    out.flush();
    if (!out) {
      log::cluster().error("cannot write {}", tmp.string());
      return;
    }
  }
  std::error_code err;
  fs::rename(tmp, path, err);
  if (err) {
    log::cluster().error("cannot rename {} to {}: {}", tmp.string(),
                         path.string(), err.message());
    return;
  }
  saved = std::move(text);
}

void membership_state::load() {
  if (cfg.data_dir.empty())
    return;
  auto path = std::filesystem::path{cfg.data_dir} / members_file;
  std::ifstream in{path};
  if (!in)
    return;
  try {
    auto arr = nlohmann::json::parse(in);
    auto now = wall_clock_ms();
    for (const auto& j : arr) {
      member_info info;
      info.name = j.at("name").get<std::string>();
      info.address = j.at("address").get<std::string>();
      info.incarnation = j.value("incarnation", uint64_t{0});
      info.version = j.value("version", uint64_t{0});
      info.queues = j.value("queues", std::vector<std::string>{});
      info.filters = j.value("filters", std::vector<std::string>{});
      info.up = false;
      info.since_ms = now;
      if (info.name.empty() || info.name == me.name)
        continue;
      members[info.name].info = std::move(info);
    }
  } catch (const std::exception& e) {
    log::cluster().warn("ignoring {}: {}", path.string(), e.what());
    members.clear();
    return;
  }
  save(); // remember what is on disk
}

// -- the actor -----------------------------------------------------------------

cluster_actor::behavior_type membership(membership_actor_ptr self,
                                        membership_settings settings) {
  self->state.init(self, std::move(settings));
  self->set_down_handler(
    [self](caf::down_msg& dm) { self->state.on_down(dm); });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.leave_all();
    self->quit(msg.reason);
  });
  return {
    [self](atom::join, member_info& info, caf::actor& qm)
      -> caf::result<caf::actor, std::vector<member_info>> {
      // The sender first: a response promise would take it over.
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      return self->state.on_join(info, sender, qm);
    },
    [self](atom::join, member_info& info) { self->state.on_notice(info); },
    [self](atom::heartbeat, member_info& info, caf::actor& qm) {
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      self->state.on_heartbeat(info, sender, qm);
    },
    [self](atom::heartbeat) -> member_info { return self->state.me; },
    [self](atom::leave, std::string& who, uint64_t incarnation) {
      self->state.on_leave(who, incarnation);
    },
    [self](atom::tick) { self->state.on_tick(); },
    [self](atom::tick, atom::connect) { self->state.dial_due(); },
  };
}

} // namespace qmesh::cluster
