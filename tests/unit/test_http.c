/* Unit tests: the HTTP/1.1 server — pipelined answers in request order even when handlers answer
 * out of order, limits answered with the right status, keep-alive, orphaned requests. The client
 * is a libuv TCP connection on the same loop. */
#include <http_parser.h>
#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "http/http.h"
#include "test.h"

typedef struct ctx {
    uv_loop_t loop;
    hg_http_server_t *srv;
    uv_tcp_t client;
    uv_connect_t conn;
    uv_write_t w;
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

HG_SUITE(http) = {
    HG_CASE(half_closed_client_still_gets_its_answer),
    HG_CASE(pipelined_in_order_when_answered_out_of_order),
    HG_CASE(body_over_limit_is_413_and_closed),
    HG_CASE(chunked_body_over_limit_is_413),
    HG_CASE(headers_over_limit_is_431),
    HG_CASE(too_many_headers_is_431),
    HG_CASE(garbage_is_400_and_closed),
    HG_CASE(pipeline_cap_pauses_then_resumes),
    HG_CASE(connection_close_then_orphaned_answer),
    HG_CASE(headers_visible_to_handler),
    HG_CASE_END,
};
