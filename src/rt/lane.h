/* hangar — worker lanes: one thread each, FIFO, completions posted back to the loop.
 *
 * A lane owns one thread. Jobs are submitted from the loop thread; the thread takes every job
 * queued so far as one batch and hands the batch to the lane's batch function (so the store
 * writer can commit a whole batch with one fsync: group commit). When the batch is done each
 * job's done callback runs on the loop thread, in submission order. FIFO guarantee: batches
 * are processed in submission order and done callbacks run in submission order.
 *
 * Lifecycle: hg_lane_start() / hg_lane_stop(). stop() drains: every job submitted before it
 * is processed and completed before it returns (graceful shutdown finishes acknowledged
 * writes), then it joins the thread and closes the async handle.
 */
#ifndef HG_RT_LANE_H
#define HG_RT_LANE_H

#include <pthread.h>
#include <stddef.h>
#include <uv.h>

#include "core/list.h"

typedef struct hg_lane_job hg_lane_job_t;
typedef struct hg_lane hg_lane_t;

/* Runs on the lane thread with the batch (jobs linked through their `node`), in order. */
typedef void (*hg_lane_batch_cb)(hg_lane_t *lane, hg_list_t *batch, size_t n);
/* Runs on the loop thread once the job's batch is done. */
typedef void (*hg_lane_done_cb)(hg_lane_job_t *job);

struct hg_lane_job {
    hg_list_t node;
    hg_lane_done_cb done;
};

struct hg_lane {
    const char *name;
    uv_loop_t *loop;
    hg_lane_batch_cb batch_cb;
    size_t batch_max; /* jobs per batch at most */
    void *data;
    /* private */
    pthread_t _thread;
    pthread_mutex_t _mu;
    pthread_cond_t _cv;
    hg_list_t _pending; /* submitted, not yet taken by the thread */
    hg_list_t _done;    /* processed, done callbacks not yet run */
    uv_async_t _async;
    size_t _inflight; /* submitted and not yet completed */
    int _stopping;
    int _held;
    int _busy;            /* the thread is running a batch */
    pthread_cond_t _idle; /* signalled when a batch ends */
    int _started;
};

/* Initialise and start the lane thread. The lane struct must outlive hg_lane_stop(). */
int hg_lane_start(hg_lane_t *lane, uv_loop_t *loop, const char *name, hg_lane_batch_cb cb,
                  size_t batch_max, void *data);
/* Keep the thread off its resource for a while (the store's connection, which start-up loads
 * read on the loop thread): hold waits for a batch in progress to end, then the thread takes no
 * new batch until release (jobs queue meanwhile). Loop thread only; hold/release pair up.
 * hg_lane_stop() drains a held lane too. */
void hg_lane_hold(hg_lane_t *lane);
void hg_lane_release(hg_lane_t *lane);
/* Queue a job (loop thread only). Borrows job until its done callback runs. */
void hg_lane_submit(hg_lane_t *lane, hg_lane_job_t *job);
/* Jobs submitted and not yet completed. */
size_t hg_lane_inflight(const hg_lane_t *lane);
/* Finish all queued jobs (running their done callbacks), join the thread, close the async
 * handle. Loop thread only; runs the loop internally until the handle is closed. */
void hg_lane_stop(hg_lane_t *lane);

#endif
