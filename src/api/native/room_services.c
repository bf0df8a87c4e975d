/* hangar — what room scripts reach beyond their room: leaderboards and wallets (script.h's
 * room.leaderboard_submit, room.leaderboard_top, room.leaderboard_ranks, room.wallet_get,
 * room.wallet_credit, room.purchase; docs/rooms.md).
 *
 * The grant was checked by the script engine (the version was deployed with it, by a key that
 * holds the same action). Here a call does what the /v1 endpoint does for a key, then answers
 * the room once that is durable: a write's transaction committed, a read's snapshot taken now and
 * released behind a barrier (everything it may rest on committed). So nothing a script tells its
 * players from an answer can be lost by a crash. Errors too answer behind a barrier, with the
 * /v1 error codes ("insufficient_funds", "not_found", …).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "players/players.h"
#include "rank/board.h"
#include "rooms/rooms.h"
#include "wallet/wallet.h"

#define TOP_DEFAULT 10

typedef struct svc {
    hg_api_t *api;
    char *room;
    uint64_t id;
    json_t *args;
    hg_store_txn_t *txn;
    hg_buf_t out;
    hg_error_t err;
    int replayed;
} svc_t;

static void svc_free(svc_t *v)
{
    json_decref(v->args);
    hg_buf_free(&v->out);
    hg_free(v->room);
    hg_free(v);
}

static void committed(void *ud, int rc)
{
    svc_t *v = ud;
    if (rc < 0 && v->err.code == 0)
        hg_api_commit_failed(&v->err, rc);
    if (v->err.code)
        hg_rooms_service_reply(v->api->rooms, v->room, v->id, NULL, hg_err_native_code(v->err.code),
                               hg_error_message(&v->err));
    else
        hg_rooms_service_reply(v->api->rooms, v->room, v->id, v->out.len ? v->out.data : "null",
                               NULL, NULL);
    svc_free(v);
}

/* Commit what the call wrote (nothing on error: a barrier then), answer when durable. */
static void finish(svc_t *v)
{
    hg_store_txn_t *txn = v->txn;
    v->txn = NULL;
    if (v->err.code) {
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(v->api->store);
    }
    hg_store_commit(txn, committed, v);
}

static void wallet_done(void *ud, int rc)
{
    (void)rc; /* v->err holds it */
    finish(ud);
}

static const char *arg_str(svc_t *v, const char *name)
{
    return json_string_value(json_object_get(v->args, name));
}

/* args.player, a player that exists; NULL with v->err set. */
static const char *arg_player(svc_t *v)
{
    const char *p = arg_str(v, "player");
    if (p == NULL)
        hg_error_set(&v->err, HG_EINVAL, "player (a player id) is required");
    else if (hg_player_find(v->api->players, p) == NULL) {
        hg_error_set(&v->err, HG_ENOTFOUND, "no player %.40s", p);
        p = NULL;
    }
    return p;
}

static hg_lb_t *arg_board(svc_t *v)
{
    const char *id = arg_str(v, "board");
    hg_lb_t *b = id ? hg_lb_find(v->api->leaderboards, id) : NULL;
    if (b == NULL)
        hg_error_set(&v->err, id ? HG_ENOTFOUND : HG_EINVAL,
                     id ? "no leaderboard %.64s" : "board (a leaderboard id) is required",
                     id ? id : "");
    return b;
}

static void submit(svc_t *v)
{
    hg_lb_t *b = arg_board(v);
    const char *pid = b ? arg_player(v) : NULL;
    if (pid == NULL)
        return;
    json_t *score = json_object_get(v->args, "score"), *sub = json_object_get(v->args, "subscore");
    json_t *md = json_object_get(v->args, "metadata"),
           *key = json_object_get(v->args, "idempotency_key");
    if (!json_is_integer(score) || (sub && !json_is_integer(sub)) ||
        (key && !json_is_string(key))) {
        hg_error_set(&v->err, HG_EINVAL,
                     "score (and subscore) must be integers; idempotency_key a string");
        return;
    }
    char *mtext = md && !json_is_null(md) ? json_dumps(md, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    hg_lb_submit_t s = {
        .player_id = pid,
        .score = json_integer_value(score),
        .subscore = sub ? json_integer_value(sub) : 0,
        .metadata = mtext,
        .idem_key = json_string_value(key),
    };
    hg_lb_submit(v->api->leaderboards, b, &s, v->txn, &v->out, &v->replayed, &v->err);
    free(mtext);
}

static void top(svc_t *v)
{
    hg_lb_t *b = arg_board(v);
    hg_lb_view_t view;
    json_t *lim = json_object_get(v->args, "limit");
    json_int_t n = lim ? json_integer_value(lim) : TOP_DEFAULT;
    if (b == NULL)
        return;
    if ((lim && !json_is_integer(lim)) || n < 1 || n > HG_LB_PAGE_MAX) {
        hg_error_set(&v->err, HG_EINVAL, "limit must be 1..%d", HG_LB_PAGE_MAX);
        return;
    }
    if (hg_lb_view(b, json_is_true(json_object_get(v->args, "previous")), &view, &v->err) == 0)
        hg_lb_write_page(&v->out, &view, 1, (size_t)n);
}

static void ranks(svc_t *v)
{
    hg_lb_t *b = arg_board(v);
    hg_lb_view_t view;
    json_t *arr = json_object_get(v->args, "players");
    size_t n = json_array_size(arr);
    if (b == NULL)
        return;
    if (!json_is_array(arr) || n > HG_LB_PAGE_MAX) {
        hg_error_set(&v->err, HG_EINVAL, "players must be a list of at most %d ids",
                     HG_LB_PAGE_MAX);
        return;
    }
    const char **ids = hg_malloc((n ? n : 1) * sizeof(*ids));
    for (size_t i = 0; i < n && v->err.code == 0; i++)
        if ((ids[i] = json_string_value(json_array_get(arr, i))) == NULL)
            hg_error_set(&v->err, HG_EINVAL, "players[%zu] is not a string", i);
    if (v->err.code == 0 &&
        hg_lb_view(b, json_is_true(json_object_get(v->args, "previous")), &view, &v->err) == 0)
        hg_lb_write_ranks(&v->out, &view, ids, n, 0);
    hg_free(ids);
}

static void wallet_get(svc_t *v)
{
    const char *pid = arg_player(v);
    if (pid)
        hg_wallet_write(v->api->wallet, pid, &v->out);
}

/* Returns 1 when the wallet call took over (it calls wallet_done). */
static int credit(svc_t *v)
{
    const char *pid = arg_player(v);
    json_t *amount = json_object_get(v->args, "amount"),
           *reason = json_object_get(v->args, "reason");
    const char *cur = arg_str(v, "currency"), *rid = arg_str(v, "receipt_id");
    if (pid == NULL)
        return 0;
    if (cur == NULL || rid == NULL || !json_is_integer(amount) ||
        (reason && !json_is_null(reason) && !json_is_string(reason))) {
        hg_error_set(&v->err, HG_EINVAL,
                     "give currency and receipt_id as strings, amount as an integer, reason "
                     "(optional) as a string");
        return 0;
    }
    hg_wallet_credit_t cr = {
        .player_id = pid,
        .currency = cur,
        .receipt_id = rid,
        .reason = json_string_value(reason),
        .amount = json_integer_value(amount),
    };
    hg_wallet_credit(v->api->wallet, &cr, v->txn, &v->out, &v->replayed, &v->err, wallet_done, v);
    return 1;
}

static int purchase(svc_t *v)
{
    const char *pid = arg_player(v);
    json_t *q = json_object_get(v->args, "quantity");
    const char *sku = arg_str(v, "sku"), *key = arg_str(v, "idempotency_key");
    if (pid == NULL)
        return 0;
    if (sku == NULL || key == NULL || (q && !json_is_integer(q))) {
        hg_error_set(&v->err, HG_EINVAL,
                     "give sku and idempotency_key as strings and quantity as an integer");
        return 0;
    }
    hg_wallet_purchase(v->api->wallet, pid, sku, q ? json_integer_value(q) : 1, key, v->txn,
                       &v->out, &v->replayed, &v->err, wallet_done, v);
    return 1;
}

void hg_api_room_service(void *ud, const char *room_id, const char *op, const char *args,
                         uint64_t call_id)
{
    hg_api_t *api = ud;
    svc_t *v = hg_calloc(1, sizeof(*v));
    v->api = api;
    v->room = hg_strdup(room_id);
    v->id = call_id;
    hg_buf_init(&v->out);
    v->txn = hg_store_txn_new(api->store);
    json_error_t je;
    v->args = json_loads(args, JSON_DECODE_ANY, &je);
    if (!json_is_object(v->args)) {
        hg_error_set(&v->err, HG_EINVAL, "the arguments must be a table with names");
    } else if (strcmp(op, "leaderboard_submit") == 0) {
        submit(v);
    } else if (strcmp(op, "leaderboard_top") == 0) {
        top(v);
    } else if (strcmp(op, "leaderboard_ranks") == 0) {
        ranks(v);
    } else if (strcmp(op, "wallet_get") == 0) {
        wallet_get(v);
    } else if (strcmp(op, "wallet_credit") == 0) {
        if (credit(v))
            return;
    } else if (strcmp(op, "purchase") == 0) {
        if (purchase(v))
            return;
    } else {
        hg_error_set(&v->err, HG_EINVAL, "no service %.40s", op);
    }
    finish(v);
}
