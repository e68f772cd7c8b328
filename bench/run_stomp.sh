#!/bin/sh
# Starts a qmesh-node on free loopback ports, runs qmesh-bench against its
# STOMP listener, stops the node. Usage: run_stomp.sh BUILD_DIR [qmesh-bench args]
set -eu
build=$1
shift
dir=$(mktemp -d)
trap 'kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; rm -rf "$dir"' EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
stomp=$(free_port)
native=$(free_port)
"$build/qmesh-node" --listen "127.0.0.1:$native" --stomp-listen "127.0.0.1:$stomp" \
  --log-level warn --data-dir "$dir/data" > "$dir/out" 2>&1 &
node=$!
# Wait for the readiness line (the node prints it once both listeners work).
i=0
until grep -q "listening on" "$dir/out"; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$node" 2>/dev/null; then
    cat "$dir/out" >&2
    exit 1
  fi
  sleep 0.1
done
"$build/qmesh-bench" --port "$stomp" "$@"
