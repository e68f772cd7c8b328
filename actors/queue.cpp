#include "actors/queue.hpp"

#include <chrono>
#include <limits>

#include <caf/all.hpp>

#include "actors/log.hpp"

namespace qmesh {

namespace {

/// Largest total of descriptor strings (ids, reply-to, properties, ...).
constexpr size_t max_descriptor_bytes = 64 * 1024;

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

size_t descriptor_bytes(const message& msg) {
  size_t n = msg.correl_id.size() + msg.reply_to_queue.size()
             + msg.reply_to_qmgr.size() + msg.content_type.size()
             + msg.origin_qmgr.size();
  for (const auto& [k, v] : msg.properties)
    n += k.size() + v.size();
  return n;
}

} // namespace

// -- helpers ------------------------------------------------------------------

int64_t queue_state::now() const {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(self->clock().now().time_since_epoch())
    .count();
}

caf::error queue_state::check_put(const message& msg) const {
  const auto& a = cfg.attrs;
  if (a.put_inhibited)
    return reason_error(ec::put_inhibited, cfg.name);
  if (msg.body.size() > a.max_msg_length)
    return reason_error(ec::msg_too_big_for_q,
               cfg.name + ": body of " + std::to_string(msg.body.size())
                 + " bytes exceeds max_msg_length "
                 + std::to_string(a.max_msg_length));
  if (descriptor_bytes(msg) > max_descriptor_bytes)
    return reason_error(ec::msg_too_big_for_q,
               cfg.name + ": descriptor exceeds "
                 + std::to_string(max_descriptor_bytes) + " bytes");
  if (msg.priority != priority_as_queue
      && (msg.priority < 0 || msg.priority > 9))
    return reason_error(ec::priority_error,
               "priority " + std::to_string(msg.priority) + " not in 0..9");
  if (msg.expiry < 0)
    return reason_error(ec::expiry_error, "expiry must be >= 0 ms");
  if (msg.put_wait_ms < put_wait_default)
    return reason_error(ec::options_error,
                        "put wait must be >= 0 ms or unlimited");
  return {};
}

caf::error queue_state::full_error(size_t n) {
  ++rejected_total;
  if (alarmed())
    return reason_error(ec::q_full, cfg.name
                                      + ": the node is over its memory limit");
  return reason_error(ec::q_full, cfg.name + ": max_depth "
                                    + std::to_string(cfg.attrs.max_depth)
                                    + " reached"
                                    + (n > 1 ? " (batch of " + std::to_string(n)
                                                 + ")"
                                             : std::string{}));
}

bool queue_state::has_room(size_t n) const noexcept {
  if (alarmed())
    return false;
  auto d = depth();
  return d + n <= cfg.attrs.max_depth || d == 0;
}

bool queue_state::admits(size_t n) const noexcept {
  switch (cfg.attrs.overflow) {
    case overflow_policy::reject:
      return !alarmed() && depth() + n <= cfg.attrs.max_depth;
    case overflow_policy::drop_oldest:
      return blocked.empty() && !alarmed();
    default:
      return blocked.empty() && has_room(n);
  }
}

void queue_state::trim() {
  if (cfg.attrs.overflow != overflow_policy::drop_oldest)
    return;
  auto t = now();
  while (depth() > cfg.attrs.max_depth && !store.empty()) {
    if (store.take(match_spec{}, t, expired_total))
      ++dropped_total;
  }
}

int64_t queue_state::put_wait(const message& msg) const noexcept {
  return msg.put_wait_ms == put_wait_default ? cfg.put_wait_ms
                                             : msg.put_wait_ms;
}

queue_state::blocked_put&
queue_state::block(blocked_put::kind_t kind, std::vector<message> msgs,
                   int64_t wait_ms) {
  auto& b = blocked.emplace_back();
  b.kind = kind;
  b.id = next_blocked_id++;
  b.msgs = std::move(msgs);
  b.since = now();
  ++blocked_total;
  if (cfg.flow && kind != blocked_put::publication)
    cfg.flow->paused.fetch_add(1, std::memory_order_relaxed);
  if (wait_ms > 0)
    self->delayed_send(self, std::chrono::milliseconds{wait_ms},
                       atom::timeout_v, atom::put_v, b.id);
  if (alarmed())
    ask_resume();
  return b;
}

void queue_state::unblocked(const blocked_put& b) {
  blocked_ns_total += std::max<int64_t>(0, now() - b.since);
  if (cfg.flow && b.kind != blocked_put::publication)
    cfg.flow->paused.fetch_sub(1, std::memory_order_relaxed);
}

void queue_state::fail_blocked(blocked_put& b, const caf::error& err) {
  unblocked(b);
  if (b.kind == blocked_put::single || b.kind == blocked_put::in_uow)
    b.rp_id.deliver(err);
  else
    b.rp_count.deliver(err);
}

void queue_state::ask_resume() {
  if (resume_asked || !cfg.flow)
    return;
  resume_asked = true;
  cfg.flow->resume_on_clear(caf::actor_cast<caf::actor>(self));
}

msg_id queue_state::accept(message&& msg, int64_t put_time) {
  stamp(msg, put_time);
  auto id = msg.id;
  auto exp = expires_at(msg);
  enqueue(std::move(msg), exp);
  return id;
}

uint64_t queue_state::accept_publications(std::vector<message>& msgs) {
  auto put_time = wall_ms();
  uint64_t taken = 0;
  for (auto& msg : msgs) {
    auto err = check_put(msg);
    if (!err && cfg.attrs.overflow == overflow_policy::reject
        && depth() >= cfg.attrs.max_depth)
      err = full_error(1);
    if (err) {
      log::pubsub().warn("{}: publication refused: {}; dead-lettered",
                         cfg.name, render(err));
      dead_letter(std::move(msg), {}, render(err));
      continue;
    }
    accept(std::move(msg), put_time);
    ++taken;
  }
  return taken;
}

bool queue_state::admit_blocked() {
  bool any = false;
  while (!blocked.empty()) {
    if (alarmed()) {
      ask_resume();
      break;
    }
    auto n = blocked.front().msgs.size();
    if (cfg.attrs.overflow != overflow_policy::drop_oldest && !has_room(n))
      break;
    auto b = std::move(blocked.front());
    blocked.pop_front();
    any = true;
    // Attributes may have changed while it waited (publications are
    // checked one by one when taken).
    caf::error err;
    if (b.kind != blocked_put::publication)
      for (const auto& msg : b.msgs)
        if ((err = check_put(msg)))
          break;
    if (err) {
      fail_blocked(b, err);
      continue;
    }
    unblocked(b);
    auto put_time = wall_ms();
    switch (b.kind) {
      case blocked_put::single:
        b.rp_id.deliver(accept(std::move(b.msgs.front()), put_time));
        break;
      case blocked_put::batch:
        for (auto& msg : b.msgs)
          accept(std::move(msg), put_time);
        b.rp_count.deliver(static_cast<uint64_t>(n));
        break;
      case blocked_put::in_uow:
        b.rp_id.deliver(hold_in_uow(std::move(b.msgs.front()), b.uow));
        break;
      case blocked_put::publication:
        b.rp_count.deliver(accept_publications(b.msgs));
        break;
    }
    trim();
  }
  return any;
}

void queue_state::watch(const caf::actor_addr& who) {
  if (who && watched.insert(who).second)
    self->monitor(who);
}

void queue_state::stamp(message& msg, int64_t put_time) const {
  if (msg.priority == priority_as_queue)
    msg.priority = cfg.attrs.default_priority;
  if (msg.persistent < 0)
    msg.persistent = cfg.attrs.default_persistence ? 1 : 0;
  if (msg.id.empty())
    msg.id = msg_id::next();
  msg.put_time = put_time;
  msg.origin_qmgr = cfg.qmgr;
  msg.delivery_count = 0;
  msg.tag = 0;
}

int64_t queue_state::expires_at(const message& msg) const noexcept {
  if (msg.expiry <= 0)
    return 0;
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  auto t = now();
  if (msg.expiry > (max - t) / 1'000'000)
    return 0; // beyond the clock's range: never
  return t + msg.expiry * 1'000'000;
}

void queue_state::schedule_sweep(int64_t at) {
  if (at == 0 || (sweep_at != 0 && sweep_at <= at))
    return;
  sweep_at = at;
  auto delay = std::chrono::nanoseconds{std::max<int64_t>(at - now(), 0)};
  self->delayed_send(self, delay, atom::sweep_v);
}

void queue_state::enqueue(message&& msg, int64_t exp) {
  store.push(std::move(msg), exp);
  ++enqueued_total;
  schedule_sweep(exp);
}

std::optional<message> queue_state::try_get(const get_options& opts) {
  match_spec spec{opts.match_msg_id, opts.match_correl_id};
  auto t = now();
  if (opts.browse != static_cast<uint8_t>(browse_mode::none)) {
    auto cursor = opts.browse == static_cast<uint8_t>(browse_mode::next)
                    ? opts.browse_cursor
                    : 0;
    return store.browse(spec, cursor, t);
  }
  auto entry = store.take(spec, t, expired_total);
  if (!entry)
    return std::nullopt;
  if (opts.uow != 0) {
    auto copy = entry->msg;
    uows[opts.uow].gets.push_back(std::move(*entry));
    ++uncommitted_total;
    return copy;
  }
  ++dequeued_total;
  return std::move(entry->msg);
}

void queue_state::serve() {
  if (!waiters.empty())
    serve_waiters();
  if (!consumers.empty())
    dispatch();
  // Deliveries made room: take blocked puts, then serve them. Bounded:
  // each round admits at least one blocked put or stops.
  while (!blocked.empty() && admit_blocked()) {
    if (!waiters.empty())
      serve_waiters();
    if (!consumers.empty())
      dispatch();
  }
}

void queue_state::serve_waiters() {
  for (auto i = waiters.begin(); i != waiters.end() && !store.empty();) {
    if (auto msg = try_get(i->second.opts)) {
      i->second.rp.deliver(std::move(*msg));
      i = waiters.erase(i);
    } else {
      ++i;
    }
  }
}

void queue_state::dispatch() {
  // Round robin over consumers with an open window; each gets a fair share
  // of the ready messages per round, all of it in one delivery_batch.
  std::map<uint64_t, delivery_batch> batches;
  auto t = now();
  while (!store.empty()) {
    size_t active = 0;
    for (auto& kvp : consumers)
      if (kvp.second.window() > 0)
        ++active;
    if (active == 0)
      break;
    size_t share = std::max<size_t>(1, store.size() / active);
    // Start after the consumer served last.
    auto start = consumers.upper_bound(last_served);
    bool progress = false;
    for (size_t visited = 0; visited < consumers.size() && !store.empty();
         ++visited) {
      if (start == consumers.end())
        start = consumers.begin();
      auto& [id, c] = *start;
      auto n = std::min<size_t>(c.window(), share);
      for (size_t k = 0; k < n; ++k) {
        auto entry = store.take(match_spec{}, t, expired_total);
        if (!entry)
          break;
        auto& batch = batches[id];
        if (batch.messages.empty()) {
          batch.consumer_id = id;
          batch.messages.reserve(std::min(n, store.size() + 1));
        }
        entry->msg.tag = c.next_tag++;
        ++c.in_flight;
        progress = true;
        last_served = id;
        if (c.mode == ack_mode::client) {
          batch.messages.push_back(entry->msg);
          c.unacked.emplace_back(std::move(*entry));
          ++unacked_total;
        } else {
          batch.messages.push_back(std::move(entry->msg));
          ++dequeued_total;
        }
      }
      ++start;
    }
    if (!progress)
      break;
  }
  for (auto& [id, batch] : batches)
    self->send(consumers[id].hdl, atom::deliver_v, std::move(batch));
}

void queue_state::roll_back(stored_message&& entry) {
  entry.msg.tag = 0;
  ++entry.msg.delivery_count;
  auto threshold = cfg.attrs.backout_threshold;
  if (threshold > 0 && entry.msg.delivery_count >= threshold) {
    ++dequeued_total;
    dead_letter(std::move(entry.msg), cfg.attrs.backout_queue,
                dlq_reason::backout);
    return;
  }
  store.restore(std::move(entry));
}

void queue_state::dead_letter(message&& msg, const std::string& target,
                              const std::string& reason) {
  if (!cfg.qm) {
    log::queue().error("{}: no queue manager to dead-letter to; message kept",
                       cfg.name);
    store.push(std::move(msg), 0);
    return;
  }
  msg.properties[std::string{dead_letter_reason_property}] = reason;
  msg.properties[std::string{dead_letter_source_property}] = cfg.name;
  msg.tag = 0;
  self->send(cfg.qm, atom::dead_letter_v, target, std::move(msg));
}

template <class Pred>
void queue_state::fail_waiters(Pred pred, const caf::error& e) {
  for (auto i = waiters.begin(); i != waiters.end();) {
    if (pred(i->second)) {
      i->second.rp.deliver(e);
      i = waiters.erase(i);
    } else {
      ++i;
    }
  }
}

void queue_state::drop_consumer(std::map<uint64_t, consumer>::iterator it) {
  auto& c = it->second;
  for (auto& slot : c.unacked) {
    if (slot) {
      --unacked_total;
      roll_back(std::move(*slot));
    }
  }
  consumers.erase(it);
}

// -- operations ---------------------------------------------------------------

caf::result<msg_id> queue_state::put(message& msg) {
  if (auto e = check_put(msg))
    return e;
  if (!admits(1))
    return refuse_or_block(std::move(msg), blocked_put::single, 0);
  auto id = accept(std::move(msg), wall_ms());
  trim();
  serve();
  return id;
}

caf::result<uint64_t> queue_state::put_batch(std::vector<message>& msgs) {
  // All or nothing: check every message before accepting any.
  for (const auto& msg : msgs)
    if (auto e = check_put(msg))
      return e;
  if (msgs.empty())
    return uint64_t{0};
  if (!admits(msgs.size())) {
    auto wait = put_wait(msgs.front());
    if (cfg.attrs.overflow == overflow_policy::reject || wait == 0)
      return full_error(msgs.size());
    auto& b = block(blocked_put::batch, std::move(msgs), wait);
    b.rp_count = self->make_response_promise<uint64_t>();
    return b.rp_count;
  }
  auto put_time = wall_ms();
  for (auto& msg : msgs)
    accept(std::move(msg), put_time);
  trim();
  serve();
  return static_cast<uint64_t>(msgs.size());
}

caf::result<msg_id> queue_state::refuse_or_block(message&& msg,
                                                 blocked_put::kind_t kind,
                                                 uint64_t uow) {
  auto wait = put_wait(msg);
  if (cfg.attrs.overflow == overflow_policy::reject || wait == 0)
    return full_error(1);
  std::vector<message> one;
  one.push_back(std::move(msg));
  auto& b = block(kind, std::move(one), wait);
  b.uow = uow;
  b.rp_id = self->make_response_promise<msg_id>();
  return b.rp_id;
}

msg_id queue_state::hold_in_uow(message&& msg, uint64_t uow) {
  stamp(msg, wall_ms());
  auto id = msg.id;
  stored_message entry;
  entry.expires_at = expires_at(msg);
  entry.msg = std::move(msg);
  uows[uow].puts.push_back(std::move(entry));
  ++uncommitted_total;
  return id;
}

caf::result<msg_id> queue_state::put_in_uow(message& msg, uint64_t uow) {
  if (auto e = check_put(msg))
    return e;
  // Uncommitted puts count towards max_depth; drop-oldest cannot make
  // room for them (they are not ready), so they block like the default.
  auto room = cfg.attrs.overflow == overflow_policy::reject
                ? admits(1)
                : blocked.empty() && has_room(1);
  if (!room)
    return refuse_or_block(std::move(msg), blocked_put::in_uow, uow);
  return hold_in_uow(std::move(msg), uow);
}

caf::result<uint64_t> queue_state::publish(std::vector<message>& msgs) {
  // Publications wait for room under block without a time limit: the
  // queue manager holds the publishers meanwhile (credit), so nothing
  // piles up and nothing is dead-lettered for being slow.
  if (cfg.attrs.overflow == overflow_policy::block
      && (!blocked.empty() || !has_room(msgs.size()))) {
    auto& b = block(blocked_put::publication, std::move(msgs), -1);
    b.rp_count = self->make_response_promise<uint64_t>();
    return b.rp_count;
  }
  auto n = accept_publications(msgs);
  trim();
  serve();
  return n;
}

caf::result<message> queue_state::get(get_options& opts) {
  if (cfg.attrs.get_inhibited)
    return reason_error(ec::get_inhibited, cfg.name);
  if (opts.wait_ms < wait_unlimited)
    return reason_error(ec::options_error, "wait must be >= 0 ms or unlimited");
  if (opts.browse > static_cast<uint8_t>(browse_mode::next))
    return reason_error(ec::options_error, "unknown browse mode");
  if (opts.browse != 0 && opts.uow != 0)
    return reason_error(ec::options_error, "browse under a unit of work");
  if (auto msg = try_get(opts)) {
    if (!blocked.empty())
      serve(); // the get made room
    return std::move(*msg);
  }
  if (opts.wait_ms == 0)
    return reason_error(ec::no_msg_available, cfg.name);
  auto id = next_waiter_id++;
  auto& w = waiters[id];
  // Its waiters end with the requester, so no message is ever handed to
  // a requester that is gone. (Read the sender first: making the promise
  // takes it from the current message.)
  w.requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
  watch(w.requester);
  w.rp = self->make_response_promise<message>();
  w.opts = std::move(opts);
  if (w.opts.wait_ms > 0)
    self->delayed_send(self, std::chrono::milliseconds{w.opts.wait_ms},
                       atom::timeout_v, id);
  return w.rp;
}

caf::result<uint64_t> queue_state::consume(consumer_actor hdl,
                                           uint32_t prefetch, ack_mode mode) {
  if (!hdl)
    return reason_error(ec::options_error, "consumer handle is invalid");
  if (prefetch == 0)
    return reason_error(ec::options_error, "prefetch must be at least 1");
  if (mode != ack_mode::automatic && mode != ack_mode::client)
    return reason_error(ec::options_error, "unknown ack mode");
  if (cfg.attrs.get_inhibited)
    return reason_error(ec::get_inhibited, cfg.name);
  auto id = next_consumer_id++;
  auto& c = consumers[id];
  c.hdl = hdl;
  c.prefetch = prefetch;
  c.mode = mode;
  self->monitor(hdl);
  serve();
  return id;
}

void queue_state::credit(uint64_t consumer_id, uint32_t n) {
  auto it = consumers.find(consumer_id);
  if (it == consumers.end() || it->second.mode != ack_mode::automatic)
    return;
  auto& c = it->second;
  c.in_flight -= std::min(c.in_flight, n);
  serve();
}

template <class F>
caf::result<uint64_t> queue_state::settle(uint64_t consumer_id, uint64_t first,
                                          uint64_t last, F f) {
  auto it = consumers.find(consumer_id);
  if (it == consumers.end())
    return reason_error(ec::hobj_error,
                        "no consumer " + std::to_string(consumer_id));
  auto& c = it->second;
  if (c.mode != ack_mode::client)
    return reason_error(ec::options_error,
                        "consumer uses automatic acknowledgement");
  if (first > last)
    return reason_error(ec::options_error, "empty tag range");
  if (last >= c.next_tag)
    return reason_error(ec::hobj_error,
               "tag " + std::to_string(last) + " was never delivered");
  uint64_t n = 0;
  for (auto tag = std::max(first, c.unacked_base); tag <= last; ++tag) {
    auto& slot = c.unacked[tag - c.unacked_base];
    if (!slot)
      continue;
    --c.in_flight;
    --unacked_total;
    auto entry = std::move(*slot);
    slot.reset();
    f(std::move(entry));
    ++n;
  }
  while (!c.unacked.empty() && !c.unacked.front()) {
    c.unacked.pop_front();
    ++c.unacked_base;
  }
  serve();
  return n;
}

caf::result<uint64_t> queue_state::ack(uint64_t consumer_id, uint64_t first,
                                       uint64_t last) {
  return settle(consumer_id, first, last,
                [this](stored_message&&) { ++dequeued_total; });
}

caf::result<uint64_t> queue_state::nack(uint64_t consumer_id, uint64_t first,
                                        uint64_t last, bool requeue) {
  if (requeue)
    return settle(consumer_id, first, last, [this](stored_message&& entry) {
      roll_back(std::move(entry));
    });
  return settle(consumer_id, first, last, [this](stored_message&& entry) {
    ++dequeued_total;
    dead_letter(std::move(entry.msg), {}, dlq_reason::nacked);
  });
}

caf::result<atom::ok> queue_state::cancel(uint64_t consumer_id) {
  auto it = consumers.find(consumer_id);
  if (it == consumers.end())
    return reason_error(ec::hobj_error,
                        "no consumer " + std::to_string(consumer_id));
  drop_consumer(it);
  serve();
  return atom::ok_v;
}

template <class Pred, class MakeError>
void queue_state::fail_blocked_if(Pred pred, MakeError make_error) {
  for (auto i = blocked.begin(); i != blocked.end();) {
    if (pred(*i)) {
      fail_blocked(*i, make_error(*i));
      i = blocked.erase(i);
    } else {
      ++i;
    }
  }
}

void queue_state::fail_blocked_uow(uint64_t uow) {
  fail_blocked_if(
    [uow](const blocked_put& b) {
      return b.kind == blocked_put::in_uow && b.uow == uow;
    },
    [](const blocked_put&) {
      return reason_error(ec::uow_not_available, "unit of work ended");
    });
}

caf::result<atom::ok> queue_state::commit(uint64_t uow) {
  fail_waiters([uow](const waiter& w) { return w.opts.uow == uow; },
               reason_error(ec::uow_not_available, "unit of work ended"));
  fail_blocked_uow(uow);
  auto it = uows.find(uow);
  if (it == uows.end())
    return atom::ok_v;
  auto& work = it->second;
  uncommitted_total -= work.puts.size() + work.gets.size();
  dequeued_total += work.gets.size();
  for (auto& entry : work.puts)
    enqueue(std::move(entry.msg), entry.expires_at);
  uows.erase(it);
  serve();
  return atom::ok_v;
}

caf::result<atom::ok> queue_state::backout(uint64_t uow) {
  fail_waiters([uow](const waiter& w) { return w.opts.uow == uow; },
               reason_error(ec::uow_not_available, "unit of work ended"));
  fail_blocked_uow(uow);
  auto it = uows.find(uow);
  if (it == uows.end())
    return atom::ok_v;
  auto work = std::move(it->second);
  uows.erase(it);
  uncommitted_total -= work.puts.size() + work.gets.size();
  for (auto& entry : work.gets)
    roll_back(std::move(entry));
  serve();
  return atom::ok_v;
}

caf::result<atom::ok> queue_state::open(open_mode mode,
                                        const caf::actor_addr& owner) {
  if (!owner)
    return reason_error(ec::options_error, "open without an owner");
  auto [it, added] = openers.try_emplace(owner);
  if (added)
    self->monitor(owner);
  if (mode == open_mode::output) {
    ++it->second.output;
    ++open_output;
  } else {
    ++it->second.input;
    ++open_input;
  }
  return atom::ok_v;
}

caf::result<atom::ok> queue_state::close(open_mode mode,
                                         const caf::actor_addr& owner) {
  auto it = openers.find(owner);
  if (it == openers.end())
    return reason_error(ec::hobj_error,
                        cfg.name + " is not open by the caller");
  auto& count = mode == open_mode::output ? it->second.output
                                          : it->second.input;
  if (count == 0)
    return reason_error(ec::hobj_error, cfg.name + " is not open in that mode");
  --count;
  --(mode == open_mode::output ? open_output : open_input);
  if (it->second.input == 0 && it->second.output == 0)
    openers.erase(it);
  return atom::ok_v;
}

queue_status queue_state::inquire() const {
  queue_status s;
  s.name = cfg.name;
  s.attrs = cfg.attrs;
  s.current_depth = depth();
  s.unacked_count = unacked_total;
  s.uncommitted_count = uncommitted_total;
  s.open_input_count = open_input;
  s.open_output_count = open_output;
  s.consumer_count = static_cast<uint32_t>(consumers.size());
  s.enqueued_total = enqueued_total;
  s.dequeued_total = dequeued_total;
  s.expired_total = expired_total;
  s.dropped_total = dropped_total;
  s.rejected_total = rejected_total;
  s.blocked_count = blocked.size();
  s.blocked_total = blocked_total;
  s.blocked_ms_total = blocked_ns_total / 1'000'000;
  if (auto oldest = store.oldest_put_time(); oldest > 0)
    s.oldest_msg_age = std::max<int64_t>(0, wall_ms() - oldest);
  return s;
}

caf::result<queue_status> queue_state::alter(const attr_map& changes) {
  if (auto e = apply_attrs(cfg.attrs, changes, cfg.limits))
    return e;
  if (cfg.attrs.overflow == overflow_policy::reject)
    fail_all_blocked(); // reject never waits
  trim();
  if (cfg.attrs.get_inhibited)
    fail_waiters([](const waiter&) { return true; },
                 reason_error(ec::get_inhibited, cfg.name));
  else
    serve();
  return inquire();
}

uint64_t queue_state::purge() {
  auto n = store.clear();
  serve();
  return n;
}

void queue_state::fail_all_blocked() {
  fail_blocked_if([](const blocked_put&) { return true; },
                  [this](const blocked_put& b) {
                    return full_error(b.msgs.size());
                  });
}

caf::result<uint64_t> queue_state::delete_queue(bool purge_first) {
  if (open_input + open_output > 0 || !consumers.empty())
    return reason_error(ec::object_in_use,
                        cfg.name + " is open or has consumers");
  if (uncommitted_total > 0)
    return reason_error(ec::object_in_use, cfg.name + " has uncommitted work");
  if (depth() > 0 && !purge_first)
    return reason_error(ec::q_not_empty, cfg.name + " holds "
                                  + std::to_string(depth()) + " messages");
  auto purged = store.clear();
  fail_waiters([](const waiter&) { return true; },
               reason_error(ec::unknown_object_name,
                            cfg.name + " was deleted"));
  fail_blocked_if([](const blocked_put&) { return true; },
                  [this](const blocked_put&) {
                    return reason_error(ec::unknown_object_name,
                                        cfg.name + " was deleted");
                  });
  self->quit();
  return purged;
}

void queue_state::accept_dead_letter(message& msg) {
  msg.tag = 0;
  store.push(std::move(msg), 0);
  ++enqueued_total;
  serve();
}

void queue_state::cancel_waits(const caf::actor_addr& requester) {
  fail_waiters([&](const waiter& w) { return w.requester == requester; },
               reason_error(ec::no_msg_available,
                            cfg.name + ": the requester is gone"));
}

void queue_state::on_put_timeout(uint64_t blocked_id) {
  auto i = std::lower_bound(blocked.begin(), blocked.end(), blocked_id,
                            [](const blocked_put& b, uint64_t id) {
                              return b.id < id;
                            });
  if (i == blocked.end() || i->id != blocked_id)
    return; // taken meanwhile
  auto waited_ms = (now() - i->since) / 1'000'000;
  ++rejected_total;
  fail_blocked(*i, reason_error(ec::q_full,
                                cfg.name + ": no room within "
                                  + std::to_string(waited_ms) + " ms"));
  blocked.erase(i);
}

void queue_state::on_resume() {
  resume_asked = false;
  serve();
}

void queue_state::on_timeout(uint64_t waiter_id) {
  auto it = waiters.find(waiter_id);
  if (it == waiters.end())
    return;
  it->second.rp.deliver(reason_error(ec::no_msg_available, cfg.name));
  waiters.erase(it);
}

void queue_state::sweep() {
  auto t = now();
  if (sweep_at != 0 && sweep_at <= t)
    sweep_at = 0;
  expired_total += store.drop_expired(t);
  schedule_sweep(store.next_expiry());
  if (!blocked.empty())
    serve();
}

void queue_state::on_down(const caf::down_msg& dm) {
  if (watched.erase(dm.source) > 0)
    std::erase_if(waiters, [&](const auto& kvp) {
      return kvp.second.requester == dm.source;
    });
  if (auto it = openers.find(dm.source); it != openers.end()) {
    open_input -= it->second.input;
    open_output -= it->second.output;
    openers.erase(it);
  }
  bool dropped = false;
  for (auto it = consumers.begin(); it != consumers.end();) {
    if (it->second.hdl.address() == dm.source) {
      auto next = std::next(it);
      drop_consumer(it);
      it = next;
      dropped = true;
    } else {
      ++it;
    }
  }
  if (dropped)
    serve();
}

// -- behavior -----------------------------------------------------------------

queue_actor::behavior_type
queue_impl(queue_actor::stateful_pointer<queue_state> self, queue_config cfg) {
  auto& st = self->state;
  st.self = self;
  st.cfg = std::move(cfg);
  self->set_down_handler(
    [self](caf::down_msg& dm) { self->state.on_down(dm); });
  return {
    [self](atom::put, message& msg) { return self->state.put(msg); },
    [self](atom::put, std::vector<message>& msgs) {
      return self->state.put_batch(msgs);
    },
    [self](atom::put, message& msg, uint64_t uow) {
      return self->state.put_in_uow(msg, uow);
    },
    [self](atom::get, get_options& opts) { return self->state.get(opts); },
    [self](atom::consume, consumer_actor& hdl, uint32_t prefetch,
           ack_mode mode) {
      return self->state.consume(std::move(hdl), prefetch, mode);
    },
    [self](atom::credit, uint64_t id, uint32_t n) {
      self->state.credit(id, n);
    },
    [self](atom::ack, uint64_t id, uint64_t first, uint64_t last) {
      return self->state.ack(id, first, last);
    },
    [self](atom::nack, uint64_t id, uint64_t first, uint64_t last,
           bool requeue) { return self->state.nack(id, first, last, requeue); },
    [self](atom::cancel, uint64_t id) { return self->state.cancel(id); },
    [self](atom::commit, uint64_t uow) { return self->state.commit(uow); },
    [self](atom::backout, uint64_t uow) { return self->state.backout(uow); },
    [self](atom::open, open_mode mode, caf::actor_addr& owner) {
      return self->state.open(mode, owner);
    },
    [self](atom::close, open_mode mode, caf::actor_addr& owner) {
      return self->state.close(mode, owner);
    },
    [self](atom::inquire) { return self->state.inquire(); },
    [self](atom::alter, const attr_map& changes) {
      return self->state.alter(changes);
    },
    [self](atom::purge) { return self->state.purge(); },
    [self](atom::delete_, bool purge_first) {
      return self->state.delete_queue(purge_first);
    },
    [self](atom::dead_letter, message& msg) {
      self->state.accept_dead_letter(msg);
    },
    [self](atom::publish, std::vector<message>& msgs) {
      return self->state.publish(msgs);
    },
    [self](atom::cancel, atom::get, const caf::actor_addr& requester) {
      self->state.cancel_waits(requester);
    },
    [self](atom::timeout, uint64_t id) { self->state.on_timeout(id); },
    [self](atom::timeout, atom::put, uint64_t id) {
      self->state.on_put_timeout(id);
    },
    [self](atom::resume) { self->state.on_resume(); },
    [self](atom::sweep) { self->state.sweep(); },
  };
}

} // namespace qmesh
