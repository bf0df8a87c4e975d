/* Unit tests: the signed PROXY protocol v2 header a standby's relay sends (http/proxyhdr.h) —
 * what the relay builds the owner accepts, read a byte at a time as well as whole; IPv4 and
 * IPv6; and everything else that starts with the signature refused: another shape, a header too
 * long, a missing TLV, a bad HMAC, a time outside the window. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/err.h"
#include "http/proxyhdr.h"
#include "test.h"

#define KEY "0123456789abcdef0123456789abcdef-the-cluster-secret"
#define NOW 1800000000

static size_t build4(uint8_t out[HG_PROXYHDR_MAX], const char *ip, int port, const char *key,
                     int64_t at)
{
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(7771)};
    inet_pton(AF_INET, ip, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    return hg_proxyhdr_build(out, (struct sockaddr *)&src, (struct sockaddr *)&dst, key,
                             strlen(key), at);
}

static int parse(const uint8_t *data, size_t len, struct sockaddr_storage *src)
{
    const char *why;
    return hg_proxyhdr_parse(data, len, KEY, strlen(KEY), NOW, src, &why);
}

HG_TEST(ipv4_round_trip_whole_and_byte_by_byte)
{
    uint8_t h[HG_PROXYHDR_MAX + 32];
    size_t n = build4(h, "203.0.113.7", 4242, KEY, NOW);
    ASSERT_EQ_INT(n, 16 + 12 + 43);
    struct sockaddr_storage src;
    for (size_t k = 1; k < n; k++) /* split across reads: a prefix asks for more */
        ASSERT_EQ_INT(parse(h, k, &src), 0);
    memcpy(h + n, "GET / HTTP/1.1\r\n", 16); /* what follows is not part of it */
    ASSERT_EQ_INT(parse(h, n + 16, &src), (int)n);
    ASSERT_EQ_INT(src.ss_family, AF_INET);
    char ip[64];
    inet_ntop(AF_INET, &((struct sockaddr_in *)&src)->sin_addr, ip, sizeof(ip));
    ASSERT_STR_EQ(ip, "203.0.113.7");
    ASSERT_EQ_INT(ntohs(((struct sockaddr_in *)&src)->sin_port), 4242);
}

HG_TEST(ipv6_round_trip)
{
    struct sockaddr_in6 src6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    struct sockaddr_in6 dst6 = {.sin6_family = AF_INET6, .sin6_port = htons(7771)};
    inet_pton(AF_INET6, "2001:db8::5", &src6.sin6_addr);
    inet_pton(AF_INET6, "::1", &dst6.sin6_addr);
    uint8_t h[HG_PROXYHDR_MAX];
    size_t n = hg_proxyhdr_build(h, (struct sockaddr *)&src6, (struct sockaddr *)&dst6, KEY,
                                 strlen(KEY), NOW);
    ASSERT_EQ_INT(n, 16 + 36 + 43);
    struct sockaddr_storage src;
    for (size_t k = 1; k < n; k++)
        ASSERT_EQ_INT(parse(h, k, &src), 0);
    ASSERT_EQ_INT(parse(h, n, &src), (int)n);
    ASSERT_EQ_INT(src.ss_family, AF_INET6);
    char ip[64];
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&src)->sin6_addr, ip, sizeof(ip));
    ASSERT_STR_EQ(ip, "2001:db8::5");
    ASSERT_EQ_INT(ntohs(((struct sockaddr_in6 *)&src)->sin6_port), 443);
}

HG_TEST(streams_without_the_signature_are_not_headers)
{
    struct sockaddr_storage src;
    ASSERT_EQ_INT(parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &src), HG_ENOTFOUND);
    ASSERT_EQ_INT(parse((const uint8_t *)"G", 1, &src), HG_ENOTFOUND); /* the first byte says */
    ASSERT_EQ_INT(parse((const uint8_t *)"\x16\x03\x01", 3, &src), HG_ENOTFOUND); /* TLS */
    /* blank lines before a request start like the signature, then differ */
    ASSERT_EQ_INT(parse((const uint8_t *)"\r\n", 2, &src), 0);
    ASSERT_EQ_INT(parse((const uint8_t *)"\r\n\r\nGET", 7, &src), HG_ENOTFOUND);
}

HG_TEST(another_shape_after_the_signature_is_refused)
{
    uint8_t h[HG_PROXYHDR_MAX];
    size_t n = build4(h, "203.0.113.7", 4242, KEY, NOW);
    struct sockaddr_storage src;
    uint8_t b[HG_PROXYHDR_MAX];
    memcpy(b, h, n);
    b[12] = 0x20; /* LOCAL */
    ASSERT_EQ_INT(parse(b, 16, &src), HG_EINVAL);
    b[12] = 0x11; /* version 1 */
    ASSERT_EQ_INT(parse(b, 16, &src), HG_EINVAL);
    memcpy(b, h, n);
    b[13] = 0x12; /* UDP over IPv4 */
    ASSERT_EQ_INT(parse(b, 16, &src), HG_EINVAL);
    b[13] = 0x31; /* UNIX stream */
    ASSERT_EQ_INT(parse(b, 16, &src), HG_EINVAL);
    /* the addresses alone, no TLV (what HAProxy would send) */
    memcpy(b, h, n);
    b[14] = 0;
    b[15] = 12;
    ASSERT_EQ_INT(parse(b, 16 + 12, &src), HG_EINVAL);
    /* another TLV type where ours should be */
    memcpy(b, h, n);
    b[16 + 12] = 0xE1;
    ASSERT_EQ_INT(parse(b, n, &src), HG_EINVAL);
}

HG_TEST(too_long_is_refused_before_it_is_read)
{
    uint8_t h[HG_PROXYHDR_MAX];
    build4(h, "203.0.113.7", 4242, KEY, NOW);
    struct sockaddr_storage src;
    h[14] = 0xFF; /* 65535 bytes announced: refused on the 16 bytes already read */
    h[15] = 0xFF;
    ASSERT_EQ_INT(parse(h, 16, &src), HG_EINVAL);
    h[14] = 0; /* longer than ours by a TLV: also refused (the signed part is all of it) */
    h[15] = 12 + 43 + 5;
    ASSERT_EQ_INT(parse(h, 16, &src), HG_EINVAL);
}

HG_TEST(a_bad_hmac_is_refused)
{
    uint8_t h[HG_PROXYHDR_MAX];
    struct sockaddr_storage src;
    size_t n = build4(h, "203.0.113.7", 4242, "another secret, 32 bytes or more!!", NOW);
    ASSERT_EQ_INT(parse(h, n, &src), HG_EBADSIG); /* signed with another key */
    n = build4(h, "203.0.113.7", 4242, KEY, NOW);
    h[16] ^= 1; /* the address changed after signing: 202.0.113.7 */
    ASSERT_EQ_INT(parse(h, n, &src), HG_EBADSIG);
    h[16] ^= 1;
    h[n - 1] ^= 0x80; /* the MAC itself */
    ASSERT_EQ_INT(parse(h, n, &src), HG_EBADSIG);
    h[n - 1] ^= 0x80;
    h[16 + 12 + 3 + 7] ^= 1; /* the time changed after signing */
    ASSERT_EQ_INT(parse(h, n, &src), HG_EBADSIG);
    h[16 + 12 + 3 + 7] ^= 1;
    ASSERT_EQ_INT(parse(h, n, &src), (int)n);
    const char *why;
    ASSERT_EQ_INT(hg_proxyhdr_parse(h, n, "", 0, NOW, &src, &why), HG_EBADSIG); /* no key */
}

HG_TEST(a_time_outside_the_window_is_refused)
{
    uint8_t h[HG_PROXYHDR_MAX];
    struct sockaddr_storage src;
    size_t n = build4(h, "203.0.113.7", 4242, KEY, NOW - HG_PROXYHDR_WINDOW_S);
    ASSERT_EQ_INT(parse(h, n, &src), (int)n);
    n = build4(h, "203.0.113.7", 4242, KEY, NOW + HG_PROXYHDR_WINDOW_S);
    ASSERT_EQ_INT(parse(h, n, &src), (int)n);
    n = build4(h, "203.0.113.7", 4242, KEY, NOW - HG_PROXYHDR_WINDOW_S - 1);
    ASSERT_EQ_INT(parse(h, n, &src), HG_ESKEW);
    n = build4(h, "203.0.113.7", 4242, KEY, NOW + HG_PROXYHDR_WINDOW_S + 1);
    ASSERT_EQ_INT(parse(h, n, &src), HG_ESKEW);
    n = build4(h, "203.0.113.7", 4242, KEY, 0);
    ASSERT_EQ_INT(parse(h, n, &src), HG_ESKEW);
}

HG_TEST(skip_finds_the_end_without_verifying)
{
    uint8_t h[HG_PROXYHDR_MAX];
    size_t n = build4(h, "203.0.113.7", 4242, "any other secret, 32 bytes or more", 0);
    for (size_t k = 1; k < n; k++)
        ASSERT_EQ_INT(hg_proxyhdr_skip(h, k), 0);
    ASSERT_EQ_INT(hg_proxyhdr_skip(h, n), (int)n);
    ASSERT_EQ_INT(hg_proxyhdr_skip((const uint8_t *)"GET /", 5), HG_ENOTFOUND);
    h[14] = 0xFF;
    ASSERT_EQ_INT(hg_proxyhdr_skip(h, 16), HG_EINVAL);
}

HG_SUITE(proxyhdr) = {
    HG_CASE(ipv4_round_trip_whole_and_byte_by_byte),
    HG_CASE(ipv6_round_trip),
    HG_CASE(streams_without_the_signature_are_not_headers),
    HG_CASE(another_shape_after_the_signature_is_refused),
    HG_CASE(too_long_is_refused_before_it_is_read),
    HG_CASE(a_bad_hmac_is_refused),
    HG_CASE(a_time_outside_the_window_is_refused),
    HG_CASE(skip_finds_the_end_without_verifying),
    HG_CASE_END,
};
