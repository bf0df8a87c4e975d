/* hangar — growable byte buffer. */
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void hg_buf_init(hg_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void hg_buf_free(hg_buf_t *b)
{
    hg_free(b->data);
    hg_buf_init(b);
}

void hg_buf_reserve(hg_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = hg_realloc(b->data, cap);
    b->cap = cap;
}

void hg_buf_append(hg_buf_t *b, const void *p, size_t n)
{
    hg_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hg_buf_puts(hg_buf_t *b, const char *s)
{
    hg_buf_append(b, s, strlen(s));
}

void hg_buf_printf(hg_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        hg_buf_append(b, tmp, (size_t)n);
        return;
    }
    hg_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void hg_buf_consume(hg_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        if (b->data)
            b->data[0] = '\0';
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *hg_buf_steal(hg_buf_t *b, size_t *len)
{
    if (b->data == NULL)
        hg_buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    hg_buf_init(b);
    return p;
}
