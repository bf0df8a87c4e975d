/* hangar — AWS Signature Version 4 verification and signing (see sigv4.h).
 *
 * DESIGN
 *
 * A verify runs on the loop thread for every request, so the whole path is written to cost
 * two SHA-256 passes and one HMAC:
 *
 *   body --SHA-256--> payload hash --+
 *   method, URI, query, headers -----+--> streamed SHA-256 --> string to sign
 *                                          --HMAC(kSigning)--> hex, compared in constant time
 *
 * - The canonical request is never materialised: its pieces are produced in order into a 1 KiB
 *   staging buffer that is flushed into the digest context, so there is no size cap on it and
 *   no allocation. Sorting the query needs the parameter boundaries only (a fixed array of
 *   HG_SIGV4_MAX_QUERY_PARAMS); the encoded forms are compared on the fly by two iterators.
 * - kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
 *   changes once a day per key, so it is cached in a direct-mapped table of
 *   HG_SIGV4_KEY_CACHE entries indexed by a hash of (access key, date, region, service,
 *   secret). The secret is part of the identity: a rotated or wrong secret never hits a stale
 *   entry. Entries are wiped with OPENSSL_cleanse when overwritten or released.
 * - The SHA-256 EVP_MD is fetched once per thread and one EVP_MD_CTX is reused for every
 *   hash, so no provider fetch happens per call. HMAC is the RFC 2104 construction over that
 *   context (see hmac_sha256 for why not EVP_MAC). We allocate nothing per call; OpenSSL 3.0
 *   itself re-allocates the provider's digest state on each EVP_DigestInit_ex2, i.e. four
 *   small allocations per verify (body, canonical request, HMAC inner and outer) — the floor
 *   for libcrypto 3.0 through public, non-deprecated APIs.
 *
 * The per-thread state (contexts + cache) hangs off a _Thread_local pointer and is created on
 * first use. The daemon only uses this module from the loop thread; the CLI and benchmark
 * clients may use it from any thread.
 *
 * Canonicalisation rules are those of botocore (see sigv4.h); a presigned request whose client
 * did not declare its payload hash is tried with the body hash (botocore SigV4QueryAuth) and then
 * with UNSIGNED-PAYLOAD (S3-style presigners), so a bad signature on a presigned URL costs two
 * canonical hashes. Each accepted variant is a string some honest signer produced, so accepting
 * both never lets one signature stand for a different request.
 */
#include "auth/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define AMZ_DATE_LEN 16
#define HASH_LEN 32
#define SHA256_BLOCK 64
#define HEX_LEN 64
/* akid \0 date \0 region \0 service \0 secret: the identity of one cached signing key. */
#define KEY_ID_MAX (128 + 1 + 8 + 1 + 63 + 1 + 63 + 1 + HG_SIGV4_MAX_SECRET)

#define MSG_MISMATCH                                                                               \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
#define MSG_DATE_FORMAT "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""

typedef struct key_entry {
    int used;
    size_t id_len;
    unsigned char id[KEY_ID_MAX];
    unsigned char ksigning[HASH_LEN];
} key_entry_t;

typedef struct state {
    EVP_MD *sha256;
    EVP_MD_CTX *md; /* every hash and HMAC of this thread, one after the other */
    key_entry_t cache[HG_SIGV4_KEY_CACHE];
} state_t;

static _Thread_local state_t *tls_state;

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* ---------------------------------------------------------------------------------------------
 * Per-thread OpenSSL state
 */

static void state_free(state_t *st)
{
    if (st == NULL)
        return;
    OPENSSL_cleanse(st->cache, sizeof(st->cache));
    EVP_MD_CTX_free(st->md);
    EVP_MD_free(st->sha256);
    hg_free(st);
}

static state_t *state_get(void)
{
    if (tls_state != NULL)
        return tls_state;
    state_t *st = hg_calloc(1, sizeof(*st));
    st->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    st->md = EVP_MD_CTX_new();
    if (st->sha256 == NULL || st->md == NULL) {
        state_free(st);
        return NULL;
    }
    tls_state = st;
    return st;
}

void hg_sigv4_thread_cleanup(void)
{
    state_free(tls_state);
    tls_state = NULL;
}

/* SHA-256 of a || b (b may be empty) on the thread's reused context. */
static int sha256_2(state_t *st, const void *a, size_t an, const void *b, size_t bn,
                    unsigned char out[HASH_LEN])
{
    unsigned int len = 0;
    if (!EVP_DigestInit_ex2(st->md, st->sha256, NULL) || !EVP_DigestUpdate(st->md, a, an) ||
        !EVP_DigestUpdate(st->md, b, bn) || !EVP_DigestFinal_ex(st->md, out, &len) ||
        len != HASH_LEN)
        return HG_EINTERNAL;
    return 0;
}

static int sha256(state_t *st, const void *p, size_t n, unsigned char out[HASH_LEN])
{
    return sha256_2(st, p, n, NULL, 0, out);
}

/* RFC 2104 HMAC-SHA256 over the reused digest context. Written out rather than through
 * EVP_MAC: in OpenSSL 3.0 re-keying an EVP_MAC_CTX costs five allocations (three digest
 * contexts), while this costs the two digest initialisations the construction needs. */
static int hmac_sha256(state_t *st, const void *key, size_t key_len, const void *msg,
                       size_t msg_len, unsigned char out[HASH_LEN])
{
    unsigned char k[SHA256_BLOCK] = {0}, pad[SHA256_BLOCK], inner[HASH_LEN];
    int rc = HG_OK;
    if (key_len > SHA256_BLOCK) {
        if ((rc = sha256(st, key, key_len, k)) != 0)
            goto out;
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    if ((rc = sha256_2(st, pad, SHA256_BLOCK, msg, msg_len, inner)) != 0)
        goto out;
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    rc = sha256_2(st, pad, SHA256_BLOCK, inner, HASH_LEN, out);
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[p[i] >> 4];
        out[2 * i + 1] = hex_lower[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Small character helpers
 */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* ASCII case-insensitive equality of a (length n) and b (length m). */
static bool ieq(const char *a, size_t n, const char *b, size_t m)
{
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* RFC 9110 tchar: what a header name may consist of. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Printable ASCII other than space and '/': what a credential-scope part may hold (so a NUL
 * or a separator can never make two different scopes compare equal). */
static bool scope_chars_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '/')
            return false;
    }
    return true;
}

/* Percent-decode p[0..n) into out (cap bytes incl. NUL). A '%' not followed by two hex digits
 * stays literal; '+' stays '+'. Returns the decoded length, or -1 when it does not fit. */
static long pct_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%' && n - i > 2 && hg_hex_digit((unsigned char)p[i + 1]) >= 0 &&
            hg_hex_digit((unsigned char)p[i + 2]) >= 0) {
            c = (unsigned char)(hg_hex_digit((unsigned char)p[i + 1]) * 16 +
                                hg_hex_digit((unsigned char)p[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

/* ---------------------------------------------------------------------------------------------
 * Time: YYYYMMDDTHHMMSSZ <-> Unix seconds, without the C library's time zone machinery
 */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static bool valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 0 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Parse a NUL-terminated YYYYMMDDTHHMMSSZ. Returns 0 and *t, or -1. */
static int parse_amz_date(const char *s, int64_t *t)
{
    if (strnlen(s, AMZ_DATE_LEN + 1) != AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return -1;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 9, 2), mi = digits(s + 11, 2), se = digits(s + 13, 2);
    if (y < 0 || !valid_ymd(y, mo, d) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
        return -1;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

int hg_sigv4_parse_date(const char *amz_date, int64_t *t)
{
    return parse_amz_date(amz_date, t) < 0 ? HG_EINVAL : 0;
}

static void put_digits(char *out, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

/* Format Unix seconds as YYYYMMDDTHHMMSSZ (out holds 17 bytes); clamped to years 0000-9999,
 * which only matters for messages about absurd clocks. */
static void fmt_amz_date(int64_t t, char *out)
{
    const int64_t max = 253402300799; /* 9999-12-31T23:59:59Z */
    const int64_t min = -62167219200; /* 0000-01-01T00:00:00Z */
    t = t < min ? min : t > max ? max : t;
    int64_t z = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        z--;
    }
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    int64_t y = yoe + era * 400 + (m <= 2);
    put_digits(out, y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, d, 2);
    out[8] = 'T';
    put_digits(out + 9, secs / 3600, 2);
    put_digits(out + 11, secs / 60 % 60, 2);
    put_digits(out + 13, secs % 60, 2);
    out[15] = 'Z';
    out[16] = '\0';
}

/* Convert an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", the only form RFC 9110 lets a
 * sender generate) to YYYYMMDDTHHMMSSZ. Returns 0 or -1. */
static int imf_to_amz(const char *v, size_t n, char out[AMZ_DATE_LEN + 1])
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    while (n > 0 && is_space((unsigned char)v[n - 1]))
        n--;
    while (n > 0 && is_space((unsigned char)*v)) {
        v++;
        n--;
    }
    if (n != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
        v[19] != ':' || v[22] != ':' || memcmp(v + 25, " GMT", 4) != 0)
        return -1;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(v + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    int y = digits(v + 12, 4), d = digits(v + 5, 2);
    if (mo == 0 || digits(v + 17, 2) < 0 || digits(v + 20, 2) < 0 || digits(v + 23, 2) < 0 ||
        !valid_ymd(y, mo, d))
        return -1;
    memcpy(out, v + 12, 4);
    put_digits(out + 4, mo, 2);
    memcpy(out + 6, v + 5, 2);
    out[8] = 'T';
    memcpy(out + 9, v + 17, 2);
    memcpy(out + 11, v + 20, 2);
    memcpy(out + 13, v + 23, 2);
    out[15] = 'Z';
    out[16] = '\0';
    int64_t t;
    return parse_amz_date(out, &t);
}

/* ---------------------------------------------------------------------------------------------
 * Streaming canonical request
 */

typedef struct hasher {
    EVP_MD_CTX *ctx;
    int ok;
    size_t n;
    unsigned char buf[1024];
} hasher_t;

static void h_flush(hasher_t *h)
{
    if (h->n > 0 && !EVP_DigestUpdate(h->ctx, h->buf, h->n))
        h->ok = 0;
    h->n = 0;
}

static void h_put(hasher_t *h, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (n > sizeof(h->buf) - h->n) {
        h_flush(h);
        if (n >= sizeof(h->buf)) {
            if (!EVP_DigestUpdate(h->ctx, p, n))
                h->ok = 0;
            return;
        }
    }
    memcpy(h->buf + h->n, p, n);
    h->n += n;
}

static void h_putc(hasher_t *h, unsigned char c)
{
    if (h->n == sizeof(h->buf))
        h_flush(h);
    h->buf[h->n++] = c;
}

/* Every byte outside the unreserved set as %XX (upper-case hex, as AWS requires). */
static void h_put_encoded(hasher_t *h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_unreserved(c)) {
            h_putc(h, c);
        } else {
            h_putc(h, '%');
            h_putc(h, (unsigned char)hex_upper[c >> 4]);
            h_putc(h, (unsigned char)hex_upper[c & 15]);
        }
    }
}

typedef struct span {
    const char *p;
    size_t n;
} span_t;

/* botocore: quote(remove_dot_segments(path), safe='/~'). Empty and "." segments vanish, ".."
 * pops, a leading '/' and (when a segment is left) a trailing '/' are kept. Returns -1 past
 * HG_SIGV4_MAX_PATH_SEGMENTS. */
static int put_canonical_uri(hasher_t *h, const char *path, size_t len)
{
    span_t seg[HG_SIGV4_MAX_PATH_SEGMENTS];
    size_t nseg = 0;
    if (path == NULL || len == 0) {
        h_putc(h, '/');
        return 0;
    }
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        const char *s = path + i;
        size_t sl = j - i;
        if (sl == 0 || (sl == 1 && s[0] == '.')) {
            /* dropped */
        } else if (sl == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg > 0)
                nseg--;
        } else {
            if (nseg == HG_SIGV4_MAX_PATH_SEGMENTS)
                return -1;
            seg[nseg++] = (span_t){s, sl};
        }
        i = j + 1;
    }
    if (path[0] == '/')
        h_putc(h, '/');
    for (size_t k = 0; k < nseg; k++) {
        if (k > 0)
            h_putc(h, '/');
        h_put_encoded(h, seg[k].p, seg[k].n);
    }
    if (path[len - 1] == '/' && nseg > 0)
        h_putc(h, '/');
    return 0;
}

typedef struct qparam {
    span_t name;
    span_t value;
} qparam_t;

/* Yields the canonical encoding of a raw query component one byte at a time: decode %XX, then
 * encode everything outside the unreserved set. */
typedef struct enc_iter {
    const char *p, *end;
    unsigned char pend[2];
    int npend;
} enc_iter_t;

static int enc_next(enc_iter_t *it)
{
    if (it->npend > 0)
        return it->pend[2 - it->npend--];
    if (it->p >= it->end)
        return -1;
    unsigned char c = (unsigned char)*it->p++;
    if (c == '%' && it->end - it->p >= 2 && hg_hex_digit((unsigned char)it->p[0]) >= 0 &&
        hg_hex_digit((unsigned char)it->p[1]) >= 0) {
        c = (unsigned char)(hg_hex_digit((unsigned char)it->p[0]) * 16 +
                            hg_hex_digit((unsigned char)it->p[1]));
        it->p += 2;
    }
    if (is_unreserved(c))
        return c;
    it->pend[0] = (unsigned char)hex_upper[c >> 4];
    it->pend[1] = (unsigned char)hex_upper[c & 15];
    it->npend = 2;
    return '%';
}

/* Byte order of the canonical encodings of a and b (a prefix sorts first). */
static int enc_cmp(span_t a, span_t b)
{
    enc_iter_t x = {a.p, a.p + a.n, {0, 0}, 0};
    enc_iter_t y = {b.p, b.p + b.n, {0, 0}, 0};
    for (;;) {
        int ca = enc_next(&x), cb = enc_next(&y);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

static void h_put_canonical_component(hasher_t *h, span_t s)
{
    enc_iter_t it = {s.p, s.p + s.n, {0, 0}, 0};
    for (int c; (c = enc_next(&it)) >= 0;)
        h_putc(h, (unsigned char)c);
}

/* Does the raw component s decode to exactly lit? */
static bool dec_eq(span_t s, const char *lit)
{
    char buf[32];
    long n = pct_decode(s.p, s.n, buf, sizeof(buf));
    return n >= 0 && (size_t)n == strlen(lit) && memcmp(buf, lit, (size_t)n) == 0;
}

/* The raw value of the first parameter whose name decodes to name; false when absent. */
static bool query_param(const hg_sigv4_request_t *req, const char *name, span_t *value)
{
    const char *q = req->query;
    size_t len = q != NULL ? req->query_len : 0;
    for (size_t i = 0; i < len;) {
        size_t j = i, e = i;
        while (j < len && q[j] != '&')
            j++;
        while (e < j && q[e] != '=')
            e++;
        if (dec_eq((span_t){q + i, e - i}, name)) {
            *value = e < j ? (span_t){q + e + 1, j - e - 1} : (span_t){q + j, 0};
            return true;
        }
        i = j + 1;
    }
    return false;
}

/* Split "a=1&b&c=2" into params (empty pairs skipped; a pair without '=' has an empty value).
 * Returns the count, or -1 past cap. */
static long split_query(const char *q, size_t len, qparam_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; q != NULL && i < len;) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        if (j > i) {
            size_t e = i;
            while (e < j && q[e] != '=')
                e++;
            if (n == cap)
                return -1;
            out[n].name = (span_t){q + i, e - i};
            out[n].value = e < j ? (span_t){q + e + 1, j - e - 1} : (span_t){q + j, 0};
            n++;
        }
        i = j + 1;
    }
    return (long)n;
}

/* Sorted by encoded name then encoded value, joined with '&'; X-Amz-Signature dropped when
 * presigned. Returns -1 past HG_SIGV4_MAX_QUERY_PARAMS. */
static int put_canonical_query(hasher_t *h, const char *q, size_t len, bool presigned)
{
    qparam_t ps[HG_SIGV4_MAX_QUERY_PARAMS];
    long n = split_query(q, len, ps, HG_SIGV4_MAX_QUERY_PARAMS);
    if (n < 0)
        return -1;
    size_t m = 0;
    for (long i = 0; i < n; i++) {
        if (presigned && dec_eq(ps[i].name, "X-Amz-Signature"))
            continue;
        qparam_t cur = ps[i];
        size_t k = m;
        while (k > 0) {
            int c = enc_cmp(ps[k - 1].name, cur.name);
            if (c < 0 || (c == 0 && enc_cmp(ps[k - 1].value, cur.value) <= 0))
                break;
            ps[k] = ps[k - 1];
            k--;
        }
        ps[k] = cur;
        m++;
    }
    for (size_t i = 0; i < m; i++) {
        if (i > 0)
            h_putc(h, '&');
        h_put_canonical_component(h, ps[i].name);
        h_putc(h, '=');
        h_put_canonical_component(h, ps[i].value);
    }
    return 0;
}

/* Trimall: leading/trailing whitespace removed, inner runs collapsed to one space. */
static void h_put_trimmed(hasher_t *h, const char *v, size_t n)
{
    bool any = false, gap = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (is_space(c)) {
            gap = true;
            continue;
        }
        if (gap && any)
            h_putc(h, ' ');
        h_putc(h, c);
        any = true;
        gap = false;
    }
}

static const hg_sigv4_header_t *find_header(const hg_sigv4_request_t *req, const char *name,
                                            size_t len, size_t *count)
{
    const hg_sigv4_header_t *first = NULL;
    size_t c = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const hg_sigv4_header_t *hd = &req->headers[i];
        if (ieq(hd->name, hd->name_len, name, len)) {
            if (first == NULL)
                first = hd;
            c++;
        }
    }
    if (count != NULL)
        *count = c;
    return first;
}

/* "name:v1,v2\n" for each name of the ';'-separated list, in list order. Returns -1 when a
 * listed header is absent (verify checks this beforehand, with a message). */
static int put_canonical_headers(hasher_t *h, const hg_sigv4_request_t *req, const char *list)
{
    for (const char *p = list;;) {
        const char *e = strchr(p, ';');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        h_put(h, p, n);
        h_putc(h, ':');
        int found = 0;
        for (size_t i = 0; i < req->nheaders; i++) {
            const hg_sigv4_header_t *hd = &req->headers[i];
            if (!ieq(hd->name, hd->name_len, p, n))
                continue;
            if (found++)
                h_putc(h, ',');
            h_put_trimmed(h, hd->value, hd->value_len);
        }
        if (!found)
            return -1;
        h_putc(h, '\n');
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

/* SHA-256 of the canonical request. Returns 0, or HG_EBADSIG / HG_EINTERNAL with err set. */
static int canonical_hash(state_t *st, const hg_sigv4_request_t *req, const char *signed_headers,
                          bool presigned, const char *payload_hash, unsigned char out[HASH_LEN],
                          hg_error_t *err)
{
    hasher_t h;
    h.ctx = st->md;
    h.n = 0;
    h.ok = EVP_DigestInit_ex2(st->md, st->sha256, NULL);
    h_put(&h, req->method, strlen(req->method));
    h_putc(&h, '\n');
    if (put_canonical_uri(&h, req->path, req->path_len) < 0)
        return hg_error_set(err, HG_EBADSIG, "request path has more than %d segments",
                            HG_SIGV4_MAX_PATH_SEGMENTS);
    h_putc(&h, '\n');
    if (put_canonical_query(&h, req->query, req->query_len, presigned) < 0)
        return hg_error_set(err, HG_EBADSIG, "request has more than %d query parameters",
                            HG_SIGV4_MAX_QUERY_PARAMS);
    h_putc(&h, '\n');
    if (put_canonical_headers(&h, req, signed_headers) < 0)
        return hg_error_set(err, HG_EBADSIG, "a signed header is not present in the request");
    h_putc(&h, '\n');
    h_put(&h, signed_headers, strlen(signed_headers));
    h_putc(&h, '\n');
    h_put(&h, payload_hash, strlen(payload_hash));
    h_flush(&h);
    unsigned int len = 0;
    if (!h.ok || !EVP_DigestFinal_ex(st->md, out, &len) || len != HASH_LEN)
        return hg_error_set(err, HG_EINTERNAL, "SHA-256 failed");
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Signing key cache and the final HMAC
 */

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        x ^= p[i];
        x *= 0x100000001b3ull;
    }
    return x;
}

static size_t append_id(unsigned char *id, size_t at, const char *s, size_t n)
{
    memcpy(id + at, s, n);
    id[at + n] = '\0';
    return at + n + 1;
}

/* kSigning for the scope, from the cache or derived (4 HMACs) and cached. date is the 8-char
 * scope date; the other strings are NUL-terminated and bounded by the auth struct sizes. */
static int signing_key(state_t *st, const char *akid, const char *date, const char *region,
                       const char *service, const char *secret, size_t secret_len,
                       unsigned char out[HASH_LEN])
{
    int rc = HG_OK;
    unsigned char id[KEY_ID_MAX];
    unsigned char k[4 + HG_SIGV4_MAX_SECRET];
    unsigned char a[HASH_LEN], b[HASH_LEN];
    size_t akid_len = strlen(akid), region_len = strlen(region), service_len = strlen(service);
    if (akid_len > 128 || region_len > 63 || service_len > 63 || secret_len > HG_SIGV4_MAX_SECRET)
        return HG_EINVAL;

    size_t n = append_id(id, 0, akid, akid_len);
    n = append_id(id, n, date, 8);
    n = append_id(id, n, region, region_len);
    n = append_id(id, n, service, service_len);
    memcpy(id + n, secret, secret_len);
    n += secret_len;
    key_entry_t *e = &st->cache[fnv1a(id, n) % HG_SIGV4_KEY_CACHE];
    if (e->used && e->id_len == n && CRYPTO_memcmp(e->id, id, n) == 0) {
        memcpy(out, e->ksigning, HASH_LEN);
        goto out;
    }

    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, secret_len);
    if ((rc = hmac_sha256(st, k, 4 + secret_len, date, 8, a)) != 0 ||
        (rc = hmac_sha256(st, a, HASH_LEN, region, region_len, b)) != 0 ||
        (rc = hmac_sha256(st, b, HASH_LEN, service, service_len, a)) != 0 ||
        (rc = hmac_sha256(st, a, HASH_LEN, TERMINATOR, strlen(TERMINATOR), out)) != 0)
        goto out;
    OPENSSL_cleanse(e, sizeof(*e));
    e->used = 1;
    e->id_len = n;
    memcpy(e->id, id, n);
    memcpy(e->ksigning, out, HASH_LEN);
out:
    OPENSSL_cleanse(id, sizeof(id));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return rc;
}

static size_t append(char *buf, size_t at, const char *s, size_t n)
{
    memcpy(buf + at, s, n);
    return at + n;
}

/* hex(HMAC(kSigning, "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n
 * <hex(cr_hash)>")) into sig (65 bytes). */
static int compute_signature(state_t *st, const unsigned char ksigning[HASH_LEN],
                             const char *amz_date, const char *date, const char *region,
                             const char *service, const unsigned char cr_hash[HASH_LEN],
                             char sig[HEX_LEN + 1])
{
    char sts[sizeof(ALGORITHM) + AMZ_DATE_LEN + 1 + 8 + 1 + 63 + 1 + 63 + 1 + sizeof(TERMINATOR) +
             HEX_LEN + 1];
    unsigned char mac[HASH_LEN];
    size_t n = append(sts, 0, ALGORITHM "\n", sizeof(ALGORITHM));
    n = append(sts, n, amz_date, AMZ_DATE_LEN);
    n = append(sts, n, "\n", 1);
    n = append(sts, n, date, 8);
    n = append(sts, n, "/", 1);
    n = append(sts, n, region, strlen(region));
    n = append(sts, n, "/", 1);
    n = append(sts, n, service, strlen(service));
    n = append(sts, n, "/" TERMINATOR "\n", sizeof(TERMINATOR) + 1);
    to_hex(cr_hash, HASH_LEN, sts + n);
    n += HEX_LEN;
    int rc = hmac_sha256(st, ksigning, HASH_LEN, sts, n, mac);
    if (rc == 0)
        to_hex(mac, HASH_LEN, sig);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing
 */

/* AKID/YYYYMMDD/region/service/aws4_request */
static int parse_credential(const char *p, size_t n, hg_sigv4_auth_t *out, hg_error_t *err)
{
    span_t part[5];
    size_t np = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        if (np == 5)
            return hg_error_set(err, HG_EBADSIG,
                                "Credential must have the form "
                                "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request");
        part[np++] = (span_t){p + start, i - start};
        start = i + 1;
    }
    if (np != 5)
        return hg_error_set(err, HG_EBADSIG,
                            "Credential must have the form "
                            "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request");
    if (part[4].n != strlen(TERMINATOR) || memcmp(part[4].p, TERMINATOR, part[4].n) != 0)
        return hg_error_set(err, HG_EBADSIG,
                            "Credential should be scoped with a valid terminator: "
                            "'aws4_request', not '%.*s'.",
                            (int)(part[4].n > 64 ? 64 : part[4].n), part[4].p);
    if (part[0].n == 0 || part[0].n >= sizeof(out->access_key) ||
        !scope_chars_ok(part[0].p, part[0].n))
        return hg_error_set(err, HG_EBADSIG, "Credential has an invalid access key id");
    if (part[1].n != 8 || digits(part[1].p, 4) < 0 ||
        !valid_ymd(digits(part[1].p, 4), digits(part[1].p + 4, 2), digits(part[1].p + 6, 2)))
        return hg_error_set(err, HG_EBADSIG,
                            "Invalid credential date \"%.*s\". Date is not the required format: "
                            "yyyyMMdd.",
                            (int)(part[1].n > 32 ? 32 : part[1].n), part[1].p);
    if (part[2].n == 0 || part[2].n >= sizeof(out->region) || !scope_chars_ok(part[2].p, part[2].n))
        return hg_error_set(err, HG_EBADSIG, "Credential should be scoped to a valid region.");
    if (part[3].n == 0 || part[3].n >= sizeof(out->service) ||
        !scope_chars_ok(part[3].p, part[3].n))
        return hg_error_set(err, HG_EBADSIG, "Credential should be scoped to a valid service.");
    memcpy(out->access_key, part[0].p, part[0].n);
    out->access_key[part[0].n] = '\0';
    memcpy(out->date, part[1].p, 8);
    out->date[8] = '\0';
    memcpy(out->region, part[2].p, part[2].n);
    out->region[part[2].n] = '\0';
    memcpy(out->service, part[3].p, part[3].n);
    out->service[part[3].n] = '\0';
    return 0;
}

static int parse_signature(const char *p, size_t n, hg_sigv4_auth_t *out, hg_error_t *err)
{
    if (n != HEX_LEN)
        return hg_error_set(err, HG_EBADSIG, "Signature must be 64 hexadecimal characters");
    for (size_t i = 0; i < n; i++) {
        if (hg_hex_digit((unsigned char)p[i]) < 0)
            return hg_error_set(err, HG_EBADSIG, "Signature must be 64 hexadecimal characters");
        out->signature[i] = (char)lower((unsigned char)p[i]);
    }
    out->signature[n] = '\0';
    return 0;
}

static int set_signed_headers(const char *p, size_t n, hg_sigv4_auth_t *out, hg_error_t *err)
{
    if (n == 0 || n >= sizeof(out->signed_headers) || memchr(p, '\0', n) != NULL)
        return hg_error_set(err, HG_EBADSIG, "SignedHeaders must list 1 to %zu bytes of names",
                            sizeof(out->signed_headers) - 1);
    memcpy(out->signed_headers, p, n);
    out->signed_headers[n] = '\0';
    return 0;
}

static int set_amz_date(const char *p, size_t n, hg_sigv4_auth_t *out, hg_error_t *err)
{
    int64_t t;
    while (n > 0 && is_space((unsigned char)p[n - 1]))
        n--;
    while (n > 0 && is_space((unsigned char)*p)) {
        p++;
        n--;
    }
    if (n != AMZ_DATE_LEN)
        return hg_error_set(err, HG_EBADSIG, MSG_DATE_FORMAT);
    memcpy(out->amz_date, p, n);
    out->amz_date[n] = '\0';
    if (parse_amz_date(out->amz_date, &t) < 0)
        return hg_error_set(err, HG_EBADSIG, MSG_DATE_FORMAT);
    return 0;
}

static int parse_header_auth(const hg_sigv4_request_t *req, const hg_sigv4_header_t *authz,
                             hg_sigv4_auth_t *out, hg_error_t *err)
{
    const char *v = authz->value;
    size_t n = authz->value_len, alg = strlen(ALGORITHM);
    span_t cred = {NULL, 0}, sh = {NULL, 0}, sig = {NULL, 0};
    int rc;

    while (n > 0 && is_space((unsigned char)*v)) {
        v++;
        n--;
    }
    if (n < alg || memcmp(v, ALGORITHM, alg) != 0 || (n > alg && !is_space((unsigned char)v[alg])))
        return hg_error_set(err, HG_EBADSIG,
                            "Unsupported Authorization type; only AWS4-HMAC-SHA256 is accepted");
    for (size_t i = alg; i < n;) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_space((unsigned char)v[a]))
            a++;
        while (b > a && is_space((unsigned char)v[b - 1]))
            b--;
        const char *eq = memchr(v + a, '=', b - a);
        if (eq != NULL) {
            size_t kl = (size_t)(eq - (v + a));
            span_t val = {eq + 1, (size_t)(v + b - (eq + 1))};
            span_t *slot = NULL;
            if (kl == 10 && memcmp(v + a, "Credential", 10) == 0)
                slot = &cred;
            else if (kl == 13 && memcmp(v + a, "SignedHeaders", 13) == 0)
                slot = &sh;
            else if (kl == 9 && memcmp(v + a, "Signature", 9) == 0)
                slot = &sig;
            if (slot != NULL) {
                if (slot->p != NULL)
                    return hg_error_set(err, HG_EBADSIG,
                                        "Authorization header repeats the '%.*s' parameter",
                                        (int)kl, v + a);
                *slot = val;
            }
        }
        i = j + 1;
    }
    if (cred.p == NULL || sh.p == NULL || sig.p == NULL)
        return hg_error_set(err, HG_EBADSIG, "%s%s%sAuthorization=%s",
                            cred.p ? "" : "Authorization header requires 'Credential' parameter. ",
                            sig.p ? "" : "Authorization header requires 'Signature' parameter. ",
                            sh.p ? "" : "Authorization header requires 'SignedHeaders' parameter. ",
                            ALGORITHM);
    if ((rc = parse_credential(cred.p, cred.n, out, err)) != 0 ||
        (rc = set_signed_headers(sh.p, sh.n, out, err)) != 0 ||
        (rc = parse_signature(sig.p, sig.n, out, err)) != 0)
        return rc;

    size_t count = 0;
    const hg_sigv4_header_t *xd = find_header(req, "x-amz-date", 10, &count);
    if (count > 1)
        return hg_error_set(err, HG_EBADSIG, "Multiple X-Amz-Date headers");
    if (xd != NULL)
        return set_amz_date(xd->value, xd->value_len, out, err);
    const hg_sigv4_header_t *dh = find_header(req, "date", 4, &count);
    if (dh == NULL)
        return hg_error_set(err, HG_EBADSIG,
                            "Authorization header requires existence of either "
                            "a 'X-Amz-Date' or a 'Date' header.");
    if (count > 1 || imf_to_amz(dh->value, dh->value_len, out->amz_date) < 0)
        return hg_error_set(err, HG_EBADSIG,
                            "Date header must be one IMF-fixdate "
                            "(\"Sun, 06 Nov 1994 08:49:37 GMT\")");
    return 0;
}

enum { QA_ALGORITHM, QA_CREDENTIAL, QA_DATE, QA_EXPIRES, QA_SIGNED, QA_SIGNATURE, QA_TOKEN, QA_N };
static const char *const query_auth_names[QA_N] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",           "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token",
};

/* Finds the X-Amz-* auth parameters in the raw query (first occurrence of each). *dup is the
 * QA_* index of one that appears more than once, or -1. */
static void scan_query_auth(const hg_sigv4_request_t *req, span_t found[QA_N], int *dup)
{
    *dup = -1;
    for (int k = 0; k < QA_N; k++)
        found[k] = (span_t){NULL, 0};
    const char *q = req->query;
    size_t len = q != NULL ? req->query_len : 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        size_t e = i;
        while (e < j && q[e] != '=')
            e++;
        char name[32];
        long nl = pct_decode(q + i, e - i, name, sizeof(name));
        for (int k = 0; k < QA_N && nl > 0; k++) {
            if ((size_t)nl != strlen(query_auth_names[k]) ||
                memcmp(name, query_auth_names[k], (size_t)nl) != 0)
                continue;
            if (found[k].p != NULL)
                *dup = k;
            else
                found[k] = e < j ? (span_t){q + e + 1, j - e - 1} : (span_t){q + j, 0};
        }
        i = j + 1;
    }
}

static int parse_query_auth(const span_t qa[QA_N], hg_sigv4_auth_t *out, hg_error_t *err)
{
    char buf[1024];
    long n;
    int rc;
    for (int k = 0; k < QA_TOKEN; k++)
        if (qa[k].p == NULL)
            return hg_error_set(err, HG_EBADSIG,
                                "AWS query-string parameters must include 'X-Amz-Algorithm', "
                                "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', "
                                "'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the "
                                "query-string parameters.");
    if (!dec_eq(qa[QA_ALGORITHM], ALGORITHM))
        return hg_error_set(err, HG_EBADSIG, "X-Amz-Algorithm only supports \"" ALGORITHM "\"");
    if ((n = pct_decode(qa[QA_CREDENTIAL].p, qa[QA_CREDENTIAL].n, buf, sizeof(buf))) < 0)
        return hg_error_set(err, HG_EBADSIG, "X-Amz-Credential is too long");
    if ((rc = parse_credential(buf, (size_t)n, out, err)) != 0)
        return rc;
    if ((n = pct_decode(qa[QA_DATE].p, qa[QA_DATE].n, buf, sizeof(buf))) < 0 ||
        (rc = set_amz_date(buf, (size_t)n, out, err)) != 0)
        return hg_error_set(err, HG_EBADSIG, MSG_DATE_FORMAT);
    if ((n = pct_decode(qa[QA_EXPIRES].p, qa[QA_EXPIRES].n, buf, 16)) <= 0)
        return hg_error_set(err, HG_EBADSIG, "X-Amz-Expires should be a number");
    out->expires_s = 0;
    for (long i = 0; i < n; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return hg_error_set(err, HG_EBADSIG, "X-Amz-Expires should be a number");
        out->expires_s = out->expires_s * 10 + (buf[i] - '0');
    }
    if (out->expires_s > HG_SIGV4_MAX_EXPIRES)
        return hg_error_set(err, HG_EBADSIG,
                            "X-Amz-Expires must be less than a week (in seconds) that is %d",
                            HG_SIGV4_MAX_EXPIRES);
    if ((n = pct_decode(qa[QA_SIGNED].p, qa[QA_SIGNED].n, buf, sizeof(buf))) < 0)
        return hg_error_set(err, HG_EBADSIG, "X-Amz-SignedHeaders is too long");
    if ((rc = set_signed_headers(buf, (size_t)n, out, err)) != 0)
        return rc;
    if ((n = pct_decode(qa[QA_SIGNATURE].p, qa[QA_SIGNATURE].n, buf, 80)) < 0)
        return hg_error_set(err, HG_EBADSIG, "Signature must be 64 hexadecimal characters");
    if ((rc = parse_signature(buf, (size_t)n, out, err)) != 0)
        return rc;
    out->presigned = 1;
    return 0;
}

int hg_sigv4_parse(const hg_sigv4_request_t *req, hg_sigv4_auth_t *out, hg_error_t *err)
{
    span_t qa[QA_N];
    size_t count = 0;
    int rc, dup;

    memset(out, 0, sizeof(*out));
    const hg_sigv4_header_t *authz = find_header(req, "authorization", 13, &count);
    if (count > 1)
        return hg_error_set(err, HG_EBADSIG, "Multiple Authorization headers");
    scan_query_auth(req, qa, &dup);
    if (authz != NULL && qa[QA_ALGORITHM].p != NULL)
        return hg_error_set(err, HG_EBADSIG,
                            "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                            "parameter or the Authorization header should be specified");
    if (authz == NULL && qa[QA_ALGORITHM].p == NULL)
        return hg_error_set(err, HG_ENOAUTH, "Missing Authentication Token");
    if (authz == NULL && dup >= 0)
        return hg_error_set(err, HG_EBADSIG, "Query parameter %s appears more than once",
                            query_auth_names[dup]);
    rc = authz != NULL ? parse_header_auth(req, authz, out, err) : parse_query_auth(qa, out, err);
    if (rc != 0)
        return rc;
    out->has_security_token =
        find_header(req, "x-amz-security-token", 20, NULL) != NULL || qa[QA_TOKEN].p != NULL;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Verification
 */

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int check_time(const hg_sigv4_auth_t *auth, int64_t t, int64_t now_s, int64_t skew_s,
                      hg_error_t *err)
{
    char ts[32], edge[32], now[32], unit[32];
    if (skew_s < 0)
        skew_s = 0;
    bool future = t > sat_add(now_s, skew_s);
    bool past = auth->presigned ? now_s > sat_add(t, auth->expires_s) : t < sat_add(now_s, -skew_s);
    if (!future && !past)
        return 0;
    fmt_amz_date(t, ts);
    fmt_amz_date(now_s, now);
    if (skew_s % 60 == 0)
        snprintf(unit, sizeof(unit), "%lld min.", (long long)(skew_s / 60));
    else
        snprintf(unit, sizeof(unit), "%lld sec.", (long long)skew_s);
    if (future) {
        fmt_amz_date(sat_add(now_s, skew_s), edge);
        return hg_error_set(err, HG_ESKEW,
                            "Signature not yet current: %s is still later than %s (%s + %s)", ts,
                            edge, now, unit);
    }
    if (auth->presigned) {
        fmt_amz_date(sat_add(t, auth->expires_s), edge);
        return hg_error_set(err, HG_ESKEW,
                            "Request has expired: X-Amz-Date %s + X-Amz-Expires %lld s ended at "
                            "%s, now %s",
                            ts, (long long)auth->expires_s, edge, now);
    }
    fmt_amz_date(sat_add(now_s, -skew_s), edge);
    return hg_error_set(err, HG_ESKEW, "Signature expired: %s is now earlier than %s (%s - %s)", ts,
                        edge, now, unit);
}

/* `host` listed, no empty name, every listed header present. */
static int check_signed_headers(const hg_sigv4_request_t *req, const char *list, hg_error_t *err)
{
    bool host = false;
    for (const char *p = list;;) {
        const char *e = strchr(p, ';');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 0)
            return hg_error_set(err, HG_EBADSIG, "SignedHeaders contains an empty header name");
        if (ieq(p, n, "host", 4))
            host = true;
        if (find_header(req, p, n, NULL) == NULL)
            return hg_error_set(err, HG_EBADSIG,
                                "Signed header '%.*s' is not present in the "
                                "request",
                                (int)(n > 64 ? 64 : n), p);
        if (e == NULL)
            break;
        p = e + 1;
    }
    if (!host)
        return hg_error_set(err, HG_EBADSIG,
                            "'Host' or ':authority' must be a 'SignedHeader' in "
                            "the AWS Authorization.");
    return 0;
}

int hg_sigv4_verify(const hg_sigv4_request_t *req, const hg_sigv4_auth_t *auth, const char *secret,
                    size_t secret_len, const char *const *services, int64_t now_s, int64_t skew_s,
                    hg_error_t *err)
{
    int rc = HG_OK;
    int64_t t;
    unsigned char ksigning[HASH_LEN], hash[HASH_LEN];
    char body_hex[HEX_LEN + 1], sig[HEX_LEN + 1], declared[HEX_LEN + 1];
    const char *payload[2] = {NULL, NULL};

    state_t *st = state_get();
    if (st == NULL)
        return hg_error_set(err, HG_EINTERNAL, "OpenSSL SHA-256/HMAC unavailable");
    if (secret_len > HG_SIGV4_MAX_SECRET)
        return hg_error_set(err, HG_EINVAL, "secret key longer than %d bytes", HG_SIGV4_MAX_SECRET);
    if (req->method == NULL || parse_amz_date(auth->amz_date, &t) < 0)
        return hg_error_set(err, HG_EBADSIG, MSG_DATE_FORMAT);
    if ((rc = check_time(auth, t, now_s, skew_s, err)) != 0)
        return rc;
    if (memcmp(auth->date, auth->amz_date, 8) != 0)
        return hg_error_set(err, HG_EBADSIG,
                            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                            "version of date from HTTP: '%.8s' != '%.8s', from '%s'.",
                            auth->date, auth->amz_date, auth->amz_date);
    if (services != NULL) {
        size_t i = 0;
        while (services[i] != NULL && strcmp(services[i], auth->service) != 0)
            i++;
        if (services[i] == NULL)
            return hg_error_set(err, HG_EBADSIG,
                                "Credential should be scoped to correct service: '%s'.",
                                services[0] != NULL ? services[0] : "");
    }
    if ((rc = check_signed_headers(req, auth->signed_headers, err)) != 0)
        return rc;

    /* The payload hash: declared by the client (header, or query for presigned), else the
     * body's; a presigned request without a declaration may also have signed UNSIGNED-PAYLOAD. */
    const hg_sigv4_header_t *xh = find_header(req, "x-amz-content-sha256", 20, NULL);
    span_t decl = xh != NULL ? (span_t){xh->value, xh->value_len} : (span_t){NULL, 0};
    span_t qv;
    if (xh == NULL && auth->presigned && query_param(req, "X-Amz-Content-Sha256", &qv)) {
        long dn = pct_decode(qv.p, qv.n, declared, sizeof(declared));
        decl = dn >= 0 ? (span_t){declared, (size_t)dn} : (span_t){"?", 1};
    }
    bool unsigned_decl = decl.p != NULL && decl.n == strlen(UNSIGNED_PAYLOAD) &&
                         memcmp(decl.p, UNSIGNED_PAYLOAD, decl.n) == 0;
    if (unsigned_decl) {
        if (!auth->presigned && req->body_len > 0)
            return hg_error_set(err, HG_EBADSIG,
                                "UNSIGNED-PAYLOAD is only accepted on presigned "
                                "requests and requests without a body");
        payload[0] = UNSIGNED_PAYLOAD;
    } else {
        if ((rc = sha256(st, req->body, req->body_len, hash)) != 0)
            return hg_error_set(err, rc, "SHA-256 failed");
        to_hex(hash, HASH_LEN, body_hex);
        if (decl.p != NULL) {
            if (decl.n != HEX_LEN || !ieq(decl.p, decl.n, body_hex, HEX_LEN))
                return hg_error_set(err, HG_EBADSIG,
                                    "The provided 'x-amz-content-sha256' header "
                                    "does not match what was computed.");
            if (decl.p != declared)
                memcpy(declared, decl.p, HEX_LEN); /* signed as sent, case included */
            declared[HEX_LEN] = '\0';
            payload[0] = declared;
        } else {
            payload[0] = body_hex;
            if (auth->presigned)
                payload[1] = UNSIGNED_PAYLOAD;
        }
    }

    if ((rc = signing_key(st, auth->access_key, auth->date, auth->region, auth->service, secret,
                          secret_len, ksigning)) != 0) {
        hg_error_set(err, rc, "signing key derivation failed");
        goto out;
    }
    for (int v = 0; v < 2 && payload[v] != NULL; v++) {
        if ((rc = canonical_hash(st, req, auth->signed_headers, auth->presigned, payload[v], hash,
                                 err)) != 0 ||
            (rc = compute_signature(st, ksigning, auth->amz_date, auth->date, auth->region,
                                    auth->service, hash, sig)) != 0) {
            if (rc == HG_EINTERNAL)
                hg_error_set(err, rc, "HMAC-SHA256 failed");
            goto out;
        }
        if (CRYPTO_memcmp(sig, auth->signature, HEX_LEN) == 0) {
            rc = HG_OK;
            goto out;
        }
    }
    rc = hg_error_set(err, HG_EBADSIG, MSG_MISMATCH);
out:
    OPENSSL_cleanse(ksigning, sizeof(ksigning));
    OPENSSL_cleanse(sig, sizeof(sig));
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Signing (client side)
 */

static int cmp_header_names(const hg_sigv4_header_t *a, const hg_sigv4_header_t *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a->name[i]), y = lower((unsigned char)b->name[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static bool scope_part_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > 0 && n <= max && scope_chars_ok(s, n);
}

int hg_sigv4_sign(const hg_sigv4_request_t *req, const char *access_key, const char *secret,
                  const char *region, const char *service, const char *amz_date, char *out,
                  size_t cap)
{
    int rc = HG_OK;
    int64_t t;
    const hg_sigv4_header_t *sorted[HG_SIGV4_MAX_SIGN_HEADERS];
    char list[1024], body_hex[HEX_LEN + 1], sig[HEX_LEN + 1];
    unsigned char hash[HASH_LEN], ksigning[HASH_LEN];

    if (out != NULL && cap > 0)
        out[0] = '\0';
    if (out == NULL || cap == 0 || req->method == NULL || secret == NULL || amz_date == NULL ||
        parse_amz_date(amz_date, &t) < 0 || !scope_part_ok(access_key, 128) ||
        !scope_part_ok(region, 63) || !scope_part_ok(service, 63) ||
        strlen(secret) > HG_SIGV4_MAX_SECRET || req->nheaders > HG_SIGV4_MAX_SIGN_HEADERS)
        return HG_EINVAL;
    state_t *st = state_get();
    if (st == NULL)
        return HG_EINTERNAL;

    /* SignedHeaders: lower-cased, sorted, unique names. */
    for (size_t i = 0; i < req->nheaders; i++) {
        const hg_sigv4_header_t *hd = &req->headers[i];
        if (hd->name_len == 0)
            return HG_EINVAL;
        for (size_t k = 0; k < hd->name_len; k++)
            if (!is_tchar((unsigned char)hd->name[k]))
                return HG_EINVAL;
        size_t k = i;
        while (k > 0 && cmp_header_names(sorted[k - 1], hd) > 0) {
            sorted[k] = sorted[k - 1];
            k--;
        }
        sorted[k] = hd;
    }
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (i > 0 && cmp_header_names(sorted[i - 1], sorted[i]) == 0)
            continue;
        if (n + sorted[i]->name_len + 1 >= sizeof(list))
            return HG_EINVAL;
        if (n > 0)
            list[n++] = ';';
        for (size_t k = 0; k < sorted[i]->name_len; k++)
            list[n++] = (char)lower((unsigned char)sorted[i]->name[k]);
    }
    list[n] = '\0';
    if (n == 0)
        return HG_EINVAL;

    const hg_sigv4_header_t *xh = find_header(req, "x-amz-content-sha256", 20, NULL);
    if (xh != NULL) {
        if (xh->value_len > HEX_LEN || memchr(xh->value, '\0', xh->value_len) != NULL)
            return HG_EINVAL;
        memcpy(body_hex, xh->value, xh->value_len);
        body_hex[xh->value_len] = '\0';
    } else {
        if ((rc = sha256(st, req->body, req->body_len, hash)) != 0)
            return rc;
        to_hex(hash, HASH_LEN, body_hex);
    }
    if ((rc = canonical_hash(st, req, list, false, body_hex, hash, NULL)) != 0)
        return rc == HG_EINTERNAL ? rc : HG_EINVAL;
    char date[9];
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    if ((rc = signing_key(st, access_key, date, region, service, secret, strlen(secret),
                          ksigning)) != 0 ||
        (rc = compute_signature(st, ksigning, amz_date, date, region, service, hash, sig)) != 0)
        goto out;
    int w =
        snprintf(out, cap,
                 ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR ", SignedHeaders=%s, Signature=%s",
                 access_key, date, region, service, list, sig);
    if (w < 0 || (size_t)w >= cap) {
        out[0] = '\0';
        rc = HG_EINVAL;
    }
out:
    OPENSSL_cleanse(ksigning, sizeof(ksigning));
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * The Server SDK's socket signature (gamelift-wire.md §7.6)
 */

static int payload_signature(state_t *st, const char *access_key, const char *secret,
                             const char *amz_date, const char *region, const char *service,
                             const void *payload, size_t len, char sig[HEX_LEN + 1])
{
    unsigned char ks[HASH_LEN], h[HASH_LEN];
    int rc = signing_key(st, access_key, amz_date, region, service, secret, strlen(secret), ks);
    if (rc == 0)
        rc = sha256(st, payload, len, h);
    if (rc == 0)
        rc = compute_signature(st, ks, amz_date, amz_date, region, service, h, sig);
    OPENSSL_cleanse(ks, sizeof(ks));
    return rc;
}

int hg_sigv4_sign_payload(const char *access_key, const char *secret, const char *amz_date,
                          const char *region, const char *service, const void *payload, size_t len,
                          char out[65])
{
    state_t *st = state_get();
    int64_t t;
    if (st == NULL)
        return HG_EINTERNAL;
    if (strlen(amz_date) != AMZ_DATE_LEN || parse_amz_date(amz_date, &t) < 0 ||
        strlen(secret) > HG_SIGV4_MAX_SECRET || strlen(region) > 63 || strlen(service) > 63 ||
        strlen(access_key) > 128)
        return HG_EINVAL;
    return payload_signature(st, access_key, secret, amz_date, region, service, payload, len, out);
}

int hg_sigv4_verify_payload(const char *access_key, const char *secret, const char *amz_date,
                            const char *region, const char *service, const void *payload,
                            size_t len, const char *signature, int64_t now_s, int64_t skew_s,
                            int64_t max_age_s, hg_error_t *err)
{
    state_t *st = state_get();
    int64_t t;
    if (st == NULL)
        return hg_error_set(err, HG_EINTERNAL, "OpenSSL failed");
    if (strlen(amz_date) != AMZ_DATE_LEN || parse_amz_date(amz_date, &t) < 0)
        return hg_error_set(err, HG_EBADSIG, "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
    if (strlen(secret) > HG_SIGV4_MAX_SECRET || strlen(region) > 63 || strlen(service) > 63 ||
        strlen(access_key) > 128)
        return hg_error_set(err, HG_EBADSIG, "credential scope too long");
    hg_sigv4_auth_t auth = {.presigned = max_age_s > 0, .expires_s = max_age_s};
    int rc = check_time(&auth, t, now_s, skew_s, err);
    if (rc < 0)
        return rc;
    char sig[HEX_LEN + 1];
    if ((rc = payload_signature(st, access_key, secret, amz_date, region, service, payload, len,
                                sig)) != 0)
        return hg_error_set(err, HG_EINTERNAL, "OpenSSL failed");
    if (strlen(signature) != HEX_LEN || CRYPTO_memcmp(sig, signature, HEX_LEN) != 0)
        return hg_error_set(err, HG_EBADSIG,
                            "The request signature we calculated does not match the signature "
                            "you provided");
    return 0;
}
