#include "protocols/stomp/mapping.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/names.hpp"
#include "actors/subscription.hpp"

namespace qmesh::stomp {

namespace {

constexpr std::string_view queue_prefix = "/queue/";
constexpr std::string_view topic_prefix = "/topic/";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool parse_int(std::string_view text, int64_t& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

void append_number(std::string& out, int64_t x) {
  std::array<char, 24> buf;
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), x);
  out.append(buf.data(), res.ptr);
}

/// append_header_text() with 1.2, the common case, decided inline.
inline void put_text(std::string& out, std::string_view text,
                     protocol_version v, bool is_name = false) {
  if (v == protocol_version::v1_2)
    append_escaped(out, text);
  else
    append_header_text(out, text, v, is_name);
}

void header(std::string& out, std::string_view name, std::string_view value,
            protocol_version v) {
  out += name;
  out += ':';
  put_text(out, value, v);
  out += '\n';
}

void header(std::string& out, std::string_view name, int64_t value) {
  out += name;
  out += ':';
  append_number(out, value);
  out += '\n';
}

/// Renders reply_to_qmgr / reply_to_queue as a STOMP reply-to value.
void append_reply_to(std::string& out, const message& m, protocol_version v) {
  if (m.reply_to_queue.empty())
    return;
  out += "reply-to:";
  if (!is_valid_name(m.reply_to_queue)) {
    // Kept verbatim (a value that was not a /queue/ address).
    put_text(out, m.reply_to_queue, v);
  } else {
    out += queue_prefix;
    if (!m.reply_to_qmgr.empty()) {
      put_text(out, m.reply_to_qmgr, v);
      out += '/';
    }
    put_text(out, m.reply_to_queue, v);
  }
  out += '\n';
}

} // namespace

caf::expected<destination> parse_destination(std::string_view text) {
  destination d;
  if (starts_with(text, queue_prefix)) {
    auto rest = text.substr(queue_prefix.size());
    address a;
    if (!parse_address(rest, a))
      return reason_error(ec::object_name_error,
                          "bad queue in destination '" + std::string{text}
                            + "' (" + std::string{name_rule} + ")");
    d.kind = destination::queue;
    d.name = std::string{rest};
    return d;
  }
  if (starts_with(text, topic_prefix)) {
    auto rest = text.substr(topic_prefix.size());
    if (rest.empty())
      return reason_error(ec::topic_string_error,
                          "empty topic in destination '" + std::string{text}
                            + "'");
    d.kind = destination::topic;
    d.name = std::string{rest};
    return d;
  }
  if (starts_with(text, temp_queue_prefix)) {
    auto rest = text.substr(temp_queue_prefix.size());
    if (!is_valid_name(rest))
      return reason_error(ec::object_name_error,
                          "bad temporary queue name in destination '"
                            + std::string{text} + "' ("
                            + std::string{name_rule} + ")");
    d.kind = destination::temp_queue;
    d.name = std::string{rest};
    return d;
  }
  return reason_error(ec::unknown_object_name,
                      "unsupported destination '"
                        + std::string{text.substr(0, 256)}
                        + "' (use /queue/, /topic/ or /temp-queue/)");
}

void append_name_part(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '_') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
}

namespace {

/// Parses a true/false header; absent is false. False with `err` set for
/// any other value.
bool flag(const frame& f, std::string_view name, caf::error& err) {
  auto v = f.header(name);
  if (!v || *v == "false")
    return false;
  if (*v == "true")
    return true;
  if (!err)
    err = reason_error(ec::options_error,
                       std::string{name} + " must be true or false, not '"
                         + v->substr(0, 32) + "'");
  return false;
}

/// `'text'` for error texts: at most 64 bytes, control characters as `?`.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 64))
    out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (text.size() > 64)
    out += "...";
  out += '\'';
  return out;
}

} // namespace

caf::expected<std::string> durable_name(const frame& f,
                                        std::string_view client_id) {
  caf::error err;
  // Both RabbitMQ flags are checked even when ActiveMQ's header decides,
  // so that a bad value is never ignored.
  bool durable = flag(f, "durable", err);
  bool persistent = flag(f, "persistent", err);
  if (err)
    return err;
  auto amq = f.header("activemq.subscriptionName");
  auto old = f.header("durable-subscription-name");
  std::string_view amq_header = "activemq.subscriptionName";
  if (amq && old && *amq != *old)
    return reason_error(ec::options_error,
                        "activemq.subscriptionName and "
                        "durable-subscription-name differ");
  if (!amq && old) {
    amq = old;
    amq_header = "durable-subscription-name";
  }
  std::string name;
  std::string from;
  if (amq) {
    if (amq->empty())
      return reason_error(ec::object_name_error,
                          std::string{amq_header} + " is empty");
    if (client_id.empty())
      return reason_error(ec::options_error,
                          std::string{amq_header}
                            + " needs a client-id header on CONNECT (the "
                              "durable subscription is named "
                              "<client-id>.<name>)");
    append_name_part(name, client_id);
    name += '.';
    append_name_part(name, *amq);
    from = "client-id " + quoted(client_id) + " and " + std::string{amq_header}
           + " " + quoted(*amq);
  } else if (durable || persistent) {
    std::string_view which = durable ? "durable:true" : "persistent:true";
    auto id = f.header("id");
    if (!id || id->empty())
      return reason_error(ec::options_error,
                          std::string{which} + " needs an id (the durable "
                                               "subscription is named after "
                                               "it)");
    if (!client_id.empty()) {
      append_name_part(name, client_id);
      name += '.';
      from = "client-id " + quoted(client_id) + " and ";
    }
    append_name_part(name, *id);
    from += "id " + quoted(*id);
  } else {
    return std::string{};
  }
  if (!is_valid_name(name))
    return reason_error(ec::object_name_error,
                        "durable subscription name " + quoted(name)
                          + " (from " + from + ") breaks the name rules ("
                          + std::string{name_rule}
                          + "); characters other than A-Z a-z 0-9 _ count "
                            "3 each (%XX): use a shorter name or client-id");
  return name;
}

caf::error refused_subscribe_header(const frame& f) {
  struct refused {
    std::string_view name;
    /// The one value that asks for what qmesh does anyway (accepted);
    /// empty: every value is refused.
    std::string_view harmless;
    std::string_view why;
  };
  static constexpr std::array<refused, 20> list{{
    {"selector", "", "message selectors are not implemented"},
    {"activemq.selector", "", "message selectors are not implemented"},
    {"activemq.noLocal", "false", "a subscriber gets its own publications"},
    {"activemq.retroactive", "false",
     "a subscription gets only what is published after it is made "
     "(and retained publications)"},
    {"activemq.exclusive", "false", "exclusive consumers are not implemented"},
    {"exclusive", "false", "exclusive queues are not implemented"},
    {"x-queue-type", "classic", "qmesh queues have one type"},
    {"x-queue-name", "", "a subscription's queue cannot be named over STOMP"},
    {"x-stream-offset", "", "streams are not implemented"},
    {"x-stream-filter", "", "streams are not implemented"},
    {"x-message-ttl", "", "queue attributes are set with define/alter"},
    {"x-expires", "", "queue attributes are set with define/alter"},
    {"x-max-length", "", "queue attributes are set with define/alter"},
    {"x-max-length-bytes", "", "queue attributes are set with define/alter"},
    {"x-max-priority", "", "queue attributes are set with define/alter"},
    {"x-overflow", "", "queue attributes are set with define/alter"},
    {"x-dead-letter-exchange", "",
     "queue attributes are set with define/alter"},
    {"x-dead-letter-routing-key", "",
     "queue attributes are set with define/alter"},
    {"x-single-active-consumer", "",
     "single active consumer is not implemented"},
    {"x-priority", "", "consumer priorities are not implemented"},
  }};
  for (const auto& [name, value] : f.headers)
    for (const auto& r : list)
      if (r.name == name && (r.harmless.empty() || value != r.harmless))
        return reason_error(ec::options_error,
                            "SUBSCRIBE header '" + name + ":"
                              + value.substr(0, 64)
                              + "' is not supported by qmesh ("
                              + std::string{r.why} + ")");
  return {};
}

bool is_reserved_header(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 19> reserved{
    "destination", "receipt",       "transaction", "content-length",
    "content-type", "message-id",   "correlation-id", "priority",
    "persistent",   "expires",      "reply-to",    "subscription",
    "ack",          "redelivered",  "timestamp",   "qmesh-origin-qmgr",
    "receipt-id",   "qmesh-reason", "qmesh-message-id",
  };
  for (auto r : reserved)
    if (r == name)
      return true;
  return name == topic_property;
}

caf::error to_message(frame& f, message& out, int64_t now_ms,
                      const temp_lookup& temps) {
  // Repeated headers: the first occurrence wins. Mapped headers are
  // marked as seen; user properties keep their first value by emplace.
  static constexpr std::array<std::string_view, 7> mapped{
    "message-id", "correlation-id", "priority",     "persistent",
    "expires",    "reply-to",       "content-type",
  };
  unsigned seen = 0;
  for (auto& [name, value] : f.headers) {
    auto k = static_cast<size_t>(
      std::find(mapped.begin(), mapped.end(), name) - mapped.begin());
    if (k < mapped.size()) {
      if (seen & (1u << k))
        continue;
      seen |= 1u << k;
    }
    if (name == "message-id") {
      auto id = msg_id::parse(value);
      if (!id)
        return reason_error(ec::options_error,
                            "message-id must be 32 hex digits");
      out.id = *id;
    } else if (name == "correlation-id") {
      out.correl_id = std::move(value);
    } else if (name == "priority") {
      int64_t p = 0;
      if (!parse_int(value, p) || p < 0 || p > 9)
        return reason_error(ec::priority_error,
                            "priority must be 0-9, not '"
                              + value.substr(0, 32) + "'");
      out.priority = static_cast<int8_t>(p);
    } else if (name == "persistent") {
      if (value == "true")
        out.persistent = static_cast<int8_t>(persistence::yes);
      else if (value == "false")
        out.persistent = static_cast<int8_t>(persistence::no);
      else
        return reason_error(ec::options_error,
                            "persistent must be true or false");
    } else if (name == "expires") {
      int64_t at = 0;
      if (!parse_int(value, at) || at < 0)
        return reason_error(ec::options_error,
                            "expires must be ms since the epoch (0 = never)");
      if (at > 0)
        out.expiry = at > now_ms ? at - now_ms : expired_on_arrival;
    } else if (name == "reply-to") {
      if (starts_with(value, queue_prefix)) {
        std::string_view rest{value};
        rest.remove_prefix(queue_prefix.size());
        address a;
        if (parse_address(rest, a)) {
          out.reply_to_qmgr = std::string{a.qmgr};
          out.reply_to_queue = std::string{a.queue};
          continue;
        }
      } else if (starts_with(value, temp_queue_prefix)) {
        std::string_view rest{value};
        rest.remove_prefix(temp_queue_prefix.size());
        if (auto real = temps ? temps(rest) : nullptr) {
          out.reply_to_queue = *real;
          continue;
        }
      }
      out.reply_to_queue = std::move(value);
    } else if (name == "content-type") {
      out.content_type = std::move(value);
    } else if (!is_reserved_header(name)) {
      out.properties.emplace(std::move(name), std::move(value));
    }
  }
  out.body = std::move(f.body);
  return {};
}

std::string_view delivery_destination(const message& m, std::string_view dest,
                                      std::string& scratch) {
  auto i = m.properties.find(std::string{topic_property});
  if (i == m.properties.end())
    return dest;
  scratch.assign(topic_prefix);
  scratch += i->second;
  return scratch;
}

void append_message(std::string& out, const message& m,
                    std::string_view subscription, std::string_view dest,
                    std::string_view delivery_id, protocol_version v) {
  bool v12 = v == protocol_version::v1_2;
  out += "MESSAGE\n";
  if (!subscription.empty())
    header(out, "subscription", subscription, v);
  out += "message-id:";
  if (v12) {
    out += to_string(m.id);
  } else {
    // 1.0 and 1.1 acknowledge by message-id: the delivery's id. The
    // message's own id goes in qmesh-message-id.
    put_text(out, delivery_id, v);
    out += "\nqmesh-message-id:";
    out += to_string(m.id);
  }
  out += '\n';
  std::string scratch;
  header(out, "destination", delivery_destination(m, dest, scratch), v);
  if (v12 && !delivery_id.empty())
    header(out, "ack", delivery_id, v);
  if (!m.content_type.empty())
    header(out, "content-type", m.content_type, v);
  if (!m.correl_id.empty())
    header(out, "correlation-id", m.correl_id, v);
  append_reply_to(out, m, v);
  if (m.priority >= 0)
    header(out, "priority", m.priority);
  out += m.is_persistent() ? "persistent:true\n" : "persistent:false\n";
  if (m.expiry > 0)
    header(out, "expires", m.put_time + m.expiry);
  header(out, "timestamp", m.put_time);
  if (m.redelivered())
    out += "redelivered:true\n";
  if (!m.origin_qmgr.empty())
    header(out, "qmesh-origin-qmgr", m.origin_qmgr, v);
  for (const auto& [k, val] : m.properties) {
    if (is_reserved_header(k))
      continue;
    put_text(out, k, v, true);
    out += ':';
    put_text(out, val, v);
    out += '\n';
  }
  header(out, "content-length", static_cast<int64_t>(m.body.size()));
  out += '\n';
  out += m.body;
  out += '\0';
}

void append_receipt(std::string& out, std::string_view receipt_id,
                    protocol_version v) {
  out += "RECEIPT\n";
  header(out, "receipt-id", receipt_id, v);
  out += '\n';
  out += '\0';
}

void append_error(std::string& out, int mqrc, std::string_view text,
                  std::string_view receipt_id, std::string_view versions,
                  protocol_version v) {
  // One line in the header; the body carries the same text.
  std::string line{text.substr(0, 1024)};
  for (auto& c : line)
    if (c == '\n' || c == '\r')
      c = ' ';
  out += "ERROR\n";
  header(out, "message", line, v);
  header(out, "qmesh-reason", mqrc);
  if (!receipt_id.empty())
    header(out, "receipt-id", receipt_id, v);
  if (!versions.empty())
    header(out, "version", versions, v);
  out += "content-type:text/plain\n";
  header(out, "content-length", static_cast<int64_t>(line.size() + 1));
  out += '\n';
  out += line;
  out += '\n';
  out += '\0';
}

void append_error(std::string& out, const caf::error& err,
                  std::string_view receipt_id, protocol_version v) {
  if (err && err.category() == caf::atom("qmesh")) {
    append_error(out, mqrc(static_cast<ec>(err.code())), render(err),
                 receipt_id, {}, v);
    return;
  }
  append_error(out, mqrc(ec::unexpected_error),
               to_string(ec::unexpected_error) + ": " + render(err),
               receipt_id, {}, v);
}

} // namespace qmesh::stomp
