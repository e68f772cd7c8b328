#include "protocols/http/metrics.hpp"

#include <map>

#include <cstdio>

namespace qmesh::http {

namespace {

/// Appends the HELP and TYPE lines of one metric family.
void family(std::string& out, const char* name, const char* type,
            const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

template <class T>
void sample(std::string& out, const char* name, T value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

template <class T>
void sample(std::string& out, const char* name, const char* label,
            std::string_view label_value, T value) {
  out += name;
  out += '{';
  out += label;
  out += "=\"";
  out += escape_label(label_value);
  out += "\"} ";
  out += std::to_string(value);
  out += '\n';
}

void gauge(std::string& out, const char* name, const char* help,
           double value) {
  family(out, name, "gauge", help);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  out += name;
  out += ' ';
  out += buf;
  out += '\n';
}

template <class T>
void single(std::string& out, const char* name, const char* type,
            const char* help, T value) {
  family(out, name, type, help);
  sample(out, name, value);
}

/// One family with a sample per queue.
template <class F>
void per_queue(std::string& out, const std::vector<queue_status>& queues,
               const char* name, const char* type, const char* help, F get) {
  family(out, name, type, help);
  for (const auto& q : queues)
    sample(out, name, "queue", q.name, get(q));
}

} // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_metrics(const qm_status& node,
                           const std::vector<queue_status>& queues,
                           const cluster_status& cluster,
                           const std::vector<connection_info>& connections) {
  std::string out;
  out.reserve(4096 + queues.size() * 600);
  gauge(out, "qmesh_uptime_seconds", "Seconds since the queue manager started.",
        static_cast<double>(node.uptime_ms) / 1000.0);
  single(out, "qmesh_queues", "gauge", "Queues defined.", node.queue_count);
  single(out, "qmesh_subscriptions", "gauge", "Subscriptions.",
         node.subscription_count);
  // Per protocol; the four front-ends always appear, others as they come.
  std::map<std::string, uint64_t> by_protocol{
    {"native", 0}, {"stomp", 0}, {"ws", 0}, {"http", 0}};
  for (const auto& c : connections)
    ++by_protocol[c.client.protocol];
  family(out, "qmesh_connections", "gauge",
         "Client connections (sessions) by protocol.");
  for (const auto& [protocol, n] : by_protocol)
    sample(out, "qmesh_connections", "protocol", protocol, n);
  single(out, "qmesh_units_of_work_open", "gauge",
         "Units of work begun and not ended.", node.open_uow_count);
  // -- flow control --
  single(out, "qmesh_memory_used_bytes", "gauge",
         "Resident memory of the node.", node.memory_used);
  single(out, "qmesh_memory_limit_bytes", "gauge",
         "The node's memory limit.", node.memory_limit);
  single(out, "qmesh_memory_alarm", "gauge",
         "1 while the node is over its memory limit (producers held).",
         node.memory_alarm ? 1 : 0);
  single(out, "qmesh_memory_alarms_total", "counter",
         "Times the memory alarm was raised.", node.memory_alarms_total);
  single(out, "qmesh_paused_puts", "gauge",
         "Puts held for room in a queue or for the memory alarm.",
         node.paused_puts);
  single(out, "qmesh_held_publications", "gauge",
         "Publications held for slow subscriptions or the alarm.",
         node.held_publications);
  single(out, "qmesh_held_publications_total", "counter",
         "Publications ever held.", node.held_publications_total);
  // -- journal --
  single(out, "qmesh_journal_bytes", "gauge", "Bytes in journal segments.",
         node.journal_bytes);
  single(out, "qmesh_journal_segments", "gauge", "Journal segment files.",
         node.journal_segments);
  single(out, "qmesh_journal_records_total", "counter",
         "Journal records appended since start.", node.journal_records);
  single(out, "qmesh_journal_live_messages", "gauge",
         "Persistent messages stored.", node.journal_live_messages);
  single(out, "qmesh_journal_fsyncs_total", "counter",
         "Journal batches written with one fdatasync each.",
         node.journal_fsyncs);
  single(out, "qmesh_journal_records_synced_total", "counter",
         "Records in those batches (records per fsync = this / fsyncs).",
         node.journal_records_synced);
  single(out, "qmesh_disk_free_bytes", "gauge",
         "Free bytes on the journal's disk.", node.disk_free);
  single(out, "qmesh_disk_alarm", "gauge",
         "1 while persistent puts are refused for lack of disk.",
         node.disk_alarm ? 1 : 0);
  // -- queues --
  per_queue(out, queues, "qmesh_queue_depth_messages", "gauge",
            "Messages a queue holds (ready, unacked, uncommitted).",
            [](const queue_status& q) { return q.current_depth; });
  per_queue(out, queues, "qmesh_queue_unacked_messages", "gauge",
            "Messages delivered and not yet acknowledged.",
            [](const queue_status& q) { return q.unacked_count; });
  per_queue(out, queues, "qmesh_queue_consumers", "gauge",
            "Consumers of a queue.",
            [](const queue_status& q) { return q.consumer_count; });
  per_queue(out, queues, "qmesh_queue_messages_put_total", "counter",
            "Messages put on a queue.",
            [](const queue_status& q) { return q.enqueued_total; });
  per_queue(out, queues, "qmesh_queue_messages_got_total", "counter",
            "Messages removed from a queue by gets and acks.",
            [](const queue_status& q) { return q.dequeued_total; });
  per_queue(out, queues, "qmesh_queue_messages_expired_total", "counter",
            "Messages that expired on a queue.",
            [](const queue_status& q) { return q.expired_total; });
  per_queue(out, queues, "qmesh_queue_messages_dropped_total", "counter",
            "Messages dropped by the drop-oldest policy.",
            [](const queue_status& q) { return q.dropped_total; });
  per_queue(out, queues, "qmesh_queue_puts_rejected_total", "counter",
            "Puts refused with 2053 (queue full).",
            [](const queue_status& q) { return q.rejected_total; });
  per_queue(out, queues, "qmesh_queue_oldest_message_age_seconds", "gauge",
            "Age of the oldest ready message.",
            [](const queue_status& q) {
              return static_cast<double>(q.oldest_msg_age) / 1000.0;
            });
  // -- cluster --
  uint64_t up = 0;
  for (const auto& m : cluster.members)
    up += m.up ? 1 : 0;
  single(out, "qmesh_cluster_members_up", "gauge",
         "Cluster members up as this node sees them (itself included).",
         cluster.enabled ? up : 1);
  family(out, "qmesh_channel_backlog_messages", "gauge",
         "Messages waiting in the transmission queue of a remote queue "
         "manager.");
  for (const auto& c : cluster.channels)
    sample(out, "qmesh_channel_backlog_messages", "remote", c.remote,
           c.backlog);
  family(out, "qmesh_channel_messages_sent_total", "counter",
         "Messages a channel moved to its remote queue manager.");
  for (const auto& c : cluster.channels)
    sample(out, "qmesh_channel_messages_sent_total", "remote", c.remote,
           c.sent_total);
  return out;
}

} // namespace qmesh::http
