/* hangar — fixed-window rate limit per key (see ratelimit.h). */
#include "core/ratelimit.h"

#include "core/err.h"

void hg_ratelimit_init(hg_ratelimit_t *rl, uint32_t limit, int64_t window_ms, size_t max_keys)
{
    hg_map_init(&rl->counts);
    rl->window_start_ms = 0;
    rl->window_ms = window_ms > 0 ? window_ms : 1;
    rl->limit = limit;
    rl->max_keys = max_keys;
}

void hg_ratelimit_free(hg_ratelimit_t *rl)
{
    hg_map_free(&rl->counts);
}

int hg_ratelimit_take(hg_ratelimit_t *rl, const char *key, int64_t now_ms)
{
    if (now_ms - rl->window_start_ms >= rl->window_ms || now_ms < rl->window_start_ms) {
        hg_map_free(&rl->counts); /* a new window: every count starts again */
        hg_map_init(&rl->counts);
        rl->window_start_ms = now_ms;
    }
    uintptr_t n = (uintptr_t)hg_map_get(&rl->counts, key);
    if (n >= rl->limit || (n == 0 && hg_map_count(&rl->counts) >= rl->max_keys))
        return HG_ETHROTTLED;
    hg_map_set(&rl->counts, key, (void *)(n + 1));
    return 0;
}
