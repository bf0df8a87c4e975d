/* hangar — GameLift game session and player session operations (gamelift-wire.md §4) over
 * fleet/session.h, with SearchGameSessions' expressions from fleet/search.h.
 *
 * Choices where GameLift publishes nothing (limits in docs/limits.md):
 *   - CreateGameSession without Location picks an idle process in any of the fleet's locations
 *     (GameLift asks ANYWHERE fleets for one);
 *   - a replayed IdempotencyToken (or the deprecated GameSessionId) with a different
 *     MaximumPlayerSessionCount, Name or Location is IdempotentParameterMismatchException;
 *   - DescribePlayerSessions of an unknown PlayerSessionId or GameSessionId is NotFoundException,
 *     of a PlayerId without sessions an empty list;
 *   - SearchGameSessions pages hold at most 20 sessions (GameLift's cap); its NextToken is a
 *     position in the sorted result, so sessions that change between pages may shift;
 *   - GetGameSessionLogUrl: ANYWHERE fleets upload no logs, so it is NotFoundException for a
 *     known session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/gamelift/gamelift.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "fleet/search.h"
#include "fleet/session.h"

#define SEARCH_PAGE_MAX 20

static hg_fleet_t *FL(hg_gl_call_t *c)
{
    return c->api->fleet;
}

/* ---- renderers (the HTTP API shapes) ---- */

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

static json_t *render_gs(const hg_fl_gsession_t *gs)
{
    json_t *o = json_object();
    json_object_set_new(o, "GameSessionId", json_string(gs->arn));
    set_str(o, "Name", gs->name);
    json_object_set_new(o, "FleetId", json_string(gs->fleet->id));
    json_object_set_new(o, "FleetArn", json_string(gs->fleet->arn));
    json_object_set_new(o, "CreationTime", hg_gl_time(gs->created_ms));
    if (gs->status == HG_GS_TERMINATED)
        json_object_set_new(o, "TerminationTime", hg_gl_time(gs->terminated_ms));
    json_object_set_new(o, "CurrentPlayerSessionCount", json_integer((json_int_t)gs->nplayers));
    json_object_set_new(o, "MaximumPlayerSessionCount", json_integer(gs->max_players));
    json_object_set_new(o, "Status", json_string(hg_gs_status_name(gs->status)));
    set_str(o, "StatusReason", hg_gs_reason_name(gs->reason));
    json_object_set(o, "GameProperties", gs->props);
    set_str(o, "IpAddress", gs->ip);
    set_str(o, "DnsName", gs->dns);
    if (gs->port > 0)
        json_object_set_new(o, "Port", json_integer(gs->port));
    json_object_set_new(o, "PlayerSessionCreationPolicy",
                        json_string(gs->deny_all ? "DENY_ALL" : "ACCEPT_ALL"));
    set_str(o, "CreatorId", gs->creator);
    set_str(o, "GameSessionData", gs->data);
    set_str(o, "MatchmakerData", gs->matchmaker_data);
    json_object_set_new(o, "Location", json_string(gs->location));
    return o;
}

static json_t *render_gs_detail(const hg_fl_gsession_t *gs)
{
    return json_pack("{s:o,s:s}", "GameSession", render_gs(gs), "ProtectionPolicy",
                     gs->protect ? "FullProtection" : "NoProtection");
}

static json_t *render_ps(const hg_fl_psession_t *ps)
{
    const hg_fl_gsession_t *gs = ps->gs;
    json_t *o = json_object();
    json_object_set_new(o, "PlayerSessionId", json_string(ps->id));
    json_object_set_new(o, "PlayerId", json_string(ps->player_id));
    json_object_set_new(o, "GameSessionId", json_string(gs->arn));
    json_object_set_new(o, "FleetId", json_string(gs->fleet->id));
    json_object_set_new(o, "FleetArn", json_string(gs->fleet->arn));
    json_object_set_new(o, "CreationTime", hg_gl_time(ps->created_ms));
    if (ps->status == HG_PS_COMPLETED || ps->status == HG_PS_TIMEDOUT)
        json_object_set_new(o, "TerminationTime", hg_gl_time(ps->terminated_ms));
    json_object_set_new(o, "Status", json_string(hg_ps_status_name(ps->status)));
    set_str(o, "IpAddress", gs->ip);
    set_str(o, "DnsName", gs->dns);
    if (gs->port > 0)
        json_object_set_new(o, "Port", json_integer(gs->port));
    set_str(o, "PlayerData", ps->data);
    return o;
}

/* The same shapes as render_gs / render_ps, written as text (CreateGameSession and
 * CreatePlayerSessions are answered at placement rates; no jansson tree per answer). */
static void w_str(hg_buf_t *b, const char *k, const char *v)
{
    if (v && *v) {
        hg_buf_puts(b, ",");
        hg_jsonw_key(b, k);
        hg_jsonw_str(b, v);
    }
}

static void w_int(hg_buf_t *b, const char *k, int64_t v)
{
    hg_buf_puts(b, ",");
    hg_jsonw_key(b, k);
    hg_jsonw_int(b, v);
}

static void w_time(hg_buf_t *b, const char *k, int64_t ms)
{
    hg_buf_puts(b, ",");
    hg_jsonw_key(b, k);
    hg_jsonw_time_ms(b, ms);
}

static void write_gs(hg_buf_t *b, const hg_fl_gsession_t *gs)
{
    hg_buf_puts(b, "{\"GameSessionId\":");
    hg_jsonw_str(b, gs->arn);
    w_str(b, "Name", gs->name);
    w_str(b, "FleetId", gs->fleet->id);
    w_str(b, "FleetArn", gs->fleet->arn);
    w_time(b, "CreationTime", gs->created_ms);
    if (gs->status == HG_GS_TERMINATED)
        w_time(b, "TerminationTime", gs->terminated_ms);
    w_int(b, "CurrentPlayerSessionCount", (int64_t)gs->nplayers);
    w_int(b, "MaximumPlayerSessionCount", gs->max_players);
    w_str(b, "Status", hg_gs_status_name(gs->status));
    w_str(b, "StatusReason", hg_gs_reason_name(gs->reason));
    hg_buf_puts(b, ",\"GameProperties\":");
    hg_jsonw_value(b, gs->props);
    w_str(b, "IpAddress", gs->ip);
    w_str(b, "DnsName", gs->dns);
    if (gs->port > 0)
        w_int(b, "Port", gs->port);
    w_str(b, "PlayerSessionCreationPolicy", gs->deny_all ? "DENY_ALL" : "ACCEPT_ALL");
    w_str(b, "CreatorId", gs->creator);
    w_str(b, "GameSessionData", gs->data);
    w_str(b, "MatchmakerData", gs->matchmaker_data);
    w_str(b, "Location", gs->location);
    hg_buf_puts(b, "}");
}

static void write_ps(hg_buf_t *b, const hg_fl_psession_t *ps)
{
    const hg_fl_gsession_t *gs = ps->gs;
    hg_buf_puts(b, "{\"PlayerSessionId\":");
    hg_jsonw_str(b, ps->id);
    w_str(b, "PlayerId", ps->player_id);
    w_str(b, "GameSessionId", gs->arn);
    w_str(b, "FleetId", gs->fleet->id);
    w_str(b, "FleetArn", gs->fleet->arn);
    w_time(b, "CreationTime", ps->created_ms);
    if (ps->status == HG_PS_COMPLETED || ps->status == HG_PS_TIMEDOUT)
        w_time(b, "TerminationTime", ps->terminated_ms);
    w_str(b, "Status", hg_ps_status_name(ps->status));
    w_str(b, "IpAddress", gs->ip);
    w_str(b, "DnsName", gs->dns);
    if (gs->port > 0)
        w_int(b, "Port", gs->port);
    w_str(b, "PlayerData", ps->data);
    hg_buf_puts(b, "}");
}

/* ---- selectors ---- */

/* The fleet named by FleetId xor AliasId (a TERMINAL alias fails with its message). required:
 * one of them must be there; otherwise *f is NULL when neither is. */
static int target_fleet(hg_gl_call_t *c, int required, hg_fl_fleet_t **f)
{
    const char *fid = hg_gl_str(c->in, "FleetId"), *aid = hg_gl_str(c->in, "AliasId");
    *f = NULL;
    if (fid && aid)
        return hg_error_set(&c->err, HG_EINVAL, "Specify FleetId or AliasId, not both");
    if (aid) {
        hg_fl_alias_t *a;
        int rc = hg_fl_alias_get(FL(c), aid, &a, &c->err);
        if (rc < 0 || (rc = hg_fl_alias_resolve(a, &fid, &c->err)) < 0)
            return rc;
    }
    if (fid == NULL)
        return required ? hg_error_set(&c->err, HG_EINVAL, "Either FleetId or AliasId is required")
                        : 0;
    return hg_fl_fleet_get(FL(c), fid, f, &c->err);
}

static int seq_token(hg_gl_call_t *c, const char *kind, uint64_t *seq)
{
    const char *p;
    *seq = 0;
    int rc = hg_gl_token_decode(c->in, kind, &p, &c->err);
    if (rc < 0 || p == NULL)
        return rc;
    char *end;
    *seq = strtoull(p, &end, 10);
    if (end == p || *end || *seq == 0)
        return hg_error_set(&c->err, HG_EINVAL, "Invalid NextToken");
    return 0;
}

/* ---- game sessions ---- */

static int create_game_session(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = target_fleet(c, 1, &f);
    if (rc < 0)
        return rc;
    const char *token = hg_gl_str(c->in, "IdempotencyToken");
    if (token == NULL)
        token = hg_gl_str(c->in, "GameSessionId"); /* its deprecated name */
    hg_fl_gs_params_t p = {
        .location = hg_gl_str(c->in, "Location"),
        .name = hg_gl_str(c->in, "Name"),
        .creator = hg_gl_str(c->in, "CreatorId"),
        .token = token,
        .data = hg_gl_str(c->in, "GameSessionData"),
        .props = json_object_get(c->in, "GameProperties"),
        .max_players = hg_gl_int(c->in, "MaximumPlayerSessionCount", 0),
    };
    hg_fl_gsession_t *gs;
    int existed;
    if ((rc = hg_fl_gs_create(FL(c), f, &p, c->txn, &gs, &existed, &c->err)) < 0)
        return rc;
    hg_buf_puts(&c->out_text, "{\"GameSession\":");
    write_gs(&c->out_text, gs);
    hg_buf_puts(&c->out_text, "}");
    return 0;
}

/* DescribeGameSessions and DescribeGameSessionDetails. */
static int describe_sessions(hg_gl_call_t *c, int details)
{
    const char *member = details ? "GameSessionDetails" : "GameSessions";
    json_t *(*render)(const hg_fl_gsession_t *) = details ? render_gs_detail : render_gs;
    const char *gs_id = hg_gl_str(c->in, "GameSessionId"),
               *filter = hg_gl_str(c->in, "StatusFilter");
    int status = -1;
    if (filter && ((status = hg_gs_status_parse(filter)) < 0 || status == HG_GS_ERROR))
        return hg_error_set(&c->err, HG_EINVAL,
                            "StatusFilter must be ACTIVE, TERMINATED, ACTIVATING or TERMINATING");
    hg_fl_fleet_t *f;
    int rc = target_fleet(c, 0, &f);
    if (rc < 0)
        return rc;
    if (gs_id) {
        hg_fl_gsession_t *gs = hg_fl_gs_find(FL(c), gs_id);
        json_t *arr = json_array();
        if (gs && (f == NULL || gs->fleet == f) && (status < 0 || (int)gs->status == status))
            json_array_append_new(arr, render(gs));
        else if (gs == NULL) {
            json_decref(arr);
            return hg_error_set(&c->err, HG_ENOTFOUND, "Game session %s not found", gs_id);
        }
        c->out = hg_gl_wrap(member, arr);
        return 0;
    }
    if (f == NULL)
        return hg_error_set(&c->err, HG_EINVAL,
                            "One of FleetId, AliasId or GameSessionId is required");
    uint64_t after;
    if ((rc = seq_token(c, "g", &after)) < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_gsession_t **out = hg_malloc((limit + 1) * sizeof(*out));
    int more;
    size_t n = hg_fl_gs_list(f, hg_gl_str(c->in, "Location"), status, after, limit, out, &more);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render(out[i]));
    c->out = hg_gl_wrap(member, arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("g", out[n - 1]->seq));
    hg_free(out);
    return 0;
}

static int describe_game_sessions(hg_gl_call_t *c)
{
    return describe_sessions(c, 0);
}

static int describe_game_session_details(hg_gl_call_t *c)
{
    return describe_sessions(c, 1);
}

static int update_game_session(hg_gl_call_t *c)
{
    hg_fl_gsession_t *gs;
    int rc = hg_fl_gs_get(FL(c), hg_gl_str(c->in, "GameSessionId"), &gs, &c->err);
    if (rc < 0)
        return rc;
    const char *pol = hg_gl_str(c->in, "PlayerSessionCreationPolicy");
    const char *prot = hg_gl_str(c->in, "ProtectionPolicy");
    json_t *jm = json_object_get(c->in, "MaximumPlayerSessionCount");
    rc = hg_fl_gs_update(FL(c), gs, jm ? json_integer_value(jm) : -1, hg_gl_str(c->in, "Name"),
                         pol ? strcmp(pol, "DENY_ALL") == 0 : -1,
                         prot ? strcmp(prot, "FullProtection") == 0 : -1,
                         json_object_get(c->in, "GameProperties"), c->txn, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("GameSession", render_gs(gs));
    return 0;
}

static int get_game_session_log_url(hg_gl_call_t *c)
{
    const char *id = hg_gl_str(c->in, "GameSessionId");
    if (hg_fl_gs_find(FL(c), id) == NULL)
        return hg_error_set(&c->err, HG_ENOTFOUND, "Game session %s not found", id);
    return hg_error_set(&c->err, HG_ENOTFOUND,
                        "No logs are stored for game session %s: ANYWHERE fleets upload none", id);
}

/* ---- SearchGameSessions ---- */

typedef struct hit {
    hg_fl_gsession_t *gs;
    hg_gs_view_t v;
    const char **keys; /* nprops keys, then nprops values */
} hit_t;

static void view_of(hit_t *h)
{
    const hg_fl_gsession_t *gs = h->gs;
    size_t n = json_array_size(gs->props);
    h->keys = hg_malloc((2 * n + 1) * sizeof(*h->keys));
    for (size_t i = 0; i < n; i++) {
        json_t *kv = json_array_get(gs->props, i);
        h->keys[i] = json_string_value(json_object_get(kv, "Key"));
        h->keys[n + i] = json_string_value(json_object_get(kv, "Value"));
    }
    h->v = (hg_gs_view_t){
        .id = gs->arn,
        .name = gs->name,
        .prop_keys = h->keys,
        .prop_vals = h->keys + n,
        .nprops = n,
        .max_players = gs->max_players,
        .players = (int64_t)gs->nplayers,
        .created_ms = gs->created_ms,
        .available = !gs->deny_all && (int64_t)gs->nplayers < gs->max_players,
    };
}

static _Thread_local const hg_gs_sort_t *sort_by;

static int cmp_hit(const void *a, const void *b)
{
    const hit_t *x = a, *y = b;
    int r = sort_by ? hg_gs_sort_cmp(sort_by, &x->v, &y->v) : 0;
    if (r)
        return r;
    return x->gs->seq < y->gs->seq ? -1 : x->gs->seq > y->gs->seq;
}

static int search_game_sessions(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = target_fleet(c, 1, &f);
    if (rc < 0)
        return rc;
    const char *loc = hg_gl_str(c->in, "Location");
    json_t *jf = json_object_get(c->in, "FilterExpression");
    json_t *js = json_object_get(c->in, "SortExpression");
    hg_gs_filter_t *filter = NULL;
    hg_gs_sort_t sort;
    if (jf && (rc = hg_gs_filter_parse_n(json_string_value(jf), json_string_length(jf), &filter,
                                         &c->err)) < 0)
        return rc;
    if (js && (rc = hg_gs_sort_parse_n(json_string_value(js), json_string_length(js), &sort,
                                       &c->err)) < 0) {
        hg_gs_filter_free(filter);
        return rc;
    }
    uint64_t offset;
    if ((rc = seq_token(c, "s", &offset)) < 0) {
        hg_gs_filter_free(filter);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, SEARCH_PAGE_MAX, SEARCH_PAGE_MAX);
    hit_t *hits = hg_malloc((f->ngsessions + 1) * sizeof(*hits));
    size_t n = 0;
    hg_list_t *q;
    hg_list_foreach (q, &f->gsessions) {
        hg_fl_gsession_t *gs = hg_container_of(q, hg_fl_gsession_t, fnode);
        if (gs->status != HG_GS_ACTIVE || (loc && strcmp(loc, gs->location) != 0))
            continue;
        hit_t *h = &hits[n];
        h->gs = gs;
        view_of(h);
        if (hg_gs_filter_match(filter, &h->v))
            n++;
        else
            hg_free(h->keys);
    }
    sort_by = js ? &sort : NULL;
    if (n > 1)
        qsort(hits, n, sizeof(*hits), cmp_hit);
    sort_by = NULL;
    /* the token holds 1 + the position of the next session */
    size_t start = offset ? (size_t)offset - 1 : 0;
    json_t *arr = json_array();
    size_t i;
    for (i = start; i < n && i < start + limit; i++)
        json_array_append_new(arr, render_gs(hits[i].gs));
    c->out = hg_gl_wrap("GameSessions", arr);
    if (i < n)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("s", (uint64_t)i + 1));
    for (size_t k = 0; k < n; k++)
        hg_free(hits[k].keys);
    hg_free(hits);
    hg_gs_filter_free(filter);
    return 0;
}

/* ---- player sessions ---- */

static int create_players(hg_gl_call_t *c, const char *const *ids, const char *const *data,
                          size_t n, hg_fl_psession_t **out)
{
    hg_fl_gsession_t *gs;
    int rc = hg_fl_gs_get(FL(c), hg_gl_str(c->in, "GameSessionId"), &gs, &c->err);
    if (rc < 0)
        return rc;
    return hg_fl_ps_create(FL(c), gs, ids, data, n, c->txn, out, &c->err);
}

static int create_player_session(hg_gl_call_t *c)
{
    const char *id = hg_gl_str(c->in, "PlayerId"), *data = hg_gl_str(c->in, "PlayerData");
    hg_fl_psession_t *ps;
    int rc = create_players(c, &id, &data, 1, &ps);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("PlayerSession", render_ps(ps));
    return 0;
}

static int create_player_sessions(hg_gl_call_t *c)
{
    json_t *ids = json_object_get(c->in, "PlayerIds");
    json_t *map = json_object_get(c->in, "PlayerDataMap");
    size_t n = json_array_size(ids);
    const char *idv[25], *datav[25];
    hg_fl_psession_t *out[25];
    if (n == 0 || n > 25)
        return hg_error_set(&c->err, HG_EINVAL, "PlayerIds: 1 to 25 player ids");
    for (size_t i = 0; i < n; i++) {
        idv[i] = json_string_value(json_array_get(ids, i));
        datav[i] = json_string_value(json_object_get(map, idv[i]));
    }
    int rc = create_players(c, idv, datav, n, out);
    if (rc < 0)
        return rc;
    hg_buf_puts(&c->out_text, "{\"PlayerSessions\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hg_buf_puts(&c->out_text, ",");
        write_ps(&c->out_text, out[i]);
    }
    hg_buf_puts(&c->out_text, "]}");
    return 0;
}

static int describe_player_sessions(hg_gl_call_t *c)
{
    const char *ps_id = hg_gl_str(c->in, "PlayerSessionId"),
               *gs_id = hg_gl_str(c->in, "GameSessionId"), *player = hg_gl_str(c->in, "PlayerId"),
               *filter = hg_gl_str(c->in, "PlayerSessionStatusFilter");
    if (!!ps_id + !!gs_id + !!player != 1)
        return hg_error_set(&c->err, HG_EINVAL,
                            "Exactly one of PlayerSessionId, GameSessionId and PlayerId is "
                            "required");
    if (ps_id) {
        hg_fl_psession_t *ps = hg_fl_ps_find(FL(c), ps_id);
        if (ps == NULL)
            return hg_error_set(&c->err, HG_ENOTFOUND, "Player session %s not found", ps_id);
        json_t *arr = json_array();
        json_array_append_new(arr, render_ps(ps));
        c->out = hg_gl_wrap("PlayerSessions", arr);
        return 0;
    }
    int status = -1;
    if (filter && gs_id && (status = hg_ps_status_parse(filter)) < 0)
        return hg_error_set(&c->err, HG_EINVAL,
                            "PlayerSessionStatusFilter must be RESERVED, ACTIVE, COMPLETED or "
                            "TIMEDOUT");
    uint64_t after;
    int rc = seq_token(c, "p", &after);
    if (rc < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_psession_t **out = hg_malloc((limit + 1) * sizeof(*out));
    int more;
    size_t n;
    if (gs_id) {
        hg_fl_gsession_t *gs = hg_fl_gs_find(FL(c), gs_id);
        if (gs == NULL) {
            hg_free(out);
            return hg_error_set(&c->err, HG_ENOTFOUND, "Game session %s not found", gs_id);
        }
        n = hg_fl_ps_list_gs(gs, status, after, limit, out, &more);
    } else {
        n = hg_fl_ps_list_player(FL(c), player, after, limit, out, &more);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_ps(out[i]));
    c->out = hg_gl_wrap("PlayerSessions", arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("p", out[n - 1]->seq));
    hg_free(out);
    return 0;
}

#define OP(fn)                                                                                     \
    static int fn##_op(hg_gl_call_t *c)                                                            \
    {                                                                                              \
        return hg_gl_fit(c, fn(c));                                                                \
    }
OP(create_game_session)
OP(describe_game_sessions)
OP(describe_game_session_details)
OP(update_game_session)
OP(get_game_session_log_url)
OP(search_game_sessions)
OP(create_player_session)
OP(create_player_sessions)
OP(describe_player_sessions)
#undef OP

const hg_gl_handler_t hg_gl_session_handlers[] = {
    {"CreateGameSession", create_game_session_op},
    {"DescribeGameSessions", describe_game_sessions_op},
    {"DescribeGameSessionDetails", describe_game_session_details_op},
    {"UpdateGameSession", update_game_session_op},
    {"GetGameSessionLogUrl", get_game_session_log_url_op},
    {"SearchGameSessions", search_game_sessions_op},
    {"CreatePlayerSession", create_player_session_op},
    {"CreatePlayerSessions", create_player_sessions_op},
    {"DescribePlayerSessions", describe_player_sessions_op},
    {NULL, NULL},
};
