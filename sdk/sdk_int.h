/* hangar — libhangar-server internals shared by the files of sdk/ (never included from outside).
 *
 * Files: server.c (public API, parameters, callback thread), io.c (the I/O thread: connections,
 * calls, dispatch, heartbeats), conn.c (one WebSocket client connection: DNS, TCP, TLS, upgrade,
 * wslay), util.c (memory, buffers, logging, errors, random ids, URLs, SigV4, durations).
 *
 * Internal cross-file symbols are prefixed hg_sdk_ and hidden from the shared library
 * (-fvisibility=hidden); only the HANGAR_SERVER_API functions of hangar/server.h are exported.
 *
 * Locking: one mutex per server, srv->mu, guards the fields marked [mu] below; fields marked
 * [io] belong to the I/O thread alone, [cb] to the callback thread, [const] are set by
 * hangar_server_new() before the threads start and never change.
 */
#ifndef HG_SDK_INT_H
#define HG_SDK_INT_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "hangar/server.h"

#define HG_SDK_LANGUAGE "Cpp" /* query sdkLanguage: see HANGAR_SERVER_PROTOCOL_VERSION */
#define HG_SDK_TOOL_NAME "hangar-server"
#define HG_SDK_TOKEN_LEN 32       /* RequestId and IdempotencyToken: random letters and digits */
#define HG_SDK_CLOSE_WAIT_MS 2000 /* our close frame sent: wait this long for the answer */
#define HG_SDK_REFRESH_RETRY_MS 60000 /* a failed RefreshConnection is tried again after this */

/* ---- memory (abort on exhaustion: sizes from input are capped before allocating) ---- */

void *hg_sdk_malloc(size_t n);
void *hg_sdk_calloc(size_t n, size_t size);
void *hg_sdk_realloc(void *p, size_t n);
char *hg_sdk_strdup(const char *s); /* NULL stays NULL */
char *hg_sdk_strndup(const char *s, size_t n);

/* A growable byte buffer; `off` is where unread bytes start (consume moves it). */
typedef struct hg_sdk_buf {
    char *data;
    size_t len; /* bytes stored, from data[0] */
    size_t off; /* bytes already consumed */
    size_t cap;
} hg_sdk_buf_t;

void hg_sdk_buf_append(hg_sdk_buf_t *b, const void *data, size_t len);
void hg_sdk_buf_printf(hg_sdk_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hg_sdk_buf_consume(hg_sdk_buf_t *b, size_t n); /* resets to empty when all is consumed */
void hg_sdk_buf_free(hg_sdk_buf_t *b);
static inline size_t hg_sdk_buf_avail(const hg_sdk_buf_t *b)
{
    return b->len - b->off;
}

/* ---- logging and errors ---- */

void hg_sdk_log(hangar_server_t *srv, hangar_server_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define HG_SDK_DEBUG(srv, ...) hg_sdk_log((srv), HANGAR_SERVER_LOG_DEBUG, __VA_ARGS__)
#define HG_SDK_INFO(srv, ...) hg_sdk_log((srv), HANGAR_SERVER_LOG_INFO, __VA_ARGS__)
#define HG_SDK_WARN(srv, ...) hg_sdk_log((srv), HANGAR_SERVER_LOG_WARN, __VA_ARGS__)
#define HG_SDK_ERROR(srv, ...) hg_sdk_log((srv), HANGAR_SERVER_LOG_ERROR, __VA_ARGS__)

/* Fill err (code, status, formatted message); returns code so callers can `return
 * hg_sdk_err(...)`. err may be NULL. */
int hg_sdk_err(hangar_server_error_t *err, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Copy err into the calling thread's last error and return err->code. */
int hg_sdk_fail(const hangar_server_error_t *err);
/* The HANGAR_SERVER_E* code for a service StatusCode (Go's getErrorTypeForStatusCode). */
int hg_sdk_status_to_code(int status);

/* ---- random (OpenSSL RAND_bytes; aborts if the generator fails) ---- */

void hg_sdk_random(void *buf, size_t n);
void hg_sdk_random_token(char out[HG_SDK_TOKEN_LEN + 1]);
void hg_sdk_uuid4(char out[37]);

/* ---- URLs, query strings, SigV4, durations ---- */

typedef struct hg_sdk_url {
    int tls;        /* wss:// */
    char *host;     /* without brackets for IPv6 */
    char *port;     /* decimal, the scheme's default when absent */
    char *path;     /* begins with '/', no query */
    char *hostport; /* for the Host header: host[:port] as written, brackets kept */
    int host_is_ip;
} hg_sdk_url_t;

/* Parse a ws:// or wss:// URL (any query or fragment is dropped). */
int hg_sdk_url_parse(const char *s, hg_sdk_url_t *u, hangar_server_error_t *err);
void hg_sdk_url_free(hg_sdk_url_t *u);
/* Append the RFC 3986 percent-encoding of s (unreserved characters kept). */
void hg_sdk_url_encode(hg_sdk_buf_t *b, const char *s);

/* SigV4 query signing of the GameLift socket (wire 7.6): signature over
 * "ComputeId=..&FleetId=..&pID=.." (the encoded, sorted canonical query), at `now`. */
void hg_sdk_sigv4(const char *secret_key, const char *region, const char *canonical_query,
                  time_t now, char amz_date[17], char date[9], char signature[65]);

/* Parse a Go duration ("300ms", "20s", "1m30s", "0") into milliseconds; 0 or -1. */
int hg_sdk_parse_duration_ms(const char *s, uint64_t *ms);

/* ---- one WebSocket client connection (conn.c) ---- */

struct hg_sdk_conn;
typedef struct hg_sdk_conn hg_sdk_conn_t;

/*
 * Start connecting to url (resolve, TCP, TLS for wss, HTTP upgrade to path_query) on srv's
 * loop. Later the I/O thread gets exactly one of:
 *   hg_sdk_io_conn_open(c)      the socket is open (then messages and, at the end, ...)
 *   hg_sdk_io_conn_end(c, ...)  the attempt failed, or the open socket closed on its own
 * unless it gives the connection up first with hg_sdk_conn_close()/hg_sdk_conn_abort().
 * Borrows url and path_query during the call. Returns NULL (err filled) when the attempt cannot
 * even start. I/O thread only.
 */
hg_sdk_conn_t *hg_sdk_conn_start(hangar_server_t *srv, const hg_sdk_url_t *url,
                                 const char *path_query, unsigned id, hangar_server_error_t *err);
/* Queue one text message (copied). 0; HANGAR_SERVER_ECLOSED when not open; HANGAR_SERVER_ELIMIT
 * when the send queue is full. */
int hg_sdk_conn_send(hg_sdk_conn_t *c, const char *text, size_t len);
/* Give the connection up gracefully: close frame with code, wait HG_SDK_CLOSE_WAIT_MS for the
 * answer, close TCP, free. No callback runs for it afterwards; c is invalid after this call. */
void hg_sdk_conn_close(hg_sdk_conn_t *c, int code);
/* Give the connection up at once (TCP closed without a close frame, as a dead peer would).
 * No callback runs for it afterwards; c is invalid after this call. */
void hg_sdk_conn_abort(hg_sdk_conn_t *c);
unsigned hg_sdk_conn_id(const hg_sdk_conn_t *c);
hangar_server_t *hg_sdk_conn_srv(const hg_sdk_conn_t *c);

/* The I/O thread's side of a connection (io.c). */
void hg_sdk_io_conn_open(hg_sdk_conn_t *c);
void hg_sdk_io_conn_message(hg_sdk_conn_t *c, const char *data, size_t len);
/* opened: whether hg_sdk_io_conn_open ran; code: the close code (the peer's, 1005 without one,
 * 1006 when TCP ended without a close frame); err: why, for a failed attempt. c is invalid
 * after this returns. */
void hg_sdk_io_conn_end(hg_sdk_conn_t *c, int opened, int code, const hangar_server_error_t *err);

/* ---- calls and the I/O thread (io.c) ---- */

enum hg_sdk_call_kind {
    HG_SDK_CALL_PLAIN = 0,
    HG_SDK_CALL_ACTIVATE_PROCESS, /* success starts heartbeats */
    HG_SDK_CALL_PROCESS_ENDING,   /* submission stops heartbeats */
    HG_SDK_CALL_HEARTBEAT,        /* internal: no waiter, freed by the I/O thread */
};

/*
 * One request to the service. A caller thread fills it (text holds the whole JSON message with
 * its RequestId), submits it and waits for `done`; between submission and `done` the I/O thread
 * owns it and after `done` it never touches it again.
 */
typedef struct hg_sdk_call {
    struct hg_sdk_call *next; /* inbox, then the pending list [mu then io] */
    enum hg_sdk_call_kind kind;
    const char *action; /* static string, for logs */
    char rid[HG_SDK_TOKEN_LEN + 1];
    char *text; /* the message; owned by whoever frees the call */
    size_t len;
    uint32_t timeout_ms;
    unsigned max_sends; /* 1 + resends */
    /* [io] */
    unsigned sends;     /* tries so far (timeouts counted) */
    uint64_t deadline;  /* uv_now() ms */
    unsigned sent_conn; /* id of the connection it was last written to, 0 = none */
    /* results [mu] */
    int done;
    int rc;
    hangar_server_error_t err;
    json_t *result; /* the success reply (stolen by the caller) */
} hg_sdk_call_t;

/* Callback thread work items. */
enum hg_sdk_event_kind {
    HG_SDK_EV_START_GAME_SESSION,
    HG_SDK_EV_UPDATE_GAME_SESSION,
    HG_SDK_EV_TERMINATE,
    HG_SDK_EV_HEALTH,
};

typedef struct hg_sdk_event {
    struct hg_sdk_event *next;
    enum hg_sdk_event_kind kind;
    json_t *msg;      /* the push (owned); NULL for HEALTH */
    int64_t term_sec; /* TERMINATE */
    uint64_t gen;     /* HEALTH: the heartbeat it answers */
} hg_sdk_event_t;

typedef struct hg_sdk_config {
    uint32_t call_timeout_ms, ready_timeout_ms, max_resends;
    uint32_t connect_timeout_ms, connect_retries, retry_interval_ms, retry_max_ms;
    uint32_t hb_interval_ms, hb_jitter_ms, health_timeout_ms, disconnect_timeout_ms;
    int tls_insecure;
    char *tls_ca_file;
    char *tool_name, *tool_version;
} hg_sdk_config_t;

struct hangar_server {
    /* [const] */
    char *fleet_id, *host_id, *process_id;
    char idempotency_token[HG_SDK_TOKEN_LEN + 1];
    char *region, *access_key, *secret_key, *session_token; /* SigV4 (until a refresh) */
    hg_sdk_config_t cfg;
    hangar_server_log_cb log_cb;
    void *log_ud;
    hangar_server_log_level_t log_level;

    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a call is done; init finished */
    pthread_cond_t cb_cv; /* work for the callback thread */

    /* [mu] */
    int closing; /* destroy (or a failed init) started: calls fail with ECLOSED */
    int io_gone; /* the async handle is closed: never uv_async_send again */
    int init_done;
    hangar_server_error_t init_err; /* init_err.code != 0: init failed */
    int down;                       /* connection lost for good: calls fail with down_err */
    hangar_server_error_t down_err;
    int ready;                  /* ActivateServerProcess succeeded */
    int ready_sent;             /* process_ready in progress or done */
    int ending;                 /* process_ending called */
    hangar_process_params_t pp; /* callbacks and user data (log paths not kept) */
    char *game_session_id;
    int64_t termination_ms;
    int has_termination;
    hg_sdk_call_t *inbox_head, *inbox_tail;
    unsigned calls;   /* user calls in the inbox or pending */
    unsigned waiters; /* threads blocked in a call (destroy waits for them to leave) */
    hg_sdk_event_t *ev_head, *ev_tail;
    unsigned events;
    int cb_stop;
    int cb_detached;         /* destroy ran on the callback thread: it frees srv itself */
    int health_result_ready; /* a health callback returned: */
    int health_result;
    uint64_t health_result_gen;

    pthread_t io_thread, cb_thread;
    int io_started, cb_started;

    /* [io] */
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t call_timer, hb_timer, health_timer, retry_timer, drain_timer;
    char *target_url;        /* where to connect: init's URL, then a RefreshConnection's */
    char *target_token;      /* auth token (NULL in SigV4 mode) */
    hg_sdk_conn_t *active;   /* the open socket calls go to */
    hg_sdk_conn_t *pending;  /* a connection attempt in progress */
    hg_sdk_conn_t *draining; /* the old socket after a refresh, closed by drain_timer */
    int pending_is_refresh;
    unsigned conn_seq;
    unsigned attempt; /* failed attempts in the current connect/reconnect series */
    int retry_is_refresh;
    int phase; /* enum in io.c */
    hangar_server_error_t last_conn_err;
    hg_sdk_call_t *calls_head; /* pending calls (sent or waiting for a socket) */
    unsigned timeouts_in_row;
    int hb_running, hb_in_flight, health_cb_running;
    uint64_t hb_gen, hb_waiting_gen;
    SSL_CTX *ssl_ctx; /* created on the first wss:// connection */
};

/* Create the loop and its handles and start the I/O thread, which connects. srv->mu held by
 * nobody. 0 or HANGAR_SERVER_ESYS. */
int hg_sdk_io_start(hangar_server_t *srv, hangar_server_error_t *err);
/* Ask the I/O thread to stop (closing must be set under mu first) and join it. */
void hg_sdk_io_stop(hangar_server_t *srv);
/* Wake the I/O thread; srv->mu must be held. No-op once the I/O thread is gone. */
void hg_sdk_io_wake_locked(hangar_server_t *srv);
/* The callback thread's queue (server.c); srv->mu must be held. Returns 0, or -1 when full
 * (ev is then freed). Takes ownership of ev. */
int hg_sdk_post_event_locked(hangar_server_t *srv, hg_sdk_event_t *ev);

#endif /* HG_SDK_INT_H */
