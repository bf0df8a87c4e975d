/* Unit tests: the WebSocket layer — handshake (RFC 6455's example key, subprotocol, refusals),
 * echo, reassembly, limits and close codes (1002, 1007, 1009; 1002 carried in the close frame for
 * bad frame headers too), ping/pong, close handshake both ways, send-queue cap, write coalescing,
 * server stop (1012), peer drop (1006), ping timeout,
 * receive backpressure. The server is the real HTTP server; the client is a raw TCP connection on
 * the same loop that frames and masks by hand. */
#include <http_parser.h>
#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "http/http.h"
#include "test.h"
#include "ws/ws.h"

typedef struct wsctx wsctx_t;
typedef void (*hook_fn)(wsctx_t *c, hg_ws_t *ws, int binary, const char *data, size_t len);

struct wsctx {
    uv_loop_t loop;
    hg_http_server_t *srv;
    uv_tcp_t client;
    uv_connect_t creq;
    hg_buf_t in; /* bytes from the server */
    int connected, eof, stopped, client_reading;
    int auto_pong, seen; /* answer the server's pings; frames looked at so far */
    /* server side */
    hg_ws_limits_t lim;
    const char *subprotocol;
    int is_upgrade, accept_rc;
    hg_error_t err;
    hg_ws_t *ws;
    int accepted;
    int echo;
    hook_fn hook;
    int nmsg, last_binary;
    hg_buf_t last_msg;
    int closes, close_code, drains;
    void *ud_seen;
    int marker;
    int defer;              /* hold requests instead of accepting */
    hg_http_req_t *held[4]; /* held requests */
    int nheld;
};

static wsctx_t *G; /* the one context of this (forked) test */

/* ---- server side ---- */

static void ws_on_message(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len)
{
    wsctx_t *c = G;
    c->ud_seen = ud;
    c->nmsg++;
    c->last_binary = binary;
    c->last_msg.len = 0;
    hg_buf_append(&c->last_msg, data, len);
    if (c->echo)
        ASSERT_OK(hg_ws_send(ws, binary, data, len));
    if (c->hook)
        c->hook(c, ws, binary, data, len);
}

static void ws_on_close(hg_ws_t *ws, void *ud, int code)
{
    wsctx_t *c = G;
    (void)ud;
    ASSERT_TRUE(ws == c->ws);
    c->closes++;
    c->close_code = code;
    ASSERT_EQ_INT(hg_ws_send(ws, 0, "x", 1), HG_ECONFLICT); /* harmless during on_close */
}

static void ws_on_drain(hg_ws_t *ws, void *ud)
{
    (void)ws;
    (void)ud;
    G->drains++;
}

static const hg_ws_cb_t cbs = {ws_on_message, ws_on_close, ws_on_drain};

static void handler(hg_http_req_t *req, void *ud)
{
    wsctx_t *c = ud;
    if (c->defer && c->nheld < 4) {
        c->held[c->nheld++] = req;
        return;
    }
    c->is_upgrade = hg_ws_is_upgrade(req);
    hg_error_clear(&c->err);
    hg_ws_t *ws = NULL;
    c->accept_rc = hg_ws_accept(req, &c->lim, c->subprotocol, &cbs, c, &ws, &c->err);
    if (c->accept_rc < 0) {
        const char *msg = hg_error_message(&c->err);
        hg_http_respond(req, 400, "text/plain", NULL, msg, strlen(msg));
        return;
    }
    c->ws = ws;
    c->accepted = 1;
}

/* ---- client side ---- */

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    (void)h;
    (void)s;
    b->base = buf;
    b->len = sizeof(buf);
}

typedef struct sframe {
    int fin, op;
    const unsigned char *p;
    size_t len;
} sframe_t;

static size_t head_len(wsctx_t *c)
{
    if (c->in.data == NULL)
        return 0;
    const char *p = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
    return p ? (size_t)(p - c->in.data) + 4 : 0;
}

/* The idx-th frame the server sent, once complete. */
static int sframe_at(wsctx_t *c, int idx, sframe_t *f)
{
    size_t off = head_len(c);
    if (off == 0)
        return 0;
    const unsigned char *b = (const unsigned char *)c->in.data;
    for (int i = 0;; i++) {
        size_t avail = c->in.len - off;
        if (avail < 2)
            return 0;
        ASSERT_EQ_INT(b[off + 1] & 0x80, 0); /* a server never masks */
        uint64_t len = b[off + 1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                return 0;
            len = (uint64_t)b[off + 2] << 8 | b[off + 3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                return 0;
            len = 0;
            for (int k = 0; k < 8; k++)
                len = len << 8 | b[off + 2 + k];
            h = 10;
        }
        if (avail < h + len)
            return 0;
        if (i == idx) {
            f->fin = b[off] >> 7;
            f->op = b[off] & 15;
            f->p = b + off + h;
            f->len = (size_t)len;
            return 1;
        }
        off += h + (size_t)len;
    }
}

static int nframes(wsctx_t *c)
{
    sframe_t f;
    int n = 0;
    while (sframe_at(c, n, &f))
        n++;
    return n;
}

typedef struct cwrite {
    uv_write_t w;
    char data[];
} cwrite_t;

static void cwrite_done(uv_write_t *w, int st)
{
    (void)st;
    free(w);
}

static void cl_send(wsctx_t *c, const void *p, size_t n)
{
    cwrite_t *w = malloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    ASSERT_OK(uv_write(&w->w, (uv_stream_t *)&c->client, &b, 1, cwrite_done));
}

/* Append one frame; masked with a fixed key when `masked`. */
static void frame(hg_buf_t *b, int fin, int op, int masked, const void *payload, size_t len)
{
    unsigned char h[14];
    size_t n = 0;
    h[n++] = (unsigned char)((fin ? 0x80 : 0) | op);
    unsigned char mbit = masked ? 0x80 : 0;
    if (len < 126) {
        h[n++] = (unsigned char)(mbit | len);
    } else if (len < 65536) {
        h[n++] = mbit | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    hg_buf_append(b, h, n);
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (!masked) {
        hg_buf_append(b, payload, len);
        return;
    }
    hg_buf_append(b, key, 4);
    hg_buf_reserve(b, len);
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++)
        b->data[b->len + i] = (char)(p[i] ^ key[i % 4]);
    b->len += len;
}

static void cl_frame(wsctx_t *c, int fin, int op, const void *payload, size_t len)
{
    hg_buf_t b;
    hg_buf_init(&b);
    frame(&b, fin, op, 1, payload, len);
    cl_send(c, b.data, b.len);
    hg_buf_free(&b);
}

static void cl_close(wsctx_t *c, int code, const char *reason)
{
    char p[128];
    p[0] = (char)(code >> 8);
    p[1] = (char)code;
    size_t n = strlen(reason);
    memcpy(p + 2, reason, n);
    cl_frame(c, 1, 8, p, n + 2);
}

static void on_cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    wsctx_t *c = s->data;
    if (n < 0) {
        c->eof = 1;
        uv_read_stop(s);
        c->client_reading = 0;
        return;
    }
    hg_buf_append(&c->in, b->base, (size_t)n);
    sframe_t f;
    while (c->auto_pong && sframe_at(c, c->seen, &f)) {
        if (f.op == 9)
            cl_frame(c, 1, 10, f.p, f.len);
        c->seen++;
    }
}

static void cl_read(wsctx_t *c, int on)
{
    if (on && !c->client_reading)
        uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_cl_read);
    else if (!on && c->client_reading)
        uv_read_stop((uv_stream_t *)&c->client);
    c->client_reading = on;
}

static void on_connect(uv_connect_t *r, int st)
{
    wsctx_t *c = r->data;
    ASSERT_EQ_INT(st, 0);
    c->connected = 1;
    cl_read(c, 1);
}

#define RUN_UNTIL(c, cond)                                                                         \
    do {                                                                                           \
        for (int i_ = 0; i_ < 5000 && !(cond); i_++)                                               \
            uv_run(&(c)->loop, UV_RUN_ONCE);                                                       \
        ASSERT_TRUE(cond);                                                                         \
    } while (0)

static void start(wsctx_t *c)
{
    memset(c, 0, sizeof(*c));
    G = c;
    uv_loop_init(&c->loop);
    hg_buf_init(&c->in);
    hg_buf_init(&c->last_msg);
    c->echo = 1;
    hg_http_limits_t hl = {.max_header_bytes = 4096,
                           .max_headers = 32,
                           .max_body = 1024,
                           .max_pipeline = 4,
                           .max_conns = 8,
                           .idle_timeout_ms = 60000,
                           .request_timeout_ms = 60000};
    ASSERT_OK(hg_http_server_new(&c->loop, &hl, handler, c, &c->srv));
    ASSERT_OK(hg_http_server_listen(c->srv, "127.0.0.1", 0));
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", hg_http_server_port(c->srv), &a);
    uv_tcp_init(&c->loop, &c->client);
    c->client.data = c;
    c->creq.data = c;
    ASSERT_OK(uv_tcp_connect(&c->creq, &c->client, (struct sockaddr *)&a, on_connect));
    RUN_UNTIL(c, c->connected);
}

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* Send a handshake (plus `extra` header lines) and wait for the answer head. */
static void handshake(wsctx_t *c, const char *extra)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_printf(&b,
                  "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, "
                  "Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
                  "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                  extra ? extra : "");
    cl_send(c, b.data, b.len);
    hg_buf_free(&b);
    RUN_UNTIL(c, head_len(c) > 0 || c->eof);
    ASSERT_TRUE(strncmp(c->in.data, "HTTP/1.1 101 ", 13) == 0);
    ASSERT_TRUE(c->accepted);
}

static void on_stopped(void *ud)
{
    ((wsctx_t *)ud)->stopped = 1;
}

static void finish(wsctx_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->client))
        uv_close((uv_handle_t *)&c->client, NULL);
    hg_http_server_stop(c->srv, on_stopped, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    ASSERT_TRUE(c->stopped);
    if (c->accepted)
        ASSERT_EQ_INT(c->closes, 1); /* on_close ran, exactly once */
    hg_http_server_free(c->srv);
    hg_buf_free(&c->in);
    hg_buf_free(&c->last_msg);
    ASSERT_OK(uv_loop_close(&c->loop)); /* nothing left open */
}

static unsigned long long metric(const char *sample)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_metrics_render(&b);
    char want[160];
    snprintf(want, sizeof(want), "\n%s ", sample);
    const char *p = strstr(b.data, want);
    unsigned long long v = p ? strtoull(p + strlen(want), NULL, 10) : 0;
    hg_buf_free(&b);
    return v;
}

static int close_code_of(const sframe_t *f)
{
    return f->len >= 2 ? (f->p[0] << 8 | f->p[1]) : 1005;
}

/* Wait for the server's close frame and the end of the connection; returns the code. */
static int wait_server_close(wsctx_t *c)
{
    RUN_UNTIL(c, c->eof);
    sframe_t f;
    int n = nframes(c);
    ASSERT_TRUE(n > 0 && sframe_at(c, n - 1, &f));
    ASSERT_EQ_INT(f.op, 8);
    return close_code_of(&f);
}

/* ---- tests ---- */

HG_TEST(handshake_accept_key_and_subprotocol)
{
    wsctx_t c;
    start(&c);
    c.subprotocol = "hangar.v1";
    handshake(&c, "Sec-WebSocket-Protocol: chat, hangar.v1\r\n"
                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    ASSERT_TRUE(c.is_upgrade);
    ASSERT_TRUE(strstr(c.in.data, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    ASSERT_TRUE(strstr(c.in.data, "\r\nSec-WebSocket-Protocol: hangar.v1\r\n"));
    ASSERT_TRUE(strstr(c.in.data, "\r\nUpgrade: websocket\r\n"));
    ASSERT_NULL(strstr(c.in.data, "Extensions")); /* no extension negotiated */
    ASSERT_TRUE(strncmp(hg_ws_peer(c.ws), "127.0.0.1:", 10) == 0);
    ASSERT_EQ_INT(metric("hangar_ws_connections"), 1);
    finish(&c);
}

HG_TEST(subprotocol_only_when_offered)
{
    wsctx_t c;
    start(&c);
    c.subprotocol = "hangar.v1";
    handshake(&c, "Sec-WebSocket-Protocol: hangar.v2, HANGAR.V1\r\n"); /* case-sensitive */
    ASSERT_NULL(strstr(c.in.data, "Sec-WebSocket-Protocol"));
    finish(&c);
}

HG_TEST(bad_handshakes_rejected)
{
    static const struct {
        const char *req;
        int is_upgrade;
        const char *field;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n",
         1, "Sec-WebSocket-Key"},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n",
         1, "Sec-WebSocket-Version"},
        {"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
         0, ""},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n\r\n",
         1, "Sec-WebSocket-Key"}, /* 22 characters: not padded */
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZS*ub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         1, "Sec-WebSocket-Key"}, /* not base64 */
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
         0, "Upgrade"},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
         "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
         0, "Connection"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wsctx_t c;
        start(&c);
        cl_send(&c, cases[i].req, strlen(cases[i].req));
        RUN_UNTIL(&c, c.eof || head_len(&c) > 0);
        ASSERT_TRUE(strncmp(c.in.data, "HTTP/1.1 400 ", 13) == 0);
        ASSERT_EQ_INT(c.accept_rc, HG_EINVAL);
        ASSERT_EQ_INT(c.err.code, HG_EINVAL);
        ASSERT_STR_EQ(c.err.field, cases[i].field);
        ASSERT_EQ_INT(c.is_upgrade, cases[i].is_upgrade);
        ASSERT_FALSE(c.accepted);
        finish(&c);
    }
}

HG_TEST(echo_text_and_binary)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    hg_ws_set_data(c.ws, &c.marker);
    static const unsigned char bin[] = {0, 1, 2, 0xff, 0x80};
    cl_frame(&c, 1, 1, "hello", 5);
    cl_frame(&c, 1, 2, bin, sizeof(bin));
    cl_frame(&c, 1, 1, "", 0);
    RUN_UNTIL(&c, nframes(&c) == 3);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f));
    ASSERT_TRUE(f.fin && f.op == 1 && f.len == 5 && memcmp(f.p, "hello", 5) == 0);
    ASSERT_TRUE(sframe_at(&c, 1, &f));
    ASSERT_TRUE(f.fin && f.op == 2 && f.len == sizeof(bin) && memcmp(f.p, bin, sizeof(bin)) == 0);
    ASSERT_TRUE(sframe_at(&c, 2, &f));
    ASSERT_TRUE(f.op == 1 && f.len == 0);
    ASSERT_EQ_INT(c.nmsg, 3);
    ASSERT_TRUE(c.ud_seen == &c.marker); /* hg_ws_set_data took */
    finish(&c);
    ASSERT_EQ_INT(c.close_code, 1012); /* the server stopped first */
}

HG_TEST(frames_sent_with_the_handshake)
{
    wsctx_t c;
    start(&c);
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    frame(&b, 1, 1, 1, "early", 5);
    frame(&b, 1, 1, 1, "bird", 4);
    cl_send(&c, b.data, b.len);
    hg_buf_free(&b);
    RUN_UNTIL(&c, nframes(&c) == 2);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 1, &f) && f.len == 4 && memcmp(f.p, "bird", 4) == 0);
    finish(&c);
}

/* The handler accepts later (after a store commit, say): the frames that came with the handshake
 * wait in the HTTP layer and are delivered once accepted, never before hg_ws_accept returns. */
HG_TEST(deferred_accept_with_early_frames)
{
    wsctx_t c;
    start(&c);
    c.defer = 1;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    frame(&b, 1, 1, 1, "queued", 6);
    cl_send(&c, b.data, b.len);
    hg_buf_free(&b);
    RUN_UNTIL(&c, c.nheld == 1);
    for (int i = 0; i < 10; i++)
        uv_run(&c.loop, UV_RUN_NOWAIT);
    c.defer = 0;
    handler(c.held[0], &c);
    ASSERT_OK(c.accept_rc);
    ASSERT_EQ_INT(c.nmsg, 0); /* nothing ran inside hg_ws_accept */
    RUN_UNTIL(&c, nframes(&c) == 1);
    ASSERT_EQ_INT(c.nmsg, 1);
    finish(&c);
}

/* Another request in flight on the connection: the upgrade is refused, the caller answers. */
HG_TEST(upgrade_behind_pipelined_request_is_conflict)
{
    wsctx_t c;
    start(&c);
    c.defer = 1;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    cl_send(&c, b.data, b.len);
    hg_buf_free(&b);
    RUN_UNTIL(&c, c.nheld == 2);
    c.defer = 0;
    handler(c.held[1], &c); /* answers 400 itself, queued behind /first */
    ASSERT_EQ_INT(c.accept_rc, HG_ECONFLICT);
    ASSERT_FALSE(c.accepted);
    hg_http_respond(c.held[0], 200, "text/plain", NULL, "first", 5);
    RUN_UNTIL(&c, c.eof);
    ASSERT_TRUE(strncmp(c.in.data, "HTTP/1.1 200 ", 13) == 0);
    ASSERT_TRUE(strstr(c.in.data, "HTTP/1.1 400 ") != NULL);
    finish(&c);
}

HG_TEST(frame_split_into_single_bytes)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    hg_buf_t b;
    hg_buf_init(&b);
    frame(&b, 1, 1, 1, "slowly", 6);
    for (size_t i = 0; i < b.len; i++) {
        cl_send(&c, b.data + i, 1);
        for (int k = 0; k < 3; k++)
            uv_run(&c.loop, UV_RUN_NOWAIT);
    }
    hg_buf_free(&b);
    RUN_UNTIL(&c, nframes(&c) == 1);
    ASSERT_EQ_INT(c.nmsg, 1);
    ASSERT_TRUE(c.last_msg.len == 6 && memcmp(c.last_msg.data, "slowly", 6) == 0);
    finish(&c);
}

HG_TEST(fragmented_100k_reassembled_with_ping_between)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    enum { TOTAL = 100000, PART = TOTAL / 10 };
    unsigned char *msg = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        msg[i] = (unsigned char)(i * 7 + (i >> 8));
    for (int i = 0; i < 10; i++) {
        cl_frame(&c, i == 9, i == 0 ? 2 : 0, msg + i * PART, PART);
        if (i == 4)
            cl_frame(&c, 1, 9, "mid", 3); /* a control frame between fragments */
    }
    RUN_UNTIL(&c, nframes(&c) == 2);
    ASSERT_EQ_INT(c.nmsg, 1);
    ASSERT_EQ_INT(c.last_msg.len, TOTAL);
    ASSERT_TRUE(c.last_binary);
    ASSERT_TRUE(memcmp(c.last_msg.data, msg, TOTAL) == 0);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f)); /* the pong left first */
    ASSERT_TRUE(f.op == 10 && f.len == 3 && memcmp(f.p, "mid", 3) == 0);
    ASSERT_TRUE(sframe_at(&c, 1, &f));
    ASSERT_TRUE(f.op == 2 && f.fin && f.len == TOTAL && memcmp(f.p, msg, TOTAL) == 0);
    free(msg);
    finish(&c);
}

HG_TEST(utf8_split_across_fragments_is_valid)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    static const char s[] = "h\xc3\xa9llo \xe2\x82\xac"; /* é and € */
    cl_frame(&c, 0, 1, s, 2);                            /* cut inside é */
    cl_frame(&c, 0, 0, s + 2, 7);                        /* cut inside € */
    cl_frame(&c, 1, 0, s + 9, sizeof(s) - 1 - 9);
    RUN_UNTIL(&c, nframes(&c) == 1);
    ASSERT_EQ_INT(c.nmsg, 1);
    ASSERT_FALSE(c.last_binary);
    ASSERT_TRUE(c.last_msg.len == sizeof(s) - 1 && memcmp(c.last_msg.data, s, sizeof(s) - 1) == 0);
    finish(&c);
}

HG_TEST(message_over_max_is_1009)
{
    wsctx_t c;
    start(&c);
    c.lim.max_message = 1000;
    handshake(&c, NULL);
    char big[2000];
    memset(big, 'a', sizeof(big));
    cl_frame(&c, 1, 1, big, sizeof(big));
    ASSERT_EQ_INT(wait_server_close(&c), 1009);
    ASSERT_EQ_INT(c.nmsg, 0);
    ASSERT_EQ_INT(c.closes, 1);
    ASSERT_EQ_INT(c.close_code, 1009);
    finish(&c);
}

HG_TEST(fragmented_message_over_max_is_1009)
{
    wsctx_t c;
    start(&c);
    c.lim.max_message = 1000;
    handshake(&c, NULL);
    char part[600];
    memset(part, 'b', sizeof(part));
    cl_frame(&c, 0, 2, part, sizeof(part));
    cl_frame(&c, 1, 0, part, sizeof(part));
    ASSERT_EQ_INT(wait_server_close(&c), 1009);
    ASSERT_EQ_INT(c.nmsg, 0);
    ASSERT_EQ_INT(c.close_code, 1009);
    finish(&c);
}

HG_TEST(unmasked_frame_is_1002)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    hg_buf_t b;
    hg_buf_init(&b);
    frame(&b, 1, 1, 0, "plain", 5);
    cl_send(&c, b.data, b.len);
    hg_buf_free(&b);
    ASSERT_EQ_INT(wait_server_close(&c), 1002);
    ASSERT_EQ_INT(c.nmsg, 0);
    ASSERT_EQ_INT(c.close_code, 1002);
    finish(&c);
}

HG_TEST(oversized_control_frame_is_1002)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    char p[200];
    memset(p, 'p', sizeof(p));
    cl_frame(&c, 1, 9, p, sizeof(p));           /* a ping over 125 bytes: a frame-level error */
    ASSERT_EQ_INT(wait_server_close(&c), 1002); /* in the close frame, not only in on_close */
    ASSERT_EQ_INT(nframes(&c), 1);
    ASSERT_EQ_INT(c.closes, 1);
    ASSERT_EQ_INT(c.close_code, 1002);
    finish(&c);
}

/* Frame headers wslay refuses while parsing them, and would answer with a close frame without a
 * status code: the close frame must carry 1002 (docs/limits.md). */
HG_TEST(bad_frame_headers_close_with_1002)
{
    static const unsigned char key[4] = {1, 2, 3, 4};
    static const struct {
        const char *what;
        unsigned char hdr[10]; /* first bytes, before the mask key (always masked) */
        size_t hn;
        size_t payload;
    } cases[] = {
        {"fragmented ping", {0x09, 0x80 | 2}, 2, 2},
        {"fragmented close", {0x08, 0x80 | 2}, 2, 2},
        {"ping of 126 bytes", {0x89, 0x80 | 126, 0, 126}, 4, 126},
        {"pong with a 64-bit length", {0x8a, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0}, 10, 0},
        {"close with a 1-byte payload", {0x88, 0x80 | 1}, 2, 1},
        {"length 2^63", {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, 0},
        {"length 2^64-1",
         {0x82, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         10,
         0},
        {"16-bit length under 126", {0x82, 0x80 | 126, 0, 5}, 4, 5},
        {"64-bit length under 65536", {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5}, 10, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wsctx_t c;
        start(&c);
        handshake(&c, NULL);
        hg_buf_t b;
        hg_buf_init(&b);
        hg_buf_append(&b, cases[i].hdr, cases[i].hn);
        hg_buf_append(&b, key, 4);
        for (size_t k = 0; k < cases[i].payload; k++)
            hg_buf_append(&b, "x", 1);
        cl_send(&c, b.data, b.len);
        hg_buf_free(&b);
        int code = wait_server_close(&c);
        if (code != 1002)
            HG_FAIL_("%s: close frame code %d, want 1002", cases[i].what, code);
        ASSERT_EQ_INT(nframes(&c), 1);
        ASSERT_EQ_INT(c.closes, 1);
        ASSERT_EQ_INT(c.close_code, 1002);
        ASSERT_EQ_INT(c.nmsg, 0);
        finish(&c);
    }
}

/* A bad header arriving a byte at a time is found all the same. */
HG_TEST(bad_frame_header_split_into_single_bytes_is_1002)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    static const unsigned char f[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    for (size_t i = 0; i < sizeof(f) && !c.eof; i++) {
        cl_send(&c, f + i, 1);
        for (int k = 0; k < 3; k++)
            uv_run(&c.loop, UV_RUN_NOWAIT);
    }
    ASSERT_EQ_INT(wait_server_close(&c), 1002);
    ASSERT_EQ_INT(c.close_code, 1002);
    finish(&c);
}

/* Frames before the bad one, in the same read, are delivered to the application first (the header
 * check runs when wslay reaches the frame, not when the bytes arrive); nothing after it is. What
 * was queued to send but not yet out is dropped: a protocol-error close goes first. */
HG_TEST(frames_before_a_bad_header_are_delivered_first)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    hg_buf_t b;
    hg_buf_init(&b);
    frame(&b, 1, 1, 1, "one", 3);
    frame(&b, 1, 9, 1, "ping", 4);
    frame(&b, 1, 1, 1, "two", 3);
    frame(&b, 0, 9, 1, "frag", 4); /* fragmented ping */
    frame(&b, 1, 1, 1, "never", 5);
    cl_send(&c, b.data, b.len);
    hg_buf_free(&b);
    ASSERT_EQ_INT(wait_server_close(&c), 1002);
    ASSERT_EQ_INT(c.nmsg, 2);
    ASSERT_TRUE(c.last_msg.len == 3 && memcmp(c.last_msg.data, "two", 3) == 0);
    ASSERT_EQ_INT(c.close_code, 1002);
    finish(&c);
}

HG_TEST(invalid_utf8_text_is_1007)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_frame(&c, 1, 1, "ok\xff\xfe", 4);
    ASSERT_EQ_INT(wait_server_close(&c), 1007);
    ASSERT_EQ_INT(c.nmsg, 0);
    ASSERT_EQ_INT(c.close_code, 1007);
    finish(&c);
}

HG_TEST(truncated_utf8_at_message_end_is_1007)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_frame(&c, 1, 1, "ok\xe2\x82", 4); /* € without its last byte */
    ASSERT_EQ_INT(wait_server_close(&c), 1007);
    ASSERT_EQ_INT(c.nmsg, 0);
    finish(&c);
}

HG_TEST(ping_answered_with_pong)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_frame(&c, 1, 9, "abc", 3);
    cl_frame(&c, 1, 10, "unsolicited", 11); /* ignored */
    cl_frame(&c, 1, 1, "after", 5);
    RUN_UNTIL(&c, nframes(&c) == 2);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f) && f.op == 10 && f.len == 3 && memcmp(f.p, "abc", 3) == 0);
    ASSERT_TRUE(sframe_at(&c, 1, &f) && f.op == 1 && f.len == 5);
    ASSERT_EQ_INT(c.closes, 0);
    finish(&c);
}

HG_TEST(peer_close_echoed_and_on_close_once)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_close(&c, 4001, "bye");
    ASSERT_EQ_INT(wait_server_close(&c), 4001);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f) && f.len == 5 && memcmp(f.p + 2, "bye", 3) == 0);
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 4001);
    ASSERT_EQ_INT(metric("hangar_ws_connections"), 0);
    finish(&c); /* asserts closes == 1 after everything ran */
}

HG_TEST(peer_close_without_code_is_1005)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_frame(&c, 1, 8, "", 0);
    RUN_UNTIL(&c, c.eof && c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 1005);
    finish(&c);
}

static void close_after_three(wsctx_t *c, hg_ws_t *ws, int binary, const char *data, size_t len)
{
    (void)c;
    (void)binary;
    (void)data;
    (void)len;
    ASSERT_OK(hg_ws_send(ws, 0, "one", 3));
    ASSERT_OK(hg_ws_send(ws, 0, "two", 3));
    ASSERT_OK(hg_ws_send(ws, 0, "three", 5));
    char reason[300] = "";
    for (int i = 0; i < 100; i++)
        strcat(reason, "\xc3\xa9"); /* 200 bytes of é: cut to 122 */
    hg_ws_close(ws, 4000, reason);
    ASSERT_EQ_INT(hg_ws_send(ws, 0, "late", 4), HG_ECONFLICT);
    hg_ws_close(ws, 1000, "again"); /* no-op */
}

HG_TEST(server_close_after_queued_messages)
{
    wsctx_t c;
    start(&c);
    c.echo = 0;
    c.hook = close_after_three;
    handshake(&c, NULL);
    cl_frame(&c, 1, 1, "go", 2);
    cl_frame(&c, 1, 1, "dropped", 7); /* arrives after the close was asked: dropped */
    RUN_UNTIL(&c, nframes(&c) == 4);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f) && f.len == 3 && memcmp(f.p, "one", 3) == 0);
    ASSERT_TRUE(sframe_at(&c, 2, &f) && f.len == 5 && memcmp(f.p, "three", 5) == 0);
    ASSERT_TRUE(sframe_at(&c, 3, &f) && f.op == 8);
    ASSERT_EQ_INT(close_code_of(&f), 4000);
    ASSERT_EQ_INT(f.len, 2 + 122);
    ASSERT_EQ_INT(c.closes, 0); /* waiting for our close answer */
    cl_close(&c, 4000, "");
    RUN_UNTIL(&c, c.eof && c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 4000);
    ASSERT_EQ_INT(c.nmsg, 1);
    finish(&c);
}

HG_TEST(send_queue_cap_then_drain)
{
    wsctx_t c;
    start(&c);
    c.lim.max_queue_bytes = 64 * 1024;
    c.lim.max_queue_msgs = 1000;
    handshake(&c, NULL);
    unsigned long long full0 = metric("hangar_ws_send_queue_full_total");
    char kb[1024];
    memset(kb, 'q', sizeof(kb));
    int sent = 0, rc;
    while ((rc = hg_ws_send(c.ws, 1, kb, sizeof(kb))) == 0)
        sent++;
    ASSERT_EQ_INT(rc, HG_ELIMIT);
    /* in one turn nothing has reached the kernel yet: the turn bound (HG_WS_TURN_FACTOR × the
     * cap) is the one that stops it; the per-peer bound counts what the kernel refused */
    ASSERT_EQ_INT(sent, 64 * HG_WS_TURN_FACTOR);
    ASSERT_TRUE(hg_ws_queued_bytes(c.ws) <= HG_WS_TURN_FACTOR * c.lim.max_queue_bytes);
    ASSERT_EQ_INT(hg_ws_send(c.ws, 1, kb, 1), HG_ELIMIT);
    ASSERT_EQ_INT(metric("hangar_ws_send_queue_full_total"), full0 + 2);
    static char huge[128 * 1024];
    ASSERT_EQ_INT(hg_ws_send(c.ws, 1, huge, sizeof(huge)), HG_ELIMIT); /* never fits */
    RUN_UNTIL(&c, nframes(&c) == 64 * HG_WS_TURN_FACTOR);
    RUN_UNTIL(&c, c.drains > 0);
    ASSERT_EQ_INT(hg_ws_queued_bytes(c.ws), 0);
    ASSERT_OK(hg_ws_send(c.ws, 1, kb, sizeof(kb))); /* room again */
    finish(&c);
}

HG_TEST(send_queue_message_cap)
{
    wsctx_t c;
    start(&c);
    c.lim.max_queue_msgs = 10;
    handshake(&c, NULL);
    int sent = 0;
    while (hg_ws_send(c.ws, 0, "m", 1) == 0)
        sent++;
    ASSERT_EQ_INT(sent, 10);
    RUN_UNTIL(&c, nframes(&c) == 10);
    finish(&c);
}

HG_TEST(many_sends_in_one_turn_coalesce)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    for (int i = 0; i < 20; i++)
        uv_run(&c.loop, UV_RUN_NOWAIT);
    unsigned long long w0 = metric("hangar_ws_writes_total");
    for (int i = 0; i < 500; i++) {
        char m[16];
        int n = snprintf(m, sizeof(m), "m%d", i);
        ASSERT_OK(hg_ws_send(c.ws, 0, m, (size_t)n));
    }
    RUN_UNTIL(&c, nframes(&c) == 500);
    ASSERT_EQ_INT(metric("hangar_ws_writes_total") - w0, 1);
    for (int i = 0; i < 500; i += 123) {
        sframe_t f;
        char m[16];
        int n = snprintf(m, sizeof(m), "m%d", i);
        ASSERT_TRUE(sframe_at(&c, i, &f) && f.len == (size_t)n && memcmp(f.p, m, f.len) == 0);
    }
    ASSERT_TRUE(metric("hangar_ws_messages_total{dir=\"out\"}") >= 500);
    finish(&c);
}

HG_TEST(sent_frame_lengths_at_the_header_boundaries)
{
    /* hg_ws_send frames messages itself when wslay has nothing queued: the 7-bit, 16-bit and
     * 64-bit length forms, at their edges, in send order and with payloads intact */
    wsctx_t c;
    start(&c);
    c.lim.max_queue_bytes = 1u << 20;
    handshake(&c, NULL);
    static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    static char body[70000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    for (int i = 0; i < N; i++)
        ASSERT_OK(hg_ws_send(c.ws, i % 2 ? HG_WS_BINARY : HG_WS_TEXT, body, sizes[i]));
    RUN_UNTIL(&c, nframes(&c) == N);
    for (int i = 0; i < N; i++) {
        sframe_t f;
        ASSERT_TRUE(sframe_at(&c, i, &f));
        ASSERT_TRUE(f.fin);
        ASSERT_EQ_INT(f.op, i % 2 ? 2 : 1);
        ASSERT_EQ_INT(f.len, sizes[i]);
        ASSERT_TRUE(memcmp(f.p, body, sizes[i]) == 0);
    }
    /* text the caller vouches for is not checked again (a fan-out checks once) */
    ASSERT_EQ_INT(hg_ws_send(c.ws, HG_WS_TEXT, "\xc3\x28", 2), HG_EINVAL);
    ASSERT_OK(hg_ws_send(c.ws, HG_WS_TEXT_VALID, "{\"ok\":1}", 8));
    RUN_UNTIL(&c, nframes(&c) == N + 1);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, N, &f) && f.op == 1 && f.len == 8 &&
                memcmp(f.p, "{\"ok\":1}", 8) == 0);
    finish(&c);
}

HG_TEST(send_checks)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    ASSERT_EQ_INT(hg_ws_send(c.ws, 0, "\xc3\x28", 2), HG_EINVAL);         /* bad UTF-8 */
    ASSERT_EQ_INT(hg_ws_send(c.ws, 0, "\xed\xa0\x80", 3), HG_EINVAL);     /* surrogate */
    ASSERT_EQ_INT(hg_ws_send(c.ws, 0, "\xc0\xaf", 2), HG_EINVAL);         /* overlong */
    ASSERT_EQ_INT(hg_ws_send(c.ws, 0, "\xf4\x90\x80\x80", 4), HG_EINVAL); /* > U+10FFFF */
    ASSERT_OK(hg_ws_send(c.ws, 1, "\xc3\x28", 2));                        /* binary: anything */
    ASSERT_OK(hg_ws_send(c.ws, 0, "\xf0\x9f\x98\x80 ok", 7));
    ASSERT_OK(hg_ws_send(c.ws, 0, NULL, 0));
    hg_ws_close(c.ws, 1005, NULL); /* not sendable: goes out as 1000 */
    ASSERT_EQ_INT(hg_ws_send(c.ws, 0, "x", 1), HG_ECONFLICT);
    RUN_UNTIL(&c, nframes(&c) == 4);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 3, &f) && f.op == 8 && close_code_of(&f) == 1000 && f.len == 2);
    finish(&c);
}

/* 1012 "service restart", not 1001: the GameLift server SDKs never reconnect after 1000/1001, so a
 * planned restart of hangard would end every game. */
HG_TEST(server_stop_sends_1012_so_clients_reconnect)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    hg_http_server_stop(c.srv, on_stopped, &c);
    RUN_UNTIL(&c, nframes(&c) == 1);
    sframe_t f;
    ASSERT_TRUE(sframe_at(&c, 0, &f) && f.op == 8);
    ASSERT_EQ_INT(close_code_of(&f), 1012);
    ASSERT_TRUE(f.len == 2 + 17 && memcmp(f.p + 2, "server restarting", 17) == 0);
    cl_close(&c, 1012, "");
    RUN_UNTIL(&c, c.eof && c.closes == 1 && c.stopped);
    ASSERT_EQ_INT(c.close_code, 1012);
    finish(&c);
}

HG_TEST(server_stop_unanswered_close_times_out)
{
    wsctx_t c;
    start(&c);
    c.lim.close_timeout_ms = 50;
    handshake(&c, NULL);
    hg_http_server_stop(c.srv, on_stopped, &c);
    RUN_UNTIL(&c, c.eof && c.closes == 1 && c.stopped); /* no answer from the client */
    ASSERT_EQ_INT(nframes(&c), 1);
    ASSERT_EQ_INT(c.close_code, 1012);
    finish(&c);
}

HG_TEST(peer_drop_is_1006)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    cl_frame(&c, 1, 1, "hi", 2);
    RUN_UNTIL(&c, nframes(&c) == 1);
    uv_close((uv_handle_t *)&c.client, NULL);
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 1006);
    ASSERT_EQ_INT(metric("hangar_ws_closes_total{code=\"1006\"}"), 1);
    finish(&c);
}

HG_TEST(peer_reset_is_1006)
{
    wsctx_t c;
    start(&c);
    handshake(&c, NULL);
    ASSERT_OK(uv_tcp_close_reset(&c.client, NULL));
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 1006);
    finish(&c);
}

HG_TEST(silent_peer_pinged_then_dropped)
{
    wsctx_t c;
    start(&c);
    c.lim.ping_interval_ms = 20;
    c.lim.pong_timeout_ms = 30;
    handshake(&c, NULL);
    unsigned long long t0 = metric("hangar_ws_ping_timeouts_total");
    RUN_UNTIL(&c, c.eof && c.closes == 1);
    sframe_t f;
    ASSERT_EQ_INT(nframes(&c), 2);
    ASSERT_TRUE(sframe_at(&c, 0, &f) && f.op == 9);
    ASSERT_TRUE(sframe_at(&c, 1, &f) && f.op == 8 && close_code_of(&f) == 1011);
    ASSERT_EQ_INT(c.close_code, 1006);
    ASSERT_EQ_INT(metric("hangar_ws_ping_timeouts_total"), t0 + 1);
    finish(&c);
}

/* Pinged every 10 ms for longer than the pong timeout, answering each time: stays open. */
HG_TEST(answering_peer_stays_open)
{
    wsctx_t c;
    start(&c);
    c.lim.ping_interval_ms = 10;
    /* generous: the client shares our loop, and CI machines are loaded */
    c.lim.pong_timeout_ms = 400;
    c.auto_pong = 1; /* before the handshake: the first ping may come with the 101 */
    handshake(&c, NULL);
    uint64_t t0 = uv_now(&c.loop);
    RUN_UNTIL(&c, c.seen >= 60 || c.closes > 0); /* 60 rounds: 600 ms at least */
    ASSERT_EQ_INT(c.closes, 0);
    ASSERT_TRUE(uv_now(&c.loop) - t0 > c.lim.pong_timeout_ms);
    finish(&c);
}

/* An idle connection holds no wslay context ("parked"): from the handshake, and again once the
 * ping falls due; its pongs are read while parked; a message unparks it and arrives intact. */
static int count_op(wsctx_t *c, int op, const char *payload)
{
    sframe_t f;
    int n = 0;
    for (int i = 0; sframe_at(c, i, &f); i++)
        if (f.op == op &&
            (payload == NULL || (f.len == strlen(payload) && memcmp(f.p, payload, f.len) == 0)))
            n++;
    return n;
}

HG_TEST(idle_connection_parks_through_pings_and_unparks_for_messages)
{
    wsctx_t c;
    start(&c);
    c.lim.ping_interval_ms = 10;
    c.lim.pong_timeout_ms = 400;
    c.auto_pong = 1;
    unsigned long long p0 = metric("hangar_ws_parked_connections");
    unsigned long long k0 = metric("hangar_ws_parks_total");
    handshake(&c, NULL);
    ASSERT_EQ_INT(metric("hangar_ws_parked_connections"), p0 + 1); /* parked from the start */
    cl_frame(&c, 1, 1, "hello", 5);
    RUN_UNTIL(&c, count_op(&c, 1, "hello") == 1);
    ASSERT_EQ_INT(metric("hangar_ws_parked_connections"), p0); /* wslay read it */
    RUN_UNTIL(&c, count_op(&c, 9, NULL) >= 5 || c.closes > 0); /* pinged, and answering */
    ASSERT_EQ_INT(c.closes, 0);
    /* parked once, at the first ping: the pongs since were read without a context (each one
     * read by wslay would have meant a new context and another park at the next ping) */
    ASSERT_EQ_INT(metric("hangar_ws_parks_total"), k0 + 1);
    ASSERT_EQ_INT(metric("hangar_ws_parked_connections"), p0 + 1);
    /* a fragmented message across an unpark, then a close: all as without parking */
    cl_frame(&c, 0, 1, "wor", 3);
    cl_frame(&c, 1, 0, "ld", 2);
    RUN_UNTIL(&c, count_op(&c, 1, "world") == 1);
    ASSERT_EQ_INT(c.nmsg, 2);
    cl_close(&c, 1000, "bye");
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_EQ_INT(c.close_code, 1000);
    finish(&c);
    ASSERT_EQ_INT(metric("hangar_ws_parked_connections"), p0);
}

/* A peer that floods pings without reading its pongs stops being read: the send queue (pongs)
 * stays bounded, and what it sent waits in the kernel, not in our memory. */
static size_t maxq;

static void sample_queue(uv_check_t *h)
{
    wsctx_t *c = h->data;
    if (c->ws && hg_ws_queued_bytes(c->ws) > maxq)
        maxq = hg_ws_queued_bytes(c->ws);
}

HG_TEST(ping_flood_from_non_reading_peer_is_bounded)
{
    wsctx_t c;
    start(&c);
    c.lim.max_queue_bytes = 16 * 1024;
    handshake(&c, NULL);
    uv_check_t chk;
    uv_check_init(&c.loop, &chk);
    chk.data = &c;
    uv_check_start(&chk, sample_queue);
    cl_read(&c, 0);
    unsigned long long p0 = metric("hangar_ws_read_paused_total");
    hg_buf_t b;
    hg_buf_init(&b);
    char payload[125];
    memset(payload, 'f', sizeof(payload));
    for (int i = 0; i < 2000; i++)
        frame(&b, 1, 9, 1, payload, sizeof(payload)); /* 262 KB of pings per round */
    int rounds = 0, after = 0;
    while (rounds++ < 200 && after < 20) {
        if (metric("hangar_ws_read_paused_total") > p0)
            after++; /* keep pushing a while after the pause */
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c.client) < 4 * b.len)
            cl_send(&c, b.data, b.len);
        for (int k = 0; k < 20; k++)
            uv_run(&c.loop, UV_RUN_NOWAIT);
    }
    hg_buf_free(&b);
    ASSERT_TRUE(metric("hangar_ws_read_paused_total") > p0);
    /* half the cap, plus the pongs of what wslay had already buffered (4 KiB of pings) */
    ASSERT_TRUE(maxq > 0);
    ASSERT_TRUE(maxq <= c.lim.max_queue_bytes / 2 + 8 * 1024);
    ASSERT_EQ_INT(c.closes, 0);
    cl_read(&c, 1); /* the peer reads again: everything flows, reading resumes */
    size_t before = c.in.len;
    RUN_UNTIL(&c, c.in.len > before + 1024 * 1024);
    uv_close((uv_handle_t *)&chk, NULL);
    finish(&c);
}

HG_SUITE(ws) = {
    HG_CASE(idle_connection_parks_through_pings_and_unparks_for_messages),
    HG_CASE(handshake_accept_key_and_subprotocol),
    HG_CASE(subprotocol_only_when_offered),
    HG_CASE(bad_handshakes_rejected),
    HG_CASE(echo_text_and_binary),
    HG_CASE(frames_sent_with_the_handshake),
    HG_CASE(deferred_accept_with_early_frames),
    HG_CASE(upgrade_behind_pipelined_request_is_conflict),
    HG_CASE(frame_split_into_single_bytes),
    HG_CASE(fragmented_100k_reassembled_with_ping_between),
    HG_CASE(utf8_split_across_fragments_is_valid),
    HG_CASE(message_over_max_is_1009),
    HG_CASE(fragmented_message_over_max_is_1009),
    HG_CASE(unmasked_frame_is_1002),
    HG_CASE(oversized_control_frame_is_1002),
    HG_CASE(bad_frame_headers_close_with_1002),
    HG_CASE(bad_frame_header_split_into_single_bytes_is_1002),
    HG_CASE(frames_before_a_bad_header_are_delivered_first),
    HG_CASE(invalid_utf8_text_is_1007),
    HG_CASE(truncated_utf8_at_message_end_is_1007),
    HG_CASE(ping_answered_with_pong),
    HG_CASE(peer_close_echoed_and_on_close_once),
    HG_CASE(peer_close_without_code_is_1005),
    HG_CASE(server_close_after_queued_messages),
    HG_CASE(send_queue_cap_then_drain),
    HG_CASE(send_queue_message_cap),
    HG_CASE(many_sends_in_one_turn_coalesce),
    HG_CASE(sent_frame_lengths_at_the_header_boundaries),
    HG_CASE(send_checks),
    HG_CASE(server_stop_sends_1012_so_clients_reconnect),
    HG_CASE(server_stop_unanswered_close_times_out),
    HG_CASE(peer_drop_is_1006),
    HG_CASE(peer_reset_is_1006),
    HG_CASE(silent_peer_pinged_then_dropped),
    HG_CASE(answering_peer_stays_open),
    HG_CASE(ping_flood_from_non_reading_peer_is_bounded),
    HG_CASE_END,
};
