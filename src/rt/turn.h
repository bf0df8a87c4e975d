/* hangar — work deferred to the end of the loop turn (output batching).
 *
 * A module that produces output for many peers within one loop turn (HTTP answers completed by
 * one group commit, events fanned out to subscribers) adds each peer's list node to an
 * hg_turn_t; the turn's callback then runs once per added node, after the poll phase that
 * produced the output (a uv_check) — so N outputs to one peer cost one write, as in Redis's
 * beforeSleep. Output produced outside the poll phase (timers, write completions, prepare
 * callbacks) is handled by a uv_idle: it runs before the next poll, and while it is active
 * that poll does not block, so nothing waits for the next I/O event. (A uv_prepare would not
 * do: libuv's prepare phase runs only the handles active when it began.)
 *
 * Ownership: the nodes are the caller's (embedded in its peer objects); a node must be removed
 * with hg_list_remove() (hg_list_linked() tells) before its object is freed.
 */
#ifndef HG_RT_TURN_H
#define HG_RT_TURN_H

#include <uv.h>

#include "core/list.h"

typedef struct hg_turn hg_turn_t;

/* Runs for each added node, already removed from the turn (it may be added again). */
typedef void (*hg_turn_cb)(hg_turn_t *t, hg_list_t *node);

struct hg_turn {
    hg_turn_cb cb;
    void *data; /* the caller's */
    /* private */
    uv_check_t _check;
    uv_idle_t _idle;
    hg_list_t _pending;
    int _closing; /* handles not yet closed, once closing */
    void (*_closed)(hg_turn_t *t);
};

/* Initialise t (embedded in the caller's object) on loop. */
void hg_turn_init(hg_turn_t *t, uv_loop_t *loop, hg_turn_cb cb, void *data);
/* Queue node for this turn's callback; nothing if it is already queued. */
void hg_turn_add(hg_turn_t *t, hg_list_t *node);
/* Run the callback for every queued node now (nodes added meanwhile included). */
void hg_turn_run(hg_turn_t *t);
/* Close the handles; closed(t) runs once both are closed (may be NULL). Nodes still queued
 * are dropped (their lists unlinked); run hg_turn_run() first to keep them. */
void hg_turn_close(hg_turn_t *t, void (*closed)(hg_turn_t *t));

#endif
