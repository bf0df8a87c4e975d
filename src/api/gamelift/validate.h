/* hangar — GameLift request validation against the botocore model (see validate.c). */
#ifndef HG_API_GAMELIFT_VALIDATE_H
#define HG_API_GAMELIFT_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

#include "api/gamelift/model.h"
#include "core/err.h"

/* At most this many violations are spelled out in one message; the count in
 * "N validation errors detected" is still the total. */
#define HG_GL_VALIDATE_MAX_REPORTED 10
/* Work cap: JSON values visited per request before validation gives up with HG_EINVAL. A 1 MiB
 * body cannot hold this many values, so only hostile input can reach it. */
#define HG_GL_VALIDATE_MAX_NODES (1u << 20)
/* PCRE2 match limit per string (backtracking steps); a string exhausting it fails its pattern. */
#define HG_GL_PATTERN_MATCH_LIMIT 1000000u

/**
 * Validate a parsed GameLift request body against op's input shape, the way GameLift's front end
 * does before an operation runs.
 *
 * Wrong JSON types (a number where a string is modeled, a real for an integer, a 64-bit value
 * for a 32-bit integer, a non-object body) fail first with HG_ESERIALIZATION and a message naming
 * the member by its wire path ("Value for InstanceDefinitions[0].InstanceType must be a string").
 * Constraint violations (required, length, range, enum, pattern; lengths in code points) fail with
 * HG_EINVAL and GameLift's Coral-style message, e.g.
 *   "1 validation error detected: Value 'x' at 'gameServerId' failed to satisfy constraint:
 *    Member must have length greater than or equal to 3"
 * (see validate.c for the path and value spellings). Unknown members are ignored, except that no
 * string anywhere in the body may hold a NUL (U+0000): a modeled member with one fails its
 * pattern (or "Member must not contain the character U+0000" when it has none), and so does any
 * other string once the modeled members are clean, so nothing that passes can be cut short when
 * read as a C string. JSON null is treated as absent. err->field receives the wire path of the
 * first offending member. The message is cut at HG_ERROR_MSG_MAX bytes on a UTF-8 boundary.
 *
 * @param op     the operation (from hg_gl_op_find); borrowed.
 * @param input  the request body; borrowed, not modified.
 * @param err    filled on failure (may be NULL); untouched on success.
 * @return 0, HG_ESERIALIZATION or HG_EINVAL.
 * Not thread-safe: patterns share one cached match context; call from one thread at a time (the
 * loop thread).
 */
int hg_gl_validate(const hg_gl_op_t *op, json_t *input, hg_error_t *err);

/**
 * Compile every model pattern now instead of on first use (e.g. at startup, so a bad pattern is
 * reported before traffic arrives and the first request does not pay for compilation).
 * @param bad  if non-NULL, set to the index (into hg_gl_patterns) of the first pattern that fails.
 * @return 0, or HG_EINTERNAL if some pattern does not compile (logged with PCRE2's message).
 * Same thread rule as hg_gl_validate.
 */
int hg_gl_validate_warm(size_t *bad);

/**
 * Match s against model pattern i as a whole-string match (compiling it on first use).
 * @param s    UTF-8 bytes, not necessarily NUL-terminated; borrowed for the call.
 * @return 1 on a match, 0 on no match (also invalid UTF-8 or an exhausted match limit),
 *         HG_EINTERNAL if the pattern does not compile, HG_EINVAL if i is out of range.
 * Same thread rule as hg_gl_validate.
 */
int hg_gl_pattern_match(size_t i, const char *s, size_t len);

/**
 * Release the compiled patterns and PCRE2 contexts (at shutdown; leak checkers stay quiet).
 * Validation after this recompiles lazily. Same thread rule as hg_gl_validate.
 */
void hg_gl_validate_fini(void);

#endif
