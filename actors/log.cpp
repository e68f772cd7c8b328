#include "actors/log.hpp"

#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace qmesh::log {

namespace {

struct registry {
  std::mutex mtx;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::warn;
};

registry& reg() {
  static registry r;
  return r;
}

} // namespace

std::shared_ptr<spdlog::logger> get(const std::string& subsystem) {
  auto& r = reg();
  std::lock_guard<std::mutex> guard{r.mtx};
  if (auto existing = spdlog::get(subsystem))
    return existing;
  auto result = std::make_shared<spdlog::logger>(subsystem, r.sink);
  result->set_level(r.level);
  // Log lines are significant events, few per second: flush each one so a
  // crash or kill never loses the last lines.
  result->flush_on(spdlog::level::trace);
  spdlog::register_logger(result);
  return result;
}

bool configure(const std::string& level, const std::string& file) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  auto& r = reg();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.level = lvl;
  if (!file.empty())
    r.sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) {
    l->sinks().clear();
    l->sinks().push_back(r.sink);
    l->set_level(lvl);
  });
  return true;
}

} // namespace qmesh::log
