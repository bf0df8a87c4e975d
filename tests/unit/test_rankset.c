/* Unit tests: the leaderboard rank set (src/rank/rankset.c) — 100,000 random operations against
 * a brute-force model (a sorted array) compared after every step on DESC and ASC sets, with
 * small tree nodes so that every split, shift, merge and root change runs; the edge cases (empty
 * set, ends of ranges, ties, extreme scores, the limit, id text); and 1,000,000 entries checked
 * against a recount, printing bytes per entry and timings. */
#include <stdint.h>
#include <time.h>

#include "core/alloc.h"
#include "rank/rankset.h"
#include "test.h"

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rng(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng() % n;
}

/* The seed: HG_TEST_SEED when set (to replay another run), else a fixed one. Printed. */
static uint64_t seed_rng(const char *what, uint64_t fixed)
{
    const char *env = getenv("HG_TEST_SEED");
    rng_state = env ? strtoull(env, NULL, 0) : fixed;
    printf("  %s: seed 0x%" PRIx64 "\n", what, rng_state);
    return rng_state;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An id whose every byte is b except the last, which is last. The bytes live in a ring of 8:
 * valid until 8 more calls. */
static const uint8_t *idb(uint8_t b, uint8_t last)
{
    static uint8_t ids[8][16];
    static unsigned next;
    uint8_t *id = ids[next++ % 8];
    memset(id, b, 16);
    id[15] = last;
    return id;
}

static void check_ok(const hg_rankset_t *s)
{
    const char *why = NULL;
    if (hg_rankset_check(s, &why) != HG_OK)
        HG_FAIL_("hg_rankset_check: %s", why ? why : "(no reason)");
}

/* The set's entries in rank order must be exactly these ids (a 16-byte id each). */
static void expect_order(const hg_rankset_t *s, const uint8_t *const *ids, size_t n)
{
    ASSERT_EQ_INT(hg_rankset_count(s), n);
    for (size_t r = 1; r <= n; r++) {
        hg_rankset_entry_t *e = hg_rankset_at(s, r);
        ASSERT_NOT_NULL(e);
        if (memcmp(e->id, ids[r - 1], 16) != 0)
            HG_FAIL_("rank %zu holds the wrong id", r);
        size_t rank = 0;
        ASSERT_TRUE(hg_rankset_get(s, ids[r - 1], &rank) == e);
        ASSERT_EQ_INT(rank, r);
    }
    check_ok(s);
}

static hg_rankset_t *new_set(hg_rankset_order_t order, size_t limit)
{
    hg_rankset_t *s = NULL;
    ASSERT_OK(hg_rankset_new(order, limit, &s));
    return s;
}

/* ---- the brute-force model ---- */

#define UNIVERSE 1500
#define MODEL_OPS 100000

typedef struct mentry {
    uint8_t id[16];
    int64_t score, sub;
    uint64_t reached;
    void *ud;
    int present;
} mentry_t;

typedef struct model {
    int desc;
    mentry_t u[UNIVERSE]; /* every id of the universe, present or not */
    int order[UNIVERSE];  /* universe indexes of the present ones, best first */
    int n;
} model_t;

/* The order as the issue states it, written independently of the set's key mapping. */
static int model_cmp(const model_t *m, const mentry_t *a, const mentry_t *b)
{
    if (a->score != b->score)
        return (a->score < b->score) == !m->desc ? -1 : 1;
    if (a->sub != b->sub)
        return (a->sub < b->sub) == !m->desc ? -1 : 1;
    if (a->reached != b->reached)
        return a->reached < b->reached ? -1 : 1;
    return memcmp(a->id, b->id, 16);
}

/* 0-based position of universe index i in the order, or -1. */
static int model_pos(const model_t *m, int i)
{
    for (int p = 0; p < m->n; p++)
        if (m->order[p] == i)
            return p;
    return -1;
}

static void model_remove(model_t *m, int i)
{
    int p = model_pos(m, i);
    memmove(&m->order[p], &m->order[p + 1], (size_t)(m->n - p - 1) * sizeof(int));
    m->n--;
    m->u[i].present = 0;
}

/* Insert or move i to its place; returns its 1-based rank. */
static int model_upsert(model_t *m, int i, int64_t score, int64_t sub, uint64_t reached, void *ud)
{
    if (m->u[i].present)
        model_remove(m, i);
    mentry_t *e = &m->u[i];
    e->score = score;
    e->sub = sub;
    e->reached = reached;
    e->ud = ud;
    e->present = 1;
    int p = 0;
    while (p < m->n && model_cmp(m, &m->u[m->order[p]], e) < 0)
        p++;
    memmove(&m->order[p + 1], &m->order[p], (size_t)(m->n - p) * sizeof(int));
    m->order[p] = i;
    m->n++;
    return p + 1;
}

static void expect_entry(const hg_rankset_entry_t *e, const mentry_t *me)
{
    ASSERT_NOT_NULL(e);
    ASSERT_TRUE(memcmp(e->id, me->id, 16) == 0);
    ASSERT_EQ_INT(e->score, me->score);
    ASSERT_EQ_INT(e->subscore, me->sub);
    ASSERT_EQ_INT(e->reached, me->reached);
    ASSERT_TRUE(e->ud == me->ud);
}

/* The whole order of s equals the model's, entry by entry; with deep, the set's invariants
 * hold too (hg_rankset_check() costs most of the test's time, so not at every step). */
static void model_compare(const model_t *m, const hg_rankset_t *s, uint64_t step, int deep)
{
    if (hg_rankset_count(s) != (size_t)m->n)
        HG_FAIL_("step %" PRIu64 ": count %zu, model %d", step, hg_rankset_count(s), m->n);
    hg_rankset_iter_t it;
    hg_rankset_entry_t *e;
    int p = 0;
    for (hg_rankset_iter_init(s, 1, &it); (e = hg_rankset_iter_next(&it)) != NULL; p++) {
        if (p >= m->n)
            HG_FAIL_("step %" PRIu64 ": the set iterates past its count", step);
        const mentry_t *me = &m->u[m->order[p]];
        if (memcmp(e->id, me->id, 16) != 0 || e->score != me->score || e->subscore != me->sub ||
            e->reached != me->reached || e->ud != me->ud)
            HG_FAIL_("step %" PRIu64 ": rank %d differs from the model", step, p + 1);
    }
    ASSERT_EQ_INT(p, m->n);
    const char *why = NULL;
    if (deep && hg_rankset_check(s, &why) != HG_OK)
        HG_FAIL_("step %" PRIu64 ": hg_rankset_check: %s", step, why);
}

/* Scores from a small range so ties are frequent, with the extremes now and then. */
static int64_t draw_score(void)
{
    uint64_t r = rng_below(40);
    if (r == 0)
        return INT64_MIN;
    if (r == 1)
        return INT64_MAX;
    return (int64_t)rng_below(7) - 3;
}

/* One random operation on every set of sets[] and on the model, compared. */
static void model_step(model_t *m, hg_rankset_t **sets, size_t nsets, uint64_t step, int grow)
{
    int i = (int)rng_below(UNIVERSE);
    uint64_t op = rng_below(100);
    int upsert_pct = grow ? 65 : 10, remove_pct = grow ? 10 : 60;
    if (op >= (uint64_t)upsert_pct && m->n > 0 && rng_below(2) == 0)
        i = m->order[rng_below((uint64_t)m->n)]; /* half of the others aim at a present id */
    mentry_t *me = &m->u[i];
    if (op < (uint64_t)upsert_pct) {
        int64_t score = draw_score(), sub = (int64_t)rng_below(3) - 1;
        uint64_t reached = rng_below(4);
        if (me->present && rng_below(8) == 0) { /* now and then the same key: only ud changes */
            score = me->score;
            sub = me->sub;
            reached = me->reached;
        }
        void *ud = (void *)(uintptr_t)(step + 1);
        int want = model_upsert(m, i, score, sub, reached, ud);
        for (size_t k = 0; k < nsets; k++) {
            size_t rank = 0;
            ASSERT_OK(hg_rankset_upsert(sets[k], me->id, score, sub, reached, ud, &rank));
            if (rank != (size_t)want)
                HG_FAIL_("step %" PRIu64 ": upsert rank %zu, model %d", step, rank, want);
        }
    } else if (op < (uint64_t)(upsert_pct + remove_pct)) {
        int present = me->present;
        void *want = me->ud;
        if (present)
            model_remove(m, i);
        for (size_t k = 0; k < nsets; k++) {
            void *ud = NULL;
            int rc = hg_rankset_remove(sets[k], me->id, &ud);
            ASSERT_EQ_INT(rc, present ? HG_OK : HG_ENOTFOUND);
            if (present)
                ASSERT_TRUE(ud == want);
        }
    } else if (op < 85) { /* get */
        int p = model_pos(m, i);
        for (size_t k = 0; k < nsets; k++) {
            size_t rank = 0;
            hg_rankset_entry_t *e = hg_rankset_get(sets[k], me->id, &rank);
            if (p < 0) {
                ASSERT_NULL(e);
            } else {
                expect_entry(e, me);
                ASSERT_EQ_INT(rank, p + 1);
                ASSERT_TRUE(hg_rankset_get(sets[k], me->id, NULL) == e);
            }
        }
    } else if (op < 90) { /* at_rank, 0 and past the end included */
        size_t r = rng_below((uint64_t)m->n + 3);
        for (size_t k = 0; k < nsets; k++) {
            hg_rankset_entry_t *e = hg_rankset_at(sets[k], r);
            if (r == 0 || r > (size_t)m->n)
                ASSERT_NULL(e);
            else
                expect_entry(e, &m->u[m->order[r - 1]]);
        }
    } else if (op < 95) { /* range */
        size_t r = rng_below((uint64_t)m->n + 3), want_k = rng_below(40);
        hg_rankset_entry_t *out[40];
        size_t want = r == 0 || r > (size_t)m->n ? 0 : (size_t)m->n - r + 1;
        if (want > want_k)
            want = want_k;
        for (size_t k = 0; k < nsets; k++) {
            ASSERT_EQ_INT(hg_rankset_range(sets[k], r, want_k, out), want);
            for (size_t j = 0; j < want; j++)
                expect_entry(out[j], &m->u[m->order[r - 1 + j]]);
        }
    } else { /* around */
        size_t n = rng_below(6);
        hg_rankset_entry_t *out[13];
        int p = model_pos(m, i);
        for (size_t k = 0; k < nsets; k++) {
            size_t count = 99, first = 99;
            int rc = hg_rankset_around(sets[k], me->id, n, out, &count, &first);
            if (p < 0) {
                ASSERT_EQ_INT(rc, HG_ENOTFOUND);
                ASSERT_EQ_INT(count, 99);
                continue;
            }
            ASSERT_OK(rc);
            size_t lo = (size_t)p >= n ? (size_t)p - n : 0;
            size_t hi = (size_t)p + n < (size_t)m->n - 1 ? (size_t)p + n : (size_t)m->n - 1;
            ASSERT_EQ_INT(first, lo + 1);
            ASSERT_EQ_INT(count, hi - lo + 1);
            for (size_t j = 0; j < count; j++)
                expect_entry(out[j], &m->u[m->order[lo + j]]);
            ASSERT_TRUE(memcmp(out[(size_t)p + 1 - first]->id, me->id, 16) == 0);
        }
    }
    for (size_t k = 0; k < nsets; k++)
        model_compare(m, sets[k], step, (step + k) % 8 == 0);
}

/* 100,000 operations on a set with the smallest nodes (4 entries, 4 children: deep trees, every
 * restructuring path), one with odd ones (7 entries, 5 children) and one with the default
 * shape, all against the model.
 * The size swings between empty and most of the universe in phases of 4,000 steps so merges
 * and root collapses run as often as splits. The whole order is compared after every step,
 * the structure checked (hg_rankset_check()) after every 8th. */
static void model_run(hg_rankset_order_t order, uint64_t fixed_seed)
{
    static model_t m; /* ~100 KB: off the stack */
    memset(&m, 0, sizeof(m));
    m.desc = order == HG_RANKSET_DESC;
    seed_rng(order == HG_RANKSET_DESC ? "desc model" : "asc model", fixed_seed);
    for (int i = 0; i < UNIVERSE; i++) {
        uint64_t a = rng(), b = rng();
        if (i % 2 == 0) /* half the ids share one of 4 first halves: the second half decides */
            a = 0x0123456789abcdefull + rng_below(4);
        memcpy(m.u[i].id, &a, 8);
        memcpy(m.u[i].id + 8, &b, 8);
    }
    hg_rankset_t *sets[3];
    ASSERT_OK(hg_rankset_new_shaped(order, HG_RANKSET_MAX, 4, 4, &sets[0]));
    ASSERT_OK(hg_rankset_new_shaped(order, HG_RANKSET_MAX, 7, 5, &sets[1]));
    ASSERT_OK(hg_rankset_new(order, HG_RANKSET_MAX, &sets[2]));
    int max_n = 0, min_n = UNIVERSE;
    for (uint64_t step = 0; step < MODEL_OPS; step++) {
        int grow = (step / 4000) % 2 == 0;
        model_step(&m, sets, 3, step, grow);
        if (m.n > max_n)
            max_n = m.n;
        if (!grow && m.n < min_n)
            min_n = m.n;
    }
    printf("  %d entries at most, %d at least after the first growth, %d at the end\n", max_n,
           min_n, m.n);
    ASSERT_TRUE(max_n > 1000 && min_n == 0); /* the phases did swing, down to empty */
    for (size_t k = 0; k < 3; k++)
        hg_rankset_free(sets[k]);
}

HG_TEST(model_desc)
{
    model_run(HG_RANKSET_DESC, 0x5eed0001);
}

HG_TEST(model_asc)
{
    model_run(HG_RANKSET_ASC, 0x5eed0002);
}

/* ---- edge cases ---- */

HG_TEST(empty_set)
{
    hg_rankset_t *s = new_set(HG_RANKSET_DESC, 10);
    hg_rankset_entry_t *out[4];
    size_t count = 7, first = 7, rank = 7;
    ASSERT_EQ_INT(hg_rankset_count(s), 0);
    ASSERT_NULL(hg_rankset_at(s, 0));
    ASSERT_NULL(hg_rankset_at(s, 1));
    ASSERT_NULL(hg_rankset_get(s, idb(1, 1), &rank));
    ASSERT_EQ_INT(rank, 7);
    ASSERT_EQ_INT(hg_rankset_range(s, 1, 4, out), 0);
    ASSERT_EQ_INT(hg_rankset_remove(s, idb(1, 1), NULL), HG_ENOTFOUND);
    ASSERT_EQ_INT(hg_rankset_around(s, idb(1, 1), 2, out, &count, &first), HG_ENOTFOUND);
    ASSERT_EQ_INT(count, 7);
    hg_rankset_iter_t it;
    hg_rankset_iter_init(s, 1, &it);
    ASSERT_NULL(hg_rankset_iter_next(&it));
    check_ok(s);
    hg_rankset_free(s);
    hg_rankset_free(NULL);
}

HG_TEST(single_entry_and_removed_id)
{
    hg_rankset_t *s = new_set(HG_RANKSET_ASC, 10);
    int meta = 0;
    size_t rank = 0, count = 0, first = 0;
    ASSERT_OK(hg_rankset_upsert(s, idb(1, 1), 50, 0, 1, &meta, &rank));
    ASSERT_EQ_INT(rank, 1);
    hg_rankset_entry_t *e = hg_rankset_get(s, idb(1, 1), &rank);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_INT(rank, 1);
    ASSERT_EQ_INT(e->score, 50);
    ASSERT_TRUE(e->ud == &meta);
    ASSERT_TRUE(hg_rankset_at(s, 1) == e);
    ASSERT_NULL(hg_rankset_at(s, 2));
    hg_rankset_entry_t *out[5];
    ASSERT_EQ_INT(hg_rankset_range(s, 1, 5, out), 1);
    ASSERT_TRUE(out[0] == e);
    ASSERT_OK(hg_rankset_around(s, idb(1, 1), 2, out, &count, &first));
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(first, 1);

    /* an update moves nothing but keeps the entry where it is in memory */
    ASSERT_OK(hg_rankset_upsert(s, idb(1, 1), -5, 3, 2, NULL, &rank));
    ASSERT_EQ_INT(rank, 1);
    ASSERT_TRUE(hg_rankset_get(s, idb(1, 1), NULL) == e);
    ASSERT_EQ_INT(e->score, -5);
    ASSERT_EQ_INT(e->subscore, 3);
    ASSERT_EQ_INT(e->reached, 2);
    ASSERT_NULL(e->ud);

    void *ud = &ud;
    ASSERT_OK(hg_rankset_upsert(s, idb(1, 1), -5, 3, 2, &meta, NULL)); /* same key: ud only */
    ASSERT_OK(hg_rankset_remove(s, idb(1, 1), &ud));
    ASSERT_TRUE(ud == &meta);
    ASSERT_EQ_INT(hg_rankset_count(s), 0);
    rank = 9;
    ASSERT_NULL(hg_rankset_get(s, idb(1, 1), &rank));
    ASSERT_EQ_INT(rank, 9);
    ASSERT_EQ_INT(hg_rankset_remove(s, idb(1, 1), NULL), HG_ENOTFOUND);
    ASSERT_EQ_INT(hg_rankset_around(s, idb(1, 1), 1, out, &count, &first), HG_ENOTFOUND);
    ASSERT_NULL(hg_rankset_at(s, 1));
    check_ok(s);

    /* the id comes back as new */
    ASSERT_OK(hg_rankset_upsert(s, idb(2, 2), 1, 0, 3, NULL, &rank));
    ASSERT_OK(hg_rankset_upsert(s, idb(1, 1), 2, 0, 4, NULL, &rank));
    ASSERT_EQ_INT(rank, 2);
    check_ok(s);
    hg_rankset_free(s);
}

/* Ranks 1..20 hold scores 20..1 (desc). */
static hg_rankset_t *twenty(void)
{
    hg_rankset_t *s = NULL;
    ASSERT_OK(hg_rankset_new_shaped(HG_RANKSET_DESC, 100, 4, 4, &s));
    for (int i = 1; i <= 20; i++)
        ASSERT_OK(hg_rankset_upsert(s, idb((uint8_t)i, 0), i, 0, 0, NULL, NULL));
    return s;
}

HG_TEST(at_rank_and_range_bounds)
{
    hg_rankset_t *s = twenty();
    hg_rankset_entry_t *out[30];
    ASSERT_NULL(hg_rankset_at(s, 0));
    ASSERT_EQ_INT(hg_rankset_at(s, 1)->score, 20);
    ASSERT_EQ_INT(hg_rankset_at(s, 20)->score, 1);
    ASSERT_NULL(hg_rankset_at(s, 21));
    ASSERT_NULL(hg_rankset_at(s, SIZE_MAX));
    ASSERT_EQ_INT(hg_rankset_range(s, 0, 5, out), 0);
    ASSERT_EQ_INT(hg_rankset_range(s, 21, 5, out), 0);
    ASSERT_EQ_INT(hg_rankset_range(s, 3, 0, out), 0);
    ASSERT_EQ_INT(hg_rankset_range(s, 18, 30, out), 3); /* past the end: clipped */
    ASSERT_EQ_INT(out[0]->score, 3);
    ASSERT_EQ_INT(out[2]->score, 1);
    ASSERT_EQ_INT(hg_rankset_range(s, 1, 30, out), 20);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ_INT(out[i]->score, 20 - i);
    ASSERT_EQ_INT(hg_rankset_range(s, 5, 4, out), 4);
    ASSERT_EQ_INT(out[0]->score, 16);
    ASSERT_EQ_INT(out[3]->score, 13);
    hg_rankset_iter_t it;
    hg_rankset_iter_init(s, 21, &it);
    ASSERT_NULL(hg_rankset_iter_next(&it));
    hg_rankset_iter_init(s, 0, &it);
    ASSERT_NULL(hg_rankset_iter_next(&it));
    hg_rankset_iter_init(s, 19, &it);
    ASSERT_EQ_INT(hg_rankset_iter_next(&it)->score, 2);
    ASSERT_EQ_INT(hg_rankset_iter_next(&it)->score, 1);
    ASSERT_NULL(hg_rankset_iter_next(&it));
    hg_rankset_free(s);
}

HG_TEST(around_at_both_ends)
{
    hg_rankset_t *s = twenty();
    hg_rankset_entry_t *out[41];
    size_t count, first;
    /* the top: nothing above */
    ASSERT_OK(hg_rankset_around(s, idb(20, 0), 3, out, &count, &first));
    ASSERT_EQ_INT(first, 1);
    ASSERT_EQ_INT(count, 4);
    ASSERT_EQ_INT(out[0]->score, 20);
    ASSERT_EQ_INT(out[3]->score, 17);
    /* second: one above */
    ASSERT_OK(hg_rankset_around(s, idb(19, 0), 3, out, &count, &first));
    ASSERT_EQ_INT(first, 1);
    ASSERT_EQ_INT(count, 5);
    /* the bottom: nothing below */
    ASSERT_OK(hg_rankset_around(s, idb(1, 0), 3, out, &count, &first));
    ASSERT_EQ_INT(first, 17);
    ASSERT_EQ_INT(count, 4);
    ASSERT_EQ_INT(out[0]->score, 4);
    ASSERT_EQ_INT(out[3]->score, 1);
    /* the middle: n each side */
    ASSERT_OK(hg_rankset_around(s, idb(10, 0), 2, out, &count, &first));
    ASSERT_EQ_INT(first, 9);
    ASSERT_EQ_INT(count, 5);
    ASSERT_EQ_INT(out[2]->score, 10);
    ASSERT_EQ_INT(out[0]->score, 12);
    ASSERT_EQ_INT(out[4]->score, 8);
    /* n = 0: the entry alone; n larger than the set: everything */
    ASSERT_OK(hg_rankset_around(s, idb(10, 0), 0, out, &count, &first));
    ASSERT_EQ_INT(first, 11);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(out[0]->score, 10);
    ASSERT_OK(hg_rankset_around(s, idb(10, 0), 20, out, &count, &first));
    ASSERT_EQ_INT(first, 1);
    ASSERT_EQ_INT(count, 20);
    ASSERT_OK(hg_rankset_around(s, idb(10, 0), SIZE_MAX, out, &count, &first)); /* no overflow */
    ASSERT_EQ_INT(first, 1);
    ASSERT_EQ_INT(count, 20);
    ASSERT_EQ_INT(out[19]->score, 1);
    hg_rankset_free(s);
}

/* Ties: score, then subscore (higher first on DESC, lower first on ASC), then smaller reached,
 * then the id bytes. */
HG_TEST(ties_subscore_reached_id)
{
    /* a..f all score 10; g scores 11 (best on desc, worst on asc) */
    const uint8_t *a = idb(0xa0, 0), *b = idb(0xa0, 1), *c = idb(0x10, 9), *d = idb(0x10, 8),
                  *e = idb(0xf0, 0), *f = idb(0x05, 0), *g = idb(0x77, 0);
    for (int desc = 0; desc <= 1; desc++) {
        hg_rankset_t *s = new_set(desc ? HG_RANKSET_DESC : HG_RANKSET_ASC, 100);
        /* inserted in an order unrelated to the expected one */
        ASSERT_OK(hg_rankset_upsert(s, c, 10, 5, 7, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, g, 11, 0, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, a, 10, 5, 3, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, e, 10, 9, 100, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, b, 10, 5, 3, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, f, 10, 1, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, d, 10, 5, 7, NULL, NULL));
        /* subscore 9 (e) > 5 (a b c d) > 1 (f); within 5: reached 3 (a b) before 7 (c d);
         * within equal reached, id bytes: a (a0..00) < b (a0..01), d (10..08) < c (10..09) */
        if (desc) {
            const uint8_t *want[] = {g, e, a, b, d, c, f};
            expect_order(s, want, 7);
        } else {
            const uint8_t *want[] = {f, a, b, d, c, e, g};
            expect_order(s, want, 7);
        }
        /* a later reached loses the tie it used to win */
        size_t rank = 0;
        ASSERT_OK(hg_rankset_upsert(s, a, 10, 5, 8, NULL, &rank));
        ASSERT_EQ_INT(rank, desc ? 6 : 5);
        hg_rankset_free(s);
    }
}

HG_TEST(extreme_scores)
{
    const uint8_t *lo = idb(1, 0), *lo2 = idb(2, 0), *mid = idb(3, 0), *m1 = idb(4, 0),
                  *hi = idb(5, 0), *hi2 = idb(6, 0);
    for (int desc = 0; desc <= 1; desc++) {
        hg_rankset_t *s = new_set(desc ? HG_RANKSET_DESC : HG_RANKSET_ASC, 100);
        ASSERT_OK(hg_rankset_upsert(s, mid, 0, 0, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, hi, INT64_MAX, INT64_MIN, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, lo, INT64_MIN, INT64_MIN, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, m1, -1, 0, 0, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, hi2, INT64_MAX, INT64_MAX, UINT64_MAX, NULL, NULL));
        ASSERT_OK(hg_rankset_upsert(s, lo2, INT64_MIN, INT64_MAX, 0, NULL, NULL));
        if (desc) { /* hi2's subscore beats hi's; lo2's beats lo's */
            const uint8_t *want[] = {hi2, hi, mid, m1, lo2, lo};
            expect_order(s, want, 6);
        } else {
            const uint8_t *want[] = {lo, lo2, m1, mid, hi, hi2};
            expect_order(s, want, 6);
        }
        ASSERT_EQ_INT(hg_rankset_at(s, 1)->score, desc ? INT64_MAX : INT64_MIN);
        hg_rankset_free(s);
    }
}

HG_TEST(limit)
{
    hg_rankset_t *s = NULL;
    ASSERT_EQ_INT(hg_rankset_new(HG_RANKSET_DESC, 0, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new(HG_RANKSET_DESC, (size_t)HG_RANKSET_MAX + 1, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new((hg_rankset_order_t)0, 10, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new_shaped(HG_RANKSET_DESC, 10, 3, 4, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new_shaped(HG_RANKSET_DESC, 10, 4, 3, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new_shaped(HG_RANKSET_DESC, 10, 129, 4, &s), HG_EINVAL);
    ASSERT_EQ_INT(hg_rankset_new_shaped(HG_RANKSET_DESC, 10, 4, 65, &s), HG_EINVAL);
    ASSERT_NULL(s);
    ASSERT_OK(hg_rankset_new(HG_RANKSET_DESC, HG_RANKSET_MAX, &s));
    hg_rankset_free(s);

    s = new_set(HG_RANKSET_DESC, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(hg_rankset_upsert(s, idb((uint8_t)i, 0), i, 0, 0, NULL, NULL));
    size_t rank = 77;
    ASSERT_EQ_INT(hg_rankset_upsert(s, idb(9, 0), 100, 0, 0, NULL, &rank), HG_ELIMIT);
    ASSERT_EQ_INT(rank, 77);
    ASSERT_EQ_INT(hg_rankset_count(s), 3);
    ASSERT_NULL(hg_rankset_get(s, idb(9, 0), NULL));
    const uint8_t *want[] = {idb(2, 0), idb(1, 0), idb(0, 0)};
    expect_order(s, want, 3);
    /* a full set still takes updates, and a new id once one has left */
    ASSERT_OK(hg_rankset_upsert(s, idb(0, 0), 50, 0, 0, NULL, &rank));
    ASSERT_EQ_INT(rank, 1);
    ASSERT_OK(hg_rankset_remove(s, idb(1, 0), NULL));
    ASSERT_OK(hg_rankset_upsert(s, idb(9, 0), 100, 0, 0, NULL, &rank));
    ASSERT_EQ_INT(rank, 1);
    check_ok(s);
    hg_rankset_free(s);
}

/* The caller frees its metadata by iterating before hg_rankset_free() (LeakSanitizer checks
 * under ASan that nothing is left). */
HG_TEST(iterate_to_free_ud)
{
    hg_rankset_t *s = NULL;
    ASSERT_OK(hg_rankset_new_shaped(HG_RANKSET_ASC, 1000, 4, 4, &s));
    size_t before = hg_alloc_used();
    for (int i = 0; i < 300; i++) {
        uint8_t id[16] = {(uint8_t)i, (uint8_t)(i >> 8)};
        ASSERT_OK(hg_rankset_upsert(s, id, i % 7, 0, (uint64_t)i, hg_malloc(32), NULL));
    }
    hg_rankset_iter_t it;
    hg_rankset_entry_t *e;
    size_t n = 0;
    for (hg_rankset_iter_init(s, 1, &it); (e = hg_rankset_iter_next(&it)) != NULL; n++)
        hg_free(e->ud);
    ASSERT_EQ_INT(n, 300);
    hg_rankset_free(s);
    ASSERT_TRUE(hg_alloc_used() < before); /* the set's own memory went too */
}

HG_TEST(id_text)
{
    uint8_t id[16], back[16];
    char text[37];
    ASSERT_OK(hg_rankset_id_parse("0123abcd-EF45-6789-aBcD-0123456789ef", id));
    const uint8_t want[16] = {0x01, 0x23, 0xab, 0xcd, 0xef, 0x45, 0x67, 0x89,
                              0xab, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xef};
    ASSERT_TRUE(memcmp(id, want, 16) == 0);
    hg_rankset_id_format(id, text);
    ASSERT_STR_EQ(text, "0123abcd-ef45-6789-abcd-0123456789ef");
    ASSERT_OK(hg_rankset_id_parse(text, back));
    ASSERT_TRUE(memcmp(back, id, 16) == 0);
    memset(id, 0xff, 16);
    hg_rankset_id_format(id, text);
    ASSERT_STR_EQ(text, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    static const char *const bad[] = {
        "",
        "0123abcd-ef45-6789-abcd-0123456789e",   /* 35 */
        "0123abcd-ef45-6789-abcd-0123456789ef0", /* 37 */
        "0123abcd-ef45-6789-abcd-0123456789eg",  /* not hex */
        "0123abcdef45-6789-abcd-0123456789ef-",  /* hyphen moved */
        "0123abcd-ef45-6789-abcd_0123456789ef",  /* not a hyphen */
        "0123abcdef4567890abcd0123456789ef012",  /* no hyphens */
        "0123abcdef456789abcd0123456789ef",      /* the 32-digit form */
        "{0123abcd-ef45-6789-abcd-0123456789ef}",
        " 0123abcd-ef45-6789-abcd-0123456789ef",
        "0123abcd-ef45-6789-abcd-0123456789ef\n",
        "0123abcd-+f45-6789-abcd-0123456789ef",
        "0123abc",
    };
    uint8_t untouched[16];
    memset(untouched, 0x5a, 16);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(id, untouched, 16);
        if (hg_rankset_id_parse(bad[i], id) != HG_EINVAL)
            HG_FAIL_("accepted \"%s\"", bad[i]);
        ASSERT_TRUE(memcmp(id, untouched, 16) == 0);
    }
}

/* ---- a million entries ---- */

#define BIG 1000000
#define BIG_UPDATES 100000

typedef struct big {
    uint8_t id[16];
    int64_t score, sub;
    uint64_t reached;
} big_t;

static int big_desc_cmp(const void *pa, const void *pb)
{
    const big_t *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->sub != b->sub)
        return a->sub > b->sub ? -1 : 1;
    if (a->reached != b->reached)
        return a->reached < b->reached ? -1 : 1;
    return memcmp(a->id, b->id, 16);
}

/* Insert 1,000,000 random entries (scores 0..99,999 so ties happen), update 100,000 of them,
 * then compare the whole order with a sorted copy and recount a sample of ranks by brute
 * force. Prints bytes per entry and the time per operation. */
HG_TEST(million)
{
    seed_rng("million", 0x5eed0003);
    big_t *all = malloc(BIG * sizeof(*all)); /* the test's own memory: not counted */
    size_t *probe = malloc(BIG_UPDATES * sizeof(*probe));
    ASSERT_NOT_NULL(all);
    ASSERT_NOT_NULL(probe);
    for (size_t i = 0; i < BIG; i++) {
        uint64_t a = rng(), b = rng();
        memcpy(all[i].id, &a, 8);
        memcpy(all[i].id + 8, &b, 8);
        all[i].score = (int64_t)rng_below(100000);
        all[i].sub = (int64_t)rng_below(4);
        all[i].reached = i;
    }
    size_t used0 = hg_alloc_used();
    hg_rankset_t *s = new_set(HG_RANKSET_DESC, HG_RANKSET_MAX);
    double t0 = now_s();
    for (size_t i = 0; i < BIG; i++)
        ASSERT_OK(
            hg_rankset_upsert(s, all[i].id, all[i].score, all[i].sub, all[i].reached, NULL, NULL));
    double t1 = now_s();
    size_t used1 = hg_alloc_used();
    ASSERT_EQ_INT(hg_rankset_count(s), BIG);

    uint64_t seq = BIG;
    for (size_t u = 0; u < BIG_UPDATES; u++) {
        size_t i = rng_below(BIG);
        all[i].score = (int64_t)rng_below(100000);
        all[i].sub = (int64_t)rng_below(4);
        all[i].reached = seq++;
        size_t rank;
        ASSERT_OK(
            hg_rankset_upsert(s, all[i].id, all[i].score, all[i].sub, all[i].reached, NULL, &rank));
        ASSERT_TRUE(rank >= 1 && rank <= BIG);
    }
    double t2 = now_s();
    for (size_t u = 0; u < BIG_UPDATES; u++)
        probe[u] = rng_below(BIG);
    size_t sum = 0;
    for (size_t u = 0; u < BIG_UPDATES; u++) {
        size_t rank = 0;
        ASSERT_NOT_NULL(hg_rankset_get(s, all[probe[u]].id, &rank));
        sum += rank;
    }
    double t3 = now_s();
    ASSERT_TRUE(sum > 0);

    printf("  %d entries: %.1f bytes per entry (hg_alloc_used %zu -> %zu)\n", BIG,
           (double)(used1 - used0) / BIG, used0, used1);
    printf("  %d inserts %.3f s (%.2f us each); %d updates with rank %.2f us each; %d ranks "
           "%.2f us each\n",
           BIG, t1 - t0, (t1 - t0) * 1e6 / BIG, BIG_UPDATES, (t2 - t1) * 1e6 / BIG_UPDATES,
           BIG_UPDATES, (t3 - t2) * 1e6 / BIG_UPDATES);

    /* brute-force recount of a sample: entries strictly better, plus one */
    for (int k = 0; k < 40; k++) {
        const big_t *x = &all[rng_below(BIG)];
        size_t better = 0, rank = 0;
        for (size_t i = 0; i < BIG; i++)
            better += big_desc_cmp(&all[i], x) < 0;
        ASSERT_NOT_NULL(hg_rankset_get(s, x->id, &rank));
        ASSERT_EQ_INT(rank, better + 1);
        hg_rankset_entry_t *e = hg_rankset_at(s, better + 1);
        ASSERT_TRUE(memcmp(e->id, x->id, 16) == 0);
    }
    /* the whole order against a sorted copy */
    qsort(all, BIG, sizeof(*all), big_desc_cmp);
    hg_rankset_iter_t it;
    hg_rankset_entry_t *e;
    size_t r = 0;
    for (hg_rankset_iter_init(s, 1, &it); (e = hg_rankset_iter_next(&it)) != NULL; r++) {
        if (memcmp(e->id, all[r].id, 16) != 0 || e->score != all[r].score ||
            e->reached != all[r].reached)
            HG_FAIL_("rank %zu differs from the sorted copy", r + 1);
    }
    ASSERT_EQ_INT(r, BIG);
    for (int k = 0; k < 1000; k++) {
        size_t rank = 1 + rng_below(BIG);
        ASSERT_TRUE(memcmp(hg_rankset_at(s, rank)->id, all[rank - 1].id, 16) == 0);
    }
    check_ok(s);
    ASSERT_TRUE((double)(used1 - used0) / BIG <= 64.0); /* the budget */
    hg_rankset_free(s);
    ASSERT_EQ_INT(hg_alloc_used(), used0);
    free(probe);
    free(all);
}

HG_SUITE(rankset) = {
    HG_CASE(model_desc),
    HG_CASE(model_asc),
    HG_CASE(empty_set),
    HG_CASE(single_entry_and_removed_id),
    HG_CASE(at_rank_and_range_bounds),
    HG_CASE(around_at_both_ends),
    HG_CASE(ties_subscore_reached_id),
    HG_CASE(extreme_scores),
    HG_CASE(limit),
    HG_CASE(iterate_to_free_ud),
    HG_CASE(id_text),
    HG_CASE(million),
    HG_CASE_END,
};
