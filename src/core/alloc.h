/* hangar — allocation wrappers.
 *
 * All memory goes through these. They count bytes in use (for /metrics) and abort with
 * file:line on a real out-of-memory, so ordinary code never tests for NULL. Sizes derived from
 * input must be checked against a documented limit before they reach these (rule 11).
 * Thread-safe: the counters are atomics, so worker lanes may allocate too.
 */
#ifndef HG_CORE_ALLOC_H
#define HG_CORE_ALLOC_H

#include <stddef.h>

#define hg_malloc(n) hg_malloc_at((n), __FILE__, __LINE__)
#define hg_calloc(c, n) hg_calloc_at((c), (n), __FILE__, __LINE__)
#define hg_realloc(p, n) hg_realloc_at((p), (n), __FILE__, __LINE__)
#define hg_strdup(s) hg_strdup_at((s), __FILE__, __LINE__)
#define hg_strndup(s, n) hg_strndup_at((s), (n), __FILE__, __LINE__)

void *hg_malloc_at(size_t n, const char *file, int line);
void *hg_calloc_at(size_t count, size_t n, const char *file, int line);
void *hg_realloc_at(void *p, size_t n, const char *file, int line);
char *hg_strdup_at(const char *s, const char *file, int line);
char *hg_strndup_at(const char *s, size_t n, const char *file, int line);
/* NULL-safe. */
void hg_free(void *p);
/* Bytes currently allocated through these wrappers. */
size_t hg_alloc_used(void);

#endif
