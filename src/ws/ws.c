/* hangar — WebSocket server side on an upgraded HTTP connection (see ws.h).
 *
 * DESIGN
 * - wslay is driven the h2o way (h2o lib/websocket.c, STYLE.md rule 15): its recv callback feeds
 *   from `in` (the bytes on_data handed us), its send callback appends frames to `out`, and
 *   proceed() pumps wslay_event_send/recv until neither makes progress, then issues ONE
 *   hg_http_conn_write() of `out` and pauses or resumes reading from wslay_event_want_read() and
 *   the send-queue level.
 * - A write first tries the kernel directly (hg_http_conn_try_write): most often it takes all of
 *   `out`, and there is no copy, no write request and no drain callback to run (on_drain, if the
 *   application has one, then comes from the pump). What it does not take is queued as below.
 * - One write in flight per connection: the send callback would-blocks while the connection has
 *   bytes being written or `out` holds WRITE_MAX bytes; the next batch leaves when the
 *   connection's on_drain says the write finished. Messages sent meanwhile wait in wslay's queue
 *   (bounded by max_queue_bytes/msgs), so N sends cost one write, not N.
 * - hg_ws_send() frames a message straight into `out` when wslay has nothing queued (no
 *   message half sent, no control frame waiting) and `out` is under WRITE_MAX; otherwise it
 *   queues it in wslay behind what is there. Either way frames leave in the order they were
 *   sent, and a fan-out of one message to N connections is N appends, not N copies into wslay
 *   and N more out of it. `out` may then hold bytes while a write is in flight: they leave with
 *   the next write, on drain.
 * - Sends made outside proceed() (timers, another connection's message, lane completions) only
 *   queue (into wslay or `out`) and start a uv_idle handle: the pump runs before the loop next
 *   blocks in poll (Redis's beforeSleep → handleClientsWithPendingWrites), so a burst is one
 *   write per turn. An idle handle rather than a prepare: a send made during the idle or
 *   prepare phase (another connection's pump, the HTTP server's flushers) starts a handle that
 *   phase will not run, and an active idle handle at least keeps the coming poll from
 *   blocking, so the pump runs in the next turn instead of after the next I/O event.
 *   Sends made from on_message are pumped by the proceed() already running.
 * - Reassembly is ours (wslay's no-buffering mode): fragments are appended to `msg` as their
 *   bytes arrive, after checking at each frame header that the message stays within max_message.
 *   Memory follows the bytes received, not the length a header announces, and goes through
 *   hg_malloc. wslay still checks masking, opcodes, fragment order, UTF-8 of text and close
 *   reasons, and close codes, and answers pings and closes by itself.
 * - Frame headers are also read by us, as the bytes are handed to wslay (rx_take): wslay 1.1.1
 *   answers the errors it finds while parsing a header (a fragmented control frame, a control
 *   frame over 125 bytes, a length with the top bit set or not in its shortest form) with a close
 *   frame that carries NO status code. rx_take finds those first, plus a close frame with a
 *   1-byte payload (which wslay takes as a close without a code), and fails the connection with
 *   1002 before wslay sees the header, so wslay's own close is never queued. To keep "first"
 *   true, one recv callback never hands bytes past the end of the current frame: when wslay asks
 *   for the next frame's first bytes, every earlier frame has been delivered.
 * - Receive backpressure: while the send queue is over half its caps the recv callback
 *   would-blocks (a peer that floods pings or requests without reading the answers cannot grow
 *   the queue: wslay queues pongs by itself) and reading on the connection is paused, so unread
 *   bytes stay in the kernel. Bytes already handed to us wait in `in` (at most one read).
 * - Close order: a close asked by the application (or the server stop, with 1012 so that clients
 *   reconnect when it is a restart) waits until the messages queued before it are out (wslay
 *   would otherwise send the close frame first and drop them); a close for a protocol error goes
 *   first.
 * - Timers: one uv_timer per connection, re-armed lazily: on_data (and, while the peer is not
 *   read for backpressure, finished writes) only stamp `alive_ms`; when the timer fires it computes
 * the next deadline (ping, pong, close) and re-arms. Network keepalive reads uv_now(), not the
 * injected clock (no domain state here).
 * - Memory outside hg_malloc: wslay's context, its copies of queued messages (bounded by
 *   max_queue_bytes) and control frames (125 bytes).
 * - Parking: wslay's context is 8.8 KB (two 4 KiB buffers), most of what a connection costs, so
 *   an idle connection keeps none (ctx NULL, "parked"; 100,000 idle room clients must fit in
 *   1 GiB). A connection starts parked; ctx_get() makes the context when wslay is needed: bytes
 *   from the peer other than a pong, a send that must queue behind others, a close. When the
 *   ping falls due (the peer silent for ping_interval_ms) and nothing is in flight — no frame or
 *   fragmented message half received, nothing queued in wslay, no close — the context is freed
 *   and the ping is framed into `out` by us. The pong that answers it is read by us too
 *   (park_read: a whole masked pong at the front of `in`), so an idle connection stays parked
 *   through its pings. Everything else reaching a parked connection unparks it first, at a
 *   frame boundary, so wslay sees the same byte stream it would have.
 *
 * States:
 *
 *     OPEN ──close asked / peer's close / protocol error / server stop / ping timeout──▶ CLOSING
 *     CLOSING ──close done both ways (or reading shut) and last bytes handed over──▶ SHUT
 *     CLOSING ──close_timeout_ms──▶ SHUT (TCP closed at once)
 *     any ──connection gone (on_conn_closed)──▶ DONE: on_close(code), handles closed, freed
 *
 *     | event                                 | function         | effect                       |
 *     |---------------------------------------|------------------|------------------------------|
 *     | bytes from the peer                   | on_conn_data     | buffer, proceed              |
 *     | message complete                      | on_msg_recv      | on_message (OPEN only)       |
 *     | peer's close frame                    | on_msg_recv      | CLOSING; wslay queues echo   |
 *     | message over max_message              | on_frame_start   | fail: CLOSING, close 1009    |
 *     | bad frame header (see DESIGN)         | rx_take          | fail: CLOSING, close 1002    |
 *     | wslay saw a protocol error            | proceed          | CLOSING, close 1002/1007/... |
 *     | application close / server stop       | hg_ws_close      | CLOSING, close after queue   |
 *     | write finished                        | on_conn_drain    | proceed, on_drain; SHUT when |
 *     |                                       |                  | both closes are done         |
 *     | ping due / pong late / close late     | on_timer         | ping / drop / TCP close      |
 *     | connection closed                     | on_conn_closed   | DONE, on_close, free         |
 */
#include "ws/ws.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WRITE_MAX (256u * 1024) /* bytes of frames per write */
#define BUF_KEEP (16u * 1024)   /* `out` and `msg` capacity kept between uses */
#define REASON_MAX 123          /* close reason bytes: 125 minus the code */
#define SUBPROTO_MAX 128
/* IANA's 1012 "Service Restart" (wslay names no code above 1011): the peer should reconnect. The
 * GameLift server SDKs take 1000/1001 as "done" and never come back. */
#define CODE_SERVICE_RESTART 1012
#define SHUTDOWN_CLOSE_WAIT_MS 1000 /* the close handshake at server stop, at most */

enum { WS_OPEN, WS_CLOSING, WS_SHUT, WS_DONE };

struct hg_ws {
    hg_http_conn_t *conn; /* NULL once gone */
    uv_loop_t *loop;
    wslay_event_context_ptr ctx;
    hg_ws_limits_t lim;
    hg_ws_cb_t cb;
    void *ud;
    int state;
    int close_code;    /* reported to on_close; 0 until known */
    int accepting;     /* inside hg_ws_accept: buffer only */
    int in_proceed;    /* proceed() on the stack */
    int rx_ctrl;       /* the frame being received is a control frame */
    int rx_drop;       /* reading failed: drop whatever wslay still delivers */
    int rx_paused;     /* reading paused for backpressure (for the metric) */
    int ping_out;      /* a ping was sent and nothing heard since */
    int pong_grace;    /* the pong deadline passed once: look again after one poll */
    int close_pending; /* application close waiting for the queue to empty */
    int rx_frag;       /* a data message's first frame came without FIN: more to come */
    int parked;        /* counted in m.parked: no wslay context (see DESIGN) */
    int drain_due;     /* a write went straight to the kernel: on_drain from the pump */
    uint16_t pending_code;
    size_t pending_reason_len;
    char pending_reason[REASON_MAX + 1];
    hg_buf_t in; /* bytes from the peer not yet given to wslay, from in_off */
    size_t in_off;
    hg_buf_t out; /* frames for the next write */
    hg_buf_t msg; /* message being reassembled */
    /* rx_take: the header of the frame being handed to wslay, or how much of its payload is left */
    uint8_t rx_hdr[14];
    uint8_t rx_hn;     /* header bytes seen */
    uint8_t rx_need;   /* header length once its first 2 bytes are seen (0 before) */
    int rx_in_payload; /* the header is done: rx_left payload bytes to go */
    uint64_t rx_left;
    uv_timer_t timer;
    uv_idle_t pump;
    size_t out_hdr;    /* frame header bytes hg_ws_send() put in `out` (not counted as queued) */
    size_t out_msgs;   /* messages hg_ws_send() framed into `out`, not yet handed to the conn */
    int handles;       /* uv handles not yet closed */
    uint64_t alive_ms; /* uv_now() of the last sign of life */
    uint64_t ping_ms;
    uint64_t close_by_ms;
    char peer[64];
};

/* ---- metrics (loop thread) ---- */

#define NCODES 17 /* 1000..1015, then "other" */

static struct {
    int registered;
    uint64_t open, accepted, rejected, msgs_in, msgs_out, bytes_in, bytes_out, writes, queue_full,
        read_paused, ping_timeouts, parked, parks;
    uint64_t closes[NCODES];
} m;

static void render(hg_buf_t *out, void *ud)
{
    (void)ud;
    hg_buf_printf(out,
                  "# HELP hangar_ws_connections Open WebSocket connections.\n"
                  "# TYPE hangar_ws_connections gauge\nhangar_ws_connections %llu\n"
                  "# HELP hangar_ws_handshakes_total WebSocket handshakes by outcome.\n"
                  "# TYPE hangar_ws_handshakes_total counter\n"
                  "hangar_ws_handshakes_total{result=\"accepted\"} %llu\n"
                  "hangar_ws_handshakes_total{result=\"rejected\"} %llu\n",
                  (unsigned long long)m.open, (unsigned long long)m.accepted,
                  (unsigned long long)m.rejected);
    hg_buf_printf(
        out,
        "# HELP hangar_ws_messages_total Messages received (in) and queued to send "
        "(out).\n"
        "# TYPE hangar_ws_messages_total counter\n"
        "hangar_ws_messages_total{dir=\"in\"} %llu\n"
        "hangar_ws_messages_total{dir=\"out\"} %llu\n"
        "# HELP hangar_ws_bytes_total Message payload bytes received (in) and queued "
        "to send (out).\n"
        "# TYPE hangar_ws_bytes_total counter\n"
        "hangar_ws_bytes_total{dir=\"in\"} %llu\nhangar_ws_bytes_total{dir=\"out\"} %llu\n",
        (unsigned long long)m.msgs_in, (unsigned long long)m.msgs_out,
        (unsigned long long)m.bytes_in, (unsigned long long)m.bytes_out);
    hg_buf_printf(out,
                  "# HELP hangar_ws_writes_total Writes to WebSocket connections (each carries "
                  "every frame queued since the previous one).\n"
                  "# TYPE hangar_ws_writes_total counter\nhangar_ws_writes_total %llu\n"
                  "# HELP hangar_ws_send_queue_full_total Sends refused: the send queue was "
                  "full.\n"
                  "# TYPE hangar_ws_send_queue_full_total counter\n"
                  "hangar_ws_send_queue_full_total %llu\n"
                  "# HELP hangar_ws_read_paused_total Times a peer stopped being read because "
                  "its send queue was over half full.\n"
                  "# TYPE hangar_ws_read_paused_total counter\nhangar_ws_read_paused_total %llu\n"
                  "# HELP hangar_ws_ping_timeouts_total Peers dropped for not answering a ping.\n"
                  "# TYPE hangar_ws_ping_timeouts_total counter\n"
                  "hangar_ws_ping_timeouts_total %llu\n"
                  "# HELP hangar_ws_parked_connections Open connections holding no WebSocket "
                  "parser context (idle).\n"
                  "# TYPE hangar_ws_parked_connections gauge\n"
                  "hangar_ws_parked_connections %llu\n"
                  "# HELP hangar_ws_parks_total Times an idle connection's context was freed.\n"
                  "# TYPE hangar_ws_parks_total counter\nhangar_ws_parks_total %llu\n",
                  (unsigned long long)m.writes, (unsigned long long)m.queue_full,
                  (unsigned long long)m.read_paused, (unsigned long long)m.ping_timeouts,
                  (unsigned long long)m.parked, (unsigned long long)m.parks);
    hg_buf_puts(out, "# HELP hangar_ws_closes_total Closed WebSocket connections by close code.\n"
                     "# TYPE hangar_ws_closes_total counter\n");
    for (int i = 0; i < NCODES; i++) {
        if (m.closes[i] == 0)
            continue;
        if (i < NCODES - 1)
            hg_buf_printf(out, "hangar_ws_closes_total{code=\"%d\"} %llu\n", 1000 + i,
                          (unsigned long long)m.closes[i]);
        else
            hg_buf_printf(out, "hangar_ws_closes_total{code=\"other\"} %llu\n",
                          (unsigned long long)m.closes[i]);
    }
}

/* ---- helpers ---- */

/* Whether [p, p+n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p, *e = s + n;
    while (s < e) {
        while (e - s >= 8) { /* ASCII runs, 8 bytes at a time */
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ull)
                break;
            s += 8;
        }
        if (s == e)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        } else {
            return 0;
        }
        if ((size_t)(e - s) <= need || s[1] < lo || s[1] > hi)
            return 0;
        for (size_t i = 2; i <= need; i++)
            if ((s[i] & 0xC0) != 0x80)
                return 0;
        s += need + 1;
    }
    return 1;
}

/* Whether a comma-separated header value lists tok. */
static int has_token(const hg_http_header_t *h, const char *tok, int icase)
{
    if (h == NULL)
        return 0;
    size_t tl = strlen(tok);
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl &&
            (icase ? strncasecmp(s, tok, tl) == 0 : memcmp(s, tok, tl) == 0))
            return 1;
    }
    return 0;
}

/* The header's value without surrounding blanks. */
static const char *trimmed(const hg_http_header_t *h, size_t *len)
{
    const char *s = h->value, *e = h->value + h->value_len;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *len = (size_t)(e - s);
    return s;
}

/* 16 bytes in base64: 22 alphabet characters and "==". */
static int key_valid(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

/* Sec-WebSocket-Accept for a 24-byte key: base64(SHA-1(key + GUID)), 28 characters. */
static int accept_key(const char *key, char out[29])
{
    unsigned char src[24 + sizeof(WS_GUID) - 1], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    memcpy(src, key, 24);
    memcpy(src + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(src, sizeof(src), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return HG_EINTERNAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

static int code_sendable(int c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static size_t in_avail(const hg_ws_t *ws)
{
    return ws->in.len - ws->in_off;
}

static int writing(const hg_ws_t *ws)
{
    return ws->conn != NULL && hg_http_conn_write_queue(ws->conn) > 0;
}

static size_t queued(const hg_ws_t *ws)
{
    size_t n =
        (ws->ctx ? wslay_event_get_queued_msg_length(ws->ctx) : 0) + ws->out.len - ws->out_hdr;
    if (ws->conn)
        n += hg_http_conn_write_queue(ws->conn);
    return n;
}

/* Over half the send caps: stop taking input from the peer. */
static int rx_blocked(const hg_ws_t *ws)
{
    return queued(ws) > ws->lim.max_queue_bytes / 2 ||
           (ws->ctx && wslay_event_get_queued_msg_count(ws->ctx) > ws->lim.max_queue_msgs / 2);
}

/* Messages queued in wslay (none while parked). */
static size_t wslay_queued(const hg_ws_t *ws)
{
    return ws->ctx ? wslay_event_get_queued_msg_count(ws->ctx) : 0;
}

static int ctx_get(hg_ws_t *ws);

static void arm_timer(hg_ws_t *ws);

static void enter_closing(hg_ws_t *ws)
{
    if (ws->state != WS_OPEN)
        return;
    ws->state = WS_CLOSING;
    ws->close_by_ms = uv_now(ws->loop) + ws->lim.close_timeout_ms;
    arm_timer(ws);
}

/* A sign of life from the peer. Re-arms the timer only when it answers a ping (the deadline
 * then moves from the pong's to the next ping's), not for every message. */
static void heard(hg_ws_t *ws)
{
    ws->alive_ms = uv_now(ws->loop);
    if (ws->ping_out) {
        ws->ping_out = 0;
        ws->pong_grace = 0;
        arm_timer(ws);
    }
}

static void note_code(hg_ws_t *ws, int code)
{
    if (ws->close_code == 0)
        ws->close_code = code;
}

/* The peer broke the protocol (or a limit): close with code now, ahead of queued messages, and
 * read nothing more. */
static void fail(hg_ws_t *ws, int code)
{
    if (ctx_get(ws) == 0) {
        wslay_event_queue_close(ws->ctx, (uint16_t)code, NULL, 0); /* no-op if one is queued */
        wslay_event_shutdown_read(ws->ctx);
    }
    ws->rx_drop = 1;
    ws->close_pending = 0;
    note_code(ws, code);
    enter_closing(ws);
}

/* ---- wslay callbacks ---- */

/* Follow the frames in the n bytes at p (the next ones for wslay) and return how many of them may
 * be handed over now: up to the end of the current frame at most (see DESIGN). Returns 0 when a
 * frame header breaks the protocol in a way wslay would answer without a close code: the
 * connection is then failed with 1002 and wslay is given nothing more. The checks are wslay's
 * (lib/wslay_frame.c), made as soon as wslay could make them, plus the 1-byte close payload. */
static size_t rx_take(hg_ws_t *ws, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (ws->rx_in_payload) {
            size_t k = n - i;
            if (k > ws->rx_left)
                k = (size_t)ws->rx_left;
            i += k;
            ws->rx_left -= k;
            if (ws->rx_left == 0) {
                ws->rx_in_payload = 0;
                return i; /* the frame ends here */
            }
            continue;
        }
        ws->rx_hdr[ws->rx_hn++] = p[i++];
        uint8_t b0 = ws->rx_hdr[0], len7 = ws->rx_hdr[1] & 0x7f;
        size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        if (ws->rx_hn == 2) {
            int op = b0 & 0x0f;
            if (wslay_is_ctrl_frame(op) && (len7 > 125 || !(b0 & 0x80)))
                goto bad; /* a control frame is short and never fragmented */
            if (op == WSLAY_CONNECTION_CLOSE && len7 == 1)
                goto bad; /* a close body starts with a 2-byte code */
            ws->rx_need = (uint8_t)(2 + ext + (ws->rx_hdr[1] & 0x80 ? 4 : 0));
        }
        if (ws->rx_hn < 2)
            continue;
        if (ext && ws->rx_hn == 2 + ext) {
            uint64_t len = 0;
            for (size_t k = 0; k < ext; k++)
                len = len << 8 | ws->rx_hdr[2 + k];
            if (ext == 2 ? len < 126 : (len < 65536 || (len >> 63) != 0))
                goto bad; /* not the shortest form, or the top bit set */
            ws->rx_left = len;
        } else if (!ext && ws->rx_hn == 2) {
            ws->rx_left = len7;
        }
        if (ws->rx_hn == ws->rx_need) {
            ws->rx_hn = 0;
            ws->rx_need = 0;
            if (ws->rx_left == 0)
                return i; /* an empty frame ends with its header */
            ws->rx_in_payload = 1;
        }
    }
    return i;
bad:
    fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
    return 0;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    hg_ws_t *ws = ud;
    (void)flags;
    size_t n = in_avail(ws);
    if (n > len)
        n = len;
    if (n == 0 || ws->rx_drop || rx_blocked(ws) ||
        (n = rx_take(ws, (const uint8_t *)ws->in.data + ws->in_off, n)) == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, ws->in.data + ws->in_off, n);
    ws->in_off += n;
    if (ws->in_off == ws->in.len)
        ws->in.len = ws->in_off = 0;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    hg_ws_t *ws = ud;
    (void)flags;
    if (writing(ws) || ws->out.len >= WRITE_MAX) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = WRITE_MAX - ws->out.len;
    if (n > len)
        n = len;
    hg_buf_append(&ws->out, data, n);
    return (ssize_t)n;
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *a, void *ud)
{
    hg_ws_t *ws = ud;
    (void)ctx;
    ws->rx_ctrl = wslay_is_ctrl_frame(a->opcode);
    if (ws->rx_ctrl || ws->rx_drop)
        return;
    ws->rx_frag = !a->fin;
    if (a->opcode != WSLAY_CONTINUATION_FRAME)
        ws->msg.len = 0; /* a new message (wslay checked the fragment order) */
    if (a->payload_length > ws->lim.max_message - ws->msg.len)
        fail(ws, WSLAY_CODE_MESSAGE_TOO_BIG);
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *a, void *ud)
{
    hg_ws_t *ws = ud;
    (void)ctx;
    if (ws->rx_ctrl || ws->rx_drop || ws->state != WS_OPEN)
        return;
    hg_buf_append(&ws->msg, a->data, a->data_length); /* within max_message: on_frame_start */
}

static void on_msg_recv(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                        void *ud)
{
    hg_ws_t *ws = ud;
    (void)ctx;
    switch (a->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (ws->state == WS_OPEN && !ws->rx_drop) {
            m.msgs_in++;
            m.bytes_in += ws->msg.len;
            ws->cb.on_message(ws, ws->ud, a->opcode == WSLAY_BINARY_FRAME,
                              ws->msg.data ? ws->msg.data : "", ws->msg.len);
        }
        ws->msg.len = 0;
        if (ws->msg.cap > BUF_KEEP)
            hg_buf_free(&ws->msg);
        break;
    case WSLAY_CONNECTION_CLOSE: /* wslay queued the echo and stopped reading */
        note_code(ws, a->status_code ? a->status_code : WSLAY_CODE_NO_STATUS_RCVD);
        ws->close_pending = 0;
        enter_closing(ws);
        break;
    case WSLAY_PONG: heard(ws); break;
    default: /* ping: wslay queued the pong */ break;
    }
}

static const struct wslay_event_callbacks wslay_cbs = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_msg_recv_callback = on_msg_recv,
};

/* ---- parking (see DESIGN) ---- */

/* The wslay context, made now if the connection is parked. 0, or -1 when it cannot be made (the
 * connection is then closed). */
static int ctx_get(hg_ws_t *ws)
{
    if (ws->ctx)
        return 0;
    if (wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws) != 0) {
        ws->ctx = NULL;
        HG_LOG(HG_LOG_ERROR, "ws", "peer=%s msg=\"cannot create the WebSocket context\"", ws->peer);
        if (ws->state < WS_SHUT && ws->conn) {
            ws->state = WS_SHUT;
            hg_http_conn_close(ws->conn, 0);
        }
        return -1;
    }
    wslay_event_config_set_no_buffering(ws->ctx, 1);
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->lim.max_message);
    if (ws->parked) {
        ws->parked = 0;
        m.parked--;
    }
    return 0;
}

/* Free the context when it holds nothing wslay would need again. */
static void park(hg_ws_t *ws)
{
    if (ws->ctx == NULL || ws->state != WS_OPEN || ws->accepting || ws->in_proceed ||
        ws->rx_hn != 0 || ws->rx_in_payload || ws->rx_frag || ws->msg.len != 0 ||
        in_avail(ws) != 0 || ws->close_pending || wslay_event_get_queued_msg_count(ws->ctx) ||
        wslay_event_want_write(ws->ctx) || !wslay_event_get_read_enabled(ws->ctx))
        return;
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
    hg_buf_free(&ws->in);
    hg_buf_free(&ws->msg);
    if (ws->out.len == 0)
        hg_buf_free(&ws->out);
    ws->in_off = 0;
    ws->parked = 1;
    m.parked++;
    m.parks++;
}

/* Parked: read the whole masked pongs (FIN, opcode 0xA, no RSV, ≤ 125 bytes) at the front of
 * `in` ourselves. Anything else stays for wslay. */
static void park_read(hg_ws_t *ws)
{
    while (in_avail(ws) >= 6) {
        const uint8_t *p = (const uint8_t *)ws->in.data + ws->in_off;
        size_t len = p[1] & 0x7f;
        if (p[0] != 0x8A || !(p[1] & 0x80) || len > 125 || in_avail(ws) < 6 + len)
            return;
        ws->in_off += 6 + len;
        if (ws->in_off == ws->in.len)
            ws->in.len = ws->in_off = 0;
        heard(ws);
    }
}

/* An empty ping, framed into `out` by us (parked, or nothing queued in wslay). */
static void raw_ping(hg_ws_t *ws)
{
    static const uint8_t ping[2] = {0x89, 0x00};
    hg_buf_append(&ws->out, ping, sizeof(ping));
    ws->out_hdr += sizeof(ping); /* not a message: not counted as queued */
}

/* ---- the pump ---- */

static void on_pump(uv_idle_t *p);

/* Move bytes between the connection and wslay until nothing moves, write once, then decide
 * reading and closing. Callbacks into the application (on_message) run from here. */
static void proceed(hg_ws_t *ws)
{
    if (ws->in_proceed || ws->accepting || ws->state >= WS_SHUT)
        return;
    if (ws->ctx == NULL) {
        park_read(ws);
        if ((in_avail(ws) > 0 || ws->close_pending) && ctx_get(ws) < 0)
            return;
    }
    ws->in_proceed = 1;
    for (;;) {
        if (ws->ctx == NULL)
            break; /* parked: only `out` to write */
        int progress = 0;
        if (ws->close_pending && wslay_event_get_queued_msg_count(ws->ctx) == 0) {
            /* everything queued before hg_ws_close() is out: now the close frame */
            ws->close_pending = 0;
            wslay_event_queue_close(ws->ctx, ws->pending_code, (const uint8_t *)ws->pending_reason,
                                    ws->pending_reason_len);
            progress = 1;
        }
        if (wslay_event_want_write(ws->ctx) && !writing(ws) && ws->out.len < WRITE_MAX) {
            size_t before = ws->out.len;
            if (wslay_event_send(ws->ctx) != 0) { /* only our callback fails it: cannot happen */
                HG_LOG(HG_LOG_ERROR, "ws", "peer=%s msg=\"wslay send failed\"", ws->peer);
                ws->state = WS_SHUT;
                hg_http_conn_close(ws->conn, 0);
                goto out;
            }
            progress |= ws->out.len != before;
        }
        if (wslay_event_want_read(ws->ctx) && in_avail(ws) > 0 && !rx_blocked(ws)) {
            size_t before = in_avail(ws), nq = wslay_event_get_queued_msg_count(ws->ctx);
            if (wslay_event_recv(ws->ctx) != 0) {
                /* wslay failed outside the frame rules (out of memory): it stopped reading.
                 * Frame-level errors never get here: rx_take fails them with 1002 first. */
                ws->rx_drop = 1;
                ws->close_pending = 0;
                note_code(ws, WSLAY_CODE_PROTOCOL_ERROR);
                enter_closing(ws);
            }
            progress |= in_avail(ws) != before || wslay_event_get_queued_msg_count(ws->ctx) != nq;
        }
        if (!wslay_event_get_read_enabled(ws->ctx) || !wslay_event_get_write_enabled(ws->ctx)) {
            /* wslay stopped reading: it queued a close of its own (the peer's close echoed, or a
             * frame refused: unmasked, bad opcode or order, UTF-8, close code, size; that code
             * is known once sent, below), or it has sent one. Either way a close still pending
             * here is moot: wslay sends its close ahead of the queue and nothing after it. */
            ws->close_pending = 0;
            if (ws->state == WS_OPEN) {
                ws->rx_drop = 1;
                enter_closing(ws);
            }
        }
        if (!progress)
            break;
    }
    if (ws->ctx && ws->close_code == 0 && wslay_event_get_close_sent(ws->ctx))
        ws->close_code = wslay_event_get_status_code_sent(ws->ctx);

    if (ws->out.len > 0 && !writing(ws)) { /* one write in flight: the rest on drain */
        m.writes++;
        /* most often the kernel takes it all at once: no copy, no write request, no drain */
        size_t done = hg_http_conn_try_write(ws->conn, ws->out.data, ws->out.len);
        int rc = 0, all = done == ws->out.len;
        if (!all)
            rc = hg_http_conn_write(ws->conn, ws->out.data + done, ws->out.len - done);
        else if (ws->cb.on_drain) /* on_conn_drain will not come for these: tell it after */
            ws->drain_due = 1;
        ws->out.len = 0;
        ws->out_hdr = 0;
        ws->out_msgs = 0;
        if (ws->out.cap > BUF_KEEP)
            hg_buf_free(&ws->out);
        if (rc < 0) { /* the connection is going: on_conn_closed follows */
            ws->state = WS_SHUT;
            goto out;
        }
        /* a write that went at once brings no drain to pump the rest: the pump does, next */
        if (ws->drain_due ||
            (all && ws->ctx && (wslay_event_want_write(ws->ctx) || ws->close_pending)))
            uv_idle_start(&ws->pump, on_pump);
    }

    int want_read = ws->ctx ? wslay_event_want_read(ws->ctx) : 1;
    int blocked = want_read && rx_blocked(ws);
    if (blocked && !ws->rx_paused)
        m.read_paused++;
    ws->rx_paused = blocked;
    /* asserted every time: the HTTP layer may have restarted reading behind us */
    hg_http_conn_pause(ws->conn, !want_read || blocked);

    if (ws->ctx && !want_read && !wslay_event_want_write(ws->ctx) && !ws->close_pending &&
        !writing(ws) && ws->out.len == 0) {
        /* both close frames done (or reading failed and ours is out): end TCP */
        ws->state = WS_SHUT;
        hg_http_conn_close(ws->conn, 1);
    }
out:
    ws->in_proceed = 0;
}

static void on_pump(uv_idle_t *p)
{
    hg_ws_t *ws = p->data;
    uv_idle_stop(p);
    proceed(ws);
    if (ws->drain_due && ws->state == WS_OPEN && !ws->in_proceed && queued(ws) == 0) {
        ws->drain_due = 0;
        ws->cb.on_drain(ws, ws->ud);
    }
}

/* Pump before the loop next blocks (not now: more sends may follow in this turn). */
static void schedule(hg_ws_t *ws)
{
    if (ws->in_proceed || ws->accepting || ws->state >= WS_SHUT)
        return;
    if (!uv_is_active((uv_handle_t *)&ws->pump))
        uv_idle_start(&ws->pump, on_pump);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void arm_timer(hg_ws_t *ws)
{
    if (ws->handles == 0 || ws->state >= WS_SHUT)
        return;
    uint64_t now = uv_now(ws->loop), at;
    if (ws->state == WS_CLOSING)
        at = ws->close_by_ms;
    else if (ws->lim.ping_interval_ms && ws->ping_out)
        at = ws->ping_ms + ws->lim.pong_timeout_ms;
    else if (ws->lim.ping_interval_ms)
        at = ws->alive_ms + ws->lim.ping_interval_ms;
    else {
        uv_timer_stop(&ws->timer);
        return;
    }
    uv_timer_start(&ws->timer, on_timer, at > now ? at - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    hg_ws_t *ws = t->data;
    uint64_t now = uv_now(ws->loop);
    if (ws->state >= WS_SHUT)
        return;
    if (ws->state == WS_CLOSING) {
        if (now >= ws->close_by_ms) { /* the peer never answered, or never read: end it */
            ws->state = WS_SHUT;
            hg_http_conn_close(ws->conn, 0);
            return;
        }
    } else if (ws->ping_out && now - ws->ping_ms >= ws->lim.pong_timeout_ms) {
        if (!ws->pong_grace) {
            /* Timers run before the loop polls: after a stall of the loop the answer may be
             * waiting, unread, in the socket. Decide after one more poll. */
            ws->pong_grace = 1;
            uv_timer_start(&ws->timer, on_timer, 1, 0);
            return;
        }
        /* silent since our ping: presumed gone. Say 1011 if the bytes can still leave, but do
         * not wait for an answer; the close timeout bounds the rest. */
        m.ping_timeouts++;
        note_code(ws, WSLAY_CODE_ABNORMAL_CLOSURE);
        fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
        proceed(ws);
        return;
    } else if (ws->lim.ping_interval_ms && !ws->ping_out &&
               now - ws->alive_ms >= ws->lim.ping_interval_ms) {
        /* silent for a ping interval: idle, so let go of the context if it holds nothing */
        park(ws);
        struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
        if (ws->ctx == NULL || (wslay_queued(ws) == 0 && !wslay_event_want_write(ws->ctx)))
            raw_ping(ws);
        else if (wslay_event_queue_msg(ws->ctx, &ping) != 0)
            goto rearm;
        ws->ping_out = 1;
        ws->pong_grace = 0;
        ws->ping_ms = now;
        proceed(ws);
    }
rearm:
    arm_timer(ws);
}

/* ---- connection callbacks (http.h stream) ---- */

static void on_conn_data(void *ud, const char *data, size_t len)
{
    hg_ws_t *ws = ud;
    if (ws->state >= WS_SHUT ||
        (!ws->accepting && ws->ctx && !wslay_event_get_read_enabled(ws->ctx)))
        return; /* nothing more will be read */
    if (ws->in_off) {
        hg_buf_consume(&ws->in, ws->in_off);
        ws->in_off = 0;
    }
    hg_buf_append(&ws->in, data, len);
    heard(ws);
    proceed(ws); /* no-op while accepting: hg_ws_accept schedules it */
}

static void on_conn_drain(void *ud)
{
    hg_ws_t *ws = ud;
    if (ws->state >= WS_SHUT)
        return;
    if (ws->rx_paused) {
        /* We are not reading, so its pongs cannot show the peer is alive: that it takes our
         * bytes does (a dead peer stops taking them once the kernel's buffers are full). */
        heard(ws);
    }
    proceed(ws);
    if (ws->state == WS_OPEN && ws->cb.on_drain && queued(ws) == 0) {
        ws->drain_due = 0;
        ws->cb.on_drain(ws, ws->ud);
    }
}

/* The server stops: most often a planned restart, so ask the peer to come back (1012), not to
 * go away for good (1001). The close handshake is cut short (SHUTDOWN_CLOSE_WAIT_MS): a client
 * whose library predates 1012 (Python's websocket-client, wslay) never answers it, and a
 * restart must not wait on it. */
static void on_conn_shutdown(void *ud)
{
    hg_ws_t *ws = ud;
    if (ws->lim.close_timeout_ms > SHUTDOWN_CLOSE_WAIT_MS)
        ws->lim.close_timeout_ms = SHUTDOWN_CLOSE_WAIT_MS;
    hg_ws_close(ws, CODE_SERVICE_RESTART, "server restarting");
}

static void ws_free(hg_ws_t *ws)
{
    if (ws == NULL)
        return;
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    if (ws->parked)
        m.parked--;
    hg_buf_free(&ws->in);
    hg_buf_free(&ws->out);
    hg_buf_free(&ws->msg);
    hg_free(ws);
}

static void on_handle_closed(uv_handle_t *h)
{
    hg_ws_t *ws = h->data;
    if (--ws->handles == 0)
        ws_free(ws);
}

static void on_conn_closed(void *ud)
{
    hg_ws_t *ws = ud;
    ws->conn = NULL;
    ws->state = WS_DONE;
    int code = ws->close_code ? ws->close_code : WSLAY_CODE_ABNORMAL_CLOSURE;
    m.open--;
    m.closes[code >= 1000 && code < 1000 + NCODES - 1 ? code - 1000 : NCODES - 1]++;
    ws->cb.on_close(ws, ws->ud, code);
    uv_close((uv_handle_t *)&ws->timer, on_handle_closed);
    uv_close((uv_handle_t *)&ws->pump, on_handle_closed);
}

static const hg_http_stream_cb_t stream_cbs = {
    .on_data = on_conn_data,
    .on_drain = on_conn_drain,
    .on_shutdown = on_conn_shutdown,
    .on_closed = on_conn_closed,
};

/* ---- public ---- */

int hg_ws_is_upgrade(const hg_http_req_t *req)
{
    return req->method == HTTP_GET &&
           has_token(hg_http_req_header(req, "Upgrade"), "websocket", 1) &&
           has_token(hg_http_req_header(req, "Connection"), "upgrade", 1);
}

static int bad(hg_error_t *err, int code, const char *field, const char *msg)
{
    hg_error_set(err, code, "%s", msg);
    if (err)
        snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    return code;
}

static void limits_norm(hg_ws_limits_t *l, const hg_ws_limits_t *in)
{
    if (in)
        *l = *in;
    else
        memset(l, 0, sizeof(*l));
    if (l->max_message == 0)
        l->max_message = HG_WS_DEFAULT_MAX_MESSAGE;
    if (l->max_message < HG_WS_MIN_MAX_MESSAGE)
        l->max_message = HG_WS_MIN_MAX_MESSAGE;
    if (l->max_queue_bytes == 0)
        l->max_queue_bytes = HG_WS_DEFAULT_MAX_QUEUE_BYTES;
    if (l->max_queue_msgs == 0)
        l->max_queue_msgs = HG_WS_DEFAULT_MAX_QUEUE_MSGS;
    if (l->pong_timeout_ms == 0)
        l->pong_timeout_ms = l->ping_interval_ms;
    if (l->close_timeout_ms == 0)
        l->close_timeout_ms = HG_WS_DEFAULT_CLOSE_TIMEOUT_MS;
}

int hg_ws_check(const hg_http_req_t *req, hg_error_t *err)
{
    const hg_http_header_t *h;
    const char *v;
    size_t vlen;
    if (req->method != HTTP_GET)
        return bad(err, HG_EINVAL, "", "a WebSocket handshake must be a GET");
    if (!has_token(hg_http_req_header(req, "Upgrade"), "websocket", 1))
        return bad(err, HG_EINVAL, "Upgrade", "Upgrade: websocket is required");
    if (!has_token(hg_http_req_header(req, "Connection"), "upgrade", 1))
        return bad(err, HG_EINVAL, "Connection", "Connection: Upgrade is required");
    h = hg_http_req_header(req, "Sec-WebSocket-Version");
    v = h ? trimmed(h, &vlen) : "";
    if (h == NULL || vlen != 2 || memcmp(v, "13", 2) != 0)
        return bad(err, HG_EINVAL, "Sec-WebSocket-Version",
                   "unsupported Sec-WebSocket-Version: 13 is required");
    h = hg_http_req_header(req, "Sec-WebSocket-Key");
    v = h ? trimmed(h, &vlen) : "";
    if (h == NULL || !key_valid(v, vlen))
        return bad(err, HG_EINVAL, "Sec-WebSocket-Key",
                   "Sec-WebSocket-Key must be 16 bytes in base64");
    return 0;
}

int hg_ws_accept(hg_http_req_t *req, const hg_ws_limits_t *lim, const char *subprotocol,
                 const hg_ws_cb_t *cb, void *ud, hg_ws_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_ws_t *ws = NULL;
    HG_BUG_ON(cb == NULL || cb->on_message == NULL || cb->on_close == NULL);
    const hg_http_header_t *h;
    const char *v;
    size_t vlen;
    if ((rc = hg_ws_check(req, err)) < 0)
        goto out;
    h = hg_http_req_header(req, "Sec-WebSocket-Key");
    v = trimmed(h, &vlen);
    hg_http_conn_t *conn = hg_http_req_conn(req);
    if (conn == NULL) {
        rc = bad(err, HG_ECONFLICT, "", "the client has gone");
        goto out;
    }

    char akey[29];
    if ((rc = accept_key(v, akey)) < 0) {
        bad(err, rc, "", "cannot compute Sec-WebSocket-Accept");
        goto out;
    }
    int proto = subprotocol != NULL && strlen(subprotocol) <= SUBPROTO_MAX &&
                has_token(hg_http_req_header(req, "Sec-WebSocket-Protocol"), subprotocol, 0);
    char resp[256 + SUBPROTO_MAX];
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
             akey, proto ? "Sec-WebSocket-Protocol: " : "", proto ? subprotocol : "",
             proto ? "\r\n" : "");

    ws = hg_calloc(1, sizeof(*ws));
    limits_norm(&ws->lim, lim);
    ws->cb = *cb;
    ws->ud = ud;
    ws->conn = conn;
    ws->loop = hg_http_conn_loop(conn);
    hg_buf_init(&ws->in);
    hg_buf_init(&ws->out);
    hg_buf_init(&ws->msg);
    snprintf(ws->peer, sizeof(ws->peer), "%s", hg_http_conn_peer(conn));
    /* parked from the start: no wslay context until the peer sends more than pongs */

    /* Bytes the client sent after the request may be handed to on_conn_data inside
     * hg_http_upgrade(): `accepting` keeps them buffered until we return. */
    ws->accepting = 1;
    if (hg_http_upgrade(req, resp, &stream_cbs, ws, NULL) < 0) {
        rc = bad(err, HG_ECONFLICT, "",
                 "the connection cannot be upgraded (client gone, requests pipelined before the "
                 "upgrade, or server stopping)");
        goto out;
    }
    ws->accepting = 0;
    uv_timer_init(ws->loop, &ws->timer);
    ws->timer.data = ws;
    uv_idle_init(ws->loop, &ws->pump);
    ws->pump.data = ws;
    ws->handles = 2;
    ws->parked = 1;
    m.parked++;
    ws->alive_ms = uv_now(ws->loop);
    arm_timer(ws);
    if (in_avail(ws) > 0)
        schedule(ws);
    if (!m.registered) {
        hg_metrics_register("ws", render, NULL);
        m.registered = 1;
    }
    m.open++;
    m.accepted++;
    *out = ws;
    ws = NULL;
out:
    if (rc < 0) {
        m.rejected++;
        ws_free(ws);
    }
    return rc;
}

int hg_ws_send(hg_ws_t *ws, int kind, const void *data, size_t len)
{
    if (ws->state != WS_OPEN || ws->accepting)
        return HG_ECONFLICT;
    if (kind == HG_WS_TEXT && !utf8_valid(data, len))
        return HG_EINVAL;
    int binary = kind == HG_WS_BINARY;
    /* Two bounds (ws.h): what the kernel refused at the last write (the peer not reading)
     * against max_queue_bytes, and everything queued, this turn's sends included, against
     * HG_WS_TURN_FACTOR times it (memory). A burst that arrives in one turn is not the
     * peer's slowness: it is handed to the kernel at the end of the turn. */
    size_t q = queued(ws), stuck = ws->conn ? hg_http_conn_write_queue(ws->conn) : 0;
    size_t cap = ws->lim.max_queue_bytes;
    if (len > cap || stuck > cap - len || q > HG_WS_TURN_FACTOR * cap - len ||
        wslay_queued(ws) + ws->out_msgs >= ws->lim.max_queue_msgs) {
        m.queue_full++;
        return HG_ELIMIT;
    }
    if (wslay_queued(ws) == 0 && !ws->close_pending && ws->out.len < WRITE_MAX) {
        /* Nothing queued in wslay (no frame half sent, no control frame waiting): frame the
         * message straight into `out`. A server's frames are unmasked, so this is a 2-10 byte
         * header and the payload: no copy of the message into wslay's queue and back out. */
        uint8_t h[10];
        size_t hn = 2;
        h[0] = 0x80 | (binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME); /* FIN + opcode */
        if (len < 126) {
            h[1] = (uint8_t)len;
        } else if (len <= 0xFFFF) {
            h[1] = 126;
            h[2] = (uint8_t)(len >> 8);
            h[3] = (uint8_t)len;
            hn = 4;
        } else {
            h[1] = 127;
            for (int i = 0; i < 8; i++)
                h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
            hn = 10;
        }
        hg_buf_reserve(&ws->out, hn + len);
        hg_buf_append(&ws->out, h, hn);
        hg_buf_append(&ws->out, data, len);
        ws->out_hdr += hn;
        ws->out_msgs++;
        m.msgs_out++;
        m.bytes_out += len;
        schedule(ws);
        return 0;
    }
    struct wslay_event_msg msg = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
                                  (const uint8_t *)data, len};
    if (ctx_get(ws) < 0)
        return HG_ECONFLICT;
    int rc = wslay_event_queue_msg(ws->ctx, &msg);
    if (rc == WSLAY_ERR_NO_MORE_MSG)
        return HG_ECONFLICT; /* wslay is closing (protocol error seen in this turn) */
    if (rc != 0)
        return HG_EINTERNAL;
    m.msgs_out++;
    m.bytes_out += len;
    schedule(ws);
    return 0;
}

void hg_ws_close(hg_ws_t *ws, int code, const char *reason)
{
    if (ws->state != WS_OPEN)
        return;
    if (!code_sendable(code))
        code = WSLAY_CODE_NORMAL_CLOSURE;
    size_t n = reason ? strlen(reason) : 0;
    if (n > REASON_MAX) { /* cut at a character boundary */
        n = REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    if (n && !utf8_valid(reason, n))
        n = 0;
    ws->pending_code = (uint16_t)code;
    if (n)
        memcpy(ws->pending_reason, reason, n);
    ws->pending_reason_len = n;
    ws->close_pending = 1; /* sent once the messages queued before it are out (proceed) */
    note_code(ws, code);
    enter_closing(ws);
    schedule(ws);
}

size_t hg_ws_queued_bytes(const hg_ws_t *ws)
{
    return queued(ws);
}

const char *hg_ws_peer(const hg_ws_t *ws)
{
    return ws->peer;
}

void hg_ws_set_data(hg_ws_t *ws, void *ud)
{
    ws->ud = ud;
}
