// The qmesh CLI's node information and control: status, connections,
// disconnect and cluster.
#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/json_view.hpp"
#include "tools/cli/cli.hpp"

namespace qmesh::cli {

using json = nlohmann::ordered_json;

int cmd_connections(const command& cmd, std::vector<std::string>& args,
                    global_options& g) {
  bool as_json = false;
  if (!parse_json_only(cmd, args, g, as_json, "print a JSON array"))
    return exit_ok;
  auto c = connect(g);
  auto conns = c.connections();
  if (as_json) {
    auto arr = json::array();
    for (const auto& x : conns)
      arr.push_back(json(qmesh::to_json(x)));
    std::cout << arr.dump(2) << '\n';
    return exit_ok;
  }
  auto now = qmesh::wall_clock_ms();
  std::cout << "ID  PROTOCOL  PEER  USER  AGE\n";
  for (const auto& x : conns)
    std::cout << x.id << "  " << x.client.protocol << "  "
              << shown(x.client.peer) << "  "
              << (x.client.user.empty() ? "-" : shown(x.client.user))
              << "  " << std::max<int64_t>(now - x.connected_at_ms, 0) / 1000
              << "s\n";
  return exit_ok;
}

int cmd_disconnect(const command& cmd, std::vector<std::string>& args,
                   global_options& g) {
  std::string id_text;
  po::options_description desc{"Options"};
  desc.add_options()("id", po::value(&id_text)->required(),
                     "connection id (from `qmesh connections`)");
  po::positional_options_description pos;
  pos.add("id", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  uint64_t id = 0;
  if (!parse_uint(id_text, id))
    throw usage_error("connection id '" + id_text.substr(0, 32)
                      + "': expected a number");
  auto c = connect(g);
  c.disconnect(id);
  std::cout << "connection " << id << " closed\n";
  return exit_ok;
}

int cmd_status(const command& cmd, std::vector<std::string>& args,
               global_options& g) {
  bool as_json = false;
  if (!parse_json_only(cmd, args, g, as_json, "print a JSON object"))
    return exit_ok;
  auto c = connect(g);
  auto st = c.status();
  // One list of fields for both forms, in this order.
  nlohmann::ordered_json j;
  auto view = qmesh::to_json(st);
  for (auto& [key, value] : view.items()) {
    j[key] = value;
    if (key == "version")
      j["node"] = g.host + ":" + std::to_string(g.port);
  }
  if (as_json) {
    std::cout << j.dump(2) << '\n';
    return exit_ok;
  }
  for (auto& [key, value] : j.items()) {
    if (key == "user") {
      std::cout << "connected as: "
                << (value.is_string() ? shown(value.get<std::string>())
                                      : std::string{"anonymous"})
                << '\n';
    } else if (key == "connections_by_user") {
      std::string line;
      for (auto& [user, n] : value.items())
        line += (line.empty() ? "" : ", ") + shown(user) + "=" + n.dump();
      std::cout << "connections by user: " << (line.empty() ? "-" : line)
                << '\n';
    } else {
      std::cout << key << ": "
                << (value.is_string() ? shown(value.get<std::string>())
                                      : value.dump())
                << '\n';
    }
  }
  return exit_ok;
}

int cmd_cluster(const command& cmd, std::vector<std::string>& args,
                global_options& g) {
  bool as_json = false;
  if (!parse_json_only(cmd, args, g, as_json, "print a JSON object"))
    return exit_ok;
  auto c = connect(g);
  auto st = c.cluster();
  if (as_json) {
    json j = qmesh::to_json(st);
    std::cout << j.dump(2) << '\n';
    return exit_ok;
  }
  if (!st.enabled)
    std::cout << "queue manager " << st.self
              << ": not clustered (no --cluster-listen)\n\n";
  std::vector<std::vector<std::string>> rows{
    {"NAME", "STATE", "SINCE", "ADDRESS", "QUEUES", "FILTERS"}};
  for (const auto& m : st.members)
    rows.push_back({(m.name == st.self ? "*" : " ") + m.name,
                    m.up ? "up" : "down", utc_time(m.since_ms),
                    m.address.empty() ? "-" : m.address, joined(m.queues),
                    joined(m.filters)});
  print_table(rows);
  std::cout << '\n';
  rows = {{"REMOTE", "STATE", "BACKLOG", "IN-FLIGHT", "SENT", "LAST-ERROR"}};
  for (const auto& ch : st.channels)
    rows.push_back({ch.remote, ch.state, std::to_string(ch.backlog),
                    std::to_string(ch.in_flight),
                    std::to_string(ch.sent_total),
                    ch.last_error.empty() ? "-" : ch.last_error});
  print_table(rows);
  return exit_ok;
}

} // namespace qmesh::cli
