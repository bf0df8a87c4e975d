/* hangar — outbound webhooks (see webhook.h): queued JSON POSTs to http(s) URLs, one connection
 * per attempt, retried with exponential backoff, all on the loop.
 *
 * DESIGN
 * Two objects with separate lifetimes:
 * - A delivery is what the caller asked for: the request bytes (built once at post time, in a
 *   refcounted blob), the target, how many attempts it has had and its state. It belongs to the
 *   sender and is freed the moment it ends (delivered, failed, dropped).
 * - An attempt is one try of one delivery: a timer, a resolver request, one socket per address
 *   tried, a TLS session, a response parser. It holds a reference per libuv handle or request
 *   still open and is freed when the last one is released (close callbacks, the resolver's
 *   callback). When it ends, or is cancelled, it is detached (`w` and `d` set to NULL) and from
 *   then on its callbacks touch nothing but itself, so the sender and the delivery never wait
 *   for the loop to finish closing an attempt (rule 10).
 *
 * Delivery states:
 *
 *            post                  slot free                        2xx answer
 *   ─────────────────▶ READY ─────────────────────▶ INFLIGHT ─────────────────▶ delivered
 *                        ▲                             │  failure, attempts left
 *                        │ due                         ▼
 *                        └─────────────────────── BACKOFF
 *                                        INFLIGHT ── failure, no attempts left ─▶ failed
 *   READY/BACKOFF ── queue overflow ─▶ dropped          any ── stop ─▶ dropped
 *
 *   | from     | event                         | to        | function                       |
 *   |----------|-------------------------------|-----------|--------------------------------|
 *   | —        | hg_webhook_post()             | READY     | hg_webhook_post                |
 *   | READY    | fewer than max_inflight run   | INFLIGHT  | pump → attempt_start           |
 *   | INFLIGHT | 2xx answer                    | delivered | attempt_ended                  |
 *   | INFLIGHT | failure, tries < attempts     | BACKOFF   | attempt_ended                  |
 *   | INFLIGHT | failure, tries == attempts    | failed    | attempt_ended                  |
 *   | BACKOFF  | its due time passed           | READY     | on_retry_timer                 |
 *   | READY,   | a post finds max_queue        | dropped   | drop_oldest_waiting            |
 *   | BACKOFF  |   deliveries (oldest first)   |           |                                |
 *   | any      | hg_webhook_stop()             | dropped   | hg_webhook_stop                |
 *
 * An attempt: [resolve] → connect (next address on failure) → [TLS handshake] → write the
 * request → read until the answer's headers are complete → end. One timer bounds the whole;
 * the first outcome wins (`done`). Lists: `all` holds every delivery in post order (the order
 * overflow drops in); `ready` is FIFO; `backoff` is sorted by due time, and one timer of the
 * sender is armed for its head.
 */
#include "net/webhook.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/tls.h"

/* Addresses of one name tried per attempt, in the resolver's order. */
#define MAX_ADDRS 4
/* Longest delay between two attempts, whatever backoff_ms and attempts say. */
#define MAX_BACKOFF_MS (10u * 60u * 1000u)
#define READ_CHUNK 8192

/* The request bytes, shared by a delivery and its attempt in flight. */
typedef struct blob {
    int refs;
    size_t len;
    char data[];
} blob_t;

enum { D_READY, D_BACKOFF, D_INFLIGHT };

typedef struct attempt attempt_t;

typedef struct delivery {
    hg_list_t all; /* in w->all, post order */
    hg_list_t q;   /* in w->ready or w->backoff; unlinked while in flight */
    int state;
    attempt_t *att; /* INFLIGHT */
    uint32_t tries; /* attempts started */
    uint64_t due_ms;
    int tls;
    uint16_t port;
    char host[HG_WEBHOOK_MAX_HOST + 1];
    blob_t *req;
} delivery_t;

struct hg_webhook {
    uv_loop_t *loop;
    hg_webhook_limits_t lim;
    hg_tls_ctx_t *tls; /* NULL: https deliveries fail with tls_why */
    char tls_why[256];
    uv_timer_t retry_timer;
    hg_list_t all, ready, backoff;
    size_t count;    /* deliveries in `all` */
    size_t inflight; /* attempts attached to a delivery */
    uint64_t delivered, failed, retried, dropped;
    int pumping;
    int stopped;
    int timer_closed;
    int free_pending;
};

/* One socket: its handle and connect request, freed by its close callback. */
typedef struct sock {
    uv_tcp_t tcp;
    uv_connect_t conn;
    attempt_t *a;
} sock_t;

struct attempt {
    hg_webhook_t *w; /* NULL once detached */
    delivery_t *d;   /* NULL once detached */
    uv_loop_t *loop;
    blob_t *req; /* a reference */
    int tls_wanted;
    char host[HG_WEBHOOK_MAX_HOST + 1];
    uint16_t port;
    const char *phase; /* for the timeout's reason */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct sockaddr_storage addrs[MAX_ADDRS];
    int naddrs, next_addr;
    char connect_err[96];
    sock_t *sock; /* the socket in use; NULL between tries and once ended */
    uv_write_t plain_write;
    hg_tls_t *tls;
    int sent; /* the request is queued for writing */
    http_parser parser;
    size_t resp_bytes;
    int status; /* final (>= 200) status once the answer's headers are complete */
    int refs;
    int done;
    char rbuf[READ_CHUNK];
};

/* Ciphertext being written; owns its bytes. */
typedef struct cipher_write {
    uv_write_t req;
    attempt_t *a;
    hg_buf_t buf;
} cipher_write_t;

/* The sender whose counters /metrics shows. */
static hg_webhook_t *metrics_owner;

static void pump(hg_webhook_t *w);
static void attempt_ended(hg_webhook_t *w, delivery_t *d, int ok, const char *reason);
static void connect_next(attempt_t *a);

/* ---- small helpers ---- */

static blob_t *blob_ref(blob_t *b)
{
    b->refs++;
    return b;
}

static void blob_unref(blob_t *b)
{
    if (b != NULL && --b->refs == 0)
        hg_free(b);
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

static size_t or_default_size(size_t v, size_t def)
{
    return v ? v : def;
}

/* A parsed URL: the pieces a request needs. */
typedef struct url {
    int tls;
    uint16_t port;
    int port_given;
    int ipv6;
    char host[HG_WEBHOOK_MAX_HOST + 1];
    const char *target; /* path and query, into the URL; "/" when absent */
    size_t target_len;
} url_t;

/* Parse url (rules in webhook.h). Returns 0 or HG_EINVAL with err saying why. */
static int url_parse(const char *url, url_t *out, hg_error_t *err)
{
    struct http_parser_url u;
    size_t n = strnlen(url, HG_WEBHOOK_MAX_URL + 1);
    memset(out, 0, sizeof(*out));
    if (n > HG_WEBHOOK_MAX_URL)
        return hg_error_set(err, HG_EINVAL, "URL longer than %d bytes", HG_WEBHOOK_MAX_URL);
    /* the URL becomes part of the request line: no spaces, controls or non-ASCII bytes */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return hg_error_set(err, HG_EINVAL, "URL contains a space, control or non-ASCII byte");
    http_parser_url_init(&u);
    if (n == 0 || http_parser_parse_url(url, n, 0, &u) != 0)
        return hg_error_set(err, HG_EINVAL, "not a URL");
    if (!(u.field_set & (1 << UF_SCHEMA)))
        return hg_error_set(err, HG_EINVAL, "URL has no scheme (http:// or https://)");
    const char *scheme = url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    if (slen == 4 && strncasecmp(scheme, "http", 4) == 0)
        out->tls = 0;
    else if (slen == 5 && strncasecmp(scheme, "https", 5) == 0)
        out->tls = 1;
    else
        return hg_error_set(err, HG_EINVAL, "URL scheme must be http or https");
    if (!(u.field_set & (1 << UF_HOST)) || u.field_data[UF_HOST].len == 0)
        return hg_error_set(err, HG_EINVAL, "URL has no host");
    if (u.field_data[UF_HOST].len > HG_WEBHOOK_MAX_HOST)
        return hg_error_set(err, HG_EINVAL, "URL host longer than %d bytes", HG_WEBHOOK_MAX_HOST);
    if (u.field_set & (1 << UF_USERINFO))
        return hg_error_set(err, HG_EINVAL, "URL must not carry user info");
    const char *host = url + u.field_data[UF_HOST].off;
    size_t hlen = u.field_data[UF_HOST].len;
    for (size_t i = 0; i < hlen; i++)
        out->host[i] = (char)tolower((unsigned char)host[i]);
    out->host[hlen] = '\0';
    out->ipv6 = host > url && host[-1] == '[';
    out->port = out->tls ? 443 : 80;
    if (u.field_set & (1 << UF_PORT)) {
        if (u.port == 0)
            return hg_error_set(err, HG_EINVAL, "URL port must be 1-65535");
        out->port = u.port;
        out->port_given = 1;
    }
    if (u.field_set & (1 << UF_PATH)) {
        out->target = url + u.field_data[UF_PATH].off;
        out->target_len = u.field_data[UF_PATH].len;
        if (u.field_set & (1 << UF_QUERY))
            out->target_len =
                u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len - u.field_data[UF_PATH].off;
    } else {
        out->target = "/";
        out->target_len = 1;
    }
    return 0;
}

int hg_webhook_url_host(const char *url, char *out, size_t cap)
{
    url_t u;
    int rc = url_parse(url, &u, NULL);
    if (rc < 0)
        return rc;
    size_t n = strlen(u.host);
    if (n + 1 > cap)
        return HG_ELIMIT;
    memcpy(out, u.host, n + 1);
    return 0;
}

/* ---- attempts ---- */

static void attempt_release(attempt_t *a)
{
    if (--a->refs > 0)
        return;
    hg_tls_free(a->tls);
    blob_unref(a->req);
    hg_free(a);
}

static void on_attempt_timer_closed(uv_handle_t *h)
{
    attempt_release(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *s = h->data;
    attempt_t *a = s->a;
    hg_free(s);
    attempt_release(a);
}

static void sock_close(attempt_t *a)
{
    if (a->sock == NULL)
        return;
    uv_close((uv_handle_t *)&a->sock->tcp, on_sock_closed);
    a->sock = NULL;
}

/* End a: close everything it holds (it is freed when the last reference goes). A TLS session
 * says goodbye (close_notify, or the alert explaining a failure) if the socket takes it now. */
static void attempt_close(attempt_t *a)
{
    a->done = 1;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_attempt_timer_closed);
    if (a->gai_pending)
        uv_cancel((uv_req_t *)&a->gai); /* its callback still runs and releases */
    if (a->sock != NULL && a->tls != NULL) {
        hg_tls_shutdown(a->tls);
        if (hg_tls_pending(a->tls) > 0) {
            hg_buf_t b;
            hg_buf_init(&b);
            hg_tls_take(a->tls, &b);
            uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
            (void)uv_try_write((uv_stream_t *)&a->sock->tcp, &ub, 1);
            hg_buf_free(&b);
        }
    }
    sock_close(a);
}

/* The first outcome of a: report it to its delivery (if still attached) and close. ok 1: a 2xx
 * answer; otherwise fmt says why. */
static void finish(attempt_t *a, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(attempt_t *a, int ok, const char *fmt, ...)
{
    if (a->done)
        return;
    char reason[192] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
    }
    hg_webhook_t *w = a->w;
    delivery_t *d = a->d;
    a->w = NULL;
    a->d = NULL;
    attempt_close(a);
    if (d != NULL)
        attempt_ended(w, d, ok, reason);
}

static void on_attempt_timeout(uv_timer_t *t)
{
    attempt_t *a = t->data;
    finish(a, 0, "timed out %s", a->phase);
}

static int on_headers_complete(http_parser *p)
{
    attempt_t *a = p->data;
    if (p->status_code >= 200) {
        a->status = p->status_code;
        http_parser_pause(p, 1); /* the body does not matter */
    }
    return 0; /* 1xx: an interim answer, the final one follows */
}

static const http_parser_settings answer_settings = {.on_headers_complete = on_headers_complete};

/* Answer bytes (plaintext). Ends the attempt once the status is known or the answer is bad. */
static void answer_input(attempt_t *a, const char *data, size_t len)
{
    int over = 0;
    if (len > HG_WEBHOOK_MAX_RESPONSE - a->resp_bytes) {
        len = HG_WEBHOOK_MAX_RESPONSE - a->resp_bytes;
        over = 1;
    }
    a->resp_bytes += len;
    if (len > 0)
        http_parser_execute(&a->parser, &answer_settings, data, len);
    if (a->status != 0) {
        if (a->status >= 200 && a->status < 300)
            finish(a, 1, NULL);
        else
            finish(a, 0, "answered HTTP %d", a->status);
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&a->parser);
    if (e != HPE_OK)
        finish(a, 0, "malformed answer: %s", http_errno_description(e));
    else if (over || a->resp_bytes >= HG_WEBHOOK_MAX_RESPONSE)
        finish(a, 0, "answer headers longer than %d bytes", HG_WEBHOOK_MAX_RESPONSE);
}

/* The peer closed (TCP EOF or TLS close_notify) or the read failed. */
static void answer_end(attempt_t *a, ssize_t nread)
{
    if (nread == UV_EOF) {
        http_parser_execute(&a->parser, &answer_settings, NULL, 0);
        answer_input(a, NULL, 0);
        finish(a, 0, "connection closed %s", a->phase);
    } else {
        finish(a, 0, "read failed %s: %s", a->phase, uv_strerror((int)nread));
    }
}

static void on_plain_write(uv_write_t *req, int status)
{
    attempt_t *a = req->data;
    if (status < 0 && status != UV_ECANCELED)
        finish(a, 0, "write failed: %s", uv_strerror(status));
}

static void on_cipher_write(uv_write_t *req, int status)
{
    cipher_write_t *cw = (cipher_write_t *)req;
    attempt_t *a = cw->a;
    hg_buf_free(&cw->buf);
    hg_free(cw);
    if (status < 0 && status != UV_ECANCELED)
        finish(a, 0, "write failed: %s", uv_strerror(status));
}

/* Write every record the TLS engine has waiting. Returns 0, or <0 after ending the attempt. */
static int tls_flush(attempt_t *a)
{
    if (hg_tls_pending(a->tls) == 0)
        return 0;
    cipher_write_t *cw = hg_malloc(sizeof(*cw));
    cw->a = a;
    hg_buf_init(&cw->buf);
    hg_tls_take(a->tls, &cw->buf);
    uv_buf_t b = uv_buf_init(cw->buf.data, (unsigned)cw->buf.len);
    int rc = uv_write(&cw->req, (uv_stream_t *)&a->sock->tcp, &b, 1, on_cipher_write);
    if (rc < 0) {
        hg_buf_free(&cw->buf);
        hg_free(cw);
        finish(a, 0, "write failed: %s", uv_strerror(rc));
    }
    return rc;
}

/* Ciphertext from the peer: advance the handshake, send the request once it completed, hand
 * the plaintext to the answer parser. */
static void tls_input(attempt_t *a, const char *data, size_t len)
{
    char plain[READ_CHUNK];
    int rc;
    if (len > 0)
        hg_tls_feed(a->tls, data, len);
    while ((rc = hg_tls_read(a->tls, plain, sizeof(plain))) > 0) {
        answer_input(a, plain, (size_t)rc);
        if (a->done)
            return;
    }
    if (rc == HG_TLS_ERROR) {
        finish(a, 0, "TLS: %s", hg_tls_error(a->tls));
        return;
    }
    if (!a->sent && hg_tls_established(a->tls)) {
        a->sent = 1;
        a->phase = "waiting for the answer";
        if (hg_tls_write(a->tls, a->req->data, a->req->len) < 0) {
            finish(a, 0, "TLS: %s", hg_tls_error(a->tls));
            return;
        }
    }
    if (tls_flush(a) < 0)
        return;
    if (rc == HG_TLS_EOF)
        answer_end(a, UV_EOF);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    attempt_t *a = ((sock_t *)h->data)->a;
    (void)suggested;
    b->base = a->rbuf;
    b->len = sizeof(a->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    attempt_t *a = ((sock_t *)st->data)->a;
    if (a->done || nread == 0)
        return;
    if (nread < 0)
        answer_end(a, nread);
    else if (a->tls != NULL)
        tls_input(a, buf->base, (size_t)nread);
    else
        answer_input(a, buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
    sock_t *s = req->data;
    attempt_t *a = s->a;
    if (a->done)
        return; /* cancelled: the socket is closing */
    if (status < 0) {
        snprintf(a->connect_err, sizeof(a->connect_err), "%s", uv_strerror(status));
        sock_close(a);
        connect_next(a);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, on_read);
    if (rc < 0) {
        finish(a, 0, "read failed: %s", uv_strerror(rc));
        return;
    }
    if (a->tls_wanted) {
        a->phase = "in the TLS handshake";
        a->tls = hg_tls_client_new(a->w->tls, a->host);
        tls_input(a, NULL, 0); /* makes the ClientHello */
        return;
    }
    a->sent = 1;
    a->phase = "waiting for the answer";
    a->plain_write.data = a;
    uv_buf_t b = uv_buf_init(a->req->data, (unsigned)a->req->len);
    rc = uv_write(&a->plain_write, (uv_stream_t *)&s->tcp, &b, 1, on_plain_write);
    if (rc < 0)
        finish(a, 0, "write failed: %s", uv_strerror(rc));
}

/* Connect to the next address not tried yet; ends the attempt when none is left. */
static void connect_next(attempt_t *a)
{
    while (a->next_addr < a->naddrs) {
        sock_t *s = hg_calloc(1, sizeof(*s));
        s->a = a;
        uv_tcp_init(a->loop, &s->tcp);
        s->tcp.data = s;
        s->conn.data = s;
        a->sock = s;
        a->refs++; /* released by on_sock_closed */
        a->phase = "connecting";
        int rc = uv_tcp_connect(&s->conn, &s->tcp,
                                (const struct sockaddr *)&a->addrs[a->next_addr++], on_connect);
        if (rc == 0)
            return;
        snprintf(a->connect_err, sizeof(a->connect_err), "%s", uv_strerror(rc));
        sock_close(a);
    }
    finish(a, 0, "connect failed: %s", a->connect_err[0] ? a->connect_err : "no address");
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    attempt_t *a = g->data;
    a->gai_pending = 0;
    if (!a->done) {
        if (status < 0) {
            finish(a, 0, "DNS: %s", uv_strerror(status));
        } else {
            for (struct addrinfo *ai = res; ai != NULL && a->naddrs < MAX_ADDRS; ai = ai->ai_next) {
                if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
                    ai->ai_addrlen > sizeof(a->addrs[0]))
                    continue;
                memcpy(&a->addrs[a->naddrs], ai->ai_addr, ai->ai_addrlen);
                set_port(&a->addrs[a->naddrs], a->port);
                a->naddrs++;
            }
            connect_next(a);
        }
    }
    if (res != NULL)
        uv_freeaddrinfo(res);
    attempt_release(a); /* the resolver's reference */
}

/* Start the next attempt of d (READY). May end it at once (and report) when it cannot start. */
static void attempt_start(hg_webhook_t *w, delivery_t *d)
{
    attempt_t *a = hg_calloc(1, sizeof(*a));
    a->w = w;
    a->d = d;
    a->loop = w->loop;
    a->req = blob_ref(d->req);
    a->tls_wanted = d->tls;
    memcpy(a->host, d->host, sizeof(a->host));
    a->port = d->port;
    a->phase = "resolving";
    http_parser_init(&a->parser, HTTP_RESPONSE);
    a->parser.data = a;
    d->state = D_INFLIGHT;
    d->att = a;
    d->tries++;
    w->inflight++;
    uv_timer_init(w->loop, &a->timer);
    a->timer.data = a;
    a->refs = 1; /* the timer's, released by its close callback */
    uv_timer_start(&a->timer, on_attempt_timeout, w->lim.timeout_ms, 0);
    if (d->tls && w->tls == NULL) {
        finish(a, 0, "no TLS trust store: %s", w->tls_why);
        return;
    }
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&a->addrs[0]) == 0 ||
        uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&a->addrs[0]) == 0) {
        a->naddrs = 1;
        connect_next(a);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    a->gai.data = a;
    a->gai_pending = 1;
    a->refs++; /* the resolver's, released by on_resolved */
    int rc = uv_getaddrinfo(w->loop, &a->gai, on_resolved, a->host, NULL, &hints);
    if (rc < 0) {
        a->gai_pending = 0;
        a->refs--;
        finish(a, 0, "DNS: %s", uv_strerror(rc));
    }
}

/* ---- deliveries ---- */

static void delivery_free(hg_webhook_t *w, delivery_t *d)
{
    hg_list_remove(&d->all);
    if (hg_list_linked(&d->q))
        hg_list_remove(&d->q);
    blob_unref(d->req);
    hg_free(d);
    w->count--;
}

static void on_retry_timer(uv_timer_t *t);

static void schedule_retry_timer(hg_webhook_t *w)
{
    if (w->stopped || hg_list_empty(&w->backoff))
        return;
    delivery_t *d = hg_container_of(w->backoff.next, delivery_t, q);
    uint64_t now = uv_now(w->loop);
    uv_timer_start(&w->retry_timer, on_retry_timer, d->due_ms > now ? d->due_ms - now : 0, 0);
}

static void on_retry_timer(uv_timer_t *t)
{
    hg_webhook_t *w = t->data;
    uint64_t now = uv_now(w->loop);
    while (!hg_list_empty(&w->backoff)) {
        delivery_t *d = hg_container_of(w->backoff.next, delivery_t, q);
        if (d->due_ms > now)
            break;
        hg_list_remove(&d->q);
        d->state = D_READY;
        hg_list_insert_tail(&w->ready, &d->q);
    }
    pump(w);
    schedule_retry_timer(w);
}

/* Start attempts while slots are free. Re-entered from an attempt that ends at once: the outer
 * call carries on. */
static void pump(hg_webhook_t *w)
{
    if (w->pumping)
        return;
    w->pumping = 1;
    while (!w->stopped && w->inflight < w->lim.max_inflight && !hg_list_empty(&w->ready)) {
        delivery_t *d = hg_container_of(w->ready.next, delivery_t, q);
        hg_list_remove(&d->q);
        attempt_start(w, d);
    }
    w->pumping = 0;
}

/* Delay before the attempt after `tries` failed ones: backoff_ms doubled tries-1 times. */
static uint64_t backoff_delay(const hg_webhook_t *w, uint32_t tries)
{
    uint64_t delay = w->lim.backoff_ms;
    for (uint32_t i = 1; i < tries && delay < MAX_BACKOFF_MS; i++)
        delay *= 2;
    return delay < MAX_BACKOFF_MS ? delay : MAX_BACKOFF_MS;
}

static void attempt_ended(hg_webhook_t *w, delivery_t *d, int ok, const char *reason)
{
    w->inflight--;
    d->att = NULL;
    if (ok) {
        w->delivered++;
        HG_LOG(HG_LOG_DEBUG, "webhook", "delivered host=%s attempts=%u", d->host, d->tries);
        delivery_free(w, d);
    } else if (d->tries < w->lim.attempts) {
        w->retried++;
        d->state = D_BACKOFF;
        d->due_ms = uv_now(w->loop) + backoff_delay(w, d->tries);
        HG_LOG(HG_LOG_DEBUG, "webhook", "attempt failed host=%s attempt=%u reason=\"%s\"", d->host,
               d->tries, reason);
        hg_list_t *pos = w->backoff.prev; /* sorted by due time: insert after the last earlier */
        while (pos != &w->backoff && hg_container_of(pos, delivery_t, q)->due_ms > d->due_ms)
            pos = pos->prev;
        hg_list_insert_tail(pos->next, &d->q);
        schedule_retry_timer(w);
    } else {
        w->failed++;
        HG_LOG(HG_LOG_WARN, "webhook", "delivery failed host=%s port=%u attempts=%u reason=\"%s\"",
               d->host, (unsigned)d->port, d->tries, reason);
        delivery_free(w, d);
    }
    pump(w);
}

/* Drop the oldest delivery not in flight. Returns 0, or -1 when every delivery is in flight. */
static int drop_oldest_waiting(hg_webhook_t *w)
{
    hg_list_t *pos;
    hg_list_foreach (pos, &w->all) {
        delivery_t *d = hg_container_of(pos, delivery_t, all);
        if (d->state == D_INFLIGHT)
            continue;
        w->dropped++;
        HG_LOG(HG_LOG_WARN, "webhook",
               "delivery dropped host=%s reason=\"queue full (%zu deliveries)\"", d->host,
               w->lim.max_queue);
        delivery_free(w, d);
        return 0;
    }
    return -1;
}

int hg_webhook_post(hg_webhook_t *w, const char *url, const char *body, size_t len, hg_error_t *err)
{
    url_t u;
    int rc;
    if (w->stopped)
        return hg_error_set(err, HG_ESHUTDOWN, "webhooks are stopping");
    if ((rc = url_parse(url, &u, err)) < 0)
        return rc;
    if (len > w->lim.max_body)
        return hg_error_set(err, HG_ELIMIT, "webhook body of %zu bytes exceeds %zu", len,
                            w->lim.max_body);
    if (w->count >= w->lim.max_queue && drop_oldest_waiting(w) < 0) {
        w->dropped++;
        HG_LOG(HG_LOG_WARN, "webhook", "delivery dropped host=%s reason=\"queue full in flight\"",
               u.host);
        return hg_error_set(err, HG_ELIMIT, "webhook queue full (%zu deliveries in flight)",
                            w->count);
    }
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_printf(&b, "POST %.*s HTTP/1.1\r\nHost: %s%s%s", (int)u.target_len, u.target,
                  u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "");
    if (u.port_given && u.port != (u.tls ? 443 : 80))
        hg_buf_printf(&b, ":%u", (unsigned)u.port);
    hg_buf_printf(&b,
                  "\r\nUser-Agent: hangard\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  len);
    blob_t *blob = hg_malloc(sizeof(*blob) + b.len + len);
    blob->refs = 1;
    blob->len = b.len + len;
    memcpy(blob->data, b.data, b.len);
    if (len > 0)
        memcpy(blob->data + b.len, body, len);
    hg_buf_free(&b);

    delivery_t *d = hg_calloc(1, sizeof(*d));
    d->req = blob;
    d->tls = u.tls;
    d->port = u.port;
    memcpy(d->host, u.host, sizeof(d->host));
    d->state = D_READY;
    hg_list_insert_tail(&w->all, &d->all);
    hg_list_insert_tail(&w->ready, &d->q);
    w->count++;
    pump(w);
    return 0;
}

/* ---- the sender ---- */

static void render(hg_buf_t *out, void *ud)
{
    hg_webhook_t *w = ud;
    hg_buf_printf(out,
                  "# HELP hangar_webhook_deliveries_total Webhook deliveries ended, by result "
                  "(dropped: queue overflow or shutdown).\n"
                  "# TYPE hangar_webhook_deliveries_total counter\n"
                  "hangar_webhook_deliveries_total{result=\"delivered\"} %llu\n"
                  "hangar_webhook_deliveries_total{result=\"failed\"} %llu\n"
                  "hangar_webhook_deliveries_total{result=\"dropped\"} %llu\n"
                  "# HELP hangar_webhook_retries_total Webhook attempts that failed and were "
                  "scheduled again.\n"
                  "# TYPE hangar_webhook_retries_total counter\n"
                  "hangar_webhook_retries_total %llu\n"
                  "# HELP hangar_webhook_queued Webhook deliveries waiting for a slot or a retry.\n"
                  "# TYPE hangar_webhook_queued gauge\nhangar_webhook_queued %zu\n"
                  "# HELP hangar_webhook_inflight Webhook attempts running.\n"
                  "# TYPE hangar_webhook_inflight gauge\nhangar_webhook_inflight %zu\n",
                  (unsigned long long)w->delivered, (unsigned long long)w->failed,
                  (unsigned long long)w->dropped, (unsigned long long)w->retried,
                  w->count - w->inflight, w->inflight);
}

int hg_webhook_new(uv_loop_t *loop, const hg_webhook_limits_t *lim, hg_webhook_t **out,
                   hg_error_t *err)
{
    int rc = HG_OK;
    hg_webhook_limits_t l = {0};
    hg_tls_ctx_t *tls = NULL;
    hg_webhook_t *w = NULL;
    hg_error_t terr;

    *out = NULL;
    if (lim != NULL)
        l = *lim;
    l.max_queue = or_default_size(l.max_queue, HG_WEBHOOK_DEFAULT_MAX_QUEUE);
    l.max_body = or_default_size(l.max_body, HG_WEBHOOK_DEFAULT_MAX_BODY);
    l.timeout_ms = or_default(l.timeout_ms, HG_WEBHOOK_DEFAULT_TIMEOUT_MS);
    l.attempts = or_default(l.attempts, HG_WEBHOOK_DEFAULT_ATTEMPTS);
    l.backoff_ms = or_default(l.backoff_ms, HG_WEBHOOK_DEFAULT_BACKOFF_MS);
    l.max_inflight = or_default_size(l.max_inflight, HG_WEBHOOK_DEFAULT_MAX_INFLIGHT);
    hg_error_clear(&terr);
    rc = hg_tls_client_ctx_new(l.ca_file, l.tls_insecure, &tls, &terr);
    if (rc < 0 && l.ca_file != NULL) {
        rc = hg_error_set(err, rc, "webhook ca-file: %s", hg_error_message(&terr));
        goto out;
    }
    if (rc < 0)
        HG_LOG(HG_LOG_WARN, "webhook", "https deliveries will fail: %s", hg_error_message(&terr));
    rc = HG_OK;
    l.ca_file = NULL; /* borrowed for this call only */

    w = hg_calloc(1, sizeof(*w));
    w->loop = loop;
    w->lim = l;
    w->tls = tls;
    tls = NULL;
    if (w->tls == NULL)
        snprintf(w->tls_why, sizeof(w->tls_why), "%s", hg_error_message(&terr));
    hg_list_init(&w->all);
    hg_list_init(&w->ready);
    hg_list_init(&w->backoff);
    uv_timer_init(loop, &w->retry_timer);
    w->retry_timer.data = w;
    metrics_owner = w;
    hg_metrics_register("webhook", render, w);
    *out = w;
out:
    hg_tls_ctx_free(tls);
    return rc;
}

static void sender_free(hg_webhook_t *w)
{
    hg_tls_ctx_free(w->tls);
    hg_free(w);
}

static void on_retry_timer_closed(uv_handle_t *h)
{
    hg_webhook_t *w = h->data;
    w->timer_closed = 1;
    if (w->free_pending)
        sender_free(w);
}

void hg_webhook_stop(hg_webhook_t *w)
{
    if (w == NULL || w->stopped)
        return;
    w->stopped = 1;
    uv_timer_stop(&w->retry_timer);
    uv_close((uv_handle_t *)&w->retry_timer, on_retry_timer_closed);
    size_t n = w->count;
    while (!hg_list_empty(&w->all)) {
        delivery_t *d = hg_container_of(w->all.next, delivery_t, all);
        if (d->att != NULL) {
            attempt_t *a = d->att;
            a->w = NULL;
            a->d = NULL;
            attempt_close(a);
            w->inflight--;
        }
        w->dropped++;
        delivery_free(w, d);
    }
    if (n > 0)
        HG_LOG(HG_LOG_INFO, "webhook", "stopping: %zu deliveries dropped", n);
}

void hg_webhook_free(hg_webhook_t *w)
{
    if (w == NULL)
        return;
    hg_webhook_stop(w);
    if (metrics_owner == w) {
        hg_metrics_unregister("webhook");
        metrics_owner = NULL;
    }
    if (w->timer_closed)
        sender_free(w);
    else
        w->free_pending = 1;
}

void hg_webhook_stats(const hg_webhook_t *w, hg_webhook_stats_t *out)
{
    out->delivered = w->delivered;
    out->failed = w->failed;
    out->retried = w->retried;
    out->dropped = w->dropped;
    out->inflight = w->inflight;
    out->queued = w->count - w->inflight;
}
