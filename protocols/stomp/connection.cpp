#include "protocols/stomp/connection.hpp"

#include <charconv>
#include <cstdio>
#include <random>

#include <caf/all.hpp>

#include "actors/log.hpp"
#include "core/names.hpp"

namespace qmesh::stomp {

namespace {

/// The CONNECTED frame's `session`: 64 random bits in hex, telling the
/// client nothing about the node (not the session's actor id, which is
/// sequential).
std::string opaque_session_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(gen()));
  return buf;
}

using std::chrono::milliseconds;
using std::chrono::steady_clock;

/// How long a connection may stay without CONNECT.
constexpr milliseconds connect_deadline{30'000};

/// Temporary queues one connection may create.
constexpr size_t max_temp_queues = 1000;

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

const std::string& header_or_empty(const frame& f, std::string_view name) {
  static const std::string empty;
  auto p = f.header(name);
  return p ? *p : empty;
}

template <class T>
bool parse_uint(std::string_view text, T& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

/// `cx,cy` of a heart-beat header; false if malformed.
bool parse_heartbeat(std::string_view text, uint32_t& x, uint32_t& y) {
  auto comma = text.find(',');
  if (comma == std::string_view::npos)
    return false;
  return parse_uint(text.substr(0, comma), x)
         && parse_uint(text.substr(comma + 1), y);
}

milliseconds negotiate(milliseconds ours, uint32_t theirs) {
  if (ours.count() == 0 || theirs == 0)
    return milliseconds{0};
  return std::max(ours, milliseconds{theirs});
}

} // namespace

// -- input --------------------------------------------------------------------

void connection_state::on_bytes(std::string& chunk) {
  last_read = steady_clock::now();
  if (closing) {
    conn->consumed();
    return;
  }
  if (conn->message_oriented()
      && chunk.find_first_not_of("\r\n") != std::string::npos) {
    // One frame per message; trailing EOLs after its NUL are heart-beats.
    auto last = chunk.find_last_not_of("\r\n");
    if (chunk[last] != '\0')
      chunk += '\0';
  }
  std::vector<frame> frames;
  bool ok = codec.feed(chunk.data(), chunk.size(), frames);
  codec.take_heartbeats();
  for (auto& f : frames)
    input.push_back(std::move(f));
  watch_frame();
  if (!ok) {
    // A frame without a command stands for the codec's error, so that it
    // is answered after the frames before it.
    frame bad;
    bad.body = codec.error();
    if (!codec.error_receipt().empty())
      bad.add("receipt", codec.error_receipt());
    input.push_back(std::move(bad));
  }
  process();
  if (blocked || stalled || outstanding >= cfg->max_outstanding)
    ++held_chunks;
  else
    conn->consumed();
  flush();
}

void connection_state::process() {
  // A frame handler that completes at once (e.g. COMMIT of an empty
  // transaction) calls resume(); the loop below then simply goes on.
  if (processing)
    return;
  processing = true;
  stalled = false;
  while (!closing && !blocked && !input.empty()) {
    // Bounded requests in flight: CAF 0.17 finds a reply by a linear scan
    // over the actor's outstanding requests.
    if (outstanding >= cfg->max_outstanding || !handle(input.front())) {
      stalled = true;
      break;
    }
    input.pop_front();
  }
  processing = false;
}

void connection_state::resume() {
  if (closing)
    return;
  process();
  if (!blocked && !stalled && outstanding < cfg->max_outstanding
      && held_chunks > 0) {
    for (; held_chunks > 0; --held_chunks)
      conn->consumed();
    // The client could not send while its input was held back: the
    // partial frame's clock and the heart-beat clock start again.
    frame_started = last_read = steady_clock::now();
  }
  flush();
}

bool connection_state::handle(frame& f) {
  const auto& cmd = f.command;
  if (cmd.empty()) {
    // A body over the limit is a message too big (2030), as for a queue's
    // max_msg_length; any other codec failure is a malformed frame.
    fail(f, codec.body_too_long() ? ec::msg_too_big_for_q : ec::options_error,
         f.body);
    return true;
  }
  if (!connected) {
    if (cmd == "CONNECT" || cmd == "STOMP")
      return on_connect(f);
    fail(f, ec::options_error, "expected CONNECT or STOMP, got " + cmd);
    return true;
  }
  if (cmd == "SEND")
    return on_send(f);
  if (cmd == "ACK")
    return on_ack(f, true);
  if (cmd == "NACK" && version != protocol_version::v1_0)
    return on_ack(f, false);
  if (cmd == "SUBSCRIBE")
    return on_subscribe(f);
  if (cmd == "UNSUBSCRIBE")
    return on_unsubscribe(f);
  if (cmd == "BEGIN")
    return on_begin(f);
  if (cmd == "COMMIT")
    return on_commit(f);
  if (cmd == "ABORT")
    return on_abort(f);
  if (cmd == "DISCONNECT")
    return on_disconnect(f);
  if (cmd == "CONNECT" || cmd == "STOMP")
    fail(f, ec::options_error, "already connected");
  else if (cmd == "CONNECTED" || cmd == "MESSAGE" || cmd == "RECEIPT"
           || cmd == "ERROR")
    fail(f, ec::options_error, cmd + " is a server frame");
  else
    fail(f, ec::options_error, "unknown command " + cmd);
  return true;
}

// -- frames -------------------------------------------------------------------

bool connection_state::on_connect(frame& f) {
  auto accept = f.header("accept-version");
  if (!negotiate_version(accept, highest, version)) {
    // The versions this connection speaks, oldest first.
    std::string ours = "1.0";
    for (auto v : {protocol_version::v1_1, protocol_version::v1_2})
      if (v <= highest) {
        ours += ',';
        ours += to_string(v);
      }
    std::string bytes;
    append_error(bytes, mqrc(ec::options_error),
                 to_string(ec::options_error) + ": no STOMP version in common"
                   " (the client accepts '"
                   + accept->substr(0, 64) + "', this server speaks " + ours
                   + ")",
                 header_or_empty(f, "receipt"), ours);
    blocked = true;
    finish_slot(open_slot(), std::move(bytes), true);
    return true;
  }
  uint32_t cx = 0;
  uint32_t cy = 0;
  // STOMP 1.0 has no heart-beats: the header is ignored.
  if (auto hb = f.header("heart-beat");
      hb && version != protocol_version::v1_0
      && !parse_heartbeat(*hb, cx, cy)) {
    fail(f, ec::options_error, "heart-beat must be two numbers: cx,cy");
    return true;
  }
  client_id = header_or_empty(f, "client-id");
  blocked = true;
  auto n = open_slot();
  auto receipt = receipt_for(f);
  self->request(door, caf::infinite, atom::connect_v,
                caf::actor_cast<consumer_actor>(self),
                client_info{conn->message_oriented() ? "ws" : "stomp",
                            conn->peer(), {}},
                credentials{header_or_empty(f, "login"),
                            header_or_empty(f, "passcode")})
    .then(
      [this, n, cx, cy, receipt](session_actor& s, qm_status&) {
        session = std::move(s);
        // The session ending first (an administrator closed the
        // connection, the node stops) ends the connection with an ERROR.
        self->monitor(session);
        connected = true;
        // cx = cy = 0 for 1.0: no heart-beats either way.
        send_every = negotiate(cfg->heartbeat, cy);
        expect_every = negotiate(cfg->heartbeat, cx);
        std::string bytes = "CONNECTED\nversion:";
        bytes += to_string(version);
        bytes += "\nserver:";
        bytes += cfg->server_name;
        bytes += "\nsession:";
        bytes += opaque_session_id();
        if (version != protocol_version::v1_0) {
          bytes += "\nheart-beat:";
          bytes += std::to_string(cfg->heartbeat.count());
          bytes += ',';
          bytes += std::to_string(cfg->heartbeat.count());
        }
        bytes += "\n\n";
        bytes += '\0';
        bytes += receipt;
        log::stomp().info("stomp {}: connected from {} (session {}, STOMP {})",
                          self->id(), conn->peer(), session.id(),
                          to_string(version));
        if (send_every.count() > 0 || expect_every.count() > 0)
          schedule_tick();
        blocked = false;
        finish_slot(n, std::move(bytes));
        resume();
      },
      [this, n](caf::error& e) {
        error_slot(n, e, {});
      });
  return true;
}

bool connection_state::on_send(frame& f) {
  if (!temps_ready(f))
    return false;
  auto dest_text = need(f, "destination");
  if (!dest_text)
    return true;
  auto dest = parse_destination(*dest_text);
  if (!dest) {
    fail(f, dest.error());
    return true;
  }
  auto lookup = [this](std::string_view name) { return temp_queue(name); };
  std::string address = dest->name;
  if (dest->kind != destination::topic) {
    auto queue = queue_of(f, *dest);
    if (!queue)
      return true;
    address = *queue;
  }
  auto now = wall_ms();
  message msg;
  if (auto err = to_message(f, msg, now, lookup)) {
    fail(f, err);
    return true;
  }
  if (msg.expiry == expired_on_arrival) {
    // Already expired: accepted, never delivered.
    if (auto tx = f.header("transaction"); !tx || known_transaction(f, *tx))
      receipt_now(f);
    return true;
  }
  if (auto tx = f.header("transaction")) {
    tx_op op;
    op.kind = dest->kind == destination::topic ? tx_op::publish : tx_op::put;
    op.address = std::move(address);
    op.msg = std::move(msg);
    hold(f, *tx, std::move(op));
    return true;
  }
  // Consecutive SENDs to the same destination, outside transactions,
  // travel as one batch; a SEND with a receipt ends the batch, so that an
  // ERROR can name it.
  std::vector<message> batch;
  batch.push_back(std::move(msg));
  std::string last_receipt_id = header_or_empty(f, "receipt");
  while (last_receipt_id.empty() && input.size() > 1) {
    auto& next = input[1];
    if (next.command != "SEND" || next.header("transaction") != nullptr)
      break;
    auto nd = next.header("destination");
    if (!nd || *nd != *dest_text)
      break;
    if (auto rt = next.header("reply-to");
        rt && rt->starts_with(temp_queue_prefix)
        && !temp_queue(std::string_view{*rt}.substr(temp_queue_prefix.size())))
      break;
    message m;
    if (auto err = to_message(next, m, now, lookup)) {
      // Send what is batched, then answer the bad frame.
      break;
    }
    last_receipt_id = header_or_empty(next, "receipt");
    if (m.expiry != expired_on_arrival)
      batch.push_back(std::move(m));
    input.erase(input.begin() + 1);
  }
  std::string receipt_bytes;
  if (!last_receipt_id.empty())
    append_receipt(receipt_bytes, last_receipt_id, version);
  auto n = open_slot();
  ++outstanding;
  auto on_error = [this, n, last_receipt_id](caf::error& e) {
    error_slot(n, e, last_receipt_id);
  };
  // Publications and batched puts reply with a count.
  auto on_count = [this, n, receipt_bytes](uint64_t) {
    reply_slot(n, receipt_bytes);
  };
  if (dest->kind == destination::topic) {
    if (batch.size() == 1)
      self
        ->request(session, caf::infinite, atom::publish_v, std::move(address),
                  std::move(batch.front()), false)
        .then(on_count, on_error);
    else
      self
        ->request(session, caf::infinite, atom::publish_v, std::move(address),
                  std::move(batch), false)
        .then(on_count, on_error);
  } else if (batch.size() == 1) {
    self
      ->request(session, caf::infinite, atom::put_v, std::move(address),
                std::move(batch.front()))
      .then(
        [this, n, receipt_bytes](msg_id&) {
          reply_slot(n, receipt_bytes);
        },
        on_error);
  } else {
    self
      ->request(session, caf::infinite, atom::put_v, std::move(address),
                std::move(batch))
      .then(on_count, on_error);
  }
  return true;
}

bool connection_state::on_subscribe(frame& f) {
  if (!temps_ready(f))
    return false;
  // STOMP 1.0: `id` is optional; without it the destination stands for it.
  bool anonymous = version == protocol_version::v1_0
                   && header_or_empty(f, "id").empty();
  auto id = need(f, anonymous ? "destination" : "id");
  if (!id)
    return true;
  if (subs.count(*id) > 0) {
    fail(f, ec::options_error,
         anonymous ? "already subscribed to '" + *id + "' without an id"
                   : "subscription id '" + *id + "' is in use");
    return true;
  }
  if (subs.size() >= cfg->max_subscriptions) {
    fail(f, ec::options_error,
         "more than " + std::to_string(cfg->max_subscriptions)
           + " subscriptions on one connection");
    return true;
  }
  auto dest_text = need(f, "destination");
  if (!dest_text)
    return true;
  auto dest = parse_destination(*dest_text);
  if (!dest) {
    fail(f, dest.error());
    return true;
  }
  if (auto err = refused_subscribe_header(f)) {
    fail(f, err);
    return true;
  }
  auto durable = durable_name(f, client_id);
  if (!durable) {
    fail(f, durable.error());
    return true;
  }
  if (!durable->empty() && deleting.count(*durable) > 0)
    return false; // an UNSUBSCRIBE is deleting it: wait for that
  // On /queue/ the durable headers (checked all the same) ask for nothing
  // more: a queue keeps its messages anyway. A temporary queue cannot
  // outlive the connection.
  if (!durable->empty() && dest->kind == destination::temp_queue) {
    fail(f, ec::options_error,
         "a durable subscription needs a /topic/ destination, not "
           + *dest_text);
    return true;
  }
  auto sub = std::make_shared<subscription>();
  sub->id = *id;
  sub->anonymous = anonymous;
  sub->destination = *dest_text;
  sub->kind = dest->kind;
  sub->durable = dest->kind == destination::topic && !durable->empty();
  const auto& mode = header_or_empty(f, "ack");
  if (mode == "client") {
    sub->client_ack = true;
    sub->cumulative = true;
  } else if (mode == "client-individual") {
    sub->client_ack = true;
  } else if (!mode.empty() && mode != "auto") {
    fail(f, ec::options_error,
         "ack must be auto, client or client-individual");
    return true;
  }
  uint32_t prefetch = cfg->default_prefetch;
  if (auto pc = f.header("prefetch-count")) {
    if (!parse_uint(*pc, prefetch) || prefetch == 0
        || prefetch > cfg->max_prefetch) {
      fail(f, ec::options_error,
           "prefetch-count must be 1-" + std::to_string(cfg->max_prefetch));
      return true;
    }
  }
  const std::string* queue = nullptr;
  if (dest->kind != destination::topic) {
    queue = queue_of(f, *dest);
    if (!queue)
      return true;
  }
  subs.emplace(sub->id, sub);
  auto n = open_slot();
  ++outstanding;
  auto receipt = receipt_for(f);
  auto on_error = [this, n, sub,
                   receipt_id = header_or_empty(f, "receipt")](caf::error& e) {
    if (auto i = subs.find(sub->id); i != subs.end() && i->second == sub)
      subs.erase(i);
    if (sub->durable && is(e, ec::object_already_exists)) {
      error_slot(n,
                 reason_error(ec::object_already_exists,
                              "durable subscription " + sub->sub_name
                                + " exists with another topic; delete it "
                                  "first (UNSUBSCRIBE with "
                                  "activemq.subscriptionName or "
                                  "durable:true)"),
                 receipt_id);
      return;
    }
    error_slot(n, e, receipt_id);
  };
  auto mode_arg = sub->client_ack ? ack_mode::client : ack_mode::automatic;
  auto consume = [this, n, sub, receipt, prefetch, mode_arg,
                  on_error](const std::string& queue) {
    self
      ->request(session, caf::infinite, atom::consume_v, queue, prefetch,
                mode_arg)
      .then(
        [this, n, sub, receipt](uint64_t cid) {
          sub->consumer = cid;
          by_consumer[cid] = sub;
          reply_slot(n, receipt);
        },
        on_error);
  };
  if (dest->kind == destination::topic) {
    subscription_spec spec;
    spec.filter = dest->name;
    if (sub->durable) {
      spec.durable_name = *durable;
      sub->sub_name = *durable; // for error texts until the reply
    }
    self->request(session, caf::infinite, atom::subscribe_v, std::move(spec))
      .then(
        [sub, consume](subscription_info& info) {
          sub->sub_name = info.name;
          consume(info.queue);
        },
        on_error);
  } else {
    consume(*queue);
  }
  return true;
}

bool connection_state::on_unsubscribe(frame& f) {
  // STOMP 1.0: by `id`, or by `destination` (a SUBSCRIBE without id).
  auto id = f.header("id");
  if (version == protocol_version::v1_0 && (!id || id->empty())) {
    id = f.header("destination");
    if (!id || id->empty()) {
      fail(f, ec::options_error,
           "UNSUBSCRIBE needs a non-empty 'id' or 'destination' header");
      return true;
    }
  } else if (id = need(f, "id"); !id) {
    return true;
  }
  // A durable-subscription header on UNSUBSCRIBE deletes that durable
  // subscription (after detaching the consumer `id`, if there is one).
  auto doomed = durable_name(f, client_id);
  if (!doomed) {
    fail(f, doomed.error());
    return true;
  }
  auto i = subs.find(*id);
  if (i == subs.end() && doomed->empty()) {
    fail(f, ec::hobj_error, "no subscription '" + *id + "'");
    return true;
  }
  std::shared_ptr<subscription> sub;
  if (i != subs.end()) {
    sub = i->second;
    if (sub->consumer == 0)
      return false; // still being set up
    subs.erase(i);
    sub->cancelling = true;
  }
  // Non-durable subscriptions end with their consumer; durable ones only
  // when deleted.
  std::vector<std::string> names;
  if (sub && !sub->durable && !sub->sub_name.empty())
    names.push_back(sub->sub_name);
  if (!doomed->empty()) {
    ++deleting[*doomed];
    names.push_back(std::move(*doomed));
  }
  auto n = open_slot();
  ++outstanding;
  auto receipt = receipt_for(f);
  auto receipt_id = header_or_empty(f, "receipt");
  if (!sub) {
    unsubscribe_names(n, std::move(receipt), std::move(receipt_id),
                      std::move(names));
    return true;
  }
  self->request(session, caf::infinite, atom::cancel_v, sub->consumer)
    .then(
      [this, n, sub, receipt, receipt_id, names](atom::ok) mutable {
        by_consumer.erase(sub->consumer);
        unsubscribe_names(n, std::move(receipt), std::move(receipt_id),
                          std::move(names));
      },
      [this, n, receipt_id](caf::error& e) {
        error_slot(n, e, receipt_id);
      });
  return true;
}

void connection_state::unsubscribe_names(uint64_t n, std::string receipt,
                                         std::string receipt_id,
                                         std::vector<std::string> names) {
  if (names.empty()) {
    reply_slot(n, std::move(receipt));
    return;
  }
  auto name = std::move(names.front());
  names.erase(names.begin());
  auto done = [this, name] {
    if (auto i = deleting.find(name); i != deleting.end() && --i->second == 0)
      deleting.erase(i);
  };
  self->request(session, caf::infinite, atom::unsubscribe_v, name)
    .then(
      [this, n, receipt, receipt_id, names, done](atom::ok) mutable {
        done();
        unsubscribe_names(n, std::move(receipt), std::move(receipt_id),
                          std::move(names));
      },
      [this, n, receipt_id, done](caf::error& e) {
        done();
        error_slot(n, e, receipt_id);
      });
}

connection_state::subscription*
connection_state::parse_ack_id(std::string_view id, uint64_t& tag) {
  auto dash = id.find('-');
  uint64_t consumer = 0;
  if (dash == std::string_view::npos || !parse_uint(id.substr(0, dash), consumer)
      || !parse_uint(id.substr(dash + 1), tag))
    return nullptr;
  auto i = by_consumer.find(consumer);
  if (i == by_consumer.end() || !i->second->client_ack)
    return nullptr;
  return i->second.get();
}

connection_state::subscription*
connection_state::ack_target(const frame& f, uint64_t& tag, ec& code,
                             std::string& why) {
  const char* key = version == protocol_version::v1_2 ? "id" : "message-id";
  auto id = f.header(key);
  const std::string* sid = nullptr;
  if (version != protocol_version::v1_2) {
    sid = f.header("subscription");
    if (version == protocol_version::v1_1 && (!sid || sid->empty())) {
      code = ec::options_error;
      why = f.command + " needs a non-empty 'subscription' header";
      return nullptr;
    }
  }
  if (!id || id->empty()) {
    code = ec::options_error;
    why = f.command + " needs a non-empty '" + key + "' header";
    return nullptr;
  }
  auto sub = parse_ack_id(*id, tag);
  if (!sub) {
    code = ec::hobj_error;
    why = std::string{version == protocol_version::v1_2 ? "unknown ack id '"
                                                        : "unknown message-id '"}
          + id->substr(0, 64) + "'";
    return nullptr;
  }
  if (sid && !sid->empty() && sub->id != *sid) {
    code = ec::hobj_error;
    why = "message-id '" + id->substr(0, 64)
          + "' was not delivered to subscription '" + sid->substr(0, 64)
          + "'";
    return nullptr;
  }
  return sub;
}

bool connection_state::on_ack(frame& f, bool ack) {
  uint64_t tag = 0;
  ec code = ec::hobj_error;
  std::string why;
  auto sub = ack_target(f, tag, code, why);
  if (!sub) {
    fail(f, code, std::move(why));
    return true;
  }
  bool requeue = header_or_empty(f, "requeue") != "false";
  auto first = sub->cumulative ? 0 : tag;
  auto last = tag;
  if (auto tx = f.header("transaction")) {
    tx_op op;
    op.kind = ack ? tx_op::ack : tx_op::nack;
    op.consumer = sub->consumer;
    op.first = first;
    op.last = last;
    op.requeue = requeue;
    hold(f, *tx, std::move(op));
    return true;
  }
  std::string receipt_id = header_or_empty(f, "receipt");
  // client-individual: a run of ACKs for consecutive tags of one
  // subscription is one range.
  if (ack && !sub->cumulative) {
    while (receipt_id.empty() && input.size() > 1) {
      auto& next = input[1];
      if (next.command != "ACK" || next.header("transaction") != nullptr)
        break;
      uint64_t ntag = 0;
      ec ncode = ec::hobj_error;
      std::string nwhy;
      if (ack_target(next, ntag, ncode, nwhy) != sub || ntag != last + 1)
        break;
      last = ntag;
      receipt_id = header_or_empty(next, "receipt");
      input.erase(input.begin() + 1);
    }
  }
  std::string receipt_bytes;
  if (!receipt_id.empty())
    append_receipt(receipt_bytes, receipt_id, version);
  auto n = open_slot();
  ++outstanding;
  auto on_ok = [this, n, receipt_bytes](uint64_t) {
    reply_slot(n, receipt_bytes);
  };
  auto on_error = [this, n, receipt_id](caf::error& e) {
    error_slot(n, e, receipt_id);
  };
  if (ack)
    self
      ->request(session, caf::infinite, atom::ack_v, sub->consumer, first,
                last)
      .then(on_ok, on_error);
  else
    self
      ->request(session, caf::infinite, atom::nack_v, sub->consumer, first,
                last, requeue)
      .then(on_ok, on_error);
  return true;
}

bool connection_state::on_begin(frame& f) {
  auto tx = need(f, "transaction");
  if (!tx)
    return true;
  if (txs.count(*tx) > 0) {
    fail(f, ec::options_error, "transaction '" + *tx + "' is already open");
    return true;
  }
  if (txs.size() >= cfg->max_transactions) {
    fail(f, ec::syncpoint_limit_reached,
         std::to_string(cfg->max_transactions)
           + " transactions are open on this connection");
    return true;
  }
  txs[*tx];
  receipt_now(f);
  return true;
}

bool connection_state::on_abort(frame& f) {
  auto tx = need(f, "transaction");
  if (!tx || !known_transaction(f, *tx))
    return true;
  take_transaction(*tx);
  receipt_now(f);
  return true;
}

bool connection_state::on_commit(frame& f) {
  auto tx = need(f, "transaction");
  if (!tx || !known_transaction(f, *tx))
    return true;
  // The commit runs as a chain of requests; later frames wait for it.
  struct job {
    std::vector<tx_op> ops;
    uint64_t slot = 0;
    std::string receipt;
    std::string receipt_id;
    uint64_t uow = 0;
    size_t pending = 0;
    caf::error err;
  };
  auto j = std::make_shared<job>();
  j->ops = take_transaction(*tx);
  j->slot = open_slot();
  j->receipt = receipt_for(f);
  j->receipt_id = header_or_empty(f, "receipt");
  blocked = true;
  auto finish = [this, j] {
    blocked = false;
    if (j->err) {
      error_slot(j->slot, j->err, j->receipt_id);
      return;
    }
    finish_slot(j->slot, j->receipt);
    resume();
  };
  // Step 2, after the puts are committed: publications, then acks and
  // nacks, in frame order.
  auto settle = [this, j, finish] {
    for (auto& op : j->ops) {
      if (op.kind == tx_op::put)
        continue;
      ++j->pending;
      auto done = [j, finish](auto&&...) {
        if (--j->pending == 0)
          finish();
      };
      auto failed = [j, finish](caf::error& e) {
        if (!j->err)
          j->err = std::move(e);
        if (--j->pending == 0)
          finish();
      };
      if (op.kind == tx_op::publish)
        self
          ->request(session, caf::infinite, atom::publish_v, op.address,
                    std::move(op.msg), false)
          .then([done](uint64_t) { done(); }, failed);
      else if (op.kind == tx_op::ack)
        self
          ->request(session, caf::infinite, atom::ack_v, op.consumer,
                    op.first, op.last)
          .then([done](uint64_t) { done(); }, failed);
      else
        self
          ->request(session, caf::infinite, atom::nack_v, op.consumer,
                    op.first, op.last, op.requeue)
          .then([done](uint64_t) { done(); }, failed);
    }
    if (j->pending == 0)
      finish();
  };
  size_t puts = 0;
  for (auto& op : j->ops)
    if (op.kind == tx_op::put)
      ++puts;
  if (puts == 0) {
    settle();
    return true;
  }
  // Step 1: the puts as one unit of work.
  self->request(session, caf::infinite, atom::begin_v)
    .then(
      [this, j, puts, settle, finish](uint64_t uow) {
        j->uow = uow;
        j->pending = puts;
        auto end = [this, j, settle, finish] {
          if (j->err) {
            self->request(session, caf::infinite, atom::backout_v, j->uow)
              .then([finish](atom::ok) { finish(); },
                    [finish](caf::error&) { finish(); });
            return;
          }
          self->request(session, caf::infinite, atom::commit_v, j->uow)
            .then([settle](atom::ok) { settle(); },
                  [j, finish](caf::error& e) {
                    j->err = std::move(e);
                    finish();
                  });
        };
        for (auto& op : j->ops) {
          if (op.kind != tx_op::put)
            continue;
          self
            ->request(session, caf::infinite, atom::put_v, op.address,
                      std::move(op.msg), uow)
            .then(
              [j, end](msg_id&) {
                if (--j->pending == 0)
                  end();
              },
              [j, end](caf::error& e) {
                if (!j->err)
                  j->err = std::move(e);
                if (--j->pending == 0)
                  end();
              });
        }
      },
      [j, finish](caf::error& e) {
        j->err = std::move(e);
        finish();
      });
  return true;
}

bool connection_state::on_disconnect(frame& f) {
  blocked = true;
  finish_slot(open_slot(), receipt_for(f), true);
  return true;
}

// -- deliveries ---------------------------------------------------------------

void connection_state::on_deliver(delivery_batch& batch) {
  auto i = by_consumer.find(batch.consumer_id);
  if (i == by_consumer.end()) {
    log::stomp().warn("stomp {}: {} deliveries for unknown consumer {}",
                      self->id(), batch.messages.size(), batch.consumer_id);
    return;
  }
  auto& sub = *i->second;
  if (closing)
    return;
  if (!batch.ended.empty()) {
    // The subscription's queue was on another queue manager that went
    // away. STOMP lets a server end a subscription only with ERROR, which
    // ends the connection; the client reconnects and subscribes again.
    log::stomp().warn("stomp {}: subscription {}: {}", self->id(), sub.id,
                      batch.ended);
    // `2009 connection_broken: subscription ID: why`, as every ERROR
    // starts with its reason.
    auto text = batch.ended;
    auto colon = text.find(": ");
    text.insert(colon == std::string::npos ? text.size() : colon + 2,
                "subscription " + sub.id + ": ");
    append_error(out, mqrc(ec::connection_broken), text, {}, {}, version);
    close_now();
    return;
  }
  // The delivery id: 1.2 sends it as `ack` (client-ack only), 1.0 and 1.1
  // as `message-id` (always).
  bool with_id = sub.client_ack || version != protocol_version::v1_2;
  std::string_view sub_header = sub.anonymous ? std::string_view{} : sub.id;
  std::string ack_id;
  for (auto& m : batch.messages) {
    if (with_id) {
      ack_id = std::to_string(sub.consumer);
      ack_id += '-';
      ack_id += std::to_string(m.tag);
    }
    append_message(out, m, sub_header, sub.destination, ack_id, version);
  }
  if (!sub.client_ack && !sub.cancelling) {
    auto n = static_cast<uint32_t>(batch.messages.size());
    if (conn->backlog() + out.size() > cfg->max_backlog) {
      sub.owed_credit += n;
      if (!waiting_drain) {
        waiting_drain = true;
        flush();
        conn->notify_when_drained();
      }
    } else {
      self->send(session, atom::credit_v, sub.consumer, n);
    }
  }
  flush();
}

void connection_state::on_session_down(const caf::down_msg& dm) {
  if (closing || !session || dm.source != session.address())
    return;
  log::stomp().info("stomp {}: session ended: {}", self->id(),
                    render(dm.reason));
  if (dm.reason && dm.reason.category() == caf::atom("qmesh"))
    append_error(out, dm.reason, {}, version);
  else
    append_error(out, mqrc(ec::connection_broken),
                 to_string(ec::connection_broken) + ": the session ended ("
                   + render(dm.reason) + ")",
                 {}, {}, version);
  close_now();
}

void connection_state::on_drained() {
  waiting_drain = false;
  for (auto& [cid, sub] : by_consumer) {
    if (sub->owed_credit > 0 && !sub->cancelling)
      self->send(session, atom::credit_v, cid, sub->owed_credit);
    sub->owed_credit = 0;
  }
}

// -- heart-beats --------------------------------------------------------------

milliseconds connection_state::tick_period() const {
  milliseconds period{1000};
  for (auto every : {send_every, expect_every})
    if (every.count() > 0)
      period = std::min(period, every / 2);
  if (timed_frame != 0)
    period = std::min(period, cfg->frame_timeout / 4);
  return std::max(period, milliseconds{10});
}

bool connection_state::needs_tick() const {
  return !connected || send_every.count() > 0 || expect_every.count() > 0
         || timed_frame != 0;
}

void connection_state::schedule_tick() {
  auto period = tick_period();
  tick_armed = true;
  tick_due = steady_clock::now() + period;
  self->delayed_send(self, period, atom::tick_v, ++tick_gen);
}

void connection_state::on_tick(uint64_t gen) {
  if (closing || gen != tick_gen)
    return;
  tick_armed = false;
  auto now = steady_clock::now();
  if (frame_overdue(now)) {
    log::stomp().info("stomp {}: frame from {} not completed within {} ms "
                      "({} bytes so far)",
                      self->id(), conn->peer(), cfg->frame_timeout.count(),
                      codec.buffered());
    append_error(out, mqrc(ec::options_error),
                 to_string(ec::options_error) + ": frame not completed within "
                   + std::to_string(cfg->frame_timeout.count()) + " ms",
                 {}, {}, version);
    close_now();
    return;
  }
  if (!connected) {
    if (now - started >= connect_deadline) {
      append_error(out, mqrc(ec::options_error),
                   to_string(ec::options_error) + ": no CONNECT within "
                     + std::to_string(connect_deadline.count()) + " ms",
                   {}, {}, version);
      close_now();
      return;
    }
    schedule_tick();
    return;
  }
  // A producer paused by flow control (its input held back) is not silent:
  // its bytes wait in the socket.
  if (expect_every.count() > 0 && held_chunks == 0
      && now - last_read > 2 * expect_every) {
    log::stomp().info("stomp {}: heart-beat timeout", self->id());
    append_error(out, mqrc(ec::options_error),
                 to_string(ec::options_error) + ": heart-beat timeout (nothing "
                   "received for "
                   + std::to_string(2 * expect_every.count()) + " ms)",
                 {}, {}, version);
    close_now();
    return;
  }
  if (send_every.count() > 0 && now - last_write >= send_every) {
    out += '\n';
    flush();
  }
  if (needs_tick())
    schedule_tick();
}

// -- frame deadline -------------------------------------------------------------

void connection_state::watch_frame() {
  if (cfg->frame_timeout.count() == 0)
    return;
  auto id = codec.partial_frame();
  if (id == timed_frame)
    return;
  timed_frame = id;
  if (id == 0)
    return;
  frame_started = steady_clock::now();
  if (!tick_armed || tick_due > frame_started + tick_period())
    schedule_tick();
}

bool connection_state::frame_overdue(steady_clock::time_point now) const {
  // While chunks are held back the client cannot send: no deadline runs.
  return timed_frame != 0 && held_chunks == 0
         && codec.partial_frame() == timed_frame
         && now - frame_started >= cfg->frame_timeout;
}

// -- replies ------------------------------------------------------------------

uint64_t connection_state::open_slot() {
  slots.emplace_back();
  return slot_base + slots.size() - 1;
}

void connection_state::finish_slot(uint64_t n, std::string bytes,
                                   bool close) {
  if (closing || n < slot_base)
    return;
  auto& s = slots[n - slot_base];
  s.done = true;
  s.close = close;
  s.out = std::move(bytes);
  if (close)
    blocked = true; // nothing after an ERROR or DISCONNECT is handled
  while (!slots.empty() && slots.front().done) {
    auto& front = slots.front();
    out += front.out;
    if (front.close) {
      close_now();
      return;
    }
    slots.pop_front();
    ++slot_base;
  }
  flush();
}

std::string connection_state::receipt_for(const frame& f) const {
  std::string bytes;
  if (auto r = f.header("receipt"))
    append_receipt(bytes, *r, version);
  return bytes;
}

void connection_state::error_slot(uint64_t n, const caf::error& err,
                                  std::string_view receipt_id) {
  std::string bytes;
  append_error(bytes, err, receipt_id, version);
  finish_slot(n, std::move(bytes), true);
}

void connection_state::reply_slot(uint64_t n, std::string bytes) {
  finish_slot(n, std::move(bytes));
  request_done();
}

void connection_state::receipt_now(const frame& f) {
  if (f.header("receipt"))
    finish_slot(open_slot(), receipt_for(f));
}

void connection_state::fail(const frame& f, const caf::error& err) {
  blocked = true;
  error_slot(open_slot(), err, header_or_empty(f, "receipt"));
}

void connection_state::fail(const frame& f, ec code, std::string text) {
  fail(f, reason_error(code, std::move(text)));
}

void connection_state::request_done() {
  --outstanding;
  resume();
}

void connection_state::flush() {
  if (out.empty() || !conn)
    return;
  last_write = steady_clock::now();
  if (conn->message_oriented()) {
    std::string_view rest{out};
    for (auto n = wire_frame_length(rest); n != 0 && n < rest.size();
         n = wire_frame_length(rest)) {
      conn->write(std::string{rest.substr(0, n)});
      rest.remove_prefix(n);
    }
    // The last frame (or the only one) keeps the buffer.
    out.erase(0, out.size() - rest.size());
  }
  conn->write(std::move(out));
  out.clear();
}

void connection_state::close_now() {
  flush();
  closing = true;
  conn->close_after_flush();
  self->quit();
}

// -- helpers ------------------------------------------------------------------

const std::string* connection_state::need(const frame& f,
                                          std::string_view name) {
  auto value = f.header(name);
  if (!value || value->empty()) {
    fail(f, ec::options_error,
         f.command + " needs a non-empty '" + std::string{name}
           + "' header");
    return nullptr;
  }
  return value;
}

bool connection_state::known_transaction(const frame& f,
                                         const std::string& name) {
  if (txs.count(name) > 0)
    return true;
  fail(f, ec::uow_not_available, "no transaction '" + name + "'");
  return false;
}

void connection_state::hold(const frame& f, const std::string& name,
                            tx_op op) {
  if (!known_transaction(f, name))
    return;
  auto i = txs.find(name);
  if (i->second.size() >= cfg->max_transaction_frames) {
    fail(f, ec::syncpoint_limit_reached,
         "transaction '" + name + "' holds "
           + std::to_string(cfg->max_transaction_frames) + " frames");
    return;
  }
  auto size = op.msg.body.size();
  if (tx_bytes.held() + size > cfg->max_transaction_bytes) {
    fail(f, ec::syncpoint_limit_reached,
         "open transactions hold more than "
           + std::to_string(cfg->max_transaction_bytes) + " bytes");
    return;
  }
  if (!tx_bytes.grow(size)) {
    fail(f, ec::syncpoint_limit_reached,
         "the open transactions of all connections would hold more than the "
         "node-wide "
           + std::to_string(tx_bytes.budget()->limit())
           + " bytes (--stomp-max-transaction-memory)");
    return;
  }
  i->second.push_back(std::move(op));
  receipt_now(f);
}

std::vector<connection_state::tx_op>
connection_state::take_transaction(const std::string& name) {
  std::vector<tx_op> ops;
  if (auto i = txs.find(name); i != txs.end()) {
    ops = std::move(i->second);
    txs.erase(i);
  }
  size_t bytes = 0;
  for (auto& op : ops)
    bytes += op.msg.body.size();
  tx_bytes.shrink(bytes);
  return ops;
}

const std::string* connection_state::temp_queue(std::string_view name) const {
  auto i = temps.find(std::string{name});
  return i == temps.end() || i->second.empty() ? nullptr : &i->second;
}

const std::string* connection_state::queue_of(const frame& f,
                                              const destination& d) {
  if (d.kind != destination::temp_queue)
    return &d.name;
  // temps_ready() created it, unless the connection has too many.
  if (auto real = temp_queue(d.name))
    return real;
  fail(f, ec::options_error,
       "more than " + std::to_string(max_temp_queues)
         + " temporary queues on one connection");
  return nullptr;
}

bool connection_state::temps_ready(const frame& f) {
  bool ready = true;
  for (auto name : {"destination", "reply-to"}) {
    auto value = f.header(name);
    if (!value || !value->starts_with(temp_queue_prefix))
      continue;
    auto temp = value->substr(temp_queue_prefix.size());
    if (!is_valid_name(temp))
      continue; // the frame's handler reports it
    auto i = temps.find(temp);
    if (i != temps.end()) {
      if (i->second.empty())
        ready = false; // being created
      continue;
    }
    if (temps.size() >= max_temp_queues)
      continue; // reported below, as an unknown temp queue
    ready = false;
    temps.emplace(temp, std::string{});
    ++outstanding;
    self->request(session, caf::infinite, atom::define_v, atom::temporary_v)
      .then(
        [this, temp](queue_status& st) {
          temps[temp] = st.name;
          log::stomp().info("stomp {}: /temp-queue/{} is {}", self->id(),
                            temp, st.name);
          request_done();
        },
        [this, temp](caf::error& e) {
          error_slot(open_slot(), e, {});
        });
  }
  return ready;
}

// -- behavior -----------------------------------------------------------------

connection_actor::behavior_type
connection_impl(connection_actor::stateful_pointer<connection_state> self,
                std::shared_ptr<net::stream> conn,
                front_door_actor door,
                std::shared_ptr<const server_settings> cfg,
                protocol_version highest) {
  auto& st = self->state;
  st.self = self;
  st.conn = conn;
  st.door = std::move(door);
  st.cfg = cfg;
  st.highest = highest;
  st.codec = parser{cfg->frame_limits};
  st.codec.negotiate_on_connect(highest);
  st.tx_bytes = net::budget_share{cfg->transaction_memory};
  st.started = st.last_read = st.last_write = steady_clock::now();
  // However the actor ends, the socket closes.
  self->attach_functor([conn] { conn->close_after_flush(); });
  st.schedule_tick(); // the CONNECT deadline
  self->set_down_handler([self](caf::down_msg& dm) {
    self->state.on_session_down(dm);
  });
  return {
    [self](atom::received, std::string& chunk) {
      self->state.on_bytes(chunk);
    },
    [self](atom::drained) { self->state.on_drained(); },
    [self](atom::close, std::string& why) {
      log::stomp().info("stomp {}: connection from {} ended: {}", self->id(),
                        self->state.conn->peer(), why);
      self->state.closing = true;
      self->quit();
    },
    [self](atom::tick, uint64_t gen) { self->state.on_tick(gen); },
    [self](atom::deliver, delivery_batch& batch) {
      self->state.on_deliver(batch);
    },
  };
}

} // namespace qmesh::stomp
