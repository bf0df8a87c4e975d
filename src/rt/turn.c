/* hangar — work deferred to the end of the loop turn (see turn.h). */
#include "rt/turn.h"

static void on_check(uv_check_t *h)
{
    hg_turn_run(h->data);
}

static void on_idle(uv_idle_t *h)
{
    hg_turn_run(h->data);
}

void hg_turn_init(hg_turn_t *t, uv_loop_t *loop, hg_turn_cb cb, void *data)
{
    t->cb = cb;
    t->data = data;
    hg_list_init(&t->_pending);
    t->_closing = 0;
    t->_closed = NULL;
    uv_check_init(loop, &t->_check);
    t->_check.data = t;
    uv_idle_init(loop, &t->_idle);
    t->_idle.data = t;
}

void hg_turn_add(hg_turn_t *t, hg_list_t *node)
{
    if (hg_list_linked(node) || t->_closing)
        return;
    if (hg_list_empty(&t->_pending)) {
        uv_check_start(&t->_check, on_check);
        uv_idle_start(&t->_idle, on_idle);
    }
    hg_list_insert_tail(&t->_pending, node);
}

void hg_turn_run(hg_turn_t *t)
{
    while (!hg_list_empty(&t->_pending)) {
        hg_list_t *q = t->_pending.next;
        hg_list_remove(q);
        t->cb(t, q);
    }
    uv_check_stop(&t->_check);
    uv_idle_stop(&t->_idle);
}

static void on_closed(uv_handle_t *h)
{
    hg_turn_t *t = h->data;
    if (--t->_closing == 0 && t->_closed)
        t->_closed(t);
}

void hg_turn_close(hg_turn_t *t, void (*closed)(hg_turn_t *t))
{
    while (!hg_list_empty(&t->_pending))
        hg_list_remove(t->_pending.next);
    t->_closed = closed;
    t->_closing = 2;
    uv_close((uv_handle_t *)&t->_check, on_closed);
    uv_close((uv_handle_t *)&t->_idle, on_closed);
}
