#!/bin/sh
# Builds the STOMP parser fuzzer with clang++ and libFuzzer (ASan + UBSan)
# outside the main build, then runs it for a bounded time.
#
#   run_fuzz.sh CLANGXX SOURCE_DIR OUT_DIR SECONDS [libFuzzer options...]
#
# Used by `make fuzz` (OUT_DIR build-fuzz, 600 s) and by the ctest
# `fuzz.stomp_parser` (OUT_DIR <build dir>-fuzz, 20 s). New inputs go to
# OUT_DIR/corpus-stomp, crash/leak/timeout reproducers to OUT_DIR/.
set -eu
cxx=$1 src=$2 out=$3 secs=$4
shift 4

mkdir -p "$out/corpus-stomp"
bin="$out/stomp_parser_fuzz"
sources="$src/protocols/stomp/frame.cpp $src/protocols/stomp/parser.cpp
  $src/tests/fuzz/stomp_parser_fuzz.cpp"

# Rebuild when the binary is missing or older than any source or header.
if [ ! -x "$bin" ] || [ -n "$(find "$src/protocols/stomp" \
      "$src/tests/fuzz/stomp_parser_fuzz.cpp" -newer "$bin" -print)" ]; then
  echo "run_fuzz.sh: building $bin"
  # shellcheck disable=SC2086 # word splitting of $sources is intended
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -I"$src" $sources -o "$bin.tmp.$$"
  mv -f "$bin.tmp.$$" "$bin"
fi

echo "run_fuzz.sh: fuzzing for ${secs}s"
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 -artifact_prefix="$out/" \
  "$@" "$out/corpus-stomp" "$src/tests/fuzz/corpus/stomp"
