/* hangar — sessload: game session placement under load, for the benchmarks.
 *
 * Plays both sides of GameLift session placement against hangard: the game backend that calls
 * the signed GameLift JSON 1.1 API (CreateGameSession, CreatePlayerSessions; or, through a queue,
 * StartGameSessionPlacement), and -n game server processes speaking the Server SDK 5 WebSocket
 * protocol on GET /sdk (gamelift-wire.md §7).
 *
 * Set-up, on a blocking socket, before anything is measured: CreateLocation, CreateFleet
 * (ANYWHERE), then RegisterCompute + GetComputeAuthToken for ceil(n / 50) computes (hangard, like
 * GameLift, allows 50 processes per compute); in placement mode also CreateGameSessionQueue with
 * the fleet's ARN as its one destination. Then one libuv loop (one thread) opens the n
 * process sockets, at most -K handshakes at a time (the listen backlog is finite): upgrade with
 * pID, FleetId, ComputeId and the compute's auth token in the query (as the SDKs do; the
 * Sec-WebSocket-Accept is checked), then ProcessReady (ActivateServerProcess). Client frames are
 * masked; server frames are parsed (pings answered with pongs, close frames noted). -c keep-alive
 * HTTP connections are opened beside them.
 *
 * One placement, driven by one HTTP connection (closed loop: one placement in flight on each):
 *
 *   conn: CreateGameSession {FleetId, MaximumPlayerSessionCount, Name "h<conn>-<seq>"}
 *         → 200, Status ACTIVATING (hangard answers once the session is durable)
 *   proc: ← push {"Action":"CreateGameSession", GameSessionId, GameSessionName, …}; the name
 *         says which placement it is (the push may beat the HTTP answer)
 *         → ActivateGameSession {GameSessionId} → 200 (durable: the session is ACTIVE)
 *   conn: once both the answer and the activation are in: CreatePlayerSessions {GameSessionId,
 *         PlayerIds: -p distinct players} → 200 with -p player sessions RESERVED
 *   = one session placed. Latency: CreateGameSession sent → CreatePlayerSessions answered.
 *
 * In placement mode a placement goes through a queue instead (gamelift-wire.md §5):
 *
 *   conn: StartGameSessionPlacement {PlacementId "p<tag>-<conn>-<seq>", GameSessionQueueName,
 *         MaximumPlayerSessionCount, GameSessionName "h<conn>-<seq>", DesiredPlayerSessions: -p
 *         players} → 200, Status PENDING; hangard makes the first attempt inside the request, so
 *         with capacity ready the answer already names the game session (counted otherwise:
 *         `deferred`)
 *   proc: ← the CreateGameSession push, as above → ActivateGameSession → 200: hangard makes the
 *         placement FULFILLED, with its -p player sessions reserved, in the transaction that makes
 *         the session ACTIVE, and answers once that is durable
 *   = one placement FULFILLED. Latency: StartGameSessionPlacement sent → that ActivateGameSession
 *   answered (start → FULFILLED, durable). After the run, outside the window, up to -V placements
 *   are read back with DescribeGameSessionPlacement (Status FULFILLED, -p PlacedPlayerSessions,
 *   the pushed GameSessionId): `verified`.
 *
 * Modes (-m):
 *   burst    the issue's figure: n processes ready, then exactly n placements as fast as the -c
 *            connections go; the window runs from the first CreateGameSession sent to the last
 *            CreatePlayerSessions answered. Each process hosts one session; nothing is recycled.
 *   recycle  steady state: after its session is placed, the process ends as a game server does
 *            (TerminateServerProcess = ProcessEnding: its session ends, the process is gone),
 *            closes its socket and comes back as a new process (a new pID on the same compute:
 *            connect, upgrade, ProcessReady), so capacity is recycled. A CreateGameSession is
 *            sent only while this tool counts an idle ready process for it (else the connection
 *            waits: `starved`), so hangard never runs out of capacity because of the tool's own
 *            pace. -W s of warm-up, then the -d s window; placements whose last answer arrives in
 *            the window are counted.
 *   placement  StartGameSessionPlacement through a queue, against n ready processes (nothing is
 *            recycled). Without -R (throughput): exactly n placements as fast as the -c
 *            connections go (closed loop, like burst); the window runs from the first start sent
 *            to the last placement FULFILLED. With -R RATE (latency with capacity ready): open
 *            loop, a 1 ms timer starts RATE placements per second on whichever connection is free
 *            (a start that finds none waits: `late`; how far behind its schedule each start was
 *            sent, the timer's granularity included: `lag_p99_ms`); -W s of warm-up, then the -d
 *            s window, as recycle. n must cover every start: n >= RATE x (W + d) + c.
 *
 * Measured at the window's edges, on the loop thread: CPU (loadlib.h) of the daemon (-P PID), of
 * its loop thread alone (the thread whose id is the PID: 100 means the loop is saturated), of this
 * tool, softirq and others; the daemon's storage traffic from /proc/PID/io (bytes written to disk
 * per placed session); and its /metrics: store commits (fsync batches) and transactions, mean
 * commit time (commits/s x mean commit time = how much of the window its store writer spent
 * committing) and the commits slower than 1, 2.5 and 10 ms (its commit-time histogram: the
 * latency's tail), the loop's busy time, and the mean answer time of CreateGameSession and
 * CreatePlayerSessions (placement mode: StartGameSessionPlacement, and the daemon's FULFILLED
 * count) as the daemon measures it. The set-up's pace (processes ready per second) is reported
 * too.
 *
 * Checks: every answer must be 200, every push must name a placement in flight and reach an idle
 * process, every CreatePlayerSessions answer must hold -p RESERVED player sessions (placement:
 * every start answer is PENDING, every placement read back FULFILLED with -p players), the
 * session an answer names must be the one pushed; transport errors, sockets closed by the server,
 * timeouts (-T) are counted. Any of these flags the run (flagged=1, exit 2; the first problems go
 * to stderr and -e FILE).
 *
 * Output: a human summary, then as the last line
 *   RESULT workload=sessions mode=… rate=… procs=… conns=… players=… duration_s=… placed=…
 *          placed_per_s=… p50_ms=… p90_ms=… p99_ms=… max_ms=… create_p50_ms=… create_p99_ms=…
 *          push_p50_ms=… activate_p50_ms=… activate_p99_ms=… players_p50_ms=… players_p99_ms=…
 *          recycle_p50_ms=… recycle_p99_ms=… ready_s=… ready_per_s=… ops_per_s=… starved=…
 *          deferred=… late=… lag_p99_ms=… verified=… verify_n=… errors=… timeouts=…
 *          [daemon_commits_per_s=… daemon_txns_per_s=… daemon_txns_per_commit=…
 *          daemon_commit_ms=… daemon_writer_busy_pct=… daemon_loop_busy_pct=… daemon_create_ms=…
 *          daemon_players_ms=… daemon_start_ms=… daemon_fulfilled_per_s=…
 *          daemon_commits_over_1ms_pct=… daemon_commits_over_2_5ms_pct=…
 *          daemon_commits_over_2_5ms_per_s=… daemon_commits_over_10ms_per_s=…]
 *          [daemon_disk_write_kib_per_session=…
 *          daemon_disk_read_kib_per_session=… daemon_disk_write_mib_s=…] [server_cpu_pct=…
 *          server_loop_cpu_pct=…] client_cpu_pct=… softirq_cpu_pct=… other_cpu_pct=…
 *          machine_busy_pct=… flagged=0|1 [status_NNN=…]
 * (CPU: 1 core = 100; machine busy: all cores = 100. In placement mode "placed" counts placements
 * FULFILLED, p50/p99 are start → FULFILLED and create_* the StartGameSessionPlacement round trip;
 * "per session" means per placement.) One thread runs one libuv loop for both
 * sides; the descriptors needed (one per process socket and per connection) must fit
 * RLIMIT_NOFILE, which sessload raises to its hard limit.
 */
/* memmem, strcasestr: _GNU_SOURCE comes from the build (CMakeLists.txt) */
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth/sigv4.h"
#include "loadlib.h"

#define PER_COMPUTE 50          /* hangard's (and GameLift's) processes per compute */
#define MAX_PROCS 100000        /* hangard's processes in all */
#define MAX_CONNS 4096          /* HTTP connections */
#define MAX_PLAYERS 25          /* CreatePlayerSessions takes at most 25 */
#define REQ_CAP 4096            /* one signed request; ours are < 1.5 KiB */
#define BODY_CAP 16384          /* answer body kept per connection (25 player sessions fit) */
#define ARN_CAP 256             /* a game session ARN */
#define TOKEN_CAP 256           /* a compute auth token */
#define RBUF_SIZE 65536         /* bytes read at once */
#define MAX_FRAME 65536         /* a larger server frame is a protocol error; ours are < 2 KiB */
#define MAX_HANDSHAKE 16384     /* bytes of a 101 answer */
#define MAX_STATUS 600          /* status 0 = transport error / timeout */
#define SYNC_BODY_CAP (1 << 20) /* set-up answers and /metrics */
#define MAX_CONNECT_FAILS 20    /* in a row, per connection, then it gives up */
#define MAX_VERIFY 1000         /* placements read back after the run, at most */

/* The first OP_TIMED are the load's requests, whose daemon-side answer time /metrics gives. */
enum {
    OP_CREATE_GS,
    OP_CREATE_PS,
    OP_START,
    OP_TIMED,
    OP_LOCATION = OP_TIMED,
    OP_FLEET,
    OP_COMPUTE,
    OP_TOKEN,
    OP_QUEUE,
    OP_DESCRIBE_PL,
    OP_N
};
static const char *const op_names[OP_N] = {"CreateGameSession",
                                           "CreatePlayerSessions",
                                           "StartGameSessionPlacement",
                                           "CreateLocation",
                                           "CreateFleet",
                                           "RegisterCompute",
                                           "GetComputeAuthToken",
                                           "CreateGameSessionQueue",
                                           "DescribeGameSessionPlacement"};

typedef enum { M_BURST, M_RECYCLE, M_PLACEMENT } run_mode_t;
static const char *const mode_names[] = {"burst", "recycle", "placement"};

/* ---- options ---- */

static load_opts_t lo; /* -a -k -s -r -e -P -d -W -T */

static struct {
    int procs, conns, players, max_players, connect_par, verify;
    run_mode_t mode;
    double rate; /* placement: starts per second (open loop); 0: closed loop, n placements */
    char location[64], fleet[128], fleet_arn[ARN_CAP], queue[64], sdk_path[256];
    int ncomputes;
    char (*tokens)[TOKEN_CAP];
} opt = {
    .procs = 1000, .conns = 64, .players = 4, .max_players = 8, .connect_par = 128, .verify = 200};

/* ---- problems ---- */

static struct {
    uint64_t status[MAX_STATUS]; /* HTTP answers by status, 0 = transport error or timeout */
    uint64_t ws_status[MAX_STATUS];
    uint64_t timeouts, transport, handshake, lost, closes, mismatch, bad_answer, protocol;
} prob;
static captures_t caps; /* the first problems, with their text */

/* ---- small JSON readers (the answers are ours to check, not to trust) ---- */

/* The string member key of the JSON text d (first occurrence, escapes undone) into out.
 * Returns its length, or -1. */
static int json_str(const char *d, size_t len, const char *key, char *out, size_t cap)
{
    char pat[64];
    int pl = snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *end = d + len;
    for (const char *p = memmem(d, len, pat, (size_t)pl); p;
         p = memmem(p + 1, (size_t)(end - p - 1), pat, (size_t)pl)) {
        const char *q = p + pl;
        while (q < end && *q == ' ')
            q++;
        if (q >= end || *q != ':')
            continue;
        for (q++; q < end && *q == ' '; q++) {
        }
        if (q >= end || *q != '"')
            continue;
        size_t o = 0;
        for (q++; q < end && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < end)
                q++;
            if (o + 1 >= cap)
                return -1;
            out[o++] = *q;
        }
        if (q >= end)
            return -1;
        out[o] = '\0';
        return (int)o;
    }
    return -1;
}

/* The integer member key; -1 when absent. */
static long json_int(const char *d, size_t len, const char *key)
{
    char pat[64];
    int pl = snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = memmem(d, len, pat, (size_t)pl), *end = d + len;
    if (p == NULL)
        return -1;
    p += pl;
    while (p < end && *p == ' ')
        p++;
    long v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

static size_t count_of(const char *d, size_t len, const char *what)
{
    size_t n = 0, wl = strlen(what);
    const char *end = d + len;
    for (const char *p = memmem(d, len, what, wl); p;
         p = memmem(p + wl, (size_t)(end - p - wl), what, wl))
        n++;
    return n;
}

/* ---- request building ---- */

static char amz_date[17]; /* refreshed once per second by the loop's timer */

/* ---- blocking client: set-up and /metrics ---- */

/* The Anywhere fleet, its computes and their auth tokens. */
static int setup(void)
{
    sync_conn_t *r = sync_open(&lo, 10, SYNC_BODY_CAP);
    char body[1024], ep[512];
    int rc = -1, st;
    if (r == NULL) {
        fprintf(stderr, "sessload: cannot connect to %s: %s\n", lo.hostport, strerror(errno));
        goto out;
    }
    snprintf(body, sizeof(body), "{\"LocationName\":\"%s\"}", opt.location);
    if ((st = sync_gl(r, op_names[OP_LOCATION], body)) != 200) {
        fprintf(stderr, "sessload: CreateLocation answered %d: %s\n", st, r->body);
        goto out;
    }
    snprintf(body, sizeof(body),
             "{\"Name\":\"sessload-%s\",\"ComputeType\":\"ANYWHERE\","
             "\"Locations\":[{\"Location\":\"%s\"}]}",
             lo.tag, opt.location);
    if ((st = sync_gl(r, op_names[OP_FLEET], body)) != 200 ||
        json_str(r->body, r->len, "FleetId", opt.fleet, sizeof(opt.fleet)) < 0 ||
        json_str(r->body, r->len, "FleetArn", opt.fleet_arn, sizeof(opt.fleet_arn)) < 0) {
        fprintf(stderr, "sessload: CreateFleet answered %d: %s\n", st, r->body);
        goto out;
    }
    if (opt.mode == M_PLACEMENT) {
        snprintf(opt.queue, sizeof(opt.queue), "sessload-%s", lo.tag);
        snprintf(body, sizeof(body),
                 "{\"Name\":\"%s\",\"TimeoutInSeconds\":600,"
                 "\"Destinations\":[{\"DestinationArn\":\"%s\"}]}",
                 opt.queue, opt.fleet_arn);
        if ((st = sync_gl(r, op_names[OP_QUEUE], body)) != 200) {
            fprintf(stderr, "sessload: CreateGameSessionQueue answered %d: %s\n", st, r->body);
            goto out;
        }
    }
    for (int i = 0; i < opt.ncomputes; i++) {
        snprintf(body, sizeof(body),
                 "{\"FleetId\":\"%s\",\"ComputeName\":\"c%d\",\"IpAddress\":\"127.0.0.1\","
                 "\"Location\":\"%s\"}",
                 opt.fleet, i, opt.location);
        if ((st = sync_gl(r, op_names[OP_COMPUTE], body)) != 200) {
            fprintf(stderr, "sessload: RegisterCompute c%d answered %d: %s\n", i, st, r->body);
            goto out;
        }
        if (i == 0) {
            /* ws://host:port/path: the path is ours to use on our own connection */
            const char *p = NULL;
            if (json_str(r->body, r->len, "GameLiftServiceSdkEndpoint", ep, sizeof(ep)) > 0 &&
                strncmp(ep, "ws://", 5) == 0)
                p = strchr(ep + 5, '/');
            if (json_str(r->body, r->len, "GameLiftServiceSdkEndpoint", ep, sizeof(ep)) > 0 &&
                strncmp(ep, "wss://", 6) == 0) {
                fprintf(stderr, "sessload: the SDK endpoint is %s: TLS is not supported here\n",
                        ep);
                goto out;
            }
            snprintf(opt.sdk_path, sizeof(opt.sdk_path), "%s", p ? p : "/sdk");
        }
        snprintf(body, sizeof(body), "{\"FleetId\":\"%s\",\"ComputeName\":\"c%d\"}", opt.fleet, i);
        if ((st = sync_gl(r, op_names[OP_TOKEN], body)) != 200 ||
            json_str(r->body, r->len, "AuthToken", opt.tokens[i], TOKEN_CAP) <= 0) {
            fprintf(stderr, "sessload: GetComputeAuthToken c%d answered %d: %s\n", i, st, r->body);
            goto out;
        }
    }
    rc = 0;
out:
    sync_close(r);
    return rc;
}

/* hangard's counters from GET /metrics (ok = 0 when unavailable): the store's, the loop's, the
 * placements FULFILLED, and the answer time of each of the load's requests (sum and count). */
enum {
    MX_TXNS, /* first: its presence says the answer is hangard's */
    MX_COMMITS,
    MX_COMMIT_SUM,
    MX_COMMIT_COUNT,
    MX_COMMIT_LE_1MS,  /* commits done within 1 ms (histogram bucket) */
    MX_COMMIT_LE_2MS,  /* … within 2.5 ms */
    MX_COMMIT_LE_10MS, /* … within 10 ms */
    MX_BUSY_SUM,
    MX_FULFILLED,
    MX_OP_SUM,                          /* + op, for op < OP_TIMED */
    MX_OP_COUNT = MX_OP_SUM + OP_TIMED, /* + op */
    MX_N = MX_OP_COUNT + OP_TIMED
};
_Static_assert(MX_N <= METRICS_MAX, "metrics_t holds every counter read");
static char metric_text[MX_N][128];
static const char *metric_names[MX_N] = {"hangar_store_txns_total",
                                         "hangar_store_commit_batches_total",
                                         "hangar_store_commit_seconds_sum",
                                         "hangar_store_commit_seconds_count",
                                         "hangar_store_commit_seconds_bucket{le=\"0.001\"}",
                                         "hangar_store_commit_seconds_bucket{le=\"0.0025\"}",
                                         "hangar_store_commit_seconds_bucket{le=\"0.01\"}",
                                         "hangar_loop_busy_seconds_sum",
                                         "hangar_placements_ended_total{status=\"FULFILLED\"}"};

static void read_metrics(metrics_t *m)
{
    for (int o = 0; o < OP_TIMED; o++) { /* the per-op names, from op_names */
        snprintf(metric_text[MX_OP_SUM + o], sizeof(metric_text[0]),
                 "hangar_gamelift_request_seconds_sum{op=\"%s\"}", op_names[o]);
        snprintf(metric_text[MX_OP_COUNT + o], sizeof(metric_text[0]),
                 "hangar_gamelift_request_seconds_count{op=\"%s\"}", op_names[o]);
        metric_names[MX_OP_SUM + o] = metric_text[MX_OP_SUM + o];
        metric_names[MX_OP_COUNT + o] = metric_text[MX_OP_COUNT + o];
    }
    metrics_read(&lo, metric_names, MX_N, m);
}

/* ---- the loop: state ---- */

static uv_loop_t *loop;
static uv_timer_t sec_timer, win_timer, end_timer, stop_timer;
static enum {
    PH_READYING, /* the processes connect and go ready */
    PH_RUNNING,  /* placements are started */
    PH_DRAINING, /* the window is over: no new placement, those in flight end */
    PH_CLOSING   /* everything closes; the loop ends */
} phase;
static uint64_t t_begin, t_ready, t_win0, t_win1;
static uint64_t credits;     /* idle ready processes not yet asked for by a CreateGameSession */
static uint64_t issued;      /* CreateGameSession sent */
static uint64_t ready_count; /* processes that went ready, first generation */
static uint64_t placed, placed_all, failed, starved, ops_win, recycled;
static uint64_t deferred; /* placement: a start answered without a game session (not at once) */
static unsigned busy_conns;
static char rbuf[RBUF_SIZE + MAX_FRAME + MAX_HANDSHAKE]; /* one loop thread: parsed at once */
static hist_t h_place, h_create, h_push, h_activate, h_players, h_recycle, h_lag;

/* Placement with -R: the open loop's schedule (start k is due at t_pace0 + k / rate). */
static uv_timer_t pace_timer;
static uint64_t t_pace0, paced, late;

/* Placements read back after the run: every stride-th one FULFILLED (ids from conn and seq). */
typedef struct sample {
    unsigned conn;
    uint64_t seq;
    char arn[ARN_CAP];
} sample_t;
static sample_t *samples;
static unsigned nsamples;
static uint64_t sample_stride = 1, verified, verify_bad;

/* The shapes: paced (placement -R) and recycle have a warm-up and a timed window; burst and
 * placement without -R run exactly n placements and time them all. */
static int paced_mode(void)
{
    return opt.mode == M_PLACEMENT && opt.rate > 0;
}

static int windowed(void)
{
    return opt.mode == M_RECYCLE || paced_mode();
}

/* The daemon's storage I/O from /proc/PID/io: bytes it had written to (and read from) the disk,
 * and its write/read system calls (sockets and files). -1 when unreadable. */
typedef struct io_mark {
    long long write_bytes, read_bytes, syscw, syscr;
} io_mark_t;

static void io_read(int pid, io_mark_t *m)
{
    char path[64], line[128];
    m->write_bytes = m->read_bytes = m->syscw = m->syscr = -1;
    snprintf(path, sizeof(path), "/proc/%d/io", pid);
    FILE *f = pid ? fopen(path, "r") : NULL;
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        long long v = atoll(strchr(line, ':') ? strchr(line, ':') + 1 : "0");
        if (strncmp(line, "write_bytes:", 12) == 0)
            m->write_bytes = v;
        else if (strncmp(line, "read_bytes:", 11) == 0)
            m->read_bytes = v;
        else if (strncmp(line, "syscw:", 6) == 0)
            m->syscw = v;
        else if (strncmp(line, "syscr:", 6) == 0)
            m->syscr = v;
    }
    fclose(f);
}

/* The window's edges: CPU, storage I/O and the daemon's counters. */
static cpu_mark_t m0, m1;
static long long loop0 = -1, loop1 = -1;
static io_mark_t io0, io1;
static metrics_t d0, d1;

static void edge(int which)
{
    cpu_mark(which ? &m1 : &m0, lo.server_pid);
    if (lo.server_pid)
        *(which ? &loop1 : &loop0) = proc_task_ticks(lo.server_pid, lo.server_pid);
    io_read(lo.server_pid, which ? &io1 : &io0);
    read_metrics(which ? &d1 : &d0);
    *(which ? &t_win1 : &t_win0) = uv_hrtime();
}

static int in_window(uint64_t t)
{
    return t_win0 && t >= t_win0 && (t_win1 == 0 || t < t_win1);
}

static void finish(void);
static void check_done(void);
static void on_win(uv_timer_t *t);

/* ---- HTTP connections (the game backend) ---- */

typedef struct hconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    unsigned index;
    http_in_t in; /* the answer being read, its body in body */
    int connected, handle_open, inflight, got_response, op, waiting, connect_fails, dead;
    uint64_t sent_ns;
    char req[REQ_CAP];
    int req_len;
    char body[BODY_CAP];
    /* the placement in progress */
    int busy, created, activated, proc;
    uint64_t seq, t0, t_push, t_act; /* sent; pushed; activation answered (placement: FULFILLED) */
    char arn[ARN_CAP];
} hconn_t;

static hconn_t *conns;
static unsigned *waitq, wq_head, wq_len; /* connections waiting for an idle process */

static void conn_start(hconn_t *c);
static void placement_done(hconn_t *c, int ok, uint64_t now);
static void next_placement(hconn_t *c);

static unsigned dead_conns;

static void conn_closed(uv_handle_t *h)
{
    hconn_t *c = h->data;
    c->handle_open = 0;
    c->connected = 0;
    if (phase >= PH_CLOSING)
        return;
    if (c->connect_fails >= MAX_CONNECT_FAILS) { /* the daemon is gone: give up */
        c->dead = 1;
        if (++dead_conns == (unsigned)opt.conns)
            finish();
        return;
    }
    conn_start(c); /* closed by the server (idle, keep-alive off) or after an error */
}

static void conn_close(hconn_t *c)
{
    c->connected = 0; /* what is sent meanwhile waits for the reconnect (conn_connected) */
    if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* The request in flight on c failed without an answer. */
static void conn_fail(hconn_t *c, const char *why)
{
    conn_close(c);
    if (c->inflight) {
        c->inflight = 0;
        prob.status[0]++;
        prob.transport++;
        cap_add(&caps, "connection %u: %s failed: %s", c->index, op_names[c->op], why);
        if (c->busy)
            placement_done(c, 0, uv_hrtime());
    }
}

static void conn_send(hconn_t *c, int op, const char *body)
{
    c->op = op;
    c->req_len = gl_request(&lo, c->req, sizeof(c->req), amz_date, op_names[op], body);
    if (c->req_len < 0) {
        fprintf(stderr, "sessload: cannot sign a request\n");
        exit(1);
    }
    c->inflight = 1;
    c->in.len = 0;
    c->body[0] = '\0';
    c->sent_ns = uv_hrtime();
    int rc = c->connected ? write_now((uv_stream_t *)&c->tcp, c->req, (size_t)c->req_len) : 0;
    if (rc < 0)
        conn_fail(c, uv_strerror(rc));
    /* not connected: conn_connected sends it */
}

/* The placement's -p players, as JSON array members: "id", … or {"PlayerId":"id"}, …. */
static int player_list(char *out, size_t cap, const hconn_t *c, int objects)
{
    int n = 0;
    for (int k = 0; k < opt.players; k++)
        n += snprintf(out + n, cap - (size_t)n,
                      objects ? "%s{\"PlayerId\":\"u%s-%u-%" PRIu64 "-%d\"}"
                              : "%s\"u%s-%u-%" PRIu64 "-%d\"",
                      k ? "," : "", lo.tag, c->index, c->seq, k);
    return n;
}

/* CreateGameSession (placement mode: StartGameSessionPlacement), when an idle process is there
 * for it. */
static void issue_create(hconn_t *c)
{
    if (phase != PH_RUNNING || c->busy || c->waiting || c->dead)
        return;
    if (!windowed() && issued >= (uint64_t)opt.procs)
        return;
    if (credits == 0) {
        c->waiting = 1;
        starved++;
        waitq[(wq_head + wq_len++) % (unsigned)opt.conns] = c->index;
        return;
    }
    credits--;
    issued++;
    busy_conns++;
    c->busy = 1;
    c->created = c->activated = 0;
    c->proc = -1;
    c->arn[0] = '\0';
    c->seq++;
    c->t0 = uv_hrtime();
    char body[512 + 64 * MAX_PLAYERS];
    if (opt.mode != M_PLACEMENT) {
        snprintf(body, sizeof(body),
                 "{\"FleetId\":\"%s\",\"MaximumPlayerSessionCount\":%d,\"Name\":\"h%u-%" PRIu64
                 "\"}",
                 opt.fleet, opt.max_players, c->index, c->seq);
        conn_send(c, OP_CREATE_GS, body);
        return;
    }
    int n = snprintf(body, sizeof(body),
                     "{\"PlacementId\":\"p%s-%u-%" PRIu64 "\",\"GameSessionQueueName\":\"%s\","
                     "\"MaximumPlayerSessionCount\":%d,\"GameSessionName\":\"h%u-%" PRIu64 "\","
                     "\"DesiredPlayerSessions\":[",
                     lo.tag, c->index, c->seq, opt.queue, opt.max_players, c->index, c->seq);
    n += player_list(body + n, sizeof(body) - (size_t)n, c, 1);
    snprintf(body + n, sizeof(body) - (size_t)n, "]}");
    conn_send(c, OP_START, body);
}

/* A connection with no placement in flight (round robin), or NULL. */
static hconn_t *free_conn(void)
{
    static unsigned next;
    for (unsigned k = 0; k < (unsigned)opt.conns; k++) {
        hconn_t *c = &conns[(next + k) % (unsigned)opt.conns];
        if (!c->busy && !c->waiting && !c->dead) {
            next = (c->index + 1) % (unsigned)opt.conns;
            return c;
        }
    }
    return NULL;
}

/* Placement -R: start what is due, each on a free connection. When none is free the starts
 * wait; those sent before the schedule is caught up again count as late. */
static void pace_pump(uint64_t now)
{
    static int stalled;
    uint64_t due = (uint64_t)((double)(now - t_pace0) * opt.rate / 1e9) + 1;
    while (phase == PH_RUNNING && paced < due) {
        hconn_t *c = free_conn();
        if (c == NULL) {
            stalled = 1;
            break;
        }
        uint64_t sched = t_pace0 + (uint64_t)((double)paced * 1e9 / opt.rate);
        paced++;
        issue_create(c);
        if (in_window(c->t0)) {
            hist_add(&h_lag, c->t0 > sched ? c->t0 - sched : 0);
            late += stalled;
        }
    }
    if (paced >= due)
        stalled = 0;
}

static void on_pace(uv_timer_t *t)
{
    (void)t;
    pace_pump(uv_hrtime());
}

/* An idle process came (back): a waiting connection may go on. */
static void credit_added(void)
{
    credits++;
    while (phase == PH_RUNNING && credits && wq_len) {
        hconn_t *c = &conns[waitq[wq_head]];
        wq_head = (wq_head + 1) % (unsigned)opt.conns;
        wq_len--;
        c->waiting = 0;
        issue_create(c);
    }
}

/* Once the session is both answered and activated: CreatePlayerSessions (placement mode: the
 * placement is FULFILLED, with its players). */
static void maybe_players(hconn_t *c, uint64_t now)
{
    if (!c->busy || !c->created || !c->activated || c->inflight)
        return;
    if (opt.mode == M_PLACEMENT) {
        placement_done(c, 1, now);
        return;
    }
    char body[ARN_CAP + 64 * MAX_PLAYERS + 64];
    int n = snprintf(body, sizeof(body), "{\"GameSessionId\":\"%s\",\"PlayerIds\":[", c->arn);
    n += player_list(body + n, sizeof(body) - (size_t)n, c, 0);
    snprintf(body + n, sizeof(body) - (size_t)n, "]}");
    conn_send(c, OP_CREATE_PS, body);
}

/* The game session an answer names must be the one pushed (whichever came first). */
static void check_arn(hconn_t *c, const char *arn)
{
    if (c->arn[0] == '\0') {
        snprintf(c->arn, sizeof(c->arn), "%s", arn);
    } else if (strcmp(c->arn, arn) != 0) {
        prob.mismatch++;
        cap_add(&caps, "placement h%u-%" PRIu64 ": answered with game session %s, pushed %s",
                c->index, c->seq, c->proc >= 0 ? arn : c->arn, c->proc >= 0 ? c->arn : arn);
    }
}

static void on_response(hconn_t *c, uint64_t now)
{
    int st = c->in.parser.status_code;
    c->inflight = 0;
    if (in_window(now))
        ops_win++;
    prob.status[st > 0 && st < MAX_STATUS ? st : 0]++;
    if (st != 200) {
        if (prob.status[st > 0 && st < MAX_STATUS ? st : 0] == 1)
            cap_add(&caps, "%s answered %d: %.1500s", op_names[c->op], st, c->body);
        if (c->busy)
            placement_done(c, 0, now);
        return;
    }
    if (c->op == OP_CREATE_GS || c->op == OP_START) {
        const char *want = c->op == OP_START ? "PENDING" : "ACTIVATING";
        char status[32], arn[ARN_CAP];
        if (in_window(now))
            hist_add(&h_create, now - c->sent_ns);
        if (json_str(c->body, c->in.len, "Status", status, sizeof(status)) < 0 ||
            strcmp(status, want) != 0) {
            prob.bad_answer++;
            cap_add(&caps, "%s answered 200 without Status %s: %.1500s", op_names[c->op], want,
                    c->body);
        }
        if (json_str(c->body, c->in.len, "GameSessionId", arn, sizeof(arn)) > 0)
            check_arn(c, arn);
        else if (c->op == OP_START)
            deferred++; /* no attempt placed it inside the request */
        c->created = 1;
        maybe_players(c, now);
        return;
    }
    size_t reserved = count_of(c->body, c->in.len, "\"RESERVED\"");
    if (reserved != (size_t)opt.players) {
        prob.bad_answer++;
        cap_add(&caps,
                "CreatePlayerSessions answered 200 with %zu RESERVED player sessions, not %d: "
                "%.1500s",
                reserved, opt.players, c->body);
        placement_done(c, 0, now);
        return;
    }
    if (in_window(now))
        hist_add(&h_players, now - c->sent_ns);
    placement_done(c, 1, now);
}

static int on_answer(http_in_t *in)
{
    ((hconn_t *)in->owner)->got_response = 1;
    return 0;
}

static void shared_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(rbuf, RBUF_SIZE);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hconn_t *c = s->data;
    if (nread < 0) {
        if (c->inflight)
            conn_fail(c, nread == UV_EOF ? "connection closed by the server (EOF)"
                                         : uv_strerror((int)nread));
        else
            conn_close(c); /* idle: reconnects quietly */
        return;
    }
    uint64_t now = uv_hrtime();
    if (http_in_feed(&c->in, buf->base, (size_t)nread) != (size_t)nread) {
        conn_fail(c, http_in_failed(&c->in));
        return;
    }
    if (!c->got_response)
        return;
    c->got_response = 0;
    if (!c->inflight) {
        prob.protocol++;
        cap_add(&caps, "connection %u: an answer without a request in flight", c->index);
        conn_close(c);
        return;
    }
    int keep = http_should_keep_alive(&c->in.parser);
    on_response(c, now);
    if (!keep)
        conn_close(c);
}

static void conn_connected(uv_connect_t *req, int status)
{
    hconn_t *c = req->data;
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        prob.transport++;
        c->connect_fails++;
        cap_add(&caps, "connection %u: cannot connect: %s", c->index, uv_strerror(status));
        c->inflight = 0;
        if (c->busy)
            placement_done(c, 0, uv_hrtime());
        conn_close(c);
        return;
    }
    c->connected = 1;
    c->connect_fails = 0;
    http_in_init(&c->in, c->body, sizeof(c->body), on_answer, c);
    uv_read_start((uv_stream_t *)&c->tcp, shared_alloc, conn_read);
    if (c->inflight) { /* queued while connecting */
        int rc = write_now((uv_stream_t *)&c->tcp, c->req, (size_t)c->req_len);
        if (rc < 0)
            conn_fail(c, uv_strerror(rc));
    } else if (c->busy) {
        maybe_players(c, uv_hrtime());
    } else if (!paced_mode()) {
        issue_create(c);
    }
}

static void conn_start(hconn_t *c)
{
    c->handle_open = 1;
    if (tcp_start(loop, &c->tcp, &c->creq, c, &lo, conn_connected) < 0) {
        prob.transport++;
        cap_add(&caps, "connection %u: uv_tcp_connect failed", c->index);
        uv_close((uv_handle_t *)&c->tcp, NULL);
        c->handle_open = 0;
    }
}

/* ---- server processes (the Server SDK side) ---- */

enum {
    P_NEW,        /* not connected yet */
    P_QUEUED,     /* waiting for a connect slot */
    P_CONNECTING, /* TCP connect */
    P_HANDSHAKE,  /* upgrade sent */
    P_READYING,   /* ActivateServerProcess sent */
    P_READY,      /* idle: may be given a game session */
    P_ACTIVATING, /* CreateGameSession pushed, ActivateGameSession sent */
    P_HOSTING,    /* the session is ACTIVE */
    P_ENDING,     /* TerminateServerProcess sent */
    P_CLOSING,    /* socket closing; comes back as a new process (recycle) */
    P_DEAD        /* failed or closed for good */
};

typedef struct proc {
    uv_tcp_t tcp;
    uv_connect_t creq;
    unsigned index, gen;
    int state, handle_open;
    char accept[32];
    char *pend; /* bytes of an incomplete frame (or 101 answer) */
    uint32_t plen, pcap;
    unsigned conn; /* the placement it hosts */
    uint64_t seq;
    uint64_t t_req;     /* the request in flight was sent at (0: none) */
    uint64_t t_recycle; /* TerminateServerProcess sent at */
} proc_t;

static proc_t *procs;
static unsigned *connq, cq_head, cq_len; /* processes waiting to connect */
static unsigned connecting, open_procs;
static uint32_t rng = 2463534242u;

static uint32_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void proc_connect(proc_t *p);

static void pump_connects(void)
{
    while (connecting < (unsigned)opt.connect_par && cq_len) {
        proc_t *p = &procs[connq[cq_head]];
        cq_head = (cq_head + 1) % (unsigned)opt.procs;
        cq_len--;
        proc_connect(p);
    }
}

static void proc_enqueue(proc_t *p)
{
    p->state = P_QUEUED;
    connq[(cq_head + cq_len++) % (unsigned)opt.procs] = p->index;
    pump_connects();
}

static void proc_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    p->handle_open = 0;
    open_procs--;
    free(p->pend);
    p->pend = NULL;
    p->plen = p->pcap = 0;
    if (p->state == P_CLOSING && phase == PH_RUNNING && opt.mode == M_RECYCLE) {
        p->gen++;
        proc_enqueue(p); /* a new process on the same compute */
        return;
    }
    p->state = P_DEAD;
}

static void proc_close(proc_t *p, int state)
{
    if (p->state == P_CONNECTING || p->state == P_HANDSHAKE) {
        connecting--;
        pump_connects();
    }
    p->state = state;
    p->t_req = 0;
    if (p->handle_open && !uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, proc_closed);
}

/* A process failed: the placement it hosted fails with it. */
static void proc_fail(proc_t *p)
{
    if (phase == PH_READYING) { /* every process must go ready before the run starts */
        proc_close(p, P_DEAD);
        finish();
        return;
    }
    if (p->state == P_ACTIVATING || p->state == P_HOSTING) {
        hconn_t *c = &conns[p->conn];
        if (c->busy && c->seq == p->seq && c->proc == (int)p->index && !c->inflight)
            placement_done(c, 0, uv_hrtime());
    }
    proc_close(p, P_DEAD);
}

/* A masked client frame (opcode: 1 text, 0xA pong). */
static void proc_send(proc_t *p, int opcode, const char *s, size_t len)
{
    unsigned char f[14 + 4096];
    if (len > 4096)
        len = 4096;
    size_t n = ws_frame(f, opcode, s, len, xorshift());
    int rc = write_now((uv_stream_t *)&p->tcp, f, n);
    if (rc < 0) {
        prob.lost++;
        cap_add(&caps, "process %u: write failed: %s", p->index, uv_strerror(rc));
        proc_fail(p);
    }
}

static void proc_request(proc_t *p, const char *json)
{
    p->t_req = uv_hrtime();
    proc_send(p, 0x1, json, strlen(json));
}

static void proc_ready_send(proc_t *p)
{
    char m[256];
    snprintf(m, sizeof(m),
             "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"a%u-%u\","
             "\"SdkVersion\":\"5.6.0\",\"SdkLanguage\":\"Go\",\"Port\":7777,\"LogPaths\":null}",
             p->index, p->gen);
    p->state = P_READYING;
    proc_request(p, m);
}

/* The placement on c is over (ok: placed). Recycles its process, starts the next. */
static void placement_done(hconn_t *c, int ok, uint64_t now)
{
    c->busy = 0;
    busy_conns--;
    if (ok) {
        placed_all++;
        if (in_window(now)) {
            placed++;
            /* placement mode: start sent → FULFILLED (its activation answered), even when the
             * start's own answer came later */
            hist_add(&h_place, (opt.mode == M_PLACEMENT ? c->t_act : now) - c->t0);
        }
        if (opt.mode == M_PLACEMENT && placed_all % sample_stride == 0 &&
            nsamples < (unsigned)opt.verify) {
            sample_t *k = &samples[nsamples++];
            k->conn = c->index;
            k->seq = c->seq;
            snprintf(k->arn, sizeof(k->arn), "%s", c->arn);
        }
        proc_t *p = c->proc >= 0 ? &procs[c->proc] : NULL;
        if (p && p->state == P_HOSTING && opt.mode == M_RECYCLE && phase == PH_RUNNING) {
            char m[128];
            snprintf(m, sizeof(m),
                     "{\"Action\":\"TerminateServerProcess\",\"RequestId\":\"t%u-%u\"}", p->index,
                     p->gen);
            p->state = P_ENDING;
            p->t_recycle = now;
            proc_request(p, m);
        }
    } else {
        failed++;
    }
    next_placement(c);
}

static void next_placement(hconn_t *c)
{
    if (phase == PH_RUNNING && paced_mode())
        pace_pump(uv_hrtime()); /* a start may have waited for this connection */
    else if (phase == PH_RUNNING)
        issue_create(c);
    check_done();
}

/* The CreateGameSession push: which placement (the name says), activate it. */
static void on_push(proc_t *p, const char *d, size_t len, uint64_t now)
{
    char name[64], arn[ARN_CAP];
    unsigned ci;
    uint64_t seq;
    if (json_str(d, len, "GameSessionName", name, sizeof(name)) < 0 ||
        json_str(d, len, "GameSessionId", arn, sizeof(arn)) <= 0 ||
        sscanf(name, "h%u-%" SCNu64, &ci, &seq) != 2 || ci >= (unsigned)opt.conns) {
        prob.mismatch++;
        cap_add(&caps, "process %u: a CreateGameSession push it cannot place: %.1000s", p->index,
                d);
        return;
    }
    hconn_t *c = &conns[ci];
    if (p->state != P_READY || !c->busy || c->seq != seq || c->proc >= 0) {
        prob.mismatch++;
        cap_add(&caps,
                "process %u (state %d): push for placement %s, connection %u %s at seq %" PRIu64,
                p->index, p->state, name, ci, c->busy ? "busy" : "idle", c->seq);
        return;
    }
    c->proc = (int)p->index;
    c->t_push = now;
    check_arn(c, arn);
    if (in_window(now))
        hist_add(&h_push, now - c->t0);
    p->conn = ci;
    p->seq = seq;
    p->state = P_ACTIVATING;
    char m[ARN_CAP + 128];
    snprintf(
        m, sizeof(m),
        "{\"Action\":\"ActivateGameSession\",\"RequestId\":\"g%u-%u\",\"GameSessionId\":\"%s\"}",
        p->index, p->gen, arn);
    proc_request(p, m);
}

static void on_text(proc_t *p, const char *d, size_t len, uint64_t now)
{
    char action[48];
    if (json_str(d, len, "Action", action, sizeof(action)) < 0) {
        prob.protocol++;
        cap_add(&caps, "process %u: a message without Action: %.500s", p->index, d);
        return;
    }
    if (strcmp(action, "CreateGameSession") == 0) {
        on_push(p, d, len, now);
        return;
    }
    long st = json_int(d, len, "StatusCode");
    prob.ws_status[st > 0 && st < MAX_STATUS ? st : 0]++;
    if (p->t_req == 0) {
        prob.protocol++;
        cap_add(&caps, "process %u: %s without a request in flight: %.500s", p->index, action, d);
        return;
    }
    if (in_window(now))
        ops_win++;
    uint64_t sent = p->t_req;
    p->t_req = 0;
    const char *want = p->state == P_READYING     ? "ActivateServerProcess"
                       : p->state == P_ACTIVATING ? "ActivateGameSession"
                       : p->state == P_ENDING     ? "TerminateServerProcess"
                                                  : "?";
    if (st != 200 || strcmp(action, want) != 0) {
        cap_add(&caps, "process %u: %s answered %ld (waiting for %s): %.1000s", p->index, action,
                st, want, d);
        proc_fail(p);
        return;
    }
    switch (p->state) {
    case P_READYING:
        p->state = P_READY;
        if (p->gen == 0)
            ready_count++;
        else {
            recycled++;
            if (in_window(now))
                hist_add(&h_recycle, now - p->t_recycle);
        }
        if (phase == PH_READYING && ready_count == (uint64_t)opt.procs) {
            credits = ready_count;
            t_ready = now;
            phase = PH_RUNNING;
            if (windowed())
                uv_timer_start(&win_timer, on_win, (uint64_t)(lo.warmup * 1000), 0);
            else
                edge(0);
            if (paced_mode()) {
                t_pace0 = uv_hrtime();
                uv_timer_start(&pace_timer, on_pace, 1, 1);
            } else {
                for (int i = 0; i < opt.conns; i++)
                    issue_create(&conns[i]);
            }
        } else if (phase >= PH_RUNNING) {
            credit_added();
        }
        break;
    case P_ACTIVATING: {
        hconn_t *c = &conns[p->conn];
        p->state = P_HOSTING;
        if (in_window(now))
            hist_add(&h_activate, now - sent);
        if (c->busy && c->seq == p->seq) {
            c->activated = 1;
            c->t_act = now;
            maybe_players(c, now);
        }
        break;
    }
    case P_ENDING: proc_close(p, P_CLOSING); break;
    default: break;
    }
}

/* Parse the frames in data; keep an incomplete one in p->pend. */
static void proc_frames(proc_t *p, const char *data, size_t n, uint64_t now)
{
    size_t off = 0;
    ws_hdr_t h;
    int got;
    while (p->handle_open && p->state != P_DEAD &&
           (got = ws_parse(data + off, n - off, MAX_FRAME, &h))) {
        if (got < 0) {
            prob.protocol++;
            if (got == WS_MASKED)
                cap_add(&caps, "process %u: a masked frame from the server", p->index);
            else
                cap_add(&caps, "process %u: a frame of %" PRIu64 " bytes", p->index, h.len);
            proc_fail(p);
            return;
        }
        const char *pl = data + off + h.hl;
        size_t len = (size_t)h.len;
        off += h.hl + len;
        switch (h.opcode) {
        case 0x1:
            if (!h.fin) {
                prob.protocol++;
                cap_add(&caps, "process %u: a fragmented message", p->index);
                proc_fail(p);
                return;
            }
            on_text(p, pl, (size_t)len, now);
            break;
        case 0x8: {
            int code = len >= 2 ? ((unsigned char)pl[0] << 8 | (unsigned char)pl[1]) : 1005;
            if (p->state != P_CLOSING && p->state != P_ENDING) {
                prob.closes++;
                cap_add(&caps, "process %u: closed by the server with %d %.*s", p->index, code,
                        len > 2 ? (int)len - 2 : 0, pl + 2);
                proc_fail(p);
            } else {
                proc_close(p, p->state == P_ENDING ? P_CLOSING : p->state);
            }
            return;
        }
        case 0x9: proc_send(p, 0xA, pl, (size_t)len); break;
        case 0xA: break;
        default:
            prob.protocol++;
            cap_add(&caps, "process %u: unexpected opcode %d", p->index, h.opcode);
            break;
        }
    }
    if (off < n && p->handle_open && p->state != P_DEAD) {
        size_t left = n - off;
        if (left > p->pcap) {
            p->pcap = (uint32_t)left * 2;
            p->pend = realloc(p->pend, p->pcap);
        }
        memcpy(p->pend, data + off, left);
        p->plen = (uint32_t)left;
    }
}

/* The 101 answer to the upgrade; then ProcessReady. Returns the bytes it took, or -1. */
static long proc_handshake(proc_t *p, char *data, size_t n)
{
    long hl = ws_handshake(data, n, MAX_HANDSHAKE - 1, p->accept);
    if (hl == 0)
        return 0;
    if (hl < 0) {
        prob.handshake++;
        if (hl == WS_HS_LONG)
            cap_add(&caps, "process %u: an upgrade answer without an end", p->index);
        else if (hl == WS_HS_STATUS)
            cap_add(&caps, "process %u: the upgrade was answered:\n%.1500s", p->index, data);
        else
            cap_add(&caps, "process %u: wrong or missing Sec-WebSocket-Accept", p->index);
        proc_fail(p);
        return -1;
    }
    connecting--;
    pump_connects();
    if (in_window(uv_hrtime()))
        ops_win++;
    proc_ready_send(p);
    return hl;
}

static void proc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    proc_t *p = h->data;
    if (p->plen)
        memcpy(rbuf, p->pend, p->plen);
    *buf = uv_buf_init(rbuf + p->plen, RBUF_SIZE);
}

static void proc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    proc_t *p = s->data;
    if (nread < 0) {
        if (p->state != P_CLOSING && p->state != P_DEAD && phase < PH_CLOSING) {
            prob.lost++;
            cap_add(&caps, "process %u (state %d): connection lost: %s", p->index, p->state,
                    nread == UV_EOF ? "closed by the server without a close frame"
                                    : uv_strerror((int)nread));
            proc_fail(p);
        } else {
            proc_close(p, p->state);
        }
        return;
    }
    if (nread == 0)
        return;
    uint64_t now = uv_hrtime();
    size_t n = p->plen + (size_t)nread, off = 0;
    p->plen = 0;
    if (p->state == P_HANDSHAKE) {
        long took = proc_handshake(p, rbuf, n);
        if (took < 0)
            return;
        if (took == 0) { /* keep it all */
            if (n > p->pcap) {
                p->pcap = (uint32_t)n * 2;
                p->pend = realloc(p->pend, p->pcap);
            }
            memcpy(p->pend, rbuf, n);
            p->plen = (uint32_t)n;
            return;
        }
        off = (size_t)took;
    }
    proc_frames(p, rbuf + off, n - off, now);
}

static void proc_connected(uv_connect_t *creq, int status)
{
    proc_t *p = creq->data;
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        prob.handshake++;
        cap_add(&caps, "process %u: cannot connect: %s", p->index, uv_strerror(status));
        proc_fail(p);
        return;
    }
    unsigned char raw[16];
    char key[32], req[REQ_CAP];
    for (int i = 0; i < 16; i += 4) {
        uint32_t v = xorshift();
        memcpy(raw + i, &v, 4);
    }
    ws_key(raw, key, p->accept);
    /* the SDKs' query (§7.1); values are URL-safe as they are */
    int n =
        snprintf(req, sizeof(req),
                 "GET %s?pID=sl%s-%u-%u&FleetId=%s&ComputeId=c%u&Authorization=%s"
                 "&sdkVersion=5.6.0&sdkLanguage=Go&IdempotencyToken=i%s-%u-%u HTTP/1.1\r\n"
                 "Host: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 opt.sdk_path, lo.tag, p->index, p->gen, opt.fleet, p->index / PER_COMPUTE,
                 opt.tokens[p->index / PER_COMPUTE], lo.tag, p->index, p->gen, lo.hostport, key);
    p->state = P_HANDSHAKE;
    uv_read_start((uv_stream_t *)&p->tcp, proc_alloc, proc_read);
    int rc = write_now((uv_stream_t *)&p->tcp, req, (size_t)n);
    if (rc < 0) {
        prob.handshake++;
        cap_add(&caps, "process %u: cannot send the upgrade: %s", p->index, uv_strerror(rc));
        proc_fail(p);
    }
}

static void proc_connect(proc_t *p)
{
    p->handle_open = 1;
    open_procs++;
    connecting++;
    p->state = P_CONNECTING;
    int rc = tcp_start(loop, &p->tcp, &p->creq, p, &lo, proc_connected);
    if (rc < 0) {
        prob.handshake++;
        cap_add(&caps, "process %u: uv_tcp_connect: %s", p->index, uv_strerror(rc));
        proc_fail(p);
    }
}

/* ---- timers and phases ---- */

/* What waited longer than -T fails: a request, a placement's activation, the set-up. */
static void expire(uint64_t now)
{
    uint64_t limit = (uint64_t)(lo.timeout_s * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        hconn_t *c = &conns[i];
        if (c->inflight && now - c->sent_ns > limit) {
            prob.timeouts++;
            conn_fail(c, "timeout: no answer within the limit (-T)");
        } else if (c->busy && !c->inflight && c->created && !c->activated && now - c->t0 > limit) {
            prob.timeouts++;
            cap_add(&caps,
                    "placement h%u-%" PRIu64 ": no ActivateGameSession answer within -T (push "
                    "%s)",
                    c->index, c->seq, c->proc >= 0 ? "received" : "never received");
            placement_done(c, 0, now);
        }
    }
    for (int i = 0; i < opt.procs; i++) {
        proc_t *p = &procs[i];
        if (p->t_req && now - p->t_req > limit) {
            prob.timeouts++;
            cap_add(&caps, "process %u (state %d): no answer within the limit (-T)", p->index,
                    p->state);
            proc_fail(p);
        }
    }
    if (phase == PH_READYING &&
        now - t_begin > (uint64_t)(lo.timeout_s * 1e9) * 6 + (uint64_t)opt.procs * 2000000ull) {
        cap_add(&caps, "only %" PRIu64 " of %d processes went ready in time", ready_count,
                opt.procs);
        prob.handshake++;
        finish();
    }
}

/* Once a second: the x-amz-date the requests are signed with, and the timeouts. */
static void on_sec(uv_timer_t *t)
{
    (void)t;
    amz_date_now(amz_date);
    expire(uv_hrtime());
}

static void on_drain_timeout(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void on_end(uv_timer_t *t)
{
    (void)t;
    edge(1);
    phase = PH_DRAINING;
    uv_timer_start(&end_timer, on_drain_timeout, (uint64_t)(lo.timeout_s * 1000), 0);
    check_done();
}

/* Warm-up over: the window opens. */
static void on_win(uv_timer_t *t)
{
    (void)t;
    edge(0);
    uv_timer_start(&end_timer, on_end, (uint64_t)(lo.duration * 1000), 0);
}

/* Every placement in flight is over. */
static void check_done(void)
{
    if (phase == PH_RUNNING && !windowed() && issued >= (uint64_t)opt.procs && busy_conns == 0) {
        edge(1);
        phase = PH_DRAINING;
    }
    if (phase == PH_DRAINING && busy_conns == 0)
        finish();
}

static void on_stop(uv_timer_t *t)
{
    (void)t;
    for (int i = 0; i < opt.procs; i++)
        if (procs[i].handle_open && !uv_is_closing((uv_handle_t *)&procs[i].tcp))
            uv_close((uv_handle_t *)&procs[i].tcp, proc_closed);
    if (!uv_is_closing((uv_handle_t *)&stop_timer))
        uv_close((uv_handle_t *)&stop_timer, NULL);
}

/* Close everything; the loop ends when the last handle is closed. */
static void finish(void)
{
    if (phase == PH_CLOSING)
        return;
    phase = PH_CLOSING;
    for (int i = 0; i < opt.conns; i++)
        if (conns[i].handle_open && !uv_is_closing((uv_handle_t *)&conns[i].tcp))
            uv_close((uv_handle_t *)&conns[i].tcp, conn_closed);
    for (int i = 0; i < opt.procs; i++) {
        proc_t *p = &procs[i];
        if (p->handle_open && !uv_is_closing((uv_handle_t *)&p->tcp)) {
            static const unsigned char bye[2] = {0x03, 0xe8}; /* 1000: do not reconnect */
            if (p->state >= P_READYING && p->state <= P_ENDING)
                proc_send(p, 0x8, (const char *)bye, 2);
        }
        p->state = P_DEAD;
    }
    uv_close((uv_handle_t *)&sec_timer, NULL);
    uv_close((uv_handle_t *)&win_timer, NULL);
    uv_close((uv_handle_t *)&end_timer, NULL);
    uv_close((uv_handle_t *)&pace_timer, NULL);
    uv_timer_start(&stop_timer, on_stop, 200, 0); /* let the close frames go out */
}

/* Placement mode, after the run (outside the window): read the sampled placements back with
 * DescribeGameSessionPlacement: FULFILLED, the pushed game session, -p placed players. */
static void verify(void)
{
    sync_conn_t *r = nsamples ? sync_open(&lo, 10, SYNC_BODY_CAP) : NULL;
    char body[128], status[32], arn[ARN_CAP];
    if (r == NULL && nsamples) {
        verify_bad = nsamples;
        cap_add(&caps, "DescribeGameSessionPlacement: cannot connect to %s", lo.hostport);
    }
    for (unsigned i = 0; i < nsamples && r; i++) {
        const sample_t *k = &samples[i];
        snprintf(body, sizeof(body), "{\"PlacementId\":\"p%s-%u-%" PRIu64 "\"}", lo.tag, k->conn,
                 k->seq);
        int st = sync_gl(r, op_names[OP_DESCRIBE_PL], body);
        size_t players = st == 200 ? count_of(r->body, r->len, "\"PlayerSessionId\"") : 0;
        if (st != 200 || json_str(r->body, r->len, "Status", status, sizeof(status)) < 0 ||
            strcmp(status, "FULFILLED") != 0 ||
            json_str(r->body, r->len, "GameSessionId", arn, sizeof(arn)) <= 0 ||
            strcmp(arn, k->arn) != 0 || players != (size_t)opt.players) {
            verify_bad++;
            cap_add(&caps,
                    "DescribeGameSessionPlacement %s answered %d (want FULFILLED, game session %s, "
                    "%d placed players; got %zu): %.1500s",
                    body, st, k->arn, opt.players, players, st < 0 ? "(no answer)" : r->body);
        } else {
            verified++;
        }
    }
    sync_close(r);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: sessload [-m burst|recycle|placement] [-a HOST:PORT] [-n PROCESSES] [-c CONNS]\n"
        "                [-p PLAYERS] [-M MAX_PLAYERS] [-K CONNECTS] [-R STARTS_PER_S]\n"
        "                [-V VERIFY] [-d SECONDS] [-W WARMUP_S] [-T TIMEOUT_S] [-P SERVER_PID]\n"
        "                [-k KEY_ID] [-s SECRET] [-r REGION] [-e ERRORS_OUT]\n"
        "  key and secret default to $HANGAR_ADMIN_KEY_ID / $HANGAR_ADMIN_SECRET;\n"
        "  -R and -V (placements read back after the run, default 200) are for -m placement;\n"
        "  with -R, -n must be at least R x (W + d) + c\n");
    exit(1);
}

static void print_lat(const char *what, const hist_t *h)
{
    if (h->count)
        printf("    %-40s n=%-8" PRIu64 " p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms\n", what,
               h->count, hist_q_ms(h, 0.5), hist_q_ms(h, 0.9), hist_q_ms(h, 0.99),
               (double)h->max / 1e6);
}

int main(int argc, char **argv)
{
    const char *mname = "burst";
    const load_opt_t own[] = {
        {'m', LOAD_STR, &mname},           {'n', LOAD_INT, &opt.procs},
        {'c', LOAD_INT, &opt.conns},       {'p', LOAD_INT, &opt.players},
        {'M', LOAD_INT, &opt.max_players}, {'K', LOAD_INT, &opt.connect_par},
        {'R', LOAD_DOUBLE, &opt.rate},     {'V', LOAD_INT, &opt.verify},
    };
    if (load_parse(&lo, argc, argv, own, sizeof(own) / sizeof(own[0])) < 0)
        usage();
    int mi = name_index(mode_names, 3, mname);
    if (mi < 0)
        usage();
    opt.mode = (run_mode_t)mi;
    if (opt.procs < 1 || opt.procs > MAX_PROCS || opt.conns < 1 || opt.conns > MAX_CONNS ||
        opt.players < 1 || opt.players > MAX_PLAYERS || opt.max_players < opt.players ||
        opt.max_players > 200 || opt.connect_par < 1 || opt.rate < 0 || opt.verify < 0 ||
        opt.verify > MAX_VERIFY || (opt.rate > 0 && opt.mode != M_PLACEMENT))
        usage();
    /* placement -R: every start finds an idle process (capacity ready), none is recycled */
    double need = opt.rate * (lo.warmup + lo.duration) + opt.conns;
    if (paced_mode() && (double)opt.procs < need) {
        fprintf(stderr,
                "sessload: -R %.0f for %.1f + %.1f s with %d connections needs -n of at least "
                "%.0f\n",
                opt.rate, lo.warmup, lo.duration, opt.conns, need);
        return 1;
    }
    if (opt.mode == M_PLACEMENT && opt.verify > 0) {
        double expect = paced_mode() ? opt.rate * (lo.warmup + lo.duration) : opt.procs;
        sample_stride = (uint64_t)(expect / opt.verify) > 1 ? (uint64_t)(expect / opt.verify) : 1;
        samples = calloc((size_t)opt.verify, sizeof(*samples));
    }
    snprintf(opt.location, sizeof(opt.location), "custom-sessload-%s", lo.tag);
    rng ^= (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);

    /* one descriptor per process socket and per connection, plus a few */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)opt.procs + (rlim_t)opt.conns + 32 > rl.rlim_cur) {
        fprintf(stderr,
                "sessload: %d processes + %d connections need more descriptors than the limit "
                "(%llu): lower -n\n",
                opt.procs, opt.conns, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    opt.ncomputes = (opt.procs + PER_COMPUTE - 1) / PER_COMPUTE;
    opt.tokens = calloc((size_t)opt.ncomputes, sizeof(*opt.tokens));
    uint64_t t_setup = uv_hrtime();
    if (setup() < 0)
        return 1;
    double setup_s = (double)(uv_hrtime() - t_setup) / 1e9;

    procs = calloc((size_t)opt.procs, sizeof(*procs));
    connq = calloc((size_t)opt.procs, sizeof(*connq));
    conns = calloc((size_t)opt.conns, sizeof(*conns));
    waitq = calloc((size_t)opt.conns, sizeof(*waitq));
    loop = uv_default_loop();
    amz_date_now(amz_date);
    uv_timer_init(loop, &sec_timer);
    uv_timer_init(loop, &win_timer);
    uv_timer_init(loop, &end_timer);
    uv_timer_init(loop, &stop_timer);
    uv_timer_init(loop, &pace_timer);
    uv_timer_start(&sec_timer, on_sec, 1000, 1000);
    t_begin = uv_hrtime();
    for (int i = 0; i < opt.conns; i++) {
        conns[i].index = (unsigned)i;
        conns[i].proc = -1;
        conn_start(&conns[i]);
    }
    for (int i = 0; i < opt.procs; i++) {
        procs[i].index = (unsigned)i;
        proc_enqueue(&procs[i]);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    if (opt.mode == M_PLACEMENT)
        verify();
    hg_sigv4_thread_cleanup();

    /* ---- tally ---- */
    double ready_s = t_ready ? (double)(t_ready - t_begin) / 1e9 : 0;
    double win = t_win1 > t_win0 && t_win0 ? (double)(t_win1 - t_win0) / 1e9 : 0;
    uint64_t errors = prob.timeouts + prob.handshake + prob.lost + prob.closes + prob.mismatch +
                      prob.bad_answer + prob.protocol + failed + verify_bad;
    for (int s = 0; s < MAX_STATUS; s++) {
        if (s != 200)
            errors += prob.status[s] + prob.ws_status[s];
    }
    if (win == 0 || placed == 0)
        errors++;
    if (opt.mode == M_PLACEMENT)
        errors += starved; /* capacity ran out: not the shape asked for */
    int flagged = errors != 0;
    cpu_report_t cpu = {.server_pct = -1};
    double loop_pct = -1;
    if (win > 0) {
        cpu_report(&m0, &m1, win, &cpu);
        if (loop0 >= 0 && loop1 >= 0)
            loop_pct = (double)(loop1 - loop0) / (double)sysconf(_SC_CLK_TCK) / win * 100;
    }
    double pps = win > 0 ? (double)placed / win : 0, ops = win > 0 ? (double)ops_win / win : 0;
    int dm = d0.ok && d1.ok && win > 0;
    double dv[MX_N] = {0}; /* the daemon's counters over the window */
    for (int k = 0; k < MX_N && dm; k++)
        dv[k] = d1.v[k] - d0.v[k];
    double dwin = win > 0 ? win : 1;
    double dcommits = dv[MX_COMMITS] / dwin, dtxns = dv[MX_TXNS] / dwin,
           dcommit_ms = dv[MX_COMMIT_COUNT] > 0 ? dv[MX_COMMIT_SUM] / dv[MX_COMMIT_COUNT] * 1e3 : 0,
           dbusy = dv[MX_BUSY_SUM] / dwin * 100, dful = dv[MX_FULFILLED] / dwin,
           dop[OP_TIMED] = {0};
    /* the share of commits slower than 1 ms and than 2.5 ms: the latency's tail */
    double ncommits = dv[MX_COMMIT_COUNT] > 0 ? dv[MX_COMMIT_COUNT] : 1;
    double slow1 = dm ? 100 - dv[MX_COMMIT_LE_1MS] / ncommits * 100 : 0;
    double slow2 = dm ? 100 - dv[MX_COMMIT_LE_2MS] / ncommits * 100 : 0;
    double stalls2 = (dv[MX_COMMIT_COUNT] - dv[MX_COMMIT_LE_2MS]) / dwin, /* per second */
        stalls10 = (dv[MX_COMMIT_COUNT] - dv[MX_COMMIT_LE_10MS]) / dwin;
    for (int o = 0; o < OP_TIMED; o++)
        if (dv[MX_OP_COUNT + o] > 0)
            dop[o] = dv[MX_OP_SUM + o] / dv[MX_OP_COUNT + o] * 1e3;
    /* the daemon's disk traffic per placed session (its WAL frames, checkpoints, page reads) */
    int dio = io0.write_bytes >= 0 && io1.write_bytes >= 0 && placed > 0;
    double wkb = dio ? (double)(io1.write_bytes - io0.write_bytes) / 1024 / (double)placed : 0,
           rkb = dio ? (double)(io1.read_bytes - io0.read_bytes) / 1024 / (double)placed : 0,
           wmb_s = dio ? (double)(io1.write_bytes - io0.write_bytes) / 1048576 / win : 0,
           scw = dio ? (double)(io1.syscw - io0.syscw) / (double)placed : 0,
           scr = dio ? (double)(io1.syscr - io0.syscr) / (double)placed : 0;

    printf("sessload %s: %s, %d processes on %d computes, %d connections, %d players per "
           "session\n",
           mode_names[opt.mode], lo.hostport, opt.procs, opt.ncomputes, opt.conns, opt.players);
    printf("  set-up     fleet %s: %.2f s; %" PRIu64 " processes ready in %.2f s (%.0f/s: connect, "
           "upgrade, ProcessReady; %d at a time)\n",
           opt.fleet, setup_s, ready_count, ready_s,
           ready_s > 0 ? (double)ready_count / ready_s : 0, opt.connect_par);
    if (opt.mode == M_BURST)
        printf("  placed     %" PRIu64 " sessions in %.3f s (%.0f/s), from the first "
               "CreateGameSession sent to the last CreatePlayerSessions answered\n",
               placed, win, pps);
    else if (opt.mode == M_PLACEMENT && !paced_mode())
        printf("  placed     %" PRIu64 " placements FULFILLED in %.3f s (%.0f/s), from the first "
               "StartGameSessionPlacement sent to the last FULFILLED; %" PRIu64
               " not placed inside their start request\n",
               placed, win, pps, deferred);
    else if (opt.mode == M_PLACEMENT)
        printf("  placed     %" PRIu64 " placements FULFILLED in the %.1f s window (%.0f/s) after "
               "%.1f s warm-up, %.0f starts/s asked (open loop); %" PRIu64
               " starts waited for a free connection (late); %" PRIu64
               " not placed inside their start request\n",
               placed, win, pps, lo.warmup, opt.rate, late, deferred);
    else
        printf("  placed     %" PRIu64
               " sessions in the %.1f s window (%.0f/s) after %.1f s warm-up; "
               "%" PRIu64 " processes recycled in all; connections starved for an idle process "
               "%" PRIu64 " times\n",
               placed, win, pps, lo.warmup, recycled, starved);
    printf("  requests   %.0f/s answered in the window (HTTP answers, SDK answers and upgrades)\n",
           ops);
    printf("  latency    (client side, in the window)\n");
    if (opt.mode == M_PLACEMENT) {
        print_lat("placement: start sent -> FULFILLED", &h_place);
        print_lat("StartGameSessionPlacement round trip", &h_create);
        print_lat("start sent -> push at the process", &h_push);
        print_lat("start sent behind its schedule (-R)", &h_lag);
    } else {
        print_lat("placement: create sent -> players answered", &h_place);
        print_lat("CreateGameSession round trip", &h_create);
        print_lat("create sent -> push at the process", &h_push);
    }
    print_lat("ActivateGameSession round trip", &h_activate);
    print_lat("CreatePlayerSessions round trip", &h_players);
    print_lat("recycle: ProcessEnding sent -> new ready", &h_recycle);
    if (dm && opt.mode == M_PLACEMENT)
        printf("  daemon     %.0f commits/s, %.0f txns/s (%.1f per commit), commit %.3f ms mean: "
               "store writer committing %.0f%% of the time; loop busy %.0f%%; answer time "
               "StartGameSessionPlacement %.3f ms (mean, its /metrics); %.0f placements "
               "FULFILLED/s; commits over 1 ms %.2f%%, over 2.5 ms %.2f%% (%.1f/s), over 10 ms "
               "%.1f/s\n",
               dcommits, dtxns, dcommits > 0 ? dtxns / dcommits : 0, dcommit_ms,
               dcommits * dcommit_ms / 10, dbusy, dop[OP_START], dful, slow1, slow2, stalls2,
               stalls10);
    else if (dm)
        printf("  daemon     %.0f commits/s, %.0f txns/s (%.1f per commit), commit %.3f ms mean: "
               "store writer committing %.0f%% of the time; loop busy %.0f%%; answer time "
               "CreateGameSession %.3f ms, CreatePlayerSessions %.3f ms (means, its /metrics)\n",
               dcommits, dtxns, dcommits > 0 ? dtxns / dcommits : 0, dcommit_ms,
               dcommits * dcommit_ms / 10, dbusy, dop[0], dop[1]);
    if (opt.mode == M_PLACEMENT)
        printf("  verified   %" PRIu64 " of %u placements read back after the run "
               "(DescribeGameSessionPlacement: FULFILLED, the pushed game session, %d players); "
               "%" PRIu64 " wrong\n",
               verified, nsamples, opt.players, verify_bad);
    if (dio)
        printf("  disk       the daemon wrote %.1f KiB and read %.1f KiB of storage per session "
               "(%.1f MiB/s written); %.1f write and %.1f read system calls per session (sockets "
               "and files)\n",
               wkb, rkb, wmb_s, scw, scr);
    printf("  answers    HTTP ");
    for (int s = 0; s < MAX_STATUS; s++)
        if (prob.status[s])
            printf("%s%d=%" PRIu64 " ", s ? "" : "transport/", s, prob.status[s]);
    printf(" SDK ");
    for (int s = 0; s < MAX_STATUS; s++)
        if (prob.ws_status[s])
            printf("%d=%" PRIu64 " ", s, prob.ws_status[s]);
    printf("\n  problems   failed placements %" PRIu64 ", timeouts %" PRIu64 ", handshakes %" PRIu64
           ", sockets lost %" PRIu64 ", closed by server %" PRIu64 ", mismatched pushes %" PRIu64
           ", bad answers %" PRIu64 ", protocol %" PRIu64 "%s\n",
           failed, prob.timeouts, prob.handshake, prob.lost, prob.closes, prob.mismatch,
           prob.bad_answer, prob.protocol,
           opt.mode == M_PLACEMENT && starved ? ", capacity ran out (starved)" : "");
    if (cpu.server_pct >= 0)
        printf(
            "  cpu        server %.0f%% (its loop thread %.0f%%)  sessload %.0f%%  softirq %.0f%%  "
            "others %.0f%% (1 core = 100); machine busy %.0f%% (%ld cores = 100)\n",
            cpu.server_pct, loop_pct, cpu.client_pct, cpu.irq_pct, cpu.other_pct, cpu.busy_pct,
            cpu.ncpu);
    else
        printf("  cpu        sessload %.0f%%  softirq %.0f%%  others %.0f%%; machine busy %.0f%%\n",
               cpu.client_pct, cpu.irq_pct, cpu.other_pct, cpu.busy_pct);
    if (flagged)
        printf("  FLAGGED: see the problems below (stderr)\n");
    cap_dump(&caps, lo.err_path);

    printf("RESULT workload=sessions mode=%s rate=%.0f procs=%d conns=%d players=%d"
           " duration_s=%.3f placed=%" PRIu64 " placed_per_s=%.1f p50_ms=%.3f p90_ms=%.3f"
           " p99_ms=%.3f max_ms=%.3f create_p50_ms=%.3f create_p99_ms=%.3f push_p50_ms=%.3f"
           " activate_p50_ms=%.3f activate_p99_ms=%.3f players_p50_ms=%.3f players_p99_ms=%.3f"
           " recycle_p50_ms=%.3f recycle_p99_ms=%.3f ready_s=%.2f ready_per_s=%.0f"
           " ops_per_s=%.1f starved=%" PRIu64 " deferred=%" PRIu64 " late=%" PRIu64
           " lag_p99_ms=%.3f verified=%" PRIu64 " verify_n=%u errors=%" PRIu64 " timeouts=%" PRIu64,
           mode_names[opt.mode], opt.rate, opt.procs, opt.conns, opt.players, win, placed, pps,
           hist_q_ms(&h_place, 0.5), hist_q_ms(&h_place, 0.9), hist_q_ms(&h_place, 0.99),
           (double)h_place.max / 1e6, hist_q_ms(&h_create, 0.5), hist_q_ms(&h_create, 0.99),
           hist_q_ms(&h_push, 0.5), hist_q_ms(&h_activate, 0.5), hist_q_ms(&h_activate, 0.99),
           hist_q_ms(&h_players, 0.5), hist_q_ms(&h_players, 0.99), hist_q_ms(&h_recycle, 0.5),
           hist_q_ms(&h_recycle, 0.99), ready_s, ready_s > 0 ? (double)ready_count / ready_s : 0,
           ops, starved, deferred, late, hist_q_ms(&h_lag, 0.99), verified, nsamples, errors,
           prob.timeouts);
    if (dm)
        printf(" daemon_commits_per_s=%.0f daemon_txns_per_s=%.0f daemon_txns_per_commit=%.1f"
               " daemon_commit_ms=%.3f daemon_writer_busy_pct=%.0f daemon_loop_busy_pct=%.0f"
               " daemon_create_ms=%.3f daemon_players_ms=%.3f daemon_start_ms=%.3f"
               " daemon_fulfilled_per_s=%.0f daemon_commits_over_1ms_pct=%.2f"
               " daemon_commits_over_2_5ms_pct=%.2f daemon_commits_over_2_5ms_per_s=%.2f"
               " daemon_commits_over_10ms_per_s=%.2f",
               dcommits, dtxns, dcommits > 0 ? dtxns / dcommits : 0, dcommit_ms,
               dcommits * dcommit_ms / 10, dbusy, dop[OP_CREATE_GS], dop[OP_CREATE_PS],
               dop[OP_START], dful, slow1, slow2, stalls2, stalls10);
    if (dio)
        printf(" daemon_disk_write_kib_per_session=%.1f daemon_disk_read_kib_per_session=%.1f"
               " daemon_disk_write_mib_s=%.1f",
               wkb, rkb, wmb_s);
    if (cpu.server_pct >= 0)
        printf(" server_cpu_pct=%.0f server_loop_cpu_pct=%.0f", cpu.server_pct, loop_pct);
    result_tail(&cpu, flagged, prob.status, MAX_STATUS);
    return flagged ? 2 : 0;
}
