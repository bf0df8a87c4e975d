/* hangar — a per-key rate limit in fixed windows (per source address, for the endpoints open to
 * clients without credentials).
 *
 * At most `limit` takes per key per window of `window_ms`; all counts restart when a window
 * ends. At most `max_keys` keys are counted in one window: past that, takes by a key not yet
 * counted are refused too (an address flood cannot grow memory). Loop thread only; the caller
 * passes the time (the injected clock).
 */
#ifndef HG_CORE_RATELIMIT_H
#define HG_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/map.h"

typedef struct hg_ratelimit {
    hg_map_t counts; /* key → (uintptr_t) takes in this window */
    int64_t window_start_ms, window_ms;
    uint32_t limit;
    size_t max_keys;
} hg_ratelimit_t;

void hg_ratelimit_init(hg_ratelimit_t *rl, uint32_t limit, int64_t window_ms, size_t max_keys);
void hg_ratelimit_free(hg_ratelimit_t *rl);
/* 0 when key may go on now (counted), HG_ETHROTTLED when over its limit or when the window
 * counts max_keys keys already. */
int hg_ratelimit_take(hg_ratelimit_t *rl, const char *key, int64_t now_ms);

#endif
