/* hangar — the registry event stream's wire (see events.h).
 *
 * DESIGN: the observer renders a server's JSON once, when the change happens (the server's
 * state at that moment), and queues the event on the stream (events/stream.h) with the
 * change's transaction; the stream numbers and publishes it once that transaction is durable
 * and calls on_published(), which writes it to every subscriber that is caught up; lagging
 * subscribers catch up from the stream's ring when their transport drains.
 *
 * Subscriber transports: WebSocket (one text message per event) and Server-Sent Events
 * (`id: <seq>`, `event: <type>`, `data: <json>`); both sit on an upgraded HTTP connection.
 * Both write once per loop turn whatever events the turn published: the WebSocket layer
 * batches its own frames; an SSE subscriber's events are appended to its `sse_out` and the hub
 * writes every such buffer at the end of the turn (rt/turn.h), as the HTTP server does with
 * answers.
 */
#include "api/native/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rt/turn.h"
#include "ws/ws.h"

/* a subscriber's ?kind= is a server kind; the stream carries it */
_Static_assert(HG_REG_KIND_MAX <= HG_STREAM_KIND_MAX, "server kinds fit the stream's kinds");

typedef struct sub {
    hg_list_t node;
    hg_events_t *hub;
    hg_ws_t *ws;          /* WebSocket transport, or */
    hg_http_conn_t *conn; /* SSE transport */
    char kind[HG_REG_KIND_MAX + 1];
    uint64_t cursor;    /* last seq delivered (or skipped) */
    int closed;         /* off the hub's list (the transport is gone) */
    int stop;           /* being closed by us: send nothing more */
    int stalled;        /* keep-alive rounds with a full queue (SSE) */
    hg_buf_t sse_out;   /* SSE: events of this turn, not yet written */
    hg_list_t out_node; /* SSE: in hub->sse_turn while sse_out has bytes */
} sub_t;

struct hg_events {
    uv_loop_t *loop;
    hg_registry_t *reg;
    hg_stream_t *stream; /* owned */
    hg_list_t subs;
    size_t nsubs;
    uv_timer_t keepalive;
    hg_turn_t sse_turn; /* SSE subscribers with events in sse_out, written at the turn's end */
    int stopped;
    uint64_t deliveries, snapshots, lagged;
};

static void render(hg_buf_t *out, void *ud)
{
    hg_events_t *ev = ud;
    hg_stream_stats_t st;
    hg_stream_stats(ev->stream, &st);
    hg_buf_printf(out,
                  "# HELP hangar_registry_servers Servers in the registry.\n"
                  "# TYPE hangar_registry_servers gauge\nhangar_registry_servers %zu\n"
                  "# HELP hangar_registry_events_total Registry events published.\n"
                  "# TYPE hangar_registry_events_total counter\n"
                  "hangar_registry_events_total %llu\n"
                  "# HELP hangar_registry_events_dropped_total Events not published because "
                  "their change's commit failed.\n"
                  "# TYPE hangar_registry_events_dropped_total counter\n"
                  "hangar_registry_events_dropped_total %llu\n"
                  "# HELP hangar_registry_event_deliveries_total Events written to "
                  "subscribers.\n# TYPE hangar_registry_event_deliveries_total counter\n"
                  "hangar_registry_event_deliveries_total %llu\n"
                  "# HELP hangar_registry_subscribers Open event-stream subscribers.\n"
                  "# TYPE hangar_registry_subscribers gauge\nhangar_registry_subscribers %zu\n"
                  "# HELP hangar_registry_snapshots_total Snapshots sent to subscribers.\n"
                  "# TYPE hangar_registry_snapshots_total counter\n"
                  "hangar_registry_snapshots_total %llu\n"
                  "# HELP hangar_registry_subscriber_lag_total Times a subscriber's queue was "
                  "full and it fell behind.\n# TYPE hangar_registry_subscriber_lag_total "
                  "counter\nhangar_registry_subscriber_lag_total %llu\n",
                  hg_registry_count(ev->reg), (unsigned long long)st.published,
                  (unsigned long long)st.dropped, (unsigned long long)ev->deliveries, ev->nsubs,
                  (unsigned long long)ev->snapshots, (unsigned long long)ev->lagged);
}

static void on_keepalive(uv_timer_t *t);
static void sse_write(hg_turn_t *t, hg_list_t *node);
static void on_published(void *ud, const hg_stream_event_t *e);

hg_events_t *hg_events_new(uv_loop_t *loop, hg_clock_t *clock, hg_store_t *store,
                           hg_registry_t *reg, size_t ring)
{
    hg_events_t *ev = hg_calloc(1, sizeof(*ev));
    ev->loop = loop;
    ev->reg = reg;
    ev->stream = hg_stream_new(clock, store, ring);
    hg_stream_set_listener(ev->stream, on_published, ev);
    hg_list_init(&ev->subs);
    uv_timer_init(loop, &ev->keepalive);
    ev->keepalive.data = ev;
    uv_timer_start(&ev->keepalive, on_keepalive, HG_EVENTS_KEEPALIVE_MS, HG_EVENTS_KEEPALIVE_MS);
    uv_unref((uv_handle_t *)&ev->keepalive);
    hg_turn_init(&ev->sse_turn, loop, sse_write, ev);
    hg_metrics_register("registry", render, ev);
    return ev;
}

int hg_events_load(hg_events_t *ev)
{
    return hg_stream_load(ev->stream);
}

hg_stream_t *hg_events_stream(hg_events_t *ev)
{
    return ev->stream;
}

uint64_t hg_events_last_seq(const hg_events_t *ev)
{
    return hg_stream_last_seq(ev->stream);
}

/* ---- transports ---- */

static size_t queued(const sub_t *s)
{
    return s->ws ? hg_ws_queued_bytes(s->ws) : hg_http_conn_write_queue(s->conn) + s->sse_out.len;
}

/* The end of the turn: one write of a subscriber's SSE events. */
static void sse_write(hg_turn_t *t, hg_list_t *node)
{
    (void)t;
    sub_t *s = hg_container_of(node, sub_t, out_node);
    /* a failed write means the connection is closing: sse_closed follows */
    if (!s->closed && !s->stop)
        (void)hg_http_conn_write(s->conn, s->sse_out.data, s->sse_out.len);
    s->sse_out.len = 0;
    if (s->sse_out.cap > 64 * 1024)
        hg_buf_free(&s->sse_out);
}

/* One SSE event: `id: <seq>` (none for seq 0), `event: <type>`, `data: <json>`. */
static void sse_format(hg_buf_t *b, const char *type, uint64_t seq, const char *json, size_t len)
{
    hg_buf_reserve(b, len + 64);
    if (seq)
        hg_buf_printf(b, "id: %llu\n", (unsigned long long)seq);
    hg_buf_printf(b, "event: %s\ndata: ", type);
    hg_buf_append(b, json, len);
    hg_buf_puts(b, "\n\n");
}

static void send_text(sub_t *s, const char *type, uint64_t seq, const char *json, size_t len)
{
    if (s->closed || s->stop)
        return;
    if (s->ws) {
        /* every event and snapshot is written by our JSON writer or jansson from strings that
         * entered as validated JSON: valid UTF-8, not checked again per subscriber */
        int rc = hg_ws_send(s->ws, HG_WS_TEXT_VALID, json, len);
        if (rc == 0) {
            s->hub->deliveries++;
        } else if (rc != HG_ECONFLICT) {
            /* did not fit (a snapshot larger than the queue): never skip an event silently;
             * the client reconnects with after= and catches up */
            hg_ws_close(s->ws, 1013, "subscriber fell behind; reconnect with after=");
            s->stop = 1;
        }
        return;
    }
    if (s->hub->stopped) {
        /* stopping: the flush handles are closed (sse_out was written then); commits still
         * completing write at once */
        hg_buf_t one;
        hg_buf_init(&one);
        sse_format(&one, type, seq, json, len);
        if (hg_http_conn_write(s->conn, one.data, one.len) == 0)
            s->hub->deliveries++;
        hg_buf_free(&one);
        return;
    }
    sse_format(&s->sse_out, type, seq, json, len);
    s->hub->deliveries++;
    hg_turn_add(&s->hub->sse_turn, &s->out_node);
}

static void send_snapshot(sub_t *s, const char *reason)
{
    hg_events_t *ev = s->hub;
    uint64_t last = hg_stream_last_seq(ev->stream);
    hg_reg_filter_t f = {.kind = s->kind[0] ? s->kind : NULL};
    size_t n = hg_registry_count(ev->reg);
    hg_reg_server_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    int more;
    n = hg_registry_list(ev->reg, &f, NULL, n, all, &more);
    json_t *servers = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(servers, hg_registry_server_json(all[i]));
    hg_free(all);
    json_t *o = json_pack("{s:s,s:I,s:s,s:o}", "type", "snapshot", "seq", (json_int_t)last,
                          "reason", reason, "servers", servers);
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(13));
    send_text(s, "snapshot", last, text, strlen(text));
    free(text);
    json_decref(o);
    s->cursor = last;
    ev->snapshots++;
}

static int wants(const sub_t *s, const hg_stream_event_t *e)
{
    return s->kind[0] == '\0' || strcmp(s->kind, e->kind) == 0;
}

/* Deliver everything after the cursor while the transport has room. */
static void catch_up(sub_t *s)
{
    hg_stream_t *st = s->hub->stream;
    while (!s->closed && !s->stop && s->cursor < hg_stream_last_seq(st)) {
        if (queued(s) >= HG_EVENTS_SUB_QUEUE_MAX)
            return;
        uint64_t next = s->cursor + 1;
        const hg_stream_event_t *e = hg_stream_get(st, next);
        if (e == NULL) { /* left the ring */
            send_snapshot(s, "behind");
            continue;
        }
        if (wants(s, e))
            send_text(s, e->type, e->seq, e->json, e->len);
        s->cursor = next;
    }
}

static void sub_gone(sub_t *s)
{
    if (!s->closed) {
        s->closed = 1;
        hg_list_remove(&s->node);
        s->hub->nsubs--;
    }
    if (hg_list_linked(&s->out_node))
        hg_list_remove(&s->out_node);
    hg_buf_free(&s->sse_out);
}

/* WebSocket callbacks */
static void ws_message(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len)
{
    (void)ws, (void)ud, (void)binary, (void)data, (void)len; /* subscribers only listen */
}

static void ws_close(hg_ws_t *ws, void *ud, int code)
{
    (void)ws, (void)code;
    sub_t *s = ud;
    sub_gone(s);
    hg_free(s);
}

static void ws_drain(hg_ws_t *ws, void *ud)
{
    (void)ws;
    catch_up(ud);
}

static const hg_ws_cb_t ws_cbs = {ws_message, ws_close, ws_drain};

/* SSE callbacks */
static void sse_data(void *ud, const char *data, size_t len)
{
    (void)ud, (void)data, (void)len;
}

static void sse_drain(void *ud)
{
    catch_up(ud);
}

static void sse_shutdown(void *ud)
{
    sub_t *s = ud;
    hg_http_conn_close(s->conn, 1);
}

static void sse_closed(void *ud)
{
    sub_t *s = ud;
    sub_gone(s);
    hg_free(s);
}

static const hg_http_stream_cb_t sse_cbs = {sse_data, sse_drain, sse_shutdown, sse_closed};

/* Every 15 s: a comment line to idle SSE streams (proxies keep them open), and the end of an
 * SSE subscriber whose queue has stayed full for two rounds — it is not reading, and unlike a
 * WebSocket peer (pinged by the ws layer) nothing else would ever notice. */
static void on_keepalive(uv_timer_t *t)
{
    hg_events_t *ev = t->data;
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &ev->subs) {
        sub_t *s = hg_container_of(q, sub_t, node);
        if (s->conn == NULL || s->stop)
            continue;
        size_t n = queued(s);
        if (n == 0) {
            hg_http_conn_write(s->conn, ": keepalive\n\n", 13);
            s->stalled = 0;
        } else if (n >= HG_EVENTS_SUB_QUEUE_MAX && ++s->stalled >= 2) {
            s->stop = 1;
            hg_http_conn_close(s->conn, 0);
        } else if (n < HG_EVENTS_SUB_QUEUE_MAX) {
            s->stalled = 0;
        }
    }
}

/* ---- publishing ---- */

/* The stream's listener: an event is published (durable, numbered, in the ring). */
static void on_published(void *ud, const hg_stream_event_t *e)
{
    hg_events_t *ev = ud;
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &ev->subs) {
        sub_t *s = hg_container_of(q, sub_t, node);
        if (s->stop || s->cursor + 1 != e->seq) /* lagging: catches up on drain */
            continue;
        if (!wants(s, e)) {
            s->cursor = e->seq;
            continue;
        }
        if (queued(s) >= HG_EVENTS_SUB_QUEUE_MAX) {
            ev->lagged++;
            continue;
        }
        send_text(s, e->type, e->seq, e->json, e->len);
        s->cursor = e->seq;
    }
}

void hg_events_observe(void *ud, hg_store_txn_t *txn, hg_reg_event_t type, hg_reg_reason_t reason,
                       const hg_reg_server_t *srv)
{
    hg_events_t *ev = ud;
    if (txn == NULL || ev->stopped) /* loading at start-up: nothing happened */
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 400);
    hg_registry_server_write(&b, srv);
    /* refused only once stopped, or for a kind over HG_REG_KIND_MAX: neither can happen here */
    (void)hg_stream_publish(ev->stream, txn, hg_reg_event_name(type),
                            reason != HG_REG_REASON_NONE ? hg_reg_reason_name(reason) : NULL,
                            srv->kind, "server", b.data, b.len);
    hg_buf_free(&b);
}

void hg_events_publish(hg_events_t *ev, hg_store_txn_t *txn, const char *type, const char *kind,
                       const char *member, const char *json, size_t len)
{
    if (txn == NULL || ev == NULL || ev->stopped)
        return;
    int rc = hg_stream_publish(ev->stream, txn, type, NULL, kind, member, json, len);
    if (rc < 0)
        HG_LOG(HG_LOG_ERROR, "events", "event type=%s not queued: %s", type, hg_strerror(rc));
}

/* ---- subscribing ---- */

void hg_events_subscribe(hg_native_call_t *c)
{
    hg_events_t *ev = c->api->events;
    char kind[64] = "", after[32], snap[8];
    int has_after, rc;
    if ((rc = hg_native_query(c, "kind", kind, sizeof(kind))) < 0 ||
        (has_after = hg_native_query(c, "after", after, sizeof(after))) < 0 ||
        (rc = hg_native_query(c, "snapshot", snap, sizeof(snap))) < 0)
        goto fail;
    int want_snapshot = rc == 1 && (strcmp(snap, "1") == 0 || strcmp(snap, "true") == 0);
    if (strlen(kind) > HG_REG_KIND_MAX) {
        hg_error_set(&c->err, HG_EINVAL, "kind is at most %d characters", HG_REG_KIND_MAX);
        goto fail;
    }
    if (!has_after) {
        const hg_http_header_t *h = hg_http_req_header(c->req, "Last-Event-ID");
        if (h && h->value_len > 0 && h->value_len < sizeof(after)) {
            memcpy(after, h->value, h->value_len);
            after[h->value_len] = '\0';
            has_after = 1;
        }
    }
    uint64_t cursor = hg_stream_last_seq(ev->stream);
    if (has_after) {
        char *e;
        unsigned long long a = strtoull(after, &e, 10);
        if (*e || after[0] == '\0' || after[0] == '-') {
            hg_error_set(&c->err, HG_EINVAL, "after must be a sequence number");
            goto fail;
        }
        cursor = a;
    }
    if (ev->nsubs >= HG_EVENTS_MAX_SUBSCRIBERS || ev->stopped) {
        hg_error_set(&c->err, HG_ELIMIT, "at most %d event subscribers", HG_EVENTS_MAX_SUBSCRIBERS);
        goto fail;
    }
    sub_t *s = hg_calloc(1, sizeof(*s));
    s->hub = ev;
    hg_buf_init(&s->sse_out);
    hg_list_init(&s->out_node);
    memcpy(s->kind, kind, strlen(kind) + 1); /* checked above: at most HG_REG_KIND_MAX */
    s->cursor = cursor;
    if (hg_ws_is_upgrade(c->req)) {
        hg_ws_limits_t lim = {.max_message = 4096,
                              .max_queue_bytes = HG_EVENTS_SUB_QUEUE_MAX * 2,
                              .max_queue_msgs = 1u << 20,
                              .ping_interval_ms = 20000,
                              .pong_timeout_ms = 20000};
        if (hg_ws_accept(c->req, &lim, NULL, &ws_cbs, s, &s->ws, &c->err) < 0) {
            hg_free(s);
            goto fail;
        }
    } else {
        char head[256];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                 "no-cache\r\nX-Accel-Buffering: no\r\nX-Request-Id: %s\r\n\r\n",
                 c->request_id);
        if (hg_http_upgrade(c->req, head, &sse_cbs, s, &s->conn) < 0) {
            hg_free(s);
            hg_error_set(&c->err, HG_ECONFLICT,
                         "the event stream must be the only request in flight on its "
                         "connection");
            goto fail;
        }
        /* tell the client its position at once (and flush proxies) */
        hg_buf_t b;
        hg_buf_init(&b);
        hg_buf_printf(&b, ": hangar registry events, seq %llu\nretry: 1000\n\n",
                      (unsigned long long)hg_stream_last_seq(ev->stream));
        hg_http_conn_write(s->conn, b.data, b.len);
        hg_buf_free(&b);
    }
    hg_list_insert_tail(&ev->subs, &s->node);
    ev->nsubs++;
    hg_native_release(c);
    uint64_t first = hg_stream_first_seq(ev->stream), last = hg_stream_last_seq(ev->stream);
    if (want_snapshot)
        send_snapshot(s, "requested");
    else if (has_after && cursor > last)
        send_snapshot(s, "behind"); /* a position this history never reached (data wiped) */
    else if (has_after && cursor + 1 < first && cursor < last)
        send_snapshot(s, "behind");
    catch_up(s);
    return;
fail:
    hg_native_finish(c);
}

void hg_events_stop(hg_events_t *ev)
{
    ev->stopped = 1;
    uv_timer_stop(&ev->keepalive);
    uv_close((uv_handle_t *)&ev->keepalive, NULL);
    hg_turn_run(&ev->sse_turn); /* what was published is written before the streams close */
    hg_turn_close(&ev->sse_turn, NULL);
    hg_metrics_unregister("registry");
    hg_stream_stop(ev->stream); /* events already queued are still sent when they commit */
}

void hg_events_free(hg_events_t *ev)
{
    if (ev == NULL)
        return;
    hg_stream_free(ev->stream);
    hg_free(ev);
}
