/* Unit tests: the store front and the SQLite backend (FIFO completion, barriers, group commit,
 * persistence across reopen). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "store/store.h"
#include "test.h"
#include "test_util.h"

typedef struct rec {
    int order[64];
    int n;
} rec_t;

typedef struct cb_arg {
    rec_t *rec;
    int id;
} cb_arg_t;

static void on_commit(void *ud, int rc)
{
    cb_arg_t *a = ud;
    ASSERT_EQ_INT(rc, 0);
    a->rec->order[a->rec->n++] = a->id;
}

static void on_counted(void *ud, int rc)
{
    ASSERT_EQ_INT(rc, 0);
    (*(int *)ud)++;
}

static int count_cb(void *ud, const char *key, json_t *v)
{
    (void)key;
    ASSERT_TRUE(json_is_object(v));
    (*(int *)ud)++;
    return 0;
}

static void mkdir_tmp(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/hg-store-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
}

/* A store on a new loop. */
static hg_store_t *open_on(uv_loop_t *loop, const hg_store_backend_t *be, const char *dir,
                           size_t batch_max)
{
    uv_loop_init(loop);
    hg_store_t *s;
    hg_error_t err;
    ASSERT_OK(hg_store_open(loop, be, dir, batch_max, &s, &err));
    return s;
}

/* Close s (its last callbacks run) and its loop, asserting nothing is left open. */
static void close_on(uv_loop_t *loop, hg_store_t *s)
{
    hg_store_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(loop));
}

/* Records of coll. */
static int count_in(hg_store_t *s, const char *coll)
{
    int n = 0;
    ASSERT_OK(hg_store_load(s, coll, count_cb, &n));
    return n;
}

HG_TEST(fifo_completion_barriers_and_reload)
{
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, hg_test_backend, hg_test_location(dir), 8);
    rec_t rec = {.n = 0};
    cb_arg_t args[40];
    for (int i = 0; i < 40; i++) {
        args[i].rec = &rec;
        args[i].id = i;
        hg_store_txn_t *t = hg_store_txn_new(s);
        if (i % 3 != 2) { /* every third is an empty barrier */
            char key[16];
            snprintf(key, sizeof(key), "k%02d", i);
            json_t *v = json_pack("{s:i}", "i", i);
            hg_store_put(t, "things", key, v);
            json_decref(v);
            if (i == 10)
                hg_store_del(t, "things", "k00");
        }
        hg_store_commit(t, on_commit, &args[i]);
    }
    while (rec.n < 40)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 40; i++)
        ASSERT_EQ_INT(rec.order[i], i);
    hg_store_stats_t st;
    hg_store_stats(s, &st);
    ASSERT_EQ_INT(st.txns, 27);
    ASSERT_TRUE(st.batches >= 4);  /* batch_max 8: at least 27/8 commits */
    ASSERT_TRUE(st.batches <= 27); /* and grouped when they queue together */
    close_on(&loop, s);

    s = open_on(&loop, hg_test_backend, hg_test_location(dir), 8);
    ASSERT_EQ_INT(count_in(s, "things"), 26); /* 27 puts, k00 deleted */
    ASSERT_EQ_INT(count_in(s, "other"), 0);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

HG_TEST(empty_txn_with_nothing_in_flight_completes_at_once)
{
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, hg_test_backend, hg_test_location(dir), 8);
    rec_t rec = {.n = 0};
    cb_arg_t a = {&rec, 7};
    hg_store_commit(hg_store_txn_new(s), on_commit, &a);
    ASSERT_EQ_INT(rec.n, 1); /* synchronously */
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

HG_TEST(open_fails_cleanly_on_bad_dir)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    hg_store_t *s = NULL;
    hg_error_t err;
    hg_error_clear(&err);
    ASSERT_TRUE(hg_store_open(&loop, &hg_store_sqlite, "/proc/definitely/not/here", 8, &s, &err) <
                0);
    ASSERT_NULL(s);
    ASSERT_TRUE(err.msg[0] != '\0');
    ASSERT_OK(uv_loop_close(&loop));
}

/* A backend that is SQLite until told to fail, as a full disk makes it fail. */
static volatile int fail_apply; /* read on the writer lane */

static int failing_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    if (__atomic_load_n(&fail_apply, __ATOMIC_SEQ_CST))
        return HG_ESTORE;
    return hg_test_backend->apply(state, ops, nops);
}

typedef struct fence_log {
    int failures, failure_rc;
    int rcs[8];
    int n;
    int hook_rc;
    int failure_seen_first; /* the failure callback ran before the first failed callback */
} fence_log_t;

static void on_failure(void *ud, int rc)
{
    fence_log_t *l = ud;
    l->failures++;
    l->failure_rc = rc;
}

static void on_fenced_commit(void *ud, int rc)
{
    fence_log_t *l = ud;
    if (l->n == 1 && rc < 0)
        l->failure_seen_first = l->failures == 1;
    l->rcs[l->n++] = rc;
}

static void on_hook(void *ud, int rc)
{
    ((fence_log_t *)ud)->hook_rc = rc;
}

static void put_one(hg_store_t *s, const char *key, fence_log_t *l, int hook)
{
    hg_store_txn_t *t = hg_store_txn_new(s);
    json_t *v = json_pack("{s:s}", "k", key);
    hg_store_put(t, "things", key, v);
    json_decref(v);
    if (hook)
        hg_store_txn_on_commit(t, on_hook, l);
    hg_store_commit(t, on_fenced_commit, l);
}

HG_TEST(failed_commit_fences_the_store_until_reopened)
{
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    hg_store_backend_t be = *hg_test_backend;
    be.apply = failing_apply;
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, &be, hg_test_location(dir), 8);
    fence_log_t l = {.hook_rc = 1};
    hg_store_set_failure_cb(s, on_failure, &l);
    put_one(s, "a", &l, 0);
    while (l.n < 1)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(l.rcs[0], 0);
    ASSERT_EQ_INT(l.failures, 0);
    /* the disk fills: b fails, and c and the barrier behind it fail with it */
    __atomic_store_n(&fail_apply, 1, __ATOMIC_SEQ_CST);
    put_one(s, "b", &l, 1);
    put_one(s, "c", &l, 0);
    hg_store_commit(hg_store_txn_new(s), on_fenced_commit, &l);
    while (l.n < 4)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(l.rcs[1], HG_ESTORE);
    ASSERT_TRUE(l.rcs[2] < 0);
    ASSERT_TRUE(l.rcs[3] < 0);
    ASSERT_EQ_INT(l.hook_rc, HG_ESTORE); /* b's event is never published */
    ASSERT_EQ_INT(l.failures, 1);
    ASSERT_EQ_INT(l.failure_rc, HG_ESTORE);
    ASSERT_TRUE(l.failure_seen_first);
    ASSERT_TRUE(hg_store_fenced(s));
    /* room again: still nothing is written or acknowledged until the store is opened anew,
     * because memory may hold b and c */
    __atomic_store_n(&fail_apply, 0, __ATOMIC_SEQ_CST);
    put_one(s, "e", &l, 0);
    while (l.n < 5)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(l.rcs[4], HG_ESHUTDOWN);
    hg_store_commit(hg_store_txn_new(s), on_fenced_commit, &l); /* nothing in flight */
    ASSERT_EQ_INT(l.n, 6);                                      /* at once, and refused */
    ASSERT_EQ_INT(l.rcs[5], HG_ESHUTDOWN);
    ASSERT_EQ_INT(l.failures, 1); /* told once */
    close_on(&loop, s);

    s = open_on(&loop, hg_test_backend, hg_test_location(dir), 8);
    ASSERT_EQ_INT(count_in(s, "things"), 1); /* a only */
    fence_log_t l2 = {0};
    put_one(s, "f", &l2, 0); /* a store opened anew writes again */
    while (l2.n < 1)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(l2.rcs[0], 0);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

HG_TEST(loads_while_commits_are_written_lose_nothing)
{
    /* Start-up: modules loading commit clean-ups while the next module's load reads through
     * the same connection; each load holds the writer off it. */
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, hg_test_backend, hg_test_location(dir), 4);
    enum { N = 4000 };
    int done = 0;
    for (int i = 0; i < N; i++) {
        hg_store_txn_t *t = hg_store_txn_new(s);
        char key[16];
        snprintf(key, sizeof(key), "k%03d", i);
        json_t *v = json_pack("{s:i}", "i", i);
        hg_store_put(t, "things", key, v);
        json_decref(v);
        hg_store_commit(t, on_counted, &done);
        if (i % 4 == 0) { /* a load in the middle of the writes */
            int n = 0;
            ASSERT_OK(hg_store_load(s, "things", count_cb, &n));
            ASSERT_TRUE(n <= i + 1); /* k000..k<i>: the one just submitted may be in */
        }
    }
    while (done < N)
        uv_run(&loop, UV_RUN_ONCE);
    close_on(&loop, s);
    /* every acknowledged write is found by a new process */
    s = open_on(&loop, hg_test_backend, hg_test_location(dir), 8);
    ASSERT_EQ_INT(count_in(s, "things"), N);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* A value of len characters that says which key and round it belongs to. */
static char *wb_value(int key, int round, size_t len)
{
    char *v = malloc(len + 16);
    int n = snprintf(v, len + 16, "[\"%d/%d ", key, round);
    for (size_t i = (size_t)n; i < len; i++)
        v[i] = (char)('a' + (key * 7 + round * 13 + (int)i) % 26);
    memcpy(v + len, "\"]", 3);
    return v;
}

typedef struct wb_read {
    int done, rc;
    size_t n;
    char *value;
} wb_read_t;

static void wb_on_row(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)more;
    wb_read_t *r = ud;
    r->done = 1;
    r->rc = rc;
    r->n = n;
    r->value = n ? strdup(rows[0].value) : NULL;
}

typedef struct wb_loaded {
    int round, count;
} wb_loaded_t;

static int wb_load_cb(void *ud, const char *key, json_t *v)
{
    wb_loaded_t *l = ud;
    int k = atoi(key + 1);
    char *want = wb_value(k, l->round, k % 5 == 0 ? 300000 : 1500 + (size_t)k * 37);
    char *got = json_dumps(v, JSON_COMPACT);
    ASSERT_TRUE(strcmp(got, want) == 0);
    free(got);
    free(want);
    l->count++;
    return 0;
}

HG_TEST(sqlite_write_behind_loses_and_hides_nothing)
{
    /* The writer's connection buffers its writes (sqlite_wb.c): runs of WAL frames longer than
     * the unix VFS writes at once (300 KB values: ~75 frames in one run), pages rewritten in
     * the same transaction, and at close the checkpoint's page writes into the database. Every
     * commit must be readable at once by the other connection (the reader lane), and all of it
     * after a reopen, in a file SQLite finds intact. */
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    hg_store_t *s = open_on(&loop, &hg_store_sqlite, dir, 16);
    enum { KEYS = 40, ROUNDS = 6 };
    for (int round = 1; round <= ROUNDS; round++) {
        int done = 0;
        for (int k = 0; k < KEYS; k++) {
            hg_store_txn_t *t = hg_store_txn_new(s);
            char key[16];
            snprintf(key, sizeof(key), "k%02d", k);
            size_t len = k % 5 == 0 ? 300000 : 1500 + (size_t)k * 37;
            /* twice in one transaction: SQLite rewrites the page, or frame, it just wrote */
            hg_store_put_text(t, "wb", key, wb_value(k, round - 1, len));
            hg_store_put_text(t, "wb", key, wb_value(k, round, len));
            hg_store_commit(t, on_counted, &done);
        }
        while (done < KEYS)
            uv_run(&loop, UV_RUN_ONCE);
        for (int k = 0; k < KEYS; k += 3) { /* committed: the reader sees it */
            char key[16];
            snprintf(key, sizeof(key), "k%02d", k);
            wb_read_t r = {0};
            hg_store_get(s, "wb", key, wb_on_row, &r);
            while (!r.done)
                uv_run(&loop, UV_RUN_ONCE);
            ASSERT_EQ_INT(r.rc, 0);
            ASSERT_EQ_INT((int)r.n, 1);
            char *want = wb_value(k, round, k % 5 == 0 ? 300000 : 1500 + (size_t)k * 37);
            ASSERT_TRUE(strcmp(r.value, want) == 0);
            free(want);
            free(r.value);
        }
    }
    close_on(&loop, s); /* the last connection checkpoints the WAL into hangar.db */

    char path[96];
    snprintf(path, sizeof(path), "%s/hangar.db", dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_TRUE(strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0);
    sqlite3_finalize(q);
    sqlite3_close(db);

    s = open_on(&loop, &hg_store_sqlite, dir, 16);
    wb_loaded_t loaded = {ROUNDS, 0};
    ASSERT_OK(hg_store_load(s, "wb", wb_load_cb, &loaded));
    ASSERT_EQ_INT(loaded.count, KEYS);
    close_on(&loop, s);
    hg_test_rmtree(dir);
}

/* The same on PostgreSQL ($HG_TEST_PG; make unit starts one with scripts/pg-local). */
HG_TEST(pg_fifo_completion_barriers_and_reload)
{
    if (hg_test_pg_begin())
        test_fifo_completion_barriers_and_reload();
}

HG_TEST(pg_empty_txn_with_nothing_in_flight_completes_at_once)
{
    if (hg_test_pg_begin())
        test_empty_txn_with_nothing_in_flight_completes_at_once();
}

HG_TEST(pg_failed_commit_fences_the_store_until_reopened)
{
    if (hg_test_pg_begin())
        test_failed_commit_fences_the_store_until_reopened();
}

HG_TEST(pg_loads_while_commits_are_written_lose_nothing)
{
    if (hg_test_pg_begin())
        test_loads_while_commits_are_written_lose_nothing();
}

HG_SUITE(store) = {
    HG_CASE(fifo_completion_barriers_and_reload),
    HG_CASE(empty_txn_with_nothing_in_flight_completes_at_once),
    HG_CASE(open_fails_cleanly_on_bad_dir),
    HG_CASE(failed_commit_fences_the_store_until_reopened),
    HG_CASE(loads_while_commits_are_written_lose_nothing),
    HG_CASE(sqlite_write_behind_loses_and_hides_nothing),
    HG_CASE(pg_fifo_completion_barriers_and_reload),
    HG_CASE(pg_empty_txn_with_nothing_in_flight_completes_at_once),
    HG_CASE(pg_failed_commit_fences_the_store_until_reopened),
    HG_CASE(pg_loads_while_commits_are_written_lose_nothing),
    HG_CASE_END,
};
