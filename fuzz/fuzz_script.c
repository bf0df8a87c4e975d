/* hangar — libFuzzer driver for room scripts (src/rooms/script.c): the upload path and the data
 * a client hands to a handler.
 *
 * Input, first byte:
 *   even: the rest is a script's source for hg_script_compile (what PUT /v1/scripts does). An
 *         accepted script must run in a room: created (on_create), joined, sent one message of
 *         each type it declares and one it does not, ticked, a timer fired, freed. A refusal is
 *         HG_EINVAL with a message.
 *   odd:  the rest is a message's data for a fixed echo script: when it is JSON, the handler's
 *         broadcast must carry the same value back (json_equal); when not, it is not sent.
 * Always: no crash, no Lua panic, and the allocation counter returns to where it was once the
 * room and the script are freed. Seeds are in fuzz/corpus/script/.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "rooms/script.h"

static json_t *echoed;

static void h_broadcast(void *ud, const char *type, const char *data)
{
    (void)ud, (void)type;
    if (echoed == NULL && data)
        echoed = json_loads(data, JSON_DECODE_ANY, NULL);
}
static int h_send(void *ud, const char *p, const char *t, const char *d)
{
    (void)ud, (void)p, (void)t, (void)d;
    return 0;
}
static int h_kick(void *ud, const char *p, const char *r)
{
    (void)ud, (void)p, (void)r;
    return 0;
}
static void h_close(void *ud)
{
    (void)ud;
}
static void h_after(void *ud, uint64_t id, uint64_t ms)
{
    (void)ms;
    *(uint64_t *)ud = id;
}
static int64_t h_now(void *ud)
{
    (void)ud;
    return 1000;
}
static const char *const players[] = {"p1", "p2"};
static const char *const *h_players(void *ud, size_t *n)
{
    (void)ud;
    *n = 2;
    return players;
}
static void h_service(void *ud, const char *op, const char *args, uint64_t id)
{
    (void)ud, (void)op, (void)args, (void)id; /* never answered: the callbacks stay pending */
}
static const hg_script_host_t host = {h_broadcast, h_send, h_kick,    h_close,
                                      h_after,     h_now,  h_players, h_service};

static const char ECHO[] = "return { messages = { echo = function(room, p, d) "
                           "room.broadcast('echo', d) end } }";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    size_t before = hg_alloc_used();
    hg_error_t err;
    hg_script_t *s = NULL;
    hg_script_limits_t lim = {.memory = 1u << 20, .budget = 100000};
    uint64_t timer = 0;
    if ((data[0] & 1) == 0) {
        if (hg_script_compile("fuzz", rest, len, &s, &err) < 0) {
            if (err.code != HG_EINVAL || hg_error_message(&err)[0] == '\0')
                abort();
        } else {
            hg_script_room_t *r;
            hg_script_set_grants(s, (1u << HG_SCRIPT_GRANTS_N) - 1); /* the service calls too */
            if (hg_script_room_new(s, "room", &lim, &host, &timer, NULL, &r, &err) == 0) {
                hg_script_room_join(r, "p1", &err);
                static const char *const types[] = {"move", "chat", "x", "echo"};
                for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                    hg_script_room_message(r, "p1", types[i], "{\"a\":[1,2.5,null,\"s\"]}", &err);
                hg_script_room_tick(r, 50, &err);
                if (timer)
                    hg_script_room_timer(r, timer, &err);
                hg_script_room_reply(r, 1, "{\"rank\":1}", NULL, NULL, &err);
                hg_script_room_reply(r, 2, NULL, "not_found", "no such board", &err);
                hg_script_room_leave(r, "p1");
                hg_script_room_free(r);
            }
            json_decref(echoed); /* what a fuzzed script broadcast first */
            echoed = NULL;
            hg_script_unref(s);
        }
    } else {
        json_t *want = json_loadb(rest, len, JSON_DECODE_ANY, NULL);
        char *text = want ? json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (text && hg_script_compile("echo", ECHO, sizeof(ECHO) - 1, &s, &err) == 0) {
            hg_script_room_t *r;
            if (hg_script_room_new(s, "room", &lim, &host, &timer, NULL, &r, &err) != 0)
                abort();
            echoed = NULL;
            int rc = hg_script_room_message(r, "p1", "echo", text, &err);
            /* deep or huge data may be refused (the documented limits); what passes comes back
             * (a string holding e, E, . or [] skips the comparison: cheap, loses only coverage) */
            /* floats print in their own digits; an empty array comes back as {} (Lua has one
             * empty table): such inputs skip the comparison */
            int loose = strpbrk(text, ".eE") != NULL || strstr(text, "[]") != NULL;
            if (rc == 1 && echoed && !loose && !json_equal(echoed, want))
                abort();
            json_decref(echoed);
            echoed = NULL;
            hg_script_room_free(r);
            hg_script_unref(s);
        }
        free(text);
        json_decref(want);
    }
    if (hg_alloc_used() != before)
        abort();
    return 0;
}
