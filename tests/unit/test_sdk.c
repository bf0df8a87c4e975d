/* Unit tests: the GameLift Server SDK WebSocket endpoint (api/sdk, gamelift-wire.md §7) — the
 * socket's SigV4 payload signature against the Go server SDK's own vector, refusals at the
 * upgrade and the query styles of the three SDKs, answers and their idempotence per RequestId,
 * the CreateGameSession and TerminateProcess pushes, and the close when the process goes.
 *
 * The stack runs in-process as the daemon wires it: the SQLite store in a temporary directory,
 * keys, the fleet module on the manual clock (no test waits for a timeout: the clock is moved and
 * hg_fleet_tick called), the sdk module as the fleet's sink, the router and the real HTTP server
 * on a loopback port. The game server is a raw TCP client on the same loop that masks its frames
 * by hand. */
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/sdk/sdk.h"
#include "auth/keys.h"
#include "auth/sigv4.h"
#include "core/buf.h"
#include "fleet/fleet.h"
#include "fleet/session.h"
#include "http/http.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

#define T0_S 1722852000LL /* 2024-08-05T10:00:00Z: the Go SDK vector's request time */
#define ADMIN_ID "AKIDSDKTEST000000001"
#define ADMIN_SECRET "sdk-test-secret-0123456789"
#define READY_MS 300000
#define HEARTBEAT_MS 600000
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    char dir[64];
    hg_store_t *store;
    hg_keys_t *keys;
    hg_fleet_t *fl;
    hg_sdk_t *sdk;
    hg_api_t api;
    hg_http_server_t *srv;
    hg_fl_fleet_t *f;
    hg_fl_compute_t *c;
    char token[HG_FL_TOKEN_CHARS + 1];
    int stopped;
} env_t;

typedef struct cl {
    env_t *e;
    uv_tcp_t tcp;
    uv_connect_t creq;
    hg_buf_t in; /* every byte from the server */
    size_t off;  /* where the next unread frame starts */
    int status;  /* of the upgrade answer */
    int connected, eof, closed;
} cl_t;

typedef struct frame {
    int op;
    char *data; /* malloc'd copy, NUL-terminated */
    size_t len;
} frame_t;

#define RUN_UNTIL(e, cond)                                                                         \
    do {                                                                                           \
        for (int i_ = 0; i_ < 20000 && !(cond); i_++)                                              \
            uv_run(&(e)->loop, UV_RUN_ONCE);                                                       \
        ASSERT_TRUE(cond);                                                                         \
    } while (0)

/* ---- the stack ---- */

static void sink_start(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    hg_sdk_push_start(((env_t *)ud)->sdk, p, gs);
}

static void sink_terminate(void *ud, hg_fl_process_t *p, int64_t ms)
{
    hg_sdk_push_terminate(((env_t *)ud)->sdk, p, ms);
}

static void sink_drop(void *ud, hg_fl_process_t *p)
{
    hg_sdk_drop(((env_t *)ud)->sdk, p);
}

static void env_open(env_t *e)
{
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN); /* as the daemon: the server may write to a client that left */
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-sdk-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    hg_clock_init_manual(&e->clock, T0_S * 1000);
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->keys = hg_keys_new(e->store, &e->clock);
    ASSERT_OK(hg_keys_load(e->keys));
    const hg_key_t *admin;
    int created;
    ASSERT_OK(hg_keys_bootstrap_admin(e->keys, ADMIN_ID, ADMIN_SECRET, &admin, &created, &err));
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-west-2", .account = "000000000000"};
    e->fl = hg_fleet_new(&e->clock, e->store, &cfg);
    e->sdk = hg_sdk_new(&e->api);
    hg_fl_timeouts_t to = {.ready_ms = READY_MS, .heartbeat_ms = HEARTBEAT_MS, .grace_ms = 30000};
    hg_fleet_set_timeouts(e->fl, &to);
    hg_fl_sink_t sink = {
        .start_session = sink_start, .terminate = sink_terminate, .drop = sink_drop, .ud = e};
    hg_fleet_set_sink(e->fl, &sink);
    ASSERT_OK(hg_fleet_load(e->fl));

    hg_store_txn_t *t = hg_store_txn_new(e->store);
    hg_fl_location_t *loc;
    ASSERT_OK(hg_fl_location_create(e->fl, "custom-home", NULL, t, &loc, &err));
    const char *locs[] = {"custom-home"};
    ASSERT_OK(hg_fl_fleet_create(e->fl, json_object(), locs, 1, NULL, t, &e->f, &err));
    ASSERT_OK(hg_fl_compute_register(e->fl, e->f, "host-1", "10.0.0.5", NULL, "/certs/host-1.pem",
                                     "custom-home", t, &e->c, &err));
    const hg_fl_token_t *tok;
    ASSERT_OK(hg_fl_compute_token(e->fl, e->c, t, &tok, &err));
    snprintf(e->token, sizeof(e->token), "%s", tok->token);
    hg_test_commit(&e->loop, t);

    e->api = (hg_api_t){.loop = &e->loop,
                        .clock = &e->clock,
                        .store = e->store,
                        .keys = e->keys,
                        .fleet = e->fl,
                        .sdk = e->sdk,
                        .sigv4_skew_s = 300,
                        .region = "us-west-2"};
    hg_http_limits_t hl = {.max_header_bytes = 16384,
                           .max_headers = 64,
                           .max_body = 65536,
                           .max_pipeline = 8,
                           .max_conns = 32,
                           .idle_timeout_ms = 60000,
                           .request_timeout_ms = 60000};
    ASSERT_OK(hg_http_server_new(&e->loop, &hl, hg_api_handle, &e->api, &e->srv));
    ASSERT_OK(hg_http_server_listen(e->srv, "127.0.0.1", 0));
}

static void on_stopped(void *ud)
{
    ((env_t *)ud)->stopped = 1;
}

/* Every client must be closed (cl_end) before. */
static void env_close(env_t *e)
{
    hg_http_server_stop(e->srv, on_stopped, e);
    RUN_UNTIL(e, e->stopped);
    hg_sdk_stop(e->sdk);
    hg_store_close(e->store);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    hg_http_server_free(e->srv);
    hg_fleet_free(e->fl);
    hg_sdk_free(e->sdk);
    hg_keys_free(e->keys);
    ASSERT_OK(uv_loop_close(&e->loop)); /* nothing left open */
    hg_test_rmtree(e->dir);
}

/* ---- the game server's side ---- */

static void cl_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    (void)h;
    (void)s;
    b->base = buf;
    b->len = sizeof(buf);
}

static void cl_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    cl_t *cl = s->data;
    if (n < 0) {
        cl->eof = 1;
        uv_read_stop(s);
        return;
    }
    hg_buf_append(&cl->in, b->base, (size_t)n);
}

static void cl_on_connect(uv_connect_t *r, int st)
{
    cl_t *cl = r->data;
    ASSERT_EQ_INT(st, 0);
    cl->connected = 1;
    uv_read_start((uv_stream_t *)&cl->tcp, cl_alloc, cl_on_read);
}

typedef struct cwrite {
    uv_write_t w;
    char data[];
} cwrite_t;

static void cl_write_done(uv_write_t *w, int st)
{
    (void)st;
    free(w);
}

static void cl_send(cl_t *cl, const void *p, size_t n)
{
    cwrite_t *w = malloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    ASSERT_OK(uv_write(&w->w, (uv_stream_t *)&cl->tcp, &b, 1, cl_write_done));
}

static size_t head_len(const cl_t *cl)
{
    const char *p = cl->in.len ? memmem(cl->in.data, cl->in.len, "\r\n\r\n", 4) : NULL;
    return p ? (size_t)(p - cl->in.data) + 4 : 0;
}

/* The whole answer (head + Content-Length body) is in. */
static int answer_complete(const cl_t *cl)
{
    size_t h = head_len(cl);
    if (h == 0)
        return 0;
    if (strncmp(cl->in.data, "HTTP/1.1 101 ", 13) == 0)
        return 1;
    const char *cli = strcasestr(cl->in.data, "\r\nContent-Length:");
    return cli && cli < cl->in.data + h && cl->in.len >= h + strtoul(cli + 17, NULL, 10);
}

/* Connect and send `GET target` (with the WebSocket upgrade headers when upgrade); returns the
 * answer's status. */
static int cl_open(env_t *e, cl_t *cl, const char *target, int upgrade)
{
    memset(cl, 0, sizeof(*cl));
    cl->e = e;
    hg_buf_init(&cl->in);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", hg_http_server_port(e->srv), &a);
    uv_tcp_init(&e->loop, &cl->tcp);
    cl->tcp.data = cl;
    cl->creq.data = cl;
    ASSERT_OK(uv_tcp_connect(&cl->creq, &cl->tcp, (struct sockaddr *)&a, cl_on_connect));
    RUN_UNTIL(e, cl->connected);
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_printf(&b, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", target);
    if (upgrade)
        hg_buf_puts(&b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY
                        "\r\nSec-WebSocket-Version: 13\r\n");
    hg_buf_puts(&b, "\r\n");
    cl_send(cl, b.data, b.len);
    hg_buf_free(&b);
    RUN_UNTIL(e, answer_complete(cl) || cl->eof);
    ASSERT_TRUE(cl->in.len > 12 && strncmp(cl->in.data, "HTTP/1.1 ", 9) == 0);
    cl->status = atoi(cl->in.data + 9);
    cl->off = head_len(cl);
    return cl->status;
}

/* The query of §7.1, Go style: keys in Go's sorted order, values URL-encoded where needed. */
static void sdk_target(env_t *e, char *out, size_t cap, const char *pid)
{
    snprintf(out, cap,
             "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&IdempotencyToken=tok-1&pID=%s&"
             "sdkLanguage=Go&sdkVersion=5.3.0",
             e->token, e->f->id, pid);
}

static void cl_connect_sdk(env_t *e, cl_t *cl, const char *pid)
{
    char target[1024];
    sdk_target(e, target, sizeof(target), pid);
    ASSERT_EQ_INT(cl_open(e, cl, target, 1), 101);
}

static void cl_frame(cl_t *cl, int op, const void *payload, size_t len)
{
    static const unsigned char key[4] = {0x5d, 0x11, 0xa0, 0x3c};
    unsigned char h[8];
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else {
        ASSERT_TRUE(len < 65536);
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    }
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_append(&b, h, n);
    hg_buf_append(&b, key, 4);
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++) {
        unsigned char x = p[i] ^ key[i % 4];
        hg_buf_append(&b, &x, 1);
    }
    cl_send(cl, b.data, b.len);
    hg_buf_free(&b);
}

static void cl_text(cl_t *cl, const char *json)
{
    cl_frame(cl, 1, json, strlen(json));
}

/* 1 with the opcode, header and payload lengths of the frame at cl->off once complete, else 0. */
static int frame_peek(const cl_t *cl, int *op, size_t *hlen, size_t *plen)
{
    const unsigned char *b = (const unsigned char *)cl->in.data + cl->off;
    size_t avail = cl->in.len - cl->off;
    if (avail < 2)
        return 0;
    ASSERT_EQ_INT(b[0] & 0x80, 0x80); /* the server never fragments */
    ASSERT_EQ_INT(b[1] & 0x80, 0);    /* and never masks */
    size_t len = b[1] & 0x7f, h = 2;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (size_t)b[2] << 8 | b[3];
        h = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        h = 10;
    }
    if (avail < h + len)
        return 0;
    *op = b[0] & 15;
    *hlen = h;
    *plen = len;
    return 1;
}

/* Wait for the next frame from the server. */
static frame_t cl_next(cl_t *cl)
{
    int op = 0;
    size_t h = 0, len = 0;
    RUN_UNTIL(cl->e, frame_peek(cl, &op, &h, &len) || cl->eof);
    ASSERT_TRUE(frame_peek(cl, &op, &h, &len));
    frame_t f = {.op = op, .data = malloc(len + 1), .len = len};
    memcpy(f.data, cl->in.data + cl->off + h, len);
    f.data[len] = '\0';
    cl->off += h + len;
    return f;
}

/* No frame is waiting (after the loop ran what was ready). */
static int cl_quiet(cl_t *cl)
{
    for (int i = 0; i < 20; i++)
        uv_run(&cl->e->loop, UV_RUN_NOWAIT);
    return cl->in.len == cl->off;
}

/* The next frame as JSON: a text frame holding one object. Returns a new reference. */
static json_t *cl_json(cl_t *cl, char **raw)
{
    frame_t f = cl_next(cl);
    ASSERT_EQ_INT(f.op, 1);
    json_error_t jerr;
    json_t *m = json_loadb(f.data, f.len, 0, &jerr);
    ASSERT_TRUE(json_is_object(m));
    if (raw)
        *raw = f.data;
    else
        free(f.data);
    return m;
}

/* Send a request and return its answer (checked: Action and RequestId echoed, StatusCode an
 * integer, ErrorMessage exactly when not 200). */
static json_t *cl_call(cl_t *cl, const char *json, char **raw)
{
    cl_text(cl, json);
    json_t *req = json_loads(json, 0, NULL);
    ASSERT_NOT_NULL(req);
    json_t *m = cl_json(cl, raw);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")),
                  json_string_value(json_object_get(req, "Action")));
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "RequestId")),
                  json_string_value(json_object_get(req, "RequestId")));
    ASSERT_TRUE(json_is_integer(json_object_get(m, "StatusCode")));
    int status = (int)json_integer_value(json_object_get(m, "StatusCode"));
    ASSERT_EQ_INT(json_is_string(json_object_get(m, "ErrorMessage")), status != 200);
    json_decref(req);
    return m;
}

static int status_of(const json_t *m)
{
    return (int)json_integer_value(json_object_get(m, "StatusCode"));
}

static const char *error_of(const json_t *m)
{
    return json_string_value(json_object_get(m, "ErrorMessage"));
}

static int close_code(const frame_t *f)
{
    return f->len >= 2 ? ((unsigned char)f->data[0] << 8 | (unsigned char)f->data[1]) : 1005;
}

static void on_cl_closed(uv_handle_t *h)
{
    ((cl_t *)h->data)->closed = 1;
}

/* Drop the TCP connection (the server sees it as 1006) and release the client. */
static void cl_end(cl_t *cl)
{
    uv_close((uv_handle_t *)&cl->tcp, on_cl_closed);
    RUN_UNTIL(cl->e, cl->closed);
    hg_buf_free(&cl->in);
}

/* The WebSocket close handshake started by the client; returns the server's close code. */
static int cl_close(cl_t *cl)
{
    cl_frame(cl, 8, "\x03\xe8", 2);
    frame_t f;
    do {
        f = cl_next(cl);
        if (f.op != 8)
            free(f.data);
    } while (f.op != 8);
    int code = close_code(&f);
    free(f.data);
    RUN_UNTIL(cl->e, cl->eof);
    cl_end(cl);
    return code;
}

static char *proc_key(env_t *e, const char *pid)
{
    static char key[600];
    snprintf(key, sizeof(key), "%s/host-1/%s", e->f->id, pid);
    return key;
}

static void activate(cl_t *cl, int port)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"act-%d\",\"SdkVersion\":"
             "\"5.3.0\",\"SdkLanguage\":\"Go\",\"Port\":%d,\"LogPaths\":null}",
             port, port);
    json_t *m = cl_call(cl, msg, NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
}

/* CreateGameSession through the domain (as the GameLift API does); returns the session once
 * its push is due. */
static hg_fl_gsession_t *create_gs(env_t *e, const char *name, int64_t max_players)
{
    hg_error_t err;
    json_t *props = json_pack("[{s:s,s:s},{s:s,s:s}]", "Key", "mode", "Value", "ctf", "Key", "map",
                              "Value", "dust \"2\"");
    hg_fl_gs_params_t prm = {.name = name, .props = props, .max_players = max_players};
    hg_fl_gsession_t *gs;
    int existed;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_fl_gs_create(e->fl, e->f, &prm, t, &gs, &existed, &err));
    ASSERT_EQ_INT(existed, 0);
    hg_test_commit(&e->loop, t);
    json_decref(props);
    return gs;
}

/* ---- (a) the socket's SigV4 signature ---- */

HG_TEST(sigv4_payload_go_sdk_vector)
{
    /* server/internal/security/sigv4_utility_test.go, TestGenerateSigV4QueryParameters_
     * ValidParameters: query {param1: value1, param2: value2}, sorted and encoded. */
    static const char payload[] = "param1=value1&param2=value2";
    static const char want[] = "2601fe291f4b43a63f6ffb0e1d9085a1edbaa2a866c96511e153af3408bfe771";
    char sig[65];
    ASSERT_OK(hg_sigv4_sign_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                    "us-east-1", "gamelift", payload, strlen(payload), sig));
    ASSERT_STR_EQ(sig, want);
    hg_error_t err;
    hg_error_clear(&err);
    ASSERT_OK(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                      "us-east-1", "gamelift", payload, strlen(payload), want, T0_S,
                                      300, 86400, &err));
    /* a day later, within the socket's age window */
    ASSERT_OK(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                      "us-east-1", "gamelift", payload, strlen(payload), want,
                                      T0_S + 86400, 300, 86400, &err));
}

HG_TEST(sigv4_payload_refusals)
{
    static const char payload[] = "param1=value1&param2=value2";
    static const char sig[] = "2601fe291f4b43a63f6ffb0e1d9085a1edbaa2a866c96511e153af3408bfe771";
    hg_error_t err;
    hg_error_clear(&err);
    /* wrong secret */
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKeY", "20240805T100000Z",
                                          "us-east-1", "gamelift", payload, strlen(payload), sig,
                                          T0_S, 300, 86400, &err),
                  HG_EBADSIG);
    /* another payload (pID changed), another region */
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                          "us-east-1", "gamelift", "param1=value2&param2=value2",
                                          27, sig, T0_S, 300, 86400, &err),
                  HG_EBADSIG);
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                          "us-west-2", "gamelift", payload, strlen(payload), sig,
                                          T0_S, 300, 86400, &err),
                  HG_EBADSIG);
    /* stale: older than the age window */
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                          "us-east-1", "gamelift", payload, strlen(payload), sig,
                                          T0_S + 86401, 300, 86400, &err),
                  HG_ESKEW);
    /* future: later than now + skew */
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                          "us-east-1", "gamelift", payload, strlen(payload), sig,
                                          T0_S - 301, 300, 86400, &err),
                  HG_ESKEW);
    ASSERT_TRUE(strstr(err.msg, "not yet current") != NULL);
    ASSERT_OK(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805T100000Z",
                                      "us-east-1", "gamelift", payload, strlen(payload), sig,
                                      T0_S - 300, 300, 86400, &err));
    /* malformed date */
    ASSERT_EQ_INT(hg_sigv4_verify_payload("testAccessKey", "testSecretKey", "20240805", "us-east-1",
                                          "gamelift", payload, strlen(payload), sig, T0_S, 300,
                                          86400, &err),
                  HG_EBADSIG);
}

/* The socket in SigV4 mode (§7.6): signed by the admin key over ComputeId, FleetId and pID. */
static void sigv4_target(env_t *e, char *out, size_t cap, const char *pid, const char *sig_pid,
                         const char *secret)
{
    char payload[512], sig[65];
    snprintf(payload, sizeof(payload), "ComputeId=host-1&FleetId=%s&pID=%s", e->f->id, sig_pid);
    ASSERT_OK(hg_sigv4_sign_payload(ADMIN_ID, secret, "20240805T100000Z", "us-west-2", "gamelift",
                                    payload, strlen(payload), sig));
    snprintf(out, cap,
             "/sdk?Authorization=SigV4&ComputeId=host-1&FleetId=%s&X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=" ADMIN_ID "%%2F20240805%%2Fus-west-2%%2Fgamelift%%2Faws4_request"
             "&X-Amz-Date=20240805T100000Z&X-Amz-Signature=%s&pID=%s&sdkLanguage=Go&"
             "sdkVersion=5.3.0",
             e->f->id, sig, pid);
}

HG_TEST(sigv4_socket_accepted_and_refused)
{
    env_t e;
    env_open(&e);
    char target[2048];
    cl_t a, b, c;
    sigv4_target(&e, target, sizeof(target), "sig-1", "sig-1", ADMIN_SECRET);
    ASSERT_EQ_INT(cl_open(&e, &a, target, 1), 101);
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "sig-1")));
    /* signed for another pID */
    sigv4_target(&e, target, sizeof(target), "sig-2", "sig-1", ADMIN_SECRET);
    ASSERT_EQ_INT(cl_open(&e, &b, target, 1), 403);
    /* signed with another secret */
    sigv4_target(&e, target, sizeof(target), "sig-3", "sig-3", "not-the-admin-secret");
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 403);
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "sig-2")));
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "sig-3")));
    activate(&a, 7000);
    cl_end(&a);
    cl_end(&b);
    cl_end(&c);
    env_close(&e);
}

/* ---- (b) the upgrade ---- */

HG_TEST(upgrade_refusals)
{
    env_t e;
    env_open(&e);
    char target[1024];
    cl_t c;
    /* no Authorization */
    snprintf(target, sizeof(target), "/sdk?ComputeId=host-1&FleetId=%s&pID=p1&sdkVersion=5.3.0",
             e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 401);
    ASSERT_TRUE(strstr(c.in.data, "Authorization is required") != NULL);
    cl_end(&c);
    /* an empty one */
    snprintf(target, sizeof(target), "/sdk?Authorization=&ComputeId=host-1&FleetId=%s&pID=p1",
             e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 401);
    cl_end(&c);
    /* a token that is not the compute's */
    char bad[HG_FL_TOKEN_CHARS + 1];
    snprintf(bad, sizeof(bad), "%s", e.token);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    snprintf(target, sizeof(target), "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&pID=p1",
             bad, e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 403);
    cl_end(&c);
    /* the right token for another compute name */
    snprintf(target, sizeof(target), "/sdk?Authorization=%s&ComputeId=host-2&FleetId=%s&pID=p1",
             e.token, e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 403);
    cl_end(&c);
    /* no pID */
    snprintf(target, sizeof(target), "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s", e.token,
             e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 400);
    ASSERT_TRUE(strstr(c.in.data, "pID") != NULL);
    cl_end(&c);
    /* a pID the fleet refuses */
    snprintf(target, sizeof(target), "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&pID=a%%2Fb",
             e.token, e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &c, target, 1), 400);
    cl_end(&c);
    /* a plain GET, no upgrade */
    sdk_target(&e, target, sizeof(target), "p1");
    ASSERT_EQ_INT(cl_open(&e, &c, target, 0), 400);
    ASSERT_TRUE(strstr(c.in.data, "WebSocket") != NULL);
    cl_end(&c);
    /* nothing was created by any of them */
    hg_fl_session_stats_t st;
    hg_fleet_session_stats(e.fl, &st);
    ASSERT_EQ_INT(st.processes, 0);
    env_close(&e);
}

HG_TEST(upgrade_query_styles_and_trailing_slash)
{
    env_t e;
    env_open(&e);
    char target[1024];
    cl_t go, cpp, slash;
    /* Go: values encoded ("proc:1" → proc%3A1), keys sorted */
    snprintf(target, sizeof(target),
             "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&IdempotencyToken=%s&pID=proc%%3A1"
             "&sdkLanguage=Go&sdkVersion=5.3.0",
             e.token, e.f->id, "5e3c7a9f-1b2d-4c8e-9f00-aa11bb22cc33");
    ASSERT_EQ_INT(cl_open(&e, &go, target, 1), 101);
    /* C++: values as they are, keys sorted, and the slash it appends to the base URL */
    snprintf(target, sizeof(target),
             "/sdk/?Authorization=%s&ComputeId=host-1&FleetId=%s&IdempotencyToken=Ab3dEf9hIj2lMn4p"
             "Qr6tUv8xYz0aBc1D&pID=proc:2&sdkLanguage=Cpp&sdkVersion=5.4.0",
             e.token, e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &cpp, target, 1), 101);
    /* C#: a fixed order of its own */
    snprintf(
        target, sizeof(target),
        "/sdk/?pID=proc-3&sdkVersion=5.2.0&sdkLanguage=CSharp&Authorization=%s&ComputeId=host-1"
        "&FleetId=%s&IdempotencyToken=x",
        e.token, e.f->id);
    ASSERT_EQ_INT(cl_open(&e, &slash, target, 1), 101);
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "proc:1")));
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "proc:2")));
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "proc-3")));
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "proc%3A1")));
    /* each socket speaks for its own process */
    activate(&go, 7001);
    activate(&cpp, 7002);
    activate(&slash, 7003);
    ASSERT_EQ_INT(hg_fl_proc_find(e.fl, proc_key(&e, "proc:1"))->port, 7001);
    ASSERT_EQ_INT(hg_fl_proc_find(e.fl, proc_key(&e, "proc:2"))->port, 7002);
    ASSERT_EQ_INT(hg_fl_proc_find(e.fl, proc_key(&e, "proc-3"))->port, 7003);
    cl_end(&go);
    cl_end(&cpp);
    cl_end(&slash);
    env_close(&e);
}

/* ---- (c) answers ---- */

HG_TEST(activate_answers_200_and_unknown_action_400)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-act");
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-act"));
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT(p->state, HG_PR_WAITING);
    json_t *m = cl_call(&c,
                        "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"8c1f0c9e-1\","
                        "\"SdkVersion\":\"5.3.0\",\"SdkLanguage\":\"Go\",\"Port\":7777,"
                        "\"LogPaths\":[\"/local/game/logs\"]}",
                        NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    ASSERT_EQ_INT(json_object_size(m), 3); /* Action, RequestId, StatusCode: nothing else */
    json_decref(m);
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE);
    ASSERT_EQ_INT(p->port, 7777);
    ASSERT_STR_EQ(p->sdk_language, "Go");
    ASSERT_STR_EQ(json_string_value(json_array_get(p->log_paths, 0)), "/local/game/logs");

    m = cl_call(&c, "{\"Action\":\"Frobnicate\",\"RequestId\":\"r-2\"}", NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    ASSERT_TRUE(strstr(error_of(m), "unknown Action Frobnicate") != NULL);
    json_decref(m);
    /* a port out of range is refused and changes nothing */
    m = cl_call(&c, "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"r-3\",\"Port\":0}",
                NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    json_decref(m);
    ASSERT_EQ_INT(p->port, 7777);
    /* a heartbeat, and what the compute holds */
    m = cl_call(&c,
                "{\"Action\":\"HeartbeatServerProcess\",\"RequestId\":\"r-4\","
                "\"HealthStatus\":true}",
                NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_EQ_INT(p->heartbeats, 1);
    m = cl_call(&c, "{\"Action\":\"GetComputeCertificate\",\"RequestId\":\"r-5\"}", NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "CertificatePath")), "/certs/host-1.pem");
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "ComputeName")), "host-1");
    json_decref(m);
    /* not JSON: answered 400 with an empty RequestId, the socket stays */
    cl_text(&c, "{\"Action\":");
    m = cl_json(&c, NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "RequestId")), "");
    json_decref(m);
    ASSERT_EQ_INT(cl_close(&c), 1000);
    env_close(&e);
}

HG_TEST(before_process_ready_session_calls_are_refused)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-early");
    json_t *m = cl_call(&c,
                        "{\"Action\":\"ActivateGameSession\",\"RequestId\":\"r-1\","
                        "\"GameSessionId\":\"arn:aws:gamelift:us-west-2::gamesession/x/y/z\"}",
                        NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    ASSERT_TRUE(strstr(error_of(m), "ProcessReady") != NULL);
    json_decref(m);
    m = cl_call(&c,
                "{\"Action\":\"HeartbeatServerProcess\",\"RequestId\":\"r-2\","
                "\"HealthStatus\":true}",
                NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    json_decref(m);
    cl_end(&c);
    env_close(&e);
}

HG_TEST(duplicate_request_id_answered_once)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-dup");
    activate(&c, 7777);
    hg_fl_gsession_t *gs = create_gs(&e, "g1", 4);
    json_t *push = cl_json(&c, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(push, "Action")), "CreateGameSession");
    ASSERT_STR_EQ(json_string_value(json_object_get(push, "GameSessionId")), gs->arn);
    json_decref(push);

    char msg[1024];
    snprintf(
        msg, sizeof(msg),
        "{\"Action\":\"ActivateGameSession\",\"RequestId\":\"ags-1\",\"GameSessionId\":\"%s\"}",
        gs->arn);
    json_t *m = cl_call(&c, msg, NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVE);

    hg_error_t err;
    const char *players[] = {"player-1"};
    const char *data[] = {NULL};
    hg_fl_psession_t *ps;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_fl_ps_create(e.fl, gs, players, data, 1, t, &ps, &err));
    hg_test_commit(&e.loop, t);
    ASSERT_EQ_INT(ps->status, HG_PS_RESERVED);

    snprintf(msg, sizeof(msg),
             "{\"Action\":\"AcceptPlayerSession\",\"RequestId\":\"acc-1\",\"GameSessionId\":\"%s\","
             "\"PlayerSessionId\":\"%s\"}",
             gs->arn, ps->id);
    char *first, *again;
    m = cl_call(&c, msg, &first);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_EQ_INT(ps->status, HG_PS_ACTIVE);
    /* resent with the same RequestId (the C++ SDK after a timeout): the same bytes, not redone
     * — redone, it would fail, the session being ACTIVE now */
    m = cl_call(&c, msg, &again);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_STR_EQ(again, first);
    free(first);
    free(again);
    /* a new RequestId is a new request */
    snprintf(msg, sizeof(msg),
             "{\"Action\":\"AcceptPlayerSession\",\"RequestId\":\"acc-2\",\"GameSessionId\":\"%s\","
             "\"PlayerSessionId\":\"%s\"}",
             gs->arn, ps->id);
    m = cl_call(&c, msg, NULL);
    ASSERT_EQ_INT(status_of(m), 400);
    ASSERT_TRUE(strstr(error_of(m), "not RESERVED") != NULL);
    json_decref(m);
    ASSERT_EQ_INT(ps->status, HG_PS_ACTIVE);

    /* DescribePlayerSessions: the WebSocket shape, times as integers */
    snprintf(msg, sizeof(msg),
             "{\"Action\":\"DescribePlayerSessions\",\"RequestId\":\"d-1\",\"GameSessionId\":"
             "\"%s\"}",
             gs->arn);
    m = cl_call(&c, msg, NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    json_t *list = json_object_get(m, "PlayerSessions");
    ASSERT_EQ_INT(json_array_size(list), 1);
    json_t *one = json_array_get(list, 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(one, "PlayerSessionId")), ps->id);
    ASSERT_STR_EQ(json_string_value(json_object_get(one, "Status")), "ACTIVE");
    ASSERT_TRUE(json_is_integer(json_object_get(one, "CreationTime")));
    ASSERT_EQ_INT(json_integer_value(json_object_get(one, "CreationTime")), T0_S * 1000);
    json_decref(m);
    ASSERT_EQ_INT(cl_close(&c), 1000);
    env_close(&e);
}

HG_TEST(duplicate_request_id_survives_a_reconnect)
{
    env_t e;
    env_open(&e);
    cl_t a, b;
    cl_connect_sdk(&e, &a, "p-re");
    char *first, *again;
    static const char act[] = "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"act-x\","
                              "\"Port\":7100}";
    json_t *m = cl_call(&a, act, &first);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    cl_end(&a); /* an abnormal close: the process waits for its SDK */
    RUN_UNTIL(&e, hg_fl_proc_find(e.fl, proc_key(&e, "p-re"))->conn == NULL);
    cl_connect_sdk(&e, &b, "p-re");
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-re"));
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE); /* found again, not a new WAITING one */
    m = cl_call(&b, act, &again);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_STR_EQ(again, first);
    free(first);
    free(again);
    /* ProcessEnding: answered, then the process is gone */
    m = cl_call(&b, "{\"Action\":\"TerminateServerProcess\",\"RequestId\":\"end-1\"}", NULL);
    ASSERT_EQ_INT(status_of(m), 200);
    json_decref(m);
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-re")));
    m = cl_call(&b,
                "{\"Action\":\"HeartbeatServerProcess\",\"RequestId\":\"hb-9\","
                "\"HealthStatus\":true}",
                NULL);
    ASSERT_EQ_INT(status_of(m), 404);
    json_decref(m);
    ASSERT_EQ_INT(cl_close(&b), 1000);
    env_close(&e);
}

/* ---- (d) pushes ---- */

HG_TEST(create_game_session_push)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-push");
    activate(&c, 7777);
    ASSERT_TRUE(cl_quiet(&c));
    hg_fl_gsession_t *gs = create_gs(&e, "g1", 8);
    json_t *m = cl_json(&c, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")), "CreateGameSession");
    ASSERT_TRUE(json_is_integer(json_object_get(m, "StatusCode")));
    ASSERT_EQ_INT(status_of(m), 200);
    ASSERT_NULL(json_object_get(m, "RequestId")); /* or the SDKs would take it for an answer */
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "GameSessionId")), gs->arn);
    ASSERT_TRUE(strncmp(gs->arn, "arn:aws:gamelift:us-west-2::gamesession/", 40) == 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "GameSessionName")), "g1");
    ASSERT_EQ_INT(json_integer_value(json_object_get(m, "MaximumPlayerSessionCount")), 8);
    ASSERT_EQ_INT(json_integer_value(json_object_get(m, "Port")), 7777);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "IpAddress")), "10.0.0.5");
    json_t *props = json_object_get(m, "GameProperties");
    ASSERT_TRUE(json_is_object(props));
    ASSERT_EQ_INT(json_object_size(props), 2);
    ASSERT_STR_EQ(json_string_value(json_object_get(props, "mode")), "ctf");
    ASSERT_STR_EQ(json_string_value(json_object_get(props, "map")), "dust \"2\"");
    json_decref(m);
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVATING);
    ASSERT_TRUE(cl_quiet(&c)); /* one push, once */
    ASSERT_EQ_INT(cl_close(&c), 1000);
    env_close(&e);
}

HG_TEST(no_heartbeat_pushes_terminate_process)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-silent");
    activate(&c, 7777);
    hg_clock_advance(&e.clock, HEARTBEAT_MS + 1);
    ASSERT_EQ_INT(hg_fleet_tick(e.fl, 100), 1);
    int64_t now = hg_clock_now_ms(&e.clock);
    json_t *m = cl_json(&c, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")), "TerminateProcess");
    ASSERT_EQ_INT(status_of(m), 200);
    ASSERT_NULL(json_object_get(m, "RequestId"));
    ASSERT_EQ_INT(json_integer_value(json_object_get(m, "TerminationTime")),
                  now + HG_FL_TERMINATE_GRACE_MS);
    json_decref(m);
    ASSERT_EQ_INT(hg_fl_proc_find(e.fl, proc_key(&e, "p-silent"))->state, HG_PR_TERMINATING);
    /* it does not end in time: dropped, with a normal closure */
    hg_clock_advance(&e.clock, HG_FL_TERMINATE_GRACE_MS);
    hg_fleet_tick(e.fl, 100);
    frame_t f = cl_next(&c);
    ASSERT_EQ_INT(f.op, 8);
    ASSERT_EQ_INT(close_code(&f), 1000);
    free(f.data);
    cl_frame(&c, 8, "\x03\xe8", 2);
    RUN_UNTIL(&e, c.eof);
    cl_end(&c);
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-silent")));
    env_close(&e);
}

/* ---- (e) the process goes: the socket is closed with 1000 ---- */

HG_TEST(no_process_ready_in_time_closes_1000)
{
    env_t e;
    env_open(&e);
    cl_t c, other;
    cl_connect_sdk(&e, &c, "p-late");
    cl_connect_sdk(&e, &other, "p-ready");
    activate(&other, 7777);
    hg_clock_advance(&e.clock, READY_MS - 1);
    ASSERT_EQ_INT(hg_fleet_tick(e.fl, 100), 0);
    ASSERT_TRUE(cl_quiet(&c));
    hg_clock_advance(&e.clock, 2);
    ASSERT_EQ_INT(hg_fleet_tick(e.fl, 100), 1);
    frame_t f = cl_next(&c);
    ASSERT_EQ_INT(f.op, 8);
    ASSERT_EQ_INT(close_code(&f), 1000); /* normal: the SDK must not reconnect */
    ASSERT_TRUE(f.len > 2 && strstr(f.data + 2, "ended") != NULL);
    free(f.data);
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-late")));
    cl_frame(&c, 8, "\x03\xe8", 2); /* the client's answer ends the handshake */
    RUN_UNTIL(&e, c.eof);
    cl_end(&c);
    /* the other process is untouched */
    ASSERT_TRUE(cl_quiet(&other));
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-ready")));
    ASSERT_EQ_INT(cl_close(&other), 1000);
    env_close(&e);
}

HG_TEST(close_before_process_ready_forgets_the_process)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-brief");
    ASSERT_NOT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-brief")));
    ASSERT_EQ_INT(cl_close(&c), 1000);
    RUN_UNTIL(&e, hg_fl_proc_find(e.fl, proc_key(&e, "p-brief")) == NULL);
    /* the same pID again is a new process */
    cl_connect_sdk(&e, &c, "p-brief");
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-brief"));
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT(p->state, HG_PR_WAITING);
    cl_end(&c);
    env_close(&e);
}

/* The socket goes with a request still committing, and the process goes (its reconnect grace
 * ran out) before that commit is durable: the answer finds no socket and is dropped — the
 * endpoint's per-process state must outlive the request. The commit is held back by another
 * connection holding the database's write lock (the store writer waits on it). */
HG_TEST(process_dropped_while_an_answer_commits)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-gone");
    activate(&c, 7777);
    hg_fl_gsession_t *gs = create_gs(&e, "g1", 4);
    json_decref(cl_json(&c, NULL)); /* the push */
    char path[128];
    snprintf(path, sizeof(path), "%s/hangar.db", e.dir);
    sqlite3 *lock;
    ASSERT_EQ_INT(sqlite3_open(path, &lock), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    char msg[1024];
    snprintf(
        msg, sizeof(msg),
        "{\"Action\":\"ActivateGameSession\",\"RequestId\":\"ags-1\",\"GameSessionId\":\"%s\"}",
        gs->arn);
    cl_text(&c, msg); /* written at once: the loop has not run */
    uv_close((uv_handle_t *)&c.tcp, on_cl_closed);
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-gone"));
    RUN_UNTIL(&e, p->conn == NULL); /* the server read the request and the end of the socket */
    hg_store_stats_t st;
    hg_store_stats(e.store, &st);
    ASSERT_TRUE(st.inflight > 0); /* its change is still committing */
    ASSERT_EQ_INT(gs->status, HG_GS_ACTIVE);
    hg_clock_advance(&e.clock, 30001);
    ASSERT_EQ_INT(hg_fleet_tick(e.fl, 100), 1);
    ASSERT_NULL(hg_fl_proc_find(e.fl, proc_key(&e, "p-gone")));
    sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(lock);
    hg_test_commit(&e.loop, hg_store_txn_new(e.store)); /* every answer has run */
    RUN_UNTIL(&e, c.closed);
    hg_buf_free(&c.in);
    ASSERT_EQ_INT(gs->status, HG_GS_TERMINATED);
    env_close(&e);
}

/* ---- credentials that run out: RefreshConnection, and a known process coming back ---- */

/* Connect pid with this token instead of the environment's. */
static int cl_connect_token(env_t *e, cl_t *cl, const char *pid, const char *token)
{
    char target[1024];
    snprintf(target, sizeof(target),
             "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&IdempotencyToken=tok-2&pID=%s&"
             "sdkLanguage=Go&sdkVersion=5.3.0",
             token, e->f->id, pid);
    return cl_open(e, cl, target, 1);
}

HG_TEST(refresh_connection_pushed_a_third_of_a_lifetime_before_expiry)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-long");
    activate(&c, 7777);
    /* the token is fresh: due at 2/3 of its lifetime, not a second before */
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS - HG_FL_TOKEN_TTL_MS / 3 - 1000);
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 0);
    ASSERT_TRUE(cl_quiet(&c));
    hg_clock_advance(&e.clock, 1000);
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 1);
    json_t *m = cl_json(&c, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")), "RefreshConnection");
    ASSERT_EQ_INT(status_of(m), 200);
    ASSERT_NULL(json_object_get(m, "RequestId")); /* a push: the SDKs route it by Action */
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "RefreshConnectionEndpoint")),
                  "ws://127.0.0.1/sdk"); /* the Host this socket reached */
    char fresh[HG_FL_TOKEN_CHARS + 1];
    snprintf(fresh, sizeof(fresh), "%s", json_string_value(json_object_get(m, "AuthToken")));
    json_decref(m);
    /* a third of its life left is less than half: a new token, durable, that outlives the old */
    ASSERT_TRUE(strcmp(fresh, e.token) != 0);
    int64_t exp_fresh = 0;
    ASSERT_OK(hg_fleet_token_check(e.fl, e.f->id, "host-1", fresh, &exp_fresh));
    ASSERT_EQ_INT(exp_fresh, hg_clock_now_ms(&e.clock) + HG_FL_TOKEN_TTL_MS);
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 0); /* once per socket */
    /* the SDK opens a new socket with it and closes the old one; the process stays ACTIVE */
    cl_t c2;
    ASSERT_EQ_INT(cl_connect_token(&e, &c2, "p-long", fresh), 101);
    cl_end(&c);
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-long"));
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE);
    ASSERT_NOT_NULL(p->conn);
    /* the new socket's turn comes a third of the fresh token's life before it expires */
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS - HG_FL_TOKEN_TTL_MS / 3 - 1000);
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 0);
    hg_clock_advance(&e.clock, 1000);
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 1);
    m = cl_json(&c2, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")), "RefreshConnection");
    json_decref(m);
    cl_end(&c2);
    env_close(&e);
}

HG_TEST(expired_token_reconnects_a_known_process_only)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-old");
    activate(&c, 7777); /* stored, with the hash of the token it connected with */
    cl_t other;
    cl_connect_sdk(&e, &other, "p-other"); /* known too, but never connected with that token */
    const hg_fl_token_t *tok;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS / 2 + 1);
    ASSERT_OK(hg_fl_compute_token(e.fl, e.c, t, &tok, &err)); /* a second live token */
    char second[HG_FL_TOKEN_CHARS + 1];
    snprintf(second, sizeof(second), "%s", tok->token);
    hg_test_commit(&e.loop, t);
    cl_t o2;
    ASSERT_EQ_INT(cl_connect_token(&e, &o2, "p-other", second), 101);
    cl_end(&other);
    /* the first token expires while p-old is connected; then its socket drops */
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS / 2);
    ASSERT_EQ_INT(hg_fleet_token_check(e.fl, e.f->id, "host-1", e.token, NULL), HG_EUNAUTHORIZED);
    cl_end(&c);
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-old"));
    RUN_UNTIL(&e, p->conn == NULL);
    /* within its grace it comes back with the URL it started with */
    cl_t c2;
    ASSERT_EQ_INT(cl_connect_token(&e, &c2, "p-old", e.token), 101);
    ASSERT_NOT_NULL(p->conn);
    ASSERT_EQ_INT(p->state, HG_PR_ACTIVE);
    /* and is handed a live token at once */
    ASSERT_EQ_INT(hg_sdk_tick(e.sdk, 100), 1);
    json_t *m = cl_json(&c2, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "Action")), "RefreshConnection");
    ASSERT_OK(hg_fleet_token_check(e.fl, e.f->id, "host-1",
                                   json_string_value(json_object_get(m, "AuthToken")), NULL));
    json_decref(m);
    /* the expired token opens nothing else: not a new process, not one that used another */
    cl_t bad;
    ASSERT_EQ_INT(cl_connect_token(&e, &bad, "p-new", e.token), 403);
    cl_end(&bad);
    ASSERT_EQ_INT(cl_connect_token(&e, &bad, "p-other", e.token), 403);
    cl_end(&bad);
    cl_end(&o2);
    cl_end(&c2);
    env_close(&e);
}

HG_TEST(known_process_token_survives_a_reload)
{
    env_t e;
    env_open(&e);
    cl_t c;
    cl_connect_sdk(&e, &c, "p-kept");
    activate(&c, 7777);
    cl_end(&c);
    hg_fl_process_t *p = hg_fl_proc_find(e.fl, proc_key(&e, "p-kept"));
    RUN_UNTIL(&e, p->conn == NULL);
    hg_test_commit(&e.loop, hg_store_txn_new(e.store)); /* everything durable */
    /* a new fleet module loads the process (as after a restart) with what it connected with */
    hg_fleet_t *again = hg_fleet_new(&e.clock, e.store,
                                     &(hg_fl_config_t){.token_ttl_ms = HG_FL_TOKEN_TTL_MS,
                                                       .region = "us-west-2",
                                                       .account = "000000000000"});
    ASSERT_OK(hg_fleet_load(again));
    hg_clock_advance(&e.clock, HG_FL_TOKEN_TTL_MS + 1);
    ASSERT_EQ_INT(hg_fleet_token_check(again, e.f->id, "host-1", e.token, NULL), HG_EUNAUTHORIZED);
    ASSERT_TRUE(hg_fl_proc_auth_known(again, e.f->id, "host-1", "p-kept", e.token));
    ASSERT_TRUE(!hg_fl_proc_auth_known(again, e.f->id, "host-1", "p-kept", "0123"));
    ASSERT_TRUE(!hg_fl_proc_auth_known(again, e.f->id, "host-1", "p-nope", e.token));
    hg_fleet_free(again);
    env_close(&e);
}

HG_SUITE(sdk) = {HG_CASE(sigv4_payload_go_sdk_vector),
                 HG_CASE(sigv4_payload_refusals),
                 HG_CASE(sigv4_socket_accepted_and_refused),
                 HG_CASE(upgrade_refusals),
                 HG_CASE(upgrade_query_styles_and_trailing_slash),
                 HG_CASE(activate_answers_200_and_unknown_action_400),
                 HG_CASE(before_process_ready_session_calls_are_refused),
                 HG_CASE(duplicate_request_id_answered_once),
                 HG_CASE(duplicate_request_id_survives_a_reconnect),
                 HG_CASE(create_game_session_push),
                 HG_CASE(no_heartbeat_pushes_terminate_process),
                 HG_CASE(no_process_ready_in_time_closes_1000),
                 HG_CASE(close_before_process_ready_forgets_the_process),
                 HG_CASE(process_dropped_while_an_answer_commits),
                 HG_CASE(refresh_connection_pushed_a_third_of_a_lifetime_before_expiry),
                 HG_CASE(expired_token_reconnects_a_known_process_only),
                 HG_CASE(known_process_token_survives_a_reload),
                 HG_CASE_END};
