/* hangar — the native /v1 REST API (conventions in docs/api.md).
 *
 * Every /v1 request is authenticated with SigV4 (signing name "hangar", any region) by an
 * access key whose policy allows the endpoint's action. Bodies are JSON objects; answers are
 * JSON with the HTTP status saying what happened; errors are
 *     {"error": {"code": "not_found", "message": "…", "request_id": "…"}}
 * with the code and status from the error map (core/err.h). Writes answer after they are
 * durable.
 *
 * Endpoint groups: /v1/keys (here), /v1/registry (registry_api.c, events.c).
 * keys:Manage is reserved to the administrator key (a key that creates keys could grant itself
 * anything).
 *     POST   /v1/keys          create a key; the answer carries its secret once
 *     GET    /v1/keys          list keys (no secrets)
 *     GET    /v1/keys/{id}     one key
 *     DELETE /v1/keys/{id}     revoke a key
 */
#include <http_parser.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/native/native_int.h"
#include "auth/policy.h"
#include "auth/ptoken.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/str.h"
#include "ws/ws.h"

#define JSON_TYPE "application/json"

/* Calls are kept for the next requests (loop thread only), each with its answer buffer when
 * that stayed small: a 2.3 KB malloc per request took glibc's small-bin path and its
 * consolidations, ~6% of the loop in a purchase run. Still reachable at exit, never freed. */
#define CALLS_KEPT 64
#define CALL_BUF_KEPT 16384
static hg_native_call_t *calls_kept[CALLS_KEPT];
static size_t ncalls_kept;

static hg_native_call_t *call_new(void)
{
    hg_native_call_t *c;
    hg_buf_t keep;
    hg_buf_init(&keep);
    if (ncalls_kept) {
        c = calls_kept[--ncalls_kept];
        keep = c->out_text;
        keep.len = 0;
        if (keep.data)
            keep.data[0] = '\0';
    } else {
        c = hg_malloc(sizeof(*c));
    }
    /* everything but the error's 2 KiB message buffer is cleared (a request answered without
     * an error never reads it) */
    memset(c, 0, offsetof(hg_native_call_t, err));
    c->out_text = keep;
    return c;
}

void hg_native_release(hg_native_call_t *c)
{
    json_decref(c->in);
    json_decref(c->out);
    if (c->pending_txn)
        hg_store_txn_free(c->pending_txn);
    if (ncalls_kept < CALLS_KEPT) {
        if (c->out_text.cap > CALL_BUF_KEPT)
            hg_buf_free(&c->out_text);
        calls_kept[ncalls_kept++] = c;
        return;
    }
    hg_buf_free(&c->out_text);
    hg_free(c);
}

void hg_native_finish(hg_native_call_t *c)
{
    char extra[120];
    snprintf(extra, sizeof(extra), "X-Request-Id: %s\r\n%s", c->request_id,
             c->replayed && c->err.code == 0 ? "Idempotent-Replayed: true\r\n" : "");
    json_t *body;
    int status;
    if (c->err.code) {
        status = hg_err_native_status(c->err.code);
        body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", hg_err_native_code(c->err.code),
                         "message", hg_error_message(&c->err), "request_id", c->request_id);
        if (c->err.field[0])
            json_object_set_new(json_object_get(body, "error"), "field", json_string(c->err.field));
    } else {
        status = c->status ? c->status : 200;
        if (c->out_text.len) {
            hg_http_respond(c->req, status, JSON_TYPE, extra, c->out_text.data, c->out_text.len);
            goto done;
        }
        body = c->out ? json_incref(c->out) : json_object();
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(13));
    hg_http_respond(c->req, status, JSON_TYPE, extra, text, strlen(text));
    free(text);
    json_decref(body);
done:
    hg_native_release(c);
}

static void on_commit(void *ud, int rc)
{
    hg_native_call_t *c = ud;
    if (rc < 0) {
        hg_api_commit_failed(&c->err, rc);
        json_decref(c->out);
        c->out = NULL;
    }
    hg_native_finish(c);
}

void hg_native_commit(hg_native_call_t *c, hg_store_txn_t *txn)
{
    hg_store_commit(txn, on_commit, c);
}

int hg_native_parse_body(hg_native_call_t *c)
{
    if (c->in)
        return 0;
    if (c->req->body_len == 0) {
        c->in = json_object();
        return 0;
    }
    json_error_t jerr;
    c->in = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (c->in == NULL || !json_is_object(c->in))
        return hg_error_set(&c->err, HG_ESERIALIZATION, "body must be a JSON object%s%s",
                            c->in ? "" : ": ", c->in ? "" : jerr.text);
    return 0;
}

int hg_native_require(hg_native_call_t *c, const char *action)
{
    if (c->key == NULL)
        return hg_error_set(&c->err, HG_EUNAUTHORIZED,
                            "%s needs an access key (SigV4); a player token cannot do it", action);
    /* Managing keys is reserved to the administrator key: a key that could create keys could
     * grant itself anything, whatever its own policy says. */
    if (strcmp(action, "keys:Manage") == 0 && !c->key->admin)
        return hg_error_set(&c->err, HG_EUNAUTHORIZED,
                            "access key %s is not the administrator key; only it manages keys",
                            c->key->id);
    if (hg_policy_allows(c->key->policy, action))
        return 0;
    return hg_error_set(&c->err, HG_EUNAUTHORIZED, "access key %s is not allowed to %s", c->key->id,
                        action);
}

int hg_native_allows(const hg_native_call_t *c, const char *action)
{
    return c->key && strcmp(action, "keys:Manage") != 0 && hg_policy_allows(c->key->policy, action);
}

int hg_native_query(hg_native_call_t *c, const char *name, char *out, size_t cap)
{
    const char *v, *pe;
    size_t len, o = 0;
    if (!hg_http_query_raw(c->req, name, &v, &len))
        return 0;
    for (pe = v + len; v < pe; v++) {
        int ch = *v;
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int h = pe - v >= 3 ? hg_hex_digit(v[1]) : -1;
            int l = pe - v >= 3 ? hg_hex_digit(v[2]) : -1;
            if (h < 0 || l < 0)
                return hg_error_set(&c->err, HG_EINVAL, "bad %%-escape in %s", name);
            ch = h * 16 + l;
            v += 2;
        }
        if (o + 1 >= cap || ch == 0)
            return hg_error_set(&c->err, HG_EINVAL, "query parameter %s is too long", name);
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 1;
}

int hg_native_limit(hg_native_call_t *c, size_t def, size_t *out)
{
    char buf[16];
    int rc = hg_native_query(c, "limit", buf, sizeof(buf));
    if (rc < 0)
        return rc;
    *out = def;
    if (rc == 0)
        return 0;
    char *e;
    long v = strtol(buf, &e, 10);
    if (*e || v < 1 || v > 1000)
        return hg_error_set(&c->err, HG_EINVAL, "limit must be 1..1000");
    *out = (size_t)v;
    return 0;
}

/* ---- /v1/keys ---- */

static int keys_create(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc = hg_native_parse_body(c);
    if (rc < 0)
        return rc;
    json_t *name = json_object_get(c->in, "name");
    json_t *policy = json_object_get(c->in, "policy");
    if (!json_is_string(name))
        return hg_error_set(&c->err, HG_EINVAL, "name (string) is required");
    if (policy == NULL)
        return hg_error_set(&c->err, HG_EINVAL, "policy (an IAM-style policy object) is required");
    const hg_key_t *k;
    rc = hg_keys_create(c->api->keys, json_string_value(name), policy, txn, &k, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_key_to_json(k, 1);
    c->status = 201;
    return 0;
}

static void handle_keys(hg_native_call_t *c, const char *rest, size_t rest_len)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    if (hg_native_require(c, "keys:Manage") < 0)
        goto done;
    if (rest_len == 0) {
        if (c->req->method == HTTP_POST)
            keys_create(c, txn);
        else if (c->req->method == HTTP_GET)
            c->out = json_pack("{s:o}", "keys", hg_keys_list(c->api->keys));
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/keys");
    } else if (rest[0] == '/' && rest_len > 1 && rest_len < 64 &&
               memchr(rest + 1, '/', rest_len - 1) == NULL) {
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)(rest_len - 1), rest + 1);
        if (c->req->method == HTTP_DELETE) {
            if (hg_keys_revoke(c->api->keys, id, txn, &c->err) == 0)
                c->out = json_pack("{s:s,s:b}", "key_id", id, "revoked", 1);
        } else if (c->req->method == HTTP_GET) {
            const hg_key_t *k = hg_keys_find(c->api->keys, id);
            if (k)
                c->out = hg_key_to_json(k, 0);
            else
                hg_error_set(&c->err, HG_ENOTFOUND, "no access key %s", id);
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or DELETE on /v1/keys/{id}");
        }
    } else {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    }
done:
    hg_native_commit(c, txn);
}

/* A plain-HTTP peer on this machine: a bearer token does not cross a network from it. */
static int loopback(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]:", 6) == 0 ||
           strncmp(peer, "[::ffff:127.", 12) == 0;
}

int hg_native_bearer_transport_ok(const hg_native_call_t *c)
{
    hg_http_conn_t *conn = hg_http_req_conn(c->req);
    return c->api->allow_plain_bearer || (conn && hg_http_conn_is_tls(conn)) ||
           (conn && loopback(hg_http_conn_peer(conn)));
}

/* Authorization: Bearer <player access token> (auth/ptoken.h): the call acts as that player. */
static int bearer(hg_native_call_t *c, const char *v, size_t len)
{
    hg_api_t *api = c->api;
    if (!hg_native_bearer_transport_ok(c))
        return hg_error_set(&c->err, HG_ENOAUTH,
                            "bearer tokens are accepted over TLS only (or over plain HTTP from "
                            "this machine, or with the allow-plain-bearer option): on a plain "
                            "connection the token would cross the network in clear");
    while (len && v[0] == ' ')
        v++, len--;
    if (len == 0 || len > HG_PTOKEN_MAX)
        return hg_error_set(&c->err, HG_ETOKEN, "the bearer token is missing or too long");
    char token[HG_PTOKEN_MAX + 1], id[HG_PLAYER_ID_LEN + 1];
    memcpy(token, v, len);
    token[len] = '\0';
    if (hg_ptokens_verify(api->ptokens, token, id, sizeof(id), c->sid, sizeof(c->sid), &c->err) < 0)
        return hg_error_set(&c->err, HG_ETOKEN, "%s", c->err.msg);
    hg_player_t *p = hg_player_find(api->players, id);
    if (p == NULL || hg_player_session(p, c->sid, hg_clock_now_ms(api->clock)) == NULL)
        return hg_error_set(&c->err, HG_ETOKEN, "the token's session has ended (logged out?)");
    c->player = p;
    return 0;
}

/* Who is calling: a SigV4 key, a player (bearer), or nobody on an open call. */
static int authenticate(hg_native_call_t *c)
{
    const hg_http_header_t *h = hg_http_req_header(c->req, "Authorization");
    if (h && h->value_len >= 7 && strncasecmp(h->value, "Bearer ", 7) == 0)
        return bearer(c, h->value + 7, h->value_len - 7);
    /* a browser cannot set headers on a WebSocket: a room's socket may carry the token in
     * ?token= (docs/rooms.md) */
    const char *tok;
    size_t tok_len;
    int room_ws = h == NULL && hg_ws_is_upgrade(c->req) && c->req->path_len > 10 &&
                  memcmp(c->req->path, "/v1/rooms/", 10) == 0;
    if (room_ws && hg_http_query_raw(c->req, "token", &tok, &tok_len))
        return bearer(c, tok, tok_len);
    /* a game session's room: the player session id is the credential (rooms_api.c checks it) */
    if (room_ws && hg_http_query_raw(c->req, "player_session_id", &tok, &tok_len))
        return 0;
    const char *sig;
    size_t sig_len;
    if (h == NULL && !hg_http_query_raw(c->req, "X-Amz-Signature", &sig, &sig_len) &&
        hg_native_is_open(c->req))
        return 0;
    static const char *const services[] = {"hangar", NULL};
    return hg_api_authenticate(c->api, c->req, services, &c->key, &c->err);
}

static int prefix(const char *p, size_t n, const char *want, size_t *wl)
{
    *wl = strlen(want);
    return n >= *wl && memcmp(p, want, *wl) == 0 && (n == *wl || p[*wl] == '/');
}

void hg_native_handle(hg_api_t *api, hg_http_req_t *req)
{
    hg_native_call_t *c = call_new();
    c->api = api;
    c->req = req;
    hg_error_clear(&c->err);
    hg_api_request_id(c->request_id);
    if (authenticate(c) < 0) {
        hg_native_finish(c);
        return;
    }
    const char *p = req->path + 3; /* after "/v1" */
    size_t n = req->path_len - 3, wl;
    if (prefix(p, n, "/keys", &wl)) {
        handle_keys(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/registry", &wl)) {
        hg_native_registry(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/auth", &wl)) {
        hg_native_auth(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/players", &wl)) {
        hg_native_players(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/leaderboards", &wl)) {
        hg_native_leaderboards(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/scripts", &wl)) {
        hg_native_scripts(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/rooms", &wl)) {
        hg_native_rooms(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/events", &wl)) {
        hg_native_logs(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/catalog", &wl)) {
        hg_native_catalog(c, p + wl, n - wl);
        return;
    }
    if (prefix(p, n, "/purchases", &wl)) {
        hg_native_purchases(c, p + wl, n - wl);
        return;
    }
    hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint %.*s",
                 (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
    hg_native_finish(c);
}
