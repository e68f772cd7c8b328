#define CAF_SUITE actors.consumer
#include "test_fixture.hpp"

CAF_TEST(placeholder) {
  CAF_CHECK(true);
}
