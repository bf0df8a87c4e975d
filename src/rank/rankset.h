/* hangar — a rank set: the in-memory order-statistic structure behind one leaderboard.
 *
 * A set of entries, each a 16-byte player id with a score, a subscore, a `reached` sequence
 * number and a caller-owned pointer, kept in rank order: rank 1 is the best. Pure logic: no I/O,
 * no clock, no globals (callers pass the time-derived `reached` in). Not thread-safe: the loop
 * thread only.
 *
 * Order, fixed per set when it is created:
 *   - HG_RANKSET_DESC: the highest score is rank 1; on equal scores the higher subscore first.
 *   - HG_RANKSET_ASC:  the lowest score is rank 1; on equal scores the lower subscore first.
 *   Then, in both: the smaller `reached` first (earlier wins ties), then the id bytes compared
 *   with memcmp, so the order is total and the same on every run.
 *
 * Cost (n entries): upsert, remove and every rank lookup O(log n); get without its rank O(1)
 * on average (a hash index on the id); a range of k entries from a rank O(log n + k).
 *
 * Memory: 59.1 bytes per entry for the structure plus its id index, measured with
 * hg_alloc_used() before and after 1,000,000 random upserts (ud and what it points to not
 * included), against Redis's ~80-110 for a sorted set with short members and our budget of 64;
 * 58.5-61 anywhere from 0.3 to 2 million entries, except ~66 for a short while after each
 * growth of the id index (old and new tables both held). Design, breakdown and worst case are
 * in rankset.c. Memory stays at its high-water mark while the set lives: removing entries frees
 * tree nodes, not the slots of the entry slab or of the id index.
 *
 * Limits: at most HG_RANKSET_MAX entries per set (or the smaller limit given at creation);
 * an upsert of a new id beyond it returns HG_ELIMIT and changes nothing.
 */
#ifndef HG_RANK_RANKSET_H
#define HG_RANK_RANKSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HG_RANKSET_MAX 10000000 /* entries in one set */
#define HG_RANKSET_ID_LEN 16    /* bytes in a binary player id (a UUID) */
#define HG_RANKSET_ID_TEXT 36   /* characters of its canonical text, 8-4-4-4-12 */

typedef enum hg_rankset_order {
    HG_RANKSET_DESC = 1, /* highest score is rank 1 */
    HG_RANKSET_ASC = 2,  /* lowest score is rank 1 */
} hg_rankset_order_t;

/* One entry. The set owns the entry's memory: a pointer to it stays valid until the entry is
 * removed or the set freed (an upsert that moves the entry keeps the same pointer). Callers read
 * every field and may change `ud`; changing any other field corrupts the order. */
typedef struct hg_rankset_entry {
    uint8_t id[HG_RANKSET_ID_LEN];
    int64_t score;
    int64_t subscore;
    uint64_t reached; /* when the entry reached its score (caller's sequence): smaller wins */
    void *ud;         /* the caller's; never freed by the set */
} hg_rankset_entry_t;

typedef struct hg_rankset hg_rankset_t;

/* A cursor over entries in rank order (hg_rankset_iter_init()). Members are private. Invalid
 * once the set is modified. */
typedef struct hg_rankset_iter {
    const hg_rankset_t *_set;
    const void *_leaf;
    uint32_t _pos;
} hg_rankset_iter_t;

/* ---- lifecycle ---- */

/**
 * Create an empty set.
 * @param order HG_RANKSET_DESC or HG_RANKSET_ASC.
 * @param limit most entries the set will hold, 1..HG_RANKSET_MAX.
 * @param out   on success, a new set — release with hg_rankset_free(); untouched on error.
 * @return HG_OK, or HG_EINVAL for an unknown order or a limit out of range.
 * Loop thread (any one thread per set).
 */
int hg_rankset_new(hg_rankset_order_t order, size_t limit, hg_rankset_t **out);
/**
 * Tests only: as hg_rankset_new() with tree nodes holding at most leaf_cap entries and
 * inner_cap children (each 4..the default), so that a few hundred entries build a deep tree and
 * every split, shift and merge runs. The order and cost are the same; memory per entry is not.
 * @return HG_OK or HG_EINVAL.
 */
int hg_rankset_new_shaped(hg_rankset_order_t order, size_t limit, unsigned leaf_cap,
                          unsigned inner_cap, hg_rankset_t **out);
/**
 * Free the set, its entries and its index. NULL-safe. The entries' ud pointers are not
 * touched: to release them, iterate the set first (hg_rankset_iter_init() from rank 1). s and
 * every entry pointer obtained from it are invalid after this call.
 */
void hg_rankset_free(hg_rankset_t *s);

/* ---- changes ---- */

/**
 * Insert id, or move it when it is already there, with the given score, subscore, reached and
 * ud. O(log n). On an update ud replaces the entry's previous ud, which is not freed: read it
 * with hg_rankset_get() first when it must be released. The set copies id (borrowed for the
 * call) and borrows ud until the entry is removed or the set freed.
 * @param rank if not NULL, set to the entry's new 1-based rank.
 * @return HG_OK, or HG_ELIMIT when id is new and the set is full (nothing changed).
 */
int hg_rankset_upsert(hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], int64_t score,
                      int64_t subscore, uint64_t reached, void *ud, size_t *rank);
/**
 * Remove id. O(log n). The entry's pointer is invalid after this call; its ud is handed back.
 * @param ud if not NULL, set to the removed entry's ud (the caller's to release).
 * @return HG_OK, or HG_ENOTFOUND when id is not in the set.
 */
int hg_rankset_remove(hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], void **ud);

/* ---- lookups (all borrow the set; returned entries are borrowed, see hg_rankset_entry_t) ---- */

/* Entries in the set. O(1). */
size_t hg_rankset_count(const hg_rankset_t *s);
/**
 * The entry of id, or NULL when absent. O(1) on average without its rank, O(log n) with it.
 * @param rank if not NULL and id is present, set to its 1-based rank.
 */
hg_rankset_entry_t *hg_rankset_get(const hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN],
                                   size_t *rank);
/* The entry at 1-based rank, or NULL when rank is 0 or above the count. O(log n). */
hg_rankset_entry_t *hg_rankset_at(const hg_rankset_t *s, size_t rank);
/**
 * Up to k entries from 1-based rank on, in rank order, into out (room for k pointers). O(log n
 * + k).
 * @return how many were written: min(k, count - rank + 1), or 0 when rank is 0 or above the
 * count.
 */
size_t hg_rankset_range(const hg_rankset_t *s, size_t rank, size_t k, hg_rankset_entry_t **out);
/**
 * Around-me: the entry of id with up to n entries ranked just above it and up to n just below,
 * clipped at both ends, in rank order into out (room for 2n + 1 pointers). O(log n + n).
 * @param count      set to how many were written (the entry itself included).
 * @param first_rank set to the rank of out[0]; id's own entry is out[rank - first_rank].
 * @return HG_OK, or HG_ENOTFOUND when id is absent (count and first_rank then untouched).
 */
int hg_rankset_around(const hg_rankset_t *s, const uint8_t id[HG_RANKSET_ID_LEN], size_t n,
                      hg_rankset_entry_t **out, size_t *count, size_t *first_rank);
/**
 * Position it at 1-based rank; hg_rankset_iter_next() then yields that entry and the ones after
 * it, to the last. O(log n). A rank of 0 or above the count gives an empty iteration. Freeing
 * every ud before hg_rankset_free():
 *
 *     hg_rankset_iter_t it;
 *     hg_rankset_entry_t *e;
 *     for (hg_rankset_iter_init(s, 1, &it); (e = hg_rankset_iter_next(&it)) != NULL;)
 *         free_meta(e->ud);
 *
 * Borrows s until the iteration ends; any change to the set invalidates it.
 */
void hg_rankset_iter_init(const hg_rankset_t *s, size_t rank, hg_rankset_iter_t *it);
/* The next entry in rank order, or NULL at the end. O(1). */
hg_rankset_entry_t *hg_rankset_iter_next(hg_rankset_iter_t *it);

/**
 * Check every invariant of the set (tree order and counts, node fill, leaf chain, id index,
 * slab free list). O(n): for tests and debugging, not for the loop.
 * @param why if not NULL, set to a static description of the first broken invariant.
 * @return HG_OK, or HG_EINTERNAL when something is broken.
 */
int hg_rankset_check(const hg_rankset_t *s, const char **why);

/* ---- player ids ---- */

/**
 * Parse the canonical 36-character text of a UUID (8-4-4-4-12 hex digits, lower or upper case,
 * nothing before or after: text must end there) into 16 bytes.
 * @param out written only on success.
 * @return HG_OK or HG_EINVAL.
 */
int hg_rankset_id_parse(const char *text, uint8_t out[HG_RANKSET_ID_LEN]);
/* Write id as canonical lower-case text with its terminating NUL into out. Cannot fail. */
void hg_rankset_id_format(const uint8_t id[HG_RANKSET_ID_LEN], char out[HG_RANKSET_ID_TEXT + 1]);

#endif
