/* hangar — a small streaming JSON writer for hot paths (events rendered once per change).
 *
 * jansson builds a tree and formats doubles through printf; for text we render often and
 * whose shape we know, appending straight into an hg_buf is several times cheaper. Times are
 * written from integer milliseconds as seconds with a 3-digit fraction, exactly as the rest
 * of the API shows them. The writer does not check the structure: callers write valid JSON.
 */
#ifndef HG_CORE_JSONW_H
#define HG_CORE_JSONW_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"

/* "…" with JSON escapes; s is UTF-8 (invalid bytes are written as U+FFFD). */
void hg_jsonw_str(hg_buf_t *b, const char *s);
/* "key": (with the quotes and the colon) */
void hg_jsonw_key(hg_buf_t *b, const char *key);
void hg_jsonw_int(hg_buf_t *b, int64_t v);
/* Epoch milliseconds as seconds: 1795464781049 → 1795464781.049 */
void hg_jsonw_time_ms(hg_buf_t *b, int64_t ms);
/* ,"key":"v" — a member after an object's first (v NULL: "") */
void hg_jsonw_kv_str(hg_buf_t *b, const char *key, const char *v);
/* ,"key":v */
void hg_jsonw_kv_int(hg_buf_t *b, const char *key, int64_t v);
/* Any jansson value (borrowed), compact. */
void hg_jsonw_value(hg_buf_t *b, const json_t *v);

#endif
