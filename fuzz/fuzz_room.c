/* hangar — libFuzzer driver for the room message envelope (src/rooms/rooms.c, hg_room_parse).
 *
 * Input: the first byte's low bit says binary (1) or text (0); the rest is the message as a
 * client sent it. Seeds are in fuzz/corpus/room/.
 *
 * Checked on every input: an accepted message has a type of 1..64 of [A-Za-z0-9_.:-] that is not
 * one of the room's own (join, leave, error, welcome, reset); a binary one's payload lies inside
 * the input right after its type; a text one's data, when present, is JSON that parses back;
 * a refused text message names a type only when the type was short enough; the allocation
 * counter returns to where it was. Any violation aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "rooms/rooms.h"

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
        } else if (env.data) {
            json_t *v = json_loads(env.data, JSON_DECODE_ANY, NULL);
            if (v == NULL)
                abort();
            json_decref(v);
        }
    } else {
        if (rc != HG_EINVAL || env.data || strlen(env.type) > HG_ROOM_TYPE_MAX)
            abort();
    }
    free(env.data);
    if (hg_alloc_used() != before)
        abort();
    return 0;
}
