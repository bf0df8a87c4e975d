/* hangar — a validating JSON scanner that builds nothing: it checks that text is JSON (RFC 8259)
 * and says where values start and end, so a hot path can pick a member out of a message and pass
 * another one on as the bytes that came (the room relay: one pass over the message, no tree, no
 * re-serialisation).
 *
 * Stricter than RFC 8259 where jansson is, so that text this accepts also loads with json_loads:
 * no "\u0000" in strings, no unpaired surrogate escapes, nesting at most HG_JSON_SCAN_DEPTH.
 * Unlike jansson it takes integers of any size (they are passed on, not converted). The bytes must
 * be valid UTF-8 already (a WebSocket text frame is) unless HG_JSON_STR_UTF8 asks for the check;
 * control characters below 0x20 in strings are refused. The pieces (strings, numbers, whitespace)
 * are exported for decoders that build values as they scan (rooms/luajson.c).
 */
#ifndef HG_CORE_JSONSCAN_H
#define HG_CORE_JSONSCAN_H

#include <stddef.h>

#define HG_JSON_SCAN_DEPTH 256 /* arrays and objects inside one another */

/* Skip whitespace and one value starting at *p (before end). Returns 0 with *p just past the
 * value, or -1 when the text there is not a JSON value. */
int hg_json_skip(const char **p, const char *end);

/* At *p, a string: decode it into out (cap bytes, NUL-terminated) and set *len; *p moves past
 * it. A string longer than cap - 1 bytes decoded is scanned but reported by *len = cap (and out
 * holds its first cap - 1 bytes). Returns 0, or -1 when *p is not a valid string. */
int hg_json_string(const char **p, const char *end, char *out, size_t cap, size_t *len);

/* hg_json_string's checks, relaxed or tightened (jansson's json_loads with JSON_ALLOW_NUL takes
 * exactly the strings both flags together take):
 *   HG_JSON_STR_NUL  "\u0000" is allowed (decoded to a NUL byte);
 *   HG_JSON_STR_UTF8 the raw bytes must be UTF-8 (no overlong form, no surrogate, nothing past
 *                    U+10FFFF), for text that was not checked before. */
#define HG_JSON_STR_NUL 1u
#define HG_JSON_STR_UTF8 2u

/* hg_json_string with flags (HG_JSON_STR_*). out may be NULL: the string is only checked, and
 * *len is its decoded length (never more than the raw length between the quotes, and equal to it
 * only when the string has no escape). */
int hg_json_string_ex(const char **p, const char *end, unsigned flags, char *out, size_t cap,
                      size_t *len);

/* At *p, a number: *p moves past it and *integer says whether it has neither a fraction nor an
 * exponent. Returns 0, or -1 when *p is not a JSON number. */
int hg_json_number(const char **p, const char *end, int *integer);

/* 1 when the n bytes at s are UTF-8 as HG_JSON_STR_UTF8 checks it (NUL bytes allowed), else 0. */
int hg_json_utf8(const char *s, size_t n);

/* Skip JSON whitespace. */
const char *hg_json_ws(const char *p, const char *end);

#endif
