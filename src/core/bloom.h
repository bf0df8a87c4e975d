/* hangar — a Bloom filter that grows (a "scalable" one: Almeida, Baquero, Preguiça and Hutchison,
 * 2007): "certainly never added" or "maybe added", for a set that only grows and whose final
 * size nobody knows.
 *
 * Stages: the first holds first_cap entries at a false-positive rate of about 1/128 (7 hashes,
 * 10 bits an entry); each next stage holds twice as many with one hash more, so its rate halves
 * and the sum stays under 1/64 however many stages there are. An entry goes into the newest
 * stage; a lookup asks every stage. 1.3 to 3 bytes an entry, more as stages are added.
 *
 * Bounded: a stage that would take the filter past max_bytes is not made; the filter is then
 * full, stops adding, and answers "maybe" to everything (hg_bloom_maybe: 1), so a caller that
 * goes to the source of truth on "maybe" stays right, only slower.
 *
 * Entries are 64-bit hashes the caller computes (hg_hash_bytes of the key): the filter mixes
 * them per stage itself. Threading: none; one owner.
 */
#ifndef HG_CORE_BLOOM_H
#define HG_CORE_BLOOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct hg_bloom_stage {
    uint64_t *bits;
    uint64_t nbits; /* a multiple of 64 */
    unsigned k;     /* hashes */
    size_t n, cap;  /* entries added, and how many it takes */
} hg_bloom_stage_t;

typedef struct hg_bloom {
    hg_bloom_stage_t *stages;
    size_t nstages;
    size_t first_cap, bytes, max_bytes;
    int full; /* a stage was refused: every lookup answers maybe */
} hg_bloom_t;

void hg_bloom_init(hg_bloom_t *b, size_t first_cap, size_t max_bytes);
void hg_bloom_free(hg_bloom_t *b);
void hg_bloom_add(hg_bloom_t *b, uint64_t hash);
/* 0: hash was certainly never added; 1: it may have been (or the filter is full). */
int hg_bloom_maybe(const hg_bloom_t *b, uint64_t hash);

#endif
