/* hangar — the registry (design, state table and limits in registry.h).
 *
 * Durable records (native entries only): registry.servers id → {kind, name, address, port,
 * status, load, capacity, metadata, lease_ms, check…, registered_ms}. External entries are
 * rebuilt from their source at start.
 */
#include "registry/registry.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/log.h"

#define COLL "registry.servers"

typedef struct kind_list {
    hg_list_t servers;
    size_t n;
    uint64_t rr; /* round-robin cursor for ties */
} kind_list_t;

struct hg_registry {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_map_t by_id;
    hg_map_t kinds;     /* kind → kind_list_t */
    hg_map_t external;  /* "<src>:<key>" → server */
    hg_list_t by_lease; /* leased servers, soonest expiry first */
    hg_reg_observer_cb observer;
    void *observer_ud;
    hg_reg_probe_cb prober;
    void *prober_ud;
    uint64_t next_probe_id;
};

static const char *event_names[] = {"", "server.up", "server.updated", "server.down"};
static const char *reason_names[] = {"", "left", "lease_expired", "health_check_failed",
                                     "deregistered"};
static const char *source_names[] = {"native", "fleetiq", "sdk"};

const char *hg_reg_event_name(hg_reg_event_t ev)
{
    return event_names[ev];
}

const char *hg_reg_reason_name(hg_reg_reason_t reason)
{
    return reason_names[reason];
}

const char *hg_reg_source_name(hg_reg_source_t src)
{
    return source_names[src];
}

static int64_t now_ms(const hg_registry_t *r)
{
    return hg_clock_now_ms(r->clock);
}

void hg_registry_make_id(const char *kind, const char *address, int port, char out[24])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char buf[HG_REG_KIND_MAX + HG_REG_ADDRESS_MAX + 32];
    int n = snprintf(buf, sizeof(buf), "%s%c%s%c%d", kind, 0, address, 0, port);
    SHA256((const unsigned char *)buf, (size_t)n, md);
    snprintf(out, 24, "srv-");
    for (int i = 0; i < 8; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", md[i]);
}

hg_registry_t *hg_registry_new(hg_clock_t *clock, hg_store_t *store)
{
    hg_registry_t *r = hg_calloc(1, sizeof(*r));
    r->clock = clock;
    r->store = store;
    hg_map_init(&r->by_id);
    hg_map_init(&r->kinds);
    hg_map_init(&r->external);
    hg_list_init(&r->by_lease);
    r->next_probe_id = 1;
    return r;
}

static void server_free(hg_reg_server_t *s)
{
    hg_free(s->kind);
    hg_free(s->name);
    hg_free(s->address);
    hg_free(s->status);
    hg_free(s->check_path);
    json_decref(s->metadata);
    hg_free(s);
}

void hg_registry_free(hg_registry_t *r)
{
    if (r == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&r->by_id, &it, NULL, &v))
        server_free(v);
    it = 0;
    while (hg_map_next(&r->kinds, &it, NULL, &v))
        hg_free(v);
    hg_map_free(&r->by_id);
    hg_map_free(&r->kinds);
    hg_map_free(&r->external);
    hg_free(r);
}

void hg_registry_set_observer(hg_registry_t *r, hg_reg_observer_cb cb, void *ud)
{
    r->observer = cb;
    r->observer_ud = ud;
}

void hg_registry_set_prober(hg_registry_t *r, hg_reg_probe_cb cb, void *ud)
{
    r->prober = cb;
    r->prober_ud = ud;
}

size_t hg_registry_count(const hg_registry_t *r)
{
    return hg_map_count(&r->by_id);
}

static void notify(hg_registry_t *r, hg_store_txn_t *txn, hg_reg_event_t ev, hg_reg_reason_t reason,
                   const hg_reg_server_t *s)
{
    if (r->observer)
        r->observer(r->observer_ud, txn, ev, reason, s);
}

/* ---- records ---- */

static const char *check_names[] = {"none", "tcp", "http"};

/* The record, written straight to text with the JSON writer (every announce, change and pick
 * writes one); load_one() reads it back. */
static void save(hg_reg_server_t *s, hg_store_txn_t *txn)
{
    if (s->source != HG_REG_SRC_NATIVE)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 320);
    hg_buf_puts(&b, "{\"kind\":");
    hg_jsonw_str(&b, s->kind);
    hg_buf_puts(&b, ",\"name\":");
    hg_jsonw_str(&b, s->name);
    hg_buf_puts(&b, ",\"address\":");
    hg_jsonw_str(&b, s->address);
    hg_buf_puts(&b, ",\"port\":");
    hg_jsonw_int(&b, s->port);
    hg_buf_puts(&b, ",\"status\":");
    hg_jsonw_str(&b, s->status);
    hg_buf_puts(&b, ",\"load\":");
    hg_jsonw_int(&b, s->load);
    hg_buf_puts(&b, ",\"capacity\":");
    hg_jsonw_int(&b, s->capacity);
    hg_buf_puts(&b, ",\"metadata\":");
    hg_jsonw_value(&b, s->metadata);
    hg_buf_puts(&b, ",\"lease_ms\":");
    hg_jsonw_int(&b, s->lease_ms);
    hg_buf_puts(&b, ",\"registered_ms\":");
    hg_jsonw_int(&b, s->registered_ms);
    hg_buf_puts(&b, ",\"check\":");
    hg_jsonw_str(&b, check_names[s->check]);
    hg_buf_puts(&b, ",\"check_interval_ms\":");
    hg_jsonw_int(&b, s->check_interval_ms);
    hg_buf_puts(&b, ",\"check_failures_max\":");
    hg_jsonw_int(&b, s->check_failures_max);
    if (s->check_path) {
        hg_buf_puts(&b, ",\"check_path\":");
        hg_jsonw_str(&b, s->check_path);
    }
    hg_buf_puts(&b, "}");
    hg_store_put_text(txn, COLL, s->id, hg_buf_steal(&b, NULL));
}

/* ---- indexes ---- */

static void lease_place(hg_registry_t *r, hg_reg_server_t *s)
{
    if (hg_list_linked(&s->lnode))
        hg_list_remove(&s->lnode);
    if (s->lease_ms <= 0)
        return;
    /* Leases are renewed to now + lease_ms; with per-server lease lengths the list is kept
     * sorted by walking back from the tail (renewals land at or near the tail). */
    hg_list_t *q = r->by_lease.prev;
    while (q != &r->by_lease &&
           hg_container_of(q, hg_reg_server_t, lnode)->lease_expires_ms > s->lease_expires_ms)
        q = q->prev;
    s->lnode.prev = q;
    s->lnode.next = q->next;
    q->next->prev = &s->lnode;
    q->next = &s->lnode;
}

static void attach(hg_registry_t *r, hg_reg_server_t *s)
{
    kind_list_t *k = hg_map_get(&r->kinds, s->kind);
    if (k == NULL) {
        k = hg_calloc(1, sizeof(*k));
        hg_list_init(&k->servers);
        hg_map_set(&r->kinds, s->kind, k);
    }
    hg_list_insert_tail(&k->servers, &s->knode);
    k->n++;
    hg_list_init(&s->lnode);
    lease_place(r, s);
    hg_map_set(&r->by_id, s->id, s);
}

static void detach(hg_registry_t *r, hg_reg_server_t *s)
{
    kind_list_t *k = hg_map_get(&r->kinds, s->kind);
    hg_list_remove(&s->knode);
    if (k && --k->n == 0) {
        hg_map_del(&r->kinds, s->kind);
        hg_free(k);
    }
    if (hg_list_linked(&s->lnode))
        hg_list_remove(&s->lnode);
    hg_map_del(&r->by_id, s->id);
}

/* ---- validation ---- */

static int valid_kind(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > HG_REG_KIND_MAX)
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-'))
            return 0;
    return 1;
}

static int valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return 0;
    return 1;
}

static int check_metadata(json_t *m, hg_error_t *err)
{
    if (m == NULL)
        return 0;
    if (!json_is_object(m))
        return hg_error_set(err, HG_EINVAL, "metadata must be a JSON object");
    char *text = json_dumps(m, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    free(text);
    if (n > HG_REG_METADATA_MAX)
        return hg_error_set(err, HG_EINVAL, "metadata is %zu bytes; at most %d", n,
                            HG_REG_METADATA_MAX);
    return 0;
}

static int check_announce(const hg_reg_announce_t *a, hg_error_t *err)
{
    if (a->kind == NULL || !valid_kind(a->kind))
        return hg_error_set(err, HG_EINVAL, "kind must be 1..%d characters of [a-z0-9-]",
                            HG_REG_KIND_MAX);
    if (a->address == NULL || !valid_text(a->address, HG_REG_ADDRESS_MAX))
        return hg_error_set(err, HG_EINVAL, "address must be 1..%d printable characters",
                            HG_REG_ADDRESS_MAX);
    if (a->port < 0 || a->port > 65535)
        return hg_error_set(err, HG_EINVAL, "port must be 0..65535");
    if (a->name && !valid_text(a->name, HG_REG_NAME_MAX))
        return hg_error_set(err, HG_EINVAL, "name must be 1..%d printable characters",
                            HG_REG_NAME_MAX);
    if (a->status && !valid_kind(a->status))
        return hg_error_set(err, HG_EINVAL, "status must be 1..%d characters of [a-z0-9-]",
                            HG_REG_STATUS_MAX);
    if (a->load < 0 || a->capacity < 0)
        return hg_error_set(err, HG_EINVAL, "load and capacity must not be negative");
    if (a->lease_ms && (a->lease_ms < HG_REG_LEASE_MIN_MS || a->lease_ms > HG_REG_LEASE_MAX_MS))
        return hg_error_set(err, HG_EINVAL, "lease must be %d..%d ms", HG_REG_LEASE_MIN_MS,
                            HG_REG_LEASE_MAX_MS);
    if (a->check != HG_REG_CHECK_NONE) {
        if (a->port == 0)
            return hg_error_set(err, HG_EINVAL, "a health check needs a port");
        if (a->check_interval_ms < HG_REG_CHECK_MIN_MS ||
            a->check_interval_ms > HG_REG_CHECK_MAX_MS)
            return hg_error_set(err, HG_EINVAL, "health check interval must be %d..%d ms",
                                HG_REG_CHECK_MIN_MS, HG_REG_CHECK_MAX_MS);
        if (a->check_failures_max < 1 || a->check_failures_max > HG_REG_CHECK_FAILURES_MAX)
            return hg_error_set(err, HG_EINVAL, "health check failures must be 1..%d",
                                HG_REG_CHECK_FAILURES_MAX);
        if (a->check == HG_REG_CHECK_HTTP &&
            (a->check_path == NULL || a->check_path[0] != '/' || !valid_text(a->check_path, 256)))
            return hg_error_set(err, HG_EINVAL,
                                "an HTTP health check needs a path starting "
                                "with / (at most 256 characters)");
    }
    return check_metadata(a->metadata, err);
}

static void set_str(char **dst, const char *v)
{
    hg_free(*dst);
    *dst = v ? hg_strdup(v) : NULL;
}

/* Apply an announcement's fields to s (new or existing). */
static void apply(hg_registry_t *r, hg_reg_server_t *s, const hg_reg_announce_t *a)
{
    int64_t now = now_ms(r);
    set_str(&s->name, a->name ? a->name : a->address);
    set_str(&s->status, a->status ? a->status : "up");
    s->load = a->load;
    s->capacity = a->capacity;
    /* metadata objects are never changed in place once given: share, don't copy */
    json_t *md = a->metadata ? json_incref(a->metadata) : json_object();
    json_decref(s->metadata);
    s->metadata = md;
    s->lease_ms =
        s->source == HG_REG_SRC_NATIVE ? (a->lease_ms ? a->lease_ms : HG_REG_LEASE_DEFAULT_MS) : 0;
    s->lease_expires_ms = s->lease_ms ? now + s->lease_ms : 0;
    s->check = a->check;
    set_str(&s->check_path, a->check == HG_REG_CHECK_HTTP ? a->check_path : NULL);
    s->check_interval_ms = a->check_interval_ms;
    s->check_failures_max = a->check_failures_max;
    s->check_failures = 0;
    s->next_check_ms = a->check ? now + a->check_interval_ms : 0;
    s->updated_ms = now;
}

static hg_reg_server_t *server_new(const char *id, const hg_reg_announce_t *a, hg_reg_source_t src,
                                   int64_t now)
{
    hg_reg_server_t *s = hg_calloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->kind = hg_strdup(a->kind);
    s->address = hg_strdup(a->address);
    s->port = a->port;
    s->source = src;
    s->registered_ms = now;
    hg_list_init(&s->knode);
    hg_list_init(&s->lnode);
    return s;
}

int hg_registry_announce(hg_registry_t *r, const hg_reg_announce_t *a, hg_store_txn_t *txn,
                         hg_reg_server_t **out, int *created, hg_error_t *err)
{
    int rc = check_announce(a, err);
    if (rc < 0)
        return rc;
    char id[24];
    hg_registry_make_id(a->kind, a->address, a->port, id);
    hg_reg_server_t *s = hg_map_get(&r->by_id, id);
    *created = s == NULL;
    if (s && s->source != HG_REG_SRC_NATIVE)
        return hg_error_set(err, HG_ECONFLICT,
                            "%s:%d is registered as a %s server; it cannot be announced here",
                            a->address, a->port, source_names[s->source]);
    if (s == NULL) {
        if (hg_map_count(&r->by_id) >= HG_REG_MAX_SERVERS)
            return hg_error_set(err, HG_ELIMIT, "at most %d servers", HG_REG_MAX_SERVERS);
        s = server_new(id, a, HG_REG_SRC_NATIVE, now_ms(r));
        apply(r, s, a);
        attach(r, s);
    } else {
        apply(r, s, a);
        lease_place(r, s);
    }
    save(s, txn);
    notify(r, txn, *created ? HG_REG_UP : HG_REG_UPDATED, HG_REG_REASON_NONE, s);
    *out = s;
    return 0;
}

int hg_registry_update(hg_registry_t *r, hg_reg_server_t *s, const hg_reg_patch_t *p,
                       hg_store_txn_t *txn, hg_error_t *err)
{
    if (s->source != HG_REG_SRC_NATIVE)
        return hg_error_set(err, HG_ECONFLICT,
                            "server %s is managed through the %s API; update it there", s->id,
                            source_names[s->source]);
    if (p->status && !valid_kind(p->status))
        return hg_error_set(err, HG_EINVAL, "status must be 1..%d characters of [a-z0-9-]",
                            HG_REG_STATUS_MAX);
    if (p->load < -1 || p->capacity < -1)
        return hg_error_set(err, HG_EINVAL, "load and capacity must not be negative");
    int rc = check_metadata(p->metadata, err);
    if (rc < 0)
        return rc;
    int changed = 0;
    if (p->status && strcmp(p->status, s->status) != 0) {
        set_str(&s->status, p->status);
        changed = 1;
    }
    if (p->load >= 0 && p->load != s->load) {
        s->load = p->load;
        changed = 1;
    }
    if (p->capacity >= 0 && p->capacity != s->capacity) {
        s->capacity = p->capacity;
        changed = 1;
    }
    if (p->metadata && !json_equal(p->metadata, s->metadata)) {
        json_decref(s->metadata);
        s->metadata = json_incref(p->metadata);
        changed = 1;
    }
    int64_t now = now_ms(r);
    s->lease_expires_ms = now + s->lease_ms;
    lease_place(r, s);
    /* A bare renewal is neither news nor state worth an fsync: leases restart at start-up. */
    if (changed) {
        s->updated_ms = now;
        save(s, txn);
        notify(r, txn, HG_REG_UPDATED, HG_REG_REASON_NONE, s);
    }
    return 0;
}

static void drop(hg_registry_t *r, hg_reg_server_t *s, hg_store_txn_t *txn, hg_reg_reason_t reason)
{
    detach(r, s);
    if (s->source == HG_REG_SRC_NATIVE)
        hg_store_del(txn, COLL, s->id);
    notify(r, txn, HG_REG_DOWN, reason, s);
    /* Leaving through the owning API (a FleetIQ game server deregistered after its game) is
     * routine and frequent: debug. A server found dead is worth an info line. */
    HG_LOG(reason == HG_REG_REASON_DEREGISTERED || reason == HG_REG_REASON_LEFT ? HG_LOG_DEBUG
                                                                                : HG_LOG_INFO,
           "registry", "server down id=%s kind=%s address=%s:%d reason=%s", s->id, s->kind,
           s->address, s->port, reason_names[reason]);
    server_free(s);
}

int hg_registry_remove(hg_registry_t *r, hg_reg_server_t *s, hg_store_txn_t *txn, hg_error_t *err)
{
    if (s->source != HG_REG_SRC_NATIVE)
        return hg_error_set(err, HG_ECONFLICT,
                            "server %s is managed through the %s API; deregister it there", s->id,
                            source_names[s->source]);
    drop(r, s, txn, HG_REG_REASON_LEFT);
    return 0;
}

hg_reg_server_t *hg_registry_get(hg_registry_t *r, const char *id)
{
    return hg_map_get(&r->by_id, id);
}

/* ---- queries ---- */

static int matches(const hg_reg_server_t *s, const hg_reg_filter_t *f)
{
    if (f->kind && strcmp(s->kind, f->kind) != 0)
        return 0;
    if (f->status && strcmp(s->status, f->status) != 0)
        return 0;
    if (f->has_capacity && s->load >= s->capacity)
        return 0;
    if (f->metadata) {
        const char *k;
        json_t *v;
        json_object_foreach (f->metadata, k, v) {
            if (!json_equal(json_object_get(s->metadata, k), v))
                return 0;
        }
    }
    return 1;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp((*(hg_reg_server_t *const *)a)->id, (*(hg_reg_server_t *const *)b)->id);
}

size_t hg_registry_list(hg_registry_t *r, const hg_reg_filter_t *f, const char *after, size_t limit,
                        hg_reg_server_t **out, int *more)
{
    size_t n = hg_map_count(&r->by_id), k = 0, it = 0;
    hg_reg_server_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&r->by_id, &it, NULL, &v)) {
        hg_reg_server_t *s = v;
        if ((after == NULL || strcmp(s->id, after) > 0) && matches(s, f))
            all[k++] = s;
    }
    qsort(all, k, sizeof(*all), cmp_id);
    size_t m = k < limit ? k : limit;
    memcpy(out, all, m * sizeof(*all));
    *more = k > limit;
    hg_free(all);
    return m;
}

static int pickable(const hg_reg_server_t *s, const hg_reg_filter_t *f, int64_t reserve)
{
    return s->source == HG_REG_SRC_NATIVE && s->capacity > 0 &&
           s->capacity - s->load >= (reserve ? reserve : 1) && strcmp(s->status, "draining") &&
           matches(s, f);
}

/* load/capacity of a against b: <0, 0, >0. */
static int ratio_cmp(const hg_reg_server_t *a, const hg_reg_server_t *b)
{
    __int128 lhs = (__int128)a->load * b->capacity, rhs = (__int128)b->load * a->capacity;
    return lhs < rhs ? -1 : lhs > rhs;
}

int hg_registry_pick(hg_registry_t *r, const hg_reg_filter_t *f, int64_t reserve,
                     hg_store_txn_t *txn, hg_reg_server_t **out, hg_error_t *err)
{
    if (f->kind == NULL)
        return hg_error_set(err, HG_EINVAL, "pick needs a kind");
    if (reserve < 0 || reserve > HG_REG_RESERVE_MAX)
        return hg_error_set(err, HG_EINVAL, "reserve must be 0..%d", HG_REG_RESERVE_MAX);
    kind_list_t *k = hg_map_get(&r->kinds, f->kind);
    hg_reg_server_t *best = NULL;
    if (k) {
        /* Pass 1: the lowest load/capacity among servers with room (a/b < c/d as a*d < c*b, no
         * floating point) and how many share it. Pass 2: take the (rr % ties)-th of them, so
         * ties are served round-robin. FleetIQ and SDK servers are not picked: they are handed
         * out by their own APIs (ClaimGameServer, game session placement). */
        hg_reg_server_t *low = NULL;
        size_t ties = 0;
        hg_list_t *q;
        hg_list_foreach (q, &k->servers) {
            hg_reg_server_t *s = hg_container_of(q, hg_reg_server_t, knode);
            if (!pickable(s, f, reserve))
                continue;
            int c = low ? ratio_cmp(s, low) : -1;
            if (c < 0) {
                low = s;
                ties = 1;
            } else if (c == 0) {
                ties++;
            }
        }
        if (low) {
            size_t want = (size_t)(k->rr++ % ties), i = 0;
            hg_list_foreach (q, &k->servers) {
                hg_reg_server_t *s = hg_container_of(q, hg_reg_server_t, knode);
                if (pickable(s, f, reserve) && ratio_cmp(s, low) == 0 && i++ == want) {
                    best = s;
                    break;
                }
            }
        }
    }
    if (best == NULL)
        return hg_error_set(err, HG_EOUTOFCAPACITY, "no %s server has room for %lld more", f->kind,
                            (long long)(reserve ? reserve : 1));
    if (reserve) {
        best->load += reserve;
        best->updated_ms = now_ms(r);
        save(best, txn);
        notify(r, txn, HG_REG_UPDATED, HG_REG_REASON_NONE, best);
    }
    *out = best;
    return 0;
}

/* ---- external sources ---- */

static void ext_key(char *buf, size_t n, hg_reg_source_t src, const char *key)
{
    snprintf(buf, n, "%s:%s", source_names[src], key);
}

void hg_registry_upsert_external(hg_registry_t *r, hg_reg_source_t src, const char *key,
                                 const hg_reg_announce_t *a, hg_store_txn_t *txn)
{
    char k[512];
    ext_key(k, sizeof(k), src, key);
    hg_reg_server_t *s = hg_map_get(&r->external, k);
    int created = s == NULL;
    if (s == NULL) {
        char id[24];
        hg_registry_make_id(a->kind, k, 0, id);
        s = server_new(id, a, src, now_ms(r));
        apply(r, s, a);
        attach(r, s);
        hg_map_set(&r->external, k, s);
    } else {
        apply(r, s, a);
    }
    notify(r, txn, created ? HG_REG_UP : HG_REG_UPDATED, HG_REG_REASON_NONE, s);
}

void hg_registry_remove_external(hg_registry_t *r, hg_reg_source_t src, const char *key,
                                 hg_store_txn_t *txn)
{
    char k[512];
    ext_key(k, sizeof(k), src, key);
    hg_reg_server_t *s = hg_map_del(&r->external, k);
    if (s)
        drop(r, s, txn, HG_REG_REASON_DEREGISTERED);
}

/* ---- time ---- */

static hg_reg_check_t parse_check(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, check_names[i]) == 0)
            return (hg_reg_check_t)i;
    return HG_REG_CHECK_NONE;
}

static int load_one(void *ud, const char *id, json_t *v)
{
    hg_registry_t *r = ud;
    hg_reg_announce_t a = {
        .kind = json_string_value(json_object_get(v, "kind")),
        .name = json_string_value(json_object_get(v, "name")),
        .address = json_string_value(json_object_get(v, "address")),
        .status = json_string_value(json_object_get(v, "status")),
        .port = (int)json_integer_value(json_object_get(v, "port")),
        .load = json_integer_value(json_object_get(v, "load")),
        .capacity = json_integer_value(json_object_get(v, "capacity")),
        .metadata = json_object_get(v, "metadata"),
        .lease_ms = json_integer_value(json_object_get(v, "lease_ms")),
        .check = parse_check(json_string_value(json_object_get(v, "check"))),
        .check_path = json_string_value(json_object_get(v, "check_path")),
        .check_interval_ms = json_integer_value(json_object_get(v, "check_interval_ms")),
        .check_failures_max = (int)json_integer_value(json_object_get(v, "check_failures_max")),
    };
    hg_error_t err;
    if (check_announce(&a, &err) < 0) {
        HG_LOG(HG_LOG_ERROR, "registry", "skipping bad stored server id=%s: %s", id, err.msg);
        return 0;
    }
    hg_reg_server_t *s = server_new(id, &a, HG_REG_SRC_NATIVE, now_ms(r));
    s->registered_ms = json_integer_value(json_object_get(v, "registered_ms"));
    apply(r, s, &a); /* the lease restarts its countdown now */
    attach(r, s);
    return 0;
}

int hg_registry_load(hg_registry_t *r)
{
    int rc = hg_store_load(r->store, COLL, load_one, r);
    HG_LOG(HG_LOG_INFO, "registry", "loaded servers=%zu", hg_map_count(&r->by_id));
    return rc;
}

size_t hg_registry_tick(hg_registry_t *r, size_t budget)
{
    int64_t now = now_ms(r);
    size_t changes = 0;
    hg_store_txn_t *txn = hg_store_txn_new(r->store);
    while (!hg_list_empty(&r->by_lease) && changes < budget) {
        hg_reg_server_t *s = hg_container_of(r->by_lease.next, hg_reg_server_t, lnode);
        if (s->lease_expires_ms > now)
            break;
        drop(r, s, txn, HG_REG_REASON_LEASE_EXPIRED);
        changes++;
    }
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    if (r->prober == NULL)
        return changes;
    size_t it = 0, started = 0;
    void *v;
    while (hg_map_next(&r->by_id, &it, NULL, &v) && started < budget) {
        hg_reg_server_t *s = v;
        if (s->check == HG_REG_CHECK_NONE || s->probe_id || s->next_check_ms > now)
            continue;
        s->probe_id = r->next_probe_id++;
        s->next_check_ms = now + s->check_interval_ms;
        started++;
        r->prober(r->prober_ud, s, s->probe_id);
    }
    return changes;
}

void hg_registry_probe_result(hg_registry_t *r, const char *id, uint64_t probe_id, int ok)
{
    hg_reg_server_t *s = hg_map_get(&r->by_id, id);
    if (s == NULL || s->probe_id != probe_id)
        return; /* gone, or re-announced meanwhile */
    s->probe_id = 0;
    if (ok) {
        s->check_failures = 0;
        return;
    }
    if (++s->check_failures < s->check_failures_max)
        return;
    hg_store_txn_t *txn = hg_store_txn_new(r->store);
    drop(r, s, txn, HG_REG_REASON_HEALTH_CHECK_FAILED);
    hg_store_commit(txn, NULL, NULL);
}
