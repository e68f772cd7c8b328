#define CAF_SUITE unit.queue_attrs
#include "test_fixture.hpp"

CAF_TEST(placeholder) {
  CAF_CHECK(true);
}
