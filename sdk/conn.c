/* hangar — libhangar-server: one WebSocket client connection on the SDK's I/O loop.
 *
 * A connection resolves the host (uv_getaddrinfo), tries its addresses in turn (uv_tcp_connect),
 * runs TLS for wss:// (OpenSSL over memory BIOs: bytes read from the socket are written into
 * `rbio`, bytes OpenSSL wants to send are drained from `wbio` into `out`), sends the HTTP
 * upgrade, checks the 101 answer and then carries WebSocket messages with wslay (client side:
 * every frame masked with a fresh key from RAND_bytes).
 *
 * DESIGN
 * - Transport: a small const vtable (plain / TLS) with three entries: start after TCP connect,
 *   bytes in from the network, plaintext bytes out. Everything above it (upgrade, wslay) sees
 *   plaintext only.
 * - wslay is driven as in src/ws/ws.c (STYLE.md rule 15): its recv callback serves bytes from
 *   `rx`, its send callback appends frames to `out` and would-blocks beyond OUT_MAX; pump() runs
 *   wslay_event_recv/send until neither makes progress, then one uv_write of `out` leaves. One
 *   write is in flight at a time; bytes produced meanwhile wait in `out` for the next one.
 * - wslay buffers incoming messages (its default mode) and enforces HANGAR_SERVER_MAX_MESSAGE: a
 *   frame header that would take a message past it closes the connection with 1009. It answers
 *   pings and echoes close frames by itself.
 * - Lifetime: the connection frees itself once nothing refers to it: `refs` counts the
 *   connection's own reference (dropped by teardown()), each open handle (TCP, timer) until its
 *   close callback and each request in flight (getaddrinfo, connect, write) until its callback.
 *   Callbacks that find the connection DEAD only drop their reference.
 * - The I/O thread (io.c) hears about a connection through exactly one of hg_sdk_io_conn_open
 *   (then messages, then at most one hg_sdk_io_conn_end) or hg_sdk_io_conn_end, unless it gives
 *   the connection up first (hg_sdk_conn_close/abort); none of these run from inside
 *   hg_sdk_conn_start(), hg_sdk_conn_send(), hg_sdk_conn_close() or hg_sdk_conn_abort().
 *
 * States:
 *
 *     RESOLVING ─▶ CONNECTING ─▶ [TLS] ─▶ UPGRADING ─▶ OPEN ─▶ CLOSING ─▶ DEAD
 *          any state ─ error / timeout / abort ─▶ DEAD
 *
 *     | event                               | function         | effect                          |
 *     |-------------------------------------|------------------|---------------------------------|
 *     | address list                        | on_resolved      | CONNECTING, try_connect         |
 *     | TCP connected                       | on_connect       | TLS (wss) or UPGRADING          |
 *     | TLS handshake done                  | tls_in           | UPGRADING, upgrade request sent |
 *     | 101 with the right accept key       | upgrade_in       | OPEN, hg_sdk_io_conn_open       |
 *     | text message                        | on_msg           | hg_sdk_io_conn_message          |
 *     | peer's close frame / our close sent | pump, check_done | CLOSING until both are done     |
 *     | both closes done, bytes written     | check_done       | DEAD, hg_sdk_io_conn_end(code)  |
 *     | EOF, error, connect/close timeout   | end              | DEAD, hg_sdk_io_conn_end        |
 *     | hg_sdk_conn_close                   |                  | CLOSING, no more callbacks      |
 *     | hg_sdk_conn_abort                   | teardown         | DEAD, no more callbacks         |
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdk_int.h"

#define OUT_MAX (256u * 1024)  /* network bytes queued beyond the write in flight */
#define HS_MAX 8192            /* upgrade answer: header bytes */
#define READ_SIZE (64u * 1024) /* one read from the socket */
#define SEND_QUEUE_MSGS 256    /* messages queued in wslay */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { C_RESOLVING, C_CONNECTING, C_TLS, C_UPGRADING, C_OPEN, C_CLOSING, C_DEAD };

struct hg_sdk_conn {
    hangar_server_t *srv;
    unsigned id;
    int state;
    int opened;    /* hg_sdk_io_conn_open ran */
    int abandoned; /* the I/O thread gave it up: no more callbacks */
    int refs;
    const struct transport *tp;
    hg_sdk_url_t url;
    char *request;   /* the upgrade request */
    char accept[32]; /* the Sec-WebSocket-Accept we expect */
    uv_getaddrinfo_t gai;
    struct addrinfo *ai_list, *ai_next;
    int last_uv_err;
    uv_tcp_t *tcp; /* heap: each address tried gets its own, closed asynchronously */
    uv_connect_t creq;
    uv_timer_t timer; /* connect timeout, then close timeout */
    uv_write_t wreq;
    hg_sdk_buf_t out;  /* network bytes waiting for the next write */
    hg_sdk_buf_t wbuf; /* the bytes of the write in flight */
    int writing;
    char *rbuf; /* READ_SIZE bytes for uv_read */
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int tls_shutdown_sent;
    hg_sdk_buf_t hs; /* upgrade answer so far */
    hg_sdk_buf_t rx; /* plaintext for wslay */
    wslay_event_context_ptr ws;
    int in_pump, pump_again;
};

struct transport {
    const char *name;
    int (*start)(hg_sdk_conn_t *c);                         /* TCP is connected */
    void (*in)(hg_sdk_conn_t *c, const char *d, size_t n);  /* bytes from the network */
    void (*out)(hg_sdk_conn_t *c, const void *d, size_t n); /* plaintext to send */
};

static void pump(hg_sdk_conn_t *c);
static void flush(hg_sdk_conn_t *c);
static void on_timer(uv_timer_t *t);
static void app_in(hg_sdk_conn_t *c, const char *d, size_t n);

/* ---- lifetime ---- */

static void conn_free(hg_sdk_conn_t *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ai_list)
        uv_freeaddrinfo(c->ai_list);
    hg_sdk_url_free(&c->url);
    hg_sdk_buf_free(&c->out);
    hg_sdk_buf_free(&c->wbuf);
    hg_sdk_buf_free(&c->hs);
    hg_sdk_buf_free(&c->rx);
    free(c->request);
    free(c->rbuf);
    free(c);
}

static void unref(hg_sdk_conn_t *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    hg_sdk_conn_t *c = h->data;
    if (h != (uv_handle_t *)&c->timer)
        free(h);
    unref(c);
}

static void close_tcp(hg_sdk_conn_t *c)
{
    if (c->tcp == NULL)
        return;
    uv_close((uv_handle_t *)c->tcp, on_handle_closed);
    c->tcp = NULL;
}

/* Stop everything; the memory goes when the last callback has run. Idempotent. */
static void teardown(hg_sdk_conn_t *c)
{
    if (c->state == C_DEAD)
        return;
    if (c->state == C_RESOLVING)
        uv_cancel((uv_req_t *)&c->gai); /* its callback still runs (UV_EAI_CANCELED) */
    c->state = C_DEAD;
    close_tcp(c);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    unref(c); /* the connection's own reference */
}

/* The connection ended on its own: tell the I/O thread (unless it gave it up), then stop. */
static void end(hg_sdk_conn_t *c, int code, const hangar_server_error_t *err)
{
    if (c->state == C_DEAD)
        return;
    int tell = !c->abandoned;
    c->abandoned = 1;
    c->refs++;
    teardown(c);
    if (tell)
        hg_sdk_io_conn_end(c, c->opened, code, err);
    unref(c);
}

static void fail(hg_sdk_conn_t *c, int code, const char *fmt, const char *detail)
{
    hangar_server_error_t err = {0};
    hg_sdk_err(&err, code, 0, fmt, c->url.hostport, detail);
    end(c, 1006, &err);
}

/* The close code to report for an open connection that ends now. */
static int close_code(hg_sdk_conn_t *c)
{
    if (c->ws && wslay_event_get_close_received(c->ws))
        return wslay_event_get_status_code_received(c->ws);
    return 1006;
}

/* ---- network writes ---- */

static void on_write(uv_write_t *req, int status)
{
    hg_sdk_conn_t *c = req->data;
    c->writing = 0;
    c->wbuf.len = c->wbuf.off = 0;
    if (c->state == C_DEAD) {
        unref(c);
        return;
    }
    if (status < 0) {
        if (c->opened)
            end(c, close_code(c), NULL);
        else
            fail(c, HANGAR_SERVER_ECONNECT, "write to %s: %s", uv_strerror(status));
    } else {
        flush(c);
        pump(c); /* wslay may have would-blocked on a full `out` */
    }
    unref(c);
}

static void flush(hg_sdk_conn_t *c)
{
    if (c->writing || c->tcp == NULL || hg_sdk_buf_avail(&c->out) == 0 || c->state == C_DEAD)
        return;
    hg_sdk_buf_t t = c->wbuf; /* swap: `out` keeps filling while wbuf is written */
    c->wbuf = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init(c->wbuf.data + c->wbuf.off, (unsigned)hg_sdk_buf_avail(&c->wbuf));
    c->wreq.data = c;
    int r = uv_write(&c->wreq, (uv_stream_t *)c->tcp, &b, 1, on_write);
    if (r < 0) {
        fail(c, HANGAR_SERVER_ECONNECT, "write to %s: %s", uv_strerror(r));
        return;
    }
    c->writing = 1;
    c->refs++;
}

/* ---- transports ---- */

static int plain_start(hg_sdk_conn_t *c)
{
    c->state = C_UPGRADING;
    c->tp->out(c, c->request, strlen(c->request));
    flush(c);
    return 0;
}

static void plain_in(hg_sdk_conn_t *c, const char *d, size_t n)
{
    app_in(c, d, n);
}

static void plain_out(hg_sdk_conn_t *c, const void *d, size_t n)
{
    hg_sdk_buf_append(&c->out, d, n);
}

static void tls_drain(hg_sdk_conn_t *c)
{
    char tmp[16384];
    int n;
    while ((n = BIO_read(c->wbio, tmp, sizeof(tmp))) > 0)
        hg_sdk_buf_append(&c->out, tmp, (size_t)n);
}

static void tls_fail(hg_sdk_conn_t *c, const char *what)
{
    char detail[300];
    long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (vr != X509_V_OK)
        snprintf(detail, sizeof(detail), "%s: certificate verification failed: %s", what,
                 X509_verify_cert_error_string(vr));
    else if (e != 0)
        snprintf(detail, sizeof(detail), "%s: %s", what, ERR_reason_error_string(e));
    else
        snprintf(detail, sizeof(detail), "%s failed", what);
    ERR_clear_error();
    fail(c, HANGAR_SERVER_ETLS, "TLS with %s: %s", detail);
}

static SSL_CTX *ssl_ctx(hangar_server_t *srv, hangar_server_error_t *err)
{
    if (srv->ssl_ctx)
        return srv->ssl_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        hg_sdk_err(err, HANGAR_SERVER_ETLS, 0, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (srv->cfg.tls_insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = srv->cfg.tls_ca_file
                     ? SSL_CTX_load_verify_locations(ctx, srv->cfg.tls_ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            ERR_clear_error();
            SSL_CTX_free(ctx);
            hg_sdk_err(err, HANGAR_SERVER_ETLS, 0, "cannot load the trusted certificates from %s",
                       srv->cfg.tls_ca_file ? srv->cfg.tls_ca_file : "the system store");
            return NULL;
        }
    }
    srv->ssl_ctx = ctx;
    return ctx;
}

static int tls_start(hg_sdk_conn_t *c)
{
    hangar_server_error_t err = {0};
    SSL_CTX *ctx = ssl_ctx(c->srv, &err);
    if (ctx == NULL) {
        end(c, 1006, &err);
        return -1;
    }
    ERR_clear_error();
    c->ssl = SSL_new(ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio); /* NULL-safe; not yet owned by ssl */
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        tls_fail(c, "setup");
        return -1;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    if (!c->url.host_is_ip)
        SSL_set_tlsext_host_name(c->ssl, c->url.host); /* SNI: names only (RFC 6066) */
    if (!c->srv->cfg.tls_insecure) {
        int ok = c->url.host_is_ip
                     ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->url.host)
                     : SSL_set1_host(c->ssl, c->url.host);
        if (ok != 1) {
            tls_fail(c, "setup");
            return -1;
        }
    }
    c->state = C_TLS;
    c->tp->in(c, NULL, 0); /* writes the ClientHello */
    return 0;
}

static void tls_in(hg_sdk_conn_t *c, const char *d, size_t n)
{
    if (n > 0)
        BIO_write(c->rbio, d, (int)n);
    ERR_clear_error();
    if (c->state == C_TLS) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                tls_drain(c);
                flush(c);
                return;
            }
            tls_fail(c, "handshake");
            return;
        }
        HG_SDK_DEBUG(c->srv, "tls_connected conn=%u version=%s cipher=%s", c->id,
                     SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        c->state = C_UPGRADING;
        c->tp->out(c, c->request, strlen(c->request));
    }
    char tmp[16384];
    while (c->state != C_DEAD) {
        int r = SSL_read(c->ssl, tmp, sizeof(tmp));
        if (r > 0) {
            app_in(c, tmp, (size_t)r);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: the peer is done */
            if (c->opened)
                end(c, close_code(c), NULL);
            else
                fail(c, HANGAR_SERVER_ECONNECT, "%s closed the connection%s",
                     " during the upgrade");
            return;
        }
        tls_fail(c, "read");
        return;
    }
    if (c->state != C_DEAD) {
        tls_drain(c);
        flush(c);
    }
}

static void tls_out(hg_sdk_conn_t *c, const void *d, size_t n)
{
    if (n == 0)
        return;
    ERR_clear_error();
    if (SSL_write(c->ssl, d, (int)n) <= 0) { /* a memory BIO takes everything: cannot happen */
        tls_fail(c, "write");
        return;
    }
    tls_drain(c);
}

static const struct transport plain_transport = {"tcp", plain_start, plain_in, plain_out};
static const struct transport tls_transport = {"tls", tls_start, tls_in, tls_out};

/* ---- WebSocket (wslay) ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    hg_sdk_conn_t *c = ud;
    size_t n = hg_sdk_buf_avail(&c->rx);
    if (n == 0 || c->state == C_DEAD) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, c->rx.data + c->rx.off, n);
    hg_sdk_buf_consume(&c->rx, n);
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    hg_sdk_conn_t *c = ud;
    if (c->state == C_DEAD || c->out.len >= OUT_MAX) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->tp->out(c, data, len);
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    hg_sdk_random(buf, len);
    return 0;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *ud)
{
    (void)ctx;
    hg_sdk_conn_t *c = ud;
    if (c->state != C_OPEN || c->abandoned)
        return;
    if (a->opcode == WSLAY_TEXT_FRAME)
        hg_sdk_io_conn_message(c, (const char *)a->msg, a->msg_length);
    else if (a->opcode == WSLAY_BINARY_FRAME)
        HG_SDK_DEBUG(c->srv, "binary_message_ignored conn=%u bytes=%zu", c->id, a->msg_length);
    else if (a->opcode == WSLAY_CONNECTION_CLOSE) { /* wslay queues the echo; check_done ends */
        c->state = C_CLOSING;                       /* the connection once it is sent */
        uv_timer_start(&c->timer, on_timer, HG_SDK_CLOSE_WAIT_MS, 0);
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_on_msg,
};

/* Both close frames are done (or reading is shut): end once the last bytes are written. */
static void check_done(hg_sdk_conn_t *c)
{
    if (c->state != C_OPEN && c->state != C_CLOSING)
        return;
    if (wslay_event_want_read(c->ws) || wslay_event_want_write(c->ws))
        return;
    if (c->ssl && !c->tls_shutdown_sent) {
        c->tls_shutdown_sent = 1;
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* close_notify; we do not wait for the peer's */
        tls_drain(c);
        flush(c);
    }
    if (!c->writing && hg_sdk_buf_avail(&c->out) == 0)
        end(c, close_code(c), NULL);
}

static void pump(hg_sdk_conn_t *c)
{
    if (c->in_pump) { /* a send from inside a callback of this pump: loop again */
        c->pump_again = 1;
        return;
    }
    if (c->state != C_OPEN && c->state != C_CLOSING)
        return;
    c->in_pump = 1;
    c->refs++;
    do {
        c->pump_again = 0;
        for (;;) {
            int progress = 0;
            if (c->state == C_DEAD)
                break;
            if (wslay_event_want_read(c->ws) && hg_sdk_buf_avail(&c->rx) > 0) {
                size_t before = hg_sdk_buf_avail(&c->rx);
                if (wslay_event_recv(c->ws) != 0) {
                    fail(c, HANGAR_SERVER_EPROTO, "WebSocket receive from %s failed%s", "");
                    break;
                }
                progress |= hg_sdk_buf_avail(&c->rx) != before;
            }
            if (c->state == C_DEAD)
                break;
            if (wslay_event_want_write(c->ws) && c->out.len < OUT_MAX) {
                size_t before = c->out.len;
                size_t queued = wslay_event_get_queued_msg_count(c->ws);
                if (wslay_event_send(c->ws) != 0) {
                    fail(c, HANGAR_SERVER_EPROTO, "WebSocket send to %s failed%s", "");
                    break;
                }
                progress |=
                    c->out.len != before || wslay_event_get_queued_msg_count(c->ws) != queued;
            }
            if (!progress)
                break;
        }
    } while (c->pump_again && c->state != C_DEAD);
    c->in_pump = 0;
    if (c->state != C_DEAD) {
        flush(c);
        check_done(c);
    }
    unref(c);
}

/* ---- HTTP upgrade ---- */

/* Does the comma-separated header value v (length n) contain token t (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *t)
{
    size_t tl = strlen(t);
    const char *end = v + n;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *s = v;
        while (v < end && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, t, tl) == 0)
            return 1;
    }
    return 0;
}

/* Check the upgrade answer (header block h, hlen bytes up to the blank line; body: the bytes
 * after it already received). */
static int upgrade_check(hg_sdk_conn_t *c, const char *h, size_t hlen, const char *body,
                         size_t blen, hangar_server_error_t *err)
{
    if (hlen < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ')
        return hg_sdk_err(err, HANGAR_SERVER_EPROTO, 0, "%s did not answer with HTTP",
                          c->url.hostport);
    int status = atoi(h + 9);
    if (status != 101) {
        const char *eol = memchr(h, '\r', hlen);
        int slen = (int)((eol ? eol : h + hlen) - h);
        int code = status == 401   ? HANGAR_SERVER_EUNAUTHORIZED
                   : status == 403 ? HANGAR_SERVER_EFORBIDDEN
                                   : HANGAR_SERVER_ECONNECT;
        char snippet[160];
        size_t n = blen < sizeof(snippet) - 1 ? blen : sizeof(snippet) - 1;
        for (size_t i = 0; i < n; i++) /* printable only: it goes into a log line */
            snippet[i] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
        snippet[n] = '\0';
        return hg_sdk_err(err, code, status, "%s refused the WebSocket upgrade: %.*s%s%s",
                          c->url.hostport, slen, h, n ? " " : "", snippet);
    }
    int upgrade = 0, connection = 0, accept = 0;
    const char *p = memchr(h, '\n', hlen), *end = h + hlen;
    while (p && p < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t llen = (size_t)((eol ? eol : end) - line);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        const char *colon = memchr(line, ':', llen);
        if (colon) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vlen = llen - nlen - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (nlen == 7 && strncasecmp(line, "Upgrade", 7) == 0)
                upgrade |= has_token(v, vlen, "websocket");
            else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0)
                connection |= has_token(v, vlen, "upgrade");
            else if (nlen == 20 && strncasecmp(line, "Sec-WebSocket-Accept", 20) == 0)
                accept = vlen == strlen(c->accept) && memcmp(v, c->accept, vlen) == 0;
        }
        p = eol;
    }
    if (!upgrade || !connection || !accept)
        return hg_sdk_err(err, HANGAR_SERVER_EPROTO, 101,
                          "%s answered 101 without a valid WebSocket handshake (%s)",
                          c->url.hostport,
                          !upgrade      ? "Upgrade: websocket missing"
                          : !connection ? "Connection: upgrade missing"
                                        : "wrong Sec-WebSocket-Accept");
    return 0;
}

static void upgrade_in(hg_sdk_conn_t *c, const char *d, size_t n)
{
    hg_sdk_buf_append(&c->hs, d, n);
    const char *h = c->hs.data;
    size_t len = c->hs.len;
    const char *eoh = NULL;
    size_t scan = len < HS_MAX ? len : HS_MAX;
    for (size_t i = 3; i < scan; i++)
        if (h[i] == '\n' && h[i - 1] == '\r' && h[i - 2] == '\n' && h[i - 3] == '\r') {
            eoh = h + i + 1;
            break;
        }
    if (eoh == NULL) {
        if (len >= HS_MAX)
            fail(c, HANGAR_SERVER_EPROTO, "%s sent an upgrade answer over 8 KiB%s", "");
        return;
    }
    hangar_server_error_t err = {0};
    size_t hlen = (size_t)(eoh - h);
    if (upgrade_check(c, h, hlen - 4, eoh, len - hlen, &err) != 0) {
        end(c, 1006, &err);
        return;
    }
    if (wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0) {
        fail(c, HANGAR_SERVER_ESYS, "WebSocket context for %s%s", ": out of memory");
        return;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, HANGAR_SERVER_MAX_MESSAGE);
    hg_sdk_buf_append(&c->rx, eoh, len - hlen); /* frames that came with the answer */
    hg_sdk_buf_free(&c->hs);
    c->state = C_OPEN;
    c->opened = 1;
    uv_timer_stop(&c->timer);
    HG_SDK_DEBUG(c->srv, "websocket_open conn=%u transport=%s", c->id, c->tp->name);
    c->refs++;
    if (!c->abandoned)
        hg_sdk_io_conn_open(c);
    pump(c);
    unref(c);
}

static void app_in(hg_sdk_conn_t *c, const char *d, size_t n)
{
    if (c->state == C_UPGRADING) {
        upgrade_in(c, d, n);
    } else if (c->state == C_OPEN || c->state == C_CLOSING) {
        if (!wslay_event_want_read(c->ws)) /* past the peer's close: what follows is dropped, */
            return;                        /* so `rx` cannot grow without bound */
        hg_sdk_buf_append(&c->rx, d, n);
        pump(c);
    }
}

/* ---- TCP ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    hg_sdk_conn_t *c = h->data;
    *buf = uv_buf_init(c->rbuf, READ_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hg_sdk_conn_t *c = s->data;
    if (nread == 0 || c->state == C_DEAD)
        return;
    if (nread < 0) {
        if (c->opened)
            end(c, close_code(c), NULL);
        else
            fail(c, HANGAR_SERVER_ECONNECT, "%s closed the connection during the handshake (%s)",
                 uv_strerror((int)nread));
        return;
    }
    c->refs++;
    c->tp->in(c, buf->base, (size_t)nread);
    unref(c);
}

static void try_connect(hg_sdk_conn_t *c);

static void on_connect(uv_connect_t *req, int status)
{
    hg_sdk_conn_t *c = req->data;
    if (c->state == C_DEAD) {
        unref(c);
        return;
    }
    if (status < 0) {
        c->last_uv_err = status;
        close_tcp(c);
        try_connect(c);
        unref(c);
        return;
    }
    uv_tcp_nodelay(c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
    if (r < 0)
        fail(c, HANGAR_SERVER_ECONNECT, "read from %s: %s", uv_strerror(r));
    else
        c->tp->start(c);
    unref(c);
}

static void try_connect(hg_sdk_conn_t *c)
{
    while (c->ai_next) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        c->tcp = hg_sdk_malloc(sizeof(*c->tcp));
        uv_tcp_init(&c->srv->loop, c->tcp);
        c->tcp->data = c;
        c->refs++;
        c->creq.data = c;
        int r = uv_tcp_connect(&c->creq, c->tcp, ai->ai_addr, on_connect);
        if (r == 0) {
            c->refs++;
            return;
        }
        c->last_uv_err = r;
        close_tcp(c);
    }
    fail(c, HANGAR_SERVER_ECONNECT, "cannot connect to %s: %s", uv_strerror(c->last_uv_err));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    hg_sdk_conn_t *c = req->data;
    if (c->state == C_DEAD) {
        if (res)
            uv_freeaddrinfo(res);
        unref(c);
        return;
    }
    if (status < 0) {
        fail(c, HANGAR_SERVER_ECONNECT, "cannot resolve %s: %s", uv_strerror(status));
    } else {
        c->ai_list = c->ai_next = res;
        c->state = C_CONNECTING;
        c->last_uv_err = UV_EADDRNOTAVAIL;
        try_connect(c);
    }
    unref(c);
}

static void on_timer(uv_timer_t *t)
{
    hg_sdk_conn_t *c = t->data;
    if (c->state == C_CLOSING || c->state == C_OPEN) {
        end(c, close_code(c), NULL); /* the peer did not finish the close in time */
    } else {
        char ms[32];
        snprintf(ms, sizeof(ms), "%u ms", c->srv->cfg.connect_timeout_ms);
        fail(c, HANGAR_SERVER_ECONNECT, "no WebSocket connection to %s within %s", ms);
    }
}

/* ---- interface ---- */

hg_sdk_conn_t *hg_sdk_conn_start(hangar_server_t *srv, const hg_sdk_url_t *url,
                                 const char *path_query, unsigned id, hangar_server_error_t *err)
{
    if (url->tls && ssl_ctx(srv, err) == NULL)
        return NULL;
    hg_sdk_conn_t *c = hg_sdk_calloc(1, sizeof(*c));
    c->srv = srv;
    c->id = id;
    c->refs = 1;
    c->tp = url->tls ? &tls_transport : &plain_transport;
    c->url.tls = url->tls;
    c->url.host = hg_sdk_strdup(url->host);
    c->url.port = hg_sdk_strdup(url->port);
    c->url.path = hg_sdk_strdup(url->path);
    c->url.hostport = hg_sdk_strdup(url->hostport);
    c->url.host_is_ip = url->host_is_ip;
    c->rbuf = hg_sdk_malloc(READ_SIZE);

    unsigned char key[16];
    char key64[32];
    hg_sdk_random(key, sizeof(key));
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
    char cat[96];
    snprintf(cat, sizeof(cat), "%s%s", key64, WS_GUID);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    EVP_EncodeBlock((unsigned char *)c->accept, sha, sizeof(sha));
    hg_sdk_buf_t rq = {0};
    hg_sdk_buf_printf(&rq,
                      "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                      "User-Agent: " HG_SDK_TOOL_NAME "/" HANGAR_SERVER_VERSION_STRING "\r\n\r\n",
                      path_query, url->hostport, key64);
    hg_sdk_buf_append(&rq, "", 1);
    c->request = rq.data;

    uv_timer_init(&srv->loop, &c->timer);
    c->timer.data = c;
    c->refs++;
    uv_timer_start(&c->timer, on_timer, srv->cfg.connect_timeout_ms, 0);

    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    c->state = C_RESOLVING;
    int r = uv_getaddrinfo(&srv->loop, &c->gai, on_resolved, c->url.host, c->url.port, &hints);
    if (r < 0) {
        hg_sdk_err(err, HANGAR_SERVER_ECONNECT, 0, "cannot resolve %s: %s", c->url.host,
                   uv_strerror(r));
        c->abandoned = 1;
        c->state = C_CONNECTING; /* nothing to cancel */
        teardown(c);
        return NULL;
    }
    c->refs++;
    HG_SDK_DEBUG(srv, "connecting conn=%u host=%s port=%s transport=%s", id, c->url.host,
                 c->url.port, c->tp->name);
    return c;
}

int hg_sdk_conn_send(hg_sdk_conn_t *c, const char *text, size_t len)
{
    if (c->state != C_OPEN)
        return HANGAR_SERVER_ECLOSED;
    if (wslay_event_get_queued_msg_count(c->ws) >= SEND_QUEUE_MSGS)
        return HANGAR_SERVER_ELIMIT;
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(c->ws, &m) != 0)
        return HANGAR_SERVER_ECLOSED;
    pump(c);
    return 0;
}

void hg_sdk_conn_close(hg_sdk_conn_t *c, int code)
{
    c->abandoned = 1;
    if (c->state == C_OPEN) {
        wslay_event_queue_close(c->ws, (uint16_t)code, NULL, 0);
        c->state = C_CLOSING;
        uv_timer_start(&c->timer, on_timer, HG_SDK_CLOSE_WAIT_MS, 0);
        pump(c);
    } else if (c->state != C_CLOSING) {
        teardown(c);
    }
}

void hg_sdk_conn_abort(hg_sdk_conn_t *c)
{
    c->abandoned = 1;
    teardown(c);
}

unsigned hg_sdk_conn_id(const hg_sdk_conn_t *c)
{
    return c->id;
}

hangar_server_t *hg_sdk_conn_srv(const hg_sdk_conn_t *c)
{
    return c->srv;
}
