/* hangar — roomload: realtime rooms under load, hangard's and Mosquitto's, with one lean client.
 *
 * The pattern is ../shared/peers/roomload/core.js's, so the rows divide by the Colyseus and
 * Mosquitto rows that script produces: R rooms × N clients; every client sends M messages a second
 * to its room, each carrying its send time; the server delivers each message to all N members,
 * the sender included (expected deliveries/s = R × N × M × N); every delivery's latency (receive
 * time − the send time in the payload, one clock: this process) goes into a histogram. Steps: the
 * base rate -b, -x times (medians and spread), then the ramp -u until a step is saturated; when the
 * base itself is saturated, the rates of -w instead, until one is sustained. Each step: -W s of
 * warm-up, a -d s window, then up to -G s for the step's last deliveries. Saturated, as in core.js:
 * delivered < 97% of expected in the window, more than 0.5% of the step's deliveries missing after
 * the drain, or p99 above -L ms (20 here; core.js's default is 250).
 *
 * Transports (-t):
 *   hangard  rooms created with the admin key (POST /v1/rooms, max_clients = N), with -l 1 running
 *            a Lua relay (PUT /v1/scripts/roomload_relay: a handler for "m" that broadcasts the
 *            data) instead of the plain relay; R × N players logged in with signed POST
 *            /v1/auth/device; each joins its room's WebSocket with Authorization: Bearer. A send
 *            is a text frame {"type":"m","data":{"t":µs,"k":step,"c":client,"s":n,"pad":"x…"}};
 *            a delivery is {"seq","type":"m","from","data":{…}}.
 *   mqtt     MQTT 3.1.1 over TCP (TCP_NODELAY), QoS 0: room r is topic room/r, each client
 *            subscribes to it and publishes {"t","k","c","s","pad"} to it, as
 *            ../shared/peers/mosquitto/load.js does with npm mqtt. The framing (CONNECT, SUBSCRIBE,
 *            PUBLISH, PINGREQ) is done here, on the same epoll loop as the WebSocket clients:
 *            libmosquitto would allocate and queue every packet it sends and receives, and keep a
 *            mutex per client; a few dozen lines of framing keep the client's cost per message the
 *            same for both transports.
 *
 * Checks, counted and flagged (exit 2): every hangard client must see the room's seq without a gap
 * or a step back (from its welcome on); every client must get each sender's messages in the order
 * sent ("s", per sender, both transports); a delivery from another room; close frames and
 * disconnects from the server; error messages; unparsed input.
 *
 * -m idle: open -c idle room connections (hangard only) over ceil(c / -n) rooms, each socket bound
 * to a source address of its own in 127.1.0.0/16 (-i connections per address, past the ~28,000
 * ephemeral ports of one address), -C upgrades in flight; wait until every one has its welcome (or
 * failed), hold them -H s (answering pings), and read the server's VmRSS (-P) and
 * hangar_memory_bytes (/metrics) before the first connection and after the hold: bytes per
 * connection. RLIMIT_NOFILE is raised to its hard limit; the run needs -c + 64 descriptors in this
 * process and in hangard (ulimit -n), and hangard needs --http-max-conns above -c.
 *
 * One thread, one epoll loop, non-blocking sockets; the set-up requests go on a blocking
 * keep-alive connection, pipelined. Sends are paced as one global schedule (send j at start + j /
 * (clients × M), by client in an order that alternates rooms), so a tick sends what is due, never
 * a timer per client. The hot path allocates nothing: frames are built in a stack buffer, reads go
 * into one buffer, and a connection keeps a partial frame, or bytes the kernel refused, in buffers
 * that grow once and stay.
 *
 * Output (stdout): one Markdown row per step group in bp_room_header's columns (lib.sh), a
 * "SUMMARY label: best unsaturated step …" line as core.js prints, "STEP …" lines (one per step)
 * and a last "RESULT …" line of key=value pairs; progress to stderr.
 */
/* memmem: _GNU_SOURCE comes from the build (CMakeLists.txt) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/sigv4.h"
#include "loadlib.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF_SIZE (1u << 20)      /* one read */
#define MAX_FRAME (RBUF_SIZE / 2) /* a larger frame or packet from the server is an error */
#define MAX_OUT (16u << 20)       /* bytes the kernel refused, per connection, before giving up */
#define MAX_STEPS 64              /* base repeats + ramp or down steps */
#define MAX_CLIENTS (1u << 21)    /* … */
#define SETUP_DEPTH 32            /* set-up requests in flight on the blocking connection */
#define SCRIPT_NAME "roomload_relay"
#define MQTT_KEEPALIVE_S 60
#define JSON_TYPE "application/json"

/* ---- options ---- */

static load_opts_t lo; /* -a -k -s -r -e -P -d -W -T */

enum { T_HANGARD, T_MQTT };
enum { M_LOAD, M_IDLE };

static struct {
    const char *transport_s, *mode_s, *ramp, *down, *label;
    int transport, mode;
    int rooms, per_room, repeat, pad, lua, conns, conc, per_ip;
    double base, drain_s, p99_limit, hold_s;
} opt = {
    .transport_s = "hangard",
    .mode_s = "load",
    .ramp = "15,20,25,30,35,40,50,60,80",
    .down = NULL,
    .rooms = 100,
    .per_room = 8,
    .repeat = 3,
    .pad = 16,
    .conns = 5000,
    .conc = 256,
    .per_ip = 1000,
    .base = 10,
    .drain_s = 3,
    .p99_limit = 20,
    .hold_s = 5,
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
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

/* ---- connections ---- */

enum { C_NONE, C_CONNECTING, C_UPGRADING, C_OPEN, C_DONE };

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t joined; /* hangard: its welcome arrived; mqtt: its SUBACK */
    uint8_t out_on; /* EPOLLOUT armed */
    uint8_t probed; /* saw the barrier's probe */
    uint8_t seq_known;
    uint16_t close_code; /* the server's, 0 none */
    uint32_t room, member;
    uint32_t s_next; /* the next "s" it sends */
    uint64_t last_seq;
    uint32_t *next_s; /* per member of its room: the "s" expected next from it (load mode) */
    char *in;         /* a partial frame or packet, carried to the next read */
    uint32_t in_len, in_cap;
    char *out; /* bytes the kernel refused */
    uint32_t out_len, out_cap;
} conn_t;

static conn_t *conns;
static uint32_t nconns;
static int ep = -1;
static char (*room_ids)[40]; /* hangard room ids */
static char **tokens;        /* hangard player tokens */
static unsigned char key_seed[12];
static char rbuf[RBUF_SIZE];

/* ---- counters ---- */

static struct {
    uint64_t arrivals; /* deliveries of "m", any step */
    uint64_t joined, failed, lost, opened;
    uint64_t status[600]; /* upgrade answers other than 101 */
    uint64_t connect_err, hs_err, proto_err;
    uint64_t gaps, gap_msgs, seq_back; /* hangard room seq */
    uint64_t s_gaps, s_back;           /* per sender order */
    uint64_t foreign, other_msgs, err_msgs, resets, unparsed, closes, backlog;
} st;
static captures_t caps;
static int goodbye; /* we closed: the server's close frames and EOFs are answers, not problems */

/* the running step */
static struct {
    int k; /* 0: the barrier's probes; -1: none */
    int pacing;
    double total_rate; /* sends/s, all clients */
    uint64_t start, end, win0, win1;
    uint64_t issued; /* sends scheduled (the pacing index) */
    uint64_t sent, win_sent, recv, win_recv, late, probe_seen;
    int marked0, marked1;
    cpu_mark_t m0, m1;
    hist_t lat;
} stp = {.k = -1};

/* ---- signed /v1 requests (service hangar) on a blocking connection ---- */

/* A request signed for `hangar` (host, x-amz-date, and content-type when there is a body) into
 * out. Returns its length, or -1. */
static int hangar_request(char *out, size_t cap, const char *method, const char *path,
                          const char *body)
{
    char auth[512], date[17];
    amz_date_now(date);
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
                     "\r\nAuthorization: %s\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, lo.hostport, date, auth, blen, body);
    else
        n = snprintf(out, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\nAuthorization: %s\r\n\r\n",
                     method, path, lo.hostport, date, auth);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The string value of "key" in a JSON body, into out (cap bytes). Returns 0, or -1. */
static int json_str(const char *body, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":\"", key);
    const char *p = strstr(body, k);
    if (p == NULL)
        return -1;
    p += strlen(k);
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

typedef int (*batch_build_fn)(unsigned i, char *out, size_t cap);
typedef int (*batch_done_fn)(unsigned i, int status, const char *body);

typedef struct batch {
    batch_done_fn done;
    unsigned next_answer;
    int failed;
} batch_t;

static int batch_complete(http_in_t *in)
{
    batch_t *b = in->owner;
    if (b->done(b->next_answer++, in->parser.status_code, in->body) < 0)
        b->failed = 1;
    return 0;
}

/* Requests 0..n-1 (build), sent on one keep-alive connection SETUP_DEPTH at a time (pipelined:
 * the daemon commits them together), each answer to done. Returns 0, or -1 (said on stderr). */
static int http_batch(const char *what, unsigned n, batch_build_fn build, batch_done_fn done)
{
    int rc = -1;
    char *req = malloc((size_t)SETUP_DEPTH * 8192), *body = malloc(65536);
    sync_conn_t *c = sync_open(&lo, 30, 16);
    batch_t b = {.done = done};
    http_in_t in;
    uint64_t t0 = now_us();
    if (c == NULL) {
        fprintf(stderr, "roomload: cannot connect to %s: %s\n", lo.hostport, strerror(errno));
        goto out;
    }
    http_in_init(&in, body, 65536, batch_complete, &b);
    for (unsigned i = 0; i < n;) {
        size_t len = 0;
        unsigned k = 0;
        for (; k < SETUP_DEPTH && i + k < n; k++) {
            int m = build(i + k, req + len, 8192);
            if (m < 0) {
                fprintf(stderr, "roomload: %s: cannot build request %u\n", what, i + k);
                goto out;
            }
            len += (size_t)m;
        }
        for (size_t off = 0; off < len;) {
            ssize_t w = write(c->fd, req + off, len - off);
            if (w <= 0) {
                fprintf(stderr, "roomload: %s: write: %s\n", what, strerror(errno));
                goto out;
            }
            off += (size_t)w;
        }
        while (b.next_answer < i + k) {
            ssize_t got = read(c->fd, rbuf, sizeof(rbuf));
            if (got <= 0 || http_in_feed(&in, rbuf, (size_t)got) != (size_t)got) {
                fprintf(stderr, "roomload: %s: %s after %u answers\n", what,
                        got <= 0 ? "connection closed" : http_in_failed(&in), b.next_answer);
                goto out;
            }
        }
        if (b.failed)
            goto out;
        i += k;
    }
    fprintf(stderr, "roomload: %s: %u in %.1f s\n", what, n, (double)(now_us() - t0) / 1e6);
    rc = 0;
out:
    sync_close(c);
    free(req);
    free(body);
    return rc;
}

static const char relay_lua[] =
    "return { unknown = \"refuse\", messages = { m = function(room, player, data) "
    "room.broadcast(\"m\", data) end } }";

static int build_room(unsigned i, char *out, size_t cap)
{
    (void)i;
    char body[256];
    snprintf(body, sizeof(body), "{\"label\":\"roomload-%s\",\"max_clients\":%d%s}", lo.tag,
             opt.per_room, opt.lua ? ",\"script\":\"" SCRIPT_NAME "\"" : "");
    return hangar_request(out, cap, "POST", "/v1/rooms", body);
}

static int room_done(unsigned i, int status, const char *body)
{
    if (status != 201 || json_str(body, "room_id", room_ids[i], sizeof(room_ids[i])) < 0) {
        fprintf(stderr, "roomload: POST /v1/rooms answered %d: %.500s\n", status, body);
        return -1;
    }
    return 0;
}

static int build_login(unsigned i, char *out, size_t cap)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"device_id\":\"roomload-%s-%07u\"}", lo.tag, i);
    return hangar_request(out, cap, "POST", "/v1/auth/device", body);
}

static int login_done(unsigned i, int status, const char *body)
{
    char tok[4096];
    if ((status != 200 && status != 201) || json_str(body, "token", tok, sizeof(tok)) < 0) {
        fprintf(stderr, "roomload: POST /v1/auth/device answered %d: %.500s\n", status, body);
        return -1;
    }
    tokens[i] = strdup(tok);
    return 0;
}

/* hangard: the relay script (with -l 1), the rooms, the players. */
static int hangard_setup(unsigned rooms)
{
    if (opt.lua) {
        char req[8192], body[1024];
        snprintf(body, sizeof(body), "{\"source\":\"");
        size_t n = strlen(body);
        for (const char *p = relay_lua; *p && n + 4 < sizeof(body); p++) {
            if (*p == '"' || *p == '\\')
                body[n++] = '\\';
            body[n++] = *p;
        }
        snprintf(body + n, sizeof(body) - n, "\"}");
        sync_conn_t *c = sync_open(&lo, 30, 65536);
        int len = hangar_request(req, sizeof(req), "PUT", "/v1/scripts/" SCRIPT_NAME, body);
        int status = c && len > 0 ? sync_send(c, req, (size_t)len) : -1;
        if (status != 200 && status != 201) {
            fprintf(stderr, "roomload: PUT /v1/scripts/" SCRIPT_NAME " answered %d: %.500s\n",
                    status, c ? c->body : "(no connection)");
            sync_close(c);
            return -1;
        }
        sync_close(c);
    }
    room_ids = calloc(rooms, sizeof(*room_ids));
    tokens = calloc(nconns, sizeof(*tokens));
    if (http_batch("rooms created", rooms, build_room, room_done) < 0 ||
        http_batch("players logged in", nconns, build_login, login_done) < 0)
        return -1;
    return 0;
}

/* ---- writing ---- */

static void conn_lost(conn_t *c, const char *why);

static void arm(conn_t *c, int out)
{
    if (c->out_on == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_on = (uint8_t)out;
}

static void out_keep(conn_t *c, const char *data, size_t len)
{
    if (c->out_len + len > MAX_OUT) {
        st.backlog++;
        conn_lost(c, "client-side backlog over 16 MiB: the server does not read");
        return;
    }
    if (c->out_len + len > c->out_cap) {
        uint32_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        c->out = realloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += (uint32_t)len;
    arm(c, 1);
}

static void conn_write(conn_t *c, const void *data, size_t len)
{
    if (c->state == C_DONE)
        return;
    if (c->out_len) {
        out_keep(c, data, len);
        return;
    }
    ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
    if (w == (ssize_t)len)
        return;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_lost(c, strerror(errno));
        return;
    }
    if (w < 0)
        w = 0;
    out_keep(c, (const char *)data + w, len - (size_t)w);
}

static void conn_flush(conn_t *c)
{
    if (c->out_len == 0) {
        arm(c, 0);
        return;
    }
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_lost(c, strerror(errno));
        return;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (uint32_t)w;
    if (c->out_len == 0)
        arm(c, 0);
}

static void ws_send(conn_t *c, int opcode, const void *payload, size_t len)
{
    unsigned char f[512];
    if (len + 14 > sizeof(f))
        return;
    size_t n = ws_frame(f, opcode, payload, len, (uint32_t)(c - conns) * 2654435761u);
    conn_write(c, f, n);
}

/* ---- deliveries ---- */

/* The one-character keys t, k, c, s of a payload object, in any order (a Lua relay may reorder
 * them): a bit per key found. */
static int payload_fields(const char *p, const char *end, uint64_t v[4])
{
    int mask = 0;
    while (end - p >= 4 && (p = memchr(p, '"', (size_t)(end - p))) != NULL && end - p >= 4) {
        if (p[2] == '"' && p[3] == ':') {
            int i = p[1] == 't' ? 0 : p[1] == 'k' ? 1 : p[1] == 'c' ? 2 : p[1] == 's' ? 3 : -1;
            p += 4;
            if (i >= 0) {
                v[i] = parse_u64(&p, end);
                mask |= 1 << i;
            }
            continue;
        }
        p++;
    }
    return mask;
}

static void on_payload(conn_t *c, const char *p, const char *end, uint64_t now)
{
    uint64_t v[4];
    if (payload_fields(p, end, v) != 15 || v[2] >= nconns) {
        st.unparsed++;
        cap_add(&caps, "client %u: unparsed delivery: %.*s", (unsigned)(c - conns),
                (int)(end - p > 300 ? 300 : end - p), p);
        return;
    }
    uint64_t t = v[0], k = v[1], s = v[3];
    const conn_t *from = &conns[v[2]];
    st.arrivals++;
    if (from->room != c->room) {
        st.foreign++;
        cap_add(&caps, "client %u (room %u) got client %u's message (room %u)",
                (unsigned)(c - conns), c->room, (unsigned)v[2], from->room);
        return;
    }
    if (k != 0 && c->next_s) { /* per-sender order (probes carry no s) */
        uint32_t *want = &c->next_s[from->member];
        if (s != *want) {
            if (s < *want) {
                st.s_back++;
                cap_add(&caps, "client %u: client %u's s=%" PRIu64 " after s=%u",
                        (unsigned)(c - conns), (unsigned)v[2], s, *want - 1);
            } else {
                st.s_gaps++;
                cap_add(&caps, "client %u: client %u's s=%" PRIu64 ", expected %u (missing)",
                        (unsigned)(c - conns), (unsigned)v[2], s, *want);
            }
        }
        if (s + 1 > *want)
            *want = (uint32_t)s + 1;
    }
    if ((int)k != stp.k) {
        stp.late++;
        return;
    }
    if (k == 0) {
        if (!c->probed) {
            c->probed = 1;
            stp.probe_seen++;
        }
        return;
    }
    stp.recv++;
    if (now >= stp.win0 && now < stp.win1) {
        stp.win_recv++;
        hist_add(&stp.lat, now > t ? (now - t) * 1000u : 0);
    }
}

static uint64_t field_u64(const char *d, const char *end, const char *key)
{
    size_t kl = strlen(key);
    const char *p = memmem(d, (size_t)(end - d), key, kl);
    if (p == NULL)
        return 0;
    p += kl;
    return parse_u64(&p, end);
}

static void joined(conn_t *c);

/* A text frame from hangard. */
static void on_text(conn_t *c, const char *d, size_t len, uint64_t now)
{
    static const char seq_key[] = "{\"seq\":", type_m[] = ",\"type\":\"m\",";
    const char *end = d + len;
    if (len > sizeof(seq_key) && memcmp(d, seq_key, sizeof(seq_key) - 1) == 0) {
        const char *p = d + sizeof(seq_key) - 1;
        uint64_t seq = parse_u64(&p, end);
        if (c->seq_known && seq != c->last_seq + 1) {
            if (seq <= c->last_seq) {
                st.seq_back++;
                cap_add(&caps, "client %u: room seq %" PRIu64 " after %" PRIu64,
                        (unsigned)(c - conns), seq, c->last_seq);
            } else {
                st.gaps++;
                st.gap_msgs += seq - c->last_seq - 1;
                cap_add(&caps,
                        "client %u: room seq %" PRIu64 " after %" PRIu64 " (%" PRIu64 " missing)",
                        (unsigned)(c - conns), seq, c->last_seq, seq - c->last_seq - 1);
            }
        }
        if (!c->seq_known || seq > c->last_seq)
            c->last_seq = seq;
        c->seq_known = 1;
        if ((size_t)(end - p) > sizeof(type_m) && memcmp(p, type_m, sizeof(type_m) - 1) == 0) {
            const char *dk = memmem(p, (size_t)(end - p), "\"data\":", 7);
            if (dk)
                on_payload(c, dk + 7, end, now);
            else
                st.unparsed++;
        } else {
            st.other_msgs++; /* join, leave */
        }
        return;
    }
    if (len > 17 && memcmp(d, "{\"type\":\"welcome\"", 17) == 0) {
        c->last_seq = field_u64(d, end, "\"seq\":");
        c->seq_known = 1;
        joined(c);
        return;
    }
    if (len > 15 && memcmp(d, "{\"type\":\"error\"", 15) == 0) {
        st.err_msgs++;
        cap_add(&caps, "client %u got an error: %.*s", (unsigned)(c - conns),
                (int)(len > 400 ? 400 : len), d);
        return;
    }
    if (len > 15 && memcmp(d, "{\"type\":\"reset\"", 15) == 0) {
        st.resets++;
        return;
    }
    st.unparsed++;
    cap_add(&caps, "client %u: unexpected message: %.*s", (unsigned)(c - conns),
            (int)(len > 300 ? 300 : len), d);
}

/* WebSocket frames from hangard at d (n bytes). Returns the bytes used. */
static size_t ws_input(conn_t *c, char *d, size_t n, uint64_t now)
{
    size_t off = 0;
    ws_hdr_t h;
    int got;
    while (c->state == C_OPEN && (got = ws_parse(d + off, n - off, MAX_FRAME, &h)) != 0) {
        if (got < 0 || !h.fin) {
            st.proto_err++;
            conn_lost(c, got == WS_MASKED ? "masked frame"
                         : got < 0        ? "frame too large"
                                          : "fragmented frame");
            return n;
        }
        const char *pl = d + off + h.hl;
        size_t len = (size_t)h.len;
        off += h.hl + len;
        switch (h.opcode) {
        case 0x1: on_text(c, pl, len, now); break;
        case 0x9: ws_send(c, 0xA, pl, len > 125 ? 125 : len); break;
        case 0xA: break;
        case 0x8: {
            unsigned code =
                len >= 2 ? (unsigned)((unsigned char)pl[0] << 8 | (unsigned char)pl[1]) : 1005;
            c->close_code = (uint16_t)code;
            if (goodbye) {
                conn_lost(c, NULL);
                return n;
            }
            st.closes++;
            cap_add(&caps, "client %u: closed by the server, code %u: %.*s", (unsigned)(c - conns),
                    code, (int)(len > 2 ? len - 2 : 0), pl + 2);
            ws_send(c, 0x8, pl, len >= 2 ? 2 : 0);
            conn_lost(c, NULL);
            return n;
        }
        default: st.unparsed++; break;
        }
    }
    return off;
}

/* MQTT packets from the broker at d (n bytes). Returns the bytes used. */
static size_t mqtt_input(conn_t *c, char *d, size_t n, uint64_t now)
{
    size_t off = 0;
    while (c->state == C_OPEN && n - off >= 2) {
        unsigned char b0 = (unsigned char)d[off];
        size_t i = off + 1, rl = 0;
        int shift = 0, whole = 0;
        while (i < n) {
            unsigned char b = (unsigned char)d[i++];
            rl |= (size_t)(b & 0x7f) << shift;
            if (!(b & 0x80)) {
                whole = 1;
                break;
            }
            shift += 7;
            if (shift > 21) {
                st.proto_err++;
                conn_lost(c, "bad MQTT remaining length");
                return n;
            }
        }
        if (whole && rl > MAX_FRAME) {
            st.proto_err++;
            conn_lost(c, "MQTT packet too large");
            return n;
        }
        if (!whole || n - i < rl)
            break;
        const char *b = d + i;
        off = i + rl;
        switch (b0 >> 4) {
        case 2: /* CONNACK */
            if (rl < 2 || b[1] != 0) {
                st.hs_err++;
                cap_add(&caps, "client %u: CONNACK refused (%d)", (unsigned)(c - conns),
                        rl >= 2 ? b[1] : -1);
                conn_lost(c, NULL);
                return n;
            }
            break;
        case 9: /* SUBACK */
            if (rl < 3 || (unsigned char)b[2] == 0x80) {
                st.hs_err++;
                cap_add(&caps, "client %u: SUBSCRIBE refused", (unsigned)(c - conns));
                conn_lost(c, NULL);
                return n;
            }
            joined(c);
            break;
        case 3: { /* PUBLISH */
            size_t tl = rl >= 2 ? (size_t)((unsigned char)b[0] << 8 | (unsigned char)b[1]) : rl;
            size_t skip = 2 + tl + (((b0 >> 1) & 3) ? 2 : 0);
            if (skip > rl) {
                st.unparsed++;
                break;
            }
            on_payload(c, b + skip, b + rl, now);
            break;
        }
        case 13: break; /* PINGRESP */
        default: st.unparsed++; break;
        }
    }
    return off;
}

/* ---- connecting ---- */

static uint32_t next_connect, inflight;

static void ws_key_of(uint32_t i, char key[32], char accept[32])
{
    unsigned char raw[16];
    memcpy(raw, &i, 4);
    memcpy(raw + 4, key_seed, 12);
    ws_key(raw, key, accept);
}

static void conn_close_fd(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* The connection is over: the server closed it (why NULL: already counted), or it failed. */
static void conn_lost(conn_t *c, const char *why)
{
    if (c->state == C_DONE)
        return;
    if (c->state == C_OPEN && c->joined) {
        st.lost += !goodbye; /* after our goodbye, the server's close is its answer */
    } else {
        st.failed++;
        inflight--;
    }
    if (why && !goodbye)
        cap_add(&caps, "client %u: %s", (unsigned)(c - conns), why);
    c->state = C_DONE;
    conn_close_fd(c);
}

static void joined(conn_t *c)
{
    if (c->joined)
        return;
    c->joined = 1;
    st.joined++;
    inflight--;
}

static void conn_start(uint32_t i)
{
    conn_t *c = &conns[i];
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->state = C_CONNECTING;
    inflight++;
    if (c->fd < 0) {
        st.connect_err++;
        conn_lost(c, strerror(errno));
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opt.mode == M_IDLE) { /* a source address of its own every -i connections */
        uint32_t a = i / (uint32_t)opt.per_ip;
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(0x7f010000u | ((a + 1) & 0xffffu))};
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            st.connect_err++;
            conn_lost(c, strerror(errno));
            return;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lo.port)};
    inet_pton(AF_INET, lo.host, &dst.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        st.connect_err++;
        conn_lost(c, strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->out_on = 1;
}

static void start_connects(void)
{
    while (inflight < (uint32_t)opt.conc && next_connect < nconns)
        conn_start(next_connect++);
}

static size_t put_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, s, n);
    return 2 + n;
}

/* Connected: send the upgrade (hangard) or CONNECT + SUBSCRIBE (mqtt). */
static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        st.connect_err++;
        conn_lost(c, strerror(err));
        return;
    }
    st.opened++;
    c->state = C_UPGRADING;
    arm(c, 0);
    uint32_t i = (uint32_t)(c - conns);
    if (opt.transport == T_HANGARD) {
        char req[4096 + 512], key[32], accept[32];
        ws_key_of(i, key, accept);
        int n = snprintf(req, sizeof(req),
                         "GET /v1/rooms/%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                         room_ids[c->room], lo.hostport, key, tokens[i]);
        conn_write(c, req, (size_t)n);
        return;
    }
    unsigned char p[256], *q = p;
    char id[64], topic[32];
    snprintf(id, sizeof(id), "rl-%s-%u", lo.tag, i);
    snprintf(topic, sizeof(topic), "room/%u", c->room);
    /* CONNECT: protocol MQTT level 4, clean session, keep-alive */
    size_t body = 10 + 2 + strlen(id);
    *q++ = 0x10;
    *q++ = (unsigned char)body;
    q += put_str(q, "MQTT");
    *q++ = 4;
    *q++ = 0x02;
    *q++ = 0;
    *q++ = MQTT_KEEPALIVE_S;
    q += put_str(q, id);
    /* SUBSCRIBE packet id 1, the room's topic, QoS 0 */
    *q++ = 0x82;
    *q++ = (unsigned char)(2 + 2 + strlen(topic) + 1);
    *q++ = 0;
    *q++ = 1;
    q += put_str(q, topic);
    *q++ = 0;
    conn_write(c, p, (size_t)(q - p));
    c->state = C_OPEN; /* MQTT has no handshake of its own: CONNACK and SUBACK are packets */
}

static void on_readable(conn_t *c, uint64_t now)
{
    size_t have = c->in_len;
    if (have)
        memcpy(rbuf, c->in, have);
    ssize_t r = read(c->fd, rbuf + have, sizeof(rbuf) - 1 - have);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        conn_lost(c, r == 0 ? "the server closed the connection (EOF)" : strerror(errno));
        return;
    }
    c->in_len = 0;
    size_t n = have + (size_t)r, off = 0;
    rbuf[n] = '\0'; /* for the reports of refused upgrades */
    if (c->state == C_UPGRADING) {
        char key[32], accept[32];
        ws_key_of((uint32_t)(c - conns), key, accept);
        long hl = ws_handshake(rbuf, n, 16384, accept);
        if (hl == 0) {
            off = 0;
            goto keep;
        }
        if (hl < 0) {
            int status = 0;
            if (hl == WS_HS_STATUS && sscanf(rbuf, "HTTP/1.1 %d", &status) == 1 && status > 0 &&
                status < 600)
                st.status[status]++;
            st.hs_err++;
            const char *body = hl == WS_HS_STATUS ? rbuf + strlen(rbuf) + 4 : "";
            cap_add(&caps, "client %u: upgrade refused: %.200s | %.300s", (unsigned)(c - conns),
                    rbuf, body < rbuf + n ? body : "");
            conn_lost(c, NULL);
            return;
        }
        off = (size_t)hl;
        c->state = C_OPEN;
    }
    off += opt.transport == T_HANGARD ? ws_input(c, rbuf + off, n - off, now)
                                      : mqtt_input(c, rbuf + off, n - off, now);
keep:
    if (c->state == C_DONE || off >= n)
        return;
    size_t left = n - off;
    if (left > c->in_cap) {
        uint32_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < left)
            cap *= 2;
        free(c->in);
        c->in = malloc(cap);
        c->in_cap = cap;
    }
    memcpy(c->in, rbuf + off, left);
    c->in_len = (uint32_t)left;
}

/* ---- sending ---- */

static char pad[257];

static void send_msg(conn_t *c, int k, uint64_t now)
{
    char js[512];
    uint32_t i = (uint32_t)(c - conns), s = k ? c->s_next++ : 0;
    if (opt.transport == T_HANGARD) {
        int n = snprintf(js, sizeof(js),
                         "{\"type\":\"m\",\"data\":{\"t\":%" PRIu64 ",\"k\":%d,\"c\":%u,\"s\":%u,"
                         "\"pad\":\"%s\"}}",
                         now, k, i, s, pad);
        ws_send(c, 0x1, js, (size_t)n);
        return;
    }
    unsigned char p[600], *q = p;
    char topic[32];
    int tl = snprintf(topic, sizeof(topic), "room/%u", c->room);
    int n =
        snprintf(js, sizeof(js), "{\"t\":%" PRIu64 ",\"k\":%d,\"c\":%u,\"s\":%u,\"pad\":\"%s\"}",
                 now, k, i, s, pad);
    size_t rl = 2 + (size_t)tl + (size_t)n;
    *q++ = 0x30;
    do {
        unsigned char b = rl & 0x7f;
        rl >>= 7;
        *q++ = rl ? (unsigned char)(b | 0x80) : b;
    } while (rl);
    q += put_str(q, topic);
    memcpy(q, js, (size_t)n);
    q += n;
    conn_write(c, p, (size_t)(q - p));
}

/* Send j goes to the client of room j % R, member (j / R) % N: consecutive sends alternate
 * rooms, and each client sends once every nconns sends. */
static conn_t *sender_of(uint64_t j)
{
    uint32_t r = (uint32_t)(j % (uint64_t)opt.rooms);
    uint32_t m = (uint32_t)((j / (uint64_t)opt.rooms) % (uint64_t)opt.per_room);
    return &conns[r * (uint32_t)opt.per_room + m];
}

static void pace(uint64_t now)
{
    if (!stp.pacing || now < stp.start)
        return;
    if (!stp.marked0 && now >= stp.win0) {
        cpu_mark(&stp.m0, lo.server_pid);
        stp.marked0 = 1;
    }
    uint64_t until = now < stp.end ? now : stp.end;
    uint64_t due = (uint64_t)((double)(until - stp.start) * stp.total_rate / 1e6);
    if (now < stp.end)
        due++; /* send 0 is due at start */
    int in_win = now >= stp.win0 && now < stp.win1;
    while (stp.issued < due) {
        conn_t *c = sender_of(stp.issued++);
        if (c->state != C_OPEN)
            continue;
        send_msg(c, stp.k, now_us());
        stp.sent++;
        stp.win_sent += (uint64_t)in_win;
    }
    if (now >= stp.end) {
        if (!stp.marked1) {
            cpu_mark(&stp.m1, lo.server_pid);
            stp.marked1 = 1;
        }
        stp.pacing = 0;
    }
}

/* ---- the loop ---- */

static uint64_t next_ping;

static void mqtt_pings(uint64_t now)
{
    if (opt.transport != T_MQTT || now < next_ping)
        return;
    next_ping = now + (uint64_t)MQTT_KEEPALIVE_S / 2 * 1000000u;
    static const unsigned char ping[2] = {0xc0, 0x00};
    for (uint32_t i = 0; i < nconns; i++)
        if (conns[i].state == C_OPEN)
            conn_write(&conns[i], ping, 2);
}

/* Run the loop until `until` (µs) or until done() says so. */
static void pump(uint64_t until, int (*done)(void))
{
    static struct epoll_event evs[1024];
    for (;;) {
        uint64_t now = now_us();
        pace(now);
        start_connects();
        mqtt_pings(now);
        if ((done && done()) || now >= until)
            return;
        uint64_t wait = until - now;
        if (stp.pacing && wait > 250)
            wait = 250;
        if (wait > 100000)
            wait = 100000;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait * 1000};
        int n = epoll_pwait2(ep, evs, 1024, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            perror("roomload: epoll_pwait2");
            exit(1);
        }
        now = now_us();
        for (int e = 0; e < n; e++) {
            conn_t *c = &conns[evs[e].data.u32];
            uint32_t what = evs[e].events;
            if (c->state == C_CONNECTING) {
                on_connected(c);
                continue;
            }
            if (c->state != C_DONE && (what & EPOLLOUT))
                conn_flush(c);
            if (c->state != C_DONE && (what & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(c, now);
        }
    }
}

static int all_settled(void)
{
    return next_connect == nconns && inflight == 0;
}

static int probes_seen(void)
{
    return stp.probe_seen >= st.joined;
}

static int step_drained(void)
{
    return stp.recv >= stp.sent * (uint64_t)opt.per_room;
}

/* Wait until deliveries stop (none for 1 s), at most max_s. */
static void settle(double max_s)
{
    uint64_t until = now_us() + (uint64_t)(max_s * 1e6);
    for (;;) {
        uint64_t a = st.arrivals + st.other_msgs, now = now_us();
        if (now >= until)
            return;
        pump(now + 1000000u < until ? now + 1000000u : until, NULL);
        if (st.arrivals + st.other_msgs == a)
            return;
    }
}

/* ---- steps ---- */

typedef struct step_result {
    double rate, sent_ps, expected_ps, delivered_ps, ratio;
    double p50, p90, p99, max, undelivered_pct;
    uint64_t undelivered;
    double server_cpu, loop_cpu, client_cpu, busy;
    int saturated;
} step_result_t;

static step_result_t results[MAX_STEPS];
static int nresults;
static long long loop0, loop1;

static step_result_t run_step(double rate, int k)
{
    memset(&stp.lat, 0, sizeof(stp.lat));
    stp.k = k;
    stp.sent = stp.win_sent = stp.recv = stp.win_recv = stp.late = 0;
    stp.issued = 0;
    stp.marked0 = stp.marked1 = 0;
    stp.total_rate = rate * (double)nconns;
    stp.start = now_us() + 20000;
    stp.win0 = stp.start + (uint64_t)(lo.warmup * 1e6);
    stp.win1 = stp.win0 + (uint64_t)(lo.duration * 1e6);
    stp.end = stp.win1;
    stp.pacing = 1;
    loop0 = lo.server_pid ? proc_task_ticks(lo.server_pid, lo.server_pid) : -1;
    pump(stp.end + 1000, NULL);
    loop1 = lo.server_pid ? proc_task_ticks(lo.server_pid, lo.server_pid) : -1;
    pump(stp.end + (uint64_t)(opt.drain_s * 1e6), step_drained);

    step_result_t r = {.rate = rate};
    double win_s = lo.duration;
    uint64_t expect = stp.sent * (uint64_t)opt.per_room;
    r.sent_ps = (double)stp.win_sent / win_s;
    r.expected_ps = (double)stp.win_sent * opt.per_room / win_s;
    r.delivered_ps = (double)stp.win_recv / win_s;
    r.p50 = hist_q_ms(&stp.lat, 0.5);
    r.p90 = hist_q_ms(&stp.lat, 0.9);
    r.p99 = hist_q_ms(&stp.lat, 0.99);
    r.max = (double)stp.lat.max / 1e6;
    r.undelivered = expect > stp.recv ? expect - stp.recv : 0;
    r.undelivered_pct = (double)r.undelivered / (double)(expect ? expect : 1) * 100;
    cpu_report_t cpu;
    cpu_report(&stp.m0, &stp.m1, win_s, &cpu);
    r.server_cpu = cpu.server_pct;
    r.client_cpu = cpu.client_pct;
    r.busy = cpu.busy_pct;
    long hz = sysconf(_SC_CLK_TCK);
    /* the loop thread over the whole sending time (warm-up and window) */
    r.loop_cpu = loop0 >= 0 && loop1 >= 0
                     ? (double)(loop1 - loop0) / (double)hz / (lo.warmup + lo.duration) * 100
                     : -1;
    r.ratio = r.delivered_ps / ((double)nconns * rate * opt.per_room);
    r.saturated = r.ratio < 0.97 || r.undelivered_pct > 0.5 || !(r.p99 <= opt.p99_limit) ||
                  stp.lat.count == 0;
    fprintf(stderr,
            "[roomload %s] rate %g/s/client: sent %.0f/s (target %.0f), delivered %.0f/s "
            "(expected %.0f), p50 %.2f p99 %.2f max %.2f ms, undelivered %.3f%%, cpu server %.0f%% "
            "(loop thread %.0f%%) client %.0f%% machine %.0f%%%s\n",
            opt.label, rate, r.sent_ps, (double)nconns * rate, r.delivered_ps,
            (double)nconns * rate * opt.per_room, r.p50, r.p99, r.max, r.undelivered_pct,
            r.server_cpu, r.loop_cpu, r.client_cpu, r.busy, r.saturated ? "  SATURATED" : "");
    printf("STEP label=%s k=%d rate=%g sent_per_s=%.0f delivered_per_s=%.0f expected_per_s=%.0f "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f undelivered=%" PRIu64
           " undelivered_pct=%.3f server_cpu_pct=%.0f server_loop_cpu_pct=%.0f client_cpu_pct=%.0f "
           "machine_busy_pct=%.0f late=%" PRIu64 " saturated=%d\n",
           opt.label, k, rate, r.sent_ps, r.delivered_ps, r.expected_ps, r.p50, r.p90, r.p99, r.max,
           r.undelivered, r.undelivered_pct, r.server_cpu, r.loop_cpu, r.client_cpu, r.busy,
           stp.late, r.saturated);
    fflush(stdout);
    stp.k = -1;
    if (nresults < MAX_STEPS)
        results[nresults++] = r;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(const step_result_t *rs, int n, size_t off)
{
    double v[MAX_STEPS];
    for (int i = 0; i < n; i++)
        v[i] = *(const double *)((const char *)&rs[i] + off);
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MED(rs, n, f) median_of(rs, n, offsetof(step_result_t, f))

/* (max - min) / median of the delivered rates, in percent. */
static double spread_pct(const step_result_t *rs, int n)
{
    double lo_v = rs[0].delivered_ps, hi_v = rs[0].delivered_ps, m = MED(rs, n, delivered_ps);
    for (int i = 1; i < n; i++) {
        lo_v = rs[i].delivered_ps < lo_v ? rs[i].delivered_ps : lo_v;
        hi_v = rs[i].delivered_ps > hi_v ? rs[i].delivered_ps : hi_v;
    }
    return m > 0 ? (hi_v - lo_v) / m * 100 : 0;
}

/* A row in bp_room_header's columns (medians of rs[0..n)). */
static void print_row(const char *what, const step_result_t *rs, int n)
{
    char spread[32] = "-";
    if (n > 1)
        snprintf(spread, sizeof(spread), "%.1f%%", spread_pct(rs, n));
    char scpu[16] = "-";
    if (MED(rs, n, server_cpu) >= 0)
        snprintf(scpu, sizeof(scpu), "%.0f", MED(rs, n, server_cpu));
    printf(
        "| %s | %s | %dx%d | %g | %.0f | %.0f | %s | %.2f | %.2f | %.3f%% | %s | %.0f | %.0f |\n",
        opt.label, what, opt.rooms, opt.per_room, rs[0].rate, MED(rs, n, sent_ps),
        MED(rs, n, delivered_ps), spread, MED(rs, n, p50), MED(rs, n, p99),
        MED(rs, n, undelivered_pct), scpu, MED(rs, n, client_cpu), MED(rs, n, busy));
}

static int parse_rates(const char *s, double *out, int max)
{
    int n = 0;
    for (const char *p = s; p && *p && n < max;) {
        char *e;
        double v = strtod(p, &e);
        if (e == p || v <= 0)
            return -1;
        out[n++] = v;
        p = *e == ',' ? e + 1 : NULL;
    }
    return n;
}

static uint64_t flagged_count(void)
{
    uint64_t bad = st.failed + st.lost + st.gaps + st.seq_back + st.s_gaps + st.s_back +
                   st.foreign + st.err_msgs + st.unparsed + st.closes + st.proto_err + st.backlog;
    return bad;
}

static void say_goodbye(void)
{
    static const unsigned char bye[2] = {0x03, 0xe8}, disc[2] = {0xe0, 0x00};
    goodbye = 1;
    for (uint32_t i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->state != C_OPEN)
            continue;
        if (opt.transport == T_HANGARD)
            ws_send(c, 0x8, bye, 2);
        else
            conn_write(c, disc, 2);
    }
    pump(now_us() + 300000, NULL);
    for (uint32_t i = 0; i < nconns; i++)
        conn_close_fd(&conns[i]);
}

static void print_checks(void)
{
    printf(" joined=%" PRIu64 " failed=%" PRIu64 " lost=%" PRIu64 " closes=%" PRIu64
           " gaps=%" PRIu64 " gap_msgs=%" PRIu64 " seq_back=%" PRIu64 " order_gaps=%" PRIu64
           " order_back=%" PRIu64 " foreign=%" PRIu64 " error_msgs=%" PRIu64 " unparsed=%" PRIu64
           " proto_errors=%" PRIu64 " resets=%" PRIu64 " other_msgs=%" PRIu64,
           st.joined, st.failed, st.lost, st.closes, st.gaps, st.gap_msgs, st.seq_back, st.s_gaps,
           st.s_back, st.foreign, st.err_msgs, st.unparsed, st.proto_err, st.resets, st.other_msgs);
    for (int s = 0; s < 600; s++)
        if (st.status[s])
            printf(" status_%d=%" PRIu64, s, st.status[s]);
}

/* Connect every client; returns 0 when all joined. */
static int connect_all(const char *what)
{
    uint64_t t0 = now_us();
    uint64_t limit = t0 + (uint64_t)((lo.timeout_s + nconns / 500.0) * 1e6);
    pump(limit, all_settled);
    fprintf(stderr, "roomload: %s: %" PRIu64 " of %u joined, %" PRIu64 " failed, in %.1f s\n", what,
            st.joined, nconns, st.failed, (double)(now_us() - t0) / 1e6);
    return st.joined == nconns ? 0 : -1;
}

static int run_load(void)
{
    double ramp[MAX_STEPS], down[MAX_STEPS];
    int nramp = opt.ramp && *opt.ramp ? parse_rates(opt.ramp, ramp, MAX_STEPS / 2) : 0;
    int ndown;
    if (opt.down) {
        ndown = parse_rates(opt.down, down, MAX_STEPS / 4);
    } else {
        down[0] = opt.base / 2, down[1] = opt.base / 5, down[2] = opt.base / 10;
        ndown = 3;
    }
    if (nramp < 0 || ndown < 0) {
        fprintf(stderr, "roomload: bad -u or -w rate list\n");
        return 1;
    }
    for (uint32_t i = 0; i < nconns; i++) {
        conns[i].next_s = calloc((size_t)opt.per_room, sizeof(uint32_t));
    }
    if (connect_all("connected") < 0) {
        cap_dump(&caps, lo.err_path);
        return 1;
    }
    settle(3); /* the joins' messages */
    /* the barrier: member 0 of each room sends a probe until every member saw one */
    stp.k = 0;
    stp.probe_seen = 0;
    for (int attempt = 1; stp.probe_seen < st.joined; attempt++) {
        if (attempt > 5) {
            fprintf(stderr, "roomload: barrier: only %" PRIu64 " of %" PRIu64 " got a probe\n",
                    stp.probe_seen, st.joined);
            cap_dump(&caps, lo.err_path);
            return 1;
        }
        uint64_t now = now_us();
        for (int r = 0; r < opt.rooms; r++)
            send_msg(&conns[r * opt.per_room], 0, now);
        pump(now_us() + 3000000, probes_seen);
    }
    stp.k = -1;
    fprintf(stderr, "roomload: barrier passed: every room delivers to all of its members\n");

    int k = 1, nbase = 0, sat_base = 0, first_more = 0;
    for (int i = 0; i < opt.repeat; i++) {
        step_result_t r = run_step(opt.base, k++);
        nbase++;
        if (r.saturated || st.lost) {
            sat_base = r.saturated;
            break;
        }
    }
    first_more = nresults;
    if (sat_base) {
        for (int i = 0; i < ndown && !st.lost; i++) {
            settle(10); /* what the saturated step left queued (core.js reconnects instead) */
            step_result_t r = run_step(down[i], k++);
            if (!r.saturated)
                break;
        }
    } else {
        for (int i = 0; i < nramp && !st.lost; i++) {
            step_result_t r = run_step(ramp[i], k++);
            if (r.saturated)
                break;
        }
    }
    /* rows, as core.js prints them */
    char what[64];
    if (sat_base) {
        print_row("base (SATURATED)", &results[nbase - 1], 1);
    } else {
        snprintf(what, sizeof(what), "base, median of %d", nbase);
        print_row(what, results, nbase);
    }
    for (int i = first_more; i < nresults; i++) {
        snprintf(what, sizeof(what), "%s%s", sat_base ? "step down" : "ramp",
                 results[i].saturated ? " (SATURATED)" : "");
        print_row(what, &results[i], 1);
    }
    const step_result_t *best = NULL;
    for (int i = 0; i < nresults; i++)
        if (!results[i].saturated && (best == NULL || results[i].delivered_ps > best->delivered_ps))
            best = &results[i];
    if (best)
        printf("SUMMARY %s: best unsaturated step %g msg/s/client = %.0f deliveries/s, p99 %.2f "
               "ms, server CPU %.0f%%, client CPU %.0f%%\n",
               opt.label, best->rate, best->delivered_ps, best->p99, best->server_cpu,
               best->client_cpu);
    else
        printf("SUMMARY %s: best unsaturated step none\n", opt.label);
    const step_result_t *sat = NULL;
    for (int i = 0; i < nresults; i++)
        if (results[i].saturated)
            sat = &results[i];
    say_goodbye();
    uint64_t bad = flagged_count();
    printf("RESULT mode=load transport=%s lua=%d rooms=%d per_room=%d clients=%u base=%g "
           "base_delivered_per_s=%.0f base_p50_ms=%.3f base_p99_ms=%.3f base_spread_pct=%.1f "
           "base_server_cpu_pct=%.0f base_client_cpu_pct=%.0f",
           opt.transport_s, opt.lua, opt.rooms, opt.per_room, nconns, opt.base,
           MED(results, nbase, delivered_ps), MED(results, nbase, p50), MED(results, nbase, p99),
           spread_pct(results, nbase), MED(results, nbase, server_cpu),
           MED(results, nbase, client_cpu));
    if (best)
        printf(" best_rate=%g best_delivered_per_s=%.0f best_p99_ms=%.3f best_server_cpu_pct=%.0f "
               "best_server_loop_cpu_pct=%.0f best_client_cpu_pct=%.0f",
               best->rate, best->delivered_ps, best->p99, best->server_cpu, best->loop_cpu,
               best->client_cpu);
    else
        printf(" best_rate=0 best_delivered_per_s=0");
    if (sat)
        printf(" saturated_rate=%g saturated_p99_ms=%.3f saturated_ratio=%.3f "
               "saturated_server_cpu_pct=%.0f saturated_server_loop_cpu_pct=%.0f "
               "saturated_client_cpu_pct=%.0f",
               sat->rate, sat->p99, sat->ratio, sat->server_cpu, sat->loop_cpu, sat->client_cpu);
    print_checks();
    printf(" flagged=%d\n", bad ? 1 : 0);
    cap_dump(&caps, lo.err_path);
    return bad ? 2 : 0;
}

/* ---- idle connections ---- */

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid ? pid : (int)getpid());
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static double heap_bytes(void)
{
    static const char *const names[1] = {"hangar_memory_bytes"};
    metrics_t m;
    metrics_read(&lo, names, 1, &m);
    return m.ok ? m.v[0] : -1;
}

static int run_idle(void)
{
    long r0 = rss_kib(lo.server_pid), c0 = rss_kib(0);
    double h0 = heap_bytes();
    uint64_t t0 = now_us();
    connect_all("idle connections");
    double conn_s = (double)(now_us() - t0) / 1e6;
    settle(10); /* the joins' messages */
    fprintf(stderr, "roomload: holding %" PRIu64 " connections for %.0f s\n", st.joined,
            opt.hold_s);
    pump(now_us() + (uint64_t)(opt.hold_s * 1e6), NULL);
    long r1 = rss_kib(lo.server_pid), c1 = rss_kib(0);
    double h1 = heap_bytes();
    uint64_t held = 0;
    for (uint32_t i = 0; i < nconns; i++)
        held += conns[i].state == C_OPEN && conns[i].joined;
    double per = held ? (double)(r1 - r0) * 1024 / (double)held : 0;
    double hper = held && h0 >= 0 && h1 >= 0 ? (h1 - h0) / (double)held : -1;
    fprintf(stderr,
            "roomload: idle: %" PRIu64 " of %u held after %.0f s; hangard RSS %ld -> %ld KiB = "
            "%.0f bytes a connection (heap %.0f); roomload RSS %ld -> %ld KiB\n",
            held, nconns, opt.hold_s, r0, r1, per, hper, c0, c1);
    uint64_t bad = flagged_count();
    printf("RESULT mode=idle transport=%s conns=%u rooms=%d per_room=%d per_ip=%d held=%" PRIu64
           " connect_s=%.1f server_rss_before_kib=%ld server_rss_after_kib=%ld "
           "server_bytes_per_conn=%.0f server_heap_bytes_per_conn=%.0f client_rss_before_kib=%ld "
           "client_rss_after_kib=%ld",
           opt.transport_s, nconns, opt.rooms, opt.per_room, opt.per_ip, held, conn_s, r0, r1, per,
           hper, c0, c1);
    print_checks();
    printf(" all_joined=%d flagged=%d\n", held == nconns, bad ? 1 : 0);
    say_goodbye();
    cap_dump(&caps, lo.err_path);
    return bad || held != nconns ? 2 : 0;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: roomload [-t hangard|mqtt] [-m load|idle] [-a HOST:PORT] [-R ROOMS] "
            "[-n PER_ROOM]\n"
            "                [-b BASE_MSG_S] [-x REPEAT] [-u RAMP,…] [-w DOWN,…] [-d WINDOW_S] "
            "[-W WARMUP_S]\n"
            "                [-G DRAIN_S] [-L P99_LIMIT_MS] [-p PAD] [-l 0|1 (Lua relay)] "
            "[-q LABEL]\n"
            "                [-c IDLE_CONNS] [-H HOLD_S] [-i CONNS_PER_SOURCE_ADDR] "
            "[-C CONNECTS_IN_FLIGHT]\n"
            "                [-P SERVER_PID] [-T TIMEOUT_S] [-k KEY_ID] [-s SECRET] [-e "
            "ERRORS_OUT]\n"
            "  key and secret (hangard) default to $HANGAR_ADMIN_KEY_ID / $HANGAR_ADMIN_SECRET\n");
    exit(1);
}

int main(int argc, char **argv)
{
    const load_opt_t own[] = {
        {'t', LOAD_STR, &opt.transport_s}, {'m', LOAD_STR, &opt.mode_s},
        {'R', LOAD_INT, &opt.rooms},       {'n', LOAD_INT, &opt.per_room},
        {'b', LOAD_DOUBLE, &opt.base},     {'x', LOAD_INT, &opt.repeat},
        {'u', LOAD_STR, &opt.ramp},        {'w', LOAD_STR, &opt.down},
        {'G', LOAD_DOUBLE, &opt.drain_s},  {'L', LOAD_DOUBLE, &opt.p99_limit},
        {'p', LOAD_INT, &opt.pad},         {'l', LOAD_INT, &opt.lua},
        {'q', LOAD_STR, &opt.label},       {'c', LOAD_INT, &opt.conns},
        {'H', LOAD_DOUBLE, &opt.hold_s},   {'i', LOAD_INT, &opt.per_ip},
        {'C', LOAD_INT, &opt.conc},
    };
    /* MQTT needs no key: a placeholder lets load_parse accept the command line */
    setenv("HANGAR_ADMIN_KEY_ID",
           getenv("HANGAR_ADMIN_KEY_ID") ? getenv("HANGAR_ADMIN_KEY_ID") : "", 1);
    setenv("HANGAR_ADMIN_SECRET",
           getenv("HANGAR_ADMIN_SECRET") ? getenv("HANGAR_ADMIN_SECRET") : "", 1);
    lo.duration = 8;
    if (load_parse(&lo, argc, argv, own, sizeof(own) / sizeof(own[0])) < 0)
        usage();
    /* load_parse's defaults are the other tools'; core.js's are a 2 s warm-up and an 8 s window */
    int has_d = 0, has_w = 0;
    for (int i = 1; i < argc; i++) {
        has_d |= strncmp(argv[i], "-d", 2) == 0;
        has_w |= strncmp(argv[i], "-W", 2) == 0;
    }
    if (!has_d)
        lo.duration = 8;
    if (!has_w)
        lo.warmup = 2;
    opt.transport = strcmp(opt.transport_s, "mqtt") == 0      ? T_MQTT
                    : strcmp(opt.transport_s, "hangard") == 0 ? T_HANGARD
                                                              : -1;
    opt.mode = strcmp(opt.mode_s, "idle") == 0   ? M_IDLE
               : strcmp(opt.mode_s, "load") == 0 ? M_LOAD
                                                 : -1;
    if (opt.transport < 0 || opt.mode < 0 || opt.rooms < 1 || opt.per_room < 1 ||
        opt.per_room > 1000 || opt.base <= 0 || opt.repeat < 1 || opt.repeat > MAX_STEPS / 4 ||
        opt.pad < 0 || opt.pad > 256 || opt.conns < 1 || opt.per_ip < 1 || opt.conc < 1 ||
        (opt.mode == M_IDLE && opt.transport != T_HANGARD) ||
        (opt.transport == T_HANGARD && (!*lo.key || !*lo.secret)))
        usage();
    signal(SIGPIPE, SIG_IGN);
    memset(pad, 'x', (size_t)opt.pad);
    FILE *ur = fopen("/dev/urandom", "rb");
    if (ur == NULL || fread(key_seed, 1, sizeof(key_seed), ur) != sizeof(key_seed)) {
        perror("roomload: /dev/urandom");
        return 1;
    }
    fclose(ur);
    if (opt.mode == M_IDLE)
        opt.rooms = (opt.conns + opt.per_room - 1) / opt.per_room;
    nconns = opt.mode == M_IDLE ? (uint32_t)opt.conns : (uint32_t)(opt.rooms * opt.per_room);
    if (nconns > MAX_CLIENTS)
        usage();
    if (opt.label == NULL) {
        static char label[64];
        snprintf(label, sizeof(label), "%s%s",
                 opt.transport == T_MQTT ? "mosquitto mqtt/tcp (C client)" : "hangard",
                 opt.transport == T_HANGARD ? (opt.lua ? ", Lua relay" : ", plain relay") : "");
        opt.label = label;
    }
    /* one descriptor per client socket */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)nconns + 64 > rl.rlim_cur) {
        fprintf(
            stderr,
            "roomload: %u connections need %u descriptors; the hard limit (ulimit -Hn) is %llu: "
            "raise it, or ask for fewer\n",
            nconns, nconns + 64, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    conns = calloc(nconns, sizeof(*conns));
    for (uint32_t i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].room = i / (uint32_t)opt.per_room;
        conns[i].member = i % (uint32_t)opt.per_room;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (opt.transport == T_HANGARD && hangard_setup((unsigned)opt.rooms) < 0)
        return 1;
    int rc = opt.mode == M_IDLE ? run_idle() : run_load();
    hg_sigv4_thread_cleanup();
    return rc;
}
