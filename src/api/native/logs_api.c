/* hangar — /v1/events: the event log for analysis (docs/api.md; the domain is logs/logs.h).
 *
 *     POST /v1/events          {"events": [{"type", "player_id"?, "time"?, "attributes"?}]}
 *                              → 201 {"ids": [...]} once durable; a player (bearer, its own id
 *                              forced) or a key with events:Write; one bad event refuses all
 *     GET  /v1/events[?type=&player_id=&from=&to=&limit=&after=]
 *                              → {"items": [...], "next"?}: a page in id order (events:Read, or
 *                              a player for its own events)
 *     GET  /v1/events/export[?type=&player_id=&from=&to=&format=ndjson|csv]
 *                              → the whole range, chunked (events:Read only)
 *
 * Types starting with payment. are the wallet's (hg_logs_append in its own transactions):
 * neither players nor keys post them here.
 *
 * Exports take the connection over (hg_http_upgrade, as the SSE event stream does) once the
 * first page is read — an error before that is an ordinary JSON error — and write one HTTP/1.1
 * chunk per page; the logs module reads the next page when the connection's queue drains
 * below its threshold. The answer ends with the last chunk and the connection closes
 * (Connection: close). A failure mid-stream closes the connection without the last chunk, so a
 * client always knows a truncated export from a complete one.
 */
#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/native_int.h"
#include "core/alloc.h"
#include "logs/logs.h"

#define MAX_TIME_S 1e11 /* beyond any time the log accepts; keeps the ms conversion exact */

/* Copy a query parameter into out; 1 present, 0 absent, < 0 error (c->err set). */
static int query(hg_native_call_t *c, const char *name, char *out, size_t cap)
{
    int rc = hg_native_query(c, name, out, cap);
    if (rc < 0)
        snprintf(c->err.field, sizeof(c->err.field), "%s", name);
    return rc;
}

static int bad_param(hg_native_call_t *c, const char *name, const char *what)
{
    int rc = hg_error_set(&c->err, HG_EINVAL, "%s must be %s", name, what);
    snprintf(c->err.field, sizeof(c->err.field), "%s", name);
    return rc;
}

/* ?from= / ?to=: epoch seconds (a fraction allowed) as ms. */
static int time_param(hg_native_call_t *c, const char *name, int64_t *ms, int64_t none)
{
    char v[32];
    int rc = query(c, name, v, sizeof(v));
    *ms = none;
    if (rc <= 0)
        return rc;
    char *e;
    double d = strtod(v, &e);
    if (v[0] == '\0' || *e || !isfinite(d) || d < 0 || d > MAX_TIME_S)
        return bad_param(c, name, "epoch seconds (a number, a fraction allowed)");
    *ms = llround(d * 1000.0);
    return 0;
}

/* The filter of GET /v1/events and the export: type, player_id (forced for a player), from, to. */
static int parse_filter(hg_native_call_t *c, hg_store_event_query_t *q, char *type, char *player)
{
    int rc, has;
    memset(q, 0, sizeof(*q));
    if ((has = query(c, "type", type, HG_LOGS_TYPE_MAX + 1)) < 0)
        return has;
    if (has && !hg_logs_type_valid(type))
        return bad_param(c, "type", "1..64 of [A-Za-z0-9_.:-]");
    q->type = has ? type : NULL;
    if ((has = query(c, "player_id", player, HG_LOGS_PLAYER_MAX + 1)) < 0)
        return has;
    if (c->player) {
        if (has && strcmp(player, c->player->id) != 0) {
            rc = hg_error_set(&c->err, HG_EUNAUTHORIZED, "a player reads only its own events");
            snprintf(c->err.field, sizeof(c->err.field), "player_id");
            return rc;
        }
        snprintf(player, HG_LOGS_PLAYER_MAX + 1, "%s", c->player->id);
        has = 1;
    }
    q->player = has ? player : NULL;
    if ((rc = time_param(c, "from", &q->from_ms, INT64_MIN)) < 0 ||
        (rc = time_param(c, "to", &q->to_ms, INT64_MAX)) < 0)
        return rc;
    if (q->from_ms != INT64_MIN && q->to_ms != INT64_MAX && q->to_ms < q->from_ms)
        return bad_param(c, "to", "at least from");
    return 0;
}

/* ---- POST /v1/events ---- */

/* Event i's error: "events[i]: <message>" with field events[i].<field>. */
static int event_error(hg_native_call_t *c, size_t i, int code, const char *field, const char *msg)
{
    char m[HG_ERROR_MSG_MAX];
    snprintf(m, sizeof(m), "%s", msg);
    hg_error_set(&c->err, code, "events[%zu]: %s", i, m);
    snprintf(c->err.field, sizeof(c->err.field), "events[%zu]%s%.32s", i, field[0] ? "." : "",
             field);
    return code;
}

static int ingest_one(hg_native_call_t *c, hg_store_txn_t *txn, size_t i, json_t *e, json_t *ids)
{
    if (!json_is_object(e))
        return event_error(c, i, HG_EINVAL, "", "an event must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach (e, k, v)
        if (strcmp(k, "type") && strcmp(k, "player_id") && strcmp(k, "time") &&
            strcmp(k, "attributes")) {
            char m[160];
            snprintf(m, sizeof(m), "unknown member \"%.64s\" (type, player_id, time, attributes)",
                     k);
            return event_error(c, i, HG_EINVAL, "", m);
        }
    json_t *type = json_object_get(e, "type"), *pid = json_object_get(e, "player_id");
    json_t *time = json_object_get(e, "time"), *attrs = json_object_get(e, "attributes");
    if (!json_is_string(type))
        return event_error(c, i, HG_EINVAL, "type", "type (a string) is required");
    const char *t = json_string_value(type);
    if (strncmp(t, HG_LOGS_RESERVED_PREFIX, strlen(HG_LOGS_RESERVED_PREFIX)) == 0)
        return event_error(c, i, HG_EUNAUTHORIZED, "type",
                           "types starting with " HG_LOGS_RESERVED_PREFIX
                           " are reserved to the wallet's payment events");
    if (pid && !json_is_null(pid) && !json_is_string(pid))
        return event_error(c, i, HG_EINVAL, "player_id", "player_id must be a string");
    const char *player = json_is_string(pid) ? json_string_value(pid) : NULL;
    if (c->player) {
        if (player && strcmp(player, c->player->id) != 0)
            return event_error(c, i, HG_EUNAUTHORIZED, "player_id",
                               "a player posts only its own events");
        player = c->player->id;
    }
    int64_t ms = hg_clock_now_ms(c->api->clock);
    if (time && !json_is_null(time)) {
        double d = json_number_value(time);
        if (!json_is_number(time) || !isfinite(d) || d < 0 || d > MAX_TIME_S)
            return event_error(c, i, HG_EINVAL, "time",
                               "time must be epoch seconds (a number, a fraction allowed)");
        ms = llround(d * 1000.0);
    }
    if (attrs && !json_is_null(attrs) && !json_is_object(attrs))
        return event_error(c, i, HG_EINVAL, "attributes", "attributes must be a JSON object");
    char *text = attrs && json_is_object(attrs) ? json_dumps(attrs, JSON_COMPACT) : NULL;
    hg_error_t err;
    hg_error_clear(&err);
    uint64_t id;
    int rc = hg_logs_append(c->api->logs, txn, t, player, ms, text, &id, &err);
    free(text);
    if (rc < 0)
        return event_error(c, i, rc, err.field, hg_error_message(&err));
    json_array_append_new(ids, json_integer((json_int_t)id));
    return 0;
}

static void ingest(hg_native_call_t *c)
{
    hg_store_txn_t *txn = NULL;
    json_t *ids = NULL;
    if (c->player == NULL && hg_native_require(c, "events:Write") < 0)
        goto fail;
    if (hg_native_parse_body(c) < 0)
        goto fail;
    json_t *events = json_object_get(c->in, "events");
    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > HG_LOGS_BATCH_MAX) {
        hg_error_set(&c->err, HG_EINVAL, "events must be an array of 1..%d events",
                     HG_LOGS_BATCH_MAX);
        snprintf(c->err.field, sizeof(c->err.field), "events");
        goto fail;
    }
    txn = hg_store_txn_new(c->api->store);
    ids = json_array();
    for (size_t i = 0; i < json_array_size(events); i++)
        if (ingest_one(c, txn, i, json_array_get(events, i), ids) < 0)
            goto fail; /* the whole batch is refused: its ids are skipped */
    c->out = json_pack("{s:o}", "ids", ids);
    c->status = 201;
    hg_native_commit(c, txn); /* answered once durable */
    return;
fail:
    hg_store_txn_free(txn);
    json_decref(ids);
    hg_native_finish(c);
}

/* ---- GET /v1/events ---- */

static void on_page(void *ud, int rc, const hg_store_event_t *evs, size_t n, int more)
{
    hg_native_call_t *c = ud;
    if (rc < 0) {
        hg_error_set(&c->err, rc, "cannot read the event log: %s", hg_strerror(rc));
        hg_native_finish(c);
        return;
    }
    hg_buf_t *b = &c->out_text;
    hg_buf_puts(b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hg_buf_puts(b, ",");
        hg_logs_write_json(b, &evs[i]);
    }
    hg_buf_puts(b, "]");
    if (more)
        hg_buf_printf(b, ",\"next\":\"%llu\"", (unsigned long long)evs[n - 1].id);
    hg_buf_puts(b, "}");
    hg_native_finish(c);
}

static void list(hg_native_call_t *c)
{
    char type[HG_LOGS_TYPE_MAX + 1], player[HG_LOGS_PLAYER_MAX + 1], after[32];
    hg_store_event_query_t q;
    size_t limit;
    int has;
    if ((c->player == NULL && hg_native_require(c, "events:Read") < 0) ||
        parse_filter(c, &q, type, player) < 0 ||
        hg_native_limit(c, HG_LOGS_PAGE_DEFAULT, &limit) < 0 ||
        (has = query(c, "after", after, sizeof(after))) < 0)
        goto fail;
    if (has) {
        char *e;
        unsigned long long a = strtoull(after, &e, 10);
        if (after[0] < '0' || after[0] > '9' || *e) {
            bad_param(c, "after", "an event id (the next cursor of the page before)");
            goto fail;
        }
        q.after_id = a;
    }
    q.limit = limit;
    hg_logs_query(c->api->logs, &q, on_page, c); /* q's strings are copied */
    return;
fail:
    hg_native_finish(c);
}

/* ---- GET /v1/events/export ---- */

typedef struct xport {
    hg_native_call_t *c;  /* until the stream begins: the request */
    hg_http_conn_t *conn; /* once it began */
    hg_logs_export_t *x;  /* until the export ends or is cancelled */
    hg_logs_format_t fmt;
    hg_buf_t chunk;
} xport_t;

static void xs_data(void *ud, const char *data, size_t len)
{
    (void)ud, (void)data, (void)len; /* nothing is read from an export's client */
}

static void xs_drain(void *ud)
{
    xport_t *xp = ud;
    if (xp->x)
        hg_logs_export_drained(xp->x);
}

static void xs_shutdown(void *ud)
{
    xport_t *xp = ud;
    if (xp->x) { /* the server stops: the export ends truncated (no last chunk) */
        hg_logs_export_cancel(xp->x);
        xp->x = NULL;
    }
    hg_http_conn_close(xp->conn, 1);
}

static void xs_closed(void *ud)
{
    xport_t *xp = ud;
    if (xp->x)
        hg_logs_export_cancel(xp->x);
    hg_buf_free(&xp->chunk);
    hg_free(xp);
}

static const hg_http_stream_cb_t xs_cbs = {xs_data, xs_drain, xs_shutdown, xs_closed};

static int sink_begin(void *ud)
{
    xport_t *xp = ud;
    hg_native_call_t *c = xp->c;
    char head[320];
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
             "Cache-Control: no-store\r\nConnection: close\r\nX-Request-Id: %s\r\n\r\n",
             xp->fmt == HG_LOGS_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson",
             c->request_id);
    if (hg_http_upgrade(c->req, head, &xs_cbs, xp, &xp->conn) < 0) {
        xp->conn = NULL;
        return hg_error_set(&c->err, HG_ECONFLICT,
                            "the export must be the only request in flight on its connection");
    }
    xp->c = NULL;
    hg_native_release(c);
    return 0;
}

static int sink_write(void *ud, const char *data, size_t len)
{
    xport_t *xp = ud;
    xp->chunk.len = 0;
    hg_buf_reserve(&xp->chunk, len + 24);
    hg_buf_printf(&xp->chunk, "%zx\r\n", len);
    hg_buf_append(&xp->chunk, data, len);
    hg_buf_puts(&xp->chunk, "\r\n");
    int rc = hg_http_conn_write(xp->conn, xp->chunk.data, xp->chunk.len);
    if (xp->chunk.cap > 2 * (size_t)HG_LOGS_EXPORT_DRAIN)
        hg_buf_free(&xp->chunk);
    return rc;
}

static size_t sink_queued(void *ud)
{
    xport_t *xp = ud;
    return hg_http_conn_write_queue(xp->conn);
}

static void sink_end(void *ud, int rc)
{
    xport_t *xp = ud;
    xp->x = NULL;
    if (xp->conn == NULL) { /* it never began: an ordinary error answer */
        hg_native_call_t *c = xp->c;
        if (c->err.code == 0)
            hg_error_set(&c->err, rc, "cannot read the event log: %s", hg_strerror(rc));
        hg_buf_free(&xp->chunk);
        hg_free(xp);
        hg_native_finish(c);
        return;
    }
    if (rc == 0) {
        (void)hg_http_conn_write(xp->conn, "0\r\n\r\n", 5); /* the last chunk */
        hg_http_conn_close(xp->conn, 1);
    } else {
        hg_http_conn_close(xp->conn, 0); /* truncated: the client sees no last chunk */
    }
}

static const hg_logs_sink_t sink = {sink_begin, sink_write, sink_queued, sink_end};

static void export(hg_native_call_t *c)
{
    char type[HG_LOGS_TYPE_MAX + 1], player[HG_LOGS_PLAYER_MAX + 1], fmt[16];
    hg_store_event_query_t q;
    int has;
    if (hg_native_require(c, "events:Read") < 0 || parse_filter(c, &q, type, player) < 0 ||
        (has = query(c, "format", fmt, sizeof(fmt))) < 0)
        goto fail;
    hg_logs_format_t f = HG_LOGS_NDJSON;
    if (has && strcmp(fmt, "csv") == 0) {
        f = HG_LOGS_CSV;
    } else if (has && strcmp(fmt, "ndjson") != 0) {
        bad_param(c, "format", "ndjson or csv");
        goto fail;
    }
    xport_t *xp = hg_calloc(1, sizeof(*xp));
    xp->c = c;
    xp->fmt = f;
    hg_buf_init(&xp->chunk);
    int rc = hg_logs_export_start(c->api->logs, &q, f, &sink, xp, &xp->x);
    if (rc < 0) {
        hg_free(xp);
        hg_error_set(&c->err, rc,
                     rc == HG_ETHROTTLED ? "at most %d exports run at once; try again later"
                                         : "cannot export now (%d)",
                     rc == HG_ETHROTTLED ? HG_LOGS_EXPORTS_MAX : rc);
        goto fail;
    }
    return;
fail:
    hg_native_finish(c);
}

void hg_native_logs(hg_native_call_t *c, const char *rest, size_t rest_len)
{
    if (rest_len == 0) {
        if (c->req->method == HTTP_POST)
            ingest(c);
        else if (c->req->method == HTTP_GET)
            list(c);
        else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/events");
            hg_native_finish(c);
        }
        return;
    }
    if (rest_len == 7 && memcmp(rest, "/export", 7) == 0) {
        if (c->req->method == HTTP_GET)
            export(c);
        else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET on /v1/events/export");
            hg_native_finish(c);
        }
        return;
    }
    hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    hg_native_finish(c);
}
