// One named spdlog logger per subsystem (`qmesh.queue`, `qmesh.qm`, ...).
//
// Loggers are created on first use, share one sink set and level, and are
// thread-safe. The node configures level and sinks at start-up
// (log::configure); tests and tools get warnings and errors on stderr.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace qmesh::log {

/// The logger of a subsystem; created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& subsystem);

/// Sets level (`trace` ... `off`) and, if `file` is non-empty, logs to that
/// file instead of stderr. Applies to existing and future loggers. Returns
/// false for an unknown level.
bool configure(const std::string& level, const std::string& file);

inline spdlog::logger& queue() {
  static auto l = get("qmesh.queue");
  return *l;
}

inline spdlog::logger& qm() {
  static auto l = get("qmesh.qm");
  return *l;
}

inline spdlog::logger& pubsub() {
  static auto l = get("qmesh.pubsub");
  return *l;
}

inline spdlog::logger& cluster() {
  static auto l = get("qmesh.cluster");
  return *l;
}

inline spdlog::logger& stomp() {
  static auto l = get("qmesh.stomp");
  return *l;
}

} // namespace qmesh::log
