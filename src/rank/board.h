/* hangar — leaderboards: boards, submits, ranks, periods (seed 002: rankings in real time).
 *
 * A board is a partition of its own (DESIGN.md §5): its configuration, its entries and its
 * idempotency keys are records keyed by the board. In memory each period of a board is one
 * rank set (rankset.h): O(log n) submit and rank, O(log n + k) ranges.
 *
 * Order and ties: "desc" ranks the highest score first, "asc" the lowest. Equal scores: the
 * better subscore first (higher on desc, lower on asc), then whoever reached their current score
 * first, then the player id. Rank 1 is the best.
 *
 * Operators (what a submit keeps): "best" — the entry changes only when (score, subscore) is
 * strictly better in the board's order; "set" — the last submit; "incr"/"decr" — add/subtract the
 * submitted score and subscore to the entry's (starting from 0); a result outside int64 is
 * refused. When the entry changes, its metadata is replaced by the submit's (when given) and its
 * `updated` time is now; a "best" submit that is no improvement changes nothing and answers the
 * entry as it is.
 *
 * Periods: a board with a reset schedule ("daily", "weekly" — Mondays —, "monthly", or a 5-field
 * cron expression: minute hour day-of-month month day-of-week, each `*`, a number, a range a-b,
 * a list, or a step: `*` or a range followed by `/n`) starts empty at each boundary, computed in
 * the board's IANA time zone (default UTC) with the injected clock. The previous period stays
 * readable
 * (`period=previous`); older ones are deleted in the background (HG_LB_PURGE_BUDGET records a
 * tick). Entries are stored per period (collection "lb.e/<board>/<period start ms>"), so a
 * reset writes nothing but the board's record.
 *
 * Idempotency: a submit with an idempotency key is answered, when repeated by the same player
 * with the same key within HG_LB_IDEM_TTL_MS, with the first answer (even after later submits)
 * and changes nothing; at most HG_LB_IDEM_MAX keys per board are kept (the oldest go).
 *
 * Durability: every change goes into the caller's store transaction (acknowledged once it
 * commits); boards are rebuilt from the store at start. Threading: loop thread only.
 */
#ifndef HG_RANK_BOARD_H
#define HG_RANK_BOARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "rank/rankset.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_LB_MAX_BOARDS 10000
#define HG_LB_ID_MAX 64                    /* board id: 1..64 of [A-Za-z0-9_.-] */
#define HG_LB_ENTRIES_DEFAULT 10000000     /* max_entries when not given (= HG_RANKSET_MAX) */
#define HG_LB_METADATA_DEFAULT 1024        /* metadata_max when not given, bytes */
#define HG_LB_METADATA_MAX 16384           /* metadata_max at most */
#define HG_LB_IDEM_KEY_MAX 128             /* idempotency key: 1..128 printable ASCII */
#define HG_LB_IDEM_MAX 100000              /* idempotency keys kept per board */
#define HG_LB_IDEM_TTL_MS (24LL * 3600000) /* … for a day */
#define HG_LB_PAGE_MAX 1000                /* entries per page, ranks per call */
#define HG_LB_AROUND_MAX 100               /* around=N, at most */
#define HG_LB_PURGE_BUDGET 5000            /* old-period records deleted per tick */

typedef enum { HG_LB_BEST = 1, HG_LB_SET, HG_LB_INCR, HG_LB_DECR } hg_lb_op_t;

typedef struct hg_lbs hg_lbs_t;
typedef struct hg_lb hg_lb_t;

/* A board's configuration, as created. */
typedef struct hg_lb_config {
    const char *id;
    hg_rankset_order_t order;
    hg_lb_op_t op;
    const char *reset;     /* NULL: never; "daily" | "weekly" | "monthly" | a cron expression */
    const char *time_zone; /* NULL: UTC */
    size_t max_entries;    /* 0: HG_LB_ENTRIES_DEFAULT */
    size_t metadata_max;   /* 0: HG_LB_METADATA_DEFAULT */
} hg_lb_config_t;

/* What a submit gives. */
typedef struct hg_lb_submit {
    const char *player_id; /* UUID text */
    int64_t score, subscore;
    const char *metadata; /* compact JSON text or NULL (checked against metadata_max) */
    const char *idem_key; /* NULL: none */
} hg_lb_submit_t;

hg_lbs_t *hg_lbs_new(hg_store_t *store, hg_clock_t *clock);
void hg_lbs_free(hg_lbs_t *l);
int hg_lbs_load(hg_lbs_t *l, hg_error_t *err);
/* Partitions (docs/cluster.md "Next", step 3): part is an index of store/partition.h, one of
 * lb00..lb15 (a board's partition is hg_partition_of("lb.boards", id)); another is HG_EINVAL.
 * Nothing calls them in the daemon yet: the assignment of partitions to nodes will (a later
 * step). load_partition: read that partition's boards, their current and previous periods and
 * idempotency keys, as hg_lbs_load() does for every board (which reads lb.boards once rather
 * than once per partition); boards already in memory are kept. Synchronous (hg_store_load):
 * an asynchronous load on the store's reader lane is a later step. drop_partition: forget the
 * partition's boards (lookups then fail as for an unknown board), so their resets and key
 * expiries no longer run here, and the purges of their old periods still under way; nothing is
 * written to the store, other partitions are untouched. hg_lb_t pointers of that partition are
 * invalid after the call. Threading: loop thread only. */
int hg_lbs_load_partition(hg_lbs_t *l, int part, hg_error_t *err);
int hg_lbs_drop_partition(hg_lbs_t *l, int part);
/* How entries get their display_name (the players module, through the API layer). */
void hg_lbs_set_names(hg_lbs_t *l, const char *(*cb)(void *ud, const char *player_id), void *ud);
/* Period boundaries that passed (a reset each), and old periods' records purged a budget at a
 * time. Returns the work done. */
size_t hg_lbs_tick(hg_lbs_t *l, size_t budget);

int hg_lb_create(hg_lbs_t *l, const hg_lb_config_t *cfg, hg_store_txn_t *txn, hg_lb_t **out,
                 hg_error_t *err);
hg_lb_t *hg_lb_find(const hg_lbs_t *l, const char *id);
const char *hg_lb_id(const hg_lb_t *b);
int hg_lb_delete(hg_lbs_t *l, hg_lb_t *b, hg_store_txn_t *txn);
/* Boards in id order after `after` (NULL: from the start), at most limit; *more when others
 * follow. */
size_t hg_lb_list(const hg_lbs_t *l, const char *after, size_t limit, hg_lb_t **out, int *more);
/* {"id","order","operator","reset","time_zone","max_entries","metadata_max","created",
 *  "entries","period_start","next_reset"}: a new reference. */
json_t *hg_lb_json(const hg_lb_t *b);

/**
 * Submit a score. Appends the answer (the player's entry with its new rank, as
 * hg_lb_write_entry() writes it, plus "changed") to out, or the first answer when idem_key was
 * used before (*replayed set). HG_EINVAL (bad metadata, a result outside int64), HG_ELIMIT
 * (max_entries reached by a new player).
 */
int hg_lb_submit(hg_lbs_t *l, hg_lb_t *b, const hg_lb_submit_t *s, hg_store_txn_t *txn,
                 hg_buf_t *out, int *replayed, hg_error_t *err);

/* Reads, on the current period (previous: the one before, when there is one). */
/* Name of a player for entries (borrowed; NULL when none): the API layer's lookup. */
typedef const char *(*hg_lb_name_cb)(void *ud, const char *player_id);
typedef struct hg_lb_view {
    hg_lb_t *board;
    const hg_rankset_t *set;
    hg_lb_name_cb name; /* for hg_lb_write_entry */
    void *name_ud;
} hg_lb_view_t;
int hg_lb_view(hg_lb_t *b, int previous, hg_lb_view_t *out, hg_error_t *err);
size_t hg_lb_count(const hg_lb_view_t *v);
/* One entry: {"player_id","display_name","rank","score","subscore","metadata","updated"}. */
void hg_lb_write_entry(hg_buf_t *out, const hg_rankset_entry_t *e, size_t rank, hg_lb_name_cb name,
                       void *ud);
/* {"items": [...], "next"?, "count"}: entries from rank `from` (1-based), at most limit; "next"
 * (a cursor: the last rank given) when more follow. */
void hg_lb_write_page(hg_buf_t *o, const hg_lb_view_t *v, size_t from, size_t limit);
/* {"items": [...], "missing": [ids]}: the entries of ids (those present) in rank order, with
 * "friend_rank" (the place among them) when friends. */
void hg_lb_write_ranks(hg_buf_t *o, const hg_lb_view_t *v, const char *const *ids, size_t n,
                       int friends);

#endif
