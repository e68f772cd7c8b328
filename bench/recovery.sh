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
bench_tmp=${QMESH_BENCH_DATA:-/var/tmp}
if [ "$(stat -f -c %T "$bench_tmp")" = tmpfs ]; then
  echo "$bench_tmp is tmpfs; set QMESH_BENCH_DATA to a directory on a disk" >&2
  exit 2
fi
. "$(cd "$(dirname "$0")" && pwd)/start_node.sh"
extra="--default-max-depth $((n + 1000)) --log-level info --log-file"
start_node_with() {
  stomp=$(free_port)
  native=$(free_port)
  "$build/qmesh-node" --listen "127.0.0.1:$native" --stomp-listen none \
    --data-dir "$dir/data" $extra "$dir/node.log" > "$dir/out" 2>&1 &
  node=$!
  i=0
  until grep -q "listening on" "$dir/out"; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$node" 2>/dev/null; then
      cat "$dir/out" >&2
      exit 1
    fi
    sleep 0.05
  done
}
cli() { "$build/qmesh" --node "127.0.0.1:$native" "$@"; }
start_node_with
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
: > "$dir/out"
t0=$(date +%s.%N)
start_node_with
t1=$(date +%s.%N)
depth=$(cli inquire RECOVER | grep current_depth)
t2=$(date +%s.%N)
echo "restart to listening: $(awk "BEGIN{print $t1 - $t0}") s; to the queue's first answer: $(awk "BEGIN{print $t2 - $t0}") s"
grep -E "journal: recovered|messages recovered in" "$dir/node.log" | tail -2
echo "$depth"
