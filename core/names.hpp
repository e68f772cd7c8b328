// Name rules for queue managers, queues and subscriptions (design §1).
#pragma once

#include <string_view>

namespace qmesh {

/// The rule, for error texts.
constexpr std::string_view name_rule = "names are 1-48 of A-Z a-z 0-9 . _ %";

/// Longest queue, queue-manager or subscription name.
constexpr size_t max_name_length = 48;

/// True if `name` matches `[A-Za-z0-9._%]{1,48}`.
bool is_valid_name(std::string_view name) noexcept;

/// An address split into queue manager (may be empty) and queue.
struct address {
  std::string_view qmgr;
  std::string_view queue;
};

/// Splits `QUEUE` or `QM/QUEUE`; false if either part breaks the name rules
/// or there is more than one `/`.
bool parse_address(std::string_view text, address& out) noexcept;

} // namespace qmesh
