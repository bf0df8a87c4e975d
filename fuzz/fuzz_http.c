/* hangar — libFuzzer driver for the HTTP request path: HTTP/1.1 parsing, SigV4, JSON parsing,
 * model validation and the FleetIQ handlers, through the real server on a loopback socket.
 *
 * Input, first byte:
 *   even: the rest is raw bytes sent as they are (framing, headers, limits, SigV4 parsing);
 *   odd:  the rest is "<Operation>\n<body>": the driver sends POST / with X-Amz-Target
 *         GameLift.<Operation>, the body, and a valid SigV4 signature by the admin key, so the
 *         input reaches JSON parsing, validation and the handlers.
 * The store lives in a temporary directory under /dev/shm (tmpfs) so fsync is cheap.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "auth/sigv4.h"
#include "core/buf.h"
#include "core/log.h"
#include "fuzz.h"

static uv_loop_t loop;
static hg_clock_t clock_;
static hg_store_t *store;
static hg_keys_t *keys;
static hg_fleetiq_t *fq;
static hg_api_t api;
static hg_http_server_t *srv;
static int port;

static void init(void)
{
    hg_log_level = HG_LOG_ERROR;
    uv_loop_init(&loop);
    hg_clock_init_real(&clock_);
    char dir[] = "/dev/shm/hg-fuzz-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    hg_error_t err;
    if (hg_store_open(&loop, &hg_store_sqlite, dir, 64, &store, &err) < 0)
        abort();
    keys = hg_keys_new(store, &clock_);
    const hg_key_t *admin;
    int created;
    if (hg_keys_bootstrap_admin(keys, "AKIDFUZZ", "fuzzsecret", &admin, &created, &err) < 0)
        abort();
    hg_fq_config_t cfg = {.health_window_ms = 180000,
                          .deregister_after_ms = 180000,
                          .region = "us-east-1",
                          .account = "000000000000"};
    fq = hg_fleetiq_new(&clock_, store, &cfg);
    api = (hg_api_t){.loop = &loop,
                     .clock = &clock_,
                     .store = store,
                     .keys = keys,
                     .fleetiq = fq,
                     .sigv4_skew_s = 300};
    hg_http_limits_t lim = hg_fuzz_http_limits();
    hg_http_server_new(&loop, &lim, hg_api_handle, &api, &srv);
    if (hg_http_server_listen(srv, "127.0.0.1", 0) < 0)
        abort();
    port = hg_http_server_port(srv);
}

static void signed_request(hg_buf_t *out, const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t oplen = nl ? (size_t)(nl - (const char *)data) : size;
    const char *body = nl ? nl + 1 : "";
    size_t blen = nl ? size - oplen - 1 : 0;
    if (oplen > 64)
        oplen = 64;
    char target[96], host[32], amz_date[17];
    snprintf(target, sizeof(target), "GameLift.%.*s", (int)oplen, (const char *)data);
    for (char *p = target; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '_';
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    hg_sigv4_header_t h[4] = {
        {"content-type", 12, "application/x-amz-json-1.1", 26},
        {"host", 4, host, strlen(host)},
        {"x-amz-date", 10, amz_date, 16},
        {"x-amz-target", 12, target, strlen(target)},
    };
    hg_sigv4_request_t r = {.method = "POST",
                            .path = "/",
                            .path_len = 1,
                            .query = "",
                            .query_len = 0,
                            .headers = h,
                            .nheaders = 4,
                            .body = body,
                            .body_len = blen};
    char auth[512];
    if (hg_sigv4_sign(&r, "AKIDFUZZ", "fuzzsecret", "us-east-1", "gamelift", amz_date, auth,
                      sizeof(auth)) < 0)
        abort();
    hg_buf_printf(out,
                  "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  "X-Amz-Date: %s\r\nX-Amz-Target: %s\r\nAuthorization: %s\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  host, amz_date, target, auth, blen);
    hg_buf_append(out, body, blen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        init();
    if (size == 0)
        return 0;
    hg_buf_t req;
    hg_buf_init(&req);
    if (data[0] & 1)
        signed_request(&req, data + 1, size - 1);
    else
        hg_buf_append(&req, data + 1, size - 1);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fcntl(fd, F_SETFL, O_NONBLOCK);
    connect(fd, (struct sockaddr *)&a, sizeof(a)); /* EINPROGRESS on loopback */
    size_t off = 0;
    int closed = 0;
    char buf[65536];
    for (int i = 0; i < 100000 && !closed; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (off < req.len) {
            ssize_t w = write(fd, req.data + off, req.len - off);
            if (w > 0)
                off += (size_t)w;
            if (off == req.len)
                shutdown(fd, SHUT_WR);
        }
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINPROGRESS && errno != ENOTCONN))
            closed = 1;
    }
    close(fd);
    /* let the server notice and finish any commit in flight */
    for (int i = 0; i < 1000; i++) {
        hg_store_stats_t st;
        hg_store_stats(store, &st);
        if (st.inflight == 0 && hg_http_server_conns(srv) == 0)
            break;
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10);
    }
    hg_buf_free(&req);
    return 0;
}
