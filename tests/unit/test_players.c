/* Unit tests: players (logins, sessions, refresh rotation, friends, reload) and player access
 * tokens (auth/ptoken: minting, expiry and the other refusals, key rotation) on the manual
 * clock, with the real store in a temporary directory. */
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth/ptoken.h"
#include "core/alloc.h"
#include "players/players.h"
#include "store/partition.h"
#include "test.h"
#include "test_util.h"

#define T0 1800000000000LL
#define TTL_MS 3600000
#define REFRESH_MS (30LL * 86400 * 1000)

typedef struct env {
    char dir[64];
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_players_t *pl;
    hg_ptokens_t *tok;
} env_t;

static void env_open(env_t *e, int fresh)
{
    if (fresh) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/hg-pl-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        hg_clock_init_manual(&e->clock, T0);
    }
    uv_loop_init(&e->loop);
    hg_error_t err;
    ASSERT_OK(hg_store_open(&e->loop, &hg_store_sqlite, e->dir, 64, &e->store, &err));
    e->pl = hg_players_new(e->store, &e->clock, REFRESH_MS);
    e->tok = hg_ptokens_new(e->store, &e->clock, TTL_MS);
    ASSERT_OK(hg_players_load(e->pl, &err));
    ASSERT_OK(hg_ptokens_load(e->tok, &err));
}

static void env_close(env_t *e)
{
    hg_store_close(e->store);
    hg_players_free(e->pl);
    hg_ptokens_free(e->tok);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&e->loop));
}

static hg_player_login_t login(env_t *e, hg_player_origin_t o, const char *ext, const char *name)
{
    hg_player_login_t l;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e->store);
    ASSERT_OK(hg_player_login(e->pl, o, ext, name, t, &l, &err));
    hg_test_commit(&e->loop, t);
    return l;
}

HG_TEST(ids_are_derived_and_stable_across_a_reload)
{
    env_t e;
    env_open(&e, 1);
    hg_player_login_t a = login(&e, HG_PLAYER_DEVICE, "device-0001", "Ann");
    ASSERT_TRUE(a.created);
    char id[HG_PLAYER_ID_LEN + 1];
    memcpy(id, a.player->id, sizeof(id));
    ASSERT_EQ_INT(id[14], '8'); /* a version-8 UUID */
    hg_player_login_t again = login(&e, HG_PLAYER_DEVICE, "device-0001", NULL);
    ASSERT_TRUE(!again.created);
    ASSERT_STR_EQ(again.player->id, id);
    /* the same text as a custom id is another player */
    hg_player_login_t c = login(&e, HG_PLAYER_CUSTOM, "device-0001", NULL);
    ASSERT_TRUE(c.created && strcmp(c.player->id, id) != 0);
    ASSERT_EQ_INT(c.player->part, hg_player_partition(c.player->id));
    env_close(&e);
    env_open(&e, 0); /* a restart: the id secret, the players and their sessions are back */
    hg_player_t *p = hg_player_find(e.pl, id);
    ASSERT_NOT_NULL(p);
    ASSERT_STR_EQ(p->display_name, "Ann");
    ASSERT_EQ_INT(p->nsessions, 2);
    hg_player_login_t back = login(&e, HG_PLAYER_DEVICE, "device-0001", NULL);
    ASSERT_STR_EQ(back.player->id, id);
    ASSERT_TRUE(!back.created);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(sessions_expire_rotate_and_end_on_reuse)
{
    env_t e;
    env_open(&e, 1);
    hg_player_login_t a = login(&e, HG_PLAYER_DEVICE, "device-0002", NULL);
    char rt1[160], sid[HG_PLAYER_SID_LEN + 1];
    snprintf(rt1, sizeof(rt1), "%s", a.refresh_token);
    snprintf(sid, sizeof(sid), "%s", a.sid);
    hg_player_t *p = a.player;
    ASSERT_NOT_NULL(hg_player_session(p, sid, T0));
    hg_error_t err;
    hg_player_login_t r;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_clock_advance(&e.clock, 1000);
    ASSERT_OK(hg_player_refresh(e.pl, rt1, t, &r, &err));
    ASSERT_STR_EQ(r.sid, sid); /* the same session, a new secret */
    ASSERT_TRUE(strcmp(r.refresh_token, rt1) != 0);
    char rt2[160];
    snprintf(rt2, sizeof(rt2), "%s", r.refresh_token);
    /* the old secret again ends the session */
    ASSERT_EQ_INT(hg_player_refresh(e.pl, rt1, t, &r, &err), HG_EUNAUTHORIZED);
    ASSERT_NULL(hg_player_session(p, sid, hg_clock_now_ms(&e.clock)));
    ASSERT_EQ_INT(hg_player_refresh(e.pl, rt2, t, &r, &err), HG_EUNAUTHORIZED);
    hg_test_commit(&e.loop, t);
    /* a session lives refresh-ttl from its last rotation */
    hg_player_login_t b = login(&e, HG_PLAYER_DEVICE, "device-0002", NULL);
    hg_clock_advance(&e.clock, REFRESH_MS - 1);
    ASSERT_NOT_NULL(hg_player_session(p, b.sid, hg_clock_now_ms(&e.clock)));
    hg_clock_advance(&e.clock, 1);
    ASSERT_NULL(hg_player_session(p, b.sid, hg_clock_now_ms(&e.clock)));
    t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_player_refresh(e.pl, b.refresh_token, t, &r, &err), HG_EUNAUTHORIZED);
    hg_store_txn_free(t);
    /* at most HG_PLAYER_SESSIONS_MAX logins: the oldest goes */
    char first[HG_PLAYER_SID_LEN + 1] = "";
    for (int i = 0; i < HG_PLAYER_SESSIONS_MAX + 1; i++) {
        hg_player_login_t l = login(&e, HG_PLAYER_DEVICE, "device-0002", NULL);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", l.sid);
    }
    ASSERT_EQ_INT(p->nsessions, HG_PLAYER_SESSIONS_MAX);
    ASSERT_NULL(hg_player_session(p, first, hg_clock_now_ms(&e.clock)));
    /* logout */
    hg_player_login_t c = login(&e, HG_PLAYER_DEVICE, "device-0002", NULL);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_player_logout(e.pl, p, c.sid, t));
    hg_test_commit(&e.loop, t);
    ASSERT_NULL(hg_player_session(p, c.sid, hg_clock_now_ms(&e.clock)));
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(bad_logins_change_nothing)
{
    env_t e;
    env_open(&e, 1);
    hg_player_login_t l;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    ASSERT_EQ_INT(hg_player_login(e.pl, HG_PLAYER_DEVICE, "short", NULL, t, &l, &err), HG_EINVAL);
    ASSERT_EQ_INT(hg_player_login(e.pl, HG_PLAYER_DEVICE, "with space", NULL, t, &l, &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(hg_player_login(e.pl, HG_PLAYER_DEVICE, "device-0003", "", t, &l, &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(hg_player_login(e.pl, HG_PLAYER_DEVICE, "device-0003", "a\nb", t, &l, &err),
                  HG_EINVAL);
    char name[70];
    memset(name, 'x', 65);
    name[65] = '\0';
    ASSERT_EQ_INT(hg_player_login(e.pl, HG_PLAYER_DEVICE, "device-0003", name, t, &l, &err),
                  HG_EINVAL);
    /* 64 characters of 4 bytes each is fine: characters, not bytes */
    char wide[300] = "";
    for (int i = 0; i < 64; i++)
        strcat(wide, "\xf0\x9f\x8e\xae");
    ASSERT_OK(hg_player_login(e.pl, HG_PLAYER_DEVICE, "device-0003", wide, t, &l, &err));
    ASSERT_EQ_INT(hg_players_count(e.pl), 1);
    hg_test_commit(&e.loop, t);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(friends_are_known_players_once_each)
{
    env_t e;
    env_open(&e, 1);
    hg_player_t *a = login(&e, HG_PLAYER_DEVICE, "device-00a", NULL).player;
    hg_player_t *b = login(&e, HG_PLAYER_DEVICE, "device-00b", NULL).player;
    hg_error_t err;
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    const char *ids[] = {b->id, b->id};
    ASSERT_OK(hg_player_set_friends(e.pl, a, ids, 2, t, &err));
    ASSERT_EQ_INT(a->nfriends, 1);
    const char *self[] = {a->id};
    ASSERT_EQ_INT(hg_player_set_friends(e.pl, a, self, 1, t, &err), HG_EINVAL);
    const char *ghost[] = {"00000000-0000-8000-8000-000000000000"};
    ASSERT_EQ_INT(hg_player_set_friends(e.pl, a, ghost, 1, t, &err), HG_ENOTFOUND);
    ASSERT_EQ_INT(a->nfriends, 1); /* refused: unchanged */
    ASSERT_OK(hg_player_add_friend(e.pl, b, a->id, t, &err));
    hg_test_commit(&e.loop, t);
    char aid[HG_PLAYER_ID_LEN + 1], bid[HG_PLAYER_ID_LEN + 1];
    memcpy(aid, a->id, sizeof(aid));
    memcpy(bid, b->id, sizeof(bid));
    env_close(&e);
    env_open(&e, 0);
    a = hg_player_find(e.pl, aid);
    b = hg_player_find(e.pl, bid);
    ASSERT_EQ_INT(a->nfriends, 1);
    ASSERT_STR_EQ(a->friends[0], bid);
    ASSERT_EQ_INT(b->nfriends, 1);
    t = hg_store_txn_new(e.store);
    ASSERT_OK(hg_player_remove_friend(e.pl, a, bid, t));
    hg_test_commit(&e.loop, t);
    ASSERT_EQ_INT(a->nfriends, 0);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_TEST(tokens_verify_expire_and_rotate)
{
    env_t e;
    env_open(&e, 1);
    int64_t in;
    char *t1 = hg_ptokens_mint(e.tok, "11111111-2222-8333-8444-555555555555", "sid-x", &in);
    ASSERT_EQ_INT(in, TTL_MS / 1000);
    char id[HG_PLAYER_ID_LEN + 1], sid[HG_PLAYER_SID_LEN + 1];
    hg_error_t err;
    ASSERT_OK(hg_ptokens_verify(e.tok, t1, id, sizeof(id), sid, sizeof(sid), &err));
    ASSERT_STR_EQ(id, "11111111-2222-8333-8444-555555555555");
    ASSERT_STR_EQ(sid, "sid-x");
    /* one bit flipped anywhere: refused */
    char *bad = hg_strdup(t1);
    bad[strlen(bad) - 3] ^= 1;
    ASSERT_EQ_INT(hg_ptokens_verify(e.tok, bad, id, sizeof(id), sid, sizeof(sid), &err),
                  HG_EUNAUTHORIZED);
    hg_free(bad);
    /* expiry on the injected clock */
    hg_clock_advance(&e.clock, TTL_MS - 1000);
    ASSERT_OK(hg_ptokens_verify(e.tok, t1, id, sizeof(id), sid, sizeof(sid), &err));
    hg_clock_advance(&e.clock, 1000);
    ASSERT_EQ_INT(hg_ptokens_verify(e.tok, t1, id, sizeof(id), sid, sizeof(sid), &err),
                  HG_EUNAUTHORIZED);
    ASSERT_TRUE(strstr(err.msg, "expired") != NULL);
    /* issued in the future (a clock gone back) */
    char *t2 = hg_ptokens_mint(e.tok, "p", "s", &in);
    hg_clock_advance(&e.clock, -(HG_PTOKEN_SKEW_S + 1) * 1000LL);
    ASSERT_EQ_INT(hg_ptokens_verify(e.tok, t2, id, sizeof(id), sid, sizeof(sid), &err),
                  HG_EUNAUTHORIZED);
    hg_clock_advance(&e.clock, (HG_PTOKEN_SKEW_S + 1) * 1000LL);
    /* an alg "none" token (no signature) with a known kid is refused */
    jwt_t *j;
    ASSERT_OK(jwt_decode(&j, t2, NULL, 0));
    ASSERT_OK(jwt_set_alg(j, JWT_ALG_NONE, NULL, 0));
    char *none = jwt_encode_str(j);
    jwt_free(j);
    ASSERT_EQ_INT(hg_ptokens_verify(e.tok, none, id, sizeof(id), sid, sizeof(sid), &err),
                  HG_EUNAUTHORIZED);
    free(none);
    /* rotation: old tokens verify until their key is dropped (HG_PTOKEN_KEYS_MAX kept) */
    for (int i = 0; i < HG_PTOKEN_KEYS_MAX - 1; i++) {
        hg_store_txn_t *t = hg_store_txn_new(e.store);
        hg_ptokens_rotate(e.tok, t);
        hg_test_commit(&e.loop, t);
        ASSERT_OK(hg_ptokens_verify(e.tok, t2, id, sizeof(id), sid, sizeof(sid), &err));
    }
    hg_store_txn_t *t = hg_store_txn_new(e.store);
    hg_ptokens_rotate(e.tok, t);
    hg_test_commit(&e.loop, t);
    ASSERT_EQ_INT(hg_ptokens_verify(e.tok, t2, id, sizeof(id), sid, sizeof(sid), &err),
                  HG_EUNAUTHORIZED);
    char *t3 = hg_ptokens_mint(e.tok, "p", "s", &in);
    env_close(&e);
    env_open(&e, 0); /* the keys are durable */
    ASSERT_OK(hg_ptokens_verify(e.tok, t3, id, sizeof(id), sid, sizeof(sid), &err));
    json_t *keys = hg_ptokens_list(e.tok);
    ASSERT_EQ_INT(json_array_size(keys), HG_PTOKEN_KEYS_MAX);
    json_decref(keys);
    hg_free(t1);
    hg_free(t2);
    hg_free(t3);
    env_close(&e);
    hg_test_rmtree(e.dir);
}

/* What the module answers about a player, as text: its JSON, friends and sessions. */
static char *player_text(const hg_player_t *p)
{
    json_t *o = hg_player_json(p), *fr = json_array(), *ss = json_array();
    for (size_t i = 0; i < p->nfriends; i++)
        json_array_append_new(fr, json_string(p->friends[i]));
    for (size_t i = 0; i < p->nsessions; i++)
        json_array_append_new(ss, json_pack("{s:s,s:I}", "sid", p->sessions[i].sid, "expires",
                                            (json_int_t)p->sessions[i].expires_ms));
    json_object_set_new(o, "friends", fr);
    json_object_set_new(o, "sessions", ss);
    char *t = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return t;
}

#define NPL 24

HG_TEST(a_partition_is_dropped_and_loaded_alone)
{
    env_t e;
    env_open(&e, 1);
    char ids[NPL][HG_PLAYER_ID_LEN + 1], *before[NPL];
    int part[NPL];
    for (int i = 0; i < NPL; i++) {
        char ext[32], name[16];
        snprintf(ext, sizeof(ext), "device-%04d", i);
        snprintf(name, sizeof(name), "p%d", i);
        hg_player_login_t l = login(&e, HG_PLAYER_DEVICE, ext, name);
        memcpy(ids[i], l.player->id, sizeof(ids[i]));
        part[i] = HG_PARTITION_P0 + (int)l.player->part;
        char coll[24];
        snprintf(coll, sizeof(coll), "players/%02u", l.player->part);
        ASSERT_EQ_INT(hg_partition_of(coll, ids[i]), part[i]); /* the store's map agrees */
    }
    /* friends across partitions, and metadata */
    hg_error_t err;
    for (int i = 0; i < NPL; i++) {
        hg_store_txn_t *t = hg_store_txn_new(e.store);
        hg_player_t *p = hg_player_find(e.pl, ids[i]);
        ASSERT_OK(hg_player_add_friend(e.pl, p, ids[(i + 1) % NPL], t, &err));
        json_t *md = json_pack("{s:i}", "level", i);
        ASSERT_OK(hg_player_update(e.pl, p, NULL, md, t, &err));
        json_decref(md);
        hg_test_commit(&e.loop, t);
        before[i] = player_text(p);
    }
    int p = part[0], in_p = 0;
    for (int i = 0; i < NPL; i++)
        in_p += part[i] == p;
    ASSERT_TRUE(in_p < NPL); /* others to stay */

    ASSERT_OK(hg_players_drop_partition(e.pl, p));
    ASSERT_EQ_INT(hg_players_count(e.pl), NPL - in_p);
    for (int i = 0; i < NPL; i++) {
        hg_player_t *q = hg_player_find(e.pl, ids[i]);
        if (part[i] == p) {
            ASSERT_NULL(q);
            continue;
        }
        ASSERT_NOT_NULL(q);
        char *t = player_text(q);
        ASSERT_STR_EQ(t, before[i]);
        free(t);
    }
    ASSERT_EQ_INT(hg_players_drop_partition(e.pl, HG_PARTITION_FQ0), HG_EINVAL);

    ASSERT_OK(hg_players_load_partition(e.pl, p, &err));
    ASSERT_EQ_INT(hg_players_count(e.pl), NPL);
    for (int i = 0; i < NPL; i++) {
        hg_player_t *q = hg_player_find(e.pl, ids[i]);
        ASSERT_NOT_NULL(q);
        char *t = player_text(q);
        ASSERT_STR_EQ(t, before[i]);
        free(t);
        free(before[i]);
    }
    env_close(&e);
    hg_test_rmtree(e.dir);
}

HG_SUITE(players) = {HG_CASE(ids_are_derived_and_stable_across_a_reload),
                     HG_CASE(sessions_expire_rotate_and_end_on_reuse),
                     HG_CASE(bad_logins_change_nothing),
                     HG_CASE(friends_are_known_players_once_each),
                     HG_CASE(tokens_verify_expire_and_rotate),
                     HG_CASE(a_partition_is_dropped_and_loaded_alone),
                     HG_CASE_END};
