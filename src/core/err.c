/* hangar — error space: names, messages and wire mappings generated from HG_ERR_MAP. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

const char *hg_strerror(int rc)
{
    switch (rc) {
    case HG_OK:
        return "success";
#define XX(name, val, st, ty, nat, msg)                                                           \
    case HG_##name:                                                                               \
        return msg;
        HG_ERR_MAP(XX)
#undef XX
    default:
        return rc < 0 ? strerror(-rc) : "unknown error";
    }
}

const char *hg_err_name(int rc)
{
    switch (rc) {
    case HG_OK:
        return "OK";
#define XX(name, val, st, ty, nat, msg)                                                           \
    case HG_##name:                                                                               \
        return #name;
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
    case HG_OK:
        return 200;
#define XX(name, val, st, ty, nat, msg)                                                           \
    case HG_##name:                                                                               \
        return st;
        HG_ERR_MAP(XX)
#undef XX
    default:
        return 500;
    }
}

const char *hg_err_gamelift_type(int rc)
{
    switch (rc) {
#define XX(name, val, st, ty, nat, msg)                                                           \
    case HG_##name:                                                                               \
        return ty;
        HG_ERR_MAP(XX)
#undef XX
    default:
        return "InternalServiceException";
    }
}

const char *hg_err_native_code(int rc)
{
    switch (rc) {
#define XX(name, val, st, ty, nat, msg)                                                           \
    case HG_##name:                                                                               \
        return nat;
        HG_ERR_MAP(XX)
#undef XX
    default:
        return "internal";
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
