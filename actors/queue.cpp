#include "actors/queue.hpp"

#include <chrono>
#include <limits>

#include <caf/all.hpp>

#include "actors/durability.hpp"
#include "actors/log.hpp"

namespace qmesh {

namespace {

/// Largest total of descriptor strings (ids, reply-to, properties, ...).
constexpr size_t max_descriptor_bytes = 64 * 1024;

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
  if (persistent(msg) && !ledger->accepting_persistent())
    return journal_refusal();
  return {};
}

bool queue_state::persistent(const message& msg) const noexcept {
  return msg.persistent > 0
         || (msg.persistent < 0 && cfg.attrs.default_persistence);
}

caf::error queue_state::journal_refusal() const {
  return reason_error(ec::resource_problem,
                      cfg.name + ": persistent puts refused: "
                        + ledger->refusal());
}

template <class T>
void queue_state::reply_after(uint64_t seq, caf::typed_response_promise<T> rp,
                              T value) {
  waits.reply(seq, std::move(rp), std::move(value),
              [this] { return journal_refusal(); });
}

template <class T>
caf::result<T> queue_state::reply_durable(uint64_t seq, T value) {
  if (seq == 0 && waits.empty())
    return value;
  if (seq == store::append_failed)
    return journal_refusal();
  auto rp = self->make_response_promise<T>();
  reply_after(seq, rp, std::move(value));
  return rp;
}

void queue_state::on_durable(uint64_t seq, bool ok) {
  ledger->on_durable(seq, ok);
  if (!ok)
    log::queue().error("{}: the journal failed; replies up to record {} fail "
                       "with 2102",
                       cfg.name, seq);
  waits.reached(seq, ok);
  serve();
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
  while (depth() > cfg.attrs.max_depth && !ledger->ready().empty())
    ledger->drop_oldest(t);
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

msg_id queue_state::accept(message&& msg, int64_t put_time, uint64_t& seq) {
  stamp(msg, put_time);
  auto id = msg.id;
  auto exp = expires_at(msg);
  // append_failed is the largest seq: max() keeps a failure.
  seq = std::max(seq, ledger->accept(std::move(msg), exp));
  schedule_sweep(exp);
  return id;
}

uint64_t queue_state::accept_publications(std::vector<message>& msgs,
                                          uint64_t& seq) {
  auto put_time = wall_clock_ms();
  uint64_t taken = 0;
  for (auto& msg : msgs) {
    auto err = check_put(msg);
    if (!err && cfg.attrs.overflow == overflow_policy::reject
        && depth() >= cfg.attrs.max_depth)
      err = full_error(1);
    if (err) {
      log::pubsub().warn("{}: publication refused: {}; dead-lettered",
                         cfg.name, render(err));
      stored_message entry;
      entry.msg = std::move(msg);
      dead_letter(std::move(entry), {}, render(err), false);
      continue;
    }
    accept(std::move(msg), put_time, seq);
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
    auto put_time = wall_clock_ms();
    uint64_t seq = 0;
    switch (b.kind) {
      case blocked_put::single: {
        auto id = accept(std::move(b.msgs.front()), put_time, seq);
        reply_after(seq, std::move(b.rp_id), id);
        break;
      }
      case blocked_put::batch:
        for (auto& msg : b.msgs)
          accept(std::move(msg), put_time, seq);
        reply_after(seq, std::move(b.rp_count), static_cast<uint64_t>(n));
        break;
      case blocked_put::in_uow: {
        auto id = hold_in_uow(std::move(b.msgs.front()), b.uow, seq);
        reply_after(seq == store::append_failed ? seq : 0,
                    std::move(b.rp_id), id);
        break;
      }
      case blocked_put::publication: {
        auto taken = accept_publications(b.msgs, seq);
        reply_after(seq, std::move(b.rp_count), taken);
        break;
      }
    }
    trim();
  }
  return any;
}

void queue_state::watch(const caf::actor_addr& who) {
  if (who && watched.insert(who).second)
    self->monitor(who);
}

void queue_state::resolve_defaults(message& msg) const {
  if (msg.priority == priority_as_queue)
    msg.priority = cfg.attrs.default_priority;
  if (msg.persistent < 0)
    msg.persistent = cfg.attrs.default_persistence ? 1 : 0;
  if (msg.id.empty())
    msg.id = msg_id::next();
  msg.tag = 0;
}

void queue_state::stamp(message& msg, int64_t put_time) const {
  resolve_defaults(msg);
  msg.put_time = put_time;
  msg.origin_qmgr = cfg.qmgr;
  msg.delivery_count = 0;
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

std::optional<message> queue_state::try_get(const get_options& opts,
                                            uint64_t& seq) {
  match_spec spec{opts.match_msg_id, opts.match_correl_id};
  auto t = now();
  seq = 0;
  if (opts.browse != static_cast<uint8_t>(browse_mode::none)) {
    auto cursor = opts.browse == static_cast<uint8_t>(browse_mode::next)
                    ? opts.browse_cursor
                    : 0;
    return ledger->ready().browse(spec, cursor, t);
  }
  auto entry = ledger->take(spec, t);
  if (!entry)
    return std::nullopt;
  if (opts.uow != 0) {
    // The unit of work's commit waits for the journal, not this reply.
    auto copy = entry->msg;
    if (ledger->hold_get(opts.uow, std::move(*entry)) == store::append_failed)
      seq = store::append_failed;
    return copy;
  }
  seq = ledger->consume(*entry);
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
  for (auto i = waiters.begin();
       i != waiters.end() && !ledger->ready().empty();) {
    uint64_t seq = 0;
    if (auto msg = try_get(i->second.opts, seq)) {
      reply_after(seq, std::move(i->second.rp), std::move(*msg));
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
  // Automatic-ack deliveries of persistent messages leave once their
  // removal is on disk.
  uint64_t seq = 0;
  auto t = now();
  while (!ledger->ready().empty()) {
    size_t active = 0;
    for (auto& kvp : consumers)
      if (kvp.second.window() > 0)
        ++active;
    if (active == 0)
      break;
    size_t share = std::max<size_t>(1, ledger->ready().size() / active);
    // Start after the consumer served last.
    auto start = consumers.upper_bound(last_served);
    bool progress = false;
    for (size_t visited = 0;
         visited < consumers.size() && !ledger->ready().empty(); ++visited) {
      if (start == consumers.end())
        start = consumers.begin();
      auto& [id, c] = *start;
      auto n = std::min<size_t>(c.window(), share);
      for (size_t k = 0; k < n; ++k) {
        auto entry = ledger->take(match_spec{}, t);
        if (!entry)
          break;
        auto& batch = batches[id];
        if (batch.messages.empty()) {
          batch.consumer_id = id;
          batch.messages.reserve(std::min(n, ledger->ready().size() + 1));
        }
        entry->msg.tag = c.next_tag++;
        ++c.in_flight;
        progress = true;
        last_served = id;
        if (c.mode == ack_mode::client) {
          ledger->deliver(*entry);
          batch.messages.push_back(entry->msg);
          c.unacked.emplace_back(std::move(*entry));
        } else {
          seq = std::max(seq, ledger->consume(*entry));
          batch.messages.push_back(std::move(entry->msg));
        }
      }
      ++start;
    }
    if (!progress)
      break;
  }
  if (seq == store::append_failed)
    seq = 0; // the removal failed: deliver anyway (it is still on disk and
             // comes back after a restart rather than being lost)
  for (auto& [id, batch] : batches) {
    // The common case needs no continuation (waits.after() would run it at
    // once, but only after allocating it).
    if (seq == 0 && waits.empty()) {
      self->send(consumers[id].hdl, atom::deliver_v, std::move(batch));
      continue;
    }
    waits.after(seq, [this, id = id, hdl = consumers[id].hdl,
                        b = std::move(batch)](bool) mutable {
      auto c = consumers.find(id);
      if (c != consumers.end() && c->second.hdl == hdl) {
        self->send(hdl, atom::deliver_v, std::move(b));
        return;
      }
      // The consumer ended while its removals went to disk: the messages
      // come back as new puts rather than go to nobody.
      log::queue().info("{}: consumer {} gone before its delivery; {} "
                        "messages returned",
                        cfg.name, id, b.messages.size());
      for (auto& msg : b.messages) {
        msg.tag = 0;
        auto exp = expires_at(msg);
        ledger->accept(std::move(msg), exp);
      }
      serve();
    });
  }
}

void queue_state::roll_back(stored_message&& entry, bool was_unacked) {
  entry.msg.tag = 0;
  ++entry.msg.delivery_count;
  auto threshold = cfg.attrs.backout_threshold;
  if (threshold > 0 && entry.msg.delivery_count >= threshold) {
    dead_letter(std::move(entry), cfg.attrs.backout_queue, dlq_reason::backout,
                was_unacked);
    return;
  }
  ledger->restore(std::move(entry), was_unacked);
}

void queue_state::dead_letter(stored_message&& entry,
                              const std::string& target,
                              const std::string& reason, bool was_unacked) {
  entry.msg.tag = 0;
  ledger->moving_out(was_unacked);
  if (!cfg.qm) {
    log::queue().error("{}: no queue manager to dead-letter to; message kept",
                       cfg.name);
    ledger->move_failed(std::move(entry));
    return;
  }
  auto msg = entry.msg;
  msg.properties[std::string{dead_letter_reason_property}] = reason;
  msg.properties[std::string{dead_letter_source_property}] = cfg.name;
  auto token = next_move++;
  auto from_key = entry.jkey;
  moving.emplace(token, std::move(entry));
  self
    ->request(cfg.qm, caf::infinite, atom::dead_letter_v, target,
              std::move(msg), cfg.name, from_key)
    .then(
      [this, token](atom::ok) {
        moving.erase(token);
        ledger->moved();
      },
      [this, token](caf::error& err) {
        auto it = moving.find(token);
        if (it == moving.end())
          return;
        log::queue().error("{}: move of message {} refused ({}); kept",
                           cfg.name, to_string(it->second.msg.id),
                           render(err));
        ledger->move_failed(std::move(it->second));
        moving.erase(it);
        serve();
      });
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
  for (auto& slot : c.unacked)
    if (slot)
      roll_back(std::move(*slot), true);
  consumers.erase(it);
}

// -- operations ---------------------------------------------------------------

caf::result<msg_id> queue_state::put(message& msg) {
  if (auto e = check_put(msg))
    return e;
  if (!admits(1))
    return refuse_or_block(std::move(msg), blocked_put::single, 0);
  uint64_t seq = 0;
  auto id = accept(std::move(msg), wall_clock_ms(), seq);
  trim();
  serve();
  return reply_durable(seq, id);
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
  auto put_time = wall_clock_ms();
  uint64_t seq = 0;
  for (auto& msg : msgs)
    accept(std::move(msg), put_time, seq);
  trim();
  serve();
  return reply_durable(seq, static_cast<uint64_t>(msgs.size()));
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

msg_id queue_state::hold_in_uow(message&& msg, uint64_t uow,
                                uint64_t& seq) {
  stamp(msg, wall_clock_ms());
  auto id = msg.id;
  auto exp = expires_at(msg);
  seq = ledger->hold_put(uow, std::move(msg), exp);
  return id;
}

caf::result<std::vector<message>>
queue_state::transfer(std::vector<message>& msgs, uint64_t uow, bool force) {
  std::vector<message> refused;
  uint64_t seq = 0;
  for (auto& msg : msgs) {
    caf::error err;
    if (!force) {
      err = check_put(msg);
      // A transfer never waits for room: a full queue refuses and the
      // message goes to the dead-letter queue (the channel must not stall
      // behind one slow queue).
      if (!err && !(blocked.empty() && has_room(1)))
        err = full_error(1);
    }
    if (err) {
      msg.properties[std::string{dead_letter_reason_property}] = render(err);
      refused.push_back(std::move(msg));
      continue;
    }
    // The descriptor stays as the sending queue manager stamped it; only
    // what was left to the queue is resolved here.
    resolve_defaults(msg);
    auto exp = expires_at(msg);
    seq = std::max(seq, ledger->hold_put(uow, std::move(msg), exp));
  }
  if (seq == store::append_failed)
    return journal_refusal();
  return refused;
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
  // The reply need not wait for the journal: the commit does.
  uint64_t seq = 0;
  auto id = hold_in_uow(std::move(msg), uow, seq);
  if (seq == store::append_failed)
    return journal_refusal();
  return id;
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
  uint64_t seq = 0;
  auto n = accept_publications(msgs, seq);
  trim();
  serve();
  return reply_durable(seq, n);
}

caf::error queue_state::check_browse(const get_options& opts) {
  if (opts.browse > static_cast<uint8_t>(browse_mode::next))
    return reason_error(ec::options_error, "unknown browse mode");
  if (opts.browse != 0 && opts.uow != 0)
    return reason_error(ec::options_error, "browse under a unit of work");
  return {};
}

caf::result<message> queue_state::get(get_options& opts) {
  if (cfg.attrs.get_inhibited)
    return reason_error(ec::get_inhibited, cfg.name);
  if (opts.wait_ms < wait_unlimited)
    return reason_error(ec::options_error, "wait must be >= 0 ms or unlimited");
  if (auto e = check_browse(opts))
    return e;
  uint64_t seq = 0;
  if (auto msg = try_get(opts, seq)) {
    if (!blocked.empty())
      serve(); // the get made room
    return reply_durable(seq, std::move(*msg));
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

caf::result<std::vector<message>> queue_state::get_many(get_options& opts,
                                                       uint32_t max) {
  if (cfg.attrs.get_inhibited)
    return reason_error(ec::get_inhibited, cfg.name);
  if (opts.wait_ms != 0)
    return reason_error(ec::options_error, "a batch get does not wait");
  if (max == 0 || max > max_get_batch)
    return reason_error(ec::options_error,
                        "a batch get takes 1 to "
                          + std::to_string(max_get_batch) + " messages");
  if (auto e = check_browse(opts))
    return e;
  std::vector<message> out;
  uint64_t last_seq = 0;
  while (out.size() < max) {
    uint64_t seq = 0;
    auto msg = try_get(opts, seq);
    if (!msg)
      break;
    if (opts.browse != 0) {
      opts.browse = static_cast<uint8_t>(browse_mode::next);
      opts.browse_cursor = msg->tag;
    }
    out.push_back(std::move(*msg));
    if (seq == store::append_failed) {
      last_seq = seq;
      break;
    }
    last_seq = std::max(last_seq, seq);
  }
  if (out.empty())
    return reason_error(ec::no_msg_available, cfg.name);
  if (!blocked.empty() && opts.browse == 0)
    serve(); // the gets made room
  return reply_durable(last_seq, std::move(out));
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
  uint64_t seq = 0;
  for (auto tag = std::max(first, c.unacked_base); tag <= last; ++tag) {
    auto& slot = c.unacked[tag - c.unacked_base];
    if (!slot)
      continue;
    --c.in_flight;
    auto entry = std::move(*slot);
    slot.reset();
    seq = std::max(seq, f(std::move(entry)));
    ++n;
  }
  while (!c.unacked.empty() && !c.unacked.front()) {
    c.unacked.pop_front();
    ++c.unacked_base;
  }
  serve();
  return reply_durable(seq, n);
}

caf::result<uint64_t> queue_state::ack(uint64_t consumer_id, uint64_t first,
                                       uint64_t last) {
  return settle(consumer_id, first, last, [this](stored_message&& entry) {
    return ledger->settle(entry);
  });
}

caf::result<uint64_t> queue_state::nack(uint64_t consumer_id, uint64_t first,
                                        uint64_t last, bool requeue) {
  if (requeue)
    return settle(consumer_id, first, last, [this](stored_message&& entry) {
      roll_back(std::move(entry), true);
      return uint64_t{0};
    });
  return settle(consumer_id, first, last, [this](stored_message&& entry) {
    dead_letter(std::move(entry), {}, dlq_reason::nacked, true);
    return uint64_t{0};
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
  if (!ledger->in_uow(uow))
    return atom::ok_v;
  ledger->commit(uow);
  schedule_sweep(ledger->ready().next_expiry());
  serve();
  return atom::ok_v;
}

caf::result<atom::ok> queue_state::backout(uint64_t uow) {
  fail_waiters([uow](const waiter& w) { return w.opts.uow == uow; },
               reason_error(ec::uow_not_available, "unit of work ended"));
  fail_blocked_uow(uow);
  for (auto& entry : ledger->backout(uow))
    roll_back(std::move(entry), false);
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
  s.unacked_count = ledger->unacked();
  s.uncommitted_count = ledger->uncommitted();
  s.open_input_count = open_input;
  s.open_output_count = open_output;
  s.consumer_count = static_cast<uint32_t>(consumers.size());
  s.enqueued_total = ledger->enqueued_total();
  s.dequeued_total = ledger->dequeued_total();
  s.expired_total = ledger->expired_total();
  s.dropped_total = ledger->dropped_total();
  s.rejected_total = rejected_total;
  s.blocked_count = blocked.size();
  s.blocked_total = blocked_total;
  s.blocked_ms_total = blocked_ns_total / 1'000'000;
  if (auto oldest = ledger->ready().oldest_put_time(); oldest > 0)
    s.oldest_msg_age = std::max<int64_t>(0, wall_clock_ms() - oldest);
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
  auto n = ledger->purge();
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
  if (ledger->uncommitted() > 0)
    return reason_error(ec::object_in_use, cfg.name + " has uncommitted work");
  if (depth() > 0 && !purge_first)
    return reason_error(ec::q_not_empty, cfg.name + " holds "
                                  + std::to_string(depth()) + " messages");
  auto purged = ledger->purge();
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

caf::result<atom::ok> queue_state::accept_dead_letter(message& msg,
                                                      const std::string& from,
                                                      uint64_t from_key) {
  msg.tag = 0;
  auto seq = ledger->accept_moved(std::move(msg), 0, from, from_key);
  serve();
  return reply_durable(seq, atom::ok_v);
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
  ledger->drop_expired(t);
  schedule_sweep(ledger->ready().next_expiry());
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
  st.ledger.emplace(st.cfg.name, st.cfg.journal,
                    std::make_shared<actor_listener>(self));
  if (auto recovered = std::move(st.cfg.recovered)) {
    auto started = std::chrono::steady_clock::now();
    auto wall = wall_clock_ms();
    auto t = st.now();
    for (auto& [key, msg] : *recovered) {
      // Expiry survives a restart: it counts from the put's wall-clock
      // time.
      int64_t exp = 0;
      if (msg.expiry > 0) {
        auto left_ms = msg.put_time + msg.expiry - wall;
        exp = left_ms <= 0 ? t : t + std::min<int64_t>(left_ms, INT64_MAX
                                                                   / 2'000'000)
                                       * 1'000'000;
      }
      st.ledger->recover(key, std::move(msg), exp);
    }
    st.schedule_sweep(st.ledger->ready().next_expiry());
    log::queue().info(
      "{}: {} persistent messages recovered in {} ms", st.cfg.name,
      recovered->size(),
      std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started)
        .count());
  }
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
    [self](atom::get, get_options& opts, uint32_t max) {
      return self->state.get_many(opts, max);
    },
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
    [self](atom::dead_letter, message& msg, const std::string& from,
           uint64_t from_key) {
      return self->state.accept_dead_letter(msg, from, from_key);
    },
    [self](atom::durable, uint64_t seq, bool ok) {
      self->state.on_durable(seq, ok);
    },
    [self](atom::transfer, std::vector<message>& msgs, uint64_t uow,
           bool force) { return self->state.transfer(msgs, uow, force); },
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
