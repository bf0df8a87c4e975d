/* Unit tests: the store front and the SQLite backend (FIFO completion, barriers, group commit,
 * persistence across reopen). */
#include <stdlib.h>
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

HG_TEST(fifo_completion_barriers_and_reload)
{
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hg_store_t *s;
    hg_error_t err;
    ASSERT_OK(hg_store_open(&loop, &hg_store_sqlite, dir, 8, &s, &err));
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
    hg_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));

    uv_loop_init(&loop);
    ASSERT_OK(hg_store_open(&loop, &hg_store_sqlite, dir, 8, &s, &err));
    int n = 0;
    ASSERT_OK(hg_store_load(s, "things", count_cb, &n));
    ASSERT_EQ_INT(n, 26); /* 27 puts, k00 deleted */
    n = 0;
    ASSERT_OK(hg_store_load(s, "other", count_cb, &n));
    ASSERT_EQ_INT(n, 0);
    hg_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    hg_test_rmtree(dir);
}

HG_TEST(empty_txn_with_nothing_in_flight_completes_at_once)
{
    char dir[64];
    mkdir_tmp(dir, sizeof(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hg_store_t *s;
    hg_error_t err;
    ASSERT_OK(hg_store_open(&loop, &hg_store_sqlite, dir, 8, &s, &err));
    rec_t rec = {.n = 0};
    cb_arg_t a = {&rec, 7};
    hg_store_commit(hg_store_txn_new(s), on_commit, &a);
    ASSERT_EQ_INT(rec.n, 1); /* synchronously */
    hg_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
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

HG_SUITE(store) = {
    HG_CASE(fifo_completion_barriers_and_reload),
    HG_CASE(empty_txn_with_nothing_in_flight_completes_at_once),
    HG_CASE(open_fails_cleanly_on_bad_dir),
    HG_CASE_END,
};
