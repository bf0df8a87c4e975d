/* Unit tests: the registry — ids, leases, health checks through a fake prober, pick fairness
 * and capacity, external entries, the observer's event sequence, reload — on the injected
 * clock with the real store underneath. */
#include <stdlib.h>
#include <uv.h>

#include "registry/registry.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

typedef struct seen {
    hg_reg_event_t ev[256];
    hg_reg_reason_t reason[256];
    char id[256][24];
    int n;
} seen_t;

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_registry_t *reg;
    seen_t seen;
    char probe_id_for[24];
    uint64_t probe_id;
    int probes;
    char dir[64];
} env_t;

static void observe(void *ud, hg_store_txn_t *txn, hg_reg_event_t ev, hg_reg_reason_t reason,
                    const hg_reg_server_t *s)
{
    env_t *e = ud;
    (void)txn;
    if (e->seen.n < 256) {
        e->seen.ev[e->seen.n] = ev;
        e->seen.reason[e->seen.n] = reason;
        snprintf(e->seen.id[e->seen.n], 24, "%s", s->id);
        e->seen.n++;
    }
}

static void probe(void *ud, const hg_reg_server_t *s, uint64_t id)
{
    env_t *e = ud;
    snprintf(e->probe_id_for, sizeof(e->probe_id_for), "%s", s->id);
    e->probe_id = id;
    e->probes++;
}

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        memset(e, 0, sizeof(*e));
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-reg-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, 1700000000000LL);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->reg = hg_registry_new(&e->clock, e->store);
    hg_registry_set_observer(e->reg, observe, e);
    hg_registry_set_prober(e->reg, probe, e);
    ASSERT_OK(hg_registry_load(e->reg));
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_registry_free(e->reg);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static void env_done(env_t *e)
{
    env_close(e);
    hg_test_rmtree(e->dir);
}

static void commit(env_t *e, hg_store_txn_t *t)
{
    hg_test_commit(&e->loop, t);
}

static hg_reg_server_t *announce(env_t *e, const char *kind, const char *addr, int port,
                                 int64_t cap, int64_t lease_ms, int *created)
{
    hg_reg_announce_t a = {
        .kind = kind, .address = addr, .port = port, .capacity = cap, .lease_ms = lease_ms};
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_reg_server_t *s = NULL;
    hg_error_t err;
    int c;
    int rc = hg_registry_announce(e->reg, &a, t, &s, &c, &err);
    commit(e, t);
    if (rc != 0)
        HG_FAIL_("announce: %s", err.msg);
    if (created)
        *created = c;
    return s;
}

HG_TEST(same_endpoint_same_id_and_events)
{
    env_t e;
    env_open(&e, 1);
    int created;
    hg_reg_server_t *a = announce(&e, "game", "10.0.0.1", 7000, 10, 0, &created);
    ASSERT_TRUE(created);
    char id[24];
    snprintf(id, sizeof(id), "%s", a->id);
    ASSERT_TRUE(strncmp(id, "srv-", 4) == 0 && strlen(id) == 20);
    hg_reg_server_t *b = announce(&e, "game", "10.0.0.1", 7000, 20, 0, &created);
    ASSERT_FALSE(created);
    ASSERT_STR_EQ(b->id, id);
    ASSERT_EQ_INT(b->capacity, 20);
    hg_reg_server_t *c = announce(&e, "lobby", "10.0.0.1", 7000, 1, 0, &created);
    ASSERT_TRUE(created);
    ASSERT_TRUE(strcmp(c->id, id) != 0); /* another kind is another server */
    ASSERT_EQ_INT(e.seen.n, 3);
    ASSERT_EQ_INT(e.seen.ev[0], HG_REG_UP);
    ASSERT_EQ_INT(e.seen.ev[1], HG_REG_UPDATED);
    ASSERT_EQ_INT(e.seen.ev[2], HG_REG_UP);
    hg_error_t err;
    hg_reg_announce_t bad = {.kind = "Game!", .address = "x", .port = 1};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_reg_server_t *s;
    ASSERT_EQ_INT(hg_registry_announce(e.reg, &bad, t, &s, &created, &err), HG_EINVAL);
    bad.kind = "game";
    bad.lease_ms = 10;
    ASSERT_EQ_INT(hg_registry_announce(e.reg, &bad, t, &s, &created, &err), HG_EINVAL);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(lease_expires_unless_renewed)
{
    env_t e;
    env_open(&e, 1);
    hg_reg_server_t *a = announce(&e, "gateway", "10.0.0.1", 1, 0, 5000, NULL);
    announce(&e, "gateway", "10.0.0.2", 1, 0, 5000, NULL);
    char ida[24];
    snprintf(ida, sizeof(ida), "%s", a->id);
    hg_clock_advance(&e.clock, 4000);
    hg_reg_patch_t p = {.load = -1, .capacity = -1};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_error_t err;
    int before = e.seen.n;
    ASSERT_OK(hg_registry_update(e.reg, a, &p, t, &err)); /* renews a only */
    ASSERT_TRUE(hg_store_txn_empty(t));                   /* not stored */
    ASSERT_EQ_INT(e.seen.n, before);                      /* not news */
    commit(&e, t);
    hg_clock_advance(&e.clock, 999);
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 0);
    hg_clock_advance(&e.clock, 1);
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 1); /* b: 5 s without renewal */
    ASSERT_EQ_INT(hg_registry_count(e.reg), 1);
    ASSERT_EQ_INT(e.seen.ev[e.seen.n - 1], HG_REG_DOWN);
    ASSERT_EQ_INT(e.seen.reason[e.seen.n - 1], HG_REG_REASON_LEASE_EXPIRED);
    hg_clock_advance(&e.clock, 4000);
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 1); /* a: 5 s after its renewal */
    ASSERT_NULL(hg_registry_get(e.reg, ida));
    env_done(&e);
}

HG_TEST(health_check_failures_in_a_row)
{
    env_t e;
    env_open(&e, 1);
    hg_reg_announce_t a = {.kind = "game",
                           .address = "127.0.0.1",
                           .port = 9,
                           .check = HG_REG_CHECK_TCP,
                           .check_interval_ms = 1000,
                           .check_failures_max = 2,
                           .lease_ms = 3600000};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_reg_server_t *s;
    hg_error_t err;
    int created;
    ASSERT_OK(hg_registry_announce(e.reg, &a, t, &s, &created, &err));
    commit(&e, t);
    char id[24];
    snprintf(id, sizeof(id), "%s", s->id);
    hg_registry_tick(e.reg, 100);
    ASSERT_EQ_INT(e.probes, 0); /* first check one interval after the announcement */
    hg_clock_advance(&e.clock, 1000);
    hg_registry_tick(e.reg, 100);
    ASSERT_EQ_INT(e.probes, 1);
    hg_registry_tick(e.reg, 100);
    ASSERT_EQ_INT(e.probes, 1); /* one probe in flight at a time */
    hg_registry_probe_result(e.reg, id, e.probe_id, 0);
    ASSERT_NOT_NULL(hg_registry_get(e.reg, id)); /* 1 failure of 2 */
    hg_clock_advance(&e.clock, 1000);
    hg_registry_tick(e.reg, 100);
    hg_registry_probe_result(e.reg, id, e.probe_id, 1); /* success resets the count */
    hg_clock_advance(&e.clock, 1000);
    hg_registry_tick(e.reg, 100);
    hg_registry_probe_result(e.reg, id, e.probe_id, 0);
    hg_registry_probe_result(e.reg, id, e.probe_id, 0); /* a stale answer is ignored */
    ASSERT_NOT_NULL(hg_registry_get(e.reg, id));
    hg_clock_advance(&e.clock, 1000);
    hg_registry_tick(e.reg, 100);
    hg_registry_probe_result(e.reg, id, e.probe_id, 0);
    ASSERT_NULL(hg_registry_get(e.reg, id));
    ASSERT_EQ_INT(e.seen.reason[e.seen.n - 1], HG_REG_REASON_HEALTH_CHECK_FAILED);
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT); /* let the removal commit */
    env_done(&e);
}

HG_TEST(picks_fill_evenly_and_never_overfill)
{
    env_t e;
    env_open(&e, 1);
    char addr[32];
    for (int i = 0; i < 10; i++) {
        snprintf(addr, sizeof(addr), "10.0.0.%d", i + 1);
        announce(&e, "game", addr, 7000, 100, 0, NULL);
    }
    announce(&e, "lobby", "10.0.1.1", 7000, 1000, 0, NULL);
    hg_reg_filter_t f = {.kind = "game"};
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    for (int i = 0; i < 1000; i++) {
        hg_reg_server_t *s;
        if (hg_registry_pick(e.reg, &f, 1, t, &s, &err) != 0)
            HG_FAIL_("pick %d: %s", i, err.msg);
        /* after every round of 10 picks all servers carry the same load */
        if (i % 10 == 9) {
            hg_reg_server_t *all[16];
            int more;
            size_t n = hg_registry_list(e.reg, &f, NULL, 16, all, &more);
            ASSERT_EQ_INT(n, 10);
            for (size_t k = 0; k < n; k++)
                ASSERT_EQ_INT(all[k]->load, i / 10 + 1);
        }
    }
    hg_reg_server_t *s;
    ASSERT_EQ_INT(hg_registry_pick(e.reg, &f, 1, t, &s, &err), HG_EOUTOFCAPACITY);
    hg_reg_filter_t lobby = {.kind = "lobby"};
    ASSERT_EQ_INT(hg_registry_pick(e.reg, &lobby, 1001, t, &s, &err), HG_EOUTOFCAPACITY);
    ASSERT_OK(hg_registry_pick(e.reg, &lobby, 1000, t, &s, &err));
    ASSERT_EQ_INT(s->load, 1000);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(pick_prefers_lowest_ratio_and_filters_metadata)
{
    env_t e;
    env_open(&e, 1);
    hg_reg_server_t *big = announce(&e, "game", "10.0.0.1", 1, 100, 0, NULL);
    hg_reg_server_t *small = announce(&e, "game", "10.0.0.2", 1, 10, 0, NULL);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_error_t err;
    hg_reg_patch_t p = {.load = 50, .capacity = -1}; /* big: 50/100 */
    ASSERT_OK(hg_registry_update(e.reg, big, &p, t, &err));
    p.load = 4; /* small: 4/10 is lower */
    ASSERT_OK(hg_registry_update(e.reg, small, &p, t, &err));
    hg_reg_filter_t f = {.kind = "game"};
    hg_reg_server_t *s;
    ASSERT_OK(hg_registry_pick(e.reg, &f, 1, t, &s, &err));
    ASSERT_TRUE(s == small); /* 5/10 now: tie with big */
    json_t *md = json_pack("{s:s}", "region", "eu");
    p = (hg_reg_patch_t){.load = -1, .capacity = -1, .metadata = md};
    ASSERT_OK(hg_registry_update(e.reg, big, &p, t, &err));
    f.metadata = md;
    ASSERT_OK(hg_registry_pick(e.reg, &f, 1, t, &s, &err));
    ASSERT_TRUE(s == big);
    json_decref(md);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(external_entries_are_read_only_and_not_stored)
{
    env_t e;
    env_open(&e, 1);
    hg_reg_announce_t a = {
        .kind = "game", .address = "127.0.0.1", .port = 5000, .status = "available", .capacity = 1};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_registry_upsert_external(e.reg, HG_REG_SRC_FLEETIQ, "grp/gs-1", &a, t);
    commit(&e, t);
    hg_reg_server_t *all[4];
    int more;
    hg_reg_filter_t f = {0};
    ASSERT_EQ_INT(hg_registry_list(e.reg, &f, NULL, 4, all, &more), 1);
    hg_reg_server_t *s = all[0];
    ASSERT_EQ_INT(s->source, HG_REG_SRC_FLEETIQ);
    ASSERT_EQ_INT(s->lease_ms, 0);
    hg_error_t err;
    hg_reg_patch_t p = {.load = 1, .capacity = -1};
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_registry_update(e.reg, s, &p, t, &err), HG_ECONFLICT);
    ASSERT_EQ_INT(hg_registry_remove(e.reg, s, t, &err), HG_ECONFLICT);
    hg_reg_filter_t gf = {.kind = "game"};
    hg_reg_server_t *picked;
    ASSERT_EQ_INT(hg_registry_pick(e.reg, &gf, 1, t, &picked, &err), HG_EOUTOFCAPACITY);
    hg_clock_advance(&e.clock, 3600000);
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 0); /* no lease */
    a.status = "utilized";
    hg_registry_upsert_external(e.reg, HG_REG_SRC_FLEETIQ, "grp/gs-1", &a, t);
    ASSERT_STR_EQ(s->status, "utilized");
    hg_registry_remove_external(e.reg, HG_REG_SRC_FLEETIQ, "grp/gs-1", t);
    commit(&e, t);
    ASSERT_EQ_INT(hg_registry_count(e.reg), 0);
    ASSERT_EQ_INT(e.seen.n, 3);
    ASSERT_EQ_INT(e.seen.reason[2], HG_REG_REASON_DEREGISTERED);
    env_done(&e);
}

HG_TEST(reload_keeps_servers_and_restarts_leases)
{
    env_t e;
    env_open(&e, 1);
    hg_reg_server_t *a = announce(&e, "gateway", "10.0.0.1", 443, 5, 10000, NULL);
    char id[24];
    snprintf(id, sizeof(id), "%s", a->id);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_error_t err;
    json_t *md = json_pack("{s:s}", "zone", "a");
    hg_reg_patch_t p = {.status = "busy", .load = 3, .capacity = -1, .metadata = md};
    ASSERT_OK(hg_registry_update(e.reg, a, &p, t, &err));
    json_decref(md);
    commit(&e, t);
    env_close(&e);
    hg_clock_advance(&e.clock, 60000); /* down for longer than the lease */
    env_open(&e, 0);
    hg_reg_server_t *b = hg_registry_get(e.reg, id);
    ASSERT_NOT_NULL(b);
    ASSERT_STR_EQ(b->status, "busy");
    ASSERT_EQ_INT(b->load, 3);
    ASSERT_STR_EQ(json_string_value(json_object_get(b->metadata, "zone")), "a");
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 0); /* the lease restarted its countdown */
    hg_clock_advance(&e.clock, 10000);
    ASSERT_EQ_INT(hg_registry_tick(e.reg, 100), 1);
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    env_close(&e);
    env_open(&e, 0);
    ASSERT_EQ_INT(hg_registry_count(e.reg), 0); /* the expiry was durable */
    env_done(&e);
}

HG_SUITE(registry) = {
    HG_CASE(same_endpoint_same_id_and_events),
    HG_CASE(lease_expires_unless_renewed),
    HG_CASE(health_check_failures_in_a_row),
    HG_CASE(picks_fill_evenly_and_never_overfill),
    HG_CASE(pick_prefers_lowest_ratio_and_filters_metadata),
    HG_CASE(external_entries_are_read_only_and_not_stored),
    HG_CASE(reload_keeps_servers_and_restarts_leases),
    HG_CASE_END,
};
