/* hangar — the partition map (the set and the rules: partition.h).
 *
 * One table, `colls`, lists every collection a module writes, by its exact name or, for a
 * family of collections ("wallet/<nn>", "lb.e/<board>/<period>"), by the name before its first
 * '/'. Each row says how the partition follows from the collection and the key. A module adding
 * a collection adds its row here; tests/unit/test_partition.c checks that every collection
 * named in src/ has one, and the PostgreSQL backend refuses (debug builds) to write a collection
 * without one.
 */
#include "store/partition.h"

#include <stdio.h>
#include <string.h>

#include "core/map.h"

typedef enum {
    R_CONTROL,  /* control */
    R_PLAYER,   /* p<nn>: the family's "/<nn>" (two digits, < 64) */
    R_FQ_KEY,   /* fq: the key is the group's name */
    R_FQ_GROUP, /* fq: the key is "<group>/<server id>" */
    R_LB_KEY,   /* lb: the key is the board id */
    R_LB_COLL,  /* lb: the family's "/<board>[/…]" */
    R_RM_KEY,   /* rm: the key is the room id */
    R_WITH,     /* covered by its transaction's player partition */
    R_NONE,     /* the event log */
} rule_t;

static const struct coll_rule {
    const char *name;
    int family; /* 1: name is the part before the first '/' of "<name>/<…>" */
    rule_t rule;
} colls[] = {
    /* the control plane (src/fleet, src/placement, src/match) */
    {"fleet.locations", 0, R_CONTROL},
    {"fleet.fleets", 0, R_CONTROL},
    {"fleet.events", 0, R_CONTROL},
    {"fleet.aliases", 0, R_CONTROL},
    {"fleet.computes", 0, R_CONTROL},
    {"fleet.tokens", 0, R_CONTROL},
    {"fleet.processes", 0, R_CONTROL},
    {"fleet.gsessions", 0, R_CONTROL},
    {"fleet.psessions", 0, R_CONTROL},
    {"placement.queues", 0, R_CONTROL},
    {"placement.placements", 0, R_CONTROL},
    {"match.rulesets", 0, R_CONTROL},
    {"match.configs", 0, R_CONTROL},
    {"match.tickets", 0, R_CONTROL},
    {"match.autobackfill_off", 0, R_CONTROL},
    /* the registry and its event stream (src/registry, src/events) */
    {"registry.servers", 0, R_CONTROL},
    {"registry.meta", 0, R_CONTROL},
    /* read-mostly state every node will need (docs/cluster.md "Next", step 5) */
    {"keys", 0, R_CONTROL},
    {"auth.signing_keys", 0, R_CONTROL},
    {"players.meta", 0, R_CONTROL},
    {"wallet.catalog", 0, R_CONTROL},
    {"scripts", 0, R_CONTROL},
    {"scripts.v", 1, R_CONTROL},
    {"logs.meta", 0, R_CONTROL},
    /* players (src/players, src/wallet) */
    {"players", 1, R_PLAYER},
    {"friends", 1, R_PLAYER},
    {"wallet", 1, R_PLAYER},
    {"wallet.ledger", 1, R_PLAYER},
    {"wallet.pp", 1, R_PLAYER},
    {"wallet.pk", 1, R_PLAYER},
    {"wallet.purchase", 0, R_WITH}, /* purchase id → the purchase, with its wallet */
    {"wallet.rcpt", 0, R_WITH},     /* receipt id → the credit, with its wallet */
    /* FleetIQ (src/fleetiq) */
    {"fleetiq.groups", 0, R_FQ_KEY},
    {"fleetiq.servers", 0, R_FQ_GROUP},
    /* leaderboards (src/rank) */
    {"lb.boards", 0, R_LB_KEY},
    {"lb.e", 1, R_LB_COLL},
    {"lb.i", 1, R_LB_COLL},
    /* rooms (src/rooms) */
    {"rooms", 0, R_RM_KEY},
    /* the event log (src/logs): its ops name the table */
    {"events", 0, R_NONE},
};

static int hashed(int first, const char *name, size_t len)
{
    return first + (int)(hg_hash_bytes(name, len) % HG_PARTITION_HASHED);
}

int hg_partition_of(const char *coll, const char *key)
{
    const char *slash = strchr(coll, '/');
    size_t len = slash ? (size_t)(slash - coll) : strlen(coll);
    const struct coll_rule *r = NULL;
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]) && r == NULL; i++)
        if (colls[i].family == (slash != NULL) && strncmp(colls[i].name, coll, len) == 0 &&
            colls[i].name[len] == '\0')
            r = &colls[i];
    if (r == NULL)
        return HG_PARTITION_UNKNOWN;
    const char *rest = slash ? slash + 1 : NULL;
    switch (r->rule) {
    case R_CONTROL: return HG_PARTITION_CONTROL;
    case R_NONE: return HG_PARTITION_NONE;
    case R_WITH: return HG_PARTITION_WITH;
    case R_PLAYER: {
        if (rest[0] < '0' || rest[0] > '9' || rest[1] < '0' || rest[1] > '9' || rest[2] != '\0')
            return HG_PARTITION_UNKNOWN;
        int nn = (rest[0] - '0') * 10 + (rest[1] - '0');
        return nn < HG_PARTITION_PLAYERS ? HG_PARTITION_P0 + nn : HG_PARTITION_UNKNOWN;
    }
    case R_LB_COLL: {
        const char *end = strchr(rest, '/');
        return hashed(HG_PARTITION_LB0, rest, end ? (size_t)(end - rest) : strlen(rest));
    }
    default: break;
    }
    if (key == NULL)
        return HG_PARTITION_UNKNOWN;
    switch (r->rule) {
    case R_FQ_KEY: return hashed(HG_PARTITION_FQ0, key, strlen(key));
    case R_FQ_GROUP: {
        /* a key without its group was stored before servers were keyed by it: control (the
         * node loading them rewrites them under "<group>/<id>", fleetiq.c) */
        const char *end = strchr(key, '/');
        return end ? hashed(HG_PARTITION_FQ0, key, (size_t)(end - key)) : HG_PARTITION_CONTROL;
    }
    case R_LB_KEY: return hashed(HG_PARTITION_LB0, key, strlen(key));
    case R_RM_KEY: return hashed(HG_PARTITION_RM0, key, strlen(key));
    default: return HG_PARTITION_UNKNOWN;
    }
}

size_t hg_partition_name(int part, char out[HG_PARTITION_NAME_MAX])
{
    int n;
    if (part == HG_PARTITION_CONTROL)
        n = snprintf(out, HG_PARTITION_NAME_MAX, "control");
    else if (part >= HG_PARTITION_P0 && part < HG_PARTITION_FQ0)
        n = snprintf(out, HG_PARTITION_NAME_MAX, "p%02d", part - HG_PARTITION_P0);
    else if (part >= HG_PARTITION_FQ0 && part < HG_PARTITION_LB0)
        n = snprintf(out, HG_PARTITION_NAME_MAX, "fq%02d", part - HG_PARTITION_FQ0);
    else if (part >= HG_PARTITION_LB0 && part < HG_PARTITION_RM0)
        n = snprintf(out, HG_PARTITION_NAME_MAX, "lb%02d", part - HG_PARTITION_LB0);
    else if (part >= HG_PARTITION_RM0 && part < HG_PARTITIONS)
        n = snprintf(out, HG_PARTITION_NAME_MAX, "rm%02d", part - HG_PARTITION_RM0);
    else
        n = (out[0] = '\0', 0);
    return (size_t)n;
}

int hg_partition_by_name(const char *name)
{
    char buf[HG_PARTITION_NAME_MAX];
    for (int i = 0; i < HG_PARTITIONS; i++)
        if (hg_partition_name(i, buf) && strcmp(buf, name) == 0)
            return i;
    return -1;
}
