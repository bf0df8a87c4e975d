/* hangar — realtime rooms (rooms.h).
 *
 * DESIGN: a room is a list of seats in join order, a sequence number and a ring of the messages
 * it emitted. emit() numbers a message, renders it once and queues the same bytes on every
 * connected seat's WebSocket in one pass; a seat whose queue cannot take it is cut off
 * (HG_ROOM_CLOSE_SLOW) rather than waited for, so one slow client never slows the room. A
 * connection (conn_t) is separate from its seat: a reconnect moves the seat to the new socket
 * and the old socket's late callbacks find no seat.
 */
#include "rooms/rooms.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "core/list.h"
#include "core/log.h"
#include "core/map.h"
#include "core/str.h"
#include "store/partition.h"
#include "store/partload.h"

#define ROOMS_COLL "rooms"
#define SCRIPT_TIMER_MS 10 /* the clock of on_tick and room.after */

typedef struct msg {
    uint64_t seq;
    int binary;
    size_t len;
    char data[];
} msg_t;

typedef struct conn conn_t;

typedef struct seat {
    hg_list_t node; /* in the room's seats, join order */
    hg_room_t *room;
    conn_t *conn;    /* NULL while disconnected (within the grace) */
    int64_t gone_ms; /* when it disconnected */
    double tokens;   /* rate limit: a token bucket of rate_per_s, burst 2 × rate */
    int64_t tok_ms;
    int kicked; /* by the script: removed once its call returns */
    char player[HG_ROOM_PLAYER_MAX + 1];
} seat_t;

struct conn {
    hg_rooms_t *rs;
    hg_room_t *room;
    seat_t *seat; /* NULL once replaced, or before attach */
    hg_ws_t *ws;
    int has_after;
    uint64_t after;
    uint32_t epoch;
    char player[HG_ROOM_PLAYER_MAX + 1];
};

struct hg_room {
    hg_rooms_t *rs;
    char id[HG_ROOM_ID_LEN + 1];
    char label[HG_ROOM_LABEL_MAX + 1];
    char *metadata;     /* compact JSON object or NULL */
    char *game_session; /* the GameLift game session's ARN it belongs to, or NULL */
    size_t max_clients;
    int64_t created_ms;
    hg_list_t seats;
    size_t nseats;
    uint64_t seq;
    uint32_t epoch;
    msg_t **ring; /* grows by doubling to HG_ROOM_BUFFER_MSGS: an idle room holds none */
    size_t ring_cap, ring_head, ring_count, ring_bytes; /* oldest at ring_head */
    int64_t empty_since;                                /* 0: someone is seated */
    /* the script, when the room runs one */
    char script_name[HG_SCRIPT_NAME_MAX + 1]; /* "": none */
    uint32_t script_version;
    char *options; /* on_create's, kept for a restart */
    hg_script_room_t *sr;
    const char *cur_from; /* whose message the running handler handles ("" for the room) */
    int in_script, close_requested, disposing;
    int64_t last_tick_ms, next_tick_ms;
    struct {
        uint64_t id;
        int64_t due_ms;
    } timers[HG_SCRIPT_TIMERS_MAX];
    size_t ntimers;
    const char **player_ptrs;
    size_t player_cap;
    hg_list_t scripted_node; /* in rs->scripted */
    hg_list_t replies;       /* service answers that came during a script call: reply_t */
};

/* A service answer held until the script call in progress ends. */
typedef struct reply {
    hg_list_t node;
    uint64_t id;
    char *result, *code, *message;
} reply_t;

struct hg_rooms {
    uv_loop_t *loop;
    hg_scripts_t *scripts;
    uv_timer_t timer; /* ticks and timers of scripted rooms, every SCRIPT_TIMER_MS */
    int timer_on;
    hg_list_t scripted; /* rooms that run a script */
    hg_store_t *store;
    hg_clock_t *clock;
    hg_rooms_config_t cfg;
    hg_map_t rooms; /* id → hg_room_t */
    int stopping;
    hg_rooms_service_fn service; /* scripts' leaderboard and wallet calls (the API layer) */
    void *service_ud;
};

/* ---- life ---- */

static void on_script_timer(uv_timer_t *t);
static int room_start_script(hg_room_t *r, hg_script_t *s, uint32_t version, const char *name,
                             const char *options, hg_error_t *err);

hg_rooms_t *hg_rooms_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock,
                         hg_scripts_t *scripts, const hg_rooms_config_t *cfg)
{
    hg_rooms_t *rs = hg_calloc(1, sizeof(*rs));
    rs->loop = loop;
    rs->scripts = scripts;
    hg_list_init(&rs->scripted);
    uv_timer_init(loop, &rs->timer);
    rs->timer.data = rs;
    rs->store = store;
    rs->clock = clock;
    rs->cfg = *cfg;
    hg_map_init(&rs->rooms);
    return rs;
}

static void ring_clear(hg_room_t *r)
{
    for (size_t i = 0; i < r->ring_count; i++)
        hg_free(r->ring[(r->ring_head + i) % r->ring_cap]);
    hg_free(r->ring);
    r->ring = NULL;
    r->ring_cap = r->ring_count = r->ring_bytes = r->ring_head = 0;
}

/* Drop every seat (their sockets closed with code) and free the room. */
static void reply_free(reply_t *p)
{
    hg_list_remove(&p->node);
    hg_free(p->result);
    hg_free(p->code);
    hg_free(p->message);
    hg_free(p);
}

static void room_free(hg_room_t *r, int code, const char *why)
{
    while (!hg_list_empty(&r->replies))
        reply_free(hg_container_of(r->replies.next, reply_t, node));
    if (r->sr) {
        r->disposing = 1; /* on_dispose may call the room API: it reaches no one now */
        hg_script_room_free(r->sr);
        r->sr = NULL;
        hg_list_remove(&r->scripted_node);
    }
    hg_free(r->options);
    hg_free(r->game_session);
    hg_free(r->player_ptrs);
    while (!hg_list_empty(&r->seats)) {
        seat_t *s = hg_container_of(r->seats.next, seat_t, node);
        hg_list_remove(&s->node);
        if (s->conn) {
            s->conn->seat = NULL;
            hg_ws_close(s->conn->ws, code, why);
        }
        hg_free(s);
    }
    ring_clear(r);
    hg_free(r->metadata);
    hg_free(r);
}

void hg_rooms_free(hg_rooms_t *rs)
{
    if (rs == NULL)
        return;
    rs->stopping = 1;
    size_t it = 0;
    void *v;
    while (hg_map_next(&rs->rooms, &it, NULL, &v))
        room_free(v, 1012, "service restart");
    hg_map_free(&rs->rooms);
    hg_free(rs);
}

static uint32_t new_epoch(void)
{
    uint32_t e = 0;
    while (e == 0)
        HG_BUG_ON(RAND_bytes((unsigned char *)&e, sizeof(e)) != 1);
    return e;
}

static hg_room_t *room_new(hg_rooms_t *rs, const char *id)
{
    hg_room_t *r = hg_calloc(1, sizeof(*r));
    r->rs = rs;
    snprintf(r->id, sizeof(r->id), "%s", id);
    hg_list_init(&r->seats);
    hg_list_init(&r->replies);
    r->epoch = new_epoch();
    r->empty_since = hg_clock_now_ms(rs->clock);
    hg_map_set(&rs->rooms, r->id, r);
    return r;
}

static void save_room(const hg_room_t *r, hg_store_txn_t *txn)
{
    json_t *md = r->metadata ? json_loads(r->metadata, 0, NULL) : NULL;
    json_t *v = json_pack("{s:s,s:o,s:I,s:I}", "label", r->label, "metadata", md ? md : json_null(),
                          "max_clients", (json_int_t)r->max_clients, "created_ms",
                          (json_int_t)r->created_ms);
    if (r->game_session)
        json_object_set_new(v, "game_session_id", json_string(r->game_session));
    if (r->script_name[0]) {
        json_object_set_new(v, "script", json_string(r->script_name));
        json_object_set_new(v, "script_version", json_integer(r->script_version));
        if (r->options)
            json_object_set_new(v, "options", json_string(r->options));
    }
    hg_store_put(txn, ROOMS_COLL, r->id, v);
    json_decref(v);
}

static void random_id(char out[HG_ROOM_ID_LEN + 1])
{
    unsigned char b[16];
    HG_BUG_ON(RAND_bytes(b, sizeof(b)) != 1);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, HG_ROOM_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int hg_room_create(hg_rooms_t *rs, const hg_room_spec_t *spec, hg_store_txn_t *txn, hg_room_t **out,
                   hg_error_t *err)
{
    const char *label = spec->label ? spec->label : "";
    if (strlen(label) > HG_ROOM_LABEL_MAX)
        return hg_error_set(err, HG_EINVAL, "label is at most %d characters", HG_ROOM_LABEL_MAX);
    for (const char *c = label; *c; c++)
        if ((unsigned char)*c < ' ')
            return hg_error_set(err, HG_EINVAL, "label has control characters");
    size_t max = spec->max_clients ? spec->max_clients : HG_ROOM_CLIENTS_DEFAULT;
    if (max > HG_ROOM_CLIENTS_MAX)
        return hg_error_set(err, HG_EINVAL, "max_clients is 1..%d", HG_ROOM_CLIENTS_MAX);
    char *md = NULL;
    if (spec->metadata) {
        md = json_dumps(spec->metadata, JSON_COMPACT);
        if (md == NULL || strlen(md) > HG_ROOM_METADATA_MAX) {
            free(md);
            return hg_error_set(err, HG_EINVAL, "metadata is a JSON object of at most %d bytes",
                                HG_ROOM_METADATA_MAX);
        }
    }
    if (hg_map_count(&rs->rooms) >= rs->cfg.max_rooms) {
        free(md);
        return hg_error_set(err, HG_ELIMIT, "this node holds its %zu rooms", rs->cfg.max_rooms);
    }
    char id[HG_ROOM_ID_LEN + 1];
    random_id(id);
    hg_room_t *r = room_new(rs, id);
    snprintf(r->label, sizeof(r->label), "%s", label);
    r->metadata = md ? hg_strdup(md) : NULL;
    free(md);
    r->max_clients = max;
    r->created_ms = hg_clock_now_ms(rs->clock);
    r->game_session = spec->game_session ? hg_strdup(spec->game_session) : NULL;
    if (spec->script) {
        hg_script_t *s;
        uint32_t v;
        int rc = hg_scripts_get(rs->scripts, spec->script, 0, &s, &v, err);
        if (rc == 0)
            rc = room_start_script(r, s, v, spec->script, spec->options, err);
        if (rc < 0) {
            hg_map_del(&rs->rooms, r->id);
            room_free(r, 1000, "");
            return rc;
        }
    }
    save_room(r, txn);
    *out = r;
    return 0;
}

hg_room_t *hg_room_find(hg_rooms_t *rs, const char *id)
{
    return hg_map_get(&rs->rooms, id);
}

static void close_room_now(hg_room_t *r)
{
    hg_rooms_t *rs = r->rs;
    hg_store_txn_t *txn = hg_store_txn_new(rs->store);
    hg_room_close(rs, r, txn);
    hg_store_commit(txn, NULL, NULL);
}

void hg_room_close(hg_rooms_t *rs, hg_room_t *r, hg_store_txn_t *txn)
{
    hg_store_del(txn, ROOMS_COLL, r->id);
    hg_map_del(&rs->rooms, r->id);
    room_free(r, HG_ROOM_CLOSE_CLOSED, "room closed");
}

static size_t connected(const hg_room_t *r)
{
    size_t n = 0;
    hg_list_t *q;
    hg_list_foreach (q, &r->seats) {
        if (hg_container_of(q, seat_t, node)->conn)
            n++;
    }
    return n;
}

json_t *hg_room_json(const hg_room_t *r)
{
    json_t *md = r->metadata ? json_loads(r->metadata, 0, NULL) : NULL;
    json_t *players = json_array();
    hg_list_t *q;
    hg_list_foreach (q, &r->seats) {
        json_array_append_new(players, json_string(hg_container_of(q, seat_t, node)->player));
    }
    json_t *o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:I,s:f}", "room_id", r->id, "label",
                          r->label, "metadata", md ? md : json_null(), "max_clients",
                          (json_int_t)r->max_clients, "clients", (json_int_t)r->nseats, "connected",
                          (json_int_t)connected(r), "players", players, "seq", (json_int_t)r->seq,
                          "created", (double)r->created_ms / 1000.0);
    json_object_set_new(o, "game_session_id",
                        r->game_session ? json_string(r->game_session) : json_null());
    if (r->script_name[0]) {
        json_object_set_new(o, "script", json_string(r->script_name));
        json_object_set_new(o, "script_version", json_integer(r->script_version));
    }
    return o;
}

static int cmp_room(const void *a, const void *b)
{
    return strcmp((*(hg_room_t *const *)a)->id, (*(hg_room_t *const *)b)->id);
}

json_t *hg_rooms_list(hg_rooms_t *rs, const char *label, int has_space, const char *after,
                      size_t limit)
{
    size_t n = hg_map_count(&rs->rooms), k = 0, it = 0;
    hg_room_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&rs->rooms, &it, NULL, &v)) {
        hg_room_t *r = v;
        if ((label && strcmp(r->label, label) != 0) || (has_space && r->nseats >= r->max_clients) ||
            (after && strcmp(r->id, after) <= 0))
            continue;
        all[k++] = r;
    }
    qsort(all, k, sizeof(*all), cmp_room);
    json_t *items = json_array();
    for (size_t i = 0; i < k && i < limit; i++)
        json_array_append_new(items, hg_room_json(all[i]));
    json_t *o = json_pack("{s:o}", "items", items);
    if (k > limit)
        json_object_set_new(o, "next", json_string(all[limit - 1]->id));
    hg_free(all);
    return o;
}

/* ---- emitting ---- */

static void cut_off(seat_t *s, int code, const char *why)
{
    conn_t *c = s->conn;
    if (c == NULL)
        return;
    s->conn = NULL;
    s->gone_ms = hg_clock_now_ms(s->room->rs->clock);
    c->seat = NULL;
    hg_ws_close(c->ws, code, why);
}

/* Queue bytes on one seat's socket; a full queue cuts it off. */
static void deliver(seat_t *s, int binary, const char *data, size_t len)
{
    if (s->conn == NULL)
        return;
    int rc = hg_ws_send(s->conn->ws, binary ? HG_WS_BINARY : HG_WS_TEXT_VALID, data, len);
    if (rc == HG_ELIMIT)
        cut_off(s, HG_ROOM_CLOSE_SLOW, "too slow: the send queue overflowed");
}

static void ring_push(hg_room_t *r, msg_t *m)
{
    while (r->ring_count && (r->ring_count == HG_ROOM_BUFFER_MSGS ||
                             r->ring_bytes + m->len > HG_ROOM_BUFFER_BYTES)) {
        msg_t *old = r->ring[r->ring_head];
        r->ring_bytes -= old->len;
        hg_free(old);
        r->ring_head = (r->ring_head + 1) % r->ring_cap;
        r->ring_count--;
    }
    if (r->ring_count == r->ring_cap) { /* below HG_ROOM_BUFFER_MSGS: grow, oldest first */
        size_t cap = r->ring_cap ? 2 * r->ring_cap : 8;
        msg_t **n = hg_malloc(cap * sizeof(*n));
        for (size_t i = 0; i < r->ring_count; i++)
            n[i] = r->ring[(r->ring_head + i) % r->ring_cap];
        hg_free(r->ring);
        r->ring = n;
        r->ring_cap = cap;
        r->ring_head = 0;
    }
    r->ring[(r->ring_head + r->ring_count) % r->ring_cap] = m;
    r->ring_count++;
    r->ring_bytes += m->len;
}

/* Number, render, keep and deliver a text message: {"seq","type","from","data"}. data is
 * compact JSON text or NULL (no data member). */
static void emit_text(hg_room_t *r, const char *type, const char *from, const char *data,
                      size_t data_len)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_printf(&b, "{\"seq\":%" PRIu64 ",\"type\":", ++r->seq);
    hg_jsonw_str(&b, type);
    hg_buf_puts(&b, ",\"from\":");
    hg_jsonw_str(&b, from);
    if (data) {
        hg_buf_puts(&b, ",\"data\":");
        hg_buf_append(&b, data, data_len);
    }
    hg_buf_puts(&b, "}");
    msg_t *m = hg_malloc(sizeof(*m) + b.len);
    m->seq = r->seq;
    m->binary = 0;
    m->len = b.len;
    memcpy(m->data, b.data, b.len);
    hg_buf_free(&b);
    ring_push(r, m);
    hg_list_t *q, *t;
    hg_list_foreach_safe (q, t, &r->seats) {
        deliver(hg_container_of(q, seat_t, node), 0, m->data, m->len);
    }
}

static void emit_binary(hg_room_t *r, const char *type, size_t tlen, const char *from,
                        const char *payload, size_t plen)
{
    size_t flen = strlen(from), len = 8 + 1 + flen + 1 + tlen + plen;
    msg_t *m = hg_malloc(sizeof(*m) + len);
    m->seq = ++r->seq;
    m->binary = 1;
    m->len = len;
    unsigned char *p = (unsigned char *)m->data;
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(m->seq >> (56 - 8 * i));
    p[8] = (unsigned char)flen;
    memcpy(p + 9, from, flen);
    p[9 + flen] = (unsigned char)tlen;
    memcpy(p + 10 + flen, type, tlen);
    memcpy(p + 10 + flen + tlen, payload, plen);
    ring_push(r, m);
    hg_list_t *q, *t;
    hg_list_foreach_safe (q, t, &r->seats) {
        deliver(hg_container_of(q, seat_t, node), 1, m->data, m->len);
    }
}

static void send_error(conn_t *c, const char *code, const char *message, const char *ref)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"type\":\"error\",\"data\":{\"code\":");
    hg_jsonw_str(&b, code);
    hg_buf_puts(&b, ",\"message\":");
    hg_jsonw_str(&b, message);
    if (ref) {
        hg_buf_puts(&b, ",\"ref\":");
        hg_jsonw_str(&b, ref);
    }
    hg_buf_puts(&b, "}}");
    if (c->seat)
        deliver(c->seat, 0, b.data, b.len);
    hg_buf_free(&b);
}

/* ---- the script's host: what a room's Lua handlers may do (script.h) ---- */

static void remove_seat(hg_room_t *r, seat_t *s, const char *reason);
static void close_room_now(hg_room_t *r);

static seat_t *seat_of(hg_room_t *r, const char *player)
{
    hg_list_t *q;
    hg_list_foreach (q, &r->seats) {
        seat_t *s = hg_container_of(q, seat_t, node);
        if (strcmp(s->player, player) == 0)
            return s;
    }
    return NULL;
}

static void h_broadcast(void *ud, const char *type, const char *data)
{
    hg_room_t *r = ud;
    if (!r->disposing)
        emit_text(r, type, r->cur_from ? r->cur_from : "", data, data ? strlen(data) : 0);
}

/* To one player: {"type", "from", "data", "private": true}, no seq (not a room message). */
static int h_send(void *ud, const char *player, const char *type, const char *data)
{
    hg_room_t *r = ud;
    seat_t *s = r->disposing ? NULL : seat_of(r, player);
    if (s == NULL || s->conn == NULL)
        return HG_ENOTFOUND;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"type\":");
    hg_jsonw_str(&b, type);
    hg_buf_puts(&b, ",\"from\":");
    hg_jsonw_str(&b, r->cur_from ? r->cur_from : "");
    if (data) {
        hg_buf_puts(&b, ",\"data\":");
        hg_buf_puts(&b, data);
    }
    hg_buf_puts(&b, ",\"private\":true}");
    deliver(s, 0, b.data, b.len);
    hg_buf_free(&b);
    return 0;
}

static int h_kick(void *ud, const char *player, const char *reason)
{
    hg_room_t *r = ud;
    seat_t *s = r->disposing ? NULL : seat_of(r, player);
    if (s == NULL)
        return HG_ENOTFOUND;
    s->kicked = 1; /* removed (leave, on_leave) once the running call returns */
    cut_off(s, HG_ROOM_CLOSE_KICKED, reason && reason[0] ? reason : "kicked");
    return 0;
}

static void h_close(void *ud)
{
    ((hg_room_t *)ud)->close_requested = 1;
}

static void h_after(void *ud, uint64_t id, uint64_t ms)
{
    hg_room_t *r = ud;
    if (r->ntimers < HG_SCRIPT_TIMERS_MAX) { /* script.c keeps the count under the cap */
        r->timers[r->ntimers].id = id;
        r->timers[r->ntimers].due_ms = hg_clock_now_ms(r->rs->clock) + (int64_t)ms;
        r->ntimers++;
    }
}

static int64_t h_now(void *ud)
{
    return hg_clock_now_ms(((hg_room_t *)ud)->rs->clock);
}

static const char *const *h_players(void *ud, size_t *n)
{
    hg_room_t *r = ud;
    if (r->player_cap < r->nseats + 1) {
        r->player_cap = r->nseats + 16;
        r->player_ptrs = hg_realloc(r->player_ptrs, r->player_cap * sizeof(*r->player_ptrs));
    }
    size_t k = 0;
    hg_list_t *q;
    hg_list_foreach (q, &r->seats) {
        r->player_ptrs[k++] = hg_container_of(q, seat_t, node)->player;
    }
    *n = k;
    return r->player_ptrs;
}

static void h_service(void *ud, const char *op, const char *args, uint64_t call_id)
{
    hg_room_t *r = ud;
    if (r->rs->service)
        r->rs->service(r->rs->service_ud, r->id, op, args, call_id);
}

static const hg_script_host_t host = {
    .broadcast = h_broadcast,
    .send = h_send,
    .kick = h_kick,
    .close = h_close,
    .after = h_after,
    .now_ms = h_now,
    .players = h_players,
    .service = h_service,
};

static int deliver_reply(hg_room_t *r, uint64_t id, const char *result, const char *code,
                         const char *message);

/* After every call into the script: the seats it kicked leave, a close it asked for happens (r
 * is freed then: returns 1), and service answers that came during the call are delivered. */
static int after_call(hg_room_t *r)
{
    r->in_script = 0;
    r->cur_from = NULL;
    hg_list_t *q, *t;
    hg_list_foreach_safe (q, t, &r->seats) {
        seat_t *s = hg_container_of(q, seat_t, node);
        if (s->kicked)
            remove_seat(r, s, "kicked");
    }
    if (r->close_requested) {
        close_room_now(r);
        return 1;
    }
    if (!hg_list_empty(&r->replies) && r->sr != NULL) {
        reply_t *p = hg_container_of(r->replies.next, reply_t, node);
        hg_list_remove(&p->node);
        hg_list_init(&p->node);
        uint64_t id = p->id;
        char *res = p->result, *code = p->code, *message = p->message;
        hg_free(p);
        int freed = deliver_reply(r, id, res, code, message); /* the next one in its after_call */
        hg_free(res);
        hg_free(code);
        hg_free(message);
        return freed;
    }
    return 0;
}

static void timer_arm(hg_rooms_t *rs)
{
    if (!rs->timer_on && !hg_list_empty(&rs->scripted)) {
        uv_timer_start(&rs->timer, on_script_timer, SCRIPT_TIMER_MS, SCRIPT_TIMER_MS);
        rs->timer_on = 1;
    }
}

/* Run script s in r (on_create with options). */
static int room_start_script(hg_room_t *r, hg_script_t *s, uint32_t version, const char *name,
                             const char *options, hg_error_t *err)
{
    hg_script_limits_t lim = {0};
    hg_script_room_t *sr;
    r->in_script = 1;
    r->cur_from = "";
    int rc = hg_script_room_new(s, r->id, &lim, &host, r, options, &sr, err);
    r->in_script = 0;
    r->cur_from = NULL;
    if (rc < 0)
        return rc;
    r->sr = sr;
    snprintf(r->script_name, sizeof(r->script_name), "%s", name);
    r->script_version = version;
    hg_free(r->options);
    r->options = options ? hg_strdup(options) : NULL;
    int64_t now = hg_clock_now_ms(r->rs->clock);
    r->last_tick_ms = now;
    r->next_tick_ms = hg_script_tick_ms(s) ? now + hg_script_tick_ms(s) : 0;
    hg_list_insert_tail(&r->rs->scripted, &r->scripted_node);
    timer_arm(r->rs);
    return 0;
}

/* Ticks and timers of every scripted room that are due. */
static void on_script_timer(uv_timer_t *t)
{
    hg_rooms_t *rs = t->data;
    if (hg_list_empty(&rs->scripted)) {
        uv_timer_stop(&rs->timer);
        rs->timer_on = 0;
        return;
    }
    int64_t now = hg_clock_now_ms(rs->clock);
    hg_list_t *q, *nx;
    hg_list_foreach_safe (q, nx, &rs->scripted) {
        hg_room_t *r = hg_container_of(q, hg_room_t, scripted_node);
        hg_error_t err;
        int freed = 0;
        for (size_t i = 0; i < r->ntimers && !freed;) {
            if (r->timers[i].due_ms > now) {
                i++;
                continue;
            }
            uint64_t id = r->timers[i].id;
            r->timers[i] = r->timers[--r->ntimers];
            r->in_script = 1;
            r->cur_from = "";
            if (hg_script_room_timer(r->sr, id, &err) < 0)
                HG_LOG(HG_LOG_WARN, "rooms", "room=%s timer: %s", r->id, hg_error_message(&err));
            freed = after_call(r);
            i = 0; /* the timer may have added or fired others: scan again */
        }
        if (freed || r->next_tick_ms == 0 || now < r->next_tick_ms)
            continue;
        uint64_t dt = (uint64_t)(now - r->last_tick_ms);
        r->last_tick_ms = now;
        r->next_tick_ms = now + hg_script_tick_ms(hg_script_room_script(r->sr));
        r->in_script = 1;
        r->cur_from = "";
        if (hg_script_room_tick(r->sr, dt, &err) < 0)
            HG_LOG(HG_LOG_WARN, "rooms", "room=%s on_tick: %s", r->id, hg_error_message(&err));
        after_call(r);
    }
}

void hg_rooms_set_service(hg_rooms_t *rs, hg_rooms_service_fn fn, void *ud)
{
    rs->service = fn;
    rs->service_ud = ud;
}

/* The answer to call id into r's script; 1 when r was freed (it closed). */
static int deliver_reply(hg_room_t *r, uint64_t id, const char *result, const char *code,
                         const char *message)
{
    hg_error_t err;
    r->in_script = 1;
    r->cur_from = "";
    if (hg_script_room_reply(r->sr, id, result, code, message, &err) < 0)
        HG_LOG(HG_LOG_WARN, "rooms", "room=%s reply %" PRIu64 ": %s", r->id, id,
               hg_error_message(&err));
    return after_call(r);
}

void hg_rooms_service_reply(hg_rooms_t *rs, const char *room_id, uint64_t call_id,
                            const char *result, const char *code, const char *message)
{
    hg_room_t *r = hg_room_find(rs, room_id);
    if (r == NULL || r->sr == NULL || rs->stopping)
        return;         /* the room closed meanwhile: the call's effect stands, no one to tell */
    if (r->in_script) { /* answered at once, inside the call that asked: after it */
        reply_t *p = hg_calloc(1, sizeof(*p));
        p->id = call_id;
        p->result = result ? hg_strdup(result) : NULL;
        p->code = code ? hg_strdup(code) : NULL;
        p->message = message ? hg_strdup(message) : NULL;
        hg_list_insert_tail(&r->replies, &p->node);
        return;
    }
    deliver_reply(r, call_id, result, code, message);
}

void hg_rooms_migrate(hg_rooms_t *rs, const char *name, hg_script_t *s, uint32_t v,
                      hg_store_txn_t *txn, size_t *ok, size_t *failed)
{
    *ok = *failed = 0;
    hg_list_t *q, *nx;
    hg_list_foreach_safe (q, nx, &rs->scripted) {
        hg_room_t *r = hg_container_of(q, hg_room_t, scripted_node);
        if (strcmp(r->script_name, name) != 0 || r->script_version == v)
            continue;
        hg_error_t err;
        r->in_script = 1;
        r->cur_from = "";
        size_t keep = r->ntimers;
        r->ntimers = 0; /* the old state's timers do not carry over (script.h) */
        if (hg_script_room_migrate(r->sr, s, &err) < 0) {
            r->ntimers = keep; /* still the old state's */
            HG_LOG(HG_LOG_WARN, "rooms", "room=%s migrate to %s v%u: %s", r->id, name, v,
                   hg_error_message(&err));
            (*failed)++;
        } else {
            r->script_version = v;
            uint32_t tick = hg_script_tick_ms(s);
            r->next_tick_ms = tick ? hg_clock_now_ms(rs->clock) + tick : 0;
            save_room(r, txn);
            (*ok)++;
        }
        after_call(r);
    }
}

/* ---- seats ---- */

int hg_room_can_join(hg_room_t *r, const char *player, hg_error_t *err)
{
    if (seat_of(r, player))
        return 0;
    if (r->nseats >= r->max_clients)
        return hg_error_set(err, HG_ELIMIT, "room %s is full (%zu clients)", r->id, r->max_clients);
    if (r->sr) { /* on_join may refuse (the reason goes back to the client, 403) */
        hg_room_t *rw = (hg_room_t *)r;
        rw->in_script = 1;
        rw->cur_from = "";
        int rc = hg_script_room_join(rw->sr, player, err);
        int closed = after_call(rw);
        if (rc == 1 && !closed)
            return 0;
        char why[256];
        snprintf(why, sizeof(why), "%s", rc <= 0 ? hg_error_message(err) : "");
        if (closed)
            return hg_error_set(err, HG_ENOTFOUND, "the room closed");
        return hg_error_set(err, HG_EUNAUTHORIZED, "%s%s", rc < 0 ? "on_join failed: " : "",
                            why[0] ? why : "the room refused");
    }
    return 0;
}

void hg_rooms_ws_limits(const hg_rooms_t *rs, hg_ws_limits_t *out)
{
    memset(out, 0, sizeof(*out));
    out->max_message = rs->cfg.max_message;
    out->max_queue_bytes = rs->cfg.send_queue_bytes;
    out->max_queue_msgs = 1u << 20;
    out->ping_interval_ms = 20000;
    out->pong_timeout_ms = 20000;
}

static void remove_seat(hg_room_t *r, seat_t *s, const char *reason)
{
    hg_list_remove(&s->node);
    r->nseats--;
    if (s->conn) {
        s->conn->seat = NULL;
        hg_ws_close(s->conn->ws, 1000, reason);
    }
    char player[HG_ROOM_PLAYER_MAX + 1];
    snprintf(player, sizeof(player), "%s", s->player);
    hg_free(s);
    if (r->sr && !r->rs->stopping && !r->disposing)
        hg_script_room_leave(r->sr, player); /* inside a call (kick) it waits: see after_call */
    if (r->nseats == 0)
        r->empty_since = hg_clock_now_ms(r->rs->clock);
    if (!r->rs->stopping) {
        hg_buf_t d;
        hg_buf_init(&d);
        hg_buf_puts(&d, "{\"reason\":");
        hg_jsonw_str(&d, reason);
        hg_buf_puts(&d, "}");
        emit_text(r, "leave", player, d.data, d.len);
        hg_buf_free(&d);
    }
}

static int valid_type(const char *t, size_t n)
{
    return hg_str_name(t, n, HG_ROOM_TYPE_MAX, ".:-");
}

/* The rate limit: 1 when the seat may send one more message now. */
static int take_token(hg_rooms_t *rs, seat_t *s)
{
    int64_t now = hg_clock_now_ms(rs->clock);
    double rate = rs->cfg.rate_per_s, burst = 2.0 * rate;
    s->tokens += (double)(now - s->tok_ms) * rate / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->tok_ms = now;
    if (s->tokens < 1.0)
        return 0;
    s->tokens -= 1.0;
    return 1;
}

static int parse_text(const char *data, size_t len, hg_room_envelope_t *out);

int hg_room_parse(int binary, const char *data, size_t len, hg_room_envelope_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!binary) {
        int rc = parse_text(data, len, out);
        if (rc < 0) {
            out->data = NULL;
            out->data_len = 0;
        }
        return rc;
    }
    size_t tlen = len ? (unsigned char)data[0] : 0;
    if (len < 1 + tlen || !valid_type(data + 1, tlen) || hg_script_room_type(data + 1, tlen))
        return HG_EINVAL;
    memcpy(out->type, data + 1, tlen);
    out->type[tlen] = '\0';
    out->payload = data + 1 + tlen;
    out->payload_len = len - 1 - tlen;
    return 0;
}

static int parse_text(const char *data, size_t len, hg_room_envelope_t *out)
{
    /* one pass, no tree: the members checked, "data" passed on as the bytes that came */
    const char *p = hg_json_ws(data, data + len), *end = data + len;
    int has_type = 0;
    if (p >= end || *p != '{')
        return HG_EINVAL;
    p = hg_json_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            char key[8];
            size_t klen;
            if (hg_json_string(&p, end, key, sizeof(key), &klen) < 0)
                return HG_EINVAL;
            p = hg_json_ws(p, end);
            if (p >= end || *p != ':')
                return HG_EINVAL;
            p = hg_json_ws(p + 1, end);
            if (klen == 4 && memcmp(key, "type", 4) == 0) {
                char t[HG_ROOM_TYPE_MAX + 2];
                size_t tlen;
                if (has_type || p >= end || *p != '"' ||
                    hg_json_string(&p, end, t, sizeof(t), &tlen) < 0)
                    return HG_EINVAL;
                has_type = 1;
                if (tlen <= HG_ROOM_TYPE_MAX && strlen(t) == tlen) /* named in the error */
                    memcpy(out->type, t, tlen + 1);
                else
                    out->type[0] = '\0';
            } else if (klen == 4 && memcmp(key, "data", 4) == 0) {
                if (out->data != NULL)
                    return HG_EINVAL; /* twice */
                const char *v = p;
                if (hg_json_skip(&p, end) < 0)
                    return HG_EINVAL;
                out->data = v;
                out->data_len = (size_t)(p - v);
            } else if (hg_json_skip(&p, end) < 0) {
                return HG_EINVAL;
            }
            p = hg_json_ws(p, end);
            if (p < end && *p == ',') {
                p = hg_json_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return HG_EINVAL;
        }
    }
    if (hg_json_ws(p, end) != end || !has_type || out->type[0] == '\0')
        return HG_EINVAL;
    size_t tl = strlen(out->type);
    return valid_type(out->type, tl) && !hg_script_room_type(out->type, tl) ? 0 : HG_EINVAL;
}

static void on_message(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len)
{
    (void)ws;
    conn_t *c = ud;
    seat_t *s = c->seat;
    if (s == NULL)
        return;
    hg_room_t *r = s->room;
    if (!take_token(c->rs, s)) {
        cut_off(s, HG_ROOM_CLOSE_RATE, "too many messages a second");
        return;
    }
    hg_room_envelope_t env;
    if (hg_room_parse(binary, data, len, &env) < 0) {
        send_error(c, "bad_message",
                   binary ? "a binary message is [type length: 1 byte][type][payload], the type "
                            "1..64 of [A-Za-z0-9_.:-] and not a room type"
                          : "send {\"type\": \"<1..64 of [A-Za-z0-9_.:-], not join, leave, error, "
                            "welcome or reset>\", \"data\": <any JSON>}",
                   env.type[0] ? env.type : NULL);
        return;
    }
    if (binary) {
        emit_binary(r, env.type, strlen(env.type), s->player, env.payload, env.payload_len);
        return;
    }
    const char *t = env.type;
    int handled = 0;
    if (r->sr) {
        hg_error_t err;
        r->in_script = 1;
        r->cur_from = s->player;
        handled = hg_script_room_message(r->sr, s->player, t, env.data, env.data_len, &err);
        if (handled < 0)
            send_error(c, err.code == HG_ELIMIT ? "handler_limit" : "handler_failed",
                       hg_error_message(&err), t);
        else if (handled == 0 && !hg_script_relays_unknown(hg_script_room_script(r->sr)))
            send_error(c, "no_handler", "this room has no handler for that type", t);
        else if (handled == 0)
            emit_text(r, t, s->player, env.data, env.data_len);
        after_call(r); /* r may be gone after this */
        return;
    }
    emit_text(r, t, s->player, env.data, env.data_len);
}

static void on_close(hg_ws_t *ws, void *ud, int code)
{
    (void)ws;
    conn_t *c = ud;
    seat_t *s = c->seat;
    if (s) {
        hg_room_t *r = s->room;
        s->conn = NULL;
        s->gone_ms = hg_clock_now_ms(c->rs->clock);
        if (code == 1000 && !c->rs->stopping) {
            remove_seat(r, s, "left"); /* a client that closes normally leaves at once */
            if (r->close_requested)    /* its on_leave closed the room */
                close_room_now(r);
        }
    }
    hg_free(c);
}

void *hg_room_seat_prepare(hg_rooms_t *rs, hg_room_t *r, const char *player, int has_after,
                           uint64_t after, uint32_t epoch, hg_ws_cb_t *cb)
{
    conn_t *c = hg_calloc(1, sizeof(*c));
    c->rs = rs;
    c->room = r;
    c->has_after = has_after;
    c->after = after;
    c->epoch = epoch;
    snprintf(c->player, sizeof(c->player), "%s", player);
    memset(cb, 0, sizeof(*cb));
    cb->on_message = on_message;
    cb->on_close = on_close;
    return c;
}

void hg_room_seat_abandon(void *seat_ud)
{
    conn_t *c = seat_ud;
    hg_room_t *r = c->room;
    /* on_join let a player in who never came (the upgrade failed): the script hears it leave */
    if (r->sr && seat_of(r, c->player) == NULL && !r->rs->stopping) {
        r->in_script = 1;
        r->cur_from = "";
        hg_script_room_leave(r->sr, c->player);
        after_call(r);
    }
    hg_free(c);
}

static void welcome(conn_t *c, hg_room_t *r)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"type\":\"welcome\",\"room\":");
    hg_jsonw_str(&b, r->id);
    hg_buf_puts(&b, ",\"you\":");
    hg_jsonw_str(&b, c->player);
    hg_buf_printf(&b, ",\"seq\":%" PRIu64 ",\"epoch\":%" PRIu32 ",\"players\":[", r->seq, r->epoch);
    hg_list_t *q;
    int first = 1;
    hg_list_foreach (q, &r->seats) {
        if (!first)
            hg_buf_puts(&b, ",");
        first = 0;
        hg_jsonw_str(&b, hg_container_of(q, seat_t, node)->player);
    }
    hg_buf_puts(&b, "]}");
    deliver(c->seat, 0, b.data, b.len);
    hg_buf_free(&b);
}

/* What a reconnecting client missed: every kept message after c->after, or a reset when they
 * are not all kept (or another epoch's). */
static void replay(conn_t *c, hg_room_t *r)
{
    uint64_t oldest = r->ring_count ? r->ring[r->ring_head]->seq : r->seq + 1;
    if (c->epoch != r->epoch || c->after > r->seq || c->after + 1 < oldest) {
        static const char reset[] =
            "{\"type\":\"reset\",\"data\":{\"reason\":\"the messages after your seq are not "
            "kept (another epoch, or too far behind)\"}}";
        deliver(c->seat, 0, reset, sizeof(reset) - 1);
        return;
    }
    for (size_t i = 0; i < r->ring_count && c->seat; i++) {
        msg_t *m = r->ring[(r->ring_head + i) % r->ring_cap];
        if (m->seq > c->after)
            deliver(c->seat, m->binary, m->data, m->len);
    }
}

void hg_room_attach(void *seat_ud, hg_ws_t *ws)
{
    conn_t *c = seat_ud;
    hg_room_t *r = c->room;
    c->ws = ws;
    seat_t *s = seat_of(r, c->player);
    int joined = 0;
    if (s) {
        if (s->conn) /* the same player again: the newer socket wins */
            cut_off(s, HG_ROOM_CLOSE_REPLACED, "connected again elsewhere");
    } else {
        s = hg_calloc(1, sizeof(*s));
        s->room = r;
        snprintf(s->player, sizeof(s->player), "%s", c->player);
        hg_list_insert_tail(&r->seats, &s->node);
        r->nseats++;
        r->empty_since = 0;
        joined = 1;
    }
    s->conn = c;
    c->seat = s;
    s->tokens = 2.0 * c->rs->cfg.rate_per_s;
    s->tok_ms = hg_clock_now_ms(c->rs->clock);
    welcome(c, r);
    if (c->has_after && c->seat)
        replay(c, r);
    if (joined)
        emit_text(r, "join", c->player, NULL, 0);
}

/* ---- upkeep ---- */

void hg_rooms_tick(hg_rooms_t *rs)
{
    int64_t now = hg_clock_now_ms(rs->clock);
    hg_store_txn_t *txn = NULL;
    size_t it = 0;
    const char *id;
    void *v;
    while (hg_map_next(&rs->rooms, &it, &id, &v)) {
        hg_room_t *r = v;
        hg_list_t *q, *t;
        hg_list_foreach_safe (q, t, &r->seats) {
            seat_t *s = hg_container_of(q, seat_t, node);
            if (s->conn == NULL && now - s->gone_ms >= rs->cfg.reconnect_grace_ms)
                remove_seat(r, s, "disconnected");
        }
        if (r->close_requested ||
            (r->nseats == 0 && r->empty_since && now - r->empty_since >= rs->cfg.empty_close_ms)) {
            if (txn == NULL)
                txn = hg_store_txn_new(rs->store);
            hg_room_close(rs, r, txn); /* deleting the current key is allowed while iterating */
        }
    }
    if (txn)
        hg_store_commit(txn, NULL, NULL);
}

static int load_room(void *ud, const char *key, json_t *v)
{
    hg_rooms_t *rs = ud;
    if (strlen(key) != HG_ROOM_ID_LEN || hg_map_get(&rs->rooms, key))
        return 0;
    hg_room_t *r = room_new(rs, key);
    snprintf(r->label, sizeof(r->label), "%s",
             json_string_value(json_object_get(v, "label"))
                 ? json_string_value(json_object_get(v, "label"))
                 : "");
    json_t *md = json_object_get(v, "metadata");
    if (json_is_object(md)) {
        char *t = json_dumps(md, JSON_COMPACT);
        r->metadata = hg_strdup(t);
        free(t);
    }
    r->max_clients = (size_t)json_integer_value(json_object_get(v, "max_clients"));
    if (r->max_clients < 1 || r->max_clients > HG_ROOM_CLIENTS_MAX)
        r->max_clients = HG_ROOM_CLIENTS_DEFAULT;
    r->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    const char *gsid = json_string_value(json_object_get(v, "game_session_id"));
    r->game_session = gsid ? hg_strdup(gsid) : NULL;
    const char *sn = json_string_value(json_object_get(v, "script"));
    if (sn) { /* the room runs its version again, from on_create (its state is not stored) */
        hg_script_t *s;
        uint32_t ver;
        hg_error_t err;
        uint32_t want = (uint32_t)json_integer_value(json_object_get(v, "script_version"));
        if (hg_scripts_get(rs->scripts, sn, want, &s, &ver, &err) < 0 ||
            room_start_script(r, s, ver, sn, json_string_value(json_object_get(v, "options")),
                              &err) < 0)
            HG_LOG(HG_LOG_WARN, "rooms",
                   "room=%s script=%s v%u does not start: %s; the room "
                   "relays only",
                   r->id, sn, want, hg_error_message(&err));
    }
    return 0;
}

int hg_rooms_load(hg_rooms_t *rs, hg_error_t *err)
{
    int rc = hg_store_load(rs->store, ROOMS_COLL, load_room, rs);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load rooms: %s", hg_strerror(rc));
    HG_LOG(HG_LOG_INFO, "rooms", "loaded rooms=%zu", hg_map_count(&rs->rooms));
    return 0;
}

/* ---- partitions (docs/cluster.md "Next", step 3) ---- */

int hg_rooms_load_partition(hg_rooms_t *rs, int part, hg_error_t *err)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_RM0))
        return hg_error_set(err, HG_EINVAL, "partition %d holds no rooms", part);
    /* hg_rooms_load reads the collection once rather than once per partition */
    int rc = hg_partload_coll(rs->store, ROOMS_COLL, part, load_room, rs);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load rooms (partition %d): %s", part, hg_strerror(rc));
    return 0;
}

int hg_rooms_drop_partition(hg_rooms_t *rs, int part)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_RM0))
        return HG_EINVAL;
    size_t it = 0;
    void *v;
    while (hg_map_next(&rs->rooms, &it, NULL, &v)) {
        hg_room_t *r = v;
        /* never from inside one of its own script's calls (release builds: the room stays) */
        if (hg_partition_of(ROOMS_COLL, r->id) != part || HG_NEVER(r->in_script))
            continue;
        /* as at a stop: clients come back (to the partition's next owner); its script's timers
         * go with it (out of rs->scripted) */
        hg_map_del(&rs->rooms, r->id); /* the current key: allowed while iterating */
        room_free(r, 1012, "service restart");
    }
    return 0;
}

const char *hg_room_game_session(const hg_room_t *r)
{
    return r->game_session;
}
