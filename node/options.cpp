#include "node/options.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>

#include "actors/log.hpp"
#include "core/names.hpp"
#include "node/memory_monitor.hpp"

namespace po = boost::program_options;

namespace qmesh::node {

std::string to_string(const endpoint& x) {
  return x.host + ":" + std::to_string(x.port);
}

bool parse_endpoint(const std::string& text, endpoint& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto res = std::from_chars(port_text.data(),
                             port_text.data() + port_text.size(), port);
  if (res.ec != std::errc{} || res.ptr != port_text.data() + port_text.size()
      || port == 0 || port > 65535)
    return false;
  if (host.size() > 255 || host.find_first_of(" \t/") != std::string::npos)
    return false;
  out = endpoint{host, static_cast<uint16_t>(port)};
  return true;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost")
    return true;
  auto text = host;
  if (text.size() > 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(text, ec);
  return !ec && addr.is_loopback();
}

namespace {

#ifndef QMESH_WEB_ROOT
#  define QMESH_WEB_ROOT "web"
#endif

/// The default --web-root (the source tree's web/, set by the build). A
/// missing default is no error: the node then serves no static files.
constexpr const char* default_web_root = QMESH_WEB_ROOT;

struct raw_options {
  std::string config;
  std::string qmgr;
  std::string data_dir;
  std::string listen;
  std::string log_level;
  std::string log_file;
  bool auto_define = true;
  uint64_t max_depth = 0;
  uint64_t max_msg_length = 0;
  uint64_t max_msg_length_cap = 0;
  bool default_persistent = false;
  int default_priority = 0;
  uint64_t max_uncommitted = 0;
  size_t threads = 0;
  std::string stomp_listen;
  std::string http_listen;
  std::string web_root;
  uint32_t stomp_heartbeat = 0;
  size_t stomp_max_headers = 0;
  size_t stomp_max_header_line = 0;
  size_t stomp_max_body = 0;
  std::string memory_limit;
  std::string put_wait;
  uint32_t stomp_frame_timeout = 0;
  size_t stomp_max_transaction_memory = 0;
  size_t max_connections = 0;
  size_t max_connections_per_address = 0;
  std::string disk_free_limit;
  std::string journal_segment_size;
  std::string journal_sync;
  bool recover_truncate = false;
  std::string cluster_listen;
  std::string seeds;
  int64_t cluster_heartbeat = 0;
  int64_t cluster_timeout = 0;
  std::string users_file;
  bool allow_anonymous = false;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::string stomp_tls_listen;
  std::string http_tls_listen;
  uint32_t tls_handshake_timeout = 0;
};

/// Upper bounds of the connection caps and of the transaction memory: far
/// above any sensible value, low enough that a negative number (which
/// Boost.Program_options wraps around for unsigned types) is caught.
constexpr size_t max_connection_cap = 1'000'000;
constexpr size_t max_transaction_memory_cap = size_t{1} << 40; // 1 TiB

po::options_description describe(raw_options& r) {
  qm_config defaults;
  po::options_description general{"General"};
  general.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("hash-password",
     "read a password from stdin (the terminal: without echo), print its "
     "hash for the users file and exit")
    ("config", po::value(&r.config)->value_name("FILE"),
     "read options from an INI file (key = value, same names as the long "
     "options; the command line wins)");
  po::options_description node{"Node (all settable in the config file)"};
  node.add_options()
    ("qmgr", po::value(&r.qmgr)->default_value("QM1")->value_name("NAME"),
     "queue-manager name, [A-Za-z0-9._%]{1,48}")
    ("data-dir", po::value(&r.data_dir)->value_name("DIR"),
     "data directory (default ./data/<qmgr>)")
    ("listen",
     po::value(&r.listen)->default_value("127.0.0.1:7700")->value_name(
       "HOST:PORT"),
     "address for native clients")
    ("log-level",
     po::value(&r.log_level)->default_value("info")->value_name("LEVEL"),
     "trace, debug, info, warn, error, critical or off")
    ("log-file", po::value(&r.log_file)->value_name("FILE"),
     "log to this file instead of stderr")
    ("threads", po::value(&r.threads)->default_value(0)->value_name("N"),
     "scheduler threads (0 = one per core)");
  po::options_description flow{"Flow control (docs/operations.md)"};
  flow.add_options()
    ("memory-limit",
     po::value(&r.memory_limit)->default_value("40%")->value_name("SIZE"),
     "resident memory above which producers are held until it falls: "
     "bytes, K/M/G suffix, or a percentage of the machine's (or cgroup's) "
     "memory")
    ("put-wait",
     po::value(&r.put_wait)->default_value("60000")->value_name("MS"),
     "longest a put or publication waits for room in a full queue (block "
     "policy) before it fails with 2053; `unlimited` or 0 (no wait); "
     "clients may set it per put");
  connection_caps cd;
  po::options_description conns{"Client connections (every listener)"};
  conns.add_options()
    ("max-connections",
     po::value(&r.max_connections)
       ->default_value(cd.max_connections)
       ->value_name("N"),
     "open connections per listener; more are refused with 2025")
    ("max-connections-per-address",
     po::value(&r.max_connections_per_address)
       ->default_value(cd.max_per_address)
       ->value_name("N"),
     "open connections per listener from one IP address; more are refused "
     "with 2025");
  po::options_description queues{"Queues"};
  queues.add_options()
    ("auto-define-queues",
     po::value(&r.auto_define)->default_value(true)->value_name("BOOL"),
     "define missing local queues on put, get, open and subscribe")
    ("default-max-depth",
     po::value(&r.max_depth)
       ->default_value(defaults.queue_defaults.max_depth)
       ->value_name("N"),
     "max_depth of queues defined without one")
    ("default-max-msg-length",
     po::value(&r.max_msg_length)
       ->default_value(defaults.queue_defaults.max_msg_length)
       ->value_name("BYTES"),
     "max_msg_length of queues defined without one")
    ("max-msg-length-cap",
     po::value(&r.max_msg_length_cap)
       ->default_value(defaults.limits.max_msg_length_cap)
       ->value_name("BYTES"),
     "hard upper bound for any queue's max_msg_length")
    ("default-persistence",
     po::value(&r.default_persistent)->default_value(false)->value_name(
       "BOOL"),
     "default_persistence of queues defined without one")
    ("default-priority",
     po::value(&r.default_priority)->default_value(0)->value_name("0-9"),
     "default_priority of queues defined without one")
    ("max-uncommitted",
     po::value(&r.max_uncommitted)
       ->default_value(defaults.max_uncommitted)
       ->value_name("N"),
     "most uncommitted messages in one unit of work");
  po::options_description http{"HTTP (docs/operations.md)"};
  http_options hd;
  http.add_options()
    ("http-listen",
     po::value(&r.http_listen)
       ->default_value(to_string(hd.listen))
       ->value_name("HOST:PORT"),
     "address for HTTP: /healthz, /readyz, /metrics, /api/, the web "
     "console; or none")
    ("web-root",
     po::value(&r.web_root)->default_value(default_web_root)->value_name(
       "DIR"),
     "directory served over HTTP: the web console at /, the chat example "
     "at /chat/, npm packages of its node_modules under /vendor/; or none");
  po::options_description stomp{"STOMP (docs/protocol-stomp.md)"};
  stomp_options sd;
  stomp.add_options()
    ("stomp-listen",
     po::value(&r.stomp_listen)
       ->default_value(to_string(sd.listen))
       ->value_name("HOST:PORT"),
     "address for STOMP 1.2 clients, or none")
    ("stomp-heartbeat",
     po::value(&r.stomp_heartbeat)
       ->default_value(sd.heartbeat_ms)
       ->value_name("MS"),
     "heart-beat interval offered to and asked of STOMP clients (0 = none)")
    ("stomp-max-headers",
     po::value(&r.stomp_max_headers)
       ->default_value(sd.max_headers)
       ->value_name("N"),
     "most header lines in one STOMP frame")
    ("stomp-max-header-line",
     po::value(&r.stomp_max_header_line)
       ->default_value(sd.max_header_line)
       ->value_name("BYTES"),
     "longest STOMP header line")
    ("stomp-max-body",
     po::value(&r.stomp_max_body)->default_value(0)->value_name("BYTES"),
     "largest STOMP frame body (0 = --default-max-msg-length)")
    ("stomp-frame-timeout",
     po::value(&r.stomp_frame_timeout)
       ->default_value(sd.frame_timeout_ms)
       ->value_name("MS"),
     "time a STOMP frame has to arrive in full once its first byte came "
     "(0 = no limit)")
    ("stomp-max-transaction-memory",
     po::value(&r.stomp_max_transaction_memory)
       ->default_value(sd.max_transaction_memory)
       ->value_name("BYTES"),
     "body bytes the open transactions of all STOMP connections may hold "
     "together; more is refused with 2024");
  po::options_description persistence{"Persistence (docs/operations.md)"};
  persistence.add_options()
    ("disk-free-limit",
     po::value(&r.disk_free_limit)->default_value("1G")->value_name("SIZE"),
     "free space on the data dir's disk below which persistent puts are "
     "refused with 2102 until space returns: bytes or a K/M/G/T suffix; 0 = "
     "no guard")
    ("journal-segment-size",
     po::value(&r.journal_segment_size)
       ->default_value("64M")
       ->value_name("SIZE"),
     "size at which the journal starts a new segment file (64K-4G)")
    ("journal-sync",
     po::value(&r.journal_sync)
       ->default_value("fdatasync")
       ->value_name("MODE"),
     "fdatasync: a persistent put is confirmed once on disk; none: once "
     "written to the OS (survives a crash of the node, NOT of the machine)")
    ("recover-truncate",
     po::bool_switch(&r.recover_truncate),
     "start even if the journal is corrupt before its end, dropping "
     "everything from the bad record on (LOSES DATA; see docs)");
  cluster_options cl;
  po::options_description security{"Users (docs/operations.md)"};
  security.add_options()
    ("users-file", po::value(&r.users_file)->value_name("FILE"),
     "users, their password hashes and permissions; clients must then "
     "authenticate (reloaded on SIGHUP)")
    ("allow-anonymous", po::bool_switch(&r.allow_anonymous),
     "without --users-file, let STOMP and HTTP listen on non-loopback "
     "addresses anyway (anyone who reaches them may do anything)");
  po::options_description cluster{"Cluster (design §6)"};
  cluster.add_options()
    ("cluster-listen",
     po::value(&r.cluster_listen)->value_name("HOST:PORT"),
     "address for the other members of the cluster (off unless set; other "
     "members dial exactly this address)")
    ("seeds", po::value(&r.seeds)->value_name("HOST:PORT,..."),
     "cluster listeners of members to join through (needs "
     "--cluster-listen)")
    ("cluster-heartbeat",
     po::value(&r.cluster_heartbeat)
       ->default_value(cl.heartbeat_ms)
       ->value_name("MS"),
     "interval of heartbeats to the other members")
    ("cluster-timeout",
     po::value(&r.cluster_timeout)
       ->default_value(cl.timeout_ms)
       ->value_name("MS"),
     "silence after which a member counts as down");
  tls_options td;
  po::options_description tls{"TLS (docs/operations.md, \"TLS\")"};
  tls.add_options()
    ("tls-cert", po::value(&r.tls_cert)->value_name("FILE"),
     "the node's certificate chain (PEM), for every TLS listener")
    ("tls-key", po::value(&r.tls_key)->value_name("FILE"),
     "the private key of --tls-cert (PEM, unencrypted)")
    ("tls-ca", po::value(&r.tls_ca)->value_name("FILE"),
     "the CA (PEM) that signs every member's and client's certificate; with "
     "--tls-cert and --tls-key, --listen and --cluster-listen run mutual TLS")
    ("stomp-tls-listen",
     po::value(&r.stomp_tls_listen)->value_name("HOST:PORT"),
     "address for STOMP 1.2 over TLS (off unless set; needs --tls-cert and "
     "--tls-key)")
    ("http-tls-listen",
     po::value(&r.http_tls_listen)->value_name("HOST:PORT"),
     "address for HTTPS, the same API as --http-listen (off unless set; "
     "needs --tls-cert and --tls-key)")
    ("tls-handshake-timeout",
     po::value(&r.tls_handshake_timeout)
       ->default_value(td.handshake_timeout_ms)
       ->value_name("MS"),
     "time a client of a STOMP or HTTPS TLS listener has to complete its "
     "handshake");
  po::options_description all;
  all.add(general).add(node).add(conns).add(queues).add(flow).add(stomp).add(
    http).add(persistence).add(security).add(cluster).add(tls);
  return all;
}

std::string validate_cluster(const raw_options& r, options& out) {
  if (r.cluster_listen.empty() || r.cluster_listen == "none") {
    if (!r.seeds.empty())
      return "--seeds needs --cluster-listen";
  } else {
    if (!parse_endpoint(r.cluster_listen, out.cluster.listen))
      return "--cluster-listen '" + r.cluster_listen.substr(0, 64)
             + "': expected HOST:PORT with a port in 1-65535";
    out.cluster.enabled = true;
    out.qm.cluster_listen = to_string(out.cluster.listen);
    std::string::size_type start = 0;
    while (start <= r.seeds.size() && !r.seeds.empty()) {
      auto comma = r.seeds.find(',', start);
      auto item = r.seeds.substr(start, comma == std::string::npos
                                          ? std::string::npos
                                          : comma - start);
      endpoint ep;
      if (!parse_endpoint(item, ep))
        return "--seeds '" + item.substr(0, 64)
               + "': expected HOST:PORT,... with ports in 1-65535";
      out.cluster.seeds.push_back(to_string(ep));
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
  }
  constexpr int64_t max_ms = 3600 * 1000;
  if (r.cluster_heartbeat < 10 || r.cluster_heartbeat > max_ms)
    return "--cluster-heartbeat: expected 10-3600000 ms";
  if (r.cluster_timeout <= r.cluster_heartbeat || r.cluster_timeout > max_ms)
    return "--cluster-timeout: expected more than --cluster-heartbeat and at "
           "most 3600000 ms";
  out.cluster.heartbeat_ms = r.cluster_heartbeat;
  out.cluster.timeout_ms = r.cluster_timeout;
  return {};
}

std::string validate_tls(const raw_options& r, options& out) {
  auto& t = out.tls;
  t.cert = r.tls_cert;
  t.key = r.tls_key;
  t.ca = r.tls_ca;
  if (t.cert.empty() != t.key.empty())
    return t.cert.empty() ? "--tls-key needs --tls-cert"
                          : "--tls-cert needs --tls-key";
  if (!t.ca.empty() && t.cert.empty())
    return "--tls-ca needs --tls-cert and --tls-key (mutual TLS: the node "
           "shows its own certificate too)";
  for (auto [text, name, target] :
       {std::tuple{&r.stomp_tls_listen, "--stomp-tls-listen", &t.stomp_listen},
        std::tuple{&r.http_tls_listen, "--http-tls-listen", &t.http_listen}}) {
    if (text->empty() || *text == "none")
      continue;
    endpoint ep;
    if (!parse_endpoint(*text, ep))
      return std::string{name} + " '" + text->substr(0, 64)
             + "': expected HOST:PORT with a port in 1-65535, or none";
    if (t.cert.empty())
      return std::string{name} + " needs --tls-cert and --tls-key";
    *target = ep;
  }
  if (r.tls_handshake_timeout < 100 || r.tls_handshake_timeout > 600'000)
    return "--tls-handshake-timeout: expected 100-600000 ms";
  t.handshake_timeout_ms = r.tls_handshake_timeout;
  // BASP trusts its peers: off loopback only with mutual TLS.
  auto basp_guard = [&](const endpoint& ep, const char* name) -> std::string {
    if (is_loopback(ep.host) || t.mutual())
      return {};
    return std::string{name} + " " + to_string(ep)
           + " is not a loopback address: the native protocol (BASP) trusts "
             "its peers, so it needs mutual TLS there (set --tls-cert, "
             "--tls-key and --tls-ca) or a loopback address";
  };
  if (auto err = basp_guard(out.listen, "--listen"); !err.empty())
    return err;
  if (out.cluster.enabled)
    return basp_guard(out.cluster.listen, "--cluster-listen");
  return {};
}

std::string validate(const raw_options& r, options& out) {
  if (!is_valid_name(r.qmgr))
    return "--qmgr '" + r.qmgr.substr(0, 64) + "': " + std::string{name_rule};
  out.qm.name = r.qmgr;
  if (!parse_endpoint(r.listen, out.listen))
    return "--listen '" + r.listen.substr(0, 64)
           + "': expected HOST:PORT with a port in 1-65535";
  if (spdlog::level::from_str(r.log_level) == spdlog::level::off
      && r.log_level != "off")
    return "--log-level '" + r.log_level.substr(0, 32)
           + "': expected trace, debug, info, warn, error, critical or off";
  out.log_level = r.log_level;
  out.log_file = r.log_file;
  out.data_dir = r.data_dir.empty() ? "./data/" + r.qmgr : r.data_dir;
  out.threads = r.threads;
  if (r.threads > 1024)
    return "--threads: at most 1024";
  out.qm.auto_define = r.auto_define;
  out.qm.max_uncommitted = r.max_uncommitted;
  if (r.max_uncommitted == 0)
    return "--max-uncommitted: at least 1";
  out.qm.limits.max_msg_length_cap = r.max_msg_length_cap;
  if (r.max_msg_length_cap == 0)
    return "--max-msg-length-cap: at least 1";
  // Queue defaults go through the same validation as a define.
  attr_map defaults{
    {"max_depth", std::to_string(r.max_depth)},
    {"max_msg_length", std::to_string(r.max_msg_length)},
    {"default_persistence", r.default_persistent ? "true" : "false"},
    {"default_priority", std::to_string(r.default_priority)},
  };
  if (r.default_priority < 0 || r.default_priority > 9)
    return "--default-priority: expected 0-9";
  if (auto err = apply_attrs(out.qm.queue_defaults, defaults, out.qm.limits))
    return "queue defaults: " + render(err);
  if (!parse_memory_size(r.memory_limit, out.memory_limit))
    return "--memory-limit '" + r.memory_limit.substr(0, 32)
           + "': expected bytes, a K/M/G/T suffix or a percentage (1-100%)";
  if (out.memory_limit < 16 * 1024 * 1024)
    return "--memory-limit: at least 16M";
  out.memory_limit_text = r.memory_limit;
  out.journal.dir = std::filesystem::path{out.data_dir} / "journal";
  if (r.disk_free_limit == "0")
    out.journal.disk_free_limit = 0;
  else if (r.disk_free_limit.find('%') != std::string::npos
           || !parse_memory_size(r.disk_free_limit,
                                 out.journal.disk_free_limit))
    return "--disk-free-limit '" + r.disk_free_limit.substr(0, 32)
           + "': expected bytes or a K/M/G/T suffix, or 0";
  if (r.journal_segment_size.find('%') != std::string::npos
      || !parse_memory_size(r.journal_segment_size,
                            out.journal.segment_bytes)
      || out.journal.segment_bytes < 64 * 1024
      || out.journal.segment_bytes > (uint64_t{4} << 30))
    return "--journal-segment-size '" + r.journal_segment_size.substr(0, 32)
           + "': expected 64K to 4G";
  if (r.journal_sync == "fdatasync")
    out.journal.sync = store::sync_mode::fdatasync;
  else if (r.journal_sync == "none")
    out.journal.sync = store::sync_mode::none;
  else
    return "--journal-sync '" + r.journal_sync.substr(0, 32)
           + "': expected fdatasync or none";
  out.journal.recover_truncate = r.recover_truncate;
  if (r.put_wait == "unlimited" || r.put_wait == "-1") {
    out.qm.put_wait_ms = -1;
  } else {
    int64_t ms = -1;
    auto res = std::from_chars(r.put_wait.data(),
                               r.put_wait.data() + r.put_wait.size(), ms);
    if (res.ec != std::errc{} || res.ptr != r.put_wait.data() + r.put_wait.size()
        || ms < 0 || ms > 24LL * 3600 * 1000)
      return "--put-wait '" + r.put_wait.substr(0, 32)
             + "': expected 0-86400000 ms or unlimited";
    out.qm.put_wait_ms = ms;
  }
  if (r.http_listen == "none") {
    out.http.enabled = false;
  } else if (!parse_endpoint(r.http_listen, out.http.listen)) {
    return "--http-listen '" + r.http_listen.substr(0, 64)
           + "': expected HOST:PORT with a port in 1-65535, or none";
  }
  if (r.web_root != "none") {
    std::error_code ec;
    if (std::filesystem::is_directory(r.web_root, ec))
      out.http.web_root = r.web_root;
    else if (r.web_root != default_web_root)
      return "--web-root '" + r.web_root.substr(0, 200)
             + "': not a directory";
  }
  if (r.stomp_listen == "none") {
    out.stomp.enabled = false;
  } else if (!parse_endpoint(r.stomp_listen, out.stomp.listen)) {
    return "--stomp-listen '" + r.stomp_listen.substr(0, 64)
           + "': expected HOST:PORT with a port in 1-65535, or none";
  }
  if (r.stomp_heartbeat > 24 * 3600 * 1000)
    return "--stomp-heartbeat: at most 86400000 ms";
  out.stomp.heartbeat_ms = r.stomp_heartbeat;
  if (r.stomp_max_headers < 8 || r.stomp_max_headers > 65536)
    return "--stomp-max-headers: expected 8-65536";
  out.stomp.max_headers = r.stomp_max_headers;
  if (r.stomp_max_header_line < 256 || r.stomp_max_header_line > 1024 * 1024)
    return "--stomp-max-header-line: expected 256-1048576";
  out.stomp.max_header_line = r.stomp_max_header_line;
  out.stomp.max_body = r.stomp_max_body == 0
                         ? out.qm.queue_defaults.max_msg_length
                         : r.stomp_max_body;
  if (out.stomp.max_body > out.qm.limits.max_msg_length_cap)
    return "--stomp-max-body: at most --max-msg-length-cap";
  if (r.stomp_frame_timeout > 24 * 3600 * 1000)
    return "--stomp-frame-timeout: at most 86400000 ms";
  out.stomp.frame_timeout_ms = r.stomp_frame_timeout;
  if (r.stomp_max_transaction_memory < 1
      || r.stomp_max_transaction_memory > max_transaction_memory_cap)
    return "--stomp-max-transaction-memory: expected 1-"
           + std::to_string(max_transaction_memory_cap);
  out.stomp.max_transaction_memory = r.stomp_max_transaction_memory;
  if (r.max_connections < 1 || r.max_connections > max_connection_cap)
    return "--max-connections: expected 1-"
           + std::to_string(max_connection_cap);
  out.caps.max_connections = r.max_connections;
  if (r.max_connections_per_address < 1
      || r.max_connections_per_address > max_connection_cap)
    return "--max-connections-per-address: expected 1-"
           + std::to_string(max_connection_cap);
  out.caps.max_per_address = r.max_connections_per_address;
  out.users_file = r.users_file;
  out.allow_anonymous = r.allow_anonymous;
  if (auto err = validate_cluster(r, out); !err.empty())
    return err;
  if (auto err = validate_tls(r, out); !err.empty())
    return err;
  // Anonymous clients only on loopback: every client listener (the
  // cluster listener's peers are members, checked by mutual TLS).
  if (out.users_file.empty() && !out.allow_anonymous) {
    std::vector<std::pair<const char*, endpoint>> client_listeners{
      {"--listen", out.listen}};
    if (out.stomp.enabled)
      client_listeners.emplace_back("--stomp-listen", out.stomp.listen);
    if (out.http.enabled)
      client_listeners.emplace_back("--http-listen", out.http.listen);
    if (out.tls.stomp_listen)
      client_listeners.emplace_back("--stomp-tls-listen",
                                    *out.tls.stomp_listen);
    if (out.tls.http_listen)
      client_listeners.emplace_back("--http-tls-listen",
                                    *out.tls.http_listen);
    for (const auto& [name, ep] : client_listeners)
      if (!is_loopback(ep.host))
        return std::string{name} + " " + to_string(ep)
               + " is not a loopback address: give --users-file (or "
                 "--allow-anonymous to accept anyone)";
  }
  return {};
}

} // namespace

parse_result parse(int argc, char** argv) {
  parse_result result;
  raw_options raw;
  auto desc = describe(raw);
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::ostringstream os;
      os << "usage: qmesh-node [options]\n\n"
            "Runs one qmesh queue manager.\n"
         << desc;
      result.out = os.str();
      return result;
    }
    if (vm.count("hash-password")) {
      result.hash_password = true;
      return result;
    }
    if (vm.count("version")) {
      result.out = std::string{"qmesh-node "} + QMESH_VERSION + "\n";
      return result;
    }
    if (vm.count("config")) {
      auto file = vm["config"].as<std::string>();
      std::ifstream in{file};
      if (!in) {
        result.error = "--config '" + file + "': cannot open file";
        return result;
      }
      po::store(po::parse_config_file(in, desc, false), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    result.error = e.what();
    return result;
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  options opts;
  if (auto err = validate(raw, opts); !err.empty()) {
    result.error = err;
    return result;
  }
  result.opts = std::move(opts);
  return result;
}

} // namespace qmesh::node
