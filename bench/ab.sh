#!/usr/bin/env bash
# A/B two hangard builds on the same box, alternated, a fresh daemon and data dir per run: tells
# a slower box from slower code (the peers of bench/run.sh move with the box, not with us).
#
# Usage: bench/ab.sh BUILD_A BUILD_B [placement|registry] [PAIRS]
#   BUILD_*: CMake build dirs holding hangard (the load tools come from BUILD_B).
#   placement: sessload -m placement -n 16000 -c 64 -p 4 (placements/s);
#   registry:  evload -S 8 -d 8 -W 1 -c 8 -D 8 (deliveries/s to 8 WebSocket subscribers).
# Prints one line per run: build, pair, the tool's key figures.
set -euo pipefail
A=$1 B=$2 MODE=${3:-placement} PAIRS=${4:-3}
PORT=${AB_PORT:-17790}
export HANGAR_ADMIN_KEY_ID=AKIDBENCH HANGAR_ADMIN_SECRET=benchsecret
for ((r = 1; r <= PAIRS; r++)); do
  for build in "$A" "$B"; do
    dir=$(mktemp -d /tmp/hangar-ab-XXXXXX)
    sync
    "$build/hangard" --listen "127.0.0.1:$PORT" --data "$dir" --http-max-conns 16200 \
      >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
      sleep 0.1
    done
    if [ "$MODE" = registry ]; then
      out=$("$B/evload" -a "127.0.0.1:$PORT" -S 8 -d 8 -W 1 -P "$pid" -c 8 -D 8 2>/dev/null)
      keys='(deliveries_per_s|changes_per_s|lost|dup|gaps|reorder)'
    else
      out=$("$B/sessload" -a "127.0.0.1:$PORT" -m placement -n 16000 -c 64 -p 4 -P "$pid" \
            2>/dev/null)
      keys='(placed_per_s|errors)'
    fi
    echo "$build $r $(grep -oE "$keys=[0-9.]+" <<<"$out" | tr '\n' ' ')"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
  done
done
