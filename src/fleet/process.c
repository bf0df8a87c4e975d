/* hangar — server processes of ANYWHERE fleets (design and state table in session.h).
 *
 * A process exists from the moment its SDK connects (WAITING, in memory only) and is stored once
 * it calls ProcessReady. Its timers are intrusive lists in deadline order (session.h): a process
 * is on exactly one of them — waiting for ProcessReady, waiting for its next heartbeat, waiting
 * to reconnect, or waiting to end after TerminateProcess.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "fleet/fleet_int.h"

/* Pushes and idle notices leave only once the change that causes them is durable: the hook
 * carries the process key and looks the process up again (it may be gone by then). */
typedef struct push_hook {
    hg_fleet_t *fl;
    int kind; /* PUSH_* */
    int64_t when_ms;
    char key[];
} push_hook_t;

enum { PUSH_TERMINATE = 1, PUSH_IDLE };

static void on_push_committed(void *ud, int rc)
{
    push_hook_t *h = ud;
    hg_fleet_t *fl = h->fl;
    hg_fl_process_t *p = rc == 0 ? hg_map_get(&fl->processes, h->key) : NULL;
    if (p) {
        if (h->kind == PUSH_TERMINATE && p->state == HG_PR_TERMINATING && fl->sink.terminate)
            fl->sink.terminate(fl->sink.ud, p, h->when_ms);
        else if (h->kind == PUSH_IDLE && hg_list_linked(&p->inode) && fl->sink.idle)
            fl->sink.idle(fl->sink.ud, p->fleet, p->compute->location);
    }
    hg_free(h);
}

static void push_after_commit(hg_fleet_t *fl, hg_fl_process_t *p, int kind, int64_t when_ms,
                              hg_store_txn_t *txn)
{
    size_t n = strlen(p->key) + 1;
    push_hook_t *h = hg_malloc(sizeof(*h) + n);
    h->fl = fl;
    h->kind = kind;
    h->when_ms = when_ms;
    memcpy(h->key, p->key, n);
    hg_store_txn_on_commit(txn, on_push_committed, h);
}

/* ---- module state ---- */

void hg_fl_session_init(hg_fleet_t *fl)
{
    hg_map_init(&fl->processes);
    hg_map_init(&fl->places);
    hg_map_init(&fl->gsessions);
    hg_map_init(&fl->gs_tokens);
    hg_map_init(&fl->psessions);
    hg_map_init(&fl->players);
    hg_list_init(&fl->t_waiting);
    hg_list_init(&fl->t_heartbeat);
    hg_list_init(&fl->t_grace);
    hg_list_init(&fl->t_terminating);
    hg_list_init(&fl->t_activating);
    hg_list_init(&fl->t_reserved);
    hg_list_init(&fl->ended);
    hg_fleet_set_timeouts(fl, NULL);
}

static void proc_free(hg_fl_process_t *p)
{
    hg_free(p->key);
    hg_free(p->pid);
    hg_free(p->sdk_version);
    hg_free(p->sdk_language);
    json_decref(p->log_paths);
    hg_free(p);
}

void hg_fl_session_free(hg_fleet_t *fl)
{
    size_t it = 0;
    void *v;
    while (hg_map_next(&fl->processes, &it, NULL, &v))
        proc_free(v);
    hg_map_free(&fl->processes);
    it = 0;
    while (hg_map_next(&fl->places, &it, NULL, &v)) {
        hg_free(((hg_fl_place_t *)v)->key);
        hg_free(v);
    }
    hg_map_free(&fl->places);
    hg_fl_gs_free_all(fl);
}

void hg_fleet_set_sink(hg_fleet_t *fl, const hg_fl_sink_t *sink)
{
    if (sink)
        fl->sink = *sink;
    else
        memset(&fl->sink, 0, sizeof(fl->sink));
}

void hg_fleet_set_timeouts(hg_fleet_t *fl, const hg_fl_timeouts_t *t)
{
    hg_fl_timeouts_t d = {
        .ready_ms = 300000,
        .heartbeat_ms = 180000,
        .unhealthy_reports = 3,
        .grace_ms = 30000,
        .activation_ms = 600000,
        .reservation_ms = 60000,
    };
    if (t) {
        if (t->ready_ms > 0)
            d.ready_ms = t->ready_ms;
        if (t->heartbeat_ms > 0)
            d.heartbeat_ms = t->heartbeat_ms;
        if (t->unhealthy_reports >= 0)
            d.unhealthy_reports = t->unhealthy_reports;
        if (t->grace_ms >= 0)
            d.grace_ms = t->grace_ms;
        if (t->activation_ms > 0)
            d.activation_ms = t->activation_ms;
        if (t->reservation_ms > 0)
            d.reservation_ms = t->reservation_ms;
    }
    fl->to = d;
}

const char *hg_pr_state_name(hg_pr_state_t s)
{
    switch (s) {
    case HG_PR_WAITING: return "WAITING";
    case HG_PR_ACTIVE: return "ACTIVE";
    case HG_PR_TERMINATING: return "TERMINATING";
    }
    return "UNKNOWN";
}

/* ---- places: idle processes per (fleet, location) ---- */

static hg_fl_place_t *place_get(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", f->id, location);
    hg_fl_place_t *pl = hg_map_get(&fl->places, key);
    if (pl == NULL) {
        pl = hg_calloc(1, sizeof(*pl));
        pl->key = hg_strdup(key);
        hg_list_init(&pl->idle);
        hg_map_set(&fl->places, key, pl);
    }
    return pl;
}

static int proc_can_host(const hg_fl_process_t *p)
{
    return p->state == HG_PR_ACTIVE && p->conn != NULL && p->healthy && p->gs == NULL;
}

void hg_fl_proc_update_idle(hg_fleet_t *fl, hg_fl_process_t *p)
{
    (void)fl;
    int idle = proc_can_host(p), queued = hg_list_linked(&p->inode);
    if (idle && !queued) {
        hg_list_insert_tail(&p->place->idle, &p->inode);
        p->place->nidle++;
    } else if (!idle && queued) {
        hg_list_remove(&p->inode);
        p->place->nidle--;
    }
}

size_t hg_fl_idle_count(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location)
{
    if (location) {
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", f->id, location);
        const hg_fl_place_t *pl = hg_map_get(&fl->places, key);
        return pl ? pl->nidle : 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->nlocations; i++)
        n += hg_fl_idle_count(fl, f, f->locations[i]);
    return n;
}

/* ---- records ---- */

static void proc_save(const hg_fl_process_t *p, hg_store_txn_t *txn)
{
    hg_buf_t b;
    hg_buf_init(&b);
    hg_buf_append(&b, "{", 1);
    hg_jsonw_key(&b, "state");
    hg_jsonw_str(&b, hg_pr_state_name(p->state));
    hg_buf_append(&b, ",", 1);
    hg_jsonw_key(&b, "port");
    hg_jsonw_int(&b, p->port);
    hg_buf_append(&b, ",", 1);
    hg_jsonw_key(&b, "sdk_version");
    hg_jsonw_str(&b, p->sdk_version ? p->sdk_version : "");
    hg_buf_append(&b, ",", 1);
    hg_jsonw_key(&b, "sdk_language");
    hg_jsonw_str(&b, p->sdk_language ? p->sdk_language : "");
    hg_buf_append(&b, ",", 1);
    hg_jsonw_key(&b, "ready_ms");
    hg_jsonw_int(&b, p->ready_ms);
    if (p->auth[0]) {
        hg_buf_append(&b, ",", 1);
        hg_jsonw_key(&b, "auth");
        hg_jsonw_str(&b, p->auth);
    }
    if (p->log_paths) {
        hg_buf_append(&b, ",", 1);
        hg_jsonw_key(&b, "log_paths");
        hg_jsonw_value(&b, p->log_paths);
    }
    hg_buf_append(&b, "}", 1);
    hg_store_put_text(txn, COLL_PROCESSES, p->key, hg_buf_steal(&b, NULL));
}

static void notify(hg_fleet_t *fl, hg_store_txn_t *txn, const hg_fl_process_t *p, int gone)
{
    if (fl->sink.changed && p->state != HG_PR_WAITING)
        fl->sink.changed(fl->sink.ud, txn, p, gone);
}

/* ---- timers ---- */

static void timer_set(hg_list_t *list, hg_fl_process_t *p, int64_t deadline_ms)
{
    hg_list_remove(&p->tnode);
    p->deadline_ms = deadline_ms;
    hg_list_insert_tail(list, &p->tnode);
}

/* ---- lifecycle ---- */

static int valid_pid(const char *pid)
{
    size_t n = strlen(pid);
    if (n == 0 || n > HG_FL_PID_MAX)
        return 0;
    for (const unsigned char *s = (const unsigned char *)pid; *s; s++)
        if (*s <= ' ' || *s >= 0x7f || *s == '/' || *s == '?' || *s == '&' || *s == '#')
            return 0;
    return 1;
}

/* p is gone: its game session ends, its record goes, the API layer closes its sockets (drop). */
static void proc_gone(hg_fleet_t *fl, hg_fl_process_t *p, int drop, hg_store_txn_t *txn)
{
    if (p->gs)
        hg_fl_gs_end(fl, p->gs, 0, txn);
    if (p->state != HG_PR_WAITING)
        hg_store_del(txn, COLL_PROCESSES, p->key);
    else
        fl->nwaiting--;
    notify(fl, txn, p, 1);
    if (drop && fl->sink.drop)
        fl->sink.drop(fl->sink.ud, p);
    hg_list_remove(&p->tnode);
    if (hg_list_linked(&p->inode)) {
        hg_list_remove(&p->inode);
        p->place->nidle--;
    }
    hg_list_remove(&p->cnode);
    p->compute->nprocesses--;
    hg_map_del(&fl->processes, p->key);
    HG_LOG(HG_LOG_INFO, "fleet", "process gone key=%s state=%s", p->key,
           hg_pr_state_name(p->state));
    proc_free(p);
}

/* TERMINATING: TerminateProcess is pushed once durable, and the process has
 * HG_FL_TERMINATE_GRACE_MS to call ProcessEnding (its game session, if any, ends then). */
void hg_fl_proc_tell_terminate(hg_fleet_t *fl, hg_fl_process_t *p, hg_store_txn_t *txn)
{
    int64_t now = hg_fl_now(fl);
    p->state = HG_PR_TERMINATING;
    hg_fl_proc_update_idle(fl, p);
    if (p->conn)
        timer_set(&fl->t_terminating, p, now + HG_FL_TERMINATE_GRACE_MS);
    proc_save(p, txn);
    notify(fl, txn, p, 0);
    push_after_commit(fl, p, PUSH_TERMINATE, now + HG_FL_TERMINATE_GRACE_MS, txn);
}

/* No heartbeat in time, or too many unhealthy reports: its game session ends now and the
 * process is told to terminate. */
static void proc_terminate(hg_fleet_t *fl, hg_fl_process_t *p, const char *why, hg_store_txn_t *txn)
{
    HG_LOG(HG_LOG_WARN, "fleet", "process unhealthy key=%s reason=%s", p->key, why);
    fl->proc_unhealthy++;
    if (p->gs)
        hg_fl_gs_end(fl, p->gs, 0, txn);
    p->healthy = 0;
    hg_fl_proc_tell_terminate(fl, p, txn);
}

static void became_idle(hg_fleet_t *fl, hg_fl_process_t *p, hg_store_txn_t *txn)
{
    int was = hg_list_linked(&p->inode);
    hg_fl_proc_update_idle(fl, p);
    if (!was && hg_list_linked(&p->inode) && fl->sink.idle)
        push_after_commit(fl, p, PUSH_IDLE, 0, txn);
}

void hg_fl_proc_host(hg_fleet_t *fl, hg_fl_process_t *p, hg_fl_gsession_t *gs, hg_store_txn_t *txn)
{
    p->gs = gs;
    notify(fl, txn, p, 0);
    if (gs)
        hg_fl_proc_update_idle(fl, p);
    else
        became_idle(fl, p, txn);
}

int hg_fl_proc_connect(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_fl_compute_t *c, const char *pid,
                       void *conn, const char *token, hg_store_txn_t *txn, hg_fl_process_t **out,
                       int *created, hg_error_t *err)
{
    *created = 0;
    if (!valid_pid(pid))
        return hg_error_set(err, HG_EINVAL,
                            "pID must be 1 to %d printable ASCII characters without '/', '?', "
                            "'&', '#' or spaces",
                            HG_FL_PID_MAX);
    int rc = hg_fl_fleet_check_active(f, err);
    if (rc < 0)
        return rc;
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%s", f->id, c->name, pid);
    int64_t now = hg_fl_now(fl);
    char auth[HG_FL_TOKEN_HASH_CHARS + 1] = "";
    if (token)
        hg_fleet_token_hash(token, auth);
    hg_fl_process_t *p = hg_map_get(&fl->processes, key);
    if (p) {
        /* a reconnect (or RefreshConnection): the newest socket gets the pushes */
        int was_connected = p->conn != NULL;
        p->conn = conn;
        if (strcmp(p->auth, auth) != 0) { /* a new token (RefreshConnection), kept durably */
            memcpy(p->auth, auth, sizeof(auth));
            if (p->state != HG_PR_WAITING)
                proc_save(p, txn);
        }
        p->heartbeat_ms = now;
        if (p->state == HG_PR_ACTIVE)
            timer_set(&fl->t_heartbeat, p, now + fl->to.heartbeat_ms);
        else if (p->state == HG_PR_TERMINATING && !was_connected)
            timer_set(&fl->t_terminating, p, now + HG_FL_TERMINATE_GRACE_MS);
        if (!was_connected) {
            notify(fl, txn, p, 0);
            became_idle(fl, p, txn);
        }
        *out = p;
        return 0;
    }
    if (hg_map_count(&fl->processes) >= HG_FL_MAX_PROCESSES)
        return hg_error_set(err, HG_ELIMIT, "at most %d server processes", HG_FL_MAX_PROCESSES);
    if (c->nprocesses >= HG_FL_MAX_PROCESSES_PER_COMPUTE)
        return hg_error_set(err, HG_ELIMIT, "compute %s already has %d server processes", c->name,
                            HG_FL_MAX_PROCESSES_PER_COMPUTE);
    p = hg_calloc(1, sizeof(*p));
    p->key = hg_strdup(key);
    p->pid = hg_strdup(pid);
    p->fleet = f;
    p->compute = c;
    p->place = place_get(fl, f, c->location);
    p->state = HG_PR_WAITING;
    p->conn = conn;
    memcpy(p->auth, auth, sizeof(auth));
    p->healthy = 1;
    p->connected_ms = p->heartbeat_ms = now;
    hg_list_init(&p->inode);
    hg_list_init(&p->tnode);
    hg_list_insert_tail(&c->processes, &p->cnode);
    c->nprocesses++;
    hg_map_set(&fl->processes, key, p);
    fl->nwaiting++;
    timer_set(&fl->t_waiting, p, now + fl->to.ready_ms);
    *out = p;
    *created = 1;
    return 0;
}

int hg_fl_proc_auth_known(hg_fleet_t *fl, const char *fleet_id, const char *compute,
                          const char *pid, const char *token)
{
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%s", fleet_id, compute, pid);
    const hg_fl_process_t *p = hg_map_get(&fl->processes, key);
    if (p == NULL || p->auth[0] == '\0')
        return 0;
    char auth[HG_FL_TOKEN_HASH_CHARS + 1];
    hg_fleet_token_hash(token, auth);
    return CRYPTO_memcmp(p->auth, auth, HG_FL_TOKEN_HASH_CHARS) == 0;
}

hg_fl_process_t *hg_fl_proc_find(hg_fleet_t *fl, const char *key)
{
    return hg_map_get(&fl->processes, key);
}

void hg_fl_proc_disconnect(hg_fleet_t *fl, hg_fl_process_t *p, void *conn, hg_store_txn_t *txn)
{
    if (p->conn != conn)
        return; /* an older socket of a process that reconnected */
    p->conn = NULL;
    if (p->state == HG_PR_WAITING) {
        proc_gone(fl, p, 1, txn);
        return;
    }
    int64_t now = hg_fl_now(fl);
    p->disconnected_ms = now;
    timer_set(&fl->t_grace, p, now + fl->to.grace_ms);
    hg_fl_proc_update_idle(fl, p);
    notify(fl, txn, p, 0);
}

int hg_fl_proc_ready(hg_fleet_t *fl, hg_fl_process_t *p, int port, const char *sdk_version,
                     const char *sdk_language, json_t *log_paths, hg_store_txn_t *txn,
                     hg_error_t *err)
{
    if (p->state != HG_PR_WAITING) {
        if (p->port == port)
            return 0; /* a resent ProcessReady */
        return hg_error_set(err, HG_ECONFLICT,
                            "ProcessReady was already called for process %s with port %d", p->pid,
                            p->port);
    }
    int64_t now = hg_fl_now(fl);
    p->state = HG_PR_ACTIVE;
    fl->nwaiting--;
    p->port = port;
    p->sdk_version = hg_strdup(sdk_version ? sdk_version : "");
    p->sdk_language = hg_strdup(sdk_language ? sdk_language : "");
    p->log_paths = json_is_array(log_paths) ? json_deep_copy(log_paths) : NULL;
    p->ready_ms = p->heartbeat_ms = now;
    if (p->conn)
        timer_set(&fl->t_heartbeat, p, now + fl->to.heartbeat_ms);
    else
        timer_set(&fl->t_grace, p, now + fl->to.grace_ms);
    proc_save(p, txn);
    notify(fl, txn, p, 0);
    became_idle(fl, p, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "process ready key=%s port=%d sdk=%s/%s", p->key, port,
           p->sdk_language, p->sdk_version);
    return 0;
}

int hg_fl_proc_heartbeat(hg_fleet_t *fl, hg_fl_process_t *p, int healthy, hg_store_txn_t *txn,
                         hg_error_t *err)
{
    if (p->state == HG_PR_WAITING)
        return hg_error_set(err, HG_EINVAL, "call ProcessReady before reporting health");
    if (p->state == HG_PR_TERMINATING)
        return 0;
    int64_t now = hg_fl_now(fl);
    p->heartbeat_ms = now;
    p->heartbeats++;
    if (p->conn)
        timer_set(&fl->t_heartbeat, p, now + fl->to.heartbeat_ms);
    if (healthy) {
        p->unhealthy_reports = 0;
        if (!p->healthy) {
            p->healthy = 1;
            notify(fl, txn, p, 0);
            became_idle(fl, p, txn);
        }
        return 0;
    }
    p->unhealthy_reports++;
    if (p->healthy) {
        p->healthy = 0;
        hg_fl_proc_update_idle(fl, p);
        notify(fl, txn, p, 0);
    }
    if (fl->to.unhealthy_reports > 0 && p->unhealthy_reports >= fl->to.unhealthy_reports)
        proc_terminate(fl, p, "reported unhealthy", txn);
    return 0;
}

void hg_fl_proc_ending(hg_fleet_t *fl, hg_fl_process_t *p, hg_store_txn_t *txn)
{
    HG_LOG(HG_LOG_INFO, "fleet", "process ending key=%s", p->key);
    proc_gone(fl, p, 0, txn);
}

void hg_fl_proc_drop_compute(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn)
{
    while (!hg_list_empty(&c->processes))
        proc_gone(fl, hg_container_of(c->processes.next, hg_fl_process_t, cnode), 1, txn);
}

size_t hg_fleet_tick(hg_fleet_t *fl, size_t budget)
{
    int64_t now = hg_fl_now(fl);
    hg_store_txn_t *txn = hg_store_txn_new(fl->store);
    size_t n = 0;
    while (n < budget && !hg_list_empty(&fl->t_waiting)) {
        hg_fl_process_t *p = hg_container_of(fl->t_waiting.next, hg_fl_process_t, tnode);
        if (p->deadline_ms > now)
            break;
        HG_LOG(HG_LOG_WARN, "fleet", "process %s did not call ProcessReady in time", p->key);
        proc_gone(fl, p, 1, txn);
        n++;
    }
    while (n < budget && !hg_list_empty(&fl->t_heartbeat)) {
        hg_fl_process_t *p = hg_container_of(fl->t_heartbeat.next, hg_fl_process_t, tnode);
        if (p->deadline_ms > now)
            break;
        hg_list_remove(&p->tnode);
        proc_terminate(fl, p, "no heartbeat", txn);
        n++;
    }
    while (n < budget && !hg_list_empty(&fl->t_grace)) {
        hg_fl_process_t *p = hg_container_of(fl->t_grace.next, hg_fl_process_t, tnode);
        if (p->deadline_ms > now)
            break;
        HG_LOG(HG_LOG_WARN, "fleet", "process %s lost: no reconnect in time", p->key);
        fl->proc_lost++;
        proc_gone(fl, p, 1, txn);
        n++;
    }
    while (n < budget && !hg_list_empty(&fl->t_terminating)) {
        hg_fl_process_t *p = hg_container_of(fl->t_terminating.next, hg_fl_process_t, tnode);
        if (p->deadline_ms > now)
            break;
        proc_gone(fl, p, 1, txn);
        n++;
    }
    if (n < budget)
        n += hg_fl_gs_tick(fl, now, budget - n, txn);
    if (hg_store_txn_empty(txn))
        hg_store_txn_free(txn);
    else
        hg_store_commit(txn, NULL, NULL);
    return n;
}

/* ---- load ---- */

typedef struct proc_load {
    hg_fleet_t *fl;
    hg_store_txn_t *cleanup;
} proc_load_t;

static int load_process(void *ud, const char *key, json_t *v)
{
    proc_load_t *pl = ud;
    hg_fleet_t *fl = pl->fl;
    /* <fleet id>/<compute name (may hold one '/')>/<pID (no '/')> */
    const char *first = strchr(key, '/'), *last = strrchr(key, '/');
    hg_fl_fleet_t *f = NULL;
    hg_fl_compute_t *c = NULL;
    if (first && last > first) {
        char fid[128], cname[300];
        if ((size_t)(first - key) < sizeof(fid) && (size_t)(last - first - 1) < sizeof(cname)) {
            memcpy(fid, key, (size_t)(first - key));
            fid[first - key] = '\0';
            memcpy(cname, first + 1, (size_t)(last - first - 1));
            cname[last - first - 1] = '\0';
            f = hg_map_get(&fl->fleets, fid);
            c = f ? hg_map_get(&f->computes, cname) : NULL;
        }
    }
    if (c == NULL || f->status != HG_FL_ACTIVE || !valid_pid(last + 1)) {
        hg_store_del(pl->cleanup, COLL_PROCESSES, key);
        return 0;
    }
    int64_t now = hg_fl_now(fl);
    hg_fl_process_t *p = hg_calloc(1, sizeof(*p));
    p->key = hg_strdup(key);
    p->pid = hg_strdup(last + 1);
    p->fleet = f;
    p->compute = c;
    p->place = place_get(fl, f, c->location);
    const char *st = json_string_value(json_object_get(v, "state"));
    p->state = st && strcmp(st, "TERMINATING") == 0 ? HG_PR_TERMINATING : HG_PR_ACTIVE;
    p->port = (int)json_integer_value(json_object_get(v, "port"));
    const char *s = json_string_value(json_object_get(v, "sdk_version"));
    p->sdk_version = hg_strdup(s ? s : "");
    s = json_string_value(json_object_get(v, "sdk_language"));
    p->sdk_language = hg_strdup(s ? s : "");
    json_t *lp = json_object_get(v, "log_paths");
    p->log_paths = json_is_array(lp) ? json_incref(lp) : NULL;
    p->ready_ms = json_integer_value(json_object_get(v, "ready_ms"));
    const char *auth = json_string_value(json_object_get(v, "auth"));
    if (auth && strlen(auth) == HG_FL_TOKEN_HASH_CHARS)
        memcpy(p->auth, auth, HG_FL_TOKEN_HASH_CHARS + 1);
    p->healthy = p->state == HG_PR_ACTIVE;
    p->connected_ms = p->heartbeat_ms = p->disconnected_ms = now;
    hg_list_init(&p->inode);
    hg_list_init(&p->tnode);
    hg_list_insert_tail(&c->processes, &p->cnode);
    c->nprocesses++;
    hg_map_set(&fl->processes, key, p);
    /* the SDK reconnects on its own after our restart closed its socket */
    timer_set(&fl->t_grace, p, now + fl->to.grace_ms);
    return 0;
}

int hg_fl_session_load(hg_fleet_t *fl)
{
    proc_load_t pl = {.fl = fl, .cleanup = hg_store_txn_new(fl->store)};
    int rc = hg_store_load(fl->store, COLL_PROCESSES, load_process, &pl);
    if (rc == 0)
        rc = hg_fl_gs_load(fl, pl.cleanup);
    if (rc == 0) {
        size_t it = 0;
        void *v;
        while (hg_map_next(&fl->processes, &it, NULL, &v))
            notify(fl, NULL, v, 0);
    }
    if (rc < 0 || hg_store_txn_empty(pl.cleanup))
        hg_store_txn_free(pl.cleanup);
    else
        hg_store_commit(pl.cleanup, NULL, NULL);
    HG_LOG(HG_LOG_INFO, "fleet", "loaded processes=%zu game_sessions=%zu player_sessions=%zu",
           hg_map_count(&fl->processes), hg_map_count(&fl->gsessions),
           hg_map_count(&fl->psessions));
    return rc;
}

void hg_fleet_session_stats(const hg_fleet_t *fl, hg_fl_session_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->processes = hg_map_count(&fl->processes);
    out->waiting = fl->nwaiting;
    size_t it = 0;
    void *v;
    while (hg_map_next(&fl->places, &it, NULL, &v))
        out->idle += ((hg_fl_place_t *)v)->nidle;
    out->gsessions_ended = fl->nended;
    out->gsessions_live = hg_map_count(&fl->gsessions) - fl->nended;
    out->psessions = hg_map_count(&fl->psessions);
    out->gs_created = fl->gs_created;
    out->gs_activation_timeouts = fl->gs_activation_timeouts;
    out->ps_timeouts = fl->ps_timeouts;
    out->proc_lost = fl->proc_lost;
    out->proc_unhealthy = fl->proc_unhealthy;
}
