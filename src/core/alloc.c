/* hangar — allocation wrappers with accounting (see alloc.h). */
#include "core/alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_size_t used;

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "hangard: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *hg_malloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n, file, line);
    atomic_fetch_add(&used, malloc_usable_size(p));
    return p;
}

void *hg_calloc_at(size_t count, size_t n, const char *file, int line)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n, file, line);
    atomic_fetch_add(&used, malloc_usable_size(p));
    return p;
}

void *hg_realloc_at(void *p, size_t n, const char *file, int line)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n, file, line);
    atomic_fetch_sub(&used, old);
    atomic_fetch_add(&used, malloc_usable_size(q));
    return q;
}

char *hg_strdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s);
    char *p = hg_malloc_at(n + 1, file, line);
    memcpy(p, s, n + 1);
    return p;
}

char *hg_strndup_at(const char *s, size_t n, const char *file, int line)
{
    char *p = hg_malloc_at(n + 1, file, line);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void hg_free(void *p)
{
    if (p == NULL)
        return;
    atomic_fetch_sub(&used, malloc_usable_size(p));
    free(p);
}

size_t hg_alloc_used(void)
{
    return atomic_load(&used);
}
