/* hangar — realtime rooms: an ordered, low-latency channel per game (seed 004).
 *
 * A room is a set of seats (players) and a message sequence. Every message the room emits — a
 * client's message relayed, what a script broadcasts, a join, a leave — gets the room's next
 * `seq` and goes to every connected seat at once, on the loop thread, so all clients see the same
 * messages in the same order with no gaps. The last HG_ROOM_BUFFER_MSGS messages are kept: a
 * client that reconnects within the reconnect grace with ?after=<seq> gets what it missed and
 * keeps its seat (no leave, no join). docs/rooms.md is the protocol.
 *
 * Wire (text frames, JSON):
 *   client → room   {"type": "<type>", "data": <any JSON>}
 *   room → clients  {"seq": n, "type": "<type>", "from": "<player id>", "data": <any>}
 *                   types join and leave are the room's own (from = who joined or left)
 *   room → one      {"type": "welcome", "room", "you", "seq": <last seq>, "epoch", "players"}
 *                   on connecting; {"type": "error", "data": {"code", "message", "ref"}} to the
 *                   sender of a message that was refused (no seq: not a room message)
 * Binary frames are relayed as they are, behind a header (docs/rooms.md): client → room
 *   [type length: 1 byte][type][payload]; room → clients [seq: 8 bytes, big-endian]
 *   [from length: 1 byte][from][type length: 1 byte][type][payload].
 *
 * Durability: a room's record (id, label, metadata, max_clients, script) is stored, so rooms
 * exist again after a restart (empty; clients reconnect). Messages are not stored: after a
 * restart a room starts a new `epoch` and numbers from 1 again; a client whose after= names
 * another epoch gets {"type": "reset"} and the room's state from the script, not a replay.
 *
 * Threading: loop thread only.
 */
#ifndef HG_ROOMS_ROOMS_H
#define HG_ROOMS_ROOMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/buf.h"
#include "core/err.h"
#include "rooms/scripts.h"
#include "rt/clock.h"
#include "store/store.h"
#include "ws/ws.h"

#define HG_ROOM_ID_LEN 36               /* a room id: UUID v4 text */
#define HG_ROOM_LABEL_MAX 64            /* label: 0..64 printable characters */
#define HG_ROOM_METADATA_MAX 4096       /* metadata: a JSON object, compact */
#define HG_ROOM_CLIENTS_DEFAULT 16      /* max_clients when not given */
#define HG_ROOM_CLIENTS_MAX 1000        /* max_clients at most */
#define HG_ROOM_BUFFER_MSGS 1024        /* messages kept for reconnects, per room */
#define HG_ROOM_BUFFER_BYTES (1u << 20) /* … and at most this many bytes of them */
#define HG_ROOM_PLAYER_MAX                                                                         \
    128                       /* a seat's player id (a GameLift PlayerId when joined with a player \
                                 session): 1..128 bytes */
#define HG_ROOM_TYPE_MAX 64   /* a message type: 1..64 of [A-Za-z0-9_.:-] */
#define HG_ROOM_PAGE_MAX 1000 /* rooms per list page */

/* WebSocket close codes of the room protocol (docs/rooms.md). */
#define HG_ROOM_CLOSE_RATE 4008     /* more messages a second than allowed */
#define HG_ROOM_CLOSE_SLOW 4009     /* its send queue overflowed: it could not keep up */
#define HG_ROOM_CLOSE_KICKED 4010   /* the script kicked it */
#define HG_ROOM_CLOSE_REPLACED 4011 /* the same player connected again */
#define HG_ROOM_CLOSE_CLOSED 4004   /* the room was closed (DELETE, the script, emptiness) */

typedef struct hg_rooms hg_rooms_t;
typedef struct hg_room hg_room_t;

typedef struct hg_rooms_config {
    size_t max_rooms;           /* rooms on this node */
    size_t max_message;         /* bytes of one message from a client (1009 beyond) */
    uint32_t rate_per_s;        /* messages a second per client (burst: twice) */
    size_t send_queue_bytes;    /* bytes queued to one client before it is cut off (4009) */
    int64_t reconnect_grace_ms; /* a dropped client's seat is kept this long */
    int64_t empty_close_ms;     /* a room with no one in it is closed after this long */
} hg_rooms_config_t;

hg_rooms_t *hg_rooms_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock,
                         hg_scripts_t *scripts, const hg_rooms_config_t *cfg);
/* Closes every client (1012 at server stop comes from the WebSocket layer before this). */
void hg_rooms_free(hg_rooms_t *rs);
int hg_rooms_load(hg_rooms_t *rs, hg_error_t *err);
/* Partitions (docs/cluster.md "Next", step 3): part is an index of store/partition.h, one of
 * rm00..rm15 (a room's partition is hg_partition_of("rooms", id)); another is HG_EINVAL.
 * Nothing calls them in the daemon yet: the assignment of partitions to nodes will (a later
 * step). load_partition: read that partition's rooms, as hg_rooms_load() does for all (which
 * reads the collection once rather than once per partition): each starts empty in a new epoch,
 * its script from on_create; rooms already in memory are kept. Synchronous (hg_store_load): an
 * asynchronous load on the store's reader lane is a later step. drop_partition: forget the
 * partition's rooms as a stop does: their clients are closed with 1012 (service restart: they
 * reconnect, to the next owner), their scripts and timers end without on_leave; nothing is
 * written to the store, other partitions are untouched. hg_room_t pointers of that partition are
 * invalid after the call; never call it from inside a room's script call. Threading: loop
 * thread only. */
int hg_rooms_load_partition(hg_rooms_t *rs, int part, hg_error_t *err);
int hg_rooms_drop_partition(hg_rooms_t *rs, int part);
/* Seats past their grace, rooms empty past empty_close_ms (deleted, in txns it commits). */
void hg_rooms_tick(hg_rooms_t *rs);

typedef struct hg_room_spec {
    const char *script;       /* NULL: none (every message relayed); else a script's name: its
                                 current version runs the room (on_create with options) */
    const char *options;      /* JSON text for on_create, or NULL */
    const char *game_session; /* NULL, or the ARN of the GameLift game session it belongs to
                                 (players may then join with its player session ids) */
    const char *label;        /* NULL: "" */
    json_t *metadata;         /* NULL or an object (borrowed) */
    size_t max_clients;       /* 0: HG_ROOM_CLIENTS_DEFAULT */
} hg_room_spec_t;

int hg_room_create(hg_rooms_t *rs, const hg_room_spec_t *spec, hg_store_txn_t *txn, hg_room_t **out,
                   hg_error_t *err);
hg_room_t *hg_room_find(hg_rooms_t *rs, const char *id);
/* Close: every client gets HG_ROOM_CLOSE_CLOSED, the record is deleted in txn. */
void hg_room_close(hg_rooms_t *rs, hg_room_t *r, hg_store_txn_t *txn);
json_t *hg_room_json(const hg_room_t *r);
/* The game session's ARN, or NULL. */
const char *hg_room_game_session(const hg_room_t *r);
/* Rooms with this label (NULL: any) and, when has_space, a free seat; after an id, id order. */
json_t *hg_rooms_list(hg_rooms_t *rs, const char *label, int has_space, const char *after,
                      size_t limit);

/* Switch every live room running script name to version v (compiled s) at a message
 * boundary: on_migrate carries each room's state; a room whose migration fails keeps its version.
 * Counts in *ok and *failed. */
void hg_rooms_migrate(hg_rooms_t *rs, const char *name, hg_script_t *s, uint32_t v,
                      hg_store_txn_t *txn, size_t *ok, size_t *failed);

/* Scripts' service calls (room.leaderboard_submit, room.purchase, …: script.h), made by the
 * layer that owns leaderboards and wallets: fn gets the room's id, the op, its args (JSON text)
 * and the call's id, and answers later — once durable, never from inside fn — with
 * hg_rooms_service_reply (result JSON text, or an error's /v1 code and message). An answer for
 * a room that has closed is dropped. */
typedef void (*hg_rooms_service_fn)(void *ud, const char *room_id, const char *op, const char *args,
                                    uint64_t call_id);
void hg_rooms_set_service(hg_rooms_t *rs, hg_rooms_service_fn fn, void *ud);
void hg_rooms_service_reply(hg_rooms_t *rs, const char *room_id, uint64_t call_id,
                            const char *result, const char *code, const char *message);

/* Whether player may take a seat now (HG_ELIMIT: full; HG_EUNAUTHORIZED: the script's on_join
 * refused, err says why; the seat of a player already in it is always there). */
int hg_room_can_join(hg_room_t *r, const char *player, hg_error_t *err);
/* A client's message (the wire above), parsed and checked: text {"type", "data"?} or binary
 * [type length][type][payload]. 0, or HG_EINVAL (type then holds what was sent as the type when it
 * was a string of at most HG_ROOM_TYPE_MAX bytes, for the error's "ref"). The whole text must be
 * JSON (core/jsonscan.h), "type" and "data" at most once each; other members are ignored. data:
 * the JSON text of "data" as it came (inside the input: data_len bytes), NULL when absent;
 * payload: inside the input (binary). */
typedef struct hg_room_envelope {
    char type[HG_ROOM_TYPE_MAX + 1];
    const char *data;
    size_t data_len;
    const char *payload;
    size_t payload_len;
} hg_room_envelope_t;
int hg_room_parse(int binary, const char *data, size_t len, hg_room_envelope_t *out);

/* The WebSocket limits a room connection is accepted with. */
void hg_rooms_ws_limits(const hg_rooms_t *rs, hg_ws_limits_t *out);
/* The accepted WebSocket callbacks and their user data for player joining r; after is the
 * client's ?after= (has_after 0 when absent). Call before hg_ws_accept and pass *cb, *ud to it;
 * then hg_room_attach(ud, ws). */
void *hg_room_seat_prepare(hg_rooms_t *rs, hg_room_t *r, const char *player, int has_after,
                           uint64_t after, uint32_t epoch, hg_ws_cb_t *cb);
void hg_room_attach(void *seat_ud, hg_ws_t *ws);
/* hg_ws_accept failed: a player whose on_join was allowed but who has no seat gets on_leave. */
void hg_room_seat_abandon(void *seat_ud);

#endif
