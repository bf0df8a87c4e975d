/* Unit tests: wallets (wallet/wallet.h) on the manual clock with the real store — prices and
 * charges, funds and limits leaving nothing changed, idempotent purchases and receipts (in
 * memory, then from the store once forgotten, and after a reload), the ledger's running balance,
 * and what memory forgets and when. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "players/players.h"
#include "store/partition.h"
#include "test.h"
#include "test_util.h"
#include "wallet/wallet.h"

#define T0 1804672800000LL

typedef struct env {
    char dir[64];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_logs_t *logs;
    hg_wallets_t *w;
} env_t;

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-wallet-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->logs = hg_logs_new(&e->loop, e->store, &e->clock);
    ASSERT_OK(hg_logs_start(e->logs, "", &err));
    e->w = hg_wallets_new(e->store, &e->clock, e->logs);
    ASSERT_OK(hg_wallets_load(e->w, &err));
}

static void env_close(env_t *e)
{
    hg_test_commit(&e->loop, hg_store_txn_new(e->store));
    hg_store_close(e->store);
    hg_wallets_free(e->w);
    hg_logs_free(e->logs);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static const char *pid(int i)
{
    static char buf[8][40];
    char *p = buf[i & 7];
    snprintf(p, 40, "00000000-0000-8000-8000-%012d", i);
    return p;
}

static void put_item(env_t *e, const char *sku, const char *body)
{
    json_t *b = json_loads(body, 0, NULL), *out;
    ASSERT_NOT_NULL(b);
    int created;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_wallet_item_put(e->w, sku, b, t, &out, &created, &err));
    hg_test_commit(&e->loop, t);
    json_decref(out);
    json_decref(b);
}

typedef struct result {
    int done, rc;
} result_t;

static void on_done(void *ud, int rc)
{
    result_t *r = ud;
    r->done = 1;
    r->rc = rc;
}

/* Run an asynchronous wallet call to its end and commit its transaction (as the API does);
 * returns its rc; *out_json the answer (new reference) on success. */
static int finish(env_t *e, result_t *r, hg_store_txn_t *t, hg_buf_t *out, json_t **out_json)
{
    while (!r->done)
        uv_run(&e->loop, UV_RUN_ONCE);
    if (r->rc == 0) {
        hg_test_commit(&e->loop, t);
        if (out_json) {
            *out_json = json_loadb(out->data, out->len, 0, NULL);
            ASSERT_NOT_NULL(*out_json);
        }
    } else {
        hg_store_txn_free(t);
    }
    hg_buf_free(out);
    return r->rc;
}

static int credit(env_t *e, int player, const char *cur, int64_t amount, const char *receipt,
                  int *replayed, json_t **answer)
{
    hg_wallet_credit_t cr = {
        .player_id = pid(player), .currency = cur, .amount = amount, .receipt_id = receipt};
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_buf_t out;
    hg_buf_init(&out);
    hg_error_t err;
    result_t r = {0};
    hg_wallet_credit(e->w, &cr, t, &out, replayed, &err, on_done, &r);
    return finish(e, &r, t, &out, answer);
}

static int buy(env_t *e, int player, const char *sku, int64_t q, const char *key, int *replayed,
               json_t **answer)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_buf_t out;
    hg_buf_init(&out);
    hg_error_t err;
    result_t r = {0};
    hg_wallet_purchase(e->w, pid(player), sku, q, key, t, &out, replayed, &err, on_done, &r);
    return finish(e, &r, t, &out, answer);
}

static int64_t balance(env_t *e, int player, const char *cur)
{
    hg_buf_t out;
    hg_buf_init(&out);
    hg_wallet_write(e->w, pid(player), &out);
    json_t *v = json_loadb(out.data, out.len, 0, NULL);
    int64_t n = json_integer_value(json_object_get(json_object_get(v, "balances"), cur));
    json_decref(v);
    hg_buf_free(&out);
    return n;
}

static int64_t owned(env_t *e, int player, const char *sku)
{
    hg_buf_t out;
    hg_buf_init(&out);
    hg_wallet_write(e->w, pid(player), &out);
    json_t *v = json_loadb(out.data, out.len, 0, NULL), *it;
    int64_t n = 0;
    size_t i;
    json_array_foreach (json_object_get(v, "inventory"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "sku")), sku) == 0)
            n = json_integer_value(json_object_get(it, "quantity"));
    }
    json_decref(v);
    hg_buf_free(&out);
    return n;
}

HG_TEST(purchases_charge_every_currency_and_errors_change_nothing)
{
    env_t e;
    env_open(&e, 1);
    put_item(&e, "potion",
             "{\"price\": {\"gold\": 5, \"gems\": 2}, \"stackable\": true, "
             "\"max_per_player\": 4}");
    put_item(&e, "sword", "{\"price\": {\"gold\": 100}, \"stackable\": false}");
    int rep;
    json_t *a;
    ASSERT_OK(credit(&e, 1, "gold", 120, "r1", &rep, NULL));
    ASSERT_OK(credit(&e, 1, "gems", 5, "r2", &rep, NULL));
    ASSERT_OK(buy(&e, 1, "potion", 2, "k1", &rep, &a));
    ASSERT_EQ_INT(rep, 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(a, "charged"), "gold")), 10);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(a, "charged"), "gems")), 4);
    json_decref(a);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 110);
    ASSERT_EQ_INT(balance(&e, 1, "gems"), 1);
    ASSERT_EQ_INT(owned(&e, 1, "potion"), 2);
    /* gems short: nothing is debited, not even the gold */
    ASSERT_EQ_INT(buy(&e, 1, "potion", 1, "k2", &rep, NULL), HG_EFUNDS);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 110);
    ASSERT_OK(credit(&e, 1, "gems", 100, "r3", &rep, NULL));
    ASSERT_EQ_INT(buy(&e, 1, "potion", 3, "k3", &rep, NULL), HG_ELIMIT); /* 2 + 3 > 4 */
    ASSERT_OK(buy(&e, 1, "sword", 1, "k4", &rep, NULL));
    ASSERT_EQ_INT(buy(&e, 1, "sword", 1, "k5", &rep, NULL), HG_ELIMIT); /* not stackable */
    ASSERT_EQ_INT(buy(&e, 1, "nothing", 1, "k6", &rep, NULL), HG_ENOTFOUND);
    ASSERT_EQ_INT(buy(&e, 1, "potion", 0, "k7", &rep, NULL), HG_EINVAL);
    ASSERT_EQ_INT(buy(&e, 1, "potion", 1, NULL, &rep, NULL), HG_EINVAL);
    ASSERT_EQ_INT(buy(&e, 2, "potion", 1, "k1", &rep, NULL), HG_EFUNDS); /* keys are per player */
    ASSERT_EQ_INT(credit(&e, 1, "gold", INT64_MAX, "r4", &rep, NULL), HG_ELIMIT);
    ASSERT_EQ_INT(credit(&e, 1, "Gold", 1, "r5", &rep, NULL), HG_EINVAL);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 10);
    ASSERT_EQ_INT(owned(&e, 1, "potion"), 2);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(keys_and_receipts_replay_from_memory_then_from_the_store)
{
    env_t e;
    env_open(&e, 1);
    put_item(&e, "gem", "{\"price\": {\"gold\": 3}, \"stackable\": true}");
    int rep;
    json_t *first, *again;
    ASSERT_OK(credit(&e, 1, "gold", 100, "r1", &rep, &first));
    ASSERT_OK(credit(&e, 1, "gold", 100, "r1", &rep, &again)); /* memory */
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(first, again));
    json_decref(again);
    ASSERT_EQ_INT(credit(&e, 2, "gold", 100, "r1", &rep, NULL), HG_ECONFLICT);
    ASSERT_EQ_INT(credit(&e, 1, "gold", 99, "r1", &rep, NULL), HG_ECONFLICT);
    json_t *p1;
    ASSERT_OK(buy(&e, 1, "gem", 2, "k1", &rep, &p1));
    ASSERT_OK(buy(&e, 1, "gem", 2, "k1", &rep, &again));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(p1, again));
    json_decref(again);
    ASSERT_EQ_INT(buy(&e, 1, "gem", 3, "k1", &rep, NULL), HG_ECONFLICT);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 94);
    /* a minute later the tick forgets them (durable): the store answers the same */
    hg_clock_advance(&e.clock, 61000);
    hg_wallets_tick(e.w, 100);
    ASSERT_OK(credit(&e, 1, "gold", 100, "r1", &rep, &again));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(first, again));
    json_decref(again);
    ASSERT_EQ_INT(credit(&e, 1, "gold", 101, "r1", &rep, NULL), HG_ECONFLICT);
    ASSERT_OK(buy(&e, 1, "gem", 2, "k1", &rep, &again));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(p1, again));
    json_decref(again);
    ASSERT_EQ_INT(buy(&e, 1, "gem", 1, "k1", &rep, NULL), HG_ECONFLICT);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 94);
    env_close(&e);
    /* and after a restart */
    env_open(&e, 0);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 94);
    ASSERT_EQ_INT(owned(&e, 1, "gem"), 2);
    ASSERT_OK(buy(&e, 1, "gem", 2, "k1", &rep, &again));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(p1, again));
    json_decref(again);
    ASSERT_OK(credit(&e, 1, "gold", 100, "r1", &rep, NULL));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 94);
    json_decref(first);
    json_decref(p1);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

/* A purchase that is not durable yet is never forgotten, however old: its retry must find it. */
static void hold_done(void *ud, int rc)
{
    (void)rc;
    *(int *)ud = 1;
}

HG_TEST(memory_forgets_only_what_is_durable_and_old)
{
    env_t e;
    env_open(&e, 1);
    put_item(&e, "gem", "{\"price\": {\"gold\": 1}, \"stackable\": true}");
    int rep;
    ASSERT_OK(credit(&e, 1, "gold", 10, "r1", &rep, NULL));
    /* a purchase decided but whose transaction is not committed yet */
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_buf_t out;
    hg_buf_init(&out);
    hg_error_t err;
    result_t r = {0};
    hg_wallet_purchase(e.w, pid(1), "gem", 1, "pending", t, &out, &rep, &err, on_done, &r);
    while (!r.done)
        uv_run(&e.loop, UV_RUN_ONCE);
    ASSERT_OK(r.rc);
    hg_clock_advance(&e.clock, 3600000);
    hg_wallets_tick(e.w, 100);
    /* its retry is answered from memory: the same answer, no second charge */
    json_t *again;
    ASSERT_OK(buy(&e, 1, "gem", 1, "pending", &rep, &again));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 9);
    json_t *first = json_loadb(out.data, out.len, 0, NULL);
    ASSERT_TRUE(json_equal(first, again));
    json_decref(first);
    json_decref(again);
    hg_buf_free(&out);
    int committed = 0;
    hg_store_commit(t, hold_done, &committed);
    while (!committed)
        uv_run(&e.loop, UV_RUN_ONCE);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

/* Once a partition's filter has read the stored keys, a new key is bought without reading the
 * store; a key bought before a restart is still found (and replayed), as is one bought while
 * the filters were being read. */
static uint64_t reads(env_t *e)
{
    hg_store_stats_t st;
    hg_store_stats(e->store, &st);
    return st.reads;
}

static void filters_ready(env_t *e)
{
    hg_wallet_filter_stats_t st;
    for (;;) {
        hg_wallets_filter_stats(e->w, &st);
        if (st.ready == 64)
            break;
        ASSERT_TRUE(st.reading > 0); /* else it would never be */
        uv_run(&e->loop, UV_RUN_ONCE);
    }
}

HG_TEST(key_filters_skip_the_store_for_new_keys_and_keep_old_ones)
{
    env_t e;
    env_open(&e, 1);
    put_item(&e, "gem", "{\"price\": {\"gold\": 1}, \"stackable\": true}");
    int rep;
    json_t *a, *b;
    ASSERT_OK(credit(&e, 1, "gold", 100, "r1", &rep, NULL));
    filters_ready(&e);
    uint64_t before = reads(&e);
    ASSERT_OK(buy(&e, 1, "gem", 1, "k1", &rep, &a));
    ASSERT_EQ_INT(rep, 0);
    ASSERT_EQ_INT(reads(&e), before); /* new: no lookup */
    hg_wallet_filter_stats_t st;
    hg_wallets_filter_stats(e.w, &st);
    ASSERT_EQ_INT(st.skipped, 1);
    ASSERT_TRUE(st.bytes > 0);
    /* forgotten by memory: the filter says "maybe", the store answers */
    hg_clock_advance(&e.clock, 61000);
    hg_wallets_tick(e.w, 100);
    ASSERT_OK(buy(&e, 1, "gem", 1, "k1", &rep, &b));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(a, b));
    ASSERT_TRUE(reads(&e) > before);
    json_decref(b);
    env_close(&e);
    /* after a restart the stored keys are read into the filters: k1 replays, once ready and
     * before (a purchase racing the read) */
    env_open(&e, 0);
    ASSERT_OK(buy(&e, 1, "gem", 1, "k2", &rep, NULL)); /* while the filters are being read */
    ASSERT_EQ_INT(rep, 0);
    filters_ready(&e);
    ASSERT_OK(buy(&e, 1, "gem", 1, "k1", &rep, &b));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_TRUE(json_equal(a, b));
    json_decref(b);
    hg_clock_advance(&e.clock, 61000);
    hg_wallets_tick(e.w, 100);
    ASSERT_OK(buy(&e, 1, "gem", 1, "k2", &rep, NULL));
    ASSERT_EQ_INT(rep, 1);
    ASSERT_EQ_INT(balance(&e, 1, "gold"), 98);
    hg_wallets_filter_stats(e.w, &st);
    ASSERT_EQ_INT(st.skipped, 0);
    json_decref(a);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

static char *wallet_text(env_t *e, int player)
{
    hg_buf_t out;
    hg_buf_init(&out);
    hg_wallet_write(e->w, pid(player), &out);
    char *t = hg_strndup(out.data, out.len);
    hg_buf_free(&out);
    return t;
}

static void on_rows(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)rows, (void)n, (void)more;
    *(int *)ud = rc < 0 ? rc : 1;
}

/* Wait until the journal is folded: a scan of a history collection runs only then. */
static void folded(env_t *e)
{
    int done = 0;
    hg_store_scan(e->store, "wallet/00", "", NULL, 1, 0, on_rows, &done);
    while (!done)
        uv_run(&e->loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(done, 1);
}

#define NW 16

HG_TEST(a_partition_is_dropped_and_loaded_alone)
{
    env_t e;
    env_open(&e, 1);
    put_item(&e, "sword", "{\"price\": {\"gold\": 30}, \"stackable\": true}");
    int part[NW], replayed;
    char *before[NW];
    for (int i = 0; i < NW; i++) {
        char rc[16], key[16];
        snprintf(rc, sizeof(rc), "r%d", i);
        snprintf(key, sizeof(key), "k%d", i);
        ASSERT_OK(credit(&e, i, "gold", 100 + i, rc, &replayed, NULL));
        ASSERT_OK(buy(&e, i, "sword", 1 + i % 3, key, &replayed, NULL));
        part[i] = HG_PARTITION_P0 + (int)hg_player_partition(pid(i));
        before[i] = wallet_text(&e, i);
    }
    int p = part[0], in_p = 0;
    for (int i = 0; i < NW; i++)
        in_p += part[i] == p;
    ASSERT_TRUE(in_p < NW);
    /* a purchase of p decided in memory whose transaction commits only after the drop */
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_buf_t out;
    hg_buf_init(&out);
    hg_error_t err;
    result_t r = {0};
    hg_wallet_purchase(e.w, pid(0), "sword", 1, "late", t, &out, &replayed, &err, on_done, &r);
    while (!r.done)
        uv_run(&e.loop, UV_RUN_ONCE);
    ASSERT_OK(r.rc);
    hg_buf_free(&out);

    filters_ready(&e);
    ASSERT_OK(hg_wallets_drop_partition(e.w, p));
    hg_wallet_filter_stats_t fs;
    hg_wallets_filter_stats(e.w, &fs);
    ASSERT_EQ_INT(fs.ready, 63); /* its key filter went with it */
    hg_test_commit(&e.loop, t);  /* its hook frees what the drop left to it */
    char *empty = wallet_text(&e, 9999);
    for (int i = 0; i < NW; i++) {
        char *now = wallet_text(&e, i);
        if (part[i] == p) { /* as for a player it never saw */
            ASSERT_EQ_INT(balance(&e, i, "gold"), 0);
            ASSERT_EQ_INT(owned(&e, i, "sword"), 0);
            ASSERT_STR_EQ(strstr(now, "\"balances\""), strstr(empty, "\"balances\""));
        } else {
            ASSERT_STR_EQ(now, before[i]);
        }
        hg_free(now);
    }
    hg_free(empty);
    ASSERT_EQ_INT(hg_wallets_drop_partition(e.w, HG_PARTITION_LB0), HG_EINVAL);
    hg_wallets_tick(e.w, 1000); /* nothing of p left to forget */

    folded(&e); /* a partition's load reads history as folded (wallet.h) */
    ASSERT_OK(hg_wallets_load_partition(e.w, p, &err));
    ASSERT_EQ_INT(balance(&e, 0, "gold"), 100 - 30 * 2); /* with the late purchase */
    ASSERT_EQ_INT(owned(&e, 0, "sword"), 2);
    for (int i = 1; i < NW; i++) {
        char *now = wallet_text(&e, i);
        ASSERT_STR_EQ(now, before[i]);
        hg_free(now);
    }
    /* its key filter is read again; their keys replay from the store, charging nothing */
    filters_ready(&e);
    ASSERT_OK(buy(&e, 0, "sword", 1, "late", &replayed, NULL));
    ASSERT_EQ_INT(replayed, 1);
    for (int i = 0; i < NW; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        ASSERT_OK(buy(&e, i, "sword", 1 + i % 3, key, &replayed, NULL));
        ASSERT_EQ_INT(replayed, 1);
        hg_free(before[i]);
    }
    ASSERT_EQ_INT(balance(&e, 0, "gold"), 40);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_SUITE(wallet) = {HG_CASE(purchases_charge_every_currency_and_errors_change_nothing),
                    HG_CASE(keys_and_receipts_replay_from_memory_then_from_the_store),
                    HG_CASE(memory_forgets_only_what_is_durable_and_old),
                    HG_CASE(key_filters_skip_the_store_for_new_keys_and_keep_old_ones),
                    HG_CASE(a_partition_is_dropped_and_loaded_alone),
                    HG_CASE_END};
