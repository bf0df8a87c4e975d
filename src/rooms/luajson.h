/* hangar — JSON text to Lua values and back, for room scripts (rooms/script.c), with no tree in
 * between: the decoder pushes values onto the Lua stack as it scans the text (core/jsonscan's
 * pieces), the writer appends compact text to a buffer as it walks the value.
 *
 * What maps to what (docs/rooms.md): objects <-> tables with string keys, arrays <-> tables with
 * keys exactly 1..n, integers <-> Lua integers (an integer no Lua integer holds is read as a
 * float), reals <-> floats, true/false <-> booleans, null <-> the light userdata NULL (room.null;
 * nil is written as null too); an empty table is written {}. Strings are UTF-8 both ways, checked;
 * "\u0000" is read in strings but not in keys, as jansson's json_loads(JSON_ALLOW_NUL) reads it.
 * The text written is byte for byte what jansson's json_dumps(JSON_COMPACT | JSON_ENCODE_ANY |
 * JSON_SORT_KEYS) writes for the same value: keys sorted by their bytes, floats as "%.17g" with
 * ".0" added when they would read as integers and the exponent without '+' or leading zeros,
 * the escapes \" \\ \b \f \n \r \t and \u00XX (upper-case hex) for the other control characters,
 * every other character as it is. tests/unit/test_script.c and fuzz/fuzz_script.c check both
 * directions against jansson.
 *
 * Memory: everything these functions hold lives on the C stack or is Lua's (userdata on the Lua
 * stack, counted by the state's allocator), so a Lua error (memory) may unwind through them and
 * leaks nothing.
 *
 * Threading: the thread that owns the Lua state (the loop).
 */
#ifndef HG_ROOMS_LUAJSON_H
#define HG_ROOMS_LUAJSON_H

#include <lua.h>
#include <stddef.h>

#define HG_LUAJSON_DEPTH_MAX 256 /* the most depth_max may be (the writer's cycle check) */
#define HG_LUAJSON_LOCAL 1024    /* text written on the C stack before it moves into Lua's memory */

/* The writer's output (caller-embedded, usually on the C stack). */
typedef struct hg_luajson_buf {
    char *text; /* NUL-terminated once hg_luajson_write succeeded */
    size_t len, cap;
    int slot; /* the Lua stack index that holds the storage once it outgrew local */
    char local[HG_LUAJSON_LOCAL];
} hg_luajson_buf_t;

/* Read the JSON text [text, text + len) and push its value onto L; with L NULL, only check the
 * text. Arrays and objects nest at most depth_max deep (at most HG_LUAJSON_DEPTH_MAX): deeper,
 * with L a Lua error is raised ("data is nested deeper than N", as for memory), without L it is a
 * refusal. Returns 0 (one value pushed), or -1 with nothing pushed and why (cap bytes) set to
 * "is not valid JSON: <what> at byte <n>" (or "is nested deeper than N"), for the caller to
 * prefix with what the text was. With L, call it inside a protected call only. */
int hg_luajson_decode(lua_State *L, const char *text, size_t len, int depth_max, char *why,
                      size_t cap);

/* Write the value at idx as compact JSON text into b (any prior content is dropped). Always
 * pushes one value onto L, the storage of b's text: the text is valid while that value is on the
 * stack and b is in scope. Refused (-1, why set, *values as far as it got): functions, threads,
 * full userdata and light userdata other than NULL; NaN and infinities; strings and keys that
 * are not UTF-8; tables with keys other than strings or 1..n, with both, with holes; tables
 * nested deeper than depth_max (at most HG_LUAJSON_DEPTH_MAX) or inside themselves; more than
 * values_max values (arrays, objects and scalars alike). Returns 0 with *values the values
 * written. May raise a Lua error (memory): call it inside a protected call. */
int hg_luajson_write(lua_State *L, int idx, hg_luajson_buf_t *b, int depth_max, size_t values_max,
                     size_t *values, char *why, size_t cap);

#endif
