/* Unit tests: placement — the ordering and latency-relaxation rules against tables of cases,
 * and the engine (attempt at start, wait for capacity, relax, time out, cancel, fulfil) on the
 * injected clock with the real fleet module and store underneath. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fleet/session.h"
#include "placement/placement.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

/* ---- hg_pl_cap ---- */

HG_TEST(latency_cap_relaxes_by_elapsed_time)
{
    /* the dev guide's example: 0-120 s ≤ 50 ms, 120-240 s ≤ 100 ms, then ≤ 200 ms */
    hg_pl_policy_t p[] = {{50, 120}, {100, 120}, {200, -1}};
    static const struct {
        int64_t elapsed, cap;
    } rows[] = {{0, 50}, {119, 50}, {120, 100}, {239, 100}, {240, 200}, {100000, 200}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        ASSERT_EQ_INT(hg_pl_cap(p, 3, rows[i].elapsed), rows[i].cap);
    /* every policy has a duration: no cap once they all expired */
    hg_pl_policy_t q[] = {{20, 10}, {60, 10}};
    ASSERT_EQ_INT(hg_pl_cap(q, 2, 5), 20);
    ASSERT_EQ_INT(hg_pl_cap(q, 2, 15), 60);
    ASSERT_EQ_INT(hg_pl_cap(q, 2, 20), -1);
    ASSERT_EQ_INT(hg_pl_cap(NULL, 0, 0), -1);
}

/* ---- hg_pl_order ---- */

static hg_pl_queue_t *mkqueue(const char *order, const char *loc_order, const char *allowed)
{
    static hg_pl_queue_t q;
    static char *lo[8], *al[8];
    static char buf1[256], buf2[256];
    memset(&q, 0, sizeof(q));
    hg_pl_prio_t def[4] = {HG_PL_LATENCY, HG_PL_COST, HG_PL_DESTINATION, HG_PL_LOCATION};
    memcpy(q.order, def, sizeof(def));
    if (order) { /* "LOCATION,DESTINATION" */
        static const char *const names[] = {"LATENCY", "COST", "DESTINATION", "LOCATION"};
        char tmp[128];
        snprintf(tmp, sizeof(tmp), "%s", order);
        size_t n = 0;
        for (char *s = tmp, *t; (t = strsep(&s, ",")) != NULL;)
            for (int k = 0; k < 4; k++)
                if (strcmp(t, names[k]) == 0)
                    q.order[n++] = (hg_pl_prio_t)k;
        q.norder_given = n;
        for (int k = 0; k < 4; k++) {
            int listed = 0;
            for (size_t i = 0; i < q.norder_given; i++)
                listed |= (int)q.order[i] == k;
            if (!listed)
                q.order[n++] = (hg_pl_prio_t)k;
        }
    }
    if (loc_order) {
        snprintf(buf1, sizeof(buf1), "%s", loc_order);
        for (char *s = buf1, *t; (t = strsep(&s, ",")) != NULL;)
            lo[q.nloc_order++] = t;
        q.loc_order = lo;
    }
    if (allowed) {
        snprintf(buf2, sizeof(buf2), "%s", allowed);
        for (char *s = buf2, *t; (t = strsep(&s, ",")) != NULL;)
            al[q.nallowed++] = t;
        q.allowed = al;
    }
    return &q;
}

/* Candidates: three destinations, one location each (tokyo, oregon, seoul), plus the second
 * destination also in seoul; costs 3, 1, 2. Renders the ordered result as "tokyo/0 seoul/2". */
static void order(const hg_pl_queue_t *q, const hg_pl_latency_t *lat, size_t nlat, int64_t cap,
                  const char *const *ov, size_t nov, int ov_none, char *out, size_t cap_out)
{
    hg_pl_cand_t c[] = {
        {.dest = 0, .fleet_id = "f0", .location = "tokyo", .cost = 3},
        {.dest = 1, .fleet_id = "f1", .location = "oregon", .cost = 1},
        {.dest = 2, .fleet_id = "f2", .location = "seoul", .cost = 2},
        {.dest = 1, .fleet_id = "f1", .location = "seoul", .cost = 1},
    };
    hg_pl_order_in_t in = {.q = q,
                           .lat = lat,
                           .nlat = nlat,
                           .override_locs = ov,
                           .noverride = nov,
                           .override_none = ov_none,
                           .cap_ms = cap};
    size_t n = hg_pl_order(&in, c, 4);
    size_t w = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(out + w, cap_out - w, "%s%s/%zu", i ? " " : "", c[i].location,
                              c[i].dest);
}

HG_TEST(ordering_table)
{
    hg_pl_latency_t seoul_best[] = {{"a", "tokyo", 60}, {"a", "oregon", 150}, {"a", "seoul", 20},
                                    {"b", "tokyo", 70}, {"b", "oregon", 140}, {"b", "seoul", 30}};
    hg_pl_latency_t tokyo_best[] = {{"a", "tokyo", 10}, {"a", "oregon", 90}, {"a", "seoul", 40}};
    hg_pl_latency_t partial[] = {{"a", "tokyo", 10}, {"a", "seoul", 40}, {"b", "seoul", 45}};
    const char *ov[] = {"oregon"};
    const struct {
        const char *name, *order, *loc_order, *allowed;
        const hg_pl_latency_t *lat;
        size_t nlat;
        int64_t cap;
        const char *const *ov;
        size_t nov;
        int ov_none;
        const char *want;
    } rows[] = {
        /* no latencies: destination order, then location name */
        {"default", NULL, NULL, NULL, NULL, 0, -1, NULL, 0, 0, "tokyo/0 oregon/1 seoul/1 seoul/2"},
        /* latencies: average per location, then cost, then destination */
        {"latency", NULL, NULL, NULL, seoul_best, 6, -1, NULL, 0, 0,
         "seoul/1 seoul/2 tokyo/0 oregon/1"},
        {"latency one player", NULL, NULL, NULL, tokyo_best, 3, -1, NULL, 0, 0,
         "tokyo/0 seoul/1 seoul/2 oregon/1"},
        /* a cap drops every location where some player is above it */
        {"cap 50", NULL, NULL, NULL, seoul_best, 6, 50, NULL, 0, 0, "seoul/1 seoul/2"},
        {"cap 65", NULL, NULL, NULL, seoul_best, 6, 65, NULL, 0, 0, "seoul/1 seoul/2"},
        {"cap 70", NULL, NULL, NULL, seoul_best, 6, 70, NULL, 0, 0, "seoul/1 seoul/2 tokyo/0"},
        {"cap 10", NULL, NULL, NULL, seoul_best, 6, 10, NULL, 0, 0, ""},
        /* a player who reported nothing for a location: it fails any cap and sorts last */
        {"partial no cap", NULL, NULL, NULL, partial, 3, -1, NULL, 0, 0,
         "seoul/1 seoul/2 oregon/1 tokyo/0"},
        {"partial cap", NULL, NULL, NULL, partial, 3, 100, NULL, 0, 0, "seoul/1 seoul/2"},
        /* explicit PriorityOrder */
        {"cost first", "COST", NULL, NULL, NULL, 0, -1, NULL, 0, 0,
         "oregon/1 seoul/1 seoul/2 tokyo/0"},
        {"location order", "LOCATION,DESTINATION", "seoul,oregon", NULL, NULL, 0, -1, NULL, 0, 0,
         "seoul/1 seoul/2 oregon/1 tokyo/0"},
        {"destination over latency", "DESTINATION,LATENCY", NULL, NULL, seoul_best, 6, -1, NULL, 0,
         0, "tokyo/0 seoul/1 oregon/1 seoul/2"},
        /* AllowedLocations filter */
        {"allowed", NULL, NULL, "oregon,seoul", NULL, 0, -1, NULL, 0, 0,
         "oregon/1 seoul/1 seoul/2"},
        /* override: its locations first; NONE keeps only them */
        {"override", "LOCATION", "tokyo", NULL, NULL, 0, -1, ov, 1, 0,
         "oregon/1 tokyo/0 seoul/1 seoul/2"},
        {"override none", "LOCATION", "tokyo", NULL, NULL, 0, -1, ov, 1, 1, "oregon/1"},
        {"override within filter", "LOCATION", "tokyo", "tokyo,seoul", NULL, 0, -1, ov, 1, 1, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const hg_pl_queue_t *q = mkqueue(rows[i].order, rows[i].loc_order, rows[i].allowed);
        char got[256];
        order(q, rows[i].lat, rows[i].nlat, rows[i].cap, rows[i].ov, rows[i].nov, rows[i].ov_none,
              got, sizeof(got));
        if (strcmp(got, rows[i].want) != 0)
            HG_FAIL_("%s: got '%s', want '%s'", rows[i].name, got, rows[i].want);
    }
}

/* ---- the engine ---- */

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_fleet_t *fl;
    hg_placement_t *pl;
    hg_fl_fleet_t *f;
    hg_fl_compute_t *tokyo, *seoul;
    hg_pl_queue_t *q;
    int ended, wakes;
    hg_pl_status_t last;
    char dir[64];
} env_t;

static const int64_t T0 = 1700000000000LL;
static int conn1;

static void on_ended(void *ud, hg_store_txn_t *txn, const hg_pl_placement_t *p)
{
    (void)txn;
    env_t *e = ud;
    e->ended++;
    e->last = p->status;
}

static void on_wake(void *ud)
{
    ((env_t *)ud)->wakes++;
}

static void on_session(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    hg_pl_on_session(((env_t *)ud)->pl, txn, gs);
}

static void on_idle(void *ud, hg_fl_fleet_t *f, const char *loc)
{
    (void)f;
    (void)loc;
    hg_pl_kick(((env_t *)ud)->pl);
}

static void commit(env_t *e, hg_store_txn_t *t)
{
    hg_test_commit(&e->loop, t);
}

static void env_open(env_t *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-pl-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    hg_clock_init_manual(&e->clock, T0);
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-east-1", .account = "000000000000"};
    e->fl = hg_fleet_new(&e->clock, e->store, &cfg);
    hg_fl_sink_t fs = {.session = on_session, .idle = on_idle, .ud = e};
    hg_fleet_set_sink(e->fl, &fs);
    ASSERT_OK(hg_fleet_load(e->fl));
    e->pl = hg_placement_new(&e->clock, e->store, e->fl, "us-east-1", "000000000000");
    hg_pl_sink_t ps = {.ended = on_ended, .wake = on_wake, .ud = e};
    hg_placement_set_sink(e->pl, &ps);
    ASSERT_OK(hg_placement_load(e->pl));
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fl_location_t *loc;
    ASSERT_OK(hg_fl_location_create(e->fl, "custom-tokyo", NULL, t, &loc, &err));
    ASSERT_OK(hg_fl_location_create(e->fl, "custom-seoul", NULL, t, &loc, &err));
    const char *locs[] = {"custom-tokyo", "custom-seoul"};
    ASSERT_OK(hg_fl_fleet_create(e->fl, json_object(), locs, 2, NULL, t, &e->f, &err));
    ASSERT_OK(hg_fl_compute_register(e->fl, e->f, "tk", "10.0.0.1", NULL, NULL, "custom-tokyo", t,
                                     &e->tokyo, &err));
    ASSERT_OK(hg_fl_compute_register(e->fl, e->f, "sl", "10.0.0.2", NULL, NULL, "custom-seoul", t,
                                     &e->seoul, &err));
    /* 100 ms until 5 s, then none; timeout 20 s */
    hg_pl_policy_t pol[] = {{100, 5}};
    const char *dests[] = {e->f->arn};
    hg_pl_queue_in_t in = {.timeout_s = 20,
                           .dests = dests,
                           .ndests = 1,
                           .has_dests = 1,
                           .policies = pol,
                           .npolicies = 1,
                           .has_policies = 1};
    ASSERT_OK(hg_pl_queue_create(e->pl, "q", &in, NULL, t, &e->q, &err));
    commit(e, t);
}

static void env_done(env_t *e)
{
    hg_store_close(e->store);
    hg_placement_free(e->pl);
    hg_fleet_free(e->fl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
    hg_test_rmtree(e->dir);
}

static hg_fl_process_t *ready(env_t *e, hg_fl_compute_t *c, void *conn)
{
    hg_error_t err;
    hg_fl_process_t *p;
    int created;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fl_proc_connect(e->fl, e->f, c, "p", conn, NULL, t, &p, &created, &err));
    ASSERT_OK(hg_fl_proc_ready(e->fl, p, 7000, NULL, NULL, NULL, t, &err));
    commit(e, t);
    return p;
}

static hg_pl_placement_t *start(env_t *e, const char *id, const hg_pl_latency_t *lat, size_t n)
{
    hg_error_t err;
    hg_pl_placement_t *p;
    int existed;
    const char *players[] = {"alice"};
    json_t *req = json_pack("{s:i,s:[{s:s}]}", "MaximumPlayerSessionCount", 4,
                            "DesiredPlayerSessions", "PlayerId", "alice");
    hg_pl_start_in_t in = {.id = id,
                           .req = req,
                           .max_players = 4,
                           .lat = lat,
                           .nlat = n,
                           .desired = players,
                           .ndesired = 1};
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_pl_start(e->pl, e->q, &in, t, &p, &existed, &err));
    commit(e, t);
    json_decref(req);
    return p;
}

static void tick(env_t *e)
{
    hg_fleet_tick(e->fl, 1000);
    hg_pl_tick(e->pl, 1000);
    if (e->wakes) {
        e->wakes = 0;
        hg_pl_run(e->pl, 1000);
    }
    hg_test_commit(&e->loop, hg_store_txn_new(e->store));
}

HG_TEST(placement_waits_relaxes_and_fulfils)
{
    env_t e;
    env_open(&e);
    hg_fl_process_t *seoul = ready(&e, e.seoul, &conn1);
    /* the player is 150 ms from Seoul and has no Tokyo report: nothing fits under 100 ms */
    hg_pl_latency_t lat[] = {{"alice", "custom-seoul", 150}};
    hg_pl_placement_t *p = start(&e, "p1", lat, 1);
    ASSERT_EQ_INT(p->status, HG_PL_PENDING);
    ASSERT_NULL(p->gs_arn);
    hg_clock_advance(&e.clock, 4999);
    tick(&e);
    ASSERT_NULL(p->gs_arn);
    /* at 5 s the policy expires: Seoul qualifies, a session is created there */
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_NOT_NULL(p->gs_arn);
    ASSERT_STR_EQ(p->location, "custom-seoul");
    ASSERT_EQ_INT(p->status, HG_PL_PENDING); /* until the session is ACTIVE */
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_pl_stop(e.pl, p, t, &err), HG_EINVAL); /* a session exists */
    ASSERT_OK(hg_fl_gs_activate(e.fl, seoul, p->gs_arn, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(p->status, HG_PL_FULFILLED);
    ASSERT_EQ_INT(p->nplaced, 1);
    ASSERT_STR_EQ(p->placed[0].player, "alice");
    hg_fl_psession_t *ps = hg_fl_ps_find(e.fl, p->placed[0].psid);
    ASSERT_NOT_NULL(ps);
    ASSERT_EQ_INT(ps->status, HG_PS_RESERVED);
    ASSERT_EQ_INT(e.ended, 1);
    ASSERT_EQ_INT(e.last, HG_PL_FULFILLED);
    env_done(&e);
}

HG_TEST(placement_times_out_or_is_cancelled)
{
    env_t e;
    env_open(&e);
    hg_pl_placement_t *a = start(&e, "a", NULL, 0);
    hg_pl_placement_t *b = start(&e, "b", NULL, 0);
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_pl_stop(e.pl, b, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(b->status, HG_PL_CANCELLED);
    hg_clock_advance(&e.clock, 19999);
    tick(&e);
    ASSERT_EQ_INT(a->status, HG_PL_PENDING);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(a->status, HG_PL_TIMED_OUT);
    ASSERT_EQ_INT(e.ended, 2);
    env_done(&e);
}

HG_TEST(capacity_that_appears_is_used_oldest_first)
{
    env_t e;
    env_open(&e);
    hg_pl_placement_t *a = start(&e, "a", NULL, 0);
    hg_pl_placement_t *b = start(&e, "b", NULL, 0);
    ASSERT_NULL(a->gs_arn);
    hg_fl_process_t *tk = ready(&e, e.tokyo, &conn1);
    ASSERT_TRUE(e.wakes > 0); /* the idle process woke the engine */
    tick(&e);
    ASSERT_NOT_NULL(a->gs_arn);
    ASSERT_NULL(b->gs_arn);
    (void)tk;
    /* the same id again returns the same placement */
    hg_pl_placement_t *again;
    int existed;
    hg_error_t err;
    hg_pl_start_in_t in = {.id = "a", .max_players = 4};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_pl_start(e.pl, e.q, &in, t, &again, &existed, &err));
    commit(&e, t);
    ASSERT_TRUE(again == a && existed);
    env_done(&e);
}

HG_SUITE(placement) = {HG_CASE(latency_cap_relaxes_by_elapsed_time),
                       HG_CASE(ordering_table),
                       HG_CASE(placement_waits_relaxes_and_fulfils),
                       HG_CASE(placement_times_out_or_is_cancelled),
                       HG_CASE(capacity_that_appears_is_used_oldest_first),
                       HG_CASE_END};
