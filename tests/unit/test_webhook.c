/* Unit tests: outbound webhooks (net/webhook.c). Deliveries go to a tiny HTTP server on the same
 * loop (uv_tcp) that follows a script per connection: answer a status, never answer, or close at
 * once; it keeps every complete request byte for byte. HTTPS goes to hangar's own HTTP server
 * with TLS (http/http.c over net/tls.c) and a throwaway self-signed certificate made with the
 * OpenSSL API. Timeouts and backoff use small real delays (tens of ms): the suite stays well
 * under 3 s. */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "http/http.h"
#include "net/webhook.h"
#include "test.h"

/* ---- the scripted server ---- */

#define SRV_CLOSE (-1) /* close the connection as soon as it is accepted */
#define SRV_SILENT 0   /* read the request, never answer */
#define SRV_MAX 16

typedef struct srv srv_t;

typedef struct srv_conn {
    uv_tcp_t tcp;
    uv_write_t w;
    srv_t *srv;
    int slot;
    int action;
    int answered;
    hg_buf_t in;
    char out[128];
} srv_conn_t;

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int script[SRV_MAX]; /* action per accepted connection; the last one repeats */
    int nscript;
    int accepted;
    char *requests[SRV_MAX]; /* complete requests, NUL-terminated, in arrival order */
    size_t request_len[SRV_MAX];
    int nrequests;
    srv_conn_t *conns[SRV_MAX * 4];
};

static void srv_conn_closed(uv_handle_t *h)
{
    srv_conn_t *c = h->data;
    c->srv->conns[c->slot] = NULL;
    hg_buf_free(&c->in);
    free(c);
}

static void srv_close(srv_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, srv_conn_closed);
}

static void srv_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    (void)h;
    (void)s;
    b->base = buf;
    b->len = sizeof(buf);
}

static void srv_written(uv_write_t *w, int st)
{
    (void)st;
    srv_close(w->data);
}

/* A whole request (headers and Content-Length bytes of body) in c->in? */
static size_t request_complete(const hg_buf_t *in)
{
    if (in->data == NULL)
        return 0;
    const char *end = strstr(in->data, "\r\n\r\n");
    if (end == NULL)
        return 0;
    size_t head = (size_t)(end - in->data) + 4;
    const char *cl = strcasestr(in->data, "\r\nContent-Length:");
    size_t body = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    return in->len >= head + body ? head + body : 0;
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    srv_conn_t *c = st->data;
    if (n < 0) {
        srv_close(c);
        return;
    }
    hg_buf_append(&c->in, b->base, (size_t)n);
    size_t len = request_complete(&c->in);
    if (len == 0 || c->answered)
        return;
    c->answered = 1;
    srv_t *s = c->srv;
    ASSERT_TRUE(s->nrequests < SRV_MAX);
    s->requests[s->nrequests] = strndup(c->in.data, len);
    s->request_len[s->nrequests++] = len;
    if (c->action == SRV_SILENT)
        return;
    int k = snprintf(c->out, sizeof(c->out),
                     "HTTP/1.1 %d Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                     c->action);
    uv_buf_t ub = uv_buf_init(c->out, (unsigned)k);
    c->w.data = c;
    ASSERT_OK(uv_write(&c->w, st, &ub, 1, srv_written));
}

static void srv_accept(uv_stream_t *l, int st)
{
    srv_t *s = l->data;
    ASSERT_EQ_INT(st, 0);
    srv_conn_t *c = calloc(1, sizeof(*c));
    c->srv = s;
    hg_buf_init(&c->in);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    ASSERT_OK(uv_accept(l, (uv_stream_t *)&c->tcp));
    int i = s->accepted < s->nscript ? s->accepted : s->nscript - 1;
    c->action = s->script[i];
    s->accepted++;
    c->slot = -1;
    for (int k = 0; k < SRV_MAX * 4; k++)
        if (s->conns[k] == NULL) {
            c->slot = k;
            s->conns[k] = c;
            break;
        }
    ASSERT_TRUE(c->slot >= 0);
    if (c->action == SRV_CLOSE) {
        srv_close(c);
        return;
    }
    ASSERT_OK(uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read));
}

static void srv_start(srv_t *s, uv_loop_t *loop, const int *script, int n)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    memcpy(s->script, script, sizeof(int) * (size_t)n);
    s->nscript = n;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    ASSERT_OK(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0));
    ASSERT_OK(uv_listen((uv_stream_t *)&s->listener, 64, srv_accept));
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_stop(srv_t *s)
{
    uv_close((uv_handle_t *)&s->listener, NULL);
    for (int k = 0; k < SRV_MAX * 4; k++)
        if (s->conns[k])
            srv_close(s->conns[k]);
}

static void srv_free(srv_t *s)
{
    for (int i = 0; i < s->nrequests; i++)
        free(s->requests[i]);
}

/* A port nothing listens on: bound once, then closed. */
static int closed_port(uv_loop_t *loop)
{
    uv_tcp_t t;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &t);
    ASSERT_OK(uv_tcp_bind(&t, (struct sockaddr *)&a, 0));
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return port;
}

/* ---- harness ---- */

typedef struct env {
    uv_loop_t loop;
    uv_timer_t guard;
    int guard_fired;
    srv_t srv;
    hg_webhook_t *w;
    char url[256];
} env_t;

static void on_guard(uv_timer_t *t)
{
    ((env_t *)t->data)->guard_fired = 1;
}

static void env_start(env_t *e, const hg_webhook_limits_t *lim, const int *script, int n)
{
    memset(e, 0, sizeof(*e));
    ASSERT_OK(uv_loop_init(&e->loop));
    uv_timer_init(&e->loop, &e->guard);
    e->guard.data = e;
    if (n > 0)
        srv_start(&e->srv, &e->loop, script, n);
    hg_error_t err;
    hg_error_clear(&err);
    int rc = hg_webhook_new(&e->loop, lim, &e->w, &err);
    if (rc != 0)
        HG_FAIL_("hg_webhook_new: %s", hg_error_message(&err));
    uv_update_time(&e->loop); /* timers start from now, not from before the bundle was read */
}

static uint64_t ended(const hg_webhook_t *w)
{
    hg_webhook_stats_t st;
    hg_webhook_stats(w, &st);
    return st.delivered + st.failed + st.dropped;
}

/* Run the loop until n deliveries of w ended; fails the test after max_ms. */
static void wait_ended(env_t *e, hg_webhook_t *w, uint64_t n, uint32_t max_ms)
{
    e->guard_fired = 0;
    uv_timer_start(&e->guard, on_guard, max_ms, 0);
    while (ended(w) < n && !e->guard_fired)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_timer_stop(&e->guard);
    if (ended(w) < n)
        HG_FAIL_("only %llu of %llu deliveries ended within %u ms", (unsigned long long)ended(w),
                 (unsigned long long)n, max_ms);
}

/* Run the loop for ms (to see that nothing more happens). */
static void run_for(env_t *e, uint32_t ms)
{
    e->guard_fired = 0;
    uv_timer_start(&e->guard, on_guard, ms, 0);
    while (!e->guard_fired)
        uv_run(&e->loop, UV_RUN_ONCE);
}

static void env_finish(env_t *e)
{
    hg_webhook_stop(e->w);
    hg_webhook_free(e->w); /* before the loop ran: the memory goes with the close callbacks */
    if (e->srv.loop)
        srv_stop(&e->srv);
    uv_close((uv_handle_t *)&e->guard, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    srv_free(&e->srv);
    ASSERT_OK(uv_loop_close(&e->loop)); /* nothing left open */
}

static hg_webhook_stats_t stats(const hg_webhook_t *w)
{
    hg_webhook_stats_t st;
    hg_webhook_stats(w, &st);
    return st;
}

static void post_ok(hg_webhook_t *w, const char *url, const char *body)
{
    hg_error_t err;
    hg_error_clear(&err);
    int rc = hg_webhook_post(w, url, body, strlen(body), &err);
    if (rc != 0)
        HG_FAIL_("post %s: %d %s", url, rc, hg_error_message(&err));
}

static const char *body_of(const char *request)
{
    const char *p = strstr(request, "\r\n\r\n");
    return p ? p + 4 : "";
}

/* ---- tests ---- */

HG_TEST(url_host_and_invalid_urls)
{
    char h[64];
    ASSERT_OK(hg_webhook_url_host("https://API.Example.com:8443/x?y=1", h, sizeof(h)));
    ASSERT_STR_EQ(h, "api.example.com");
    ASSERT_OK(hg_webhook_url_host("http://hooks.example.org", h, sizeof(h)));
    ASSERT_STR_EQ(h, "hooks.example.org");
    ASSERT_OK(hg_webhook_url_host("HTTP://10.1.2.3:80/", h, sizeof(h)));
    ASSERT_STR_EQ(h, "10.1.2.3");
    ASSERT_OK(hg_webhook_url_host("http://[::1]:8080/p", h, sizeof(h)));
    ASSERT_STR_EQ(h, "::1");
    ASSERT_EQ_INT(hg_webhook_url_host("http://hooks.example.org/", h, 5), HG_ELIMIT);

    static const char *const bad[] = {
        "",
        "hooks.example.org/path",
        "ftp://hooks.example.org/",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "https://user:secret@hooks.example.org/",
        "http://hooks.example.org:0/",
        "http://hooks.example.org:70000/",
        "http://hooks.example.org/a b",
        "http://hooks.example.org/a\r\nX-Injected: 1",
        "http://hooks.example.org/\x80",
        NULL,
    };
    env_t e;
    env_start(&e, NULL, NULL, 0);
    hg_error_t err;
    for (int i = 0; bad[i]; i++) {
        ASSERT_EQ_INT(hg_webhook_url_host(bad[i], h, sizeof(h)), HG_EINVAL);
        hg_error_clear(&err);
        if (hg_webhook_post(e.w, bad[i], "{}", 2, &err) != HG_EINVAL)
            HG_FAIL_("accepted %s", bad[i]);
        ASSERT_EQ_INT(err.code, HG_EINVAL);
    }
    char long_url[HG_WEBHOOK_MAX_URL + 32];
    snprintf(long_url, sizeof(long_url), "http://h.example/%0*d", HG_WEBHOOK_MAX_URL, 7);
    ASSERT_EQ_INT(hg_webhook_post(e.w, long_url, "{}", 2, NULL), HG_EINVAL);
    /* the body limit (default 64 KiB) */
    static char big[HG_WEBHOOK_DEFAULT_MAX_BODY + 1];
    memset(big, ' ', sizeof(big));
    ASSERT_EQ_INT(hg_webhook_post(e.w, "http://127.0.0.1:9/", big, sizeof(big), NULL), HG_ELIMIT);
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.queued + st.inflight + st.dropped + st.failed + st.delivered, 0);
    env_finish(&e);
}

HG_TEST(delivered_on_200_with_exact_request)
{
    static const int script[] = {200};
    env_t e;
    env_start(&e, NULL, script, 1);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/hooks/placement?queue=q1#frag", e.srv.port);
    static const char body[] = "{\"placementId\":\"p-1\",\"type\":\"PlacementFulfilled\"}";
    post_ok(e.w, e.url, body);
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.inflight, 1);
    ASSERT_EQ_INT(st.queued, 0);
    wait_ended(&e, e.w, 1, 2000);
    st = stats(e.w);
    ASSERT_EQ_INT(st.delivered, 1);
    ASSERT_EQ_INT(st.failed + st.dropped + st.retried, 0);
    ASSERT_EQ_INT(st.inflight + st.queued, 0);
    ASSERT_EQ_INT(e.srv.nrequests, 1);
    char want[512];
    snprintf(want, sizeof(want),
             "POST /hooks/placement?queue=q1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "User-Agent: hangard\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             e.srv.port, strlen(body), body);
    ASSERT_STR_EQ(e.srv.requests[0], want);
    /* /metrics */
    hg_buf_t m;
    hg_buf_init(&m);
    hg_metrics_render(&m);
    ASSERT_TRUE(strstr(m.data, "hangar_webhook_deliveries_total{result=\"delivered\"} 1\n"));
    ASSERT_TRUE(strstr(m.data, "hangar_webhook_deliveries_total{result=\"failed\"} 0\n"));
    ASSERT_TRUE(strstr(m.data, "hangar_webhook_retries_total 0\n"));
    hg_buf_free(&m);
    env_finish(&e);
    /* freed: its lines are gone from /metrics */
    hg_buf_init(&m);
    hg_metrics_render(&m);
    ASSERT_NULL(strstr(m.data, "hangar_webhook_"));
    hg_buf_free(&m);
}

HG_TEST(retried_after_500_then_delivered)
{
    static const int script[] = {500, 200};
    hg_webhook_limits_t lim = {.attempts = 3, .backoff_ms = 60, .timeout_ms = 1000};
    env_t e;
    env_start(&e, &lim, script, 2);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/h", e.srv.port);
    uint64_t t0 = uv_hrtime();
    post_ok(e.w, e.url, "{\"n\":1}");
    wait_ended(&e, e.w, 1, 2000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.delivered, 1);
    ASSERT_EQ_INT(st.retried, 1);
    ASSERT_EQ_INT(st.failed, 0);
    ASSERT_EQ_INT(e.srv.accepted, 2);
    ASSERT_EQ_INT(e.srv.nrequests, 2);
    ASSERT_STR_EQ(e.srv.requests[0], e.srv.requests[1]); /* the same request again */
    ASSERT_STR_EQ(body_of(e.srv.requests[1]), "{\"n\":1}");
    ASSERT_TRUE(ms >= 55); /* waited the backoff */
    env_finish(&e);
}

HG_TEST(closed_at_once_then_delivered)
{
    static const int script[] = {SRV_CLOSE, 200};
    hg_webhook_limits_t lim = {.attempts = 2, .backoff_ms = 20, .timeout_ms = 1000};
    env_t e;
    env_start(&e, &lim, script, 2);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/", e.srv.port);
    post_ok(e.w, e.url, "[1,2,3]");
    wait_ended(&e, e.w, 1, 2000);
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.delivered, 1);
    ASSERT_EQ_INT(st.retried, 1);
    ASSERT_EQ_INT(e.srv.accepted, 2);
    ASSERT_EQ_INT(e.srv.nrequests, 1);
    ASSERT_STR_EQ(body_of(e.srv.requests[0]), "[1,2,3]");
    env_finish(&e);
}

HG_TEST(failed_after_every_attempt_to_a_closed_port)
{
    hg_webhook_limits_t lim = {.attempts = 3, .backoff_ms = 20, .timeout_ms = 1000};
    env_t e;
    env_start(&e, &lim, NULL, 0);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/x", closed_port(&e.loop));
    uint64_t t0 = uv_hrtime();
    post_ok(e.w, e.url, "{}");
    wait_ended(&e, e.w, 1, 2000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.failed, 1);
    ASSERT_EQ_INT(st.retried, 2);
    ASSERT_EQ_INT(st.delivered + st.dropped, 0);
    ASSERT_EQ_INT(st.queued + st.inflight, 0);
    ASSERT_TRUE(ms >= 55); /* 20 then 40 ms of backoff */
    hg_buf_t m;
    hg_buf_init(&m);
    hg_metrics_render(&m);
    ASSERT_TRUE(strstr(m.data, "hangar_webhook_deliveries_total{result=\"failed\"} 1\n"));
    ASSERT_TRUE(strstr(m.data, "hangar_webhook_retries_total 2\n"));
    hg_buf_free(&m);
    env_finish(&e);
}

HG_TEST(non_2xx_every_time_fails)
{
    static const int script[] = {404};
    hg_webhook_limits_t lim = {.attempts = 2, .backoff_ms = 10, .timeout_ms = 1000};
    env_t e;
    env_start(&e, &lim, script, 1);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/gone", e.srv.port);
    post_ok(e.w, e.url, "{}");
    wait_ended(&e, e.w, 1, 2000);
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.failed, 1);
    ASSERT_EQ_INT(st.retried, 1);
    ASSERT_EQ_INT(e.srv.nrequests, 2);
    env_finish(&e);
}

HG_TEST(timeout_when_never_answered)
{
    static const int script[] = {SRV_SILENT};
    hg_webhook_limits_t lim = {.attempts = 2, .backoff_ms = 30, .timeout_ms = 100};
    env_t e;
    env_start(&e, &lim, script, 1);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/slow", e.srv.port);
    uint64_t t0 = uv_hrtime();
    post_ok(e.w, e.url, "{\"slow\":true}");
    wait_ended(&e, e.w, 1, 2000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.failed, 1);
    ASSERT_EQ_INT(st.retried, 1);
    ASSERT_EQ_INT(e.srv.accepted, 2);
    ASSERT_EQ_INT(e.srv.nrequests, 2); /* the requests arrived; no answer came */
    ASSERT_TRUE(ms >= 225);            /* two 100 ms timeouts and 30 ms of backoff */
    ASSERT_TRUE(ms < 1500);
    env_finish(&e);
}

HG_TEST(oldest_waiting_dropped_when_the_queue_overflows)
{
    static const int script[] = {200};
    hg_webhook_limits_t lim = {.max_queue = 2, .max_inflight = 1, .timeout_ms = 1000};
    env_t e;
    env_start(&e, &lim, script, 1);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/", e.srv.port);
    post_ok(e.w, e.url, "\"A\""); /* in flight at once */
    post_ok(e.w, e.url, "\"B\""); /* waits */
    post_ok(e.w, e.url, "\"C\""); /* B dropped */
    post_ok(e.w, e.url, "\"D\""); /* C dropped */
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.dropped, 2);
    ASSERT_EQ_INT(st.inflight, 1);
    ASSERT_EQ_INT(st.queued, 1);
    wait_ended(&e, e.w, 4, 2000);
    st = stats(e.w);
    ASSERT_EQ_INT(st.delivered, 2);
    ASSERT_EQ_INT(st.dropped, 2);
    ASSERT_EQ_INT(e.srv.nrequests, 2);
    ASSERT_STR_EQ(body_of(e.srv.requests[0]), "\"A\"");
    ASSERT_STR_EQ(body_of(e.srv.requests[1]), "\"D\"");

    /* a queue full of deliveries in flight: the new one is refused and counted */
    hg_webhook_limits_t one = {.max_queue = 1, .max_inflight = 1, .timeout_ms = 1000};
    hg_webhook_t *w2;
    ASSERT_OK(hg_webhook_new(&e.loop, &one, &w2, NULL));
    post_ok(w2, e.url, "\"E\"");
    hg_error_t err;
    hg_error_clear(&err);
    ASSERT_EQ_INT(hg_webhook_post(w2, e.url, "\"F\"", 3, &err), HG_ELIMIT);
    ASSERT_EQ_INT(stats(w2).dropped, 1);
    wait_ended(&e, w2, 2, 2000);
    ASSERT_EQ_INT(stats(w2).delivered, 1);
    ASSERT_STR_EQ(body_of(e.srv.requests[2]), "\"E\"");
    hg_webhook_free(w2);
    env_finish(&e);
}

HG_TEST(inflight_bounded_and_stop_drops_the_rest)
{
    static const int script[] = {SRV_SILENT};
    hg_webhook_limits_t lim = {.max_inflight = 2, .timeout_ms = 5000};
    env_t e;
    env_start(&e, &lim, script, 1);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d/", e.srv.port);
    for (int i = 0; i < 5; i++)
        post_ok(e.w, e.url, "{}");
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.inflight, 2);
    ASSERT_EQ_INT(st.queued, 3);
    e.guard_fired = 0;
    uv_timer_start(&e.guard, on_guard, 2000, 0);
    while (e.srv.nrequests < 2 && !e.guard_fired)
        uv_run(&e.loop, UV_RUN_ONCE);
    run_for(&e, 50);
    ASSERT_EQ_INT(e.srv.accepted, 2); /* never more than two connections */
    ASSERT_EQ_INT(e.srv.nrequests, 2);
    hg_webhook_stop(e.w);
    st = stats(e.w);
    ASSERT_EQ_INT(st.dropped, 5);
    ASSERT_EQ_INT(st.inflight + st.queued, 0);
    ASSERT_EQ_INT(hg_webhook_post(e.w, e.url, "{}", 2, NULL), HG_ESHUTDOWN);
    env_finish(&e); /* the abandoned connections close; the loop ends with nothing open */
}

HG_TEST(host_name_resolved)
{
    static const int script[] = {204};
    hg_webhook_limits_t lim = {.attempts = 1, .timeout_ms = 2000};
    env_t e;
    env_start(&e, &lim, script, 1);
    /* localhost may resolve to ::1 first: the next address is tried within the attempt */
    snprintf(e.url, sizeof(e.url), "http://LocalHost:%d/dns", e.srv.port);
    post_ok(e.w, e.url, "{}");
    wait_ended(&e, e.w, 1, 2500);
    ASSERT_EQ_INT(stats(e.w).delivered, 1);
    char want[64];
    snprintf(want, sizeof(want), "\r\nHost: localhost:%d\r\n", e.srv.port);
    ASSERT_TRUE(strstr(e.srv.requests[0], want) != NULL);
    env_finish(&e);
}

/* ---- https ---- */

typedef struct tls_srv {
    hg_http_server_t *srv;
    char dir[64], cert[96], key[96];
    int nrequests;
    int saw_tls;
    char ua[32], ctype[64];
    char *body;
    size_t body_len;
    int stopped;
} tls_srv_t;

static void tls_handler(hg_http_req_t *req, void *ud)
{
    tls_srv_t *t = ud;
    t->nrequests++;
    t->saw_tls = hg_http_conn_is_tls(hg_http_req_conn(req));
    const hg_http_header_t *h = hg_http_req_header(req, "User-Agent");
    if (h)
        snprintf(t->ua, sizeof(t->ua), "%.*s", (int)h->value_len, h->value);
    h = hg_http_req_header(req, "Content-Type");
    if (h)
        snprintf(t->ctype, sizeof(t->ctype), "%.*s", (int)h->value_len, h->value);
    free(t->body);
    t->body = malloc(req->body_len + 1);
    memcpy(t->body, req->body, req->body_len + 1);
    t->body_len = req->body_len;
    hg_http_respond(req, 200, "application/json", NULL, "{}", 2);
}

/* A self-signed P-256 certificate for DNS name "localhost" only (no IP address). */
static void make_cert(tls_srv_t *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/hg-test-webhook-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->dir));
    snprintf(t->cert, sizeof(t->cert), "%s/cert.pem", t->dir);
    snprintf(t->key, sizeof(t->key), "%s/key.pem", t->dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    ASSERT_NOT_NULL(pk);
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
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    ASSERT_NOT_NULL(ext);
    ASSERT_TRUE(X509_add_ext(x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
    ASSERT_TRUE(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(t->cert, "w");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(PEM_write_X509(f, x) == 1);
    fclose(f);
    f = fopen(t->key, "w");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void tls_srv_start(tls_srv_t *t, uv_loop_t *loop)
{
    memset(t, 0, sizeof(*t));
    make_cert(t);
    hg_http_limits_t lim = {.max_header_bytes = 4096,
                            .max_headers = 32,
                            .max_body = 65536,
                            .max_pipeline = 4,
                            .max_conns = 16,
                            .idle_timeout_ms = 10000,
                            .request_timeout_ms = 10000};
    ASSERT_OK(hg_http_server_new(loop, &lim, tls_handler, t, &t->srv));
    hg_error_t err;
    hg_error_clear(&err);
    if (hg_http_server_set_tls(t->srv, t->cert, t->key, &err) != 0)
        HG_FAIL_("set_tls: %s", hg_error_message(&err));
    ASSERT_OK(hg_http_server_listen(t->srv, "127.0.0.1", 0));
}

static void tls_srv_stopped(void *ud)
{
    ((tls_srv_t *)ud)->stopped = 1;
}

/* Stop the webhook sender and the server, run the loop dry, free everything. */
static void tls_finish(env_t *e, tls_srv_t *t)
{
    hg_webhook_stop(e->w);
    hg_webhook_free(e->w);
    hg_http_server_stop(t->srv, tls_srv_stopped, t);
    uv_close((uv_handle_t *)&e->guard, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_TRUE(t->stopped);
    hg_http_server_free(t->srv);
    free(t->body);
    unlink(t->cert);
    unlink(t->key);
    rmdir(t->dir);
    ASSERT_OK(uv_loop_close(&e->loop));
}

HG_TEST(https_insecure_delivered)
{
    hg_webhook_limits_t lim = {.attempts = 1, .timeout_ms = 3000, .tls_insecure = 1};
    env_t e;
    tls_srv_t t;
    env_start(&e, &lim, NULL, 0);
    tls_srv_start(&t, &e.loop);
    /* a body of several TLS records */
    size_t n = 40000;
    char *body = malloc(n + 1);
    body[0] = '"';
    for (size_t i = 1; i < n - 1; i++)
        body[i] = (char)('a' + i % 26);
    body[n - 1] = '"';
    body[n] = '\0';
    snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%d/tls", hg_http_server_port(t.srv));
    post_ok(e.w, e.url, body);
    wait_ended(&e, e.w, 1, 3000);
    ASSERT_EQ_INT(stats(e.w).delivered, 1);
    ASSERT_EQ_INT(t.nrequests, 1);
    ASSERT_EQ_INT(t.saw_tls, 1);
    ASSERT_STR_EQ(t.ua, "hangard");
    ASSERT_STR_EQ(t.ctype, "application/json");
    ASSERT_EQ_INT(t.body_len, n);
    ASSERT_TRUE(memcmp(t.body, body, n) == 0);
    free(body);
    tls_finish(&e, &t);
}

HG_TEST(https_self_signed_refused_by_default)
{
    hg_webhook_limits_t lim = {.attempts = 2, .backoff_ms = 10, .timeout_ms = 3000};
    env_t e;
    tls_srv_t t;
    env_start(&e, &lim, NULL, 0); /* the system trust store */
    tls_srv_start(&t, &e.loop);
    snprintf(e.url, sizeof(e.url), "https://localhost:%d/tls", hg_http_server_port(t.srv));
    post_ok(e.w, e.url, "{}");
    wait_ended(&e, e.w, 1, 3000);
    hg_webhook_stats_t st = stats(e.w);
    ASSERT_EQ_INT(st.failed, 1);
    ASSERT_EQ_INT(st.retried, 1);
    ASSERT_EQ_INT(st.delivered, 0);
    ASSERT_EQ_INT(t.nrequests, 0); /* nothing was sent over the untrusted connection */
    tls_finish(&e, &t);
}

HG_TEST(https_ca_file_trusts_and_names_are_checked)
{
    env_t e;
    tls_srv_t t;
    memset(&e, 0, sizeof(e));
    ASSERT_OK(uv_loop_init(&e.loop));
    uv_timer_init(&e.loop, &e.guard);
    e.guard.data = &e;
    tls_srv_start(&t, &e.loop);
    int port = hg_http_server_port(t.srv);

    /* a missing bundle is an error at creation */
    hg_webhook_limits_t badlim = {.ca_file = "/nonexistent/ca.pem"};
    hg_webhook_t *bad = NULL;
    hg_error_t err;
    hg_error_clear(&err);
    ASSERT_EQ_INT(hg_webhook_new(&e.loop, &badlim, &bad, &err), HG_EINVAL);
    ASSERT_NULL(bad);
    ASSERT_TRUE(strstr(hg_error_message(&err), "/nonexistent/ca.pem") != NULL);

    hg_webhook_limits_t lim = {.attempts = 1, .timeout_ms = 3000, .ca_file = t.cert};
    ASSERT_OK(hg_webhook_new(&e.loop, &lim, &e.w, NULL));
    /* the certificate names localhost: trusted and matching */
    snprintf(e.url, sizeof(e.url), "https://localhost:%d/named", port);
    post_ok(e.w, e.url, "{\"ok\":1}");
    wait_ended(&e, e.w, 1, 3000);
    ASSERT_EQ_INT(stats(e.w).delivered, 1);
    ASSERT_EQ_INT(t.nrequests, 1);
    ASSERT_STR_EQ(t.body, "{\"ok\":1}");
    /* the same trusted certificate does not name 127.0.0.1 */
    snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%d/by-address", port);
    post_ok(e.w, e.url, "{\"ok\":2}");
    wait_ended(&e, e.w, 2, 3000);
    ASSERT_EQ_INT(stats(e.w).failed, 1);
    ASSERT_EQ_INT(t.nrequests, 1);
    tls_finish(&e, &t);
}

HG_SUITE(webhook) = {
    HG_CASE(url_host_and_invalid_urls),
    HG_CASE(delivered_on_200_with_exact_request),
    HG_CASE(retried_after_500_then_delivered),
    HG_CASE(closed_at_once_then_delivered),
    HG_CASE(failed_after_every_attempt_to_a_closed_port),
    HG_CASE(non_2xx_every_time_fails),
    HG_CASE(timeout_when_never_answered),
    HG_CASE(oldest_waiting_dropped_when_the_queue_overflows),
    HG_CASE(inflight_bounded_and_stop_drops_the_rest),
    HG_CASE(host_name_resolved),
    HG_CASE(https_insecure_delivered),
    HG_CASE(https_self_signed_refused_by_default),
    HG_CASE(https_ca_file_trusts_and_names_are_checked),
    HG_CASE_END,
};
