/* hangar — /v1/rooms (docs/rooms.md; the domain is rooms/rooms.h).
 *
 *     POST   /v1/rooms                      {"label"?, "metadata"?, "max_clients"?, "script"?,
 *                                           "options"?, "game_session_id"?} → 201 a room
 *                                           (rooms:Create, or a player when the script's
 *                                           on_create_request allows it)
 *     GET    /v1/rooms[?label=&has_room=1&limit=&after=]   rooms in id order (rooms:Read or a
 *                                           player); has_room=1: only rooms with a free seat
 *     GET    /v1/rooms/{id}                 one room (rooms:Read or a player)
 *     DELETE /v1/rooms/{id}                 close it: clients get 4004 (rooms:Delete)
 *     GET    /v1/rooms/{id} + WebSocket upgrade, as a player (Authorization: Bearer, or
 *            ?token= for browsers), [?after=<seq>&epoch=<epoch>]: take a seat and talk
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/native_int.h"
#include "core/alloc.h"
#include "fleet/session.h"
#include "rooms/rooms.h"
#include "rooms/script.h"
#include "rooms/scripts.h"
#include "ws/ws.h"

static int may_read(hg_native_call_t *c)
{
    return c->player ? 0 : hg_native_require(c, "rooms:Read");
}

/* A player may create a room only with a script whose on_create_request says yes. */
static int player_may_create(hg_native_call_t *c, json_t *script, json_t *opts)
{
    if (!json_is_string(script))
        return hg_error_set(&c->err, HG_EUNAUTHORIZED,
                            "a player creates rooms only with a script whose on_create_request "
                            "allows it (give \"script\")");
    hg_script_t *s;
    uint32_t v;
    int rc = hg_scripts_get(c->api->scripts, json_string_value(script), 0, &s, &v, &c->err);
    if (rc < 0)
        return rc;
    char *otext =
        opts && !json_is_null(opts) ? json_dumps(opts, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    rc = hg_script_create_request(s, c->player->id, otext, &c->err);
    free(otext);
    if (rc == 0)
        return HG_EUNAUTHORIZED; /* err: the script's reason */
    return rc < 0 ? rc : 0;
}

static void create(hg_native_call_t *c, hg_store_txn_t *txn)
{
    if ((!c->player && hg_native_require(c, "rooms:Create") < 0) || hg_native_parse_body(c) < 0)
        return;
    if (c->player && player_may_create(c, json_object_get(c->in, "script"),
                                       json_object_get(c->in, "options")) < 0)
        return;
    json_t *label = json_object_get(c->in, "label"), *md = json_object_get(c->in, "metadata");
    json_t *mc = json_object_get(c->in, "max_clients"), *script = json_object_get(c->in, "script");
    json_t *opts = json_object_get(c->in, "options"),
           *gs = json_object_get(c->in, "game_session_id");
    if (gs && !json_is_null(gs) &&
        (!json_is_string(gs) || hg_fl_gs_find(c->api->fleet, json_string_value(gs)) == NULL)) {
        hg_error_set(&c->err, HG_ENOTFOUND, "game_session_id names no game session");
        return;
    }
    if ((script && !json_is_null(script) && !json_is_string(script)) ||
        (label && !json_is_string(label)) || (md && !json_is_null(md) && !json_is_object(md)) ||
        (mc && (!json_is_integer(mc) || json_integer_value(mc) < 1))) {
        hg_error_set(&c->err, HG_EINVAL,
                     "label is a string, metadata an object, max_clients a positive integer");
        return;
    }
    char *otext =
        opts && !json_is_null(opts) ? json_dumps(opts, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    hg_room_spec_t spec = {
        .script = json_string_value(script),
        .game_session = json_string_value(gs),
        .options = otext,
        .label = json_string_value(label),
        .metadata = json_is_object(md) ? md : NULL,
        .max_clients = mc ? (size_t)json_integer_value(mc) : 0,
    };
    hg_room_t *r;
    if (hg_room_create(c->api->rooms, &spec, txn, &r, &c->err) == 0) {
        c->out = hg_room_json(r);
        c->status = 201;
    }
    free(otext);
}

static void list(hg_native_call_t *c)
{
    size_t limit;
    char label[HG_ROOM_LABEL_MAX * 3 + 1], after[HG_ROOM_ID_LEN + 1], has[8];
    int hl, ha, hh;
    if (may_read(c) < 0 || hg_native_limit(c, 100, &limit) < 0 ||
        (hl = hg_native_query(c, "label", label, sizeof(label))) < 0 ||
        (ha = hg_native_query(c, "after", after, sizeof(after))) < 0 ||
        (hh = hg_native_query(c, "has_room", has, sizeof(has))) < 0)
        return;
    c->out = hg_rooms_list(c->api->rooms, hl ? label : NULL, hh && strcmp(has, "1") == 0,
                           ha ? after : NULL, limit);
}

/* The WebSocket: a player takes a seat in r. Returns 1 when the connection was taken over. */
/* Who takes the seat: the bearer's player, or the PlayerId of a player session of the room's
 * game session (?player_session_id=, RESERVED or ACTIVE). */
static const char *joiner(hg_native_call_t *c, hg_room_t *r)
{
    if (c->player)
        return c->player->id;
    char psid[64];
    int has = hg_native_query(c, "player_session_id", psid, sizeof(psid));
    if (has < 0)
        return NULL;
    if (has == 0 || c->key) {
        hg_error_set(&c->err, c->key ? HG_EUNAUTHORIZED : HG_ENOAUTH,
                     "a room is joined by a player (a bearer token in Authorization or ?token=), "
                     "or with a player session id of the room's game session");
        return NULL;
    }
    if (!hg_native_bearer_transport_ok(c)) {
        hg_error_set(&c->err, HG_ENOAUTH,
                     "player session ids are accepted over TLS only (or plain HTTP from this "
                     "machine, or with the allow-plain-bearer option)");
        return NULL;
    }
    hg_fl_psession_t *ps = hg_fl_ps_find(c->api->fleet, psid);
    const char *gs = hg_room_game_session(r);
    if (ps == NULL || gs == NULL || ps->gs == NULL || strcmp(ps->gs->arn, gs) != 0 ||
        (ps->status != HG_PS_RESERVED && ps->status != HG_PS_ACTIVE)) {
        hg_error_set(&c->err, HG_EUNAUTHORIZED,
                     "player_session_id is not a reserved or active player session of this "
                     "room's game session");
        return NULL;
    }
    if (ps->player_id == NULL || strlen(ps->player_id) > HG_ROOM_PLAYER_MAX) {
        hg_error_set(&c->err, HG_EINVAL, "the player session's PlayerId is over %d bytes",
                     HG_ROOM_PLAYER_MAX);
        return NULL;
    }
    return ps->player_id;
}

static int join(hg_native_call_t *c, hg_room_t *r)
{
    const char *player = joiner(c, r);
    if (player == NULL)
        return 0;
    char after[24], epoch[16];
    int ha, he;
    if ((ha = hg_native_query(c, "after", after, sizeof(after))) < 0 ||
        (he = hg_native_query(c, "epoch", epoch, sizeof(epoch))) < 0)
        return 0;
    uint64_t a = 0;
    unsigned long e = 0;
    if (ha) {
        char *end;
        a = strtoull(after, &end, 10);
        if (*end || after[0] == '\0' || after[0] == '-') {
            hg_error_set(&c->err, HG_EINVAL, "after must be a seq this room gave");
            return 0;
        }
    }
    if (he) {
        char *end;
        e = strtoul(epoch, &end, 10);
        if (*end || epoch[0] == '\0' || epoch[0] == '-' || e > UINT32_MAX) {
            hg_error_set(&c->err, HG_EINVAL, "epoch must be the epoch this room's welcome gave");
            return 0;
        }
    }
    /* the handshake checked before on_join runs: after it, only a vanished client can fail the
     * upgrade (and then the script hears on_leave) */
    if (hg_ws_check(c->req, &c->err) < 0 || hg_room_can_join(r, player, &c->err) < 0)
        return 0;
    hg_ws_limits_t lim;
    hg_rooms_ws_limits(c->api->rooms, &lim);
    hg_ws_cb_t cb;
    void *ud = hg_room_seat_prepare(c->api->rooms, r, player, ha, a, (uint32_t)e, &cb);
    hg_ws_t *ws;
    if (hg_ws_accept(c->req, &lim, NULL, &cb, ud, &ws, &c->err) < 0) {
        hg_room_seat_abandon(ud);
        return 0;
    }
    hg_room_attach(ud, ws);
    return 1;
}

void hg_native_rooms(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    int m = c->req->method;
    if (n == 0) {
        if (m == HTTP_POST)
            create(c, txn);
        else if (m == HTTP_GET)
            list(c);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/rooms");
    } else if (n == 1 + HG_ROOM_ID_LEN && rest[0] == '/') {
        char id[HG_ROOM_ID_LEN + 1];
        memcpy(id, rest + 1, HG_ROOM_ID_LEN);
        id[HG_ROOM_ID_LEN] = '\0';
        hg_room_t *r = hg_room_find(c->api->rooms, id);
        if (r == NULL) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no room %s", id);
        } else if (m == HTTP_GET && hg_ws_is_upgrade(c->req)) {
            if (join(c, r)) {
                hg_store_txn_free(txn);
                hg_native_release(c);
                return;
            }
        } else if (m == HTTP_GET) {
            if (may_read(c) == 0)
                c->out = hg_room_json(r);
        } else if (m == HTTP_DELETE) {
            if (hg_native_require(c, "rooms:Delete") == 0) {
                c->out = json_pack("{s:s,s:b}", "room_id", id, "closed", 1);
                hg_room_close(c->api->rooms, r, txn);
            }
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or DELETE on a room");
        }
    } else {
        hg_error_set(&c->err, HG_ENOTFOUND, "no such room");
    }
    if (c->err.code) {
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}
