/* hangar — game session queues and placements (gamelift-wire.md §5).
 *
 * A queue names destinations (fleet or alias ARNs, in priority order), a timeout, player latency
 * policies, an optional location filter and priority configuration. A placement asks a queue for
 * a game session: it is PENDING from StartGameSessionPlacement until its game session is ACTIVE
 * (FULFILLED, with the requested player sessions reserved), or it ends otherwise:
 *
 *     | transition                 | cause                                            | event |
 *     |----------------------------|--------------------------------------------------|-----------------------|
 *     | (none) → PENDING           | hg_pl_start (an attempt is made at once)         | — | |
 * PENDING: attempt           | start, capacity appeared (hg_pl_kick → hg_pl_run),| — | | | a
 * latency policy relaxed (hg_pl_tick)            |                       | | PENDING (session
 * ACTIVE)   | hg_pl_on_session: players reserved               | placement.fulfilled   | |   →
 * FULFILLED              |                                                  | | | PENDING: its
 * session ended | hg_pl_on_session: tried again while time is left | —                     | |
 * before ACTIVE            |                                                  | | | PENDING →
 * TIMED_OUT        | hg_pl_tick at start + the queue's timeout (a     | placement.timed_out   | |
 * | session still ACTIVATING is terminated)          |                       | | PENDING →
 * CANCELLED        | hg_pl_stop (refused once a session was created)  | placement.cancelled   | |
 * PENDING → FAILED           | its queue deleted; its players cannot be reserved| placement.failed
 * |
 *
 * An attempt (hg_pl_order, a pure function tested against a table of cases): the candidates are
 * every (destination, location) of the queue's ACTIVE fleets; a location outside the queue's
 * AllowedLocations goes; with player latencies, a location goes unless every player reported a
 * latency to it no higher than the latency policy in force (policies apply in ascending order of
 * their cap, each for its duration from the placement's start; the one without a duration holds
 * to the timeout; after the last one expires there is no cap). The rest are ordered by the
 * priority configuration (default: LATENCY — the players' average, COST — the fleet's
 * AnywhereConfiguration.Cost, DESTINATION — the queue's order, LOCATION — LocationOrder then the
 * name; without latencies, DESTINATION then LOCATION). The first candidate with an idle server
 * process gets the game session. The ordering is logged at debug level and the rank of the
 * winner is counted (hg_pl_stats). Placements wait for capacity in start order.
 *
 * The module calls fleet/session.h to create game sessions and reserve players; the fleet sink
 * tells it when a session becomes ACTIVE or ends (hg_pl_on_session, in the same transaction) and
 * when a process becomes idle (hg_pl_kick). Durable like every domain module: changes go into
 * the caller's store transaction. Time: the injected clock. Loop thread only.
 */
#ifndef HG_PLACEMENT_PLACEMENT_H
#define HG_PLACEMENT_PLACEMENT_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "fleet/session.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_PL_MAX_QUEUES 1000
#define HG_PL_MAX_DESTINATIONS 100  /* per queue */
#define HG_PL_MAX_POLICIES 20       /* PlayerLatencyPolicies per queue */
#define HG_PL_MAX_PENDING 10000     /* PENDING placements, all queues */
#define HG_PL_MAX_DONE 100000       /* ended placements kept; the oldest is forgotten */
#define HG_PL_MAX_LATENCIES 2000    /* PlayerLatencies entries per placement */
#define HG_PL_MAX_DESIRED 200       /* DesiredPlayerSessions (a session's player cap) */
#define HG_PL_DEFAULT_TIMEOUT_S 600 /* TimeoutInSeconds when a queue has none */
#define HG_PL_MAX_CANDIDATES 4096   /* (destination, location) pairs considered per attempt */

typedef enum {
    HG_PL_PENDING = 0,
    HG_PL_FULFILLED,
    HG_PL_CANCELLED,
    HG_PL_TIMED_OUT,
    HG_PL_FAILED
} hg_pl_status_t;

typedef enum { HG_PL_LATENCY = 0, HG_PL_COST, HG_PL_DESTINATION, HG_PL_LOCATION } hg_pl_prio_t;

typedef struct hg_pl_policy {
    int64_t cap_ms;     /* MaximumIndividualPlayerLatencyMilliseconds */
    int64_t duration_s; /* PolicyDurationSeconds; -1: until the timeout */
} hg_pl_policy_t;

typedef struct hg_pl_latency {
    const char *player, *location;
    double ms;
} hg_pl_latency_t;

/* The queue's settings as the domain reads them. Strings and arrays are owned by the queue. */
typedef struct hg_pl_queue {
    char *name, *arn;
    int64_t timeout_s;
    char **dests; /* DestinationArn, priority order */
    size_t ndests;
    hg_pl_policy_t *policies; /* sorted by cap */
    size_t npolicies;
    char **allowed; /* AllowedLocations; none: any */
    size_t nallowed;
    hg_pl_prio_t order[4]; /* PriorityOrder as given, completed with the default */
    size_t norder_given;   /* 0: no PriorityConfiguration */
    char **loc_order;      /* LocationOrder */
    size_t nloc_order;
    json_t *cfg;  /* owned: the API's queue members, echoed by Describe */
    json_t *tags; /* owned */
    int64_t created_ms;
    uint64_t seq;
    hg_list_t pending; /* hg_pl_placement_t.qnode, start order */
    size_t npending;
    hg_list_t node; /* module's queues, creation order */
} hg_pl_queue_t;

typedef struct hg_pl_placed {
    char *player;
    char psid[48];
} hg_pl_placed_t;

typedef struct hg_pl_placement {
    char *id;
    char *queue_name;
    hg_pl_queue_t *queue; /* NULL once ended */
    hg_pl_status_t status;
    json_t *req; /* owned: the start request's members (echoed) */
    hg_pl_latency_t *lat;
    size_t nlat;
    char **override_locs; /* PriorityConfigurationOverride.LocationOrder */
    size_t noverride;
    int override_none; /* PlacementFallbackStrategy NONE */
    int64_t start_ms, end_ms, deadline_ms;
    int64_t last_cap; /* the latency cap of the last attempt (-2: none made) */
    /* the game session (set by an attempt; final once FULFILLED) */
    char *gs_arn, *fleet_id, *fleet_arn, *location, *ip, *dns;
    int port;
    hg_pl_placed_t *placed;
    size_t nplaced;
    uint64_t seq;
    hg_list_t qnode; /* queue->pending while PENDING */
    hg_list_t dnode; /* module's ended placements, end order */
} hg_pl_placement_t;

/* ---- ordering (pure) ---- */

typedef struct hg_pl_cand {
    size_t dest;          /* index in the queue's destinations */
    const char *fleet_id; /* borrowed */
    const char *location; /* borrowed */
    double cost;          /* AnywhereConfiguration.Cost; 0 when none */
    /* filled by hg_pl_order */
    double latency; /* players' average to location; HUGE_VAL when a player reported none */
} hg_pl_cand_t;

typedef struct hg_pl_order_in {
    const hg_pl_queue_t *q;
    const hg_pl_latency_t *lat;
    size_t nlat;
    const char *const *override_locs;
    size_t noverride;
    int override_none;
    int64_t cap_ms; /* -1: no cap */
} hg_pl_order_in_t;

/* Filter c[0..n) and sort it by the queue's priority; returns how many are left (at the front). */
size_t hg_pl_order(const hg_pl_order_in_t *in, hg_pl_cand_t *c, size_t n);
/* The latency cap in force elapsed_s after the start (-1: none), for policies sorted by cap. */
int64_t hg_pl_cap(const hg_pl_policy_t *p, size_t n, int64_t elapsed_s);

/* ---- module ---- */

typedef struct hg_placement hg_placement_t;

typedef struct hg_pl_sink {
    /* p ended (FULFILLED, TIMED_OUT, CANCELLED, FAILED) in txn: publish its event. */
    void (*ended)(void *ud, hg_store_txn_t *txn, const hg_pl_placement_t *p);
    /* Pending placements may be placed: call hg_pl_run soon (not from inside this call). */
    void (*wake)(void *ud);
    void *ud;
} hg_pl_sink_t;

typedef struct hg_pl_stats {
    size_t queues, pending, done;
    uint64_t started, fulfilled, timed_out, cancelled, failed, attempts;
    uint64_t rank[4]; /* winners by rank in the ordering: 0, 1, 2, 3 or more */
} hg_pl_stats_t;

hg_placement_t *hg_placement_new(hg_clock_t *clock, hg_store_t *store, hg_fleet_t *fleet,
                                 const char *region, const char *account);
void hg_placement_free(hg_placement_t *pl);
void hg_placement_set_sink(hg_placement_t *pl, const hg_pl_sink_t *sink);
/* Rebuild from the store (after the fleet module loaded). */
int hg_placement_load(hg_placement_t *pl);
void hg_placement_stats(const hg_placement_t *pl, hg_pl_stats_t *out);

/* ---- queues ---- */
/* The settings a create or update gives (NULL / negative: absent). Arrays are borrowed. */
typedef struct hg_pl_queue_in {
    int64_t timeout_s; /* -1 absent */
    const char *const *dests;
    size_t ndests;
    int has_dests;
    const hg_pl_policy_t *policies;
    size_t npolicies;
    int has_policies;
    const char *const *allowed;
    size_t nallowed;
    int has_allowed;
    const hg_pl_prio_t *order;
    size_t norder;
    const char *const *loc_order;
    size_t nloc_order;
    int has_priority;
    json_t *cfg; /* borrowed: the API members to keep (replaces those present) */
} hg_pl_queue_in_t;

/* HG_ECONFLICT (exists), HG_ELIMIT, HG_EINVAL (a destination that is neither a fleet nor an alias
 * ARN, too many, LOCATION in PriorityOrder without LocationOrder). Takes ownership of tags. */
int hg_pl_queue_create(hg_placement_t *pl, const char *name, const hg_pl_queue_in_t *in,
                       json_t *tags, hg_store_txn_t *txn, hg_pl_queue_t **out, hg_error_t *err);
/* By name or ARN. */
hg_pl_queue_t *hg_pl_queue_find(hg_placement_t *pl, const char *name_or_arn);
int hg_pl_queue_update(hg_placement_t *pl, hg_pl_queue_t *q, const hg_pl_queue_in_t *in,
                       hg_store_txn_t *txn, hg_error_t *err);
/* Pending placements on it FAIL. q is invalid after the call. */
void hg_pl_queue_delete(hg_placement_t *pl, hg_pl_queue_t *q, hg_store_txn_t *txn);
size_t hg_pl_queue_list(hg_placement_t *pl, uint64_t after, size_t limit, hg_pl_queue_t **out,
                        int *more);
/* Tags by queue ARN (HG_ENOTFOUND when not a queue of this module). */
int hg_pl_tags_get(hg_placement_t *pl, const char *arn, json_t **tags, hg_error_t *err);
int hg_pl_tags_set(hg_placement_t *pl, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err);

/* ---- placements ---- */
typedef struct hg_pl_start_in {
    const char *id;
    json_t *req; /* borrowed: the members to echo (GameProperties, GameSessionName, …) */
    const char *gs_name, *gs_data;
    json_t *props; /* borrowed array or NULL */
    int64_t max_players;
    const hg_pl_latency_t *lat;
    size_t nlat;
    const char *const *desired;      /* DesiredPlayerSessions: player ids … */
    const char *const *desired_data; /* … and their PlayerData (entries may be NULL) */
    size_t ndesired;
    const char *const *override_locs;
    size_t noverride;
    int override_none;
} hg_pl_start_in_t;

/* StartGameSessionPlacement: PENDING, and one attempt at once. The id seen before returns that
 * placement (*existed = 1). HG_EINVAL (more desired players than MaximumPlayerSessionCount, a
 * player listed twice, an override on a queue whose PriorityOrder does not start with
 * LOCATION, both latencies and an override), HG_ELIMIT (pending placements). */
int hg_pl_start(hg_placement_t *pl, hg_pl_queue_t *q, const hg_pl_start_in_t *in,
                hg_store_txn_t *txn, hg_pl_placement_t **out, int *existed, hg_error_t *err);
hg_pl_placement_t *hg_pl_find(hg_placement_t *pl, const char *id);
/* StopGameSessionPlacement: PENDING → CANCELLED. HG_EINVAL once a game session was created for
 * it or when it has ended. */
int hg_pl_stop(hg_placement_t *pl, hg_pl_placement_t *p, hg_store_txn_t *txn, hg_error_t *err);

/* ---- engine ---- */
/* From the fleet sink: gs became ACTIVE or ended (txn: the change's transaction). */
void hg_pl_on_session(hg_placement_t *pl, hg_store_txn_t *txn, const hg_fl_gsession_t *gs);
/* Capacity appeared: the sink's wake is asked to call hg_pl_run. */
void hg_pl_kick(hg_placement_t *pl);
/* Attempt pending placements (oldest first) while capacity lasts; commits its own txn. */
size_t hg_pl_run(hg_placement_t *pl, size_t budget);
/* Timeouts and relaxed latency policies; commits its own txn. */
size_t hg_pl_tick(hg_placement_t *pl, size_t budget);

const char *hg_pl_status_name(hg_pl_status_t s);

#endif
