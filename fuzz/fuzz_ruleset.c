/* hangar — libFuzzer driver for FlexMatch rule sets (src/match/ruleset.c) and the matcher
 * (src/match/matcher.c).
 *
 * Input: the whole input is a RuleSetBody. Seeds are in fuzz/corpus/ruleset/.
 *
 * Each input is compiled, and checked:
 *   1. a refusal is HG_EINVAL with field "RuleSetBody", a message without control bytes, and
 *      the output left untouched;
 *   2. an accepted rule set answers its getters consistently (team names resolve back to their
 *      index, attribute names likewise, min <= max for every team);
 *   3. an accepted rule set is run on a small pool generated from its playerAttributes (parties
 *      of 1 to 3 players, values of every declared type, latencies to three Regions, ages
 *      0..40 s, a hash of the input choosing the values) and a backfill request with one player
 *      per team; every proposal must be sound: each ticket in at most one proposal and marked
 *      MATCHED exactly then, team indices in range, no team over its maxPlayers at the
 *      proposal's age, at most 200 players, a backfill proposal only for the request;
 *   4. everything is released: the allocation counter returns to where it was.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "match/matcher.h"
#include "match/ruleset.h"

#define NT 24
#define MAXP (NT * 3)

static void check(int ok, const char *what, const uint8_t *data, size_t size)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_ruleset: %s (input %zu bytes: %.*s)\n", what, size,
            (int)(size > 2000 ? 2000 : size), (const char *)data);
    abort();
}

static const char *const words[] = {"a", "b", "c", "mage", "tank", "healer", "ctf", "dm"};
static const char *const regions[] = {"us-east-1", "eu-west-1", "ap-south-1"};

typedef struct gen {
    hg_match_ticket_t t[NT];
    hg_match_player_t p[MAXP];
    hg_match_attr_t a[MAXP][HG_RULES_MAX_ATTRS];
    hg_match_latency_t l[MAXP][3];
    const char *sl[MAXP][HG_RULES_MAX_ATTRS][3];
    const char *mk[MAXP][HG_RULES_MAX_ATTRS][2];
    double mv[MAXP][HG_RULES_MAX_ATTRS][2];
    char ids[MAXP][8];
    hg_match_player_t bp[HG_RULES_MAX_TEAMS];
} gen_t;

static uint32_t next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Fill player k's attributes from the rule set's declarations. */
static void gen_player(gen_t *g, const hg_rules_t *rs, size_t k, uint32_t *seed)
{
    size_t na = hg_rules_attr_count(rs);
    if (na > HG_MATCH_MAX_ATTRS)
        na = HG_MATCH_MAX_ATTRS;
    size_t n = 0;
    for (size_t i = 0; i < na; i++) {
        if (next(seed) % 8 == 0)
            continue; /* missing: the default, or unmatchable */
        hg_match_attr_t *a = &g->a[k][n++];
        a->name = hg_rules_attr_name(rs, i);
        a->type = hg_rules_attr_type(rs, i);
        a->n = (double)(next(seed) % 100);
        a->s = words[next(seed) % 8];
        g->sl[k][i][0] = words[next(seed) % 8];
        g->sl[k][i][1] = words[next(seed) % 8];
        a->sl = g->sl[k][i];
        a->nsl = next(seed) % 3;
        g->mk[k][i][0] = regions[next(seed) % 3];
        g->mk[k][i][1] = words[next(seed) % 8];
        g->mv[k][i][0] = (double)(next(seed) % 50);
        g->mv[k][i][1] = (double)(next(seed) % 50);
        a->map_keys = g->mk[k][i];
        a->map_vals = g->mv[k][i];
        a->nmap = next(seed) % 3;
        if (next(seed) % 16 == 0) /* now and then the wrong type */
            a->type = (hg_rules_attr_type_t)(1 + next(seed) % 4);
    }
    size_t nl = 0;
    for (size_t r = 0; r < 3; r++)
        if (next(seed) % 4 != 0)
            g->l[k][nl++] = (hg_match_latency_t){regions[r], (double)(10 + next(seed) % 200)};
    snprintf(g->ids[k], sizeof(g->ids[k]), "p%zu", k);
    g->p[k] = (hg_match_player_t){
        .id = g->ids[k], .attrs = g->a[k], .nattrs = n, .latency = g->l[k], .nlatency = nl};
}

static void check_result(const hg_rules_t *rs, const hg_match_result_t *r, size_t n, size_t nbf,
                         const hg_match_ticket_t *t, const uint8_t *data, size_t size)
{
    uint8_t seen[NT] = {0};
    size_t nt = hg_rules_team_count(rs);
    for (size_t m = 0; m < r->nmatches; m++) {
        const hg_match_proposal_t *p = &r->matches[m];
        int count[HG_RULES_MAX_TEAMS] = {0}, total = 0;
        check(p->backfill >= -1 && p->backfill < (int)nbf, "bad backfill index", data, size);
        check(p->count > 0 || p->backfill < 0, "empty backfill proposal", data, size);
        for (size_t k = 0; k < p->count; k++) {
            size_t i = r->tickets[p->first + k];
            size_t team = r->teams[p->first + k];
            check(i < n, "ticket index out of range", data, size);
            check(!seen[i], "ticket in two proposals", data, size);
            seen[i] = 1;
            check(r->state[i] == HG_MATCH_MATCHED, "matched ticket not MATCHED", data, size);
            check(team < nt, "team index out of range", data, size);
            count[team] += (int)t[i].nplayers;
            total += (int)t[i].nplayers;
        }
        for (size_t k = 0; k < nt && p->backfill < 0; k++)
            check(count[k] <= hg_rules_team_max(rs, k, p->age_ms), "team over maxPlayers", data,
                  size);
        check(total <= HG_RULES_LARGE_MAX_PLAYERS, "match over 200 players", data, size);
    }
    for (size_t i = 0; i < n; i++)
        check(seen[i] == (r->state[i] == HG_MATCH_MATCHED), "MATCHED ticket in no proposal", data,
              size);
}

static void exercise(const hg_rules_t *rs, const uint8_t *data, size_t size)
{
    static gen_t g;
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    size_t k = 0;
    for (size_t i = 0; i < NT; i++) {
        size_t np = 1 + next(&seed) % 3;
        g.t[i] = (hg_match_ticket_t){.id = "t",
                                     .players = &g.p[k],
                                     .nplayers = np,
                                     .start_ms = (int64_t)(next(&seed) % 40000)};
        for (size_t j = 0; j < np; j++, k++)
            gen_player(&g, rs, k, &seed);
    }
    /* a backfill request: one current player per team (player ids reused from the pool) */
    size_t nt = hg_rules_team_count(rs);
    for (size_t i = 0; i < nt; i++) {
        g.bp[i] = g.p[i % MAXP];
        g.bp[i].team = hg_rules_team_name(rs, i);
    }
    hg_match_backfill_t bf = {.id = "bf",
                              .players = g.bp,
                              .nplayers = nt,
                              .start_ms = 1000,
                              .region = next(&seed) % 2 ? regions[0] : NULL};
    hg_match_opts_t opts = {.window = 16, .max_evals = 4000};
    hg_match_result_t r;
    hg_error_t err = {0};
    int rc = hg_match_run(rs, g.t, NT, &bf, 1, 40000, &opts, &r, &err);
    check(rc == HG_OK, "run refused a well-formed pool", data, size);
    check(r.evals <= opts.max_evals + 64, "budget overrun", data, size);
    check_result(rs, &r, NT, 1, g.t, data, size);
    hg_match_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used = hg_alloc_used();
    hg_rules_t *sentinel = (hg_rules_t *)(uintptr_t)0x10, *rs = sentinel;
    hg_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = hg_rules_parse((const char *)data, size, &rs, &err);
    if (rc != HG_OK) {
        check(rc == HG_EINVAL && err.code == HG_EINVAL, "refusal is not HG_EINVAL", data, size);
        check(rs == sentinel, "output written on refusal", data, size);
        check(strcmp(err.field, "RuleSetBody") == 0, "field not set", data, size);
        check(err.msg[0] != '\0', "empty message", data, size);
        for (const char *p = err.msg; *p; p++)
            check((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in message", data, size);
    } else {
        for (size_t i = 0; i < hg_rules_team_count(rs); i++) {
            check(hg_rules_team_index(rs, hg_rules_team_name(rs, i)) == (int)i, "team lookup", data,
                  size);
            check(hg_rules_team_min(rs, i, 0) <= hg_rules_team_max(rs, i, 0), "min > max", data,
                  size);
        }
        for (size_t i = 0; i < hg_rules_attr_count(rs); i++)
            check(hg_rules_attr_index(rs, hg_rules_attr_name(rs, i)) == (int)i, "attr lookup", data,
                  size);
        check(hg_rules_max_players(rs) <= HG_RULES_LARGE_MAX_PLAYERS, "over 200 players", data,
              size);
        exercise(rs, data, size);
        hg_rules_free(rs);
    }
    check(hg_alloc_used() == used, "memory not released", data, size);
    return 0;
}
