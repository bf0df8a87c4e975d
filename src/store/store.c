/* hangar — the storage front: transactions, ordering, the writer lane, metrics.
 *
 * DESIGN: hg_store_commit() queues the transaction as a job on the store writer lane. The lane
 * thread takes every queued job as one batch (up to batch_max) and calls the backend's apply
 * once for all their ops: one transaction and one fsync for the batch (group commit). Jobs
 * complete on the loop in FIFO order. Empty transactions ride the same queue as barriers and
 * cost no I/O; when nothing is in flight they complete at once without touching the lane.
 *
 * A failed batch fences the store (as PostgreSQL treats a failed fsync): the domain changed its
 * memory before committing, so after a failure memory may hold changes the disk refused. From
 * the failed batch on, every transaction fails, barriers included, and nothing more is written
 * (the lane refuses later batches without touching the backend; the loop refuses barriers
 * that would otherwise complete at once), so no caller acknowledges, shows or publishes
 * anything that is not durable. The failure callback tells the owner once, on the loop; the
 * daemon then stops serving and rebuilds its memory from the store (daemon.c). The failed
 * batch's transactions get the backend's error; the ones refused after it HG_ESHUTDOWN.
 */
#include "store/store.h"

#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rt/clock.h"
#include "rt/lane.h"

struct hg_store_txn {
    hg_lane_job_t job; /* first: the lane's done callback recovers the txn */
    hg_store_t *store;
    hg_store_op_t **ops;
    size_t nops, cap;
    hg_store_commit_cb cb;
    void *ud;
    int rc;
    struct hook {
        hg_store_commit_cb cb;
        void *ud;
    } * hooks;
    size_t nhooks, hooks_cap;
    int batch_head; /* set by the lane: first non-empty txn of its batch */
    double apply_s; /* with batch_head: seconds the backend took */
};

struct hg_store {
    const hg_store_backend_t *be;
    void *state;
    hg_lane_t lane;
    hg_store_stats_t stats;
    hg_histogram_t commit_hist; /* seconds per backend apply (the fsync is in it) */
    int holds;                  /* loads in progress (nested loads hold the lane once) */
    int lane_fenced;            /* lane thread only: a batch failed, refuse every later one */
    int fenced;                 /* loop thread: a failed transaction completed */
    hg_store_failure_cb on_failure;
    void *failure_ud;
};

static void render(hg_buf_t *out, void *ud)
{
    hg_store_t *s = ud;
    hg_buf_printf(out,
                  "# HELP hangar_store_commit_batches_total Backend commits (one fsync each).\n"
                  "# TYPE hangar_store_commit_batches_total counter\n"
                  "hangar_store_commit_batches_total %llu\n"
                  "# HELP hangar_store_txns_total Transactions made durable.\n"
                  "# TYPE hangar_store_txns_total counter\n"
                  "hangar_store_txns_total %llu\n"
                  "# HELP hangar_store_failures_total Failed commit batches.\n"
                  "# TYPE hangar_store_failures_total counter\n"
                  "hangar_store_failures_total %llu\n"
                  "# HELP hangar_store_inflight Transactions queued or committing.\n"
                  "# TYPE hangar_store_inflight gauge\n"
                  "hangar_store_inflight %zu\n"
                  "# HELP hangar_store_commit_seconds Time to commit one batch, fsync included.\n"
                  "# TYPE hangar_store_commit_seconds histogram\n",
                  (unsigned long long)s->stats.batches, (unsigned long long)s->stats.txns,
                  (unsigned long long)s->stats.failures, hg_lane_inflight(&s->lane));
    hg_histogram_render(out, "hangar_store_commit_seconds", "", &s->commit_hist);
}

/* Lane thread: apply every op of the batch in one backend transaction. The first non-empty
 * transaction of the batch carries the batch's result and timing for the metrics. */
static void writer_batch(hg_lane_t *lane, hg_list_t *batch, size_t n)
{
    hg_store_t *s = lane->data;
    (void)n;
    hg_list_t *q;
    if (s->lane_fenced) { /* memory may be ahead of the disk: write nothing more */
        hg_list_foreach (q, batch)
            ((hg_store_txn_t *)hg_container_of(q, hg_lane_job_t, node))->rc = HG_ESHUTDOWN;
        return;
    }
    size_t nops = 0;
    hg_store_txn_t *head = NULL;
    hg_list_foreach (q, batch) {
        hg_store_txn_t *t = (hg_store_txn_t *)hg_container_of(q, hg_lane_job_t, node);
        if (t->nops && head == NULL)
            head = t;
        nops += t->nops;
    }
    if (nops == 0)
        return;
    hg_store_op_t **ops = hg_malloc(nops * sizeof(*ops));
    size_t i = 0;
    hg_list_foreach (q, batch) {
        hg_store_txn_t *t = (hg_store_txn_t *)hg_container_of(q, hg_lane_job_t, node);
        for (size_t j = 0; j < t->nops; j++)
            ops[i++] = t->ops[j];
    }
    uint64_t t0 = hg_mono_ns();
    int rc = s->be->apply(s->state, ops, nops);
    head->batch_head = 1;
    head->apply_s = (double)(hg_mono_ns() - t0) / 1e9;
    hg_free(ops);
    if (rc < 0)
        s->lane_fenced = 1;
    hg_list_foreach (q, batch) {
        hg_store_txn_t *t = (hg_store_txn_t *)hg_container_of(q, hg_lane_job_t, node);
        t->rc = rc;
    }
}

static void run_hooks(hg_store_txn_t *t, int rc)
{
    for (size_t i = 0; i < t->nhooks; i++)
        t->hooks[i].cb(t->hooks[i].ud, rc);
    t->nhooks = 0;
}

static void txn_done(hg_lane_job_t *job)
{
    hg_store_txn_t *t = (hg_store_txn_t *)job;
    hg_store_t *s = t->store;
    if (t->batch_head) {
        s->stats.batches++;
        hg_histogram_observe(&s->commit_hist, t->apply_s);
        if (t->rc != 0) {
            s->stats.failures++;
            HG_LOG(HG_LOG_ERROR, "store", "commit failed rc=%s", hg_err_name(t->rc));
        }
    }
    if (t->nops && t->rc == 0)
        s->stats.txns++;
    if (t->rc < 0 && !s->fenced) {
        s->fenced = 1;
        if (s->on_failure)
            s->on_failure(s->failure_ud, t->rc);
    }
    hg_store_commit_cb cb = t->cb;
    void *ud = t->ud;
    int rc = t->rc;
    run_hooks(t, rc);
    hg_store_txn_free(t);
    if (cb)
        cb(ud, rc);
}

int hg_store_open(uv_loop_t *loop, const hg_store_backend_t *backend, const char *location,
                  size_t batch_max, hg_store_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_store_t *s = hg_calloc(1, sizeof(*s));
    s->be = backend;
    if (backend->version != HG_STORE_BACKEND_VERSION) {
        rc = hg_error_set(err, HG_EINTERNAL, "store backend %s has version %d, want %d",
                          backend->name, backend->version, HG_STORE_BACKEND_VERSION);
        goto out;
    }
    rc = backend->open(location, &s->state, err);
    if (rc < 0)
        goto out;
    rc = hg_lane_start(&s->lane, loop, "store-writer", writer_batch, batch_max, s);
    if (rc < 0) {
        backend->close(s->state);
        hg_error_set(err, rc, "cannot start the store writer lane: %s", hg_strerror(rc));
        goto out;
    }
    hg_metrics_register("store", render, s);
    *out = s;
    s = NULL;
out:
    hg_free(s);
    return rc;
}

void hg_store_close(hg_store_t *s)
{
    if (s == NULL)
        return;
    hg_lane_stop(&s->lane);
    hg_metrics_unregister("store");
    s->be->close(s->state);
    hg_free(s);
}

/* The connection is ours while we read; a load from inside a load's callback keeps the hold. */
static void hold(hg_store_t *s)
{
    if (s->holds++ == 0)
        hg_lane_hold(&s->lane);
}

static void release(hg_store_t *s)
{
    if (--s->holds == 0)
        hg_lane_release(&s->lane);
}

int hg_store_load(hg_store_t *s, const char *coll, hg_store_load_cb cb, void *ud)
{
    hold(s);
    int rc = s->be->load(s->state, coll, cb, ud);
    release(s);
    return rc;
}

hg_store_txn_t *hg_store_txn_new(hg_store_t *s)
{
    hg_store_txn_t *t = hg_calloc(1, sizeof(*t));
    t->store = s;
    return t;
}

static void add_op(hg_store_txn_t *t, hg_store_op_kind_t kind, const char *coll, const char *key,
                   char *value)
{
    if (t->nops == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->ops = hg_realloc(t->ops, t->cap * sizeof(*t->ops));
    }
    hg_store_op_t *op = hg_malloc(sizeof(*op));
    op->kind = kind;
    op->coll = hg_strdup(coll);
    op->key = hg_strdup(key);
    op->value = value;
    t->ops[t->nops++] = op;
}

void hg_store_put(hg_store_txn_t *t, const char *coll, const char *key, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    char *copy = hg_strdup(text ? text : "null");
    free(text);
    add_op(t, HG_STORE_PUT, coll, key, copy);
}

void hg_store_put_text(hg_store_txn_t *t, const char *coll, const char *key, char *text)
{
    add_op(t, HG_STORE_PUT, coll, key, text);
}

void hg_store_del(hg_store_txn_t *t, const char *coll, const char *key)
{
    add_op(t, HG_STORE_DEL, coll, key, NULL);
}

int hg_store_txn_empty(const hg_store_txn_t *t)
{
    return t->nops == 0 && t->nhooks == 0;
}

void hg_store_txn_on_commit(hg_store_txn_t *t, hg_store_commit_cb cb, void *ud)
{
    if (t->nhooks == t->hooks_cap) {
        t->hooks_cap = t->hooks_cap ? t->hooks_cap * 2 : 4;
        t->hooks = hg_realloc(t->hooks, t->hooks_cap * sizeof(*t->hooks));
    }
    t->hooks[t->nhooks].cb = cb;
    t->hooks[t->nhooks].ud = ud;
    t->nhooks++;
}

void hg_store_txn_free(hg_store_txn_t *t)
{
    if (t == NULL)
        return;
    run_hooks(t, HG_ESTORE); /* dropped without a commit */
    hg_free(t->hooks);
    for (size_t i = 0; i < t->nops; i++) {
        hg_free(t->ops[i]->coll);
        hg_free(t->ops[i]->key);
        hg_free(t->ops[i]->value);
        hg_free(t->ops[i]);
    }
    hg_free(t->ops);
    hg_free(t);
}

void hg_store_commit(hg_store_txn_t *t, hg_store_commit_cb cb, void *ud)
{
    hg_store_t *s = t->store;
    t->cb = cb;
    t->ud = ud;
    if (t->nops == 0 && hg_lane_inflight(&s->lane) == 0) {
        int rc = s->fenced ? HG_ESHUTDOWN : 0;
        run_hooks(t, rc);
        hg_store_txn_free(t);
        if (cb)
            cb(ud, rc);
        return;
    }
    t->job.done = txn_done;
    hg_lane_submit(&s->lane, &t->job);
}

int hg_store_put_now(hg_store_t *s, const char *coll, const char *key, json_t *value)
{
    hg_store_txn_t *t = hg_store_txn_new(s);
    hg_store_put(t, coll, key, value);
    hold(s);
    int rc = s->be->apply(s->state, t->ops, t->nops);
    release(s);
    hg_store_txn_free(t);
    return rc;
}

void hg_store_set_failure_cb(hg_store_t *s, hg_store_failure_cb cb, void *ud)
{
    s->on_failure = cb;
    s->failure_ud = ud;
}

int hg_store_fenced(const hg_store_t *s)
{
    return s->fenced;
}

void hg_store_stats(const hg_store_t *s, hg_store_stats_t *out)
{
    *out = s->stats;
    out->inflight = hg_lane_inflight(&s->lane);
}

/* Placeholder until the reader lane lands (logs module work). */
void hg_store_scan(hg_store_t *s, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_rows_cb cb, void *ud)
{
    (void)s, (void)coll, (void)prefix, (void)after, (void)limit, (void)desc;
    cb(ud, HG_ENOTIMPL, NULL, 0, 0);
}

void hg_store_get(hg_store_t *s, const char *coll, const char *key, hg_store_rows_cb cb, void *ud)
{
    (void)s, (void)coll, (void)key;
    cb(ud, HG_ENOTIMPL, NULL, 0, 0);
}
