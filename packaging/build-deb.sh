#!/bin/sh
# Builds the qmesh Debian package in its own build directory, configured
# for /usr (the node's default --web-root is then /usr/share/qmesh/web), and
# prints the .deb's path as the last line.
#
#   packaging/build-deb.sh [BUILD_DIR]     (default: build-deb)
#
# Needs help2man and dpkg-dev (`make deb` installs them). Only the packaged
# programs are built, not the tests. With ccache, objects shared with
# another build of the same sources are cache hits when CCACHE_NOHASHDIR is
# set (it is, unless the caller set it).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-deb}
jobs=${JOBS:-$(nproc)}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

for tool in help2man dpkg-shlibdeps dpkg-deb; do
  command -v "$tool" >/dev/null || {
    echo "build-deb.sh: $tool missing (apt-get install help2man dpkg-dev)" >&2
    exit 1
  }
done

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr \
  -DQMESH_WEB_ROOT=/usr/share/qmesh/web \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >&2
cmake --build "$build" -j "$jobs" \
  --target qmesh-node qmesh qmesh-request-reply qmesh-bench man >&2
rm -f "$build"/qmesh_*.deb
(cd "$build" && cpack -G DEB >&2)
deb=$(ls "$build"/qmesh_*.deb)
echo "$(cd "$build" && pwd)/$(basename "$deb")"
