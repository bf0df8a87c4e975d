/* hangar — FlexMatch service: rule sets, configurations, tickets, the matchmaker (design and the
 * state table in flexmatch.h; the service as documented for users in docs/flexmatch.md §10).
 *
 * Durable records (collection → key → value):
 *   match.rulesets  name      → {arn, body, created_ms, seq, tags}
 *   match.configs   name      → {arn, cfg (the API members), created_ms, seq, tags}
 *   match.tickets   ticket id → {config, status, reason, message, start_ms, end_ms, deadline_ms,
 *                                players (the request's Players), teams, answers, psids, match,
 *                                accept_deadline_ms, gs, ip, dns, port, seq}
 * A rule set is compiled again from its body on load; a configuration's settings are parsed from
 * cfg, so cfg is the one copy of them on disk. Matches are not records of their own: the tickets
 * of one match carry its id, their teams and their players' answers, and load groups them again.
 * A match being placed is tied to its placement by id (the placement id is the match id), so a
 * placement that ended while hangard was down is applied on load.
 *
 * The batch. Per configuration, in creation order from where the last batch stopped: QUEUED
 * tickets become SEARCHING; the SEARCHING ones form the pool handed to hg_match_run with the
 * work budget (evaluations); each proposal becomes a match. A batch stops taking configurations
 * once it spent its wall-time budget; the next starts with the one it did not reach.
 */
#include "match/flexmatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/map.h"
#include "core/vec.h"

#define COLL_RULESETS "match.rulesets"
#define COLL_CONFIGS "match.configs"
#define COLL_TICKETS "match.tickets"
#define COLL_BF_OFF "match.autobackfill_off" /* game session ARN → {} */
/* a match holds at most this many players, so at most this many tickets */
#define MATCH_MAX_TICKETS HG_RULES_LARGE_MAX_PLAYERS

struct hg_flexmatch {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_placement_t *pl;
    hg_fleet_t *fl;
    char region[32], account[16];
    hg_fm_sink_t sink;
    hg_match_opts_t opts;
    int64_t batch_budget_ms;
    hg_map_t rulesets; /* name → hg_fm_ruleset_t */
    hg_map_t configs;  /* name → hg_fm_config_t */
    hg_list_t config_order;
    hg_map_t tickets; /* id → hg_fm_ticket_t */
    hg_list_t active; /* tickets not ended, start order */
    hg_list_t done;   /* ended, end order */
    size_t nactive, ndone;
    hg_map_t matches; /* match id → hg_fm_match_t */
    hg_list_t match_list;
    hg_map_t bf_by_gs; /* game session ARN → its backfill ticket not ended */
    hg_map_t bf_off;   /* game session ARN → (void *)1: automatic backfill stopped for it */
    uint64_t next_seq;
    uint64_t cursor;               /* the seq of the configuration the next batch starts after */
    uint64_t batch_t0, batch_over; /* hg_mono_ns() of this batch's start; when it must yield */
    uint64_t batch_flip;           /* when it stops making QUEUED tickets SEARCHING */
    int more;                      /* the last batch yielded with work left (hg_fm_more) */
    size_t pool_last;
    uint64_t batches, nmatches, started, completed, failed, cancelled, timed_out;
    uint64_t batch_ns_total, batch_ns_last, batch_ns_max, wait_ms_total, matched_tickets, evals;
    uint64_t wait_buckets[HG_FM_WAIT_BUCKETS + 1];
    uint64_t bf_started, bf_completed;
};

const int64_t hg_fm_wait_bounds_ms[HG_FM_WAIT_BUCKETS] = {
    100, 250, 500, 750, 1000, 1100, 1250, 1500, 2000, 5000, 10000, 30000, 60000, 300000};

static const char *const status_names[] = {"QUEUED",    "SEARCHING", "REQUIRES_ACCEPTANCE",
                                           "PLACING",   "COMPLETED", "FAILED",
                                           "CANCELLED", "TIMED_OUT"};

const char *hg_fm_status_name(hg_fm_status_t s)
{
    return (unsigned)s < 8 ? status_names[s] : "FAILED";
}

static int ended(hg_fm_status_t s)
{
    return s >= HG_FM_COMPLETED;
}

static int64_t now_ms(const hg_flexmatch_t *fm)
{
    return hg_clock_now_ms(fm->clock);
}

/* A UUID: random (version 4) for ms < 0, else time-ordered (version 7: the first 48 bits are
 * ms, the rest random). The bytes come from getrandom 64 UUIDs at a time: one system call per
 * ticket was 3% of the loop at 6,000 tickets/s. Loop thread only. */
static void uuid_gen(char out[37], int64_t ms)
{
    static unsigned char pool[16 * 64];
    static size_t used = sizeof(pool);
    unsigned char r[16];
    if (used == sizeof(pool) && getrandom(pool, sizeof(pool), 0) == (ssize_t)sizeof(pool))
        used = 0;
    if (used < sizeof(pool)) {
        memcpy(r, pool + used, sizeof(r));
        used += sizeof(r);
    } else { /* never in practice */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8) ^ (uint64_t)rand());
    }
    if (ms >= 0)
        for (size_t i = 0; i < 6; i++)
            r[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    r[6] = (unsigned char)((r[6] & 0x0f) | (ms >= 0 ? 0x70 : 0x40));
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 15];
    }
    out[o] = '\0';
}

static char *arn_of(const hg_flexmatch_t *fm, const char *kind, const char *name)
{
    size_t n = strlen(name) + strlen(kind) + 96;
    char *s = hg_malloc(n);
    snprintf(s, n, "arn:aws:gamelift:%s:%s:%s/%s", fm->region, fm->account, kind, name);
    return s;
}

/* ---- module ---- */

hg_flexmatch_t *hg_flexmatch_new(hg_clock_t *clock, hg_store_t *store, hg_placement_t *pl,
                                 hg_fleet_t *fl, const char *region, const char *account)
{
    hg_flexmatch_t *fm = hg_calloc(1, sizeof(*fm));
    fm->clock = clock;
    fm->store = store;
    fm->pl = pl;
    fm->fl = fl;
    snprintf(fm->region, sizeof(fm->region), "%s", region);
    snprintf(fm->account, sizeof(fm->account), "%s", account);
    hg_map_init(&fm->rulesets);
    hg_map_init(&fm->configs);
    hg_map_init(&fm->tickets);
    hg_map_init(&fm->matches);
    hg_map_init(&fm->bf_by_gs);
    hg_map_init(&fm->bf_off);
    hg_list_init(&fm->config_order);
    hg_list_init(&fm->active);
    hg_list_init(&fm->done);
    hg_list_init(&fm->match_list);
    fm->batch_budget_ms = HG_FM_DEFAULT_BATCH_BUDGET_MS;
    fm->next_seq = 1;
    return fm;
}

void hg_flexmatch_set_sink(hg_flexmatch_t *fm, const hg_fm_sink_t *sink)
{
    if (sink)
        fm->sink = *sink;
    else
        memset(&fm->sink, 0, sizeof(fm->sink));
}

void hg_flexmatch_set_budget(hg_flexmatch_t *fm, const hg_match_opts_t *opts, int64_t batch_ms)
{
    if (opts)
        fm->opts = *opts;
    else
        memset(&fm->opts, 0, sizeof(fm->opts));
    fm->batch_budget_ms = batch_ms > 0 ? batch_ms : HG_FM_DEFAULT_BATCH_BUDGET_MS;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hg_free(v[i]);
    hg_free(v);
}

static void ruleset_free(hg_fm_ruleset_t *rs)
{
    hg_free(rs->name);
    hg_free(rs->arn);
    hg_free(rs->body);
    hg_rules_free(rs->rules);
    json_decref(rs->tags);
    hg_free(rs);
}

static void config_free(hg_fm_config_t *c)
{
    hg_free(c->name);
    hg_free(c->arn);
    free_strv(c->queues, c->nqueues);
    json_decref(c->cfg);
    json_decref(c->tags);
    hg_free(c);
}

/* The matcher's view of a player (attributes, latencies and their storage). */
static void player_view_free(hg_fm_player_t *p)
{
    hg_free(p->attrs);
    hg_free(p->lat);
    hg_free(p->sl);
    hg_free(p->nums);
    p->attrs = NULL;
    p->lat = NULL;
    p->sl = NULL;
    p->nums = NULL;
    p->nattrs = p->nlat = 0;
}

static void players_free(hg_fm_ticket_t *t)
{
    for (size_t i = 0; i < t->nplayers; i++) {
        hg_free(t->players[i].team);
        player_view_free(&t->players[i]);
    }
    hg_free(t->players);
    hg_free(t->mplayers);
    t->players = NULL;
    t->mplayers = NULL;
    t->nplayers = 0;
}

static void ticket_free(hg_fm_ticket_t *t)
{
    players_free(t);
    json_decref(t->players_json);
    hg_free(t->id);
    hg_free(t->config_name);
    hg_free(t->message);
    hg_free(t->match_id);
    hg_free(t->gs_arn);
    hg_free(t->ip);
    hg_free(t->dns);
    hg_free(t->bf_gs);
    hg_free(t->players_text);
    hg_free(t->ids);
    hg_free(t);
}

static void match_free(hg_flexmatch_t *fm, hg_fm_match_t *m)
{
    for (size_t i = 0; i < m->ntickets; i++)
        if (m->tickets[i]->match == m)
            m->tickets[i]->match = NULL;
    hg_map_del(&fm->matches, m->id);
    hg_list_remove(&m->node);
    hg_free(m->tickets);
    hg_free(m);
}

/* The match ends: its tickets (the caller frees the array) no longer point to it. */
static hg_fm_ticket_t **match_take(hg_flexmatch_t *fm, hg_fm_match_t *m, size_t *n)
{
    hg_fm_ticket_t **ts = m->tickets;
    *n = m->ntickets;
    for (size_t i = 0; i < *n; i++)
        if (ts[i]->match == m)
            ts[i]->match = NULL;
    m->tickets = NULL;
    m->ntickets = 0;
    match_free(fm, m);
    return ts;
}

void hg_flexmatch_free(hg_flexmatch_t *fm)
{
    if (fm == NULL)
        return;
    while (!hg_list_empty(&fm->match_list))
        match_free(fm, hg_container_of(fm->match_list.next, hg_fm_match_t, node));
    size_t it = 0;
    void *v;
    while (hg_map_next(&fm->tickets, &it, NULL, &v))
        ticket_free(v);
    it = 0;
    while (hg_map_next(&fm->configs, &it, NULL, &v))
        config_free(v);
    it = 0;
    while (hg_map_next(&fm->rulesets, &it, NULL, &v))
        ruleset_free(v);
    hg_map_free(&fm->tickets);
    hg_map_free(&fm->configs);
    hg_map_free(&fm->rulesets);
    hg_map_free(&fm->matches);
    hg_map_free(&fm->bf_by_gs);
    hg_map_free(&fm->bf_off);
    hg_free(fm);
}

void hg_flexmatch_stats(const hg_flexmatch_t *fm, hg_fm_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->rule_sets = hg_map_count(&fm->rulesets);
    out->configs = hg_map_count(&fm->configs);
    out->active = fm->nactive;
    out->done = fm->ndone;
    hg_list_t *n;
    hg_list_foreach (n, &fm->config_order)
        out->searching += hg_container_of(n, hg_fm_config_t, node)->nsearching;
    out->pool = fm->pool_last;
    out->batches = fm->batches;
    out->matches = fm->nmatches;
    out->started = fm->started;
    out->completed = fm->completed;
    out->failed = fm->failed;
    out->cancelled = fm->cancelled;
    out->timed_out = fm->timed_out;
    out->batch_ns_total = fm->batch_ns_total;
    out->batch_ns_last = fm->batch_ns_last;
    out->batch_ns_max = fm->batch_ns_max;
    out->wait_ms_total = fm->wait_ms_total;
    memcpy(out->wait_buckets, fm->wait_buckets, sizeof(out->wait_buckets));
    out->matched_tickets = fm->matched_tickets;
    out->evals = fm->evals;
    out->backfills_started = fm->bf_started;
    out->backfills_completed = fm->bf_completed;
}

/* ---- rule sets ---- */

static void ruleset_save(const hg_fm_ruleset_t *rs, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:s,s:I,s:I,s:O}", "arn", rs->arn, "body", rs->body, "created_ms",
                          (json_int_t)rs->created_ms, "seq", (json_int_t)rs->seq, "tags", rs->tags);
    hg_store_put(txn, COLL_RULESETS, rs->name, r);
    json_decref(r);
}

int hg_fm_ruleset_create(hg_flexmatch_t *fm, const char *name, const char *body, size_t len,
                         json_t *tags, hg_store_txn_t *txn, hg_fm_ruleset_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_rules_t *rules = NULL;
    if (hg_map_get(&fm->rulesets, name)) {
        rc = hg_error_set(err, HG_ECONFLICT, "Matchmaking rule set %s already exists", name);
        goto out;
    }
    if (hg_map_count(&fm->rulesets) >= HG_FM_MAX_RULE_SETS) {
        rc = hg_error_set(err, HG_ELIMIT, "at most %d matchmaking rule sets", HG_FM_MAX_RULE_SETS);
        goto out;
    }
    if ((rc = hg_rules_parse(body, len, &rules, err)) < 0)
        goto out;
    hg_fm_ruleset_t *rs = hg_calloc(1, sizeof(*rs));
    rs->name = hg_strdup(name);
    rs->arn = arn_of(fm, "matchmakingruleset", name);
    rs->body = hg_malloc(len + 1);
    memcpy(rs->body, body, len);
    rs->body[len] = '\0';
    rs->rules = rules;
    rs->created_ms = now_ms(fm);
    rs->seq = fm->next_seq++;
    rs->tags = tags ? tags : json_array();
    tags = NULL;
    hg_map_set(&fm->rulesets, rs->name, rs);
    ruleset_save(rs, txn);
    HG_LOG(HG_LOG_INFO, "match", "rule set created name=%s teams=%zu max_players=%d", name,
           hg_rules_team_count(rules), hg_rules_max_players(rules));
    *out = rs;
out:
    json_decref(tags);
    return rc;
}

static const char *arn_tail(const char *s, const char *kind)
{
    const char *p = strstr(s, kind);
    return p && strncmp(s, "arn:", 4) == 0 ? p + strlen(kind) : s;
}

hg_fm_ruleset_t *hg_fm_ruleset_find(hg_flexmatch_t *fm, const char *name_or_arn)
{
    return hg_map_get(&fm->rulesets, arn_tail(name_or_arn, ":matchmakingruleset/"));
}

int hg_fm_ruleset_delete(hg_flexmatch_t *fm, hg_fm_ruleset_t *rs, hg_store_txn_t *txn,
                         hg_error_t *err)
{
    if (rs->refs)
        return hg_error_set(err, HG_EINVAL,
                            "Matchmaking rule set %s is used by %zu matchmaking configuration%s",
                            rs->name, rs->refs, rs->refs == 1 ? "" : "s");
    hg_store_del(txn, COLL_RULESETS, rs->name);
    hg_map_del(&fm->rulesets, rs->name);
    HG_LOG(HG_LOG_INFO, "match", "rule set deleted name=%s", rs->name);
    ruleset_free(rs);
    return 0;
}

static int cmp_rs_seq(const void *a, const void *b)
{
    const hg_fm_ruleset_t *x = *(void *const *)a, *y = *(void *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t hg_fm_ruleset_list(hg_flexmatch_t *fm, uint64_t after, size_t limit, hg_fm_ruleset_t **out,
                          int *more)
{
    size_t n = 0, total = hg_map_count(&fm->rulesets);
    hg_fm_ruleset_t **all = hg_calloc(total + 1, sizeof(*all));
    size_t it = 0;
    void *v;
    while (hg_map_next(&fm->rulesets, &it, NULL, &v))
        all[n++] = v;
    qsort(all, n, sizeof(*all), cmp_rs_seq);
    size_t k = 0;
    *more = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->seq <= after)
            continue;
        if (k == limit) {
            *more = 1;
            break;
        }
        out[k++] = all[i];
    }
    hg_free(all);
    return k;
}

/* ---- configurations ---- */

static const char *const cfg_members[] = {"Description",           "GameSessionQueueArns",
                                          "RequestTimeoutSeconds", "AcceptanceTimeoutSeconds",
                                          "AcceptanceRequired",    "RuleSetName",
                                          "NotificationTarget",    "AdditionalPlayerCount",
                                          "CustomEventData",       "GameProperties",
                                          "GameSessionData",       "BackfillMode",
                                          "FlexMatchMode",         NULL};

typedef struct cfg_settings {
    hg_fm_ruleset_t *rs;
    int64_t request_timeout_s, accept_timeout_s, additional;
    int accept_required, standalone, backfill_auto;
    json_t *queues; /* borrowed array */
} cfg_settings_t;

/* Read and check the settings of a configuration's members (the whole set, after a merge). */
static int cfg_parse(hg_flexmatch_t *fm, json_t *cfg, cfg_settings_t *s, int check_queues,
                     hg_error_t *err)
{
    memset(s, 0, sizeof(*s));
    const char *rsn = json_string_value(json_object_get(cfg, "RuleSetName"));
    if (rsn == NULL)
        return hg_error_set(err, HG_EINVAL, "RuleSetName is required");
    if ((s->rs = hg_fm_ruleset_find(fm, rsn)) == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Matchmaking rule set %s not found", rsn);
    json_t *v = json_object_get(cfg, "RequestTimeoutSeconds");
    s->request_timeout_s = json_is_integer(v) ? json_integer_value(v) : 0;
    if (s->request_timeout_s < 1 || s->request_timeout_s > 43200)
        return hg_error_set(err, HG_EINVAL, "RequestTimeoutSeconds must be from 1 to 43200");
    s->accept_required = json_is_true(json_object_get(cfg, "AcceptanceRequired"));
    v = json_object_get(cfg, "AcceptanceTimeoutSeconds");
    s->accept_timeout_s =
        json_is_integer(v) ? json_integer_value(v) : HG_FM_DEFAULT_ACCEPT_TIMEOUT_S;
    if (s->accept_timeout_s < 1 || s->accept_timeout_s > 600)
        return hg_error_set(err, HG_EINVAL, "AcceptanceTimeoutSeconds must be from 1 to 600");
    v = json_object_get(cfg, "AdditionalPlayerCount");
    s->additional = json_is_integer(v) ? json_integer_value(v) : 0;
    if (s->additional < 0 || s->additional >= hg_rules_max_players(s->rs->rules))
        return hg_error_set(err, HG_EINVAL,
                            "AdditionalPlayerCount must be from 0 to %d (the rule set's players "
                            "minus one)",
                            hg_rules_max_players(s->rs->rules) - 1);
    const char *mode = json_string_value(json_object_get(cfg, "FlexMatchMode"));
    s->standalone = mode && strcmp(mode, "STANDALONE") == 0;
    const char *bf = json_string_value(json_object_get(cfg, "BackfillMode"));
    s->backfill_auto = bf && strcmp(bf, "AUTOMATIC") == 0;
    s->queues = json_object_get(cfg, "GameSessionQueueArns");
    size_t nq = json_array_size(s->queues);
    if (nq > HG_FM_MAX_QUEUES)
        return hg_error_set(err, HG_EINVAL, "GameSessionQueueArns: at most %d", HG_FM_MAX_QUEUES);
    if (!s->standalone && nq == 0)
        return hg_error_set(err, HG_EINVAL,
                            "GameSessionQueueArns is required when FlexMatchMode is WITH_QUEUE");
    if (s->standalone && s->backfill_auto)
        return hg_error_set(err, HG_EINVAL,
                            "BackfillMode AUTOMATIC needs FlexMatchMode WITH_QUEUE");
    if (!s->standalone && hg_rules_max_players(s->rs->rules) > HG_FL_MAX_PLAYERS)
        return hg_error_set(err, HG_EINVAL,
                            "Rule set %s allows %d players; a game session holds at most %d",
                            s->rs->name, hg_rules_max_players(s->rs->rules), HG_FL_MAX_PLAYERS);
    size_t i;
    json_t *e;
    json_array_foreach (s->queues, i, e) {
        const char *arn = json_string_value(e);
        if (arn == NULL || strstr(arn, ":gamesessionqueue/") == NULL)
            return hg_error_set(err, HG_EINVAL,
                                "GameSessionQueueArns: %s is not a game session queue ARN",
                                arn ? arn : "(not a string)");
        if (check_queues && !s->standalone && fm->pl && hg_pl_queue_find(fm->pl, arn) == NULL)
            return hg_error_set(err, HG_ENOTFOUND, "Game session queue %s not found", arn);
    }
    return 0;
}

static void cfg_apply(hg_fm_config_t *c, const cfg_settings_t *s)
{
    if (c->rs != s->rs) {
        if (c->rs)
            c->rs->refs--;
        c->rs = s->rs;
        c->rs->refs++;
    }
    if (c->request_timeout_s != s->request_timeout_s)
        c->unordered = 1; /* tickets keep the deadline they started with */
    c->request_timeout_s = s->request_timeout_s;
    c->accept_timeout_s = s->accept_timeout_s;
    c->additional = s->additional;
    c->accept_required = s->accept_required;
    c->standalone = s->standalone;
    c->backfill_auto = s->backfill_auto;
    free_strv(c->queues, c->nqueues);
    c->nqueues = json_array_size(s->queues);
    c->queues = hg_calloc(c->nqueues + 1, sizeof(char *));
    for (size_t i = 0; i < c->nqueues; i++)
        c->queues[i] = hg_strdup(json_string_value(json_array_get(s->queues, i)));
    /* the rule set by name, and its ARN, as Describe shows them */
    json_object_set_new(c->cfg, "RuleSetName", json_string(c->rs->name));
    json_object_set_new(c->cfg, "RuleSetArn", json_string(c->rs->arn));
}

static void config_save(const hg_fm_config_t *c, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:O,s:I,s:I,s:O}", "arn", c->arn, "cfg", c->cfg, "created_ms",
                          (json_int_t)c->created_ms, "seq", (json_int_t)c->seq, "tags", c->tags);
    hg_store_put(txn, COLL_CONFIGS, c->name, r);
    json_decref(r);
}

static hg_fm_config_t *config_new(hg_flexmatch_t *fm, const char *name)
{
    hg_fm_config_t *c = hg_calloc(1, sizeof(*c));
    c->name = hg_strdup(name);
    c->arn = arn_of(fm, "matchmakingconfiguration", name);
    c->cfg = json_object();
    hg_list_init(&c->tickets);
    hg_list_init(&c->backfills);
    return c;
}

int hg_fm_config_create(hg_flexmatch_t *fm, const char *name, json_t *cfg, json_t *tags,
                        hg_store_txn_t *txn, hg_fm_config_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    json_t *kept = json_object();
    cfg_settings_t s;
    if (hg_map_get(&fm->configs, name)) {
        rc = hg_error_set(err, HG_ECONFLICT, "Matchmaking configuration %s already exists", name);
        goto out;
    }
    if (hg_map_count(&fm->configs) >= HG_FM_MAX_CONFIGS) {
        rc = hg_error_set(err, HG_ELIMIT, "at most %d matchmaking configurations",
                          HG_FM_MAX_CONFIGS);
        goto out;
    }
    for (const char *const *k = cfg_members; *k; k++) {
        json_t *v = json_object_get(cfg, *k);
        if (v && !json_is_null(v))
            json_object_set(kept, *k, v);
    }
    if ((rc = cfg_parse(fm, kept, &s, 1, err)) < 0)
        goto out;
    hg_fm_config_t *c = config_new(fm, name);
    json_decref(c->cfg);
    c->cfg = kept;
    kept = NULL;
    c->tags = tags ? tags : json_array();
    tags = NULL;
    cfg_apply(c, &s);
    c->created_ms = now_ms(fm);
    c->seq = fm->next_seq++;
    hg_map_set(&fm->configs, c->name, c);
    hg_list_insert_tail(&fm->config_order, &c->node);
    config_save(c, txn);
    HG_LOG(HG_LOG_INFO, "match", "configuration created name=%s rule_set=%s mode=%s acceptance=%d",
           name, c->rs->name, c->standalone ? "STANDALONE" : "WITH_QUEUE", c->accept_required);
    *out = c;
out:
    json_decref(kept);
    json_decref(tags);
    return rc;
}

void hg_fm_config_arn(const hg_flexmatch_t *fm, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "arn:aws:gamelift:%s:%s:matchmakingconfiguration/%s", fm->region,
             fm->account, name);
}

int64_t hg_fm_estimated_wait_ms(const hg_flexmatch_t *fm, const hg_fm_config_t *c)
{
    if (c == NULL || c->wait_at_ms == 0 || now_ms(fm) - c->wait_at_ms > HG_FM_WAIT_RECENT_MS)
        return -1;
    return (int64_t)(c->wait_avg_ms + 0.5);
}

/* The MatchmakingSearching event's estimatedWaitMillis: a number, or "NOT_AVAILABLE" as GameLift
 * says when it has no estimate. */
static json_t *searching_extra(const hg_flexmatch_t *fm, const hg_fm_config_t *c)
{
    int64_t est = hg_fm_estimated_wait_ms(fm, c);
    return est < 0 ? json_pack("{s:s}", "estimatedWaitMillis", "NOT_AVAILABLE")
                   : json_pack("{s:I}", "estimatedWaitMillis", (json_int_t)est);
}

hg_fm_config_t *hg_fm_config_find(hg_flexmatch_t *fm, const char *name_or_arn)
{
    return hg_map_get(&fm->configs, arn_tail(name_or_arn, ":matchmakingconfiguration/"));
}

/* The tags of the rule set or configuration an ARN names (TagResource and friends). */
static json_t **tags_of(hg_flexmatch_t *fm, const char *arn, hg_fm_ruleset_t **rs,
                        hg_fm_config_t **c)
{
    *rs = NULL;
    *c = NULL;
    if (strstr(arn, ":matchmakingruleset/") && (*rs = hg_fm_ruleset_find(fm, arn)) &&
        strcmp((*rs)->arn, arn) == 0)
        return &(*rs)->tags;
    if (strstr(arn, ":matchmakingconfiguration/") && (*c = hg_fm_config_find(fm, arn)) &&
        strcmp((*c)->arn, arn) == 0)
        return &(*c)->tags;
    return NULL;
}

int hg_fm_tags_get(hg_flexmatch_t *fm, const char *arn, json_t **tags, hg_error_t *err)
{
    hg_fm_ruleset_t *rs;
    hg_fm_config_t *c;
    json_t **at = tags_of(fm, arn, &rs, &c);
    if (at == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Resource %s not found", arn);
    *tags = *at;
    return 0;
}

int hg_fm_tags_set(hg_flexmatch_t *fm, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err)
{
    hg_fm_ruleset_t *rs;
    hg_fm_config_t *c;
    json_t **at = tags_of(fm, arn, &rs, &c);
    if (at == NULL) {
        json_decref(tags);
        return hg_error_set(err, HG_ENOTFOUND, "Resource %s not found", arn);
    }
    json_decref(*at);
    *at = tags;
    if (rs)
        ruleset_save(rs, txn);
    else
        config_save(c, txn);
    return 0;
}

int hg_fm_config_update(hg_flexmatch_t *fm, hg_fm_config_t *c, json_t *changes, hg_store_txn_t *txn,
                        hg_error_t *err)
{
    json_t *merged = json_deep_copy(c->cfg);
    cfg_settings_t s;
    for (const char *const *k = cfg_members; *k; k++) {
        json_t *v = json_object_get(changes, *k);
        if (v == NULL)
            continue;
        if (json_is_null(v))
            json_object_del(merged, *k);
        else
            json_object_set(merged, *k, v);
    }
    int rc = cfg_parse(fm, merged, &s,
                       json_object_get(changes, "GameSessionQueueArns") != NULL ||
                           json_object_get(changes, "FlexMatchMode") != NULL,
                       err);
    if (rc < 0) {
        json_decref(merged);
        return rc;
    }
    json_decref(c->cfg);
    c->cfg = merged;
    cfg_apply(c, &s);
    config_save(c, txn);
    return 0;
}

size_t hg_fm_config_list(hg_flexmatch_t *fm, const char *rule_set, uint64_t after, size_t limit,
                         hg_fm_config_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const char *rsn = rule_set ? arn_tail(rule_set, ":matchmakingruleset/") : NULL;
    hg_list_t *it;
    hg_list_foreach (it, &fm->config_order) {
        hg_fm_config_t *c = hg_container_of(it, hg_fm_config_t, node);
        if (c->seq <= after || (rsn && strcmp(c->rs->name, rsn) != 0))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = c;
    }
    return n;
}

/* ---- tickets: players ---- */

/* The matcher's view of one player of a Players entry (strings borrowed from the JSON). A
 * backfill ticket's player (with_team) also carries the Team it plays on. */
static int player_build(json_t *pj, hg_fm_player_t *p, hg_match_player_t *mp, size_t idx,
                        int with_team, hg_error_t *err)
{
    p->id = json_string_value(json_object_get(pj, "PlayerId"));
    if (p->id == NULL || *p->id == '\0')
        return hg_error_set(err, HG_EINVAL, "Players[%zu]: PlayerId is required", idx);
    const char *team = json_string_value(json_object_get(pj, "Team"));
    if (with_team && (team == NULL || *team == '\0'))
        return hg_error_set(err, HG_EINVAL,
                            "Players[%zu]: Team is required (the team the player is on)", idx);
    json_t *attrs = json_object_get(pj, "PlayerAttributes");
    json_t *lat = json_object_get(pj, "LatencyInMs");
    if (attrs && !json_is_object(attrs))
        return hg_error_set(err, HG_EINVAL, "Players[%zu].PlayerAttributes must be a map", idx);
    if (lat && !json_is_object(lat))
        return hg_error_set(err, HG_EINVAL, "Players[%zu].LatencyInMs must be a map", idx);
    size_t na = json_object_size(attrs), nl = json_object_size(lat);
    if (na > HG_MATCH_MAX_ATTRS)
        return hg_error_set(err, HG_EINVAL, "Players[%zu].PlayerAttributes: at most %d", idx,
                            HG_MATCH_MAX_ATTRS);
    if (nl > HG_FM_MAX_LATENCIES)
        return hg_error_set(err, HG_EINVAL, "Players[%zu].LatencyInMs: at most %d regions", idx,
                            HG_FM_MAX_LATENCIES);
    /* storage for lists and maps, counted first */
    size_t nstr = 0, nnum = 0;
    const char *k;
    json_t *v;
    json_object_foreach (attrs, k, v) {
        size_t set = 0;
        json_t *s = json_object_get(v, "S"), *n = json_object_get(v, "N");
        json_t *sl = json_object_get(v, "SL"), *sdm = json_object_get(v, "SDM");
        set = (s != NULL) + (n != NULL) + (sl != NULL) + (sdm != NULL);
        if (!json_is_object(v) || set != 1)
            return hg_error_set(err, HG_EINVAL,
                                "Players[%zu].PlayerAttributes[%s]: exactly one of S, N, SL or "
                                "SDM is required",
                                idx, k);
        if ((s && !json_is_string(s)) || (n && !json_is_number(n)) || (sl && !json_is_array(sl)) ||
            (sdm && !json_is_object(sdm)))
            return hg_error_set(err, HG_EINVAL, "Players[%zu].PlayerAttributes[%s]: wrong type",
                                idx, k);
        if (json_array_size(sl) > HG_MATCH_MAX_LIST || json_object_size(sdm) > HG_MATCH_MAX_MAP)
            return hg_error_set(err, HG_EINVAL,
                                "Players[%zu].PlayerAttributes[%s]: at most %d strings in SL and "
                                "%d entries in SDM",
                                idx, k, HG_MATCH_MAX_LIST, HG_MATCH_MAX_MAP);
        nstr += json_array_size(sl) + json_object_size(sdm);
        nnum += json_object_size(sdm);
    }
    p->attrs = hg_calloc(na + 1, sizeof(*p->attrs));
    p->sl = hg_calloc(nstr + 1, sizeof(*p->sl));
    p->nums = hg_calloc(nnum + 1, sizeof(*p->nums));
    p->lat = hg_calloc(nl + 1, sizeof(*p->lat));
    size_t si = 0, ni = 0;
    json_object_foreach (attrs, k, v) {
        hg_match_attr_t *a = &p->attrs[p->nattrs++];
        a->name = k;
        json_t *e;
        size_t i;
        const char *mk;
        if ((e = json_object_get(v, "S"))) {
            a->type = HG_RULES_ATTR_STRING;
            a->s = json_string_value(e);
        } else if ((e = json_object_get(v, "N"))) {
            a->type = HG_RULES_ATTR_NUMBER;
            a->n = json_number_value(e);
        } else if ((e = json_object_get(v, "SL"))) {
            a->type = HG_RULES_ATTR_STRING_LIST;
            a->sl = &p->sl[si];
            json_t *x;
            json_array_foreach (e, i, x) {
                if (!json_is_string(x))
                    return hg_error_set(err, HG_EINVAL,
                                        "Players[%zu].PlayerAttributes[%s].SL holds strings", idx,
                                        k);
                p->sl[si++] = json_string_value(x);
                a->nsl++;
            }
        } else {
            e = json_object_get(v, "SDM");
            a->type = HG_RULES_ATTR_STRING_NUMBER_MAP;
            a->map_keys = &p->sl[si];
            a->map_vals = &p->nums[ni];
            json_t *x;
            json_object_foreach (e, mk, x) {
                if (!json_is_number(x))
                    return hg_error_set(err, HG_EINVAL,
                                        "Players[%zu].PlayerAttributes[%s].SDM holds numbers", idx,
                                        k);
                p->sl[si++] = mk;
                p->nums[ni++] = json_number_value(x);
                a->nmap++;
            }
        }
    }
    json_object_foreach (lat, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return hg_error_set(err, HG_EINVAL,
                                "Players[%zu].LatencyInMs[%s] must be an integer of at least 1",
                                idx, k);
        p->lat[p->nlat++] = (hg_match_latency_t){k, (double)json_integer_value(v)};
    }
    *mp = (hg_match_player_t){.id = p->id,
                              .attrs = p->attrs,
                              .nattrs = p->nattrs,
                              .latency = p->lat,
                              .nlatency = p->nlat};
    if (with_team) {
        p->team = hg_strdup(team);
        mp->team = p->team;
    }
    return 0;
}

static int players_build(hg_fm_ticket_t *t, hg_error_t *err)
{
    size_t n = json_array_size(t->players_json);
    if (!json_is_array(t->players_json) || n == 0)
        return hg_error_set(err, HG_EINVAL, "Players: at least one player is required");
    size_t max = t->backfill ? HG_FM_MAX_BACKFILL_PLAYERS : HG_FM_MAX_PLAYERS;
    if (n > max)
        return hg_error_set(err, HG_EINVAL, "Players: at most %zu players per %s", max,
                            t->backfill ? "backfill request" : "ticket");
    t->players = hg_calloc(n, sizeof(*t->players));
    t->mplayers = hg_calloc(n, sizeof(*t->mplayers));
    t->nplayers = n;
    for (size_t i = 0; i < n; i++) {
        int rc = player_build(json_array_get(t->players_json, i), &t->players[i], &t->mplayers[i],
                              i, t->backfill, err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->players[j].id, t->players[i].id) == 0)
                return hg_error_set(err, HG_EINVAL, "Players: %s is listed twice",
                                    t->players[i].id);
    }
    return 0;
}

/* ---- tickets: records ---- */

/* The players' JSON text, rendered once per ticket: every record of it splices the same bytes. */
const char *hg_fm_players_text(hg_fm_ticket_t *t, size_t *len)
{
    if (t->players_text == NULL) {
        hg_buf_t b;
        hg_buf_init(&b);
        hg_jsonw_value(&b, t->players_json);
        t->players_text = hg_buf_steal(&b, &t->players_len);
    }
    if (len)
        *len = t->players_len;
    return t->players_text;
}

/* The ticket's record (see the top of this file), written as text: a ticket is written two or
 * three times in its life, at thousands a second. */
static void ticket_save(hg_fm_ticket_t *t, hg_store_txn_t *txn)
{
    t->unsaved = 0;
    hg_buf_t b;
    hg_buf_init(&b);
    size_t plen;
    const char *players = hg_fm_players_text(t, &plen);
    hg_buf_reserve(&b, 512 + plen);
    hg_buf_puts(&b, "{\"config\":");
    hg_jsonw_str(&b, t->config_name);
    hg_jsonw_kv_str(&b, "status", hg_fm_status_name(t->status));
    hg_jsonw_kv_int(&b, "start_ms", t->start_ms);
    hg_jsonw_kv_int(&b, "end_ms", t->end_ms);
    hg_jsonw_kv_int(&b, "deadline_ms", t->deadline_ms);
    hg_buf_puts(&b, ",\"players\":");
    hg_buf_append(&b, players, plen);
    hg_jsonw_kv_int(&b, "seq", (int64_t)t->seq);
    if (t->reason)
        hg_jsonw_kv_str(&b, "reason", t->reason);
    if (t->message)
        hg_jsonw_kv_str(&b, "message", t->message);
    if (t->backfill) {
        hg_jsonw_kv_int(&b, "backfill", t->auto_bf ? 2 : 1);
        if (t->bf_gs)
            hg_jsonw_kv_str(&b, "bf_gs", t->bf_gs);
    }
    if (t->match_id) {
        hg_jsonw_kv_str(&b, "match", t->match_id);
        hg_buf_puts(&b, ",\"teams\":[");
        for (size_t i = 0; i < t->nplayers; i++) {
            if (i)
                hg_buf_append(&b, ",", 1);
            if (t->players[i].team)
                hg_jsonw_str(&b, t->players[i].team);
            else
                hg_buf_puts(&b, "null");
        }
        hg_buf_puts(&b, "],\"answers\":[");
        for (size_t i = 0; i < t->nplayers; i++) {
            if (i)
                hg_buf_append(&b, ",", 1);
            hg_jsonw_int(&b, t->players[i].answer);
        }
        hg_buf_puts(&b, "],\"psids\":[");
        for (size_t i = 0; i < t->nplayers; i++) {
            if (i)
                hg_buf_append(&b, ",", 1);
            hg_jsonw_str(&b, t->players[i].psid);
        }
        hg_buf_append(&b, "]", 1);
        hg_jsonw_kv_int(&b, "accept_deadline_ms", t->accept_deadline_ms);
    }
    if (t->gs_arn) {
        hg_jsonw_kv_str(&b, "gs", t->gs_arn);
        if (t->ip)
            hg_jsonw_kv_str(&b, "ip", t->ip);
        if (t->dns)
            hg_jsonw_kv_str(&b, "dns", t->dns);
        hg_jsonw_kv_int(&b, "port", t->port);
    }
    hg_buf_append(&b, "}", 1);
    hg_store_put_text(txn, COLL_TICKETS, t->id, hg_buf_steal(&b, NULL));
}

/* ---- events ---- */

#define EV_TEAM 0x1
#define EV_ANSWER 0x2
#define EV_PSID 0x4

static void w_iso(hg_buf_t *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    hg_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void w_ev_player(hg_buf_t *b, const hg_fm_player_t *p, int flags)
{
    hg_buf_puts(b, "{\"playerId\":");
    hg_jsonw_str(b, p->id);
    if ((flags & EV_TEAM) && p->team)
        hg_jsonw_kv_str(b, "team", p->team);
    if ((flags & EV_ANSWER) && p->answer)
        hg_buf_puts(b, p->answer > 0 ? ",\"accepted\":true" : ",\"accepted\":false");
    if ((flags & EV_PSID) && p->psid[0])
        hg_jsonw_kv_str(b, "playerSessionId", p->psid);
    hg_buf_append(b, "}", 1);
}

/* Publish one FlexMatch event for tickets ts[0..n): GameLift's detail, written as text (an
 * event per ticket and per match, at thousands a second). extra (stolen, may be NULL) adds
 * members; its gameSessionInfo members go into the detail's gameSessionInfo. */
static void emit(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_fm_config_t *c, const char *type,
                 hg_fm_ticket_t *const *ts, size_t n, const char *match_id, int flags,
                 json_t *extra)
{
    if (fm->sink.event == NULL) {
        json_decref(extra);
        return;
    }
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 512 + 256 * n);
    hg_buf_puts(&b, "{\"type\":");
    hg_jsonw_str(&b, type);
    hg_buf_puts(&b, ",\"tickets\":[");
    for (size_t i = 0; i < n; i++) {
        hg_buf_puts(&b, i ? ",{\"ticketId\":" : "{\"ticketId\":");
        hg_jsonw_str(&b, ts[i]->id);
        hg_buf_puts(&b, ",\"startTime\":");
        w_iso(&b, ts[i]->start_ms);
        hg_buf_puts(&b, ",\"players\":[");
        for (size_t k = 0; k < ts[i]->nplayers; k++) {
            if (k)
                hg_buf_append(&b, ",", 1);
            w_ev_player(&b, &ts[i]->players[k], flags);
        }
        hg_buf_puts(&b, "]}");
    }
    hg_buf_puts(&b, "],\"gameSessionInfo\":{\"players\":[");
    int first = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ts[i]->nplayers; k++) {
            if (!first)
                hg_buf_append(&b, ",", 1);
            first = 0;
            w_ev_player(&b, &ts[i]->players[k], flags);
        }
    hg_buf_append(&b, "]", 1);
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get(extra, "gameSessionInfo"), k, v) {
        hg_buf_append(&b, ",", 1);
        hg_jsonw_key(&b, k);
        hg_jsonw_value(&b, v);
    }
    hg_buf_append(&b, "}", 1);
    if (match_id)
        hg_jsonw_kv_str(&b, "matchId", match_id);
    const char *custom = json_string_value(json_object_get(c->cfg, "CustomEventData"));
    if (custom)
        hg_jsonw_kv_str(&b, "customEventData", custom);
    json_object_foreach (extra, k, v) {
        if (strcmp(k, "gameSessionInfo") == 0)
            continue;
        hg_buf_append(&b, ",", 1);
        hg_jsonw_key(&b, k);
        hg_jsonw_value(&b, v);
    }
    hg_buf_append(&b, "}", 1);
    json_decref(extra);
    fm->sink.event(fm->sink.ud, txn, c, type, b.data, b.len);
    hg_buf_free(&b);
}

/* ---- tickets: transitions ---- */

/* An ended ticket is only read back (DescribeMatchmaking): it keeps its players' text, ids,
 * teams and player sessions; the request's JSON tree and the matcher's view of it go (about
 * half of what a retained ticket held). */
static void retire(hg_fm_ticket_t *t)
{
    for (size_t i = 0; i < t->nplayers; i++)
        player_view_free(&t->players[i]);
    hg_free(t->mplayers);
    t->mplayers = NULL;
    if (t->players_json == NULL)
        return;
    hg_fm_players_text(t, NULL); /* rendered while the tree is here */
    size_t total = 1;
    for (size_t i = 0; i < t->nplayers; i++)
        total += strlen(t->players[i].id) + 1;
    char *ids = hg_malloc(total), *at = ids;
    for (size_t i = 0; i < t->nplayers; i++) {
        size_t n = strlen(t->players[i].id) + 1;
        memcpy(at, t->players[i].id, n);
        t->players[i].id = at;
        at += n;
    }
    t->ids = ids;
    json_decref(t->players_json);
    t->players_json = NULL;
}

/* Off its configuration's QUEUED/SEARCHING list. */
static void search_remove(hg_fm_ticket_t *t)
{
    if (!hg_list_linked(&t->cnode))
        return;
    hg_list_remove(&t->cnode);
    if (t->backfill)
        t->config->nbackfills--;
    else
        t->config->nsearching--;
}

/* A backfill ticket ended: the session may take another, and its game server hears how this
 * one ended (UpdateGameSession; a completed one was pushed with its new MatchmakerData). */
static void backfill_ended(hg_flexmatch_t *fm, hg_fm_ticket_t *t, hg_fm_status_t st,
                           hg_store_txn_t *txn)
{
    if (t->bf_gs == NULL)
        return;
    if (hg_map_get(&fm->bf_by_gs, t->bf_gs) == t)
        hg_map_del(&fm->bf_by_gs, t->bf_gs);
    if (st == HG_FM_COMPLETED) {
        fm->bf_completed++;
        return;
    }
    hg_fl_gsession_t *gs = fm->fl && !t->quiet ? hg_fl_gs_find(fm->fl, t->bf_gs) : NULL;
    if (gs)
        hg_fl_gs_matchmaking_update(fm->fl, gs, NULL,
                                    st == HG_FM_CANCELLED   ? "BACKFILL_CANCELLED"
                                    : st == HG_FM_TIMED_OUT ? "BACKFILL_TIMED_OUT"
                                                            : "BACKFILL_FAILED",
                                    t->id, txn);
}

/* An active ticket ends: off its configuration and the active list, onto the retention list. */
static void finish(hg_flexmatch_t *fm, hg_fm_ticket_t *t, hg_fm_status_t st, const char *reason,
                   const char *message, hg_store_txn_t *txn)
{
    search_remove(t);
    if (t->backfill)
        backfill_ended(fm, t, st, txn);
    t->status = st;
    t->end_ms = now_ms(fm);
    t->reason = reason;
    hg_free(t->message);
    t->message = message ? hg_strdup(message) : NULL;
    t->config = NULL;
    t->match = NULL;
    t->accept_deadline_ms = 0;
    hg_list_remove(&t->mnode);
    fm->nactive--;
    hg_list_insert_tail(&fm->done, &t->mnode);
    fm->ndone++;
    switch (st) {
    case HG_FM_COMPLETED: fm->completed++; break;
    case HG_FM_CANCELLED: fm->cancelled++; break;
    case HG_FM_TIMED_OUT: fm->timed_out++; break;
    default: fm->failed++; break;
    }
    ticket_save(t, txn);
    retire(t);
    HG_LOG(HG_LOG_DEBUG, "match", "ticket %s id=%s config=%s%s%s", hg_fm_status_name(st), t->id,
           t->config_name, message ? " why=" : "", message ? message : "");
    while (fm->ndone > HG_FM_MAX_DONE) {
        hg_fm_ticket_t *old = hg_container_of(fm->done.next, hg_fm_ticket_t, mnode);
        hg_list_remove(&old->mnode);
        fm->ndone--;
        hg_map_del(&fm->tickets, old->id);
        hg_store_del(txn, COLL_TICKETS, old->id);
        ticket_free(old);
    }
}

static void end_one(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_fm_ticket_t *t, hg_fm_status_t st,
                    const char *reason, const char *message, const char *type, hg_store_txn_t *txn)
{
    const char *mid = t->match_id;
    json_t *extra = json_object();
    if (reason)
        json_object_set_new(extra, "reason", json_string(reason));
    if (message)
        json_object_set_new(extra, "message", json_string(message));
    finish(fm, t, st, reason, message, txn);
    emit(fm, txn, c, type, &t, 1, mid, EV_TEAM, extra);
}

/* Insert t into its configuration's QUEUED/SEARCHING list in start order. */
static void search_insert(hg_fm_config_t *c, hg_fm_ticket_t *t)
{
    hg_list_t *it;
    hg_list_foreach (it, &c->tickets) {
        hg_fm_ticket_t *o = hg_container_of(it, hg_fm_ticket_t, cnode);
        if (o->start_ms > t->start_ms || (o->start_ms == t->start_ms && o->seq > t->seq))
            break;
    }
    /* insert before `it` */
    t->cnode.next = it;
    t->cnode.prev = it->prev;
    it->prev->next = &t->cnode;
    it->prev = &t->cnode;
    c->nsearching++;
}

/* Back to SEARCHING after a match fell through: no team, no answers (a backfill ticket keeps
 * its players' teams, and goes to the head of the backfill list). */
static void back_to_search(hg_fm_ticket_t *t, hg_store_txn_t *txn)
{
    t->status = HG_FM_SEARCHING;
    t->match = NULL;
    hg_free(t->match_id);
    t->match_id = NULL;
    t->accept_deadline_ms = 0;
    for (size_t i = 0; i < t->nplayers; i++) {
        t->players[i].answer = 0;
        if (t->backfill)
            continue;
        hg_free(t->players[i].team);
        t->players[i].team = NULL;
    }
    if (t->backfill) {
        hg_list_t *head = &t->config->backfills;
        t->cnode.next = head->next;
        t->cnode.prev = head;
        head->next->prev = &t->cnode;
        head->next = &t->cnode;
        t->config->nbackfills++;
    } else {
        search_insert(t->config, t);
    }
    ticket_save(t, txn);
}

/* MatchmakerData (gamelift-wire.md §6.4) for a match of tickets on the rule set's teams: the
 * match's own id, or for a backfill the id the game session's match had (match_id). */
static char *matchmaker_data(const hg_fm_match_t *m, const char *match_id)
{
    const hg_fm_config_t *c = m->config;
    const hg_rules_t *rs = c->rs->rules;
    json_t *teams = json_array();
    for (size_t ti = 0; ti < hg_rules_team_count(rs); ti++) {
        const char *tn = hg_rules_team_name(rs, ti);
        json_t *players = json_array();
        for (size_t k = 0; k < m->ntickets; k++) {
            const hg_fm_ticket_t *t = m->tickets[k];
            for (size_t i = 0; i < t->nplayers; i++) {
                if (t->players[i].team == NULL || strcmp(t->players[i].team, tn) != 0)
                    continue;
                json_t *attrs = json_object();
                json_t *given =
                    json_object_get(json_array_get(t->players_json, i), "PlayerAttributes");
                const char *an;
                json_t *av, *x;
                json_object_foreach (given, an, av) {
                    json_t *o = NULL;
                    if ((x = json_object_get(av, "S")))
                        o = json_pack("{s:s,s:O}", "attributeType", "STRING", "valueAttribute", x);
                    else if ((x = json_object_get(av, "N")))
                        o = json_pack("{s:s,s:O}", "attributeType", "DOUBLE", "valueAttribute", x);
                    else if ((x = json_object_get(av, "SL")))
                        o = json_pack("{s:s,s:O}", "attributeType", "STRING_LIST", "valueAttribute",
                                      x);
                    else if ((x = json_object_get(av, "SDM")))
                        o = json_pack("{s:s,s:O}", "attributeType", "STRING_DOUBLE_MAP",
                                      "valueAttribute", x);
                    if (o)
                        json_object_set_new(attrs, an, o);
                }
                json_t *p = json_pack("{s:s}", "playerId", t->players[i].id);
                if (json_object_size(attrs))
                    json_object_set(p, "attributes", attrs);
                json_decref(attrs);
                json_array_append_new(players, p);
            }
        }
        json_array_append_new(teams, json_pack("{s:s,s:o}", "name", tn, "players", players));
    }
    json_t *md = json_pack("{s:s,s:s,s:o,s:s}", "matchId", match_id ? match_id : m->id,
                           "matchmakingConfigurationArn", c->arn, "teams", teams,
                           "autoBackfillMode", c->backfill_auto ? "AUTOMATIC" : "MANUAL");
    if (m->bf && m->bf->auto_bf)
        json_object_set_new(md, "autoBackfillTicketId", json_string(m->bf->id));
    char *text = json_dumps(md, JSON_COMPACT);
    json_decref(md);
    char *out = hg_strdup(text);
    free(text);
    return out;
}

static void fail_match(hg_flexmatch_t *fm, hg_fm_match_t *m, const char *reason,
                       const char *message, hg_store_txn_t *txn)
{
    hg_fm_config_t *c = m->config;
    size_t n;
    hg_fm_ticket_t **ts = match_take(fm, m, &n);
    for (size_t i = 0; i < n; i++)
        finish(fm, ts[i], HG_FM_FAILED, reason, message, txn);
    emit(fm, txn, c, "MatchmakingFailed", ts, n, ts[0]->match_id, EV_TEAM,
         json_pack("{s:s,s:s}", "reason", reason, "message", message));
    hg_free(ts);
}

/* The matchId in a game session's MatchmakerData (NULL when it has none). */
static char *session_match_id(const hg_fl_gsession_t *gs)
{
    json_t *md = gs->matchmaker_data ? json_loads(gs->matchmaker_data, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(md, "matchId"));
    char *out = id ? hg_strdup(id) : NULL;
    json_decref(md);
    return out;
}

/* Seats for a backfill's new players: player sessions on gs, at most 25 per call (the
 * module's cap), after checking that they all fit. */
static int take_seats(hg_flexmatch_t *fm, hg_fm_match_t *m, hg_fl_gsession_t *gs,
                      hg_store_txn_t *txn, hg_error_t *err)
{
    size_t np = 0;
    for (size_t k = 0; k < m->ntickets; k++)
        if (m->tickets[k] != m->bf)
            np += m->tickets[k]->nplayers;
    if (gs->status != HG_GS_ACTIVE)
        return hg_error_set(err, HG_EINVAL, "The game session is %s",
                            hg_gs_status_name(gs->status));
    if (gs->nplayers + np > (size_t)gs->max_players)
        return hg_error_set(err, HG_EINVAL,
                            "The game session has %zu open player slots; the new players are %zu",
                            (size_t)gs->max_players - gs->nplayers, np);
    enum { CHUNK = 25 };
    const char *ids[CHUNK];
    hg_fm_player_t *who[CHUNK];
    hg_fl_psession_t *out[CHUNK];
    size_t n = 0;
    for (size_t k = 0; k < m->ntickets; k++) {
        hg_fm_ticket_t *t = m->tickets[k];
        for (size_t i = 0; t != m->bf && i < t->nplayers; i++) {
            who[n] = &t->players[i];
            ids[n++] = t->players[i].id;
            if (n < CHUNK)
                continue;
            int rc = hg_fl_ps_create(fm->fl, gs, ids, NULL, n, txn, out, err);
            if (rc < 0)
                return rc;
            for (size_t j = 0; j < n; j++)
                snprintf(who[j]->psid, sizeof(who[j]->psid), "%s", out[j]->id);
            n = 0;
        }
    }
    if (n) {
        int rc = hg_fl_ps_create(fm->fl, gs, ids, NULL, n, txn, out, err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < n; j++)
            snprintf(who[j]->psid, sizeof(who[j]->psid), "%s", out[j]->id);
    }
    return 0;
}

/* A backfill's match is made (and accepted): in STANDALONE its tickets complete; otherwise its
 * new players get seats in the game session, the session's MatchmakerData lists every player,
 * its server is told (UpdateGameSession MATCHMAKING_DATA_UPDATED once durable) and the tickets
 * complete with the session. When the seats cannot be had (the session ended, is full, or
 * takes no players) the backfill ticket FAILS and the new tickets search on. */
static void proceed_backfill(hg_flexmatch_t *fm, hg_fm_match_t *m, hg_store_txn_t *txn)
{
    hg_fm_config_t *c = m->config;
    hg_fm_ticket_t *bf = m->bf;
    hg_fl_gsession_t *gs = NULL;
    char *md = NULL;
    hg_error_t err;
    hg_error_clear(&err);
    int rc = 0;
    if (!c->standalone && bf->bf_gs) {
        gs = fm->fl ? hg_fl_gs_find(fm->fl, bf->bf_gs) : NULL;
        rc = gs == NULL ? hg_error_set(&err, HG_ENOTFOUND, "The game session is gone")
                        : take_seats(fm, m, gs, txn, &err);
        if (rc == 0) {
            char *mid = session_match_id(gs);
            md = matchmaker_data(m, mid);
            hg_free(mid);
            if (strlen(md) > HG_FM_MAX_MATCHMAKER_DATA)
                rc = hg_error_set(&err, HG_EINVAL, "MatchmakerData over %d bytes",
                                  HG_FM_MAX_MATCHMAKER_DATA);
        }
    }
    size_t n;
    hg_fm_ticket_t **ts = match_take(fm, m, &n);
    if (rc < 0) {
        for (size_t k = 0; k < n; k++)
            if (ts[k] != bf)
                back_to_search(ts[k], txn);
        end_one(fm, c, bf, HG_FM_FAILED, "FAILED", hg_error_message(&err), "MatchmakingFailed",
                txn);
        hg_free(md);
        hg_free(ts);
        return;
    }
    json_t *extra = NULL;
    if (gs) {
        hg_fl_gs_matchmaking_update(fm->fl, gs, md, "MATCHMAKING_DATA_UPDATED", bf->id, txn);
        json_t *gsi = json_pack("{s:s,s:s,s:i}", "gameSessionArn", gs->arn, "ipAddress",
                                gs->ip ? gs->ip : "", "port", gs->port);
        if (gs->dns)
            json_object_set_new(gsi, "dnsName", json_string(gs->dns));
        extra = json_pack("{s:o}", "gameSessionInfo", gsi);
        for (size_t k = 0; k < n; k++) {
            hg_free(ts[k]->gs_arn);
            ts[k]->gs_arn = hg_strdup(gs->arn);
            ts[k]->ip = gs->ip ? hg_strdup(gs->ip) : NULL;
            ts[k]->dns = gs->dns ? hg_strdup(gs->dns) : NULL;
            ts[k]->port = gs->port;
        }
    }
    for (size_t k = 0; k < n; k++)
        finish(fm, ts[k], HG_FM_COMPLETED, NULL, NULL, txn);
    emit(fm, txn, c, "MatchmakingSucceeded", ts, n, ts[0]->match_id, EV_TEAM | EV_PSID, extra);
    HG_LOG(HG_LOG_INFO, "match", "backfill %s filled game session %s with %zu tickets", bf->id,
           gs ? gs->arn : "(standalone)", n - 1);
    hg_free(md);
    hg_free(ts);
}

/* All players are in (or no acceptance is needed): STANDALONE completes, WITH_QUEUE places. */
static void proceed(hg_flexmatch_t *fm, hg_fm_match_t *m, hg_store_txn_t *txn)
{
    hg_fm_config_t *c = m->config;
    m->accept_deadline_ms = 0;
    if (m->bf) {
        proceed_backfill(fm, m, txn);
        return;
    }
    if (c->standalone) {
        size_t n;
        hg_fm_ticket_t **ts = match_take(fm, m, &n);
        for (size_t i = 0; i < n; i++)
            finish(fm, ts[i], HG_FM_COMPLETED, NULL, NULL, txn);
        emit(fm, txn, c, "MatchmakingSucceeded", ts, n, ts[0]->match_id, EV_TEAM, NULL);
        hg_free(ts);
        return;
    }
    hg_pl_queue_t *q = NULL; /* the first of GameSessionQueueArns that still exists */
    for (size_t i = 0; fm->pl && q == NULL && i < c->nqueues; i++)
        q = hg_pl_queue_find(fm->pl, c->queues[i]);
    if (q == NULL) {
        fail_match(fm, m, "PLACEMENT_FAILED",
                   "none of the configuration's game session queues exists", txn);
        return;
    }
    size_t np = 0, nlat = 0;
    for (size_t k = 0; k < m->ntickets; k++) {
        np += m->tickets[k]->nplayers;
        for (size_t i = 0; i < m->tickets[k]->nplayers; i++)
            nlat += m->tickets[k]->players[i].nlat;
    }
    const char **desired = hg_calloc(np + 1, sizeof(*desired));
    hg_pl_latency_t *lat = hg_calloc(nlat + 1, sizeof(*lat));
    json_t *jl = json_array(), *jd = json_array();
    size_t di = 0, li = 0;
    for (size_t k = 0; k < m->ntickets; k++) {
        hg_fm_ticket_t *t = m->tickets[k];
        t->status = HG_FM_PLACING;
        for (size_t i = 0; i < t->nplayers; i++) {
            const hg_fm_player_t *p = &t->players[i];
            desired[di++] = p->id;
            json_array_append_new(jd, json_pack("{s:s}", "PlayerId", p->id));
            for (size_t j = 0; j < p->nlat; j++) {
                lat[li++] = (hg_pl_latency_t){p->id, p->lat[j].region, p->lat[j].ms};
                json_array_append_new(jl, json_pack("{s:s,s:s,s:f}", "PlayerId", p->id,
                                                    "RegionIdentifier", p->lat[j].region,
                                                    "LatencyInMilliseconds", p->lat[j].ms));
            }
        }
        ticket_save(t, txn);
    }
    char *md = matchmaker_data(m, NULL);
    int max = hg_rules_max_players(c->rs->rules);
    json_t *req = json_pack("{s:i,s:o,s:s}", "MaximumPlayerSessionCount", max,
                            "DesiredPlayerSessions", jd, "MatchmakerData", md);
    if (li)
        json_object_set(req, "PlayerLatencies", jl);
    json_decref(jl);
    json_t *v;
    if ((v = json_object_get(c->cfg, "GameProperties")))
        json_object_set(req, "GameProperties", v);
    if ((v = json_object_get(c->cfg, "GameSessionData")))
        json_object_set(req, "GameSessionData", v);
    hg_pl_start_in_t in = {
        .id = m->id,
        .req = req,
        .gs_data = json_string_value(json_object_get(c->cfg, "GameSessionData")),
        .props = json_object_get(c->cfg, "GameProperties"),
        .max_players = max,
        .lat = lat,
        .nlat = li,
        .desired = desired,
        .ndesired = di,
    };
    hg_pl_placement_t *p;
    int existed;
    hg_error_t err;
    hg_error_clear(&err);
    m->placing = 1; /* before the start: the placement's end must find the match placing */
    int rc = strlen(md) > HG_FM_MAX_MATCHMAKER_DATA
                 ? hg_error_set(&err, HG_EINVAL, "MatchmakerData over %d bytes",
                                HG_FM_MAX_MATCHMAKER_DATA)
                 : hg_pl_start(fm->pl, q, &in, txn, &p, &existed, &err);
    json_decref(req);
    hg_free(md);
    hg_free(desired);
    hg_free(lat);
    if (rc < 0) {
        fail_match(fm, m, "PLACEMENT_FAILED", hg_error_message(&err), txn);
        return;
    }
    HG_LOG(HG_LOG_INFO, "match", "match %s placing on queue %s", m->id, q->name);
}

static hg_fm_match_t *match_new(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, size_t n)
{
    hg_fm_match_t *m = hg_calloc(1, sizeof(*m));
    if (id)
        snprintf(m->id, sizeof(m->id), "%s", id);
    else
        uuid_gen(m->id, -1);
    m->config = c;
    m->tickets = hg_calloc(n + 1, sizeof(*m->tickets));
    hg_map_set(&fm->matches, m->id, m);
    hg_list_insert_tail(&fm->match_list, &m->node);
    return m;
}

/* The match falls through (acceptance "Rejected" or "TimedOut", or a ticket stopped): tickets
 * with a player who rejected — or, on a timeout, who did not accept — and the stopped one are
 * CANCELLED; the others search again. */
static void drop_match(hg_flexmatch_t *fm, hg_fm_match_t *m, const char *acceptance,
                       hg_fm_ticket_t *stopped, hg_store_txn_t *txn)
{
    hg_fm_config_t *c = m->config;
    int timed_out = strcmp(acceptance, "TimedOut") == 0;
    char mid[40];
    snprintf(mid, sizeof(mid), "%s", m->id);
    size_t n;
    hg_fm_ticket_t **ts = match_take(fm, m, &n);
    emit(fm, txn, c, "AcceptMatchCompleted", ts, n, mid, EV_TEAM | EV_ANSWER,
         json_pack("{s:s}", "acceptance", acceptance));
    for (size_t k = 0; k < n; k++) {
        hg_fm_ticket_t *t = ts[k];
        int cancel = t == stopped;
        for (size_t i = 0; i < t->nplayers && !cancel; i++)
            cancel = t->players[i].answer < 0 || (timed_out && t->players[i].answer == 0);
        t->match = NULL;
        if (cancel)
            end_one(fm, c, t, HG_FM_CANCELLED, "CANCELLED",
                    t == stopped ? "Request was cancelled by the user"
                    : timed_out  ? "A player did not accept the match in time"
                                 : "A player rejected the match",
                    "MatchmakingCancelled", txn);
        else
            back_to_search(t, txn);
    }
    hg_free(ts);
}

/* ---- tickets: API ---- */

/* A new ticket QUEUED on c (id NULL or "": a UUID): a matchmaking ticket (backfill 0) or a
 * backfill ticket for game session gs_arn (1; 2 for an automatic one). */
static int ticket_open(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, json_t *players,
                       int backfill, const char *gs_arn, hg_store_txn_t *txn, hg_fm_ticket_t **out,
                       hg_error_t *err)
{
    char gen[37];
    if (id == NULL || *id == '\0') {
        /* time-ordered: a ticket's record goes in at the right edge of the store's index, and
         * the oldest are the ones forgotten first (HG_FM_MAX_DONE), so a batch's writes touch
         * a few neighbouring pages instead of one random page each */
        uuid_gen(gen, now_ms(fm));
        id = gen;
    }
    if (fm->nactive >= HG_FM_MAX_ACTIVE)
        return hg_error_set(err, HG_ELIMIT, "at most %d matchmaking tickets may be in progress",
                            HG_FM_MAX_ACTIVE);
    hg_fm_ticket_t *t = hg_calloc(1, sizeof(*t));
    t->backfill = backfill > 0;
    t->auto_bf = backfill == 2;
    t->players_json = json_incref(players); /* the request's own tree, which nothing changes
                                             * after (copying it was 4% of the loop) */
    size_t pi;
    json_t *pj;
    json_array_foreach (t->players_json, pi, pj) /* a team is the matcher's to give */
        if (!t->backfill)
            json_object_del(pj, "Team");
    int rc = players_build(t, err);
    for (size_t i = 0; rc == 0 && t->backfill && i < t->nplayers; i++)
        if (hg_rules_team_index(c->rs->rules, t->players[i].team) < 0)
            rc = hg_error_set(err, HG_EINVAL, "Players[%zu].Team: rule set %s has no team %s", i,
                              c->rs->name, t->players[i].team);
    if (rc < 0) {
        ticket_free(t);
        return rc;
    }
    t->id = hg_strdup(id);
    t->config_name = hg_strdup(c->name);
    t->config = c;
    t->status = HG_FM_QUEUED;
    t->start_ms = now_ms(fm);
    t->deadline_ms = t->start_ms + c->request_timeout_s * 1000;
    t->seq = fm->next_seq++;
    hg_map_set(&fm->tickets, t->id, t);
    hg_list_insert_tail(&fm->active, &t->mnode);
    fm->nactive++;
    if (t->backfill) {
        t->bf_gs = gs_arn ? hg_strdup(gs_arn) : NULL;
        hg_list_insert_tail(&c->backfills, &t->cnode);
        c->nbackfills++;
        fm->bf_started++;
    } else {
        hg_list_insert_tail(&c->tickets, &t->cnode);
        c->nsearching++;
    }
    fm->started++;
    ticket_save(t, txn);
    *out = t;
    return 0;
}

int hg_fm_start(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, json_t *players,
                hg_store_txn_t *txn, hg_fm_ticket_t **out, int *existed, hg_error_t *err)
{
    *existed = 0;
    hg_fm_ticket_t *t = id && *id ? hg_map_get(&fm->tickets, id) : NULL;
    if (t) {
        *out = t;
        *existed = 1;
        return 0;
    }
    return ticket_open(fm, c, id, players, 0, NULL, txn, out, err);
}

/* A backfill ticket gives way (replaced, or its session ended): CANCELLED, and its game server
 * is not told. */
static void backfill_cancel(hg_flexmatch_t *fm, hg_fm_ticket_t *t, const char *why,
                            hg_store_txn_t *txn)
{
    t->quiet = 1;
    if (t->status == HG_FM_REQUIRES_ACCEPTANCE && t->match)
        drop_match(fm, t->match, "Rejected", t, txn);
    else if (t->status == HG_FM_QUEUED || t->status == HG_FM_SEARCHING)
        end_one(fm, t->config, t, HG_FM_CANCELLED, "CANCELLED", why, "MatchmakingCancelled", txn);
}

int hg_fm_backfill_start(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, const char *gs_arn,
                         json_t *players, const char *proc_key, hg_store_txn_t *txn,
                         hg_fm_ticket_t **out, int *existed, hg_error_t *err)
{
    *existed = 0;
    hg_fm_ticket_t *t = id && *id ? hg_map_get(&fm->tickets, id) : NULL;
    if (t) {
        *out = t;
        *existed = 1;
        return 0;
    }
    hg_fl_gsession_t *gs = NULL;
    if (c->standalone) {
        gs_arn = NULL; /* no game session: the match goes out as events */
    } else if (gs_arn == NULL || *gs_arn == '\0') {
        return hg_error_set(err, HG_EINVAL,
                            "GameSessionArn is required: configuration %s places its matches "
                            "(FlexMatchMode WITH_QUEUE)",
                            c->name);
    } else {
        gs = fm->fl ? hg_fl_gs_find(fm->fl, gs_arn) : NULL;
        if (gs == NULL || (proc_key && strcmp(gs->proc_key, proc_key) != 0))
            return hg_error_set(err, HG_ENOTFOUND, "Game session %s not found%s", gs_arn,
                                gs ? " on this process" : "");
        if (gs->status != HG_GS_ACTIVE && gs->status != HG_GS_ACTIVATING)
            return hg_error_set(err, HG_EINVAL, "Game session %s is %s", gs_arn,
                                hg_gs_status_name(gs->status));
        if (gs->matchmaker_data == NULL)
            return hg_error_set(err, HG_EINVAL,
                                "Game session %s was not created by FlexMatch: only a matched "
                                "game session can be backfilled",
                                gs_arn);
        gs_arn = gs->arn;
    }
    int rc = ticket_open(fm, c, id, players, 1, gs_arn, txn, &t, err);
    if (rc < 0)
        return rc;
    if (gs) { /* one backfill per game session: a newer one replaces it */
        hg_fm_ticket_t *old = hg_map_get(&fm->bf_by_gs, gs->arn);
        if (old)
            backfill_cancel(fm, old, "Replaced by a newer backfill request", txn);
        hg_map_set(&fm->bf_by_gs, gs->arn, t);
    }
    HG_LOG(HG_LOG_DEBUG, "match", "backfill ticket id=%s config=%s game_session=%s players=%zu",
           t->id, c->name, gs_arn ? gs_arn : "-", t->nplayers);
    *out = t;
    return 0;
}

/* Automatic backfill is stopped for game session arn (until the session ends). */
static void auto_off(hg_flexmatch_t *fm, const char *arn, hg_store_txn_t *txn)
{
    if (hg_map_get(&fm->bf_off, arn))
        return;
    hg_map_set(&fm->bf_off, arn, (void *)1);
    json_t *r = json_object();
    hg_store_put(txn, COLL_BF_OFF, arn, r);
    json_decref(r);
}

hg_fm_ticket_t *hg_fm_find(hg_flexmatch_t *fm, const char *id)
{
    return hg_map_get(&fm->tickets, id);
}

int hg_fm_stop(hg_flexmatch_t *fm, hg_fm_ticket_t *t, hg_store_txn_t *txn, hg_error_t *err)
{
    if (t->auto_bf && t->bf_gs) {
        hg_fl_gsession_t *gs = fm->fl ? hg_fl_gs_find(fm->fl, t->bf_gs) : NULL;
        if (gs && gs->status != HG_GS_TERMINATED)
            auto_off(fm, t->bf_gs, txn);
        if (ended(t->status))
            return 0;
    }
    switch (t->status) {
    case HG_FM_CANCELLED: return 0;
    case HG_FM_QUEUED:
    case HG_FM_SEARCHING:
        end_one(fm, t->config, t, HG_FM_CANCELLED, "CANCELLED", "Request was cancelled by the user",
                "MatchmakingCancelled", txn);
        return 0;
    case HG_FM_REQUIRES_ACCEPTANCE: drop_match(fm, t->match, "Rejected", t, txn); return 0;
    default:
        return hg_error_set(err, HG_EINVAL, "Matchmaking ticket %s is %s and cannot be stopped",
                            t->id, hg_fm_status_name(t->status));
    }
}

int hg_fm_accept(hg_flexmatch_t *fm, hg_fm_ticket_t *t, const char *const *players, size_t n,
                 int accept, hg_store_txn_t *txn, hg_error_t *err)
{
    if (t->status != HG_FM_REQUIRES_ACCEPTANCE || t->match == NULL)
        return hg_error_set(err, HG_EINVAL, "Matchmaking ticket %s is %s, not REQUIRES_ACCEPTANCE",
                            t->id, hg_fm_status_name(t->status));
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (i < t->nplayers && strcmp(t->players[i].id, players[k]) != 0)
            i++;
        if (i == t->nplayers)
            return hg_error_set(err, HG_EINVAL, "Player %s is not in matchmaking ticket %s",
                                players[k], t->id);
    }
    int rejected = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < t->nplayers; i++)
            if (strcmp(t->players[i].id, players[k]) == 0 && t->players[i].answer >= 0)
                t->players[i].answer = accept ? 1 : -1, rejected |= !accept;
    ticket_save(t, txn);
    hg_fm_match_t *m = t->match;
    emit(fm, txn, m->config, "AcceptMatch", m->tickets, m->ntickets, m->id, EV_TEAM | EV_ANSWER,
         NULL);
    if (rejected) {
        drop_match(fm, m, "Rejected", NULL, txn);
        return 0;
    }
    for (size_t k = 0; k < m->ntickets; k++)
        for (size_t i = 0; i < m->tickets[k]->nplayers; i++)
            if (m->tickets[k]->players[i].answer <= 0)
                return 0; /* still waiting for someone */
    emit(fm, txn, m->config, "AcceptMatchCompleted", m->tickets, m->ntickets, m->id,
         EV_TEAM | EV_ANSWER, json_pack("{s:s}", "acceptance", "Accepted"));
    proceed(fm, m, txn);
    return 0;
}

void hg_fm_config_delete(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_store_txn_t *txn)
{
    /* matches of this configuration first (their tickets are not on c->tickets) */
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &fm->match_list) {
        hg_fm_match_t *m = hg_container_of(it, hg_fm_match_t, node);
        if (m->config != c)
            continue;
        size_t n;
        hg_fm_ticket_t **ts = match_take(fm, m, &n);
        for (size_t i = 0; i < n; i++)
            end_one(fm, c, ts[i], HG_FM_CANCELLED, "CANCELLED",
                    "The matchmaking configuration was deleted", "MatchmakingCancelled", txn);
        hg_free(ts);
    }
    while (!hg_list_empty(&c->tickets))
        end_one(fm, c, hg_container_of(c->tickets.next, hg_fm_ticket_t, cnode), HG_FM_CANCELLED,
                "CANCELLED", "The matchmaking configuration was deleted", "MatchmakingCancelled",
                txn);
    while (!hg_list_empty(&c->backfills))
        end_one(fm, c, hg_container_of(c->backfills.next, hg_fm_ticket_t, cnode), HG_FM_CANCELLED,
                "CANCELLED", "The matchmaking configuration was deleted", "MatchmakingCancelled",
                txn);
    hg_store_del(txn, COLL_CONFIGS, c->name);
    hg_list_remove(&c->node);
    hg_map_del(&fm->configs, c->name);
    c->rs->refs--;
    HG_LOG(HG_LOG_INFO, "match", "configuration deleted name=%s", c->name);
    config_free(c);
}

/* ---- the engine ---- */

static const char *unmatchable(hg_match_state_t st)
{
    switch (st) {
    case HG_MATCH_BAD_ATTRIBUTE:
        return "A player attribute a rule reads is missing (and has no default) or has the "
               "wrong type";
    case HG_MATCH_NO_LATENCY:
        return "The rule set has latency rules and no player reported latency";
    case HG_MATCH_TOO_LARGE: return "The party is larger than every team of the rule set";
    case HG_MATCH_BAD_TICKET: return "The ticket's players cannot be matched";
    default: return NULL;
    }
}

/* One proposal of the matcher becomes a match (bf: the backfill ticket it fills, or NULL). */
static void apply_proposal(hg_flexmatch_t *fm, hg_fm_config_t *c, const hg_match_result_t *res,
                           const hg_match_proposal_t *pr, hg_fm_ticket_t **pool_t,
                           hg_fm_ticket_t *bf, hg_store_txn_t *txn)
{
    int64_t now = now_ms(fm);
    hg_fm_match_t *m = match_new(fm, c, NULL, pr->count + 1);
    for (size_t k = 0; k < pr->count; k++) {
        hg_fm_ticket_t *t = pool_t[res->tickets[pr->first + k]];
        const char *team = hg_rules_team_name(c->rs->rules, res->teams[pr->first + k]);
        hg_list_remove(&t->cnode);
        hg_list_init(&t->cnode);
        c->nsearching--;
        t->match = m;
        hg_free(t->match_id);
        t->match_id = hg_strdup(m->id);
        for (size_t i = 0; i < t->nplayers; i++) {
            hg_free(t->players[i].team);
            t->players[i].team = hg_strdup(team);
            t->players[i].answer = 0;
        }
        m->tickets[m->ntickets++] = t;
        fm->matched_tickets++;
        fm->wait_ms_total += (uint64_t)(now - t->start_ms);
        double wait = (double)(now - t->start_ms);
        c->wait_avg_ms = c->wait_at_ms ? c->wait_avg_ms + (wait - c->wait_avg_ms) / 32 : wait;
        c->wait_at_ms = now;
        size_t b = 0;
        while (b < HG_FM_WAIT_BUCKETS && now - t->start_ms > hg_fm_wait_bounds_ms[b])
            b++;
        fm->wait_buckets[b]++;
    }
    if (bf) { /* its players are in the game already: they accept nothing */
        search_remove(bf);
        bf->match = m;
        hg_free(bf->match_id);
        bf->match_id = hg_strdup(m->id);
        for (size_t i = 0; i < bf->nplayers; i++)
            bf->players[i].answer = 1;
        m->tickets[m->ntickets++] = bf;
        m->bf = bf;
    }
    fm->nmatches++;
    emit(fm, txn, c, "PotentialMatchCreated", m->tickets, m->ntickets, m->id, EV_TEAM,
         json_pack("{s:b,s:I}", "acceptanceRequired", c->accept_required, "acceptanceTimeout",
                   (json_int_t)(c->accept_required ? c->accept_timeout_s : 0)));
    HG_LOG(HG_LOG_DEBUG, "match", "match %s config=%s tickets=%zu", m->id, c->name, m->ntickets);
    if (c->accept_required) {
        m->accept_deadline_ms = now + c->accept_timeout_s * 1000;
        for (size_t k = 0; k < m->ntickets; k++) {
            m->tickets[k]->status = HG_FM_REQUIRES_ACCEPTANCE;
            m->tickets[k]->accept_deadline_ms = m->accept_deadline_ms;
            ticket_save(m->tickets[k], txn);
        }
        return;
    }
    proceed(fm, m, txn);
}

/* The batch's time is up: it stops at the next ticket or match, and the rest waits for the next
 * batch, which comes at the next cron tick instead of the batch interval (hg_fm_more). Checked
 * every 64 steps (a clock read each would cost more than the step). */
static int over_budget(hg_flexmatch_t *fm, size_t step)
{
    if ((step & 63) != 63 || hg_mono_ns() < fm->batch_over)
        return 0;
    fm->more = 1;
    return 1;
}

/* The records of the tickets this batch made SEARCHING and nothing else wrote since: one write
 * per ticket and batch, in the batch's transaction (most of them are matched in the same batch,
 * and their COMPLETED or REQUIRES_ACCEPTANCE record is the one written). */
static void save_unsaved(hg_fm_config_t *c, hg_store_txn_t *txn)
{
    hg_list_t *it;
    hg_list_foreach (it, &c->tickets) {
        hg_fm_ticket_t *t = hg_container_of(it, hg_fm_ticket_t, cnode);
        if (t->unsaved)
            ticket_save(t, txn);
    }
    hg_list_foreach (it, &c->backfills) {
        hg_fm_ticket_t *t = hg_container_of(it, hg_fm_ticket_t, cnode);
        if (t->unsaved)
            ticket_save(t, txn);
    }
}

/* The backfill requests of this batch: QUEUED ones search; at most HG_MATCH_MAX_BACKFILL of the
 * searching ones (from the head of the list: see backfills_rotate) go to the matcher, each in
 * its game session's location. A request whose game session ended fails. */
static size_t backfills_gather(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_match_backfill_t *bfr,
                               hg_fm_ticket_t **bft, hg_store_txn_t *txn)
{
    size_t n = 0;
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &c->backfills) {
        hg_fm_ticket_t *t = hg_container_of(it, hg_fm_ticket_t, cnode);
        const char *where = NULL;
        if (t->bf_gs) {
            hg_fl_gsession_t *gs = fm->fl ? hg_fl_gs_find(fm->fl, t->bf_gs) : NULL;
            if (gs == NULL || gs->status == HG_GS_TERMINATED || gs->status == HG_GS_TERMINATING) {
                t->quiet = 1;
                end_one(fm, c, t, HG_FM_FAILED, "FAILED", "The game session ended",
                        "MatchmakingFailed", txn);
                continue;
            }
            where = gs->location;
        }
        if (t->status == HG_FM_QUEUED) {
            t->status = HG_FM_SEARCHING;
            t->unsaved = 1;
            emit(fm, txn, c, "MatchmakingSearching", &t, 1, NULL, EV_TEAM, searching_extra(fm, c));
        }
        if (n == HG_MATCH_MAX_BACKFILL)
            continue;
        bft[n] = t;
        bfr[n++] = (hg_match_backfill_t){t->id, t->mplayers, t->nplayers, t->start_ms, where};
    }
    return n;
}

/* More backfill requests than one run takes: the ones that ran and wait on go to the back. */
static void backfills_rotate(hg_fm_config_t *c, hg_fm_ticket_t **bft, size_t n)
{
    if (c->nbackfills <= HG_MATCH_MAX_BACKFILL)
        return;
    for (size_t i = 0; i < n; i++)
        if (bft[i]->status == HG_FM_SEARCHING && hg_list_linked(&bft[i]->cnode)) {
            hg_list_remove(&bft[i]->cnode);
            hg_list_insert_tail(&c->backfills, &bft[i]->cnode);
        }
}

static size_t batch_searching(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_store_txn_t *txn);

static size_t batch_config(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_store_txn_t *txn)
{
    size_t made = batch_searching(fm, c, txn);
    save_unsaved(c, txn);
    return made;
}

static size_t batch_searching(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_store_txn_t *txn)
{
    int64_t now = now_ms(fm);
    hg_list_t *it;
    size_t step = 0;
    /* QUEUED → SEARCHING (what the budget leaves QUEUED is not matched before it searches).
     * Only for the first half of the budget: each ticket made SEARCHING is written at the
     * batch's end (or when matched), which costs about as much again, so the batch as a whole
     * keeps to its budget; the rest waits for the next batch (hg_fm_more). */
    hg_list_foreach (it, &c->tickets) {
        hg_fm_ticket_t *t = hg_container_of(it, hg_fm_ticket_t, cnode);
        if (t->status != HG_FM_QUEUED)
            continue;
        if (over_budget(fm, step))
            return 0;
        if ((step++ & 63) == 63 && hg_mono_ns() >= fm->batch_flip) {
            fm->more = 1;
            break;
        }
        t->status = HG_FM_SEARCHING;
        t->unsaved = 1; /* written at the batch's end (save_unsaved), or by a later change */
        emit(fm, txn, c, "MatchmakingSearching", &t, 1, NULL, 0, searching_extra(fm, c));
    }
    hg_match_backfill_t bfr[HG_MATCH_MAX_BACKFILL];
    hg_fm_ticket_t *bft[HG_MATCH_MAX_BACKFILL];
    size_t nbf = c->nbackfills ? backfills_gather(fm, c, bfr, bft, txn) : 0;
    size_t n = c->nsearching;
    if (n == 0)
        return 0;
    /* QUEUED tickets come last in start order only when they started last: count the ones in
     * front that search (the pool never takes a QUEUED ticket) */
    size_t searching = 0;
    hg_list_foreach (it, &c->tickets) {
        if (hg_container_of(it, hg_fm_ticket_t, cnode)->status != HG_FM_SEARCHING)
            break;
        searching++;
    }
    if (n > searching)
        n = searching;
    if (n == 0)
        return 0;
    if (n > HG_MATCH_MAX_POOL)
        n = HG_MATCH_MAX_POOL; /* the oldest; the rest wait for a later batch */
    hg_match_ticket_t *pool = hg_calloc(n, sizeof(*pool));
    hg_fm_ticket_t **pool_t = hg_calloc(n, sizeof(*pool_t));
    size_t k = 0;
    hg_list_foreach (it, &c->tickets) {
        if (k == n)
            break;
        hg_fm_ticket_t *t = hg_container_of(it, hg_fm_ticket_t, cnode);
        pool[k] = (hg_match_ticket_t){t->id, t->mplayers, t->nplayers, t->start_ms};
        pool_t[k++] = t;
    }
    fm->pool_last += k;
    hg_match_result_t res;
    hg_error_t err;
    size_t made = 0;
    hg_match_opts_t opts = fm->opts;
    opts.open_slots = (size_t)c->additional;
    if (hg_match_run(c->rs->rules, pool, k, bfr, nbf, now, &opts, &res, &err) < 0) {
        HG_LOG(HG_LOG_WARN, "match", "batch config=%s: %s", c->name, err.msg);
        goto out;
    }
    fm->evals += res.evals;
    for (size_t i = 0; i < k; i++) {
        const char *why = unmatchable((hg_match_state_t)res.state[i]);
        if (why)
            end_one(fm, c, pool_t[i], HG_FM_FAILED, "FAILED", why, "MatchmakingFailed", txn);
    }
    for (size_t i = 0; i < res.nmatches; i++) {
        int b = res.matches[i].backfill;
        if (over_budget(fm, step++))
            break; /* the rest search on: the next batch finds them again */
        apply_proposal(fm, c, &res, &res.matches[i], pool_t, b >= 0 ? bft[b] : NULL, txn);
        made++;
    }
    for (size_t i = 0; i < nbf; i++) {
        if (res.bf_state[i] == HG_MATCH_BF_INVALID)
            end_one(fm, c, bft[i], HG_FM_FAILED, "FAILED",
                    "A player's attribute is missing or mistyped, or a team has more players than "
                    "the rule set allows",
                    "MatchmakingFailed", txn);
        else if (res.bf_state[i] == HG_MATCH_BF_FULL)
            end_one(fm, c, bft[i], HG_FM_FAILED, "FAILED", "The match has no open player slot",
                    "MatchmakingFailed", txn);
    }
    backfills_rotate(c, bft, nbf);
    hg_match_result_free(&res);
out:
    hg_free(pool);
    hg_free(pool_t);
    return made;
}

size_t hg_fm_batch(hg_flexmatch_t *fm)
{
    uint64_t t0 = hg_mono_ns();
    size_t nc = hg_map_count(&fm->configs), made = 0;
    if (nc == 0)
        return 0;
    hg_fm_config_t **cs = hg_calloc(nc, sizeof(*cs));
    size_t k = 0, start = 0;
    hg_list_t *it;
    hg_list_foreach (it, &fm->config_order) {
        cs[k] = hg_container_of(it, hg_fm_config_t, node);
        if (cs[k]->seq <= fm->cursor)
            start = k + 1;
        k++;
    }
    if (start >= nc)
        start = 0;
    hg_store_txn_t *txn = hg_store_txn_new(fm->store);
    fm->pool_last = 0;
    fm->cursor = 0;
    fm->more = 0;
    fm->batch_t0 = t0;
    fm->batch_over = t0 + (uint64_t)fm->batch_budget_ms * 1000000ull;
    fm->batch_flip = t0 + (uint64_t)fm->batch_budget_ms * 500000ull;
    for (size_t i = 0; i < nc; i++) {
        hg_fm_config_t *c = cs[(start + i) % nc];
        made += batch_config(fm, c, txn);
        if (fm->more) { /* this one again first */
            fm->cursor = c->seq - 1;
            break;
        }
        if (i + 1 < nc && hg_mono_ns() > fm->batch_over) { /* yield */
            fm->cursor = c->seq;
            fm->more = 1;
            break;
        }
    }
    hg_free(cs);
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    uint64_t ns = hg_mono_ns() - t0;
    fm->batches++;
    fm->batch_ns_last = ns;
    fm->batch_ns_total += ns;
    if (ns > fm->batch_ns_max)
        fm->batch_ns_max = ns;
    return made;
}

int hg_fm_more(const hg_flexmatch_t *fm)
{
    return fm->more;
}

size_t hg_fm_tick(hg_flexmatch_t *fm, size_t budget)
{
    int64_t now = now_ms(fm);
    hg_store_txn_t *txn = hg_store_txn_new(fm->store);
    size_t n = 0;
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &fm->match_list) {
        if (n >= budget)
            break;
        hg_fm_match_t *m = hg_container_of(it, hg_fm_match_t, node);
        if (m->accept_deadline_ms && m->accept_deadline_ms <= now) {
            drop_match(fm, m, "TimedOut", NULL, txn);
            n++;
        }
    }
    /* a configuration's QUEUED and SEARCHING tickets are in start order, and so are their
     * deadlines (one timeout): only the expired head is visited, unless the timeout changed
     * (then one walk over all, which also finds when the order holds again). Backfill tickets
     * are few: all are looked at. */
    hg_list_foreach (it, &fm->config_order) {
        hg_fm_config_t *c = hg_container_of(it, hg_fm_config_t, node);
        hg_list_t *ti, *tn;
        int64_t prev = INT64_MIN;
        int ordered = 1;
        hg_list_foreach_safe (ti, tn, &c->tickets) {
            hg_fm_ticket_t *t = hg_container_of(ti, hg_fm_ticket_t, cnode);
            if (n >= budget) {
                ordered = 0;
                break;
            }
            if (t->deadline_ms <= now) {
                end_one(fm, c, t, HG_FM_TIMED_OUT, "TIMED_OUT", "Matchmaking request timed out",
                        "MatchmakingTimedOut", txn);
                n++;
                continue;
            }
            if (!c->unordered)
                break;
            ordered &= t->deadline_ms >= prev;
            prev = t->deadline_ms;
        }
        if (c->unordered && ordered)
            c->unordered = 0;
        hg_list_foreach_safe (ti, tn, &c->backfills) {
            hg_fm_ticket_t *t = hg_container_of(ti, hg_fm_ticket_t, cnode);
            if (n >= budget)
                break;
            if (t->deadline_ms <= now) {
                end_one(fm, c, t, HG_FM_TIMED_OUT, "TIMED_OUT", "Matchmaking request timed out",
                        "MatchmakingTimedOut", txn);
                n++;
            }
        }
    }
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    return n;
}

void hg_fm_on_placement(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_pl_placement_t *p)
{
    hg_fm_match_t *m = hg_map_get(&fm->matches, p->id);
    if (m == NULL || !m->placing || p->status == HG_PL_PENDING)
        return;
    if (p->status != HG_PL_FULFILLED) {
        fail_match(fm, m, "PLACEMENT_FAILED",
                   p->status == HG_PL_TIMED_OUT   ? "The game session placement timed out"
                   : p->status == HG_PL_CANCELLED ? "The game session placement was cancelled"
                                                  : "The game session placement failed",
                   txn);
        return;
    }
    hg_fm_config_t *c = m->config;
    size_t n;
    hg_fm_ticket_t **ts = match_take(fm, m, &n);
    for (size_t k = 0; k < n; k++) {
        hg_fm_ticket_t *t = ts[k];
        t->gs_arn = hg_strdup(p->gs_arn);
        t->ip = p->ip ? hg_strdup(p->ip) : NULL;
        t->dns = p->dns ? hg_strdup(p->dns) : NULL;
        t->port = p->port;
        for (size_t i = 0; i < t->nplayers; i++)
            for (size_t j = 0; j < p->nplaced; j++)
                if (strcmp(p->placed[j].player, t->players[i].id) == 0)
                    snprintf(t->players[i].psid, sizeof(t->players[i].psid), "%s",
                             p->placed[j].psid);
        finish(fm, t, HG_FM_COMPLETED, NULL, NULL, txn);
    }
    json_t *gsi = json_pack("{s:s,s:s,s:i}", "gameSessionArn", p->gs_arn, "ipAddress",
                            p->ip ? p->ip : "", "port", p->port);
    if (p->dns)
        json_object_set_new(gsi, "dnsName", json_string(p->dns));
    emit(fm, txn, c, "MatchmakingSucceeded", ts, n, ts[0]->match_id, EV_TEAM | EV_PSID,
         json_pack("{s:o}", "gameSessionInfo", gsi));
    hg_free(ts);
}

/* ---- automatic backfill ---- */

static const char *attr_key(const char *type)
{
    static const char *const map[][2] = {
        {"STRING", "S"}, {"DOUBLE", "N"}, {"STRING_LIST", "SL"}, {"STRING_DOUBLE_MAP", "SDM"}};
    for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* The players of gs still in it (RESERVED or ACTIVE) that its MatchmakerData md names, as a
 * backfill request's Players: PlayerId, Team, PlayerAttributes in the API's shape. */
static json_t *session_players(const hg_fl_gsession_t *gs, json_t *md)
{
    json_t *out = json_array();
    hg_list_t *it;
    hg_list_foreach (it, &gs->players) {
        const hg_fl_psession_t *ps = hg_container_of(it, hg_fl_psession_t, gnode);
        if (ps->status != HG_PS_RESERVED && ps->status != HG_PS_ACTIVE)
            continue;
        size_t i, j;
        json_t *team, *p, *found = NULL;
        json_array_foreach (out, i, p)
            if (strcmp(json_string_value(json_object_get(p, "PlayerId")), ps->player_id) == 0)
                found = p;
        json_array_foreach (json_object_get(md, "teams"), i, team) {
            const char *tn = json_string_value(json_object_get(team, "name"));
            json_array_foreach (json_object_get(team, "players"), j, p) {
                const char *pid = json_string_value(json_object_get(p, "playerId"));
                if (found || tn == NULL || pid == NULL || strcmp(pid, ps->player_id) != 0)
                    continue;
                json_t *attrs = json_object(), *av;
                const char *an;
                json_object_foreach (json_object_get(p, "attributes"), an, av) {
                    const char *k =
                        attr_key(json_string_value(json_object_get(av, "attributeType")));
                    json_t *v = json_object_get(av, "valueAttribute");
                    if (k && v)
                        json_object_set_new(attrs, an, json_pack("{s:O}", k, v));
                }
                found = json_pack("{s:s,s:s}", "PlayerId", pid, "Team", tn);
                if (json_object_size(attrs))
                    json_object_set(found, "PlayerAttributes", attrs);
                json_decref(attrs);
                json_array_append_new(out, found);
            }
        }
    }
    return out;
}

/* gs has open slots (it started with some, or a player left): when its configuration asks for
 * automatic backfill, a backfill ticket with its current players searches for more. An
 * automatic ticket still searching is replaced by one with the players as they are now; a
 * manual one, or one whose match is being accepted, is left alone. */
static void auto_backfill(hg_flexmatch_t *fm, const hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    if (gs->status != HG_GS_ACTIVE || gs->deny_all || gs->matchmaker_data == NULL ||
        hg_map_get(&fm->bf_off, gs->arn))
        return;
    hg_fm_ticket_t *old = hg_map_get(&fm->bf_by_gs, gs->arn);
    if (old && (!old->auto_bf || (old->status != HG_FM_QUEUED && old->status != HG_FM_SEARCHING)))
        return;
    json_t *md = json_loads(gs->matchmaker_data, 0, NULL);
    const char *arn = json_string_value(json_object_get(md, "matchmakingConfigurationArn"));
    hg_fm_config_t *c = arn ? hg_fm_config_find(fm, arn) : NULL;
    if (c == NULL || !c->backfill_auto || c->standalone) {
        json_decref(md);
        return;
    }
    json_t *players = session_players(gs, md);
    size_t n = json_array_size(players);
    int open = n > 0 && n < (size_t)hg_rules_max_players(c->rs->rules) &&
               gs->nplayers < (size_t)gs->max_players;
    if (old)
        backfill_cancel(fm, old, "Replaced by a newer automatic backfill request", txn);
    hg_fm_ticket_t *t;
    hg_error_t err;
    if (open && ticket_open(fm, c, NULL, players, 2, gs->arn, txn, &t, &err) == 0) {
        hg_map_set(&fm->bf_by_gs, gs->arn, t);
        HG_LOG(HG_LOG_INFO, "match", "automatic backfill id=%s game_session=%s players=%zu", t->id,
               gs->arn, n);
    } else if (open) {
        HG_LOG(HG_LOG_WARN, "match", "automatic backfill of %s not started: %s", gs->arn, err.msg);
    }
    json_decref(players);
    json_decref(md);
}

void hg_fm_on_session(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    if (txn == NULL)
        return;
    if (gs->status == HG_GS_ACTIVE) {
        auto_backfill(fm, gs, txn);
        return;
    }
    if (gs->status != HG_GS_TERMINATED)
        return;
    hg_fm_ticket_t *t = hg_map_get(&fm->bf_by_gs, gs->arn);
    if (t)
        backfill_cancel(fm, t, "The game session ended", txn);
    if (hg_map_del(&fm->bf_off, gs->arn))
        hg_store_del(txn, COLL_BF_OFF, gs->arn);
}

void hg_fm_on_slot_freed(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    if (txn)
        auto_backfill(fm, gs, txn);
}

/* ---- load ---- */

static int load_bf_off(void *ud, const char *key, json_t *v)
{
    (void)v;
    hg_map_set(&((hg_flexmatch_t *)ud)->bf_off, key, (void *)1);
    return 0;
}

static int load_ruleset(void *ud, const char *key, json_t *v)
{
    hg_flexmatch_t *fm = ud;
    const char *body = json_string_value(json_object_get(v, "body"));
    hg_rules_t *rules = NULL;
    hg_error_t err;
    if (body == NULL || hg_rules_parse(body, strlen(body), &rules, &err) < 0) {
        /* a body this version refuses (the language grew stricter): kept out of service */
        HG_LOG(HG_LOG_ERROR, "match", "rule set %s no longer compiles: %s", key,
               body ? err.msg : "no body");
        return 0;
    }
    hg_fm_ruleset_t *rs = hg_calloc(1, sizeof(*rs));
    rs->name = hg_strdup(key);
    rs->arn = arn_of(fm, "matchmakingruleset", key);
    rs->body = hg_strdup(body);
    rs->rules = rules;
    rs->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    rs->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    json_t *tags = json_object_get(v, "tags");
    rs->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    if (rs->seq >= fm->next_seq)
        fm->next_seq = rs->seq + 1;
    hg_map_set(&fm->rulesets, rs->name, rs);
    return 0;
}

static int load_config(void *ud, const char *key, json_t *v)
{
    hg_vec_t *vec = ud;
    hg_vec_push(vec, json_pack("{s:s,s:O}", "name", key, "v", v));
    return 0;
}

static int load_ticket(void *ud, const char *key, json_t *v)
{
    hg_vec_push(ud, json_pack("{s:s,s:O}", "id", key, "v", v));
    return 0;
}

/* Records by creation; ended tickets by their end (the retention list's order). */
static int cmp_json_seq(const void *a, const void *b)
{
    json_t *x = json_object_get(*(void *const *)a, "v"),
           *y = json_object_get(*(void *const *)b, "v");
    json_int_t xe = json_integer_value(json_object_get(x, "end_ms"));
    json_int_t ye = json_integer_value(json_object_get(y, "end_ms"));
    if (xe && ye && xe != ye)
        return xe < ye ? -1 : 1;
    json_int_t xs = json_integer_value(json_object_get(x, "seq"));
    json_int_t ys = json_integer_value(json_object_get(y, "seq"));
    return xs < ys ? -1 : xs > ys;
}

static hg_fm_status_t status_of(const char *s)
{
    for (int i = 0; s && i < 8; i++)
        if (strcmp(s, status_names[i]) == 0)
            return (hg_fm_status_t)i;
    return HG_FM_FAILED;
}

static const char *static_reason(const char *r)
{
    static const char *const known[] = {"CANCELLED", "FAILED", "TIMED_OUT", "PLACEMENT_FAILED",
                                        NULL};
    for (const char *const *k = known; r && *k; k++)
        if (strcmp(r, *k) == 0)
            return *k;
    return r ? "FAILED" : NULL;
}

static void restore_ticket(hg_flexmatch_t *fm, const char *id, json_t *v, hg_store_txn_t *fix)
{
    hg_fm_ticket_t *t = hg_calloc(1, sizeof(*t));
    hg_error_t err;
    const char *s;
    t->id = hg_strdup(id);
    t->config_name = hg_strdup((s = json_string_value(json_object_get(v, "config"))) ? s : "");
    t->status = status_of(json_string_value(json_object_get(v, "status")));
    t->reason = static_reason(json_string_value(json_object_get(v, "reason")));
    t->message = (s = json_string_value(json_object_get(v, "message"))) ? hg_strdup(s) : NULL;
    t->start_ms = json_integer_value(json_object_get(v, "start_ms"));
    t->end_ms = json_integer_value(json_object_get(v, "end_ms"));
    t->deadline_ms = json_integer_value(json_object_get(v, "deadline_ms"));
    t->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    t->accept_deadline_ms = json_integer_value(json_object_get(v, "accept_deadline_ms"));
    json_t *pj = json_object_get(v, "players");
    t->players_json = json_is_array(pj) ? json_incref(pj) : json_array();
    json_int_t bf = json_integer_value(json_object_get(v, "backfill"));
    t->backfill = bf > 0;
    t->auto_bf = bf == 2;
    if ((s = json_string_value(json_object_get(v, "bf_gs"))))
        t->bf_gs = hg_strdup(s);
    hg_list_init(&t->cnode);
    if (t->seq >= fm->next_seq)
        fm->next_seq = t->seq + 1;
    int bad = players_build(t, &err) < 0;
    if (bad) { /* keep it readable as it was: players without the matcher's view */
        players_free(t);
        t->nplayers = 0;
    }
    if ((s = json_string_value(json_object_get(v, "match"))))
        t->match_id = hg_strdup(s);
    json_t *teams = json_object_get(v, "teams"), *answers = json_object_get(v, "answers");
    json_t *psids = json_object_get(v, "psids");
    for (size_t i = 0; i < t->nplayers; i++) {
        if (!t->backfill && (s = json_string_value(json_array_get(teams, i))))
            t->players[i].team = hg_strdup(s); /* a backfill ticket's come with its players */
        t->players[i].answer = (int)json_integer_value(json_array_get(answers, i));
        if ((s = json_string_value(json_array_get(psids, i))))
            snprintf(t->players[i].psid, sizeof(t->players[i].psid), "%s", s);
    }
    if ((s = json_string_value(json_object_get(v, "gs")))) {
        t->gs_arn = hg_strdup(s);
        t->ip = (s = json_string_value(json_object_get(v, "ip"))) ? hg_strdup(s) : NULL;
        t->dns = (s = json_string_value(json_object_get(v, "dns"))) ? hg_strdup(s) : NULL;
        t->port = (int)json_integer_value(json_object_get(v, "port"));
    }
    hg_map_set(&fm->tickets, t->id, t);
    if (ended(t->status)) {
        retire(t);
        hg_list_insert_tail(&fm->done, &t->mnode);
        fm->ndone++;
        return;
    }
    hg_list_insert_tail(&fm->active, &t->mnode);
    fm->nactive++;
    hg_fm_config_t *c = hg_map_get(&fm->configs, t->config_name);
    t->config = c;
    if (c == NULL || bad) {
        t->config = c;
        finish(fm, t, HG_FM_FAILED, "FAILED",
               c ? "The ticket's players cannot be read" : "The matchmaking configuration is gone",
               fix);
        return;
    }
    if (t->backfill && t->bf_gs)
        hg_map_set(&fm->bf_by_gs, t->bf_gs, t);
    if (t->backfill)
        fm->bf_started++;
    if ((t->status == HG_FM_QUEUED || t->status == HG_FM_SEARCHING) && t->backfill) {
        hg_list_insert_tail(&c->backfills, &t->cnode);
        c->nbackfills++;
        return;
    }
    if (t->status == HG_FM_QUEUED || t->status == HG_FM_SEARCHING) {
        hg_list_insert_tail(&c->tickets, &t->cnode);
        c->nsearching++;
        return;
    }
    /* REQUIRES_ACCEPTANCE or PLACING: back into its match */
    hg_fm_match_t *m = t->match_id ? hg_map_get(&fm->matches, t->match_id) : NULL;
    if (m == NULL) {
        m = match_new(fm, c, t->match_id, MATCH_MAX_TICKETS);
        m->accept_deadline_ms = t->status == HG_FM_REQUIRES_ACCEPTANCE ? t->accept_deadline_ms : 0;
        m->placing = t->status == HG_FM_PLACING;
    }
    if (m->ntickets < MATCH_MAX_TICKETS)
        m->tickets[m->ntickets++] = t;
    t->match = m;
    if (t->backfill)
        m->bf = t;
}

int hg_flexmatch_load(hg_flexmatch_t *fm)
{
    hg_vec_t cv = {0}, tv = {0};
    int rc = hg_store_load(fm->store, COLL_RULESETS, load_ruleset, fm);
    if (rc == 0)
        rc = hg_store_load(fm->store, COLL_CONFIGS, load_config, &cv);
    if (rc == 0)
        rc = hg_store_load(fm->store, COLL_TICKETS, load_ticket, &tv);
    if (rc == 0)
        rc = hg_store_load(fm->store, COLL_BF_OFF, load_bf_off, fm);
    hg_store_txn_t *fix = hg_store_txn_new(fm->store);
    if (cv.n)
        qsort(cv.all, cv.n, sizeof(*cv.all), cmp_json_seq);
    for (size_t i = 0; i < cv.n; i++) {
        json_t *e = cv.all[i], *v = json_object_get(e, "v");
        const char *name = json_string_value(json_object_get(e, "name"));
        cfg_settings_t s;
        hg_error_t err;
        json_t *cfg = json_object_get(v, "cfg");
        if (rc == 0 && json_is_object(cfg) && cfg_parse(fm, cfg, &s, 0, &err) == 0) {
            hg_fm_config_t *c = config_new(fm, name);
            json_decref(c->cfg);
            c->cfg = json_deep_copy(cfg);
            json_t *tags = json_object_get(v, "tags");
            c->tags = json_is_array(tags) ? json_incref(tags) : json_array();
            cfg_apply(c, &s);
            c->created_ms = json_integer_value(json_object_get(v, "created_ms"));
            c->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
            if (c->seq >= fm->next_seq)
                fm->next_seq = c->seq + 1;
            c->unordered = 1; /* until the first tick has seen the loaded tickets */
            hg_map_set(&fm->configs, c->name, c);
            hg_list_insert_tail(&fm->config_order, &c->node);
        } else if (rc == 0) {
            HG_LOG(HG_LOG_ERROR, "match", "configuration %s cannot be loaded: %s", name,
                   json_is_object(cfg) ? err.msg : "no settings");
        }
        json_decref(e);
    }
    if (tv.n)
        qsort(tv.all, tv.n, sizeof(*tv.all), cmp_json_seq);
    for (size_t i = 0; i < tv.n; i++) {
        json_t *e = tv.all[i];
        if (rc == 0)
            restore_ticket(fm, json_string_value(json_object_get(e, "id")), json_object_get(e, "v"),
                           fix);
        json_decref(e);
    }
    hg_free(cv.all);
    hg_free(tv.all);
    /* automatic backfill stopped for sessions that ended while hangard was down: forgotten */
    size_t it2 = 0;
    const char *key;
    while (fm->fl && hg_map_next(&fm->bf_off, &it2, &key, NULL)) {
        hg_fl_gsession_t *gs = hg_fl_gs_find(fm->fl, key);
        if (gs == NULL || gs->status == HG_GS_TERMINATED) {
            hg_store_del(fix, COLL_BF_OFF, key);
            hg_map_del(&fm->bf_off, key);
        }
    }
    /* matches: an acceptance goes on to its deadline; a placement that ended while hangard was
     * down is applied now */
    hg_list_t *it, *tmp;
    hg_list_foreach_safe (it, tmp, &fm->match_list) {
        hg_fm_match_t *m = hg_container_of(it, hg_fm_match_t, node);
        if (!m->placing)
            continue;
        const hg_pl_placement_t *p = fm->pl ? hg_pl_find(fm->pl, m->id) : NULL;
        if (p == NULL)
            fail_match(fm, m, "PLACEMENT_FAILED", "The game session placement is gone", fix);
        else if (p->status != HG_PL_PENDING)
            hg_fm_on_placement(fm, fix, p);
    }
    if (rc < 0 || hg_store_txn_empty(fix))
        hg_store_txn_free(fix);
    else
        hg_store_commit(fix, NULL, NULL);
    HG_LOG(HG_LOG_INFO, "match", "loaded rule_sets=%zu configurations=%zu active=%zu ended=%zu",
           hg_map_count(&fm->rulesets), hg_map_count(&fm->configs), fm->nactive, fm->ndone);
    return rc;
}
