#define CAF_SUITE unit.message_store
#include "test_fixture.hpp"

CAF_TEST(placeholder) {
  CAF_CHECK(true);
}
