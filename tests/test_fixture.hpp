// Shared fixtures for the deterministic actor tests.
//
// `qm_fixture` runs one queue manager on CAF's test coordinator: every
// message is delivered by `run()`, timers fire only on `advance_time()`, so
// tests are deterministic. The test configuration derives from the
// production one, so both register exactly the same types.
#pragma once

#define FAIL CAF_FAIL // dsl.hpp in 0.17.6 uses an undefined FAIL()
#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include "actors/actors.hpp"
#include "actors/queue.hpp"
#include "actors/queue_manager.hpp"
#include "actors/subscription.hpp"
#include "actors/system_config.hpp"

namespace qmesh::test {

struct test_config : system_config {};

/// Records every delivery it gets; settles nothing by itself.
struct recorder_state {
  static inline const char* name = "qmesh.test.recorder";
  std::vector<message> received;
  size_t batches = 0;
};

inline consumer_actor::behavior_type
recorder(consumer_actor::stateful_pointer<recorder_state> self) {
  return {
    [self](atom::deliver, delivery_batch& batch) {
      ++self->state.batches;
      for (auto& msg : batch.messages)
        self->state.received.push_back(std::move(msg));
    },
  };
}

/// A message with a text body and otherwise default descriptor.
inline message text(std::string body, int8_t priority = priority_as_queue) {
  message msg;
  msg.body = std::move(body);
  msg.priority = priority;
  return msg;
}

/// A reply: the value or the error, plus value_or() for terse checks.
template <class T>
struct reply : caf::expected<T> {
  using caf::expected<T>::expected;
  reply(caf::expected<T> x) : caf::expected<T>(std::move(x)) {}
  T value_or(T fallback) const {
    return *this ? **this : fallback;
  }
};

/// The fixture's default queue manager: puts to a full queue fail at once
/// (no put wait), so tests of limits get their 2053 without timers. Tests
/// of flow control pass a config with a wait.
inline qm_config no_wait_config() {
  qm_config cfg;
  cfg.put_wait_ms = 0;
  return cfg;
}

struct qm_fixture : test_coordinator_fixture<test_config> {
  queue_manager_actor qm;

  explicit qm_fixture(qm_config cfg = no_wait_config()) {
    qm = sys.spawn(queue_manager_impl, std::move(cfg));
    run();
  }

  /// Delivers every pending message, but fires no timer: time moves only
  /// through advance_time(). (The base run() also fires timers, moving the
  /// clock to each one, which would make every wait time out at once.)
  size_t run() {
    size_t n = 0;
    while (consume_message())
      ++n;
    return n;
  }

  ~qm_fixture() {
    caf::anon_send_exit(qm, caf::exit_reason::user_shutdown);
    run();
  }

  /// Sends a request, runs everything, returns the reply or the error.
  template <class T, class Handle, class... Ts>
  reply<T> ask(const Handle& hdl, Ts&&... xs) {
    reply<T> result{caf::sec::request_timeout};
    auto rp = self->request(hdl, caf::infinite, std::forward<Ts>(xs)...);
    run();
    rp.receive([&](T& x) { result = std::move(x); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  queue_manager_state& qm_state() {
    return deref<queue_manager_actor::stateful_base<queue_manager_state>>(qm)
      .state;
  }

  queue_actor queue(const std::string& name) {
    auto it = qm_state().queues.find(name);
    if (it == qm_state().queues.end())
      CAF_FAIL("no queue " << name);
    if (!it->second.hdl)
      CAF_FAIL("queue " << name << " is a record: not used yet, no actor");
    return it->second.hdl;
  }

  queue_state& qstate(const std::string& name) {
    return deref<queue_actor::stateful_base<queue_state>>(queue(name)).state;
  }

  queue_status inquire(const std::string& name) {
    auto s = ask<queue_status>(qm, atom::inquire_v, name);
    if (!s)
      CAF_FAIL("inquire " << name << ": " << render(s.error()));
    return *s;
  }

  void define(const std::string& name, attr_map attrs = {}) {
    auto s = ask<queue_status>(qm, atom::define_v, name, std::move(attrs));
    if (!s)
      CAF_FAIL("define " << name << ": " << render(s.error()));
  }

  caf::expected<msg_id> put(const std::string& address, message msg) {
    return ask<msg_id>(qm, atom::put_v, address, std::move(msg));
  }

  caf::expected<message> get(const std::string& name, get_options opts = {}) {
    return ask<message>(qm, atom::get_v, name, std::move(opts));
  }

  /// The reason of an expected that must hold an error.
  template <class T>
  static int reason(const caf::expected<T>& x) {
    if (x)
      return 0;
    if (x.error().category() != caf::atom("qmesh"))
      return -1;
    return mqrc(static_cast<ec>(x.error().code()));
  }

  /// Spawns an actor that runs `init` (sending its requests from itself),
  /// stays alive, and runs until idle.
  template <class Init>
  caf::actor spawn_helper(Init init) {
    auto hdl = sys.spawn([init](caf::event_based_actor* helper) mutable {
      init(helper);
      return caf::behavior{[](int) {}};
    });
    run();
    return hdl;
  }

  void kill(const caf::actor& hdl) {
    caf::anon_send_exit(hdl, caf::exit_reason::kill);
    run();
  }

  std::pair<consumer_actor, recorder_state*> make_recorder() {
    auto hdl = sys.spawn(recorder);
    run();
    auto* st = &deref<consumer_actor::stateful_base<recorder_state>>(hdl).state;
    return {hdl, st};
  }

  /// Registers a recorder as consumer of `name`; returns (queue, id, state).
  struct consumer_handle {
    queue_actor queue;
    uint64_t id = 0;
    consumer_actor hdl;
    recorder_state* st = nullptr;
  };

  consumer_handle consume(const std::string& name, uint32_t prefetch,
                          ack_mode mode) {
    auto [hdl, st] = make_recorder();
    consumer_handle result;
    result.hdl = hdl;
    result.st = st;
    auto rp = self->request(qm, caf::infinite, atom::consume_v, name, hdl,
                            prefetch, mode);
    run();
    rp.receive(
      [&](queue_actor& q, uint64_t id) {
        result.queue = q;
        result.id = id;
      },
      [](caf::error& e) { CAF_FAIL("consume failed: " << render(e)); });
    return result;
  }
};

} // namespace qmesh::test
