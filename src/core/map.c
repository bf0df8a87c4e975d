/* hangar — string-keyed hash map (see map.h). FNV-1a hashing: keys here are ids we or our
 * authenticated clients choose, and the table grows at 70 % load, so probe runs stay short;
 * a keyed hash (SipHash) is the upgrade if unauthenticated input ever chooses keys. */
#include "core/map.h"

#include <string.h>

#include "core/alloc.h"

static char tomb_;
#define TOMB (&tomb_)

uint64_t hg_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void hg_map_init(hg_map_t *m)
{
    memset(m, 0, sizeof(*m));
}

void hg_map_free(hg_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            hg_free(m->slots[i].key);
    hg_free(m->slots);
    hg_map_init(m);
}

static hg_map_slot_t *find(const hg_map_t *m, const char *key, size_t len, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        hg_map_slot_t *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != TOMB && s->hash == h && strncmp(s->key, key, len) == 0 && s->key[len] == 0)
            return s;
    }
}

void *hg_map_getn(const hg_map_t *m, const char *key, size_t len)
{
    hg_map_slot_t *s = find(m, key, len, hg_hash_bytes(key, len));
    return s ? s->value : NULL;
}

void *hg_map_get(const hg_map_t *m, const char *key)
{
    return hg_map_getn(m, key, strlen(key));
}

static void grow(hg_map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->count * 10 < m->cap * 4)
        ncap = m->cap; /* mostly tombstones: rehash in place size */
    hg_map_slot_t *old = m->slots;
    size_t ocap = m->cap;
    m->slots = hg_calloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key == NULL || old[i].key == TOMB)
            continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    hg_free(old);
}

void *hg_map_set(hg_map_t *m, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t h = hg_hash_bytes(key, len);
    hg_map_slot_t *s = find(m, key, len, h);
    if (s) {
        void *prev = s->value;
        s->value = value;
        return prev;
    }
    if ((m->used + 1) * 10 >= m->cap * 7)
        grow(m);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].key == NULL)
        m->used++;
    m->slots[i].key = hg_strndup(key, len);
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->count++;
    return NULL;
}

void *hg_map_del(hg_map_t *m, const char *key)
{
    size_t len = strlen(key);
    hg_map_slot_t *s = find(m, key, len, hg_hash_bytes(key, len));
    if (s == NULL)
        return NULL;
    void *v = s->value;
    hg_free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->count--;
    return v;
}

size_t hg_map_count(const hg_map_t *m)
{
    return m->count;
}

int hg_map_next(const hg_map_t *m, size_t *it, const char **key, void **value)
{
    while (*it < m->cap) {
        hg_map_slot_t *s = &m->slots[(*it)++];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return 1;
        }
    }
    return 0;
}
