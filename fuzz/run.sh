#!/usr/bin/env bash
# fuzz/run.sh BUILD_DIR SECONDS — run every libFuzzer driver briefly from its seed corpus.
# New inputs go to a scratch corpus (not committed); crashes land in BUILD_DIR/fuzz-artifacts.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
for drv in "$build"/fuzz_*; do
  [ -x "$drv" ] || continue
  name=$(basename "$drv"); name=${name#fuzz_}
  seeds="$here/corpus/$name"
  scratch="$build/fuzz-corpus/$name"
  mkdir -p "$scratch"
  echo "fuzz: $name for ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$drv" -max_total_time="$secs" -max_len=8192 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" -print_final_stats=1 \
      "$scratch" "$seeds" 2>&1 | tail -n 12; then
    echo "fuzz: $name FAILED (see $build/fuzz-artifacts)"; status=1
  fi
done
exit $status
