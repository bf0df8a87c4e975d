/* hangar — evload: the registry event stream under load, for the benchmarks.
 *
 * Opens -S WebSocket subscribers to GET /v1/registry/events (SigV4-signed upgrade, signing
 * name `hangar`) and, once every one of them is subscribed, drives registry changes from -c
 * announcer connections: PATCH /v1/registry/servers/{id} {"load": N}, on servers announced during
 * set-up (-m per connection). N is the change's own number (1, 2, 3, … over the whole run), so
 * every PATCH changes the load (a PATCH that changes nothing publishes no event) and the event
 * that carries it names the change: the subscriber matches server id + load to the PATCH.
 *
 * Load: closed loop by default: each announcer connection keeps -D PATCHes pipelined (the next
 * one sent as an answer arrives). With -R RATE the PATCHes are paced instead (open loop, a 1 ms
 * timer sends what is due, spread over the connections, at most -D in flight on each).
 *
 * Measured over the -d second window that follows -W seconds of warm-up:
 *   - PATCH/s acknowledged (200) = events published/s (each acknowledged PATCH is one event);
 *   - events received/s per subscriber and deliveries/s (the sum over subscribers), counted by
 *     the subscribers as the messages arrive;
 *   - latency from the PATCH's answer received to the event received, for each subscriber and
 *     each PATCH answered inside the window (an event that arrives before the PATCH's answer
 *     counts 0 and is counted as "early"); also PATCH sent → event received, and PATCH sent →
 *     answer;
 *   - with -P PID, the server's CPU, and ours, softirq and others (see loadlib.h), and the
 *     daemon's own counters (hangar_registry_events_total, _event_deliveries_total) from
 *     /metrics at the window's edges.
 *
 * Verification: every subscriber must see every sequence number exactly once, in order (gaps,
 * duplicates and reorderings are counted), and every acknowledged PATCH's event exactly once
 * (missing and duplicated deliveries are counted; after the window the tool waits up to -G
 * seconds for the stragglers). Snapshots, close frames from the server, PATCHes answered other
 * than 200, transport errors and timeouts are counted too. Any of these flags the run (exit 2).
 *
 * Output: a human summary, then as the last line
 *   RESULT workload=registry subs=… conns=… depth=… rate=… duration_s=… patches=… patch_per_s=…
 *          events_per_s=… deliveries_per_s=… [daemon_events_per_s=… daemon_deliveries_per_s=…]
 *          lat_p50_ms=… lat_p90_ms=… lat_p99_ms=… lat_max_ms=… early=… send_event_p99_ms=…
 *          ack_p50_ms=… ack_p99_ms=… errors=… lost=… dup=… gaps=… reorder=… foreign=…
 *          snapshots=… closes=… [server_cpu_pct=…] client_cpu_pct=… softirq_cpu_pct=…
 *          other_cpu_pct=… machine_busy_pct=… flagged=0|1
 * One thread runs one libuv loop for subscribers and announcers (the main thread only sleeps
 * and reads CPU counters at the window's edges).
 */
/* memmem, strcasestr: _GNU_SOURCE comes from the build (CMakeLists.txt) */
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

#define KIND "evload"
#define JSON_TYPE "application/json"
#define EVENTS_PATH "/v1/registry/events"
#define MAX_SUBS 256
#define MAX_CONNS 1024
#define MAX_DEPTH 1024
#define REQ_CAP 2048            /* one signed PATCH; ours are ~500 bytes */
#define BODY_CAP 2048           /* answer body kept per connection, for error reports */
#define RBUF_MIN 65536          /* subscriber read buffer (grows for larger frames) */
#define MAX_FRAME (64u << 20)   /* a server frame larger than this is a protocol error */
#define CH_BITS 16              /* change records are kept in chunks of 65,536 */
#define CH_SIZE (1u << CH_BITS) /* … */
#define MAX_CHUNKS (1u << 12)   /* … up to 268 M changes per run */
#define MAX_STATUS 600          /* status 0 = transport error / timeout */

/* ---- options ---- */

static load_opts_t lo; /* -a -k -s -r -e -P -d -W -T */

static struct {
    int subs, conns, depth, per_conn;
    double rate, drain_s;
    volatile uint64_t t_win0, t_win1; /* set by the loop thread before it posts `ready` */
} opt = {.subs = 8, .conns = 8, .depth = 8, .per_conn = 4, .drain_s = 5};

static int in_window(uint64_t t)
{
    return t >= opt.t_win0 && t < opt.t_win1;
}

/* ---- servers and changes ---- */

typedef struct server {
    char id[40];
} server_t;

static server_t *servers;
static unsigned nservers;

/* One PATCH: load = its index + 1. recv times are kept per subscriber beside it. */
typedef struct change {
    uint64_t sent, ack;
    uint32_t srv;
    uint16_t status; /* 0 until answered; 1 transport error / timeout */
    uint16_t conn;
} change_t;

static change_t *chunks[MAX_CHUNKS];
static uint64_t *recv_chunks[MAX_CHUNKS]; /* [index % CH_SIZE * subs + sub] = recv time, 0 none */
static uint64_t nchanges;                 /* issued */

static change_t *change_at(uint64_t i)
{
    return &chunks[i >> CH_BITS][i & (CH_SIZE - 1)];
}

static uint64_t *recv_at(uint64_t i)
{
    return &recv_chunks[i >> CH_BITS][(size_t)(i & (CH_SIZE - 1)) * (size_t)opt.subs];
}

/* ---- problems ---- */

static struct {
    uint64_t status[MAX_STATUS]; /* answers by status, 0 = transport error or timeout */
    uint64_t timeouts, transport, handshake;
    uint64_t lost_conns;
} prob;
static captures_t caps; /* the first problems, with their text */

/* ---- request building ---- */

static char amz_date[17]; /* refreshed once per second by the loop's timer */

/* A signed request (headers: host, x-amz-date, and content-type when there is a body) into
 * out; extra header lines (each ending in \r\n) go unsigned after them. Returns the length or
 * -1. */
static int build_request(char *out, size_t cap, const char *method, const char *path,
                         const char *body, const char *date, const char *extra)
{
    char auth[512];
    size_t blen = body ? strlen(body) : 0;
    hg_sigv4_header_t h[3] = {
        {"host", 4, lo.hostport, strlen(lo.hostport)},
        {"x-amz-date", 10, date, 16},
        {"content-type", 12, JSON_TYPE, sizeof(JSON_TYPE) - 1},
    };
    hg_sigv4_request_t r = {
        .method = method,
        .path = path,
        .path_len = strlen(path),
        .headers = h,
        .nheaders = body ? 3 : 2,
        .body = body ? body : "",
        .body_len = blen,
    };
    if (hg_sigv4_sign(&r, lo.key, lo.secret, lo.region, "hangar", date, auth, sizeof(auth)) != 0)
        return -1;
    int n;
    if (body)
        n = snprintf(out, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\nContent-Type: " JSON_TYPE
                     "\r\nAuthorization: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
                     method, path, lo.hostport, date, auth, blen, extra ? extra : "", body);
    else
        n = snprintf(out, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\nAuthorization: %s\r\n%s\r\n",
                     method, path, lo.hostport, date, auth, extra ? extra : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Announce nservers servers (kind evload, an address unique to this run). */
static int setup(void)
{
    sync_conn_t *r = sync_open(&lo, 5, 16384);
    char req[REQ_CAP], body[512], date[17];
    int rc = -1;
    if (r == NULL) {
        fprintf(stderr, "evload: cannot connect to %s: %s\n", lo.hostport, strerror(errno));
        goto out;
    }
    for (unsigned i = 0; i < nservers; i++) {
        snprintf(body, sizeof(body),
                 "{\"kind\":\"" KIND "\",\"address\":\"h%s.evload.test\",\"port\":%u,"
                 "\"name\":\"evload-%u\",\"load\":0,\"capacity\":1000000000,\"lease_s\":3600}",
                 lo.tag, 1000 + i, i);
        amz_date_now(date);
        int n = build_request(req, sizeof(req), "POST", "/v1/registry/servers", body, date, NULL);
        int st = n < 0 ? -1 : sync_send(r, req, (size_t)n);
        static const char key[] = "\"id\":\"";
        const char *p = st == 201 || st == 200 ? strstr(r->body, key) : NULL;
        const char *e = p ? strchr(p + sizeof(key) - 1, '"') : NULL;
        if (e == NULL || (size_t)(e - p) >= sizeof(servers[i].id) + sizeof(key)) {
            fprintf(stderr, "evload: announcing server %u answered %d: %s\n", i, st, r->body);
            goto out;
        }
        p += sizeof(key) - 1;
        memcpy(servers[i].id, p, (size_t)(e - p));
        servers[i].id[e - p] = '\0';
    }
    rc = 0;
out:
    sync_close(r);
    return rc;
}

/* hangard's registry counters from GET /metrics; ok = 0 when unavailable. */
enum { MX_EVENTS, MX_DELIVERIES, MX_LAGGED, MX_SNAPSHOTS, MX_N };
static const char *const metric_names[MX_N] = {
    "hangar_registry_events_total", "hangar_registry_event_deliveries_total",
    "hangar_registry_subscriber_lag_total", "hangar_registry_snapshots_total"};

/* ---- the loop ---- */

static uv_loop_t loop;
static uv_timer_t sec_timer, pace_timer, end_timer, drain_timer, stop_timer;
static uv_sem_t ready;
static int ready_posted, setup_failed;
static int phase; /* 0 subscribing, 1 running, 2 window over: no new PATCH, 3 closing */
static uint64_t inflight, acked_ok, matched, t_pace0, paced, skipped;
static unsigned subs_open;

static void finish(void);
static void check_done(void);

static void post_ready(int failed)
{
    if (ready_posted)
        return;
    ready_posted = 1;
    setup_failed = failed;
    uv_sem_post(&ready);
}

/* ---- subscribers (WebSocket client) ---- */

enum { SUB_CONNECTING, SUB_HANDSHAKE, SUB_OPEN, SUB_CLOSING, SUB_CLOSED };

typedef struct sub {
    uv_tcp_t tcp;
    uv_connect_t creq;
    unsigned index;
    int state, handle_open;
    char accept[32];
    char *rbuf;
    size_t rlen, rcap;
    char *frag;
    size_t flen, fcap;
    int fragmented;
    uint64_t last_seq;
    uint64_t events, events_win, updated;
    uint64_t gaps, gap_events, dup_seq, foreign, snapshots, mismatch, unknown, dup_change;
    int close_code; /* the server's close code, 0 none */
} sub_t;

static sub_t *subs;

static void sub_closed(uv_handle_t *h)
{
    sub_t *s = h->data;
    s->handle_open = 0;
    s->state = SUB_CLOSED;
    free(s->rbuf);
    free(s->frag);
    s->rbuf = s->frag = NULL;
}

static void sub_close(sub_t *s)
{
    if (s->handle_open && !uv_is_closing((uv_handle_t *)&s->tcp))
        uv_close((uv_handle_t *)&s->tcp, sub_closed);
}

/* A masked client frame (control frames only: payload <= 125). */
static void sub_send_frame(sub_t *s, int opcode, const void *payload, size_t len)
{
    unsigned char f[2 + 4 + 125];
    if (len > 125)
        len = 125;
    size_t n = ws_frame(f, opcode, payload, len, (uint32_t)rand());
    write_copy((uv_stream_t *)&s->tcp, f, n);
}

static uint64_t parse_u64(const char **pp, const char *end)
{
    const char *p = *pp;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *pp = p;
    return v;
}

/* One event (a text message). now: when the read that completed it returned. */
static void on_event(sub_t *s, const char *d, size_t len, uint64_t now)
{
    static const char seq_key[] = "{\"seq\":", upd[] = ",\"type\":\"server.updated\"";
    static const char id_key[] = "\"server\":{\"id\":\"", load_key[] = ",\"load\":";
    const char *end = d + len, *p;
    if (len < sizeof(seq_key) || memcmp(d, seq_key, sizeof(seq_key) - 1) != 0) {
        if (memmem(d, len, "\"type\":\"snapshot\"", 17)) {
            s->snapshots++;
            cap_add(&caps, "subscriber %u got a snapshot: %.300s", s->index, d);
        } else {
            s->unknown++;
            cap_add(&caps, "subscriber %u got an unexpected message: %.300s", s->index, d);
        }
        return;
    }
    p = d + sizeof(seq_key) - 1;
    uint64_t seq = parse_u64(&p, end);
    s->events++;
    if (in_window(now))
        s->events_win++;
    if (s->last_seq && seq != s->last_seq + 1) {
        if (seq <= s->last_seq) {
            s->dup_seq++;
            cap_add(&caps,
                    "subscriber %u: seq %" PRIu64 " after %" PRIu64 " (duplicate or out of order)",
                    s->index, seq, s->last_seq);
        } else {
            s->gaps++;
            s->gap_events += seq - s->last_seq - 1;
            cap_add(&caps, "subscriber %u: seq %" PRIu64 " after %" PRIu64 " (%" PRIu64 " missing)",
                    s->index, seq, s->last_seq, seq - s->last_seq - 1);
        }
    }
    if (seq > s->last_seq)
        s->last_seq = seq;
    if ((size_t)(end - p) < sizeof(upd) - 1 || memcmp(p, upd, sizeof(upd) - 1) != 0) {
        s->foreign++; /* server.up / server.down of something else */
        return;
    }
    const char *id = memmem(p, (size_t)(end - p), id_key, sizeof(id_key) - 1);
    if (id == NULL) {
        s->unknown++;
        return;
    }
    id += sizeof(id_key) - 1;
    const char *id_end = memchr(id, '"', (size_t)(end - id));
    const char *lk =
        id_end ? memmem(id_end, (size_t)(end - id_end), load_key, sizeof(load_key) - 1) : NULL;
    if (lk == NULL) {
        s->unknown++;
        return;
    }
    p = lk + sizeof(load_key) - 1;
    uint64_t load = parse_u64(&p, end);
    if (load == 0 || load > nchanges) {
        s->foreign++;
        return;
    }
    change_t *c = change_at(load - 1);
    const char *want = servers[c->srv].id;
    if ((size_t)(id_end - id) != strlen(want) || memcmp(id, want, (size_t)(id_end - id)) != 0) {
        s->mismatch++;
        cap_add(&caps, "subscriber %u: load %" PRIu64 " arrived on server %.*s, was sent to %s",
                s->index, load, (int)(id_end - id), id, want);
        return;
    }
    s->updated++;
    uint64_t *r = &recv_at(load - 1)[s->index];
    if (*r) {
        s->dup_change++;
        cap_add(&caps, "subscriber %u: the event of change %" PRIu64 " arrived twice", s->index,
                load);
        return;
    }
    *r = now;
    matched++;
}

static void sub_protocol_error(sub_t *s, const char *why)
{
    prob.handshake++;
    cap_add(&caps, "subscriber %u: %s", s->index, why);
    sub_close(s);
}

/* Parse the frames in rbuf; keep an incomplete one. */
static void sub_frames(sub_t *s, uint64_t now)
{
    size_t off = 0;
    ws_hdr_t h;
    int got;
    while (s->state >= SUB_OPEN && (got = ws_parse(s->rbuf + off, s->rlen - off, MAX_FRAME, &h))) {
        if (got == WS_MASKED) {
            sub_protocol_error(s, "masked frame from the server");
            return;
        }
        if (got == WS_TOO_BIG) {
            sub_protocol_error(s, "frame larger than 64 MiB");
            return;
        }
        int fin = h.fin, op = h.opcode;
        uint64_t len = h.len;
        size_t hl = h.hl;
        const char *pl = s->rbuf + off + hl;
        switch (op) {
        case 0x0:
        case 0x1:
            if (op == 0x1 && fin && !s->fragmented) {
                on_event(s, pl, (size_t)len, now);
                break;
            }
            if (s->flen + len > s->fcap) {
                s->fcap = (s->flen + len) * 2;
                s->frag = realloc(s->frag, s->fcap);
            }
            memcpy(s->frag + s->flen, pl, (size_t)len);
            s->flen += (size_t)len;
            s->fragmented = !fin;
            if (fin) {
                on_event(s, s->frag, s->flen, now);
                s->flen = 0;
            }
            break;
        case 0x2: s->unknown++; break;
        case 0x8:
            if (s->state == SUB_OPEN) { /* the server closed first (else: the echo of ours) */
                s->close_code =
                    len >= 2 ? ((unsigned char)pl[0] << 8 | (unsigned char)pl[1]) : 1005;
                cap_add(&caps, "subscriber %u: closed by the server with %d %.*s", s->index,
                        s->close_code, len > 2 ? (int)len - 2 : 0, pl + 2);
                sub_send_frame(s, 0x8, pl, len >= 2 ? 2 : 0);
                subs_open--;
            }
            s->state = SUB_CLOSING;
            sub_close(s);
            return;
        case 0x9: sub_send_frame(s, 0xA, pl, (size_t)len); break;
        case 0xA: break;
        default: sub_protocol_error(s, "unknown opcode"); return;
        }
        off += hl + (size_t)len;
    }
    if (off) {
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
    }
}

static void sub_ready(void);

static void sub_handshake_answer(sub_t *s)
{
    long got = ws_handshake(s->rbuf, s->rlen, 16384, s->accept);
    if (got == 0)
        return;
    if (got == WS_HS_LONG) {
        sub_protocol_error(s, "handshake answer without an end");
        return;
    }
    if (got == WS_HS_STATUS) {
        prob.handshake++;
        cap_add(&caps, "subscriber %u: the upgrade was answered:\n%.1500s", s->index, s->rbuf);
        sub_close(s);
        return;
    }
    if (got == WS_HS_ACCEPT) {
        sub_protocol_error(s, "wrong or missing Sec-WebSocket-Accept");
        return;
    }
    size_t hl = (size_t)got;
    memmove(s->rbuf, s->rbuf + hl, s->rlen - hl);
    s->rlen -= hl;
    s->state = SUB_OPEN;
    subs_open++;
    sub_ready();
}

static void sub_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    sub_t *s = h->data;
    if (s->rcap - s->rlen < 16384) {
        s->rcap *= 2;
        s->rbuf = realloc(s->rbuf, s->rcap);
    }
    *buf = uv_buf_init(s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

static void sub_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sub_t *s = st->data;
    uint64_t now = uv_hrtime();
    if (nread < 0) {
        if (s->state == SUB_OPEN || s->state == SUB_HANDSHAKE) {
            prob.lost_conns++;
            cap_add(&caps, "subscriber %u: connection lost: %s", s->index,
                    nread == UV_EOF ? "closed by the server without a close frame"
                                    : uv_strerror((int)nread));
            if (s->state == SUB_OPEN)
                subs_open--;
        }
        s->state = SUB_CLOSING;
        sub_close(s);
        if (phase == 0)
            post_ready(1);
        return;
    }
    s->rlen += (size_t)nread;
    if (s->state == SUB_HANDSHAKE)
        sub_handshake_answer(s);
    if (s->state >= SUB_OPEN)
        sub_frames(s, now);
    if (phase == 2)
        check_done();
}

static void sub_connected(uv_connect_t *req, int status)
{
    sub_t *s = req->data;
    if (status < 0) {
        prob.handshake++;
        cap_add(&caps, "subscriber %u: cannot connect: %s", s->index, uv_strerror(status));
        sub_close(s);
        post_ready(1);
        return;
    }
    unsigned char raw[16];
    char key[32], extra[256], req_text[REQ_CAP];
    for (int i = 0; i < 16; i++)
        raw[i] = (unsigned char)rand();
    ws_key(raw, key, s->accept);
    snprintf(extra, sizeof(extra),
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n",
             key);
    int n = build_request(req_text, sizeof(req_text), "GET", EVENTS_PATH, NULL, amz_date, extra);
    if (n < 0) {
        fprintf(stderr, "evload: cannot sign the upgrade request\n");
        exit(1);
    }
    s->state = SUB_HANDSHAKE;
    uv_read_start((uv_stream_t *)&s->tcp, sub_alloc, sub_read);
    write_copy((uv_stream_t *)&s->tcp, req_text, (size_t)n);
}

static void sub_start(sub_t *s)
{
    s->handle_open = 1;
    s->rcap = RBUF_MIN;
    s->rbuf = malloc(s->rcap);
    if (tcp_start(&loop, &s->tcp, &s->creq, s, &lo, sub_connected) < 0) {
        sub_close(s);
        post_ready(1);
    }
}

/* ---- announcers (pipelined HTTP/1.1 PATCH) ---- */

typedef struct aconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    unsigned index;
    http_in_t in;   /* the answers, each body in body */
    uint64_t *fifo; /* change indexes in flight, oldest first */
    unsigned head, count;
    unsigned next_srv;
    char *out, *wbuf; /* requests not yet written; the bytes of the write in flight */
    size_t out_len, out_cap, wcap;
    int writing, connected, handle_open;
    uint64_t now; /* time of the read being parsed */
    char body[BODY_CAP];
} aconn_t;

static aconn_t *aconns;
static void aconn_flush(aconn_t *c);

static void aconn_closed(uv_handle_t *h)
{
    aconn_t *c = h->data;
    c->handle_open = 0;
}

static void aconn_close(aconn_t *c)
{
    if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, aconn_closed);
}

/* Every PATCH in flight on c failed (connection lost, timeout, unparsable answer). */
static void aconn_fail(aconn_t *c, const char *why)
{
    if (c->count)
        cap_add(&caps, "announcer %u: %u PATCH(es) in flight lost: %s", c->index, c->count, why);
    while (c->count) {
        change_t *ch = change_at(c->fifo[c->head]);
        ch->status = 1;
        prob.status[0]++;
        prob.transport++;
        c->head = (c->head + 1) % (unsigned)opt.depth;
        c->count--;
        inflight--;
    }
    c->connected = 0;
    aconn_close(c);
    if (phase == 2)
        check_done();
}

/* Queue the next PATCH on c. Returns 0, or -1 when the run's change records are full. */
static int issue(aconn_t *c)
{
    uint64_t i = nchanges;
    if ((i >> CH_BITS) >= MAX_CHUNKS) {
        skipped++;
        return -1;
    }
    if (chunks[i >> CH_BITS] == NULL) {
        chunks[i >> CH_BITS] = calloc(CH_SIZE, sizeof(change_t));
        recv_chunks[i >> CH_BITS] = calloc((size_t)CH_SIZE * (size_t)opt.subs, sizeof(uint64_t));
        if (chunks[i >> CH_BITS] == NULL || recv_chunks[i >> CH_BITS] == NULL) {
            fprintf(stderr, "evload: out of memory at change %" PRIu64 "\n", i);
            exit(1);
        }
    }
    unsigned srv = c->index * (unsigned)opt.per_conn + c->next_srv;
    c->next_srv = (c->next_srv + 1) % (unsigned)opt.per_conn;
    char path[96], body[48];
    snprintf(path, sizeof(path), "/v1/registry/servers/%s", servers[srv].id);
    snprintf(body, sizeof(body), "{\"load\":%" PRIu64 "}", i + 1);
    if (c->out_cap - c->out_len < REQ_CAP) {
        c->out_cap = c->out_cap * 2 + REQ_CAP;
        c->out = realloc(c->out, c->out_cap);
    }
    int n = build_request(c->out + c->out_len, REQ_CAP, "PATCH", path, body, amz_date, NULL);
    if (n < 0) {
        fprintf(stderr, "evload: cannot sign a request\n");
        exit(1);
    }
    c->out_len += (size_t)n;
    nchanges++;
    change_t *ch = change_at(i);
    ch->sent = uv_hrtime();
    ch->srv = srv;
    ch->conn = (uint16_t)c->index;
    c->fifo[(c->head + c->count) % (unsigned)opt.depth] = i;
    c->count++;
    inflight++;
    return 0;
}

static void aconn_written(uv_write_t *w, int status)
{
    aconn_t *c = w->data;
    c->writing = 0;
    if (status < 0) {
        aconn_fail(c, uv_strerror(status));
        return;
    }
    if (c->out_len)
        aconn_flush(c);
}

static void aconn_flush(aconn_t *c)
{
    if (c->writing || c->out_len == 0 || !c->connected)
        return;
    /* swap: the pending bytes become the write in flight */
    char *t = c->wbuf;
    size_t tcap = c->wcap, len = c->out_len;
    c->wbuf = c->out;
    c->wcap = c->out_cap;
    c->out = t;
    c->out_cap = tcap;
    c->out_len = 0;
    uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        aconn_fail(c, uv_strerror(n));
        return;
    }
    if (n > 0)
        b = uv_buf_init(c->wbuf + n, (unsigned)(len - (size_t)n));
    c->writing = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, aconn_written) < 0) {
        c->writing = 0;
        aconn_fail(c, "uv_write failed");
    }
}

static void fill(aconn_t *c)
{
    while (phase == 1 && c->connected && c->count < (unsigned)opt.depth)
        if (issue(c) < 0)
            break;
    aconn_flush(c);
}

/* An answer: the oldest PATCH in flight on the connection is answered. */
static int on_answer(http_in_t *in)
{
    aconn_t *c = in->owner;
    int st = in->parser.status_code;
    if (c->count == 0) {
        cap_add(&caps, "announcer %u: an answer (%d) without a request in flight", c->index, st);
        prob.transport++;
        return 0;
    }
    uint64_t i = c->fifo[c->head];
    c->head = (c->head + 1) % (unsigned)opt.depth;
    c->count--;
    inflight--;
    change_t *ch = change_at(i);
    ch->ack = c->now;
    ch->status = (uint16_t)(st > 0 && st < MAX_STATUS ? st : 0);
    prob.status[ch->status]++;
    if (st == 200)
        acked_ok++;
    else if (prob.status[ch->status] == 1) /* the first of each status */
        cap_add(&caps, "PATCH %s {\"load\":%" PRIu64 "} answered %d: %.1500s", servers[ch->srv].id,
                i + 1, st, c->body);
    return 0;
}

static void aconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    static char rbuf[65536]; /* one loop thread: parsed before the next read */
    (void)h;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void aconn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    aconn_t *c = st->data;
    if (nread < 0) {
        prob.lost_conns += c->count > 0 || phase < 2;
        aconn_fail(c, nread == UV_EOF ? "connection closed by the server (EOF)"
                                      : uv_strerror((int)nread));
        return;
    }
    c->now = uv_hrtime();
    if (http_in_feed(&c->in, buf->base, (size_t)nread) != (size_t)nread) {
        aconn_fail(c, http_in_failed(&c->in));
        return;
    }
    if (opt.rate <= 0)
        fill(c);
    if (phase == 2)
        check_done();
}

static void aconn_connected(uv_connect_t *req, int status)
{
    aconn_t *c = req->data;
    if (status < 0) {
        prob.status[0]++;
        prob.transport++;
        cap_add(&caps, "announcer %u: cannot connect: %s", c->index, uv_strerror(status));
        aconn_close(c);
        return;
    }
    c->connected = 1;
    http_in_init(&c->in, c->body, sizeof(c->body), on_answer, c);
    uv_read_start((uv_stream_t *)&c->tcp, aconn_alloc, aconn_read);
    if (opt.rate <= 0)
        fill(c);
}

static void aconn_start(aconn_t *c)
{
    c->handle_open = 1;
    if (tcp_start(&loop, &c->tcp, &c->creq, c, &lo, aconn_connected) < 0)
        aconn_close(c);
}

/* ---- timers and phases ---- */

static void on_sec(uv_timer_t *t)
{
    (void)t;
    amz_date_now(amz_date);
    uint64_t now = uv_hrtime(), limit = (uint64_t)(lo.timeout_s * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        aconn_t *c = &aconns[i];
        if (c->count && now - change_at(c->fifo[c->head])->sent > limit) {
            prob.timeouts++;
            aconn_fail(c, "timeout: no answer within the limit (-T)");
        }
    }
    if (phase == 0 && now > opt.t_win0) { /* t_win0 is the subscribe deadline until then */
        prob.handshake++;
        cap_add(&caps, "subscribers: only %u of %d subscribed within 5 s", subs_open, opt.subs);
        post_ready(1);
        finish();
    }
}

/* Open loop: send what is due, on the connection with the fewest in flight. */
static void on_pace(uv_timer_t *t)
{
    (void)t;
    if (phase != 1)
        return;
    uint64_t now = uv_hrtime();
    uint64_t due = (uint64_t)((double)(now - t_pace0) * opt.rate / 1e9);
    uint64_t cap = (uint64_t)opt.conns * (uint64_t)opt.depth;
    if (due > paced + cap) { /* more than every slot behind: drop the backlog */
        skipped += due - paced - cap;
        paced = due - cap;
    }
    static int rr;
    while (paced < due) {
        aconn_t *best = NULL;
        for (int k = 0; k < opt.conns; k++) {
            aconn_t *c = &aconns[(rr + k) % opt.conns];
            if (c->connected && c->count < (unsigned)opt.depth &&
                (best == NULL || c->count < best->count))
                best = c;
        }
        if (best == NULL)
            break;
        rr = (rr + 1) % opt.conns;
        if (issue(best) < 0)
            break;
        paced++;
    }
    for (int k = 0; k < opt.conns; k++)
        aconn_flush(&aconns[k]);
}

static void on_drain(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void on_end(uv_timer_t *t)
{
    (void)t;
    phase = 2;
    uv_timer_start(&drain_timer, on_drain, (uint64_t)((lo.timeout_s + opt.drain_s) * 1000), 0);
    check_done();
}

/* Every answer in, and every acknowledged change delivered to every open subscriber. */
static void check_done(void)
{
    if (phase == 2 && inflight == 0 && matched >= acked_ok * subs_open)
        finish();
}

static void on_stop(uv_timer_t *t)
{
    (void)t;
    for (int i = 0; i < opt.subs; i++)
        sub_close(&subs[i]);
    uv_close((uv_handle_t *)&sec_timer, NULL);
    uv_close((uv_handle_t *)&pace_timer, NULL);
    uv_close((uv_handle_t *)&end_timer, NULL);
    uv_close((uv_handle_t *)&drain_timer, NULL);
    uv_close((uv_handle_t *)&stop_timer, NULL);
}

/* Close the announcers, say goodbye to the subscribers (close 1000), stop soon after. */
static void finish(void)
{
    if (phase == 3)
        return;
    phase = 3;
    for (int i = 0; i < opt.conns; i++)
        aconn_close(&aconns[i]);
    for (int i = 0; i < opt.subs; i++) {
        sub_t *s = &subs[i];
        if (s->state == SUB_OPEN) {
            static const unsigned char bye[2] = {0x03, 0xe8};
            sub_send_frame(s, 0x8, bye, 2);
            s->state = SUB_CLOSING;
        }
    }
    uv_timer_stop(&drain_timer);
    uv_timer_stop(&pace_timer);
    uv_timer_start(&stop_timer, on_stop, 300, 0);
}

/* Every subscriber is subscribed: start the clock and the announcers. */
static void sub_ready(void)
{
    if (phase != 0 || subs_open < (unsigned)opt.subs)
        return;
    phase = 1;
    uint64_t now = uv_hrtime();
    opt.t_win0 = now + (uint64_t)(lo.warmup * 1e9);
    opt.t_win1 = opt.t_win0 + (uint64_t)(lo.duration * 1e9);
    t_pace0 = now;
    uv_timer_start(&end_timer, on_end, (opt.t_win1 - now) / 1000000 + 1, 0);
    if (opt.rate > 0)
        uv_timer_start(&pace_timer, on_pace, 1, 1);
    for (int i = 0; i < opt.conns; i++)
        aconn_start(&aconns[i]);
    post_ready(0);
}

static void loop_run(void *arg)
{
    (void)arg;
    uv_loop_init(&loop);
    amz_date_now(amz_date);
    uv_timer_init(&loop, &sec_timer);
    uv_timer_init(&loop, &pace_timer);
    uv_timer_init(&loop, &end_timer);
    uv_timer_init(&loop, &drain_timer);
    uv_timer_init(&loop, &stop_timer);
    uv_timer_start(&sec_timer, on_sec, 1000, 1000);
    opt.t_win0 = uv_hrtime() + 5000000000ull; /* subscribe deadline (on_sec) */
    for (int i = 0; i < opt.subs; i++)
        sub_start(&subs[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    post_ready(1);
    uv_loop_close(&loop);
    hg_sigv4_thread_cleanup();
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: evload [-a HOST:PORT] [-S SUBSCRIBERS] [-c CONNS] [-D DEPTH] [-m "
        "SERVERS_PER_CONN]\n"
        "              [-R PATCH_PER_S] [-d SECONDS] [-W WARMUP_S] [-T TIMEOUT_S] [-G DRAIN_S]\n"
        "              [-P SERVER_PID] [-k KEY_ID] [-s SECRET] [-r REGION] [-e ERRORS_OUT]\n"
        "  key and secret default to $HANGAR_ADMIN_KEY_ID / $HANGAR_ADMIN_SECRET\n");
    exit(1);
}

int main(int argc, char **argv)
{
    const load_opt_t own[] = {
        {'S', LOAD_INT, &opt.subs},    {'c', LOAD_INT, &opt.conns},
        {'D', LOAD_INT, &opt.depth},   {'m', LOAD_INT, &opt.per_conn},
        {'R', LOAD_DOUBLE, &opt.rate}, {'G', LOAD_DOUBLE, &opt.drain_s},
    };
    if (load_parse(&lo, argc, argv, own, sizeof(own) / sizeof(own[0])) < 0 || opt.subs < 1 ||
        opt.subs > MAX_SUBS || opt.conns < 1 || opt.conns > MAX_CONNS || opt.depth < 1 ||
        opt.depth > MAX_DEPTH || opt.per_conn < 1 || opt.drain_s < 0 || opt.rate < 0)
        usage();
    srand((unsigned)(getpid() ^ time(NULL)));

    nservers = (unsigned)opt.conns * (unsigned)opt.per_conn;
    servers = calloc(nservers, sizeof(*servers));
    if (setup() < 0)
        return 1;
    subs = calloc((size_t)opt.subs, sizeof(*subs));
    for (int i = 0; i < opt.subs; i++)
        subs[i].index = (unsigned)i;
    aconns = calloc((size_t)opt.conns, sizeof(*aconns));
    for (int i = 0; i < opt.conns; i++) {
        aconns[i].index = (unsigned)i;
        aconns[i].fifo = calloc((size_t)opt.depth, sizeof(uint64_t));
    }

    uv_sem_init(&ready, 0);
    uv_thread_t tid;
    uv_thread_create(&tid, loop_run, NULL);
    uv_sem_wait(&ready);
    cpu_mark_t m0, m1;
    metrics_t d0 = {0}, d1 = {0};
    if (!setup_failed) {
        sleep_until(opt.t_win0);
        cpu_mark(&m0, lo.server_pid);
        metrics_read(&lo, metric_names, MX_N, &d0);
        sleep_until(opt.t_win1);
        cpu_mark(&m1, lo.server_pid);
        metrics_read(&lo, metric_names, MX_N, &d1);
    }
    uv_thread_join(&tid);
    if (setup_failed) {
        fprintf(stderr, "evload: the subscribers could not subscribe:\n");
        for (int i = 0; i < caps.n; i++)
            fprintf(stderr, "  %s\n", caps.text[i]);
        return 1;
    }

    /* ---- tally ---- */
    hist_t *lat = calloc(1, sizeof(*lat)), *sendev = calloc(1, sizeof(*sendev)),
           *ack = calloc(1, sizeof(*ack));
    uint64_t ok_win = 0, ok_all = 0, lost = 0, early = 0, answered = 0;
    for (uint64_t i = 0; i < nchanges; i++) {
        change_t *c = change_at(i);
        if (c->status == 0)
            continue;
        answered++;
        if (c->status != 200)
            continue;
        ok_all++;
        int win = in_window(c->ack);
        if (win) {
            ok_win++;
            hist_add(ack, c->ack - c->sent);
        }
        uint64_t *r = recv_at(i);
        for (int s = 0; s < opt.subs; s++) {
            if (r[s] == 0) {
                if (lost == 0)
                    cap_add(&caps,
                            "subscriber %d never received change %" PRIu64
                            " (PATCH %s {\"load\":%" PRIu64 "} answered 200)",
                            s, i + 1, servers[c->srv].id, i + 1);
                lost++;
                continue;
            }
            if (!win)
                continue;
            if (r[s] < c->ack)
                early++;
            hist_add(lat, r[s] > c->ack ? r[s] - c->ack : 0);
            hist_add(sendev, r[s] - c->sent);
        }
    }
    uint64_t ev_win = 0, dup = 0, gaps = 0, gap_events = 0, reorder = 0, foreign = 0, snaps = 0,
             closes = 0, unknown = 0, mismatch = 0;
    for (int s = 0; s < opt.subs; s++) {
        sub_t *u = &subs[s];
        ev_win += u->events_win;
        dup += u->dup_change;
        reorder += u->dup_seq;
        gaps += u->gaps;
        gap_events += u->gap_events;
        foreign += u->foreign;
        snaps += u->snapshots;
        unknown += u->unknown;
        mismatch += u->mismatch;
        closes += u->close_code != 0;
    }
    uint64_t errors = 0;
    for (int s = 0; s < MAX_STATUS; s++)
        if (s != 200)
            errors += prob.status[s];
    errors += prob.handshake + prob.lost_conns + nchanges - answered;
    int flagged =
        errors || lost || dup || gaps || reorder || snaps || closes || unknown || mismatch;

    cpu_report_t cpu;
    cpu_report(&m0, &m1, lo.duration, &cpu);
    double pps = (double)ok_win / lo.duration, dps = (double)ev_win / lo.duration;
    double eps = dps / opt.subs;
    printf("evload registry: %s, %d subscriber(s), %d announcer connection(s) x %d in flight, "
           "%u servers, %s, %.1f s window after %.1f s warm-up\n",
           lo.hostport, opt.subs, opt.conns, opt.depth, nservers,
           opt.rate > 0 ? "paced" : "closed loop", lo.duration, lo.warmup);
    if (opt.rate > 0)
        printf("  pacing     %.0f PATCH/s asked; %" PRIu64 " not sent (every slot in flight)\n",
               opt.rate, skipped);
    printf("  changes    %" PRIu64
           " PATCH answered 200 in the window (%.0f/s = events published/s); "
           "%" PRIu64 " sent in all\n",
           ok_win, pps, nchanges);
    printf("  events     %.0f/s received per subscriber; deliveries %.0f/s (all %d subscribers)\n",
           eps, dps, opt.subs);
    if (d0.ok && d1.ok)
        printf("  daemon     %.0f events/s published, %.0f deliveries/s written (its /metrics)\n",
               (d1.v[MX_EVENTS] - d0.v[MX_EVENTS]) / lo.duration,
               (d1.v[MX_DELIVERIES] - d0.v[MX_DELIVERIES]) / lo.duration);
    printf("  latency    answer -> event: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms "
           "(%" PRIu64 " deliveries; %" PRIu64 " arrived before the answer)\n",
           hist_q_ms(lat, 0.5), hist_q_ms(lat, 0.9), hist_q_ms(lat, 0.99), (double)lat->max / 1e6,
           lat->count, early);
    printf("             sent -> event:   p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           hist_q_ms(sendev, 0.5), hist_q_ms(sendev, 0.99), (double)sendev->max / 1e6);
    printf("             sent -> answer:  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           hist_q_ms(ack, 0.5), hist_q_ms(ack, 0.99), (double)ack->max / 1e6);
    printf("  checks     lost %" PRIu64 "  duplicated %" PRIu64 "  seq gaps %" PRIu64 " (%" PRIu64
           " seq missing)  seq repeated/reordered %" PRIu64 "  snapshots %" PRIu64
           "  closed by server %" PRIu64 "  mismatched %" PRIu64 "  other events %" PRIu64
           "  unparsed %" PRIu64 "\n",
           lost, dup, gaps, gap_events, reorder, snaps, closes, mismatch, foreign, unknown);
    printf("  answers    ");
    for (int s = 0; s < MAX_STATUS; s++)
        if (prob.status[s])
            printf("%s%d=%" PRIu64 " ", s ? "" : "transport/", s, prob.status[s]);
    printf("(timeouts %" PRIu64 ", unanswered %" PRIu64 ", connections lost %" PRIu64 ")\n",
           prob.timeouts, nchanges - answered, prob.lost_conns);
    if (cpu.server_pct >= 0)
        printf("  cpu        server %.0f%%  evload %.0f%%  softirq %.0f%%  others %.0f%% (1 core = "
               "100); machine busy %.0f%% (%ld cores = 100)\n",
               cpu.server_pct, cpu.client_pct, cpu.irq_pct, cpu.other_pct, cpu.busy_pct, cpu.ncpu);
    if (flagged)
        printf("  FLAGGED: see the problems below (stderr)\n");
    cap_dump(&caps, lo.err_path);

    printf("RESULT workload=registry subs=%d conns=%d depth=%d rate=%.0f duration_s=%.2f "
           "patches=%" PRIu64 " patch_per_s=%.1f events_per_s=%.1f deliveries_per_s=%.1f",
           opt.subs, opt.conns, opt.depth, opt.rate, lo.duration, ok_win, pps, eps, dps);
    if (d0.ok && d1.ok)
        printf(" daemon_events_per_s=%.1f daemon_deliveries_per_s=%.1f",
               (d1.v[MX_EVENTS] - d0.v[MX_EVENTS]) / lo.duration,
               (d1.v[MX_DELIVERIES] - d0.v[MX_DELIVERIES]) / lo.duration);
    printf(" lat_p50_ms=%.3f lat_p90_ms=%.3f lat_p99_ms=%.3f lat_max_ms=%.3f early=%" PRIu64
           " send_event_p50_ms=%.3f send_event_p99_ms=%.3f ack_p50_ms=%.3f ack_p99_ms=%.3f"
           " errors=%" PRIu64 " timeouts=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64 " gaps=%" PRIu64
           " reorder=%" PRIu64 " foreign=%" PRIu64 " snapshots=%" PRIu64 " closes=%" PRIu64
           " mismatch=%" PRIu64 " skipped=%" PRIu64,
           hist_q_ms(lat, 0.5), hist_q_ms(lat, 0.9), hist_q_ms(lat, 0.99), (double)lat->max / 1e6,
           early, hist_q_ms(sendev, 0.5), hist_q_ms(sendev, 0.99), hist_q_ms(ack, 0.5),
           hist_q_ms(ack, 0.99), errors, prob.timeouts, lost, dup, gaps, reorder, foreign, snaps,
           closes, mismatch, skipped);
    if (cpu.server_pct >= 0)
        printf(" server_cpu_pct=%.0f", cpu.server_pct);
    result_tail(&cpu, flagged, prob.status, MAX_STATUS);
    return flagged ? 2 : 0;
}
