/* hangar — FleetIQ: game server groups and game servers.
 *
 * The domain behind CreateGameServerGroup … ClaimGameServer (gamelift-wire.md §2). No sockets,
 * no SQL, no wire format: the API layer translates requests into these calls, and each call that
 * changes state records its durable effect into the caller's store transaction; the caller
 * acknowledges only after that transaction commits.
 *
 * A group's EC2 metadata (RoleArn, sizes, launch template, instance definitions, scaling policy,
 * subnets, tags) is opaque here: the API layer owns its shape as a JSON object (`attrs`) that the
 * domain stores and hands back. The semantic state — status, suspension, game servers, claims,
 * health — is the domain's.
 *
 * Game server, two axes (plus health):
 *
 *     UtilizationStatus:  AVAILABLE ──UpdateGameServer(UTILIZED)──▶ UTILIZED   (never back)
 *     ClaimStatus:        none ──ClaimGameServer──▶ CLAIMED ──60 s, still AVAILABLE──▶ none
 *                                                   CLAIMED stays while UTILIZED
 *     Health:  healthy while now - LastHealthCheckTime <= health_window;
 *              deregistered when unhealthy for deregister_after more (cron sweep)
 *
 *     | transition                          | function                 |
 *     |-------------------------------------|--------------------------|
 *     | register → AVAILABLE, healthy       | hg_fq_server_register    |
 *     | AVAILABLE → UTILIZED, health report | hg_fq_server_update      |
 *     | none → CLAIMED                      | hg_fq_server_claim       |
 *     | CLAIMED → none (lapse, computed)    | hg_fq_server_claimed     |
 *     | any → gone                          | hg_fq_server_deregister, hg_fq_sweep |
 *
 * Group status: NEW is skipped (no EC2 to wait for): ACTIVE on create.
 *
 *     ACTIVE|ERROR ──DeleteGameServerGroup──▶ DELETE_SCHEDULED ──sweep──▶ (removed)
 *     FORCE_DELETE removes at the next sweep; SAFE_DELETE and RETAIN wait until no game server
 *     is UTILIZED. A DELETE_SCHEDULED group refuses registrations and claims.
 *
 * Claimable: AVAILABLE, no live claim, healthy, group ACTIVE. Candidates are kept in a per-group
 * `free` list in registration order and claims in a `claimed` list in claim order, so a claim
 * costs O(1) plus the unhealthy servers it skips.
 *
 * Threading: loop thread only. Time: every decision reads the injected clock.
 */
#ifndef HG_FLEETIQ_FLEETIQ_H
#define HG_FLEETIQ_FLEETIQ_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "core/map.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_FQ_CLAIM_HOLD_MS 60000 /* fixed by GameLift */
#define HG_FQ_MAX_GROUPS 1000
#define HG_FQ_MAX_SERVERS 100000 /* across all groups */
#define HG_FQ_MAX_PAGE 1000      /* Limit above this is clamped */

typedef enum {
    HG_FQ_ACTIVE = 0,
    HG_FQ_DELETE_SCHEDULED,
    HG_FQ_ERROR,
} hg_fq_group_status_t;

typedef enum { HG_FQ_SAFE_DELETE = 0, HG_FQ_FORCE_DELETE, HG_FQ_RETAIN } hg_fq_delete_t;

typedef struct hg_fq_config {
    int64_t health_window_ms;    /* default 180 s: three missed 60 s reports */
    int64_t deregister_after_ms; /* unhealthy this long more → deregistered; default 180 s */
    char region[32];
    char account[16];
} hg_fq_config_t;

/* Read-only outside fleetiq.c. */
typedef struct hg_fq_group {
    char *name;
    char *arn;
    json_t *attrs; /* owned: the API layer's metadata object */
    hg_fq_group_status_t status;
    hg_fq_delete_t delete_option;
    int suspended; /* REPLACE_INSTANCE_TYPES suspended */
    int64_t created_ms, updated_ms;
    hg_list_t servers; /* every server, registration order */
    hg_list_t free;    /* AVAILABLE, not claimed */
    hg_list_t claimed; /* AVAILABLE with a claim, claim order (may have lapsed) */
    size_t nservers, nutilized;
    hg_map_t instances; /* instance id → hg_fq_instance_t */
} hg_fq_group_t;

typedef struct hg_fq_instance {
    char *id;
    size_t nservers;
} hg_fq_instance_t;

typedef struct hg_fq_server {
    char *id;
    hg_fq_group_t *group;
    char *instance_id;
    char *conn_info; /* NULL when absent */
    char *data;      /* NULL when absent */
    int utilized;
    int64_t claim_ms; /* 0: never claimed */
    int64_t registered_ms;
    int64_t health_ms;      /* LastHealthCheckTime */
    int64_t health_base_ms; /* health_ms, or the load time after a restart if later */
    uint64_t seq;           /* registration order */
    hg_list_t gnode;        /* group->servers */
    hg_list_t cnode;        /* group->free or group->claimed, or unlinked */
    hg_list_t hnode;        /* fq->by_health */
} hg_fq_server_t;

typedef struct hg_fleetiq hg_fleetiq_t;

/* Told of every game server that appears, changes or goes, with the transaction carrying the
 * change (NULL while loading at start-up). The registry uses it to list FleetIQ game servers. */
typedef enum { HG_FQ_EV_REGISTERED = 1, HG_FQ_EV_UPDATED, HG_FQ_EV_DEREGISTERED } hg_fq_event_t;
typedef void (*hg_fq_observer_cb)(void *ud, hg_store_txn_t *txn, hg_fq_event_t ev,
                                  const hg_fq_server_t *s);

hg_fleetiq_t *hg_fleetiq_new(hg_clock_t *clock, hg_store_t *store, const hg_fq_config_t *cfg);
void hg_fleetiq_free(hg_fleetiq_t *fq);
void hg_fleetiq_set_observer(hg_fleetiq_t *fq, hg_fq_observer_cb cb, void *ud);
/* Rebuild memory from the store (start-up); the observer hears of every server (txn NULL). */
int hg_fleetiq_load(hg_fleetiq_t *fq);
const hg_fq_config_t *hg_fleetiq_config(const hg_fleetiq_t *fq);
/* Partitions (docs/cluster.md "Next", step 3): part is an index of store/partition.h, one of
 * fq00..fq15 (a group's partition is hg_partition_of("fleetiq.groups", name), its servers'
 * follows from their "<group>/<id>" keys); another is HG_EINVAL. Nothing calls them in the
 * daemon yet: the assignment of partitions to nodes will (a later step).
 * load_partition: read that partition's groups and servers, as hg_fleetiq_load() does for all
 * (which reads each collection once rather than once per partition): the observer hears of
 * each server (txn NULL), health windows restart at the load time, groups and servers already
 * in memory are kept. Synchronous (hg_store_load): an asynchronous load on the store's reader
 * lane is a later step.
 * drop_partition: forget the partition's groups and their servers (lookups then fail as for
 * unknown ones; the health sweep and claims no longer see them); nothing is written to the
 * store and the observer is not told (the servers are not deregistered: another node serves
 * them), other partitions are untouched. hg_fq_group_t and hg_fq_server_t pointers of that
 * partition are invalid after the call. Threading: loop thread only. */
int hg_fleetiq_load_partition(hg_fleetiq_t *fq, int part, hg_error_t *err);
int hg_fleetiq_drop_partition(hg_fleetiq_t *fq, int part);

/* ---- groups ---- */
/* Takes ownership of attrs. */
int hg_fq_group_create(hg_fleetiq_t *fq, const char *name, json_t *attrs, hg_store_txn_t *txn,
                       hg_fq_group_t **out, hg_error_t *err);
/* By name or ARN; NULL when absent. */
hg_fq_group_t *hg_fq_group_find(hg_fleetiq_t *fq, const char *name_or_arn);
/* Like find, but fills err with NotFoundException. */
int hg_fq_group_get(hg_fleetiq_t *fq, const char *name_or_arn, hg_fq_group_t **out,
                    hg_error_t *err);
/* Persist the group after the caller changed g->attrs. */
void hg_fq_group_save(hg_fleetiq_t *fq, hg_fq_group_t *g, hg_store_txn_t *txn);
void hg_fq_group_suspend(hg_fleetiq_t *fq, hg_fq_group_t *g, int suspend, hg_store_txn_t *txn);
int hg_fq_group_delete(hg_fleetiq_t *fq, hg_fq_group_t *g, hg_fq_delete_t opt, hg_store_txn_t *txn,
                       hg_error_t *err);
/* Groups sorted by name, after `after` (exclusive, NULL from the start), at most limit.
 * Returns the count written to out; *more is set when more remain. */
size_t hg_fq_group_list(hg_fleetiq_t *fq, const char *after, size_t limit, hg_fq_group_t **out,
                        int *more);
const char *hg_fq_group_status_name(hg_fq_group_status_t s);

/* ---- game servers ---- */
int hg_fq_server_register(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id,
                          const char *instance_id, const char *conn_info, const char *data,
                          hg_store_txn_t *txn, hg_fq_server_t **out, hg_error_t *err);
int hg_fq_server_get(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id, hg_fq_server_t **out,
                     hg_error_t *err);
/* data: NULL = unchanged. utilization: -1 unchanged, 0 AVAILABLE, 1 UTILIZED.
 * health: 1 = report HEALTHY. */
int hg_fq_server_update(hg_fleetiq_t *fq, hg_fq_server_t *s, const char *data, int utilization,
                        int health, hg_store_txn_t *txn, hg_error_t *err);
/* id: NULL = any claimable server. data: NULL = unchanged. allow_draining: accepted for the
 * model's FilterOption; instances here are never DRAINING. */
int hg_fq_server_claim(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id, const char *data,
                       hg_store_txn_t *txn, hg_fq_server_t **out, hg_error_t *err);
/* s is invalid after this call. */
void hg_fq_server_deregister(hg_fleetiq_t *fq, hg_fq_server_t *s, hg_store_txn_t *txn);
/* ClaimStatus CLAIMED now? */
int hg_fq_server_claimed(const hg_fleetiq_t *fq, const hg_fq_server_t *s);
int hg_fq_server_healthy(const hg_fleetiq_t *fq, const hg_fq_server_t *s);
/* Servers of g in registration order (descending when desc), after seq `after` (0 = from the
 * start), at most limit. Returns the count; *more set when more remain. */
size_t hg_fq_server_list(hg_fleetiq_t *fq, hg_fq_group_t *g, int desc, uint64_t after, size_t limit,
                         hg_fq_server_t **out, int *more);
/* Instances of g sorted by id, after `after`, at most limit. */
size_t hg_fq_instance_list(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *after, size_t limit,
                           hg_fq_instance_t **out, int *more);

/* Cron: deregister servers unhealthy past the window, finish scheduled group deletions.
 * Handles at most `budget` servers per call. Commits its own transaction; returns the number
 * of changes made. */
size_t hg_fleetiq_sweep(hg_fleetiq_t *fq, size_t budget);

typedef struct hg_fq_stats {
    size_t groups, servers, utilized;
    uint64_t claims, claims_failed, expired;
} hg_fq_stats_t;
void hg_fleetiq_stats(const hg_fleetiq_t *fq, hg_fq_stats_t *out);

#endif
