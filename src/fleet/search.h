/* hangar — SearchGameSessions expressions: FilterExpression and SortExpression (wire §4.4).
 *
 * Pure logic: compile an expression once per request, then test or order the candidate
 * sessions through hg_gs_view_t, a borrowed view the caller fills from its own records. No I/O,
 * no clock, no globals; any thread may call these functions.
 *
 * Grammar (keywords AND OR NOT ASC DESC and the literals true false are case-insensitive;
 * operand names are case-sensitive; whitespace between tokens is optional):
 *
 *     filter     := orExpr
 *     orExpr     := andExpr ( "OR" andExpr )*
 *     andExpr    := notExpr ( "AND" notExpr )*
 *     notExpr    := "NOT" notExpr | "(" orExpr ")" | cond
 *     cond       := operand comparator value
 *     comparator := "=" | "<>" | "<" | ">" | "<=" | ">="
 *     value      := number | "true" | "false" | string
 *     sort       := operand [ "ASC" | "DESC" ]
 *
 *     | operand                     | type   | comparators | hg_gs_view_t field               |
 *     |-----------------------------|--------|-------------|----------------------------------|
 *     | gameSessionId               | string | = <>        | id (the full ARN)                |
 *     | gameSessionName             | string | = <>        | name (NULL: missing)             |
 *     | gameSessionProperties.<key> | string | = <>        | prop_vals[i], prop_keys[i] = key |
 *     | maximumSessions             | number | all six     | max_players                      |
 *     | creationTimeMillis          | number | all six     | created_ms                       |
 *     | playerSessionCount          | number | all six     | players                          |
 *     | hasAvailablePlayerSessions  | bool   | = <>        | available (non-zero: true)       |
 *
 * Lexical rules:
 *   - number: an optional '-' then decimal digits, within int64_t; nothing else ("1.5", "+1",
 *     "0x10" are refused).
 *   - string: single- or double-quoted; a backslash makes the next byte literal (\' \" \\;
 *     there are no other escapes, so '\n' is the letter n). Comparison is byte-wise and
 *     case-sensitive.
 *   - property key: 1 to HG_GS_KEY_MAX bytes after "gameSessionProperties.", any bytes except
 *     whitespace, control bytes and ( ) = < > ! ' " \ (UTF-8 is fine; '.' is part of the key).
 *   - A value of the wrong type for its operand (a string for maximumSessions, a number for
 *     gameSessionName, ...) and a comparator the type does not allow are parse errors.
 *
 * Choices (where the AWS documentation is silent; tested in tests/unit/test_search.c):
 *   - Property values always compare as strings. An unquoted number or true/false on a
 *     property is accepted and compares as the text written: `gameSessionProperties.level = 5`
 *     is `gameSessionProperties.level = '5'` (and `= 05` is `= '05'`, which does not match "5").
 *     Properties therefore allow only = and <>.
 *   - A condition on something the session lacks (a property it does not have, a NULL name or
 *     id) is false whatever the comparator, `<>` included: `gameSessionProperties.mode <> 'x'`
 *     selects only sessions that have a mode, and it is not "x". NOT is plain negation, so
 *     `NOT gameSessionProperties.mode = 'x'` does select the sessions without a mode.
 *   - When a key appears more than once in prop_keys, the first entry counts.
 *   - A sort expression without a direction sorts ascending. Strings sort byte-wise (strcmp),
 *     booleans false before true.
 *   - Error positions are 1-based byte offsets into the expression.
 *
 * Limits (each refusal is HG_EINVAL with a message naming the limit):
 *   - HG_GS_EXPR_MAX bytes per expression: the model's 1..1024 cap, counted in bytes, so an
 *     expression of at most 1024 characters but more than 1024 bytes of UTF-8 is refused.
 *   - HG_GS_MAX_DEPTH levels of nesting: every '(' not yet closed and every NOT whose operand
 *     is not yet complete counts one level (`NOT NOT (a = 1)` is 3 deep).
 *   - HG_GS_MAX_CONDS conditions: a backstop that sizes the evaluation stack; the shortest
 *     condition plus its OR takes 19 bytes, so 1024 bytes hold at most 54.
 *   Parsing uses no recursion, reads the expression once and never past its end (nor past a
 *   NUL); a compiled filter is one allocation bounded by the expression length (a few KiB at
 *   most). Matching and comparing allocate nothing.
 */
#ifndef HG_FLEET_SEARCH_H
#define HG_FLEET_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HG_GS_EXPR_MAX 1024 /* bytes in a FilterExpression or SortExpression */
#define HG_GS_MAX_DEPTH 32  /* nested '(' and NOT */
#define HG_GS_MAX_CONDS 64  /* conditions in one filter */
#define HG_GS_KEY_MAX 32    /* bytes in a gameSessionProperties key (GameProperty.Key cap) */

/* A game session as the search sees it (borrowed pointers, valid during the call). */
typedef struct hg_gs_view {
    const char *id;               /* gameSessionId operand: the full ARN */
    const char *name;             /* gameSessionName; NULL when the session has none */
    const char *const *prop_keys; /* gameSessionProperties.<key> */
    const char *const *prop_vals;
    size_t nprops;
    int64_t max_players; /* maximumSessions */
    int64_t players;     /* playerSessionCount */
    int64_t created_ms;  /* creationTimeMillis */
    int available;       /* hasAvailablePlayerSessions (the caller computes it) */
} hg_gs_view_t;

typedef enum hg_gs_operand {
    HG_GS_OPERAND_ID = 1,      /* gameSessionId */
    HG_GS_OPERAND_NAME,        /* gameSessionName */
    HG_GS_OPERAND_PROPERTY,    /* gameSessionProperties.<key> */
    HG_GS_OPERAND_MAX_PLAYERS, /* maximumSessions */
    HG_GS_OPERAND_CREATED,     /* creationTimeMillis */
    HG_GS_OPERAND_PLAYERS,     /* playerSessionCount */
    HG_GS_OPERAND_AVAILABLE,   /* hasAvailablePlayerSessions */
} hg_gs_operand_t;

/* ---- FilterExpression ---- */

typedef struct hg_gs_filter hg_gs_filter_t;

/**
 * Compile a FilterExpression.
 * @param expr NUL-terminated expression (borrowed for the call only).
 * @param out  on success, a new filter — release with hg_gs_filter_free(); untouched on error.
 * @param err  on error, code HG_EINVAL, field "FilterExpression" and a message such as
 *             "FilterExpression: unexpected 'ORR' at position 12 (expected AND, OR, ')' or end
 *             of expression)" — what the API answers as InvalidRequestException. May be NULL.
 * @return HG_OK or HG_EINVAL.
 */
int hg_gs_filter_parse(const char *expr, hg_gs_filter_t **out, hg_error_t *err);
/**
 * As hg_gs_filter_parse() for an expression of len bytes that need not be NUL-terminated (a
 * JSON string may hold \u0000): an embedded NUL byte is refused as an unexpected byte.
 */
int hg_gs_filter_parse_n(const char *expr, size_t len, hg_gs_filter_t **out, hg_error_t *err);
/**
 * @return 1 when session v satisfies filter f, else 0. A NULL f (no FilterExpression) matches
 * every session. Borrows f and v for the call; allocates nothing.
 */
int hg_gs_filter_match(const hg_gs_filter_t *f, const hg_gs_view_t *v);
/* NULL-safe. f is invalid after this call. */
void hg_gs_filter_free(hg_gs_filter_t *f);

/* ---- SortExpression ---- */

/* A compiled SortExpression: no allocation, copy it freely. */
typedef struct hg_gs_sort {
    hg_gs_operand_t operand;
    int desc;                    /* 1: DESC, 0: ASC (also when no direction was given) */
    char key[HG_GS_KEY_MAX + 1]; /* the property key when operand is HG_GS_OPERAND_PROPERTY */
} hg_gs_sort_t;

/**
 * Compile a SortExpression into *out.
 * @param err on error, code HG_EINVAL, field "SortExpression" and a message
 *            ("SortExpression: unknown operand 'foo' at position 1"). May be NULL.
 * @return HG_OK or HG_EINVAL (*out is then unspecified).
 */
int hg_gs_sort_parse(const char *expr, hg_gs_sort_t *out, hg_error_t *err);
/* As hg_gs_sort_parse() for len bytes (see hg_gs_filter_parse_n()). */
int hg_gs_sort_parse_n(const char *expr, size_t len, hg_gs_sort_t *out, hg_error_t *err);
/**
 * Order two sessions: <0 when a comes first, >0 when b does, 0 when the operand ties (the
 * caller breaks ties, e.g. by id, for a stable page order). ASC or DESC as requested, except
 * that a session lacking the operand (no name, no such property) sorts after every session that
 * has it in both directions; two sessions both lacking it tie. Suitable for qsort-style sorts.
 */
int hg_gs_sort_cmp(const hg_gs_sort_t *s, const hg_gs_view_t *a, const hg_gs_view_t *b);

#endif
