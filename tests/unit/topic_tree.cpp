#define CAF_SUITE unit.topic_tree
#include "test_fixture.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/topic_tree.hpp"

using namespace qmesh;
using namespace std::literals;

namespace {

using ids = std::vector<uint64_t>;

/// The sorted match output of `tree` for `topic`.
ids matched(const topic_tree& tree, std::string_view topic) {
  ids out;
  tree.match(topic, out);
  std::sort(out.begin(), out.end());
  return out;
}

/// A string of exactly `n` bytes made of `a/` levels.
std::string levels_of_length(size_t n) {
  std::string s;
  while (s.size() < n)
    s += s.empty() ? "a" : "/a";
  s.resize(n);
  if (s.back() == '/')
    s.back() = 'b';
  return s;
}

struct match_case {
  std::string_view filter;
  std::string_view topic;
  bool expected;
};

// Each row: filter, topic, does it match.
const match_case match_table[] = {
  {"a", "a", true},
  {"a", "b", false},
  {"a", "ab", false},
  {"a", "a/b", false},
  {"a/b", "a", false},
  {"a/b", "a/b", true},
  {"a/b", "a/c", false},
  {"a/b/c", "a/b/c", true},
  {"sports/football/results", "sports/football/results", true},
  {"sports/football/results", "sports/football", false},
  // '#' alone matches everything.
  {"#", "a", true},
  {"#", "a/b/c", true},
  {"#", "/", true},
  {"#", "a//b", true},
  // 'a/#' matches the parent and every descendant.
  {"a/#", "a", true},
  {"a/#", "a/b", true},
  {"a/#", "a/b/c", true},
  {"a/#", "a/", true},
  {"a/#", "ab", false},
  {"a/#", "b", false},
  {"a/#", "b/a", false},
  {"a/#", "/a", false},
  {"a/b/#", "a", false},
  {"a/b/#", "a/b", true},
  {"a/b/#", "a/c/b", false},
  // '+' is exactly one level.
  {"+", "a", true},
  {"+", "a/b", false},
  {"+", "/", false},
  {"a/+", "a", false},
  {"a/+", "a/b", true},
  {"a/+", "a/b/c", false},
  {"a/+/c", "a/b/c", true},
  {"a/+/c", "a/xyz/c", true},
  {"a/+/c", "a/b/d", false},
  {"a/+/c", "a/b/c/d", false},
  {"a/+/c", "a/c", false},
  {"+/+", "a/b", true},
  {"+/+", "a", false},
  {"+/+/+", "a/b", false},
  {"+/#", "a", true},
  {"+/#", "a/b/c", true},
  {"+/b/#", "a/b", true},
  {"+/b/#", "a/c", false},
  // '+' matches an empty level.
  {"a/+/c", "a//c", true},
  {"a/+", "a/", true},
  {"+/a", "/a", true},
  {"+/+", "/", true},
  {"+", "/", false},
  // Empty levels are levels like any other.
  {"a//b", "a//b", true},
  {"a//b", "a/b", false},
  {"a/b", "a//b", false},
  {"a//b", "a/x/b", false},
  {"a//#", "a//b", true},
  {"a//#", "a/x/b", false},
  {"/a", "/a", true},
  {"/a", "a", false},
  {"a/", "a/", true},
  {"a/", "a", false},
  {"/", "/", true},
  {"/#", "/a/b", true},
  {"/#", "a", false},
  // Matching is case-sensitive and exact per level.
  {"A", "a", false},
  {"a/b", "a/bb", false},
};

} // namespace

// -- is_valid_topic -----------------------------------------------------------

CAF_TEST(valid topics) {
  for (auto t : {"a"sv, "a/b/c"sv, "sports/football/results"sv, "/"sv, "//"sv,
                 "a//b"sv, "/a"sv, "a/"sv, " "sv, "a b/c-d"sv,
                 "caf\xc3\xa9/\xe2\x82\xac"sv, "a.b_c%d"sv})
    CAF_CHECK(is_valid_topic(t));
}

CAF_TEST(invalid topics) {
  CAF_CHECK(!is_valid_topic(""));
  for (auto t : {"+"sv, "#"sv, "a/+"sv, "a/#"sv, "a+b"sv, "a#b"sv, "+/a"sv,
                 "a/+/c"sv, "a\0b"sv, "\0"sv, "a/\0"sv})
    CAF_CHECK(!is_valid_topic(t));
}

CAF_TEST(topic length limit) {
  CAF_CHECK_EQUAL(max_topic_length, 4096u);
  CAF_CHECK(is_valid_topic(std::string(4096, 'a')));
  CAF_CHECK(!is_valid_topic(std::string(4097, 'a')));
  CAF_CHECK(is_valid_topic(levels_of_length(4096)));
  CAF_CHECK(!is_valid_topic(levels_of_length(4097)));
  CAF_CHECK(is_valid_topic(std::string(4096, '/')));
  CAF_CHECK(!is_valid_topic(std::string(100000, 'a')));
}

// -- is_valid_filter ----------------------------------------------------------

CAF_TEST(valid filters) {
  for (auto f : {"#"sv, "+"sv, "a"sv, "a/#"sv, "a/+"sv, "+/a"sv, "a/+/c"sv,
                 "+/+/+"sv, "+/#"sv, "a/+/#"sv, "a//b"sv, "/a"sv, "a/"sv,
                 "/"sv, "//"sv, "/#"sv, "+/"sv, "/+"sv, "a//#"sv,
                 "sports/football/results"sv, "caf\xc3\xa9/+"sv})
    CAF_CHECK(is_valid_filter(f));
}

CAF_TEST(hash must be last and alone in its level) {
  CAF_CHECK(!is_valid_filter("#/a"));
  CAF_CHECK(!is_valid_filter("#/#"));
  CAF_CHECK(!is_valid_filter("#/"));
  CAF_CHECK(!is_valid_filter("a/#/b"));
  CAF_CHECK(!is_valid_filter("a/#/"));
  CAF_CHECK(!is_valid_filter("a/#/+"));
  CAF_CHECK(!is_valid_filter("a#"));
  CAF_CHECK(!is_valid_filter("#a"));
  CAF_CHECK(!is_valid_filter("a/b#"));
  CAF_CHECK(!is_valid_filter("a/#b"));
  CAF_CHECK(!is_valid_filter("##"));
  CAF_CHECK(!is_valid_filter("a/##"));
}

CAF_TEST(other brokers wildcards are refused with the qmesh spelling) {
  CAF_CHECK(!is_valid_filter("news.*"));
  CAF_CHECK(!is_valid_filter("news.>"));
  CAF_CHECK(!is_valid_filter("a.#"));
  CAF_CHECK(!is_valid_filter("*"));
  CAF_CHECK(!is_valid_filter("a/>"));
  CAF_CHECK(filter_error("a/+").empty());
  CAF_CHECK(filter_error("news.eu").empty()); // a plain level with a dot
  CAF_CHECK_EQUAL(filter_error("news.*"),
                  "'news.*' is not a valid filter: qmesh filters use '/' "
                  "between levels, '+' for one level and '#' for all levels "
                  "below, not '.', '*' or '>' (did you mean 'news/+'?)");
  CAF_CHECK(filter_error("news.>").find("did you mean 'news/#'?")
            != std::string::npos);
  CAF_CHECK(filter_error("a.#").find("did you mean 'a/#'?")
            != std::string::npos);
  CAF_CHECK(filter_error("a/#/b").find("'#' only the last")
            != std::string::npos);
  CAF_CHECK(filter_error("").find("1 to 4096 bytes") != std::string::npos);
}

CAF_TEST(plus must fill its whole level) {
  CAF_CHECK(!is_valid_filter("+a"));
  CAF_CHECK(!is_valid_filter("a+"));
  CAF_CHECK(!is_valid_filter("a/+b"));
  CAF_CHECK(!is_valid_filter("a/b+/c"));
  CAF_CHECK(!is_valid_filter("++"));
  CAF_CHECK(!is_valid_filter("+#"));
  CAF_CHECK(!is_valid_filter("#+"));
  CAF_CHECK(!is_valid_filter("a/+#"));
}

CAF_TEST(empty too long and NUL filters are invalid) {
  CAF_CHECK(!is_valid_filter(""));
  CAF_CHECK(!is_valid_filter("\0"sv));
  CAF_CHECK(!is_valid_filter("a\0b"sv));
  CAF_CHECK(!is_valid_filter("a/\0/#"sv));
  CAF_CHECK(!is_valid_filter("+\0"sv));
  CAF_CHECK(!is_valid_filter("#\0"sv));
  CAF_CHECK(is_valid_filter(std::string(4096, 'a')));
  CAF_CHECK(!is_valid_filter(std::string(4097, 'a')));
  auto f = levels_of_length(4094) + "/#";
  CAF_CHECK_EQUAL(f.size(), 4096u);
  CAF_CHECK(is_valid_filter(f));
  CAF_CHECK(!is_valid_filter("a" + f));
}

CAF_TEST(every valid topic is a valid filter) {
  for (auto t : {"a"sv, "a/b"sv, "/"sv, "a//b"sv, "x y/z"sv})
    CAF_CHECK(is_valid_topic(t) && is_valid_filter(t));
}

// -- topic_matches ------------------------------------------------------------

CAF_TEST(topic_matches follows the filter rules) {
  for (const auto& c : match_table) {
    CAF_REQUIRE(is_valid_filter(c.filter));
    CAF_REQUIRE(is_valid_topic(c.topic));
    if (topic_matches(c.filter, c.topic) != c.expected)
      CAF_ERROR("topic_matches('" << std::string{c.filter} << "', '"
                                  << std::string{c.topic} << "') != "
                                  << c.expected);
    CAF_CHECK_EQUAL(topic_matches(c.filter, c.topic), c.expected);
  }
}

CAF_TEST(a topic without wildcards matches only itself) {
  std::vector<std::string> topics{"a", "a/b", "a/b/c", "/a", "a/", "a//b", "b"};
  for (const auto& f : topics)
    for (const auto& t : topics)
      CAF_CHECK_EQUAL(topic_matches(f, t), f == t);
}

// -- topic_tree ---------------------------------------------------------------

CAF_TEST(an empty tree matches nothing) {
  topic_tree tree;
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK(matched(tree, "a").empty());
  CAF_CHECK(matched(tree, "a/b/c").empty());
  CAF_CHECK(!tree.erase("a", 1));
  CAF_CHECK(!tree.erase("#", 1));
  CAF_CHECK(!tree.erase("+", 1));
  CAF_CHECK_EQUAL(tree.size(), 0u);
}

CAF_TEST(tree agrees with topic_matches on the table) {
  // One id per table row's filter (filters repeat across rows: give each
  // distinct filter its own id).
  topic_tree tree;
  std::vector<std::string> filters;
  for (const auto& c : match_table) {
    std::string f{c.filter};
    if (std::find(filters.begin(), filters.end(), f) == filters.end()) {
      filters.push_back(f);
      tree.insert(f, filters.size() - 1);
    }
  }
  CAF_CHECK_EQUAL(tree.size(), filters.size());
  for (const auto& c : match_table) {
    ids expected;
    for (size_t i = 0; i < filters.size(); ++i)
      if (topic_matches(filters[i], c.topic))
        expected.push_back(i);
    auto got = matched(tree, c.topic);
    CAF_CHECK_EQUAL(got, expected);
    // The row's own filter is in the output iff the row says it matches.
    auto own = static_cast<uint64_t>(
      std::find(filters.begin(), filters.end(), std::string{c.filter})
      - filters.begin());
    CAF_CHECK_EQUAL(std::binary_search(got.begin(), got.end(), own),
                    c.expected);
  }
}

CAF_TEST(hash alone matches everything) {
  topic_tree tree;
  tree.insert("#", 7);
  for (auto t : {"a"sv, "a/b/c"sv, "/"sv, "a//b"sv, "x/y/z/w/v"sv})
    CAF_CHECK_EQUAL(matched(tree, t), ids{7});
}

CAF_TEST(a slash hash matches the parent and all descendants) {
  topic_tree tree;
  tree.insert("a/#", 1);
  CAF_CHECK_EQUAL(matched(tree, "a"), ids{1});
  CAF_CHECK_EQUAL(matched(tree, "a/b"), ids{1});
  CAF_CHECK_EQUAL(matched(tree, "a/b/c"), ids{1});
  CAF_CHECK_EQUAL(matched(tree, "a/"), ids{1});
  CAF_CHECK(matched(tree, "b").empty());
  CAF_CHECK(matched(tree, "ab").empty());
  CAF_CHECK(matched(tree, "b/a").empty());
  CAF_CHECK(matched(tree, "/a").empty());
}

CAF_TEST(plus matches exactly one level including an empty one) {
  topic_tree tree;
  tree.insert("a/+/c", 1);
  CAF_CHECK_EQUAL(matched(tree, "a/b/c"), ids{1});
  CAF_CHECK_EQUAL(matched(tree, "a//c"), ids{1});
  CAF_CHECK(matched(tree, "a/c").empty());
  CAF_CHECK(matched(tree, "a/b/c/d").empty());
  CAF_CHECK(matched(tree, "a/b/d").empty());
  CAF_CHECK(matched(tree, "a/b").empty());
  tree.insert("a/+", 2);
  CAF_CHECK_EQUAL(matched(tree, "a/"), ids{2});
  CAF_CHECK_EQUAL(matched(tree, "a/x"), ids{2});
  CAF_CHECK(matched(tree, "a").empty());
}

CAF_TEST(empty levels are matched literally) {
  topic_tree tree;
  tree.insert("a//b", 1);
  tree.insert("a/b", 2);
  tree.insert("/a", 3);
  tree.insert("a/", 4);
  CAF_CHECK_EQUAL(matched(tree, "a//b"), ids{1});
  CAF_CHECK_EQUAL(matched(tree, "a/b"), ids{2});
  CAF_CHECK_EQUAL(matched(tree, "/a"), ids{3});
  CAF_CHECK_EQUAL(matched(tree, "a/"), ids{4});
  CAF_CHECK(matched(tree, "a").empty());
  CAF_CHECK(matched(tree, "a/x/b").empty());
}

CAF_TEST(overlapping filters each report their ids once) {
  topic_tree tree;
  tree.insert("#", 1);
  tree.insert("a/#", 2);
  tree.insert("a/b/#", 3);
  tree.insert("a/+", 4);
  tree.insert("+/b", 5);
  tree.insert("+/+", 6);
  tree.insert("a/b", 7);
  tree.insert("+/#", 8);
  tree.insert("a/b", 9); // second id on the same filter
  tree.insert("a/c", 10);
  tree.insert("a/b/c", 11);
  CAF_CHECK_EQUAL(tree.size(), 11u);
  ids out;
  tree.match("a/b", out);
  CAF_CHECK_EQUAL(out.size(), 9u);
  std::sort(out.begin(), out.end());
  CAF_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end());
  CAF_CHECK_EQUAL(out, (ids{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  CAF_CHECK_EQUAL(matched(tree, "a"), (ids{1, 2, 8}));
  CAF_CHECK_EQUAL(matched(tree, "a/b/c"), (ids{1, 2, 3, 8, 11}));
  CAF_CHECK_EQUAL(matched(tree, "x/b"), (ids{1, 5, 6, 8}));
  CAF_CHECK_EQUAL(matched(tree, "x"), (ids{1, 8}));
}

CAF_TEST(match appends to the output) {
  topic_tree tree;
  tree.insert("a", 5);
  ids out{42};
  tree.match("a", out);
  CAF_CHECK_EQUAL(out, (ids{42, 5}));
  tree.match("b", out);
  CAF_CHECK_EQUAL(out, (ids{42, 5}));
}

CAF_TEST(erase removes exactly one entry) {
  topic_tree tree;
  tree.insert("a/b", 1);
  tree.insert("a/b", 2);
  tree.insert("a/#", 3);
  tree.insert("a/+", 4);
  tree.insert("#", 5);
  CAF_CHECK_EQUAL(tree.size(), 5u);
  CAF_CHECK(tree.erase("a/b", 1));
  CAF_CHECK_EQUAL(tree.size(), 4u);
  CAF_CHECK_EQUAL(matched(tree, "a/b"), (ids{2, 3, 4, 5}));
  // Erasing again, or under the wrong filter, fails and changes nothing.
  CAF_CHECK(!tree.erase("a/b", 1));
  CAF_CHECK(!tree.erase("a/+", 2));
  CAF_CHECK(!tree.erase("a/#", 2));
  CAF_CHECK(!tree.erase("#", 3));
  CAF_CHECK(!tree.erase("a", 3));
  CAF_CHECK(!tree.erase("a/b/c", 2));
  CAF_CHECK(!tree.erase("x/y", 2));
  CAF_CHECK(!tree.erase("+/b", 2));
  CAF_CHECK_EQUAL(tree.size(), 4u);
  CAF_CHECK_EQUAL(matched(tree, "a/b"), (ids{2, 3, 4, 5}));
  CAF_CHECK(tree.erase("a/#", 3));
  CAF_CHECK(tree.erase("a/+", 4));
  CAF_CHECK(tree.erase("#", 5));
  CAF_CHECK_EQUAL(matched(tree, "a/b"), ids{2});
  CAF_CHECK(matched(tree, "a").empty());
  CAF_CHECK(tree.erase("a/b", 2));
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK(matched(tree, "a/b").empty());
}

CAF_TEST(erase prunes and the tree is reusable) {
  topic_tree tree;
  tree.insert("a/b/c/d", 1);
  tree.insert("a/+/c", 2);
  CAF_CHECK(tree.erase("a/b/c/d", 1));
  // The pruned path is gone: erasing any prefix of it fails.
  CAF_CHECK(!tree.erase("a/b/c/d", 1));
  CAF_CHECK(!tree.erase("a/b/c", 1));
  CAF_CHECK(!tree.erase("a/b", 1));
  CAF_CHECK(!tree.erase("a", 1));
  // The sibling that shares the "a" node survives the pruning.
  CAF_CHECK_EQUAL(matched(tree, "a/b/c"), ids{2});
  CAF_CHECK(tree.erase("a/+/c", 2));
  CAF_CHECK(!tree.erase("a/+/c", 2));
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK(matched(tree, "a/b/c").empty());
  // Re-inserting after pruning works.
  tree.insert("a/b/c/d", 3);
  tree.insert("a/+/c", 4);
  CAF_CHECK_EQUAL(matched(tree, "a/b/c/d"), ids{3});
  CAF_CHECK_EQUAL(matched(tree, "a/x/c"), ids{4});
  CAF_CHECK_EQUAL(tree.size(), 2u);
}

CAF_TEST(erasing an inner filter keeps deeper ones) {
  topic_tree tree;
  tree.insert("a", 1);
  tree.insert("a/b", 2);
  tree.insert("a/#", 3);
  CAF_CHECK(tree.erase("a", 1));
  CAF_CHECK_EQUAL(matched(tree, "a/b"), (ids{2, 3}));
  CAF_CHECK(tree.erase("a/#", 3));
  CAF_CHECK_EQUAL(matched(tree, "a/b"), ids{2});
  CAF_CHECK(matched(tree, "a").empty());
  CAF_CHECK(tree.erase("a/b", 2));
  CAF_CHECK_EQUAL(tree.size(), 0u);
}

CAF_TEST(ten thousand ids on one filter) {
  topic_tree tree;
  constexpr uint64_t n = 10'000;
  for (uint64_t id = 0; id < n; ++id)
    tree.insert("a/+/c", id);
  CAF_CHECK_EQUAL(tree.size(), n);
  auto all = matched(tree, "a/b/c");
  CAF_REQUIRE_EQUAL(all.size(), n);
  for (uint64_t id = 0; id < n; ++id)
    if (all[id] != id)
      CAF_FAIL("missing id " << id);
  CAF_CHECK(matched(tree, "a/b").empty());
  // Erase the odd ones.
  for (uint64_t id = 1; id < n; id += 2)
    CAF_CHECK(tree.erase("a/+/c", id));
  CAF_CHECK(!tree.erase("a/+/c", 1));
  CAF_CHECK(!tree.erase("a/+/c", n));
  CAF_CHECK_EQUAL(tree.size(), n / 2);
  auto evens = matched(tree, "a/x/c");
  CAF_REQUIRE_EQUAL(evens.size(), n / 2);
  for (uint64_t i = 0; i < n / 2; ++i)
    if (evens[i] != 2 * i)
      CAF_FAIL("unexpected id " << evens[i] << " at " << i);
  for (uint64_t id = 0; id < n; id += 2)
    CAF_CHECK(tree.erase("a/+/c", id));
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK(matched(tree, "a/b/c").empty());
}

CAF_TEST(ten thousand filters agree with brute force) {
  std::mt19937_64 rng{20240611};
  auto pick = [&](size_t n) {
    return static_cast<size_t>(std::uniform_int_distribution<size_t>{0, n - 1}(
      rng));
  };
  // A small vocabulary so that random filters and topics meet often; "" is
  // an empty level.
  const std::vector<std::string> words{"a", "b", "c", "d", "e", "f", ""};
  auto random_topic = [&] {
    std::string t;
    auto depth = 1 + pick(5);
    for (size_t i = 0; i < depth; ++i) {
      if (i > 0)
        t += '/';
      t += words[pick(words.size())];
    }
    if (t.empty()) // a single empty level is not a valid topic
      t = "a";
    return t;
  };
  auto random_filter = [&] {
    std::string f;
    auto depth = 1 + pick(6);
    for (size_t i = 0; i < depth; ++i) {
      if (i > 0)
        f += '/';
      auto r = pick(10);
      if (r < 2) {
        f += '+';
      } else if (r == 2 && i + 1 == depth) {
        f += '#';
      } else {
        f += words[pick(words.size())];
      }
    }
    if (f.empty())
      f = "#";
    return f;
  };
  std::vector<std::string> filters;
  std::set<std::string> seen;
  while (filters.size() < 10'000) {
    auto f = random_filter();
    if (seen.insert(f).second)
      filters.push_back(std::move(f));
  }
  topic_tree tree;
  for (size_t i = 0; i < filters.size(); ++i) {
    CAF_REQUIRE(is_valid_filter(filters[i]));
    tree.insert(filters[i], i);
  }
  CAF_CHECK_EQUAL(tree.size(), filters.size());
  auto check_topics = [&](const std::vector<bool>& live, size_t& hits) {
    size_t mismatches = 0;
    for (int k = 0; k < 300; ++k) {
      auto topic = random_topic();
      if (!is_valid_topic(topic))
        CAF_FAIL("generated an invalid topic " << topic);
      ids expected;
      for (size_t i = 0; i < filters.size(); ++i)
        if (live[i] && topic_matches(filters[i], topic))
          expected.push_back(i);
      ids got;
      tree.match(topic, got);
      auto raw_size = got.size();
      std::sort(got.begin(), got.end());
      // No duplicates in the raw output.
      if (std::adjacent_find(got.begin(), got.end()) != got.end()
          || raw_size != expected.size() || got != expected) {
        if (++mismatches <= 5)
          CAF_ERROR("topic " << topic << ": tree gives " << raw_size
                             << " ids, brute force " << expected.size());
      }
      hits += expected.size();
    }
    CAF_CHECK_EQUAL(mismatches, 0u);
  };
  std::vector<bool> live(filters.size(), true);
  size_t hits = 0;
  check_topics(live, hits);
  // The test is only meaningful if topics actually match many filters.
  CAF_CHECK_GREATER(hits, 3000u);
  // Erase every third filter and compare again.
  for (size_t i = 0; i < filters.size(); i += 3) {
    CAF_CHECK(tree.erase(filters[i], i));
    live[i] = false;
  }
  for (size_t i = 0; i < filters.size(); i += 3)
    CAF_CHECK(!tree.erase(filters[i], i));
  auto remaining = static_cast<size_t>(std::count(live.begin(), live.end(), true));
  CAF_CHECK_EQUAL(tree.size(), remaining);
  hits = 0;
  check_topics(live, hits);
  CAF_CHECK_GREATER(hits, 2000u);
  // Erase the rest: the tree is empty again.
  for (size_t i = 0; i < filters.size(); ++i)
    if (live[i])
      CAF_CHECK(tree.erase(filters[i], i));
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK(matched(tree, "a/b/c").empty());
  CAF_CHECK(matched(tree, "a").empty());
}
