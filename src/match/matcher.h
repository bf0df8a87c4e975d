/* hangar — the FlexMatch evaluator: which tickets of a pool form matches under a compiled rule
 * set (match/ruleset.h), on which team each party plays, and in which Region.
 *
 * hg_match_run() is a pure function of its arguments: the rule set, the pool of tickets (their
 * players' attributes and latencies, borrowed), optional backfill requests, the injected time
 * `now_ms` (ticket ages drive expansions) and a work budget. It reads no clock, keeps no state
 * between calls and allocates only what it returns and its own scratch, so the caller may run
 * it on a worker lane and apply the proposals on the loop. The algorithm (anchor = oldest
 * ticket, candidates walked in the order of the rule set's batch/sort/balance attribute,
 * greedy team fill, balance pass, hill-climbing repair, all within a bounded number of rule
 * evaluations) is described in docs/flexmatch.md and at the top of matcher.c.
 *
 * Limits: HG_MATCH_MAX_POOL tickets per run, HG_MATCH_MAX_PARTY players per ticket (the
 * StartMatchmaking cap), HG_MATCH_MAX_BACKFILL_PLAYERS current players per backfill request
 * (the StartMatchBackfill cap), HG_MATCH_MAX_LATENCIES latency entries per player (more are
 * ignored), HG_MATCH_MAX_LIST strings per string_list and HG_MATCH_MAX_MAP entries per map
 * (more make the ticket unmatchable). Inputs beyond the per-run limits are refused with
 * HG_EINVAL.
 */
#ifndef HG_MATCH_MATCHER_H
#define HG_MATCH_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "match/ruleset.h"

#define HG_MATCH_MAX_POOL 200000
#define HG_MATCH_MAX_PARTY 10
#define HG_MATCH_MAX_BACKFILL 64
#define HG_MATCH_MAX_BACKFILL_PLAYERS 199
#define HG_MATCH_MAX_LATENCIES 64
#define HG_MATCH_MAX_LIST 100
#define HG_MATCH_MAX_MAP 10
#define HG_MATCH_MAX_ATTRS 10 /* attributes per player (StartMatchmaking's cap) */

#define HG_MATCH_DEFAULT_WINDOW 64
#define HG_MATCH_DEFAULT_EVALS_PER_ANCHOR 48
#define HG_MATCH_DEFAULT_EVALS 2000000

/* One attribute of a player, as StartMatchmaking's AttributeValue carries it (borrowed). */
typedef struct hg_match_attr {
    const char *name;
    hg_rules_attr_type_t type;
    double n;              /* HG_RULES_ATTR_NUMBER ("N") */
    const char *s;         /* HG_RULES_ATTR_STRING ("S") */
    const char *const *sl; /* HG_RULES_ATTR_STRING_LIST ("SL") */
    size_t nsl;
    const char *const *map_keys; /* HG_RULES_ATTR_STRING_NUMBER_MAP ("SDM") */
    const double *map_vals;
    size_t nmap;
} hg_match_attr_t;

typedef struct hg_match_latency {
    const char *region;
    double ms;
} hg_match_latency_t;

typedef struct hg_match_player {
    const char *id;
    const hg_match_attr_t *attrs;
    size_t nattrs;
    const hg_match_latency_t *latency;
    size_t nlatency;
    const char *team; /* backfill requests only: the team the player is on */
} hg_match_player_t;

/* A matchmaking ticket in the pool: one party, kept on one team. */
typedef struct hg_match_ticket {
    const char *id;
    const hg_match_player_t *players;
    size_t nplayers;
    int64_t start_ms; /* when the ticket entered matchmaking; age = now_ms - start_ms */
} hg_match_ticket_t;

/* A backfill request: an existing match, its current players (each with its team) and the
 * open slots the rule set's maxPlayers leave. */
typedef struct hg_match_backfill {
    const char *id;
    const hg_match_player_t *players;
    size_t nplayers;
    int64_t start_ms;
    const char *region; /* the game session's Region; NULL: any Region latency rules allow */
} hg_match_backfill_t;

/* The work budget (zero members take the defaults above), and the configuration's
 * AdditionalPlayerCount: a new match takes that many players fewer than the teams' maximums
 * (a backfill fills up to them). */
typedef struct hg_match_opts {
    size_t window;               /* candidate tickets considered per anchor */
    size_t max_evals_per_anchor; /* rule-set evaluations spent on one anchor */
    size_t max_evals;            /* rule-set evaluations for the whole run */
    size_t open_slots;           /* AdditionalPlayerCount (0: none) */
} hg_match_opts_t;

/* What became of each pool ticket. */
typedef enum hg_match_state {
    HG_MATCH_WAITING = 0,   /* no match this time: stays in the pool */
    HG_MATCH_MATCHED,       /* part of a proposal */
    HG_MATCH_BAD_ATTRIBUTE, /* an attribute a rule reads is missing (no default) or mistyped */
    HG_MATCH_NO_LATENCY,    /* latency rules exist and the ticket reports no latency */
    HG_MATCH_TOO_LARGE,     /* the party does not fit in any team */
    HG_MATCH_BAD_TICKET,    /* no players, too many, or a player without an id */
} hg_match_state_t;

/* What became of each backfill request. */
typedef enum hg_match_bf_state {
    HG_MATCH_BF_WAITING = 0, /* no ticket fits yet */
    HG_MATCH_BF_FILLED,      /* a proposal adds tickets to it */
    HG_MATCH_BF_FULL,        /* no open slot */
    HG_MATCH_BF_INVALID,     /* a player names no team of the rule set, or a team is over */
} hg_match_bf_state_t;

typedef struct hg_match_proposal {
    int backfill;        /* index of the backfill request it fills, or -1 for a new match */
    size_t first, count; /* its entries in result.tickets / result.teams */
    const char *region;  /* the chosen Region (borrowed from the inputs); NULL without latency
                            rules (or a backfill's own region when it gave one) */
    int64_t age_ms;      /* the ticket age its expansions used */
} hg_match_proposal_t;

typedef struct hg_match_result {
    hg_match_proposal_t *matches;
    size_t nmatches;
    size_t *tickets;      /* pool indices, grouped by proposal, in team order */
    uint16_t *teams;      /* the team (hg_rules_team_name) of each entry of tickets */
    uint8_t *state;       /* hg_match_state_t per pool ticket */
    uint8_t *bf_state;    /* hg_match_bf_state_t per backfill request */
    size_t evals;         /* rule-set evaluations spent */
    int budget_exhausted; /* the run stopped early; the rest waits for the next run */
} hg_match_result_t;

/**
 * Propose matches from a pool.
 * @param rs      the compiled rule set (borrowed).
 * @param pool    n tickets (borrowed for the call; the result points into none of them except
 *                `region`, which borrows a latency entry's region string).
 * @param bf      nbf backfill requests (borrowed), or NULL.
 * @param now_ms  the time the tickets' ages are measured at.
 * @param opts    the work budget, or NULL for the defaults.
 * @param out     filled on success — release with hg_match_result_free(); zeroed on error.
 * @param err     on error, HG_EINVAL and a message. May be NULL.
 * @return HG_OK or HG_EINVAL (n or nbf over the limits, a NULL pool with n > 0).
 */
int hg_match_run(const hg_rules_t *rs, const hg_match_ticket_t *pool, size_t n,
                 const hg_match_backfill_t *bf, size_t nbf, int64_t now_ms,
                 const hg_match_opts_t *opts, hg_match_result_t *out, hg_error_t *err);
/* Releases what hg_match_run() filled in; r is zeroed and reusable after. NULL-safe. */
void hg_match_result_free(hg_match_result_t *r);

#endif
