/* hangar — the interim loop: the port while this node does not serve (docs/cluster.md).
 *
 * Between two serve()s (serve_until_stopped in daemon.c) the daemon runs this small loop of its
 * own on the listening port, for one of two reasons:
 *
 *  - standing by (hg_standby_run): another node holds the PostgreSQL lease. Each connection is
 *    relayed, byte for byte, to the owner's advertised address (kept with the lease in the
 *    partitions table): HTTP, WebSocket and TLS alike, so the owner sees exactly what the client
 *    sent (SigV4's Host header included) and clients behind a load balancer or DNS may reach any
 *    node. Before the client's first byte the relay sends a PROXY protocol v2 header naming the
 *    client's address, signed with the cluster secret (http/proxyhdr.h), so that the owner's
 *    per-address limits, its loopback check and its logs see the client, not this node. Every
 *    STANDBY_POLL_MS a worker thread (libpq blocks) reads the lease (and, until it has it, the
 *    secret); once the lease has run out or been handed back, the loop closes its relays and its
 *    port (a copy stays open for serve(): new connections wait in the backlog), lets the 503s in
 *    progress finish (STOP_DRAIN_MS at most) and returns, and the daemon takes the lease and
 *    serves. A pause ends the same way. Without the secret
 *    nothing is relayed (503s): the owner would close an unsigned relay anyway.
 *  - pausing (hg_unavailable_run): after a store failure the daemon serves again after a pause;
 *    while PostgreSQL restarts, say, that is many pauses in a row.
 *
 * A connection that no node can serve — any connection during a pause; while standing by, one
 * that arrives when no live owner is known, or whose connect to the owner is refused, fails, or
 * does not complete within RELAY_CONNECT_TIMEOUT_MS (an owner killed before its lease ran out) —
 * is answered instead of closed: its request head is read (UNAVAILABLE_HEAD_MAX bytes at most,
 * for UNAVAILABLE_HEAD_TIMEOUT_MS at most; never the body) and answered 503 with Retry-After
 * and Connection: close, in the API's own format (hg_unavailable_reply). WebSocket upgrades get
 * the same 503 (their clients reconnect). A TLS client (first byte 0x16, a handshake record) is
 * closed at once: this loop holds no keys. A standby's PROXY header before the request (this node
 * is an owner pausing) is skipped, not verified: it decides nothing here but where the request
 * starts. After the answer this side shuts down its writing
 * (the client reads the end) and reads and discards what the client still sends until it closes
 * or UNAVAILABLE_LINGER_MS have passed (a lingering close): closing with unread bytes would
 * reset the connection, and a reset may discard the answer before the client has read it.
 *
 * A connection's states (conn_t.state):
 *
 *   accepted ──owner known──▶ CONNECTING ──connected (on_owner_connected)──▶ RELAYING
 *      │                         │ refused, unreachable (on_owner_connected),        │
 *      │                         │ RELAY_CONNECT_TIMEOUT_MS (on_conn_timer)          │ either side
 *      ▼                         ▼                                                   │ ends, or
 *   no owner / a pause ──▶ READING (the head; answer_start) ──head whole, full, or   │ the loop
 *                            │                                timeout (answer)      │ stops
 *                            │ TLS, EOF, error                  ▼                    ▼
 *                            └──────────────────────▶ closed ◀── ANSWERED (written; lingers
 *                                                               until EOF or the linger timer)
 *
 * "owner known" includes the cluster secret (no secret: READING, a 503); RELAYING starts with
 * the PROXY header written to the owner, before any byte of the client's.
 *
 * Relay buffers: what one side sends is written to the other as it comes; a side whose writes
 * queue past RELAY_QUEUE_MAX bytes stops the other side's reads until they drain. An end is
 * relayed as an end (a half-close): the side that ends has its peer's writing shut down once
 * what was queued for the peer is written, as a direct connection would. When the owner ends
 * first (an answer with Connection: close, or a 413 while the client still sends a body) what
 * the client still sends is read and dropped (a lingering close, as after a 503: closing with
 * unread bytes would reset the connection and could lose the answer), until the client ends too
 * or UNAVAILABLE_LINGER_MS after the answer was delivered; a client that does not read its
 * answer for RELAY_DRAIN_MAX_MS is closed. Relaying never
 * answers 503 once the owner is connected: a request the owner may have received has no answer
 * this node could give, so the client sees that connection close (and reconnects).
 *
 * WebSockets through a stopping standby. On SIGTERM or SIGINT the relays are closed, but a
 * relayed WebSocket first gets a close frame of this node's own, the one the serving node sends
 * when it stops (1012 "server restarting", ws.c: the GameLift server SDKs take 1000/1001 as the
 * end and would not reconnect): SDK processes, event subscribers and room clients reconnect, to
 * another node, as after a restart of the node they reach. The relay knows a WebSocket by the
 * owner's first answer — a 101, whose head's end starts the owner's frames — and follows the
 * owner's frame headers as they pass to the client (owner_scan), so that it knows whether the
 * client's stream is between two frames. Between two frames, the close frame is queued behind
 * what is queued for the client, the client's side is shut after it, and what the client still
 * sends is dropped until it ends (relay_ws_close). In the middle of a frame the relay first
 * relays the rest of that frame, and nothing after it; a frame that does not end within
 * STOP_DRAIN_MS (an owner that sends no more, a client that reads nothing) has its connection
 * closed without a close frame, cut in the middle: the client sees a connection that ended, not
 * a close frame inside a frame's payload, which it would read as garbage. Not seen as
 * WebSockets, and closed at once as before: an upgrade after earlier requests on the same
 * connection (no client we know of does that: they open a connection for the socket), and TLS
 * (the relay sees no answer, only ciphertext).
 */
#include <libpq-fe.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "http/proxyhdr.h"
#include "store/store.h"

#define STANDBY_POLL_MS 500
#define RELAY_QUEUE_MAX (1 << 20)
#define RELAY_CONNECT_TIMEOUT_MS 2000
#define UNAVAILABLE_HEAD_MAX 16384
#define UNAVAILABLE_HEAD_TIMEOUT_MS 10000
#define UNAVAILABLE_LINGER_MS 1000
#define RELAY_DRAIN_MAX_MS 30000
/* at a takeover or a pause's end: 503s in progress finish first; on a signal, relayed WebSockets
 * get their close frame (see above) */
#define STOP_DRAIN_MS 1000

typedef struct interim interim_t;

typedef enum {
    CONN_CONNECTING, /* to the owner; the client is not read yet */
    CONN_RELAYING,
    CONN_READING, /* the request head, to answer 503 */
    CONN_ANSWERED /* the 503 written or being written; reading and discarding */
} conn_state_t;

/* What the owner sends on a relayed connection, as owner_scan follows it. */
typedef enum {
    OWNER_HEAD,   /* its first answer's status line: is it a 101? */
    OWNER_BLANK,  /* a 101: the end of its head (the blank line) is still to come */
    OWNER_FRAMES, /* a WebSocket: the owner's frames */
    OWNER_OTHER   /* anything else: not followed */
} owner_kind_t;

typedef struct side {
    uv_tcp_t tcp;
    struct conn *conn;
    int eof;          /* it sent its end (read EOF) */
    int shut;         /* 1: our writes to it are being shut down, 2: shut (after the queue) */
    uv_shutdown_t sd; /* that shutdown */
} side_t;

typedef struct conn {
    interim_t *im;
    conn_state_t state;
    side_t client, owner;
    uv_timer_t timer; /* CONNECTING: the connect's timeout; READING: the head's; ANSWERED: linger */
    int handles;      /* client, owner and timer not closed yet: the conn is freed at 0 */
    uv_connect_t connect;
    char *head; /* READING, ANSWERED: UNAVAILABLE_HEAD_MAX + 1 bytes */
    size_t len;
    size_t skip;    /* a PROXY header's bytes at the start of head (not verified: only skipped) */
    int skip_known; /* head said whether one starts it */
    char *reply;
    uv_write_t wr;
    uint8_t hdr[HG_PROXYHDR_MAX]; /* RELAYING: the PROXY header, the owner's first bytes */
    uv_write_t hdr_wr;
    /* RELAYING: the owner's bytes as they pass to the client (owner_scan) */
    owner_kind_t kind;
    size_t matched; /* OWNER_HEAD: bytes of the 101's status line seen; OWNER_BLANK: of CRLFCRLF */
    uint8_t fh[14]; /* OWNER_FRAMES: the header of the frame passing (14 bytes at most) */
    size_t fh_len;  /* its bytes seen: 0 between two frames, or in a frame's payload */
    uint64_t left;  /* that frame's payload bytes still to pass */
    int bye; /* a signal: 1 the owner's frame passes to its end, 2 the close frame is queued */
    uv_shutdown_t shut;
    hg_list_t node;
} conn_t;

struct interim {
    uv_loop_t loop;
    uv_tcp_t listener;
    int listening;    /* listener is bound and listening */
    int handoff_fd;   /* a copy of the listening socket for serve() (done, not signalled), or -1 */
    uv_timer_t timer; /* standing by: the lease's poll; pausing: the end of the pause */
    uv_signal_t sigint, sigterm;
    int signalled, done; /* done: the lease is free (standing by) or the pause is over */
    uv_timer_t drain;    /* done: the connections being answered get STOP_DRAIN_MS to finish */
    int draining;
    const char *why; /* why this node does not serve, for the 503s */
    hg_list_t conns;
    /* standing by */
    int standby;
    uv_work_t work;
    int working;
    const char *conninfo;
    PGconn *pg; /* the worker's (one work item at a time) */
    /* the owner, as the last look found it (written by the worker, read after it) */
    struct sockaddr_storage owner_addr;
    int has_owner;
    char owner[128], owner_at[160];
    char peek_owner[128], peek_at[160];
    struct sockaddr_storage peek_addr;
    int peek_free, peek_held, peek_has_addr;
    /* the cluster secret (docs/cluster.md): signs the PROXY header of every relay */
    char secret[HG_STORE_PG_SECRET_MAX + 1], peek_secret[HG_STORE_PG_SECRET_MAX + 1];
    size_t secret_len, peek_secret_len;
    int secret_warned;
};

/* ---- connections ---- */

static void interim_close_rest(interim_t *im);

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    interim_t *im = c->im;
    hg_list_remove(&c->node);
    hg_free(c->head);
    hg_free(c->reply);
    hg_free(c);
    if (im->draining && hg_list_empty(&im->conns))
        interim_close_rest(im); /* the last answer is out: the loop ends */
}

static void close_handle(conn_t *c, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    h->data = c; /* the sides' data pointed at their side_t */
    uv_close(h, on_handle_closed);
}

static void conn_close(conn_t *c)
{
    close_handle(c, (uv_handle_t *)&c->client.tcp);
    close_handle(c, (uv_handle_t *)&c->owner.tcp);
    close_handle(c, (uv_handle_t *)&c->timer);
}

static int side_usable(side_t *s)
{
    return !uv_is_closing((uv_handle_t *)&s->tcp);
}

/* ---- answering 503 ---- */

char *hg_unavailable_reply(const char *head, const char *why, size_t *len)
{
    const char *end = strstr(head, "\r\n\r\n");
    size_t head_len = end ? (size_t)(end - head) : strlen(head);
    int gamelift = 0;
    for (const char *p = head; (p = memchr(p, '\n', head_len - (size_t)(p - head))) != NULL;) {
        p++;
        if ((size_t)(p - head) + 13 <= head_len && strncasecmp(p, "x-amz-target:", 13) == 0)
            gamelift = 1;
    }
    char body[512];
    if (gamelift)
        snprintf(body, sizeof(body),
                 "{\"__type\":\"ServiceUnavailableException\",\"message\":\"hangard cannot serve "
                 "yet (%s); retry\"}",
                 why);
    else
        snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":\"unavailable\",\"message\":\"hangard cannot serve yet "
                 "(%s); retry\"}}",
                 why);
    size_t cap = strlen(body) + 256;
    char *reply = hg_malloc(cap);
    int n =
        snprintf(reply, cap,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: %s\r\nRetry-After: "
                 "1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 gamelift ? "application/x-amz-json-1.1" : "application/json", strlen(body), body);
    *len = (size_t)n;
    return reply;
}

static void on_head_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = ((side_t *)h->data)->conn;
    if (c->state == CONN_ANSWERED) { /* discarded: the whole buffer is scratch */
        buf->base = c->head;
        buf->len = UNAVAILABLE_HEAD_MAX;
        return;
    }
    buf->base = c->head + c->len;
    buf->len = UNAVAILABLE_HEAD_MAX - c->len;
}

static void on_conn_timer(uv_timer_t *t);

static void on_answer_written(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0)
        conn_close(c);
}

static void on_answer_shut(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0)
        conn_close(c);
    /* else: linger (reading, discarding) until the client closes or the timer fires */
}

static void answer(conn_t *c)
{
    interim_t *im = c->im;
    c->state = CONN_ANSWERED;
    c->head[c->len] = '\0';
    const char *why = im->why;
    if (im->standby)
        why = im->has_owner ? "the serving node does not answer; a standby takes over once its "
                              "lease runs out"
                            : "no node serves now; a standby takes over shortly";
    size_t len;
    c->reply = hg_unavailable_reply(c->head + c->skip, why, &len);
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)len);
    c->wr.data = c;
    uv_timer_start(&c->timer, on_conn_timer, UNAVAILABLE_LINGER_MS, 0);
    c->shut.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->client.tcp, &b, 1, on_answer_written) < 0 ||
        uv_shutdown(&c->shut, (uv_stream_t *)&c->client.tcp, on_answer_shut) < 0)
        conn_close(c);
}

static void on_head_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = ((side_t *)s->data)->conn;
    if (n < 0) { /* EOF or an error: nobody to answer (any more) */
        conn_close(c);
        return;
    }
    if (n == 0 || c->state == CONN_ANSWERED)
        return;
    size_t was = c->len;
    c->len += (size_t)n;
    c->head[c->len] = '\0';
    if (!c->skip_known) { /* a relay's PROXY header first (this node pausing, or a chain)? */
        int h = hg_proxyhdr_skip((const uint8_t *)c->head, c->len);
        if (h == 0)
            return; /* its first bytes: read on (it is HG_PROXYHDR_MAX bytes at most) */
        c->skip = h > 0 ? (size_t)h : 0;
        c->skip_known = 1;
    }
    if (was <= c->skip && c->len > c->skip && (unsigned char)c->head[c->skip] == 0x16) {
        conn_close(c); /* TLS: no keys here */
        return;
    }
    if (strstr(c->head + c->skip, "\r\n\r\n") || c->len == UNAVAILABLE_HEAD_MAX)
        answer(c);
}

/* The connection cannot be served: read its request head to answer 503. */
static void answer_start(conn_t *c)
{
    c->state = CONN_READING;
    c->head = hg_malloc(UNAVAILABLE_HEAD_MAX + 1);
    c->len = 0;
    uv_timer_start(&c->timer, on_conn_timer, UNAVAILABLE_HEAD_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->client.tcp, on_head_alloc, on_head_read) < 0)
        conn_close(c);
}

/* ---- the owner's side of a relay, followed (WebSockets through a stopping standby) ---- */

#define UPGRADED "HTTP/1.1 101 " /* hangard's answer to an upgrade (ws.c) */
#define BLANK "\r\n\r\n"

/* 1012 "server restarting", unmasked: what the serving node's WebSockets get when it stops */
static const char WS_CLOSE_RESTART[] = "\x88\x13\x03\xf4"
                                       "server restarting";

/* The size of the frame header whose first fh_len bytes are in fh (2 until the second is). */
static size_t frame_header_len(const conn_t *c)
{
    if (c->fh_len < 2)
        return 2;
    uint8_t len7 = c->fh[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (c->fh[1] & 0x80 ? 4 : 0);
}

/* The client's stream is between two of the owner's WebSocket frames. */
static int between_frames(const conn_t *c)
{
    return c->kind == OWNER_FRAMES && c->fh_len == 0 && c->left == 0;
}

/* The owner's bytes p[0..n) are about to pass to the client: follow them (its first answer, then,
 * after a 101, its frames). Returns how many to relay: all n, or with to_frame_end only those up
 * to the end of the frame passing (0 between two frames). */
static size_t owner_scan(conn_t *c, const uint8_t *p, size_t n, int to_frame_end)
{
    size_t i = 0;
    while (i < n) {
        switch (c->kind) {
        case OWNER_HEAD:
            if (p[i] != (uint8_t)UPGRADED[c->matched]) {
                c->kind = OWNER_OTHER;
                return n;
            }
            i++;
            if (++c->matched == sizeof(UPGRADED) - 1) {
                c->kind = OWNER_BLANK;
                c->matched = 0;
            }
            break;
        case OWNER_BLANK:
            if (p[i] == (uint8_t)BLANK[c->matched])
                c->matched++;
            else
                c->matched = p[i] == '\r';
            i++;
            if (c->matched == sizeof(BLANK) - 1)
                c->kind = OWNER_FRAMES;
            break;
        case OWNER_FRAMES:
            if (to_frame_end && between_frames(c))
                return i;
            if (c->left > 0) { /* payload */
                size_t k = n - i < c->left ? n - i : (size_t)c->left;
                c->left -= k;
                i += k;
                break;
            }
            c->fh[c->fh_len++] = p[i++];
            if (c->fh_len == frame_header_len(c)) {
                uint8_t len7 = c->fh[1] & 0x7f;
                c->left = len7;
                if (len7 >= 126) {
                    c->left = 0;
                    for (size_t k = 2; k < (len7 == 126 ? 4u : 10u); k++)
                        c->left = c->left << 8 | c->fh[k];
                }
                c->fh_len = 0;
            }
            break;
        case OWNER_OTHER: return n;
        }
    }
    return n;
}

static void on_relay_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);
static void on_relay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_ws_close_shut(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0 || c->client.eof) /* gone, or it ended already: nothing to wait for */
        conn_close(c);
    /* else: what the client still sends is dropped until it ends (on_relay_read) or the drain
     * is over (on_drain_over) */
}

/* Between two frames: queue the close frame behind what is queued for the client and shut its
 * side after it (a direct connection to a stopping node gets the same); the owner is no longer
 * read, and the client is read only for its end. */
static void relay_ws_close(conn_t *c)
{
    c->bye = 2;
    uv_read_stop((uv_stream_t *)&c->owner.tcp);
    uv_buf_t b = uv_buf_init((char *)WS_CLOSE_RESTART, sizeof(WS_CLOSE_RESTART) - 1);
    c->wr.data = c;
    c->shut.data = c;
    c->client.shut = 1;
    if (uv_write(&c->wr, (uv_stream_t *)&c->client.tcp, &b, 1, on_answer_written) < 0 ||
        uv_shutdown(&c->shut, (uv_stream_t *)&c->client.tcp, on_ws_close_shut) < 0) {
        conn_close(c);
        return;
    }
    if (!c->client.eof)
        uv_read_start((uv_stream_t *)&c->client.tcp, on_relay_alloc, on_relay_read);
}

/* The loop stops on a signal: a relayed WebSocket gets its close frame, once the frame passing
 * (if any) has passed. 0 when c is none (or can no longer be told): it is closed as it is. */
static int relay_ws_stop(conn_t *c)
{
    if (c->state != CONN_RELAYING || c->kind != OWNER_FRAMES || c->bye ||
        !side_usable(&c->client) || c->client.shut || c->owner.eof)
        return 0;
    c->bye = 1;
    if (between_frames(c))
        relay_ws_close(c);
    /* else: on_relay_read relays the rest of that frame, and calls relay_ws_close */
    return 1;
}

/* ---- relaying ---- */

static void on_relay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = hg_malloc(suggested);
    buf->len = suggested;
}

typedef struct wreq {
    uv_write_t req;
    side_t *from; /* whose reads wait for this write when the queue is full */
    char *data;
} wreq_t;

static void on_relay_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    side_t *from = w->from;
    conn_t *c = from->conn;
    hg_free(w->data);
    hg_free(w);
    if (status < 0) {
        conn_close(c);
        return;
    }
    side_t *to = from == &c->client ? &c->owner : &c->client;
    if (side_usable(from) && !from->eof && c->bye != 2 &&
        uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) < RELAY_QUEUE_MAX)
        uv_read_start((uv_stream_t *)&from->tcp, on_relay_alloc, on_relay_read);
}

/* Both sides have ended and the owner's answer is all delivered (the client's side shut after
 * its queue): nothing is left to relay. */
static void relay_maybe_done(conn_t *c)
{
    if (c->owner.eof && c->client.eof && c->client.shut == 2)
        conn_close(c);
}

static void on_relay_shut(uv_shutdown_t *req, int status)
{
    side_t *to = req->data;
    conn_t *c = to->conn;
    if (status < 0) { /* ECANCELED (closing), or the peer is gone */
        conn_close(c);
        return;
    }
    to->shut = 2;
    if (to == &c->client) /* the owner's answer is all delivered: linger for the client's end */
        uv_timer_start(&c->timer, on_conn_timer, UNAVAILABLE_LINGER_MS, 0);
    relay_maybe_done(c);
}

/* from sent its end: shut the peer's writing once its queue is written (uv_shutdown waits). */
static void relay_end(conn_t *c, side_t *from)
{
    side_t *to = from == &c->client ? &c->owner : &c->client;
    if (from->eof)
        return;
    from->eof = 1;
    if (from == &c->owner) /* the answer's end: the client has RELAY_DRAIN_MAX_MS to read it */
        uv_timer_start(&c->timer, on_conn_timer, RELAY_DRAIN_MAX_MS, 0);
    else
        uv_read_stop((uv_stream_t *)&from->tcp);
    if (to->shut == 0 && side_usable(to)) {
        to->shut = 1;
        to->sd.data = to;
        if (uv_shutdown(&to->sd, (uv_stream_t *)&to->tcp, on_relay_shut) < 0)
            conn_close(c);
        return;
    }
    relay_maybe_done(c);
}

static void on_relay_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    side_t *from = stream->data;
    conn_t *c = from->conn;
    side_t *to = from == &c->client ? &c->owner : &c->client;
    if (n <= 0) {
        hg_free(buf->base);
        if (n < 0 && c->bye == 2) { /* the client's end after the close frame: done */
            conn_close(c);
            return;
        }
        /* the owner's end, even a reset: what it sent is delivered first (the client would
         * see a reset from the owner too, but its answer may be read already) */
        if (n == UV_EOF || (n < 0 && from == &c->owner))
            relay_end(c, from);
        else if (n < 0) /* the client's reset: the relay ends */
            conn_close(c);
        return;
    }
    /* what the client still sends goes nowhere once the owner ended, or the relay is closing
     * (the client's close frame included: the owner's socket is simply closed) */
    if (from == &c->client && (c->owner.eof || c->bye)) {
        hg_free(buf->base);
        return;
    }
    size_t len = (size_t)n;
    if (from == &c->owner) /* closing: the frame passing and nothing after it */
        len = owner_scan(c, (const uint8_t *)buf->base, len, c->bye);
    if (len == 0) {
        hg_free(buf->base);
    } else {
        wreq_t *w = hg_calloc(1, sizeof(*w));
        w->from = from;
        w->data = buf->base;
        uv_buf_t out = uv_buf_init(buf->base, (unsigned)len);
        if (!side_usable(to) ||
            uv_write(&w->req, (uv_stream_t *)&to->tcp, &out, 1, on_relay_written) < 0) {
            hg_free(w->data);
            hg_free(w);
            conn_close(c);
            return;
        }
        if (uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) >= RELAY_QUEUE_MAX)
            uv_read_stop(stream); /* resumed by on_relay_written */
    }
    if (c->bye == 1 && between_frames(c)) /* that frame has passed */
        relay_ws_close(c);
}

/* The owner does not answer: close its side, answer the client 503. */
static void owner_failed(conn_t *c, int err)
{
    HG_LOG(HG_LOG_DEBUG, "standby", "relay to node %s at %s failed (%s): answering 503",
           c->im->owner, c->im->owner_at, uv_strerror(err));
    close_handle(c, (uv_handle_t *)&c->owner.tcp); /* a pending connect ends with ECANCELED */
    answer_start(c);
}

static void on_header_written(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0)
        conn_close(c);
}

/* The owner's first bytes: who the client is (its address and the one it reached here). */
static int send_header(conn_t *c)
{
    struct sockaddr_storage client, here;
    int clen = sizeof(client), hlen = sizeof(here);
    if (uv_tcp_getpeername(&c->client.tcp, (struct sockaddr *)&client, &clen) < 0 ||
        uv_tcp_getsockname(&c->client.tcp, (struct sockaddr *)&here, &hlen) < 0)
        return -1;
    size_t n =
        hg_proxyhdr_build(c->hdr, (const struct sockaddr *)&client, (const struct sockaddr *)&here,
                          c->im->secret, c->im->secret_len, (int64_t)time(NULL));
    if (n == 0)
        return -1;
    uv_buf_t b = uv_buf_init((char *)c->hdr, (unsigned)n);
    c->hdr_wr.data = c;
    return uv_write(&c->hdr_wr, (uv_stream_t *)&c->owner.tcp, &b, 1, on_header_written);
}

static void on_owner_connected(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    if (c->state != CONN_CONNECTING) /* timed out (ECANCELED), or the loop stops */
        return;
    if (status < 0) {
        owner_failed(c, status);
        return;
    }
    uv_timer_stop(&c->timer);
    c->state = CONN_RELAYING;
    uv_tcp_nodelay(&c->owner.tcp, 1);
    if (send_header(c) < 0 ||
        uv_read_start((uv_stream_t *)&c->client.tcp, on_relay_alloc, on_relay_read) < 0 ||
        uv_read_start((uv_stream_t *)&c->owner.tcp, on_relay_alloc, on_relay_read) < 0)
        conn_close(c);
}

static void on_conn_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    switch (c->state) {
    case CONN_CONNECTING: owner_failed(c, UV_ETIMEDOUT); break;
    case CONN_READING: /* a head that never ends: answered as it is (and read on, discarded) */
        answer(c);
        break;
    case CONN_ANSWERED: /* the client did not close after its answer */ conn_close(c); break;
    case CONN_RELAYING: /* the client did not read its answer, or did not end after it */
        conn_close(c);
        break;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    interim_t *im = server->data;
    if (status < 0)
        return;
    conn_t *c = hg_calloc(1, sizeof(*c));
    c->im = im;
    c->client.conn = c->owner.conn = c;
    hg_list_insert_tail(&im->conns, &c->node);
    uv_tcp_init(&im->loop, &c->client.tcp);
    uv_tcp_init(&im->loop, &c->owner.tcp);
    uv_timer_init(&im->loop, &c->timer);
    c->handles = 3;
    c->client.tcp.data = &c->client;
    c->owner.tcp.data = &c->owner;
    c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->client.tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->client.tcp, 1);
    if (!im->standby || !im->has_owner || im->secret_len == 0) {
        answer_start(c);
        return;
    }
    c->state = CONN_CONNECTING;
    c->connect.data = c;
    uv_timer_start(&c->timer, on_conn_timer, RELAY_CONNECT_TIMEOUT_MS, 0);
    int rc = uv_tcp_connect(&c->connect, &c->owner.tcp, (const struct sockaddr *)&im->owner_addr,
                            on_owner_connected);
    if (rc < 0)
        owner_failed(c, rc);
}

/* ---- the loop ---- */

/* The loop's own handles: once they and the connections are closed, uv_run returns. */
static void interim_close_rest(interim_t *im)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&im->timer, (uv_handle_t *)&im->sigint,
                         (uv_handle_t *)&im->sigterm, (uv_handle_t *)&im->drain};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], NULL);
}

static void on_drain_over(uv_timer_t *t)
{
    interim_t *im = t->data;
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &im->conns)
        conn_close(hg_container_of(it, conn_t, node));
    interim_close_rest(im);
}

/* Stops accepting (a takeover or a pause's end keeps a copy of the port for serve(): new
 * connections wait in its backlog). On a signal every connection is closed at once, except the
 * relayed WebSockets, which get their close frame first (relay_ws_stop), within STOP_DRAIN_MS.
 * Otherwise relays are closed (their owner is gone or fenced) and the connections being answered
 * 503 — those accepted moments before, whose connect to the owner is pending or whose head is
 * being read — finish within STOP_DRAIN_MS first: closing them unanswered was a "closed without
 * response" for a client that reached the port just before the takeover (11-store-postgres). */
static void interim_stop(interim_t *im)
{
    uv_timer_stop(&im->timer);
    uv_os_fd_t fd;
    if (im->done && !im->signalled && im->listening && im->handoff_fd < 0 &&
        uv_fileno((uv_handle_t *)&im->listener, &fd) == 0)
        im->handoff_fd = dup(fd); /* the port stays open: connections wait in its backlog */
    if (!uv_is_closing((uv_handle_t *)&im->listener))
        uv_close((uv_handle_t *)&im->listener, NULL);
    int drain = im->done && !im->signalled, closing_ws = 0;
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &im->conns) {
        conn_t *c = hg_container_of(it, conn_t, node);
        if (im->signalled && relay_ws_stop(c)) {
            closing_ws = 1;
        } else if (!drain || c->state == CONN_RELAYING) {
            conn_close(c);
        } else if (c->state == CONN_CONNECTING) {
            uv_timer_stop(&c->timer);
            owner_failed(c, UV_ECANCELED); /* answered 503 instead */
        }
    }
    if ((drain || closing_ws) && !hg_list_empty(&im->conns)) {
        if (!im->draining) {
            im->draining = 1;
            uv_timer_start(&im->drain, on_drain_over, STOP_DRAIN_MS, 0);
        }
        return; /* the signals stay: a SIGTERM meanwhile still stops the daemon cleanly */
    }
    interim_close_rest(im);
}

static void on_signal(uv_signal_t *s, int sig)
{
    interim_t *im = s->data;
    if (im->standby)
        HG_LOG(HG_LOG_INFO, "standby", "stopping (signal %d)", sig);
    im->signalled = 1;
    interim_stop(im);
}

static int interim_listen(interim_t *im, const hg_config_t *cfg, int fd)
{
    if (fd >= 0) { /* the socket the last loop (or serve) listened on */
        int rc = uv_tcp_open(&im->listener, fd);
        if (rc < 0)
            close(fd); /* else the handle owns it: closed with the listener */
        else
            rc = uv_listen((uv_stream_t *)&im->listener, 511, on_connection);
        im->listening = rc == 0;
        return rc;
    }
    char host[256];
    int port;
    struct sockaddr_storage sa;
    int rc = hg_config_parse_listen(cfg->listen, host, sizeof(host), &port);
    if (rc == 0 && (rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&sa)) < 0)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa);
    if (rc == 0)
        rc = uv_tcp_bind(&im->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&im->listener, 511, on_connection);
    im->listening = rc == 0;
    return rc;
}

/* Set up the loop, its port and its signals; the caller starts im->timer and runs it. */
static interim_t *interim_new(const hg_config_t *cfg, int standby, int fd)
{
    interim_t *im = hg_calloc(1, sizeof(*im));
    hg_list_init(&im->conns);
    uv_loop_init(&im->loop);
    uv_tcp_init(&im->loop, &im->listener);
    im->listener.data = im;
    im->standby = standby;
    im->handoff_fd = -1;
    int rc = interim_listen(im, cfg, fd);
    if (rc < 0 && standby)
        HG_LOG(HG_LOG_WARN, "standby", "cannot listen on %s to relay: %s", cfg->listen,
               uv_strerror(rc));
    else if (rc < 0) /* the port is not ours yet (or any more): just wait */
        HG_LOG(HG_LOG_DEBUG, "daemon", "cannot answer 503 on %s meanwhile: %s", cfg->listen,
               uv_strerror(rc));
    uv_timer_init(&im->loop, &im->timer);
    im->timer.data = im;
    uv_timer_init(&im->loop, &im->drain);
    im->drain.data = im;
    uv_signal_init(&im->loop, &im->sigint);
    uv_signal_init(&im->loop, &im->sigterm);
    im->sigint.data = im->sigterm.data = im;
    uv_signal_start_oneshot(&im->sigint, on_signal, SIGINT);
    uv_signal_start_oneshot(&im->sigterm, on_signal, SIGTERM);
    return im;
}

/* Run until stopped; 1 when a signal stopped it. im is invalid after this call. */
static int interim_run(interim_t *im, int *listen_fd)
{
    uv_run(&im->loop, UV_RUN_DEFAULT);
    int signalled = im->signalled;
    *listen_fd = im->handoff_fd;
    if (signalled && im->handoff_fd >= 0) {
        close(im->handoff_fd);
        *listen_fd = -1;
    }
    if (im->pg)
        PQfinish(im->pg);
    uv_loop_close(&im->loop);
    OPENSSL_cleanse(im->secret, sizeof(im->secret));
    OPENSSL_cleanse(im->peek_secret, sizeof(im->peek_secret));
    hg_free(im);
    return signalled;
}

/* ---- pausing ---- */

static void on_pause_over(uv_timer_t *t)
{
    interim_t *im = t->data;
    im->done = 1;
    interim_stop(im);
}

int hg_unavailable_run(const hg_config_t *cfg, uint64_t ms, const char *why, int *listen_fd)
{
    interim_t *im = interim_new(cfg, 0, *listen_fd);
    im->why = why;
    uv_timer_start(&im->timer, on_pause_over, ms, 0);
    return interim_run(im, listen_fd);
}

/* ---- standing by: the lease, looked at from a worker thread ---- */

static void peek_work(uv_work_t *req)
{
    interim_t *im = req->data;
    im->peek_free = im->peek_held = 0;
    im->peek_has_addr = 0;
    im->peek_owner[0] = im->peek_at[0] = '\0';
    if (im->pg == NULL || PQstatus(im->pg) != CONNECTION_OK) {
        if (im->pg)
            PQfinish(im->pg);
        im->pg = hg_store_pg_connectdb(im->conninfo);
        if (PQstatus(im->pg) != CONNECTION_OK)
            return; /* PostgreSQL is away: keep relaying to the owner we know */
    }
    if (im->secret_len == 0) { /* once: the owner created it before it served */
        PGresult *r = PQexec(im->pg, HG_STORE_PG_SECRET_SQL);
        size_t len = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                         ? strlen(PQgetvalue(r, 0, 0))
                         : 0;
        if (len >= HG_STORE_PG_SECRET_MIN && len <= HG_STORE_PG_SECRET_MAX) {
            memcpy(im->peek_secret, PQgetvalue(r, 0, 0), len + 1);
            im->peek_secret_len = len;
        }
        PQclear(r);
    }
    PGresult *r = PQexec(im->pg, HG_STORE_PG_LEASE_PEEK_SQL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 2), "t") != 0) {
        im->peek_free = 1;
        PQclear(r);
        return;
    }
    im->peek_held = 1;
    snprintf(im->peek_owner, sizeof(im->peek_owner), "%s", PQgetvalue(r, 0, 0));
    snprintf(im->peek_at, sizeof(im->peek_at), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    /* host:port → an address (getaddrinfo may block: this is the worker) */
    char host[160];
    snprintf(host, sizeof(host), "%s", im->peek_at);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    const char *h = host;
    if (h[0] == '[') { /* [v6]:port */
        h++;
        char *end = strchr(host, ']');
        if (end)
            *end = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) == 0 && ai) {
        memcpy(&im->peek_addr, ai->ai_addr, ai->ai_addrlen);
        im->peek_has_addr = 1;
    }
    if (ai)
        freeaddrinfo(ai);
}

static void peek_done(uv_work_t *req, int status)
{
    interim_t *im = req->data;
    im->working = 0;
    if (status < 0 || im->signalled)
        return;
    if (im->secret_len == 0 && im->peek_secret_len > 0) {
        memcpy(im->secret, im->peek_secret, im->peek_secret_len + 1);
        im->secret_len = im->peek_secret_len;
    }
    if (im->peek_held && im->secret_len == 0 && !im->secret_warned) {
        HG_LOG(HG_LOG_WARN, "standby",
               "no cluster secret in the store (hangar_cluster_secret): "
               "relaying nothing, answering 503");
        im->secret_warned = 1;
    }
    if (im->peek_free) {
        HG_LOG(HG_LOG_INFO, "standby", "the lease is free: taking it");
        im->done = 1;
        interim_stop(im);
        return;
    }
    if (im->peek_held && !im->peek_has_addr && im->has_owner) {
        /* held by a node without a usable address: nobody to relay to (503s meanwhile) */
        HG_LOG(HG_LOG_WARN, "standby",
               "node %s holds the lease at no address this node can "
               "reach ('%s')",
               im->peek_owner, im->peek_at);
        im->has_owner = 0;
        im->owner_at[0] = '\0';
    }
    if (im->peek_has_addr && strcmp(im->peek_at, im->owner_at) != 0) {
        memcpy(&im->owner_addr, &im->peek_addr, sizeof(im->owner_addr));
        im->has_owner = 1;
        snprintf(im->owner, sizeof(im->owner), "%s", im->peek_owner);
        snprintf(im->owner_at, sizeof(im->owner_at), "%s", im->peek_at);
        HG_LOG(HG_LOG_INFO, "standby", "relaying to node %s at %s", im->owner, im->owner_at);
    }
}

static void on_poll(uv_timer_t *t)
{
    interim_t *im = t->data;
    if (im->working || im->done || im->signalled)
        return;
    im->working = 1;
    im->work.data = im;
    uv_queue_work(&im->loop, &im->work, peek_work, peek_done);
}

int hg_standby_run(const hg_config_t *cfg, int *listen_fd)
{
    interim_t *im = interim_new(cfg, 1, *listen_fd);
    im->conninfo = cfg->store;
    uv_timer_start(&im->timer, on_poll, 0, STANDBY_POLL_MS);
    return interim_run(im, listen_fd);
}
