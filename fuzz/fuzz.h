/* hangar — what the libFuzzer drivers that run a real HTTP server on loopback share. */
#ifndef HG_FUZZ_FUZZ_H
#define HG_FUZZ_FUZZ_H

#include "http/http.h"

/* The HTTP server's limits in the fuzz drivers: the daemon's shape, room for the inputs. */
static inline hg_http_limits_t hg_fuzz_http_limits(void)
{
    hg_http_limits_t l = {.max_header_bytes = 16384,
                          .max_headers = 64,
                          .max_body = 65536,
                          .max_pipeline = 16,
                          .max_conns = 64,
                          .idle_timeout_ms = 60000,
                          .request_timeout_ms = 60000};
    return l;
}

#endif
