/* hangar — libFuzzer driver for the WebSocket layer: arbitrary client→server bytes after a valid
 * handshake, through the real HTTP server and hg_ws on a loopback socket.
 *
 * Input, first byte (flags):
 *   0x01 the application echoes every message
 *   0x02 the application closes (code from the message) after the first message
 *   0x04 small limits (max_message 256, send queue 2 KiB / 8 messages) instead of 64 KiB
 *   0x08 the application sends until HG_ELIMIT on every message (queue-cap path)
 *   0x10 framed: the rest is records [opcode byte][length byte][payload] that the driver turns
 *        into masked frames (length byte 255: the next two bytes give a 16-bit length), so the
 *        fuzzer reaches fragmentation, control frames and UTF-8 without guessing masks;
 *        otherwise the rest is sent as it is.
 * Checked on every run: a message is within max_message, text is valid UTF-8, the send queue
 * stays bounded, on_close runs exactly once per accepted connection, and the connection goes
 * away (no hang, nothing left open).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/log.h"
#include "fuzz.h"
#include "http/http.h"
#include "ws/ws.h"

static uv_loop_t loop;
static hg_http_server_t *srv;
static int port;
static unsigned flags;
static hg_ws_limits_t lim;
static int accepted, closed;

static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void on_message(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len)
{
    (void)ud;
    if (len > lim.max_message)
        abort();
    if (!binary && !utf8_ok((const unsigned char *)data, len))
        abort();
    if (flags & 0x01)
        hg_ws_send(ws, binary, data, len);
    if (flags & 0x08) {
        int n = 0;
        while (hg_ws_send(ws, 1, data, len) == 0 && ++n < 100000)
            ;
        if (n == 100000)
            abort(); /* the queue cap did not hold */
    }
    if (hg_ws_queued_bytes(ws) > HG_WS_TURN_FACTOR * lim.max_queue_bytes + 64 * 1024)
        abort();
    if (flags & 0x02)
        hg_ws_close(ws, len >= 2 ? ((unsigned char)data[0] << 8 | (unsigned char)data[1]) : 1000,
                    len > 2 && !binary ? data + 2 : NULL);
}

static void on_close(hg_ws_t *ws, void *ud, int code)
{
    (void)ws, (void)ud;
    if (code < 1000 || code > 4999)
        abort();
    closed++;
}

static const hg_ws_cb_t cbs = {on_message, on_close, NULL};

static void handler(hg_http_req_t *req, void *ud)
{
    (void)ud;
    hg_error_t err;
    hg_ws_t *ws;
    if (hg_ws_accept(req, &lim, "fuzz", &cbs, NULL, &ws, &err) < 0) {
        hg_http_respond(req, 400, "text/plain", NULL, err.msg, strlen(err.msg));
        return;
    }
    accepted++;
}

static void init(void)
{
    hg_log_level = HG_LOG_ERROR;
    uv_loop_init(&loop);
    hg_http_limits_t hl = hg_fuzz_http_limits();
    hg_http_server_new(&loop, &hl, handler, NULL, &srv);
    if (hg_http_server_listen(srv, "127.0.0.1", 0) < 0)
        abort();
    port = hg_http_server_port(srv);
}

static void masked(hg_buf_t *b, unsigned op, const uint8_t *p, size_t len)
{
    unsigned char h[8];
    size_t n = 0;
    h[n++] = (unsigned char)op;
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else {
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    }
    hg_buf_append(b, h, n);
    static const unsigned char key[4] = {0xa5, 0x01, 0x7e, 0xc3};
    hg_buf_append(b, key, 4);
    for (size_t i = 0; i < len; i++) {
        unsigned char x = p[i] ^ key[i % 4];
        hg_buf_append(b, &x, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        init();
    if (size == 0)
        return 0;
    flags = data[0];
    data++, size--;
    if (flags & 0x04)
        lim = (hg_ws_limits_t){.max_message = 256,
                               .max_queue_bytes = 2048,
                               .max_queue_msgs = 8,
                               .close_timeout_ms = 200};
    else
        lim = (hg_ws_limits_t){.max_message = 65536,
                               .max_queue_bytes = 65536,
                               .max_queue_msgs = 256,
                               .close_timeout_ms = 200};
    accepted = closed = 0;

    hg_buf_t req;
    hg_buf_init(&req);
    hg_buf_puts(&req, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: fuzz\r\n\r\n");
    if (flags & 0x10) {
        size_t i = 0;
        while (i + 2 <= size) {
            unsigned op = data[i];
            size_t len = data[i + 1];
            i += 2;
            if (len == 255 && i + 2 <= size) {
                len = (size_t)data[i] << 8 | data[i + 1];
                i += 2;
            }
            if (len > size - i)
                len = size - i;
            masked(&req, op, data + i, len);
            i += len;
        }
    } else {
        hg_buf_append(&req, data, size);
    }

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fcntl(fd, F_SETFL, O_NONBLOCK);
    connect(fd, (struct sockaddr *)&a, sizeof(a)); /* EINPROGRESS on loopback */
    size_t off = 0;
    int eof = 0;
    char buf[65536];
    for (int i = 0; i < 100000 && !eof; i++) {
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
            eof = 1;
    }
    close(fd);
    /* the server notices at once, or at the latest when the close timeout ends it */
    uv_update_time(&loop);
    uint64_t until = uv_now(&loop) + 3000;
    while ((hg_http_server_conns(srv) > 0 || closed < accepted) && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_update_time(&loop);
    }
    if (hg_http_server_conns(srv) > 0 || closed != accepted)
        abort(); /* a connection outlived its peer, or on_close did not run exactly once */
    hg_buf_free(&req);
    return 0;
}
