#!/bin/sh
# Builds the qmesh Debian packages in their own build directory, configured
# for /usr (the node's default --web-root is then /usr/share/qmesh/web), and
# prints their paths as the last two lines: qmesh (the node, the CLI, the
# unit), then qmesh-dev (the C++ client library).
#
#   packaging/build-deb.sh [BUILD_DIR]     (default: build-deb)
#
# QMESH_PACKAGE_CONTACT in the environment sets the packages' Maintainer
# (`Name <address>`); otherwise the build directory keeps what it had (at
# first the placeholder of CMakeLists.txt).
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

set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DQMESH_WEB_ROOT=/usr/share/qmesh/web -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
if [ -n "${QMESH_PACKAGE_CONTACT:-}" ]; then
  set -- "$@" "-DQMESH_PACKAGE_CONTACT=$QMESH_PACKAGE_CONTACT"
fi
cmake -S "$src" -B "$build" "$@" >&2
cmake --build "$build" -j "$jobs" --target qmesh-node qmesh \
  qmesh-request-reply qmesh-bench qmesh_client_dist man >&2
rm -f "$build"/qmesh_*.deb "$build"/qmesh-dev_*.deb
(cd "$build" && cpack -G DEB >&2)
dir=$(cd "$build" && pwd)
for pkg in qmesh qmesh-dev; do
  deb=$(ls "$dir/${pkg}"_*.deb)
  echo "$deb"
done
