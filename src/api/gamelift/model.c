/* hangar — lookup and accessors over the generated GameLift operation table.
 *
 * The table itself lives in build/gen/gamelift_model.gen.c (scripts/gen-gamelift.py); this file
 * only searches it. hg_gl_ops is sorted by name in strcmp order, so lookup is a binary search of
 * about seven comparisons for the 104 operations. All data is const: any thread may call these.
 */
#include "api/gamelift/model.h"

#include <string.h>

/* strcmp-order comparison of the counted key (name, len) with a NUL-terminated table name. */
static int cmp_name(const char *name, size_t len, const char *entry)
{
    size_t elen = strlen(entry);
    int c = memcmp(name, entry, len < elen ? len : elen);
    if (c != 0)
        return c;
    return len < elen ? -1 : len > elen ? 1 : 0;
}

const hg_gl_op_t *hg_gl_op_find(const char *name, size_t len)
{
    if (name == NULL)
        return NULL;
    size_t lo = 0, hi = hg_gl_ops_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_name(name, len, hg_gl_ops[mid].name);
        if (c == 0)
            return &hg_gl_ops[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *hg_gl_op_name(const hg_gl_op_t *op)
{
    return op->name;
}

size_t hg_gl_op_count(void)
{
    return hg_gl_ops_count;
}

const hg_gl_op_t *hg_gl_op_at(size_t i)
{
    return i < hg_gl_ops_count ? &hg_gl_ops[i] : NULL;
}

int hg_gl_op_is_paginated(const hg_gl_op_t *op)
{
    return op->paginated;
}

const hg_gl_shape_t *hg_gl_op_input(const hg_gl_op_t *op)
{
    return op->input;
}

const char *hg_gl_op_output(const hg_gl_op_t *op)
{
    return op->output;
}

const char *const *hg_gl_op_errors(const hg_gl_op_t *op, size_t *n)
{
    *n = op->nerrors;
    return op->errors;
}

int hg_gl_op_has_error(const hg_gl_op_t *op, const char *type)
{
    for (size_t i = 0; i < op->nerrors; i++)
        if (strcmp(op->errors[i], type) == 0)
            return 1;
    return 0;
}
