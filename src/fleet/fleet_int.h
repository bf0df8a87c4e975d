/* hangar — fleet module internals shared by fleet.c, alias.c and compute.c (never included
 * from outside src/fleet/).
 *
 * Durable records (collection → key → value):
 *   fleet.locations  name             → {arn, tags, created_ms}
 *   fleet.fleets     fleet id         → {arn, attrs, tags, status, locations, created_ms,
 *                                       terminated_ms, seq}
 *   fleet.events     <fleet id>/<seq> → {id, code, message, time_ms, seq}   (seq: 16 hex digits)
 *   fleet.aliases    alias id         → {arn, name, description, type, fleet_id, message, tags,
 *                                       created_ms, updated_ms, seq}
 *   fleet.computes   <fleet id>/<name>→ {arn, ip, dns, cert, location, created_ms, seq}
 *   fleet.tokens     token            → {fleet, compute, issued_ms, expires_ms}
 *
 * One sequence (`next_seq`) numbers fleets, aliases, computes and events: it gives every list its
 * order and every page token its position, and survives restarts as the largest stored + 1.
 */
#ifndef HG_FLEET_FLEET_INT_H
#define HG_FLEET_FLEET_INT_H

#include "fleet/fleet.h"

#define COLL_LOCATIONS "fleet.locations"
#define COLL_FLEETS "fleet.fleets"
#define COLL_EVENTS "fleet.events"
#define COLL_ALIASES "fleet.aliases"
#define COLL_COMPUTES "fleet.computes"
#define COLL_TOKENS "fleet.tokens"

struct hg_fleet {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_fl_config_t cfg;
    hg_map_t locations; /* name → hg_fl_location_t */
    hg_map_t fleets;    /* id → hg_fl_fleet_t (TERMINATED ones too) */
    hg_list_t fleet_order;
    hg_list_t terminated; /* TERMINATED fleets, oldest termination first */
    size_t nlive, nterminated;
    hg_map_t aliases; /* id → hg_fl_alias_t */
    hg_list_t alias_order;
    size_t ncomputes;
    uint64_t next_seq;
    uint64_t tokens_issued, token_checks_failed;
};

static inline int64_t hg_fl_now(const hg_fleet_t *fl)
{
    return hg_clock_now_ms(fl->clock);
}

/* "<prefix><uuid v4>" into out (cap >= strlen(prefix) + 37). */
void hg_fl_new_id(const char *prefix, char *out, size_t cap);
/* arn:aws:gamelift:<region>:<account>:<kind>/<id>, a new string. */
char *hg_fl_arn(const hg_fleet_t *fl, const char *kind, const char *id);
/* The id part of an ARN of `kind` ("fleet", "alias", …), or NULL when arn is not one. */
const char *hg_fl_arn_id(const char *arn, const char *kind);
/* "" → NULL; a copy otherwise. */
char *hg_fl_strdup_opt(const char *s);
/* A tags array for a record or NULL argument: a new reference. */
json_t *hg_fl_tags_or_empty(json_t *tags);

/* alias.c */
void hg_fl_alias_free(hg_fl_alias_t *a);
void hg_fl_alias_save(hg_fleet_t *fl, const hg_fl_alias_t *a, hg_store_txn_t *txn);
int hg_fl_alias_load(hg_fleet_t *fl);
/* compute.c */
void hg_fl_compute_free(hg_fl_compute_t *c);
int hg_fl_compute_load(hg_fleet_t *fl);
/* Deregister every compute of f (in location `location`, or all when NULL). */
void hg_fl_compute_drop_all(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *location,
                            hg_store_txn_t *txn);

#endif
