/* hangar — a standby node (docs/cluster.md, "Nodes").
 *
 * While another node holds the PostgreSQL lease, this one still accepts connections on its
 * port and relays each one, byte for byte, to the owner's advertised address (kept with the
 * lease in the partitions table): HTTP, WebSocket and TLS alike, so the owner sees exactly what
 * the client sent (SigV4's Host header included) and clients behind a load balancer or DNS may
 * reach any node. Every STANDBY_POLL_MS a worker thread (libpq blocks) reads the lease; once it
 * has run out or been handed back, the standby closes its relays and its port and returns, and
 * the daemon takes the lease and serves. A relay whose owner is unreachable is closed; its
 * client reconnects.
 *
 * Relay buffers: what one side sends is written to the other as it comes; a side whose writes
 * queue past RELAY_QUEUE_MAX bytes stops the other side's reads until they drain.
 */
#include <libpq-fe.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

#define STANDBY_POLL_MS 500
#define RELAY_QUEUE_MAX (1 << 20)

typedef struct standby standby_t;

typedef struct side {
    uv_tcp_t tcp;
    struct relay *relay;
    int open;
} side_t;

typedef struct relay {
    standby_t *sb;
    side_t client, owner;
    int connected; /* the owner side is connected */
    uv_connect_t connect;
    hg_list_t node;
} relay_t;

struct standby {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    uv_work_t work;
    int working, done, stopped; /* done: the lease is free; stopped: a signal */
    const char *conninfo;
    PGconn *pg; /* the worker's (one work item at a time) */
    /* the owner, as the last look found it (written by the worker, read after it) */
    struct sockaddr_storage owner_addr;
    int has_owner;
    char owner[128], owner_at[160];
    char peek_owner[128], peek_at[160];
    struct sockaddr_storage peek_addr;
    int peek_free, peek_has_addr;
    hg_list_t relays;
};

/* ---- relaying ---- */

static void on_side_closed(uv_handle_t *h)
{
    side_t *s = h->data;
    relay_t *r = s->relay;
    s->open = 0;
    if (!r->client.open && !r->owner.open) {
        hg_list_remove(&r->node);
        hg_free(r);
    }
}

static void relay_close(relay_t *r)
{
    if (r->client.open && !uv_is_closing((uv_handle_t *)&r->client.tcp))
        uv_close((uv_handle_t *)&r->client.tcp, on_side_closed);
    if (r->owner.open && !uv_is_closing((uv_handle_t *)&r->owner.tcp))
        uv_close((uv_handle_t *)&r->owner.tcp, on_side_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
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

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    side_t *from = w->from;
    relay_t *r = from->relay;
    hg_free(w->data);
    hg_free(w);
    if (status < 0) {
        relay_close(r);
        return;
    }
    side_t *to = from == &r->client ? &r->owner : &r->client;
    if (from->open && !uv_is_closing((uv_handle_t *)&from->tcp) &&
        uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) < RELAY_QUEUE_MAX)
        uv_read_start((uv_stream_t *)&from->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    side_t *from = stream->data;
    relay_t *r = from->relay;
    side_t *to = from == &r->client ? &r->owner : &r->client;
    if (n <= 0) {
        hg_free(buf->base);
        if (n < 0) /* EOF or an error: the relay ends (no half-close) */
            relay_close(r);
        return;
    }
    wreq_t *w = hg_calloc(1, sizeof(*w));
    w->from = from;
    w->data = buf->base;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    if (!to->open || uv_write(&w->req, (uv_stream_t *)&to->tcp, &out, 1, on_written) < 0) {
        hg_free(w->data);
        hg_free(w);
        relay_close(r);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) >= RELAY_QUEUE_MAX)
        uv_read_stop(stream); /* resumed by on_written */
}

static void on_owner_connected(uv_connect_t *req, int status)
{
    relay_t *r = req->data;
    if (status < 0) {
        HG_LOG(HG_LOG_DEBUG, "standby", "relay to the owner failed: %s", uv_strerror(status));
        relay_close(r);
        return;
    }
    r->connected = 1;
    uv_tcp_nodelay(&r->owner.tcp, 1);
    uv_read_start((uv_stream_t *)&r->client.tcp, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&r->owner.tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status)
{
    standby_t *sb = server->data;
    if (status < 0)
        return;
    relay_t *r = hg_calloc(1, sizeof(*r));
    r->sb = sb;
    r->client.relay = r->owner.relay = r;
    r->client.tcp.data = &r->client;
    r->owner.tcp.data = &r->owner;
    hg_list_insert_tail(&sb->relays, &r->node);
    uv_tcp_init(&sb->loop, &r->client.tcp);
    r->client.open = 1;
    r->client.tcp.data = &r->client;
    if (uv_accept(server, (uv_stream_t *)&r->client.tcp) < 0) {
        relay_close(r);
        return;
    }
    uv_tcp_nodelay(&r->client.tcp, 1);
    uv_tcp_init(&sb->loop, &r->owner.tcp);
    r->owner.open = 1;
    r->owner.tcp.data = &r->owner;
    r->connect.data = r;
    if (!sb->has_owner ||
        uv_tcp_connect(&r->connect, &r->owner.tcp, (const struct sockaddr *)&sb->owner_addr,
                       on_owner_connected) < 0)
        relay_close(r);
}

/* ---- the lease, looked at from a worker thread ---- */

static void peek_work(uv_work_t *req)
{
    standby_t *sb = req->data;
    sb->peek_free = 0;
    sb->peek_has_addr = 0;
    sb->peek_owner[0] = sb->peek_at[0] = '\0';
    if (sb->pg == NULL || PQstatus(sb->pg) != CONNECTION_OK) {
        if (sb->pg)
            PQfinish(sb->pg);
        sb->pg = PQconnectdb(sb->conninfo);
        if (PQstatus(sb->pg) != CONNECTION_OK)
            return; /* PostgreSQL is away: keep relaying to the owner we know */
    }
    PGresult *r = PQexec(sb->pg, "SELECT owner, coalesce(addr, ''), lease_until > "
                                 "clock_timestamp() FROM partitions WHERE id = 'all'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 2), "t") != 0) {
        sb->peek_free = 1;
        PQclear(r);
        return;
    }
    snprintf(sb->peek_owner, sizeof(sb->peek_owner), "%s", PQgetvalue(r, 0, 0));
    snprintf(sb->peek_at, sizeof(sb->peek_at), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    /* host:port → an address (getaddrinfo may block: this is the worker) */
    char host[160];
    snprintf(host, sizeof(host), "%s", sb->peek_at);
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
        memcpy(&sb->peek_addr, ai->ai_addr, ai->ai_addrlen);
        sb->peek_has_addr = 1;
    }
    if (ai)
        freeaddrinfo(ai);
}

static void standby_stop(standby_t *sb)
{
    uv_timer_stop(&sb->timer);
    if (!uv_is_closing((uv_handle_t *)&sb->listener))
        uv_close((uv_handle_t *)&sb->listener, NULL);
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &sb->relays)
        relay_close(hg_container_of(it, relay_t, node));
    uv_close((uv_handle_t *)&sb->timer, NULL);
    uv_close((uv_handle_t *)&sb->sigint, NULL);
    uv_close((uv_handle_t *)&sb->sigterm, NULL);
}

static void peek_done(uv_work_t *req, int status)
{
    standby_t *sb = req->data;
    sb->working = 0;
    if (status < 0 || sb->stopped)
        return;
    if (sb->peek_free) {
        HG_LOG(HG_LOG_INFO, "standby", "the lease is free: taking it");
        sb->done = 1;
        standby_stop(sb);
        return;
    }
    if (sb->peek_has_addr && strcmp(sb->peek_at, sb->owner_at) != 0) {
        memcpy(&sb->owner_addr, &sb->peek_addr, sizeof(sb->owner_addr));
        sb->has_owner = 1;
        snprintf(sb->owner, sizeof(sb->owner), "%s", sb->peek_owner);
        snprintf(sb->owner_at, sizeof(sb->owner_at), "%s", sb->peek_at);
        HG_LOG(HG_LOG_INFO, "standby", "relaying to node %s at %s", sb->owner, sb->owner_at);
    }
}

static void on_timer(uv_timer_t *t)
{
    standby_t *sb = t->data;
    if (sb->working || sb->done || sb->stopped)
        return;
    sb->working = 1;
    sb->work.data = sb;
    uv_queue_work(&sb->loop, &sb->work, peek_work, peek_done);
}

static void on_signal(uv_signal_t *s, int sig)
{
    standby_t *sb = s->data;
    HG_LOG(HG_LOG_INFO, "standby", "stopping (signal %d)", sig);
    sb->stopped = 1;
    standby_stop(sb);
}

int hg_standby_run(const hg_config_t *cfg)
{
    standby_t *sb = hg_calloc(1, sizeof(*sb));
    sb->conninfo = cfg->store;
    hg_list_init(&sb->relays);
    uv_loop_init(&sb->loop);
    uv_tcp_init(&sb->loop, &sb->listener);
    sb->listener.data = sb;
    int rc = hg_daemon_listen(&sb->listener, cfg, on_connection);
    if (rc < 0)
        HG_LOG(HG_LOG_WARN, "standby", "cannot listen on %s to relay: %s", cfg->listen,
               uv_strerror(rc));
    uv_timer_init(&sb->loop, &sb->timer);
    sb->timer.data = sb;
    uv_timer_start(&sb->timer, on_timer, 0, STANDBY_POLL_MS);
    hg_daemon_on_signals(&sb->loop, &sb->sigint, &sb->sigterm, sb, on_signal);
    uv_run(&sb->loop, UV_RUN_DEFAULT);
    int stopped = sb->stopped;
    if (sb->pg)
        PQfinish(sb->pg);
    uv_loop_close(&sb->loop);
    hg_free(sb);
    return stopped ? 1 : 0;
}
