/* Unit tests: the event log (logs/logs.h) on the manual clock with the real store — id
 * allocation (monotonic, skipped on a dropped transaction, kept across reopen and across the
 * deletion of the newest events), validation, retention parsing and matching, the retention
 * sweep, rendering (JSON, CSV quoting) and exports through a sink with backpressure. */
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "logs/logs.h"
#include "test.h"
#include "test_util.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY 86400000LL

typedef struct env {
    char dir[32];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_logs_t *lg;
} env_t;

static void env_open(env_t *e, const char *retention)
{
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 8, &e->store, &err));
    e->lg = hg_logs_new(&e->loop, e->store, &e->clock);
    ASSERT_OK(hg_logs_start(e->lg, retention, &err));
}

static void env_init(env_t *e, const char *retention)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-logs-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    hg_clock_init_manual(&e->clock, T0);
    env_open(e, retention);
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_logs_free(e->lg);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static void env_fini(env_t *e)
{
    env_close(e);
    hg_test_rmtree(e->dir);
}

static uint64_t append(env_t *e, hg_store_txn_t *t, const char *type, const char *player,
                       int64_t ms, const char *attrs)
{
    hg_error_t err;
    uint64_t id = 0;
    ASSERT_OK(hg_logs_append(e->lg, t, type, player, ms, attrs, &id, &err));
    return id;
}

/* Every event of the log, in id order (at most 64). */
typedef struct page {
    int done, rc;
    size_t n;
    uint64_t ids[64];
    char types[64][HG_LOGS_TYPE_MAX + 1];
} page_t;

static void on_page(void *ud, int rc, const hg_store_event_t *evs, size_t n, int more)
{
    (void)more;
    page_t *p = ud;
    p->done = 1;
    p->rc = rc;
    p->n = n;
    for (size_t i = 0; i < n && i < 64; i++) {
        p->ids[i] = evs[i].id;
        snprintf(p->types[i], sizeof(p->types[i]), "%s", evs[i].type);
    }
}

static page_t *all_events(env_t *e)
{
    static page_t p;
    memset(&p, 0, sizeof(p));
    hg_store_event_query_t q = {.from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 64};
    hg_logs_query(e->lg, &q, on_page, &p);
    while (!p.done)
        uv_run(&e->loop, UV_RUN_ONCE);
    ASSERT_OK(p.rc);
    return &p;
}

HG_TEST(ids_grow_skip_dropped_txns_and_survive_reopen)
{
    env_t e;
    env_init(&e, "");
    ASSERT_EQ_INT(hg_logs_last_id(e.lg), 0);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    /* two events in the same millisecond are two events */
    ASSERT_EQ_INT(append(&e, t, "match.start", "p1", T0, NULL), 1);
    ASSERT_EQ_INT(append(&e, t, "match.start", "p1", T0, NULL), 2);
    ASSERT_EQ_INT(append(&e, t, "match.end", NULL, T0, "{\"score\":3}"), 3);
    hg_test_commit(&e.loop, t);
    /* a transaction dropped (a refused batch): its ids are skipped, never reused */
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(append(&e, t, "x", NULL, T0, NULL), 4);
    hg_store_txn_free(t);
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(append(&e, t, "x", NULL, T0, NULL), 5);
    hg_test_commit(&e.loop, t);
    page_t *p = all_events(&e);
    ASSERT_EQ_INT(p->n, 4);
    ASSERT_EQ_INT(p->ids[3], 5);
    /* invalid events append nothing and take no id */
    t = hg_store_txn_new(e.store);
    hg_error_t err;
    uint64_t id = 0;
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "bad type", NULL, T0, NULL, &id, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.field, "type");
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "", NULL, T0, NULL, &id, &err), HG_EINVAL);
    char long_type[HG_LOGS_TYPE_MAX + 2];
    memset(long_type, 'a', sizeof(long_type) - 1);
    long_type[sizeof(long_type) - 1] = '\0';
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, long_type, NULL, T0, NULL, &id, &err), HG_EINVAL);
    long_type[HG_LOGS_TYPE_MAX] = '\0'; /* exactly 64: fine */
    ASSERT_TRUE(hg_logs_type_valid(long_type));
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", "has space", T0, NULL, &id, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.field, "player_id");
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", NULL, HG_LOGS_TIME_MIN_MS - 1, NULL, &id, &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.field, "time");
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", NULL, T0 + DAY + 1, NULL, &id, &err), HG_EINVAL);
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", NULL, T0, "[1]", &id, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.field, "attributes");
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", NULL, T0, "{\"a\":", &id, &err), HG_EINVAL);
    char *big = hg_malloc(HG_LOGS_ATTRS_MAX + 16);
    snprintf(big, HG_LOGS_ATTRS_MAX + 16, "{\"a\":\"%0*d\"}", HG_LOGS_ATTRS_MAX - 7, 0);
    ASSERT_EQ_INT(strlen(big), HG_LOGS_ATTRS_MAX + 1);
    ASSERT_EQ_INT(hg_logs_append(e.lg, t, "a", NULL, T0, big, &id, &err), HG_EINVAL);
    big[strlen(big) - 3] = '"', big[strlen(big) - 2] = '}', big[strlen(big) - 1] = '\0';
    ASSERT_EQ_INT(strlen(big), HG_LOGS_ATTRS_MAX);
    ASSERT_EQ_INT(append(&e, t, "a", NULL, T0 + DAY, big), 6); /* at the limits: kept */
    hg_free(big);
    ASSERT_EQ_INT(append(&e, t, "a", NULL, HG_LOGS_TIME_MIN_MS, NULL), 7);
    hg_test_commit(&e.loop, t);
    env_close(&e);
    /* reopened: numbering continues after the highest stored id */
    env_open(&e, "");
    ASSERT_EQ_INT(hg_logs_last_id(e.lg), 7);
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(append(&e, t, "after.restart", NULL, T0, NULL), 8);
    hg_test_commit(&e.loop, t);
    env_fini(&e);
}

HG_TEST(retention_rules_parse_and_match_most_specific_first)
{
    env_t e;
    env_init(&e, " payment.*=3650, match.end=30,match.*=7 ,*=90,debug=1, m*=2");
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "payment.purchase"), 3650);
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "match.end"), 30);  /* exact beats prefix */
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "match.start"), 7); /* longest prefix */
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "mob.kill"), 2);    /* the shorter prefix */
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "debug"), 1);
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "debug.x"), 90);   /* exact is exact */
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "shop.view"), 90); /* * for the rest */
    env_close(&e);
    env_open(&e, "payment.*=10");
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "payment.credit"), 10);
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "shop.view"), 0); /* no *: kept for ever */
    env_close(&e);
    env_open(&e, NULL);
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "x"), 0);
    env_close(&e);

    /* bad texts fail start-up with a message naming the rule */
    static const char *const bad[] = {
        "a=0",   "a=36501", "a=x",         "a",       "a=1,,b=2", "a=1,",  "=5",   "*x=1",
        "a b=1", "a=1,a=2", "p.*=1,p.*=2", "*=1,*=2", "a=-1",     "a=1.5", "**=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hg_error_t err;
        hg_error_clear(&err);
        uv_loop_init(&e.loop);
        ASSERT_OK(hg_store_open(&e.loop, &hg_store_sqlite, e.dir, 8, &e.store, &err));
        hg_logs_t *lg = hg_logs_new(&e.loop, e.store, &e.clock);
        int rc = hg_logs_start(lg, bad[i], &err);
        if (rc != HG_EINVAL)
            HG_FAIL_("\"%s\" was accepted (rc %d)", bad[i], rc);
        ASSERT_TRUE(strstr(err.msg, "event-retention") != NULL);
        hg_logs_free(lg);
        hg_store_close(e.store);
        uv_run(&e.loop, UV_RUN_DEFAULT);
        ASSERT_OK(uv_loop_close(&e.loop));
    }
    /* 64 rules fit, 65 do not */
    hg_buf_t b;
    hg_buf_init(&b);
    for (int i = 0; i < HG_LOGS_RULES_MAX; i++)
        hg_buf_printf(&b, "%st%d=1", i ? "," : "", i);
    env_open(&e, b.data);
    ASSERT_EQ_INT(hg_logs_retention_days(e.lg, "t63"), 1);
    hg_logs_t *lg = hg_logs_new(&e.loop, e.store, &e.clock);
    hg_buf_puts(&b, ",t64=1");
    hg_error_t err;
    ASSERT_EQ_INT(hg_logs_start(lg, b.data, &err), HG_EINVAL);
    hg_logs_free(lg);
    hg_buf_free(&b);
    env_fini(&e);
}

/* Ticks until a sweep pass has run to its end (a pass is a chain of reads and commits). */
static void sweep(env_t *e, size_t budget)
{
    hg_logs_stats_t st;
    hg_logs_tick(e->lg, budget);
    for (hg_logs_stats(e->lg, &st); st.sweeping; hg_logs_stats(e->lg, &st))
        uv_run(&e->loop, UV_RUN_ONCE);
}

HG_TEST(sweep_deletes_only_expired_events_of_types_with_retention)
{
    env_t e;
    env_init(&e, "debug=1,match.*=7");
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    for (int i = 0; i < 10; i++) {
        append(&e, t, "debug", NULL, T0 - 2 * DAY - i, NULL);   /* expired */
        append(&e, t, "debug", NULL, T0 - DAY / 2, NULL);       /* not yet */
        append(&e, t, "match.end", NULL, T0 - 8 * DAY, NULL);   /* expired */
        append(&e, t, "match.start", NULL, T0 - 6 * DAY, NULL); /* not yet */
        append(&e, t, "shop.view", NULL, T0 - 900 * DAY, NULL); /* kept for ever */
    }
    hg_test_commit(&e.loop, t);
    /* a budget of 3 a tick: bounded batches, several ticks */
    sweep(&e, 3);
    hg_logs_stats_t st;
    hg_logs_stats(e.lg, &st);
    ASSERT_EQ_INT(st.swept, 3);
    for (int i = 0; i < 20; i++) {
        hg_clock_advance(&e.clock, HG_LOGS_SWEEP_ROUND_MS);
        sweep(&e, 3);
    }
    hg_logs_stats(e.lg, &st);
    ASSERT_EQ_INT(st.swept, 20);
    page_t *p = all_events(&e);
    ASSERT_EQ_INT(p->n, 30);
    int debug = 0, end = 0, start = 0, shop = 0;
    for (size_t i = 0; i < p->n; i++) {
        debug += strcmp(p->types[i], "debug") == 0;
        end += strcmp(p->types[i], "match.end") == 0;
        start += strcmp(p->types[i], "match.start") == 0;
        shop += strcmp(p->types[i], "shop.view") == 0;
    }
    ASSERT_EQ_INT(debug, 10);
    ASSERT_EQ_INT(end, 0);
    ASSERT_EQ_INT(start, 10);
    ASSERT_EQ_INT(shop, 10);
    /* two days later the rest of debug and match.start (8 days old now) expire too */
    hg_clock_advance(&e.clock, 2 * DAY);
    sweep(&e, 1000);
    hg_logs_stats(e.lg, &st);
    ASSERT_EQ_INT(st.swept, 40);
    p = all_events(&e);
    ASSERT_EQ_INT(p->n, 10);
    for (size_t i = 0; i < p->n; i++)
        ASSERT_STR_EQ(p->types[i], "shop.view");
    env_fini(&e);
}

HG_TEST(deleting_the_newest_events_keeps_their_ids_used)
{
    env_t e;
    env_init(&e, "old=1");
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    append(&e, t, "new", NULL, T0, NULL);
    for (int i = 0; i < 5; i++)
        append(&e, t, "old", NULL, T0 - 3 * DAY, NULL); /* ids 2..6, the newest ids */
    hg_test_commit(&e.loop, t);
    sweep(&e, 100);
    ASSERT_EQ_INT(all_events(&e)->n, 1);
    env_close(&e);
    env_open(&e, "old=1");
    ASSERT_EQ_INT(hg_logs_last_id(e.lg), 6); /* not 1: 2..6 were handed out */
    env_fini(&e);
}

HG_TEST(json_and_csv_rendering)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_store_event_t ev = {42, 1767225600123LL, "match.end", "p,\"1\"", "{\"a\":\"x,y\"}"};
    hg_logs_write_json(&b, &ev);
    json_t *j = json_loads(b.data, 0, NULL);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "id")), 42);
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "player_id")), "p,\"1\"");
    ASSERT_TRUE(json_real_value(json_object_get(j, "time")) == 1767225600.123);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "attributes"), "a")), "x,y");
    json_decref(j);
    b.len = 0;
    hg_logs_write_csv(&b, &ev);
    ASSERT_STR_EQ(b.data,
                  "42,match.end,\"p,\"\"1\"\"\",1767225600.123,\"{\"\"a\"\":\"\"x,y\"\"}\"\r\n");
    b.len = 0;
    hg_store_event_t bare = {7, 1767225600000LL, "x", NULL, NULL};
    hg_logs_write_json(&b, &bare);
    ASSERT_STR_EQ(b.data, "{\"id\":7,\"type\":\"x\",\"player_id\":null,\"time\":1767225600.000,"
                          "\"attributes\":null}");
    b.len = 0;
    hg_logs_write_csv(&b, &bare);
    ASSERT_STR_EQ(b.data, "7,x,,1767225600.000,\r\n");
    hg_buf_free(&b);
}

/* A transport: collects what is written; `full` makes it report a full queue. */
typedef struct fake {
    hg_buf_t out;
    int begun, ended, end_rc, writes;
    int full;
    int fail_begin;
} fake_t;

static int f_begin(void *ud)
{
    fake_t *f = ud;
    f->begun++;
    return f->fail_begin ? HG_ECONFLICT : 0;
}

static int f_write(void *ud, const char *data, size_t len)
{
    fake_t *f = ud;
    f->writes++;
    hg_buf_append(&f->out, data, len);
    return 0;
}

static size_t f_queued(void *ud)
{
    return ((fake_t *)ud)->full ? HG_LOGS_EXPORT_DRAIN : 0;
}

static void f_end(void *ud, int rc)
{
    fake_t *f = ud;
    f->ended++;
    f->end_rc = rc;
}

static const hg_logs_sink_t fake_sink = {f_begin, f_write, f_queued, f_end};

static size_t count_lines(const hg_buf_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

/* Runs the loop until the export has no read in flight (wrote a page and waits, or ended). */
static void run_until(env_t *e, fake_t *f, int writes)
{
    while (!f->ended && f->writes < writes)
        uv_run(&e->loop, UV_RUN_ONCE);
}

HG_TEST(export_streams_every_page_with_backpressure)
{
    env_t e;
    env_init(&e, "");
    size_t total = 2 * HG_LOGS_EXPORT_PAGE + 7;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    for (size_t i = 0; i < total; i++)
        append(&e, t, i % 2 ? "odd" : "even", NULL, T0 - (int64_t)i, "{\"i\":1}");
    hg_test_commit(&e.loop, t);

    /* NDJSON, everything, the transport drains at once */
    fake_t f = {0};
    hg_buf_init(&f.out);
    hg_store_event_query_t q = {.from_ms = INT64_MIN, .to_ms = INT64_MAX};
    hg_logs_export_t *x;
    ASSERT_OK(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &f, &x));
    run_until(&e, &f, 1000);
    ASSERT_EQ_INT(f.ended, 1);
    ASSERT_OK(f.end_rc);
    ASSERT_EQ_INT(f.begun, 1);
    ASSERT_EQ_INT(f.writes, 3);
    ASSERT_EQ_INT(count_lines(&f.out), total);
    /* ids ascending, every one once */
    uint64_t prev = 0;
    for (char *line = f.out.data; line < f.out.data + f.out.len;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        ASSERT_NOT_NULL(j);
        uint64_t id = (uint64_t)json_integer_value(json_object_get(j, "id"));
        ASSERT_EQ_INT(id, prev + 1);
        prev = id;
        json_decref(j);
        line = nl + 1;
    }
    hg_buf_free(&f.out);

    /* CSV of one type; the transport is full after each page: the next waits for a drain */
    memset(&f, 0, sizeof(f));
    hg_buf_init(&f.out);
    f.full = 1;
    hg_store_event_query_t qo = {.type = "odd", .from_ms = INT64_MIN, .to_ms = INT64_MAX};
    ASSERT_OK(hg_logs_export_start(e.lg, &qo, HG_LOGS_CSV, &fake_sink, &f, &x));
    run_until(&e, &f, 1);
    ASSERT_EQ_INT(f.writes, 1);
    for (int i = 0; i < 5; i++) /* nothing moves while full */
        uv_run(&e.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(f.writes, 1);
    ASSERT_EQ_INT(f.ended, 0);
    f.full = 0;
    hg_logs_export_drained(x);
    run_until(&e, &f, 1000);
    ASSERT_EQ_INT(f.ended, 1);
    ASSERT_OK(f.end_rc);
    ASSERT_TRUE(strncmp(f.out.data, HG_LOGS_CSV_HEADER, strlen(HG_LOGS_CSV_HEADER)) == 0);
    ASSERT_EQ_INT(count_lines(&f.out), total / 2 + 1);
    hg_buf_free(&f.out);

    /* a transport that never drains is ended after the stall time */
    memset(&f, 0, sizeof(f));
    hg_buf_init(&f.out);
    f.full = 1;
    ASSERT_OK(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &f, &x));
    run_until(&e, &f, 1);
    hg_logs_tick(e.lg, 0);
    ASSERT_EQ_INT(f.ended, 0);
    hg_clock_advance(&e.clock, HG_LOGS_EXPORT_STALL_MS);
    hg_logs_tick(e.lg, 0);
    ASSERT_EQ_INT(f.ended, 1);
    ASSERT_TRUE(f.end_rc < 0);
    hg_buf_free(&f.out);

    /* cancelled with a read in flight: no sink call follows */
    memset(&f, 0, sizeof(f));
    hg_buf_init(&f.out);
    ASSERT_OK(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &f, &x));
    hg_logs_export_cancel(x);
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    hg_logs_stats_t st;
    hg_logs_stats(e.lg, &st);
    ASSERT_EQ_INT(st.exports, 0);

    /* begin refused (the transport could not start): end hears it, nothing written */
    memset(&f, 0, sizeof(f));
    f.fail_begin = 1;
    ASSERT_OK(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &f, &x));
    run_until(&e, &f, 1);
    ASSERT_EQ_INT(f.ended, 1);
    ASSERT_EQ_INT(f.end_rc, HG_ECONFLICT);
    ASSERT_EQ_INT(f.writes, 0);

    /* at most HG_LOGS_EXPORTS_MAX at once */
    fake_t many[HG_LOGS_EXPORTS_MAX];
    memset(many, 0, sizeof(many));
    for (int i = 0; i < HG_LOGS_EXPORTS_MAX; i++) {
        hg_buf_init(&many[i].out);
        many[i].full = 1;
        ASSERT_OK(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &many[i], &x));
    }
    fake_t one = {0};
    ASSERT_EQ_INT(hg_logs_export_start(e.lg, &q, HG_LOGS_NDJSON, &fake_sink, &one, &x),
                  HG_ETHROTTLED);
    for (int i = 0; i < HG_LOGS_EXPORTS_MAX; i++)
        run_until(&e, &many[i], 1);
    hg_clock_advance(&e.clock, HG_LOGS_EXPORT_STALL_MS);
    hg_logs_tick(e.lg, 0);
    for (int i = 0; i < HG_LOGS_EXPORTS_MAX; i++) {
        ASSERT_EQ_INT(many[i].ended, 1);
        hg_buf_free(&many[i].out);
    }
    env_fini(&e);
}

HG_SUITE(logs) = {
    HG_CASE(ids_grow_skip_dropped_txns_and_survive_reopen),
    HG_CASE(retention_rules_parse_and_match_most_specific_first),
    HG_CASE(sweep_deletes_only_expired_events_of_types_with_retention),
    HG_CASE(deleting_the_newest_events_keeps_their_ids_used),
    HG_CASE(json_and_csv_rendering),
    HG_CASE(export_streams_every_page_with_backpressure),
    HG_CASE_END,
};
