/* hangar — fleet aliases: SIMPLE (a fleet id) or TERMINAL (a message), resolved by every call
 * that takes an AliasId (design in fleet.h, records in fleet_int.h).
 *
 * Alias names need not be unique (GameLift's rule); ids are alias-<uuid>. A SIMPLE alias must
 * name a fleet that exists and is not TERMINATED when it is created or updated; it keeps its
 * fleet id afterwards even when that fleet is deleted, as GameLift does.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "fleet/fleet_int.h"

void hg_fl_alias_free(hg_fl_alias_t *a)
{
    hg_free(a->id);
    hg_free(a->arn);
    hg_free(a->name);
    hg_free(a->description);
    hg_free(a->fleet_id);
    hg_free(a->message);
    json_decref(a->tags);
    hg_free(a);
}

void hg_fl_alias_save(hg_fleet_t *fl, const hg_fl_alias_t *a, hg_store_txn_t *txn)
{
    (void)fl;
    json_t *r = json_pack("{s:s,s:s,s:s,s:O,s:I,s:I,s:I}", "arn", a->arn, "name", a->name, "type",
                          a->terminal ? "TERMINAL" : "SIMPLE", "tags", a->tags, "created_ms",
                          (json_int_t)a->created_ms, "updated_ms", (json_int_t)a->updated_ms, "seq",
                          (json_int_t)a->seq);
    if (a->description)
        json_object_set_new(r, "description", json_string(a->description));
    if (a->fleet_id)
        json_object_set_new(r, "fleet_id", json_string(a->fleet_id));
    if (a->message)
        json_object_set_new(r, "message", json_string(a->message));
    hg_store_put(txn, COLL_ALIASES, a->id, r);
    json_decref(r);
}

static int check_route(hg_fleet_t *fl, const hg_fl_route_t *route, hg_error_t *err)
{
    if (route->terminal)
        return 0;
    if (route->fleet_id == NULL)
        return hg_error_set(err, HG_EINVAL, "RoutingStrategy of type SIMPLE needs a FleetId");
    hg_fl_fleet_t *f = hg_map_get(&fl->fleets, route->fleet_id);
    if (f == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Fleet %s not found", route->fleet_id);
    if (f->status != HG_FL_ACTIVE)
        return hg_error_set(err, HG_EINVAL, "Fleet %s is %s", f->id, hg_fl_status_name(f->status));
    return 0;
}

/* A TERMINAL alias keeps only its message, a SIMPLE one only its fleet (GameLift ignores the
 * other member). */
static void set_route(hg_fl_alias_t *a, const hg_fl_route_t *route)
{
    hg_free(a->fleet_id);
    hg_free(a->message);
    a->terminal = route->terminal;
    a->fleet_id = route->terminal ? NULL : hg_strdup(route->fleet_id);
    a->message = route->terminal ? hg_fl_strdup_opt(route->message) : NULL;
}

int hg_fl_alias_create(hg_fleet_t *fl, const char *name, const char *description,
                       const hg_fl_route_t *route, json_t *tags, hg_store_txn_t *txn,
                       hg_fl_alias_t **out, hg_error_t *err)
{
    int rc = check_route(fl, route, err);
    if (rc < 0)
        goto out;
    if (hg_map_count(&fl->aliases) >= HG_FL_MAX_ALIASES) {
        rc = hg_error_set(err, HG_ELIMIT, "at most %d aliases", HG_FL_MAX_ALIASES);
        goto out;
    }
    hg_fl_alias_t *a = hg_calloc(1, sizeof(*a));
    char id[64];
    hg_fl_new_id("alias-", id, sizeof(id));
    a->id = hg_strdup(id);
    a->arn = hg_fl_arn(fl, "alias", id);
    a->name = hg_strdup(name);
    a->description = hg_fl_strdup_opt(description);
    set_route(a, route);
    a->tags = hg_fl_tags_or_empty(tags);
    a->created_ms = a->updated_ms = hg_fl_now(fl);
    a->seq = fl->next_seq++;
    hg_map_set(&fl->aliases, a->id, a);
    hg_list_insert_tail(&fl->alias_order, &a->node);
    hg_fl_alias_save(fl, a, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "alias created id=%s type=%s", a->id,
           a->terminal ? "TERMINAL" : "SIMPLE");
    *out = a;
out:
    json_decref(tags);
    return rc;
}

hg_fl_alias_t *hg_fl_alias_find(hg_fleet_t *fl, const char *id_or_arn)
{
    const char *id = hg_fl_arn_id(id_or_arn, "alias");
    if (id == NULL)
        return hg_map_get(&fl->aliases, id_or_arn);
    hg_fl_alias_t *a = hg_map_get(&fl->aliases, id);
    return a && strcmp(a->arn, id_or_arn) == 0 ? a : NULL;
}

int hg_fl_alias_get(hg_fleet_t *fl, const char *id_or_arn, hg_fl_alias_t **out, hg_error_t *err)
{
    *out = hg_fl_alias_find(fl, id_or_arn);
    if (*out == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Alias %s not found", id_or_arn);
    return 0;
}

int hg_fl_alias_update(hg_fleet_t *fl, hg_fl_alias_t *a, const char *name, const char *description,
                       const hg_fl_route_t *route, hg_store_txn_t *txn, hg_error_t *err)
{
    int rc = route ? check_route(fl, route, err) : 0;
    if (rc < 0)
        return rc;
    if (name) {
        hg_free(a->name);
        a->name = hg_strdup(name);
    }
    if (description) {
        hg_free(a->description);
        a->description = hg_fl_strdup_opt(description);
    }
    if (route)
        set_route(a, route);
    a->updated_ms = hg_fl_now(fl);
    hg_fl_alias_save(fl, a, txn);
    return 0;
}

void hg_fl_alias_delete(hg_fleet_t *fl, hg_fl_alias_t *a, hg_store_txn_t *txn)
{
    hg_store_del(txn, COLL_ALIASES, a->id);
    hg_map_del(&fl->aliases, a->id);
    hg_list_remove(&a->node);
    HG_LOG(HG_LOG_INFO, "fleet", "alias deleted id=%s", a->id);
    hg_fl_alias_free(a);
}

int hg_fl_alias_resolve(const hg_fl_alias_t *a, const char **fleet_id, hg_error_t *err)
{
    if (a->terminal)
        return hg_error_set(err, HG_ETERMINALROUTING, "%s",
                            a->message ? a->message : "This alias has a terminal routing strategy");
    *fleet_id = a->fleet_id;
    return 0;
}

size_t hg_fl_alias_list(hg_fleet_t *fl, int terminal, const char *name, uint64_t after,
                        size_t limit, hg_fl_alias_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    hg_list_t *q;
    hg_list_foreach (q, &fl->alias_order) {
        hg_fl_alias_t *a = hg_container_of(q, hg_fl_alias_t, node);
        if (a->seq <= after || (terminal >= 0 && a->terminal != terminal) ||
            (name && strcmp(a->name, name) != 0))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = a;
    }
    return n;
}

/* ---- load ---- */

typedef struct alias_vec {
    hg_fl_alias_t **all;
    size_t n, cap;
    hg_fleet_t *fl;
} alias_vec_t;

static int load_alias(void *ud, const char *key, json_t *v)
{
    alias_vec_t *av = ud;
    const char *s;
    hg_fl_alias_t *a = hg_calloc(1, sizeof(*a));
    a->id = hg_strdup(key);
    s = json_string_value(json_object_get(v, "arn"));
    a->arn = s ? hg_strdup(s) : hg_fl_arn(av->fl, "alias", key);
    s = json_string_value(json_object_get(v, "name"));
    a->name = hg_strdup(s ? s : key);
    a->description = hg_fl_strdup_opt(json_string_value(json_object_get(v, "description")));
    s = json_string_value(json_object_get(v, "type"));
    a->terminal = s && strcmp(s, "TERMINAL") == 0;
    a->fleet_id = hg_fl_strdup_opt(json_string_value(json_object_get(v, "fleet_id")));
    a->message = hg_fl_strdup_opt(json_string_value(json_object_get(v, "message")));
    json_t *tags = json_object_get(v, "tags");
    a->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    a->created_ms = (int64_t)json_integer_value(json_object_get(v, "created_ms"));
    a->updated_ms = (int64_t)json_integer_value(json_object_get(v, "updated_ms"));
    a->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    if (av->n == av->cap) {
        av->cap = av->cap ? av->cap * 2 : 64;
        av->all = hg_realloc(av->all, av->cap * sizeof(*av->all));
    }
    av->all[av->n++] = a;
    return 0;
}

static int cmp_alias_seq(const void *a, const void *b)
{
    const hg_fl_alias_t *x = *(hg_fl_alias_t *const *)a, *y = *(hg_fl_alias_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int hg_fl_alias_load(hg_fleet_t *fl)
{
    alias_vec_t av = {.fl = fl};
    int rc = hg_store_load(fl->store, COLL_ALIASES, load_alias, &av);
    if (av.n)
        qsort(av.all, av.n, sizeof(*av.all), cmp_alias_seq);
    for (size_t i = 0; i < av.n; i++) {
        hg_fl_alias_t *a = av.all[i];
        if (rc < 0) {
            hg_fl_alias_free(a);
            continue;
        }
        hg_map_set(&fl->aliases, a->id, a);
        hg_list_insert_tail(&fl->alias_order, &a->node);
        if (a->seq >= fl->next_seq)
            fl->next_seq = a->seq + 1;
    }
    hg_free(av.all);
    return rc;
}
