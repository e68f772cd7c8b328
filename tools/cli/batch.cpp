// Pipelined gets for the CLI's bulk commands (see batch.hpp).
#include "tools/cli/batch.hpp"

#include <deque>
#include <future>

namespace qmesh::cli {

batch_result get_batch(client& c, const std::string& queue,
                       const get_options& opts, uint64_t want,
                       size_t window) {
  batch_result res;
  std::deque<std::future<std::optional<message>>> in_flight;
  uint64_t sent = 0;
  auto stopped = [&] { return res.empty || res.failure.has_value(); };
  while ((sent < want && !stopped()) || !in_flight.empty()) {
    while (sent < want && !stopped() && in_flight.size() < window) {
      try {
        in_flight.push_back(c.get_async(queue, opts));
        ++sent;
      } catch (const client_error& e) {
        res.failure = e;
      }
    }
    if (in_flight.empty())
      break;
    auto next = std::move(in_flight.front());
    in_flight.pop_front();
    try {
      if (auto msg = next.get())
        res.messages.push_back(std::move(*msg));
      else
        res.empty = true;
    } catch (const client_error& e) {
      if (!res.failure)
        res.failure = e;
    }
  }
  return res;
}

bool is_local(const client& c, const std::string& address) {
  auto slash = address.find('/');
  return slash == std::string::npos
         || std::string_view{address}.substr(0, slash) == c.qmgr().name;
}

} // namespace qmesh::cli
