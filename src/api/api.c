/* hangar — the API front: routing, authentication and request ids shared by every API. */
#include "api/api.h"

#include <http_parser.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "api/examples.h"
#include "api/sdk/sdk.h"
#include "auth/sigv4.h"
#include "core/metrics.h"

static uint64_t rng_state[2];

static uint64_t next_rand(void)
{
    /* xorshift128+: request ids need uniqueness, not secrecy */
    if (rng_state[0] == 0 && rng_state[1] == 0) {
        if (RAND_bytes((unsigned char *)rng_state, sizeof(rng_state)) != 1 ||
            (rng_state[0] | rng_state[1]) == 0)
            rng_state[0] = 0x9E3779B97F4A7C15ULL;
    }
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

void hg_api_request_id(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = next_rand(), b = next_rand();
    a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL; /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* variant 1 */
    unsigned char bytes[16];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (unsigned char)(a >> (56 - 8 * i));
        bytes[8 + i] = (unsigned char)(b >> (56 - 8 * i));
    }
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[bytes[i] >> 4];
        out[o++] = hex[bytes[i] & 15];
    }
    out[o] = '\0';
}

int hg_api_authenticate(hg_api_t *api, const hg_http_req_t *req, const char *const *services,
                        const hg_key_t **key, hg_error_t *err)
{
    hg_sigv4_header_t hdrs[HG_HTTP_MAX_HEADERS];
    for (size_t i = 0; i < req->nheaders; i++) {
        hdrs[i].name = req->headers[i].name;
        hdrs[i].name_len = req->headers[i].name_len;
        hdrs[i].value = req->headers[i].value;
        hdrs[i].value_len = req->headers[i].value_len;
    }
    hg_sigv4_request_t sreq = {
        .method = http_method_str(req->method),
        .path = req->path,
        .path_len = req->path_len,
        .query = req->query,
        .query_len = req->query_len,
        .headers = hdrs,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
    };
    hg_sigv4_auth_t auth;
    int rc = hg_sigv4_parse(&sreq, &auth, err);
    if (rc < 0)
        return rc;
    const hg_key_t *k = hg_keys_find(api->keys, auth.access_key);
    if (k == NULL)
        return hg_error_set(err, HG_EUNKNOWNKEY,
                            "The security token included in the request is invalid.");
    rc = hg_sigv4_verify(&sreq, &auth, k->secret, strlen(k->secret), services,
                         hg_clock_now_ms(api->clock) / 1000, api->sigv4_skew_s, err);
    if (rc < 0)
        return rc;
    *key = k;
    return 0;
}

void hg_api_sdk_endpoint(const hg_api_t *api, const hg_http_req_t *req, int tls, char *out,
                         size_t cap)
{
    if (api->sdk_endpoint[0]) {
        snprintf(out, cap, "%s", api->sdk_endpoint);
        return;
    }
    const char *scheme = tls ? "wss" : "ws";
    const hg_http_header_t *h = hg_http_req_header(req, "Host");
    int ok = h && h->value_len > 0 && h->value_len <= 100;
    for (size_t i = 0; ok && i < h->value_len; i++) {
        char ch = h->value[i];
        if (ch <= ' ' || ch > '~' || ch == '/' || ch == '?' || ch == '#' || ch == '"' || ch == '\\')
            ok = 0;
    }
    if (ok)
        snprintf(out, cap, "%s://%.*s/sdk", scheme, (int)h->value_len, h->value);
    else
        snprintf(out, cap, "%s://127.0.0.1:7770/sdk", scheme);
}

int hg_api_commit_failed(hg_error_t *err, int rc)
{
    if (rc == HG_ESHUTDOWN)
        return hg_error_set(err, HG_ESHUTDOWN,
                            "The service is restarting after a storage failure; retry shortly");
    return hg_error_set(err, HG_EINTERNAL, "The change could not be made durable");
}

void hg_api_handle(hg_http_req_t *req, void *ud)
{
    hg_api_t *api = ud;
    if (req->path_len >= 4 && memcmp(req->path, "/v1/", 4) == 0) {
        hg_native_handle(api, req);
        return;
    }
    if (req->path_len == 8 && memcmp(req->path, "/healthz", 8) == 0 &&
        (req->method == HTTP_GET || req->method == HTTP_HEAD)) {
        if (api->shutting_down)
            hg_http_respond(req, 503, "text/plain", NULL, "shutting down\n", 14);
        else
            hg_http_respond(req, 200, "text/plain", NULL, "ok\n", 3);
        return;
    }
    if (req->path_len == 8 && memcmp(req->path, "/metrics", 8) == 0 && req->method == HTTP_GET) {
        hg_buf_t out;
        hg_buf_init(&out);
        hg_metrics_render(&out);
        hg_http_respond(req, 200, "text/plain; version=0.0.4", NULL, out.data, out.len);
        hg_buf_free(&out);
        return;
    }
    if ((req->path_len == 4 && memcmp(req->path, "/sdk", 4) == 0) ||
        (req->path_len == 5 && memcmp(req->path, "/sdk/", 5) == 0)) {
        hg_sdk_handle(api, req);
        return;
    }
    if (api->examples && hg_examples_match(req)) {
        hg_examples_handle(api->examples, req);
        return;
    }
    if (req->path_len == 1 && req->path[0] == '/' && req->method == HTTP_POST) {
        hg_gamelift_handle(api, req);
        return;
    }
    if (req->path_len >= 18 && memcmp(req->path, "/service/GameLift/", 18) == 0) {
        /* Smithy RPC v2 CBOR, which newer AWS SDKs may pick from the newest model. */
        static const char cbor[] =
            "{\"__type\":\"UnknownOperationException\",\"message\":\"hangard speaks the "
            "GameLift AWS JSON 1.1 protocol (POST / with X-Amz-Target); smithy-rpc-v2-cbor is "
            "not supported: configure the SDK for the awsJson1_1 protocol\"}";
        hg_http_respond(req, 400, "application/json", NULL, cbor, sizeof(cbor) - 1);
        return;
    }
    static const char body[] =
        "{\"__type\":\"UnknownOperationException\",\"message\":\"no such endpoint\","
        "\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint\"}}";
    hg_http_respond(req, 404, "application/json", NULL, body, sizeof(body) - 1);
}
