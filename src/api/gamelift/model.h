/* hangar — the GameLift operation table and input shapes, generated from botocore's model.
 *
 * scripts/gen-gamelift.py turns Debian's botocore gamelift/2015-10-01/service-2.json into
 * build/gen/gamelift_model.gen.c, which defines the const tables declared at the bottom of this
 * header. The descriptors are visible (read-only data) so that the validator, the docs generator
 * and the limits documentation can walk the same tables (STYLE.md rule 8); code outside this
 * folder should prefer the hg_gl_op_* functions. Everything here is immutable after load, so any
 * thread may read it.
 */
#ifndef HG_API_GAMELIFT_MODEL_H
#define HG_API_GAMELIFT_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* Deepest member path (members, list elements, map entries) the validator records for error
 * messages. scripts/gen-gamelift.py refuses a model deeper than this (keep its PATH_MAX equal). */
#define HG_GL_PATH_MAX 16

enum hg_gl_type {
    HG_GL_STRUCTURE = 1,
    HG_GL_LIST,
    HG_GL_MAP,
    HG_GL_STRING,
    HG_GL_INTEGER, /* 32-bit */
    HG_GL_LONG,    /* 64-bit */
    HG_GL_FLOAT,
    HG_GL_DOUBLE,
    HG_GL_BOOLEAN,
    HG_GL_TIMESTAMP, /* JSON number, epoch seconds (fraction allowed) */
    HG_GL_BLOB,      /* base64 JSON string */
};

/* hg_gl_shape_t.flags */
#define HG_GL_HAS_MIN 0x01
#define HG_GL_HAS_MAX 0x02
#define HG_GL_SENSITIVE 0x04

typedef struct hg_gl_shape hg_gl_shape_t;

/* One member of a structure shape. */
typedef struct hg_gl_member {
    const char *name;      /* wire name, "GameServerId" */
    const char *path_name; /* Coral path spelling, "gameServerId" */
    const hg_gl_shape_t *shape;
    int required;
} hg_gl_member_t;

/* A model shape. min/max mean: string length in code points, blob length in bytes, list/map
 * entry count, integer/long/float/double value; each applies only when its flag is set. */
struct hg_gl_shape {
    const char *name;
    int type;    /* enum hg_gl_type */
    int flags;   /* HG_GL_HAS_MIN | HG_GL_HAS_MAX | HG_GL_SENSITIVE */
    int pattern; /* index into hg_gl_patterns, or -1 */
    int64_t min, max;
    const hg_gl_member_t *members; /* structure: members in model order */
    size_t nmembers;
    const hg_gl_shape_t *elem;       /* list: member shape; map: value shape */
    const hg_gl_shape_t *key;        /* map: key shape */
    const char *const *enums;        /* string: enum values in model order (for messages) */
    const char *const *enums_sorted; /* the same, sorted by strcmp (for bsearch) */
    size_t nenums;
};

/* A model pattern: `model` as botocore spells it (Java syntax, shown in error messages) and
 * `pcre` translated to PCRE2 syntax (\uXXXX -> \x{XXXX}, surrogate pairs -> code points). Both are
 * applied as whole-string matches. */
typedef struct hg_gl_pattern {
    const char *model;
    const char *pcre;
} hg_gl_pattern_t;

/* One GameLift operation. */
typedef struct hg_gl_op {
    const char *name;           /* "ClaimGameServer" */
    const hg_gl_shape_t *input; /* input structure */
    const char *output;         /* output shape name, or NULL */
    const char *const *errors;  /* modeled error shape names, model order */
    size_t nerrors;
    int paginated; /* listed in paginators-1.json */
} hg_gl_op_t;

/* The generated tables (gamelift_model.gen.c). hg_gl_ops is sorted by name (strcmp order),
 * hg_gl_shapes by shape name. */
extern const hg_gl_op_t hg_gl_ops[];
extern const size_t hg_gl_ops_count;
extern const hg_gl_shape_t hg_gl_shapes[];
extern const size_t hg_gl_shape_count;
extern const hg_gl_pattern_t hg_gl_patterns[];
extern const size_t hg_gl_pattern_count;

/**
 * Find an operation by its name (the part of X-Amz-Target after "GameLift.").
 * @param name  bytes of the name, not necessarily NUL-terminated; borrowed for the call.
 * @param len   length of name in bytes.
 * @return the operation (static data, never freed), or NULL if the model has no such operation.
 * Any thread.
 */
const hg_gl_op_t *hg_gl_op_find(const char *name, size_t len);

/** @return op's name ("ClaimGameServer"); static storage. */
const char *hg_gl_op_name(const hg_gl_op_t *op);

/** @return the number of operations in the model (104 for Debian's botocore). */
size_t hg_gl_op_count(void);

/**
 * Iterate operations in name order: for (i = 0; i < hg_gl_op_count(); i++) hg_gl_op_at(i).
 * @return the i-th operation, or NULL when i >= hg_gl_op_count().
 */
const hg_gl_op_t *hg_gl_op_at(size_t i);

/** @return 1 if botocore lists a paginator for op (NextToken/Limit style), else 0. */
int hg_gl_op_is_paginated(const hg_gl_op_t *op);

/** @return op's input structure shape; static storage. */
const hg_gl_shape_t *hg_gl_op_input(const hg_gl_op_t *op);

/** @return op's output shape name, or NULL when the model has none; static storage. */
const char *hg_gl_op_output(const hg_gl_op_t *op);

/**
 * The modeled error shape names of op ("InvalidRequestException", ...), in model order.
 * @param n  set to the number of names.
 * @return a static array of *n names (NULL when *n is 0).
 */
const char *const *hg_gl_op_errors(const hg_gl_op_t *op, size_t *n);

/** @return 1 if op models error `type` (e.g. "OutOfCapacityException"), else 0. */
int hg_gl_op_has_error(const hg_gl_op_t *op, const char *type);

#endif
