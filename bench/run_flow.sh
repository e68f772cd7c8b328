#!/bin/sh
# Flow-control benchmarks (docs/benchmarks.md, "Flow control"). Each
# scenario starts a fresh qmesh-node on free loopback ports, runs one
# driver against it and stops the node.
#
# Usage: run_flow.sh BUILD_DIR SCENARIO [ARGS]
#   slow-consumer [N] [RATE]   a full-speed STOMP producer into one queue,
#                              one consumer paced at RATE msg/s (600000,
#                              20000); producer rate, node RSS every 0.5 s
#   fanout-status [N] [SUBS]   1 -> SUBS fan-out of N publications at full
#                              speed (1000000, 10); `qmesh status` every
#                              0.5 s meanwhile: p50 / max
#   p2p [RUNS]                 qmesh-bench --scenario p2p (16 B, ack:auto)
#                              RUNS times (3), each line and the median
set -eu
build=$1
scenario=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
driver="$here/../tests/integration/flow_stomp.py"
. "$here/start_node.sh"
start_node "$build"
case "$scenario" in
  slow-consumer)
    timeout 150 python3 "$driver" slow-consumer "127.0.0.1:$stomp" \
      "${1:-600000}" "${2:-20000}" "$node" ;;
  fanout-status)
    timeout 150 python3 "$driver" fanout-status "127.0.0.1:$stomp" \
      "127.0.0.1:$native" "$build/qmesh" "${1:-1000000}" "${2:-10}" ;;
  p2p)
    timeout 300 "$build/qmesh-bench" --port "$stomp" --scenario p2p \
      --runs "${1:-3}" ;;
  *)
    echo "unknown scenario $scenario" >&2
    exit 2 ;;
esac
