// What the qmesh CLI's command files share: exit codes, the command table's
// types, argument parsing and connecting (options.cpp), output and progress
// (output.cpp), and the commands themselves (queues.cpp, messages.cpp,
// pubsub.cpp, node_info.cpp). All of it runs on the main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "client/client.hpp"
#include "core/numbers.hpp"

namespace qmesh::cli {

namespace po = boost::program_options;

// -- exit codes and errors ----------------------------------------------------

inline constexpr int exit_ok = 0;
inline constexpr int exit_reason = 1;
inline constexpr int exit_usage = 2;

/// A usage error: printed as one line, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// -- global options (options.cpp) ---------------------------------------------

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
std::string env_or_empty(const char* name);

// Numbers: qmesh::parse_uint and parse_int (core/numbers.hpp).

/// --node HOST:PORT into `g`; a usage error if malformed.
void parse_node(const std::string& text, global_options& g);

/// --timeout MS into `g`; a usage error if malformed.
void parse_timeout(const std::string& text, global_options& g);

/// Parses a wait option (--wait, --put-wait): milliseconds, or `unlimited`
/// / -1.
int64_t parse_wait(const std::string& text, const char* option = "--wait");

/// A client connected to the node `g` names, with its credentials and TLS.
qmesh::client connect(const global_options& g);

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

/// Parses a command's arguments; prints help and returns false on --help.
bool parse_args(const command& cmd, std::vector<std::string>& args,
                po::options_description& opts,
                po::positional_options_description& pos,
                po::variables_map& vm, global_options& g);

/// Parses `NAME [options of desc]` with NAME as the first positional
/// argument (`what` describes it in --help); false after --help.
bool parse_named(const command& cmd, std::vector<std::string>& args,
                 global_options& g, std::string& name, const char* what,
                 po::options_description& desc, po::variables_map& vm);

/// Parses the arguments of a listing whose one option is `--json`
/// (`json_help` describes it in --help); false after --help.
bool parse_json_only(const command& cmd, std::vector<std::string>& args,
                     global_options& g, bool& as_json, const char* json_help);

// -- message options (put, publish) -------------------------------------------

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
  void add_put_wait(po::options_description& desc);

  void add_to(po::options_description& desc);

  /// A message with these options and no body.
  qmesh::message make() const;
};

// -- queue attributes (define-queue, set) -------------------------------------

struct attr_options {
  std::map<std::string, std::string> values;
  bool persistent = false;

  void add_to(po::options_description& desc);

  qmesh::attr_map make(const po::variables_map& vm) const;
};

// -- output (output.cpp) ------------------------------------------------------

std::string format_time(int64_t ms_since_epoch);

/// `text` with control characters (and DEL) as `\n`, `\r`, `\t`, `\e` or
/// `\xHH` and `\` as `\\`: a value that came from a client can neither
/// forge output lines nor send escape sequences to the terminal.
std::string shown(std::string_view text);

void print_descriptor(const qmesh::message& m);

/// Prints one message; `flush`: at once (a batch flushes once at its end).
void print_message(const qmesh::message& m, bool descriptor,
                   bool flush = true);

/// Wall-clock ms as `2024-05-01T12:00:00Z` (UTC); `-` for 0.
std::string utc_time(int64_t ms);

/// `xs` joined with commas; `-` if empty.
std::string joined(const std::vector<std::string>& xs);

/// Prints rows as left-aligned columns two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows);

/// A count on stderr for long runs (puts from stdin, get --all): only on a
/// terminal, at most every 500 ms, after the first second; `done()` ends
/// the line.
class progress_line {
public:
  explicit progress_line(const char* what);

  void update(uint64_t n);

  void done();

private:
  const char* what_;
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// -- commands -----------------------------------------------------------------

// queues.cpp
int cmd_define(const command&, std::vector<std::string>&, global_options&);
int cmd_delete(const command&, std::vector<std::string>&, global_options&);
int cmd_purge(const command&, std::vector<std::string>&, global_options&);
int cmd_list(const command&, std::vector<std::string>&, global_options&);
int cmd_inquire(const command&, std::vector<std::string>&, global_options&);
int cmd_set(const command&, std::vector<std::string>&, global_options&);

// messages.cpp
int cmd_put(const command&, std::vector<std::string>&, global_options&);
int cmd_get(const command&, std::vector<std::string>&, global_options&);
int cmd_move(const command&, std::vector<std::string>&, global_options&);

// pubsub.cpp
int cmd_publish(const command&, std::vector<std::string>&, global_options&);
int cmd_subscribe(const command&, std::vector<std::string>&, global_options&);
int cmd_unsubscribe(const command&, std::vector<std::string>&,
                    global_options&);
int cmd_list_subs(const command&, std::vector<std::string>&, global_options&);

// node_info.cpp
int cmd_status(const command&, std::vector<std::string>&, global_options&);
int cmd_connections(const command&, std::vector<std::string>&,
                    global_options&);
int cmd_disconnect(const command&, std::vector<std::string>&,
                   global_options&);
int cmd_cluster(const command&, std::vector<std::string>&, global_options&);

} // namespace qmesh::cli
