/* hangar — Prometheus text rendering and the renderer registry (see metrics.h). */
#include "core/metrics.h"

#include <string.h>

#include "core/alloc.h"

#define MAX_RENDERERS 32

static struct {
    const char *name;
    hg_metrics_render_cb cb;
    void *ud;
} renderers[MAX_RENDERERS];
static int nrenderers;

const double hg_hist_bounds[HG_HIST_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0};

void hg_metrics_register(const char *name, hg_metrics_render_cb cb, void *ud)
{
    hg_metrics_unregister(name);
    if (nrenderers == MAX_RENDERERS)
        return;
    renderers[nrenderers].name = name;
    renderers[nrenderers].cb = cb;
    renderers[nrenderers].ud = ud;
    nrenderers++;
}

void hg_metrics_unregister(const char *name)
{
    for (int i = 0; i < nrenderers; i++) {
        if (strcmp(renderers[i].name, name) == 0) {
            memmove(&renderers[i], &renderers[i + 1],
                    sizeof(renderers[0]) * (size_t)(nrenderers - i - 1));
            nrenderers--;
            return;
        }
    }
}

void hg_metrics_render(hg_buf_t *out)
{
    hg_buf_printf(out,
                  "# HELP hangar_memory_bytes Bytes allocated by hangard.\n"
                  "# TYPE hangar_memory_bytes gauge\nhangar_memory_bytes %zu\n",
                  hg_alloc_used());
    for (int i = 0; i < nrenderers; i++)
        renderers[i].cb(out, renderers[i].ud);
}

void hg_histogram_observe(hg_histogram_t *h, double seconds)
{
    int i = 0;
    while (i < HG_HIST_BUCKETS - 1 && seconds > hg_hist_bounds[i])
        i++;
    if (seconds > hg_hist_bounds[HG_HIST_BUCKETS - 1])
        i = HG_HIST_BUCKETS; /* only in +Inf */
    if (i < HG_HIST_BUCKETS)
        h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

void hg_histogram_render(hg_buf_t *out, const char *name, const char *labels,
                         const hg_histogram_t *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i < HG_HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        hg_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, hg_hist_bounds[i],
                      (unsigned long long)cum);
    }
    hg_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                  (unsigned long long)h->count);
    if (labels[0]) {
        hg_buf_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, h->sum, name,
                      labels, (unsigned long long)h->count);
    } else {
        hg_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
                      (unsigned long long)h->count);
    }
}
