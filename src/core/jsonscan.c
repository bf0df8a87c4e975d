/* hangar — a validating JSON scanner (jsonscan.h). */
#include "core/jsonscan.h"

#include <string.h>

const char *hg_json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        u <<= 4;
        if (c >= '0' && c <= '9')
            u |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            u |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            u |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = u;
    return 0;
}

/* Where decoded bytes go: nowhere (out NULL), or out while there is room; n counts them all. */
typedef struct sink {
    char *out;
    size_t cap, n;
} sink_t;

static void put(sink_t *s, unsigned char c)
{
    if (s->out && s->n + 1 < s->cap)
        s->out[s->n] = (char)c;
    s->n++;
}

static void put_utf8(sink_t *s, unsigned u)
{
    if (u < 0x80) {
        put(s, (unsigned char)u);
    } else if (u < 0x800) {
        put(s, (unsigned char)(0xC0 | u >> 6));
        put(s, (unsigned char)(0x80 | (u & 0x3F)));
    } else if (u < 0x10000) {
        put(s, (unsigned char)(0xE0 | u >> 12));
        put(s, (unsigned char)(0x80 | (u >> 6 & 0x3F)));
        put(s, (unsigned char)(0x80 | (u & 0x3F)));
    } else {
        put(s, (unsigned char)(0xF0 | u >> 18));
        put(s, (unsigned char)(0x80 | (u >> 12 & 0x3F)));
        put(s, (unsigned char)(0x80 | (u >> 6 & 0x3F)));
        put(s, (unsigned char)(0x80 | (u & 0x3F)));
    }
}

/* The length of the UTF-8 sequence at p (its lead byte >= 0x80), or 0 when it is not one: no
 * overlong forms, no surrogates, nothing past U+10FFFF (what jansson accepts). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned u;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        u = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        u = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        u = c & 0x07;
    } else {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or past F4 */
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        u = u << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && (u < 0x800 || (u >= 0xD800 && u <= 0xDFFF))) ||
        (n == 4 && (u < 0x10000 || u > 0x10FFFF)))
        return 0;
    return n;
}

int hg_json_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = utf8_seq(p, end);
        if (k == 0)
            return 0;
        p += k;
    }
    return 1;
}

/* A string at *pp (its opening quote), decoded into s; flags HG_JSON_STR_*. */
static int scan_string(const char **pp, const char *end, unsigned flags, sink_t *s)
{
    const char *p = *pp;
    if (p >= end || *p != '"')
        return -1;
    p++;
    for (;;) {
        if (p >= end)
            return -1;
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c >= 0x80 && (flags & HG_JSON_STR_UTF8)) {
            size_t k = utf8_seq((const unsigned char *)p - 1, (const unsigned char *)end);
            if (k == 0)
                return -1;
            const char *q = p - 1; /* the lead byte */
            for (size_t i = 0; i < k; i++)
                put(s, (unsigned char)q[i]);
            p = q + k;
            continue;
        }
        if (c != '\\') {
            put(s, c);
            continue;
        }
        if (p >= end)
            return -1;
        c = (unsigned char)*p++;
        switch (c) {
        case '"':
        case '\\':
        case '/': put(s, c); break;
        case 'b': put(s, '\b'); break;
        case 'f': put(s, '\f'); break;
        case 'n': put(s, '\n'); break;
        case 'r': put(s, '\r'); break;
        case 't': put(s, '\t'); break;
        case 'u': {
            unsigned u, lo;
            if (end - p < 4 || hex4(p, &u) < 0 || (u == 0 && !(flags & HG_JSON_STR_NUL)))
                return -1;
            p += 4;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return -1; /* a low surrogate first */
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1; /* unpaired */
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(s, u);
            break;
        }
        default: return -1;
        }
    }
    *pp = p;
    return 0;
}

int hg_json_string_ex(const char **p, const char *end, unsigned flags, char *out, size_t cap,
                      size_t *len)
{
    sink_t s = {out, cap, 0};
    if (scan_string(p, end, flags, &s) < 0)
        return -1;
    if (out && cap)
        out[s.n < cap ? s.n : cap - 1] = '\0';
    *len = out == NULL || s.n < cap ? s.n : cap;
    return 0;
}

int hg_json_string(const char **p, const char *end, char *out, size_t cap, size_t *len)
{
    return hg_json_string_ex(p, end, 0, out, cap, len);
}

static int digits(const char **pp, const char *end)
{
    const char *p = *pp;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    if (p == *pp)
        return -1;
    *pp = p;
    return 0;
}

int hg_json_number(const char **pp, const char *end, int *integer)
{
    const char *p = *pp;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p >= end || *p < '1' || *p > '9' || digits(&p, end) < 0)
        return -1;
    *integer = 1;
    if (p < end && *p == '.') {
        *integer = 0;
        p++;
        if (digits(&p, end) < 0)
            return -1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *integer = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (digits(&p, end) < 0)
            return -1;
    }
    *pp = p;
    return 0;
}

static int literal(const char **pp, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - *pp) < n || memcmp(*pp, word, n) != 0)
        return -1;
    *pp += n;
    return 0;
}

/* After '{' or ',' in an object: a key and its colon. */
static int member_key(const char **pp, const char *end)
{
    sink_t none = {NULL, 0, 0};
    const char *p = hg_json_ws(*pp, end);
    if (scan_string(&p, end, 0, &none) < 0)
        return -1;
    p = hg_json_ws(p, end);
    if (p >= end || *p != ':')
        return -1;
    *pp = p + 1;
    return 0;
}

int hg_json_skip(const char **pp, const char *end)
{
    char open[HG_JSON_SCAN_DEPTH]; /* the containers we are in: '{' or '[' */
    int depth = 0;
    const char *p = *pp;
    sink_t none = {NULL, 0, 0};
    int integer;
    for (;;) {
        /* a value at p */
        p = hg_json_ws(p, end);
        if (p >= end)
            return -1;
        int rc = 0;
        switch (*p) {
        case '{':
        case '[':
            if (depth == HG_JSON_SCAN_DEPTH)
                return -1;
            open[depth++] = *p;
            p = hg_json_ws(p + 1, end);
            if (p < end && *p == (open[depth - 1] == '{' ? '}' : ']')) {
                p++;
                depth--;
                break; /* empty: a whole value */
            }
            if (open[depth - 1] == '{' && member_key(&p, end) < 0)
                return -1;
            continue; /* the first member's or element's value */
        case '"': rc = scan_string(&p, end, 0, &none); break;
        case 't': rc = literal(&p, end, "true"); break;
        case 'f': rc = literal(&p, end, "false"); break;
        case 'n': rc = literal(&p, end, "null"); break;
        default: rc = hg_json_number(&p, end, &integer); break;
        }
        if (rc < 0)
            return -1;
        /* a whole value ends at p: close containers, or go on to the next member */
        for (;;) {
            if (depth == 0) {
                *pp = p;
                return 0;
            }
            p = hg_json_ws(p, end);
            if (p >= end)
                return -1;
            char o = open[depth - 1];
            if (*p == ',') {
                p++;
                if (o == '{' && member_key(&p, end) < 0)
                    return -1;
                break;
            }
            if (*p != (o == '{' ? '}' : ']'))
                return -1;
            p++;
            depth--;
        }
    }
}
