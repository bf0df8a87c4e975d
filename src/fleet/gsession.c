/* hangar — game sessions and player sessions (design and state tables in session.h).
 *
 * Memory is the read path: every game session the module keeps is in `gsessions` (by ARN) and
 * in its fleet's creation-ordered list; player sessions are in `psessions` (by id), in their
 * game session's list and in their player's list. Sequence numbers (the module's one sequence)
 * give every list its order and every page token its position.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/vec.h"
#include "fleet/fleet_int.h"

static const char *const gs_status_names[] = {"ACTIVATING", "ACTIVE", "TERMINATING", "TERMINATED",
                                              "ERROR"};
static const char *const ps_status_names[] = {"RESERVED", "ACTIVE", "COMPLETED", "TIMEDOUT"};

const char *hg_gs_status_name(hg_gs_status_t s)
{
    return (unsigned)s < 5 ? gs_status_names[s] : "ERROR";
}

const char *hg_gs_reason_name(hg_gs_reason_t r)
{
    switch (r) {
    case HG_GS_REASON_INTERRUPTED: return "INTERRUPTED";
    case HG_GS_REASON_TRIGGERED: return "TRIGGERED_ON_PROCESS_TERMINATE";
    case HG_GS_REASON_FORCE: return "FORCE_TERMINATED";
    case HG_GS_REASON_NONE: break;
    }
    return NULL;
}

const char *hg_ps_status_name(hg_ps_status_t s)
{
    return (unsigned)s < 4 ? ps_status_names[s] : "COMPLETED";
}

int hg_ps_status_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, ps_status_names[i]) == 0)
            return i;
    return -1;
}

int hg_gs_status_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, gs_status_names[i]) == 0)
            return i;
    return -1;
}

/* ---- records ---- */

static void w_str(hg_buf_t *b, const char *key, const char *v)
{
    if (v == NULL)
        return;
    hg_buf_append(b, ",", 1);
    hg_jsonw_key(b, key);
    hg_jsonw_str(b, v);
}

static void w_int(hg_buf_t *b, const char *key, int64_t v)
{
    hg_buf_append(b, ",", 1);
    hg_jsonw_key(b, key);
    hg_jsonw_int(b, v);
}

void hg_fl_gs_save(const hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_append(&b, "{", 1);
    hg_jsonw_key(&b, "fleet");
    hg_jsonw_str(&b, gs->fleet->id);
    w_str(&b, "location", gs->location);
    w_str(&b, "compute", gs->compute);
    w_str(&b, "ip", gs->ip);
    w_str(&b, "dns", gs->dns);
    w_int(&b, "port", gs->port);
    w_str(&b, "proc", gs->proc_key);
    w_str(&b, "name", gs->name);
    w_str(&b, "creator", gs->creator);
    w_str(&b, "token", gs->token);
    w_str(&b, "data", gs->data);
    w_str(&b, "mm", gs->matchmaker_data);
    hg_buf_append(&b, ",", 1);
    hg_jsonw_key(&b, "props");
    hg_jsonw_value(&b, gs->props);
    w_int(&b, "max", gs->max_players);
    w_str(&b, "status", hg_gs_status_name(gs->status));
    w_int(&b, "reason", gs->reason);
    w_int(&b, "deny", gs->deny_all);
    w_int(&b, "protect", gs->protect);
    w_int(&b, "created_ms", gs->created_ms);
    w_int(&b, "terminated_ms", gs->terminated_ms);
    w_int(&b, "seq", (int64_t)gs->seq);
    hg_buf_append(&b, "}", 1);
    hg_store_put_text(txn, COLL_GSESSIONS, gs->arn, hg_buf_steal(&b, NULL));
}

static void ps_save(const hg_fl_psession_t *ps, hg_store_txn_t *txn)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_append(&b, "{", 1);
    hg_jsonw_key(&b, "gs");
    hg_jsonw_str(&b, ps->gs->arn);
    w_str(&b, "player", ps->player_id);
    w_str(&b, "data", ps->data);
    w_str(&b, "status", hg_ps_status_name(ps->status));
    w_int(&b, "created_ms", ps->created_ms);
    w_int(&b, "terminated_ms", ps->terminated_ms);
    w_int(&b, "seq", (int64_t)ps->seq);
    hg_buf_append(&b, "}", 1);
    hg_store_put_text(txn, COLL_PSESSIONS, ps->id, hg_buf_steal(&b, NULL));
}

/* ---- freeing and forgetting ---- */

static void ps_free(hg_fl_psession_t *ps)
{
    hg_free(ps->player_id);
    hg_free(ps->data);
    hg_free(ps);
}

static void gs_free(hg_fl_gsession_t *gs)
{
    while (!hg_list_empty(&gs->players)) {
        hg_fl_psession_t *ps = hg_container_of(gs->players.next, hg_fl_psession_t, gnode);
        hg_list_remove(&ps->gnode);
        ps_free(ps);
    }
    hg_free(gs->arn);
    hg_free(gs->location);
    hg_free(gs->compute);
    hg_free(gs->ip);
    hg_free(gs->dns);
    hg_free(gs->proc_key);
    hg_free(gs->name);
    hg_free(gs->creator);
    hg_free(gs->token);
    hg_free(gs->data);
    hg_free(gs->matchmaker_data);
    json_decref(gs->props);
    hg_free(gs);
}

void hg_fl_gs_free_all(hg_fleet_t *fl)
{
    size_t it = 0;
    void *v;
    while (hg_map_next(&fl->gsessions, &it, NULL, &v))
        gs_free(v);
    it = 0;
    while (hg_map_next(&fl->players, &it, NULL, &v))
        hg_free(v);
    hg_map_free(&fl->gsessions);
    hg_map_free(&fl->gs_tokens);
    hg_map_free(&fl->psessions);
    hg_map_free(&fl->players);
}

static void token_key(const hg_fl_fleet_t *f, const char *token, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->id, token);
}

static void player_index_add(hg_fleet_t *fl, hg_fl_psession_t *ps)
{
    hg_fl_player_t *pl = hg_map_get(&fl->players, ps->player_id);
    if (pl == NULL) {
        pl = hg_calloc(1, sizeof(*pl));
        hg_list_init(&pl->sessions);
        hg_map_set(&fl->players, ps->player_id, pl);
    }
    hg_list_insert_tail(&pl->sessions, &ps->pnode);
    pl->n++;
}

static void player_index_del(hg_fleet_t *fl, hg_fl_psession_t *ps)
{
    hg_fl_player_t *pl = hg_map_get(&fl->players, ps->player_id);
    hg_list_remove(&ps->pnode);
    if (pl && --pl->n == 0) {
        hg_map_del(&fl->players, ps->player_id);
        hg_free(pl);
    }
}

/* An ended game session goes for good, with its player sessions (retention). */
static void gs_forget(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    hg_list_t *q;
    hg_list_foreach (q, &gs->players) {
        hg_fl_psession_t *ps = hg_container_of(q, hg_fl_psession_t, gnode);
        hg_list_remove(&ps->tnode);
        player_index_del(fl, ps);
        hg_map_del(&fl->psessions, ps->id);
        hg_store_del(txn, COLL_PSESSIONS, ps->id);
    }
    if (gs->token) {
        char key[256];
        token_key(gs->fleet, gs->token, key, sizeof(key));
        if (hg_map_get(&fl->gs_tokens, key) == gs)
            hg_map_del(&fl->gs_tokens, key);
    }
    if (gs->status == HG_GS_TERMINATED && hg_list_linked(&gs->tnode))
        fl->nended--;
    hg_list_remove(&gs->tnode);
    hg_list_remove(&gs->fnode);
    gs->fleet->ngsessions--;
    hg_map_del(&fl->gsessions, gs->arn);
    hg_store_del(txn, COLL_GSESSIONS, gs->arn);
    gs_free(gs);
}

/* Forget the oldest ended sessions beyond the count and age limits. */
static void retention(hg_fleet_t *fl, int64_t now, hg_store_txn_t *txn)
{
    while (!hg_list_empty(&fl->ended)) {
        hg_fl_gsession_t *gs = hg_container_of(fl->ended.next, hg_fl_gsession_t, tnode);
        if (fl->nended <= HG_FL_MAX_ENDED_SESSIONS && gs->terminated_ms + HG_FL_GS_RETAIN_MS > now)
            break;
        gs_forget(fl, gs, txn);
    }
}

void hg_fl_gs_drop_fleet(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn)
{
    while (!hg_list_empty(&f->gsessions)) {
        hg_fl_gsession_t *gs = hg_container_of(f->gsessions.next, hg_fl_gsession_t, fnode);
        if (gs->process) {
            gs->process->gs = NULL;
            gs->process = NULL;
        }
        gs_forget(fl, gs, txn);
    }
}

/* ---- ending ---- */

/* A player left an ACTIVE game session (not one that is ending). */
static void slot_freed(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    if (gs->status == HG_GS_ACTIVE && fl->sink.slot_freed)
        fl->sink.slot_freed(fl->sink.ud, txn, gs);
}

static void ps_finish(hg_fleet_t *fl, hg_fl_psession_t *ps, hg_ps_status_t st, int64_t now,
                      hg_store_txn_t *txn)
{
    (void)fl;
    ps->status = st;
    ps->terminated_ms = now;
    hg_list_remove(&ps->tnode);
    ps->gs->nplayers--;
    ps_save(ps, txn);
}

void hg_fl_gs_end(hg_fleet_t *fl, hg_fl_gsession_t *gs, int release, hg_store_txn_t *txn)
{
    if (gs->status == HG_GS_TERMINATED)
        return;
    int64_t now = hg_fl_now(fl);
    hg_list_t *q;
    hg_list_foreach (q, &gs->players) {
        hg_fl_psession_t *ps = hg_container_of(q, hg_fl_psession_t, gnode);
        if (ps->status == HG_PS_RESERVED || ps->status == HG_PS_ACTIVE)
            ps_finish(fl, ps, HG_PS_COMPLETED, now, txn);
    }
    gs->status = HG_GS_TERMINATED;
    gs->terminated_ms = now;
    hg_list_remove(&gs->tnode);
    hg_list_insert_tail(&fl->ended, &gs->tnode);
    fl->nended++;
    hg_fl_process_t *p = gs->process;
    gs->process = NULL;
    if (p && p->gs == gs) {
        if (release)
            hg_fl_proc_host(fl, p, NULL, txn);
        else
            p->gs = NULL;
    }
    hg_fl_gs_save(gs, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "game session ended id=%s", gs->arn);
    if (fl->sink.session)
        fl->sink.session(fl->sink.ud, txn, gs);
    retention(fl, now, txn);
}

size_t hg_fl_gs_tick(hg_fleet_t *fl, int64_t now, size_t budget, hg_store_txn_t *txn)
{
    size_t n = 0;
    while (n < budget && !hg_list_empty(&fl->t_activating)) {
        hg_fl_gsession_t *gs = hg_container_of(fl->t_activating.next, hg_fl_gsession_t, tnode);
        if (gs->deadline_ms > now)
            break;
        HG_LOG(HG_LOG_WARN, "fleet", "game session %s not activated in time", gs->arn);
        fl->gs_activation_timeouts++;
        hg_fl_gs_end(fl, gs, 1, txn);
        n++;
    }
    while (n < budget && !hg_list_empty(&fl->t_reserved)) {
        hg_fl_psession_t *ps = hg_container_of(fl->t_reserved.next, hg_fl_psession_t, tnode);
        if (ps->created_ms + fl->to.reservation_ms > now)
            break;
        fl->ps_timeouts++;
        ps_finish(fl, ps, HG_PS_TIMEDOUT, now, txn);
        slot_freed(fl, ps->gs, txn);
        n++;
    }
    if (n < budget && !hg_list_empty(&fl->ended)) {
        hg_fl_gsession_t *gs = hg_container_of(fl->ended.next, hg_fl_gsession_t, tnode);
        if (gs->terminated_ms + HG_FL_GS_RETAIN_MS <= now) {
            retention(fl, now, txn);
            n++;
        }
    }
    return n;
}

/* ---- game sessions ---- */

hg_fl_gsession_t *hg_fl_gs_find(hg_fleet_t *fl, const char *arn)
{
    return hg_map_get(&fl->gsessions, arn);
}

int hg_fl_gs_get(hg_fleet_t *fl, const char *arn, hg_fl_gsession_t **out, hg_error_t *err)
{
    *out = hg_map_get(&fl->gsessions, arn);
    if (*out == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Game session %s not found", arn);
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The fleet's ResourceCreationLimitPolicy: at most N new sessions per creator per period. */
static int creation_limit_ok(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *creator,
                             hg_error_t *err)
{
    json_t *pol = json_object_get(f->attrs, "ResourceCreationLimitPolicy");
    json_t *jn = json_object_get(pol, "NewGameSessionsPerCreator");
    json_t *jp = json_object_get(pol, "PolicyPeriodInMinutes");
    if (creator == NULL || !json_is_integer(jn))
        return 0;
    int64_t limit = json_integer_value(jn);
    int64_t period_ms = (json_is_integer(jp) ? json_integer_value(jp) : 0) * 60000;
    int64_t since = hg_fl_now(fl) - period_ms;
    int64_t n = 0;
    for (const hg_list_t *q = f->gsessions.prev; q != &f->gsessions; q = q->prev) {
        const hg_fl_gsession_t *gs = hg_container_of(q, hg_fl_gsession_t, fnode);
        if (gs->created_ms < since)
            break;
        if (gs->creator && strcmp(gs->creator, creator) == 0)
            n++;
    }
    if (n >= limit)
        return hg_error_set(err, HG_ELIMIT,
                            "Creator %s has created %lld game sessions in the last %lld minutes; "
                            "the fleet's resource creation limit policy allows %lld",
                            creator, (long long)n, (long long)(period_ms / 60000),
                            (long long)limit);
    return 0;
}

static hg_fl_process_t *pick_idle(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location)
{
    for (size_t i = 0; i < f->nlocations; i++) {
        if (location && strcmp(location, f->locations[i]) != 0)
            continue;
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", f->id, f->locations[i]);
        hg_fl_place_t *pl = hg_map_get(&fl->places, key);
        if (pl && pl->nidle)
            return hg_container_of(pl->idle.next, hg_fl_process_t, inode);
    }
    return NULL;
}

static int valid_props(json_t *props, hg_error_t *err)
{
    if (props == NULL)
        return 0;
    if (!json_is_array(props) || json_array_size(props) > HG_FL_MAX_PROPS)
        return hg_error_set(err, HG_EINVAL, "GameProperties: at most %d Key/Value pairs",
                            HG_FL_MAX_PROPS);
    size_t i;
    json_t *kv;
    json_array_foreach (props, i, kv)
        if (!json_is_string(json_object_get(kv, "Key")) ||
            !json_is_string(json_object_get(kv, "Value")))
            return hg_error_set(err, HG_EINVAL, "GameProperties: each entry needs Key and Value");
    return 0;
}

int hg_fl_gs_create(hg_fleet_t *fl, hg_fl_fleet_t *f, const hg_fl_gs_params_t *prm,
                    hg_store_txn_t *txn, hg_fl_gsession_t **out, int *existed, hg_error_t *err)
{
    *existed = 0;
    char tkey[256];
    if (prm->token) {
        token_key(f, prm->token, tkey, sizeof(tkey));
        hg_fl_gsession_t *gs = hg_map_get(&fl->gs_tokens, tkey);
        if (gs) {
            if (gs->max_players != prm->max_players || !same_str(gs->name, prm->name) ||
                (prm->location && strcmp(prm->location, gs->location) != 0))
                return hg_error_set(err, HG_EIDEMPOTENT,
                                    "IdempotencyToken %s was used for game session %s with "
                                    "different parameters",
                                    prm->token, gs->arn);
            *out = gs;
            *existed = 1;
            return 0;
        }
    }
    int rc = hg_fl_fleet_check_active(f, err);
    if (rc < 0)
        return rc;
    if (prm->location && !hg_fl_fleet_has_location(fl, f, prm->location))
        return hg_error_set(err, HG_EINVAL, "Fleet %s has no location %s", f->id, prm->location);
    if (prm->max_players < 0 || prm->max_players > HG_FL_MAX_PLAYERS)
        return hg_error_set(err, HG_EINVAL,
                            "MaximumPlayerSessionCount must be between 0 and %d (GameLift's "
                            "limit of players per game session)",
                            HG_FL_MAX_PLAYERS);
    if ((rc = valid_props(prm->props, err)) < 0 ||
        (rc = creation_limit_ok(fl, f, prm->creator, err)) < 0)
        return rc;
    hg_fl_process_t *p = pick_idle(fl, f, prm->location);
    if (p == NULL)
        return hg_error_set(err, HG_EFLEETCAPACITY,
                            "No available server process in fleet %s%s%s to host a new game "
                            "session",
                            f->id, prm->location ? " location " : "",
                            prm->location ? prm->location : "");
    int64_t now = hg_fl_now(fl);
    const hg_fl_compute_t *c = p->compute;
    hg_fl_gsession_t *gs = hg_calloc(1, sizeof(*gs));
    char tail[64];
    if (prm->token)
        snprintf(tail, sizeof(tail), "%s", prm->token);
    else
        hg_fl_new_time_id("gsess-", now, tail, sizeof(tail));
    size_t n = strlen(fl->cfg.region) + strlen(f->id) + strlen(c->location) + strlen(tail) + 64;
    gs->arn = hg_malloc(n);
    snprintf(gs->arn, n, "arn:aws:gamelift:%s::gamesession/%s/%s/%s", fl->cfg.region, f->id,
             c->location, tail);
    if (hg_map_get(&fl->gsessions, gs->arn)) {
        /* a token reused after its session was forgotten while another holds the ARN */
        hg_free(gs->arn);
        hg_free(gs);
        return hg_error_set(err, HG_ECONFLICT, "Game session id %s is in use", tail);
    }
    gs->fleet = f;
    gs->location = hg_strdup(c->location);
    gs->compute = hg_strdup(c->name);
    gs->ip = hg_fl_strdup_opt(c->ip);
    gs->dns = hg_fl_strdup_opt(c->dns);
    gs->port = p->port;
    gs->proc_key = hg_strdup(p->key);
    gs->process = p;
    gs->name = hg_fl_strdup_opt(prm->name);
    gs->creator = hg_fl_strdup_opt(prm->creator);
    gs->token = prm->token ? hg_strdup(prm->token) : NULL;
    gs->data = hg_fl_strdup_opt(prm->data);
    gs->matchmaker_data = hg_fl_strdup_opt(prm->matchmaker_data);
    gs->props = prm->props ? json_deep_copy(prm->props) : json_array();
    gs->max_players = prm->max_players;
    gs->status = HG_GS_ACTIVATING;
    const char *prot =
        json_string_value(json_object_get(f->attrs, "NewGameSessionProtectionPolicy"));
    gs->protect = prot && strcmp(prot, "FullProtection") == 0;
    gs->created_ms = now;
    gs->deadline_ms = now + fl->to.activation_ms;
    gs->seq = fl->next_seq++;
    hg_list_init(&gs->players);
    hg_list_insert_tail(&f->gsessions, &gs->fnode);
    f->ngsessions++;
    hg_list_insert_tail(&fl->t_activating, &gs->tnode);
    hg_map_set(&fl->gsessions, gs->arn, gs);
    if (gs->token)
        hg_map_set(&fl->gs_tokens, tkey, gs);
    fl->gs_created++;
    hg_fl_proc_host(fl, p, gs, txn);
    hg_fl_gs_save(gs, txn);
    hg_fl_gs_push_start(fl, gs, txn);
    *out = gs;
    return 0;
}

/* CreateGameSession reaches the process only once the session is durable. */
static void on_start_committed(void *ud, int rc)
{
    void **h = ud;
    hg_fleet_t *fl = h[0];
    hg_fl_gsession_t *gs = rc == 0 ? hg_map_get(&fl->gsessions, (const char *)(h + 1)) : NULL;
    if (gs && gs->status == HG_GS_ACTIVATING && gs->process && gs->process->conn &&
        fl->sink.start_session)
        fl->sink.start_session(fl->sink.ud, gs->process, gs);
    hg_free(h);
}

void hg_fl_gs_push_start(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    size_t n = strlen(gs->arn) + 1;
    void **h = hg_malloc(sizeof(void *) + n);
    h[0] = fl;
    memcpy(h + 1, gs->arn, n);
    hg_store_txn_on_commit(txn, on_start_committed, h);
}

/* UpdateGameSession reaches the process only once the change is durable, like
 * CreateGameSession; the session may have ended meanwhile (then nothing is pushed). */
typedef struct update_push {
    hg_fleet_t *fl;
    char *arn, *reason, *ticket;
} update_push_t;

static void on_update_committed(void *ud, int rc)
{
    update_push_t *u = ud;
    hg_fleet_t *fl = u->fl;
    hg_fl_gsession_t *gs = rc == 0 ? hg_map_get(&fl->gsessions, u->arn) : NULL;
    if (gs && (gs->status == HG_GS_ACTIVATING || gs->status == HG_GS_ACTIVE) && gs->process &&
        gs->process->conn && fl->sink.update_session)
        fl->sink.update_session(fl->sink.ud, gs->process, gs, u->reason, u->ticket);
    hg_free(u->arn);
    hg_free(u->reason);
    hg_free(u->ticket);
    hg_free(u);
}

void hg_fl_gs_matchmaking_update(hg_fleet_t *fl, hg_fl_gsession_t *gs, const char *data,
                                 const char *reason, const char *ticket, hg_store_txn_t *txn)
{
    if (data) {
        hg_free(gs->matchmaker_data);
        gs->matchmaker_data = hg_strdup(data);
        hg_fl_gs_save(gs, txn);
    }
    update_push_t *u = hg_calloc(1, sizeof(*u));
    u->fl = fl;
    u->arn = hg_strdup(gs->arn);
    u->reason = hg_strdup(reason);
    u->ticket = ticket ? hg_strdup(ticket) : NULL;
    hg_store_txn_on_commit(txn, on_update_committed, u);
}

static int own_session(hg_fleet_t *fl, hg_fl_process_t *p, const char *arn, hg_fl_gsession_t **out,
                       hg_error_t *err)
{
    hg_fl_gsession_t *gs = hg_map_get(&fl->gsessions, arn);
    if (gs == NULL || strcmp(gs->proc_key, p->key) != 0)
        return hg_error_set(err, HG_ENOTFOUND, "Game session %s is not hosted by this process",
                            arn);
    *out = gs;
    return 0;
}

int hg_fl_gs_activate(hg_fleet_t *fl, hg_fl_process_t *p, const char *arn, hg_store_txn_t *txn,
                      hg_error_t *err)
{
    hg_fl_gsession_t *gs = NULL;
    int rc = own_session(fl, p, arn, &gs, err);
    if (rc < 0)
        return rc;
    if (gs->status == HG_GS_ACTIVE)
        return 0;
    if (gs->status != HG_GS_ACTIVATING)
        return hg_error_set(err, HG_EGSSTATUS, "Game session %s is %s, not ACTIVATING", arn,
                            hg_gs_status_name(gs->status));
    gs->status = HG_GS_ACTIVE;
    hg_list_remove(&gs->tnode);
    hg_fl_gs_save(gs, txn); /* the process's mirror is unchanged: it was "hosting" already */
    HG_LOG(HG_LOG_DEBUG, "fleet", "game session active id=%s", arn);
    if (fl->sink.session)
        fl->sink.session(fl->sink.ud, txn, gs);
    return 0;
}

static void merge_props(json_t *into, json_t *props)
{
    size_t i, j;
    json_t *kv, *old;
    json_array_foreach (props, i, kv) {
        const char *k = json_string_value(json_object_get(kv, "Key"));
        int found = 0;
        json_array_foreach (into, j, old) {
            if (strcmp(json_string_value(json_object_get(old, "Key")), k) == 0) {
                json_object_set(old, "Value", json_object_get(kv, "Value"));
                found = 1;
                break;
            }
        }
        if (!found)
            json_array_append_new(
                into, json_pack("{s:s,s:O}", "Key", k, "Value", json_object_get(kv, "Value")));
    }
}

int hg_fl_gs_update(hg_fleet_t *fl, hg_fl_gsession_t *gs, int64_t max_players, const char *name,
                    int deny_all, int protect, json_t *props, hg_store_txn_t *txn, hg_error_t *err)
{
    (void)fl;
    if (gs->status != HG_GS_ACTIVE && gs->status != HG_GS_ACTIVATING)
        return hg_error_set(err, HG_EGSSTATUS, "Game session %s is %s and cannot be updated",
                            gs->arn, hg_gs_status_name(gs->status));
    int rc;
    if (max_players > HG_FL_MAX_PLAYERS)
        return hg_error_set(err, HG_EINVAL, "MaximumPlayerSessionCount must be at most %d",
                            HG_FL_MAX_PLAYERS);
    if ((rc = valid_props(props, err)) < 0)
        return rc;
    if (props) {
        /* the merged set must still fit */
        json_t *merged = json_deep_copy(gs->props);
        merge_props(merged, props);
        size_t n = json_array_size(merged);
        json_decref(merged);
        if (n > HG_FL_MAX_PROPS)
            return hg_error_set(err, HG_EINVAL,
                                "GameProperties: the update would leave %zu properties; at most "
                                "%d",
                                n, HG_FL_MAX_PROPS);
        merge_props(gs->props, props);
    }
    if (max_players >= 0)
        gs->max_players = max_players;
    if (name) {
        hg_free(gs->name);
        gs->name = hg_strdup(name);
    }
    if (deny_all >= 0)
        gs->deny_all = deny_all;
    if (protect >= 0)
        gs->protect = protect;
    hg_fl_gs_save(gs, txn);
    return 0;
}

int hg_fl_gs_terminate(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn, hg_error_t *err)
{
    if (gs->status != HG_GS_ACTIVE && gs->status != HG_GS_ACTIVATING)
        return hg_error_set(err, HG_EGSSTATUS, "Game session %s is %s", gs->arn,
                            hg_gs_status_name(gs->status));
    gs->status = HG_GS_TERMINATING;
    gs->reason = HG_GS_REASON_TRIGGERED;
    hg_list_remove(&gs->tnode);
    hg_fl_gs_save(gs, txn);
    if (gs->process)
        hg_fl_proc_tell_terminate(fl, gs->process, txn);
    else
        hg_fl_gs_end(fl, gs, 0, txn);
    return 0;
}

size_t hg_fl_gs_list(const hg_fl_fleet_t *f, const char *location, int status, uint64_t after,
                     size_t limit, hg_fl_gsession_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const hg_list_t *q;
    hg_list_foreach (q, &f->gsessions) {
        hg_fl_gsession_t *gs = hg_container_of(q, hg_fl_gsession_t, fnode);
        if (gs->seq <= after || (status >= 0 && (int)gs->status != status) ||
            (location && strcmp(location, gs->location) != 0))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = gs;
    }
    return n;
}

/* ---- player sessions ---- */

hg_fl_psession_t *hg_fl_ps_find(hg_fleet_t *fl, const char *id)
{
    return hg_map_get(&fl->psessions, id);
}

int hg_fl_ps_create(hg_fleet_t *fl, hg_fl_gsession_t *gs, const char *const *players,
                    const char *const *data, size_t n, hg_store_txn_t *txn, hg_fl_psession_t **out,
                    hg_error_t *err)
{
    if (gs->status != HG_GS_ACTIVE)
        return hg_error_set(err, HG_EGSSTATUS, "Game session %s is %s, not ACTIVE", gs->arn,
                            hg_gs_status_name(gs->status));
    if (gs->deny_all)
        return hg_error_set(err, HG_EGSSTATUS,
                            "Game session %s does not accept new player sessions (DENY_ALL)",
                            gs->arn);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(players[i], players[j]) == 0)
                return hg_error_set(err, HG_EINVAL, "PlayerIds: %s is listed twice", players[i]);
    if ((int64_t)(gs->nplayers + n) > gs->max_players)
        return hg_error_set(err, HG_EGAMESESSIONFULL,
                            "Game session %s has %zu of %lld player slots taken; %zu more do not "
                            "fit",
                            gs->arn, gs->nplayers, (long long)gs->max_players, n);
    int64_t now = hg_fl_now(fl);
    if (hg_map_count(&fl->psessions) + n > HG_FL_MAX_PLAYER_SESSIONS) {
        /* make room by forgetting the oldest ended game sessions */
        while (hg_map_count(&fl->psessions) + n > HG_FL_MAX_PLAYER_SESSIONS &&
               !hg_list_empty(&fl->ended))
            gs_forget(fl, hg_container_of(fl->ended.next, hg_fl_gsession_t, tnode), txn);
        if (hg_map_count(&fl->psessions) + n > HG_FL_MAX_PLAYER_SESSIONS)
            return hg_error_set(err, HG_ELIMIT, "at most %d player sessions",
                                HG_FL_MAX_PLAYER_SESSIONS);
    }
    for (size_t i = 0; i < n; i++) {
        hg_fl_psession_t *ps = hg_calloc(1, sizeof(*ps));
        hg_fl_new_time_id("psess-", now, ps->id, sizeof(ps->id));
        ps->player_id = hg_strdup(players[i]);
        ps->data = data && data[i] ? hg_strdup(data[i]) : NULL;
        ps->status = HG_PS_RESERVED;
        ps->created_ms = now;
        ps->seq = fl->next_seq++;
        ps->gs = gs;
        hg_list_insert_tail(&gs->players, &ps->gnode);
        hg_list_insert_tail(&fl->t_reserved, &ps->tnode);
        player_index_add(fl, ps);
        hg_map_set(&fl->psessions, ps->id, ps);
        gs->nplayers++;
        gs->nplayers_all++;
        ps_save(ps, txn);
        out[i] = ps;
    }
    return 0;
}

static int own_player(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, const char *ps_id,
                      hg_fl_psession_t **out, hg_error_t *err)
{
    hg_fl_gsession_t *gs = NULL;
    int rc = own_session(fl, p, gs_arn, &gs, err);
    if (rc < 0)
        return rc;
    hg_fl_psession_t *ps = hg_map_get(&fl->psessions, ps_id);
    if (ps == NULL || ps->gs != gs)
        return hg_error_set(err, HG_ENOTFOUND, "Player session %s not found in game session %s",
                            ps_id, gs_arn);
    *out = ps;
    return 0;
}

int hg_fl_ps_accept(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, const char *ps_id,
                    hg_store_txn_t *txn, hg_error_t *err)
{
    hg_fl_psession_t *ps = NULL;
    int rc = own_player(fl, p, gs_arn, ps_id, &ps, err);
    if (rc < 0)
        return rc;
    if (ps->status != HG_PS_RESERVED)
        return hg_error_set(err, HG_EGSSTATUS, "Player session %s is %s, not RESERVED", ps_id,
                            hg_ps_status_name(ps->status));
    if (ps->gs->status != HG_GS_ACTIVE)
        return hg_error_set(err, HG_EGSSTATUS, "Game session %s is %s, not ACTIVE", gs_arn,
                            hg_gs_status_name(ps->gs->status));
    ps->status = HG_PS_ACTIVE;
    hg_list_remove(&ps->tnode);
    ps_save(ps, txn);
    return 0;
}

int hg_fl_ps_remove(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, const char *ps_id,
                    hg_store_txn_t *txn, hg_error_t *err)
{
    hg_fl_psession_t *ps = NULL;
    int rc = own_player(fl, p, gs_arn, ps_id, &ps, err);
    if (rc < 0)
        return rc;
    if (ps->status == HG_PS_COMPLETED)
        return 0;
    if (ps->status == HG_PS_TIMEDOUT)
        return hg_error_set(err, HG_EGSSTATUS, "Player session %s is TIMEDOUT", ps_id);
    ps_finish(fl, ps, HG_PS_COMPLETED, hg_fl_now(fl), txn);
    slot_freed(fl, ps->gs, txn);
    return 0;
}

int hg_fl_ps_policy(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, int deny_all,
                    hg_store_txn_t *txn, hg_error_t *err)
{
    hg_fl_gsession_t *gs = NULL;
    int rc = own_session(fl, p, gs_arn, &gs, err);
    if (rc < 0)
        return rc;
    return hg_fl_gs_update(fl, gs, -1, NULL, deny_all, -1, NULL, txn, err);
}

size_t hg_fl_ps_list_gs(const hg_fl_gsession_t *gs, int status, uint64_t after, size_t limit,
                        hg_fl_psession_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const hg_list_t *q;
    hg_list_foreach (q, &gs->players) {
        hg_fl_psession_t *ps = hg_container_of(q, hg_fl_psession_t, gnode);
        if (ps->seq <= after || (status >= 0 && (int)ps->status != status))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = ps;
    }
    return n;
}

size_t hg_fl_ps_list_player(hg_fleet_t *fl, const char *player_id, uint64_t after, size_t limit,
                            hg_fl_psession_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const hg_fl_player_t *pl = hg_map_get(&fl->players, player_id);
    if (pl == NULL)
        return 0;
    const hg_list_t *q;
    hg_list_foreach (q, &pl->sessions) {
        hg_fl_psession_t *ps = hg_container_of(q, hg_fl_psession_t, pnode);
        if (ps->seq <= after)
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = ps;
    }
    return n;
}

/* ---- load ---- */

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

typedef struct gs_load {
    hg_fleet_t *fl;
    hg_vec_t v;
    hg_store_txn_t *cleanup;
} gs_load_t;

static int load_gs(void *ud, const char *key, json_t *v)
{
    gs_load_t *gl = ud;
    hg_fl_fleet_t *f = jstr(v, "fleet") ? hg_map_get(&gl->fl->fleets, jstr(v, "fleet")) : NULL;
    if (f == NULL || jstr(v, "location") == NULL || jstr(v, "proc") == NULL) {
        hg_store_del(gl->cleanup, COLL_GSESSIONS, key);
        return 0;
    }
    hg_fl_gsession_t *gs = hg_calloc(1, sizeof(*gs));
    gs->arn = hg_strdup(key);
    gs->fleet = f;
    gs->location = hg_strdup(jstr(v, "location"));
    gs->compute = hg_strdup(jstr(v, "compute") ? jstr(v, "compute") : "");
    gs->ip = hg_fl_strdup_opt(jstr(v, "ip"));
    gs->dns = hg_fl_strdup_opt(jstr(v, "dns"));
    gs->port = (int)jint(v, "port");
    gs->proc_key = hg_strdup(jstr(v, "proc"));
    gs->name = hg_fl_strdup_opt(jstr(v, "name"));
    gs->creator = hg_fl_strdup_opt(jstr(v, "creator"));
    gs->token = jstr(v, "token") ? hg_strdup(jstr(v, "token")) : NULL;
    gs->data = hg_fl_strdup_opt(jstr(v, "data"));
    gs->matchmaker_data = hg_fl_strdup_opt(jstr(v, "mm"));
    json_t *props = json_object_get(v, "props");
    gs->props = json_is_array(props) ? json_incref(props) : json_array();
    gs->max_players = jint(v, "max");
    int st = jstr(v, "status") ? hg_gs_status_parse(jstr(v, "status")) : -1;
    gs->status = st < 0 ? HG_GS_TERMINATED : (hg_gs_status_t)st;
    gs->reason = (hg_gs_reason_t)jint(v, "reason");
    gs->deny_all = jint(v, "deny") != 0;
    gs->protect = jint(v, "protect") != 0;
    gs->created_ms = jint(v, "created_ms");
    gs->terminated_ms = jint(v, "terminated_ms");
    gs->seq = (uint64_t)jint(v, "seq");
    hg_list_init(&gs->players);
    hg_list_init(&gs->tnode);
    hg_vec_push(&gl->v, gs);
    return 0;
}

static int load_ps(void *ud, const char *key, json_t *v)
{
    gs_load_t *gl = ud;
    hg_fl_gsession_t *gs = jstr(v, "gs") ? hg_map_get(&gl->fl->gsessions, jstr(v, "gs")) : NULL;
    if (gs == NULL || strlen(key) >= sizeof(((hg_fl_psession_t *)0)->id) ||
        jstr(v, "player") == NULL) {
        hg_store_del(gl->cleanup, COLL_PSESSIONS, key);
        return 0;
    }
    hg_fl_psession_t *ps = hg_calloc(1, sizeof(*ps));
    snprintf(ps->id, sizeof(ps->id), "%s", key);
    ps->player_id = hg_strdup(jstr(v, "player"));
    ps->data = hg_fl_strdup_opt(jstr(v, "data"));
    int st = jstr(v, "status") ? hg_ps_status_parse(jstr(v, "status")) : -1;
    ps->status = st < 0 ? HG_PS_COMPLETED : (hg_ps_status_t)st;
    ps->created_ms = jint(v, "created_ms");
    ps->terminated_ms = jint(v, "terminated_ms");
    ps->seq = (uint64_t)jint(v, "seq");
    ps->gs = gs;
    hg_list_init(&ps->tnode);
    hg_list_init(&ps->gnode);
    hg_list_init(&ps->pnode);
    hg_vec_push(&gl->v, ps);
    return 0;
}

static int cmp_gs_seq(const void *a, const void *b)
{
    const hg_fl_gsession_t *x = *(void *const *)a, *y = *(void *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_gs_ended(const void *a, const void *b)
{
    const hg_fl_gsession_t *x = *(void *const *)a, *y = *(void *const *)b;
    if (x->terminated_ms != y->terminated_ms)
        return x->terminated_ms < y->terminated_ms ? -1 : 1;
    return cmp_gs_seq(a, b);
}

static int cmp_ps_seq(const void *a, const void *b)
{
    const hg_fl_psession_t *x = *(void *const *)a, *y = *(void *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int hg_fl_gs_load(hg_fleet_t *fl, hg_store_txn_t *cleanup)
{
    gs_load_t gl = {.fl = fl, .cleanup = cleanup};
    int rc = hg_store_load(fl->store, COLL_GSESSIONS, load_gs, &gl);
    if (gl.v.n)
        qsort(gl.v.all, gl.v.n, sizeof(*gl.v.all), cmp_gs_seq);
    hg_vec_t ended = {0};
    for (size_t i = 0; i < gl.v.n; i++) {
        hg_fl_gsession_t *gs = gl.v.all[i];
        if (rc < 0) {
            gs_free(gs);
            continue;
        }
        if (gs->seq >= fl->next_seq)
            fl->next_seq = gs->seq + 1;
        hg_map_set(&fl->gsessions, gs->arn, gs);
        hg_list_insert_tail(&gs->fleet->gsessions, &gs->fnode);
        gs->fleet->ngsessions++;
        if (gs->token) {
            char key[256];
            token_key(gs->fleet, gs->token, key, sizeof(key));
            hg_map_set(&fl->gs_tokens, key, gs);
        }
        if (gs->status == HG_GS_TERMINATED || gs->status == HG_GS_ERROR) {
            hg_vec_push(&ended, gs);
            continue;
        }
        hg_fl_process_t *p = hg_map_get(&fl->processes, gs->proc_key);
        if (p && p->gs == NULL) {
            gs->process = p;
            p->gs = gs;
            if (gs->status == HG_GS_ACTIVATING) {
                gs->deadline_ms = gs->created_ms + fl->to.activation_ms;
                hg_list_insert_tail(&fl->t_activating, &gs->tnode);
            }
        } else {
            gs->status = HG_GS_TERMINATED; /* its process went while we were down */
            gs->terminated_ms = hg_fl_now(fl);
            hg_fl_gs_save(gs, cleanup);
            hg_vec_push(&ended, gs);
        }
    }
    hg_free(gl.v.all);
    gl.v = (hg_vec_t){0};
    if (ended.n)
        qsort(ended.all, ended.n, sizeof(*ended.all), cmp_gs_ended);
    for (size_t i = 0; i < ended.n; i++) {
        hg_list_insert_tail(&fl->ended, &((hg_fl_gsession_t *)ended.all[i])->tnode);
        fl->nended++;
    }
    hg_free(ended.all);
    if (rc < 0)
        return rc;
    rc = hg_store_load(fl->store, COLL_PSESSIONS, load_ps, &gl);
    if (gl.v.n)
        qsort(gl.v.all, gl.v.n, sizeof(*gl.v.all), cmp_ps_seq);
    int64_t now = hg_fl_now(fl);
    for (size_t i = 0; i < gl.v.n; i++) {
        hg_fl_psession_t *ps = gl.v.all[i];
        if (rc < 0) {
            ps_free(ps);
            continue;
        }
        if (ps->seq >= fl->next_seq)
            fl->next_seq = ps->seq + 1;
        hg_fl_gsession_t *gs = ps->gs;
        hg_list_insert_tail(&gs->players, &ps->gnode);
        player_index_add(fl, ps);
        hg_map_set(&fl->psessions, ps->id, ps);
        gs->nplayers_all++;
        if (ps->status == HG_PS_RESERVED || ps->status == HG_PS_ACTIVE) {
            if (gs->status == HG_GS_TERMINATED) {
                ps->status = HG_PS_COMPLETED; /* its game session ended while we were down */
                ps->terminated_ms = now;
                ps_save(ps, cleanup);
                continue;
            }
            gs->nplayers++;
            if (ps->status == HG_PS_RESERVED)
                hg_list_insert_tail(&fl->t_reserved, &ps->tnode);
        }
    }
    hg_free(gl.v.all);
    retention(fl, now, cleanup);
    return rc;
}
