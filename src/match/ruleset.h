/* hangar — FlexMatch rule sets (wire §6.1; the language as hangard implements it, with every
 * choice made where AWS is vague, is docs/flexmatch.md).
 *
 * Pure logic: hg_rules_parse() turns a RuleSetBody (JSON text) into an immutable compiled rule
 * set, or refuses it with an InvalidRequestException-style message naming the location of the
 * fault the way GameLift does ("...; location: teams section: array index=1: maxPlayers").
 * The matcher (match/matcher.h) reads the compiled form. No I/O, no clock, no globals: any
 * thread may call these functions, and any number of threads may read one compiled rule set.
 *
 * Limits: the HG_RULES_* constants below (also listed in docs/flexmatch.md). Each is checked
 * before anything sized by it is allocated; a refusal is HG_EINVAL with a message naming the
 * limit and its location. The parser's recursion is bounded by HG_RULES_EXPR_DEPTH_MAX and
 * HG_RULES_STATEMENT_DEPTH_MAX, so no input can exhaust the C stack.
 */
#ifndef HG_MATCH_RULESET_H
#define HG_MATCH_RULESET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HG_RULES_BODY_MAX 65535        /* bytes in a RuleSetBody (the model's 1..65535) */
#define HG_RULES_NAME_MAX 128          /* bytes in a rule, team, attribute or rule set name */
#define HG_RULES_MAX_ATTRS 32          /* playerAttributes entries */
#define HG_RULES_MAX_TEAMS 32          /* teams after quantity replication */
#define HG_RULES_MAX_RULES 50          /* rules entries */
#define HG_RULES_MAX_EXPANSIONS 32     /* expansions entries */
#define HG_RULES_MAX_STEPS 16          /* steps in one expansion */
#define HG_RULES_MAX_MEASUREMENTS 8    /* measurements in one rule */
#define HG_RULES_EXPR_MAX 512          /* bytes in one property expression */
#define HG_RULES_EXPR_DEPTH_MAX 8      /* nested functions and lists in one expression */
#define HG_RULES_STATEMENT_MAX 1024    /* bytes in a compound statement */
#define HG_RULES_STATEMENT_DEPTH_MAX 8 /* nested and/or/not/xor in a compound statement */
#define HG_RULES_MAX_SORT_ATTRS 8      /* algorithm.sortByAttributes entries */
#define HG_RULES_MAX_LIST 100          /* strings in a string_list default or a literal list */
#define HG_RULES_MAX_MAP 10            /* entries in a string_number_map default */
#define HG_RULES_SMALL_MAX_PLAYERS 40  /* Σ maxPlayers of a small match */
#define HG_RULES_LARGE_MAX_PLAYERS 200 /* Σ maxPlayers of a large match */
#define HG_RULES_MAX_WAIT_S 43200      /* an expansion step's waitTimeSeconds */

typedef struct hg_rules hg_rules_t;

typedef enum hg_rules_attr_type {
    HG_RULES_ATTR_STRING = 1,
    HG_RULES_ATTR_NUMBER,
    HG_RULES_ATTR_STRING_LIST,
    HG_RULES_ATTR_STRING_NUMBER_MAP,
} hg_rules_attr_type_t;

typedef enum hg_rules_backfill_priority {
    HG_RULES_BACKFILL_NORMAL = 0,
    HG_RULES_BACKFILL_LOW,
    HG_RULES_BACKFILL_HIGH,
} hg_rules_backfill_priority_t;

/**
 * Compile a RuleSetBody.
 * @param body len bytes of JSON (borrowed for the call only; need not be NUL-terminated).
 * @param out  on success, a new rule set — release with hg_rules_free(); untouched on error.
 * @param err  on error: code HG_EINVAL, field "RuleSetBody" and a message such as
 *             "maxPlayers must be an integer from 1 to 200; location: teams section: array
 *             index=1: maxPlayers". May be NULL.
 * @return HG_OK or HG_EINVAL.
 */
int hg_rules_parse(const char *body, size_t len, hg_rules_t **out, hg_error_t *err);
/* NULL-safe. rs is invalid after this call. */
void hg_rules_free(hg_rules_t *rs);

/* ---- read-only views (what the API layer needs for MatchmakerData and validation) ---- */

/* The rule set's "name" member, or "" when it has none. */
const char *hg_rules_name(const hg_rules_t *rs);
/* 1 when Σ maxPlayers > HG_RULES_SMALL_MAX_PLAYERS (a large match), else 0. */
int hg_rules_is_large(const hg_rules_t *rs);
/* Σ maxPlayers over every team before expansions. */
int hg_rules_max_players(const hg_rules_t *rs);
/* Teams after quantity replication, in definition order ("aliens_1", "aliens_2", ...). */
size_t hg_rules_team_count(const hg_rules_t *rs);
const char *hg_rules_team_name(const hg_rules_t *rs, size_t i);
/* Team i's minPlayers / maxPlayers for a match whose expansion age is age_ms. */
int hg_rules_team_min(const hg_rules_t *rs, size_t i, int64_t age_ms);
int hg_rules_team_max(const hg_rules_t *rs, size_t i, int64_t age_ms);
/* The index of the team named name, or -1. */
int hg_rules_team_index(const hg_rules_t *rs, const char *name);
/* Declared playerAttributes, in order. */
size_t hg_rules_attr_count(const hg_rules_t *rs);
const char *hg_rules_attr_name(const hg_rules_t *rs, size_t i);
hg_rules_attr_type_t hg_rules_attr_type(const hg_rules_t *rs, size_t i);
/* The index of the attribute named name, or -1. */
int hg_rules_attr_index(const hg_rules_t *rs, const char *name);
size_t hg_rules_rule_count(const hg_rules_t *rs);
const char *hg_rules_rule_name(const hg_rules_t *rs, size_t i);
hg_rules_backfill_priority_t hg_rules_backfill_priority(const hg_rules_t *rs);

#endif
