#!/bin/sh
# A stand-in for systemctl in the Debian root of package.deb, where no
# systemd runs: it appends every call to $STATE/calls as
#   PACKAGE SCRIPT: ARGUMENTS
# (PACKAGE and SCRIPT from dpkg's DPKG_MAINTSCRIPT_PACKAGE and
# DPKG_MAINTSCRIPT_NAME, `-` outside a maintainer script) and keeps the
# enabled and the active units, one a line, in $STATE/enabled and
# $STATE/active, so that deb-systemd-invoke (which asks is-enabled and
# is-active) and `list-units` answer as systemd would. `enable` and
# `disable` also make and remove the multi-user.target.wants link.
set -f
STATE=/var/lib/systemctl-standin
WANTS=/etc/systemd/system/multi-user.target.wants
mkdir -p "$STATE"
touch "$STATE/calls" "$STATE/enabled" "$STATE/active"
echo "${DPKG_MAINTSCRIPT_PACKAGE:--} ${DPKG_MAINTSCRIPT_NAME:--}: $*" \
  >> "$STATE/calls"

verb='' now='' state='' units=''
for a in "$@"; do
  case $a in
    --now) now=1 ;;
    --state=*) state=${a#--state=} ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$a; else units="$units $a"; fi ;;
  esac
done

has() { grep -qx -- "$2" "$STATE/$1"; }
add() { has "$1" "$2" || echo "$2" >> "$STATE/$1"; }
del() { grep -vx -- "$2" "$STATE/$1" > "$STATE/$1.new" || true
        mv "$STATE/$1.new" "$STATE/$1"; }

case $verb in
  enable)
    for u in $units; do
      add enabled "$u"
      mkdir -p "$WANTS"
      ln -sf "/usr/lib/systemd/system/${u%%@*}@.service" "$WANTS/$u"
      [ -z "$now" ] || add active "$u"
    done ;;
  disable)
    for u in $units; do
      del enabled "$u"; rm -f "$WANTS/$u"
      [ -z "$now" ] || del active "$u"
    done ;;
  start|restart) for u in $units; do add active "$u"; done ;;
  stop) for u in $units; do del active "$u"; done ;;
  is-enabled)
    for u in $units; do
      if has enabled "$u"; then echo enabled; else echo disabled; exit 1; fi
    done ;;
  is-active)
    for u in $units; do has active "$u" || exit 3; done ;;
  list-units)
    [ -z "$state" ] || [ "$state" = active ] || exit 0
    while read -r u; do
      for pattern in ${units:-*}; do
        # shellcheck disable=SC2254 # the pattern is a glob
        case $u in
          $pattern) echo "$u loaded active running qmesh queue manager" ;;
        esac
      done
    done < "$STATE/active" ;;
esac
exit 0
