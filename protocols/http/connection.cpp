#include "protocols/http/connection.hpp"

#include <cctype>
#include <charconv>
#include <optional>
#include <sstream>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/log.hpp"
#include "core/json_view.hpp"
#include "core/password.hpp"
#include "protocols/http/metrics.hpp"
#include "protocols/http/url.hpp"
#include "protocols/net/ws_connection.hpp"

namespace qmesh::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;
using steady_clock = std::chrono::steady_clock;

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

/// The value of query parameter `key` in `query` (decoded), or nullopt.
std::optional<std::string> query_param(std::string_view query,
                                       std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == key) {
      std::string value;
      if (eq == std::string_view::npos)
        return value;
      if (!percent_decode(part.substr(eq + 1), value, true))
        return std::nullopt;
      return value;
    }
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// A message from the API's JSON form (`body`, `correl_id`,
/// `content_type`, `persistent`, `priority`, `expiry`, `properties`);
/// throws std::exception on a bad field.
message message_of(const nlohmann::json& j) {
  if (!j.is_object())
    throw std::invalid_argument{"expected an object"};
  message m;
  m.body = j.value("body", std::string{});
  m.correl_id = j.value("correl_id", std::string{});
  m.content_type = j.value("content_type", std::string{});
  if (j.contains("persistent"))
    m.persistent = j.at("persistent").get<bool>() ? 1 : 0;
  if (j.contains("priority")) {
    auto p = j.at("priority").get<int>();
    if (p < 0 || p > 9)
      throw std::invalid_argument{"priority must be 0-9"};
    m.priority = static_cast<int8_t>(p);
  }
  if (j.contains("expiry"))
    m.expiry = j.at("expiry").get<int64_t>();
  if (j.contains("properties"))
    m.properties
      = j.at("properties").get<std::map<std::string, std::string>>();
  return m;
}

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
  std::shared_ptr<net::stream> conn;
  /// Turns conn into a WebSocket.
  ws_upgrade to_websocket;
  front_door_actor door;
  std::shared_ptr<const server_settings> cfg;
  /// The session requests go to: the one opened at start (anonymous; on a
  /// node with users it answers status only, for /readyz) until a request
  /// authenticates, then that user's.
  session_actor session;
  /// The session opened at start.
  session_actor probe;
  /// The user of `session` once a request authenticated, and a digest of
  /// the password it gave.
  std::string authed_user;
  std::string authed_digest;
  /// Bytes read and not parsed yet (while a request is answered, or before
  /// the session exists).
  std::string input;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;
  /// A request is being answered: parsing waits.
  bool busy = false;
  /// parse() is on the stack: a response given at once lets its loop go on
  /// (no recursion per pipelined request).
  bool in_parse = false;
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
                caf::actor_cast<consumer_actor>(self),
                client_info{"http", conn->peer(), {}})
      .then(
        [this](session_actor& s, qm_status&) {
          session = s;
          probe = std::move(s);
          // The session ending first (an administrator closed the
          // connection, the node stops) closes the connection.
          self->monitor(session);
          busy = false;
          parse();
        },
        [this](caf::error& e) {
          respond_error(503, mqrc(ec::unexpected_error),
                        "no session: " + render(e), false);
        });
    schedule_tick();
  }

  // -- authentication (docs/operations.md, "Users and permissions") --------

  /// Whether a 401 to the request being handled carries the Basic
  /// challenge (set by authorized()).
  bool challenge = true;

  /// 401 with the challenge and a JSON 2035 body.
  void unauthorized(const std::string& text, bool keep) {
    response res{bhttp::status::unauthorized, 11};
    res.set(bhttp::field::server, cfg->server_name);
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::cache_control, "no-store");
    // A script that says it is one (X-Requested-With) handles the 401
    // itself; without the challenge the browser shows no login prompt.
    if (challenge)
      res.set(bhttp::field::www_authenticate, "Basic realm=\"qmesh\"");
    write(std::move(res), error_body(mqrc(ec::not_authorized), text), keep,
          false);
  }

  /// True if `req` may go on with `session`: the node has no users, or the
  /// request's Basic credentials are those `session` was opened with. Else
  /// answers 401, or opens a session with the new credentials and handles
  /// `req` again once it is open, and returns false.
  bool authorized(const request& req, bool keep) {
    if (!cfg->auth || !cfg->auth->enabled())
      return true;
    challenge = req.find("X-Requested-With") == req.end();
    auto raw_field = req[bhttp::field::authorization];
    std::string_view field{raw_field.data(), raw_field.size()};
    constexpr std::string_view basic = "basic ";
    auto scheme_ok = field.size() > basic.size();
    for (size_t i = 0; scheme_ok && i < basic.size(); ++i)
      scheme_ok = std::tolower(static_cast<unsigned char>(field[i]))
                  == basic[i];
    std::string decoded;
    if (!scheme_ok || !decode_base64(field.substr(basic.size()), decoded)) {
      unauthorized("2035 not_authorized: credentials required (HTTP Basic)",
                   keep);
      return false;
    }
    auto colon = decoded.find(':');
    if (colon == std::string::npos || colon == 0) {
      unauthorized("2035 not_authorized: malformed Basic credentials", keep);
      return false;
    }
    credentials cred{decoded.substr(0, colon), decoded.substr(colon + 1)};
    auto digest = fast_digest(cred.password);
    if (!authed_user.empty() && cred.user == authed_user
        && digest == authed_digest)
      return true;
    auto again = std::make_shared<request>(req);
    self
      ->request(door, std::chrono::seconds{30}, atom::connect_v,
                caf::actor_cast<consumer_actor>(self),
                client_info{"http", conn->peer(), {}}, std::move(cred))
      .then(
        [this, again, user = decoded.substr(0, colon),
         digest](session_actor& s, qm_status&) mutable {
          // The session of earlier credentials on this connection ends.
          if (session && session != probe)
            self->send(session, atom::disconnect_v,
                       std::string{"credentials changed"});
          session = std::move(s);
          self->monitor(session);
          authed_user = std::move(user);
          authed_digest = std::move(digest);
          handle(std::move(*again));
        },
        [this, keep](caf::error& e) {
          unauthorized(render(e), keep);
        });
    return false;
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
    if (in_parse)
      return;
    in_parse = true;
    parse_loop();
    in_parse = false;
  }

  void parse_loop() {
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
    if (path == net::ws_path && cfg->websocket) {
      upgrade(std::move(req));
      return;
    }
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
    } else if (path.rfind("/api/", 0) == 0) {
      if (!authorized(req, keep))
        return;
      handle_api(req, target, keep);
      return;
    } else if (cfg->web) {
      auto method = req.method_string();
      auto etags = req[bhttp::field::if_none_match];
      send(cfg->web->serve({{method.data(), method.size()}, target,
                            {etags.data(), etags.size()}}),
           keep, head);
      return;
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
      self->request(probe, std::chrono::seconds{5}, atom::status_v)
        .then(
          [this, keep, head](qm_status& st) {
            auto reasons = std::make_shared<json>(json::array());
            if (st.memory_alarm)
              reasons->push_back("memory alarm: resident "
                                 + std::to_string(st.memory_used)
                                 + " bytes over the limit of "
                                 + std::to_string(st.memory_limit));
            if (st.disk_alarm)
              reasons->push_back("disk alarm: "
                                 + std::to_string(st.disk_free)
                                 + " bytes free on the journal's disk");
            // A clustered node that knows other members and reaches none
            // of them is not serving the cluster yet.
            self->request(probe, std::chrono::seconds{5}, atom::cluster_v)
              .then(
                [this, keep, head, reasons](cluster_status& cs) {
                  size_t others = 0;
                  size_t up = 0;
                  for (const auto& m : cs.members)
                    if (m.name != cs.self) {
                      ++others;
                      up += m.up ? 1 : 0;
                    }
                  if (cs.enabled && others > 0 && up == 0)
                    reasons->push_back("cluster: none of the "
                                       + std::to_string(others)
                                       + " known members is reachable");
                  json j;
                  j["status"] = reasons->empty() ? "ready" : "not ready";
                  if (!reasons->empty())
                    j["reasons"] = *reasons;
                  respond(reasons->empty() ? 200 : 503, "application/json",
                          j.dump() + "\n", keep, head);
                },
                [this, keep](caf::error& e) {
                  respond_error(503, mqrc(ec::unexpected_error),
                                "no answer from the queue manager: "
                                  + render(e),
                                keep);
                });
          },
          [this, keep](caf::error& e) {
            respond_error(503, mqrc(ec::unexpected_error),
                          "no answer from the queue manager: " + render(e),
                          keep);
          });
      return;
    }
    if (!authorized(req, keep))
      return;
    // /metrics: status, every queue, the cluster, the connections.
    struct parts {
      qm_status node;
      std::vector<queue_status> queues;
      cluster_status cluster;
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
                    [this, p, keep, head, fail](cluster_status& cs) {
                      p->cluster = std::move(cs);
                      self
                        ->request(session, std::chrono::seconds{10},
                                  atom::list_v, atom::conns_v)
                        .then(
                          [this, p, keep,
                           head](std::vector<connection_info>& conns) {
                            respond(200, "text/plain; version=0.0.4",
                                    render_metrics(p->node, p->queues,
                                                   p->cluster, conns),
                                    keep, head);
                          },
                          fail);
                    },
                    fail);
              },
              fail);
        },
        fail);
  }

  // -- the admin API (docs/operations.md, "HTTP") ----------------------------

  static std::string dump(const ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
           + "\n";
  }

  /// The HTTP status for a qmesh reason.
  static unsigned status_for(const caf::error& e) {
    if (e.category() != caf::atom("qmesh"))
      return 500;
    switch (static_cast<ec>(e.code())) {
      case ec::unknown_object_name:
      case ec::unknown_remote_qmgr:
      case ec::no_msg_available:
        return 404;
      case ec::not_authorized:
        return 403;
      case ec::object_already_exists:
      case ec::object_in_use:
      case ec::q_not_empty:
        return 409;
      case ec::q_full:
      case ec::put_inhibited:
      case ec::get_inhibited:
      case ec::q_mgr_not_available:
      case ec::resource_problem:
      case ec::connection_broken:
        return 503;
      case ec::unexpected_error:
        return 500;
      default:
        return 400;
    }
  }

  void respond_reason(const caf::error& e, bool keep) {
    int reason = e.category() == caf::atom("qmesh")
                   ? mqrc(static_cast<ec>(e.code()))
                   : mqrc(ec::unexpected_error);
    respond_error(status_for(e), reason, render(e), keep);
  }

  /// A session request whose reply the API answers as JSON.
  template <class T, class F, class... Ts>
  void api_call(bool keep, unsigned ok_status, F to_body, Ts&&... xs) {
    self->request(session, std::chrono::seconds{30}, std::forward<Ts>(xs)...)
      .then(
        [this, keep, ok_status, to_body](T& x) mutable {
          respond(ok_status, "application/json", dump(to_body(x)), keep);
        },
        [this, keep](caf::error& e) { respond_reason(e, keep); });
  }

  void bad_request(const std::string& text, bool keep) {
    respond_error(400, mqrc(ec::options_error), "2046 options_error: " + text,
                  keep);
  }

  void method_not_allowed(const std::string& what, const char* allow,
                          bool keep) {
    respond_error(405, mqrc(ec::options_error),
                  "2046 options_error: " + what + " takes " + allow, keep,
                  allow);
  }

  /// A count from the query (`count=N`, 1-`most`), or `fallback`.
  static std::optional<uint32_t> count_of(std::string_view query,
                                          uint32_t fallback, uint32_t most) {
    auto v = query_param(query, "count");
    if (!v)
      return fallback;
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || p != v->data() + v->size() || n < 1 || n > most)
      return std::nullopt;
    return n;
  }

  /// Gets (or browses) up to `left` more messages into `out`, then answers.
  void take(std::string queue, bool browse, uint32_t left, uint64_t cursor,
            std::shared_ptr<ordered_json> out, bool keep) {
    get_options opts;
    if (browse) {
      opts.browse = static_cast<uint8_t>(cursor == 0 ? browse_mode::first
                                                     : browse_mode::next);
      opts.browse_cursor = cursor;
    }
    self->request(session, std::chrono::seconds{30}, atom::get_v, queue, opts)
      .then(
        [this, queue, browse, left, out, keep](message& m) {
          auto tag = m.tag;
          out->push_back(to_json(m));
          if (left > 1)
            take(queue, browse, left - 1, tag, out, keep);
          else
            respond(200, "application/json", dump(*out), keep);
        },
        [this, out, keep](caf::error& e) {
          if (is(e, ec::no_msg_available))
            respond(200, "application/json", dump(*out), keep);
          else
            respond_reason(e, keep);
        });
  }

  void handle_api(const request& req, const std::string& target, bool keep) {
    auto qpos = target.find('?');
    std::string_view path{target.data(), std::min(qpos, target.size())};
    std::string_view query;
    if (qpos != std::string::npos)
      query = std::string_view{target}.substr(qpos + 1);
    path.remove_prefix(5); // "/api/"
    std::vector<std::string> seg;
    while (!path.empty()) {
      auto slash = path.find('/');
      std::string part;
      if (!percent_decode(path.substr(0, slash), part, false)) {
        bad_request("malformed percent-encoding in the path", keep);
        return;
      }
      seg.push_back(std::move(part));
      if (slash == std::string_view::npos)
        break;
      path.remove_prefix(slash + 1);
    }
    auto method = req.method();
    bool is_get = method == bhttp::verb::get;
    auto not_found = [&] {
      respond_error(404, mqrc(ec::unknown_object_name),
                    "2085 unknown_object_name: no resource "
                      + target.substr(0, 200),
                    keep);
    };
    if (seg.empty()) {
      not_found();
      return;
    }
    const auto& what = seg[0];
    // JSON bodies of the replies.
    auto array_of = [](const auto& xs) {
      auto arr = ordered_json::array();
      for (const auto& x : xs)
        arr.push_back(to_json(x));
      return arr;
    };
    auto one = [](const auto& x) { return to_json(x); };
    auto purged = [](uint64_t n) {
      ordered_json j;
      j["purged"] = n;
      return j;
    };
    auto body_json = [&](nlohmann::json& j) {
      j = nlohmann::json::parse(req.body().empty() ? std::string{"{}"}
                                                   : req.body(),
                                nullptr, false);
      if (j.is_discarded()) {
        bad_request("the body is not JSON", keep);
        return false;
      }
      return true;
    };
    if (what == "overview" && seg.size() == 1) {
      if (!is_get)
        return method_not_allowed("/api/overview", "GET", keep);
      self->request(session, std::chrono::seconds{30}, atom::status_v)
        .then(
          [this, keep](qm_status& st) {
            auto j = std::make_shared<ordered_json>();
            (*j)["status"] = to_json(st);
            self->request(session, std::chrono::seconds{30}, atom::cluster_v)
              .then(
                [this, keep, j](cluster_status& cs) {
                  (*j)["cluster"] = to_json(cs);
                  respond(200, "application/json", dump(*j), keep);
                },
                [this, keep](caf::error& e) { respond_reason(e, keep); });
          },
          [this, keep](caf::error& e) { respond_reason(e, keep); });
      return;
    }
    if (what == "cluster" && seg.size() == 1) {
      if (!is_get)
        return method_not_allowed("/api/cluster", "GET", keep);
      api_call<cluster_status>(keep, 200, one, atom::cluster_v);
      return;
    }
    if (what == "subscriptions" && seg.size() == 1) {
      if (is_get) {
        api_call<std::vector<subscription_info>>(keep, 200, array_of,
                                                 atom::list_v, atom::subs_v);
        return;
      }
      if (method != bhttp::verb::post)
        return method_not_allowed("/api/subscriptions", "GET, POST", keep);
      nlohmann::json j;
      if (!body_json(j))
        return;
      subscription_spec spec;
      try {
        if (!j.is_object())
          throw std::invalid_argument{"expected an object"};
        spec.filter = j.at("filter").get<std::string>();
        spec.durable_name = j.value("durable", std::string{});
        spec.queue = j.value("queue", std::string{});
      } catch (const std::exception& e) {
        bad_request(std::string{"bad subscription: "} + e.what(), keep);
        return;
      }
      // A non-durable subscription would end with this connection's
      // session, so over HTTP only durable ones make sense.
      if (spec.durable_name.empty()) {
        bad_request("a subscription made over HTTP must be durable "
                    "(give \"durable\": NAME)",
                    keep);
        return;
      }
      api_call<subscription_info>(keep, 201, one, atom::subscribe_v,
                                  std::move(spec));
      return;
    }
    if (what == "subscriptions" && seg.size() == 2) {
      if (method != bhttp::verb::delete_)
        return method_not_allowed("/api/subscriptions/NAME", "DELETE", keep);
      api_call<atom::ok>(
        keep, 200,
        [name = seg[1]](atom::ok) {
          ordered_json j;
          j["unsubscribed"] = name;
          return j;
        },
        atom::unsubscribe_v, seg[1]);
      return;
    }
    if (what == "publish" && seg.size() == 1) {
      if (method != bhttp::verb::post)
        return method_not_allowed("/api/publish", "POST", keep);
      nlohmann::json j;
      if (!body_json(j))
        return;
      std::string topic;
      bool retain = false;
      message m;
      try {
        m = message_of(j);
        topic = j.at("topic").get<std::string>();
        retain = j.value("retain", false);
      } catch (const std::exception& e) {
        bad_request(std::string{"bad publication: "} + e.what(), keep);
        return;
      }
      api_call<uint64_t>(
        keep, 200,
        [](uint64_t n) {
          ordered_json r;
          r["subscriptions"] = n;
          return r;
        },
        atom::publish_v, std::move(topic), std::move(m), retain);
      return;
    }
    if (what == "connections" && seg.size() == 1) {
      if (!is_get)
        return method_not_allowed("/api/connections", "GET", keep);
      api_call<std::vector<connection_info>>(keep, 200, array_of,
                                             atom::list_v, atom::conns_v);
      return;
    }
    if (what == "connections" && seg.size() == 2) {
      if (method != bhttp::verb::delete_)
        return method_not_allowed("/api/connections/ID", "DELETE", keep);
      uint64_t id = 0;
      auto& text = seg[1];
      auto [end, err] = std::from_chars(text.data(),
                                        text.data() + text.size(), id);
      if (err != std::errc{} || end != text.data() + text.size()) {
        bad_request("connection id must be a number", keep);
        return;
      }
      api_call<atom::ok>(
        keep, 200,
        [id](atom::ok) {
          ordered_json j;
          j["closed"] = id;
          return j;
        },
        atom::disconnect_v, id);
      return;
    }
    if (what != "queues" || seg.size() > 3) {
      not_found();
      return;
    }
    if (seg.size() == 1) {
      if (!is_get)
        return method_not_allowed("/api/queues", "GET", keep);
      auto pattern = query_param(query, "pattern").value_or("*");
      api_call<std::vector<queue_status>>(keep, 200, array_of, atom::list_v,
                                          pattern);
      return;
    }
    const auto& name = seg[1];
    if (seg.size() == 2) {
      switch (method) {
        case bhttp::verb::get:
          api_call<queue_status>(keep, 200, one, atom::inquire_v, name);
          return;
        case bhttp::verb::put:
        case bhttp::verb::patch: {
          nlohmann::json j;
          if (!body_json(j))
            return;
          attr_map attrs;
          if (!to_attr_map(j, attrs)) {
            bad_request("expected an object of attribute values", keep);
            return;
          }
          if (method == bhttp::verb::put)
            api_call<queue_status>(keep, 201, one, atom::define_v, name,
                                   std::move(attrs));
          else
            api_call<queue_status>(keep, 200, one, atom::alter_v, name,
                                   std::move(attrs));
          return;
        }
        case bhttp::verb::delete_: {
          auto purge = query_param(query, "purge").value_or("false");
          if (purge != "true" && purge != "false") {
            bad_request("purge must be true or false", keep);
            return;
          }
          api_call<uint64_t>(keep, 200, purged, atom::delete_v, name,
                             purge == "true");
          return;
        }
        default:
          return method_not_allowed("/api/queues/NAME",
                                    "GET, PUT, PATCH, DELETE", keep);
      }
    }
    const auto& action = seg[2];
    if (action == "purge") {
      if (method != bhttp::verb::post)
        return method_not_allowed("/api/queues/NAME/purge", "POST", keep);
      api_call<uint64_t>(keep, 200, purged, atom::purge_v, name);
      return;
    }
    if (action == "messages") {
      if (is_get) {
        auto n = count_of(query, 10, 1000);
        if (!n) {
          bad_request("count must be 1-1000", keep);
          return;
        }
        take(name, true, *n, 0, std::make_shared<ordered_json>(
                                  ordered_json::array()),
             keep);
        return;
      }
      if (method != bhttp::verb::post)
        return method_not_allowed("/api/queues/NAME/messages", "GET, POST",
                                  keep);
      nlohmann::json j;
      if (!body_json(j))
        return;
      message m;
      try {
        m = message_of(j);
      } catch (const std::exception& e) {
        bad_request(std::string{"bad message: "} + e.what(), keep);
        return;
      }
      api_call<msg_id>(
        keep, 201,
        [](const msg_id& id) {
          ordered_json r;
          r["msg_id"] = to_string(id);
          return r;
        },
        atom::put_v, name, std::move(m));
      return;
    }
    if (action == "get") {
      if (method != bhttp::verb::post)
        return method_not_allowed("/api/queues/NAME/get", "POST", keep);
      auto n = count_of(query, 1, 1000);
      if (!n) {
        bad_request("count must be 1-1000", keep);
        return;
      }
      take(name, false, *n, 0,
           std::make_shared<ordered_json>(ordered_json::array()), keep);
      return;
    }
    not_found();
  }

  void respond(unsigned status, const char* content_type, std::string body,
               bool keep, bool head = false, const char* allow = nullptr) {
    response res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::server, cfg->server_name);
    res.set(bhttp::field::content_type, content_type);
    res.set(bhttp::field::cache_control, "no-store");
    if (allow)
      res.set(bhttp::field::allow, allow);
    write(std::move(res), std::move(body), keep, head);
  }

  /// Writes `res` with `body` (only its length for HEAD), then goes on with
  /// the next request or closes.
  void write(response res, std::string body, bool keep, bool head) {
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

  /// Writes a static file's reply (a static file or its error).
  void send(static_reply r, bool keep, bool head) {
    response res{static_cast<bhttp::status>(r.status), 11};
    res.set(bhttp::field::server, cfg->server_name);
    if (!r.content_type.empty())
      res.set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.fields)
      res.set(name, value);
    write(std::move(res), std::move(r.body), keep, head);
  }

  void respond_error(unsigned status, int reason, const std::string& text,
                     bool keep, const char* allow = nullptr) {
    respond(status, "application/json", error_body(reason, text), keep,
            false, allow);
  }

  /// GET /ws: hands the connection to a WebSocket (net::upgrade) and ends
  /// this actor, or answers why not and closes.
  void upgrade(request req) {
    auto v = net::check_upgrade(*cfg->websocket, req);
    if (v.status == 0 && !input.empty()) {
      v.status = 400;
      v.error = "data after the upgrade request";
    }
    if (v.status != 0) {
      respond_error(v.status, mqrc(ec::options_error),
                    "2046 options_error: " + v.error, false,
                    v.status == 405 ? "GET" : nullptr);
      return;
    }
    closing = true;
    to_websocket(std::move(req), cfg->websocket, v.subprotocol);
    self->quit();
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
                std::shared_ptr<net::stream> conn, ws_upgrade to_websocket,
                front_door_actor door,
                std::shared_ptr<const server_settings> cfg) {
  auto& st = self->state;
  st.self = self;
  st.conn = conn;
  st.to_websocket = std::move(to_websocket);
  st.door = std::move(door);
  st.cfg = std::move(cfg);
  // However the actor ends, the socket closes.
  self->attach_functor([conn] { conn->close_after_flush(); });
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.session.address()
        || dm.source == self->state.probe.address()) {
      self->state.closing = true;
      self->quit();
    }
  });
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
spawn_connection(caf::actor_system& sys, std::shared_ptr<net::stream> conn,
                 ws_upgrade to_websocket, front_door_actor door,
                 std::shared_ptr<const server_settings> cfg) {
  return sys.spawn(connection_impl, std::move(conn), std::move(to_websocket),
                   std::move(door), std::move(cfg));
}

} // namespace qmesh::http
