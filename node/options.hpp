// qmesh-node options: command line and INI file, both through
// Boost.Program_options. Every option can be set in the file; the command
// line wins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/queue_manager.hpp"
#include "store/journal.hpp"

namespace qmesh::node {

/// Host and port of a listener.
struct endpoint {
  std::string host;
  uint16_t port = 0;
};

std::string to_string(const endpoint& x);

/// Caps of every client listener (STOMP now; HTTP and WebSocket next):
/// connections over them are refused with 2025 (docs/operations.md).
struct connection_caps {
  /// Open connections per listener.
  size_t max_connections = 10'000;
  /// Open connections per listener from one IP address.
  size_t max_per_address = 1'000;
};

/// The STOMP front-end's settings (docs/protocol-stomp.md).
struct stomp_options {
  /// False for `--stomp-listen none`.
  bool enabled = true;
  endpoint listen{"127.0.0.1", 61613};
  /// Heart-beat interval offered and asked for, in ms; 0 = none.
  uint32_t heartbeat_ms = 10'000;
  size_t max_headers = 128;
  size_t max_header_line = 16 * 1024;
  /// 0 = the queue defaults' max_msg_length.
  size_t max_body = 0;
  /// Time a started frame has to complete, in ms; 0 = no limit.
  uint32_t frame_timeout_ms = 30'000;
  /// Body bytes held by the open transactions of all STOMP connections.
  size_t max_transaction_memory = 256 * 1024 * 1024;
};

/// The HTTP front-end: health, readiness, metrics (docs/operations.md).
struct http_options {
  /// False for `--http-listen none`.
  bool enabled = true;
  endpoint listen{"127.0.0.1", 7780};
  /// The directory served as static files (console, chat); empty for
  /// `--web-root none`.
  std::string web_root;
};

/// The cluster listener and how to join (design §6).
struct cluster_options {
  /// False unless --cluster-listen is set.
  bool enabled = false;
  endpoint listen;
  /// `host:port` each, as given.
  std::vector<std::string> seeds;
  int64_t heartbeat_ms = 1000;
  /// Silence after which a member counts as down.
  int64_t timeout_ms = 5000;
};

/// TLS (docs/operations.md, "TLS"): the node's certificate and key serve
/// the TLS listeners of STOMP and HTTP; with the CA as well, the native and
/// cluster listeners (BASP) run mutual TLS through CAF's OpenSSL module.
struct tls_options {
  /// PEM files; empty: not set.
  std::string cert;
  std::string key;
  /// The CA that signs every member's and client's certificate.
  std::string ca;
  /// STOMP over TLS; off unless set.
  std::optional<endpoint> stomp_listen;
  /// HTTPS; off unless set.
  std::optional<endpoint> http_listen;
  /// Time a TLS client has to complete its handshake.
  uint32_t handshake_timeout_ms = 10'000;

  /// True if BASP runs mutual TLS (cert, key and CA set).
  bool mutual() const noexcept {
    return !cert.empty() && !key.empty() && !ca.empty();
  }
};

/// True if `host` is a loopback address (127.0.0.0/8, ::1, `localhost`).
bool is_loopback(const std::string& host);

struct options {
  qm_config qm;
  tls_options tls;
  cluster_options cluster;
  stomp_options stomp;
  http_options http;
  connection_caps caps;
  std::string data_dir;
  endpoint listen{"127.0.0.1", 7700};
  std::string log_level = "info";
  std::string log_file;
  /// Scheduler threads; 0 = one per core.
  size_t threads = 0;
  /// Resident memory above which producers are held (bytes).
  uint64_t memory_limit = 0;
  /// As given (`40%`, `2G`), for the start-up line.
  std::string memory_limit_text;
  /// The journal (its dir is `<data_dir>/journal`).
  store::journal_config journal;
  /// The users file; empty: no users, clients are anonymous.
  std::string users_file;
  /// Without users, STOMP and HTTP listeners on non-loopback addresses are
  /// refused unless this is set.
  bool allow_anonymous = false;
};

/// What parsing decided.
struct parse_result {
  /// Set when the node should run.
  std::optional<options> opts;
  /// Text for stdout (help, version) when the node should exit 0.
  std::string out;
  /// One-line error for stderr when the node should exit 2.
  std::string error;
  /// --hash-password: hash a password from stdin and exit.
  bool hash_password = false;
};

/// Parses argv (and the file named by --config). Never throws.
parse_result parse(int argc, char** argv);

/// True if `host` is a loopback address or `localhost`.
bool is_loopback(const std::string& host);

/// Parses `HOST:PORT`; false if malformed or the port is not 1-65535.
bool parse_endpoint(const std::string& text, endpoint& out);

} // namespace qmesh::node
