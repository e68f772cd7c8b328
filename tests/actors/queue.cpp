#define CAF_SUITE actors.queue
#include "test_fixture.hpp"

using namespace qmesh;
using namespace qmesh::test;

CAF_TEST_FIXTURE_SCOPE(queue_tests, qm_fixture)

CAF_TEST(put then get returns the message) {
  define("Q1");
  auto id = put("Q1", text("hello"));
  CAF_REQUIRE(id);
  auto msg = get("Q1");
  CAF_REQUIRE(msg);
  CAF_CHECK_EQUAL(msg->body, "hello");
  CAF_CHECK(msg->id == *id);
  CAF_CHECK_EQUAL(reason(get("Q1")), 2033);
}

CAF_TEST_FIXTURE_SCOPE_END()
