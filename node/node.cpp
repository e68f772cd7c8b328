#include "node/node.hpp"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <set>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/basp_tls.hpp"
#include "actors/front_door.hpp"
#include "actors/log.hpp"
#include "actors/queue_manager.hpp"
#include "actors/system_config.hpp"
#include "cluster/channel.hpp"
#include "cluster/membership.hpp"
#include "core/authenticator.hpp"
#include "node/memory_monitor.hpp"
#include "node/port_probe.hpp"
#include "protocols/http/server.hpp"
#include "protocols/net/tcp_server.hpp"
#include "protocols/net/tls_connection.hpp"
#include "protocols/stomp/server.hpp"
#include "store/journal.hpp"

namespace qmesh::node {

namespace {

struct node_config : system_config {
  explicit node_config(const options& opts) {
    load<caf::io::middleman>();
    if (opts.tls.mutual()) {
      // BASP over mutual TLS (both sides show a certificate signed by the
      // CA). Only then: without TLS the node runs exactly as before.
      load_basp_tls(*this, {opts.tls.cert, opts.tls.key, opts.tls.ca});
    }
    // One worker per core: CAF's default of at least 4 oversubscribes small
    // machines and makes work stealing slow when many actors stop at once.
    auto threads = opts.threads > 0 ? opts.threads
                                    : std::max(1u, std::thread::hardware_concurrency());
    set("scheduler.max-threads", static_cast<size_t>(threads));
    // No CAF log files next to the node.
    set("logger.file-name", "");
    set("logger.verbosity", caf::atom("quiet"));
    if (opts.cluster.enabled) {
      // BASP heartbeats keep quiet links alive and let a link to a frozen
      // node time out. The timeout applies to client links too, which the
      // client library keeps alive with its own heartbeats; node loss
      // itself is the membership's job (its heartbeats and --cluster-timeout).
      using std::chrono::milliseconds;
      set("middleman.heartbeat-interval",
          caf::timespan{milliseconds{opts.cluster.heartbeat_ms}});
      set("middleman.connection-timeout",
          caf::timespan{milliseconds{
            std::max<int64_t>(2 * opts.cluster.timeout_ms, 30'000)}});
    }
  }
};

/// Exit code asked for by the membership (2: this node cannot join), 0 if
/// none. Written on an actor thread, read by the main thread after sigwait.
std::atomic<int> fatal_code{0};

spdlog::logger& node_log() {
  static auto l = log::get("qmesh.node");
  return *l;
}

/// Holds an exclusive lock on `<data dir>/LOCK` for the node's life: two
/// nodes on one data dir would corrupt its journal.
class data_dir_lock {
public:
  explicit data_dir_lock(const std::filesystem::path& dir) {
    auto path = dir / "LOCK";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (fd_ >= 0)
        ::close(fd_);
      fd_ = -1;
    }
  }
  ~data_dir_lock() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;
  bool held() const noexcept { return fd_ >= 0; }

private:
  int fd_ = -1;
};

/// SIGHUP: reads the users file again. A bad file keeps the old users. The
/// sessions of users that were removed or changed are closed (2009), so no
/// connection keeps rights the file no longer gives.
void reload_users(caf::actor_system& sys, const queue_manager_actor& qm,
                  authenticator& auth, const std::string& file) {
  if (file.empty()) {
    node_log().info("SIGHUP: no users file to reload");
    return;
  }
  std::string err;
  auto fresh = user_db::load(file, err);
  if (fresh == nullptr) {
    node_log().error("SIGHUP: users file '{}': {}; keeping the {} users "
                     "loaded before",
                     file, err, auth.users()->size());
    return;
  }
  auto old = auth.users();
  auth.replace(fresh);
  std::set<std::string> gone;
  for (auto& name : old->names()) {
    auto before = old->find(name);
    auto after = fresh->find(name);
    if (after == nullptr || !(*after == *before))
      gone.insert(name);
  }
  node_log().info("SIGHUP: users file '{}' reloaded: {} users, {} removed or "
                  "changed",
                  file, fresh->size(), gone.size());
  if (gone.empty())
    return;
  caf::scoped_actor self{sys};
  self->request(qm, std::chrono::seconds{10}, atom::list_v, atom::conns_v)
    .receive(
      [&](std::vector<connection_info>& conns) {
        for (auto& c : conns)
          if (gone.count(c.client.user) > 0) {
            node_log().info("closing connection {} of user {} ({})", c.id,
                            c.client.user, c.client.peer);
            self->send(qm, atom::disconnect_v, c.id);
          }
      },
      [&](caf::error& e) {
        node_log().error("SIGHUP: cannot list connections: {}",
                         sys.render(e));
      });
}

} // namespace

/// Why a BASP listener could not be opened, in plain words (CAF says
/// `system_error(cannot_open_port, ...)`); other errors as CAF renders them.
std::string listen_failure(caf::actor_system& sys, const caf::error& err) {
  if (err == caf::sec::cannot_open_port)
    return "the address is already in use or not on this machine";
  return sys.render(err);
}

int run(const options& opts) {
  // Stop signals are taken by sigwait below; block them before CAF starts
  // its threads so that none of them receives one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // SIGHUP (reload the users file) is taken by the same sigwait.
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    if (!log::configure(opts.log_level, opts.log_file)) {
      std::cerr << "qmesh-node: bad log level " << opts.log_level << '\n';
      return exit_usage;
    }
  } catch (const std::exception& e) {
    std::cerr << "qmesh-node: --log-file '" << opts.log_file
              << "': " << e.what() << '\n';
    return exit_usage;
  }
  // Users before anything else: a bad file stops the node at once.
  auto auth = std::make_shared<authenticator>();
  if (!opts.users_file.empty()) {
    std::string err;
    auto users = user_db::load(opts.users_file, err);
    if (users == nullptr) {
      std::cerr << "qmesh-node: --users-file '" << opts.users_file
                << "': " << err << '\n';
      return exit_usage;
    }
    auth->replace(std::move(users));
  }
  // Every listen address is free before anything is created: a busy port
  // stops the node with one line, no journal opened, no queue defined.
  for (const auto& addr : listen_addresses(opts)) {
    if (auto why = probe(addr); !why.empty()) {
      std::cerr << "qmesh-node: " << why << '\n';
      return exit_usage;
    }
  }
  std::error_code fs_err;
  std::filesystem::create_directories(opts.data_dir, fs_err);
  if (fs_err) {
    std::cerr << "qmesh-node: --data-dir '" << opts.data_dir
              << "': " << fs_err.message() << '\n';
    return exit_usage;
  }
  data_dir_lock lock{opts.data_dir};
  if (!lock.held()) {
    std::cerr << "qmesh-node: --data-dir '" << opts.data_dir
              << "' is in use by another node (or not writable)\n";
    return exit_usage;
  }
  // Recovery before anything listens: clients find every persistent
  // message in place. Declared before the actor system, so it outlives
  // every actor that appends to it.
  auto journal_cfg = opts.journal;
  journal_cfg.logger = log::get("qmesh.store");
  auto opened = store::journal::open(journal_cfg);
  if (!opened) {
    std::cerr << "qmesh-node: journal in '" << opts.journal.dir.string()
              << "': " << render(opened.error()) << '\n';
    return exit_failure;
  }
  std::shared_ptr<store::journal> journal = std::move(opened->first);
  auto recovered = std::make_shared<store::recovered_state>(
    std::move(opened->second));
  for (const auto& note : recovered->notes)
    node_log().warn("journal: {}", note);
  auto journal_stats = journal->stats();
  node_log().info("journal: recovered {} records in {} ms ({} segments, {} "
                  "bytes)",
                  recovered->records, journal_stats.recovery_ms,
                  journal_stats.segments, journal_stats.bytes);
  // TLS material is checked before anything listens: a bad file is a usage
  // error, never a failed handshake later.
  std::shared_ptr<net::tls_settings> tls;
  if (!opts.tls.cert.empty()) {
    std::string err;
    auto ctx = net::make_server_context(opts.tls.cert, opts.tls.key, err);
    if (ctx && !opts.tls.ca.empty())
      err = net::check_ca_file(opts.tls.ca);
    if (!ctx || !err.empty()) {
      std::cerr << "qmesh-node: " << err << '\n';
      return exit_usage;
    }
    tls = std::make_shared<net::tls_settings>();
    tls->context = std::move(ctx);
    tls->handshake_timeout
      = std::chrono::milliseconds{opts.tls.handshake_timeout_ms};
  }
  // Declared before the actor system, so it outlives every actor that holds
  // a connection (see net::io_thread).
  net::io_thread io;
  std::vector<std::shared_ptr<net::tcp_listener>> listeners;
  auto flow = std::make_shared<flow_control>();
  memory_monitor memory{flow, opts.memory_limit};
  node_config cfg{opts};
  caf::actor_system sys{cfg};
  auto qm_cfg = opts.qm;
  qm_cfg.flow = flow;
  qm_cfg.journal = journal;
  qm_cfg.journal_stats = [j = journal.get()] { return j->stats(); };
  qm_cfg.recovered = std::move(recovered);
  cluster::channel_settings channel;
  channel.local = qm_cfg.name;
  channel.window = qm_cfg.channel_window;
  channel.batch = qm_cfg.channel_batch;
  channel.timeout_ms = qm_cfg.remote_timeout_ms;
  channel.retry_min_ms = qm_cfg.channel_retry_min_ms;
  channel.retry_max_ms = qm_cfg.channel_retry_max_ms;
  qm_cfg.channel_factory = [channel](queue_manager_actor::pointer self,
                                     const std::string& remote,
                                     const queue_actor& xmitq) {
    return cluster::spawn_channel(self, channel, remote, xmitq);
  };
  auto qm = sys.spawn(queue_manager_impl, std::move(qm_cfg));
  memory.start();
  auto door = sys.spawn(front_door_impl, qm, auth);
  cluster_actor membership;
  auto stop_actors = [&] {
    // Sockets first: clients see their connections end at once.
    io.stop(std::move(listeners));
    listeners.clear();
    caf::anon_send_exit(door, caf::exit_reason::user_shutdown);
    if (membership) {
      // Before the queue manager: it tells the members it leaves.
      caf::scoped_actor waiter{sys};
      caf::anon_send_exit(membership, caf::exit_reason::user_shutdown);
      waiter->wait_for(membership);
    }
    caf::anon_send_exit(qm, caf::exit_reason::user_shutdown);
  };
  // Native and cluster listeners: BASP, over mutual TLS when configured
  // (unpublish works the same for both: one BASP broker holds them).
  auto publish = [&](const auto& handle, const endpoint& ep) {
    return opts.tls.mutual()
             ? caf::openssl::publish(handle, ep.port, ep.host.c_str(), true)
             : sys.middleman().publish(handle, ep.port, ep.host.c_str(),
                                       true);
  };
  const char* basp_tls = opts.tls.mutual() ? " (mutual TLS)" : "";
  auto port = publish(door, opts.listen);
  if (!port) {
    std::cerr << "qmesh-node: cannot listen on " << to_string(opts.listen)
              << " (native): " << listen_failure(sys, port.error()) << '\n';
    stop_actors();
    return exit_usage;
  }
  // STOMP settings: the STOMP listener's and STOMP over WebSocket's.
  auto stomp_cfg = std::make_shared<stomp::server_settings>();
  stomp_cfg->frame_limits.max_headers = opts.stomp.max_headers;
  stomp_cfg->frame_limits.max_header_line = opts.stomp.max_header_line;
  stomp_cfg->frame_limits.max_body = opts.stomp.max_body;
  stomp_cfg->heartbeat = std::chrono::milliseconds{opts.stomp.heartbeat_ms};
  stomp_cfg->frame_timeout
    = std::chrono::milliseconds{opts.stomp.frame_timeout_ms};
  stomp_cfg->transaction_memory = std::make_shared<net::byte_budget>(
    opts.stomp.max_transaction_memory);
  stomp_cfg->server_name = std::string{"qmesh/"} + QMESH_VERSION;
  std::string stomp_text = "stomp off";
  if (opts.stomp.enabled) {
    auto settings = stomp_cfg;
    net::listener_limits caps;
    caps.max_connections = opts.caps.max_connections;
    caps.max_per_address = opts.caps.max_per_address;
    std::string err;
    auto l = stomp::listen(io, sys, door, settings, caps,
                           opts.stomp.listen.host, opts.stomp.listen.port,
                           err);
    if (!l) {
      std::cerr << "qmesh-node: cannot listen on "
                << to_string(opts.stomp.listen) << " (stomp): " << err
                << '\n';
      sys.middleman().unpublish(door, *port);
      stop_actors();
      return exit_usage;
    }
    listeners.push_back(std::move(l));
    stomp_text = "stomp on " + to_string(opts.stomp.listen);
  }
  // One set of HTTP settings for the plain and the TLS listener: the same
  // API, users, static files and WebSocket endpoint on both.
  std::shared_ptr<http::server_settings> http_settings;
  if (opts.http.enabled || opts.tls.http_listen) {
    http_settings = std::make_shared<http::server_settings>();
    http_settings->server_name = std::string{"qmesh/"} + QMESH_VERSION;
    if (!opts.http.web_root.empty()) {
      http_settings->web
        = std::make_shared<const http::static_files>(opts.http.web_root);
      node_log().info("http: web root {}", http_settings->web->root());
    }
    http_settings->websocket
      = stomp::websocket_settings(sys, door, stomp_cfg);
    http_settings->auth = auth;
  }
  std::string http_text = "http off";
  if (opts.http.enabled) {
    auto settings = http_settings;
    net::listener_limits caps;
    caps.max_connections = opts.caps.max_connections;
    caps.max_per_address = opts.caps.max_per_address;
    std::string err;
    auto l = http::listen(io, sys, door, settings, caps,
                          opts.http.listen.host, opts.http.listen.port, err);
    if (!l) {
      std::cerr << "qmesh-node: cannot listen on "
                << to_string(opts.http.listen) << " (http): " << err
                << '\n';
      sys.middleman().unpublish(door, *port);
      stop_actors();
      return exit_usage;
    }
    listeners.push_back(std::move(l));
    http_text = "http on " + to_string(opts.http.listen);
  }
  std::string tls_text;
  auto tls_listen = [&](const endpoint& ep, const char* what,
                        auto&& open) -> bool {
    net::listener_limits caps;
    caps.max_connections = opts.caps.max_connections;
    caps.max_per_address = opts.caps.max_per_address;
    std::string err;
    auto l = open(caps, err);
    if (!l) {
      std::cerr << "qmesh-node: cannot listen on " << to_string(ep) << " ("
                << what << "): " << err << '\n';
      return false;
    }
    listeners.push_back(std::move(l));
    tls_text += std::string{", "} + what + " on " + to_string(ep);
    return true;
  };
  bool tls_ok = true;
  if (opts.tls.stomp_listen) {
    const auto& ep = *opts.tls.stomp_listen;
    tls_ok = tls_listen(ep, "stomp+tls", [&](auto& caps, auto& err) {
      return stomp::listen(io, sys, door, stomp_cfg, caps, ep.host, ep.port,
                           err, tls);
    });
  }
  if (tls_ok && opts.tls.http_listen) {
    const auto& ep = *opts.tls.http_listen;
    tls_ok = tls_listen(ep, "https", [&](auto& caps, auto& err) {
      return http::listen(io, sys, door, http_settings, caps, ep.host,
                          ep.port, err, tls);
    });
  }
  if (!tls_ok) {
    sys.middleman().unpublish(door, *port);
    stop_actors();
    return exit_usage;
  }
  if (!listeners.empty())
    io.start();
  std::string cluster_text = "cluster off";
  std::optional<uint16_t> cluster_port;
  if (opts.cluster.enabled) {
    cluster::membership_settings ms;
    ms.name = opts.qm.name;
    ms.address = to_string(opts.cluster.listen);
    ms.seeds = opts.cluster.seeds;
    ms.heartbeat_ms = opts.cluster.heartbeat_ms;
    ms.timeout_ms = opts.cluster.timeout_ms;
    ms.qm = qm;
    ms.data_dir = opts.data_dir;
    ms.on_fatal = [](int code, std::string why) {
      fatal_code = code;
      node_log().critical("{}", why);
      std::cerr << "qmesh-node: " << why << std::endl;
      // The main thread's sigwait returns; run() returns the code.
      kill(getpid(), SIGTERM);
    };
    membership = sys.spawn(cluster::membership, std::move(ms));
    auto p = publish(membership, opts.cluster.listen);
    if (!p) {
      std::cerr << "qmesh-node: cannot listen on "
                << to_string(opts.cluster.listen)
                << " (cluster): " << listen_failure(sys, p.error()) << '\n';
      sys.middleman().unpublish(door, *port);
      memory.stop();
      stop_actors();
      return exit_usage;
    }
    cluster_port = *p;
    cluster_text = "cluster on " + to_string(opts.cluster.listen) + basp_tls;
  }
  node_log().info("qmesh-node {} started: queue manager {}, clients on {}, "
                  "{}, {}, {}{}, data dir {}, memory limit {} ({} MiB)",
                  QMESH_VERSION, opts.qm.name,
                  to_string(opts.listen) + basp_tls, stomp_text, cluster_text,
                  http_text, tls_text, opts.data_dir,
                  opts.memory_limit_text, opts.memory_limit >> 20);
  // Also on stdout, flushed, so scripts can wait for readiness.
  std::cout << "qmesh-node " << QMESH_VERSION << ": queue manager "
            << opts.qm.name << " listening on " << to_string(opts.listen)
            << basp_tls << ", " << stomp_text << ", " << cluster_text << ", "
            << http_text << tls_text << std::endl;
  if (auth->enabled())
    node_log().info("users: {} from {}", auth->users()->size(),
                    opts.users_file);
  else if (opts.allow_anonymous)
    node_log().warn("no users file and --allow-anonymous: anyone who "
                    "reaches a listener may do anything");
  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP)
      break;
    reload_users(sys, qm, *auth, opts.users_file);
  }
  int code = fatal_code.load();
  if (code != 0)
    node_log().info("stopping: cannot be a member of the cluster");
  else
    node_log().info("{} received: stopping",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
  sys.middleman().unpublish(door, *port);
  if (cluster_port)
    sys.middleman().unpublish(membership, *cluster_port);
  memory.stop();
  stop_actors();
  // The actor system's destructor waits for every actor to finish.
  return code != 0 ? code : exit_ok;
}

} // namespace qmesh::node
