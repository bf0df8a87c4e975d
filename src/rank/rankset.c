/* hangar — a rank set: counted B+tree of entry handles, entry slab, open-addressing id index.
 *
 * What it is. The order-statistic structure of one leaderboard (interface and order in
 * rankset.h). Three parts, each sized for the memory budget (at most 64 bytes per entry for
 * the structure and its id index; Redis spends ~80-110 on a sorted set with short members):
 *
 *   - The slab: entries (hg_rankset_entry_t, 48 bytes, nothing else) in chunks of SLAB_CHUNK,
 *     found by a 32-bit handle (chunk << SLAB_SHIFT | slot). Entries never move, so a handle
 *     and an entry pointer stay valid for the entry's life. Removed entries go on a free list
 *     threaded through their `reached` field; the slab never shrinks.
 *   - The tree: a B+tree whose leaves hold handles only (4 bytes each, in rank order) and whose
 *     inner nodes hold, per child, its child pointer, the number of entries below it (`cnt`)
 *     and a copy of the separating sort key. Leaves are chained left to right for ranges.
 *   - The index: an open-addressing hash table of 32-bit slots, linear probing, any capacity
 *     (home slot by multiply-shift, so no power-of-two rounding), kept between 50% and 80% full.
 *     A slot is an 8-bit hash tag over a 24-bit handle + 1 (0: empty): a probe dereferences an
 *     entry only when the tag matches. The hash is seeded per set (from the set's address,
 *     which ASLR varies), so ids chosen to collide on one build do not collide on another.
 *     Deletion shifts the cluster back (no tombstones). The index grows incrementally: a table
 *     twice the count is allocated and the old table's slots move over INDEX_MIGRATE_STEP at a
 *     time at each upsert and remove; meanwhile lookups try the new table then the old, whose
 *     moved or removed slots are tombstones (never emptied: probes for ids not yet moved must
 *     run past them).
 *
 * Why a B+tree and not a skiplist with spans. A skiplist node carries the entry plus a backward
 * pointer and on average 1.33 levels of (forward pointer, span), and is one allocation per
 * entry with the allocator's header: ~48 + 8 + 16 + 8 = 80 bytes before the index, over the
 * budget (with 32-bit handles instead of pointers still ~63, and variable-size nodes that a
 * slab cannot hold). Here an entry costs its 48 bytes, one leaf handle (4 bytes at 70-100%
 * fill), one index slot (4 bytes at 50-80% load), and under 1 byte of inner nodes. Leaves of
 * handles rather than of whole entries keep entries still (a leaf split would otherwise move
 * entries and force index updates), keep splits and shifts cheap (4-byte moves), and let the
 * rank of a known entry be found without touching other entries. The price: the binary search
 * of an insert dereferences log2(B) entries (cache misses on a large set), about 1 us per
 * insert at 1,000,000 entries.
 *
 * Sort key. Rank order is the ascending order of rkey_t (k1, k2, reached, id as two big-endian
 * words): k1 and k2 are score and subscore mapped to unsigned order-preserving values (sign
 * bit flipped), all bits inverted on a DESC set, so one comparison serves both orders and
 * INT64_MIN/INT64_MAX need no special case.
 *
 * Invariants (hg_rankset_check() verifies all of them):
 *   - Every leaf is at depth `height`; inner node child i holds cnt[i] entries; sep[i] is
 *     greater than every key below child i and at most every key below child i+1 (a separator
 *     may be the key of an entry since removed: it stays a valid bound).
 *   - Keys strictly increase along the leaf chain (ids are unique, so keys are).
 *   - Non-root leaves hold at least leaf_min = cap/3 handles, non-root inner nodes at least
 *     inner_min = cap/4 children (and 2); an inner root has at least 2 children.
 *   - Every tree handle is in the index under its entry's id and vice versa; live + free
 *     slab slots = handles handed out.
 *
 * Operations (n entries, B leaf capacity):
 *   - Rank of a known entry: index lookup, then descend by the entry's key through inner nodes
 *     (binary search on inline separators, no entry dereference) summing cnt to the left, then
 *     scan the leaf for the handle (no dereference either). O(log n).
 *   - Insert: descend by key; binary search in the leaf (log2 B entry dereferences); insert;
 *     add 1 to cnt along the path. A full leaf first sheds half the free room of a sibling
 *     with at least 2 free slots (keeps leaves fuller than plain splitting), else splits;
 *     a full parent is made room for first, up to a new root. After restructuring the descent
 *     restarts (at most height + 2 times, and only about once every B/2 inserts).
 *   - Remove: descend, scan, remove, subtract 1 along the path; an underfull node merges
 *     with a sibling when both fit in 3/4 of a node, else takes half of their union; an inner
 *     root left with one child is dropped.
 *   - Update: remove then insert the same handle (a new score, subscore or reached); an
 *     unchanged key only replaces ud.
 *   - at_rank and ranges: descend by cnt, then walk the leaf chain: O(log n + k).
 *
 * Memory per entry, measured (test_rankset.c "million": hg_alloc_used() before and after
 * 1,000,000 random upserts, glibc, x86-64): 59.1 bytes = 48.0 entries (slab) + 4.8 leaves (87%
 * full) + 5.4 index (74% full) + 0.8 inner nodes. From 0.3 to 2 million entries it stays within
 * 58.5-61 as the index load moves between growths, except while a growth is being moved (old
 * capacity / INDEX_MIGRATE_STEP upserts and removes, ~13% of the inserts between two growths):
 * the old table then adds its ~5 bytes, ~66 in all (measured at 700,000, after the growth at
 * 678,740). Worst case: leaves at their 1/3 floor after adversarial removals (12.8 bytes) and
 * the index just grown (8 bytes): ~70 bytes, plus that transient.
 *
 * Pauses: no call walks the set except hg_rankset_check() and hg_rankset_free(). Growing to
 * 1,100,000 entries, no single upsert took more than ~1 ms (on a shared VM, noise included),
 * where rehashing in one go took 83 ms at the growth at 1,085,985 entries.
 *
 * Threading: none; one thread (the loop) per set.
 */
#include "rank/rankset.h"

#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

#define LEAF_CAP 128  /* handles per leaf */
#define INNER_CAP 64  /* children per inner node */
#define MAX_HEIGHT 32 /* inner levels; the 4/4 test shape needs at most 24 for HG_RANKSET_MAX */
#define SLAB_SHIFT 10
#define SLAB_CHUNK (1u << SLAB_SHIFT) /* entries per slab chunk (48 KiB) */
#define NO_HANDLE UINT32_MAX
#define SIGN 0x8000000000000000ull

/* Index slots: tag in the top 8 bits, handle + 1 in the low 24. */
#define SLOT_HANDLE_BITS 24
#define SLOT_HANDLE_MASK ((1u << SLOT_HANDLE_BITS) - 1)
#define SLOT_TAG_MASK (~SLOT_HANDLE_MASK)
#define SLOT_TOMB UINT32_MAX  /* a moved or removed slot of the table being migrated */
#define INDEX_MIGRATE_STEP 16 /* old index slots moved per upsert or remove while growing */

_Static_assert(sizeof(hg_rankset_entry_t) == 48, "entries are 48 bytes");
_Static_assert(HG_RANKSET_MAX + SLAB_CHUNK < SLOT_HANDLE_MASK, "handles fit an index slot");

/* The sort key: rank order is ascending rkey_t order. */
typedef struct rkey {
    uint64_t k1, k2, reached, hi, lo;
} rkey_t;

typedef struct leaf {
    struct leaf *next; /* the leaf to the right, NULL for the last */
    uint32_t n;
    uint32_t h[LEAF_CAP];
} leaf_t;

typedef struct inner {
    uint32_t n;              /* children */
    uint32_t cnt[INNER_CAP]; /* entries below each child */
    void *child[INNER_CAP];  /* leaf_t * at depth height - 1, else inner_t * */
    rkey_t sep[INNER_CAP - 1];
} inner_t;

/* The inner nodes from the root down to a leaf, and the child taken in each. */
typedef struct path {
    inner_t *node[MAX_HEIGHT];
    uint32_t idx[MAX_HEIGHT];
} path_t;

struct hg_rankset {
    uint64_t flip; /* XORed into k1 and k2: 0 for ASC, all ones for DESC */
    uint64_t seed; /* index hash seed */
    void *root;
    uint32_t height; /* inner levels; 0: the root is a leaf */
    uint32_t count, limit;
    uint32_t leaf_cap, leaf_min, leaf_merge;    /* merge two leaves when they fit in leaf_merge */
    uint32_t inner_cap, inner_min, inner_merge; /* the same for inner nodes */
    /* slab */
    hg_rankset_entry_t **chunks;
    uint32_t nchunks, chunks_cap;
    uint32_t top;       /* handles handed out (live or free) */
    uint32_t free_head; /* first free handle, NO_HANDLE when none */
    /* index */
    uint32_t *slots;
    uint32_t cap;
    uint32_t *old_slots; /* the table being migrated after a growth, else NULL */
    uint32_t old_cap;
    uint32_t moved; /* old slots below this one have been moved */
};

/* ---- keys ---- */

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline hg_rankset_entry_t *entry_of(const hg_rankset_t *s, uint32_t h)
{
    return &s->chunks[h >> SLAB_SHIFT][h & (SLAB_CHUNK - 1)];
}

static inline void key_make(const hg_rankset_t *s, const hg_rankset_entry_t *e, rkey_t *k)
{
    k->k1 = ((uint64_t)e->score ^ SIGN) ^ s->flip;
    k->k2 = ((uint64_t)e->subscore ^ SIGN) ^ s->flip;
    k->reached = e->reached;
    k->hi = load_be64(e->id);
    k->lo = load_be64(e->id + 8);
}

static inline int key_cmp(const rkey_t *a, const rkey_t *b)
{
    if (a->k1 != b->k1)
        return a->k1 < b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 < b->k2 ? -1 : 1;
    if (a->reached != b->reached)
        return a->reached < b->reached ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return 0;
}

static inline void key_of_handle(const hg_rankset_t *s, uint32_t h, rkey_t *k)
{
    key_make(s, entry_of(s, h), k);
}

/* ---- slab ---- */

static uint32_t slab_alloc(hg_rankset_t *s)
{
    if (s->free_head != NO_HANDLE) {
        uint32_t h = s->free_head;
        s->free_head = (uint32_t)entry_of(s, h)->reached;
        return h;
    }
    if ((s->top & (SLAB_CHUNK - 1)) == 0) {
        if (s->nchunks == s->chunks_cap) {
            s->chunks_cap = s->chunks_cap ? s->chunks_cap * 2 : 8;
            s->chunks = hg_realloc(s->chunks, s->chunks_cap * sizeof(*s->chunks));
        }
        s->chunks[s->nchunks++] = hg_malloc(SLAB_CHUNK * sizeof(hg_rankset_entry_t));
    }
    return s->top++;
}

static void slab_release(hg_rankset_t *s, uint32_t h)
{
    hg_rankset_entry_t *e = entry_of(s, h);
    memset(e, 0, sizeof(*e));
    e->reached = s->free_head;
    s->free_head = h;
}

/* ---- index ---- */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t id_hash(const hg_rankset_t *s, const uint8_t *id)
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return mix64(mix64(a ^ s->seed) ^ b);
}

static inline uint32_t home_of(uint64_t hash, uint32_t cap)
{
    return (uint32_t)(((hash & 0xffffffffu) * (uint64_t)cap) >> 32);
}

static inline uint32_t slot_make(uint64_t hash, uint32_t h)
{
    return ((uint32_t)(hash >> 56) << SLOT_HANDLE_BITS) | (h + 1);
}

static inline uint32_t slot_handle(uint32_t v)
{
    return (v & SLOT_HANDLE_MASK) - 1;
}

/* The slot of id in table t (cap slots), or NULL. Skips tombstones (only the old table has
 * them). */
static uint32_t *probe(const hg_rankset_t *s, uint32_t *t, uint32_t cap, const uint8_t *id,
                       uint64_t hash)
{
    uint32_t tag = slot_make(hash, 0) & SLOT_TAG_MASK;
    uint32_t j = home_of(hash, cap);
    for (;;) {
        uint32_t v = t[j];
        if (v == 0)
            return NULL;
        if (v != SLOT_TOMB && (v & SLOT_TAG_MASK) == tag &&
            memcmp(entry_of(s, slot_handle(v))->id, id, 16) == 0)
            return &t[j];
        if (++j == cap)
            j = 0;
    }
}

/* The index slot holding id (in the current table, else in the one being migrated), or NULL. */
static uint32_t *index_find(const hg_rankset_t *s, const uint8_t *id, uint64_t hash)
{
    uint32_t *slot = s->cap ? probe(s, s->slots, s->cap, id, hash) : NULL;
    if (slot == NULL && s->old_slots != NULL)
        slot = probe(s, s->old_slots, s->old_cap, id, hash);
    return slot;
}

static void index_put(uint32_t *slots, uint32_t cap, uint64_t hash, uint32_t h)
{
    uint32_t j = home_of(hash, cap);
    while (slots[j] != 0)
        if (++j == cap)
            j = 0;
    slots[j] = slot_make(hash, h);
}

/* Empty slot, found by index_find(). In the current table the rest of its cluster shifts back
 * over it (no tombstones there); in the table being migrated it becomes a tombstone, since a
 * shift could carry a slot behind the migration cursor. */
static void index_del(hg_rankset_t *s, uint32_t *slot)
{
    uintptr_t at = (uintptr_t)slot, base = (uintptr_t)s->slots;
    if (at < base || at >= base + (uintptr_t)s->cap * sizeof(*slot)) { /* the old table */
        *slot = SLOT_TOMB;
        return;
    }
    uint32_t cap = s->cap, hole = (uint32_t)(slot - s->slots), k = hole;
    for (;;) {
        if (++k == cap)
            k = 0;
        uint32_t v = s->slots[k];
        if (v == 0)
            break;
        uint32_t home = home_of(id_hash(s, entry_of(s, slot_handle(v))->id), cap);
        /* v may fill the hole unless its home lies cyclically in (hole, k] */
        if ((k - home + cap) % cap >= (k - hole + cap) % cap) {
            s->slots[hole] = v;
            hole = k;
        }
    }
    s->slots[hole] = 0;
}

/* Move up to budget slots of the old table into the current one. A moved slot becomes a
 * tombstone, not empty: probes for ids not yet moved must still run past it. */
static void index_migrate(hg_rankset_t *s, uint32_t budget)
{
    if (s->old_slots == NULL)
        return;
    for (; budget > 0 && s->moved < s->old_cap; budget--, s->moved++) {
        uint32_t v = s->old_slots[s->moved];
        if (v == 0 || v == SLOT_TOMB)
            continue;
        uint32_t h = slot_handle(v);
        index_put(s->slots, s->cap, id_hash(s, entry_of(s, h)->id), h);
        s->old_slots[s->moved] = SLOT_TOMB;
    }
    if (s->moved == s->old_cap) {
        hg_free(s->old_slots);
        s->old_slots = NULL;
        s->old_cap = s->moved = 0;
    }
}

/* Start growing the index to twice the entries it must hold. The slots move over during the
 * next operations (INDEX_MIGRATE_STEP each), so no single call rehashes a million entries: at
 * that step the move ends long before the new table is 80% full. */
static void index_grow(hg_rankset_t *s, uint32_t need)
{
    index_migrate(s, UINT32_MAX); /* not reached in practice: the last move is long over */
    uint64_t want = (uint64_t)need * 2;
    s->old_slots = s->slots;
    s->old_cap = s->cap;
    s->moved = 0;
    s->cap = want < 16 ? 16 : (uint32_t)want;
    s->slots = hg_calloc(s->cap, sizeof(*s->slots));
    if (s->old_slots == NULL)
        s->old_cap = 0;
    else if (s->old_cap <= INDEX_MIGRATE_STEP)
        index_migrate(s, UINT32_MAX);
}

/* ---- tree: nodes ---- */

static inline uint32_t node_n(const void *x, int is_leaf)
{
    return is_leaf ? ((const leaf_t *)x)->n : ((const inner_t *)x)->n;
}

/* Entries below x. */
static size_t node_total(const void *x, int is_leaf)
{
    if (is_leaf)
        return ((const leaf_t *)x)->n;
    const inner_t *in = x;
    size_t t = 0;
    for (uint32_t i = 0; i < in->n; i++)
        t += in->cnt[i];
    return t;
}

/* The child of in that k belongs under: the number of separators <= k. */
static inline uint32_t inner_pick(const inner_t *in, const rkey_t *k)
{
    uint32_t lo = 0, hi = in->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (key_cmp(&in->sep[mid], k) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Descend by key to the leaf k belongs in, recording the path; *before (if not NULL) is set to
 * the entries in the leaves left of it. */
static leaf_t *descend(const hg_rankset_t *s, const rkey_t *k, path_t *p, size_t *before)
{
    void *x = s->root;
    size_t b = 0;
    for (uint32_t d = 0; d < s->height; d++) {
        inner_t *in = x;
        uint32_t i = inner_pick(in, k);
        if (before != NULL)
            for (uint32_t j = 0; j < i; j++)
                b += in->cnt[j];
        p->node[d] = in;
        p->idx[d] = i;
        x = in->child[i];
    }
    if (before != NULL)
        *before = b;
    return x;
}

/* Position in l of the first entry whose key is above k (binary search, dereferencing). */
static uint32_t leaf_bound(const hg_rankset_t *s, const leaf_t *l, const rkey_t *k)
{
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        rkey_t m;
        key_of_handle(s, l->h[mid], &m);
        if (key_cmp(&m, k) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t leaf_find(const leaf_t *l, uint32_t h)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->h[i] == h)
            return i;
    return UINT32_MAX;
}

/* Insert child x (with cnt entries) at position j >= 1 of par, sep bounding it on the left. */
static void insert_child(inner_t *par, uint32_t j, void *x, uint32_t cnt, const rkey_t *sep)
{
    uint32_t n = par->n;
    memmove(&par->child[j + 1], &par->child[j], (n - j) * sizeof(par->child[0]));
    memmove(&par->cnt[j + 1], &par->cnt[j], (n - j) * sizeof(par->cnt[0]));
    memmove(&par->sep[j], &par->sep[j - 1], (n - j) * sizeof(par->sep[0]));
    par->child[j] = x;
    par->cnt[j] = cnt;
    par->sep[j - 1] = *sep;
    par->n = n + 1;
}

/* Drop child j >= 1 of par and the separator on its left. */
static void remove_child(inner_t *par, uint32_t j)
{
    uint32_t n = par->n;
    memmove(&par->child[j], &par->child[j + 1], (n - j - 1) * sizeof(par->child[0]));
    memmove(&par->cnt[j], &par->cnt[j + 1], (n - j - 1) * sizeof(par->cnt[0]));
    memmove(&par->sep[j - 1], &par->sep[j], (n - j - 1) * sizeof(par->sep[0]));
    par->n = n - 1;
}

/* Move the last m entries (leaves) or children (inner nodes) of child i of par to the front of
 * child i + 1, keeping par's separator and counts right. */
static void move_right(const hg_rankset_t *s, inner_t *par, uint32_t i, uint32_t m, int is_leaf)
{
    uint32_t moved = m;
    if (is_leaf) {
        leaf_t *x = par->child[i], *r = par->child[i + 1];
        memmove(&r->h[m], &r->h[0], r->n * sizeof(r->h[0]));
        memcpy(&r->h[0], &x->h[x->n - m], m * sizeof(r->h[0]));
        x->n -= m;
        r->n += m;
        key_of_handle(s, r->h[0], &par->sep[i]);
    } else {
        inner_t *x = par->child[i], *r = par->child[i + 1];
        uint32_t xn = x->n;
        memmove(&r->child[m], &r->child[0], r->n * sizeof(r->child[0]));
        memmove(&r->cnt[m], &r->cnt[0], r->n * sizeof(r->cnt[0]));
        memmove(&r->sep[m], &r->sep[0], (r->n - 1) * sizeof(r->sep[0]));
        memcpy(&r->child[0], &x->child[xn - m], m * sizeof(r->child[0]));
        memcpy(&r->cnt[0], &x->cnt[xn - m], m * sizeof(r->cnt[0]));
        memcpy(&r->sep[0], &x->sep[xn - m], (m - 1) * sizeof(r->sep[0]));
        r->sep[m - 1] = par->sep[i];
        par->sep[i] = x->sep[xn - m - 1];
        moved = 0;
        for (uint32_t j = 0; j < m; j++)
            moved += r->cnt[j];
        x->n -= m;
        r->n += m;
    }
    par->cnt[i] -= moved;
    par->cnt[i + 1] += moved;
}

/* Move the first m entries or children of child i + 1 of par to the end of child i. */
static void move_left(const hg_rankset_t *s, inner_t *par, uint32_t i, uint32_t m, int is_leaf)
{
    uint32_t moved = m;
    if (is_leaf) {
        leaf_t *x = par->child[i], *r = par->child[i + 1];
        memcpy(&x->h[x->n], &r->h[0], m * sizeof(r->h[0]));
        memmove(&r->h[0], &r->h[m], (r->n - m) * sizeof(r->h[0]));
        x->n += m;
        r->n -= m;
        key_of_handle(s, r->h[0], &par->sep[i]);
    } else {
        inner_t *x = par->child[i], *r = par->child[i + 1];
        uint32_t xn = x->n;
        memcpy(&x->child[xn], &r->child[0], m * sizeof(r->child[0]));
        memcpy(&x->cnt[xn], &r->cnt[0], m * sizeof(r->cnt[0]));
        x->sep[xn - 1] = par->sep[i];
        memcpy(&x->sep[xn], &r->sep[0], (m - 1) * sizeof(r->sep[0]));
        par->sep[i] = r->sep[m - 1];
        moved = 0;
        for (uint32_t j = 0; j < m; j++)
            moved += r->cnt[j];
        memmove(&r->child[0], &r->child[m], (r->n - m) * sizeof(r->child[0]));
        memmove(&r->cnt[0], &r->cnt[m], (r->n - m) * sizeof(r->cnt[0]));
        memmove(&r->sep[0], &r->sep[m], (r->n - m - 1) * sizeof(r->sep[0]));
        x->n += m;
        r->n -= m;
    }
    par->cnt[i] += moved;
    par->cnt[i + 1] -= moved;
}

/* Fold child i + 1 of par into child i. */
static void merge(inner_t *par, uint32_t i, int is_leaf)
{
    if (is_leaf) {
        leaf_t *x = par->child[i], *r = par->child[i + 1];
        memcpy(&x->h[x->n], &r->h[0], r->n * sizeof(r->h[0]));
        x->n += r->n;
        x->next = r->next;
        hg_free(r);
    } else {
        inner_t *x = par->child[i], *r = par->child[i + 1];
        uint32_t xn = x->n;
        memcpy(&x->child[xn], &r->child[0], r->n * sizeof(r->child[0]));
        memcpy(&x->cnt[xn], &r->cnt[0], r->n * sizeof(r->cnt[0]));
        x->sep[xn - 1] = par->sep[i];
        memcpy(&x->sep[xn], &r->sep[0], (r->n - 1) * sizeof(r->sep[0]));
        x->n += r->n;
        hg_free(r);
    }
    par->cnt[i] += par->cnt[i + 1];
    remove_child(par, i + 1);
}

/* Split child i of par (par has room for one more child) into two halves. */
static void split(const hg_rankset_t *s, inner_t *par, uint32_t i, int is_leaf)
{
    rkey_t sep;
    if (is_leaf) {
        leaf_t *x = par->child[i], *r = hg_malloc(sizeof(*r));
        uint32_t keep = x->n / 2;
        r->n = x->n - keep;
        memcpy(&r->h[0], &x->h[keep], r->n * sizeof(r->h[0]));
        x->n = keep;
        r->next = x->next;
        x->next = r;
        key_of_handle(s, r->h[0], &sep);
        par->cnt[i] = keep;
        insert_child(par, i + 1, r, r->n, &sep);
    } else {
        inner_t *x = par->child[i], *r = hg_malloc(sizeof(*r));
        uint32_t keep = x->n / 2, moved = 0;
        r->n = x->n - keep;
        memcpy(&r->child[0], &x->child[keep], r->n * sizeof(r->child[0]));
        memcpy(&r->cnt[0], &x->cnt[keep], r->n * sizeof(r->cnt[0]));
        memcpy(&r->sep[0], &x->sep[keep], (r->n - 1) * sizeof(r->sep[0]));
        sep = x->sep[keep - 1];
        x->n = keep;
        for (uint32_t j = 0; j < r->n; j++)
            moved += r->cnt[j];
        par->cnt[i] -= moved;
        insert_child(par, i + 1, r, moved, &sep);
    }
}

/* The node at depth d of path p (a leaf when d == height) is full: make room in it, or in its
 * parent first when the parent is full too. The caller descends again afterwards. */
static void make_room(hg_rankset_t *s, const path_t *p, uint32_t d)
{
    int is_leaf = d == s->height;
    if (d == 0) { /* a full root: put a new root above it; the next pass splits the old one */
        inner_t *r = hg_malloc(sizeof(*r));
        r->n = 1;
        r->child[0] = s->root;
        r->cnt[0] = (uint32_t)node_total(s->root, is_leaf);
        s->root = r;
        HG_BUG_ON(s->height + 1 >= MAX_HEIGHT);
        s->height++;
        return;
    }
    inner_t *par = p->node[d - 1];
    uint32_t i = p->idx[d - 1];
    if (is_leaf) { /* shed entries to a sibling with at least 2 free slots: both keep room */
        if (i + 1 < par->n) {
            uint32_t room = s->leaf_cap - ((leaf_t *)par->child[i + 1])->n;
            if (room >= 2) {
                move_right(s, par, i, room / 2, 1);
                return;
            }
        }
        if (i > 0) {
            uint32_t room = s->leaf_cap - ((leaf_t *)par->child[i - 1])->n;
            if (room >= 2) {
                move_left(s, par, i - 1, room / 2, 1);
                return;
            }
        }
    }
    if (par->n == s->inner_cap) {
        make_room(s, p, d - 1);
        return;
    }
    split(s, par, i, is_leaf);
}

/* Insert handle h with key k (not in the tree); returns its 1-based rank. */
static size_t tree_insert(hg_rankset_t *s, const rkey_t *k, uint32_t h)
{
    for (unsigned pass = 0;; pass++) {
        HG_BUG_ON(pass > MAX_HEIGHT + 2);
        path_t p;
        size_t before;
        leaf_t *l = descend(s, k, &p, &before);
        if (l->n == s->leaf_cap) {
            make_room(s, &p, s->height);
            continue;
        }
        uint32_t pos = leaf_bound(s, l, k);
        memmove(&l->h[pos + 1], &l->h[pos], (l->n - pos) * sizeof(l->h[0]));
        l->h[pos] = h;
        l->n++;
        for (uint32_t d = 0; d < s->height; d++)
            p.node[d]->cnt[p.idx[d]]++;
        return before + pos + 1;
    }
}

/* After a removal along p: refill underfull nodes from the leaf up, then drop an inner root
 * left with one child. */
static void rebalance(hg_rankset_t *s, const path_t *p)
{
    for (uint32_t d = s->height; d > 0; d--) {
        int is_leaf = d == s->height;
        inner_t *par = p->node[d - 1];
        uint32_t i = p->idx[d - 1];
        if (node_n(par->child[i], is_leaf) >= (is_leaf ? s->leaf_min : s->inner_min))
            break;
        uint32_t l = i + 1 < par->n ? i : i - 1; /* par has at least 2 children */
        uint32_t ln = node_n(par->child[l], is_leaf);
        uint32_t total = ln + node_n(par->child[l + 1], is_leaf);
        if (total <= (is_leaf ? s->leaf_merge : s->inner_merge))
            merge(par, l, is_leaf);
        else if (ln > total / 2)
            move_right(s, par, l, ln - total / 2, is_leaf);
        else
            move_left(s, par, l, total / 2 - ln, is_leaf);
    }
    while (s->height > 0 && ((inner_t *)s->root)->n == 1) {
        inner_t *r = s->root;
        s->root = r->child[0];
        s->height--;
        hg_free(r);
    }
}

/* Remove handle h with key k from the tree. */
static void tree_remove(hg_rankset_t *s, const rkey_t *k, uint32_t h)
{
    path_t p;
    leaf_t *l = descend(s, k, &p, NULL);
    uint32_t pos = leaf_find(l, h);
    HG_BUG_ON(pos == UINT32_MAX);
    memmove(&l->h[pos], &l->h[pos + 1], (l->n - pos - 1) * sizeof(l->h[0]));
    l->n--;
    for (uint32_t d = 0; d < s->height; d++)
        p.node[d]->cnt[p.idx[d]]--;
    rebalance(s, &p);
}

/* The 1-based rank of the entry with handle h. */
static size_t tree_rank(const hg_rankset_t *s, uint32_t h)
{
    path_t p;
    size_t before;
    rkey_t k;
    key_of_handle(s, h, &k);
    leaf_t *l = descend(s, &k, &p, &before);
    uint32_t pos = leaf_find(l, h);
    HG_BUG_ON(pos == UINT32_MAX);
    return before + pos + 1;
}

/* The leaf holding 1-based rank (1..count) and the position in it. */
static leaf_t *tree_at(const hg_rankset_t *s, size_t rank, uint32_t *pos)
{
    void *x = s->root;
    for (uint32_t d = 0; d < s->height; d++) {
        inner_t *in = x;
        uint32_t i = 0;
        while (rank > in->cnt[i])
            rank -= in->cnt[i++];
        x = in->child[i];
    }
    *pos = (uint32_t)rank - 1;
    return x;
}

static void tree_free(void *x, uint32_t height)
{
    if (height > 0) {
        inner_t *in = x;
        for (uint32_t i = 0; i < in->n; i++)
            tree_free(in->child[i], height - 1);
    }
    hg_free(x);
}

/* ---- lifecycle ---- */

int hg_rankset_new_shaped(hg_rankset_order_t order, size_t limit, unsigned leaf_cap,
                          unsigned inner_cap, hg_rankset_t **out)
{
    int rc = HG_OK;
    hg_rankset_t *s = NULL;
    leaf_t *root = NULL;
    if ((order != HG_RANKSET_DESC && order != HG_RANKSET_ASC) || limit == 0 ||
        limit > HG_RANKSET_MAX || leaf_cap < 4 || leaf_cap > LEAF_CAP || inner_cap < 4 ||
        inner_cap > INNER_CAP) {
        rc = HG_EINVAL;
        goto out;
    }
    s = hg_calloc(1, sizeof(*s));
    s->flip = order == HG_RANKSET_DESC ? ~0ull : 0;
    s->seed = mix64((uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ull); /* varies with ASLR */
    s->limit = (uint32_t)limit;
    s->leaf_cap = leaf_cap;
    s->leaf_min = leaf_cap / 3 > 1 ? leaf_cap / 3 : 1;
    s->leaf_merge = leaf_cap * 3 / 4;
    s->inner_cap = inner_cap;
    s->inner_min = inner_cap / 4 > 2 ? inner_cap / 4 : 2;
    s->inner_merge = inner_cap * 3 / 4;
    s->free_head = NO_HANDLE;
    root = hg_malloc(sizeof(*root));
    root->n = 0;
    root->next = NULL;
    s->root = root;
    *out = s;
out:
    return rc;
}

int hg_rankset_new(hg_rankset_order_t order, size_t limit, hg_rankset_t **out)
{
    return hg_rankset_new_shaped(order, limit, LEAF_CAP, INNER_CAP, out);
}

void hg_rankset_free(hg_rankset_t *s)
{
    if (s == NULL)
        return;
    tree_free(s->root, s->height);
    for (uint32_t c = 0; c < s->nchunks; c++)
        hg_free(s->chunks[c]);
    hg_free(s->chunks);
    hg_free(s->slots);
    hg_free(s->old_slots);
    hg_free(s);
}

/* ---- changes ---- */

int hg_rankset_upsert(hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], int64_t score,
                      int64_t subscore, uint64_t reached, void *ud, size_t *rank)
{
    int rc = HG_OK;
    index_migrate(s, INDEX_MIGRATE_STEP);
    uint64_t hash = id_hash(s, id);
    uint32_t *slot = index_find(s, id, hash);
    size_t r;
    rkey_t k;
    if (slot != NULL) {
        uint32_t h = slot_handle(*slot);
        hg_rankset_entry_t *e = entry_of(s, h);
        e->ud = ud;
        if (e->score == score && e->subscore == subscore && e->reached == reached) {
            if (rank != NULL)
                *rank = tree_rank(s, h);
            goto out;
        }
        key_make(s, e, &k);
        tree_remove(s, &k, h);
        e->score = score;
        e->subscore = subscore;
        e->reached = reached;
        key_make(s, e, &k);
        r = tree_insert(s, &k, h);
    } else {
        if (s->count >= s->limit) {
            rc = HG_ELIMIT;
            goto out;
        }
        if ((uint64_t)(s->count + 1) * 5 > (uint64_t)s->cap * 4)
            index_grow(s, s->count + 1);
        uint32_t h = slab_alloc(s);
        hg_rankset_entry_t *e = entry_of(s, h);
        memcpy(e->id, id, HG_RANKSET_ID_LEN);
        e->score = score;
        e->subscore = subscore;
        e->reached = reached;
        e->ud = ud;
        index_put(s->slots, s->cap, hash, h);
        key_make(s, e, &k);
        r = tree_insert(s, &k, h);
        s->count++;
    }
    if (rank != NULL)
        *rank = r;
out:
    return rc;
}

int hg_rankset_remove(hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], void **ud)
{
    int rc = HG_OK;
    index_migrate(s, INDEX_MIGRATE_STEP);
    uint32_t *slot = index_find(s, id, id_hash(s, id));
    if (slot == NULL) {
        rc = HG_ENOTFOUND;
        goto out;
    }
    uint32_t h = slot_handle(*slot);
    hg_rankset_entry_t *e = entry_of(s, h);
    rkey_t k;
    key_make(s, e, &k);
    tree_remove(s, &k, h);
    if (ud != NULL)
        *ud = e->ud;
    index_del(s, slot);
    slab_release(s, h);
    s->count--;
out:
    return rc;
}

/* ---- lookups ---- */

size_t hg_rankset_count(const hg_rankset_t *s)
{
    return s->count;
}

hg_rankset_entry_t *hg_rankset_get(const hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN],
                                   size_t *rank)
{
    const uint32_t *slot = index_find(s, id, id_hash(s, id));
    if (slot == NULL)
        return NULL;
    uint32_t h = slot_handle(*slot);
    if (rank != NULL)
        *rank = tree_rank(s, h);
    return entry_of(s, h);
}

hg_rankset_entry_t *hg_rankset_at(const hg_rankset_t *s, size_t rank)
{
    if (rank == 0 || rank > s->count)
        return NULL;
    uint32_t pos;
    leaf_t *l = tree_at(s, rank, &pos);
    return entry_of(s, l->h[pos]);
}

void hg_rankset_iter_init(const hg_rankset_t *s, size_t rank, hg_rankset_iter_t *it)
{
    it->_set = s;
    it->_leaf = NULL;
    it->_pos = 0;
    if (rank == 0 || rank > s->count)
        return;
    it->_leaf = tree_at(s, rank, &it->_pos);
}

hg_rankset_entry_t *hg_rankset_iter_next(hg_rankset_iter_t *it)
{
    const leaf_t *l = it->_leaf;
    while (l != NULL && it->_pos >= l->n) { /* on to the next leaf (only a root is empty) */
        l = l->next;
        it->_pos = 0;
    }
    it->_leaf = l;
    if (l == NULL)
        return NULL;
    return entry_of(it->_set, l->h[it->_pos++]);
}

size_t hg_rankset_range(const hg_rankset_t *s, size_t rank, size_t k, hg_rankset_entry_t **out)
{
    hg_rankset_iter_t it;
    hg_rankset_entry_t *e;
    size_t n = 0;
    for (hg_rankset_iter_init(s, rank, &it); n < k && (e = hg_rankset_iter_next(&it)) != NULL;)
        out[n++] = e;
    return n;
}

int hg_rankset_around(const hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], size_t n,
                      hg_rankset_entry_t **out, size_t *count, size_t *first_rank)
{
    int rc = HG_OK;
    size_t rank;
    if (hg_rankset_get(s, id, &rank) == NULL) {
        rc = HG_ENOTFOUND;
        goto out;
    }
    size_t first = rank > n ? rank - n : 1;
    size_t below = s->count - rank < n ? s->count - rank : n; /* no overflow for any n */
    *count = hg_rankset_range(s, first, rank - first + 1 + below, out);
    *first_rank = first;
out:
    return rc;
}

/* ---- checking ---- */

typedef struct check {
    const hg_rankset_t *s;
    const char *why;
    const leaf_t *last_leaf; /* the leaf met before, to check the chain */
    rkey_t last_key;
    size_t seen;
} check_t;

static int check_fail(check_t *c, const char *why)
{
    if (c->why == NULL)
        c->why = why;
    return -1;
}

/* Check the subtree x at depth d whose keys must lie in [lo, hi) (NULL: unbounded); returns
 * its entry count, or -1. */
static long check_node(check_t *c, const void *x, uint32_t d, const rkey_t *lo, const rkey_t *hi)
{
    const hg_rankset_t *s = c->s;
    int is_root = x == s->root;
    if (d == s->height) {
        const leaf_t *l = x;
        if (l->n > s->leaf_cap || (!is_root && l->n < s->leaf_min))
            return check_fail(c, "leaf fill out of bounds");
        if (c->last_leaf != NULL && c->last_leaf->next != l)
            return check_fail(c, "leaf chain broken");
        c->last_leaf = l;
        for (uint32_t i = 0; i < l->n; i++) {
            rkey_t k;
            if (l->h[i] >= s->top)
                return check_fail(c, "leaf handle out of the slab");
            key_of_handle(s, l->h[i], &k);
            if (c->seen > 0 && key_cmp(&c->last_key, &k) >= 0)
                return check_fail(c, "keys not increasing");
            if ((lo != NULL && key_cmp(&k, lo) < 0) || (hi != NULL && key_cmp(&k, hi) >= 0))
                return check_fail(c, "key outside its separators");
            const hg_rankset_entry_t *e = entry_of(s, l->h[i]);
            const uint32_t *slot = index_find(s, e->id, id_hash(s, e->id));
            if (slot == NULL || slot_handle(*slot) != l->h[i])
                return check_fail(c, "entry missing from the index");
            c->last_key = k;
            c->seen++;
        }
        return l->n;
    }
    const inner_t *in = x;
    if (in->n > s->inner_cap || (!is_root && in->n < s->inner_min) || (is_root && in->n < 2))
        return check_fail(c, "inner fill out of bounds");
    long total = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        if (i > 0 && i + 1 < in->n && key_cmp(&in->sep[i - 1], &in->sep[i]) >= 0)
            return check_fail(c, "separators not increasing");
        const rkey_t *clo = i > 0 ? &in->sep[i - 1] : lo;
        const rkey_t *chi = i + 1 < in->n ? &in->sep[i] : hi;
        long n = check_node(c, in->child[i], d + 1, clo, chi);
        if (n < 0)
            return -1;
        if ((uint32_t)n != in->cnt[i])
            return check_fail(c, "count differs from the subtree");
        total += n;
    }
    return total;
}

int hg_rankset_check(const hg_rankset_t *s, const char **why)
{
    check_t c = {.s = s};
    long n = check_node(&c, s->root, 0, NULL, NULL);
    if (n < 0)
        goto out;
    if ((size_t)n != s->count || c.seen != s->count) {
        check_fail(&c, "tree holds a different number of entries");
        goto out;
    }
    if (c.last_leaf == NULL || c.last_leaf->next != NULL) {
        check_fail(&c, "leaf chain does not end at the last leaf");
        goto out;
    }
    size_t used = 0;
    for (uint32_t j = 0; j < s->cap; j++)
        used += s->slots[j] != 0;
    if (s->old_slots != NULL && s->moved >= s->old_cap) {
        check_fail(&c, "finished migration not released");
        goto out;
    }
    for (uint32_t j = 0; j < s->old_cap; j++) {
        if (j < s->moved && s->old_slots[j] != 0 && s->old_slots[j] != SLOT_TOMB) {
            check_fail(&c, "old index slot behind the migration cursor");
            goto out;
        }
        used += s->old_slots[j] != 0 && s->old_slots[j] != SLOT_TOMB;
    }
    if (used != s->count) {
        check_fail(&c, "index holds a different number of entries");
        goto out;
    }
    if (s->cap > 0 && used * 5 > (size_t)s->cap * 4) {
        check_fail(&c, "index over 80% full");
        goto out;
    }
    size_t nfree = 0;
    for (uint32_t h = s->free_head; h != NO_HANDLE && nfree <= s->top;
         h = (uint32_t)entry_of(s, h)->reached) {
        if (h >= s->top) {
            check_fail(&c, "slab free list holds an unknown slot");
            goto out;
        }
        nfree++;
    }
    if (nfree + s->count != s->top) {
        check_fail(&c, "slab free list and entries do not add up");
        goto out;
    }
out:
    if (c.why != NULL && why != NULL)
        *why = c.why;
    return c.why != NULL ? HG_EINTERNAL : HG_OK;
}

/* ---- player ids ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int hg_rankset_id_parse(const char *text, uint8_t out[HG_RANKSET_ID_LEN])
{
    int rc = HG_EINVAL;
    uint8_t id[HG_RANKSET_ID_LEN];
    size_t o = 0, i = 0;
    while (i < HG_RANKSET_ID_TEXT) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i++] != '-')
                goto out;
            continue;
        }
        int hi = hexval(text[i]); /* a NUL stops here, before anything past it is read */
        if (hi < 0)
            goto out;
        int lo = hexval(text[i + 1]);
        if (lo < 0)
            goto out;
        id[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    if (text[HG_RANKSET_ID_TEXT] != '\0')
        goto out;
    memcpy(out, id, sizeof(id));
    rc = HG_OK;
out:
    return rc;
}

void hg_rankset_id_format(const uint8_t id[HG_RANKSET_ID_LEN], char out[HG_RANKSET_ID_TEXT + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < HG_RANKSET_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}
