/* hangar — HTTP/1.1 server (see http.h).
 *
 * DESIGN
 * - One hg_http_conn per accepted socket, one http_parser per connection. Bytes read are fed
 *   to the parser; each complete message becomes an hg_http_req_int queued on the connection
 *   and handed to the handler.
 * - Responses are serialised into the request's `out` buffer by hg_http_respond(); flush()
 *   writes every ready response at the head of the queue in one uv_write, so pipelined answers
 *   leave in request order. Requests whose bytes are being written are owned by the write
 *   request and freed in its callback.
 * - Answers are not written the moment they are ready: hg_http_respond() adds the connection
 *   to the server's flush_turn (rt/turn.h), which writes it at the end of the loop turn, right
 *   after the poll phase that produced the answers (Redis writes its replies in beforeSleep the
 *   same way). A group commit that completes eight pipelined requests of one connection then
 *   costs one write() instead of eight; the answer leaves in the same loop iteration as before,
 *   and one made outside the poll phase (timers, a write completion resuming a paused
 *   pipeline) never waits for the next I/O event (see turn.h). While the server stops, answers
 *   are flushed at once.
 * - Backpressure: when max_pipeline requests are queued, the parser is paused and reading
 *   stops; the unparsed bytes wait in `pending_in` until the queue drains.
 * - Timers: one 1 s sweep per server checks every connection's idle and request deadlines
 *   (cheaper than a timer per connection; timeouts are coarse by design).
 * - TLS on the same port (net/tls.h, memory BIOs): when a certificate is configured, the
 *   first byte of each connection is sniffed; 0x16 (a TLS handshake record) makes it a TLS
 *   connection, anything else plain HTTP. The engine sits between the socket and the rest
 *   (see "transport" below): reads are decrypted and handed on as one plaintext chunk per read;
 *   writes are encrypted when queued and complete when their records are written, so the
 *   pipeline cap, `writing`, the upgraded streams' `out_bytes` and on_drain are the
 *   backpressure they were, counted in plaintext, with libuv's write queue holding the records.
 *   The handshake is just the first bytes read: it never blocks, and a connection whose
 *   handshake is not done within request_timeout_ms is closed by the sweep.
 * - The client's address through a standby's relay (hg_http_server_set_proxy_key, cluster mode):
 *   a relay puts a signed PROXY protocol v2 header (http/proxyhdr.h) before the client's bytes,
 *   so a connection's first bytes are looked at before anything else, TLS included (the relay
 *   works at the TCP level: the header precedes the ClientHello). They are kept in the
 *   connection's proxy_buf (HG_PROXYHDR_MAX bytes) across reads until they decide: not the
 *   PROXY signature (a direct client; decided by the first byte, as HTTP and TLS never start
 *   with \r) — everything read goes on as read; a header that verifies — `peer` becomes the
 *   client's address and what follows it goes on; the signature with anything else (a bad or
 *   missing HMAC, a stale time, another shape) — logged at warn and closed. No key: nothing is
 *   looked at and a header is just bytes the HTTP parser refuses.
 *
 * Connection states:
 *
 *     [PROXY?] --header verifies: peer = the client--> [SNIFF]   (only with a proxy key)
 *        |--no signature: the bytes go on---------> [SNIFF]
 *        \--signature, does not verify------------> closed
 *     [SNIFF] --0x16--> TLS HANDSHAKE --done--> OPEN (over TLS)
 *        \--other byte---------------------------> OPEN
 *     OPEN --(framing error / timeout / Connection: close answered)--> CLOSING --> freed
 *
 *     | event                              | function        | effect                        |
 *     |------------------------------------|-----------------|-------------------------------|
 *     | first bytes read (proxy key set)   | proxy_read      | header: peer; else on / close |
 *     | first byte read (TLS configured)   | on_conn_read    | TLS or plain, once            |
 *     | bytes read                         | on_conn_read    | decrypt if TLS; parse, queue  |
 *     | handshake failed / not in time     | tls_read/sweep  | alert (if it fits), close     |
 *     | response ready                     | hg_http_respond | flush in order                |
 *     | write done                         | on_write        | free written reqs, resume     |
 *     | framing error                      | fail_conn       | answer error, close after     |
 *     | idle / request deadline passed     | on_sweep        | close / 408 and close         |
 *     | peer closed, read error            | http_read       | close_conn (reqs orphaned)    |
 *     | closing (TLS, handshake done)      | close_conn      | close_notify if it fits       |
 */
#include "http/http.h"

#include <http_parser.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/proxyhdr.h"
#include "net/tls.h"
#include "rt/clock.h"
#include "rt/turn.h"

/* TLS records the engine produced on its own (handshake, session tickets, key-update answers,
 * alerts) that may wait unwritten on one connection; more means the peer sends and never reads:
 * it is closed (docs/limits.md). A handshake needs a few kilobytes. */
#define HG_HTTP_TLS_MAX_CTL (256 * 1024)
/* Plaintext is encrypted at most this much at a time, so the engine's output buffer stays
 * small; the records still leave in one write. */
#define HG_HTTP_TLS_CHUNK 65536

typedef struct hg_http_req_int {
    hg_http_req_t pub; /* first */
    hg_list_t node;    /* in conn->queue while queued */
    hg_http_conn_t *conn;
    hg_buf_t raw; /* url and header bytes; pub pointers point in here after headers complete */
    size_t url_len;
    size_t hoff[HG_HTTP_MAX_HEADERS][4]; /* name off, name len, value off, value len */
    int in_value;
    hg_buf_t body;
    hg_buf_t out;
    int ready;
    int keep_alive;
} hg_http_req_int_t;

struct hg_http_conn {
    uv_tcp_t tcp;         /* first */
    hg_list_t node;       /* in server->conns */
    hg_list_t flush_node; /* in server->flush_turn while an answer waits to be written */
    hg_http_server_t *server;
    http_parser parser;
    hg_http_req_int_t *cur; /* message being parsed */
    hg_list_t queue;        /* requests in arrival order, answered or not */
    size_t nqueued;
    hg_buf_t pending_in; /* unparsed bytes while paused */
    int paused;
    int reading;
    int closing;
    int close_after_flush;
    int linger;                    /* with close_after_flush: a lingering close (fail_conn) */
    uint64_t linger_since_ms;      /* lingering: our end was sent at (0: not lingering) */
    int writing;                   /* write requests in flight */
    int too_large;                 /* the message being parsed went over max_body */
    struct hg_http_req_int *spare; /* a finished request kept for reuse */
    /* upgraded connections (hg_http_upgrade) */
    int upgraded;
    int in_feed;
    const hg_http_stream_cb_t *scb;
    void *sud;
    size_t out_bytes;
    uv_shutdown_t shut;
    int shutting;
    int stream_paused; /* the stream's owner asked us not to read */
    char peer[64];     /* the client's address: the socket's peer, or a relay's verified header */
    uint64_t last_activity_ms;
    uint64_t msg_start_ms; /* 0 when no message is in progress */
    /* TLS (hg_http_server_set_tls): the first byte read decides; 0x16 starts a handshake */
    int sniffing;
    hg_tls_t *tls;        /* NULL: plain TCP */
    int tls_ready;        /* handshake completed (and counted) */
    size_t tls_ctl_bytes; /* the engine's own records queued and not yet written */
    uint64_t tls_start_ms;
    /* the first bytes, until they say whether a PROXY header starts the stream */
    int proxy_pending;
    size_t proxy_len;
    uint8_t proxy_buf[HG_PROXYHDR_MAX];
};

typedef struct write_req {
    uv_write_t w;
    hg_http_conn_t *conn;
    hg_list_t reqs;
} write_req_t;

struct hg_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    hg_turn_t flush_turn; /* connections with answers ready, written at the end of the turn */
    hg_http_limits_t limits;
    hg_http_handler_cb cb;
    void *ud;
    hg_list_t conns;
    size_t nconns;
    int listening;
    int stopping;
    int streams_told; /* upgraded connections were told the server is stopping */
    int handles_open;
    void (*stop_cb)(void *ud);
    void *stop_ud;
    int port;
    char date[64];
    time_t date_at;
    http_parser_settings settings;
    hg_tls_ctx_t *tls;  /* NULL: plain HTTP only */
    hg_buf_t tls_plain; /* plaintext decrypted from one read, before it is handed on */
    char proxy_key[HG_PROXYHDR_KEY_MAX + 1]; /* the cluster secret ("": no header accepted) */
    size_t proxy_key_len;
    /* metrics */
    uint64_t accepted, rejected, timeouts, parse_errors;
    uint64_t tls_handshakes, tls_failures;
    uint64_t proxy_ok, proxy_refused;
};

static void flush(hg_http_conn_t *c);
static void close_conn(hg_http_conn_t *c);
static int conn_write(hg_http_conn_t *c, uv_write_t *w, const uv_buf_t *bufs, unsigned n,
                      uv_write_cb cb);
static void on_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void shutdown_streams(hg_http_server_t *s);
static void maybe_stopped(hg_http_server_t *s);

/* ---- request objects ---- */

/* Requests are large (the header table) and a keep-alive connection makes one after another,
 * so each connection keeps the last finished request, buffers and all, for the next one. */
static hg_http_req_int_t *req_new(hg_http_conn_t *c)
{
    hg_http_req_int_t *r = c->spare;
    if (r) {
        c->spare = NULL;
        r->raw.len = r->body.len = r->out.len = 0;
    } else {
        r = hg_malloc(sizeof(*r)); /* not zeroed: the header tables are filled before use */
        hg_buf_init(&r->raw);
        hg_buf_init(&r->body);
        hg_buf_init(&r->out);
    }
    memset(&r->pub, 0, offsetof(hg_http_req_t, headers));
    r->pub.nheaders = 0;
    r->pub.body = NULL;
    r->pub.body_len = 0;
    r->pub.start_ns = 0;
    r->pub.data = NULL;
    r->conn = c;
    hg_list_init(&r->node);
    r->url_len = 0;
    r->in_value = 0;
    r->ready = 0;
    r->keep_alive = 0;
    return r;
}

static void req_release(hg_http_req_int_t *r)
{
    hg_buf_free(&r->raw);
    hg_buf_free(&r->body);
    hg_buf_free(&r->out);
    hg_free(r);
}

static void req_free(hg_http_req_int_t *r)
{
    if (r == NULL)
        return;
    hg_http_conn_t *c = r->conn;
    /* kept for the next request, unless the connection will never parse one again (upgraded:
     * ~9 KiB per WebSocket, mostly the header tables) */
    if (c && !c->closing && !c->upgraded && c->spare == NULL &&
        r->raw.cap + r->body.cap + r->out.cap <= 65536) {
        c->spare = r;
        return;
    }
    req_release(r);
}

int hg_http_query_raw(const hg_http_req_t *req, const char *name, const char **val, size_t *len)
{
    const char *q = req->query, *end = q + req->query_len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - q) == nl && memcmp(q, name, nl) == 0) {
            *val = eq ? eq + 1 : pe;
            *len = (size_t)(pe - *val);
            return 1;
        }
        q = pe + 1;
    }
    return 0;
}

const hg_http_header_t *hg_http_req_header(const hg_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name_len == n && strncasecmp(req->headers[i].name, name, n) == 0)
            return &req->headers[i];
    return NULL;
}

hg_http_conn_t *hg_http_req_conn(const hg_http_req_t *req)
{
    return ((const hg_http_req_int_t *)req)->conn;
}

const char *hg_http_date(hg_http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = now;
    }
    return s->date;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void serialise(hg_http_server_t *s, hg_http_req_int_t *r, int status,
                      const char *content_type, const char *extra, const void *body, size_t len)
{
    hg_buf_t *o = &r->out;
    hg_buf_reserve(o, 256 + len);
    char num[24];
    int nl = 0;
    size_t v = len;
    char tmp[24];
    do {
        tmp[nl++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < nl; i++)
        num[i] = tmp[nl - 1 - i];
    char st[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), ' '};
    hg_buf_append(o, "HTTP/1.1 ", 9);
    hg_buf_append(o, st, 4);
    hg_buf_puts(o, reason(status));
    hg_buf_append(o, "\r\nDate: ", 8);
    hg_buf_puts(o, hg_http_date(s));
    hg_buf_append(o, "\r\nContent-Length: ", 18);
    hg_buf_append(o, num, (size_t)nl);
    hg_buf_append(o, "\r\n", 2);
    if (content_type) {
        hg_buf_append(o, "Content-Type: ", 14);
        hg_buf_puts(o, content_type);
        hg_buf_append(o, "\r\n", 2);
    }
    if (extra)
        hg_buf_puts(o, extra);
    if (!r->keep_alive)
        hg_buf_puts(o, "Connection: close\r\n");
    hg_buf_puts(o, "\r\n");
    if (r->pub.method != HTTP_HEAD) /* HEAD: the headers GET would get, Content-Length too */
        hg_buf_append(o, body, len);
    r->ready = 1;
}

void hg_http_respond(hg_http_req_t *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t body_len)
{
    hg_http_req_int_t *r = (hg_http_req_int_t *)req;
    hg_http_conn_t *c = r->conn;
    if (c == NULL) { /* orphaned: the client went away */
        req_free(r);
        return;
    }
    serialise(c->server, r, status, content_type, extra_headers, body, body_len);
    hg_http_server_t *s = c->server;
    if (s->stopping) {
        flush(c);
        return;
    }
    hg_turn_add(&s->flush_turn, &c->flush_node);
}

/* The end of the loop turn: one write of each listed connection's ready answers. */
static void on_flush_turn(hg_turn_t *t, hg_list_t *node)
{
    (void)t;
    flush(hg_container_of(node, hg_http_conn_t, flush_node));
}

/* A framing-level error: queue an answer that is written in order, then close. */
static void fail_conn(hg_http_conn_t *c, int status, const char *type, const char *msg)
{
    hg_http_req_int_t *r = c->cur;
    c->cur = NULL;
    if (r == NULL)
        r = req_new(c);
    else
        r->conn = c;
    if (!hg_list_linked(&r->node)) {
        hg_list_insert_tail(&c->queue, &r->node);
        c->nqueued++;
    }
    r->keep_alive = 0;
    char body[512];
    int n = snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"%s\"}", type, msg);
    serialise(c->server, r, status, "application/json", NULL, body, (size_t)n);
    c->close_after_flush = 1;
    c->linger = 1; /* the client may still be sending (a body too large, a header too long) */
    c->server->parse_errors++;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    flush(c);
}

/* ---- parser callbacks ---- */

static int on_message_begin(http_parser *p)
{
    hg_http_conn_t *c = p->data;
    c->cur = req_new(c);
    c->msg_start_ms = uv_now(c->server->loop);
    return 0;
}

static int raw_room(hg_http_conn_t *c, size_t n)
{
    return c->cur->raw.len + n <= c->server->limits.max_header_bytes;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hg_http_conn_t *c = p->data;
    if (!raw_room(c, n))
        return -1;
    hg_buf_append(&c->cur->raw, at, n);
    c->cur->url_len += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hg_http_conn_t *c = p->data;
    hg_http_req_int_t *r = c->cur;
    if (!raw_room(c, n + 1))
        return -1;
    if (r->pub.nheaders == 0 || r->in_value) {
        if (r->pub.nheaders == c->server->limits.max_headers)
            return -1;
        if (r->pub.nheaders > 0)
            hg_buf_append(&r->raw, "", 1); /* NUL after the previous value */
        else
            hg_buf_append(&r->raw, "", 1); /* NUL after the url */
        r->hoff[r->pub.nheaders][0] = r->raw.len;
        r->hoff[r->pub.nheaders][1] = 0;
        r->pub.nheaders++;
        r->in_value = 0;
    }
    hg_buf_append(&r->raw, at, n);
    r->hoff[r->pub.nheaders - 1][1] += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hg_http_conn_t *c = p->data;
    hg_http_req_int_t *r = c->cur;
    if (!raw_room(c, n + 1))
        return -1;
    size_t i = r->pub.nheaders - 1;
    if (!r->in_value) {
        hg_buf_append(&r->raw, "", 1);
        r->hoff[i][2] = r->raw.len;
        r->hoff[i][3] = 0;
        r->in_value = 1;
    }
    hg_buf_append(&r->raw, at, n);
    r->hoff[i][3] += n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    hg_http_conn_t *c = p->data;
    hg_http_req_int_t *r = c->cur;
    hg_buf_append(&r->raw, "", 1);
    for (size_t i = 0; i < r->pub.nheaders; i++) {
        r->pub.headers[i].name = r->raw.data + r->hoff[i][0];
        r->pub.headers[i].name_len = r->hoff[i][1];
        r->pub.headers[i].value = r->raw.data + r->hoff[i][2];
        r->pub.headers[i].value_len = r->hoff[i][3];
        if (!r->in_value && i == r->pub.nheaders - 1) {
            r->pub.headers[i].value = "";
            r->pub.headers[i].value_len = 0;
        }
    }
    /* NUL-terminate names and values in place: their bytes are followed by a separator NUL. */
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(r->raw.data, r->url_len, 0, &u) != 0)
        return -1;
    if (u.field_set & (1 << UF_PATH)) {
        r->pub.path = r->raw.data + u.field_data[UF_PATH].off;
        r->pub.path_len = u.field_data[UF_PATH].len;
    } else {
        r->pub.path = "/";
        r->pub.path_len = 1;
    }
    if (u.field_set & (1 << UF_QUERY)) {
        r->pub.query = r->raw.data + u.field_data[UF_QUERY].off;
        r->pub.query_len = u.field_data[UF_QUERY].len;
    } else {
        r->pub.query = "";
        r->pub.query_len = 0;
    }
    r->pub.method = p->method;
    if (p->content_length != ULLONG_MAX && p->content_length > c->server->limits.max_body) {
        c->too_large = 1;
        return -1; /* answered 413 by feed() */
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hg_http_conn_t *c = p->data;
    if (c->cur->body.len + n > c->server->limits.max_body) {
        c->too_large = 1;
        return -1;
    }
    hg_buf_append(&c->cur->body, at, n);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hg_http_conn_t *c = p->data;
    hg_http_req_int_t *r = c->cur;
    c->cur = NULL;
    c->msg_start_ms = 0;
    if (r->body.data == NULL)
        hg_buf_append(&r->body, "", 0);
    r->pub.body = r->body.data;
    r->pub.body_len = r->body.len;
    /* Upgrades (WebSocket) are not taken over yet: answer, then close. */
    r->keep_alive = http_should_keep_alive(p) && !c->server->stopping && !p->upgrade;
    r->pub.start_ns = hg_mono_ns();
    hg_list_insert_tail(&c->queue, &r->node);
    c->nqueued++;
    int keep_alive = r->keep_alive;
    c->server->cb(&r->pub, c->server->ud); /* may answer, and free r, at once */
    if (c->nqueued >= c->server->limits.max_pipeline || !keep_alive || c->upgraded)
        http_parser_pause(p, 1);
    return 0;
}

/* ---- connection I/O ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[65536]; /* loop thread only; consumed before the next read */
    buf->base = slab;
    buf->len = sizeof(slab);
}

/* Feed bytes to the parser. Returns 0, or -1 when the connection failed. */
static void start_stream(hg_http_conn_t *c);

static int feed(hg_http_conn_t *c, const char *data, size_t len)
{
    c->in_feed = 1;
    size_t n = http_parser_execute(&c->parser, &c->server->settings, data, len);
    c->in_feed = 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->upgraded) { /* the handler took the connection during this feed */
        hg_buf_append(&c->pending_in, data + n, len - n);
        start_stream(c);
        return 0;
    }
    if (e == HPE_PAUSED) {
        hg_buf_append(&c->pending_in, data + n, len - n);
        c->paused = 1;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        return 0;
    }
    if (e != HPE_OK) {
        if (c->too_large)
            fail_conn(c, 413, "RequestEntityTooLargeException", "request body too large");
        else if (e == HPE_CB_header_field || e == HPE_CB_header_value || e == HPE_CB_url ||
                 e == HPE_HEADER_OVERFLOW)
            fail_conn(c, 431, "RequestHeaderFieldsTooLargeException",
                      "request line or headers too large");
        else
            fail_conn(c, 400, "BadRequestException", http_errno_description(e));
        return -1;
    }
    return 0;
}

/* Bytes (plaintext) for an upgraded connection. */
static void stream_read(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    if (nread == UV_EOF && c->writing > 0) {
        /* half-closed: let what we queued reach the peer, then close */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        c->close_after_flush = 1;
        return;
    }
    if (nread < 0) {
        close_conn(c);
        return;
    }
    if (nread > 0)
        c->scb->on_data(c->sud, data, (size_t)nread);
}

/* Deliver what arrived with the upgrade request, then read as a stream. */
static void start_stream(hg_http_conn_t *c)
{
    if (c->closing)
        return;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    if (c->pending_in.len) {
        hg_buf_t in = c->pending_in;
        hg_buf_init(&c->pending_in);
        c->scb->on_data(c->sud, in.data, in.len);
        hg_buf_free(&in);
    }
    if (!c->closing && !c->shutting && !c->stream_paused && !c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_conn_read);
        c->reading = 1;
    }
}

/* Bytes (plaintext) for a connection speaking HTTP. */
static void http_read(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    if (nread == UV_EOF && (c->nqueued > 0 || c->writing > 0)) {
        /* Half-closed by the client: it still expects the answers to what it sent. */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        c->close_after_flush = 1;
        return;
    }
    if (nread < 0) {
        close_conn(c);
        return;
    }
    if (nread == 0)
        return;
    c->last_activity_ms = uv_now(c->server->loop);
    feed(c, data, (size_t)nread);
}

/* Resume parsing after the queue drained below the pipeline cap. */
static void resume(hg_http_conn_t *c)
{
    if (c->closing || c->close_after_flush || !c->paused)
        return;
    if (c->nqueued >= c->server->limits.max_pipeline)
        return;
    c->paused = 0;
    http_parser_pause(&c->parser, 0);
    if (c->pending_in.len) {
        hg_buf_t in = c->pending_in;
        hg_buf_init(&c->pending_in);
        int rc = feed(c, in.data, in.len);
        hg_buf_free(&in);
        if (rc < 0 || c->paused)
            return;
    }
    if (!c->reading && !c->closing && !c->close_after_flush) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_conn_read);
        c->reading = 1;
    }
}

/* ---- transport: plain TCP or TLS ----
 *
 * Everything above works on plaintext; these few functions are the only ones that know whether
 * a connection is encrypted. Reads: the socket's bytes go through the TLS engine (if any) and
 * the plaintext of one read is handed on in one piece, exactly as a plain read would be.
 * Writes: conn_write() encrypts the caller's buffers at once into one block of records and
 * writes that; the caller's write request completes when its records are written, so every
 * count the HTTP and WebSocket layers keep (writing, out_bytes, the pipeline) means the same
 * over TLS. Records the engine makes on its own (handshake, tickets, alerts) are written as
 * they appear, in order with the rest. */

typedef struct tls_write {
    uv_write_t w;
    hg_http_conn_t *conn;
    uv_write_t *orig; /* the caller's request, completed with this one; NULL: engine records */
    uv_write_cb cb;
    size_t ctl; /* bytes counted in conn->tls_ctl_bytes */
    hg_buf_t cipher;
} tls_write_t;

static void on_tls_write(uv_write_t *w, int status)
{
    tls_write_t *tw = (tls_write_t *)w;
    hg_http_conn_t *c = tw->conn;
    uv_write_t *orig = tw->orig;
    uv_write_cb cb = tw->cb;
    c->tls_ctl_bytes -= tw->ctl;
    hg_buf_free(&tw->cipher);
    hg_free(tw);
    if (cb)
        cb(orig, status);
    else if (status < 0)
        close_conn(c);
}

/* Encrypt bufs (borrowed for the call only), prefixed by any record the engine has waiting, and
 * write them; cb(orig) runs when they are written. With no bufs and no cb, writes the engine's
 * own records. Returns 0 or a negative libuv code (cb will not run). */
static int tls_send(hg_http_conn_t *c, uv_write_t *orig, uv_write_cb cb, const uv_buf_t *bufs,
                    unsigned n)
{
    tls_write_t *tw = hg_malloc(sizeof(*tw));
    tw->conn = c;
    tw->orig = orig;
    tw->cb = cb;
    tw->ctl = 0;
    hg_buf_init(&tw->cipher);
    hg_tls_take(c->tls, &tw->cipher);
    for (unsigned i = 0; i < n; i++) {
        for (size_t off = 0; off < bufs[i].len; off += HG_HTTP_TLS_CHUNK) {
            size_t len = bufs[i].len - off;
            if (len > HG_HTTP_TLS_CHUNK)
                len = HG_HTTP_TLS_CHUNK;
            if (hg_tls_write(c->tls, bufs[i].base + off, len) < 0) {
                HG_LOG(HG_LOG_DEBUG, "http", "tls write failed peer=%s error=\"%s\"", c->peer,
                       hg_tls_error(c->tls));
                hg_buf_free(&tw->cipher);
                hg_free(tw);
                return UV_EPROTO;
            }
            hg_tls_take(c->tls, &tw->cipher);
        }
    }
    if (cb == NULL) {
        tw->ctl = tw->cipher.len;
        c->tls_ctl_bytes += tw->ctl;
    }
    uv_buf_t b = uv_buf_init(tw->cipher.data, (unsigned)tw->cipher.len);
    int rc = uv_write(&tw->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_write);
    if (rc < 0) {
        c->tls_ctl_bytes -= tw->ctl;
        hg_buf_free(&tw->cipher);
        hg_free(tw);
    }
    return rc;
}

/* Write bufs on c: as they are, or encrypted. Same contract as uv_write(). */
static int conn_write(hg_http_conn_t *c, uv_write_t *w, const uv_buf_t *bufs, unsigned n,
                      uv_write_cb cb)
{
    if (c->tls)
        return tls_send(c, w, cb, bufs, n);
    return uv_write(w, (uv_stream_t *)&c->tcp, bufs, n, cb);
}

/* Write the engine's own records, if any. Returns <0 when the connection must close. */
static int tls_flush_ctl(hg_http_conn_t *c)
{
    if (hg_tls_pending(c->tls) == 0)
        return 0;
    int rc = tls_send(c, NULL, NULL, NULL, 0);
    if (rc == 0 && c->tls_ctl_bytes > HG_HTTP_TLS_MAX_CTL)
        rc = UV_ENOBUFS;
    return rc;
}

/* Before the socket closes: close_notify (once, after a completed handshake) or a pending
 * alert, written only if the socket takes it now; a close never waits for it. */
static void tls_goodbye(hg_http_conn_t *c)
{
    hg_tls_shutdown(c->tls);
    if (hg_tls_pending(c->tls) == 0)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_tls_take(c->tls, &b);
    uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
    (void)uv_try_write((uv_stream_t *)&c->tcp, &ub, 1); /* EAGAIN when writes are queued */
    hg_buf_free(&b);
}

/* Plaintext bytes, EOF or a read error, to whichever protocol the connection speaks now. */
static void deliver(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    if (c->upgraded)
        stream_read(c, nread, data);
    else
        http_read(c, nread, data);
}

static void tls_read(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    hg_http_server_t *s = c->server;
    if (nread <= 0) {
        if (nread == 0)
            return;
        if (!c->tls_ready) /* gone during the handshake (a client refusing our certificate) */
            s->tls_failures++;
        deliver(c, nread, NULL); /* TCP EOF or error: as for a plain connection */
        return;
    }
    hg_tls_feed(c->tls, data, (size_t)nread);
    /* Decrypt everything this read completed (the engine keeps no plaintext behind, so a
     * paused connection never has bytes hidden from it): at most one read's worth plus the
     * record it finished. */
    hg_buf_t *plain = &s->tls_plain;
    plain->len = 0;
    int rc;
    for (;;) {
        hg_buf_reserve(plain, 16384);
        rc = hg_tls_read(c->tls, plain->data + plain->len, plain->cap - plain->len - 1);
        if (rc <= 0)
            break;
        plain->len += (size_t)rc;
    }
    if (!c->tls_ready && hg_tls_established(c->tls)) {
        c->tls_ready = 1;
        s->tls_handshakes++;
        HG_LOG(HG_LOG_DEBUG, "http", "tls established peer=%s version=%s", c->peer,
               hg_tls_version(c->tls));
    }
    if (rc == HG_TLS_ERROR) {
        if (!c->tls_ready)
            s->tls_failures++;
        HG_LOG(HG_LOG_DEBUG, "http", "tls error peer=%s error=\"%s\"", c->peer,
               hg_tls_error(c->tls));
        close_conn(c); /* tls_goodbye() sends the alert if it can */
        return;
    }
    if (tls_flush_ctl(c) < 0) {
        close_conn(c);
        return;
    }
    if (plain->len > 0)
        deliver(c, (ssize_t)plain->len, plain->data);
    /* close_notify: an EOF, unless the protocol stopped reading meanwhile (it then sees the
     * TCP EOF when it reads again, as it would on a plain connection). */
    if (rc == HG_TLS_EOF && !c->closing && c->reading)
        deliver(c, UV_EOF, NULL);
}

/* Bytes from the socket (after any PROXY header): TLS or plain, decided by the first byte. */
static void conn_bytes(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    if (c->sniffing && nread > 0) {
        c->sniffing = 0;
        if ((unsigned char)data[0] == 0x16) { /* TLS record type "handshake" */
            c->tls = hg_tls_new(c->server->tls);
            c->tls_start_ms = uv_now(c->server->loop);
        }
    }
    if (c->tls)
        tls_read(c, nread, data);
    else
        deliver(c, nread, data);
}

static void format_peer(char out[64], const struct sockaddr_storage *sa)
{
    char ip[48] = "";
    if (sa->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
        snprintf(out, 64, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
        snprintf(out, 64, "%s:%d", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    }
}

/* Hand on head (bytes kept in proxy_buf) then rest (the rest of this read) as one read. */
static void proxy_pass_on(hg_http_conn_t *c, const uint8_t *head, size_t head_len, const char *rest,
                          size_t rest_len)
{
    if (head_len + rest_len == 0)
        return; /* the header alone: what follows comes with the next read */
    if (head_len == 0) {
        conn_bytes(c, (ssize_t)rest_len, rest);
        return;
    }
    char *all = hg_malloc(head_len + rest_len); /* at most HG_PROXYHDR_MAX + one read */
    memcpy(all, head, head_len);
    memcpy(all + head_len, rest, rest_len);
    conn_bytes(c, (ssize_t)(head_len + rest_len), all);
    hg_free(all);
}

/* The first bytes of a connection on a server with a proxy key: a relay's PROXY header or not
 * (see DESIGN). They are kept until they decide; a read is never held for more. */
static void proxy_read(hg_http_conn_t *c, ssize_t nread, const char *data)
{
    hg_http_server_t *s = c->server;
    if (nread < 0) { /* gone before saying anything that counts */
        close_conn(c);
        return;
    }
    size_t kept = c->proxy_len;
    size_t take = (size_t)nread;
    if (take > HG_PROXYHDR_MAX - kept)
        take = HG_PROXYHDR_MAX - kept;
    memcpy(c->proxy_buf + kept, data, take);
    c->proxy_len += take;
    c->last_activity_ms = uv_now(s->loop);
    struct sockaddr_storage client;
    const char *why;
    int rc = hg_proxyhdr_parse(c->proxy_buf, c->proxy_len, s->proxy_key, s->proxy_key_len,
                               (int64_t)time(NULL), &client, &why);
    if (rc == 0) /* a header's prefix, shorter than HG_PROXYHDR_MAX: read on */
        return;
    c->proxy_pending = 0;
    if (rc == HG_ENOTFOUND) { /* a direct client: everything as read */
        if (kept == 0)
            conn_bytes(c, nread, data);
        else
            proxy_pass_on(c, c->proxy_buf, kept, data, (size_t)nread);
        return;
    }
    if (rc < 0) {
        s->proxy_refused++;
        HG_LOG(HG_LOG_WARN, "http", "a PROXY header that does not verify, closed: %s; peer=%s", why,
               c->peer);
        close_conn(c);
        return;
    }
    s->proxy_ok++;
    char relay[64];
    memcpy(relay, c->peer, sizeof(relay));
    format_peer(c->peer, &client);
    HG_LOG(HG_LOG_DEBUG, "http", "peer=%s relay=%s", c->peer, relay);
    /* what followed the header: the rest of proxy_buf, then the rest of this read */
    proxy_pass_on(c, c->proxy_buf + rc, c->proxy_len - (size_t)rc, data + take,
                  (size_t)nread - take);
}

static void on_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    hg_http_conn_t *c = (hg_http_conn_t *)st;
    if (c->proxy_pending && nread != 0)
        proxy_read(c, nread, buf->base);
    else
        conn_bytes(c, nread, buf->base);
}

/* A lingering close (nginx's lingering_close): after an error answer to a client that may still
 * be sending, our end is sent (a shutdown, after the answer) and what the client still sends is
 * read and dropped until it closes or HG_HTTP_LINGER_MS have passed (on_sweep). Closing at once
 * with unread bytes would make the kernel answer with a reset, which can discard the error
 * answer before the client has read it. Plain TCP only (TLS closes as before). */
#define HG_HTTP_LINGER_MS 1000

static void on_linger_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0) /* the client's end (or a reset): done */
        close_conn((hg_http_conn_t *)st);
}

static void on_linger_shut(uv_shutdown_t *req, int status)
{
    hg_http_conn_t *c = req->data;
    c->shutting = 0;
    if (status < 0 && !c->closing)
        close_conn(c);
}

static void linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[16384]; /* dropped bytes only (the loop thread's) */
    *buf = uv_buf_init(scratch, sizeof(scratch));
}

static int linger_start(hg_http_conn_t *c)
{
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_linger_shut) < 0)
        return -1;
    c->shutting = 1;
    c->linger_since_ms = uv_now(c->server->loop);
    if (c->linger_since_ms == 0)
        c->linger_since_ms = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    if (uv_read_start((uv_stream_t *)&c->tcp, linger_alloc, on_linger_read) < 0)
        return -1;
    return 0;
}

static void on_write(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    hg_http_conn_t *c = wr->conn;
    while (!hg_list_empty(&wr->reqs)) {
        hg_list_t *q = wr->reqs.next;
        hg_list_remove(q);
        req_free(hg_container_of(q, hg_http_req_int_t, node));
    }
    hg_free(wr);
    c->writing--;
    if (status < 0) {
        close_conn(c);
        return;
    }
    if (c->closing) {
        return;
    }
    if (c->close_after_flush && hg_list_empty(&c->queue) && c->writing == 0) {
        if (c->linger && c->tls == NULL && linger_start(c) == 0)
            return;
        close_conn(c);
        return;
    }
    flush(c);
    resume(c);
}

static void flush(hg_http_conn_t *c)
{
    if (c->closing || c->linger_since_ms)
        return;
    uv_buf_t bufs[64];
    unsigned n = 0;
    write_req_t *wr = NULL;
    while (!hg_list_empty(&c->queue) && n < 64) {
        hg_http_req_int_t *r = hg_container_of(c->queue.next, hg_http_req_int_t, node);
        if (!r->ready)
            break;
        if (wr == NULL) {
            wr = hg_malloc(sizeof(*wr));
            wr->conn = c;
            hg_list_init(&wr->reqs);
        }
        hg_list_remove(&r->node);
        c->nqueued--;
        hg_list_insert_tail(&wr->reqs, &r->node);
        bufs[n++] = uv_buf_init(r->out.data, (unsigned)r->out.len);
        if (!r->keep_alive) {
            c->close_after_flush = 1;
            break;
        }
    }
    if (wr == NULL)
        return;
    /* Nothing in flight: try to write at once (no write request, no epoll re-arm); what the
     * socket does not take goes through uv_write. Not when the connection closes after this
     * answer: closing is left to on_write, outside the parser. */
    uv_buf_t *rest = bufs;
    unsigned nrest = n;
    if (c->writing == 0 && !c->close_after_flush && c->tls == NULL) {
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        size_t done = w > 0 ? (size_t)w : 0;
        while (nrest > 0 && done >= rest->len) {
            done -= rest->len;
            rest++;
            nrest--;
        }
        if (nrest == 0) {
            while (!hg_list_empty(&wr->reqs)) {
                hg_list_t *q = wr->reqs.next;
                hg_list_remove(q);
                req_free(hg_container_of(q, hg_http_req_int_t, node));
            }
            hg_free(wr);
            if (!c->in_feed)
                resume(c);
            return;
        }
        rest->base += done;
        rest->len -= done;
    }
    c->writing++;
    int rc = conn_write(c, &wr->w, rest, nrest, on_write);
    if (rc < 0) {
        c->writing--;
        while (!hg_list_empty(&wr->reqs)) {
            hg_list_t *q = wr->reqs.next;
            hg_list_remove(q);
            req_free(hg_container_of(q, hg_http_req_int_t, node));
        }
        hg_free(wr);
        close_conn(c);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    hg_http_conn_t *c = (hg_http_conn_t *)h;
    hg_http_server_t *s = c->server;
    if (c->upgraded && c->scb->on_closed)
        c->scb->on_closed(c->sud);
    hg_tls_free(c->tls);
    hg_free(c);
    s->handles_open--;
    maybe_stopped(s);
}

static void close_conn(hg_http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    hg_http_server_t *s = c->server;
    hg_list_remove(&c->node);
    if (hg_list_linked(&c->flush_node))
        hg_list_remove(&c->flush_node);
    s->nconns--;
    if (s->stopping && !c->upgraded)
        shutdown_streams(s);
    /* Answered requests are dropped; unanswered ones are orphaned for their handler. */
    while (!hg_list_empty(&c->queue)) {
        hg_list_t *q = c->queue.next;
        hg_list_remove(q);
        hg_http_req_int_t *r = hg_container_of(q, hg_http_req_int_t, node);
        if (r->ready)
            req_free(r);
        else
            r->conn = NULL;
    }
    c->nqueued = 0;
    req_free(c->cur);
    c->cur = NULL;
    if (c->spare) {
        req_release(c->spare);
        c->spare = NULL;
    }
    hg_buf_free(&c->pending_in);
    if (c->tls)
        tls_goodbye(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    hg_http_server_t *s = ls->data;
    if (status < 0)
        return;
    hg_http_conn_t *c = hg_calloc(1, sizeof(*c));
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    s->handles_open++;
    hg_list_init(&c->queue);
    hg_list_init(&c->node);
    hg_list_init(&c->flush_node);
    hg_buf_init(&c->pending_in);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    if (s->nconns >= s->limits.max_conns || s->stopping) {
        s->rejected++;
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    s->accepted++;
    struct sockaddr_storage peer;
    int plen = sizeof(peer);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) == 0)
        format_peer(c->peer, &peer);
    hg_list_insert_tail(&s->conns, &c->node);
    s->nconns++;
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->last_activity_ms = uv_now(s->loop);
    c->sniffing = s->tls != NULL;
    c->proxy_pending = s->proxy_key_len > 0;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_conn_read);
    c->reading = 1;
}

static void on_sweep(uv_timer_t *t)
{
    hg_http_server_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &s->conns) {
        hg_http_conn_t *c = hg_container_of(q, hg_http_conn_t, node);
        if (c->tls && !c->tls_ready && !c->closing &&
            now - c->tls_start_ms > s->limits.request_timeout_ms) {
            s->timeouts++;
            s->tls_failures++;
            close_conn(c); /* the handshake did not complete in time */
            continue;
        }
        if (c->linger_since_ms && !c->closing && now - c->linger_since_ms >= HG_HTTP_LINGER_MS) {
            close_conn(c); /* lingered long enough */
            continue;
        }
        if (c->closing || c->close_after_flush || c->upgraded)
            continue;
        if (c->msg_start_ms && now - c->msg_start_ms > s->limits.request_timeout_ms) {
            s->timeouts++;
            fail_conn(c, 408, "RequestTimeoutException", "request not completed in time");
        } else if (!c->msg_start_ms && c->nqueued == 0 && c->writing == 0 &&
                   now - c->last_activity_ms > s->limits.idle_timeout_ms) {
            s->timeouts++;
            close_conn(c);
        }
    }
}

static void render(hg_buf_t *out, void *ud)
{
    hg_http_server_t *s = ud;
    hg_buf_printf(out,
                  "# HELP hangar_http_connections Open HTTP connections.\n"
                  "# TYPE hangar_http_connections gauge\nhangar_http_connections %zu\n"
                  "# HELP hangar_http_connections_accepted_total Connections accepted.\n"
                  "# TYPE hangar_http_connections_accepted_total counter\n"
                  "hangar_http_connections_accepted_total %llu\n"
                  "# HELP hangar_http_connections_rejected_total Connections refused at the cap.\n"
                  "# TYPE hangar_http_connections_rejected_total counter\n"
                  "hangar_http_connections_rejected_total %llu\n"
                  "# HELP hangar_http_timeouts_total Connections closed by idle/request timeout.\n"
                  "# TYPE hangar_http_timeouts_total counter\nhangar_http_timeouts_total %llu\n"
                  "# HELP hangar_http_framing_errors_total Requests refused at the HTTP layer.\n"
                  "# TYPE hangar_http_framing_errors_total counter\n"
                  "hangar_http_framing_errors_total %llu\n"
                  "# HELP hangar_http_tls_handshakes_total TLS handshakes, by outcome (failed: "
                  "protocol error or not completed within the request timeout).\n"
                  "# TYPE hangar_http_tls_handshakes_total counter\n"
                  "hangar_http_tls_handshakes_total{result=\"ok\"} %llu\n"
                  "hangar_http_tls_handshakes_total{result=\"failed\"} %llu\n"
                  "# HELP hangar_http_proxy_headers_total PROXY headers from a standby's relay, "
                  "by outcome (refused: did not verify; the connection was closed).\n"
                  "# TYPE hangar_http_proxy_headers_total counter\n"
                  "hangar_http_proxy_headers_total{result=\"ok\"} %llu\n"
                  "hangar_http_proxy_headers_total{result=\"refused\"} %llu\n",
                  s->nconns, (unsigned long long)s->accepted, (unsigned long long)s->rejected,
                  (unsigned long long)s->timeouts, (unsigned long long)s->parse_errors,
                  (unsigned long long)s->tls_handshakes, (unsigned long long)s->tls_failures,
                  (unsigned long long)s->proxy_ok, (unsigned long long)s->proxy_refused);
}

int hg_http_server_new(uv_loop_t *loop, const hg_http_limits_t *limits, hg_http_handler_cb cb,
                       void *ud, hg_http_server_t **out)
{
    hg_http_server_t *s = hg_calloc(1, sizeof(*s));
    s->loop = loop;
    s->limits = *limits;
    if (s->limits.max_headers > HG_HTTP_MAX_HEADERS)
        s->limits.max_headers = HG_HTTP_MAX_HEADERS;
    if (s->limits.max_pipeline == 0)
        s->limits.max_pipeline = 1;
    s->cb = cb;
    s->ud = ud;
    hg_list_init(&s->conns);
    http_parser_settings_init(&s->settings);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_value = on_header_value;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->handles_open++;
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->handles_open++;
    uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
    hg_turn_init(&s->flush_turn, loop, on_flush_turn, s);
    s->handles_open++; /* both of the turn's handles: on_turn_closed */
    hg_metrics_register("http", render, s);
    *out = s;
    return 0;
}

static int listen_bound(hg_http_server_t *s);

int hg_http_server_listen(hg_http_server_t *s, const char *host, int port)
{
    struct sockaddr_storage ss;
    int rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return rc;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0)
        return rc;
    return listen_bound(s);
}

int hg_http_server_listen_fd(hg_http_server_t *s, int fd)
{
    int rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return listen_bound(s);
}

int hg_http_server_dup_listener(const hg_http_server_t *s)
{
    uv_os_fd_t fd;
    if (!s->listening || uv_fileno((const uv_handle_t *)&s->listener, &fd) < 0)
        return -1;
    return dup(fd);
}

static int listen_bound(hg_http_server_t *s)
{
    int rc;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0)
        return rc;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->listening = 1;
    return 0;
}

int hg_http_server_port(const hg_http_server_t *s)
{
    return s->port;
}

size_t hg_http_server_conns(const hg_http_server_t *s)
{
    return s->nconns;
}

static void on_handle_closed(uv_handle_t *h)
{
    hg_http_server_t *s = h->data;
    s->handles_open--;
    maybe_stopped(s);
}

static void on_turn_closed(hg_turn_t *t)
{
    hg_http_server_t *s = t->data;
    s->handles_open--;
    maybe_stopped(s);
}

static void maybe_stopped(hg_http_server_t *s)
{
    if (s->stopping && s->handles_open == 0 && s->stop_cb) {
        void (*cb)(void *) = s->stop_cb;
        s->stop_cb = NULL;
        cb(s->stop_ud);
    }
}

/* Close connections with nothing in progress; the others close after their last answer. */
/* Upgraded connections (event streams, SDK sockets) are told to close only once every plain
 * request in progress has been answered: the answers' side effects (events published on
 * commit) must still reach them. */
static void shutdown_streams(hg_http_server_t *s)
{
    if (s->streams_told)
        return;
    hg_list_t *q;
    hg_list_foreach (q, &s->conns) {
        hg_http_conn_t *c = hg_container_of(q, hg_http_conn_t, node);
        if (!c->upgraded && !c->closing)
            return; /* a plain connection is still finishing */
    }
    s->streams_told = 1;
    hg_list_t *tmp;
    hg_list_foreach_safe (q, tmp, &s->conns) {
        hg_http_conn_t *c = hg_container_of(q, hg_http_conn_t, node);
        if (!c->upgraded || c->closing)
            continue;
        if (c->scb->on_shutdown)
            c->scb->on_shutdown(c->sud);
        else
            close_conn(c);
    }
}

static void drain(hg_http_server_t *s)
{
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &s->conns) {
        hg_http_conn_t *c = hg_container_of(q, hg_http_conn_t, node);
        if (c->upgraded)
            continue;
        if (c->nqueued == 0 && c->writing == 0)
            close_conn(c);
        else
            c->close_after_flush = 1;
    }
    shutdown_streams(s);
}

void hg_http_server_stop(hg_http_server_t *s, void (*cb)(void *ud), void *ud)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->stop_cb = cb;
    s->stop_ud = ud;
    hg_metrics_unregister("http");
    uv_close((uv_handle_t *)&s->listener, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    hg_turn_run(&s->flush_turn); /* from now on answers are written at once */
    hg_turn_close(&s->flush_turn, on_turn_closed);
    drain(s);
}

/* ---- upgraded connections ---- */

int hg_http_upgrade(hg_http_req_t *req, const char *response, const hg_http_stream_cb_t *cb,
                    void *ud, hg_http_conn_t **out)
{
    hg_http_req_int_t *r = (hg_http_req_int_t *)req;
    hg_http_conn_t *c = r->conn;
    if (c == NULL || c->closing || c->nqueued != 1 || c->server->stopping)
        return HG_ECONFLICT;
    r->keep_alive = 1; /* the connection stays open, as a stream */
    hg_buf_puts(&r->out, response);
    r->ready = 1;
    c->upgraded = 1;
    if (c->spare) { /* no more requests on this connection */
        req_release(c->spare);
        c->spare = NULL;
    }
    c->scb = cb;
    c->sud = ud;
    c->paused = 0;
    c->close_after_flush = 0;
    c->msg_start_ms = 0;
    if (out)
        *out = c;
    flush(c);
    if (!c->in_feed)
        start_stream(c);
    return 0;
}

typedef struct stream_write {
    uv_write_t w;
    hg_http_conn_t *conn;
    size_t len;
    char data[];
} stream_write_t;

static void on_stream_write(uv_write_t *w, int status)
{
    stream_write_t *sw = (stream_write_t *)w;
    hg_http_conn_t *c = sw->conn;
    c->out_bytes -= sw->len;
    c->writing--;
    hg_free(sw);
    if (status < 0 || (c->close_after_flush && c->writing == 0)) {
        close_conn(c);
        return;
    }
    if (c->out_bytes == 0 && !c->closing && c->scb->on_drain)
        c->scb->on_drain(c->sud);
}

int hg_http_conn_write(hg_http_conn_t *c, const void *data, size_t len)
{
    if (c->closing || c->shutting)
        return HG_ECONFLICT;
    /* TLS encrypts during conn_write(): the bytes need not be kept, only counted. */
    size_t copy = c->tls ? 0 : len;
    stream_write_t *sw = hg_malloc(sizeof(*sw) + copy);
    sw->conn = c;
    sw->len = len;
    if (copy)
        memcpy(sw->data, data, len);
    uv_buf_t b = uv_buf_init(copy ? sw->data : (char *)data, (unsigned)len);
    c->writing++;
    c->out_bytes += len;
    int rc = conn_write(c, &sw->w, &b, 1, on_stream_write);
    if (rc < 0) {
        c->writing--;
        c->out_bytes -= len;
        hg_free(sw);
        close_conn(c);
        return rc;
    }
    return 0;
}

size_t hg_http_conn_try_write(hg_http_conn_t *c, const void *data, size_t len)
{
    if (c->closing || c->shutting || c->tls || c->writing || len == 0)
        return 0;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)(len > UINT32_MAX ? UINT32_MAX : len));
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    return n > 0 ? (size_t)n : 0; /* an error shows again on the queued write, which closes */
}

size_t hg_http_conn_write_queue(const hg_http_conn_t *c)
{
    return c->out_bytes;
}

void hg_http_conn_pause(hg_http_conn_t *c, int pause)
{
    c->stream_paused = pause;
    if (c->closing || c->shutting)
        return;
    if (pause && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    } else if (!pause && !c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_conn_read);
        c->reading = 1;
    }
}

static void on_shutdown_done(uv_shutdown_t *sh, int status)
{
    (void)status;
    close_conn(sh->data);
}

void hg_http_conn_close(hg_http_conn_t *c, int graceful)
{
    if (c->closing)
        return;
    if (!graceful) { /* also cuts short a graceful close in progress */
        close_conn(c);
        return;
    }
    if (c->shutting)
        return;
    c->shutting = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    if (c->tls) { /* close_notify goes out after the queued records, before the FIN */
        hg_tls_shutdown(c->tls);
        if (tls_flush_ctl(c) < 0) {
            close_conn(c);
            return;
        }
    }
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0)
        close_conn(c);
}

uv_loop_t *hg_http_conn_loop(const hg_http_conn_t *c)
{
    return c->tcp.loop;
}

const char *hg_http_conn_peer(hg_http_conn_t *c)
{
    return c->peer;
}

void hg_http_server_abort(hg_http_server_t *s)
{
    hg_http_server_stop(s, s->stop_cb, s->stop_ud);
    while (!hg_list_empty(&s->conns))
        close_conn(hg_container_of(s->conns.next, hg_http_conn_t, node));
}

void hg_http_server_free(hg_http_server_t *s)
{
    if (s == NULL)
        return;
    hg_tls_ctx_free(s->tls);
    hg_buf_free(&s->tls_plain);
    OPENSSL_cleanse(s->proxy_key, sizeof(s->proxy_key));
    hg_free(s);
}

int hg_http_server_set_tls(hg_http_server_t *s, const char *cert_path, const char *key_path,
                           hg_error_t *err)
{
    hg_tls_ctx_t *ctx;
    int rc = hg_tls_ctx_new(cert_path, key_path, &ctx, err);
    if (rc < 0)
        return rc;
    hg_tls_ctx_free(s->tls); /* sessions keep their own reference to the old one */
    s->tls = ctx;
    return 0;
}

int hg_http_server_set_proxy_key(hg_http_server_t *s, const char *key, size_t len)
{
    if (len < HG_PROXYHDR_KEY_MIN || len > HG_PROXYHDR_KEY_MAX)
        return HG_EINVAL;
    memcpy(s->proxy_key, key, len);
    s->proxy_key[len] = '\0';
    s->proxy_key_len = len;
    return 0;
}

int hg_http_server_tls(const hg_http_server_t *s)
{
    return s->tls != NULL;
}

int hg_http_conn_is_tls(const hg_http_conn_t *c)
{
    return c->tls != NULL;
}
