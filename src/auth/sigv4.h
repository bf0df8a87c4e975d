/* hangar — AWS Signature Version 4: verification (daemon) and signing (CLI, bench, tests).
 *
 * The daemon authenticates every GameLift JSON 1.1 call and every native /v1 call with SigV4,
 * exactly as AWS does, so boto3, the AWS CLI and the JS SDK work against it unchanged (see the
 * GameLift wire digest, §1.7). Two entry points on the server side:
 * hg_sigv4_parse() extracts the credential scope from the Authorization header (or from the
 * X-Amz-* query parameters of a presigned URL); the caller looks the access key up in its key
 * store and then calls hg_sigv4_verify() with the secret.
 *
 * Canonicalisation follows botocore's SigV4Auth / SigV4QueryAuth (non-S3 rules):
 *   - URI: the raw request-target path as received, dot segments and empty segments removed
 *     (a trailing '/' kept), then every byte outside A-Z a-z 0-9 - _ . ~ / percent-encoded.
 *     The raw path is already percent-encoded on the wire, so a '%' becomes "%25": this is the
 *     "double encoding" every non-S3 AWS service uses (botocore: quote(path, safe='/~'),
 *     JS: escapeUri(normalizedPath)). A signer that does S3-style single encoding will not match.
 *   - Query: each name and value percent-decoded then re-encoded with the unreserved set only
 *     ('+' is a literal plus, not a space), pairs sorted by encoded name then encoded value,
 *     X-Amz-Signature left out for presigned requests.
 *   - Headers: the client's SignedHeaders list in the client's order, values trimmed with inner
 *     runs of whitespace collapsed to one space, repeated headers joined with ','.
 *   - Payload: hex SHA-256 of the exact body bytes, or the x-amz-content-sha256 header value
 *     when present (it must then equal the body hash, or be UNSIGNED-PAYLOAD on a presigned
 *     request or an empty body).
 *
 * Cost: the derived signing key (4 HMACs) is cached per (access key, date, region, service,
 * secret) in a 64-entry per-thread table, so a verify costs one SHA-256 over the body, one
 * streamed SHA-256 over the canonical request and one HMAC (about 1.1 µs for a typical
 * GameLift call), with no heap allocation of ours (libcrypto 3.0 makes four small ones inside
 * EVP_DigestInit_ex2) and no size cap on the canonical request (it is hashed as produced).
 *
 * Threading: any thread may call these functions; each thread keeps its own OpenSSL contexts
 * and key cache (created on first use; hg_sigv4_thread_cleanup() releases them). The daemon
 * calls them on the loop thread only. Secrets and signatures are never logged.
 */
#ifndef HG_AUTH_SIGV4_H
#define HG_AUTH_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Limits (each documented so a request can never reach an unbounded structure). */
#define HG_SIGV4_MAX_QUERY_PARAMS 64   /* more → HG_EBADSIG (verify) / HG_EINVAL (sign) */
#define HG_SIGV4_MAX_PATH_SEGMENTS 128 /* non-empty path segments; more → same */
#define HG_SIGV4_MAX_SIGN_HEADERS 64   /* headers hg_sigv4_sign() will sign */
#define HG_SIGV4_MAX_SECRET 256        /* bytes of secret key; longer → HG_EINVAL */
#define HG_SIGV4_MAX_EXPIRES 604800    /* X-Amz-Expires upper bound (one week), as AWS */
#define HG_SIGV4_KEY_CACHE 64          /* derived-key cache entries per thread */

/* One received header. Names in any case; a name may repeat. Not NUL-terminated. */
typedef struct hg_sigv4_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hg_sigv4_header_t;

/* A request as received (server) or about to be sent (client). All pointers are borrowed. */
typedef struct hg_sigv4_request {
    const char *method; /* "POST", "GET" (NUL-terminated) */
    const char *path;   /* raw request-target path as received, no '?query' */
    size_t path_len;
    const char *query; /* raw query string without '?', may be empty/NULL */
    size_t query_len;
    const hg_sigv4_header_t *headers; /* as received; names in any case; a name may repeat */
    size_t nheaders;
    const void *body;
    size_t body_len;
} hg_sigv4_request_t;

/* Credentials parsed from the Authorization header, or from the query (presigned). */
typedef struct hg_sigv4_auth {
    char access_key[129];
    char date[9]; /* credential-scope date, YYYYMMDD */
    char region[64];
    char service[64];
    char amz_date[17];         /* YYYYMMDDTHHMMSSZ (converted from Date: when that was used) */
    char signature[65];        /* lower-case hex */
    char signed_headers[1024]; /* as the client sent it */
    int presigned;             /* 1 when it came from X-Amz-* query parameters */
    int64_t expires_s;         /* X-Amz-Expires for presigned, else 0 */
    int has_security_token;    /* X-Amz-Security-Token header or query parameter present */
} hg_sigv4_auth_t;

/* Parse the credentials out of req: the Authorization header, else the X-Amz-Algorithm /
 * X-Amz-Credential / X-Amz-Date / X-Amz-Expires / X-Amz-SignedHeaders / X-Amz-Signature query
 * parameters. Checks only shape (scope has five parts ending in aws4_request, a date is present
 * and well formed, the signature is 64 hex digits); it does not check time or signature.
 * Returns 0 and fills *out; HG_ENOAUTH ("Missing Authentication Token") when the request carries
 * no SigV4 credentials at all; HG_EBADSIG with an AWS-style message when they are malformed.
 * err may be NULL. Borrows req for the call only. */
int hg_sigv4_parse(const hg_sigv4_request_t *req, hg_sigv4_auth_t *out, hg_error_t *err);

/* Verify auth (from hg_sigv4_parse on the same req) against secret.
 * Checks, in order: request time (auth->amz_date) within ±skew_s of now_s (presigned: not
 * later than now_s + skew_s and not older than X-Amz-Expires) else HG_ESKEW with AWS's wording
 * ("Signature expired: … is now earlier than … (… - 5 min.)" / "Signature not yet current: …
 * is still later than … (… + 5 min.)"); credential-scope date == date of amz_date; service in
 * services (a NULL-terminated list; services == NULL accepts any signing name); `host` among
 * the signed headers and every signed header present; then the signature, compared in
 * constant time. Returns 0 when good; HG_ESKEW or HG_EBADSIG (message filled, err may be NULL);
 * HG_EINVAL when secret_len > HG_SIGV4_MAX_SECRET; HG_EINTERNAL if OpenSSL fails.
 * Borrows req, auth and secret for the call only. */
int hg_sigv4_verify(const hg_sigv4_request_t *req, const hg_sigv4_auth_t *auth, const char *secret,
                    size_t secret_len, const char *const *services, int64_t now_s, int64_t skew_s,
                    hg_error_t *err);

/* Client side: compute the Authorization header value for req, signed at amz_date
 * (YYYYMMDDTHHMMSSZ) with scope <amz_date[0..8]>/region/service/aws4_request. Signs every
 * header in req->headers (names lower-cased and sorted; the caller passes host and x-amz-date
 * among them, plus x-amz-security-token for session credentials); the payload hash is the
 * x-amz-content-sha256 header value when one is passed, else the SHA-256 of the body.
 * Writes a NUL-terminated value into out (cap bytes). Returns 0; HG_EINVAL when it does not
 * fit, amz_date is malformed, a header name is not an HTTP token, or a limit above is
 * exceeded; HG_EINTERNAL if OpenSSL fails. Borrows everything for the call only. */
int hg_sigv4_sign(const hg_sigv4_request_t *req, const char *access_key, const char *secret,
                  const char *region, const char *service, const char *amz_date, char *out,
                  size_t cap);

/* The GameLift Server SDK's socket signature (gamelift-wire.md §7.6): not a canonical request
 * but hex(HMAC(kSigning, "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n"
 * + hex(SHA-256(payload)))), where the SDK's payload is the URL-encoded, key-sorted query string
 * `ComputeId=…&FleetId=…&pID=…`. The scope date is amz_date's. sign: 0 or HG_EINVAL /
 * HG_EINTERNAL. verify: also checks amz_date is not later than now_s + skew_s and not older than
 * max_age_s (0: skew_s) (HG_ESKEW) — the SDKs sign once and reconnect with the same URL, so the
 * socket needs an age window longer than the API's skew; HG_EBADSIG for a malformed date or a
 * wrong signature (constant-time compare). */
int hg_sigv4_sign_payload(const char *access_key, const char *secret, const char *amz_date,
                          const char *region, const char *service, const void *payload, size_t len,
                          char out[65]);
int hg_sigv4_verify_payload(const char *access_key, const char *secret, const char *amz_date,
                            const char *region, const char *service, const void *payload,
                            size_t len, const char *signature, int64_t now_s, int64_t skew_s,
                            int64_t max_age_s, hg_error_t *err);

/* A NUL-terminated X-Amz-Date (YYYYMMDDTHHMMSSZ) as Unix seconds: 0 and *t, or HG_EINVAL. */
int hg_sigv4_parse_date(const char *amz_date, int64_t *t);

/* Release the calling thread's OpenSSL contexts and key cache (the cache is wiped first).
 * Optional: call before a thread that used this module exits. Safe when nothing was created;
 * the next call on this thread recreates the state. */
void hg_sigv4_thread_cleanup(void);

#endif
