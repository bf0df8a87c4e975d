/* hangar — libFuzzer driver for the signed PROXY header (src/http/proxyhdr.c), the first bytes an
 * owner reads from every connection in cluster mode, before TLS or HTTP.
 *
 * Each input runs:
 *   1. hg_proxyhdr_parse and hg_proxyhdr_skip on the input as received, and on the input behind
 *      a valid signature (so the length, family and TLV checks are reached), at every prefix
 *      length the owner could see while the bytes arrive split: it never claims more bytes than
 *      it was given, and a header it accepts has the length hg_proxyhdr_skip finds.
 *   2. a round-trip property: a header built from the input's first bytes (as addresses, ports
 *      and time) must verify, whole, name the same address, and ask for more at every prefix.
 * Seeds are in fuzz/corpus/proxyhdr/.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/proxyhdr.h"

#define KEY "the fuzzing cluster secret, 32 bytes or more"
#define NOW 1800000000

static const uint8_t signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static void look(const uint8_t *data, size_t size)
{
    struct sockaddr_storage src;
    const char *why;
    for (size_t k = 0; k <= size && k <= HG_PROXYHDR_MAX; k++) {
        int rc = hg_proxyhdr_parse(data, k, KEY, strlen(KEY), NOW, &src, &why);
        if (rc > 0 && (size_t)rc > k)
            abort(); /* consumed more than it had */
        int skip = hg_proxyhdr_skip(data, k);
        if (rc > 0 && skip != rc)
            abort(); /* a header that verifies has the length its field says */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    look(data, size);
    uint8_t *framed = malloc(sizeof(signature) + size);
    if (framed == NULL)
        return 0;
    memcpy(framed, signature, sizeof(signature));
    memcpy(framed + sizeof(signature), data, size);
    look(framed, sizeof(signature) + size);
    free(framed);

    /* round trip: the input's first 45 bytes as a family bit, two IPv6 (or IPv4) addresses,
     * two ports and a time within the window */
    if (size < 45)
        return 0;
    struct sockaddr_storage a = {0}, b = {0}, got;
    int v6 = data[0] & 1;
    if (v6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a, *d = (struct sockaddr_in6 *)&b;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, data + 1, 16);
        memcpy(&d->sin6_addr, data + 17, 16);
        memcpy(&s->sin6_port, data + 33, 2);
        memcpy(&d->sin6_port, data + 35, 2);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&a, *d = (struct sockaddr_in *)&b;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, data + 1, 4);
        memcpy(&d->sin_addr, data + 5, 4);
        memcpy(&s->sin_port, data + 9, 2);
        memcpy(&d->sin_port, data + 11, 2);
    }
    int64_t at = NOW - HG_PROXYHDR_WINDOW_S + (int64_t)(data[44] % (2 * HG_PROXYHDR_WINDOW_S + 1));
    uint8_t h[HG_PROXYHDR_MAX];
    size_t n =
        hg_proxyhdr_build(h, (struct sockaddr *)&a, (struct sockaddr *)&b, KEY, strlen(KEY), at);
    const char *why;
    if (n == 0 || hg_proxyhdr_parse(h, n, KEY, strlen(KEY), NOW, &got, &why) != (int)n)
        abort();
    if (memcmp(&got, &a, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0)
        abort();
    for (size_t k = 0; k < n; k++)
        if (hg_proxyhdr_parse(h, k, KEY, strlen(KEY), NOW, &got, &why) != 0)
            abort();
    return 0;
}
