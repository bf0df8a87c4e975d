/* hangar — /v1/registry: servers announce themselves, read, pick (see docs/api.md).
 *
 *     POST   /v1/registry/servers        registry:Announce  announce (201 new, 200 again)
 *     PATCH  /v1/registry/servers/{id}   registry:Announce  update status/load/…, renew lease
 *     DELETE /v1/registry/servers/{id}   registry:Announce  leave
 *     GET    /v1/registry/servers        registry:Read      list (?kind ?status ?has_capacity)
 *     GET    /v1/registry/servers/{id}   registry:Read      one
 *     POST   /v1/registry/pick           registry:Pick      least loaded, reserved atomically
 *     GET    /v1/registry/events         registry:Read      event stream (events.c)
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/events.h"
#include "api/native/native_int.h"
#include "core/alloc.h"
#include "core/jsonw.h"

json_t *hg_registry_server_json(const hg_reg_server_t *s)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:O,s:s,s:f,s:f}", "id", s->id, "kind", s->kind,
                  "name", s->name, "address", s->address, "port", s->port, "status", s->status,
                  "load", (json_int_t)s->load, "capacity", (json_int_t)s->capacity, "metadata",
                  s->metadata, "source", hg_reg_source_name(s->source), "registered",
                  (double)s->registered_ms / 1000.0, "updated", (double)s->updated_ms / 1000.0);
    if (s->lease_ms) {
        json_object_set_new(o, "lease_s", json_real((double)s->lease_ms / 1000.0));
        json_object_set_new(o, "lease_expires", json_real((double)s->lease_expires_ms / 1000.0));
    }
    if (s->check != HG_REG_CHECK_NONE) {
        json_t *hc = json_pack(
            "{s:s,s:f,s:i}", "type", s->check == HG_REG_CHECK_TCP ? "tcp" : "http", "interval_s",
            (double)s->check_interval_ms / 1000.0, "failures", s->check_failures_max);
        if (s->check_path)
            json_object_set_new(hc, "path", json_string(s->check_path));
        json_object_set_new(o, "health_check", hc);
    }
    return o;
}

void hg_registry_server_write(hg_buf_t *b, const hg_reg_server_t *s)
{
    hg_buf_puts(b, "{\"id\":");
    hg_jsonw_str(b, s->id);
    hg_buf_puts(b, ",\"kind\":");
    hg_jsonw_str(b, s->kind);
    hg_buf_puts(b, ",\"name\":");
    hg_jsonw_str(b, s->name);
    hg_buf_puts(b, ",\"address\":");
    hg_jsonw_str(b, s->address);
    hg_buf_puts(b, ",\"port\":");
    hg_jsonw_int(b, s->port);
    hg_buf_puts(b, ",\"status\":");
    hg_jsonw_str(b, s->status);
    hg_buf_puts(b, ",\"load\":");
    hg_jsonw_int(b, s->load);
    hg_buf_puts(b, ",\"capacity\":");
    hg_jsonw_int(b, s->capacity);
    hg_buf_puts(b, ",\"metadata\":");
    hg_jsonw_value(b, s->metadata);
    hg_buf_puts(b, ",\"source\":");
    hg_jsonw_str(b, hg_reg_source_name(s->source));
    hg_buf_puts(b, ",\"registered\":");
    hg_jsonw_time_ms(b, s->registered_ms);
    hg_buf_puts(b, ",\"updated\":");
    hg_jsonw_time_ms(b, s->updated_ms);
    if (s->lease_ms) {
        hg_buf_puts(b, ",\"lease_s\":");
        hg_jsonw_time_ms(b, s->lease_ms);
        hg_buf_puts(b, ",\"lease_expires\":");
        hg_jsonw_time_ms(b, s->lease_expires_ms);
    }
    if (s->check != HG_REG_CHECK_NONE) {
        hg_buf_puts(b, ",\"health_check\":{\"type\":");
        hg_jsonw_str(b, s->check == HG_REG_CHECK_TCP ? "tcp" : "http");
        hg_buf_puts(b, ",\"interval_s\":");
        hg_jsonw_time_ms(b, s->check_interval_ms);
        hg_buf_puts(b, ",\"failures\":");
        hg_jsonw_int(b, s->check_failures_max);
        if (s->check_path) {
            hg_buf_puts(b, ",\"path\":");
            hg_jsonw_str(b, s->check_path);
        }
        hg_buf_puts(b, "}");
    }
    hg_buf_puts(b, "}");
}

/* Optional member of type; 0 absent, 1 present, <0 wrong type (err set). */
static int member(hg_native_call_t *c, const char *name, json_type type, json_t **out)
{
    *out = json_object_get(c->in, name);
    if (*out == NULL || json_is_null(*out)) {
        *out = NULL;
        return 0;
    }
    if (json_typeof(*out) != type && !(type == JSON_REAL && json_is_integer(*out))) {
        snprintf(c->err.field, sizeof(c->err.field), "%s", name);
        static const char *names[] = {"an object", "an array",  "a string",  "an integer",
                                      "a number",  "a boolean", "a boolean", "null"};
        return hg_error_set(&c->err, HG_EINVAL, "%s must be %s", name, names[type]);
    }
    return 1;
}

static int get_int(hg_native_call_t *c, const char *name, int64_t def, int64_t *out)
{
    json_t *v;
    int rc = member(c, name, JSON_INTEGER, &v);
    if (rc < 0)
        return rc;
    *out = rc ? (int64_t)json_integer_value(v) : def;
    return 0;
}

static int get_str(hg_native_call_t *c, const char *name, const char **out)
{
    json_t *v;
    int rc = member(c, name, JSON_STRING, &v);
    if (rc < 0)
        return rc;
    *out = rc ? json_string_value(v) : NULL;
    return 0;
}

/* Seconds in min..max (fractions allowed) as ms; 0 and *ms = 0 when absent. */
static int get_seconds(hg_native_call_t *c, json_t *obj, const char *name, double min, double max,
                       int64_t *ms)
{
    json_t *v = json_object_get(obj, name);
    *ms = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return hg_error_set(&c->err, HG_EINVAL, "%s must be a number of seconds", name);
    double s = json_number_value(v);
    if (!(s >= min && s <= max))
        return hg_error_set(&c->err, HG_EINVAL, "%s must be %g..%g seconds", name, min, max);
    *ms = (int64_t)(s * 1000.0 + 0.5);
    return 0;
}

static int announce(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    hg_reg_announce_t a = {0};
    json_t *md = NULL, *hc = NULL;
    int64_t port = 0;
    if ((rc = hg_native_parse_body(c)) < 0 || (rc = get_str(c, "kind", &a.kind)) < 0 ||
        (rc = get_str(c, "name", &a.name)) < 0 || (rc = get_str(c, "address", &a.address)) < 0 ||
        (rc = get_str(c, "status", &a.status)) < 0 || (rc = get_int(c, "port", 0, &port)) < 0 ||
        (rc = get_int(c, "load", 0, &a.load)) < 0 ||
        (rc = get_int(c, "capacity", 0, &a.capacity)) < 0 ||
        (rc = member(c, "metadata", JSON_OBJECT, &md)) < 0 ||
        (rc = member(c, "health_check", JSON_OBJECT, &hc)) < 0 ||
        (rc = get_seconds(c, c->in, "lease_s", HG_REG_LEASE_MIN_MS / 1000.0,
                          HG_REG_LEASE_MAX_MS / 1000.0, &a.lease_ms)) < 0)
        return rc;
    if (a.kind == NULL || a.address == NULL)
        return hg_error_set(&c->err, HG_EINVAL, "kind and address are required");
    if (port < 0 || port > 65535)
        return hg_error_set(&c->err, HG_EINVAL, "port must be 0..65535");
    a.port = (int)port;
    a.metadata = md;
    if (hc) {
        const char *type = json_string_value(json_object_get(hc, "type"));
        if (type && strcmp(type, "tcp") == 0)
            a.check = HG_REG_CHECK_TCP;
        else if (type && strcmp(type, "http") == 0)
            a.check = HG_REG_CHECK_HTTP;
        else
            return hg_error_set(&c->err, HG_EINVAL, "health_check.type must be tcp or http");
        json_t *path = json_object_get(hc, "path");
        if (path && !json_is_string(path))
            return hg_error_set(&c->err, HG_EINVAL, "health_check.path must be a string");
        a.check_path = json_string_value(path);
        if ((rc = get_seconds(c, hc, "interval_s", HG_REG_CHECK_MIN_MS / 1000.0,
                              HG_REG_CHECK_MAX_MS / 1000.0, &a.check_interval_ms)) < 0)
            return rc;
        if (a.check_interval_ms == 0)
            a.check_interval_ms = 5000;
        json_t *f = json_object_get(hc, "failures");
        if (f && !(json_is_integer(f) && json_integer_value(f) >= 1 &&
                   json_integer_value(f) <= HG_REG_CHECK_FAILURES_MAX))
            return hg_error_set(&c->err, HG_EINVAL,
                                "health_check.failures must be an integer "
                                "1..%d",
                                HG_REG_CHECK_FAILURES_MAX);
        a.check_failures_max = f ? (int)json_integer_value(f) : 3;
    }
    hg_reg_server_t *s;
    int created;
    rc = hg_registry_announce(c->api->registry, &a, txn, &s, &created, &c->err);
    if (rc < 0)
        return rc;
    hg_registry_server_write(&c->out_text, s);
    c->status = created ? 201 : 200;
    return 0;
}

static int patch(hg_native_call_t *c, hg_reg_server_t *s, hg_store_txn_t *txn)
{
    int rc;
    hg_reg_patch_t p = {.load = -1, .capacity = -1};
    if ((rc = hg_native_parse_body(c)) < 0 || (rc = get_str(c, "status", &p.status)) < 0 ||
        (rc = get_int(c, "load", -1, &p.load)) < 0 ||
        (rc = get_int(c, "capacity", -1, &p.capacity)) < 0 ||
        (rc = member(c, "metadata", JSON_OBJECT, &p.metadata)) < 0)
        return rc;
    if (json_object_get(c->in, "load") && p.load < 0)
        return hg_error_set(&c->err, HG_EINVAL, "load must not be negative");
    if (json_object_get(c->in, "capacity") && p.capacity < 0)
        return hg_error_set(&c->err, HG_EINVAL, "capacity must not be negative");
    rc = hg_registry_update(c->api->registry, s, &p, txn, &c->err);
    if (rc < 0)
        return rc;
    hg_registry_server_write(&c->out_text, s); /* the hot path: no jansson tree */
    return 0;
}

static int list(hg_native_call_t *c)
{
    char kind[64], status[64], cap[8], after[32];
    hg_reg_filter_t f = {0};
    int rc;
    if ((rc = hg_native_query(c, "kind", kind, sizeof(kind))) < 0)
        return rc;
    f.kind = rc ? kind : NULL;
    if ((rc = hg_native_query(c, "status", status, sizeof(status))) < 0)
        return rc;
    f.status = rc ? status : NULL;
    if ((rc = hg_native_query(c, "has_capacity", cap, sizeof(cap))) < 0)
        return rc;
    f.has_capacity = rc && (strcmp(cap, "1") == 0 || strcmp(cap, "true") == 0);
    if ((rc = hg_native_query(c, "after", after, sizeof(after))) < 0)
        return rc;
    const char *cursor = rc ? after : NULL;
    size_t limit;
    if ((rc = hg_native_limit(c, 100, &limit)) < 0)
        return rc;
    hg_reg_server_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_registry_list(c->api->registry, &f, cursor, limit, page, &more);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, hg_registry_server_json(page[i]));
    c->out = json_pack("{s:o}", "items", items);
    if (more && n)
        json_object_set_new(c->out, "next", json_string(page[n - 1]->id));
    hg_free(page);
    return 0;
}

static int pick(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    hg_reg_filter_t f = {0};
    int64_t reserve;
    json_t *md;
    if ((rc = hg_native_parse_body(c)) < 0 || (rc = get_str(c, "kind", &f.kind)) < 0 ||
        (rc = member(c, "metadata", JSON_OBJECT, &md)) < 0 ||
        (rc = get_int(c, "reserve", 1, &reserve)) < 0)
        return rc;
    if (f.kind == NULL)
        return hg_error_set(&c->err, HG_EINVAL, "kind is required");
    f.metadata = md;
    hg_reg_server_t *s;
    rc = hg_registry_pick(c->api->registry, &f, reserve, txn, &s, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_registry_server_json(s);
    json_object_set_new(c->out, "reserved", json_integer(reserve));
    return 0;
}

void hg_native_registry(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    int m = c->req->method;
    if (n == 7 && memcmp(rest, "/events", 7) == 0) {
        hg_store_txn_free(txn);
        if (hg_native_require(c, "registry:Read") < 0 || m != HTTP_GET) {
            if (c->err.code == 0)
                hg_error_set(&c->err, HG_EMETHOD, "use GET on /v1/registry/events");
            hg_native_finish(c);
            return;
        }
        if (hg_store_fenced(c->api->store)) { /* its snapshot would show memory (store.h) */
            hg_error_set(&c->err, HG_ESHUTDOWN,
                         "the service is restarting after a storage failure; retry shortly");
            hg_native_finish(c);
            return;
        }
        hg_events_subscribe(c);
        return;
    }
    if (n == 5 && memcmp(rest, "/pick", 5) == 0) {
        if (m != HTTP_POST)
            hg_error_set(&c->err, HG_EMETHOD, "use POST on /v1/registry/pick");
        else if (hg_native_require(c, "registry:Pick") == 0)
            pick(c, txn);
        goto done;
    }
    if (n >= 8 && memcmp(rest, "/servers", 8) == 0) {
        rest += 8;
        n -= 8;
        if (n == 0) {
            if (m == HTTP_POST) {
                if (hg_native_require(c, "registry:Announce") == 0)
                    announce(c, txn);
            } else if (m == HTTP_GET) {
                if (hg_native_require(c, "registry:Read") == 0)
                    list(c);
            } else {
                hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/registry/servers");
            }
            goto done;
        }
        if (rest[0] == '/' && n > 1 && n < 32 && memchr(rest + 1, '/', n - 1) == NULL) {
            char id[32];
            snprintf(id, sizeof(id), "%.*s", (int)(n - 1), rest + 1);
            const char *action = m == HTTP_GET ? "registry:Read" : "registry:Announce";
            if (hg_native_require(c, action) < 0)
                goto done;
            hg_reg_server_t *s = hg_registry_get(c->api->registry, id);
            if (s == NULL) {
                hg_error_set(&c->err, HG_ENOTFOUND, "no server %s", id);
            } else if (m == HTTP_GET) {
                c->out = hg_registry_server_json(s);
            } else if (m == HTTP_PATCH) {
                patch(c, s, txn);
            } else if (m == HTTP_DELETE) {
                if (hg_registry_remove(c->api->registry, s, txn, &c->err) == 0)
                    c->out = json_pack("{s:s,s:b}", "id", id, "left", 1);
            } else {
                hg_error_set(&c->err, HG_EMETHOD, "use GET, PATCH or DELETE");
            }
            goto done;
        }
    }
    hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
done:
    hg_native_commit(c, txn);
}
