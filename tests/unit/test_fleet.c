/* Unit tests: fleets (custom locations, ANYWHERE fleets, computes, auth tokens, aliases, events,
 * tags) on the injected clock, with the real SQLite store underneath so durability and reload
 * are checked too. */
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "fleet/fleet.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_fleet_t *fl;
    char dir[64];
} env_t;

static const int64_t T0 = 1700000000000LL;
#define ARN_PREFIX "arn:aws:gamelift:us-east-1:000000000000:"

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-fl-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-east-1", .account = "000000000000"};
    e->fl = hg_fleet_new(&e->clock, e->store, &cfg);
    ASSERT_OK(hg_fleet_load(e->fl));
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_fleet_free(e->fl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop)); /* nothing left open */
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

static int mkloc(env_t *e, const char *name)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fl_location_t *loc;
    hg_error_t err;
    int rc = hg_fl_location_create(e->fl, name, NULL, t, &loc, &err);
    commit(e, t);
    return rc;
}

static hg_fl_fleet_t *mkfleet(env_t *e, const char *name, const char *loc1, const char *loc2)
{
    const char *locs[2] = {loc1, loc2};
    size_t n = loc2 ? 2 : loc1 ? 1 : 0;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fl_fleet_t *f = NULL;
    hg_error_t err;
    ASSERT_OK(
        hg_fl_fleet_create(e->fl, json_pack("{s:s}", "Name", name), locs, n, NULL, t, &f, &err));
    commit(e, t);
    return f;
}

static int reg(env_t *e, hg_fl_fleet_t *f, const char *name, const char *ip, const char *loc,
               hg_fl_compute_t **out)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_error_t err;
    hg_fl_compute_t *c = NULL;
    int rc = hg_fl_compute_register(e->fl, f, name, ip, NULL, NULL, loc, t, &c, &err);
    commit(e, t);
    if (out)
        *out = c;
    return rc;
}

static const hg_fl_token_t *token(env_t *e, hg_fl_compute_t *c)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_error_t err;
    const hg_fl_token_t *tok = NULL;
    ASSERT_OK(hg_fl_compute_token(e->fl, c, t, &tok, &err));
    commit(e, t);
    return tok;
}

static int delete_fleet(env_t *e, hg_fl_fleet_t *f)
{
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_error_t err;
    int rc = hg_fl_fleet_delete(e->fl, f, t, &err);
    commit(e, t);
    return rc;
}

static hg_fl_event_t *last_event(hg_fl_fleet_t *f)
{
    return hg_container_of(f->events.prev, hg_fl_event_t, node);
}

HG_TEST(locations_conflict_and_deletion_waits_for_fleets)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-home"));
    ASSERT_EQ_INT(mkloc(&e, "custom-home"), HG_ECONFLICT);
    ASSERT_EQ_INT(mkloc(&e, "home"), HG_EINVAL);
    hg_fl_location_t *loc = hg_fl_location_find(e.fl, ARN_PREFIX "location/custom-home");
    ASSERT_NOT_NULL(loc);
    ASSERT_STR_EQ(loc->name, "custom-home");
    ASSERT_NULL(hg_fl_location_find(e.fl, "arn:aws:gamelift:eu-west-1:1:location/custom-home"));

    hg_fl_fleet_t *f = mkfleet(&e, "f", "custom-home", NULL);
    ASSERT_EQ_INT(loc->nfleets, 1);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_error_t err;
    ASSERT_EQ_INT(hg_fl_location_delete(e.fl, loc, t, &err), HG_EINVAL);
    commit(&e, t);
    ASSERT_OK(delete_fleet(&e, f));
    ASSERT_EQ_INT(loc->nfleets, 0);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_location_delete(e.fl, loc, t, &err));
    commit(&e, t);
    ASSERT_NULL(hg_fl_location_find(e.fl, "custom-home"));
    env_done(&e);
}

HG_TEST(fleet_is_active_with_events_and_checks_locations)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    ASSERT_OK(mkloc(&e, "custom-b"));
    hg_error_t err;
    hg_fl_fleet_t *f = NULL;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    const char *unknown[] = {"custom-a", "custom-zz"};
    ASSERT_EQ_INT(hg_fl_fleet_create(e.fl, json_object(), unknown, 2, NULL, t, &f, &err),
                  HG_ENOTFOUND);
    const char *twice[] = {"custom-a", "custom-a"};
    ASSERT_EQ_INT(hg_fl_fleet_create(e.fl, json_object(), twice, 2, NULL, t, &f, &err), HG_EINVAL);
    const char *aws[] = {"eu-west-1"};
    ASSERT_EQ_INT(hg_fl_fleet_create(e.fl, json_object(), aws, 1, NULL, t, &f, &err), HG_EINVAL);
    ASSERT_TRUE(hg_store_txn_empty(t)); /* refusals change nothing */
    hg_store_txn_free(t);

    f = mkfleet(&e, "f", "us-east-1", "custom-b"); /* the home Region is implied, skipped */
    ASSERT_EQ_INT(f->status, HG_FL_ACTIVE);
    ASSERT_EQ_INT(strncmp(f->id, "fleet-", 6), 0);
    ASSERT_EQ_INT(strlen(f->id), 6 + 36);
    ASSERT_EQ_INT(f->nlocations, 1);
    ASSERT_STR_EQ(f->locations[0], "custom-b");
    ASSERT_TRUE(hg_fl_fleet_has_location(e.fl, f, "us-east-1"));
    ASSERT_FALSE(hg_fl_fleet_has_location(e.fl, f, "custom-a"));
    ASSERT_EQ_INT(f->nevents, 2);
    hg_fl_event_t *evs[4];
    int more;
    ASSERT_EQ_INT(hg_fl_event_list(f, 0, 0, 0, 4, evs, &more), 2);
    ASSERT_STR_EQ(evs[0]->code, "FLEET_CREATED");
    ASSERT_STR_EQ(evs[1]->code, "FLEET_STATE_ACTIVE");
    char arn[128];
    snprintf(arn, sizeof(arn), ARN_PREFIX "fleet/%s", f->id);
    ASSERT_STR_EQ(f->arn, arn);
    ASSERT_TRUE(hg_fl_fleet_find(e.fl, arn) == f);

    /* add and remove locations */
    t = hg_store_txn_new(e.store);
    const char *add[] = {"custom-a"};
    ASSERT_OK(hg_fl_fleet_add_locations(e.fl, f, add, 1, t, &err));
    ASSERT_EQ_INT(hg_fl_fleet_add_locations(e.fl, f, add, 1, t, &err), HG_EINVAL);
    const char *home[] = {"us-east-1"};
    ASSERT_EQ_INT(hg_fl_fleet_remove_locations(e.fl, f, home, 1, t, &err), HG_EINVAL);
    commit(&e, t);
    ASSERT_EQ_INT(f->nlocations, 2);
    ASSERT_EQ_INT(hg_fl_location_find(e.fl, "custom-a")->nfleets, 1);
    env_done(&e);
}

HG_TEST(compute_registration_rules)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    ASSERT_OK(mkloc(&e, "custom-b"));
    hg_fl_fleet_t *f = mkfleet(&e, "f", "custom-a", NULL);
    hg_fl_compute_t *c, *again;
    ASSERT_EQ_INT(reg(&e, f, "host-1", "10.0.0.1", "custom-b", NULL), HG_EINVAL);  /* not its */
    ASSERT_EQ_INT(reg(&e, f, "host-1", "10.0.0.1", "us-east-1", NULL), HG_EINVAL); /* home */
    ASSERT_OK(reg(&e, f, "host-1", "10.0.0.1", "custom-a", &c));
    ASSERT_OK(reg(&e, f, "host-1", "10.0.0.1", "custom-a", &again)); /* a retry */
    ASSERT_TRUE(c == again);
    ASSERT_EQ_INT(reg(&e, f, "host-1", "10.0.0.2", "custom-a", NULL), HG_ECONFLICT);
    ASSERT_STR_EQ(c->arn, ARN_PREFIX "compute/host-1");
    ASSERT_TRUE(hg_fl_compute_find(f, ARN_PREFIX "compute/host-1") == c);
    ASSERT_NULL(hg_fl_compute_find(f, "host-2"));
    hg_fl_counts_t n;
    hg_fl_fleet_counts(e.fl, f, NULL, &n);
    ASSERT_EQ_INT(n.computes, 1);
    ASSERT_EQ_INT(n.idle_computes, 1);
    ASSERT_EQ_INT(n.game_sessions, 0);
    hg_fl_fleet_counts(e.fl, f, "us-east-1", &n);
    ASSERT_EQ_INT(n.computes, 0);
    ASSERT_STR_EQ(last_event(f)->code, "GENERIC_EVENT");
    env_done(&e);
}

HG_TEST(tokens_are_reused_renewed_expire_and_checked)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    hg_fl_fleet_t *f = mkfleet(&e, "f", "custom-a", NULL);
    hg_fl_compute_t *c;
    ASSERT_OK(reg(&e, f, "host-1", "10.0.0.1", "custom-a", &c));
    char first[HG_FL_TOKEN_CHARS + 1];
    const hg_fl_token_t *t1 = token(&e, c);
    snprintf(first, sizeof(first), "%s", t1->token);
    ASSERT_EQ_INT(strlen(first), HG_FL_TOKEN_CHARS);
    ASSERT_EQ_INT(t1->expires_ms, T0 + HG_FL_TOKEN_TTL_MS);
    ASSERT_OK(hg_fleet_token_check(e.fl, f->id, "host-1", first, NULL));
    ASSERT_OK(hg_fleet_token_check(e.fl, f->arn, c->arn, first, NULL));

    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS / 2 - 1); /* over half left: the same one */
    ASSERT_STR_EQ(token(&e, c)->token, first);
    hg_clock_advance(&e.clock, 2);
    const hg_fl_token_t *t2 = token(&e, c);
    ASSERT_TRUE(strcmp(t2->token, first) != 0);
    char second[HG_FL_TOKEN_CHARS + 1];
    snprintf(second, sizeof(second), "%s", t2->token);
    ASSERT_EQ_INT(c->ntokens, 2);
    ASSERT_OK(hg_fleet_token_check(e.fl, f->id, "host-1", first, NULL)); /* both live */
    ASSERT_OK(hg_fleet_token_check(e.fl, f->id, "host-1", second, NULL));

    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS / 2); /* the first has expired */
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-1", first, NULL), HG_EUNAUTHORIZED);
    ASSERT_OK(hg_fleet_token_check(e.fl, f->id, "host-1", second, NULL));
    char wrong[HG_FL_TOKEN_CHARS + 1];
    snprintf(wrong, sizeof(wrong), "%s", second);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-1", wrong, NULL), HG_EUNAUTHORIZED);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-1", "", NULL), HG_EUNAUTHORIZED);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-2", second, NULL), HG_ENOTFOUND);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, "fleet-nope", "host-1", second, NULL), HG_ENOTFOUND);
    ASSERT_STR_EQ(token(&e, c)->token, second); /* half its life left: handed out again */
    ASSERT_EQ_INT(c->ntokens, 1);               /* and the expired one is dropped */

    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_compute_deregister(e.fl, c, t);
    commit(&e, t);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-1", second, NULL), HG_ENOTFOUND);
    env_done(&e);
}

HG_TEST(delete_fleet_terminates_and_drops_computes)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    hg_fl_fleet_t *f = mkfleet(&e, "f", "custom-a", NULL);
    hg_fl_compute_t *c;
    ASSERT_OK(reg(&e, f, "host-1", "10.0.0.1", "custom-a", &c));
    char tok[HG_FL_TOKEN_CHARS + 1];
    snprintf(tok, sizeof(tok), "%s", token(&e, c)->token);
    hg_clock_advance(&e.clock, 1000);
    ASSERT_OK(delete_fleet(&e, f));
    ASSERT_EQ_INT(f->status, HG_FL_TERMINATED);
    ASSERT_EQ_INT(f->terminated_ms, T0 + 1000);
    ASSERT_EQ_INT(hg_map_count(&f->computes), 0);
    ASSERT_STR_EQ(last_event(f)->code, "FLEET_DELETED");
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, f->id, "host-1", tok, NULL), HG_ENOTFOUND);
    ASSERT_EQ_INT(delete_fleet(&e, f), HG_EFLEETSTATUS);
    ASSERT_EQ_INT(reg(&e, f, "host-2", "10.0.0.2", "custom-a", NULL), HG_EFLEETSTATUS);
    hg_fl_fleet_t *page[4];
    int more;
    ASSERT_EQ_INT(hg_fl_fleet_list(e.fl, 0, 4, page, &more), 0);
    ASSERT_TRUE(hg_fl_fleet_find(e.fl, f->id) == f); /* still describable */
    env_done(&e);
}

HG_TEST(terminated_fleets_are_capped)
{
    env_t e;
    env_open(&e, 1);
    char first[64];
    for (int i = 0; i < HG_FL_MAX_TERMINATED + 3; i++) {
        hg_fl_fleet_t *f = mkfleet(&e, "f", NULL, NULL);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", f->id);
        ASSERT_OK(delete_fleet(&e, f));
    }
    ASSERT_NULL(hg_fl_fleet_find(e.fl, first));
    hg_fl_stats_t st;
    hg_fleet_stats(e.fl, &st);
    ASSERT_EQ_INT(st.terminated, HG_FL_MAX_TERMINATED);
    ASSERT_EQ_INT(st.fleets, 0);
    env_close(&e);
    env_open(&e, 0);
    hg_fleet_stats(e.fl, &st);
    ASSERT_EQ_INT(st.terminated, HG_FL_MAX_TERMINATED);
    ASSERT_NULL(hg_fl_fleet_find(e.fl, first));
    env_done(&e);
}

HG_TEST(aliases_resolve_update_and_list)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_fleet_t *f = mkfleet(&e, "f", NULL, NULL);
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_alias_t *simple, *term, *a;
    hg_fl_route_t to_f = {.terminal = 0, .fleet_id = f->id};
    hg_fl_route_t nowhere = {.terminal = 0, .fleet_id = "fleet-nope"};
    hg_fl_route_t closed = {.terminal = 1, .fleet_id = f->id, .message = "Come back later"};
    ASSERT_EQ_INT(hg_fl_alias_create(e.fl, "x", NULL, &nowhere, NULL, t, &a, &err), HG_ENOTFOUND);
    ASSERT_OK(hg_fl_alias_create(e.fl, "live", "desc", &to_f, NULL, t, &simple, &err));
    ASSERT_OK(hg_fl_alias_create(e.fl, "closed", NULL, &closed, NULL, t, &term, &err));
    ASSERT_OK(hg_fl_alias_create(e.fl, "live", NULL, &to_f, NULL, t, &a, &err)); /* names repeat */
    commit(&e, t);
    ASSERT_NULL(term->fleet_id); /* FleetId with TERMINAL is ignored */
    const char *fid;
    ASSERT_OK(hg_fl_alias_resolve(simple, &fid, &err));
    ASSERT_STR_EQ(fid, f->id);
    ASSERT_EQ_INT(hg_fl_alias_resolve(term, &fid, &err), HG_ETERMINALROUTING);
    ASSERT_STR_EQ(err.msg, "Come back later");
    ASSERT_TRUE(hg_fl_alias_find(e.fl, simple->arn) == simple);

    hg_fl_alias_t *page[4];
    int more;
    ASSERT_EQ_INT(hg_fl_alias_list(e.fl, -1, NULL, 0, 4, page, &more), 3);
    ASSERT_EQ_INT(hg_fl_alias_list(e.fl, 1, NULL, 0, 4, page, &more), 1);
    ASSERT_TRUE(page[0] == term);
    ASSERT_EQ_INT(hg_fl_alias_list(e.fl, -1, "live", 0, 1, page, &more), 1);
    ASSERT_TRUE(more && page[0] == simple);
    ASSERT_EQ_INT(hg_fl_alias_list(e.fl, -1, "live", page[0]->seq, 1, page, &more), 1);
    ASSERT_TRUE(!more && page[0] == a);

    hg_clock_advance(&e.clock, 5000);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_alias_update(e.fl, term, "reopened", NULL, &to_f, t, &err));
    commit(&e, t);
    ASSERT_OK(hg_fl_alias_resolve(term, &fid, &err));
    ASSERT_NULL(term->message);
    ASSERT_EQ_INT(term->updated_ms, T0 + 5000);
    ASSERT_STR_EQ(term->name, "reopened");
    t = hg_store_txn_new(e.store);
    hg_fl_alias_delete(e.fl, a, t);
    commit(&e, t);
    ASSERT_EQ_INT(hg_fl_alias_list(e.fl, -1, NULL, 0, 4, page, &more), 2);
    env_done(&e);
}

HG_TEST(everything_survives_reload)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    ASSERT_OK(mkloc(&e, "custom-b"));
    hg_fl_fleet_t *f = mkfleet(&e, "kept", "custom-a", "custom-b");
    hg_fl_fleet_t *gone = mkfleet(&e, "gone", NULL, NULL);
    ASSERT_OK(delete_fleet(&e, gone));
    hg_fl_compute_t *c;
    ASSERT_OK(reg(&e, f, "host-1", "10.0.0.1", "custom-b", &c));
    ASSERT_OK(reg(&e, f, "host-2", "10.0.0.2", "custom-a", NULL));
    char tok[HG_FL_TOKEN_CHARS + 1];
    snprintf(tok, sizeof(tok), "%s", token(&e, c)->token);
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_alias_t *a;
    hg_fl_route_t to_f = {.terminal = 0, .fleet_id = f->id};
    ASSERT_OK(hg_fl_alias_create(e.fl, "main", NULL, &to_f, NULL, t, &a, &err));
    ASSERT_OK(hg_fl_tags_set(e.fl, f->arn, json_pack("[{s:s,s:s}]", "Key", "team", "Value", "x"), t,
                             &err));
    commit(&e, t);
    char fid[64], gid[64], aid[64];
    snprintf(fid, sizeof(fid), "%s", f->id);
    snprintf(gid, sizeof(gid), "%s", gone->id);
    snprintf(aid, sizeof(aid), "%s", a->id);
    size_t nevents = f->nevents;
    uint64_t fseq = f->seq;
    env_close(&e);

    hg_clock_advance(&e.clock, 60000);
    env_open(&e, 0);
    f = hg_fl_fleet_find(e.fl, fid);
    ASSERT_NOT_NULL(f);
    ASSERT_EQ_INT(f->status, HG_FL_ACTIVE);
    ASSERT_EQ_INT(f->seq, fseq);
    ASSERT_STR_EQ(json_string_value(json_object_get(f->attrs, "Name")), "kept");
    ASSERT_EQ_INT(f->nlocations, 2);
    ASSERT_EQ_INT(hg_fl_location_find(e.fl, "custom-a")->nfleets, 1);
    ASSERT_EQ_INT(hg_fl_location_find(e.fl, "custom-b")->nfleets, 1);
    ASSERT_EQ_INT(f->nevents, nevents);
    ASSERT_EQ_INT(hg_map_count(&f->computes), 2);
    ASSERT_STR_EQ(hg_container_of(f->by_reg.next, hg_fl_compute_t, node)->name, "host-1");
    ASSERT_OK(hg_fleet_token_check(e.fl, fid, "host-1", tok, NULL)); /* tokens survive */
    json_t *tags;
    ASSERT_OK(hg_fl_tags_get(e.fl, f->arn, &tags, &err));
    ASSERT_EQ_INT(json_array_size(tags), 1);
    hg_fl_fleet_t *g = hg_fl_fleet_find(e.fl, gid);
    ASSERT_NOT_NULL(g);
    ASSERT_EQ_INT(g->status, HG_FL_TERMINATED);
    ASSERT_STR_EQ(last_event(g)->code, "FLEET_DELETED");
    a = hg_fl_alias_find(e.fl, aid);
    ASSERT_NOT_NULL(a);
    ASSERT_STR_EQ(a->fleet_id, fid);
    /* new objects sort after the old ones */
    hg_fl_fleet_t *h = mkfleet(&e, "new", NULL, NULL);
    ASSERT_TRUE(h->seq > last_event(f)->seq);
    hg_fl_fleet_t *page[4];
    int more;
    ASSERT_EQ_INT(hg_fl_fleet_list(e.fl, 0, 4, page, &more), 2);
    ASSERT_TRUE(page[0] == f && page[1] == h);
    env_close(&e);

    /* expired tokens are dropped at load */
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS);
    env_open(&e, 0);
    f = hg_fl_fleet_find(e.fl, fid);
    c = hg_fl_compute_find(f, "host-1");
    ASSERT_EQ_INT(c->ntokens, 0);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, fid, "host-1", tok, NULL), HG_EUNAUTHORIZED);
    env_done(&e);
}

HG_TEST(compute_pages_resume_after_deregistration)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    ASSERT_OK(mkloc(&e, "custom-b"));
    hg_fl_fleet_t *f = mkfleet(&e, "f", "custom-a", "custom-b");
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        ASSERT_OK(reg(&e, f, name, "10.0.0.1", i % 2 ? "custom-b" : "custom-a", NULL));
    }
    hg_fl_compute_t *page[3];
    int more;
    ASSERT_EQ_INT(hg_fl_compute_list(f, NULL, NULL, 0, 2, page, &more), 2);
    ASSERT_TRUE(more);
    ASSERT_STR_EQ(page[1]->name, "h1");
    uint64_t seq = page[1]->seq;
    /* the last compute of the page goes: the next page still starts after it */
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_fl_compute_deregister(e.fl, page[1], t);
    commit(&e, t);
    ASSERT_EQ_INT(hg_fl_compute_list(f, NULL, "h1", seq, 2, page, &more), 2);
    ASSERT_STR_EQ(page[0]->name, "h2");
    ASSERT_EQ_INT(hg_fl_compute_list(f, NULL, page[1]->name, page[1]->seq, 2, page, &more), 2);
    ASSERT_STR_EQ(page[0]->name, "h4");
    ASSERT_FALSE(more);
    ASSERT_EQ_INT(hg_fl_compute_list(f, "custom-a", NULL, 0, 3, page, &more), 3);
    ASSERT_STR_EQ(page[2]->name, "h4");

    /* removing a location drops its computes */
    t = hg_store_txn_new(e.store);
    hg_error_t err;
    const char *b[] = {"custom-b"};
    ASSERT_OK(hg_fl_fleet_remove_locations(e.fl, f, b, 1, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(hg_map_count(&f->computes), 3);
    ASSERT_EQ_INT(hg_fl_location_find(e.fl, "custom-b")->nfleets, 0);
    env_done(&e);
}

HG_TEST(events_are_capped_and_filtered_by_time)
{
    env_t e;
    env_open(&e, 1);
    hg_fl_fleet_t *f = mkfleet(&e, "f", NULL, NULL);
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    for (int i = 0; i < HG_FL_MAX_EVENTS; i++) {
        hg_clock_advance(&e.clock, 1000);
        hg_fl_event_add(e.fl, f, "GENERIC_EVENT", "tick", t);
    }
    commit(&e, t);
    ASSERT_EQ_INT(f->nevents, HG_FL_MAX_EVENTS);
    hg_fl_event_t *page[8];
    int more;
    ASSERT_EQ_INT(hg_fl_event_list(f, 0, 0, 0, 8, page, &more), 8);
    ASSERT_STR_EQ(page[0]->code, "GENERIC_EVENT"); /* the creation events were dropped */
    ASSERT_EQ_INT(hg_fl_event_list(f, T0 + 10000, T0 + 12000, 0, 8, page, &more), 3);
    ASSERT_FALSE(more);
    ASSERT_EQ_INT(page[0]->time_ms, T0 + 10000);
    char id[64];
    snprintf(id, sizeof(id), "%s", f->id);
    env_close(&e);
    env_open(&e, 0); /* the dropped events are gone from the store too */
    f = hg_fl_fleet_find(e.fl, id);
    ASSERT_EQ_INT(f->nevents, HG_FL_MAX_EVENTS);
    ASSERT_EQ_INT(hg_container_of(f->events.next, hg_fl_event_t, node)->time_ms, T0 + 1000);
    env_done(&e);
}

HG_TEST(tags_by_arn)
{
    env_t e;
    env_open(&e, 1);
    ASSERT_OK(mkloc(&e, "custom-a"));
    hg_fl_fleet_t *f = mkfleet(&e, "f", NULL, NULL);
    hg_error_t err;
    json_t *tags;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_tags_set(e.fl, ARN_PREFIX "location/custom-a",
                             json_pack("[{s:s,s:s}]", "Key", "k", "Value", "v"), t, &err));
    commit(&e, t);
    ASSERT_OK(hg_fl_tags_get(e.fl, ARN_PREFIX "location/custom-a", &tags, &err));
    ASSERT_EQ_INT(json_array_size(tags), 1);
    ASSERT_OK(hg_fl_tags_get(e.fl, f->arn, &tags, &err));
    ASSERT_EQ_INT(json_array_size(tags), 0);
    ASSERT_EQ_INT(hg_fl_tags_get(e.fl, ARN_PREFIX "fleet/fleet-nope", &tags, &err), HG_ENOTFOUND);
    ASSERT_EQ_INT(hg_fl_tags_get(e.fl, ARN_PREFIX "build/build-1", &tags, &err), HG_EINVAL);
    ASSERT_OK(delete_fleet(&e, f));
    ASSERT_EQ_INT(hg_fl_tags_get(e.fl, f->arn, &tags, &err), HG_ENOTFOUND);
    env_done(&e);
}

HG_SUITE(fleet) = {
    HG_CASE(locations_conflict_and_deletion_waits_for_fleets),
    HG_CASE(fleet_is_active_with_events_and_checks_locations),
    HG_CASE(compute_registration_rules),
    HG_CASE(tokens_are_reused_renewed_expire_and_checked),
    HG_CASE(delete_fleet_terminates_and_drops_computes),
    HG_CASE(terminated_fleets_are_capped),
    HG_CASE(aliases_resolve_update_and_list),
    HG_CASE(everything_survives_reload),
    HG_CASE(compute_pages_resume_after_deregistration),
    HG_CASE(events_are_capped_and_filtered_by_time),
    HG_CASE(tags_by_arn),
    HG_CASE_END,
};
