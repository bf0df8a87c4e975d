/* hangar — WebSocket (RFC 6455, server side) on an upgraded HTTP/1.1 connection, with wslay.
 *
 * A handler that sees hg_ws_is_upgrade(req) calls hg_ws_accept(): the handshake is checked, the
 * 101 answer written and the connection taken over; from then on whole messages arrive in
 * on_message and the application sends with hg_ws_send(). Carries the registry event stream, the
 * GameLift Server SDK protocol and realtime rooms.
 *
 * Protocol: clients must mask (an unmasked frame closes 1002); text must be valid UTF-8 (1007);
 * fragments are reassembled up to max_message (1009 beyond); pings are answered with pongs and a
 * close is echoed; no extension is negotiated (Sec-WebSocket-Extensions is never answered).
 *
 * Limits (docs/limits.md) and backpressure (STYLE.md rule 14):
 * - a received message is at most max_message bytes after reassembly (close 1009); memory for it
 *   grows with the bytes that actually arrived, not with the length a frame header announces;
 * - the send queue: the bytes the kernel did not take at the last write (the peer is not reading
 *   them) stay under max_queue_bytes, and everything queued — this loop turn's sends included,
 *   which leave in one write at the end of the turn — under HG_WS_TURN_FACTOR × max_queue_bytes;
 *   messages queued under max_queue_msgs. Beyond, hg_ws_send() returns HG_ELIMIT and queues
 *   nothing; the caller's policy decides (drop, coalesce, or close with 1008/1013). A burst
 *   fanned out in one turn (a room relaying what one client sent in a 64 KiB read) is thus not
 *   mistaken for a slow peer;
 * - while the send queue is more than half full the peer is not read (a peer that does not read
 *   its answers, or floods pings, stops being read): reading resumes as the queue drains;
 * - an idle peer is pinged every ping_interval_ms; with no sign of life for pong_timeout_ms after
 *   the ping (any bytes received; while it is not read for backpressure, our writes completing)
 *   it is dropped (close 1011 sent when possible, on_close reports 1006);
 * - a close handshake not finished within close_timeout_ms ends with a TCP close.
 *
 * Lifetime: the hg_ws_t is owned by this module. on_close runs exactly once, when the connection
 * is gone, with the close code (see hg_ws_cb_t); the hg_ws_t is invalid after it returns. No
 * callback runs inside hg_ws_accept(), hg_ws_send() or hg_ws_close().
 * Threading: loop thread only.
 */
#ifndef HG_WS_WS_H
#define HG_WS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "http/http.h"

typedef struct hg_ws hg_ws_t;

/* Defaults, used for the fields of hg_ws_limits_t left at 0. */
#define HG_WS_DEFAULT_MAX_MESSAGE (1u << 20)     /* 1 MiB */
#define HG_WS_DEFAULT_MAX_QUEUE_BYTES (4u << 20) /* 4 MiB */
#define HG_WS_DEFAULT_MAX_QUEUE_MSGS 4096
#define HG_WS_DEFAULT_CLOSE_TIMEOUT_MS 5000
#define HG_WS_MIN_MAX_MESSAGE 125 /* a control frame's payload must always fit */
#define HG_WS_TURN_FACTOR 4       /* all queued bytes ≤ this × max_queue_bytes (see above) */

typedef struct hg_ws_limits {
    size_t max_message;        /* bytes of one received message (after reassembly) -> 1009 */
    size_t max_queue_bytes;    /* bytes queued for sending; beyond -> hg_ws_send HG_ELIMIT */
    size_t max_queue_msgs;     /* messages queued for sending; beyond -> HG_ELIMIT */
    uint32_t ping_interval_ms; /* ping a peer silent this long (0 = never) */
    uint32_t pong_timeout_ms;  /* no sign of life this long after a ping -> dropped (0 = the
                                  ping interval) */
    uint32_t close_timeout_ms; /* wait for the peer's close answer / our last bytes (0 = 5 s) */
} hg_ws_limits_t;

typedef struct hg_ws_cb {
    /** A complete message. data is not NUL-terminated and is valid during the call only; text
     * (binary == 0) is valid UTF-8. May call hg_ws_send() and hg_ws_close(). */
    void (*on_message)(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len);
    /** The connection is gone; runs once. code: the peer's close code when the peer closed first
     * (1005 when its close frame had none), the code we sent when we closed first (hg_ws_close,
     * 1012 "service restart" at server stop, 1002/1007/1009 for a peer's protocol error), 1006 when
     * the TCP connection ended without a close frame or the peer stopped answering pings. ws is
     * invalid after this returns. */
    void (*on_close)(hg_ws_t *ws, void *ud, int code);
    /** May be NULL: the send queue emptied (every queued byte was handed to the kernel). */
    void (*on_drain)(hg_ws_t *ws, void *ud);
} hg_ws_cb_t;

/**
 * Whether req asks for a WebSocket upgrade: GET, an `Upgrade: websocket` token and a
 * `Connection: upgrade` token (both case-insensitive). Says nothing about the handshake's
 * validity: hg_ws_accept() checks that.
 * @return 1 or 0
 */
int hg_ws_is_upgrade(const hg_http_req_t *req);

/* The handshake's checks of hg_ws_accept() (method, Upgrade, Connection, version 13, the key),
 * without accepting: 0, or HG_EINVAL with err naming the header. For a caller that must do
 * something irreversible between deciding and accepting (a room's on_join). */
int hg_ws_check(const hg_http_req_t *req, hg_error_t *err);

/**
 * Check the handshake (GET, Upgrade/Connection tokens, Sec-WebSocket-Version 13, a
 * Sec-WebSocket-Key of 16 base64-encoded bytes), answer 101 with Sec-WebSocket-Accept (and
 * Sec-WebSocket-Protocol: subprotocol when subprotocol is non-NULL and the client offered it) and
 * take over the connection.
 * @param req  the upgrade request; invalid after a 0 return (answered by the 101)
 * @param lim  limits, copied; NULL or fields at 0 take the HG_WS_DEFAULT_* values
 * @param subprotocol  borrowed during the call; NULL to negotiate none
 * @param cb   copied; on_message and on_close are required
 * @param ud   handed to every callback (see hg_ws_set_data)
 * @param out  the new connection (owned by this module, valid until on_close returns)
 * @param err  filled on failure
 * @return 0; HG_EINVAL for a bad handshake (err->msg says why, err->field names the header;
 *         for a wrong version the caller should answer 426 with "Sec-WebSocket-Version: 13");
 *         HG_ECONFLICT when the client has gone or other requests are pipelined before it.
 *         On failure req is NOT answered: the caller answers it in its API's error format.
 */
int hg_ws_accept(hg_http_req_t *req, const hg_ws_limits_t *lim, const char *subprotocol,
                 const hg_ws_cb_t *cb, void *ud, hg_ws_t **out, hg_error_t *err);

/* hg_ws_send()'s kind of message. HG_WS_TEXT_VALID: text the caller knows is valid UTF-8
 * (checked once for a fan-out to many connections, or written by our JSON writer), not checked
 * again. */
#define HG_WS_TEXT 0
#define HG_WS_BINARY 1
#define HG_WS_TEXT_VALID 2

/**
 * Queue one message (the payload is copied). Many sends in one loop turn leave in one write.
 * @param kind  HG_WS_TEXT (data must be valid UTF-8), HG_WS_BINARY, or HG_WS_TEXT_VALID
 * @return 0; HG_ELIMIT when the send queue cannot take it (nothing queued; also for a message
 *         larger than max_queue_bytes); HG_ECONFLICT once closing (nothing queued);
 *         HG_EINVAL for a text message that is not valid UTF-8.
 */
int hg_ws_send(hg_ws_t *ws, int kind, const void *data, size_t len);

/**
 * Start the close handshake: send a close frame with code (1000–1003, 1007–1014 or 3000–4999;
 * anything else is sent as 1000) and reason (NULL or UTF-8, cut to 123 bytes), wait for the
 * peer's close (up to close_timeout_ms), then close TCP; on_close follows. Messages received
 * meanwhile are dropped; hg_ws_send returns HG_ECONFLICT. No-op once closing.
 */
void hg_ws_close(hg_ws_t *ws, int code, const char *reason);

/** Bytes queued for sending and not yet handed to the kernel (what max_queue_bytes bounds). */
size_t hg_ws_queued_bytes(const hg_ws_t *ws);

/** The peer's address ("127.0.0.1:5555"); "" when unknown. Valid as long as ws. */
const char *hg_ws_peer(const hg_ws_t *ws);

/** Change the ud handed to the callbacks. */
void hg_ws_set_data(hg_ws_t *ws, void *ud);

#endif
