/* hangar — active health probes (see probe.h).
 *
 * One probe: [resolve] → connect → [write GET, read the status line] → report, with one timer
 * bounding the whole. The first outcome wins (`done`); the handles are then closed and the
 * probe is freed when every reference is released: the timer's and the socket's close
 * callbacks, and the resolver's callback when a name was looked up.
 */
#include "net/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/list.h"

typedef struct probe {
    hg_list_t node; /* in `probes` until done */
    uv_loop_t *loop;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t w;
    uv_timer_t timer;
    char *request;
    char resp[64];
    size_t resp_len;
    int port;
    int http;
    int done;
    int tcp_open;
    int open_handles;
    hg_probe_cb cb;
    void *ud;
} probe_t;

static int inflight;
static hg_list_t probes = {&probes, &probes};

int hg_probe_inflight(void)
{
    return inflight;
}

static void release(probe_t *p)
{
    if (--p->open_handles == 0) {
        hg_free(p->request);
        hg_free(p);
        inflight--;
    }
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

static void finish(probe_t *p, int ok)
{
    if (p->done)
        return;
    p->done = 1;
    hg_list_remove(&p->node);
    p->cb(p->ud, ok);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_closed);
    if (p->tcp_open)
        uv_close((uv_handle_t *)&p->tcp, on_closed);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, 0);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    probe_t *p = h->data;
    (void)s;
    b->base = p->resp + p->resp_len;
    b->len = sizeof(p->resp) - 1 - p->resp_len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    probe_t *p = st->data;
    (void)b;
    if (n < 0) {
        finish(p, 0);
        return;
    }
    p->resp_len += (size_t)n;
    p->resp[p->resp_len] = '\0';
    char *eol = strstr(p->resp, "\r\n");
    if (eol == NULL && p->resp_len < sizeof(p->resp) - 1)
        return;
    int status = 0;
    if (strncmp(p->resp, "HTTP/1.", 7) == 0 && p->resp_len >= 12)
        status = atoi(p->resp + 9);
    finish(p, status >= 200 && status < 400);
}

static void on_write(uv_write_t *w, int st)
{
    probe_t *p = w->data;
    if (st < 0)
        finish(p, 0);
}

static void on_connect(uv_connect_t *c, int st)
{
    probe_t *p = c->data;
    if (p->done)
        return;
    if (st < 0 || !p->http) {
        finish(p, st == 0);
        return;
    }
    uv_buf_t b = uv_buf_init(p->request, (unsigned)strlen(p->request));
    p->w.data = p;
    if (uv_write(&p->w, (uv_stream_t *)&p->tcp, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, on_read) < 0)
        finish(p, 0);
}

static void connect_to(probe_t *p, const struct sockaddr *sa)
{
    uv_tcp_init(p->loop, &p->tcp);
    p->tcp.data = p;
    p->tcp_open = 1;
    p->open_handles++;
    p->conn.data = p;
    if (uv_tcp_connect(&p->conn, &p->tcp, sa, on_connect) < 0)
        finish(p, 0);
}

static void on_resolved(uv_getaddrinfo_t *g, int st, struct addrinfo *res)
{
    probe_t *p = g->data;
    if (st < 0 || res == NULL || p->done) {
        if (res)
            uv_freeaddrinfo(res);
        finish(p, 0);
        release(p); /* the resolver's reference */
        return;
    }
    struct sockaddr_storage ss;
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p->port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p->port);
    connect_to(p, (struct sockaddr *)&ss);
    release(p); /* the resolver's reference */
}

int hg_probe_start(uv_loop_t *loop, const char *host, int port, const char *http_path,
                   uint32_t timeout_ms, hg_probe_cb cb, void *ud)
{
    probe_t *p = hg_calloc(1, sizeof(*p));
    p->loop = loop;
    p->port = port;
    p->cb = cb;
    p->ud = ud;
    if (http_path) {
        size_t n = strlen(http_path) + strlen(host) + 96;
        p->request = hg_malloc(n);
        snprintf(p->request, n,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hangard-health-check\r\n"
                 "Connection: close\r\n\r\n",
                 http_path, host, port);
        p->http = 1;
    }
    hg_list_insert_tail(&probes, &p->node);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->open_handles = 1;
    inflight++;
    uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_to(p, (struct sockaddr *)&ss);
        return 0;
    }
    p->gai.data = p;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    p->open_handles++; /* the resolver holds a reference until its callback */
    if (uv_getaddrinfo(loop, &p->gai, on_resolved, host, NULL, &hints) < 0) {
        finish(p, 0);
        release(p);
    }
    return 0;
}

void hg_probe_cancel_all(void)
{
    while (!hg_list_empty(&probes))
        finish(hg_container_of(probes.next, probe_t, node), 0);
}
