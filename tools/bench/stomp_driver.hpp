// qmesh-bench: the STOMP scenarios.
#pragma once

#include <cstdint>
#include <string>

#include "tools/bench/cases.hpp"
#include "tools/bench/check.hpp"
#include "tools/bench/options.hpp"

namespace qmesh::bench {

/// Runs one run of `bc` over STOMP; `label` names it in progress lines.
/// `chk`: what its consumers saw, also when it fails (then it throws
/// bench_error).
result run_stomp(const options& o, const bench_case& bc, uint64_t run_id,
                 const std::string& label, check_counts& chk);

/// The idle scenarios (stomp_idle.cpp): defines bc.objects queues, or
/// holds bc.objects subscriptions, over bc.connections connections and
/// reads the broker's VmRSS (--node-pid) before and after.
result run_idle(const options& o, const bench_case& bc, uint64_t run_id,
                const std::string& label, check_counts& chk);

} // namespace qmesh::bench
