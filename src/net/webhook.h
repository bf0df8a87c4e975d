/* hangar — outbound webhooks: POST a JSON body to an http:// or https:// URL, asynchronously,
 * with retries.
 *
 * hangard posts game session placement events to a queue's NotificationTarget URL. The caller
 * decides whether the URL's host is allowed (hg_webhook_url_host() gives it the host to check);
 * this module only delivers. A delivery is queued by hg_webhook_post() and ends in exactly one
 * of three ways, each counted (hg_webhook_stats(), /metrics):
 *
 *   delivered  an attempt got a 2xx answer;
 *   failed     every attempt (limits.attempts) failed: connection refused or reset, DNS, TLS
 *              (including a certificate that does not verify), timeout, a non-2xx answer or a
 *              malformed one; a warning is logged with the host and the last reason;
 *   dropped    it was still waiting when the queue overflowed (the oldest waiting delivery
 *              makes room for the new one), or hangard stopped before it ended.
 *
 * Each attempt is one connection (Connection: close): DNS (uv_getaddrinfo, libuv's pool, every
 * address tried in order), TCP connect, TLS for https (net/tls.h, verified against the system
 * trust bundle by default, with the URL's host as the expected name), one HTTP/1.1 request,
 * then the answer's status line and headers (at most HG_WEBHOOK_MAX_RESPONSE bytes are read;
 * the body is ignored). limits.timeout_ms bounds the whole attempt. Between attempts a delivery
 * waits backoff_ms, doubled after every failure. There is no ordering guarantee between
 * deliveries: up to max_inflight run at once, and a retry waits while later posts go out.
 * Memory is bounded by max_queue × (max_body + the request head, under 3 KiB) plus
 * max_inflight attempts of about 10 KiB each (and a TLS session for https).
 *
 * Threading: loop thread only. Nothing here blocks the loop, except hg_webhook_new() reading
 * the TLS trust bundle (start-up only).
 */
#ifndef HG_NET_WEBHOOK_H
#define HG_NET_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"

typedef struct hg_webhook hg_webhook_t;

/* Answer bytes read per attempt before it fails (status line and headers must fit). */
#define HG_WEBHOOK_MAX_RESPONSE 16384
/* Longest URL accepted by hg_webhook_post() (the request line must stay reasonable). */
#define HG_WEBHOOK_MAX_URL 2048
/* Longest host name (DNS limit). */
#define HG_WEBHOOK_MAX_HOST 253

/** Limits and TLS options. A zero numeric field takes its default. */
typedef struct hg_webhook_limits {
    size_t max_queue;    /**< deliveries waiting or in flight; beyond, the oldest waiting one is
                              dropped (counted) — default 1000 */
    size_t max_body;     /**< body bytes per post — default 64 KiB */
    uint32_t timeout_ms; /**< per attempt: DNS + connect + TLS + request + answer — default 5000 */
    uint32_t attempts;   /**< attempts per delivery, the first included — default 5 */
    uint32_t backoff_ms; /**< delay before the first retry, doubled for each next one — default
                              1000 (capped at 10 minutes) */
    size_t max_inflight; /**< attempts running at once (connections) — default 16 */
    int tls_insecure;    /**< 1: do not verify https peers at all (tests, self-signed targets) */
    const char *ca_file; /**< PEM trust bundle for https instead of the system's; borrowed for
                              the hg_webhook_new() call only; NULL: the system bundle */
} hg_webhook_limits_t;

#define HG_WEBHOOK_DEFAULT_MAX_QUEUE 1000
#define HG_WEBHOOK_DEFAULT_MAX_BODY (64 * 1024)
#define HG_WEBHOOK_DEFAULT_TIMEOUT_MS 5000
#define HG_WEBHOOK_DEFAULT_ATTEMPTS 5
#define HG_WEBHOOK_DEFAULT_BACKOFF_MS 1000
#define HG_WEBHOOK_DEFAULT_MAX_INFLIGHT 16

/** Counters and gauges of one webhook sender. */
typedef struct hg_webhook_stats {
    uint64_t delivered; /**< deliveries answered 2xx */
    uint64_t failed;    /**< deliveries whose every attempt failed */
    uint64_t retried;   /**< attempts that failed and were scheduled again */
    uint64_t dropped;   /**< deliveries dropped: queue overflow or shutdown */
    size_t queued;      /**< deliveries waiting (for a slot or for their retry time) */
    size_t inflight;    /**< attempts running now */
} hg_webhook_stats_t;

/**
 * Create a webhook sender on loop and register its /metrics lines (one sender per process
 * carries the metrics: a later one replaces an earlier one's until it is freed).
 * Reads the TLS trust bundle (blocking): call at start-up. When no ca_file is given and the
 * system bundle cannot be read, a warning is logged and https deliveries fail; a ca_file that
 * cannot be read is an error.
 * @param loop the loop every delivery runs on; borrowed until hg_webhook_free()
 * @param lim  limits (copied); NULL for every default
 * @param out  receives the sender; release with hg_webhook_stop() then hg_webhook_free()
 * @param err  filled on failure
 * @return 0, or HG_EINVAL (ca_file unreadable or not PEM)
 */
int hg_webhook_new(uv_loop_t *loop, const hg_webhook_limits_t *lim, hg_webhook_t **out,
                   hg_error_t *err);

/**
 * Queue one POST of body with Content-Type: application/json to url.
 * The request carries Host, User-Agent: hangard, Content-Type, Content-Length and
 * Connection: close. Delivery is asynchronous (see the file comment); a 2xx answer ends it,
 * anything else is retried with backoff up to limits.attempts.
 * @param url  "http://" or "https://", host (name, IPv4, or [IPv6]), optional ":port", optional
 *             path and query (default "/"); no user info; at most HG_WEBHOOK_MAX_URL bytes;
 *             borrowed for the call only
 * @param body the JSON to send, len bytes, copied
 * @return 0 when queued; HG_EINVAL for a URL that is not http(s) or has no host (err says why);
 *         HG_ELIMIT when len > limits.max_body, or when the queue is full of deliveries in
 *         flight so none waiting can be dropped (the new one is then dropped and counted);
 *         HG_ESHUTDOWN after hg_webhook_stop()
 */
int hg_webhook_post(hg_webhook_t *w, const char *url, const char *body, size_t len,
                    hg_error_t *err);

/**
 * The host of url, as the caller's allow-list should see it: lower-cased, without port, user
 * info or IPv6 brackets ("https://API.Example.com:8443/x" gives "api.example.com",
 * "http://[::1]/" gives "::1"). Any thread; no I/O.
 * @param out receives the NUL-terminated host
 * @param cap size of out
 * @return 0; HG_EINVAL when hg_webhook_post() would refuse url; HG_ELIMIT when out is too small
 */
int hg_webhook_url_host(const char *url, char *out, size_t cap);

/**
 * Cancel everything (the daemon is stopping): attempts in flight are abandoned, their
 * connections closed; deliveries not yet ended are counted as dropped. Later posts fail with
 * HG_ESHUTDOWN. Handles close on the loop; run it (uv_run) before closing it. Idempotent;
 * NULL-safe.
 */
void hg_webhook_stop(hg_webhook_t *w);

/**
 * Release w (stopping it first if needed) and unregister its metrics. The memory itself is
 * released once the loop has run the close callbacks of w's own handles, so calling this right
 * after hg_webhook_stop(), before the loop ran, is safe. w is invalid after this call. NULL-safe.
 */
void hg_webhook_free(hg_webhook_t *w);

/** Current counters of w. */
void hg_webhook_stats(const hg_webhook_t *w, hg_webhook_stats_t *out);

#endif
