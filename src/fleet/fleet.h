/* hangar — fleets: custom locations, ANYWHERE fleets, aliases, computes and their auth tokens.
 *
 * The domain behind CreateLocation … GetComputeAuthToken (gamelift-wire.md §3). No sockets, no
 * SQL, no wire format: the API layer translates requests into these calls, and each call that
 * changes state records its durable effect into the caller's store transaction; the caller
 * acknowledges only after that transaction commits. Every call checks everything it can refuse
 * before it changes anything, so a refused call leaves memory and the transaction untouched.
 *
 * A fleet's descriptive attributes (Name, Description, RuntimeConfiguration, protection and
 * creation-limit policies, MetricGroups, AnywhereConfiguration, LogPaths) are opaque here: the
 * API layer owns their shape as a JSON object (`attrs`) that the domain stores and hands back.
 * The semantic state — status, locations, computes, tokens, events, tags — is the domain's.
 *
 * Fleet status (ANYWHERE fleets have no instances to build, so they skip NEW … ACTIVATING):
 *
 *     (create) ──▶ ACTIVE ──DeleteFleet──▶ TERMINATED ──(oldest past the cap)──▶ gone
 *
 *     | transition                   | function           | events recorded               |
 *     |------------------------------|--------------------|-------------------------------|
 *     | create → ACTIVE              | hg_fl_fleet_create | FLEET_CREATED,                |
 *     |                              |                    | FLEET_STATE_ACTIVE            |
 *     | ACTIVE → TERMINATED          | hg_fl_fleet_delete | FLEET_DELETED                 |
 *     |   (its computes go)          |                    |                               |
 *     | TERMINATED → gone (beyond    | hg_fl_fleet_delete | —                             |
 *     |   HG_FL_MAX_TERMINATED)      |                    |                               |
 *
 * A fleet's locations are its home Region (the configured region, always present) plus custom
 * locations; each location's state is the fleet's. A custom location cannot be deleted while a
 * fleet that is not TERMINATED uses it.
 *
 * Compute (ComputeStatus ACTIVE from registration until deregistration; no other state yet):
 *
 *     | transition                     | function                     |
 *     |--------------------------------|------------------------------|
 *     | register → ACTIVE              | hg_fl_compute_register       |
 *     | ACTIVE → gone (tokens revoked) | hg_fl_compute_deregister,    |
 *     |                                | hg_fl_fleet_delete,          |
 *     |                                | hg_fl_fleet_remove_locations |
 *
 * Auth tokens: GetComputeAuthToken hands out a random token valid for token_ttl_ms. While the
 * newest token of a compute has at least half its lifetime left it is handed out again, so a
 * compute holds at most two live tokens however often it asks; expired ones are dropped when a
 * token is minted and at load. hg_fleet_token_check() is what the Server SDK endpoint asks.
 * A token outlives its expiry in one way only: a server process remembers (a hash of) the token
 * it last connected with, and may reconnect with it while the process is still known — its
 * socket dropped, or hangard restarted, within the reconnect grace (hg_fl_proc_auth_known). A
 * process is also handed a fresh token before its own expires (RefreshConnection, api/sdk).
 *
 * Alias: SIMPLE (routes to a fleet id) or TERMINAL (carries a message); resolving a TERMINAL
 * alias fails with HG_ETERMINALROUTING and the alias's message.
 *
 * Threading: loop thread only. Time: every decision reads the injected clock.
 */
#ifndef HG_FLEET_FLEET_H
#define HG_FLEET_FLEET_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "core/map.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_FL_MAX_LOCATIONS 1000      /* custom locations */
#define HG_FL_MAX_FLEETS 1000         /* fleets not TERMINATED */
#define HG_FL_MAX_TERMINATED 100      /* TERMINATED fleets kept; the oldest is dropped */
#define HG_FL_MAX_FLEET_LOCATIONS 100 /* custom locations per fleet */
#define HG_FL_MAX_ALIASES 1000        /* aliases */
#define HG_FL_MAX_COMPUTES 100000     /* computes across all fleets */
#define HG_FL_MAX_EVENTS 1000         /* events kept per fleet; the oldest is dropped */
#define HG_FL_MAX_TAGS 200            /* tags per resource (GameLift's limit) */
#define HG_FL_MAX_PAGE 1000           /* Limit above this is clamped */
#define HG_FL_TOKEN_TTL_MS (15 * 60 * 1000)
#define HG_FL_TOKEN_CHARS 64       /* AuthToken: 64 hex characters (256 random bits) */
#define HG_FL_TOKENS_PER_COMPUTE 4 /* live tokens kept per compute (two in practice) */
#define HG_FL_TOKEN_HASH_CHARS 64  /* hex SHA-256 of a token */

typedef enum { HG_FL_ACTIVE = 0, HG_FL_TERMINATED } hg_fl_status_t;

typedef struct hg_fl_config {
    int64_t token_ttl_ms; /* 0: HG_FL_TOKEN_TTL_MS */
    char region[32];      /* the home Region, also in ARNs */
    char account[16];
} hg_fl_config_t;

/* Read-only outside src/fleet/. */
typedef struct hg_fl_location {
    char *name; /* custom-… */
    char *arn;
    json_t *tags; /* owned: [{"Key","Value"}] */
    int64_t created_ms;
    size_t nfleets; /* fleets not TERMINATED that use it */
} hg_fl_location_t;

typedef struct hg_fl_fleet {
    char *id; /* fleet-<uuid> */
    char *arn;
    json_t *attrs; /* owned: the API layer's attribute object */
    json_t *tags;  /* owned */
    hg_fl_status_t status;
    int64_t created_ms, terminated_ms;
    uint64_t seq;
    char **locations; /* custom location names, in the order added */
    size_t nlocations;
    hg_map_t computes; /* name → hg_fl_compute_t */
    hg_list_t by_reg;  /* computes in registration order */
    hg_list_t events;  /* hg_fl_event_t, oldest first */
    size_t nevents;
    hg_list_t gsessions; /* hg_fl_gsession_t, creation order (session.h) */
    size_t ngsessions;
    hg_list_t node;  /* module's fleets, creation order */
    hg_list_t tnode; /* module's TERMINATED fleets, termination order */
} hg_fl_fleet_t;

typedef struct hg_fl_token {
    char token[HG_FL_TOKEN_CHARS + 1];
    int64_t issued_ms, expires_ms;
} hg_fl_token_t;

typedef struct hg_fl_compute {
    char *name;
    char *arn;
    hg_fl_fleet_t *fleet;
    char *ip;       /* NULL when absent */
    char *dns;      /* NULL when absent */
    char *cert;     /* CertificatePath, stored only; NULL when absent */
    char *location; /* one of the fleet's custom locations */
    int64_t created_ms;
    uint64_t seq;
    hg_fl_token_t tokens[HG_FL_TOKENS_PER_COMPUTE]; /* oldest first */
    size_t ntokens;
    hg_list_t processes; /* hg_fl_process_t (session.h) */
    size_t nprocesses;
    hg_list_t node; /* fleet->by_reg */
} hg_fl_compute_t;

typedef struct hg_fl_event {
    char id[37];
    char *code; /* EventCode */
    char *message;
    int64_t time_ms;
    uint64_t seq;
    hg_list_t node;
} hg_fl_event_t;

typedef struct hg_fl_route {
    int terminal;         /* 0: SIMPLE */
    const char *fleet_id; /* SIMPLE */
    const char *message;  /* TERMINAL; may be NULL */
} hg_fl_route_t;

typedef struct hg_fl_alias {
    char *id; /* alias-<uuid> */
    char *arn;
    char *name;
    char *description; /* NULL when absent */
    int terminal;
    char *fleet_id; /* SIMPLE */
    char *message;  /* TERMINAL; NULL when absent */
    json_t *tags;   /* owned */
    int64_t created_ms, updated_ms;
    uint64_t seq;
    hg_list_t node; /* module's aliases, creation order */
} hg_fl_alias_t;

/* What a fleet (or one of its locations) holds, for capacity and utilization. Game sessions,
 * processes and players are 0 until the Server SDK endpoint and game sessions exist. */
typedef struct hg_fl_counts {
    size_t computes;      /* registered (ComputeStatus ACTIVE) */
    size_t idle_computes; /* registered and hosting no game session */
    size_t processes;     /* active server processes */
    size_t game_sessions; /* active game sessions */
    size_t players;       /* current player sessions */
    size_t max_players;   /* sum of MaximumPlayerSessionCount over active game sessions */
} hg_fl_counts_t;

typedef struct hg_fleet hg_fleet_t;

/* ---- module ---- */
hg_fleet_t *hg_fleet_new(hg_clock_t *clock, hg_store_t *store, const hg_fl_config_t *cfg);
void hg_fleet_free(hg_fleet_t *fl);
/* Rebuild memory from the store (start-up). Expired tokens are dropped (their deletion is
 * committed in the background). */
int hg_fleet_load(hg_fleet_t *fl);
const hg_fl_config_t *hg_fleet_config(const hg_fleet_t *fl);

/* ---- custom locations ---- */
/* name starts with "custom-" (the API layer checked the pattern). Takes ownership of tags
 * (a JSON array, or NULL for none). HG_ECONFLICT when it exists, HG_ELIMIT. */
int hg_fl_location_create(hg_fleet_t *fl, const char *name, json_t *tags, hg_store_txn_t *txn,
                          hg_fl_location_t **out, hg_error_t *err);
/* By name or ARN; NULL when absent. */
hg_fl_location_t *hg_fl_location_find(hg_fleet_t *fl, const char *name_or_arn);
/* HG_EINVAL while a fleet that is not TERMINATED uses it. loc is invalid after a 0 return. */
int hg_fl_location_delete(hg_fleet_t *fl, hg_fl_location_t *loc, hg_store_txn_t *txn,
                          hg_error_t *err);
/* Custom locations sorted by name, after `after` (exclusive, NULL from the start), at most
 * limit. Returns the count written to out; *more is set when more remain. */
size_t hg_fl_location_list(hg_fleet_t *fl, const char *after, size_t limit, hg_fl_location_t **out,
                           int *more);

/* ---- fleets ---- */
/* Takes ownership of attrs and tags (NULL for none). locations: custom location names (the home
 * Region may be among them and is skipped). HG_ENOTFOUND for an unknown location, HG_EINVAL
 * for a repeated one or one that is not custom, HG_ELIMIT. The fleet is ACTIVE. */
int hg_fl_fleet_create(hg_fleet_t *fl, json_t *attrs, const char *const *locations, size_t nloc,
                       json_t *tags, hg_store_txn_t *txn, hg_fl_fleet_t **out, hg_error_t *err);
/* By id or ARN, TERMINATED fleets included; NULL when absent. */
hg_fl_fleet_t *hg_fl_fleet_find(hg_fleet_t *fl, const char *id_or_arn);
/* Like find, but fills err with HG_ENOTFOUND. */
int hg_fl_fleet_get(hg_fleet_t *fl, const char *id_or_arn, hg_fl_fleet_t **out, hg_error_t *err);
/* HG_EFLEETSTATUS unless the fleet is ACTIVE (for calls that change a fleet). */
int hg_fl_fleet_check_active(const hg_fl_fleet_t *f, hg_error_t *err);
/* Persist the fleet after the caller changed f->attrs. */
void hg_fl_fleet_save(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn);
/* ACTIVE → TERMINATED: computes are deregistered (their tokens stop working), the locations are
 * released, FLEET_DELETED is recorded. HG_EFLEETSTATUS when already TERMINATED. */
int hg_fl_fleet_delete(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn, hg_error_t *err);
/* Add custom locations (ACTIVE at once). HG_EFLEETSTATUS, HG_ENOTFOUND (unknown location),
 * HG_EINVAL (already in the fleet, repeated, not custom), HG_ELIMIT. */
int hg_fl_fleet_add_locations(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *const *names, size_t n,
                              hg_store_txn_t *txn, hg_error_t *err);
/* Remove custom locations; their computes are deregistered. HG_EINVAL for the home Region or a
 * location the fleet does not have. */
int hg_fl_fleet_remove_locations(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *const *names,
                                 size_t n, hg_store_txn_t *txn, hg_error_t *err);
/* 1 when name is the home Region or one of f's custom locations. */
int hg_fl_fleet_has_location(const hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *name);
/* Fleets that are not TERMINATED, in creation order, after seq `after` (0 from the start), at
 * most limit. Returns the count; *more set when more remain. */
size_t hg_fl_fleet_list(hg_fleet_t *fl, uint64_t after, size_t limit, hg_fl_fleet_t **out,
                        int *more);
/* Counts for the whole fleet (location NULL) or one location (the home Region has none). */
void hg_fl_fleet_counts(const hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location,
                        hg_fl_counts_t *out);
const char *hg_fl_status_name(hg_fl_status_t s);

/* ---- fleet events ---- */
/* Record an event (code: an EventCode; message borrowed). Drops the oldest past
 * HG_FL_MAX_EVENTS. */
void hg_fl_event_add(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *code, const char *message,
                     hg_store_txn_t *txn);
/* Events of f with start_ms <= time <= end_ms (0: unbounded), oldest first, after seq `after`,
 * at most limit. */
size_t hg_fl_event_list(const hg_fl_fleet_t *f, int64_t start_ms, int64_t end_ms, uint64_t after,
                        size_t limit, hg_fl_event_t **out, int *more);

/* ---- aliases ---- */
/* Strings are borrowed; takes ownership of tags. SIMPLE needs an existing fleet that is not
 * TERMINATED (HG_ENOTFOUND / HG_EINVAL). HG_ELIMIT. */
int hg_fl_alias_create(hg_fleet_t *fl, const char *name, const char *description,
                       const hg_fl_route_t *route, json_t *tags, hg_store_txn_t *txn,
                       hg_fl_alias_t **out, hg_error_t *err);
/* By id or ARN; NULL when absent. */
hg_fl_alias_t *hg_fl_alias_find(hg_fleet_t *fl, const char *id_or_arn);
int hg_fl_alias_get(hg_fleet_t *fl, const char *id_or_arn, hg_fl_alias_t **out, hg_error_t *err);
/* NULL arguments leave a field unchanged. */
int hg_fl_alias_update(hg_fleet_t *fl, hg_fl_alias_t *a, const char *name, const char *description,
                       const hg_fl_route_t *route, hg_store_txn_t *txn, hg_error_t *err);
/* a is invalid after this call. */
void hg_fl_alias_delete(hg_fleet_t *fl, hg_fl_alias_t *a, hg_store_txn_t *txn);
/* SIMPLE: *fleet_id set (borrowed from a). TERMINAL: HG_ETERMINALROUTING with the message. */
int hg_fl_alias_resolve(const hg_fl_alias_t *a, const char **fleet_id, hg_error_t *err);
/* Aliases in creation order, filtered by routing type (-1 any, 0 SIMPLE, 1 TERMINAL) and exact
 * name (NULL any), after seq `after`, at most limit. */
size_t hg_fl_alias_list(hg_fleet_t *fl, int terminal, const char *name, uint64_t after,
                        size_t limit, hg_fl_alias_t **out, int *more);

/* ---- computes ---- */
/* ip, dns, cert may be NULL (the API layer requires an address). location must be one of the
 * fleet's custom locations (HG_EINVAL). The same name registered again with the same address and
 * location returns the existing compute (a retried request); otherwise HG_ECONFLICT.
 * HG_EFLEETSTATUS when the fleet is TERMINATED, HG_ELIMIT. */
int hg_fl_compute_register(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *name, const char *ip,
                           const char *dns, const char *cert, const char *location,
                           hg_store_txn_t *txn, hg_fl_compute_t **out, hg_error_t *err);
/* By name or compute ARN within f; NULL when absent. */
hg_fl_compute_t *hg_fl_compute_find(const hg_fl_fleet_t *f, const char *name_or_arn);
int hg_fl_compute_get(const hg_fl_fleet_t *f, const char *name_or_arn, hg_fl_compute_t **out,
                      hg_error_t *err);
/* c is invalid after this call; its tokens stop working. */
void hg_fl_compute_deregister(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn);
/* Computes of f in registration order, only `location` when non-NULL, after `after` (NULL from
 * the start: a compute from a previous page; when it is gone, after_seq is used), at most
 * limit. */
size_t hg_fl_compute_list(const hg_fl_fleet_t *f, const char *location, const char *after,
                          uint64_t after_seq, size_t limit, hg_fl_compute_t **out, int *more);
/* The token to hand out: the newest one if at least half its lifetime is left, else a new one
 * (recorded in txn). *out is borrowed from c. */
int hg_fl_compute_token(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn,
                        const hg_fl_token_t **out, hg_error_t *err);

/**
 * Is `token` a live auth token of compute `compute` (name or ARN) of fleet `fleet_id` (id or
 * ARN)? For the Server SDK WebSocket endpoint (InitSDK's Authorization).
 * @param expires_ms when not NULL and the token is valid: when it expires (epoch ms)
 * @return 0 when valid; HG_ENOTFOUND when the fleet or compute is unknown (or the fleet is
 *         TERMINATED); HG_EUNAUTHORIZED when the token is not one of the compute's or expired.
 * Compares in constant time. Loop thread.
 */
int hg_fleet_token_check(hg_fleet_t *fl, const char *fleet_id, const char *compute,
                         const char *token, int64_t *expires_ms);
/* The lifetime of a new token (the token-ttl option). */
int64_t hg_fleet_token_ttl_ms(const hg_fleet_t *fl);
/* The text a process keeps of the token it connected with (hex SHA-256: the token itself is
 * never stored twice). out holds HG_FL_TOKEN_HASH_CHARS + 1. */
void hg_fleet_token_hash(const char *token, char *out);

/* ---- tags (fleets, aliases, custom locations, by ARN) ---- */
/* *tags borrowed: the resource's tag array. HG_ENOTFOUND for an unknown ARN or a TERMINATED
 * fleet, HG_EINVAL for an ARN of a kind this module does not tag. */
int hg_fl_tags_get(hg_fleet_t *fl, const char *arn, json_t **tags, hg_error_t *err);
/* Replace the tags of the resource; takes ownership of tags (also on failure). */
int hg_fl_tags_set(hg_fleet_t *fl, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err);

typedef struct hg_fl_stats {
    size_t locations, fleets, terminated, aliases, computes, tokens;
    uint64_t tokens_issued, token_checks_failed;
} hg_fl_stats_t;
void hg_fleet_stats(const hg_fleet_t *fl, hg_fl_stats_t *out);

#endif
