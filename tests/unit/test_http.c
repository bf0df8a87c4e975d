/* Unit tests: the HTTP/1.1 server — pipelined answers in request order even when handlers answer
 * out of order, limits answered with the right status, keep-alive, orphaned requests. The client
 * is a libuv TCP connection on the same loop. Then TLS on the same port (sniffed per
 * connection): TLS 1.2 and 1.3 clients, plain clients beside them, pipelining, large answers,
 * garbage and stalled handshakes, upgraded streams over TLS. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "http/http.h"
#include "http/proxyhdr.h"
#include "test.h"

typedef struct ctx {
    uv_loop_t loop;
    hg_http_server_t *srv;
    uv_tcp_t client;
    uv_connect_t conn;
    uv_write_t w, w2;
    hg_buf_t in;
    const char *send;
    size_t send_len;
    int eof;
    hg_http_req_t *held[16]; /* deferred answers */
    int nheld;
    int defer;
    int stopped;
} ctx_t;

static void handler(hg_http_req_t *req, void *ud)
{
    ctx_t *c = ud;
    if (c->defer && c->nheld < 16) {
        c->held[c->nheld++] = req;
        return;
    }
    char body[256];
    int n = snprintf(body, sizeof(body), "%.*s|%zu", (int)req->path_len, req->path, req->body_len);
    if (req->path_len == 5 && memcmp(req->path, "/peer", 5) == 0) /* who the server says it is */
        n = snprintf(body, sizeof(body), "peer=%s", hg_http_conn_peer(hg_http_req_conn(req)));
    hg_http_respond(req, 200, "text/plain", NULL, body, (size_t)n);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)h;
    static char buf[65536];
    (void)s;
    b->base = buf;
    b->len = sizeof(buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    ctx_t *c = s->data;
    if (n < 0) {
        c->eof = 1;
        uv_read_stop(s);
        return;
    }
    hg_buf_append(&c->in, b->base, (size_t)n);
}

static void on_write(uv_write_t *w, int st)
{
    (void)w;
    ASSERT_EQ_INT(st, 0);
}

static void on_connect(uv_connect_t *r, int st)
{
    ctx_t *c = r->data;
    ASSERT_EQ_INT(st, 0);
    uv_buf_t b = uv_buf_init((char *)c->send, (unsigned)c->send_len);
    uv_write(&c->w, (uv_stream_t *)&c->client, &b, 1, on_write);
    uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_read);
}

static void start(ctx_t *c, const char *send, size_t len, size_t max_body)
{
    memset(c, 0, sizeof(*c));
    uv_loop_init(&c->loop);
    hg_buf_init(&c->in);
    hg_http_limits_t lim = {.max_header_bytes = 1024,
                            .max_headers = 16,
                            .max_body = max_body,
                            .max_pipeline = 4,
                            .max_conns = 8,
                            .idle_timeout_ms = 60000,
                            .request_timeout_ms = 60000};
    ASSERT_OK(hg_http_server_new(&c->loop, &lim, handler, c, &c->srv));
    ASSERT_OK(hg_http_server_listen(c->srv, "127.0.0.1", 0));
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", hg_http_server_port(c->srv), &a);
    uv_tcp_init(&c->loop, &c->client);
    c->client.data = c;
    c->conn.data = c;
    c->send = send;
    c->send_len = len;
    ASSERT_OK(uv_tcp_connect(&c->conn, &c->client, (struct sockaddr *)&a, on_connect));
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void run_until(ctx_t *c, int responses)
{
    for (int i = 0; i < 2000 && !c->eof; i++) {
        if (c->in.data && count(c->in.data, "HTTP/1.1 ") >= responses && responses > 0)
            break;
        uv_run(&c->loop, UV_RUN_ONCE);
    }
}

static void on_stopped(void *ud)
{
    ((ctx_t *)ud)->stopped = 1;
}

static void finish(ctx_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->client))
        uv_close((uv_handle_t *)&c->client, NULL);
    hg_http_server_stop(c->srv, on_stopped, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    ASSERT_TRUE(c->stopped);
    hg_http_server_free(c->srv);
    hg_buf_free(&c->in);
    ASSERT_OK(uv_loop_close(&c->loop)); /* nothing left open */
}

HG_TEST(pipelined_in_order_when_answered_out_of_order)
{
    static const char reqs[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                               "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                               "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    c.defer = 1;
    while (c.nheld < 3)
        uv_run(&c.loop, UV_RUN_ONCE);
    /* answer in reverse order: nothing may be written until /a is answered */
    hg_http_respond(c.held[2], 200, "text/plain", NULL, "c", 1);
    hg_http_respond(c.held[1], 201, "text/plain", NULL, "b", 1);
    for (int i = 0; i < 20; i++)
        uv_run(&c.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(c.in.len, 0);
    hg_http_respond(c.held[0], 200, "text/plain", "X-Test: 1\r\n", "a", 1);
    run_until(&c, 3);
    const char *a = strstr(c.in.data, "\r\n\r\na"), *b = strstr(c.in.data, "\r\n\r\nb"),
               *cc = strstr(c.in.data, "\r\n\r\nc");
    ASSERT_TRUE(a && b && cc && a < b && b < cc);
    ASSERT_TRUE(strstr(c.in.data, "HTTP/1.1 201 Created") != NULL);
    ASSERT_TRUE(strstr(c.in.data, "X-Test: 1") != NULL);
    finish(&c);
}

/* Start c with one request that the handler holds unanswered, its traffic over. */
static void hold_one(ctx_t *c, const char *req, size_t len)
{
    start(c, req, len, 1024);
    c->defer = 1;
    while (c->nheld < 1)
        uv_run(&c->loop, UV_RUN_ONCE);
    for (int i = 0; i < 20; i++)
        uv_run(&c->loop, UV_RUN_NOWAIT);
}

static void answer_held_from_timer(uv_timer_t *t)
{
    ctx_t *c = t->data;
    hg_http_respond(c->held[0], 200, "text/plain", NULL, "late", 4);
    c->nheld = -1; /* answered */
}

HG_TEST(answer_from_a_timer_leaves_before_the_loop_blocks)
{
    /* Answers are flushed after the poll phase (coalesced); one made in the timer phase must
     * still go out before the loop next blocks in poll, not after the next I/O event or the
     * server's 1 s sweep. The client is on the same loop: written before poll, the answer is
     * read in that same poll, within the iteration whose timer made it. */
    static const char req[] = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n";
    ctx_t c;
    hold_one(&c, req, sizeof(req) - 1);
    uv_timer_t t;
    uv_timer_init(&c.loop, &t);
    t.data = &c;
    uv_timer_start(&t, answer_held_from_timer, 1, 0);
    while (c.nheld != -1)
        uv_run(&c.loop, UV_RUN_ONCE);
    /* the timer may have run last in that iteration (libuv runs due timers again after poll):
     * one more iteration writes it before its poll, which reads it */
    uv_run(&c.loop, UV_RUN_ONCE);
    ASSERT_TRUE(c.in.len > 0 && strstr(c.in.data, "\r\n\r\nlate") != NULL);
    uv_close((uv_handle_t *)&t, NULL);
    finish(&c);
}

static int prepare_timeout = -2;

static void answer_held_from_prepare(uv_prepare_t *p)
{
    ctx_t *c = p->data;
    uv_prepare_stop(p);
    hg_http_respond(c->held[0], 200, "text/plain", NULL, "prep", 4);
    c->nheld = -1;
    /* what the coming poll will wait: it must not block with an answer unwritten */
    prepare_timeout = uv_backend_timeout(&c->loop);
}

HG_TEST(answer_from_a_prepare_callback_does_not_let_the_loop_block)
{
    /* The prepare phase runs only the prepare handles active when it began, so an answer made
     * in one must not rely on a flusher started then: the coming poll would block (here until
     * the 1 s sweep) with the answer unwritten. */
    static const char req[] = "GET /p HTTP/1.1\r\nHost: x\r\n\r\n";
    ctx_t c;
    hold_one(&c, req, sizeof(req) - 1);
    uv_prepare_t p;
    uv_prepare_init(&c.loop, &p);
    p.data = &c;
    uv_prepare_start(&p, answer_held_from_prepare);
    while (c.nheld != -1)
        uv_run(&c.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(prepare_timeout, 0);
    while (!(c.in.len > 0 && strstr(c.in.data, "\r\n\r\nprep")))
        uv_run(&c.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&p, NULL);
    finish(&c);
}

HG_TEST(body_over_limit_is_413_and_closed)
{
    static const char reqs[] = "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    run_until(&c, 0);
    ASSERT_TRUE(c.eof);
    ASSERT_TRUE(strncmp(c.in.data, "HTTP/1.1 413 ", 13) == 0);
    ASSERT_TRUE(strstr(c.in.data, "RequestEntityTooLargeException") != NULL);
    finish(&c);
}

HG_TEST(chunked_body_over_limit_is_413)
{
    static const char reqs[] = "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "400\r\n"; /* a 1024-byte chunk... */
    static char buf[4096];
    size_t n = strlen(reqs);
    memcpy(buf, reqs, n);
    memset(buf + n, 'x', 1100); /* ...and more bytes than the 1000-byte limit */
    ctx_t c;
    start(&c, buf, n + 1100, 1000);
    run_until(&c, 0);
    ASSERT_TRUE(c.in.data && strncmp(c.in.data, "HTTP/1.1 413 ", 13) == 0);
    finish(&c);
}

HG_TEST(headers_over_limit_is_431)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(buf + n, 'y', 2000);
    memcpy(buf + n + 2000, "\r\n\r\n", 4);
    ctx_t c;
    start(&c, buf, (size_t)n + 2004, 1024);
    run_until(&c, 0);
    ASSERT_TRUE(c.in.data && strncmp(c.in.data, "HTTP/1.1 431 ", 13) == 0);
    finish(&c);
}

HG_TEST(too_many_headers_is_431)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20; i++)
        hg_buf_printf(&b, "H%d: v\r\n", i);
    hg_buf_puts(&b, "\r\n");
    ctx_t c;
    start(&c, b.data, b.len, 1024);
    run_until(&c, 0);
    ASSERT_TRUE(c.in.data && strncmp(c.in.data, "HTTP/1.1 431 ", 13) == 0);
    finish(&c);
    hg_buf_free(&b);
}

HG_TEST(garbage_is_400_and_closed)
{
    static const char reqs[] = "NOT HTTP AT ALL\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    run_until(&c, 0);
    ASSERT_TRUE(c.eof);
    ASSERT_TRUE(c.in.data && strncmp(c.in.data, "HTTP/1.1 400 ", 13) == 0);
    finish(&c);
}

HG_TEST(pipeline_cap_pauses_then_resumes)
{
    hg_buf_t b;
    hg_buf_init(&b);
    for (int i = 0; i < 12; i++) /* 3x the cap of 4 */
        hg_buf_printf(&b, "GET /r%d HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n", i);
    ctx_t c;
    start(&c, b.data, b.len, 1024);
    run_until(&c, 12);
    ASSERT_EQ_INT(count(c.in.data, "HTTP/1.1 200"), 12);
    const char *prev = c.in.data;
    for (int i = 0; i < 12; i++) {
        char want[16];
        snprintf(want, sizeof(want), "/r%d|0", i);
        const char *p = strstr(prev, want);
        ASSERT_NOT_NULL(p);
        prev = p;
    }
    finish(&c);
    hg_buf_free(&b);
}

HG_TEST(connection_close_then_orphaned_answer)
{
    static const char reqs[] = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    c.defer = 1;
    while (c.nheld < 1)
        uv_run(&c.loop, UV_RUN_ONCE);
    /* the client resets the connection before the answer */
    ASSERT_OK(uv_tcp_close_reset(&c.client, NULL));
    for (int i = 0; i < 50 && hg_http_server_conns(c.srv) > 0; i++)
        uv_run(&c.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(hg_http_server_conns(c.srv), 0);
    hg_http_respond(c.held[0], 200, "text/plain", NULL, "late", 4); /* must not crash or leak */
    finish(&c);
}

HG_TEST(headers_visible_to_handler)
{
    static const char reqs[] = "GET /h?q=1 HTTP/1.1\r\nHost: example:80\r\nX-Amz-Target: "
                               "GameLift.Op\r\nX-Empty:\r\nConnection: close\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    c.defer = 1;
    while (c.nheld < 1)
        uv_run(&c.loop, UV_RUN_ONCE);
    hg_http_req_t *r = c.held[0];
    ASSERT_EQ_INT(r->nheaders, 4);
    const hg_http_header_t *t = hg_http_req_header(r, "x-amz-target");
    ASSERT_NOT_NULL(t);
    ASSERT_EQ_INT(t->value_len, 11);
    ASSERT_TRUE(memcmp(t->value, "GameLift.Op", 11) == 0);
    const hg_http_header_t *e = hg_http_req_header(r, "X-Empty");
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_INT(e->value_len, 0);
    ASSERT_EQ_INT(r->query_len, 3);
    ASSERT_TRUE(memcmp(r->query, "q=1", 3) == 0);
    ASSERT_EQ_INT(r->path_len, 2);
    hg_http_respond(r, 200, "text/plain", NULL, "ok", 2);
    run_until(&c, 0);
    ASSERT_TRUE(c.eof); /* Connection: close honoured */
    ASSERT_TRUE(strstr(c.in.data, "Connection: close") != NULL);
    finish(&c);
}

static uv_shutdown_t shut;

HG_TEST(half_closed_client_still_gets_its_answer)
{
    static const char reqs[] = "GET /half HTTP/1.1\r\nHost: x\r\n\r\n";
    ctx_t c;
    start(&c, reqs, sizeof(reqs) - 1, 1024);
    c.defer = 1;
    while (c.nheld < 1)
        uv_run(&c.loop, UV_RUN_ONCE);
    ASSERT_OK(uv_shutdown(&shut, (uv_stream_t *)&c.client, NULL));
    for (int i = 0; i < 20; i++)
        uv_run(&c.loop, UV_RUN_NOWAIT); /* the server sees EOF while the answer is pending */
    hg_http_respond(c.held[0], 200, "text/plain", NULL, "late", 4);
    run_until(&c, 0);
    ASSERT_TRUE(c.eof);
    ASSERT_TRUE(c.in.data && strstr(c.in.data, "\r\n\r\nlate") != NULL);
    finish(&c);
}

/* ---- TLS on the same port ----
 *
 * The server runs on this thread's loop; each client runs in a thread with a blocking socket and
 * an OpenSSL client on memory BIOs (so a test can send its bytes in small pieces), and wakes the
 * loop through a uv_async_t when it is done. A throwaway self-signed P-256 certificate is made
 * with the OpenSSL API in a temporary directory. */

#define BIG_LEN (1536 * 1024) /* a 1.5 MiB answer: more than the socket buffers hold */

typedef struct tls_env {
    char dir[64], cert[96], key[96], other_key[96];
} tls_env_t;

static void write_key(const char *path, EVP_PKEY *pk)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
}

static void make_cert(tls_env_t *e)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-test-tls-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    snprintf(e->cert, sizeof(e->cert), "%s/cert.pem", e->dir);
    snprintf(e->key, sizeof(e->key), "%s/key.pem", e->dir);
    snprintf(e->other_key, sizeof(e->other_key), "%s/other.pem", e->dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    EVP_PKEY *other = EVP_EC_gen("P-256");
    ASSERT_TRUE(pk != NULL && other != NULL);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    ASSERT_TRUE(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(e->cert, "w");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(PEM_write_X509(f, x) == 1);
    fclose(f);
    write_key(e->key, pk);
    write_key(e->other_key, other);
    X509_free(x);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
}

static void drop_cert(tls_env_t *e)
{
    unlink(e->cert);
    unlink(e->key);
    unlink(e->other_key);
    rmdir(e->dir);
}

typedef struct client client_t;

typedef struct tctx {
    uv_loop_t loop;
    hg_http_server_t *srv;
    uv_async_t done_async;
    int done;
    tls_env_t env;
    char *big;
    int saw_tls; /* hg_http_conn_is_tls() of the last request's connection */
    int nrequests;
    /* the upgraded stream (/up): echoes lines upper-cased, "bye" closes gracefully */
    hg_http_conn_t *stream;
    hg_buf_t stream_in;
    int drains;
    int stream_closed;
    int stopped;
} tctx_t;

static void up_data(void *ud, const char *data, size_t len)
{
    tctx_t *t = ud;
    hg_buf_append(&t->stream_in, data, len);
    char *nl;
    while (t->stream && (nl = memchr(t->stream_in.data, '\n', t->stream_in.len))) {
        size_t n = (size_t)(nl - t->stream_in.data) + 1;
        if (n == 4 && memcmp(t->stream_in.data, "bye\n", 4) == 0) {
            hg_http_conn_close(t->stream, 1);
            t->stream = NULL;
        } else {
            char line[256];
            ASSERT_TRUE(n <= sizeof(line));
            for (size_t i = 0; i < n; i++)
                line[i] = (char)toupper((unsigned char)t->stream_in.data[i]);
            ASSERT_OK(hg_http_conn_write(t->stream, line, n));
        }
        hg_buf_consume(&t->stream_in, n);
    }
}

static void up_drain(void *ud)
{
    ((tctx_t *)ud)->drains++;
}

static void up_closed(void *ud)
{
    tctx_t *t = ud;
    t->stream_closed = 1;
    t->stream = NULL;
}

static const hg_http_stream_cb_t up_cbs = {
    .on_data = up_data, .on_drain = up_drain, .on_shutdown = NULL, .on_closed = up_closed};

static void tls_handler(hg_http_req_t *req, void *ud)
{
    tctx_t *t = ud;
    t->nrequests++;
    hg_http_conn_t *conn = hg_http_req_conn(req);
    t->saw_tls = hg_http_conn_is_tls(conn);
    if (req->path_len == 4 && memcmp(req->path, "/big", 4) == 0) {
        hg_http_respond(req, 200, "text/plain", NULL, t->big, BIG_LEN);
        return;
    }
    if (req->path_len == 3 && memcmp(req->path, "/up", 3) == 0) {
        ASSERT_OK(hg_http_upgrade(req,
                                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\n"
                                  "Connection: Upgrade\r\n\r\n",
                                  &up_cbs, t, &t->stream));
        ASSERT_TRUE(hg_http_conn_is_tls(t->stream) == t->saw_tls);
        ASSERT_OK(hg_http_conn_write(t->stream, "welcome\n", 8));
        return;
    }
    char body[256];
    int n = snprintf(body, sizeof(body), "%.*s|%zu", (int)req->path_len, req->path, req->body_len);
    hg_http_respond(req, 200, "text/plain", NULL, body, (size_t)n);
}

static void on_done_async(uv_async_t *a)
{
    ((tctx_t *)a->data)->done = 1;
}

static void tls_start(tctx_t *t, int with_tls, uint32_t request_timeout_ms)
{
    memset(t, 0, sizeof(*t));
    uv_loop_init(&t->loop);
    hg_buf_init(&t->stream_in);
    t->big = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        t->big[i] = (char)('a' + i % 26);
    hg_http_limits_t lim = {.max_header_bytes = 4096,
                            .max_headers = 16,
                            .max_body = 65536,
                            .max_pipeline = 4,
                            .max_conns = 8,
                            .idle_timeout_ms = 60000,
                            .request_timeout_ms = request_timeout_ms};
    ASSERT_OK(hg_http_server_new(&t->loop, &lim, tls_handler, t, &t->srv));
    ASSERT_EQ_INT(hg_http_server_tls(t->srv), 0);
    if (with_tls) {
        make_cert(&t->env);
        hg_error_t err;
        hg_error_clear(&err);
        int rc = hg_http_server_set_tls(t->srv, t->env.cert, t->env.key, &err);
        if (rc != 0)
            HG_FAIL_("set_tls: %s", hg_error_message(&err));
        ASSERT_EQ_INT(hg_http_server_tls(t->srv), 1);
    }
    ASSERT_OK(hg_http_server_listen(t->srv, "127.0.0.1", 0));
    uv_async_init(&t->loop, &t->done_async, on_done_async);
    t->done_async.data = t;
}

static void tls_stopped(void *ud)
{
    ((tctx_t *)ud)->stopped = 1;
}

static void tls_finish(tctx_t *t)
{
    uv_close((uv_handle_t *)&t->done_async, NULL);
    hg_http_server_stop(t->srv, tls_stopped, t);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    ASSERT_TRUE(t->stopped);
    hg_http_server_free(t->srv);
    hg_buf_free(&t->stream_in);
    free(t->big);
    if (t->env.dir[0])
        drop_cert(&t->env);
    ASSERT_OK(uv_loop_close(&t->loop)); /* nothing left open */
}

/* ---- the client (its own thread, blocking socket, OpenSSL on memory BIOs) ---- */

struct client {
    /* set by the test */
    int port;
    int tls;          /* 0: plain TCP */
    int max_version;  /* TLS1_2_VERSION, TLS1_3_VERSION or 0 for the library's default */
    const char *send; /* sent after the handshake */
    size_t send_len;
    size_t chunk;      /* send the first flight (ClientHello or `send`) this many bytes a time */
    size_t record;     /* TLS: put `send` in records of this many bytes, sent together */
    int rcvbuf;        /* SO_RCVBUF, 0: default */
    int read_delay_ms; /* wait before reading the answer (lets the server's writes queue) */
    void (*script)(client_t *cl); /* NULL: send `send`, then read until the server closes */
    uv_async_t *done;
    /* results */
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int version;
    int eof;          /* the server closed the connection */
    int close_notify; /* ... after a close_notify */
    int error;
    char why[256];
    hg_buf_t got;
    pthread_t thread;
};

static int cl_send_raw(client_t *cl, const char *p, size_t n, size_t chunk)
{
    while (n > 0) {
        size_t k = chunk && chunk < n ? chunk : n;
        ssize_t w = send(cl->fd, p, k, MSG_NOSIGNAL);
        if (w <= 0) {
            snprintf(cl->why, sizeof(cl->why), "send: %s", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
        if (chunk && n > 0)
            usleep(2000); /* separate reads on the server side */
    }
    return 0;
}

/* Send every record the client engine has waiting. */
static int cl_flush(client_t *cl, size_t chunk)
{
    char buf[16384];
    BIO *w = SSL_get_wbio(cl->ssl);
    int n;
    while ((n = BIO_read(w, buf, sizeof(buf))) > 0)
        if (cl_send_raw(cl, buf, (size_t)n, chunk) < 0)
            return -1;
    return 0;
}

/* Read what the socket has into the engine (or into got when plain). 0 on EOF, <0 on error. */
static int cl_fill(client_t *cl)
{
    char buf[16384];
    ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
    if (n < 0) {
        snprintf(cl->why, sizeof(cl->why), "recv: %s", strerror(errno));
        return -1;
    }
    if (n == 0)
        return 0;
    if (cl->tls)
        BIO_write(SSL_get_rbio(cl->ssl), buf, (int)n);
    else
        hg_buf_append(&cl->got, buf, (size_t)n);
    return 1;
}

static int cl_connect(client_t *cl)
{
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (cl->rcvbuf)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &cl->rcvbuf, sizeof(cl->rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(cl->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        snprintf(cl->why, sizeof(cl->why), "connect: %s", strerror(errno));
        return -1;
    }
    if (!cl->tls)
        return 0;
    cl->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_NONE, NULL); /* as the GameLift C++ SDK */
    if (cl->max_version) {
        SSL_CTX_set_min_proto_version(cl->ctx, cl->max_version);
        SSL_CTX_set_max_proto_version(cl->ctx, cl->max_version);
    }
    cl->ssl = SSL_new(cl->ctx);
    SSL_set_bio(cl->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_tlsext_host_name(cl->ssl, "127.0.0.1"); /* SNI even for an IP, as the C++ SDK */
    SSL_set_connect_state(cl->ssl);
    size_t chunk = cl->chunk;
    for (;;) {
        int r = SSL_do_handshake(cl->ssl);
        if (cl_flush(cl, chunk) < 0)
            return -1;
        chunk = 0;
        if (r == 1)
            break;
        if (SSL_get_error(cl->ssl, r) != SSL_ERROR_WANT_READ) {
            snprintf(cl->why, sizeof(cl->why), "handshake: %s",
                     ERR_error_string(ERR_get_error(), NULL));
            return -1;
        }
        if (cl_fill(cl) <= 0) {
            snprintf(cl->why + strlen(cl->why), sizeof(cl->why) - strlen(cl->why),
                     " (closed during the handshake)");
            return -1;
        }
    }
    cl->version = SSL_version(cl->ssl);
    return 0;
}

static int cl_write(client_t *cl, const char *p, size_t n, size_t chunk)
{
    if (!cl->tls)
        return cl_send_raw(cl, p, n, chunk);
    for (size_t off = 0; off < n;) {
        size_t k = cl->record && cl->record < n - off ? cl->record : n - off;
        if (SSL_write(cl->ssl, p + off, (int)k) != (int)k)
            return -1;
        off += k;
    }
    return cl_flush(cl, chunk);
}

/* Read until got holds `until` (NULL: until the server closes). Returns 0 when found / closed. */
static int cl_read(client_t *cl, const char *until)
{
    for (;;) {
        if (until && cl->got.data && strstr(cl->got.data, until))
            return 0;
        if (cl->tls) {
            char buf[16384];
            int n = SSL_read(cl->ssl, buf, sizeof(buf));
            if (n > 0) {
                hg_buf_append(&cl->got, buf, (size_t)n);
                continue;
            }
            int e = SSL_get_error(cl->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN) {
                cl->close_notify = 1;
                cl->eof = 1;
                return until ? -1 : 0;
            }
            if (e != SSL_ERROR_WANT_READ) {
                snprintf(cl->why, sizeof(cl->why), "SSL_read: %s",
                         ERR_error_string(ERR_get_error(), NULL));
                return -1;
            }
        }
        int r = cl_fill(cl);
        if (r < 0)
            return -1;
        if (r == 0) {
            cl->eof = 1;
            return until ? -1 : 0;
        }
    }
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    hg_buf_init(&cl->got);
    if (cl_connect(cl) < 0) {
        cl->error = 1;
    } else if (cl->script) {
        cl->script(cl);
    } else if (cl_write(cl, cl->send, cl->send_len, cl->tls ? 0 : cl->chunk) < 0) {
        cl->error = 1;
    } else {
        if (cl->read_delay_ms)
            usleep((useconds_t)cl->read_delay_ms * 1000);
        if (cl_read(cl, NULL) < 0)
            cl->error = 1;
    }
    uv_async_send(cl->done);
    return NULL;
}

/* Run the client against t's server until it is done; the loop serves meanwhile. */
static void run_client(tctx_t *t, client_t *cl)
{
    cl->port = hg_http_server_port(t->srv);
    cl->done = &t->done_async;
    t->done = 0;
    ASSERT_OK(pthread_create(&cl->thread, NULL, client_main, cl));
    while (!t->done)
        uv_run(&t->loop, UV_RUN_ONCE);
    pthread_join(cl->thread, NULL);
    if (cl->ssl)
        SSL_free(cl->ssl);
    if (cl->ctx)
        SSL_CTX_free(cl->ctx);
    if (cl->fd > 0)
        close(cl->fd);
    /* let the server see the close */
    for (int i = 0; i < 200 && hg_http_server_conns(t->srv) > 0; i++)
        uv_run(&t->loop, UV_RUN_NOWAIT);
}

static void client_free(client_t *cl)
{
    hg_buf_free(&cl->got);
}

static const char one_req[] = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

static void check_hello(client_t *cl)
{
    if (cl->error)
        HG_FAIL_("client failed: %s", cl->why);
    ASSERT_TRUE(cl->eof);
    ASSERT_NOT_NULL(cl->got.data);
    ASSERT_TRUE(strncmp(cl->got.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_NOT_NULL(strstr(cl->got.data, "\r\n\r\n/hello|0"));
}

static int metric(const char *line)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_metrics_render(&b);
    int found = b.data && strstr(b.data, line) != NULL;
    hg_buf_free(&b);
    return found;
}

HG_TEST(tls12_client_gets_200)
{
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 1, .max_version = TLS1_2_VERSION, .send = one_req};
    cl.send_len = strlen(one_req);
    run_client(&t, &cl);
    check_hello(&cl);
    ASSERT_EQ_INT(cl.version, TLS1_2_VERSION);
    ASSERT_TRUE(cl.close_notify); /* the server said goodbye properly */
    ASSERT_EQ_INT(t.saw_tls, 1);
    ASSERT_TRUE(metric("hangar_http_tls_handshakes_total{result=\"ok\"} 1\n"));
    ASSERT_TRUE(metric("hangar_http_tls_handshakes_total{result=\"failed\"} 0\n"));
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(tls13_client_gets_200)
{
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 1, .max_version = TLS1_3_VERSION, .send = one_req};
    cl.send_len = strlen(one_req);
    run_client(&t, &cl);
    check_hello(&cl);
    ASSERT_EQ_INT(cl.version, TLS1_3_VERSION);
    ASSERT_EQ_INT(t.saw_tls, 1);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(tls_handshake_in_one_byte_pieces)
{
    /* The first read holds only the 0x16 byte, and every record arrives in pieces. */
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 1, .chunk = 1, .send = one_req};
    cl.send_len = strlen(one_req);
    run_client(&t, &cl);
    check_hello(&cl);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(plain_client_on_the_tls_port)
{
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 0, .send = one_req, .chunk = 1};
    cl.send_len = strlen(one_req);
    run_client(&t, &cl);
    check_hello(&cl);
    ASSERT_EQ_INT(t.saw_tls, 0);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(tls_pipelined_requests_in_order)
{
    hg_buf_t b;
    hg_buf_init(&b);
    for (int i = 0; i < 12; i++) /* 3x the pipeline cap: reading pauses and resumes */
        hg_buf_printf(&b, "POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%.*s", i, i,
                      i, "abcdefghijklmnop");
    hg_buf_puts(&b, "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tctx_t t;
    tls_start(&t, 1, 60000);
    /* many small records in one TCP segment: all must be decrypted from one read */
    client_t cl = {.tls = 1, .send = b.data, .send_len = b.len, .record = 37};
    run_client(&t, &cl);
    if (cl.error)
        HG_FAIL_("client failed: %s", cl.why);
    ASSERT_EQ_INT(count(cl.got.data, "HTTP/1.1 200 OK"), 13);
    const char *prev = cl.got.data;
    for (int i = 0; i < 12; i++) {
        char want[32];
        snprintf(want, sizeof(want), "\r\n\r\n/p%d|%d", i, i);
        const char *p = strstr(prev, want);
        ASSERT_NOT_NULL(p);
        prev = p;
    }
    ASSERT_NOT_NULL(strstr(prev, "/last|0"));
    ASSERT_EQ_INT(t.nrequests, 13);
    client_free(&cl);
    hg_buf_free(&b);
    tls_finish(&t);
}

HG_TEST(tls_large_answers_arrive_whole)
{
    /* Two 1.5 MiB answers and a small one, to a client with a small receive buffer that waits
     * before reading: the records queue on the server, the answers must arrive whole and in
     * order. */
    static const char reqs[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {
        .tls = 1, .send = reqs, .send_len = sizeof(reqs) - 1, .rcvbuf = 4096, .read_delay_ms = 300};
    run_client(&t, &cl);
    if (cl.error)
        HG_FAIL_("client failed: %s", cl.why);
    const char *p = cl.got.data;
    for (int k = 0; k < 2; k++) {
        ASSERT_TRUE(strncmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0);
        ASSERT_NOT_NULL(strstr(p, "Content-Length: 1572864\r\n"));
        const char *body = strstr(p, "\r\n\r\n");
        ASSERT_NOT_NULL(body);
        body += 4;
        ASSERT_TRUE((size_t)(body - cl.got.data) + BIG_LEN <= cl.got.len);
        ASSERT_TRUE(memcmp(body, t.big, BIG_LEN) == 0);
        p = body + BIG_LEN;
    }
    ASSERT_TRUE(strncmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_NOT_NULL(strstr(p, "\r\n\r\n/small|0"));
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(tls_garbage_after_handshake_byte_is_closed)
{
    static const char junk[] = "\x16\x03\x01\x00\x20this is not a ClientHello at all....";
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 0, .send = junk, .send_len = sizeof(junk) - 1};
    run_client(&t, &cl);
    if (cl.error)
        HG_FAIL_("client failed: %s", cl.why);
    ASSERT_TRUE(cl.eof);
    /* no HTTP answer: at most a TLS alert record (type 21) */
    ASSERT_TRUE(cl.got.len == 0 || (unsigned char)cl.got.data[0] == 0x15);
    ASSERT_EQ_INT(hg_http_server_conns(t.srv), 0);
    ASSERT_EQ_INT(t.nrequests, 0);
    ASSERT_TRUE(metric("hangar_http_tls_handshakes_total{result=\"failed\"} 1\n"));
    client_free(&cl);
    tls_finish(&t);
}

static void stalled_hello(client_t *cl)
{
    /* a handshake record header, then nothing: the server must give up */
    if (cl_write(cl, "\x16\x03\x01", 3, 0) < 0 || cl_read(cl, NULL) < 0)
        cl->error = 1;
}

HG_TEST(tls_handshake_must_finish_within_request_timeout)
{
    tctx_t t;
    tls_start(&t, 1, 200);
    client_t cl = {.tls = 0, .script = stalled_hello};
    uint64_t t0 = uv_hrtime();
    run_client(&t, &cl);
    if (cl.error)
        HG_FAIL_("client failed: %s", cl.why);
    ASSERT_TRUE(cl.eof);
    ASSERT_EQ_INT(cl.got.len, 0);
    ASSERT_TRUE(uv_hrtime() - t0 < 5000000000ull); /* the sweep runs once a second */
    ASSERT_TRUE(metric("hangar_http_tls_handshakes_total{result=\"failed\"} 1\n"));
    client_free(&cl);
    tls_finish(&t);
}

static void upgrade_script(client_t *cl)
{
    /* the request, with a first line of the new protocol in the same write */
    static const char up[] = "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: x-echo\r\n"
                             "Connection: Upgrade\r\n\r\nearly\n";
    if (cl_write(cl, up, sizeof(up) - 1, 0) < 0 || cl_read(cl, "EARLY\n") < 0) {
        cl->error = 1;
        return;
    }
    if (cl_write(cl, "hello\n", 6, 0) < 0 || cl_read(cl, "HELLO\n") < 0) {
        cl->error = 1;
        return;
    }
    if (cl_write(cl, "bye\n", 4, 0) < 0 || cl_read(cl, NULL) < 0)
        cl->error = 1;
}

static void check_upgrade(tctx_t *t, client_t *cl)
{
    if (cl->error)
        HG_FAIL_("client failed: %s (got %s)", cl->why, cl->got.data ? cl->got.data : "");
    ASSERT_TRUE(strncmp(cl->got.data, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    const char *rest = strstr(cl->got.data, "\r\n\r\n");
    ASSERT_NOT_NULL(rest);
    ASSERT_STR_EQ(rest + 4, "welcome\nEARLY\nHELLO\n");
    ASSERT_TRUE(cl->eof);
    ASSERT_TRUE(t->stream_closed);
    ASSERT_TRUE(t->drains > 0);
}

HG_TEST(tls_upgraded_stream)
{
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 1, .script = upgrade_script};
    run_client(&t, &cl);
    check_upgrade(&t, &cl);
    ASSERT_TRUE(cl.close_notify); /* graceful close: close_notify before the FIN */
    ASSERT_EQ_INT(t.saw_tls, 1);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(plain_upgraded_stream_on_the_tls_port)
{
    tctx_t t;
    tls_start(&t, 1, 60000);
    client_t cl = {.tls = 0, .script = upgrade_script};
    run_client(&t, &cl);
    check_upgrade(&t, &cl);
    ASSERT_EQ_INT(t.saw_tls, 0);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(without_a_certificate_a_tls_hello_is_a_bad_request)
{
    tctx_t t;
    tls_start(&t, 0, 60000);
    client_t cl = {
        .tls = 0, .send = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", .send_len = 11};
    run_client(&t, &cl);
    if (cl.error)
        HG_FAIL_("client failed: %s", cl.why);
    ASSERT_TRUE(cl.eof);
    ASSERT_TRUE(cl.got.data && strncmp(cl.got.data, "HTTP/1.1 400 ", 13) == 0);
    client_free(&cl);
    tls_finish(&t);
}

HG_TEST(tls_bad_files_are_refused_with_the_reason)
{
    tctx_t t;
    tls_start(&t, 0, 60000);
    make_cert(&t.env);
    hg_error_t err;
    hg_error_clear(&err);
    ASSERT_TRUE(hg_http_server_set_tls(t.srv, "/nonexistent/cert.pem", t.env.key, &err) < 0);
    ASSERT_NOT_NULL(strstr(hg_error_message(&err), "/nonexistent/cert.pem"));
    ASSERT_NOT_NULL(strstr(hg_error_message(&err), "No such file"));
    hg_error_clear(&err);
    ASSERT_TRUE(hg_http_server_set_tls(t.srv, t.env.cert, t.env.other_key, &err) < 0);
    if (strstr(hg_error_message(&err), "does not match") == NULL)
        HG_FAIL_("%s", hg_error_message(&err));
    hg_error_clear(&err);
    ASSERT_TRUE(hg_http_server_set_tls(t.srv, t.env.key, t.env.key, &err) < 0); /* no cert */
    ASSERT_NOT_NULL(strstr(hg_error_message(&err), "tls-cert"));
    ASSERT_EQ_INT(hg_http_server_tls(t.srv), 0);
    tls_finish(&t);
}

/* ---- a standby's relay: the signed PROXY header (hg_http_server_set_proxy_key) ---- */

#define PROXY_KEY "0123456789abcdef0123456789abcdef-the-cluster-secret"
#define PEER_REQ "GET /peer HTTP/1.1\r\nHost: x\r\n\r\n"

/* A relay's header for a client at ip:port (IPv4 or IPv6), signed with key, then PEER_REQ. */
static size_t relayed(char *out, const char *ip, int port, const char *key)
{
    struct sockaddr_storage src = {0}, dst = {0};
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        dst.ss_family = AF_INET6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&src;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &s4->sin_addr);
        dst.ss_family = AF_INET;
    }
    size_t n = hg_proxyhdr_build((uint8_t *)out, (struct sockaddr *)&src, (struct sockaddr *)&dst,
                                 key, strlen(key), (int64_t)time(NULL));
    memcpy(out + n, PEER_REQ, strlen(PEER_REQ));
    return n + strlen(PEER_REQ);
}

static void write_more(ctx_t *c, const char *data, size_t len)
{
    for (int i = 0; i < 50; i++) /* the first part read by the server on its own */
        uv_run(&c->loop, UV_RUN_NOWAIT);
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    ASSERT_OK(uv_write(&c->w2, (uv_stream_t *)&c->client, &b, 1, on_write));
}

HG_TEST(proxy_header_split_across_reads_names_the_client)
{
    static char msg[256];
    size_t n = relayed(msg, "203.0.113.7", 4242, PROXY_KEY);
    ctx_t c;
    start(&c, msg, 10, 1024); /* the signature's first 10 bytes, then the rest */
    ASSERT_OK(hg_http_server_set_proxy_key(c.srv, PROXY_KEY, strlen(PROXY_KEY)));
    write_more(&c, msg + 10, n - 10);
    run_until(&c, 1);
    ASSERT_TRUE(c.in.data && strstr(c.in.data, "HTTP/1.1 200 ") != NULL);
    ASSERT_TRUE(strstr(c.in.data, "peer=203.0.113.7:4242") != NULL);
    finish(&c);
}

HG_TEST(proxy_header_ipv6_with_the_request_in_the_same_read)
{
    static char msg[256];
    size_t n = relayed(msg, "2001:db8::5", 443, PROXY_KEY);
    ctx_t c;
    start(&c, msg, n, 1024);
    ASSERT_OK(hg_http_server_set_proxy_key(c.srv, PROXY_KEY, strlen(PROXY_KEY)));
    run_until(&c, 1);
    ASSERT_TRUE(c.in.data && strstr(c.in.data, "peer=[2001:db8::5]:443") != NULL);
    finish(&c);
}

HG_TEST(proxy_header_that_does_not_verify_is_closed)
{
    static char msg[256];
    size_t n = relayed(msg, "203.0.113.7", 4242, "not the cluster secret, 32 bytes or more");
    ctx_t c;
    start(&c, msg, n, 1024);
    ASSERT_OK(hg_http_server_set_proxy_key(c.srv, PROXY_KEY, strlen(PROXY_KEY)));
    run_until(&c, 0);
    ASSERT_TRUE(c.eof);
    ASSERT_EQ_INT(c.in.len, 0); /* closed, the request behind it never served */
    finish(&c);
}

HG_TEST(proxy_key_set_a_direct_client_is_served_as_before)
{
    ctx_t c;
    start(&c, PEER_REQ, strlen(PEER_REQ), 1024);
    ASSERT_OK(hg_http_server_set_proxy_key(c.srv, PROXY_KEY, strlen(PROXY_KEY)));
    run_until(&c, 1);
    ASSERT_TRUE(c.in.data && strstr(c.in.data, "peer=127.0.0.1:") != NULL);
    finish(&c);
}

HG_TEST(no_proxy_key_a_header_is_not_accepted)
{
    static char msg[256];
    size_t n = relayed(msg, "203.0.113.7", 4242, PROXY_KEY);
    ctx_t c;
    start(&c, msg, n, 1024); /* embedded mode: no relay exists, a header is garbage */
    ASSERT_EQ_INT(hg_http_server_set_proxy_key(c.srv, "short", 5), HG_EINVAL);
    run_until(&c, 0);
    ASSERT_TRUE(c.in.data && strncmp(c.in.data, "HTTP/1.1 400 ", 13) == 0);
    ASSERT_TRUE(strstr(c.in.data, "203.0.113.7") == NULL);
    finish(&c);
}

HG_SUITE(http) = {
    HG_CASE(proxy_header_split_across_reads_names_the_client),
    HG_CASE(proxy_header_ipv6_with_the_request_in_the_same_read),
    HG_CASE(proxy_header_that_does_not_verify_is_closed),
    HG_CASE(proxy_key_set_a_direct_client_is_served_as_before),
    HG_CASE(no_proxy_key_a_header_is_not_accepted),
    HG_CASE(half_closed_client_still_gets_its_answer),
    HG_CASE(pipelined_in_order_when_answered_out_of_order),
    HG_CASE(answer_from_a_timer_leaves_before_the_loop_blocks),
    HG_CASE(answer_from_a_prepare_callback_does_not_let_the_loop_block),
    HG_CASE(body_over_limit_is_413_and_closed),
    HG_CASE(chunked_body_over_limit_is_413),
    HG_CASE(headers_over_limit_is_431),
    HG_CASE(too_many_headers_is_431),
    HG_CASE(garbage_is_400_and_closed),
    HG_CASE(pipeline_cap_pauses_then_resumes),
    HG_CASE(connection_close_then_orphaned_answer),
    HG_CASE(headers_visible_to_handler),
    HG_CASE(tls12_client_gets_200),
    HG_CASE(tls13_client_gets_200),
    HG_CASE(tls_handshake_in_one_byte_pieces),
    HG_CASE(plain_client_on_the_tls_port),
    HG_CASE(tls_pipelined_requests_in_order),
    HG_CASE(tls_large_answers_arrive_whole),
    HG_CASE(tls_garbage_after_handshake_byte_is_closed),
    HG_CASE(tls_handshake_must_finish_within_request_timeout),
    HG_CASE(tls_upgraded_stream),
    HG_CASE(plain_upgraded_stream_on_the_tls_port),
    HG_CASE(without_a_certificate_a_tls_hello_is_a_bad_request),
    HG_CASE(tls_bad_files_are_refused_with_the_reason),
    HG_CASE_END,
};
