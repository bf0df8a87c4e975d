/* hangar — wallets, catalog, purchases, credits (wallet.h).
 *
 * DESIGN: everything a purchase or a credit decides on is in memory (catalog, balances,
 * inventories, idempotency records, this run's receipts), so a decision is a handful of map
 * lookups on the loop thread and two concurrent purchases for one player are simply one after
 * the other. The decision and all its records go into one store transaction (group commit); the
 * caller answers once it commits. Records whose only use is to be read back later (purchases,
 * ledger entries, older receipts) are written and never loaded: the history reads go through
 * the store's reader lane.
 */
#include "wallet/wallet.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/bloom.h"
#include "core/jsonw.h"
#include "core/list.h"
#include "core/log.h"
#include "core/map.h"
#include "core/metrics.h"
#include "core/str.h"
#include "players/players.h"
#include "store/partition.h"

#define CATALOG_COLL "wallet.catalog"
#define RECEIPT_COLL "wallet.rcpt"
#define PARTITIONS 64
#define RECENT_MS                                                                                  \
    60000 /* a durable receipt or purchase is forgotten after this (or sooner: caps) */

/* An amount of one currency: a price's part, a balance. */
typedef struct money {
    char cur[HG_WALLET_CURRENCY_MAX + 1];
    int64_t n;
} money_t;

typedef struct item {
    char sku[HG_WALLET_SKU_MAX + 1];
    money_t price[HG_WALLET_PRICES_MAX];
    int nprice;
    int stackable;
    int64_t max_per_player; /* 0: no limit */
    char *metadata;         /* compact JSON object text or NULL */
    int64_t created_ms, updated_ms;
} item_t;

typedef struct inv {
    char sku[HG_WALLET_SKU_MAX + 1];
    int64_t q;
    int64_t acquired_ms;
} inv_t;

typedef struct wallet {
    money_t *bal;
    size_t nbal;
    inv_t *inv;
    size_t ninv;
    uint64_t seq; /* the next ledger entry's number */
    char player[];
} wallet_t;

/* What idem_t and rcpt_t start with: their place in the fifo of this run's recent ones. */
typedef struct recent {
    hg_list_t node; /* fifo by time */
    int64_t t_ms;
    int durable; /* its transaction committed: it may be forgotten */
    int dropped; /* its partition was dropped before it was durable: its commit hook frees it */
} recent_t;

/* A purchase of this run, remembered by its idempotency key while it may still be in flight
 * and for RECENT_MS after (the store has every one: wallet.pk). */
typedef struct idem {
    recent_t rec; /* first */
    char *body;   /* "sku\nquantity", after key in the same allocation */
    char *answer; /* the first answer, after body */
    char key[];   /* "<player>/<key>" */
} idem_t;

typedef struct rcpt {
    recent_t rec; /* first */
    char player[40];
    char cur[HG_WALLET_CURRENCY_MAX + 1];
    int64_t amount;
    char *answer;
    char id[];
} rcpt_t;

/* Reading every stored key into the filters, a partition at a time, a page at a time, on the
 * store's reader lane (after the load: the loop serves meanwhile; a partition's lookups go to
 * the store until its filter is ready). */
typedef struct pk_scan {
    struct hg_wallets *w; /* NULL once the wallets were freed: the next page frees this */
    hg_list_t node;       /* in w->pk_scans */
    unsigned part, last;  /* the partition being read, and the last to read */
    uint32_t gen;         /* pk_gen[part] when its read began: a drop since voids it */
    uint64_t keys;
    char after[48 + HG_WALLET_IDEM_KEY_MAX]; /* the last key read ("" before the first) */
} pk_scan_t;

struct hg_wallets {
    hg_store_t *store;
    hg_clock_t *clock;
    hg_logs_t *logs;
    hg_map_t items;   /* sku → item_t */
    hg_map_t wallets; /* player → wallet_t */
    hg_map_t idem;    /* "<player>/<key>" → idem_t (this run's latest purchases) */
    hg_list_t idem_fifo;
    hg_map_t rcpts; /* receipt id → rcpt_t (this run's, the latest HG_WALLET_RECENT_RECEIPTS) */
    hg_list_t rcpt_fifo;
    int64_t uuid_ms; /* purchase ids: the last millisecond used, and a counter within it */
    uint16_t uuid_seq;
    uint8_t rnd[512]; /* their random bits, drawn from RAND_bytes a buffer at a time */
    size_t rnd_used;
    /* Which idempotency keys were ever used, per player partition (pk_filter_*): a purchase
     * whose key the filter has certainly never seen skips the store's lookup. A partition's
     * filter answers once its keys were read (pk_ready); keys of this run go in as they are
     * bought. */
    hg_bloom_t pk[PARTITIONS];
    uint8_t pk_ready[PARTITIONS];
    uint32_t pk_gen[PARTITIONS]; /* bumped when a partition is dropped */
    hg_list_t pk_scans;          /* reads of the stored keys into pk (pk_scan_t) */
    uint64_t pk_skipped;         /* lookups the filters saved */
};

/* ---- names ---- */

static void part_coll(const char *base, const char *player, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%02u", base, hg_player_partition(player));
}

/* The idempotency keys' collection of player partition part: "wallet.pk/<nn>". */
static void pk_coll(unsigned part, char out[24])
{
    snprintf(out, 24, "wallet.pk/%02u", part);
}

void hg_wallet_ledger_coll(const char *player_id, char *out, size_t cap)
{
    part_coll("wallet.ledger", player_id, out, cap);
}

void hg_wallet_purchases_coll(const char *player_id, char *out, size_t cap)
{
    part_coll("wallet.pp", player_id, out, cap);
}

static int valid_sku(const char *s)
{
    return s && hg_str_name(s, strlen(s), HG_WALLET_SKU_MAX, ".:-");
}

/* [a-z0-9_], lower case only: currency codes */
static int valid_currency(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= HG_WALLET_CURRENCY_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* A UUID v7: 48 bits of milliseconds, then a 12-bit counter within the millisecond, then
 * random bits; increasing within this process even when the clock stands still. */
static void new_purchase_id(hg_wallets_t *w, int64_t now, char out[HG_WALLET_ID_LEN + 1])
{
    if (now > w->uuid_ms) {
        w->uuid_ms = now;
        w->uuid_seq = 0;
    } else if (++w->uuid_seq > 0xfff) {
        w->uuid_ms++;
        w->uuid_seq = 0;
    }
    /* one RAND_bytes call per id was ~5% of a purchase on the loop */
    if (w->rnd_used + 8 > sizeof(w->rnd)) {
        HG_BUG_ON(RAND_bytes(w->rnd, sizeof(w->rnd)) != 1);
        w->rnd_used = 0;
    }
    uint8_t r[8];
    memcpy(r, w->rnd + w->rnd_used, sizeof(r));
    w->rnd_used += sizeof(r);
    uint64_t ms = (uint64_t)w->uuid_ms & 0xffffffffffffu;
    /* xxxxxxxx-xxxx-7sss-vrrr-rrrrrrrrrrrr */
    uint8_t b[16] = {(uint8_t)(ms >> 40),
                     (uint8_t)(ms >> 32),
                     (uint8_t)(ms >> 24),
                     (uint8_t)(ms >> 16),
                     (uint8_t)(ms >> 8),
                     (uint8_t)ms,
                     (uint8_t)(0x70 | ((w->uuid_seq >> 8) & 0x0f)),
                     (uint8_t)w->uuid_seq,
                     (uint8_t)(0x80 | (r[0] & 0x3f)),
                     r[1],
                     r[2],
                     r[3],
                     r[4],
                     r[5],
                     r[6],
                     r[7]};
    static const int groups[] = {4, 2, 2, 2, 6};
    char *o = out;
    const uint8_t *p = b;
    for (int g = 0; g < 5; g++) {
        if (g)
            *o++ = '-';
        hg_hex_encode(p, (size_t)groups[g], o);
        o += 2 * groups[g];
        p += groups[g];
    }
    *o = '\0';
}

/* ---- life ---- */

static void render(hg_buf_t *out, void *ud); /* /metrics */

hg_wallets_t *hg_wallets_new(hg_store_t *store, hg_clock_t *clock, hg_logs_t *logs)
{
    hg_wallets_t *w = hg_calloc(1, sizeof(*w));
    w->store = store;
    w->clock = clock;
    w->logs = logs;
    w->rnd_used = sizeof(w->rnd); /* drawn at the first id */
    for (unsigned p = 0; p < PARTITIONS; p++)
        hg_bloom_init(&w->pk[p], HG_WALLET_KEY_FILTER_FIRST, HG_WALLET_KEY_FILTER_MAX);
    hg_list_init(&w->pk_scans);
    hg_metrics_register("wallet", render, w);
    hg_map_init(&w->items);
    hg_map_init(&w->wallets);
    hg_map_init(&w->idem);
    hg_map_init(&w->rcpts);
    hg_list_init(&w->idem_fifo);
    hg_list_init(&w->rcpt_fifo);
    return w;
}

static void item_free(item_t *it)
{
    hg_free(it->metadata);
    hg_free(it);
}

static void wallet_free(wallet_t *wl)
{
    hg_free(wl->bal);
    hg_free(wl->inv);
    hg_free(wl);
}

static void idem_free(idem_t *i)
{
    hg_free(i);
}

static void rcpt_free(rcpt_t *r)
{
    hg_free(r->answer);
    hg_free(r);
}

static void idem_free_v(void *p)
{
    idem_free(p);
}

static void rcpt_free_v(void *p)
{
    rcpt_free(p);
}

void hg_wallets_free(hg_wallets_t *w)
{
    if (w == NULL)
        return;
    size_t it = 0;
    const char *k;
    void *v;
    while (hg_map_next(&w->items, &it, &k, &v))
        item_free(v);
    it = 0;
    while (hg_map_next(&w->wallets, &it, &k, &v))
        wallet_free(v);
    it = 0;
    while (hg_map_next(&w->idem, &it, &k, &v))
        idem_free(v);
    it = 0;
    while (hg_map_next(&w->rcpts, &it, &k, &v))
        rcpt_free(v);
    hg_map_free(&w->items);
    hg_map_free(&w->wallets);
    hg_map_free(&w->idem);
    hg_map_free(&w->rcpts);
    hg_metrics_unregister("wallet");
    while (!hg_list_empty(&w->pk_scans)) { /* their reads end on their own */
        pk_scan_t *sc = hg_container_of(w->pk_scans.next, pk_scan_t, node);
        hg_list_remove(&sc->node);
        sc->w = NULL;
    }
    for (unsigned p = 0; p < PARTITIONS; p++)
        hg_bloom_free(&w->pk[p]);
    hg_free(w);
}

/* ---- records ---- */

static json_t *item_json(const item_t *it)
{
    json_t *price = json_object();
    for (int i = 0; i < it->nprice; i++)
        json_object_set_new(price, it->price[i].cur, json_integer(it->price[i].n));
    json_t *md = it->metadata ? json_loads(it->metadata, 0, NULL) : NULL;
    json_t *o = json_pack(
        "{s:s,s:o,s:b,s:o,s:o,s:f,s:f}", "sku", it->sku, "price", price, "stackable", it->stackable,
        "max_per_player", it->max_per_player ? json_integer(it->max_per_player) : json_null(),
        "metadata", md ? md : json_null(), "created", (double)it->created_ms / 1000.0, "updated",
        (double)it->updated_ms / 1000.0);
    return o;
}

static void save_item(const item_t *it, hg_store_txn_t *txn)
{
    json_t *o = item_json(it);
    json_object_set_new(o, "created_ms", json_integer(it->created_ms));
    json_object_set_new(o, "updated_ms", json_integer(it->updated_ms));
    hg_store_put(txn, CATALOG_COLL, it->sku, o);
    json_decref(o);
}

static void save_wallet(const wallet_t *wl, hg_store_txn_t *txn)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"b\":{");
    for (size_t i = 0; i < wl->nbal; i++) {
        if (i)
            hg_buf_puts(&b, ",");
        hg_jsonw_key(&b, wl->bal[i].cur);
        hg_jsonw_int(&b, wl->bal[i].n);
    }
    hg_buf_puts(&b, "},\"i\":[");
    for (size_t i = 0; i < wl->ninv; i++) {
        if (i)
            hg_buf_puts(&b, ",");
        hg_buf_puts(&b, "[");
        hg_jsonw_str(&b, wl->inv[i].sku);
        hg_buf_printf(&b, ",%" PRId64 ",%" PRId64 "]", wl->inv[i].q, wl->inv[i].acquired_ms);
    }
    hg_buf_printf(&b, "],\"n\":%" PRIu64 "}", wl->seq);
    char coll[24];
    part_coll("wallet", wl->player, coll, sizeof(coll));
    hg_store_put_text(txn, coll, wl->player, hg_buf_steal(&b, NULL));
}

static wallet_t *wallet_get(hg_wallets_t *w, const char *player, int create)
{
    wallet_t *wl = hg_map_get(&w->wallets, player);
    if (wl || !create)
        return wl;
    size_t n = strlen(player) + 1;
    wl = hg_calloc(1, sizeof(*wl) + n);
    memcpy(wl->player, player, n);
    wl->seq = 1;
    hg_map_set(&w->wallets, wl->player, wl);
    return wl;
}

static money_t *bal_find(const wallet_t *wl, const char *cur)
{
    for (size_t i = 0; i < wl->nbal; i++)
        if (strcmp(wl->bal[i].cur, cur) == 0)
            return &wl->bal[i];
    return NULL;
}

static inv_t *inv_find(const wallet_t *wl, const char *sku)
{
    for (size_t i = 0; i < wl->ninv; i++)
        if (strcmp(wl->inv[i].sku, sku) == 0)
            return &wl->inv[i];
    return NULL;
}

static money_t *bal_add_slot(wallet_t *wl, const char *cur)
{
    wl->bal = hg_realloc(wl->bal, (wl->nbal + 1) * sizeof(*wl->bal));
    money_t *b = &wl->bal[wl->nbal++];
    snprintf(b->cur, sizeof(b->cur), "%s", cur);
    b->n = 0;
    return b;
}

/* A ledger entry for a change of `amount` leaving `balance`. */
static void ledger_put(wallet_t *wl, const char *cur, int64_t amount, int64_t balance,
                       const char *kind, const char *ref, int64_t now, hg_store_txn_t *txn)
{
    char coll[32], key[80];
    hg_wallet_ledger_coll(wl->player, coll, sizeof(coll));
    snprintf(key, sizeof(key), "%s/%016" PRIu64, wl->player, wl->seq);
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_printf(&b, "{\"seq\":%" PRIu64 ",\"currency\":", wl->seq);
    hg_jsonw_str(&b, cur);
    hg_buf_printf(&b, ",\"amount\":%" PRId64 ",\"balance\":%" PRId64 ",\"kind\":", amount, balance);
    hg_jsonw_str(&b, kind);
    hg_buf_puts(&b, ",\"ref\":");
    hg_jsonw_str(&b, ref);
    hg_buf_puts(&b, ",\"time\":");
    hg_jsonw_time_ms(&b, now);
    hg_buf_puts(&b, "}");
    hg_store_put_text(txn, coll, key, hg_buf_steal(&b, NULL));
    wl->seq++;
}

static void write_balances(hg_buf_t *out, const wallet_t *wl)
{
    hg_buf_puts(out, "{");
    for (size_t i = 0; wl && i < wl->nbal; i++) {
        if (i)
            hg_buf_puts(out, ",");
        hg_jsonw_key(out, wl->bal[i].cur);
        hg_jsonw_int(out, wl->bal[i].n);
    }
    hg_buf_puts(out, "}");
}

static void write_inventory(hg_buf_t *out, const wallet_t *wl)
{
    hg_buf_puts(out, "[");
    for (size_t i = 0; wl && i < wl->ninv; i++) {
        if (i)
            hg_buf_puts(out, ",");
        hg_buf_puts(out, "{\"sku\":");
        hg_jsonw_str(out, wl->inv[i].sku);
        hg_buf_printf(out, ",\"quantity\":%" PRId64 ",\"acquired\":", wl->inv[i].q);
        hg_jsonw_time_ms(out, wl->inv[i].acquired_ms);
        hg_buf_puts(out, "}");
    }
    hg_buf_puts(out, "]");
}

void hg_wallet_write(hg_wallets_t *w, const char *player_id, hg_buf_t *out)
{
    const wallet_t *wl = wallet_get(w, player_id, 0);
    hg_buf_puts(out, "{\"player_id\":");
    hg_jsonw_str(out, player_id);
    hg_buf_puts(out, ",\"balances\":");
    write_balances(out, wl);
    hg_buf_puts(out, ",\"inventory\":");
    write_inventory(out, wl);
    hg_buf_puts(out, "}");
}

/* ---- catalog ---- */

static int parse_price(json_t *p, item_t *it, hg_error_t *err)
{
    if (!json_is_object(p))
        return hg_error_set(err, HG_EINVAL, "price must be an object of currency: amount");
    if (json_object_size(p) > HG_WALLET_PRICES_MAX)
        return hg_error_set(err, HG_EINVAL, "a price has at most %d currencies",
                            HG_WALLET_PRICES_MAX);
    const char *cur;
    json_t *v;
    it->nprice = 0;
    json_object_foreach (p, cur, v) {
        if (!valid_currency(cur))
            return hg_error_set(err, HG_EINVAL, "currency codes are 1..%d of [a-z0-9_]",
                                HG_WALLET_CURRENCY_MAX);
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return hg_error_set(err, HG_EINVAL, "the price in %s must be a positive integer", cur);
        snprintf(it->price[it->nprice].cur, sizeof(it->price[0].cur), "%s", cur);
        it->price[it->nprice++].n = json_integer_value(v);
    }
    return 0;
}

int hg_wallet_item_put(hg_wallets_t *w, const char *sku, json_t *body, hg_store_txn_t *txn,
                       json_t **out, int *created, hg_error_t *err)
{
    if (!valid_sku(sku))
        return hg_error_set(err, HG_EINVAL, "a sku is 1..%d of [A-Za-z0-9_.:-]", HG_WALLET_SKU_MAX);
    json_t *st = json_object_get(body, "stackable"), *mp = json_object_get(body, "max_per_player");
    json_t *md = json_object_get(body, "metadata");
    if (!json_is_boolean(st))
        return hg_error_set(err, HG_EINVAL, "stackable (true or false) is required");
    if (mp && !json_is_null(mp) && (!json_is_integer(mp) || json_integer_value(mp) < 1))
        return hg_error_set(err, HG_EINVAL, "max_per_player must be a positive integer");
    if (md && !json_is_null(md) && !json_is_object(md))
        return hg_error_set(err, HG_EINVAL, "metadata must be a JSON object");
    item_t tmp = {0};
    int rc;
    if ((rc = parse_price(json_object_get(body, "price"), &tmp, err)) < 0)
        return rc;
    char *mtext = md && json_is_object(md) ? json_dumps(md, JSON_COMPACT) : NULL;
    if (mtext && strlen(mtext) > HG_WALLET_METADATA_MAX) {
        free(mtext);
        return hg_error_set(err, HG_EINVAL, "metadata is at most %d bytes", HG_WALLET_METADATA_MAX);
    }
    item_t *it = hg_map_get(&w->items, sku);
    *created = it == NULL;
    if (it == NULL && hg_map_count(&w->items) >= HG_WALLET_ITEMS_MAX) {
        free(mtext);
        return hg_error_set(err, HG_ELIMIT, "the catalog holds its %d items", HG_WALLET_ITEMS_MAX);
    }
    int64_t now = hg_clock_now_ms(w->clock);
    if (it == NULL) {
        it = hg_calloc(1, sizeof(*it));
        snprintf(it->sku, sizeof(it->sku), "%s", sku);
        it->created_ms = now;
        hg_map_set(&w->items, it->sku, it);
    }
    memcpy(it->price, tmp.price, sizeof(it->price));
    it->nprice = tmp.nprice;
    it->stackable = json_is_true(st);
    it->max_per_player = mp && json_is_integer(mp) ? json_integer_value(mp) : 0;
    hg_free(it->metadata);
    it->metadata = mtext ? hg_strdup(mtext) : NULL;
    free(mtext);
    it->updated_ms = now;
    save_item(it, txn);
    *out = item_json(it);
    return 0;
}

int hg_wallet_item_get(hg_wallets_t *w, const char *sku, json_t **out, hg_error_t *err)
{
    item_t *it = hg_map_get(&w->items, sku);
    if (it == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no item %.64s in the catalog", sku);
    *out = item_json(it);
    return 0;
}

static int cmp_item(const void *x, const void *y)
{
    return strcmp((*(item_t *const *)x)->sku, (*(item_t *const *)y)->sku);
}

json_t *hg_wallet_items(hg_wallets_t *w, const char *after, size_t limit)
{
    size_t n = hg_map_count(&w->items), k = 0, it = 0;
    item_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    const char *key;
    void *v;
    while (hg_map_next(&w->items, &it, &key, &v))
        if (after == NULL || strcmp(key, after) > 0)
            all[k++] = v;
    qsort(all, k, sizeof(*all), cmp_item);
    json_t *items = json_array();
    for (size_t i = 0; i < k && i < limit; i++)
        json_array_append_new(items, item_json(all[i]));
    json_t *o = json_pack("{s:o}", "items", items);
    if (k > limit)
        json_object_set_new(o, "next", json_string(all[limit - 1]->sku));
    hg_free(all);
    return o;
}

int hg_wallet_item_delete(hg_wallets_t *w, const char *sku, hg_store_txn_t *txn, hg_error_t *err)
{
    item_t *it = hg_map_get(&w->items, sku);
    if (it == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no item %.64s in the catalog", sku);
    hg_map_del(&w->items, sku);
    hg_store_del(txn, CATALOG_COLL, sku);
    item_free(it);
    return 0;
}

/* ---- credits ---- */

static void rcpt_durable(void *ud, int rc)
{
    rcpt_t *r = ud;
    if (r->rec.dropped)
        rcpt_free(r);
    else if (rc == 0)
        r->rec.durable = 1;
}

static rcpt_t *rcpt_remember(hg_wallets_t *w, const char *id, const char *player, const char *cur,
                             int64_t amount, const char *answer, int64_t t_ms)
{
    size_t n = strlen(id) + 1;
    rcpt_t *r = hg_calloc(1, sizeof(*r) + n);
    memcpy(r->id, id, n);
    snprintf(r->player, sizeof(r->player), "%s", player);
    snprintf(r->cur, sizeof(r->cur), "%s", cur);
    r->amount = amount;
    r->answer = hg_strdup(answer);
    r->rec.t_ms = t_ms;
    hg_list_insert_tail(&w->rcpt_fifo, &r->rec.node);
    hg_map_set(&w->rcpts, r->id, r);
    return r;
}

typedef struct credit_op {
    hg_wallets_t *w;
    hg_wallet_credit_t cr;
    char *strs; /* owns the texts cr points to */
    hg_store_txn_t *txn;
    hg_buf_t *out;
    int *replayed;
    hg_error_t *err;
    hg_wallet_done_cb done;
    void *ud;
} credit_op_t;

/* The receipt was credited before (same player, currency, amount: replay; else conflict). */
static int credited_before(const hg_wallet_credit_t *cr, const char *player, const char *cur,
                           int64_t amount, const char *answer, hg_buf_t *out, int *replayed,
                           hg_error_t *err)
{
    if (strcmp(player, cr->player_id) != 0 || strcmp(cur, cr->currency) != 0 ||
        amount != cr->amount)
        return hg_error_set(err, HG_ECONFLICT,
                            "receipt %.64s was credited already, with another player, currency "
                            "or amount",
                            cr->receipt_id);
    hg_buf_puts(out, answer);
    *replayed = 1;
    return 0;
}

static int credit_apply(hg_wallets_t *w, const hg_wallet_credit_t *cr, hg_store_txn_t *txn,
                        hg_buf_t *out, hg_error_t *err)
{
    wallet_t *wl = wallet_get(w, cr->player_id, 1);
    money_t *b = bal_find(wl, cr->currency);
    if (b == NULL && wl->nbal >= HG_WALLET_CURRENCIES_MAX)
        return hg_error_set(err, HG_ELIMIT, "a wallet holds at most %d currencies",
                            HG_WALLET_CURRENCIES_MAX);
    int64_t have = b ? b->n : 0;
    if (have > INT64_MAX - cr->amount)
        return hg_error_set(err, HG_ELIMIT, "the balance would leave the int64 range");
    /* attributes of the payment event, checked before anything changes */
    hg_buf_t a;
    hg_buf_init(&a);
    hg_buf_puts(&a, "{\"receipt_id\":");
    hg_jsonw_str(&a, cr->receipt_id);
    hg_buf_puts(&a, ",\"currency\":");
    hg_jsonw_str(&a, cr->currency);
    hg_buf_printf(&a, ",\"amount\":%" PRId64, cr->amount);
    if (cr->reason) {
        hg_buf_puts(&a, ",\"reason\":");
        hg_jsonw_str(&a, cr->reason);
    }
    hg_buf_puts(&a, "}");
    int64_t now = hg_clock_now_ms(w->clock);
    uint64_t ev;
    int rc = hg_logs_append(w->logs, txn, "payment.credit", cr->player_id, now, a.data, &ev, err);
    hg_buf_free(&a);
    if (rc < 0)
        return rc;
    if (b == NULL)
        b = bal_add_slot(wl, cr->currency);
    b->n = have + cr->amount;
    ledger_put(wl, cr->currency, cr->amount, b->n, "credit", cr->receipt_id, now, txn);
    save_wallet(wl, txn);
    size_t start = out->len;
    hg_buf_puts(out, "{\"receipt_id\":");
    hg_jsonw_str(out, cr->receipt_id);
    hg_buf_puts(out, ",\"player_id\":");
    hg_jsonw_str(out, cr->player_id);
    hg_buf_puts(out, ",\"currency\":");
    hg_jsonw_str(out, cr->currency);
    hg_buf_printf(out,
                  ",\"amount\":%" PRId64 ",\"balance\":%" PRId64 ",\"ledger_seq\":%" PRIu64
                  ",\"event_id\":%" PRIu64 ",\"credited\":",
                  cr->amount, b->n, wl->seq - 1, ev);
    hg_jsonw_time_ms(out, now);
    hg_buf_puts(out, "}");
    const char *answer = out->data + start;
    json_t *r =
        json_pack("{s:s,s:s,s:I,s:s,s:I}", "player_id", cr->player_id, "currency", cr->currency,
                  "amount", (json_int_t)cr->amount, "a", answer, "t", (json_int_t)now);
    if (cr->reason)
        json_object_set_new(r, "reason", json_string(cr->reason));
    hg_store_put(txn, RECEIPT_COLL, cr->receipt_id, r);
    json_decref(r);
    hg_store_txn_on_commit(
        txn, rcpt_durable,
        rcpt_remember(w, cr->receipt_id, cr->player_id, cr->currency, cr->amount, answer, now));
    return 0;
}

static void credit_found(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)more;
    credit_op_t *op = ud;
    hg_wallets_t *w = op->w;
    const hg_wallet_credit_t *cr = &op->cr;
    rcpt_t *r;
    if (rc < 0) {
        rc = hg_error_set(op->err, HG_EINTERNAL, "cannot read receipt %.64s: %s", cr->receipt_id,
                          hg_strerror(rc));
    } else if ((r = hg_map_get(&w->rcpts, cr->receipt_id)) != NULL) {
        /* credited meanwhile by a request that raced this one */
        rc = credited_before(cr, r->player, r->cur, r->amount, r->answer, op->out, op->replayed,
                             op->err);
    } else if (n == 1) {
        json_t *v = json_loads(rows[0].value, 0, NULL);
        const char *p = json_string_value(json_object_get(v, "player_id"));
        const char *c = json_string_value(json_object_get(v, "currency"));
        const char *a = json_string_value(json_object_get(v, "a"));
        if (p == NULL || c == NULL || a == NULL)
            rc = hg_error_set(op->err, HG_EINTERNAL, "receipt %.64s is unreadable", cr->receipt_id);
        else
            rc = credited_before(cr, p, c, json_integer_value(json_object_get(v, "amount")), a,
                                 op->out, op->replayed, op->err);
        json_decref(v);
    } else {
        rc = credit_apply(w, cr, op->txn, op->out, op->err);
    }
    op->done(op->ud, rc);
    hg_free(op->strs);
    hg_free(op);
}

void hg_wallet_credit(hg_wallets_t *w, const hg_wallet_credit_t *cr, hg_store_txn_t *txn,
                      hg_buf_t *out, int *replayed, hg_error_t *err, hg_wallet_done_cb done,
                      void *ud)
{
    *replayed = 0;
    int rc = 0;
    if (cr->receipt_id == NULL || !hg_str_token(cr->receipt_id, 1, HG_WALLET_RECEIPT_MAX))
        rc = hg_error_set(err, HG_EINVAL, "receipt_id must be 1..%d printable ASCII characters",
                          HG_WALLET_RECEIPT_MAX);
    else if (!valid_currency(cr->currency))
        rc = hg_error_set(err, HG_EINVAL, "currency must be 1..%d of [a-z0-9_]",
                          HG_WALLET_CURRENCY_MAX);
    else if (cr->amount < 1)
        rc = hg_error_set(err, HG_EINVAL, "amount must be a positive integer");
    else if (cr->reason && strlen(cr->reason) > HG_WALLET_REASON_MAX)
        rc = hg_error_set(err, HG_EINVAL, "reason is at most %d bytes", HG_WALLET_REASON_MAX);
    if (rc < 0) {
        done(ud, rc);
        return;
    }
    rcpt_t *r = hg_map_get(&w->rcpts, cr->receipt_id);
    if (r) {
        done(ud, credited_before(cr, r->player, r->cur, r->amount, r->answer, out, replayed, err));
        return;
    }
    /* not credited in this run: the store knows whether it was before */
    credit_op_t *op = hg_calloc(1, sizeof(*op));
    size_t lp = strlen(cr->player_id) + 1, lc = strlen(cr->currency) + 1,
           lr = strlen(cr->receipt_id) + 1, ls = cr->reason ? strlen(cr->reason) + 1 : 0;
    op->strs = hg_malloc(lp + lc + lr + ls);
    char *s = op->strs;
    op->cr = *cr;
    op->cr.player_id = memcpy(s, cr->player_id, lp), s += lp;
    op->cr.currency = memcpy(s, cr->currency, lc), s += lc;
    op->cr.receipt_id = memcpy(s, cr->receipt_id, lr), s += lr;
    op->cr.reason = cr->reason ? memcpy(s, cr->reason, ls) : NULL;
    op->w = w;
    op->txn = txn;
    op->out = out;
    op->replayed = replayed;
    op->err = err;
    op->done = done;
    op->ud = ud;
    hg_store_get(w->store, RECEIPT_COLL, op->cr.receipt_id, credit_found, op);
}

/* ---- purchases ---- */

static void idem_durable(void *ud, int rc)
{
    idem_t *i = ud;
    if (i->rec.dropped)
        idem_free(i);
    else if (rc == 0)
        i->rec.durable = 1;
}

static void idem_remember(hg_wallets_t *w, unsigned part, const char *key, const char *body,
                          const char *answer, int64_t now, hg_store_txn_t *txn)
{
    size_t kl = strlen(key) + 1, bl = strlen(body) + 1, al = strlen(answer) + 1;
    idem_t *i = hg_malloc(sizeof(*i) + kl + bl + al);
    memset(i, 0, sizeof(*i));
    memcpy(i->key, key, kl);
    i->body = memcpy(i->key + kl, body, bl);
    i->answer = memcpy(i->body + bl, answer, al);
    i->rec.t_ms = now;
    hg_list_insert_tail(&w->idem_fifo, &i->rec.node);
    hg_map_set(&w->idem, i->key, i);
    hg_store_txn_on_commit(txn, idem_durable, i);
    /* in the filter from now: a read of the stored keys running meanwhile may miss it */
    hg_bloom_add(&w->pk[part], hg_hash_bytes(i->key, kl - 1));
}

typedef struct buy_op {
    hg_wallets_t *w;
    char player[40];
    unsigned part; /* the player's partition */
    char sku[HG_WALLET_SKU_MAX + 1];
    int64_t quantity;
    char ikey[40 + HG_WALLET_IDEM_KEY_MAX + 2]; /* "<player>/<key>" */
    char body[HG_WALLET_SKU_MAX + 24];          /* "sku\nquantity" */
    hg_store_txn_t *txn;
    hg_buf_t *out;
    int *replayed;
    hg_error_t *err;
    hg_wallet_done_cb done;
    void *ud;
} buy_op_t;

static void buy_end(buy_op_t *op, int rc)
{
    op->done(op->ud, rc);
    hg_free(op);
}

static int key_reused(buy_op_t *op)
{
    return hg_error_set(op->err, HG_ECONFLICT,
                        "idempotency_key %.64s was used for another purchase (another sku or "
                        "quantity)",
                        strchr(op->ikey, '/') + 1);
}

/* The key was used before: the same body is answered with the first answer. */
static int replay(buy_op_t *op, const idem_t *i)
{
    if (strcmp(i->body, op->body) != 0)
        return key_reused(op);
    hg_buf_puts(op->out, i->answer);
    *op->replayed = 1;
    return 0;
}

/* Decide against memory and write the purchase into op->txn. */
static int buy_apply(buy_op_t *op)
{
    hg_wallets_t *w = op->w;
    const char *player_id = op->player, *sku = op->sku, *ikey = op->ikey, *body = op->body;
    const char *idem_key = strchr(ikey, '/') + 1;
    int64_t quantity = op->quantity;
    hg_store_txn_t *txn = op->txn;
    hg_buf_t *out = op->out;
    hg_error_t *err = op->err;
    int64_t now = hg_clock_now_ms(w->clock);
    item_t *it = hg_map_get(&w->items, sku);
    if (it == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no item %s in the catalog", sku);
    wallet_t *wl = wallet_get(w, player_id, 0);
    inv_t *have = wl ? inv_find(wl, sku) : NULL;
    int64_t owned = have ? have->q : 0;
    if (!it->stackable && (quantity > 1 || owned > 0))
        return hg_error_set(err, HG_ELIMIT, "%s is not stackable: a player owns at most one", sku);
    if (it->max_per_player && owned + quantity > it->max_per_player)
        return hg_error_set(err, HG_ELIMIT,
                            "a player owns at most %" PRId64 " of %s (owns %" PRId64 ")",
                            it->max_per_player, sku, owned);
    if (have == NULL && wl && wl->ninv >= HG_WALLET_INVENTORY_MAX)
        return hg_error_set(err, HG_ELIMIT, "an inventory holds at most %d items",
                            HG_WALLET_INVENTORY_MAX);
    int64_t charge[HG_WALLET_PRICES_MAX];
    for (int k = 0; k < it->nprice; k++) {
        if (it->price[k].n > INT64_MAX / quantity)
            return hg_error_set(err, HG_EINVAL, "the price of %" PRId64 " × %s leaves int64",
                                quantity, sku);
        charge[k] = it->price[k].n * quantity;
        money_t *b = wl ? bal_find(wl, it->price[k].cur) : NULL;
        if (b == NULL || b->n < charge[k])
            return hg_error_set(err, HG_EFUNDS,
                                "%" PRId64 " × %s costs %" PRId64 " %s; the balance is %" PRId64,
                                quantity, sku, charge[k], it->price[k].cur, b ? b->n : 0);
    }
    /* decided: every write below goes into txn */
    char pid[HG_WALLET_ID_LEN + 1];
    new_purchase_id(w, now, pid);
    hg_buf_t a;
    hg_buf_init(&a);
    hg_buf_puts(&a, "{\"purchase_id\":");
    hg_jsonw_str(&a, pid);
    hg_buf_puts(&a, ",\"sku\":");
    hg_jsonw_str(&a, sku);
    hg_buf_printf(&a, ",\"quantity\":%" PRId64 ",\"charged\":{", quantity);
    for (int k = 0; k < it->nprice; k++) {
        if (k)
            hg_buf_puts(&a, ",");
        hg_jsonw_key(&a, it->price[k].cur);
        hg_jsonw_int(&a, charge[k]);
    }
    hg_buf_puts(&a, "}}");
    uint64_t ev;
    int rc = hg_logs_append(w->logs, txn, "payment.purchase", player_id, now, a.data, &ev, err);
    hg_buf_free(&a);
    if (rc < 0)
        return rc;
    wl = wallet_get(w, player_id, 1);
    for (int k = 0; k < it->nprice; k++) {
        money_t *b = bal_find(wl, it->price[k].cur);
        b->n -= charge[k];
        ledger_put(wl, it->price[k].cur, -charge[k], b->n, "purchase", pid, now, txn);
    }
    have = inv_find(wl, sku);
    if (have == NULL) {
        wl->inv = hg_realloc(wl->inv, (wl->ninv + 1) * sizeof(*wl->inv));
        have = &wl->inv[wl->ninv++];
        snprintf(have->sku, sizeof(have->sku), "%s", sku);
        have->q = 0;
        have->acquired_ms = now;
    }
    have->q += quantity;
    save_wallet(wl, txn);
    /* the answer, which is also the idempotency record's */
    size_t start = out->len;
    hg_buf_puts(out, "{\"purchase_id\":");
    hg_jsonw_str(out, pid);
    hg_buf_puts(out, ",\"player_id\":");
    hg_jsonw_str(out, player_id);
    hg_buf_puts(out, ",\"sku\":");
    hg_jsonw_str(out, sku);
    hg_buf_printf(out, ",\"quantity\":%" PRId64 ",\"charged\":{", quantity);
    for (int k = 0; k < it->nprice; k++) {
        if (k)
            hg_buf_puts(out, ",");
        hg_jsonw_key(out, it->price[k].cur);
        hg_jsonw_int(out, charge[k]);
    }
    hg_buf_puts(out, "},\"idempotency_key\":");
    hg_jsonw_str(out, idem_key);
    hg_buf_printf(out, ",\"event_id\":%" PRIu64 ",\"created\":", ev);
    hg_jsonw_time_ms(out, now);
    size_t record_end = out->len; /* the purchase record: up to here, closed */
    hg_buf_puts(out, ",\"balances\":");
    write_balances(out, wl);
    hg_buf_puts(out, ",\"inventory\":");
    write_inventory(out, wl);
    hg_buf_puts(out, "}");
    /* the purchase as answered (by its id), its key's record and the player's index of it */
    hg_store_put_text(txn, HG_WALLET_PURCHASE_COLL, pid, hg_strdup(out->data + start));
    char coll[32], key[40 + HG_WALLET_ID_LEN + 2];
    hg_wallet_purchases_coll(player_id, coll, sizeof(coll));
    snprintf(key, sizeof(key), "%s/%s", player_id, pid);
    size_t rlen = record_end - start;
    char *rec = hg_malloc(rlen + 2);
    memcpy(rec, out->data + start, rlen);
    rec[rlen] = '}';
    rec[rlen + 1] = '\0';
    hg_store_put_text(txn, coll, key, rec);
    pk_coll(op->part, coll);
    hg_buf_t k; /* {"h": body, "p": purchase id}, written as text (json_pack and its dump were
                 * ~6% of a purchase on the loop) */
    hg_buf_init(&k);
    hg_buf_puts(&k, "{\"h\":");
    hg_jsonw_str(&k, body);
    hg_buf_puts(&k, ",\"p\":");
    hg_jsonw_str(&k, pid);
    hg_buf_puts(&k, "}");
    hg_store_put_text(txn, coll, ikey, hg_buf_steal(&k, NULL));
    idem_remember(w, op->part, ikey, body, out->data + start, now, txn);
    return 0;
}

static void buy_first_answer(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)more;
    buy_op_t *op = ud;
    if (rc < 0 || n == 0) {
        rc = hg_error_set(op->err, HG_EINTERNAL, "cannot read the purchase of key %s: %s", op->ikey,
                          rc < 0 ? hg_strerror(rc) : "missing");
    } else {
        hg_buf_puts(op->out, rows[0].value);
        *op->replayed = 1;
        rc = 0;
    }
    buy_end(op, rc);
}

static void buy_key_found(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    (void)more;
    buy_op_t *op = ud;
    idem_t *i;
    if (rc < 0) {
        rc = hg_error_set(op->err, HG_EINTERNAL, "cannot read idempotency key %s: %s", op->ikey,
                          hg_strerror(rc));
    } else if ((i = hg_map_get(&op->w->idem, op->ikey)) != NULL) {
        rc = replay(op, i); /* bought meanwhile by a request that raced this one */
    } else if (n == 1) {
        json_t *v = json_loads(rows[0].value, 0, NULL);
        const char *h = json_string_value(json_object_get(v, "h"));
        const char *p = json_string_value(json_object_get(v, "p"));
        if (h == NULL || p == NULL) {
            rc = hg_error_set(op->err, HG_EINTERNAL, "idempotency key %s is unreadable", op->ikey);
        } else if (strcmp(h, op->body) != 0) {
            rc = key_reused(op);
        } else {
            char pid[HG_WALLET_ID_LEN + 1];
            snprintf(pid, sizeof(pid), "%s", p);
            json_decref(v);
            hg_store_get(op->w->store, HG_WALLET_PURCHASE_COLL, pid, buy_first_answer, op);
            return;
        }
        json_decref(v);
    } else {
        rc = buy_apply(op);
    }
    buy_end(op, rc);
}

void hg_wallet_purchase(hg_wallets_t *w, const char *player_id, const char *sku, int64_t quantity,
                        const char *idem_key, hg_store_txn_t *txn, hg_buf_t *out, int *replayed,
                        hg_error_t *err, hg_wallet_done_cb done, void *ud)
{
    *replayed = 0;
    int rc = 0;
    if (idem_key == NULL || !hg_str_token(idem_key, 1, HG_WALLET_IDEM_KEY_MAX))
        rc = hg_error_set(err, HG_EINVAL,
                          "idempotency_key is required: 1..%d printable ASCII characters",
                          HG_WALLET_IDEM_KEY_MAX);
    else if (sku == NULL || !valid_sku(sku))
        rc =
            hg_error_set(err, HG_EINVAL, "sku must be 1..%d of [A-Za-z0-9_.:-]", HG_WALLET_SKU_MAX);
    else if (quantity < 1 || quantity > HG_WALLET_QUANTITY_MAX)
        rc = hg_error_set(err, HG_EINVAL, "quantity must be 1..%d", HG_WALLET_QUANTITY_MAX);
    else if (strlen(player_id) >= sizeof(((buy_op_t *)0)->player))
        rc = hg_error_set(err, HG_EINVAL, "player_id is not a player id");
    if (rc < 0) {
        done(ud, rc);
        return;
    }
    buy_op_t *op = hg_calloc(1, sizeof(*op));
    op->w = w;
    snprintf(op->player, sizeof(op->player), "%s", player_id);
    snprintf(op->sku, sizeof(op->sku), "%s", sku);
    op->quantity = quantity;
    op->part = hg_player_partition(player_id);
    snprintf(op->ikey, sizeof(op->ikey), "%s/%s", player_id, idem_key);
    snprintf(op->body, sizeof(op->body), "%s\n%" PRId64, sku, quantity);
    op->txn = txn;
    op->out = out;
    op->replayed = replayed;
    op->err = err;
    op->done = done;
    op->ud = ud;
    idem_t *i = hg_map_get(&w->idem, op->ikey);
    if (i) {
        buy_end(op, replay(op, i));
        return;
    }
    /* not bought in this run lately: the store knows whether the key was used before, and the
     * filter knows when it certainly was not */
    if (w->pk_ready[op->part] &&
        !hg_bloom_maybe(&w->pk[op->part], hg_hash_bytes(op->ikey, strlen(op->ikey)))) {
        w->pk_skipped++;
        buy_key_found(op, 0, NULL, 0, 0);
        return;
    }
    char coll[24];
    pk_coll(op->part, coll);
    hg_store_get(w->store, coll, op->ikey, buy_key_found, op);
}

/* ---- upkeep ---- */

/* Forget from the head of fifo (oldest first) what is durable and RECENT_MS old, or beyond cap
 * (idem_t and rcpt_t both start with their recent_t; key_off: where their key is). */
static void forget(hg_list_t *fifo, hg_map_t *map, size_t cap, size_t key_off,
                   void (*free_fn)(void *), int64_t now, size_t *budget)
{
    while (*budget && !hg_list_empty(fifo)) {
        recent_t *e = hg_container_of(fifo->next, recent_t, node);
        if (!e->durable || (now - e->t_ms < RECENT_MS && hg_map_count(map) <= cap))
            break;
        hg_map_del(map, (const char *)e + key_off);
        hg_list_remove(&e->node);
        free_fn(e);
        (*budget)--;
    }
}

void hg_wallets_tick(hg_wallets_t *w, size_t budget)
{
    /* memory only (the store keeps every one) */
    int64_t now = hg_clock_now_ms(w->clock);
    forget(&w->idem_fifo, &w->idem, HG_WALLET_RECENT_PURCHASES, offsetof(idem_t, key), idem_free_v,
           now, &budget);
    forget(&w->rcpt_fifo, &w->rcpts, HG_WALLET_RECENT_RECEIPTS, offsetof(rcpt_t, id), rcpt_free_v,
           now, &budget);
}

/* ---- load ---- */

static int load_item(void *ud, const char *key, json_t *v)
{
    hg_wallets_t *w = ud;
    hg_error_t err;
    item_t tmp = {0};
    if (!valid_sku(key) || parse_price(json_object_get(v, "price"), &tmp, &err) < 0)
        return 0; /* unreadable: skipped */
    item_t *it = hg_calloc(1, sizeof(*it));
    *it = tmp;
    snprintf(it->sku, sizeof(it->sku), "%s", key);
    it->stackable = json_is_true(json_object_get(v, "stackable"));
    it->max_per_player = json_integer_value(json_object_get(v, "max_per_player"));
    json_t *md = json_object_get(v, "metadata");
    if (json_is_object(md)) {
        char *t = json_dumps(md, JSON_COMPACT);
        it->metadata = hg_strdup(t);
        free(t);
    }
    it->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    it->updated_ms = json_integer_value(json_object_get(v, "updated_ms"));
    hg_map_set(&w->items, it->sku, it);
    return 0;
}

static int load_wallet(void *ud, const char *key, json_t *v)
{
    hg_wallets_t *w = ud;
    if (hg_map_get(&w->wallets, key))
        return 0; /* in memory already (its partition loaded twice) */
    wallet_t *wl = wallet_get(w, key, 1);
    wl->seq = (uint64_t)json_integer_value(json_object_get(v, "n"));
    if (wl->seq == 0)
        wl->seq = 1;
    const char *cur;
    json_t *n;
    json_object_foreach (json_object_get(v, "b"), cur, n) {
        money_t *b = bal_add_slot(wl, cur);
        b->n = json_integer_value(n);
    }
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(v, "i"), i, e) {
        const char *sku = json_string_value(json_array_get(e, 0));
        if (sku == NULL)
            continue;
        wl->inv = hg_realloc(wl->inv, (wl->ninv + 1) * sizeof(*wl->inv));
        inv_t *in = &wl->inv[wl->ninv++];
        snprintf(in->sku, sizeof(in->sku), "%s", sku);
        in->q = json_integer_value(json_array_get(e, 1));
        in->acquired_ms = json_integer_value(json_array_get(e, 2));
    }
    return 0;
}

/* ---- the idempotency key filters ---- */

static void pk_scan_rows(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more);

static void pk_scan_next(pk_scan_t *sc)
{
    char coll[24];
    pk_coll(sc->part, coll);
    hg_store_scan(sc->w->store, coll, "", sc->after[0] ? sc->after : NULL, HG_STORE_READ_MAX, 0,
                  pk_scan_rows, sc);
}

static void pk_scan_end(pk_scan_t *sc)
{
    if (sc->w)
        hg_list_remove(&sc->node);
    hg_free(sc);
}

static void pk_scan_rows(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    pk_scan_t *sc = ud;
    hg_wallets_t *w = sc->w;
    if (w == NULL) {
        pk_scan_end(sc);
        return;
    }
    if (rc < 0) { /* the filter stays unready: its lookups go to the store, as before */
        if (rc != HG_ESHUTDOWN && rc != HG_ENOTIMPL)
            HG_LOG(HG_LOG_WARN, "wallet", "cannot read idempotency keys (partition %02u): %s",
                   sc->part, hg_strerror(rc));
        pk_scan_end(sc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        hg_bloom_add(&w->pk[sc->part], hg_hash_bytes(rows[i].key, strlen(rows[i].key)));
    sc->keys += n;
    if (more && n > 0) {
        snprintf(sc->after, sizeof(sc->after), "%s", rows[n - 1].key);
        pk_scan_next(sc);
        return;
    }
    if (w->pk_gen[sc->part] == sc->gen) /* else dropped meanwhile: its load reads it again */
        w->pk_ready[sc->part] = 1;
    sc->after[0] = '\0';
    if (++sc->part <= sc->last) {
        sc->gen = w->pk_gen[sc->part];
        pk_scan_next(sc);
        return;
    }
    size_t bytes = 0;
    for (unsigned p = 0; p < PARTITIONS; p++)
        bytes += w->pk[p].bytes;
    HG_LOG(HG_LOG_INFO, "wallet", "idempotency key filters ready keys=%" PRIu64 " bytes=%zu",
           sc->keys, bytes);
    pk_scan_end(sc);
}

void hg_wallets_filter_stats(const hg_wallets_t *w, hg_wallet_filter_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned p = 0; p < PARTITIONS; p++) {
        out->ready += w->pk_ready[p];
        out->bytes += w->pk[p].bytes;
    }
    out->skipped = w->pk_skipped;
    hg_list_t *q;
    hg_list_foreach (q, &w->pk_scans)
        out->reading++;
}

static void render(hg_buf_t *out, void *ud)
{
    hg_wallet_filter_stats_t st;
    hg_wallets_filter_stats(ud, &st);
    hg_buf_printf(out,
                  "# HELP hangar_wallet_key_filter_ready_partitions Player partitions whose "
                  "idempotency key filter is ready (of 64).\n"
                  "# TYPE hangar_wallet_key_filter_ready_partitions gauge\n"
                  "hangar_wallet_key_filter_ready_partitions %u\n"
                  "# HELP hangar_wallet_key_filter_bytes Memory of the idempotency key filters.\n"
                  "# TYPE hangar_wallet_key_filter_bytes gauge\n"
                  "hangar_wallet_key_filter_bytes %zu\n"
                  "# HELP hangar_wallet_key_lookups_skipped_total Purchases with a new "
                  "idempotency key answered without reading the store.\n"
                  "# TYPE hangar_wallet_key_lookups_skipped_total counter\n"
                  "hangar_wallet_key_lookups_skipped_total %llu\n",
                  st.ready, st.bytes, (unsigned long long)st.skipped);
}

/* Read the stored keys of partitions first..last (00..63) into their filters. */
static void pk_scan_start(hg_wallets_t *w, unsigned first, unsigned last)
{
    pk_scan_t *sc = hg_calloc(1, sizeof(*sc));
    sc->w = w;
    sc->part = first;
    sc->last = last;
    sc->gen = w->pk_gen[first];
    hg_list_insert_tail(&w->pk_scans, &sc->node);
    pk_scan_next(sc);
}

static int load_part_wallets(hg_wallets_t *w, int nn, hg_error_t *err);

int hg_wallets_load(hg_wallets_t *w, hg_error_t *err)
{
    int rc = hg_store_load(w->store, CATALOG_COLL, load_item, w);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load the catalog: %s", hg_strerror(rc));
    for (int nn = 0; nn < PARTITIONS; nn++)
        if ((rc = load_part_wallets(w, nn, err)) < 0)
            return rc;
    HG_LOG(HG_LOG_INFO, "wallet", "loaded items=%zu wallets=%zu", hg_map_count(&w->items),
           hg_map_count(&w->wallets));
    pk_scan_start(w, 0, PARTITIONS - 1);
    return 0;
}

/* ---- partitions (docs/cluster.md "Next", step 3) ---- */

static int player_in(const char *player, size_t len, int nn)
{
    char id[48];
    snprintf(id, sizeof(id), "%.*s", (int)len, player);
    return (int)hg_player_partition(id) == nn;
}

/* Forget one of this run's recent purchases or receipts (key: its key in map). One whose
 * transaction is still in flight is only unlinked: its commit hook frees it. */
static void recent_drop(hg_map_t *map, recent_t *e, const char *key, void (*free_fn)(void *))
{
    hg_map_del(map, key);
    hg_list_remove(&e->node);
    if (e->durable)
        free_fn(e);
    else
        e->dropped = 1;
}

static int load_part_wallets(hg_wallets_t *w, int nn, hg_error_t *err)
{
    char coll[24];
    snprintf(coll, sizeof(coll), "wallet/%02d", nn);
    int rc = hg_store_load(w->store, coll, load_wallet, w);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load wallets (partition %d): %s", nn, hg_strerror(rc));
    return 0;
}

int hg_wallets_load_partition(hg_wallets_t *w, int part, hg_error_t *err)
{
    int nn = hg_partition_player(part);
    if (nn < 0)
        return hg_error_set(err, HG_EINVAL, "partition %d holds no wallets", part);
    int rc = load_part_wallets(w, nn, err);
    if (rc == 0 && !w->pk_ready[nn])
        pk_scan_start(w, (unsigned)nn, (unsigned)nn);
    return rc;
}

int hg_wallets_drop_partition(hg_wallets_t *w, int part)
{
    int nn = hg_partition_player(part);
    if (nn < 0)
        return HG_EINVAL;
    /* its key filter goes too: keys bought elsewhere meanwhile are in the store, not in it;
     * a read of its keys still running no longer makes it ready (pk_gen) */
    hg_bloom_free(&w->pk[nn]);
    hg_bloom_init(&w->pk[nn], HG_WALLET_KEY_FILTER_FIRST, HG_WALLET_KEY_FILTER_MAX);
    w->pk_ready[nn] = 0;
    w->pk_gen[nn]++;
    size_t it = 0;
    void *v;
    while (hg_map_next(&w->wallets, &it, NULL, &v)) {
        wallet_t *wl = v;
        if (player_in(wl->player, strlen(wl->player), nn)) {
            hg_map_del(&w->wallets, wl->player); /* the current key: allowed while iterating */
            wallet_free(wl);
        }
    }
    hg_list_t *q, *nx;
    hg_list_foreach_safe (q, nx, &w->idem_fifo) {
        idem_t *i = (idem_t *)hg_container_of(q, recent_t, node);
        if (player_in(i->key, strcspn(i->key, "/"), nn))
            recent_drop(&w->idem, &i->rec, i->key, idem_free_v);
    }
    hg_list_foreach_safe (q, nx, &w->rcpt_fifo) {
        rcpt_t *r = (rcpt_t *)hg_container_of(q, recent_t, node);
        if (player_in(r->player, strlen(r->player), nn))
            recent_drop(&w->rcpts, &r->rec, r->id, rcpt_free_v);
    }
    return 0;
}
