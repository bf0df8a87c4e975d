/* hangar — the GameLift Server SDK 5 WebSocket endpoint (see sdk.h).
 *
 * Objects:
 *   sdk_proc_t  one per process key (<fleet>/<compute>/<pID>) that has or had a socket: its
 *               sockets (newest last) and the cache of recent answers by RequestId. It outlives
 *               a socket so that a request resent on a new socket is still answered once.
 *   sdk_conn_t  one socket. Referenced by its WebSocket and by every answer waiting for a
 *               commit; freed when both are done.
 *   req_t       one request between its arrival and its answer (after the commit).
 *
 * Credentials that run out: a socket is authenticated once, at the upgrade, but the SDKs
 * reconnect to the URL they started with, whose token (GetComputeAuthToken) expires after
 * compute-auth-token-ttl-s (or whose SigV4 signature is refused after SIGV4_MAX_AGE_S). Each
 * socket therefore has a refresh time, a third of the token's lifetime before it expires, on a
 * list in time order (hg_sdk_tick walks its head): then the process is handed the compute's
 * current token — a new one when less than half its life is left — once that is durable, in a
 * RefreshConnection push with this endpoint; the SDK opens a new socket with it and closes the
 * old one. A process whose token expired anyway (it was disconnected, or hangard was down,
 * when it was due) may still reconnect while it is known (fleet.h).
 */
#include "api/sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/policy.h"
#include "auth/sigv4.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/map.h"
#include "core/metrics.h"
#include "core/str.h"
#include "match/flexmatch.h"
#include "ws/ws.h"

#define SIGV4_MAX_AGE_S 86400 /* the SDKs reconnect with the URL they signed once */
#define QUERY_VALUE_MAX 2048
#define ENDPOINT_MAX 256

typedef struct dedup {
    char rid[HG_SDK_REQUEST_ID_MAX + 1];
    int state; /* 0 empty, 1 in progress, 2 answered */
    char *reply;
    size_t len;
} dedup_t;

typedef struct sdk_proc {
    char *key;
    hg_list_t conns; /* sdk_conn_t, oldest first */
    size_t nconns;   /* sockets open */
    size_t nrefs;    /* sdk_conn_t that point here, open or still answering */
    int detached;    /* no longer in sdk->procs (the process went) */
    dedup_t cache[HG_SDK_DEDUP_REQUESTS];
    size_t next;
} sdk_proc_t;

typedef struct sdk_conn {
    hg_sdk_t *sdk;
    hg_ws_t *ws; /* NULL once closed */
    sdk_proc_t *sp;
    hg_list_t node; /* sp->conns */
    unsigned refs;
    int64_t refresh_ms;          /* when to hand the process a fresh token */
    hg_list_t rnode;             /* sdk->refresh, in refresh_ms order, until refreshed or closed */
    char endpoint[ENDPOINT_MAX]; /* RefreshConnectionEndpoint: the URL this socket reached */
} sdk_conn_t;

struct hg_sdk {
    hg_api_t *api;
    hg_map_t procs;    /* key → sdk_proc_t */
    hg_list_t refresh; /* sdk_conn_t waiting for their refresh time, soonest first */
    int stopped;
    size_t nconns;
    uint64_t connects, refused, messages, errors, duplicates, pushes, refreshes;
};

typedef struct req {
    sdk_conn_t *conn;
    char action[48];
    char rid[HG_SDK_REQUEST_ID_MAX + 1];
    dedup_t *slot;
    int status;
    hg_buf_t fields; /* ,"Key":value … of a 200 answer */
    hg_error_t err;
} req_t;

/* ---- lifetime ---- */

static void proc_free(sdk_proc_t *sp)
{
    for (size_t i = 0; i < HG_SDK_DEDUP_REQUESTS; i++)
        hg_free(sp->cache[i].reply);
    hg_free(sp->key);
    hg_free(sp);
}

/* Forget sp when no socket uses it and its process is gone. */
static void proc_maybe_free(hg_sdk_t *sdk, sdk_proc_t *sp)
{
    if (sp->nrefs)
        return;
    if (!sp->detached) {
        if (hg_fl_proc_find(sdk->api->fleet, sp->key))
            return; /* waiting for a reconnect: keep the answers */
        hg_map_del(&sdk->procs, sp->key);
    }
    proc_free(sp);
}

static void conn_unref(sdk_conn_t *c)
{
    if (--c->refs)
        return;
    hg_sdk_t *sdk = c->sdk;
    sdk_proc_t *sp = c->sp;
    hg_free(c);
    sp->nrefs--;
    proc_maybe_free(sdk, sp);
}

/* One gauge or counter in Prometheus text. */
static void metric(hg_buf_t *out, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    hg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

static void render_metrics(hg_buf_t *out, void *ud)
{
    hg_sdk_t *sdk = ud;
    hg_fl_session_stats_t st;
    hg_fleet_session_stats(sdk->api->fleet, &st);
    metric(out, "hangar_sdk_connections", "gauge", "Open Server SDK sockets.", sdk->nconns);
    metric(out, "hangar_sdk_connects_total", "counter", "Server SDK sockets accepted.",
           sdk->connects);
    metric(out, "hangar_sdk_refused_total", "counter",
           "Server SDK upgrades refused (auth, query, limits).", sdk->refused);
    metric(out, "hangar_sdk_messages_total", "counter", "Server SDK requests received.",
           sdk->messages);
    metric(out, "hangar_sdk_errors_total", "counter", "Server SDK requests answered with an error.",
           sdk->errors);
    metric(out, "hangar_sdk_duplicates_total", "counter",
           "Server SDK requests repeated with a known RequestId (answered from the cache).",
           sdk->duplicates);
    metric(out, "hangar_sdk_pushes_total", "counter",
           "CreateGameSession, TerminateProcess and RefreshConnection pushes sent.", sdk->pushes);
    metric(out, "hangar_sdk_refreshes_total", "counter",
           "RefreshConnection pushes sent (a fresh auth token before the old one expires).",
           sdk->refreshes);
    metric(out, "hangar_server_processes", "gauge", "Server processes known (all states).",
           st.processes);
    metric(out, "hangar_server_processes_waiting", "gauge",
           "Server processes connected that have not called ProcessReady.", st.waiting);
    metric(out, "hangar_server_processes_idle", "gauge",
           "Server processes ready to host a game session.", st.idle);
    metric(out, "hangar_server_processes_lost_total", "counter",
           "Server processes that disconnected and did not come back in time.", st.proc_lost);
    metric(out, "hangar_server_processes_unhealthy_total", "counter",
           "Server processes told to terminate for missed heartbeats or unhealthy reports.",
           st.proc_unhealthy);
    metric(out, "hangar_game_sessions", "gauge", "Game sessions not TERMINATED.",
           st.gsessions_live);
    metric(out, "hangar_game_sessions_ended", "gauge", "TERMINATED game sessions kept.",
           st.gsessions_ended);
    metric(out, "hangar_game_sessions_created_total", "counter", "Game sessions created.",
           st.gs_created);
    metric(out, "hangar_game_session_activation_timeouts_total", "counter",
           "Game sessions that were not activated in time.", st.gs_activation_timeouts);
    metric(out, "hangar_player_sessions", "gauge", "Player sessions kept (all states).",
           st.psessions);
    metric(out, "hangar_player_session_timeouts_total", "counter",
           "RESERVED player sessions that timed out.", st.ps_timeouts);
}

hg_sdk_t *hg_sdk_new(hg_api_t *api)
{
    hg_sdk_t *sdk = hg_calloc(1, sizeof(*sdk));
    sdk->api = api;
    hg_map_init(&sdk->procs);
    hg_list_init(&sdk->refresh);
    hg_metrics_register("sdk", render_metrics, sdk);
    return sdk;
}

void hg_sdk_stop(hg_sdk_t *sdk)
{
    if (sdk == NULL || sdk->stopped)
        return;
    sdk->stopped = 1;
    while (!hg_list_empty(&sdk->refresh))
        hg_list_remove(sdk->refresh.next);
    hg_metrics_unregister("sdk");
}

void hg_sdk_free(hg_sdk_t *sdk)
{
    if (sdk == NULL)
        return;
    hg_sdk_stop(sdk);
    size_t it = 0;
    void *v;
    while (hg_map_next(&sdk->procs, &it, NULL, &v)) {
        sdk_proc_t *sp = v;
        if (sp->nrefs == 0)
            proc_free(sp);
        else
            sp->detached = 1; /* freed with its last connection */
    }
    hg_map_free(&sdk->procs);
    hg_free(sdk);
}

/* ---- sending ---- */

static sdk_conn_t *newest_conn(sdk_proc_t *sp)
{
    for (hg_list_t *q = sp->conns.prev; q != &sp->conns; q = q->prev) {
        sdk_conn_t *c = hg_container_of(q, sdk_conn_t, node);
        if (c->ws)
            return c;
    }
    return NULL;
}

static void send_text(sdk_conn_t *c, const char *data, size_t len)
{
    if (c == NULL || c->ws == NULL)
        return;
    if (hg_ws_send(c->ws, 0, data, len) == HG_ELIMIT)
        hg_ws_close(c->ws, 1013, "send queue full"); /* the SDK reconnects and resends */
}

static int sdk_status(int code)
{
    switch (code) {
    case HG_EINVAL:
    case HG_EGSSTATUS:
    case HG_EFLEETSTATUS:
    case HG_ENOTIMPL:
    case HG_ELIMIT: return 400;
    case HG_EUNAUTHORIZED: return 403;
    case HG_ENOTFOUND: return 404;
    case HG_ECONFLICT:
    case HG_EIDEMPOTENT: return 409;
    case HG_ETHROTTLED: return 429;
    default: return 500;
    }
}

/* {"Action":…,"RequestId":…,"StatusCode":…[,"ErrorMessage":…]<fields>} */
static void render_answer(hg_buf_t *b, const req_t *r)
{
    hg_buf_puts(b, "{\"Action\":");
    hg_jsonw_str(b, r->action);
    hg_buf_puts(b, ",\"RequestId\":");
    hg_jsonw_str(b, r->rid);
    hg_buf_puts(b, ",\"StatusCode\":");
    hg_jsonw_int(b, r->status);
    if (r->status != 200) {
        hg_buf_puts(b, ",\"ErrorMessage\":");
        hg_jsonw_str(b, r->err.msg[0] ? r->err.msg : "request failed");
    } else if (r->fields.len) {
        hg_buf_append(b, r->fields.data, r->fields.len);
    }
    hg_buf_puts(b, "}");
}

static void answer(req_t *r)
{
    hg_sdk_t *sdk = r->conn->sdk;
    if (r->status != 200)
        sdk->errors++;
    hg_buf_t b;
    hg_buf_init(&b);
    render_answer(&b, r);
    /* the socket that asked, else the process's newest (the SDK reconnected meanwhile) */
    sdk_conn_t *to = r->conn->ws ? r->conn : newest_conn(r->conn->sp);
    send_text(to, b.data, b.len);
    if (r->slot) {
        hg_free(r->slot->reply);
        r->slot->len = b.len;
        r->slot->reply = hg_buf_steal(&b, NULL);
        r->slot->state = 2;
    }
    hg_buf_free(&b);
    hg_buf_free(&r->fields);
    conn_unref(r->conn);
    hg_free(r);
}

static void on_committed(void *ud, int rc)
{
    req_t *r = ud;
    if (rc < 0) {
        r->status = hg_api_commit_failed(&r->err, rc) == HG_ESHUTDOWN ? 503 : 500;
        hg_buf_free(&r->fields);
        hg_buf_init(&r->fields);
    }
    answer(r);
}

/* ---- request fields ---- */

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The string field k of m (borrowed from m), or NULL with r->err set. Callers test the string
 * itself, so each one they use was assigned on the path that uses it (with an int result and an
 * out-parameter, GCC at -O3 could not see that hg_error_set's code is negative and warned that
 * the string might be read unset). */
static const char *need_str(req_t *r, json_t *m, const char *k, size_t max)
{
    json_t *v = json_object_get(m, k);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        hg_error_set(&r->err, HG_EINVAL, "%s is required (a non-empty string)", k);
        return NULL;
    }
    if (json_string_length(v) > max) {
        hg_error_set(&r->err, HG_EINVAL, "%s is longer than %zu characters", k, max);
        return NULL;
    }
    return json_string_value(v);
}

/* The WebSocket PlayerSession shape (§7.5): times are integer epoch milliseconds. */
static void w_player_session(hg_buf_t *b, const hg_fl_psession_t *ps)
{
    const hg_fl_gsession_t *gs = ps->gs;
    hg_buf_puts(b, "{\"PlayerId\":");
    hg_jsonw_str(b, ps->player_id);
    hg_jsonw_kv_str(b, "PlayerSessionId", ps->id);
    hg_jsonw_kv_str(b, "GameSessionId", gs->arn);
    hg_jsonw_kv_str(b, "FleetId", gs->fleet->id);
    hg_jsonw_kv_str(b, "PlayerData", ps->data);
    hg_jsonw_kv_str(b, "IpAddress", gs->ip);
    hg_jsonw_kv_int(b, "Port", gs->port);
    hg_jsonw_kv_int(b, "CreationTime", ps->created_ms);
    hg_jsonw_kv_int(b, "TerminationTime", ps->terminated_ms);
    hg_jsonw_kv_str(b, "DnsName", gs->dns);
    hg_jsonw_kv_str(b, "Status", hg_ps_status_name(ps->status));
    hg_buf_puts(b, "}");
}

/* ---- actions ---- */

static int do_activate_process(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn)
{
    hg_fleet_t *fl = r->conn->sdk->api->fleet;
    json_t *port = json_object_get(m, "Port");
    if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 60000)
        return hg_error_set(&r->err, HG_EINVAL, "Port must be an integer between 1 and 60000");
    json_t *logs = json_object_get(m, "LogPaths");
    if (logs && !json_is_null(logs)) {
        if (!json_is_array(logs) || json_array_size(logs) > HG_SDK_MAX_LOG_PATHS)
            return hg_error_set(&r->err, HG_EINVAL, "LogPaths must be a list of at most %d paths",
                                HG_SDK_MAX_LOG_PATHS);
        size_t i;
        json_t *v;
        json_array_foreach (logs, i, v)
            if (!json_is_string(v) || json_string_length(v) > 1024)
                return hg_error_set(&r->err, HG_EINVAL,
                                    "LogPaths entries must be strings of at most 1024 characters");
    }
    const char *ver = jstr(m, "SdkVersion"), *lang = jstr(m, "SdkLanguage");
    if ((ver && strlen(ver) > 64) || (lang && strlen(lang) > 64))
        return hg_error_set(&r->err, HG_EINVAL, "SdkVersion and SdkLanguage: at most 64 chars");
    return hg_fl_proc_ready(fl, p, (int)json_integer_value(port), ver, lang,
                            json_is_array(logs) ? logs : NULL, txn, &r->err);
}

static int do_heartbeat(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn)
{
    json_t *h = json_object_get(m, "HealthStatus");
    if (!json_is_boolean(h))
        return hg_error_set(&r->err, HG_EINVAL, "HealthStatus must be true or false");
    return hg_fl_proc_heartbeat(r->conn->sdk->api->fleet, p, json_is_true(h), txn, &r->err);
}

static int do_activate_session(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn)
{
    const char *gs = need_str(r, m, "GameSessionId", 1024);
    if (gs == NULL)
        return r->err.code;
    return hg_fl_gs_activate(r->conn->sdk->api->fleet, p, gs, txn, &r->err);
}

static int do_policy(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn)
{
    const char *gs, *pol;
    if ((gs = need_str(r, m, "GameSessionId", 1024)) == NULL ||
        (pol = need_str(r, m, "PlayerSessionPolicy", 16)) == NULL)
        return r->err.code;
    int deny = strcmp(pol, "DENY_ALL") == 0;
    if (!deny && strcmp(pol, "ACCEPT_ALL") != 0)
        return hg_error_set(&r->err, HG_EINVAL,
                            "PlayerSessionPolicy must be ACCEPT_ALL or DENY_ALL");
    return hg_fl_ps_policy(r->conn->sdk->api->fleet, p, gs, deny, txn, &r->err);
}

static int do_player(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn, int accept)
{
    const char *gs, *ps;
    if ((gs = need_str(r, m, "GameSessionId", 1024)) == NULL ||
        (ps = need_str(r, m, "PlayerSessionId", 256)) == NULL)
        return r->err.code;
    hg_fleet_t *fl = r->conn->sdk->api->fleet;
    return accept ? hg_fl_ps_accept(fl, p, gs, ps, txn, &r->err)
                  : hg_fl_ps_remove(fl, p, gs, ps, txn, &r->err);
}

/* The socket's Player (§7.5) in the HTTP API's shape: attribute values lose their AttrType. */
static json_t *api_players(json_t *players)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (players, i, p) {
        json_t *q = json_is_object(p) ? json_deep_copy(p) : json_incref(p);
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get(q, "PlayerAttributes"), k, v)
            if (json_is_object(v))
                json_object_del(v, "AttrType");
        json_array_append_new(out, q);
    }
    return out;
}

/* The backfill ticket this process may stop: a backfill of one of its game sessions. */
static int own_backfill(req_t *r, hg_fl_process_t *p, json_t *m, hg_fm_ticket_t **out)
{
    const char *gs, *id; /* the configuration is checked, not used: the ticket names its own */
    if ((gs = need_str(r, m, "GameSessionArn", 256)) == NULL ||
        need_str(r, m, "MatchmakingConfigurationArn", 256) == NULL ||
        (id = need_str(r, m, "TicketId", 128)) == NULL)
        return r->err.code;
    hg_fl_gsession_t *g = hg_fl_gs_find(r->conn->sdk->api->fleet, gs);
    hg_fm_ticket_t *t = hg_fm_find(r->conn->sdk->api->flexmatch, id);
    if (g == NULL || strcmp(g->proc_key, p->key) != 0 || t == NULL || !t->backfill ||
        t->bf_gs == NULL || strcmp(t->bf_gs, g->arn) != 0)
        return hg_error_set(&r->err, HG_ENOTFOUND,
                            "No backfill ticket %s for game session %s on this process", id, gs);
    *out = t;
    return 0;
}

static int do_backfill(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn, int start)
{
    hg_flexmatch_t *fm = r->conn->sdk->api->flexmatch;
    if (fm == NULL)
        return hg_error_set(&r->err, HG_EINVAL, "FlexMatch is not running");
    hg_fm_ticket_t *t;
    int rc;
    if (!start) {
        if ((rc = own_backfill(r, p, m, &t)) < 0)
            return rc;
        return hg_fm_stop(fm, t, txn, &r->err);
    }
    const char *gs, *cfg;
    if ((gs = need_str(r, m, "GameSessionArn", 256)) == NULL ||
        (cfg = need_str(r, m, "MatchmakingConfigurationArn", 256)) == NULL)
        return r->err.code;
    const char *id = jstr(m, "TicketId");
    if (id && strlen(id) > 128)
        return hg_error_set(&r->err, HG_EINVAL, "TicketId is longer than 128 characters");
    json_t *players = json_object_get(m, "Players");
    if (!json_is_array(players))
        return hg_error_set(&r->err, HG_EINVAL, "Players is required (a list)");
    hg_fm_config_t *c = hg_fm_config_find(fm, cfg);
    if (c == NULL)
        return hg_error_set(&r->err, HG_ENOTFOUND, "Matchmaking configuration %s not found", cfg);
    players = api_players(players);
    int existed;
    rc = hg_fm_backfill_start(fm, c, id, gs, players, p->key, txn, &t, &existed, &r->err);
    json_decref(players);
    if (rc == 0)
        hg_jsonw_kv_str(&r->fields, "TicketId", t->id);
    return rc;
}

static int do_describe_players(req_t *r, json_t *m)
{
    hg_fleet_t *fl = r->conn->sdk->api->fleet;
    const char *gs_id = jstr(m, "GameSessionId"), *player = jstr(m, "PlayerId"),
               *ps_id = jstr(m, "PlayerSessionId"), *filter = jstr(m, "PlayerSessionStatusFilter"),
               *token = jstr(m, "NextToken");
    if (gs_id && !*gs_id)
        gs_id = NULL;
    if (player && !*player)
        player = NULL;
    if (ps_id && !*ps_id)
        ps_id = NULL;
    if (filter && !*filter)
        filter = NULL;
    if (token && !*token)
        token = NULL;
    if (!!gs_id + !!player + !!ps_id != 1)
        return hg_error_set(&r->err, HG_EINVAL,
                            "exactly one of GameSessionId, PlayerId and PlayerSessionId is "
                            "required");
    int status = -1;
    if (filter && (status = hg_ps_status_parse(filter)) < 0)
        return hg_error_set(&r->err, HG_EINVAL,
                            "PlayerSessionStatusFilter must be RESERVED, ACTIVE, COMPLETED or "
                            "TIMEDOUT");
    json_t *jl = json_object_get(m, "Limit");
    size_t limit = 50;
    if (json_is_integer(jl) && json_integer_value(jl) > 0)
        limit = json_integer_value(jl) > HG_SDK_MAX_PAGE ? HG_SDK_MAX_PAGE
                                                         : (size_t)json_integer_value(jl);
    uint64_t after = 0;
    if (token) {
        char *e;
        after = strtoull(token, &e, 10);
        if (*e || token[0] == '-')
            return hg_error_set(&r->err, HG_EINVAL, "NextToken is not one this service gave");
    }
    hg_fl_psession_t **out = hg_malloc(sizeof(*out) * (limit + 1));
    size_t n = 0;
    int more = 0;
    if (ps_id) {
        hg_fl_psession_t *ps = hg_fl_ps_find(fl, ps_id);
        if (ps)
            out[n++] = ps;
    } else if (gs_id) {
        hg_fl_gsession_t *gs = hg_fl_gs_find(fl, gs_id);
        if (gs == NULL) {
            hg_free(out);
            return hg_error_set(&r->err, HG_ENOTFOUND, "Game session %s not found", gs_id);
        }
        n = hg_fl_ps_list_gs(gs, status, after, limit, out, &more);
    } else {
        n = hg_fl_ps_list_player(fl, player, after, limit, out, &more);
    }
    hg_buf_puts(&r->fields, ",\"PlayerSessions\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hg_buf_puts(&r->fields, ",");
        w_player_session(&r->fields, out[i]);
    }
    hg_buf_puts(&r->fields, "]");
    if (more) {
        char t[32];
        snprintf(t, sizeof(t), "%llu", (unsigned long long)out[n - 1]->seq);
        hg_jsonw_kv_str(&r->fields, "NextToken", t);
    }
    hg_free(out);
    return 0;
}

/* Route one request; 0 with r->fields filled, or an error in r->err. */
static int dispatch(req_t *r, hg_fl_process_t *p, json_t *m, hg_store_txn_t *txn)
{
    hg_fleet_t *fl = r->conn->sdk->api->fleet;
    const char *a = r->action;
    if (strcmp(a, "ActivateServerProcess") == 0)
        return do_activate_process(r, p, m, txn);
    if (strcmp(a, "HeartbeatServerProcess") == 0)
        return do_heartbeat(r, p, m, txn);
    if (strcmp(a, "TerminateServerProcess") == 0) {
        hg_fl_proc_ending(fl, p, txn);
        return 0;
    }
    if (strcmp(a, "GetComputeCertificate") == 0) {
        hg_jsonw_kv_str(&r->fields, "CertificatePath", p->compute->cert);
        hg_jsonw_kv_str(&r->fields, "ComputeName", p->compute->name);
        return 0;
    }
    if (strcmp(a, "GetFleetRoleCredentials") == 0)
        return hg_error_set(&r->err, HG_EINVAL,
                            "fleet role credentials exist only on managed EC2 fleets; this is an "
                            "ANYWHERE fleet");
    if (strcmp(a, "DescribePlayerSessions") == 0)
        return do_describe_players(r, m);
    if (p->state == HG_PR_WAITING)
        return hg_error_set(&r->err, HG_EINVAL, "%s: call ProcessReady first", a);
    if (strcmp(a, "ActivateGameSession") == 0)
        return do_activate_session(r, p, m, txn);
    if (strcmp(a, "UpdatePlayerSessionCreationPolicy") == 0)
        return do_policy(r, p, m, txn);
    if (strcmp(a, "AcceptPlayerSession") == 0)
        return do_player(r, p, m, txn, 1);
    if (strcmp(a, "RemovePlayerSession") == 0)
        return do_player(r, p, m, txn, 0);
    if (strcmp(a, "StartMatchBackfill") == 0 || strcmp(a, "StopMatchBackfill") == 0)
        return do_backfill(r, p, m, txn, strcmp(a, "StartMatchBackfill") == 0);
    return hg_error_set(&r->err, HG_EINVAL, "unknown Action %s", a);
}

static dedup_t *dedup_find(sdk_proc_t *sp, const char *rid)
{
    for (size_t i = 0; i < HG_SDK_DEDUP_REQUESTS; i++)
        if (sp->cache[i].state && strcmp(sp->cache[i].rid, rid) == 0)
            return &sp->cache[i];
    return NULL;
}

static dedup_t *dedup_claim(sdk_proc_t *sp, const char *rid)
{
    /* the oldest answered slot; a slot in progress is never reused (its request points at
     * it), and there are never more requests in progress than slots: see on_message */
    for (size_t k = 0; k < HG_SDK_DEDUP_REQUESTS; k++) {
        dedup_t *d = &sp->cache[(sp->next + k) % HG_SDK_DEDUP_REQUESTS];
        if (d->state == 1)
            continue;
        sp->next = (size_t)(d - sp->cache + 1) % HG_SDK_DEDUP_REQUESTS;
        hg_free(d->reply);
        d->reply = NULL;
        d->len = 0;
        snprintf(d->rid, sizeof(d->rid), "%s", rid);
        d->state = 1;
        return d;
    }
    return NULL;
}

static void on_message(hg_ws_t *ws, void *ud, int binary, const char *data, size_t len)
{
    sdk_conn_t *c = ud;
    hg_sdk_t *sdk = c->sdk;
    (void)ws;
    if (binary || sdk->stopped)
        return; /* the SDKs send text only */
    sdk->messages++;
    req_t *r = hg_calloc(1, sizeof(*r));
    r->conn = c;
    c->refs++;
    r->status = 200;
    hg_buf_init(&r->fields);
    json_error_t jerr;
    json_t *m = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *action = jstr(m, "Action"), *rid = jstr(m, "RequestId");
    snprintf(r->action, sizeof(r->action), "%s", action && strlen(action) < 48 ? action : "");
    if (rid && strlen(rid) <= HG_SDK_REQUEST_ID_MAX)
        snprintf(r->rid, sizeof(r->rid), "%s", rid);
    if (!json_is_object(m)) {
        hg_error_set(&r->err, HG_EINVAL, "a message must be one JSON object: %s", jerr.text);
        goto fail;
    }
    if (action == NULL || !*action || strlen(action) >= 48) {
        hg_error_set(&r->err, HG_EINVAL, "Action is required");
        goto fail;
    }
    if (rid == NULL || !*rid || strlen(rid) > HG_SDK_REQUEST_ID_MAX) {
        hg_error_set(&r->err, HG_EINVAL, "RequestId is required (at most %d characters)",
                     HG_SDK_REQUEST_ID_MAX);
        goto fail;
    }
    dedup_t *d = dedup_find(c->sp, rid);
    if (d) {
        sdk->duplicates++;
        if (d->state == 2)
            send_text(c, d->reply, d->len); /* answered once; the answer again, nothing redone */
        json_decref(m);
        hg_buf_free(&r->fields);
        conn_unref(c);
        hg_free(r);
        return; /* in progress: its answer is on its way */
    }
    hg_fl_process_t *p = hg_fl_proc_find(sdk->api->fleet, c->sp->key);
    if (p == NULL) {
        hg_error_set(&r->err, HG_ENOTFOUND, "this server process has ended");
        goto fail;
    }
    if ((r->slot = dedup_claim(c->sp, rid)) == NULL) {
        hg_error_set(&r->err, HG_ETHROTTLED, "at most %d requests in progress per process",
                     HG_SDK_DEDUP_REQUESTS);
        goto fail;
    }
    hg_store_txn_t *txn = hg_store_txn_new(sdk->api->store);
    if (dispatch(r, p, m, txn) < 0) {
        r->status = sdk_status(r->err.code);
        hg_store_txn_free(txn); /* refused calls change nothing */
        txn = hg_store_txn_new(sdk->api->store);
    }
    json_decref(m);
    /* empty: a barrier, so an answer never runs ahead of an earlier change */
    hg_store_commit(txn, on_committed, r);
    return;
fail:
    json_decref(m);
    r->status = sdk_status(r->err.code);
    answer(r);
}

static void on_close(hg_ws_t *ws, void *ud, int code)
{
    sdk_conn_t *c = ud;
    hg_sdk_t *sdk = c->sdk;
    (void)ws;
    c->ws = NULL;
    sdk->nconns--;
    if (hg_list_linked(&c->rnode))
        hg_list_remove(&c->rnode);
    /* c stays among sp's sockets while the fleet hears of it: a process that goes now is
     * dropped (hg_sdk_drop) with sp still in use, so sp is freed only below, with c */
    hg_fl_process_t *p = hg_fl_proc_find(sdk->api->fleet, c->sp->key);
    HG_LOG(HG_LOG_INFO, "sdk", "socket closed process=%s code=%d", c->sp->key, code);
    if (p) {
        hg_store_txn_t *txn = hg_store_txn_new(sdk->api->store);
        hg_fl_proc_disconnect(sdk->api->fleet, p, c, txn);
        if (hg_store_txn_empty(txn) || sdk->stopped) /* stopped: the store may be closing */
            hg_store_txn_free(txn);
        else
            hg_store_commit(txn, NULL, NULL);
    }
    hg_list_remove(&c->node);
    c->sp->nconns--;
    conn_unref(c);
}

static const hg_ws_cb_t ws_cbs = {.on_message = on_message, .on_close = on_close};

/* ---- pushes (the fleet sink) ---- */

/* A game session's members as the socket carries them (name_key: "GameSessionName" in
 * CreateGameSession, "Name" inside UpdateGameSession.GameSession; GameProperties an object). */
static void w_game_session(hg_buf_t *b, const hg_fl_gsession_t *gs, const char *name_key)
{
    hg_jsonw_kv_str(b, "GameSessionId", gs->arn);
    hg_jsonw_kv_str(b, name_key, gs->name);
    hg_jsonw_kv_str(b, "GameSessionData", gs->data);
    hg_jsonw_kv_str(b, "MatchmakerData", gs->matchmaker_data);
    hg_jsonw_kv_int(b, "MaximumPlayerSessionCount", gs->max_players);
    hg_jsonw_kv_str(b, "IpAddress", gs->ip);
    hg_jsonw_kv_str(b, "DnsName", gs->dns);
    hg_jsonw_kv_int(b, "Port", gs->port);
    hg_jsonw_kv_str(b, "Location", gs->location);
    hg_buf_puts(b, ",\"GameProperties\":{");
    size_t i;
    json_t *kv;
    json_array_foreach (gs->props, i, kv) {
        if (i)
            hg_buf_puts(b, ",");
        hg_jsonw_key(b, json_string_value(json_object_get(kv, "Key")));
        hg_jsonw_str(b, json_string_value(json_object_get(kv, "Value")));
    }
    hg_buf_puts(b, "}");
}

void hg_sdk_push_start(hg_sdk_t *sdk, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    sdk_conn_t *c = p->conn;
    if (c == NULL || sdk->stopped)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"Action\":\"CreateGameSession\",\"StatusCode\":200");
    w_game_session(&b, gs, "GameSessionName");
    hg_buf_puts(&b, "}");
    send_text(c, b.data, b.len);
    sdk->pushes++;
    hg_buf_free(&b);
}

void hg_sdk_push_update(hg_sdk_t *sdk, hg_fl_process_t *p, hg_fl_gsession_t *gs, const char *reason,
                        const char *ticket)
{
    sdk_conn_t *c = p->conn;
    if (c == NULL || sdk->stopped)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"Action\":\"UpdateGameSession\",\"StatusCode\":200,\"GameSession\":{");
    hg_jsonw_key(&b, "FleetId");
    hg_jsonw_str(&b, gs->fleet->id);
    w_game_session(&b, gs, "Name");
    hg_buf_puts(&b, "}");
    hg_jsonw_kv_str(&b, "UpdateReason", reason);
    hg_jsonw_kv_str(&b, "BackfillTicketId", ticket);
    hg_buf_puts(&b, "}");
    send_text(c, b.data, b.len);
    sdk->pushes++;
    hg_buf_free(&b);
}

void hg_sdk_push_terminate(hg_sdk_t *sdk, hg_fl_process_t *p, int64_t termination_ms)
{
    sdk_conn_t *c = p->conn;
    if (c == NULL || sdk->stopped)
        return;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"Action\":\"TerminateProcess\",\"StatusCode\":200");
    hg_jsonw_kv_int(&b, "TerminationTime", termination_ms);
    hg_buf_puts(&b, "}");
    send_text(c, b.data, b.len);
    sdk->pushes++;
    hg_buf_free(&b);
}

/* ---- RefreshConnection (see the top of this file) ---- */

typedef struct refresh {
    sdk_conn_t *conn;
    char token[HG_FL_TOKEN_CHARS + 1];
} refresh_t;

static void on_refresh_committed(void *ud, int rc)
{
    refresh_t *r = ud;
    sdk_conn_t *c = r->conn;
    /* to the socket that was due, else the process's newest (it reconnected meanwhile) */
    sdk_conn_t *to = c->ws ? c : newest_conn(c->sp);
    if (rc == 0 && to && !c->sdk->stopped) {
        hg_buf_t b;
        hg_buf_init(&b);
        hg_buf_puts(&b, "{\"Action\":\"RefreshConnection\",\"StatusCode\":200");
        hg_jsonw_kv_str(&b, "RefreshConnectionEndpoint", c->endpoint);
        hg_jsonw_kv_str(&b, "AuthToken", r->token);
        hg_buf_puts(&b, "}");
        send_text(to, b.data, b.len);
        c->sdk->pushes++;
        c->sdk->refreshes++;
        hg_buf_free(&b);
        HG_LOG(HG_LOG_INFO, "sdk", "refresh pushed process=%s", c->sp->key);
    }
    OPENSSL_cleanse(r->token, sizeof(r->token));
    hg_free(r);
    conn_unref(c);
}

/* Hand c's process the compute's current token, once it is durable. */
static void refresh_conn(hg_sdk_t *sdk, sdk_conn_t *c)
{
    hg_fl_process_t *p = hg_fl_proc_find(sdk->api->fleet, c->sp->key);
    if (p == NULL)
        return;
    hg_error_t err;
    const hg_fl_token_t *tok;
    hg_store_txn_t *txn = hg_store_txn_new(sdk->api->store);
    if (hg_fl_compute_token(sdk->api->fleet, p->compute, txn, &tok, &err) < 0) {
        HG_LOG(HG_LOG_WARN, "sdk", "no token to refresh process=%s: %s", c->sp->key, err.msg);
        hg_store_txn_free(txn);
        return;
    }
    refresh_t *r = hg_calloc(1, sizeof(*r));
    r->conn = c;
    c->refs++;
    memcpy(r->token, tok->token, sizeof(r->token));
    hg_store_commit(txn, on_refresh_committed, r);
}

/* Put c on the refresh list at its time (almost always the tail: times grow as sockets come). */
static void refresh_schedule(hg_sdk_t *sdk, sdk_conn_t *c, int64_t at_ms)
{
    c->refresh_ms = at_ms;
    hg_list_t *q = sdk->refresh.prev;
    while (q != &sdk->refresh && hg_container_of(q, sdk_conn_t, rnode)->refresh_ms > at_ms)
        q = q->prev;
    hg_list_insert_tail(q->next, &c->rnode); /* after q */
}

size_t hg_sdk_tick(hg_sdk_t *sdk, size_t budget)
{
    size_t n = 0;
    if (sdk->stopped)
        return 0;
    int64_t now = hg_clock_now_ms(sdk->api->clock);
    while (n < budget && !hg_list_empty(&sdk->refresh)) {
        sdk_conn_t *c = hg_container_of(sdk->refresh.next, sdk_conn_t, rnode);
        if (c->refresh_ms > now)
            break;
        hg_list_remove(&c->rnode);
        refresh_conn(sdk, c);
        n++;
    }
    return n;
}

void hg_sdk_drop(hg_sdk_t *sdk, hg_fl_process_t *p)
{
    sdk_proc_t *sp = hg_map_get(&sdk->procs, p->key);
    if (sp == NULL)
        return;
    hg_map_del(&sdk->procs, sp->key);
    sp->detached = 1;
    if (sp->nrefs == 0) {
        proc_free(sp);
        return;
    }
    /* 1000: a normal closure, so the SDK does not reconnect to a process that is gone */
    hg_list_t *q;
    hg_list_foreach (q, &sp->conns) {
        sdk_conn_t *c = hg_container_of(q, sdk_conn_t, node);
        if (c->ws)
            hg_ws_close(c->ws, 1000, "server process ended");
    }
}

/* ---- the upgrade ---- */

/* A query value by name: %XX decoded when the client encoded (Go), taken as it is otherwise
 * ('+' stays '+': C++ and C# do not encode, and tokens never hold spaces). 1 found, 0 absent,
 * -1 too long or a NUL. */
static int query_get(const hg_http_req_t *req, const char *name, char *out, size_t cap)
{
    const char *v, *pe;
    size_t len, o = 0;
    out[0] = '\0';
    if (!hg_http_query_raw(req, name, &v, &len))
        return 0;
    for (pe = v + len; v < pe; v++) {
        int ch = (unsigned char)*v;
        if (ch == '%' && pe - v >= 3 && hg_hex_digit(v[1]) >= 0 && hg_hex_digit(v[2]) >= 0) {
            ch = hg_hex_digit(v[1]) * 16 + hg_hex_digit(v[2]);
            v += 2;
        }
        if (o + 1 >= cap || ch == 0)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 1;
}

/* Go's url.QueryEscape: unreserved kept, space '+', the rest %XX. */
static void query_escape(hg_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            hg_buf_append(b, s, 1);
        } else if (ch == ' ') {
            hg_buf_puts(b, "+");
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            hg_buf_append(b, e, 3);
        }
    }
}

/* SigV4 on the socket (§7.6): the key must exist, sign the SDK's payload, and may connect
 * server processes. *expires_ms: when the signature gets too old to reconnect with. */
static int check_sigv4(hg_api_t *api, const hg_http_req_t *req, const char *fleet_id,
                       const char *compute, const char *pid, int64_t *expires_ms, hg_error_t *err)
{
    char cred[512], date[32], sig[128], alg[64];
    if (query_get(req, "X-Amz-Algorithm", alg, sizeof(alg)) != 1 ||
        strcmp(alg, "AWS4-HMAC-SHA256") != 0)
        return hg_error_set(err, HG_EBADSIG, "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
    if (query_get(req, "X-Amz-Credential", cred, sizeof(cred)) != 1 ||
        query_get(req, "X-Amz-Date", date, sizeof(date)) != 1 ||
        query_get(req, "X-Amz-Signature", sig, sizeof(sig)) != 1)
        return hg_error_set(err, HG_ENOAUTH,
                            "X-Amz-Credential, X-Amz-Date and X-Amz-Signature are required with "
                            "Authorization=SigV4");
    /* AKID/YYYYMMDD/region/service/aws4_request */
    char *parts[5];
    int n = 0;
    for (char *s = cred, *t; n < 5 && (t = strsep(&s, "/")) != NULL;)
        parts[n++] = t;
    if (n != 5 || strcmp(parts[4], "aws4_request") != 0 || strcmp(parts[3], "gamelift") != 0 ||
        strlen(parts[1]) != 8 || strncmp(parts[1], date, 8) != 0)
        return hg_error_set(err, HG_EBADSIG,
                            "X-Amz-Credential must be <key>/<date>/<region>/gamelift/aws4_request "
                            "with the date of X-Amz-Date");
    const hg_key_t *k = hg_keys_find(api->keys, parts[0]);
    if (k == NULL)
        return hg_error_set(err, HG_EUNKNOWNKEY,
                            "The security token included in the request is invalid.");
    hg_buf_t payload;
    hg_buf_init(&payload);
    hg_buf_puts(&payload, "ComputeId=");
    query_escape(&payload, compute);
    hg_buf_puts(&payload, "&FleetId=");
    query_escape(&payload, fleet_id);
    hg_buf_puts(&payload, "&pID=");
    query_escape(&payload, pid);
    int rc = hg_sigv4_verify_payload(k->id, k->secret, date, parts[2], "gamelift", payload.data,
                                     payload.len, sig, hg_clock_now_ms(api->clock) / 1000,
                                     api->sigv4_skew_s, SIGV4_MAX_AGE_S, err);
    hg_buf_free(&payload);
    if (rc < 0)
        return rc;
    if (!hg_policy_allows(k->policy, "gamelift:ActivateServerProcess"))
        return hg_error_set(err, HG_EUNAUTHORIZED,
                            "key %s is not allowed to perform gamelift:ActivateServerProcess",
                            k->id);
    int64_t signed_s = 0; /* verified above: a valid date */
    hg_sigv4_parse_date(date, &signed_s);
    *expires_ms = (signed_s + SIGV4_MAX_AGE_S) * 1000LL;
    return 0;
}

static void refuse(hg_sdk_t *sdk, hg_http_req_t *req, int status, const hg_error_t *err)
{
    if (sdk)
        sdk->refused++;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_puts(&b, "{\"__type\":");
    hg_jsonw_str(&b, hg_err_gamelift_type(err->code));
    hg_buf_puts(&b, ",\"message\":");
    hg_jsonw_str(&b, err->msg);
    hg_buf_puts(&b, "}");
    HG_LOG(HG_LOG_INFO, "sdk", "connection refused status=%d: %s", status, err->msg);
    hg_http_respond(req, status, "application/json", NULL, b.data, b.len);
    hg_buf_free(&b);
}

void hg_sdk_handle(hg_api_t *api, hg_http_req_t *req)
{
    hg_sdk_t *sdk = api->sdk;
    hg_error_t err;
    hg_error_clear(&err);
    char pid[HG_FL_PID_MAX + 2], fleet_id[600], compute[600], auth[QUERY_VALUE_MAX];
    char ver[80], lang[80];
    int status = 400;
    if (sdk == NULL || sdk->stopped || api->shutting_down) {
        hg_error_set(&err, HG_ESHUTDOWN, "the service is shutting down");
        refuse(sdk, req, 503, &err);
        return;
    }
    if (!hg_ws_is_upgrade(req)) {
        hg_error_set(&err, HG_EINVAL,
                     "this is the GameLift Server SDK WebSocket endpoint: connect with a "
                     "WebSocket upgrade");
        refuse(sdk, req, 400, &err);
        return;
    }
    if (query_get(req, "pID", pid, sizeof(pid)) != 1 ||
        query_get(req, "FleetId", fleet_id, sizeof(fleet_id)) != 1 ||
        query_get(req, "ComputeId", compute, sizeof(compute)) != 1 || !pid[0] || !fleet_id[0] ||
        !compute[0]) {
        hg_error_set(&err, HG_EINVAL, "the query needs pID, FleetId and ComputeId");
        goto refused;
    }
    query_get(req, "sdkVersion", ver, sizeof(ver));
    query_get(req, "sdkLanguage", lang, sizeof(lang));
    int has_auth = query_get(req, "Authorization", auth, sizeof(auth));
    if (has_auth != 1 || !auth[0]) {
        status = 401;
        hg_error_set(&err, HG_ENOAUTH,
                     "Authorization is required: a compute auth token (GetComputeAuthToken) or "
                     "SigV4");
        goto refused;
    }
    hg_fleet_t *fl = api->fleet;
    int rc;
    int64_t expires_ms = 0; /* of the credentials; 0: already expired (refresh at once) */
    int sigv4 = strcmp(auth, "SigV4") == 0;
    status = 403;
    if (sigv4)
        rc = check_sigv4(api, req, fleet_id, compute, pid, &expires_ms, &err);
    else
        rc = hg_fleet_token_check(fl, fleet_id, compute, auth, &expires_ms);
    hg_fl_fleet_t *f;
    hg_fl_compute_t *c;
    if ((rc == 0 || (rc == HG_EUNAUTHORIZED && !sigv4)) &&
        (hg_fl_fleet_get(fl, fleet_id, &f, &err) < 0 ||
         hg_fl_compute_get(f, compute, &c, &err) < 0))
        goto refused;
    if (rc == HG_EUNAUTHORIZED && !sigv4 && hg_fl_proc_auth_known(fl, f->id, c->name, pid, auth)) {
        /* its token expired while it was away: a known process may come back (fleet.h) */
        HG_LOG(HG_LOG_INFO, "sdk", "expired token accepted for known process %s/%s/%s", f->id,
               c->name, pid);
        rc = 0;
        expires_ms = 0;
    }
    if (rc < 0) {
        if (!sigv4)
            hg_error_set(&err, rc,
                         rc == HG_ENOTFOUND
                             ? "no such fleet or compute: %s / %s"
                             : "the auth token is not valid for compute %s of fleet %s",
                         compute, fleet_id);
        goto refused;
    }

    sdk_conn_t *conn = hg_calloc(1, sizeof(*conn));
    conn->sdk = sdk;
    conn->refs = 1;
    hg_list_init(&conn->node);
    hg_list_init(&conn->rnode);
    /* RefreshConnection hands back the URL this socket reached us at, with its scheme */
    hg_http_conn_t *hc = hg_http_req_conn(req);
    hg_api_sdk_endpoint(api, req, hc && hg_http_conn_is_tls(hc), conn->endpoint,
                        sizeof(conn->endpoint));
    hg_fl_process_t *p;
    int created;
    /* a live socket of this process keeps it if this upgrade's handshake turns out bad */
    char key[HG_FL_PID_MAX + 600];
    snprintf(key, sizeof(key), "%s/%s/%s", f->id, c->name, pid);
    hg_fl_process_t *prev = hg_fl_proc_find(fl, key);
    void *prev_conn = prev ? prev->conn : NULL;
    hg_store_txn_t *txn = hg_store_txn_new(api->store);
    if (hg_fl_proc_connect(fl, f, c, pid, conn, sigv4 ? NULL : auth, txn, &p, &created, &err) < 0) {
        hg_store_txn_free(txn);
        hg_free(conn);
        status = err.code == HG_ELIMIT ? 429 : 400;
        goto refused;
    }
    hg_ws_limits_t lim = {
        .max_message = HG_SDK_MAX_MESSAGE, .ping_interval_ms = 30000, .pong_timeout_ms = 30000};
    if (hg_ws_accept(req, &lim, NULL, &ws_cbs, conn, &conn->ws, &err) < 0) {
        if (!created && prev_conn)
            p->conn = prev_conn;
        else
            hg_fl_proc_disconnect(fl, p, conn, txn);
        hg_store_commit(txn, NULL, NULL);
        hg_free(conn);
        status = 400;
        goto refused;
    }
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    sdk_proc_t *sp = hg_map_get(&sdk->procs, p->key);
    if (sp == NULL) {
        sp = hg_calloc(1, sizeof(*sp));
        sp->key = hg_strdup(p->key);
        hg_list_init(&sp->conns);
        hg_map_set(&sdk->procs, sp->key, sp);
    }
    conn->sp = sp;
    sp->nrefs++;
    hg_list_insert_tail(&sp->conns, &conn->node);
    sp->nconns++;
    sdk->nconns++;
    sdk->connects++;
    /* a third of a token's lifetime before these credentials expire, at once when they have */
    int64_t now = hg_clock_now_ms(api->clock);
    int64_t at = expires_ms - hg_fleet_token_ttl_ms(fl) / 3;
    refresh_schedule(sdk, conn, at > now ? at : now);
    HG_LOG(HG_LOG_INFO, "sdk", "%s process=%s sdk=%s/%s peer=%s",
           created ? "connected" : "reconnected", p->key, lang, ver, hg_ws_peer(conn->ws));
    return;
refused:
    refuse(sdk, req, status, &err);
}
