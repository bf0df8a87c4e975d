/* hangar — fleets: the module, custom locations, fleets, fleet events and tags (design and
 * state tables in fleet.h, durable records in fleet_int.h; aliases in alias.c, computes and
 * tokens in compute.c).
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/vec.h"
#include "fleet/fleet_int.h"

static const char *status_names[] = {"ACTIVE", "TERMINATED"};

const char *hg_fl_status_name(hg_fl_status_t s)
{
    return status_names[s];
}

/* ---- helpers shared by the module's files ---- */

static void format_uuid(const char *prefix, unsigned char b[16], char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    char u[37];
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            u[o++] = '-';
        u[o++] = hex[b[i] >> 4];
        u[o++] = hex[b[i] & 15];
    }
    u[o] = '\0';
    snprintf(out, cap, "%s%s", prefix, u);
}

void hg_fl_new_id(const char *prefix, char *out, size_t cap)
{
    unsigned char b[16];
    HG_BUG_ON(RAND_bytes(b, sizeof(b)) != 1);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 1 */
    format_uuid(prefix, b, out, cap);
}

void hg_fl_new_time_id(const char *prefix, int64_t now_ms, char *out, size_t cap)
{
    unsigned char b[16];
    HG_BUG_ON(RAND_bytes(b + 6, 10) != 1);
    uint64_t ms = (uint64_t)now_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x70); /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 1 */
    format_uuid(prefix, b, out, cap);
}

char *hg_fl_arn(const hg_fleet_t *fl, const char *kind, const char *id)
{
    size_t n = strlen(fl->cfg.region) + strlen(fl->cfg.account) + strlen(kind) + strlen(id) + 32;
    char *arn = hg_malloc(n);
    snprintf(arn, n, "arn:aws:gamelift:%s:%s:%s/%s", fl->cfg.region, fl->cfg.account, kind, id);
    return arn;
}

const char *hg_fl_arn_id(const char *arn, const char *kind)
{
    if (strncmp(arn, "arn:", 4) != 0)
        return NULL;
    char pat[64];
    snprintf(pat, sizeof(pat), ":%s/", kind);
    const char *p = strstr(arn, pat);
    return p ? p + strlen(pat) : NULL;
}

char *hg_fl_strdup_opt(const char *s)
{
    return s && *s ? hg_strdup(s) : NULL;
}

json_t *hg_fl_tags_or_empty(json_t *tags)
{
    return tags ? json_incref(tags) : json_array();
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* ---- module ---- */

hg_fleet_t *hg_fleet_new(hg_clock_t *clock, hg_store_t *store, const hg_fl_config_t *cfg)
{
    hg_fleet_t *fl = hg_calloc(1, sizeof(*fl));
    fl->clock = clock;
    fl->store = store;
    fl->cfg = *cfg;
    if (fl->cfg.token_ttl_ms <= 0)
        fl->cfg.token_ttl_ms = HG_FL_TOKEN_TTL_MS;
    hg_map_init(&fl->locations);
    hg_map_init(&fl->fleets);
    hg_map_init(&fl->aliases);
    hg_list_init(&fl->fleet_order);
    hg_list_init(&fl->terminated);
    hg_list_init(&fl->alias_order);
    hg_fl_session_init(fl);
    fl->next_seq = 1;
    return fl;
}

const hg_fl_config_t *hg_fleet_config(const hg_fleet_t *fl)
{
    return &fl->cfg;
}

static void location_free(hg_fl_location_t *loc)
{
    hg_free(loc->name);
    hg_free(loc->arn);
    json_decref(loc->tags);
    hg_free(loc);
}

static void event_free(hg_fl_event_t *ev)
{
    hg_free(ev->code);
    hg_free(ev->message);
    hg_free(ev);
}

static void fleet_free(hg_fl_fleet_t *f)
{
    size_t it = 0;
    void *v;
    while (hg_map_next(&f->computes, &it, NULL, &v))
        hg_fl_compute_free(v);
    hg_map_free(&f->computes);
    while (!hg_list_empty(&f->events)) {
        hg_fl_event_t *ev = hg_container_of(f->events.next, hg_fl_event_t, node);
        hg_list_remove(&ev->node);
        event_free(ev);
    }
    for (size_t i = 0; i < f->nlocations; i++)
        hg_free(f->locations[i]);
    hg_free(f->locations);
    json_decref(f->attrs);
    json_decref(f->tags);
    hg_free(f->id);
    hg_free(f->arn);
    hg_free(f);
}

void hg_fleet_free(hg_fleet_t *fl)
{
    if (fl == NULL)
        return;
    hg_fl_session_free(fl);
    size_t it = 0;
    void *v;
    while (hg_map_next(&fl->fleets, &it, NULL, &v))
        fleet_free(v);
    it = 0;
    while (hg_map_next(&fl->locations, &it, NULL, &v))
        location_free(v);
    it = 0;
    while (hg_map_next(&fl->aliases, &it, NULL, &v))
        hg_fl_alias_free(v);
    hg_map_free(&fl->fleets);
    hg_map_free(&fl->locations);
    hg_map_free(&fl->aliases);
    hg_free(fl);
}

/* ---- records ---- */

static void save_location(const hg_fl_location_t *loc, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:O,s:I}", "arn", loc->arn, "tags", loc->tags, "created_ms",
                          (json_int_t)loc->created_ms);
    hg_store_put(txn, COLL_LOCATIONS, loc->name, r);
    json_decref(r);
}

static void save_fleet(const hg_fl_fleet_t *f, hg_store_txn_t *txn)
{
    json_t *locs = json_array();
    for (size_t i = 0; i < f->nlocations; i++)
        json_array_append_new(locs, json_string(f->locations[i]));
    json_t *r = json_pack("{s:s,s:O,s:O,s:s,s:o,s:I,s:I,s:I}", "arn", f->arn, "attrs", f->attrs,
                          "tags", f->tags, "status", status_names[f->status], "locations", locs,
                          "created_ms", (json_int_t)f->created_ms, "terminated_ms",
                          (json_int_t)f->terminated_ms, "seq", (json_int_t)f->seq);
    hg_store_put(txn, COLL_FLEETS, f->id, r);
    json_decref(r);
}

static void event_key(const hg_fl_fleet_t *f, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016llx", f->id, (unsigned long long)seq);
}

/* ---- custom locations ---- */

int hg_fl_location_create(hg_fleet_t *fl, const char *name, json_t *tags, hg_store_txn_t *txn,
                          hg_fl_location_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    if (strncmp(name, "custom-", 7) != 0) {
        rc = hg_error_set(err, HG_EINVAL, "Location name %s must start with custom-", name);
        goto out;
    }
    if (hg_map_get(&fl->locations, name)) {
        rc = hg_error_set(err, HG_ECONFLICT, "Location %s already exists", name);
        goto out;
    }
    if (hg_map_count(&fl->locations) >= HG_FL_MAX_LOCATIONS) {
        rc = hg_error_set(err, HG_ELIMIT, "at most %d custom locations", HG_FL_MAX_LOCATIONS);
        goto out;
    }
    hg_fl_location_t *loc = hg_calloc(1, sizeof(*loc));
    loc->name = hg_strdup(name);
    loc->arn = hg_fl_arn(fl, "location", name);
    loc->tags = hg_fl_tags_or_empty(tags);
    loc->created_ms = hg_fl_now(fl);
    hg_map_set(&fl->locations, loc->name, loc);
    save_location(loc, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "location created name=%s", name);
    *out = loc;
out:
    json_decref(tags);
    return rc;
}

hg_fl_location_t *hg_fl_location_find(hg_fleet_t *fl, const char *name_or_arn)
{
    const char *name = hg_fl_arn_id(name_or_arn, "location");
    if (name == NULL)
        return hg_map_get(&fl->locations, name_or_arn);
    hg_fl_location_t *loc = hg_map_get(&fl->locations, name);
    return loc && strcmp(loc->arn, name_or_arn) == 0 ? loc : NULL;
}

int hg_fl_location_delete(hg_fleet_t *fl, hg_fl_location_t *loc, hg_store_txn_t *txn,
                          hg_error_t *err)
{
    if (loc->nfleets)
        return hg_error_set(err, HG_EINVAL,
                            "Location %s is used by %zu fleet%s; delete the fleets or remove the "
                            "location from them first",
                            loc->name, loc->nfleets, loc->nfleets == 1 ? "" : "s");
    hg_map_del(&fl->locations, loc->name);
    hg_store_del(txn, COLL_LOCATIONS, loc->name);
    HG_LOG(HG_LOG_INFO, "fleet", "location deleted name=%s", loc->name);
    location_free(loc);
    return 0;
}

static int cmp_location(const void *a, const void *b)
{
    return strcmp((*(hg_fl_location_t *const *)a)->name, (*(hg_fl_location_t *const *)b)->name);
}

size_t hg_fl_location_list(hg_fleet_t *fl, const char *after, size_t limit, hg_fl_location_t **out,
                           int *more)
{
    size_t n = hg_map_count(&fl->locations), k = 0, it = 0;
    hg_fl_location_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&fl->locations, &it, NULL, &v))
        if (after == NULL || strcmp(((hg_fl_location_t *)v)->name, after) > 0)
            all[k++] = v;
    qsort(all, k, sizeof(*all), cmp_location);
    size_t m = k < limit ? k : limit;
    memcpy(out, all, m * sizeof(*all));
    *more = k > limit;
    hg_free(all);
    return m;
}

/* ---- fleets ---- */

int hg_fl_fleet_has_location(const hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *name)
{
    if (strcmp(name, fl->cfg.region) == 0)
        return 1;
    for (size_t i = 0; i < f->nlocations; i++)
        if (strcmp(f->locations[i], name) == 0)
            return 1;
    return 0;
}

/* Check custom locations to add to f (NULL: a new fleet): they exist, are custom, are not
 * repeated and not in f yet. The home Region is allowed and skipped. Sets *nnew. */
static int check_new_locations(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *const *names,
                               size_t n, size_t *nnew, hg_error_t *err)
{
    *nnew = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        if (strcmp(name, fl->cfg.region) == 0)
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[j], name) == 0)
                return hg_error_set(err, HG_EINVAL, "Location %s is listed more than once", name);
        if (strncmp(name, "custom-", 7) != 0)
            return hg_error_set(err, HG_EINVAL,
                                "Location %s is not a custom location: ANYWHERE fleets take their "
                                "home Region %s and custom locations (CreateLocation)",
                                name, fl->cfg.region);
        if (hg_map_get(&fl->locations, name) == NULL)
            return hg_error_set(err, HG_ENOTFOUND, "Location %s not found", name);
        if (f && hg_fl_fleet_has_location(fl, f, name))
            return hg_error_set(err, HG_EINVAL, "Fleet %s already has location %s", f->id, name);
        (*nnew)++;
    }
    size_t have = f ? f->nlocations : 0;
    if (have + *nnew > HG_FL_MAX_FLEET_LOCATIONS)
        return hg_error_set(err, HG_ELIMIT, "a fleet has at most %d custom locations",
                            HG_FL_MAX_FLEET_LOCATIONS);
    return 0;
}

static void add_locations(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *const *names, size_t n,
                          size_t nnew)
{
    f->locations = hg_realloc(f->locations, (f->nlocations + nnew + 1) * sizeof(*f->locations));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], fl->cfg.region) == 0)
            continue;
        f->locations[f->nlocations++] = hg_strdup(names[i]);
        hg_fl_location_t *loc = hg_map_get(&fl->locations, names[i]);
        loc->nfleets++;
    }
}

int hg_fl_fleet_create(hg_fleet_t *fl, json_t *attrs, const char *const *locations, size_t nloc,
                       json_t *tags, hg_store_txn_t *txn, hg_fl_fleet_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    size_t nnew;
    if ((rc = check_new_locations(fl, NULL, locations, nloc, &nnew, err)) < 0)
        goto out;
    if (fl->nlive >= HG_FL_MAX_FLEETS) {
        rc = hg_error_set(err, HG_ELIMIT, "at most %d fleets", HG_FL_MAX_FLEETS);
        goto out;
    }
    hg_fl_fleet_t *f = hg_calloc(1, sizeof(*f));
    char id[64];
    hg_fl_new_id("fleet-", id, sizeof(id));
    f->id = hg_strdup(id);
    f->arn = hg_fl_arn(fl, "fleet", id);
    f->attrs = json_incref(attrs);
    f->tags = hg_fl_tags_or_empty(tags);
    f->status = HG_FL_ACTIVE;
    f->created_ms = hg_fl_now(fl);
    f->seq = fl->next_seq++;
    hg_map_init(&f->computes);
    hg_list_init(&f->by_reg);
    hg_list_init(&f->events);
    hg_list_init(&f->gsessions);
    hg_list_init(&f->tnode);
    add_locations(fl, f, locations, nloc, nnew);
    hg_map_set(&fl->fleets, f->id, f);
    hg_list_insert_tail(&fl->fleet_order, &f->node);
    fl->nlive++;
    save_fleet(f, txn);
    char msg[160];
    snprintf(msg, sizeof(msg), "Fleet %s created.", f->id);
    hg_fl_event_add(fl, f, "FLEET_CREATED", msg, txn);
    snprintf(msg, sizeof(msg), "Fleet %s changed status to ACTIVE.", f->id);
    hg_fl_event_add(fl, f, "FLEET_STATE_ACTIVE", msg, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "fleet created id=%s locations=%zu", f->id, f->nlocations);
    *out = f;
out:
    json_decref(attrs);
    json_decref(tags);
    return rc;
}

hg_fl_fleet_t *hg_fl_fleet_find(hg_fleet_t *fl, const char *id_or_arn)
{
    const char *id = hg_fl_arn_id(id_or_arn, "fleet");
    if (id == NULL)
        return hg_map_get(&fl->fleets, id_or_arn);
    hg_fl_fleet_t *f = hg_map_get(&fl->fleets, id);
    return f && strcmp(f->arn, id_or_arn) == 0 ? f : NULL;
}

int hg_fl_fleet_get(hg_fleet_t *fl, const char *id_or_arn, hg_fl_fleet_t **out, hg_error_t *err)
{
    *out = hg_fl_fleet_find(fl, id_or_arn);
    if (*out == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Fleet %s not found", id_or_arn);
    return 0;
}

int hg_fl_fleet_check_active(const hg_fl_fleet_t *f, hg_error_t *err)
{
    if (f->status != HG_FL_ACTIVE)
        return hg_error_set(err, HG_EFLEETSTATUS, "Fleet %s is %s", f->id, status_names[f->status]);
    return 0;
}

void hg_fl_fleet_save(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn)
{
    (void)fl;
    save_fleet(f, txn);
}

static void release_locations(hg_fleet_t *fl, hg_fl_fleet_t *f)
{
    for (size_t i = 0; i < f->nlocations; i++) {
        hg_fl_location_t *loc = hg_map_get(&fl->locations, f->locations[i]);
        if (loc && loc->nfleets)
            loc->nfleets--;
    }
}

/* A TERMINATED fleet goes for good: its record and its events. */
static void fleet_remove(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn)
{
    hg_list_t *q;
    hg_list_foreach (q, &f->events) {
        char key[128];
        event_key(f, hg_container_of(q, hg_fl_event_t, node)->seq, key, sizeof(key));
        hg_store_del(txn, COLL_EVENTS, key);
    }
    hg_fl_gs_drop_fleet(fl, f, txn);
    hg_store_del(txn, COLL_FLEETS, f->id);
    hg_list_remove(&f->node);
    hg_list_remove(&f->tnode);
    hg_map_del(&fl->fleets, f->id);
    fl->nterminated--;
    fleet_free(f);
}

int hg_fl_fleet_delete(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn, hg_error_t *err)
{
    int rc = hg_fl_fleet_check_active(f, err);
    if (rc < 0)
        return rc;
    size_t ncomputes = hg_map_count(&f->computes);
    hg_fl_compute_drop_all(fl, f, NULL, txn);
    release_locations(fl, f);
    f->status = HG_FL_TERMINATED;
    f->terminated_ms = hg_fl_now(fl);
    fl->nlive--;
    fl->nterminated++;
    hg_list_insert_tail(&fl->terminated, &f->tnode);
    char msg[200];
    snprintf(msg, sizeof(msg), "Fleet %s deleted (%zu compute%s deregistered).", f->id, ncomputes,
             ncomputes == 1 ? "" : "s");
    hg_fl_event_add(fl, f, "FLEET_DELETED", msg, txn);
    save_fleet(f, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "fleet deleted id=%s computes=%zu", f->id, ncomputes);
    while (fl->nterminated > HG_FL_MAX_TERMINATED)
        fleet_remove(fl, hg_container_of(fl->terminated.next, hg_fl_fleet_t, tnode), txn);
    return 0;
}

int hg_fl_fleet_add_locations(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *const *names, size_t n,
                              hg_store_txn_t *txn, hg_error_t *err)
{
    int rc = hg_fl_fleet_check_active(f, err);
    size_t nnew;
    if (rc < 0 || (rc = check_new_locations(fl, f, names, n, &nnew, err)) < 0)
        return rc;
    add_locations(fl, f, names, n, nnew);
    save_fleet(f, txn);
    return 0;
}

int hg_fl_fleet_remove_locations(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *const *names,
                                 size_t n, hg_store_txn_t *txn, hg_error_t *err)
{
    int rc = hg_fl_fleet_check_active(f, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], fl->cfg.region) == 0)
            return hg_error_set(err, HG_EINVAL,
                                "%s is the fleet's home Region and cannot be removed", names[i]);
        if (!hg_fl_fleet_has_location(fl, f, names[i]))
            return hg_error_set(err, HG_EINVAL, "Fleet %s has no location %s", f->id, names[i]);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < f->nlocations; j++) {
            if (strcmp(f->locations[j], names[i]) != 0)
                continue;
            hg_fl_compute_drop_all(fl, f, f->locations[j], txn);
            hg_fl_location_t *loc = hg_map_get(&fl->locations, f->locations[j]);
            if (loc && loc->nfleets)
                loc->nfleets--;
            hg_free(f->locations[j]);
            memmove(&f->locations[j], &f->locations[j + 1],
                    (f->nlocations - j - 1) * sizeof(*f->locations));
            f->nlocations--;
            break;
        }
    }
    save_fleet(f, txn);
    return 0;
}

size_t hg_fl_fleet_list(hg_fleet_t *fl, uint64_t after, size_t limit, hg_fl_fleet_t **out,
                        int *more)
{
    size_t n = 0;
    *more = 0;
    hg_list_t *q;
    hg_list_foreach (q, &fl->fleet_order) {
        hg_fl_fleet_t *f = hg_container_of(q, hg_fl_fleet_t, node);
        if (f->status == HG_FL_TERMINATED || f->seq <= after)
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = f;
    }
    return n;
}

void hg_fl_fleet_counts(const hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location,
                        hg_fl_counts_t *out)
{
    (void)fl;
    memset(out, 0, sizeof(*out));
    const hg_list_t *q, *r;
    hg_list_foreach (q, &f->by_reg) {
        const hg_fl_compute_t *c = hg_container_of(q, hg_fl_compute_t, node);
        if (location && strcmp(c->location, location) != 0)
            continue;
        out->computes++;
        int busy = 0;
        hg_list_foreach (r, &c->processes) {
            const hg_fl_process_t *p = hg_container_of(r, hg_fl_process_t, cnode);
            if (p->state != HG_PR_ACTIVE)
                continue;
            out->processes++;
            if (p->gs == NULL)
                continue;
            busy = 1;
            if (p->gs->status == HG_GS_ACTIVE || p->gs->status == HG_GS_ACTIVATING) {
                out->game_sessions++;
                out->players += p->gs->nplayers;
                out->max_players += (size_t)p->gs->max_players;
            }
        }
        if (!busy)
            out->idle_computes++;
    }
}

/* ---- events ---- */

static void event_save(const hg_fl_fleet_t *f, const hg_fl_event_t *ev, hg_store_txn_t *txn)
{
    char key[128];
    event_key(f, ev->seq, key, sizeof(key));
    json_t *r =
        json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", ev->id, "code", ev->code, "message", ev->message,
                  "time_ms", (json_int_t)ev->time_ms, "seq", (json_int_t)ev->seq);
    hg_store_put(txn, COLL_EVENTS, key, r);
    json_decref(r);
}

void hg_fl_event_add(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *code, const char *message,
                     hg_store_txn_t *txn)
{
    hg_fl_event_t *ev = hg_calloc(1, sizeof(*ev));
    hg_fl_new_id("", ev->id, sizeof(ev->id));
    ev->code = hg_strdup(code);
    ev->message = hg_strdup(message);
    ev->time_ms = hg_fl_now(fl);
    ev->seq = fl->next_seq++;
    hg_list_insert_tail(&f->events, &ev->node);
    f->nevents++;
    event_save(f, ev, txn);
    while (f->nevents > HG_FL_MAX_EVENTS) {
        hg_fl_event_t *old = hg_container_of(f->events.next, hg_fl_event_t, node);
        char key[128];
        event_key(f, old->seq, key, sizeof(key));
        hg_store_del(txn, COLL_EVENTS, key);
        hg_list_remove(&old->node);
        f->nevents--;
        event_free(old);
    }
}

size_t hg_fl_event_list(const hg_fl_fleet_t *f, int64_t start_ms, int64_t end_ms, uint64_t after,
                        size_t limit, hg_fl_event_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const hg_list_t *q;
    hg_list_foreach (q, &f->events) {
        hg_fl_event_t *ev = hg_container_of(q, hg_fl_event_t, node);
        if (ev->seq <= after || (start_ms && ev->time_ms < start_ms) ||
            (end_ms && ev->time_ms > end_ms))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = ev;
    }
    return n;
}

/* ---- tags ---- */

/* The tag array of the resource named by arn: a pointer to the owning slot, and how to save. */
typedef struct tagged {
    json_t **tags;
    hg_fl_location_t *loc;
    hg_fl_fleet_t *fleet;
    hg_fl_alias_t *alias;
} tagged_t;

static int find_tagged(hg_fleet_t *fl, const char *arn, tagged_t *t, hg_error_t *err)
{
    memset(t, 0, sizeof(*t));
    if (hg_fl_arn_id(arn, "fleet")) {
        t->fleet = hg_fl_fleet_find(fl, arn);
        if (t->fleet && t->fleet->status == HG_FL_ACTIVE)
            t->tags = &t->fleet->tags;
    } else if (hg_fl_arn_id(arn, "alias")) {
        t->alias = hg_fl_alias_find(fl, arn);
        if (t->alias)
            t->tags = &t->alias->tags;
    } else if (hg_fl_arn_id(arn, "location")) {
        t->loc = hg_fl_location_find(fl, arn);
        if (t->loc)
            t->tags = &t->loc->tags;
    } else {
        return hg_error_set(err, HG_EINVAL,
                            "Resource %s cannot be tagged here: hangard tags fleets, aliases, "
                            "custom locations and game server groups",
                            arn);
    }
    if (t->tags == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Resource %s not found", arn);
    return 0;
}

int hg_fl_tags_get(hg_fleet_t *fl, const char *arn, json_t **tags, hg_error_t *err)
{
    tagged_t t;
    int rc = find_tagged(fl, arn, &t, err);
    if (rc == 0)
        *tags = *t.tags;
    return rc;
}

int hg_fl_tags_set(hg_fleet_t *fl, const char *arn, json_t *tags, hg_store_txn_t *txn,
                   hg_error_t *err)
{
    tagged_t t;
    int rc = find_tagged(fl, arn, &t, err);
    if (rc < 0) {
        json_decref(tags);
        return rc;
    }
    json_decref(*t.tags);
    *t.tags = tags;
    if (t.fleet)
        save_fleet(t.fleet, txn);
    else if (t.alias)
        hg_fl_alias_save(fl, t.alias, txn);
    else
        save_location(t.loc, txn);
    return 0;
}

void hg_fleet_stats(const hg_fleet_t *fl, hg_fl_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->locations = hg_map_count(&fl->locations);
    out->fleets = fl->nlive;
    out->terminated = fl->nterminated;
    out->aliases = hg_map_count(&fl->aliases);
    out->computes = fl->ncomputes;
    size_t it = 0;
    void *v;
    while (hg_map_next(&fl->fleets, &it, NULL, &v)) {
        const hg_list_t *q;
        hg_list_foreach (q, &((hg_fl_fleet_t *)v)->by_reg)
            out->tokens += hg_container_of(q, hg_fl_compute_t, node)->ntokens;
    }
    out->tokens_issued = fl->tokens_issued;
    out->token_checks_failed = fl->token_checks_failed;
}

/* ---- load ---- */

static int load_location(void *ud, const char *key, json_t *v)
{
    hg_fleet_t *fl = ud;
    hg_fl_location_t *loc = hg_calloc(1, sizeof(*loc));
    loc->name = hg_strdup(key);
    const char *arn = jstr(v, "arn");
    loc->arn = arn ? hg_strdup(arn) : hg_fl_arn(fl, "location", key);
    json_t *tags = json_object_get(v, "tags");
    loc->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    loc->created_ms = jint(v, "created_ms");
    hg_map_set(&fl->locations, loc->name, loc);
    return 0;
}

static int load_fleet(void *ud, const char *key, json_t *v)
{
    hg_vec_t *lv = ud;
    hg_fl_fleet_t *f = hg_calloc(1, sizeof(*f));
    f->id = hg_strdup(key);
    f->arn = hg_strdup(jstr(v, "arn") ? jstr(v, "arn") : "");
    json_t *attrs = json_object_get(v, "attrs");
    f->attrs = json_is_object(attrs) ? json_incref(attrs) : json_object();
    json_t *tags = json_object_get(v, "tags");
    f->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    const char *st = jstr(v, "status");
    f->status = st && strcmp(st, "TERMINATED") == 0 ? HG_FL_TERMINATED : HG_FL_ACTIVE;
    f->created_ms = jint(v, "created_ms");
    f->terminated_ms = jint(v, "terminated_ms");
    f->seq = (uint64_t)jint(v, "seq");
    json_t *locs = json_object_get(v, "locations");
    f->locations = hg_calloc(json_array_size(locs) + 1, sizeof(*f->locations));
    for (size_t i = 0; i < json_array_size(locs); i++)
        if (json_string_value(json_array_get(locs, i)))
            f->locations[f->nlocations++] = hg_strdup(json_string_value(json_array_get(locs, i)));
    hg_map_init(&f->computes);
    hg_list_init(&f->by_reg);
    hg_list_init(&f->events);
    hg_list_init(&f->gsessions);
    hg_list_init(&f->tnode);
    hg_vec_push(lv, f);
    return 0;
}

typedef struct event_load {
    hg_fl_event_t *ev;
    char fleet[64];
} event_load_t;

static int load_event(void *ud, const char *key, json_t *v)
{
    hg_vec_t *lv = ud;
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= sizeof(((event_load_t *)0)->fleet))
        return 0;
    event_load_t *el = hg_calloc(1, sizeof(*el));
    memcpy(el->fleet, key, (size_t)(slash - key));
    hg_fl_event_t *ev = el->ev = hg_calloc(1, sizeof(*ev));
    snprintf(ev->id, sizeof(ev->id), "%s", jstr(v, "id") ? jstr(v, "id") : "");
    ev->code = hg_strdup(jstr(v, "code") ? jstr(v, "code") : "GENERIC_EVENT");
    ev->message = hg_strdup(jstr(v, "message") ? jstr(v, "message") : "");
    ev->time_ms = jint(v, "time_ms");
    ev->seq = (uint64_t)jint(v, "seq");
    hg_vec_push(lv, el);
    return 0;
}

static int cmp_fleet_seq(const void *a, const void *b)
{
    const hg_fl_fleet_t *x = *(hg_fl_fleet_t *const *)a, *y = *(hg_fl_fleet_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_fleet_terminated(const void *a, const void *b)
{
    const hg_fl_fleet_t *x = *(hg_fl_fleet_t *const *)a, *y = *(hg_fl_fleet_t *const *)b;
    if (x->terminated_ms != y->terminated_ms)
        return x->terminated_ms < y->terminated_ms ? -1 : 1;
    return cmp_fleet_seq(a, b);
}

static int cmp_event_seq(const void *a, const void *b)
{
    const event_load_t *x = *(event_load_t *const *)a, *y = *(event_load_t *const *)b;
    return x->ev->seq < y->ev->seq ? -1 : x->ev->seq > y->ev->seq;
}

static void seen_seq(hg_fleet_t *fl, uint64_t seq)
{
    if (seq >= fl->next_seq)
        fl->next_seq = seq + 1;
}

static int load_fleets(hg_fleet_t *fl)
{
    hg_vec_t lv = {0};
    int rc = hg_store_load(fl->store, COLL_FLEETS, load_fleet, &lv);
    if (lv.n)
        qsort(lv.all, lv.n, sizeof(*lv.all), cmp_fleet_seq);
    for (size_t i = 0; i < lv.n; i++) {
        hg_fl_fleet_t *f = lv.all[i];
        if (rc < 0) {
            fleet_free(f);
            continue;
        }
        hg_map_set(&fl->fleets, f->id, f);
        hg_list_insert_tail(&fl->fleet_order, &f->node);
        seen_seq(fl, f->seq);
        if (f->status == HG_FL_TERMINATED) {
            fl->nterminated++;
            continue;
        }
        fl->nlive++;
        for (size_t j = 0; j < f->nlocations; j++) {
            hg_fl_location_t *loc = hg_map_get(&fl->locations, f->locations[j]);
            if (loc)
                loc->nfleets++;
            else
                HG_LOG(HG_LOG_WARN, "fleet", "fleet %s names unknown location %s", f->id,
                       f->locations[j]);
        }
    }
    if (rc == 0) {
        if (lv.n)
            qsort(lv.all, lv.n, sizeof(*lv.all), cmp_fleet_terminated);
        for (size_t i = 0; i < lv.n; i++) {
            hg_fl_fleet_t *f = lv.all[i];
            if (f->status == HG_FL_TERMINATED)
                hg_list_insert_tail(&fl->terminated, &f->tnode);
        }
    }
    hg_free(lv.all);
    return rc;
}

static int load_events(hg_fleet_t *fl)
{
    hg_vec_t lv = {0};
    int rc = hg_store_load(fl->store, COLL_EVENTS, load_event, &lv);
    if (lv.n)
        qsort(lv.all, lv.n, sizeof(*lv.all), cmp_event_seq);
    for (size_t i = 0; i < lv.n; i++) {
        event_load_t *el = lv.all[i];
        hg_fl_fleet_t *f = rc == 0 ? hg_map_get(&fl->fleets, el->fleet) : NULL;
        if (f) {
            hg_list_insert_tail(&f->events, &el->ev->node);
            f->nevents++;
            seen_seq(fl, el->ev->seq);
        } else {
            event_free(el->ev);
        }
        hg_free(el);
    }
    hg_free(lv.all);
    return rc;
}

int hg_fleet_load(hg_fleet_t *fl)
{
    int rc;
    if ((rc = hg_store_load(fl->store, COLL_LOCATIONS, load_location, fl)) < 0 ||
        (rc = load_fleets(fl)) < 0 || (rc = load_events(fl)) < 0 ||
        (rc = hg_fl_compute_load(fl)) < 0 || (rc = hg_fl_alias_load(fl)) < 0 ||
        (rc = hg_fl_session_load(fl)) < 0)
        return rc;
    HG_LOG(HG_LOG_INFO, "fleet",
           "loaded locations=%zu fleets=%zu terminated=%zu aliases=%zu "
           "computes=%zu",
           hg_map_count(&fl->locations), fl->nlive, fl->nterminated, hg_map_count(&fl->aliases),
           fl->ncomputes);
    return 0;
}
