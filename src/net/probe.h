/* hangar — active health probes: a TCP connect to host:port, optionally followed by an HTTP GET
 * of a path that must answer 2xx or 3xx, all within a timeout. Used by the registry's health
 * checks (the registry asks, the daemon runs the probe here and reports back). Host names are
 * resolved with uv_getaddrinfo (libuv's thread pool). Loop thread only.
 */
#ifndef HG_NET_PROBE_H
#define HG_NET_PROBE_H

#include <stdint.h>
#include <uv.h>

/* ok: 1 healthy, 0 not. Called exactly once. */
typedef void (*hg_probe_cb)(void *ud, int ok);

/* Start a probe. http_path NULL: TCP connect only. Returns 0, or <0 when it could not start
 * (cb is then not called). */
int hg_probe_start(uv_loop_t *loop, const char *host, int port, const char *http_path,
                   uint32_t timeout_ms, hg_probe_cb cb, void *ud);
/* End every probe in flight now (each callback runs with ok 0); shutdown. */
void hg_probe_cancel_all(void);
/* Probes in flight (for tests and metrics). */
int hg_probe_inflight(void);

#endif
