/* hangar — /v1/leaderboards (docs/api.md; the domain is rank/board.h).
 *
 *     POST   /v1/leaderboards                        create (leaderboards:Manage)
 *     GET    /v1/leaderboards[?limit=&after=]        list   (leaderboards:Read or a player)
 *     GET    /v1/leaderboards/{id}                   one    (leaderboards:Read or a player)
 *     DELETE /v1/leaderboards/{id}                   delete (leaderboards:Manage)
 *     POST   /v1/leaderboards/{id}/scores            submit as the player (bearer), or with a key
 *                                                    (leaderboards:Submit) for "player_id"
 *     GET    /v1/leaderboards/{id}/entries[?limit=&after=&period=previous]       top, paged
 *     GET    /v1/leaderboards/{id}/entries/{player}[?around=N&period=previous]   around a player
 *     GET    /v1/leaderboards/{id}/friends[?player_id=&period=previous]          among friends
 *     POST   /v1/leaderboards/{id}/ranks  {"player_ids": [...]}                   ranks of a list
 * Reads need leaderboards:Read with a key, or any player's token.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/native_int.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "rank/board.h"

static int may_read(hg_native_call_t *c)
{
    return c->player ? 0 : hg_native_require(c, "leaderboards:Read");
}

static int previous_period(hg_native_call_t *c, int *prev)
{
    char v[16];
    int rc = hg_native_query(c, "period", v, sizeof(v));
    if (rc < 0)
        return rc;
    *prev = 0;
    if (rc == 1 && strcmp(v, "previous") == 0)
        *prev = 1;
    else if (rc == 1 && strcmp(v, "current") != 0)
        return hg_error_set(&c->err, HG_EINVAL, "period must be current or previous");
    return 0;
}

static int create(hg_native_call_t *c, hg_store_txn_t *txn)
{
    int rc;
    if ((rc = hg_native_require(c, "leaderboards:Manage")) < 0 ||
        (rc = hg_native_parse_body(c)) < 0)
        return rc;
    json_t *in = c->in;
    const char *order = json_string_value(json_object_get(in, "order"));
    const char *op = json_string_value(json_object_get(in, "operator"));
    json_t *me = json_object_get(in, "max_entries"), *mm = json_object_get(in, "metadata_max");
    json_t *reset = json_object_get(in, "reset"), *tz = json_object_get(in, "time_zone");
    if (!json_is_string(json_object_get(in, "id")) || order == NULL || op == NULL ||
        (reset && !json_is_string(reset)) || (tz && !json_is_string(tz)) ||
        (me && (!json_is_integer(me) || json_integer_value(me) < 1)) ||
        (mm && (!json_is_integer(mm) || json_integer_value(mm) < 1)))
        return hg_error_set(&c->err, HG_EINVAL,
                            "give id, order (desc|asc) and operator (best|set|incr|decr) as "
                            "strings; reset and time_zone as strings, max_entries and "
                            "metadata_max as positive integers");
    hg_lb_config_t cfg = {
        .id = json_string_value(json_object_get(in, "id")),
        .order = strcmp(order, "desc") == 0  ? HG_RANKSET_DESC
                 : strcmp(order, "asc") == 0 ? HG_RANKSET_ASC
                                             : 0,
        .reset = json_string_value(reset),
        .time_zone = json_string_value(tz),
        .max_entries = me ? (size_t)json_integer_value(me) : 0,
        .metadata_max = mm ? (size_t)json_integer_value(mm) : 0,
    };
    static const char *const ops[] = {"best", "set", "incr", "decr"};
    for (int i = 0; i < 4; i++)
        if (strcmp(op, ops[i]) == 0)
            cfg.op = (hg_lb_op_t)(HG_LB_BEST + i);
    hg_lb_t *b;
    if ((rc = hg_lb_create(c->api->leaderboards, &cfg, txn, &b, &c->err)) < 0)
        return rc;
    c->out = hg_lb_json(b);
    c->status = 201;
    return 0;
}

static int list(hg_native_call_t *c)
{
    size_t limit;
    char after[HG_LB_ID_MAX + 2];
    int rc, has_after;
    if ((rc = may_read(c)) < 0 || (rc = hg_native_limit(c, 100, &limit)) < 0 ||
        (has_after = hg_native_query(c, "after", after, sizeof(after))) < 0)
        return rc < 0 ? rc : has_after;
    hg_lb_t **all = hg_malloc(limit * sizeof(*all));
    int more;
    size_t n = hg_lb_list(c->api->leaderboards, has_after ? after : NULL, limit, all, &more);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, hg_lb_json(all[i]));
    c->out = json_pack("{s:o}", "items", items);
    if (more)
        json_object_set_new(c->out, "next", json_string(hg_lb_id(all[n - 1])));
    hg_free(all);
    return 0;
}

static int submit(hg_native_call_t *c, hg_lb_t *b, hg_store_txn_t *txn)
{
    int rc;
    if ((rc = hg_native_parse_body(c)) < 0)
        return rc;
    json_t *in = c->in;
    const char *pid;
    if (c->player) {
        json_t *named = json_object_get(in, "player_id");
        if (named &&
            !(json_is_string(named) && strcmp(json_string_value(named), c->player->id) == 0))
            return hg_error_set(&c->err, HG_EUNAUTHORIZED, "a player submits only its own scores");
        pid = c->player->id;
    } else {
        if ((rc = hg_native_require(c, "leaderboards:Submit")) < 0)
            return rc;
        pid = json_string_value(json_object_get(in, "player_id"));
        if (pid == NULL || hg_player_find(c->api->players, pid) == NULL)
            return hg_error_set(&c->err, pid ? HG_ENOTFOUND : HG_EINVAL,
                                pid ? "no player %s" : "player_id is required with a key",
                                pid ? pid : "");
    }
    json_t *score = json_object_get(in, "score"), *sub = json_object_get(in, "subscore");
    json_t *md = json_object_get(in, "metadata"), *key = json_object_get(in, "idempotency_key");
    if (!json_is_integer(score) || (sub && !json_is_integer(sub)) || (key && !json_is_string(key)))
        return hg_error_set(&c->err, HG_EINVAL,
                            "score (and subscore) must be integers (int64); idempotency_key a "
                            "string");
    char *mtext = md && !json_is_null(md) ? json_dumps(md, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    hg_lb_submit_t s = {
        .player_id = pid,
        .score = json_integer_value(score),
        .subscore = sub ? json_integer_value(sub) : 0,
        .metadata = mtext,
        .idem_key = json_string_value(key),
    };
    int replayed;
    rc = hg_lb_submit(c->api->leaderboards, b, &s, txn, &c->out_text, &replayed, &c->err);
    free(mtext);
    return rc;
}

static int entries(hg_native_call_t *c, hg_lb_t *b)
{
    int rc, prev, has_after;
    size_t limit;
    char after[24];
    hg_lb_view_t v;
    if ((rc = may_read(c)) < 0 || (rc = previous_period(c, &prev)) < 0 ||
        (rc = hg_native_limit(c, 100, &limit)) < 0 ||
        (has_after = rc = hg_native_query(c, "after", after, sizeof(after))) < 0 ||
        (rc = hg_lb_view(b, prev, &v, &c->err)) < 0)
        return rc;
    size_t from = 1;
    if (has_after) {
        char *e;
        unsigned long long a = strtoull(after, &e, 10);
        if (*e || after[0] == '\0' || after[0] == '-')
            return hg_error_set(&c->err, HG_EINVAL, "after must be a cursor this API gave");
        from = (size_t)a + 1;
    }
    hg_lb_write_page(&c->out_text, &v, from, limit);
    return 0;
}

static int around(hg_native_call_t *c, hg_lb_t *b, const char *pid)
{
    int rc, prev, has;
    char n_text[16];
    hg_lb_view_t v;
    if ((rc = may_read(c)) < 0 || (rc = previous_period(c, &prev)) < 0 ||
        (has = rc = hg_native_query(c, "around", n_text, sizeof(n_text))) < 0 ||
        (rc = hg_lb_view(b, prev, &v, &c->err)) < 0)
        return rc;
    long n = 0;
    if (has) {
        char *e;
        n = strtol(n_text, &e, 10);
        if (*e || n < 0 || n > HG_LB_AROUND_MAX)
            return hg_error_set(&c->err, HG_EINVAL, "around must be 0..%d", HG_LB_AROUND_MAX);
    }
    uint8_t id[HG_RANKSET_ID_LEN];
    if (hg_rankset_id_parse(pid, id) < 0)
        return hg_error_set(&c->err, HG_EINVAL, "%.40s is not a player id", pid);
    hg_rankset_entry_t **es = hg_malloc((size_t)(2 * n + 1) * sizeof(*es));
    size_t count, first;
    if (hg_rankset_around(v.set, id, (size_t)n, es, &count, &first) < 0) {
        hg_free(es);
        return hg_error_set(&c->err, HG_ENOTFOUND, "player %s has no entry on %s", pid,
                            hg_lb_id(b));
    }
    hg_buf_t *o = &c->out_text;
    for (size_t i = 0; i < count; i++)
        if (memcmp(es[i]->id, id, sizeof(id)) == 0) {
            hg_buf_puts(o, "{\"entry\":");
            hg_lb_write_entry(o, es[i], first + i, v.name, v.name_ud);
        }
    hg_buf_puts(o, ",\"items\":[");
    for (size_t i = 0; i < count; i++) {
        if (i)
            hg_buf_puts(o, ",");
        hg_lb_write_entry(o, es[i], first + i, v.name, v.name_ud);
    }
    hg_buf_printf(o, "],\"count\":%zu}", hg_lb_count(&v));
    hg_free(es);
    return 0;
}

static int friends(hg_native_call_t *c, hg_lb_t *b)
{
    int rc, prev;
    hg_lb_view_t v;
    char pid[HG_PLAYER_ID_LEN + 2];
    int has = 0;
    if ((rc = may_read(c)) < 0 || (rc = previous_period(c, &prev)) < 0 ||
        (has = rc = hg_native_query(c, "player_id", pid, sizeof(pid))) < 0 ||
        (rc = hg_lb_view(b, prev, &v, &c->err)) < 0)
        return rc;
    hg_player_t *p = c->player;
    if (p == NULL && !has)
        return hg_error_set(&c->err, HG_EINVAL, "player_id is required with a key");
    if (has && (p == NULL || strcmp(pid, p->id) != 0)) {
        if (c->player)
            return hg_error_set(&c->err, HG_EUNAUTHORIZED, "a player reads its own friends");
        if ((p = hg_player_find(c->api->players, pid)) == NULL)
            return hg_error_set(&c->err, HG_ENOTFOUND, "no player %s", pid);
    }
    const char **ids = hg_malloc((p->nfriends + 1) * sizeof(*ids));
    ids[0] = p->id;
    for (size_t i = 0; i < p->nfriends; i++)
        ids[i + 1] = p->friends[i];
    hg_lb_write_ranks(&c->out_text, &v, ids, p->nfriends + 1, 1);
    hg_free(ids);
    return 0;
}

static int ranks(hg_native_call_t *c, hg_lb_t *b)
{
    int rc, prev;
    hg_lb_view_t v;
    if ((rc = may_read(c)) < 0 || (rc = previous_period(c, &prev)) < 0 ||
        (rc = hg_native_parse_body(c)) < 0 || (rc = hg_lb_view(b, prev, &v, &c->err)) < 0)
        return rc;
    json_t *arr = json_object_get(c->in, "player_ids");
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > HG_LB_PAGE_MAX)
        return hg_error_set(&c->err, HG_EINVAL, "player_ids must be a list of at most %d ids",
                            HG_LB_PAGE_MAX);
    const char **ids = hg_malloc((n ? n : 1) * sizeof(*ids));
    for (size_t i = 0; i < n; i++) {
        ids[i] = json_string_value(json_array_get(arr, i));
        if (ids[i] == NULL) {
            hg_free(ids);
            return hg_error_set(&c->err, HG_EINVAL, "player_ids[%zu] is not a string", i);
        }
    }
    hg_lb_write_ranks(&c->out_text, &v, ids, n, 0);
    hg_free(ids);
    return 0;
}

void hg_native_leaderboards(hg_native_call_t *c, const char *rest, size_t n)
{
    hg_store_txn_t *txn = hg_store_txn_new(c->api->store);
    hg_lbs_t *l = c->api->leaderboards;
    int m = c->req->method;
    if (n == 0) {
        if (m == HTTP_POST)
            create(c, txn);
        else if (m == HTTP_GET)
            list(c);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET or POST on /v1/leaderboards");
        goto done;
    }
    if (rest[0] != '/') {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
        goto done;
    }
    const char *id = rest + 1, *slash = memchr(id, '/', n - 1);
    size_t idlen = slash ? (size_t)(slash - id) : n - 1;
    char bid[HG_LB_ID_MAX + 1];
    if (idlen == 0 || idlen > HG_LB_ID_MAX) {
        hg_error_set(&c->err, HG_ENOTFOUND, "no such leaderboard");
        goto done;
    }
    memcpy(bid, id, idlen);
    bid[idlen] = '\0';
    hg_lb_t *b = hg_lb_find(l, bid);
    if (b == NULL) {
        hg_error_set(&c->err, HG_ENOTFOUND, "no leaderboard %s", bid);
        goto done;
    }
    const char *sub = slash ? slash : "";
    size_t sl = slash ? n - 1 - idlen : 0;
#define IS(path) (sl == strlen(path) && memcmp(sub, path, sl) == 0)
    if (sl == 0) {
        if (m == HTTP_GET) {
            if (may_read(c) == 0)
                c->out = hg_lb_json(b);
        } else if (m == HTTP_DELETE) {
            if (hg_native_require(c, "leaderboards:Manage") == 0) {
                hg_lb_delete(l, b, txn);
                c->out = json_pack("{s:s,s:b}", "id", bid, "deleted", 1);
            }
        } else {
            hg_error_set(&c->err, HG_EMETHOD, "use GET or DELETE on a leaderboard");
        }
    } else if (IS("/scores")) {
        if (m == HTTP_POST)
            submit(c, b, txn);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use POST on scores");
    } else if (IS("/entries")) {
        if (m == HTTP_GET)
            entries(c, b);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET on entries");
    } else if (sl == 9 + HG_PLAYER_ID_LEN && memcmp(sub, "/entries/", 9) == 0) {
        char pid[HG_PLAYER_ID_LEN + 1];
        memcpy(pid, sub + 9, HG_PLAYER_ID_LEN);
        pid[HG_PLAYER_ID_LEN] = '\0';
        if (m == HTTP_GET)
            around(c, b, pid);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET on an entry");
    } else if (IS("/friends")) {
        if (m == HTTP_GET)
            friends(c, b);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use GET on friends");
    } else if (IS("/ranks")) {
        if (m == HTTP_POST)
            ranks(c, b);
        else
            hg_error_set(&c->err, HG_EMETHOD, "use POST on ranks");
    } else {
        hg_error_set(&c->err, HG_ENOROUTE, "no such endpoint");
    }
#undef IS
done:
    if (c->err.code) {
        c->out_text.len = 0;
        hg_store_txn_free(txn);
        txn = hg_store_txn_new(c->api->store);
    }
    hg_native_commit(c, txn);
}
