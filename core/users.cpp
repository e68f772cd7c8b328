#include "core/users.hpp"

#include <fstream>

#include "core/names.hpp"
#include "core/password.hpp"
#include "core/topic_tree.hpp"

namespace qmesh {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// The next `/`-separated level of `text` (consumed).
std::string_view next_level(std::string_view& text, bool& more) {
  auto slash = text.find('/');
  auto level = text.substr(0, slash);
  more = slash != std::string_view::npos;
  text = more ? text.substr(slash + 1) : std::string_view{};
  return level;
}

/// True if every topic that `filter` matches also matches `pattern` (both
/// valid filters): a subscription is allowed only within the pattern.
bool covers(std::string_view pattern, std::string_view filter) {
  bool p_more = true;
  bool f_more = true;
  while (p_more) {
    auto p = next_level(pattern, p_more);
    if (p == "#")
      return true;
    if (!f_more)
      return false;
    auto f = next_level(filter, f_more);
    if (f == "#")
      return false;
    if (p != "+" && (f == "+" || p != f))
      return false;
  }
  return !f_more;
}

bool item_matches(std::string_view pattern, std::string_view object) {
  if (pattern == "*")
    return true;
  if (pattern.back() == '*')
    return object.substr(0, pattern.size() - 1)
           == pattern.substr(0, pattern.size() - 1);
  bool object_is_filter = object.find_first_of("+#") != std::string_view::npos;
  if (object_is_filter)
    return is_valid_filter(object) && is_valid_filter(pattern)
           && covers(pattern, object);
  if (pattern.find_first_of("+#") != std::string_view::npos)
    return is_valid_topic(object) && topic_matches(pattern, object);
  return pattern == object;
}

} // namespace

std::string_view to_string(permission p) noexcept {
  switch (p) {
    case permission::admin:
      return "admin";
    case permission::put:
      return "put";
    default:
      return "get";
  }
}

bool pattern_list::parse(std::string_view text, std::string& err) {
  items_.clear();
  if (trim(text).empty())
    return true; // no patterns: nothing allowed
  size_t start = 0;
  for (;;) {
    auto comma = text.find(',', start);
    auto item = trim(text.substr(start, comma == std::string_view::npos
                                          ? std::string_view::npos
                                          : comma - start));
    if (item.empty()) {
      err = "empty pattern";
      return false;
    }
    if (item.size() > max_topic_length) {
      err = "pattern longer than " + std::to_string(max_topic_length);
      return false;
    }
    auto star = item.find('*');
    if (star != std::string_view::npos && star + 1 != item.size()) {
      err = "'*' only at the end of a pattern: '"
            + std::string{item.substr(0, 64)} + "'";
      return false;
    }
    if (star == std::string_view::npos
        && item.find_first_of("+#") != std::string_view::npos
        && !is_valid_filter(item)) {
      err = "malformed topic filter '" + std::string{item.substr(0, 64)}
            + "'";
      return false;
    }
    if (items_.size() == max_patterns) {
      err = "more than " + std::to_string(max_patterns) + " patterns";
      return false;
    }
    items_.emplace_back(item);
    if (comma == std::string_view::npos)
      return true;
    start = comma + 1;
  }
}

bool pattern_list::matches(std::string_view object) const noexcept {
  if (object.empty())
    return false;
  std::string_view queue_part;
  if (address addr; parse_address(object, addr) && !addr.qmgr.empty())
    queue_part = addr.queue;
  for (auto& p : items_)
    if (item_matches(p, object)
        || (!queue_part.empty() && item_matches(p, queue_part)))
      return true;
  return false;
}

bool user_entry::allows(permission p, std::string_view object) const noexcept {
  switch (p) {
    case permission::admin:
      return admin.matches(object);
    case permission::put:
      return put.matches(object);
    default:
      return get.matches(object);
  }
}

const user_entry* user_db::find(std::string_view name) const noexcept {
  auto i = users_.find(name);
  return i == users_.end() ? nullptr : &i->second;
}

std::vector<std::string> user_db::names() const {
  std::vector<std::string> out;
  out.reserve(users_.size());
  for (auto& [name, _] : users_)
    out.push_back(name);
  return out;
}

std::shared_ptr<const user_db> user_db::parse(std::string_view text,
                                              std::string& err) {
  auto fail = [&err](size_t line, std::string what) {
    err = "line " + std::to_string(line) + ": " + std::move(what);
    return nullptr;
  };
  if (text.size() > max_users_file_bytes)
    return fail(0, "file larger than " + std::to_string(max_users_file_bytes)
                     + " bytes");
  auto db = std::make_shared<user_db>();
  user_entry* current = nullptr;
  bool has_password = true;
  size_t current_line = 0;
  auto finish = [&]() -> bool {
    if (current != nullptr && !has_password) {
      err = "line " + std::to_string(current_line) + ": user '"
            + current->name + "' has no password";
      return false;
    }
    return true;
  };
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    auto nl = text.find('\n', pos);
    auto raw = text.substr(pos, nl == std::string_view::npos
                                  ? std::string_view::npos
                                  : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    auto line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';')
      continue;
    if (line.find('\0') != std::string_view::npos)
      return fail(line_no, "NUL byte");
    if (line.front() == '[') {
      if (line.back() != ']')
        return fail(line_no, "section header without ']'");
      auto inner = trim(line.substr(1, line.size() - 2));
      if (inner.substr(0, 5) != "user " && inner.substr(0, 5) != "user\t")
        return fail(line_no, "expected [user NAME]");
      auto name = trim(inner.substr(5));
      if (!is_valid_name(name))
        return fail(line_no, "user name '" + std::string{name.substr(0, 64)}
                               + "': " + std::string{name_rule});
      if (!finish())
        return nullptr;
      if (db->users_.count(name) > 0)
        return fail(line_no, "duplicate user '" + std::string{name} + "'");
      if (db->users_.size() == max_users)
        return fail(line_no, "more than " + std::to_string(max_users)
                               + " users");
      auto& entry = db->users_[std::string{name}];
      entry.name = std::string{name};
      current = &entry;
      has_password = false;
      current_line = line_no;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return fail(line_no, "expected KEY = VALUE or [user NAME]");
    if (current == nullptr)
      return fail(line_no, "key outside a [user NAME] section");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    std::string why;
    if (key == "password") {
      if (has_password)
        return fail(line_no, "password given twice");
      if (!is_valid_password_hash(value))
        return fail(line_no, "password is not a hash from qmesh-node "
                             "--hash-password");
      current->password_hash = std::string{value};
      has_password = true;
    } else if (key == "admin" || key == "put" || key == "get") {
      auto& list = key == "admin" ? current->admin
                   : key == "put" ? current->put
                                  : current->get;
      if (!list.empty())
        return fail(line_no, std::string{key} + " given twice");
      if (!list.parse(value, why))
        return fail(line_no, std::string{key} + ": " + why);
    } else {
      return fail(line_no, "unknown key '" + std::string{key.substr(0, 64)}
                             + "' (expected password, admin, put or get)");
    }
  }
  if (!finish())
    return nullptr;
  return db;
}

std::shared_ptr<const user_db> user_db::load(const std::string& path,
                                             std::string& err) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    err = "cannot open file";
    return nullptr;
  }
  std::string text(max_users_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_users_file_bytes) {
    err = "file larger than " + std::to_string(max_users_file_bytes)
          + " bytes";
    return nullptr;
  }
  return parse(text, err);
}

} // namespace qmesh
