#include "core/reason.hpp"

#include <caf/message.hpp>

namespace qmesh {

namespace {

struct entry {
  int number;
  std::string_view name;
};

entry lookup(ec code) noexcept {
  switch (code) {
    case ec::no_msg_available: return {2033, "no_msg_available"};
    case ec::unknown_object_name: return {2085, "unknown_object_name"};
    case ec::unknown_remote_qmgr: return {2087, "unknown_remote_qmgr"};
    case ec::q_full: return {2053, "q_full"};
    case ec::msg_too_big_for_q: return {2030, "msg_too_big_for_q"};
    case ec::put_inhibited: return {2051, "put_inhibited"};
    case ec::get_inhibited: return {2016, "get_inhibited"};
    case ec::not_authorized: return {2035, "not_authorized"};
    case ec::q_not_empty: return {2055, "q_not_empty"};
    case ec::object_name_error: return {2152, "object_name_error"};
    case ec::syncpoint_limit_reached: return {2024, "syncpoint_limit_reached"};
    case ec::object_already_exists: return {2100, "object_already_exists"};
    case ec::object_in_use: return {2042, "object_in_use"};
    case ec::topic_string_error: return {2425, "topic_string_error"};
    case ec::uow_not_available: return {2255, "uow_not_available"};
    case ec::selector_error: return {2067, "selector_error"};
    case ec::options_error: return {2046, "options_error"};
    case ec::priority_error: return {2050, "priority_error"};
    case ec::expiry_error: return {2013, "expiry_error"};
    case ec::hobj_error: return {2019, "hobj_error"};
    case ec::max_conns_limit_reached: return {2025, "max_conns_limit_reached"};
    case ec::resource_problem: return {2102, "resource_problem"};
    case ec::q_mgr_not_available: return {2059, "q_mgr_not_available"};
    case ec::connection_broken: return {2009, "connection_broken"};
    case ec::cluster_resource_error:
      return {2189, "cluster_resource_error"};
    case ec::unexpected_error: return {2195, "unexpected_error"};
  }
  return {2195, "unexpected_error"};
}

} // namespace

int mqrc(ec code) noexcept {
  return lookup(code).number;
}

std::string_view to_name(ec code) noexcept {
  return lookup(code).name;
}

std::string to_string(ec code) {
  auto e = lookup(code);
  std::string result = std::to_string(e.number);
  result += ' ';
  result += e.name;
  return result;
}

std::string render(const caf::error& err) {
  // category() and code() require a non-empty error.
  if (!err || err.category() != caf::atom("qmesh"))
    return caf::to_string(err);
  return render(static_cast<ec>(err.code()), err.context());
}

std::string render(ec code, const caf::message& ctx) {
  auto str = to_string(code);
  // Contract: qmesh errors carry strings as context; anything else is
  // rendered the way CAF renders a message.
  if (ctx.empty())
    return str;
  str += ':';
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (!ctx.match_element<std::string>(i)) {
      str += ' ';
      str += caf::to_string(ctx);
      return str;
    }
  }
  for (size_t i = 0; i < ctx.size(); ++i) {
    str += ' ';
    str += ctx.get_as<std::string>(i);
  }
  return str;
}

caf::error reason_error(ec code, std::string text) {
  return caf::make_error(code, std::move(text));
}

bool is(const caf::error& err, ec code) noexcept {
  return err && err.category() == caf::atom("qmesh")
         && err.code() == static_cast<uint8_t>(code);
}

} // namespace qmesh
