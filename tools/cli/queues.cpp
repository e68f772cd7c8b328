// The qmesh CLI's queue administration: define-queue, delete-queue, purge,
// list-queues, inquire and set.
#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/json_view.hpp"
#include "tools/cli/cli.hpp"

namespace qmesh::cli {

using json = nlohmann::ordered_json;

namespace {

/// Parses `NAME --ATTR VALUE...` (define-queue, set); false after --help.
bool parse_name_and_attrs(const command& cmd, std::vector<std::string>& args,
                          global_options& g, std::string& name,
                          qmesh::attr_map& changes) {
  attr_options attrs;
  po::options_description desc{"Options"};
  attrs.add_to(desc);
  po::variables_map vm;
  if (!parse_named(cmd, args, g, name, "queue name", desc, vm))
    return false;
  changes = attrs.make(vm);
  return true;
}

} // namespace

int cmd_define(const command& cmd, std::vector<std::string>& args,
               global_options& g) {
  std::string name;
  qmesh::attr_map changes;
  if (!parse_name_and_attrs(cmd, args, g, name, changes))
    return exit_ok;
  auto c = connect(g);
  auto st = c.define(name, changes);
  std::cout << "queue " << st.name << " defined\n";
  return exit_ok;
}

int cmd_delete(const command& cmd, std::vector<std::string>& args,
               global_options& g) {
  std::string name;
  bool purge = false;
  po::options_description desc{"Options"};
  desc.add_options()("purge", po::bool_switch(&purge),
                     "delete its messages too");
  po::variables_map vm;
  if (!parse_named(cmd, args, g, name, "queue name", desc, vm))
    return exit_ok;
  auto c = connect(g);
  auto n = c.delete_queue(name, purge);
  std::cout << "queue " << name << " deleted";
  if (purge)
    std::cout << " (" << n << " messages purged)";
  std::cout << '\n';
  return exit_ok;
}

int cmd_purge(const command& cmd, std::vector<std::string>& args,
              global_options& g) {
  std::string name;
  po::options_description desc{"Options"};
  po::variables_map vm;
  if (!parse_named(cmd, args, g, name, "queue name", desc, vm))
    return exit_ok;
  auto c = connect(g);
  auto n = c.purge(name);
  std::cout << n << " messages purged from " << name << '\n';
  return exit_ok;
}

int cmd_list(const command& cmd, std::vector<std::string>& args,
             global_options& g) {
  std::string pattern = "*";
  bool as_json = false;
  po::options_description desc{"Options"};
  desc.add_options()("pattern", po::value(&pattern),
                     "queue names to list (`*` all, `ABC*` prefix)")(
    "json", po::bool_switch(&as_json), "print a JSON array");
  po::positional_options_description pos;
  pos.add("pattern", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  auto c = connect(g);
  auto queues = c.list(pattern);
  if (as_json) {
    auto arr = json::array();
    for (const auto& q : queues)
      arr.push_back(qmesh::to_json(q));
    std::cout << arr.dump(2) << '\n';
    return exit_ok;
  }
  size_t width = 5;
  for (const auto& q : queues)
    width = std::max(width, q.name.size());
  auto row = [&](const std::string& a, const std::string& b,
                 const std::string& c) {
    std::cout << a << std::string(width - a.size() + 2, ' ');
    std::cout << std::string(b.size() < 10 ? 10 - b.size() : 0, ' ') << b
              << "  ";
    std::cout << std::string(c.size() < 9 ? 9 - c.size() : 0, ' ') << c
              << '\n';
  };
  row("QUEUE", "DEPTH", "CONSUMERS");
  for (const auto& q : queues)
    row(q.name, std::to_string(q.current_depth),
        std::to_string(q.consumer_count));
  return exit_ok;
}

int cmd_inquire(const command& cmd, std::vector<std::string>& args,
                global_options& g) {
  std::string name;
  bool as_json = false;
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json), "print a JSON object");
  po::variables_map vm;
  if (!parse_named(cmd, args, g, name, "queue name", desc, vm))
    return exit_ok;
  auto c = connect(g);
  auto st = c.inquire(name);
  if (as_json) {
    std::cout << qmesh::to_json(st).dump(2) << '\n';
    return exit_ok;
  }
  for (const auto& [k, v] : qmesh::to_fields(st))
    std::cout << k << ": " << shown(v) << '\n';
  return exit_ok;
}

int cmd_set(const command& cmd, std::vector<std::string>& args,
            global_options& g) {
  std::string name;
  qmesh::attr_map changes;
  if (!parse_name_and_attrs(cmd, args, g, name, changes))
    return exit_ok;
  if (changes.empty())
    throw usage_error("set: nothing to set (give at least one --ATTR VALUE)");
  auto c = connect(g);
  c.set(name, changes);
  std::cout << "queue " << name << " changed\n";
  return exit_ok;
}

} // namespace qmesh::cli
