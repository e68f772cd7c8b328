// Topic strings, topic filters and the subscription index (design §1).
//
// A topic is `/`-separated levels (`sports/football/results`); levels may be
// empty. A filter may use `+` (exactly one level) and `#` (zero or more
// levels, last position only); each wildcard fills its whole level.
// Plain C++, single-threaded: the queue-manager actor owns one tree.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qmesh {

/// Longest topic string or filter, in bytes.
constexpr size_t max_topic_length = 4096;

/// A topic to publish on: 1..max_topic_length bytes, no `+`, `#` or NUL.
bool is_valid_topic(std::string_view topic) noexcept;

/// A filter to subscribe with: like a topic, but `+` and `#` may fill whole
/// levels and `#` only the last one; no `*` or `>` (other brokers'
/// wildcards, which would silently match nothing here).
bool is_valid_filter(std::string_view filter) noexcept;

/// Empty if `filter` is valid; else why not, in one line. A filter in
/// another broker's dialect (`news.*`, `news.>`, `a.#`: `.` levels, `*`
/// and `>` wildcards) is refused, `*` and `>` being no qmesh wildcards, with
/// the qmesh spelling (`news/+`, `news/#`) as a hint.
std::string filter_error(std::string_view filter);

/// True if `topic` matches `filter`; both must be valid.
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

/// Maps filters to subscription ids; answers "which ids match this topic" in
/// time proportional to the topic's depth and the matches, not to the number
/// of subscriptions.
class topic_tree {
public:
  topic_tree();
  ~topic_tree();

  /// Adds `id` under `filter` (a valid filter).
  void insert(std::string_view filter, uint64_t id);

  /// Removes `id` from `filter`; false if it was not there.
  bool erase(std::string_view filter, uint64_t id);

  /// Appends the id of every filter that matches `topic` to `out`; each
  /// subscription appears at most once.
  void match(std::string_view topic, std::vector<uint64_t>& out) const;

  /// Number of (filter, id) entries.
  size_t size() const noexcept { return size_; }

private:
  struct node;
  std::unique_ptr<node> root_;
  size_t size_ = 0;
};

} // namespace qmesh
