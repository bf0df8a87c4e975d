/* hangar — small string helpers shared by the parsers (percent-decoding, hex). */
#ifndef HG_CORE_STR_H
#define HG_CORE_STR_H

#include <stddef.h>

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
