/* hangar — a validating JSON scanner that builds nothing: it checks that text is JSON (RFC 8259)
 * and says where values start and end, so a hot path can pick a member out of a message and pass
 * another one on as the bytes that came (the room relay: one pass over the message, no tree, no
 * re-serialisation).
 *
 * Stricter than RFC 8259 where jansson is, so that text this accepts also loads with json_loads:
 * no "\u0000" in strings, no unpaired surrogate escapes, nesting at most HG_JSON_SCAN_DEPTH.
 * Unlike jansson it takes integers of any size (they are passed on, not converted). The bytes must
 * be valid UTF-8 already (a WebSocket text frame is); control characters below 0x20 in strings
 * are refused.
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

/* Skip JSON whitespace. */
const char *hg_json_ws(const char *p, const char *end);

#endif
