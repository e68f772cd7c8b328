#!/bin/sh
# Starts a qmesh-node on free loopback ports, runs qmesh-bench against its
# STOMP listener, stops the node. Usage: run_stomp.sh BUILD_DIR [qmesh-bench args]
set -eu
build=$1
shift
. "$(cd "$(dirname "$0")" && pwd)/start_node.sh"
start_node "$build"
"$build/qmesh-bench" --port "$stomp" "$@"
