// qmesh — the command-line client: administration and messaging.
//
//   qmesh [--node HOST:PORT] COMMAND [ARGS] [OPTIONS]
//
// Exit codes: 0 success; 1 a reason code from the node or the client
// (printed on stderr as `qmesh: 2033 no_msg_available: Q1`), including an
// unreachable node; 2 a usage error (unknown command or option, bad or
// missing value). See docs/client.md.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "core/json_view.hpp"
#include "tools/cli_batch.hpp"

namespace po = boost::program_options;
using json = nlohmann::ordered_json;

namespace {

// -- exit codes and errors ----------------------------------------------------

constexpr int exit_ok = 0;
constexpr int exit_reason = 1;
constexpr int exit_usage = 2;

/// A usage error: printed as one line, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The command being run, for the help hint of usage errors.
std::string current_command;

// -- global options -----------------------------------------------------------

struct global_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7700;
  int64_t timeout_ms = 30'000;
  /// Credentials (docs/client.md): --user / --password-file, else the
  /// environment's QMESH_USER / QMESH_PASSWORD.
  std::string user;
  std::string password_file;
  /// Mutual TLS (docs/client.md, "TLS"); defaults from QMESH_TLS_CERT,
  /// QMESH_TLS_KEY and QMESH_TLS_CA.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
};

/// `name`'s value, or "" if unset.
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool parse_uint(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

bool is_bool_word(const std::string& x) {
  for (auto w : {"true", "false", "yes", "no", "on", "off", "1", "0"})
    if (x == w)
      return true;
  return false;
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

// -- commands: table ----------------------------------------------------------

struct command;
using runner = std::function<int(const command&, std::vector<std::string>&,
                                 global_options&)>;

struct command {
  const char* name;
  const char* synopsis;
  const char* summary;
  runner run;
};

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

/// Parses a command's arguments; prints help and returns false on --help.
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

// -- formatting ---------------------------------------------------------------

std::string format_time(int64_t ms_since_epoch) {
  if (ms_since_epoch <= 0)
    return "";
  std::time_t secs = ms_since_epoch / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf,
                static_cast<int>(ms_since_epoch % 1000));
  return out;
}

/// `text` with control characters (and DEL) as `\n`, `\r`, `\t`, `\e` or
/// `\xHH` and `\` as `\\`: a value that came from a client can neither
/// forge output lines nor send escape sequences to the terminal.
std::string shown(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c != 0x7f) {
      out += ch;
    } else {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case 0x1b: out += "\\e"; break;
        default: {
          char buf[5];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
      }
    }
  }
  return out;
}

void print_descriptor(const qmesh::message& m) {
  std::cout << "msg_id: " << qmesh::to_string(m.id) << '\n'
            << "correl_id: " << shown(m.correl_id) << '\n'
            << "priority: " << static_cast<int>(m.priority) << '\n'
            << "persistent: " << (m.is_persistent() ? "true" : "false")
            << '\n'
            << "expiry: " << m.expiry << '\n'
            << "reply_to_queue: " << shown(m.reply_to_queue) << '\n'
            << "reply_to_qmgr: " << shown(m.reply_to_qmgr) << '\n'
            << "put_time: " << format_time(m.put_time) << '\n'
            << "origin_qmgr: " << shown(m.origin_qmgr) << '\n'
            << "delivery_count: " << m.delivery_count << '\n'
            << "redelivered: " << (m.redelivered() ? "true" : "false")
            << '\n'
            << "content_type: " << shown(m.content_type) << '\n';
  for (const auto& [k, v] : m.properties)
    std::cout << "property " << shown(k) << ": " << shown(v) << '\n';
}

/// Prints one message; `flush`: at once (a batch flushes once at its end).
void print_message(const qmesh::message& m, bool descriptor,
                   bool flush = true) {
  if (descriptor)
    print_descriptor(m);
  std::cout << m.body << '\n';
  if (descriptor)
    std::cout << '\n';
  if (flush)
    std::cout.flush();
}

// -- message options (put, publish) -------------------------------------------

/// Parses a wait option (--wait, --put-wait): milliseconds, or `unlimited`
/// / -1.
int64_t parse_wait(const std::string& text, const char* option = "--wait") {
  if (text == "unlimited" || text == "-1")
    return qmesh::wait_unlimited;
  int64_t v = 0;
  if (!parse_int(text, v) || v < 0)
    throw usage_error(std::string{option} + " '" + text
                      + "': expected milliseconds >= 0 or unlimited");
  return v;
}

struct message_options {
  std::string priority;
  bool persistent = false;
  bool not_persistent = false;
  std::string expiry;
  std::string correl_id;
  std::string reply_to;
  std::string content_type;
  std::vector<std::string> properties;
  std::string put_wait;

  /// --put-wait, for commands that put to a queue.
  void add_put_wait(po::options_description& desc) {
    desc.add_options()(
      "put-wait", po::value(&put_wait)->value_name("MS"),
      "wait up to MS for room when the queue is full (`unlimited`; default: "
      "the node's --put-wait); then 2053");
  }

  void add_to(po::options_description& desc) {
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

  /// A message with these options and no body.
  qmesh::message make() const {
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
};

// -- queue attributes (define-queue, set) -------------------------------------

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

struct attr_options {
  std::map<std::string, std::string> values;
  bool persistent = false;

  void add_to(po::options_description& desc) {
    for (const auto& s : attr_specs())
      desc.add_options()(s.option,
                         po::value(&values[s.option])->value_name(s.value_name),
                         s.help);
    desc.add_options()("persistent", po::bool_switch(&persistent),
                       "same as --default-persistence true");
  }

  qmesh::attr_map make(const po::variables_map& vm) const {
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
};

// -- commands -----------------------------------------------------------------

/// Parses `NAME [options of desc]` with NAME as the first positional
/// argument (`what` describes it in --help); false after --help.
bool parse_named(const command& cmd, std::vector<std::string>& args,
                 global_options& g, std::string& name, const char* what,
                 po::options_description& desc, po::variables_map& vm) {
  desc.add_options()("name", po::value(&name)->required(), what);
  po::positional_options_description pos;
  pos.add("name", 1);
  return parse_args(cmd, args, desc, pos, vm, g);
}

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

/// A count on stderr for long runs (puts from stdin, get --all): only on a
/// terminal, at most every 500 ms, after the first second; `done()` ends
/// the line.
class progress_line {
public:
  explicit progress_line(const char* what)
    : what_(what), on_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_(start_) {
  }

  void update(uint64_t n) {
    if (!on_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds{1}
        || now - last_ < std::chrono::milliseconds{500})
      return;
    last_ = now;
    shown_ = true;
    std::cerr << "\rqmesh: " << n << " messages " << what_ << std::flush;
  }

  void done() {
    if (shown_)
      std::cerr << '\n';
    shown_ = false;
  }

private:
  const char* what_;
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

/// Reads stdin to the end, one message per line, putting what each read
/// delivers as one batch (so a pipe is batched and a terminal is not).
void put_stdin(qmesh::client& c, const std::string& address,
               const message_options& mo) {
  constexpr size_t max_batch = 1000;
  constexpr size_t max_batch_bytes = 1 << 20;
  auto proto = mo.make();
  std::vector<qmesh::message> batch;
  size_t batch_bytes = 0;
  // Lines put so far: a batch is all or nothing, so a failure can say
  // exactly which lines went in.
  uint64_t put = 0;
  progress_line progress{"put"};
  auto flush = [&] {
    if (batch.empty())
      return;
    auto n = batch.size();
    try {
      c.put_many(address, std::move(batch));
    } catch (const qmesh::client_error& e) {
      progress.done();
      throw qmesh::client_error{
        e.code(), e.name(),
        e.text() + " (" + std::to_string(put) + " lines put: 1 to "
          + std::to_string(put) + "; none from line "
          + std::to_string(put + 1) + " on)"};
    }
    put += n;
    progress.update(put);
    batch.clear();
    batch_bytes = 0;
  };
  auto add = [&](std::string line) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto m = proto;
    batch_bytes += line.size();
    m.body = std::move(line);
    batch.push_back(std::move(m));
    if (batch.size() >= max_batch || batch_bytes >= max_batch_bytes)
      flush();
  };
  std::string buf;
  std::vector<char> chunk(64 * 1024);
  for (;;) {
    auto n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(std::string{"reading stdin: "}
                               + std::strerror(errno));
    }
    if (n == 0)
      break;
    buf.append(chunk.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (auto nl = buf.find('\n', start); nl != std::string::npos;
         nl = buf.find('\n', start)) {
      add(buf.substr(start, nl - start));
      start = nl + 1;
    }
    buf.erase(0, start);
    flush();
  }
  if (!buf.empty())
    add(std::move(buf));
  flush();
  progress.done();
}

int cmd_put(const command& cmd, std::vector<std::string>& args,
            global_options& g) {
  std::string address;
  std::vector<std::string> texts;
  message_options mo;
  po::options_description desc{"Options"};
  desc.add_options()("address", po::value(&address)->required(),
                     "queue (QUEUE or QM/QUEUE)")(
    "text", po::value(&texts), "message bodies (none: one per stdin line)");
  mo.add_to(desc);
  mo.add_put_wait(desc);
  po::positional_options_description pos;
  pos.add("address", 1).add("text", -1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  auto proto = mo.make(); // usage errors before connecting
  auto c = connect(g);
  if (texts.empty()) {
    put_stdin(c, address, mo);
    return exit_ok;
  }
  if (texts.size() == 1) {
    proto.body = texts.front();
    c.put(address, std::move(proto));
    return exit_ok;
  }
  std::vector<qmesh::message> batch;
  for (auto& t : texts) {
    auto m = proto;
    m.body = std::move(t);
    batch.push_back(std::move(m));
  }
  c.put_many(address, std::move(batch));
  return exit_ok;
}

/// Gets in flight at once in bulk gets and moves.
constexpr size_t bulk_window = 256;

/// Messages per unit of work of a bulk get.
constexpr uint64_t get_batch_size = 1000;

/// A destructive get of many messages from a local queue: pipelined gets
/// under a unit of work per batch, committed once the batch is written to
/// stdout. Killed or cut off mid-batch, the CLI leaves the batch on the
/// queue (redelivered, delivery_count + 1): at least once, never lost.
/// The batches do not wait; once the queue is empty, one get waits (up to
/// --wait) and what it brings is printed at once, then batches resume.
template <class Fewer>
int get_in_batches(qmesh::client& c, const std::string& address,
                   qmesh::get_options opts, bool all, uint64_t count,
                   bool show, progress_line& progress, Fewer fewer) {
  const auto wait_ms = opts.wait_ms;
  uint64_t got = 0;
  auto batch = get_batch_size;
  bool waiting = false;
  while (all || got < count) {
    auto uow = c.begin();
    opts.uow = uow;
    opts.wait_ms = waiting ? wait_ms : 0;
    auto want = waiting ? 1 : all ? batch : std::min(batch, count - got);
    auto res = qmesh::cli::get_batch(c, address, opts, want, bulk_window);
    for (auto& msg : res.messages)
      print_message(msg, show, false);
    std::cout.flush();
    auto n = res.messages.size();
    auto keep = [&](const std::string& why) {
      try {
        c.backout(uow);
      } catch (const qmesh::client_error&) {
        // The node ends an abandoned unit of work itself.
      }
      progress.done();
      if (n == 0)
        return why;
      return why + " (this batch of " + std::to_string(n) + " stays on "
             + address + ")";
    };
    if (!std::cout)
      throw std::runtime_error(keep("writing stdout failed"));
    try {
      c.commit(uow);
    } catch (const qmesh::client_error& e) {
      throw qmesh::client_error{e.code(), e.name(), keep(e.text())};
    }
    got += n;
    progress.update(got);
    if (res.failure) {
      // A unit of work smaller than this batch (the node's
      // --max-uncommitted): go on with batches of what fitted.
      if (res.failure->code() == 2024 && n > 0) {
        batch = n;
        continue;
      }
      progress.done();
      throw *res.failure;
    }
    if (res.empty) {
      if (waiting || wait_ms == 0)
        return fewer(got);
      waiting = true;
    } else {
      waiting = false;
    }
  }
  progress.done();
  return exit_ok;
}

int cmd_get(const command& cmd, std::vector<std::string>& args,
            global_options& g) {
  std::string address;
  std::string wait = "0";
  std::string count_text;
  bool all = false;
  bool browse = false;
  std::string msg_id_text;
  std::string correl_id;
  bool show = false;
  po::options_description desc{"Options"};
  desc.add_options()("address", po::value(&address)->required(), "queue")(
    "wait", po::value(&wait)->value_name("MS"),
    "wait up to MS for each message (`unlimited` waits forever; default 0)")(
    "count", po::value(&count_text)->value_name("N"),
    "get N messages (default 1); fewer is reason 2033")(
    "all", po::bool_switch(&all), "get until the queue is empty")(
    "browse", po::bool_switch(&browse), "copy, do not remove")(
    "msg-id", po::value(&msg_id_text)->value_name("ID"),
    "only the message with this msg_id (32 hex digits)")(
    "correl-id", po::value(&correl_id)->value_name("ID"),
    "only messages with this correl_id")(
    "show-descriptor", po::bool_switch(&show),
    "print the descriptor fields before each body");
  po::positional_options_description pos;
  pos.add("address", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  qmesh::get_options opts;
  opts.wait_ms = parse_wait(wait);
  uint64_t count = 1;
  if (!count_text.empty()) {
    if (all)
      throw usage_error("get: --count and --all exclude each other");
    if (!parse_uint(count_text, count) || count == 0)
      throw usage_error("--count '" + count_text + "': expected N >= 1");
  }
  if (!msg_id_text.empty()) {
    auto id = qmesh::msg_id::parse(msg_id_text);
    if (!id)
      throw usage_error("--msg-id '" + msg_id_text
                        + "': expected 32 hex digits");
    opts.match_msg_id = *id;
  }
  opts.match_correl_id = correl_id;
  if (browse)
    opts.browse = static_cast<uint8_t>(qmesh::browse_mode::first);
  auto c = connect(g);
  // Auto-define makes a get on a mistyped name define an empty queue; say
  // so on stderr (only when the caller may inquire: 2035 says nothing).
  auto exists = [&]() -> std::optional<bool> {
    try {
      c.inquire(address);
      return true;
    } catch (const qmesh::client_error& e) {
      if (e.code() == 2085)
        return false;
      return std::nullopt;
    }
  };
  auto existed = exists();
  auto note_if_defined = [&] {
    if (existed == false && exists() == true)
      std::cerr << "qmesh: note: queue " << shown(address)
                << " did not exist; this "
                << (browse ? "browse" : "get")
                << " defined it (auto-define is on: check the name, or "
                   "delete it with qmesh delete-queue)\n";
  };
  progress_line progress{browse ? "browsed" : "got"};
  auto fewer = [&](uint64_t n) {
    progress.done();
    note_if_defined();
    if (all)
      return exit_ok;
    throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                              "no_msg_available",
                              address + ": " + std::to_string(n) + " of "
                                + std::to_string(count) + " messages got"};
  };
  if (browse || !qmesh::cli::is_local(c, address)) {
    // A browse needs the previous message's cursor, and a unit of work
    // takes only local queues: one get at a time.
    for (uint64_t n = 0; all || n < count; ++n) {
      auto msg = c.try_get(address, opts);
      if (!msg)
        return fewer(n);
      print_message(*msg, show);
      progress.update(n + 1);
      if (browse) {
        opts.browse = static_cast<uint8_t>(qmesh::browse_mode::next);
        opts.browse_cursor = msg->tag;
      }
    }
    return exit_ok;
  }
  return get_in_batches(c, address, opts, all, count, show, progress, fewer);
}

/// Moves messages from one queue to another address, a batch per unit of
/// work: each batch is got and put under one unit of work and committed,
/// so a message is in exactly one of the two queues whatever happens (a
/// failed put backs the batch out: it stays in the source).
int cmd_move(const command& cmd, std::vector<std::string>& args,
             global_options& g) {
  std::string source;
  std::string target;
  std::string count_text;
  std::string batch_text = "100";
  bool all = false;
  bool keep = false;
  po::options_description desc{"Options"};
  desc.add_options()("source", po::value(&source)->required(), "queue")(
    "target", po::value(&target)->required(), "address (QUEUE or QM/QUEUE)")(
    "count", po::value(&count_text)->value_name("N"),
    "move N messages (default 1); fewer is reason 2033")(
    "all", po::bool_switch(&all), "move until the source is empty")(
    "batch", po::value(&batch_text)->value_name("N"),
    "messages per unit of work (default 100, at most 10000)")(
    "keep-dlq-properties", po::bool_switch(&keep),
    "keep qmesh.dlq.reason and qmesh.dlq.source (default: removed)");
  po::positional_options_description pos;
  pos.add("source", 1).add("target", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  uint64_t count = 1;
  if (!count_text.empty()) {
    if (all)
      throw usage_error("move: --count and --all exclude each other");
    if (!parse_uint(count_text, count) || count == 0)
      throw usage_error("--count '" + count_text + "': expected N >= 1");
  }
  uint64_t batch = 0;
  if (!parse_uint(batch_text, batch) || batch == 0 || batch > 10'000)
    throw usage_error("--batch '" + batch_text + "': expected 1-10000");
  // Onto itself, --all would move the same messages round for ever.
  if (source == target)
    throw usage_error("move: SOURCE and TARGET are the same queue");
  auto c = connect(g);
  uint64_t moved = 0;
  progress_line progress{"moved"};
  auto report = [&] {
    progress.done();
    std::cout << moved << " message" << (moved == 1 ? "" : "s")
              << " moved from " << source << " to " << target << '\n';
  };
  bool empty = false;
  while (!empty && (all || moved < count)) {
    auto uow = c.begin();
    uint64_t in_batch = 0;
    try {
      qmesh::get_options opts;
      opts.uow = uow;
      auto want = all ? batch : std::min(batch, count - moved);
      auto got = qmesh::cli::get_batch(c, source, opts, want, bulk_window);
      in_batch = got.messages.size();
      if (got.failure)
        throw *got.failure;
      empty = got.empty;
      // The puts go in order, pipelined; the first failure backs the
      // whole batch out.
      std::vector<std::future<qmesh::msg_id>> puts;
      puts.reserve(got.messages.size());
      for (auto& msg : got.messages) {
        if (!keep) {
          msg.properties.erase("qmesh.dlq.reason");
          msg.properties.erase("qmesh.dlq.source");
        }
        puts.push_back(c.put_async(target, std::move(msg), uow));
      }
      std::optional<qmesh::client_error> failed;
      for (auto& f : puts) {
        try {
          f.get();
        } catch (const qmesh::client_error& e) {
          if (!failed)
            failed = e;
        }
      }
      if (failed)
        throw *failed;
      c.commit(uow);
    } catch (const qmesh::client_error& e) {
      try {
        c.backout(uow);
      } catch (const qmesh::client_error&) {
        // The node ends an abandoned unit of work itself.
      }
      report();
      throw qmesh::client_error{
        e.code(), e.name(),
        e.text() + " (this batch of " + std::to_string(in_batch)
          + " stays in " + source + ")"};
    }
    moved += in_batch;
    progress.update(moved);
  }
  report();
  if (!all && moved < count)
    throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                              "no_msg_available",
                              source + ": " + std::to_string(moved) + " of "
                                + std::to_string(count)
                                + " messages moved"};
  return exit_ok;
}

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
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json),
                     "print a JSON array");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
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

int cmd_connections(const command& cmd, std::vector<std::string>& args,
                    global_options& g) {
  bool as_json = false;
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json),
                     "print a JSON array");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
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
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json),
                     "print a JSON object");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
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

/// Wall-clock ms as `2024-05-01T12:00:00Z` (UTC); `-` for 0.
std::string utc_time(int64_t ms) {
  if (ms <= 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out.empty() ? "-" : out;
}

/// Prints rows as left-aligned columns two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size())
        line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

int cmd_cluster(const command& cmd, std::vector<std::string>& args,
                global_options& g) {
  bool as_json = false;
  po::options_description desc{"Options"};
  desc.add_options()("json", po::bool_switch(&as_json),
                     "print a JSON object");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
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

int main(int argc, char** argv) {
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
