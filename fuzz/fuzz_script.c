/* hangar — libFuzzer driver for room scripts (src/rooms/script.c): the upload path and the data
 * a client hands to a handler.
 *
 * Input, first byte:
 *   even: the rest is a script's source for hg_script_compile (what PUT /v1/scripts does). An
 *         accepted script must run in a room: created (on_create), joined, sent one message of
 *         each type it declares and one it does not, ticked, a timer fired, freed. A refusal is
 *         HG_EINVAL with a message.
 *   odd:  the rest is a message's data for a fixed echo script, differentially against jansson
 *         (rooms/luajson.c reads and writes it): the text is JSON for the decoder (checking
 *         only) exactly when json_loadb(JSON_ALLOW_NUL) takes it, but for integers jansson cannot
 *         hold (read as floats), nesting past HG_JSON_SCAN_DEPTH and a raw NUL byte after a
 *         number (which jansson's loadb takes); a handler given it
 *         broadcasts text that jansson loads, and when jansson took the input, byte for byte
 *         what json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes for it (empty arrays as {}: Lua
 *         has one empty table); it fails only for the documented limits (nesting past
 *         HG_SCRIPT_DATA_DEPTH_MAX).
 * Always: no crash, no Lua panic, and the allocation counter returns to where it was once the
 * room and the script are freed. Seeds are in fuzz/corpus/script/.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonscan.h"
#include "rooms/luajson.h"
#include "rooms/script.h"

static char *echoed; /* the first broadcast's data */

static void h_broadcast(void *ud, const char *type, const char *data)
{
    (void)ud, (void)type;
    if (echoed == NULL && data)
        echoed = strdup(data);
}

static size_t opens(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '[' || s[i] == '{';
    return k;
}

/* j with every empty array made an empty object (j itself included: returns the new value) */
static json_t *empty_arrays_as_objects(json_t *j)
{
    if (json_is_array(j) && json_array_size(j) == 0) {
        json_decref(j);
        return json_object();
    }
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            json_array_set_new(j, i, empty_arrays_as_objects(json_incref(json_array_get(j, i))));
    } else if (json_is_object(j)) {
        const char *k;
        size_t kn;
        json_t *v;
        void *tmp;
        json_object_keylen_foreach_safe(j, tmp, k, kn, v)
            json_object_setn_new(j, k, kn, empty_arrays_as_objects(json_incref(v)));
    }
    return j;
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
                static const char data[] = "{\"a\":[1,2.5,null,\"s\"]}";
                for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                    hg_script_room_message(r, "p1", types[i], data, sizeof(data) - 1, &err);
                hg_script_room_tick(r, 50, &err);
                if (timer)
                    hg_script_room_timer(r, timer, &err);
                hg_script_room_reply(r, 1, "{\"rank\":1}", NULL, NULL, &err);
                hg_script_room_reply(r, 2, NULL, "not_found", "no such board", &err);
                hg_script_room_leave(r, "p1");
                hg_script_room_free(r);
            }
            free(echoed); /* what a fuzzed script broadcast first */
            echoed = NULL;
            hg_script_unref(s);
        }
    } else {
        json_error_t je;
        json_t *want = json_loadb(rest, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        char why[160];
        int mine = hg_luajson_decode(NULL, rest, len, HG_JSON_SCAN_DEPTH, why, sizeof(why)) == 0;
        /* a raw NUL byte: jansson's loadb takes one right after a number ("98\0"), the decoder
         * refuses it as any other stray byte (and data came NUL-terminated before) */
        int nul = memchr(rest, 0, len) != NULL;
        if (want != NULL && !mine && !nul && opens(rest, len) <= HG_JSON_SCAN_DEPTH)
            abort(); /* jansson takes it, the decoder does not */
        if (want == NULL && mine && strstr(je.text, "too big") == NULL)
            abort(); /* the decoder takes it, jansson does not, and not for an integer's size */
        if (mine && hg_script_compile("echo", ECHO, sizeof(ECHO) - 1, &s, &err) == 0) {
            hg_script_room_t *r;
            if (hg_script_room_new(s, "room", &lim, &host, &timer, NULL, &r, &err) != 0)
                abort();
            echoed = NULL;
            int rc = hg_script_room_message(r, "p1", "echo", rest, len, &err);
            if (rc == 1) {
                json_t *back =
                    echoed ? json_loads(echoed, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
                if (back == NULL)
                    abort(); /* what the writer wrote is not JSON */
                json_decref(back);
                if (want != NULL) {
                    want = empty_arrays_as_objects(want);
                    char *exp = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
                    if (exp == NULL || strcmp(exp, echoed) != 0)
                        abort(); /* not what jansson writes */
                    free(exp);
                }
            } else if (!(rc < 0 && opens(rest, len) > HG_SCRIPT_DATA_DEPTH_MAX &&
                         strstr(err.msg, "nested deeper") != NULL)) {
                abort(); /* refused for something else than a documented limit */
            }
            free(echoed);
            echoed = NULL;
            hg_script_room_free(r);
            hg_script_unref(s);
        }
        json_decref(want);
    }
    if (hg_alloc_used() != before)
        abort();
    return 0;
}
