/* Unit tests: FleetIQ state machines (claims, health, deletion) on the injected clock, with the
 * real SQLite store underneath so durability and reload are checked too. */
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "fleetiq/fleetiq.h"
#include "rt/clock.h"
#include "store/partition.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_fleetiq_t *fq;
    char dir[64];
} env_t;

static const int64_t T0 = 1700000000000LL;

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-fq-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    hg_fq_config_t cfg = {.health_window_ms = 180000,
                          .deregister_after_ms = 60000,
                          .region = "us-east-1",
                          .account = "000000000000"};
    e->fq = hg_fleetiq_new(&e->clock, e->store, &cfg);
    ASSERT_OK(hg_fleetiq_load(e->fq));
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_fleetiq_free(e->fq);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop)); /* nothing left open */
}

/* Close and remove the data directory. */
static void env_done(env_t *e)
{
    env_close(e);
    hg_test_rmtree(e->dir);
}

static void commit(env_t *e, hg_store_txn_t *t)
{
    hg_test_commit(&e->loop, t);
}

static hg_fq_group_t *mkgroup(env_t *e, const char *name)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fq_group_t *g = NULL;
    hg_error_t err;
    ASSERT_OK(hg_fq_group_create(e->fq, name, json_object(), t, &g, &err));
    commit(e, t);
    return g;
}

static hg_fq_server_t *reg(env_t *e, hg_fq_group_t *g, const char *id)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fq_server_t *s = NULL;
    hg_error_t err;
    ASSERT_OK(hg_fq_server_register(e->fq, g, id, "i-0123456789abcdef0", "10.0.0.1:7000", NULL, t,
                                    &s, &err));
    commit(e, t);
    return s;
}

static int claim(env_t *e, hg_fq_group_t *g, const char *id, hg_fq_server_t **out)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_error_t err;
    hg_fq_server_t *s = NULL;
    int rc = hg_fq_server_claim(e->fq, g, id, NULL, t, &s, &err);
    commit(e, t);
    if (out)
        *out = s;
    return rc;
}

static int update(env_t *e, hg_fq_server_t *s, int util, int health)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_error_t err;
    int rc = hg_fq_server_update(e->fq, s, NULL, util, health, t, &err);
    commit(e, t);
    return rc;
}

HG_TEST(claim_takes_oldest_available_then_out_of_capacity)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    reg(&e, g, "gs-a");
    hg_clock_advance(&e.clock, 10);
    reg(&e, g, "gs-b");
    hg_fq_server_t *s;
    ASSERT_OK(claim(&e, g, NULL, &s));
    ASSERT_STR_EQ(s->id, "gs-a");
    ASSERT_TRUE(hg_fq_server_claimed(e.fq, s));
    ASSERT_OK(claim(&e, g, NULL, &s));
    ASSERT_STR_EQ(s->id, "gs-b");
    ASSERT_EQ_INT(claim(&e, g, NULL, NULL), HG_EOUTOFCAPACITY);
    env_done(&e);
}

HG_TEST(claim_lapses_after_60s_unless_utilized)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    hg_fq_server_t *b = reg(&e, g, "gs-b");
    ASSERT_OK(claim(&e, g, "gs-a", NULL));
    ASSERT_OK(claim(&e, g, "gs-b", NULL));
    ASSERT_OK(update(&e, b, 1, 0)); /* b: UTILIZED, keeps its claim */
    hg_clock_advance(&e.clock, HG_FQ_CLAIM_HOLD_MS - 1);
    ASSERT_TRUE(hg_fq_server_claimed(e.fq, a));
    ASSERT_EQ_INT(claim(&e, g, NULL, NULL), HG_EOUTOFCAPACITY);
    hg_clock_advance(&e.clock, 1);
    ASSERT_FALSE(hg_fq_server_claimed(e.fq, a));
    ASSERT_TRUE(hg_fq_server_claimed(e.fq, b));
    hg_fq_server_t *s;
    ASSERT_OK(claim(&e, g, NULL, &s)); /* a is claimable again */
    ASSERT_STR_EQ(s->id, "gs-a");
    env_done(&e);
}

HG_TEST(specific_claim_conflicts)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    ASSERT_OK(claim(&e, g, "gs-a", NULL));
    ASSERT_EQ_INT(claim(&e, g, "gs-a", NULL), HG_ECONFLICT); /* claimed */
    ASSERT_OK(update(&e, a, 1, 0));
    hg_clock_advance(&e.clock, 2 * HG_FQ_CLAIM_HOLD_MS);
    ASSERT_EQ_INT(claim(&e, g, "gs-a", NULL), HG_ECONFLICT); /* utilized */
    ASSERT_EQ_INT(claim(&e, g, "nope", NULL), HG_ENOTFOUND);
    env_done(&e);
}

HG_TEST(utilized_never_returns_to_available)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    ASSERT_OK(update(&e, a, 0, 0)); /* AVAILABLE → AVAILABLE is fine */
    ASSERT_OK(update(&e, a, 1, 0));
    ASSERT_EQ_INT(update(&e, a, 0, 0), HG_EINVAL);
    ASSERT_TRUE(a->utilized);
    ASSERT_EQ_INT(g->nutilized, 1);
    env_done(&e);
}

HG_TEST(health_expires_then_deregistered)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    reg(&e, g, "gs-b");
    hg_clock_advance(&e.clock, 120000);
    ASSERT_OK(update(&e, a, -1, 1));   /* a reports at t=120 s, b never does */
    hg_clock_advance(&e.clock, 60001); /* t=180.001 s: b is past the 180 s window */
    ASSERT_TRUE(hg_fq_server_healthy(e.fq, a));
    hg_fq_server_t *s;
    ASSERT_OK(claim(&e, g, NULL, &s)); /* b is older but unhealthy: a is chosen */
    ASSERT_STR_EQ(s->id, "gs-a");
    ASSERT_EQ_INT(claim(&e, g, "gs-b", NULL), HG_ECONFLICT);
    ASSERT_EQ_INT(hg_fleetiq_sweep(e.fq, 100), 0); /* unhealthy, not yet deregistered */
    hg_clock_advance(&e.clock, 60000);             /* t=240.001 s: window + 60 s passed for b */
    ASSERT_EQ_INT(hg_fleetiq_sweep(e.fq, 100), 1);
    ASSERT_EQ_INT(g->nservers, 1);
    hg_error_t err;
    ASSERT_EQ_INT(hg_fq_server_get(e.fq, g, "gs-b", &s, &err), HG_ENOTFOUND);
    env_done(&e);
}

HG_TEST(state_survives_reload_and_health_window_restarts)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    reg(&e, g, "gs-b");
    ASSERT_OK(claim(&e, g, "gs-a", NULL));
    ASSERT_OK(update(&e, a, 1, 0));
    env_close(&e);

    hg_clock_advance(&e.clock, 500000); /* down for longer than the health window */
    env_open(&e, 0);
    hg_fq_group_t *g2 = hg_fq_group_find(e.fq, "g");
    ASSERT_NOT_NULL(g2);
    hg_fq_group_t *byarn =
        hg_fq_group_find(e.fq, "arn:aws:gamelift:us-east-1:000000000000:gameservergroup/g");
    ASSERT_TRUE(byarn == g2);
    ASSERT_EQ_INT(g2->nservers, 2);
    ASSERT_EQ_INT(g2->nutilized, 1);
    hg_error_t err;
    hg_fq_server_t *s;
    ASSERT_OK(hg_fq_server_get(e.fq, g2, "gs-a", &s, &err));
    ASSERT_TRUE(s->utilized);
    ASSERT_TRUE(hg_fq_server_claimed(e.fq, s));
    ASSERT_STR_EQ(s->conn_info, "10.0.0.1:7000");
    ASSERT_TRUE(hg_fq_server_healthy(e.fq, s)); /* the restart does not count against it */
    ASSERT_EQ_INT(hg_fleetiq_sweep(e.fq, 100), 0);
    ASSERT_OK(claim(&e, g2, NULL, &s));
    ASSERT_STR_EQ(s->id, "gs-b");
    env_done(&e);
}

typedef struct keys {
    char key[4][64];
    json_t *value[4];
    int n;
} keys_t;

static int collect_key(void *ud, const char *key, json_t *v)
{
    keys_t *k = ud;
    ASSERT_TRUE(k->n < 4);
    snprintf(k->key[k->n], sizeof(k->key[0]), "%s", key);
    k->value[k->n++] = json_incref(v);
    return 0;
}

static void keys_free(keys_t *k)
{
    for (int i = 0; i < k->n; i++)
        json_decref(k->value[i]);
    k->n = 0;
}

/* A server's key starts with its group (the partition map reads the group from it); one stored
 * by id alone, before that, is rewritten when loaded. */
HG_TEST(servers_are_keyed_by_group_and_old_keys_are_rewritten_at_load)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    reg(&e, g, "gs-a");
    keys_t k = {0};
    ASSERT_OK(hg_store_load(e.store, "fleetiq.servers", collect_key, &k));
    ASSERT_EQ_INT(k.n, 1);
    ASSERT_STR_EQ(k.key[0], "g/gs-a");
    /* as an older hangard stored it */
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_store_del(t, "fleetiq.servers", "g/gs-a");
    hg_store_put(t, "fleetiq.servers", "gs-a", k.value[0]);
    commit(&e, t);
    keys_free(&k);
    env_close(&e);
    env_open(&e, 0);
    hg_error_t err;
    hg_fq_server_t *srv;
    ASSERT_OK(hg_fq_server_get(e.fq, hg_fq_group_find(e.fq, "g"), "gs-a", &srv, &err));
    ASSERT_OK(claim(&e, hg_fq_group_find(e.fq, "g"), "gs-a", NULL)); /* after the rewrite */
    ASSERT_OK(hg_store_load(e.store, "fleetiq.servers", collect_key, &k));
    ASSERT_EQ_INT(k.n, 1);
    ASSERT_STR_EQ(k.key[0], "g/gs-a");
    keys_free(&k);
    /* and a deregistration deletes it under that key */
    t = hg_store_txn_new(e.store);
    hg_fq_server_deregister(e.fq, srv, t);
    commit(&e, t);
    ASSERT_OK(hg_store_load(e.store, "fleetiq.servers", collect_key, &k));
    ASSERT_EQ_INT(k.n, 0);
    env_done(&e);
}

HG_TEST(duplicate_ids_conflict_across_groups)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    hg_fq_group_t *h = mkgroup(&e, "h");
    reg(&e, g, "gs-a");
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fq_server_t *s;
    hg_error_t err;
    ASSERT_EQ_INT(
        hg_fq_server_register(e.fq, h, "gs-a", "i-0123456789abcdef0", NULL, NULL, t, &s, &err),
        HG_ECONFLICT);
    hg_fq_group_t *dup;
    ASSERT_EQ_INT(hg_fq_group_create(e.fq, "g", json_object(), t, &dup, &err), HG_ECONFLICT);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(safe_delete_waits_for_utilized_force_does_not)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "safe");
    hg_fq_server_t *a = reg(&e, g, "gs-a");
    ASSERT_OK(update(&e, a, 1, 0));
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_error_t err;
    ASSERT_OK(hg_fq_group_delete(e.fq, g, HG_FQ_SAFE_DELETE, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(g->status, HG_FQ_DELETE_SCHEDULED);
    hg_fq_server_t *s;
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(
        hg_fq_server_register(e.fq, g, "gs-new", "i-0123456789abcdef0", NULL, NULL, t, &s, &err),
        HG_EINVAL);
    ASSERT_EQ_INT(hg_fq_group_delete(e.fq, g, HG_FQ_FORCE_DELETE, t, &err), HG_EINVAL);
    commit(&e, t);
    hg_fleetiq_sweep(e.fq, 100);
    ASSERT_NOT_NULL(hg_fq_group_find(e.fq, "safe")); /* a UTILIZED server holds it */
    t = hg_store_txn_new(e.store);
    hg_fq_server_deregister(e.fq, a, t);
    commit(&e, t);
    hg_fleetiq_sweep(e.fq, 100);
    ASSERT_NULL(hg_fq_group_find(e.fq, "safe"));

    hg_fq_group_t *f = mkgroup(&e, "force");
    hg_fq_server_t *b = reg(&e, f, "gs-b");
    ASSERT_OK(update(&e, b, 1, 0));
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fq_group_delete(e.fq, f, HG_FQ_FORCE_DELETE, t, &err));
    commit(&e, t);
    hg_fleetiq_sweep(e.fq, 100);
    ASSERT_NULL(hg_fq_group_find(e.fq, "force"));
    env_close(&e);
    /* and the deletions are durable */
    env_open(&e, 0);
    ASSERT_NULL(hg_fq_group_find(e.fq, "safe"));
    ASSERT_NULL(hg_fq_group_find(e.fq, "force"));
    env_done(&e);
}

HG_TEST(list_pages_in_registration_order)
{
    env_t e;
    env_open(&e, 1);
    hg_fq_group_t *g = mkgroup(&e, "g");
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "gs-%d", i);
        reg(&e, g, id);
    }
    hg_fq_server_t *page[2];
    int more;
    size_t n = hg_fq_server_list(e.fq, g, 0, 0, 2, page, &more);
    ASSERT_EQ_INT(n, 2);
    ASSERT_TRUE(more);
    ASSERT_STR_EQ(page[1]->id, "gs-1");
    n = hg_fq_server_list(e.fq, g, 0, page[1]->seq, 2, page, &more);
    ASSERT_STR_EQ(page[0]->id, "gs-2");
    n = hg_fq_server_list(e.fq, g, 0, page[1]->seq, 2, page, &more);
    ASSERT_EQ_INT(n, 1);
    ASSERT_FALSE(more);
    ASSERT_STR_EQ(page[0]->id, "gs-4");
    n = hg_fq_server_list(e.fq, g, 1, 0, 2, page, &more);
    ASSERT_STR_EQ(page[0]->id, "gs-4");
    ASSERT_STR_EQ(page[1]->id, "gs-3");
    env_done(&e);
}

/* What the module answers about a group and its servers, as text. */
static void group_text(hg_fleetiq_t *fq, const char *name, char *out, size_t cap)
{
    hg_fq_group_t *g = hg_fq_group_find(fq, name);
    size_t n = (size_t)snprintf(out, cap, "%s %s %s %d %zu %zu %lld;", g->name, g->arn,
                                hg_fq_group_status_name(g->status), g->suspended, g->nservers,
                                g->nutilized, (long long)g->created_ms);
    hg_fq_server_t *list[8];
    int more;
    size_t k = hg_fq_server_list(fq, g, 0, 0, 8, list, &more);
    for (size_t i = 0; i < k && n < cap; i++) {
        hg_fq_server_t *s = list[i];
        n += (size_t)snprintf(out + n, cap - n, " %s %s %s %s %d %lld %lld %llu", s->id,
                              s->instance_id, s->conn_info, s->data ? s->data : "-", s->utilized,
                              (long long)s->claim_ms, (long long)s->registered_ms,
                              (unsigned long long)s->seq);
    }
}

static int registered;
static void count_registered(void *ud, hg_store_txn_t *txn, hg_fq_event_t ev,
                             const hg_fq_server_t *s)
{
    (void)ud, (void)s;
    if (txn == NULL) /* a load (the sweep's deregistrations have theirs) */
        registered += ev == HG_FQ_EV_REGISTERED ? 1 : 1000;
}

#define NG 8

HG_TEST(a_partition_is_dropped_and_loaded_alone)
{
    env_t e;
    env_open(&e, 1);
    char names[NG][16], before[NG][1024];
    int part[NG];
    for (int i = 0; i < NG; i++) {
        snprintf(names[i], sizeof(names[i]), "grp-%d", i);
        part[i] = hg_partition_of("fleetiq.groups", names[i]);
        hg_fq_group_t *g = mkgroup(&e, names[i]);
        char id[16];
        snprintf(id, sizeof(id), "gs-%d-a", i);
        reg(&e, g, id);
        hg_clock_advance(&e.clock, 10);
        snprintf(id, sizeof(id), "gs-%d-b", i);
        hg_fq_server_t *b = reg(&e, g, id);
        if (i % 2 == 0)
            ASSERT_OK(claim(&e, g, NULL, NULL));
        if (i % 3 == 0)
            ASSERT_OK(update(&e, b, 1, 1));
    }
    for (int i = 0; i < NG; i++)
        group_text(e.fq, names[i], before[i], sizeof(before[i]));
    int p = part[0], in_p = 0;
    for (int i = 0; i < NG; i++)
        in_p += part[i] == p;
    ASSERT_TRUE(in_p < NG);
    hg_fleetiq_set_observer(e.fq, count_registered, NULL);

    ASSERT_OK(hg_fleetiq_drop_partition(e.fq, p));
    ASSERT_EQ_INT(registered, 0);
    hg_fq_stats_t st;
    hg_fleetiq_stats(e.fq, &st);
    ASSERT_EQ_INT(st.groups, NG - in_p);
    ASSERT_EQ_INT(st.servers, 2 * (NG - in_p));
    for (int i = 0; i < NG; i++) {
        if (part[i] == p) {
            ASSERT_NULL(hg_fq_group_find(e.fq, names[i]));
            continue;
        }
        char now[1024];
        group_text(e.fq, names[i], now, sizeof(now));
        ASSERT_STR_EQ(now, before[i]);
    }
    ASSERT_EQ_INT(hg_fleetiq_drop_partition(e.fq, HG_PARTITION_CONTROL), HG_EINVAL);
    /* no health report from anyone: the sweep deregisters the others' servers, not p's */
    hg_clock_advance(&e.clock, 180000 + 60000 + 1);
    ASSERT_EQ_INT(hg_fleetiq_sweep(e.fq, 1000), 2 * (NG - in_p));

    hg_error_t err;
    ASSERT_OK(hg_fleetiq_load_partition(e.fq, p, &err));
    ASSERT_EQ_INT(registered, 2 * in_p);
    for (int i = 0; i < NG; i++) {
        if (part[i] != p) {
            ASSERT_EQ_INT(hg_fq_group_find(e.fq, names[i])->nservers, 0);
            continue;
        }
        char now[1024];
        group_text(e.fq, names[i], now, sizeof(now));
        ASSERT_STR_EQ(now, before[i]);
        hg_fq_server_t *s;
        char id[16];
        snprintf(id, sizeof(id), "gs-%d-a", i);
        ASSERT_OK(hg_fq_server_get(e.fq, hg_fq_group_find(e.fq, names[i]), id, &s, &err));
        ASSERT_TRUE(hg_fq_server_healthy(e.fq, s)); /* its window restarted at the load */
    }
    /* and they are swept in their turn */
    hg_clock_advance(&e.clock, 180000 + 60000 + 1);
    ASSERT_EQ_INT(hg_fleetiq_sweep(e.fq, 1000), 2 * in_p);
    env_done(&e);
}

HG_SUITE(fleetiq) = {
    HG_CASE(claim_takes_oldest_available_then_out_of_capacity),
    HG_CASE(claim_lapses_after_60s_unless_utilized),
    HG_CASE(specific_claim_conflicts),
    HG_CASE(utilized_never_returns_to_available),
    HG_CASE(health_expires_then_deregistered),
    HG_CASE(state_survives_reload_and_health_window_restarts),
    HG_CASE(servers_are_keyed_by_group_and_old_keys_are_rewritten_at_load),
    HG_CASE(duplicate_ids_conflict_across_groups),
    HG_CASE(safe_delete_waits_for_utilized_force_does_not),
    HG_CASE(list_pages_in_registration_order),
    HG_CASE(a_partition_is_dropped_and_loaded_alone),
    HG_CASE_END,
};
