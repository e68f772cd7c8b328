#include "protocols/http/connection.hpp"

#include <optional>
#include <sstream>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/log.hpp"
#include "protocols/http/metrics.hpp"

namespace qmesh::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;
using steady_clock = std::chrono::steady_clock;

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

/// A JSON error body: `{"reason": 2085, "error": "2085 ...: text"}`.
std::string error_body(int reason, const std::string& text) {
  json j;
  j["reason"] = reason;
  j["error"] = text;
  return j.dump() + "\n";
}

struct connection_state {
  static inline const char* name = "qmesh.http";

  connection_actor::pointer self = nullptr;
  std::shared_ptr<net::tcp_connection> conn;
  front_door_actor door;
  std::shared_ptr<const server_settings> cfg;
  session_actor session;
  /// Bytes read and not parsed yet (while a request is answered, or before
  /// the session exists).
  std::string input;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;
  /// A request is being answered: parsing waits.
  bool busy = false;
  bool closing = false;
  /// Chunks read and not yet released to the TCP layer: while `input`
  /// holds more than one request can be, reading pauses (a client that
  /// pipelines without reading answers is held back).
  unsigned owed = 0;
  steady_clock::time_point last_activity;
  uint64_t tick_gen = 0;

  void start() {
    last_activity = steady_clock::now();
    reset_parser();
    busy = true; // until the session exists
    self
      ->request(door, std::chrono::seconds{10}, atom::connect_v,
                caf::actor_cast<consumer_actor>(self))
      .then(
        [this](session_actor& s, qm_status&) {
          session = std::move(s);
          busy = false;
          parse();
        },
        [this](caf::error& e) {
          respond_error(503, mqrc(ec::unexpected_error),
                        "no session: " + render(e), false);
        });
    schedule_tick();
  }

  void reset_parser() {
    parser.emplace();
    parser->header_limit(cfg->max_header_bytes);
    parser->body_limit(cfg->max_body_bytes);
    parser->eager(true);
  }

  void on_bytes(std::string& chunk) {
    input += chunk;
    ++owed;
    last_activity = steady_clock::now();
    parse();
    release();
  }

  void release() {
    auto limit = cfg->max_header_bytes + cfg->max_body_bytes;
    while (owed > 0 && input.size() <= limit) {
      --owed;
      conn->consumed();
    }
  }

  /// Parses the next request from `input` unless one is being answered.
  void parse() {
    while (!busy && !closing && !input.empty()) {
      beast::error_code ec;
      auto n = parser->put(boost::asio::buffer(input), ec);
      input.erase(0, n);
      if (ec == bhttp::error::need_more) {
        if (n == 0)
          return;
        continue;
      }
      if (ec) {
        if (ec == bhttp::error::body_limit)
          respond_error(413, mqrc(ec::options_error),
                        "2046 options_error: request body over "
                          + std::to_string(cfg->max_body_bytes) + " bytes",
                        false);
        else if (ec == bhttp::error::header_limit)
          respond_error(431, mqrc(ec::options_error),
                        "2046 options_error: request head over "
                          + std::to_string(cfg->max_header_bytes)
                          + " bytes",
                        false);
        else
          respond_error(400, mqrc(ec::options_error),
                        "2046 options_error: malformed request: "
                          + ec.message(),
                        false);
        return;
      }
      if (parser->is_done()) {
        auto req = parser->release();
        reset_parser();
        busy = true;
        handle(std::move(req));
      }
    }
  }

  void handle(request req) {
    auto target = std::string{req.target()};
    auto path = target.substr(0, target.find('?'));
    bool keep = req.keep_alive();
    bool get = req.method() == bhttp::verb::get
               || req.method() == bhttp::verb::head;
    bool head = req.method() == bhttp::verb::head;
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
      if (!get) {
        respond_error(405, mqrc(ec::options_error),
                      "2046 options_error: " + path + " takes GET", keep,
                      "GET, HEAD");
        return;
      }
    } else {
      respond_error(404, mqrc(ec::unknown_object_name),
                    "2085 unknown_object_name: no resource "
                      + target.substr(0, 200),
                    keep);
      return;
    }
    if (path == "/healthz") {
      respond(200, "application/json", "{\"status\":\"ok\"}\n", keep, head);
      return;
    }
    if (path == "/readyz") {
      self->request(session, std::chrono::seconds{5}, atom::status_v)
        .then(
          [this, keep, head](qm_status& st) {
            auto reasons = json::array();
            if (st.memory_alarm)
              reasons.push_back("memory alarm: resident "
                                + std::to_string(st.memory_used)
                                + " bytes over the limit of "
                                + std::to_string(st.memory_limit));
            if (st.disk_alarm)
              reasons.push_back("disk alarm: "
                                + std::to_string(st.disk_free)
                                + " bytes free on the journal's disk");
            json j;
            j["status"] = reasons.empty() ? "ready" : "not ready";
            if (!reasons.empty())
              j["reasons"] = reasons;
            respond(reasons.empty() ? 200 : 503, "application/json",
                    j.dump() + "\n", keep, head);
          },
          [this, keep](caf::error& e) {
            respond_error(503, mqrc(ec::unexpected_error),
                          "no answer from the queue manager: " + render(e),
                          keep);
          });
      return;
    }
    // /metrics: status, every queue, the cluster.
    struct parts {
      qm_status node;
      std::vector<queue_status> queues;
    };
    auto p = std::make_shared<parts>();
    auto fail = [this, keep](caf::error& e) {
      respond_error(503, mqrc(ec::unexpected_error),
                    "no answer from the queue manager: " + render(e), keep);
    };
    self->request(session, std::chrono::seconds{10}, atom::status_v)
      .then(
        [this, p, keep, head, fail](qm_status& st) {
          p->node = std::move(st);
          self
            ->request(session, std::chrono::seconds{10}, atom::list_v,
                      std::string{"*"})
            .then(
              [this, p, keep, head, fail](std::vector<queue_status>& qs) {
                p->queues = std::move(qs);
                self
                  ->request(session, std::chrono::seconds{10},
                            atom::cluster_v)
                  .then(
                    [this, p, keep, head](cluster_status& cs) {
                      respond(200, "text/plain; version=0.0.4",
                              render_metrics(p->node, p->queues, cs), keep,
                              head);
                    },
                    fail);
              },
              fail);
        },
        fail);
  }

  void respond(unsigned status, const char* content_type, std::string body,
               bool keep, bool head = false, const char* allow = nullptr) {
    response res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::server, cfg->server_name);
    res.set(bhttp::field::content_type, content_type);
    res.set(bhttp::field::cache_control, "no-store");
    if (allow)
      res.set(bhttp::field::allow, allow);
    res.keep_alive(keep);
    auto size = body.size();
    if (!head)
      res.body() = std::move(body);
    res.prepare_payload();
    if (head)
      res.content_length(size);
    std::ostringstream os;
    os << res.base();
    auto bytes = os.str();
    if (!head)
      bytes += res.body();
    conn->write(std::move(bytes));
    last_activity = steady_clock::now();
    busy = false;
    if (!keep) {
      closing = true;
      conn->close_after_flush();
      return;
    }
    parse();
    release();
  }

  void respond_error(unsigned status, int reason, const std::string& text,
                     bool keep, const char* allow = nullptr) {
    respond(status, "application/json", error_body(reason, text), keep,
            false, allow);
  }

  void schedule_tick() {
    self->delayed_send(self,
                       cfg->idle_timeout / 2 + std::chrono::milliseconds{1},
                       atom::tick_v, ++tick_gen);
  }

  void on_tick(uint64_t gen) {
    if (gen != tick_gen || closing)
      return;
    if (!busy && steady_clock::now() - last_activity >= cfg->idle_timeout) {
      closing = true;
      conn->close_after_flush();
      return;
    }
    schedule_tick();
  }
};

connection_actor::behavior_type
connection_impl(connection_actor::stateful_pointer<connection_state> self,
                std::shared_ptr<net::tcp_connection> conn,
                front_door_actor door,
                std::shared_ptr<const server_settings> cfg) {
  auto& st = self->state;
  st.self = self;
  st.conn = conn;
  st.door = std::move(door);
  st.cfg = std::move(cfg);
  // However the actor ends, the socket closes.
  self->attach_functor([conn] { conn->close_after_flush(); });
  st.start();
  return {
    [self](atom::received, std::string& chunk) {
      self->state.on_bytes(chunk);
    },
    [self](atom::drained) {},
    [self](atom::close, std::string&) {
      self->state.closing = true;
      self->quit();
    },
    [self](atom::tick, uint64_t gen) { self->state.on_tick(gen); },
    [](atom::deliver, delivery_batch&) {
      // An HTTP connection has no consumers.
    },
  };
}

} // namespace

connection_actor
spawn_connection(caf::actor_system& sys,
                 std::shared_ptr<net::tcp_connection> conn,
                 front_door_actor door,
                 std::shared_ptr<const server_settings> cfg) {
  return sys.spawn(connection_impl, std::move(conn), std::move(door),
                   std::move(cfg));
}

} // namespace qmesh::http
