/* hangar — game session queues and placements (design and state table in placement.h).
 *
 * Durable records (collection → key → value):
 *   placement.queues      name         → {arn, cfg (the API members), tags, created_ms, seq}
 *   placement.placements  placement id → {queue, status, req, start_ms, end_ms, deadline_ms, gs,
 *                                        fleet, fleet_arn, location, ip, dns, port, placed, seq}
 * A queue's domain settings (destinations, policies, …) are parsed from cfg on load, so cfg is
 * the one copy of them on disk.
 */
#include "placement/placement.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"
#include "core/vec.h"

#define COLL_QUEUES "placement.queues"
#define COLL_PLACEMENTS "placement.placements"

struct hg_placement {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_fleet_t *fleet;
    char region[32], account[16];
    hg_pl_sink_t sink;
    hg_map_t queues; /* name → hg_pl_queue_t */
    hg_list_t queue_order;
    hg_map_t placements; /* id → hg_pl_placement_t */
    hg_map_t by_gs;      /* game session ARN → hg_pl_placement_t (PENDING with a session) */
    hg_list_t done;      /* ended placements, end order */
    size_t ndone, npending;
    uint64_t next_seq;
    int woken;
    uint64_t started, fulfilled, timed_out, cancelled, failed, attempts, rank[4];
};

static const char *const status_names[] = {"PENDING", "FULFILLED", "CANCELLED", "TIMED_OUT",
                                           "FAILED"};
static const char *const prio_names[] = {"LATENCY", "COST", "DESTINATION", "LOCATION"};

const char *hg_pl_status_name(hg_pl_status_t s)
{
    return (unsigned)s < 5 ? status_names[s] : "FAILED";
}

static int64_t now_ms(const hg_placement_t *pl)
{
    return hg_clock_now_ms(pl->clock);
}

/* ---- ordering ---- */

int64_t hg_pl_cap(const hg_pl_policy_t *p, size_t n, int64_t elapsed_s)
{
    int64_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].duration_s < 0 || elapsed_s < start + p[i].duration_s)
            return p[i].cap_ms;
        start += p[i].duration_s;
    }
    return -1;
}

static int index_of(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

/* Players' average latency to loc, or HUGE_VAL when one of them reported none; *worst is the
 * highest single one. */
static double avg_latency(const hg_pl_order_in_t *in, const char *loc, double *worst)
{
    /* players are those named in the latencies; each must report loc */
    double sum = 0;
    size_t players = 0, found = 0;
    *worst = 0;
    for (size_t i = 0; i < in->nlat; i++) {
        int first = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->lat[j].player, in->lat[i].player) == 0) {
                first = 0;
                break;
            }
        if (!first)
            continue;
        players++;
        /* the lowest report of this player for loc (a client may send several) */
        double best = HUGE_VAL;
        for (size_t j = i; j < in->nlat; j++)
            if (strcmp(in->lat[j].player, in->lat[i].player) == 0 &&
                strcmp(in->lat[j].location, loc) == 0 && in->lat[j].ms < best)
                best = in->lat[j].ms;
        if (best == HUGE_VAL)
            continue;
        found++;
        sum += best;
        if (best > *worst)
            *worst = best;
    }
    if (players == 0 || found < players) {
        *worst = HUGE_VAL;
        return HUGE_VAL;
    }
    return sum / (double)players;
}

static _Thread_local const hg_pl_order_in_t *order_in;

static int loc_rank(const hg_pl_order_in_t *in, const char *loc)
{
    int r;
    if (in->noverride && (r = index_of(in->override_locs, in->noverride, loc)) >= 0)
        return r;
    int base = (int)in->noverride;
    if ((r = index_of((const char *const *)in->q->loc_order, in->q->nloc_order, loc)) >= 0)
        return base + r;
    return INT32_MAX; /* unlisted: after the listed ones, by name */
}

static int cmp_cand(const void *a, const void *b)
{
    const hg_pl_order_in_t *in = order_in;
    const hg_pl_cand_t *x = a, *y = b;
    int has_lat = in->nlat > 0;
    for (size_t k = 0; k < 4; k++) {
        hg_pl_prio_t p = in->q->order[k];
        /* without latencies the default is DESTINATION then LOCATION; LATENCY has no data and
         * COST is not part of the default then */
        if (p == HG_PL_LATENCY && !has_lat)
            continue;
        if (p == HG_PL_COST && !has_lat && in->q->norder_given == 0)
            continue;
        int r = 0;
        switch (p) {
        case HG_PL_LATENCY: r = x->latency < y->latency ? -1 : x->latency > y->latency; break;
        case HG_PL_COST: r = x->cost < y->cost ? -1 : x->cost > y->cost; break;
        case HG_PL_DESTINATION: r = x->dest < y->dest ? -1 : x->dest > y->dest; break;
        case HG_PL_LOCATION: {
            int rx = loc_rank(in, x->location), ry = loc_rank(in, y->location);
            r = rx < ry ? -1 : rx > ry;
            if (r == 0)
                r = strcmp(x->location, y->location);
            break;
        }
        }
        if (r)
            return r;
    }
    int r = strcmp(x->location, y->location);
    if (r)
        return r;
    return x->dest < y->dest ? -1 : x->dest > y->dest;
}

size_t hg_pl_order(const hg_pl_order_in_t *in, hg_pl_cand_t *c, size_t n)
{
    const hg_pl_queue_t *q = in->q;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        hg_pl_cand_t cand = c[i];
        if (q->nallowed &&
            index_of((const char *const *)q->allowed, q->nallowed, cand.location) < 0)
            continue;
        if (in->noverride && in->override_none &&
            index_of(in->override_locs, in->noverride, cand.location) < 0)
            continue;
        double worst = 0;
        cand.latency = in->nlat ? avg_latency(in, cand.location, &worst) : 0;
        if (in->nlat && in->cap_ms >= 0 && worst > (double)in->cap_ms)
            continue; /* a player above the cap in force (or without a report) */
        c[kept++] = cand;
    }
    order_in = in;
    if (kept > 1)
        qsort(c, kept, sizeof(*c), cmp_cand);
    order_in = NULL;
    return kept;
}

/* ---- module ---- */

hg_placement_t *hg_placement_new(hg_clock_t *clock, hg_store_t *store, hg_fleet_t *fleet,
                                 const char *region, const char *account)
{
    hg_placement_t *pl = hg_calloc(1, sizeof(*pl));
    pl->clock = clock;
    pl->store = store;
    pl->fleet = fleet;
    snprintf(pl->region, sizeof(pl->region), "%s", region);
    snprintf(pl->account, sizeof(pl->account), "%s", account);
    hg_map_init(&pl->queues);
    hg_map_init(&pl->placements);
    hg_map_init(&pl->by_gs);
    hg_list_init(&pl->queue_order);
    hg_list_init(&pl->done);
    pl->next_seq = 1;
    return pl;
}

void hg_placement_set_sink(hg_placement_t *pl, const hg_pl_sink_t *sink)
{
    if (sink)
        pl->sink = *sink;
    else
        memset(&pl->sink, 0, sizeof(pl->sink));
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hg_free(v[i]);
    hg_free(v);
}

static char **dup_strv(const char *const *v, size_t n)
{
    char **out = hg_calloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = hg_strdup(v[i]);
    return out;
}

static void queue_settings_free(hg_pl_queue_t *q)
{
    free_strv(q->dests, q->ndests);
    free_strv(q->allowed, q->nallowed);
    free_strv(q->loc_order, q->nloc_order);
    hg_free(q->policies);
    q->dests = q->allowed = q->loc_order = NULL;
    q->policies = NULL;
    q->ndests = q->nallowed = q->nloc_order = q->npolicies = 0;
}

static void queue_free(hg_pl_queue_t *q)
{
    queue_settings_free(q);
    hg_free(q->name);
    hg_free(q->arn);
    json_decref(q->cfg);
    json_decref(q->tags);
    hg_free(q);
}

static void placement_free(hg_pl_placement_t *p)
{
    hg_free(p->id);
    hg_free(p->queue_name);
    json_decref(p->req);
    for (size_t i = 0; i < p->nlat; i++) {
        hg_free((char *)p->lat[i].player);
        hg_free((char *)p->lat[i].location);
    }
    hg_free(p->lat);
    free_strv(p->override_locs, p->noverride);
    hg_free(p->gs_arn);
    hg_free(p->fleet_id);
    hg_free(p->fleet_arn);
    hg_free(p->location);
    hg_free(p->ip);
    hg_free(p->dns);
    for (size_t i = 0; i < p->nplaced; i++)
        hg_free(p->placed[i].player);
    hg_free(p->placed);
    hg_free(p);
}

void hg_placement_free(hg_placement_t *pl)
{
    if (pl == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&pl->placements, &it, NULL, &v))
        placement_free(v);
    it = 0;
    while (hg_map_next(&pl->queues, &it, NULL, &v))
        queue_free(v);
    hg_map_free(&pl->placements);
    hg_map_free(&pl->queues);
    hg_map_free(&pl->by_gs);
    hg_free(pl);
}

void hg_placement_stats(const hg_placement_t *pl, hg_pl_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->queues = hg_map_count(&pl->queues);
    out->pending = pl->npending;
    out->done = pl->ndone;
    out->started = pl->started;
    out->fulfilled = pl->fulfilled;
    out->timed_out = pl->timed_out;
    out->cancelled = pl->cancelled;
    out->failed = pl->failed;
    out->attempts = pl->attempts;
    memcpy(out->rank, pl->rank, sizeof(out->rank));
}

/* ---- queues ---- */

static int is_fleet_or_alias_arn(const char *arn)
{
    const char *slash = strrchr(arn, '/');
    if (strncmp(arn, "arn:", 4) != 0 || slash == NULL)
        return strncmp(arn, "fleet-", 6) == 0 || strncmp(arn, "alias-", 6) == 0;
    return strstr(arn, ":fleet/") != NULL || strstr(arn, ":alias/") != NULL;
}

static int cmp_policy(const void *a, const void *b)
{
    const hg_pl_policy_t *x = a, *y = b;
    return x->cap_ms < y->cap_ms ? -1 : x->cap_ms > y->cap_ms;
}

static int check_in(const hg_pl_queue_t *cur, const hg_pl_queue_in_t *in, hg_error_t *err)
{
    if (in->has_dests) {
        if (in->ndests > HG_PL_MAX_DESTINATIONS)
            return hg_error_set(err, HG_EINVAL, "Destinations: at most %d", HG_PL_MAX_DESTINATIONS);
        for (size_t i = 0; i < in->ndests; i++)
            if (!is_fleet_or_alias_arn(in->dests[i]))
                return hg_error_set(err, HG_EINVAL, "Destinations: %s is not a fleet or alias ARN",
                                    in->dests[i]);
    }
    if (in->has_policies) {
        if (in->npolicies > HG_PL_MAX_POLICIES)
            return hg_error_set(err, HG_EINVAL, "PlayerLatencyPolicies: at most %d",
                                HG_PL_MAX_POLICIES);
        int open = 0;
        for (size_t i = 0; i < in->npolicies; i++)
            open += in->policies[i].duration_s < 0;
        if (open > 1)
            return hg_error_set(err, HG_EINVAL,
                                "PlayerLatencyPolicies: only one policy may go without "
                                "PolicyDurationSeconds");
    }
    if (in->has_priority) {
        int seen[4] = {0}, has_loc = 0;
        for (size_t i = 0; i < in->norder; i++) {
            if (seen[in->order[i]]++)
                return hg_error_set(err, HG_EINVAL, "PriorityOrder: %s is listed twice",
                                    prio_names[in->order[i]]);
            has_loc |= in->order[i] == HG_PL_LOCATION;
        }
        if (has_loc && in->nloc_order == 0)
            return hg_error_set(err, HG_EINVAL,
                                "PriorityConfiguration: LocationOrder is required when "
                                "PriorityOrder lists LOCATION");
    }
    (void)cur;
    return 0;
}

static void apply_in(hg_pl_queue_t *q, const hg_pl_queue_in_t *in)
{
    if (in->timeout_s >= 0)
        q->timeout_s = in->timeout_s;
    if (in->has_dests) {
        free_strv(q->dests, q->ndests);
        q->dests = dup_strv(in->dests, in->ndests);
        q->ndests = in->ndests;
    }
    if (in->has_policies) {
        hg_free(q->policies);
        q->policies = hg_calloc(in->npolicies + 1, sizeof(*q->policies));
        memcpy(q->policies, in->policies, in->npolicies * sizeof(*q->policies));
        q->npolicies = in->npolicies;
        qsort(q->policies, q->npolicies, sizeof(*q->policies), cmp_policy);
    }
    if (in->has_allowed) {
        free_strv(q->allowed, q->nallowed);
        q->allowed = dup_strv(in->allowed, in->nallowed);
        q->nallowed = in->nallowed;
    }
    if (in->has_priority) {
        free_strv(q->loc_order, q->nloc_order);
        q->loc_order = dup_strv(in->loc_order, in->nloc_order);
        q->nloc_order = in->nloc_order;
        q->norder_given = in->norder;
        size_t n = 0;
        for (size_t i = 0; i < in->norder; i++)
            q->order[n++] = in->order[i];
        /* the rest in the default order */
        for (int p = 0; p < 4; p++) {
            int listed = 0;
            for (size_t i = 0; i < in->norder; i++)
                listed |= (int)in->order[i] == p;
            if (!listed)
                q->order[n++] = (hg_pl_prio_t)p;
        }
    }
    if (in->cfg) {
        const char *k;
        json_t *v;
        json_object_foreach (in->cfg, k, v) {
            if (json_is_null(v)) /* an empty configuration removes it */
                json_object_del(q->cfg, k);
            else
                json_object_set(q->cfg, k, v);
        }
    }
}

static void queue_save(const hg_pl_queue_t *q, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:O,s:O,s:I,s:I}", "arn", q->arn, "cfg", q->cfg, "tags", q->tags,
                          "created_ms", (json_int_t)q->created_ms, "seq", (json_int_t)q->seq);
    hg_store_put(txn, COLL_QUEUES, q->name, r);
    json_decref(r);
}

static hg_pl_queue_t *queue_new(hg_placement_t *pl, const char *name)
{
    hg_pl_queue_t *q = hg_calloc(1, sizeof(*q));
    q->name = hg_strdup(name);
    size_t n = strlen(name) + 96;
    q->arn = hg_malloc(n);
    snprintf(q->arn, n, "arn:aws:gamelift:%s:%s:gamesessionqueue/%s", pl->region, pl->account,
             name);
    q->timeout_s = HG_PL_DEFAULT_TIMEOUT_S;
    q->cfg = json_object();
    q->order[0] = HG_PL_LATENCY;
    q->order[1] = HG_PL_COST;
    q->order[2] = HG_PL_DESTINATION;
    q->order[3] = HG_PL_LOCATION;
    hg_list_init(&q->pending);
    return q;
}

int hg_pl_queue_create(hg_placement_t *pl, const char *name, const hg_pl_queue_in_t *in,
                       json_t *tags, hg_store_txn_t *txn, hg_pl_queue_t **out, hg_error_t *err)
{
    int rc;
    if (hg_map_get(&pl->queues, name)) {
        json_decref(tags);
        return hg_error_set(err, HG_ECONFLICT, "Game session queue %s already exists", name);
    }
    if (hg_map_count(&pl->queues) >= HG_PL_MAX_QUEUES) {
        json_decref(tags);
        return hg_error_set(err, HG_ELIMIT, "at most %d game session queues", HG_PL_MAX_QUEUES);
    }
    if ((rc = check_in(NULL, in, err)) < 0) {
        json_decref(tags);
        return rc;
    }
    hg_pl_queue_t *q = queue_new(pl, name);
    q->tags = tags ? tags : json_array();
    apply_in(q, in);
    json_object_set_new(q->cfg, "TimeoutInSeconds", json_integer(q->timeout_s));
    q->created_ms = now_ms(pl);
    q->seq = pl->next_seq++;
    hg_map_set(&pl->queues, name, q);
    hg_list_insert_tail(&pl->queue_order, &q->node);
    queue_save(q, txn);
    HG_LOG(HG_LOG_INFO, "placement", "queue created name=%s destinations=%zu timeout_s=%lld", name,
           q->ndests, (long long)q->timeout_s);
    *out = q;
    return 0;
}

hg_pl_queue_t *hg_pl_queue_find(hg_placement_t *pl, const char *name_or_arn)
{
    const char *p = strstr(name_or_arn, ":gamesessionqueue/");
    return hg_map_get(&pl->queues, p ? p + 18 : name_or_arn);
}

int hg_pl_queue_update(hg_placement_t *pl, hg_pl_queue_t *q, const hg_pl_queue_in_t *in,
                       hg_store_txn_t *txn, hg_error_t *err)
{
    int rc = check_in(q, in, err);
    if (rc < 0)
        return rc;
    apply_in(q, in);
    json_object_set_new(q->cfg, "TimeoutInSeconds", json_integer(q->timeout_s));
    queue_save(q, txn);
    hg_pl_kick(pl); /* new destinations or a relaxed policy may place what waits */
    return 0;
}

size_t hg_pl_queue_list(hg_placement_t *pl, uint64_t after, size_t limit, hg_pl_queue_t **out,
                        int *more)
{
    size_t n = 0;
    *more = 0;
    hg_list_t *q;
    hg_list_foreach (q, &pl->queue_order) {
        hg_pl_queue_t *qu = hg_container_of(q, hg_pl_queue_t, node);
        if (qu->seq <= after)
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = qu;
    }
    return n;
}

int hg_pl_tags_get(hg_placement_t *pl, const char *arn, json_t **tags, hg_error_t *err)
{
    hg_pl_queue_t *q = strstr(arn, ":gamesessionqueue/") ? hg_pl_queue_find(pl, arn) : NULL;
    if (q == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Resource %s not found", arn);
    *tags = q->tags;
    return 0;
}

int hg_pl_tags_set(hg_placement_t *pl, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err)
{
    hg_pl_queue_t *q = strstr(arn, ":gamesessionqueue/") ? hg_pl_queue_find(pl, arn) : NULL;
    if (q == NULL) {
        json_decref(tags);
        return hg_error_set(err, HG_ENOTFOUND, "Resource %s not found", arn);
    }
    json_decref(q->tags);
    q->tags = tags;
    queue_save(q, txn);
    return 0;
}

/* ---- placements: records ---- */

static void placement_save(const hg_pl_placement_t *p, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:s,s:O,s:I,s:I,s:I,s:I}", "queue", p->queue_name, "status",
                          hg_pl_status_name(p->status), "req", p->req, "start_ms",
                          (json_int_t)p->start_ms, "end_ms", (json_int_t)p->end_ms, "deadline_ms",
                          (json_int_t)p->deadline_ms, "seq", (json_int_t)p->seq);
    if (p->gs_arn) {
        json_object_set_new(r, "gs", json_string(p->gs_arn));
        json_object_set_new(r, "fleet", json_string(p->fleet_id));
        json_object_set_new(r, "fleet_arn", json_string(p->fleet_arn));
        json_object_set_new(r, "location", json_string(p->location));
        if (p->ip)
            json_object_set_new(r, "ip", json_string(p->ip));
        if (p->dns)
            json_object_set_new(r, "dns", json_string(p->dns));
        json_object_set_new(r, "port", json_integer(p->port));
    }
    if (p->nplaced) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->nplaced; i++)
            json_array_append_new(
                a, json_pack("{s:s,s:s}", "p", p->placed[i].player, "s", p->placed[i].psid));
        json_object_set_new(r, "placed", a);
    }
    hg_store_put(txn, COLL_PLACEMENTS, p->id, r);
    json_decref(r);
}

static void set_session(hg_placement_t *pl, hg_pl_placement_t *p, const hg_fl_gsession_t *gs)
{
    if (p->gs_arn)
        hg_map_del(&pl->by_gs, p->gs_arn);
    hg_free(p->gs_arn);
    hg_free(p->fleet_id);
    hg_free(p->fleet_arn);
    hg_free(p->location);
    hg_free(p->ip);
    hg_free(p->dns);
    p->gs_arn = p->fleet_id = p->fleet_arn = p->location = p->ip = p->dns = NULL;
    p->port = 0;
    if (gs == NULL)
        return;
    p->gs_arn = hg_strdup(gs->arn);
    p->fleet_id = hg_strdup(gs->fleet->id);
    p->fleet_arn = hg_strdup(gs->fleet->arn);
    p->location = hg_strdup(gs->location);
    p->ip = gs->ip ? hg_strdup(gs->ip) : NULL;
    p->dns = gs->dns ? hg_strdup(gs->dns) : NULL;
    p->port = gs->port;
    if (p->status == HG_PL_PENDING)
        hg_map_set(&pl->by_gs, p->gs_arn, p);
}

/* PENDING → an end state: off the queue, on the retention list, its event. */
static void finish(hg_placement_t *pl, hg_pl_placement_t *p, hg_pl_status_t st, hg_store_txn_t *txn)
{
    p->status = st;
    p->end_ms = now_ms(pl);
    if (p->gs_arn)
        hg_map_del(&pl->by_gs, p->gs_arn);
    if (hg_list_linked(&p->qnode)) {
        hg_list_remove(&p->qnode);
        p->queue->npending--;
        pl->npending--;
    }
    p->queue = NULL;
    hg_list_insert_tail(&pl->done, &p->dnode);
    pl->ndone++;
    switch (st) {
    case HG_PL_FULFILLED: pl->fulfilled++; break;
    case HG_PL_TIMED_OUT: pl->timed_out++; break;
    case HG_PL_CANCELLED: pl->cancelled++; break;
    default: pl->failed++; break;
    }
    placement_save(p, txn);
    HG_LOG(HG_LOG_INFO, "placement", "placement %s id=%s queue=%s%s%s", hg_pl_status_name(st),
           p->id, p->queue_name, p->location ? " location=" : "", p->location ? p->location : "");
    if (pl->sink.ended)
        pl->sink.ended(pl->sink.ud, txn, p);
    while (pl->ndone > HG_PL_MAX_DONE) {
        hg_pl_placement_t *old = hg_container_of(pl->done.next, hg_pl_placement_t, dnode);
        hg_list_remove(&old->dnode);
        pl->ndone--;
        hg_map_del(&pl->placements, old->id);
        hg_store_del(txn, COLL_PLACEMENTS, old->id);
        placement_free(old);
    }
}

/* ---- the attempt ---- */

static double fleet_cost(const hg_fl_fleet_t *f)
{
    const char *cost = json_string_value(
        json_object_get(json_object_get(f->attrs, "AnywhereConfiguration"), "Cost"));
    return cost ? strtod(cost, NULL) : 0;
}

/* The fleet a destination ARN names now (an alias is resolved; NULL when it routes nowhere). */
static hg_fl_fleet_t *dest_fleet(hg_placement_t *pl, const char *arn)
{
    if (strstr(arn, ":alias/") || strncmp(arn, "alias-", 6) == 0) {
        hg_fl_alias_t *a = hg_fl_alias_find(pl->fleet, arn);
        const char *fid;
        hg_error_t err;
        if (a == NULL || hg_fl_alias_resolve(a, &fid, &err) < 0)
            return NULL;
        return hg_fl_fleet_find(pl->fleet, fid);
    }
    return hg_fl_fleet_find(pl->fleet, arn);
}

/* One attempt for p: 1 placed (a game session created), 0 nothing fits now. */
static int attempt(hg_placement_t *pl, hg_pl_placement_t *p, hg_store_txn_t *txn)
{
    hg_pl_queue_t *q = p->queue;
    int64_t now = now_ms(pl);
    int64_t cap = hg_pl_cap(q->policies, q->npolicies, (now - p->start_ms) / 1000);
    p->last_cap = cap;
    pl->attempts++;
    hg_pl_cand_t *c = hg_malloc(HG_PL_MAX_CANDIDATES * sizeof(*c));
    hg_fl_fleet_t **fleets = hg_malloc((q->ndests + 1) * sizeof(*fleets));
    size_t n = 0;
    const char *home = pl->region;
    for (size_t i = 0; i < q->ndests; i++) {
        hg_fl_fleet_t *f = fleets[i] = dest_fleet(pl, q->dests[i]);
        if (f == NULL || f->status != HG_FL_ACTIVE)
            continue;
        double cost = fleet_cost(f);
        for (size_t j = 0; j <= f->nlocations && n < HG_PL_MAX_CANDIDATES; j++)
            c[n++] = (hg_pl_cand_t){.dest = i,
                                    .fleet_id = f->id,
                                    .location = j < f->nlocations ? f->locations[j] : home,
                                    .cost = cost};
    }
    hg_pl_order_in_t in = {.q = q,
                           .lat = p->lat,
                           .nlat = p->nlat,
                           .override_locs = (const char *const *)p->override_locs,
                           .noverride = p->noverride,
                           .override_none = p->override_none,
                           .cap_ms = cap};
    n = hg_pl_order(&in, c, n);
    int placed = 0;
    for (size_t i = 0; i < n && !placed; i++) {
        hg_fl_fleet_t *f = fleets[c[i].dest];
        if (hg_fl_idle_count(pl->fleet, f, c[i].location) == 0)
            continue;
        hg_fl_gs_params_t prm = {
            .location = c[i].location,
            .name = json_string_value(json_object_get(p->req, "GameSessionName")),
            .data = json_string_value(json_object_get(p->req, "GameSessionData")),
            .props = json_object_get(p->req, "GameProperties"),
            .max_players = json_integer_value(json_object_get(p->req, "MaximumPlayerSessionCount")),
            /* set when FlexMatch started the placement (match/flexmatch.c) */
            .matchmaker_data = json_string_value(json_object_get(p->req, "MatchmakerData")),
        };
        hg_fl_gsession_t *gs;
        int existed;
        hg_error_t err;
        if (hg_fl_gs_create(pl->fleet, f, &prm, txn, &gs, &existed, &err) < 0) {
            HG_LOG(HG_LOG_WARN, "placement", "placement %s: %s/%s refused: %s", p->id,
                   c[i].fleet_id, c[i].location, err.msg);
            continue;
        }
        set_session(pl, p, gs);
        placement_save(p, txn);
        pl->rank[i < 3 ? i : 3]++;
        placed = 1;
        if (hg_log_level >= HG_LOG_DEBUG) {
            char why[1024];
            size_t w = 0;
            for (size_t k = 0; k < n && k < 8 && w < sizeof(why) - 100; k++)
                w += (size_t)snprintf(why + w, sizeof(why) - w, "%s%s/%s(dest %zu, %.0f ms)",
                                      k ? " > " : "", c[k].fleet_id, c[k].location, c[k].dest,
                                      c[k].latency == HUGE_VAL ? -1.0 : c[k].latency);
            HG_LOG(HG_LOG_DEBUG, "placement",
                   "placement %s → %s/%s, rank %zu of %zu, cap %lld ms; order: %s", p->id,
                   c[i].fleet_id, c[i].location, i, n, (long long)cap, why);
        }
    }
    hg_free(fleets);
    hg_free(c);
    return placed;
}

/* ---- placements ---- */

int hg_pl_start(hg_placement_t *pl, hg_pl_queue_t *q, const hg_pl_start_in_t *in,
                hg_store_txn_t *txn, hg_pl_placement_t **out, int *existed, hg_error_t *err)
{
    *existed = 0;
    hg_pl_placement_t *p = hg_map_get(&pl->placements, in->id);
    if (p) {
        *out = p;
        *existed = 1;
        return 0;
    }
    if (in->ndesired > (size_t)in->max_players || in->ndesired > HG_PL_MAX_DESIRED)
        return hg_error_set(err, HG_EINVAL,
                            "DesiredPlayerSessions: %zu players do not fit in "
                            "MaximumPlayerSessionCount %lld",
                            in->ndesired, (long long)in->max_players);
    if (in->max_players > HG_FL_MAX_PLAYERS)
        return hg_error_set(err, HG_EINVAL, "MaximumPlayerSessionCount must be at most %d",
                            HG_FL_MAX_PLAYERS);
    for (size_t i = 0; i < in->ndesired; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->desired[i], in->desired[j]) == 0)
                return hg_error_set(err, HG_EINVAL, "DesiredPlayerSessions: %s is listed twice",
                                    in->desired[i]);
    if (in->nlat > HG_PL_MAX_LATENCIES)
        return hg_error_set(err, HG_EINVAL, "PlayerLatencies: at most %d entries",
                            HG_PL_MAX_LATENCIES);
    if (in->noverride) {
        if (in->nlat)
            return hg_error_set(err, HG_EINVAL,
                                "PlayerLatencies and PriorityConfigurationOverride cannot be "
                                "used together");
        if (q->norder_given == 0 || q->order[0] != HG_PL_LOCATION)
            return hg_error_set(err, HG_EINVAL,
                                "PriorityConfigurationOverride needs a queue whose PriorityOrder "
                                "starts with LOCATION");
    }
    if (pl->npending >= HG_PL_MAX_PENDING)
        return hg_error_set(err, HG_ELIMIT, "at most %d placements may be pending",
                            HG_PL_MAX_PENDING);
    int64_t now = now_ms(pl);
    p = hg_calloc(1, sizeof(*p));
    p->id = hg_strdup(in->id);
    p->queue_name = hg_strdup(q->name);
    p->queue = q;
    p->status = HG_PL_PENDING;
    p->req = json_deep_copy(in->req);
    p->lat = hg_calloc(in->nlat + 1, sizeof(*p->lat));
    for (size_t i = 0; i < in->nlat; i++)
        p->lat[i] = (hg_pl_latency_t){hg_strdup(in->lat[i].player), hg_strdup(in->lat[i].location),
                                      in->lat[i].ms};
    p->nlat = in->nlat;
    p->override_locs = dup_strv(in->override_locs, in->noverride);
    p->noverride = in->noverride;
    p->override_none = in->override_none;
    p->start_ms = now;
    p->deadline_ms = now + q->timeout_s * 1000;
    p->last_cap = -2;
    p->seq = pl->next_seq++;
    hg_list_init(&p->dnode);
    hg_list_insert_tail(&q->pending, &p->qnode);
    q->npending++;
    pl->npending++;
    pl->started++;
    hg_map_set(&pl->placements, p->id, p);
    attempt(pl, p, txn); /* at once: the common case, capacity ready, places in this request */
    placement_save(p, txn);
    *out = p;
    return 0;
}

hg_pl_placement_t *hg_pl_find(hg_placement_t *pl, const char *id)
{
    return hg_map_get(&pl->placements, id);
}

int hg_pl_stop(hg_placement_t *pl, hg_pl_placement_t *p, hg_store_txn_t *txn, hg_error_t *err)
{
    if (p->status != HG_PL_PENDING)
        return hg_error_set(err, HG_EINVAL, "Placement %s is %s, not PENDING", p->id,
                            hg_pl_status_name(p->status));
    if (p->gs_arn)
        return hg_error_set(err, HG_EINVAL,
                            "Placement %s already created game session %s; it cannot be "
                            "cancelled",
                            p->id, p->gs_arn);
    finish(pl, p, HG_PL_CANCELLED, txn);
    return 0;
}

void hg_pl_queue_delete(hg_placement_t *pl, hg_pl_queue_t *q, hg_store_txn_t *txn)
{
    while (!hg_list_empty(&q->pending))
        finish(pl, hg_container_of(q->pending.next, hg_pl_placement_t, qnode), HG_PL_FAILED, txn);
    hg_store_del(txn, COLL_QUEUES, q->name);
    hg_list_remove(&q->node);
    hg_map_del(&pl->queues, q->name);
    HG_LOG(HG_LOG_INFO, "placement", "queue deleted name=%s", q->name);
    queue_free(q);
}

/* ---- engine ---- */

void hg_pl_kick(hg_placement_t *pl)
{
    if (pl->npending == 0 || pl->woken)
        return;
    pl->woken = 1;
    if (pl->sink.wake)
        pl->sink.wake(pl->sink.ud);
}

void hg_pl_on_session(hg_placement_t *pl, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    hg_pl_placement_t *p = hg_map_get(&pl->by_gs, gs->arn);
    if (p == NULL || p->status != HG_PL_PENDING)
        return;
    if (gs->status == HG_GS_ACTIVE) {
        /* reserve the desired players: their 60 s acceptance clock starts now */
        json_t *desired = json_object_get(p->req, "DesiredPlayerSessions");
        size_t n = json_array_size(desired);
        const char *ids[HG_PL_MAX_DESIRED], *data[HG_PL_MAX_DESIRED];
        hg_fl_psession_t *ps[HG_PL_MAX_DESIRED];
        for (size_t i = 0; i < n && i < HG_PL_MAX_DESIRED; i++) {
            json_t *d = json_array_get(desired, i);
            ids[i] = json_string_value(json_object_get(d, "PlayerId"));
            data[i] = json_string_value(json_object_get(d, "PlayerData"));
        }
        hg_error_t err;
        if (n &&
            hg_fl_ps_create(pl->fleet, (hg_fl_gsession_t *)gs, ids, data, n, txn, ps, &err) < 0) {
            HG_LOG(HG_LOG_WARN, "placement", "placement %s: players not reserved: %s", p->id,
                   err.msg);
            finish(pl, p, HG_PL_FAILED, txn);
            return;
        }
        for (size_t i = 0; i < p->nplaced; i++)
            hg_free(p->placed[i].player);
        hg_free(p->placed); /* a placement loaded PENDING has one, empty (load_placement) */
        p->placed = hg_calloc(n + 1, sizeof(*p->placed));
        for (size_t i = 0; i < n; i++) {
            p->placed[i].player = hg_strdup(ids[i]);
            snprintf(p->placed[i].psid, sizeof(p->placed[i].psid), "%s", ps[i]->id);
        }
        p->nplaced = n;
        finish(pl, p, HG_PL_FULFILLED, txn);
        return;
    }
    if (gs->status == HG_GS_TERMINATED) {
        /* the session died before it was ACTIVE: try another while time is left */
        set_session(pl, p, NULL);
        placement_save(p, txn);
        hg_pl_kick(pl);
    }
}

size_t hg_pl_run(hg_placement_t *pl, size_t budget)
{
    pl->woken = 0;
    hg_store_txn_t *txn = hg_store_txn_new(pl->store);
    size_t n = 0;
    hg_list_t *qn;
    hg_list_foreach (qn, &pl->queue_order) {
        hg_pl_queue_t *q = hg_container_of(qn, hg_pl_queue_t, node);
        hg_list_t *it;
        hg_list_foreach (it, &q->pending) {
            if (n >= budget)
                break;
            hg_pl_placement_t *p = hg_container_of(it, hg_pl_placement_t, qnode);
            if (p->gs_arn)
                continue; /* waiting for its session to be ACTIVE */
            n++;
            attempt(pl, p, txn); /* oldest first; a later one may fit where an older cannot
                                    (its latencies differ) */
        }
    }
    if (n >= budget)
        hg_pl_kick(pl); /* more to do next turn */
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    return n;
}

size_t hg_pl_tick(hg_placement_t *pl, size_t budget)
{
    int64_t now = now_ms(pl);
    hg_store_txn_t *txn = hg_store_txn_new(pl->store);
    size_t n = 0;
    int relaxed = 0;
    hg_list_t *qn;
    hg_list_foreach (qn, &pl->queue_order) {
        hg_pl_queue_t *q = hg_container_of(qn, hg_pl_queue_t, node);
        hg_list_t *it, *tmp;
        hg_list_foreach_safe (it, tmp, &q->pending) {
            if (n >= budget)
                break;
            hg_pl_placement_t *p = hg_container_of(it, hg_pl_placement_t, qnode);
            if (p->deadline_ms <= now) {
                if (p->gs_arn) {
                    hg_fl_gsession_t *gs = hg_fl_gs_find(pl->fleet, p->gs_arn);
                    hg_error_t err;
                    if (gs)
                        hg_fl_gs_terminate(pl->fleet, gs, txn, &err);
                }
                finish(pl, p, HG_PL_TIMED_OUT, txn);
                n++;
                continue;
            }
            if (!p->gs_arn && p->nlat && p->last_cap != -2 &&
                hg_pl_cap(q->policies, q->npolicies, (now - p->start_ms) / 1000) != p->last_cap)
                relaxed = 1;
        }
    }
    if (relaxed)
        hg_pl_kick(pl);
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    return n;
}

/* ---- load ---- */

/* Parse a queue's stored API members into its domain settings. */
static void queue_from_cfg(hg_pl_queue_t *q)
{
    json_t *cfg = q->cfg, *v;
    size_t i;
    queue_settings_free(q);
    json_t *t = json_object_get(cfg, "TimeoutInSeconds");
    q->timeout_s = json_is_integer(t) ? json_integer_value(t) : HG_PL_DEFAULT_TIMEOUT_S;
    json_t *d = json_object_get(cfg, "Destinations");
    q->dests = hg_calloc(json_array_size(d) + 1, sizeof(char *));
    json_array_foreach (d, i, v) {
        const char *arn = json_string_value(json_object_get(v, "DestinationArn"));
        if (arn)
            q->dests[q->ndests++] = hg_strdup(arn);
    }
    json_t *pol = json_object_get(cfg, "PlayerLatencyPolicies");
    q->policies = hg_calloc(json_array_size(pol) + 1, sizeof(*q->policies));
    json_array_foreach (pol, i, v) {
        json_t *cap = json_object_get(v, "MaximumIndividualPlayerLatencyMilliseconds");
        json_t *dur = json_object_get(v, "PolicyDurationSeconds");
        q->policies[q->npolicies++] =
            (hg_pl_policy_t){json_is_integer(cap) ? json_integer_value(cap) : 0,
                             json_is_integer(dur) ? json_integer_value(dur) : -1};
    }
    qsort(q->policies, q->npolicies, sizeof(*q->policies), cmp_policy);
    json_t *al = json_object_get(json_object_get(cfg, "FilterConfiguration"), "AllowedLocations");
    q->allowed = hg_calloc(json_array_size(al) + 1, sizeof(char *));
    json_array_foreach (al, i, v)
        if (json_is_string(v))
            q->allowed[q->nallowed++] = hg_strdup(json_string_value(v));
    json_t *pc = json_object_get(cfg, "PriorityConfiguration");
    json_t *lo = json_object_get(pc, "LocationOrder");
    q->loc_order = hg_calloc(json_array_size(lo) + 1, sizeof(char *));
    json_array_foreach (lo, i, v)
        if (json_is_string(v))
            q->loc_order[q->nloc_order++] = hg_strdup(json_string_value(v));
    json_t *po = json_object_get(pc, "PriorityOrder");
    hg_pl_prio_t order[4];
    size_t no = 0;
    json_array_foreach (po, i, v)
        for (int k = 0; k < 4 && no < 4; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), prio_names[k]) == 0)
                order[no++] = (hg_pl_prio_t)k;
    q->norder_given = 0;
    if (no) {
        q->norder_given = no;
        size_t n = 0;
        for (size_t k = 0; k < no; k++)
            q->order[n++] = order[k];
        for (int p = 0; p < 4; p++) {
            int listed = 0;
            for (size_t k = 0; k < no; k++)
                listed |= (int)order[k] == p;
            if (!listed)
                q->order[n++] = (hg_pl_prio_t)p;
        }
    }
}

static int load_queue(void *ud, const char *key, json_t *v)
{
    hg_placement_t *pl = ud;
    hg_pl_queue_t *q = queue_new(pl, key);
    json_t *cfg = json_object_get(v, "cfg");
    if (json_is_object(cfg)) {
        json_decref(q->cfg);
        q->cfg = json_deep_copy(cfg);
    }
    json_t *tags = json_object_get(v, "tags");
    q->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    q->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    q->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    queue_from_cfg(q);
    hg_map_set(&pl->queues, q->name, q);
    if (q->seq >= pl->next_seq)
        pl->next_seq = q->seq + 1;
    return 0;
}

static int load_placement(void *ud, const char *key, json_t *v)
{
    hg_vec_t *vec = ud;
    hg_pl_placement_t *p = hg_calloc(1, sizeof(*p));
    p->id = hg_strdup(key);
    const char *qn = json_string_value(json_object_get(v, "queue"));
    p->queue_name = hg_strdup(qn ? qn : "");
    const char *st = json_string_value(json_object_get(v, "status"));
    p->status = HG_PL_FAILED;
    for (int i = 0; st && i < 5; i++)
        if (strcmp(st, status_names[i]) == 0)
            p->status = (hg_pl_status_t)i;
    json_t *req = json_object_get(v, "req");
    p->req = json_is_object(req) ? json_incref(req) : json_object();
    p->start_ms = json_integer_value(json_object_get(v, "start_ms"));
    p->end_ms = json_integer_value(json_object_get(v, "end_ms"));
    p->deadline_ms = json_integer_value(json_object_get(v, "deadline_ms"));
    p->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    p->last_cap = -2;
    const char *gs = json_string_value(json_object_get(v, "gs"));
    if (gs) {
        p->gs_arn = hg_strdup(gs);
        const char *s;
        p->fleet_id = hg_strdup((s = json_string_value(json_object_get(v, "fleet"))) ? s : "");
        p->fleet_arn = hg_strdup((s = json_string_value(json_object_get(v, "fleet_arn"))) ? s : "");
        p->location = hg_strdup((s = json_string_value(json_object_get(v, "location"))) ? s : "");
        p->ip = (s = json_string_value(json_object_get(v, "ip"))) ? hg_strdup(s) : NULL;
        p->dns = (s = json_string_value(json_object_get(v, "dns"))) ? hg_strdup(s) : NULL;
        p->port = (int)json_integer_value(json_object_get(v, "port"));
    }
    json_t *placed = json_object_get(v, "placed");
    p->placed = hg_calloc(json_array_size(placed) + 1, sizeof(*p->placed));
    size_t i;
    json_t *e;
    json_array_foreach (placed, i, e) {
        const char *pid = json_string_value(json_object_get(e, "p"));
        const char *sid = json_string_value(json_object_get(e, "s"));
        if (pid && sid) {
            p->placed[p->nplaced].player = hg_strdup(pid);
            snprintf(p->placed[p->nplaced].psid, sizeof(p->placed[0].psid), "%s", sid);
            p->nplaced++;
        }
    }
    /* the request's latencies and override, for attempts after a restart */
    json_t *lat = json_object_get(p->req, "PlayerLatencies");
    p->lat = hg_calloc(json_array_size(lat) + 1, sizeof(*p->lat));
    json_array_foreach (lat, i, e) {
        const char *pid = json_string_value(json_object_get(e, "PlayerId"));
        const char *reg = json_string_value(json_object_get(e, "RegionIdentifier"));
        json_t *ms = json_object_get(e, "LatencyInMilliseconds");
        if (pid && reg && json_is_number(ms))
            p->lat[p->nlat++] =
                (hg_pl_latency_t){hg_strdup(pid), hg_strdup(reg), json_number_value(ms)};
    }
    json_t *ov = json_object_get(p->req, "PriorityConfigurationOverride");
    json_t *ol = json_object_get(ov, "LocationOrder");
    p->override_locs = hg_calloc(json_array_size(ol) + 1, sizeof(char *));
    json_array_foreach (ol, i, e)
        if (json_is_string(e))
            p->override_locs[p->noverride++] = hg_strdup(json_string_value(e));
    const char *fb = json_string_value(json_object_get(ov, "PlacementFallbackStrategy"));
    p->override_none = fb && strcmp(fb, "NONE") == 0;
    hg_list_init(&p->qnode);
    hg_list_init(&p->dnode);
    hg_vec_push(vec, p);
    return 0;
}

static int cmp_queue_seq(const void *a, const void *b)
{
    const hg_pl_queue_t *x = *(void *const *)a, *y = *(void *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_pl_seq(const void *a, const void *b)
{
    const hg_pl_placement_t *x = *(void *const *)a, *y = *(void *const *)b;
    if (x->status != HG_PL_PENDING && y->status != HG_PL_PENDING && x->end_ms != y->end_ms)
        return x->end_ms < y->end_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int hg_placement_load(hg_placement_t *pl)
{
    int rc = hg_store_load(pl->store, COLL_QUEUES, load_queue, pl);
    if (rc < 0)
        return rc;
    /* queues in creation order */
    size_t nq = hg_map_count(&pl->queues), k = 0;
    hg_pl_queue_t **qs = hg_calloc(nq + 1, sizeof(*qs));
    size_t it = 0;
    void *v;
    while (hg_map_next(&pl->queues, &it, NULL, &v))
        qs[k++] = v;
    qsort(qs, nq, sizeof(*qs), cmp_queue_seq);
    for (k = 0; k < nq; k++)
        hg_list_insert_tail(&pl->queue_order, &qs[k]->node);
    hg_free(qs);
    hg_vec_t vec = {0};
    rc = hg_store_load(pl->store, COLL_PLACEMENTS, load_placement, &vec);
    if (vec.n)
        qsort(vec.all, vec.n, sizeof(*vec.all), cmp_pl_seq);
    hg_store_txn_t *fix = hg_store_txn_new(pl->store);
    for (size_t i = 0; i < vec.n; i++) {
        hg_pl_placement_t *p = vec.all[i];
        if (rc < 0) {
            placement_free(p);
            continue;
        }
        if (p->seq >= pl->next_seq)
            pl->next_seq = p->seq + 1;
        hg_map_set(&pl->placements, p->id, p);
        if (p->status != HG_PL_PENDING) {
            hg_list_insert_tail(&pl->done, &p->dnode);
            pl->ndone++;
            continue;
        }
        hg_pl_queue_t *q = hg_map_get(&pl->queues, p->queue_name);
        if (q == NULL) {
            p->status = HG_PL_FAILED;
            p->end_ms = now_ms(pl);
            hg_list_insert_tail(&pl->done, &p->dnode);
            pl->ndone++;
            placement_save(p, fix);
            continue;
        }
        p->queue = q;
        hg_list_insert_tail(&q->pending, &p->qnode);
        q->npending++;
        pl->npending++;
        if (p->gs_arn) {
            const hg_fl_gsession_t *gs = hg_fl_gs_find(pl->fleet, p->gs_arn);
            if (gs && gs->status == HG_GS_ACTIVATING)
                hg_map_set(&pl->by_gs, p->gs_arn, p);
            else if (gs && gs->status == HG_GS_ACTIVE)
                hg_map_set(&pl->by_gs, p->gs_arn, p), hg_pl_on_session(pl, fix, gs);
            else
                set_session(pl, p, NULL), placement_save(p, fix);
        }
    }
    hg_free(vec.all);
    if (rc < 0 || hg_store_txn_empty(fix))
        hg_store_txn_free(fix);
    else
        hg_store_commit(fix, NULL, NULL);
    HG_LOG(HG_LOG_INFO, "placement", "loaded queues=%zu pending=%zu ended=%zu",
           hg_map_count(&pl->queues), pl->npending, pl->ndone);
    return rc;
}
