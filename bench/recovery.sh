#!/bin/sh
# Recovery time and journal bytes per message: puts N persistent 16-byte
# messages (default 1,000,000) on one queue with the CLI (batches from
# stdin, each confirmed once on disk), reads `qmesh status`, kills the node
# with SIGKILL and starts it again on the same data dir; prints the status
# figures and the recovery line of the log, and checks the depth.
#
# Usage: recovery.sh BUILD_DIR [N]
# Environment: QMESH_BENCH_DATA  where the node's directory goes (/var/tmp)
set -eu
build=$1
n=${2:-1000000}
bench_on_disk=1
. "$(cd "$(dirname "$0")" && pwd)/start_node.sh"
NODE_LOG_LEVEL=info
NODE_ARGS="--default-max-depth $((n + 1000)) --log-file $dir/node.log"
cli() { "$build/qmesh" --node "127.0.0.1:$native" "$@"; }
start_node "$build"
cli define-queue RECOVER --persistent > /dev/null
t0=$(date +%s.%N)
seq -f "%015.0f." 1 "$n" | cli put RECOVER
t1=$(date +%s.%N)
echo "put $n persistent messages (CLI from stdin): $(awk "BEGIN{print $t1 - $t0}") s"
cli status | grep -E "journal|disk"
bytes=$(cli status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["journal_bytes"])')
echo "journal bytes per message: $((bytes / n))"
kill -9 "$node"
wait "$node" 2>/dev/null || true
t0=$(date +%s.%N)
start_node "$build"
t1=$(date +%s.%N)
depth=$(cli inquire RECOVER | grep current_depth)
t2=$(date +%s.%N)
echo "restart to listening: $(awk "BEGIN{print $t1 - $t0}") s; to the queue's first answer: $(awk "BEGIN{print $t2 - $t0}") s"
grep -E "journal: recovered|messages recovered in" "$dir/node.log" | tail -2
echo "$depth"
