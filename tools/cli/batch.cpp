// Batched gets for the CLI's bulk commands (see batch.hpp).
#include "tools/cli/batch.hpp"

#include <algorithm>
#include <deque>
#include <future>

namespace qmesh::cli {

namespace {

/// Messages per batch get, and batch gets in flight at once.
constexpr uint64_t chunk = 100;
constexpr size_t in_flight_max = 8;

} // namespace

batch_result get_batch(client& c, const std::string& queue,
                       const get_options& opts, uint64_t want) {
  batch_result res;
  if (opts.wait_ms != 0) {
    try {
      if (auto msg = c.try_get(queue, opts))
        res.messages.push_back(std::move(*msg));
      else
        res.empty = true;
    } catch (const client_error& e) {
      res.failure = e;
    }
    return res;
  }
  // Each request with the number of messages it asked for.
  std::deque<std::pair<std::future<std::vector<message>>, uint64_t>> in_flight;
  uint64_t asked = 0;
  auto stopped = [&] { return res.empty || res.failure.has_value(); };
  while ((asked < want && !stopped()) || !in_flight.empty()) {
    while (asked < want && !stopped() && in_flight.size() < in_flight_max) {
      auto n = std::min(chunk, want - asked);
      try {
        in_flight.emplace_back(
          c.get_many_async(queue, static_cast<uint32_t>(n), opts), n);
        asked += n;
      } catch (const client_error& e) {
        res.failure = e;
      }
    }
    if (in_flight.empty())
      break;
    auto [next, n] = std::move(in_flight.front());
    in_flight.pop_front();
    try {
      auto msgs = next.get();
      if (msgs.size() < n)
        res.empty = true;
      std::move(msgs.begin(), msgs.end(), std::back_inserter(res.messages));
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
