/* hangar — streaming JSON writer (see jsonw.h). */
#include "core/jsonw.h"

#include <stdlib.h>
#include <string.h>

void hg_jsonw_str(hg_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    hg_buf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
            p++;
        if (p > run)
            hg_buf_append(b, run, (size_t)(p - run));
        if (*p == 0)
            break;
        if (*p >= 0x80) { /* copy a valid UTF-8 sequence whole, or U+FFFD */
            int len = (*p & 0xE0) == 0xC0   ? 2
                      : (*p & 0xF0) == 0xE0 ? 3
                      : (*p & 0xF8) == 0xF0 ? 4
                                            : 0;
            int ok = len > 0;
            for (int i = 1; ok && i < len; i++)
                ok = (p[i] & 0xC0) == 0x80;
            if (ok) {
                hg_buf_append(b, p, (size_t)len);
                p += len;
            } else {
                hg_buf_append(b, "\xef\xbf\xbd", 3);
                p++;
            }
            continue;
        }
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            elen = 6;
        }
        hg_buf_append(b, esc, elen);
        p++;
    }
    hg_buf_append(b, "\"", 1);
}

void hg_jsonw_key(hg_buf_t *b, const char *key)
{
    hg_jsonw_str(b, key);
    hg_buf_append(b, ":", 1);
}

void hg_jsonw_int(hg_buf_t *b, int64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    hg_buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void hg_jsonw_time_ms(hg_buf_t *b, int64_t ms)
{
    if (ms < 0) {
        hg_jsonw_int(b, ms / 1000);
        return;
    }
    hg_jsonw_int(b, ms / 1000);
    char frac[4] = {'.', (char)('0' + (ms / 100) % 10), (char)('0' + (ms / 10) % 10),
                    (char)('0' + ms % 10)};
    hg_buf_append(b, frac, 4);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    hg_buf_append(data, buf, size);
    return 0;
}

void hg_jsonw_value(hg_buf_t *b, const json_t *v)
{
    if (json_is_object(v) && json_object_size(v) == 0) {
        hg_buf_append(b, "{}", 2);
        return;
    }
    json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(13));
}

void hg_jsonw_kv_str(hg_buf_t *b, const char *key, const char *v)
{
    hg_buf_append(b, ",", 1);
    hg_jsonw_key(b, key);
    hg_jsonw_str(b, v ? v : "");
}

void hg_jsonw_kv_int(hg_buf_t *b, const char *key, int64_t v)
{
    hg_buf_append(b, ",", 1);
    hg_jsonw_key(b, key);
    hg_jsonw_int(b, v);
}
