/* hangar — a Bloom filter that grows (see bloom.h). */
#include "core/bloom.h"

#include <string.h>

#include "core/alloc.h"

/* splitmix64's finaliser: spreads the caller's hash (FNV-1a, weak in its low bits) per stage */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Double hashing (Kirsch and Mitzenmacher): position i of hash in stage no is a + i·b, from one
 * mix seeded by the stage. */
static void pair(uint64_t hash, size_t no, uint64_t *a, uint64_t *b)
{
    uint64_t h = mix(hash ^ (0x9e3779b97f4a7c15ULL * (no + 1)));
    *a = h;
    *b = (h >> 32 | h << 32) | 1;
}

/* h onto 0..n-1 without a division (Lemire's multiply-shift) */
static uint64_t range(uint64_t h, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)h * n) >> 64);
}

void hg_bloom_init(hg_bloom_t *b, size_t first_cap, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->first_cap = first_cap ? first_cap : 1024;
    b->max_bytes = max_bytes;
}

void hg_bloom_free(hg_bloom_t *b)
{
    for (size_t i = 0; i < b->nstages; i++)
        hg_free(b->stages[i].bits);
    hg_free(b->stages);
    memset(b, 0, sizeof(*b));
}

/* Stage i: first_cap << i entries, 7 + i hashes, 1.5 bits per hash per entry (≥ 1/ln 2). */
static int add_stage(hg_bloom_t *b)
{
    size_t i = b->nstages;
    if (i >= 40)
        return -1;
    size_t cap = b->first_cap << i;
    unsigned k = 7 + (unsigned)i;
    uint64_t nbits = ((uint64_t)cap * k * 3 / 2 + 63) / 64 * 64;
    size_t bytes = (size_t)(nbits / 8);
    if (b->bytes + bytes > b->max_bytes)
        return -1;
    b->stages = hg_realloc(b->stages, (i + 1) * sizeof(*b->stages));
    b->stages[i] =
        (hg_bloom_stage_t){.bits = hg_calloc(1, bytes), .nbits = nbits, .k = k, .n = 0, .cap = cap};
    b->nstages++;
    b->bytes += bytes;
    return 0;
}

void hg_bloom_add(hg_bloom_t *b, uint64_t hash)
{
    if (b->full)
        return;
    if ((b->nstages == 0 || b->stages[b->nstages - 1].n >= b->stages[b->nstages - 1].cap) &&
        add_stage(b) < 0) {
        b->full = 1;
        return;
    }
    size_t no = b->nstages - 1;
    hg_bloom_stage_t *s = &b->stages[no];
    uint64_t x, y;
    pair(hash, no, &x, &y);
    for (unsigned i = 0; i < s->k; i++) {
        uint64_t pos = range(x + i * y, s->nbits);
        s->bits[pos >> 6] |= 1ULL << (pos & 63);
    }
    s->n++;
}

int hg_bloom_maybe(const hg_bloom_t *b, uint64_t hash)
{
    if (b->full)
        return 1;
    for (size_t no = 0; no < b->nstages; no++) {
        const hg_bloom_stage_t *s = &b->stages[no];
        uint64_t x, y;
        pair(hash, no, &x, &y);
        unsigned i = 0;
        for (; i < s->k; i++) {
            uint64_t pos = range(x + i * y, s->nbits);
            if (!(s->bits[pos >> 6] & (1ULL << (pos & 63))))
                break;
        }
        if (i == s->k)
            return 1;
    }
    return 0;
}
