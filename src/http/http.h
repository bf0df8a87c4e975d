/* hangar — HTTP/1.1 server on libuv with http-parser.
 *
 * Keep-alive and pipelining: requests on one connection are queued in arrival order and their
 * responses are written in that order, whenever each becomes ready (a handler may answer
 * later, e.g. after a store commit). Limits (docs/limits.md): header bytes, header count, body
 * bytes, requests in flight per connection (reading pauses at the cap), connections, idle and
 * request timeouts (a request that is not complete within request_timeout_ms is answered 408
 * and the connection closed: slowloris). Framing errors are answered with a JSON error and the
 * connection is closed.
 *
 * TLS (hg_http_server_set_tls): on the same port, chosen per connection by its first byte; a
 * handshake must complete within request_timeout_ms. TLS is invisible above the byte stream.
 *
 * Lifetime: a request belongs to its connection. If the connection closes while a handler
 * still holds a request, the request is orphaned (hg_http_req_conn() returns NULL) and freed
 * when the handler answers it. Handlers must answer every request exactly once.
 * Threading: loop thread only.
 */
#ifndef HG_HTTP_HTTP_H
#define HG_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct hg_http_server hg_http_server_t;
typedef struct hg_http_conn hg_http_conn_t;
typedef struct hg_http_req hg_http_req_t;

typedef struct hg_http_limits {
    size_t max_header_bytes;     /* request line + headers */
    size_t max_headers;          /* header fields per request, <= HG_HTTP_MAX_HEADERS */
    size_t max_body;             /* body bytes */
    size_t max_pipeline;         /* requests queued per connection before reading pauses */
    size_t max_conns;            /* open connections; more are closed at accept */
    uint32_t idle_timeout_ms;    /* keep-alive connection with no request in progress */
    uint32_t request_timeout_ms; /* from a request's first byte to its last */
} hg_http_limits_t;

#define HG_HTTP_MAX_HEADERS 128

typedef struct hg_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hg_http_header_t;

/* Public read-only view of a request; the body is NUL-terminated. */
struct hg_http_req {
    int method; /* enum http_method */
    const char *path;
    size_t path_len;
    const char *query; /* without '?', "" when absent */
    size_t query_len;
    hg_http_header_t headers[HG_HTTP_MAX_HEADERS];
    size_t nheaders;
    const char *body;
    size_t body_len;
    uint64_t start_ns; /* monotonic, when the request was complete */
    void *data;        /* for the handler */
};

/* Called once per complete request. The handler answers with hg_http_respond(), now or later. */
typedef void (*hg_http_handler_cb)(hg_http_req_t *req, void *ud);

int hg_http_server_new(uv_loop_t *loop, const hg_http_limits_t *limits, hg_http_handler_cb cb,
                       void *ud, hg_http_server_t **out);
/* Bind and listen on host:port. */
int hg_http_server_listen(hg_http_server_t *s, const char *host, int port);
/* Listen on fd, a socket already bound (and maybe listening: its backlog is kept), which the
 * server takes (closed on failure too). */
int hg_http_server_listen_fd(hg_http_server_t *s, int fd);
/* A copy of the listening socket (dup), for the loop that answers after this server stops: the
 * port never closes, so clients wait in its backlog instead of being refused. -1 when the
 * server does not listen. */
int hg_http_server_dup_listener(const hg_http_server_t *s);
/* Stop accepting and close idle connections; connections with requests in progress close
 * once those are answered. cb runs when every connection and handle is closed. */
void hg_http_server_stop(hg_http_server_t *s, void (*cb)(void *ud), void *ud);
/* Stop (if not yet) and close every connection now, answered or not: unanswered requests are
 * orphaned. For a failed start-up or a shutdown that timed out. */
void hg_http_server_abort(hg_http_server_t *s);
/* Free after stop's callback, or after abort once the loop has run the close callbacks. */
void hg_http_server_free(hg_http_server_t *s);
/* Serve TLS on the same port: from now on each accepted connection whose first byte is 0x16 (a
 * TLS handshake record) speaks TLS 1.2 or 1.3 with this PEM certificate chain and key; any
 * other first byte is plain HTTP as before. Everything above the byte stream (requests,
 * pipelining, upgrades) is the same on both. Reads the files (blocking): call at start-up,
 * before serving. Returns 0, or HG_EINVAL with err naming the file and the reason (the server
 * is then unchanged). */
int hg_http_server_set_tls(hg_http_server_t *s, const char *cert_path, const char *key_path,
                           hg_error_t *err);
/* Accept a standby's relay (cluster mode, docs/cluster.md): from now on a connection may start
 * with a PROXY protocol v2 header signed with key, the cluster secret (http/proxyhdr.h); when it
 * verifies, the connection's peer (hg_http_conn_peer) is the client's address it names. A
 * connection that starts with the PROXY signature and does not verify is closed (logged at
 * warn); one that does not start with it is served as before. key is copied; its length must be
 * HG_PROXYHDR_KEY_MIN..HG_PROXYHDR_KEY_MAX bytes (else HG_EINVAL, the server unchanged). Without
 * this call no header is accepted (the HTTP parser refuses it as any other garbage). */
int hg_http_server_set_proxy_key(hg_http_server_t *s, const char *key, size_t len);
/* 1 when TLS is configured (hg_http_server_set_tls succeeded), else 0. */
int hg_http_server_tls(const hg_http_server_t *s);
/* Port actually bound (for port 0). */
int hg_http_server_port(const hg_http_server_t *s);
size_t hg_http_server_conns(const hg_http_server_t *s);

/* Case-insensitive header lookup; NULL when absent. */
const hg_http_header_t *hg_http_req_header(const hg_http_req_t *req, const char *name);
/* The raw (still %-encoded) value of the first query parameter `name` (a key without '=' has an
 * empty value): 1 with *val and *len set, 0 when absent. Each API decodes by its own rules. */
int hg_http_query_raw(const hg_http_req_t *req, const char *name, const char **val, size_t *len);
/* NULL once the client has gone away (the answer will be dropped). */
hg_http_conn_t *hg_http_req_conn(const hg_http_req_t *req);

/* Answer req. extra_headers: preformatted "Name: value\r\n" lines or NULL. The body is copied.
 * req is invalid after this call. */
void hg_http_respond(hg_http_req_t *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t body_len);

/* ---- protocol upgrade (WebSocket) ----
 *
 * A handler that accepts an Upgrade request calls hg_http_upgrade() with the full 101 answer.
 * From then on the connection is a raw byte stream owned by the caller through the callbacks:
 * bytes from the peer go to on_data (including any the client sent right after the request),
 * writes go through hg_http_conn_write(). The HTTP server still tracks the connection: its
 * idle/request timeouts no longer apply (the upgraded protocol keeps its own), and a server
 * stop calls on_shutdown so the protocol can say goodbye and close.
 */
typedef struct hg_http_stream_cb {
    void (*on_data)(void *ud, const char *data, size_t len);
    /* All queued writes are done (backpressure relief). May be NULL. */
    void (*on_drain)(void *ud);
    /* The server is stopping; close soon (hg_http_conn_close). NULL: closed at once. */
    void (*on_shutdown)(void *ud);
    /* The connection is gone (peer closed, error, or hg_http_conn_close): no more calls
     * follow; release ud here. */
    void (*on_closed)(void *ud);
} hg_http_stream_cb_t;

/* Answer req with `response` (a complete "HTTP/1.1 101 …\r\n\r\n") and hand the connection to
 * cb/ud. HG_ECONFLICT when the client has gone or other requests are still queued on the
 * connection (the caller then answers req normally). req is invalid after a 0 return. */
int hg_http_upgrade(hg_http_req_t *req, const char *response, const hg_http_stream_cb_t *cb,
                    void *ud, hg_http_conn_t **out);
/* Queue bytes (copied) on an upgraded connection. HG_ECONFLICT once it is closing. */
int hg_http_conn_write(hg_http_conn_t *c, const void *data, size_t len);
/* Hand bytes to the kernel now, when nothing is queued before them (plain TCP only): how many it
 * took (0..len; 0 also when it cannot be tried: TLS, writes in flight, the socket full). No copy,
 * no callback: on_drain does not run for them. The rest goes with hg_http_conn_write(). */
size_t hg_http_conn_try_write(hg_http_conn_t *c, const void *data, size_t len);
/* Bytes queued and not yet written. */
size_t hg_http_conn_write_queue(const hg_http_conn_t *c);
/* Stop or resume reading (backpressure on the peer). */
void hg_http_conn_pause(hg_http_conn_t *c, int pause);
/* Close: after the queued writes are flushed when graceful, at once otherwise (a hard close
 * also cuts short a graceful one in progress). on_closed runs later. */
void hg_http_conn_close(hg_http_conn_t *c, int graceful);
/* The loop the connection runs on. */
uv_loop_t *hg_http_conn_loop(const hg_http_conn_t *c);
/* 1 when the connection speaks TLS, else 0. */
int hg_http_conn_is_tls(const hg_http_conn_t *c);
/* The client's address as text ("127.0.0.1:5555", "[::1]:5555"): the socket's peer, or the
 * client a standby's verified PROXY header names (hg_http_server_set_proxy_key); "" when
 * unknown. */
const char *hg_http_conn_peer(hg_http_conn_t *c);

/* Current Date header value (RFC 7231 IMF-fixdate), refreshed once a second. */
const char *hg_http_date(hg_http_server_t *s);

#endif
