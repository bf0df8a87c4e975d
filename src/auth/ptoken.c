/* hangar — player access tokens (see ptoken.h). */
#include "auth/ptoken.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"
#include "core/str.h"

#define COLL "auth.signing_keys"
#define ISSUER "hangar"
#define KID_LEN 16

typedef struct skey {
    char kid[KID_LEN + 1];
    unsigned char secret[32];
    int64_t created_ms;
} skey_t;

typedef struct verified {
    int64_t exp_s, iat_s;
    char player_id[40];
    char sid[40];
} verified_t;

struct hg_ptokens {
    hg_store_t *store;
    hg_clock_t *clock;
    int64_t ttl_ms;
    hg_map_t cache;                      /* a token's text -> verified_t */
    skey_t keys[HG_PTOKEN_KEYS_MAX + 1]; /* oldest first; the last signs */
    size_t nkeys;
};

hg_ptokens_t *hg_ptokens_new(hg_store_t *store, hg_clock_t *clock, int64_t ttl_ms)
{
    hg_ptokens_t *t = hg_calloc(1, sizeof(*t));
    t->store = store;
    t->clock = clock;
    t->ttl_ms = ttl_ms;
    hg_map_init(&t->cache);
    return t;
}

static void cache_clear(hg_ptokens_t *t)
{
    size_t it = 0;
    void *v;
    while (hg_map_next(&t->cache, &it, NULL, &v))
        hg_free(v);
    hg_map_free(&t->cache);
    hg_map_init(&t->cache);
}

void hg_ptokens_free(hg_ptokens_t *t)
{
    if (t == NULL)
        return;
    cache_clear(t);
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    hg_free(t);
}

static json_t *key_record(const skey_t *k)
{
    char h[65];
    hg_hex_encode(k->secret, sizeof(k->secret), h);
    json_t *r = json_pack("{s:s,s:I}", "secret", h, "created_ms", (json_int_t)k->created_ms);
    OPENSSL_cleanse(h, sizeof(h));
    return r;
}

/* A new key at the end (the signing one); the oldest beyond the cap go (deleted in txn when
 * given). */
static skey_t *add_key(hg_ptokens_t *t, hg_store_txn_t *txn)
{
    if (t->nkeys == HG_PTOKEN_KEYS_MAX) {
        if (txn)
            hg_store_del(txn, COLL, t->keys[0].kid);
        OPENSSL_cleanse(&t->keys[0], sizeof(t->keys[0]));
        memmove(&t->keys[0], &t->keys[1], (t->nkeys - 1) * sizeof(t->keys[0]));
        t->nkeys--;
    }
    skey_t *k = &t->keys[t->nkeys++];
    unsigned char id[KID_LEN / 2];
    HG_BUG_ON(RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(k->secret, sizeof(k->secret)) != 1);
    hg_hex_encode(id, sizeof(id), k->kid);
    k->created_ms = hg_clock_now_ms(t->clock);
    return k;
}

static int load_key(void *ud, const char *kid, json_t *v)
{
    hg_ptokens_t *t = ud;
    const char *s = json_string_value(json_object_get(v, "secret"));
    if (strlen(kid) != KID_LEN || s == NULL || strlen(s) != 64 || t->nkeys == HG_PTOKEN_KEYS_MAX)
        return 0;
    skey_t k = {.created_ms = json_integer_value(json_object_get(v, "created_ms"))};
    memcpy(k.kid, kid, KID_LEN + 1);
    if (hg_hex_decode(s, k.secret, sizeof(k.secret)) < 0)
        return 0;
    /* oldest first */
    size_t at = t->nkeys;
    while (at > 0 && t->keys[at - 1].created_ms > k.created_ms)
        at--;
    memmove(&t->keys[at + 1], &t->keys[at], (t->nkeys - at) * sizeof(k));
    t->keys[at] = k;
    t->nkeys++;
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

int hg_ptokens_load(hg_ptokens_t *t, hg_error_t *err)
{
    int rc = hg_store_load(t->store, COLL, load_key, t);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load the player token signing keys");
    if (t->nkeys)
        return 0;
    skey_t *k = add_key(t, NULL);
    json_t *r = key_record(k);
    rc = hg_store_put_now(t->store, COLL, k->kid, r);
    json_decref(r);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot store the player token signing key");
    return 0;
}

char *hg_ptokens_mint(hg_ptokens_t *t, const char *player_id, const char *sid, int64_t *expires_in)
{
    const skey_t *k = &t->keys[t->nkeys - 1];
    int64_t now_s = hg_clock_now_ms(t->clock) / 1000;
    jwt_t *j = NULL;
    HG_BUG_ON(jwt_new(&j) != 0);
    int rc = jwt_add_header(j, "kid", k->kid) | jwt_add_grant(j, "iss", ISSUER) |
             jwt_add_grant(j, "sub", player_id) | jwt_add_grant(j, "sid", sid) |
             jwt_add_grant_int(j, "iat", (long)now_s) |
             jwt_add_grant_int(j, "exp", (long)(now_s + t->ttl_ms / 1000)) |
             jwt_set_alg(j, JWT_ALG_HS256, k->secret, sizeof(k->secret));
    HG_BUG_ON(rc != 0);
    char *s = jwt_encode_str(j);
    HG_BUG_ON(s == NULL);
    jwt_free(j);
    char *out = hg_strdup(s);
    free(s);
    *expires_in = t->ttl_ms / 1000;
    return out;
}

static const skey_t *find_key(const hg_ptokens_t *t, const char *kid)
{
    for (size_t i = 0; kid && i < t->nkeys; i++)
        if (strcmp(t->keys[i].kid, kid) == 0)
            return &t->keys[i];
    return NULL;
}

int hg_ptokens_verify(hg_ptokens_t *t, const char *token, char *player_id, size_t id_cap, char *sid,
                      size_t sid_cap, hg_error_t *err)
{
    int rc = HG_EUNAUTHORIZED;
    jwt_t *j = NULL;
    const char *why = "the token is malformed";
    size_t len = strlen(token);
    if (len > HG_PTOKEN_MAX || strchr(token, '.') == NULL)
        goto out;
    int64_t now_s = hg_clock_now_ms(t->clock) / 1000;
    /* keyed by the text itself: a hash lookup and one compare (a SHA-256 through OpenSSL 3's
     * EVP cost ~7% of a rank read's loop time); only tokens that verified are in it */
    const verified_t *seen = hg_map_getn(&t->cache, token, len);
    if (seen && seen->exp_s > now_s && seen->iat_s <= now_s + HG_PTOKEN_SKEW_S &&
        strlen(seen->player_id) < id_cap && strlen(seen->sid) < sid_cap) {
        snprintf(player_id, id_cap, "%s", seen->player_id);
        snprintf(sid, sid_cap, "%s", seen->sid);
        return 0;
    }
    /* the header names the key: read it unverified, then verify with that key */
    if (jwt_decode(&j, token, NULL, 0) != 0)
        goto out;
    const skey_t *k = find_key(t, jwt_get_header(j, "kid"));
    jwt_free(j);
    j = NULL;
    if (k == NULL) {
        why = "the token's signing key is unknown (rotated away?)";
        goto out;
    }
    if (jwt_decode(&j, token, k->secret, sizeof(k->secret)) != 0) {
        why = "the token's signature is not valid";
        goto out;
    }
    if (jwt_get_alg(j) != JWT_ALG_HS256) { /* never "none", never another algorithm */
        why = "the token is not signed with HS256";
        goto out;
    }
    const char *iss = jwt_get_grant(j, "iss"), *sub = jwt_get_grant(j, "sub"),
               *s = jwt_get_grant(j, "sid");
    errno = 0;
    long exp = jwt_get_grant_int(j, "exp"), iat = jwt_get_grant_int(j, "iat");
    if (iss == NULL || strcmp(iss, ISSUER) != 0 || sub == NULL || s == NULL ||
        strlen(sub) >= id_cap || strlen(s) >= sid_cap || exp <= 0 || iat <= 0)
        goto out;
    if (exp <= now_s) {
        why = "the token has expired";
        goto out;
    }
    if (iat > now_s + HG_PTOKEN_SKEW_S) {
        why = "the token was issued in the future";
        goto out;
    }
    snprintf(player_id, id_cap, "%s", sub);
    snprintf(sid, sid_cap, "%s", s);
    if (strlen(sub) < sizeof(((verified_t *)0)->player_id) &&
        strlen(s) < sizeof(((verified_t *)0)->sid)) {
        if (hg_map_count(&t->cache) >= HG_PTOKEN_CACHE)
            cache_clear(t);
        verified_t *vt = hg_malloc(sizeof(*vt));
        vt->exp_s = exp;
        vt->iat_s = iat;
        snprintf(vt->player_id, sizeof(vt->player_id), "%s", sub);
        snprintf(vt->sid, sizeof(vt->sid), "%s", s);
        hg_free(hg_map_set(&t->cache, token, vt));
    }
    rc = 0;
out:
    if (j)
        jwt_free(j);
    if (rc < 0)
        hg_error_set(err, rc, "%s", why);
    return rc;
}

const char *hg_ptokens_rotate(hg_ptokens_t *t, hg_store_txn_t *txn)
{
    cache_clear(t); /* a key may be dropped: its tokens must be checked again */
    skey_t *k = add_key(t, txn);
    json_t *r = key_record(k);
    hg_store_put(txn, COLL, k->kid, r);
    json_decref(r);
    HG_LOG(HG_LOG_INFO, "auth", "player token signing key rotated kid=%s", k->kid);
    return k->kid;
}

json_t *hg_ptokens_list(const hg_ptokens_t *t)
{
    json_t *arr = json_array();
    for (size_t i = t->nkeys; i-- > 0;)
        json_array_append_new(arr, json_pack("{s:s,s:f,s:b}", "kid", t->keys[i].kid, "created",
                                             (double)t->keys[i].created_ms / 1000.0, "signing",
                                             i == t->nkeys - 1));
    return arr;
}
