/* hangar — libhangar-server helpers: memory, buffers, logging, errors, random identifiers,
 * ws:// URLs, SigV4 query signing and Go-style durations.
 *
 * Memory: every allocation goes through hg_sdk_malloc and friends, which abort with a message
 * when the system is out of memory, so callers do not test for NULL; sizes that come from the
 * network or the caller are checked against the limits of hangar/server.h before allocating.
 * Errors: the per-thread "last error" of the public API lives here (like errno).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sdk_int.h"

/* ---- memory ---- */

static void oom(size_t n)
{
    fprintf(stderr, "hangar-server level=error out_of_memory bytes=%zu\n", n);
    abort();
}

void *hg_sdk_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *hg_sdk_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *hg_sdk_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *hg_sdk_strndup(const char *s, size_t n)
{
    char *d = hg_sdk_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *hg_sdk_strdup(const char *s)
{
    return s ? hg_sdk_strndup(s, strlen(s)) : NULL;
}

/* ---- buffers ---- */

static void buf_reserve(hg_sdk_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    if (b->off > 0 && b->off >= b->len / 2) { /* reclaim consumed bytes before growing */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= extra)
            return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = hg_sdk_realloc(b->data, cap);
    b->cap = cap;
}

void hg_sdk_buf_append(hg_sdk_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void hg_sdk_buf_printf(hg_sdk_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void hg_sdk_buf_consume(hg_sdk_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void hg_sdk_buf_free(hg_sdk_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- logging ---- */

static const char *const level_names[] = {"default", "debug", "info", "warn", "error", "off"};

void hg_sdk_log(hangar_server_t *srv, hangar_server_log_level_t level, const char *fmt, ...)
{
    hangar_server_log_level_t min = srv ? srv->log_level : HANGAR_SERVER_LOG_WARN;
    if (level < min || level <= HANGAR_SERVER_LOG_DEFAULT || level >= HANGAR_SERVER_LOG_OFF)
        return;
    char line[1024];
    int n = snprintf(line, sizeof(line), "hangar-server level=%s ", level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (srv && srv->log_cb) {
        srv->log_cb(level, line, srv->log_ud);
        return;
    }
    fprintf(stderr, "%s\n", line); /* one fprintf: stdio locks the stream, lines stay whole */
}

/* ---- errors ---- */

static _Thread_local hangar_server_error_t last_error;

unsigned hangar_server_version(void)
{
    return HANGAR_SERVER_VERSION_NUM;
}

const char *hangar_server_err_name(int code)
{
    switch (code) {
    case HANGAR_SERVER_OK: return "HANGAR_SERVER_OK";
#define HANGAR_SERVER_XX(name, value, msg)                                                         \
    case HANGAR_SERVER_##name: return "HANGAR_SERVER_" #name;
        HANGAR_SERVER_ERR_MAP(HANGAR_SERVER_XX)
#undef HANGAR_SERVER_XX
    }
    return "unknown";
}

const char *hangar_server_strerror(int code)
{
    switch (code) {
    case HANGAR_SERVER_OK: return "success";
#define HANGAR_SERVER_XX(name, value, msg)                                                         \
    case HANGAR_SERVER_##name: return msg;
        HANGAR_SERVER_ERR_MAP(HANGAR_SERVER_XX)
#undef HANGAR_SERVER_XX
    }
    return "unknown error";
}

const hangar_server_error_t *hangar_server_last_error(const hangar_server_t *srv)
{
    (void)srv; /* per thread, not per server: see the header */
    return &last_error;
}

int hg_sdk_err(hangar_server_error_t *err, int code, int status, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->status_code = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    for (char *p = err->message; *p; p++) /* keep it one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

int hg_sdk_fail(const hangar_server_error_t *err)
{
    last_error = *err;
    return err->code;
}

int hg_sdk_status_to_code(int status)
{
    switch (status) {
    case 400: return HANGAR_SERVER_EBADREQUEST;
    case 401: return HANGAR_SERVER_EUNAUTHORIZED;
    case 403: return HANGAR_SERVER_EFORBIDDEN;
    case 404: return HANGAR_SERVER_ENOTFOUND;
    case 409: return HANGAR_SERVER_ECONFLICT;
    case 429: return HANGAR_SERVER_ETHROTTLED;
    }
    return status >= 400 && status < 500 ? HANGAR_SERVER_EBADREQUEST : HANGAR_SERVER_EINTERNAL;
}

/* ---- random ---- */

void hg_sdk_random(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fprintf(stderr, "hangar-server level=error random_failed\n");
        abort(); /* masking keys and ids must not be predictable */
    }
}

void hg_sdk_random_token(char out[HG_SDK_TOKEN_LEN + 1])
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < HG_SDK_TOKEN_LEN) {
        unsigned char r[HG_SDK_TOKEN_LEN];
        hg_sdk_random(r, sizeof(r));
        for (size_t j = 0; j < sizeof(r) && i < HG_SDK_TOKEN_LEN; j++)
            if (r[j] < 248) /* 248 = 4 * 62: drop the rest so every character is equally likely */
                out[i++] = alnum[r[j] % 62];
    }
    out[HG_SDK_TOKEN_LEN] = '\0';
}

void hg_sdk_uuid4(char out[37])
{
    unsigned char b[16];
    hg_sdk_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- URLs ---- */

int hg_sdk_url_parse(const char *s, hg_sdk_url_t *u, hangar_server_error_t *err)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncasecmp(s, "ws://", 5) == 0) {
        p = s + 5;
    } else if (strncasecmp(s, "wss://", 6) == 0) {
        p = s + 6;
        u->tls = 1;
    } else {
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "websocket_url must start with ws:// or wss://");
    }
    size_t alen = strcspn(p, "/?#");
    const char *a = p, *aend = p + alen;
    if (memchr(a, '@', alen))
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "websocket_url: user info is not supported");
    const char *host = a, *host_end, *port = NULL;
    if (*a == '[') {
        host = a + 1;
        host_end = memchr(a, ']', alen);
        if (host_end == NULL)
            return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                              "websocket_url: unclosed [ in the host");
        if (host_end + 1 < aend) {
            if (host_end[1] != ':')
                return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url: bad host");
            port = host_end + 2;
        }
    } else {
        host_end = memchr(a, ':', alen);
        if (host_end)
            port = host_end + 1;
        else
            host_end = aend;
    }
    if (host_end == host)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url: no host");
    if (port) {
        size_t plen = (size_t)(aend - port);
        long v = 0;
        if (plen == 0 || plen > 5)
            return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url: bad port");
        for (const char *q = port; q < aend; q++) {
            if (!isdigit((unsigned char)*q))
                return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url: bad port");
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535)
            return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url: port out of range");
        u->port = hg_sdk_strndup(port, plen);
    } else {
        u->port = hg_sdk_strdup(u->tls ? "443" : "80");
    }
    u->host = hg_sdk_strndup(host, (size_t)(host_end - host));
    u->hostport = hg_sdk_strndup(a, alen);
    size_t plen = strcspn(aend, "?#");
    u->path = plen ? hg_sdk_strndup(aend, plen) : hg_sdk_strdup("/");
    unsigned char tmp[sizeof(struct in6_addr)];
    u->host_is_ip = inet_pton(AF_INET, u->host, tmp) == 1 || inet_pton(AF_INET6, u->host, tmp) == 1;
    return 0;
}

void hg_sdk_url_free(hg_sdk_url_t *u)
{
    free(u->host);
    free(u->port);
    free(u->path);
    free(u->hostport);
    memset(u, 0, sizeof(*u));
}

void hg_sdk_url_encode(hg_sdk_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            hg_sdk_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            hg_sdk_buf_append(b, e, 3);
        }
    }
}

/* ---- SigV4 ---- */

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

void hg_sdk_sigv4(const char *secret_key, const char *region, const char *canonical_query,
                  time_t now, char amz_date[17], char date[9], char signature[65])
{
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, 9, "%Y%m%d", &tm);

    unsigned char digest[32];
    char digest_hex[65];
    SHA256((const unsigned char *)canonical_query, strlen(canonical_query), digest);
    hex(digest, 32, digest_hex);
    char sts[256];
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/gamelift/aws4_request\n%s", amz_date,
             date, region, digest_hex);

    size_t slen = strlen(secret_key);
    char *k0 = hg_sdk_malloc(slen + 5);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret_key, slen + 1);
    unsigned char k[32];
    hmac(k0, slen + 4, date, k);
    OPENSSL_cleanse(k0, slen + 4);
    free(k0);
    hmac(k, 32, region, k);
    hmac(k, 32, "gamelift", k);
    hmac(k, 32, "aws4_request", k);
    unsigned char sig[32];
    hmac(k, 32, sts, sig);
    OPENSSL_cleanse(k, sizeof(k));
    hex(sig, 32, signature);
}

/* ---- durations ---- */

int hg_sdk_parse_duration_ms(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
                 {"s", 1e3},   {"m", 60e3},  {"h", 3600e3}};
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno != 0 || v < 0)
            return -1;
        p = end;
        size_t best = 0, which = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, n) == 0 && n > best) {
                best = n;
                which = i;
            }
        }
        if (best == 0)
            return -1; /* Go requires a unit */
        total += v * units[which].ms;
        p += best;
    }
    if (total > 86400e3 * 365)
        return -1;
    *ms = (uint64_t)(total + 0.5);
    return 0;
}
