#define CAF_SUITE unit.http_metrics
#include <caf/test/unit_test.hpp>

#include "protocols/http/metrics.hpp"

// The Prometheus text of /metrics, built from plain status values.

using namespace qmesh;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos
         || text.rfind(line + "\n", 0) == 0;
}

} // namespace

CAF_TEST(label values are escaped as the text format says) {
  CAF_CHECK_EQUAL(http::escape_label("plain.Q"), "plain.Q");
  CAF_CHECK_EQUAL(http::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

CAF_TEST(node queue and channel figures become samples) {
  qm_status node;
  node.queue_count = 2;
  node.memory_used = 1234;
  node.memory_alarm = true;
  node.journal_fsyncs = 7;
  node.disk_alarm = false;
  std::vector<queue_status> queues(2);
  queues[0].name = "ORDERS";
  queues[0].current_depth = 5;
  queues[0].enqueued_total = 9;
  queues[1].name = "SYSTEM.DEAD.LETTER.QUEUE";
  cluster_status cluster;
  cluster.enabled = true;
  cluster.members.resize(3);
  cluster.members[0].up = true;
  cluster.members[1].up = true;
  channel_info ch;
  ch.remote = "QM2";
  ch.backlog = 42;
  ch.sent_total = 100;
  cluster.channels.push_back(ch);
  std::vector<connection_info> conns(3);
  conns[0].client.protocol = "stomp";
  conns[1].client.protocol = "stomp";
  conns[2].client.protocol = "mqtt";
  auto text = http::render_metrics(node, queues, cluster, conns);
  CAF_CHECK(has_line(text, "qmesh_connections{protocol=\"stomp\"} 2"));
  CAF_CHECK(has_line(text, "qmesh_connections{protocol=\"native\"} 0"));
  CAF_CHECK(has_line(text, "qmesh_connections{protocol=\"mqtt\"} 1"));
  CAF_CHECK(has_line(text, "qmesh_queues 2"));
  CAF_CHECK(has_line(text, "qmesh_memory_used_bytes 1234"));
  CAF_CHECK(has_line(text, "qmesh_memory_alarm 1"));
  CAF_CHECK(has_line(text, "qmesh_disk_alarm 0"));
  CAF_CHECK(has_line(text, "qmesh_journal_fsyncs_total 7"));
  CAF_CHECK(has_line(text, "# TYPE qmesh_journal_fsyncs_total counter"));
  CAF_CHECK(has_line(text, "qmesh_queue_depth_messages{queue=\"ORDERS\"} 5"));
  CAF_CHECK(has_line(text,
                     "qmesh_queue_messages_put_total{queue=\"ORDERS\"} 9"));
  CAF_CHECK(has_line(
    text, "qmesh_queue_depth_messages{queue=\"SYSTEM.DEAD.LETTER.QUEUE\"} 0"));
  CAF_CHECK(has_line(text, "qmesh_cluster_members_up 2"));
  CAF_CHECK(has_line(text,
                     "qmesh_channel_backlog_messages{remote=\"QM2\"} 42"));
  CAF_CHECK(has_line(text,
                     "qmesh_channel_messages_sent_total{remote=\"QM2\"} 100"));
  // Without a cluster the node counts itself.
  cluster_status alone;
  CAF_CHECK(has_line(http::render_metrics(node, {}, alone, {}),
                     "qmesh_cluster_members_up 1"));
}
