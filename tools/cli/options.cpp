// The qmesh CLI's option handling: global and common options, a command's
// argument parsing, message and queue-attribute options, and connecting.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>

#include "tools/cli/cli.hpp"

namespace qmesh::cli {

namespace {

bool is_bool_word(const std::string& x) {
  for (auto w : {"true", "false", "yes", "no", "on", "off", "1", "0"})
    if (x == w)
      return true;
  return false;
}

/// Options every command accepts (also before the command).
po::options_description common_options(std::string& node,
                                       std::string& timeout,
                                       std::string& user,
                                       std::string& password_file,
                                       global_options& g) {
  po::options_description desc{"Common options"};
  desc.add_options()
    ("node", po::value(&node)->value_name("HOST:PORT"),
     "node to talk to (default 127.0.0.1:7700)")
    ("timeout", po::value(&timeout)->value_name("MS"),
     "longest wait for a reply from the node (default 30000)")
    ("user", po::value(&user)->value_name("NAME"),
     "user for a node with users (default: $QMESH_USER)")
    ("password-file", po::value(&password_file)->value_name("FILE"),
     "file whose first line is the password (default: $QMESH_PASSWORD)")
    ("tls-cert", po::value(&g.tls_cert)->value_name("FILE"),
     "client certificate (PEM) for a node whose --listen runs mutual TLS "
     "(default $QMESH_TLS_CERT)")
    ("tls-key", po::value(&g.tls_key)->value_name("FILE"),
     "the key of --tls-cert (PEM; default $QMESH_TLS_KEY)")
    ("tls-ca", po::value(&g.tls_ca)->value_name("FILE"),
     "CA (PEM) that signs the node's certificate (default $QMESH_TLS_CA)")
    ("help,h", "print this command's help");
  return desc;
}

/// The password: the first line of --password-file, else $QMESH_PASSWORD.
std::string read_password(const global_options& g) {
  if (g.password_file.empty()) {
    auto env = std::getenv("QMESH_PASSWORD");
    return env != nullptr ? env : "";
  }
  std::ifstream in{g.password_file};
  if (!in)
    throw usage_error("--password-file '" + g.password_file
                      + "': cannot open file");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

enum class attr_kind { uint, boolean, text };

struct attr_spec {
  const char* option;
  const char* key;
  attr_kind kind;
  const char* value_name;
  const char* help;
};

const std::vector<attr_spec>& attr_specs() {
  static const std::vector<attr_spec> specs{
    {"max-depth", "max_depth", attr_kind::uint, "N",
     "most messages the queue holds"},
    {"max-msg-length", "max_msg_length", attr_kind::uint, "BYTES",
     "longest message body"},
    {"default-persistence", "default_persistence", attr_kind::boolean,
     "BOOL", "persistence of messages put without one"},
    {"default-priority", "default_priority", attr_kind::uint, "0-9",
     "priority of messages put without one"},
    {"put-inhibited", "put_inhibited", attr_kind::boolean, "BOOL",
     "refuse puts"},
    {"get-inhibited", "get_inhibited", attr_kind::boolean, "BOOL",
     "refuse gets"},
    {"backout-threshold", "backout_threshold", attr_kind::uint, "N",
     "rollbacks after which a message moves to the backout queue (0 = "
     "never)"},
    {"backout-queue", "backout_queue", attr_kind::text, "QUEUE",
     "where backed-out messages go (default SYSTEM.DEAD.LETTER.QUEUE)"},
    {"cluster", "cluster", attr_kind::boolean, "BOOL",
     "advertise the queue to the cluster"},
    {"description", "description", attr_kind::text, "TEXT",
     "free text, at most 64 bytes"},
    {"overflow-policy", "overflow_policy", attr_kind::text, "POLICY",
     "when full: block (wait for room), reject (2053) or drop-oldest"},
  };
  return specs;
}

} // namespace

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}


void parse_node(const std::string& text, global_options& g) {
  auto colon = text.rfind(':');
  uint64_t port = 0;
  if (colon == std::string::npos || colon == 0
      || !parse_uint(text.substr(colon + 1), port) || port == 0
      || port > 65535)
    throw usage_error("--node '" + text
                      + "': expected HOST:PORT with a port in 1-65535");
  g.host = text.substr(0, colon);
  g.port = static_cast<uint16_t>(port);
}

void parse_timeout(const std::string& text, global_options& g) {
  int64_t v = 0;
  if (!parse_int(text, v) || v < 1)
    throw usage_error("--timeout '" + text
                      + "': expected milliseconds >= 1");
  g.timeout_ms = v;
}

int64_t parse_wait(const std::string& text, const char* option) {
  if (text == "unlimited" || text == "-1")
    return qmesh::wait_unlimited;
  int64_t v = 0;
  if (!parse_int(text, v) || v < 0)
    throw usage_error(std::string{option} + " '" + text
                      + "': expected milliseconds >= 0 or unlimited");
  return v;
}

qmesh::client connect(const global_options& g) {
  qmesh::client_options opts;
  opts.timeout = std::chrono::milliseconds{g.timeout_ms};
  opts.threads = 1;
  opts.user = g.user;
  if (opts.user.empty())
    if (auto env = std::getenv("QMESH_USER"))
      opts.user = env;
  if (!opts.user.empty())
    opts.password = read_password(g);
  opts.tls_cert = g.tls_cert;
  opts.tls_key = g.tls_key;
  opts.tls_ca = g.tls_ca;
  if (opts.tls() && (opts.tls_cert.empty() || opts.tls_key.empty()
                     || opts.tls_ca.empty()))
    throw usage_error("mutual TLS needs --tls-cert, --tls-key and --tls-ca "
                      "(or QMESH_TLS_CERT, QMESH_TLS_KEY, QMESH_TLS_CA) "
                      "together");
  try {
    return qmesh::client::connect(g.host, g.port, opts);
  } catch (const qmesh::client_error& e) {
    if (opts.tls() || e.code() != qmesh::client_rc::q_mgr_not_available)
      throw;
    // A node whose native listener runs mutual TLS drops a plain client
    // during its handshake: say what may be missing.
    throw qmesh::client_error{
      e.code(), e.name(),
      e.text()
        + " (if the node's --listen runs mutual TLS, give --tls-cert, "
          "--tls-key and --tls-ca)"};
  }
}

bool parse_args(const command& cmd, std::vector<std::string>& args,
                po::options_description& opts,
                po::positional_options_description& pos,
                po::variables_map& vm, global_options& g) {
  std::string node;
  std::string timeout;
  std::string user;
  std::string password_file;
  po::options_description all;
  all.add(opts).add(common_options(node, timeout, user, password_file, g));
  try {
    po::store(po::command_line_parser(args)
                .options(all)
                .positional(pos)
                .style(po::command_line_style::unix_style
                       ^ po::command_line_style::allow_guessing)
                .run(),
              vm);
    if (vm.count("help")) {
      // Positional arguments are options inside; the synopsis shows them.
      std::set<std::string> positional;
      for (unsigned i = 0; i < std::min(pos.max_total_count(), 8u); ++i)
        positional.insert(pos.name_for_position(i));
      po::options_description visible{"Options"};
      for (const auto& opt : opts.options())
        if (positional.count(opt->long_name()) == 0)
          visible.add(opt);
      std::cout << "usage: qmesh " << cmd.synopsis << "\n\n"
                << cmd.summary << "\n\n";
      if (!visible.options().empty())
        std::cout << visible << '\n';
      std::cout << common_options(node, timeout, user, password_file, g);
      return false;
    }
    po::notify(vm);
  } catch (const po::required_option& e) {
    // Positional arguments are options inside: name them as in the help.
    auto name = e.get_option_name();
    name.erase(0, name.find_first_not_of('-'));
    for (auto& ch : name)
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    throw usage_error(std::string{cmd.name} + ": missing argument " + name);
  } catch (const po::error& e) {
    throw usage_error(std::string{cmd.name} + ": " + e.what());
  }
  if (!node.empty())
    parse_node(node, g);
  if (!timeout.empty())
    parse_timeout(timeout, g);
  if (!user.empty())
    g.user = user;
  if (!password_file.empty())
    g.password_file = password_file;
  return true;
}

bool parse_named(const command& cmd, std::vector<std::string>& args,
                 global_options& g, std::string& name, const char* what,
                 po::options_description& desc, po::variables_map& vm) {
  desc.add_options()("name", po::value(&name)->required(), what);
  po::positional_options_description pos;
  pos.add("name", 1);
  return parse_args(cmd, args, desc, pos, vm, g);
}

bool parse_json_only(const command& cmd, std::vector<std::string>& args,
                     global_options& g, bool& as_json, const char* json_help) {
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json), json_help);
  po::positional_options_description pos;
  po::variables_map vm;
  return parse_args(cmd, args, desc, pos, vm, g);
}

// -- message options ----------------------------------------------------------

void message_options::add_put_wait(po::options_description& desc) {
  desc.add_options()(
    "put-wait", po::value(&put_wait)->value_name("MS"),
    "wait up to MS for room when the queue is full (`unlimited`; default: "
    "the node's --put-wait); then 2053");
}

void message_options::add_to(po::options_description& desc) {
  desc.add_options()
    ("priority", po::value(&priority)->value_name("0-9"),
     "message priority (default: the queue's default_priority)")
    ("persistent", po::bool_switch(&persistent),
     "persistent message (default: the queue's default_persistence)")
    ("non-persistent", po::bool_switch(&not_persistent),
     "non-persistent message")
    ("expiry", po::value(&expiry)->value_name("MS"),
     "milliseconds to live (default: never expires)")
    ("correl-id", po::value(&correl_id)->value_name("ID"),
     "correlation id")
    ("reply-to", po::value(&reply_to)->value_name("[QM/]QUEUE"),
     "where replies should go")
    ("content-type", po::value(&content_type)->value_name("TYPE"),
     "content type of the body")
    ("property",
     po::value(&properties)->composing()->value_name("K=V"),
     "user property (repeatable)");
}

qmesh::message message_options::make() const {
  qmesh::message m;
  if (!priority.empty()) {
    int64_t p = 0;
    if (!parse_int(priority, p) || p < 0 || p > 9)
      throw usage_error("--priority '" + priority + "': expected 0-9");
    m.priority = static_cast<int8_t>(p);
  }
  if (persistent && not_persistent)
    throw usage_error("--persistent and --non-persistent exclude each "
                      "other");
  if (persistent)
    m.persistent = static_cast<int8_t>(qmesh::persistence::yes);
  if (not_persistent)
    m.persistent = static_cast<int8_t>(qmesh::persistence::no);
  if (!expiry.empty()) {
    int64_t e = 0;
    if (!parse_int(expiry, e) || e < 0)
      throw usage_error("--expiry '" + expiry
                        + "': expected milliseconds >= 0");
    m.expiry = e;
  }
  m.correl_id = correl_id;
  if (!reply_to.empty()) {
    auto slash = reply_to.find('/');
    if (slash == std::string::npos) {
      m.reply_to_queue = reply_to;
    } else {
      m.reply_to_qmgr = reply_to.substr(0, slash);
      m.reply_to_queue = reply_to.substr(slash + 1);
    }
  }
  m.content_type = content_type;
  if (!put_wait.empty())
    m.put_wait_ms = parse_wait(put_wait, "--put-wait");
  for (const auto& kv : properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("--property '" + kv + "': expected KEY=VALUE");
    m.properties[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return m;
}

// -- queue attributes ---------------------------------------------------------

void attr_options::add_to(po::options_description& desc) {
  for (const auto& s : attr_specs())
    desc.add_options()(s.option,
                       po::value(&values[s.option])->value_name(s.value_name),
                       s.help);
  desc.add_options()("persistent", po::bool_switch(&persistent),
                     "same as --default-persistence true");
}

qmesh::attr_map attr_options::make(const po::variables_map& vm) const {
  qmesh::attr_map result;
  for (const auto& s : attr_specs()) {
    if (!vm.count(s.option))
      continue;
    const auto& v = values.at(s.option);
    uint64_t n = 0;
    if (s.kind == attr_kind::uint && !parse_uint(v, n))
      throw usage_error(std::string{"--"} + s.option + " '" + v
                        + "': expected a non-negative integer");
    if (s.kind == attr_kind::boolean && !is_bool_word(v))
      throw usage_error(std::string{"--"} + s.option + " '" + v
                        + "': expected true or false");
    result[s.key] = v;
  }
  if (persistent) {
    if (result.count("default_persistence"))
      throw usage_error("--persistent and --default-persistence exclude "
                        "each other");
    result["default_persistence"] = "true";
  }
  return result;
}

} // namespace qmesh::cli
