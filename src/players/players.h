/* hangar — players: who plays, their names and metadata, their friends, their login sessions.
 *
 * A player is created on its first login: from a device id (a game client on its own) or from a
 * custom id (a trusted server vouching for its user). The player id is derived from that id —
 * HMAC-SHA256 under a secret kept in the store, formatted as a UUID (version 8) — so the same
 * device always finds the same player, a login needs no index beyond the players themselves,
 * and the ids say nothing about the devices. (Linking several ids to one player would need an
 * index; it is not offered yet.)
 *
 * Partitions (DESIGN.md §5): players fall into HG_PLAYER_PARTITIONS by a hash of their id, and
 * every record is kept in its partition's collections ("players/<nn>", "friends/<nn>"), so that
 * in cluster mode a node that owns a partition loads exactly its rows. Embedded, one node owns
 * them all.
 *
 * Sessions: each login opens a session (a random id, the hash of a refresh secret, an expiry),
 * kept with the player, at most HG_PLAYER_SESSIONS_MAX (the oldest goes). Access tokens
 * (auth/ptoken.h) name their session, so ending a session (logout, refresh-token reuse)
 * revokes its access tokens at once, not when they expire. A refresh rotates the session's
 * secret: the previous refresh token stops working; presenting it again ends the session (a
 * stolen token was used — OAuth 2.0 refresh rotation's reuse detection).
 *
 * Durability: every change is recorded in the caller's store transaction and acknowledged once
 * it commits; the module changes memory first, as every domain module does (a failed commit
 * fences the store: store.h). Threading: loop thread only. Time: the injected clock.
 */
#ifndef HG_PLAYERS_PLAYERS_H
#define HG_PLAYERS_PLAYERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_PLAYER_PARTITIONS 64
#define HG_PLAYER_ID_LEN 36         /* UUID text */
#define HG_PLAYERS_MAX 10000000     /* players in all */
#define HG_PLAYER_NAME_MAX 64       /* display name: 1..64 characters */
#define HG_PLAYER_METADATA_MAX 4096 /* metadata: a JSON object of at most 4 KiB (compact) */
#define HG_PLAYER_FRIENDS_MAX 1000  /* friends per player */
#define HG_PLAYER_SESSIONS_MAX 16   /* live sessions (logins) per player; the oldest goes */
#define HG_PLAYER_EXT_ID_MIN 6      /* device_id / custom_id: 6..128 printable ASCII */
#define HG_PLAYER_EXT_ID_MAX 128
#define HG_PLAYER_SID_LEN 22        /* session id: 16 random bytes, base64url */
#define HG_PLAYER_REFRESH_SECRET 43 /* refresh secret: 32 random bytes, base64url */

typedef struct hg_players hg_players_t;

typedef struct hg_player_session {
    char sid[HG_PLAYER_SID_LEN + 1];
    uint8_t refresh_hash[32]; /* SHA-256 of the current refresh secret */
    int64_t created_ms, expires_ms;
} hg_player_session_t;

/* Read-only outside src/players/. */
typedef struct hg_player {
    char id[HG_PLAYER_ID_LEN + 1];
    unsigned part;      /* partition */
    char *display_name; /* NULL: none set */
    json_t *metadata;   /* an object, owned; NULL: {} */
    char *origin;       /* "device:<id>" or "custom:<id>" it was created from */
    int64_t created_ms, updated_ms;
    char (*friends)[HG_PLAYER_ID_LEN + 1];
    size_t nfriends;
    hg_player_session_t sessions[HG_PLAYER_SESSIONS_MAX]; /* oldest first */
    size_t nsessions;
} hg_player_t;

typedef enum { HG_PLAYER_DEVICE = 1, HG_PLAYER_CUSTOM = 2 } hg_player_origin_t;

/* A login's result: the player, its session id and refresh token (text, borrowed until the next
 * call). */
typedef struct hg_player_login {
    hg_player_t *player;
    int created;
    char sid[HG_PLAYER_SID_LEN + 1];
    char refresh_token[160];
} hg_player_login_t;

hg_players_t *hg_players_new(hg_store_t *store, hg_clock_t *clock, int64_t refresh_ttl_ms);
void hg_players_free(hg_players_t *pl);
/* Start-up: the id secret (created and stored now on first start) and every partition. */
int hg_players_load(hg_players_t *pl, hg_error_t *err);

/* Partitions (docs/cluster.md "Next", step 3): part is an index of store/partition.h, one of
 * p00..p63 (HG_PARTITION_P0 + hg_player_partition()); another is HG_EINVAL. Nothing calls
 * them in the daemon yet: the assignment of partitions to nodes will (a later step).
 * load_partition: read that partition's players and friends from the store, as
 * hg_players_load() does for all of them (which is this for every partition); players already
 * in memory are kept as they are. Synchronous (hg_store_load): an asynchronous load on the
 * store's reader lane is a later step. The id secret (control) is hg_players_load()'s.
 * drop_partition: forget every player of the partition (lookups then fail as for an unknown
 * id); nothing is written to the store, the other partitions are untouched. Borrowed
 * hg_player_t pointers of that partition are invalid after the call. Threading: loop thread
 * only. */
int hg_players_load_partition(hg_players_t *pl, int part, hg_error_t *err);
int hg_players_drop_partition(hg_players_t *pl, int part);

/* Partition of a player id (any text: the hash of it). */
unsigned hg_player_partition(const char *player_id);
/* Borrowed; NULL when unknown. */
hg_player_t *hg_player_find(const hg_players_t *pl, const char *id);
size_t hg_players_count(const hg_players_t *pl);

/* Log in with a device or custom id (HG_PLAYER_EXT_ID_MIN..MAX printable ASCII): find or create
 * its player (display_name, when given, names a new player), open a session. HG_EINVAL (bad
 * id or name), HG_ELIMIT (HG_PLAYERS_MAX). */
int hg_player_login(hg_players_t *pl, hg_player_origin_t origin, const char *ext_id,
                    const char *display_name, hg_store_txn_t *txn, hg_player_login_t *out,
                    hg_error_t *err);
/* Open a session for an existing player (a server vouching for a player id). HG_ENOTFOUND. */
int hg_player_login_id(hg_players_t *pl, const char *player_id, hg_store_txn_t *txn,
                       hg_player_login_t *out, hg_error_t *err);
/* Rotate a session's refresh secret: refresh_token is "rt1.<player>.<sid>.<secret>". On the
 * current secret: a new one (out->refresh_token). On a previous one: the session ends
 * (HG_EUNAUTHORIZED, reuse). Unknown or expired: HG_EUNAUTHORIZED. */
int hg_player_refresh(hg_players_t *pl, const char *refresh_token, hg_store_txn_t *txn,
                      hg_player_login_t *out, hg_error_t *err);
/* The session, when live (for access-token checks); NULL otherwise. */
const hg_player_session_t *hg_player_session(const hg_player_t *p, const char *sid, int64_t now_ms);
/* End a session (logout). 0 also when it had ended already. */
int hg_player_logout(hg_players_t *pl, hg_player_t *p, const char *sid, hg_store_txn_t *txn);

/* Change the display name (NULL: keep; 1..HG_PLAYER_NAME_MAX characters of valid UTF-8, no
 * control characters) and/or the metadata (NULL: keep; a JSON object of at most
 * HG_PLAYER_METADATA_MAX bytes compact; borrowed). */
int hg_player_update(hg_players_t *pl, hg_player_t *p, const char *display_name, json_t *metadata,
                     hg_store_txn_t *txn, hg_error_t *err);
/* Replace the friend list (ids, known players, not p itself, at most HG_PLAYER_FRIENDS_MAX,
 * duplicates folded). */
int hg_player_set_friends(hg_players_t *pl, hg_player_t *p, const char *const *ids, size_t n,
                          hg_store_txn_t *txn, hg_error_t *err);
int hg_player_add_friend(hg_players_t *pl, hg_player_t *p, const char *id, hg_store_txn_t *txn,
                         hg_error_t *err);
/* 0 also when id was not a friend. */
int hg_player_remove_friend(hg_players_t *pl, hg_player_t *p, const char *id, hg_store_txn_t *txn);

/* Render for the API: {"player_id","display_name","metadata","created","updated"}; a new
 * reference. */
json_t *hg_player_json(const hg_player_t *p);

#endif
