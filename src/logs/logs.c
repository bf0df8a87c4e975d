/* hangar — event logs (see logs.h): ids, validation, retention rules and the sweep, queries and
 * paged exports with backpressure.
 *
 * DESIGN: nothing of the log lives in memory but the last id, the retention rules, the sweep's
 * cursor and the exports in progress. Every read is a job on the store's reader lane and
 * completes on the loop; every write (appends, sweep deletes) rides a store transaction.
 *
 * The sweep, one pass per tick at most (a pass is a chain of callbacks, never a loop that
 * waits):
 *
 *     IDLE --tick--> [types list empty?] --yes--> read types after the cursor --> on_types
 *                          | no                                     (none: round over, IDLE)
 *                          v
 *              type kept for ever? --yes--> cursor = type, next type
 *                          | no
 *                          v
 *              read its events older than the cut-off, oldest first --> on_expired
 *                   (fewer than asked: cursor = type, next type)
 *                          |
 *              delete them (+ the id high-water mark) in one transaction --> on_deleted --> next
 *
 *     | step                | function     | ends the pass when                               |
 *     |---------------------|--------------|--------------------------------------------------|
 *     | tick                | hg_logs_tick | a pass runs, no rules, store fenced, round rests |
 *     | next step           | sweep_step   | budget spent or HG_LOGS_SWEEP_STEPS reads made   |
 *     | types read          | on_types     | error, or no type after the cursor (round over)  |
 *     | expired events read | on_expired   | error                                            |
 *     | deletes committed   | on_deleted   | error                                            |
 *
 * Exports hold three kinds of reference: the caller's (until end or cancel), one per read in
 * flight, and one while a callback into the sink runs; the export is freed when the last goes,
 * so a sink that closes its transport (and cancels) from inside write or end is safe.
 */
#include "logs/logs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"

#define DAY_MS 86400000LL
#define META_COLL "logs.meta"
#define META_KEY "last_id"

typedef enum { RULE_EXACT, RULE_PREFIX, RULE_ALL } rule_kind_t;

typedef struct rule {
    rule_kind_t kind;
    char sel[HG_LOGS_TYPE_MAX + 1]; /* the type, or the prefix without its '*' */
    size_t len;
    unsigned days;
} rule_t;

struct hg_logs_export {
    hg_list_t node; /* in lg->exports while not ended */
    hg_logs_t *lg;
    hg_store_event_query_t q; /* q.type and q.player owned */
    hg_logs_format_t fmt;
    const hg_logs_sink_t *sink;
    void *ud;
    int refs;
    int ended;    /* end ran or cancel was called: no sink call from now on */
    int begun;    /* begin ran */
    int reading;  /* a read is in flight */
    int waiting;  /* waiting for the transport to drain */
    int starting; /* inside hg_logs_export_start: a failure is returned, not ended */
    int start_rc;
    int64_t wait_since_ms;
    hg_buf_t page;
};

struct hg_logs {
    uv_loop_t *loop;
    hg_store_t *store;
    hg_clock_t *clock;
    uint64_t last_id;
    int started;
    rule_t *rules;
    size_t nrules;
    /* the sweep */
    int sweeping;                        /* a pass is in progress */
    size_t pass_left;                    /* deletions left in this pass */
    int pass_steps;                      /* reads made in this pass */
    int64_t round_start_ms;              /* when the current round began (0: none yet) */
    char cursor[HG_LOGS_TYPE_MAX + 1];   /* last type done in this round ("" at its start) */
    char (*types)[HG_LOGS_TYPE_MAX + 1]; /* types read after the cursor, not yet done */
    size_t ntypes, itype;
    uint64_t swept; /* events deleted by retention (stats) */
    /* exports */
    hg_list_t exports;
    size_t nexports;
};

hg_logs_t *hg_logs_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock)
{
    hg_logs_t *lg = hg_calloc(1, sizeof(*lg));
    lg->loop = loop;
    lg->store = store;
    lg->clock = clock;
    hg_list_init(&lg->exports);
    return lg;
}

void hg_logs_free(hg_logs_t *lg)
{
    if (lg == NULL)
        return;
    /* the store is closed first (every read completed), and transports are gone by now */
    if (HG_NEVER(lg->nexports != 0))
        HG_LOG(HG_LOG_ERROR, "logs", "freed with %zu exports running", lg->nexports);
    hg_free(lg->rules);
    hg_free(lg->types);
    hg_free(lg);
}

/* ---- validation ---- */

int hg_logs_type_valid(const char *type)
{
    return hg_str_name(type, strlen(type), HG_LOGS_TYPE_MAX, ".:-");
}

static int player_valid(const char *p)
{
    return hg_str_token(p, 1, HG_LOGS_PLAYER_MAX);
}

/* ---- retention rules ---- */

/* One "sel=days" of the option (s, n bytes, trimmed). */
static int parse_rule(const char *s, size_t n, rule_t *r, hg_error_t *err)
{
    const char *eq = memchr(s, '=', n);
    if (eq == NULL)
        return hg_error_set(err, HG_EINVAL,
                            "event-retention: \"%.*s\" is not type=days (an exact type, a prefix "
                            "ending in *, or * for every other type)",
                            (int)(n > 80 ? 80 : n), s);
    size_t sl = (size_t)(eq - s);
    while (sl > 0 && s[sl - 1] == ' ')
        sl--;
    const char *d = eq + 1, *de = s + n;
    while (d < de && *d == ' ')
        d++;
    char days[16];
    size_t dl = (size_t)(de - d);
    if (dl == 0 || dl >= sizeof(days))
        goto bad_days;
    memcpy(days, d, dl);
    days[dl] = '\0';
    for (size_t i = 0; i < dl; i++)
        if (!isdigit((unsigned char)days[i]))
            goto bad_days;
    long v = strtol(days, NULL, 10);
    if (v < 1 || v > HG_LOGS_RETENTION_DAYS_MAX)
        goto bad_days;
    r->days = (unsigned)v;
    if (sl == 1 && s[0] == '*') {
        r->kind = RULE_ALL;
        r->sel[0] = '\0';
        r->len = 0;
        return 0;
    }
    r->kind = sl > 0 && s[sl - 1] == '*' ? RULE_PREFIX : RULE_EXACT;
    r->len = r->kind == RULE_PREFIX ? sl - 1 : sl;
    if (!hg_str_name(s, r->len, HG_LOGS_TYPE_MAX, ".:-"))
        goto bad_sel;
    memcpy(r->sel, s, r->len);
    r->sel[r->len] = '\0';
    return 0;
bad_days:
    return hg_error_set(err, HG_EINVAL, "event-retention: \"%.*s\": days must be 1..%d",
                        (int)(n > 80 ? 80 : n), s, HG_LOGS_RETENTION_DAYS_MAX);
bad_sel:
    return hg_error_set(err, HG_EINVAL,
                        "event-retention: \"%.*s\": the type must be 1..%d of [A-Za-z0-9_.:-], "
                        "optionally ending in * (a prefix), or * alone",
                        (int)(n > 80 ? 80 : n), s, HG_LOGS_TYPE_MAX);
}

static int parse_retention(const char *text, rule_t **out, size_t *nout, hg_error_t *err)
{
    rule_t *rules = NULL;
    size_t n = 0;
    int rc = 0;
    const char *p = text ? text : "";
    while (*p == ' ')
        p++;
    if (*p == '\0')
        goto done;
    rules = hg_calloc(HG_LOGS_RULES_MAX, sizeof(*rules));
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len && *s == ' ')
            s++, len--;
        while (len && s[len - 1] == ' ')
            len--;
        if (len == 0) {
            rc = hg_error_set(err, HG_EINVAL, "event-retention: an empty rule (two commas?)");
            goto done;
        }
        if (n == HG_LOGS_RULES_MAX) {
            rc = hg_error_set(err, HG_EINVAL, "event-retention: at most %d rules",
                              HG_LOGS_RULES_MAX);
            goto done;
        }
        if ((rc = parse_rule(s, len, &rules[n], err)) < 0)
            goto done;
        for (size_t i = 0; i < n; i++)
            if (rules[i].kind == rules[n].kind && strcmp(rules[i].sel, rules[n].sel) == 0) {
                rc = hg_error_set(err, HG_EINVAL, "event-retention: \"%.*s\" is given twice",
                                  (int)len, s);
                goto done;
            }
        n++;
        if (e == NULL)
            break;
        p = e + 1;
    }
done:
    if (rc < 0) {
        hg_free(rules);
        return rc;
    }
    *out = rules;
    *nout = n;
    return 0;
}

unsigned hg_logs_retention_days(const hg_logs_t *lg, const char *type)
{
    const rule_t *best = NULL, *all = NULL;
    for (size_t i = 0; i < lg->nrules; i++) {
        const rule_t *r = &lg->rules[i];
        if (r->kind == RULE_EXACT && strcmp(r->sel, type) == 0)
            return r->days;
        if (r->kind == RULE_ALL)
            all = r;
        else if (r->kind == RULE_PREFIX && strncmp(type, r->sel, r->len) == 0 &&
                 (best == NULL || r->len > best->len))
            best = r;
    }
    return best ? best->days : all ? all->days : 0;
}

/* ---- start, ids, append ---- */

static int on_meta(void *ud, const char *key, json_t *value)
{
    hg_logs_t *lg = ud;
    json_t *v = json_object_get(value, "last_id");
    if (strcmp(key, META_KEY) == 0 && json_is_integer(v) && json_integer_value(v) > 0 &&
        (uint64_t)json_integer_value(v) > lg->last_id)
        lg->last_id = (uint64_t)json_integer_value(v);
    return 0;
}

int hg_logs_start(hg_logs_t *lg, const char *retention, hg_error_t *err)
{
    int rc;
    rule_t *rules;
    size_t n;
    if ((rc = parse_retention(retention, &rules, &n, err)) < 0)
        return rc;
    hg_free(lg->rules);
    lg->rules = rules;
    lg->nrules = n;
    uint64_t last = 0;
    if ((rc = hg_store_last_event_id(lg->store, &last)) < 0)
        return hg_error_set(err, rc, "cannot read the last event id: %s", hg_strerror(rc));
    lg->last_id = last;
    if ((rc = hg_store_load(lg->store, META_COLL, on_meta, lg)) < 0)
        return hg_error_set(err, rc, "cannot read the event log's id mark: %s", hg_strerror(rc));
    lg->started = 1;
    HG_LOG(HG_LOG_INFO, "logs", "started last_id=%llu retention_rules=%zu",
           (unsigned long long)lg->last_id, lg->nrules);
    return 0;
}

uint64_t hg_logs_last_id(const hg_logs_t *lg)
{
    return lg->last_id;
}

void hg_logs_stats(const hg_logs_t *lg, hg_logs_stats_t *out)
{
    out->last_id = lg->last_id;
    out->swept = lg->swept;
    out->exports = lg->nexports;
    out->sweeping = lg->sweeping;
}

int hg_logs_append(hg_logs_t *lg, hg_store_txn_t *txn, const char *type, const char *player_id,
                   int64_t time_ms, const char *attrs, uint64_t *id, hg_error_t *err)
{
    int rc;
    if (!lg->started)
        return hg_error_set(err, HG_ENOTREADY, "the event log is not started");
    if (type == NULL || !hg_logs_type_valid(type)) {
        rc =
            hg_error_set(err, HG_EINVAL, "type must be 1..%d of [A-Za-z0-9_.:-]", HG_LOGS_TYPE_MAX);
        snprintf(err->field, sizeof(err->field), "type");
        return rc;
    }
    if (player_id && !player_valid(player_id)) {
        rc = hg_error_set(err, HG_EINVAL,
                          "player_id must be 1..%d printable ASCII characters without spaces",
                          HG_LOGS_PLAYER_MAX);
        snprintf(err->field, sizeof(err->field), "player_id");
        return rc;
    }
    int64_t now = hg_clock_now_ms(lg->clock);
    if (time_ms < HG_LOGS_TIME_MIN_MS || time_ms > now + HG_LOGS_FUTURE_MAX_MS) {
        rc = hg_error_set(err, HG_EINVAL,
                          "time must be epoch seconds from 2000-01-01 to a day from now");
        snprintf(err->field, sizeof(err->field), "time");
        return rc;
    }
    if (attrs) {
        /* attrs comes from a JSON writer (the events API re-serialises what it parsed, the
         * wallet writes its own): its size and an object's braces are checked, not its
         * grammar; parsing it again here was ~4% of a purchase on the loop */
        size_t len = strlen(attrs);
        if (len < 2 || len > HG_LOGS_ATTRS_MAX || attrs[0] != '{' || attrs[len - 1] != '}') {
            rc = hg_error_set(err, HG_EINVAL,
                              "attributes must be a JSON object of at most %d bytes (compact)",
                              HG_LOGS_ATTRS_MAX);
            snprintf(err->field, sizeof(err->field), "attributes");
            return rc;
        }
    }
    hg_store_event_t ev = {
        .id = ++lg->last_id, .time_ms = time_ms, .type = type, .player = player_id, .attrs = attrs};
    hg_store_event_add(txn, &ev);
    if (id)
        *id = ev.id;
    return 0;
}

/* ---- rendering ---- */

void hg_logs_write_json(hg_buf_t *b, const hg_store_event_t *ev)
{
    hg_buf_printf(b, "{\"id\":%llu,\"type\":", (unsigned long long)ev->id);
    hg_jsonw_str(b, ev->type);
    hg_buf_puts(b, ",\"player_id\":");
    if (ev->player)
        hg_jsonw_str(b, ev->player);
    else
        hg_buf_puts(b, "null");
    hg_buf_puts(b, ",\"time\":");
    hg_jsonw_time_ms(b, ev->time_ms);
    hg_buf_puts(b, ",\"attributes\":");
    hg_buf_puts(b, ev->attrs ? ev->attrs : "null"); /* validated JSON object text */
    hg_buf_puts(b, "}");
}

/* A CSV cell: as is, or quoted with inner quotes doubled when it holds , " CR or LF. */
static void csv_cell(hg_buf_t *b, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        hg_buf_puts(b, s);
        return;
    }
    hg_buf_puts(b, "\"");
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        hg_buf_append(b, s, (size_t)(q - s));
        hg_buf_puts(b, "\"\"");
    }
    hg_buf_puts(b, s);
    hg_buf_puts(b, "\"");
}

void hg_logs_write_csv(hg_buf_t *b, const hg_store_event_t *ev)
{
    hg_buf_printf(b, "%llu,", (unsigned long long)ev->id);
    csv_cell(b, ev->type);
    hg_buf_puts(b, ",");
    csv_cell(b, ev->player);
    hg_buf_puts(b, ",");
    hg_jsonw_time_ms(b, ev->time_ms);
    hg_buf_puts(b, ",");
    csv_cell(b, ev->attrs);
    hg_buf_puts(b, "\r\n");
}

/* ---- queries ---- */

void hg_logs_query(hg_logs_t *lg, const hg_store_event_query_t *q, hg_store_events_cb cb, void *ud)
{
    hg_store_events(lg->store, q, cb, ud);
}

/* ---- exports ---- */

static void x_unref(hg_logs_export_t *x)
{
    if (--x->refs > 0)
        return;
    hg_free((char *)x->q.type);
    hg_free((char *)x->q.player);
    hg_buf_free(&x->page);
    hg_free(x);
}

/* End the export once: the sink hears why (unless starting: start returns it). */
static void x_finish(hg_logs_export_t *x, int rc)
{
    if (x->ended)
        return;
    x->ended = 1;
    x->waiting = 0;
    hg_list_remove(&x->node);
    x->lg->nexports--;
    if (x->starting) {
        x->start_rc = rc;
    } else {
        x->refs++;
        x->sink->end(x->ud, rc);
        x->refs--;
    }
    x_unref(x); /* the caller's reference */
}

static void x_read(hg_logs_export_t *x);

static void on_x_page(void *ud, int rc, const hg_store_event_t *evs, size_t n, int more)
{
    hg_logs_export_t *x = ud;
    x->reading = 0;
    if (x->ended)
        goto out;
    if (rc < 0) {
        x_finish(x, rc);
        goto out;
    }
    x->page.len = 0;
    if (!x->begun) {
        x->begun = 1;
        if ((rc = x->sink->begin(x->ud)) < 0) {
            x_finish(x, rc);
            goto out;
        }
        if (x->ended)
            goto out;
        if (x->fmt == HG_LOGS_CSV)
            hg_buf_puts(&x->page, HG_LOGS_CSV_HEADER);
    }
    for (size_t i = 0; i < n; i++) {
        if (x->fmt == HG_LOGS_CSV) {
            hg_logs_write_csv(&x->page, &evs[i]);
        } else {
            hg_logs_write_json(&x->page, &evs[i]);
            hg_buf_puts(&x->page, "\n");
        }
    }
    if (x->page.len && (rc = x->sink->write(x->ud, x->page.data, x->page.len)) < 0) {
        x_finish(x, rc);
        goto out;
    }
    if (x->page.cap > 2 * (size_t)HG_LOGS_EXPORT_DRAIN) /* an unusually large page */
        hg_buf_free(&x->page);
    else
        x->page.len = 0;
    if (x->ended)
        goto out;
    if (!more) {
        x_finish(x, 0);
        goto out;
    }
    x->q.after_id = evs[n - 1].id;
    if (x->sink->queued(x->ud) < HG_LOGS_EXPORT_DRAIN) {
        x_read(x);
    } else {
        x->waiting = 1;
        x->wait_since_ms = hg_clock_now_ms(x->lg->clock);
    }
out:
    x_unref(x); /* the read's reference */
}

static void x_read(hg_logs_export_t *x)
{
    x->reading = 1;
    x->waiting = 0;
    x->refs++;
    hg_store_events(x->lg->store, &x->q, on_x_page, x);
}

int hg_logs_export_start(hg_logs_t *lg, const hg_store_event_query_t *q, hg_logs_format_t fmt,
                         const hg_logs_sink_t *sink, void *ud, hg_logs_export_t **out)
{
    if (lg->nexports >= HG_LOGS_EXPORTS_MAX)
        return HG_ETHROTTLED;
    hg_logs_export_t *x = hg_calloc(1, sizeof(*x));
    x->lg = lg;
    x->q = *q;
    x->q.type = q->type ? hg_strdup(q->type) : NULL;
    x->q.player = q->player ? hg_strdup(q->player) : NULL;
    x->q.after_id = 0;
    x->q.by_time = 0;
    x->q.limit = HG_LOGS_EXPORT_PAGE;
    x->fmt = fmt;
    x->sink = sink;
    x->ud = ud;
    x->refs = 2; /* the caller's, and this function's until it returns */
    hg_buf_init(&x->page);
    hg_list_insert_tail(&lg->exports, &x->node);
    lg->nexports++;
    x->starting = 1;
    x_read(x); /* a refusal (store closing) calls back at once: x_finish records it */
    x->starting = 0;
    int rc = x->ended ? x->start_rc : 0;
    if (rc == 0)
        *out = x;
    x_unref(x);
    return rc;
}

void hg_logs_export_drained(hg_logs_export_t *x)
{
    if (!x->ended && x->waiting && !x->reading)
        x_read(x);
}

void hg_logs_export_cancel(hg_logs_export_t *x)
{
    if (x->ended)
        return;
    x->ended = 1;
    x->waiting = 0;
    hg_list_remove(&x->node);
    x->lg->nexports--;
    x_unref(x);
}

static void check_stalls(hg_logs_t *lg)
{
    int64_t now = hg_clock_now_ms(lg->clock);
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &lg->exports) {
        hg_logs_export_t *x = hg_container_of(q, hg_logs_export_t, node);
        if (x->waiting && now - x->wait_since_ms >= HG_LOGS_EXPORT_STALL_MS) {
            HG_LOG(HG_LOG_WARN, "logs", "export stalled for %d ms: ended", HG_LOGS_EXPORT_STALL_MS);
            x_finish(x, HG_ETHROTTLED);
        }
    }
}

/* ---- the retention sweep ---- */

static void sweep_step(hg_logs_t *lg);

static void pass_end(hg_logs_t *lg)
{
    lg->sweeping = 0;
}

static void on_deleted(void *ud, int rc)
{
    hg_logs_t *lg = ud;
    if (rc < 0) {
        pass_end(lg);
        return;
    }
    sweep_step(lg);
}

static void next_type(hg_logs_t *lg)
{
    snprintf(lg->cursor, sizeof(lg->cursor), "%s", lg->types[lg->itype]);
    lg->itype++;
}

static void on_expired(void *ud, int rc, const hg_store_event_t *evs, size_t n, int more)
{
    hg_logs_t *lg = ud;
    if (rc < 0 || hg_store_fenced(lg->store)) {
        pass_end(lg);
        return;
    }
    if (!more)
        next_type(lg); /* every expired event of this type is in this page */
    if (n == 0) {
        sweep_step(lg);
        return;
    }
    hg_store_txn_t *t = hg_store_txn_new(lg->store);
    for (size_t i = 0; i < n; i++)
        hg_store_event_del(t, evs[i].id, evs[i].player);
    /* the id high-water mark: the newest event may be among these */
    json_t *mark = json_pack("{s:I}", "last_id", (json_int_t)lg->last_id);
    hg_store_put(t, META_COLL, META_KEY, mark);
    json_decref(mark);
    lg->pass_left = n < lg->pass_left ? lg->pass_left - n : 0;
    lg->swept += n;
    hg_store_commit(t, on_deleted, lg);
}

static void on_types(void *ud, int rc, const char *const *names, size_t n, int more)
{
    (void)more;
    hg_logs_t *lg = ud;
    if (rc < 0) {
        pass_end(lg);
        return;
    }
    if (n == 0) { /* the round is over: the next one starts from the first type */
        lg->cursor[0] = '\0';
        pass_end(lg);
        return;
    }
    lg->types = hg_realloc(lg->types, n * sizeof(*lg->types));
    for (size_t i = 0; i < n; i++)
        snprintf(lg->types[i], sizeof(lg->types[i]), "%s", names[i]);
    lg->ntypes = n;
    lg->itype = 0;
    sweep_step(lg);
}

static void sweep_step(hg_logs_t *lg)
{
    for (;;) {
        if (lg->pass_left == 0 || lg->pass_steps >= HG_LOGS_SWEEP_STEPS ||
            hg_store_fenced(lg->store)) {
            pass_end(lg);
            return;
        }
        if (lg->itype == lg->ntypes) {
            lg->pass_steps++;
            hg_store_event_types(lg->store, lg->cursor, HG_LOGS_SWEEP_TYPES, on_types, lg);
            return;
        }
        const char *type = lg->types[lg->itype];
        unsigned days = hg_logs_retention_days(lg, type);
        if (days == 0) {
            next_type(lg);
            continue;
        }
        lg->pass_steps++;
        hg_store_event_query_t q = {
            .type = type,
            .from_ms = INT64_MIN,
            .to_ms = hg_clock_now_ms(lg->clock) - (int64_t)days * DAY_MS,
            .limit = lg->pass_left < HG_STORE_READ_MAX ? lg->pass_left : HG_STORE_READ_MAX,
            .by_time = 1,
        };
        hg_store_events(lg->store, &q, on_expired, lg);
        return;
    }
}

void hg_logs_tick(hg_logs_t *lg, size_t budget)
{
    check_stalls(lg);
    if (!lg->started || lg->nrules == 0 || lg->sweeping || budget == 0 ||
        hg_store_fenced(lg->store))
        return;
    int64_t now = hg_clock_now_ms(lg->clock);
    if (lg->cursor[0] == '\0' && lg->itype == lg->ntypes) { /* a new round */
        if (lg->round_start_ms && now - lg->round_start_ms < HG_LOGS_SWEEP_ROUND_MS)
            return;
        lg->round_start_ms = now;
    }
    lg->sweeping = 1;
    lg->pass_left = budget;
    lg->pass_steps = 0;
    sweep_step(lg);
}
