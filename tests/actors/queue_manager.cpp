#define CAF_SUITE actors.queue_manager
#include "test_fixture.hpp"

#include <memory>

using namespace qmesh;
using namespace qmesh::test;

namespace {

/// Names that break the rule `[A-Za-z0-9._%]{1,48}` as a queue name.
std::vector<std::string> bad_queue_names() {
  return {
    std::string{},                    // empty
    std::string(49, 'A'),             // one too long
    "A/B",                            // '/' (not allowed in a queue name)
    "A-B",                            // '-'
    "A B",                            // space
    std::string{"A\0B", 3},           // NUL byte
  };
}

/// Addresses that break the rules (for put / get / open, where `QM/Q` is a
/// valid form, the `/` cases must break it differently).
std::vector<std::string> bad_addresses() {
  return {
    std::string{},
    std::string(49, 'A'),
    "/Q",                             // empty QM part
    "QM1/",                           // empty queue part
    "QM1/A/B",                        // two slashes
    "QM1/" + std::string(49, 'A'),    // queue part too long
    "A-B",
    "A B",
    std::string{"A\0B", 3},
  };
}

struct qm_test : qm_fixture {
  explicit qm_test(qm_config cfg = no_wait_config())
    : qm_fixture(std::move(cfg)) {
    // nop
  }

  /// Names of every queue the queue manager knows, sorted.
  std::vector<std::string> queue_names() {
    std::vector<std::string> result;
    for (const auto& [name, entry] : qm_state().queues)
      result.push_back(name);
    return result;
  }

  /// The queue manager's table entry of a queue (fails if there is none).
  const queue_manager_state::queue_entry& entry(const std::string& name) {
    auto it = qm_state().queues.find(name);
    if (it == qm_state().queues.end())
      CAF_FAIL("no queue " << name);
    return it->second;
  }

  caf::expected<queue_actor> open(const std::string& name, open_mode mode) {
    return ask<queue_actor>(qm, atom::open_v, name, mode);
  }

  caf::expected<atom::ok> close(const std::string& name, open_mode mode) {
    return ask<atom::ok>(qm, atom::close_v, name, mode);
  }

  caf::expected<uint64_t> del(const std::string& name, bool purge) {
    return ask<uint64_t>(qm, atom::delete_v, name, purge);
  }

  caf::expected<queue_status> define_x(const std::string& name,
                                       attr_map attrs = {}) {
    return ask<queue_status>(qm, atom::define_v, name, std::move(attrs));
  }

  caf::expected<queue_status> alter(const std::string& name, attr_map attrs) {
    return ask<queue_status>(qm, atom::alter_v, name, std::move(attrs));
  }

  caf::expected<queue_status> inquire_x(const std::string& name) {
    return ask<queue_status>(qm, atom::inquire_v, name);
  }

  std::vector<std::string> list(const std::string& pattern) {
    auto xs = ask<std::vector<queue_status>>(qm, atom::list_v, pattern);
    if (!xs)
      CAF_FAIL("list " << pattern << ": " << render(xs.error()));
    std::vector<std::string> names;
    for (auto& x : *xs)
      names.push_back(x.name);
    return names;
  }

  qm_status status() {
    auto s = ask<qm_status>(qm, atom::status_v);
    if (!s)
      CAF_FAIL("status: " << render(s.error()));
    return *s;
  }

  uint64_t begin() {
    auto id = ask<uint64_t>(qm, atom::begin_v);
    if (!id)
      CAF_FAIL("begin: " << render(id.error()));
    return *id;
  }

  caf::expected<msg_id> put_uow(const std::string& address, message msg,
                                uint64_t uow) {
    return ask<msg_id>(qm, atom::put_v, address, std::move(msg), uow);
  }
};

/// A queue manager with auto-definition off.
struct no_auto_fixture : qm_test {
  static qm_config make() {
    auto cfg = no_wait_config();
    cfg.auto_define = false;
    return cfg;
  }
  no_auto_fixture() : qm_test(make()) {
  }
};

/// A queue manager named QMX with non-default queue defaults.
struct defaults_fixture : qm_test {
  static qm_config make() {
    auto cfg = no_wait_config();
    cfg.name = "QMX";
    cfg.queue_defaults.max_depth = 7;
    cfg.queue_defaults.default_priority = 4;
    cfg.queue_defaults.default_persistence = true;
    cfg.queue_defaults.description = "from defaults";
    return cfg;
  }
  defaults_fixture() : qm_test(make()) {
  }
};

/// A queue manager whose listings walk 2 table entries per message and ask
/// at most 3 queues at a time.
struct small_list_fixture : qm_test {
  static qm_config make() {
    qm_config cfg;
    cfg.list_slice = 2;
    cfg.list_window = 3;
    return cfg;
  }
  small_list_fixture() : qm_test(make()) {
  }
};

/// A queue manager allowing 3 uncommitted messages per unit of work.
struct syncpoint_fixture : qm_test {
  static qm_config make() {
    auto cfg = no_wait_config();
    cfg.max_uncommitted = 3;
    return cfg;
  }
  syncpoint_fixture() : qm_test(make()) {
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(queue_manager_tests, qm_test)

// -- define / inquire ---------------------------------------------------------

CAF_TEST(a new queue manager has only the dead-letter queue) {
  CAF_CHECK_EQUAL(queue_names(),
                  std::vector<std::string>{dead_letter_queue_name});
  auto s = status();
  CAF_CHECK_EQUAL(s.name, "QM1");
  CAF_CHECK_EQUAL(s.queue_count, 1u);
  CAF_CHECK_EQUAL(s.subscription_count, 0u);
  CAF_CHECK_EQUAL(s.open_uow_count, 0u);
}

CAF_TEST(define then inquire shows the attributes) {
  auto d = define_x("ORDERS", {{"max_depth", "500"},
                               {"max_msg_length", "1024"},
                               {"default_priority", "7"},
                               {"default_persistence", "persistent"},
                               {"backout_threshold", "3"},
                               {"backout_queue", "ORDERS.BO"},
                               {"put_inhibited", "false"},
                               {"description", "order entry"}});
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->name, "ORDERS");
  CAF_CHECK_EQUAL(d->attrs.max_depth, 500u);
  auto s = inquire("ORDERS");
  CAF_CHECK_EQUAL(s.name, "ORDERS");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 500u);
  CAF_CHECK_EQUAL(s.attrs.max_msg_length, 1024u);
  CAF_CHECK_EQUAL(static_cast<int>(s.attrs.default_priority), 7);
  CAF_CHECK(s.attrs.default_persistence);
  CAF_CHECK_EQUAL(s.attrs.backout_threshold, 3u);
  CAF_CHECK_EQUAL(s.attrs.backout_queue, "ORDERS.BO");
  CAF_CHECK(!s.attrs.put_inhibited);
  CAF_CHECK_EQUAL(s.attrs.description, "order entry");
  CAF_CHECK_EQUAL(s.current_depth, 0u);
  CAF_CHECK_EQUAL(s.open_input_count, 0u);
  CAF_CHECK_EQUAL(s.open_output_count, 0u);
  // Unset attributes take the defaults.
  auto t = define_x("PLAIN");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(inquire("PLAIN").attrs.max_depth,
                  queue_attrs{}.max_depth);
  CAF_CHECK_EQUAL(status().queue_count, 3u);
  // The defined attributes are in force: the queue applies them.
  auto id = put("ORDERS", text("x"));
  CAF_REQUIRE(id);
  auto msg = get("ORDERS");
  CAF_REQUIRE(msg);
  CAF_CHECK_EQUAL(static_cast<int>(msg->priority), 7);
  CAF_CHECK(msg->is_persistent());
  CAF_CHECK_EQUAL(reason(put("ORDERS", text(std::string(1025, 'x')))),
                  2030);
}

CAF_TEST(a 48 character name is valid) {
  auto name = std::string(48, 'Q');
  CAF_CHECK(define_x(name));
  CAF_CHECK(put(name, text("x")));
  CAF_CHECK(put("QM1/" + name, text("y")));
  CAF_CHECK_EQUAL(inquire(name).current_depth, 2u);
  CAF_CHECK(define_x("a.B_9%"));
}

CAF_TEST(define twice is 2100 and keeps the first queue) {
  define("Q1", {{"max_depth", "10"}});
  CAF_CHECK(put("Q1", text("kept")));
  auto again = define_x("Q1", {{"max_depth", "20"}});
  CAF_CHECK_EQUAL(reason(again), 2100);
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 10u);
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(reason(define_x(dead_letter_queue_name)), 2100);
}

CAF_TEST(bad names on define are 2152 and create nothing) {
  auto before = queue_names();
  for (const auto& name : bad_queue_names()) {
    CAF_MESSAGE("name of " << name.size() << " bytes");
    // `A/B` is an address: queue B of queue manager A, not this one.
    CAF_CHECK_EQUAL(reason(define_x(name)), name == "A/B" ? 2087 : 2152);
  }
  CAF_CHECK_EQUAL(queue_names(), before);
}

CAF_TEST(bad names on put get and open are 2152 and create nothing) {
  auto before = queue_names();
  for (const auto& name : bad_addresses()) {
    CAF_MESSAGE("address of " << name.size() << " bytes");
    CAF_CHECK_EQUAL(reason(put(name, text("x"))), 2152);
    CAF_CHECK_EQUAL(reason(get(name)), 2152);
    CAF_CHECK_EQUAL(reason(open(name, open_mode::input)), 2152);
    CAF_CHECK_EQUAL(reason(open(name, open_mode::output)), 2152);
  }
  for (const auto& name : bad_queue_names()) {
    if (name == "A/B")
      continue; // a valid `QM/Q` address (remote QM A): see addressing tests
    CAF_CHECK_EQUAL(reason(put(name, text("x"))), 2152);
    CAF_CHECK_EQUAL(reason(get(name)), 2152);
    CAF_CHECK_EQUAL(reason(open(name, open_mode::input)), 2152);
  }
  CAF_CHECK_EQUAL(queue_names(), before);
}

CAF_TEST(attribute errors on define are reported and create nothing) {
  auto before = queue_names();
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_depth", "0"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_depth", "100000001"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_depth", "-1"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_depth", "ten"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_msg_length", "0"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"put_inhibited", "maybe"}})), 2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"description",
                                         std::string(65, 'd')}})),
                  2046);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"default_priority", "10"}})), 2050);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"default_priority", "-1"}})), 2050);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"colour", "blue"}})), 2067);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"current_depth", "5"}})), 2067);
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"backout_queue", "BAD NAME"}})),
                  2152);
  // One bad attribute among good ones still rejects the whole define.
  CAF_CHECK_EQUAL(reason(define_x("Q", {{"max_depth", "5"},
                                        {"default_priority", "12"}})),
                  2050);
  CAF_CHECK_EQUAL(queue_names(), before);
  CAF_CHECK_EQUAL(reason(inquire_x("Q")), 2085);
}

// -- alter --------------------------------------------------------------------

CAF_TEST(alter changes attributes and a bad alter changes nothing) {
  define("Q", {{"max_depth", "10"}, {"description", "before"}});
  auto a = alter("Q", {{"max_depth", "2"}, {"default_priority", "5"}});
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(a->attrs.max_depth, 2u);
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 2u);
  CAF_CHECK_EQUAL(static_cast<int>(s.attrs.default_priority), 5);
  CAF_CHECK_EQUAL(s.attrs.description, "before");
  // The new limit is in force.
  CAF_CHECK(put("Q", text("1")));
  CAF_CHECK(put("Q", text("2")));
  CAF_CHECK_EQUAL(reason(put("Q", text("3"))), 2053);
  // Bad alters: all or nothing.
  CAF_CHECK_EQUAL(reason(alter("Q", {{"max_depth", "50"},
                                     {"default_priority", "10"}})),
                  2050);
  CAF_CHECK_EQUAL(reason(alter("Q", {{"description", "after"},
                                     {"max_depth", "0"}})),
                  2046);
  CAF_CHECK_EQUAL(reason(alter("Q", {{"max_depth", "50"},
                                     {"open_input_count", "1"}})),
                  2067);
  CAF_CHECK_EQUAL(reason(alter("Q", {{"bogus", "1"}})), 2067);
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 2u);
  CAF_CHECK_EQUAL(static_cast<int>(s.attrs.default_priority), 5);
  CAF_CHECK_EQUAL(s.attrs.description, "before");
  CAF_CHECK_EQUAL(s.current_depth, 2u);
  CAF_CHECK_EQUAL(reason(alter("NOPE", {{"max_depth", "5"}})), 2085);
  CAF_CHECK_EQUAL(reason(inquire_x("NOPE")), 2085);
}

CAF_TEST(alter put_inhibited and get_inhibited take effect) {
  define("Q");
  CAF_CHECK(put("Q", text("a")));
  CAF_REQUIRE(alter("Q", {{"put_inhibited", "true"},
                          {"get_inhibited", "yes"}}));
  CAF_CHECK_EQUAL(reason(put("Q", text("b"))), 2051);
  CAF_CHECK_EQUAL(reason(get("Q")), 2016);
  CAF_REQUIRE(alter("Q", {{"put_inhibited", "off"}, {"get_inhibited", "0"}}));
  CAF_CHECK(put("Q", text("b")));
  auto m = get("Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "a");
}

// -- delete / purge -----------------------------------------------------------

CAF_TEST(delete of a non-empty queue is 2055 and keeps the messages) {
  define("Q");
  CAF_CHECK(put("Q", text("one")));
  CAF_CHECK(put("Q", text("two")));
  CAF_CHECK_EQUAL(reason(del("Q", false)), 2055);
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 1u);
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 2u);
  auto m = get("Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "one");
  // With purge: gone, and the count is returned.
  CAF_CHECK(put("Q", text("three")));
  auto n = del("Q", true);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 2u);
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 0u);
  CAF_CHECK_EQUAL(reason(inquire_x("Q")), 2085);
  CAF_CHECK_EQUAL(status().queue_count, 1u);
  // A new queue of the same name starts empty.
  define("Q");
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 0u);
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
}

CAF_TEST(a put racing a delete gets a queue not a system error) {
  define("Q");
  // Delete, then put, with nothing run in between: the put must not be
  // routed to the queue actor that is about to stop.
  auto h1 = self->request(qm, caf::infinite, atom::delete_v,
                          std::string{"Q"}, false);
  auto h2 = self->request(qm, caf::infinite, atom::put_v, std::string{"Q"},
                          text("after delete"));
  run();
  caf::expected<uint64_t> deleted{caf::sec::request_timeout};
  caf::expected<msg_id> put_result{caf::sec::request_timeout};
  h1.receive([&](uint64_t n) { deleted = n; },
             [&](caf::error& e) { deleted = std::move(e); });
  h2.receive([&](msg_id& id) { put_result = id; },
             [&](caf::error& e) { put_result = std::move(e); });
  CAF_REQUIRE(deleted);
  CAF_CHECK_EQUAL(*deleted, 0u);
  if (!put_result)
    CAF_MESSAGE("put: " << render(put_result.error()));
  // With auto-define on, the put defines the queue afresh.
  CAF_REQUIRE(put_result);
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u);
  auto m = get("Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "after delete");
}

CAF_TEST(delete of an empty queue needs no purge) {
  define("Q");
  auto n = del("Q", false);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 0u);
  CAF_CHECK_EQUAL(reason(del("Q", false)), 2085);
}

CAF_TEST(delete of an open queue is 2042) {
  define("Q");
  CAF_REQUIRE(open("Q", open_mode::input));
  CAF_CHECK_EQUAL(reason(del("Q", false)), 2042);
  CAF_CHECK_EQUAL(reason(del("Q", true)), 2042);
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 1u);
  CAF_REQUIRE(close("Q", open_mode::input));
  CAF_CHECK(del("Q", false));
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 0u);
}

CAF_TEST(delete of the dead letter queue is 2035) {
  CAF_CHECK(put(dead_letter_queue_name, text("dead")));
  CAF_CHECK_EQUAL(reason(del(dead_letter_queue_name, false)), 2035);
  CAF_CHECK_EQUAL(reason(del(dead_letter_queue_name, true)), 2035);
  CAF_CHECK_EQUAL(qm_state().queues.count(dead_letter_queue_name), 1u);
  CAF_CHECK_EQUAL(inquire(dead_letter_queue_name).current_depth, 1u);
}

CAF_TEST(delete of an unknown queue is 2085) {
  CAF_CHECK_EQUAL(reason(del("NOPE", false)), 2085);
  CAF_CHECK_EQUAL(reason(del("NOPE", true)), 2085);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(qm, atom::purge_v,
                                       std::string{"NOPE"})),
                  2085);
}

CAF_TEST(purge returns the count and empties the queue) {
  define("Q");
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(put("Q", text(std::to_string(i))));
  auto n = ask<uint64_t>(qm, atom::purge_v, std::string{"Q"});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 5u);
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 0u);
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
  n = ask<uint64_t>(qm, atom::purge_v, std::string{"Q"});
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  // The queue itself stays.
  CAF_CHECK(put("Q", text("after")));
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u);
}

// -- list ---------------------------------------------------------------------

CAF_TEST(list matches all a prefix or one name) {
  define("ORDERS");
  define("ORD1");
  define("ORD2");
  define("OTHER");
  using names = std::vector<std::string>;
  CAF_CHECK_EQUAL(list("*"), (names{"ORD1", "ORD2", "ORDERS", "OTHER",
                                    dead_letter_queue_name}));
  CAF_CHECK_EQUAL(list(""), list("*"));
  CAF_CHECK_EQUAL(list("ORD*"), (names{"ORD1", "ORD2", "ORDERS"}));
  CAF_CHECK_EQUAL(list("O*"), (names{"ORD1", "ORD2", "ORDERS", "OTHER"}));
  CAF_CHECK_EQUAL(list("SYSTEM.*"), (names{dead_letter_queue_name}));
  CAF_CHECK_EQUAL(list("ORDERS"), (names{"ORDERS"}));
  CAF_CHECK_EQUAL(list("ORD"), names{});
  CAF_CHECK_EQUAL(list("X*"), names{});
  // Statistics come with the listing.
  CAF_CHECK(put("ORD2", text("x")));
  auto xs = ask<std::vector<queue_status>>(qm, atom::list_v,
                                           std::string{"ORD2"});
  CAF_REQUIRE(xs);
  CAF_REQUIRE_EQUAL(xs->size(), 1u);
  CAF_CHECK_EQUAL(xs->front().current_depth, 1u);
}

CAF_TEST(a put is routed while a long listing is gathered) {
  // Used queues: each has an actor the listing must ask.
  constexpr size_t n = 600;
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) {
    names.push_back("L." + std::to_string(1000 + i));
    CAF_REQUIRE(put(names.back(), text("x")));
  }
  auto listing = self->request(qm, caf::infinite, atom::list_v,
                               std::string{"L.*"});
  // Step as many messages as a queue manager that asked every queue itself
  // would need to have all their replies in its own mailbox: the list
  // request plus one inquire per queue. A put sent now would wait behind
  // every reply there, i.e. until the listing is complete.
  for (size_t i = 0; i < n + 1; ++i)
    sched.try_run_once();
  CAF_REQUIRE(self->mailbox().empty()); // the listing is not complete
  caf::anon_send(qm, atom::put_v, names.front(), text("during the listing"));
  auto& first = qstate(names.front());
  size_t steps = 0;
  while (first.ledger->ready().size() < 2 && sched.try_run_once())
    ++steps;
  CAF_MESSAGE("the put reached its queue after " << steps << " steps");
  CAF_CHECK_EQUAL(first.ledger->ready().size(), 2u);
  // ... before the listing was complete: its reply has not arrived yet.
  CAF_CHECK(self->mailbox().empty());
  run();
  std::vector<queue_status> xs;
  listing.receive([&](std::vector<queue_status>& r) { xs = std::move(r); },
                  [&](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_REQUIRE_EQUAL(xs.size(), n);
  for (size_t i = 0; i < n; ++i) {
    CAF_CHECK_EQUAL(xs[i].name, names[i]);
    CAF_CHECK_GREATER_OR_EQUAL(xs[i].current_depth, 1u);
  }
}

// -- queue lifecycle: a record until first use --------------------------------

CAF_TEST(a defined queue is a record until its first put) {
  define("Q", {{"max_depth", "5"}, {"description", "lazy"}});
  CAF_CHECK(!entry("Q").hdl);
  // Inquire and purge answer from the record.
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.name, "Q");
  CAF_CHECK_EQUAL(s.attrs.max_depth, 5u);
  CAF_CHECK_EQUAL(s.attrs.description, "lazy");
  CAF_CHECK_EQUAL(s.current_depth, 0u);
  CAF_CHECK_EQUAL(s.enqueued_total, 0u);
  CAF_CHECK_EQUAL(s.open_input_count, 0u);
  CAF_CHECK_EQUAL(ask<uint64_t>(qm, atom::purge_v, std::string{"Q"})
                    .value_or(99),
                  0u);
  CAF_CHECK(!entry("Q").hdl);
  // The first put spawns the actor with the record's attributes.
  CAF_REQUIRE(put("Q", text("first")));
  CAF_REQUIRE(entry("Q").hdl);
  CAF_CHECK(entry("Q").attrs); // the catalog keeps its copy
  CAF_CHECK_EQUAL(qstate("Q").ledger->ready().size(), 1u);
  CAF_CHECK_EQUAL(qstate("Q").cfg.attrs.max_depth, 5u);
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.attrs.description, "lazy");
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(s.enqueued_total, 1u);
  auto m = get("Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "first");
}

CAF_TEST(a record with the default attributes stores none) {
  define("PLAIN");
  CAF_CHECK(!entry("PLAIN").attrs);
  define("OWN", {{"description", "own"}});
  CAF_REQUIRE(entry("OWN").attrs);
  CAF_CHECK_EQUAL(entry("OWN").attrs->description, "own");
  // Back to the defaults: the record drops its copy.
  CAF_REQUIRE(alter("OWN", {{"description", ""}}));
  CAF_CHECK(!entry("OWN").attrs);
  CAF_CHECK_EQUAL(inquire("OWN").attrs.description, "");
}

CAF_TEST(alter of a record changes it and applies on activation) {
  define("Q");
  auto a = alter("Q", {{"max_depth", "1"}, {"default_priority", "6"}});
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(a->name, "Q");
  CAF_CHECK_EQUAL(a->attrs.max_depth, 1u);
  CAF_CHECK_EQUAL(a->current_depth, 0u);
  CAF_CHECK(!entry("Q").hdl);
  // All or nothing, as on an actor.
  CAF_CHECK_EQUAL(reason(alter("Q", {{"max_depth", "3"}, {"bogus", "1"}})),
                  2067);
  CAF_CHECK_EQUAL(reason(alter("Q", {{"max_depth", "0"}})), 2046);
  CAF_CHECK_EQUAL(inquire("Q").attrs.max_depth, 1u);
  CAF_CHECK(!entry("Q").hdl);
  // The actor starts with the altered attributes.
  CAF_CHECK(put("Q", text("a")));
  CAF_CHECK_EQUAL(reason(put("Q", text("b"))), 2053);
  auto m = get("Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(static_cast<int>(m->priority), 6);
}

CAF_TEST(delete of a record removes it without an actor) {
  define("Q", {{"description", "x"}});
  auto before = status().queue_count;
  auto n = del("Q", false);
  CAF_REQUIRE(n);
  CAF_CHECK_EQUAL(*n, 0u);
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 0u);
  CAF_CHECK_EQUAL(status().queue_count, before - 1);
  CAF_CHECK_EQUAL(reason(inquire_x("Q")), 2085);
  CAF_CHECK_EQUAL(reason(del("Q", true)), 2085);
  // Defined again: a fresh record with the defaults.
  define("Q");
  CAF_CHECK(!entry("Q").hdl);
  CAF_CHECK_EQUAL(inquire("Q").attrs.description, "");
}

CAF_TEST(every route to a queue activates its record) {
  for (auto name : {"OPEN", "GET", "CONSUME", "SUB", "UOW", "CLOSE"})
    define(name);
  CAF_CHECK(open("OPEN", open_mode::output));
  CAF_CHECK(entry("OPEN").hdl);
  CAF_CHECK_EQUAL(reason(get("GET")), 2033);
  CAF_CHECK(entry("GET").hdl);
  auto rec = make_recorder().first;
  bool consuming = false;
  auto rp = self->request(qm, caf::infinite, atom::consume_v,
                          std::string{"CONSUME"}, rec, uint32_t{10},
                          ack_mode::automatic);
  run();
  rp.receive([&](queue_actor&, uint64_t) { consuming = true; },
             [&](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_CHECK(consuming);
  CAF_CHECK(entry("CONSUME").hdl);
  CAF_CHECK(ask<subscription_info>(qm, atom::subscribe_v,
                                   subscription_spec{"t", "", "SUB"}));
  CAF_CHECK(entry("SUB").hdl);
  auto uow = begin();
  CAF_CHECK(put_uow("UOW", text("u"), uow));
  CAF_CHECK(entry("UOW").hdl);
  CAF_CHECK_EQUAL(reason(close("CLOSE", open_mode::input)), 2019);
  // Administration does not.
  define("ADMIN");
  CAF_CHECK(inquire_x("ADMIN"));
  CAF_CHECK(alter("ADMIN", {{"max_depth", "9"}}));
  CAF_CHECK(ask<uint64_t>(qm, atom::purge_v, std::string{"ADMIN"}));
  list("*");
  CAF_CHECK(!entry("ADMIN").hdl);
  kill(caf::actor_cast<caf::actor>(rec));
}

CAF_TEST(a record as backout queue gets its actor for the moved message) {
  define("BQ");
  define("Q", {{"backout_threshold", "1"}, {"backout_queue", "BQ"}});
  CAF_CHECK(put("Q", text("poison")));
  auto uow = begin();
  get_options opts;
  opts.uow = uow;
  CAF_CHECK(ask<message>(qm, atom::get_v, std::string{"Q"}, opts));
  CAF_CHECK(!entry("BQ").hdl);
  CAF_CHECK(ask<atom::ok>(qm, atom::backout_v, uow));
  run();
  CAF_REQUIRE(entry("BQ").hdl);
  CAF_CHECK_EQUAL(inquire("BQ").current_depth, 1u);
  CAF_CHECK_EQUAL(inquire(dead_letter_queue_name).current_depth, 0u);
}

CAF_TEST(system queues have their actors from the start) {
  CAF_CHECK(entry(dead_letter_queue_name).hdl);
  auto t = ask<queue_status>(qm, atom::define_v, atom::temporary_v);
  CAF_REQUIRE(t);
  CAF_CHECK(entry(t->name).hdl);
  auto info = ask<subscription_info>(qm, atom::subscribe_v,
                                     subscription_spec{"t", "", ""});
  CAF_REQUIRE(info);
  CAF_CHECK(entry(info->queue).hdl);
}

CAF_TEST(list mixes records and actors in name order) {
  define("M.A", {{"max_depth", "3"}});
  define("M.B");
  define("M.C");
  CAF_CHECK(put("M.B", text("b")));
  CAF_CHECK(put("M.D", text("d1"))); // auto-defined
  CAF_CHECK(put("M.D", text("d2")));
  auto xs = ask<std::vector<queue_status>>(qm, atom::list_v,
                                           std::string{"M.*"});
  CAF_REQUIRE(xs);
  CAF_REQUIRE_EQUAL(xs->size(), 4u);
  CAF_CHECK_EQUAL((*xs)[0].name, "M.A");
  CAF_CHECK_EQUAL((*xs)[0].attrs.max_depth, 3u);
  CAF_CHECK_EQUAL((*xs)[0].current_depth, 0u);
  CAF_CHECK_EQUAL((*xs)[1].name, "M.B");
  CAF_CHECK_EQUAL((*xs)[1].current_depth, 1u);
  CAF_CHECK_EQUAL((*xs)[2].name, "M.C");
  CAF_CHECK_EQUAL((*xs)[2].current_depth, 0u);
  CAF_CHECK_EQUAL((*xs)[3].name, "M.D");
  CAF_CHECK_EQUAL((*xs)[3].current_depth, 2u);
  CAF_CHECK_EQUAL((*xs)[3].enqueued_total, 2u);
  CAF_CHECK(!entry("M.A").hdl);
  CAF_CHECK(!entry("M.C").hdl);
  // Only records: answered by the queue manager itself.
  xs = ask<std::vector<queue_status>>(qm, atom::list_v, std::string{"M.C"});
  CAF_REQUIRE(xs);
  CAF_REQUIRE_EQUAL(xs->size(), 1u);
  CAF_CHECK_EQUAL(xs->front().name, "M.C");
}

// -- open / close -------------------------------------------------------------

CAF_TEST(open and close counts show in inquire) {
  define("Q");
  auto h = open("Q", open_mode::input);
  CAF_REQUIRE(h);
  CAF_CHECK(*h == queue("Q"));
  CAF_REQUIRE(open("Q", open_mode::input));
  CAF_REQUIRE(open("Q", open_mode::output));
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 2u);
  CAF_CHECK_EQUAL(s.open_output_count, 1u);
  CAF_REQUIRE(close("Q", open_mode::output));
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 2u);
  CAF_CHECK_EQUAL(s.open_output_count, 0u);
  // Closing a mode that is not open is 2019 and changes nothing.
  CAF_CHECK_EQUAL(reason(close("Q", open_mode::output)), 2019);
  CAF_REQUIRE(close("Q", open_mode::input));
  CAF_REQUIRE(close("Q", open_mode::input));
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 0u);
  CAF_CHECK_EQUAL(s.open_output_count, 0u);
  CAF_CHECK_EQUAL(reason(close("Q", open_mode::input)), 2019);
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 0u);
}

CAF_TEST(close without open is 2019) {
  define("Q");
  CAF_CHECK_EQUAL(reason(close("Q", open_mode::input)), 2019);
  CAF_CHECK_EQUAL(reason(close("Q", open_mode::output)), 2019);
  // Another actor's open is not the caller's.
  auto helper = spawn_helper([qm = qm](caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::open_v, std::string{"Q"},
                  open_mode::input)
      .then([](queue_actor&) {}, [](caf::error&) {});
  });
  CAF_CHECK_EQUAL(inquire("Q").open_input_count, 1u);
  CAF_CHECK_EQUAL(reason(close("Q", open_mode::input)), 2019);
  CAF_CHECK_EQUAL(inquire("Q").open_input_count, 1u);
  // Close of an unknown queue does not define it.
  CAF_CHECK_EQUAL(reason(close("NOPE", open_mode::input)), 2085);
  CAF_CHECK_EQUAL(qm_state().queues.count("NOPE"), 0u);
  kill(helper);
}

CAF_TEST(the opens of an actor that dies are closed) {
  define("Q");
  auto replies = std::make_shared<int>(0);
  auto helper = spawn_helper([qm = qm, replies](caf::event_based_actor* self) {
    for (auto mode : {open_mode::input, open_mode::input, open_mode::output})
      self->request(qm, caf::infinite, atom::open_v, std::string{"Q"}, mode)
        .then([replies](queue_actor&) { ++*replies; },
              [](caf::error&) {});
  });
  CAF_CHECK_EQUAL(*replies, 3);
  // The test's own open stays.
  CAF_REQUIRE(open("Q", open_mode::output));
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 2u);
  CAF_CHECK_EQUAL(s.open_output_count, 2u);
  CAF_CHECK_EQUAL(reason(del("Q", false)), 2042);
  kill(helper);
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.open_input_count, 0u);
  CAF_CHECK_EQUAL(s.open_output_count, 1u);
  CAF_REQUIRE(close("Q", open_mode::output));
  CAF_CHECK(del("Q", false));
  CAF_CHECK_EQUAL(qm_state().queues.count("Q"), 0u);
}

// -- addressing ---------------------------------------------------------------

CAF_TEST(addresses with the local queue manager name work) {
  define("Q");
  CAF_REQUIRE(put("QM1/Q", text("via qm")));
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u);
  auto m = get("QM1/Q");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "via qm");
  CAF_CHECK_EQUAL(m->origin_qmgr, "QM1");
  auto h = open("QM1/Q", open_mode::input);
  CAF_REQUIRE(h);
  CAF_CHECK(*h == queue("Q"));
  CAF_CHECK_EQUAL(inquire("Q").open_input_count, 1u);
  CAF_CHECK(close("QM1/Q", open_mode::input));
  CAF_CHECK_EQUAL(inquire("Q").open_input_count, 0u);
  // Auto-definition through a local QM address defines the bare queue name.
  CAF_CHECK(put("QM1/NEWQ", text("n")));
  CAF_CHECK_EQUAL(qm_state().queues.count("NEWQ"), 1u);
  CAF_CHECK_EQUAL(qm_state().queues.count("QM1/NEWQ"), 0u);
}

CAF_TEST(unknown queue managers are 2087 and bad addresses 2152) {
  auto before = queue_names();
  CAF_CHECK_EQUAL(reason(put("QM9/Q", text("x"))), 2087);
  CAF_CHECK_EQUAL(reason(get("QM9/Q")), 2087);
  CAF_CHECK_EQUAL(reason(open("QM9/Q", open_mode::output)), 2087);
  CAF_CHECK_EQUAL(reason(put("A/B", text("x"))), 2087);
  CAF_CHECK_EQUAL(reason(put("a/b/c", text("x"))), 2152);
  CAF_CHECK_EQUAL(reason(get("a/b/c")), 2152);
  CAF_CHECK_EQUAL(reason(open("a/b/c", open_mode::input)), 2152);
  CAF_CHECK_EQUAL(queue_names(), before);
}

// -- auto-definition ----------------------------------------------------------

CAF_TEST(auto definition creates queues on put get and open) {
  CAF_REQUIRE(put("AUTO1", text("x")));
  CAF_CHECK_EQUAL(qm_state().queues.count("AUTO1"), 1u);
  CAF_CHECK_EQUAL(inquire("AUTO1").current_depth, 1u);
  CAF_CHECK_EQUAL(reason(get("AUTO2")), 2033);
  CAF_CHECK_EQUAL(qm_state().queues.count("AUTO2"), 1u);
  CAF_REQUIRE(open("AUTO3", open_mode::output));
  CAF_CHECK_EQUAL(qm_state().queues.count("AUTO3"), 1u);
  CAF_CHECK_EQUAL(inquire("AUTO3").open_output_count, 1u);
  CAF_CHECK_EQUAL(status().queue_count, 4u);
  // Auto-defined queues are ordinary: deletable.
  CAF_CHECK(del("AUTO2", false));
  // Admin verbs never auto-define.
  CAF_CHECK_EQUAL(reason(inquire_x("AUTO9")), 2085);
  CAF_CHECK_EQUAL(reason(alter("AUTO9", {{"max_depth", "3"}})), 2085);
  CAF_CHECK_EQUAL(qm_state().queues.count("AUTO9"), 0u);
}

CAF_TEST(status reports the name and the queue count) {
  auto s = status();
  CAF_CHECK_EQUAL(s.name, "QM1");
  CAF_CHECK(!s.version.empty());
  CAF_CHECK_EQUAL(s.queue_count, 1u);
  define("A");
  CAF_CHECK(put("B", text("x")));
  CAF_CHECK_EQUAL(status().queue_count, 3u);
  CAF_CHECK(del("A", false));
  CAF_CHECK_EQUAL(status().queue_count, 2u);
  auto u = begin();
  CAF_CHECK_EQUAL(status().open_uow_count, 1u);
  CAF_CHECK(ask<atom::ok>(qm, atom::commit_v, u));
  CAF_CHECK_EQUAL(status().open_uow_count, 0u);
}

// -- units of work ------------------------------------------------------------

CAF_TEST(a unit of work of another actor is 2255) {
  define("Q");
  CAF_CHECK(put("Q", text("ready")));
  auto uow = std::make_shared<uint64_t>(0);
  auto helper = spawn_helper([qm = qm, uow](caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::begin_v)
      .then([uow](uint64_t id) { *uow = id; }, [](caf::error&) {});
  });
  CAF_REQUIRE_NOT_EQUAL(*uow, 0u);
  CAF_CHECK_EQUAL(reason(put_uow("Q", text("x"), *uow)), 2255);
  get_options opts;
  opts.uow = *uow;
  CAF_CHECK_EQUAL(reason(get("Q", opts)), 2255);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(qm, atom::commit_v, *uow)), 2255);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(qm, atom::backout_v, *uow)), 2255);
  // Nothing happened to the queue; the helper's unit of work still exists.
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(s.uncommitted_count, 0u);
  CAF_CHECK_EQUAL(qm_state().uows.count(*uow), 1u);
  // Unknown ids too.
  CAF_CHECK_EQUAL(reason(put_uow("Q", text("x"), 999)), 2255);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(qm, atom::commit_v, uint64_t{999})),
                  2255);
  // When the owner goes, its unit of work goes with it.
  kill(helper);
  CAF_CHECK_EQUAL(qm_state().uows.count(*uow), 0u);
  CAF_CHECK_EQUAL(status().open_uow_count, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- auto-definition off ------------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(queue_manager_no_auto_tests, no_auto_fixture)

CAF_TEST(without auto definition unknown queues are 2085) {
  auto before = queue_names();
  CAF_CHECK_EQUAL(reason(put("Q", text("x"))), 2085);
  CAF_CHECK_EQUAL(reason(put("QM1/Q", text("x"))), 2085);
  CAF_CHECK_EQUAL(reason(get("Q")), 2085);
  CAF_CHECK_EQUAL(reason(open("Q", open_mode::input)), 2085);
  CAF_CHECK_EQUAL(reason(ask<subscription_info>(
                    qm, atom::subscribe_v,
                    subscription_spec{"a/b", "", "Q"})),
                  2085);
  auto u = begin();
  CAF_CHECK_EQUAL(reason(put_uow("Q", text("x"), u)), 2085);
  CAF_CHECK_EQUAL(queue_names(), before);
  CAF_CHECK(qm_state().subs.empty());
  // Defined queues work as usual.
  define("Q");
  CAF_CHECK(put("Q", text("x")));
  CAF_CHECK(get("Q"));
  CAF_CHECK(open("Q", open_mode::input));
  // Bad names are still 2152, unknown queue managers still 2087.
  CAF_CHECK_EQUAL(reason(put("A-B", text("x"))), 2152);
  CAF_CHECK_EQUAL(reason(put("QM9/Q", text("x"))), 2087);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- configured defaults ------------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(queue_manager_defaults_tests, defaults_fixture)

CAF_TEST(queue defaults from the configuration apply) {
  auto s = status();
  CAF_CHECK_EQUAL(s.name, "QMX");
  CAF_REQUIRE(put("AUTO", text("x")));
  auto q = inquire("AUTO");
  CAF_CHECK_EQUAL(q.attrs.max_depth, 7u);
  CAF_CHECK_EQUAL(static_cast<int>(q.attrs.default_priority), 4);
  CAF_CHECK(q.attrs.default_persistence);
  CAF_CHECK_EQUAL(q.attrs.description, "from defaults");
  auto m = get("AUTO");
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(static_cast<int>(m->priority), 4);
  CAF_CHECK(m->is_persistent());
  CAF_CHECK_EQUAL(m->origin_qmgr, "QMX");
  // Explicit define: given attributes override, the rest are defaults.
  define("DEF", {{"max_depth", "9"}});
  q = inquire("DEF");
  CAF_CHECK_EQUAL(q.attrs.max_depth, 9u);
  CAF_CHECK_EQUAL(static_cast<int>(q.attrs.default_priority), 4);
  CAF_CHECK_EQUAL(q.attrs.description, "from defaults");
  // The default max_depth is in force on an auto-defined queue.
  for (int i = 0; i < 7; ++i)
    CAF_CHECK(put("FULL", text("x")));
  CAF_CHECK_EQUAL(reason(put("FULL", text("x"))), 2053);
  // The local name is this QM's.
  CAF_CHECK(put("QMX/AUTO", text("y")));
  CAF_CHECK_EQUAL(reason(put("QM1/AUTO", text("y"))), 2087);
  // The dead-letter queue is not limited by the default max_depth.
  CAF_CHECK_GREATER(inquire(dead_letter_queue_name).attrs.max_depth, 7u);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- syncpoint limit ----------------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(queue_manager_syncpoint_tests, syncpoint_fixture)

CAF_TEST(the fourth uncommitted put is 2024) {
  define("Q");
  auto u = begin();
  CAF_CHECK(put_uow("Q", text("1"), u));
  CAF_CHECK(put_uow("Q", text("2"), u));
  CAF_CHECK(put_uow("Q", text("3"), u));
  CAF_CHECK_EQUAL(reason(put_uow("Q", text("4"), u)), 2024);
  auto s = inquire("Q");
  CAF_CHECK_EQUAL(s.uncommitted_count, 3u);
  CAF_CHECK_EQUAL(reason(get("Q")), 2033);
  // Puts outside the unit of work are not limited.
  CAF_CHECK(put("Q", text("outside")));
  CAF_REQUIRE(ask<atom::ok>(qm, atom::commit_v, u));
  s = inquire("Q");
  CAF_CHECK_EQUAL(s.uncommitted_count, 0u);
  CAF_CHECK_EQUAL(s.current_depth, 4u);
  // A new unit of work starts from zero.
  auto v = begin();
  CAF_CHECK(put_uow("Q", text("5"), v));
  CAF_CHECK(ask<atom::ok>(qm, atom::backout_v, v));
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 4u);
}

CAF_TEST(a batch get under a unit of work takes only what still fits) {
  define("Q");
  for (auto x : {"1", "2", "3", "4", "5"})
    CAF_CHECK(put("Q", text(x)));
  auto u = begin();
  get_options opts;
  opts.uow = u;
  auto got = ask<std::vector<message>>(qm, atom::get_v, std::string{"Q"},
                                       opts, uint32_t{10});
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->size(), 3u); // the limit is 3
  CAF_CHECK_EQUAL(inquire("Q").uncommitted_count, 3u);
  CAF_CHECK_EQUAL(reason(ask<std::vector<message>>(
                    qm, atom::get_v, std::string{"Q"}, opts, uint32_t{1})),
                  2024);
  // Backout returns them all, in order, redelivered.
  CAF_REQUIRE(ask<atom::ok>(qm, atom::backout_v, u));
  auto again = ask<std::vector<message>>(qm, atom::get_v, std::string{"Q"},
                                         get_options{}, uint32_t{10});
  CAF_REQUIRE(again);
  std::vector<std::string> bodies;
  for (auto& m : *again)
    bodies.push_back(m.body);
  CAF_CHECK_EQUAL(bodies,
                  (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  CAF_CHECK_EQUAL((*again)[0].delivery_count, 1u);
  CAF_CHECK_EQUAL((*again)[3].delivery_count, 0u);
}

CAF_TEST(gets count toward the limit and refused puts do not) {
  define("Q");
  define("ONE", {{"max_depth", "1"}});
  CAF_CHECK(put("Q", text("ready")));
  auto u = begin();
  get_options opts;
  opts.uow = u;
  auto m = get("Q", opts);
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->body, "ready");
  CAF_CHECK(put_uow("ONE", text("a"), u));         // 2
  CAF_CHECK_EQUAL(reason(put_uow("ONE", text("b"), u)), 2053); // still 2
  CAF_CHECK(put_uow("Q", text("c"), u));           // 3
  CAF_CHECK_EQUAL(reason(put_uow("Q", text("d"), u)), 2024);
  CAF_CHECK_EQUAL(reason(get("Q", opts)), 2024);
  CAF_REQUIRE(ask<atom::ok>(qm, atom::backout_v, u));
  // Backout: the get is returned, the puts are gone.
  CAF_CHECK_EQUAL(inquire("Q").current_depth, 1u);
  CAF_CHECK_EQUAL(inquire("ONE").current_depth, 0u);
  auto again = get("Q");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->body, "ready");
  CAF_CHECK_EQUAL(again->delivery_count, 1u);
}

// -- temporary queues ---------------------------------------------------------

CAF_TEST(a temporary queue belongs to its owner and ends with it) {
  // The owner defines a temporary queue and keeps its name.
  std::string name;
  auto owner = spawn_helper([qm = qm, &name](caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::define_v, atom::temporary_v)
      .then([&name](queue_status& st) { name = st.name; });
  });
  CAF_REQUIRE(!name.empty());
  CAF_CHECK(name.rfind(temporary_queue_prefix, 0) == 0);
  CAF_CHECK(qm_state().queues.at(name).system);
  // Anyone may put to it (that is what replies do) ...
  CAF_CHECK(put(name, text("reply")));
  CAF_CHECK_EQUAL(inquire(name).current_depth, 1u);
  // ... but nobody else may read it, in any way.
  CAF_CHECK_EQUAL(reason(get(name)), 2035);
  CAF_CHECK_EQUAL(reason(open(name, open_mode::input)), 2035);
  CAF_CHECK_EQUAL(reason(open(name, open_mode::browse)), 2035);
  CAF_CHECK(open(name, open_mode::output));
  auto rec = make_recorder().first;
  int consume_reason = 0;
  auto rp = self->request(qm, caf::infinite, atom::consume_v, name, rec,
                          uint32_t{10}, ack_mode::automatic);
  run();
  rp.receive([&](queue_actor&, uint64_t) { consume_reason = 0; },
             [&](caf::error& e) {
               consume_reason = mqrc(static_cast<ec>(e.code()));
             });
  CAF_CHECK_EQUAL(consume_reason, 2035);
  // Users cannot delete it.
  CAF_CHECK_EQUAL(reason(del(name, true)), 2035);
  // Owner gone: the queue goes, with its message.
  kill(owner);
  CAF_CHECK_EQUAL(qm_state().queues.count(name), 0u);
  CAF_CHECK_EQUAL(reason(inquire_x(name)), 2085);
}

CAF_TEST(one address gets one answer from every operation) {
  // Another queue manager's queue: 2087 whatever the operation.
  std::string remote = "QMB/ORDERS";
  CAF_CHECK_EQUAL(reason(define_x(remote)), 2087);
  CAF_CHECK_EQUAL(reason(inquire_x(remote)), 2087);
  CAF_CHECK_EQUAL(reason(alter(remote, {{"max_depth", "5"}})), 2087);
  CAF_CHECK_EQUAL(reason(del(remote, true)), 2087);
  CAF_CHECK_EQUAL(reason(ask<uint64_t>(qm, atom::purge_v, remote)), 2087);
  CAF_CHECK_EQUAL(reason(put(remote, text("x"))), 2087);
  CAF_CHECK_EQUAL(reason(get(remote)), 2087);
  CAF_CHECK_EQUAL(reason(open(remote, open_mode::output)), 2087);
  // This queue manager's name in front is the same queue as without it.
  CAF_CHECK(define_x("QM1/LOCAL"));
  auto plain = inquire_x("LOCAL");
  auto qualified = inquire_x("QM1/LOCAL");
  CAF_REQUIRE(plain && qualified);
  CAF_CHECK_EQUAL(plain->name, "LOCAL");
  CAF_CHECK_EQUAL(qualified->name, "LOCAL");
  CAF_CHECK_EQUAL(reason(define_x("LOCAL")), 2100);
  auto altered = alter("QM1/LOCAL", {{"max_depth", "5"}});
  CAF_REQUIRE(altered);
  CAF_CHECK_EQUAL(altered->attrs.max_depth, 5u);
  CAF_CHECK(put("LOCAL", text("x")));
  CAF_CHECK_EQUAL(ask<uint64_t>(qm, atom::purge_v, std::string{"QM1/LOCAL"})
                    .value_or(0),
                  1u);
  CAF_CHECK(del("QM1/LOCAL", false));
  CAF_CHECK_EQUAL(reason(inquire_x("LOCAL")), 2085);
}

CAF_TEST(a temporary queue stays with its owner under a qualified address) {
  std::string name;
  auto owner = spawn_helper([qm = qm, &name](caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::define_v, atom::temporary_v)
      .then([&name](queue_status& st) { name = st.name; });
  });
  CAF_REQUIRE(!name.empty());
  CAF_CHECK(put(name, text("secret")));
  CAF_CHECK_EQUAL(reason(get("QM1/" + name)), 2035);
  CAF_CHECK_EQUAL(reason(open("QM1/" + name, open_mode::browse)), 2035);
  CAF_CHECK_EQUAL(inquire(name).current_depth, 1u);
  kill(owner);
}

CAF_TEST(the owner of a temporary queue can get from it) {
  std::string name;
  std::string body;
  auto owner = spawn_helper([qm = qm, &name, &body](
                              caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::define_v, atom::temporary_v)
      .then([self, qm, &name, &body](queue_status& st) {
        name = st.name;
        get_options opts;
        opts.wait_ms = wait_unlimited;
        self->request(qm, caf::infinite, atom::get_v, st.name, opts)
          .then([&body](message& m) { body = m.body; });
      });
  });
  CAF_REQUIRE(!name.empty());
  CAF_CHECK(put(name, text("for the owner")));
  run();
  CAF_CHECK_EQUAL(body, "for the owner");
  kill(owner);
}

CAF_TEST(temporary queues get distinct names) {
  std::vector<std::string> names;
  auto owner = spawn_helper([qm = qm, &names](caf::event_based_actor* self) {
    for (int i = 0; i < 3; ++i)
      self->request(qm, caf::infinite, atom::define_v, atom::temporary_v)
        .then([&names](queue_status& st) { names.push_back(st.name); });
  });
  CAF_REQUIRE_EQUAL(names.size(), 3u);
  CAF_CHECK_NOT_EQUAL(names[0], names[1]);
  CAF_CHECK_NOT_EQUAL(names[1], names[2]);
  kill(owner);
  for (auto& n : names)
    CAF_CHECK_EQUAL(qm_state().queues.count(n), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(small_list_tests, small_list_fixture)

CAF_TEST(a listing walks the table in slices and other messages run between) {
  for (int i = 0; i < 6; ++i)
    define("S." + std::to_string(i));
  // Queued behind the list request: handled after its first slice.
  auto listing = self->request(qm, caf::infinite, atom::list_v,
                               std::string{"S.*"});
  caf::anon_send(qm, atom::delete_v, std::string{"S.4"}, false);
  caf::anon_send(qm, atom::define_v, std::string{"S.35"}, attr_map{});
  run();
  std::vector<std::string> names;
  listing.receive(
    [&](std::vector<queue_status>& xs) {
      for (auto& x : xs)
        names.push_back(x.name);
    },
    [&](caf::error& e) { CAF_FAIL(render(e)); });
  // The walk resumed after S.1 and saw the changes made meanwhile (one
  // walk in one message would list S.4 and not S.35).
  CAF_CHECK_EQUAL(names, (std::vector<std::string>{"S.0", "S.1", "S.2",
                                                   "S.3", "S.35", "S.5"}));
  CAF_CHECK(qm_state().listings.empty());
}

CAF_TEST(sliced listings match all a prefix or one name) {
  for (auto name : {"A", "ORD1", "ORD2", "ORDERS", "ORDERS2", "OTHER", "Z"})
    define(name);
  CAF_CHECK(put("ORD2", text("x")));
  using names = std::vector<std::string>;
  CAF_CHECK_EQUAL(list("*"), (names{"A", "ORD1", "ORD2", "ORDERS", "ORDERS2",
                                    "OTHER", dead_letter_queue_name, "Z"}));
  CAF_CHECK_EQUAL(list("ORD*"), (names{"ORD1", "ORD2", "ORDERS", "ORDERS2"}));
  CAF_CHECK_EQUAL(list("ORDERS"), (names{"ORDERS"}));
  CAF_CHECK_EQUAL(list("ORDERS*"), (names{"ORDERS", "ORDERS2"}));
  CAF_CHECK_EQUAL(list("ORD"), names{});
  CAF_CHECK_EQUAL(list("B*"), names{});
  CAF_CHECK(qm_state().listings.empty());
}

CAF_TEST(a listing asks at most list_window queues at a time) {
  std::vector<queue_actor> hdls;
  for (int i = 0; i < 10; ++i) {
    auto name = "W." + std::to_string(i);
    CAF_REQUIRE(put(name, text("x")));
    hdls.push_back(queue(name));
  }
  // Queues with an inquiry waiting (the listing asks each queue once).
  auto pending_inquiries = [&] {
    size_t n = 0;
    for (auto& hdl : hdls) {
      auto& mbox = deref<queue_actor::stateful_base<queue_state>>(hdl)
                     .mailbox();
      if (!mbox.blocked() && !mbox.empty()) // blocked: idle, nothing queued
        ++n;
    }
    return n;
  };
  auto listing = self->request(qm, caf::infinite, atom::list_v,
                               std::string{"W.*"});
  size_t most = 0;
  while (sched.try_run_once())
    most = std::max(most, pending_inquiries());
  CAF_CHECK_EQUAL(most, 3u);
  std::vector<queue_status> xs;
  listing.receive([&](std::vector<queue_status>& r) { xs = std::move(r); },
                  [&](caf::error& e) { CAF_FAIL(render(e)); });
  CAF_REQUIRE_EQUAL(xs.size(), 10u);
  for (size_t i = 0; i < xs.size(); ++i) {
    CAF_CHECK_EQUAL(xs[i].name, "W." + std::to_string(i));
    CAF_CHECK_EQUAL(xs[i].current_depth, 1u);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
