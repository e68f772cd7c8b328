// qmesh-bench: a load generator for qmesh and other STOMP brokers; runs
// the scenarios --scenario names and reports them (docs/benchmarks.md,
// "qmesh-bench"). What each scenario measures and how: stomp_driver.cpp.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/cases.hpp"
#include "tools/bench/native_driver.hpp"
#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/stomp_driver.hpp"

namespace qmesh::bench {
namespace {

/// Runs every case of the matrix; a failed scenario is reported (stderr,
/// JSON with ok:false) and the next one runs. False if any failed.
bool run_all(const options& o) {
  bool json_stdout = o.json_path && *o.json_path == "-";
  json_sink sink{o.json_path};
  std::FILE* out = json_stdout ? stderr : stdout;
  std::vector<std::pair<bench_case, result>> rows;
  uint64_t run_id = 0;
  bool all_ok = true;
  for (const auto& bc : cases_for(o)) {
    std::vector<result> runs;
    check_counts total;
    std::string error;
    for (uint64_t i = 1; i <= o.runs; ++i) {
      auto label = bc.id() + " run " + std::to_string(i) + "/"
                   + std::to_string(o.runs);
      check_counts chk;
      try {
        runs.push_back(bc.native ? run_native(o, bc, ++run_id, label, chk)
                                 : run_stomp(o, bc, ++run_id, label, chk));
      } catch (const std::exception& e) { // bench_error, client_error
        total += chk;
        error = bc.name() + ": " + e.what();
        std::fprintf(stderr, "qmesh-bench: %s\n", error.c_str());
        break;
      }
      total += chk;
      auto prefix = o.runs > 1 ? "[run " + std::to_string(i) + "/"
                                   + std::to_string(o.runs) + "] "
                               : std::string{};
      std::fprintf(out, "%s%s\n", prefix.c_str(),
                   describe(bc, runs.back()).c_str());
      std::fflush(out);
    }
    sink.write(scenario_json(o, bc, runs, total, error), json_stdout);
    if (!error.empty()) {
      all_ok = false;
      continue;
    }
    auto m = median_of(runs);
    if (o.runs > 1)
      std::fprintf(out, "[median] %s\n", describe(bc, m).c_str());
    rows.emplace_back(bc, m);
  }
  if (!rows.empty())
    print_table(out, rows, o.runs);
  return all_ok;
}

} // namespace
} // namespace qmesh::bench


int main(int argc, char** argv) {
  std::optional<qmesh::bench::options> opts;
  try {
    opts = qmesh::bench::parse_options(argc, argv);
  } catch (const qmesh::bench::usage_error& e) {
    std::fprintf(stderr, "qmesh-bench: %s\n\n%s", e.what(), qmesh::bench::usage_text);
    return 2;
  }
  if (!opts) {
    std::fputs(qmesh::bench::usage_text, stdout);
    return 0;
  }
  try {
    return qmesh::bench::run_all(*opts) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmesh-bench: %s\n", e.what());
    return 1;
  }
}

