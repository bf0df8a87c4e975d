/* hangar — a growable array of pointers: start-up loads collect records with it, then sort them
 * before linking them in. Loop thread (or any one thread). */
#ifndef HG_CORE_VEC_H
#define HG_CORE_VEC_H

#include <stddef.h>

#include "core/alloc.h"

typedef struct hg_vec {
    void **all;
    size_t n, cap;
} hg_vec_t;

static inline void hg_vec_push(hg_vec_t *v, void *p)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->all = hg_realloc(v->all, v->cap * sizeof(*v->all));
    }
    v->all[v->n++] = p;
}

/* Frees the array (not what it points at); v is empty and reusable after. */
static inline void hg_vec_free(hg_vec_t *v)
{
    hg_free(v->all);
    v->all = NULL;
    v->n = v->cap = 0;
}

#endif
