/* hangar — the native /v1 REST API (conventions in docs/api.md).
 *
 * Every /v1 request is authenticated with SigV4 (signing name "hangar", any region) by an
 * access key whose policy allows the endpoint's action. Bodies are JSON objects; answers are
 * JSON with the HTTP status saying what happened; errors are
 *     {"error": {"code": "not_found", "message": "…", "request_id": "…"}}
 * with the code from the error map (core/err.h). Writes answer after they are durable.
 *
 * Endpoints so far (action):
 * keys:Manage is reserved to the administrator key (a key that creates keys could grant itself
 * anything).
 *     POST   /v1/keys          keys:Manage   create a key; the answer carries its secret once
 *     GET    /v1/keys          keys:Manage   list keys (no secrets)
 *     DELETE /v1/keys/{id}     keys:Manage   revoke a key
 */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/policy.h"
#include "core/alloc.h"
#include "core/log.h"

#define JSON_TYPE "application/json"

typedef struct native_call {
    hg_api_t *api;
    hg_http_req_t *req;
    const hg_key_t *key;
    json_t *in;
    json_t *out;
    int status;
    hg_error_t err;
    char request_id[37];
} native_call_t;

static void finish(native_call_t *c)
{
    char extra[80];
    snprintf(extra, sizeof(extra), "X-Request-Id: %s\r\n", c->request_id);
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
        body = c->out ? json_incref(c->out) : json_object();
    }
    char *text = json_dumps(body, JSON_COMPACT);
    hg_http_respond(c->req, status, JSON_TYPE, extra, text, strlen(text));
    free(text);
    json_decref(body);
    json_decref(c->in);
    json_decref(c->out);
    hg_free(c);
}

static void on_commit(void *ud, int rc)
{
    native_call_t *c = ud;
    if (rc < 0 && c->err.code == 0) {
        hg_error_set(&c->err, HG_EINTERNAL, "the change could not be made durable");
        json_decref(c->out);
        c->out = NULL;
    }
    finish(c);
}

static int parse_body(native_call_t *c)
{
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

static int require(native_call_t *c, const char *action)
{
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

/* ---- /v1/keys ---- */

static int keys_create(native_call_t *c, hg_store_txn_t *txn)
{
    int rc = parse_body(c);
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

static void handle_keys(native_call_t *c, const char *rest, size_t rest_len)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    if (require(c, "keys:Manage") < 0)
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
    hg_store_commit(txn, on_commit, c);
}

void hg_native_handle(hg_api_t *api, hg_http_req_t *req)
{
    native_call_t *c = hg_calloc(1, sizeof(*c));
    c->api = api;
    c->req = req;
    hg_error_clear(&c->err);
    hg_api_request_id(c->request_id);
    static const char *const services[] = {"hangar", NULL};
    if (hg_api_authenticate(api, req, services, &c->key, &c->err) < 0) {
        finish(c);
        return;
    }
    const char *p = req->path + 3; /* after "/v1" */
    size_t n = req->path_len - 3;
    if (n >= 5 && memcmp(p, "/keys", 5) == 0 && (n == 5 || p[5] == '/')) {
        handle_keys(c, p + 5, n - 5);
        return;
    }
    hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint %.*s",
                 (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
    finish(c);
}
