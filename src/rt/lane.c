/* hangar — worker lanes (see lane.h).
 *
 * DESIGN: the thread sleeps on a condition variable until jobs are pending, moves the whole
 * pending list (up to batch_max) into a local batch under the mutex, runs the batch callback
 * without the mutex, then appends the batch to the done list and signals the loop through
 * uv_async_send (coalescing: many sends, one callback). The loop's async callback moves the
 * done list out under the mutex and runs each job's done callback.
 */
#include "rt/lane.h"

#include "core/log.h"

#include <stdio.h>

static void *lane_main(void *arg)
{
    hg_lane_t *lane = arg;
    char name[16]; /* the kernel's limit: top, perf and /proc show the lane by its name */
    snprintf(name, sizeof(name), "%s", lane->name);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        hg_list_t batch;
        hg_list_init(&batch);
        size_t n = 0;
        pthread_mutex_lock(&lane->_mu);
        while ((hg_list_empty(&lane->_pending) || lane->_held) && !lane->_stopping)
            pthread_cond_wait(&lane->_cv, &lane->_mu);
        if (hg_list_empty(&lane->_pending) && lane->_stopping) {
            pthread_mutex_unlock(&lane->_mu);
            break;
        }
        while (!hg_list_empty(&lane->_pending) && n < lane->batch_max) {
            hg_list_t *q = lane->_pending.next;
            hg_list_remove(q);
            hg_list_insert_tail(&batch, q);
            n++;
        }
        lane->_busy = 1;
        pthread_mutex_unlock(&lane->_mu);

        lane->batch_cb(lane, &batch, n);

        pthread_mutex_lock(&lane->_mu);
        lane->_busy = 0;
        pthread_cond_signal(&lane->_idle);
        while (!hg_list_empty(&batch)) {
            hg_list_t *q = batch.next;
            hg_list_remove(q);
            hg_list_insert_tail(&lane->_done, q);
        }
        pthread_mutex_unlock(&lane->_mu);
        uv_async_send(&lane->_async);
    }
    return NULL;
}

static void on_async(uv_async_t *a)
{
    hg_lane_t *lane = a->data;
    hg_list_t done;
    hg_list_init(&done);
    pthread_mutex_lock(&lane->_mu);
    while (!hg_list_empty(&lane->_done)) {
        hg_list_t *q = lane->_done.next;
        hg_list_remove(q);
        hg_list_insert_tail(&done, q);
    }
    pthread_mutex_unlock(&lane->_mu);
    while (!hg_list_empty(&done)) {
        hg_list_t *q = done.next;
        hg_list_remove(q);
        hg_lane_job_t *job = hg_container_of(q, hg_lane_job_t, node);
        lane->_inflight--;
        job->done(job);
    }
}

int hg_lane_start(hg_lane_t *lane, uv_loop_t *loop, const char *name, hg_lane_batch_cb cb,
                  size_t batch_max, void *data)
{
    lane->name = name;
    lane->loop = loop;
    lane->batch_cb = cb;
    lane->batch_max = batch_max ? batch_max : 1;
    lane->data = data;
    lane->_inflight = 0;
    lane->_stopping = 0;
    lane->_held = 0;
    lane->_busy = 0;
    hg_list_init(&lane->_pending);
    hg_list_init(&lane->_done);
    pthread_mutex_init(&lane->_mu, NULL);
    pthread_cond_init(&lane->_cv, NULL);
    pthread_cond_init(&lane->_idle, NULL);
    int rc = uv_async_init(loop, &lane->_async, on_async);
    if (rc < 0)
        return rc;
    lane->_async.data = lane;
    rc = pthread_create(&lane->_thread, NULL, lane_main, lane);
    if (rc != 0) {
        uv_close((uv_handle_t *)&lane->_async, NULL);
        return -rc;
    }
    lane->_started = 1;
    return 0;
}

void hg_lane_hold(hg_lane_t *lane)
{
    pthread_mutex_lock(&lane->_mu);
    lane->_held = 1;
    while (lane->_busy)
        pthread_cond_wait(&lane->_idle, &lane->_mu);
    pthread_mutex_unlock(&lane->_mu);
}

void hg_lane_release(hg_lane_t *lane)
{
    pthread_mutex_lock(&lane->_mu);
    lane->_held = 0;
    pthread_cond_signal(&lane->_cv);
    pthread_mutex_unlock(&lane->_mu);
}

void hg_lane_submit(hg_lane_t *lane, hg_lane_job_t *job)
{
    hg_list_init(&job->node);
    lane->_inflight++;
    pthread_mutex_lock(&lane->_mu);
    hg_list_insert_tail(&lane->_pending, &job->node);
    pthread_cond_signal(&lane->_cv);
    pthread_mutex_unlock(&lane->_mu);
}

size_t hg_lane_inflight(const hg_lane_t *lane)
{
    return lane->_inflight;
}

void hg_lane_stop(hg_lane_t *lane)
{
    if (!lane->_started)
        return;
    pthread_mutex_lock(&lane->_mu);
    lane->_stopping = 1;
    pthread_cond_signal(&lane->_cv);
    pthread_mutex_unlock(&lane->_mu);
    pthread_join(lane->_thread, NULL);
    on_async(&lane->_async); /* run the done callbacks of the last batches */
    uv_close((uv_handle_t *)&lane->_async, NULL);
    pthread_mutex_destroy(&lane->_mu);
    pthread_cond_destroy(&lane->_cv);
    pthread_cond_destroy(&lane->_idle);
    lane->_started = 0;
}
