/* hangar — growable byte buffer (caller-embedded). */
#ifndef HG_CORE_BUF_H
#define HG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct hg_buf {
    char *data; /* NUL-terminated when len < cap */
    size_t len;
    size_t cap;
} hg_buf_t;

void hg_buf_init(hg_buf_t *b);
/* Releases the storage; b is empty (and reusable) after this call. */
void hg_buf_free(hg_buf_t *b);
void hg_buf_reserve(hg_buf_t *b, size_t extra);
void hg_buf_append(hg_buf_t *b, const void *p, size_t n);
void hg_buf_puts(hg_buf_t *b, const char *s);
void hg_buf_printf(hg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void hg_buf_consume(hg_buf_t *b, size_t n);
/* Hands the storage to the caller ("takes ownership"): release with hg_free(). */
char *hg_buf_steal(hg_buf_t *b, size_t *len);

#endif
