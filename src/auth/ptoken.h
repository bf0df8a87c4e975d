/* hangar — player access tokens: JWTs signed HS256 with a key kept in the store.
 *
 * A token is libjwt's (Debian's libjwt, over OpenSSL's HMAC): header {"alg":"HS256",
 * "typ":"JWT","kid"}, claims {"iss":"hangar","sub": player id,"sid": session id,"iat","exp"}.
 * Verifying checks, in order: the size (HG_PTOKEN_MAX), the shape, a known kid, the signature
 * with that key, the algorithm (HS256 only: a token that says "none" or anything else is
 * refused whatever its signature), the issuer, and exp/iat against the injected clock. Whether
 * the session is still open is the caller's check (players.h): a logout revokes at once.
 *
 * Signing keys: 32 random bytes each, in the collection "auth.signing_keys" (kid → secret, hex;
 * created). The newest signs; every kept key verifies. Rotating (an admin call) adds a key;
 * the oldest beyond HG_PTOKEN_KEYS_MAX are dropped, and tokens they signed stop working. The
 * first key is created and stored synchronously at first start.
 *
 * Verified tokens are remembered (HG_PTOKEN_CACHE, keyed by the token's text, until
 * their exp; the whole cache is dropped when full and at every rotation), so a client sending
 * the same token again costs one hash instead of libjwt's parse and HMAC; profiles of rank
 * reads showed JWT parsing (jansson, base64) as a third of the loop's time.
 *
 * Threading: loop thread only.
 */
#ifndef HG_AUTH_PTOKEN_H
#define HG_AUTH_PTOKEN_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_PTOKEN_MAX 2048    /* bytes of a token we look at */
#define HG_PTOKEN_KEYS_MAX 4  /* signing keys kept (the newest signs) */
#define HG_PTOKEN_SKEW_S 60   /* an "iat" this far in the future is still accepted */
#define HG_PTOKEN_CACHE 65536 /* verified tokens remembered */

typedef struct hg_ptokens hg_ptokens_t;

hg_ptokens_t *hg_ptokens_new(hg_store_t *store, hg_clock_t *clock, int64_t ttl_ms);
void hg_ptokens_free(hg_ptokens_t *t);
/* Start-up: load the signing keys; create and store the first (synchronously) when none. */
int hg_ptokens_load(hg_ptokens_t *t, hg_error_t *err);
/* A token for (player_id, sid), valid ttl_ms from now: returns a new string (free with
 * hg_free) and its lifetime in seconds in *expires_in. */
char *hg_ptokens_mint(hg_ptokens_t *t, const char *player_id, const char *sid, int64_t *expires_in);
/* Check token (see the top); on success fills player_id (HG_PLAYER_ID_LEN + 1 bytes) and sid
 * (HG_PLAYER_SID_LEN + 1). HG_EUNAUTHORIZED with a reason otherwise. */
int hg_ptokens_verify(hg_ptokens_t *t, const char *token, char *player_id, size_t id_cap, char *sid,
                      size_t sid_cap, hg_error_t *err);
/* A new signing key, recorded in txn; the oldest beyond HG_PTOKEN_KEYS_MAX are deleted.
 * Returns its kid (borrowed). */
const char *hg_ptokens_rotate(hg_ptokens_t *t, hg_store_txn_t *txn);
/* [{"kid","created","signing"}], newest first; a new reference. */
json_t *hg_ptokens_list(const hg_ptokens_t *t);

#endif
