/* Unit tests: SigV4 verification and signing (src/auth/sigv4.c).
 *
 * The vectors come from real clients: the two of gamelift-wire.md §1.7 (boto3 1.43 and JS v3
 * against RegisterGameServer), and five produced once with Debian's botocore 1.29 under a frozen
 * clock (secret "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", time 20261122T181011Z):
 *
 *   import datetime, botocore.auth as A
 *   from botocore.awsrequest import AWSRequest
 *   from botocore.credentials import Credentials
 *   class T(datetime.datetime):
 *       @classmethod
 *       def utcnow(cls): return datetime.datetime(2026, 11, 22, 18, 10, 11)
 *   A.datetime = type("m", (), {"datetime": T})
 *   c = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
 *   r = AWSRequest(method="GET", url="http://127.0.0.1:18081/v1/ws?pID=proc-1&FleetId=fleet-abc")
 *   A.SigV4QueryAuth(c, "gamelift", "us-west-2", expires=300).add_auth(r); print(r.url)
 *   ... (SigV4Auth for the header-form ones; see each test)
 */
#include <string.h>

#include "auth/sigv4.h"
#include "test.h"

#define T_BOTO 1795371011 /* 20261122T181011Z */
#define T_JS 1795371256   /* 20261122T181416Z */
#define SKEW 300
#define BOTOCORE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define MISMATCH                                                                                   \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."

static const char *const gamelift[] = {"gamelift", NULL};
static const char *const hangar[] = {"hangar", "gamelift", NULL};
static const char *const only_hangar[] = {"hangar", NULL};

typedef struct treq {
    hg_sigv4_header_t h[32];
    hg_sigv4_request_t r;
} treq_t;

/* target is "path" or "path?query"; body may be NULL. All strings must outlive t. */
static void treq_init(treq_t *t, const char *method, const char *target, const char *body)
{
    memset(t, 0, sizeof(*t));
    t->r.method = method;
    t->r.path = target;
    const char *q = strchr(target, '?');
    t->r.path_len = q != NULL ? (size_t)(q - target) : strlen(target);
    t->r.query = q != NULL ? q + 1 : "";
    t->r.query_len = q != NULL ? strlen(q + 1) : 0;
    t->r.headers = t->h;
    t->r.body = body;
    t->r.body_len = body != NULL ? strlen(body) : 0;
}

static void treq_add(treq_t *t, const char *name, const char *value)
{
    ASSERT_TRUE(t->r.nheaders < 32);
    t->h[t->r.nheaders++] = (hg_sigv4_header_t){name, strlen(name), value, strlen(value)};
}

/* Struct copy with the header pointer re-aimed at the copy's own array. */
static void treq_copy(treq_t *d, const treq_t *s)
{
    *d = *s;
    d->r.headers = d->h;
}

static hg_sigv4_header_t *treq_find(treq_t *t, const char *name)
{
    for (size_t i = 0; i < t->r.nheaders; i++)
        if (strcasecmp(t->h[i].name, name) == 0)
            return &t->h[i];
    return NULL;
}

/* parse + verify; returns the first non-zero code, message in *e. */
static int check(const treq_t *t, const char *secret, const char *const *svc, int64_t now,
                 hg_error_t *e)
{
    hg_sigv4_auth_t a;
    hg_error_clear(e);
    int rc = hg_sigv4_parse(&t->r, &a, e);
    if (rc != 0)
        return rc;
    return hg_sigv4_verify(&t->r, &a, secret, strlen(secret), svc, now, SKEW, e);
}

#define ASSERT_VERIFIES(t, secret, svc, now)                                                       \
    do {                                                                                           \
        hg_error_t e_;                                                                             \
        int rc_ = check((t), (secret), (svc), (now), &e_);                                         \
        if (rc_ != 0)                                                                              \
            HG_FAIL_("verify failed %d: %s", rc_, e_.msg);                                         \
    } while (0)

#define ASSERT_REJECTS(t, secret, svc, now, code, want)                                            \
    do {                                                                                           \
        hg_error_t e_;                                                                             \
        ASSERT_EQ_INT(check((t), (secret), (svc), (now), &e_), (code));                            \
        if ((want) != NULL)                                                                        \
            ASSERT_STR_EQ(e_.msg, (const char *)(want));                                           \
    } while (0)

/* --- the two vectors of gamelift-wire.md §1.7 ------------------------------------------------ */

static const char boto_body[] =
    "{\"GameServerGroupName\": \"grp\", \"GameServerId\": \"gs1\", \"InstanceId\": "
    "\"i-01234567890123456\"}";

static void boto_request(treq_t *t)
{
    treq_init(t, "POST", "/", boto_body);
    treq_add(t, "Host", "127.0.0.1:18081");
    treq_add(t, "Accept-Encoding", "identity");
    treq_add(t, "X-Amz-Target", "GameLift.RegisterGameServer");
    treq_add(t, "Content-Type", "application/x-amz-json-1.1");
    treq_add(t, "User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux");
    treq_add(t, "X-Amz-Date", "20261122T181011Z");
    treq_add(t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDHANGAR/20261122/us-west-2/gamelift/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
             "Signature=e6088ecbce00a4feafb25b19f4e1aff404f75071adb8a6bf41bed848ed65118f");
    treq_add(t, "amz-sdk-invocation-id", "5f1a3c3e-8b1c-4d2e-9f00-7b7a2c1d0e11");
    treq_add(t, "amz-sdk-request", "attempt=1");
    treq_add(t, "Content-Length", "93");
}

HG_TEST(vector_boto3)
{
    treq_t t;
    boto_request(&t);
    hg_sigv4_auth_t a;
    hg_error_t e;
    ASSERT_OK(hg_sigv4_parse(&t.r, &a, &e));
    ASSERT_STR_EQ(a.access_key, "AKIDHANGAR");
    ASSERT_STR_EQ(a.date, "20261122");
    ASSERT_STR_EQ(a.region, "us-west-2");
    ASSERT_STR_EQ(a.service, "gamelift");
    ASSERT_STR_EQ(a.amz_date, "20261122T181011Z");
    ASSERT_STR_EQ(a.signed_headers, "content-type;host;x-amz-date;x-amz-target");
    ASSERT_EQ_INT(a.presigned, 0);
    ASSERT_EQ_INT(a.has_security_token, 0);
    ASSERT_VERIFIES(&t, "secret", gamelift, T_BOTO);
    ASSERT_VERIFIES(&t, "secret", NULL, T_BOTO); /* NULL service list: any signing name */

    /* The signer reproduces boto3's header value from the four headers boto3 signed. */
    treq_t s;
    treq_init(&s, "POST", "/", boto_body);
    treq_add(&s, "Content-Type", "application/x-amz-json-1.1");
    treq_add(&s, "Host", "127.0.0.1:18081");
    treq_add(&s, "X-Amz-Target", "GameLift.RegisterGameServer");
    treq_add(&s, "X-Amz-Date", "20261122T181011Z");
    char out[512];
    ASSERT_OK(hg_sigv4_sign(&s.r, "AKIDHANGAR", "secret", "us-west-2", "gamelift",
                            "20261122T181011Z", out, sizeof(out)));
    ASSERT_STR_EQ(out, treq_find(&t, "Authorization")->value);
}

HG_TEST(vector_js)
{
    static const char body[] =
        "{\"GameServerGroupName\":\"grp\",\"GameServerId\":\"gs1\",\"InstanceId\":"
        "\"i-01234567890123456\"}";
    treq_t t;
    treq_init(&t, "POST", "/", body);
    ASSERT_EQ_INT(t.r.body_len, 85);
    treq_add(&t, "content-type", "application/x-amz-json-1.1");
    treq_add(&t, "x-amz-target", "GameLift.RegisterGameServer");
    treq_add(&t, "content-length", "85");
    treq_add(&t, "x-amz-user-agent", "aws-sdk-js/3.1132.0");
    treq_add(&t, "user-agent", "aws-sdk-js/3.1132.0 ua/2.1 os/linux#6.1 lang/js md/nodejs#20");
    treq_add(&t, "host", "127.0.0.1:18081");
    treq_add(&t, "amz-sdk-invocation-id", "d8161eeb-1bd9-4e28-bbc3-9ed022c16d6b");
    treq_add(&t, "amz-sdk-request", "attempt=1; max=1");
    treq_add(&t, "x-amz-date", "20261122T181416Z");
    treq_add(&t, "x-amz-content-sha256",
             "44f42b23e86fee837f1b08372c8c4c873f68abd6eaf6cd9af9e60f0db3e7a815");
    treq_add(&t, "authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDJS/20261122/us-west-2/gamelift/aws4_request, "
             "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;"
             "host;x-amz-content-sha256;x-amz-date;x-amz-target;x-amz-user-agent, "
             "Signature=0ead2c14cb9b1f11d45985089c1f7a5854e645afb288a2391e8587c914bd5e11");
    ASSERT_VERIFIES(&t, "s", gamelift, T_JS);

    /* x-amz-content-sha256 must describe the body actually received. */
    treq_t bad;
    treq_copy(&bad, &t);
    bad.r.body = "{\"GameServerGroupName\":\"grp\",\"GameServerId\":\"gs2\",\"InstanceId\":"
                 "\"i-01234567890123456\"}";
    ASSERT_REJECTS(&bad, "s", gamelift, T_JS, HG_EBADSIG,
                   "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

/* --- round trip and tampering ------------------------------------------------------------ */

static void signed_request(treq_t *t, char *auth, size_t cap, const char *body)
{
    treq_init(t, "POST", "/", body);
    treq_add(t, "Host", "hangar.local:7770");
    treq_add(t, "X-Amz-Date", "20261122T181011Z");
    treq_add(t, "X-Amz-Target", "GameLift.ClaimGameServer");
    treq_add(t, "Content-Type", "application/x-amz-json-1.1");
    ASSERT_OK(hg_sigv4_sign(&t->r, "AKIDRT", "rt-secret", "eu-west-1", "gamelift",
                            "20261122T181011Z", auth, cap));
    treq_add(t, "Authorization", auth);
}

HG_TEST(round_trip_and_tamper)
{
    char auth[512];
    treq_t t;
    signed_request(&t, auth, sizeof(auth), "{\"GameServerGroupName\":\"g\"}");
    ASSERT_TRUE(strstr(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-target, ") != NULL);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO); /* second time: cached signing key */

    treq_t x;
    treq_copy(&x, &t); /* body */
    x.r.body = "{\"GameServerGroupName\":\"h\"}";
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    treq_copy(&x, &t); /* a signed header's value */
    treq_find(&x, "X-Amz-Target")->value = "GameLift.DeleteGameServerGroup";
    treq_find(&x, "X-Amz-Target")->value_len = strlen("GameLift.DeleteGameServerGroup");
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    treq_copy(&x, &t); /* the method, the path, the query */
    x.r.method = "PUT";
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    treq_copy(&x, &t);
    x.r.path = "/x";
    x.r.path_len = 2;
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    treq_copy(&x, &t);
    x.r.query = "a=1";
    x.r.query_len = 3;
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    /* the signature itself (last hex digit flipped) */
    char forged[512];
    snprintf(forged, sizeof(forged), "%s", auth);
    size_t n = strlen(forged);
    forged[n - 1] = forged[n - 1] == '0' ? '1' : '0';
    treq_copy(&x, &t);
    treq_find(&x, "Authorization")->value = forged;
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    /* wrong secret, after the right one was cached for the same scope */
    ASSERT_REJECTS(&t, "rt-secreT", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    ASSERT_REJECTS(&t, "", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO);

    /* an unsigned header may change freely */
    treq_copy(&x, &t);
    treq_add(&x, "User-Agent", "anything");
    ASSERT_VERIFIES(&x, "rt-secret", gamelift, T_BOTO);
    hg_sigv4_thread_cleanup();
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO); /* state recreated */
    hg_sigv4_thread_cleanup();
}

HG_TEST(skew_window)
{
    char auth[512];
    treq_t t;
    signed_request(&t, auth, sizeof(auth), "{}");
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO + 299);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO + 300);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO - 299);
    ASSERT_VERIFIES(&t, "rt-secret", gamelift, T_BOTO - 300);
    ASSERT_REJECTS(&t, "rt-secret", gamelift, T_BOTO + 301, HG_ESKEW,
                   "Signature expired: 20261122T181011Z is now earlier than 20261122T181012Z "
                   "(20261122T181512Z - 5 min.)");
    ASSERT_REJECTS(&t, "rt-secret", gamelift, T_BOTO + 600, HG_ESKEW,
                   "Signature expired: 20261122T181011Z is now earlier than 20261122T181511Z "
                   "(20261122T182011Z - 5 min.)");
    ASSERT_REJECTS(&t, "rt-secret", gamelift, T_BOTO - 301, HG_ESKEW,
                   "Signature not yet current: 20261122T181011Z is still later than "
                   "20261122T181010Z (20261122T180510Z + 5 min.)");
    /* time is checked before the signature: a stale forged request reports the time */
    ASSERT_REJECTS(&t, "wrong", gamelift, T_BOTO + 301, HG_ESKEW, NULL);
    hg_sigv4_thread_cleanup();
}

HG_TEST(scope_checks)
{
    char auth[512];
    treq_t t, x;
    hg_error_t e;
    signed_request(&t, auth, sizeof(auth), "{}");

    /* scope date differs from X-Amz-Date (signed consistently, so only the scope check trips) */
    treq_init(&x, "POST", "/", "{}");
    treq_add(&x, "Host", "hangar.local:7770");
    treq_add(&x, "X-Amz-Date", "20261122T181011Z");
    char a2[512];
    ASSERT_OK(hg_sigv4_sign(&x.r, "AKIDRT", "rt-secret", "eu-west-1", "gamelift",
                            "20261122T181011Z", a2, sizeof(a2)));
    char *d = strstr(a2, "/20261122/");
    ASSERT_NOT_NULL(d);
    memcpy(d + 1, "20261121", 8);
    treq_add(&x, "Authorization", a2);
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG,
                   "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                   "date from HTTP: '20261121' != '20261122', from '20261122T181011Z'.");

    /* unknown service */
    ASSERT_REJECTS(&t, "rt-secret", only_hangar, T_BOTO, HG_EBADSIG,
                   "Credential should be scoped to correct service: 'hangar'.");
    ASSERT_VERIFIES(&t, "rt-secret", hangar, T_BOTO); /* "gamelift" is second in this list */

    /* host not signed: sign without a Host header, then add one */
    treq_init(&x, "POST", "/", "{}");
    treq_add(&x, "X-Amz-Date", "20261122T181011Z");
    ASSERT_OK(hg_sigv4_sign(&x.r, "AKIDRT", "rt-secret", "eu-west-1", "gamelift",
                            "20261122T181011Z", a2, sizeof(a2)));
    treq_add(&x, "Host", "hangar.local:7770");
    treq_add(&x, "Authorization", a2);
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG,
                   "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");

    /* a signed header missing from the request */
    treq_copy(&x, &t);
    x.h[3] = x.h[--x.r.nheaders]; /* Content-Type replaced by Authorization */
    ASSERT_REJECTS(&x, "rt-secret", gamelift, T_BOTO, HG_EBADSIG,
                   "Signed header 'content-type' is not present in the request");

    /* bad terminator, bad shapes */
    treq_copy(&x, &t);
    char a3[512];
    snprintf(a3, sizeof(a3), "%s", auth);
    memcpy(strstr(a3, "aws4_request"), "aws5_request", 12);
    treq_find(&x, "Authorization")->value = a3;
    ASSERT_EQ_INT(check(&x, "rt-secret", gamelift, T_BOTO, &e), HG_EBADSIG);
    ASSERT_STR_EQ(e.msg, "Credential should be scoped with a valid terminator: 'aws4_request', "
                         "not 'aws5_request'.");
    treq_find(&x, "Authorization")->value =
        "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-west-2/gamelift/aws4_request";
    treq_find(&x, "Authorization")->value_len = strlen(treq_find(&x, "Authorization")->value);
    ASSERT_EQ_INT(check(&x, "rt-secret", gamelift, T_BOTO, &e), HG_EBADSIG);
    ASSERT_STR_EQ(e.msg, "Authorization header requires 'Signature' parameter. Authorization "
                         "header requires 'SignedHeaders' parameter. "
                         "Authorization=AWS4-HMAC-SHA256");
    treq_find(&x, "Authorization")->value = "Bearer abc";
    treq_find(&x, "Authorization")->value_len = 10;
    ASSERT_EQ_INT(check(&x, "rt-secret", gamelift, T_BOTO, &e), HG_EBADSIG);

    /* no credentials at all */
    treq_init(&x, "POST", "/", "{}");
    treq_add(&x, "Host", "h");
    ASSERT_EQ_INT(check(&x, "rt-secret", gamelift, T_BOTO, &e), HG_ENOAUTH);
    ASSERT_STR_EQ(e.msg, "Missing Authentication Token");
    hg_sigv4_thread_cleanup();
}

/* --- header canonicalisation --------------------------------------------------------------- */

HG_TEST(repeated_header_and_inner_spaces)
{
    /* botocore SigV4Auth: POST http://127.0.0.1:18081/ body "{}", headers X-Foo: "a",
     * X-Foo: "  b   c ", amz-sdk-request: "attempt=1;  max=3" (gamelift, us-west-2). */
    treq_t t;
    treq_init(&t, "POST", "/", "{}");
    treq_add(&t, "X-Foo", "a");
    treq_add(&t, "Host", "127.0.0.1:18081");
    treq_add(&t, "X-Foo", "  b   c ");
    treq_add(&t, "amz-sdk-request", "attempt=1;  max=3");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-west-2/gamelift/aws4_request, "
             "SignedHeaders=amz-sdk-request;host;x-amz-date;x-foo, "
             "Signature=65af96709d04e372e529ffc8ae677b100f124d4b1850b6490ede0a787622d67b");
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, gamelift, T_BOTO);

    /* Whitespace differences inside a value are canonicalised away... */
    treq_t x;
    treq_copy(&x, &t);
    x.h[3].value = "attempt=1; \t max=3  ";
    x.h[3].value_len = strlen(x.h[3].value);
    ASSERT_VERIFIES(&x, BOTOCORE_SECRET, gamelift, T_BOTO);
    /* ...but order of repeated headers and their content are not. */
    treq_copy(&x, &t);
    x.h[0] = t.h[2];
    x.h[2] = t.h[0];
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    treq_copy(&x, &t);
    x.h[3].value = "attempt=1;max=3";
    x.h[3].value_len = strlen(x.h[3].value);
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    /* The signer agrees with botocore on the same request. */
    treq_t s;
    treq_copy(&s, &t);
    s.r.nheaders--; /* drop Authorization */
    char out[512];
    ASSERT_OK(hg_sigv4_sign(&s.r, "AKIDEXAMPLE", BOTOCORE_SECRET, "us-west-2", "gamelift",
                            "20261122T181011Z", out, sizeof(out)));
    ASSERT_STR_EQ(out, t.h[5].value);
    hg_sigv4_thread_cleanup();
}

HG_TEST(date_header_fallback)
{
    treq_t t;
    char auth[512];
    treq_init(&t, "GET", "/v1/registry/servers", NULL);
    treq_add(&t, "Host", "127.0.0.1:7770");
    treq_add(&t, "Date", "Sun, 22 Nov 2026 18:10:11 GMT");
    ASSERT_OK(hg_sigv4_sign(&t.r, "AKIDD", "sec", "local", "hangar", "20261122T181011Z", auth,
                            sizeof(auth)));
    treq_add(&t, "Authorization", auth);
    hg_sigv4_auth_t a;
    hg_error_t e;
    ASSERT_OK(hg_sigv4_parse(&t.r, &a, &e));
    ASSERT_STR_EQ(a.amz_date, "20261122T181011Z");
    ASSERT_VERIFIES(&t, "sec", hangar, T_BOTO);
    ASSERT_REJECTS(&t, "sec", hangar, T_BOTO + 301, HG_ESKEW, NULL);

    t.h[1].value = "Sun, 22 Nov 2026 18:10:11 PST";
    ASSERT_EQ_INT(hg_sigv4_parse(&t.r, &a, &e), HG_EBADSIG);
    t.r.nheaders = 1;
    treq_add(&t, "Authorization", auth);
    ASSERT_EQ_INT(hg_sigv4_parse(&t.r, &a, &e), HG_EBADSIG);
    ASSERT_STR_EQ(e.msg, "Authorization header requires existence of either a 'X-Amz-Date' or a "
                         "'Date' header.");
    hg_sigv4_thread_cleanup();
}

HG_TEST(payload_hash_header)
{
    treq_t t;
    char auth[512];
    treq_init(&t, "GET", "/v1/ws", NULL);
    treq_add(&t, "Host", "127.0.0.1:7770");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    treq_add(&t, "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
    ASSERT_OK(hg_sigv4_sign(&t.r, "AKIDU", "sec", "local", "hangar", "20261122T181011Z", auth,
                            sizeof(auth)));
    treq_add(&t, "Authorization", auth);
    ASSERT_VERIFIES(&t, "sec", hangar, T_BOTO); /* no body: UNSIGNED-PAYLOAD is fine */
    t.r.body = "x";
    t.r.body_len = 1;
    ASSERT_REJECTS(&t, "sec", hangar, T_BOTO, HG_EBADSIG,
                   "UNSIGNED-PAYLOAD is only accepted on presigned requests and requests without "
                   "a body");
    t.h[2].value = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    t.h[2].value_len = strlen(t.h[2].value);
    ASSERT_EQ_INT(check(&t, "sec", hangar, T_BOTO, &(hg_error_t){0}), HG_EBADSIG);
    hg_sigv4_thread_cleanup();
}

/* --- URI and query canonicalisation (botocore vectors) ------------------------------------- */

HG_TEST(encoded_path_and_query_botocore)
{
    /* SigV4Auth(c, "hangar", "eu-central-1"), POST
     * http://127.0.0.1:18081/v1/registry/servers/a%20b/caf%C3%A9~x*y/?b=2&a=1&a=0&c=x%2Fy
     * body {"x":1}, Content-Type: application/json. botocore signs the path encoded once more
     * (/v1/registry/servers/a%2520b/caf%25C3%25A9~x%2Ay/). */
    treq_t t;
    treq_init(&t, "POST", "/v1/registry/servers/a%20b/caf%C3%A9~x*y/?b=2&a=1&a=0&c=x%2Fy",
              "{\"x\":1}");
    treq_add(&t, "Host", "127.0.0.1:18081");
    treq_add(&t, "Content-Type", "application/json");
    treq_add(&t, "Content-Length", "7");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-central-1/hangar/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date, "
             "Signature=7b8fe0fd97601b3668528b2557ee0d02f7dd4a85f93da2d92f33bcf483f36c91");
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, hangar, T_BOTO);

    /* Query order and the encoding of unreserved characters do not matter. */
    treq_t x;
    treq_copy(&x, &t);
    x.r.query = "c=x%2fy&a=0&b=%32&a=1";
    x.r.query_len = strlen(x.r.query);
    ASSERT_VERIFIES(&x, BOTOCORE_SECRET, hangar, T_BOTO);
    x.r.query = "c=x/y&a=0&b=2&a=2";
    x.r.query_len = strlen(x.r.query);
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, hangar, T_BOTO, HG_EBADSIG, MISMATCH);
    /* The path is not decoded before encoding: "a b" on the wire is a different resource. */
    treq_copy(&x, &t);
    x.r.path = "/v1/registry/servers/a b/caf%C3%A9~x*y/";
    x.r.path_len = strlen(x.r.path);
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, hangar, T_BOTO, HG_EBADSIG, MISMATCH);
    /* Dot segments and doubled slashes are removed before signing, as botocore does. */
    treq_copy(&x, &t);
    x.r.path = "/v1/./registry//servers/zz/../a%20b/caf%C3%A9~x*y/";
    x.r.path_len = strlen(x.r.path);
    ASSERT_VERIFIES(&x, BOTOCORE_SECRET, hangar, T_BOTO);
    /* The trailing slash is significant. */
    x.r.path = "/v1/registry/servers/a%20b/caf%C3%A9~x*y";
    x.r.path_len = strlen(x.r.path);
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, hangar, T_BOTO, HG_EBADSIG, MISMATCH);

    /* The signer agrees with botocore. */
    treq_t s;
    treq_copy(&s, &t);
    s.r.nheaders = 2;
    treq_add(&s, "X-Amz-Date", "20261122T181011Z");
    char out[512];
    ASSERT_OK(hg_sigv4_sign(&s.r, "AKIDEXAMPLE", BOTOCORE_SECRET, "eu-central-1", "hangar",
                            "20261122T181011Z", out, sizeof(out)));
    ASSERT_STR_EQ(out, t.h[4].value);

    /* GET http://127.0.0.1:18081/v1/registry/servers/abc, no body. */
    treq_init(&t, "GET", "/v1/registry/servers/abc", NULL);
    treq_add(&t, "Host", "127.0.0.1:18081");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-central-1/hangar/aws4_request, "
             "SignedHeaders=host;x-amz-date, "
             "Signature=1ea3444619d841a243a746ac6bc1b99ca54484282796ec8cd8010920182509be");
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, hangar, T_BOTO);

    /* Same request, a 100-byte secret ("AWS4" + secret is longer than an HMAC block). */
    char longsecret[101];
    memset(longsecret, 'L', 100);
    longsecret[100] = '\0';
    treq_init(&t, "GET", "/v1/registry/servers/abc", NULL);
    treq_add(&t, "Host", "127.0.0.1:18081");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDLONG/20261122/eu-central-1/hangar/aws4_request, "
             "SignedHeaders=host;x-amz-date, "
             "Signature=0c631914a6fb33bcb56072f832c0b418862044f28005fc57bc46650d209702a7");
    ASSERT_VERIFIES(&t, longsecret, hangar, T_BOTO);
    hg_sigv4_thread_cleanup();
}

/* --- presigned URLs (botocore SigV4QueryAuth) ---------------------------------------------- */

static const char presigned_target[] =
    "/v1/ws?pID=proc-1&FleetId=fleet-abc&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
    "AKIDEXAMPLE%2F20261122%2Fus-west-2%2Fgamelift%2Faws4_request&X-Amz-Date=20261122T181011Z&"
    "X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="
    "ecd35ac2883a65be0f83a2ef5c5a7bd3002454960c657c92ef84923fe5999f74";

HG_TEST(presigned_botocore)
{
    treq_t t;
    hg_sigv4_auth_t a;
    hg_error_t e;
    treq_init(&t, "GET", presigned_target, NULL);
    treq_add(&t, "Host", "127.0.0.1:18081");
    treq_add(&t, "Upgrade", "websocket");
    ASSERT_OK(hg_sigv4_parse(&t.r, &a, &e));
    ASSERT_EQ_INT(a.presigned, 1);
    ASSERT_EQ_INT(a.expires_s, 300);
    ASSERT_STR_EQ(a.access_key, "AKIDEXAMPLE");
    ASSERT_STR_EQ(a.signed_headers, "host");
    ASSERT_EQ_INT(a.has_security_token, 0);
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, gamelift, T_BOTO);
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, gamelift, T_BOTO + 300);
    ASSERT_REJECTS(&t, BOTOCORE_SECRET, gamelift, T_BOTO + 301, HG_ESKEW,
                   "Request has expired: X-Amz-Date 20261122T181011Z + X-Amz-Expires 300 s ended "
                   "at 20261122T181511Z, now 20261122T181512Z");
    ASSERT_REJECTS(&t, BOTOCORE_SECRET, gamelift, T_BOTO - 301, HG_ESKEW, NULL);
    ASSERT_REJECTS(&t, "other", gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    /* tampered query parameter */
    char tampered[sizeof(presigned_target)];
    memcpy(tampered, presigned_target, sizeof(tampered));
    memcpy(strstr(tampered, "proc-1"), "proc-2", 6);
    treq_t x;
    treq_copy(&x, &t);
    x.r.path = tampered;
    x.r.query = tampered + (t.r.query - presigned_target);
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    /* an added parameter */
    char added[sizeof(presigned_target) + 8];
    snprintf(added, sizeof(added), "%s&x=1", presigned_target);
    treq_init(&x, "GET", added, NULL);
    treq_add(&x, "Host", "127.0.0.1:18081");
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, gamelift, T_BOTO, HG_EBADSIG, MISMATCH);
    /* the host */
    treq_copy(&x, &t);
    x.h[0].value = "127.0.0.1:18082";
    ASSERT_REJECTS(&x, BOTOCORE_SECRET, gamelift, T_BOTO, HG_EBADSIG, MISMATCH);

    /* With a session token: GET http://127.0.0.1:18081/v1/ws?pID=proc%201, expires 60, token
     * "tok/en+1=". */
    treq_init(&t, "GET",
              "/v1/ws?pID=proc%201&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE"
              "%2F20261122%2Fus-west-2%2Fgamelift%2Faws4_request&X-Amz-Date=20261122T181011Z&"
              "X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok%2Fen%2B1%3D&"
              "X-Amz-Signature=6887d1ebbe428fe5fc7fb252874d1e06965a578e5b763c88b97c12efcd7ae07c",
              NULL);
    treq_add(&t, "Host", "127.0.0.1:18081");
    ASSERT_OK(hg_sigv4_parse(&t.r, &a, &e));
    ASSERT_EQ_INT(a.has_security_token, 1);
    ASSERT_EQ_INT(a.expires_s, 60);
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, gamelift, T_BOTO + 60);
    ASSERT_REJECTS(&t, BOTOCORE_SECRET, gamelift, T_BOTO + 61, HG_ESKEW, NULL);

    /* An S3-style presigner signs UNSIGNED-PAYLOAD without saying so (botocore
     * S3SigV4QueryAuth, GET http://127.0.0.1:18081/v1/ws?pID=p~1&sdkLanguage=Go, expires 120). */
    treq_init(&t, "GET",
              "/v1/ws?pID=p~1&sdkLanguage=Go&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
              "AKIDEXAMPLE%2F20261122%2Fus-west-2%2Fgamelift%2Faws4_request&X-Amz-Date="
              "20261122T181011Z&X-Amz-Expires=120&X-Amz-SignedHeaders=host&X-Amz-Signature="
              "4a909d1d3a8138a2816e5ae92c1deea39d04670e03173ad4c6a32b54d4ce4eb4",
              NULL);
    treq_add(&t, "Host", "127.0.0.1:18081");
    ASSERT_VERIFIES(&t, BOTOCORE_SECRET, gamelift, T_BOTO);
    t.r.query_len -= 64; /* the signature without its value */
    ASSERT_EQ_INT(hg_sigv4_parse(&t.r, &a, &e), HG_EBADSIG);

    /* header and query auth together, and query auth missing pieces */
    treq_copy(&x, &t);
    treq_add(&x, "Authorization",
             "AWS4-HMAC-SHA256 Credential=a/20261122/r/s/aws4_request, "
             "SignedHeaders=host, Signature=00");
    ASSERT_EQ_INT(hg_sigv4_parse(&x.r, &a, &e), HG_EBADSIG);
    treq_init(&x, "GET", "/v1/ws?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261122T181011Z",
              NULL);
    treq_add(&x, "Host", "h");
    ASSERT_EQ_INT(hg_sigv4_parse(&x.r, &a, &e), HG_EBADSIG);
    ASSERT_TRUE(strncmp(e.msg, "AWS query-string parameters must include", 40) == 0);
    treq_init(&x, "GET",
              "/v1/ws?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20261122%2Fr%2Fs%2F"
              "aws4_request&X-Amz-Date=20261122T181011Z&X-Amz-Expires=604801&"
              "X-Amz-SignedHeaders=host&X-Amz-Signature=00",
              NULL);
    treq_add(&x, "Host", "h");
    ASSERT_EQ_INT(hg_sigv4_parse(&x.r, &a, &e), HG_EBADSIG);
    ASSERT_STR_EQ(e.msg, "X-Amz-Expires must be less than a week (in seconds) that is 604800");
    hg_sigv4_thread_cleanup();
}

/* --- limits and signer input checks -------------------------------------------------------- */

HG_TEST(limits)
{
    char auth[4096], q[8192];
    treq_t t;
    size_t n = 0;
    for (int i = 0; i < HG_SIGV4_MAX_QUERY_PARAMS; i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%sk%d=v", i ? "&" : "/?", i);
    treq_init(&t, "GET", q, NULL);
    treq_add(&t, "Host", "h");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    ASSERT_OK(
        hg_sigv4_sign(&t.r, "AK", "s", "r", "hangar", "20261122T181011Z", auth, sizeof(auth)));
    treq_add(&t, "Authorization", auth);
    ASSERT_VERIFIES(&t, "s", hangar, T_BOTO);
    snprintf(q + n, sizeof(q) - n, "&one=more");
    treq_init(&t, "GET", q, NULL);
    treq_add(&t, "Host", "h");
    treq_add(&t, "X-Amz-Date", "20261122T181011Z");
    ASSERT_EQ_INT(
        hg_sigv4_sign(&t.r, "AK", "s", "r", "hangar", "20261122T181011Z", auth, sizeof(auth)),
        HG_EINVAL);
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AK/20261122/r/hangar/aws4_request, "
             "SignedHeaders=host;x-amz-date, Signature="
             "0000000000000000000000000000000000000000000000000000000000000000");
    ASSERT_REJECTS(&t, "s", hangar, T_BOTO, HG_EBADSIG,
                   "request has more than 64 query parameters");

    /* signer input checks */
    treq_init(&t, "GET", "/", NULL);
    treq_add(&t, "Host", "h");
    ASSERT_EQ_INT(
        hg_sigv4_sign(&t.r, "AK", "s", "r", "svc", "2026-11-22T18:10:11Z", auth, sizeof(auth)),
        HG_EINVAL);
    ASSERT_EQ_INT(
        hg_sigv4_sign(&t.r, "A/K", "s", "r", "svc", "20261122T181011Z", auth, sizeof(auth)),
        HG_EINVAL);
    ASSERT_EQ_INT(hg_sigv4_sign(&t.r, "AK", "s", "r", "svc", "20261122T181011Z", auth, 40),
                  HG_EINVAL);
    ASSERT_STR_EQ(auth, "");
    treq_add(&t, "Bad Name", "x");
    ASSERT_EQ_INT(
        hg_sigv4_sign(&t.r, "AK", "s", "r", "svc", "20261122T181011Z", auth, sizeof(auth)),
        HG_EINVAL);

    /* a secret longer than the documented cap */
    char big[HG_SIGV4_MAX_SECRET + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    signed_request(&t, auth, sizeof(auth), "{}");
    ASSERT_REJECTS(&t, big, gamelift, T_BOTO, HG_EINVAL, NULL);
    hg_sigv4_thread_cleanup();
}

HG_SUITE(sigv4) = {
    HG_CASE(vector_boto3),
    HG_CASE(vector_js),
    HG_CASE(round_trip_and_tamper),
    HG_CASE(skew_window),
    HG_CASE(scope_checks),
    HG_CASE(repeated_header_and_inner_spaces),
    HG_CASE(date_header_fallback),
    HG_CASE(payload_hash_header),
    HG_CASE(encoded_path_and_query_botocore),
    HG_CASE(presigned_botocore),
    HG_CASE(limits),
    HG_CASE_END,
};
