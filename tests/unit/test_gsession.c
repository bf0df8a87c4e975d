/* Unit tests: server processes, game sessions and player sessions (fleet/session.h) — every
 * lifecycle and timer of the state tables on the injected clock, with the real SQLite store so
 * that pushes-after-commit and reload are checked too. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fleet/session.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

typedef struct rec {
    int starts, terminates, drops, changes, gones, idles;
    char last_start[300];
    char last_drop[300];
} rec_t;

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_fleet_t *fl;
    hg_fl_fleet_t *f;
    hg_fl_compute_t *c;
    rec_t rec;
    char dir[64];
} env_t;

static const int64_t T0 = 1700000000000LL;
static int conn_a, conn_b; /* opaque connection handles */

static void on_start(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    rec_t *r = ud;
    (void)p;
    r->starts++;
    snprintf(r->last_start, sizeof(r->last_start), "%s", gs->arn);
}
static void on_terminate(void *ud, hg_fl_process_t *p, int64_t ms)
{
    (void)p;
    (void)ms;
    ((rec_t *)ud)->terminates++;
}
static void on_drop(void *ud, hg_fl_process_t *p)
{
    rec_t *r = ud;
    r->drops++;
    snprintf(r->last_drop, sizeof(r->last_drop), "%s", p->key);
}
static void on_changed(void *ud, hg_store_txn_t *txn, const hg_fl_process_t *p, int gone)
{
    (void)txn;
    (void)p;
    rec_t *r = ud;
    r->changes++;
    r->gones += gone;
}
static void on_idle(void *ud, hg_fl_fleet_t *f, const char *loc)
{
    (void)f;
    (void)loc;
    ((rec_t *)ud)->idles++;
}

static void commit(env_t *e, hg_store_txn_t *t)
{
    hg_test_commit(&e->loop, t);
}

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        memset(e, 0, sizeof(*e));
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-gs-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-east-1", .account = "000000000000"};
    e->fl = hg_fleet_new(&e->clock, e->store, &cfg);
    hg_fl_sink_t sink = {.start_session = on_start,
                         .terminate = on_terminate,
                         .drop = on_drop,
                         .changed = on_changed,
                         .idle = on_idle,
                         .ud = &e->rec};
    hg_fleet_set_sink(e->fl, &sink);
    hg_fl_timeouts_t to = {.ready_ms = 300000,
                           .heartbeat_ms = 180000,
                           .unhealthy_reports = 3,
                           .grace_ms = 30000,
                           .activation_ms = 600000,
                           .reservation_ms = 60000};
    hg_fleet_set_timeouts(e->fl, &to);
    ASSERT_OK(hg_fleet_load(e->fl));
    if (fresh) {
        hg_store_txn_t *t = hg_store_txn_new(e->store);
        hg_fl_location_t *loc;
        ASSERT_OK(hg_fl_location_create(e->fl, "custom-a", NULL, t, &loc, &err));
        const char *locs[] = {"custom-a"};
        ASSERT_OK(hg_fl_fleet_create(e->fl, json_object(), locs, 1, NULL, t, &e->f, &err));
        ASSERT_OK(hg_fl_compute_register(e->fl, e->f, "host-1", "10.0.0.1", NULL, NULL, "custom-a",
                                         t, &e->c, &err));
        commit(e, t);
    } else {
        size_t n = 0;
        hg_fl_fleet_t *out[4];
        int more;
        n = hg_fl_fleet_list(e->fl, 0, 4, out, &more);
        ASSERT_EQ_INT(n, 1);
        e->f = out[0];
        e->c = hg_fl_compute_find(e->f, "host-1");
        ASSERT_NOT_NULL(e->c);
    }
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_fleet_free(e->fl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static void env_done(env_t *e)
{
    env_close(e);
    hg_test_rmtree(e->dir);
}

/* Fire due deadlines and wait until their changes (and the pushes after them) are durable. */
static void tick(env_t *e)
{
    hg_fleet_tick(e->fl, 1000);
    hg_test_commit(&e->loop, hg_store_txn_new(e->store)); /* an empty txn: a barrier */
}

/* A process connected on conn and ready on port. */
static hg_fl_process_t *ready(env_t *e, const char *pid, void *conn, int port)
{
    hg_error_t err;
    hg_fl_process_t *p;
    int created;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fl_proc_connect(e->fl, e->f, e->c, pid, conn, NULL, t, &p, &created, &err));
    ASSERT_EQ_INT(created, 1);
    ASSERT_EQ_INT(p->state, HG_PR_WAITING);
    ASSERT_OK(hg_fl_proc_ready(e->fl, p, port, "5.4.0", "Cpp", NULL, t, &err));
    commit(e, t);
    return p;
}

static hg_fl_gsession_t *create(env_t *e, int64_t max, const char *token, int expect_rc)
{
    hg_error_t err;
    hg_fl_gsession_t *gs = NULL;
    int existed;
    hg_fl_gs_params_t prm = {.max_players = max, .token = token, .name = "g"};
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    int rc = hg_fl_gs_create(e->fl, e->f, &prm, t, &gs, &existed, &err);
    ASSERT_EQ_INT(rc, expect_rc);
    commit(e, t);
    return gs;
}

static void activate(env_t *e, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fl_gs_activate(e->fl, p, gs->arn, t, &err));
    commit(e, t);
}

HG_TEST(process_ready_and_ready_timeout)
{
    env_t e;
    env_open(&e, 1);
    hg_error_t err;
    hg_fl_process_t *p;
    int created;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(
        hg_fl_proc_connect(e.fl, e.f, e.c, "bad/pid", &conn_a, NULL, t, &p, &created, &err),
        HG_EINVAL);
    ASSERT_OK(hg_fl_proc_connect(e.fl, e.f, e.c, "slow", &conn_a, NULL, t, &p, &created, &err));
    commit(&e, t);
    ASSERT_EQ_INT(hg_fl_idle_count(e.fl, e.f, NULL), 0);
    /* just before the deadline nothing happens; at it, the WAITING process is dropped */
    hg_clock_advance(&e.clock, 300000 - 1);
    tick(&e);
    ASSERT_EQ_INT(e.rec.drops, 0);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(e.rec.drops, 1);
    ASSERT_NULL(hg_fl_proc_find(e.fl, e.rec.last_drop));

    p = ready(&e, "quick", &conn_a, 7777);
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE);
    ASSERT_EQ_INT(hg_fl_idle_count(e.fl, e.f, "custom-a"), 1);
    ASSERT_EQ_INT(e.rec.idles, 1); /* told once the change was durable */
    /* ProcessReady again: same port is a resend, another port a conflict */
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_proc_ready(e.fl, p, 7777, NULL, NULL, NULL, t, &err));
    ASSERT_EQ_INT(hg_fl_proc_ready(e.fl, p, 7778, NULL, NULL, NULL, t, &err), HG_ECONFLICT);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(create_pushes_after_commit_and_activation)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_error_t err;
    hg_fl_gsession_t *gs = NULL;
    int existed;
    hg_fl_gs_params_t prm = {.max_players = 4};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_create(e.fl, e.f, &prm, t, &gs, &existed, &err));
    ASSERT_EQ_INT(e.rec.starts, 0); /* not before the commit */
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVATING);
    ASSERT_TRUE(p->gs == gs);
    ASSERT_EQ_INT(hg_fl_idle_count(e.fl, e.f, NULL), 0);
    commit(&e, t);
    ASSERT_EQ_INT(e.rec.starts, 1);
    ASSERT_STR_EQ(e.rec.last_start, gs->arn);
    /* the only process is busy */
    create(&e, 4, NULL, HG_EFLEETCAPACITY);
    /* players only once ACTIVE */
    const char *ids[] = {"a"};
    hg_fl_psession_t *ps[1];
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fl_ps_create(e.fl, gs, ids, NULL, 1, t, ps, &err), HG_EGSSTATUS);
    hg_store_txn_free(t);
    activate(&e, p, gs);
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVE);
    activate(&e, p, gs); /* again: no-op */
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVE);
    env_done(&e);
}

HG_TEST(activation_timeout_frees_the_process)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 2, NULL, 0);
    /* the process keeps sending heartbeats; only the session times out */
    hg_error_t err;
    for (int i = 0; i < 10; i++) {
        hg_clock_advance(&e.clock, 59999);
        hg_store_txn_t *t = hg_store_txn_new(e.store);
        ASSERT_OK(hg_fl_proc_heartbeat(e.fl, p, 1, t, &err));
        commit(&e, t);
        tick(&e);
    }
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVATING); /* 599990 ms: not yet */
    hg_clock_advance(&e.clock, 10);
    tick(&e);
    ASSERT_EQ_INT(gs->status, HG_GS_TERMINATED);
    ASSERT_NULL(p->gs);
    ASSERT_EQ_INT(hg_fl_idle_count(e.fl, e.f, NULL), 1); /* can host the next one */
    hg_fl_gsession_t *next = create(&e, 2, NULL, 0);
    ASSERT_TRUE(p->gs == next);
    env_done(&e);
}

HG_TEST(player_reservation_times_out_at_60s)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 2, NULL, 0);
    activate(&e, p, gs);
    hg_error_t err;
    const char *ids[] = {"a", "b"};
    const char *data[] = {"red", NULL};
    hg_fl_psession_t *ps[2];
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_create(e.fl, gs, ids, data, 2, t, ps, &err));
    commit(&e, t);
    ASSERT_EQ_INT(gs->nplayers, 2);
    ASSERT_STR_EQ(ps[0]->data, "red");
    /* full */
    const char *more[] = {"c"};
    hg_fl_psession_t *pc[1];
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fl_ps_create(e.fl, gs, more, NULL, 1, t, pc, &err), HG_EGAMESESSIONFULL);
    /* a accepted at 30 s; b never */
    hg_clock_advance(&e.clock, 30000);
    ASSERT_OK(hg_fl_ps_accept(e.fl, p, gs->arn, ps[0]->id, t, &err));
    ASSERT_EQ_INT(hg_fl_ps_accept(e.fl, p, gs->arn, ps[0]->id, t, &err), HG_EGSSTATUS);
    ASSERT_EQ_INT(hg_fl_ps_accept(e.fl, p, gs->arn, "psess-none", t, &err), HG_ENOTFOUND);
    commit(&e, t);
    hg_clock_advance(&e.clock, 29999);
    tick(&e);
    ASSERT_EQ_INT(ps[1]->status, HG_PS_RESERVED);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(ps[1]->status, HG_PS_TIMEDOUT);
    ASSERT_EQ_INT(ps[0]->status, HG_PS_ACTIVE);
    ASSERT_EQ_INT(gs->nplayers, 1);
    /* remove: COMPLETED; again: no-op; a TIMEDOUT one cannot be removed */
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_remove(e.fl, p, gs->arn, ps[0]->id, t, &err));
    ASSERT_OK(hg_fl_ps_remove(e.fl, p, gs->arn, ps[0]->id, t, &err));
    ASSERT_EQ_INT(hg_fl_ps_remove(e.fl, p, gs->arn, ps[1]->id, t, &err), HG_EGSSTATUS);
    commit(&e, t);
    ASSERT_EQ_INT(ps[0]->status, HG_PS_COMPLETED);
    ASSERT_EQ_INT(gs->nplayers, 0);
    /* DENY_ALL */
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_policy(e.fl, p, gs->arn, 1, t, &err));
    ASSERT_EQ_INT(hg_fl_ps_create(e.fl, gs, more, NULL, 1, t, pc, &err), HG_EGSSTATUS);
    commit(&e, t);
    env_done(&e);
}

HG_TEST(heartbeat_timeout_and_unhealthy_reports)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p1 = ready(&e, "silent", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 2, NULL, 0);
    activate(&e, p1, gs);
    hg_clock_advance(&e.clock, 179999);
    tick(&e);
    ASSERT_EQ_INT(p1->state, HG_PR_ACTIVE);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(p1->state, HG_PR_TERMINATING);
    ASSERT_EQ_INT(gs->status, HG_GS_TERMINATED);
    ASSERT_EQ_INT(e.rec.terminates, 1);
    /* it does not end in time: gone after the grace */
    hg_clock_advance(&e.clock, HG_FL_TERMINATE_GRACE_MS);
    tick(&e);
    ASSERT_EQ_INT(e.rec.drops, 1);

    /* three false reports in a row; a true one in between resets the count */
    hg_fl_process_t *p2 = ready(&e, "sick", &conn_b, 7001);
    hg_error_t err;
    int reports[] = {0, 0, 1, 0, 0};
    for (size_t i = 0; i < 5; i++) {
        hg_store_txn_t *t = hg_store_txn_new(e.store);
        ASSERT_OK(hg_fl_proc_heartbeat(e.fl, p2, reports[i], t, &err));
        commit(&e, t);
    }
    ASSERT_EQ_INT(p2->state, HG_PR_ACTIVE);
    ASSERT_FALSE(p2->healthy);
    ASSERT_EQ_INT(hg_fl_idle_count(e.fl, e.f, NULL), 0); /* unhealthy: not given sessions */
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_proc_heartbeat(e.fl, p2, 0, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(p2->state, HG_PR_TERMINATING);
    ASSERT_EQ_INT(e.rec.terminates, 2);
    t = hg_store_txn_new(e.store);
    hg_fl_proc_ending(e.fl, p2, t);
    commit(&e, t);
    ASSERT_EQ_INT(e.rec.drops, 1); /* ending is answered on its socket, not dropped */
    env_done(&e);
}

HG_TEST(reconnect_within_grace_keeps_the_process)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 2, NULL, 0);
    activate(&e, p, gs);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_proc_disconnect(e.fl, p, &conn_b, t); /* not its newest socket: nothing */
    ASSERT_TRUE(p->conn == &conn_a);
    hg_fl_proc_disconnect(e.fl, p, &conn_a, t);
    commit(&e, t);
    ASSERT_NULL(p->conn);
    hg_clock_advance(&e.clock, 29999);
    tick(&e);
    hg_error_t err;
    hg_fl_process_t *again;
    int created;
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_proc_connect(e.fl, e.f, e.c, "p1", &conn_b, NULL, t, &again, &created, &err));
    commit(&e, t);
    ASSERT_TRUE(again == p);
    ASSERT_EQ_INT(created, 0);
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE);
    hg_clock_advance(&e.clock, 10000);
    tick(&e);
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVE);

    /* a second disconnect without a reconnect: gone at the end of the grace, session ends */
    t = hg_store_txn_new(e.store);
    hg_fl_proc_disconnect(e.fl, p, &conn_b, t);
    commit(&e, t);
    hg_clock_advance(&e.clock, 30000);
    tick(&e);
    ASSERT_EQ_INT(gs->status, HG_GS_TERMINATED);
    ASSERT_EQ_INT(e.rec.gones, 1);
    env_done(&e);
}

HG_TEST(idempotency_token_and_creation_limit)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p1 = ready(&e, "p1", &conn_a, 7000);
    ready(&e, "p2", &conn_b, 7001);
    hg_fl_gsession_t *a = create(&e, 4, "tok-1", 0);
    ASSERT_TRUE(strstr(a->arn, "/custom-a/tok-1") != NULL);
    hg_error_t err;
    hg_fl_gsession_t *b;
    int existed;
    hg_fl_gs_params_t same = {.max_players = 4, .token = "tok-1", .name = "g"};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_create(e.fl, e.f, &same, t, &b, &existed, &err));
    ASSERT_TRUE(b == a && existed == 1);
    hg_fl_gs_params_t diff = {.max_players = 5, .token = "tok-1", .name = "g"};
    ASSERT_EQ_INT(hg_fl_gs_create(e.fl, e.f, &diff, t, &b, &existed, &err), HG_EIDEMPOTENT);
    hg_fl_gs_params_t big = {.max_players = HG_FL_MAX_PLAYERS + 1};
    ASSERT_EQ_INT(hg_fl_gs_create(e.fl, e.f, &big, t, &b, &existed, &err), HG_EINVAL);
    hg_fl_gs_params_t where = {.max_players = 1, .location = "custom-zzz"};
    ASSERT_EQ_INT(hg_fl_gs_create(e.fl, e.f, &where, t, &b, &existed, &err), HG_EINVAL);
    commit(&e, t);
    (void)p1;

    /* ResourceCreationLimitPolicy: 1 per creator per minute */
    json_object_set_new(
        e.f->attrs, "ResourceCreationLimitPolicy",
        json_pack("{s:i,s:i}", "NewGameSessionsPerCreator", 1, "PolicyPeriodInMinutes", 1));
    hg_fl_gs_params_t c1 = {.max_players = 1, .creator = "bob"};
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_create(e.fl, e.f, &c1, t, &b, &existed, &err));
    commit(&e, t);
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fl_gs_create(e.fl, e.f, &c1, t, &b, &existed, &err), HG_ELIMIT);
    hg_store_txn_free(t);
    env_done(&e);
}

HG_TEST(state_survives_a_restart)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 3, "keep", 0);
    activate(&e, p, gs);
    hg_error_t err;
    const char *ids[] = {"a", "b"};
    hg_fl_psession_t *ps[2];
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_create(e.fl, gs, ids, NULL, 2, t, ps, &err));
    ASSERT_OK(hg_fl_ps_accept(e.fl, p, gs->arn, ps[0]->id, t, &err));
    commit(&e, t);
    char arn[300], ps0[48], ps1[48];
    snprintf(arn, sizeof(arn), "%s", gs->arn);
    snprintf(ps0, sizeof(ps0), "%s", ps[0]->id);
    snprintf(ps1, sizeof(ps1), "%s", ps[1]->id);
    env_close(&e);

    hg_clock_advance(&e.clock, 1000);
    env_open(&e, 0);
    hg_fl_gsession_t *back = hg_fl_gs_find(e.fl, arn);
    ASSERT_NOT_NULL(back);
    ASSERT_EQ_INT(back->status, HG_GS_ACTIVE);
    ASSERT_EQ_INT(back->nplayers, 2);
    ASSERT_EQ_INT(hg_fl_ps_find(e.fl, ps0)->status, HG_PS_ACTIVE);
    ASSERT_NOT_NULL(back->process);
    ASSERT_NULL(back->process->conn); /* waits for its SDK to reconnect */
    hg_fl_process_t *rp;
    int created;
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_proc_connect(e.fl, e.f, e.c, "p1", &conn_b, NULL, t, &rp, &created, &err));
    commit(&e, t);
    ASSERT_TRUE(rp == back->process && !created && rp->state == HG_PR_ACTIVE);
    /* the reservation clock kept running across the restart: b times out 60 s after creation */
    hg_clock_advance(&e.clock, 58999);
    tick(&e);
    ASSERT_EQ_INT(hg_fl_ps_find(e.fl, ps1)->status, HG_PS_RESERVED);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(hg_fl_ps_find(e.fl, ps1)->status, HG_PS_TIMEDOUT);
    /* the process goes for good: its session ends */
    t = hg_store_txn_new(e.store);
    hg_fl_proc_disconnect(e.fl, rp, &conn_b, t);
    commit(&e, t);
    hg_clock_advance(&e.clock, 30000);
    tick(&e);
    ASSERT_EQ_INT(back->status, HG_GS_TERMINATED);
    /* the token is still reserved */
    hg_fl_gsession_t *again;
    int existed;
    hg_fl_gs_params_t prm = {.max_players = 3, .token = "keep", .name = "g"};
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_create(e.fl, e.f, &prm, t, &again, &existed, &err));
    ASSERT_TRUE(again == back && existed);
    commit(&e, t);
    env_close(&e);

    env_open(&e, 0);
    back = hg_fl_gs_find(e.fl, arn);
    ASSERT_NOT_NULL(back);
    ASSERT_EQ_INT(back->status, HG_GS_TERMINATED);
    ASSERT_EQ_INT(hg_fl_ps_find(e.fl, ps0)->status, HG_PS_COMPLETED);
    hg_fl_session_stats_t st;
    hg_fleet_session_stats(e.fl, &st);
    ASSERT_EQ_INT(st.processes, 0);
    ASSERT_EQ_INT(st.gsessions_ended, 1);
    env_done(&e);
}

HG_TEST(deregistering_the_compute_ends_everything)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_process_t *p = ready(&e, "p1", &conn_a, 7000);
    hg_fl_gsession_t *gs = create(&e, 3, NULL, 0);
    activate(&e, p, gs);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_compute_deregister(e.fl, e.c, t);
    commit(&e, t);
    ASSERT_EQ_INT(gs->status, HG_GS_TERMINATED);
    ASSERT_EQ_INT(e.rec.drops, 1);
    hg_fl_session_stats_t st;
    hg_fleet_session_stats(e.fl, &st);
    ASSERT_EQ_INT(st.processes, 0);
    env_done(&e);
}

HG_SUITE(gsession) = {HG_CASE(process_ready_and_ready_timeout),
                      HG_CASE(create_pushes_after_commit_and_activation),
                      HG_CASE(activation_timeout_frees_the_process),
                      HG_CASE(player_reservation_times_out_at_60s),
                      HG_CASE(heartbeat_timeout_and_unhealthy_reports),
                      HG_CASE(reconnect_within_grace_keeps_the_process),
                      HG_CASE(idempotency_token_and_creation_limit),
                      HG_CASE(state_survives_a_restart),
                      HG_CASE(deregistering_the_compute_ends_everything),
                      HG_CASE_END};
