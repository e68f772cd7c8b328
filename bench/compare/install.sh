#!/bin/sh
# Installs the Debian packages `make compare` needs (given as arguments) if
# any is missing. The packaged services are not started by the install:
# the comparison runs private instances of RabbitMQ and ActiveMQ on
# loopback, and a packaged RabbitMQ would listen on every interface. While
# apt-get runs, a policy-rc.d that forbids starts (exit 101) is in place,
# unless the machine already has one of its own.
set -eu
missing=
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -n "$missing" ] || exit 0
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$SUDO rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" > /dev/null
  $SUDO chmod 755 "$policy"
fi
echo "installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
