/* hangar — answering 503 while the daemon cannot serve (docs/cluster.md).
 *
 * After a store failure the daemon stops serving and tries again after a pause (serve_until_
 * stopped in daemon.c): while PostgreSQL restarts, say, that is many pauses in a row. Instead of
 * a closed port, clients then get a clear answer: every request on the listening port is
 * answered 503 with Retry-After and closed — GameLift's {"__type":"ServiceUnavailableException"}
 * to a request that names an X-Amz-Target, the native {"error":{"code":"unavailable"}}
 * otherwise. Plain HTTP only: a TLS client sees its handshake refused (the port is closed to
 * it just as before). Requests are read up to the end of their headers (UNAVAILABLE_HEAD_MAX
 * bytes at most), never their bodies.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

#define UNAVAILABLE_HEAD_MAX 16384

typedef struct waiter waiter_t;

typedef struct uconn {
    uv_tcp_t tcp;
    waiter_t *w;
    char head[UNAVAILABLE_HEAD_MAX + 1];
    size_t len;
    int answered;
    uv_write_t wr;
    char *reply;
    hg_list_t node;
} uconn_t;

struct waiter {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    int signalled, listening;
    const char *why;
    hg_list_t conns;
};

static void on_conn_closed(uv_handle_t *h)
{
    uconn_t *c = h->data;
    hg_list_remove(&c->node);
    hg_free(c->reply);
    hg_free(c);
}

static void conn_close(uconn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    uconn_t *c = h->data;
    buf->base = c->head + c->len;
    buf->len = UNAVAILABLE_HEAD_MAX - c->len;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static void answer(uconn_t *c)
{
    c->answered = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->head[c->len] = '\0';
    int gamelift = 0;
    for (const char *p = c->head; (p = strchr(p, '\n')) != NULL;)
        if (strncasecmp(++p, "x-amz-target:", 13) == 0)
            gamelift = 1;
    char body[512];
    if (gamelift)
        snprintf(body, sizeof(body),
                 "{\"__type\":\"ServiceUnavailableException\",\"message\":\"hangard cannot serve "
                 "yet (%s); retry\"}",
                 c->w->why);
    else
        snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":\"unavailable\",\"message\":\"hangard cannot serve yet "
                 "(%s); retry\"}}",
                 c->w->why);
    size_t n = strlen(body) + 256;
    c->reply = hg_malloc(n);
    int len =
        snprintf(c->reply, n,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: %s\r\nRetry-After: "
                 "1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 gamelift ? "application/x-amz-json-1.1" : "application/json", strlen(body), body);
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    uconn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->head[c->len] = '\0';
    if (strstr(c->head, "\r\n\r\n") || c->len == UNAVAILABLE_HEAD_MAX)
        answer(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    waiter_t *w = server->data;
    if (status < 0)
        return;
    uconn_t *c = hg_calloc(1, sizeof(*c));
    c->w = w;
    c->tcp.data = c;
    hg_list_insert_tail(&w->conns, &c->node);
    uv_tcp_init(&w->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void stop(waiter_t *w)
{
    uv_timer_stop(&w->timer);
    if (!uv_is_closing((uv_handle_t *)&w->listener))
        uv_close((uv_handle_t *)&w->listener, NULL);
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &w->conns)
        conn_close(hg_container_of(it, uconn_t, node));
    uv_close((uv_handle_t *)&w->timer, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
}

static void on_timer(uv_timer_t *t)
{
    stop(t->data);
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)sig;
    waiter_t *w = s->data;
    w->signalled = 1;
    stop(w);
}

int hg_daemon_listen(uv_tcp_t *tcp, const hg_config_t *cfg, uv_connection_cb cb)
{
    char host[256];
    int port;
    struct sockaddr_storage sa;
    int rc = hg_config_parse_listen(cfg->listen, host, sizeof(host), &port);
    if (rc == 0 && (rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&sa)) < 0)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa);
    if (rc == 0)
        rc = uv_tcp_bind(tcp, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, 511, cb);
    return rc;
}

void hg_daemon_on_signals(uv_loop_t *loop, uv_signal_t *sigint, uv_signal_t *sigterm, void *data,
                          uv_signal_cb cb)
{
    uv_signal_init(loop, sigint);
    uv_signal_init(loop, sigterm);
    sigint->data = sigterm->data = data;
    uv_signal_start_oneshot(sigint, cb, SIGINT);
    uv_signal_start_oneshot(sigterm, cb, SIGTERM);
}

int hg_unavailable_run(const hg_config_t *cfg, uint64_t ms, const char *why)
{
    waiter_t *w = hg_calloc(1, sizeof(*w));
    w->why = why;
    hg_list_init(&w->conns);
    uv_loop_init(&w->loop);
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    int rc = hg_daemon_listen(&w->listener, cfg, on_connection);
    if (rc < 0) /* the port is not ours yet (or any more): just wait */
        HG_LOG(HG_LOG_DEBUG, "daemon", "cannot answer 503 on %s meanwhile: %s", cfg->listen,
               uv_strerror(rc));
    uv_timer_init(&w->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timer, ms, 0);
    hg_daemon_on_signals(&w->loop, &w->sigint, &w->sigterm, w, on_signal);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    int signalled = w->signalled;
    uv_loop_close(&w->loop);
    hg_free(w);
    return signalled;
}
