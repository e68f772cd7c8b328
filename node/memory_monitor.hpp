// The node's memory watch: resident memory against --memory-limit.
//
// A thread of its own (not an actor, so that reading /proc and trimming the
// heap never hold up a scheduler worker) samples the process's resident set
// every 100 ms. At the limit it raises the flow-control alarm (producers are
// held, consumers go on); it clears the alarm below 90% of the limit. It
// also hands freed heap memory back to the OS (malloc_trim) when the
// allocator holds much of it unused, so that RSS falls after a burst.
//
// Threading: start() and stop() from one thread (the node's main thread);
// everything else runs on the monitor's own thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "actors/flow_control.hpp"

namespace qmesh::node {

/// Total memory this process may use: the smaller of the machine's memory
/// and the cgroup limit, in bytes (0 if unknown).
uint64_t available_memory();

/// Resident set size of this process in bytes (0 if unknown).
uint64_t resident_memory();

/// Parses a memory size: `1073741824`, `512M`, `2G`, `1.5G`, `40%` (of
/// available_memory()). False if malformed or zero.
bool parse_memory_size(const std::string& text, uint64_t& out);

class memory_monitor {
public:
  memory_monitor(std::shared_ptr<flow_control> flow, uint64_t limit);
  ~memory_monitor();

  void start();
  void stop();

private:
  void run();
  void sample();

  std::shared_ptr<flow_control> flow_;
  uint64_t limit_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  /// Sample number of the last trim.
  uint64_t samples_ = 0;
  /// Sample of the last heap check (mallinfo2, maybe malloc_trim).
  uint64_t last_trim_ = 0;
};

} // namespace qmesh::node
