// qmesh — the command-line client: administration and messaging.
//
//   qmesh [--node HOST:PORT] COMMAND [ARGS] [OPTIONS]
//
// Exit codes: 0 success; 1 a reason code from the node or the client
// (printed on stderr as `qmesh: 2033 no_msg_available: Q1`), including an
// unreachable node; 2 a usage error (unknown command or option, bad or
// missing value). See docs/client.md.
//
// This file: the command table, the top-level usage and the dispatch to a
// command; the commands live beside it (tools/cli/cli.hpp lists them).
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/cli/cli.hpp"

namespace qmesh::cli {

namespace {

/// The command being run, for the help hint of usage errors.
std::string current_command;

const std::vector<command>& commands();

std::string top_usage() {
  std::ostringstream os;
  os << "usage: qmesh [--node HOST:PORT] [--timeout MS] COMMAND [ARGS] "
        "[OPTIONS]\n\n"
        "The qmesh command-line client.\n\nCommands:\n";
  for (auto& c : commands()) {
    os << "  " << c.synopsis << "\n      " << c.summary << "\n";
  }
  os << "\nGlobal options:\n"
        "  --node HOST:PORT   node to talk to (default 127.0.0.1:7700)\n"
        "  --timeout MS       longest wait for a reply (default 30000)\n"
        "  --user NAME        user for a node with users ($QMESH_USER)\n"
        "  --password-file F  first line of F is the password "
        "($QMESH_PASSWORD)\n"
        "  --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
        "                     mutual TLS to the node (defaults:\n"
        "                     $QMESH_TLS_CERT, $QMESH_TLS_KEY, $QMESH_TLS_CA)\n"
        "  --help, -h         print this help; `qmesh COMMAND --help` for a "
        "command's options\n"
        "  --version          print the version\n\n"
        "Exit codes: 0 success, 1 reason code (printed on stderr), 2 usage "
        "error.\n";
  return os.str();
}

// Synopsis parts shared by several commands (usage_docs_test checks that
// each command's options appear in its synopsis and in docs/client.md).
#define QMESH_QUEUE_ATTRS                                                    \
  "[--max-depth N] [--max-msg-length BYTES] [--default-persistence BOOL | " \
  "--persistent] [--default-priority 0-9] [--put-inhibited BOOL] "          \
  "[--get-inhibited BOOL] [--backout-threshold N] [--backout-queue Q] "    \
  "[--cluster BOOL] [--description TEXT] [--overflow-policy POLICY]"
#define QMESH_MESSAGE_OPTIONS                                                \
  "[--priority 0-9] [--persistent | --non-persistent] [--expiry MS] "       \
  "[--correl-id ID] [--reply-to [QM/]Q] [--content-type TYPE] "            \
  "[--property K=V]..."

const std::vector<command>& commands() {
  static const std::vector<command> table{
    {"define-queue", "define-queue NAME " QMESH_QUEUE_ATTRS,
     "Define a queue.", cmd_define},
    {"delete-queue", "delete-queue NAME [--purge]",
     "Delete a queue (with --purge even if it holds messages).", cmd_delete},
    {"purge", "purge NAME", "Remove every ready message of a queue.",
     cmd_purge},
    {"list-queues", "list-queues [PATTERN] [--json]",
     "List queues: name, depth, consumers.", cmd_list},
    {"inquire", "inquire NAME [--json]",
     "Print a queue's attributes and statistics.", cmd_inquire},
    {"set", "set NAME " QMESH_QUEUE_ATTRS,
     "Change queue attributes, all or nothing (at least one).", cmd_set},
    {"put", "put ADDRESS [TEXT...] " QMESH_MESSAGE_OPTIONS " [--put-wait MS]",
     "Put each TEXT as one message; without TEXT, one message per stdin "
     "line.",
     cmd_put},
    {"get",
     "get ADDRESS [--wait MS] [--count N | --all] [--browse] [--msg-id ID] "
     "[--correl-id ID] [--show-descriptor]",
     "Get messages and print each body on its own line.", cmd_get},
    {"move",
     "move SOURCE TARGET [--count N | --all] [--batch N] "
     "[--keep-dlq-properties]",
     "Move messages to another queue, a unit of work per batch (e.g. back "
     "from the dead-letter queue).",
     cmd_move},
    {"publish", "publish TOPIC TEXT [--retain] " QMESH_MESSAGE_OPTIONS,
     "Publish to a topic.", cmd_publish},
    {"subscribe",
     "subscribe FILTER [--durable NAME] [--queue QUEUE] [--count N] "
     "[--wait MS] [--show-descriptor]",
     "Subscribe and print each publication as it arrives.", cmd_subscribe},
    {"unsubscribe", "unsubscribe NAME",
     "End a (durable) subscription.", cmd_unsubscribe},
    {"list-subscriptions", "list-subscriptions [--json]",
     "List subscriptions: name, filter, queue, kind, delivered.",
     cmd_list_subs},
    {"status", "status [--json]", "Print the queue manager's status.",
     cmd_status},
    {"connections", "connections [--json]",
     "List client connections: id, protocol, peer, user, age.",
     cmd_connections},
    {"disconnect", "disconnect ID",
     "Close a client connection; what it held is released.",
     cmd_disconnect},
    {"cluster", "cluster [--json]",
     "Print the cluster's members (* = this node) and the channels to "
     "them.",
     cmd_cluster},
  };
  return table;
}

#undef QMESH_QUEUE_ATTRS
#undef QMESH_MESSAGE_OPTIONS

int run(int argc, char** argv) {
  global_options g;
  g.tls_cert = env_or_empty("QMESH_TLS_CERT");
  g.tls_key = env_or_empty("QMESH_TLS_KEY");
  g.tls_ca = env_or_empty("QMESH_TLS_CA");
  int i = 1;
  // Global options before the command.
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.empty() || arg[0] != '-')
      break;
    auto value = [&](const std::string& opt) -> std::string {
      if (arg.size() > opt.size() && arg[opt.size()] == '=')
        return arg.substr(opt.size() + 1);
      if (i + 1 >= argc)
        throw usage_error(opt + ": missing value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << top_usage();
      return exit_ok;
    }
    if (arg == "--version") {
      std::cout << "qmesh " << QMESH_VERSION << '\n';
      return exit_ok;
    }
    if (arg == "--node" || arg.rfind("--node=", 0) == 0)
      parse_node(value("--node"), g);
    else if (arg == "--timeout" || arg.rfind("--timeout=", 0) == 0)
      parse_timeout(value("--timeout"), g);
    else if (arg == "--user" || arg.rfind("--user=", 0) == 0)
      g.user = value("--user");
    else if (arg == "--password-file"
             || arg.rfind("--password-file=", 0) == 0)
      g.password_file = value("--password-file");
    else if (arg == "--tls-cert" || arg.rfind("--tls-cert=", 0) == 0)
      g.tls_cert = value("--tls-cert");
    else if (arg == "--tls-key" || arg.rfind("--tls-key=", 0) == 0)
      g.tls_key = value("--tls-key");
    else if (arg == "--tls-ca" || arg.rfind("--tls-ca=", 0) == 0)
      g.tls_ca = value("--tls-ca");
    else
      throw usage_error("unknown option " + arg);
  }
  if (i >= argc)
    throw usage_error("missing command");
  std::string name = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  for (const auto& cmd : commands()) {
    if (name == cmd.name) {
      current_command = cmd.name;
      return cmd.run(cmd, args, g);
    }
  }
  throw usage_error("unknown command '" + name + "'");
}

} // namespace

} // namespace qmesh::cli

int main(int argc, char** argv) {
  using namespace qmesh::cli;
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "qmesh: " << e.what() << " (see qmesh "
              << (current_command.empty() ? "" : current_command + " ")
              << "--help)\n";
    return exit_usage;
  } catch (const qmesh::client_error& e) {
    std::cout.flush();
    std::cerr << "qmesh: " << e.what() << '\n';
    return exit_reason;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "qmesh: " << e.what() << '\n';
    return exit_reason;
  } catch (...) {
    std::cerr << "qmesh: unexpected error\n";
    return exit_reason;
  }
}
