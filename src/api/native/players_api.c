/* hangar — /v1/auth and /v1/players: logins, tokens, profiles, friends (docs/api.md).
 *
 *     POST   /v1/auth/device          {"device_id","display_name"?} — open to clients without a
 *                                     signature when the auth-device option is on (rate-limited
 *                                     per source address), else a key with players:Vouch
 *     POST   /v1/auth/custom          {"custom_id","display_name"?} or {"player_id"} — a key with
 *                                     players:Vouch (a trusted server vouching for its user)
 *     POST   /v1/auth/refresh         {"refresh_token"} — open (the token is the credential),
 *                                     rate-limited per source address; rotates the pair
 *     POST   /v1/auth/logout          as the player (bearer): ends the token's session
 *     GET    /v1/auth/signing-keys    the player-token signing keys (keys:Manage, admin)
 *     POST   /v1/auth/signing-keys    rotate: a new signing key (keys:Manage, admin)
 *     GET    /v1/players/me           the player (bearer)   | GET /v1/players/{id}  players:Read
 *     PATCH  /v1/players/me           {"display_name"?,"metadata"?}
 *     GET|PUT /v1/players/me/friends  {"friends": [ids]}    | …/{id}/friends  players:Read|Write
 *     POST|DELETE /v1/players/me/friends/{id}               | …/{id}/friends/{fid}  players:Write
 * A login answers {"player_id","token","refresh_token","expires_in","created"}: 201 when the
 * player was created now, else 200.
 */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "api/native/native_int.h"
#include "auth/ptoken.h"
#include "core/alloc.h"
#include "core/ratelimit.h"
#include "players/players.h"

#define LOGIN_BODY_MAX 8192

int hg_native_is_open(const hg_http_req_t *req)
{
    static const char *const open[] = {"/v1/auth/device", "/v1/auth/refresh", NULL};
    for (int i = 0; open[i]; i++)
        if (req->path_len == strlen(open[i]) && memcmp(req->path, open[i], req->path_len) == 0)
            return req->method == HTTP_POST;
    return 0;
}

/* An unsigned call: counted against its source address. */
static int open_call_allowed(hg_native_call_t *c)
{
    hg_http_conn_t *conn = hg_http_req_conn(c->req);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", conn ? hg_http_conn_peer(conn) : "");
    char *colon = strrchr(addr, ':'); /* "1.2.3.4:port", "[v6]:port": the address only */
    if (colon)
        *colon = '\0';
    if (hg_ratelimit_take(c->api->open_auth_limit, addr, hg_clock_now_ms(c->api->clock)) < 0)
        return hg_error_set(&c->err, HG_ETHROTTLED,
                            "too many logins from %s; try again in a minute (docs/limits.md)",
                            addr);
    return 0;
}

static const char *str_member(hg_native_call_t *c, const char *name, int required)
{
    json_t *v = json_object_get(c->in, name);
    if (v == NULL && !required)
        return NULL;
    if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v))) {
        hg_error_set(&c->err, HG_EINVAL, "%s must be a string", name);
        return NULL;
    }
    return json_string_value(v);
}

/* The login answer: a new access token for the session just opened or refreshed. */
static void login_answer(hg_native_call_t *c, const hg_player_login_t *l)
{
    int64_t expires_in;
    char *token = hg_ptokens_mint(c->api->ptokens, l->player->id, l->sid, &expires_in);
    c->out = json_pack("{s:s,s:s,s:s,s:I,s:b}", "player_id", l->player->id, "token", token,
                       "refresh_token", l->refresh_token, "expires_in", (json_int_t)expires_in,
                       "created", l->created);
    c->status = l->created ? 201 : 200;
    hg_free(token);
}

static int auth_device(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    if (c->key)
        rc = hg_native_require(c, "players:Vouch");
    else if (!c->api->auth_device)
        rc = hg_error_set(&c->err, HG_ENOAUTH,
                          "device logins without a signature are off (the auth-device option); "
                          "sign the call with a key allowed players:Vouch");
    else
        rc = open_call_allowed(c);
    if (rc < 0 || (rc = hg_native_parse_body(c)) < 0)
        return rc;
    const char *dev = str_member(c, "device_id", 1);
    const char *name = dev ? str_member(c, "display_name", 0) : NULL;
    if (c->err.code)
        return c->err.code;
    hg_player_login_t l;
    if ((rc = hg_player_login(c->api->players, HG_PLAYER_DEVICE, dev, name, txn, &l, &c->err)) < 0)
        return rc;
    login_answer(c, &l);
    return 0;
}

static int auth_custom(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    if ((rc = hg_native_require(c, "players:Vouch")) < 0 || (rc = hg_native_parse_body(c)) < 0)
        return rc;
    const char *custom = str_member(c, "custom_id", 0);
    const char *pid = str_member(c, "player_id", 0);
    const char *name = str_member(c, "display_name", 0);
    if (c->err.code)
        return c->err.code;
    if (!custom == !pid)
        return hg_error_set(&c->err, HG_EINVAL, "give custom_id or player_id (one of them)");
    hg_player_login_t l;
    rc = custom ? hg_player_login(c->api->players, HG_PLAYER_CUSTOM, custom, name, txn, &l, &c->err)
                : hg_player_login_id(c->api->players, pid, txn, &l, &c->err);
    if (rc < 0)
        return rc;
    login_answer(c, &l);
    return 0;
}

static int auth_refresh(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    if ((rc = open_call_allowed(c)) < 0 || (rc = hg_native_parse_body(c)) < 0)
        return rc;
    const char *rt = str_member(c, "refresh_token", 1);
    if (rt == NULL)
        return c->err.code;
    hg_player_login_t l;
    if ((rc = hg_player_refresh(c->api->players, rt, txn, &l, &c->err)) < 0) {
        if (rc == HG_EUNAUTHORIZED)
            c->err.code = HG_ETOKEN;
        return rc;
    }
    login_answer(c, &l);
    return 0;
}

void hg_native_auth(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    int m = c->req->method;
#define IS(path) (n == strlen(path) && memcmp(rest, path, n) == 0)
    if (IS("/device") || IS("/custom") || IS("/refresh") || IS("/logout")) {
        if (m != HTTP_POST) {
            hg_error_set(&c->err, HG_EMETHOD, "use POST");
        } else if (IS("/device")) {
            auth_device(c, txn);
        } else if (IS("/custom")) {
            auth_custom(c, txn);
        } else if (IS("/refresh")) {
            auth_refresh(c, txn);
        } else if (c->player == NULL) {
            hg_error_set(&c->err, HG_ENOAUTH, "log out with the player's token (Bearer)");
        } else {
            hg_player_logout(c->api->players, c->player, c->sid, txn);
            c->out = json_pack("{s:b}", "logged_out", 1);
        }
    } else if (IS("/signing-keys")) {
        if (hg_native_require(c, "keys:Manage") < 0) {
        } else if (m == HTTP_GET) {
            c->out = json_pack("{s:o}", "signing_keys", hg_ptokens_list(c->api->ptokens));
        } else if (m == HTTP_POST) {
            const char *kid = hg_ptokens_rotate(c->api->ptokens, txn);
            c->out = json_pack("{s:s,s:o}", "kid", kid, "signing_keys",
                               hg_ptokens_list(c->api->ptokens));
            c->status = 201;
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/auth/signing-keys");
        }
    } else {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    }
#undef IS
    if (c->err.code) { /* refused calls change nothing */
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}

/* ---- /v1/players ---- */

static json_t *friends_json(const hg_players_t *pl, const hg_player_t *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->nfriends; i++) {
        const hg_player_t *f = hg_player_find(pl, p->friends[i]);
        json_array_append_new(
            arr, json_pack("{s:s,s:o}", "player_id", p->friends[i], "display_name",
                           f && f->display_name ? json_string(f->display_name) : json_null()));
    }
    return json_pack("{s:o}", "friends", arr);
}

static int put_friends(hg_native_call_t *c, hg_player_t *p, hg_store_txn_t *txn)
{
    int rc = hg_native_parse_body(c);
    if (rc < 0)
        return rc;
    json_t *arr = json_object_get(c->in, "friends");
    if (!json_is_array(arr))
        return hg_error_set(&c->err, HG_EINVAL, "friends must be a list of player ids");
    size_t n = json_array_size(arr);
    if (n > HG_PLAYER_FRIENDS_MAX)
        return hg_error_set(&c->err, HG_ELIMIT, "at most %d friends", HG_PLAYER_FRIENDS_MAX);
    const char **ids = hg_malloc((n ? n : 1) * sizeof(*ids));
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *v = json_array_get(arr, i);
        ids[i] = json_string_value(v);
        if (ids[i] == NULL || json_string_length(v) != HG_PLAYER_ID_LEN)
            rc = hg_error_set(&c->err, HG_EINVAL, "friends[%zu] is not a player id", i);
    }
    if (rc == 0)
        rc = hg_player_set_friends(c->api->players, p, ids, n, txn, &c->err);
    hg_free(ids);
    if (rc == 0)
        c->out = friends_json(c->api->players, p);
    return rc;
}

/* rest after /v1/players/<who>: "", "/friends" or "/friends/<id>". */
static void player_call(hg_native_call_t *c, hg_player_t *p, const char *rest, size_t n,
                        hg_store_txn_t *txn)
{
    hg_players_t *pl = c->api->players;
    int m = c->req->method;
    if (n == 0) {
        if (m == HTTP_GET) {
            c->out = hg_player_json(p);
        } else if (m == HTTP_PATCH && hg_native_parse_body(c) == 0) {
            const char *name = str_member(c, "display_name", 0);
            json_t *md = json_object_get(c->in, "metadata");
            if (c->err.code == 0 && hg_player_update(pl, p, name, md, txn, &c->err) == 0)
                c->out = hg_player_json(p);
        } else if (c->err.code == 0) {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or PATCH");
        }
        return;
    }
    if (n == 8 && memcmp(rest, "/friends", 8) == 0) {
        if (m == HTTP_GET)
            c->out = friends_json(pl, p);
        else if (m == HTTP_PUT)
            put_friends(c, p, txn);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET or PUT on friends");
        return;
    }
    if (n == 9 + HG_PLAYER_ID_LEN && memcmp(rest, "/friends/", 9) == 0) {
        char fid[HG_PLAYER_ID_LEN + 1];
        memcpy(fid, rest + 9, HG_PLAYER_ID_LEN);
        fid[HG_PLAYER_ID_LEN] = '\0';
        if (m == HTTP_POST) {
            if (hg_player_add_friend(pl, p, fid, txn, &c->err) == 0)
                c->out = friends_json(pl, p);
        } else if (m == HTTP_DELETE) {
            hg_player_remove_friend(pl, p, fid, txn);
            c->out = friends_json(pl, p);
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use POST or DELETE on a friend");
        }
        return;
    }
    hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
}

void hg_native_players(hg_native_call_t *c, const char *rest, size_t n)
{
    if (hg_native_player_wallet(c, rest, n))
        return;
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    hg_player_t *p = NULL;
    if (n >= 3 && memcmp(rest, "/me", 3) == 0 && (n == 3 || rest[3] == '/')) {
        if (c->player == NULL)
            hg_error_set(&c->err, HG_ENOAUTH,
                         "/v1/players/me is the player of a bearer token; with a key use "
                         "/v1/players/{id}");
        p = c->player;
        rest += 3, n -= 3;
    } else if (n >= 1 + HG_PLAYER_ID_LEN && rest[0] == '/' &&
               (n == 1 + HG_PLAYER_ID_LEN || rest[1 + HG_PLAYER_ID_LEN] == '/')) {
        char id[HG_PLAYER_ID_LEN + 1];
        memcpy(id, rest + 1, HG_PLAYER_ID_LEN);
        id[HG_PLAYER_ID_LEN] = '\0';
        rest += 1 + HG_PLAYER_ID_LEN, n -= 1 + HG_PLAYER_ID_LEN;
        if (c->player && strcmp(c->player->id, id) == 0) {
            p = c->player; /* a player naming itself */
        } else if (hg_native_require(c, c->req->method == HTTP_GET ? "players:Read"
                                                                   : "players:Write") == 0) {
            p = hg_player_find(c->api->players, id);
            if (p == NULL)
                hg_error_set(&c->err, HG_ENOTFOUND, "no player %s", id);
        }
    } else {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    }
    if (p && c->err.code == 0)
        player_call(c, p, rest, n, txn);
    if (c->err.code) {
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}
