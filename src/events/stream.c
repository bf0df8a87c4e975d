/* hangar — the event stream (design in stream.h).
 *
 * An event's states (an event that commits while nothing is held and `durable` already covers
 * the next number goes from queued to the ring at once):
 *
 *     hg_stream_publish()         hook, rc 0             durable >= last_seq + 1
 *   ─────────────────────► queued ───────────► held ──────────────────────────► ring
 *                            │ hook, rc < 0                 (numbered, listener told)
 *                            └───────────► dropped (freed, no number used)
 *
 *   | from   | to      | when                                      | function           |
 *   |--------|---------|-------------------------------------------|--------------------|
 *   | -      | queued  | a publisher hands over an event and a txn | hg_stream_publish  |
 *   | queued | dropped | the txn failed or was dropped             | on_committed       |
 *   | queued | held    | the txn committed                         | on_committed       |
 *   | held   | ring    | a durable reservation covers last_seq + 1 | drain → put_ring   |
 *   | ring   | -       | overwritten `cap` events later            | put_ring           |
 *
 * `outstanding` counts queued + held events: they may take the next `outstanding` numbers, so
 * a reservation is written when last_seq + outstanding exceeds the highest reservation issued
 * (`reserved`), or exceeds the durable one (`durable`) while no reservation is in flight — the
 * last one failed (need_reserve). An event that commits into `held` asks once; a failed
 * reservation never retries by itself. Reservations are written in their own transaction,
 * committed at once (stream.h says why), under registry.meta/events — the record the stream
 * had when it was the registry's, kept so that existing data directories keep their numbering.
 */
#include "events/stream.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/jsonw.h"
#include "core/list.h"
#include "core/log.h"

#define META_COLL "registry.meta"
#define META_KEY "events"

typedef struct pending {
    hg_list_t node; /* in st->held once committed */
    hg_stream_t *st;
    const char *type;
    char kind[HG_STREAM_KIND_MAX + 1];
    int64_t time_ms;
    char *tail; /* the event's JSON after its "seq" member: `,"type":…}` */
    size_t tail_len;
} pending_t;

typedef struct reservation {
    hg_stream_t *st;
    uint64_t upto;
} reservation_t;

struct hg_stream {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_stream_event_t *ring;
    size_t cap;
    uint64_t first_seq;  /* oldest seq in the ring; last_seq + 1 when empty */
    uint64_t last_seq;   /* last published */
    uint64_t reserved;   /* highest reservation issued (maybe not durable yet) */
    uint64_t durable;    /* highest reservation known durable */
    size_t outstanding;  /* events queued or held */
    size_t res_inflight; /* reservation transactions not yet resolved */
    hg_list_t held;      /* pending_t committed, waiting for durable to reach them */
    size_t nheld;
    hg_stream_listener_cb listener;
    void *listener_ud;
    int stopped;
    hg_stream_stats_t stats;
};

hg_stream_t *hg_stream_new(hg_clock_t *clock, hg_store_t *store, size_t ring)
{
    hg_stream_t *st = hg_calloc(1, sizeof(*st));
    st->clock = clock;
    st->store = store;
    st->cap = ring ? ring : HG_STREAM_RING_DEFAULT;
    if (st->cap > HG_STREAM_RING_MAX)
        st->cap = HG_STREAM_RING_MAX;
    st->ring = hg_calloc(st->cap, sizeof(*st->ring));
    st->first_seq = 1;
    hg_list_init(&st->held);
    return st;
}

static int load_meta(void *ud, const char *key, json_t *v)
{
    hg_stream_t *st = ud;
    if (strcmp(key, META_KEY) != 0)
        return 0;
    json_int_t r = json_integer_value(json_object_get(v, "reserved"));
    if (r > 0 && (uint64_t)r > st->durable)
        st->reserved = st->durable = st->last_seq = (uint64_t)r;
    st->first_seq = st->last_seq + 1;
    return 0;
}

int hg_stream_load(hg_stream_t *st)
{
    HG_BUG_ON(st->stats.published || st->outstanding);
    return hg_store_load(st->store, META_COLL, load_meta, st);
}

void hg_stream_stop(hg_stream_t *st)
{
    st->stopped = 1;
}

void hg_stream_free(hg_stream_t *st)
{
    if (st == NULL)
        return;
    if (st->outstanding != st->nheld || st->res_inflight) {
        /* hooks of transactions not yet completed still point here: the stream is freed before
         * the store is closed, or closing the store ran a hook that queued a reservation on
         * the stopped writer lane (a shutdown that skipped hg_stream_stop). Leaking is safe
         * where freeing might not be. */
        HG_LOG(HG_LOG_ERROR, "events", "not freed: %zu events and %zu reservations unresolved",
               st->outstanding - st->nheld, st->res_inflight);
        return;
    }
    while (!hg_list_empty(&st->held)) {
        pending_t *p = hg_container_of(st->held.next, pending_t, node);
        hg_list_remove(&p->node);
        hg_free(p->tail);
        hg_free(p);
    }
    for (size_t i = 0; i < st->cap; i++)
        hg_free(st->ring[i].json);
    hg_free(st->ring);
    hg_free(st);
}

void hg_stream_set_listener(hg_stream_t *st, hg_stream_listener_cb cb, void *ud)
{
    st->listener = cb;
    st->listener_ud = ud;
}

/* ---- the ring ---- */

uint64_t hg_stream_first_seq(const hg_stream_t *st)
{
    return st->first_seq;
}

uint64_t hg_stream_last_seq(const hg_stream_t *st)
{
    return st->last_seq;
}

const hg_stream_event_t *hg_stream_get(const hg_stream_t *st, uint64_t seq)
{
    if (seq < st->first_seq || seq > st->last_seq)
        return NULL;
    return &st->ring[seq % st->cap];
}

void hg_stream_stats(const hg_stream_t *st, hg_stream_stats_t *out)
{
    *out = st->stats;
    out->held = st->nheld;
    out->inflight = st->outstanding - st->nheld;
}

/* Number p with the next seq, move it into the ring and tell the listener. Takes ownership
 * of p. Only with a durable reservation covering that seq. */
static void put_ring(hg_stream_t *st, pending_t *p)
{
    uint64_t seq = st->last_seq + 1;
    HG_BUG_ON(seq > st->durable);
    hg_stream_event_t *e = &st->ring[seq % st->cap];
    hg_free(e->json);
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, p->tail_len + 32);
    hg_buf_puts(&b, "{\"seq\":");
    hg_jsonw_int(&b, (int64_t)seq);
    hg_buf_append(&b, p->tail, p->tail_len);
    e->seq = seq;
    e->type = p->type;
    memcpy(e->kind, p->kind, sizeof(e->kind));
    e->time_ms = p->time_ms;
    e->json = hg_buf_steal(&b, &e->len);
    hg_free(p->tail);
    hg_free(p);
    st->outstanding--;
    st->last_seq = seq;
    if (st->last_seq >= st->first_seq + st->cap)
        st->first_seq = st->last_seq - st->cap + 1;
    st->stats.published++;
    if (st->listener)
        st->listener(st->listener_ud, e);
}

/* Publish the held events the durable reservation now covers, in order. */
static void drain(hg_stream_t *st)
{
    while (!hg_list_empty(&st->held) && st->last_seq < st->durable) {
        pending_t *p = hg_container_of(st->held.next, pending_t, node);
        hg_list_remove(&p->node);
        st->nheld--;
        put_ring(st, p);
    }
}

/* ---- reservations ---- */

static void on_reserved(void *ud, int rc)
{
    reservation_t *r = ud;
    hg_stream_t *st = r->st;
    uint64_t upto = r->upto;
    hg_free(r);
    st->res_inflight--;
    if (rc < 0) {
        /* nothing above `durable` is handed out; the next event queued or committed asks
         * again (need_reserve), so a failing store is not retried in a loop */
        st->stats.reserve_failures++;
        HG_LOG(HG_LOG_ERROR, "events", "sequence reservation upto=%llu not stored: %s",
               (unsigned long long)upto, hg_strerror(rc));
        return;
    }
    if (upto > st->durable) /* never lower: issued non-decreasing, committed in issue order */
        st->durable = upto;
    drain(st);
}

/* Does the stream need a reservation write now, for `outstanding` events to be numbered? */
static int need_reserve(const hg_stream_t *st)
{
    uint64_t need = st->last_seq + st->outstanding;
    return need > st->reserved || (need > st->durable && st->res_inflight == 0);
}

/* Write a reservation covering every outstanding event and HG_STREAM_SEQ_BLOCK numbers past the
 * last published one, in a transaction of its own committed now: it commits no later than any
 * transaction still open (stream.h). Values never decrease, so the stored one never does. */
static void reserve(hg_stream_t *st)
{
    uint64_t need = st->last_seq + st->outstanding;
    uint64_t upto = st->last_seq + HG_STREAM_SEQ_BLOCK;
    if (upto < need)
        upto = need;
    if (upto < st->reserved)
        upto = st->reserved;
    st->reserved = upto;
    st->res_inflight++;
    st->stats.reservations++;
    reservation_t *r = hg_malloc(sizeof(*r));
    r->st = st;
    r->upto = upto;
    hg_store_txn_t *txn = hg_store_txn_new(st->store);
    json_t *meta = json_pack("{s:I}", "reserved", (json_int_t)upto);
    hg_store_put(txn, META_COLL, META_KEY, meta);
    json_decref(meta);
    hg_store_commit(txn, on_reserved, r);
}

/* ---- publishing ---- */

/* The hook on the caller's transaction: rc 0 once its change is durable. */
static void on_committed(void *ud, int rc)
{
    pending_t *p = ud;
    hg_stream_t *st = p->st;
    if (rc < 0) {
        /* the change is not durable: neither is its event (and its number is not used) */
        st->stats.dropped++;
        st->outstanding--;
        hg_free(p->tail);
        hg_free(p);
        return;
    }
    if (hg_list_empty(&st->held) && st->last_seq < st->durable) {
        put_ring(st, p);
        return;
    }
    hg_list_insert_tail(&st->held, &p->node);
    st->nheld++;
    drain(st);
    /* held behind a failed reservation: ask again, once per committed event at most */
    if (st->nheld && !st->stopped && need_reserve(st))
        reserve(st);
}

int hg_stream_publish(hg_stream_t *st, hg_store_txn_t *txn, const char *type, const char *reason,
                      const char *kind, const char *member, const char *json, size_t len)
{
    if (st->stopped)
        return HG_ESHUTDOWN;
    if (txn == NULL || type == NULL || kind == NULL || member == NULL || json == NULL ||
        strlen(kind) > HG_STREAM_KIND_MAX)
        return HG_EINVAL;
    pending_t *p = hg_calloc(1, sizeof(*p));
    hg_list_init(&p->node);
    p->st = st;
    p->type = type;
    memcpy(p->kind, kind, strlen(kind) + 1);
    p->time_ms = hg_clock_now_ms(st->clock);
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_reserve(&b, 128 + len);
    hg_buf_puts(&b, ",\"type\":");
    hg_jsonw_str(&b, type);
    if (reason) {
        hg_buf_puts(&b, ",\"reason\":");
        hg_jsonw_str(&b, reason);
    }
    hg_buf_puts(&b, ",\"time\":");
    hg_jsonw_time_ms(&b, p->time_ms);
    hg_buf_puts(&b, ",");
    hg_jsonw_key(&b, member);
    hg_buf_append(&b, json, len);
    hg_buf_puts(&b, "}");
    p->tail = hg_buf_steal(&b, &p->tail_len);
    st->outstanding++;
    if (need_reserve(st))
        reserve(st); /* before txn commits: it is still open */
    hg_store_txn_on_commit(txn, on_committed, p);
    return 0;
}
