/* Unit tests: leaderboards (rank/board.h) on the manual clock with the real store — operators,
 * orders and ties, idempotency, limits, reset schedules in time zones (cron, daily, weekly,
 * monthly), the previous period and the purge of older ones, and everything after a reload. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "rank/board.h"
#include "store/partition.h"
#include "test.h"
#include "test_util.h"

/* 2027-03-10T10:00:00Z, a Wednesday */
#define T0 1804672800000LL
#define MINUTE 60000LL
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

typedef struct env {
    char dir[64];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_lbs_t *l;
} env_t;

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-lb-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->l = hg_lbs_new(e->store, &e->clock);
    ASSERT_OK(hg_lbs_load(e->l, &err));
}

static void env_close(env_t *e)
{
    hg_test_commit(&e->loop, hg_store_txn_new(e->store)); /* what ticks committed */
    hg_store_close(e->store);
    hg_lbs_free(e->l);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static hg_lb_t *board(env_t *e, const char *id, hg_rankset_order_t order, hg_lb_op_t op,
                      const char *reset, const char *tz)
{
    hg_lb_config_t cfg = {.id = id, .order = order, .op = op, .reset = reset, .time_zone = tz};
    hg_lb_t *b;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_lb_create(e->l, &cfg, t, &b, &err));
    hg_test_commit(&e->loop, t);
    return b;
}

static const char *pid(int i)
{
    static char buf[8][40];
    char *p = buf[i & 7];
    snprintf(p, 40, "00000000-0000-8000-8000-%012d", i);
    return p;
}

/* Submit; returns the answer as JSON (new reference). */
static json_t *submit(env_t *e, hg_lb_t *b, int player, int64_t score, int64_t sub, const char *md,
                      const char *key, int *replayed, int expect)
{
    hg_lb_submit_t s = {
        .player_id = pid(player), .score = score, .subscore = sub, .metadata = md, .idem_key = key};
    hg_buf_t out;
    hg_buf_init(&out);
    hg_error_t err;
    int rep = 0;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_EQ_INT(hg_lb_submit(e->l, b, &s, t, &out, &rep, &err), expect);
    hg_test_commit(&e->loop, t);
    if (replayed)
        *replayed = rep;
    json_t *j = expect == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    hg_buf_free(&out);
    return j;
}

static int64_t score_of(json_t *j)
{
    return json_integer_value(json_object_get(j, "score"));
}

/* rank 1..n's players, as a string "3,1,2". */
static void order(hg_lb_t *b, int previous, char *out, size_t cap)
{
    hg_lb_view_t v;
    hg_error_t err;
    ASSERT_OK(hg_lb_view(b, previous, &v, &err));
    out[0] = '\0';
    size_t n = hg_lb_count(&v);
    for (size_t r = 1; r <= n; r++) {
        hg_rankset_entry_t *en = hg_rankset_at(v.set, r);
        char id[40];
        hg_rankset_id_format(en->id, id);
        char num[16];
        snprintf(num, sizeof(num), "%s%d", r > 1 ? "," : "", atoi(id + 24));
        strncat(out, num, cap - strlen(out) - 1);
    }
}

HG_TEST(operators_orders_and_ties)
{
    env_t e;
    env_open(&e, 1);
    char got[256];
    hg_lb_t *best = board(&e, "best", HG_RANKSET_DESC, HG_LB_BEST, NULL, NULL);
    json_decref(submit(&e, best, 1, 100, 0, NULL, NULL, NULL, 0));
    json_t *j = submit(&e, best, 1, 90, 0, NULL, NULL, NULL, 0); /* no improvement */
    ASSERT_EQ_INT(score_of(j), 100);
    ASSERT_TRUE(json_is_false(json_object_get(j, "changed")));
    json_decref(j);
    j = submit(&e, best, 1, 100, 5, NULL, NULL, NULL, 0); /* a better subscore is better */
    ASSERT_TRUE(json_is_true(json_object_get(j, "changed")));
    json_decref(j);
    /* ties: subscore, then who reached the score first */
    json_decref(submit(&e, best, 2, 100, 5, NULL, NULL, NULL, 0));
    json_decref(submit(&e, best, 3, 100, 9, NULL, NULL, NULL, 0));
    json_decref(submit(&e, best, 4, 50, 0, NULL, NULL, NULL, 0));
    order(best, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "3,1,2,4");

    hg_lb_t *asc = board(&e, "asc", HG_RANKSET_ASC, HG_LB_BEST, NULL, NULL);
    json_decref(submit(&e, asc, 1, 30, 0, NULL, NULL, NULL, 0));
    json_decref(submit(&e, asc, 2, 20, 0, NULL, NULL, NULL, 0));
    j = submit(&e, asc, 1, 25, 0, NULL, NULL, NULL, 0); /* lower is better on asc */
    ASSERT_EQ_INT(score_of(j), 25);
    json_decref(j);
    json_decref(submit(&e, asc, 3, 20, -1, NULL, NULL, NULL, 0)); /* lower subscore first */
    order(asc, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "3,2,1");

    hg_lb_t *set = board(&e, "set", HG_RANKSET_DESC, HG_LB_SET, NULL, NULL);
    json_decref(submit(&e, set, 1, 100, 0, "{\"a\":1}", NULL, NULL, 0));
    j = submit(&e, set, 1, 7, 0, NULL, NULL, NULL, 0);
    ASSERT_EQ_INT(score_of(j), 7);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "metadata"), "a")), 1);
    json_decref(j);

    hg_lb_t *incr = board(&e, "incr", HG_RANKSET_DESC, HG_LB_INCR, NULL, NULL);
    json_decref(submit(&e, incr, 1, 5, 1, NULL, NULL, NULL, 0));
    j = submit(&e, incr, 1, 7, 1, NULL, NULL, NULL, 0);
    ASSERT_EQ_INT(score_of(j), 12);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "subscore")), 2);
    json_decref(j);
    submit(&e, incr, 1, INT64_MAX, 0, NULL, NULL, NULL, HG_EINVAL); /* outside int64 */

    hg_lb_t *decr = board(&e, "decr", HG_RANKSET_DESC, HG_LB_DECR, NULL, NULL);
    j = submit(&e, decr, 1, 5, 0, NULL, NULL, NULL, 0);
    ASSERT_EQ_INT(score_of(j), -5);
    json_decref(j);
    j = submit(&e, decr, 1, 5, 0, NULL, NULL, NULL, 0);
    ASSERT_EQ_INT(score_of(j), -10);
    json_decref(j);
    submit(&e, decr, 2, INT64_MIN, 0, NULL, NULL, NULL, HG_EINVAL);

    /* the extremes of int64 order as numbers */
    hg_lb_t *ext = board(&e, "ext", HG_RANKSET_DESC, HG_LB_SET, NULL, NULL);
    json_decref(submit(&e, ext, 1, INT64_MIN, 0, NULL, NULL, NULL, 0));
    json_decref(submit(&e, ext, 2, INT64_MAX, 0, NULL, NULL, NULL, 0));
    json_decref(submit(&e, ext, 3, 0, 0, NULL, NULL, NULL, 0));
    order(ext, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "2,3,1");

    /* everything is back after a reload */
    env_close(&e);
    env_open(&e, 0);
    order(hg_lb_find(e.l, "best"), 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "3,1,2,4");
    order(hg_lb_find(e.l, "asc"), 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "3,2,1");
    /* ties still go to who came first, also for submits after the reload */
    json_decref(submit(&e, hg_lb_find(e.l, "best"), 5, 100, 9, NULL, NULL, NULL, 0));
    order(hg_lb_find(e.l, "best"), 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "3,5,1,2,4");
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(idempotency_and_limits)
{
    env_t e;
    env_open(&e, 1);
    hg_lb_t *b = board(&e, "idem", HG_RANKSET_DESC, HG_LB_INCR, NULL, NULL);
    int rep;
    json_t *first = submit(&e, b, 1, 10, 0, NULL, "round-1", &rep, 0);
    ASSERT_TRUE(!rep);
    json_decref(submit(&e, b, 1, 5, 0, NULL, "round-2", &rep, 0));
    json_t *again = submit(&e, b, 1, 10, 0, NULL, "round-1", &rep, 0);
    ASSERT_TRUE(rep); /* the first answer, not re-applied: 15, not 25 */
    ASSERT_EQ_INT(score_of(again), 10);
    ASSERT_TRUE(json_equal(first, again));
    json_decref(again);
    /* another player may use the same key */
    json_t *other = submit(&e, b, 2, 1, 0, NULL, "round-1", &rep, 0);
    ASSERT_TRUE(!rep);
    json_decref(other);
    env_close(&e);
    env_open(&e, 0); /* kept across a restart */
    b = hg_lb_find(e.l, "idem");
    again = submit(&e, b, 1, 10, 0, NULL, "round-1", &rep, 0);
    ASSERT_TRUE(rep && json_equal(first, again));
    json_decref(again);
    /* and forgotten after a day */
    hg_clock_advance(&e.clock, HG_LB_IDEM_TTL_MS);
    hg_lbs_tick(e.l, 100);
    again = submit(&e, b, 1, 10, 0, NULL, "round-1", &rep, 0);
    ASSERT_TRUE(!rep);
    ASSERT_EQ_INT(score_of(again), 25);
    json_decref(again);
    json_decref(first);
    /* limits: max_entries, metadata size, bad ids and keys, bad configurations */
    hg_lb_config_t cfg = {.id = "small",
                          .order = HG_RANKSET_DESC,
                          .op = HG_LB_SET,
                          .max_entries = 2,
                          .metadata_max = 8};
    hg_lb_t *s;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_lb_create(e.l, &cfg, t, &s, &err));
    ASSERT_EQ_INT(hg_lb_create(e.l, &cfg, t, &s, &err), HG_ECONFLICT);
    hg_lb_config_t bad = cfg;
    bad.id = "no spaces";
    ASSERT_EQ_INT(hg_lb_create(e.l, &bad, t, &s, &err), HG_EINVAL);
    bad = cfg, bad.id = "b2", bad.reset = "61 * * * *";
    ASSERT_EQ_INT(hg_lb_create(e.l, &bad, t, &s, &err), HG_EINVAL);
    bad.reset = "0 0 30 2 *"; /* February 30th never comes */
    ASSERT_EQ_INT(hg_lb_create(e.l, &bad, t, &s, &err), HG_EINVAL);
    bad.reset = "daily", bad.time_zone = "Mars/Olympus";
    ASSERT_EQ_INT(hg_lb_create(e.l, &bad, t, &s, &err), HG_EINVAL);
    bad.time_zone = "../../etc/passwd";
    ASSERT_EQ_INT(hg_lb_create(e.l, &bad, t, &s, &err), HG_EINVAL);
    hg_test_commit(&e.loop, t);
    json_decref(submit(&e, s, 1, 1, 0, "[1,2]", NULL, NULL, 0));
    json_decref(submit(&e, s, 2, 1, 0, NULL, NULL, NULL, 0));
    submit(&e, s, 3, 1, 0, NULL, NULL, NULL, HG_ELIMIT);
    json_decref(submit(&e, s, 2, 9, 0, NULL, NULL, NULL, 0)); /* a known player still may */
    submit(&e, s, 1, 1, 0, "[1,2,3,4]", NULL, NULL, HG_EINVAL);
    hg_lb_submit_t sub = {.player_id = "not-a-uuid", .score = 1};
    hg_buf_t out;
    hg_buf_init(&out);
    int r;
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_lb_submit(e.l, s, &sub, t, &out, &r, &err), HG_EINVAL);
    sub.player_id = pid(1), sub.idem_key = "has space";
    ASSERT_EQ_INT(hg_lb_submit(e.l, s, &sub, t, &out, &r, &err), HG_EINVAL);
    hg_store_txn_free(t);
    hg_buf_free(&out);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

static int64_t field_ms(hg_lb_t *b, const char *name)
{
    json_t *j = hg_lb_json(b);
    int64_t v = (int64_t)(json_real_value(json_object_get(j, name)) * 1000.0 + 0.5);
    json_decref(j);
    return v;
}

HG_TEST(reset_schedules_in_time_zones)
{
    env_t e;
    env_open(&e, 1);
    /* T0 is Wednesday 2027-03-10 10:00 UTC = 19:00 in Seoul (UTC+9, no DST) */
    hg_lb_t *d = board(&e, "daily-utc", HG_RANKSET_DESC, HG_LB_BEST, "daily", NULL);
    ASSERT_EQ_INT(field_ms(d, "period_start"), T0 - 10 * HOUR);
    ASSERT_EQ_INT(field_ms(d, "next_reset"), T0 + 14 * HOUR);
    hg_lb_t *s = board(&e, "daily-seoul", HG_RANKSET_DESC, HG_LB_BEST, "daily", "Asia/Seoul");
    ASSERT_EQ_INT(field_ms(s, "next_reset"), T0 + 5 * HOUR); /* Seoul midnight = 15:00 UTC */
    hg_lb_t *w = board(&e, "weekly", HG_RANKSET_DESC, HG_LB_BEST, "weekly", NULL);
    ASSERT_EQ_INT(field_ms(w, "period_start"), T0 - 2 * DAY - 10 * HOUR); /* Monday 8th */
    ASSERT_EQ_INT(field_ms(w, "next_reset"), T0 + 5 * DAY - 10 * HOUR);
    hg_lb_t *m = board(&e, "monthly", HG_RANKSET_DESC, HG_LB_BEST, "monthly", NULL);
    ASSERT_EQ_INT(field_ms(m, "next_reset"), T0 + 22 * DAY - 10 * HOUR); /* April 1st */
    /* New York: DST begins Sunday 2027-03-14; 6:30 local every day */
    hg_lb_t *ny = board(&e, "ny", HG_RANKSET_DESC, HG_LB_BEST, "30 6 * * *", "America/New_York");
    ASSERT_EQ_INT(field_ms(ny, "next_reset"), T0 + 1 * HOUR + 30 * MINUTE); /* 05:00 EST now */
    hg_lb_t *q = board(&e, "quarter-hours", HG_RANKSET_DESC, HG_LB_BEST, "*/15 * * * *", NULL);
    ASSERT_EQ_INT(field_ms(q, "next_reset"), T0 + 15 * MINUTE);
    hg_lb_t *dow = board(&e, "fri-or-13th", HG_RANKSET_DESC, HG_LB_BEST, "0 12 13 * 5", NULL);
    ASSERT_EQ_INT(field_ms(dow, "next_reset"), T0 + 2 * DAY + 2 * HOUR); /* Friday 12th, noon */

    /* across New York's switch to daylight time (Sunday 14th, 2:00 → 3:00): 6:30 EDT is 10:30
     * UTC, an hour earlier than the days before */
    hg_clock_advance(&e.clock, 3 * DAY + 19 * HOUR); /* Sunday 14th, 05:00 UTC */
    hg_lb_t *ny2 =
        board(&e, "ny-dst", HG_RANKSET_DESC, HG_LB_BEST, "30 6 * * *", "America/New_York");
    ASSERT_EQ_INT(field_ms(ny2, "period_start"), T0 + 3 * DAY + 1 * HOUR + 30 * MINUTE); /* EST */
    ASSERT_EQ_INT(field_ms(ny2, "next_reset"), T0 + 4 * DAY + 30 * MINUTE);
    hg_clock_advance(&e.clock, -(3 * DAY + 19 * HOUR));

    /* the daily board in play: scores, the boundary, the previous period, a new one */
    json_decref(submit(&e, d, 1, 10, 0, NULL, NULL, NULL, 0));
    json_decref(submit(&e, d, 2, 20, 0, NULL, NULL, NULL, 0));
    hg_clock_advance(&e.clock, 14 * HOUR - 1);
    hg_lbs_tick(e.l, 100);
    char got[64];
    order(d, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "2,1");
    hg_clock_advance(&e.clock, 1);
    hg_lbs_tick(e.l, 100);
    order(d, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "");
    order(d, 1, got, sizeof(got));
    ASSERT_STR_EQ(got, "2,1");
    ASSERT_EQ_INT(field_ms(d, "period_start"), T0 + 14 * HOUR);
    json_decref(submit(&e, d, 3, 5, 0, NULL, NULL, NULL, 0));
    /* another day: the first period is purged, the second is the previous one */
    hg_clock_advance(&e.clock, DAY);
    hg_lbs_tick(e.l, 100);
    order(d, 1, got, sizeof(got));
    ASSERT_STR_EQ(got, "3");
    /* a restart two days later: the last period with scores is too old, both are empty */
    env_close(&e);
    hg_clock_advance(&e.clock, 2 * DAY);
    env_open(&e, 0);
    d = hg_lb_find(e.l, "daily-utc");
    order(d, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "");
    order(d, 1, got, sizeof(got));
    ASSERT_STR_EQ(got, "");
    json_decref(submit(&e, d, 4, 1, 0, NULL, NULL, NULL, 0));
    env_close(&e);
    /* a restart in the same period keeps it */
    env_open(&e, 0);
    d = hg_lb_find(e.l, "daily-utc");
    order(d, 0, got, sizeof(got));
    ASSERT_STR_EQ(got, "4");
    /* a board without a reset has no previous period */
    hg_lb_view_t v;
    hg_error_t err;
    hg_lb_t *plain = board(&e, "plain", HG_RANKSET_DESC, HG_LB_BEST, NULL, NULL);
    ASSERT_EQ_INT(hg_lb_view(plain, 1, &v, &err), HG_EINVAL);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(old_periods_and_deleted_boards_leave_no_records)
{
    env_t e;
    env_open(&e, 1);
    hg_lb_t *d = board(&e, "purged", HG_RANKSET_DESC, HG_LB_SET, "*/5 * * * *", NULL);
    for (int i = 0; i < 50; i++)
        json_decref(submit(&e, d, i, i, 0, NULL, NULL, NULL, 0));
    hg_clock_advance(&e.clock, 5 * MINUTE);
    hg_lbs_tick(e.l, 10);
    hg_clock_advance(&e.clock, 5 * MINUTE); /* the 50 entries are two periods old now */
    for (int i = 0; i < 10; i++)
        hg_lbs_tick(e.l, 10); /* purged 10 a tick */
    hg_lb_t *gone = board(&e, "gone", HG_RANKSET_DESC, HG_LB_SET, NULL, NULL);
    for (int i = 0; i < 20; i++)
        json_decref(submit(&e, gone, i, i, 0, NULL, "k", NULL, 0));
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_lb_delete(e.l, gone, t));
    hg_test_commit(&e.loop, t);
    for (int i = 0; i < 10; i++)
        hg_lbs_tick(e.l, 10);
    env_close(&e);
    /* nothing left of either in the store */
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "test \"$(sqlite3 %s/hangar.db \"SELECT count(*) FROM records WHERE coll LIKE "
             "'lb.e/%%' OR coll LIKE 'lb.i/%%'\")\" = 0",
             e.dir);
    ASSERT_EQ_INT(system(cmd), 0);
    env_open(&e, 0);
    ASSERT_NULL(hg_lb_find(e.l, "gone"));
    env_close(&e);
    hg_test_rmtree(e.dir);
}

/* What the module answers about a board: its JSON and both periods' orders. */
static char *board_text(hg_lb_t *b)
{
    char cur[512], prev[512] = "";
    order(b, 0, cur, sizeof(cur));
    hg_lb_view_t v;
    hg_error_t err;
    if (hg_lb_view(b, 1, &v, &err) == 0)
        order(b, 1, prev, sizeof(prev));
    json_t *j = hg_lb_json(b);
    json_object_set_new(j, "order_now", json_string(cur));
    json_object_set_new(j, "order_prev", json_string(prev));
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

#define NB 10

/* The current period of each stored board record ("board-<i>"). */
typedef struct stored {
    int64_t cur[NB];
    int n;
} stored_t;

static int stored_cur(void *ud, const char *key, json_t *v)
{
    stored_t *st = ud;
    int i = atoi(key + strlen("board-"));
    if (i >= 0 && i < NB) {
        st->cur[i] = json_integer_value(json_object_get(v, "cur"));
        st->n++;
    }
    return 0;
}

HG_TEST(a_partition_is_dropped_and_loaded_alone)
{
    env_t e;
    env_open(&e, 1);
    char ids[NB][16], *before[NB];
    int part[NB];
    for (int i = 0; i < NB; i++) {
        snprintf(ids[i], sizeof(ids[i]), "board-%d", i);
        part[i] = hg_partition_of("lb.boards", ids[i]);
        hg_lb_t *b = board(&e, ids[i], HG_RANKSET_DESC, HG_LB_BEST, "daily", NULL);
        for (int k = 0; k < 5; k++)
            json_decref(
                submit(&e, b, k, (k * 7 + i) % 11, k, NULL, k == 0 ? "key" : NULL, NULL, 0));
    }
    /* one day on: every board has a previous period too, and a current one */
    hg_clock_advance(&e.clock, DAY);
    hg_lbs_tick(e.l, 1000);
    for (int i = 0; i < NB; i++) {
        hg_lb_t *b = hg_lb_find(e.l, ids[i]);
        json_decref(submit(&e, b, 9, 100 + i, 0, NULL, "key2", NULL, 0));
        before[i] = board_text(b);
    }
    int p = part[0], in_p = 0;
    for (int i = 0; i < NB; i++)
        in_p += part[i] == p;
    ASSERT_TRUE(in_p < NB);

    ASSERT_OK(hg_lbs_drop_partition(e.l, p));
    for (int i = 0; i < NB; i++) {
        hg_lb_t *b = hg_lb_find(e.l, ids[i]);
        if (part[i] == p) {
            ASSERT_NULL(b);
            continue;
        }
        ASSERT_NOT_NULL(b);
        char *t = board_text(b);
        ASSERT_STR_EQ(t, before[i]);
        free(t);
    }
    ASSERT_EQ_INT(hg_lbs_drop_partition(e.l, HG_PARTITION_RM0), HG_EINVAL);
    hg_error_t err;
    ASSERT_OK(hg_lbs_load_partition(e.l, p, &err));
    for (int i = 0; i < NB; i++) {
        hg_lb_t *b = hg_lb_find(e.l, ids[i]);
        ASSERT_NOT_NULL(b);
        char *t = board_text(b);
        ASSERT_STR_EQ(t, before[i]);
        free(t);
    }
    /* the idempotency keys came back with the board */
    int replayed = 0;
    json_t *j = submit(&e, hg_lb_find(e.l, ids[0]), 9, 1, 0, NULL, "key2", &replayed, 0);
    ASSERT_EQ_INT(replayed, 1);
    ASSERT_EQ_INT(score_of(j), 100);
    json_decref(j);

    /* dropped, p's boards do not reset here (their records keep their period): the others do */
    int64_t cur0 = field_ms(hg_lb_find(e.l, ids[0]), "period_start");
    ASSERT_OK(hg_lbs_drop_partition(e.l, p));
    hg_clock_advance(&e.clock, DAY);
    hg_lbs_tick(e.l, 1000);
    hg_test_commit(&e.loop, hg_store_txn_new(e.store));
    stored_t st = {0};
    ASSERT_OK(hg_store_load(e.store, "lb.boards", stored_cur, &st));
    ASSERT_EQ_INT(st.n, NB);
    for (int i = 0; i < NB; i++) {
        if (part[i] == p)
            ASSERT_EQ_INT(st.cur[i], cur0);
        else
            ASSERT_EQ_INT(st.cur[i], cur0 + DAY);
    }
    ASSERT_OK(hg_lbs_load_partition(e.l, p, &err));
    for (int i = 0; i < NB; i++) { /* p's reset at the load, as after a restart */
        hg_lb_t *b = hg_lb_find(e.l, ids[i]);
        char now[512], prev[512];
        order(b, 0, now, sizeof(now));
        order(b, 1, prev, sizeof(prev));
        ASSERT_STR_EQ(now, "");
        json_t *was = json_loads(before[i], 0, NULL);
        ASSERT_STR_EQ(prev, json_string_value(json_object_get(was, "order_now")));
        json_decref(was);
        free(before[i]);
    }
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_SUITE(board) = {HG_CASE(operators_orders_and_ties),
                   HG_CASE(idempotency_and_limits),
                   HG_CASE(reset_schedules_in_time_zones),
                   HG_CASE(old_periods_and_deleted_boards_leave_no_records),
                   HG_CASE(a_partition_is_dropped_and_loaded_alone),
                   HG_CASE_END};
