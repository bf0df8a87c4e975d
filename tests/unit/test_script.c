/* Unit tests: room scripts (rooms/script.h) against a fake host that records what the script
 * asks for — compile checks and their line numbers, the sandbox, handlers by type, join
 * refusals, the instruction budget, the time backstop and the memory cap (and that the room goes
 * on after each), room.state, timers, JSON both ways, and migrations. */
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "core/alloc.h"
#include "rooms/luajson.h"
#include "rooms/script.h"
#include "test.h"

#define ASSERT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            HG_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
    } while (0)

/* ---- the fake host ---- */

typedef struct fake {
    char log[16384]; /* one line per call: "b type data", "s player type data", "k player reason" */
    size_t at;
    int closed;
    uint64_t timer_ids[128];
    uint64_t timer_ms[128];
    size_t ntimers;
    int64_t now;
    const char *players[8];
    size_t nplayers;
} fake_t;

static void logf_(fake_t *f, const char *a, const char *b, const char *c, const char *d)
{
    int w = snprintf(f->log + f->at, sizeof(f->log) - f->at, "%s %s%s%s%s%s\n", a, b, c ? " " : "",
                     c ? c : "", d ? " " : "", d ? d : "");
    if (w > 0 && f->at + (size_t)w < sizeof(f->log))
        f->at += (size_t)w;
}

static void f_broadcast(void *ud, const char *type, const char *data)
{
    logf_(ud, "b", type, data, NULL);
}

static int f_send(void *ud, const char *player, const char *type, const char *data)
{
    fake_t *f = ud;
    for (size_t i = 0; i < f->nplayers; i++)
        if (strcmp(f->players[i], player) == 0) {
            logf_(f, "s", player, type, data);
            return 0;
        }
    return -1;
}

static int f_kick(void *ud, const char *player, const char *reason)
{
    logf_(ud, "k", player, reason, NULL);
    return 0;
}

static void f_close(void *ud)
{
    ((fake_t *)ud)->closed++;
}

static void f_after(void *ud, uint64_t id, uint64_t ms)
{
    fake_t *f = ud;
    if (f->ntimers < 128) {
        f->timer_ids[f->ntimers] = id;
        f->timer_ms[f->ntimers++] = ms;
    }
}

static int64_t f_now(void *ud)
{
    return ((fake_t *)ud)->now;
}

static const char *const *f_players(void *ud, size_t *n)
{
    fake_t *f = ud;
    *n = f->nplayers;
    return f->players;
}

static void f_service(void *ud, const char *op, const char *args, uint64_t id)
{
    char n[24];
    snprintf(n, sizeof(n), "%llu", (unsigned long long)id);
    logf_(ud, "v", op, args, n);
}

static const hg_script_host_t host = {f_broadcast, f_send, f_kick,    f_close,
                                      f_after,     f_now,  f_players, f_service};

static void fake_reset(fake_t *f)
{
    f->log[0] = '\0';
    f->at = 0;
}

static hg_script_t *compile_ok(const char *src)
{
    hg_script_t *s = NULL;
    hg_error_t err = {0};
    int rc = hg_script_compile("t", src, strlen(src), &s, &err);
    if (rc != 0)
        HG_FAIL_("compile: %d %s", rc, err.msg);
    return s;
}

static hg_script_room_t *room_ok(hg_script_t *s, fake_t *f, size_t memory, uint64_t budget)
{
    hg_script_room_t *r = NULL;
    hg_error_t err = {0};
    hg_script_limits_t lim = {.memory = memory, .budget = budget};
    int rc = hg_script_room_new(s, "room-1", &lim, &host, f, NULL, &r, &err);
    if (rc != 0)
        HG_FAIL_("room_new: %d %s", rc, err.msg);
    return r;
}

static int compile_err(const char *src, hg_error_t *err)
{
    hg_script_t *s = NULL;
    memset(err, 0, sizeof(*err));
    int rc = hg_script_compile("chat", src, strlen(src), &s, err);
    ASSERT_NULL(s);
    return rc;
}

static int msg(hg_script_room_t *r, const char *type, const char *data, hg_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return hg_script_room_message(r, "p1", type, data, data ? strlen(data) : 0, err);
}

/* ---- compile ---- */

typedef struct dumped {
    char buf[4096];
    size_t n;
} dumped_t;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud)
{
    dumped_t *d = ud;
    (void)L;
    if (d->n + n > sizeof(d->buf))
        return 1;
    memcpy(d->buf + d->n, p, n);
    d->n += n;
    return 0;
}

HG_TEST(compile_errors_report_the_line)
{
    size_t used = hg_alloc_used();
    hg_error_t err;
    /* a syntax error on line 3 */
    ASSERT_EQ_INT(compile_err("return {\n  messages = {\n    move = function(room) x = = 1 end,\n"
                              "  },\n}\n",
                              &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(err.code, HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "chat:3:");
    /* a runtime error while the chunk runs, on line 2 */
    ASSERT_EQ_INT(compile_err("local t = nil\nlocal x = t.field\nreturn {}\n", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "chat:2:");
    ASSERT_CONTAINS(err.msg, "attempt to index");
    /* error() with a message */
    ASSERT_EQ_INT(compile_err("\n\n\n\nerror('nope')\n", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "chat:5: nope");
    /* bytecode is never loaded: a real chunk, dumped by the Lua API */
    lua_State *L = luaL_newstate();
    ASSERT_EQ_INT(luaL_loadstring(L, "return { messages = {} }"), LUA_OK);
    dumped_t d = {.n = 0};
    ASSERT_EQ_INT(lua_dump(L, dump_writer, &d, 0), 0);
    ASSERT_TRUE(d.n > 4 && memcmp(d.buf, LUA_SIGNATURE, 4) == 0);
    hg_script_t *s = NULL;
    ASSERT_EQ_INT(hg_script_compile("chat", d.buf, d.n, &s, &err), HG_EINVAL);
    ASSERT_NULL(s);
    ASSERT_CONTAINS(err.msg, "attempt to load a binary chunk");
    lua_close(L);
    /* a chunk that loops forever is refused, not hung on */
    ASSERT_EQ_INT(compile_err("while true do end", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "instruction budget");
    /* too big */
    char *big = malloc(HG_SCRIPT_SOURCE_MAX + 2);
    memset(big, ' ', HG_SCRIPT_SOURCE_MAX + 1);
    big[HG_SCRIPT_SOURCE_MAX + 1] = '\0';
    ASSERT_EQ_INT(compile_err(big, &err), HG_EINVAL);
    free(big);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_TEST(the_handler_table_is_checked)
{
    size_t used = hg_alloc_used();
    hg_error_t err;
    ASSERT_EQ_INT(compile_err("return 42", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "must return a table");
    ASSERT_EQ_INT(compile_err("return nil", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { on_jion = function() end }", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "unknown member 'on_jion'");
    ASSERT_EQ_INT(compile_err("return { on_join = 1 }", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "on_join must be a function");
    ASSERT_EQ_INT(compile_err("return { messages = { move = 'x' } }", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "messages.move must be a function");
    ASSERT_EQ_INT(compile_err("return { messages = { ['bad type'] = function() end } }", &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { messages = { function() end } }", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { messages = 3 }", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { unknown = 'drop' }", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { on_tick = function() end, tick_ms = 5 }", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { on_tick = function() end, tick_ms = 60001 }", &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { on_tick = function() end, tick_ms = 50.5 }", &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { tick_ms = 50 }", &err), HG_EINVAL);
    ASSERT_EQ_INT(compile_err("return { [1] = function() end }", &err), HG_EINVAL);
    /* the check reads the table raw: a metatable neither adds members nor runs code */
    hg_script_t *mt = compile_ok("return setmetatable({}, {__index = function() while true do "
                                 "end end, __pairs = function() error('x') end})");
    ASSERT_EQ_INT(hg_script_tick_ms(mt), 0);
    hg_script_unref(mt);

    /* what a good table declares */
    hg_script_t *s = compile_ok("return { unknown = 'refuse', tick_ms = 50,\n"
                                "  on_tick = function(room, dt) end,\n"
                                "  messages = { move = function() end, ['chat.say'] = function() "
                                "end } }");
    ASSERT_EQ_INT(hg_script_relays_unknown(s), 0);
    ASSERT_EQ_INT(hg_script_tick_ms(s), 50);
    ASSERT_TRUE(hg_script_has_handler(s, "move"));
    ASSERT_TRUE(hg_script_has_handler(s, "chat.say"));
    ASSERT_FALSE(hg_script_has_handler(s, "jump"));
    hg_script_unref(s);
    s = compile_ok("return { on_tick = function() end }");
    ASSERT_EQ_INT(hg_script_relays_unknown(s), 1);
    ASSERT_EQ_INT(hg_script_tick_ms(s), HG_SCRIPT_TICK_DEFAULT_MS);
    hg_script_unref(s);
    s = compile_ok("return {}");
    ASSERT_EQ_INT(hg_script_tick_ms(s), 0);
    ASSERT_FALSE(hg_script_has_handler(s, "move"));
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- the sandbox ---- */

HG_TEST(the_sandbox_has_no_way_out)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(
        "local absent = { 'io', 'os', 'package', 'debug', 'coroutine', 'load', 'loadfile',\n"
        "  'dofile', 'require', 'warn' }\n"
        "return { messages = {\n"
        "  absent = function(room)\n"
        "    local found = {}\n"
        "    for _, n in ipairs(absent) do if _G[n] ~= nil then found[#found + 1] = n end end\n"
        "    if string.dump ~= nil then found[#found + 1] = 'string.dump' end\n"
        "    if ('').dump ~= nil then found[#found + 1] = ('').dump and 'string mt dump' end\n"
        "    room.broadcast('absent', found)\n"
        "  end,\n"
        "  present = function(room)\n"
        "    room.broadcast('present', { type(string.format), type(table.concat),\n"
        "      type(math.floor), type(utf8.char), type(pcall), type(setmetatable),\n"
        "      collectgarbage('count') > 0 })\n"
        "  end,\n"
        "  gc = function(room) collectgarbage('collect') end,\n"
        "  finalizer = function(room) setmetatable({}, { __gc = function() end }) end,\n"
        "  print = function(room) print('to stdout?', 1, nil, true, {}) end,\n"
        "} }");
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    hg_error_t err;
    ASSERT_EQ_INT(msg(r, "absent", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b absent {}\n"); /* an empty table is sent as {} */
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "present", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b present "
                         "[\"function\",\"function\",\"function\",\"function\",\"function\","
                         "\"function\",true]\n");
    ASSERT_EQ_INT(msg(r, "gc", NULL, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "only \"count\"");
    ASSERT_EQ_INT(msg(r, "finalizer", NULL, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "__gc");

    /* print writes nothing to stdout */
    char path[] = "/tmp/hg-script-stdout-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = msg(r, "print", NULL, &err);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    struct stat st;
    ASSERT_OK(fstat(fd, &st));
    close(fd);
    unlink(path);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_EQ_INT(st.st_size, 0);

    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- handlers ---- */

static const char *chat_src =
    "return {\n"
    "  unknown = 'refuse',\n"
    "  on_create = function(room, options)\n"
    "    room.state.max = options and options.max or 2\n"
    "    room.state.said = 0\n"
    "  end,\n"
    "  on_join = function(room, player)\n"
    "    if player == 'mallory' then return nil end\n" /* nil: allowed */
    "    if #room.players() >= room.state.max then return false, 'room is full' end\n"
    "    if player == 'eve' then return false end\n"
    "    room.broadcast('joined', { player = player })\n"
    "    return true\n"
    "  end,\n"
    "  on_leave = function(room, player) room.broadcast('left', { player = player }) end,\n"
    "  messages = {\n"
    "    say = function(room, player, data)\n"
    "      room.state.said = room.state.said + 1\n"
    "      room.broadcast('said', { from = player, text = data.text, n = room.state.said })\n"
    "    end,\n"
    "    whisper = function(room, player, data)\n"
    "      local ok = room.send(data.to, 'whispered', { from = player, text = data.text })\n"
    "      room.broadcast('whisper_ok', ok)\n"
    "    end,\n"
    "    boot = function(room, player, data) room.broadcast('kicked', room.kick(data.who, "
    "'bye')) end,\n"
    "    bye = function(room) room.close() end,\n"
    "    now = function(room) room.broadcast('now', { now = room.now(), id = room.id }) end,\n"
    "    fail = function(room) local x = nil\n return x.y end,\n"
    "    badtype = function(room) room.broadcast('no spaces', 1) end,\n"
    "  },\n"
    "}\n";

HG_TEST(handlers_run_by_type_and_call_the_host)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(chat_src);
    ASSERT_EQ_INT(hg_script_relays_unknown(s), 0);
    hg_script_room_t *r = NULL;
    hg_error_t err = {0};
    ASSERT_OK(hg_script_room_new(s, "room-1", NULL, &host, &f, "{\"max\": 3}", &r, &err));
    ASSERT_TRUE(hg_script_room_script(r) == s);

    ASSERT_EQ_INT(msg(r, "say", "{\"text\":\"hi\"}", &err), 1);
    ASSERT_EQ_INT(msg(r, "say", "{\"text\":\"again\"}", &err), 1);
    ASSERT_STR_EQ(f.log, "b said {\"from\":\"p1\",\"n\":1,\"text\":\"hi\"}\n"
                         "b said {\"from\":\"p1\",\"n\":2,\"text\":\"again\"}\n");
    fake_reset(&f);
    /* a type without a handler: 0, nothing run */
    ASSERT_EQ_INT(msg(r, "jump", "{}", &err), 0);
    ASSERT_EQ_INT(msg(r, "jump", "not json", &err), 0);
    ASSERT_STR_EQ(f.log, "");
    /* data that is not JSON for a handler that exists */
    ASSERT_EQ_INT(msg(r, "say", "{\"text\":", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "not valid JSON");
    /* an invalid type is refused before anything runs */
    ASSERT_EQ_INT(msg(r, "a b", NULL, &err), HG_EINVAL);

    /* send, kick, close, now, id */
    f.players[0] = "p1";
    f.players[1] = "p2";
    f.nplayers = 2;
    f.now = 1234567;
    ASSERT_EQ_INT(msg(r, "whisper", "{\"to\":\"p2\",\"text\":\"psst\"}", &err), 1);
    ASSERT_EQ_INT(msg(r, "whisper", "{\"to\":\"nobody\",\"text\":\"psst\"}", &err), 1);
    ASSERT_EQ_INT(msg(r, "boot", "{\"who\":\"p2\"}", &err), 1);
    ASSERT_EQ_INT(msg(r, "now", NULL, &err), 1);
    ASSERT_EQ_INT(msg(r, "bye", NULL, &err), 1);
    ASSERT_EQ_INT(f.closed, 1);
    ASSERT_STR_EQ(f.log, "s p2 whispered {\"from\":\"p1\",\"text\":\"psst\"}\n"
                         "b whisper_ok true\n"
                         "b whisper_ok false\n"
                         "k p2 bye\n"
                         "b kicked true\n"
                         "b now {\"id\":\"room-1\",\"now\":1234567}\n");
    fake_reset(&f);

    /* a Lua error names the handler and the line; the room goes on */
    ASSERT_EQ_INT(msg(r, "fail", NULL, &err), HG_EINVAL);
    ASSERT_EQ_INT(err.code, HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "handler fail: t:28: attempt to index");
    ASSERT_EQ_INT(msg(r, "badtype", NULL, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "message type");
    ASSERT_STR_EQ(f.log, "");
    ASSERT_EQ_INT(msg(r, "say", "{\"text\":\"still here\"}", &err), 1);
    ASSERT_CONTAINS(f.log, "\"n\":3");
    fake_reset(&f);

    /* on_leave */
    hg_script_room_leave(r, "p2");
    ASSERT_STR_EQ(f.log, "b left {\"player\":\"p2\"}\n");
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_TEST(on_join_allows_or_refuses_with_a_reason)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(chat_src);
    hg_script_room_t *r = room_ok(s, &f, 0, 0); /* no options: max 2 */
    hg_error_t err = {0};
    ASSERT_EQ_INT(hg_script_room_join(r, "p1", &err), 1);
    ASSERT_STR_EQ(f.log, "b joined {\"player\":\"p1\"}\n");
    f.players[0] = "p1";
    f.nplayers = 1;
    ASSERT_EQ_INT(hg_script_room_join(r, "mallory", &err), 1); /* nil allows */
    ASSERT_EQ_INT(hg_script_room_join(r, "eve", &err), 0);     /* false without a reason */
    ASSERT_EQ_INT(err.code, HG_EUNAUTHORIZED);
    ASSERT_STR_EQ(err.msg, "refused by the room script");
    f.players[1] = "p2";
    f.nplayers = 2;
    memset(&err, 0, sizeof(err));
    ASSERT_EQ_INT(hg_script_room_join(r, "p3", &err), 0);
    ASSERT_EQ_INT(err.code, HG_EUNAUTHORIZED);
    ASSERT_STR_EQ(err.msg, "room is full");
    hg_script_room_free(r);
    hg_script_unref(s);

    /* no on_join: everyone is allowed */
    s = compile_ok("return {}");
    r = room_ok(s, &f, 0, 0);
    ASSERT_EQ_INT(hg_script_room_join(r, "p1", &err), 1);
    hg_script_room_free(r);
    hg_script_unref(s);

    /* on_join that fails: < 0 */
    s = compile_ok("return { on_join = function(room, p) error('boom') end }");
    r = room_ok(s, &f, 0, 0);
    ASSERT_EQ_INT(hg_script_room_join(r, "p1", &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "on_join: t:1: boom");
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- limits ---- */

static const char *limits_src =
    "return { messages = {\n"
    "  spin = function(room) while true do end end,\n"
    "  swallow = function(room)\n"
    "    while true do pcall(function() while true do end end) end\n"
    "  end,\n"
    "  deep_swallow = function(room)\n"
    "    while true do pcall(function() while true do pcall(function() while true do end end)\n"
    "      end end) end\n"
    "  end,\n"
    "  bomb = function(room)\n"
    "    local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) end\n"
    "  end,\n"
    "  catch_bomb = function(room)\n"
    "    local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = {} end end)\n"
    "    room.broadcast('caught', ok)\n"
    "  end,\n"
    "  big_string = function(room) local s = string.rep('x', 1 << 30) end,\n"
    "  c_work = function(room) while true do local s = string.rep('y', 1 << 16) end end,\n"
    "  send_big = function(room, p, data)\n"
    "    local t = {} for i = 1, data.n do t[i] = 1 end room.broadcast('big', t)\n"
    "  end,\n"
    "  ok = function(room) room.state.n = (room.state.n or 0) + 1\n"
    "    room.broadcast('ok', room.state.n) end,\n"
    "} }\n";

HG_TEST(an_infinite_loop_is_stopped_and_the_room_goes_on)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(limits_src);
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    hg_error_t err;
    ASSERT_EQ_INT(msg(r, "spin", NULL, &err), HG_ELIMIT);
    ASSERT_EQ_INT(err.code, HG_ELIMIT);
    ASSERT_STR_EQ(err.msg, "handler spin ran past its instruction budget of 1000000");
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    /* pcall cannot swallow the stop, however deep */
    ASSERT_EQ_INT(msg(r, "swallow", NULL, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "instruction budget");
    ASSERT_EQ_INT(msg(r, "deep_swallow", NULL, &err), HG_ELIMIT);
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b ok 1\nb ok 2\n");
    hg_script_room_free(r);

    /* a small budget of the room's own */
    r = room_ok(s, &f, 0, 5000);
    ASSERT_EQ_INT(msg(r, "spin", NULL, &err), HG_ELIMIT);
    ASSERT_STR_EQ(err.msg, "handler spin ran past its instruction budget of 5000");
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    hg_script_room_free(r);

    /* building JSON for the host is charged to the budget */
    r = room_ok(s, &f, 0, 40000);
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "send_big", "{\"n\": 10}", &err), 1);
    ASSERT_EQ_INT(msg(r, "send_big", "{\"n\": 6000}", &err), HG_ELIMIT);
    ASSERT_STR_EQ(err.msg, "handler send_big ran past its instruction budget of 40000");
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b big [1,1,1,1,1,1,1,1,1,1]\nb ok 1\n"); /* nothing sent past it */
    hg_script_room_free(r);

    /* C work the instruction count does not see is stopped by the time backstop */
    r = room_ok(s, &f, 0, UINT64_MAX);
    ASSERT_EQ_INT(msg(r, "c_work", NULL, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "handler c_work ran past its time limit of 250 ms");
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_TEST(a_memory_bomb_is_stopped_and_the_room_goes_on)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(limits_src);
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    size_t before = hg_script_room_memory(r);
    ASSERT_TRUE(before > 0 && before < 256 * 1024);
    hg_error_t err;
    ASSERT_EQ_INT(msg(r, "bomb", NULL, &err), HG_ELIMIT);
    ASSERT_EQ_INT(err.code, HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "handler bomb: not enough memory");
    ASSERT_CONTAINS(err.msg, "8388608");
    /* the garbage is gone, and the room works */
    ASSERT_TRUE(hg_script_room_memory(r) < before + 64 * 1024);
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    ASSERT_EQ_INT(msg(r, "big_string", NULL, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "not enough memory");
    /* a script may catch its own allocation failure and go on */
    ASSERT_EQ_INT(msg(r, "catch_bomb", NULL, &err), 1);
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b ok 1\nb caught false\nb ok 2\n");
    ASSERT_TRUE(hg_script_room_memory(r) <= HG_SCRIPT_MEMORY_DEFAULT);
    hg_script_room_free(r);

    /* a smaller cap of the room's own */
    r = room_ok(s, &f, 1 << 20, 0);
    ASSERT_EQ_INT(msg(r, "bomb", NULL, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "1048576");
    ASSERT_TRUE(hg_script_room_memory(r) < before + 64 * 1024);
    ASSERT_EQ_INT(msg(r, "ok", NULL, &err), 1);
    hg_script_room_free(r);

    /* a cap too small for the script itself */
    hg_script_room_t *none = NULL;
    hg_script_limits_t tiny = {.memory = 8 * 1024};
    memset(&err, 0, sizeof(err));
    ASSERT_EQ_INT(hg_script_room_new(s, "x", &tiny, &host, &f, NULL, &none, &err), HG_ELIMIT);
    ASSERT_NULL(none);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- state and timers ---- */

HG_TEST(room_state_persists_and_timers_fire)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(
        "return { tick_ms = 50,\n"
        "  on_create = function(room) room.state.ticks = 0 end,\n"
        "  on_tick = function(room, dt) room.state.ticks = room.state.ticks + dt end,\n"
        "  messages = {\n"
        "    later = function(room, player, data)\n"
        "      local id = room.after(data.ms, function(room)\n"
        "        room.broadcast('fired', { ms = data.ms, ticks = room.state.ticks })\n"
        "      end)\n"
        "      room.broadcast('scheduled', id)\n"
        "    end,\n"
        "    many = function(room) for i = 1, 100 do room.after(10, function() end) end end,\n"
        "    bad = function(room) room.after(-1, function() end) end,\n"
        "  } }");
    ASSERT_EQ_INT(hg_script_tick_ms(s), 50);
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    hg_error_t err;
    ASSERT_EQ_INT(hg_script_room_tick(r, 50, &err), 1);
    ASSERT_EQ_INT(hg_script_room_tick(r, 70, &err), 1);
    ASSERT_EQ_INT(msg(r, "later", "{\"ms\": 250}", &err), 1);
    ASSERT_EQ_INT(msg(r, "later", "{\"ms\": 10}", &err), 1);
    ASSERT_EQ_INT(f.ntimers, 2);
    ASSERT_EQ_INT(f.timer_ms[0], 250);
    ASSERT_EQ_INT(f.timer_ms[1], 10);
    ASSERT_STR_EQ(f.log, "b scheduled 1\nb scheduled 2\n");
    fake_reset(&f);
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[1], &err), 1);
    ASSERT_EQ_INT(hg_script_room_tick(r, 1, &err), 1);
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[0], &err), 1);
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[0], &err), 0); /* fired already */
    ASSERT_EQ_INT(hg_script_room_timer(r, 999, &err), 0);
    ASSERT_STR_EQ(f.log, "b fired {\"ms\":10,\"ticks\":120}\nb fired {\"ms\":250,\"ticks\":121}\n");
    /* at most HG_SCRIPT_TIMERS_MAX pending */
    ASSERT_EQ_INT(msg(r, "many", NULL, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "64 timers are pending");
    ASSERT_EQ_INT(f.ntimers, 2 + HG_SCRIPT_TIMERS_MAX);
    ASSERT_EQ_INT(msg(r, "bad", NULL, &err), HG_EINVAL);
    /* firing frees a slot */
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[2], &err), 1);
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "later", "{\"ms\": 5}", &err), 1);
    ASSERT_STR_EQ(f.log, "b scheduled 67\n");
    hg_script_room_free(r);
    hg_script_unref(s);

    /* no on_tick: 0 */
    s = compile_ok("return {}");
    r = room_ok(s, &f, 0, 0);
    ASSERT_EQ_INT(hg_script_room_tick(r, 50, &err), 0);
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- JSON ---- */

static void assert_json_eq(const char *got, const char *want)
{
    json_t *a = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL),
           *b = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    if (!json_equal(a, b))
        HG_FAIL_("JSON differs: %s != %s", got, want);
    json_decref(a);
    json_decref(b);
}

/* The data of the one broadcast in f's log. */
static const char *broadcast_data(fake_t *f, const char *type)
{
    static char buf[16384];
    char prefix[80];
    snprintf(prefix, sizeof(prefix), "b %s ", type);
    ASSERT_TRUE(strncmp(f->log, prefix, strlen(prefix)) == 0);
    snprintf(buf, sizeof(buf), "%s", f->log + strlen(prefix));
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

HG_TEST(json_round_trips_and_unconvertible_values_are_refused)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *s = compile_ok(
        "return { messages = {\n"
        "  echo = function(room, player, data) room.broadcast('echo', data) end,\n"
        "  types = function(room, player, data)\n"
        "    room.broadcast('types', { type(data.i), math.type(data.i), math.type(data.f),\n"
        "      data.n == room.null, type(data.a), #data.a, data.a[3] == room.null,\n"
        "      data.missing == nil })\n"
        "  end,\n"
        "  fn = function(room) room.broadcast('x', { f = print }) end,\n"
        "  nan = function(room) room.broadcast('x', { 0/0 }) end,\n"
        "  inf = function(room) room.broadcast('x', math.huge) end,\n"
        "  cycle = function(room) local t = {} t.self = t room.broadcast('x', t) end,\n"
        "  holes = function(room) room.broadcast('x', { 1, nil, 3 }) end,\n"
        "  mixed = function(room) room.broadcast('x', { 1, a = 2 }) end,\n"
        "  boolkey = function(room) room.broadcast('x', { [true] = 1 }) end,\n"
        "  utf8 = function(room) room.broadcast('x', '\\xff') end,\n"
        "  deep = function(room) local t = {} for i = 1, 40 do t = { t } end\n"
        "    room.broadcast('x', t) end,\n"
        "  shared = function(room) local t = { 1 } room.broadcast('shared', { t, t }) end,\n"
        "  huge = function(room) local t = {} for i = 1, 70000 do t[i] = i end\n"
        "    room.broadcast('x', t) end,\n"
        "  nothing = function(room) room.broadcast('nothing') room.broadcast('null', room.null)\n"
        "  end,\n"
        "} }");
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    hg_error_t err;
    const char *in = "{\"a\":[1,2.5,null,{\"b\":\"str\",\"c\":true,\"d\":false}],"
                     "\"e\":{\"f\":-3,\"g\":1e-07,\"h\":-0.0,\"i\":1.0,\"big\":9007199254740993},"
                     "\"n\":null,\"s\":\"\\u00fcn\\u00ef \\\"q\\\" \\u0000nul\","
                     "\"nested\":[[[[[[]]]]]],\"empty\":{}}";
    ASSERT_EQ_INT(msg(r, "echo", in, &err), 1);
    /* an empty array comes back as {} (Lua cannot tell them apart); the rest exactly */
    const char *want = "{\"a\":[1,2.5,null,{\"b\":\"str\",\"c\":true,\"d\":false}],"
                       "\"e\":{\"f\":-3,\"g\":1e-07,\"h\":-0.0,\"i\":1.0,\"big\":9007199254740993},"
                       "\"n\":null,\"s\":\"\\u00fcn\\u00ef \\\"q\\\" \\u0000nul\","
                       "\"nested\":[[[[[{}]]]]],\"empty\":{}}";
    assert_json_eq(broadcast_data(&f, "echo"), want);
    /* integers stay integers and reals reals */
    ASSERT_CONTAINS(f.log, "\"i\":1.0");
    ASSERT_CONTAINS(f.log, "\"f\":-3,");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "echo", "[1,\"two\",null]", &err), 1);
    ASSERT_STR_EQ(f.log, "b echo [1,\"two\",null]\n");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "echo", "\"just a string\"", &err), 1);
    ASSERT_EQ_INT(msg(r, "echo", "null", &err), 1);
    ASSERT_EQ_INT(msg(r, "echo", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b echo \"just a string\"\nb echo null\nb echo null\n");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "types", "{\"i\":7,\"f\":7.0,\"n\":null,\"a\":[1,2,null]}", &err), 1);
    ASSERT_STR_EQ(f.log, "b types [\"number\",\"integer\",\"float\",true,\"table\",3,true,true]\n");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "nothing", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b nothing null\nb null null\n");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "shared", NULL, &err), 1); /* shared, not a cycle */
    ASSERT_STR_EQ(f.log, "b shared [[1],[1]]\n");
    fake_reset(&f);

    static const struct {
        const char *type, *why;
    } bad[] = {
        {"fn", "a function has no JSON form"},
        {"nan", "NaN"},
        {"inf", "NaN and infinities"},
        {"cycle", "cycle"},
        {"holes", "holes"},
        {"mixed", "mixes"},
        {"boolkey", "boolean key"},
        {"utf8", "UTF-8"},
        {"deep", "deeper than 32"},
        {"huge", "more than 65536 values"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ_INT(msg(r, bad[i].type, NULL, &err), HG_EINVAL);
        ASSERT_CONTAINS(err.msg, "room.broadcast: data cannot be sent as JSON");
        ASSERT_CONTAINS(err.msg, bad[i].why);
    }
    ASSERT_STR_EQ(f.log, "");

    /* data nested deeper than the limit is refused on the way in */
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    ASSERT_EQ_INT(msg(r, "echo", deep, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "nested deeper than 32");
    ASSERT_EQ_INT(msg(r, "echo", "{}", &err), 1);
    hg_script_room_free(r);
    hg_script_unref(s);

    /* on_create's options */
    s = compile_ok("return { on_create = function(room, o) room.broadcast('o', o) end }");
    hg_script_room_t *r2 = NULL;
    fake_reset(&f);
    ASSERT_OK(
        hg_script_room_new(s, "r", NULL, &host, &f, "{\"mode\":\"ffa\",\"n\":[1,2]}", &r2, &err));
    ASSERT_STR_EQ(f.log, "b o {\"mode\":\"ffa\",\"n\":[1,2]}\n");
    hg_script_room_free(r2);
    r2 = NULL;
    ASSERT_EQ_INT(hg_script_room_new(s, "r", NULL, &host, &f, "{nope", &r2, &err), HG_EINVAL);
    ASSERT_NULL(r2);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* ---- migration ---- */

static const char *v1_src = "return { messages = {\n"
                            "  add = function(room, player, data)\n"
                            "    room.state.n = (room.state.n or 0) + data.by\n"
                            "    room.state.names = room.state.names or {}\n"
                            "    table.insert(room.state.names, player)\n"
                            "    room.state.fn = function() end\n"
                            "    room.state.self = room.state\n"
                            "    room.state.nothing = room.null\n"
                            "    room.state.f = 0.5\n"
                            "    room.after(1000, function() room.broadcast('old_timer', 1) end)\n"
                            "  end,\n"
                            "  show = function(room) room.broadcast('v1', room.state.n) end,\n"
                            "} }";

HG_TEST(migrate_carries_state_and_calls_on_migrate)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *v1 = compile_ok(v1_src);
    hg_script_t *v2 = compile_ok(
        "return {\n"
        "  on_migrate = function(room, old)\n"
        "    room.state = old\n"
        "    room.state.version = 2\n"
        "    room.broadcast('migrated', { n = old.n, names = old.names, fn = old.fn == nil,\n"
        "      self = old.self == old, nothing = old.nothing == room.null, f = old.f })\n"
        "  end,\n"
        "  messages = { show = function(room)\n"
        "    room.broadcast('v2', { n = room.state.n, v = room.state.version }) end },\n"
        "}");
    hg_script_t *v3 =
        compile_ok("return { messages = { show = function(room)\n"
                   "  room.broadcast('v3', { n = room.state.n, v = room.state.version "
                   "}) end } }");
    hg_script_room_t *r = room_ok(v1, &f, 0, 0);
    hg_error_t err;
    ASSERT_EQ_INT(msg(r, "add", "{\"by\":5}", &err), 1);
    ASSERT_EQ_INT(msg(r, "add", "{\"by\":2}", &err), 1);
    ASSERT_EQ_INT(f.ntimers, 2);
    fake_reset(&f);
    ASSERT_OK(hg_script_room_migrate(r, v2, &err));
    ASSERT_TRUE(hg_script_room_script(r) == v2);
    ASSERT_STR_EQ(f.log, "b migrated {\"f\":0.5,\"fn\":true,\"n\":7,\"names\":[\"p1\",\"p1\"],"
                         "\"nothing\":true,\"self\":true}\n");
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "show", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b v2 {\"n\":7,\"v\":2}\n");
    /* the old version's timers were dropped */
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[0], &err), 0);
    ASSERT_EQ_INT(msg(r, "add", "{\"by\":1}", &err), 0); /* v2 has no add */

    /* without on_migrate, room.state is the old one */
    fake_reset(&f);
    ASSERT_OK(hg_script_room_migrate(r, v3, &err));
    ASSERT_EQ_INT(msg(r, "show", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b v3 {\"n\":7,\"v\":2}\n");
    hg_script_room_free(r);
    hg_script_unref(v1);
    hg_script_unref(v2);
    hg_script_unref(v3);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_TEST(migrate_to_a_broken_version_keeps_the_old_one)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_t *v1 = compile_ok(v1_src);
    /* compiles (its chunk is fine once), but fails in the room: on_migrate errs */
    hg_script_t *bad_migrate = compile_ok("return { on_migrate = function(room, old)\n"
                                          "  room.broadcast('half', 1)\n"
                                          "  error('cannot read this state') end }");
    hg_script_t *spin_migrate =
        compile_ok("return { on_migrate = function(room, old) while true do end end }");
    /* its chunk fits the default memory cap (compile) but not a 1 MiB room */
    hg_script_t *fat = compile_ok("local t = {} for i = 1, 3000 do t[i] = string.rep('x', 1000) "
                                  "end\nreturn { messages = { fat = function() return t end } }");
    hg_script_room_t *r = room_ok(v1, &f, 0, 0);
    hg_error_t err;
    ASSERT_EQ_INT(msg(r, "add", "{\"by\":3}", &err), 1);

    ASSERT_EQ_INT(hg_script_room_migrate(r, bad_migrate, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "on_migrate: t:3: cannot read this state");
    ASSERT_EQ_INT(hg_script_room_migrate(r, spin_migrate, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "on_migrate ran past its instruction budget");
    ASSERT_TRUE(hg_script_room_script(r) == v1);
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r, "show", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b v1 3\n");
    /* the old version's timer still fires */
    fake_reset(&f);
    ASSERT_EQ_INT(hg_script_room_timer(r, f.timer_ids[0], &err), 1);
    ASSERT_STR_EQ(f.log, "b old_timer 1\n");

    /* a state too deep to carry is refused, and nothing changes */
    hg_script_t *deep = compile_ok("return { messages = { deepen = function(room)\n"
                                   "  local t = {} for i = 1, 150 do t = { t } end\n"
                                   "  room.state.deep = t end } }");
    hg_script_room_t *r2 = room_ok(deep, &f, 0, 0);
    ASSERT_EQ_INT(msg(r2, "deepen", NULL, &err), 1);
    ASSERT_EQ_INT(hg_script_room_migrate(r2, v1, &err), HG_EINVAL);
    ASSERT_CONTAINS(err.msg, "nested deeper than 100");
    ASSERT_TRUE(hg_script_room_script(r2) == deep);
    hg_script_room_free(r2);

    /* a version whose chunk fails in the room: the room's memory cap */
    r2 = room_ok(v1, &f, 1 << 20, 0);
    ASSERT_EQ_INT(msg(r2, "add", "{\"by\":4}", &err), 1);
    ASSERT_EQ_INT(hg_script_room_migrate(r2, fat, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "script t: not enough memory");
    ASSERT_TRUE(hg_script_room_script(r2) == v1);
    fake_reset(&f);
    ASSERT_EQ_INT(msg(r2, "show", NULL, &err), 1);
    ASSERT_STR_EQ(f.log, "b v1 4\n");
    hg_script_room_free(r2);
    hg_script_room_free(r);
    hg_script_unref(v1);
    hg_script_unref(bad_migrate);
    hg_script_unref(spin_migrate);
    hg_script_unref(fat);
    hg_script_unref(deep);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

/* A host callback that re-enters the room (kick -> on_leave), as the rooms module may. */
static hg_script_room_t *reenter_room;

static int f_kick_reenter(void *ud, const char *player, const char *reason)
{
    f_kick(ud, player, reason);
    hg_script_room_leave(reenter_room, player);
    hg_error_t err;
    /* migrate from inside a call is refused */
    ASSERT_EQ_INT(hg_script_room_migrate(reenter_room,
                                         (hg_script_t *)hg_script_room_script(reenter_room), &err),
                  HG_ECONFLICT);
    return 0;
}

HG_TEST(host_callbacks_may_reenter_the_room)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_script_host_t h = host;
    h.kick = f_kick_reenter;
    hg_script_t *s =
        compile_ok("return {\n"
                   "  on_leave = function(room, p) room.broadcast('left', p) end,\n"
                   "  messages = {\n"
                   "    boot = function(room, player, data) room.kick(data, 'out')\n"
                   "      room.broadcast('after', 1) end,\n"
                   "    boot_spin = function(room, player, data) room.kick(data, 'out')\n"
                   "      while true do end end,\n"
                   "  } }");
    hg_error_t err = {0};
    ASSERT_OK(hg_script_room_new(s, "r", NULL, &h, &f, NULL, &reenter_room, &err));
    ASSERT_EQ_INT(msg(reenter_room, "boot", "\"p2\"", &err), 1);
    ASSERT_STR_EQ(f.log, "k p2 out\nb left \"p2\"\nb after 1\n");
    ASSERT_EQ_INT(msg(reenter_room, "boot_spin", "\"p3\"", &err), HG_ELIMIT);
    hg_script_room_free(reenter_room);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_TEST(on_create_request_decides_who_may_create_rooms)
{
    size_t before = hg_alloc_used();
    hg_error_t err;
    hg_script_t *none = compile_ok("return { messages = {} }");
    ASSERT_EQ_INT(hg_script_create_request(none, "p1", NULL, &err), 0); /* no hook: nobody */
    ASSERT_EQ_INT(err.code, HG_EUNAUTHORIZED);
    hg_script_unref(none);
    hg_script_t *s = compile_ok(
        "return { on_create_request = function(room, player, options)\n"
        "  if options and options.mode == 'ranked' then return false, 'ranked rooms are ours' end\n"
        "  room.broadcast('x', {}) -- reaches nothing: no host\n"
        "  return player ~= 'banned'\n"
        "end }");
    ASSERT_EQ_INT(hg_script_create_request(s, "p1", "{\"mode\":\"casual\"}", &err), 1);
    ASSERT_EQ_INT(hg_script_create_request(s, "banned", NULL, &err), 0);
    ASSERT_EQ_INT(hg_script_create_request(s, "p1", "{\"mode\":\"ranked\"}", &err), 0);
    ASSERT_TRUE(strstr(hg_error_message(&err), "ranked rooms are ours") != NULL);
    ASSERT_EQ_INT(hg_script_create_request(s, "p1", "not json", &err), HG_EINVAL);
    hg_script_unref(s);
    hg_script_t *loop =
        compile_ok("return { on_create_request = function() while true do end end }");
    ASSERT_EQ_INT(hg_script_create_request(loop, "p1", NULL, &err), HG_ELIMIT);
    hg_script_unref(loop);
    ASSERT_EQ_INT(hg_alloc_used(), before);
}

HG_TEST(service_calls_need_their_grant_and_answer_through_callbacks)
{
    size_t before = hg_alloc_used();
    fake_t f = {0};
    hg_error_t err;
    const char *src =
        "return { messages = {\n"
        "  win = function(room, player, data)\n"
        "    room.leaderboard_submit({board = 'weekly', player = player, score = data.score},\n"
        "      function(room, res, e)\n"
        "        if e then room.broadcast('failed', e) else room.broadcast('ranked', res) end\n"
        "      end)\n"
        "  end,\n"
        "  buy = function(room, player) room.purchase({player = player, sku = 'sword', quantity = "
        "1,\n"
        "    idempotency_key = 'k1'}) end,\n"
        "  top = function(room) room.leaderboard_top({board = 'weekly'}) end,\n"
        "  many = function(room) for i = 1, 100 do room.leaderboard_submit({board = 'b', score = "
        "i}) "
        "end end,\n"
        "} }";
    hg_script_t *s = compile_ok(src);
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    /* no grants: each call raises, naming the grant */
    ASSERT_TRUE(msg(r, "win", "{\"score\":5}", &err) < 0);
    ASSERT_CONTAINS(hg_error_message(&err), "needs the grant leaderboards:Submit");
    ASSERT_TRUE(msg(r, "buy", NULL, &err) < 0);
    ASSERT_CONTAINS(hg_error_message(&err), "wallet:Purchase");
    hg_script_room_free(r);

    hg_script_set_grants(s, HG_SCRIPT_GRANT_LB_SUBMIT | HG_SCRIPT_GRANT_LB_READ);
    ASSERT_EQ_INT(hg_script_grants(s), HG_SCRIPT_GRANT_LB_SUBMIT | HG_SCRIPT_GRANT_LB_READ);
    fake_reset(&f);
    r = room_ok(s, &f, 0, 0);
    ASSERT_EQ_INT(msg(r, "win", "{\"score\":5}", &err), 1);
    ASSERT_CONTAINS(f.log, "v leaderboard_submit {\"board\":\"weekly\",\"player\":\"p1\","
                           "\"score\":5} 1\n");
    ASSERT_TRUE(strstr(f.log, "b ranked") == NULL);      /* nothing until the answer */
    ASSERT_EQ_INT(msg(r, "top", NULL, &err), HG_EINVAL); /* a read needs its callback */
    ASSERT_CONTAINS(hg_error_message(&err), "function expected");
    ASSERT_EQ_INT(hg_script_room_reply(r, 1, "{\"rank\":3}", NULL, NULL, &err), 1);
    ASSERT_CONTAINS(f.log, "b ranked {\"rank\":3}\n");
    ASSERT_EQ_INT(hg_script_room_reply(r, 1, "{}", NULL, NULL, &err), 0); /* answered once */
    ASSERT_EQ_INT(msg(r, "win", "{\"score\":7}", &err), 1);
    ASSERT_EQ_INT(hg_script_room_reply(r, 2, NULL, "limit_exceeded", "board full", &err), 1);
    ASSERT_CONTAINS(f.log, "b failed {\"code\":\"limit_exceeded\",\"message\":\"board full\"}");
    ASSERT_TRUE(msg(r, "buy", NULL, &err) < 0); /* not granted */
    /* pending calls are bounded */
    ASSERT_TRUE(msg(r, "many", NULL, &err) < 0);
    ASSERT_CONTAINS(hg_error_message(&err), "service calls are pending already");
    /* a write without a callback: answered quietly, and its slot is free again */
    for (uint64_t id = 3; id < 3 + HG_SCRIPT_CALLS_MAX; id++)
        ASSERT_EQ_INT(hg_script_room_reply(r, id, "{}", NULL, NULL, &err), 0);
    ASSERT_EQ_INT(msg(r, "win", "{\"score\":9}", &err), 1);
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_script_grant_parse("Wallet:credit"), HG_SCRIPT_GRANT_WALLET_CREDIT);
    ASSERT_EQ_INT(hg_script_grant_parse("rooms:Deploy"), 0);
    ASSERT_EQ_INT(hg_alloc_used(), before);
}

HG_TEST(scripts_cannot_send_the_rooms_own_types)
{
    size_t before = hg_alloc_used();
    fake_t f = {0};
    hg_error_t err;
    hg_script_t *s = compile_ok("return { messages = {\n"
                                "  a = function(room, p) room.broadcast('error', {}) end,\n"
                                "  b = function(room, p) room.send(p, 'welcome', {}) end,\n"
                                "  c = function(room, p) room.broadcast('refused', {}) end } }");
    hg_script_room_t *r = room_ok(s, &f, 0, 0);
    ASSERT_TRUE(msg(r, "a", NULL, &err) < 0);
    ASSERT_CONTAINS(hg_error_message(&err), "the room's own types");
    ASSERT_TRUE(msg(r, "b", NULL, &err) < 0);
    ASSERT_EQ_INT(msg(r, "c", NULL, &err), 1);
    ASSERT_CONTAINS(f.log, "b refused {}");
    ASSERT_TRUE(strstr(f.log, "b error") == NULL);
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), before);
}

/* ---- rooms/luajson.c against jansson ---- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* n random bytes of UTF-8 text, drawn from what needs care: control characters, quotes,
 * backslashes, DEL, 2-, 3- and 4-byte characters, NUL unless no_nul. */
static size_t rnd_text(char *out, size_t cap, int no_nul)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\b",
                                         "\f",
                                         "\n",
                                         "\r",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xef\xbf\xbf",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "e",
                                         "E",
                                         ".",
                                         "[",
                                         "{",
                                         "\0"};
    size_t n = 0, want = rnd() % 12, npieces = sizeof(pieces) / sizeof(pieces[0]);
    for (size_t i = 0; i < want; i++) {
        size_t k = rnd() % (no_nul ? npieces - 1 : npieces);
        size_t len = k == npieces - 1 ? 1 : strlen(pieces[k]);
        if (n + len > cap)
            break;
        memcpy(out + n, pieces[k], len);
        n += len;
    }
    return n;
}

static double rnd_real(void)
{
    switch (rnd() % 6) {
    case 0: return (double)(int64_t)rnd() / 1024.0;
    case 1: return -0.0;
    case 2: return 1e-7 * (double)(rnd() % 1000);
    case 3: return 1e300 * (double)(rnd() % 100);
    default: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof(d));
        return isfinite(d) ? d : 0.5;
    }
    }
}

static json_t *rnd_json(int depth)
{
    char text[64];
    switch (rnd() % (depth >= 5 ? 6 : 8)) {
    case 0: return json_null();
    case 1: return json_boolean(rnd() & 1);
    case 2: {
        static const json_int_t edges[] = {0, -1, 1, INT64_MAX, INT64_MIN, 9007199254740993};
        return json_integer(rnd() & 1 ? (json_int_t)rnd() : edges[rnd() % 6]);
    }
    case 3: return json_real(rnd_real());
    case 4:
    case 5: return json_stringn(text, rnd_text(text, sizeof(text), 0));
    case 6: {
        json_t *a = json_array();
        size_t n = rnd() % 8 == 0 ? rnd() % 40 : rnd() % 5; /* past the decoder's batch of 16 */
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, rnd_json(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = rnd() % 8 == 0 ? rnd() % 40 : rnd() % 5;
        for (size_t i = 0; i < n; i++) {
            size_t kn = rnd_text(text, sizeof(text) - 1, 1);
            json_object_setn_new(o, text, kn, rnd_json(depth + 1));
        }
        return o;
    }
    }
}

/* j with every empty array made an empty object: what a Lua table can say */
static void empty_arrays_as_objects(json_t *j)
{
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *v = json_array_get(j, i);
            if (json_is_array(v) && json_array_size(v) == 0)
                json_array_set_new(j, i, json_object());
            else
                empty_arrays_as_objects(v);
        }
    } else if (json_is_object(j)) {
        const char *k;
        size_t kn;
        json_t *v;
        void *tmp;
        json_object_keylen_foreach_safe(j, tmp, k, kn, v)
        {
            if (json_is_array(v) && json_array_size(v) == 0)
                json_object_setn_new(j, k, kn, json_object());
            else
                empty_arrays_as_objects(v);
        }
    }
}

/* 1 when the Lua value at idx is what jansson read: same types, integers as integers, reals as
 * floats bit for bit, null as the light userdata NULL, the same keys and elements. */
static int lua_is_json(lua_State *L, int idx, const json_t *j)
{
    idx = lua_absindex(L, idx);
    switch (json_typeof(j)) {
    case JSON_NULL: return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
    case JSON_TRUE: return lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx);
    case JSON_FALSE: return lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx);
    case JSON_INTEGER:
        return lua_isinteger(L, idx) && lua_tointeger(L, idx) == json_integer_value(j);
    case JSON_REAL: {
        double a = json_real_value(j), b = lua_tonumber(L, idx);
        return lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx) &&
               memcmp(&a, &b, sizeof(a)) == 0;
    }
    case JSON_STRING: {
        size_t n;
        const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
        return s != NULL && n == json_string_length(j) && memcmp(s, json_string_value(j), n) == 0;
    }
    case JSON_ARRAY: {
        if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != json_array_size(j))
            return 0;
        for (size_t i = 0; i < json_array_size(j); i++) {
            lua_rawgeti(L, idx, (lua_Integer)i + 1);
            int ok = lua_is_json(L, -1, json_array_get(j, i));
            lua_pop(L, 1);
            if (!ok)
                return 0;
        }
        return 1;
    }
    case JSON_OBJECT: {
        if (lua_type(L, idx) != LUA_TTABLE)
            return 0;
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            n++;
        }
        if (n != json_object_size(j))
            return 0;
        const char *k;
        size_t kn;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, k, kn, v)
        {
            lua_pushlstring(L, k, kn);
            lua_rawget(L, idx);
            int ok = lua_is_json(L, -1, v);
            lua_pop(L, 1);
            if (!ok)
                return 0;
        }
        return 1;
    }
    }
    return 0;
}

static lua_State *bare_state(void)
{
    lua_State *L = luaL_newstate();
    ASSERT_NOT_NULL(L);
    return L;
}

HG_TEST(luajson_reads_and_writes_what_jansson_does)
{
    lua_State *L = bare_state();
    char why[160];
    static const size_t dump_flags[] = {JSON_COMPACT, JSON_INDENT(2), JSON_ENSURE_ASCII,
                                        JSON_COMPACT | JSON_SORT_KEYS};
    for (int i = 0; i < 4000; i++) {
        json_t *gen = rnd_json(0);
        /* the text a client might send: any layout, \u escapes (surrogate pairs too) or not */
        char *text = json_dumps(gen, dump_flags[i % 4] | JSON_ENCODE_ANY);
        ASSERT_NOT_NULL(text);
        json_error_t je;
        json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (j == NULL)
            HG_FAIL_("jansson refused its own text %s: %s", text, je.text);
        /* decoder: the same value jansson reads; the checking mode agrees */
        ASSERT_EQ_INT(hg_luajson_decode(NULL, text, strlen(text), 32, why, sizeof(why)), 0);
        if (hg_luajson_decode(L, text, strlen(text), 32, why, sizeof(why)) != 0)
            HG_FAIL_("refused %s: %s", text, why);
        ASSERT_EQ_INT(lua_gettop(L), 1);
        if (!lua_is_json(L, 1, j))
            HG_FAIL_("read differently from jansson: %s", text);
        /* writer: byte for byte what json_dumps writes, sorted (empty arrays being {}) */
        empty_arrays_as_objects(j);
        json_t *top = json_is_array(j) && json_array_size(j) == 0 ? json_object() : json_incref(j);
        char *want = json_dumps(top, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        hg_luajson_buf_t b;
        size_t values = 0;
        ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 65536, &values, why, sizeof(why)), 0);
        if (strcmp(b.text, want) != 0 || strlen(b.text) != b.len)
            HG_FAIL_("written\n  %s\nnot as jansson writes it\n  %s", b.text, want);
        ASSERT_TRUE(values > 0);
        lua_settop(L, 0);
        free(want);
        json_decref(top);
        json_decref(j);
        json_decref(gen);
        free(text);
    }
    lua_close(L);
}

/* Build a random Lua value straight from C (keys of any UTF-8 bytes, integers and doubles over
 * their whole range) and, beside it, the jansson tree the old path built from it. */
static json_t *rnd_lua(lua_State *L, int depth)
{
    char text[64];
    luaL_checkstack(L, 4, "test");
    switch (rnd() % (depth >= 5 ? 5 : 7)) {
    case 0:
        if (rnd() & 1)
            lua_pushnil(L);
        else
            lua_pushlightuserdata(L, NULL);
        return json_null();
    case 1: {
        int b = (int)(rnd() & 1);
        lua_pushboolean(L, b);
        return json_boolean(b);
    }
    case 2: {
        lua_Integer v = (lua_Integer)rnd();
        lua_pushinteger(L, v);
        return json_integer(v);
    }
    case 3: {
        double d = rnd_real();
        lua_pushnumber(L, d);
        return json_real(d);
    }
    case 4: {
        size_t n = rnd_text(text, sizeof(text), 0);
        lua_pushlstring(L, text, n);
        return json_stringn(text, n);
    }
    case 5: {
        size_t n = 1 + (rnd() % 8 == 0 ? rnd() % 40 : rnd() % 5);
        json_t *a = json_array();
        lua_createtable(L, 0, 0);
        for (size_t i = 0; i < n; i++) {
            json_t *v = rnd_lua(L, depth + 1);
            if (json_is_null(v) && lua_isnil(L, -1)) { /* nil would make a hole: room.null */
                lua_pop(L, 1);
                lua_pushlightuserdata(L, NULL);
            }
            lua_rawseti(L, -2, (lua_Integer)i + 1);
            json_array_append_new(a, v);
        }
        return a;
    }
    default: {
        size_t n = rnd() % 8 == 0 ? rnd() % 50 : rnd() % 5; /* past the 32 sorted on the C stack */
        json_t *o = json_object();
        lua_createtable(L, 0, 0);
        for (size_t i = 0; i < n; i++) {
            size_t kn = rnd_text(text, sizeof(text), 0); /* NUL in keys too: jansson takes them */
            lua_pushlstring(L, text, kn);
            json_t *v = rnd_lua(L, depth + 1);
            if (lua_isnil(L, -1)) { /* a nil value is no member */
                lua_pop(L, 2);
                json_decref(v);
                continue;
            }
            lua_rawset(L, -3);
            json_object_setn_new(o, text, kn, v);
        }
        return o;
    }
    }
}

HG_TEST(luajson_writes_lua_values_as_jansson_does)
{
    lua_State *L = bare_state();
    char why[160];
    for (int i = 0; i < 4000; i++) {
        json_t *j = rnd_lua(L, 0);
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        hg_luajson_buf_t b;
        size_t values = 0;
        if (hg_luajson_write(L, 1, &b, 32, 65536, &values, why, sizeof(why)) != 0)
            HG_FAIL_("refused %s: %s", want ? want : "(null)", why);
        if (want == NULL || strcmp(b.text, want) != 0)
            HG_FAIL_("written\n  %s\nnot as jansson writes it\n  %s", b.text,
                     want ? want : "(null)");
        /* and it reads back as the same value (but keys holding NUL: refused, as by jansson);
         * the text's storage stays on the stack meanwhile */
        if (hg_luajson_decode(L, b.text, b.len, 32, why, sizeof(why)) == 0) {
            if (!lua_is_json(L, -1, j))
                HG_FAIL_("did not read back: %s", b.text);
        } else {
            ASSERT_CONTAINS(why, "an object key holds \\u0000");
        }
        lua_settop(L, 0);
        free(want);
        json_decref(j);
    }
    lua_close(L);
}

static int p_decode(lua_State *L)
{
    const char *t = lua_touserdata(L, 1);
    char *why = lua_touserdata(L, 2);
    lua_pushinteger(L, hg_luajson_decode(L, t, strlen(t), 32, why, 160));
    return 2;
}

HG_TEST(luajson_refuses_what_is_not_json)
{
    lua_State *L = bare_state();
    char why[160];
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "a value is missing at byte 0"},
        {"  ", "a value is missing at byte 2"},
        {"[1,2", "',' or ']' must follow an element at byte 4"},
        {"[1,]", "not a JSON value at byte 3"},
        {"[1 2]", "',' or ']'"},
        {"{\"a\":1,}", "an object key must be a string at byte 7"},
        {"{\"a\" 1}", "':' must follow an object key"},
        {"{\"a\":1 \"b\":2}", "',' or '}' must follow a member"},
        {"{1:2}", "an object key must be a string"},
        {"01", "more text follows the value at byte 1"},
        {"1 2", "more text follows the value"},
        {"-", "not a JSON value"},
        {"+1", "not a JSON value"},
        {".5", "not a JSON value"},
        {"1.", "not a JSON value"},
        {"1e", "not a JSON value"},
        {"tru", "not a JSON value"},
        {"nul", "not a JSON value"},
        {"NaN", "not a JSON value"},
        {"\"abc", "a string is cut short"},
        {"\"\\x\"", "a bad escape"},
        {"\"\\u12\"", "a bad escape"},
        {"\"\\ud800\"", "a bad escape"},        /* an unpaired surrogate */
        {"\"\\udc00\\ud800\"", "a bad escape"}, /* a low one first */
        {"\"a\x01\"", "a control character"},   /* raw control character */
        {"\"\xff\"", "not UTF-8"},              /* not a lead byte */
        {"\"\xc0\x80\"", "not UTF-8"},          /* overlong NUL */
        {"\"\xe0\x80\xaf\"", "not UTF-8"},      /* overlong '/' */
        {"\"\xed\xa0\x80\"", "not UTF-8"},      /* a surrogate, raw */
        {"\"\xf4\x90\x80\x80\"", "not UTF-8"},  /* past U+10FFFF */
        {"\"\xe2\x82\"", "not UTF-8"},          /* cut short */
        {"\"\x80\"", "not UTF-8"},              /* a lone continuation byte */
        {"{\"a\\u0000b\":1}", "an object key holds \\u0000"},
        {"1e400", "a number is too large for a double"},
        {"-1e400", "a number is too large for a double"},
        {"[1,\xc3\xa9]", "not a JSON value at byte 3"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i].text);
        json_t *j = json_loadb(bad[i].text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (j != NULL)
            HG_FAIL_("jansson takes %s: the case is wrong", bad[i].text);
        if (hg_luajson_decode(L, bad[i].text, n, 32, why, sizeof(why)) != -1)
            HG_FAIL_("took %s", bad[i].text);
        ASSERT_EQ_INT(lua_gettop(L), 0); /* nothing left pushed */
        ASSERT_CONTAINS(why, "is not valid JSON: ");
        ASSERT_CONTAINS(why, bad[i].why);
        ASSERT_EQ_INT(hg_luajson_decode(NULL, bad[i].text, n, 32, why, sizeof(why)), -1);
        ASSERT_CONTAINS(why, bad[i].why);
    }
    /* a number past what a double holds, written as an integer: refused too */
    char big[420] = "1";
    memset(big + 1, '0', 400);
    big[401] = '\0';
    ASSERT_EQ_INT(hg_luajson_decode(L, big, strlen(big), 32, why, sizeof(why)), -1);
    ASSERT_CONTAINS(why, "too large for a double");
    ASSERT_EQ_INT(hg_luajson_decode(NULL, big, strlen(big), 32, why, sizeof(why)), -1);
    /* the text is len bytes: what follows is not read */
    ASSERT_EQ_INT(hg_luajson_decode(L, "[1]]", 3, 32, why, sizeof(why)), 0);
    ASSERT_EQ_INT(hg_luajson_decode(L, "12345", 2, 32, why, sizeof(why)), 0);
    ASSERT_EQ_INT(lua_tointeger(L, -1), 12);
    ASSERT_EQ_INT(hg_luajson_decode(L, "1.5e3", 3, 32, why, sizeof(why)), 0);
    ASSERT_TRUE(lua_tonumber(L, -1) == 1.5);
    lua_settop(L, 0);

    /* depth: 32 arrays inside one another are read; 33 raise inside a protected call, and are
     * refused when only checked */
    char deep[80];
    for (int n = 32; n <= 33; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = '\0';
        lua_pushcfunction(L, p_decode);
        lua_pushlightuserdata(L, deep);
        lua_pushlightuserdata(L, why);
        int st = lua_pcall(L, 2, 2, 0);
        if (n == 32) {
            ASSERT_EQ_INT(st, LUA_OK);
            ASSERT_EQ_INT(lua_tointeger(L, -1), 0);
            ASSERT_EQ_INT(hg_luajson_decode(NULL, deep, strlen(deep), 32, why, sizeof(why)), 0);
        } else {
            ASSERT_EQ_INT(st, LUA_ERRRUN);
            ASSERT_STR_EQ(lua_tostring(L, -1), "data is nested deeper than 32");
            ASSERT_EQ_INT(hg_luajson_decode(NULL, deep, strlen(deep), 32, why, sizeof(why)), -1);
            ASSERT_STR_EQ(why, "is nested deeper than 32");
        }
        lua_settop(L, 0);
    }
    lua_close(L);
}

HG_TEST(luajson_reads_numbers_strings_and_keys_as_documented)
{
    lua_State *L = bare_state();
    char why[160];
#define READ(t) ASSERT_EQ_INT(hg_luajson_decode(L, t, strlen(t), 32, why, sizeof(why)), 0)
    READ("9223372036854775807");
    ASSERT_TRUE(lua_isinteger(L, -1) && lua_tointeger(L, -1) == LUA_MAXINTEGER);
    READ("-9223372036854775808");
    ASSERT_TRUE(lua_isinteger(L, -1) && lua_tointeger(L, -1) == LUA_MININTEGER);
    /* an integer no Lua integer holds is read as a float (jansson refuses it: "too big") */
    READ("9223372036854775808");
    ASSERT_TRUE(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 9223372036854775808.0);
    READ("-9223372036854775809");
    ASSERT_TRUE(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == -9223372036854775808.0);
    READ("123456789012345678901234567890");
    ASSERT_TRUE(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 1.2345678901234568e29);
    READ("-0");
    ASSERT_TRUE(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 0);
    READ("-0.0");
    ASSERT_TRUE(!lua_isinteger(L, -1) && signbit(lua_tonumber(L, -1)));
    READ("1E2");
    ASSERT_TRUE(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 100.0);
    READ("1e-400"); /* underflow: 0, as jansson reads it */
    ASSERT_TRUE(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 0.0);
    /* a number of more than 64 characters goes through Lua memory for strtod */
    const char *longnum =
        "0.000000000000000000000000000000000000000000000000000000000000000000000125";
    READ(longnum);
    ASSERT_TRUE(strlen(longnum) > 64 && lua_tonumber(L, -1) == strtod(longnum, NULL));
    /* "\u0000" in a string value (not in a key), and escapes of every kind */
    READ("\"a\\u0000b\\n\\\"\\\\\\/\\b\\f\\r\\t\\u00e9\\ud83d\\ude00\"");
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    ASSERT_EQ_INT(n, 17);
    ASSERT_TRUE(memcmp(s, "a\0b\n\"\\/\b\f\r\t\xc3\xa9\xf0\x9f\x98\x80", 17) == 0);
    READ(" \t\r\n[ ] ");
    ASSERT_TRUE(lua_istable(L, -1) && lua_rawlen(L, -1) == 0);
    READ("null");
    ASSERT_TRUE(lua_islightuserdata(L, -1) && lua_touserdata(L, -1) == NULL);
    /* a repeated key keeps its last value, across the decoder's batches of 16 too */
    char obj[1024] = "{\"k\":0";
    for (int i = 0; i < 40; i++)
        snprintf(obj + strlen(obj), sizeof(obj) - strlen(obj), ",\"k%d\":%d", i, i);
    strcat(obj, ",\"k\":99,\"k3\":-3}");
    READ(obj);
    lua_getfield(L, -1, "k");
    ASSERT_EQ_INT(lua_tointeger(L, -1), 99);
    lua_getfield(L, -2, "k3");
    ASSERT_EQ_INT(lua_tointeger(L, -1), -3);
    lua_getfield(L, -3, "k39");
    ASSERT_EQ_INT(lua_tointeger(L, -1), 39);
    lua_pop(L, 3);
    /* a long array, in order */
    char arr[1024] = "[0";
    for (int i = 1; i < 100; i++)
        snprintf(arr + strlen(arr), sizeof(arr) - strlen(arr), ",%d", i);
    strcat(arr, "]");
    READ(arr);
    ASSERT_EQ_INT(lua_rawlen(L, -1), 100);
    for (int i = 1; i <= 100; i++) {
        lua_rawgeti(L, -1, i);
        ASSERT_EQ_INT(lua_tointeger(L, -1), i - 1);
        lua_pop(L, 1);
    }
#undef READ
    lua_close(L);
}

HG_TEST(luajson_refuses_what_has_no_json_form)
{
    lua_State *L = bare_state();
    char why[160];
    hg_luajson_buf_t b;
    size_t values;
#define REFUSED(push, max, want)                                                                   \
    do {                                                                                           \
        lua_settop(L, 0);                                                                          \
        push;                                                                                      \
        ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, max, &values, why, sizeof(why)), -1);         \
        ASSERT_CONTAINS(why, want);                                                                \
    } while (0)
    REFUSED(lua_pushcfunction(L, p_decode), 10, "a function has no JSON form");
    REFUSED(lua_newthread(L), 10, "a thread has no JSON form");
    REFUSED(lua_newuserdatauv(L, 8, 0), 10, "a userdata has no JSON form");
    REFUSED(lua_pushlightuserdata(L, why), 10, "a userdata has no JSON form");
    REFUSED(lua_pushnumber(L, NAN), 10, "NaN and infinities");
    REFUSED(lua_pushnumber(L, -HUGE_VAL), 10, "NaN and infinities");
    REFUSED(lua_pushlstring(L, "a\xff", 2), 10, "a string is not valid UTF-8");
    REFUSED(lua_pushlstring(L, "\xed\xa0\x80", 3), 10, "a string is not valid UTF-8");
    REFUSED((lua_newtable(L), lua_pushinteger(L, 1), lua_setfield(L, -2, "\xc0\x80")), 10,
            "a key is not valid UTF-8");
    REFUSED((lua_newtable(L), lua_pushinteger(L, 1), lua_rawseti(L, -2, 0)), 10,
            "a non-positive or fractional number key");
    REFUSED((lua_newtable(L), lua_pushnumber(L, 1.5), lua_pushinteger(L, 1), lua_rawset(L, -3)), 10,
            "a non-positive or fractional number key");
    REFUSED((lua_newtable(L), lua_pushboolean(L, 1), lua_pushinteger(L, 1), lua_rawset(L, -3)), 10,
            "a boolean key");
    REFUSED((lua_newtable(L), lua_pushinteger(L, 1), lua_rawseti(L, -2, 1), lua_pushinteger(L, 1),
             lua_setfield(L, -2, "a")),
            10, "mixes string keys and array indices");
    REFUSED((lua_newtable(L), lua_pushinteger(L, 1), lua_rawseti(L, -2, 2)), 10, "holes");
    REFUSED((lua_newtable(L), lua_pushvalue(L, -1), lua_rawseti(L, -2, 1)), 10, "a cycle");
    /* the value cap counts containers and scalars: [1,2,3,4] is 5 values */
    lua_settop(L, 0);
    lua_createtable(L, 4, 0);
    for (int i = 1; i <= 4; i++) {
        lua_pushinteger(L, i);
        lua_rawseti(L, -2, i);
    }
    ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 5, &values, why, sizeof(why)), 0);
    ASSERT_EQ_INT(values, 5);
    ASSERT_STR_EQ(b.text, "[1,2,3,4]");
    ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 4, &values, why, sizeof(why)), -1);
    ASSERT_STR_EQ(why, "more than 4 values");
    REFUSED((lua_newtable(L), lua_pushinteger(L, 1), lua_setfield(L, -2, "a"),
             lua_pushinteger(L, 1), lua_setfield(L, -2, "b")),
            2, "more than 2 values");
    /* depth: 32 tables inside one another are written, 33 refused */
    for (int n = 32; n <= 33; n++) {
        lua_settop(L, 0);
        lua_newtable(L);
        for (int i = 1; i < n; i++) {
            lua_createtable(L, 1, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
        }
        int rc = hg_luajson_write(L, 1, &b, 32, 100, &values, why, sizeof(why));
        ASSERT_EQ_INT(rc, n == 32 ? 0 : -1);
        if (n == 33)
            ASSERT_STR_EQ(why, "tables are nested deeper than 32");
    }
    /* what has a form: nil and room.null are null, an empty table {}, the text's storage moves
     * into Lua memory past HG_LUAJSON_LOCAL bytes and the stack is left with one value */
    lua_settop(L, 0);
    lua_pushnil(L);
    ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 10, &values, why, sizeof(why)), 0);
    ASSERT_STR_EQ(b.text, "null");
    ASSERT_EQ_INT(lua_gettop(L), 2);
    lua_settop(L, 0);
    lua_newtable(L);
    ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 10, &values, why, sizeof(why)), 0);
    ASSERT_STR_EQ(b.text, "{}");
    lua_settop(L, 0);
    char big[5000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i % 3 == 0 ? '\n' : 'x');
    lua_pushlstring(L, big, sizeof(big));
    ASSERT_EQ_INT(hg_luajson_write(L, 1, &b, 32, 10, &values, why, sizeof(why)), 0);
    ASSERT_EQ_INT(b.len, 2 + sizeof(big) + (sizeof(big) + 2) / 3);
    ASSERT_TRUE(b.text != b.local);
    ASSERT_EQ_INT(strlen(b.text), b.len);
    ASSERT_EQ_INT(lua_gettop(L), 2);
    ASSERT_TRUE(lua_type(L, 2) == LUA_TUSERDATA);
#undef REFUSED
    lua_close(L);
}

HG_TEST(data_conversion_is_charged_and_capped)
{
    size_t used = hg_alloc_used();
    fake_t f = {0};
    hg_error_t err;
    hg_script_t *s = compile_ok(
        "return { messages = {\n"
        "  echo = function(room, player, data) room.broadcast('echo', data) end,\n"
        "  many = function(room, player, data) local t = {} for i = 1, data do t[i] = i end\n"
        "    room.broadcast('many', t) end,\n"
        "} }");
    /* 5000 values are 40000 instructions: past a budget of 30000 */
    hg_script_room_t *r = room_ok(s, &f, 0, 30000);
    ASSERT_EQ_INT(msg(r, "many", "100", &err), 1);
    ASSERT_EQ_INT(msg(r, "many", "5000", &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "instruction budget");
    ASSERT_EQ_INT(msg(r, "many", "100", &err), 1);
    hg_script_room_free(r);
    /* data larger than the room's Lua memory: refused while it is read, and the room goes on */
    r = room_ok(s, &f, 256 * 1024, 0);
    size_t cap = 400 * 1024;
    char *big = hg_malloc(cap);
    size_t n = 0;
    big[n++] = '[';
    while (n + 16 < cap)
        n += (size_t)snprintf(big + n, cap - n, "\"%010zu\",", n);
    memcpy(big + n - 1, "]", 2);
    fake_reset(&f);
    memset(&err, 0, sizeof(err));
    ASSERT_EQ_INT(hg_script_room_message(r, "p1", "echo", big, n, &err), HG_ELIMIT);
    ASSERT_CONTAINS(err.msg, "not enough memory");
    ASSERT_EQ_INT(msg(r, "echo", "[1]", &err), 1);
    ASSERT_STR_EQ(f.log, "b echo [1]\n");
    hg_free(big);
    hg_script_room_free(r);
    hg_script_unref(s);
    ASSERT_EQ_INT(hg_alloc_used(), used);
}

HG_SUITE(script) = {HG_CASE(scripts_cannot_send_the_rooms_own_types),
                    HG_CASE(service_calls_need_their_grant_and_answer_through_callbacks),
                    HG_CASE(compile_errors_report_the_line),
                    HG_CASE(the_handler_table_is_checked),
                    HG_CASE(the_sandbox_has_no_way_out),
                    HG_CASE(handlers_run_by_type_and_call_the_host),
                    HG_CASE(on_join_allows_or_refuses_with_a_reason),
                    HG_CASE(an_infinite_loop_is_stopped_and_the_room_goes_on),
                    HG_CASE(a_memory_bomb_is_stopped_and_the_room_goes_on),
                    HG_CASE(room_state_persists_and_timers_fire),
                    HG_CASE(json_round_trips_and_unconvertible_values_are_refused),
                    HG_CASE(on_create_request_decides_who_may_create_rooms),
                    HG_CASE(migrate_carries_state_and_calls_on_migrate),
                    HG_CASE(migrate_to_a_broken_version_keeps_the_old_one),
                    HG_CASE(host_callbacks_may_reenter_the_room),
                    HG_CASE(luajson_reads_and_writes_what_jansson_does),
                    HG_CASE(luajson_writes_lua_values_as_jansson_does),
                    HG_CASE(luajson_refuses_what_is_not_json),
                    HG_CASE(luajson_reads_numbers_strings_and_keys_as_documented),
                    HG_CASE(luajson_refuses_what_has_no_json_form),
                    HG_CASE(data_conversion_is_charged_and_capped),
                    HG_CASE_END};
