#!/bin/sh
# Writes the man page of one qmesh program with help2man, from the built
# binary's own --help (the same text users see, so the page cannot drift).
# For `qmesh`, each command's --help (`qmesh COMMAND --help`) becomes a
# subsection of COMMANDS IN DETAIL.
#
#   make-man.sh HELP2MAN BINARY VERSION "ONE-LINE DESCRIPTION" OUT.1
set -eu

help2man=$1 binary=$2 version=$3 name=$4 out=$5
prog=$(basename "$binary")
include=$(mktemp)
trap 'rm -f "$include"' EXIT

# roff-safe preformatted text: backslashes escaped, no line starting with
# a control character.
roff() {
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

cat > "$include" <<EOT
[FILES]
.TP
.I /etc/qmesh/QM.ini
configuration of queue manager QM (systemd unit qmesh\-node@QM)
.TP
.I /var/lib/qmesh/QM
its data directory
.TP
.I /usr/share/doc/qmesh/
the documentation (operations.md: install, logs, operations)
EOT

if [ "$prog" = qmesh ]; then
  commands=$("$binary" --help | awk '
    /^Commands:/ { on = 1; next }
    on && /^[^ ]/ { on = 0 }
    on && /^  [a-z]/ { print $1 }')
  [ -n "$commands" ] || { echo "make-man.sh: no commands in qmesh --help" >&2; exit 1; }
  echo "[COMMANDS IN DETAIL]" >> "$include"
  for c in $commands; do
    {
      printf '.SS "%s"\n.nf\n' "$c"
      "$binary" "$c" --help | roff
      printf '.fi\n'
    } >> "$include"
  done
fi

"$help2man" --no-info --no-discard-stderr --section=1 \
  --version-string="$version" --name="$name" --include="$include" \
  --output="$out.tmp" "$binary"
mv "$out.tmp" "$out"
