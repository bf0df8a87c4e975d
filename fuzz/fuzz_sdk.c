/* hangar — libFuzzer driver for the GameLift Server SDK endpoint (api/sdk, gamelift-wire.md §7):
 * game-server messages through the whole stack in-process, wired as the daemon wires it — the
 * SQLite store (under /dev/shm, so fsync is cheap), keys, the fleet module on a manual clock with
 * a custom location, an ANYWHERE fleet, a compute and its auth token, the sdk module as the
 * fleet's sink, the router and the real HTTP server on a loopback port. The driver is the game
 * server: it upgrades GET /sdk with the SDK's query and sends the input as masked text frames.
 * The stack is built and freed for every input, so every run starts from the same state.
 *
 * Input: byte 0 is flags, the rest is lines ('\n'); a line is one message, or a driver command
 * when it starts with '!'. In a message "$G" becomes the current game session's ARN and "$P" the
 * current player session's id (the fuzzer cannot guess either).
 *   0x01  a fixed ActivateServerProcess first (session calls get past "ProcessReady first")
 *   0x02  then a game session is created (hg_fl_gs_create: the CreateGameSession push)
 *   0x04  pipelined: messages are written at once and commands do not wait; the loop runs
 *         when a command needs it or !. says so, which orders events the fuzzer can race
 *   0x08  connect with Authorization=SigV4 (signed by the driver) instead of the auth token
 *   0x10  end with TerminateServerProcess before the close
 *   !g create a game session      !p reserve a player session in it
 *   !t clock +61 s, fleet tick    !T clock +10 min, fleet tick
 *   !n one more socket for the same pID (the older ones stay open)
 *   !r drop the newest socket's TCP connection and connect again
 *   !x drop the newest socket's TCP connection
 *   !c the client closes the newest socket (close handshake)
 *   !. turns of the loop until the server noticed the sockets the client dropped
 *   !L hold the database's write lock: commits stay in flight until !U (or anything that
 *      waits for the store; pipelined, messages, !x, !t, !T and !. do not)
 *
 * Checked on every run: the server's frames are unfragmented and unmasked text, close or ping,
 * nothing after its close; every text frame is one JSON object with Action (a string) and
 * StatusCode (an integer); an answer carries RequestId (a string) and ErrorMessage exactly when
 * StatusCode is not 200; a push carries no RequestId, StatusCode 200 and its own fields
 * (GameProperties an object). Sent one at a time, every message gets exactly one answer on its
 * socket that echoes its RequestId (and its Action unless that RequestId was used before), a
 * message sent twice in a row is answered with the same bytes, the first ActivateServerProcess
 * succeeds, and a game session created for the process is pushed exactly once. Every
 * (re)connect is accepted; close codes are valid; every connection ends (the client's close →
 * the server's echo and EOF) and the server holds none after; the process is gone once its
 * reconnect grace has run out; the loop closes with nothing open, and ASan/LSan see no error or
 * leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/sdk/sdk.h"
#include "auth/keys.h"
#include "auth/sigv4.h"
#include "core/buf.h"
#include "core/log.h"
#include "fleet/fleet.h"
#include "fleet/session.h"
#include "fuzz.h"
#include "http/http.h"
#include "rt/clock.h"
#include "store/store.h"

#define F_ACTIVATE 0x01
#define F_SESSION 0x02
#define F_PIPELINE 0x04
#define F_SIGV4 0x08
#define F_TERMINATE 0x10

#define MAX_CLIENTS 4
#define T0_MS 1722852000000LL /* 2024-08-05T10:00:00Z */
#define KEY_ID "AKIDFUZZSDK000000001"
#define KEY_SECRET "fuzz-sdk-secret-0123456789"
#define GRACE_MS 30000
#define WAIT_MS 5000 /* the server must settle, or end a connection, within this */
#define PID "proc-1"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_sdk:%d: check failed: %s\n", __LINE__, #x);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char ACTIVATE[] =
    "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"fuzz-activate\",\"SdkVersion\":"
    "\"5.4.0\",\"SdkLanguage\":\"Cpp\",\"Port\":7777,\"LogPaths\":[\"/local/game/logs\"]}";
static const char TERMINATE[] =
    "{\"Action\":\"TerminateServerProcess\",\"RequestId\":\"fuzz-terminate\"}";

typedef struct client {
    int fd;       /* -1 once our side closed it */
    hg_buf_t in;  /* every byte received */
    hg_buf_t out; /* bytes not yet written */
    size_t off;   /* the next frame (after the 101 head) */
    int status;   /* of the upgrade answer; 0 until its head arrived */
    int close_sent, close_got, eof;
    int answers;
    int last_status;
    hg_buf_t last; /* the last answer's bytes */
    char last_rid[HG_SDK_REQUEST_ID_MAX + 1];
    char last_action[48];
} client_t;

static struct {
    char dir[64];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_keys_t *keys;
    hg_fleet_t *fl;
    hg_sdk_t *sdk;
    hg_api_t api;
    hg_http_server_t *srv;
    hg_fl_fleet_t *f;
    hg_fl_compute_t *c;
    int stopped;
} S;

/* per run */
static unsigned flags;
static client_t cls[MAX_CLIENTS];
static int ncls;
static char gs_arn[512], ps_id[64];
static int gs_pushes; /* CreateGameSession pushes carrying gs_arn */
static int nplayers;
static json_t *seen_rids; /* RequestIds sent so far (a set) */
static hg_buf_t prev_msg; /* the previous message and its answer, for the resend check */
static hg_buf_t prev_answer;
static int prev_valid;
static int sent, answered;
static sqlite3 *lock_db; /* holds the store's write lock (!L): commits wait */

/* ---- the stack ---- */

static void sink_start(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    (void)ud;
    hg_sdk_push_start(S.sdk, p, gs);
}

static void sink_terminate(void *ud, hg_fl_process_t *p, int64_t ms)
{
    (void)ud;
    hg_sdk_push_terminate(S.sdk, p, ms);
}

static void sink_drop(void *ud, hg_fl_process_t *p)
{
    (void)ud;
    hg_sdk_drop(S.sdk, p);
}

/* !L: another connection takes the database's write lock, so the store writer waits (its busy
 * timeout is far longer than a run) and every commit stays in flight until db_unlock. */
static void db_lock(void)
{
    if (lock_db)
        return;
    char path[128];
    snprintf(path, sizeof(path), "%s/hangar.db", S.dir);
    CHECK(sqlite3_open(path, &lock_db) == SQLITE_OK);
    sqlite3_busy_timeout(lock_db, WAIT_MS);
    CHECK(sqlite3_exec(lock_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
}

static void db_unlock(void)
{
    if (lock_db == NULL)
        return;
    sqlite3_exec(lock_db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(lock_db);
    lock_db = NULL;
}

static void on_commit(void *ud, int rc)
{
    CHECK(rc == 0);
    *(int *)ud = 1;
}

static void commit_wait(hg_store_txn_t *t)
{
    int done = 0;
    db_unlock();
    hg_store_commit(t, on_commit, &done);
    while (!done)
        uv_run(&S.loop, UV_RUN_ONCE);
}

static void remove_db(void)
{
    static const char *const files[] = {"hangar.db", "hangar.db-wal", "hangar.db-shm"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", S.dir, files[i]);
        unlink(path);
    }
}

static void at_exit(void)
{
    remove_db();
    rmdir(S.dir);
}

static void stack_open(void)
{
    if (S.dir[0] == '\0') {
        hg_log_level = HG_LOG_ERROR;
        signal(SIGPIPE, SIG_IGN); /* as the daemon: the server writes to peers that left */
        snprintf(S.dir, sizeof(S.dir), "/dev/shm/hg-fuzz-sdk-XXXXXX");
        if (mkdtemp(S.dir) == NULL) {
            snprintf(S.dir, sizeof(S.dir), "/tmp/hg-fuzz-sdk-XXXXXX");
            CHECK(mkdtemp(S.dir) != NULL);
        }
        atexit(at_exit);
    }
    remove_db();
    hg_clock_init_manual(&S.clock, T0_MS);
    CHECK(uv_loop_init(&S.loop) == 0);
    hg_error_t err;
    CHECK(hg_store_open(&S.loop, &hg_store_sqlite, S.dir, 64, &S.store, &err) == 0);
    S.keys = hg_keys_new(S.store, &S.clock);
    CHECK(hg_keys_load(S.keys) == 0);
    const hg_key_t *admin;
    int created;
    CHECK(hg_keys_bootstrap_admin(S.keys, KEY_ID, KEY_SECRET, &admin, &created, &err) == 0);
    hg_fl_config_t cfg = {
        .token_ttl_ms = HG_FL_TOKEN_TTL_MS, .region = "us-west-2", .account = "123456789012"};
    S.fl = hg_fleet_new(&S.clock, S.store, &cfg);
    S.sdk = hg_sdk_new(&S.api);
    hg_fl_timeouts_t to = {.ready_ms = 120000,
                           .heartbeat_ms = 180000,
                           .unhealthy_reports = 3,
                           .grace_ms = GRACE_MS,
                           .activation_ms = 600000,
                           .reservation_ms = 60000};
    hg_fleet_set_timeouts(S.fl, &to);
    hg_fl_sink_t sink = {
        .start_session = sink_start, .terminate = sink_terminate, .drop = sink_drop, .ud = NULL};
    hg_fleet_set_sink(S.fl, &sink);
    CHECK(hg_fleet_load(S.fl) == 0);
    hg_store_txn_t *t = hg_store_txn_new(S.store);
    hg_fl_location_t *loc;
    CHECK(hg_fl_location_create(S.fl, "custom-fuzz", NULL, t, &loc, &err) == 0);
    const char *locs[] = {"custom-fuzz"};
    CHECK(hg_fl_fleet_create(S.fl, json_object(), locs, 1, NULL, t, &S.f, &err) == 0);
    CHECK(hg_fl_compute_register(S.fl, S.f, "host-1", "10.0.0.7", NULL, "/certs/host-1.pem",
                                 "custom-fuzz", t, &S.c, &err) == 0);
    commit_wait(t);
    S.api = (hg_api_t){.loop = &S.loop,
                       .clock = &S.clock,
                       .store = S.store,
                       .keys = S.keys,
                       .fleet = S.fl,
                       .sdk = S.sdk,
                       .sigv4_skew_s = 300,
                       .region = "us-west-2"};
    hg_http_limits_t hl = hg_fuzz_http_limits();
    CHECK(hg_http_server_new(&S.loop, &hl, hg_api_handle, &S.api, &S.srv) == 0);
    CHECK(hg_http_server_listen(S.srv, "127.0.0.1", 0) == 0);
}

static void on_stopped(void *ud)
{
    (void)ud;
    S.stopped = 1;
}

static void stack_close(void)
{
    db_unlock();
    S.stopped = 0;
    hg_http_server_stop(S.srv, on_stopped, NULL);
    while (!S.stopped)
        uv_run(&S.loop, UV_RUN_ONCE);
    hg_sdk_stop(S.sdk);
    hg_store_close(S.store);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    hg_http_server_free(S.srv);
    hg_fleet_free(S.fl);
    hg_sdk_free(S.sdk);
    hg_keys_free(S.keys);
    CHECK(uv_loop_close(&S.loop) == 0); /* nothing left open */
}

static const char *proc_key(void)
{
    static char key[256];
    snprintf(key, sizeof(key), "%s/host-1/" PID, S.f->id);
    return key;
}

/* ---- the game server's side ---- */

static void masked(hg_buf_t *b, int op, const void *payload, size_t len)
{
    static const unsigned char key[4] = {0x3a, 0xc5, 0x07, 0x91};
    unsigned char h[14];
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    hg_buf_append(b, h, n);
    hg_buf_append(b, key, 4);
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++) {
        unsigned char x = p[i] ^ key[i % 4];
        hg_buf_append(b, &x, 1);
    }
}

static int is_open(const client_t *cl)
{
    return cl->fd >= 0 && cl->status == 101 && !cl->close_sent && !cl->close_got && !cl->eof;
}

static client_t *newest_open(void)
{
    for (int i = ncls - 1; i >= 0; i--)
        if (is_open(&cls[i]))
            return &cls[i];
    return NULL;
}

static void send_close(client_t *cl)
{
    masked(&cl->out, 8, "\x03\xe8", 2);
    cl->close_sent = 1;
}

static int valid_close_code(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void check_text(client_t *cl, const char *p, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(json_is_object(m));
    const char *action = json_string_value(json_object_get(m, "Action"));
    json_t *sc = json_object_get(m, "StatusCode");
    CHECK(action != NULL);
    CHECK(json_is_integer(sc));
    json_int_t code = json_integer_value(sc);
    json_t *rid = json_object_get(m, "RequestId");
    if (rid) { /* an answer */
        CHECK(json_is_string(rid));
        CHECK(code == 200 || (code >= 400 && code <= 599));
        CHECK(json_is_string(json_object_get(m, "ErrorMessage")) == (code != 200));
        cl->answers++;
        answered++;
        cl->last_status = (int)code;
        cl->last.len = 0;
        hg_buf_append(&cl->last, p, len);
        snprintf(cl->last_rid, sizeof(cl->last_rid), "%s", json_string_value(rid));
        snprintf(cl->last_action, sizeof(cl->last_action), "%s", action);
    } else { /* a push */
        CHECK(code == 200);
        if (strcmp(action, "CreateGameSession") == 0) {
            const char *arn = json_string_value(json_object_get(m, "GameSessionId"));
            CHECK(arn != NULL);
            CHECK(json_is_object(json_object_get(m, "GameProperties")));
            CHECK(json_is_integer(json_object_get(m, "MaximumPlayerSessionCount")));
            CHECK(json_is_integer(json_object_get(m, "Port")));
            CHECK(json_is_string(json_object_get(m, "GameSessionName")));
            if (strcmp(arn, gs_arn) == 0)
                gs_pushes++;
        } else {
            CHECK(strcmp(action, "TerminateProcess") == 0);
            CHECK(json_is_integer(json_object_get(m, "TerminationTime")));
        }
    }
    json_decref(m);
}

/* Every complete frame the server sent since the last call. */
static void parse_frames(client_t *cl)
{
    if (cl->status == 0) {
        const char *e = cl->in.len ? memmem(cl->in.data, cl->in.len, "\r\n\r\n", 4) : NULL;
        if (e == NULL)
            return;
        CHECK(cl->in.len > 12 && memcmp(cl->in.data, "HTTP/1.1 ", 9) == 0);
        cl->status = atoi(cl->in.data + 9);
        cl->off = (size_t)(e - cl->in.data) + 4;
        if (cl->status != 101)
            return;
    }
    for (;;) {
        const unsigned char *b = (const unsigned char *)cl->in.data + cl->off;
        size_t avail = cl->in.len - cl->off;
        if (avail < 2)
            return;
        uint64_t len = b[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                return;
            len = (uint64_t)b[2] << 8 | b[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                return;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
            h = 10;
        }
        if (avail < h || avail - h < len)
            return;
        CHECK(!cl->close_got); /* nothing after the server's close */
        CHECK(b[0] & 0x80);    /* never fragmented */
        CHECK((b[1] & 0x80) == 0);
        int op = b[0] & 15;
        const char *payload = (const char *)b + h;
        if (op == 1) {
            check_text(cl, payload, (size_t)len);
        } else if (op == 8) {
            CHECK(len != 1);
            int code =
                len >= 2 ? ((unsigned char)payload[0] << 8 | (unsigned char)payload[1]) : 1000;
            CHECK(valid_close_code(code));
            cl->close_got = 1;
            if (!cl->close_sent)
                send_close(cl);
        } else if (op == 9) {
            masked(&cl->out, 10, payload, (size_t)len);
        } else {
            CHECK(0); /* no binary, continuation or unsolicited pong */
        }
        cl->off += h + (size_t)len;
    }
}

/* Write what is queued and read what arrived on every client; returns bytes moved. */
static size_t client_io(client_t *cl)
{
    size_t moved = 0;
    if (cl->fd < 0)
        return 0;
    while (cl->out.len) {
        ssize_t w = send(cl->fd, cl->out.data, cl->out.len, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        memmove(cl->out.data, cl->out.data + w, cl->out.len - (size_t)w);
        cl->out.len -= (size_t)w;
        moved += (size_t)w;
    }
    char buf[65536];
    while (!cl->eof) {
        ssize_t r = recv(cl->fd, buf, sizeof(buf), 0);
        if (r > 0) {
            hg_buf_append(&cl->in, buf, (size_t)r);
            moved += (size_t)r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINPROGRESS))
            cl->eof = 1;
        break;
    }
    if (cl->eof)
        cl->out.len = 0; /* the server is gone: what we still had to say is moot */
    parse_frames(cl);
    return moved;
}

static size_t pump(void)
{
    uv_run(&S.loop, UV_RUN_NOWAIT);
    size_t moved = 0;
    for (int i = 0; i < ncls; i++)
        moved += client_io(&cls[i]);
    return moved;
}

/* One turn of the loop, and more until the server has noticed every socket the client dropped
 * (and no longer: commits in flight may still be in flight after). */
static void turn(void)
{
    for (int i = 0; i < 1000; i++) {
        pump();
        size_t open = 0;
        for (int k = 0; k < ncls; k++)
            open += cls[k].fd >= 0 && !cls[k].eof;
        if (hg_http_server_conns(S.srv) <= open)
            break;
    }
}

/* Run until the server has nothing more to do: no commit in flight, no bytes moving. */
static void settle(void)
{
    db_unlock(); /* nothing settles while commits cannot */
    uv_update_time(&S.loop);
    uint64_t until = uv_now(&S.loop) + WAIT_MS;
    int quiet = 0;
    while (quiet < 4) {
        size_t moved = pump();
        hg_store_stats_t st;
        hg_store_stats(S.store, &st);
        int queued = 0;
        for (int i = 0; i < ncls; i++)
            queued |= cls[i].fd >= 0 && cls[i].out.len > 0;
        quiet = moved == 0 && st.inflight == 0 && !queued ? quiet + 1 : 0;
        uv_update_time(&S.loop);
        CHECK(uv_now(&S.loop) < until); /* the server hangs */
    }
}

static const char *auth_token(void)
{
    static char tok[HG_FL_TOKEN_CHARS + 1];
    hg_error_t err;
    const hg_fl_token_t *t;
    hg_store_txn_t *txn = hg_store_txn_new(S.store);
    CHECK(hg_fl_compute_token(S.fl, S.c, txn, &t, &err) == 0);
    snprintf(tok, sizeof(tok), "%s", t->token);
    commit_wait(txn);
    return tok;
}

static void client_open(void)
{
    CHECK(ncls < MAX_CLIENTS);
    client_t *cl = &cls[ncls++];
    memset(cl, 0, sizeof(*cl));
    hg_buf_init(&cl->in);
    hg_buf_init(&cl->out);
    hg_buf_init(&cl->last);
    char target[1024];
    if (flags & F_SIGV4) {
        char amz[17], payload[256], sig[65];
        time_t t = (time_t)(hg_clock_now_ms(&S.clock) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(amz, sizeof(amz), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(payload, sizeof(payload), "ComputeId=host-1&FleetId=%s&pID=" PID, S.f->id);
        CHECK(hg_sigv4_sign_payload(KEY_ID, KEY_SECRET, amz, "us-west-2", "gamelift", payload,
                                    strlen(payload), sig) == 0);
        snprintf(target, sizeof(target),
                 "/sdk/?Authorization=SigV4&ComputeId=host-1&FleetId=%s&IdempotencyToken=fuzz&"
                 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" KEY_ID
                 "%%2F%.8s%%2Fus-west-2%%2Fgamelift%%2Faws4_request&X-Amz-Date=%s&"
                 "X-Amz-Signature=%s&pID=" PID "&sdkLanguage=Go&sdkVersion=5.3.0",
                 S.f->id, amz, amz, sig);
    } else {
        snprintf(target, sizeof(target),
                 "/sdk?Authorization=%s&ComputeId=host-1&FleetId=%s&IdempotencyToken=fuzz&"
                 "pID=" PID "&sdkLanguage=Cpp&sdkVersion=5.4.0",
                 auth_token(), S.f->id);
    }
    hg_buf_printf(&cl->out,
                  "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: "
                  "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n",
                  target);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(cl->fd >= 0);
    fcntl(cl->fd, F_SETFL, O_NONBLOCK);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)hg_http_server_port(S.srv)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(cl->fd, (struct sockaddr *)&a, sizeof(a));
    CHECK(rc == 0 || errno == EINPROGRESS);
    uv_update_time(&S.loop);
    uint64_t until = uv_now(&S.loop) + WAIT_MS;
    while (cl->status == 0 && !cl->eof) {
        pump();
        uv_update_time(&S.loop);
        CHECK(uv_now(&S.loop) < until);
    }
    CHECK(cl->status == 101); /* every (re)connect of a good client is accepted */
    settle();
}

static void client_free(client_t *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    hg_buf_free(&cl->in);
    hg_buf_free(&cl->out);
    hg_buf_free(&cl->last);
}

/* ---- what the driver does ---- */

static void expected_of(const char *msg, size_t len, char *rid, char *action)
{
    /* as on_message reads them */
    json_t *m = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    const char *a = json_string_value(json_object_get(m, "Action"));
    const char *r = json_string_value(json_object_get(m, "RequestId"));
    snprintf(action, 48, "%s", a && strlen(a) < 48 ? a : "");
    snprintf(rid, HG_SDK_REQUEST_ID_MAX + 1, "%s",
             r && strlen(r) <= HG_SDK_REQUEST_ID_MAX ? r : "");
    json_decref(m);
}

static void send_message(const char *msg, size_t len)
{
    client_t *cl = newest_open();
    if (cl == NULL)
        return;
    char rid[HG_SDK_REQUEST_ID_MAX + 1], action[48];
    expected_of(msg, len, rid, action);
    int before = cl->answers;
    masked(&cl->out, 1, msg, len);
    sent++;
    if (flags & F_PIPELINE) {
        client_io(cl); /* written now; the server reads it when the loop next runs */
        return;
    }
    settle();
    if (!is_open(cl)) { /* the server closed it (a protocol error, the process went) */
        prev_valid = 0;
        return;
    }
    CHECK(cl->answers == before + 1); /* one answer, on the socket that asked */
    CHECK(strcmp(cl->last_rid, rid) == 0);
    int reused = rid[0] && json_object_get(seen_rids, rid) != NULL;
    if (!reused)
        CHECK(strcmp(cl->last_action, action) == 0);
    if (rid[0])
        json_object_set_new(seen_rids, rid, json_true());
    /* resent as it was: answered as it was (from the cache, or refused again the same way) */
    if (prev_valid && prev_msg.len == len && memcmp(prev_msg.data, msg, len) == 0)
        CHECK(prev_answer.len == cl->last.len &&
              memcmp(prev_answer.data, cl->last.data, cl->last.len) == 0);
    prev_msg.len = prev_answer.len = 0;
    hg_buf_append(&prev_msg, msg, len);
    hg_buf_append(&prev_answer, cl->last.data, cl->last.len);
    prev_valid = 1;
}

static void create_game_session(void)
{
    hg_error_t err;
    json_t *props = json_pack("[{s:s,s:s}]", "Key", "mode", "Value", "ctf");
    hg_fl_gs_params_t prm = {.name = "fuzz-gs",
                             .data = "{\"seed\":1}",
                             .matchmaker_data = "",
                             .props = props,
                             .max_players = 4};
    hg_fl_gsession_t *gs;
    int existed;
    hg_store_txn_t *t = hg_store_txn_new(S.store);
    int rc = hg_fl_gs_create(S.fl, S.f, &prm, t, &gs, &existed, &err);
    json_decref(props);
    if (rc < 0) {
        hg_store_txn_free(t);
        CHECK(rc == HG_EFLEETCAPACITY); /* no idle process is the only reason here */
        return;
    }
    snprintf(gs_arn, sizeof(gs_arn), "%s", gs->arn);
    gs_pushes = 0;
    commit_wait(t);
    settle();
    /* the process was idle, so connected on its newest socket: the push is there, once
     * (pipelined, that socket may have been dropped before the server noticed) */
    CHECK(flags & F_PIPELINE ? gs_pushes <= 1 : gs_pushes == 1);
}

static void create_player_session(void)
{
    hg_fl_gsession_t *gs = gs_arn[0] ? hg_fl_gs_find(S.fl, gs_arn) : NULL;
    if (gs == NULL)
        return;
    char player[32];
    snprintf(player, sizeof(player), "player-%d", ++nplayers);
    const char *players[] = {player};
    const char *data[] = {NULL};
    hg_fl_psession_t *ps;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(S.store);
    if (hg_fl_ps_create(S.fl, gs, players, data, 1, t, &ps, &err) < 0) {
        hg_store_txn_free(t);
        return;
    }
    snprintf(ps_id, sizeof(ps_id), "%s", ps->id);
    commit_wait(t);
    settle();
}

static void tick(int64_t ms)
{
    hg_clock_advance(&S.clock, ms);
    hg_fleet_tick(S.fl, 1000);
    if (flags & F_PIPELINE)
        pump(); /* the tick may land while answers are still committing */
    else
        settle();
}

static void command(const char *line, size_t len)
{
    client_t *cl;
    prev_valid = 0;
    if (!(flags & F_PIPELINE))
        settle();
    switch (len > 1 ? line[1] : 0) {
    case 'g': create_game_session(); break;
    case 'p': create_player_session(); break;
    case 't': tick(61000); break;
    case 'T': tick(600000); break;
    case 'n':
        if (ncls < MAX_CLIENTS)
            client_open();
        break;
    case 'r':
        if ((cl = newest_open()) != NULL && ncls < MAX_CLIENTS) {
            close(cl->fd); /* no close frame: an abnormal closure, the SDK reconnects */
            cl->fd = -1;
            if (!(flags & F_PIPELINE))
                settle();
            client_open();
        }
        break;
    case 'x':
        if ((cl = newest_open()) != NULL) {
            client_io(cl);
            close(cl->fd); /* gone without a word, no reconnect */
            cl->fd = -1;
            if (!(flags & F_PIPELINE))
                settle();
        }
        break;
    case '.': turn(); break;
    case 'L': db_lock(); break;
    case 'U': db_unlock(); break;
    case 'c':
        if ((cl = newest_open()) != NULL) {
            send_close(cl);
            settle();
            CHECK(cl->close_got); /* the server answered the close */
        }
        break;
    default: break;
    }
}

/* Replace $G and $P. */
static void expand(hg_buf_t *out, const char *s, size_t len)
{
    out->len = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '$' && i + 1 < len && (s[i + 1] == 'G' || s[i + 1] == 'P')) {
            hg_buf_puts(out, s[i + 1] == 'G' ? gs_arn : ps_id);
            i++;
        } else {
            hg_buf_append(out, s + i, 1);
        }
    }
}

/* Every socket ends: the client closes, the server echoes and closes TCP. */
static void finish(void)
{
    for (int i = 0; i < ncls; i++)
        if (cls[i].fd >= 0 && !cls[i].eof && !cls[i].close_sent)
            send_close(&cls[i]);
    uv_update_time(&S.loop);
    uint64_t until = uv_now(&S.loop) + WAIT_MS;
    for (;;) {
        pump();
        int open = 0;
        for (int i = 0; i < ncls; i++)
            open |= cls[i].fd >= 0 && !cls[i].eof;
        if (!open)
            break;
        uv_update_time(&S.loop);
        CHECK(uv_now(&S.loop) < until); /* a connection outlived its close handshake */
    }
    for (int i = 0; i < ncls; i++) {
        if (cls[i].fd >= 0 && cls[i].status == 101)
            CHECK(cls[i].close_got); /* EOF only after the server's close frame */
        client_free(&cls[i]);
    }
    settle();
    CHECK(hg_http_server_conns(S.srv) == 0);
    /* no socket: the process (if any) is gone once its reconnect grace has run out */
    tick(GRACE_MS + 1);
    CHECK(hg_fl_proc_find(S.fl, proc_key()) == NULL);
    hg_fl_session_stats_t st;
    hg_fleet_session_stats(S.fl, &st);
    CHECK(st.processes == 0);
    CHECK(answered <= sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    flags = data[0];
    data++, size--;
    stack_open();
    ncls = 0;
    gs_arn[0] = ps_id[0] = '\0';
    gs_pushes = nplayers = sent = answered = prev_valid = 0;
    seen_rids = json_object();
    hg_buf_init(&prev_msg);
    hg_buf_init(&prev_answer);

    client_open();
    CHECK(hg_fl_proc_find(S.fl, proc_key()) != NULL);
    if (flags & F_ACTIVATE) {
        int pipelined = flags & F_PIPELINE;
        flags &= ~F_PIPELINE;
        send_message(ACTIVATE, sizeof(ACTIVATE) - 1);
        flags |= pipelined;
        CHECK(cls[0].last_status == 200);
        if (flags & F_SESSION) {
            prev_valid = 0;
            create_game_session();
            CHECK(gs_arn[0] != '\0');
        }
    } else if (flags & F_SESSION) {
        create_game_session();
    }
    hg_buf_t msg;
    hg_buf_init(&msg);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t len = (size_t)(e - p);
        if (len > 0 && p[0] == '!')
            command(p, len);
        else {
            expand(&msg, p, len);
            send_message(msg.data ? msg.data : "", msg.len);
        }
        p = nl ? nl + 1 : end;
    }
    hg_buf_free(&msg);
    settle();
    if (flags & F_TERMINATE) {
        int pipelined = flags & F_PIPELINE;
        flags &= ~F_PIPELINE;
        prev_valid = 0;
        send_message(TERMINATE, sizeof(TERMINATE) - 1);
        flags |= pipelined;
    }
    finish();

    json_decref(seen_rids);
    hg_buf_free(&prev_msg);
    hg_buf_free(&prev_answer);
    stack_close();
    return 0;
}
