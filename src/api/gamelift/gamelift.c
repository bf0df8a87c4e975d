/* hangar — the GameLift JSON 1.1 protocol layer (see gamelift.h). */
#include "api/gamelift/gamelift.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/policy.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rt/clock.h"

#define CONTENT_TYPE "application/x-amz-json-1.1"
#define TARGET_PREFIX "GameLift."

enum { OUT_OK, OUT_CLIENT, OUT_SERVER, OUT_N };
static const char *outcome_names[] = {"ok", "client_error", "server_error"};

static const hg_gl_handler_t *const handler_tables[] = {
    hg_gl_fleetiq_handlers, hg_gl_fleet_handlers, hg_gl_session_handlers, hg_gl_placement_handlers,
    hg_gl_match_handlers};

static struct {
    int ready;
    hg_gl_handler_fn *fn; /* by op index */
    uint64_t (*count)[OUT_N];
    hg_histogram_t *latency;
    uint64_t unrouted[OUT_N]; /* failed before an operation was known */
} gl;

static void render(hg_buf_t *out, void *ud)
{
    (void)ud;
    hg_buf_puts(out, "# HELP hangar_gamelift_requests_total GameLift API requests by operation "
                     "and outcome.\n# TYPE hangar_gamelift_requests_total counter\n");
    for (int o = 0; o < OUT_N; o++)
        if (gl.unrouted[o])
            hg_buf_printf(out, "hangar_gamelift_requests_total{op=\"-\",outcome=\"%s\"} %llu\n",
                          outcome_names[o], (unsigned long long)gl.unrouted[o]);
    for (size_t i = 0; i < hg_gl_op_count(); i++)
        for (int o = 0; o < OUT_N; o++)
            if (gl.count[i][o])
                hg_buf_printf(out,
                              "hangar_gamelift_requests_total{op=\"%s\",outcome=\"%s\"} %llu\n",
                              hg_gl_op_name(hg_gl_op_at(i)), outcome_names[o],
                              (unsigned long long)gl.count[i][o]);
    hg_buf_puts(out, "# HELP hangar_gamelift_request_seconds GameLift API latency, request "
                     "complete to answer queued.\n# TYPE hangar_gamelift_request_seconds "
                     "histogram\n");
    for (size_t i = 0; i < hg_gl_op_count(); i++) {
        if (gl.latency[i].count == 0)
            continue;
        char labels[128];
        snprintf(labels, sizeof(labels), "op=\"%s\"", hg_gl_op_name(hg_gl_op_at(i)));
        hg_histogram_render(out, "hangar_gamelift_request_seconds", labels, &gl.latency[i]);
    }
}

static void setup(void)
{
    if (gl.ready)
        return;
    size_t n = hg_gl_op_count();
    gl.fn = hg_calloc(n, sizeof(*gl.fn));
    gl.count = hg_calloc(n, sizeof(*gl.count));
    gl.latency = hg_calloc(n, sizeof(*gl.latency));
    for (size_t t = 0; t < sizeof(handler_tables) / sizeof(handler_tables[0]); t++) {
        for (const hg_gl_handler_t *h = handler_tables[t]; h->op; h++) {
            const hg_gl_op_t *op = hg_gl_op_find(h->op, strlen(h->op));
            HG_BUG_ON(op == NULL); /* a handler for an operation the model does not have */
            for (size_t i = 0; i < n; i++)
                if (hg_gl_op_at(i) == op)
                    gl.fn[i] = h->fn;
        }
    }
    gl.ready = 1;
}

void hg_gamelift_metrics_start(void)
{
    setup();
    hg_metrics_register("gamelift", render, NULL);
}

/* ---- helpers for handlers ---- */

const char *hg_gl_str(json_t *in, const char *member)
{
    return json_string_value(json_object_get(in, member));
}

int hg_gl_int(json_t *in, const char *member, long long def)
{
    json_t *v = json_object_get(in, member);
    return json_is_integer(v) ? (int)json_integer_value(v) : (int)def;
}

json_t *hg_gl_time(int64_t ms)
{
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000.0);
}

json_t *hg_gl_wrap(const char *member, json_t *v)
{
    json_t *o = json_object();
    json_object_set_new(o, member, v);
    return o;
}

size_t hg_gl_limit(json_t *in, size_t def, size_t max)
{
    json_t *v = json_object_get(in, "Limit");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return def;
    json_int_t l = json_integer_value(v);
    return (size_t)l > max ? max : (size_t)l;
}

json_t *hg_gl_token(const char *kind, const char *payload)
{
    char buf[1100];
    snprintf(buf, sizeof(buf), "%s:%s", kind, payload);
    return json_string(buf);
}

json_t *hg_gl_seq_token(const char *kind, uint64_t seq)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)seq);
    return hg_gl_token(kind, buf);
}

int hg_gl_token_decode(json_t *in, const char *kind, const char **payload, hg_error_t *err)
{
    const char *t = hg_gl_str(in, "NextToken");
    *payload = NULL;
    if (t == NULL || *t == '\0')
        return 0;
    size_t k = strlen(kind);
    if (strncmp(t, kind, k) != 0 || t[k] != ':' || t[k + 1] == '\0')
        return hg_error_set(err, HG_EINVAL, "Invalid NextToken");
    *payload = t + k + 1;
    return 0;
}

int hg_gl_token_seq(json_t *in, const char *kind, uint64_t *seq, hg_error_t *err)
{
    const char *t;
    *seq = 0;
    int rc = hg_gl_token_decode(in, kind, &t, err);
    if (rc < 0 || t == NULL)
        return rc;
    uint64_t v = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9' || p - t >= 20 || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return hg_error_set(err, HG_EINVAL, "Invalid NextToken");
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *seq = v;
    return 0;
}

/* ---- the call ---- */

/* Media types AWS JSON 1.1 takes a body as; any case, parameters ignored. */
static const char *const media_types[] = {CONTENT_TYPE, "application/json"};

/* Check that the request's Content-Type is one of media_types, optionally followed by parameters
 * (`; charset=utf-8`), which are ignored as AWS ignores them. A request without a Content-Type
 * passes only when it has no body: botocore and the AWS CLI always send CONTENT_TYPE and at least
 * `{}`, so only hand-made requests can lack it. Returns 0, or HG_EMEDIATYPE with err set (415,
 * UnsupportedMediaTypeException, through HG_ERR_MAP like every other answer). */
static int check_media_type(const hg_http_req_t *req, hg_error_t *err)
{
    const hg_http_header_t *h = hg_http_req_header(req, "Content-Type");
    if (h == NULL) {
        if (req->body_len == 0)
            return 0;
        return hg_error_set(err, HG_EMEDIATYPE,
                            "A request with a body needs Content-Type: %s (or application/json)",
                            CONTENT_TYPE);
    }
    const char *s = h->value, *e = h->value + h->value_len;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    const char *t = s;
    while (t < e && *t != ';' && *t != ' ' && *t != '\t')
        t++;
    size_t n = (size_t)(t - s);
    while (t < e && (*t == ' ' || *t == '\t'))
        t++;
    if (t == e || *t == ';') {
        for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
            if (n == strlen(media_types[i]) && strncasecmp(s, media_types[i], n) == 0)
                return 0;
    }
    return hg_error_set(err, HG_EMEDIATYPE,
                        "Unsupported Content-Type '%.*s': use %s (or application/json)",
                        (int)(h->value_len > 100 ? 100 : h->value_len), h->value, CONTENT_TYPE);
}

static void respond_error(hg_gl_call_t *c)
{
    char extra[160];
    const char *type = hg_err_gamelift_type(c->err.code);
    snprintf(extra, sizeof(extra), "x-amzn-RequestId: %s\r\nx-amzn-ErrorType: %s\r\n",
             c->request_id, type);
    json_t *body = json_pack("{s:s,s:s}", "__type", type, "message", hg_error_message(&c->err));
    char *text = json_dumps(body, JSON_COMPACT);
    hg_http_respond(c->req, hg_err_http_status(c->err.code), CONTENT_TYPE, extra, text,
                    strlen(text));
    free(text);
    json_decref(body);
}

static void finish(hg_gl_call_t *c)
{
    int status = c->err.code ? hg_err_http_status(c->err.code) : 200;
    int outcome = status < 400 ? OUT_OK : status < 500 ? OUT_CLIENT : OUT_SERVER;
    if (c->op) {
        gl.count[c->op_index][outcome]++;
        hg_histogram_observe(&gl.latency[c->op_index],
                             (double)(hg_mono_ns() - c->req->start_ns) / 1e9);
    } else {
        gl.unrouted[outcome]++;
    }
    if (c->err.code) {
        if (status >= 500)
            HG_LOG(HG_LOG_ERROR, "gamelift", "op=%s request_id=%s error=%s msg=\"%s\"",
                   c->op ? hg_gl_op_name(c->op) : "-", c->request_id,
                   hg_err_gamelift_type(c->err.code), hg_error_message(&c->err));
        else
            HG_LOG(HG_LOG_DEBUG, "gamelift", "op=%s request_id=%s error=%s msg=\"%s\"",
                   c->op ? hg_gl_op_name(c->op) : "-", c->request_id,
                   hg_err_gamelift_type(c->err.code), hg_error_message(&c->err));
        respond_error(c);
    } else {
        char extra[80];
        snprintf(extra, sizeof(extra), "x-amzn-RequestId: %s\r\n", c->request_id);
        char *text = c->out && c->out_text.len == 0
                         ? json_dumps(c->out, JSON_COMPACT | JSON_REAL_PRECISION(13))
                         : NULL;
        if (c->out_text.len) {
            hg_http_respond(c->req, 200, CONTENT_TYPE, extra, c->out_text.data, c->out_text.len);
        } else if (text) {
            hg_http_respond(c->req, 200, CONTENT_TYPE, extra, text, strlen(text));
            free(text);
        } else {
            hg_http_respond(c->req, 200, CONTENT_TYPE, extra, "{}", 2);
        }
    }
    json_decref(c->in);
    json_decref(c->out);
    hg_buf_free(&c->out_text);
    hg_free(c);
}

static void on_commit(void *ud, int rc)
{
    hg_gl_call_t *c = ud;
    if (rc < 0) {
        hg_api_commit_failed(&c->err, rc);
        json_decref(c->out);
        c->out = NULL;
        c->out_text.len = 0;
    }
    finish(c);
}

void hg_gamelift_handle(hg_api_t *api, hg_http_req_t *req)
{
    setup();
    hg_gl_call_t *c = hg_calloc(1, sizeof(*c));
    c->api = api;
    c->req = req;
    hg_error_clear(&c->err);
    hg_api_request_id(c->request_id);

    static const char *const services[] = {"gamelift", NULL};
    if (hg_api_authenticate(api, req, services, &c->key, &c->err) < 0)
        goto fail;

    const hg_http_header_t *target = hg_http_req_header(req, "X-Amz-Target");
    size_t plen = sizeof(TARGET_PREFIX) - 1;
    if (target == NULL || target->value_len <= plen ||
        memcmp(target->value, TARGET_PREFIX, plen) != 0 ||
        (c->op = hg_gl_op_find(target->value + plen, target->value_len - plen)) == NULL) {
        hg_error_set(&c->err, HG_EUNKNOWNOP, "Unknown operation %.*s",
                     target ? (int)(target->value_len > 128 ? 128 : target->value_len) : 0,
                     target ? target->value : "");
        c->op = NULL;
        goto fail;
    }
    c->op_index = (size_t)(c->op - hg_gl_op_at(0)); /* the table is one array */
    char action[160];
    snprintf(action, sizeof(action), "gamelift:%s", hg_gl_op_name(c->op));
    if (!hg_policy_allows(c->key->policy, action)) {
        hg_error_set(&c->err, HG_EUNAUTHORIZED,
                     "User: access key %s is not authorized to perform: %s", c->key->id, action);
        goto fail;
    }
    if (check_media_type(req, &c->err) < 0)
        goto fail;
    if (req->body_len == 0) {
        c->in = json_object();
    } else {
        /* \u0000 is valid JSON: take it, and let validation refuse it in a member's own terms
         * (a NUL must not reach code that reads members as C strings). */
        json_error_t jerr;
        c->in =
            json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (c->in == NULL || !json_is_object(c->in)) {
            hg_error_set(&c->err, HG_ESERIALIZATION, "Malformed request body: %s",
                         c->in ? "expected a JSON object" : jerr.text);
            goto fail;
        }
    }
    /* A queue's or a matchmaking configuration's NotificationTarget may be an http(s):// URL
     * (placement and FlexMatch events are posted there); the model's pattern admits only SNS ARNs,
     * so the URL is set aside while the rest is validated, and the handler checks it. One holding a
     * NUL is not set aside: the handler reads it as a C string, so validation refuses it. */
    json_t *nt = json_object_get(c->in, "NotificationTarget");
    const char *ntv = json_string_value(nt);
    int url_target = ntv && memchr(ntv, '\0', json_string_length(nt)) == NULL &&
                     (strncmp(ntv, "http://", 7) == 0 || strncmp(ntv, "https://", 8) == 0);
    if (url_target) {
        json_incref(nt);
        json_object_del(c->in, "NotificationTarget");
    }
    int vrc = hg_gl_validate(c->op, c->in, &c->err);
    if (url_target)
        json_object_set_new(c->in, "NotificationTarget", nt);
    if (vrc < 0)
        goto fail;
    hg_gl_handler_fn fn = gl.fn[c->op_index];
    if (fn == NULL) {
        hg_error_set(&c->err, HG_ENOTIMPL, "%s is not implemented by hangard yet",
                     hg_gl_op_name(c->op));
        goto fail;
    }
    c->txn = hg_store_txn_new(api->store);
    if (fn(c) < 0 && c->err.code == 0)
        hg_error_set(&c->err, HG_EINTERNAL, "handler failed without an error");
    hg_store_txn_t *txn = c->txn;
    c->txn = NULL;
    hg_store_commit(txn, on_commit, c); /* empty: a barrier behind pending writes */
    return;
fail:
    finish(c);
}

int hg_gl_fit(hg_gl_call_t *c, int rc)
{
    int code = c->err.code;
    if (rc < 0 && code && code != HG_EINVAL && code != HG_EINTERNAL && code != HG_ESTORE &&
        !hg_gl_op_has_error(c->op, hg_err_gamelift_type(code)))
        c->err.code = HG_EINVAL;
    return rc;
}
