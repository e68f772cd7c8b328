// qmesh-bench: the scenarios over qmesh's native protocol (the C++
// client), qmesh only.
#pragma once

#include <cstdint>
#include <string>

#include "tools/bench/cases.hpp"
#include "tools/bench/check.hpp"
#include "tools/bench/options.hpp"

namespace qmesh::bench {

/// Runs one run of `bc` through the client library; as run_stomp().
result run_native(const options& o, const bench_case& bc, uint64_t run_id,
                  const std::string& label, check_counts& chk);

} // namespace qmesh::bench
