/* hangar — the loop watchdog (see watchdog.h). */
#include "rt/watchdog.h"

#include "core/log.h"

static void render(hg_buf_t *out, void *ud)
{
    hg_watchdog_t *w = ud;
    hg_buf_printf(out,
                  "# HELP hangar_loop_slow_iterations_total Loop iterations busier than the "
                  "watchdog threshold.\n# TYPE hangar_loop_slow_iterations_total counter\n"
                  "hangar_loop_slow_iterations_total %llu\n"
                  "# HELP hangar_loop_busy_seconds Busy time of one loop iteration.\n"
                  "# TYPE hangar_loop_busy_seconds histogram\n",
                  (unsigned long long)w->warnings);
    hg_histogram_render(out, "hangar_loop_busy_seconds", "", &w->busy);
}

static void on_check(uv_check_t *h)
{
    hg_watchdog_t *w = h->data;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(h->loop);
    if (w->last_ns) {
        uint64_t wall = now - w->last_ns;
        uint64_t idled = idle - w->last_idle_ns;
        uint64_t busy = wall > idled ? wall - idled : 0;
        hg_histogram_observe(&w->busy, (double)busy / 1e9);
        if (busy > w->threshold_ns) {
            w->warnings++;
            HG_LOG(HG_LOG_WARN, "watchdog", "loop iteration busy for %.1f ms (threshold %.1f ms)",
                   (double)busy / 1e6, (double)w->threshold_ns / 1e6);
        }
    }
    w->last_ns = now;
    w->last_idle_ns = idle;
}

int hg_watchdog_start(hg_watchdog_t *w, uv_loop_t *loop, uint32_t threshold_ms)
{
    *w = (hg_watchdog_t){.threshold_ns = (uint64_t)threshold_ms * 1000000ULL};
    int rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rc < 0)
        return rc;
    uv_check_init(loop, &w->check);
    w->check.data = w;
    uv_unref((uv_handle_t *)&w->check); /* never keeps the loop alive by itself */
    hg_metrics_register("watchdog", render, w);
    return uv_check_start(&w->check, on_check);
}

void hg_watchdog_stop(hg_watchdog_t *w)
{
    hg_metrics_unregister("watchdog");
    uv_check_stop(&w->check);
    uv_close((uv_handle_t *)&w->check, NULL);
}
