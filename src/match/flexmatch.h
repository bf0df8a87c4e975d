/* hangar — FlexMatch: rule sets, matchmaking configurations, tickets and the matchmaker
 * (gamelift-wire.md §6; the service as hangard runs it is docs/flexmatch.md §10).
 *
 * The rule language and the evaluator are match/ruleset.h and match/matcher.h (pure). This module
 * owns what is durable and what moves with time: named rule sets (immutable once created),
 * configurations (a rule set, timeouts, acceptance, WITH_QUEUE or STANDALONE), and the tickets of
 * StartMatchmaking with their state machine:
 *
 *     StartMatchmaking ─► QUEUED ─► SEARCHING ─► REQUIRES_ACCEPTANCE ─► PLACING ─► COMPLETED
 *                                      ▲  │            │ (acceptance)       │ (WITH_QUEUE)
 *                                      │  │            ▼                    ▼
 *                                      └──┼── back when its players all    FAILED
 *                                         │   accepted but the match fell
 *                                         ▼
 *                         TIMED_OUT, CANCELLED, FAILED (all terminal)
 *
 *   | transition                    | by (cause)                     | event(s)
 *   |-------------------------------|--------------------------------|----------------------
 *   | (none) → QUEUED               | hg_fm_start (StartMatchmaking) | —
 *   | QUEUED → SEARCHING            | hg_fm_batch (next batch)       | MatchmakingSearching
 *   | SEARCHING → REQ_ACCEPTANCE    | hg_fm_batch (acceptance)       | PotentialMatchCreated
 *   | SEARCHING → PLACING           | hg_fm_batch (WITH_QUEUE)       | PotentialMatchCreated
 *   | SEARCHING → COMPLETED         | hg_fm_batch (STANDALONE)       | PotentialMatchCreated,
 *   |                               |                                | MatchmakingSucceeded
 *   | SEARCHING → FAILED            | hg_fm_batch (unmatchable)      | MatchmakingFailed
 *   | REQ_ACCEPTANCE → PLACING      | hg_fm_accept (the last accept; | AcceptMatch,
 *   |   (STANDALONE: COMPLETED)     |   STANDALONE completes)        | AcceptMatchCompleted
 *   | REQ_ACCEPTANCE → CANCELLED    | hg_fm_accept (one of its       | AcceptMatchCompleted,
 *   |                               |   players rejected), hg_fm_tick| MatchmakingCancelled
 *   |                               |   (did not accept in time),    |
 *   |                               |   hg_fm_stop                   |
 *   | REQ_ACCEPTANCE → SEARCHING    | the same, for the match's      | AcceptMatchCompleted
 *   |                               |   other tickets                |
 *   | PLACING → COMPLETED           | hg_fm_on_placement (FULFILLED) | MatchmakingSucceeded
 *   | PLACING → FAILED              | hg_fm_on_placement (other end) | MatchmakingFailed
 *   | QUEUED, SEARCHING → TIMED_OUT | hg_fm_tick (RequestTimeout…)   | MatchmakingTimedOut
 *   | QUEUED, SEARCHING → CANCELLED | hg_fm_stop (StopMatchmaking)   | MatchmakingCancelled
 *
 * (REQ_ACCEPTANCE is REQUIRES_ACCEPTANCE.) Backfill tickets (hg_fm_backfill_start, or automatic
 * backfill from hg_fm_on_session / hg_fm_on_slot_freed) carry a match's current players with
 * their teams and are handed to the matcher as backfill requests, not pooled. They move the
 * same way except:
 *
 *   | SEARCHING → COMPLETED         | hg_fm_batch (the new players   | PotentialMatchCreated,
 *   |   (with their new tickets)    |   seated in the game session;  | MatchmakingSucceeded;
 *   |                               |   no PLACING)                  | UpdateGameSession pushed
 *   | SEARCHING → FAILED            | hg_fm_batch (seats not had,    | MatchmakingFailed;
 *   |                               |   invalid, or no open slot)    | UpdateGameSession
 *   | any → CANCELLED               | a newer backfill of the same   | MatchmakingCancelled
 *   |                               |   session, or the session ended| (nothing pushed)
 *
 * and their other ends (timed out, stopped) are pushed to the session's process as
 * UpdateGameSession BACKFILL_TIMED_OUT / BACKFILL_CANCELLED.
 *
 * Durable like every domain module: each change goes into the caller's store transaction (or a
 * transaction of its own for the batch and the tick), and events are published through the sink
 * in that transaction, so they go out once the change is durable. A ticket's record carries its
 * match (id, team, acceptance, deadline), so a restart resumes SEARCHING tickets, acceptances in
 * progress and placements in progress. Time: the injected clock. Loop thread only.
 *
 * Limits: the HG_FM_* constants below (docs/limits.md).
 */
#ifndef HG_MATCH_FLEXMATCH_H
#define HG_MATCH_FLEXMATCH_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "fleet/session.h"
#include "match/matcher.h"
#include "match/ruleset.h"
#include "placement/placement.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_FM_MAX_RULE_SETS 1000             /* matchmaking rule sets */
#define HG_FM_MAX_CONFIGS 1000               /* matchmaking configurations */
#define HG_FM_MAX_ACTIVE 100000              /* tickets not yet ended, all configurations */
#define HG_FM_MAX_DONE 100000                /* ended tickets kept; the oldest is forgotten */
#define HG_FM_MAX_QUEUES 10                  /* GameSessionQueueArns per configuration */
#define HG_FM_MAX_PLAYERS HG_MATCH_MAX_PARTY /* players per StartMatchmaking */
#define HG_FM_MAX_BACKFILL_PLAYERS HG_MATCH_MAX_BACKFILL_PLAYERS /* per StartMatchBackfill */
#define HG_FM_MAX_LATENCIES HG_MATCH_MAX_LATENCIES /* LatencyInMs entries per player */
#define HG_FM_DEFAULT_ACCEPT_TIMEOUT_S 60          /* AcceptanceTimeoutSeconds when none is given */
#define HG_FM_MAX_MATCHMAKER_DATA 390000           /* bytes of MatchmakerData (GameLift's cap) */
#define HG_FM_DEFAULT_BATCH_MS 1000                /* the matchmaker-batch-ms option's default */
#define HG_FM_DEFAULT_BATCH_BUDGET_MS 50 /* wall time one batch may spend before it yields */

typedef enum hg_fm_status {
    HG_FM_QUEUED = 0,
    HG_FM_SEARCHING,
    HG_FM_REQUIRES_ACCEPTANCE,
    HG_FM_PLACING,
    HG_FM_COMPLETED,
    HG_FM_FAILED,
    HG_FM_CANCELLED,
    HG_FM_TIMED_OUT,
} hg_fm_status_t;

typedef struct hg_flexmatch hg_flexmatch_t;
typedef struct hg_fm_match hg_fm_match_t;

typedef struct hg_fm_ruleset {
    char *name, *arn, *body;
    hg_rules_t *rules; /* compiled, immutable */
    int64_t created_ms;
    uint64_t seq;
    size_t refs; /* configurations naming it */
    json_t *tags;
} hg_fm_ruleset_t;

typedef struct hg_fm_config {
    char *name, *arn;
    hg_fm_ruleset_t *rs;
    /* the settings, parsed from cfg */
    int64_t request_timeout_s, accept_timeout_s, additional;
    int accept_required, standalone, backfill_auto;
    char **queues; /* GameSessionQueueArns */
    size_t nqueues;
    json_t *cfg; /* owned: the API members, echoed by Describe (RuleSetName/Arn included) */
    json_t *tags;
    int64_t created_ms;
    uint64_t seq;
    hg_list_t tickets; /* hg_fm_ticket_t.cnode: QUEUED and SEARCHING, start order */
    size_t nsearching;
    hg_list_t backfills; /* backfill tickets QUEUED and SEARCHING (cnode), the next to run first */
    size_t nbackfills;
    int unordered;      /* tickets' deadlines may not follow their start order (the request timeout
                           changed, or a load): the tick walks them all once */
    double wait_avg_ms; /* EstimatedWaitTime: a moving average of matched tickets' waits (start
                           to match, the last ~32 weigh most), in memory only */
    int64_t wait_at_ms; /* when the last of them matched; 0: none since start-up */
    hg_list_t node;     /* creation order */
} hg_fm_config_t;

typedef struct hg_fm_player {
    const char *id;         /* borrowed from the ticket's players JSON (or its ids once ended) */
    char *team;             /* once matched */
    int answer;             /* acceptance: 0 none, 1 accepted, -1 rejected */
    char psid[48];          /* the player session, once COMPLETED with a game session */
    hg_match_attr_t *attrs; /* the matcher's view, strings borrowed from the JSON */
    size_t nattrs;
    hg_match_latency_t *lat;
    size_t nlat;
    const char **sl; /* storage for SL lists and SDM keys */
    double *nums;    /* storage for SDM values */
} hg_fm_player_t;

typedef struct hg_fm_ticket {
    char *id;
    char *config_name;
    hg_fm_config_t *config; /* NULL once ended */
    hg_fm_status_t status;
    const char *reason; /* StatusReason (static), or NULL */
    char *message;      /* StatusMessage, or NULL */
    int64_t start_ms, end_ms, deadline_ms;
    json_t *players_json; /* owned: the Players of the request, as given */
    char *players_text;   /* its JSON text, rendered for the first record (then reused) */
    size_t players_len;
    char *ids; /* an ended ticket: its players' ids (players_json is NULL then) */
    hg_fm_player_t *players;
    size_t nplayers;
    hg_match_player_t *mplayers; /* the matcher's view */
    hg_fm_match_t *match;        /* REQUIRES_ACCEPTANCE and PLACING */
    char *match_id;              /* once matched (kept after the end) */
    int64_t accept_deadline_ms;
    char *gs_arn, *ip, *dns; /* COMPLETED WITH_QUEUE */
    int port;
    int backfill; /* a StartMatchBackfill ticket: players are the match's current ones, with
                     their teams (bf_gs: the game session to fill, NULL in STANDALONE) */
    int auto_bf;  /* … started by automatic backfill */
    int quiet;    /* its end is not pushed to the game server (replaced, or the session ended) */
    char *bf_gs;
    uint64_t seq;
    int unsaved;     /* a batch made it SEARCHING: its record is written at the batch's end,
                        unless a later change in the same batch writes it first */
    hg_list_t cnode; /* config->tickets while QUEUED or SEARCHING */
    hg_list_t mnode; /* the module's active tickets (start order) or ended ones (end order) */
} hg_fm_ticket_t;

/* A match waiting for acceptance or for its placement (the tickets' shared state). */
struct hg_fm_match {
    char id[40];
    hg_fm_config_t *config;
    hg_fm_ticket_t **tickets;
    size_t ntickets;
    int64_t accept_deadline_ms; /* 0: no acceptance pending */
    int placing;
    hg_fm_ticket_t *bf; /* the backfill ticket it fills (also in tickets), or NULL */
    hg_list_t node;     /* the module's matches */
};

/* Events: type is GameLift's ("MatchmakingSucceeded", …); detail is the JSON text of the event's
 * "detail" object as GameLift publishes it (times as ISO-8601 strings), borrowed for the call. */
typedef struct hg_fm_sink {
    void (*event)(void *ud, hg_store_txn_t *txn, const hg_fm_config_t *c, const char *type,
                  const char *detail, size_t len);
    void *ud;
} hg_fm_sink_t;

/* Upper bounds (ms) of the time-to-match histogram's buckets; one more bucket takes the rest. */
#define HG_FM_WAIT_BUCKETS 14
extern const int64_t hg_fm_wait_bounds_ms[HG_FM_WAIT_BUCKETS];

typedef struct hg_fm_stats {
    size_t rule_sets, configs, active, searching, done, pool; /* pool: tickets in the last batch */
    uint64_t batches, matches, started, completed, failed, cancelled, timed_out;
    uint64_t batch_ns_total, batch_ns_last, batch_ns_max;
    uint64_t wait_ms_total;                        /* start to match, summed over matched tickets */
    uint64_t wait_buckets[HG_FM_WAIT_BUCKETS + 1]; /* matched tickets by start to match (not
                                                      cumulative; the last: beyond the bounds) */
    uint64_t matched_tickets;
    uint64_t evals;
    uint64_t backfills_started, backfills_completed; /* backfill tickets (manual and automatic) */
} hg_fm_stats_t;

/* pl and fl may be NULL (no WITH_QUEUE configurations then, no backfill of game sessions). */
hg_flexmatch_t *hg_flexmatch_new(hg_clock_t *clock, hg_store_t *store, hg_placement_t *pl,
                                 hg_fleet_t *fl, const char *region, const char *account);
void hg_flexmatch_free(hg_flexmatch_t *fm);
void hg_flexmatch_set_sink(hg_flexmatch_t *fm, const hg_fm_sink_t *sink);
/* The matcher's work budget per configuration and batch (NULL: the defaults). */
void hg_flexmatch_set_budget(hg_flexmatch_t *fm, const hg_match_opts_t *opts, int64_t batch_ms);
/* Rebuild from the store, after the placement module loaded. */
int hg_flexmatch_load(hg_flexmatch_t *fm);
void hg_flexmatch_stats(const hg_flexmatch_t *fm, hg_fm_stats_t *out);

/* ---- rule sets ---- */
/* HG_EINVAL with the parser's message (field RuleSetBody), HG_ECONFLICT (name taken), HG_ELIMIT.
 * Takes ownership of tags (may be NULL). */
int hg_fm_ruleset_create(hg_flexmatch_t *fm, const char *name, const char *body, size_t len,
                         json_t *tags, hg_store_txn_t *txn, hg_fm_ruleset_t **out, hg_error_t *err);
/* By name or ARN; NULL when absent. */
hg_fm_ruleset_t *hg_fm_ruleset_find(hg_flexmatch_t *fm, const char *name_or_arn);
/* HG_EINVAL while a configuration names it. rs is invalid after a successful call. */
int hg_fm_ruleset_delete(hg_flexmatch_t *fm, hg_fm_ruleset_t *rs, hg_store_txn_t *txn,
                         hg_error_t *err);
/* Creation order, after seq `after`, at most limit. */
size_t hg_fm_ruleset_list(hg_flexmatch_t *fm, uint64_t after, size_t limit, hg_fm_ruleset_t **out,
                          int *more);

/* ---- configurations ---- */
/* cfg: the API members of CreateMatchmakingConfiguration (borrowed; validated against the
 * model). HG_ENOTFOUND (rule set), HG_EINVAL (WITH_QUEUE without a queue, a queue ARN that
 * names no queue, …), HG_ECONFLICT, HG_ELIMIT. Takes ownership of tags. */
int hg_fm_config_create(hg_flexmatch_t *fm, const char *name, json_t *cfg, json_t *tags,
                        hg_store_txn_t *txn, hg_fm_config_t **out, hg_error_t *err);
hg_fm_config_t *hg_fm_config_find(hg_flexmatch_t *fm, const char *name_or_arn);
/* TagResource, UntagResource, ListTagsForResource on a rule set's or configuration's ARN: its
 * tags (a JSON array of {Key, Value}, owned by it); set takes ownership of tags and stores them.
 * HG_ENOTFOUND for an ARN naming neither. */
int hg_fm_tags_get(hg_flexmatch_t *fm, const char *arn, json_t **tags, hg_error_t *err);
int hg_fm_tags_set(hg_flexmatch_t *fm, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err);
/* EstimatedWaitTime for a ticket of c now, in ms: the moving average of its tickets' waits, or -1
 * when no ticket of c matched in the last HG_FM_WAIT_RECENT_MS ("not enough recent data"). */
#define HG_FM_WAIT_RECENT_MS 600000
int64_t hg_fm_estimated_wait_ms(const hg_flexmatch_t *fm, const hg_fm_config_t *c);
/* The ARN a configuration named name has (or had), into out. */
void hg_fm_config_arn(const hg_flexmatch_t *fm, const char *name, char *out, size_t cap);
/* Members present in changes replace the configuration's (the rule set may change; tickets in
 * progress go on with the new settings from the next batch). */
int hg_fm_config_update(hg_flexmatch_t *fm, hg_fm_config_t *c, json_t *changes, hg_store_txn_t *txn,
                        hg_error_t *err);
/* Its tickets in progress are CANCELLED. c is invalid after the call. */
void hg_fm_config_delete(hg_flexmatch_t *fm, hg_fm_config_t *c, hg_store_txn_t *txn);
/* Creation order; rule_set (name or ARN, may be NULL) filters. */
size_t hg_fm_config_list(hg_flexmatch_t *fm, const char *rule_set, uint64_t after, size_t limit,
                         hg_fm_config_t **out, int *more);

/* ---- tickets ---- */
/* StartMatchmaking: a new ticket QUEUED (id NULL or "": a time-ordered UUID). players: the
 * request's Players array (the ticket keeps a reference and drops its players' Team members:
 * the caller must not change it after). A ticket id seen before returns that ticket (*existed = 1).
 * HG_EINVAL (no players, more than HG_FM_MAX_PLAYERS, a player twice, a bad attribute or
 * latency), HG_ELIMIT. */
int hg_fm_start(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, json_t *players,
                hg_store_txn_t *txn, hg_fm_ticket_t **out, int *existed, hg_error_t *err);
hg_fm_ticket_t *hg_fm_find(hg_flexmatch_t *fm, const char *id);
/* The JSON text of t's Players as given (a matchmaking ticket's without Team), rendered once;
 * its length into *len (may be NULL). */
const char *hg_fm_players_text(hg_fm_ticket_t *t, size_t *len);
/* StopMatchmaking: CANCELLED. Stopping a CANCELLED ticket again does nothing (0); HG_EINVAL for a
 * ticket PLACING or ended otherwise. Stopping an automatic backfill ticket (even one that ended)
 * also turns automatic backfill off for its game session. */
int hg_fm_stop(hg_flexmatch_t *fm, hg_fm_ticket_t *t, hg_store_txn_t *txn, hg_error_t *err);
/* StartMatchBackfill: a backfill ticket QUEUED for the match of game session gs_arn (NULL in
 * STANDALONE, required with WITH_QUEUE: a FlexMatch-made session not ended), whose current
 * players (each with its Team) are players (a reference is kept: not to be changed after). A ticket
 * id seen before returns that ticket. proc_key (the SDK's call): the session must be that
 * process's. A backfill already running for the session is replaced (CANCELLED). HG_EINVAL
 * (players, a team the rule set does not have, a session not made by FlexMatch), HG_ENOTFOUND (the
 * game session), HG_ELIMIT. */
int hg_fm_backfill_start(hg_flexmatch_t *fm, hg_fm_config_t *c, const char *id, const char *gs_arn,
                         json_t *players, const char *proc_key, hg_store_txn_t *txn,
                         hg_fm_ticket_t **out, int *existed, hg_error_t *err);
/* AcceptMatch: players (ids of t's players) accept (accept = 1) or reject. HG_EINVAL when t is
 * not REQUIRES_ACCEPTANCE or a player is not on t. */
int hg_fm_accept(hg_flexmatch_t *fm, hg_fm_ticket_t *t, const char *const *players, size_t n,
                 int accept, hg_store_txn_t *txn, hg_error_t *err);

/* ---- the engine ---- */
/* One matchmaking batch over every configuration (QUEUED → SEARCHING, then the matcher, then its
 * matches applied), within the batch budget (wall time: the loop is never held longer); what the
 * budget leaves — configurations, QUEUED tickets, matches not applied (their tickets search on) —
 * goes first next time, and hg_fm_more() says so. Commits its own txn. Returns the matches made. */
size_t hg_fm_batch(hg_flexmatch_t *fm);
/* The last batch yielded with work left: run the next one soon (the cron tick), not after a
 * whole batch interval. */
int hg_fm_more(const hg_flexmatch_t *fm);
/* Request and acceptance timeouts; commits its own txn. */
size_t hg_fm_tick(hg_flexmatch_t *fm, size_t budget);
/* From the placement sink: p ended (in txn). Placements FlexMatch did not start are ignored. */
void hg_fm_on_placement(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_pl_placement_t *p);

/* From the fleet sink, in txn: gs became ACTIVE or TERMINATED (a backfill of an ended session
 * is cancelled; an ACTIVE one with open slots may start an automatic backfill), or one of its
 * players left (automatic backfill). */
void hg_fm_on_session(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_fl_gsession_t *gs);
void hg_fm_on_slot_freed(hg_flexmatch_t *fm, hg_store_txn_t *txn, const hg_fl_gsession_t *gs);

const char *hg_fm_status_name(hg_fm_status_t s);

#endif
