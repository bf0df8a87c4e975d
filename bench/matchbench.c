/* hangar — matchbench: how fast the FlexMatch evaluator (src/match/matcher.c) forms matches.
 *
 *     matchbench [tickets] [runs]
 *
 * Builds a pool of single-player tickets (default 10,000) with skills spread over 0..4095 and
 * ages over 5 s, compiles the 8-player, two-team skill-balanced rule set of the AWS guide
 * (FairTeamSkill: each team's average within 10 of the match's; EqualTeamSizes), runs the
 * matcher `runs` times (default 5) on the same pool and prints, for the median run, tickets
 * matched per second and matches per second on one core. Each run is the pure function the
 * daemon would call once per batch; nothing is shared between runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "match/matcher.h"
#include "match/ruleset.h"

static const char *const RULES =
    "{\"name\": \"fair8\", \"ruleLanguageVersion\": \"1.0\","
    "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": 1000}],"
    "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 4},"
    "            {\"name\": \"blue\", \"maxPlayers\": 4, \"minPlayers\": 4}],"
    "\"rules\": [{\"name\": \"FairTeamSkill\", \"type\": \"distance\","
    "   \"measurements\": [\"avg(teams[*].players.attributes[skill])\"],"
    "   \"referenceValue\": \"avg(flatten(teams[*].players.attributes[skill]))\","
    "   \"maxDistance\": 10},"
    "  {\"name\": \"EqualTeamSizes\", \"type\": \"comparison\","
    "   \"measurements\": [\"count(teams[red].players)\"],"
    "   \"referenceValue\": \"count(teams[blue].players)\", \"operation\": \"=\"}],"
    "\"expansions\": [{\"target\": \"rules[FairTeamSkill].maxDistance\","
    "   \"steps\": [{\"waitTimeSeconds\": 10, \"value\": 50}]}]}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (n == 0 || n > HG_MATCH_MAX_POOL || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: matchbench [tickets 1..%d] [runs 1..100]\n", HG_MATCH_MAX_POOL);
        return 2;
    }
    hg_rules_t *rs = NULL;
    hg_error_t err = {0};
    if (hg_rules_parse(RULES, strlen(RULES), &rs, &err) != HG_OK) {
        fprintf(stderr, "matchbench: rule set refused: %s\n", err.msg);
        return 1;
    }
    hg_match_ticket_t *t = calloc(n, sizeof(*t));
    hg_match_player_t *p = calloc(n, sizeof(*p));
    hg_match_attr_t *a = calloc(n, sizeof(*a));
    char(*ids)[24] = calloc(n, sizeof(*ids));
    double *secs = calloc((size_t)runs, sizeof(*secs));
    if (!t || !p || !a || !ids || !secs) {
        fprintf(stderr, "matchbench: out of memory\n");
        return 1;
    }
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(ids[i], sizeof(ids[i]), "t%zu", i);
        a[i] = (hg_match_attr_t){
            .name = "skill", .type = HG_RULES_ATTR_NUMBER, .n = (double)(seed >> 33 & 4095)};
        p[i] = (hg_match_player_t){.id = ids[i], .attrs = &a[i], .nattrs = 1};
        t[i] = (hg_match_ticket_t){
            .id = ids[i], .players = &p[i], .nplayers = 1, .start_ms = (int64_t)(i % 5000)};
    }
    size_t matched = 0, matches = 0, evals = 0;
    for (int r = 0; r < runs; r++) {
        hg_match_result_t res;
        double t0 = now_s();
        if (hg_match_run(rs, t, n, NULL, 0, 6000, NULL, &res, &err) != HG_OK) {
            fprintf(stderr, "matchbench: %s\n", err.msg);
            return 1;
        }
        secs[r] = now_s() - t0;
        matches = res.nmatches;
        evals = res.evals;
        matched = 0;
        for (size_t m = 0; m < res.nmatches; m++)
            matched += res.matches[m].count;
        hg_match_result_free(&res);
    }
    qsort(secs, (size_t)runs, sizeof(*secs), by_double);
    double med = secs[runs / 2];
    printf("matchbench: %zu tickets, 8-player 2-team skill-balanced rule set, %d runs\n", n, runs);
    printf("  matched %zu tickets into %zu matches (%zu rule-set evaluations)\n", matched, matches,
           evals);
    printf("  median run %.1f ms (best %.1f ms): %.0f tickets matched/s, %.0f matches/s\n",
           med * 1e3, secs[0] * 1e3, (double)matched / med, (double)matches / med);
    hg_rules_free(rs);
    free(t);
    free(p);
    free(a);
    free(ids);
    free(secs);
    return 0;
}
