/* hangar — the registry: the one list of servers the platform knows.
 *
 * Gateways, lobbies and game servers announce themselves (native /v1 API); FleetIQ game servers
 * and, later, Server SDK processes appear here too through hg_registry_upsert_external(). Every
 * change is one event on the same stream (server.up / server.updated / server.down); the
 * registry tells its observer about each change together with the store transaction that
 * carries it, so the observer can publish the event once that transaction is durable.
 *
 * A native entry lives while its lease is renewed (PATCH) and, when it asked for one, while
 * hangard's own health check of its address succeeds:
 *
 *     (none) ──announce──▶ UP ──patch──▶ UP (updated)
 *                          UP ──leave / lease expired / check failed K times──▶ (removed, down)
 *
 *     | transition                | function                     | event, reason          |
 *     |---------------------------|------------------------------|------------------------|
 *     | announce (new id)         | hg_registry_announce         | server.up              |
 *     | announce (same id again)  | hg_registry_announce         | server.updated         |
 *     | patch that changes a field| hg_registry_update           | server.updated         |
 *     | patch that only renews    | hg_registry_update           | (none, not stored)     |
 *     | leave                     | hg_registry_remove           | server.down, left      |
 *     | lease ran out             | hg_registry_tick             | server.down, lease_expired |
 *     | K failed checks in a row  | hg_registry_probe_result     | server.down, health_check_failed
 * | | pick reserves load        | hg_registry_pick             | server.updated         |
 *
 * The id is derived from (kind, address, port), so a restarted server re-announces as itself.
 * Pick: the announced (native) server of a kind with the lowest load/capacity that has room
 * for the reservation, the reservation added to its load in the same step (one loop thread: no
 * two picks see the same slot); ties are broken round-robin. FleetIQ and SDK servers are listed
 * but never picked: ClaimGameServer and placement hand them out.
 *
 * No sockets here: health checks are asked of a prober (net/probe.c in the daemon, a fake in
 * unit tests), whose answers come back through hg_registry_probe_result(). Time comes from the
 * injected clock. Loop thread only.
 */
#ifndef HG_REGISTRY_REGISTRY_H
#define HG_REGISTRY_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "core/map.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_REG_MAX_SERVERS 100000
#define HG_REG_KIND_MAX 32
#define HG_REG_NAME_MAX 128
#define HG_REG_ADDRESS_MAX 255
#define HG_REG_STATUS_MAX 32
#define HG_REG_METADATA_MAX 4096 /* bytes of compact JSON */
#define HG_REG_LEASE_MIN_MS 1000
#define HG_REG_LEASE_MAX_MS 3600000
#define HG_REG_LEASE_DEFAULT_MS 15000
#define HG_REG_CHECK_MIN_MS 1000
#define HG_REG_CHECK_MAX_MS 3600000
#define HG_REG_CHECK_FAILURES_MAX 100
#define HG_REG_RESERVE_MAX 1000000

typedef enum { HG_REG_SRC_NATIVE = 0, HG_REG_SRC_FLEETIQ, HG_REG_SRC_SDK } hg_reg_source_t;
typedef enum { HG_REG_CHECK_NONE = 0, HG_REG_CHECK_TCP, HG_REG_CHECK_HTTP } hg_reg_check_t;
typedef enum { HG_REG_UP = 1, HG_REG_UPDATED, HG_REG_DOWN } hg_reg_event_t;
typedef enum {
    HG_REG_REASON_NONE = 0,
    HG_REG_REASON_LEFT,
    HG_REG_REASON_LEASE_EXPIRED,
    HG_REG_REASON_HEALTH_CHECK_FAILED,
    HG_REG_REASON_DEREGISTERED, /* removed through its own API (FleetIQ, SDK) */
} hg_reg_reason_t;

/* Read-only outside registry.c. */
typedef struct hg_reg_server {
    char id[24];
    char *kind;
    char *name;
    char *address;
    int port;
    char *status;
    int64_t load;
    int64_t capacity;
    json_t *metadata; /* owned; an object */
    hg_reg_source_t source;
    int64_t lease_ms; /* 0: no lease (external sources) */
    int64_t lease_expires_ms;
    int64_t registered_ms;
    int64_t updated_ms;
    hg_reg_check_t check;
    char *check_path; /* HTTP checks */
    int64_t check_interval_ms;
    int check_failures_max;
    int check_failures;
    int64_t next_check_ms;
    uint64_t probe_id; /* in flight when non-zero */
    hg_list_t knode;   /* kind->servers */
    hg_list_t lnode;   /* registry->by_lease, leased servers, soonest expiry first */
} hg_reg_server_t;

typedef struct hg_reg_announce {
    const char *kind, *name, *address, *status;
    int port;
    int64_t load, capacity;
    json_t *metadata; /* shared (a reference is kept): never change it afterwards; NULL = {} */
    int64_t lease_ms; /* 0 = default */
    hg_reg_check_t check;
    const char *check_path;
    int64_t check_interval_ms;
    int check_failures_max;
} hg_reg_announce_t;

/* Partial update: NULL / negative members are unchanged. */
typedef struct hg_reg_patch {
    const char *status;
    int64_t load;     /* -1 unchanged */
    int64_t capacity; /* -1 unchanged */
    json_t *metadata; /* shared like hg_reg_announce_t's; NULL unchanged */
} hg_reg_patch_t;

/* The observer hears of every change, with the transaction that makes it durable. */
typedef void (*hg_reg_observer_cb)(void *ud, hg_store_txn_t *txn, hg_reg_event_t ev,
                                   hg_reg_reason_t reason, const hg_reg_server_t *s);
/* Asked to check s's address; answer with hg_registry_probe_result(probe_id, ok). */
typedef void (*hg_reg_probe_cb)(void *ud, const hg_reg_server_t *s, uint64_t probe_id);

typedef struct hg_registry hg_registry_t;

hg_registry_t *hg_registry_new(hg_clock_t *clock, hg_store_t *store);
void hg_registry_free(hg_registry_t *r);
void hg_registry_set_observer(hg_registry_t *r, hg_reg_observer_cb cb, void *ud);
void hg_registry_set_prober(hg_registry_t *r, hg_reg_probe_cb cb, void *ud);
/* Rebuild native entries from the store; their leases restart now (start-up). */
int hg_registry_load(hg_registry_t *r);

/* The stable id for (kind, address, port) into out[24]. */
void hg_registry_make_id(const char *kind, const char *address, int port, char out[24]);

int hg_registry_announce(hg_registry_t *r, const hg_reg_announce_t *a, hg_store_txn_t *txn,
                         hg_reg_server_t **out, int *created, hg_error_t *err);
int hg_registry_update(hg_registry_t *r, hg_reg_server_t *s, const hg_reg_patch_t *p,
                       hg_store_txn_t *txn, hg_error_t *err);
/* Leave (native entries only). s is invalid after a 0 return. */
int hg_registry_remove(hg_registry_t *r, hg_reg_server_t *s, hg_store_txn_t *txn, hg_error_t *err);
hg_reg_server_t *hg_registry_get(hg_registry_t *r, const char *id);

typedef struct hg_reg_filter {
    const char *kind;   /* NULL: any */
    const char *status; /* NULL: any */
    int has_capacity;   /* 1: load < capacity only */
    json_t *metadata;   /* borrowed; every member must be equal; NULL: any */
} hg_reg_filter_t;
/* Servers matching f, sorted by id, after `after` (exclusive; NULL from the start), at most
 * limit; *more set when more remain. */
size_t hg_registry_list(hg_registry_t *r, const hg_reg_filter_t *f, const char *after, size_t limit,
                        hg_reg_server_t **out, int *more);
/* Pick and reserve (see above). HG_EOUTOFCAPACITY when no server has room. */
int hg_registry_pick(hg_registry_t *r, const hg_reg_filter_t *f, int64_t reserve,
                     hg_store_txn_t *txn, hg_reg_server_t **out, hg_error_t *err);

/* External sources (FleetIQ, SDK): upsert by a source-unique key; no lease, not stored here
 * (the source stores its own state and replays it at start). */
void hg_registry_upsert_external(hg_registry_t *r, hg_reg_source_t src, const char *key,
                                 const hg_reg_announce_t *a, hg_store_txn_t *txn);
void hg_registry_remove_external(hg_registry_t *r, hg_reg_source_t src, const char *key,
                                 hg_store_txn_t *txn);

/* Cron: expire leases, start due health checks. Commits its own transaction. */
size_t hg_registry_tick(hg_registry_t *r, size_t budget);
/* A probe's answer. Commits its own transaction when the server goes down. */
void hg_registry_probe_result(hg_registry_t *r, const char *id, uint64_t probe_id, int ok);

const char *hg_reg_event_name(hg_reg_event_t ev);
const char *hg_reg_reason_name(hg_reg_reason_t reason);
const char *hg_reg_source_name(hg_reg_source_t src);
size_t hg_registry_count(const hg_registry_t *r);

#endif
