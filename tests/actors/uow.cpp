#define CAF_SUITE actors.uow
#include "test_fixture.hpp"

CAF_TEST(placeholder) {
  CAF_CHECK(true);
}
