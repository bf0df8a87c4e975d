#!/usr/bin/env bash
# bench/cluster.sh - issue #16's benchmark: the same four write paths on
#   a. 1 node on the embedded store (SQLite),
#   b. 1 node on PostgreSQL (a private server from scripts/pg-local, fsync and synchronous_commit on),
#   c. 3 nodes on that PostgreSQL: one owns the lease and serves, two stand by and relay; every
#      client's connections are spread over the three ports in turn,
# in one run on this box (its 2 cores run the nodes, PostgreSQL and the load together: this shows
# the cost of the engine and of relaying, not scale). Per run and configuration, fresh data:
#   claims      glload -w claim: ClaimGameServer(group) -> Update -> Deregister -> Register
#   placements  sessload -m placement: CL_PROCS ready SDK processes, CL_PROCS placements of 4 players
#   purchases   wrk, POST /v1/purchases as one of CL_PLAYERS players, a new idempotency key each
#   scores      wrk, POST /v1/leaderboards/bench/scores as one of CL_PLAYERS players
# and on PostgreSQL the commit round trip (hangar_store_pg_commit_seconds: a group commit from its
# send to its last result). Writes the section "Cluster mode" of bench/RESULTS.md (replaced when
# there, else appended).
#
# Usage: bench/cluster.sh      env: CL_RUNS (3) CL_DURATION (8) CL_CONNS (64) CL_PLAYERS (500)
#        CL_PROCS (4000) CL_PG_PORT (15450) CL_BASE (17790: node ports CL_BASE..+2) BUILD
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
CL_RUNS=${CL_RUNS:-3}
CL_DURATION=${CL_DURATION:-8}
CL_CONNS=${CL_CONNS:-64}
CL_PLAYERS=${CL_PLAYERS:-500}
CL_PROCS=${CL_PROCS:-4000}
CL_PG_PORT=${CL_PG_PORT:-15450}
CL_BASE=${CL_BASE:-17790}
OUT=$ROOT/bench/RESULTS.md
TMP=$(mktemp -d /tmp/hangar-clbench.XXXXXX)
chmod 755 "$TMP"
export HANGAR_ADMIN_KEY_ID=AKIDCLBENCH HANGAR_ADMIN_SECRET=clbenchsecret
log() { echo "[cluster-bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "$*"; exit 1; }
command -v wrk >/dev/null || die "no wrk (scripts/deps)"
cmake --build "$BUILD" -j"$(nproc)" --target hangard glload sessload >"$TMP/build.log" 2>&1 || die "build failed: $TMP/build.log"
HANGARD=$BUILD/hangard
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$ROOT/scripts/pg-local" stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
PG_URL=$("$ROOT/scripts/pg-local" start "$TMP/pg" "$CL_PG_PORT")
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_VERSION=$(basename "$(dirname "$PG_BIN")")
log "PostgreSQL $PG_VERSION at $PG_URL"

metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1==k{print $2}'; }
# the owner's mean PostgreSQL commit round trip so far, in ms
pg_commit_ms() {
  local p=${PORTS%%,*}
  awk -v s="$(metric "$p" hangar_store_pg_commit_seconds_sum)" -v c="$(metric "$p" hangar_store_pg_commit_seconds_count)" \
    'BEGIN{printf "%.2f", (c > 0 ? s / c * 1000 : 0)}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
spread() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); printf "%.1f%%", (m > 0 ? (a[NR]-a[1])/m*100 : 0)}'; }

# start_nodes CONFIG RUN: fresh data (and a fresh database), the nodes up and answering; sets
# PORTS (comma list, the owner first) and OWNER (its PID)
start_nodes() {
  local cfg=$1 run=$2 n=1 store=() i port
  PIDS=()
  PORTS=""
  rm -rf "$TMP/data"
  mkdir -p "$TMP/data"
  if [ "$cfg" != embedded ]; then
    PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$CL_PG_PORT" -U postgres -d postgres \
      -c "DROP DATABASE IF EXISTS bench_$run" -c "CREATE DATABASE bench_$run" >/dev/null
    store=(--store "${PG_URL%/*}/bench_$run")
  fi
  [ "$cfg" = pg3 ] && n=3
  for ((i = 0; i < n; i++)); do
    port=$((CL_BASE + i))
    mkdir -p "$TMP/data/node$i"
    "$HANGARD" --listen "127.0.0.1:$port" --data "$TMP/data/node$i" "${store[@]}" --node-id "node$i" \
      --http-max-conns $((CL_PROCS + CL_CONNS + 256)) --auth-device 1 --auth-open-per-minute 100000 \
      >"$TMP/node$i-$cfg-$run.log" 2>&1 &
    PIDS+=($!)
    PORTS+="${PORTS:+,}$port"
    # the first node takes the lease before the others look
    for _ in $(seq 1 200); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
      sleep 0.05
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" || die "node $i ($cfg) did not start: $(tail -5 "$TMP/node$i-$cfg-$run.log")"
  done
  OWNER=${PIDS[0]}
}

stop_nodes() {
  local p
  for ((p = ${#PIDS[@]} - 1; p >= 0; p--)); do kill "${PIDS[$p]}" 2>/dev/null || true; wait "${PIDS[$p]}" 2>/dev/null || true; done
  PIDS=()
}

# wrk_spread LUA: CL_CONNS connections over the nodes (one wrk per node), CL_DURATION s; "req/s p99_ms"
wrk_spread() {
  local lua=$1 ports k n c rps=0 p99=0 f wp=()
  IFS=, read -r -a ports <<<"$PORTS"
  n=${#ports[@]}
  for ((k = 0; k < n; k++)); do
    c=$(((CL_CONNS + k) / n))
    wrk -t$((n == 1 ? 2 : 1)) -c"$c" -d"${CL_DURATION}s" --latency -s "$lua" "http://127.0.0.1:${ports[$k]}" >"$TMP/wrk-$k.txt" 2>&1 &
    wp+=($!)
  done
  for k in "${wp[@]}"; do wait "$k" || true; done
  for ((k = 0; k < n; k++)); do
    f=$TMP/wrk-$k.txt
    if grep -q "Non-2xx" "$f"; then # (a subshell: the flag goes through a file)
      echo "wrk on ${ports[$k]} ($(basename "$lua")): $(grep Non-2xx "$f")" >>"$TMP/errs"
    fi
    rps=$(awk -v a="$rps" '/^Requests\/sec:/{a += $2} END{printf "%.0f", a}' "$f")
    p99=$(awk -v a="$p99" '$1=="99%"{v=$2; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; if (v > a) a=v} END{printf "%.2f", a}' "$f")
  done
  echo "$rps $p99"
}

declare -A R=()
ERRS=()
CONFIGS=(embedded pg1 pg3)
for ((run = 1; run <= CL_RUNS; run++)); do
  for cfg in "${CONFIGS[@]}"; do
    log "run $run: $cfg"
    # claims and placements on one set of nodes, purchases and scores on a fresh one
    start_nodes "$cfg" "$run"
    out=$("$BUILD/glload" -w claim -a "127.0.0.1:$PORTS" -c "$CL_CONNS" -d "$CL_DURATION" -W 1 -P "$OWNER" 2>&1) || ERRS+=("glload claim $cfg run $run: $(tail -c 300 <<<"$out")")
    res=$(grep '^RESULT' <<<"$out" || true)
    R[claims,$cfg,$run]=$(sed -n 's/.* cycles_per_s=\([0-9.]*\).*/\1/p' <<<"$res")
    R[claims_p99,$cfg,$run]=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$res")
    out=$("$BUILD/sessload" -m placement -a "127.0.0.1:$PORTS" -n "$CL_PROCS" -c "$CL_CONNS" -p 4 -V 100 -P "$OWNER" 2>"$TMP/sessload.err") || ERRS+=("sessload $cfg run $run: $(tail -c 300 "$TMP/sessload.err")")
    res=$(grep '^RESULT' <<<"$out" || true)
    R[place,$cfg,$run]=$(sed -n 's/.* placed_per_s=\([0-9.]*\).*/\1/p' <<<"$res")
    R[place_p99,$cfg,$run]=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$res")
    [ "$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$res")" = 0 ] || ERRS+=("sessload $cfg run $run: $(grep -o 'errors=[0-9]*' <<<"$res")")
    if [ "$cfg" != embedded ]; then
      R[rtt_a,$cfg,$run]=$(pg_commit_ms)
    fi
    stop_nodes
    start_nodes "$cfg" "$run"
    mkdir -p "$TMP/prep"
    timeout 600 python3 "$HERE/walletprep.py" "http://127.0.0.1:${PORTS##*,}" "$CL_PLAYERS" "$TMP/prep" >"$TMP/prep.log" 2>&1 ||
      die "walletprep.py failed: $(tail -5 "$TMP/prep.log")"
    read -r R[buy,$cfg,$run] R[buy_p99,$cfg,$run] <<<"$(wrk_spread "$TMP/prep/buy.lua")"
    read -r R[score,$cfg,$run] R[score_p99,$cfg,$run] <<<"$(wrk_spread "$TMP/prep/score.lua")"
    if [ "$cfg" != embedded ]; then
      R[rtt_b,$cfg,$run]=$(pg_commit_ms)
    fi
    stop_nodes
    # the ledgers must balance whatever the engine
    if [ "$cfg" = embedded ]; then chk=$("$HANGARD" check --data "$TMP/data/node0" 2>&1 | tail -1) || ERRS+=("hangard check $cfg run $run: $chk")
    else chk=$("$HANGARD" check --store "${PG_URL%/*}/bench_$run" 2>&1 | tail -1) || ERRS+=("hangard check $cfg run $run: $chk"); fi
    log "run $run $cfg: claims ${R[claims,$cfg,$run]}/s, placements ${R[place,$cfg,$run]}/s, purchases ${R[buy,$cfg,$run]}/s, scores ${R[score,$cfg,$run]}/s, PG commit ${R[rtt_a,$cfg,$run]:-}/${R[rtt_b,$cfg,$run]:-} ms; $chk"
  done
done

col() { # col KIND CFG: median over the runs
  local v=() r
  for ((r = 1; r <= CL_RUNS; r++)); do v+=("${R[$1,$2,$r]:-0}"); done
  median "${v[@]}"
}
colspread() {
  local v=() r
  for ((r = 1; r <= CL_RUNS; r++)); do v+=("${R[$1,$2,$r]:-0}"); done
  spread "${v[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }
raw() { local r s=""; for ((r = 1; r <= CL_RUNS; r++)); do s+="${R[$1,$2,$r]:-?} "; done; echo "${s% }"; }

{
  echo "## Cluster mode: 1 node embedded, 1 node on PostgreSQL, 3 nodes"
  echo
  echo "Written by \`bench/cluster.sh\` at $(date -u '+%Y-%m-%d %H:%M UTC') on $(git -C "$ROOT" rev-parse --short HEAD)$([ -z "$(git -C "$ROOT" status --porcelain -- src bench CMakeLists.txt)" ] || echo " (+ uncommitted changes)"): \`CL_RUNS=$CL_RUNS CL_DURATION=$CL_DURATION CL_CONNS=$CL_CONNS CL_PLAYERS=$CL_PLAYERS CL_PROCS=$CL_PROCS bench/cluster.sh\`."
  echo "PostgreSQL $PG_VERSION from scripts/pg-local on this box (fsync=on, synchronous_commit=on, over loopback TCP)."
  echo "3 nodes = one owner serving and two standbys relaying TCP to it (docs/cluster.md); the load's connections"
  echo "go to the three ports in turn, so two thirds of them pass through a relay. Everything shares the box's"
  echo "$(nproc) cores: this is the cost of the engine and of relaying, not scale. $CL_RUNS runs; medians; spread ="
  echo "(max-min)/median; a fresh store (SQLite file, or a new PostgreSQL database) per run and configuration."
  echo
  echo "| workload | 1 node, embedded | 1 node, PostgreSQL | 3 nodes, PostgreSQL | PostgreSQL / embedded | 3 nodes / 1 node PostgreSQL |"
  echo "|---|---:|---:|---:|---:|---:|"
  for k in claims place buy score; do
    case $k in
      claims) name="FleetIQ claim cycles/s (glload -w claim, 4 signed durable calls each)" ;;
      place) name="placements/s (sessload -m placement, $CL_PROCS SDK processes, 4 players each)" ;;
      buy) name="purchases/s (wrk, POST /v1/purchases, bearer, new key each)" ;;
      score) name="score submits/s (wrk, POST /v1/leaderboards/bench/scores, bearer)" ;;
    esac
    e=$(col "$k" embedded) p=$(col "$k" pg1) t=$(col "$k" pg3)
    echo "| $name | $e ($(colspread "$k" embedded), p99 $(col "${k}_p99" embedded) ms) | $p ($(colspread "$k" pg1), p99 $(col "${k}_p99" pg1) ms) | $t ($(colspread "$k" pg3), p99 $(col "${k}_p99" pg3) ms) | $(ratio "$p" "$e") | $(ratio "$t" "$p") |"
  done
  echo
  echo "PostgreSQL commit round trip (a group commit, send to last result, the owner's /metrics mean): 1 node"
  echo "$(col rtt_a pg1) ms during claims and placements, $(col rtt_b pg1) ms during purchases and scores; 3 nodes $(col rtt_a pg3) / $(col rtt_b pg3) ms."
  echo
  echo "Per run (runs 1..$CL_RUNS): claims/s embedded $(raw claims embedded), PostgreSQL $(raw claims pg1), 3 nodes $(raw claims pg3);"
  echo "placements/s $(raw place embedded) / $(raw place pg1) / $(raw place pg3); purchases/s $(raw buy embedded) / $(raw buy pg1) / $(raw buy pg3);"
  echo "scores/s $(raw score embedded) / $(raw score pg1) / $(raw score pg3)."
  echo
  [ -f "$TMP/errs" ] && mapfile -t -O ${#ERRS[@]} ERRS <"$TMP/errs"
  if [ ${#ERRS[@]} -gt 0 ]; then
    echo "FLAGGED: $(printf '%s; ' "${ERRS[@]}")"
  else
    echo "No errors: every request answered 2xx, every placement read back, every ledger balanced (\`hangard check\`)."
  fi
  echo
  echo "### Interpretation: cluster mode"
  echo
  echo "- **The engine.** On PostgreSQL a commit is a round trip to another process plus its WAL fsync, where"
  echo "  SQLite appends to a file in-process; group commit keeps the request rate close as long as commits"
  echo "  batch: the PostgreSQL / embedded column is that cost, on a box where PostgreSQL's own CPU comes out"
  echo "  of the same 2 cores. Where it is above 1 (purchases, and placements about even), the engine's own"
  echo "  work moved to PostgreSQL's processes, on the other core, and PostgreSQL's WAL logs each changed row where"
  echo "  SQLite's logs each changed 4 KiB page: a purchase touches ~5 B-tree pages in different places (see the"
  echo "  purchases interpretation), which costs SQLite's single writer thread far more than PostgreSQL."
  echo "- **Relaying.** With one partition, the 3-node figure is the owner's throughput with two thirds of the"
  echo "  connections relayed (a byte copy through a standby's loop): the 3 nodes / 1 node column is what a"
  echo "  relay costs here, not a gain — there is one owner doing the work."
  echo "- **N nodes on N machines (estimate, not measured).** Today a cluster carries what its owner node"
  echo "  carries (the 1-node PostgreSQL row, on a machine of its own without the load generator: roughly the"
  echo "  embedded figures of the sections above, bounded by one loop thread); standbys add availability"
  echo "  (takeover within the lease, ~2 s measured) and can absorb TLS/connection load, not writes. Once the"
  echo "  partitions of DESIGN.md §5 are spread (the next step of #16), N owners each commit their own"
  echo "  partitions' groups: throughput grows with N until PostgreSQL's commit rate is the limit — one"
  echo "  PostgreSQL on NVMe does some 10-50k small commits/s (WAL fsync and group commit of its own), and every"
  echo "  hangard group commit is one of them carrying dozens of requests, so the ceiling is several hundred"
  echo "  thousand durable writes/s before PostgreSQL needs partitioning itself. Redis carries only pushes"
  echo "  between nodes (one PUBLISH per push to a socket on another node), far below its ~1M msg/s."
  echo
} >"$TMP/section.md"

python3 - "$OUT" "$TMP/section.md" <<'PY'
import sys
out, sec = sys.argv[1], open(sys.argv[2]).read()
try:
    text = open(out).read()
except FileNotFoundError:
    text = "# hangar benchmark results\n\n"
head = "## Cluster mode: 1 node embedded, 1 node on PostgreSQL, 3 nodes\n"
i = text.find(head)
if i >= 0:
    j = text.find("\n## ", i + len(head))
    text = text[:i] + sec + (text[j + 1:] if j >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + sec
open(out, "w").write(text)
PY
log "wrote the cluster section of $OUT"
