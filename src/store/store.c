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
 *
 * The journal (store.h): with a backend that keeps one, a transaction with history ops gets a
 * number (jseq) at commit; once durable, its history puts and deletes of collections read by key
 * (partition.h hg_store_history_kind 2) move into the tail, a map by collection and key holding
 * the latest value, and a third lane, the store index, has the
 * backend fold the journal when enough waits (index_maybe). A fold reports the number it
 * reached; the tail forgets what it covers and the reads held for it run. A get looks in the
 * tail first (its answer still goes through the reader lane, in order); a scan of a history
 * collection submitted while folded < done is held until a fold covers it. A failed fold fences
 * nothing: the journal keeps its rows and the held reads fail (HG_ESTORE).
 *
 * History reads (hg_store_scan, _get, _events, _event_types) are jobs on a second lane, the
 * store reader, whose thread owns the backend's read-only connection (hg_store_reads_t, found
 * at the start of the backend's state). A job copies its arguments when submitted; on the lane
 * it asks the backend for limit + 1 rows (the extra one only says `more`) and copies them into
 * the job (one growing text buffer and offsets into it); its done callback turns the offsets
 * into pointers and calls back on the loop. Closing stops the reader first (its callbacks may
 * still commit, e.g. the retention sweep's deletes) and refuses reads from then on.
 */
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"
#include "core/metrics.h"
#include "rt/clock.h"
#include "rt/lane.h"
#include "store/partition.h"

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
    int batch_head;        /* set by the lane: first non-empty txn of its batch */
    double apply_s;        /* with batch_head: seconds the backend took */
    uint64_t jseq;         /* > 0: it has history ops; its number (store-wide, in commit order) */
    int index_req;         /* a job of the index lane (no ops); 2: a retry after a failure */
    uint64_t indexed_upto; /* index_req, set by the lane: every jseq <= this is folded */
    size_t jops;           /* history ops (journal rows); index_req: rows the fold took */
};

/* The tail: history records written and not folded yet, their latest values. Entries are
 * copied into blocks filled in commit order, and a block is freed whole once a fold covers its
 * last entry; a hash table of its own points at the live ones. (Keeping each op's value and a
 * map entry allocated on their own until the fold, the loop's heap fragmented: after a purchase
 * run, event ingest spent a quarter of the loop in malloc and ran at half speed.) */
typedef struct tail_ent {
    uint64_t jseq;
    uint64_t hash;
    uint32_t klen; /* "<coll>\x1f<key>", NUL-terminated in kv */
    int32_t vlen;  /* -1: deleted; else the value follows the key's NUL */
    char kv[];
} tail_ent_t;

typedef struct tail_block {
    struct tail_block *next;
    uint64_t max_jseq; /* its last entry's */
    size_t used, cap;
    char data[];
} tail_block_t;

#define TAIL_BLOCK (1u << 20)
/* Blocks a fold empties are kept for reuse up to this many (16 MiB; a purchase run's fold
 * empties 10-20), with their pages: mapping fresh ones faulted every page in again, ~6% of the
 * loop in a purchase run. */
#define TAIL_SPARE_BLOCKS 16

typedef struct tail {
    tail_ent_t **slots; /* open addressing, at most half full; NULL: empty */
    size_t cap, count;
    tail_ent_t **spare; /* a zeroed table of cap slots for the next rehash at the same size */
    tail_block_t *head, *last; /* oldest first */
    tail_block_t *free;        /* spare TAIL_BLOCK blocks, at most TAIL_SPARE_BLOCKS */
    size_t nfree;
    size_t bytes; /* in blocks, live ones */
} tail_t;

struct hg_store {
    const hg_store_backend_t *be;
    void *state;
    hg_lane_t lane;
    const hg_store_reads_t *reads; /* NULL: no history reads */
    void *reader;                  /* the reads' connection, used only by the reader lane */
    hg_lane_t reader_lane;
    int reader_started;
    int closing; /* hg_store_close began: reads are refused */
    hg_store_stats_t stats;
    hg_histogram_t commit_hist; /* seconds per backend apply (the fsync is in it) */
    int holds;                  /* loads in progress (nested loads hold the lane once) */
    int lane_fenced;            /* lane thread only: a batch failed, refuse every later one */
    int fenced;                 /* loop thread: a failed transaction completed */
    hg_store_failure_cb on_failure;
    void *failure_ud;
    /* the journal (loop thread): store.h "The journal" */
    tail_t tail;         /* history written and not folded */
    uint64_t jseq_next;  /* the last journal number given */
    uint64_t jseq_done;  /* the highest journaled transaction completed */
    uint64_t indexed;    /* every journaled transaction <= this is indexed */
    size_t jops_pending; /* history ops durable and not folded (about: see index_done) */
    int index_inflight;  /* an index job is queued or running */
    hg_list_t held;      /* reads waiting for the index (read_job_t, through job.node) */
    hg_list_t deferred;  /* commits waiting for the tail to shrink (store.h, "The journal") */
    size_t ndeferred;
    size_t tail_max;      /* HG_STORE_TAIL_MAX, or a test's */
    hg_lane_t index_lane; /* folds the journal (backend's index) */
    int index_started;
    hg_histogram_t index_hist; /* seconds per index */
};

#define READER_BATCH_MAX 16   /* reads taken by the reader thread at once */
#define INDEX_RETRY_US 250000 /* a failed fold is tried again after this when commits wait */

static void tail_clear(tail_t *t);
static void index_submit(hg_store_t *s);
static void held_fail(hg_store_t *s, int rc);
static void index_maybe(hg_store_t *s);

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
                  "# HELP hangar_store_reads_total History reads completed (reader lane).\n"
                  "# TYPE hangar_store_reads_total counter\n"
                  "hangar_store_reads_total %llu\n"
                  "# HELP hangar_store_read_errors_total History reads the backend failed.\n"
                  "# TYPE hangar_store_read_errors_total counter\n"
                  "hangar_store_read_errors_total %llu\n"
                  "# HELP hangar_store_commit_seconds Time to commit one batch, fsync included.\n"
                  "# TYPE hangar_store_commit_seconds histogram\n",
                  (unsigned long long)s->stats.batches, (unsigned long long)s->stats.txns,
                  (unsigned long long)s->stats.failures, hg_lane_inflight(&s->lane) + s->ndeferred,
                  (unsigned long long)s->stats.reads, (unsigned long long)s->stats.read_errors);
    hg_histogram_render(out, "hangar_store_commit_seconds", "", &s->commit_hist);
    if (s->be->index == NULL)
        return;
    hg_buf_printf(out,
                  "# HELP hangar_store_journal_pending Journaled transactions not indexed yet.\n"
                  "# TYPE hangar_store_journal_pending gauge\n"
                  "hangar_store_journal_pending %llu\n"
                  "# HELP hangar_store_journal_bytes Bytes of their records kept in memory.\n"
                  "# TYPE hangar_store_journal_bytes gauge\n"
                  "hangar_store_journal_bytes %zu\n"
                  "# HELP hangar_store_index_errors_total Journal indexes that failed.\n"
                  "# TYPE hangar_store_index_errors_total counter\n"
                  "hangar_store_index_errors_total %llu\n"
                  "# HELP hangar_store_commits_deferred_total Commits that waited for a fold "
                  "(the tail at its limit).\n"
                  "# TYPE hangar_store_commits_deferred_total counter\n"
                  "hangar_store_commits_deferred_total %llu\n"
                  "# HELP hangar_store_index_seconds Time to index the journal once.\n"
                  "# TYPE hangar_store_index_seconds histogram\n",
                  (unsigned long long)(s->jseq_done - s->indexed), s->tail.bytes,
                  (unsigned long long)s->stats.index_errors, (unsigned long long)s->stats.deferred);
    hg_histogram_render(out, "hangar_store_index_seconds", "", &s->index_hist);
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

/* Index lane thread: fold the journal once for every request of the batch. A failed fold
 * fences nothing (the journal keeps every row; the next fold tries again). */
static void index_batch(hg_lane_t *lane, hg_list_t *batch, size_t n)
{
    hg_store_t *s = lane->data;
    (void)n;
    hg_store_txn_t *first = (hg_store_txn_t *)hg_container_of(batch->next, hg_lane_job_t, node);
    if (first->index_req == 2) /* a fold failed while commits wait for one: not in a spin */
        usleep(INDEX_RETRY_US);
    uint64_t upto = 0, t0 = hg_mono_ns();
    size_t rows = 0;
    int rc = s->be->index(s->state, &upto, &rows);
    double took = (double)(hg_mono_ns() - t0) / 1e9;
    hg_list_t *q;
    hg_list_foreach (q, batch) {
        hg_store_txn_t *t = (hg_store_txn_t *)hg_container_of(q, hg_lane_job_t, node);
        t->rc = rc;
        t->indexed_upto = upto;
        t->jops = rows;
        t->apply_s = took;
        rows = 0; /* counted once */
    }
}

static void reader_batch(hg_lane_t *lane, hg_list_t *batch, size_t n);

static void run_hooks(hg_store_txn_t *t, int rc)
{
    for (size_t i = 0; i < t->nhooks; i++)
        t->hooks[i].cb(t->hooks[i].ud, rc);
    t->nhooks = 0;
}

static void index_done(hg_store_t *s, hg_store_txn_t *t);
static void tail_note(hg_store_t *s, hg_store_txn_t *t);

static void txn_done(hg_lane_job_t *job)
{
    hg_store_txn_t *t = (hg_store_txn_t *)job;
    hg_store_t *s = t->store;
    if (t->index_req) {
        index_done(s, t);
        hg_store_txn_free(t);
        return;
    }
    if (t->jseq && t->rc == 0) {
        tail_note(s, t);
        s->jseq_done = t->jseq;
        s->jops_pending += t->jops;
        index_maybe(s);
    }
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
    /* a journal left by a crash is folded in before anything reads the store */
    uint64_t upto = 0;
    size_t rows = 0;
    while (backend->index && (rc = backend->index(s->state, &upto, &rows)) == 0 && rows > 0)
        ;
    if (backend->index && rc < 0) {
        backend->close(s->state);
        rc = hg_error_set(err, rc,
                          "cannot apply the store's journal to its records (%s): is the disk "
                          "full?",
                          hg_strerror(rc));
        goto out;
    }
    hg_list_init(&s->held);
    hg_list_init(&s->deferred);
    s->tail_max = HG_STORE_TAIL_MAX;
    /* the backend reports folds in transaction numbers; this run's go on from its last */
    if (backend->index)
        s->jseq_next = s->jseq_done = s->indexed = upto;
    s->reads = *(const hg_store_reads_t *const *)s->state;
    if (s->reads && s->reads->version != HG_STORE_READS_VERSION) {
        backend->close(s->state);
        rc = hg_error_set(err, HG_EINTERNAL, "store backend %s has reads version %d, want %d",
                          backend->name, s->reads->version, HG_STORE_READS_VERSION);
        goto out;
    }
    if (s->reads && (rc = s->reads->reader_open(s->state, &s->reader, err)) < 0) {
        backend->close(s->state);
        goto out;
    }
    rc = hg_lane_start(&s->lane, loop, "store-writer", writer_batch, batch_max, s);
    if (rc < 0) {
        if (s->reads)
            s->reads->reader_close(s->reader);
        backend->close(s->state);
        hg_error_set(err, rc, "cannot start the store writer lane: %s", hg_strerror(rc));
        goto out;
    }
    if (backend->index) {
        rc = hg_lane_start(&s->index_lane, loop, "store-index", index_batch, 64, s);
        if (rc < 0) {
            hg_lane_stop(&s->lane);
            if (s->reads)
                s->reads->reader_close(s->reader);
            backend->close(s->state);
            hg_error_set(err, rc, "cannot start the store index lane: %s", hg_strerror(rc));
            goto out;
        }
        s->index_started = 1;
    }
    if (s->reads) {
        rc =
            hg_lane_start(&s->reader_lane, loop, "store-reader", reader_batch, READER_BATCH_MAX, s);
        if (rc < 0) {
            hg_lane_stop(&s->lane);
            if (s->index_started)
                hg_lane_stop(&s->index_lane);
            s->reads->reader_close(s->reader);
            backend->close(s->state);
            hg_error_set(err, rc, "cannot start the store reader lane: %s", hg_strerror(rc));
            goto out;
        }
        s->reader_started = 1;
    }
    hg_metrics_register("store", render, s);
    *out = s;
    s = NULL;
out:
    hg_free(s);
    return rc;
}

/* Commits deferred for the tail's size go to the writer, in order, once it is below its limit
 * (or the store closes). */
static void deferred_run(hg_store_t *s)
{
    if (s->ndeferred == 0 || (!s->closing && s->tail.bytes >= s->tail_max))
        return;
    while (!hg_list_empty(&s->deferred)) {
        hg_list_t *q = s->deferred.next;
        hg_list_remove(q);
        hg_lane_submit(&s->lane, hg_container_of(q, hg_lane_job_t, node));
    }
    s->ndeferred = 0;
}

void hg_store_set_tail_max(hg_store_t *s, size_t bytes)
{
    s->tail_max = bytes;
}

void hg_store_close(hg_store_t *s)
{
    if (s == NULL)
        return;
    /* the reader first: its callbacks may still commit (through the writer, drained next);
     * reads submitted from here on are refused, and so are those waiting for the index */
    s->closing = 1;
    held_fail(s, HG_ESHUTDOWN);
    if (s->reader_started)
        hg_lane_stop(&s->reader_lane);
    deferred_run(s); /* closing: in order, and nothing is deferred from here on */
    hg_lane_stop(&s->lane);
    /* after the last commit: a clean stop leaves the journal folded */
    if (s->index_started) {
        if (!s->fenced)
            index_submit(s);
        hg_lane_stop(&s->index_lane);
    }
    tail_clear(&s->tail);
    hg_metrics_unregister("store");
    if (s->reads)
        s->reads->reader_close(s->reader);
    s->be->close(s->state);
    hg_free(s);
}

/* ---- the journal's tail and index (loop thread) ---- */

/* "<coll>\x1f<key>" (collection names and keys hold no control characters) into buf, or a
 * fresh allocation when it does not fit (*alloc, to free). */
static char *tail_name(const char *coll, const char *key, char *buf, size_t cap, char **alloc,
                       size_t *len)
{
    size_t lc = strlen(coll), lk = strlen(key);
    *len = lc + 1 + lk;
    char *out = *len < cap ? buf : (*alloc = hg_malloc(*len + 1));
    memcpy(out, coll, lc);
    out[lc] = '\x1f';
    memcpy(out + lc + 1, key, lk + 1);
    return out;
}

static size_t tail_slot(const tail_t *t, const char *name, size_t len, uint64_t hash)
{
    size_t mask = t->cap - 1, i = (size_t)hash & mask;
    while (t->slots[i] && (t->slots[i]->hash != hash || t->slots[i]->klen != len ||
                           memcmp(t->slots[i]->kv, name, len) != 0))
        i = (i + 1) & mask;
    return i;
}

static const tail_ent_t *tail_get(const tail_t *t, const char *coll, const char *key)
{
    if (t->count == 0)
        return NULL;
    char buf[256], *alloc = NULL;
    size_t len;
    const char *name = tail_name(coll, key, buf, sizeof(buf), &alloc, &len);
    const tail_ent_t *e = t->slots[tail_slot(t, name, len, hg_hash_bytes(name, len))];
    hg_free(alloc);
    return e;
}

/* Zeroed memory mapped on its own (see tail_put on why not malloc). */
static void *tail_map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { /* as hg_malloc does */
        fprintf(stderr, "hangard: out of memory mapping %zu bytes for the store's tail\n", n);
        abort();
    }
    return p;
}

/* Rehash the live entries (jseq > keep_after) into a table of cap slots. At the same size the
 * spare table is used and the old one zeroed to be the next spare. */
static void tail_rehash(tail_t *t, size_t cap, uint64_t keep_after)
{
    tail_ent_t **old = t->slots;
    size_t n = t->cap;
    if (cap == n && t->spare) {
        t->slots = t->spare;
        t->spare = NULL;
    } else {
        t->slots = tail_map(cap * sizeof(*t->slots));
        if (t->spare)
            munmap(t->spare, n * sizeof(*t->spare));
        t->spare = NULL;
    }
    t->cap = cap;
    t->count = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i] && old[i]->jseq > keep_after) {
            t->slots[tail_slot(t, old[i]->kv, old[i]->klen, old[i]->hash)] = old[i];
            t->count++;
        }
    if (old == NULL)
        return;
    if (cap == n) {
        memset(old, 0, n * sizeof(*old));
        t->spare = old;
    } else {
        munmap(old, n * sizeof(*old));
    }
}

static tail_block_t *tail_block_new(tail_t *t, size_t cap)
{
    tail_block_t *b;
    if (cap == TAIL_BLOCK && t->free) {
        b = t->free;
        t->free = b->next;
        t->nfree--;
    } else {
        b = tail_map(sizeof(*b) + cap);
    }
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    b->max_jseq = 0;
    return b;
}

static void tail_block_free(tail_t *t, tail_block_t *b)
{
    if (b->cap == TAIL_BLOCK && t->nfree < TAIL_SPARE_BLOCKS) {
        b->next = t->free;
        t->free = b;
        t->nfree++;
    } else {
        munmap(b, sizeof(*b) + b->cap);
    }
}

static void tail_put(tail_t *t, uint64_t jseq, const char *coll, const char *key, const char *value)
{
    size_t klen = strlen(coll) + 1 + strlen(key);
    size_t vlen = value ? strlen(value) : 0;
    size_t need = (sizeof(tail_ent_t) + klen + 1 + (value ? vlen + 1 : 0) + 7) & ~(size_t)7;
    tail_block_t *b = t->last;
    if (b == NULL || b->cap - b->used < need) {
        size_t cap = need > TAIL_BLOCK ? need : TAIL_BLOCK;
        /* mapped, not malloc'd: glibc raises its mmap threshold to the size of a mapped chunk
         * freed, and the next blocks came from the heap, between the loop's small objects */
        b = tail_block_new(t, cap);
        if (t->last)
            t->last->next = b;
        else
            t->head = b;
        t->last = b;
        t->bytes += cap;
    }
    tail_ent_t *e = (tail_ent_t *)(b->data + b->used);
    b->used += need;
    b->max_jseq = jseq;
    e->jseq = jseq;
    e->klen = (uint32_t)klen;
    e->vlen = value ? (int32_t)vlen : -1;
    char *none = NULL;
    tail_name(coll, key, e->kv, klen + 1, &none, &klen); /* fits: klen + 1 bytes were kept */
    if (value)
        memcpy(e->kv + klen + 1, value, vlen + 1);
    e->hash = hg_hash_bytes(e->kv, klen);
    if (2 * (t->count + 1) > t->cap)
        tail_rehash(t, t->cap ? t->cap * 2 : 1024, 0);
    size_t i = tail_slot(t, e->kv, klen, e->hash);
    if (t->slots[i] == NULL)
        t->count++;
    t->slots[i] = e; /* a newer write replaces the older (left in its block until freed) */
}

/* After a fold up to indexed: forget what it covers, and free the blocks it emptied. */
static void tail_prune(tail_t *t, uint64_t indexed)
{
    if (t->head == NULL)
        return;
    tail_rehash(t, t->cap, indexed);
    while (t->head && t->head->max_jseq <= indexed) {
        tail_block_t *b = t->head;
        t->head = b->next;
        t->bytes -= b->cap;
        tail_block_free(t, b);
    }
    if (t->head == NULL)
        t->last = NULL;
}

static void tail_clear(tail_t *t)
{
    tail_prune(t, UINT64_MAX);
    if (t->slots)
        munmap(t->slots, t->cap * sizeof(*t->slots));
    if (t->spare)
        munmap(t->spare, t->cap * sizeof(*t->spare));
    while (t->free) {
        tail_block_t *b = t->free;
        t->free = b->next;
        munmap(b, sizeof(*b) + b->cap);
    }
    memset(t, 0, sizeof(*t));
}

/* A transaction with history ops completed durable: the puts and deletes of the collections
 * read by key (hg_store_history_kind 2) join the tail until folded; a get of another history
 * collection waits for the fold instead (read_submit). */
static void tail_note(hg_store_t *s, hg_store_txn_t *t)
{
    for (size_t i = 0; i < t->nops; i++) {
        const hg_store_op_t *op = t->ops[i];
        if (op->keyed && (op->kind == HG_STORE_PUT || op->kind == HG_STORE_DEL))
            tail_put(&s->tail, t->jseq, op->coll, op->key,
                     op->kind == HG_STORE_PUT ? op->value : NULL);
    }
}

static void index_submit_as(hg_store_t *s, int req)
{
    hg_store_txn_t *t = hg_store_txn_new(s);
    t->index_req = req;
    t->job.done = txn_done;
    s->index_inflight = 1;
    hg_lane_submit(&s->index_lane, &t->job);
}

static void index_submit(hg_store_t *s)
{
    index_submit_as(s, 1);
}

/* Index when enough waits, or a read does. */
static void index_maybe(hg_store_t *s)
{
    if (s->index_inflight || s->closing || s->jseq_done == s->indexed)
        return;
    if (s->jops_pending >= HG_STORE_JOURNAL_OPS || s->tail.bytes >= HG_STORE_JOURNAL_BYTES ||
        !hg_list_empty(&s->held))
        index_submit(s);
}

static void held_run(hg_store_t *s);

static void index_done(hg_store_t *s, hg_store_txn_t *t)
{
    s->index_inflight = 0;
    if (t->rc < 0) {
        s->stats.index_errors++;
        HG_LOG(HG_LOG_ERROR, "store", "journal index failed rc=%s (the journal stays)",
               hg_err_name(t->rc));
        held_fail(s, HG_ESTORE);
        if (s->ndeferred && !s->closing) /* no commit completes to try again: try now */
            index_submit_as(s, 2);
        return;
    }
    s->stats.indexes++;
    hg_histogram_observe(&s->index_hist, t->apply_s);
    /* rows a fold took may include some of a transaction still committing when it read: the
     * count is a trigger, not a ledger */
    s->jops_pending -= t->jops < s->jops_pending ? t->jops : s->jops_pending;
    if (t->indexed_upto > s->indexed) {
        s->indexed = t->indexed_upto;
        tail_prune(&s->tail, s->indexed);
    }
    held_run(s);
    deferred_run(s);
    index_maybe(s);
}

/* The connection is ours while we read; a load from inside a load's callback keeps the hold. */
static void hold(hg_store_t *s)
{
    if (s->holds++ == 0) {
        hg_lane_hold(&s->lane);
        if (s->index_started) /* the backend's history connection is the index lane's */
            hg_lane_hold(&s->index_lane);
    }
}

static void release(hg_store_t *s)
{
    if (--s->holds == 0) {
        if (s->index_started)
            hg_lane_release(&s->index_lane);
        hg_lane_release(&s->lane);
    }
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

/* An op and its strings in one allocation (all but the value, which the caller made): a
 * commit-heavy path (a ticket, a purchase) adds several ops per request, and each string
 * allocated on its own cost a malloc and a free. strs: the strings to copy after the op, NULL
 * ones skipped; their copies are returned through outs. */
static hg_store_op_t *op_new(hg_store_txn_t *t, hg_store_op_kind_t kind, char *value,
                             const char *const *strs, char **outs, size_t n)
{
    if (t->nops == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8; /* a purchase has 7 ops: one allocation */
        t->ops = hg_realloc(t->ops, t->cap * sizeof(*t->ops));
    }
    size_t lens[5], total = sizeof(hg_store_op_t);
    for (size_t i = 0; i < n; i++) {
        lens[i] = strs[i] ? strlen(strs[i]) + 1 : 0;
        total += lens[i];
    }
    hg_store_op_t *op = hg_malloc(total);
    memset(op, 0, sizeof(*op));
    char *at = (char *)(op + 1);
    for (size_t i = 0; i < n; i++) {
        outs[i] = strs[i] ? memcpy(at, strs[i], lens[i]) : NULL;
        at += lens[i];
    }
    op->kind = kind;
    op->value = value;
    t->ops[t->nops++] = op;
    return op;
}

static hg_store_op_t *add_op(hg_store_txn_t *t, hg_store_op_kind_t kind, const char *coll,
                             const char *key, char *value)
{
    const char *strs[2] = {coll, key};
    char *outs[2];
    hg_store_op_t *op = op_new(t, kind, value, strs, outs, 2);
    op->coll = outs[0];
    op->key = outs[1];
    return op;
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

void hg_store_event_add(hg_store_txn_t *t, const hg_store_event_t *ev)
{
    const char *strs[4] = {"events", ev->type, ev->player, ev->attrs};
    char *outs[4];
    hg_store_op_t *op = op_new(t, HG_STORE_EVENT_ADD, NULL, strs, outs, 4);
    op->coll = outs[0];
    op->ev_type = outs[1];
    op->ev_player = outs[2];
    op->ev_attrs = outs[3];
    op->ev_id = ev->id;
    op->ev_time_ms = ev->time_ms;
}

void hg_store_event_del(hg_store_txn_t *t, uint64_t id, const char *player)
{
    const char *strs[2] = {"events", player};
    char *outs[2];
    hg_store_op_t *op = op_new(t, HG_STORE_EVENT_DEL, NULL, strs, outs, 2);
    op->coll = outs[0];
    op->ev_player = outs[1];
    op->ev_id = id;
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
    for (size_t i = 0; i < t->nops; i++) { /* the strings live in the op (op_new) */
        hg_free(t->ops[i]->value);
        hg_free(t->ops[i]);
    }
    hg_free(t->ops);
    hg_free(t);
}

/* What a backend with a journal writes there: history ops, and events that name a player (its
 * player index: hg_store_backend_t.index). Sets op->keyed for a history op the tail keeps. */
static int op_journaled(hg_store_op_t *op)
{
    if (op->kind == HG_STORE_EVENT_ADD || op->kind == HG_STORE_EVENT_DEL)
        return op->ev_player != NULL;
    int kind = hg_store_history_kind(op->coll);
    op->keyed = kind == 2;
    return kind != 0;
}

void hg_store_commit(hg_store_txn_t *t, hg_store_commit_cb cb, void *ud)
{
    hg_store_t *s = t->store;
    t->cb = cb;
    t->ud = ud;
    if (s->be->index && t->nops) { /* history ops go through the journal (tail_note) */
        uint64_t jseq = s->jseq_next + 1;
        const hg_store_op_t *prev = NULL; /* the last event op journaled */
        for (size_t i = 0; i < t->nops; i++) {
            hg_store_op_t *op = t->ops[i];
            if (!op_journaled(op))
                continue;
            op->jseq = t->jseq = jseq;
            /* count journal entries as a fold counts them: a run of one player's consecutive
             * event ids is one (sqlite.c), or a batch of 100 events would count 100 and the
             * count, lowered by the entries each fold takes, would start a fold after every
             * commit */
            if (!hg_store_event_run_extends(prev, op))
                t->jops++;
            if (op->kind == HG_STORE_EVENT_ADD || op->kind == HG_STORE_EVENT_DEL)
                prev = op;
        }
        if (t->jseq)
            s->jseq_next = jseq;
    }
    if (s->be->index && !s->closing &&
        (s->ndeferred || (t->nops && s->tail.bytes >= s->tail_max))) {
        /* the fold is behind (or failing): wait for it rather than let the tail grow */
        if (s->ndeferred == 0)
            HG_LOG(HG_LOG_WARN, "store",
                   "the journal's tail holds %zu bytes, at its limit: commits wait for a fold",
                   s->tail.bytes);
        t->job.done = txn_done;
        hg_list_insert_tail(&s->deferred, &t->job.node);
        s->ndeferred++;
        s->stats.deferred++;
        if (!s->index_inflight)
            index_submit(s);
        return;
    }
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
    out->inflight = hg_lane_inflight(&s->lane) + s->ndeferred;
    out->journal_pending = (size_t)(s->jseq_done - s->indexed);
    out->journal_bytes = s->tail.bytes;
    out->indexing = s->index_inflight;
}

int hg_store_last_event_id(hg_store_t *s, uint64_t *out)
{
    *out = 0;
    if (s->reads == NULL)
        return HG_ENOTIMPL;
    hold(s);
    int rc = s->reads->last_event_id(s->state, out);
    release(s);
    return rc;
}

/* ---- history reads (the reader lane) ---- */

typedef enum { READ_SCAN, READ_GET, READ_EVENTS, READ_TYPES } read_kind_t;

/* Strings per row, by kind: key and value; type, player and attributes; a name. */
static const size_t read_width[] = {2, 2, 3, 1};

typedef struct read_job {
    hg_lane_job_t job; /* first: the lane's done callback recovers the read */
    hg_store_t *store;
    read_kind_t kind;
    /* arguments, owned copies */
    char *coll, *prefix, *after, *key;
    hg_store_event_query_t q; /* q.type and q.player point into owned copies */
    size_t limit;
    int desc;
    /* results, filled on the lane */
    int rc;
    size_t n; /* rows kept (at most limit) */
    int more;
    hg_buf_t text; /* every string of the rows, each NUL-terminated, back to back */
    size_t *offs;  /* read_width[kind] offsets into text per row; SIZE_MAX: NULL */
    uint64_t *ids; /* events: id and time per row */
    int64_t *times;
    size_t cap; /* rows offs/ids/times have room for */
    union {
        hg_store_rows_cb rows;
        hg_store_events_cb events;
        hg_store_names_cb names;
    } cb;
    void *ud;
    uint64_t need; /* held: runs once every journaled transaction <= need is indexed */
    int answered;  /* the rows are filled already (a get the journal's tail answered) */
} read_job_t;

static void read_free(read_job_t *r)
{
    hg_free(r->coll);
    hg_free(r->prefix);
    hg_free(r->after);
    hg_free(r->key);
    hg_free((char *)r->q.type);
    hg_free((char *)r->q.player);
    hg_buf_free(&r->text);
    hg_free(r->offs);
    hg_free(r->ids);
    hg_free(r->times);
    hg_free(r);
}

/* Lane thread: room for one more row; 0 when the row is the limit + 1st (only says `more`). */
static int read_row(read_job_t *r)
{
    if (r->n == r->limit) {
        r->more = 1;
        return 0;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        if (r->cap > r->limit)
            r->cap = r->limit;
        r->offs = hg_realloc(r->offs, r->cap * read_width[r->kind] * sizeof(*r->offs));
        if (r->kind == READ_EVENTS) {
            r->ids = hg_realloc(r->ids, r->cap * sizeof(*r->ids));
            r->times = hg_realloc(r->times, r->cap * sizeof(*r->times));
        }
    }
    return 1;
}

static void read_str(read_job_t *r, size_t col, const char *str)
{
    size_t *off = &r->offs[r->n * read_width[r->kind] + col];
    if (str == NULL) {
        *off = SIZE_MAX;
        return;
    }
    *off = r->text.len;
    hg_buf_append(&r->text, str, strlen(str) + 1);
}

static int on_read_row(void *ud, const char *key, const char *value)
{
    read_job_t *r = ud;
    if (!read_row(r))
        return 1;
    read_str(r, 0, key);
    read_str(r, 1, value);
    r->n++;
    return 0;
}

static int on_read_event(void *ud, const hg_store_event_t *ev)
{
    read_job_t *r = ud;
    if (!read_row(r))
        return 1;
    r->ids[r->n] = ev->id;
    r->times[r->n] = ev->time_ms;
    read_str(r, 0, ev->type);
    read_str(r, 1, ev->player);
    read_str(r, 2, ev->attrs);
    r->n++;
    return 0;
}

static int on_read_name(void *ud, const char *name)
{
    read_job_t *r = ud;
    if (!read_row(r))
        return 1;
    read_str(r, 0, name);
    r->n++;
    return 0;
}

/* Lane thread: run each read of the batch on the reader connection. */
static void reader_batch(hg_lane_t *lane, hg_list_t *batch, size_t n)
{
    hg_store_t *s = lane->data;
    (void)n;
    hg_list_t *q;
    hg_list_foreach (q, batch) {
        read_job_t *r = (read_job_t *)hg_container_of(q, hg_lane_job_t, node);
        if (r->answered)
            continue;
        switch (r->kind) {
        case READ_SCAN:
            r->rc = s->reads->scan(s->reader, r->coll, r->prefix, r->after, r->limit + 1, r->desc,
                                   on_read_row, r);
            break;
        case READ_GET: r->rc = s->reads->get(s->reader, r->coll, r->key, on_read_row, r); break;
        case READ_EVENTS: {
            hg_store_event_query_t eq = r->q;
            eq.limit = r->limit + 1;
            r->rc = s->reads->events(s->reader, &eq, on_read_event, r);
            break;
        }
        case READ_TYPES:
            r->rc = s->reads->event_types(s->reader, r->after ? r->after : "", r->limit + 1,
                                          on_read_name, r);
            break;
        }
    }
}

static const char *read_at(const read_job_t *r, size_t row, size_t col)
{
    size_t off = r->offs[row * read_width[r->kind] + col];
    return off == SIZE_MAX ? NULL : r->text.data + off;
}

/* Loop thread: hand the rows to the caller. */
static void read_done(hg_lane_job_t *job)
{
    read_job_t *r = (read_job_t *)job;
    hg_store_t *s = r->store;
    size_t n = r->rc < 0 ? 0 : r->n;
    int more = r->rc < 0 ? 0 : r->more;
    int rc = r->rc < 0 ? r->rc : 0;
    if (rc == HG_ESHUTDOWN) {
        /* refused at close: nothing failed */
    } else if (rc < 0) {
        s->stats.read_errors++;
        HG_LOG(HG_LOG_ERROR, "store", "history read failed rc=%s", hg_err_name(rc));
    } else {
        s->stats.reads++;
    }
    switch (r->kind) {
    case READ_SCAN:
    case READ_GET: {
        hg_store_row_t *rows = hg_malloc((n ? n : 1) * sizeof(*rows));
        for (size_t i = 0; i < n; i++) {
            rows[i].key = read_at(r, i, 0);
            rows[i].value = read_at(r, i, 1);
        }
        r->cb.rows(r->ud, rc, rows, n, more);
        hg_free(rows);
        break;
    }
    case READ_EVENTS: {
        hg_store_event_t *evs = hg_malloc((n ? n : 1) * sizeof(*evs));
        for (size_t i = 0; i < n; i++) {
            evs[i].id = r->ids[i];
            evs[i].time_ms = r->times[i];
            evs[i].type = read_at(r, i, 0);
            evs[i].player = read_at(r, i, 1);
            evs[i].attrs = read_at(r, i, 2);
        }
        r->cb.events(r->ud, rc, evs, n, more);
        hg_free(evs);
        break;
    }
    case READ_TYPES: {
        const char **names = hg_malloc((n ? n : 1) * sizeof(*names));
        for (size_t i = 0; i < n; i++)
            names[i] = read_at(r, i, 0);
        r->cb.names(r->ud, rc, names, n, more);
        hg_free(names);
        break;
    }
    }
    read_free(r);
}

/* Runs the read now, or holds it until the journal is folded when it could see history the
 * fold has not reached (a scan of a history collection, a get of one the tail does not keep, or
 * events by player: the backend's player index is folded from the journal). */
static void read_submit(hg_store_t *s, read_job_t *r)
{
    if (s->jseq_done > s->indexed &&
        ((r->kind == READ_SCAN && hg_store_is_history(r->coll)) ||
         (r->kind == READ_GET && hg_store_history_kind(r->coll) == 1) ||
         (r->kind == READ_EVENTS && r->q.player))) {
        r->need = s->jseq_done;
        hg_list_insert_tail(&s->held, &r->job.node);
        index_maybe(s);
        return;
    }
    hg_lane_submit(&s->reader_lane, &r->job);
}

static void read_fail(read_job_t *r, int rc)
{
    r->rc = rc;
    read_done(&r->job);
}

static void held_fail(hg_store_t *s, int rc)
{
    while (!hg_list_empty(&s->held)) {
        hg_list_t *q = s->held.next;
        hg_list_remove(q);
        read_fail((read_job_t *)hg_container_of(q, hg_lane_job_t, node), rc);
    }
}

/* After an index: the held reads it covers run, in the order they came. */
static void held_run(hg_store_t *s)
{
    while (!hg_list_empty(&s->held)) {
        read_job_t *r = (read_job_t *)hg_container_of(s->held.next, hg_lane_job_t, node);
        if (r->need > s->indexed)
            break;
        hg_list_remove(&r->job.node);
        hg_lane_submit(&s->reader_lane, &r->job);
    }
}

/* Why a read cannot run now (the caller calls back at once with it), or 0. */
static int read_refused(const hg_store_t *s, size_t limit)
{
    if (s->closing)
        return HG_ESHUTDOWN;
    if (s->reads == NULL)
        return HG_ENOTIMPL;
    return limit < 1 || limit > HG_STORE_READ_MAX ? HG_EINVAL : 0;
}

static read_job_t *read_new(hg_store_t *s, read_kind_t kind, size_t limit, void *ud)
{
    read_job_t *r = hg_calloc(1, sizeof(*r));
    r->store = s;
    r->kind = kind;
    r->limit = limit;
    r->ud = ud;
    hg_buf_init(&r->text);
    r->job.done = read_done;
    return r;
}

void hg_store_scan(hg_store_t *s, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_rows_cb cb, void *ud)
{
    int rc = read_refused(s, limit);
    if (rc < 0) {
        cb(ud, rc, NULL, 0, 0);
        return;
    }
    read_job_t *r = read_new(s, READ_SCAN, limit, ud);
    r->cb.rows = cb;
    r->coll = hg_strdup(coll);
    r->prefix = hg_strdup(prefix ? prefix : "");
    r->after = after ? hg_strdup(after) : NULL;
    r->desc = desc;
    read_submit(s, r);
}

void hg_store_get(hg_store_t *s, const char *coll, const char *key, hg_store_rows_cb cb, void *ud)
{
    int rc = read_refused(s, 1);
    if (rc < 0) {
        cb(ud, rc, NULL, 0, 0);
        return;
    }
    read_job_t *r = read_new(s, READ_GET, 1, ud);
    r->cb.rows = cb;
    r->coll = hg_strdup(coll);
    r->key = hg_strdup(key);
    /* history not folded yet: the tail holds its latest value (the reader lane still delivers
     * it, after the reads before it); history it does not keep waits for the fold (read_submit) */
    const tail_ent_t *e = tail_get(&s->tail, coll, key);
    if (e) {
        r->answered = 1;
        if (e->vlen >= 0 && read_row(r)) {
            read_str(r, 0, key);
            read_str(r, 1, e->kv + e->klen + 1);
            r->n++;
        }
    }
    read_submit(s, r);
}

void hg_store_events(hg_store_t *s, const hg_store_event_query_t *q, hg_store_events_cb cb,
                     void *ud)
{
    int rc = read_refused(s, q->limit);
    if (rc < 0) {
        cb(ud, rc, NULL, 0, 0);
        return;
    }
    read_job_t *r = read_new(s, READ_EVENTS, q->limit, ud);
    r->cb.events = cb;
    r->q = *q;
    r->q.type = q->type ? hg_strdup(q->type) : NULL;
    r->q.player = q->player ? hg_strdup(q->player) : NULL;
    read_submit(s, r);
}

void hg_store_event_types(hg_store_t *s, const char *after, size_t limit, hg_store_names_cb cb,
                          void *ud)
{
    int rc = read_refused(s, limit);
    if (rc < 0) {
        cb(ud, rc, NULL, 0, 0);
        return;
    }
    read_job_t *r = read_new(s, READ_TYPES, limit, ud);
    r->cb.names = cb;
    r->after = after ? hg_strdup(after) : NULL;
    read_submit(s, r);
}
