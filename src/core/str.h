/* hangar — small string helpers shared by the parsers (percent-decoding, hex, the shapes of
 * names and tokens the APIs accept). */
#ifndef HG_CORE_STR_H
#define HG_CORE_STR_H

#include <stddef.h>
#include <string.h>

/* The n bytes at s are 1..max of [A-Za-z0-9_] and the characters of extra (a NUL never is): board
 * ids, skus, script names, message and event types. */
static inline int hg_str_name(const char *s, size_t n, size_t max, const char *extra)
{
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (c != 0 && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

/* s is min..max bytes of printable ASCII without spaces (0x21..0x7e): external ids,
 * idempotency keys, receipt ids. */
static inline int hg_str_token(const char *s, size_t min, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || (unsigned char)s[n] <= ' ' || (unsigned char)s[n] > '~')
            return 0;
    return n >= min;
}

/* The value of one hexadecimal digit (either case), or -1. */
static inline int hg_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n bytes as 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
static inline void hg_hex_encode(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Exactly 2n hex digits (either case, nothing after them) into n bytes: 0, or -1 when s is not
 * that (out may then be partly written). */
static inline int hg_hex_decode(const char *s, void *out, size_t n)
{
    unsigned char *b = out;
    for (size_t i = 0; i < n; i++) {
        int hi = s ? hg_hex_digit((unsigned char)s[2 * i]) : -1;
        int lo = hi >= 0 ? hg_hex_digit((unsigned char)s[2 * i + 1]) : -1;
        if (lo < 0)
            return -1;
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    return s[2 * n] == '\0' ? 0 : -1;
}

#endif
