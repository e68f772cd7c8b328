#include "core/json_view.hpp"

namespace qmesh {

ordered_json to_json(const queue_status& s) {
  const auto& a = s.attrs;
  ordered_json j;
  j["name"] = s.name;
  j["description"] = a.description;
  j["max_depth"] = a.max_depth;
  j["max_msg_length"] = a.max_msg_length;
  j["default_persistence"] = a.default_persistence;
  j["default_priority"] = static_cast<int>(a.default_priority);
  j["put_inhibited"] = a.put_inhibited;
  j["get_inhibited"] = a.get_inhibited;
  j["backout_threshold"] = a.backout_threshold;
  j["backout_queue"] = a.backout_queue;
  j["cluster"] = a.cluster;
  j["overflow_policy"] = to_string(a.overflow);
  j["current_depth"] = s.current_depth;
  j["unacked_count"] = s.unacked_count;
  j["uncommitted_count"] = s.uncommitted_count;
  j["open_input_count"] = s.open_input_count;
  j["open_output_count"] = s.open_output_count;
  j["consumer_count"] = s.consumer_count;
  j["enqueued_total"] = s.enqueued_total;
  j["dequeued_total"] = s.dequeued_total;
  j["expired_total"] = s.expired_total;
  j["oldest_msg_age"] = s.oldest_msg_age;
  j["dropped_total"] = s.dropped_total;
  j["rejected_total"] = s.rejected_total;
  j["blocked_count"] = s.blocked_count;
  j["blocked_total"] = s.blocked_total;
  j["blocked_ms_total"] = s.blocked_ms_total;
  return j;
}

ordered_json to_json(const subscription_info& s) {
  ordered_json j;
  j["id"] = s.id;
  j["name"] = s.name;
  j["filter"] = s.filter;
  j["queue"] = s.queue;
  j["durable"] = s.durable;
  j["managed_queue"] = s.managed_queue;
  j["delivered_total"] = s.delivered_total;
  return j;
}

ordered_json to_json(const connection_info& c) {
  ordered_json j;
  j["id"] = c.id;
  j["protocol"] = c.client.protocol;
  j["peer"] = c.client.peer;
  j["user"] = c.client.user;
  j["connected_at_ms"] = c.connected_at_ms;
  return j;
}

ordered_json to_json(const qm_status& st) {
  ordered_json j;
  j["qmgr"] = st.name;
  j["version"] = st.version;
  j["queue_count"] = st.queue_count;
  j["subscription_count"] = st.subscription_count;
  j["open_uow_count"] = st.open_uow_count;
  j["retained_count"] = st.retained_count;
  j["uptime_ms"] = st.uptime_ms;
  j["connection_count"] = st.connection_count;
  // The asking connection's user (null: anonymous) and the connections
  // per user; anonymous ones are counted apart.
  if (st.user.empty())
    j["user"] = nullptr;
  else
    j["user"] = st.user;
  auto by_user = ordered_json::object();
  uint64_t anonymous = 0;
  for (const auto& [user, n] : st.connections_by_user) {
    if (user.empty())
      anonymous = n;
    else
      by_user[user] = n;
  }
  j["connections_by_user"] = std::move(by_user);
  j["anonymous_connections"] = anonymous;
  j["memory_limit"] = st.memory_limit;
  j["memory_used"] = st.memory_used;
  j["memory_alarm"] = st.memory_alarm;
  j["memory_alarms_total"] = st.memory_alarms_total;
  j["paused_puts"] = st.paused_puts;
  j["held_publications"] = st.held_publications;
  j["held_publications_total"] = st.held_publications_total;
  j["put_wait_ms"] = st.put_wait_ms;
  j["journal_bytes"] = st.journal_bytes;
  j["journal_segments"] = st.journal_segments;
  j["journal_records"] = st.journal_records;
  j["journal_live_messages"] = st.journal_live_messages;
  j["journal_fsyncs"] = st.journal_fsyncs;
  j["journal_records_per_fsync"]
    = st.journal_fsyncs == 0
        ? 0.0
        : static_cast<double>(st.journal_records_synced)
            / static_cast<double>(st.journal_fsyncs);
  j["journal_recovery_ms"] = st.journal_recovery_ms;
  j["disk_free"] = st.disk_free;
  j["disk_alarm"] = st.disk_alarm;
  return j;
}

ordered_json to_json(const cluster_status& st) {
  ordered_json j;
  j["self"] = st.self;
  j["enabled"] = st.enabled;
  j["listen"] = st.listen;
  auto members = ordered_json::array();
  for (const auto& m : st.members) {
    ordered_json e;
    e["name"] = m.name;
    e["state"] = m.up ? "up" : "down";
    e["since_ms"] = m.since_ms;
    e["address"] = m.address;
    e["incarnation"] = m.incarnation;
    e["version"] = m.version;
    e["queues"] = m.queues;
    e["consumed"] = m.consumed;
    e["filters"] = m.filters;
    members.push_back(std::move(e));
  }
  j["members"] = std::move(members);
  auto channels = ordered_json::array();
  for (const auto& ch : st.channels) {
    ordered_json e;
    e["remote"] = ch.remote;
    e["state"] = ch.state;
    e["backlog"] = ch.backlog;
    e["in_flight"] = ch.in_flight;
    e["sent_total"] = ch.sent_total;
    e["batches_total"] = ch.batches_total;
    e["since_ms"] = ch.since_ms;
    e["last_error"] = ch.last_error;
    channels.push_back(std::move(e));
  }
  j["channels"] = std::move(channels);
  return j;
}

ordered_json to_json(const message& m) {
  ordered_json j;
  j["msg_id"] = to_string(m.id);
  j["correl_id"] = m.correl_id;
  j["priority"] = static_cast<int>(m.priority);
  j["persistent"] = m.is_persistent();
  j["expiry"] = m.expiry;
  j["reply_to_queue"] = m.reply_to_queue;
  j["reply_to_qmgr"] = m.reply_to_qmgr;
  j["put_time"] = m.put_time;
  j["origin_qmgr"] = m.origin_qmgr;
  j["delivery_count"] = m.delivery_count;
  j["redelivered"] = m.redelivered();
  j["content_type"] = m.content_type;
  j["properties"] = m.properties;
  j["body"] = m.body;
  return j;
}

bool to_attr_map(const nlohmann::json& j, attr_map& out) {
  if (!j.is_object())
    return false;
  for (const auto& [key, value] : j.items()) {
    if (value.is_string())
      out[key] = value.get<std::string>();
    else if (value.is_boolean())
      out[key] = value.get<bool>() ? "true" : "false";
    else if (value.is_number_integer() || value.is_number_unsigned())
      out[key] = value.dump();
    else
      return false;
  }
  return true;
}

} // namespace qmesh
