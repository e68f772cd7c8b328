#include "core/names.hpp"

namespace qmesh {

bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_name_length)
    return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '%';
    if (!ok)
      return false;
  }
  return true;
}

bool parse_address(std::string_view text, address& out) noexcept {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    if (!is_valid_name(text))
      return false;
    out = {{}, text};
    return true;
  }
  auto qmgr = text.substr(0, slash);
  auto queue = text.substr(slash + 1);
  if (!is_valid_name(qmgr) || !is_valid_name(queue))
    return false;
  out = {qmgr, queue};
  return true;
}

} // namespace qmesh
