/* hangar — small string helpers shared by the parsers (percent-decoding, hex). */
#ifndef HG_CORE_STR_H
#define HG_CORE_STR_H

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

#endif
