# Sourced by the bench scripts: start_node BUILD_DIR starts a qmesh-node on
# free loopback ports (sets $node, $stomp, $native, $dir), waits for its
# readiness line, and an EXIT trap stops it and removes its directory.
# The directory (the node's --data-dir among it) is made under $bench_tmp if
# the sourcing script set it, else under $TMPDIR or /tmp. $NODE_LOG_LEVEL
# (warn) and $NODE_ARGS go to the node; calling start_node again restarts
# on the same data dir.
# A script measuring the journal sets bench_on_disk=1: the directory then
# goes under $QMESH_BENCH_DATA (/var/tmp), which must not be a tmpfs.
if [ -n "${bench_on_disk:-}" ]; then
  bench_tmp=${QMESH_BENCH_DATA:-/var/tmp}
  if [ "$(stat -f -c %T "$bench_tmp")" = tmpfs ]; then
    echo "$bench_tmp is tmpfs; set QMESH_BENCH_DATA to a directory on a disk" >&2
    exit 2
  fi
fi
dir=$(mktemp -d ${bench_tmp:+-p "$bench_tmp"})
node=
trap 'if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_node() {
  stomp=$(free_port)
  native=$(free_port)
  "$1/qmesh-node" --listen "127.0.0.1:$native" --stomp-listen "127.0.0.1:$stomp" \
    --http-listen none \
    --log-level "${NODE_LOG_LEVEL:-warn}" --data-dir "$dir/data" ${NODE_ARGS:-} \
    > "$dir/out" 2>&1 &
  node=$!
  # The node prints its readiness line once both listeners work.
  i=0
  until grep -q "listening on" "$dir/out"; do
    i=$((i + 1))
    if [ "$i" -gt 200 ] || ! kill -0 "$node" 2>/dev/null; then
      cat "$dir/out" >&2
      exit 1
    fi
    sleep 0.05
  done
}
