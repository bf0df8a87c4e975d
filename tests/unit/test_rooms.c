/* Unit tests: rooms (rooms/rooms.h) on the manual clock with the real store — one partition's
 * rooms dropped and loaded again while the others' stay. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "rooms/rooms.h"
#include "rooms/scripts.h"
#include "store/partition.h"
#include "test.h"
#include "test_util.h"

#define T0 1804672800000LL
#define EMPTY_CLOSE_MS 60000

typedef struct env {
    char dir[64];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_scripts_t *scripts;
    hg_rooms_t *rs;
} env_t;

static void env_open(env_t *e)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/hg-rooms-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(e->dir));
    hg_clock_init_manual(&e->clock, T0);
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->scripts = hg_scripts_new(e->store, &e->clock);
    ASSERT_OK(hg_scripts_load(e->scripts, &err));
    hg_rooms_config_t cfg = {.max_rooms = 100,
                             .max_message = 65536,
                             .rate_per_s = 100,
                             .send_queue_bytes = 1u << 20,
                             .reconnect_grace_ms = 1000,
                             .empty_close_ms = EMPTY_CLOSE_MS};
    e->rs = hg_rooms_new(&e->loop, e->store, &e->clock, e->scripts, &cfg);
    ASSERT_OK(hg_rooms_load(e->rs, &err));
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void env_close(env_t *e)
{
    hg_test_commit(&e->loop, hg_store_txn_new(e->store)); /* what ticks committed */
    hg_store_close(e->store);
    uv_walk(&e->loop, close_handle, NULL); /* the rooms' script timer, as the daemon does */
    uv_run(&e->loop, UV_RUN_DEFAULT);
    hg_rooms_free(e->rs);
    hg_scripts_free(e->scripts);
    ASSERT_OK(uv_loop_close(&e->loop));
    hg_test_rmtree(e->dir);
}

typedef struct timers {
    uv_timer_t guard; /* the test's own: every loop turn returns */
    int active;       /* another timer is active */
} timers_t;

static void timer_active(uv_handle_t *h, void *arg)
{
    timers_t *t = arg;
    if (h->type == UV_TIMER && uv_is_active(h) && h != (uv_handle_t *)&t->guard)
        t->active = 1;
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

static char *room_text(hg_room_t *r)
{
    json_t *j = hg_room_json(r);
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

#define NR 24

HG_TEST(a_partition_is_dropped_and_loaded_alone)
{
    env_t e;
    env_open(&e);
    hg_error_t err;
    static const char src[] = "return { on_tick = function(room, dt) end }";
    uint32_t v;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_scripts_deploy(e.scripts, "ticker", src, strlen(src), 0, t, &v, &err));
    hg_test_commit(&e.loop, t);
    char ids[NR][HG_ROOM_ID_LEN + 1], *before[NR];
    int part[NR];
    for (int i = 0; i < NR; i++) {
        char label[16];
        snprintf(label, sizeof(label), "room-%d", i);
        json_t *md = json_pack("{s:i}", "n", i);
        hg_room_spec_t spec = {.label = label,
                               .metadata = md,
                               .max_clients = 2 + (size_t)i,
                               .script = i == 0 ? "ticker" : NULL, /* its partition is dropped */
                               .game_session = i == 1 ? "arn:aws:gamelift:gs/1" : NULL};
        hg_room_t *r;
        t = hg_store_txn_new(e.store);
        ASSERT_OK(hg_room_create(e.rs, &spec, t, &r, &err));
        hg_test_commit(&e.loop, t);
        json_decref(md);
        json_t *j = hg_room_json(r);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(j, "room_id")));
        json_decref(j);
        part[i] = hg_partition_of("rooms", ids[i]);
        before[i] = room_text(r);
    }
    int p = part[0], in_p = 0;
    for (int i = 0; i < NR; i++)
        in_p += part[i] == p;
    ASSERT_TRUE(in_p < NR);

    ASSERT_OK(hg_rooms_drop_partition(e.rs, p));
    for (int i = 0; i < NR; i++) {
        hg_room_t *r = hg_room_find(e.rs, ids[i]);
        if (part[i] == p) {
            ASSERT_NULL(r);
            continue;
        }
        ASSERT_NOT_NULL(r);
        char *now = room_text(r);
        ASSERT_STR_EQ(now, before[i]);
        free(now);
    }
    ASSERT_EQ_INT(hg_rooms_drop_partition(e.rs, HG_PARTITION_P0), HG_EINVAL);
    /* the scripts' timer (the loop's, every 10 ms of real time) stops at its next run: the
     * dropped room's script is gone, and no other room runs one */
    timers_t tm = {.active = 1};
    uv_timer_init(&e.loop, &tm.guard);
    while (tm.active) {
        tm.active = 0;
        uv_walk(&e.loop, timer_active, &tm);
        if (tm.active) { /* a turn that ran the due timer first would then wait for I/O */
            uv_timer_start(&tm.guard, on_guard, 20, 0);
            uv_run(&e.loop, UV_RUN_ONCE);
        }
    }
    uv_close((uv_handle_t *)&tm.guard, NULL);
    /* nobody joins: the empty rooms close once empty_close_ms passed, but not p's (their records
     * stay for the next owner) */
    hg_clock_advance(&e.clock, EMPTY_CLOSE_MS);
    hg_rooms_tick(e.rs);
    hg_test_commit(&e.loop, hg_store_txn_new(e.store));
    for (int i = 0; i < NR; i++)
        ASSERT_NULL(hg_room_find(e.rs, ids[i]));

    ASSERT_OK(hg_rooms_load_partition(e.rs, p, &err));
    json_t *all = hg_rooms_list(e.rs, NULL, 0, NULL, 100);
    ASSERT_EQ_INT(json_array_size(json_object_get(all, "items")), in_p);
    json_decref(all);
    for (int i = 0; i < NR; i++) {
        hg_room_t *r = hg_room_find(e.rs, ids[i]);
        if (part[i] != p) {
            ASSERT_NULL(r); /* closed by the tick: deleted */
        } else {
            ASSERT_NOT_NULL(r);
            char *now = room_text(r);
            ASSERT_STR_EQ(now, before[i]);
            free(now);
        }
        free(before[i]);
    }
    env_close(&e);
}

HG_SUITE(rooms) = {HG_CASE(a_partition_is_dropped_and_loaded_alone), HG_CASE_END};
