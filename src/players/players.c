/* hangar — players (see players.h).
 *
 * Records, one collection pair per partition nn (00..63):
 *   players/<nn>  <player id> → {"origin", "created_ms", "updated_ms", "display_name"?,
 *                                "metadata"?, "sessions": [{"sid", "refresh" (hex SHA-256),
 *                                "created_ms", "expires_ms"}]}
 *   friends/<nn>  <player id> → {"friends": [ids]}     (absent when the list is empty)
 *   players.meta  "ids" → {"secret": hex}                (the id-derivation secret; never rotated:
 *                                                         ids would change)
 * The partition of an id is FNV-1a 64 of its text modulo HG_PLAYER_PARTITIONS: stored data
 * depends on it, so it never changes.
 */
#include "players/players.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/map.h"
#include "core/str.h"
#include "store/partition.h"

#define META_COLL "players.meta"
#define META_IDS "ids"
#define REFRESH_PREFIX "rt1."

struct hg_players {
    hg_store_t *store;
    hg_clock_t *clock;
    int64_t refresh_ttl_ms;
    hg_map_t by_id; /* id → hg_player_t */
    uint8_t id_secret[32];
};

static void player_free(hg_player_t *p)
{
    hg_free(p->display_name);
    json_decref(p->metadata);
    hg_free(p->origin);
    hg_free(p->friends);
    OPENSSL_cleanse(p->sessions, sizeof(p->sessions));
    hg_free(p);
}

hg_players_t *hg_players_new(hg_store_t *store, hg_clock_t *clock, int64_t refresh_ttl_ms)
{
    hg_players_t *pl = hg_calloc(1, sizeof(*pl));
    pl->store = store;
    pl->clock = clock;
    pl->refresh_ttl_ms = refresh_ttl_ms;
    hg_map_init(&pl->by_id);
    return pl;
}

void hg_players_free(hg_players_t *pl)
{
    if (pl == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&pl->by_id, &it, NULL, &v))
        player_free(v);
    hg_map_free(&pl->by_id);
    OPENSSL_cleanse(pl->id_secret, sizeof(pl->id_secret));
    hg_free(pl);
}

unsigned hg_player_partition(const char *player_id)
{
    return (unsigned)(hg_hash_bytes(player_id, strlen(player_id)) % HG_PLAYER_PARTITIONS);
}

hg_player_t *hg_player_find(const hg_players_t *pl, const char *id)
{
    return hg_map_get(&pl->by_id, id);
}

size_t hg_players_count(const hg_players_t *pl)
{
    return hg_map_count(&pl->by_id);
}

/* ---- text helpers ---- */

/* n random bytes as unpadded base64url (out: 4*ceil(n/3)+1 bytes at least). */
static void random_b64url(size_t n, char *out)
{
    unsigned char raw[48];
    HG_BUG_ON(n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1);
    int len = EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    OPENSSL_cleanse(raw, sizeof(raw));
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
}

static void sha256(const char *s, uint8_t out[32])
{
    SHA256((const unsigned char *)s, strlen(s), out);
}

/* 6..128 printable ASCII, no spaces. */
static int valid_ext_id(const char *s)
{
    return hg_str_token(s, HG_PLAYER_EXT_ID_MIN, HG_PLAYER_EXT_ID_MAX);
}

/* 1..HG_PLAYER_NAME_MAX characters of UTF-8 (jansson has checked the encoding) without control
 * characters. */
static int valid_name(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            return 0;
        if ((*c & 0xC0) != 0x80)
            chars++;
    }
    return chars >= 1 && chars <= HG_PLAYER_NAME_MAX;
}

/* The player id of an external id: HMAC-SHA256(secret, "<kind>:<id>") as a version-8 UUID. */
static void derive_id(const hg_players_t *pl, const char *origin, char out[HG_PLAYER_ID_LEN + 1])
{
    uint8_t md[32];
    unsigned len = sizeof(md);
    HG_BUG_ON(HMAC(EVP_sha256(), pl->id_secret, sizeof(pl->id_secret),
                   (const unsigned char *)origin, strlen(origin), md, &len) == NULL);
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x80); /* version 8: custom */
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80); /* variant 1 */
    char h[33];
    hg_hex_encode(md, 16, h);
    snprintf(out, HG_PLAYER_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16,
             h + 20);
}

/* ---- records ---- */

static void coll_of(const char *kind, unsigned part, char out[24])
{
    snprintf(out, 24, "%s/%02u", kind, part);
}

static void save_player(const hg_players_t *pl, const hg_player_t *p, hg_store_txn_t *txn)
{
    (void)pl;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"origin\":");
    hg_jsonw_str(&b, p->origin);
    hg_buf_puts(&b, ",\"created_ms\":");
    hg_jsonw_int(&b, p->created_ms);
    hg_buf_puts(&b, ",\"updated_ms\":");
    hg_jsonw_int(&b, p->updated_ms);
    if (p->display_name) {
        hg_buf_puts(&b, ",\"display_name\":");
        hg_jsonw_str(&b, p->display_name);
    }
    if (p->metadata) {
        hg_buf_puts(&b, ",\"metadata\":");
        hg_jsonw_value(&b, p->metadata);
    }
    hg_buf_puts(&b, ",\"sessions\":[");
    for (size_t i = 0; i < p->nsessions; i++) {
        const hg_player_session_t *s = &p->sessions[i];
        char h[65];
        hg_hex_encode(s->refresh_hash, sizeof(s->refresh_hash), h);
        hg_buf_puts(&b, i ? ",{\"sid\":" : "{\"sid\":");
        hg_jsonw_str(&b, s->sid);
        hg_buf_puts(&b, ",\"refresh\":");
        hg_jsonw_str(&b, h);
        hg_buf_puts(&b, ",\"created_ms\":");
        hg_jsonw_int(&b, s->created_ms);
        hg_buf_puts(&b, ",\"expires_ms\":");
        hg_jsonw_int(&b, s->expires_ms);
        hg_buf_puts(&b, "}");
    }
    hg_buf_puts(&b, "]}");
    char coll[24];
    coll_of("players", p->part, coll);
    hg_store_put_text(txn, coll, p->id, hg_buf_steal(&b, NULL));
}

static void save_friends(const hg_player_t *p, hg_store_txn_t *txn)
{
    char coll[24];
    coll_of("friends", p->part, coll);
    if (p->nfriends == 0) {
        hg_store_del(txn, coll, p->id);
        return;
    }
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"friends\":[");
    for (size_t i = 0; i < p->nfriends; i++) {
        if (i)
            hg_buf_puts(&b, ",");
        hg_jsonw_str(&b, p->friends[i]);
    }
    hg_buf_puts(&b, "]}");
    hg_store_put_text(txn, coll, p->id, hg_buf_steal(&b, NULL));
}

/* ---- sessions ---- */

/* Drop expired sessions (recorded with the next save). */
static void prune_sessions(hg_player_t *p, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < p->nsessions; i++)
        if (p->sessions[i].expires_ms > now)
            p->sessions[k++] = p->sessions[i];
    for (size_t i = k; i < p->nsessions; i++)
        OPENSSL_cleanse(&p->sessions[i], sizeof(p->sessions[i]));
    p->nsessions = k;
}

/* A new secret for s, written into out->refresh_token. */
static void new_refresh(hg_players_t *pl, hg_player_t *p, hg_player_session_t *s,
                        hg_player_login_t *out)
{
    char secret[HG_PLAYER_REFRESH_SECRET + 2];
    random_b64url(32, secret);
    sha256(secret, s->refresh_hash);
    s->expires_ms = hg_clock_now_ms(pl->clock) + pl->refresh_ttl_ms;
    snprintf(out->refresh_token, sizeof(out->refresh_token), REFRESH_PREFIX "%s.%s.%s", p->id,
             s->sid, secret);
    memcpy(out->sid, s->sid, sizeof(out->sid));
    out->player = p;
    OPENSSL_cleanse(secret, sizeof(secret));
}

static void open_session(hg_players_t *pl, hg_player_t *p, hg_store_txn_t *txn,
                         hg_player_login_t *out)
{
    int64_t now = hg_clock_now_ms(pl->clock);
    prune_sessions(p, now);
    if (p->nsessions == HG_PLAYER_SESSIONS_MAX) { /* the oldest login ends */
        memmove(&p->sessions[0], &p->sessions[1], (p->nsessions - 1) * sizeof(p->sessions[0]));
        p->nsessions--;
    }
    hg_player_session_t *s = &p->sessions[p->nsessions++];
    memset(s, 0, sizeof(*s));
    random_b64url(16, s->sid);
    s->created_ms = now;
    new_refresh(pl, p, s, out);
    save_player(pl, p, txn);
}

const hg_player_session_t *hg_player_session(const hg_player_t *p, const char *sid, int64_t now_ms)
{
    for (size_t i = 0; i < p->nsessions; i++)
        if (strcmp(p->sessions[i].sid, sid) == 0)
            return p->sessions[i].expires_ms > now_ms ? &p->sessions[i] : NULL;
    return NULL;
}

static void end_session(hg_player_t *p, size_t i)
{
    memmove(&p->sessions[i], &p->sessions[i + 1], (p->nsessions - i - 1) * sizeof(p->sessions[0]));
    p->nsessions--;
    OPENSSL_cleanse(&p->sessions[p->nsessions], sizeof(p->sessions[0]));
}

/* ---- logins ---- */

static hg_player_t *create_player(hg_players_t *pl, const char *id, const char *origin,
                                  const char *display_name)
{
    hg_player_t *p = hg_calloc(1, sizeof(*p));
    memcpy(p->id, id, HG_PLAYER_ID_LEN + 1);
    p->part = hg_player_partition(id);
    p->origin = hg_strdup(origin);
    p->display_name = display_name ? hg_strdup(display_name) : NULL;
    p->created_ms = p->updated_ms = hg_clock_now_ms(pl->clock);
    hg_map_set(&pl->by_id, p->id, p);
    return p;
}

int hg_player_login(hg_players_t *pl, hg_player_origin_t origin, const char *ext_id,
                    const char *display_name, hg_store_txn_t *txn, hg_player_login_t *out,
                    hg_error_t *err)
{
    const char *what = origin == HG_PLAYER_DEVICE ? "device_id" : "custom_id";
    memset(out, 0, sizeof(*out));
    if (!valid_ext_id(ext_id))
        return hg_error_set(err, HG_EINVAL,
                            "%s must be %d to %d printable ASCII characters without spaces", what,
                            HG_PLAYER_EXT_ID_MIN, HG_PLAYER_EXT_ID_MAX);
    if (display_name && !valid_name(display_name))
        return hg_error_set(err, HG_EINVAL,
                            "display_name must be 1 to %d characters, none of them control "
                            "characters",
                            HG_PLAYER_NAME_MAX);
    char key[HG_PLAYER_EXT_ID_MAX + 16], id[HG_PLAYER_ID_LEN + 1];
    snprintf(key, sizeof(key), "%s:%s", origin == HG_PLAYER_DEVICE ? "device" : "custom", ext_id);
    derive_id(pl, key, id);
    hg_player_t *p = hg_player_find(pl, id);
    if (p == NULL) {
        if (hg_players_count(pl) >= HG_PLAYERS_MAX)
            return hg_error_set(err, HG_ELIMIT, "at most %d players", HG_PLAYERS_MAX);
        p = create_player(pl, id, key, display_name);
        out->created = 1;
    }
    open_session(pl, p, txn, out);
    return 0;
}

int hg_player_login_id(hg_players_t *pl, const char *player_id, hg_store_txn_t *txn,
                       hg_player_login_t *out, hg_error_t *err)
{
    memset(out, 0, sizeof(*out));
    hg_player_t *p = hg_player_find(pl, player_id);
    if (p == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no player %s", player_id);
    open_session(pl, p, txn, out);
    return 0;
}

int hg_player_refresh(hg_players_t *pl, const char *refresh_token, hg_store_txn_t *txn,
                      hg_player_login_t *out, hg_error_t *err)
{
    memset(out, 0, sizeof(*out));
    /* rt1.<player id>.<sid>.<secret> */
    const char *s = refresh_token;
    size_t plen = strlen(REFRESH_PREFIX);
    if (strlen(s) > 150 || strncmp(s, REFRESH_PREFIX, plen) != 0 ||
        strlen(s) < plen + HG_PLAYER_ID_LEN + 1 + HG_PLAYER_SID_LEN + 2)
        return hg_error_set(err, HG_EUNAUTHORIZED, "the refresh token is not valid");
    char id[HG_PLAYER_ID_LEN + 1], sid[HG_PLAYER_SID_LEN + 1];
    memcpy(id, s + plen, HG_PLAYER_ID_LEN);
    id[HG_PLAYER_ID_LEN] = '\0';
    const char *q = s + plen + HG_PLAYER_ID_LEN;
    if (*q++ != '.')
        return hg_error_set(err, HG_EUNAUTHORIZED, "the refresh token is not valid");
    memcpy(sid, q, HG_PLAYER_SID_LEN);
    sid[HG_PLAYER_SID_LEN] = '\0';
    q += HG_PLAYER_SID_LEN;
    if (*q++ != '.')
        return hg_error_set(err, HG_EUNAUTHORIZED, "the refresh token is not valid");
    hg_player_t *p = hg_player_find(pl, id);
    int64_t now = hg_clock_now_ms(pl->clock);
    for (size_t i = 0; p && i < p->nsessions; i++) {
        hg_player_session_t *ss = &p->sessions[i];
        if (strcmp(ss->sid, sid) != 0)
            continue;
        if (ss->expires_ms <= now)
            break;
        uint8_t h[32];
        sha256(q, h);
        if (CRYPTO_memcmp(h, ss->refresh_hash, sizeof(h)) != 0) {
            /* a refresh token of this session, but not its current one: reuse of a rotated
             * token means someone else holds it; end the session */
            HG_LOG(HG_LOG_WARN, "players", "refresh token reused player=%s: session ended", p->id);
            end_session(p, i);
            save_player(pl, p, txn);
            return hg_error_set(err, HG_EUNAUTHORIZED,
                                "the refresh token was already used: the session is ended; log "
                                "in again");
        }
        new_refresh(pl, p, ss, out);
        save_player(pl, p, txn);
        return 0;
    }
    return hg_error_set(err, HG_EUNAUTHORIZED, "the refresh token is not valid or has expired");
}

int hg_player_logout(hg_players_t *pl, hg_player_t *p, const char *sid, hg_store_txn_t *txn)
{
    for (size_t i = 0; i < p->nsessions; i++)
        if (strcmp(p->sessions[i].sid, sid) == 0) {
            end_session(p, i);
            save_player(pl, p, txn);
            break;
        }
    return 0;
}

/* ---- profile and friends ---- */

int hg_player_update(hg_players_t *pl, hg_player_t *p, const char *display_name, json_t *metadata,
                     hg_store_txn_t *txn, hg_error_t *err)
{
    if (display_name && !valid_name(display_name))
        return hg_error_set(err, HG_EINVAL,
                            "display_name must be 1 to %d characters, none of them control "
                            "characters",
                            HG_PLAYER_NAME_MAX);
    if (metadata) {
        if (!json_is_object(metadata))
            return hg_error_set(err, HG_EINVAL, "metadata must be a JSON object");
        char *text = json_dumps(metadata, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;
        free(text);
        if (n > HG_PLAYER_METADATA_MAX)
            return hg_error_set(err, HG_EINVAL, "metadata is %zu bytes; at most %d", n,
                                HG_PLAYER_METADATA_MAX);
    }
    if (display_name) {
        hg_free(p->display_name);
        p->display_name = hg_strdup(display_name);
    }
    if (metadata) {
        json_decref(p->metadata);
        p->metadata = json_deep_copy(metadata);
    }
    p->updated_ms = hg_clock_now_ms(pl->clock);
    save_player(pl, p, txn);
    return 0;
}

static int check_friend(const hg_players_t *pl, const hg_player_t *p, const char *id,
                        hg_error_t *err)
{
    if (strcmp(id, p->id) == 0)
        return hg_error_set(err, HG_EINVAL, "a player is not its own friend");
    if (hg_player_find(pl, id) == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no player %.40s", id);
    return 0;
}

static int has_friend(const hg_player_t *p, const char *id)
{
    for (size_t i = 0; i < p->nfriends; i++)
        if (strcmp(p->friends[i], id) == 0)
            return 1;
    return 0;
}

int hg_player_set_friends(hg_players_t *pl, hg_player_t *p, const char *const *ids, size_t n,
                          hg_store_txn_t *txn, hg_error_t *err)
{
    if (n > HG_PLAYER_FRIENDS_MAX)
        return hg_error_set(err, HG_ELIMIT, "at most %d friends", HG_PLAYER_FRIENDS_MAX);
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_friend(pl, p, ids[i], err)) < 0)
            return rc;
    char(*list)[HG_PLAYER_ID_LEN + 1] = n ? hg_malloc(n * sizeof(*list)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(list[j], ids[i]) == 0;
        if (!dup)
            memcpy(list[k++], ids[i], HG_PLAYER_ID_LEN + 1);
    }
    hg_free(p->friends);
    p->friends = list;
    p->nfriends = k;
    save_friends(p, txn);
    return 0;
}

int hg_player_add_friend(hg_players_t *pl, hg_player_t *p, const char *id, hg_store_txn_t *txn,
                         hg_error_t *err)
{
    int rc = check_friend(pl, p, id, err);
    if (rc < 0 || has_friend(p, id))
        return rc;
    if (p->nfriends >= HG_PLAYER_FRIENDS_MAX)
        return hg_error_set(err, HG_ELIMIT, "at most %d friends", HG_PLAYER_FRIENDS_MAX);
    p->friends = hg_realloc(p->friends, (p->nfriends + 1) * sizeof(*p->friends));
    memcpy(p->friends[p->nfriends++], id, HG_PLAYER_ID_LEN + 1);
    save_friends(p, txn);
    return 0;
}

int hg_player_remove_friend(hg_players_t *pl, hg_player_t *p, const char *id, hg_store_txn_t *txn)
{
    (void)pl;
    for (size_t i = 0; i < p->nfriends; i++)
        if (strcmp(p->friends[i], id) == 0) {
            memmove(p->friends[i], p->friends[i + 1], (p->nfriends - i - 1) * sizeof(*p->friends));
            p->nfriends--;
            save_friends(p, txn);
            break;
        }
    return 0;
}

json_t *hg_player_json(const hg_player_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "player_id", json_string(p->id));
    json_object_set_new(o, "display_name",
                        p->display_name ? json_string(p->display_name) : json_null());
    json_object_set_new(o, "metadata", p->metadata ? json_deep_copy(p->metadata) : json_object());
    json_object_set_new(o, "created", json_real((double)p->created_ms / 1000.0));
    json_object_set_new(o, "updated", json_real((double)p->updated_ms / 1000.0));
    return o;
}

/* ---- load ---- */

static int load_meta(void *ud, const char *key, json_t *v)
{
    hg_players_t *pl = ud;
    if (strcmp(key, META_IDS) == 0 &&
        hg_hex_decode(json_string_value(json_object_get(v, "secret")), pl->id_secret, 32) < 0)
        return HG_ESTORE;
    return 0;
}

static int load_player(void *ud, const char *key, json_t *v)
{
    hg_players_t *pl = ud;
    if (strlen(key) != HG_PLAYER_ID_LEN || hg_player_find(pl, key))
        return 0;
    const char *origin = json_string_value(json_object_get(v, "origin"));
    hg_player_t *p = create_player(pl, key, origin ? origin : "", NULL);
    const char *name = json_string_value(json_object_get(v, "display_name"));
    p->display_name = name ? hg_strdup(name) : NULL;
    json_t *md = json_object_get(v, "metadata");
    p->metadata = json_is_object(md) ? json_incref(md) : NULL;
    p->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    p->updated_ms = json_integer_value(json_object_get(v, "updated_ms"));
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get(v, "sessions"), i, s) {
        const char *sid = json_string_value(json_object_get(s, "sid"));
        if (p->nsessions == HG_PLAYER_SESSIONS_MAX || sid == NULL ||
            strlen(sid) != HG_PLAYER_SID_LEN)
            continue;
        hg_player_session_t *ss = &p->sessions[p->nsessions];
        if (hg_hex_decode(json_string_value(json_object_get(s, "refresh")), ss->refresh_hash, 32) <
            0)
            continue;
        memcpy(ss->sid, sid, HG_PLAYER_SID_LEN + 1);
        ss->created_ms = json_integer_value(json_object_get(s, "created_ms"));
        ss->expires_ms = json_integer_value(json_object_get(s, "expires_ms"));
        p->nsessions++;
    }
    return 0;
}

static int load_friends(void *ud, const char *key, json_t *v)
{
    hg_players_t *pl = ud;
    hg_player_t *p = hg_player_find(pl, key);
    json_t *arr = json_object_get(v, "friends");
    if (p == NULL || !json_is_array(arr))
        return 0;
    size_t n = json_array_size(arr), i;
    if (n > HG_PLAYER_FRIENDS_MAX)
        n = HG_PLAYER_FRIENDS_MAX;
    hg_free(p->friends);
    p->friends = n ? hg_malloc(n * sizeof(*p->friends)) : NULL;
    p->nfriends = 0;
    json_t *f;
    json_array_foreach (arr, i, f) {
        const char *id = json_string_value(f);
        if (p->nfriends < n && id && strlen(id) == HG_PLAYER_ID_LEN)
            memcpy(p->friends[p->nfriends++], id, HG_PLAYER_ID_LEN + 1);
    }
    return 0;
}

int hg_players_load(hg_players_t *pl, hg_error_t *err)
{
    int rc = hg_store_load(pl->store, META_COLL, load_meta, pl);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load the players' id secret");
    static const uint8_t zero[32];
    if (memcmp(pl->id_secret, zero, sizeof(zero)) == 0) { /* first start */
        HG_BUG_ON(RAND_bytes(pl->id_secret, sizeof(pl->id_secret)) != 1);
        char h[65];
        hg_hex_encode(pl->id_secret, sizeof(pl->id_secret), h);
        json_t *rec = json_pack("{s:s}", "secret", h);
        rc = hg_store_put_now(pl->store, META_COLL, META_IDS, rec);
        json_decref(rec);
        OPENSSL_cleanse(h, sizeof(h));
        if (rc < 0)
            return hg_error_set(err, rc, "cannot store the players' id secret");
    }
    for (int part = HG_PARTITION_P0; part < HG_PARTITION_P0 + HG_PLAYER_PARTITIONS; part++)
        if ((rc = hg_players_load_partition(pl, part, err)) < 0)
            return rc;
    HG_LOG(HG_LOG_INFO, "players", "loaded players=%zu", hg_players_count(pl));
    return 0;
}

/* ---- partitions (docs/cluster.md "Next", step 3) ---- */

int hg_players_load_partition(hg_players_t *pl, int part, hg_error_t *err)
{
    int nn = hg_partition_player(part);
    if (nn < 0)
        return hg_error_set(err, HG_EINVAL, "partition %d holds no players", part);
    /* a player's friends are in its own partition: its players first, then their lists */
    char coll[24];
    coll_of("players", (unsigned)nn, coll);
    int rc = hg_store_load(pl->store, coll, load_player, pl);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load players (partition %d)", nn);
    coll_of("friends", (unsigned)nn, coll);
    if ((rc = hg_store_load(pl->store, coll, load_friends, pl)) < 0)
        return hg_error_set(err, rc, "cannot load friends (partition %d)", nn);
    return 0;
}

int hg_players_drop_partition(hg_players_t *pl, int part)
{
    int nn = hg_partition_player(part);
    if (nn < 0)
        return HG_EINVAL;
    size_t it = 0;
    void *v;
    while (hg_map_next(&pl->by_id, &it, NULL, &v)) {
        hg_player_t *p = v;
        if (p->part == (unsigned)nn) {
            hg_map_del(&pl->by_id, p->id); /* the current key: allowed while iterating */
            player_free(p);
        }
    }
    return 0;
}
