/* hangar — the FlexMatch evaluator (contract in matcher.h, the language in docs/flexmatch.md).
 *
 * Design. A run is one matchmaker batch: a pure function from (rule set, pool, backfill
 * requests, now, budget) to proposals. Its work is bounded by the budget, not by the pool:
 *
 *   1. Resolve every ticket once: each player's declared attributes (defaults applied, types
 *      checked), latencies mapped to small Region ids, the party's sizes and ages. Tickets that
 *      can never match (a missing attribute without default, no latency under a latency rule, a
 *      party larger than every team) are set aside with their reason.
 *   2. Pick the locality order. Candidates for a match are walked in the order of the rule
 *      set's strongest hint, first that applies of: a string batchDistance attribute (buckets),
 *      a numeric batchDistance attribute (walk outward from the anchor's value, stop past
 *      maxDistance), the first sort rule, the balancedAttribute or sortByAttributes, the first
 *      number attribute a distance or comparison rule measures, and otherwise ticket age. The
 *      pool is sorted once by (bucket, key); the still-unmatched tickets form a doubly linked
 *      list over that order, so a walk never steps over matched tickets and matching a ticket
 *      unlinks it in O(1).
 *   3. Anchors are taken oldest first (backfill requests first, by age, or last, as
 *      backfillPriority says). For each anchor: gather a window of at most `window` candidates
 *      from the walk; fill the teams greedily (a party goes to the allowed team with the most
 *      open slots, teams under minPlayers first), refusing a candidate when a rule that can
 *      only get worse as players are added (batchDistance, comparison without reference,
 *      per-player checks, latency) already fails; when the teams are full (or the window is
 *      spent and every team has minPlayers) run a balance pass (longest-processing-time
 *      assignment of parties to teams by the balance attribute, keeping team sizes), then
 *      evaluate every rule. On failure, hill-climb over swaps and moves of parties between
 *      teams, guided by a "badness" each rule reports (how far outside its range), and as a
 *      last resort drop the latest candidate and refill. Every rule-set evaluation counts
 *      against the anchor's and the run's budget.
 *   4. Proposals record tickets in team order, the Region picked for latency rules (every
 *      player has a latency there within maxLatency; lowest maximum, then average latency, or
 *      the most populated Region under largestPopulation), and the expansion age used.
 *
 * Expressions are evaluated into values in a per-run arena (reset for each rule), so rule
 * evaluation allocates nothing; an expression that would overflow it fails its rule.
 * Nothing here reads a clock or keeps state between runs.
 */
#include "match/matcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/map.h"
#include "match/match_int.h"

#define ARENA_VALS 65536 /* values one rule evaluation may build */
#define MAX_SLOTS (HG_RULES_LARGE_MAX_PLAYERS + HG_MATCH_MAX_BACKFILL_PLAYERS)
#define HILL_ROUNDS 6
#define MAP_SCAN 1024 /* tickets scanned per anchor for a string_number_map sort */
#define MAX_REFILLS 4 /* drop-and-refill rounds per anchor */
#define MAX_REGIONS 65536

/* ---- resolved inputs ---- */

typedef struct aval {
    uint8_t ok;
    double n;
    const char *s;
    const char *const *sl;
    size_t nsl;
    const char *const *mk;
    const double *mv;
    size_t nmap;
} aval_t;

typedef struct lat {
    uint32_t region;
    double ms;
} lat_t;

typedef struct player {
    const char *id;
    aval_t *av;
    lat_t *lat;
    uint32_t nlat;
} player_t;

typedef struct tk {
    uint32_t first, np; /* players */
    int64_t age;
    double nkey, bkey;
    const char *skey;
    uint32_t team_ok; /* bit t: the party may play on team t */
    int32_t pos;      /* position in the locality order, -1 for backfill players */
    int fixed_team;   /* backfill players: their team; -1 for pool tickets */
    uint8_t state;
} tk_t;

/* ---- values ---- */

typedef enum vkind { V_NONE, V_NUM, V_STR, V_LIST, V_TEAM, V_PLAYER } vkind_t;

typedef struct val {
    uint8_t k;
    int32_t owner; /* the slot whose party produced it (party aggregation), -1 when computed */
    union {
        double n;
        const char *s;
        struct {
            struct val *it;
            uint32_t len;
        } l;
        uint32_t ix;
    };
} val_t;

/* ---- the match being built ---- */

typedef struct match {
    uint32_t tk[MAX_SLOTS];
    uint16_t team[MAX_SLOTS];
    size_t nslots;
    int count[HG_RULES_MAX_TEAMS];
    int players, fixed_players;
    int64_t age;
    uint32_t regs[HG_MATCH_MAX_LATENCIES];
    size_t nregs;
    int region; /* chosen at the end, -1 none */
} match_t;

typedef enum walk_mode { W_NEAR, W_FAR, W_ASC, W_DESC, W_MAP } walk_mode_t;

typedef struct work {
    const hg_rules_t *rs;
    size_t n, ntk, nord; /* pool tickets, with backfill players, in the locality order */
    tk_t *tk;
    player_t *pl;
    aval_t *av;
    lat_t *lats;
    size_t next_lat; /* the next free entry of lats */
    hg_map_t regions;
    const char **region_name;
    uint32_t *bf_region; /* per backfill request: its Region's id, UINT32_MAX when none */
    size_t *region_pop;
    size_t nregions;
    int has_latency, has_mono, has_per_player;
    /* locality */
    walk_mode_t mode;
    int key_attr, key_agg, str_attr, bal_attr, batch_rule, sort_rule;
    uint32_t *order;
    int32_t *nx, *pv, head, tail;
    /* evaluation */
    val_t *arena;
    size_t aused;
    val_t **leaves;
    size_t nleaves;
    match_t m;
    size_t window, per_anchor, max_evals, evals;
    int open_slots; /* AdditionalPlayerCount: a new match leaves this many players out */
    int exhausted;
    /* output */
    hg_match_result_t *out;
    size_t cap_matches, cap_tickets, ntickets;
} work_t;

/* ---- small helpers ---- */

static double expand(const work_t *w, const rule_t *r, rule_prop_t p)
{
    return hg_rules_expand_(w->rs, r->exp[p], r->prop[p], w->m.age);
}

static int team_max(const work_t *w, size_t t)
{
    return hg_rules_team_max(w->rs, t, w->m.age);
}

static int team_min(const work_t *w, size_t t)
{
    return hg_rules_team_min(w->rs, t, w->m.age);
}

static int target_players(const work_t *w)
{
    int sum = 0;
    for (size_t t = 0; t < w->rs->nteams; t++)
        sum += team_max(w, t);
    if (w->m.fixed_players == 0 && w->open_slots > 0) /* a new match, not a backfill */
        sum = sum - w->open_slots < 1 ? 1 : sum - w->open_slots;
    return sum > HG_RULES_LARGE_MAX_PLAYERS ? HG_RULES_LARGE_MAX_PLAYERS : sum;
}

static double agg_num(const double *v, size_t n, int agg)
{
    double acc = agg == AGG_MIN ? INFINITY : agg == AGG_MAX ? -INFINITY : 0;
    for (size_t i = 0; i < n; i++) {
        if (agg == AGG_MIN)
            acc = v[i] < acc ? v[i] : acc;
        else if (agg == AGG_MAX)
            acc = v[i] > acc ? v[i] : acc;
        else
            acc += v[i];
    }
    return agg == AGG_MIN || agg == AGG_MAX ? acc : acc / (double)n;
}

/* A party's number attribute a, aggregated. */
static double party_num(const work_t *w, const tk_t *t, int a, int agg)
{
    double v[HG_MATCH_MAX_BACKFILL_PLAYERS];
    size_t n = 0;
    for (uint32_t p = 0; p < t->np && n < HG_MATCH_MAX_BACKFILL_PLAYERS; p++)
        v[n++] = w->pl[t->first + p].av[a].n;
    return agg_num(v, n, agg);
}

/* A party's latency to region r aggregated by agg; 0 when a player has none there. */
static int party_lat(const work_t *w, const tk_t *t, uint32_t r, int agg, double *ms)
{
    double v[HG_MATCH_MAX_BACKFILL_PLAYERS];
    size_t n = 0;
    for (uint32_t p = 0; p < t->np; p++) {
        const player_t *pl = &w->pl[t->first + p];
        size_t lo = 0, hi = pl->nlat;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pl->lat[mid].region < r)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == pl->nlat || pl->lat[lo].region != r)
            return 0;
        v[n++] = pl->lat[lo].ms;
    }
    *ms = agg_num(v, n, agg);
    return 1;
}

/* ---- expression evaluation ---- */

static val_t *vals(work_t *w, size_t n)
{
    if (n > ARENA_VALS - w->aused)
        return NULL;
    val_t *v = w->arena + w->aused;
    w->aused += n;
    return v;
}

/* The players of team t: a list of V_PLAYER values owned by their slots. */
static int team_players(work_t *w, uint32_t t, val_t *out)
{
    const match_t *m = &w->m;
    size_t n = 0;
    for (size_t s = 0; s < m->nslots; s++)
        if (m->team[s] == t)
            n += w->tk[m->tk[s]].np;
    val_t *it = vals(w, n ? n : 1);
    if (it == NULL)
        return -1;
    size_t k = 0;
    for (size_t s = 0; s < m->nslots; s++) {
        if (m->team[s] != t)
            continue;
        const tk_t *tk = &w->tk[m->tk[s]];
        for (uint32_t p = 0; p < tk->np; p++)
            it[k++] = (val_t){.k = V_PLAYER, .owner = (int32_t)s, .ix = tk->first + p};
    }
    *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, (uint32_t)n}};
    return 0;
}

/* Map fn over the list levels of v down to the element level. */
typedef int (*elem_fn)(work_t *w, const rx_t *x, const val_t *in, val_t *out);

static int map_elems(work_t *w, const rx_t *x, const val_t *v, elem_fn f, val_t *out)
{
    if (v->k != V_LIST)
        return f(w, x, v, out);
    val_t *it = vals(w, v->l.len ? v->l.len : 1);
    if (it == NULL)
        return -1;
    for (uint32_t i = 0; i < v->l.len; i++)
        if (map_elems(w, x, &v->l.it[i], f, &it[i]) != 0)
            return -1;
    *out = (val_t){.k = V_LIST, .owner = v->owner, .l = {it, v->l.len}};
    return 0;
}

static int el_players(work_t *w, const rx_t *x, const val_t *in, val_t *out)
{
    (void)x;
    if (in->k != V_TEAM) {
        *out = (val_t){.k = V_NONE, .owner = -1};
        return 0;
    }
    return team_players(w, in->ix, out);
}

static int el_attr(work_t *w, const rx_t *x, const val_t *in, val_t *out)
{
    *out = (val_t){.k = V_NONE, .owner = in->owner};
    if (in->k != V_PLAYER)
        return 0;
    const aval_t *a = &w->pl[in->ix].av[x->attr];
    if (!a->ok)
        return 0;
    switch (w->rs->attrs[x->attr].type) {
    case HG_RULES_ATTR_NUMBER:
        out->k = V_NUM;
        out->n = a->n;
        break;
    case HG_RULES_ATTR_STRING:
        out->k = V_STR;
        out->s = a->s;
        break;
    case HG_RULES_ATTR_STRING_LIST: {
        val_t *it = vals(w, a->nsl ? a->nsl : 1);
        if (it == NULL)
            return -1;
        for (size_t i = 0; i < a->nsl; i++)
            it[i] = (val_t){.k = V_STR, .owner = in->owner, .s = a->sl[i]};
        *out = (val_t){.k = V_LIST, .owner = in->owner, .l = {it, (uint32_t)a->nsl}};
        break;
    }
    case HG_RULES_ATTR_STRING_NUMBER_MAP: break;
    }
    return 0;
}

static int el_id(work_t *w, const rx_t *x, const val_t *in, val_t *out)
{
    (void)x;
    *out = (val_t){.k = V_NONE, .owner = in->owner};
    if (in->k == V_PLAYER) {
        out->k = V_STR;
        out->s = w->pl[in->ix].id;
    }
    return 0;
}

static int cmp_num(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int str_in(const val_t *list, const char *s)
{
    for (uint32_t i = 0; i < list->l.len; i++)
        if (list->l.it[i].k == V_STR && strcmp(list->l.it[i].s, s) == 0)
            return 1;
    return 0;
}

/* Apply fn at its own level (a list of numbers, or a list of lists for flatten and
 * set_intersection). */
static int apply_core(work_t *w, rx_fn_t fn, const val_t *v, val_t *out)
{
    *out = (val_t){.k = V_NUM, .owner = -1, .n = NAN};
    if (v->k != V_LIST)
        return 0;
    uint32_t n = v->l.len;
    if (fn == FN_COUNT) {
        out->n = n;
        return 0;
    }
    if (fn == FN_FLATTEN) {
        size_t total = 0;
        for (uint32_t i = 0; i < n; i++)
            total += v->l.it[i].k == V_LIST ? v->l.it[i].l.len : 0;
        val_t *it = vals(w, total ? total : 1);
        if (it == NULL)
            return -1;
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++)
            if (v->l.it[i].k == V_LIST)
                for (uint32_t j = 0; j < v->l.it[i].l.len; j++)
                    it[k++] = v->l.it[i].l.it[j];
        *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, (uint32_t)total}};
        return 0;
    }
    if (fn == FN_SET_INTERSECTION) {
        const val_t *first = n && v->l.it[0].k == V_LIST ? &v->l.it[0] : NULL;
        size_t cap = first ? first->l.len : 0;
        val_t *it = vals(w, cap ? cap : 1);
        if (it == NULL)
            return -1;
        uint32_t k = 0;
        for (uint32_t i = 0; i < cap; i++) {
            const char *s = first->l.it[i].s;
            int keep = first->l.it[i].k == V_STR;
            for (uint32_t j = 1; j < n && keep; j++)
                keep = v->l.it[j].k == V_LIST && str_in(&v->l.it[j], s);
            for (uint32_t j = 0; j < k && keep; j++)
                keep = strcmp(it[j].s, s) != 0;
            if (keep)
                it[k++] = (val_t){.k = V_STR, .owner = -1, .s = s};
        }
        *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, k}};
        return 0;
    }
    /* numeric aggregations; non-numbers (missing values) are skipped. The scratch numbers
     * borrow arena values: a val_t is at least as large and as aligned as a double, so
     * n / 2 + 2 values hold n doubles. */
    _Static_assert(sizeof(val_t) >= 2 * sizeof(double), "val_t holds two doubles");
    double *num = (double *)vals(w, n / 2 + 2);
    if (num == NULL)
        return -1;
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (v->l.it[i].k == V_NUM && !isnan(v->l.it[i].n))
            num[m++] = v->l.it[i].n;
    if (m == 0) {
        out->n = fn == FN_SUM ? 0 : NAN;
        return 0;
    }
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        sum += num[i];
        mn = num[i] < mn ? num[i] : mn;
        mx = num[i] > mx ? num[i] : mx;
    }
    switch (fn) {
    case FN_MIN: out->n = mn; break;
    case FN_MAX: out->n = mx; break;
    case FN_SUM: out->n = sum; break;
    case FN_AVG: out->n = sum / (double)m; break;
    case FN_MEDIAN:
        qsort(num, m, sizeof(*num), cmp_num);
        out->n = m % 2 ? num[m / 2] : (num[m / 2 - 1] + num[m / 2]) / 2;
        break;
    case FN_STDDEV: {
        double mean = sum / (double)m, sq = 0;
        for (size_t i = 0; i < m; i++)
            sq += (num[i] - mean) * (num[i] - mean);
        out->n = sqrt(sq / (double)m);
        break;
    }
    default: break;
    }
    return 0;
}

/* Map fn over the outer levels of v (static depth d) down to its core level. */
static int apply_fn(work_t *w, rx_fn_t fn, const val_t *v, int d, val_t *out)
{
    int core = fn == FN_FLATTEN || fn == FN_SET_INTERSECTION ? 2 : 1;
    if (d <= core || v->k != V_LIST)
        return apply_core(w, fn, v, out);
    val_t *it = vals(w, v->l.len ? v->l.len : 1);
    if (it == NULL)
        return -1;
    for (uint32_t i = 0; i < v->l.len; i++)
        if (apply_fn(w, fn, &v->l.it[i], d - 1, &it[i]) != 0)
            return -1;
    *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, v->l.len}};
    return 0;
}

static int ev(work_t *w, const rx_t *x, val_t *out)
{
    val_t in;
    switch ((rx_kind_t)x->kind) {
    case RX_NUM: *out = (val_t){.k = V_NUM, .owner = -1, .n = x->num}; return 0;
    case RX_STR: *out = (val_t){.k = V_STR, .owner = -1, .s = x->str}; return 0;
    case RX_LIST: {
        val_t *it = vals(w, x->nitems);
        if (it == NULL)
            return -1;
        for (size_t i = 0; i < x->nitems; i++)
            ev(w, x->items[i], &it[i]);
        *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, (uint32_t)x->nitems}};
        return 0;
    }
    case RX_TEAMS: {
        if (x->depth == 0) {
            *out = (val_t){.k = V_TEAM, .owner = -1, .ix = x->teams[0]};
            return 0;
        }
        val_t *it = vals(w, x->nteams);
        if (it == NULL)
            return -1;
        for (size_t i = 0; i < x->nteams; i++)
            it[i] = (val_t){.k = V_TEAM, .owner = -1, .ix = x->teams[i]};
        *out = (val_t){.k = V_LIST, .owner = -1, .l = {it, (uint32_t)x->nteams}};
        return 0;
    }
    case RX_PLAYERS:
        if (ev(w, x->kid, &in) != 0)
            return -1;
        return map_elems(w, x, &in, el_players, out);
    case RX_ATTR:
        if (ev(w, x->kid, &in) != 0)
            return -1;
        return map_elems(w, x, &in, el_attr, out);
    case RX_PLAYERID:
        if (ev(w, x->kid, &in) != 0)
            return -1;
        return map_elems(w, x, &in, el_id, out);
    case RX_FUNC:
        if (ev(w, x->kid, &in) != 0)
            return -1;
        return apply_fn(w, (rx_fn_t)x->fn, &in, x->kid->depth, out);
    }
    return -1;
}

/* Append the scalar leaves of v (numbers and strings) to w->leaves. */
static void leaves(work_t *w, val_t *v)
{
    if (v->k == V_LIST) {
        for (uint32_t i = 0; i < v->l.len; i++)
            leaves(w, &v->l.it[i]);
    } else if ((v->k == V_NUM || v->k == V_STR) && w->nleaves < ARENA_VALS) {
        w->leaves[w->nleaves++] = v;
    }
}

/* Collapse runs of number leaves owned by one party into one value (partyAggregation). */
static void collapse(work_t *w, int agg)
{
    size_t out = 0;
    for (size_t i = 0; i < w->nleaves;) {
        val_t *v = w->leaves[i];
        size_t j = i + 1;
        if (v->k == V_NUM && v->owner >= 0) {
            double acc = v->n, mn = v->n, mx = v->n;
            while (j < w->nleaves && w->leaves[j]->k == V_NUM && w->leaves[j]->owner == v->owner) {
                acc += w->leaves[j]->n;
                mn = w->leaves[j]->n < mn ? w->leaves[j]->n : mn;
                mx = w->leaves[j]->n > mx ? w->leaves[j]->n : mx;
                j++;
            }
            v->n = agg == AGG_MIN ? mn : agg == AGG_MAX ? mx : acc / (double)(j - i);
        }
        w->leaves[out++] = v;
        i = j;
    }
    w->nleaves = out;
}

/* ---- rules ---- */

static int measure(work_t *w, const rule_t *r)
{
    w->nleaves = 0;
    for (size_t i = 0; i < r->nmeas; i++) {
        val_t v;
        if (ev(w, r->meas[i], &v) != 0)
            return -1;
        val_t *keep = vals(w, 1);
        if (keep == NULL)
            return -1;
        *keep = v;
        leaves(w, keep);
    }
    return 0;
}

/* The reference value: the (expanded) literal, or the expression evaluated on the match. */
static int reference(work_t *w, const rule_t *r, val_t *out)
{
    if (r->ref->kind == RX_NUM) {
        *out = (val_t){.k = V_NUM, .owner = -1, .n = expand(w, r, P_REFERENCE)};
        return 0;
    }
    return ev(w, r->ref, out);
}

static int cmp_ok(int op, int c)
{
    switch (op) {
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static int leaf_cmp(const val_t *a, const val_t *b)
{
    if (a->k == V_STR && b->k == V_STR)
        return strcmp(a->s, b->s);
    if (a->k == V_NUM && b->k == V_NUM)
        return (a->n > b->n) - (a->n < b->n);
    return 2; /* incomparable */
}

static int rule_comparison(work_t *w, const rule_t *r, double *bad)
{
    if (measure(w, r) != 0)
        return 0;
    if (r->ref == NULL) { /* = : all equal; != : all different */
        for (size_t i = 1; i < w->nleaves && r->op == OP_EQ; i++)
            *bad += leaf_cmp(w->leaves[0], w->leaves[i]) != 0;
        for (size_t i = 0; i < w->nleaves && r->op == OP_NE; i++)
            for (size_t j = 0; j < i; j++)
                *bad += leaf_cmp(w->leaves[j], w->leaves[i]) == 0;
        return *bad == 0;
    }
    val_t ref;
    if (reference(w, r, &ref) != 0 || (ref.k == V_NUM && isnan(ref.n))) {
        *bad += 1;
        return 0;
    }
    collapse(w, r->agg);
    for (size_t i = 0; i < w->nleaves; i++) {
        const val_t *v = w->leaves[i];
        int c = leaf_cmp(v, &ref);
        if (c == 2 || (v->k == V_NUM && isnan(v->n)))
            *bad += 1;
        else if (!cmp_ok(r->op, c))
            *bad += v->k == V_NUM ? 1 + fabs(v->n - ref.n) : 1;
    }
    return *bad == 0;
}

static int rule_distance(work_t *w, const rule_t *r, double *bad)
{
    val_t ref;
    if (measure(w, r) != 0 || reference(w, r, &ref) != 0 || ref.k != V_NUM || isnan(ref.n)) {
        *bad += 1;
        return 0;
    }
    collapse(w, r->agg);
    double lo = r->has[P_MIN_DISTANCE] ? expand(w, r, P_MIN_DISTANCE) : 0;
    double hi = r->has[P_MAX_DISTANCE] ? expand(w, r, P_MAX_DISTANCE) : INFINITY;
    for (size_t i = 0; i < w->nleaves; i++) {
        const val_t *v = w->leaves[i];
        if (v->k != V_NUM || isnan(v->n)) {
            *bad += 1;
            continue;
        }
        double d = fabs(v->n - ref.n);
        if (d > hi)
            *bad += d - hi + 1e-9;
        else if (d < lo)
            *bad += lo - d + 1e-9;
    }
    return *bad == 0;
}

/* The string lists of v (static depth d >= 2): its depth-1 lists. */
static void string_lists(work_t *w, val_t *v, int d)
{
    if (v->k != V_LIST)
        return;
    if (d == 1) {
        if (w->nleaves < ARENA_VALS)
            w->leaves[w->nleaves++] = v;
        return;
    }
    for (uint32_t i = 0; i < v->l.len; i++)
        string_lists(w, &v->l.it[i], d - 1);
}

/* Merge runs of lists owned by one party (union or intersection). */
static int merge_party_lists(work_t *w, int agg)
{
    size_t out = 0;
    for (size_t i = 0; i < w->nleaves;) {
        val_t *v = w->leaves[i];
        size_t j = i + 1;
        while (v->owner >= 0 && j < w->nleaves && w->leaves[j]->owner == v->owner)
            j++;
        if (j > i + 1) {
            size_t cap = 0;
            for (size_t k = i; k < j; k++)
                cap += w->leaves[k]->l.len;
            val_t *it = vals(w, cap ? cap : 1), *nv = vals(w, 1);
            if (it == NULL || nv == NULL)
                return -1;
            uint32_t n = 0;
            for (size_t k = i; k < j; k++)
                for (uint32_t e = 0; e < w->leaves[k]->l.len; e++) {
                    const char *s = w->leaves[k]->l.it[e].s;
                    int keep = 1;
                    for (uint32_t q = 0; q < n && keep; q++)
                        keep = strcmp(it[q].s, s) != 0;
                    for (size_t o = i; o < j && keep && agg == AGG_INTERSECTION; o++)
                        keep = str_in(w->leaves[o], s);
                    if (keep)
                        it[n++] = w->leaves[k]->l.it[e];
                }
            *nv = (val_t){.k = V_LIST, .owner = v->owner, .l = {it, n}};
            v = nv;
        }
        w->leaves[out++] = v;
        i = j;
    }
    w->nleaves = out;
    return 0;
}

static int rule_collection(work_t *w, const rule_t *r, double *bad)
{
    w->nleaves = 0;
    for (size_t i = 0; i < r->nmeas; i++) {
        val_t *v = vals(w, 1);
        if (v == NULL || ev(w, r->meas[i], v) != 0) {
            *bad += 1;
            return 0;
        }
        string_lists(w, v, r->meas[i]->depth);
    }
    val_t ref = {.k = V_NONE};
    if ((r->ref && ev(w, r->ref, &ref) != 0) || merge_party_lists(w, r->agg) != 0) {
        *bad += 1;
        return 0;
    }
    double lo = r->has[P_MIN_COUNT] ? expand(w, r, P_MIN_COUNT) : 0;
    double hi = r->has[P_MAX_COUNT] ? expand(w, r, P_MAX_COUNT) : INFINITY;
    size_t n = w->nleaves;
    double count = 0;
    if (r->coll_op == COLL_INTERSECTION) {
        const val_t *first = n ? w->leaves[0] : NULL;
        for (uint32_t e = 0; first && e < first->l.len; e++) {
            const char *s = first->l.it[e].s;
            int keep = 1;
            for (uint32_t q = 0; q < e && keep; q++)
                keep = strcmp(first->l.it[q].s, s) != 0;
            for (size_t k = 1; k < n && keep; k++)
                keep = str_in(w->leaves[k], s);
            count += keep;
        }
    } else if (r->coll_op == COLL_CONTAINS) {
        for (size_t k = 0; k < n; k++)
            count += ref.k == V_STR && str_in(w->leaves[k], ref.s);
    } else {
        for (size_t k = 0; k < n; k++) {
            double c = 0;
            for (uint32_t e = 0; e < w->leaves[k]->l.len; e++) {
                const char *s = w->leaves[k]->l.it[e].s;
                c += ref.k == V_STR ? strcmp(ref.s, s) == 0 : ref.k == V_LIST && str_in(&ref, s);
            }
            if (c < lo || c > hi)
                *bad += c < lo ? lo - c : c - hi;
        }
        return *bad == 0;
    }
    if (count < lo || count > hi)
        *bad += count < lo ? lo - count : count - hi;
    return *bad == 0;
}

static int rule_batch(work_t *w, const rule_t *r, double *bad)
{
    const match_t *m = &w->m;
    if (w->rs->attrs[r->attr].type == HG_RULES_ATTR_STRING) {
        const char *first = NULL;
        for (size_t s = 0; s < m->nslots; s++) {
            const tk_t *t = &w->tk[m->tk[s]];
            for (uint32_t p = 0; p < t->np; p++) {
                const char *v = w->pl[t->first + p].av[r->attr].s;
                if (v == NULL || (first && strcmp(first, v) != 0))
                    *bad += 1;
                else
                    first = v;
            }
        }
        return *bad == 0;
    }
    double mn = INFINITY, mx = -INFINITY;
    for (size_t s = 0; s < m->nslots; s++) {
        double v = party_num(w, &w->tk[m->tk[s]], r->attr, r->agg);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    double d = m->nslots ? mx - mn : 0, hi = expand(w, r, P_MAX_DISTANCE);
    if (d > hi)
        *bad += d - hi + 1e-9;
    return *bad == 0;
}

static int rule_ok(work_t *w, const rule_t *r, double *bad);

static int stmt_ok(work_t *w, const stmt_t *s, double *bad)
{
    double scratch = 0;
    int any = 0, all = 1, ones = 0;
    switch ((stmt_op_t)s->op) {
    case S_RULE: return rule_ok(w, &w->rs->rules[s->rule], bad);
    case S_NOT:
        if (!stmt_ok(w, s->kids[0], &scratch))
            return 1;
        *bad += 1;
        return 0;
    default: break;
    }
    double best = INFINITY, sum = 0;
    for (size_t i = 0; i < s->nkids; i++) {
        double b = 0;
        int ok = stmt_ok(w, s->kids[i], &b);
        any |= ok;
        all &= ok;
        ones += ok;
        sum += b;
        best = b < best ? b : best;
    }
    int ok = s->op == S_AND ? all : s->op == S_OR ? any : ones == 1;
    if (!ok)
        *bad += s->op == S_AND ? sum : s->op == S_OR ? best : 1;
    return ok;
}

/* Evaluate rule r on the current match; *bad grows by how far it is from passing. */
static int rule_ok(work_t *w, const rule_t *r, double *bad)
{
    w->aused = 0;
    double b = 0;
    int ok = 1;
    switch ((rule_type_t)r->type) {
    case R_COMPARISON: ok = rule_comparison(w, r, &b); break;
    case R_DISTANCE: ok = rule_distance(w, r, &b); break;
    case R_COLLECTION: ok = rule_collection(w, r, &b); break;
    case R_BATCH_DISTANCE: ok = rule_batch(w, r, &b); break;
    case R_COMPOUND: ok = stmt_ok(w, r->stmt, &b); break;
    default: break; /* latency: the Region choice; sorts never reject */
    }
    if (!ok && b <= 0)
        b = 1;
    *bad += ok ? 0 : b;
    return ok;
}

/* ---- Regions ---- */

/* A backfill's current player without latency data (StartMatchBackfill sends latency only for
 * the session's Region, if at all): latency rules do not judge them. */
static int unjudged(const work_t *w, const tk_t *t)
{
    return t->fixed_team >= 0 && w->pl[t->first].nlat == 0;
}

/* May party t play in region r under every latency rule's maxLatency? */
static int region_ok(work_t *w, const tk_t *t, uint32_t r)
{
    if (unjudged(w, t))
        return 1;
    for (size_t i = 0; i < w->rs->nrules; i++) {
        const rule_t *rl = &w->rs->rules[i];
        double ms;
        if (rl->type != R_LATENCY)
            continue;
        if (!party_lat(w, t, r, rl->agg, &ms) || ms > expand(w, rl, P_MAX_LATENCY))
            return 0;
    }
    return 1;
}

/* Narrow the match's Regions to those party t allows: 0 when none would remain. */
static int narrow_regions(work_t *w, match_t *m, const tk_t *t, int apply)
{
    size_t keep = 0;
    uint32_t regs[HG_MATCH_MAX_LATENCIES];
    for (size_t i = 0; i < m->nregs; i++)
        if (region_ok(w, t, m->regs[i]))
            regs[keep++] = m->regs[i];
    if (keep == 0)
        return 0;
    if (apply) {
        memcpy(m->regs, regs, keep * sizeof(*regs));
        m->nregs = keep;
    }
    return 1;
}

/* The maxDistance part of latency rules in region r (distance from distanceReference, or from
 * the lowest latency in the match). */
static int region_spread_ok(work_t *w, uint32_t r)
{
    const match_t *m = &w->m;
    for (size_t i = 0; i < w->rs->nrules; i++) {
        const rule_t *rl = &w->rs->rules[i];
        if (rl->type != R_LATENCY || !rl->has[P_MAX_DISTANCE])
            continue;
        double lo = INFINITY, ms, ref, maxd = expand(w, rl, P_MAX_DISTANCE);
        for (size_t s = 0; s < m->nslots; s++)
            if (party_lat(w, &w->tk[m->tk[s]], r, rl->agg, &ms) && ms < lo)
                lo = ms;
        ref = rl->has[P_REFERENCE] ? expand(w, rl, P_REFERENCE) : lo;
        for (size_t s = 0; s < m->nslots; s++) {
            const tk_t *t = &w->tk[m->tk[s]];
            if (!unjudged(w, t) && (!party_lat(w, t, r, rl->agg, &ms) || fabs(ms - ref) > maxd))
                return 0;
        }
    }
    return 1;
}

/* Pick the match's Region: -1 when no Region passes every latency rule. */
static int pick_region(work_t *w)
{
    const match_t *m = &w->m;
    int best = -1;
    double best_max = 0, best_avg = 0;
    size_t best_pop = 0;
    for (size_t i = 0; i < m->nregs; i++) {
        uint32_t r = m->regs[i];
        double mx = 0, sum = 0, ms;
        size_t n = 0;
        int ok = region_spread_ok(w, r);
        for (size_t s = 0; s < m->nslots && ok; s++) {
            const tk_t *t = &w->tk[m->tk[s]];
            if (unjudged(w, t))
                continue;
            ok = region_ok(w, t, r) && party_lat(w, t, r, AGG_MAX, &ms);
            if (ok) {
                mx = ms > mx ? ms : mx;
                sum += ms;
                n++;
            }
        }
        if (!ok)
            continue;
        double avg = n ? sum / (double)n : 0;
        size_t pop = w->rs->batching == BATCH_LARGEST_POPULATION ? w->region_pop[r] : 0;
        int better =
            best < 0 || pop > best_pop ||
            (pop == best_pop &&
             (mx < best_max ||
              (mx == best_max &&
               (avg < best_avg ||
                (avg == best_avg && strcmp(w->region_name[r], w->region_name[best]) < 0)))));
        if (better) {
            best = (int)r;
            best_max = mx;
            best_avg = avg;
            best_pop = pop;
        }
    }
    return best;
}

/* ---- evaluating the whole match ---- */

static int budget_left(work_t *w)
{
    if (w->evals >= w->max_evals)
        w->exhausted = 1;
    return !w->exhausted;
}

/* Every rule, and the Region: 1 when the match passes; *bad says how far it is otherwise. */
static int eval_all(work_t *w, double *bad)
{
    const hg_rules_t *rs = w->rs;
    int ok = 1;
    *bad = 0;
    w->evals++;
    for (size_t i = 0; i < rs->nrules; i++)
        if (!rs->rules[i].in_compound && !rule_ok(w, &rs->rules[i], bad))
            ok = 0;
    w->m.region = -1;
    if (w->has_latency) {
        w->m.region = pick_region(w);
        if (w->m.region < 0) {
            *bad += 1;
            ok = 0;
        }
    }
    return ok;
}

/* The rules that can only get worse as players join (checked while filling). */
static int mono_ok(work_t *w, int per_player_only)
{
    const hg_rules_t *rs = w->rs;
    double bad = 0;
    w->evals++;
    for (size_t i = 0; i < rs->nrules; i++) {
        const rule_t *r = &rs->rules[i];
        if (r->in_compound || r->type == R_LATENCY || !r->monotone)
            continue;
        if (per_player_only && !r->per_player)
            continue;
        if (!rule_ok(w, r, &bad))
            return 0;
    }
    return 1;
}

/* ---- building a match ---- */

static void recompute_age(work_t *w)
{
    match_t *m = &w->m;
    int64_t age = -1;
    for (size_t s = 0; s < m->nslots; s++) {
        int64_t a = w->tk[m->tk[s]].age;
        if (age < 0 || (w->rs->age_oldest ? a > age : a < age))
            age = a;
    }
    m->age = age < 0 ? 0 : age;
}

static void slot_add(work_t *w, uint32_t t, int team)
{
    match_t *m = &w->m;
    m->tk[m->nslots] = t;
    m->team[m->nslots++] = (uint16_t)team;
    m->count[team] += (int)w->tk[t].np;
    m->players += (int)w->tk[t].np;
    recompute_age(w);
}

static void slot_pop(work_t *w)
{
    match_t *m = &w->m;
    m->nslots--;
    m->count[m->team[m->nslots]] -= (int)w->tk[m->tk[m->nslots]].np;
    m->players -= (int)w->tk[m->tk[m->nslots]].np;
    recompute_age(w);
}

static void slot_move(work_t *w, size_t s, int team)
{
    match_t *m = &w->m;
    m->count[m->team[s]] -= (int)w->tk[m->tk[s]].np;
    m->team[s] = (uint16_t)team;
    m->count[team] += (int)w->tk[m->tk[s]].np;
}

/* Place party t in a team: those under minPlayers first, then the most open slots. Checks the
 * monotone rules. Returns 1 when placed. */
static int place(work_t *w, uint32_t t)
{
    match_t *m = &w->m;
    const tk_t *tk = &w->tk[t];
    size_t nt = w->rs->nteams;
    int tried[HG_RULES_MAX_TEAMS] = {0};
    if (m->players + (int)tk->np > target_players(w) || m->nslots >= MAX_SLOTS)
        return 0;
    if (w->has_latency && !narrow_regions(w, m, tk, 0))
        return 0;
    for (size_t round = 0; round < nt; round++) {
        int best = -1, best_under = 0, best_open = 0;
        for (size_t i = 0; i < nt; i++) {
            int open = team_max(w, i) - m->count[i];
            if (tried[i] || !(tk->team_ok >> i & 1) || open < (int)tk->np)
                continue;
            int under = m->count[i] < team_min(w, i);
            if (best < 0 || under > best_under || (under == best_under && open > best_open)) {
                best = (int)i;
                best_under = under;
                best_open = open;
            }
        }
        if (best < 0)
            return 0;
        tried[best] = 1;
        slot_add(w, t, best);
        if (!w->has_mono || mono_ok(w, 0)) {
            if (w->has_latency)
                narrow_regions(w, m, tk, 1);
            return 1;
        }
        slot_pop(w);
    }
    return 0;
}

static int by_bkey_desc(const void *a, const void *b, void *arg)
{
    const work_t *w = arg;
    const tk_t *x = &w->tk[*(const uint32_t *)a], *y = &w->tk[*(const uint32_t *)b];
    if (x->np != y->np)
        return x->np > y->np ? -1 : 1;
    return (x->bkey < y->bkey) - (x->bkey > y->bkey);
}

/* Longest-processing-time assignment of the movable parties to teams by the balance key,
 * keeping each team's player count. Leaves the match unchanged when the parties do not fit. */
static void balance(work_t *w)
{
    match_t *m = &w->m;
    size_t nt = w->rs->nteams, nmov = 0;
    if (w->bal_attr < 0)
        return;
    uint32_t mov[MAX_SLOTS];
    int want[HG_RULES_MAX_TEAMS], have[HG_RULES_MAX_TEAMS] = {0};
    double sum[HG_RULES_MAX_TEAMS] = {0};
    memcpy(want, m->count, sizeof(want));
    for (size_t s = 0; s < m->nslots; s++) {
        const tk_t *t = &w->tk[m->tk[s]];
        if (t->fixed_team >= 0) {
            have[m->team[s]] += (int)t->np;
            sum[m->team[s]] += t->bkey;
        } else {
            mov[nmov++] = (uint32_t)s;
        }
    }
    uint32_t ord[MAX_SLOTS];
    for (size_t i = 0; i < nmov; i++)
        ord[i] = m->tk[mov[i]];
    qsort_r(ord, nmov, sizeof(*ord), by_bkey_desc, w);
    uint16_t nteam[MAX_SLOTS];
    uint8_t used[MAX_SLOTS] = {0};
    for (size_t i = 0; i < nmov; i++) {
        const tk_t *t = &w->tk[ord[i]];
        int best = -1;
        for (size_t k = 0; k < nt; k++) {
            if (have[k] + (int)t->np > want[k] || !(t->team_ok >> k & 1))
                continue;
            if (best < 0 || sum[k] < sum[best] ||
                (sum[k] == sum[best] && want[k] - have[k] > want[best] - have[best]))
                best = (int)k;
        }
        if (best < 0)
            return; /* does not fit: keep the fill's assignment */
        have[best] += (int)t->np;
        sum[best] += t->bkey;
        /* find the slot of this ticket that is not yet reassigned */
        for (size_t j = 0; j < nmov; j++)
            if (!used[j] && m->tk[mov[j]] == ord[i]) {
                used[j] = 1;
                nteam[j] = (uint16_t)best;
                break;
            }
    }
    for (size_t j = 0; j < nmov; j++)
        slot_move(w, mov[j], nteam[j]);
}

/* Swaps and moves of parties between teams, keeping the best; 1 when the match passes. */
static int hill_climb(work_t *w, double bad, size_t limit)
{
    match_t *m = &w->m;
    size_t nt = w->rs->nteams;
    for (int round = 0; round < HILL_ROUNDS; round++) {
        double best = bad, b;
        size_t bi = 0, bj = 0;
        int kind = 0; /* 1 swap slots bi, bj; 2 move slot bi to team bj */
        for (size_t i = 0; i < m->nslots; i++) {
            const tk_t *ti = &w->tk[m->tk[i]];
            if (ti->fixed_team >= 0)
                continue;
            for (size_t j = i + 1; j < m->nslots; j++) {
                const tk_t *tj = &w->tk[m->tk[j]];
                int a = m->team[i], c = m->team[j];
                if (tj->fixed_team >= 0 || a == c || !(ti->team_ok >> c & 1) ||
                    !(tj->team_ok >> a & 1))
                    continue;
                if (m->count[a] - (int)ti->np + (int)tj->np > team_max(w, a) ||
                    m->count[c] - (int)tj->np + (int)ti->np > team_max(w, c))
                    continue;
                if (w->evals >= limit || !budget_left(w))
                    return 0;
                slot_move(w, i, c);
                slot_move(w, j, a);
                int ok = eval_all(w, &b);
                slot_move(w, i, a);
                slot_move(w, j, c);
                if (ok || b < best) {
                    best = ok ? -1 : b;
                    bi = i;
                    bj = j;
                    kind = 1;
                    if (ok)
                        goto apply;
                }
            }
            for (size_t k = 0; k < nt; k++) {
                int a = m->team[i];
                if ((int)k == a || !(ti->team_ok >> k & 1) ||
                    m->count[k] + (int)ti->np > team_max(w, k) ||
                    m->count[a] - (int)ti->np < team_min(w, (size_t)a))
                    continue;
                if (w->evals >= limit || !budget_left(w))
                    return 0;
                slot_move(w, i, (int)k);
                int ok = eval_all(w, &b);
                slot_move(w, i, a);
                if (ok || b < best) {
                    best = ok ? -1 : b;
                    bi = i;
                    bj = k;
                    kind = 2;
                    if (ok)
                        goto apply;
                }
            }
        }
    apply:
        if (kind == 0)
            return 0;
        if (kind == 1) {
            int a = m->team[bi];
            slot_move(w, bi, m->team[bj]);
            slot_move(w, bj, a);
        } else {
            slot_move(w, bi, (int)bj);
        }
        if (best < 0)
            return eval_all(w, &b);
        bad = best;
    }
    return 0;
}

/* Remove slot s (the last slot takes its place). */
static void slot_remove(work_t *w, size_t s)
{
    match_t *m = &w->m;
    uint32_t t = m->tk[s];
    uint16_t team = m->team[s];
    m->tk[s] = m->tk[m->nslots - 1];
    m->team[s] = m->team[m->nslots - 1];
    m->tk[m->nslots - 1] = t;
    m->team[m->nslots - 1] = team;
    slot_pop(w);
}

/* Remove the candidate (not the anchor, not a backfill's player) whose absence gives the lowest
 * badness; returns its ticket, or -1 when there is none or the budget ran out. */
static int drop_worst(work_t *w, uint32_t anchor, size_t limit)
{
    match_t *m = &w->m;
    double best = INFINITY, bad;
    size_t bi = SIZE_MAX;
    for (size_t i = 0; i < m->nslots; i++) {
        uint32_t t = m->tk[i];
        uint16_t team = m->team[i];
        if (t == anchor || w->tk[t].fixed_team >= 0)
            continue;
        if (w->evals >= limit || !budget_left(w))
            return -1;
        slot_remove(w, i);
        eval_all(w, &bad);
        /* put it back where it was */
        slot_add(w, t, team);
        uint32_t lt = m->tk[i];
        uint16_t lteam = m->team[i];
        m->tk[i] = t;
        m->team[i] = team;
        m->tk[m->nslots - 1] = lt;
        m->team[m->nslots - 1] = lteam;
        if (bad < best) {
            best = bad;
            bi = i;
        }
    }
    if (bi == SIZE_MAX)
        return -1;
    uint32_t t = m->tk[bi];
    slot_remove(w, bi);
    return (int)t;
}

/* Are the teams complete enough to propose? */
static int complete(work_t *w, int backfill)
{
    const match_t *m = &w->m;
    if (backfill && m->players == m->fixed_players)
        return 0;
    if (m->players >= target_players(w))
        return 1;
    for (size_t t = 0; t < w->rs->nteams; t++)
        if (m->count[t] < team_min(w, t))
            return 0;
    return m->players > 0;
}

static int finalize(work_t *w, size_t limit)
{
    double bad;
    balance(w);
    if (!budget_left(w))
        return 0;
    if (eval_all(w, &bad))
        return 1;
    return hill_climb(w, bad, limit);
}

/* ---- the walk over the locality order ---- */

static void unlink_pos(work_t *w, int32_t p)
{
    if (w->pv[p] >= 0)
        w->nx[w->pv[p]] = w->nx[p];
    else
        w->head = w->nx[p];
    if (w->nx[p] >= 0)
        w->pv[w->nx[p]] = w->pv[p];
    else
        w->tail = w->pv[p];
    w->nx[p] = w->pv[p] = -1;
}

/* Distance of the ticket at position p from the anchor (INFINITY: not a candidate). */
static double walk_dist(const work_t *w, int32_t p, const tk_t *a, double maxd)
{
    if (p < 0)
        return INFINITY;
    const tk_t *t = &w->tk[w->order[p]];
    if (w->str_attr >= 0 && (t->skey == NULL || a->skey == NULL || strcmp(t->skey, a->skey) != 0))
        return INFINITY;
    double d = fabs(t->nkey - a->nkey);
    return d > maxd ? INFINITY : d;
}

static int by_key(const void *pa, const void *pb, void *arg);

/* Gather up to w->window candidates for anchor a (a pseudo ticket for a backfill). */
static size_t gather(work_t *w, const tk_t *a, uint32_t self, uint32_t *cand)
{
    size_t n = 0;
    double maxd = INFINITY;
    if (w->batch_rule >= 0 && w->rs->attrs[w->key_attr].type == HG_RULES_ATTR_NUMBER)
        maxd = expand(w, &w->rs->rules[w->batch_rule], P_MAX_DISTANCE);
    if (w->mode == W_ASC || w->mode == W_DESC) {
        for (int32_t p = w->mode == W_ASC ? w->head : w->tail; p >= 0 && n < w->window;
             p = w->mode == W_ASC ? w->nx[p] : w->pv[p])
            if (w->order[p] != self)
                cand[n++] = w->order[p];
        return n;
    }
    if (w->mode == W_FAR) {
        int32_t l = w->head, r = w->tail;
        while (l >= 0 && r >= 0 && n < w->window) {
            double dl = fabs(w->tk[w->order[l]].nkey - a->nkey);
            double dr = fabs(w->tk[w->order[r]].nkey - a->nkey);
            int32_t p = dl >= dr ? l : r;
            if (w->order[p] != self)
                cand[n++] = w->order[p];
            if (l == r)
                break;
            if (p == l)
                l = w->nx[l];
            else
                r = w->pv[r];
        }
        return n;
    }
    /* W_NEAR: outward from the anchor's place in the order */
    int32_t l, r;
    if (a->pos >= 0) {
        l = w->pv[a->pos];
        r = w->nx[a->pos];
    } else {
        /* a backfill: find the first unmatched ticket at or after its key */
        size_t lo = 0, hi = w->nord;
        uint32_t probe = self;
        while (lo < hi && w->order) {
            size_t mid = (lo + hi) / 2;
            if (by_key(&w->order[mid], &probe, w) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        r = -1;
        for (size_t p = lo; p < w->nord && r < 0; p++)
            if (w->nx[p] >= 0 || w->pv[p] >= 0 || w->head == (int32_t)p)
                r = (int32_t)p;
        l = r >= 0 ? w->pv[r] : w->tail;
    }
    while (n < w->window) {
        double dl = walk_dist(w, l, a, maxd), dr = walk_dist(w, r, a, maxd);
        if (dl == INFINITY && dr == INFINITY)
            break;
        if (dl <= dr) {
            cand[n++] = w->order[l];
            l = w->pv[l];
        } else {
            cand[n++] = w->order[r];
            r = w->nx[r];
        }
    }
    return n;
}

/* A party's value for a string_number_map sort under the anchor's chosen key. */
static double map_value(const work_t *w, const tk_t *t, int attr, const char *key, int agg,
                        int *found)
{
    double v[HG_MATCH_MAX_BACKFILL_PLAYERS];
    size_t n = 0;
    for (uint32_t p = 0; p < t->np; p++) {
        const aval_t *a = &w->pl[t->first + p].av[attr];
        for (size_t k = 0; k < a->nmap; k++)
            if (strcmp(a->mk[k], key) == 0) {
                v[n++] = a->mv[k];
                break;
            }
    }
    *found = n > 0;
    return n ? agg_num(v, n, agg) : 0;
}

typedef struct mapc {
    uint32_t t;
    double v;
} mapc_t;

static int by_mapc(const void *a, const void *b)
{
    double x = ((const mapc_t *)a)->v, y = ((const mapc_t *)b)->v;
    return (x > y) - (x < y);
}

/* Candidates for a string_number_map sort: a bounded scan in age order, sorted by value. */
static size_t gather_map(work_t *w, const tk_t *a, uint32_t self, uint32_t *cand)
{
    const rule_t *r = &w->rs->rules[w->sort_rule];
    const aval_t *av = &w->pl[a->first].av[r->attr];
    const char *key = NULL;
    double kv = 0;
    for (size_t k = 0; k < av->nmap; k++)
        if (key == NULL || (r->map_max ? av->mv[k] > kv : av->mv[k] < kv)) {
            key = av->mk[k];
            kv = av->mv[k];
        }
    mapc_t *mc = hg_malloc(MAP_SCAN * sizeof(*mc));
    size_t n = 0;
    for (int32_t p = w->head; p >= 0 && n < MAP_SCAN; p = w->nx[p]) {
        uint32_t t = w->order[p];
        if (t == self)
            continue;
        int found = 0;
        double v = key ? map_value(w, &w->tk[t], r->attr, key, r->agg, &found) : 0;
        if (r->type == R_DISTANCE_SORT)
            v = fabs(v - kv);
        if (r->desc)
            v = -v;
        mc[n++] = (mapc_t){t, found ? v : INFINITY};
    }
    qsort(mc, n, sizeof(*mc), by_mapc);
    size_t k = 0;
    for (; k < n && k < w->window; k++)
        cand[k] = mc[k].t;
    hg_free(mc);
    return k;
}

/* ---- output ---- */

static void emit(work_t *w, int bf)
{
    hg_match_result_t *o = w->out;
    match_t *m = &w->m;
    if (o->nmatches == w->cap_matches) {
        w->cap_matches = w->cap_matches ? 2 * w->cap_matches : 64;
        o->matches = hg_realloc(o->matches, w->cap_matches * sizeof(*o->matches));
    }
    if (w->ntickets + m->nslots > w->cap_tickets) {
        while (w->ntickets + m->nslots > w->cap_tickets)
            w->cap_tickets = w->cap_tickets ? 2 * w->cap_tickets : 256;
        o->tickets = hg_realloc(o->tickets, w->cap_tickets * sizeof(*o->tickets));
        o->teams = hg_realloc(o->teams, w->cap_tickets * sizeof(*o->teams));
    }
    hg_match_proposal_t *p = &o->matches[o->nmatches++];
    p->backfill = bf;
    p->first = w->ntickets;
    p->age_ms = m->age;
    p->region = m->region >= 0 ? w->region_name[m->region] : NULL;
    for (size_t t = 0; t < w->rs->nteams; t++)
        for (size_t s = 0; s < m->nslots; s++) {
            uint32_t k = m->tk[s];
            if (m->team[s] != t || w->tk[k].fixed_team >= 0)
                continue;
            o->tickets[w->ntickets] = k;
            o->teams[w->ntickets++] = (uint16_t)t;
            w->tk[k].state = HG_MATCH_MATCHED;
            o->state[k] = HG_MATCH_MATCHED;
            unlink_pos(w, w->tk[k].pos);
        }
    p->count = w->ntickets - p->first;
}

/* ---- one anchor ---- */

/* Try to build a match around pool ticket `anchor`, or around backfill request bf (its players
 * are the pseudo tickets [bf_first, bf_first + bf_n)). Returns 1 when a proposal was emitted. */
static int try_anchor(work_t *w, uint32_t anchor, int bf, uint32_t bf_first, uint32_t bf_n,
                      uint32_t *cand, uint8_t *skip)
{
    match_t *m = &w->m;
    size_t limit = w->evals + w->per_anchor;
    memset(m->count, 0, sizeof(m->count));
    m->nslots = 0;
    m->players = m->fixed_players = 0;
    m->region = -1;
    m->nregs = 0;
    m->age = w->tk[anchor].age;
    /* Regions: the backfill's own, or every Region the anchor reports (then narrowed) */
    if (w->has_latency) {
        const player_t *p0 = &w->pl[w->tk[anchor].first];
        for (uint32_t i = 0; i < bf_n && p0->nlat == 0; i++)
            p0 = &w->pl[w->tk[bf_first + i].first];
        if (bf >= 0 && w->bf_region[bf] != UINT32_MAX)
            m->regs[m->nregs++] = w->bf_region[bf];
        else if (p0->nlat == 0)
            for (uint32_t r = 0; r < w->nregions && m->nregs < HG_MATCH_MAX_LATENCIES; r++)
                m->regs[m->nregs++] = r;
        else
            for (uint32_t i = 0; i < p0->nlat && m->nregs < HG_MATCH_MAX_LATENCIES; i++)
                m->regs[m->nregs++] = p0->lat[i].region;
    }
    if (bf >= 0) {
        for (uint32_t i = 0; i < bf_n; i++) {
            uint32_t t = bf_first + i;
            slot_add(w, t, w->tk[t].fixed_team);
            m->fixed_players += (int)w->tk[t].np;
            if (w->has_latency && !narrow_regions(w, m, &w->tk[t], 1))
                return 0;
        }
    } else {
        if (w->has_latency && !narrow_regions(w, m, &w->tk[anchor], 1))
            return 0;
        if (!place(w, anchor))
            return 0;
    }
    size_t nc = w->mode == W_MAP && w->sort_rule >= 0 ? gather_map(w, &w->tk[anchor], anchor, cand)
                                                      : gather(w, &w->tk[anchor], anchor, cand);
    memset(skip, 0, nc);
    if (w->has_mono) /* placing a candidate costs up to one check per team */
        limit += nc * w->rs->nteams;
    for (int round = 0; round <= MAX_REFILLS; round++) {
        for (size_t i = 0; i < nc && m->players < target_players(w); i++) {
            if (skip[i])
                continue;
            if (w->evals >= limit || !budget_left(w))
                return 0;
            skip[i] = place(w, cand[i]) ? 2 : 1;
        }
        if (!complete(w, bf >= 0))
            return 0;
        if (finalize(w, limit)) {
            emit(w, bf);
            return 1;
        }
        if (w->evals >= limit || !budget_left(w))
            return 0;
        /* drop the candidate whose absence leaves the match closest to passing, and try the
         * rest of the window */
        int gone = drop_worst(w, anchor, limit);
        if (gone < 0)
            return 0;
        for (size_t i = 0; i < nc; i++) {
            if (cand[i] == (uint32_t)gone && skip[i] == 2)
                skip[i] = 3; /* dropped for good */
            else if (skip[i] == 1)
                skip[i] = 0; /* refused before: may fit now */
        }
    }
    return 0;
}

/* ---- preparing the pool ---- */

static uint32_t region_id(work_t *w, const char *name)
{
    void *v = hg_map_get(&w->regions, name);
    if (v != NULL)
        return (uint32_t)((uintptr_t)v - 1);
    if (w->nregions >= MAX_REGIONS)
        return UINT32_MAX;
    uint32_t id = (uint32_t)w->nregions++;
    w->region_name = hg_realloc(w->region_name, w->nregions * sizeof(*w->region_name));
    w->region_pop = hg_realloc(w->region_pop, w->nregions * sizeof(*w->region_pop));
    w->region_name[id] = name;
    w->region_pop[id] = 0;
    hg_map_set(&w->regions, name, (void *)(uintptr_t)(id + 1));
    return id;
}

static int by_region(const void *a, const void *b)
{
    uint32_t x = ((const lat_t *)a)->region, y = ((const lat_t *)b)->region;
    return (x > y) - (x < y);
}

/* Resolve one player's attributes and latencies; returns an hg_match_state_t. */
static int resolve_player(work_t *w, const hg_match_player_t *in, player_t *p, aval_t *av,
                          lat_t *lat)
{
    const hg_rules_t *rs = w->rs;
    p->id = in->id;
    p->av = av;
    p->lat = lat;
    p->nlat = 0;
    if (in->id == NULL || in->nattrs > HG_MATCH_MAX_ATTRS || (in->nattrs && !in->attrs))
        return HG_MATCH_BAD_TICKET;
    for (size_t a = 0; a < rs->nattrs; a++) {
        const rattr_t *ra = &rs->attrs[a];
        const hg_match_attr_t *given = NULL;
        for (size_t k = 0; k < in->nattrs; k++)
            if (in->attrs[k].name && strcmp(in->attrs[k].name, ra->name) == 0)
                given = &in->attrs[k];
        aval_t *v = &av[a];
        memset(v, 0, sizeof(*v));
        if (given && given->type == ra->type) {
            v->ok = 1;
            v->n = given->n;
            v->s = given->s;
            v->sl = given->sl;
            v->nsl = given->nsl;
            v->mk = given->map_keys;
            v->mv = given->map_vals;
            v->nmap = given->nmap;
            int bad = (ra->type == HG_RULES_ATTR_NUMBER && !isfinite(v->n)) ||
                      (ra->type == HG_RULES_ATTR_STRING && v->s == NULL) ||
                      (ra->type == HG_RULES_ATTR_STRING_LIST &&
                       (v->nsl > HG_MATCH_MAX_LIST || (v->nsl && v->sl == NULL))) ||
                      (ra->type == HG_RULES_ATTR_STRING_NUMBER_MAP &&
                       (v->nmap > HG_MATCH_MAX_MAP || (v->nmap && (!v->mk || !v->mv))));
            for (size_t k = 0; !bad && k < v->nsl; k++)
                bad = v->sl[k] == NULL;
            for (size_t k = 0; !bad && k < v->nmap; k++)
                bad = v->mk[k] == NULL || !isfinite(v->mv[k]);
            if (bad)
                return HG_MATCH_BAD_ATTRIBUTE;
        } else if ((given == NULL || !ra->used) && ra->has_default) {
            v->ok = 1;
            v->n = ra->dnum;
            v->s = ra->dstr;
            v->sl = (const char *const *)ra->dlist;
            v->nsl = ra->ndlist;
            v->mk = (const char *const *)ra->dkeys;
            v->mv = ra->dvals;
            v->nmap = ra->ndmap;
        } else if (ra->used) {
            return HG_MATCH_BAD_ATTRIBUTE; /* missing without default, or mistyped */
        }
    }
    size_t nl = in->nlatency < HG_MATCH_MAX_LATENCIES ? in->nlatency : HG_MATCH_MAX_LATENCIES;
    for (size_t k = 0; k < nl && in->latency; k++) {
        if (in->latency[k].region == NULL || !(in->latency[k].ms >= 0) ||
            !isfinite(in->latency[k].ms))
            continue;
        uint32_t id = region_id(w, in->latency[k].region);
        int dup = 0;
        for (uint32_t j = 0; j < p->nlat && !dup; j++)
            dup = lat[j].region == id;
        if (id != UINT32_MAX && !dup)
            lat[p->nlat++] = (lat_t){id, in->latency[k].ms};
    }
    qsort(lat, p->nlat, sizeof(*lat), by_region);
    if (w->has_latency && p->nlat == 0)
        return HG_MATCH_NO_LATENCY;
    return HG_MATCH_WAITING;
}

/* Resolve ticket k from players[0..np); returns its state. */
static int resolve_ticket(work_t *w, uint32_t k, const hg_match_player_t *players, size_t np,
                          int64_t age, size_t *next_player)
{
    tk_t *t = &w->tk[k];
    t->first = (uint32_t)*next_player;
    t->np = (uint32_t)np;
    t->age = age;
    t->pos = -1;
    t->fixed_team = -1;
    t->team_ok = w->rs->nteams >= 32 ? UINT32_MAX : (1u << w->rs->nteams) - 1;
    int st = HG_MATCH_WAITING;
    for (size_t i = 0; i < np; i++) {
        size_t pi = (*next_player)++;
        int s = resolve_player(w, &players[i], &w->pl[pi], w->av + pi * w->rs->nattrs,
                               w->lats + w->next_lat);
        w->next_lat += w->pl[pi].nlat;
        if (s != HG_MATCH_WAITING && st == HG_MATCH_WAITING)
            st = s;
    }
    return st;
}

/* Choose the locality order (see the design note at the top). */
static void choose_locality(work_t *w)
{
    const hg_rules_t *rs = w->rs;
    w->key_attr = w->str_attr = w->bal_attr = w->batch_rule = w->sort_rule = -1;
    w->key_agg = AGG_AVG;
    w->mode = W_NEAR;
    for (size_t i = 0; i < rs->nrules; i++) {
        const rule_t *r = &rs->rules[i];
        if (r->type != R_BATCH_DISTANCE || r->in_compound)
            continue;
        if (rs->attrs[r->attr].type == HG_RULES_ATTR_STRING && w->str_attr < 0)
            w->str_attr = r->attr;
        else if (rs->attrs[r->attr].type == HG_RULES_ATTR_NUMBER && w->key_attr < 0) {
            w->key_attr = r->attr;
            w->key_agg = r->agg;
            w->batch_rule = (int)i;
        }
    }
    for (size_t i = 0; i < rs->nrules && w->key_attr < 0; i++) {
        const rule_t *r = &rs->rules[i];
        if (r->type != R_DISTANCE_SORT && r->type != R_ABSOLUTE_SORT)
            continue;
        w->sort_rule = (int)i;
        if (rs->attrs[r->attr].type == HG_RULES_ATTR_STRING_NUMBER_MAP) {
            w->mode = W_MAP;
            break;
        }
        w->key_attr = r->attr;
        w->key_agg = r->agg;
        if (r->type == R_DISTANCE_SORT)
            w->mode = r->desc ? W_FAR : W_NEAR;
        else
            w->mode = r->desc ? W_DESC : W_ASC;
    }
    if (w->key_attr < 0 && w->mode != W_MAP && rs->balanced_attr >= 0)
        w->key_attr = rs->balanced_attr;
    for (size_t i = 0; i < rs->nsort_attrs && w->key_attr < 0 && w->mode != W_MAP; i++) {
        int a = rs->sort_attrs[i];
        if (rs->attrs[a].type == HG_RULES_ATTR_NUMBER)
            w->key_attr = a;
        else if (w->str_attr < 0)
            w->str_attr = a;
    }
    /* the first number attribute a distance or comparison rule measures */
    int measured = -1;
    for (size_t i = 0; i < rs->nrules && measured < 0; i++) {
        const rule_t *r = &rs->rules[i];
        if (r->type != R_DISTANCE && r->type != R_COMPARISON)
            continue;
        for (size_t k = 0; k < r->nmeas && measured < 0; k++) {
            const rx_t *x = r->meas[k];
            while (x && x->kind != RX_ATTR)
                x = x->kid;
            if (x && rs->attrs[x->attr].type == HG_RULES_ATTR_NUMBER)
                measured = x->attr;
        }
    }
    if (w->key_attr < 0 && w->mode != W_MAP)
        w->key_attr = measured;
    w->bal_attr = rs->balanced_attr >= 0 ? rs->balanced_attr : measured;
    if (w->mode == W_MAP)
        w->key_attr = -1;
}

static int by_key(const void *pa, const void *pb, void *arg)
{
    const work_t *w = arg;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    const tk_t *x = &w->tk[a], *y = &w->tk[b];
    if (w->str_attr >= 0) {
        int c = strcmp(x->skey ? x->skey : "", y->skey ? y->skey : "");
        if (c != 0)
            return c;
    }
    if (x->nkey != y->nkey)
        return x->nkey < y->nkey ? -1 : 1;
    if (x->age != y->age)
        return x->age > y->age ? -1 : 1;
    return (a > b) - (a < b);
}

static void keys_of(work_t *w, tk_t *t)
{
    t->nkey = w->key_attr >= 0 ? party_num(w, t, w->key_attr, w->key_agg) : -(double)t->age;
    t->bkey = 0;
    if (w->bal_attr >= 0)
        for (uint32_t p = 0; p < t->np; p++)
            t->bkey += w->pl[t->first + p].av[w->bal_attr].n;
    t->skey = w->str_attr >= 0 ? w->pl[t->first].av[w->str_attr].s : NULL;
}

/* Team masks from the per-player rules: may ticket k play on team t at all? */
static void team_masks(work_t *w, uint32_t k)
{
    tk_t *t = &w->tk[k];
    match_t *m = &w->m;
    for (size_t team = 0; team < w->rs->nteams; team++) {
        memset(m->count, 0, sizeof(m->count));
        m->nslots = 0;
        m->players = 0;
        slot_add(w, k, (int)team);
        if (!mono_ok(w, 1))
            t->team_ok &= ~(1u << team);
    }
    m->nslots = 0;
}

static int fits_somewhere(const work_t *w, const tk_t *t)
{
    for (size_t i = 0; i < w->rs->nteams; i++)
        if ((int)t->np <= hg_rules_team_max(w->rs, i, t->age))
            return 1;
    return 0;
}

static void work_free(work_t *w)
{
    hg_free(w->tk);
    hg_free(w->pl);
    hg_free(w->av);
    hg_free(w->lats);
    hg_map_free(&w->regions);
    hg_free(w->region_name);
    hg_free(w->region_pop);
    hg_free(w->bf_region);
    hg_free(w->order);
    hg_free(w->nx);
    hg_free(w->pv);
    hg_free(w->arena);
    hg_free(w->leaves);
}

void hg_match_result_free(hg_match_result_t *r)
{
    if (r == NULL)
        return;
    hg_free(r->matches);
    hg_free(r->tickets);
    hg_free(r->teams);
    hg_free(r->state);
    hg_free(r->bf_state);
    memset(r, 0, sizeof(*r));
}

/* Prepare backfill request i as pseudo tickets [first, first + nplayers); returns its state. */
static int prepare_backfill(work_t *w, const hg_match_backfill_t *b, uint32_t first,
                            size_t *next_player, int64_t now_ms)
{
    int total = 0, count[HG_RULES_MAX_TEAMS] = {0}, st = HG_MATCH_BF_WAITING;
    int64_t age = now_ms - b->start_ms < 0 ? 0 : now_ms - b->start_ms;
    for (size_t i = 0; i < b->nplayers; i++) {
        uint32_t k = first + (uint32_t)i;
        int s = resolve_ticket(w, k, &b->players[i], 1, age, next_player);
        tk_t *t = &w->tk[k];
        int team = b->players[i].team ? hg_rules_team_index(w->rs, b->players[i].team) : -1;
        t->fixed_team = team;
        t->state = HG_MATCH_MATCHED;
        if ((s != HG_MATCH_WAITING && s != HG_MATCH_NO_LATENCY) || team < 0)
            st = HG_MATCH_BF_INVALID;
        else {
            count[team]++;
            total++;
            keys_of(w, t);
        }
    }
    for (size_t t = 0; t < w->rs->nteams && st == HG_MATCH_BF_WAITING; t++)
        if (count[t] > hg_rules_team_max(w->rs, t, age))
            st = HG_MATCH_BF_INVALID;
    if (st == HG_MATCH_BF_WAITING) {
        int room = 0;
        for (size_t t = 0; t < w->rs->nteams; t++)
            room += hg_rules_team_max(w->rs, t, age) - count[t];
        if (room <= 0 || total >= HG_RULES_LARGE_MAX_PLAYERS)
            st = HG_MATCH_BF_FULL;
    }
    return st;
}

typedef struct anchor {
    int64_t prio; /* larger first */
    uint32_t tk;
    int bf;
} anchor_t;

static int by_prio(const void *a, const void *b)
{
    const anchor_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    if (x->bf != y->bf)
        return x->bf > y->bf ? -1 : 1; /* backfills before tickets of the same age */
    return (x->tk > y->tk) - (x->tk < y->tk);
}

static int run(work_t *w, const hg_match_ticket_t *pool, const hg_match_backfill_t *bf, size_t nbf,
               int64_t now_ms)
{
    const hg_rules_t *rs = w->rs;
    hg_match_result_t *o = w->out;
    size_t np = 0, next = 0;
    for (size_t i = 0; i < w->n; i++)
        np += pool[i].nplayers <= HG_MATCH_MAX_PARTY ? pool[i].nplayers : 0;
    for (size_t i = 0; i < nbf; i++)
        np += bf[i].nplayers;
    w->tk = hg_calloc(w->ntk + 1, sizeof(*w->tk));
    w->pl = hg_calloc(np + 1, sizeof(*w->pl));
    w->av = hg_calloc((np + 1) * (rs->nattrs ? rs->nattrs : 1), sizeof(*w->av));
    size_t nlat = 0;
    for (size_t i = 0; i < w->n; i++)
        for (size_t j = 0; pool[i].players && j < pool[i].nplayers && j < HG_MATCH_MAX_PARTY; j++)
            nlat += pool[i].players[j].nlatency < HG_MATCH_MAX_LATENCIES
                        ? pool[i].players[j].nlatency
                        : HG_MATCH_MAX_LATENCIES;
    for (size_t i = 0; i < nbf; i++)
        for (size_t j = 0; j < bf[i].nplayers; j++)
            nlat += bf[i].players[j].nlatency < HG_MATCH_MAX_LATENCIES ? bf[i].players[j].nlatency
                                                                       : HG_MATCH_MAX_LATENCIES;
    w->lats = hg_calloc(nlat + 1, sizeof(*w->lats));
    w->arena = hg_malloc(ARENA_VALS * sizeof(*w->arena));
    w->leaves = hg_malloc(ARENA_VALS * sizeof(*w->leaves));
    hg_map_init(&w->regions);
    for (size_t i = 0; i < rs->nrules; i++) {
        const rule_t *r = &rs->rules[i];
        w->has_latency |= r->type == R_LATENCY;
        w->has_mono |= r->monotone && !r->in_compound && r->type != R_LATENCY;
        w->has_per_player |= r->per_player && !r->in_compound;
    }
    choose_locality(w);
    /* resolve the pool */
    for (size_t i = 0; i < w->n; i++) {
        const hg_match_ticket_t *in = &pool[i];
        int64_t age = now_ms - in->start_ms < 0 ? 0 : now_ms - in->start_ms;
        int st;
        if (in->id == NULL || in->nplayers == 0 || in->nplayers > HG_MATCH_MAX_PARTY ||
            in->players == NULL) {
            w->tk[i] = (tk_t){.pos = -1, .fixed_team = -1, .age = age};
            st = HG_MATCH_BAD_TICKET;
        } else {
            st = resolve_ticket(w, (uint32_t)i, in->players, in->nplayers, age, &next);
        }
        tk_t *t = &w->tk[i];
        if (st == HG_MATCH_WAITING) {
            keys_of(w, t);
            if (w->has_per_player)
                team_masks(w, (uint32_t)i);
            if (!fits_somewhere(w, t))
                st = HG_MATCH_TOO_LARGE;
        }
        t->state = (uint8_t)st;
        o->state[i] = (uint8_t)st;
        if (st == HG_MATCH_WAITING && w->has_latency)
            for (uint32_t p = 0; p < t->np; p++)
                for (uint32_t k = 0; k < w->pl[t->first + p].nlat; k++)
                    w->region_pop[w->pl[t->first + p].lat[k].region]++;
    }
    /* backfill requests as pseudo tickets after the pool */
    uint32_t *bf_first = hg_calloc(nbf + 1, sizeof(*bf_first));
    w->bf_region = hg_calloc(nbf + 1, sizeof(*w->bf_region));
    uint32_t k = (uint32_t)w->n;
    for (size_t i = 0; i < nbf; i++) {
        bf_first[i] = k;
        w->bf_region[i] = bf[i].region ? region_id(w, bf[i].region) : UINT32_MAX;
        o->bf_state[i] = (uint8_t)prepare_backfill(w, &bf[i], k, &next, now_ms);
        k += (uint32_t)bf[i].nplayers;
    }
    /* the locality order over waiting tickets, as a linked list */
    w->order = hg_calloc(w->n + 1, sizeof(*w->order));
    w->nx = hg_malloc((w->n + 1) * sizeof(*w->nx));
    w->pv = hg_malloc((w->n + 1) * sizeof(*w->pv));
    size_t nord = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->tk[i].state == HG_MATCH_WAITING)
            w->order[nord++] = (uint32_t)i;
    qsort_r(w->order, nord, sizeof(*w->order), by_key, w);
    w->head = nord ? 0 : -1;
    w->tail = nord ? (int32_t)nord - 1 : -1;
    for (size_t p = 0; p < w->n; p++) {
        w->nx[p] = p + 1 < nord ? (int32_t)p + 1 : -1;
        w->pv[p] = p < nord && p > 0 ? (int32_t)p - 1 : -1;
        if (p < nord)
            w->tk[w->order[p]].pos = (int32_t)p;
    }
    w->nord = nord;
    /* anchors: waiting tickets oldest first, backfills by priority */
    anchor_t *an = hg_calloc(nord + nbf + 1, sizeof(*an));
    size_t na = 0;
    for (size_t p = 0; p < nord; p++)
        an[na++] = (anchor_t){w->tk[w->order[p]].age, w->order[p], -1};
    for (size_t i = 0; i < nbf; i++) {
        if (o->bf_state[i] != HG_MATCH_BF_WAITING)
            continue;
        int64_t age = bf[i].nplayers ? w->tk[bf_first[i]].age : 0;
        int64_t prio = rs->backfill_priority == HG_RULES_BACKFILL_HIGH  ? INT64_MAX
                       : rs->backfill_priority == HG_RULES_BACKFILL_LOW ? INT64_MIN
                                                                        : age;
        an[na++] = (anchor_t){prio, bf_first[i], (int)i};
    }
    qsort(an, na, sizeof(*an), by_prio);
    uint32_t *cand = hg_malloc((w->window + 1) * sizeof(*cand));
    uint8_t *skip = hg_malloc(w->window + 1);
    for (size_t i = 0; i < na && budget_left(w); i++) {
        if (an[i].bf < 0 && w->tk[an[i].tk].state != HG_MATCH_WAITING)
            continue;
        if (an[i].bf >= 0 && bf[an[i].bf].nplayers == 0)
            continue;
        uint32_t bn = an[i].bf >= 0 ? (uint32_t)bf[an[i].bf].nplayers : 0;
        if (try_anchor(w, an[i].tk, an[i].bf, an[i].tk, bn, cand, skip) && an[i].bf >= 0)
            o->bf_state[an[i].bf] = HG_MATCH_BF_FILLED;
    }
    o->evals = w->evals;
    o->budget_exhausted = w->exhausted;
    hg_free(cand);
    hg_free(skip);
    hg_free(an);
    hg_free(bf_first);
    return HG_OK;
}

int hg_match_run(const hg_rules_t *rs, const hg_match_ticket_t *pool, size_t n,
                 const hg_match_backfill_t *bf, size_t nbf, int64_t now_ms,
                 const hg_match_opts_t *opts, hg_match_result_t *out, hg_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (rs == NULL || (n > 0 && pool == NULL) || n > HG_MATCH_MAX_POOL ||
        nbf > HG_MATCH_MAX_BACKFILL || (nbf > 0 && bf == NULL))
        return err ? hg_error_set(err, HG_EINVAL,
                                  "a run takes a rule set, at most %d tickets and at most %d "
                                  "backfill requests",
                                  HG_MATCH_MAX_POOL, HG_MATCH_MAX_BACKFILL)
                   : HG_EINVAL;
    for (size_t i = 0; i < nbf; i++)
        if (bf[i].nplayers > HG_MATCH_MAX_BACKFILL_PLAYERS || (bf[i].nplayers && !bf[i].players))
            return err ? hg_error_set(err, HG_EINVAL, "a backfill request holds at most %d players",
                                      HG_MATCH_MAX_BACKFILL_PLAYERS)
                       : HG_EINVAL;
    work_t w;
    memset(&w, 0, sizeof(w));
    w.rs = rs;
    w.n = n;
    w.ntk = n;
    for (size_t i = 0; i < nbf; i++)
        w.ntk += bf[i].nplayers;
    w.window = opts && opts->window ? opts->window : HG_MATCH_DEFAULT_WINDOW;
    if (w.window < (size_t)rs->max_total * 2)
        w.window = (size_t)rs->max_total * 2; /* a large match needs room for its teams */
    w.per_anchor = opts && opts->max_evals_per_anchor ? opts->max_evals_per_anchor
                                                      : HG_MATCH_DEFAULT_EVALS_PER_ANCHOR;
    w.max_evals = opts && opts->max_evals ? opts->max_evals : HG_MATCH_DEFAULT_EVALS;
    w.open_slots =
        opts && opts->open_slots < (size_t)HG_RULES_LARGE_MAX_PLAYERS ? (int)opts->open_slots : 0;
    w.out = out;
    out->state = hg_calloc(n + 1, sizeof(*out->state));
    out->bf_state = hg_calloc(nbf + 1, sizeof(*out->bf_state));
    int rc = run(&w, pool, bf, nbf, now_ms);
    work_free(&w);
    return rc;
}
