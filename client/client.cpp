// qmesh::client over CAF: one actor system per client.
//
// Calls: the calling thread sends its request from a pooled scoped_actor
// (blocking actor) with a finite timeout and waits for the reply — no extra
// thread hop. Asynchronous calls are sent by the bridge actor (below), which
// completes their futures; a counting window bounds how many are in flight.
//
// The bridge actor is the client's consumer actor (the session sends every
// delivery to it and ends when it goes) and monitors the session. When the
// session goes (node down, connection lost) it fails every waiting call at
// once (2009) by giving each an error response, instead of letting them run
// into their timeouts. It also runs the few jobs that must happen in order
// with deliveries (registering and forgetting consumers) and the connect
// handshake; caller threads hand it those through a mutex-protected queue
// and a wake-up message.
#include "client/client.hpp"

#include <algorithm>
#include <unistd.h>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "actors/actors.hpp"
#include "actors/basp_tls.hpp"
#include "actors/system_config.hpp"

namespace qmesh {

// -- client_error -------------------------------------------------------------

namespace {

std::string what_text(int code, const std::string& name,
                      const std::string& text) {
  auto str = std::to_string(code) + " " + name;
  if (!text.empty())
    str += ": " + text;
  return str;
}

} // namespace

client_error::client_error(int code, std::string name, std::string text)
  : std::runtime_error(what_text(code, name, text)),
    code_(code),
    name_(std::move(name)),
    text_(std::move(text)) {
  // nop
}

namespace {

using ms = std::chrono::milliseconds;
using wake_atom = caf::atom_constant<caf::atom("wake")>;

/// Longest single get wait sent to the node; longer and unlimited waits are
/// split so that every request has a finite timeout.
constexpr int64_t max_wait_chunk_ms = 10'000;

/// Who this client is, for the node's connection list: the node sees its
/// connection to us only as a BASP peer, so the client names its host and
/// process.
client_info who_am_i() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0)
    host[0] = '\0';
  return {"native",
          std::string{host[0] ? host : "?"} + " pid "
            + std::to_string(static_cast<long>(getpid())),
          {}};
}

client_error broken(std::string text) {
  return {client_rc::connection_broken, "connection_broken", std::move(text)};
}

client_error closed_error() {
  return {client_rc::hconn_error, "hconn_error", "the client is closed"};
}

std::string format_ms(ms x) {
  auto n = x.count();
  if (n % 1000 == 0)
    return std::to_string(n / 1000) + " s";
  return std::to_string(n) + " ms";
}

/// Text after `NNNN name: ` of a rendered qmesh error.
std::string context_of(const caf::error& err) {
  auto str = render(err);
  auto pos = str.find(": ");
  return pos == std::string::npos ? std::string{} : str.substr(pos + 2);
}

/// The client_error for a failed call to the node at `endpoint` that had
/// `timeout`, if `err` is one the client knows (a qmesh reason, a timeout,
/// a lost connection, the client closing).
std::optional<client_error> known_error(const caf::error& err, ms timeout,
                                        const std::string& endpoint) {
  if (err.category() == caf::atom("qmesh")) {
    auto code = static_cast<ec>(err.code());
    return client_error{mqrc(code), std::string{to_name(code)},
                        context_of(err)};
  }
  if (err == caf::sec::request_timeout)
    return broken("no reply from the node at " + endpoint + " within "
                  + format_ms(timeout));
  if (err == caf::exit_reason::remote_link_unreachable
      || err == caf::sec::request_receiver_down)
    return broken("lost the connection to the node at " + endpoint);
  if (err == caf::exit_reason::user_shutdown)
    return closed_error();
  return std::nullopt;
}

bool is_no_msg(const caf::error& err) {
  return err.category() == caf::atom("qmesh")
         && static_cast<ec>(err.code()) == ec::no_msg_available;
}

/// Splits a get's wait into requests of at most max_wait_chunk_ms, so that
/// every request has a finite reply timeout.
class wait_chunks {
public:
  explicit wait_chunks(int64_t wait_ms)
    : wait_ms_(wait_ms),
      deadline_(clock::now() + ms{std::max<int64_t>(wait_ms, 0)}) {
  }

  /// The wait of the next request; `last` is false while more may follow.
  int64_t next(bool& last) const {
    last = true;
    if (wait_ms_ == wait_unlimited) {
      last = false;
      return max_wait_chunk_ms;
    }
    if (wait_ms_ <= max_wait_chunk_ms)
      return wait_ms_;
    auto left = std::chrono::duration_cast<ms>(deadline_ - clock::now())
                  .count();
    left = std::max<int64_t>(left, 0);
    last = left <= max_wait_chunk_ms;
    return std::min(left, max_wait_chunk_ms);
  }

private:
  using clock = std::chrono::steady_clock;
  int64_t wait_ms_;
  clock::time_point deadline_;
};

// -- pending calls ------------------------------------------------------------

/// One call a caller thread waits for (or, overridden, a future).
struct pending_base {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  caf::error err;

  virtual ~pending_base() = default;

  /// Completes the call with an error; later completions are ignored.
  virtual void fail(caf::error e) {
    std::lock_guard<std::mutex> guard{mtx};
    if (done)
      return;
    err = std::move(e);
    done = true;
    cv.notify_all();
  }

  /// Waits until done or `limit` passes; false on the latter.
  bool wait(ms limit) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, limit, [this] { return done; });
  }
};

template <class... Rs>
struct pending : pending_base {
  std::optional<std::tuple<Rs...>> value;

  void set(Rs&&... xs) {
    std::lock_guard<std::mutex> guard{mtx};
    if (done)
      return;
    value.emplace(std::move(xs)...);
    done = true;
    cv.notify_all();
  }
};

/// The bound on asynchronous calls in flight (client_options::window).
/// Shared by the client and its calls: a call completing after the client
/// went still releases its slot.
class call_window {
public:
  explicit call_window(size_t size) : free_(std::max<size_t>(size, 1)) {
  }

  /// Blocks until a slot is free and takes it.
  void acquire() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return free_ > 0; });
    --free_;
  }

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++free_;
    }
    cv_.notify_one();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  size_t free_;
};

/// An asynchronous call: completes its promise exactly once (with the
/// reply, or the error as client_error) and then frees its window slot.
template <class T>
struct async_call : pending_base {
  std::promise<T> promise;
  std::shared_ptr<call_window> window;
  std::string endpoint;
  ms timeout{0};

  async_call(std::shared_ptr<call_window> w, std::string ep, ms t)
    : window(std::move(w)), endpoint(std::move(ep)), timeout(t) {
  }

  void fail(caf::error e) override {
    if (!finish())
      return;
    auto known = known_error(e, timeout, endpoint);
    promise.set_exception(std::make_exception_ptr(
      known ? std::move(*known)
            : client_error{2195, "unexpected_error", caf::to_string(e)}));
    window->release();
  }

  void set(T&& x) {
    if (!finish())
      return;
    promise.set_value(std::move(x));
    window->release();
  }

private:
  bool finish() {
    std::lock_guard<std::mutex> guard{mtx};
    if (done)
      return false;
    done = true;
    return true;
  }
};

// -- consumers ----------------------------------------------------------------

/// A consumer's buffer and callback thread.
struct consumer_slot {
  uint64_t id = 0;
  ack_mode mode = ack_mode::automatic;
  client::handler fn;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<std::vector<message>> batches;
  /// No more deliveries: finish the buffer (automatic) and end.
  bool stop = false;
  /// Drop whatever is buffered and not yet handed to the callback.
  std::atomic<bool> discard{false};
  std::thread thread;

  void push(std::vector<message>&& msgs) {
    std::lock_guard<std::mutex> guard{mtx};
    if (stop)
      return;
    batches.push_back(std::move(msgs));
    cv.notify_one();
  }

  void end(bool drop_buffer) {
    std::lock_guard<std::mutex> guard{mtx};
    stop = true;
    if (drop_buffer) {
      discard = true;
      batches.clear();
    }
    cv.notify_one();
  }

  bool on_own_thread() const {
    return thread.get_id() == std::this_thread::get_id();
  }

  /// Joins the thread unless called from it (then it ends by itself).
  void join() {
    if (!thread.joinable())
      return;
    if (on_own_thread())
      thread.detach();
    else
      thread.join();
  }
};

// -- the bridge actor -----------------------------------------------------------

struct bridge_state;
using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// A closure run by the bridge, and the call it serves (may be null).
struct job {
  std::function<void(bridge_ptr)> run;
  std::shared_ptr<pending_base> call;
};

/// What caller threads and the bridge share.
struct channel {
  std::mutex mtx;
  std::deque<job> jobs;
  /// The bridge is gone: calls fail at once.
  bool closed = false;
  caf::error closed_reason;
  caf::actor bridge;

  /// Queues a job and wakes the bridge; fails the call if the bridge is gone.
  void post(job j) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!closed) {
        wake = jobs.empty();
        jobs.push_back(std::move(j));
        j.call = nullptr;
      }
    }
    if (j.call) {
      j.call->fail(closed_reason ? closed_reason
                                 : caf::make_error(caf::sec::request_receiver_down));
      return;
    }
    if (wake)
      caf::anon_send(bridge, wake_atom::value);
  }
};

/// Calls in flight from scoped actors, so that the bridge can fail them
/// when the connection goes.
struct call_registry {
  std::mutex mtx;
  /// Set once the session is gone: calls fail at once.
  std::atomic<bool> broken{false};
  uint64_t next = 1;
  std::unordered_map<uint64_t, std::pair<caf::strong_actor_ptr,
                                         caf::message_id>>
    calls;

  /// Registers a waiting call; false if the connection is already gone.
  bool add(uint64_t& token, caf::strong_actor_ptr who, caf::message_id mid) {
    std::lock_guard<std::mutex> guard{mtx};
    if (broken)
      return false;
    token = next++;
    calls.emplace(token, std::make_pair(std::move(who), mid));
    return true;
  }

  void remove(uint64_t token) {
    std::lock_guard<std::mutex> guard{mtx};
    calls.erase(token);
  }

  /// Marks the connection gone and answers every waiting call with `err`.
  void fail_all(const caf::error& err, caf::execution_unit* ctx) {
    decltype(calls) tmp;
    {
      std::lock_guard<std::mutex> guard{mtx};
      broken = true;
      tmp.swap(calls);
    }
    for (auto& kvp : tmp) {
      auto& [who, mid] = kvp.second;
      who->enqueue(caf::make_mailbox_element(nullptr, mid, {},
                                             caf::make_message(err)),
                   ctx);
    }
  }
};

struct bridge_state {
  static inline const char* name = "qmesh.client";
  std::shared_ptr<channel> ch;
  std::shared_ptr<call_registry> registry;
  session_actor session;
  /// The session went down; every call fails with this reason.
  caf::error broken;
  uint64_t next_call = 1;
  std::unordered_map<uint64_t, std::shared_ptr<pending_base>> calls;
  std::unordered_map<uint64_t, std::shared_ptr<consumer_slot>> consumers;
  /// Deliveries that overtook the reply to their consume request.
  std::map<uint64_t, std::vector<std::vector<message>>> early;
  std::set<uint64_t> cancelled;

  uint64_t track(std::shared_ptr<pending_base> p) {
    auto id = next_call++;
    calls.emplace(id, std::move(p));
    return id;
  }

  void fail_all(const caf::error& reason) {
    auto tmp = std::move(calls);
    calls.clear();
    for (auto& kvp : tmp)
      kvp.second->fail(reason);
  }

  /// The bridge is gone (the client closed, or it failed): calls whose
  /// replies can no longer arrive complete now, so no future is left
  /// without a result.
  ~bridge_state() {
    fail_all(broken ? caf::make_error(caf::exit_reason::remote_link_unreachable)
                    : caf::make_error(caf::exit_reason::user_shutdown));
  }
};

caf::behavior bridge_impl(bridge_ptr self, std::shared_ptr<channel> ch,
                          std::shared_ptr<call_registry> registry) {
  self->state.ch = ch;
  self->state.registry = registry;
  self->attach_functor([ch](const caf::error& reason) {
    std::deque<job> left;
    {
      std::lock_guard<std::mutex> guard{ch->mtx};
      ch->closed = true;
      ch->closed_reason = reason ? reason
                                 : caf::make_error(caf::sec::request_receiver_down);
      left.swap(ch->jobs);
    }
    for (auto& j : left)
      if (j.call)
        j.call->fail(ch->closed_reason);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.session || dm.source != st.session.address())
      return;
    st.broken = dm.reason ? dm.reason
                          : caf::make_error(caf::exit_reason::normal);
    auto lost = caf::make_error(caf::exit_reason::remote_link_unreachable);
    st.fail_all(lost);
    st.registry->fail_all(lost, self->context());
    // Automatic mode: what arrived was consumed, hand it over. Client
    // mode: the node returns unacked deliveries to the queue, so drop them.
    for (auto& kvp : st.consumers)
      kvp.second->end(kvp.second->mode == ack_mode::client);
  });
  return {
    [self](wake_atom) {
      std::deque<job> todo;
      {
        auto& ch = *self->state.ch;
        std::lock_guard<std::mutex> guard{ch.mtx};
        todo.swap(ch.jobs);
      }
      for (auto& j : todo)
        j.run(self);
    },
    [self](atom::deliver, delivery_batch& batch) {
      auto& st = self->state;
      auto id = batch.consumer_id;
      if (!batch.ended.empty()) {
        // Its queue was on another queue manager that went away (2009):
        // the consumer ends as if its session had (unacked deliveries
        // return to that queue).
        if (auto it = st.consumers.find(id); it != st.consumers.end())
          it->second->end(it->second->mode == ack_mode::client);
        return;
      }
      if (auto it = st.consumers.find(id); it != st.consumers.end())
        it->second->push(std::move(batch.messages));
      else if (st.cancelled.count(id) == 0)
        st.early[id].push_back(std::move(batch.messages));
    },
  };
}

/// Why the TLS files of `opts` cannot serve mutual TLS; empty if they
/// can. CAF reads them only when it connects (and cannot report a bad file
/// then), so they are checked up front.
std::string tls_problem(const client_options& opts) {
  if (opts.tls_cert.empty() || opts.tls_key.empty() || opts.tls_ca.empty())
    return "TLS needs a certificate, its key and the CA together";
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return "cannot create a TLS context";
  auto last_error = [] {
    char buf[256] = "unknown error";
    if (auto code = ERR_get_error())
      ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    return std::string{buf};
  };
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), opts.tls_cert.c_str())
      != 1)
    return "TLS certificate '" + opts.tls_cert + "': " + last_error();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), opts.tls_key.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1)
    return "TLS key '" + opts.tls_key + "': " + last_error();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "TLS key '" + opts.tls_key + "' does not match certificate '"
           + opts.tls_cert + "'";
  if (SSL_CTX_load_verify_locations(ctx.get(), opts.tls_ca.c_str(), nullptr)
      != 1)
    return "TLS CA '" + opts.tls_ca + "': " + last_error();
  return {};
}

struct client_config : system_config {
  explicit client_config(const client_options& opts) {
    load<caf::io::middleman>();
    if (opts.tls()) {
      // Mutual TLS through CAF's OpenSSL module; without TLS options the
      // client runs exactly as before.
      load_basp_tls(*this, {opts.tls_cert, opts.tls_key, opts.tls_ca});
    }
    if (opts.threads > 0)
      set("scheduler.max-threads", opts.threads);
    set("logger.file-name", "");
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.console", caf::atom("none"));
    // Clustered nodes close links silent for their connection timeout (at
    // least 30 s): keep this one alive. The client itself never times the
    // node out this way (its requests have their own timeouts).
    set("middleman.heartbeat-interval",
        caf::timespan{std::chrono::seconds{5}});
    set("middleman.connection-timeout",
        caf::timespan{std::chrono::hours{24 * 365}});
  }
};

} // namespace

// -- client::impl -------------------------------------------------------------

struct client::impl {
  client_options opts;
  client_config cfg;
  caf::actor_system sys;
  std::shared_ptr<channel> ch;
  std::shared_ptr<call_registry> registry;
  std::shared_ptr<call_window> window;
  std::mutex pool_mtx;
  /// Idle scoped actors for calls (one per concurrent caller at most).
  std::vector<std::unique_ptr<caf::scoped_actor>> pool;
  session_actor session;
  qm_status qm;
  std::string endpoint;
  std::atomic<bool> closed{false};
  std::mutex slots_mtx;
  std::map<uint64_t, std::shared_ptr<consumer_slot>> slots;
  /// Consumers cancelled from their own callback: joined by close().
  std::vector<std::shared_ptr<consumer_slot>> retired;

  explicit impl(client_options x)
    : opts(x),
      cfg(x),
      sys(cfg),
      ch(std::make_shared<channel>()),
      registry(std::make_shared<call_registry>()),
      window(std::make_shared<call_window>(x.window)) {
    ch->bridge = sys.spawn(bridge_impl, ch, registry);
  }

  ~impl() {
    close();
    release_pool();
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  // -- errors --

  /// CAF's connect errors carry a text and the endpoint as context
  /// (`("ip_connect failed", host, port)`): the text is the useful part.
  static std::string connect_error_text(const caf::error& err,
                                        const caf::actor_system& sys) {
    const auto& ctx = err.context();
    if (!ctx.empty() && ctx.match_element<std::string>(0)) {
      auto what = ctx.get_as<std::string>(0);
      if (what == "ip_connect failed")
        return "connection refused or host unreachable";
      return what;
    }
    if (err == caf::sec::unexpected_actor_messaging_interface)
      return "not a qmesh node of this version";
    if (err == caf::sec::no_actor_published_at_port)
      return "nothing is published on that port";
    if (err == caf::sec::malformed_basp_message
        || err == caf::sec::incompatible_versions
        || err == caf::sec::incompatible_application_ids)
      return "the peer does not speak qmesh's native protocol (a STOMP or "
             "HTTP port? the native port is the node's --listen)";
    return sys.render(err);
  }

  client_error to_client_error(const caf::error& err, ms timeout) const {
    if (auto known = known_error(err, timeout, endpoint))
      return std::move(*known);
    if (closed)
      return closed_error();
    return {2195, "unexpected_error", sys.render(err)};
  }

  void check_open() const {
    if (closed)
      throw closed_error();
  }

  // -- calls --

  /// Sends `xs` to `dest` from the bridge; `p->set(rs...)` gets the reply
  /// after `hook` ran on the bridge with it, `p->fail(e)` an error. Does not
  /// wait.
  template <class... Rs, class P, class Hook, class Dest, class... Ts>
  void post_request(std::shared_ptr<P> p, Hook hook, ms timeout, Dest dest,
                    Ts... xs) {
    auto args = std::make_tuple(std::move(xs)...);
    job j;
    j.call = p;
    j.run = [p, hook, timeout, dest, args](bridge_ptr self) mutable {
      auto& st = self->state;
      if (st.broken) {
        p->fail(caf::make_error(caf::exit_reason::remote_link_unreachable));
        return;
      }
      auto id = st.track(p);
      std::apply(
        [&](auto&... ys) {
          self->request(dest, timeout, std::move(ys)...)
            .then(
              [self, p, id, hook](Rs&... rs) mutable {
                self->state.calls.erase(id);
                hook(self, rs...);
                p->set(std::move(rs)...);
              },
              [self, p, id](caf::error& e) {
                self->state.calls.erase(id);
                p->fail(std::move(e));
              });
        },
        args);
    };
    ch->post(std::move(j));
  }

  /// Sends `xs` to `dest` from the bridge and waits for the reply or the
  /// error; `hook` runs on the bridge with the reply values before the
  /// caller wakes.
  template <class... Rs, class Hook, class Dest, class... Ts>
  std::shared_ptr<pending<Rs...>> exchange(Hook hook, ms timeout, Dest dest,
                                           Ts... xs) {
    check_open();
    auto p = std::make_shared<pending<Rs...>>();
    post_request<Rs...>(p, std::move(hook), timeout, std::move(dest),
                        std::move(xs)...);
    // The bridge answers every call (reply, timeout or lost connection);
    // the extra limit only guards against a bug.
    if (!p->wait(timeout + ms{10'000}))
      throw broken("no reply from the client's actor within "
                   + format_ms(timeout));
    return p;
  }

  /// As exchange(), throwing client_error for errors.
  template <class... Rs, class Hook, class Dest, class... Ts>
  std::tuple<Rs...> call_with(Hook hook, ms timeout, Dest dest, Ts... xs) {
    auto p = exchange<Rs...>(std::move(hook), timeout, std::move(dest),
                             std::move(xs)...);
    if (p->err)
      throw to_client_error(p->err, timeout);
    return std::move(*p->value);
  }

  /// Runs `f` on the bridge, in order with the deliveries it received so
  /// far, and waits until it ran.
  void on_bridge(std::function<void(bridge_ptr)> f) {
    auto p = std::make_shared<pending<>>();
    ch->post(job{[p, f](bridge_ptr self) {
                   f(self);
                   p->set();
                 },
                 p});
    p->wait(opts.timeout);
  }

  std::unique_ptr<caf::scoped_actor> borrow() {
    {
      std::lock_guard<std::mutex> guard{pool_mtx};
      if (!pool.empty()) {
        auto x = std::move(pool.back());
        pool.pop_back();
        return x;
      }
    }
    // Hidden: the actor system does not wait for it at shutdown.
    return std::make_unique<caf::scoped_actor>(sys, true);
  }

  void give_back(std::unique_ptr<caf::scoped_actor> x) {
    std::lock_guard<std::mutex> guard{pool_mtx};
    pool.push_back(std::move(x));
  }

  /// Sends `xs` to `dest` from this thread and waits for the reply.
  template <class... Rs, class Dest, class... Ts>
  std::tuple<Rs...> call(ms timeout, const Dest& dest, Ts&&... xs) {
    check_open();
    auto self = borrow();
    auto rh = (*self)->request(dest, timeout, std::forward<Ts>(xs)...);
    uint64_t token = 0;
    if (!registry->add(token, caf::actor_cast<caf::strong_actor_ptr>(*self),
                       rh.id()))
      // The reply may still come: the actor is not reused.
      throw to_client_error(
        caf::make_error(caf::exit_reason::remote_link_unreachable), timeout);
    std::optional<std::tuple<Rs...>> result;
    caf::error err;
    rh.receive([&](Rs&... rs) { result.emplace(std::move(rs)...); },
               [&](caf::error& e) { err = std::move(e); });
    registry->remove(token);
    if (err) {
      // After a timeout or a lost connection a late reply may still arrive:
      // such an actor is not reused. Replies from the node are final.
      if (err.category() == caf::atom("qmesh"))
        give_back(std::move(self));
      throw to_client_error(err, timeout);
    }
    give_back(std::move(self));
    return std::move(*result);
  }

  /// One-reply request to the session with the default timeout.
  template <class R, class... Ts>
  R ask(Ts&&... xs) {
    return std::get<0>(
      call<R>(opts.timeout, session, std::forward<Ts>(xs)...));
  }

  /// The reply timeout of a put: the default plus the longest the node may
  /// hold it for room.
  ms put_timeout(const message& msg) const {
    return held_timeout(msg.put_wait_ms == put_wait_default ? qm.put_wait_ms
                                                            : msg.put_wait_ms);
  }

  /// The reply timeout of a batch put: its first message's put wait.
  ms put_timeout(const std::vector<message>& msgs) const {
    return msgs.empty() ? opts.timeout : put_timeout(msgs.front());
  }

  /// The reply timeout of a request the node may hold `wait_ms` (-1:
  /// unlimited) before answering.
  ms held_timeout(int64_t wait_ms) const {
    if (wait_ms < 0)
      return ms{std::chrono::hours{24 * 365}};
    return opts.timeout + ms{wait_ms};
  }

  /// Sends to the session without waiting for anything, as the bridge
  /// (the session drops anonymous messages).
  template <class... Ts>
  void tell(Ts&&... xs) {
    if (closed || registry->broken)
      return;
    caf::send_as(ch->bridge, session, std::forward<Ts>(xs)...);
  }

  // -- connect --

  void connect(const std::string& host, uint16_t port) {
    endpoint = host + ":" + std::to_string(port);
    auto unreachable = [&](const std::string& why) {
      return client_error{client_rc::q_mgr_not_available,
                          "q_mgr_not_available",
                          "cannot connect to " + endpoint + ": " + why};
    };
    auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                        : sys.middleman().actor_handle();
    caf::strong_actor_ptr ptr;
    std::set<std::string> ifs;
    {
      auto p = exchange<caf::node_id, caf::strong_actor_ptr,
                        std::set<std::string>>(
        [](bridge_ptr, caf::node_id&, caf::strong_actor_ptr&,
           std::set<std::string>&) {},
        opts.connect_timeout, mm, caf::connect_atom::value, host, port);
      if (p->err == caf::sec::request_timeout)
        throw unreachable("no answer within "
                          + format_ms(opts.connect_timeout));
      if (p->err)
        throw unreachable(connect_error_text(p->err, sys));
      ptr = std::move(std::get<1>(*p->value));
      ifs = std::move(std::get<2>(*p->value));
    }
    if (!ptr)
      throw unreachable("nothing is published on that port");
    if (ifs != sys.message_types<front_door_actor>())
      throw unreachable("not a qmesh node of this version");
    auto door = caf::actor_cast<front_door_actor>(std::move(ptr));
    auto me = caf::actor_cast<consumer_actor>(ch->bridge);
    try {
      auto res = call_with<session_actor, qm_status>(
        [](bridge_ptr self, session_actor& s, qm_status&) {
          self->state.session = s;
          self->monitor(s);
        },
        opts.connect_timeout, door, atom::connect_v, me, who_am_i(),
        credentials{opts.user, opts.password});
      session = std::move(std::get<0>(res));
      qm = std::move(std::get<1>(res));
    } catch (const client_error& e) {
      if (e.code() == client_rc::connection_broken)
        throw unreachable("the node did not open a session");
      throw;
    }
  }

  // -- get --

  std::optional<message> get(const std::string& queue,
                             const get_options& opts_in) {
    wait_chunks chunks{opts_in.wait_ms};
    for (;;) {
      auto o = opts_in;
      bool last = true;
      o.wait_ms = chunks.next(last);
      try {
        auto timeout = opts.timeout + ms{std::max<int64_t>(o.wait_ms, 0)};
        return std::get<0>(
          call<message>(timeout, session, atom::get_v, queue, o));
      } catch (const client_error& e) {
        if (e.code() != client_rc::no_msg_available)
          throw;
        if (last)
          return std::nullopt;
      }
    }
  }

  // -- asynchronous calls --

  std::future<msg_id> put_async(const std::string& address, message msg,
                                uint64_t uow) {
    check_open();
    auto timeout = put_timeout(msg);
    window->acquire();
    auto p = std::make_shared<async_call<msg_id>>(window, endpoint, timeout);
    auto result = p->promise.get_future();
    auto no_hook = [](bridge_ptr, msg_id&) {};
    if (uow == 0)
      post_request<msg_id>(p, no_hook, timeout, session, atom::put_v, address,
                           std::move(msg));
    else
      post_request<msg_id>(p, no_hook, timeout, session, atom::put_v, address,
                           std::move(msg), uow);
    return result;
  }

  /// A get_async in progress: re-sent while its wait lasts (see
  /// wait_chunks); 2033 at the end completes it with nullopt.
  struct async_get : async_call<std::optional<message>> {
    using async_call::async_call;
    session_actor session;
    std::string queue;
    get_options opts;
    std::optional<wait_chunks> chunks;
    ms base_timeout{0};
  };

  static void send_get(bridge_ptr self, std::shared_ptr<async_get> p) {
    auto& st = self->state;
    if (st.broken) {
      p->fail(caf::make_error(caf::exit_reason::remote_link_unreachable));
      return;
    }
    auto o = p->opts;
    bool last = true;
    o.wait_ms = p->chunks->next(last);
    p->timeout = p->base_timeout + ms{std::max<int64_t>(o.wait_ms, 0)};
    auto id = st.track(p);
    self->request(p->session, p->timeout, atom::get_v, p->queue, std::move(o))
      .then(
        [self, p, id](message& msg) {
          self->state.calls.erase(id);
          p->set(std::optional<message>{std::move(msg)});
        },
        [self, p, id, last](caf::error& e) {
          self->state.calls.erase(id);
          if (!is_no_msg(e))
            p->fail(std::move(e));
          else if (last)
            p->set(std::nullopt);
          else
            send_get(self, p);
        });
  }

  /// A get_many_async: "no message" (2033) completes it with no messages.
  struct async_get_many : async_call<std::vector<message>> {
    using async_call::async_call;

    void fail(caf::error e) override {
      if (is_no_msg(e))
        set(std::vector<message>{});
      else
        async_call::fail(std::move(e));
    }
  };

  std::vector<message> get_many(const std::string& queue, uint32_t max,
                                const get_options& o) {
    try {
      return std::get<0>(call<std::vector<message>>(
        opts.timeout, session, atom::get_v, queue, o, max));
    } catch (const client_error& e) {
      if (e.code() == client_rc::no_msg_available)
        return {};
      throw;
    }
  }

  std::future<std::vector<message>>
  get_many_async(const std::string& queue, uint32_t max,
                 const get_options& o) {
    check_open();
    window->acquire();
    auto p = std::make_shared<async_get_many>(window, endpoint, opts.timeout);
    auto result = p->promise.get_future();
    post_request<std::vector<message>>(
      p, [](bridge_ptr, std::vector<message>&) {}, opts.timeout, session,
      atom::get_v, queue, o, max);
    return result;
  }

  std::future<std::optional<message>> get_async(const std::string& queue,
                                                const get_options& opts_in) {
    check_open();
    window->acquire();
    auto p = std::make_shared<async_get>(window, endpoint, opts.timeout);
    p->session = session;
    p->queue = queue;
    p->opts = opts_in;
    p->chunks.emplace(opts_in.wait_ms);
    p->base_timeout = opts.timeout;
    auto result = p->promise.get_future();
    ch->post(job{[p](bridge_ptr self) { send_get(self, p); }, p});
    return result;
  }

  // -- consumers --

  void dispatch(std::shared_ptr<consumer_slot> slot) {
    for (;;) {
      std::vector<message> msgs;
      {
        std::unique_lock<std::mutex> guard{slot->mtx};
        slot->cv.wait(guard,
                      [&] { return slot->stop || !slot->batches.empty(); });
        if (slot->batches.empty())
          return;
        msgs = std::move(slot->batches.front());
        slot->batches.pop_front();
      }
      for (auto& m : msgs) {
        if (slot->discard)
          break;
        delivery d{slot->id, std::move(m)};
        try {
          slot->fn(d);
        } catch (...) {
          if (slot->mode == ack_mode::client) {
            try {
              ask<uint64_t>(atom::nack_v, slot->id, d.msg.tag, d.msg.tag,
                            true);
            } catch (...) {
              // the connection is gone: the node requeues it anyway
            }
          }
        }
      }
      if (slot->mode == ack_mode::automatic && !msgs.empty())
        tell(atom::credit_v, slot->id, static_cast<uint32_t>(msgs.size()));
    }
  }

  uint64_t consume(const std::string& queue, handler f, uint32_t prefetch,
                   ack_mode mode) {
    if (!f)
      throw client_error{2046, "options_error", "consume needs a callback"};
    auto slot = std::make_shared<consumer_slot>();
    slot->mode = mode;
    slot->fn = std::move(f);
    auto id = ask<uint64_t>(atom::consume_v, queue, prefetch, mode);
    slot->id = id;
    // Deliveries that reached the bridge before this point wait there.
    on_bridge([slot, id](bridge_ptr self) {
      auto& st = self->state;
      st.consumers[id] = slot;
      if (auto it = st.early.find(id); it != st.early.end()) {
        for (auto& msgs : it->second)
          slot->push(std::move(msgs));
        st.early.erase(it);
      }
    });
    slot->thread = std::thread{[this, slot] { dispatch(slot); }};
    std::lock_guard<std::mutex> guard{slots_mtx};
    slots[id] = slot;
    return id;
  }

  void cancel(uint64_t id) {
    std::shared_ptr<consumer_slot> slot;
    {
      std::lock_guard<std::mutex> guard{slots_mtx};
      if (auto it = slots.find(id); it != slots.end()) {
        slot = it->second;
        slots.erase(it);
      }
    }
    auto forget = [id](bridge_ptr self) {
      auto& st = self->state;
      st.consumers.erase(id);
      st.early.erase(id);
      st.cancelled.insert(id);
    };
    std::exception_ptr failure;
    try {
      ask<atom::ok>(atom::cancel_v, id);
    } catch (...) {
      failure = std::current_exception();
    }
    // The consumer's deliveries reached the bridge's mailbox before the
    // reply reached this thread (one connection, in order): once the bridge
    // ran `forget`, the slot has all of them.
    if (!closed)
      on_bridge(forget);
    if (slot) {
      slot->end(slot->mode == ack_mode::client);
      if (slot->on_own_thread()) {
        std::lock_guard<std::mutex> guard{slots_mtx};
        retired.push_back(slot);
      } else {
        slot->join();
      }
    }
    if (failure)
      std::rethrow_exception(failure);
  }

  // -- close --

  void close() {
    if (closed.exchange(true))
      return;
    std::vector<std::shared_ptr<consumer_slot>> tmp;
    {
      std::lock_guard<std::mutex> guard{slots_mtx};
      for (auto& kvp : slots)
        tmp.push_back(kvp.second);
      slots.clear();
      tmp.insert(tmp.end(), retired.begin(), retired.end());
      retired.clear();
    }
    for (auto& slot : tmp)
      slot->end(true);
    for (auto& slot : tmp)
      slot->join();
    // The session monitors the bridge: its exit ends the session.
    caf::anon_send_exit(ch->bridge, caf::exit_reason::user_shutdown);
  }

  void release_pool() {
    std::lock_guard<std::mutex> guard{pool_mtx};
    pool.clear();
  }
};

// -- queue_handle ---------------------------------------------------------------

struct queue_handle::impl {
  std::shared_ptr<client::impl> owner;
  std::string address;
  open_mode mode = open_mode::output;
  queue_actor queue;
  bool open = true;
};

queue_handle::queue_handle() noexcept = default;
queue_handle::queue_handle(queue_handle&&) noexcept = default;
queue_handle::queue_handle(std::unique_ptr<impl> x) noexcept
  : impl_(std::move(x)) {
  // nop
}

queue_handle& queue_handle::operator=(queue_handle&& other) noexcept {
  if (this != &other) {
    try {
      close();
    } catch (...) {
      // best effort, as in the destructor
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

queue_handle::~queue_handle() {
  try {
    close();
  } catch (...) {
    // the session closes it when the client goes
  }
}

const std::string& queue_handle::address() const noexcept {
  static const std::string none;
  return impl_ ? impl_->address : none;
}

// A handle of another queue manager's queue has no queue actor (the queue
// manager answers such an open with an empty handle): its puts go through
// the session by address, which routes them to the transmission queue.

msg_id queue_handle::put(message msg) {
  if (!impl_ || !impl_->open)
    throw closed_error();
  auto& c = *impl_->owner;
  auto timeout = c.put_timeout(msg);
  if (!impl_->queue)
    return std::get<0>(c.call<msg_id>(timeout, c.session, atom::put_v,
                                      impl_->address, std::move(msg)));
  return std::get<0>(c.call<msg_id>(timeout, impl_->queue, atom::put_v,
                                    std::move(msg)));
}

uint64_t queue_handle::put_many(std::vector<message> msgs) {
  if (!impl_ || !impl_->open)
    throw closed_error();
  auto& c = *impl_->owner;
  auto timeout = c.put_timeout(msgs);
  if (!impl_->queue)
    return std::get<0>(c.call<uint64_t>(timeout, c.session, atom::put_v,
                                        impl_->address, std::move(msgs)));
  return std::get<0>(c.call<uint64_t>(timeout, impl_->queue, atom::put_v,
                                      std::move(msgs)));
}

void queue_handle::close() {
  if (!impl_ || !impl_->open)
    return;
  impl_->open = false;
  auto& c = *impl_->owner;
  if (c.closed)
    return;
  c.ask<atom::ok>(atom::close_v, impl_->address, impl_->mode);
}

// -- client -------------------------------------------------------------------

client::client(std::shared_ptr<impl> x) noexcept : impl_(std::move(x)) {
  // nop
}

client::client(client&&) noexcept = default;

client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    if (impl_)
      impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

client::~client() {
  if (impl_)
    impl_->close();
}

client client::connect(const std::string& host, uint16_t port,
                       client_options opts) {
  if (opts.tls())
    if (auto why = tls_problem(opts); !why.empty())
      throw client_error{client_rc::q_mgr_not_available,
                         "q_mgr_not_available",
                         "cannot connect to " + host + ":"
                           + std::to_string(port) + ": " + why};
  auto x = std::make_shared<impl>(opts);
  x->connect(host, port);
  return client{std::move(x)};
}

namespace {

client::impl& deref(const std::shared_ptr<client::impl>& x) {
  if (!x || x->closed)
    throw closed_error();
  return *x;
}

} // namespace

void client::close() {
  if (impl_)
    impl_->close();
}

bool client::connected() const noexcept {
  return impl_ && !impl_->closed && !impl_->registry->broken;
}

const qm_status& client::qmgr() const {
  return deref(impl_).qm;
}

qm_status client::status() {
  return deref(impl_).ask<qm_status>(atom::status_v);
}

cluster_status client::cluster() {
  return deref(impl_).ask<cluster_status>(atom::cluster_v);
}

std::vector<connection_info> client::connections() {
  return deref(impl_).ask<std::vector<connection_info>>(atom::list_v,
                                                         atom::conns_v);
}

void client::disconnect(uint64_t id) {
  deref(impl_).ask<atom::ok>(atom::disconnect_v, id);
}

queue_status client::define(const std::string& name, const attr_map& attrs) {
  return deref(impl_).ask<queue_status>(atom::define_v, name, attrs);
}

queue_status client::set(const std::string& name, const attr_map& changes) {
  return deref(impl_).ask<queue_status>(atom::alter_v, name, changes);
}

queue_status client::inquire(const std::string& name) {
  return deref(impl_).ask<queue_status>(atom::inquire_v, name);
}

uint64_t client::delete_queue(const std::string& name, bool purge) {
  return deref(impl_).ask<uint64_t>(atom::delete_v, name, purge);
}

uint64_t client::purge(const std::string& name) {
  return deref(impl_).ask<uint64_t>(atom::purge_v, name);
}

std::vector<queue_status> client::list(const std::string& pattern) {
  return deref(impl_).ask<std::vector<queue_status>>(atom::list_v, pattern);
}

queue_handle client::open(const std::string& address, open_mode mode) {
  auto& c = deref(impl_);
  auto q = c.ask<queue_actor>(atom::open_v, address, mode);
  auto x = std::make_unique<queue_handle::impl>();
  x->owner = impl_;
  x->address = address;
  x->mode = mode;
  x->queue = std::move(q);
  return queue_handle{std::move(x)};
}

msg_id client::put(const std::string& address, message msg) {
  auto& c = deref(impl_);
  auto timeout = c.put_timeout(msg);
  return std::get<0>(
    c.call<msg_id>(timeout, c.session, atom::put_v, address, std::move(msg)));
}

msg_id client::put1(const std::string& address, message msg) {
  return put(address, std::move(msg));
}

msg_id client::put(const std::string& address, message msg, uint64_t uow) {
  auto& c = deref(impl_);
  auto timeout = c.put_timeout(msg);
  return std::get<0>(c.call<msg_id>(timeout, c.session, atom::put_v, address,
                                    std::move(msg), uow));
}

uint64_t client::put_many(const std::string& address,
                          std::vector<message> msgs) {
  auto& c = deref(impl_);
  auto timeout = c.put_timeout(msgs);
  return std::get<0>(c.call<uint64_t>(timeout, c.session, atom::put_v, address,
                                      std::move(msgs)));
}

message client::get(const std::string& queue, const get_options& opts) {
  auto msg = deref(impl_).get(queue, opts);
  if (!msg)
    throw client_error{client_rc::no_msg_available, "no_msg_available",
                       queue};
  return std::move(*msg);
}

std::optional<message> client::try_get(const std::string& queue,
                                       const get_options& opts) {
  return deref(impl_).get(queue, opts);
}

std::future<msg_id> client::put_async(const std::string& address,
                                     message msg, uint64_t uow) {
  return deref(impl_).put_async(address, std::move(msg), uow);
}

std::future<std::optional<message>>
client::get_async(const std::string& queue, const get_options& opts) {
  return deref(impl_).get_async(queue, opts);
}

std::vector<message> client::get_many(const std::string& queue, uint32_t max,
                                     const get_options& opts) {
  return deref(impl_).get_many(queue, max, opts);
}

std::future<std::vector<message>>
client::get_many_async(const std::string& queue, uint32_t max,
                       const get_options& opts) {
  return deref(impl_).get_many_async(queue, max, opts);
}

uint64_t client::consume(const std::string& queue, handler f,
                         uint32_t prefetch, ack_mode mode) {
  return deref(impl_).consume(queue, std::move(f), prefetch, mode);
}

void client::cancel(uint64_t consumer) {
  deref(impl_).cancel(consumer);
}

uint64_t client::ack(const delivery& d) {
  return ack(d.consumer, d.msg.tag, d.msg.tag);
}

uint64_t client::ack(uint64_t consumer, uint64_t first_tag,
                     uint64_t last_tag) {
  return deref(impl_).ask<uint64_t>(atom::ack_v, consumer, first_tag,
                                    last_tag);
}

uint64_t client::nack(const delivery& d, bool requeue) {
  return nack(d.consumer, d.msg.tag, d.msg.tag, requeue);
}

uint64_t client::nack(uint64_t consumer, uint64_t first_tag,
                      uint64_t last_tag, bool requeue) {
  return deref(impl_).ask<uint64_t>(atom::nack_v, consumer, first_tag,
                                    last_tag, requeue);
}

uint64_t client::begin() {
  return deref(impl_).ask<uint64_t>(atom::begin_v);
}

void client::commit(uint64_t uow) {
  deref(impl_).ask<atom::ok>(atom::commit_v, uow);
}

void client::backout(uint64_t uow) {
  deref(impl_).ask<atom::ok>(atom::backout_v, uow);
}

uint64_t client::publish(const std::string& topic, message msg, bool retain) {
  // A publication may be held for slow subscribers (or the memory alarm)
  // up to the node's put wait.
  auto& c = deref(impl_);
  auto timeout = c.held_timeout(c.qm.put_wait_ms);
  return std::get<0>(c.call<uint64_t>(timeout, c.session, atom::publish_v,
                                      topic, std::move(msg), retain));
}

subscription_info client::subscribe(const std::string& filter,
                                    const std::string& durable_name,
                                    const std::string& queue) {
  subscription_spec spec;
  spec.filter = filter;
  spec.durable_name = durable_name;
  spec.queue = queue;
  return deref(impl_).ask<subscription_info>(atom::subscribe_v,
                                             std::move(spec));
}

void client::unsubscribe(const std::string& name) {
  deref(impl_).ask<atom::ok>(atom::unsubscribe_v, name);
}

std::vector<subscription_info> client::subscriptions() {
  return deref(impl_).ask<std::vector<subscription_info>>(atom::list_v,
                                                          atom::subs_v);
}

message client::text(std::string body) {
  message msg;
  msg.body = std::move(body);
  return msg;
}

get_options client::wait(int64_t ms) {
  get_options opts;
  opts.wait_ms = ms;
  return opts;
}

} // namespace qmesh
