/* hangar — error space: names, messages and wire mappings generated from HG_ERR_MAP. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

const char *hg_strerror(int rc)
{
    switch (rc) {
    case HG_OK: return "success";
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return msg;
        HG_ERR_MAP(XX)
#undef XX
    default: return rc < 0 ? strerror(-rc) : "unknown error";
    }
}

const char *hg_err_name(int rc)
{
    switch (rc) {
    case HG_OK: return "OK";
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return #name;
        HG_ERR_MAP(XX)
#undef XX
    default: {
        const char *n = rc < 0 ? strerrorname_np(-rc) : NULL;
        return n ? n : "EUNKNOWN";
    }
    }
}

int hg_err_http_status(int rc)
{
    switch (rc) {
    case HG_OK: return 200;
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return st;
        HG_ERR_MAP(XX)
#undef XX
    default: return 500;
    }
}

int hg_err_native_status(int rc)
{
    switch (rc) {
    case HG_OK: return 200;
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return nst;
        HG_ERR_MAP(XX)
#undef XX
    default: return 500;
    }
}

const char *hg_err_gamelift_type(int rc)
{
    switch (rc) {
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return ty;
        HG_ERR_MAP(XX)
#undef XX
    default: return "InternalServiceException";
    }
}

const char *hg_err_native_code(int rc)
{
    switch (rc) {
#define XX(name, val, st, nst, ty, nat, msg)                                                       \
    case HG_##name: return nat;
        HG_ERR_MAP(XX)
#undef XX
    default: return "internal";
    }
}

void hg_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = 0;
        unsigned int cp = 0;
        if (*p < 0x80) {
            if (*p < 0x20 && *p != '\t')
                *p = '?';
            p++;
            continue;
        } else if ((*p & 0xE0) == 0xC0) {
            n = 1;
            cp = *p & 0x1F;
        } else if ((*p & 0xF0) == 0xE0) {
            n = 2;
            cp = *p & 0x0F;
        } else if ((*p & 0xF8) == 0xF0) {
            n = 3;
            cp = *p & 0x07;
        } else {
            *p++ = '?';
            continue;
        }
        int ok = 1;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                ok = 0;
                break;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static const unsigned int min[] = {0, 0x80, 0x800, 0x10000};
        if (ok && (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = 0;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}

int hg_error_setv(hg_error_t *e, int code, const char *fmt, va_list ap)
{
    if (e == NULL)
        return code;
    e->code = code;
    if (fmt != NULL)
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    else
        e->msg[0] = '\0';
    hg_utf8_sanitize(e->msg);
    return code;
}

int hg_error_set(hg_error_t *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hg_error_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void hg_error_clear(hg_error_t *e)
{
    e->code = HG_OK;
    e->field[0] = '\0';
    e->msg[0] = '\0';
}

const char *hg_error_message(const hg_error_t *e)
{
    return e->msg[0] ? e->msg : hg_strerror(e->code);
}
