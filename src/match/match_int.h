/* hangar — the compiled FlexMatch rule set, shared by the two files of the match module
 * (ruleset.c builds it, matcher.c reads it). Never included from outside src/match/.
 *
 * A compiled rule set is immutable after hg_rules_parse() returns, so any number of matcher
 * runs (on any thread) may read it at once.
 */
#ifndef HG_MATCH_MATCH_INT_H
#define HG_MATCH_MATCH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "match/ruleset.h"

/* ---- property expressions ---- */

typedef enum rx_kind {
    RX_NUM,      /* number literal */
    RX_STR,      /* string literal */
    RX_LIST,     /* literal list (a JSON array in referenceValue) */
    RX_TEAMS,    /* teams[a,b] / teams[*] */
    RX_PLAYERS,  /* <teams>.players */
    RX_ATTR,     /* <players>.attributes[x] */
    RX_PLAYERID, /* <players>.playerId */
    RX_FUNC,     /* fn(<expr>) */
} rx_kind_t;

typedef enum rx_fn {
    FN_MIN,
    FN_MAX,
    FN_AVG,
    FN_MEDIAN,
    FN_SUM,
    FN_COUNT,
    FN_STDDEV,
    FN_FLATTEN,
    FN_SET_INTERSECTION,
} rx_fn_t;

/* The base type of a value; a value's full type is (base, list depth). */
typedef enum rx_base { B_NUM, B_STR, B_MAP, B_TEAM, B_PLAYER } rx_base_t;

typedef struct rx {
    uint8_t kind;      /* rx_kind_t */
    uint8_t fn;        /* rx_fn_t, RX_FUNC */
    uint8_t base;      /* rx_base_t of the result */
    uint8_t depth;     /* list depth of the result: 0 scalar, 1 list, 2 list of lists ... */
    uint8_t has_fn;    /* the subtree applies an aggregation function */
    int attr;          /* RX_ATTR: index into the rule set's attributes */
    double num;        /* RX_NUM */
    char *str;         /* RX_STR */
    struct rx *kid;    /* RX_PLAYERS, RX_ATTR, RX_PLAYERID, RX_FUNC */
    struct rx **items; /* RX_LIST */
    size_t nitems;
    uint16_t *teams; /* RX_TEAMS: compiled team indices */
    size_t nteams;
} rx_t;

/* ---- rules ---- */

typedef enum rule_type {
    R_BATCH_DISTANCE,
    R_COMPARISON,
    R_DISTANCE,
    R_COLLECTION,
    R_LATENCY,
    R_DISTANCE_SORT,
    R_ABSOLUTE_SORT,
    R_COMPOUND,
} rule_type_t;

/* Numeric rule properties: the ones expansions may target. */
typedef enum rule_prop {
    P_MAX_DISTANCE,
    P_MIN_DISTANCE,
    P_MIN_COUNT,
    P_MAX_COUNT,
    P_MAX_LATENCY,
    P_REFERENCE, /* a numeric literal referenceValue / distanceReference */
    P_COUNT_,
} rule_prop_t;

typedef enum cmp_op { OP_LT, OP_LE, OP_EQ, OP_NE, OP_GT, OP_GE } cmp_op_t;
typedef enum party_agg { AGG_AVG, AGG_MIN, AGG_MAX, AGG_UNION, AGG_INTERSECTION } party_agg_t;
typedef enum coll_op { COLL_INTERSECTION, COLL_CONTAINS, COLL_REF_COUNT } coll_op_t;

typedef enum stmt_op { S_RULE, S_AND, S_OR, S_NOT, S_XOR } stmt_op_t;

typedef struct stmt {
    uint8_t op;
    int rule; /* S_RULE */
    struct stmt **kids;
    size_t nkids;
} stmt_t;

typedef struct rule {
    char *name;
    uint8_t type;        /* rule_type_t */
    uint8_t op;          /* cmp_op_t (comparison) */
    uint8_t agg;         /* party_agg_t */
    uint8_t coll_op;     /* coll_op_t */
    uint8_t desc;        /* sorts: descending */
    uint8_t map_max;     /* sorts: mapKey maxValue (else minValue) */
    uint8_t in_compound; /* referenced by a compound statement: evaluated only through it */
    uint8_t monotone;    /* failing on a partial match means failing on every larger one */
    uint8_t per_player;  /* measurements read players directly (no aggregation function) and
                            the reference is a literal: each player passes or fails alone */
    rx_t **meas;
    size_t nmeas;
    rx_t *ref; /* referenceValue / distanceReference, NULL when absent */
    double prop[P_COUNT_];
    uint8_t has[P_COUNT_];
    int16_t exp[P_COUNT_]; /* expansion index, -1 when none */
    int attr;              /* batchAttribute / sortAttribute: attribute index */
    stmt_t *stmt;          /* compound */
} rule_t;

/* ---- the rest of the rule set ---- */

typedef struct rattr {
    char *name;
    hg_rules_attr_type_t type;
    int has_default;
    double dnum;  /* number default */
    char *dstr;   /* string default */
    char **dlist; /* string_list default */
    size_t ndlist;
    char **dkeys; /* string_number_map default */
    double *dvals;
    size_t ndmap;
    uint8_t used; /* referenced by a rule, the algorithm or a sort */
} rattr_t;

typedef struct rteam {
    char *name; /* "red", or "aliens_1" for a replicated definition */
    int def;    /* index of its definition in the teams section */
    int min, max;
    int16_t exp_min, exp_max; /* expansion index, -1 when none */
} rteam_t;

typedef struct rdef {
    char *name; /* the definition's own name ("aliens") */
    size_t first, count;
} rdef_t;

typedef struct rexp {
    size_t nsteps;
    int64_t wait_ms[HG_RULES_MAX_STEPS];
    double value[HG_RULES_MAX_STEPS];
} rexp_t;

typedef enum algo_batching {
    BATCH_RANDOM,
    BATCH_SORTED,
    BATCH_LARGEST_POPULATION,
    BATCH_FASTEST_REGION,
} algo_batching_t;

struct hg_rules {
    char *name;
    int large;
    int balanced; /* strategy balanced */
    int balanced_attr;
    uint8_t batching;   /* algo_batching_t */
    uint8_t age_oldest; /* expansionAgeSelection oldest (default newest) */
    hg_rules_backfill_priority_t backfill_priority;
    int sort_attrs[HG_RULES_MAX_SORT_ATTRS];
    size_t nsort_attrs;
    rattr_t *attrs;
    size_t nattrs;
    rteam_t *teams;
    size_t nteams;
    rdef_t *defs;
    size_t ndefs;
    rule_t *rules;
    size_t nrules;
    rexp_t *exps;
    size_t nexps;
    int max_total; /* Σ maxPlayers before expansions */
};

/* The value of expansion e (or base when e < 0) for a match whose selected ticket is age_ms old. */
static inline double hg_rules_expand_(const struct hg_rules *rs, int e, double base, int64_t age_ms)
{
    if (e < 0)
        return base;
    const rexp_t *x = &rs->exps[e];
    double v = base;
    for (size_t i = 0; i < x->nsteps; i++)
        if (age_ms >= x->wait_ms[i])
            v = x->value[i];
    return v;
}

#endif
