/* Unit tests: the interim loop (src/daemon/interim.c) — the 503 answers, the pause, and a
 * standby that relays to a live owner and answers 503 when the owner does not answer. The loop
 * runs in a child process (it owns its port and its signals); this process is its client. */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "http/proxyhdr.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

#define GAMELIFT_REQ                                                                               \
    "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: GameLift.ListFleets\r\n"                          \
    "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}"
#define NATIVE_REQ "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n"
#define WS_REQ                                                                                     \
    "GET /sdk HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

/* The connect_timeout every PostgreSQL connection of hangard gets (a host that does not answer
 * would block a thread for minutes), unless the URI names its own. No server needed: the
 * options of a connection that failed are still there to read. */
static const char *conn_option(PGconn *db, const char *key)
{
    static char value[32];
    value[0] = '\0';
    PQconninfoOption *opts = PQconninfo(db);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val)
            snprintf(value, sizeof(value), "%s", o->val);
    PQconninfoFree(opts);
    return value;
}

HG_TEST(postgres_connections_have_a_connect_timeout)
{
    PGconn *db = hg_store_pg_connectdb("postgres://hangar@127.0.0.1:1/nothing");
    ASSERT_STR_EQ(conn_option(db, "connect_timeout"), HG_STORE_PG_CONNECT_TIMEOUT_S);
    ASSERT_STR_EQ(conn_option(db, "dbname"), "nothing"); /* the URI is expanded, not a name */
    ASSERT_STR_EQ(conn_option(db, "user"), "hangar");
    PQfinish(db);
    db = hg_store_pg_connectdb("postgres://hangar@127.0.0.1:1/nothing?connect_timeout=2");
    ASSERT_STR_EQ(conn_option(db, "connect_timeout"), "2");
    PQfinish(db);
}

HG_TEST(reply_in_the_api_s_own_format)
{
    size_t len;
    char *r = hg_unavailable_reply(GAMELIFT_REQ, "testing", &len);
    ASSERT_EQ_INT(len, strlen(r));
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 503 ", 13) == 0);
    ASSERT_NOT_NULL(strstr(r, "\r\nRetry-After: 1\r\n"));
    ASSERT_NOT_NULL(strstr(r, "\r\nConnection: close\r\n"));
    ASSERT_NOT_NULL(strstr(r, "application/x-amz-json-1.1"));
    ASSERT_NOT_NULL(strstr(r, "{\"__type\":\"ServiceUnavailableException\""));
    ASSERT_NOT_NULL(strstr(r, "(testing)"));
    /* Content-Length is the body's */
    const char *body = strstr(r, "\r\n\r\n") + 4;
    char want[64];
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
    ASSERT_NOT_NULL(strstr(r, want));
    hg_free(r);
    r = hg_unavailable_reply(NATIVE_REQ, "testing", &len);
    ASSERT_NOT_NULL(strstr(r, "{\"error\":{\"code\":\"unavailable\""));
    ASSERT_NOT_NULL(strstr(r, "Content-Type: application/json\r\n"));
    hg_free(r);
    /* a header-looking line in the body does not count; the name is case-insensitive */
    r = hg_unavailable_reply("POST /v1/x HTTP/1.1\r\nHost: x\r\n\r\n\nX-Amz-Target: a", "t", &len);
    ASSERT_NOT_NULL(strstr(r, "\"unavailable\""));
    hg_free(r);
    r = hg_unavailable_reply("POST / HTTP/1.1\r\nx-amz-target: GameLift.X\r\n\r\n", "t", &len);
    ASSERT_NOT_NULL(strstr(r, "ServiceUnavailableException"));
    hg_free(r);
    /* a head cut short (no blank line) still gets its answer */
    r = hg_unavailable_reply("POST / HTTP/1.1\r\nX-Amz-Targ", "t", &len);
    ASSERT_NOT_NULL(strstr(r, "\"unavailable\""));
    hg_free(r);
}

/* ---- a loop in a child process, a blocking client here ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &n));
    close(fd);
    return ntohs(a.sin_port);
}

/* A listening socket on loopback (an owner); its port in *port. */
static int listen_on(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(listen(fd, 8));
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &n));
    *port = ntohs(a.sin_port);
    return fd;
}

static void timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect to 127.0.0.1:port, retrying for 10 s while it is not listening yet. */
static int dial(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 1000; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            timeouts(fd);
            return fd;
        }
        close(fd);
        usleep(10000);
    }
    HG_FAIL_("nothing listens on port %d", port);
}

/* Send req on a new connection and read until the other side closes; the answer in out. */
static size_t ask(int port, const char *req, size_t req_len, char *out, size_t cap)
{
    int fd = dial(port);
    ASSERT_EQ_INT(write(fd, req, req_len), (ssize_t)req_len);
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    if (n < 0) /* closed, not reset, not timed out */
        HG_FAIL_("reading the answer to %.20s: %s", req, strerror(errno));
    out[len] = '\0';
    close(fd);
    return len;
}

static pid_t spawn_loop(const hg_config_t *cfg, int standby, uint64_t pause_ms)
{
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int fd = 3; fd < 1024; fd++) /* the owner's listener is the parent's to close */
            close(fd);
        int lfd = -1;
        int rc = standby ? hg_standby_run(cfg, &lfd)
                         : hg_unavailable_run(cfg, pause_ms, "testing", &lfd);
        if (rc == 0) { /* it ended to let the daemon serve: the port is handed on, listening */
            int on = 0;
            socklen_t len = sizeof(on);
            if (lfd < 0 || getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
                exit(4);
        } else if (lfd >= 0) {
            exit(5); /* a signal: nothing is handed on */
        }
        exit(rc == 1 ? 3 : rc); /* 3: a signal stopped it */
    }
    return pid;
}

static int reap(pid_t pid)
{
    int st;
    ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* A relay's PROXY header (the owner pausing gets these from standbys), then req; its length. */
static size_t relayed(char *out, const char *req, size_t req_len)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5555)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t n = hg_proxyhdr_build((uint8_t *)out, (struct sockaddr *)&a, (struct sockaddr *)&a,
                                 "any secret: the 503 loop only skips it", 38, time(NULL));
    memcpy(out + n, req, req_len);
    return n + req_len;
}

/* The 503s every client of a node that cannot serve gets, in each API's format. */
static void expect_503s(int port, const char *why)
{
    char got[4096];
    ask(port, GAMELIFT_REQ, strlen(GAMELIFT_REQ), got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    ASSERT_NOT_NULL(strstr(got, "\"__type\":\"ServiceUnavailableException\""));
    ASSERT_NOT_NULL(strstr(got, "Retry-After: 1"));
    if (why)
        ASSERT_NOT_NULL(strstr(got, why));
    ask(port, NATIVE_REQ, strlen(NATIVE_REQ), got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    ASSERT_NOT_NULL(strstr(got, "\"code\":\"unavailable\""));
    ask(port, WS_REQ, strlen(WS_REQ), got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    /* a request in pieces: answered once its head is whole */
    int fd = dial(port);
    ASSERT_EQ_INT(write(fd, "GET /v1/ev", 10), 10);
    usleep(50000);
    ASSERT_EQ_INT(write(fd, "ents HTTP/1.1\r\n\r\n", 17), 17);
    ssize_t n = read(fd, got, sizeof(got) - 1);
    ASSERT_TRUE(n > 13 && strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    close(fd);
    /* TLS (a handshake record): closed at once, nothing answered */
    const char hello[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00};
    ASSERT_EQ_INT(ask(port, hello, sizeof(hello), got, sizeof(got)), 0);
    /* the same behind a relay's PROXY header: skipped (the request's format still decides) */
    char msg[HG_PROXYHDR_MAX + sizeof(GAMELIFT_REQ)];
    size_t len = relayed(msg, GAMELIFT_REQ, strlen(GAMELIFT_REQ));
    ask(port, msg, len, got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    ASSERT_NOT_NULL(strstr(got, "\"__type\":\"ServiceUnavailableException\""));
    len = relayed(msg, hello, sizeof(hello));
    ASSERT_EQ_INT(ask(port, msg, len, got, sizeof(got)), 0);
    fd = dial(port); /* the header in pieces too */
    len = relayed(msg, GAMELIFT_REQ, strlen(GAMELIFT_REQ));
    ASSERT_EQ_INT(write(fd, msg, 10), 10);
    usleep(50000);
    ASSERT_EQ_INT(write(fd, msg + 10, len - 10), (ssize_t)(len - 10));
    n = read(fd, got, sizeof(got) - 1);
    ASSERT_TRUE(n > 13 && strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    got[n] = '\0';
    ASSERT_NOT_NULL(strstr(got, "ServiceUnavailableException"));
    close(fd);
}

HG_TEST(a_pause_answers_503_then_stops_on_sigterm)
{
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    hg_config_init(cfg);
    int port = free_port();
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:%d", port);
    pid_t pid = spawn_loop(cfg, 0, 20000);
    expect_503s(port, "hangard cannot serve yet (testing); retry");
    kill(pid, SIGTERM);
    ASSERT_EQ_INT(reap(pid), 3);
    hg_free(cfg);
}

HG_TEST(a_request_in_progress_when_the_pause_ends_is_answered_not_dropped)
{
    /* A client that reached the port just before the loop stops (a pause's end, a takeover)
     * gets its 503; the loop ended by closing it unanswered ("closed without response"). */
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    hg_config_init(cfg);
    int port = free_port();
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:%d", port);
    pid_t pid = spawn_loop(cfg, 0, 400);
    int fd = dial(port);
    ASSERT_EQ_INT(write(fd, "GET /v1/ev", 10), 10);
    usleep(700000); /* the pause is over meanwhile */
    ASSERT_EQ_INT(write(fd, "ents HTTP/1.1\r\n\r\n", 17), 17);
    char got[4096];
    ssize_t n = read(fd, got, sizeof(got) - 1);
    ASSERT_TRUE(n > 13 && strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    close(fd);
    ASSERT_EQ_INT(reap(pid), 0); /* then the port is handed on, listening */
    hg_free(cfg);
}

/* ---- standing by (PostgreSQL: the lease is a row of partitions) ---- */

static PGconn *lease_db(void)
{
    PGconn *db = PQconnectdb(getenv("HG_TEST_PG"));
    ASSERT_TRUE(PQstatus(db) == CONNECTION_OK);
    return db;
}

static void sql(PGconn *db, const char *q)
{
    PGresult *r = PQexec(db, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        HG_FAIL_("%s: %s", q, PQerrorMessage(db));
    PQclear(r);
}

/* Node "other" holds the lease on control (for a minute) at 127.0.0.1:port, or at addr when
 * given: a node starting stands by (it takes every partition or none) and relays there. */
static void hold_lease(PGconn *db, const char *addr, int port)
{
    char q[512], at[64];
    if (addr == NULL)
        snprintf(at, sizeof(at), "127.0.0.1:%d", port);
    sql(db, "CREATE TABLE IF NOT EXISTS partitions(id text COLLATE \"C\" PRIMARY KEY, owner "
            "text NOT NULL, epoch bigint NOT NULL, lease_until timestamptz NOT NULL, addr text)");
    snprintf(q, sizeof(q),
             "INSERT INTO partitions VALUES('control', 'other', 1, clock_timestamp() + interval '1 "
             "minute', '%s') ON CONFLICT(id) DO UPDATE SET addr = excluded.addr, lease_until = "
             "excluded.lease_until",
             addr ? addr : at);
    sql(db, q);
}

#define SECRET "the cluster secret of these tests, 32 bytes or more"

/* The cluster secret the owner created (the standby relays nothing without it). */
static void store_secret(PGconn *db)
{
    sql(db, "CREATE TABLE IF NOT EXISTS hangar_cluster_secret(secret text NOT NULL)");
    sql(db, "DELETE FROM hangar_cluster_secret");
    sql(db, "INSERT INTO hangar_cluster_secret VALUES('" SECRET "')");
}

/* The PROXY header the relay sent first on o, read whole (it is at most HG_PROXYHDR_MAX bytes):
 * it verifies with the secret and names the client at the other end of c. */
static void expect_header(int o, int c)
{
    uint8_t h[HG_PROXYHDR_MAX];
    size_t len = 0;
    int rc = 0;
    const char *why;
    struct sockaddr_storage src;
    while (rc == 0) {
        ssize_t n = read(o, h + len, 1); /* a byte at a time: "ping" stays in the socket */
        ASSERT_EQ_INT(n, 1);
        len++;
        rc = hg_proxyhdr_parse(h, len, SECRET, strlen(SECRET), (int64_t)time(NULL), &src, &why);
    }
    ASSERT_EQ_INT(rc, (int)len);
    struct sockaddr_in me;
    socklen_t mlen = sizeof(me);
    ASSERT_OK(getsockname(c, (struct sockaddr *)&me, &mlen));
    ASSERT_EQ_INT(src.ss_family, AF_INET);
    ASSERT_EQ_INT(((struct sockaddr_in *)&src)->sin_port, me.sin_port);
    ASSERT_EQ_INT(((struct sockaddr_in *)&src)->sin_addr.s_addr, me.sin_addr.s_addr);
}

static pid_t spawn_standby(hg_config_t *cfg, int *port)
{
    hg_config_init(cfg);
    *port = free_port();
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:%d", *port);
    snprintf(cfg->store, sizeof(cfg->store), "%s", getenv("HG_TEST_PG"));
    return spawn_loop(cfg, 1, 0);
}

/* The standby's 503 once it knows the owner (and the owner does not answer). */
static void wait_for_owner_not_answering(int port)
{
    char got[4096];
    for (int i = 0; i < 100; i++) {
        ask(port, GAMELIFT_REQ, strlen(GAMELIFT_REQ), got, sizeof(got));
        ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
        if (strstr(got, "the serving node does not answer"))
            return;
        usleep(50000);
    }
    HG_FAIL_("the standby never found the owner: %s", got);
}

HG_TEST(pg_a_standby_relays_to_the_owner_and_answers_503_once_it_is_gone)
{
    if (!hg_test_pg_begin())
        return;
    PGconn *db = lease_db();
    int owner_port, port;
    int owner = listen_on(&owner_port);
    hold_lease(db, NULL, owner_port);
    store_secret(db);
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    pid_t pid = spawn_standby(cfg, &port);
    /* relayed byte for byte to the owner (once the standby has looked at the lease), after a
     * signed PROXY header naming the client */
    char got[256];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        int c = dial(port);
        ASSERT_EQ_INT(write(c, "ping", 4), 4);
        struct timeval tv = {.tv_usec = 100000};
        setsockopt(owner, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        int o = accept(owner, NULL, NULL);
        if (o < 0) { /* not relayed yet: answered 503 */
            ASSERT_TRUE(read(c, got, sizeof(got)) > 0);
            ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
            close(c);
            continue;
        }
        timeouts(o);
        expect_header(o, c);
        ASSERT_EQ_INT(read(o, got, sizeof(got)), 4);
        ASSERT_TRUE(memcmp(got, "ping", 4) == 0);
        ASSERT_EQ_INT(write(o, "pong", 4), 4);
        ASSERT_EQ_INT(read(c, got, sizeof(got)), 4);
        ASSERT_TRUE(memcmp(got, "pong", 4) == 0);
        close(o);
        fd = c;
    }
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ_INT(read(fd, got, sizeof(got)), 0); /* the owner's close reaches the client */
    close(fd);
    /* the owner is gone (killed before its lease ran out): 503s, not closed connections */
    close(owner);
    wait_for_owner_not_answering(port);
    expect_503s(port, "the serving node does not answer");
    /* the lease runs out: the standby stops so that the daemon takes it */
    sql(db, "UPDATE partitions SET lease_until = clock_timestamp() WHERE id = 'control'");
    ASSERT_EQ_INT(reap(pid), 0);
    PQfinish(db);
    hg_free(cfg);
}

HG_TEST(pg_a_standby_answers_503_when_the_owner_is_unreachable)
{
    if (!hg_test_pg_begin())
        return;
    PGconn *db = lease_db();
    /* TEST-NET-1: unreachable at once here, or no answer within the connect's timeout */
    hold_lease(db, "192.0.2.1:9", 0);
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    int port;
    pid_t pid = spawn_standby(cfg, &port);
    wait_for_owner_not_answering(port);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char got[4096];
    ask(port, NATIVE_REQ, strlen(NATIVE_REQ), got, sizeof(got));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT_NOT_NULL(strstr(got, "\"code\":\"unavailable\""));
    ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 4); /* RELAY_CONNECT_TIMEOUT_MS is 2 s */
    kill(pid, SIGTERM);
    ASSERT_EQ_INT(reap(pid), 3);
    PQfinish(db);
    hg_free(cfg);
}

/* ---- a standby stopping on a signal closes the WebSockets it relays ---- */

#define WS_101                                                                                     \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"            \
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/* what the serving node's WebSockets get when it stops (ws.c), and so the relayed ones */
#define WS_CLOSE_1012                                                                              \
    "\x88\x13\x03\xf4"                                                                             \
    "server restarting"

/* Exactly n bytes from fd. */
static void read_n(int fd, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, out + got, n - got);
        if (k <= 0)
            HG_FAIL_("read %zu of %zu bytes, then %s", got, n, k == 0 ? "EOF" : strerror(errno));
        got += (size_t)k;
    }
}

/* Everything until the other side ends (not resets, not times out); its length. */
static size_t read_to_end(int fd, char *out, size_t cap)
{
    size_t len = 0;
    ssize_t k;
    while (len < cap && (k = read(fd, out + len, cap - len)) > 0)
        len += (size_t)k;
    if (k < 0)
        HG_FAIL_("reading to the end: %s after %zu bytes", strerror(errno), len);
    return len;
}

/* A connection the standby at port relays to owner (waiting until it knows the owner: 503s
 * before), whose client sent req and whose owner answered `answer` (len bytes), all of which
 * reached the client. The client's socket; the owner's in *o. */
static int relay_open(int owner, int port, const char *req, const char *answer, size_t len, int *o)
{
    char got[4096];
    for (int i = 0; i < 100; i++) {
        int c = dial(port);
        ASSERT_EQ_INT(write(c, req, strlen(req)), (ssize_t)strlen(req));
        struct timeval tv = {.tv_usec = 100000};
        setsockopt(owner, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        *o = accept(owner, NULL, NULL);
        if (*o < 0) { /* not relayed yet: answered 503 */
            ASSERT_TRUE(read(c, got, sizeof(got)) > 0);
            ASSERT_TRUE(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
            close(c);
            continue;
        }
        timeouts(*o);
        expect_header(*o, c);
        read_n(*o, got, strlen(req));
        ASSERT_TRUE(memcmp(got, req, strlen(req)) == 0);
        ASSERT_EQ_INT(write(*o, answer, len), (ssize_t)len);
        read_n(c, got, len);
        ASSERT_TRUE(memcmp(got, answer, len) == 0);
        return c;
    }
    HG_FAIL_("the standby never relayed to the owner");
}

HG_TEST(pg_a_standby_stopping_closes_relayed_websockets_between_two_frames)
{
    if (!hg_test_pg_begin())
        return;
    PGconn *db = lease_db();
    int owner_port, port;
    int owner = listen_on(&owner_port);
    hold_lease(db, NULL, owner_port);
    store_secret(db);
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    pid_t pid = spawn_standby(cfg, &port);
    /* a: between two frames (a text frame "hi" has passed) */
    static const char a_ans[] = WS_101 "\x81\x02hi";
    int o_a, a = relay_open(owner, port, WS_REQ, a_ans, sizeof(a_ans) - 1, &o_a);
    /* b: in a frame ("hello", then 6 of a binary frame's 10 payload bytes) that ends after the
     * signal, with another frame behind it */
    static const char b_ans[] = WS_101 "\x81\x05hello\x82\x0a"
                                       "0123";
    int o_b, b = relay_open(owner, port, WS_REQ, b_ans, sizeof(b_ans) - 1, &o_b);
    /* c: in a frame (4 of 256 payload bytes, a 16-bit length) that never ends */
    static const char c_ans[] = WS_101 "\x82\x7e\x01\x00"
                                       "0123";
    int o_c, c = relay_open(owner, port, WS_REQ, c_ans, sizeof(c_ans) - 1, &o_c);
    /* d: not a WebSocket (half an HTTP answer) */
    static const char d_ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
    int o_d, d = relay_open(owner, port, NATIVE_REQ, d_ans, sizeof(d_ans) - 1, &o_d);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    char got[1024];
    /* a: the close frame, then the end (its side shut after it) */
    size_t n = read_to_end(a, got, sizeof(got));
    ASSERT_EQ_INT(n, sizeof(WS_CLOSE_1012) - 1);
    ASSERT_TRUE(memcmp(got, WS_CLOSE_1012, n) == 0);
    /* what the client sends meanwhile (its close frame) is dropped: the owner's socket ends */
    static const char masked_close[] = "\x88\x82\x00\x00\x00\x00\x03\xf4";
    ASSERT_EQ_INT(write(a, masked_close, 8), 8);
    close(a);
    ASSERT_EQ_INT(read(o_a, got, sizeof(got)), 0);
    /* d: closed at once, as before */
    ASSERT_EQ_INT(read_to_end(d, got, sizeof(got)), 0);
    /* b: the rest of its frame, not the frame after it, then the close frame */
    static const char b_rest[] = "456789\x81\x04late";
    ASSERT_EQ_INT(write(o_b, b_rest, sizeof(b_rest) - 1), (ssize_t)(sizeof(b_rest) - 1));
    n = read_to_end(b, got, sizeof(got));
    ASSERT_EQ_INT(n, 6 + sizeof(WS_CLOSE_1012) - 1);
    ASSERT_TRUE(memcmp(got, "456789", 6) == 0);
    ASSERT_TRUE(memcmp(got + 6, WS_CLOSE_1012, n - 6) == 0);
    close(b);
    ASSERT_EQ_INT(read(o_b, got, sizeof(got)), 0);
    /* c: cut where its frame stands once STOP_DRAIN_MS (1 s) is over: no close frame inside a
     * frame's payload */
    ASSERT_EQ_INT(read_to_end(c, got, sizeof(got)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ASSERT_TRUE(s > 0.5 && s < 3);
    ASSERT_EQ_INT(reap(pid), 3);
    close(c);
    close(d);
    close(o_c);
    close(o_d);
    close(owner);
    PQfinish(db);
    hg_free(cfg);
}

/* The cluster secret: made by the first node to open the store, then the same for every open
 * (and in the row a standby reads). */
static size_t open_read_secret(char out[HG_STORE_PG_SECRET_MAX + 1])
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    hg_store_t *s = NULL;
    hg_error_t err;
    hg_store_postgres_configure("node-a", "127.0.0.1:1", 60000);
    ASSERT_OK(hg_store_open(&loop, &hg_store_postgres, getenv("HG_TEST_PG"), 8, &s, &err));
    size_t len = hg_store_postgres_secret(out);
    hg_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    return len;
}

HG_TEST(pg_the_cluster_secret_is_made_once_and_shared)
{
    if (!hg_test_pg_begin())
        return;
    char first[HG_STORE_PG_SECRET_MAX + 1], again[HG_STORE_PG_SECRET_MAX + 1];
    ASSERT_EQ_INT(open_read_secret(first), 64); /* 32 random bytes, as hex */
    ASSERT_EQ_INT(open_read_secret(again), 64);
    ASSERT_STR_EQ(again, first);
    PGconn *db = lease_db();
    PGresult *r = PQexec(db, HG_STORE_PG_SECRET_SQL);
    ASSERT_EQ_INT(PQntuples(r), 1);
    ASSERT_STR_EQ(PQgetvalue(r, 0, 0), first);
    PQclear(r);
    /* a secret an operator set (any text of 32 bytes or more) is the one read */
    sql(db, "UPDATE hangar_cluster_secret SET secret = '" SECRET "'");
    ASSERT_EQ_INT(open_read_secret(again), strlen(SECRET));
    ASSERT_STR_EQ(again, SECRET);
    PQfinish(db);
}

/* The owner would close a relay without a signed header: a standby that cannot read the cluster
 * secret relays nothing and answers 503 (its owner, reachable, never sees a connection). */
HG_TEST(pg_a_standby_without_the_cluster_secret_relays_nothing)
{
    if (!hg_test_pg_begin())
        return;
    PGconn *db = lease_db();
    int owner_port, port;
    int owner = listen_on(&owner_port);
    hold_lease(db, NULL, owner_port);
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    pid_t pid = spawn_standby(cfg, &port);
    wait_for_owner_not_answering(port);
    struct timeval tv = {.tv_usec = 100000};
    setsockopt(owner, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ASSERT_TRUE(accept(owner, NULL, NULL) < 0);
    close(owner);
    kill(pid, SIGTERM);
    ASSERT_EQ_INT(reap(pid), 3);
    PQfinish(db);
    hg_free(cfg);
}

HG_SUITE(interim) = {
    HG_CASE(postgres_connections_have_a_connect_timeout),
    HG_CASE(reply_in_the_api_s_own_format),
    HG_CASE(a_pause_answers_503_then_stops_on_sigterm),
    HG_CASE(a_request_in_progress_when_the_pause_ends_is_answered_not_dropped),
    HG_CASE(pg_a_standby_relays_to_the_owner_and_answers_503_once_it_is_gone),
    HG_CASE(pg_a_standby_answers_503_when_the_owner_is_unreachable),
    HG_CASE(pg_a_standby_without_the_cluster_secret_relays_nothing),
    HG_CASE(pg_a_standby_stopping_closes_relayed_websockets_between_two_frames),
    HG_CASE(pg_the_cluster_secret_is_made_once_and_shared),
    HG_CASE_END,
};
