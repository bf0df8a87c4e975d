/* hangar — room scripts: Lua 5.4 handlers run in a sandbox, one Lua state per room (seed 004:
 * "handlers by message type written as scripts, deployed without restarting running games").
 *
 * A script is Lua source that returns a table of handlers:
 *     return {
 *       on_create = function(room, options) ... end,          -- optional
 *       on_join   = function(room, player) return true end,   -- optional; false, "why" refuses
 *       on_leave  = function(room, player) ... end,            -- optional
 *       on_tick   = function(room, dt_ms) ... end,             -- optional (tick_ms in the table)
 *       on_dispose = function(room) ... end,                   -- optional
 *       on_migrate = function(room, old_state) ... end,        -- optional (a new version takes
 *                                                              --  over a live room)
 *       messages  = { move = function(room, player, data) ... end, ... },
 *       unknown   = "relay" | "refuse",                        -- a type with no handler
 *       tick_ms   = 50,                                        -- optional, on_tick's period
 *     }
 * `room` is the room API (C functions): room.broadcast(type, data), room.send(player_id, type,
 * data) → boolean (false: not in the room), room.kick(player_id[, reason]) → boolean,
 * room.state (a table the script owns, carried to a new version by on_migrate),
 * room.players() (ids in join order), room.id, room.now() (ms, the injected clock),
 * room.after(ms, fn) → timer id (fn(room) fires on the loop via the host; 0..
 * HG_SCRIPT_AFTER_MAX_MS ms, at most HG_SCRIPT_TIMERS_MAX pending), room.close(), room.null.
 * `player` is the player id (a string); data is the message's JSON "data" as Lua values (objects
 * → tables with string keys, arrays → sequences, integers → integers (a float past 64 bits),
 * reals → floats, JSON null → the sentinel `room.null` at any depth; no data at all → nil;
 * rooms/luajson.h has the details). Data sent goes back the same way: a table with keys exactly
 * 1..n is an array, one with string keys an object (keys sorted in the JSON text), an empty
 * table is {}, nil and room.null are null; functions, NaN/inf,
 * cycles, mixed or holed tables, invalid UTF-8, more than HG_SCRIPT_DATA_DEPTH_MAX levels or
 * HG_SCRIPT_DATA_VALUES_MAX values are an error in the calling handler.
 * on_join: `false[, reason]` refuses; anything else (true, nil) allows.
 *
 * Services: where the version was deployed with the grant (hg_script_set_grants), a script
 * reaches the leaderboards and wallets — room.leaderboard_submit(args, cb),
 * room.leaderboard_top(args, cb), room.leaderboard_ranks(args, cb), room.wallet_get(args, cb),
 * room.wallet_credit(args, cb), room.purchase(args, cb). args is a table (sent to the host as
 * JSON text); every call is asynchronous: the host answers later with hg_script_room_reply() and
 * cb(room, result, err) runs then, result a table (nil on error) and err nil or {code, message}.
 * Answers come only once what they show is durable (a write committed; a read's snapshot behind
 * a barrier), so nothing a script broadcasts from them can be lost. cb may be nil for writes.
 * Without the grant the call raises ("… needs the grant leaderboards:Submit"). At most
 * HG_SCRIPT_CALLS_MAX calls are pending per room; a migration drops the old state's pending
 * callbacks (the calls themselves complete).
 *
 * Sandbox: the base library without dofile, loadfile, load, require, warn, collectgarbage's
 * control options (only "count"), print goes to the debug log, setmetatable refuses a metatable
 * with __gc (finalizers run out of the budget's reach); string (no string.dump), table, math,
 * utf8; no io, os, package, debug, coroutine. Source is loaded as text only, never bytecode.
 * Every call into the script (a handler, a timer, on_tick) runs under an instruction budget (a
 * count hook; pcall cannot catch it): past it the call is stopped with an error, HG_ELIMIT. A
 * time backstop (HG_SCRIPT_TIME_MS_MAX, checked by the same hook) stops calls whose time goes
 * into C library functions the count does not see. Each room's Lua state allocates through a
 * counting allocator capped at the room's memory limit: past it an allocation fails and the call
 * errs ("not enough memory", HG_ELIMIT); a full collection follows. A call that errs or overruns
 * changes nothing beyond what it did before the error; the room goes on.
 *
 * Re-entry: a host callback may call hg_script_room_join/leave/message/tick/timer on the same
 * room (e.g. kick → leave); the inner call shares the outer call's budget. It must not call
 * hg_script_room_migrate (HG_ECONFLICT) or hg_script_room_free (aborts): defer those.
 *
 * Threading: loop thread only. No I/O, no blocking: everything a script does is a host callback.
 */
#ifndef HG_ROOMS_SCRIPT_H
#define HG_ROOMS_SCRIPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HG_SCRIPT_SOURCE_MAX (256u << 10)   /* bytes of one script's source */
#define HG_SCRIPT_MEMORY_DEFAULT (8u << 20) /* bytes one room's Lua state may allocate */
#define HG_SCRIPT_BUDGET_DEFAULT 1000000    /* Lua VM instructions per call */
#define HG_SCRIPT_TYPE_MAX 64               /* a message type: 1..64 of [A-Za-z0-9_.:-] */
#define HG_SCRIPT_TIMERS_MAX 64             /* pending room.after timers per room */
#define HG_SCRIPT_AFTER_MAX_MS 86400000     /* room.after's longest delay */
#define HG_SCRIPT_TIME_MS_MAX 250           /* wall time per call (a backstop for C work) */
#define HG_SCRIPT_DATA_DEPTH_MAX 32         /* nesting of data converted to or from JSON */
#define HG_SCRIPT_DATA_VALUES_MAX 65536     /* values in one data sent (each charged 8 instr.) */
#define HG_SCRIPT_STATE_DEPTH_MAX 100       /* nesting of room.state copied by a migration */
#define HG_SCRIPT_TICK_DEFAULT_MS 100       /* tick_ms when on_tick is there without it */
#define HG_SCRIPT_CALLS_MAX 64              /* service calls pending per room */

/* What a version may reach beyond its room (granted at deploy by a key that holds the same
 * action: docs/rooms.md). */
enum {
    HG_SCRIPT_GRANT_LB_READ = 1 << 0,         /* leaderboards:Read */
    HG_SCRIPT_GRANT_LB_SUBMIT = 1 << 1,       /* leaderboards:Submit */
    HG_SCRIPT_GRANT_WALLET_READ = 1 << 2,     /* wallet:Read */
    HG_SCRIPT_GRANT_WALLET_CREDIT = 1 << 3,   /* wallet:Credit */
    HG_SCRIPT_GRANT_WALLET_PURCHASE = 1 << 4, /* wallet:Purchase */
    HG_SCRIPT_GRANTS_N = 5
};
/* The action of one grant bit (HG_SCRIPT_GRANT_*), e.g. "wallet:Credit"; NULL for anything else. */
const char *hg_script_grant_name(unsigned bit);
/* 1 when the n bytes at t are one of the room's own message types (join, leave, error, welcome,
 * reset): neither a client nor a script may send them. */
int hg_script_room_type(const char *t, size_t n);
/* The bit of an action's name (exact, case-insensitive), or 0 when it is not grantable. */
unsigned hg_script_grant_parse(const char *action);

/* A compiled, checked script version (immutable; shared by the rooms that run it). */
typedef struct hg_script hg_script_t;
/* One room's running instance of a script version. */
typedef struct hg_script_room hg_script_room_t;

/* What a room's script asks of its host (the rooms module). All run on the loop thread, inside
 * a script call; data is compact JSON text (or "null"), borrowed for the call. */
typedef struct hg_script_host {
    void (*broadcast)(void *ud, const char *type, const char *data);
    /* 0, or < 0 when player is not in the room (the script sees false) */
    int (*send)(void *ud, const char *player, const char *type, const char *data);
    /* reason: the script's text, "" when it gave none; 0, or < 0 (the script sees false) */
    int (*kick)(void *ud, const char *player, const char *reason);
    void (*close)(void *ud);
    /* a timer: call hg_script_room_timer(room, timer_id) in ms (the host schedules it) */
    void (*after)(void *ud, uint64_t timer_id, uint64_t ms);
    int64_t (*now_ms)(void *ud);
    /* the player ids in the room, in join order: *n set, borrowed array */
    const char *const *(*players)(void *ud, size_t *n);
    /* a service call (op "leaderboard_submit", …; args JSON text): answer it later, on the loop
     * thread and never from inside this callback, with hg_script_room_reply(…, call_id, …) */
    void (*service)(void *ud, const char *op, const char *args, uint64_t call_id);
} hg_script_host_t;

typedef struct hg_script_limits {
    size_t memory;   /* 0: HG_SCRIPT_MEMORY_DEFAULT */
    uint64_t budget; /* 0: HG_SCRIPT_BUDGET_DEFAULT */
} hg_script_limits_t;

/* Compile and check source (≤ HG_SCRIPT_SOURCE_MAX): it must load, run in a fresh sandbox
 * within the default limits, and return a table whose members are those above with the right
 * types (an unknown member is refused: a typo like on_jion would never run; tick_ms needs
 * on_tick). HG_EINVAL with err naming the Lua error and its line ("name:12: ...") otherwise —
 * every failure of compile is HG_EINVAL. name (NULL: "script") names the chunk. */
int hg_script_compile(const char *name, const char *source, size_t len, hg_script_t **out,
                      hg_error_t *err);
void hg_script_ref(hg_script_t *s);
void hg_script_unref(hg_script_t *s);
/* What the table declared. */
int hg_script_relays_unknown(const hg_script_t *s); /* 1 relay (the default), 0 refuse */
uint32_t hg_script_tick_ms(const hg_script_t *s);   /* 0: no on_tick */
int hg_script_has_handler(const hg_script_t *s, const char *type);
/* The grants (HG_SCRIPT_GRANT_* bits) rooms running s have: set once, before s is shared. */
void hg_script_set_grants(hg_script_t *s, unsigned grants);
unsigned hg_script_grants(const hg_script_t *s);

/* A room's instance: a fresh Lua state running the script (its own copy of the handler table),
 * then on_create(room, options) with options (JSON text or NULL). */
int hg_script_room_new(hg_script_t *s, const char *room_id, const hg_script_limits_t *lim,
                       const hg_script_host_t *host, void *host_ud, const char *options,
                       hg_script_room_t **out, hg_error_t *err);
/* on_create_request(room, player, options) in a throwaway state with no host (the room API's
 * calls reach nothing): 1 when it returns a true value (the player may create a room with this
 * script), 0 when not or when the script has none (err: the reason, HG_EUNAUTHORIZED), < 0 when
 * it failed (HG_EINVAL, HG_ELIMIT). */
int hg_script_create_request(hg_script_t *s, const char *player, const char *options,
                             hg_error_t *err);
/* on_dispose (if any), then the Lua state is closed. */
void hg_script_room_free(hg_script_room_t *r);

/* on_join: 1 allowed, 0 refused (reason in err's message, HG_EUNAUTHORIZED), < 0 the handler
 * failed (HG_EINVAL: Lua error; HG_ELIMIT: budget or memory) — the join is refused then too. */
int hg_script_room_join(hg_script_room_t *r, const char *player, hg_error_t *err);
void hg_script_room_leave(hg_script_room_t *r, const char *player);
/* A message from player: the handler of type runs (1 handled), or, with none, 0 (the host
 * relays it or refuses it as hg_script_relays_unknown says). < 0 the handler failed (err; data
 * that is not JSON fails only when there is a handler). data: the message's JSON text, len bytes
 * (borrowed for the call; no NUL needed), or NULL for none (the handler sees nil). */
int hg_script_room_message(hg_script_room_t *r, const char *player, const char *type,
                           const char *data, size_t len, hg_error_t *err);
/* on_tick(room, dt_ms): 1 ran, 0 no on_tick, < 0 it failed (err). */
int hg_script_room_tick(hg_script_room_t *r, uint64_t dt_ms, hg_error_t *err);
/* The room.after timer timer_id is due: 1 its function ran, 0 no such pending timer (fired
 * already, or dropped by a migration), < 0 it failed (err; the timer is gone all the same). */
int hg_script_room_timer(hg_script_room_t *r, uint64_t timer_id, hg_error_t *err);
/* The answer to service call call_id: result (JSON text) or, on failure, code (an error code
 * as /v1 names it, "insufficient_funds") and message. cb(room, result, err) runs: 1, 0 when the
 * call has no callback pending (none was given, or a migration dropped it), < 0 it failed
 * (err). */
int hg_script_room_reply(hg_script_room_t *r, uint64_t call_id, const char *result,
                         const char *code, const char *message, hg_error_t *err);
/* Switch r to version s at a message boundary: a new Lua state runs s, then
 * on_migrate(room, old_state) with the old state's room.state deep-copied across (tables,
 * strings, numbers, booleans, room.null; functions, userdata and metatables are dropped;
 * shared tables and cycles are kept as they are); without on_migrate, room.state = old_state.
 * Neither on_create nor on_dispose runs. Timers pending in the old state are dropped: their ids
 * fire as 0 from then on, and the new version's timers count from 0 against
 * HG_SCRIPT_TIMERS_MAX, so on success the host should forget the ids it still holds for r. On
 * failure — s's chunk fails in the room's limits, on_migrate errs, or room.state is nested deeper
 * than HG_SCRIPT_STATE_DEPTH_MAX — r keeps the old version, its state and its timers (err). */
int hg_script_room_migrate(hg_script_room_t *r, hg_script_t *s, hg_error_t *err);
/* Bytes the room's Lua state holds now. */
size_t hg_script_room_memory(const hg_script_room_t *r);
const hg_script_t *hg_script_room_script(const hg_script_room_t *r);

#endif
