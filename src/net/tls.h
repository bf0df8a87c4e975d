/* hangar — TLS over memory buffers (OpenSSL): the server side for the HTTP server's connections,
 * the client side for outbound HTTPS (webhooks, net/webhook.h).
 *
 * The engine never touches a socket: ciphertext read from the network is pushed in with
 * hg_tls_feed(), plaintext comes out of hg_tls_read(), plaintext to send goes in with
 * hg_tls_write(), and every record the engine wants sent (handshake messages, session tickets,
 * alerts, application data, close_notify) is taken out with hg_tls_take(). The caller moves the
 * bytes with its own non-blocking I/O, so nothing here ever blocks or waits (rule 12).
 *
 * Protocol: TLS 1.2 and 1.3 (minimum 1.2: the GameLift C++ server SDK pins 1.2 exactly and the C#
 * SDK pins 1.2), OpenSSL's default cipher list at security level 2, no renegotiation, no
 * compression, no early data. Server: session tickets and the server-side session cache are on;
 * ALPN "http/1.1" is selected when offered, otherwise none; SNI is accepted and ignored (one
 * certificate). Client: offers ALPN "http/1.1", sends SNI for host names, and (unless the context
 * is insecure) verifies the peer's chain against a trust bundle and its name or IP address
 * against the host it was asked to reach; no session resumption.
 *
 * Threading: a context is built at start-up (it reads files: blocking) and is then read-only;
 * sessions are used by the loop thread only.
 */
#ifndef HG_NET_TLS_H
#define HG_NET_TLS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct hg_tls_ctx hg_tls_ctx_t;
typedef struct hg_tls hg_tls_t;

/* hg_tls_read(): the peer sent close_notify (no more plaintext will come). */
#define HG_TLS_EOF (-1)
/* hg_tls_read() / hg_tls_write(): a fatal protocol error; the session is unusable. */
#define HG_TLS_ERROR (-2)

/* Load a PEM certificate chain (leaf first) and its PEM private key, check that they match and
 * build the server context. Blocking file reads: call at start-up, never on a serving loop.
 * Returns 0 and a new context in *out (release with hg_tls_ctx_free()), or HG_EINVAL with err
 * naming the file and OpenSSL's reason. */
int hg_tls_ctx_new(const char *cert_path, const char *key_path, hg_tls_ctx_t **out,
                   hg_error_t *err);
/* Release ctx; sessions made from it hold their own reference, so they may outlive it. */
void hg_tls_ctx_free(hg_tls_ctx_t *ctx);

/* A new server session (accept state) on ctx. Release with hg_tls_free(). */
hg_tls_t *hg_tls_new(hg_tls_ctx_t *ctx);

/* Build a client context. insecure 0: peers are verified against the PEM bundle ca_file, or,
 * when ca_file is NULL, against the system bundle (OpenSSL's default certificate file, e.g.
 * /etc/ssl/certs/ca-certificates.crt; $SSL_CERT_FILE overrides). The bundle is loaded whole
 * now; the hashed certificate directory is never consulted, because it would read files during
 * handshakes, on the loop. insecure 1: no verification at all (tests, self-signed peers an
 * operator chose to trust blindly); ca_file is then ignored. Blocking file reads: call at
 * start-up. Returns 0 and a new context in *out (release with hg_tls_ctx_free()), or HG_EINVAL
 * with err naming the file and OpenSSL's reason. */
int hg_tls_client_ctx_new(const char *ca_file, int insecure, hg_tls_ctx_t **out, hg_error_t *err);
/* A new client session (connect state) on a client ctx, to reach host (a DNS name, or an IPv4 or
 * IPv6 address without brackets; borrowed for the call only). A name is sent as SNI; unless the
 * context is insecure the certificate must be valid for host (DNS name with RFC 6125 wildcard
 * rules, or IP address). The first hg_tls_read() (with nothing fed yet) produces the ClientHello
 * for hg_tls_take(). Release with hg_tls_free(). */
hg_tls_t *hg_tls_client_new(hg_tls_ctx_t *ctx, const char *host);
void hg_tls_free(hg_tls_t *t);

/* Push len ciphertext bytes received from the peer (copied). */
void hg_tls_feed(hg_tls_t *t, const void *data, size_t len);
/* Advance the handshake and decrypt: up to cap plaintext bytes into buf. Tri-state: >0 bytes of
 * plaintext, 0 when more ciphertext is needed, HG_TLS_EOF after the peer's close_notify,
 * HG_TLS_ERROR on a protocol error (an alert may be waiting in hg_tls_take()). Call until it
 * returns <= 0: plaintext is never left buffered inside the engine after that. */
int hg_tls_read(hg_tls_t *t, void *buf, size_t cap);
/* Encrypt len plaintext bytes (borrowed for the call only) into records waiting for
 * hg_tls_take(). Only after the handshake (hg_tls_established()). Returns 0 or HG_TLS_ERROR. */
int hg_tls_write(hg_tls_t *t, const void *data, size_t len);
/* Queue close_notify (once; later calls do nothing). */
void hg_tls_shutdown(hg_tls_t *t);

/* Bytes waiting to be sent to the peer. */
size_t hg_tls_pending(const hg_tls_t *t);
/* Append every byte waiting to be sent to out; returns how many. */
size_t hg_tls_take(hg_tls_t *t, hg_buf_t *out);

/* 1 once the handshake completed. */
int hg_tls_established(const hg_tls_t *t);
/* The negotiated protocol ("TLSv1.2", "TLSv1.3"), or "" during the handshake. */
const char *hg_tls_version(const hg_tls_t *t);
/* OpenSSL's reason for the last HG_TLS_ERROR, for logs ("" when none); a client whose peer
 * failed verification gets the verifier's reason ("certificate verify failed: self-signed
 * certificate"). */
const char *hg_tls_error(const hg_tls_t *t);

#endif
