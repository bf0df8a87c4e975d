/* hangar — access keys (see keys.h). */
#include "auth/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"

#define COLL "keys"

struct hg_keys {
    hg_map_t by_id;
    hg_store_t *store;
    hg_clock_t *clock;
};

void hg_random_string(char *buf, size_t len, const char *alphabet)
{
    size_t alen = strlen(alphabet);
    unsigned char rnd[256];
    size_t i = 0;
    while (i < len) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            abort(); /* no entropy: nothing safe to do */
        for (size_t j = 0; j < sizeof(rnd) && i < len; j++) {
            /* rejection sampling keeps the distribution uniform */
            if (rnd[j] >= 256 - (256 % alen))
                continue;
            buf[i++] = alphabet[rnd[j] % alen];
        }
    }
    buf[len] = '\0';
}

static void key_free(hg_key_t *key)
{
    if (key == NULL)
        return;
    hg_free(key->name);
    hg_policy_free(key->policy);
    OPENSSL_cleanse(key->secret, sizeof(key->secret));
    hg_free(key);
}

hg_keys_t *hg_keys_new(hg_store_t *store, hg_clock_t *clock)
{
    hg_keys_t *k = hg_calloc(1, sizeof(*k));
    hg_map_init(&k->by_id);
    k->store = store;
    k->clock = clock;
    return k;
}

void hg_keys_free(hg_keys_t *k)
{
    if (k == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&k->by_id, &it, NULL, &v))
        key_free(v);
    hg_map_free(&k->by_id);
    hg_free(k);
}

static json_t *record(const hg_key_t *key)
{
    return json_pack("{s:s,s:s,s:o,s:I,s:b}", "secret", key->secret, "name", key->name, "policy",
                     hg_policy_document(key->policy), "created_ms", (json_int_t)key->created_ms,
                     "admin", key->admin);
}

static int load_one(void *ud, const char *id, json_t *v)
{
    hg_keys_t *k = ud;
    const char *secret = json_string_value(json_object_get(v, "secret"));
    const char *name = json_string_value(json_object_get(v, "name"));
    if (secret == NULL || name == NULL || strlen(id) > HG_KEY_ID_LEN ||
        strlen(secret) > HG_KEY_SECRET_LEN) {
        HG_LOG(HG_LOG_ERROR, "auth", "skipping malformed stored key id=%s", id);
        return 0;
    }
    hg_key_t *key = hg_calloc(1, sizeof(*key));
    hg_error_t err;
    if (hg_policy_parse(json_object_get(v, "policy"), &key->policy, &err) < 0) {
        HG_LOG(HG_LOG_ERROR, "auth", "stored key id=%s has a bad policy: %s", id, err.msg);
        hg_free(key);
        return 0;
    }
    snprintf(key->id, sizeof(key->id), "%s", id);
    snprintf(key->secret, sizeof(key->secret), "%s", secret);
    key->name = hg_strdup(name);
    key->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    key->admin = json_is_true(json_object_get(v, "admin"));
    key->stored = 1;
    key_free(hg_map_set(&k->by_id, key->id, key));
    return 0;
}

int hg_keys_load(hg_keys_t *k)
{
    return hg_store_load(k->store, COLL, load_one, k);
}

static hg_key_t *make_key(hg_keys_t *k, const char *name, hg_policy_t *policy)
{
    hg_key_t *key = hg_calloc(1, sizeof(*key));
    memcpy(key->id, "HGAK", 4);
    hg_random_string(key->id + 4, HG_KEY_ID_LEN - 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    hg_random_string(key->secret, HG_KEY_SECRET_LEN,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    key->name = hg_strdup(name);
    key->policy = policy;
    key->created_ms = hg_clock_now_ms(k->clock);
    key->stored = 1;
    return key;
}

int hg_keys_bootstrap_admin(hg_keys_t *k, const char *env_id, const char *env_secret,
                            const hg_key_t **out, int *created, hg_error_t *err)
{
    *created = 0;
    if (env_id && *env_id) {
        if (env_secret == NULL || !*env_secret)
            return hg_error_set(err, HG_EINVAL,
                                "HANGAR_ADMIN_KEY_ID is set but HANGAR_ADMIN_SECRET is not");
        if (strlen(env_id) > HG_KEY_ID_LEN || strlen(env_secret) > HG_KEY_SECRET_LEN ||
            strlen(env_id) < 4 || strlen(env_secret) < 8)
            return hg_error_set(err, HG_EINVAL,
                                "admin key id must be 4..%d and secret 8..%d characters",
                                HG_KEY_ID_LEN, HG_KEY_SECRET_LEN);
        hg_key_t *key = hg_calloc(1, sizeof(*key));
        snprintf(key->id, sizeof(key->id), "%s", env_id);
        snprintf(key->secret, sizeof(key->secret), "%s", env_secret);
        key->name = hg_strdup("admin (environment)");
        key->policy = hg_policy_allow_all();
        key->admin = 1;
        key->created_ms = hg_clock_now_ms(k->clock);
        key_free(hg_map_set(&k->by_id, key->id, key));
        *out = key;
        return 0;
    }
    size_t it = 0;
    void *v;
    while (hg_map_next(&k->by_id, &it, NULL, &v)) {
        hg_key_t *key = v;
        if (key->admin) {
            *out = key;
            return 0;
        }
    }
    hg_key_t *key = make_key(k, "admin", hg_policy_allow_all());
    key->admin = 1;
    json_t *rec = record(key);
    int rc = hg_store_put_now(k->store, COLL, key->id, rec);
    json_decref(rec);
    if (rc < 0) {
        key_free(key);
        return hg_error_set(err, rc, "cannot store the administrator key");
    }
    hg_map_set(&k->by_id, key->id, key);
    *out = key;
    *created = 1;
    return 0;
}

const hg_key_t *hg_keys_find(const hg_keys_t *k, const char *id)
{
    return hg_map_get(&k->by_id, id);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
              strchr("_.@-", *s)))
            return 0;
    return 1;
}

int hg_keys_create(hg_keys_t *k, const char *name, json_t *policy, hg_store_txn_t *txn,
                   const hg_key_t **out, hg_error_t *err)
{
    if (name == NULL || !valid_name(name))
        return hg_error_set(err, HG_EINVAL, "name must be 1..64 characters of [A-Za-z0-9_.@-]");
    if (hg_map_count(&k->by_id) >= HG_KEYS_MAX)
        return hg_error_set(err, HG_ELIMIT, "at most %d access keys", HG_KEYS_MAX);
    hg_policy_t *p = NULL;
    int rc = hg_policy_parse(policy, &p, err);
    if (rc < 0)
        return rc;
    hg_key_t *key = make_key(k, name, p);
    hg_map_set(&k->by_id, key->id, key);
    json_t *rec = record(key);
    hg_store_put(txn, COLL, key->id, rec);
    json_decref(rec);
    HG_LOG(HG_LOG_INFO, "auth", "key created id=%s name=%s", key->id, key->name);
    *out = key;
    return 0;
}

int hg_keys_revoke(hg_keys_t *k, const char *id, hg_store_txn_t *txn, hg_error_t *err)
{
    hg_key_t *key = hg_map_get(&k->by_id, id);
    if (key == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no access key %s", id);
    if (key->admin)
        return hg_error_set(err, HG_ECONFLICT, "the administrator key cannot be revoked");
    hg_map_del(&k->by_id, id);
    hg_store_del(txn, COLL, id);
    HG_LOG(HG_LOG_INFO, "auth", "key revoked id=%s", id);
    key_free(key);
    return 0;
}

json_t *hg_key_to_json(const hg_key_t *key, int with_secret)
{
    json_t *o = json_pack("{s:s,s:s,s:o,s:I,s:b}", "key_id", key->id, "name", key->name, "policy",
                          hg_policy_document(key->policy), "created",
                          (json_int_t)(key->created_ms / 1000), "admin", key->admin);
    if (with_secret)
        json_object_set_new(o, "secret", json_string(key->secret));
    return o;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp((*(hg_key_t *const *)a)->id, (*(hg_key_t *const *)b)->id);
}

json_t *hg_keys_list(const hg_keys_t *k)
{
    size_t n = hg_map_count(&k->by_id), i = 0, it = 0;
    hg_key_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&k->by_id, &it, NULL, &v))
        all[i++] = v;
    qsort(all, n, sizeof(*all), cmp_id);
    json_t *arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(arr, hg_key_to_json(all[i], 0));
    hg_free(all);
    return arr;
}
