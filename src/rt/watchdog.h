/* hangar — the loop watchdog (STYLE rule 13).
 *
 * Measures how long each loop iteration kept the thread busy (wall time between two check
 * phases minus the time libuv spent waiting in poll, from uv_metrics_idle_time) and logs a
 * warning when one iteration exceeds the threshold: a callback that blocks the loop shows up
 * in the log with its duration. Exposes hangar_loop_busy_seconds (histogram) on /metrics.
 * The loop must be initialised with UV_METRICS_IDLE_TIME (hg_watchdog_start does it before
 * the loop first runs). Loop thread only.
 */
#ifndef HG_RT_WATCHDOG_H
#define HG_RT_WATCHDOG_H

#include <stdint.h>
#include <uv.h>

#include "core/metrics.h"

typedef struct hg_watchdog {
    uv_check_t check;
    uint64_t last_ns;
    uint64_t last_idle_ns;
    uint64_t threshold_ns;
    uint64_t warnings;
    hg_histogram_t busy;
} hg_watchdog_t;

/* Start watching; call before the loop first runs. threshold_ms: warn above this. */
int hg_watchdog_start(hg_watchdog_t *w, uv_loop_t *loop, uint32_t threshold_ms);
void hg_watchdog_stop(hg_watchdog_t *w);

#endif
