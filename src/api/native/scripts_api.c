/* hangar — /v1/scripts: room scripts and their versions (docs/rooms.md; rooms/scripts.h).
 *
 *     PUT  /v1/scripts/{name}            {"source", "migrate"?: bool, "grants"?: [action]} → 201
 *                                        {"name", "version", "grants", "migrated",
 *                                        "migrate_failed"} (rooms:Deploy, and every action
 *                                        granted); a script that does not compile or check: 400
 *                                        with the Lua error
 *     GET  /v1/scripts                   {"items": [...]} (rooms:Read)
 *     GET  /v1/scripts/{name}            one, with its versions (rooms:Read)
 *     GET  /v1/scripts/{name}/versions   {"items": [{"version", "created", "bytes"}], "current"}
 *     POST /v1/scripts/{name}/rollback   {"version", "migrate"?} (rooms:Deploy)
 * New rooms run the current version; with migrate, live rooms switch too (on_migrate).
 */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "api/native/native_int.h"
#include "rooms/rooms.h"
#include "rooms/scripts.h"

/* Make version v current in the live rooms too when asked: counts into the answer. */
static void maybe_migrate(hg_native_call_t *c, const char *name, uint32_t v, hg_store_txn_t *txn)
{
    json_t *mig = json_object_get(c->in, "migrate");
    size_t ok = 0, failed = 0;
    if (json_is_true(mig)) {
        hg_script_t *s;
        uint32_t got;
        if (hg_scripts_get(c->api->scripts, name, v, &s, &got, &c->err) < 0)
            return;
        hg_rooms_migrate(c->api->rooms, name, s, got, txn, &ok, &failed);
    }
    json_object_set_new(c->out, "migrated", json_integer((json_int_t)ok));
    json_object_set_new(c->out, "migrate_failed", json_integer((json_int_t)failed));
}

/* The body's "grants": actions the version's rooms may use, each held by the deploying key (a
 * script can never do more than whoever deployed it). */
static int parse_grants(hg_native_call_t *c, unsigned *out)
{
    json_t *g = json_object_get(c->in, "grants"), *e;
    size_t i;
    *out = 0;
    if (g == NULL || json_is_null(g))
        return 0;
    if (!json_is_array(g) || json_array_size(g) > HG_SCRIPT_GRANTS_N)
        return hg_error_set(&c->err, HG_EINVAL, "grants must be a list of at most %d actions",
                            HG_SCRIPT_GRANTS_N);
    json_array_foreach (g, i, e) {
        unsigned bit = json_is_string(e) ? hg_script_grant_parse(json_string_value(e)) : 0;
        if (bit == 0)
            return hg_error_set(&c->err, HG_EINVAL,
                                "grants[%zu]: not a grantable action (leaderboards:Read, "
                                "leaderboards:Submit, wallet:Read, wallet:Credit, wallet:Purchase)",
                                i);
        if (hg_native_require(c, hg_script_grant_name(bit)) < 0)
            return c->err.code;
        *out |= bit;
    }
    return 0;
}

void hg_native_scripts(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    hg_scripts_t *sc = c->api->scripts;
    int m = c->req->method;
    char name[HG_SCRIPT_NAME_MAX + 1] = "";
    const char *sub = "";
    if (n > 1 && rest[0] == '/') {
        const char *slash = memchr(rest + 1, '/', n - 1);
        size_t len = slash ? (size_t)(slash - rest - 1) : n - 1;
        if (len > HG_SCRIPT_NAME_MAX) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no such script");
            goto answer;
        }
        memcpy(name, rest + 1, len);
        name[len] = '\0';
        sub = slash ? slash : "";
        if (slash && strlen(sub) != n - 1 - len) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no such script");
            goto answer;
        }
    }
    if (n == 0) {
        if (m != HTTP_GET)
            hg_error_set(&c->err, HG_EMETHOD, "use GET on /v1/scripts");
        else if (hg_native_require(c, "rooms:Read") == 0)
            c->out = hg_scripts_list(sc);
    } else if (sub[0] == '\0' && m == HTTP_PUT) {
        if (hg_native_require(c, "rooms:Deploy") < 0 || hg_native_parse_body(c) < 0)
            goto answer;
        json_t *src = json_object_get(c->in, "source");
        if (!json_is_string(src)) {
            hg_error_set(&c->err, HG_EINVAL, "source (the script's Lua text) is required");
            goto answer;
        }
        uint32_t v;
        unsigned grants;
        if (parse_grants(c, &grants) < 0 ||
            hg_scripts_deploy(sc, name, json_string_value(src), json_string_length(src), grants,
                              txn, &v, &c->err) < 0)
            goto answer;
        c->out = json_pack("{s:s,s:I}", "name", name, "version", (json_int_t)v);
        json_t *j = hg_scripts_json(sc, name);
        json_t *vs = json_object_get(j, "versions");
        json_object_set(c->out, "grants",
                        json_object_get(json_array_get(vs, json_array_size(vs) - 1), "grants"));
        json_decref(j);
        c->status = 201;
        maybe_migrate(c, name, v, txn);
    } else if (sub[0] == '\0' && m == HTTP_GET) {
        if (hg_native_require(c, "rooms:Read") == 0 && (c->out = hg_scripts_json(sc, name)) == NULL)
            hg_error_set(&c->err, HG_ENOTFOUND, "no script %s", name);
    } else if (strcmp(sub, "/versions") == 0 && m == HTTP_GET) {
        json_t *j;
        if (hg_native_require(c, "rooms:Read") < 0)
            goto answer;
        if ((j = hg_scripts_json(sc, name)) == NULL) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no script %s", name);
            goto answer;
        }
        c->out = json_pack("{s:O,s:O}", "items", json_object_get(j, "versions"), "current",
                           json_object_get(j, "current"));
        json_decref(j);
    } else if (strcmp(sub, "/rollback") == 0 && m == HTTP_POST) {
        if (hg_native_require(c, "rooms:Deploy") < 0 || hg_native_parse_body(c) < 0)
            goto answer;
        json_t *v = json_object_get(c->in, "version");
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > UINT32_MAX) {
            hg_error_set(&c->err, HG_EINVAL, "version (a kept version's number) is required");
            goto answer;
        }
        uint32_t ver = (uint32_t)json_integer_value(v);
        if (hg_scripts_rollback(sc, name, ver, txn, &c->err) < 0)
            goto answer;
        c->out = json_pack("{s:s,s:I}", "name", name, "current", (json_int_t)ver);
        maybe_migrate(c, name, ver, txn);
    } else {
        hg_error_set(&c->err,
                     m == HTTP_GET || m == HTTP_PUT || m == HTTP_POST ? HG_ENOTFOUND : HG_EMETHOD,
                     "no such endpoint");
    }
answer:
    if (c->err.code) {
        json_decref(c->out);
        c->out = NULL;
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}
