#define CAF_SUITE actors.uow
#include "test_fixture.hpp"

using namespace qmesh;
using namespace qmesh::test;

namespace {

struct fixture : qm_fixture {
  uint64_t begin() {
    auto id = ask<uint64_t>(qm, atom::begin_v);
    CAF_REQUIRE(id);
    return *id;
  }

  caf::expected<msg_id> put_in(uint64_t uow, const std::string& address,
                               message msg) {
    return ask<msg_id>(qm, atom::put_v, address, std::move(msg), uow);
  }

  caf::expected<message> get_in(uint64_t uow, const std::string& name) {
    get_options opts;
    opts.uow = uow;
    return get(name, opts);
  }

  bool commit(uint64_t uow) {
    return static_cast<bool>(ask<atom::ok>(qm, atom::commit_v, uow));
  }

  bool backout(uint64_t uow) {
    return static_cast<bool>(ask<atom::ok>(qm, atom::backout_v, uow));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(uow_tests, fixture)

CAF_TEST(puts are invisible until commit) {
  define("Q1");
  auto uow = begin();
  CAF_CHECK(put_in(uow, "Q1", text("a")));
  CAF_CHECK(put_in(uow, "Q1", text("b")));
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.uncommitted_count, 2u);
  CAF_CHECK_EQUAL(s.current_depth, 2u);
  CAF_CHECK_EQUAL(s.enqueued_total, 0u);
  CAF_CHECK(commit(uow));
  CAF_CHECK_EQUAL(inquire("Q1").uncommitted_count, 0u);
  CAF_CHECK_EQUAL(get("Q1")->body, "a");
  CAF_CHECK_EQUAL(get("Q1")->body, "b");
}

CAF_TEST(uncommitted puts count against max_depth) {
  define("Q1", {{"max_depth", "1"}});
  auto uow = begin();
  CAF_CHECK(put_in(uow, "Q1", text("a")));
  CAF_CHECK_EQUAL(reason(put("Q1", text("b"))), 2053);
}

CAF_TEST(backout drops puts) {
  define("Q1");
  auto uow = begin();
  put_in(uow, "Q1", text("a"));
  CAF_CHECK(backout(uow));
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
}

CAF_TEST(a commit wakes a waiting getter) {
  define("Q1");
  auto uow = begin();
  put_in(uow, "Q1", text("a"));
  get_options opts;
  opts.wait_ms = wait_unlimited;
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          opts);
  run();
  CAF_CHECK_EQUAL(qstate("Q1").waiters.size(), 1u);
  commit(uow);
  rp.receive([](message& msg) { CAF_CHECK_EQUAL(msg.body, "a"); },
             [](caf::error& e) { CAF_FAIL(render(e)); });
}

CAF_TEST(gets are final on commit) {
  define("Q1");
  put("Q1", text("a"));
  auto uow = begin();
  CAF_CHECK_EQUAL(get_in(uow, "Q1")->body, "a");
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  CAF_CHECK_EQUAL(s.dequeued_total, 0u);
  commit(uow);
  s = inquire("Q1");
  CAF_CHECK_EQUAL(s.current_depth, 0u);
  CAF_CHECK_EQUAL(s.dequeued_total, 1u);
}

CAF_TEST(backout returns gets in place with delivery_count plus one) {
  define("Q1");
  put("Q1", text("a"));
  put("Q1", text("b"));
  auto uow = begin();
  CAF_CHECK_EQUAL(get_in(uow, "Q1")->body, "a");
  put("Q1", text("c"));
  backout(uow);
  auto first = get("Q1");
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->body, "a");
  CAF_CHECK_EQUAL(first->delivery_count, 1u);
  CAF_CHECK(first->redelivered());
  CAF_CHECK_EQUAL(get("Q1")->body, "b");
  CAF_CHECK_EQUAL(get("Q1")->body, "c");
}

CAF_TEST(backout past the threshold moves the message) {
  define("BQ");
  define("Q1", {{"backout_threshold", "2"}, {"backout_queue", "BQ"}});
  put("Q1", text("poison"));
  for (int i = 0; i < 2; ++i) {
    auto uow = begin();
    CAF_CHECK_EQUAL(get_in(uow, "Q1")->body, "poison");
    backout(uow);
  }
  run();
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
  auto moved = get("BQ");
  CAF_REQUIRE(moved);
  CAF_CHECK_EQUAL(moved->body, "poison");
  CAF_CHECK_EQUAL(moved->delivery_count, 2u);
}

CAF_TEST(one unit of work spans several queues) {
  define("IN");
  define("OUT");
  put("IN", text("request"));
  auto uow = begin();
  CAF_CHECK(get_in(uow, "IN"));
  CAF_CHECK(put_in(uow, "OUT", text("reply")));
  CAF_CHECK(commit(uow));
  CAF_CHECK_EQUAL(inquire("IN").current_depth, 0u);
  CAF_CHECK_EQUAL(get("OUT")->body, "reply");
  // And a backout undoes both sides.
  put("IN", text("request2"));
  uow = begin();
  get_in(uow, "IN");
  put_in(uow, "OUT", text("reply2"));
  CAF_CHECK(backout(uow));
  CAF_CHECK_EQUAL(get("IN")->body, "request2");
  CAF_CHECK_EQUAL(reason(get("OUT")), 2033);
}

CAF_TEST(a finished unit of work cannot be used again) {
  define("Q1");
  auto uow = begin();
  commit(uow);
  CAF_CHECK_EQUAL(reason(put_in(uow, "Q1", text("a"))), 2255);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(qm, atom::commit_v, uow)), 2255);
  CAF_CHECK_EQUAL(reason(ask<atom::ok>(qm, atom::backout_v, uint64_t{999})),
                  2255);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 0u);
}

CAF_TEST(the owner dying backs out its work) {
  define("Q1");
  put("Q1", text("held"));
  // A client actor that begins a unit of work, puts and gets, then waits.
  auto client = sys.spawn([qm = qm](caf::event_based_actor* self) {
    self->request(qm, caf::infinite, atom::begin_v)
      .then([=](uint64_t uow) {
        message msg;
        msg.body = "uncommitted";
        self->request(qm, caf::infinite, atom::put_v, std::string{"Q1"}, msg,
                      uow)
          .then([](msg_id) {});
        get_options opts;
        opts.uow = uow;
        self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"}, opts)
          .then([](message&) {});
      });
    return caf::behavior{[](int) {}};
  });
  run();
  auto s = inquire("Q1");
  CAF_CHECK_EQUAL(s.uncommitted_count, 2u);
  CAF_CHECK_EQUAL(qm_state().uows.size(), 1u);
  caf::anon_send_exit(client, caf::exit_reason::kill);
  run();
  CAF_CHECK(qm_state().uows.empty());
  s = inquire("Q1");
  CAF_CHECK_EQUAL(s.uncommitted_count, 0u);
  CAF_CHECK_EQUAL(s.current_depth, 1u);
  auto back = get("Q1");
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->body, "held");
  CAF_CHECK(back->redelivered());
}

CAF_TEST(ending a unit of work fails its waiting gets) {
  define("Q1");
  auto uow = begin();
  get_options opts;
  opts.uow = uow;
  opts.wait_ms = wait_unlimited;
  auto rp = self->request(qm, caf::infinite, atom::get_v, std::string{"Q1"},
                          opts);
  run();
  backout(uow);
  rp.receive([](message&) { CAF_FAIL("unexpected message"); },
             [](caf::error& e) { CAF_CHECK(is(e, ec::uow_not_available)); });
  put("Q1", text("a"));
  CAF_CHECK_EQUAL(inquire("Q1").uncommitted_count, 0u);
  CAF_CHECK_EQUAL(inquire("Q1").current_depth, 1u);
}

CAF_TEST(browse under a unit of work is rejected) {
  define("Q1");
  put("Q1", text("a"));
  auto uow = begin();
  get_options opts;
  opts.uow = uow;
  opts.browse = static_cast<uint8_t>(browse_mode::first);
  CAF_CHECK_EQUAL(reason(get("Q1", opts)), 2046);
}

CAF_TEST_FIXTURE_SCOPE_END()
