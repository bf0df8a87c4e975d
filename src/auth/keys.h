/* hangar — access keys: id, secret (for SigV4), name, policy.
 *
 * Keys live in memory (the read path) and in the store collection "keys". The secret is kept
 * because SigV4 verification needs it (HMAC); it is stored in the data directory's database
 * (mode 0600), returned once by the create call, and never logged or listed. The
 * administrator key allows every action; it is either given by the environment
 * (HANGAR_ADMIN_KEY_ID/HANGAR_ADMIN_SECRET, not stored) or created on first start and stored.
 * Limits: HG_KEYS_MAX keys; names 1..64 of [A-Za-z0-9_.@-].
 * Threading: loop thread only.
 */
#ifndef HG_AUTH_KEYS_H
#define HG_AUTH_KEYS_H

#include <jansson.h>
#include <stdint.h>

#include "auth/policy.h"
#include "core/err.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_KEYS_MAX 10000
#define HG_KEY_ID_LEN 20
#define HG_KEY_SECRET_LEN 40

typedef struct hg_key {
    char id[HG_KEY_ID_LEN + 1];
    char secret[HG_KEY_SECRET_LEN + 1];
    char *name;
    hg_policy_t *policy;
    int64_t created_ms;
    int admin;
    int stored; /* 0 for the key given by the environment */
} hg_key_t;

typedef struct hg_keys hg_keys_t;

hg_keys_t *hg_keys_new(hg_store_t *store, hg_clock_t *clock);
void hg_keys_free(hg_keys_t *k);
/* Load stored keys (start-up). */
int hg_keys_load(hg_keys_t *k);
/* Establish the administrator key. env_id/env_secret may be NULL. When neither is given and no
 * admin key is stored, creates and stores one (synchronously: start-up only) and sets *created.
 * Returns the admin key in *out (borrowed). */
int hg_keys_bootstrap_admin(hg_keys_t *k, const char *env_id, const char *env_secret,
                            const hg_key_t **out, int *created, hg_error_t *err);
/* Borrowed; NULL when unknown. */
const hg_key_t *hg_keys_find(const hg_keys_t *k, const char *id);
/* Create a key with a policy document (borrowed). The write goes into txn. *out is borrowed. */
int hg_keys_create(hg_keys_t *k, const char *name, json_t *policy, hg_store_txn_t *txn,
                   const hg_key_t **out, hg_error_t *err);
/* Revoke (delete) a key; the admin key cannot be revoked. */
int hg_keys_revoke(hg_keys_t *k, const char *id, hg_store_txn_t *txn, hg_error_t *err);
/* A new JSON object describing the key; the secret only when with_secret. */
json_t *hg_key_to_json(const hg_key_t *key, int with_secret);
/* A new JSON array of every key (no secrets), sorted by id. */
json_t *hg_keys_list(const hg_keys_t *k);
/* Fill buf (len+1 bytes) with len random chars from alphabet; uses the OS CSPRNG. */
void hg_random_string(char *buf, size_t len, const char *alphabet);

#endif
