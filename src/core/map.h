/* hangar — string-keyed hash map (open addressing, linear probing, power-of-two table).
 *
 * Maps a NUL-terminated key to a void *. The map copies keys it stores (owns the copies) and
 * borrows values: freeing a value is the caller's business. Not thread-safe: loop thread only.
 * Iteration order is unspecified and changes when the table grows.
 */
#ifndef HG_CORE_MAP_H
#define HG_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hg_map_slot {
    char *key; /* NULL: empty; HG_MAP_TOMB: deleted */
    uint64_t hash;
    void *value;
} hg_map_slot_t;

typedef struct hg_map {
    hg_map_slot_t *slots;
    size_t cap;   /* power of two, 0 before first insert */
    size_t count; /* live entries */
    size_t used;  /* live + tombstones */
} hg_map_t;

void hg_map_init(hg_map_t *m);
/* Releases the table and the key copies; values are untouched. */
void hg_map_free(hg_map_t *m);
void *hg_map_get(const hg_map_t *m, const char *key);
void *hg_map_getn(const hg_map_t *m, const char *key, size_t len);
/* Insert or replace; returns the previous value or NULL. */
void *hg_map_set(hg_map_t *m, const char *key, void *value);
/* Remove; returns the removed value or NULL. */
void *hg_map_del(hg_map_t *m, const char *key);
size_t hg_map_count(const hg_map_t *m);
/* Iterate: `for (size_t it = 0; hg_map_next(m, &it, &k, &v);)`. Do not insert while iterating;
 * hg_map_del of the current key is allowed. */
int hg_map_next(const hg_map_t *m, size_t *it, const char **key, void **value);

uint64_t hg_hash_bytes(const void *p, size_t n);

#endif
