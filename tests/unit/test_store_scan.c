/* Unit tests: history reads on the store's reader lane (hg_store_scan, hg_store_get,
 * hg_store_events, hg_store_event_types) against the real SQLite backend: key order and
 * prefixes, paging in both directions with `more`, committed-only visibility, event filters,
 * the schema upgrade of a version 1 store, and reads refused once the store closes. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "store/partition.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

#define MAX_ROWS 64

/* What one read answered (rows copied). */
typedef struct got {
    int done, rc, more;
    size_t n;
    char keys[MAX_ROWS][64];
    char values[MAX_ROWS][128];
    uint64_t ids[MAX_ROWS];
    int64_t times[MAX_ROWS];
    int has_player[MAX_ROWS], has_attrs[MAX_ROWS];
} got_t;

static size_t file_count(const char *dir, const char *file, const char *sql);

static void on_rows(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    got_t *g = ud;
    g->done = 1;
    g->rc = rc;
    g->more = more;
    g->n = n;
    ASSERT_TRUE(n <= MAX_ROWS);
    for (size_t i = 0; i < n; i++) {
        snprintf(g->keys[i], sizeof(g->keys[i]), "%s", rows[i].key);
        snprintf(g->values[i], sizeof(g->values[i]), "%s", rows[i].value);
    }
}

static void on_events(void *ud, int rc, const hg_store_event_t *evs, size_t n, int more)
{
    got_t *g = ud;
    g->done = 1;
    g->rc = rc;
    g->more = more;
    g->n = n;
    ASSERT_TRUE(n <= MAX_ROWS);
    for (size_t i = 0; i < n; i++) {
        g->ids[i] = evs[i].id;
        g->times[i] = evs[i].time_ms;
        snprintf(g->keys[i], sizeof(g->keys[i]), "%s", evs[i].type);
        snprintf(g->values[i], sizeof(g->values[i]), "%s", evs[i].attrs ? evs[i].attrs : "");
        g->has_player[i] = evs[i].player != NULL;
        g->has_attrs[i] = evs[i].attrs != NULL;
    }
}

static void on_names(void *ud, int rc, const char *const *names, size_t n, int more)
{
    got_t *g = ud;
    g->done = 1;
    g->rc = rc;
    g->more = more;
    g->n = n;
    for (size_t i = 0; i < n; i++)
        snprintf(g->keys[i], sizeof(g->keys[i]), "%s", names[i]);
}

static void wait_got(uv_loop_t *loop, got_t *g)
{
    while (!g->done)
        uv_run(loop, UV_RUN_ONCE);
}

static hg_store_t *open_on(uv_loop_t *loop, const char *dir)
{
    uv_loop_init(loop);
    hg_store_t *s;
    hg_error_t err;
    ASSERT_OK(hg_store_open(loop, hg_test_backend, hg_test_location(dir), 8, &s, &err));
    return s;
}

static void close_on(uv_loop_t *loop, hg_store_t *s)
{
    hg_store_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(loop));
}

static void put(hg_store_txn_t *t, const char *coll, const char *key, int v)
{
    json_t *j = json_pack("{s:i}", "v", v);
    hg_store_put(t, coll, key, j);
    json_decref(j);
}

static got_t *scan(uv_loop_t *loop, hg_store_t *s, const char *coll, const char *prefix,
                   const char *after, size_t limit, int desc)
{
    static got_t g;
    memset(&g, 0, sizeof(g));
    hg_store_scan(s, coll, prefix, after, limit, desc, on_rows, &g);
    wait_got(loop, &g);
    return &g;
}

HG_TEST(scan_orders_filters_by_prefix_and_pages_both_ways)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_txn_t *t = hg_store_txn_new(s);
    /* ledger of two players, plus a neighbour collection and a key sorting right after the
     * prefix range */
    for (int i = 0; i < 12; i++) {
        char key[32];
        snprintf(key, sizeof(key), "p1/%03d", i);
        put(t, "ledger", key, i);
        snprintf(key, sizeof(key), "p2/%03d", i);
        put(t, "ledger", key, 100 + i);
    }
    put(t, "ledger", "p10/000", 999);
    put(t, "ledger", "p1", 998);
    put(t, "other", "p1/000", -1);
    hg_test_commit(&loop, t);

    got_t *g = scan(&loop, s, "ledger", "p1/", NULL, 5, 0);
    ASSERT_OK(g->rc);
    ASSERT_EQ_INT(g->n, 5);
    ASSERT_EQ_INT(g->more, 1);
    ASSERT_STR_EQ(g->keys[0], "p1/000");
    ASSERT_STR_EQ(g->keys[4], "p1/004");
    ASSERT_STR_EQ(g->values[0], "{\"v\":0}");
    /* the next pages: after the last key; the last page says no more */
    g = scan(&loop, s, "ledger", "p1/", "p1/004", 5, 0);
    ASSERT_EQ_INT(g->n, 5);
    ASSERT_STR_EQ(g->keys[0], "p1/005");
    ASSERT_EQ_INT(g->more, 1);
    g = scan(&loop, s, "ledger", "p1/", "p1/009", 5, 0);
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_STR_EQ(g->keys[1], "p1/011");
    ASSERT_EQ_INT(g->more, 0);
    /* exactly limit rows left: more is 0 */
    g = scan(&loop, s, "ledger", "p1/", "p1/006", 5, 0);
    ASSERT_EQ_INT(g->n, 5);
    ASSERT_EQ_INT(g->more, 0);
    /* descending, newest first, then before a key */
    g = scan(&loop, s, "ledger", "p2/", NULL, 3, 1);
    ASSERT_EQ_INT(g->n, 3);
    ASSERT_STR_EQ(g->keys[0], "p2/011");
    ASSERT_STR_EQ(g->keys[2], "p2/009");
    ASSERT_EQ_INT(g->more, 1);
    g = scan(&loop, s, "ledger", "p2/", "p2/002", 3, 1);
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_STR_EQ(g->keys[0], "p2/001");
    ASSERT_STR_EQ(g->keys[1], "p2/000");
    ASSERT_EQ_INT(g->more, 0);
    /* every key of the collection, no prefix: 12 + 12 + 2, nothing of "other" */
    g = scan(&loop, s, "ledger", "", NULL, 1000, 0);
    ASSERT_EQ_INT(g->n > MAX_ROWS ? 0 : g->n, 26);
    ASSERT_STR_EQ(g->keys[0], "p1");
    ASSERT_STR_EQ(g->keys[13], "p10/000");
    /* a prefix with no keys, and an unknown collection */
    g = scan(&loop, s, "ledger", "p3/", NULL, 10, 0);
    ASSERT_OK(g->rc);
    ASSERT_EQ_INT(g->n, 0);
    ASSERT_EQ_INT(g->more, 0);
    g = scan(&loop, s, "nothing", "", NULL, 10, 1);
    ASSERT_EQ_INT(g->n, 0);
    /* limits out of 1..1000 are refused at once */
    g = scan(&loop, s, "ledger", "", NULL, 0, 0);
    ASSERT_EQ_INT(g->rc, HG_EINVAL);
    g = scan(&loop, s, "ledger", "", NULL, 1001, 0);
    ASSERT_EQ_INT(g->rc, HG_EINVAL);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

HG_TEST(get_sees_only_committed_records)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    got_t g = {0};
    hg_store_get(s, "purchases", "x1", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_OK(g.rc);
    ASSERT_EQ_INT(g.n, 0);

    hg_store_txn_t *t = hg_store_txn_new(s);
    put(t, "purchases", "x1", 7);
    hg_test_commit(&loop, t);
    memset(&g, 0, sizeof(g));
    hg_store_get(s, "purchases", "x1", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 1);
    ASSERT_STR_EQ(g.keys[0], "x1");
    ASSERT_STR_EQ(g.values[0], "{\"v\":7}");
    /* a record deleted and committed is gone for readers */
    t = hg_store_txn_new(s);
    hg_store_del(t, "purchases", "x1");
    hg_test_commit(&loop, t);
    memset(&g, 0, sizeof(g));
    hg_store_get(s, "purchases", "x1", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 0);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

static void add_event(hg_store_txn_t *t, uint64_t id, int64_t ms, const char *type,
                      const char *player, const char *attrs)
{
    hg_store_event_t ev = {id, ms, type, player, attrs};
    hg_store_event_add(t, &ev);
}

static got_t *events(uv_loop_t *loop, hg_store_t *s, const hg_store_event_query_t *q)
{
    static got_t g;
    memset(&g, 0, sizeof(g));
    hg_store_events(s, q, on_events, &g);
    wait_got(loop, &g);
    ASSERT_OK(g.rc);
    return &g;
}

HG_TEST(events_are_appended_in_txns_filtered_and_deleted)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    uint64_t last;
    ASSERT_OK(hg_store_last_event_id(s, &last));
    ASSERT_EQ_INT(last, 0);
    hg_store_txn_t *t = hg_store_txn_new(s);
    for (int i = 1; i <= 20; i++)
        add_event(t, (uint64_t)i, 1000000 - i * 10, i % 2 ? "match.end" : "shop.view",
                  i % 4 == 0 ? "p4" : NULL, i % 3 == 0 ? "{\"n\":3}" : NULL);
    put(t, "purchases", "x", 1); /* an event commits with the records of its transaction */
    hg_test_commit(&loop, t);

    hg_store_event_query_t q = {.from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 7};
    got_t *g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 7);
    ASSERT_EQ_INT(g->more, 1);
    ASSERT_EQ_INT(g->ids[0], 1);
    ASSERT_EQ_INT(g->times[0], 999990);
    ASSERT_STR_EQ(g->keys[0], "match.end");
    ASSERT_EQ_INT(g->has_player[0], 0);
    ASSERT_EQ_INT(g->has_attrs[0], 0);
    ASSERT_EQ_INT(g->has_attrs[2], 1);
    ASSERT_STR_EQ(g->values[2], "{\"n\":3}");
    q.after_id = 14;
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 6);
    ASSERT_EQ_INT(g->ids[0], 15);
    ASSERT_EQ_INT(g->more, 0);
    /* by type, by player, by time range [from, to) */
    hg_store_event_query_t bt = {
        .type = "shop.view", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 100};
    g = events(&loop, s, &bt);
    ASSERT_EQ_INT(g->n, 10);
    for (size_t i = 0; i < g->n; i++)
        ASSERT_EQ_INT(g->ids[i] % 2, 0);
    hg_store_event_query_t bp = {
        .player = "p4", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 100};
    g = events(&loop, s, &bp);
    ASSERT_EQ_INT(g->n, 5);
    ASSERT_EQ_INT(g->ids[4], 20);
    bp.after_id = 8; /* by player and type, after an id, paged */
    bp.type = "shop.view";
    bp.limit = 2;
    g = events(&loop, s, &bp);
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_EQ_INT(g->ids[0], 12);
    ASSERT_EQ_INT(g->ids[1], 16);
    ASSERT_EQ_INT(g->has_player[0], 1);
    ASSERT_EQ_INT(g->more, 1);
    hg_store_event_query_t bpt = {
        .player = "p4", .from_ms = 999900, .to_ms = INT64_MAX, .limit = 10, .by_time = 1};
    g = events(&loop, s, &bpt); /* 8 (999920) before 4 (999960) */
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_EQ_INT(g->ids[0], 8);
    ASSERT_EQ_INT(g->ids[1], 4);
    bpt.player = "nobody";
    g = events(&loop, s, &bpt);
    ASSERT_EQ_INT(g->n, 0);
    hg_store_event_query_t tr = {.from_ms = 999900, .to_ms = 999950, .limit = 100};
    g = events(&loop, s, &tr); /* times 999990 - 10(i-1): ids 5..10 have 999950..999900 */
    ASSERT_EQ_INT(g->n, 5);
    ASSERT_EQ_INT(g->ids[0], 6);
    ASSERT_EQ_INT(g->ids[4], 10);
    /* by time: oldest first (the retention sweep's order) */
    hg_store_event_query_t old = {
        .type = "match.end", .from_ms = INT64_MIN, .to_ms = 999850, .limit = 3, .by_time = 1};
    g = events(&loop, s, &old); /* 17 (999830) and 19 (999810) */
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_EQ_INT(g->ids[0], 19);
    ASSERT_EQ_INT(g->ids[1], 17);
    ASSERT_EQ_INT(g->more, 0);
    old.limit = 1;
    g = events(&loop, s, &old);
    ASSERT_EQ_INT(g->n, 1);
    ASSERT_EQ_INT(g->ids[0], 19);
    ASSERT_EQ_INT(g->more, 1);
    /* distinct types, paged */
    got_t names = {0};
    hg_store_event_types(s, NULL, 1, on_names, &names);
    wait_got(&loop, &names);
    ASSERT_EQ_INT(names.n, 1);
    ASSERT_STR_EQ(names.keys[0], "match.end");
    ASSERT_EQ_INT(names.more, 1);
    memset(&names, 0, sizeof(names));
    hg_store_event_types(s, "match.end", 10, on_names, &names);
    wait_got(&loop, &names);
    ASSERT_EQ_INT(names.n, 1);
    ASSERT_STR_EQ(names.keys[0], "shop.view");
    ASSERT_EQ_INT(names.more, 0);
    /* delete, then the last id after a reopen */
    t = hg_store_txn_new(s);
    hg_store_event_del(t, 20, "p4");
    hg_store_event_del(t, 1, NULL);
    hg_store_event_del(t, 12345, "p4"); /* none: nothing */
    hg_test_commit(&loop, t);
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 5);
    hg_store_event_query_t bp4 = {
        .player = "p4", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 100};
    g = events(&loop, s, &bp4); /* 20 is gone from the events and from the player index */
    ASSERT_EQ_INT(g->n, 4);
    ASSERT_EQ_INT(g->ids[3], 16);
    close_on(&loop, s);
    if (hg_test_backend == &hg_store_sqlite)
        ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 4);
    s = open_on(&loop, dir);
    ASSERT_OK(hg_store_last_event_id(s, &last));
    ASSERT_EQ_INT(last, 19);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

HG_TEST(version_1_store_gets_the_events_table)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/hangar.db", dir);
    sqlite3 *db;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db,
                               "PRAGMA journal_mode=WAL; CREATE TABLE records(coll TEXT NOT NULL, "
                               "key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (coll, key)) "
                               "WITHOUT ROWID; INSERT INTO records VALUES('a','k','{\"old\":1}');"
                               "PRAGMA user_version=1",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    sqlite3_close(db);
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    got_t g = {0};
    hg_store_get(s, "a", "k", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 1);
    ASSERT_STR_EQ(g.values[0], "{\"old\":1}");
    hg_store_txn_t *t = hg_store_txn_new(s);
    add_event(t, 5, 1, "x", NULL, NULL);
    hg_test_commit(&loop, t);
    close_on(&loop, s);
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_int(q, 0), 4);
    sqlite3_finalize(q);
    sqlite3_close(db);
    hg_test_rmtree(dir);
}

static void on_closing_read(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)rows, (void)more;
    got_t *g = ud;
    g->done++;
    g->rc = rc;
    g->n = n;
}

/* A read submitted from the callback of a read that completes while the store closes. */
static hg_store_t *closing_store;
static got_t closing_second;

static void on_first_then_read(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    on_closing_read(ud, rc, rows, n, more);
    hg_store_get(closing_store, "a", "b", on_closing_read, &closing_second);
}

HG_TEST(reads_in_flight_complete_at_close_and_later_ones_are_refused)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    closing_store = s;
    got_t first = {0};
    memset(&closing_second, 0, sizeof(closing_second));
    hg_store_get(s, "a", "b", on_first_then_read, &first);
    hg_store_close(s); /* drains: first completes, the read it submits is refused */
    ASSERT_EQ_INT(first.done, 1);
    ASSERT_OK(first.rc);
    ASSERT_EQ_INT(closing_second.done, 1);
    ASSERT_EQ_INT(closing_second.rc, HG_ESHUTDOWN);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    hg_test_rmtree(dir);
}

/* ---- the journal (store.h): history ops read as if written in place ---- */

/* A count from one of the store's files (SIZE_MAX when it cannot be read). */
static size_t file_count(const char *dir, const char *file, const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    sqlite3 *db;
    sqlite3_stmt *q;
    size_t n = SIZE_MAX;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            n = (size_t)sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return n;
}

/* History ops in hangar.db's journal table jt: a packed row (kind 100) counts the ops its blob
 * starts with (a little-endian u32), an older row one. */
static size_t journal_ops(const char *dir, int jt)
{
    char path[128], sql[64];
    snprintf(path, sizeof(path), "%s/hangar.db", dir);
    snprintf(sql, sizeof(sql), "SELECT kind, value FROM journal%d", jt);
    sqlite3 *db;
    sqlite3_stmt *q;
    size_t n = 0;
    ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(q, 1);
        if (sqlite3_column_int(q, 0) != 100)
            n++;
        else if (b && sqlite3_column_bytes(q, 1) >= 4)
            n += (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static int load_count;
static char load_last[128];
static int on_load(void *ud, const char *key, json_t *v)
{
    (void)ud;
    char *text = json_dumps(v, JSON_COMPACT);
    snprintf(load_last, sizeof(load_last), "%s=%s", key, text);
    free(text);
    load_count++;
    return 0;
}

#define HIST "wallet.purchase" /* history collections (store/partition.c) */
#define HIST2 "wallet.rcpt"

HG_TEST(history_is_read_at_once_scanned_after_the_fold_and_kept)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    int sqlite = hg_test_backend == &hg_store_sqlite; /* PostgreSQL writes in place */
    /* history writes over one another, one deleted, events, beside a plain record */
    for (int i = 0; i < 3; i++) {
        hg_store_txn_t *t = hg_store_txn_new(s);
        put(t, HIST, "a", 10 + i);
        put(t, HIST, "b", 20 + i);
        put(t, HIST2, "gone", 5);
        hg_store_del(t, HIST2, "gone");
        put(t, "plain", "p", i);
        hg_store_event_t ev = {.id = 100 + (uint64_t)i, .time_ms = 7, .type = "pay"};
        hg_store_event_add(t, &ev);
        hg_test_commit(&loop, t);
    }
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    if (sqlite) {
        ASSERT_EQ_INT(st.journal_pending, 3);
        ASSERT_EQ_INT(journal_ops(dir, 0), 3 * 4);
        /* one row a commit */
        ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM journal0"), 3);
        ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM events"), 3);
        ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM records"), 0);
    }
    /* a get answers the latest value at once (from the tail), a deleted record as none */
    got_t g = {0};
    hg_store_get(s, HIST, "a", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 1);
    ASSERT_STR_EQ(g.values[0], "{\"v\":12}");
    memset(&g, 0, sizeof(g));
    hg_store_get(s, HIST2, "gone", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_OK(g.rc);
    ASSERT_EQ_INT(g.n, 0);
    memset(&g, 0, sizeof(g));
    hg_store_get(s, "plain", "p", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_STR_EQ(g.values[0], "{\"v\":2}");
    /* a scan waits for the fold and sees every history write */
    got_t *gs = scan(&loop, s, HIST, "", NULL, 10, 0);
    ASSERT_OK(gs->rc);
    ASSERT_EQ_INT(gs->n, 2);
    ASSERT_STR_EQ(gs->values[0], "{\"v\":12}");
    ASSERT_STR_EQ(gs->values[1], "{\"v\":22}");
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 0);
    ASSERT_EQ_INT(st.journal_bytes, 0);
    if (sqlite) {
        ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM records"), 2);
        ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT seq FROM folded"), 3);
        ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM records"), 1);
    }
    /* events are not history: written in place, read at once */
    hg_store_txn_t *t = hg_store_txn_new(s);
    hg_store_event_t ev = {.id = 200, .time_ms = 8, .type = "pay"};
    hg_store_event_add(t, &ev);
    hg_test_commit(&loop, t);
    hg_store_event_query_t q = {
        .type = "pay", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 10};
    memset(&g, 0, sizeof(g));
    hg_store_events(s, &q, on_events, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 4);
    ASSERT_EQ_INT(g.ids[3], 200);
    /* pending at close: a clean stop folds; a reopen loads everything */
    t = hg_store_txn_new(s);
    put(t, HIST, "c", 40);
    hg_test_commit(&loop, t);
    close_on(&loop, s);
    if (sqlite)
        ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT seq FROM folded"), 4);
    s = open_on(&loop, dir);
    load_count = 0;
    ASSERT_OK(hg_store_load(s, HIST, on_load, NULL));
    ASSERT_EQ_INT(load_count, 3);
    ASSERT_STR_EQ(load_last, "c={\"v\":40}");
    load_count = 0;
    ASSERT_OK(hg_store_load(s, "plain", on_load, NULL));
    ASSERT_EQ_INT(load_count, 1);
    uint64_t last;
    ASSERT_OK(hg_store_last_event_id(s, &last));
    ASSERT_EQ_INT(last, 200);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* The journal's two tables: appended to in turn, one emptied whole once folded; rows number
 * upwards across both and across a restart (an emptied table must not number from 1 again,
 * below what was folded: no fold would see those rows, and a scan would wait forever). */
HG_TEST(the_journal_tables_turn_and_empty_and_rows_number_upwards)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    for (int b = 0; b < 7; b++) { /* 70,000 ops in 7 rows: past a table's 65,536 ops */
        hg_store_txn_t *t = hg_store_txn_new(s);
        for (int i = 0; i < 10000; i++) {
            char key[16];
            snprintf(key, sizeof(key), "k%06d", b * 10000 + i);
            put(t, HIST, key, i);
        }
        hg_test_commit(&loop, t);
    }
    ASSERT_EQ_INT(scan(&loop, s, HIST, "", NULL, 5, 0)->n, 5); /* folds them all */
    ASSERT_EQ_INT(journal_ops(dir, 0), 70000);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM journal0"), 7);
    hg_store_txn_t *t = hg_store_txn_new(s);
    put(t, HIST, "zz", 1); /* journal0 is full: this goes to journal1 */
    hg_test_commit(&loop, t);
    t = hg_store_txn_new(s);
    put(t, HIST, "zz", 2); /* journal0 is folded: emptied */
    hg_test_commit(&loop, t);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM journal0"), 0);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT min(seq) FROM journal1"), 8);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT max(seq) FROM journal1"), 9);
    got_t *g = scan(&loop, s, HIST, "zz", NULL, 5, 0);
    ASSERT_EQ_INT(g->n, 1);
    ASSERT_STR_EQ(g->values[0], "{\"v\":2}");
    close_on(&loop, s);
    /* after a restart: on from the largest */
    s = open_on(&loop, dir);
    t = hg_store_txn_new(s);
    put(t, HIST, "zz", 3);
    hg_test_commit(&loop, t);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT max(seq) FROM journal1"), 10);
    g = scan(&loop, s, HIST, "zz", NULL, 5, 0);
    ASSERT_STR_EQ(g->values[0], "{\"v\":3}");
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* A store of schema 2 (one file) moves its history records to history.db at open (its events
 * stay); a store whose history.db went missing does not open (an empty one would lose the
 * wallets). */
HG_TEST(a_version_2_store_moves_its_history_and_a_missing_history_file_is_refused)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/hangar.db", dir);
    sqlite3 *db;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db,
                               "PRAGMA journal_mode=WAL; CREATE TABLE records(coll TEXT NOT NULL, "
                               "key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (coll, key)) "
                               "WITHOUT ROWID; CREATE TABLE events(id INTEGER PRIMARY KEY, "
                               "time_ms INTEGER NOT NULL, type TEXT NOT NULL, player TEXT, attrs "
                               "TEXT); INSERT INTO records VALUES('wallet/07','p','{\"w\":1}'),"
                               "('wallet.ledger/07','p/1','{}'),('wallet.purchase','x','{}'),"
                               "('wallet.catalog','sku','{}'),('walletx','k','{}');"
                               "INSERT INTO events VALUES(4, 1, 'payment.purchase', 'p', '{}');"
                               "PRAGMA user_version=2",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    sqlite3_close(db);
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    load_count = 0;
    ASSERT_OK(hg_store_load(s, "wallet/07", on_load, NULL));
    ASSERT_EQ_INT(load_count, 1);
    ASSERT_STR_EQ(load_last, "p={\"w\":1}");
    load_count = 0;
    ASSERT_OK(hg_store_load(s, "wallet.catalog", on_load, NULL));
    ASSERT_EQ_INT(load_count, 1);
    uint64_t last;
    ASSERT_OK(hg_store_last_event_id(s, &last));
    ASSERT_EQ_INT(last, 4);
    got_t *g = scan(&loop, s, "wallet.ledger/07", "", NULL, 10, 0);
    ASSERT_EQ_INT(g->n, 1);
    close_on(&loop, s);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM records"), 3);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM events"), 1);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM records"), 2);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "PRAGMA user_version"), 4);
    /* the event's entry of the player index is in history.db */
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 1);
    /* history.db gone: refused, and nothing made in its place */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -f %s/history.db %s/history.db-wal %s/history.db-shm", dir, dir,
             dir);
    ASSERT_EQ_INT(system(cmd), 0);
    hg_error_t err;
    uv_loop_init(&loop);
    ASSERT_EQ_INT(hg_store_open(&loop, &hg_store_sqlite, dir, 8, &s, &err), HG_ESTORE);
    ASSERT_TRUE(strstr(hg_error_message(&err), "history.db is missing") != NULL);
    ASSERT_OK(uv_loop_close(&loop));
    snprintf(path, sizeof(path), "%s/history.db", dir);
    ASSERT_TRUE(access(path, F_OK) != 0);
    hg_test_rmtree(dir);
}

/* A store of schema 3 kept the events' index by player in hangar.db: at open it moves to
 * history.db (filled from the events) and the old index is dropped; reads by player use it. */
HG_TEST(a_version_3_store_moves_its_event_player_index_to_history)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_txn_t *t = hg_store_txn_new(s);
    for (int i = 1; i <= 6; i++)
        add_event(t, (uint64_t)i, 1000 + i, "x", i % 2 ? "odd" : NULL, NULL);
    hg_test_commit(&loop, t);
    close_on(&loop, s);
    /* make it what a schema 3 hangard left: no player index in history.db, one in hangar.db */
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/history.db", dir);
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ_INT(
        sqlite3_exec(db, "DROP TABLE event_players; PRAGMA user_version=1", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    snprintf(path, sizeof(path), "%s/hangar.db", dir);
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db,
                               "CREATE INDEX events_player ON events(player, id);"
                               "PRAGMA user_version=3",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    sqlite3_close(db);
    s = open_on(&loop, dir);
    hg_store_event_query_t q = {
        .player = "odd", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 10};
    got_t *g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 3);
    ASSERT_EQ_INT(g->ids[0], 1);
    ASSERT_EQ_INT(g->ids[2], 5);
    close_on(&loop, s);
    ASSERT_EQ_INT(file_count(dir, "history.db", "PRAGMA user_version"), 2);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 3);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "PRAGMA user_version"), 4);
    ASSERT_EQ_INT(file_count(dir, "hangar.db",
                             "SELECT count(*) FROM sqlite_master WHERE name='events_player'"),
                  0);
    hg_test_rmtree(dir);
}

/* Events by player come from the index the fold writes: a read by player waits for it, and one
 * without a player does not; an event added and deleted before a fold leaves no entry. */
HG_TEST(events_by_player_wait_for_the_fold)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_txn_t *t = hg_store_txn_new(s);
    add_event(t, 1, 10, "x", "a", NULL);
    add_event(t, 2, 11, "x", "b", NULL);
    add_event(t, 3, 12, "x", NULL, NULL);
    hg_test_commit(&loop, t);
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 1); /* the index's entries wait in the journal */
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 0);
    hg_store_event_query_t all = {.from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 10};
    got_t *g = events(&loop, s, &all);
    ASSERT_EQ_INT(g->n, 3);
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 1); /* that read did not wait */
    hg_store_event_query_t q = {
        .player = "a", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 10};
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 1);
    ASSERT_EQ_INT(g->ids[0], 1);
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 0);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 2);
    /* added and deleted in one fold: nothing left of it */
    t = hg_store_txn_new(s);
    add_event(t, 4, 13, "x", "a", NULL);
    hg_test_commit(&loop, t);
    t = hg_store_txn_new(s);
    hg_store_event_del(t, 4, "a");
    hg_store_event_del(t, 1, "a");
    hg_test_commit(&loop, t);
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 0);
    q.player = "b";
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 1);
    close_on(&loop, s);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 1);
    hg_test_rmtree(dir);
}

/* History read only by scans and loads (a ledger) is not kept in the tail: a get of it waits for
 * the fold and still sees the latest write; one read by key (a purchase) is answered from the
 * tail. */
HG_TEST(a_get_of_history_not_read_by_key_waits_for_the_fold)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    ASSERT_EQ_INT(hg_store_history_kind("wallet.ledger/07"), 1);
    ASSERT_EQ_INT(hg_store_history_kind("wallet.pk/07"), 2);
    ASSERT_EQ_INT(hg_store_history_kind("players/07"), 0);
    hg_store_txn_t *t = hg_store_txn_new(s);
    put(t, "wallet.ledger/07", "p/1", 1);
    hg_test_commit(&loop, t);
    t = hg_store_txn_new(s);
    put(t, "wallet.ledger/07", "p/1", 2);
    hg_test_commit(&loop, t);
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 2);
    ASSERT_EQ_INT(st.journal_bytes, 0); /* nothing in the tail */
    got_t g = {0};
    hg_store_get(s, "wallet.ledger/07", "p/1", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_EQ_INT(g.n, 1);
    ASSERT_STR_EQ(g.values[0], "{\"v\":2}");
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 0); /* it waited for the fold */
    t = hg_store_txn_new(s);
    put(t, HIST, "k", 3);
    hg_test_commit(&loop, t);
    memset(&g, 0, sizeof(g));
    hg_store_get(s, HIST, "k", on_rows, &g);
    wait_got(&loop, &g);
    ASSERT_STR_EQ(g.values[0], "{\"v\":3}");
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.journal_pending, 1); /* answered from the tail */
    ASSERT_TRUE(st.journal_bytes > 0);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* A fold starts once HG_STORE_JOURNAL_OPS journal entries wait, counted as the fold counts them:
 * a run of one player's consecutive events is one (counting each event started a fold after
 * every commit of an event batch). */
HG_TEST(a_run_of_events_counts_once_toward_a_fold)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_txn_t *t = hg_store_txn_new(s);
    for (int i = 1; i <= HG_STORE_JOURNAL_OPS + 10; i++)
        add_event(t, (uint64_t)i, i, "x", "p", NULL);
    hg_test_commit(&loop, t);
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.indexes, 0);
    ASSERT_EQ_INT(st.indexing, 0);
    ASSERT_EQ_INT(st.journal_pending, 1);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM journal0"), 1);
    hg_store_event_query_t q = {.player = "p",
                                .from_ms = INT64_MIN,
                                .to_ms = INT64_MAX,
                                .after_id = HG_STORE_JOURNAL_OPS,
                                .limit = 100};
    got_t *g = events(&loop, s, &q); /* the read starts the fold */
    ASSERT_EQ_INT(g->n, 10);
    close_on(&loop, s);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 1);
    hg_test_rmtree(dir);
}

/* Consecutive events of one player are one run of the player index; reads page through runs
 * by id, deletes at a run's ends shrink it, and one inside it leaves it (the read skips the
 * event). */
HG_TEST(events_by_player_are_runs_of_ids)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_txn_t *t = hg_store_txn_new(s);
    for (int i = 1; i <= 10; i++) /* a: 1..5, b: 6, a: 7..10 */
        add_event(t, (uint64_t)i, 100 + i, "x", i == 6 ? "b" : "a", NULL);
    hg_test_commit(&loop, t);
    t = hg_store_txn_new(s); /* another batch: a run of its own */
    add_event(t, 11, 111, "x", "a", NULL);
    hg_test_commit(&loop, t);
    hg_store_event_query_t q = {
        .player = "a", .from_ms = INT64_MIN, .to_ms = INT64_MAX, .limit = 4};
    got_t *g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 4);
    ASSERT_EQ_INT(g->ids[3], 4);
    ASSERT_EQ_INT(g->more, 1);
    q.after_id = 4; /* inside the first run */
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 4);
    ASSERT_EQ_INT(g->ids[0], 5);
    ASSERT_EQ_INT(g->ids[1], 7);
    ASSERT_EQ_INT(g->ids[3], 9);
    q.after_id = 9;
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_EQ_INT(g->ids[1], 11);
    ASSERT_EQ_INT(g->more, 0);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 4);
    /* ends shrink their run, the middle stays in it, a run's only id takes it away */
    t = hg_store_txn_new(s);
    hg_store_event_del(t, 1, "a");
    hg_store_event_del(t, 11, "a");
    hg_store_event_del(t, 3, "a");
    hg_store_event_del(t, 6, "b");
    hg_test_commit(&loop, t);
    q.after_id = 0;
    q.limit = 10;
    g = events(&loop, s, &q);
    ASSERT_EQ_INT(g->n, 7); /* 2, 4, 5, 7, 8, 9, 10 */
    ASSERT_EQ_INT(g->ids[0], 2);
    ASSERT_EQ_INT(g->ids[1], 4);
    ASSERT_EQ_INT(g->ids[6], 10);
    close_on(&loop, s);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT count(*) FROM event_players"), 2);
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT first FROM event_players ORDER BY first"),
                  2);
    ASSERT_EQ_INT(
        file_count(dir, "history.db", "SELECT last FROM event_players ORDER BY first DESC"), 10);
    hg_test_rmtree(dir);
}

/* The tail at its bound: a commit with history waits for a fold, and so does every commit
 * after it (in order), then all go through. */
static int order_next;
static void note_order(void *ud, int rc)
{
    ASSERT_OK(rc);
    *(int *)ud = ++order_next;
}

HG_TEST(commits_wait_for_a_fold_when_the_tail_is_at_its_bound)
{
    if (hg_test_backend != &hg_store_sqlite)
        return;
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, dir);
    hg_store_set_tail_max(s, 1); /* one block is past it */
    hg_store_txn_t *t = hg_store_txn_new(s);
    put(t, HIST, "a", 1);
    hg_test_commit(&loop, t); /* the tail was empty */
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    ASSERT_TRUE(st.journal_bytes > 0);
    ASSERT_EQ_INT(st.deferred, 0);
    int first = 0, second = 0;
    order_next = 0;
    t = hg_store_txn_new(s);
    put(t, HIST, "b", 2);
    hg_store_commit(t, note_order, &first);
    t = hg_store_txn_new(s);
    put(t, "plain", "p", 3); /* no history, but after one that waits */
    hg_store_commit(t, note_order, &second);
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.deferred, 2);
    ASSERT_EQ_INT(st.inflight, 2);
    while (!first || !second)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(first, 1);
    ASSERT_EQ_INT(second, 2);
    got_t *g = scan(&loop, s, HIST, "", NULL, 10, 0);
    ASSERT_EQ_INT(g->n, 2);
    ASSERT_STR_EQ(g->values[1], "{\"v\":2}");
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* A journal a crash left (rows written, never folded) is folded in at open, and check and
 * migrate read it through the overlay meanwhile. */
HG_TEST(a_journal_left_by_a_crash_is_folded_at_open)
{
    char dir[] = "/tmp/hg-scan-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    /* the backend alone: apply history ops and close without folding, as kill -9 would */
    void *state;
    hg_error_t err;
    ASSERT_OK(hg_store_sqlite.open(dir, &state, &err));
    hg_store_op_t put1 = {
        .kind = HG_STORE_PUT, .coll = HIST, .key = "k", .value = "{\"v\":1}", .jseq = 1};
    hg_store_op_t put2 = {
        .kind = HG_STORE_PUT, .coll = HIST, .key = "k", .value = "{\"v\":2}", .jseq = 2};
    hg_store_op_t ev = {.kind = HG_STORE_EVENT_ADD,
                        .coll = "events",
                        .ev_id = 9,
                        .ev_time_ms = 1,
                        .ev_type = "payment.purchase",
                        .ev_attrs = "{}"};
    hg_store_op_t plain = {.kind = HG_STORE_PUT, .coll = "plain", .key = "k", .value = "{}"};
    hg_store_op_t *ops[] = {&put1, &ev, &put2, &plain};
    ASSERT_OK(hg_store_sqlite.apply(state, ops, 4));
    hg_store_sqlite.close(state);
    ASSERT_EQ_INT(journal_ops(dir, 0), 2);
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM records"), 1);
    /* and a row of one op, as the journal was first written (before a batch's ops were packed
     * into one row): read too, after the packed one */
    {
        char path[128];
        snprintf(path, sizeof(path), "%s/hangar.db", dir);
        sqlite3 *db;
        ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db,
                                   "INSERT INTO journal0(seq, jseq, kind, coll, key, value) "
                                   "VALUES(2, 3, 1, '" HIST "', 'old', '{\"v\":3}')",
                                   NULL, NULL, NULL),
                      SQLITE_OK);
        sqlite3_close(db);
    }
    ASSERT_EQ_INT(file_count(dir, "hangar.db", "SELECT count(*) FROM events"), 1);
    /* a reader of the files sees the journal applied */
    char path[128];
    snprintf(path, sizeof(path), "%s/history.db", dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof(sql), "ATTACH '%s/hangar.db' AS hg; BEGIN", dir);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ_INT(hg_store_sqlite_overlay(db, "hg"), 3);
    ASSERT_EQ_INT(sqlite3_prepare_v2(db,
                                     "SELECT (SELECT value FROM records WHERE coll='" HIST
                                     "' AND key='k'), (SELECT count(*) FROM hg.events)",
                                     -1, &q, NULL),
                  SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(q, 0), "{\"v\":2}");
    ASSERT_EQ_INT(sqlite3_column_int(q, 1), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* the store opens it: folded, loaded, the event's id known */
    uv_loop_t loop;
    hg_store_t *s;
    uv_loop_init(&loop);
    ASSERT_OK(hg_store_open(&loop, &hg_store_sqlite, dir, 8, &s, &err));
    ASSERT_EQ_INT(file_count(dir, "history.db", "SELECT seq FROM folded"), 2);
    load_count = 0;
    ASSERT_OK(hg_store_load(s, HIST, on_load, NULL));
    ASSERT_EQ_INT(load_count, 2);
    ASSERT_STR_EQ(load_last, "old={\"v\":3}");
    uint64_t last;
    ASSERT_OK(hg_store_last_event_id(s, &last));
    ASSERT_EQ_INT(last, 9);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* The same on PostgreSQL ($HG_TEST_PG; make unit starts one with scripts/pg-local). */
HG_TEST(pg_history_is_read_at_once_scanned_after_the_fold_and_kept)
{
    if (hg_test_pg_begin())
        test_history_is_read_at_once_scanned_after_the_fold_and_kept();
}

HG_TEST(pg_scan_orders_filters_by_prefix_and_pages_both_ways)
{
    if (hg_test_pg_begin())
        test_scan_orders_filters_by_prefix_and_pages_both_ways();
}

HG_TEST(pg_get_sees_only_committed_records)
{
    if (hg_test_pg_begin())
        test_get_sees_only_committed_records();
}

HG_TEST(pg_events_are_appended_in_txns_filtered_and_deleted)
{
    if (hg_test_pg_begin())
        test_events_are_appended_in_txns_filtered_and_deleted();
}

HG_TEST(pg_reads_in_flight_complete_at_close_and_later_ones_are_refused)
{
    if (hg_test_pg_begin())
        test_reads_in_flight_complete_at_close_and_later_ones_are_refused();
}

HG_SUITE(store_scan) = {
    HG_CASE(scan_orders_filters_by_prefix_and_pages_both_ways),
    HG_CASE(get_sees_only_committed_records),
    HG_CASE(events_are_appended_in_txns_filtered_and_deleted),
    HG_CASE(version_1_store_gets_the_events_table),
    HG_CASE(reads_in_flight_complete_at_close_and_later_ones_are_refused),
    HG_CASE(history_is_read_at_once_scanned_after_the_fold_and_kept),
    HG_CASE(a_journal_left_by_a_crash_is_folded_at_open),
    HG_CASE(the_journal_tables_turn_and_empty_and_rows_number_upwards),
    HG_CASE(commits_wait_for_a_fold_when_the_tail_is_at_its_bound),
    HG_CASE(a_version_2_store_moves_its_history_and_a_missing_history_file_is_refused),
    HG_CASE(a_version_3_store_moves_its_event_player_index_to_history),
    HG_CASE(events_by_player_wait_for_the_fold),
    HG_CASE(events_by_player_are_runs_of_ids),
    HG_CASE(a_run_of_events_counts_once_toward_a_fold),
    HG_CASE(a_get_of_history_not_read_by_key_waits_for_the_fold),
    HG_CASE(pg_history_is_read_at_once_scanned_after_the_fold_and_kept),
    HG_CASE(pg_scan_orders_filters_by_prefix_and_pages_both_ways),
    HG_CASE(pg_get_sees_only_committed_records),
    HG_CASE(pg_events_are_appended_in_txns_filtered_and_deleted),
    HG_CASE(pg_reads_in_flight_complete_at_close_and_later_ones_are_refused),
    HG_CASE_END,
};
