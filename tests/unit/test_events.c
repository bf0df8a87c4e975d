/* Unit tests: the event stream core (events/stream.h) — publish on commit in order, events of
 * failed or dropped transactions never published, sequence numbers that never repeat after a
 * failed reservation and a reload, the ring's wrap-around — on a real SQLite store wrapped by a
 * backend that fails commits on demand. */
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>

#include "events/stream.h"
#include "rt/clock.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

/* ---- a store backend that fails on demand: hg_store_sqlite underneath ---- */

static atomic_int fail_all;  /* every batch fails */
static atomic_int fail_meta; /* batches that write the stream's reservation fail */

static int fb_open(const char *location, void **state, hg_error_t *err)
{
    return hg_store_sqlite.open(location, state, err);
}

static int fb_load(void *state, const char *coll, hg_store_load_cb cb, void *ud)
{
    return hg_store_sqlite.load(state, coll, cb, ud);
}

/* Store writer lane: fails the whole batch, as a failed SQLite COMMIT would. */
static int fb_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    if (atomic_load(&fail_all))
        return HG_ESTORE;
    for (size_t i = 0; i < nops && atomic_load(&fail_meta); i++)
        if (strcmp(ops[i]->coll, "registry.meta") == 0)
            return HG_ESTORE;
    return hg_store_sqlite.apply(state, ops, nops);
}

static void fb_close(void *state)
{
    hg_store_sqlite.close(state);
}

static const hg_store_backend_t failing_backend = {
    HG_STORE_BACKEND_VERSION, "failing-sqlite", fb_open, fb_load, fb_apply, fb_close, NULL,
};

/* ---- the environment ---- */

#define MAX_SEEN 64

typedef struct seen {
    uint64_t seq;
    char type[32];
    char kind[HG_STREAM_KIND_MAX + 1];
    json_t *json; /* parsed */
} seen_t;

typedef struct env {
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_stream_t *st;
    seen_t seen[MAX_SEEN];
    int n;
    char dir[64];
} env_t;

static void listener(void *ud, const hg_stream_event_t *e)
{
    env_t *v = ud;
    ASSERT_TRUE(v->n < MAX_SEEN);
    seen_t *s = &v->seen[v->n++];
    s->seq = e->seq;
    snprintf(s->type, sizeof(s->type), "%s", e->type);
    snprintf(s->kind, sizeof(s->kind), "%s", e->kind);
    json_error_t jerr;
    s->json = json_loadb(e->json, e->len, 0, &jerr);
    ASSERT_NOT_NULL(s->json);
    ASSERT_EQ_INT(strlen(e->json), e->len);
    /* in seq order, by one */
    if (v->n > 1)
        ASSERT_EQ_INT(s->seq, v->seen[v->n - 2].seq + 1);
}

static void env_open(env_t *v, int fresh, size_t ring)
{
    if (fresh) {
        memset(v, 0, sizeof(*v));
        snprintf(v->dir, sizeof(v->dir), "/tmp/hg-events-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(v->dir));
        hg_clock_init_manual(&v->clock, 1700000000000LL);
    }
    atomic_store(&fail_all, 0);
    atomic_store(&fail_meta, 0);
    uv_loop_init(&v->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&v->loop, &failing_backend, v->dir, 64, &v->store, &err));
    v->st = hg_stream_new(&v->clock, v->store, ring);
    hg_stream_set_listener(v->st, listener, v);
    ASSERT_OK(hg_stream_load(v->st));
}

/* Run the loop until nothing is in flight in the store (reservations included). */
static void settle(env_t *v)
{
    hg_store_stats_t s;
    for (hg_store_stats(v->store, &s); s.inflight; hg_store_stats(v->store, &s))
        uv_run(&v->loop, UV_RUN_ONCE);
}

static void env_close(env_t *v)
{
    settle(v);
    atomic_store(&fail_all, 0);
    atomic_store(&fail_meta, 0);
    hg_stream_stop(v->st);
    hg_store_close(v->store);
    hg_stream_free(v->st);
    uv_run(&v->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&v->loop));
    for (int i = 0; i < v->n; i++)
        json_decref(v->seen[i].json);
    v->n = 0;
}

static void env_done(env_t *v)
{
    env_close(v);
    hg_test_rmtree(v->dir);
}

static void on_done(void *ud, int rc)
{
    *(int *)ud = rc == 0 ? 1 : -1;
}

/* Commit t (takes ownership), run the loop until it and whatever it set off are done; returns
 * 1 when it was durable, -1 when it failed. */
static int commit(env_t *v, hg_store_txn_t *t)
{
    int done = 0;
    hg_store_commit(t, on_done, &done);
    while (done == 0)
        uv_run(&v->loop, UV_RUN_ONCE);
    settle(v);
    return done;
}

/* A transaction with a change in it (a record) and an event describing it. */
static hg_store_txn_t *change(env_t *v, const char *key, const char *type)
{
    hg_store_txn_t *t = hg_store_txn_new(v->store);
    json_t *rec = json_pack("{s:s}", "type", type);
    hg_store_put(t, "things", key, rec);
    json_decref(rec);
    char payload[64];
    snprintf(payload, sizeof(payload), "{\"key\":\"%s\"}", key);
    ASSERT_OK(hg_stream_publish(v->st, t, type, NULL, "thing", "thing", payload, strlen(payload)));
    return t;
}

/* Commit a change made after a failed commit. A store that fences itself after a failure
 * (store.h) refuses it; it is then made again once the store is reopened, as the daemon serves
 * again from the store. Returns 1 when it had to reopen (the events seen so far are reset). */
static int commit_after_failure(env_t *v, const char *key, const char *type)
{
    if (commit(v, change(v, key, type)) == 1)
        return 0;
    env_close(v);
    env_open(v, 0, 0);
    ASSERT_EQ_INT(commit(v, change(v, key, type)), 1);
    return 1;
}

static int stored_things(env_t *v);

/* ---- tests ---- */

HG_TEST(publishes_in_order_after_commit)
{
    env_t v;
    env_open(&v, 1, 0);
    hg_store_txn_t *t = change(&v, "a", "t.a");
    ASSERT_OK(hg_stream_publish(v.st, t, "t.b", "left", "other", "x", "[1,2]", 5));
    ASSERT_EQ_INT(v.n, 0); /* not before the commit */
    ASSERT_EQ_INT(hg_stream_last_seq(v.st), 0);
    uv_run(&v.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(v.n, 0); /* nor while the transaction is open */
    ASSERT_EQ_INT(commit(&v, t), 1);
    ASSERT_EQ_INT(v.n, 2);
    ASSERT_EQ_INT(v.seen[0].seq, 1);
    ASSERT_STR_EQ(v.seen[0].type, "t.a");
    ASSERT_STR_EQ(v.seen[0].kind, "thing");
    json_t *j = v.seen[0].json;
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "seq")), 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "type")), "t.a");
    ASSERT_TRUE(json_real_value(json_object_get(j, "time")) == 1700000000.0);
    ASSERT_NULL(json_object_get(j, "reason"));
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "thing"), "key")), "a");
    j = v.seen[1].json;
    ASSERT_EQ_INT(v.seen[1].seq, 2);
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "reason")), "left");
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "x")), 2);

    /* two transactions open at once, committed in the other order: published in commit
     * order, numbered by one */
    hg_clock_advance(&v.clock, 1000);
    hg_store_txn_t *t1 = change(&v, "c", "t.c");
    hg_store_txn_t *t2 = change(&v, "d", "t.d");
    ASSERT_EQ_INT(commit(&v, t2), 1);
    ASSERT_EQ_INT(commit(&v, t1), 1);
    ASSERT_EQ_INT(v.n, 4);
    ASSERT_STR_EQ(v.seen[2].type, "t.d");
    ASSERT_EQ_INT(v.seen[2].seq, 3);
    ASSERT_STR_EQ(v.seen[3].type, "t.c");
    ASSERT_EQ_INT(v.seen[3].seq, 4);

    /* many transactions in flight together (one group-commit batch or several) */
    int done[8] = {0};
    for (int i = 0; i < 8; i++) {
        char key[8];
        snprintf(key, sizeof(key), "g%d", i);
        hg_store_commit(change(&v, key, "t.g"), on_done, &done[i]);
    }
    settle(&v);
    ASSERT_EQ_INT(v.n, 12);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ_INT(done[i], 1);
        char key[8];
        snprintf(key, sizeof(key), "g%d", i);
        json_t *thing = json_object_get(v.seen[4 + i].json, "thing");
        ASSERT_STR_EQ(json_string_value(json_object_get(thing, "key")), key);
    }
    ASSERT_EQ_INT(hg_stream_last_seq(v.st), 12);
    /* the ring holds the same text the listener saw */
    const hg_stream_event_t *e = hg_stream_get(v.st, 3);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_INT(e->seq, 3);
    ASSERT_STR_EQ(e->type, "t.d");
    ASSERT_TRUE(strncmp(e->json, "{\"seq\":3,\"type\":\"t.d\",", 22) == 0);
    hg_stream_stats_t stats;
    hg_stream_stats(v.st, &stats);
    ASSERT_EQ_INT(stats.published, 12);
    ASSERT_EQ_INT(stats.dropped, 0);
    ASSERT_EQ_INT(stats.reservations, 1); /* one block covers them all */
    ASSERT_EQ_INT(stats.held + stats.inflight, 0);
    env_done(&v);
}

HG_TEST(event_of_failed_commit_is_never_published)
{
    env_t v;
    env_open(&v, 1, 0);
    /* the reservation and the change in one failing batch (the group commit fails as a whole) */
    atomic_store(&fail_all, 1);
    ASSERT_EQ_INT(commit(&v, change(&v, "a", "t.failed")), -1);
    /* several transactions in flight, every batch failing */
    int done[4] = {0};
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof(key), "f%d", i);
        hg_store_commit(change(&v, key, "t.failed"), on_done, &done[i]);
    }
    settle(&v);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(done[i], -1);
    atomic_store(&fail_all, 0);
    /* a transaction dropped without a commit */
    hg_store_txn_free(change(&v, "b", "t.dropped"));
    settle(&v);
    ASSERT_EQ_INT(v.n, 0);
    ASSERT_EQ_INT(hg_stream_last_seq(v.st), 0);
    ASSERT_NULL(hg_stream_get(v.st, 1));
    hg_stream_stats_t stats;
    hg_stream_stats(v.st, &stats);
    ASSERT_EQ_INT(stats.published, 0);
    ASSERT_EQ_INT(stats.dropped, 6);
    ASSERT_EQ_INT(stats.held + stats.inflight, 0);

    /* the next event that commits is the first one published, numbered 1 (no gap for the
     * dropped ones; nothing was reserved durably if the store had to be reopened) */
    commit_after_failure(&v, "c", "t.ok");
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_EQ_INT(v.seen[0].seq, 1);
    ASSERT_STR_EQ(v.seen[0].type, "t.ok");
    ASSERT_STR_EQ(hg_stream_get(v.st, 1)->type, "t.ok");
    env_close(&v);
    env_open(&v, 0, 0);
    ASSERT_EQ_INT(stored_things(&v), 1); /* of the changes, only the one published */
    env_done(&v);
}

static int count_cb(void *ud, const char *key, json_t *value)
{
    (void)key, (void)value;
    (*(int *)ud)++;
    return 0;
}

/* Records of "things" in the store (start-up only: before anything is committed). */
static int stored_things(env_t *v)
{
    int n = 0;
    ASSERT_OK(hg_store_load(v->store, "things", count_cb, &n));
    return n;
}

HG_TEST(failed_reservation_then_reload_never_repeats_a_seq)
{
    env_t v;
    env_open(&v, 1, 0);
    /* the change's transaction is open; the reservation it asked for fails on its own */
    atomic_store(&fail_meta, 1);
    hg_store_txn_t *t = change(&v, "a", "t.a");
    settle(&v);
    hg_stream_stats_t stats;
    hg_stream_stats(v.st, &stats);
    ASSERT_EQ_INT(stats.reserve_failures, 1);
    uint64_t top = 0; /* the highest seq handed out */
    if (commit(&v, t) == 1) {
        /* the store went on after the failure, and the change committed (it writes no
         * reservation) while its reservation kept failing: the event is held, not handed out
         * with a number no durable reservation covers */
        ASSERT_EQ_INT(v.n, 0);
        hg_stream_stats(v.st, &stats);
        ASSERT_EQ_INT(stats.held, 1);
        ASSERT_EQ_INT(stats.reserve_failures, 2); /* asked again once, when it committed */
        ASSERT_EQ_INT(hg_stream_last_seq(v.st), 0);
        /* the store recovers: the next event's reservation covers both, published in order */
        atomic_store(&fail_meta, 0);
        ASSERT_EQ_INT(commit(&v, change(&v, "b", "t.b")), 1);
        ASSERT_EQ_INT(commit(&v, change(&v, "c", "t.c")), 1);
        ASSERT_EQ_INT(v.n, 3);
        ASSERT_STR_EQ(v.seen[0].type, "t.a");
        ASSERT_EQ_INT(v.seen[0].seq, 1);
        ASSERT_STR_EQ(v.seen[2].type, "t.c");
        top = v.seen[2].seq;
        ASSERT_EQ_INT(top, 3);
    } else {
        /* a store that fences after a failure (store.h) refused the change: dropped */
        ASSERT_EQ_INT(v.n, 0);
        hg_stream_stats(v.st, &stats);
        ASSERT_EQ_INT(stats.dropped, 1);
        ASSERT_EQ_INT(stats.held, 0);
    }

    /* a restart: numbering continues above everything ever handed out */
    env_close(&v);
    env_open(&v, 0, 0);
    ASSERT_TRUE(hg_stream_last_seq(v.st) >= top);
    ASSERT_NULL(hg_stream_get(v.st, top)); /* the ring starts empty */
    ASSERT_EQ_INT(commit(&v, change(&v, "d", "t.d")), 1);
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_TRUE(v.seen[0].seq > top);
    ASSERT_TRUE(v.seen[0].seq <= top + HG_STREAM_SEQ_BLOCK + 1);
    top = v.seen[0].seq;

    /* a reservation that fails in the same batch as its change: the event is dropped, and the
     * next one writes a new reservation before it is handed out */
    env_close(&v);
    env_open(&v, 0, 0);
    uint64_t base = hg_stream_last_seq(v.st);
    ASSERT_TRUE(base >= top);
    atomic_store(&fail_all, 1);
    ASSERT_EQ_INT(commit(&v, change(&v, "e", "t.e")), -1);
    atomic_store(&fail_all, 0);
    commit_after_failure(&v, "f", "t.f");
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_EQ_INT(v.seen[0].seq, base + 1);
    top = v.seen[0].seq;
    env_close(&v);
    env_open(&v, 0, 0);
    ASSERT_EQ_INT(commit(&v, change(&v, "g", "t.g")), 1);
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_TRUE(v.seen[0].seq > top);
    env_done(&v);
}

HG_TEST(dropped_transaction_keeps_the_reservation)
{
    env_t v;
    env_open(&v, 1, 0);
    /* the first event asks for a reservation; its transaction is then dropped (a refused
     * request): the event goes, the reservation stays durable, as it rides no caller's
     * transaction */
    hg_store_txn_free(change(&v, "a", "t.dropped"));
    ASSERT_EQ_INT(commit(&v, change(&v, "b", "t.b")), 1);
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_EQ_INT(v.seen[0].seq, 1);
    ASSERT_STR_EQ(v.seen[0].type, "t.b");
    env_close(&v);
    env_open(&v, 0, 0);
    ASSERT_EQ_INT(commit(&v, change(&v, "c", "t.c")), 1);
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_TRUE(v.seen[0].seq > 1);
    env_done(&v);
}

HG_TEST(ring_wraps_and_reads_by_seq)
{
    env_t v;
    env_open(&v, 1, 4);
    ASSERT_EQ_INT(hg_stream_first_seq(v.st), 1);
    ASSERT_NULL(hg_stream_get(v.st, 0));
    ASSERT_NULL(hg_stream_get(v.st, 1));
    static const char *const types[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"};
    hg_store_txn_t *t = hg_store_txn_new(v.store);
    for (int i = 0; i < 3; i++) {
        char payload[16];
        snprintf(payload, sizeof(payload), "%d", i);
        ASSERT_OK(hg_stream_publish(v.st, t, types[i], NULL, "k", "n", payload, strlen(payload)));
    }
    ASSERT_EQ_INT(commit(&v, t), 1);
    ASSERT_EQ_INT(hg_stream_first_seq(v.st), 1);
    ASSERT_EQ_INT(hg_stream_last_seq(v.st), 3);
    for (int i = 3; i < 10; i++) {
        char payload[16];
        snprintf(payload, sizeof(payload), "%d", i);
        t = hg_store_txn_new(v.store);
        ASSERT_OK(hg_stream_publish(v.st, t, types[i], NULL, i % 2 ? "odd" : "even", "n", payload,
                                    strlen(payload)));
        ASSERT_EQ_INT(commit(&v, t), 1);
        /* the oldest leaves once the ring is full */
        ASSERT_EQ_INT(hg_stream_first_seq(v.st), i + 1 > 4 ? (uint64_t)i + 1 - 3 : 1);
    }
    ASSERT_EQ_INT(v.n, 10);
    ASSERT_EQ_INT(hg_stream_first_seq(v.st), 7);
    ASSERT_EQ_INT(hg_stream_last_seq(v.st), 10);
    ASSERT_NULL(hg_stream_get(v.st, 6)); /* overwritten */
    ASSERT_NULL(hg_stream_get(v.st, 2));
    ASSERT_NULL(hg_stream_get(v.st, 11)); /* not yet */
    for (uint64_t seq = 7; seq <= 10; seq++) {
        const hg_stream_event_t *e = hg_stream_get(v.st, seq);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ_INT(e->seq, seq);
        ASSERT_STR_EQ(e->type, types[seq - 1]);
        ASSERT_STR_EQ(e->kind, (seq - 1) % 2 ? "odd" : "even");
        json_t *j = json_loadb(e->json, e->len, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_EQ_INT(json_integer_value(json_object_get(j, "seq")), seq);
        ASSERT_EQ_INT(json_integer_value(json_object_get(j, "n")), seq - 1);
        json_decref(j);
    }
    env_done(&v);
}

HG_TEST(refuses_once_stopped_and_bad_arguments)
{
    env_t v;
    env_open(&v, 1, 0);
    hg_store_txn_t *t = hg_store_txn_new(v.store);
    ASSERT_EQ_INT(hg_stream_publish(v.st, NULL, "t", NULL, "k", "m", "1", 1), HG_EINVAL);
    char kind[HG_STREAM_KIND_MAX + 2];
    memset(kind, 'k', sizeof(kind) - 1);
    kind[sizeof(kind) - 1] = '\0';
    ASSERT_EQ_INT(hg_stream_publish(v.st, t, "t", NULL, kind, "m", "1", 1), HG_EINVAL);
    kind[HG_STREAM_KIND_MAX] = '\0'; /* the longest kind */
    ASSERT_OK(hg_stream_publish(v.st, t, "t.queued", NULL, kind, "m", "1", 1));
    /* stopped: nothing new, but what was queued is still published when it commits */
    hg_stream_stop(v.st);
    ASSERT_EQ_INT(hg_stream_publish(v.st, t, "t", NULL, "k", "m", "1", 1), HG_ESHUTDOWN);
    ASSERT_EQ_INT(commit(&v, t), 1);
    ASSERT_EQ_INT(v.n, 1);
    ASSERT_STR_EQ(v.seen[0].type, "t.queued");
    ASSERT_STR_EQ(v.seen[0].kind, kind);
    env_done(&v);
}

HG_SUITE(events) = {
    HG_CASE(publishes_in_order_after_commit),
    HG_CASE(event_of_failed_commit_is_never_published),
    HG_CASE(failed_reservation_then_reload_never_repeats_a_seq),
    HG_CASE(dropped_transaction_keeps_the_reservation),
    HG_CASE(ring_wraps_and_reads_by_seq),
    HG_CASE(refuses_once_stopped_and_bad_arguments),
    HG_CASE_END,
};
