/* hangar — glload: a signed GameLift JSON 1.1 load generator for the benchmarks.
 *
 * Drives hangard (or anything speaking GameLift JSON 1.1 with SigV4) with N keep-alive
 * connections on one libuv loop per thread (-t). Each connection runs its own closed-loop
 * sequence: one request in flight, the next one sent when the answer has arrived. Every
 * request is signed with the daemon's own signer, hg_sigv4_sign(), over host, x-amz-date,
 * x-amz-target and content-type; x-amz-date is recomputed once per second by a timer.
 *
 * Workloads (-w):
 *   cycle     per connection, on its own ids: RegisterGameServer(id) → ClaimGameServer(id) →
 *             UpdateGameServer(id, UTILIZED) → DeregisterGameServer(id), then the next id.
 *   claim     a shared pool (-p servers per connection, registered before the window); per
 *             cycle ClaimGameServer(group only) → UpdateGameServer(claimed, UTILIZED) →
 *             DeregisterGameServer(claimed) → RegisterGameServer(a new id of this connection),
 *             so the pool never runs dry.
 *   describe  DescribeGameServer of a server registered by this connection (read path).
 *   wrklua    set up one server, write a wrk Lua script (-o FILE) replaying one pre-signed
 *             DescribeGameServer request (valid for the daemon's SigV4 skew, 5 min), and exit.
 *   match     FlexMatch: a STANDALONE configuration of 4-v-4 skill-balanced matches is created
 *             first; each request is StartMatchmaking for one new player (skill 0..99): tickets
 *             accepted/s. Matches formed and time to match are the daemon's /metrics
 *             (hangar_matchmaking_*).
 *
 * Rate (-R REQ_PER_S): open-loop pacing instead of as fast as answers come: the worker's
 * connections share its part of the rate; a connection whose answer arrived waits for the next
 * slot (a 1 ms timer hands slots out; a slot missed while all connections were busy is sent as
 * soon as one is free, so the offered rate holds on average). Latency is still send → answer.
 *
 * Timing: setup (CreateGameServerGroup, registrations) runs first on a blocking socket; then
 * every thread connects, runs -W seconds of warm-up, and the -d second window starts at one
 * common instant. Requests (and cycles) whose answer arrives inside the window are counted and
 * their latency (send → whole answer parsed) goes into a log-linear histogram (128 sub-buckets
 * per power of two of nanoseconds: ≤ 0.8% error). Every non-200 answer, transport error or
 * timeout during the load is counted by status; the first one of each status is captured
 * (request and answer) and printed. A run with any error is flagged and exits 2.
 *
 * With -P PID the server process's CPU (utime+stime from /proc/PID/stat) is read at the
 * window's two edges, so server CPU % covers exactly the window.
 *
 * Output: a human summary, then as the last line
 *   RESULT workload=… conns=… threads=… duration_s=… requests=… rps=… cycles=… cycles_per_s=…
 *          p50_ms=… p90_ms=… p99_ms=… max_ms=… errors=… [server_cpu_pct=…] client_cpu_pct=…
 *          softirq_cpu_pct=… other_cpu_pct=… machine_busy_pct=… flagged=0|1 [status_NNN=…]
 * (server, client, softirq and other CPU: 1 core = 100; machine busy: all cores = 100, as
 * lib.sh's wrk rows. softirq: interrupt time charged to no process, mostly loopback TCP;
 * other: what the rest of the box used in the window, i.e. noise from unrelated processes.)
 */
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth/sigv4.h"
#include "loadlib.h"

#define REQ_CAP 4096         /* one signed request; ours are < 1 KiB */
#define BODY_CAP 8192        /* answer body kept per connection (longer is truncated) */
#define RBUF_CAP 65536       /* read buffer per connection */
#define MAX_STATUS 600       /* status 0 = transport error / timeout */
#define MAX_CAPTURES 8       /* distinct error statuses captured per thread */
#define MAX_CONNECT_FAILS 20 /* per connection, then it gives up */

enum {
    OP_REGISTER,
    OP_CLAIM,
    OP_UPDATE,
    OP_DEREGISTER,
    OP_DESCRIBE,
    OP_CREATE_GROUP,
    OP_START_MATCH,
    OP_CREATE_RULES,
    OP_CREATE_MMCFG,
    OP_N
};
static const char *const op_names[OP_N] = {
    "RegisterGameServer",   "ClaimGameServer",          "UpdateGameServer",
    "DeregisterGameServer", "DescribeGameServer",       "CreateGameServerGroup",
    "StartMatchmaking",     "CreateMatchmakingRuleSet", "CreateMatchmakingConfiguration"};

typedef enum { W_CYCLE, W_CLAIM, W_DESCRIBE, W_WRKLUA, W_MATCH } workload_t;
static const char *const workload_names[] = {"cycle", "claim", "describe", "wrklua", "match"};

/* The match workload's rule set: two teams of 4, skill-balanced (the AWS guide's example, as
 * tests/e2e/10-flexmatch-boto3.py uses it), escaped for a JSON string. */
#define MATCH_RULES                                                                                \
    "{\\\"ruleLanguageVersion\\\":\\\"1.0\\\",\\\"playerAttributes\\\":[{\\\"name\\\":"            \
    "\\\"skill\\\",\\\"type\\\":\\\"number\\\",\\\"default\\\":10}],\\\"teams\\\":[{"              \
    "\\\"name\\\":\\\"cowboys\\\",\\\"maxPlayers\\\":4,\\\"minPlayers\\\":4},{\\\"name\\\":"       \
    "\\\"aliens\\\",\\\"maxPlayers\\\":4,\\\"minPlayers\\\":4}],\\\"rules\\\":[{\\\"name\\\":"     \
    "\\\"FairTeamSkill\\\",\\\"type\\\":\\\"distance\\\",\\\"measurements\\\":[\\\"avg(teams[*]"   \
    ".players.attributes[skill])\\\"],\\\"referenceValue\\\":\\\"avg(flatten(teams[*].players."    \
    "attributes[skill]))\\\",\\\"maxDistance\\\":10}]}"

/* ---- options ---- */

static load_opts_t lo; /* -a -k -s -r -e -P -d -W -T */

static struct {
    int conns, threads, pool;
    double rate; /* -R: requests/s over all connections; 0: closed loop, no pacing */
    workload_t w;
    const char *out_path;
    char group[96];
    uint64_t t_win0, t_win1; /* uv_hrtime() edges of the measured window */
} opt = {.conns = 64, .threads = 1, .pool = 2};

/* ---- request building ---- */

/* JSON body for op on server id (id may be NULL for a group-wide claim). */
static void build_body(char *out, size_t cap, int op, const char *id, const char *instance)
{
    switch (op) {
    case OP_REGISTER:
        snprintf(out, cap,
                 "{\"GameServerGroupName\":\"%s\",\"GameServerId\":\"%s\",\"InstanceId\":\"%s\","
                 "\"ConnectionInfo\":\"127.0.0.1:7777\"}",
                 opt.group, id, instance);
        break;
    case OP_CLAIM:
        if (id)
            snprintf(out, cap, "{\"GameServerGroupName\":\"%s\",\"GameServerId\":\"%s\"}",
                     opt.group, id);
        else
            snprintf(out, cap, "{\"GameServerGroupName\":\"%s\"}", opt.group);
        break;
    case OP_UPDATE:
        snprintf(out, cap,
                 "{\"GameServerGroupName\":\"%s\",\"GameServerId\":\"%s\","
                 "\"UtilizationStatus\":\"UTILIZED\"}",
                 opt.group, id);
        break;
    case OP_DEREGISTER:
    case OP_DESCRIBE:
        snprintf(out, cap, "{\"GameServerGroupName\":\"%s\",\"GameServerId\":\"%s\"}", opt.group,
                 id);
        break;
    case OP_CREATE_GROUP:
        snprintf(out, cap,
                 "{\"GameServerGroupName\":\"%s\","
                 "\"RoleArn\":\"arn:aws:iam::123456789012:role/fleetiq\",\"MinSize\":0,"
                 "\"MaxSize\":10,\"LaunchTemplate\":{\"LaunchTemplateName\":\"game-server\"},"
                 "\"InstanceDefinitions\":[{\"InstanceType\":\"c5.large\"},"
                 "{\"InstanceType\":\"c5.xlarge\"}]}",
                 opt.group);
        break;
    case OP_START_MATCH: { /* one player, a skill spread over 0..99 by its id */
        unsigned h = 2166136261u;
        for (const char *q = id; *q; q++)
            h = (h ^ (unsigned char)*q) * 16777619u;
        snprintf(out, cap,
                 "{\"ConfigurationName\":\"%s\",\"Players\":[{\"PlayerId\":\"%s\","
                 "\"PlayerAttributes\":{\"skill\":{\"N\":%u}}}]}",
                 opt.group, id, h % 100);
        break;
    }
    case OP_CREATE_RULES:
        snprintf(out, cap, "{\"Name\":\"%s\",\"RuleSetBody\":\"" MATCH_RULES "\"}", opt.group);
        break;
    case OP_CREATE_MMCFG:
        snprintf(out, cap,
                 "{\"Name\":\"%s\",\"RuleSetName\":\"%s\",\"RequestTimeoutSeconds\":600,"
                 "\"AcceptanceRequired\":false,\"FlexMatchMode\":\"STANDALONE\"}",
                 opt.group, opt.group);
        break;
    default: out[0] = '\0';
    }
}

/* Copy the "GameServerId" string member of a GameLift answer into out. Returns 0 or -1. */
static int find_server_id(const char *body, char *out, size_t cap)
{
    static const char key[] = "\"GameServerId\":\"";
    const char *p = strstr(body, key);
    if (p == NULL)
        return -1;
    p += sizeof(key) - 1;
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= cap || e == p)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

static void instance_id(char out[20], unsigned conn)
{
    /* InstanceId must match ^i-[0-9a-zA-Z]{17}$: one instance per connection */
    snprintf(out, 20, "i-%017llx", ((unsigned long long)getpid() << 20) | conn);
}

/* One set-up request on c. Returns the HTTP status (body in c->body), or -1. */
static int sync_call(sync_conn_t *c, int op, const char *id, const char *instance)
{
    char body[1024];
    build_body(body, sizeof(body), op, id, instance);
    return sync_gl(c, op_names[op], body);
}

/* ---- the load ---- */

typedef struct capture {
    int status, op;
    char what[4096];
} capture_t;

struct worker;

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct worker *w;
    unsigned index; /* global connection number */
    http_in_t in;   /* the answer being read, its body in body */
    int state;      /* step of the workload's sequence */
    uint64_t seq;   /* next own id number */
    char id[128];   /* own server id of the current cycle / described server */
    char target[129];
    char instance[20];
    int op;
    char req[REQ_CAP];
    int req_len;
    uint64_t sent_ns;
    int inflight, connected, open, writing, send_after_write, got_response, connect_fails;
    int waiting; /* -R: ready, waiting for its slot */
    char body[BODY_CAP];
    char rbuf[RBUF_CAP];
} conn_t;

typedef struct worker {
    int index;
    uv_thread_t tid;
    uv_loop_t loop;
    uv_timer_t tick, end, pace;
    uint64_t pace_t0, paced; /* -R: slots handed out since pace_t0 */
    char amz_date[17];
    conn_t *conns;
    unsigned nconns, nopen;
    int stopping;
    hist_t hist;
    hist_t op_hist[OP_N];
    uint64_t requests, cycles;   /* inside the window */
    uint64_t status[MAX_STATUS]; /* every answer during the load, by status */
    uint64_t timeouts, transport_errors, reconnects;
    capture_t caps[MAX_CAPTURES];
    int ncaps;
} worker_t;

static void conn_start(conn_t *c);
static void conn_send(conn_t *c);
static void conn_close(conn_t *c);

/* -R: hand the slots due by now to connections that wait for one. */
static void pace_dispatch(worker_t *w)
{
    double per_s = opt.rate / opt.threads;
    uint64_t due = (uint64_t)(per_s * (double)(uv_hrtime() - w->pace_t0) / 1e9);
    for (unsigned i = 0; i < w->nconns && w->paced < due; i++) {
        conn_t *c = &w->conns[i];
        if (!c->waiting || !c->connected || w->stopping)
            continue;
        c->waiting = 0;
        w->paced++;
        conn_send(c);
    }
}

/* The next request of c: now, or at its slot under -R. */
static void conn_next(conn_t *c)
{
    if (opt.rate <= 0) {
        conn_send(c);
        return;
    }
    c->waiting = 1;
    pace_dispatch(c->w);
}

static void on_pace(uv_timer_t *t)
{
    pace_dispatch(t->data);
}

static void capture(worker_t *w, int status, int op, const char *req, const char *resp)
{
    for (int i = 0; i < w->ncaps; i++)
        if (w->caps[i].status == status)
            return;
    if (w->ncaps == MAX_CAPTURES)
        return;
    capture_t *k = &w->caps[w->ncaps++];
    k->status = status;
    k->op = op;
    snprintf(k->what, sizeof(k->what), "--- request ---\n%.2000s\n--- answer ---\n%.1900s\n", req,
             resp);
}

static int in_window(uint64_t t)
{
    return t >= opt.t_win0 && t < opt.t_win1;
}

/* Choose the next request of c's sequence after an answer (ok: the step succeeded). */
static void advance(conn_t *c, int ok, uint64_t now)
{
    worker_t *w = c->w;
    switch (opt.w) {
    case W_CYCLE:
        if (ok && c->state == 3 && in_window(now))
            w->cycles++;
        if (!ok || c->state == 3) {
            c->state = 0;
            snprintf(c->id, sizeof(c->id), "c%s-%u-%" PRIu64, lo.tag, c->index, c->seq++);
        } else {
            c->state++;
        }
        break;
    case W_CLAIM:
        if (ok && c->state == 0 && find_server_id(c->body, c->target, sizeof(c->target)) < 0) {
            w->status[0]++;
            capture(w, 0, c->op, c->req, "ClaimGameServer answer without GameServerId");
            ok = 0;
        }
        if (ok && c->state == 3 && in_window(now))
            w->cycles++;
        if (ok)
            c->state = (c->state + 1) % 4;
        else
            c->state = c->state == 3 ? 0 : 3;
        if (c->state == 3)
            snprintf(c->id, sizeof(c->id), "k%s-%u-%" PRIu64, lo.tag, c->index, c->seq++);
        break;
    case W_MATCH: /* a ticket accepted; the next one is another player's */
        if (ok && in_window(now))
            w->cycles++;
        snprintf(c->id, sizeof(c->id), "m%s-%u-%" PRIu64, lo.tag, c->index, c->seq++);
        break;
    default: break;
    }
}

static void prepare(conn_t *c)
{
    static const int cycle_ops[4] = {OP_REGISTER, OP_CLAIM, OP_UPDATE, OP_DEREGISTER};
    static const int claim_ops[4] = {OP_CLAIM, OP_UPDATE, OP_DEREGISTER, OP_REGISTER};
    char body[1024];
    const char *id = c->id;
    switch (opt.w) {
    case W_CYCLE: c->op = cycle_ops[c->state]; break;
    case W_MATCH: c->op = OP_START_MATCH; break;
    case W_CLAIM:
        c->op = claim_ops[c->state];
        id = c->state == 0 ? NULL : c->state == 3 ? c->id : c->target;
        break;
    default: c->op = OP_DESCRIBE; break;
    }
    build_body(body, sizeof(body), c->op, id, c->instance);
    c->req_len = gl_request(&lo, c->req, sizeof(c->req), c->w->amz_date, op_names[c->op], body);
    if (c->req_len < 0) {
        fprintf(stderr, "glload: cannot sign a request\n");
        exit(1);
    }
}

static void maybe_finish(worker_t *w)
{
    if (w->stopping && w->nopen == 0) {
        if (!uv_is_closing((uv_handle_t *)&w->tick))
            uv_close((uv_handle_t *)&w->tick, NULL);
        if (!uv_is_closing((uv_handle_t *)&w->end))
            uv_close((uv_handle_t *)&w->end, NULL);
        if (!uv_is_closing((uv_handle_t *)&w->pace))
            uv_close((uv_handle_t *)&w->pace, NULL);
    }
}

static void on_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    worker_t *w = c->w;
    c->open = 0;
    c->connected = 0;
    w->nopen--;
    if (!w->stopping && c->connect_fails < MAX_CONNECT_FAILS) {
        w->reconnects++;
        conn_start(c);
        return;
    }
    maybe_finish(w);
}

static void conn_close(conn_t *c)
{
    c->waiting = 0;
    if (c->open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* A request failed without an HTTP answer (reset, EOF, timeout). */
static void transport_fail(conn_t *c, const char *why)
{
    worker_t *w = c->w;
    if (c->inflight) {
        c->inflight = 0;
        w->status[0]++;
        w->transport_errors++;
        capture(w, 0, c->op, c->req, why);
        advance(c, 0, uv_hrtime());
        prepare(c);
    }
    conn_close(c);
}

static void on_response(conn_t *c)
{
    worker_t *w = c->w;
    uint64_t now = uv_hrtime();
    int st = c->in.parser.status_code;
    c->inflight = 0;
    if (in_window(now)) {
        uint64_t lat = now - c->sent_ns;
        w->requests++;
        hist_add(&w->hist, lat);
        hist_add(&w->op_hist[c->op], lat);
    }
    w->status[st > 0 && st < MAX_STATUS ? st : 0]++;
    if (st != 200)
        capture(w, st, c->op, c->req, c->body);
    advance(c, st == 200, now);
    if (!http_should_keep_alive(&c->in.parser)) {
        prepare(c);
        conn_close(c);
        return;
    }
    if (w->stopping) {
        conn_close(c);
        return;
    }
    prepare(c);
    conn_next(c);
}

static int on_answer(http_in_t *in)
{
    ((conn_t *)in->owner)->got_response = 1;
    http_parser_pause(&in->parser, 1); /* one answer per request: stop here, handle it, go on */
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    conn_t *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        transport_fail(c, nread == UV_EOF ? "connection closed by the server (EOF)"
                                          : uv_strerror((int)nread));
        return;
    }
    size_t off = 0;
    while (off < (size_t)nread) {
        off += http_in_feed(&c->in, buf->base + off, (size_t)nread - off);
        if (c->got_response) {
            c->got_response = 0;
            http_parser_pause(&c->in.parser, 0);
            if (!c->inflight) {
                transport_fail(c, "answer without a request in flight");
                return;
            }
            on_response(c);
            if (!c->open || uv_is_closing((uv_handle_t *)&c->tcp))
                return;
            continue;
        }
        const char *why = http_in_failed(&c->in);
        if (why) {
            transport_fail(c, why);
            return;
        }
    }
}

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->writing = 0;
    if (status < 0) {
        transport_fail(c, uv_strerror(status));
        return;
    }
    if (c->send_after_write) {
        c->send_after_write = 0;
        conn_send(c);
    }
}

static void conn_send(conn_t *c)
{
    if (!c->connected)
        return; /* sent by on_connect */
    if (c->writing) {
        c->send_after_write = 1;
        return;
    }
    c->inflight = 1;
    c->sent_ns = uv_hrtime();
    uv_buf_t b = uv_buf_init(c->req, (unsigned)c->req_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == c->req_len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        transport_fail(c, uv_strerror(n));
        return;
    }
    if (n > 0)
        b = uv_buf_init(c->req + n, (unsigned)(c->req_len - n));
    c->writing = 1;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->writing = 0;
        transport_fail(c, uv_strerror(rc));
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    worker_t *w = c->w;
    if (status == UV_ECANCELED)
        return; /* closed while connecting (end of the window): on_closed follows */
    if (status < 0) {
        c->connect_fails++;
        w->status[0]++;
        w->transport_errors++;
        capture(w, 0, -1, "(connect)", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->connected = 1;
    http_in_init(&c->in, c->body, sizeof(c->body), on_answer, c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (w->stopping) {
        conn_close(c);
        return;
    }
    conn_next(c);
}

static void conn_start(conn_t *c)
{
    c->open = 1;
    c->waiting = 0;
    c->w->nopen++;
    c->writing = 0;
    c->send_after_write = 0;
    if (tcp_start(&c->w->loop, &c->tcp, &c->creq, c, &lo, on_connect) < 0) {
        c->connect_fails++;
        conn_close(c);
    }
}

static void on_tick(uv_timer_t *t)
{
    worker_t *w = t->data;
    amz_date_now(w->amz_date); /* once per second, not per request */
    uint64_t now = uv_hrtime(), limit = (uint64_t)(lo.timeout_s * 1e9);
    for (unsigned i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (c->inflight && now - c->sent_ns > limit) {
            w->timeouts++;
            transport_fail(c, "timeout: no answer within the limit (-T)");
        }
    }
}

static void on_end(uv_timer_t *t)
{
    worker_t *w = t->data;
    w->stopping = 1;
    for (unsigned i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (!c->inflight)
            conn_close(c); /* the others close when their answer arrives */
    }
    maybe_finish(w);
}

static void worker_run(void *arg)
{
    worker_t *w = arg;
    uv_loop_init(&w->loop);
    amz_date_now(w->amz_date);
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, 1000, 1000);
    uv_timer_init(&w->loop, &w->end);
    w->end.data = w;
    uv_timer_init(&w->loop, &w->pace);
    w->pace.data = w;
    w->pace_t0 = uv_hrtime();
    if (opt.rate > 0)
        uv_timer_start(&w->pace, on_pace, 1, 1);
    uint64_t now = uv_hrtime();
    uv_timer_start(&w->end, on_end, opt.t_win1 > now ? (opt.t_win1 - now) / 1000000 + 1 : 0, 0);
    for (unsigned i = 0; i < w->nconns; i++) {
        prepare(&w->conns[i]);
        conn_start(&w->conns[i]);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    hg_sigv4_thread_cleanup();
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: glload [-w cycle|claim|describe|wrklua|match] [-a HOST:PORT] [-c CONNS] [-t "
            "THREADS]\n"
            "              [-d SECONDS] [-W WARMUP_S] [-p POOL] [-T TIMEOUT_S] [-P SERVER_PID]\n"
            "              [-k KEY_ID] [-s SECRET] [-r REGION] [-o LUA_OUT] [-e ERRORS_OUT]\n"
            "              [-R REQ_PER_S]\n"
            "  key and secret default to $HANGAR_ADMIN_KEY_ID / $HANGAR_ADMIN_SECRET\n");
    exit(1);
}

static int setup(void)
{
    sync_conn_t *r = sync_open(&lo, 0, BODY_CAP);
    int rc = -1, st;
    char id[128], inst[20];
    if (r == NULL) {
        fprintf(stderr, "glload: cannot connect to %s: %s\n", lo.hostport, strerror(errno));
        goto out;
    }
    if (opt.w == W_MATCH) { /* a STANDALONE configuration of 4-v-4 skill-balanced matches */
        if ((st = sync_call(r, OP_CREATE_RULES, NULL, NULL)) != 200 ||
            (st = sync_call(r, OP_CREATE_MMCFG, NULL, NULL)) != 200) {
            fprintf(stderr, "glload: creating the matchmaking configuration answered %d: %s\n", st,
                    r->body);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if ((st = sync_call(r, OP_CREATE_GROUP, NULL, NULL)) != 200) {
        fprintf(stderr, "glload: CreateGameServerGroup answered %d: %s\n", st, r->body);
        goto out;
    }
    int per_conn = opt.w == W_CLAIM ? opt.pool : (opt.w == W_CYCLE ? 0 : 1);
    if (opt.w == W_WRKLUA)
        per_conn = 1, opt.conns = 1;
    for (int c = 0; c < opt.conns; c++) {
        instance_id(inst, (unsigned)c);
        for (int k = 0; k < per_conn; k++) {
            snprintf(id, sizeof(id), "%c%s-%d-p%d", opt.w == W_CLAIM ? 'p' : 'd', lo.tag, c, k);
            if ((st = sync_call(r, OP_REGISTER, id, inst)) != 200) {
                fprintf(stderr, "glload: RegisterGameServer %s answered %d: %s\n", id, st, r->body);
                goto out;
            }
        }
    }
    rc = 0;
out:
    sync_close(r);
    return rc;
}

static int write_wrk_lua(void)
{
    char id[128], inst[20], body[1024], date[17], target[64], auth[512];
    snprintf(id, sizeof(id), "d%s-0-p0", lo.tag);
    instance_id(inst, 0);
    build_body(body, sizeof(body), OP_DESCRIBE, id, inst);
    amz_date_now(date);
    if (gl_sign(&lo, date, op_names[OP_DESCRIBE], body, target, auth, sizeof(auth)) < 0)
        return -1;
    FILE *f = fopen(opt.out_path, "w");
    if (f == NULL) {
        fprintf(stderr, "glload: cannot write %s: %s\n", opt.out_path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "-- written by bench/glload -w wrklua at %s: one pre-signed %s, replayed as is.\n"
            "-- The signature is valid while the daemon's clock is within its SigV4 skew "
            "(300 s) of that time.\n"
            "wrk.method = \"POST\"\nwrk.path = \"/\"\nwrk.body = [==[%s]==]\n"
            "wrk.headers[\"Host\"] = \"%s\"\nwrk.headers[\"X-Amz-Date\"] = \"%s\"\n"
            "wrk.headers[\"X-Amz-Target\"] = \"%s\"\n"
            "wrk.headers[\"Content-Type\"] = \"" GL_CONTENT_TYPE "\"\n"
            "wrk.headers[\"Authorization\"] = \"%s\"\n",
            date, op_names[OP_DESCRIBE], body, lo.hostport, date, target, auth);
    fclose(f);
    printf("RESULT workload=wrklua lua=%s amz_date=%s\n", opt.out_path, date);
    return 0;
}

int main(int argc, char **argv)
{
    const char *wname = "cycle";
    const load_opt_t own[] = {
        {'w', LOAD_STR, &wname},    {'c', LOAD_INT, &opt.conns},    {'t', LOAD_INT, &opt.threads},
        {'p', LOAD_INT, &opt.pool}, {'o', LOAD_STR, &opt.out_path}, {'R', LOAD_DOUBLE, &opt.rate},
    };
    if (load_parse(&lo, argc, argv, own, sizeof(own) / sizeof(own[0])) < 0)
        usage();
    int wi = name_index(workload_names, 5, wname);
    if (wi < 0)
        usage();
    opt.w = (workload_t)wi;
    if (opt.conns < 1 || opt.threads < 1 || opt.threads > opt.conns || opt.pool < 1 ||
        opt.rate < 0 || (opt.w == W_WRKLUA && opt.out_path == NULL))
        usage();
    snprintf(opt.group, sizeof(opt.group), "glload-%s", lo.tag);

    if (setup() < 0)
        return 1;
    if (opt.w == W_WRKLUA)
        return write_wrk_lua() < 0 ? 1 : 0;

    worker_t *ws = calloc((size_t)opt.threads, sizeof(*ws));
    conn_t *cs = calloc((size_t)opt.conns, sizeof(*cs));
    int per = opt.conns / opt.threads, extra = opt.conns % opt.threads, next = 0;
    for (int t = 0; t < opt.threads; t++) {
        worker_t *w = &ws[t];
        w->index = t;
        w->conns = &cs[next];
        w->nconns = (unsigned)(per + (t < extra));
        for (unsigned i = 0; i < w->nconns; i++) {
            conn_t *c = &w->conns[i];
            c->w = w;
            c->index = (unsigned)(next + (int)i);
            instance_id(c->instance, c->index);
            if (opt.w == W_DESCRIBE)
                snprintf(c->id, sizeof(c->id), "d%s-%u-p0", lo.tag, c->index);
            else
                snprintf(c->id, sizeof(c->id), "%c%s-%u-%" PRIu64,
                         opt.w == W_CYCLE   ? 'c'
                         : opt.w == W_MATCH ? 'm'
                                            : 'k',
                         lo.tag, c->index, c->seq++);
            /* claim: start with a claim from the shared pool */
            c->state = 0;
        }
        next += (int)w->nconns;
    }
    uint64_t t0 = uv_hrtime();
    opt.t_win0 = t0 + (uint64_t)(lo.warmup * 1e9);
    opt.t_win1 = opt.t_win0 + (uint64_t)(lo.duration * 1e9);
    for (int t = 0; t < opt.threads; t++)
        uv_thread_create(&ws[t].tid, worker_run, &ws[t]);

    cpu_mark_t m0, m1;
    sleep_until(opt.t_win0);
    cpu_mark(&m0, lo.server_pid);
    sleep_until(opt.t_win1);
    cpu_mark(&m1, lo.server_pid);
    for (int t = 0; t < opt.threads; t++)
        uv_thread_join(&ws[t].tid);

    /* merge */
    hist_t *all = calloc(1, sizeof(*all));
    hist_t *ops = calloc(OP_N, sizeof(*ops));
    uint64_t status[MAX_STATUS] = {0}, requests = 0, cycles = 0, timeouts = 0, terr = 0,
             reconnects = 0;
    for (int t = 0; t < opt.threads; t++) {
        worker_t *w = &ws[t];
        hist_merge(all, &w->hist);
        for (int o = 0; o < OP_N; o++)
            hist_merge(&ops[o], &w->op_hist[o]);
        for (int s = 0; s < MAX_STATUS; s++)
            status[s] += w->status[s];
        requests += w->requests;
        cycles += w->cycles;
        timeouts += w->timeouts;
        terr += w->transport_errors;
        reconnects += w->reconnects;
    }
    uint64_t errors = 0;
    for (int s = 0; s < MAX_STATUS; s++)
        if (s != 200)
            errors += status[s];

    double rps = (double)requests / lo.duration, cps = (double)cycles / lo.duration;
    printf("glload %s: %s, %d connections, %d thread(s), %.1f s window after %.1f s warm-up",
           workload_names[opt.w], lo.hostport, opt.conns, opt.threads, lo.duration, lo.warmup);
    if (opt.rate > 0)
        printf(", offered %.0f req/s", opt.rate);
    printf("\n");
    printf("  requests   %" PRIu64 " (%.0f req/s)\n", requests, rps);
    if (opt.w == W_MATCH)
        printf("  tickets    %" PRIu64 " (%.0f tickets/s accepted)\n", cycles, cps);
    else if (opt.w != W_DESCRIBE)
        printf("  cycles     %" PRIu64 " (%.0f cycles/s, 4 requests each)\n", cycles, cps);
    printf("  latency    p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
           hist_q_ms(all, 0.50), hist_q_ms(all, 0.90), hist_q_ms(all, 0.99), (double)all->max / 1e6,
           all->count ? (double)all->sum / (double)all->count / 1e6 : 0);
    for (int o = 0; o < OP_N; o++)
        if (ops[o].count)
            printf("    %-22s n=%-9" PRIu64 " p50 %.3f  p99 %.3f  max %.3f ms\n", op_names[o],
                   ops[o].count, hist_q_ms(&ops[o], 0.50), hist_q_ms(&ops[o], 0.99),
                   (double)ops[o].max / 1e6);
    printf("  answers    ");
    for (int s = 0; s < MAX_STATUS; s++)
        if (status[s])
            printf("%s%d=%" PRIu64 " ", s ? "" : "transport/", s, status[s]);
    printf("(timeouts %" PRIu64 ", transport errors %" PRIu64 ", reconnects %" PRIu64 ")\n",
           timeouts, terr, reconnects);
    cpu_report_t cpu;
    cpu_report(&m0, &m1, lo.duration, &cpu);
    if (cpu.server_pct >= 0)
        printf("  cpu        server %.0f%%  glload %.0f%%  softirq %.0f%%  others %.0f%% (1 core = "
               "100); machine busy %.0f%% (%ld cores = 100)\n",
               cpu.server_pct, cpu.client_pct, cpu.irq_pct, cpu.other_pct, cpu.busy_pct, cpu.ncpu);
    else
        printf("  cpu        glload %.0f%%  softirq %.0f%%  others %.0f%% (1 core = 100); machine "
               "busy %.0f%%\n",
               cpu.client_pct, cpu.irq_pct, cpu.other_pct, cpu.busy_pct);

    FILE *ef = lo.err_path && errors ? fopen(lo.err_path, "w") : NULL;
    if (errors) {
        printf("  FLAGGED: %" PRIu64 " request(s) did not get a 200; first of each kind:\n",
               errors);
        for (int t = 0; t < opt.threads; t++)
            for (int i = 0; i < ws[t].ncaps; i++) {
                capture_t *k = &ws[t].caps[i];
                const char *op = k->op >= 0 ? op_names[k->op] : "connect";
                fprintf(stderr, "=== status %d on %s (thread %d)\n%s", k->status, op, t, k->what);
                if (ef)
                    fprintf(ef, "=== status %d on %s (thread %d)\n%s", k->status, op, t, k->what);
            }
    }
    if (ef)
        fclose(ef);

    printf("RESULT workload=%s conns=%d threads=%d duration_s=%.2f requests=%" PRIu64
           " rps=%.1f cycles=%" PRIu64 " cycles_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
           " max_ms=%.3f errors=%" PRIu64 " timeouts=%" PRIu64,
           workload_names[opt.w], opt.conns, opt.threads, lo.duration, requests, rps, cycles, cps,
           hist_q_ms(all, 0.50), hist_q_ms(all, 0.90), hist_q_ms(all, 0.99), (double)all->max / 1e6,
           errors, timeouts);
    if (opt.rate > 0)
        printf(" rate=%.0f", opt.rate);
    if (cpu.server_pct >= 0)
        printf(" server_cpu_pct=%.0f", cpu.server_pct);
    result_tail(&cpu, errors ? 1 : 0, status, MAX_STATUS);
    free(all);
    free(ops);
    free(cs);
    free(ws);
    return errors ? 2 : 0;
}
