// The qmesh CLI's publish/subscribe: publish, subscribe, unsubscribe and
// list-subscriptions.
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/json_view.hpp"
#include "tools/cli/cli.hpp"

namespace qmesh::cli {

using json = nlohmann::ordered_json;

int cmd_publish(const command& cmd, std::vector<std::string>& args,
                global_options& g) {
  std::string topic;
  std::string text;
  bool retain = false;
  message_options mo;
  po::options_description desc{"Options"};
  desc.add_options()("topic", po::value(&topic)->required(), "topic")(
    "text", po::value(&text)->required(), "publication text")(
    "retain", po::bool_switch(&retain),
    "keep it for future subscribers (an empty TEXT clears it)");
  mo.add_to(desc);
  po::positional_options_description pos;
  pos.add("topic", 1).add("text", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  auto msg = mo.make();
  msg.body = text;
  auto c = connect(g);
  auto n = c.publish(topic, std::move(msg), retain);
  std::cout << "published to " << n << " subscription" << (n == 1 ? "" : "s")
            << '\n';
  return exit_ok;
}

int cmd_subscribe(const command& cmd, std::vector<std::string>& args,
                  global_options& g) {
  std::string filter;
  std::string durable;
  std::string queue;
  std::string count_text;
  std::string wait = "unlimited";
  bool show = false;
  po::options_description desc{"Options"};
  desc.add_options()("filter", po::value(&filter)->required(),
                     "topic filter (`+` one level, `#` the rest)")(
    "durable", po::value(&durable)->value_name("NAME"),
    "durable subscription of that name (outlives this command; "
    "subscribing again resumes it)")(
    "queue", po::value(&queue)->value_name("QUEUE"),
    "put publications on this queue (default: a managed queue)")(
    "count", po::value(&count_text)->value_name("N"),
    "end after N publications; fewer within --wait is reason 2033")(
    "wait", po::value(&wait)->value_name("MS"),
    "end when no publication arrives for MS (default unlimited)")(
    "show-descriptor", po::bool_switch(&show),
    "print the descriptor fields before each body");
  po::positional_options_description pos;
  pos.add("filter", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  uint64_t count = 0;
  if (!count_text.empty()
      && (!parse_uint(count_text, count) || count == 0))
    throw usage_error("--count '" + count_text + "': expected N >= 1");
  qmesh::get_options opts;
  opts.wait_ms = parse_wait(wait);
  auto c = connect(g);
  auto info = c.subscribe(filter, durable, queue);
  // On stderr, so scripts can wait for it and stdout holds only bodies.
  std::cerr << "qmesh: subscribed to " << info.filter << " as " << info.name
            << " (queue " << info.queue << ")" << std::endl;
  for (uint64_t n = 0; count == 0 || n < count; ++n) {
    auto msg = c.try_get(info.queue, opts);
    if (!msg) {
      if (count == 0)
        return exit_ok;
      throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                                "no_msg_available",
                                filter + ": " + std::to_string(n) + " of "
                                  + std::to_string(count)
                                  + " publications arrived"};
    }
    print_message(*msg, show);
  }
  return exit_ok;
}

int cmd_unsubscribe(const command& cmd, std::vector<std::string>& args,
                    global_options& g) {
  std::string name;
  po::options_description desc{"Options"};
  po::variables_map vm;
  if (!parse_named(cmd, args, g, name, "durable name, or SYSTEM.SUB.<id>",
                   desc, vm))
    return exit_ok;
  auto c = connect(g);
  c.unsubscribe(name);
  std::cout << "subscription " << name << " ended\n";
  return exit_ok;
}

int cmd_list_subs(const command& cmd, std::vector<std::string>& args,
                  global_options& g) {
  bool as_json = false;
  if (!parse_json_only(cmd, args, g, as_json, "print a JSON array"))
    return exit_ok;
  auto c = connect(g);
  auto subs = c.subscriptions();
  if (as_json) {
    auto arr = json::array();
    for (const auto& s : subs) {
      json j = qmesh::to_json(s);
      arr.push_back(std::move(j));
    }
    std::cout << arr.dump(2) << '\n';
    return exit_ok;
  }
  std::cout << "NAME  FILTER  QUEUE  DURABILITY  DELIVERED\n";
  for (const auto& s : subs)
    std::cout << s.name << "  " << shown(s.filter) << "  " << s.queue << "  "
              << (s.durable ? "durable" : "non-durable") << "  "
              << s.delivered_total << '\n';
  return exit_ok;
}

} // namespace qmesh::cli
