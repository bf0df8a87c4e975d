/* hangar — libFuzzer driver for the room message envelope (src/rooms/rooms.c, hg_room_parse).
 *
 * Input: the first byte's low bit says binary (1) or text (0); the rest is the message as a
 * client sent it. Seeds are in fuzz/corpus/room/.
 *
 * Checked on every input: an accepted message has a type of 1..64 of [A-Za-z0-9_.:-] that is not
 * one of the room's own (join, leave, error, welcome, reset); a binary one's payload lies inside
 * the input right after its type; a text one's data, when present, is JSON that parses back
 * (jansson; numbers it cannot hold aside); a refused text message names a type only when the
 * type was short enough; the allocation counter returns to where it was. And differentially,
 * for valid UTF-8 (what a WebSocket text frame carries): a message jansson loads as an object
 * (no duplicate keys, nesting within HG_JSON_SCAN_DEPTH) with a good "type" string is accepted,
 * and an accepted one loads in jansson. Any violation aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonscan.h"
#include "rooms/rooms.h"

static int utf8_ok(const unsigned char *s, size_t n)
{
    json_t *j = json_stringn((const char *)s, n); /* jansson checks UTF-8 (and allows NUL) */
    json_decref(j);
    return j != NULL;
}

/* Numbers jansson cannot hold (the scanner passes them on): its message says so. */
static int jansson_range(const json_error_t *e)
{
    return strstr(e->text, "too big") || strstr(e->text, "overflow");
}

static size_t opens(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '[' || s[i] == '{';
    return k;
}

static int type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 1 || n > HG_ROOM_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    static const char *const own[] = {"join", "leave", "error", "welcome", "reset"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(t, own[i]) == 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int binary = data[0] & 1;
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    size_t before = hg_alloc_used();
    hg_room_envelope_t env;
    int rc = hg_room_parse(binary, msg, len, &env);
    if (rc == 0) {
        if (!type_ok(env.type))
            abort();
        if (binary) {
            size_t tlen = strlen(env.type);
            if (env.payload != msg + 1 + tlen || env.payload_len != len - 1 - tlen ||
                memcmp(msg + 1, env.type, tlen) != 0)
                abort();
        } else {
            if (env.data && (env.data < msg || env.data + env.data_len > msg + len))
                abort();
            json_error_t je;
            json_t *v = utf8_ok(data + 1, len) ? json_loadb(msg, len, 0, &je) : NULL;
            if (utf8_ok(data + 1, len) && v == NULL && !jansson_range(&je))
                abort(); /* accepted, yet not JSON */
            if (v && env.data) {
                json_t *d = json_loadb(env.data, env.data_len, JSON_DECODE_ANY, &je);
                if (d == NULL || !json_equal(d, json_object_get(v, "data")))
                    abort();
                json_decref(d);
            }
            json_decref(v);
        }
    } else {
        if (rc != HG_EINVAL || env.data || strlen(env.type) > HG_ROOM_TYPE_MAX)
            abort();
        json_error_t je;
        json_t *v = !binary && utf8_ok(data + 1, len) && opens(msg, len) <= HG_JSON_SCAN_DEPTH
                        ? json_loadb(msg, len, JSON_REJECT_DUPLICATES, &je)
                        : NULL;
        const char *t = json_string_value(json_object_get(v, "type"));
        if (json_is_object(v) && t && strlen(t) == json_string_length(json_object_get(v, "type")) &&
            type_ok(t))
            abort(); /* jansson takes it, we refused it */
        json_decref(v);
    }
    if (hg_alloc_used() != before)
        abort();
    return 0;
}
