/* hangar — FleetIQ game server groups and game servers (design and state tables in fleetiq.h).
 *
 * Durable records:
 *   fleetiq.groups  name → {arn, attrs, status, delete_option, suspended, created_ms, updated_ms}
 *   fleetiq.servers <group>/<id> → {group, instance, conn, data, utilized, claim_ms,
 *                          registered_ms, health_ms, seq}
 *
 * A server's key starts with its group's name, so that the partition map (store/partition.h)
 * puts it in its group's partition from the key alone — a delete carries no value to read the
 * group from. Names and ids are [A-Za-z0-9.-] (the model's patterns), so the first '/' ends the
 * group. Servers stored before that were keyed by id alone: loading rewrites them.
 */
#include "fleetiq/fleetiq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/partition.h"
#include "store/partload.h"

#define COLL_GROUPS "fleetiq.groups"
#define COLL_SERVERS "fleetiq.servers"

struct hg_fleetiq {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_fq_config_t cfg;
    hg_map_t groups;     /* name → group */
    hg_map_t servers;    /* id → server (ids are unique across groups) */
    hg_list_t by_health; /* every server, oldest health_base first */
    uint64_t next_seq;
    uint64_t claims, claims_failed, expired;
    hg_fq_observer_cb observer;
    void *observer_ud;
};

static void notify(hg_fleetiq_t *fq, hg_store_txn_t *txn, hg_fq_event_t ev, const hg_fq_server_t *s)
{
    if (fq->observer)
        fq->observer(fq->observer_ud, txn, ev, s);
}

void hg_fleetiq_set_observer(hg_fleetiq_t *fq, hg_fq_observer_cb cb, void *ud)
{
    fq->observer = cb;
    fq->observer_ud = ud;
}

static const char *status_names[] = {"ACTIVE", "DELETE_SCHEDULED", "ERROR"};
static const char *delete_names[] = {"SAFE_DELETE", "FORCE_DELETE", "RETAIN"};

const char *hg_fq_group_status_name(hg_fq_group_status_t s)
{
    return status_names[s];
}

static int64_t now_ms(const hg_fleetiq_t *fq)
{
    return hg_clock_now_ms(fq->clock);
}

/* ---- records ---- */

static json_t *group_record(const hg_fq_group_t *g)
{
    return json_pack("{s:s,s:O,s:s,s:s,s:b,s:I,s:I}", "arn", g->arn, "attrs", g->attrs, "status",
                     status_names[g->status], "delete_option", delete_names[g->delete_option],
                     "suspended", g->suspended, "created_ms", (json_int_t)g->created_ms,
                     "updated_ms", (json_int_t)g->updated_ms);
}

static void save_group(hg_fq_group_t *g, hg_store_txn_t *txn)
{
    json_t *r = group_record(g);
    hg_store_put(txn, COLL_GROUPS, g->name, r);
    json_decref(r);
}

#define SERVER_KEY_MAX 520 /* "<group>/<id>": each at most 128 bytes by the model, some room */

static void server_key(const hg_fq_server_t *s, char out[SERVER_KEY_MAX])
{
    snprintf(out, SERVER_KEY_MAX, "%s/%s", s->group->name, s->id);
}

/* The record (see the top of this file), written straight to text with the JSON writer: this
 * runs on every game-server write (register, claim, update). load_server() reads it. */
static void save_server(hg_fq_server_t *s, hg_store_txn_t *txn)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 256);
    hg_buf_puts(&b, "{\"group\":");
    hg_jsonw_str(&b, s->group->name);
    hg_buf_puts(&b, ",\"instance\":");
    hg_jsonw_str(&b, s->instance_id);
    hg_buf_puts(&b, s->utilized ? ",\"utilized\":true" : ",\"utilized\":false");
    hg_buf_puts(&b, ",\"claim_ms\":");
    hg_jsonw_int(&b, s->claim_ms);
    hg_buf_puts(&b, ",\"registered_ms\":");
    hg_jsonw_int(&b, s->registered_ms);
    hg_buf_puts(&b, ",\"health_ms\":");
    hg_jsonw_int(&b, s->health_ms);
    hg_buf_puts(&b, ",\"seq\":");
    hg_jsonw_int(&b, (int64_t)s->seq);
    if (s->conn_info) {
        hg_buf_puts(&b, ",\"conn\":");
        hg_jsonw_str(&b, s->conn_info);
    }
    if (s->data) {
        hg_buf_puts(&b, ",\"data\":");
        hg_jsonw_str(&b, s->data);
    }
    hg_buf_puts(&b, "}");
    char key[SERVER_KEY_MAX];
    server_key(s, key);
    hg_store_put_text(txn, COLL_SERVERS, key, hg_buf_steal(&b, NULL));
}

/* ---- objects ---- */

static hg_fq_group_t *group_new(hg_fleetiq_t *fq, const char *name, json_t *attrs)
{
    hg_fq_group_t *g = hg_calloc(1, sizeof(*g));
    g->name = hg_strdup(name);
    char arn[512];
    snprintf(arn, sizeof(arn), "arn:aws:gamelift:%s:%s:gameservergroup/%s", fq->cfg.region,
             fq->cfg.account, name);
    g->arn = hg_strdup(arn);
    g->attrs = attrs;
    hg_list_init(&g->servers);
    hg_list_init(&g->free);
    hg_list_init(&g->claimed);
    hg_map_init(&g->instances);
    return g;
}

static void group_free(hg_fq_group_t *g)
{
    size_t it = 0;
    void *v;
    while (hg_map_next(&g->instances, &it, NULL, &v)) {
        hg_fq_instance_t *in = v;
        hg_free(in->id);
        hg_free(in);
    }
    hg_map_free(&g->instances);
    json_decref(g->attrs);
    hg_free(g->name);
    hg_free(g->arn);
    hg_free(g);
}

static void server_free(hg_fq_server_t *s)
{
    hg_free(s->id);
    hg_free(s->instance_id);
    hg_free(s->conn_info);
    hg_free(s->data);
    hg_free(s);
}

static void instance_ref(hg_fq_group_t *g, const char *id, int delta)
{
    hg_fq_instance_t *in = hg_map_get(&g->instances, id);
    if (in == NULL) {
        if (delta < 0)
            return;
        in = hg_calloc(1, sizeof(*in));
        in->id = hg_strdup(id);
        hg_map_set(&g->instances, id, in);
    }
    if (delta > 0) {
        in->nservers++;
    } else if (--in->nservers == 0) {
        hg_map_del(&g->instances, id);
        hg_free(in->id);
        hg_free(in);
    }
}

/* Link a server into its group and the indexes (registration or load). */
static void server_attach(hg_fleetiq_t *fq, hg_fq_server_t *s)
{
    hg_fq_group_t *g = s->group;
    hg_list_insert_tail(&g->servers, &s->gnode);
    hg_list_init(&s->cnode);
    if (!s->utilized) {
        if (s->claim_ms && now_ms(fq) < s->claim_ms + HG_FQ_CLAIM_HOLD_MS)
            hg_list_insert_tail(&g->claimed, &s->cnode);
        else
            hg_list_insert_tail(&g->free, &s->cnode);
    } else {
        g->nutilized++;
    }
    hg_list_insert_tail(&fq->by_health, &s->hnode);
    g->nservers++;
    instance_ref(g, s->instance_id, 1);
    hg_map_set(&fq->servers, s->id, s);
}

static void server_detach(hg_fleetiq_t *fq, hg_fq_server_t *s)
{
    hg_fq_group_t *g = s->group;
    hg_list_remove(&s->gnode);
    if (hg_list_linked(&s->cnode))
        hg_list_remove(&s->cnode);
    hg_list_remove(&s->hnode);
    g->nservers--;
    if (s->utilized)
        g->nutilized--;
    instance_ref(g, s->instance_id, -1);
    hg_map_del(&fq->servers, s->id);
}

/* ---- lifecycle ---- */

hg_fleetiq_t *hg_fleetiq_new(hg_clock_t *clock, hg_store_t *store, const hg_fq_config_t *cfg)
{
    hg_fleetiq_t *fq = hg_calloc(1, sizeof(*fq));
    fq->clock = clock;
    fq->store = store;
    fq->cfg = *cfg;
    hg_map_init(&fq->groups);
    hg_map_init(&fq->servers);
    hg_list_init(&fq->by_health);
    fq->next_seq = 1;
    return fq;
}

void hg_fleetiq_free(hg_fleetiq_t *fq)
{
    if (fq == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&fq->servers, &it, NULL, &v))
        server_free(v);
    it = 0;
    while (hg_map_next(&fq->groups, &it, NULL, &v))
        group_free(v);
    hg_map_free(&fq->servers);
    hg_map_free(&fq->groups);
    hg_free(fq);
}

const hg_fq_config_t *hg_fleetiq_config(const hg_fleetiq_t *fq)
{
    return &fq->cfg;
}

static int parse_enum(const char *s, const char **names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return 0;
}

static int load_group(void *ud, const char *name, json_t *v)
{
    hg_fleetiq_t *fq = ud;
    if (hg_map_get(&fq->groups, name))
        return 0; /* in memory already (its partition loaded twice) */
    json_t *attrs = json_object_get(v, "attrs");
    hg_fq_group_t *g =
        group_new(fq, name, json_is_object(attrs) ? json_incref(attrs) : json_object());
    g->status = parse_enum(json_string_value(json_object_get(v, "status")), status_names, 3);
    g->delete_option =
        parse_enum(json_string_value(json_object_get(v, "delete_option")), delete_names, 3);
    g->suspended = json_is_true(json_object_get(v, "suspended"));
    g->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    g->updated_ms = json_integer_value(json_object_get(v, "updated_ms"));
    hg_map_set(&fq->groups, g->name, g);
    return 0;
}

typedef struct load_ctx {
    hg_fleetiq_t *fq;
    hg_fq_server_t **all;
    size_t n, cap;
    hg_store_txn_t *rekey; /* servers stored under their id alone, rewritten by group */
} load_ctx_t;

static int load_server(void *ud, const char *key, json_t *v)
{
    load_ctx_t *lc = ud;
    const char *slash = strchr(key, '/');
    const char *id = slash ? slash + 1 : key;
    hg_fq_group_t *g =
        hg_map_get(&lc->fq->groups, json_string_value(json_object_get(v, "group")) ?: "");
    const char *inst = json_string_value(json_object_get(v, "instance"));
    if (hg_map_get(&lc->fq->servers, id))
        return 0; /* in memory already (its partition loaded twice) */
    if (g == NULL || inst == NULL) {
        HG_LOG(HG_LOG_WARN, "fleetiq", "skipping orphan game server record id=%s", id);
        return 0;
    }
    hg_fq_server_t *s = hg_calloc(1, sizeof(*s));
    s->id = hg_strdup(id);
    s->group = g;
    s->instance_id = hg_strdup(inst);
    const char *c = json_string_value(json_object_get(v, "conn"));
    const char *d = json_string_value(json_object_get(v, "data"));
    s->conn_info = c ? hg_strdup(c) : NULL;
    s->data = d ? hg_strdup(d) : NULL;
    s->utilized = json_is_true(json_object_get(v, "utilized"));
    s->claim_ms = json_integer_value(json_object_get(v, "claim_ms"));
    s->registered_ms = json_integer_value(json_object_get(v, "registered_ms"));
    s->health_ms = json_integer_value(json_object_get(v, "health_ms"));
    s->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    if (slash == NULL) {
        if (lc->rekey == NULL)
            lc->rekey = hg_store_txn_new(lc->fq->store);
        hg_store_del(lc->rekey, COLL_SERVERS, key);
        save_server(s, lc->rekey);
    }
    if (lc->n == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 64;
        lc->all = hg_realloc(lc->all, lc->cap * sizeof(*lc->all));
    }
    lc->all[lc->n++] = s;
    return 0;
}

static int cmp_seq(const void *a, const void *b)
{
    const hg_fq_server_t *x = *(hg_fq_server_t *const *)a, *y = *(hg_fq_server_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_health(const void *a, const void *b)
{
    const hg_fq_server_t *x = *(hg_fq_server_t *const *)a, *y = *(hg_fq_server_t *const *)b;
    return x->health_base_ms < y->health_base_ms ? -1 : x->health_base_ms > y->health_base_ms;
}

/* Link s into by_health at its place (oldest health_base first), looking from the newest. */
static void health_insert(hg_fleetiq_t *fq, hg_fq_server_t *s)
{
    hg_list_t *q = fq->by_health.prev;
    while (q != &fq->by_health &&
           hg_container_of(q, hg_fq_server_t, hnode)->health_base_ms > s->health_base_ms)
        q = q->prev;
    hg_list_insert_tail(q->next, &s->hnode);
}

/* The groups and servers of partition part, or of every partition when part < 0 (one read of
 * each collection, rather than one per partition). */
static int load_part(hg_fleetiq_t *fq, int part)
{
    int rc = hg_partload_coll(fq->store, COLL_GROUPS, part, load_group, fq);
    if (rc < 0)
        return rc;
    load_ctx_t lc = {fq, NULL, 0, 0, NULL};
    /* servers stored by id alone (rewritten by group: lc.rekey) map to control: read only by
     * the load of everything */
    rc = hg_partload_coll(fq->store, COLL_SERVERS, part, load_server, &lc);
    if (lc.rekey && rc == 0) {
        HG_LOG(HG_LOG_INFO, "fleetiq", "rewriting game servers stored by id alone as <group>/<id>");
        hg_store_commit(lc.rekey, NULL, NULL);
    } else {
        hg_store_txn_free(lc.rekey);
    }
    if (rc == 0 && lc.n) {
        /* A restart must not count against servers: their health window restarts now. */
        int64_t now = now_ms(fq);
        for (size_t i = 0; i < lc.n; i++) {
            hg_fq_server_t *s = lc.all[i];
            s->health_base_ms = s->health_ms > now ? s->health_ms : now;
            if (s->seq >= fq->next_seq)
                fq->next_seq = s->seq + 1;
        }
        qsort(lc.all, lc.n, sizeof(*lc.all), cmp_seq);
        for (size_t i = 0; i < lc.n; i++) {
            server_attach(fq, lc.all[i]);
            notify(fq, NULL, HG_FQ_EV_REGISTERED, lc.all[i]);
        }
        /* by_health must be in health order: put the loaded ones at their place, in order */
        for (size_t i = 0; i < lc.n; i++)
            hg_list_remove(&lc.all[i]->hnode);
        qsort(lc.all, lc.n, sizeof(*lc.all), cmp_health);
        for (size_t i = 0; i < lc.n; i++)
            health_insert(fq, lc.all[i]);
    } else {
        for (size_t i = 0; i < lc.n; i++)
            server_free(lc.all[i]);
    }
    hg_free(lc.all);
    return rc;
}

int hg_fleetiq_load(hg_fleetiq_t *fq)
{
    int rc = load_part(fq, -1);
    HG_LOG(HG_LOG_INFO, "fleetiq", "loaded groups=%zu servers=%zu", hg_map_count(&fq->groups),
           hg_map_count(&fq->servers));
    return rc;
}

/* ---- partitions (docs/cluster.md "Next", step 3) ---- */

int hg_fleetiq_load_partition(hg_fleetiq_t *fq, int part, hg_error_t *err)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_FQ0))
        return hg_error_set(err, HG_EINVAL, "partition %d holds no game server groups", part);
    int rc = load_part(fq, part);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load FleetIQ state (partition %d)", part);
    return 0;
}

int hg_fleetiq_drop_partition(hg_fleetiq_t *fq, int part)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_FQ0))
        return HG_EINVAL;
    size_t it = 0;
    void *v;
    while (hg_map_next(&fq->groups, &it, NULL, &v)) {
        hg_fq_group_t *g = v;
        if (hg_partition_of(COLL_GROUPS, g->name) != part)
            continue;
        while (!hg_list_empty(&g->servers)) {
            hg_fq_server_t *s = hg_container_of(g->servers.next, hg_fq_server_t, gnode);
            server_detach(fq, s); /* out of by_health too: the sweep no longer sees it */
            server_free(s);
        }
        hg_map_del(&fq->groups, g->name); /* the current key: allowed while iterating */
        group_free(g);
    }
    return 0;
}

/* ---- groups ---- */

int hg_fq_group_create(hg_fleetiq_t *fq, const char *name, json_t *attrs, hg_store_txn_t *txn,
                       hg_fq_group_t **out, hg_error_t *err)
{
    if (hg_map_get(&fq->groups, name)) {
        json_decref(attrs);
        return hg_error_set(err, HG_ECONFLICT, "A game server group with name %s already exists",
                            name);
    }
    if (hg_map_count(&fq->groups) >= HG_FQ_MAX_GROUPS) {
        json_decref(attrs);
        return hg_error_set(err, HG_ELIMIT, "at most %d game server groups", HG_FQ_MAX_GROUPS);
    }
    hg_fq_group_t *g = group_new(fq, name, attrs);
    g->status = HG_FQ_ACTIVE;
    g->created_ms = g->updated_ms = now_ms(fq);
    hg_map_set(&fq->groups, g->name, g);
    save_group(g, txn);
    *out = g;
    return 0;
}

hg_fq_group_t *hg_fq_group_find(hg_fleetiq_t *fq, const char *name_or_arn)
{
    const char *name = name_or_arn;
    if (strncmp(name_or_arn, "arn:", 4) == 0) {
        const char *slash = strstr(name_or_arn, ":gameservergroup/");
        if (slash == NULL)
            return NULL;
        name = slash + strlen(":gameservergroup/");
        hg_fq_group_t *g = hg_map_get(&fq->groups, name);
        return g && strcmp(g->arn, name_or_arn) == 0 ? g : NULL;
    }
    return hg_map_get(&fq->groups, name);
}

int hg_fq_group_get(hg_fleetiq_t *fq, const char *name_or_arn, hg_fq_group_t **out, hg_error_t *err)
{
    *out = hg_fq_group_find(fq, name_or_arn);
    if (*out == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Game server group %s not found", name_or_arn);
    return 0;
}

void hg_fq_group_save(hg_fleetiq_t *fq, hg_fq_group_t *g, hg_store_txn_t *txn)
{
    g->updated_ms = now_ms(fq);
    save_group(g, txn);
}

void hg_fq_group_suspend(hg_fleetiq_t *fq, hg_fq_group_t *g, int suspend, hg_store_txn_t *txn)
{
    g->suspended = suspend;
    hg_fq_group_save(fq, g, txn);
}

int hg_fq_group_delete(hg_fleetiq_t *fq, hg_fq_group_t *g, hg_fq_delete_t opt, hg_store_txn_t *txn,
                       hg_error_t *err)
{
    if (g->status != HG_FQ_ACTIVE && g->status != HG_FQ_ERROR)
        return hg_error_set(err, HG_EINVAL,
                            "Game server group %s is %s; only ACTIVE or ERROR groups can be "
                            "deleted",
                            g->name, status_names[g->status]);
    g->status = HG_FQ_DELETE_SCHEDULED;
    g->delete_option = opt;
    hg_fq_group_save(fq, g, txn);
    HG_LOG(HG_LOG_INFO, "fleetiq", "group delete scheduled name=%s option=%s", g->name,
           delete_names[opt]);
    return 0;
}

static int cmp_group_name(const void *a, const void *b)
{
    return strcmp((*(hg_fq_group_t *const *)a)->name, (*(hg_fq_group_t *const *)b)->name);
}

size_t hg_fq_group_list(hg_fleetiq_t *fq, const char *after, size_t limit, hg_fq_group_t **out,
                        int *more)
{
    size_t n = hg_map_count(&fq->groups), k = 0, it = 0;
    hg_fq_group_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&fq->groups, &it, NULL, &v))
        if (after == NULL || strcmp(((hg_fq_group_t *)v)->name, after) > 0)
            all[k++] = v;
    qsort(all, k, sizeof(*all), cmp_group_name);
    size_t m = k < limit ? k : limit;
    memcpy(out, all, m * sizeof(*all));
    *more = k > limit;
    hg_free(all);
    return m;
}

/* ---- servers ---- */

int hg_fq_server_healthy(const hg_fleetiq_t *fq, const hg_fq_server_t *s)
{
    return now_ms(fq) - s->health_base_ms <= fq->cfg.health_window_ms;
}

int hg_fq_server_claimed(const hg_fleetiq_t *fq, const hg_fq_server_t *s)
{
    if (s->claim_ms == 0)
        return 0;
    return s->utilized || now_ms(fq) < s->claim_ms + HG_FQ_CLAIM_HOLD_MS;
}

int hg_fq_server_register(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id,
                          const char *instance_id, const char *conn_info, const char *data,
                          hg_store_txn_t *txn, hg_fq_server_t **out, hg_error_t *err)
{
    if (g->status != HG_FQ_ACTIVE)
        return hg_error_set(err, HG_EINVAL,
                            "Game server group %s is %s and accepts no new game servers", g->name,
                            status_names[g->status]);
    if (hg_map_get(&fq->servers, id))
        return hg_error_set(err, HG_ECONFLICT, "Game server %s is already registered", id);
    if (hg_map_count(&fq->servers) >= HG_FQ_MAX_SERVERS)
        return hg_error_set(err, HG_ELIMIT, "at most %d game servers", HG_FQ_MAX_SERVERS);
    hg_fq_server_t *s = hg_calloc(1, sizeof(*s));
    s->id = hg_strdup(id);
    s->group = g;
    s->instance_id = hg_strdup(instance_id);
    s->conn_info = conn_info ? hg_strdup(conn_info) : NULL;
    s->data = data ? hg_strdup(data) : NULL;
    s->registered_ms = s->health_ms = s->health_base_ms = now_ms(fq);
    s->seq = fq->next_seq++;
    server_attach(fq, s);
    save_server(s, txn);
    notify(fq, txn, HG_FQ_EV_REGISTERED, s);
    *out = s;
    return 0;
}

int hg_fq_server_get(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id, hg_fq_server_t **out,
                     hg_error_t *err)
{
    hg_fq_server_t *s = hg_map_get(&fq->servers, id);
    if (s == NULL || s->group != g)
        return hg_error_set(err, HG_ENOTFOUND, "Game server %s not found in group %s", id, g->name);
    *out = s;
    return 0;
}

static void set_str(char **dst, const char *v)
{
    hg_free(*dst);
    *dst = v ? hg_strdup(v) : NULL;
}

int hg_fq_server_update(hg_fleetiq_t *fq, hg_fq_server_t *s, const char *data, int utilization,
                        int health, hg_store_txn_t *txn, hg_error_t *err)
{
    if (utilization == 0 && s->utilized)
        return hg_error_set(err, HG_EINVAL,
                            "Game server %s is UTILIZED and cannot return to AVAILABLE; "
                            "deregister it and register a new game server",
                            s->id);
    if (data)
        set_str(&s->data, data);
    if (utilization == 1 && !s->utilized) {
        s->utilized = 1;
        s->group->nutilized++;
        if (hg_list_linked(&s->cnode))
            hg_list_remove(&s->cnode);
    }
    int changed = data || utilization == 1;
    if (health) {
        s->health_ms = s->health_base_ms = now_ms(fq);
        hg_list_remove(&s->hnode);
        hg_list_insert_tail(&fq->by_health, &s->hnode);
    }
    save_server(s, txn);
    if (changed) /* a bare health report is not news for the registry */
        notify(fq, txn, HG_FQ_EV_UPDATED, s);
    return 0;
}

static void claim(hg_fleetiq_t *fq, hg_fq_server_t *s, const char *data, hg_store_txn_t *txn)
{
    if (hg_list_linked(&s->cnode))
        hg_list_remove(&s->cnode);
    hg_list_insert_tail(&s->group->claimed, &s->cnode);
    s->claim_ms = now_ms(fq);
    if (data)
        set_str(&s->data, data);
    fq->claims++;
    save_server(s, txn);
    notify(fq, txn, HG_FQ_EV_UPDATED, s);
}

/* Move claims that lapsed (AVAILABLE, hold over) back to the free list. */
static void release_lapsed(hg_fleetiq_t *fq, hg_fq_group_t *g)
{
    int64_t now = now_ms(fq);
    while (!hg_list_empty(&g->claimed)) {
        hg_fq_server_t *s = hg_container_of(g->claimed.next, hg_fq_server_t, cnode);
        if (now < s->claim_ms + HG_FQ_CLAIM_HOLD_MS)
            break;
        hg_list_remove(&s->cnode);
        hg_list_insert_tail(&g->free, &s->cnode);
    }
}

int hg_fq_server_claim(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *id, const char *data,
                       hg_store_txn_t *txn, hg_fq_server_t **out, hg_error_t *err)
{
    if (g->status != HG_FQ_ACTIVE) {
        fq->claims_failed++;
        return hg_error_set(err, HG_EINVAL, "Game server group %s is %s", g->name,
                            status_names[g->status]);
    }
    release_lapsed(fq, g);
    if (id) {
        hg_fq_server_t *s = NULL;
        int rc = hg_fq_server_get(fq, g, id, &s, err);
        if (rc < 0)
            return rc;
        if (s->utilized || hg_fq_server_claimed(fq, s)) {
            fq->claims_failed++;
            return hg_error_set(err, HG_ECONFLICT, "Game server %s is %s", id,
                                s->utilized ? "UTILIZED" : "already CLAIMED");
        }
        if (!hg_fq_server_healthy(fq, s)) {
            fq->claims_failed++;
            return hg_error_set(err, HG_ECONFLICT,
                                "Game server %s has not reported health and cannot be claimed", id);
        }
        claim(fq, s, data, txn);
        *out = s;
        return 0;
    }
    hg_list_t *q;
    hg_list_foreach (q, &g->free) {
        hg_fq_server_t *s = hg_container_of(q, hg_fq_server_t, cnode);
        if (!hg_fq_server_healthy(fq, s))
            continue;
        claim(fq, s, data, txn);
        *out = s;
        return 0;
    }
    fq->claims_failed++;
    return hg_error_set(err, HG_EOUTOFCAPACITY, "No available game servers in game server group %s",
                        g->name);
}

void hg_fq_server_deregister(hg_fleetiq_t *fq, hg_fq_server_t *s, hg_store_txn_t *txn)
{
    notify(fq, txn, HG_FQ_EV_DEREGISTERED, s);
    server_detach(fq, s);
    char key[SERVER_KEY_MAX];
    server_key(s, key);
    hg_store_del(txn, COLL_SERVERS, key);
    server_free(s);
}

size_t hg_fq_server_list(hg_fleetiq_t *fq, hg_fq_group_t *g, int desc, uint64_t after, size_t limit,
                         hg_fq_server_t **out, int *more)
{
    (void)fq;
    size_t n = 0;
    *more = 0;
    hg_list_t *q = desc ? g->servers.prev : g->servers.next;
    for (; q != &g->servers; q = desc ? q->prev : q->next) {
        hg_fq_server_t *s = hg_container_of(q, hg_fq_server_t, gnode);
        if (after && (desc ? s->seq >= after : s->seq <= after))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = s;
    }
    return n;
}

static int cmp_instance(const void *a, const void *b)
{
    return strcmp((*(hg_fq_instance_t *const *)a)->id, (*(hg_fq_instance_t *const *)b)->id);
}

size_t hg_fq_instance_list(hg_fleetiq_t *fq, hg_fq_group_t *g, const char *after, size_t limit,
                           hg_fq_instance_t **out, int *more)
{
    (void)fq;
    size_t n = hg_map_count(&g->instances), k = 0, it = 0;
    hg_fq_instance_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&g->instances, &it, NULL, &v))
        if (after == NULL || strcmp(((hg_fq_instance_t *)v)->id, after) > 0)
            all[k++] = v;
    qsort(all, k, sizeof(*all), cmp_instance);
    size_t m = k < limit ? k : limit;
    memcpy(out, all, m * sizeof(*all));
    *more = k > limit;
    hg_free(all);
    return m;
}

/* ---- cron ---- */

static void group_remove(hg_fleetiq_t *fq, hg_fq_group_t *g, hg_store_txn_t *txn)
{
    while (!hg_list_empty(&g->servers)) {
        hg_fq_server_t *s = hg_container_of(g->servers.next, hg_fq_server_t, gnode);
        hg_fq_server_deregister(fq, s, txn);
    }
    hg_store_del(txn, COLL_GROUPS, g->name);
    hg_map_del(&fq->groups, g->name);
    HG_LOG(HG_LOG_INFO, "fleetiq", "group deleted name=%s", g->name);
    group_free(g);
}

size_t hg_fleetiq_sweep(hg_fleetiq_t *fq, size_t budget)
{
    hg_store_txn_t *txn = hg_store_txn_new(fq->store);
    size_t changes = 0;
    int64_t now = now_ms(fq);
    int64_t limit = fq->cfg.health_window_ms + fq->cfg.deregister_after_ms;
    while (!hg_list_empty(&fq->by_health) && changes < budget) {
        hg_fq_server_t *s = hg_container_of(fq->by_health.next, hg_fq_server_t, hnode);
        if (now - s->health_base_ms <= limit)
            break;
        HG_LOG(HG_LOG_INFO, "fleetiq",
               "deregistering game server id=%s group=%s: no health report for %lld ms", s->id,
               s->group->name, (long long)(now - s->health_ms));
        fq->expired++;
        hg_fq_server_deregister(fq, s, txn);
        changes++;
    }
    size_t it = 0;
    void *v;
    while (hg_map_next(&fq->groups, &it, NULL, &v)) {
        hg_fq_group_t *g = v;
        if (g->status != HG_FQ_DELETE_SCHEDULED)
            continue;
        if (g->delete_option == HG_FQ_FORCE_DELETE || g->nutilized == 0) {
            group_remove(fq, g, txn);
            changes++;
        }
    }
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    return changes;
}

void hg_fleetiq_stats(const hg_fleetiq_t *fq, hg_fq_stats_t *out)
{
    out->groups = hg_map_count(&fq->groups);
    out->servers = hg_map_count(&fq->servers);
    out->utilized = 0;
    size_t it = 0;
    void *v;
    while (hg_map_next(&fq->groups, &it, NULL, &v))
        out->utilized += ((hg_fq_group_t *)v)->nutilized;
    out->claims = fq->claims;
    out->claims_failed = fq->claims_failed;
    out->expired = fq->expired;
}
