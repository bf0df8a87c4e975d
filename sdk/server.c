/* hangar — libhangar-server: the public API (hangar/server.h): parameters and their
 * environment defaults, the blocking calls, the getters, and the callback thread.
 *
 * DESIGN
 * - A call builds its JSON message here, on the caller's thread, puts an hg_sdk_call_t (on the
 *   caller's stack) in srv's inbox, wakes the I/O thread and waits on srv->cv until the I/O
 *   thread marks it done (answer, error, timeout after the re-sends, or shutdown). The I/O
 *   thread bounds every wait, so the wait itself has no timeout.
 * - The callback thread pops events (pushes and health checks posted by the I/O thread) and runs
 *   the game's callbacks one at a time. Since it is not the I/O thread, callbacks may make calls.
 * - Destroy: set `closing` (new calls fail at once), stop the I/O thread (which fails every call
 *   in flight with HANGAR_SERVER_ECLOSED and closes the socket with 1001), wait until every thread
 *   blocked in a call has left it (`waiters`), stop the callback thread, free. When destroy runs
 *   on the callback thread itself, that thread is detached and frees srv once the callback
 *   returns.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdk_int.h"

/* ---- parameters ---- */

static const char *pick(const char *param, const char *env)
{
    if (param && *param)
        return param;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

/* A duration: the parameter, else the environment variable (Go syntax), else the default. */
static uint32_t pick_ms(hangar_server_t *srv, uint32_t param, const char *env, uint32_t def)
{
    if (param)
        return param;
    const char *v = getenv(env);
    uint64_t ms;
    if (v == NULL || *v == '\0')
        return def;
    if (hg_sdk_parse_duration_ms(v, &ms) != 0 || ms > UINT32_MAX) {
        HG_SDK_WARN(srv, "bad_environment variable=%s value=\"%s\" using_ms=%u", env, v, def);
        return def;
    }
    return (uint32_t)ms;
}

static uint32_t pick_count(hangar_server_t *srv, uint32_t param, const char *env, uint32_t def)
{
    if (param)
        return param;
    const char *v = getenv(env);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n > 1000) {
        HG_SDK_WARN(srv, "bad_environment variable=%s value=\"%s\" using=%u", env, v, def);
        return def;
    }
    return (uint32_t)n;
}

/* ^[a-zA-Z0-9<extra>]+$ with at most max characters. */
static int utf8_ok(const unsigned char *s);

/* Every string a request carries is valid UTF-8 (jansson refuses anything else: json_string()
 * would return NULL and the member would silently be missing). NULL passes. */
static int str_ok(const char *s)
{
    return s == NULL || utf8_ok((const unsigned char *)s);
}

static int id_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
            return 0;
    return 1;
}

/* HostID: ^[a-zA-Z0-9-]+(/[a-zA-Z0-9-]+)?$, <= 256. */
static int host_id_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return id_ok(s, HANGAR_SERVER_MAX_ID_LEN, "-");
    if (strlen(s) > HANGAR_SERVER_MAX_ID_LEN || slash == s || strchr(slash + 1, '/'))
        return 0;
    char first[HANGAR_SERVER_MAX_ID_LEN + 1];
    memcpy(first, s, (size_t)(slash - s));
    first[slash - s] = '\0';
    return id_ok(first, HANGAR_SERVER_MAX_ID_LEN, "-") &&
           id_ok(slash + 1, HANGAR_SERVER_MAX_ID_LEN, "-");
}

static hangar_server_log_level_t env_log_level(void)
{
    const char *v = getenv("HANGAR_SDK_LOG");
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; v && i < 5; i++)
        if (strcasecmp(v, names[i]) == 0)
            return (hangar_server_log_level_t)(HANGAR_SERVER_LOG_DEBUG + i);
    return HANGAR_SERVER_LOG_INFO;
}

/* Copy and check the parameters into srv. */
static int configure(hangar_server_t *srv, const hangar_server_params_t *p,
                     hangar_server_error_t *err)
{
    const char *url = pick(p->websocket_url, "GAMELIFT_SDK_WEBSOCKET_URL");
    const char *fleet = pick(p->fleet_id, "GAMELIFT_SDK_FLEET_ID");
    const char *host = pick(p->host_id, "GAMELIFT_SDK_HOST_ID");
    const char *pid = pick(p->process_id, "GAMELIFT_SDK_PROCESS_ID");
    if (url == NULL)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "websocket_url is required (or GAMELIFT_SDK_WEBSOCKET_URL)");
    if (strlen(url) > HANGAR_SERVER_MAX_URL_LEN)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "websocket_url is over %d characters",
                          HANGAR_SERVER_MAX_URL_LEN);
    hg_sdk_url_t u;
    if (hg_sdk_url_parse(url, &u, err) != 0)
        return err->code;
    hg_sdk_url_free(&u);
    if (fleet == NULL || !id_ok(fleet, HANGAR_SERVER_MAX_ID_LEN, ".-"))
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "fleet_id (or GAMELIFT_SDK_FLEET_ID) is required: ^[a-zA-Z0-9.-]+$, at "
                          "most %d characters",
                          HANGAR_SERVER_MAX_ID_LEN);
    if (host == NULL || !host_id_ok(host))
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "host_id (or GAMELIFT_SDK_HOST_ID) is required: "
                          "^[a-zA-Z0-9-]+(/[a-zA-Z0-9-]+)?$, at most %d characters",
                          HANGAR_SERVER_MAX_ID_LEN);
    char uuid[37];
    if (pid == NULL || strcmp(pid, "ManagedResource") == 0) {
        hg_sdk_uuid4(uuid);
        pid = uuid;
    }
    if (strlen(pid) > HANGAR_SERVER_MAX_ID_LEN)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "process_id is over %d characters",
                          HANGAR_SERVER_MAX_ID_LEN);

    /* Authentication: the caller's choice when it made one, else the environment's. */
    int from_params = (p->auth_token && *p->auth_token) || (p->aws_region && *p->aws_region);
    const char *token = from_params ? p->auth_token : getenv("GAMELIFT_SDK_AUTH_TOKEN");
    const char *region = from_params ? p->aws_region : getenv("GAMELIFT_REGION");
    token = token && *token ? token : NULL;
    region = region && *region ? region : NULL;
    if (token && region)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "give either an auth token or an AWS region (SigV4), not both");
    if (!token && !region)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                          "an auth token (or GAMELIFT_SDK_AUTH_TOKEN) or an AWS region with "
                          "credentials (GAMELIFT_REGION, ...) is required");
    if (token && strlen(token) > HANGAR_SERVER_MAX_TOKEN_LEN)
        return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0, "the auth token is over %d characters",
                          HANGAR_SERVER_MAX_TOKEN_LEN);
    if (region) {
        const char *ak = pick(p->access_key, "GAMELIFT_ACCESS_KEY");
        const char *sk = pick(p->secret_key, "GAMELIFT_SECRET_KEY");
        const char *st = pick(p->session_token, "GAMELIFT_SESSION_TOKEN");
        if (!ak || !sk)
            return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                              "SigV4 needs an access key and a secret key "
                              "(GAMELIFT_ACCESS_KEY, GAMELIFT_SECRET_KEY)");
        if (!id_ok(region, 64, "-") || strlen(ak) > HANGAR_SERVER_MAX_ID_LEN ||
            strlen(sk) > HANGAR_SERVER_MAX_ID_LEN ||
            (st && strlen(st) > HANGAR_SERVER_MAX_TOKEN_LEN * 2))
            return hg_sdk_err(err, HANGAR_SERVER_EINVAL, 0,
                              "malformed SigV4 region or credentials");
        srv->region = hg_sdk_strdup(region);
        srv->access_key = hg_sdk_strdup(ak);
        srv->secret_key = hg_sdk_strdup(sk);
        srv->session_token = hg_sdk_strdup(st);
    }
    srv->target_url = hg_sdk_strdup(url);
    srv->target_token = hg_sdk_strdup(token);
    srv->fleet_id = hg_sdk_strdup(fleet);
    srv->host_id = hg_sdk_strdup(host);
    srv->process_id = hg_sdk_strdup(pid);
    hg_sdk_random_token(srv->idempotency_token);

    hg_sdk_config_t *c = &srv->cfg;
    c->call_timeout_ms = pick_ms(srv, p->call_timeout_ms, "SERVICE_CALL_TIMEOUT", 20000);
    c->ready_timeout_ms = pick_ms(srv, p->ready_timeout_ms, "HANGAR_SDK_READY_TIMEOUT", 20000);
    c->max_resends = pick_count(srv, p->max_resends, "MAX_RETRY", 5);
    c->connect_timeout_ms =
        pick_ms(srv, p->connect_timeout_ms, "HANGAR_SDK_CONNECT_TIMEOUT", 20000);
    c->connect_retries = pick_count(srv, p->connect_retries, "HANGAR_SDK_CONNECT_RETRIES", 7);
    c->retry_interval_ms = pick_ms(srv, p->retry_interval_ms, "HANGAR_SDK_RETRY_INTERVAL", 4000);
    c->retry_max_ms = pick_ms(srv, p->retry_max_ms, "HANGAR_SDK_RETRY_MAX", 32000);
    c->hb_interval_ms = pick_ms(srv, p->heartbeat_interval_ms, "HEALTHCHECK_INTERVAL", 60000);
    c->hb_jitter_ms = pick_ms(srv, p->heartbeat_jitter_ms, "HEALTHCHECK_MAX_JITTER", 10000);
    c->health_timeout_ms = pick_ms(srv, p->health_timeout_ms, "HEALTHCHECK_TIMEOUT", 50000);
    c->disconnect_timeout_ms =
        pick_ms(srv, p->disconnect_timeout_ms, "DISCONNECT_WEBSOCKET_TIMEOUT", 5000);
    /* keep the numbers sane: no zero timeouts, jitter within the interval */
    if (c->call_timeout_ms < 10)
        c->call_timeout_ms = 10;
    if (c->ready_timeout_ms < 10)
        c->ready_timeout_ms = 10;
    if (c->connect_timeout_ms < 10)
        c->connect_timeout_ms = 10;
    if (c->hb_interval_ms < 10)
        c->hb_interval_ms = 10;
    if (c->hb_jitter_ms > c->hb_interval_ms / 2)
        c->hb_jitter_ms = c->hb_interval_ms / 2;
    if (c->health_timeout_ms == 0 || c->health_timeout_ms > c->hb_interval_ms)
        c->health_timeout_ms = c->hb_interval_ms;
    if (c->retry_max_ms < c->retry_interval_ms)
        c->retry_max_ms = c->retry_interval_ms;

    const char *insecure = getenv("HANGAR_SDK_TLS_INSECURE");
    c->tls_insecure =
        p->tls_verify == HANGAR_SERVER_TLS_INSECURE ||
        (p->tls_verify == HANGAR_SERVER_TLS_DEFAULT && insecure && strcmp(insecure, "1") == 0);
    c->tls_ca_file = hg_sdk_strdup(pick(p->tls_ca_file, "HANGAR_SDK_TLS_CA_FILE"));
    c->tool_name = hg_sdk_strdup(pick(NULL, "GAMELIFT_SDK_TOOL_NAME"));
    c->tool_version = hg_sdk_strdup(pick(NULL, "GAMELIFT_SDK_TOOL_VERSION"));
    if (!str_ok(c->tool_name) || !str_ok(c->tool_version)) { /* the environment's bytes */
        free(c->tool_name);
        c->tool_name = NULL;
    }
    if (c->tool_name == NULL) {
        c->tool_name = hg_sdk_strdup(HG_SDK_TOOL_NAME);
        free(c->tool_version);
        c->tool_version = hg_sdk_strdup(HANGAR_SERVER_VERSION_STRING);
    }
    return 0;
}

/* ---- callback thread ---- */

static void events_free(hg_sdk_event_t *ev)
{
    while (ev) {
        hg_sdk_event_t *next = ev->next;
        json_decref(ev->msg);
        free(ev);
        ev = next;
    }
}

int hg_sdk_post_event_locked(hangar_server_t *srv, hg_sdk_event_t *ev)
{
    if (srv->cb_stop || srv->events >= HANGAR_SERVER_MAX_QUEUED_CALLBACKS) {
        events_free(ev);
        return -1;
    }
    ev->next = NULL;
    if (srv->ev_tail)
        srv->ev_tail->next = ev;
    else
        srv->ev_head = ev;
    srv->ev_tail = ev;
    srv->events++;
    pthread_cond_signal(&srv->cb_cv);
    return 0;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n < INT32_MIN || n > INT32_MAX ? 0 : (int)n;
}

/* Borrowed view of a game session object: strings point into o; *props must be freed. */
static void game_session_view(hangar_server_t *srv, json_t *o, const char *name_key,
                              hangar_game_session_t *gs, hangar_game_property_t **props)
{
    memset(gs, 0, sizeof(*gs));
    gs->game_session_id = jstr(o, "GameSessionId");
    gs->name = jstr(o, name_key);
    gs->fleet_id = *jstr(o, "FleetId") ? jstr(o, "FleetId") : srv->fleet_id;
    gs->maximum_player_session_count = jint(o, "MaximumPlayerSessionCount");
    gs->ip_address = jstr(o, "IpAddress");
    gs->dns_name = jstr(o, "DnsName");
    gs->port = jint(o, "Port");
    gs->game_session_data = jstr(o, "GameSessionData");
    gs->matchmaker_data = jstr(o, "MatchmakerData");
    *props = NULL;
    json_t *gp = json_object_get(o, "GameProperties");
    size_t n = json_is_object(gp)  ? json_object_size(gp)
               : json_is_array(gp) ? json_array_size(gp)
                                   : 0;
    if (n == 0)
        return;
    hangar_game_property_t *a = hg_sdk_calloc(n, sizeof(*a)); /* n is bounded by the message size */
    size_t k = 0;
    if (json_is_object(gp)) { /* the socket's shape: {"key": "value"} */
        const char *key;
        json_t *v;
        json_object_foreach (gp, key, v) {
            if (json_is_string(v))
                a[k].key = key, a[k++].value = json_string_value(v);
        }
    } else { /* the HTTP API's shape, accepted too: [{"Key": .., "Value": ..}] */
        size_t i;
        json_t *v;
        json_array_foreach (gp, i, v) {
            if (json_is_string(json_object_get(v, "Key")))
                a[k].key = jstr(v, "Key"), a[k++].value = jstr(v, "Value");
        }
    }
    gs->game_properties = a;
    gs->game_property_count = k;
    *props = a;
}

static hangar_update_reason_t update_reason(const char *s)
{
    static const struct {
        const char *name;
        hangar_update_reason_t r;
    } map[] = {{"MATCHMAKING_DATA_UPDATED", HANGAR_UPDATE_REASON_MATCHMAKING_DATA_UPDATED},
               {"BACKFILL_FAILED", HANGAR_UPDATE_REASON_BACKFILL_FAILED},
               {"BACKFILL_TIMED_OUT", HANGAR_UPDATE_REASON_BACKFILL_TIMED_OUT},
               {"BACKFILL_CANCELLED", HANGAR_UPDATE_REASON_BACKFILL_CANCELLED}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s, map[i].name) == 0)
            return map[i].r;
    return HANGAR_UPDATE_REASON_UNKNOWN;
}

static void run_event(hangar_server_t *srv, hg_sdk_event_t *ev, const hangar_process_params_t *pp)
{
    hangar_game_property_t *props = NULL;
    switch (ev->kind) {
    case HG_SDK_EV_START_GAME_SESSION: {
        hangar_game_session_t gs;
        game_session_view(srv, ev->msg, "GameSessionName", &gs, &props);
        if (pp->on_start_game_session)
            pp->on_start_game_session(srv, &gs, pp->user_data);
        break;
    }
    case HG_SDK_EV_UPDATE_GAME_SESSION: {
        hangar_update_game_session_t u;
        game_session_view(srv, json_object_get(ev->msg, "GameSession"), "Name", &u.game_session,
                          &props);
        u.update_reason = update_reason(jstr(ev->msg, "UpdateReason"));
        u.backfill_ticket_id = jstr(ev->msg, "BackfillTicketId");
        if (pp->on_update_game_session)
            pp->on_update_game_session(srv, &u, pp->user_data);
        break;
    }
    case HG_SDK_EV_TERMINATE:
        if (pp->on_process_terminate)
            pp->on_process_terminate(srv, ev->term_sec, pp->user_data);
        break;
    case HG_SDK_EV_HEALTH: {
        bool healthy = pp->on_health_check ? pp->on_health_check(srv, pp->user_data) : true;
        pthread_mutex_lock(&srv->mu);
        srv->health_result_ready = 1;
        srv->health_result = healthy;
        srv->health_result_gen = ev->gen;
        hg_sdk_io_wake_locked(srv);
        pthread_mutex_unlock(&srv->mu);
        break;
    }
    }
    free(props);
}

static void server_free(hangar_server_t *srv);

static void *cb_main(void *arg)
{
    hangar_server_t *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (srv->ev_head == NULL && !srv->cb_stop)
            pthread_cond_wait(&srv->cb_cv, &srv->mu);
        if (srv->cb_stop)
            break;
        hg_sdk_event_t *ev = srv->ev_head;
        srv->ev_head = ev->next;
        if (srv->ev_head == NULL)
            srv->ev_tail = NULL;
        srv->events--;
        ev->next = NULL;
        hangar_process_params_t pp = srv->pp;
        pthread_mutex_unlock(&srv->mu);
        run_event(srv, ev, &pp);
        events_free(ev);
        pthread_mutex_lock(&srv->mu);
    }
    int detached = srv->cb_detached;
    pthread_mutex_unlock(&srv->mu);
    if (detached)
        server_free(srv);
    return NULL;
}

/* ---- lifecycle ---- */

static void server_free(hangar_server_t *srv)
{
    events_free(srv->ev_head);
    free(srv->fleet_id);
    free(srv->host_id);
    free(srv->process_id);
    free(srv->region);
    free(srv->access_key);
    if (srv->secret_key)
        OPENSSL_cleanse(srv->secret_key, strlen(srv->secret_key));
    free(srv->secret_key);
    free(srv->session_token);
    free(srv->cfg.tls_ca_file);
    free(srv->cfg.tool_name);
    free(srv->cfg.tool_version);
    free(srv->game_session_id);
    free(srv->target_url);
    free(srv->target_token);
    if (srv->ssl_ctx)
        SSL_CTX_free(srv->ssl_ctx);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->cb_cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* Stop both threads and free srv (or leave the freeing to the callback thread when we are
 * on it). */
static void server_stop(hangar_server_t *srv)
{
    hg_sdk_io_stop(srv);
    pthread_mutex_lock(&srv->mu);
    while (srv->waiters > 0) /* threads woken with ECLOSED are leaving their calls */
        pthread_cond_wait(&srv->cv, &srv->mu);
    srv->cb_stop = 1;
    pthread_cond_broadcast(&srv->cb_cv);
    int self = srv->cb_started && pthread_equal(pthread_self(), srv->cb_thread);
    if (self)
        srv->cb_detached = 1;
    pthread_mutex_unlock(&srv->mu);
    if (self) {
        pthread_detach(srv->cb_thread);
        return;
    }
    if (srv->cb_started)
        pthread_join(srv->cb_thread, NULL);
    server_free(srv);
}

int hangar_server_new(const hangar_server_params_t *params, hangar_server_t **out)
{
    hangar_server_error_t err = {0};
    hangar_server_params_t none = {0};
    const hangar_server_params_t *p = params ? params : &none;
    if (out == NULL)
        return hg_sdk_fail(&(hangar_server_error_t){HANGAR_SERVER_EINVAL, 0, "out is NULL"});
    *out = NULL;

    hangar_server_t *srv = hg_sdk_calloc(1, sizeof(*srv));
    srv->log_cb = p->log_cb;
    srv->log_ud = p->log_ud;
    srv->log_level = p->log_level != HANGAR_SERVER_LOG_DEFAULT ? p->log_level : env_log_level();
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_cond_init(&srv->cb_cv, NULL);
    if (configure(srv, p, &err) != 0)
        goto out;

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&srv->cb_thread, NULL, cb_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        hg_sdk_err(&err, HANGAR_SERVER_ESYS, 0, "cannot start the callback thread: %s",
                   strerror(r));
        goto out;
    }
    srv->cb_started = 1;
    if (hg_sdk_io_start(srv, &err) != 0)
        goto out;

    pthread_mutex_lock(&srv->mu);
    while (!srv->init_done)
        pthread_cond_wait(&srv->cv, &srv->mu);
    err = srv->init_err;
    pthread_mutex_unlock(&srv->mu);
    if (err.code == 0) {
        HG_SDK_INFO(srv, "initialized fleet_id=%s host_id=%s process_id=%s auth=%s", srv->fleet_id,
                    srv->host_id, srv->process_id, srv->secret_key ? "sigv4" : "token");
        *out = srv;
        return 0;
    }
out:
    HG_SDK_ERROR(srv, "init_failed error=%s message=\"%s\"", hangar_server_err_name(err.code),
                 err.message);
    server_stop(srv);
    return hg_sdk_fail(&err);
}

void hangar_server_free(hangar_server_t *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->mu);
    int again = srv->closing;
    srv->closing = 1;
    pthread_mutex_unlock(&srv->mu);
    if (again)
        return;
    HG_SDK_INFO(srv, "destroy process_id=%s", srv->process_id);
    server_stop(srv);
}

/* ---- calls ---- */

/* Send a request and wait for its outcome. Takes ownership of body (the fields besides Action
 * and RequestId). On success *result (if non-NULL) receives the answer, a new reference. */
static int call_run(hangar_server_t *srv, enum hg_sdk_call_kind kind, const char *action,
                    json_t *body, uint32_t timeout_ms, json_t **result)
{
    hg_sdk_call_t call = {0};
    hangar_server_error_t err = {0};
    call.kind = kind;
    call.action = action;
    hg_sdk_random_token(call.rid);
    json_object_set_new(body, "Action", json_string(action));
    json_object_set_new(body, "RequestId", json_string(call.rid));
    call.text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (call.text == NULL)
        return hg_sdk_fail(
            &(hangar_server_error_t){HANGAR_SERVER_EINVAL, 0, "cannot encode the request"});
    call.len = strlen(call.text);
    if (call.len > HANGAR_SERVER_MAX_REQUEST) { /* the service would close the socket (1009) */
        free(call.text);
        hg_sdk_err(&err, HANGAR_SERVER_EINVAL, 0,
                   "%s: the request is %zu bytes of JSON, over HANGAR_SERVER_MAX_REQUEST (%u)",
                   action, call.len, HANGAR_SERVER_MAX_REQUEST);
        return hg_sdk_fail(&err);
    }
    call.timeout_ms = timeout_ms;
    call.max_sends = 1 + srv->cfg.max_resends;

    pthread_mutex_lock(&srv->mu);
    if (srv->closing) {
        hg_sdk_err(&err, HANGAR_SERVER_ECLOSED, 0, "%s: the SDK is shutting down", action);
    } else if (srv->down) {
        err = srv->down_err;
    } else if (srv->calls >= HANGAR_SERVER_MAX_PENDING_CALLS) {
        hg_sdk_err(&err, HANGAR_SERVER_ELIMIT, 0, "%s: %d calls are already waiting", action,
                   HANGAR_SERVER_MAX_PENDING_CALLS);
    } else {
        if (srv->inbox_tail)
            srv->inbox_tail->next = &call;
        else
            srv->inbox_head = &call;
        srv->inbox_tail = &call;
        srv->calls++;
        srv->waiters++;
        hg_sdk_io_wake_locked(srv);
        while (!call.done)
            pthread_cond_wait(&srv->cv, &srv->mu);
        srv->calls--;
        srv->waiters--;
        if (srv->waiters == 0 && srv->closing)
            pthread_cond_broadcast(&srv->cv); /* destroy may be waiting for us */
        err = call.err;
        if (call.rc != 0 && err.code == 0)
            err.code = call.rc;
    }
    pthread_mutex_unlock(&srv->mu);
    free(call.text);
    if (err.code != 0) {
        json_decref(call.result);
        return hg_sdk_fail(&err);
    }
    if (result)
        *result = call.result;
    else
        json_decref(call.result);
    return 0;
}

static int bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_arg(const char *fmt, ...)
{
    char msg[HANGAR_SERVER_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hangar_server_error_t err = {0};
    hg_sdk_err(&err, HANGAR_SERVER_EINVAL, 0, "%s", msg);
    return hg_sdk_fail(&err);
}

static int bad_state(const char *msg)
{
    hangar_server_error_t err = {0};
    hg_sdk_err(&err, HANGAR_SERVER_ESTATE, 0, "%s", msg);
    return hg_sdk_fail(&err);
}

/* The current game session id (a copy to free), or NULL with the error set. */
static char *current_game_session(hangar_server_t *srv, const char *action)
{
    pthread_mutex_lock(&srv->mu);
    char *id = srv->ready ? hg_sdk_strdup(srv->game_session_id) : NULL;
    int ready = srv->ready;
    pthread_mutex_unlock(&srv->mu);
    if (id == NULL) {
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_ESTATE, 0, "%s: %s", action,
                   ready ? "no game session has been started on this process"
                         : "ProcessReady has not succeeded");
        hg_sdk_fail(&err);
    }
    return id;
}

int hangar_server_process_ready(hangar_server_t *srv, const hangar_process_params_t *pp)
{
    if (srv == NULL || pp == NULL)
        return bad_arg("%s is NULL", srv ? "process params" : "srv");
    if (pp->on_start_game_session == NULL)
        return bad_arg("%s is required", "on_start_game_session");
    if (pp->port < 1 || pp->port > 60000)
        return bad_arg("port must be within 1..60000%s", "");
    if (pp->log_path_count > HANGAR_SERVER_MAX_LOG_PATHS ||
        (pp->log_path_count > 0 && pp->log_paths == NULL))
        return bad_arg("log paths: at most %s, and log_paths must not be NULL",
                       "64 (HANGAR_SERVER_MAX_LOG_PATHS)");
    json_t *paths = json_array();
    for (size_t i = 0; i < pp->log_path_count; i++) {
        const char *lp = pp->log_paths[i];
        if (lp == NULL || strlen(lp) > HANGAR_SERVER_MAX_PATH_LEN || !str_ok(lp)) {
            json_decref(paths);
            return bad_arg("log_paths[%zu] is NULL, over %d bytes or not UTF-8", i,
                           HANGAR_SERVER_MAX_PATH_LEN);
        }
        json_array_append_new(paths, json_string(lp));
    }

    pthread_mutex_lock(&srv->mu);
    const char *state = srv->ending       ? "ProcessEnding was called"
                        : srv->ready_sent ? "ProcessReady was already called"
                                          : NULL;
    if (state == NULL) {
        srv->ready_sent = 1;
        srv->pp = *pp;
        srv->pp.log_paths = NULL;
        srv->pp.log_path_count = 0;
    }
    pthread_mutex_unlock(&srv->mu);
    if (state) {
        json_decref(paths);
        return bad_state(state);
    }

    json_t *body = json_object();
    json_object_set_new(body, "SdkVersion", json_string(HANGAR_SERVER_PROTOCOL_VERSION));
    json_object_set_new(body, "SdkLanguage", json_string(HG_SDK_LANGUAGE));
    if (srv->cfg.tool_name)
        json_object_set_new(body, "SdkToolName", json_string(srv->cfg.tool_name));
    if (srv->cfg.tool_version)
        json_object_set_new(body, "SdkToolVersion", json_string(srv->cfg.tool_version));
    json_object_set_new(body, "Port", json_integer(pp->port));
    json_object_set_new(body, "LogPaths", paths);
    int rc = call_run(srv, HG_SDK_CALL_ACTIVATE_PROCESS, "ActivateServerProcess", body,
                      srv->cfg.ready_timeout_ms, NULL);
    if (rc != 0) {
        pthread_mutex_lock(&srv->mu);
        srv->ready_sent = 0; /* may be tried again */
        pthread_mutex_unlock(&srv->mu);
        return rc;
    }
    HG_SDK_INFO(srv, "process_ready port=%d", pp->port);
    return 0;
}

int hangar_server_process_ending(hangar_server_t *srv)
{
    if (srv == NULL)
        return bad_arg("%s is NULL", "srv");
    pthread_mutex_lock(&srv->mu);
    srv->ending = 1;
    srv->ready = 0; /* pushes are ignored from now on */
    pthread_mutex_unlock(&srv->mu);
    HG_SDK_INFO(srv, "process_ending");
    return call_run(srv, HG_SDK_CALL_PROCESS_ENDING, "TerminateServerProcess", json_object(),
                    srv->cfg.call_timeout_ms, NULL);
}

int hangar_server_activate_game_session(hangar_server_t *srv)
{
    if (srv == NULL)
        return bad_arg("%s is NULL", "srv");
    char *gsid = current_game_session(srv, "ActivateGameSession");
    if (gsid == NULL)
        return HANGAR_SERVER_ESTATE;
    json_t *body = json_pack("{s:s}", "GameSessionId", gsid);
    free(gsid);
    return call_run(srv, HG_SDK_CALL_PLAIN, "ActivateGameSession", body, srv->cfg.call_timeout_ms,
                    NULL);
}

int hangar_server_update_player_session_creation_policy(
    hangar_server_t *srv, hangar_player_session_creation_policy_t policy)
{
    if (srv == NULL)
        return bad_arg("%s is NULL", "srv");
    if (policy != HANGAR_PLAYER_SESSION_POLICY_ACCEPT_ALL &&
        policy != HANGAR_PLAYER_SESSION_POLICY_DENY_ALL)
        return bad_arg("player session creation policy must be %s", "ACCEPT_ALL or DENY_ALL");
    char *gsid = current_game_session(srv, "UpdatePlayerSessionCreationPolicy");
    if (gsid == NULL)
        return HANGAR_SERVER_ESTATE;
    json_t *body =
        json_pack("{s:s, s:s}", "GameSessionId", gsid, "PlayerSessionPolicy",
                  policy == HANGAR_PLAYER_SESSION_POLICY_ACCEPT_ALL ? "ACCEPT_ALL" : "DENY_ALL");
    free(gsid);
    return call_run(srv, HG_SDK_CALL_PLAIN, "UpdatePlayerSessionCreationPolicy", body,
                    srv->cfg.call_timeout_ms, NULL);
}

static int player_session_call(hangar_server_t *srv, const char *action, const char *psid)
{
    if (srv == NULL)
        return bad_arg("%s is NULL", "srv");
    if (psid == NULL || !id_ok(psid, HANGAR_SERVER_MAX_ID_LEN, ".-"))
        return bad_arg("%s: player session id must match ^[a-zA-Z0-9.-]+$, at most 256 "
                       "characters",
                       action);
    char *gsid = current_game_session(srv, action);
    if (gsid == NULL)
        return HANGAR_SERVER_ESTATE;
    json_t *body = json_pack("{s:s, s:s}", "GameSessionId", gsid, "PlayerSessionId", psid);
    free(gsid);
    return call_run(srv, HG_SDK_CALL_PLAIN, action, body, srv->cfg.call_timeout_ms, NULL);
}

int hangar_server_accept_player_session(hangar_server_t *srv, const char *player_session_id)
{
    return player_session_call(srv, "AcceptPlayerSession", player_session_id);
}

int hangar_server_remove_player_session(hangar_server_t *srv, const char *player_session_id)
{
    return player_session_call(srv, "RemovePlayerSession", player_session_id);
}

static hangar_player_session_status_t ps_status(const char *s)
{
    static const char *const names[] = {"RESERVED", "ACTIVE", "COMPLETED", "TIMEDOUT"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return (hangar_player_session_status_t)(i + 1);
    return HANGAR_PLAYER_SESSION_STATUS_UNKNOWN;
}

static int64_t jtime(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v)
           : json_is_real(v)  ? (int64_t)json_real_value(v)
                              : 0;
}

int hangar_server_describe_player_sessions(hangar_server_t *srv,
                                           const hangar_describe_player_sessions_request_t *req,
                                           hangar_player_sessions_t **out)
{
    if (srv == NULL || req == NULL || out == NULL)
        return bad_arg("%s is NULL", srv == NULL ? "srv" : req == NULL ? "req" : "out");
    *out = NULL;
    int ids = (req->game_session_id && *req->game_session_id) +
              (req->player_id && *req->player_id) +
              (req->player_session_id && *req->player_session_id);
    if (ids != 1)
        return bad_arg("exactly one of game_session_id, player_id, player_session_id is "
                       "required%s",
                       "");
    if (req->game_session_id && *req->game_session_id &&
        !id_ok(req->game_session_id, HANGAR_SERVER_MAX_ID_LEN, ":/-"))
        return bad_arg("game_session_id must match %s, at most 256 characters",
                       "^[a-zA-Z0-9:/-]+$");
    if ((req->player_id && strlen(req->player_id) > HANGAR_SERVER_MAX_LONG_LEN) ||
        (req->player_session_id && strlen(req->player_session_id) > HANGAR_SERVER_MAX_LONG_LEN) ||
        (req->next_token && strlen(req->next_token) > HANGAR_SERVER_MAX_LONG_LEN))
        return bad_arg("player_id, player_session_id and next_token: at most %s characters",
                       "1024");
    if (!str_ok(req->player_id) || !str_ok(req->player_session_id) || !str_ok(req->next_token))
        return bad_arg("player_id, player_session_id and next_token must be %s", "UTF-8");
    const char *filter = req->player_session_status_filter;
    if (filter && *filter && ps_status(filter) == HANGAR_PLAYER_SESSION_STATUS_UNKNOWN)
        return bad_arg("player_session_status_filter must be one of %s",
                       "RESERVED, ACTIVE, COMPLETED, TIMEDOUT");
    if (req->limit < 0 || req->limit > HANGAR_SERVER_MAX_PLAYER_SESSIONS)
        return bad_arg("limit must be within 0..%s", "1024");

    json_t *body = json_object();
    if (req->game_session_id && *req->game_session_id)
        json_object_set_new(body, "GameSessionId", json_string(req->game_session_id));
    if (req->player_id && *req->player_id)
        json_object_set_new(body, "PlayerId", json_string(req->player_id));
    if (req->player_session_id && *req->player_session_id)
        json_object_set_new(body, "PlayerSessionId", json_string(req->player_session_id));
    if (filter && *filter)
        json_object_set_new(body, "PlayerSessionStatusFilter", json_string(filter));
    if (req->next_token && *req->next_token)
        json_object_set_new(body, "NextToken", json_string(req->next_token));
    if (req->limit > 0)
        json_object_set_new(body, "Limit", json_integer(req->limit));
    json_t *res = NULL;
    int rc = call_run(srv, HG_SDK_CALL_PLAIN, "DescribePlayerSessions", body,
                      srv->cfg.call_timeout_ms, &res);
    if (rc != 0)
        return rc;

    json_t *list = json_object_get(res, "PlayerSessions");
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if ((list && !json_is_array(list) && !json_is_null(list)) ||
        n > HANGAR_SERVER_MAX_PLAYER_SESSIONS) {
        json_decref(res);
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_EPROTO, 0,
                   "DescribePlayerSessions: PlayerSessions is not a list of at most %d",
                   HANGAR_SERVER_MAX_PLAYER_SESSIONS);
        return hg_sdk_fail(&err);
    }
    hangar_player_sessions_t *r = hg_sdk_calloc(1, sizeof(*r));
    r->sessions = hg_sdk_calloc(n, sizeof(*r->sessions));
    r->count = n;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(list, i);
        hangar_player_session_t *s = &r->sessions[i];
        s->player_session_id = hg_sdk_strdup(jstr(o, "PlayerSessionId"));
        s->player_id = hg_sdk_strdup(jstr(o, "PlayerId"));
        s->game_session_id = hg_sdk_strdup(jstr(o, "GameSessionId"));
        s->fleet_id = hg_sdk_strdup(jstr(o, "FleetId"));
        s->player_data = hg_sdk_strdup(jstr(o, "PlayerData"));
        s->ip_address = hg_sdk_strdup(jstr(o, "IpAddress"));
        s->dns_name = hg_sdk_strdup(jstr(o, "DnsName"));
        s->port = jint(o, "Port");
        s->status = ps_status(jstr(o, "Status"));
        s->creation_time = jtime(o, "CreationTime");
        s->termination_time = jtime(o, "TerminationTime");
    }
    const char *next = json_string_value(json_object_get(res, "NextToken"));
    r->next_token = next && *next ? hg_sdk_strdup(next) : NULL;
    json_decref(res);
    *out = r;
    return 0;
}

void hangar_server_player_sessions_free(hangar_player_sessions_t *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->count; i++) {
        hangar_player_session_t *s = &res->sessions[i];
        free(s->player_session_id);
        free(s->player_id);
        free(s->game_session_id);
        free(s->fleet_id);
        free(s->player_data);
        free(s->ip_address);
        free(s->dns_name);
    }
    free(res->sessions);
    free(res->next_token);
    free(res);
}

/* ---- FlexMatch backfill ---- */

/* Well-formed UTF-8 (jansson refuses anything else, and would drop the member silently). */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s++, n; /* continuation bytes */
        if (c < 0x80)
            n = 0;
        else if (c >= 0xc2 && c < 0xe0)
            n = 1;
        else if (c >= 0xe0 && c < 0xf0)
            n = 2;
        else if (c >= 0xf0 && c < 0xf5)
            n = 3;
        else
            return 0;
        unsigned cp = n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (unsigned k = 0; k < n; k++, s++) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (*s & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0; /* overlong, surrogate, beyond Unicode */
    }
    return 1;
}

/* 1..max bytes of UTF-8; NULL fails. */
static int len_ok(const char *s, size_t max)
{
    return s && *s && strlen(s) <= max && utf8_ok((const unsigned char *)s);
}

static int digits(const char **p, size_t min, size_t max)
{
    size_t n = 0;
    while (n < max && isdigit((unsigned char)**p))
        (*p)++, n++;
    return n >= min;
}

static int lowers(const char **p)
{
    const char *start = *p;
    while (**p >= 'a' && **p <= 'z')
        (*p)++;
    return *p > start;
}

/* The official SDKs' GameLift ARN check (Go gameLiftArnPattern), <= 256 characters:
 * ^arn:(aws|aws-cn):gamelift:([a-z]{2}-[a-z]+-\d{1}):(\d{12})?:([a-z]+)\/(.+)$ */
static int gamelift_arn_ok(const char *s)
{
    if (!len_ok(s, HANGAR_SERVER_MAX_ID_LEN))
        return 0;
    const char *p = s;
    if (strncmp(p, "arn:aws:gamelift:", 17) == 0)
        p += 17;
    else if (strncmp(p, "arn:aws-cn:gamelift:", 20) == 0)
        p += 20;
    else
        return 0;
    const char *region = p;
    if (!lowers(&p) || p - region != 2 || *p++ != '-' || !lowers(&p) || *p++ != '-' ||
        !digits(&p, 1, 1) || *p++ != ':')
        return 0;
    if (*p != ':' && (!digits(&p, 12, 12) || *p != ':'))
        return 0;
    p++;
    return lowers(&p) && *p == '/' && p[1] != '\0';
}

/* *out: the game session ARN given, or the current one (a copy to free). */
static int backfill_game_session(hangar_server_t *srv, const char *action, const char *arn,
                                 char **out)
{
    if (arn && *arn && !id_ok(arn, HANGAR_SERVER_MAX_ID_LEN, ":/-"))
        return bad_arg("%s: game_session_arn must match ^[a-zA-Z0-9:/-]+$, at most %d characters "
                       "(NULL or \"\": the current game session)",
                       action, HANGAR_SERVER_MAX_ID_LEN);
    *out = arn && *arn ? hg_sdk_strdup(arn) : current_game_session(srv, action);
    return *out ? 0 : HANGAR_SERVER_ESTATE;
}

static int check_config_and_ticket(const char *action, const char *config, const char *ticket,
                                   int ticket_required)
{
    if (!gamelift_arn_ok(config))
        return bad_arg("%s: matchmaking_configuration_arn must be a GameLift ARN, "
                       "arn:aws:gamelift:<region>:<account>:matchmakingconfiguration/<name>, at "
                       "most %d characters",
                       action, HANGAR_SERVER_MAX_ID_LEN);
    if (ticket_required && (ticket == NULL || *ticket == '\0'))
        return bad_arg("%s: ticket_id is required", action);
    if (ticket && *ticket && !id_ok(ticket, HANGAR_SERVER_MAX_NAME_LEN, ".-"))
        return bad_arg("%s: ticket_id must match ^[a-zA-Z0-9.-]+$, at most %d characters", action,
                       HANGAR_SERVER_MAX_NAME_LEN);
    return 0;
}

/* The value fields of an attribute: those of its type set and valid, the others zero. */
static int check_attribute(const hangar_player_attribute_t *a, size_t i, size_t k)
{
    static const char *const types[] = {"NONE", "STRING", "DOUBLE", "STRING_LIST",
                                        "STRING_DOUBLE_MAP"};
    const char *pre = "StartMatchBackfill: players[";
    if (a->type <= HANGAR_ATTRIBUTE_TYPE_NONE || a->type > HANGAR_ATTRIBUTE_TYPE_STRING_DOUBLE_MAP)
        return bad_arg("%s%zu].attributes[%zu] (%s): type must be STRING, DOUBLE, STRING_LIST or "
                       "STRING_DOUBLE_MAP",
                       pre, i, k, a->name);
    const char *type = types[a->type];
    int is_s = a->type == HANGAR_ATTRIBUTE_TYPE_STRING;
    int is_sl = a->type == HANGAR_ATTRIBUTE_TYPE_STRING_LIST;
    int is_sdm = a->type == HANGAR_ATTRIBUTE_TYPE_STRING_DOUBLE_MAP;
    if ((!is_s && a->s) || (!is_sl && (a->sl || a->sl_count)) ||
        (!is_sdm && (a->sdm || a->sdm_count)))
        return bad_arg("%s%zu].attributes[%zu] (%s): a %s attribute sets only its own value "
                       "field (exactly one of s, n, sl, sdm)",
                       pre, i, k, a->name, type);
    if (is_s && !len_ok(a->s, HANGAR_SERVER_MAX_LONG_LEN))
        return bad_arg("%s%zu].attributes[%zu] (%s): s must be 1..%d characters of UTF-8", pre, i,
                       k, a->name, HANGAR_SERVER_MAX_LONG_LEN);
    if (a->type == HANGAR_ATTRIBUTE_TYPE_DOUBLE && !isfinite(a->n))
        return bad_arg("%s%zu].attributes[%zu] (%s): n must be a finite number", pre, i, k,
                       a->name);
    if (is_sl && (a->sl_count > HANGAR_SERVER_MAX_ATTRIBUTE_LIST || (a->sl_count && !a->sl)))
        return bad_arg("%s%zu].attributes[%zu] (%s): sl holds 0..%d strings (sl NULL only when "
                       "sl_count is 0)",
                       pre, i, k, a->name, HANGAR_SERVER_MAX_ATTRIBUTE_LIST);
    for (size_t j = 0; is_sl && j < a->sl_count; j++)
        if (!len_ok(a->sl[j], HANGAR_SERVER_MAX_LONG_LEN))
            return bad_arg("%s%zu].attributes[%zu] (%s): sl[%zu] must be 1..%d characters of UTF-8",
                           pre, i, k, a->name, j, HANGAR_SERVER_MAX_LONG_LEN);
    if (is_sdm && (a->sdm_count > HANGAR_SERVER_MAX_ATTRIBUTE_MAP || (a->sdm_count && !a->sdm)))
        return bad_arg("%s%zu].attributes[%zu] (%s): sdm holds 0..%d entries (sdm NULL only when "
                       "sdm_count is 0)",
                       pre, i, k, a->name, HANGAR_SERVER_MAX_ATTRIBUTE_MAP);
    for (size_t j = 0; is_sdm && j < a->sdm_count; j++) {
        if (!len_ok(a->sdm[j].key, HANGAR_SERVER_MAX_LONG_LEN) || !isfinite(a->sdm[j].value))
            return bad_arg(
                "%s%zu].attributes[%zu] (%s): sdm[%zu] needs a key of 1..%d characters of UTF-8 "
                "and a finite value",
                pre, i, k, a->name, j, HANGAR_SERVER_MAX_LONG_LEN);
        for (size_t m = 0; m < j; m++)
            if (strcmp(a->sdm[m].key, a->sdm[j].key) == 0)
                return bad_arg("%s%zu].attributes[%zu] (%s): sdm key \"%s\" is given twice", pre, i,
                               k, a->name, a->sdm[j].key);
    }
    return 0;
}

/* Every rule of hangar_player_t; the message names the first field that breaks one. Duplicate
 * names are refused here because they would silently collapse into one JSON member. */
static int check_players(const hangar_player_t *players, size_t n)
{
    const char *pre = "StartMatchBackfill: players[";
    if (n == 0 || n > HANGAR_SERVER_MAX_BACKFILL_PLAYERS || players == NULL)
        return bad_arg("StartMatchBackfill: players must hold 1..%d players (the players in the "
                       "game session now)",
                       HANGAR_SERVER_MAX_BACKFILL_PLAYERS);
    for (size_t i = 0; i < n; i++) {
        const hangar_player_t *p = &players[i];
        if (!len_ok(p->player_id, HANGAR_SERVER_MAX_ID_LEN))
            return bad_arg("%s%zu].player_id must be 1..%d characters of UTF-8", pre, i,
                           HANGAR_SERVER_MAX_ID_LEN);
        for (size_t j = 0; j < i; j++)
            if (strcmp(players[j].player_id, p->player_id) == 0)
                return bad_arg("%s%zu].player_id: %s is listed twice", pre, i, p->player_id);
        if (!len_ok(p->team, HANGAR_SERVER_MAX_NAME_LEN))
            return bad_arg("%s%zu].team is required: the rule set's team %s plays on, 1..%d "
                           "characters of UTF-8",
                           pre, i, p->player_id, HANGAR_SERVER_MAX_NAME_LEN);
        if (p->attribute_count > HANGAR_SERVER_MAX_PLAYER_ATTRIBUTES ||
            (p->attribute_count && !p->attributes))
            return bad_arg("%s%zu].attributes: 0..%d (attributes NULL only when attribute_count "
                           "is 0)",
                           pre, i, HANGAR_SERVER_MAX_PLAYER_ATTRIBUTES);
        for (size_t k = 0; k < p->attribute_count; k++) {
            const hangar_player_attribute_t *a = &p->attributes[k];
            if (!len_ok(a->name, HANGAR_SERVER_MAX_NAME_LEN))
                return bad_arg("%s%zu].attributes[%zu].name must be 1..%d characters of UTF-8", pre,
                               i, k, HANGAR_SERVER_MAX_NAME_LEN);
            for (size_t j = 0; j < k; j++)
                if (strcmp(p->attributes[j].name, a->name) == 0)
                    return bad_arg("%s%zu].attributes[%zu]: %s is given twice", pre, i, k, a->name);
            int rc = check_attribute(a, i, k);
            if (rc != 0)
                return rc;
        }
        if (p->latency_count > HANGAR_SERVER_MAX_PLAYER_LATENCIES ||
            (p->latency_count && !p->latencies))
            return bad_arg("%s%zu].latencies: 0..%d (latencies NULL only when latency_count is 0)",
                           pre, i, HANGAR_SERVER_MAX_PLAYER_LATENCIES);
        for (size_t k = 0; k < p->latency_count; k++) {
            const hangar_player_latency_t *l = &p->latencies[k];
            if (!len_ok(l->region, HANGAR_SERVER_MAX_NAME_LEN) || l->latency_ms < 1)
                return bad_arg(
                    "%s%zu].latencies[%zu] needs a region of 1..%d characters of UTF-8 and "
                    "latency_ms of at least 1",
                    pre, i, k, HANGAR_SERVER_MAX_NAME_LEN);
            for (size_t j = 0; j < k; j++)
                if (strcmp(p->latencies[j].region, l->region) == 0)
                    return bad_arg("%s%zu].latencies[%zu]: region %s is given twice", pre, i, k,
                                   l->region);
        }
    }
    return 0;
}

/* The socket's Player object (gamelift-wire.md §7.5) of a checked player: a new reference. */
static json_t *player_json(const hangar_player_t *p)
{
    static const char *const types[] = {"NONE", "STRING", "DOUBLE", "STRING_LIST",
                                        "STRING_DOUBLE_MAP"};
    json_t *attrs = json_object();
    for (size_t k = 0; k < p->attribute_count; k++) {
        const hangar_player_attribute_t *a = &p->attributes[k];
        json_t *v = json_pack("{s:s}", "AttrType", types[a->type]);
        switch (a->type) {
        case HANGAR_ATTRIBUTE_TYPE_STRING: json_object_set_new(v, "S", json_string(a->s)); break;
        case HANGAR_ATTRIBUTE_TYPE_DOUBLE: json_object_set_new(v, "N", json_real(a->n)); break;
        case HANGAR_ATTRIBUTE_TYPE_STRING_LIST: {
            json_t *sl = json_array();
            for (size_t j = 0; j < a->sl_count; j++)
                json_array_append_new(sl, json_string(a->sl[j]));
            json_object_set_new(v, "SL", sl);
            break;
        }
        default: {
            json_t *sdm = json_object();
            for (size_t j = 0; j < a->sdm_count; j++)
                json_object_set_new(sdm, a->sdm[j].key, json_real(a->sdm[j].value));
            json_object_set_new(v, "SDM", sdm);
            break;
        }
        }
        json_object_set_new(attrs, a->name, v);
    }
    json_t *lat = json_object();
    for (size_t k = 0; k < p->latency_count; k++)
        json_object_set_new(lat, p->latencies[k].region, json_integer(p->latencies[k].latency_ms));
    return json_pack("{s:s, s:s, s:o, s:o}", "PlayerId", p->player_id, "Team", p->team,
                     "PlayerAttributes", attrs, "LatencyInMs", lat);
}

int hangar_server_start_match_backfill(hangar_server_t *srv,
                                       const hangar_start_match_backfill_request_t *req,
                                       char *ticket_id_out, size_t size)
{
    const char *action = "StartMatchBackfill";
    if (srv == NULL || req == NULL)
        return bad_arg("%s: %s is NULL", action, srv == NULL ? "srv" : "req");
    if (ticket_id_out && size < HANGAR_SERVER_TICKET_ID_SIZE)
        return bad_arg("%s: ticket_id_out needs HANGAR_SERVER_TICKET_ID_SIZE (%d) bytes, got %zu",
                       action, HANGAR_SERVER_TICKET_ID_SIZE, size);
    int rc = check_config_and_ticket(action, req->matchmaking_configuration_arn, req->ticket_id, 0);
    if (rc != 0)
        return rc;
    if ((rc = check_players(req->players, req->player_count)) != 0)
        return rc;
    char *gsid = NULL;
    if ((rc = backfill_game_session(srv, action, req->game_session_arn, &gsid)) != 0)
        return rc;

    json_t *players = json_array();
    for (size_t i = 0; i < req->player_count; i++)
        json_array_append_new(players, player_json(&req->players[i]));
    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "GameSessionArn", gsid,
                             "MatchmakingConfigurationArn", req->matchmaking_configuration_arn,
                             "TicketId", req->ticket_id ? req->ticket_id : "", "Players", players);
    free(gsid);
    json_t *res = NULL;
    if ((rc = call_run(srv, HG_SDK_CALL_PLAIN, action, body, srv->cfg.call_timeout_ms, &res)) != 0)
        return rc;
    const char *id = json_string_value(json_object_get(res, "TicketId"));
    if (id == NULL || *id == '\0' || strlen(id) > HANGAR_SERVER_MAX_NAME_LEN) {
        json_decref(res);
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_EPROTO, 0,
                   "%s: the answer's TicketId is missing or over %d characters (the backfill may "
                   "have started)",
                   action, HANGAR_SERVER_MAX_NAME_LEN);
        return hg_sdk_fail(&err);
    }
    if (ticket_id_out)
        memcpy(ticket_id_out, id, strlen(id) + 1);
    HG_SDK_INFO(srv, "match_backfill_started ticket_id=%s players=%zu", id, req->player_count);
    json_decref(res);
    return 0;
}

int hangar_server_stop_match_backfill(hangar_server_t *srv, const char *game_session_arn,
                                      const char *matchmaking_configuration_arn,
                                      const char *ticket_id)
{
    const char *action = "StopMatchBackfill";
    if (srv == NULL)
        return bad_arg("%s: srv is NULL", action);
    int rc = check_config_and_ticket(action, matchmaking_configuration_arn, ticket_id, 1);
    if (rc != 0)
        return rc;
    char *gsid = NULL;
    if ((rc = backfill_game_session(srv, action, game_session_arn, &gsid)) != 0)
        return rc;
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "GameSessionArn", gsid, "MatchmakingConfigurationArn",
                  matchmaking_configuration_arn, "TicketId", ticket_id);
    free(gsid);
    if ((rc = call_run(srv, HG_SDK_CALL_PLAIN, action, body, srv->cfg.call_timeout_ms, NULL)) != 0)
        return rc;
    HG_SDK_INFO(srv, "match_backfill_stopped ticket_id=%s", ticket_id);
    return 0;
}

/* ---- information ---- */

int hangar_server_get_game_session_id(hangar_server_t *srv, char *buf, size_t size)
{
    if (srv == NULL || buf == NULL)
        return bad_arg("%s is NULL", srv ? "buf" : "srv");
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->game_session_id ? strlen(srv->game_session_id) : 0;
    int rc = n == 0 ? HANGAR_SERVER_ESTATE : n >= size ? HANGAR_SERVER_ELIMIT : 0;
    if (rc == 0)
        memcpy(buf, srv->game_session_id, n + 1);
    pthread_mutex_unlock(&srv->mu);
    if (rc == HANGAR_SERVER_ESTATE)
        return bad_state("no game session has been started on this process");
    if (rc == HANGAR_SERVER_ELIMIT) {
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_ELIMIT, 0, "the buffer needs %zu bytes", n + 1);
        return hg_sdk_fail(&err);
    }
    return 0;
}

int hangar_server_get_termination_time(hangar_server_t *srv, int64_t *epoch_seconds)
{
    if (srv == NULL || epoch_seconds == NULL)
        return bad_arg("%s is NULL", srv ? "epoch_seconds" : "srv");
    pthread_mutex_lock(&srv->mu);
    int has = srv->has_termination;
    int64_t ms = srv->termination_ms;
    pthread_mutex_unlock(&srv->mu);
    if (!has)
        return bad_state("the service has not sent a termination time");
    *epoch_seconds = ms / 1000;
    return 0;
}

int hangar_server_get_compute_certificate(hangar_server_t *srv, hangar_compute_certificate_t *out)
{
    if (srv == NULL || out == NULL)
        return bad_arg("%s is NULL", srv ? "out" : "srv");
    json_t *res = NULL;
    int rc = call_run(srv, HG_SDK_CALL_PLAIN, "GetComputeCertificate", json_object(),
                      srv->cfg.call_timeout_ms, &res);
    if (rc != 0)
        return rc;
    const char *path = json_string_value(json_object_get(res, "CertificatePath"));
    const char *name = json_string_value(json_object_get(res, "ComputeName"));
    if (path == NULL || name == NULL || strlen(path) > HANGAR_SERVER_MAX_PATH_LEN ||
        strlen(name) > HANGAR_SERVER_MAX_ID_LEN) {
        json_decref(res);
        hangar_server_error_t err = {0};
        hg_sdk_err(&err, HANGAR_SERVER_EPROTO, 0,
                   "GetComputeCertificate: CertificatePath or ComputeName missing or too long");
        return hg_sdk_fail(&err);
    }
    snprintf(out->certificate_path, sizeof(out->certificate_path), "%s", path);
    snprintf(out->compute_name, sizeof(out->compute_name), "%s", name);
    json_decref(res);
    return 0;
}
