/* hangar — the signed PROXY protocol v2 header (see proxyhdr.h).
 *
 * Strict by design: only hangar's relays send this header, so the parser accepts exactly the
 * shape hg_proxyhdr_build() writes and refuses everything else that starts with the signature
 * (another command, UDP, UNIX sockets, TLVs of other types). That keeps the signed part the whole
 * header: there is no unsigned byte a forger could vary. The HMAC is checked before the time, so
 * a forger learns nothing from which error it gets; the comparison is constant-time.
 */
#include "http/proxyhdr.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "core/err.h"

#define SIG_LEN 12
#define FIXED_LEN 16 /* signature, version and command, family, length */
#define VER_CMD_PROXY 0x21
#define FAM_TCP4 0x11
#define FAM_TCP6 0x21
#define ADDR4_LEN 12
#define ADDR6_LEN 36
#define MAC_LEN 32
#define TLV_LEN (3 + 8 + MAC_LEN) /* type, length, time, HMAC */

static const uint8_t signature[SIG_LEN] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void mac(const char *key, size_t key_len, const uint8_t *data, size_t len,
                uint8_t out[MAC_LEN])
{
    unsigned out_len = MAC_LEN;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

size_t hg_proxyhdr_build(uint8_t out[HG_PROXYHDR_MAX], const struct sockaddr *src,
                         const struct sockaddr *dst, const char *key, size_t key_len, int64_t now_s)
{
    size_t addr_len;
    uint8_t *a = out + FIXED_LEN;
    memcpy(out, signature, SIG_LEN);
    out[12] = VER_CMD_PROXY;
    if (src->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
        int same = dst->sa_family == AF_INET;
        out[13] = FAM_TCP4;
        addr_len = ADDR4_LEN;
        memcpy(a, &s->sin_addr, 4);
        memset(a + 4, 0, 4);
        memcpy(a + 8, &s->sin_port, 2); /* already in network order */
        memset(a + 10, 0, 2);
        if (same) {
            memcpy(a + 4, &d->sin_addr, 4);
            memcpy(a + 10, &d->sin_port, 2);
        }
    } else if (src->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)src;
        const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)dst;
        int same = dst->sa_family == AF_INET6;
        out[13] = FAM_TCP6;
        addr_len = ADDR6_LEN;
        memcpy(a, &s->sin6_addr, 16);
        memset(a + 16, 0, 16);
        memcpy(a + 32, &s->sin6_port, 2);
        memset(a + 34, 0, 2);
        if (same) {
            memcpy(a + 16, &d->sin6_addr, 16);
            memcpy(a + 34, &d->sin6_port, 2);
        }
    } else {
        return 0;
    }
    size_t rest = addr_len + TLV_LEN;
    out[14] = (uint8_t)(rest >> 8);
    out[15] = (uint8_t)rest;
    uint8_t *t = a + addr_len;
    t[0] = HG_PROXYHDR_TLV_AUTH;
    t[1] = 0;
    t[2] = 8 + MAC_LEN;
    put_be64(t + 3, (uint64_t)now_s);
    size_t signed_len = FIXED_LEN + rest - MAC_LEN;
    mac(key, key_len, out, signed_len, out + signed_len);
    return FIXED_LEN + rest;
}

int hg_proxyhdr_parse(const uint8_t *data, size_t len, const char *key, size_t key_len,
                      int64_t now_s, struct sockaddr_storage *src, const char **why)
{
    static const char *const none = "";
    *why = none;
    size_t n = len < SIG_LEN ? len : SIG_LEN;
    if (memcmp(data, signature, n) != 0)
        return HG_ENOTFOUND;
    if (len < FIXED_LEN)
        return 0;
    if (data[12] != VER_CMD_PROXY) {
        *why = "not version 2 with the PROXY command";
        return HG_EINVAL;
    }
    size_t addr_len = data[13] == FAM_TCP4 ? ADDR4_LEN : data[13] == FAM_TCP6 ? ADDR6_LEN : 0;
    if (addr_len == 0) {
        *why = "not TCP over IPv4 or IPv6";
        return HG_EINVAL;
    }
    size_t rest = (size_t)data[14] << 8 | data[15];
    if (FIXED_LEN + rest > HG_PROXYHDR_MAX) {
        *why = "too long";
        return HG_EINVAL;
    }
    if (rest != addr_len + TLV_LEN) {
        *why = "no authentication TLV, or other TLVs";
        return HG_EINVAL;
    }
    if (len < FIXED_LEN + rest)
        return 0;
    const uint8_t *a = data + FIXED_LEN;
    const uint8_t *t = a + addr_len;
    if (t[0] != HG_PROXYHDR_TLV_AUTH || t[1] != 0 || t[2] != 8 + MAC_LEN) {
        *why = "no authentication TLV";
        return HG_EINVAL;
    }
    uint8_t want[MAC_LEN];
    size_t signed_len = FIXED_LEN + rest - MAC_LEN;
    mac(key, key_len, data, signed_len, want);
    if (key_len == 0 || CRYPTO_memcmp(want, data + signed_len, MAC_LEN) != 0) {
        *why = "the HMAC does not match the cluster secret";
        return HG_EBADSIG;
    }
    int64_t at = (int64_t)get_be64(t + 3);
    if (at < now_s - HG_PROXYHDR_WINDOW_S || at > now_s + HG_PROXYHDR_WINDOW_S) {
        *why = "its time is outside the window (the nodes' clocks differ, or a replay)";
        return HG_ESKEW;
    }
    memset(src, 0, sizeof(*src));
    if (addr_len == ADDR4_LEN) {
        struct sockaddr_in *s = (struct sockaddr_in *)src;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&s->sin_port, a + 8, 2);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)src;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&s->sin6_port, a + 32, 2);
    }
    return (int)(FIXED_LEN + rest);
}

int hg_proxyhdr_skip(const uint8_t *data, size_t len)
{
    size_t n = len < SIG_LEN ? len : SIG_LEN;
    if (memcmp(data, signature, n) != 0)
        return HG_ENOTFOUND;
    if (len < FIXED_LEN)
        return 0;
    size_t whole = FIXED_LEN + ((size_t)data[14] << 8 | data[15]);
    if (whole > HG_PROXYHDR_MAX)
        return HG_EINVAL;
    return len < whole ? 0 : (int)whole;
}
