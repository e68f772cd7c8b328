#define CAF_SUITE actors.queue_manager
#include "test_fixture.hpp"

CAF_TEST(placeholder) {
  CAF_CHECK(true);
}
