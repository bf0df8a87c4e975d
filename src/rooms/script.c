/* hangar — room scripts: Lua 5.4 handlers in a sandbox, one Lua state per room (script.h).
 *
 * DESIGN
 *
 * A version (hg_script_t) is the checked source plus what its handler table declared; it holds
 * no Lua state. Compiling runs the source once in a throw-away sandbox to check it; every room
 * then runs the source again in a state of its own (a "vm"), so rooms share nothing and a room
 * that misbehaves can only hurt itself.
 *
 * Every entry into a state goes through vm_run(), which is the one place that
 *   - arms the limits: the instruction budget (a count hook, every HOOK_STEP instructions, that
 *     also checks the monotonic clock against HG_SCRIPT_TIME_MS_MAX) and clears the flags;
 *   - runs the work inside one lua_pcall, so a Lua error (including "not enough memory" from the
 *     counting allocator) never escapes: the C work that touches the state (pushing arguments,
 *     converting JSON, checking tables) runs inside the protected call too;
 *   - turns the outcome into a return code: HG_ELIMIT for the budget, the time limit and memory,
 *     HG_EINVAL for a Lua error, with the Lua message ("name:12: ...") in err;
 *   - puts the stack back where it was.
 * Once the budget is spent the hook is re-armed to fire on every instruction, so a script that
 * catches the error with pcall is stopped again at its next instruction: pcall cannot swallow
 * the limit. A host callback may re-enter the same room (e.g. kick -> on_leave): the inner call
 * shares the outer call's budget, and only the outermost call arms and disarms the hook.
 *
 * The sandbox also refuses __gc metamethods (setmetatable is wrapped): Lua runs finalizers with
 * hooks off, so a finalizer could loop forever out of the budget's reach.
 *
 * Memory: each state allocates through vm_alloc, which counts the bytes Lua holds and refuses an
 * allocation that would pass the cap (Lua then runs an emergency collection and, failing that,
 * raises "not enough memory", which is recoverable). After a call stopped by a limit a full
 * collection gives the garbage back at once.
 *
 * Data: JSON text is read straight onto the Lua stack and Lua values are written straight to
 * compact JSON text (rooms/luajson.c, no jansson tree either way), both inside the protected
 * call, so the memory cap covers them: a message's data is read only once its handler is found
 * (data that is not JSON is refused only then, as a relayed message needs no reading), at most
 * HG_SCRIPT_DATA_DEPTH_MAX deep. Text written for the host (room.broadcast, room.send, service
 * arguments) lives on the C stack, or past HG_LUAJSON_LOCAL bytes in Lua userdata that the C
 * function's frame holds until the host has it; it is at most HG_SCRIPT_DATA_VALUES_MAX values,
 * each charged VALUE_COST instructions. Creation options are checked before the room's state
 * exists, so that bad options are refused even by a script without on_create.
 *
 * Migration reads the old state and writes the new one at the same time: a protected call on
 * the old state pushes the old room.state and, from inside it, a protected call on the new
 * state copies it across. The copy only reads the old state with calls that cannot raise, so an
 * error can only come from the new state and is caught by the new state's own pcall.
 *
 * Threading: loop thread only.
 */
#include "rooms/script.h"

#include <inttypes.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "core/str.h"
#include "rooms/luajson.h"

#define HOOK_STEP 1000   /* instructions between two runs of the count hook */
#define VALUE_COST 8     /* instructions charged per JSON value built for the host */
#define CALL_MSG_MAX 256 /* a refusal reason or a check's message */
#define PRINT_MAX 512    /* bytes of one print() line in the debug log */

#define STR_(x) #x
#define STR(x) STR_(x)

enum { OVER_NONE, OVER_BUDGET, OVER_TIME };

/* Registry keys (their addresses) */
static char KEY_HANDLERS, KEY_ROOM, KEY_TIMERS, KEY_CALLS;

/* One Lua state and its limits. The allocator's ud, so any Lua callback finds it. */
typedef struct vm {
    lua_State *L;
    hg_script_room_t *room; /* NULL in compile's check state */
    size_t used, cap;       /* bytes Lua holds; the cap */
    int refused;            /* an allocation was refused during this call */
    uint64_t budget;        /* instructions per outermost call */
    int64_t left;           /* instructions left in this call */
    int count;              /* the count hook's current period */
    uint64_t deadline;      /* CLOCK_MONOTONIC ns: the time backstop */
    int over;               /* OVER_* */
    int depth;              /* calls in progress (host callbacks may re-enter) */
    size_t ntimers;         /* pending room.after timers */
    size_t ncalls;          /* pending service calls */
} vm_t;

struct hg_script {
    int refs;
    char *name;
    char *chunkname; /* "=name": Lua messages read "name:12: ..." */
    char *source;
    size_t len;
    int relay;        /* unknown = "relay" (1, default) or "refuse" (0) */
    uint32_t tick_ms; /* 0: no on_tick */
    char **types;     /* messages' keys, sorted */
    size_t ntypes;
    unsigned grants; /* HG_SCRIPT_GRANT_* */
};

struct hg_script_room {
    hg_script_t *script;
    vm_t *vm;
    char *id;
    hg_script_host_t host;
    void *ud;
    size_t memory;
    uint64_t budget;
    uint64_t next_timer; /* across versions, so a dropped timer's id is never reused */
    uint64_t next_call;  /* the same for service calls */
};

/* What the table declared (filled by check_table). */
typedef struct decl {
    int relay;
    uint32_t tick_ms;
    int collect; /* gather the messages' type names */
    char **types;
    size_t ntypes;
} decl_t;

typedef struct call call_t;
/* Runs inside the protected call; returns the entry's result (>= 0), or sets c->rc. */
typedef int (*call_fn)(lua_State *L, call_t *c);

struct call {
    vm_t *vm;
    call_fn fn;
    char label[96];      /* "handler move", "on_join", "timer 3" */
    hg_script_t *script; /* K_LOAD */
    decl_t *decl;        /* K_LOAD: filled */
    const char *hname;   /* the handler's member name (on_join ...) */
    const char *player;  /* join, leave, message */
    const char *type;    /* message */
    const char *data;    /* borrowed JSON text (NULL: none), read inside the call */
    size_t data_len;     /* its bytes */
    const char *code;    /* reply: the error's code and message (NULL: a result) */
    const char *message;
    uint64_t n;      /* dt_ms, timer id */
    call_t *next;    /* migrate: the write into the new state */
    lua_State *from; /* migrate: the old state, its room.state on top */
    hg_error_t *err; /* migrate: for the nested call */
    int result;
    int rc; /* a failure found by C code inside the call (with msg) */
    char msg[CALL_MSG_MAX];
};

/* ---- the state, its allocator and its limits ---- */

static vm_t *vm_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    vm_t *vm = ud;
    size_t old = ptr != NULL ? osize : 0; /* with ptr NULL, osize is a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        vm->used -= old;
        return NULL;
    }
    /* Shrinking must not fail (Lua relies on it); growing stays under the cap. */
    if (nsize > old && nsize - old > vm->cap - vm->used) {
        vm->refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    vm->used = vm->used - old + nsize;
    return p;
}

static int vm_panic(lua_State *L)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    hg_log_write(HG_LOG_ERROR, "script", __FILE__, __LINE__, "Lua panic: %s", m);
    abort();
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: cheap enough for every hook */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void vm_hook(lua_State *L, lua_Debug *ar);

static void vm_stop(lua_State *L, vm_t *vm, int why)
{
    if (vm->over == OVER_NONE)
        vm->over = why;
    vm->count = 1; /* every instruction from now on: pcall cannot swallow the stop */
    lua_sethook(L, vm_hook, LUA_MASKCOUNT, 1);
}

static void vm_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    vm_t *vm = vm_of(L);
    if (vm->over == OVER_NONE) {
        vm->left -= vm->count;
        if (vm->left <= 0) {
            vm_stop(L, vm, OVER_BUDGET);
        } else if (mono_ns() > vm->deadline) {
            vm_stop(L, vm, OVER_TIME);
        } else {
            if (vm->left < vm->count) {
                vm->count = (int)vm->left;
                lua_sethook(L, vm_hook, LUA_MASKCOUNT, vm->count);
            }
            return;
        }
    }
    lua_pushliteral(L, "the call ran past its limits");
    lua_error(L);
}

/* Charge C work done for the script to its budget; 0, or -1 when the budget is spent. */
static int vm_charge(lua_State *L, vm_t *vm, int64_t units)
{
    if (vm->over != OVER_NONE)
        return -1;
    vm->left -= units;
    if (vm->left > 0)
        return 0;
    vm_stop(L, vm, OVER_BUDGET);
    return -1;
}

static int vm_new(hg_script_room_t *room, size_t cap, uint64_t budget, vm_t **out, hg_error_t *err)
{
    vm_t *vm = hg_calloc(1, sizeof(*vm));
    vm->room = room;
    vm->cap = cap;
    vm->budget = budget;
    vm->L = lua_newstate(vm_alloc, vm);
    if (vm->L == NULL) {
        hg_free(vm);
        return hg_error_set(err, HG_ELIMIT, "a Lua state does not fit in %zu bytes", cap);
    }
    lua_atpanic(vm->L, vm_panic);
    *out = vm;
    return HG_OK;
}

static void vm_free(vm_t *vm)
{
    if (vm == NULL)
        return;
    lua_close(vm->L);
    HG_ASSERT(vm->used == 0);
    hg_free(vm);
}

/* A number as text, without converting it in place (which allocates). */
static const char *number_text(lua_State *L, int idx, char *buf, size_t n)
{
    if (lua_isinteger(L, idx))
        snprintf(buf, n, "%lld", (long long)lua_tointeger(L, idx));
    else
        snprintf(buf, n, "%.14g", (double)lua_tonumber(L, idx));
    return buf;
}

/* The error object on top as text, without running metamethods or allocating. */
static const char *error_text(lua_State *L, char *buf, size_t n)
{
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: return lua_tostring(L, -1);
    case LUA_TNUMBER: return number_text(L, -1, buf, n);
    default:
        snprintf(buf, n, "(error object is a %s value)", lua_typename(L, lua_type(L, -1)));
        return buf;
    }
}

static int call_entry(lua_State *L)
{
    call_t *c = lua_touserdata(L, 1);
    lua_settop(L, 0);
    c->result = c->fn(L, c);
    return 0;
}

/* Run c->fn in vm under the limits. Returns c's result (>= 0) or < 0 with err filled. */
static int vm_run(vm_t *vm, call_t *c, hg_error_t *err)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    int outer = vm->depth == 0;
    if (outer) {
        vm->left = (int64_t)(vm->budget > INT64_MAX / 2 ? INT64_MAX / 2 : vm->budget);
        vm->over = OVER_NONE;
        vm->refused = 0;
        vm->count = vm->left < HOOK_STEP ? (int)vm->left : HOOK_STEP;
        vm->deadline = mono_ns() + (uint64_t)HG_SCRIPT_TIME_MS_MAX * 1000000u;
        lua_sethook(L, vm_hook, LUA_MASKCOUNT, vm->count);
    }
    c->vm = vm;
    c->rc = HG_OK;
    c->result = 0;
    int st = LUA_ERRMEM;
    vm->depth++;
    if (lua_checkstack(L, 2)) {
        lua_pushcfunction(L, call_entry);
        lua_pushlightuserdata(L, c);
        st = lua_pcall(L, 1, 0, 0);
    }
    vm->depth--;

    int rc = HG_OK;
    char buf[96];
    if (vm->over == OVER_BUDGET)
        rc = hg_error_set(err, HG_ELIMIT, "%s ran past its instruction budget of %" PRIu64,
                          c->label, vm->budget);
    else if (vm->over == OVER_TIME)
        rc = hg_error_set(err, HG_ELIMIT, "%s ran past its time limit of %d ms", c->label,
                          HG_SCRIPT_TIME_MS_MAX);
    else if (st == LUA_ERRMEM || (st != LUA_OK && vm->refused))
        rc = hg_error_set(err, HG_ELIMIT,
                          "%s: not enough memory (the room's Lua memory cap is %zu bytes)",
                          c->label, vm->cap);
    else if (st != LUA_OK)
        rc = hg_error_set(err, HG_EINVAL, "%s: %s", c->label, error_text(L, buf, sizeof(buf)));
    else if (c->rc < 0)
        rc = hg_error_set(err, c->rc, "%s", c->msg);
    lua_settop(L, top);
    if (outer) {
        lua_sethook(L, NULL, 0, 0);
        if (rc == HG_ELIMIT)
            lua_gc(L, LUA_GCCOLLECT); /* the stopped call's garbage, back at once */
    }
    HG_ASSERT(lua_gettop(L) == top);
    return rc < 0 ? rc : c->result;
}

/* ---- message types ---- */

static int valid_type(const char *s, size_t n)
{
    return hg_str_name(s, n, HG_SCRIPT_TYPE_MAX, ".:-");
}

/* ---- JSON <-> Lua (rooms/luajson.c) ---- */

/* Push c->data's value (nil when there is none). Returns 0, or -1 when it is not JSON, with c->rc
 * and c->msg set. Raises for memory and depth. */
static int push_data(lua_State *L, call_t *c, const char *what)
{
    char why[160];
    if (c->data == NULL) {
        lua_pushnil(L);
        return 0;
    }
    if (hg_luajson_decode(L, c->data, c->data_len, HG_SCRIPT_DATA_DEPTH_MAX, why, sizeof(why)) == 0)
        return 0;
    snprintf(c->msg, sizeof(c->msg), "%s %s", what, why);
    c->rc = HG_EINVAL;
    return -1;
}

/* Check text (NULL: none) as push_data would read it, before a room exists to read it in. */
static int check_json(const char *text, const char *what, hg_error_t *err)
{
    char why[160];
    if (text == NULL ||
        hg_luajson_decode(NULL, text, strlen(text), HG_JSON_SCAN_DEPTH, why, sizeof(why)) == 0)
        return HG_OK;
    return hg_error_set(err, HG_EINVAL, "%s %s", what, why);
}

/* The value at idx as compact JSON text in b, charged to the budget; raises on failure. The text
 * lives while b is in scope and the value this pushes stays on the stack (the calling C
 * function's frame). what names the argument in messages ("room.broadcast: data ..."). */
static const char *data_text(lua_State *L, int idx, const char *what, hg_luajson_buf_t *b)
{
    vm_t *vm = vm_of(L);
    char why[160];
    size_t values = 0;
    if (hg_luajson_write(L, idx, b, HG_SCRIPT_DATA_DEPTH_MAX, HG_SCRIPT_DATA_VALUES_MAX, &values,
                         why, sizeof(why)) < 0) {
        luaL_error(L, "%s: data cannot be sent as JSON: %s", what, why);
        return NULL;
    }
    if (vm_charge(L, vm, (int64_t)values * VALUE_COST) < 0) {
        lua_pushliteral(L, "the call ran past its limits");
        lua_error(L);
        return NULL;
    }
    return b->text;
}

/* ---- the sandbox ---- */

static int sb_print(lua_State *L)
{
    if (HG_LOG_DEBUG > hg_log_level)
        return 0;
    char line[PRINT_MAX];
    size_t at = 0;
    int n = lua_gettop(L);
    line[0] = '\0';
    for (int i = 1; i <= n && at < sizeof(line) - 1; i++) {
        char buf[64];
        const char *s;
        switch (lua_type(L, i)) {
        case LUA_TSTRING: s = lua_tostring(L, i); break;
        case LUA_TNUMBER: s = number_text(L, i, buf, sizeof(buf)); break;
        case LUA_TBOOLEAN: s = lua_toboolean(L, i) ? "true" : "false"; break;
        case LUA_TNIL: s = "nil"; break;
        default: s = lua_typename(L, lua_type(L, i)); break;
        }
        int w = snprintf(line + at, sizeof(line) - at, "%s%s", i > 1 ? "\t" : "", s);
        at = w < 0 ? at : at + (size_t)w;
    }
    vm_t *vm = vm_of(L);
    HG_LOG(HG_LOG_DEBUG, "script", "room=%s print: %s", vm->room ? vm->room->id : "-", line);
    return 0;
}

static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is allowed in room scripts");
    int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
    lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
    return 1;
}

static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in room scripts");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static void open_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}};
    static const char *const dropped[] = {"dofile", "loadfile", "load", "require", "warn"};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, dropped[i]);
    }
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, -2, "print");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setfield(L, -2, "collectgarbage");
    lua_getfield(L, -1, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, -2, "setmetatable");
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 2);
}

/* ---- the room API (C functions the script calls) ---- */

static hg_script_room_t *api_room(lua_State *L)
{
    return vm_of(L)->room;
}

static const char *check_type(lua_State *L, int arg)
{
    size_t n;
    const char *t = luaL_checklstring(L, arg, &n);
    if (!valid_type(t, n))
        luaL_argerror(L, arg, "a message type is 1..64 of [A-Za-z0-9_.:-]");
    if (hg_script_room_type(t, n)) /* a client could not tell it from the room's own */
        luaL_argerror(L, arg, "join, leave, error, welcome and reset are the room's own types");
    return t;
}

static const char *check_player(lua_State *L, int arg)
{
    size_t n;
    const char *p = luaL_checklstring(L, arg, &n);
    if (strlen(p) != n)
        luaL_argerror(L, arg, "a player id has no NUL byte");
    return p;
}

static int api_broadcast(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    const char *type = check_type(L, 1);
    hg_luajson_buf_t b;
    const char *text = data_text(L, 2, "room.broadcast", &b);
    if (r->host.broadcast)
        r->host.broadcast(r->ud, type, text);
    return 0;
}

static int api_send(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    const char *player = check_player(L, 1);
    const char *type = check_type(L, 2);
    hg_luajson_buf_t b;
    const char *text = data_text(L, 3, "room.send", &b);
    int rc = r->host.send ? r->host.send(r->ud, player, type, text) : -1;
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int api_kick(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    const char *player = check_player(L, 1);
    const char *reason = luaL_optstring(L, 2, "");
    int rc = r->host.kick ? r->host.kick(r->ud, player, reason) : -1;
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int api_close(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    if (r->host.close)
        r->host.close(r->ud);
    return 0;
}

static int api_after(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    vm_t *vm = vm_of(L);
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_argcheck(L, ms >= 0 && ms <= HG_SCRIPT_AFTER_MAX_MS, 1,
                  "a delay is 0.." STR(HG_SCRIPT_AFTER_MAX_MS) " ms");
    if (vm->ntimers >= HG_SCRIPT_TIMERS_MAX)
        return luaL_error(L, "room.after: %d timers are pending already", HG_SCRIPT_TIMERS_MAX);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_TIMERS);
    uint64_t id = r->next_timer + 1;
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, (lua_Integer)id); /* may raise (memory): nothing counted yet */
    r->next_timer = id;
    vm->ntimers++;
    if (r->host.after)
        r->host.after(r->ud, id, (uint64_t)ms);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int api_now(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    lua_pushinteger(L, r->host.now_ms ? (lua_Integer)r->host.now_ms(r->ud) : 0);
    return 1;
}

static int api_players(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    size_t n = 0;
    const char *const *ids = r->host.players ? r->host.players(r->ud, &n) : NULL;
    if (ids == NULL)
        n = 0;
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- services: leaderboards and wallets, where the version was granted them ---- */

static const char *const grant_names[HG_SCRIPT_GRANTS_N] = {
    "leaderboards:Read", "leaderboards:Submit", "wallet:Read", "wallet:Credit", "wallet:Purchase"};

const char *hg_script_grant_name(unsigned bit)
{
    for (int i = 0; i < HG_SCRIPT_GRANTS_N; i++)
        if (bit == 1u << i)
            return grant_names[i];
    return NULL;
}

int hg_script_room_type(const char *t, size_t n)
{
    static const char *const own[] = {"join", "leave", "error", "welcome", "reset"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strlen(own[i]) == n && memcmp(own[i], t, n) == 0)
            return 1;
    return 0;
}

unsigned hg_script_grant_parse(const char *action)
{
    for (int i = 0; i < HG_SCRIPT_GRANTS_N; i++)
        if (strcasecmp(action, grant_names[i]) == 0)
            return 1u << i;
    return 0;
}

/* The service functions: the name the script calls, the op the host gets, the grant it needs
 * and whether a callback is required (reads: what else would they be for). */
typedef struct service {
    const char *name;
    unsigned grant;
    int needs_cb;
} service_t;

static const service_t services[] = {
    {"leaderboard_submit", HG_SCRIPT_GRANT_LB_SUBMIT, 0},
    {"leaderboard_top", HG_SCRIPT_GRANT_LB_READ, 1},
    {"leaderboard_ranks", HG_SCRIPT_GRANT_LB_READ, 1},
    {"wallet_get", HG_SCRIPT_GRANT_WALLET_READ, 1},
    {"wallet_credit", HG_SCRIPT_GRANT_WALLET_CREDIT, 0},
    {"purchase", HG_SCRIPT_GRANT_WALLET_PURCHASE, 0},
};

/* room.<service>(args, cb): checked here, answered later (hg_script_room_reply). */
static int api_service(lua_State *L)
{
    hg_script_room_t *r = api_room(L);
    vm_t *vm = vm_of(L);
    const service_t *sv = lua_touserdata(L, lua_upvalueindex(1));
    if ((r->script->grants & sv->grant) == 0)
        return luaL_error(L,
                          "room.%s needs the grant %s, which this script version was not "
                          "deployed with",
                          sv->name, hg_script_grant_name(sv->grant));
    luaL_checktype(L, 1, LUA_TTABLE);
    if (sv->needs_cb || !lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    if (vm->ncalls >= HG_SCRIPT_CALLS_MAX)
        return luaL_error(L, "room.%s: %d service calls are pending already", sv->name,
                          HG_SCRIPT_CALLS_MAX);
    /* the slot first: a failure after it (data_text raises) leaves it to the next call's id */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_CALLS);
    uint64_t id = r->next_call + 1;
    if (lua_isfunction(L, 2))
        lua_pushvalue(L, 2);
    else
        lua_pushboolean(L, 1); /* pending, without a callback */
    lua_rawseti(L, -2, (lua_Integer)id);
    hg_luajson_buf_t b;
    const char *args = data_text(L, 1, sv->name, &b);
    r->next_call = id;
    vm->ncalls++;
    if (r->host.service)
        r->host.service(r->ud, sv->name, args, id);
    return 0;
}

/* Create the room table and the timers table in the registry. */
static void open_room_api(lua_State *L, hg_script_room_t *r)
{
    static const luaL_Reg fns[] = {{"broadcast", api_broadcast}, {"send", api_send},
                                   {"kick", api_kick},           {"close", api_close},
                                   {"after", api_after},         {"now", api_now},
                                   {"players", api_players},     {NULL, NULL}};
    lua_createtable(L, 0, 16);
    luaL_setfuncs(L, fns, 0);
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        lua_pushlightuserdata(L, (void *)&services[i]);
        lua_pushcclosure(L, api_service, 1);
        lua_setfield(L, -2, services[i].name);
    }
    lua_pushstring(L, r->id);
    lua_setfield(L, -2, "id");
    lua_newtable(L);
    lua_setfield(L, -2, "state");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_ROOM);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_TIMERS);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_CALLS);
}

/* ---- loading and checking a script ---- */

static const char *const members[] = {"on_create",  "on_join",          "on_leave", "on_tick",
                                      "on_dispose", "on_migrate",       "messages", "unknown",
                                      "tick_ms",    "on_create_request"};

static int check_fail(call_t *c, const char *fmt, const char *a, const char *b)
{
    char m[CALL_MSG_MAX - 64];
    snprintf(m, sizeof(m), fmt, a, b);
    snprintf(c->msg, sizeof(c->msg), "%s: %s", c->script->name, m);
    c->rc = HG_EINVAL;
    return 0;
}

/* Check the handler table at the top of the stack (raw accesses only: no metamethod runs). */
static int check_table(lua_State *L, call_t *c)
{
    decl_t *d = c->decl;
    int t = lua_gettop(L), has_tick = 0, has_tick_ms = 0;
    d->relay = 1;
    d->tick_ms = 0;
    if (lua_type(L, t) != LUA_TTABLE)
        return check_fail(c, "the script must return a table of handlers, not %s%s",
                          lua_typename(L, lua_type(L, t)), "");
    luaL_checkstack(L, 6, "check");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return check_fail(c, "the handler table has a %s key%s",
                              lua_typename(L, lua_type(L, -2)), "");
        }
        const char *k = lua_tostring(L, -2);
        int vt = lua_type(L, -1);
        size_t m = 0;
        while (m < sizeof(members) / sizeof(members[0]) && strcmp(members[m], k) != 0)
            m++;
        if (m == sizeof(members) / sizeof(members[0])) {
            check_fail(c, "unknown member '%s' in the handler table%s", k, "");
            lua_pop(L, 2);
            return 0;
        }
        if (strncmp(k, "on_", 3) == 0) {
            if (vt != LUA_TFUNCTION) {
                check_fail(c, "%s must be a function, not %s", k, lua_typename(L, vt));
                lua_pop(L, 2);
                return 0;
            }
            has_tick |= strcmp(k, "on_tick") == 0;
        } else if (strcmp(k, "unknown") == 0) {
            const char *u = vt == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(u, "relay") != 0 && strcmp(u, "refuse") != 0) {
                lua_pop(L, 2);
                return check_fail(c, "unknown must be \"relay\" or \"refuse\"%s%s", "", "");
            }
            d->relay = strcmp(u, "relay") == 0;
        } else if (strcmp(k, "tick_ms") == 0) {
            int isnum = 0;
            lua_Integer ms = vt == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
            if (!isnum || ms < 10 || ms > 60000) {
                lua_pop(L, 2);
                return check_fail(c, "tick_ms must be an integer in 10..60000%s%s", "", "");
            }
            d->tick_ms = (uint32_t)ms;
            has_tick_ms = 1;
        } else { /* messages */
            if (vt != LUA_TTABLE) {
                check_fail(c, "messages must be a table of functions, not %s%s",
                           lua_typename(L, vt), "");
                lua_pop(L, 2);
                return 0;
            }
            int mt = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, mt)) {
                size_t n = 0;
                const char *type = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
                if (type == NULL || !valid_type(type, n)) {
                    lua_pop(L, 4);
                    return check_fail(c,
                                      "messages has a key that is not a message type "
                                      "(1..64 of [A-Za-z0-9_.:-])%s%s",
                                      "", "");
                }
                if (lua_type(L, -1) != LUA_TFUNCTION) {
                    check_fail(c, "messages.%s must be a function, not %s", type,
                               lua_typename(L, lua_type(L, -1)));
                    lua_pop(L, 4);
                    return 0;
                }
                if (d->collect) {
                    d->types = hg_realloc(d->types, (d->ntypes + 1) * sizeof(char *));
                    d->types[d->ntypes++] = hg_strndup(type, n);
                }
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    if (has_tick_ms && !has_tick)
        return check_fail(c, "tick_ms is set but there is no on_tick%s%s", "", "");
    if (has_tick && !has_tick_ms)
        d->tick_ms = HG_SCRIPT_TICK_DEFAULT_MS;
    return 1;
}

/* Open the sandbox (and the room API), run the source, check and keep its table. */
static int p_load(lua_State *L, call_t *c)
{
    vm_t *vm = c->vm;
    hg_script_t *s = c->script;
    open_sandbox(L);
    if (vm->room != NULL)
        open_room_api(L, vm->room);
    if (luaL_loadbufferx(L, s->source, s->len, s->chunkname, "t") != LUA_OK)
        lua_error(L); /* "name:12: ..." */
    lua_call(L, 0, 1);
    if (!check_table(L, c))
        return 0;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_HANDLERS);
    return 1;
}

/* ---- calls into a room ---- */

/* Push the handler c->hname (or messages[c->type]); 1 when it is a function, else 0 (nothing
 * pushed). */
static int push_handler(lua_State *L, call_t *c)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_HANDLERS);
    if (c->type != NULL) {
        lua_pushliteral(L, "messages");
        if (lua_rawget(L, -2) != LUA_TTABLE) {
            lua_pop(L, 2);
            return 0;
        }
        lua_pushstring(L, c->type);
        lua_rawget(L, -2);
        lua_remove(L, -2);
    } else {
        lua_pushstring(L, c->hname);
        lua_rawget(L, -2);
    }
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static void push_room(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_ROOM);
}

/* on_create, on_join, on_leave, on_tick, on_dispose and message handlers. */
static int p_handler(lua_State *L, call_t *c)
{
    /* no on_join: allowed; no on_create_request: players may not create rooms */
    if (!push_handler(L, c))
        return strcmp(c->hname ? c->hname : "", "on_join") == 0 ? 1 : 0;
    push_room(L);
    int nargs = 1;
    if (c->player != NULL) {
        lua_pushstring(L, c->player);
        nargs++;
    }
    int ask = c->hname != NULL && strcmp(c->hname, "on_create_request") == 0;
    if (c->type != NULL || strcmp(c->hname, "on_create") == 0 || ask) {
        if (push_data(L, c, c->type != NULL ? "data" : "options") < 0)
            return 0; /* refused only now that a handler would have seen it */
        nargs++;
    } else if (strcmp(c->hname, "on_tick") == 0) {
        lua_pushinteger(L, (lua_Integer)c->n);
        nargs++;
    }
    int join = (c->hname != NULL && strcmp(c->hname, "on_join") == 0) || ask;
    lua_call(L, nargs, join ? 2 : 0);
    if (!join)
        return 1;
    if (ask && !lua_toboolean(L, -2)) { /* on_create_request: only a true value allows */
        if (lua_type(L, -1) == LUA_TSTRING)
            snprintf(c->msg, sizeof(c->msg), "%s", lua_tostring(L, -1));
        return 0;
    }
    if (lua_type(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -2)) { /* only false refuses */
        if (lua_type(L, -1) == LUA_TSTRING)
            snprintf(c->msg, sizeof(c->msg), "%s", lua_tostring(L, -1));
        return 0;
    }
    return 1;
}

static int p_timer(lua_State *L, call_t *c)
{
    if (c->n > (uint64_t)LUA_MAXINTEGER)
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_TIMERS);
    if (lua_rawgeti(L, -1, (lua_Integer)c->n) != LUA_TFUNCTION)
        return 0; /* fired already, or dropped by a migration */
    lua_pushnil(L);
    lua_rawseti(L, -3, (lua_Integer)c->n); /* deleting a key never allocates */
    c->vm->ntimers--;
    push_room(L);
    lua_call(L, 1, 0);
    return 1;
}

/* A service call's answer: cb(room, result, err). */
static int p_reply(lua_State *L, call_t *c)
{
    if (c->n > (uint64_t)LUA_MAXINTEGER)
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_CALLS);
    int t = lua_rawgeti(L, -1, (lua_Integer)c->n);
    if (t == LUA_TNIL)
        return 0; /* answered already, or dropped by a migration */
    lua_pushnil(L);
    lua_rawseti(L, -3, (lua_Integer)c->n);
    c->vm->ncalls--;
    if (t != LUA_TFUNCTION)
        return 0; /* a write without a callback */
    push_room(L);
    if (c->code != NULL) {
        lua_pushnil(L);
    } else if (push_data(L, c, "result") < 0) {
        lua_pushnil(L); /* the host's answer did not parse: the callback hears of it */
        c->rc = HG_OK;
        c->code = "internal";
        c->message = "the service's answer was not JSON";
    }
    if (c->code != NULL) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, c->code);
        lua_setfield(L, -2, "code");
        lua_pushstring(L, c->message ? c->message : "");
        lua_setfield(L, -2, "message");
    } else {
        lua_pushnil(L);
    }
    lua_call(L, 3, 0);
    return 1;
}

static void call_init(call_t *c, const char *hname, const char *fmt, const char *arg)
{
    memset(c, 0, sizeof(*c));
    c->fn = p_handler;
    c->hname = hname;
    snprintf(c->label, sizeof(c->label), fmt, arg);
}

/* ---- migration: copy room.state across states ---- */

typedef struct copy {
    lua_State *from;
    int memo; /* index in L of the table: old table's address -> its copy */
    int depth;
} copy_t;

/* Push onto L a copy of the value on top of cp->from; 1, or 0 when the value has no copy
 * (a function, a userdata, a thread: nothing pushed). Reads cp->from only with calls that
 * cannot raise; raises in L (memory, depth). */
static int copy_value(lua_State *L, copy_t *cp)
{
    lua_State *F = cp->from;
    switch (lua_type(F, -1)) {
    case LUA_TBOOLEAN: lua_pushboolean(L, lua_toboolean(F, -1)); return 1;
    case LUA_TNUMBER:
        if (lua_isinteger(F, -1))
            lua_pushinteger(L, lua_tointeger(F, -1));
        else
            lua_pushnumber(L, lua_tonumber(F, -1));
        return 1;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(F, -1, &n);
        lua_pushlstring(L, s, n);
        return 1;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(F, -1) != NULL)
            return 0;
        lua_pushlightuserdata(L, NULL); /* room.null */
        return 1;
    case LUA_TTABLE: break;
    default: return 0;
    }
    const void *p = lua_topointer(F, -1);
    luaL_checkstack(L, 4, "room.state");
    if (lua_rawgetp(L, cp->memo, p) == LUA_TTABLE)
        return 1; /* shared, or a cycle: the same copy */
    lua_pop(L, 1);
    if (cp->depth >= HG_SCRIPT_STATE_DEPTH_MAX)
        luaL_error(L, "room.state is nested deeper than %d", HG_SCRIPT_STATE_DEPTH_MAX);
    if (!lua_checkstack(F, 3))
        luaL_error(L, "room.state: out of Lua stack");
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, cp->memo, p);
    cp->depth++;
    lua_pushnil(F);
    while (lua_next(F, -2)) { /* F: table key value */
        lua_pushvalue(F, -2); /* F: table key value key */
        int kok = copy_value(L, cp);
        lua_pop(F, 1);
        if (kok) {
            if (copy_value(L, cp))
                lua_rawset(L, -3);
            else
                lua_pop(L, 1);
        }
        lua_pop(F, 1);
    }
    cp->depth--;
    return 1;
}

/* In the new state: copy the old room.state, then on_migrate(room, old_state) or room.state =
 * old_state. */
static int p_migrate_write(lua_State *L, call_t *c)
{
    copy_t cp = {.from = c->from, .depth = 0};
    lua_newtable(L);
    cp.memo = lua_gettop(L);
    int copied = copy_value(L, &cp);
    if (!copied)
        lua_pushnil(L);
    int state = lua_gettop(L);
    c->hname = "on_migrate";
    if (push_handler(L, c)) {
        push_room(L);
        lua_pushvalue(L, state);
        lua_call(L, 2, 0);
    } else if (copied) {
        push_room(L);
        lua_pushliteral(L, "state");
        lua_pushvalue(L, state);
        lua_rawset(L, -3);
    }
    return 1;
}

/* In the old state: push room.state, then run the write in the new state. */
static int p_migrate_read(lua_State *L, call_t *c)
{
    push_room(L);
    lua_pushliteral(L, "state");
    lua_rawget(L, -2);
    c->next->from = L;
    return vm_run(c->next->vm, c->next, c->err);
}

/* ---- versions ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hg_script_compile(const char *name, const char *source, size_t len, hg_script_t **out,
                      hg_error_t *err)
{
    int rc = HG_OK;
    hg_script_t *s = NULL;
    vm_t *vm = NULL;
    decl_t d = {.collect = 1};
    if (name == NULL || name[0] == '\0')
        name = "script";
    if (source == NULL || len > HG_SCRIPT_SOURCE_MAX) {
        rc = hg_error_set(err, HG_EINVAL, "%s: the source is %zu bytes; the most is %u", name, len,
                          HG_SCRIPT_SOURCE_MAX);
        goto out;
    }
    s = hg_calloc(1, sizeof(*s));
    s->refs = 1;
    s->name = hg_strdup(name);
    s->chunkname = hg_malloc(strlen(name) + 2);
    s->chunkname[0] = '=';
    memcpy(s->chunkname + 1, name, strlen(name) + 1);
    s->source = hg_malloc(len + 1);
    memcpy(s->source, source, len);
    s->source[len] = '\0';
    s->len = len;

    rc = vm_new(NULL, HG_SCRIPT_MEMORY_DEFAULT, HG_SCRIPT_BUDGET_DEFAULT, &vm, err);
    if (rc < 0)
        goto out;
    call_t c;
    call_init(&c, NULL, "script %s", name);
    c.fn = p_load;
    c.script = s;
    c.decl = &d;
    rc = vm_run(vm, &c, err);
    if (rc < 0) {
        if (err != NULL)
            err->code = HG_EINVAL; /* a script that cannot load within the limits is broken */
        rc = HG_EINVAL;
        goto out;
    }
    s->relay = d.relay;
    s->tick_ms = d.tick_ms;
    s->types = d.types;
    s->ntypes = d.ntypes;
    d.types = NULL;
    d.ntypes = 0;
    if (s->ntypes > 1)
        qsort(s->types, s->ntypes, sizeof(char *), cmp_str);
    *out = s;
    s = NULL;
    rc = HG_OK;
out:
    for (size_t i = 0; i < d.ntypes; i++)
        hg_free(d.types[i]);
    hg_free(d.types);
    vm_free(vm);
    hg_script_unref(s);
    return rc;
}

void hg_script_ref(hg_script_t *s)
{
    s->refs++;
}

void hg_script_unref(hg_script_t *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->ntypes; i++)
        hg_free(s->types[i]);
    hg_free(s->types);
    hg_free(s->source);
    hg_free(s->chunkname);
    hg_free(s->name);
    hg_free(s);
}

int hg_script_relays_unknown(const hg_script_t *s)
{
    return s->relay;
}

uint32_t hg_script_tick_ms(const hg_script_t *s)
{
    return s->tick_ms;
}

void hg_script_set_grants(hg_script_t *s, unsigned grants)
{
    s->grants = grants;
}

unsigned hg_script_grants(const hg_script_t *s)
{
    return s->grants;
}

int hg_script_has_handler(const hg_script_t *s, const char *type)
{
    return type != NULL && s->ntypes > 0 &&
           bsearch(&type, s->types, s->ntypes, sizeof(char *), cmp_str) != NULL;
}

/* ---- rooms ---- */

/* Run script s's source in vm: its handler table becomes the state's. */
static int load_script(vm_t *vm, hg_script_t *s, hg_error_t *err)
{
    decl_t d = {.collect = 0};
    call_t c;
    call_init(&c, NULL, "script %s", s->name);
    c.fn = p_load;
    c.script = s;
    c.decl = &d;
    return vm_run(vm, &c, err);
}

int hg_script_room_new(hg_script_t *s, const char *room_id, const hg_script_limits_t *lim,
                       const hg_script_host_t *host, void *host_ud, const char *options,
                       hg_script_room_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_script_room_t *r = hg_calloc(1, sizeof(*r));
    hg_script_ref(s);
    r->script = s;
    r->id = hg_strdup(room_id != NULL ? room_id : "");
    if (host != NULL)
        r->host = *host;
    r->ud = host_ud;
    r->memory = lim != NULL && lim->memory != 0 ? lim->memory : HG_SCRIPT_MEMORY_DEFAULT;
    r->budget = lim != NULL && lim->budget != 0 ? lim->budget : HG_SCRIPT_BUDGET_DEFAULT;
    rc = check_json(options, "options", err); /* refused even when there is no on_create */
    if (rc < 0)
        goto out;
    rc = vm_new(r, r->memory, r->budget, &r->vm, err);
    if (rc < 0)
        goto out;
    rc = load_script(r->vm, s, err);
    if (rc < 0)
        goto out;
    call_t c;
    call_init(&c, "on_create", "%s", "on_create");
    c.data = options;
    c.data_len = options != NULL ? strlen(options) : 0;
    rc = vm_run(r->vm, &c, err);
    if (rc < 0)
        goto out;
    *out = r;
    r = NULL;
    rc = HG_OK;
out:
    if (r != NULL) {
        vm_free(r->vm);
        hg_script_unref(r->script);
        hg_free(r->id);
        hg_free(r);
    }
    return rc;
}

int hg_script_create_request(hg_script_t *s, const char *player, const char *options,
                             hg_error_t *err)
{
    /* a throwaway room state with no host: the API is there, every call reaches nothing */
    hg_script_room_t *r = hg_calloc(1, sizeof(*r));
    hg_script_ref(s);
    r->script = s;
    r->id = hg_strdup("");
    r->memory = HG_SCRIPT_MEMORY_DEFAULT;
    r->budget = HG_SCRIPT_BUDGET_DEFAULT;
    int rc = check_json(options, "options", err);
    if (rc == 0)
        rc = vm_new(r, r->memory, r->budget, &r->vm, err);
    if (rc == 0 && (rc = load_script(r->vm, s, err)) >= 0) {
        call_t c;
        call_init(&c, "on_create_request", "%s", "on_create_request");
        c.player = player;
        c.data = options;
        c.data_len = options != NULL ? strlen(options) : 0;
        rc = vm_run(r->vm, &c, err);
        if (rc == 0)
            hg_error_set(err, HG_EUNAUTHORIZED, "%s",
                         c.msg[0] ? c.msg : "this script does not let players create rooms");
    }
    vm_free(r->vm);
    hg_script_unref(r->script);
    hg_free(r->id);
    hg_free(r);
    return rc;
}

void hg_script_room_free(hg_script_room_t *r)
{
    if (r == NULL)
        return;
    HG_BUG_ON(r->vm->depth > 0); /* freed from inside one of its own host callbacks */
    hg_error_t err;
    call_t c;
    call_init(&c, "on_dispose", "%s", "on_dispose");
    if (vm_run(r->vm, &c, &err) < 0)
        HG_LOG(HG_LOG_WARN, "script", "room=%s %s", r->id, hg_error_message(&err));
    vm_free(r->vm);
    hg_script_unref(r->script);
    hg_free(r->id);
    hg_free(r);
}

int hg_script_room_join(hg_script_room_t *r, const char *player, hg_error_t *err)
{
    if (player == NULL)
        return hg_error_set(err, HG_EINVAL, "on_join: no player");
    call_t c;
    call_init(&c, "on_join", "%s", "on_join");
    c.player = player;
    int rc = vm_run(r->vm, &c, err);
    if (rc == 0)
        hg_error_set(err, HG_EUNAUTHORIZED, "%s", c.msg[0] ? c.msg : "refused by the room script");
    return rc;
}

void hg_script_room_leave(hg_script_room_t *r, const char *player)
{
    hg_error_t err;
    call_t c;
    if (player == NULL)
        return;
    call_init(&c, "on_leave", "%s", "on_leave");
    c.player = player;
    if (vm_run(r->vm, &c, &err) < 0)
        HG_LOG(HG_LOG_WARN, "script", "room=%s %s", r->id, hg_error_message(&err));
}

int hg_script_room_message(hg_script_room_t *r, const char *player, const char *type,
                           const char *data, size_t len, hg_error_t *err)
{
    if (player == NULL || type == NULL || !valid_type(type, strlen(type)))
        return hg_error_set(err, HG_EINVAL, "a message type is 1..%d of [A-Za-z0-9_.:-]",
                            HG_SCRIPT_TYPE_MAX);
    call_t c;
    call_init(&c, NULL, "handler %s", type);
    c.player = player;
    c.type = type;
    c.data = data; /* read by the handler's call, and refused only when there is a handler */
    c.data_len = len;
    return vm_run(r->vm, &c, err);
}

int hg_script_room_tick(hg_script_room_t *r, uint64_t dt_ms, hg_error_t *err)
{
    call_t c;
    call_init(&c, "on_tick", "%s", "on_tick");
    c.n = dt_ms;
    return vm_run(r->vm, &c, err);
}

int hg_script_room_timer(hg_script_room_t *r, uint64_t timer_id, hg_error_t *err)
{
    char id[24];
    call_t c;
    snprintf(id, sizeof(id), "%" PRIu64, timer_id);
    call_init(&c, NULL, "timer %s", id);
    c.fn = p_timer;
    c.n = timer_id;
    return vm_run(r->vm, &c, err);
}

int hg_script_room_reply(hg_script_room_t *r, uint64_t call_id, const char *result,
                         const char *code, const char *message, hg_error_t *err)
{
    char id[24];
    call_t c;
    snprintf(id, sizeof(id), "%" PRIu64, call_id);
    call_init(&c, NULL, "reply %s", id);
    c.fn = p_reply;
    c.n = call_id;
    c.code = code;
    c.message = message;
    c.data = code == NULL ? result : NULL; /* read inside the call (p_reply) */
    c.data_len = c.data != NULL ? strlen(c.data) : 0;
    return vm_run(r->vm, &c, err);
}

int hg_script_room_migrate(hg_script_room_t *r, hg_script_t *s, hg_error_t *err)
{
    int rc = HG_OK;
    vm_t *nv = NULL;
    if (r->vm->depth > 0)
        return hg_error_set(err, HG_ECONFLICT,
                            "room %s: migrate at a message boundary, not from a script call",
                            r->id);
    rc = vm_new(r, r->memory, r->budget, &nv, err);
    if (rc < 0)
        goto out;
    rc = load_script(nv, s, err);
    if (rc < 0)
        goto out;
    call_t wr, rd;
    call_init(&wr, NULL, "%s", "on_migrate");
    wr.fn = p_migrate_write;
    wr.vm = nv;
    call_init(&rd, NULL, "migrate from %s", r->script->name);
    rd.fn = p_migrate_read;
    rd.next = &wr;
    rd.err = err;
    rc = vm_run(r->vm, &rd, err);
    if (rc < 0)
        goto out;
    vm_t *old = r->vm;
    r->vm = nv;
    nv = old; /* closed below: pending timers go with it */
    hg_script_ref(s);
    hg_script_unref(r->script);
    r->script = s;
    rc = HG_OK;
out:
    vm_free(nv);
    return rc;
}

size_t hg_script_room_memory(const hg_script_room_t *r)
{
    return r->vm->used;
}

const hg_script_t *hg_script_room_script(const hg_script_room_t *r)
{
    return r->script;
}
