/* hangar — wallets, the item catalog, purchases and credits (seed 002: "a purchase of a paid item
 * must never fail", and never charge twice).
 *
 * State and where it lives (DESIGN.md §5: a player's wallet is in the player's partition):
 *   wallet.catalog         <sku>                     → an item (hot: loaded at start)
 *   wallet/<nn>            <player>                  → balances, inventory, next ledger number
 *                                                      (hot: loaded at start)
 *   wallet.pk/<nn>         <player>/<key>            → a purchase's idempotency key: its body and
 *                                                      purchase id (history, kept for ever)
 *   wallet.rcpt            <receipt id>              → a credit and its answer (history, for ever)
 *   wallet.purchase        <purchase id>             → a purchase as it was answered (history)
 *   wallet.pp/<nn>         <player>/<purchase id>    → the player's purchases, by time (history)
 *   wallet.ledger/<nn>     <player>/<seq, 16 digits> → a ledger entry (history)
 * nn is hg_player_partition(player) (00..63). History is not loaded at start: it is read off the
 * loop thread (hg_store_scan / hg_store_get).
 *
 * Idempotency: a purchase's key and a credit's receipt are remembered for ever. The purchases and
 * receipts of this run stay in memory until they are durable and RECENT (60 s) old, or the
 * HG_WALLET_RECENT_* caps are passed; any other key or receipt is looked up in the store (one
 * read on the reader lane) before it is applied, and looked up again in memory when that read
 * returns, so two requests racing with one key apply it once.
 *
 * Every change of a balance is a ledger entry {seq, currency, amount (+ credit, - debit),
 * balance (after), kind ("credit" | "purchase"), ref (receipt or purchase id), time}, written in
 * the transaction that changes the balance; so for every player and currency the ledger's
 * amounts sum to the balance (hangard check verifies it).
 *
 * A purchase is one transaction: balances checked and debited, items granted, the purchase, its
 * ledger entries, its idempotency record and its payment.purchase event (logs.h). A credit: the
 * balance, its ledger entry, the receipt and its payment.credit event. Both are decided on the
 * loop thread against memory (no two can interleave) and answered once durable.
 *
 * Threading: loop thread only.
 */
#ifndef HG_WALLET_WALLET_H
#define HG_WALLET_WALLET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "logs/logs.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_WALLET_SKU_MAX 64              /* sku: 1..64 of [A-Za-z0-9_.:-] */
#define HG_WALLET_CURRENCY_MAX 32         /* currency: 1..32 of [a-z0-9_] */
#define HG_WALLET_PRICES_MAX 8            /* currencies in one price */
#define HG_WALLET_ITEMS_MAX 100000        /* catalog items */
#define HG_WALLET_METADATA_MAX 4096       /* item metadata: JSON object, bytes compact */
#define HG_WALLET_CURRENCIES_MAX 32       /* currencies one wallet holds */
#define HG_WALLET_INVENTORY_MAX 10000     /* distinct skus one wallet holds */
#define HG_WALLET_QUANTITY_MAX 10000      /* quantity of one purchase */
#define HG_WALLET_RECEIPT_MAX 256         /* receipt_id: 1..256 printable ASCII */
#define HG_WALLET_REASON_MAX 256          /* a credit's reason */
#define HG_WALLET_IDEM_KEY_MAX 128        /* idempotency_key: 1..128 printable ASCII */
#define HG_WALLET_RECENT_PURCHASES 100000 /* purchases of this run kept in memory, at most */
#define HG_WALLET_RECENT_RECEIPTS 100000  /* receipts of this run kept in memory, at most */
#define HG_WALLET_PAGE_MAX 1000           /* purchases or ledger entries per page */
#define HG_WALLET_ID_LEN 36               /* purchase ids: UUID v7 text (time-ordered) */
/* The idempotency key filter (core/bloom.h), per player partition: a first stage of 4,096 keys,
 * at most 4 MiB (~1 million keys, ~2.4 bytes each) per partition, 256 MiB for all 64 (~67
 * million keys); a full one sends every new key to the store's lookup, as an unready one does. */
#define HG_WALLET_KEY_FILTER_FIRST 4096
#define HG_WALLET_KEY_FILTER_MAX (4u << 20)

typedef struct hg_wallets hg_wallets_t;

hg_wallets_t *hg_wallets_new(hg_store_t *store, hg_clock_t *clock, hg_logs_t *logs);
void hg_wallets_free(hg_wallets_t *w);
/* Start-up: the catalog and every wallet partition; then the stored idempotency keys are read
 * into their filters in the background (the store's reader lane), a partition at a time. */
int hg_wallets_load(hg_wallets_t *w, hg_error_t *err);
/* The idempotency key filters: partitions ready (0..64), their bytes, and the store lookups they
 * saved (also on /metrics: hangar_wallet_key_filter_*). */
typedef struct hg_wallet_filter_stats {
    unsigned ready;
    unsigned reading; /* reads of stored keys in progress */
    size_t bytes;
    uint64_t skipped;
} hg_wallet_filter_stats_t;
void hg_wallets_filter_stats(const hg_wallets_t *w, hg_wallet_filter_stats_t *out);
/* Partitions (docs/cluster.md "Next", step 3): part is an index of store/partition.h, one of
 * p00..p63 (a player's wallet is in its player's partition); another is HG_EINVAL. Nothing
 * calls them in the daemon yet: the assignment of partitions to nodes will (a later step).
 * load_partition: read that partition's wallets ("wallet/<nn>"), as hg_wallets_load() does for
 * every partition (which is this for each, after the catalog). Synchronous (hg_store_load): an
 * asynchronous load on the store's reader lane is a later step. Wallets are history
 * (store/partition.h): the load reads them as the backend holds them, so on a backend with a
 * journal (the embedded store) it misses what was written since the last fold; a scan of a
 * history collection waits for a fold (store.h), as the asynchronous load will. PostgreSQL, the
 * store partitions move on, has no journal.
 * drop_partition: forget the partition's wallets, its idempotency key filter, and this run's
 * purchases and receipts of its players (a later one is looked up in the store again, as after
 * a restart; load_partition reads the partition's keys into a new filter); nothing is
 * written to the store, the catalog and the other partitions are untouched. A purchase or
 * credit still waiting for its store read when its partition is dropped would recreate the
 * wallet when it completes: the caller drops a partition only once no request for it is in
 * progress (routing, a later step). Threading: loop thread only. */
int hg_wallets_load_partition(hg_wallets_t *w, int part, hg_error_t *err);
int hg_wallets_drop_partition(hg_wallets_t *w, int part);
/* Forget durable purchases and receipts of this run past RECENT or the caps (budget of them). */
void hg_wallets_tick(hg_wallets_t *w, size_t budget);

/* ---- catalog ---- */
/* PUT an item (create or replace): body {"price": {cur: int64 > 0, …} (1..8, may be {} for a
 * free item), "stackable": bool, "max_per_player"?: int ≥ 1, "metadata"?: object}. *created 1 when
 * new. *out: the item as JSON (new reference). */
int hg_wallet_item_put(hg_wallets_t *w, const char *sku, json_t *body, hg_store_txn_t *txn,
                       json_t **out, int *created, hg_error_t *err);
int hg_wallet_item_get(hg_wallets_t *w, const char *sku, json_t **out, hg_error_t *err);
/* Items after `after` (sku order), at most limit; *next set (borrowed) when more. */
json_t *hg_wallet_items(hg_wallets_t *w, const char *after, size_t limit);
int hg_wallet_item_delete(hg_wallets_t *w, const char *sku, hg_store_txn_t *txn, hg_error_t *err);

/* ---- wallets ---- */
/* {"player_id", "balances": {cur: n}, "inventory": [{"sku","quantity","acquired"}]} of a player
 * (empty when it never had anything). */
void hg_wallet_write(hg_wallets_t *w, const char *player_id, hg_buf_t *out);

/* A credit after the studio's server verified a store receipt. On success *out is the answer
 * (JSON text) and *replayed 1 when the receipt had been credited with the same player, currency
 * and amount before (nothing credited again). The same receipt with another player, currency or
 * amount: HG_ECONFLICT. A receipt not in memory is looked up in the store first, so the call
 * is asynchronous: done(ud, rc) runs on the loop thread with the answer in *out and txn filled
 * (commit it, even on error: it orders the answer after what it rests on). */
typedef struct hg_wallet_credit {
    const char *player_id, *currency, *receipt_id, *reason; /* reason may be NULL */
    int64_t amount;
} hg_wallet_credit_t;
typedef void (*hg_wallet_done_cb)(void *ud, int rc);
void hg_wallet_credit(hg_wallets_t *w, const hg_wallet_credit_t *cr, hg_store_txn_t *txn,
                      hg_buf_t *out, int *replayed, hg_error_t *err, hg_wallet_done_cb done,
                      void *ud);

/* A purchase of quantity × sku for player_id, idempotent by key (required). *out: the answer;
 * *replayed 1 when the key was used with the same body (the first answer). Errors: HG_ENOTFOUND
 * (sku), HG_EINVAL (quantity, key), HG_EFUNDS (insufficient funds), HG_ELIMIT (max_per_player,
 * a non-stackable item owned already, wallet limits), HG_ECONFLICT (the key with another
 * body). Nothing changes on error. Asynchronous as hg_wallet_credit() (a key not in memory is
 * looked up in the store): done(ud, rc) on the loop thread; commit txn then, also on error. */
void hg_wallet_purchase(hg_wallets_t *w, const char *player_id, const char *sku, int64_t quantity,
                        const char *idem_key, hg_store_txn_t *txn, hg_buf_t *out, int *replayed,
                        hg_error_t *err, hg_wallet_done_cb done, void *ud);

/* Collections of the history records of a player (for pages read with hg_store_scan). */
void hg_wallet_ledger_coll(const char *player_id, char *out, size_t cap);
void hg_wallet_purchases_coll(const char *player_id, char *out, size_t cap);
#define HG_WALLET_PURCHASE_COLL "wallet.purchase"

#endif
