/* Unit tests: flexmatch — the FlexMatch service layer (match/flexmatch.h) on the injected clock,
 * with the real store, fleet and placement modules underneath: rule sets refused with their
 * location, a STANDALONE match with teams, acceptance accepted / rejected / timed out, stop,
 * request timeout, WITH_QUEUE through a placement to COMPLETED with the game session carrying
 * MatchmakerData, and tickets that survive a reload from the store. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fleet/session.h"
#include "match/flexmatch.h"
#include "placement/placement.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

static const int64_t T0 = 1700000000000LL;

/* 4 v 4, team skill averages within 10 of each other, relaxed to 50 after 5 s (the AWS guide's
 * fair-teams example, shortened) */
static const char RULES_4V4[] =
    "{\"name\":\"aim\",\"ruleLanguageVersion\":\"1.0\","
    "\"playerAttributes\":[{\"name\":\"skill\",\"type\":\"number\",\"default\":10}],"
    "\"teams\":[{\"name\":\"red\",\"maxPlayers\":4,\"minPlayers\":4},"
    "{\"name\":\"blue\",\"maxPlayers\":4,\"minPlayers\":4}],"
    "\"rules\":[{\"name\":\"FairTeamSkill\",\"type\":\"distance\","
    "\"measurements\":[\"avg(teams[*].players.attributes[skill])\"],"
    "\"referenceValue\":\"avg(flatten(teams[*].players.attributes[skill]))\",\"maxDistance\":10}],"
    "\"expansions\":[{\"target\":\"rules[FairTeamSkill].maxDistance\","
    "\"steps\":[{\"waitTimeSeconds\":5,\"value\":50}]}]}";

static const char RULES_1V1[] =
    "{\"ruleLanguageVersion\":\"1.0\",\"teams\":[{\"name\":\"red\",\"maxPlayers\":1,"
    "\"minPlayers\":1},{\"name\":\"blue\",\"maxPlayers\":1,\"minPlayers\":1}]}";

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_fleet_t *fl;
    hg_placement_t *pl;
    hg_flexmatch_t *fm;
    hg_fl_fleet_t *f;
    hg_fl_compute_t *comp;
    hg_pl_queue_t *q;
    char events[4096]; /* "Type,Type,…" */
    char pushes[1024]; /* UpdateGameSession pushes: "REASON:ticket,…" */
    char dir[64];
} env_t;

static void on_event(void *ud, hg_store_txn_t *txn, const hg_fm_config_t *c, const char *type,
                     const char *text, size_t len)
{
    (void)txn;
    (void)c;
    env_t *e = ud;
    json_error_t je;
    json_t *detail = json_loadb(text, len, 0, &je);
    if (detail == NULL)
        HG_FAIL_("event %s is not JSON: %s: %.*s", type, je.text, (int)len, text);
    ASSERT_STR_EQ(json_string_value(json_object_get(detail, "type")), type);
    ASSERT_TRUE(
        json_is_array(json_object_get(json_object_get(detail, "gameSessionInfo"), "players")));
    json_decref(detail);
    size_t n = strlen(e->events);
    snprintf(e->events + n, sizeof(e->events) - n, "%s%s", n ? "," : "", type);
}

static void on_pl_ended(void *ud, hg_store_txn_t *txn, const hg_pl_placement_t *p)
{
    hg_fm_on_placement(((env_t *)ud)->fm, txn, p);
}

static void on_pl_wake(void *ud)
{
    (void)ud;
}

static void on_session(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    env_t *e = ud;
    hg_pl_on_session(e->pl, txn, gs);
    if (e->fm)
        hg_fm_on_session(e->fm, txn, gs);
}

static void on_slot_freed(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    hg_fm_on_slot_freed(((env_t *)ud)->fm, txn, gs);
}

static void on_update_session(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs,
                              const char *reason, const char *ticket)
{
    (void)p;
    (void)gs;
    env_t *e = ud;
    size_t n = strlen(e->pushes);
    snprintf(e->pushes + n, sizeof(e->pushes) - n, "%s%s:%s", n ? "," : "", reason,
             ticket ? ticket : "");
}

static void commit(env_t *e, hg_store_txn_t *t)
{
    hg_test_commit(&e->loop, t);
}

/* The modules over the store in e->dir (fresh: also a fleet, a compute and a queue). */
static void modules_open(env_t *e, int fresh)
{
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-east-1", .account = "000000000000"};
    e->fl = hg_fleet_new(&e->clock, e->store, &cfg);
    hg_fl_sink_t fs = {.session = on_session,
                       .slot_freed = on_slot_freed,
                       .update_session = on_update_session,
                       .ud = e};
    e->fm = NULL;
    hg_fleet_set_sink(e->fl, &fs);
    ASSERT_OK(hg_fleet_load(e->fl));
    e->pl = hg_placement_new(&e->clock, e->store, e->fl, "us-east-1", "000000000000");
    hg_pl_sink_t ps = {.ended = on_pl_ended, .wake = on_pl_wake, .ud = e};
    hg_placement_set_sink(e->pl, &ps);
    ASSERT_OK(hg_placement_load(e->pl));
    e->fm = hg_flexmatch_new(&e->clock, e->store, e->pl, e->fl, "us-east-1", "000000000000");
    hg_fm_sink_t ms = {.event = on_event, .ud = e};
    hg_flexmatch_set_sink(e->fm, &ms);
    ASSERT_OK(hg_flexmatch_load(e->fm));
    if (!fresh) {
        e->q = hg_pl_queue_find(e->pl, "q");
        return;
    }
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fl_location_t *loc;
    ASSERT_OK(hg_fl_location_create(e->fl, "custom-tokyo", NULL, t, &loc, &err));
    const char *locs[] = {"custom-tokyo"};
    ASSERT_OK(hg_fl_fleet_create(e->fl, json_object(), locs, 1, NULL, t, &e->f, &err));
    ASSERT_OK(hg_fl_compute_register(e->fl, e->f, "tk", "10.0.0.1", NULL, NULL, "custom-tokyo", t,
                                     &e->comp, &err));
    const char *dests[] = {e->f->arn};
    hg_pl_queue_in_t in = {.timeout_s = 20, .dests = dests, .ndests = 1, .has_dests = 1};
    ASSERT_OK(hg_pl_queue_create(e->pl, "q", &in, NULL, t, &e->q, &err));
    commit(e, t);
}

static void modules_close(env_t *e)
{
    hg_store_close(e->store);
    hg_flexmatch_free(e->fm);
    hg_placement_free(e->pl);
    hg_fleet_free(e->fl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
}

static void env_open(env_t *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-fm-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    hg_clock_init_manual(&e->clock, T0);
    uv_loop_init(&e->loop);
    modules_open(e, 1);
}

static void env_done(env_t *e)
{
    modules_close(e);
    ASSERT_OK(uv_loop_close(&e->loop));
    hg_test_rmtree(e->dir);
}

static hg_fm_ruleset_t *ruleset(env_t *e, const char *name, const char *body)
{
    hg_error_t err;
    hg_fm_ruleset_t *rs;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fm_ruleset_create(e->fm, name, body, strlen(body), NULL, t, &rs, &err));
    commit(e, t);
    return rs;
}

/* A configuration from a JSON text of its API members. */
static hg_fm_config_t *config(env_t *e, const char *name, const char *members)
{
    hg_error_t err;
    hg_fm_config_t *c;
    json_t *cfg = json_loads(members, 0, NULL);
    ASSERT_NOT_NULL(cfg);
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    int rc = hg_fm_config_create(e->fm, name, cfg, NULL, t, &c, &err);
    if (rc)
        HG_FAIL_("config %s: %s", name, err.msg);
    commit(e, t);
    json_decref(cfg);
    return c;
}

static hg_fm_ticket_t *ticket(env_t *e, hg_fm_config_t *c, const char *id, const char *player,
                              double skill)
{
    hg_error_t err;
    hg_fm_ticket_t *tk;
    int existed;
    json_t *players =
        json_pack("[{s:s,s:{s:{s:f}},s:{s:i}}]", "PlayerId", player, "PlayerAttributes", "skill",
                  "N", skill, "LatencyInMs", "custom-tokyo", 20);
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fm_start(e->fm, c, id, players, t, &tk, &existed, &err));
    commit(e, t);
    json_decref(players);
    return tk;
}

static void batch(env_t *e)
{
    hg_fm_batch(e->fm);
    hg_test_commit(&e->loop, hg_store_txn_new(e->store));
}

static void tick(env_t *e)
{
    hg_fm_tick(e->fm, 1000);
    hg_fleet_tick(e->fl, 1000);
    hg_pl_tick(e->pl, 1000);
    hg_test_commit(&e->loop, hg_store_txn_new(e->store));
}

HG_TEST(rule_sets_are_refused_with_their_location_and_kept_whole)
{
    env_t e;
    env_open(&e);
    hg_error_t err;
    hg_fm_ruleset_t *rs;
    const char *bad = "{\"ruleLanguageVersion\":\"1.0\",\"teams\":[{\"name\":\"red\","
                      "\"maxPlayers\":4,\"minPlayers\":1},{\"name\":\"blue\",\"maxPlayers\":500,"
                      "\"minPlayers\":1}]}";
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_ruleset_create(e.fm, "bad", bad, strlen(bad), NULL, t, &rs, &err),
                  HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "location: teams section: array index=1") != NULL);
    ASSERT_OK(hg_fm_ruleset_create(e.fm, "aim", RULES_4V4, strlen(RULES_4V4), NULL, t, &rs, &err));
    ASSERT_EQ_INT(
        hg_fm_ruleset_create(e.fm, "aim", RULES_4V4, strlen(RULES_4V4), NULL, t, &rs, &err),
        HG_ECONFLICT);
    commit(&e, t);
    ASSERT_STR_EQ(rs->arn, "arn:aws:gamelift:us-east-1:000000000000:matchmakingruleset/aim");
    ASSERT_TRUE(hg_fm_ruleset_find(e.fm, rs->arn) == rs);
    /* a configuration naming an unknown rule set, or WITH_QUEUE without a queue */
    json_t *cfg = json_pack("{s:s,s:i,s:b}", "RuleSetName", "nope", "RequestTimeoutSeconds", 10,
                            "AcceptanceRequired", 0);
    hg_fm_config_t *c;
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_config_create(e.fm, "c", cfg, NULL, t, &c, &err), HG_ENOTFOUND);
    json_object_set_new(cfg, "RuleSetName", json_string("aim"));
    ASSERT_EQ_INT(hg_fm_config_create(e.fm, "c", cfg, NULL, t, &c, &err), HG_EINVAL);
    json_object_set_new(cfg, "FlexMatchMode", json_string("STANDALONE"));
    ASSERT_OK(hg_fm_config_create(e.fm, "c", cfg, NULL, t, &c, &err));
    /* a rule set in use cannot be deleted */
    ASSERT_EQ_INT(hg_fm_ruleset_delete(e.fm, rs, t, &err), HG_EINVAL);
    commit(&e, t);
    json_decref(cfg);
    env_done(&e);
}

HG_TEST(standalone_eight_players_make_one_match_with_teams)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "aim", RULES_4V4);
    hg_fm_config_t *c =
        config(&e, "solo",
               "{\"RuleSetName\":\"aim\",\"RequestTimeoutSeconds\":60,\"AcceptanceRequired\":false,"
               "\"FlexMatchMode\":\"STANDALONE\",\"CustomEventData\":\"ce\"}");
    hg_fm_ticket_t *tk[8];
    char id[8], pid[8];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        snprintf(pid, sizeof(pid), "p%d", i);
        tk[i] = ticket(&e, c, id, pid, 10 + i);
        ASSERT_EQ_INT(tk[i]->status, HG_FM_QUEUED);
    }
    hg_clock_advance(&e.clock, 1000);
    batch(&e);
    int red = 0, blue = 0;
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ_INT(tk[i]->status, HG_FM_COMPLETED);
        ASSERT_NOT_NULL(tk[i]->players[0].team);
        red += strcmp(tk[i]->players[0].team, "red") == 0;
        blue += strcmp(tk[i]->players[0].team, "blue") == 0;
        ASSERT_STR_EQ(tk[i]->match_id, tk[0]->match_id);
    }
    ASSERT_EQ_INT(red, 4);
    ASSERT_EQ_INT(blue, 4);
    ASSERT_TRUE(strstr(e.events, "MatchmakingSearching") == e.events);
    ASSERT_TRUE(strstr(e.events, "PotentialMatchCreated,MatchmakingSucceeded") != NULL);
    hg_fm_stats_t st;
    hg_flexmatch_stats(e.fm, &st);
    ASSERT_EQ_INT(st.matches, 1);
    ASSERT_EQ_INT(st.matched_tickets, 8);
    ASSERT_EQ_INT(st.wait_ms_total, 8000);
    ASSERT_EQ_INT(hg_fm_wait_bounds_ms[4], 1000);
    ASSERT_EQ_INT(st.wait_buckets[4], 8); /* 1 s each: the bucket "up to 1 s" */
    /* EstimatedWaitTime: the configuration's recent waits (each ticket waited 1 s), until
     * nothing matched for HG_FM_WAIT_RECENT_MS */
    ASSERT_EQ_INT(hg_fm_estimated_wait_ms(e.fm, c), 1000);
    /* the same ticket id again: the same ticket */
    hg_fm_ticket_t *again = ticket(&e, c, "t0", "zz", 1);
    ASSERT_TRUE(again == tk[0]);
    /* ids the service makes are time-ordered UUIDs (version 7): the later ticket sorts after,
     * whatever the random part */
    hg_fm_ticket_t *g1 = ticket(&e, c, NULL, "g1", 1);
    hg_clock_advance(&e.clock, 1);
    hg_fm_ticket_t *g2 = ticket(&e, c, "", "g2", 1);
    ASSERT_EQ_INT(strlen(g1->id), 36);
    ASSERT_EQ_INT(g1->id[14], '7');
    ASSERT_TRUE(strchr("89ab", g1->id[19]) != NULL);
    ASSERT_TRUE(strcmp(g1->id, g2->id) < 0);
    char ms_hex[13];
    snprintf(ms_hex, sizeof(ms_hex), "%012llx", (unsigned long long)hg_clock_now_ms(&e.clock) - 1);
    ASSERT_TRUE(strncmp(g1->id, ms_hex, 8) == 0 && strncmp(g1->id + 9, ms_hex + 8, 4) == 0);
    ASSERT_EQ_INT(hg_fm_estimated_wait_ms(e.fm, c), 1000);
    hg_clock_advance(&e.clock, HG_FM_WAIT_RECENT_MS);
    ASSERT_EQ_INT(hg_fm_estimated_wait_ms(e.fm, c), -1);
    env_done(&e);
}

HG_TEST(acceptance_accepted_rejected_and_timed_out)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "duel", RULES_1V1);
    hg_fm_config_t *c = config(
        &e, "acc",
        "{\"RuleSetName\":\"duel\",\"RequestTimeoutSeconds\":300,\"AcceptanceRequired\":true,"
        "\"AcceptanceTimeoutSeconds\":10,\"FlexMatchMode\":\"STANDALONE\"}");
    hg_error_t err;
    /* accepted by both */
    hg_fm_ticket_t *a = ticket(&e, c, "a", "pa", 1), *b = ticket(&e, c, "b", "pb", 1);
    batch(&e);
    ASSERT_EQ_INT(a->status, HG_FM_REQUIRES_ACCEPTANCE);
    ASSERT_EQ_INT(b->status, HG_FM_REQUIRES_ACCEPTANCE);
    const char *pa[] = {"pa"}, *pb[] = {"pb"}, *px[] = {"px"};
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_accept(e.fm, a, px, 1, 1, t, &err), HG_EINVAL);
    ASSERT_OK(hg_fm_accept(e.fm, a, pa, 1, 1, t, &err));
    ASSERT_EQ_INT(a->status, HG_FM_REQUIRES_ACCEPTANCE);
    ASSERT_OK(hg_fm_accept(e.fm, b, pb, 1, 1, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(a->status, HG_FM_COMPLETED);
    ASSERT_EQ_INT(b->status, HG_FM_COMPLETED);
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_accept(e.fm, a, pa, 1, 1, t, &err), HG_EINVAL); /* not waiting now */
    commit(&e, t);

    /* c rejects: c CANCELLED, d (accepted) back to SEARCHING */
    hg_fm_ticket_t *tc = ticket(&e, c, "c", "pc", 1), *td = ticket(&e, c, "d", "pd", 1);
    batch(&e);
    const char *pc[] = {"pc"}, *pd[] = {"pd"};
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_accept(e.fm, td, pd, 1, 1, t, &err));
    ASSERT_OK(hg_fm_accept(e.fm, tc, pc, 1, 0, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(tc->status, HG_FM_CANCELLED);
    ASSERT_EQ_INT(td->status, HG_FM_SEARCHING);
    ASSERT_NULL(td->players[0].team);

    /* f and d match; f never answers: f CANCELLED at the timeout, d (accepted) searches again */
    hg_fm_ticket_t *tf = ticket(&e, c, "f", "pf", 1);
    batch(&e);
    ASSERT_EQ_INT(tf->status, HG_FM_REQUIRES_ACCEPTANCE);
    ASSERT_EQ_INT(td->status, HG_FM_REQUIRES_ACCEPTANCE);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_accept(e.fm, td, pd, 1, 1, t, &err));
    commit(&e, t);
    hg_clock_advance(&e.clock, 9999);
    tick(&e);
    ASSERT_EQ_INT(tf->status, HG_FM_REQUIRES_ACCEPTANCE);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(tf->status, HG_FM_CANCELLED);
    ASSERT_EQ_INT(td->status, HG_FM_SEARCHING);
    ASSERT_TRUE(strstr(e.events, "AcceptMatchCompleted") != NULL);
    env_done(&e);
}

HG_TEST(stop_and_request_timeout)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "aim", RULES_4V4);
    hg_fm_config_t *c = config(&e, "slow",
                               "{\"RuleSetName\":\"aim\",\"RequestTimeoutSeconds\":5,"
                               "\"AcceptanceRequired\":false,\"FlexMatchMode\":\"STANDALONE\"}");
    hg_fm_ticket_t *a = ticket(&e, c, "a", "pa", 1), *b = ticket(&e, c, "b", "pb", 1);
    batch(&e);
    ASSERT_EQ_INT(a->status, HG_FM_SEARCHING);
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_stop(e.fm, b, t, &err));
    ASSERT_OK(hg_fm_stop(e.fm, b, t, &err)); /* again: nothing changes */
    commit(&e, t);
    ASSERT_EQ_INT(b->status, HG_FM_CANCELLED);
    hg_clock_advance(&e.clock, 4999);
    tick(&e);
    ASSERT_EQ_INT(a->status, HG_FM_SEARCHING);
    hg_clock_advance(&e.clock, 1);
    tick(&e);
    ASSERT_EQ_INT(a->status, HG_FM_TIMED_OUT);
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_stop(e.fm, a, t, &err), HG_EINVAL);
    commit(&e, t);
    ASSERT_TRUE(strstr(e.events, "MatchmakingCancelled") != NULL);
    ASSERT_TRUE(strstr(e.events, "MatchmakingTimedOut") != NULL);

    /* a shorter timeout from an update: a newer ticket's deadline comes before an older one's,
     * and the tick (which visits only the expired head while the order holds) still finds it */
    hg_fm_ticket_t *o = ticket(&e, c, "old", "po", 1);
    json_t *ch = json_pack("{s:i}", "RequestTimeoutSeconds", 2);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_config_update(e.fm, c, ch, t, &err));
    commit(&e, t);
    json_decref(ch);
    hg_fm_ticket_t *y = ticket(&e, c, "young", "py", 1);
    hg_clock_advance(&e.clock, 2000);
    tick(&e);
    ASSERT_EQ_INT(y->status, HG_FM_TIMED_OUT);
    ASSERT_EQ_INT(o->status, HG_FM_QUEUED);
    hg_clock_advance(&e.clock, 3000);
    tick(&e);
    ASSERT_EQ_INT(o->status, HG_FM_TIMED_OUT);
    env_done(&e);
}

static int conn1;

/* A server process "p" connects on the compute and goes ready; the pending placement puts its
 * game session on it. */
static hg_fl_process_t *process_places(env_t *e)
{
    hg_error_t err;
    hg_fl_process_t *proc;
    int created;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(
        hg_fl_proc_connect(e->fl, e->f, e->comp, "p", &conn1, NULL, t, &proc, &created, &err));
    ASSERT_OK(hg_fl_proc_ready(e->fl, proc, 7000, NULL, NULL, NULL, t, &err));
    commit(e, t);
    hg_pl_run(e->pl, 100);
    hg_test_commit(&e->loop, hg_store_txn_new(e->store));
    return proc;
}

HG_TEST(with_queue_places_the_match_and_completes_with_the_session)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "duel", RULES_1V1);
    char members[512];
    snprintf(members, sizeof(members),
             "{\"RuleSetName\":\"duel\",\"RequestTimeoutSeconds\":60,\"AcceptanceRequired\":false,"
             "\"GameSessionQueueArns\":[\"%s\"],\"GameSessionData\":\"gsd\","
             "\"GameProperties\":[{\"Key\":\"mode\",\"Value\":\"duel\"}]}",
             e.q->arn);
    hg_fm_config_t *c = config(&e, "queued", members);
    hg_fm_ticket_t *a = ticket(&e, c, "a", "pa", 1), *b = ticket(&e, c, "b", "pb", 2);
    batch(&e);
    ASSERT_EQ_INT(a->status, HG_FM_PLACING);
    hg_pl_placement_t *p = hg_pl_find(e.pl, a->match_id);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT(p->nlat, 2);
    /* a server process appears: the placement creates the session, which goes ACTIVE */
    hg_error_t err;
    hg_store_txn_t *t;
    hg_fl_process_t *proc = process_places(&e);
    ASSERT_NOT_NULL(p->gs_arn);
    hg_fl_gsession_t *gs = hg_fl_gs_find(e.fl, p->gs_arn);
    ASSERT_NOT_NULL(gs->matchmaker_data);
    json_t *md = json_loads(gs->matchmaker_data, 0, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(md, "matchId")), a->match_id);
    ASSERT_STR_EQ(json_string_value(json_object_get(md, "matchmakingConfigurationArn")), c->arn);
    ASSERT_EQ_INT(json_array_size(json_object_get(md, "teams")), 2);
    json_t *p0 = json_array_get(
        json_object_get(json_array_get(json_object_get(md, "teams"), 0), "players"), 0);
    ASSERT_STR_EQ(
        json_string_value(json_object_get(
            json_object_get(json_object_get(p0, "attributes"), "skill"), "attributeType")),
        "DOUBLE");
    json_decref(md);
    ASSERT_STR_EQ(gs->data, "gsd");
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_activate(e.fl, proc, p->gs_arn, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(a->status, HG_FM_COMPLETED);
    ASSERT_EQ_INT(b->status, HG_FM_COMPLETED);
    ASSERT_STR_EQ(a->gs_arn, p->gs_arn);
    ASSERT_STR_EQ(a->ip, "10.0.0.1");
    ASSERT_EQ_INT(a->port, 7000);
    ASSERT_TRUE(a->players[0].psid[0] != '\0');
    ASSERT_TRUE(strstr(e.events, "MatchmakingSucceeded") != NULL);

    /* a placement that times out fails its tickets */
    hg_fm_ticket_t *x = ticket(&e, c, "x", "px", 1), *y = ticket(&e, c, "y", "py", 1);
    batch(&e);
    ASSERT_EQ_INT(x->status, HG_FM_PLACING);
    hg_clock_advance(&e.clock, 20000);
    tick(&e);
    ASSERT_EQ_INT(x->status, HG_FM_FAILED);
    ASSERT_EQ_INT(y->status, HG_FM_FAILED);
    env_done(&e);
}

HG_TEST(tickets_survive_a_restart_and_resume)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "duel", RULES_1V1);
    ruleset(&e, "aim", RULES_4V4);
    hg_fm_config_t *c = config(
        &e, "acc",
        "{\"RuleSetName\":\"duel\",\"RequestTimeoutSeconds\":300,\"AcceptanceRequired\":true,"
        "\"AcceptanceTimeoutSeconds\":10,\"FlexMatchMode\":\"STANDALONE\"}");
    ticket(&e, c, "a", "pa", 1);
    ticket(&e, c, "b", "pb", 1);
    batch(&e);
    const char *pa[] = {"pa"};
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_accept(e.fm, hg_fm_find(e.fm, "a"), pa, 1, 1, t, &err));
    commit(&e, t);
    ticket(&e, c, "s", "ps", 1); /* QUEUED */
    /* "kill": close everything and load from the store */
    modules_close(&e);
    e.events[0] = '\0';
    modules_open(&e, 0);
    ASSERT_NOT_NULL(hg_fm_ruleset_find(e.fm, "aim"));
    c = hg_fm_config_find(e.fm, "acc");
    ASSERT_NOT_NULL(c);
    ASSERT_TRUE(c->accept_required && c->accept_timeout_s == 10 && c->standalone);
    hg_fm_ticket_t *a = hg_fm_find(e.fm, "a"), *b = hg_fm_find(e.fm, "b"),
                   *s = hg_fm_find(e.fm, "s");
    ASSERT_EQ_INT(a->status, HG_FM_REQUIRES_ACCEPTANCE);
    ASSERT_EQ_INT(a->players[0].answer, 1);
    ASSERT_TRUE(a->match == b->match && a->match != NULL);
    ASSERT_EQ_INT(s->status, HG_FM_QUEUED);
    /* the acceptance completes after the restart */
    const char *pb[] = {"pb"};
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_accept(e.fm, b, pb, 1, 1, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(a->status, HG_FM_COMPLETED);
    /* the queued one searches again and times out on its original deadline */
    batch(&e);
    ASSERT_EQ_INT(s->status, HG_FM_SEARCHING);
    /* unmatched, its SEARCHING record was written at the batch's end: a reload shows it */
    modules_close(&e);
    modules_open(&e, 0);
    s = hg_fm_find(e.fm, "s");
    ASSERT_NOT_NULL(s);
    ASSERT_EQ_INT(s->status, HG_FM_SEARCHING);
    hg_clock_advance(&e.clock, 300000);
    tick(&e);
    ASSERT_EQ_INT(s->status, HG_FM_TIMED_OUT);
    env_done(&e);
}

/* The players' team names in gs's MatchmakerData, "team:player,…" in its order. */
static void md_players(const hg_fl_gsession_t *gs, char *out, size_t cap)
{
    json_t *md = json_loads(gs->matchmaker_data, 0, NULL);
    ASSERT_NOT_NULL(md);
    size_t i, j, n = 0;
    json_t *team, *p;
    out[0] = '\0';
    json_array_foreach (json_object_get(md, "teams"), i, team)
        json_array_foreach (json_object_get(team, "players"), j, p)
            n += (size_t)snprintf(out + n, cap - n, "%s%s:%s", n ? "," : "",
                                  json_string_value(json_object_get(team, "name")),
                                  json_string_value(json_object_get(p, "playerId")));
    json_decref(md);
}

/* Backfill of a FlexMatch game session: a player leaves and automatic backfill finds a new one
 * (a player session on the same session, MatchmakerData with every player and the same matchId,
 * UpdateGameSession pushed); a manual StartMatchBackfill refused for a team the rule set lacks
 * and failing on a full match (BACKFILL_FAILED pushed); stopping the automatic ticket turns
 * automatic backfill off for the session; a backfill ticket survives a reload. */
HG_TEST(backfill_after_a_player_leaves_automatic_and_manual)
{
    env_t e;
    env_open(&e);
    ruleset(&e, "duel", RULES_1V1);
    char members[512];
    snprintf(members, sizeof(members),
             "{\"RuleSetName\":\"duel\",\"RequestTimeoutSeconds\":60,\"AcceptanceRequired\":false,"
             "\"GameSessionQueueArns\":[\"%s\"],\"BackfillMode\":\"AUTOMATIC\"}",
             e.q->arn);
    hg_fm_config_t *c = config(&e, "auto", members);
    hg_fm_ticket_t *a = ticket(&e, c, "a", "pa", 1);
    ticket(&e, c, "b", "pb", 2);
    batch(&e);
    hg_error_t err;
    int created;
    hg_store_txn_t *t;
    hg_fl_process_t *proc = process_places(&e);
    char arn[256];
    snprintf(arn, sizeof(arn), "%s", hg_pl_find(e.pl, a->match_id)->gs_arn);
    hg_fl_gsession_t *gs = hg_fl_gs_find(e.fl, arn);
    json_t *md0 = json_loads(gs->matchmaker_data, 0, NULL);
    char match_id[64];
    snprintf(match_id, sizeof(match_id), "%s", json_string_value(json_object_get(md0, "matchId")));
    ASSERT_STR_EQ(json_string_value(json_object_get(md0, "autoBackfillMode")), "AUTOMATIC");
    json_decref(md0);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_gs_activate(e.fl, proc, arn, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(a->status, HG_FM_COMPLETED);
    ASSERT_EQ_INT(gs->nplayers, 2);
    ASSERT_EQ_INT(c->nbackfills, 0); /* a full match starts no backfill */

    /* pb leaves: an automatic backfill ticket with pa on its team */
    hg_fl_psession_t *pss[4];
    int more;
    ASSERT_EQ_INT(hg_fl_ps_list_gs(gs, -1, 0, 4, pss, &more), 2);
    hg_fl_psession_t *leaver = strcmp(pss[0]->player_id, "pb") == 0 ? pss[0] : pss[1];
    const char *pa_team = a->players[0].team;
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_remove(e.fl, proc, arn, leaver->id, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(c->nbackfills, 1);
    hg_fm_ticket_t *bf = hg_container_of(c->backfills.next, hg_fm_ticket_t, cnode);
    ASSERT_TRUE(bf->backfill && bf->auto_bf);
    ASSERT_STR_EQ(bf->bf_gs, arn);
    ASSERT_EQ_INT(bf->nplayers, 1);
    ASSERT_STR_EQ(bf->players[0].id, "pa");
    ASSERT_STR_EQ(bf->players[0].team, pa_team);
    char bf_id[64];
    snprintf(bf_id, sizeof(bf_id), "%s", bf->id);
    /* nobody waiting: it searches */
    batch(&e);
    ASSERT_EQ_INT(bf->status, HG_FM_SEARCHING);
    /* a reload keeps it searching for its session */
    modules_close(&e);
    e.events[0] = '\0';
    modules_open(&e, 0);
    c = hg_fm_config_find(e.fm, "auto");
    gs = hg_fl_gs_find(e.fl, arn);
    bf = hg_fm_find(e.fm, bf_id);
    ASSERT_NOT_NULL(bf);
    ASSERT_EQ_INT(bf->status, HG_FM_SEARCHING);
    ASSERT_EQ_INT(c->nbackfills, 1);
    ASSERT_STR_EQ(bf->players[0].team, bf->mplayers[0].team);
    t = hg_store_txn_new(e.store); /* its server process reconnects */
    ASSERT_OK(hg_fl_proc_connect(e.fl, gs->fleet, hg_fl_compute_find(gs->fleet, "tk"), "p", &conn1,
                                 NULL, t, &proc, &created, &err));
    commit(&e, t);
    ASSERT_EQ_INT(created, 0);
    /* a new player's ticket fills it */
    hg_fm_ticket_t *x = ticket(&e, c, "x", "px", 3);
    batch(&e);
    ASSERT_EQ_INT(x->status, HG_FM_COMPLETED);
    ASSERT_EQ_INT(bf->status, HG_FM_COMPLETED);
    ASSERT_STR_EQ(x->gs_arn, arn);
    ASSERT_TRUE(strncmp(x->players[0].psid, "psess-", 6) == 0);
    ASSERT_TRUE(strcmp(x->players[0].team, bf->players[0].team) != 0);
    ASSERT_EQ_INT(gs->nplayers, 2);
    char who[256];
    md_players(gs, who, sizeof(who));
    ASSERT_TRUE(strstr(who, "pa") && strstr(who, "px") && !strstr(who, "pb"));
    json_t *md = json_loads(gs->matchmaker_data, 0, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(md, "matchId")), match_id);
    ASSERT_STR_EQ(json_string_value(json_object_get(md, "autoBackfillTicketId")), bf_id);
    json_decref(md);
    char want[128];
    snprintf(want, sizeof(want), "MATCHMAKING_DATA_UPDATED:%s", bf_id);
    ASSERT_STR_EQ(e.pushes, want);
    ASSERT_TRUE(strstr(e.events, "MatchmakingSucceeded") != NULL);

    /* manual: a team the rule set lacks is refused; a full match fails and the server hears */
    proc = gs->process;
    json_t *bad = json_pack("[{s:s,s:s}]", "PlayerId", "pa", "Team", "green");
    json_t *good = json_pack("[{s:s,s:s},{s:s,s:s}]", "PlayerId", "pa", "Team", "red", "PlayerId",
                             "px", "Team", "blue");
    hg_fm_ticket_t *m;
    int existed;
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_fm_backfill_start(e.fm, c, "m0", arn, bad, NULL, t, &m, &existed, &err),
                  HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "green") != NULL);
    ASSERT_EQ_INT(
        hg_fm_backfill_start(e.fm, c, "m1", "arn:nope", good, NULL, t, &m, &existed, &err),
        HG_ENOTFOUND);
    ASSERT_OK(hg_fm_backfill_start(e.fm, c, "m1", arn, good, NULL, t, &m, &existed, &err));
    commit(&e, t);
    ticket(&e, c, "y", "py", 1);
    batch(&e);
    ASSERT_EQ_INT(m->status, HG_FM_FAILED);
    ASSERT_TRUE(strstr(m->message, "open player slot") != NULL);
    ASSERT_TRUE(strstr(e.pushes, "BACKFILL_FAILED:m1") != NULL);

    /* stopping the automatic ticket (ended or not) turns automatic backfill off */
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fm_stop(e.fm, bf, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(hg_fl_ps_list_gs(gs, HG_PS_RESERVED, 0, 4, pss, &more), 2);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_remove(e.fl, proc, arn, pss[0]->id, t, &err));
    commit(&e, t);
    ASSERT_EQ_INT(c->nbackfills, 0);
    json_decref(bad);
    json_decref(good);
    env_done(&e);
}

/* A batch that runs out of its time budget yields (hg_fm_more) and leaves the rest — QUEUED
 * tickets, matches not applied — to the next batches, which finish the job: every ticket ends in
 * exactly one match. */
HG_TEST(a_batch_past_its_budget_yields_and_the_next_ones_finish)
{
    env_t e;
    env_open(&e);
    hg_match_opts_t opts = {0};
    hg_flexmatch_set_budget(e.fm, &opts, 1); /* 1 ms: far less than 1,024 tickets need */
    ruleset(&e, "aim", RULES_4V4);
    hg_fm_config_t *c = config(&e, "solo",
                               "{\"RuleSetName\":\"aim\",\"RequestTimeoutSeconds\":600,"
                               "\"AcceptanceRequired\":false,\"FlexMatchMode\":\"STANDALONE\"}");
    enum { N = 1024 };
    static hg_fm_ticket_t *tk[N];
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    for (int i = 0; i < N; i++) {
        char id[16], pid[16];
        hg_error_t err;
        int existed;
        snprintf(id, sizeof(id), "t%d", i);
        snprintf(pid, sizeof(pid), "p%d", i);
        json_t *players = json_pack("[{s:s,s:{s:{s:i}}}]", "PlayerId", pid, "PlayerAttributes",
                                    "skill", "N", 10 + i % 5);
        ASSERT_OK(hg_fm_start(e.fm, c, id, players, t, &tk[i], &existed, &err));
        json_decref(players);
    }
    commit(&e, t);
    hg_clock_advance(&e.clock, 1000);
    batch(&e);
    ASSERT_TRUE(hg_fm_more(e.fm)); /* it yielded */
    size_t done = 0;
    for (int i = 0; i < N; i++)
        done += tk[i]->status == HG_FM_COMPLETED;
    ASSERT_TRUE(done < N);
    int batches = 1;
    while (hg_fm_more(e.fm) && batches < 10000) {
        batch(&e);
        batches++;
    }
    ASSERT_FALSE(hg_fm_more(e.fm));
    hg_fm_stats_t st;
    hg_flexmatch_stats(e.fm, &st);
    ASSERT_EQ_INT(st.matched_tickets, N);
    ASSERT_EQ_INT(st.matches, N / 8);
    for (int i = 0; i < N; i++)
        ASSERT_EQ_INT(tk[i]->status, HG_FM_COMPLETED);
    env_done(&e);
}

HG_SUITE(flexmatch) = {HG_CASE(a_batch_past_its_budget_yields_and_the_next_ones_finish),
                       HG_CASE(backfill_after_a_player_leaves_automatic_and_manual),
                       HG_CASE(rule_sets_are_refused_with_their_location_and_kept_whole),
                       HG_CASE(standalone_eight_players_make_one_match_with_teams),
                       HG_CASE(acceptance_accepted_rejected_and_timed_out),
                       HG_CASE(stop_and_request_timeout),
                       HG_CASE(with_queue_places_the_match_and_completes_with_the_session),
                       HG_CASE(tickets_survive_a_restart_and_resume),
                       HG_CASE_END};
