// Users and permissions (design §8a, docs/operations.md "Users and
// permissions"): the users file, its parser and permission patterns.
//
// Plain C++, no actors. A `user_db` is immutable once parsed; the node
// shares it read-only (std::shared_ptr<const user_db>) and replaces it as a
// whole on reload.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qmesh {

/// Largest users file the parser reads.
constexpr size_t max_users_file_bytes = 1024 * 1024;

/// Most users in one file.
constexpr size_t max_users = 10'000;

/// Most patterns in one permission of one user.
constexpr size_t max_patterns = 1'000;

/// What a permission allows.
enum class permission { admin, put, get };

/// `admin`, `put` or `get`.
std::string_view to_string(permission p) noexcept;

/// A list of object patterns: `*` (everything), `ABC*` (prefix), a topic
/// filter with `+` / `#`, or an exact queue name or topic.
class pattern_list {
public:
  /// Parses a comma-separated list; false (with `err`) on an empty or
  /// malformed item.
  bool parse(std::string_view text, std::string& err);

  /// True if some pattern matches `object`: a queue name, `QM/QUEUE`
  /// (matched as a whole and by its queue part) or a topic string.
  bool matches(std::string_view object) const noexcept;

  bool empty() const noexcept { return items_.empty(); }

  bool operator==(const pattern_list& other) const = default;

private:
  std::vector<std::string> items_;
};

/// One user of the users file.
struct user_entry {
  std::string name;
  /// An encoded hash (core/password.hpp).
  std::string password_hash;
  pattern_list admin;
  pattern_list put;
  pattern_list get;

  bool operator==(const user_entry& other) const = default;

  /// True if this user holds `p` on `object`.
  bool allows(permission p, std::string_view object) const noexcept;
};

/// The parsed users file.
class user_db {
public:
  /// The user named `name`, or null.
  const user_entry* find(std::string_view name) const noexcept;

  size_t size() const noexcept { return users_.size(); }

  /// Names of all users, sorted.
  std::vector<std::string> names() const;

  /// Parses the text of a users file. On error returns null and sets `err`
  /// to one line naming the line number.
  static std::shared_ptr<const user_db> parse(std::string_view text,
                                              std::string& err);

  /// Reads and parses `path` (at most max_users_file_bytes).
  static std::shared_ptr<const user_db> load(const std::string& path,
                                             std::string& err);

private:
  std::map<std::string, user_entry, std::less<>> users_;
};

} // namespace qmesh
