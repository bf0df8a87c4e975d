/* hangar — libFuzzer driver for SigV4 parsing and verification (src/auth/sigv4.c).
 *
 * Input: a header block, a blank line ("\n\n"), then the body (the whole input is the header
 * block when there is no blank line). The block's first line is "METHOD target" where target
 * is path[?query]; every further line is "name:value" (the value is kept verbatim, leading
 * spaces included, so trimming is exercised). Seeds are in fuzz/corpus/sigv4/.
 *
 * Each input runs:
 *   1. hg_sigv4_parse + hg_sigv4_verify as received, once at a realistic clock and once with
 *      an unbounded skew so the canonicalisation code runs whatever the date says;
 *   2. a round-trip property: when the input carries no credentials, it is signed with
 *      hg_sigv4_sign (host and x-amz-date added when missing) and must then verify. A failure
 *      aborts, so a canonicalisation mismatch between the signer and the verifier is a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sigv4.h"

#define MAX_HEADERS 64
#define NOW 1795371011 /* 20261122T181011Z, the date of the seeds */
#define AMZ_DATE "20261122T181011Z"

static const char *const services[] = {"gamelift", "hangar", NULL};

static int has_header(const hg_sigv4_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == strlen(name) && strncasecmp(h[i].name, name, h[i].name_len) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hg_sigv4_header_t h[MAX_HEADERS + 3];
    hg_sigv4_request_t req;
    hg_sigv4_auth_t auth;
    hg_error_t err;
    char method[32] = "GET";
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    /* Split header block / body. */
    char *sep = memmem(buf, size, "\n\n", 2);
    size_t block = sep != NULL ? (size_t)(sep - buf) : size;
    memset(&req, 0, sizeof(req));
    req.body = sep != NULL ? sep + 2 : NULL;
    req.body_len = sep != NULL ? size - block - 2 : 0;

    /* Request line. */
    char *line = buf, *end = buf + block;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *le = nl != NULL ? nl : end;
    char *sp = memchr(line, ' ', (size_t)(le - line));
    char *target = line;
    if (sp != NULL) {
        size_t ml =
            (size_t)(sp - line) < sizeof(method) - 1 ? (size_t)(sp - line) : sizeof(method) - 1;
        memcpy(method, line, ml);
        method[ml] = '\0';
        target = sp + 1;
    }
    char *q = memchr(target, '?', (size_t)(le - target));
    req.method = method;
    req.path = target;
    req.path_len = (size_t)((q != NULL ? q : le) - target);
    req.query = q != NULL ? q + 1 : "";
    req.query_len = q != NULL ? (size_t)(le - q - 1) : 0;

    /* Header lines. */
    size_t n = 0;
    for (line = nl != NULL ? nl + 1 : end; line < end && n < MAX_HEADERS;) {
        nl = memchr(line, '\n', (size_t)(end - line));
        le = nl != NULL ? nl : end;
        char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon != NULL)
            h[n++] = (hg_sigv4_header_t){line, (size_t)(colon - line), colon + 1,
                                         (size_t)(le - colon - 1)};
        line = le + 1;
    }
    req.headers = h;
    req.nheaders = n;

    /* 1. As received. */
    int rc = hg_sigv4_parse(&req, &auth, &err);
    if (rc == 0) {
        hg_sigv4_verify(&req, &auth, "fuzz-secret", 11, services, NOW, 300, &err);
        hg_sigv4_verify(&req, &auth, "fuzz-secret", 11, services, 0, INT64_MAX, &err);
        hg_sigv4_verify(&req, &auth, "fuzz-secret", 11, NULL, INT64_MAX, 0, &err);
    }

    /* 2. Sign, then verify. */
    if (rc == HG_ENOAUTH && !has_header(h, n, "x-amz-date") &&
        !has_header(h, n, "x-amz-content-sha256")) {
        char value[4096];
        if (!has_header(h, n, "host"))
            h[n++] = (hg_sigv4_header_t){"Host", 4, "fuzz.local:7770", 15};
        h[n++] = (hg_sigv4_header_t){"X-Amz-Date", 10, AMZ_DATE, 16};
        req.nheaders = n;
        if (hg_sigv4_sign(&req, "AKIDFUZZ", "fuzz-secret", "us-west-2", "gamelift", AMZ_DATE, value,
                          sizeof(value)) == 0) {
            h[n++] = (hg_sigv4_header_t){"Authorization", 13, value, strlen(value)};
            req.nheaders = n;
            rc = hg_sigv4_parse(&req, &auth, &err);
            if (rc == 0)
                rc = hg_sigv4_verify(&req, &auth, "fuzz-secret", 11, services, NOW, 300, &err);
            if (rc != 0) {
                fprintf(stderr, "round trip failed: %d %s\n", rc, err.msg);
                abort();
            }
        }
    }
    free(buf);
    return 0;
}
