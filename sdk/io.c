/* hangar — libhangar-server: the I/O thread. It owns the socket(s) to the service on its own
 * libuv loop: which connection is current, connection attempts and reconnects, the calls in
 * flight (sending, correlating answers, timeouts and re-sends), pushes from the service,
 * heartbeats.
 *
 * DESIGN
 * - Other threads never touch the loop. They hand work over under srv->mu (calls in the inbox,
 *   a health result, the closing flag) and wake the loop with uv_async_send(), itself under
 *   srv->mu so it can never race with the async handle's close (io_gone).
 * - A call stays in `calls_head` from submission to completion. `sent_conn` names the socket
 *   it was last written to; when that socket dies it becomes 0 and the call is written again
 *   (same RequestId) as soon as a socket is open. Each try has timeout_ms; after max_sends tries
 *   the call fails with HANGAR_SERVER_ETIMEDOUT. Two tries in a row unanswered on the current
 *   socket count as a half-open connection: it is dropped and replaced.
 * - Dispatch (wire 7.2, as all three official SDKs): a StatusCode other than 200 with a
 *   non-empty RequestId is an error answer to that request; else an Action we handle as a push
 *   is a push; else a RequestId completes the call waiting for it. Anything else is logged and
 *   dropped.
 * - Pushes reach the game through the callback thread's queue (server.c); this thread never
 *   runs game code, so a slow callback cannot stall the socket.
 * - Connections: `active` (calls go there), `pending` (an attempt), `draining` (the old socket
 *   after a RefreshConnection, closed by drain_timer). Attempts failing are retried with backoff
 *   (retry_timer) up to connect_retries times; 401/403, TLS and URL errors are final.
 *
 * Phases:
 *
 *     INIT ──first socket open──▶ UP ──normal close by the service / retries exhausted──▶ DOWN
 *     INIT ──attempts exhausted or a final error──▶ DOWN (hangar_server_new fails)
 *     any ──hangar_server_free──▶ CLOSING (calls fail, sockets closed with 1001, handles closed)
 *
 *     | event                                  | function          | effect                      |
 *     |----------------------------------------|-------------------|-----------------------------|
 *     | socket open                            | hg_sdk_io_conn_open | active; INIT: init returns;|
 *     |                                        |                   | unsent calls written        |
 *     | attempt failed                         | attempt_failed    | retry_timer or give_up      |
 *     | active closed, code not 1000/1001      | active_lost       | reconnect at once           |
 *     | active closed with 1000/1001           | active_lost       | DOWN (ECLOSED)              |
 *     | two tries in a row unanswered          | on_call_timer     | drop active, reconnect      |
 *     | RefreshConnection                      | push_refresh      | pending attempt; on open    |
 *     |                                        |                   | old active -> draining      |
 *     | closing flag seen                      | on_async          | CLOSING                     |
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk_int.h"

enum { PH_INIT, PH_UP, PH_DOWN, PH_CLOSING };

static void connect_attempt(hangar_server_t *srv, int refresh);
static void heartbeat_send(hangar_server_t *srv, int healthy);
static void on_hb_timer(uv_timer_t *t);

/* ---- calls ---- */

static void rearm_call_timer(hangar_server_t *srv);

static void unlink_call(hangar_server_t *srv, hg_sdk_call_t *call)
{
    for (hg_sdk_call_t **pp = &srv->calls_head; *pp; pp = &(*pp)->next)
        if (*pp == call) {
            *pp = call->next;
            call->next = NULL;
            return;
        }
}

/* Finish a call: hand the outcome to its waiter (or free an internal one). Takes ownership of
 * result. The call must no longer be in calls_head. */
static void complete(hangar_server_t *srv, hg_sdk_call_t *call, const hangar_server_error_t *err,
                     json_t *result)
{
    if (call->kind == HG_SDK_CALL_HEARTBEAT) {
        srv->hb_in_flight = 0;
        if (err) /* a heartbeat failing because the SDK or the socket is closing is no news */
            hg_sdk_log(srv,
                       err->code == HANGAR_SERVER_ECLOSED ? HANGAR_SERVER_LOG_DEBUG
                                                          : HANGAR_SERVER_LOG_WARN,
                       "heartbeat_failed rid=%s error=\"%s\"", call->rid, err->message);
        json_decref(result);
        free(call->text);
        free(call);
        return;
    }
    if (call->kind == HG_SDK_CALL_ACTIVATE_PROCESS && err == NULL && srv->phase == PH_UP) {
        pthread_mutex_lock(&srv->mu);
        srv->ready = !srv->ending;
        pthread_mutex_unlock(&srv->mu);
        if (!srv->hb_running) { /* the first heartbeat goes out at once (as the official SDKs) */
            srv->hb_running = 1;
            on_hb_timer(&srv->hb_timer);
        }
    }
    HG_SDK_DEBUG(srv, "call_done action=%s rid=%s code=%s", call->action, call->rid,
                 hangar_server_err_name(err ? err->code : 0));
    pthread_mutex_lock(&srv->mu);
    call->rc = err ? err->code : 0;
    if (err)
        call->err = *err;
    call->result = result;
    call->done = 1;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

static void fail_all_calls(hangar_server_t *srv, const hangar_server_error_t *err)
{
    while (srv->calls_head) {
        hg_sdk_call_t *call = srv->calls_head;
        srv->calls_head = call->next;
        call->next = NULL;
        complete(srv, call, err, NULL);
    }
    uv_timer_stop(&srv->call_timer);
}

static void send_call(hangar_server_t *srv, hg_sdk_call_t *call)
{
    if (srv->active == NULL)
        return;
    int rc = hg_sdk_conn_send(srv->active, call->text, call->len);
    if (rc != 0) {
        HG_SDK_WARN(srv, "send_failed action=%s rid=%s error=%s", call->action, call->rid,
                    hangar_server_err_name(rc));
        return; /* stays unsent; its timeout still runs */
    }
    call->sent_conn = hg_sdk_conn_id(srv->active);
    HG_SDK_DEBUG(srv, "sent action=%s rid=%s try=%u conn=%u", call->action, call->rid, call->sends,
                 call->sent_conn);
}

static void add_call(hangar_server_t *srv, hg_sdk_call_t *call)
{
    call->sends = 1;
    call->deadline = uv_now(&srv->loop) + call->timeout_ms;
    call->sent_conn = 0;
    call->next = srv->calls_head;
    srv->calls_head = call;
    send_call(srv, call);
}

/* Calls written to a socket that is gone go out again on the next one. */
static void unsend_calls(hangar_server_t *srv, unsigned conn_id)
{
    for (hg_sdk_call_t *c = srv->calls_head; c; c = c->next)
        if (c->sent_conn == conn_id)
            c->sent_conn = 0;
}

static void send_unsent_calls(hangar_server_t *srv)
{
    for (hg_sdk_call_t *c = srv->calls_head; c; c = c->next)
        if (c->sent_conn == 0)
            send_call(srv, c);
}

static hg_sdk_call_t *find_call(hangar_server_t *srv, const char *rid)
{
    for (hg_sdk_call_t *c = srv->calls_head; c; c = c->next)
        if (strcmp(c->rid, rid) == 0)
            return c;
    return NULL;
}

static void active_lost(hangar_server_t *srv, int code, const char *why);

static void on_call_timer(uv_timer_t *t)
{
    hangar_server_t *srv = t->data;
    uint64_t now = uv_now(&srv->loop);
    hg_sdk_call_t *next;
    unsigned active_id = srv->active ? hg_sdk_conn_id(srv->active) : 0;
    for (hg_sdk_call_t *c = srv->calls_head; c; c = next) {
        next = c->next;
        if (c->deadline > now)
            continue;
        if (c->sent_conn != 0 && c->sent_conn == active_id)
            srv->timeouts_in_row++;
        if (c->sends < c->max_sends) {
            c->sends++;
            c->deadline = now + c->timeout_ms;
            HG_SDK_WARN(srv, "no_answer action=%s rid=%s resending try=%u/%u", c->action, c->rid,
                        c->sends, c->max_sends);
            c->sent_conn = 0;
            if (srv->timeouts_in_row < 2) /* else the socket is replaced below first */
                send_call(srv, c);
            continue;
        }
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_ETIMEDOUT, 0,
                   "no answer from the service to %s after %u tries", c->action, c->sends);
        unlink_call(srv, c);
        complete(srv, c, &err, NULL);
    }
    if (srv->timeouts_in_row >= 2 && srv->active) {
        hg_sdk_conn_t *lost = srv->active;
        HG_SDK_WARN(srv, "connection_unresponsive conn=%u reconnecting", hg_sdk_conn_id(lost));
        srv->active = NULL;
        hg_sdk_conn_abort(lost);
        unsend_calls(srv, hg_sdk_conn_id(lost));
        active_lost(srv, 1006, "requests unanswered");
    }
    rearm_call_timer(srv);
}

static void rearm_call_timer(hangar_server_t *srv)
{
    if (srv->phase == PH_CLOSING)
        return;
    uint64_t min = UINT64_MAX, now = uv_now(&srv->loop);
    for (hg_sdk_call_t *c = srv->calls_head; c; c = c->next)
        if (c->deadline < min)
            min = c->deadline;
    if (min == UINT64_MAX)
        uv_timer_stop(&srv->call_timer);
    else
        uv_timer_start(&srv->call_timer, on_call_timer, min > now ? min - now : 0, 0);
}

/* ---- heartbeats ---- */

static void hb_schedule(hangar_server_t *srv)
{
    uint64_t delay = srv->cfg.hb_interval_ms;
    uint32_t j = srv->cfg.hb_jitter_ms;
    if (j > 0) {
        uint32_t r;
        hg_sdk_random(&r, sizeof(r));
        delay =
            delay - j + r % (2 * (uint64_t)j + 1); /* interval +/- jitter; jitter <= interval/2 */
    }
    uv_timer_start(&srv->hb_timer, on_hb_timer, delay, 0);
}

static void hb_stop(hangar_server_t *srv)
{
    srv->hb_running = 0;
    srv->hb_waiting_gen = 0;
    uv_timer_stop(&srv->hb_timer);
    uv_timer_stop(&srv->health_timer);
}

static void heartbeat_send(hangar_server_t *srv, int healthy)
{
    if (!srv->hb_running)
        return;
    hb_schedule(srv);
    if (srv->active == NULL || srv->hb_in_flight) {
        HG_SDK_DEBUG(srv, "heartbeat_skipped reason=%s",
                     srv->active ? "previous heartbeat unanswered" : "not connected");
        return;
    }
    hg_sdk_call_t *call = hg_sdk_calloc(1, sizeof(*call));
    call->kind = HG_SDK_CALL_HEARTBEAT;
    call->action = "HeartbeatServerProcess";
    hg_sdk_random_token(call->rid);
    hg_sdk_buf_t b = {0};
    hg_sdk_buf_printf(&b,
                      "{\"Action\":\"HeartbeatServerProcess\",\"RequestId\":\"%s\","
                      "\"HealthStatus\":%s}",
                      call->rid, healthy ? "true" : "false");
    call->len = b.len;
    hg_sdk_buf_append(&b, "", 1);
    call->text = b.data;
    call->timeout_ms = srv->cfg.call_timeout_ms;
    call->max_sends = 1;
    srv->hb_in_flight = 1;
    HG_SDK_DEBUG(srv, "heartbeat healthy=%s", healthy ? "true" : "false");
    add_call(srv, call);
    rearm_call_timer(srv);
}

static void on_health_timeout(uv_timer_t *t)
{
    hangar_server_t *srv = t->data;
    if (srv->hb_waiting_gen == 0)
        return;
    srv->hb_waiting_gen = 0;
    HG_SDK_WARN(srv, "health_check_late timeout_ms=%u reporting=unhealthy",
                srv->cfg.health_timeout_ms);
    heartbeat_send(srv, 0);
}

static void on_hb_timer(uv_timer_t *t)
{
    hangar_server_t *srv = t->data;
    if (!srv->hb_running)
        return;
    pthread_mutex_lock(&srv->mu);
    int has_cb = srv->pp.on_health_check != NULL;
    pthread_mutex_unlock(&srv->mu);
    if (!has_cb) {
        heartbeat_send(srv, 1); /* no health check: healthy (see hangar/server.h) */
        return;
    }
    if (srv->health_cb_running) {
        HG_SDK_WARN(srv, "health_check_still_running reporting=unhealthy");
        heartbeat_send(srv, 0);
        return;
    }
    hg_sdk_event_t *ev = hg_sdk_calloc(1, sizeof(*ev));
    ev->kind = HG_SDK_EV_HEALTH;
    ev->gen = ++srv->hb_gen;
    pthread_mutex_lock(&srv->mu);
    int rc = hg_sdk_post_event_locked(srv, ev);
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) {
        heartbeat_send(srv, 0);
        return;
    }
    srv->health_cb_running = 1;
    srv->hb_waiting_gen = srv->hb_gen;
    uv_timer_start(&srv->health_timer, on_health_timeout, srv->cfg.health_timeout_ms, 0);
}

static void health_result(hangar_server_t *srv, uint64_t gen, int healthy)
{
    srv->health_cb_running = 0;
    if (gen != srv->hb_waiting_gen || gen == 0)
        return; /* too late: unhealthy was already reported */
    srv->hb_waiting_gen = 0;
    uv_timer_stop(&srv->health_timer);
    heartbeat_send(srv, healthy);
}

/* ---- pushes ---- */

static const char *str_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Queue a push for the callback thread. Steals *mp (sets it to NULL): the callback thread alone
 * touches the message from now on (jansson's reference counts are not for sharing between
 * threads). */
static void post(hangar_server_t *srv, enum hg_sdk_event_kind kind, json_t **mp, int64_t term_sec)
{
    json_t *msg = *mp;
    *mp = NULL;
    hg_sdk_event_t *ev = hg_sdk_calloc(1, sizeof(*ev));
    ev->kind = kind;
    ev->msg = msg;
    ev->term_sec = term_sec;
    char action[64];
    snprintf(action, sizeof(action), "%s", json_string_value(json_object_get(msg, "Action")));
    pthread_mutex_lock(&srv->mu);
    int rc = hg_sdk_post_event_locked(srv, ev);
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) /* ev (and msg) already freed */
        HG_SDK_ERROR(srv, "callback_queue_full dropped=%s limit=%d", action,
                     HANGAR_SERVER_MAX_QUEUED_CALLBACKS);
}

static void push_create_game_session(hangar_server_t *srv, json_t **mp)
{
    json_t *m = *mp;
    const char *id = str_field(m, "GameSessionId");
    size_t n = strlen(id);
    if (n == 0 || n > HANGAR_SERVER_MAX_LONG_LEN) {
        HG_SDK_WARN(srv,
                    "bad_push action=CreateGameSession reason=\"GameSessionId missing or over "
                    "%d characters\"",
                    HANGAR_SERVER_MAX_LONG_LEN);
        return;
    }
    pthread_mutex_lock(&srv->mu);
    int ready = srv->ready;
    if (ready) {
        free(srv->game_session_id);
        srv->game_session_id = hg_sdk_strndup(id, n);
    }
    pthread_mutex_unlock(&srv->mu);
    if (!ready) {
        HG_SDK_WARN(srv, "push_ignored action=CreateGameSession reason=\"ProcessReady not done\"");
        return;
    }
    HG_SDK_INFO(srv, "create_game_session game_session_id=%s", id);
    post(srv, HG_SDK_EV_START_GAME_SESSION, mp, 0);
}

static void push_update_game_session(hangar_server_t *srv, json_t **mp)
{
    json_t *m = *mp;
    pthread_mutex_lock(&srv->mu);
    int ready = srv->ready;
    int has_cb = srv->pp.on_update_game_session != NULL;
    pthread_mutex_unlock(&srv->mu);
    if (!ready || !json_is_object(json_object_get(m, "GameSession"))) {
        HG_SDK_WARN(srv, "push_ignored action=UpdateGameSession reason=\"%s\"",
                    ready ? "no GameSession object" : "ProcessReady not done");
        return;
    }
    HG_SDK_INFO(srv, "update_game_session reason=%s", str_field(m, "UpdateReason"));
    if (has_cb)
        post(srv, HG_SDK_EV_UPDATE_GAME_SESSION, mp, 0);
}

static void push_terminate_process(hangar_server_t *srv, json_t **mp)
{
    json_t *m = *mp;
    json_t *t = json_object_get(m, "TerminationTime");
    int64_t ms = json_is_integer(t) ? (int64_t)json_integer_value(t)
                 : json_is_real(t)  ? (int64_t)json_real_value(t)
                                    : 0;
    pthread_mutex_lock(&srv->mu);
    if (ms > 0) {
        srv->termination_ms = ms;
        srv->has_termination = 1;
    }
    int has_cb = srv->pp.on_process_terminate != NULL;
    pthread_mutex_unlock(&srv->mu);
    HG_SDK_INFO(srv, "terminate_process termination_time_ms=%lld", (long long)ms);
    if (has_cb)
        post(srv, HG_SDK_EV_TERMINATE, mp, ms / 1000);
    else
        HG_SDK_WARN(srv, "terminate_process_unhandled reason=\"no on_process_terminate\"");
}

static void push_refresh_connection(hangar_server_t *srv, json_t *m)
{
    const char *url = str_field(m, "RefreshConnectionEndpoint");
    const char *token = str_field(m, "AuthToken");
    hg_sdk_url_t u;
    hangar_server_error_t err = {0};
    if (*url == '\0' || *token == '\0' || strlen(url) > HANGAR_SERVER_MAX_URL_LEN ||
        strlen(token) > HANGAR_SERVER_MAX_TOKEN_LEN || hg_sdk_url_parse(url, &u, &err) != 0) {
        HG_SDK_WARN(srv, "bad_push action=RefreshConnection reason=\"%s\"",
                    err.code ? err.message : "endpoint or token missing or too long");
        return;
    }
    hg_sdk_url_free(&u);
    HG_SDK_INFO(srv, "refresh_connection endpoint=%s", url);
    free(srv->target_url);
    free(srv->target_token);
    srv->target_url = hg_sdk_strdup(url);
    srv->target_token = hg_sdk_strdup(token); /* a refresh always switches to token auth */
    if (srv->pending) {
        hg_sdk_conn_abort(srv->pending);
        srv->pending = NULL;
    }
    uv_timer_stop(&srv->retry_timer);
    if (srv->active) {
        connect_attempt(srv, 1);
    } else {
        srv->attempt = 0;
        connect_attempt(srv, 0);
    }
}

/* ---- connections ---- */

static void go_down(hangar_server_t *srv, const hangar_server_error_t *err)
{
    srv->phase = PH_DOWN;
    HG_SDK_ERROR(srv, "disconnected error=%s message=\"%s\"", hangar_server_err_name(err->code),
                 err->message);
    pthread_mutex_lock(&srv->mu);
    srv->down = 1;
    srv->down_err = *err;
    pthread_mutex_unlock(&srv->mu);
    hb_stop(srv);
    uv_timer_stop(&srv->retry_timer);
    if (srv->pending) {
        hg_sdk_conn_abort(srv->pending);
        srv->pending = NULL;
    }
    fail_all_calls(srv, err);
}

static void on_retry_timer(uv_timer_t *t)
{
    hangar_server_t *srv = t->data;
    if (srv->pending || srv->phase == PH_DOWN || srv->phase == PH_CLOSING)
        return;
    connect_attempt(srv, srv->retry_is_refresh && srv->active != NULL);
}

static int final_error(int code)
{
    return code == HANGAR_SERVER_EINVAL || code == HANGAR_SERVER_EUNAUTHORIZED ||
           code == HANGAR_SERVER_EFORBIDDEN || code == HANGAR_SERVER_ETLS;
}

static void attempt_failed(hangar_server_t *srv, const hangar_server_error_t *err, int refresh)
{
    srv->last_conn_err = *err;
    if (srv->phase == PH_CLOSING || srv->phase == PH_DOWN)
        return;
    if (refresh && srv->active) {
        HG_SDK_WARN(srv, "refresh_failed error=%s message=\"%s\" retry_in_ms=%u",
                    hangar_server_err_name(err->code), err->message, HG_SDK_REFRESH_RETRY_MS);
        srv->retry_is_refresh = 1;
        uv_timer_start(&srv->retry_timer, on_retry_timer, HG_SDK_REFRESH_RETRY_MS, 0);
        return;
    }
    srv->attempt++;
    if (final_error(err->code) || srv->attempt > srv->cfg.connect_retries) {
        hangar_server_error_t e = *err;
        if (!final_error(err->code))
            hg_sdk_err(&e, HANGAR_SERVER_ECONNECT, err->status_code,
                       "no connection after %u attempts: %s", srv->attempt, err->message);
        if (srv->phase == PH_INIT) {
            srv->phase = PH_DOWN;
            pthread_mutex_lock(&srv->mu);
            srv->init_err = e;
            srv->init_done = 1;
            pthread_cond_broadcast(&srv->cv);
            pthread_mutex_unlock(&srv->mu);
        } else {
            go_down(srv, &e);
        }
        return;
    }
    uint64_t delay = srv->cfg.retry_interval_ms;
    for (unsigned i = 1; i < srv->attempt && delay < srv->cfg.retry_max_ms; i++)
        delay *= 2;
    if (delay > srv->cfg.retry_max_ms)
        delay = srv->cfg.retry_max_ms;
    HG_SDK_WARN(srv, "connect_failed attempt=%u error=%s message=\"%s\" retry_in_ms=%llu",
                srv->attempt, hangar_server_err_name(err->code), err->message,
                (unsigned long long)delay);
    srv->retry_is_refresh = 0;
    uv_timer_start(&srv->retry_timer, on_retry_timer, delay, 0);
}

static void connect_attempt(hangar_server_t *srv, int refresh)
{
    hg_sdk_url_t u;
    hangar_server_error_t err = {0};
    if (hg_sdk_url_parse(srv->target_url, &u, &err) != 0) {
        attempt_failed(srv, &err, refresh);
        return;
    }
    struct {
        const char *k;
        const char *v;
    } q[16];
    size_t n = 0;
#define ADD(key, value) (q[n].k = (key), q[n].v = (value), n++)
    ADD("pID", srv->process_id);
    ADD("sdkVersion", HANGAR_SERVER_PROTOCOL_VERSION);
    ADD("sdkLanguage", HG_SDK_LANGUAGE);
    ADD("ComputeId", srv->host_id);
    ADD("FleetId", srv->fleet_id);
    ADD("IdempotencyToken", srv->idempotency_token);
    char amz_date[17], date[9], sig[65], cred[1100];
    hg_sdk_buf_t canon = {0};
    if (srv->target_token) {
        ADD("Authorization", srv->target_token);
    } else { /* SigV4 (wire 7.6): sign ComputeId, FleetId, pID */
        hg_sdk_buf_printf(&canon, "ComputeId=");
        hg_sdk_url_encode(&canon, srv->host_id);
        hg_sdk_buf_printf(&canon, "&FleetId=");
        hg_sdk_url_encode(&canon, srv->fleet_id);
        hg_sdk_buf_printf(&canon, "&pID=");
        hg_sdk_url_encode(&canon, srv->process_id);
        hg_sdk_buf_append(&canon, "", 1);
        hg_sdk_sigv4(srv->secret_key, srv->region, canon.data, time(NULL), amz_date, date, sig);
        snprintf(cred, sizeof(cred), "%s/%s/%s/gamelift/aws4_request", srv->access_key, date,
                 srv->region);
        ADD("Authorization", "SigV4");
        ADD("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
        ADD("X-Amz-Credential", cred);
        ADD("X-Amz-Date", amz_date);
        ADD("X-Amz-Signature", sig);
        if (srv->session_token)
            ADD("X-Amz-Security-Token", srv->session_token);
    }
#undef ADD
    /* keys sorted by bytes, as Go and C++ send them (insertion sort: a dozen entries) */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(q[j - 1].k, q[j].k) > 0; j--) {
            const char *k = q[j].k, *v = q[j].v;
            q[j] = q[j - 1];
            q[j - 1].k = k, q[j - 1].v = v;
        }
    hg_sdk_buf_t pq = {0};
    hg_sdk_buf_printf(&pq, "%s", u.path);
    for (size_t i = 0; i < n; i++) {
        hg_sdk_buf_printf(&pq, "%c%s=", i == 0 ? '?' : '&', q[i].k);
        hg_sdk_url_encode(&pq, q[i].v);
    }
    hg_sdk_buf_append(&pq, "", 1);
    HG_SDK_INFO(srv, "connecting url=%s attempt=%u%s", srv->target_url, srv->attempt + 1,
                refresh ? " refresh=true" : "");
    hg_sdk_conn_t *c = hg_sdk_conn_start(srv, &u, pq.data, ++srv->conn_seq, &err);
    hg_sdk_buf_free(&pq);
    hg_sdk_buf_free(&canon);
    hg_sdk_url_free(&u);
    if (c == NULL) {
        attempt_failed(srv, &err, refresh);
        return;
    }
    srv->pending = c;
    srv->pending_is_refresh = refresh;
}

static void on_drain_timer(uv_timer_t *t)
{
    hangar_server_t *srv = t->data;
    if (srv->draining == NULL)
        return;
    unsigned id = hg_sdk_conn_id(srv->draining);
    HG_SDK_DEBUG(srv, "old_connection_closed conn=%u", id);
    hg_sdk_conn_close(srv->draining, 1000);
    srv->draining = NULL;
    unsend_calls(srv, id);
    send_unsent_calls(srv);
}

void hg_sdk_io_conn_open(hg_sdk_conn_t *c)
{
    hangar_server_t *srv = hg_sdk_conn_srv(c);
    if (c != srv->pending || srv->phase == PH_CLOSING || srv->phase == PH_DOWN) {
        hg_sdk_conn_abort(c);
        return;
    }
    srv->pending = NULL;
    uv_timer_stop(&srv->retry_timer);
    srv->attempt = 0;
    srv->timeouts_in_row = 0;
    if (srv->active) { /* a refresh: keep the old socket a little for late answers */
        if (srv->draining) {
            unsend_calls(srv, hg_sdk_conn_id(srv->draining));
            hg_sdk_conn_close(srv->draining, 1000);
        }
        srv->draining = srv->active;
        uv_timer_start(&srv->drain_timer, on_drain_timer, srv->cfg.disconnect_timeout_ms, 0);
    }
    srv->active = c;
    HG_SDK_INFO(srv, "connected conn=%u url=%s", hg_sdk_conn_id(c), srv->target_url);
    if (srv->phase == PH_INIT) {
        srv->phase = PH_UP;
        pthread_mutex_lock(&srv->mu);
        srv->init_done = 1;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
    }
    send_unsent_calls(srv);
}

static void active_lost(hangar_server_t *srv, int code, const char *why)
{
    if (srv->phase == PH_CLOSING || srv->phase == PH_DOWN)
        return;
    if (srv->pending) { /* a refresh attempt is under way: it takes over when open */
        HG_SDK_WARN(srv, "connection_lost code=%d reason=\"%s\" waiting_for=refresh", code, why);
        srv->pending_is_refresh = 0;
        return;
    }
    if (code == 1000 || code == 1001) {
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_ECLOSED, 0, "the service closed the connection (code %d)",
                   code);
        go_down(srv, &err);
        return;
    }
    HG_SDK_WARN(srv, "connection_lost code=%d reason=\"%s\" reconnecting", code, why);
    srv->attempt = 0;
    connect_attempt(srv, 0);
}

void hg_sdk_io_conn_end(hg_sdk_conn_t *c, int opened, int code, const hangar_server_error_t *err)
{
    hangar_server_t *srv = hg_sdk_conn_srv(c);
    unsigned id = hg_sdk_conn_id(c);
    if (c == srv->pending) {
        int refresh = srv->pending_is_refresh;
        srv->pending = NULL;
        hangar_server_error_t e = {0};
        if (err)
            e = *err;
        else
            hg_sdk_err(&e, HANGAR_SERVER_ECONNECT, 0, "connection closed (code %d)", code);
        attempt_failed(srv, &e, refresh && srv->active);
        return;
    }
    if (c == srv->draining) {
        srv->draining = NULL;
        uv_timer_stop(&srv->drain_timer);
        unsend_calls(srv, id);
        send_unsent_calls(srv);
        return;
    }
    if (c == srv->active) {
        (void)opened;
        srv->active = NULL;
        unsend_calls(srv, id);
        active_lost(srv, code, err ? err->message : "closed");
    }
}

/* ---- messages ---- */

void hg_sdk_io_conn_message(hg_sdk_conn_t *c, const char *data, size_t len)
{
    hangar_server_t *srv = hg_sdk_conn_srv(c);
    if (srv->phase == PH_CLOSING)
        return;
    if (c == srv->active)
        srv->timeouts_in_row = 0;
    json_error_t je;
    json_t *m = json_loadb(data, len, 0, &je);
    if (!json_is_object(m)) {
        HG_SDK_WARN(srv, "bad_message conn=%u bytes=%zu reason=\"%s\"", hg_sdk_conn_id(c), len,
                    m ? "not a JSON object" : je.text);
        json_decref(m);
        return;
    }
    const char *action = str_field(m, "Action");
    const char *rid = str_field(m, "RequestId");
    json_t *st = json_object_get(m, "StatusCode");
    int has_status = json_is_integer(st) || json_is_string(st);
    int status = json_is_integer(st)  ? (int)json_integer_value(st)
                 : json_is_string(st) ? atoi(json_string_value(st))
                                      : 0;
    HG_SDK_DEBUG(srv, "received conn=%u action=%s rid=%s status=%d", hg_sdk_conn_id(c), action, rid,
                 status);
    if (has_status && status != 200 && *rid) {
        hg_sdk_call_t *call = find_call(srv, rid);
        if (call) {
            hangar_server_error_t err = {0};
            const char *em = str_field(m, "ErrorMessage");
            hg_sdk_err(&err, hg_sdk_status_to_code(status), status, "%s: service answered %d%s%s",
                       call->action, status, *em ? ": " : "", em);
            unlink_call(srv, call);
            complete(srv, call, &err, NULL);
            rearm_call_timer(srv);
        } else {
            HG_SDK_DEBUG(srv, "answer_unmatched rid=%s status=%d", rid, status);
        }
    } else if (strcmp(action, "CreateGameSession") == 0) {
        push_create_game_session(srv, &m);
    } else if (strcmp(action, "UpdateGameSession") == 0) {
        push_update_game_session(srv, &m);
    } else if (strcmp(action, "TerminateProcess") == 0) {
        push_terminate_process(srv, &m);
    } else if (strcmp(action, "RefreshConnection") == 0) {
        push_refresh_connection(srv, m);
    } else if (*rid) {
        hg_sdk_call_t *call = find_call(srv, rid);
        if (call) {
            unlink_call(srv, call);
            complete(srv, call, NULL, m); /* the waiter owns the answer now */
            m = NULL;
            rearm_call_timer(srv);
        } else {
            HG_SDK_DEBUG(srv, "answer_unmatched rid=%s action=%s", rid, action);
        }
    } else {
        HG_SDK_DEBUG(srv, "message_ignored action=%s", action);
    }
    json_decref(m);
}

/* ---- the thread ---- */

static void shutdown_io(hangar_server_t *srv)
{
    srv->phase = PH_CLOSING;
    hangar_server_error_t err = {0};
    hg_sdk_err(&err, HANGAR_SERVER_ECLOSED, 0, "the SDK is shutting down");
    fail_all_calls(srv, &err);
    hb_stop(srv);
    if (srv->pending)
        hg_sdk_conn_abort(srv->pending);
    if (srv->draining)
        hg_sdk_conn_close(srv->draining, 1001);
    if (srv->active) {
        HG_SDK_INFO(srv, "closing conn=%u code=1001", hg_sdk_conn_id(srv->active));
        hg_sdk_conn_close(srv->active, 1001);
    }
    srv->pending = srv->draining = srv->active = NULL;
    pthread_mutex_lock(&srv->mu);
    srv->io_gone = 1;
    pthread_mutex_unlock(&srv->mu);
    uv_close((uv_handle_t *)&srv->async, NULL);
    uv_close((uv_handle_t *)&srv->call_timer, NULL);
    uv_close((uv_handle_t *)&srv->hb_timer, NULL);
    uv_close((uv_handle_t *)&srv->health_timer, NULL);
    uv_close((uv_handle_t *)&srv->retry_timer, NULL);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    /* the loop ends when the sockets have finished closing */
}

static void on_async(uv_async_t *a)
{
    hangar_server_t *srv = a->data;
    if (srv->phase == PH_CLOSING)
        return;
    uv_update_time(&srv->loop);
    pthread_mutex_lock(&srv->mu);
    hg_sdk_call_t *inbox = srv->inbox_head;
    srv->inbox_head = srv->inbox_tail = NULL;
    int closing = srv->closing;
    int have_health = srv->health_result_ready;
    int healthy = srv->health_result;
    uint64_t gen = srv->health_result_gen;
    srv->health_result_ready = 0;
    pthread_mutex_unlock(&srv->mu);

    hangar_server_error_t closed = {0};
    hg_sdk_err(&closed, HANGAR_SERVER_ECLOSED, 0, "the SDK is shutting down");
    while (inbox) {
        hg_sdk_call_t *call = inbox;
        inbox = call->next;
        call->next = NULL;
        if (closing) {
            complete(srv, call, &closed, NULL);
        } else if (srv->phase == PH_DOWN) {
            complete(srv, call, &srv->down_err, NULL);
        } else {
            if (call->kind == HG_SDK_CALL_PROCESS_ENDING)
                hb_stop(srv);
            add_call(srv, call);
        }
    }
    if (closing) {
        shutdown_io(srv);
        return;
    }
    if (have_health)
        health_result(srv, gen, healthy);
    rearm_call_timer(srv);
}

static void *io_main(void *arg)
{
    hangar_server_t *srv = arg;
    connect_attempt(srv, 0);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&srv->loop) != 0)
        HG_SDK_ERROR(srv, "loop_close_failed reason=\"handles still open\"");
    return NULL;
}

int hg_sdk_io_start(hangar_server_t *srv, hangar_server_error_t *err)
{
    int r = uv_loop_init(&srv->loop);
    if (r < 0)
        return hg_sdk_err(err, HANGAR_SERVER_ESYS, 0, "uv_loop_init: %s", uv_strerror(r));
    r = uv_async_init(&srv->loop, &srv->async, on_async);
    if (r < 0) {
        uv_loop_close(&srv->loop);
        return hg_sdk_err(err, HANGAR_SERVER_ESYS, 0, "uv_async_init: %s", uv_strerror(r));
    }
    srv->async.data = srv;
    uv_timer_t *timers[] = {&srv->call_timer, &srv->hb_timer, &srv->health_timer, &srv->retry_timer,
                            &srv->drain_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(&srv->loop, timers[i]);
        timers[i]->data = srv;
    }
    srv->phase = PH_INIT;

    /* The SDK's threads take no signals: the game's handlers run on the game's threads, and a
     * write to a dead socket returns EPIPE instead of killing the process with SIGPIPE. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&srv->io_thread, NULL, io_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        uv_close((uv_handle_t *)&srv->async, NULL);
        for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
            uv_close((uv_handle_t *)timers[i], NULL);
        uv_run(&srv->loop, UV_RUN_DEFAULT);
        uv_loop_close(&srv->loop);
        return hg_sdk_err(err, HANGAR_SERVER_ESYS, 0, "cannot start the I/O thread: %s",
                          strerror(r));
    }
    srv->io_started = 1;
    return 0;
}

void hg_sdk_io_wake_locked(hangar_server_t *srv)
{
    if (!srv->io_gone && srv->io_started)
        uv_async_send(&srv->async);
}

void hg_sdk_io_stop(hangar_server_t *srv)
{
    if (!srv->io_started)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->closing = 1;
    hg_sdk_io_wake_locked(srv);
    pthread_mutex_unlock(&srv->mu);
    pthread_join(srv->io_thread, NULL);
    srv->io_started = 0;
}
