#include "core/topic_tree.hpp"

#include <algorithm>

namespace qmesh {

namespace {

/// Calls f(level) for each `/`-separated level of `str`, including empty ones.
template <class F>
void for_each_level(std::string_view str, F f) {
  size_t start = 0;
  for (;;) {
    auto pos = str.find('/', start);
    if (pos == std::string_view::npos) {
      f(str.substr(start));
      return;
    }
    f(str.substr(start, pos - start));
    start = pos + 1;
  }
}

std::vector<std::string_view> split(std::string_view str) {
  std::vector<std::string_view> levels;
  for_each_level(str, [&](std::string_view lvl) { levels.push_back(lvl); });
  return levels;
}

} // namespace

bool is_valid_topic(std::string_view topic) noexcept {
  if (topic.empty() || topic.size() > max_topic_length)
    return false;
  return topic.find_first_of(std::string_view{"+#\0", 3})
         == std::string_view::npos;
}

bool is_valid_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_topic_length)
    return false;
  if (filter.find_first_of(std::string_view{"\0*>", 3})
      != std::string_view::npos)
    return false;
  bool ok = true;
  bool seen_hash = false;
  for_each_level(filter, [&](std::string_view lvl) {
    if (seen_hash) // `#` must be last
      ok = false;
    if (lvl == "#")
      seen_hash = true;
    else if (lvl != "+" && lvl.find_first_of("+#") != std::string_view::npos)
      ok = false;
  });
  return ok;
}

std::string filter_error(std::string_view filter) {
  if (is_valid_filter(filter))
    return {};
  auto shown = std::string{filter.substr(0, 64)};
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20)
      c = '?';
  std::string why = "'" + shown + "' is not a valid filter";
  if (filter.empty() || filter.size() > max_topic_length)
    return why + " (1 to " + std::to_string(max_topic_length) + " bytes)";
  if (filter.find_first_of(".*>") == std::string_view::npos)
    return why + ": '+' and '#' fill a whole level, '#' only the last";
  // Another broker's dialect: '.' between levels, '*' for one level, '>'
  // (JMS) or '#' (AMQP) for the rest.
  std::string ours{filter};
  for (auto& c : ours)
    c = c == '.' ? '/' : c == '*' ? '+' : c == '>' ? '#' : c;
  why += ": qmesh filters use '/' between levels, '+' for one level and "
         "'#' for all levels below, not '.', '*' or '>'";
  if (is_valid_filter(ours) && ours.size() <= 64)
    why += " (did you mean '" + ours + "'?)";
  return why;
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  auto f = split(filter);
  auto t = split(topic);
  size_t i = 0;
  for (; i < f.size(); ++i) {
    if (f[i] == "#")
      return true;
    if (i >= t.size())
      return false;
    if (f[i] != "+" && f[i] != t[i])
      return false;
  }
  return i == t.size();
}

struct topic_tree::node {
  /// Literal children by level text.
  std::unordered_map<std::string, std::unique_ptr<node>> children;
  /// The `+` child.
  std::unique_ptr<node> plus;
  /// Filters that end exactly here.
  std::vector<uint64_t> ids;
  /// Filters that end with `#` right after this node.
  std::vector<uint64_t> hash_ids;

  bool empty() const noexcept {
    return children.empty() && !plus && ids.empty() && hash_ids.empty();
  }

  void collect(const std::vector<std::string_view>& levels, size_t i,
               std::vector<uint64_t>& out) const {
    out.insert(out.end(), hash_ids.begin(), hash_ids.end());
    if (i == levels.size()) {
      out.insert(out.end(), ids.begin(), ids.end());
      return;
    }
    if (!children.empty()) {
      auto it = children.find(std::string{levels[i]});
      if (it != children.end())
        it->second->collect(levels, i + 1, out);
    }
    if (plus)
      plus->collect(levels, i + 1, out);
  }
};

topic_tree::topic_tree() : root_(std::make_unique<node>()) {
  // nop
}

topic_tree::~topic_tree() = default;

void topic_tree::insert(std::string_view filter, uint64_t id) {
  auto levels = split(filter);
  node* cur = root_.get();
  for (auto lvl : levels) {
    if (lvl == "#") {
      cur->hash_ids.push_back(id);
      ++size_;
      return;
    }
    auto& next = lvl == "+" ? cur->plus : cur->children[std::string{lvl}];
    if (!next)
      next = std::make_unique<node>();
    cur = next.get();
  }
  cur->ids.push_back(id);
  ++size_;
}

bool topic_tree::erase(std::string_view filter, uint64_t id) {
  auto levels = split(filter);
  // Walk down, remembering the path so empty nodes can be pruned.
  std::vector<std::pair<node*, std::string_view>> path;
  node* cur = root_.get();
  std::vector<uint64_t>* bucket = nullptr;
  for (auto lvl : levels) {
    if (lvl == "#") {
      bucket = &cur->hash_ids;
      break;
    }
    node* next = nullptr;
    if (lvl == "+") {
      next = cur->plus.get();
    } else {
      auto it = cur->children.find(std::string{lvl});
      if (it != cur->children.end())
        next = it->second.get();
    }
    if (next == nullptr)
      return false;
    path.emplace_back(cur, lvl);
    cur = next;
  }
  if (bucket == nullptr)
    bucket = &cur->ids;
  auto it = std::find(bucket->begin(), bucket->end(), id);
  if (it == bucket->end())
    return false;
  *it = bucket->back();
  bucket->pop_back();
  --size_;
  // Prune from the deepest node up while nodes are empty.
  while (!path.empty() && cur->empty()) {
    auto [parent, lvl] = path.back();
    path.pop_back();
    if (lvl == "+")
      parent->plus.reset();
    else
      parent->children.erase(std::string{lvl});
    cur = parent;
  }
  return true;
}

void topic_tree::match(std::string_view topic,
                       std::vector<uint64_t>& out) const {
  root_->collect(split(topic), 0, out);
}

} // namespace qmesh
