/* hangar — /v1/catalog, /v1/purchases and the wallet endpoints under /v1/players (docs/api.md;
 * the domain is wallet/wallet.h).
 *
 *     GET    /v1/catalog/items[?limit=&after=]         list  (wallet:Read, wallet:Manage or a
 * player) GET    /v1/catalog/items/{sku}                   one   (the same) PUT
 * /v1/catalog/items/{sku}                   create or replace (wallet:Manage) DELETE
 * /v1/catalog/items/{sku}                   delete (wallet:Manage) POST   /v1/purchases buy as the
 * player, or with a key (wallet:Purchase) for "player_id" GET    /v1/purchases/{id} one (its
 * player, or wallet:Read) GET    /v1/players/{id|me}/wallet                balances and inventory
 *     POST   /v1/players/{id}/wallet/credits           credit a verified receipt (wallet:Credit)
 *     GET    /v1/players/{id|me}/purchases[?limit=&after=&order=]   newest first by default
 *     GET    /v1/players/{id|me}/ledger[?limit=&after=&order=]      oldest first by default
 * A player reads only its own wallet, purchases and ledger; a key needs wallet:Read.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/native_int.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "wallet/wallet.h"

/* ---- /v1/catalog ---- */

static int may_read_catalog(hg_native_call_t *c)
{
    if (c->player)
        return 0;
    if (c->key && (hg_native_allows(c, "wallet:Read") || hg_native_allows(c, "wallet:Manage")))
        return 0;
    return hg_native_require(c, "wallet:Read");
}

void hg_native_catalog(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_wallets_t *w = c->api->wallet;
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    int m = c->req->method;
    if (n == 6 && memcmp(rest, "/items", 6) == 0) {
        size_t limit;
        char after[HG_WALLET_SKU_MAX + 2];
        int has;
        if (m != HTTP_GET) {
            hg_error_set(&c->err, HG_EMETHOD, "use GET on /v1/catalog/items");
        } else if (may_read_catalog(c) == 0 && hg_native_limit(c, 100, &limit) == 0 &&
                   (has = hg_native_query(c, "after", after, sizeof(after))) >= 0) {
            c->out = hg_wallet_items(w, has ? after : NULL, limit);
        }
    } else if (n > 7 && n <= 7 + HG_WALLET_SKU_MAX && memcmp(rest, "/items/", 7) == 0) {
        char sku[HG_WALLET_SKU_MAX + 1];
        memcpy(sku, rest + 7, n - 7);
        sku[n - 7] = '\0';
        if (m == HTTP_GET) {
            if (may_read_catalog(c) == 0)
                hg_wallet_item_get(w, sku, &c->out, &c->err);
        } else if (m == HTTP_PUT) {
            int created;
            if (hg_native_require(c, "wallet:Manage") == 0 && hg_native_parse_body(c) == 0 &&
                hg_wallet_item_put(w, sku, c->in, txn, &c->out, &created, &c->err) == 0)
                c->status = created ? 201 : 200;
        } else if (m == HTTP_DELETE) {
            if (hg_native_require(c, "wallet:Manage") == 0 &&
                hg_wallet_item_delete(w, sku, txn, &c->err) == 0)
                c->out = json_pack("{s:s,s:b}", "sku", sku, "deleted", 1);
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET, PUT or DELETE on a catalog item");
        }
    } else {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    }
    if (c->err.code) {
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}

/* ---- history pages (read off the loop thread) ---- */

typedef struct page_op {
    hg_native_call_t *c;
    size_t prefix_len; /* "<player>/": cut from keys to make cursors */
    int one;           /* a single record: 404 when absent */
    char owner[40];    /* one: the player who may read it ("" = any with the key) */
} page_op_t;

static void page_done(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more)
{
    page_op_t *op = ud;
    hg_native_call_t *c = op->c;
    if (rc < 0) {
        hg_error_set(&c->err, HG_EINTERNAL, "cannot read history: %s", hg_strerror(rc));
    } else if (op->one) {
        if (n == 0) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no such purchase");
        } else {
            json_t *v = json_loads(rows[0].value, 0, NULL);
            const char *p = json_string_value(json_object_get(v, "player_id"));
            if (op->owner[0] && (p == NULL || strcmp(p, op->owner) != 0)) {
                /* another player's: as if absent */
                hg_error_set(&c->err, HG_ENOTFOUND, "no such purchase");
                json_decref(v);
            } else {
                c->out = v;
            }
        }
    } else {
        hg_buf_t *o = &c->out_text;
        hg_buf_puts(o, "{\"items\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                hg_buf_puts(o, ",");
            hg_buf_puts(o, rows[i].value);
        }
        hg_buf_puts(o, "]");
        if (more && n) {
            hg_buf_puts(o, ",\"next\":");
            hg_jsonw_str(o, rows[n - 1].key + op->prefix_len);
        }
        hg_buf_puts(o, "}");
    }
    hg_free(op);
    hg_native_finish(c);
}

/* GET a page of coll's records under "<player>/" (the ledger or the purchases). */
static void history_page(hg_native_call_t *c, const char *coll, const char *player,
                         int desc_default)
{
    size_t limit;
    char after[64], order[8], prefix[48], from[48 + sizeof(after)];
    int has_after, has_order, rc;
    if ((rc = hg_native_limit(c, 100, &limit)) < 0 ||
        (has_after = rc = hg_native_query(c, "after", after, sizeof(after))) < 0 ||
        (has_order = rc = hg_native_query(c, "order", order, sizeof(order))) < 0) {
        hg_native_finish(c);
        return;
    }
    int desc = desc_default;
    if (has_order) {
        if (strcmp(order, "asc") == 0 || strcmp(order, "desc") == 0) {
            desc = order[0] == 'd';
        } else {
            hg_error_set(&c->err, HG_EINVAL, "order must be asc or desc");
            hg_native_finish(c);
            return;
        }
    }
    snprintf(prefix, sizeof(prefix), "%s/", player);
    snprintf(from, sizeof(from), "%s%s", prefix, has_after ? after : "");
    page_op_t *op = hg_calloc(1, sizeof(*op));
    op->c = c;
    op->prefix_len = strlen(prefix);
    hg_store_scan(c->api->store, coll, prefix, has_after ? from : NULL, limit, desc, page_done, op);
}

/* ---- /v1/purchases ---- */

static void purchase_done(void *ud, int rc)
{
    hg_native_call_t *c = ud;
    hg_store_txn_t *txn = c->pending_txn;
    c->pending_txn = NULL;
    if (rc == 0) {
        c->status = 201;
    } else {
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store); /* the error answers after what it rests on */
    }
    hg_native_commit(c, txn);
}

static void purchase(hg_native_call_t *c)
{
    const char *pid = NULL;
    if (hg_native_parse_body(c) == 0) {
        json_t *in = c->in, *named = json_object_get(in, "player_id");
        if (c->player) {
            if (named &&
                !(json_is_string(named) && strcmp(json_string_value(named), c->player->id) == 0))
                hg_error_set(&c->err, HG_EUNAUTHORIZED, "a player buys only for itself");
            else
                pid = c->player->id;
        } else if (hg_native_require(c, "wallet:Purchase") == 0) {
            pid = json_string_value(named);
            if (pid == NULL)
                hg_error_set(&c->err, HG_EINVAL, "player_id is required with a key");
            else if (hg_player_find(c->api->players, pid) == NULL)
                hg_error_set(&c->err, HG_ENOTFOUND, "no player %.40s", pid);
        }
    }
    json_t *sku = json_object_get(c->in, "sku"), *q = json_object_get(c->in, "quantity");
    json_t *key = json_object_get(c->in, "idempotency_key");
    if (c->err.code == 0 &&
        (!json_is_string(sku) || (q && !json_is_integer(q)) || !json_is_string(key)))
        hg_error_set(&c->err, HG_EINVAL,
                     "give sku and idempotency_key as strings and quantity as an integer");
    if (c->err.code) {
        hg_native_commit(c, hg_store_txn_new(c->api->store));
        return;
    }
    c->pending_txn = hg_store_txn_new(c->api->store);
    hg_wallet_purchase(c->api->wallet, pid, json_string_value(sku), q ? json_integer_value(q) : 1,
                       json_string_value(key), c->pending_txn, &c->out_text, &c->replayed, &c->err,
                       purchase_done, c);
}

void hg_native_purchases(hg_native_call_t *c, const char *rest, size_t n)
{
    int m = c->req->method;
    if (n == 0) {
        if (m == HTTP_POST) {
            purchase(c);
            return;
        }
        hg_error_set(&c->err, HG_EMETHOD, "use POST on /v1/purchases");
    } else if (n == 1 + HG_WALLET_ID_LEN && rest[0] == '/') {
        if (m != HTTP_GET) {
            hg_error_set(&c->err, HG_EMETHOD, "use GET on a purchase");
        } else if (c->player || hg_native_require(c, "wallet:Read") == 0) {
            char id[HG_WALLET_ID_LEN + 1];
            memcpy(id, rest + 1, HG_WALLET_ID_LEN);
            id[HG_WALLET_ID_LEN] = '\0';
            page_op_t *op = hg_calloc(1, sizeof(*op));
            op->c = c;
            op->one = 1;
            if (c->player)
                snprintf(op->owner, sizeof(op->owner), "%s", c->player->id);
            hg_store_get(c->api->store, HG_WALLET_PURCHASE_COLL, id, page_done, op);
            return;
        }
    } else {
        hg_error_set(&c->err, HG_ENOTFOUND, "no such purchase");
    }
    hg_native_finish(c);
}

/* ---- /v1/players/{id|me}/wallet, …/purchases, …/ledger ---- */

static void credit(hg_native_call_t *c, const char *player)
{
    if (hg_native_require(c, "wallet:Credit") < 0 || hg_native_parse_body(c) < 0) {
        hg_native_commit(c, hg_store_txn_new(c->api->store));
        return;
    }
    json_t *in = c->in, *amount = json_object_get(in, "amount"),
           *reason = json_object_get(in, "reason");
    const char *cur = json_string_value(json_object_get(in, "currency"));
    const char *rid = json_string_value(json_object_get(in, "receipt_id"));
    if (cur == NULL || rid == NULL || !json_is_integer(amount) ||
        (reason && !json_is_null(reason) && !json_is_string(reason))) {
        hg_error_set(&c->err, HG_EINVAL,
                     "give currency and receipt_id as strings, amount as an integer, reason "
                     "(optional) as a string");
        hg_native_commit(c, hg_store_txn_new(c->api->store));
        return;
    }
    hg_wallet_credit_t cr = {
        .player_id = player,
        .currency = cur,
        .receipt_id = rid,
        .reason = json_string_value(reason),
        .amount = json_integer_value(amount),
    };
    c->pending_txn = hg_store_txn_new(c->api->store);
    hg_wallet_credit(c->api->wallet, &cr, c->pending_txn, &c->out_text, &c->replayed, &c->err,
                     purchase_done, c);
}

int hg_native_player_wallet(hg_native_call_t *c, const char *rest, size_t n)
{
    /* rest: "/me/<sub>" or "/<id>/<sub>" with sub wallet, wallet/credits, purchases, ledger */
    const char *slash = n > 1 ? memchr(rest + 1, '/', n - 1) : NULL;
    if (slash == NULL)
        return 0;
    size_t idn = (size_t)(slash - rest - 1), subn = n - (size_t)(slash - rest);
    const char *sub = slash;
    static const char *const subs[] = {"/wallet", "/wallet/credits", "/purchases", "/ledger"};
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (subn == strlen(subs[i]) && memcmp(sub, subs[i], subn) == 0)
            which = i;
    if (which < 0 || idn > HG_PLAYER_ID_LEN)
        return 0;
    char id[HG_PLAYER_ID_LEN + 1];
    memcpy(id, rest + 1, idn);
    id[idn] = '\0';
    int m = c->req->method;
    if (strcmp(id, "me") == 0) {
        if (c->player == NULL) {
            hg_error_set(&c->err, HG_ENOAUTH,
                         "/v1/players/me is the player of a bearer token; with a key use "
                         "/v1/players/{id}");
            goto answer;
        }
        snprintf(id, sizeof(id), "%s", c->player->id);
    } else if (c->player && strcmp(c->player->id, id) != 0) {
        hg_error_set(&c->err, HG_EUNAUTHORIZED, "a player reads only its own wallet");
        goto answer;
    } else if (c->player == NULL) {
        if (which != 1 && hg_native_require(c, "wallet:Read") < 0)
            goto answer;
        if (hg_player_find(c->api->players, id) == NULL) {
            hg_error_set(&c->err, HG_ENOTFOUND, "no player %s", id);
            goto answer;
        }
    }
    if (which == 1) {
        if (m != HTTP_POST) {
            hg_error_set(&c->err, HG_EMETHOD, "use POST on wallet/credits");
            goto answer;
        }
        if (c->player) {
            hg_error_set(&c->err, HG_EUNAUTHORIZED,
                         "credits need a key with wallet:Credit (a studio server that verified the "
                         "receipt), not a player token");
            goto answer;
        }
        credit(c, id);
        return 1;
    }
    if (m != HTTP_GET) {
        hg_error_set(&c->err, HG_EMETHOD, "use GET");
        goto answer;
    }
    if (which == 0) {
        hg_wallet_write(c->api->wallet, id, &c->out_text);
        goto answer;
    }
    char coll[32];
    if (which == 2)
        hg_wallet_purchases_coll(id, coll, sizeof(coll));
    else
        hg_wallet_ledger_coll(id, coll, sizeof(coll));
    history_page(c, coll, id, which == 2);
    return 1;
answer:
    /* a read of memory answers after the writes it may rest on are durable (a barrier) */
    hg_native_commit(c, hg_store_txn_new(c->api->store));
    return 1;
}
