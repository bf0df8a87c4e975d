/* hangar — the partition map (the set and the rules: partition.h).
 *
 * One table, `colls`, lists every collection a module writes, by its exact name or, for a
 * family of collections ("wallet/<nn>", "lb.e/<board>/<period>"), by the name before its first
 * '/'. Each row says how the partition follows from the collection and the key. A module adding
 * a collection adds its row here; tests/unit/test_partition.c checks that every collection
 * named in src/ has one, and the PostgreSQL backend refuses (debug builds) to write a collection
 * without one. The table also says which collections are history (the embedded store keeps
 * them in its history file, written through its journal: store/sqlite.c).
 */
#include "store/partition.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
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
    int history; /* hg_store_history_kind: 0 not history, 1 history, 2 history read by key */
} colls[] = {
    /* the control plane (src/fleet, src/placement, src/match) */
    {"fleet.locations", 0, R_CONTROL, 0},
    {"fleet.fleets", 0, R_CONTROL, 0},
    {"fleet.events", 0, R_CONTROL, 0},
    {"fleet.aliases", 0, R_CONTROL, 0},
    {"fleet.computes", 0, R_CONTROL, 0},
    {"fleet.tokens", 0, R_CONTROL, 0},
    {"fleet.processes", 0, R_CONTROL, 0},
    {"fleet.gsessions", 0, R_CONTROL, 0},
    {"fleet.psessions", 0, R_CONTROL, 0},
    {"placement.queues", 0, R_CONTROL, 0},
    {"placement.placements", 0, R_CONTROL, 0},
    {"match.rulesets", 0, R_CONTROL, 0},
    {"match.configs", 0, R_CONTROL, 0},
    {"match.tickets", 0, R_CONTROL, 0},
    {"match.autobackfill_off", 0, R_CONTROL, 0},
    /* the registry and its event stream (src/registry, src/events) */
    {"registry.servers", 0, R_CONTROL, 0},
    {"registry.meta", 0, R_CONTROL, 0},
    /* read-mostly state every node will need (docs/cluster.md "Next", step 5) */
    {"keys", 0, R_CONTROL, 0},
    {"auth.signing_keys", 0, R_CONTROL, 0},
    {"players.meta", 0, R_CONTROL, 0},
    {"wallet.catalog", 0, R_CONTROL, 0},
    {"scripts", 0, R_CONTROL, 0},
    {"scripts.v", 1, R_CONTROL, 0},
    {"logs.meta", 0, R_CONTROL, 0},
    /* players (src/players, src/wallet) */
    {"players", 1, R_PLAYER, 0},
    {"friends", 1, R_PLAYER, 0},
    {"wallet", 1, R_PLAYER, 1},        /* loaded at start */
    {"wallet.ledger", 1, R_PLAYER, 1}, /* paged */
    {"wallet.pp", 1, R_PLAYER, 1},     /* paged */
    {"wallet.pk", 1, R_PLAYER, 2},     /* looked up by key (a purchase's idempotency key) */
    {"wallet.purchase", 0, R_WITH, 2}, /* purchase id → the purchase, with its wallet */
    {"wallet.rcpt", 0, R_WITH, 2},     /* receipt id → the credit, with its wallet */
    /* FleetIQ (src/fleetiq) */
    {"fleetiq.groups", 0, R_FQ_KEY, 0},
    {"fleetiq.servers", 0, R_FQ_GROUP, 0},
    /* leaderboards (src/rank) */
    {"lb.boards", 0, R_LB_KEY, 0},
    {"lb.e", 1, R_LB_COLL, 0},
    {"lb.i", 1, R_LB_COLL, 0},
    /* rooms (src/rooms) */
    {"rooms", 0, R_RM_KEY, 0},
    /* the event log (src/logs): its ops name the table */
    {"events", 0, R_NONE, 0},
};

/* Whether rule r names coll: its name is coll's first len bytes (up to the '/' of a family's
 * "<name>/<nn>"), and it is a family exactly when coll has that '/'. */
static int rule_names(const struct coll_rule *r, const char *coll, size_t len, int family)
{
    return r->family == family && strncmp(r->name, coll, len) == 0 && r->name[len] == '\0';
}

static const struct coll_rule *rule_of(const char *coll, const char **rest)
{
    const char *slash = strchr(coll, '/');
    size_t len = slash ? (size_t)(slash - coll) : strlen(coll);
    *rest = slash ? slash + 1 : NULL;
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++)
        if (rule_names(&colls[i], coll, len, slash != NULL))
            return &colls[i];
    return NULL;
}

static unsigned char history_first[256];          /* 1: a history collection's name starts so */
static const struct coll_rule *history_rules[16]; /* the history ones, to search alone */
static size_t nhistory;
static pthread_once_t history_once = PTHREAD_ONCE_INIT;

static void history_init(void)
{
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++)
        if (colls[i].history) {
            history_first[(unsigned char)colls[i].name[0]] = 1;
            HG_BUG_ON(nhistory == sizeof(history_rules) / sizeof(history_rules[0]));
            history_rules[nhistory++] = &colls[i];
        }
}

int hg_store_history_kind(const char *coll)
{
    /* asked for every op of every commit (several threads): most collections are told apart
     * by their first byte, the rest against the history rules only (the whole table's walk
     * was ~5% of the writer in a purchase run) */
    pthread_once(&history_once, history_init);
    if (!history_first[(unsigned char)coll[0]])
        return 0;
    const char *slash = strchr(coll, '/');
    size_t len = slash ? (size_t)(slash - coll) : strlen(coll);
    for (size_t i = 0; i < nhistory; i++)
        if (rule_names(history_rules[i], coll, len, slash != NULL))
            return history_rules[i]->history;
    return 0;
}

int hg_store_is_history(const char *coll)
{
    return hg_store_history_kind(coll) != 0;
}

size_t hg_store_history_families(const char **names, int *family, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++)
        if (colls[i].history) {
            if (n < cap) {
                names[n] = colls[i].name;
                family[n] = colls[i].family;
            }
            n++;
        }
    return n;
}

static int hashed(int first, const char *name, size_t len)
{
    return first + (int)(hg_hash_bytes(name, len) % HG_PARTITION_HASHED);
}

int hg_partition_of(const char *coll, const char *key)
{
    const char *rest;
    const struct coll_rule *r = rule_of(coll, &rest);
    if (r == NULL)
        return HG_PARTITION_UNKNOWN;
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
