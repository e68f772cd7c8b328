#define CAF_SUITE unit.byte_budget
#include "test_fixture.hpp"

#include <atomic>
#include <cstddef>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "protocols/net/byte_budget.hpp"

using namespace qmesh::net;

CAF_TEST(take and give back within the limit) {
  byte_budget b{100};
  CAF_CHECK(b.try_take(60));
  CAF_CHECK(b.try_take(40));
  CAF_CHECK_EQUAL(b.used(), 100u);
  CAF_CHECK(!b.try_take(1));
  CAF_CHECK(b.try_take(0));
  b.give_back(40);
  CAF_CHECK(!b.try_take(41));
  CAF_CHECK(b.try_take(40));
  CAF_CHECK_EQUAL(b.used(), 100u);
}

CAF_TEST(a take that does not fit takes nothing) {
  byte_budget b{10};
  CAF_CHECK(b.try_take(5));
  CAF_CHECK(!b.try_take(6));
  CAF_CHECK(!b.try_take(std::numeric_limits<size_t>::max()));
  CAF_CHECK_EQUAL(b.used(), 5u);
}

CAF_TEST(shares give back what they hold when they end) {
  auto b = std::make_shared<byte_budget>(100);
  {
    budget_share s1{b};
    budget_share s2{b};
    CAF_CHECK(s1.grow(70));
    CAF_CHECK(!s2.grow(31));
    CAF_CHECK_EQUAL(s2.held(), 0u);
    CAF_CHECK(s2.grow(30));
    s1.shrink(20);
    CAF_CHECK_EQUAL(s1.held(), 50u);
    CAF_CHECK_EQUAL(b->used(), 80u);
    // Shrinking by more than is held gives back what is held, no more.
    s1.shrink(1000);
    CAF_CHECK_EQUAL(s1.held(), 0u);
    CAF_CHECK_EQUAL(b->used(), 30u);
    CAF_CHECK(s1.grow(10));
    budget_share moved{std::move(s1)};
    CAF_CHECK_EQUAL(moved.held(), 10u);
    CAF_CHECK_EQUAL(b->used(), 40u);
  }
  CAF_CHECK_EQUAL(b->used(), 0u);
}

CAF_TEST(a share without a budget always has room) {
  budget_share s;
  CAF_CHECK(s.grow(std::numeric_limits<size_t>::max() / 2));
  CAF_CHECK(s.budget() == nullptr);
  s.release();
  CAF_CHECK_EQUAL(s.held(), 0u);
}

CAF_TEST(concurrent takers never exceed the limit) {
  // Four threads take 300 of 1000 bytes and give them back: at most three
  // can hold a share at once, and whatever was taken is given back.
  constexpr size_t limit = 1000;
  byte_budget b{limit};
  std::atomic<bool> over{false};
  std::atomic<size_t> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50'000; ++i) {
        if (!b.try_take(300)) {
          ++refused;
          continue;
        }
        if (b.used() > limit)
          over = true;
        b.give_back(300);
      }
    });
  for (auto& th : threads)
    th.join();
  CAF_CHECK(!over);
  CAF_CHECK_EQUAL(b.used(), 0u);
  CAF_CHECK_LESS(refused.load(), 200'000u);
}
