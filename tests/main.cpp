// The test runner: CAF's unit-test main, linked once per test binary.
#define CAF_TEST_NO_MAIN
#include "test_fixture.hpp"
#include <caf/test/unit_test_impl.hpp>

int main(int argc, char** argv) {
  return caf::test::main(argc, argv);
}
