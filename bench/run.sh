#!/usr/bin/env bash
# bench/run.sh - hangard's benchmark beside its peer, in one run, with the same tools
# (`make bench` calls it). Writes bench/RESULTS.md (overwritten).
#
#   1. nginx, 1 worker: wrk GET /ok and POST of a 200-byte JSON body, exactly as
#      ../shared/peers/nginx_wrk.sh runs them (same config, same bp_wrk_series from lib.sh).
#   2. hangard on a fresh data dir per workload:
#        a. DescribeGameServer, one pre-signed request replayed by wrk (same tool as nginx);
#        b. glload -w cycle: Register -> Claim(id) -> Update(UTILIZED) -> Deregister;
#        c. glload -w claim: Claim(group) -> Update(UTILIZED) -> Deregister -> Register;
#        d. glload -w describe: DescribeGameServer, every request signed afresh.
#   3. the registry event stream beside Redis pub/sub:
#        a. Redis PUBLISH to 8 subscribers, exactly as ../shared/peers/redis.sh runs its
#           "PUBLISH room:fan <64 B>, 8 subscribers" rows (no persistence; -P 1 and -P 16);
#        b. evload: 8 WebSocket subscribers on GET /v1/registry/events, PATCH load from
#           EV_CONNS connections x EV_DEPTH pipelined (saturating): deliveries/s;
#        c. evload paced at EV_RATE PATCH/s from one connection: answer -> event latency.
#   4. game sessions beside nginx (part 1's GET row; run here when part 1 is not):
#        a. sessload -m burst: SL_PROCS Server SDK processes ready on /sdk, then SL_PROCS
#           placements (CreateGameSession -> push -> ActivateGameSession -> CreatePlayerSessions)
#           from SL_CONNS connections: sessions placed/s;
#        b. sessload -m recycle: SL_RECYCLE_PROCS processes, each placed session's process ends
#           (ProcessEnding) and comes back as a new process: the steady state over SL_DURATION s.
#        A fresh daemon per run (its data dir, and its sockets: SL_PROCS of them).
#   5. placements through a queue beside nginx (part 1's GET row; run here when part 1 is not):
#        a. sessload -m placement (throughput): PL_PROCS ready processes, then PL_PROCS placements
#           (StartGameSessionPlacement with PL_PLAYERS DesiredPlayerSessions → push →
#           ActivateGameSession = FULFILLED) from PL_CONNS connections: placements/s;
#        b. sessload -m placement -R PL_RATE (latency with capacity ready): open loop at PL_RATE
#           starts/s from PL_RATE_CONNS connections, PL_WARMUP s + a PL_DURATION s window:
#           StartGameSessionPlacement sent → FULFILLED p50 / p99.
#        A fresh daemon per run; PL_VERIFY placements per run read back (DescribeGameSessionPlacement).
#   6. leaderboards beside Redis sorted sets and nginx (part 1's GET row; run here when part 1 is not):
#        a. Redis, appendonly yes + appendfsync always (../shared/peers/redis.sh's aof-always mode),
#           a LB_ENTRIES-member zset filled as redis.sh fills it: MEMORY USAGE, then
#           redis-benchmark -c LB_CONNS -P 1: ZADD lb <rand> <existing member>, ZREVRANK lb <member>;
#        b. hangard with a LB_ENTRIES-entry board ("set" operator, like ZADD; written into its store
#           by lbprep.py, then loaded at start): hangar_memory_bytes per entry, and wrk -c LB_CONNS
#           with LB_PLAYERS device-logged-in players' bearer tokens: durable score submits, and rank
#           reads of random entries.
#   7. purchases beside PostgreSQL and SQLite, the peers run by their own scripts in this run
#      (../shared/peers/postgres.sh: pgbench's idempotent purchase transaction, -c 8;
#      ../shared/peers/sqlite.sh: the same transaction, 1 and 64 per commit), then hangard:
#        a. wrk -c PU_CONNS: POST /v1/purchases as one of PU_PLAYERS players (bearer), every
#           request a new idempotency key, each answered once durable (walletprep.py set-up);
#        b. wrk -c PU_CONNS: POST /v1/events, batches of 100 events (events/s = 100 × req/s);
#        then `hangard check` on the stopped store (every ledger sums to its balances).
#   8. realtime rooms beside Colyseus and Mosquitto: RM_ROOMS rooms x 8 clients, each client sending
#      RM_BASE msg/s to its room (BP_RUNS times), then a ramp until saturated; deliveries to all 8
#      members, sender included (../shared/peers/roomload/core.js's pattern and saturation rules):
#        a. Colyseus by its own script, ../shared/peers/colyseus.sh (its Node server and client);
#        b. Mosquitto by its own script, ../shared/peers/mosquitto.sh (VARIANTS=nodelay; npm mqtt
#           client), when RM_MOSQ_NODE=1;
#        c. Mosquitto started as mosquitto.sh starts it (Nagle off), driven by bench/roomload -t mqtt;
#        d. hangard, plain relay, driven by roomload -t hangard (WebSocket, bearer tokens);
#        e. hangard, every message through a Lua handler that broadcasts it (roomload -l 1);
#        f. hangard, idle: RM_IDLE_CONNS room connections (RM_IDLE_PER_ROOM a room, source
#           addresses spread over 127.1.0.0/16) held RM_IDLE_HOLD s: RSS per connection.
#      roomload's own rows stop at p99 > RM_P99 ms (20); the peers' scripts keep core.js's 250 ms
#      rule, and their best step under RM_P99 is read from their JSONL.
#   9. FlexMatch (no peer; GameLift's documented quotas beside): glload -w match, FM_CONNS
#      connections of StartMatchmaking for new players against a STANDALONE 4-v-4 skill-balanced
#      configuration, batches every FM_BATCH_MS ms; tickets accepted/s, then /metrics once the pool
#      drained: matches formed/s, mean time to match, longest batch. Then the same at a steady
#      FM_RATE tickets/s (glload -R): the time to match when the matcher keeps up.
#   Each BP_RUNS times (default 3): medians and spread (max-min)/median.
#
# Usage: bench/run.sh [--only fleetiq|registry|sessions|placement|leaderboards|purchases|rooms|
#                            flexmatch]
#   (or BENCH_ONLY=…; default all)
#   fleetiq = parts 1 and 2, registry = part 3, sessions = part 4, placement = part 5,
#   leaderboards = part 6, purchases = part 7, rooms = part 8, flexmatch = part 9 (4, 5 and 6 with
#   part 1's nginx GET row). RESULTS.md then holds only that part.
#
# Env: BP_RUNS (3)  WRK_THREADS (2) WRK_CONNS (64) WRK_DURATION (10)
#      GL_CONNS (64) GL_THREADS (1) GL_DURATION (10) GL_WARMUP (1)
#      EV_SUBS (8) EV_CONNS (8) EV_DEPTH (8) EV_DURATION (8) EV_WARMUP (1) EV_RATE (1000)
#      SL_PROCS (16000) SL_CONNS (64) SL_PLAYERS (4) SL_RECYCLE_PROCS (2000) SL_DURATION (10)
#      SL_WARMUP (2)
#      PL_PROCS (16000) PL_CONNS (64) PL_PLAYERS (4) PL_RATE (500) PL_RATE_CONNS (16) PL_DURATION (10)
#      PL_WARMUP (2) PL_VERIFY (200)
#      LB_ENTRIES (1000000) LB_PLAYERS (1000) LB_CONNS (50)
#      PU_PLAYERS (1000) PU_CONNS (64) PU_PG_DURATION (10: pgbench seconds per run)
#      RM_ROOMS (100) RM_BASE (10) RM_RAMP (15,20,25,30,35,40,50,60,80: the peers' scripts)
#      RM_C_RAMP (RM_RAMP,100,120,160,200,250,300,400: roomload's) RM_MEASURE (8) RM_WARMUP (2)
#      RM_P99 (20 ms) RM_MQTT_PORT (18883) RM_MOSQ_NODE (1) RM_IDLE_CONNS (100000: lowered to what
#      ulimit -n allows) RM_IDLE_PER_ROOM (16) RM_IDLE_HOLD (10)
#      RM_PEERS (../shared/peers: where colyseus.sh and mosquitto.sh are run from; a copy whose
#      colyseus/package-lock.json npm ci accepts, when the shared one is out of step with this npm)
#      FM_CONNS (64) FM_DURATION (10) FM_WARMUP (1) FM_BATCH_MS (1000) FM_RATE (10000)
#      REDIS_PORT (18379) REDIS_N1 (200000) REDIS_N16 (1000000)
#      NGINX_PORT (18180) HANGARD_PORT (17780) BUILD (<repo>/build)
#      QUIET_BUDGET (60): seconds the run may wait, in all, for the shared box to go quiet
#      DISTURBED_PCT (25) MAX_RETRIES (4): a glload run during which unrelated processes used more
#      than DISTURBED_PCT % of a core is repeated, at most MAX_RETRIES times in all
# Bounded: re-executes itself under timeout (1800 s); every load command has its own timeout.
# Loopback only; starts its own nginx and hangard and stops exactly those PIDs (lib.sh).
# Budget: ~7-10 min with the defaults (more when the shared box is busy: quiet waits, repeats);
# --only registry ~2 min, --only sessions ~2.5 min, --only placement ~2 min, --only leaderboards ~3 min,
# --only purchases ~6 min (PostgreSQL's script alone is ~2.5 min), --only rooms ~12 min (the
# first run also npm-installs the peers' Node clients).
# Rooms, idle row: one descriptor per connection in roomload and in hangard alike; the hard limit
# (ulimit -Hn; 20,000 on the project's VM, not raisable there) caps RM_IDLE_CONNS. 100,000 needs
# ulimit -n >= 100,200 for both (root: ulimit -n 200000 before running).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$HERE" rev-parse --show-toplevel)
SHARED=$ROOT/../shared/peers
if [ ! -f "$SHARED/lib.sh" ] || [ ! -f "$SHARED/nginx_wrk.sh" ]; then
  echo "bench/run.sh: the shared peer benchmarks are missing: expected $SHARED/lib.sh and" \
       "$SHARED/nginx_wrk.sh (the repo's ../shared/peers); cannot measure beside the peer" >&2
  exit 1
fi
# shellcheck source=/dev/null
source "$SHARED/lib.sh"
bp_guard 1800 "$@"
ONLY=${BENCH_ONLY:-all}
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=${2:-}; shift 2 || shift ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    *) echo "usage: bench/run.sh [--only fleetiq|registry|sessions|placement|leaderboards|purchases|rooms|flexmatch]" >&2; exit 1 ;;
  esac
done
case $ONLY in all | fleetiq | registry | sessions | placement | leaderboards | purchases | rooms | flexmatch) ;; *) echo "bench/run.sh: --only fleetiq, registry, sessions, placement, leaderboards, purchases, rooms or flexmatch (got '$ONLY')" >&2; exit 1 ;; esac
want() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }
want_nginx() { want fleetiq || want sessions || want placement || want leaderboards; } # part 1's GET row is the ratios' base
bp_init hangar-bench
bp_need curl curl
if want_nginx || want purchases; then
  bp_need nginx nginx-light
  bp_need wrk wrk
fi
if want registry || want leaderboards; then
  bp_need redis-server redis-server
  bp_need redis-benchmark redis-tools
fi
{ want leaderboards || want purchases || want rooms; } && bp_need python3 python3
want rooms && bp_need mosquitto mosquitto

BUILD=${BUILD:-$ROOT/build}
NGINX_PORT=${NGINX_PORT:-18180}
HANGARD_PORT=${HANGARD_PORT:-17780}
GL_CONNS=${GL_CONNS:-64}
GL_THREADS=${GL_THREADS:-1}
GL_DURATION=${GL_DURATION:-10}
GL_WARMUP=${GL_WARMUP:-1}
export WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-64} WRK_DURATION=${WRK_DURATION:-10}
EV_SUBS=${EV_SUBS:-8}
EV_CONNS=${EV_CONNS:-8}
EV_DEPTH=${EV_DEPTH:-8}
EV_DURATION=${EV_DURATION:-8}
EV_WARMUP=${EV_WARMUP:-1}
EV_RATE=${EV_RATE:-1000}
REDIS_PORT=${REDIS_PORT:-18379}
REDIS_N1=${REDIS_N1:-200000}
REDIS_N16=${REDIS_N16:-1000000}
SL_PROCS=${SL_PROCS:-16000}
SL_CONNS=${SL_CONNS:-64}
SL_PLAYERS=${SL_PLAYERS:-4}
SL_RECYCLE_PROCS=${SL_RECYCLE_PROCS:-2000}
SL_DURATION=${SL_DURATION:-10}
SL_WARMUP=${SL_WARMUP:-2}
PL_PROCS=${PL_PROCS:-16000}
PL_CONNS=${PL_CONNS:-64}
PL_PLAYERS=${PL_PLAYERS:-4}
PL_RATE=${PL_RATE:-500}
PL_RATE_CONNS=${PL_RATE_CONNS:-16}
PL_DURATION=${PL_DURATION:-10}
PL_WARMUP=${PL_WARMUP:-2}
PL_VERIFY=${PL_VERIFY:-200}
LB_ENTRIES=${LB_ENTRIES:-1000000}
LB_PLAYERS=${LB_PLAYERS:-1000}
LB_CONNS=${LB_CONNS:-50}
PU_PLAYERS=${PU_PLAYERS:-1000}
PU_CONNS=${PU_CONNS:-64}
PU_PG_DURATION=${PU_PG_DURATION:-10}
FM_CONNS=${FM_CONNS:-64}
FM_DURATION=${FM_DURATION:-10}
FM_WARMUP=${FM_WARMUP:-1}
FM_BATCH_MS=${FM_BATCH_MS:-1000}
FM_RATE=${FM_RATE:-10000}
RM_ROOMS=${RM_ROOMS:-100}
RM_BASE=${RM_BASE:-10}
RM_RAMP=${RM_RAMP:-15,20,25,30,35,40,50,60,80}
RM_C_RAMP=${RM_C_RAMP:-$RM_RAMP,100,120,160,200,250,300,400}
RM_MEASURE=${RM_MEASURE:-8}
RM_WARMUP=${RM_WARMUP:-2}
RM_P99=${RM_P99:-20}
RM_MQTT_PORT=${RM_MQTT_PORT:-18883}
RM_MOSQ_NODE=${RM_MOSQ_NODE:-1}
RM_IDLE_CONNS=${RM_IDLE_CONNS:-100000}
RM_IDLE_PER_ROOM=${RM_IDLE_PER_ROOM:-16}
RM_IDLE_HOLD=${RM_IDLE_HOLD:-10}
RM_PEERS=${RM_PEERS:-$SHARED}
export HANGAR_ADMIN_KEY_ID=AKIDBENCH HANGAR_ADMIN_SECRET=benchsecret
OUT=$HERE/RESULTS.md
want_nginx && bp_port_free "$NGINX_PORT"
{ want registry || want leaderboards; } && bp_port_free "$REDIS_PORT"
bp_port_free "$HANGARD_PORT"
want rooms && bp_port_free "$RM_MQTT_PORT"

# ---- build (incremental) ----
bp_log "building hangard, glload, evload, sessload and roomload in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
timeout 300 cmake --build "$BUILD" -j"$(nproc)" --target hangard glload evload sessload roomload >"$BP_DIR/build.log" 2>&1 ||
  { tail -30 "$BP_DIR/build.log" >&2; bp_die "build failed (log: $BP_DIR/build.log)"; }
HANGARD=$BUILD/hangard
GLLOAD=$BUILD/glload
EVLOAD=$BUILD/evload
SESSLOAD=$BUILD/sessload
ROOMLOAD=$BUILD/roomload

ROWS=()      # markdown rows of the final table
RAW=()       # per-run req/s of every row
DISCARDED=() # glload runs repeated because unrelated load disturbed them
# A glload run during which unrelated processes used more than DISTURBED_PCT % of a core is run
# again, at most MAX_RETRIES times in all (keeps the run inside its time budget).
DISTURBED_PCT=${DISTURBED_PCT:-25}
RETRIES_LEFT=${MAX_RETRIES:-4}
FLAGS=()     # problems seen (errors, non-2xx, crashes)
NGINX_GET_RPS=
declare -A MED_RPS=() MED_CPS=()
EV_ROWS=()   # markdown rows of the registry table
declare -A EV=() # registry medians: redis1_pps redis1_dps redis16_pps … sat_dps sat_pps paced_l99 …

# last row bp_wrk_series appended, as fields: label rps spread p50 p99 scpu ccpu busy
last_wrk_row() { tail -1 "$BP_RESULTS/$BP_NAME.md" | awk -F'|' '{for(i=2;i<NF;i++){gsub(/^ +| +$/,"",$i); printf "%s\t",$i}; print ""}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
# runs_off "RUN VALUES" at-least|under TARGET: "; N of M runs miss it" when some run misses TARGET
runs_off() { awk -v l="$1" -v op="$2" -v t="$3" 'BEGIN{n=split(l, v, " "); m=0; for (i = 1; i <= n; i++) if (op == "under" ? v[i] >= t : v[i] < t) m++; if (m) printf "; %d of %d runs miss it", m, n}'; }
# verdict VALUE at-least|under TARGET: "meets" or "misses" (a target of 0 or less is missed)
verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN{ok = op == "under" ? r < t : r >= t; print (t > 0 && ok) ? "meets" : "misses"}'; }
# /proc/stat: "irq+softirq total" jiffies; irq_pct A B: (soft)irq CPU % (1 core = 100) between two
irq_snap() { awk '/^cpu /{print $7+$8, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
irq_pct() { awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN{split(a,x," ");split(b,y," "); d=y[2]-x[2]; if(d<=0)d=1; printf "%.0f", (y[1]-x[1])/d*100*n}'; }
# others BUSY(all cores=100) SERVER CLIENT IRQ: what unrelated processes used, 1 core = 100
others() { awk -v b="$1" -v s="$2" -v c="$3" -v i="$4" -v n="$(nproc)" 'BEGIN{o=b*n-s-c-i; if(o<0)o=0; printf "%.0f", o}'; }

# wait_quiet: this box is shared; before a series, wait (at most QUIET_BUDGET s in all) until the
# machine is below 25% busy over one second, so unrelated load does not land in our window. It
# first writes back whatever earlier runs left dirty (sync), so the kernel's writeback of an
# earlier daemon's files does not compete with this series' fsyncs.
QUIET_LEFT=${QUIET_BUDGET:-60}
wait_quiet() {
  local a b busy
  sync
  while :; do
    a=$(bp_cpu_snap); sleep 1; b=$(bp_cpu_snap); busy=$(bp_cpu_busy_pct "$a" "$b")
    [ "$busy" -ge 25 ] && [ "$QUIET_LEFT" -gt 0 ] || break
    [ "$QUIET_LEFT" != "${QUIET_BUDGET:-60}" ] || bp_log "box busy (${busy}%) with something else: waiting for quiet (at most ${QUIET_LEFT}s in all)"
    QUIET_LEFT=$((QUIET_LEFT - 1))
  done
}

# wrk_row LABEL URL PID [LUA]: one bp_wrk_series, then a row of our table.
wrk_row() {
  local label=$1 url=$2 pid=$3 lua=${4:-} i0 i1 irq
  wait_quiet
  i0=$(irq_snap)
  bp_wrk_series "$label" "$url" "$pid" $lua
  i1=$(irq_snap); irq=$(irq_pct "$i0" "$i1")  # over the whole series (BP_RUNS runs)
  local f; IFS=$'\t' read -r -a f <<<"$(last_wrk_row)"
  local rps=${f[1]} errs=0 file
  for file in "$BP_DIR"/wrk-"$(echo "$label" | tr -c 'a-zA-Z0-9' _)"-*.txt; do
    if grep -qE 'Non-2xx|Socket errors' "$file"; then
      errs=1; FLAGS+=("$label: $(grep -hE 'Non-2xx|Socket errors' "$file" | tr '\n' ' ') ($file)")
    fi
  done
  local first=0
  [ -n "$NGINX_GET_RPS" ] || { NGINX_GET_RPS=$rps; first=1; }
  MED_RPS[$label]=$rps
  RAW+=("$label: $(tail -1 "$BP_RESULTS/$BP_NAME.tsv" | awk -F'\t' '{print $NF}')")
  ROWS+=("| $label | wrk | $rps | ${f[2]} | - | ${f[3]} | ${f[4]} | ${f[5]} | ${f[6]} | $irq | $(others "${f[7]}" "${f[5]}" "${f[6]}" "$irq") | $(ratio "$rps" "$NGINX_GET_RPS") | $([ $errs = 0 ] && echo 0 || echo 'see flags') |")
  # the same series in the sessions table's columns (sessions/s: -, req/s, latency p50 / p99)
  [ $first = 0 ] || NGINX_GET_ROW="| $label | wrk | - | ${f[2]} | $rps | ${f[3]} / ${f[4]} | ${f[5]} | ${f[6]} | $irq | $(others "${f[7]}" "${f[5]}" "${f[6]}" "$irq") | - | $([ $errs = 0 ] && echo 0 || echo 'see flags') |"
}

# ---- 1. nginx, 1 worker (nginx_wrk.sh's config, workers=1) ----
write_nginx_conf() {
  mkdir -p "$BP_DIR/tmp"
  cat >"$BP_DIR/nginx.conf" <<CONF
worker_processes 1;
pid $BP_DIR/nginx.pid;
error_log $BP_DIR/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  client_body_temp_path $BP_DIR/tmp/body;
  proxy_temp_path $BP_DIR/tmp/proxy;
  fastcgi_temp_path $BP_DIR/tmp/fastcgi;
  uwsgi_temp_path $BP_DIR/tmp/uwsgi;
  scgi_temp_path $BP_DIR/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location = /ok       { default_type text/plain;       return 200 "ok\n"; }
    location = /purchase { default_type application/json; client_body_buffer_size 16k; return 200 '{"ok":true}'; }
  }
}
CONF
}
NGINX_GET_ROW= # the GET row as a markdown row, repeated in the sessions and placements tables
if want_nginx; then
  write_nginx_conf
  bp_start nginx-w1 "$BP_DIR/nginx.log" nginx -e "$BP_DIR/error.log" -c "$BP_DIR/nginx.conf" -g 'daemon off;'
  NPID=$BP_LAST_PID
  BP_STOP_SIG[$NPID]=QUIT
  bp_wait_tcp "$NGINX_PORT" 10 "$NPID"
  curl -fsS "http://127.0.0.1:$NGINX_PORT/ok" >/dev/null
  wrk_row "nginx 1 worker: GET /ok" "http://127.0.0.1:$NGINX_PORT/ok" "$NPID"
  want fleetiq && wrk_row "nginx 1 worker: POST /purchase 200 B JSON" "http://127.0.0.1:$NGINX_PORT/purchase" "$NPID" "$SHARED/nginx/post.lua"
  bp_stop "$NPID" QUIT 20
fi

# ---- 2. hangard ----
HN=0
start_hangard() { # [EXTRA HANGARD ARGS…]; sets HPID; a fresh data dir each time
  HN=$((HN + 1))
  bp_start "hangard-$HN" "$BP_DIR/hangard-$HN.log" "$HANGARD" --listen "127.0.0.1:$HANGARD_PORT" --data "$BP_DIR/data-$HN" "$@"
  HPID=$BP_LAST_PID
  bp_wait_tcp "$HANGARD_PORT" 10 "$HPID"
  curl -fsS "http://127.0.0.1:$HANGARD_PORT/healthz" >/dev/null
}
stop_hangard() { # [keep]: leave the data directory (the caller reads it, then removes it)
  local rc=0 k keep=${1:-}
  kill -0 "$HPID" 2>/dev/null || FLAGS+=("hangard-$HN (pid $HPID) was no longer running at the end of its series: see $BP_DIR/hangard-$HN.log")
  # SIGTERM must end it cleanly (status 0): a crash on the way out is flagged too
  kill -TERM "$HPID" 2>/dev/null || true
  for ((k = 0; k < 200; k++)); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$HPID" 2>/dev/null; then wait "$HPID" 2>/dev/null || rc=$?; fi
  bp_stop "$HPID" TERM 20 # bookkeeping (and SIGKILL if it is still running)
  [ "$rc" = 0 ] || FLAGS+=("hangard-$HN exited with status $rc after SIGTERM$([ "$rc" -le 128 ] || echo " (signal $((rc - 128)))") : see $BP_DIR/hangard-$HN.log")
  if grep -qE 'level=(error|fatal)' "$BP_DIR/hangard-$HN.log"; then
    FLAGS+=("hangard-$HN logged errors: $(grep -cE 'level=(error|fatal)' "$BP_DIR/hangard-$HN.log") line(s), first: $(grep -m1 -E 'level=(error|fatal)' "$BP_DIR/hangard-$HN.log")")
  elif [ "$rc" = 0 ] && [ -z "$keep" ]; then
    # a clean run's database is not needed again: removed now, its dirty pages are dropped
    # instead of being written back while the next series measures fsyncs
    rm -rf "$BP_DIR/data-$HN"
  fi
}
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1==k{print $2}'; }

# take_run LABEL RUN TOOL RC OUT BASE FIELDS FIGURE UNIT: the checks every load tool's run goes
# through. Saves its output OUT to BASE.txt and its RESULT line to RES. A run without one is flagged
# (returns 1); a run the tool flagged, or that exited non-zero, is listed under FLAGGED with its
# RESULT fields matching the regex FIELDS (RUN_ERRORS: its error count, at least 1; the details are in
# BASE.stderr and BASE.errors); returns 2 (run it again) when unrelated processes used more than
# DISTURBED_PCT % of a core during its window and retries are left (FIGURE: the RESULT key of its
# figure, in UNIT, for the list of repeated runs).
take_run() {
  local label=$1 run=$2 tool=$3 rc=$4 out=$5 base=$6 fields=$7 fig=$8 unit=$9 o
  RUN_ERRORS=0
  echo "$out" >"$base.txt"
  RES=$(grep '^RESULT ' <<<"$out" | tail -1 || true)
  if [ -z "$RES" ]; then
    FLAGS+=("$label run $run: $tool exited $rc without a RESULT line (stderr: $(head -c 600 "$base.stderr" | tr '\n' ' '))")
    RUN_ERRORS=1
    return 1
  fi
  if [ "$rc" != 0 ] || [ "$(kv flagged "$RES")" != 0 ]; then
    RUN_ERRORS=$(kv errors "$RES")
    [ "${RUN_ERRORS:-0}" -gt 0 ] || RUN_ERRORS=1
    FLAGS+=("$label run $run: $(tr ' ' '\n' <<<"$RES" | grep -E "$fields" | tr '\n' ' ')(details: $base.stderr, $base.errors)")
  fi
  o=$(kv other_cpu_pct "$RES")
  [ "$o" -gt "$DISTURBED_PCT" ] && [ "$RETRIES_LEFT" -gt 0 ] || return 0
  RETRIES_LEFT=$((RETRIES_LEFT - 1))
  DISCARDED+=("$label: a run at $(kv "$fig" "$RES") $unit with others CPU $o% (repeated)")
  bp_log "$label: unrelated load used $o% of a core during the window: repeating the run"
  return 2
}

# glload_series LABEL WORKLOAD: BP_RUNS runs against $HPID, one table row
glload_series() {
  local label=$1 w=$2 i out res rc st rps=() cps=() p50=() p99=() mx=() scpu=() ccpu=() irq=() oth=() errs=0
  for ((i = 1; i <= BP_RUNS; i++)); do
    rc=0
    wait_quiet
    out=$(timeout $((GL_DURATION + GL_WARMUP + 60)) "$GLLOAD" -a "127.0.0.1:$HANGARD_PORT" -w "$w" \
          -c "$GL_CONNS" -t "$GL_THREADS" -d "$GL_DURATION" -W "$GL_WARMUP" -P "$HPID" \
          -e "$BP_DIR/glload-$w-$i.errors" 2>"$BP_DIR/glload-$w-$i.stderr") || rc=$?
    st=0
    take_run "$label" "$i" glload "$rc" "$out" "$BP_DIR/glload-$w-$i" '^(errors|status_|timeouts)' rps req/s || st=$?
    errs=$((errs + RUN_ERRORS)) res=$RES
    [ "$st" != 2 ] || i=$((i - 1))
    [ "$st" = 0 ] || continue
    rps+=("$(kv rps "$res")"); cps+=("$(kv cycles_per_s "$res")"); p50+=("$(kv p50_ms "$res")")
    p99+=("$(kv p99_ms "$res")"); mx+=("$(kv max_ms "$res")"); scpu+=("$(kv server_cpu_pct "$res")")
    ccpu+=("$(kv client_cpu_pct "$res")"); irq+=("$(kv softirq_cpu_pct "$res")"); oth+=("$(kv other_cpu_pct "$res")")
    bp_log "$label run $i: $(kv rps "$res") req/s, $(kv cycles_per_s "$res") cycles/s p50=$(kv p50_ms "$res")ms p99=$(kv p99_ms "$res")ms server=$(kv server_cpu_pct "$res")% glload=$(kv client_cpu_pct "$res")% softirq=$(kv softirq_cpu_pct "$res")% others=$(kv other_cpu_pct "$res")% errors=$(kv errors "$res")"
    bp_tsv "$label" "$i" "$res"
  done
  [ ${#rps[@]} -gt 0 ] || { ROWS+=("| $label | glload | failed | | | | | | | | | | $errs |"); return; }
  local r c o omax; r=$(bp_median "${rps[@]}"); c=$(bp_median "${cps[@]}")
  o=$(bp_median "${oth[@]}"); omax=$(printf '%s\n' "${oth[@]}" | sort -g | tail -1)
  [ "$omax" -lt 10 ] || o="$o (max $omax)"
  RAW+=("$label: ${rps[*]} req/s; others CPU ${oth[*]} %")
  [ "$w" = describe ] && c=-
  MED_RPS[$w]=$r; MED_CPS[$w]=$c
  ROWS+=("| $label | glload | $(bp_fmt "$r") | $(bp_spread "${rps[@]}") | $([ "$c" = - ] && echo - || bp_fmt "$c") | $(bp_median "${p50[@]}") | $(bp_median "${p99[@]}") (max $(bp_median "${mx[@]}")) | $(bp_median "${scpu[@]}") | $(bp_median "${ccpu[@]}") | $(bp_median "${irq[@]}") | $o | $(ratio "$r" "$NGINX_GET_RPS") | $errs |")
}

if want fleetiq; then
  # a. DescribeGameServer replayed by wrk (pre-signed; valid 5 min, the series takes ~35 s)
  start_hangard
  timeout 30 "$GLLOAD" -a "127.0.0.1:$HANGARD_PORT" -w wrklua -o "$BP_DIR/describe.lua" >"$BP_DIR/wrklua.txt"
  wrk_row "hangard: DescribeGameServer, pre-signed, replayed" "http://127.0.0.1:$HANGARD_PORT/" "$HPID" "$BP_DIR/describe.lua"
  stop_hangard

  # b-d. glload
  start_hangard
  glload_series "hangard: cycle Register→Claim(id)→Update→Deregister" cycle
  stop_hangard
  start_hangard
  glload_series "hangard: claim Claim(group)→Update→Deregister→Register" claim
  stop_hangard
  start_hangard
  glload_series "hangard: DescribeGameServer, each signed" describe
  stop_hangard
fi

# ---- 3. the registry event stream beside Redis PUBLISH to 8 subscribers ----
# utime+stime clock ticks of the given PIDs (each alone, not their children)
ticks_of() { local p t=0 v; for p in "$@"; do v=$(awk '{sub(/^.*\) /,""); print $12+$13}' "/proc/$p/stat" 2>/dev/null || echo 0); t=$((t + v)); done; echo "$t"; }
ticks_pct() { awk -v a="$1" -v b="$2" -v s="$3" -v hz="$BP_CLK_TCK" 'BEGIN{if(s<=0)s=1; printf "%.0f", (b-a)/hz/s*100}'; }
PAYLOAD=$(printf 'x%.0s' $(seq 1 64)) # redis.sh's 64-byte message

# redis_series LABEL PIPELINE: redis.sh's `series` for "PUBLISH room:fan <64 B>, 8 subscribers":
# the same redis-benchmark command; CPU of redis-server, and of redis-benchmark + the 8 redis-cli
# subscribers as the client (evload's CPU covers its subscribers too).
redis_series() {
  local label=$1 pl=$2 n=$REDIS_N1 i out line el t0 t1 u0 u1 c0 c1 i0 i1 irq sc cc bz
  local rps=() p50=() p99=() mx=() scpu=() ccpu=() irqs=() oth=()
  [ "$pl" -gt 1 ] && n=$REDIS_N16
  for ((i = 1; i <= BP_RUNS; i++)); do
    wait_quiet
    local tf=$BP_DIR/rb.time
    t0=$(ticks_of "$RPID"); u0=$(ticks_of "${SUBS[@]}"); c0=$(bp_cpu_snap); i0=$(irq_snap)
    out=$(timeout 120 /usr/bin/time -f '%U %S %e' -o "$tf" \
          redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 50 -n "$n" -P "$pl" -r 1000000 --csv PUBLISH room:fan "$PAYLOAD")
    t1=$(ticks_of "$RPID"); u1=$(ticks_of "${SUBS[@]}"); c1=$(bp_cpu_snap); i1=$(irq_snap)
    echo "$out" >"$BP_DIR/redis-publish8-P$pl-$i.csv"
    line=$(tail -1 <<<"$out" | tr -d '"')
    el=$(awk '{print $3}' "$tf")
    sc=$(ticks_pct "$t0" "$t1" "$el")
    cc=$(awk -v t="$(awk '{print $1+$2}' "$tf")" -v s="$(ticks_pct "$u0" "$u1" "$el")" -v e="$el" 'BEGIN{printf "%.0f", t/e*100 + s}')
    irq=$(irq_pct "$i0" "$i1"); bz=$(bp_cpu_busy_pct "$c0" "$c1")
    rps+=("$(cut -d, -f2 <<<"$line")"); p50+=("$(cut -d, -f5 <<<"$line")"); p99+=("$(cut -d, -f7 <<<"$line")"); mx+=("$(cut -d, -f8 <<<"$line")")
    scpu+=("$sc"); ccpu+=("$cc"); irqs+=("$irq"); oth+=("$(others "$bz" "$sc" "$cc" "$irq")")
    bp_log "redis PUBLISH to 8 -P $pl run $i: $line; redis=$sc% clients=$cc% softirq=$irq%"
    bp_tsv "$label" "$i" "$line"
  done
  local r o omax; r=$(bp_median "${rps[@]}")
  o=$(bp_median "${oth[@]}"); omax=$(printf '%s\n' "${oth[@]}" | sort -g | tail -1)
  [ "$omax" -lt 10 ] || o="$o (max $omax)"
  EV[redis${pl}_pps]=$r
  EV[redis${pl}_dps]=$(awk -v r="$r" 'BEGIN{printf "%.0f", r*8}')
  EV[redis${pl}_p99]=$(bp_median "${p99[@]}")
  RAW+=("$label: ${rps[*]} PUBLISH/s; others CPU ${oth[*]} %")
  EV_ROWS+=("| $label | redis-benchmark | $(bp_fmt "$r") | $(bp_spread "${rps[@]}") | $(bp_fmt "${EV[redis${pl}_dps]}") (8 × PUBLISH/s) | $(bp_median "${p50[@]}") / $(bp_median "${p99[@]}") (max $(bp_median "${mx[@]}")) | - | $(bp_median "${scpu[@]}") | $(bp_median "${ccpu[@]}") | $(bp_median "${irqs[@]}") | $o | @RATIO_${pl}@ | @SUBS_LEFT@ |")
}

# evload_series LABEL KEY EVLOAD_ARGS...: BP_RUNS runs against $HPID, one row of the registry table
evload_series() {
  local label=$1 key=$2; shift 2
  local i out res rc st bad=0 pps=() dps=() a50=() a99=() l50=() l99=() lmax=() scpu=() ccpu=() irq=() oth=()
  local lost=0 dup=0 gaps=0 reorder=0
  for ((i = 1; i <= BP_RUNS; i++)); do
    rc=0
    wait_quiet
    out=$(timeout $((EV_DURATION + EV_WARMUP + 60)) "$EVLOAD" -a "127.0.0.1:$HANGARD_PORT" -S "$EV_SUBS" \
          -d "$EV_DURATION" -W "$EV_WARMUP" -P "$HPID" -e "$BP_DIR/evload-$key-$i.errors" "$@" \
          2>"$BP_DIR/evload-$key-$i.stderr") || rc=$?
    st=0
    take_run "$label" "$i" evload "$rc" "$out" "$BP_DIR/evload-$key-$i" \
      '^(errors|timeouts|lost|dup|gaps|reorder|snapshots|closes|mismatch|status_)' deliveries_per_s deliveries/s || st=$?
    [ "$RUN_ERRORS" = 0 ] || bad=$((bad + 1)) # flagged runs, not errors
    [ "$st" != 1 ] || continue
    res=$RES
    lost=$((lost + $(kv lost "$res"))); dup=$((dup + $(kv dup "$res")))
    gaps=$((gaps + $(kv gaps "$res"))); reorder=$((reorder + $(kv reorder "$res")))
    [ "$st" != 2 ] || { i=$((i - 1)); continue; }
    pps+=("$(kv patch_per_s "$res")"); dps+=("$(kv deliveries_per_s "$res")")
    a50+=("$(kv ack_p50_ms "$res")"); a99+=("$(kv ack_p99_ms "$res")")
    l50+=("$(kv lat_p50_ms "$res")"); l99+=("$(kv lat_p99_ms "$res")"); lmax+=("$(kv lat_max_ms "$res")")
    scpu+=("$(kv server_cpu_pct "$res")"); ccpu+=("$(kv client_cpu_pct "$res")")
    irq+=("$(kv softirq_cpu_pct "$res")"); oth+=("$(kv other_cpu_pct "$res")")
    bp_log "$label run $i: $(kv patch_per_s "$res") PATCH/s, $(kv deliveries_per_s "$res") deliveries/s, answer->event p50=$(kv lat_p50_ms "$res")ms p99=$(kv lat_p99_ms "$res")ms max=$(kv lat_max_ms "$res")ms server=$(kv server_cpu_pct "$res")% evload=$(kv client_cpu_pct "$res")% softirq=$(kv softirq_cpu_pct "$res")% others=$(kv other_cpu_pct "$res")% lost=$(kv lost "$res") dup=$(kv dup "$res") gaps=$(kv gaps "$res") errors=$(kv errors "$res")"
    bp_tsv "$label" "$i" "$res"
  done
  [ ${#dps[@]} -gt 0 ] || { EV_ROWS+=("| $label | evload | failed | | | | | | | | | | $bad run(s) flagged |"); return; }
  local d o omax; d=$(bp_median "${dps[@]}")
  o=$(bp_median "${oth[@]}"); omax=$(printf '%s\n' "${oth[@]}" | sort -g | tail -1)
  [ "$omax" -lt 10 ] || o="$o (max $omax)"
  EV[${key}_dps]=$d; EV[${key}_pps]=$(bp_median "${pps[@]}")
  EV[${key}_l50]=$(bp_median "${l50[@]}"); EV[${key}_l99]=$(bp_median "${l99[@]}"); EV[${key}_lmax]=$(bp_median "${lmax[@]}")
  EV[${key}_l99_all]="${l99[*]}"; EV[${key}_bad]=$bad
  EV[${key}_checks]="lost $lost, dup $dup, gaps $gaps, reorder $reorder"
  RAW+=("$label: ${dps[*]} deliveries/s (${pps[*]} PATCH/s); answer→event p99 ${l99[*]} ms; others CPU ${oth[*]} %")
  EV_ROWS+=("| $label | evload | $(bp_fmt "${EV[${key}_pps]}") | $(bp_spread "${pps[@]}") | $(bp_fmt "$d") | $(bp_median "${a50[@]}") / $(bp_median "${a99[@]}") | ${EV[${key}_l50]} / ${EV[${key}_l99]} / ${EV[${key}_lmax]} | $(bp_median "${scpu[@]}") | $(bp_median "${ccpu[@]}") | $(bp_median "${irq[@]}") | $o | @RATIO_EV_${key}@ | ${EV[${key}_checks]}$([ "$bad" = 0 ] || echo "; $bad run(s) flagged") |")
}

if want registry; then
  # a. Redis, redis.sh's "none" persistence mode (PUBLISH is never persisted in either mode)
  mkdir -p "$BP_DIR/data-redis"
  bp_start redis "$BP_DIR/redis.out" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$BP_DIR/data-redis" \
    --save "" --daemonize no --logfile "$BP_DIR/redis.log" --appendonly no
  RPID=$BP_LAST_PID
  bp_wait_tcp "$REDIS_PORT" 15 "$RPID"
  SUBS=()
  for s in 1 2 3 4 5 6 7 8; do
    bp_start "redis-sub$s" /dev/null redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SUBSCRIBE room:fan
    SUBS+=("$BP_LAST_PID")
  done
  rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
  for ((w = 0; w < 50; w++)); do [ "$(rcli PUBSUB NUMSUB room:fan | tail -1)" = 8 ] && break; sleep 0.1; done
  [ "$(rcli PUBSUB NUMSUB room:fan | tail -1)" = 8 ] || bp_die "the 8 redis-cli subscribers did not subscribe"
  REDIS_VERSION=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
  redis_series "Redis $REDIS_VERSION: PUBLISH room:fan 64 B, 8 subscribers, -c 50 -P 1" 1
  redis_series "Redis $REDIS_VERSION: PUBLISH room:fan 64 B, 8 subscribers, -c 50 -P 16" 16
  SUBS_LEFT=$(rcli PUBSUB NUMSUB room:fan | tail -1)
  [ "$SUBS_LEFT" = 8 ] || FLAGS+=("Redis: only $SUBS_LEFT of 8 subscribers still connected after the PUBLISH runs (output-buffer limit): its deliveries/s overstates")
  for s in "${SUBS[@]}"; do bp_stop "$s" TERM 5; done
  bp_stop "$RPID" TERM 30

  # b-c. hangard: one fresh daemon per series
  start_hangard
  evload_series "hangard: PATCH load → server.updated to $EV_SUBS WebSocket subscribers, $EV_CONNS conns × $EV_DEPTH pipelined" sat -c "$EV_CONNS" -D "$EV_DEPTH"
  stop_hangard
  start_hangard
  evload_series "hangard: the same, paced at $EV_RATE PATCH/s from 1 conn (idle box)" paced -c 1 -D 8 -R "$EV_RATE"
  stop_hangard
  # ratios to Redis's -P 1 deliveries/s, filled in now that every row is known
  for ((k = 0; k < ${#EV_ROWS[@]}; k++)); do
    row=${EV_ROWS[$k]}
    row=${row//@RATIO_1@/1.00}
    row=${row//@RATIO_16@/$(ratio "${EV[redis16_dps]:-0}" "${EV[redis1_dps]:-0}")}
    row=${row//@RATIO_EV_sat@/$(ratio "${EV[sat_dps]:-0}" "${EV[redis1_dps]:-0}")}
    row=${row//@RATIO_EV_paced@/-}
    row=${row//@SUBS_LEFT@/$SUBS_LEFT of 8 still subscribed after}
    EV_ROWS[k]=$row
  done
fi

# ---- 4. game sessions beside nginx (part 1's GET row) ----
SL_ROWS=()   # markdown rows of the sessions table
SL_WHERE=()  # rows of its "where the time goes" table
declare -A SL=() # medians by key: burst_pps, burst_ops, burst_p99, burst_wbusy …

# sessload_series TABLE LABEL KEY PROCS CONNS SESSLOAD_ARGS...: BP_RUNS runs, each against a fresh
# daemon whose connection cap fits the run's sockets (PROCS processes + CONNS connections), one row
# of TABLE: sessions (part 4) or placement (part 5).
sessload_series() {
  local table=$1 label=$2 key=$3 procs=$4 conns=$5; shift 5
  local i out res rc st errs=0 maxc=$((procs + conns + 64)) unit=sessions
  [ "$table" = placement ] && unit=placements
  local pps=() ops=() p50=() p99=() mx=() scpu=() lcpu=() ccpu=() irq=() oth=()
  local com=() tpc=() cms=() wbusy=() dkib=() dmib=() gms=() pms=() lbusy=() rdy=() rec=()
  local c50=() c99=() lag=() sms=() slow1=() slow2=() st2=() st10=() vok=0 vall=0 dfr=0 late=0 # placement only
  for ((i = 1; i <= BP_RUNS; i++)); do
    rc=0
    wait_quiet
    start_hangard --http-max-conns "$maxc"
    out=$(timeout $((SL_DURATION + SL_WARMUP + PL_DURATION + PL_WARMUP + 180)) "$SESSLOAD" \
          -a "127.0.0.1:$HANGARD_PORT" -n "$procs" -c "$conns" -P "$HPID" \
          -e "$BP_DIR/sessload-$key-$i.errors" "$@" 2>"$BP_DIR/sessload-$key-$i.stderr") || rc=$?
    stop_hangard
    st=0
    take_run "$label" "$i" sessload "$rc" "$out" "$BP_DIR/sessload-$key-$i" \
      '^(errors|status_|timeouts|starved|verified|verify_n)' placed_per_s "$unit/s" || st=$?
    errs=$((errs + RUN_ERRORS)) res=$RES
    [ "$st" != 2 ] || i=$((i - 1))
    [ "$st" = 0 ] || continue
    pps+=("$(kv placed_per_s "$res")"); ops+=("$(kv ops_per_s "$res")")
    p50+=("$(kv p50_ms "$res")"); p99+=("$(kv p99_ms "$res")"); mx+=("$(kv max_ms "$res")")
    scpu+=("$(kv server_cpu_pct "$res")"); lcpu+=("$(kv server_loop_cpu_pct "$res")")
    ccpu+=("$(kv client_cpu_pct "$res")"); irq+=("$(kv softirq_cpu_pct "$res")"); oth+=("$(kv other_cpu_pct "$res")")
    com+=("$(kv daemon_commits_per_s "$res")"); tpc+=("$(kv daemon_txns_per_commit "$res")")
    cms+=("$(kv daemon_commit_ms "$res")"); wbusy+=("$(kv daemon_writer_busy_pct "$res")")
    dkib+=("$(kv daemon_disk_write_kib_per_session "$res")"); dmib+=("$(kv daemon_disk_write_mib_s "$res")")
    gms+=("$(kv daemon_create_ms "$res")"); pms+=("$(kv daemon_players_ms "$res")")
    lbusy+=("$(kv daemon_loop_busy_pct "$res")"); rdy+=("$(kv ready_per_s "$res")"); rec+=("$(kv recycle_p50_ms "$res")")
    c50+=("$(kv create_p50_ms "$res")"); c99+=("$(kv create_p99_ms "$res")"); lag+=("$(kv lag_p99_ms "$res")")
    sms+=("$(kv daemon_start_ms "$res")"); slow1+=("$(kv daemon_commits_over_1ms_pct "$res")")
    slow2+=("$(kv daemon_commits_over_2_5ms_pct "$res")"); st2+=("$(kv daemon_commits_over_2_5ms_per_s "$res")")
    st10+=("$(kv daemon_commits_over_10ms_per_s "$res")")
    vok=$((vok + $(kv verified "$res"))); dfr=$((dfr + $(kv deferred "$res"))); late=$((late + $(kv late "$res")))
    vall=$((vall + $(kv verify_n "$res")))
    bp_log "$label run $i: $(kv placed_per_s "$res") $unit/s ($(kv placed "$res") in $(kv duration_s "$res") s), $(kv ops_per_s "$res") req/s, latency p50=$(kv p50_ms "$res")ms p99=$(kv p99_ms "$res")ms server=$(kv server_cpu_pct "$res")% (loop $(kv server_loop_cpu_pct "$res")%) store writer committing $(kv daemon_writer_busy_pct "$res")% sessload=$(kv client_cpu_pct "$res")% softirq=$(kv softirq_cpu_pct "$res")% others=$(kv other_cpu_pct "$res")% errors=$(kv errors "$res")"
    bp_tsv "$label" "$i" "$res"
  done
  if [ ${#pps[@]} = 0 ]; then
    if [ "$table" = placement ]; then PL_ROWS+=("| $label | sessload | failed | | | | | | | | | | | $errs |")
    else SL_ROWS+=("| $label | sessload | failed | | | | | | | | | | $errs |"); fi
    return
  fi
  local r o omax m; r=$(bp_median "${pps[@]}")
  o=$(bp_median "${oth[@]}"); omax=$(printf '%s\n' "${oth[@]}" | sort -g | tail -1)
  [ "$omax" -lt 10 ] || o="$o (max $omax)"
  SL[${key}_pps]=$r; SL[${key}_ops]=$(bp_median "${ops[@]}"); SL[${key}_p50]=$(bp_median "${p50[@]}")
  SL[${key}_p99]=$(bp_median "${p99[@]}"); SL[${key}_scpu]=$(bp_median "${scpu[@]}")
  SL[${key}_lcpu]=$(bp_median "${lcpu[@]}"); SL[${key}_ccpu]=$(bp_median "${ccpu[@]}")
  SL[${key}_wbusy]=$(bp_median "${wbusy[@]}"); SL[${key}_lbusy]=$(bp_median "${lbusy[@]}")
  SL[${key}_cms]=$(bp_median "${cms[@]}"); SL[${key}_tpc]=$(bp_median "${tpc[@]}")
  SL[${key}_com]=$(bp_median "${com[@]}"); SL[${key}_dkib]=$(bp_median "${dkib[@]}")
  SL[${key}_dmib]=$(bp_median "${dmib[@]}"); SL[${key}_rdy]=$(bp_median "${rdy[@]}")
  SL[${key}_rec]=$(bp_median "${rec[@]}"); SL[${key}_all]="${pps[*]}"
  SL[${key}_p99_all]="${p99[*]}"; SL[${key}_c50]=$(bp_median "${c50[@]}"); SL[${key}_c99]=$(bp_median "${c99[@]}")
  SL[${key}_sms]=$(bp_median "${sms[@]}"); SL[${key}_max]=$(bp_median "${mx[@]}")
  SL[${key}_slow1]=$(bp_median "${slow1[@]}"); SL[${key}_slow2]=$(bp_median "${slow2[@]}")
  SL[${key}_st2]=$(bp_median "${st2[@]}"); SL[${key}_st10]=$(bp_median "${st10[@]}")
  RAW+=("$label: ${pps[*]} $unit/s; ${ops[*]} req/s; p99 ${p99[*]} ms; others CPU ${oth[*]} %")
  m="${SL[${key}_p50]} / ${SL[${key}_p99]} (max ${SL[${key}_max]})"
  if [ "$table" = placement ]; then
    SL[${key}_checks]="$vok of $vall read back FULFILLED with $PL_PLAYERS players; $dfr deferred; $late late"
    # the latency row runs at a rate chosen here: its placements/s is no figure to compare
    local lagnote='' rt; rt=$(ratio "$r" "$NGINX_GET_RPS")
    [ "$key" != pl_paced ] || { lagnote="; start sent behind schedule p99 $(bp_median "${lag[@]}") ms"; rt=-; }
    PL_ROWS+=("| $label | sessload | $(bp_fmt "$r") | $(bp_spread "${pps[@]}") | $(bp_fmt "${SL[${key}_ops]}") | $m | ${SL[${key}_c50]} / ${SL[${key}_c99]} | ${SL[${key}_scpu]} (loop ${SL[${key}_lcpu]}) | ${SL[${key}_ccpu]} | $(bp_median "${irq[@]}") | $o | $rt | ${SL[${key}_checks]}$lagnote | $errs |")
    PL_WHERE+=("| $label | $(bp_fmt "${SL[${key}_com]}") | ${SL[${key}_tpc]} | ${SL[${key}_cms]} | ${SL[${key}_slow1]} / ${SL[${key}_slow2]} | ${SL[${key}_wbusy]} | ${SL[${key}_lbusy]} | ${SL[${key}_sms]} | ${SL[${key}_dkib]} | ${SL[${key}_dmib]} | $(bp_fmt "${SL[${key}_rdy]}") |")
  else
    SL_ROWS+=("| $label | sessload | $(bp_fmt "$r") | $(bp_spread "${pps[@]}") | $(bp_fmt "${SL[${key}_ops]}") | $m | ${SL[${key}_scpu]} (loop ${SL[${key}_lcpu]}) | ${SL[${key}_ccpu]} | $(bp_median "${irq[@]}") | $o | $(ratio "$r" "$NGINX_GET_RPS") | $errs |")
    SL_WHERE+=("| $label | $(bp_fmt "${SL[${key}_com]}") | ${SL[${key}_tpc]} | ${SL[${key}_cms]} | ${SL[${key}_wbusy]} | ${SL[${key}_lbusy]} | $(bp_median "${gms[@]}") / $(bp_median "${pms[@]}") | ${SL[${key}_dkib]} | ${SL[${key}_dmib]} | $(bp_fmt "${SL[${key}_rdy]}") |")
  fi
}

# fit_procs VAR CONNS: one descriptor per process socket, in sessload and in hangard alike: lower
# the process count in VAR to what the descriptor limit allows.
fit_procs() {
  local var=$1 conns=$2 nofile
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  nofile=$(ulimit -n)
  [ "$nofile" != unlimited ] || return 0
  if [ $((${!var} + conns + 128)) -gt "$nofile" ]; then
    bp_log "ulimit -n is $nofile: $var lowered from ${!var} to $((nofile - conns - 128))"
    printf -v "$var" '%s' $((nofile - conns - 128))
  fi
}

if want sessions; then
  fit_procs SL_PROCS "$SL_CONNS"
  fit_procs SL_RECYCLE_PROCS "$SL_CONNS"
  SL_ARGS=(-p "$SL_PLAYERS" -d "$SL_DURATION" -W "$SL_WARMUP")
  sessload_series sessions "hangard: burst, $SL_PROCS ready processes, $SL_PROCS × (CreateGameSession → ActivateGameSession → CreatePlayerSessions ×$SL_PLAYERS), $SL_CONNS conns" burst "$SL_PROCS" "$SL_CONNS" -m burst "${SL_ARGS[@]}"
  sessload_series sessions "hangard: recycle, $SL_RECYCLE_PROCS processes, each placed session's process ends and a new one goes ready, $SL_CONNS conns" recycle "$SL_RECYCLE_PROCS" "$SL_CONNS" -m recycle "${SL_ARGS[@]}"
fi

# ---- 5. placements through a queue beside nginx (part 1's GET row) ----
PL_ROWS=()  # markdown rows of the placements table
PL_WHERE=() # rows of its "where the time goes" table
if want placement; then
  # the paced shape never recycles: every start of warm-up and window finds a ready process
  PL_RATE_PROCS=$(awk -v r="$PL_RATE" -v w="$PL_WARMUP" -v d="$PL_DURATION" -v c="$PL_RATE_CONNS" 'BEGIN{printf "%d", r*(w+d)*1.05 + c + 50}')
  fit_procs PL_PROCS "$PL_CONNS"
  fit_procs PL_RATE_PROCS "$PL_RATE_CONNS"
  PL_ARGS=(-m placement -p "$PL_PLAYERS" -V "$PL_VERIFY" -d "$PL_DURATION" -W "$PL_WARMUP")
  sessload_series placement "hangard: placement throughput, $PL_PROCS ready processes, $PL_PROCS × (StartGameSessionPlacement ×$PL_PLAYERS players → ActivateGameSession = FULFILLED), $PL_CONNS conns" pl_burst "$PL_PROCS" "$PL_CONNS" "${PL_ARGS[@]}"
  sessload_series placement "hangard: placement latency, open loop at $PL_RATE starts/s, $PL_RATE_PROCS ready processes, $PL_RATE_CONNS conns" pl_paced "$PL_RATE_PROCS" "$PL_RATE_CONNS" "${PL_ARGS[@]}" -R "$PL_RATE"
fi

# ---- 6. leaderboards beside Redis sorted sets (AOF always) and nginx (part 1's GET row) ----
LB_ROWS=()       # markdown rows of the leaderboards table
declare -A LB=() # medians and figures: redis_zadd redis_zrevrank lb_submit lb_rank mem_* ready_s …

# part_wrk_row ROWS MAP CONNS LABEL KEY URL PID LUA: one bp_wrk_series at CONNS connections, a row
# appended to the array named ROWS (its figure cell is @FIG_KEY@ and its ratio cell @R_KEY@, filled
# once the part's rows are known), the median req/s into MAP[KEY]
part_wrk_row() {
  local -n rows_=$1 map_=$2
  local conns=$3 label=$4 key=$5 url=$6 pid=$7 lua=$8 i0 i1 irq errs=0 file f
  wait_quiet
  i0=$(irq_snap)
  WRK_CONNS=$conns bp_wrk_series "$label" "$url" "$pid" "$lua"
  i1=$(irq_snap); irq=$(irq_pct "$i0" "$i1")
  IFS=$'\t' read -r -a f <<<"$(last_wrk_row)"
  for file in "$BP_DIR"/wrk-"$(echo "$label" | tr -c 'a-zA-Z0-9' _)"-*.txt; do
    if grep -qE 'Non-2xx|Socket errors' "$file"; then
      errs=1; FLAGS+=("$label: $(grep -hE 'Non-2xx|Socket errors' "$file" | tr '\n' ' ') ($file)")
    fi
  done
  map_[$key]=${f[1]}
  RAW+=("$label: $(tail -1 "$BP_RESULTS/$BP_NAME.tsv" | awk -F'\t' '{print $NF}') req/s")
  rows_+=("| $label | wrk -t$WRK_THREADS -c$conns | @FIG_${key}@ | ${f[2]} | ${f[3]} / ${f[4]} | ${f[5]} | ${f[6]} | $irq | $(others "${f[7]}" "${f[5]}" "${f[6]}" "$irq") | @R_${key}@ | $([ $errs = 0 ] && echo 0 || echo 'see flags') |")
}

# lb_redis_series LABEL KEY CMD...: redis.sh's `series` (redis-benchmark -c 50 -P 1 -r LB_ENTRIES),
# one row of the leaderboards table
lb_redis_series() {
  local label=$1 key=$2; shift 2
  local i out line el t0 t1 c0 c1 i0 i1 irq sc cc bz tf=$BP_DIR/rb.time
  local rps=() p50=() p99=() scpu=() ccpu=() irqs=() oth=()
  for ((i = 1; i <= BP_RUNS; i++)); do
    wait_quiet
    t0=$(ticks_of "$RPID"); c0=$(bp_cpu_snap); i0=$(irq_snap)
    out=$(timeout 120 /usr/bin/time -f '%U %S %e' -o "$tf" \
          redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$LB_CONNS" -n "$REDIS_N1" -P 1 -r "$LB_ENTRIES" --csv "$@")
    t1=$(ticks_of "$RPID"); c1=$(bp_cpu_snap); i1=$(irq_snap)
    echo "$out" >"$BP_DIR/redis-$key-$i.csv"
    line=$(tail -1 <<<"$out" | tr -d '"')
    el=$(awk '{print $3}' "$tf")
    sc=$(ticks_pct "$t0" "$t1" "$el")
    cc=$(awk '{printf "%.0f", ($1+$2)/$3*100}' "$tf")
    irq=$(irq_pct "$i0" "$i1"); bz=$(bp_cpu_busy_pct "$c0" "$c1")
    rps+=("$(cut -d, -f2 <<<"$line")"); p50+=("$(cut -d, -f5 <<<"$line")"); p99+=("$(cut -d, -f7 <<<"$line")")
    scpu+=("$sc"); ccpu+=("$cc"); irqs+=("$irq"); oth+=("$(others "$bz" "$sc" "$cc" "$irq")")
    bp_log "$label run $i: $line; redis=$sc% client=$cc% softirq=$irq%"
    bp_tsv "$label" "$i" "$line"
  done
  LB[$key]=$(bp_median "${rps[@]}")
  RAW+=("$label: ${rps[*]} ops/s; others CPU ${oth[*]} %")
  LB_ROWS+=("| $label | redis-benchmark -c $LB_CONNS -P 1 | $(bp_fmt "${LB[$key]}") | $(bp_spread "${rps[@]}") | $(bp_median "${p50[@]}") / $(bp_median "${p99[@]}") | $(bp_median "${scpu[@]}") | $(bp_median "${ccpu[@]}") | $(bp_median "${irqs[@]}") | $(bp_median "${oth[@]}") | @R_${key}@ | - |")
}
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
hmem() { curl -fsS "http://127.0.0.1:$HANGARD_PORT/metrics" | awk '$1=="hangar_memory_bytes"{print $2}'; }
hsign() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:hangar" --user "$HANGAR_ADMIN_KEY_ID:$HANGAR_ADMIN_SECRET" "$@"; }

if want leaderboards; then
  # a. Redis with appendonly yes + appendfsync always (redis.sh's "aof-always" mode), the zset
  #    filled as redis.sh fills it: LB_ENTRIES members m:%012d, scores uniform in 0..999999
  mkdir -p "$BP_DIR/data-redis-lb"
  bp_start redis-lb "$BP_DIR/redis-lb.out" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$BP_DIR/data-redis-lb" \
    --save "" --daemonize no --logfile "$BP_DIR/redis-lb.log" --appendonly yes --appendfsync always
  RPID=$BP_LAST_PID
  bp_wait_tcp "$REDIS_PORT" 15 "$RPID"
  rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
  REDIS_VERSION=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
  r0=$(rss_kib "$RPID"); u0=$(rcli INFO memory | awk -F: '/^used_memory:/{print $2+0}')
  awk -v n="$LB_ENTRIES" -v batch=1000 'BEGIN{ srand(42);
    for (i = 0; i < n; i += batch) {
      m = (n - i < batch) ? n - i : batch
      printf "*%d\r\n$4\r\nZADD\r\n$2\r\nlb\r\n", 2 + 2 * m
      for (j = i; j < i + m; j++) {
        s = sprintf("%d", int(rand() * 1000000)); k = sprintf("m:%012d", j)
        printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(k), k } } }' |
    timeout 180 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --pipe >"$BP_DIR/redis-lb-fill.log" 2>&1
  [ "$(rcli ZCARD lb)" = "$LB_ENTRIES" ] || bp_die "Redis zset fill failed: $(cat "$BP_DIR/redis-lb-fill.log")"
  LB[redis_usage]=$(rcli MEMORY USAGE lb SAMPLES 0)
  LB[redis_used]=$(($(rcli INFO memory | awk -F: '/^used_memory:/{print $2+0}') - u0))
  LB[redis_rss]=$((($(rss_kib "$RPID") - r0) * 1024))
  bp_log "Redis: ZCARD lb = $LB_ENTRIES; MEMORY USAGE lb = ${LB[redis_usage]} B; used_memory +${LB[redis_used]} B; RSS +${LB[redis_rss]} B"
  lb_redis_series "Redis $REDIS_VERSION, appendfsync always: ZADD lb <rand score> <existing member>" redis_zadd ZADD lb __rand_int__ m:__rand_int__
  lb_redis_series "Redis $REDIS_VERSION, appendfsync always: ZREVRANK lb <existing member>" redis_zrevrank ZREVRANK lb m:__rand_int__
  bp_stop "$RPID" TERM 30
  rm -rf "$BP_DIR/data-redis-lb"

  # b. hangard: the board is created through the API ("set", like ZADD), the daemon stopped, the
  #    LB_ENTRIES entries written into its store (lbprep.py fill), the daemon started again on it
  start_hangard --auth-device 1 --auth-open-per-minute 100000
  LB_DATA=$BP_DIR/data-$HN
  hsign -H 'Content-Type: application/json' -o /dev/null \
    -d '{"id":"big","order":"desc","operator":"set","max_entries":10000000}' "http://127.0.0.1:$HANGARD_PORT/v1/leaderboards"
  LB[mem0]=$(hmem); LB[rss0]=$(($(rss_kib "$HPID") * 1024))
  kill -TERM "$HPID"; wait "$HPID" 2>/dev/null || true; bp_stop "$HPID" TERM 20
  timeout 300 python3 "$HERE/lbprep.py" fill "$LB_DATA/hangar.db" big "$LB_ENTRIES" || bp_die "lbprep.py fill failed"
  sync
  t0=$(date +%s.%N)
  bp_start "hangard-$HN-lb" "$BP_DIR/hangard-$HN.log" "$HANGARD" --listen "127.0.0.1:$HANGARD_PORT" --data "$LB_DATA" \
    --auth-device 1 --auth-open-per-minute 100000
  HPID=$BP_LAST_PID
  bp_wait_tcp "$HANGARD_PORT" 120 "$HPID"
  curl -fsS "http://127.0.0.1:$HANGARD_PORT/healthz" >/dev/null
  LB[ready_s]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  got=$(hsign "http://127.0.0.1:$HANGARD_PORT/v1/leaderboards/big" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
  [ "$got" = "$LB_ENTRIES" ] || bp_die "hangard loaded $got entries of the $LB_ENTRIES lbprep.py wrote (has the entry record changed? see board.c)"
  LB[mem]=$(($(hmem) - LB[mem0])); LB[rss]=$(($(rss_kib "$HPID") * 1024 - LB[rss0]))
  bp_log "hangard: $got entries ready in ${LB[ready_s]} s; hangar_memory_bytes +${LB[mem]} B; RSS +${LB[rss]} B"
  mkdir -p "$BP_DIR/lb"
  timeout 300 python3 "$HERE/lbprep.py" login "http://127.0.0.1:$HANGARD_PORT" big "$LB_PLAYERS" "$BP_DIR/lb" "$LB_ENTRIES" ||
    bp_die "lbprep.py login failed"
  part_wrk_row LB_ROWS LB "$LB_CONNS" "hangard: POST /v1/leaderboards/big/scores as one of $LB_PLAYERS players (bearer), durable" lb_submit \
    "http://127.0.0.1:$HANGARD_PORT" "$HPID" "$BP_DIR/lb/submit.lua"
  part_wrk_row LB_ROWS LB "$LB_CONNS" "hangard: GET /v1/leaderboards/big/entries/<random entry> (bearer): rank, score" lb_rank \
    "http://127.0.0.1:$HANGARD_PORT" "$HPID" "$BP_DIR/lb/rank.lua"
  stop_hangard
  for ((k = 0; k < ${#LB_ROWS[@]}; k++)); do
    row=${LB_ROWS[$k]}
    row=${row//@R_redis_zadd@/1.00 (ZADD)}
    row=${row//@R_redis_zrevrank@/$(ratio "${LB[redis_zrevrank]}" "$NGINX_GET_RPS") (nginx)}
    row=${row//@R_lb_submit@/$(ratio "${LB[lb_submit]:-0}" "${LB[redis_zadd]:-0}") (ZADD)}
    row=${row//@R_lb_rank@/$(ratio "${LB[lb_rank]:-0}" "$NGINX_GET_RPS") (nginx)}
    row=${row//@FIG_lb_submit@/${LB[lb_submit]:-0}}
    row=${row//@FIG_lb_rank@/${LB[lb_rank]:-0}}
    LB_ROWS[k]=$row
  done
fi

# ---- 7. purchases beside PostgreSQL and SQLite (their own scripts, in this run) ----
PU_ROWS=()       # markdown rows of the purchases table
declare -A PU=() # figures: pg pg_cte sqlite1 sqlite64 buy events check …

if want purchases; then
  # a. the peers, each by its own script (its figures are its medians; its output in BP_RESULTS)
  wait_quiet
  bp_log "running ../shared/peers/sqlite.sh (BP_RUNS=$BP_RUNS)"
  BP_RUNS=$BP_RUNS timeout 400 bash "$SHARED/sqlite.sh" >"$BP_DIR/sqlite-peer.log" 2>&1 ||
    FLAGS+=("../shared/peers/sqlite.sh failed: see $BP_DIR/sqlite-peer.log")
  # sqlite.tsv: label batch sync purchases/s spread commits/s p50 p99 runs
  PU[sqlite1]=$(awk -F'\t' '$2 == 1 && $3 == "FULL" {print $4}' "$BP_RESULTS/sqlite.tsv" | tail -1)
  PU[sqlite64]=$(awk -F'\t' '$2 == 64 && $3 == "FULL" {print $4}' "$BP_RESULTS/sqlite.tsv" | tail -1)
  PU[sqlite64_spread]=$(awk -F'\t' '$2 == 64 && $3 == "FULL" {print $5}' "$BP_RESULTS/sqlite.tsv" | tail -1)
  PU[sqlite64_runs]=$(awk -F'\t' '$2 == 64 && $3 == "FULL" {print $9}' "$BP_RESULTS/sqlite.tsv" | tail -1)
  wait_quiet
  bp_log "running ../shared/peers/postgres.sh (BP_RUNS=$BP_RUNS, PG_DURATION=$PU_PG_DURATION)"
  BP_RUNS=$BP_RUNS PG_DURATION=$PU_PG_DURATION PG_SHORT=$PU_PG_DURATION timeout 600 bash "$SHARED/postgres.sh" >"$BP_DIR/postgres-peer.log" 2>&1 ||
    FLAGS+=("../shared/peers/postgres.sh failed: see $BP_DIR/postgres-peer.log")
  # postgres.tsv: label tps spread lat p50 p99 runs
  PU[pg]=$(awk -F'\t' 'index($1, "purchase: BEGIN") == 1 {print $2}' "$BP_RESULTS/postgres.tsv" | tail -1)
  PU[pg_spread]=$(awk -F'\t' 'index($1, "purchase: BEGIN") == 1 {print $3}' "$BP_RESULTS/postgres.tsv" | tail -1)
  PU[pg_p]=$(awk -F'\t' 'index($1, "purchase: BEGIN") == 1 {print $5 " / " $6}' "$BP_RESULTS/postgres.tsv" | tail -1)
  PU[pg_runs]=$(awk -F'\t' 'index($1, "purchase: BEGIN") == 1 {print $7}' "$BP_RESULTS/postgres.tsv" | tail -1)
  PU[pg_cte]=$(awk -F'\t' 'index($1, "purchase, one statement") == 1 {print $2}' "$BP_RESULTS/postgres.tsv" | tail -1)
  PG_VERSION=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 | awk -F/ '{print $5}')
  RAW+=("PostgreSQL purchase tps (postgres.sh): ${PU[pg_runs]:-?}" "SQLite purchases/s at 64 per commit (sqlite.sh): ${PU[sqlite64_runs]:-?}")
  PU_ROWS+=("| PostgreSQL ${PG_VERSION:-?}: purchase transaction (INSERT .. ON CONFLICT + guarded UPDATE, synchronous_commit=on), pgbench -c 8 | postgres.sh | $(bp_fmt "${PU[pg]:-0}") | ${PU[pg_spread]:-?} | ${PU[pg_p]:-?} | - | - | - | - | 1.00 (PostgreSQL) | - |")
  PU_ROWS+=("| SQLite, WAL, synchronous=FULL: the same transaction, 64 per commit (group commit), one connection, no network | sqlite.sh | $(bp_fmt "${PU[sqlite64]:-0}") | ${PU[sqlite64_spread]:-?} | - | - | - | - | - | $(ratio "${PU[sqlite64]:-0}" "${PU[pg]:-0}") (PostgreSQL) | - |")

  # b. hangard: one daemon, its players credited, then purchases and event batches
  start_hangard --auth-device 1 --auth-open-per-minute 100000
  PU_DATA=$BP_DIR/data-$HN
  mkdir -p "$BP_DIR/pu"
  timeout 600 python3 "$HERE/walletprep.py" "http://127.0.0.1:$HANGARD_PORT" "$PU_PLAYERS" "$BP_DIR/pu" ||
    bp_die "walletprep.py failed"
  part_wrk_row PU_ROWS PU "$PU_CONNS" "hangard: POST /v1/purchases as one of $PU_PLAYERS players (bearer), a new idempotency key each, durable" buy \
    "http://127.0.0.1:$HANGARD_PORT" "$HPID" "$BP_DIR/pu/buy.lua"
  part_wrk_row PU_ROWS PU "$PU_CONNS" "hangard: POST /v1/events, batches of 100 events (bearer), durable" events \
    "http://127.0.0.1:$HANGARD_PORT" "$HPID" "$BP_DIR/pu/events.lua"
  # the store must still balance: stop (SIGTERM, checked as always), check it, remove it
  stop_hangard keep
  PU[check]=$("$HANGARD" check --data "$PU_DATA" 2>&1 | tail -1) || FLAGS+=("hangard check found the purchases' store inconsistent: ${PU[check]}")
  bp_log "hangard check: ${PU[check]}"
  rm -rf "$PU_DATA"
  PU[events_ps]=$(awk -v r="${PU[events]:-0}" 'BEGIN{printf "%.0f", r*100}')
  for ((k = 0; k < ${#PU_ROWS[@]}; k++)); do
    row=${PU_ROWS[$k]}
    row=${row//@FIG_buy@/${PU[buy]:-0}}
    row=${row//@FIG_events@/${PU[events_ps]} events/s (${PU[events]:-0} req/s)}
    row=${row//@R_buy@/$(ratio "${PU[buy]:-0}" "${PU[pg]:-0}") (PostgreSQL); $(ratio "${PU[buy]:-0}" "${PU[sqlite64]:-0}") (SQLite 64)}
    row=${row//@R_events@/-}
    PU_ROWS[k]=$row
  done
fi

# ---- 8. realtime rooms beside Colyseus and Mosquitto ----
RM_ROWS=()       # markdown rows in bp_room_header's columns, every system
RM_BEST=()       # rows of the "best under RM_P99" table
declare -A RM=() # figures: colyseus_best mosq_node_best mqtt_best plain_best lua_best idle_* …

# peer_best JSONL LABEL_PREFIX: from a core.js JSONL, the step with the most deliveries/s among the
# unsaturated ones whose p99 is under RM_P99, and the first saturated step, as
# "best rate p99 server_cpu client_cpu sat_rate sat_p99 sat_server_cpu sat_client_cpu" (- when none)
peer_best() {
  python3 - "$1" "$2" "$RM_P99" <<'PY'
import json, sys
rs = []
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        if r.get("label", "").startswith(sys.argv[2]):
            rs.append(r)
lim = float(sys.argv[3])
ok = [r for r in rs if not r["saturated"] and r["p99_ms"] is not None and r["p99_ms"] < lim]
b = max(ok, key=lambda r: r["delivered_per_s"]) if ok else None
s = next((r for r in rs if r["saturated"] or r["p99_ms"] is None or r["p99_ms"] >= lim), None)
f = lambda r, k: "-" if r is None or r.get(k) is None else str(r[k])
print(f(b, "delivered_per_s") if b else 0, f(b, "rate"), f(b, "p99_ms"), f(b, "server_cpu_pct"),
      f(b, "client_cpu_pct"), f(s, "rate"), f(s, "p99_ms"), f(s, "server_cpu_pct"), f(s, "client_cpu_pct"))
PY
}

# peer_script NAME KEY ENV...: run ../shared/peers/NAME.sh as it is, keep its rows and its best step
peer_script() {
  local name=$1 key=$2; shift 2
  local f
  wait_quiet
  bp_log "running $RM_PEERS/$name.sh (BP_RUNS=$BP_RUNS ROOMS=$RM_ROOMS BASE=$RM_BASE RAMP=$RM_RAMP MEASURE=$RM_MEASURE $*)"
  if ! env BP_RUNS="$BP_RUNS" ROOMS="$RM_ROOMS" BASE="$RM_BASE" RAMP="$RM_RAMP" MEASURE="$RM_MEASURE" "$@" \
       timeout 600 bash "$RM_PEERS/$name.sh" >"$BP_DIR/$name-peer.log" 2>&1; then
    FLAGS+=("$RM_PEERS/$name.sh failed: see $BP_DIR/$name-peer.log ($(grep -m1 -E 'npm error|ERROR' "$BP_DIR/$name-peer.log" || true))")
    return
  fi
  grep '^| ' "$BP_RESULTS/$name.md" | grep -v '^| peer |' | while IFS= read -r l; do echo "$l"; done >"$BP_DIR/$name-rows.md"
  mapfile -t rows <"$BP_DIR/$name-rows.md"
  RM_ROWS+=("${rows[@]}")
  read -r -a f <<<"$(peer_best "$BP_ROOT/$name/roomload.jsonl" "")"
  RM[${key}_best]=${f[0]}; RM[${key}_rate]=${f[1]}; RM[${key}_p99]=${f[2]}; RM[${key}_scpu]=${f[3]}; RM[${key}_ccpu]=${f[4]}
  RM[${key}_sat]="${f[5]} msg/s: p99 ${f[6]} ms, server ${f[7]}%, client ${f[8]}%"
  RAW+=("$name.sh: $(sed 's/^SUMMARY //' "$BP_ROOT/$name/summary.txt" 2>/dev/null | tr '\n' ' ')")
}

# roomload_series KEY LABEL PID ROOMLOAD_ARGS...: one roomload run (BP_RUNS base runs + the ramp)
roomload_series() {
  local key=$1 label=$2 pid=$3; shift 3
  local out rc=0 res
  wait_quiet
  out=$(timeout 900 "$ROOMLOAD" -q "$label" -R "$RM_ROOMS" -n 8 -b "$RM_BASE" -x "$BP_RUNS" -u "$RM_C_RAMP" \
        -d "$RM_MEASURE" -W "$RM_WARMUP" -L "$RM_P99" -P "$pid" -e "$BP_DIR/roomload-$key.errors" "$@" \
        2>"$BP_DIR/roomload-$key.stderr") || rc=$?
  echo "$out" >"$BP_DIR/roomload-$key.txt"
  res=$(grep '^RESULT ' <<<"$out" | tail -1 || true)
  if [ -z "$res" ]; then
    FLAGS+=("$label: roomload exited $rc without a RESULT line (stderr: $(tail -c 600 "$BP_DIR/roomload-$key.stderr" | tr '\n' ' '))")
    return
  fi
  mapfile -t rows < <(grep '^| ' <<<"$out")
  RM_ROWS+=("${rows[@]}")
  grep '^STEP ' <<<"$out" | while IFS= read -r l; do bp_tsv "$label" "$l"; done
  RAW+=("$label: $(grep '^STEP ' <<<"$out" | awk '{for(i=1;i<=NF;i++){split($i,a,"="); if(a[1]=="rate")r=a[2]; if(a[1]=="delivered_per_s")d=a[2]; if(a[1]=="p99_ms")p=a[2]}; printf "%s/s/client %s deliveries/s p99 %s ms; ", r, d, p}')")
  RM[${key}_best]=$(kv best_delivered_per_s "$res"); RM[${key}_rate]=$(kv best_rate "$res")
  RM[${key}_p99]=$(kv best_p99_ms "$res"); RM[${key}_scpu]=$(kv best_server_cpu_pct "$res")
  RM[${key}_ccpu]=$(kv best_client_cpu_pct "$res"); RM[${key}_loop]=$(kv best_server_loop_cpu_pct "$res")
  RM[${key}_sat]="$(kv saturated_rate "$res") msg/s: p99 $(kv saturated_p99_ms "$res") ms, delivered $(kv saturated_ratio "$res") of expected, server $(kv saturated_server_cpu_pct "$res")% (loop thread $(kv saturated_server_loop_cpu_pct "$res")%), roomload $(kv saturated_client_cpu_pct "$res")%"
  [ -n "$(kv saturated_rate "$res")" ] || RM[${key}_sat]="not reached (ramp ended at its last rate)"
  RM[${key}_checks]="seq gaps $(kv gaps "$res") ($(kv gap_msgs "$res") missing), seq back $(kv seq_back "$res"), order gaps $(kv order_gaps "$res"), order back $(kv order_back "$res"), foreign $(kv foreign "$res"), closes $(kv closes "$res"), lost $(kv lost "$res"), errors $(kv error_msgs "$res")"
  if [ "$rc" != 0 ] || [ "$(kv flagged "$res")" != 0 ]; then
    FLAGS+=("$label: roomload flagged the run (exit $rc): ${RM[${key}_checks]}, failed $(kv failed "$res"), unparsed $(kv unparsed "$res") (details: $BP_DIR/roomload-$key.stderr, .errors)")
  fi
  bp_log "$label: best ${RM[${key}_best]} deliveries/s at ${RM[${key}_rate]} msg/s/client (p99 ${RM[${key}_p99]} ms); saturated at ${RM[${key}_sat]}"
}

if want rooms; then
  # a-b. the peers, each by its own script (their own servers and Node clients)
  peer_script colyseus colyseus
  [ "$RM_MOSQ_NODE" != 1 ] || peer_script mosquitto mosq_node VARIANTS=nodelay

  # c. Mosquitto as mosquitto.sh starts it (its "nodelay" config), driven by roomload -t mqtt
  MOSQ_VERSION=$(dpkg-query -W -f '${Version}' mosquitto 2>/dev/null || echo '?')
  cat >"$BP_DIR/mosquitto.conf" <<CONF
listener $RM_MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
connection_messages false
CONF
  bp_start mosquitto "$BP_DIR/mosquitto.log" mosquitto -c "$BP_DIR/mosquitto.conf"
  MPID=$BP_LAST_PID
  bp_wait_tcp "$RM_MQTT_PORT" 15 "$MPID"
  roomload_series mqtt "mosquitto $MOSQ_VERSION mqtt/tcp nodelay, C client (roomload)" "$MPID" -t mqtt -a "127.0.0.1:$RM_MQTT_PORT"
  kill -0 "$MPID" 2>/dev/null || FLAGS+=("mosquitto exited during its run: see $BP_DIR/mosquitto.log")
  bp_stop "$MPID" TERM 15

  # d-e. hangard, a fresh daemon each; the per-client rate limit (60/s) raised above the ramp
  RM_HARGS=(--room-rate-per-s 100000)
  start_hangard "${RM_HARGS[@]}"
  roomload_series plain "hangard, plain relay (roomload)" "$HPID" -t hangard -a "127.0.0.1:$HANGARD_PORT"
  stop_hangard
  start_hangard "${RM_HARGS[@]}"
  roomload_series lua "hangard, Lua relay handler (roomload)" "$HPID" -t hangard -l 1 -a "127.0.0.1:$HANGARD_PORT"
  stop_hangard

  # f. idle connections: one descriptor each in roomload and in hangard
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  RM[idle_nofile]=$(ulimit -n)
  RM[idle_asked]=$RM_IDLE_CONNS
  if [ "${RM[idle_nofile]}" != unlimited ] && [ $((RM_IDLE_CONNS + 200)) -gt "${RM[idle_nofile]}" ]; then
    RM_IDLE_CONNS=$((RM[idle_nofile] - 200))
    bp_log "ulimit -n is ${RM[idle_nofile]} (hard limit): idle connections lowered from ${RM[idle_asked]} to $RM_IDLE_CONNS"
  fi
  idle_rooms=$(((RM_IDLE_CONNS + RM_IDLE_PER_ROOM - 1) / RM_IDLE_PER_ROOM))
  RM[idle_hargs]="--http-max-conns $((RM_IDLE_CONNS + 1000)) --rooms-max $((idle_rooms + 100)) --room-empty-close-s 3600"
  # shellcheck disable=SC2086
  start_hangard ${RM[idle_hargs]}
  wait_quiet
  out=$(timeout $((RM_IDLE_CONNS / 200 + RM_IDLE_HOLD + 300)) "$ROOMLOAD" -t hangard -m idle -a "127.0.0.1:$HANGARD_PORT" \
        -c "$RM_IDLE_CONNS" -n "$RM_IDLE_PER_ROOM" -H "$RM_IDLE_HOLD" -P "$HPID" -e "$BP_DIR/roomload-idle.errors" \
        2>"$BP_DIR/roomload-idle.stderr") || true
  echo "$out" >"$BP_DIR/roomload-idle.txt"
  stop_hangard
  res=$(grep '^RESULT ' <<<"$out" | tail -1 || true)
  if [ -z "$res" ]; then
    FLAGS+=("hangard idle connections: roomload gave no RESULT line (stderr: $(tail -c 600 "$BP_DIR/roomload-idle.stderr" | tr '\n' ' '))")
  else
    for k in held conns connect_s server_rss_before_kib server_rss_after_kib server_bytes_per_conn server_heap_bytes_per_conn all_joined failed lost closes; do
      RM[idle_$k]=$(kv "$k" "$res")
    done
    [ "$(kv flagged "$res")" = 0 ] && [ "${RM[idle_all_joined]}" = 1 ] ||
      FLAGS+=("hangard idle connections: ${RM[idle_held]} of ${RM[idle_conns]} held, failed ${RM[idle_failed]}, lost ${RM[idle_lost]}, closes ${RM[idle_closes]} (details: $BP_DIR/roomload-idle.stderr)")
    bp_log "idle: ${RM[idle_held]} of ${RM[idle_conns]} held; ${RM[idle_server_bytes_per_conn]} bytes of RSS a connection"
  fi

  # the summary table: best unsaturated deliveries/s with p99 under RM_P99, ratios to Colyseus
  rm_best_row() { # KEY SYSTEM CLIENT
    local k=$1
    [ -n "${RM[${k}_best]:-}" ] || return 0
    RM_BEST+=("| $2 | $3 | $(bp_fmt "${RM[${k}_best]}") | ${RM[${k}_rate]} | ${RM[${k}_p99]} | ${RM[${k}_scpu]}$([ -z "${RM[${k}_loop]:-}" ] || echo " (loop ${RM[${k}_loop]})") | ${RM[${k}_ccpu]} | $(ratio "${RM[${k}_best]}" "${RM[colyseus_best]:-0}") | ${RM[${k}_sat]} | ${RM[${k}_checks]:--} |")
  }
  rm_best_row colyseus "Colyseus (colyseus.sh)" "Node, colyseus.js"
  rm_best_row mosq_node "Mosquitto $MOSQ_VERSION, nodelay (mosquitto.sh)" "Node, npm mqtt"
  rm_best_row mqtt "Mosquitto $MOSQ_VERSION, nodelay" "C, roomload -t mqtt"
  rm_best_row plain "hangard, plain relay" "C, roomload -t hangard"
  rm_best_row lua "hangard, Lua relay handler" "C, roomload -t hangard -l 1"
fi

# ---- RESULTS.md ----
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
DIRTY=$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt bench | wc -l)
CPU=$(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}')

# ---- 9. FlexMatch: tickets accepted and matched (no peer: GameLift's documented quotas beside) ----
declare -A FM=() # medians: tickets_ps matches_ps ttm_mean_s batch_max_s p99_ms scpu unmatched
FM_RAW=()
fm_metric() { curl -fsS "http://127.0.0.1:$HANGARD_PORT/metrics" | awk -v k="$1" '$1==k{print $2}'; }
# one run of glload -w match on a fresh daemon (extra glload options in "$@"); sets fm_res,
# fm_matches, fm_started, fm_ttm (mean s), fm_bmax, fm_q50, fm_q99 (bucket bounds), fm_left, fm_mps
fm_once() {
  local tag=$1 tsum tcnt qs t0 t1 out
  shift
  start_hangard --matchmaker-batch-ms "$FM_BATCH_MS"
  wait_quiet
  t0=$(date +%s.%N)
  out=$(timeout $((FM_DURATION + FM_WARMUP + 60)) "$GLLOAD" -w match -a "127.0.0.1:$HANGARD_PORT" -c "$FM_CONNS" \
        -d "$FM_DURATION" -W "$FM_WARMUP" -P "$HPID" -e "$BP_DIR/glload-match-$tag.errors" "$@" 2>&1) || true
  echo "$out" >"$BP_DIR/glload-match-$tag.txt"
  fm_res=$(grep '^RESULT' <<<"$out" || true)
  # the tickets still waiting are matched by the next batches: wait for the pool to drain
  for ((k = 0; k < 300; k++)); do
    [ "$(fm_metric hangar_matchmaking_pool_size)" -lt 8 ] 2>/dev/null && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  fm_started=$(curl -fsS "http://127.0.0.1:$HANGARD_PORT/metrics" | awk '$1=="hangar_matchmaking_tickets_total{status=\"STARTED\"}"{print $2}')
  fm_matches=$(fm_metric hangar_matchmaking_matches_total)
  tsum=$(fm_metric hangar_matchmaking_time_to_match_seconds_sum)
  tcnt=$(fm_metric hangar_matchmaking_time_to_match_seconds_count)
  fm_bmax=$(fm_metric hangar_matchmaking_batch_seconds_max)
  # p50 and p99 of the time to match: the upper bound of the histogram bucket they fall in
  qs=$(curl -fsS "http://127.0.0.1:$HANGARD_PORT/metrics" | awk -F'[{}" ]+' '
    /^hangar_matchmaking_time_to_match_seconds_bucket/ { le[n] = $3; c[n++] = $NF }
    END { t = c[n - 1]; for (i = 0; i < n; i++) { if (p50 == "" && c[i] >= 0.5 * t) p50 = le[i];
          if (p99 == "" && c[i] >= 0.99 * t) p99 = le[i] } print (p50 == "" ? "-" : p50) " " (p99 == "" ? "-" : p99) }')
  fm_left=$(fm_metric hangar_matchmaking_pool_size)
  stop_hangard
  if [ -z "$fm_res" ] || [ "$(kv errors "$fm_res")" != 0 ]; then
    FLAGS+=("glload -w match run $tag: $(tail -c 400 "$BP_DIR/glload-match-$tag.txt" | tr '\n' ' ')")
  fi
  fm_mps=$(awk -v m="$fm_matches" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", m/(b-a)}')
  fm_ttm=$(awk -v s="$tsum" -v c="$tcnt" 'BEGIN{printf "%.3f", (c > 0 ? s / c : 0)}')
  fm_q50=${qs% *}; fm_q99=${qs#* }
}
if want flexmatch; then
  fm_tps=(); fm_mps=(); fm_ttm=(); fm_bmax=(); fm_p99=(); fm_scpu=(); fm_left=(); fm_q50=(); fm_q99=()
  fr_tps=(); fr_ttm=(); fr_p99=(); fr_scpu=(); fr_q50=(); fr_q99=()
  for ((i = 1; i <= BP_RUNS; i++)); do
    # as fast as the connections go
    fm_once "$i"
    fm_tps+=("$(kv rps "$fm_res")"); fm_p99+=("$(kv p99_ms "$fm_res")"); fm_scpu+=("$(kv server_cpu_pct "$fm_res")")
    fm_mps+=("$fm_mps"); fm_ttm+=("$fm_ttm"); fm_bmax+=("$fm_bmax"); fm_left+=("$fm_left"); fm_q50+=("$fm_q50"); fm_q99+=("$fm_q99")
    bp_log "flexmatch run $i: $(kv rps "$fm_res") tickets/s accepted, started $fm_started, matches $fm_matches, mean time to match $fm_ttm s, longest batch $fm_bmax s, left $fm_left"
    FM_RAW+=("run $i: ${fm_tps[-1]} tickets/s accepted (p99 ${fm_p99[-1]} ms), $fm_matches matches of $fm_started tickets, time to match mean $fm_ttm s, p50 <= $fm_q50 s, p99 <= $fm_q99 s, longest batch $fm_bmax s")
    # a steady FM_RATE tickets/s: the time to match when the matcher is not behind
    fm_once "rate-$i" -R "$FM_RATE"
    fr_tps+=("$(kv rps "$fm_res")"); fr_p99+=("$(kv p99_ms "$fm_res")"); fr_scpu+=("$(kv server_cpu_pct "$fm_res")")
    fr_ttm+=("$fm_ttm"); fr_q50+=("$fm_q50"); fr_q99+=("$fm_q99")
    bp_log "flexmatch steady run $i: $(kv rps "$fm_res") tickets/s of $FM_RATE offered, matches $fm_matches, mean time to match $fm_ttm s, p99 <= $fm_q99 s"
    FM_RAW+=("steady run $i: ${fr_tps[-1]} tickets/s of $FM_RATE offered (p99 ${fr_p99[-1]} ms), $fm_matches matches of $fm_started tickets, time to match mean $fm_ttm s, p50 <= $fm_q50 s, p99 <= $fm_q99 s, longest batch $fm_bmax s, left $fm_left")
  done
  FM[tickets_ps]=$(bp_median "${fm_tps[@]}"); FM[spread]=$(bp_spread "${fm_tps[@]}")
  FM[matches_ps]=$(bp_median "${fm_mps[@]}"); FM[ttm]=$(bp_median "${fm_ttm[@]}")
  FM[bmax]=$(bp_median "${fm_bmax[@]}"); FM[p99]=$(bp_median "${fm_p99[@]}")
  FM[scpu]=$(bp_median "${fm_scpu[@]}"); FM[left]=$(bp_median "${fm_left[@]}")
  FM[q50]=$(printf '%s\n' "${fm_q50[@]}" | sort -g | tail -1); FM[q99]=$(printf '%s\n' "${fm_q99[@]}" | sort -g | tail -1)
  FM[r_tps]=$(bp_median "${fr_tps[@]}"); FM[r_spread]=$(bp_spread "${fr_tps[@]}"); FM[r_p99]=$(bp_median "${fr_p99[@]}")
  FM[r_scpu]=$(bp_median "${fr_scpu[@]}"); FM[r_ttm]=$(bp_median "${fr_ttm[@]}")
  FM[r_q50]=$(printf '%s\n' "${fr_q50[@]}" | sort -g | tail -1); FM[r_q99]=$(printf '%s\n' "${fr_q99[@]}" | sort -g | tail -1)
fi

{
  echo "# hangar benchmark results"
  echo
  echo "Written by \`bench/run.sh\` (\`make bench\`); overwritten on every run. See \`bench/README.md\` for what"
  echo "each row measures."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- machine: $(nproc) cores, $CPU, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load generator and servers share the cores"
  echo "- commit: $COMMIT$([ "$DIRTY" = 0 ] || echo " + $DIRTY uncommitted file(s) under src/, bench/, CMakeLists.txt")"
  echo "- versions: $(want_nginx && echo "$(nginx -v 2>&1 | sed 's#.*/#nginx #'), wrk $({ wrk -v 2>&1 || true; } | awk 'NR==1{print $2}'), ")$({ want registry || want leaderboards; } && echo "Redis ${REDIS_VERSION:-?}, ")libuv $(pkg-config --modversion libuv), SQLite $(pkg-config --modversion sqlite3), OpenSSL $(pkg-config --modversion libcrypto)"
  echo "- command: \`$([ "$BUILD" = "$ROOT/build" ] || echo "BUILD=$BUILD ")BP_RUNS=$BP_RUNS$(want fleetiq && echo " WRK_THREADS=$WRK_THREADS WRK_CONNS=$WRK_CONNS WRK_DURATION=$WRK_DURATION GL_CONNS=$GL_CONNS GL_THREADS=$GL_THREADS GL_DURATION=$GL_DURATION GL_WARMUP=$GL_WARMUP")$(want registry && echo " EV_SUBS=$EV_SUBS EV_CONNS=$EV_CONNS EV_DEPTH=$EV_DEPTH EV_DURATION=$EV_DURATION EV_WARMUP=$EV_WARMUP EV_RATE=$EV_RATE")$(want sessions && echo " SL_PROCS=$SL_PROCS SL_CONNS=$SL_CONNS SL_PLAYERS=$SL_PLAYERS SL_RECYCLE_PROCS=$SL_RECYCLE_PROCS SL_DURATION=$SL_DURATION SL_WARMUP=$SL_WARMUP")$(want placement && echo " PL_PROCS=$PL_PROCS PL_CONNS=$PL_CONNS PL_PLAYERS=$PL_PLAYERS PL_RATE=$PL_RATE PL_RATE_CONNS=$PL_RATE_CONNS PL_DURATION=$PL_DURATION PL_WARMUP=$PL_WARMUP PL_VERIFY=$PL_VERIFY")$(want leaderboards && echo " LB_ENTRIES=$LB_ENTRIES LB_PLAYERS=$LB_PLAYERS LB_CONNS=$LB_CONNS")$(want purchases && echo " PU_PLAYERS=$PU_PLAYERS PU_CONNS=$PU_CONNS PU_PG_DURATION=$PU_PG_DURATION")$(want rooms && echo " RM_ROOMS=$RM_ROOMS RM_BASE=$RM_BASE RM_RAMP=$RM_RAMP RM_C_RAMP=$RM_C_RAMP RM_MEASURE=$RM_MEASURE RM_WARMUP=$RM_WARMUP RM_P99=$RM_P99 RM_MOSQ_NODE=$RM_MOSQ_NODE RM_IDLE_CONNS=${RM[idle_asked]:-$RM_IDLE_CONNS} RM_IDLE_PER_ROOM=$RM_IDLE_PER_ROOM RM_IDLE_HOLD=$RM_IDLE_HOLD")$(want flexmatch && echo " FM_CONNS=$FM_CONNS FM_DURATION=$FM_DURATION FM_WARMUP=$FM_WARMUP FM_BATCH_MS=$FM_BATCH_MS FM_RATE=$FM_RATE") bench/run.sh$([ "$ONLY" = all ] || echo " --only $ONLY")\`"
  if want_nginx; then
    echo "  - wrk: \`wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s --latency [-s LUA] URL\` via \`bp_wrk_series\` (../shared/peers/lib.sh)"
  fi
  if want fleetiq; then
    echo "  - glload: \`glload -a 127.0.0.1:$HANGARD_PORT -w WORKLOAD -c $GL_CONNS -t $GL_THREADS -d $GL_DURATION -W $GL_WARMUP -P HANGARD_PID\`"
  fi
  if want sessions; then
    echo "  - sessload: \`sessload -a 127.0.0.1:$HANGARD_PORT -m burst -n $SL_PROCS -c $SL_CONNS -p $SL_PLAYERS -P HANGARD_PID\` and \`… -m recycle -n $SL_RECYCLE_PROCS -d $SL_DURATION -W $SL_WARMUP\`; hangard with \`--http-max-conns\` raised to the run's processes + connections + 64 (default 10000)"
  fi
  if want placement; then
    echo "  - sessload: \`sessload -a 127.0.0.1:$HANGARD_PORT -m placement -n $PL_PROCS -c $PL_CONNS -p $PL_PLAYERS -V $PL_VERIFY -P HANGARD_PID\` (throughput) and \`… -m placement -R $PL_RATE -n $PL_RATE_PROCS -c $PL_RATE_CONNS -W $PL_WARMUP -d $PL_DURATION\` (latency); hangard with \`--http-max-conns\` raised as for sessions"
  fi
  if want registry; then
    echo "  - Redis, as ../shared/peers/redis.sh: \`redis-server --port $REDIS_PORT --bind 127.0.0.1 --save \"\" --appendonly no …\`, 8 × \`redis-cli SUBSCRIBE room:fan\`, \`redis-benchmark -c 50 -n $REDIS_N1|$REDIS_N16 -P 1|16 -r 1000000 --csv PUBLISH room:fan <64 B>\`"
    echo "  - evload: \`evload -a 127.0.0.1:$HANGARD_PORT -S $EV_SUBS -d $EV_DURATION -W $EV_WARMUP -P HANGARD_PID -c $EV_CONNS -D $EV_DEPTH\` (saturating) and \`… -c 1 -D 8 -R $EV_RATE\` (paced)"
  fi
  if want leaderboards; then
    echo "  - Redis, as ../shared/peers/redis.sh's aof-always mode: \`redis-server --port $REDIS_PORT --bind 127.0.0.1 --save \"\" --appendonly yes --appendfsync always …\`, the zset filled by redis.sh's awk, \`redis-benchmark -c $LB_CONNS -n $REDIS_N1 -P 1 -r $LB_ENTRIES --csv ZADD lb __rand_int__ m:__rand_int__\` (and \`ZREVRANK lb m:__rand_int__\`)"
    echo "  - leaderboards: \`hangard … --auth-device 1 --auth-open-per-minute 100000\`, \`bench/lbprep.py fill\` / \`login\`, \`wrk -t$WRK_THREADS -c$LB_CONNS -d${WRK_DURATION}s --latency -s submit.lua|rank.lua\`"
  fi
  if want purchases; then
    echo "  - peers: \`BP_RUNS=$BP_RUNS PG_DURATION=$PU_PG_DURATION PG_SHORT=$PU_PG_DURATION ../shared/peers/postgres.sh\` and \`BP_RUNS=$BP_RUNS ../shared/peers/sqlite.sh\`, unchanged, in this run"
    echo "  - purchases: \`hangard … --auth-device 1 --auth-open-per-minute 100000\`, \`bench/walletprep.py URL $PU_PLAYERS DIR\`, \`wrk -t$WRK_THREADS -c$PU_CONNS -d${WRK_DURATION}s --latency -s buy.lua|events.lua\`, then \`hangard check --data DIR\`"
  fi
  if want rooms; then
    echo "  - peers: \`BP_RUNS=$BP_RUNS ROOMS=$RM_ROOMS BASE=$RM_BASE RAMP=$RM_RAMP MEASURE=$RM_MEASURE $RM_PEERS/colyseus.sh\`$([ "$RM_MOSQ_NODE" != 1 ] || echo " and \`… VARIANTS=nodelay ../shared/peers/mosquitto.sh\`"), unchanged, in this run"
    echo "  - roomload: \`roomload -t mqtt|hangard [-l 1] -R $RM_ROOMS -n 8 -b $RM_BASE -x $BP_RUNS -u $RM_C_RAMP -d $RM_MEASURE -W $RM_WARMUP -L $RM_P99 -P SERVER_PID\`; Mosquitto $MOSQ_VERSION with mosquitto.sh's nodelay config on port $RM_MQTT_PORT; hangard with \`--room-rate-per-s 100000\`"
    echo "  - idle: \`hangard … ${RM[idle_hargs]:-}\`, \`roomload -t hangard -m idle -c ${RM[idle_conns]:-$RM_IDLE_CONNS} -n $RM_IDLE_PER_ROOM -H $RM_IDLE_HOLD -P HANGARD_PID\`"
  fi
  if want flexmatch; then
    echo "  - flexmatch: \`hangard … --matchmaker-batch-ms $FM_BATCH_MS\`, \`glload -w match -a 127.0.0.1:$HANGARD_PORT -c $FM_CONNS -d $FM_DURATION -W $FM_WARMUP -P HANGARD_PID [-R $FM_RATE]\`, then /metrics once the pool drained"
  fi
  echo "  - hangard: \`HANGAR_ADMIN_KEY_ID=AKIDBENCH HANGAR_ADMIN_SECRET=… hangard --listen 127.0.0.1:$HANGARD_PORT --data FRESH_DIR\`, one fresh daemon per workload, defaults otherwise (SQLite WAL, synchronous=FULL, group commit)"
  echo
  echo "$BP_RUNS runs per row; medians; spread = (max-min)/median of req/s (or changes/s). CPU % of one core (100 = one"
  echo "core busy); softirq = kernel interrupt time charged to no process (mostly loopback TCP; for wrk rows"
  echo "averaged over the series); others = CPU used in the window by unrelated processes (noise: nonzero"
  echo "means the box was shared with something else during that row)."
  echo
  if want fleetiq; then
    echo "## FleetIQ (GameLift API) beside nginx"
    echo
    echo "| case | tool | req/s | spread | cycles/s | p50 ms | p99 ms | server CPU % | client CPU % | softirq CPU % | others CPU % | ratio to nginx 1w GET | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
  fi
  if want sessions; then
    echo "## Game sessions beside nginx"
    echo
    echo "A placed session: CreateGameSession (signed, answered ACTIVATING once durable) → the CreateGameSession push"
    echo "reaches an idle Server SDK process on its WebSocket → ActivateGameSession (durable: ACTIVE) → CreatePlayerSessions"
    echo "for $SL_PLAYERS players (signed, durable: $SL_PLAYERS RESERVED). sessions/s: placed per second (burst: from the first"
    echo "CreateGameSession sent to the last CreatePlayerSessions answered; recycle: in the window). req/s: every HTTP"
    echo "answer, SDK answer and WebSocket upgrade the daemon gave in the window. placement p50 / p99: CreateGameSession"
    echo "sent → CreatePlayerSessions answered. server CPU: hangard in all (its loop thread alone in brackets; the"
    echo "rest is mostly its store writer). ratio: sessions/s over nginx's 1-worker GET req/s of this run."
    echo
    echo "| case | tool | sessions/s | spread | req/s | placement p50 / p99 ms | server CPU % (loop thread) | client CPU % | softirq CPU % | others CPU % | sessions/s ratio to nginx 1w GET | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    [ -z "$NGINX_GET_ROW" ] || echo "$NGINX_GET_ROW"
    printf '%s\n' "${SL_ROWS[@]}"
    echo
    echo "Where the time goes (medians; the daemon's own /metrics and /proc/PID/io over the window): commits = store"
    echo "batches, one fsync each; store writer committing = commits/s × mean commit time (100 = the writer lane never"
    echo "idle); loop busy = hangard's loop iterations' busy time; answer ms = request complete → answer queued, commit"
    echo "wait included, as the daemon measures it; disk = bytes hangard had written to storage (WAL frames and"
    echo "checkpoints); ready/s = processes connected, upgraded and ProcessReady'd per second during set-up."
    echo
    echo "| case | commits/s | txns per commit | commit ms | store writer committing % | loop busy % | daemon answer ms CreateGameSession / CreatePlayerSessions | disk written KiB per session | disk MiB/s | set-up: processes ready/s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${SL_WHERE[@]}"
    echo
  fi
  if want placement; then
    echo "## Placements through a queue beside nginx"
    echo
    echo "A placement: StartGameSessionPlacement on a queue whose one destination is the fleet (signed; DesiredPlayerSessions"
    echo "for $PL_PLAYERS players; hangard makes the first attempt inside the request: the game session is created ACTIVATING"
    echo "on an idle process and the answer, PENDING, comes once that is durable) → the CreateGameSession push reaches"
    echo "the process on its WebSocket → ActivateGameSession: in one durable transaction the session is ACTIVE and the"
    echo "placement FULFILLED with its $PL_PLAYERS player sessions reserved; its 200 answer is the moment measured."
    echo "placements/s: FULFILLED per second (throughput: from the first start sent to the last FULFILLED; latency row:"
    echo "in the window, open loop at the asked rate). req/s: every HTTP and SDK answer the daemon gave in the window"
    echo "(two per placement). start → FULFILLED: StartGameSessionPlacement sent → that ActivateGameSession answered."
    echo "start answered: the StartGameSessionPlacement round trip. checks: placements read back after the run with"
    echo "DescribeGameSessionPlacement (FULFILLED, the pushed game session, $PL_PLAYERS PlacedPlayerSessions), starts"
    echo "answered without a game session (deferred: not placed inside the request), starts that had to wait for a"
    echo "free connection (late), summed over the runs. ratio: placements/s over nginx's 1-worker GET req/s."
    echo
    echo "| case | tool | placements/s | spread | req/s | start → FULFILLED p50 / p99 ms | start answered p50 / p99 ms | server CPU % (loop thread) | client CPU % | softirq CPU % | others CPU % | placements/s ratio to nginx 1w GET | checks | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    # the nginx GET row in this table's columns: no "start answered", no checks
    [ -z "$NGINX_GET_ROW" ] || awk -F'|' -v OFS='|' '{ $7 = $7 "| - "; $12 = $12 "| - "; print }' <<<"$NGINX_GET_ROW"
    printf '%s\n' "${PL_ROWS[@]}"
    echo
    echo "Where the time goes (medians, as for game sessions; per placement). commits over 1 / 2.5 ms: the share of"
    echo "the window's store commits (fsync included) slower than that, from the daemon's commit-time histogram."
    echo
    echo "| case | commits/s | txns per commit | commit ms (mean) | commits over 1 / 2.5 ms % | store writer committing % | loop busy % | daemon answer ms StartGameSessionPlacement | disk written KiB per placement | disk MiB/s | set-up: processes ready/s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${PL_WHERE[@]}"
    echo
  fi
  if want registry; then
    echo "## Registry event stream beside Redis PUBLISH to 8 subscribers"
    echo
    echo "changes/s: PUBLISH/s acknowledged (Redis) or PATCH/s answered 200, i.e. events published (hangard)."
    echo "deliveries/s: Redis: 8 × PUBLISH/s (what reached the 8 subscribers' connections; not counted at the"
    echo "subscribers); hangard: events received by the $EV_SUBS WebSocket subscribers, counted by them."
    echo "request p50 / p99: the PUBLISH or PATCH round trip. answer → event: from the PATCH's answer received"
    echo "to its event received, per subscriber (an event that beats the answer counts 0). client CPU: Redis:"
    echo "redis-benchmark + the 8 redis-cli subscribers; hangard: evload (announcers and subscribers, one thread)."
    echo "checks: every subscriber must see every seq once, in order, and every answered PATCH's event once."
    echo
    echo "| case | tool | changes/s | spread | deliveries/s | request p50 / p99 ms | answer → event p50 / p99 / max ms | server CPU % | client CPU % | softirq CPU % | others CPU % | deliveries ratio to Redis -P 1 | checks |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${EV_ROWS[@]}"
    echo
  fi
  if want leaderboards; then
    echo "## Leaderboards beside Redis sorted sets (appendfsync always) and nginx"
    echo
    echo "A $(bp_fmt "$LB_ENTRIES")-entry board (hangard) and a $(bp_fmt "$LB_ENTRIES")-member zset (Redis), both with uniform random"
    echo "scores. hangard's submit: POST /v1/leaderboards/big/scores {\"score\": rand} with one of $LB_PLAYERS players' bearer"
    echo "tokens (HS256 JWT, verified), the \"set\" operator (the score replaced, like ZADD), answered 200 with the"
    echo "player's new rank once the entry is committed to SQLite (WAL, synchronous=FULL, group commit). Redis's"
    echo "ZADD is answered once its AOF write is fsync'd (appendfsync always). hangard's rank read: GET"
    echo "/v1/leaderboards/big/entries/<random entry> with a bearer token, answered with rank, score, subscore and"
    echo "the player's display name as JSON. Ratios: submits to Redis's ZADD, reads to nginx's 1-worker GET /ok."
    echo
    echo "| case | tool | req/s | spread | p50 / p99 ms | server CPU % | client CPU % | softirq CPU % | others CPU % | ratio | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    [ -z "$NGINX_GET_ROW" ] || awk -F'|' -v OFS='|' '{ print "", $2, " wrk -t'"$WRK_THREADS"' -c'"$WRK_CONNS"' ", $6, $5, $7, $8, $9, $10, $11, " 1.00 (nginx) ", $13, "" }' <<<"$NGINX_GET_ROW"
    printf '%s\n' "${LB_ROWS[@]}"
    echo
    echo "Memory for the $(bp_fmt "$LB_ENTRIES") entries: Redis \`MEMORY USAGE lb SAMPLES 0\` $(bp_fmt "${LB[redis_usage]:-0}") B = $(awk -v a="${LB[redis_usage]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}') B an entry"
    echo "(used_memory +$(awk -v a="${LB[redis_used]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}') B, RSS +$(awk -v a="${LB[redis_rss]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}') B an entry; members \`m:%012d\`, 14 bytes);"
    echo "hangard \`hangar_memory_bytes\` (its accounted heap) +$(bp_fmt "${LB[mem]:-0}") B = $(awk -v a="${LB[mem]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}') B an entry (RSS"
    echo "+$(awk -v a="${LB[rss]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}') B an entry; ids are 16-byte UUIDs); the daemon was serving $(bp_fmt "${LB[ready_s]:-0}" 1) s after it was started on"
    echo "the filled store (reading and ranking every entry)."
    echo
  fi
  if want purchases; then
    echo "## Purchases beside PostgreSQL and SQLite"
    echo
    echo "The same idempotent purchase three ways. PostgreSQL (postgres.sh): pgbench, 8 clients over TCP, each purchase"
    echo "BEGIN; INSERT INTO purchases .. ON CONFLICT DO NOTHING; UPDATE wallets SET balance = balance - price WHERE"
    echo "balance >= price; COMMIT, fsync per commit. SQLite (sqlite.sh): the same two statements in C, one connection,"
    echo "64 purchases per BEGIN IMMEDIATE .. COMMIT (WAL, synchronous=FULL), no network, no parsing. hangard: an HTTP"
    echo "request with a bearer token (JWT) and a JSON body, answered 201 once its transaction is committed (group"
    echo "commit); the transaction holds the balance debit, the inventory grant, the ledger entry, the purchase, its"
    echo "idempotency key, the player's purchase index and the payment.purchase event (5 records and an event row"
    echo "with its 4 index entries). req/s columns: purchases/s (events/s for the event row)."
    echo
    echo "| case | tool | purchases/s | spread | p50 / p99 ms | server CPU % | client CPU % | softirq CPU % | others CPU % | ratio | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${PU_ROWS[@]}"
    echo
    echo "After the runs, \`hangard check\` on the stopped store: ${PU[check]:-not run}"
    echo
  fi
  if want rooms; then
    echo "## Realtime rooms beside Colyseus and Mosquitto"
    echo
    echo "$RM_ROOMS rooms × 8 clients; each client sends its room msg/s messages of ~80 bytes carrying their send time; every"
    echo "message is delivered to the room's 8 members, the sender included (deliveries = 8 × sends). Steps as"
    echo "../shared/peers/roomload/core.js: the base rate $BP_RUNS times (median, spread), then the ramp until a step is"
    echo "saturated: delivered < 97% of expected, > 0.5% undelivered after the drain, or p99 over the limit (roomload:"
    echo "$RM_P99 ms; the peers' own scripts keep core.js's 250 ms, so their rows may go on past $RM_P99 ms). Latency: send time"
    echo "in the payload → received, one clock. Server CPU: the server process (hangard: loop thread and store writer;"
    echo "Mosquitto, Colyseus: one process); client CPU: the load generator (one Node process, or roomload's one thread)."
    echo "hangard runs with --room-rate-per-s 100000 (its per-client limit, 60/s by default, would close the ramp's"
    echo "clients with 4008). Colyseus and the first Mosquitto rows are their own scripts' output, unchanged, in this run."
    echo
    echo "| peer | step | rooms x clients | msg/s per client | sent msg/s | delivered msg/s | spread | p50 ms | p99 ms | undelivered | server CPU % | client CPU % | machine busy % |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${RM_ROWS[@]}"
    echo
    echo "Best unsaturated step with p99 under $RM_P99 ms (the issue's figure), and where each one saturated:"
    echo
    echo "| system | load client | deliveries/s | at msg/s per client | p99 ms | server CPU % | client CPU % | ratio to Colyseus | first saturated step | checks (roomload) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|---|"
    printf '%s\n' "${RM_BEST[@]}"
    echo
    if [ -n "${RM[idle_held]:-}" ]; then
      echo "Idle connections: hangard with ${RM[idle_hargs]}; \`roomload -m idle -c ${RM[idle_conns]} -n $RM_IDLE_PER_ROOM -H $RM_IDLE_HOLD\`: ${RM[idle_conns]} room WebSockets"
      echo "over $(((RM[idle_conns] + RM_IDLE_PER_ROOM - 1) / RM_IDLE_PER_ROOM)) rooms of $RM_IDLE_PER_ROOM, each socket bound to a source address in 127.1.0.0/16 (1,000 a address), welcomed, then"
      echo "held $RM_IDLE_HOLD s. hangard's VmRSS before the first connection (rooms created, players logged in) and after the hold."
      echo
      echo "| case | connections asked | held | connect s | hangard RSS before / after KiB | RSS bytes per connection | hangar_memory_bytes per connection |"
      echo "|---|---:|---:|---:|---:|---:|---:|"
      echo "| hangard idle room connections | ${RM[idle_asked]}$([ "${RM[idle_asked]}" = "${RM[idle_conns]}" ] || echo " (run: ${RM[idle_conns]}, ulimit -n ${RM[idle_nofile]})") | ${RM[idle_held]} | ${RM[idle_connect_s]} | ${RM[idle_server_rss_before_kib]} / ${RM[idle_server_rss_after_kib]} | ${RM[idle_server_bytes_per_conn]} | ${RM[idle_server_heap_bytes_per_conn]} |"
      echo
      [ "${RM[idle_asked]}" = "${RM[idle_conns]}" ] ||
        echo "The connections asked (${RM[idle_asked]}) were lowered to ${RM[idle_conns]}: each needs a descriptor in roomload and in hangard, and this box's hard limit is ulimit -n ${RM[idle_nofile]} (not raisable without CAP_SYS_RESOURCE). With ulimit -n >= $((RM[idle_asked] + 200)) the full count runs; hangard's own limits are raised on its command line above."
      echo
    fi
  fi
  echo "Per run (in run order):"
  echo
  for r in "${RAW[@]}"; do echo "- $r"; done
  echo
  if [ ${#DISCARDED[@]} -gt 0 ]; then
    echo "Repeated because unrelated processes used more than $DISTURBED_PCT% of a core during the window:"
    echo
    for r in "${DISCARDED[@]}"; do echo "- $r"; done
    echo
  fi
  if [ ${#FLAGS[@]} -gt 0 ]; then
    echo "**FLAGGED** (this run saw problems):"
    echo
    for f in "${FLAGS[@]}"; do echo "- $f"; done
    echo
  else
    echo "No errors: every request of every hangard run was answered 200; no timeouts, no crash, nothing logged at error level$(want registry && echo "; no event lost, duplicated or out of order")$(want rooms && echo "; no room message lost, duplicated or out of order, no client closed by a server")."
    echo
  fi
  if want flexmatch; then
    echo "## FlexMatch matchmaking"
    echo
    echo "No self-hosted peer speaks FlexMatch; the figures stand beside GameLift's documented quotas"
    echo "(../shared/reference/gamelift-wire.md §8: StartMatchmaking and DescribeMatchmaking are rate-limited per"
    echo "account, AcceptMatch 100/s). glload -w match creates a STANDALONE configuration of the AWS guide's 4-v-4"
    echo "skill-balanced rule set, then $FM_CONNS connections send signed StartMatchmaking requests, one new player each"
    echo "(skill 0..99), each answered once the ticket is durable. Batches run every $FM_BATCH_MS ms; a batch holds the"
    echo "loop at most ~50 ms at a time: one that runs out of time goes on at the next loop turn, after the requests"
    echo "that waited. After the window the tickets still waiting are left to drain; matches/s = matches made /"
    echo "(window + warm-up + drain). The steady row offers $FM_RATE tickets/s (glload -R, a fixed rate over the same"
    echo "connections) on a fresh daemon: the time to match when the matcher is not behind."
    echo
    echo "| case | tickets accepted/s | spread | request p99 ms | matches formed/s | time to match: mean s / p50 / p99 (bucket bound, worst run) | longest batch s | tickets left unmatched | server CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| hangard: StartMatchmaking, 1 player, $FM_CONNS conns, STANDALONE 4-v-4 | $(bp_fmt "${FM[tickets_ps]:-0}") | ${FM[spread]:-?} | ${FM[p99]:-?} | $(bp_fmt "${FM[matches_ps]:-0}") | ${FM[ttm]:-?} / <= ${FM[q50]:-?} / <= ${FM[q99]:-?} | ${FM[bmax]:-?} | ${FM[left]:-?} | ${FM[scpu]:-?} |"
    echo "| hangard: the same at a steady $(bp_fmt "$FM_RATE")/s offered | $(bp_fmt "${FM[r_tps]:-0}") | ${FM[r_spread]:-?} | ${FM[r_p99]:-?} | - | ${FM[r_ttm]:-?} / <= ${FM[r_q50]:-?} / <= ${FM[r_q99]:-?} | - | - | ${FM[r_scpu]:-?} |"
    echo
    echo "Per run: $(printf '%s; ' "${FM_RAW[@]}")"
    echo
  fi
} >"$OUT.tmp"
interpret() {
  local target; target=$(awk -v n="$NGINX_GET_RPS" 'BEGIN{printf "%.0f", n*0.4}')
  echo "## Interpretation: FleetIQ"
  echo
  echo "Target (the issue): signed, durable FleetIQ calls at >= 0.4x nginx's static 1-worker req/s, i.e."
  echo ">= $target req/s on this box in this run (nginx 1 worker GET: $(bp_fmt "$NGINX_GET_RPS") req/s)."
  echo
  local w v wl="hangard: DescribeGameServer, pre-signed, replayed"
  if [ -n "${MED_RPS[$wl]:-}" ]; then
    v=$(verdict "${MED_RPS[$wl]}" at-least "$target")
    echo "- \`describe\` replayed by wrk (same tool as nginx): $(bp_fmt "${MED_RPS[$wl]}") req/s = $(ratio "${MED_RPS[$wl]}" "$NGINX_GET_RPS")x nginx: $v the target."
  fi
  for w in cycle claim describe; do
    [ -n "${MED_RPS[$w]:-}" ] || continue
    v=$(verdict "${MED_RPS[$w]}" at-least "$target")
    echo "- \`$w\`: $(bp_fmt "${MED_RPS[$w]}") req/s = $(ratio "${MED_RPS[$w]}" "$NGINX_GET_RPS")x nginx: $v the target$([ "$w" = describe ] || echo "; $(bp_fmt "${MED_CPS[$w]}") full claim cycles/s")."
  done
  echo
  echo "Every request above is SigV4-verified; every write (all of cycle and claim) is committed to SQLite"
  echo "(WAL, fsync) before it is answered, batched by group commit. For scale: Agones reports 300-400"
  echo "allocations/s, and GameLift's own quota for ClaimGameServer is 20 claims/s per account, so one"
  echo "hangard's claim cycles/s above is $( [ -n "${MED_CPS[claim]:-}" ] && awk -v c="${MED_CPS[claim]}" 'BEGIN{printf "~%.0fx Agones'"'"'s upper figure and ~%.0fx GameLift'"'"'s quota", c/400, c/20}' || echo "to be compared with those")."
  echo "Load generator and daemon share the $(nproc) cores: see the client and others CPU columns before"
  echo "reading a row as the daemon's ceiling; a large \"others\" figure means the box was busy with"
  echo "something else during the run and the row is pessimistic. glload signs every request (two SHA-256"
  echo "and an HMAC), so it costs more client CPU per request than wrk replaying one pre-signed request;"
  echo "on two shared cores that CPU comes out of the server's share. The wrk describe row is the"
  echo "like-for-like comparison with nginx; the glload describe row is what real, signing clients see."
  echo "A server CPU near 100 for a row means hangard's single loop thread was saturated (the store writer"
  echo "thread adds the rest for write workloads)."
  echo
}
# explain_bound KEY NAME UNIT CONNS SERIES: what bounded sessload row KEY (SL[KEY_*] medians), as a
# bullet: the store writer lane, the loop thread, the load generator, or none (latency-bound: CONNS
# in flight, each UNIT being SERIES in series).
explain_bound() {
  local k=$1 name=$2 unit=$3 conns=$4 series=$5
  local w=${SL[${k}_wbusy]:-0} l=${SL[${k}_lcpu]:-0} c=${SL[${k}_ccpu]:-0} per
  per=$(awk -v m="${SL[${k}_cms]:-0}" -v t="${SL[${k}_tpc]:-0}" 'BEGIN{if(t>0) printf "%.0f", m/t*1000; else print "?"}')
  if awk -v w="$w" 'BEGIN{exit !(w>=80)}'; then
    echo "- $name: hangard's store writer lane. It was committing ${w}% of the window (${SL[${k}_com]} commits/s × ${SL[${k}_cms]} ms),"
    echo "  ${SL[${k}_tpc]} transactions per commit, so ~${per} µs of writer time per transaction: the fsync is shared by the batch,"
    echo "  the rest grows with the transactions in it. hangard wrote ${SL[${k}_dkib]} KiB to disk per $unit"
    echo "  (${SL[${k}_dmib]} MiB/s). The loop thread used ${l}% of a core (loop busy ${SL[${k}_lbusy]}%): it waits on commits, it is not"
    echo "  saturated; sessload used ${c}%. More connections only make the batches, and the latency, bigger."
  elif awk -v l="$l" 'BEGIN{exit !(l>=90)}'; then
    echo "- $name: hangard's loop thread, at ${l}% of a core (loop busy ${SL[${k}_lbusy]}%); the store writer was committing ${w}% of the"
    echo "  window; sessload used ${c}%."
  elif awk -v c="$c" 'BEGIN{exit !(c>=90)}'; then
    echo "- $name: the load generator, sessload, at ${c}% of a core: the figure is a floor for hangard."
  else
    echo "- $name: no single thread saturated: loop thread ${l}%, store writer committing ${w}%, sessload ${c}%. The"
    echo "  $conns ${unit}s in flight, each $series, bound it (latency-bound)."
  fi
}

interpret_sessions() {
  local b=${SL[burst_pps]:-} r=${SL[recycle_pps]:-} k v
  echo "## Interpretation: game sessions"
  echo
  echo "Target (the issue): at least 10,000 sessions placed per second on this box: CreateGameSession +"
  echo "CreatePlayerSessions against ready Server SDK processes, beside nginx in the same run (nginx 1 worker GET:"
  echo "$(bp_fmt "${NGINX_GET_RPS:-0}") req/s)."
  echo
  if [ -n "$b" ]; then
    v=$(verdict "$b" at-least 10000)
    echo "- burst ($SL_PROCS processes ready, then $SL_PROCS placements from $SL_CONNS connections): $(bp_fmt "$b") sessions/s"
    echo "  (runs: ${SL[burst_all]}$(runs_off "${SL[burst_all]}" at-least 10000)) = $(ratio "$b" "${NGINX_GET_RPS:-0}")x nginx's GET req/s: $v the target$(awk -v r="$b" 'BEGIN{if(r<10000 && r>0) printf " (%.1f%% short)", (1-r/10000)*100}')."
    echo "  Each placed session is three durable requests (CreateGameSession, ActivateGameSession on the SDK socket,"
    echo "  CreatePlayerSessions), each committed with fsync before it is answered: $(bp_fmt "${SL[burst_ops]}") requests/s in all"
    echo "  ($(ratio "${SL[burst_ops]}" "${NGINX_GET_RPS:-0}")x nginx's GET req/s);"
    echo "  placement p50 ${SL[burst_p50]} ms, p99 ${SL[burst_p99]} ms with $SL_CONNS placements in flight."
  fi
  if [ -n "$r" ]; then
    echo "- recycle ($SL_RECYCLE_PROCS processes; each placed session's process ends with ProcessEnding and a new process"
    echo "  connects, upgrades and goes ready): $(bp_fmt "$r") sessions/s (runs: ${SL[recycle_all]}), $(bp_fmt "${SL[recycle_ops]}") requests/s;"
    echo "  a process is ready again p50 ${SL[recycle_rec]} ms after its ProcessEnding was sent."
  fi
  echo
  echo "What bounds it, from the medians above:"
  echo
  for k in burst recycle; do
    [ -z "${SL[${k}_pps]:-}" ] || explain_bound "$k" "$k" "placed session" "$SL_CONNS" "three round trips and three commits in series"
  done
  echo
  echo "Where the store writer's time goes and what would change it: bench/README.md, \"Profiling a row\"."
  echo "Load generator and daemon share the $(nproc) cores; sessload plays both the game backend (signing every"
  echo "HTTP request) and every game server process (masking every frame)."
  echo
}
interpret_placement() {
  local b=${SL[pl_burst_pps]:-} q=${SL[pl_paced_p99]:-} k
  echo "## Interpretation: placements"
  echo
  echo "Targets (the issue): with capacity ready, p99 under 5 ms from StartGameSessionPlacement to FULFILLED, and at"
  echo "least 5,000 placements/s, beside nginx in the same run (nginx 1 worker GET: $(bp_fmt "${NGINX_GET_RPS:-0}") req/s)."
  echo "FULFILLED is taken at the 200 answer of the process's ActivateGameSession, which hangard sends once the"
  echo "transaction that makes the session ACTIVE and the placement FULFILLED (players reserved) is durable."
  echo
  if [ -n "$b" ]; then
    echo "- throughput ($PL_PROCS processes ready, then $PL_PROCS placements from $PL_CONNS connections): $(bp_fmt "$b") placements/s"
    echo "  (runs: ${SL[pl_burst_all]}$(runs_off "${SL[pl_burst_all]}" at-least 5000)) = $(ratio "$b" "${NGINX_GET_RPS:-0}")x nginx's GET req/s: $(verdict "$b" at-least 5000) the 5,000/s target$(awk -v r="$b" 'BEGIN{if(r<5000 && r>0) printf " (%.1f%% short)", (1-r/5000)*100}');"
    echo "  $(bp_fmt "${SL[pl_burst_ops]}") durable requests/s in all (two per placement; $(ratio "${SL[pl_burst_ops]}" "${NGINX_GET_RPS:-0}")x nginx's GET req/s). With $PL_CONNS placements in flight,"
    echo "  start → FULFILLED is p50 ${SL[pl_burst_p50]} ms, p99 ${SL[pl_burst_p99]} ms: queueing for the store writer, not the path."
  fi
  if [ -n "$q" ]; then
    echo "- latency (open loop at $PL_RATE starts/s, $PL_RATE_CONNS connections, capacity ready): start → FULFILLED p50"
    echo "  ${SL[pl_paced_p50]} ms, p99 $q ms (runs: ${SL[pl_paced_p99_all]} ms$(runs_off "${SL[pl_paced_p99_all]}" under 5); max ${SL[pl_paced_max]} ms): $(verdict "$q" under 5) the 5 ms target"
    echo "  (by the median of the runs)."
    echo "  The start itself is answered p50 ${SL[pl_paced_c50]} / p99 ${SL[pl_paced_c99]} ms; ${SL[pl_paced_checks]}."
  fi
  echo
  echo "What bounds the figures: a placement is two durable transactions in series, each committed by the store"
  echo "writer (WAL, fsync) before its answer: the start (the placement record and its first attempt's game session,"
  echo "ACTIVATING on an idle process) and the activation (the session ACTIVE, the placement FULFILLED, $PL_PLAYERS player"
  echo "sessions RESERVED). Between them the push crosses the process's WebSocket and the process answers it."
  if [ -n "$q" ]; then
    echo "With capacity ready and ~$(awk -v r="$PL_RATE" -v l="${SL[pl_paced_p50]}" 'BEGIN{printf "%.1f", r*l/1000}') placement in flight on average, the p50 is about two commits"
    echo "(${SL[pl_paced_cms]} ms each on average, ${SL[pl_paced_tpc]} transaction per commit: no batching at this rate) plus four loopback"
    echo "hops and two signed or masked messages parsed on each side. The tail comes from the few slow commits:"
    echo "${SL[pl_paced_slow1]}% of the window's commits took over 1 ms, ${SL[pl_paced_slow2]}% over 2.5 ms, i.e. ${SL[pl_paced_st2]} per second"
    echo "(${SL[pl_paced_st10]} per second over 10 ms). The store writer commits one batch at a time, so every placement"
    echo "that arrives during a slow commit waits for it, and a placement waits on two commits: a stall of d ms"
    echo "once a second delays about 2 × d / 1000 of the placements (5 ms: 1%, the p99). A slow commit every second"
    echo "or so is consistent with hangard's WAL checkpoint, which runs inside a commit every 10,000 WAL pages"
    echo "(src/store/sqlite.c): at $(bp_fmt "${SL[pl_paced_dkib]}") KiB written per placement (WAL frames and checkpoints together),"
    echo "$PL_RATE placements/s fill 10,000 pages every one to two seconds."
    echo "So the p99 measures the checkpoint and fsync tail of this disk (and two cores shared by sessload,"
    echo "hangard's loop and its store writer), not queueing: the max was ${SL[pl_paced_max]} ms."
  fi
  echo
  for k in pl_burst pl_paced; do
    [ -n "${SL[${k}_pps]:-}" ] || continue
    if [ "$k" = pl_paced ]; then
      echo "- latency row: every thread mostly idle (loop thread ${SL[${k}_lcpu]}%, store writer committing ${SL[${k}_wbusy]}%, sessload"
      echo "  ${SL[${k}_ccpu]}%): the figure is the path's own latency, as intended."
    else
      explain_bound "$k" "throughput row" placement "$PL_CONNS" "two round trips and two commits in series"
      awk -v m="${SL[${k}_cms]:-0}" -v t="${SL[${k}_tpc]:-0}" -v l="${SL[${k}_lcpu]:-0}" -v txp="$(awk -v o="${SL[${k}_ops]:-0}" -v p="${SL[${k}_pps]:-0}" 'BEGIN{print (p>0) ? o/p : 2}')" 'BEGIN{
        if (t <= 0 || m <= 0) exit
        us = m / t * 1000 * txp
        printf "  A placement costs ~%.0f µs of store writer time (%.0f transactions of ~%.0f µs), so with the writer\n", us, txp, m / t * 1000
        printf "  never idle this disk caps placements near %.0f/s at this batch size; %s.\n", 1e6 / us,
          (l >= 70 ? sprintf("the loop thread, at %.0f%% of a core, would be next", l) : "the loop thread would allow more") }'
    fi
  done
  echo
  echo "Load generator and daemon share the $(nproc) cores; sessload plays both the game backend (signing every"
  echo "HTTP request) and every game server process (masking every frame)."
  echo
}
interpret_registry() {
  local d1=${EV[redis1_dps]:-0} v
  echo "## Interpretation: registry event stream"
  echo
  echo "Targets (the issue): (1) deliveries/s to 8 subscribers at least Redis's PUBLISH-to-8 figure (-P 1),"
  echo "while keeping the replay log; (2) p99 from the announce acknowledged to the event received under 1 ms"
  echo "on an idle box. Redis in this run: $(bp_fmt "${EV[redis1_pps]:-0}") PUBLISH/s × 8 = $(bp_fmt "$d1") deliveries/s at -P 1"
  echo "(BASELINES.md: 71,600 × 8 = 573k), $(bp_fmt "${EV[redis16_dps]:-0}") at -P 16. Redis shares the 2 cores with its 8 redis-cli"
  echo "subscribers, which print every message (client CPU column): a reason its -P 1 figure can sit below"
  echo "the baseline's; the ratio to the baseline is given too."
  echo
  if [ -n "${EV[sat_dps]:-}" ]; then
    v=$(verdict "${EV[sat_dps]}" at-least "$d1")
    echo "- (1) hangard, saturated: $(bp_fmt "${EV[sat_dps]}") deliveries/s ($(bp_fmt "${EV[sat_pps]}") PATCH/s, each one event to $EV_SUBS subscribers)"
    echo "  = $(ratio "${EV[sat_dps]}" "$d1")x Redis -P 1 in this run ($(ratio "${EV[sat_dps]}" 572800)x the 573k baseline; $(ratio "${EV[sat_dps]}" "${EV[redis16_dps]:-0}")x Redis -P 16): $v the target."
  fi
  if [ -n "${EV[paced_l99]:-}" ]; then
    v=$(verdict "${EV[paced_l99]}" under 1)
    echo "- (2) hangard, paced at $EV_RATE PATCH/s: answer → event p99 ${EV[paced_l99]} ms (runs: ${EV[paced_l99_all]} ms; p50 ${EV[paced_l50]},"
    echo "  max ${EV[paced_lmax]} ms): $v the target. Under saturation the same figure is p99 ${EV[sat_l99]:-?} ms."
  fi
  echo "- Nothing lost: saturated ${EV[sat_checks]:-?}; paced ${EV[paced_checks]:-?} (summed over the runs)."
  echo
  echo "What is compared: every hangard change is a SigV4-verified HTTP PATCH, parsed and validated, written"
  echo "to SQLite and committed with fsync (WAL, synchronous=FULL, group commit) before it is answered and"
  echo "before its event is published; the event keeps its sequence number in the 65,536-event replay ring,"
  echo "so a subscriber that reconnects with after= gets every event it missed. A Redis PUBLISH is an"
  echo "unauthenticated in-memory fan-out: nothing is persisted (PUBLISH never reaches the AOF), there is no"
  echo "replay (a subscriber that drops loses what was sent meanwhile), and redis-benchmark counts"
  echo "acknowledged PUBLISHes (deliveries = 8 × that), where evload counts what its subscribers received."
  echo "Load generator and daemon share the $(nproc) cores: evload signs every PATCH and parses every event of"
  echo "its $EV_SUBS subscribers on one thread (client CPU column), and loopback TCP costs softirq time;"
  echo "a server CPU above 100 is hangard's loop thread at ~100% plus its store writer. Where the loop"
  echo "thread's time goes under this load: bench/README.md, \"Profiling a row\"."
  echo
}
interpret_purchases() {
  local b=${PU[buy]:-0} pg=${PU[pg]:-0} sq=${PU[sqlite64]:-0} t
  t=$(awk -v p="$pg" 'BEGIN{printf "%.0f", p*5}')
  echo "## Interpretation: purchases"
  echo
  echo "Targets (the issue): durable idempotent purchases/s over HTTP at $PU_CONNS connections >= 5x PostgreSQL's purchase"
  echo "transaction tps (>= $(bp_fmt "$t")/s in this run) and >= 1.0x SQLite's 64-per-commit figure ($(bp_fmt "$sq")/s)."
  echo
  echo "- hangard: $(bp_fmt "$b") purchases/s = $(ratio "$b" "$pg")x PostgreSQL ($(verdict "$b" at-least "$t") the 5x target), $(ratio "$b" "$sq")x SQLite 64 per commit ($(verdict "$b" at-least "$sq") the target)."
  echo "- event ingest, batches of 100: $(bp_fmt "${PU[events_ps]:-0}") events/s (no target; reported beside them)."
  echo
  echo "What bounds hangard here is the store writer: each purchase changes ~5 B-tree pages in different places"
  echo "(the wallet, the idempotency key, the ledger and the purchase index, all keyed by player, and the event's"
  echo "player index), each written to the WAL and again at checkpoint; the SQLite peer changes 2 (the purchase"
  echo "by its key, the wallet). See bench/README.md, \"Purchases\"."
  echo
}
interpret_leaderboards() {
  local z=${LB[redis_zadd]:-0} v m rm
  echo "## Interpretation: leaderboards"
  echo
  echo "Targets (the issue), on a $(bp_fmt "$LB_ENTRIES")-entry board at Redis's concurrency (-c $LB_CONNS):"
  if [ -n "${LB[lb_submit]:-}" ]; then
    v=$(verdict "${LB[lb_submit]}" at-least "$z")
    echo "- durable HTTP submits/s >= 1.0x Redis ZADD with appendfsync always: $(bp_fmt "${LB[lb_submit]}") vs $(bp_fmt "$z") = $(ratio "${LB[lb_submit]}" "$z")x: $v the target"
    echo "  (BASELINES.md: ZADD aof-always 53,519/s, so $(ratio "${LB[lb_submit]}" 53519)x that figure)."
  fi
  if [ -n "${LB[lb_rank]:-}" ]; then
    v=$(verdict "$(ratio "${LB[lb_rank]}" "$NGINX_GET_RPS")" at-least 0.8)
    echo "- HTTP rank reads/s >= 0.8x nginx's static 1-worker GET: $(bp_fmt "${LB[lb_rank]}") vs $(bp_fmt "$NGINX_GET_RPS") = $(ratio "${LB[lb_rank]}" "$NGINX_GET_RPS")x: $v the target"
    echo "  (Redis ZREVRANK, a bare in-memory lookup with no HTTP, no auth and no JSON: $(bp_fmt "${LB[redis_zrevrank]:-0}")/s)."
  fi
  m=$(awk -v a="${LB[mem]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}')
  rm=$(awk -v a="${LB[redis_usage]:-0}" -v n="$LB_ENTRIES" 'BEGIN{printf "%.1f", a/n}')
  echo "- memory per entry <= Redis's (MEMORY USAGE of the key / its entries): $m B vs $rm B: $(awk -v a="$m" -v b="$rm" 'BEGIN{print (a > 0 && a <= b) ? "meets" : "misses"}') the target."
  echo
  echo "What is compared: a Redis ZADD is an unauthenticated RESP command, appended to the AOF and fsync'd"
  echo "before its reply. A hangard submit is an HTTP request whose bearer token is verified (a JWT, HS256;"
  echo "verified tokens are cached by their SHA-256 until they expire), whose JSON body is parsed and checked,"
  echo "applied to the board's rank set, written as the entry's record to SQLite and committed with fsync before"
  echo "the answer carries the new rank. The load generator (wrk, or redis-benchmark) shares the $(nproc) cores with"
  echo "the server: see the client CPU column."
  echo
}
interpret_flexmatch() {
  local t=${FM[tickets_ps]:-0}
  echo "## Interpretation: FlexMatch"
  echo
  echo "Target (the issue): >= 10,000 tickets/s matched for 8-player 2-team skill-balanced matches, p99 time to"
  echo "match <= one batch interval plus placement when the pool can satisfy the rules."
  echo
  echo "- tickets accepted (durable) and matched: $(bp_fmt "$t")/s: $(verdict "$t" at-least 10000) the 10,000/s target."
  echo "- at a steady $(bp_fmt "$FM_RATE") tickets/s offered ($(bp_fmt "${FM[r_tps]:-0}")/s taken): time to match mean ${FM[r_ttm]:-?} s, p50 <= ${FM[r_q50]:-?} s,"
  echo "  p99 <= ${FM[r_q99]:-?} s (the histogram's bucket bounds, worst run), batches every $FM_BATCH_MS ms: the p99 is"
  echo "  $(awk -v q="${FM[r_q99]:-1e9}" -v b="$FM_BATCH_MS" 'BEGIN{print (q * 1000 <= b) ? "within" : "beyond"}') one batch interval (STANDALONE: no placement), $(awk -v q="${FM[r_q99]:-1e9}" -v b="$FM_BATCH_MS" -v t="${FM[r_tps]:-0}" -v r="$FM_RATE" 'BEGIN{print (q * 1000 <= b && t >= 0.98 * r) ? "meets" : "misses"}') the target."
  echo "- flat out ($FM_CONNS connections, no pacing): time to match mean ${FM[ttm]:-?} s, p50 <= ${FM[q50]:-?} s, p99 <= ${FM[q99]:-?} s: the"
  echo "  daemon's loop is the limit there, requests and batches share it, and tickets wait for the batches."
  echo "- the matcher alone (build/matchbench, 10,000 tickets) forms its matches in a few ms; what bounds the"
  echo "  service is taking the requests and applying the matches: per ticket its record written twice (QUEUED,"
  echo "  then COMPLETED) and three events. Generated ticket ids are time-ordered (UUID v7), so those records sit"
  echo "  side by side in the store's index: the writer thread dirties a few pages per commit, not one per ticket."
  echo
}
interpret_rooms() {
  local c=${RM[colyseus_best]:-0} k
  echo "## Interpretation: realtime rooms"
  echo
  echo "Figure (the issue): deliveries/s at the best unsaturated step with p99 under $RM_P99 ms, $RM_ROOMS rooms × 8 clients,"
  echo "beside Colyseus in the same run (BASELINES.md: Colyseus 128,000/s; Mosquitto over MQTT/TCP, Nagle off, 160,000/s at"
  echo "p99 24 ms, client-bound)."
  echo
  for k in plain lua mqtt mosq_node; do
    [ -n "${RM[${k}_best]:-}" ] || continue
    case $k in
      plain) echo -n "- hangard, plain relay" ;; lua) echo -n "- hangard, every message through a Lua handler" ;;
      mqtt) echo -n "- Mosquitto with roomload" ;; mosq_node) echo -n "- Mosquitto with its Node client" ;;
    esac
    echo ": $(bp_fmt "${RM[${k}_best]}") deliveries/s at ${RM[${k}_rate]} msg/s per client (p99 ${RM[${k}_p99]} ms)$([ "${c%.*}" -gt 0 ] 2>/dev/null && echo " = $(ratio "${RM[${k}_best]}" "$c")x Colyseus ($(bp_fmt "$c")/s)" || echo " (no Colyseus figure in this run)");"
    echo "  the next step: ${RM[${k}_sat]}."
  done
  echo
  echo "Which side saturated: the server CPU column is the server process (hangard's loop thread in brackets: the"
  echo "room fan-out runs there), the client CPU column the load generator. A server near 100% of a core (loop thread)"
  echo "is the server's ceiling; a client near 100% means the figure is a floor for the server. The peers' Node clients"
  echo "reach ~100% of a core around 150-250k deliveries/s (../shared/peers/README.md), which is why the rows driven by"
  echo "roomload (one C thread, no allocation per message) are the ones to read for hangard's and Mosquitto's own"
  echo "ceilings; the Colyseus row is Colyseus with its own client, as BASELINES.md measured it. Both ends share the"
  echo "$(nproc) cores: every row's machine busy column says how much of the box was left."
  if [ -n "${RM[idle_held]:-}" ]; then
    echo
    echo "- idle: ${RM[idle_held]} of ${RM[idle_conns]} room connections held; hangard's RSS grew ${RM[idle_server_bytes_per_conn]} bytes per"
    echo "  connection (${RM[idle_server_heap_bytes_per_conn]} of them counted by its allocator: seat, connection, WebSocket state and"
    echo "  buffers; the rest is libuv/kernel-facing buffers and allocator slack)."
  fi
  echo
}
want fleetiq && interpret >>"$OUT.tmp"
want registry && interpret_registry >>"$OUT.tmp"
want sessions && interpret_sessions >>"$OUT.tmp"
want placement && interpret_placement >>"$OUT.tmp"
want leaderboards && interpret_leaderboards >>"$OUT.tmp"
want purchases && interpret_purchases >>"$OUT.tmp"
want rooms && interpret_rooms >>"$OUT.tmp"
want flexmatch && interpret_flexmatch >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
bp_log "wrote $OUT; raw outputs in $BP_DIR"
[ ${#FLAGS[@]} -eq 0 ] || exit 2
