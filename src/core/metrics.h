/* hangar — /metrics in the Prometheus text format.
 *
 * Modules own their counters (plain uint64_t fields updated on the loop thread) and register
 * a render function that appends their lines; GET /metrics calls every renderer in
 * registration order. hg_histogram_t is a fixed-bucket latency histogram (seconds).
 */
#ifndef HG_CORE_METRICS_H
#define HG_CORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"

typedef void (*hg_metrics_render_cb)(hg_buf_t *out, void *ud);

/* Register a renderer (loop thread, at start-up). ud is borrowed until unregister. */
void hg_metrics_register(const char *name, hg_metrics_render_cb cb, void *ud);
void hg_metrics_unregister(const char *name);
/* Render every registered module into out. */
void hg_metrics_render(hg_buf_t *out);

#define HG_HIST_BUCKETS 14
typedef struct hg_histogram {
    uint64_t buckets[HG_HIST_BUCKETS]; /* cumulative at render time, per-bucket here */
    uint64_t count;
    double sum;
} hg_histogram_t;

/* Bucket upper bounds in seconds, 50 us .. 10 s. */
extern const double hg_hist_bounds[HG_HIST_BUCKETS];
void hg_histogram_observe(hg_histogram_t *h, double seconds);
/* Append the _bucket/_sum/_count lines; labels like `op="X"` or "" for none. */
void hg_histogram_render(hg_buf_t *out, const char *name, const char *labels,
                         const hg_histogram_t *h);

#endif
