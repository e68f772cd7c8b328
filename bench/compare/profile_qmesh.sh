#!/bin/sh
# Profiles a fresh qmesh-node during one qmesh-bench run: `perf stat` and
# `perf record -g` (task-clock: a VM may have no hardware counters) attached
# to the node's pid for exactly the run, then the top of `perf report`.
# The node's data dir is on a disk, as in `make compare`.
#
# Usage: profile_qmesh.sh BUILD_DIR OUT_DIR [qmesh-bench args]
#   e.g. profile_qmesh.sh build /tmp/prof --scenario p2p --size 1024
# Writes OUT_DIR/perf.data, OUT_DIR/stat.txt, OUT_DIR/report.txt and
# OUT_DIR/bench.txt. Needs perf (Debian: linux-perf).
set -eu
build=$1
out=$2
shift 2
mkdir -p "$out"
bench_on_disk=1
. "$(cd "$(dirname "$0")/.." && pwd)/start_node.sh"
start_node "$build"
perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
  -p "$node" -o "$out/stat.txt" &
stat_pid=$!
perf record -q -e task-clock -g -o "$out/perf.data" -p "$node" \
  > /dev/null 2>&1 &
record_pid=$!
"$build/qmesh-bench" --port "$stomp" "$@" | tee "$out/bench.txt"
kill -INT "$stat_pid" "$record_pid"
wait "$stat_pid" "$record_pid" || true
cat "$out/stat.txt"
perf report -i "$out/perf.data" --no-children --percent-limit 1.5 \
  --stdio 2> /dev/null | grep -v '^$' > "$out/report.txt" || true
grep -E '^ +[0-9.]+%' "$out/report.txt" | head -25
