/* hangar — TLS over memory buffers, server and client sides (see tls.h).
 *
 * DESIGN
 * - One SSL object per connection with two memory BIOs: `rbio` holds ciphertext received and not
 *   yet consumed by OpenSSL, `wbio` collects every record OpenSSL produces. A memory BIO never
 *   says "would block" on write, so SSL_write always completes whole and the only retry
 *   condition OpenSSL can report is "want read" (more ciphertext needed).
 * - The session starts in accept state; SSL_read drives the handshake implicitly, so the caller
 *   has one entry point for every received byte whatever the handshake state.
 * - Memory: a memory BIO's buffer only grows. After a large read or take (a big request body,
 *   a large answer) the BIO is replaced by a fresh one holding whatever was left, so an idle
 *   connection keeps kilobytes, not the high-water mark of its busiest moment. With
 *   SSL_MODE_RELEASE_BUFFERS OpenSSL also frees its record buffers while idle.
 * - OpenSSL's error queue is per thread and shared with the rest of libcrypto's users (SigV4):
 *   it is cleared before every operation whose outcome we test and after every error we report.
 * - Client sessions differ only in how they start (connect state, SNI, the expected host set on
 *   the verifier) and in their context; every byte moves through the same five calls. A client
 *   context loads its whole trust bundle when it is built, so verification during a handshake
 *   never reads a file on the loop (OpenSSL's hashed directory lookup would).
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

/* A memory BIO whose buffer grew past this is replaced once (nearly) drained. */
#define BIO_KEEP_BYTES 32768

struct hg_tls_ctx {
    SSL_CTX *ssl_ctx;
    int client;   /* made by hg_tls_client_ctx_new() */
    int insecure; /* client: no peer verification */
};

struct hg_tls {
    SSL *ssl;
    int shut_sent;
    int failed; /* a fatal error: OpenSSL forbids SSL_shutdown() after one */
    char err[160];
};

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_password_cb(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return 0;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *ud)
{
    (void)ssl;
    (void)ud;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN: the client falls back to HTTP/1.1 */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The earliest error on the queue (the root cause: "No such file or directory", "no start
 * line"), then the queue is cleared. */
static unsigned long take_error(char *buf, size_t cap)
{
    unsigned long first = ERR_get_error(), e;
    while ((e = ERR_get_error()) != 0)
        ;
    if (first == 0) {
        snprintf(buf, cap, "unknown error");
        return 0;
    }
    const char *reason = ERR_reason_error_string(first);
    if (reason)
        snprintf(buf, cap, "%s", reason);
    else
        ERR_error_string_n(first, buf, cap);
    return first;
}

int hg_tls_ctx_new(const char *cert_path, const char *key_path, hg_tls_ctx_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    char why[256];
    SSL_CTX *ctx = NULL;
    static const unsigned char sid_ctx[] = "hangard";

    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        take_error(why, sizeof(why));
        rc = hg_error_set(err, HG_EINTERNAL, "TLS: cannot create a context: %s", why);
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        take_error(why, sizeof(why));
        rc = hg_error_set(err, HG_EINVAL, "tls-cert %s: cannot load the certificate chain: %s",
                          cert_path, why);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = take_error(why, sizeof(why));
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                               ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH))
            rc = hg_error_set(err, HG_EINVAL, "tls-key %s does not match the certificate in %s",
                              key_path, cert_path);
        else
            rc = hg_error_set(err, HG_EINVAL,
                              "tls-key %s: cannot load the private key (PEM, not encrypted): %s",
                              key_path, why);
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        take_error(why, sizeof(why));
        rc = hg_error_set(err, HG_EINVAL, "tls-key %s does not match the certificate in %s: %s",
                          key_path, cert_path, why);
        goto out;
    }
    *out = hg_calloc(1, sizeof(**out));
    (*out)->ssl_ctx = ctx;
    ctx = NULL;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

void hg_tls_ctx_free(hg_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    hg_free(ctx);
}

int hg_tls_client_ctx_new(const char *ca_file, int insecure, hg_tls_ctx_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    char why[256];
    SSL_CTX *ctx = NULL;
    static const unsigned char alpn[] = "\x08http/1.1";

    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        take_error(why, sizeof(why));
        rc = hg_error_set(err, HG_EINTERNAL, "TLS: cannot create a client context: %s", why);
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    HG_BUG_ON(SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0); /* 0 is success */
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        const char *file = ca_file;
        if (file == NULL)
            file = getenv(X509_get_default_cert_file_env());
        if (file == NULL || file[0] == '\0')
            file = X509_get_default_cert_file();
        if (SSL_CTX_load_verify_file(ctx, file) != 1) {
            take_error(why, sizeof(why));
            rc = hg_error_set(err, HG_EINVAL, "TLS trust bundle %s: cannot load: %s", file, why);
            goto out;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    *out = hg_calloc(1, sizeof(**out));
    (*out)->ssl_ctx = ctx;
    (*out)->client = 1;
    (*out)->insecure = insecure != 0;
    ctx = NULL;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* A session on ctx with its two memory BIOs, in no state yet. */
static hg_tls_t *session_new(hg_tls_ctx_t *ctx)
{
    hg_tls_t *t = hg_calloc(1, sizeof(*t));
    t->ssl = SSL_new(ctx->ssl_ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    HG_BUG_ON(t->ssl == NULL || rbio == NULL || wbio == NULL); /* out of memory */
    BIO_set_mem_eof_return(rbio, -1); /* empty means "retry", not end of stream */
    SSL_set_bio(t->ssl, rbio, wbio);  /* takes ownership of both */
    return t;
}

hg_tls_t *hg_tls_new(hg_tls_ctx_t *ctx)
{
    HG_ASSERT(!ctx->client);
    hg_tls_t *t = session_new(ctx);
    SSL_set_accept_state(t->ssl);
    return t;
}

hg_tls_t *hg_tls_client_new(hg_tls_ctx_t *ctx, const char *host)
{
    HG_ASSERT(ctx->client);
    hg_tls_t *t = session_new(ctx);
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    /* RFC 6066: SNI carries names only, never address literals */
    if (!is_ip)
        HG_BUG_ON(SSL_set_tlsext_host_name(t->ssl, host) != 1);
    if (!ctx->insecure) {
        /* The host was parsed and checked by the caller, so these fail only out of memory; a
         * failure must never leave a session that would accept any name. */
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(t->ssl, host);
        HG_BUG_ON(ok != 1);
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

void hg_tls_free(hg_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    hg_free(t);
}

/* Replace a memory BIO whose buffer grew large, keeping the bytes it still holds. */
static void trim_bio(hg_tls_t *t, int read_side)
{
    BIO *b = read_side ? SSL_get_rbio(t->ssl) : SSL_get_wbio(t->ssl);
    BUF_MEM *bm = NULL;
    BIO_get_mem_ptr(b, &bm);
    if (bm == NULL || bm->max <= BIO_KEEP_BYTES || bm->length > BIO_KEEP_BYTES / 2)
        return;
    BIO *nb = BIO_new(BIO_s_mem());
    HG_BUG_ON(nb == NULL);
    BIO_set_mem_eof_return(nb, -1);
    if (bm->length > 0)
        BIO_write(nb, bm->data, (int)bm->length);
    if (read_side)
        SSL_set0_rbio(t->ssl, nb); /* frees the old one */
    else
        SSL_set0_wbio(t->ssl, nb);
}

void hg_tls_feed(hg_tls_t *t, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int w = BIO_write(SSL_get_rbio(t->ssl), p, n);
        HG_BUG_ON(w != n); /* a memory BIO only fails when out of memory */
        p += n;
        len -= (size_t)n;
    }
}

int hg_tls_read(hg_tls_t *t, void *buf, size_t cap)
{
    int want = cap > INT_MAX ? INT_MAX : (int)cap;
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, want);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: trim_bio(t, 1); return 0;
    case SSL_ERROR_ZERO_RETURN: return HG_TLS_EOF;
    default: {
        t->failed = 1;
        unsigned long err = take_error(t->err, sizeof(t->err));
        /* OpenSSL's own text says only "certificate verify failed"; the verifier knows why */
        long vr = SSL_get_verify_result(t->ssl);
        if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
            ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
            snprintf(t->err, sizeof(t->err), "certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        return HG_TLS_ERROR;
    }
    }
}

int hg_tls_write(hg_tls_t *t, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        ERR_clear_error();
        int w = SSL_write(t->ssl, p, n);
        if (w <= 0) {
            t->failed = 1;
            take_error(t->err, sizeof(t->err));
            return HG_TLS_ERROR;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void hg_tls_shutdown(hg_tls_t *t)
{
    if (t->shut_sent || t->failed)
        return;
    t->shut_sent = 1;
    if (!SSL_is_init_finished(t->ssl))
        return; /* nothing to close politely */
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* writes close_notify into wbio; we do not wait for the peer's */
    ERR_clear_error();
}

size_t hg_tls_pending(const hg_tls_t *t)
{
    return BIO_ctrl_pending(SSL_get_wbio(t->ssl));
}

size_t hg_tls_take(hg_tls_t *t, hg_buf_t *out)
{
    BIO *b = SSL_get_wbio(t->ssl);
    size_t n = BIO_ctrl_pending(b);
    if (n == 0)
        return 0;
    hg_buf_reserve(out, n);
    int r = BIO_read(b, out->data + out->len, (int)n);
    HG_BUG_ON(r != (int)n);
    out->len += n;
    out->data[out->len] = '\0';
    trim_bio(t, 0);
    return n;
}

int hg_tls_established(const hg_tls_t *t)
{
    return SSL_is_init_finished(t->ssl);
}

const char *hg_tls_version(const hg_tls_t *t)
{
    return SSL_is_init_finished(t->ssl) ? SSL_get_version(t->ssl) : "";
}

const char *hg_tls_error(const hg_tls_t *t)
{
    return t->err;
}
