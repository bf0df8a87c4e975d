/* hangar — the partition map: which partition every record belongs to (DESIGN.md §5,
 * docs/cluster.md "Partitions").
 *
 * The set is fixed, so the lease table stays small and a node renews all it holds in one
 * statement:
 *
 *     index     name          what
 *     0         control       the GameLift control plane (fleets, computes, processes, game and
 *                             player sessions, aliases, queues, placements, FlexMatch), the
 *                             registry and its event stream's meta, API keys, the player-token
 *                             signing keys, the players' id secret, the catalog, scripts, the
 *                             event log's meta
 *     1..64     p00..p63      players: profiles, friends, wallets, ledgers, purchases and their
 *                             idempotency keys — the <nn> their collections already carry
 *                             (hg_player_partition(), players/players.h)
 *     65..80    fq00..fq15    FleetIQ game server groups and their servers, by the group's name
 *     81..96    lb00..lb15    leaderboards (the board, its periods' entries, its idempotency
 *                             keys), by the board id
 *     97..112   rm00..rm15    rooms, by the room id
 *
 * Groups, boards and rooms hash into 16 partitions each (hg_hash_bytes, the same FNV-1a on every
 * node) rather than one lease per name: rooms live minutes, and a lease per room would be
 * thousands of rows.
 *
 * hg_partition_of() is the one place that maps a (collection, key) to its partition: a table of
 * every collection the modules write (partition.c), each with its rule. A collection the table
 * does not know is HG_PARTITION_UNKNOWN: the PostgreSQL backend aborts on it in debug builds
 * (tests that write one fail) and fences `control` in release builds. Two kinds of op have no
 * partition of their own:
 *   - the event log's (HG_STORE_EVENT_ADD/DEL, collection "events"): HG_PARTITION_NONE;
 *   - records with a global key written only with their player's records, in the same
 *     transaction (a purchase by its id, a credit's receipt): HG_PARTITION_WITH — the
 *     transaction's player partition covers them.
 *
 * Cost: a few string compares and, for hashed partitions, one FNV-1a over the name; no
 * allocation. Only the PostgreSQL backend calls it (the embedded store has no leases).
 * Threading: pure functions, any thread.
 */
#ifndef HG_STORE_PARTITION_H
#define HG_STORE_PARTITION_H

#include <stddef.h>

#define HG_PARTITION_CONTROL 0
#define HG_PARTITION_PLAYERS 64 /* p00..p63: HG_PLAYER_PARTITIONS (players/players.h) */
#define HG_PARTITION_HASHED 16  /* fq, lb, rm: 16 each */
#define HG_PARTITION_P0 1
#define HG_PARTITION_FQ0 (HG_PARTITION_P0 + HG_PARTITION_PLAYERS)
#define HG_PARTITION_LB0 (HG_PARTITION_FQ0 + HG_PARTITION_HASHED)
#define HG_PARTITION_RM0 (HG_PARTITION_LB0 + HG_PARTITION_HASHED)
#define HG_PARTITIONS (HG_PARTITION_RM0 + HG_PARTITION_HASHED) /* 113 */
#define HG_PARTITION_NAME_MAX 8                                /* "control" and its NUL */

#define HG_PARTITION_NONE (-1)    /* the event log: no owner */
#define HG_PARTITION_WITH (-2)    /* covered by its transaction's player partition */
#define HG_PARTITION_UNKNOWN (-3) /* a collection the map does not know: a bug */

/* The partition (0..HG_PARTITIONS-1) of the record key of collection coll, or one of the
 * negative classes above. key may be NULL for the event log's ops. Both borrowed. */
int hg_partition_of(const char *coll, const char *key);

/* The player partition (0..HG_PARTITION_PLAYERS-1, the <nn> of players/<nn>, wallet/<nn>, …) of
 * partition index part, or -1 when part is not one of p00..p63. */
static inline int hg_partition_player(int part)
{
    int nn = part - HG_PARTITION_P0;
    return nn >= 0 && nn < HG_PARTITION_PLAYERS ? nn : -1;
}

/* 1 when part is one of the HG_PARTITION_HASHED partitions starting at first
 * (HG_PARTITION_FQ0, _LB0 or _RM0), else 0. */
static inline int hg_partition_hashed_in(int part, int first)
{
    return part >= first && part < first + HG_PARTITION_HASHED;
}

/* History: records written on a hot path and mostly read back as history (a wallet, its
 * ledger, purchases, receipts and idempotency keys). The embedded store keeps them in
 * history.db, written through a journal in hangar.db and folded in in bulk (store/sqlite.c);
 * the store keeps their unfolded writes in memory (store.c). 1 for such a collection. (The
 * event log is not: it is appended in place, mostly in order already, and a fold would only
 * add work: bench/README.md.) */
int hg_store_is_history(const char *coll);
/* 0: not history; 1: history read only by scans and loads; 2: history also read by key
 * (hg_store_get: a purchase, a receipt, an idempotency key). The store keeps the unfolded writes
 * of kind 2 in memory to answer gets at once; a get of kind 1 waits for the fold, as a scan does
 * (a purchase's wallet, ledger entry and page entry are half its bytes: bench/README.md). */
int hg_store_history_kind(const char *coll);
/* The history collections as the table names them (name, family: 1 for "<name>/<…>");
 * returns how many there are (fills at most cap). */
size_t hg_store_history_families(const char **names, int *family, size_t cap);

/* Write part's name ("control", "p07", "fq15", …) into out; returns its length (0 and "" for an
 * index out of range). */
size_t hg_partition_name(int part, char out[HG_PARTITION_NAME_MAX]);

/* The index of a partition's name, or -1. */
int hg_partition_by_name(const char *name);

#endif
