/* hangar — the registry event stream (see events.h).
 *
 * DESIGN: the observer renders an event's JSON once, when the change happens (the server's
 * state at that moment), assigns the next sequence number (reserved in blocks, see
 * SEQ_BLOCK) and asks the store to run publish() when the change's transaction commits.
 * Transactions commit in order, so events are published in sequence order. publish() puts the
 * event in the ring and writes it to every subscriber that is caught up; lagging subscribers
 * catch up from the ring when their transport drains.
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
#include "core/jsonw.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rt/turn.h"
#include "ws/ws.h"

#define META_COLL "registry.meta"
#define META_KEY "events"

typedef struct ev_rec {
    uint64_t seq;
    char kind[HG_REG_KIND_MAX + 1];
    const char *type;
    char *json;
    size_t len;
} ev_rec_t;

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
    hg_clock_t *clock;
    hg_store_t *store;
    hg_registry_t *reg;
    ev_rec_t *ring;
    size_t cap;
    uint64_t first_seq; /* oldest seq in the ring; last_seq + 1 when empty */
    uint64_t last_seq;  /* last published */
    uint64_t next_seq;  /* last assigned */
    uint64_t reserved;  /* sequence numbers up to this are reserved in the store */
    hg_list_t subs;
    size_t nsubs;
    uv_timer_t keepalive;
    hg_turn_t sse_turn; /* SSE subscribers with events in sse_out, written at the turn's end */
    int stopped;
    uint64_t published, deliveries, snapshots, lagged;
};

static void render(hg_buf_t *out, void *ud)
{
    hg_events_t *ev = ud;
    hg_buf_printf(out,
                  "# HELP hangar_registry_servers Servers in the registry.\n"
                  "# TYPE hangar_registry_servers gauge\nhangar_registry_servers %zu\n"
                  "# HELP hangar_registry_events_total Registry events published.\n"
                  "# TYPE hangar_registry_events_total counter\n"
                  "hangar_registry_events_total %llu\n"
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
                  hg_registry_count(ev->reg), (unsigned long long)ev->published,
                  (unsigned long long)ev->deliveries, ev->nsubs, (unsigned long long)ev->snapshots,
                  (unsigned long long)ev->lagged);
}

static void on_keepalive(uv_timer_t *t);
static void sse_write(hg_turn_t *t, hg_list_t *node);

hg_events_t *hg_events_new(uv_loop_t *loop, hg_clock_t *clock, hg_store_t *store,
                           hg_registry_t *reg, size_t ring)
{
    hg_events_t *ev = hg_calloc(1, sizeof(*ev));
    ev->loop = loop;
    ev->clock = clock;
    ev->store = store;
    ev->reg = reg;
    ev->cap = ring ? ring : HG_EVENTS_RING_DEFAULT;
    ev->ring = hg_calloc(ev->cap, sizeof(*ev->ring));
    ev->first_seq = 1;
    hg_list_init(&ev->subs);
    uv_timer_init(loop, &ev->keepalive);
    ev->keepalive.data = ev;
    uv_timer_start(&ev->keepalive, on_keepalive, HG_EVENTS_KEEPALIVE_MS, HG_EVENTS_KEEPALIVE_MS);
    uv_unref((uv_handle_t *)&ev->keepalive);
    hg_turn_init(&ev->sse_turn, loop, sse_write, ev);
    hg_metrics_register("registry", render, ev);
    return ev;
}

/* Sequence numbers are reserved in blocks: the store holds the highest number that may have
 * been handed out, written once per SEQ_BLOCK events in the transaction of the event that
 * crosses into a new block. After a restart numbering continues above the reservation, so a
 * number never repeats (it may jump by up to SEQ_BLOCK). */
#define SEQ_BLOCK 4096

static int load_meta(void *ud, const char *key, json_t *v)
{
    hg_events_t *ev = ud;
    if (strcmp(key, META_KEY) == 0)
        ev->reserved = ev->next_seq = ev->last_seq =
            (uint64_t)json_integer_value(json_object_get(v, "reserved"));
    ev->first_seq = ev->last_seq + 1;
    return 0;
}

int hg_events_load(hg_events_t *ev)
{
    return hg_store_load(ev->store, META_COLL, load_meta, ev);
}

uint64_t hg_events_last_seq(const hg_events_t *ev)
{
    return ev->last_seq;
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
    hg_reg_filter_t f = {.kind = s->kind[0] ? s->kind : NULL};
    size_t n = hg_registry_count(ev->reg);
    hg_reg_server_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    int more;
    n = hg_registry_list(ev->reg, &f, NULL, n, all, &more);
    json_t *servers = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(servers, hg_registry_server_json(all[i]));
    hg_free(all);
    json_t *o = json_pack("{s:s,s:I,s:s,s:o}", "type", "snapshot", "seq", (json_int_t)ev->last_seq,
                          "reason", reason, "servers", servers);
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(13));
    send_text(s, "snapshot", ev->last_seq, text, strlen(text));
    free(text);
    json_decref(o);
    s->cursor = ev->last_seq;
    ev->snapshots++;
}

static int wants(const sub_t *s, const ev_rec_t *r)
{
    return s->kind[0] == '\0' || strcmp(s->kind, r->kind) == 0;
}

/* Deliver everything after the cursor while the transport has room. */
static void catch_up(sub_t *s)
{
    hg_events_t *ev = s->hub;
    while (!s->closed && !s->stop && s->cursor < ev->last_seq) {
        if (queued(s) >= HG_EVENTS_SUB_QUEUE_MAX)
            return;
        uint64_t next = s->cursor + 1;
        if (next < ev->first_seq) {
            send_snapshot(s, "behind");
            continue;
        }
        ev_rec_t *r = &ev->ring[next % ev->cap];
        if (wants(s, r))
            send_text(s, r->type, r->seq, r->json, r->len);
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

typedef struct pending {
    hg_events_t *ev;
    ev_rec_t rec;
} pending_t;

static void publish(void *ud, int rc)
{
    pending_t *p = ud;
    hg_events_t *ev = p->ev;
    if (rc < 0)
        HG_LOG(HG_LOG_ERROR, "registry", "event seq=%llu published although its commit failed",
               (unsigned long long)p->rec.seq);
    ev_rec_t *slot = &ev->ring[p->rec.seq % ev->cap];
    hg_free(slot->json);
    *slot = p->rec;
    hg_free(p);
    ev->last_seq = slot->seq;
    if (ev->last_seq >= ev->first_seq + ev->cap)
        ev->first_seq = ev->last_seq - ev->cap + 1;
    ev->published++;
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &ev->subs) {
        sub_t *s = hg_container_of(q, sub_t, node);
        if (s->stop || s->cursor + 1 != slot->seq) /* lagging: catches up on drain */
            continue;
        if (!wants(s, slot)) {
            s->cursor = slot->seq;
            continue;
        }
        if (queued(s) >= HG_EVENTS_SUB_QUEUE_MAX) {
            ev->lagged++;
            continue;
        }
        send_text(s, slot->type, slot->seq, slot->json, slot->len);
        s->cursor = slot->seq;
    }
}

/* Number an event and publish it when txn commits. members: `,"key":value…` after "time". */
static void enqueue(hg_events_t *ev, hg_store_txn_t *txn, const char *type, const char *reason,
                    const char *kind, const char *members, size_t mlen)
{
    pending_t *p = hg_calloc(1, sizeof(*p));
    p->ev = ev;
    p->rec.seq = ++ev->next_seq;
    snprintf(p->rec.kind, sizeof(p->rec.kind), "%s", kind);
    p->rec.type = type;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 512 + mlen);
    hg_buf_puts(&b, "{\"seq\":");
    hg_jsonw_int(&b, (int64_t)p->rec.seq);
    hg_buf_puts(&b, ",\"type\":");
    hg_jsonw_str(&b, type);
    if (reason) {
        hg_buf_puts(&b, ",\"reason\":");
        hg_jsonw_str(&b, reason);
    }
    hg_buf_puts(&b, ",\"time\":");
    hg_jsonw_time_ms(&b, hg_clock_now_ms(ev->clock));
    hg_buf_append(&b, members, mlen);
    hg_buf_puts(&b, "}");
    p->rec.json = hg_buf_steal(&b, &p->rec.len);
    if (p->rec.seq > ev->reserved) {
        ev->reserved = p->rec.seq + SEQ_BLOCK - 1;
        json_t *meta = json_pack("{s:I}", "reserved", (json_int_t)ev->reserved);
        hg_store_put(txn, META_COLL, META_KEY, meta);
        json_decref(meta);
    }
    hg_store_txn_on_commit(txn, publish, p);
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
    hg_buf_puts(&b, ",\"server\":");
    hg_registry_server_write(&b, srv);
    enqueue(ev, txn, hg_reg_event_name(type),
            reason != HG_REG_REASON_NONE ? hg_reg_reason_name(reason) : NULL, srv->kind, b.data,
            b.len);
    hg_buf_free(&b);
}

void hg_events_publish(hg_events_t *ev, hg_store_txn_t *txn, const char *type, const char *kind,
                       const char *member, const char *json, size_t len)
{
    if (txn == NULL || ev == NULL || ev->stopped)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, len + 32);
    hg_buf_puts(&b, ",");
    hg_jsonw_key(&b, member);
    hg_buf_append(&b, json, len);
    enqueue(ev, txn, type, NULL, kind, b.data, b.len);
    hg_buf_free(&b);
}

/* ---- subscribing ---- */

static void call_free(hg_native_call_t *c)
{
    json_decref(c->in);
    json_decref(c->out);
    hg_free(c);
}

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
    uint64_t cursor = ev->last_seq;
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
                      (unsigned long long)ev->last_seq);
        hg_http_conn_write(s->conn, b.data, b.len);
        hg_buf_free(&b);
    }
    hg_list_insert_tail(&ev->subs, &s->node);
    ev->nsubs++;
    call_free(c);
    if (want_snapshot)
        send_snapshot(s, "requested");
    else if (has_after && cursor > ev->last_seq)
        send_snapshot(s, "behind"); /* a position this history never reached (data wiped) */
    else if (has_after && cursor + 1 < ev->first_seq && cursor < ev->last_seq)
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
}

void hg_events_free(hg_events_t *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->cap; i++)
        hg_free(ev->ring[i].json);
    hg_free(ev->ring);
    hg_free(ev);
}
