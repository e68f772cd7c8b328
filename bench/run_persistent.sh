#!/bin/sh
# Confirmed persistent puts over STOMP (qmesh-bench --scenario persistent):
# starts a fresh qmesh-node on free loopback ports with its --data-dir on a
# disk (not tmpfs), then runs in-flight 1, 8, 64 x size 16, 1024 with one
# producer, RUNS runs each (3), each run and the median; then 4 producers x
# 64 in flight (16 B), RUNS runs. A consumer drains the queue meanwhile.
#
# Usage: run_persistent.sh BUILD_DIR [qmesh-bench args, e.g. --messages N]
# Environment: QMESH_BENCH_DATA  where the node's directory goes (/var/tmp)
#              RUNS              runs per configuration (3)
set -eu
build=$1
shift
bench_on_disk=1
runs=${RUNS:-3}
. "$(cd "$(dirname "$0")" && pwd)/start_node.sh"
start_node "$build"
echo "node data dir: $dir/data ($(stat -f -c %T "$bench_tmp"))"
# One configuration; its output also goes to $dir/results; a failure ends
# the script with qmesh-bench's exit code.
bench() {
  { rc=0; "$build/qmesh-bench" --port "$stomp" --scenario persistent \
      --runs "$runs" "$@" || rc=$?; echo "$rc" > "$dir/rc"; } \
    | tee -a "$dir/results"
  rc=$(cat "$dir/rc")
  if [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
}
for size in 16 1024; do
  for in_flight in 1 8 64; do
    bench --size "$size" --in-flight "$in_flight" "$@"
  done
done
bench --size 16 --in-flight 64 --producers 4 "$@"
if [ "$runs" -gt 1 ]; then
  echo; echo "medians of $runs runs:"
  grep '^\[median\] ' "$dir/results"
else
  echo; echo "all configurations:"
  grep '^persistent size=[^:]*: ' "$dir/results"
fi
