/* Unit tests: FlexMatch rule sets and the matcher (src/match/) — rule sets from the AWS
 * FlexMatch guide's examples compiled and run on small pools with known outcomes (which tickets
 * match, on which team, in which Region), expansions by ticket age, parties, backfill, a large
 * match, invalid rule sets refused with their location, the work budget, and a 10,000-ticket
 * pool that must form at least 1,200 8-player matches. */
#include <math.h>
#include <stdint.h>

#include "core/alloc.h"
#include "match/matcher.h"
#include "match/ruleset.h"
#include "test.h"

/* ---- building pools ---- */

typedef struct pool {
    hg_match_ticket_t *t;
    hg_match_player_t *p;
    hg_match_attr_t *a;
    hg_match_latency_t *l;
    const char **sl; /* string list storage */
    char (*ids)[24];
    size_t nt, np, na, nl, nsl, nids, cap;
} pool_t;

static pool_t *pool_new(size_t cap)
{
    pool_t *p = calloc(1, sizeof(*p));
    p->cap = cap;
    p->t = calloc(cap, sizeof(*p->t));
    p->p = calloc(cap * 2, sizeof(*p->p));
    p->a = calloc(cap * 4, sizeof(*p->a));
    p->l = calloc(cap * 4, sizeof(*p->l));
    p->sl = calloc(cap * 4, sizeof(*p->sl));
    p->ids = calloc(cap * 3, sizeof(*p->ids));
    return p;
}

static void pool_free(pool_t *p)
{
    free(p->t);
    free(p->p);
    free(p->a);
    free(p->l);
    free(p->sl);
    free(p->ids);
    free(p);
}

static const char *id_of(pool_t *p, const char *fmt, size_t n)
{
    snprintf(p->ids[p->nids], sizeof(p->ids[0]), fmt, n);
    return p->ids[p->nids++];
}

/* A new ticket "t<index>" that entered matchmaking at start_ms. */
static void tk(pool_t *p, int64_t start_ms)
{
    hg_match_ticket_t *t = &p->t[p->nt];
    t->id = id_of(p, "t%zu", p->nt);
    t->start_ms = start_ms;
    t->players = &p->p[p->np];
    t->nplayers = 0;
    p->nt++;
}

/* A new player on the current ticket. */
static void pl(pool_t *p)
{
    hg_match_ticket_t *t = &p->t[p->nt - 1];
    hg_match_player_t *x = &p->p[p->np++];
    x->id = id_of(p, "p%zu", p->np - 1);
    x->attrs = &p->a[p->na];
    x->latency = &p->l[p->nl];
    t->nplayers++;
}

static hg_match_player_t *cur(pool_t *p)
{
    return &p->p[p->np - 1];
}

static void num(pool_t *p, const char *name, double v)
{
    p->a[p->na++] = (hg_match_attr_t){.name = name, .type = HG_RULES_ATTR_NUMBER, .n = v};
    cur(p)->nattrs++;
}

static void str(pool_t *p, const char *name, const char *v)
{
    p->a[p->na++] = (hg_match_attr_t){.name = name, .type = HG_RULES_ATTR_STRING, .s = v};
    cur(p)->nattrs++;
}

/* A string_list attribute from a NULL-terminated list. */
static void list(pool_t *p, const char *name, const char *const *v)
{
    const char **first = &p->sl[p->nsl];
    size_t n = 0;
    while (v[n])
        p->sl[p->nsl++] = v[n++];
    p->a[p->na++] =
        (hg_match_attr_t){.name = name, .type = HG_RULES_ATTR_STRING_LIST, .sl = first, .nsl = n};
    cur(p)->nattrs++;
}

static void lat(pool_t *p, const char *region, double ms)
{
    p->l[p->nl++] = (hg_match_latency_t){.region = region, .ms = ms};
    cur(p)->nlatency++;
}

/* A ticket of one player with a skill. */
static void solo(pool_t *p, int64_t start_ms, double skill)
{
    tk(p, start_ms);
    pl(p);
    num(p, "skill", skill);
}

/* ---- running ---- */

static hg_rules_t *compile(const char *json)
{
    hg_rules_t *rs = NULL;
    hg_error_t err = {0};
    int rc = hg_rules_parse(json, strlen(json), &rs, &err);
    if (rc != HG_OK)
        HG_FAIL_("rule set refused: %s", err.msg);
    return rs;
}

static void run(const hg_rules_t *rs, pool_t *p, int64_t now, const hg_match_backfill_t *bf,
                size_t nbf, hg_match_result_t *res)
{
    hg_error_t err = {0};
    int rc = hg_match_run(rs, p->t, p->nt, bf, nbf, now, NULL, res, &err);
    if (rc != HG_OK)
        HG_FAIL_("hg_match_run: %s", err.msg);
}

/* The proposal ticket i is in, or -1. */
static int match_of(const hg_match_result_t *r, size_t i)
{
    for (size_t m = 0; m < r->nmatches; m++)
        for (size_t k = 0; k < r->matches[m].count; k++)
            if (r->tickets[r->matches[m].first + k] == i)
                return (int)m;
    return -1;
}

/* The team of ticket i, or NULL when it is not matched. */
static const char *team_of(const hg_rules_t *rs, const hg_match_result_t *r, size_t i)
{
    size_t total = 0;
    if (r->nmatches)
        total = r->matches[r->nmatches - 1].first + r->matches[r->nmatches - 1].count;
    for (size_t k = 0; k < total; k++)
        if (r->tickets[k] == i)
            return hg_rules_team_name(rs, r->teams[k]);
    return NULL;
}

/* Refusal: the message must contain want. */
static void refused(const char *json, const char *want)
{
    hg_rules_t *rs = NULL;
    hg_error_t err = {0};
    int rc = hg_rules_parse(json, strlen(json), &rs, &err);
    if (rc != HG_EINVAL || rs != NULL)
        HG_FAIL_("accepted: %s", json);
    if (strstr(err.msg, want) == NULL)
        HG_FAIL_("message \"%s\" lacks \"%s\"", err.msg, want);
    ASSERT_STR_EQ(err.field, "RuleSetBody");
}

/* ---- the AWS guide's "two teams with evenly matched players" ---- */

static const char *const ALIENS =
    "{"
    "\"name\": \"aliens_vs_cowboys\", \"ruleLanguageVersion\": \"1.0\","
    "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": 10}],"
    "\"teams\": [{\"name\": \"cowboys\", \"maxPlayers\": 8, \"minPlayers\": 4},"
    "            {\"name\": \"aliens\", \"maxPlayers\": 8, \"minPlayers\": 4}],"
    "\"rules\": [{\"name\": \"FairTeamSkill\", \"type\": \"distance\","
    "   \"measurements\": [\"avg(teams[*].players.attributes[skill])\"],"
    "   \"referenceValue\": \"avg(flatten(teams[*].players.attributes[skill]))\","
    "   \"maxDistance\": 10},"
    "  {\"name\": \"EqualTeamSizes\", \"type\": \"comparison\","
    "   \"measurements\": [\"count(teams[cowboys].players)\"],"
    "   \"referenceValue\": \"count(teams[aliens].players)\", \"operation\": \"=\"}],"
    "\"expansions\": [{\"target\": \"rules[FairTeamSkill].maxDistance\","
    "   \"steps\": [{\"waitTimeSeconds\": 5, \"value\": 50},"
    "             {\"waitTimeSeconds\": 15, \"value\": 100}]}]}";

/* Team averages of a proposal (skill attribute of single-player tickets). */
static void team_avgs(const pool_t *p, const hg_match_result_t *r, size_t m, double *avg,
                      int *count)
{
    double sum[4] = {0};
    memset(count, 0, 4 * sizeof(int));
    for (size_t k = 0; k < r->matches[m].count; k++) {
        size_t i = r->tickets[r->matches[m].first + k];
        int team = r->teams[r->matches[m].first + k];
        for (size_t j = 0; j < p->t[i].nplayers; j++) {
            sum[team] += p->t[i].players[j].attrs[0].n;
            count[team]++;
        }
    }
    for (int t = 0; t < 4; t++)
        avg[t] = count[t] ? sum[t] / count[t] : 0;
}

HG_TEST(aws_even_teams_full_match)
{
    hg_rules_t *rs = compile(ALIENS);
    ASSERT_EQ_INT(hg_rules_team_count(rs), 2);
    ASSERT_FALSE(hg_rules_is_large(rs));
    ASSERT_STR_EQ(hg_rules_name(rs), "aliens_vs_cowboys");
    pool_t *p = pool_new(32);
    for (int i = 0; i < 18; i++)
        solo(p, 1000 + i, 20 + (i * 7) % 11); /* skills 20..30 */
    hg_match_result_t r;
    run(rs, p, 2000, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 16);
    ASSERT_EQ_INT(r.matches[0].backfill, -1);
    ASSERT_NULL(r.matches[0].region);
    double avg[4];
    int count[4];
    team_avgs(p, &r, 0, avg, count);
    ASSERT_EQ_INT(count[0], 8);
    ASSERT_EQ_INT(count[1], 8);
    ASSERT_TRUE(fabs(avg[0] - avg[1]) <= 20);
    /* the oldest ticket anchors the match; two stay for the next batch */
    ASSERT_EQ_INT(r.state[0], HG_MATCH_MATCHED);
    size_t waiting = 0;
    for (size_t i = 0; i < p->nt; i++)
        waiting += r.state[i] == HG_MATCH_WAITING;
    ASSERT_EQ_INT(waiting, 2);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(aws_even_teams_expansion_by_age)
{
    hg_rules_t *rs = compile(ALIENS);
    pool_t *p = pool_new(16);
    /* one 1000 among 0s and 100s: the team holding it is 87.5 from the overall average */
    double skills[] = {1000, 100, 100, 100, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        solo(p, 0, skills[i]);
    hg_match_result_t r;
    run(rs, p, 1000, NULL, 0, &r); /* 1 s: maxDistance 10 */
    ASSERT_EQ_INT(r.nmatches, 0);
    hg_match_result_free(&r);
    run(rs, p, 6000, NULL, 0, &r); /* 6 s: 50 */
    ASSERT_EQ_INT(r.nmatches, 0);
    hg_match_result_free(&r);
    run(rs, p, 15000, NULL, 0, &r); /* 15 s: 100 */
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 8);
    ASSERT_EQ_INT(r.matches[0].age_ms, 15000);
    double avg[4];
    int count[4];
    team_avgs(p, &r, 0, avg, count);
    ASSERT_EQ_INT(count[0], 4); /* EqualTeamSizes, minPlayers 4 */
    ASSERT_EQ_INT(count[1], 4);
    ASSERT_TRUE(fabs(avg[0] - 162.5) <= 100 && fabs(avg[1] - 162.5) <= 100);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(expansion_age_selection)
{
    /* newest (default): the youngest ticket's age drives expansions; oldest: the oldest's */
    const char *fmt = "{\"ruleLanguageVersion\": \"1.0\","
                      "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
                      "%s"
                      "\"teams\": [{\"name\": \"all\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                      "\"rules\": [{\"name\": \"Close\", \"type\": \"batchDistance\","
                      "  \"batchAttribute\": \"skill\", \"maxDistance\": 1}],"
                      "\"expansions\": [{\"target\": \"rules[Close].maxDistance\","
                      "  \"steps\": [{\"waitTimeSeconds\": 10, \"value\": 100}]}]}";
    char json[1024];
    pool_t *p = pool_new(4);
    solo(p, 0, 0);      /* 20 s old at now */
    solo(p, 15000, 50); /* 5 s old */
    hg_match_result_t r;
    snprintf(json, sizeof(json), fmt, "");
    hg_rules_t *rs = compile(json);
    run(rs, p, 20000, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 0);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    snprintf(json, sizeof(json), fmt, "\"algorithm\": {\"expansionAgeSelection\": \"oldest\"},");
    rs = compile(json);
    run(rs, p, 20000, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].age_ms, 20000);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(team_min_expansion)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 4},"
                       "            {\"name\": \"blue\", \"maxPlayers\": 4, \"minPlayers\": 4}],"
                       "\"expansions\": [{\"target\": \"teams[*].minPlayers\","
                       "  \"steps\": [{\"waitTimeSeconds\": 10, \"value\": 2}]}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    for (int i = 0; i < 4; i++) {
        tk(p, 0);
        pl(p);
    }
    hg_match_result_t r;
    run(rs, p, 9000, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 0);
    hg_match_result_free(&r);
    run(rs, p, 10000, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 4);
    int red = 0;
    for (size_t i = 0; i < 4; i++)
        red += strcmp(team_of(rs, &r, i), "red") == 0;
    ASSERT_EQ_INT(red, 2);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- latency ---- */

HG_TEST(latency_rule_picks_region)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 1, \"minPlayers\": 1},"
                       "            {\"name\": \"blue\", \"maxPlayers\": 1, \"minPlayers\": 1}],"
                       "\"rules\": [{\"name\": \"FastConnection\", \"type\": \"latency\","
                       "  \"maxLatency\": 50}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    tk(p, 0); /* t0: east 40, west 45 */
    pl(p);
    lat(p, "us-east-1", 40);
    lat(p, "us-west-2", 45);
    tk(p, 1); /* t1: only slow Regions */
    pl(p);
    lat(p, "us-east-1", 120);
    lat(p, "us-west-2", 90);
    tk(p, 2); /* t2: no latency data at all */
    pl(p);
    tk(p, 3); /* t3: east 49, west 10: both pass; east's max is 49, west's 45 */
    pl(p);
    lat(p, "us-east-1", 49);
    lat(p, "us-west-2", 10);
    hg_match_result_t r;
    run(rs, p, 100, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_STR_EQ(r.matches[0].region, "us-west-2");
    ASSERT_EQ_INT(match_of(&r, 0), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    ASSERT_EQ_INT(r.state[1], HG_MATCH_WAITING);
    ASSERT_EQ_INT(r.state[2], HG_MATCH_NO_LATENCY);
    ASSERT_TRUE(strcmp(team_of(rs, &r, 0), team_of(rs, &r, 3)) != 0);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- collection ---- */

HG_TEST(collection_intersection)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"maps\", \"type\": \"string_list\"}],"
                       "\"teams\": [{\"name\": \"players\", \"maxPlayers\": 3, \"minPlayers\": 3}],"
                       "\"rules\": [{\"name\": \"SharedMap\", \"type\": \"collection\","
                       "  \"operation\": \"intersection\","
                       "  \"measurements\": [\"teams[*].players.attributes[maps]\"],"
                       "  \"minCount\": 1}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    static const char *const m0[] = {"alpha", "beta", NULL}, *const m1[] = {"zeta", NULL},
                             *const m2[] = {"beta", "gamma", NULL}, *const m3[] = {"beta", NULL};
    tk(p, 0);
    pl(p);
    list(p, "maps", m0);
    tk(p, 1); /* shares nothing with the others */
    pl(p);
    list(p, "maps", m1);
    tk(p, 2);
    pl(p);
    list(p, "maps", m2);
    tk(p, 3);
    pl(p);
    list(p, "maps", m3);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(match_of(&r, 0), 0);
    ASSERT_EQ_INT(match_of(&r, 1), -1);
    ASSERT_EQ_INT(match_of(&r, 2), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(collection_contains_and_reference_count)
{
    /* every team needs at least one healer; nobody may bring a blocked character */
    const char *json =
        "{\"ruleLanguageVersion\": \"1.0\","
        "\"playerAttributes\": [{\"name\": \"roles\", \"type\": \"string_list\"}],"
        "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
        "\"rules\": [{\"name\": \"Healer\", \"type\": \"collection\", \"operation\": \"contains\","
        "  \"measurements\": [\"teams[red].players.attributes[roles]\"],"
        "  \"referenceValue\": \"healer\", \"minCount\": 1},"
        " {\"name\": \"NoBlocked\", \"type\": \"collection\","
        "  \"operation\": \"reference_intersection_count\","
        "  \"measurements\": [\"teams[red].players.attributes[roles]\"],"
        "  \"referenceValue\": [\"cheater\", \"troll\"], \"maxCount\": 0}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    static const char *const tank[] = {"tank", NULL}, *const troll[] = {"healer", "troll", NULL},
                             *const dps[] = {"dps", NULL}, *const healer[] = {"healer", NULL};
    tk(p, 0);
    pl(p);
    list(p, "roles", tank);
    tk(p, 1);
    pl(p);
    list(p, "roles", troll); /* a healer, but blocked */
    tk(p, 2);
    pl(p);
    list(p, "roles", dps);
    tk(p, 3);
    pl(p);
    list(p, "roles", healer);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(match_of(&r, 0), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    ASSERT_EQ_INT(match_of(&r, 1), -1);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- comparison and distance ---- */

HG_TEST(comparison_with_reference)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                       "\"rules\": [{\"name\": \"Veterans\", \"type\": \"comparison\","
                       "  \"measurements\": [\"teams[*].players.attributes[skill]\"],"
                       "  \"referenceValue\": 50, \"operation\": \">=\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    solo(p, 0, 10); /* too low: never matched */
    solo(p, 1, 60);
    solo(p, 2, 49);
    solo(p, 3, 50);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(match_of(&r, 1), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    ASSERT_EQ_INT(r.state[0], HG_MATCH_WAITING);
    ASSERT_EQ_INT(r.state[2], HG_MATCH_WAITING);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(comparison_without_reference)
{
    /* every player a different character */
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"character\", \"type\": \"string\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 3, \"minPlayers\": 3}],"
                       "\"rules\": [{\"name\": \"Different\", \"type\": \"comparison\","
                       "  \"measurements\": [\"flatten(teams[*].players.attributes[character])\"],"
                       "  \"operation\": \"!=\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    const char *chars[] = {"knight", "knight", "mage", "rogue"};
    for (int i = 0; i < 4; i++) {
        tk(p, i);
        pl(p);
        str(p, "character", chars[i]);
    }
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(match_of(&r, 0), 0);
    ASSERT_EQ_INT(match_of(&r, 1), -1);
    ASSERT_EQ_INT(match_of(&r, 2), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(distance_to_literal)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                       "\"rules\": [{\"name\": \"Around100\", \"type\": \"distance\","
                       "  \"measurements\": \"teams[a].players.attributes[skill]\","
                       "  \"referenceValue\": 100, \"minDistance\": 1, \"maxDistance\": \"10\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    solo(p, 0, 100); /* distance 0 < minDistance */
    solo(p, 1, 111);
    solo(p, 2, 95);
    solo(p, 3, 109);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(match_of(&r, 2), 0);
    ASSERT_EQ_INT(match_of(&r, 3), 0);
    ASSERT_EQ_INT(match_of(&r, 0), -1);
    ASSERT_EQ_INT(match_of(&r, 1), -1);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- compound ---- */

HG_TEST(compound_or)
{
    /* AWS's "similar attributes or similar selections", reduced: a pair plays together when
     * they chose the same mode or their skills are close */
    const char *json =
        "{\"ruleLanguageVersion\": \"1.0\","
        "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"},"
        "                       {\"name\": \"mode\", \"type\": \"string\"}],"
        "\"teams\": [{\"name\": \"pair\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
        "\"rules\": [{\"name\": \"SameMode\", \"type\": \"comparison\", \"operation\": \"=\","
        "  \"measurements\": [\"flatten(teams[*].players.attributes[mode])\"]},"
        " {\"name\": \"CloseSkill\", \"type\": \"distance\","
        "  \"measurements\": [\"flatten(teams[*].players.attributes[skill])\"],"
        "  \"referenceValue\": \"avg(flatten(teams[*].players.attributes[skill]))\","
        "  \"maxDistance\": 5},"
        " {\"name\": \"Either\", \"type\": \"compound\", \"statement\": \"or(SameMode, "
        "CloseSkill)\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    struct {
        double skill;
        const char *mode;
    } t[] = {{0, "x"}, {100, "y"}, {500, "x"}, {102, "z"}};
    for (int i = 0; i < 4; i++) {
        tk(p, i);
        pl(p);
        num(p, "skill", t[i].skill);
        str(p, "mode", t[i].mode);
    }
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 2);
    ASSERT_EQ_INT(match_of(&r, 0), match_of(&r, 2)); /* same mode */
    ASSERT_EQ_INT(match_of(&r, 1), match_of(&r, 3)); /* close skill */
    ASSERT_NE_INT(match_of(&r, 0), match_of(&r, 1));
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- sorts and batchDistance ---- */

HG_TEST(distance_sort_prefers_closest)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                       "\"rules\": [{\"name\": \"Closest\", \"type\": \"distanceSort\","
                       "  \"sortDirection\": \"ascending\", \"sortAttribute\": \"skill\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    solo(p, 0, 50); /* the anchor */
    solo(p, 1, 10);
    solo(p, 2, 90);
    solo(p, 3, 48);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 2);
    ASSERT_EQ_INT(match_of(&r, 0), match_of(&r, 3));
    ASSERT_EQ_INT(match_of(&r, 1), match_of(&r, 2));
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(absolute_sort_descending)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"level\", \"type\": \"number\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                       "\"rules\": [{\"name\": \"Highest\", \"type\": \"absoluteSort\","
                       "  \"sortDirection\": \"descending\", \"sortAttribute\": \"level\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    double lv[] = {5, 1, 9, 3, 7};
    for (int i = 0; i < 5; i++) {
        tk(p, i);
        pl(p);
        num(p, "level", lv[i]);
    }
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 2);
    ASSERT_EQ_INT(match_of(&r, 0), 0); /* the oldest anchors, with the highest level (9) */
    ASSERT_EQ_INT(match_of(&r, 2), 0);
    ASSERT_EQ_INT(match_of(&r, 1), 1); /* then 1 with the highest left (7) */
    ASSERT_EQ_INT(match_of(&r, 4), 1);
    ASSERT_EQ_INT(r.state[3], HG_MATCH_WAITING);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(batch_distance_number_and_string)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"},"
                       "   {\"name\": \"mode\", \"type\": \"string\", \"default\": \"ffa\"}],"
                       "\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 2}],"
                       "\"rules\": [{\"name\": \"SimilarSkill\", \"type\": \"batchDistance\","
                       "  \"batchAttribute\": \"skill\", \"maxDistance\": \"5\"},"
                       " {\"name\": \"SameMode\", \"type\": \"batchDistance\","
                       "  \"batchAttribute\": \"mode\"}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    struct {
        double skill;
        const char *mode;
    } t[] = {{0, "ctf"}, {20, NULL}, {3, "dm"}, {22, NULL}, {4, "ctf"}, {1, "dm"}};
    for (int i = 0; i < 6; i++) {
        tk(p, i);
        pl(p);
        num(p, "skill", t[i].skill);
        if (t[i].mode)
            str(p, "mode", t[i].mode);
    }
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 3);
    ASSERT_EQ_INT(match_of(&r, 0), match_of(&r, 4)); /* ctf, 0 and 4 */
    ASSERT_EQ_INT(match_of(&r, 1), match_of(&r, 3)); /* default mode, 20 and 22 */
    ASSERT_EQ_INT(match_of(&r, 2), match_of(&r, 5)); /* dm, 3 and 1 */
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- parties, backfill, a large match ---- */

HG_TEST(parties_stay_together)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 3, \"minPlayers\": 3},"
                       "            {\"name\": \"blue\", \"maxPlayers\": 3, \"minPlayers\": 3}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(8);
    int sizes[] = {2, 1, 2, 4, 1};
    for (int i = 0; i < 5; i++) {
        tk(p, i);
        for (int k = 0; k < sizes[i]; k++)
            pl(p);
    }
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.state[3], HG_MATCH_TOO_LARGE);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 4);
    int red = 0, blue = 0;
    for (int i = 0; i < 5; i++) {
        const char *team = team_of(rs, &r, (size_t)i);
        if (team && strcmp(team, "red") == 0)
            red += sizes[i];
        else if (team)
            blue += sizes[i];
    }
    ASSERT_EQ_INT(red, 3);
    ASSERT_EQ_INT(blue, 3);
    ASSERT_TRUE(strcmp(team_of(rs, &r, 0), team_of(rs, &r, 2)) != 0);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* AdditionalPlayerCount: a single team of 6 with 2 slots kept open takes 4 players; a backfill
 * of that match then fills up to the team's 6. */
HG_TEST(additional_player_count_leaves_slots_for_backfill)
{
    const char *json = "{\"ruleLanguageVersion\": \"1.0\","
                       "\"teams\": [{\"name\": \"squad\", \"maxPlayers\": 6, \"minPlayers\": 2}]}";
    hg_rules_t *rs = compile(json);
    pool_t *p = pool_new(16);
    for (int i = 0; i < 9; i++)
        solo(p, i, 10);
    hg_match_opts_t opts = {.open_slots = 2};
    hg_match_result_t r;
    hg_error_t err = {0};
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, NULL, 0, 100, &opts, &r, &err));
    ASSERT_TRUE(r.nmatches >= 1);
    for (size_t m = 0; m < r.nmatches; m++)
        ASSERT_EQ_INT(r.matches[m].count, 4);
    hg_match_result_free(&r);
    /* without it: 6 */
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, NULL, 0, 100, NULL, &r, &err));
    ASSERT_EQ_INT(r.matches[0].count, 6);
    hg_match_result_free(&r);
    /* a backfill of the 4-player match takes 2 more even with the open slots asked for */
    hg_match_player_t cur[4];
    hg_match_attr_t attrs[4];
    const char *ids[] = {"m0", "m1", "m2", "m3"};
    for (int i = 0; i < 4; i++) {
        attrs[i] = (hg_match_attr_t){.name = "skill", .type = HG_RULES_ATTR_NUMBER, .n = 10};
        cur[i] =
            (hg_match_player_t){.id = ids[i], .attrs = &attrs[i], .nattrs = 1, .team = "squad"};
    }
    hg_match_backfill_t bf = {.id = "bf", .players = cur, .nplayers = 4, .start_ms = 0};
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, &bf, 1, 100, &opts, &r, &err));
    ASSERT_EQ_INT(r.bf_state[0], HG_MATCH_BF_FILLED);
    for (size_t m = 0; m < r.nmatches; m++)
        if (r.matches[m].backfill == 0)
            ASSERT_EQ_INT(r.matches[m].count, 2);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(backfill_fills_open_slots)
{
    hg_rules_t *rs = compile(ALIENS);
    /* the session has 7 cowboys and 6 aliens, all around skill 20 */
    hg_match_player_t cur_players[13];
    hg_match_attr_t cur_attrs[13];
    char ids[13][8];
    for (int i = 0; i < 13; i++) {
        snprintf(ids[i], sizeof(ids[i]), "c%d", i);
        cur_attrs[i] = (hg_match_attr_t){.name = "skill", .type = HG_RULES_ATTR_NUMBER, .n = 20};
        cur_players[i] = (hg_match_player_t){.id = ids[i],
                                             .attrs = &cur_attrs[i],
                                             .nattrs = 1,
                                             .team = i < 7 ? "cowboys" : "aliens"};
    }
    hg_match_backfill_t bf = {.id = "bf", .players = cur_players, .nplayers = 13, .start_ms = 500};
    pool_t *p = pool_new(8);
    tk(p, 0); /* a party of 3: no team has room for it */
    for (int k = 0; k < 3; k++) {
        pl(p);
        num(p, "skill", 20);
    }
    solo(p, 1, 21);
    solo(p, 2, 19);
    solo(p, 3, 20);
    solo(p, 4, 22);
    hg_match_result_t r;
    run(rs, p, 1000, &bf, 1, &r);
    ASSERT_EQ_INT(r.bf_state[0], HG_MATCH_BF_FILLED);
    int found = -1;
    for (size_t m = 0; m < r.nmatches; m++)
        if (r.matches[m].backfill == 0)
            found = (int)m;
    ASSERT_TRUE(found >= 0);
    /* EqualTeamSizes: 8 and 8, so 1 cowboy and 2 aliens join */
    ASSERT_EQ_INT(r.matches[found].count, 3);
    int cow = 0, ali = 0;
    for (size_t k = 0; k < r.matches[found].count; k++) {
        const char *team = hg_rules_team_name(rs, r.teams[r.matches[found].first + k]);
        cow += strcmp(team, "cowboys") == 0;
        ali += strcmp(team, "aliens") == 0;
        ASSERT_NE_INT(r.tickets[r.matches[found].first + k], 0);
    }
    ASSERT_EQ_INT(cow, 1);
    ASSERT_EQ_INT(ali, 2);
    ASSERT_NE_INT(r.state[0], HG_MATCH_MATCHED);
    hg_match_result_free(&r);

    /* a full session, and one naming a team the rule set lacks */
    cur_players[0].team = "pirates";
    run(rs, p, 1000, &bf, 1, &r);
    ASSERT_EQ_INT(r.bf_state[0], HG_MATCH_BF_INVALID);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(large_match_balanced)
{
    const char *json =
        "{\"name\": \"battle\", \"ruleLanguageVersion\": \"1.0\","
        "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": 10}],"
        "\"algorithm\": {\"strategy\": \"balanced\", \"balancedAttribute\": \"skill\","
        "  \"batchingPreference\": \"fastestRegion\"},"
        "\"teams\": [{\"name\": \"side\", \"maxPlayers\": 30, \"minPlayers\": 25, "
        "\"quantity\": 2}],"
        "\"rules\": [{\"name\": \"Latency\", \"type\": \"latency\", \"maxLatency\": 150}]}";
    hg_rules_t *rs = compile(json);
    ASSERT_TRUE(hg_rules_is_large(rs));
    ASSERT_EQ_INT(hg_rules_max_players(rs), 60);
    ASSERT_EQ_INT(hg_rules_team_count(rs), 2);
    ASSERT_STR_EQ(hg_rules_team_name(rs, 0), "side_1");
    ASSERT_STR_EQ(hg_rules_team_name(rs, 1), "side_2");
    pool_t *p = pool_new(128);
    uint32_t seed = 7;
    for (int i = 0; i < 70; i++) {
        seed = seed * 1103515245u + 12345u;
        solo(p, i, (double)(seed >> 8 & 1023));
        lat(p, "eu-west-1", 30 + i % 50);
        lat(p, "us-east-1", 100 + i % 40);
    }
    hg_match_result_t r;
    run(rs, p, 100, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 60);
    ASSERT_STR_EQ(r.matches[0].region, "eu-west-1");
    double avg[4];
    int count[4];
    team_avgs(p, &r, 0, avg, count);
    ASSERT_EQ_INT(count[0], 30);
    ASSERT_EQ_INT(count[1], 30);
    if (fabs(avg[0] - avg[1]) > 10)
        HG_FAIL_("team averages %.1f and %.1f are not balanced", avg[0], avg[1]);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- invalid rule sets ---- */

HG_TEST(invalid_rule_sets_refused_with_location)
{
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"roles\", \"type\": \"string_list\"}],"
            "\"teams\": [{\"name\": \"P1\", \"maxPlayers\": 1, \"minPlayers\": 1}],"
            "\"rules\": [{\"name\": \"P1CanTop\", \"type\": \"collection\","
            "  \"operation\": \"reference_intersection_count\","
            "  \"measurements\": [\"flatten(teams[P1].players.attributes[roles])\"],"
            "  \"referenceValue\": [\"top\"], \"minCount\": 1}]}",
            "Collection rule encountered a measurement which was not a list of string lists; "
            "location: rules section: array index=0: P1CanTop");
    refused("{\"ruleLanguageVersion\": \"1.0\", \"teams\": ["
            "{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2},"
            "{\"name\": \"blue\", \"maxPlayers\": 0, \"minPlayers\": 0}]}",
            "location: teams section: array index=1: maxPlayers");
    refused("{\"ruleLanguageVersion\": \"1.0\", \"teams\": ["
            "{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 5}]}",
            "location: teams section: array index=0: minPlayers");
    refused("{\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}]}",
            "ruleLanguageVersion must be \"1.0\"");
    refused("{\"ruleLanguageVersion\": \"1.0\"}", "Missing required property 'teams'");
    refused("{\"ruleLanguageVersion\": \"1.0\", \"teams\": [", "Unable to parse the rule set");
    refused("{\"ruleLanguageVersion\": \"1.0\", \"colour\": 1, \"teams\": []}",
            "Unknown property 'colour'");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"R\", \"type\": \"fuzzy\"}]}",
            "Unknown rule type; use batchDistance");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"S\", \"type\": \"distance\", \"maxDistance\": 5,"
            "  \"measurements\": [\"avg(teams[red].players.attributes[skill])\"],"
            "  \"referenceValue\": 10}]}",
            "attribute 'skill' is not in playerAttributes at position");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"S\", \"type\": \"distance\", \"maxDistance\": 5,"
            "  \"measurements\": [\"avg(teams[green].players.attributes[skill])\"],"
            "  \"referenceValue\": 10}]}",
            "unknown team 'green'");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"S\", \"type\": \"distance\", \"maxDistance\": 5,"
            "  \"measurements\": [\"median(avg(teams[red].players.attributes[skill]))\"],"
            "  \"referenceValue\": 10}]}",
            "median() needs a list");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"C\", \"type\": \"compound\", \"statement\": "
            "\"and(A, B)\"}]}",
            "unknown rule 'A' at position 5; location: rules section: array index=0: C: statement");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 40, \"minPlayers\": 2},"
            "            {\"name\": \"blue\", \"maxPlayers\": 40, \"minPlayers\": 2}],"
            "\"algorithm\": {\"strategy\": \"balanced\", \"balancedAttribute\": \"skill\"},"
            "\"rules\": [{\"name\": \"Fair\", \"type\": \"distance\", \"maxDistance\": 5,"
            "  \"measurements\": [\"avg(teams[*].players.attributes[skill])\"],"
            "  \"referenceValue\": 10}]}",
            "allows only latency and batchDistance rules; location: rules section: array "
            "index=0: Fair: type");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 40, \"minPlayers\": 2},"
            "            {\"name\": \"blue\", \"maxPlayers\": 40, \"minPlayers\": 2}]}",
            "needs algorithm.strategy balanced");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"expansions\": [{\"target\": \"rules[Nope].maxDistance\","
            "  \"steps\": [{\"waitTimeSeconds\": 5, \"value\": 1}]}]}",
            "unknown rule 'Nope'; location: expansions section: array index=0: "
            "rules[Nope].maxDistance");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2},"
            "            {\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}]}",
            "Duplicate team name 'red'; location: teams section: array index=1");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"C\", \"type\": \"comparison\", \"operation\": \">\","
            "  \"measurements\": [\"teams[red].players.attributes[skill]\"]}]}",
            "Without a referenceValue a comparison rule's operation must be = or !=");
    refused("{\"ruleLanguageVersion\": \"1.0\","
            "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}],"
            "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 2}],"
            "\"rules\": [{\"name\": \"D\", \"type\": \"distance\", \"maxDistance\": 1,"
            "  \"referenceValue\": 1, \"measurements\": "
            "[\"avg(avg(avg(avg(avg(avg(avg(avg(avg(teams[red].players.attributes[skill])))))))))"
            "\"]}]}",
            "nested deeper than");
    char big[HG_RULES_BODY_MAX + 2];
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    hg_rules_t *rs = NULL;
    hg_error_t err = {0};
    ASSERT_EQ_INT(hg_rules_parse(big, sizeof(big), &rs, &err), HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "65535") != NULL);
}

HG_TEST(valid_aws_shapes_accepted)
{
    /* quantity naming, team[...] and players[playerId] spellings, every aggregation */
    const char *json =
        "{\"ruleLanguageVersion\": \"1.0\","
        "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"},"
        "  {\"name\": \"maps\", \"type\": \"string_list\", \"default\": [\"a\"]},"
        "  {\"name\": \"ping\", \"type\": \"string_number_map\", \"default\": {\"x\": 1}}],"
        "\"algorithm\": {\"strategy\": \"exhaustiveSearch\", \"batchingPreference\": \"sorted\","
        "  \"sortByAttributes\": [\"skill\"], \"backfillPriority\": \"high\"},"
        "\"teams\": [{\"name\": \"aliens\", \"maxPlayers\": 2, \"minPlayers\": 1, "
        "\"quantity\": 3}],"
        "\"rules\": [{\"name\": \"Ids\", \"type\": \"comparison\", \"operation\": \"!=\","
        "   \"measurements\": [\"flatten(team[aliens].players[playerId])\"]},"
        "  {\"name\": \"Stats\", \"type\": \"comparison\", \"operation\": \"<=\","
        "   \"measurements\": [\"stddev(flatten(teams[*].players.attributes[skill]))\","
        "                      "
        "\"median(flatten(teams[aliens_1,aliens_2].players.attributes[skill]))\","
        "                      \"sum(max(teams[*].players.attributes[skill]))\"],"
        "   \"referenceValue\": 100000},"
        "  {\"name\": \"Common\", \"type\": \"collection\", \"operation\": \"intersection\","
        "   \"measurements\": \"teams[aliens_3].players.attributes[maps]\", \"maxCount\": 5},"
        "  {\"name\": \"Inter\", \"type\": \"comparison\", \"operation\": \">=\","
        "   \"measurements\": \"count(set_intersection(teams[*].players.attributes[maps]))\","
        "   \"referenceValue\": 0},"
        "  {\"name\": \"ByPing\", \"type\": \"absoluteSort\", \"sortAttribute\": \"ping\","
        "   \"mapKey\": \"minValue\", \"sortDirection\": \"ascending\"}]}";
    hg_rules_t *rs = compile(json);
    ASSERT_EQ_INT(hg_rules_team_count(rs), 3);
    ASSERT_STR_EQ(hg_rules_team_name(rs, 2), "aliens_3");
    ASSERT_EQ_INT(hg_rules_team_index(rs, "aliens_2"), 1);
    ASSERT_EQ_INT(hg_rules_attr_count(rs), 3);
    ASSERT_EQ_INT(hg_rules_attr_type(rs, 2), HG_RULES_ATTR_STRING_NUMBER_MAP);
    ASSERT_EQ_INT(hg_rules_backfill_priority(rs), HG_RULES_BACKFILL_HIGH);
    ASSERT_EQ_INT(hg_rules_rule_count(rs), 5);
    pool_t *p = pool_new(16);
    for (int i = 0; i < 6; i++)
        solo(p, i, 10 * i);
    hg_match_result_t r;
    run(rs, p, 10, NULL, 0, &r);
    ASSERT_EQ_INT(r.nmatches, 1);
    ASSERT_EQ_INT(r.matches[0].count, 6);
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

/* ---- budget, purity, throughput ---- */

static const char *const FAIR8 =
    "{\"ruleLanguageVersion\": \"1.0\","
    "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": 1000}],"
    "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 4},"
    "            {\"name\": \"blue\", \"maxPlayers\": 4, \"minPlayers\": 4}],"
    "\"rules\": [{\"name\": \"FairTeamSkill\", \"type\": \"distance\","
    "   \"measurements\": [\"avg(teams[*].players.attributes[skill])\"],"
    "   \"referenceValue\": \"avg(flatten(teams[*].players.attributes[skill]))\","
    "   \"maxDistance\": 10},"
    "  {\"name\": \"EqualTeamSizes\", \"type\": \"comparison\","
    "   \"measurements\": [\"count(teams[red].players)\"],"
    "   \"referenceValue\": \"count(teams[blue].players)\", \"operation\": \"=\"}]}";

static pool_t *skill_pool(size_t n)
{
    pool_t *p = pool_new(n);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        solo(p, (int64_t)(i % 5000), (double)(seed >> 33 & 4095)); /* skills 0..4095 */
    }
    return p;
}

HG_TEST(budget_stops_early_and_runs_are_pure)
{
    hg_rules_t *rs = compile(FAIR8);
    pool_t *p = skill_pool(400);
    hg_match_result_t a, b, c;
    hg_match_opts_t tight = {.max_evals = 10};
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, NULL, 0, 6000, &tight, &a, NULL));
    ASSERT_TRUE(a.budget_exhausted);
    ASSERT_TRUE(a.nmatches <= 10);
    ASSERT_TRUE(a.evals <= 10);
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, NULL, 0, 6000, NULL, &b, NULL));
    ASSERT_OK(hg_match_run(rs, p->t, p->nt, NULL, 0, 6000, NULL, &c, NULL));
    ASSERT_FALSE(b.budget_exhausted);
    ASSERT_TRUE(b.nmatches >= 45 && b.nmatches > a.nmatches);
    ASSERT_EQ_INT(b.nmatches, c.nmatches);
    ASSERT_TRUE(memcmp(b.tickets, c.tickets, 8 * b.nmatches * sizeof(*b.tickets)) == 0);
    ASSERT_TRUE(memcmp(b.teams, c.teams, 8 * b.nmatches * sizeof(*b.teams)) == 0);
    hg_match_result_free(&a);
    hg_match_result_free(&b);
    hg_match_result_free(&c);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(throughput_10k_tickets)
{
    hg_rules_t *rs = compile(FAIR8);
    pool_t *p = skill_pool(10000);
    hg_match_result_t r;
    run(rs, p, 6000, NULL, 0, &r);
    if (r.nmatches < 1200)
        HG_FAIL_("only %zu matches from 10000 tickets (%zu evaluations)", r.nmatches, r.evals);
    /* every proposal really satisfies the rules */
    for (size_t m = 0; m < r.nmatches; m++) {
        double avg[4];
        int count[4];
        ASSERT_EQ_INT(r.matches[m].count, 8);
        team_avgs(p, &r, m, avg, &count[0]);
        ASSERT_EQ_INT(count[0], 4);
        ASSERT_EQ_INT(count[1], 4);
        double all = (avg[0] + avg[1]) / 2;
        if (fabs(avg[0] - all) > 10 || fabs(avg[1] - all) > 10)
            HG_FAIL_("match %zu: team averages %.1f, %.1f", m, avg[0], avg[1]);
    }
    hg_match_result_free(&r);
    hg_rules_free(rs);
    pool_free(p);
}

HG_TEST(bad_tickets_are_set_aside)
{
    hg_rules_t *rs = compile(FAIR8);
    pool_t *p = pool_new(8);
    tk(p, 0); /* skill as a string */
    pl(p);
    str(p, "skill", "high");
    tk(p, 0); /* no players */
    hg_match_ticket_t *none = &p->t[1];
    none->nplayers = 0;
    tk(p, 0); /* default skill applies */
    pl(p);
    hg_match_result_t r;
    run(rs, p, 0, NULL, 0, &r);
    ASSERT_EQ_INT(r.state[0], HG_MATCH_BAD_ATTRIBUTE);
    ASSERT_EQ_INT(r.state[1], HG_MATCH_BAD_TICKET);
    ASSERT_EQ_INT(r.state[2], HG_MATCH_WAITING);
    hg_match_result_free(&r);
    ASSERT_EQ_INT(hg_match_run(rs, NULL, 3, NULL, 0, 0, NULL, &r, NULL), HG_EINVAL);
    hg_rules_free(rs);
    pool_free(p);
}

HG_SUITE(match) = {
    HG_CASE(aws_even_teams_full_match),
    HG_CASE(aws_even_teams_expansion_by_age),
    HG_CASE(expansion_age_selection),
    HG_CASE(team_min_expansion),
    HG_CASE(latency_rule_picks_region),
    HG_CASE(collection_intersection),
    HG_CASE(collection_contains_and_reference_count),
    HG_CASE(comparison_with_reference),
    HG_CASE(comparison_without_reference),
    HG_CASE(distance_to_literal),
    HG_CASE(compound_or),
    HG_CASE(distance_sort_prefers_closest),
    HG_CASE(absolute_sort_descending),
    HG_CASE(batch_distance_number_and_string),
    HG_CASE(parties_stay_together),
    HG_CASE(backfill_fills_open_slots),
    HG_CASE(additional_player_count_leaves_slots_for_backfill),
    HG_CASE(large_match_balanced),
    HG_CASE(invalid_rule_sets_refused_with_location),
    HG_CASE(valid_aws_shapes_accepted),
    HG_CASE(budget_stops_early_and_runs_are_pure),
    HG_CASE(throughput_10k_tickets),
    HG_CASE(bad_tickets_are_set_aside),
    HG_CASE_END,
};
