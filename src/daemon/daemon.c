/* hangar — the daemon (see daemon.h).
 *
 * Start-up order (stop is the reverse):
 *   1. options: defaults < --config file < HANGAR_* environment < command line
 *   2. store: open <data>/hangar.db, start the store writer lane
 *   3. domain: keys, registry (+ its event stream), fleetiq, fleet — each loads its records from
 *      the store (memory is the read path); FleetIQ game servers are mirrored into the registry
 *   4. admin key: from the environment, or stored, or created now (+ credentials file)
 *   5. cron: one 100 ms timer; sections run at their own period with a per-tick budget
 *   6. HTTP: listen; from here requests are served
 *
 * Options are checked whole (ranges, formats, pairs, files start-up reads) before anything
 * starts; every start-up failure exits 1 with one line on stderr.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting, let requests in progress finish (their writes are
 * committed and answered), close the store (the writer lane drains every queued transaction),
 * free the domain. A second signal, or shutdown-timeout-ms, closes what is left. Sockets whose
 * clients should come back (Server SDK processes, event subscribers) are closed with 1012
 * "service restart", which the SDKs treat as abnormal: they reconnect to the next hangard.
 *
 * A failed commit (a full disk, an I/O error) fences the store (store.h): memory may hold
 * changes the disk refused, so nothing more may be shown or acknowledged from it. The daemon
 * answers what is in flight with errors, stops serving as on SIGTERM, and serves again from
 * the store — the same start-up as a new process, in this one (hg_daemon_main's loop), after a
 * pause that doubles while failures repeat. Clients see 5xx answers, then a short refusal to
 * connect; SDK processes and subscribers reconnect as after any restart.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/examples.h"
#include "api/gamelift/gamelift.h"
#include "api/gamelift/validate.h"
#include "api/native/events.h"
#include "api/sdk/sdk.h"
#include "auth/keys.h"
#include "auth/ptoken.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "daemon/config.h"
#include "fleet/fleet.h"
#include "fleet/session.h"
#include "fleetiq/fleetiq.h"
#include "http/http.h"
#include "logs/logs.h"
#include "match/flexmatch.h"
#include "net/probe.h"
#include "net/webhook.h"
#include "placement/placement.h"
#include "players/players.h"
#include "rank/board.h"
#include "registry/registry.h"
#include "rooms/rooms.h"
#include "rt/clock.h"
#include "rt/watchdog.h"
#include "store/store.h"
#include "wallet/wallet.h"

#define HANGAR_VERSION "0.1.0"
#define CRON_TICK_MS 100
#define FLEETIQ_SWEEP_MS 1000
#define FLEETIQ_SWEEP_BUDGET 1000
#define REGISTRY_TICK_MS 200 /* lease expiry and health-check scheduling */
#define REGISTRY_TICK_BUDGET 1000
#define FLEET_TICK_MS 100 /* process, game session and player session deadlines */
#define FLEET_TICK_BUDGET 2000
#define LB_TICK_BUDGET 5000       /* leaderboard resets, expired keys, old-period deletes */
#define LOGS_TICK_BUDGET 5000     /* expired events deleted a tick */
#define WALLET_TICK_BUDGET 5000   /* purchases and receipts of this run forgotten a tick */
#define PLACEMENT_RUN_BUDGET 2000 /* placements attempted per loop turn after capacity appeared */
#define PROBE_TIMEOUT_MS 3000
#define WATCHDOG_MS 100           /* a loop iteration busier than this is logged */
#define RESTART_PAUSE_MS 250      /* before serving again after a store failure; doubles */
#define RESTART_PAUSE_MAX_MS 8000 /* while failures repeat, up to this */
#define RESTART_CALM_MS 60000     /* a run this long resets the pause */
#define SERVE_RESTART 3           /* serve(): the store failed, serve again */
#define SERVE_STANDBY 4           /* serve(): another node holds the store's lease */

typedef struct daemon {
    hg_config_t cfg;
    uv_loop_t loop;
    hg_clock_t clock;
    hg_store_t *store;
    hg_keys_t *keys;
    hg_fleetiq_t *fleetiq;
    hg_fleet_t *fleet;
    hg_registry_t *registry;
    hg_events_t *events;
    hg_sdk_t *sdk;
    hg_placement_t *placement;
    hg_flexmatch_t *flexmatch;
    int after_failure;           /* this serve() follows a store failure (serve_until_stopped) */
    int standby, standby_logged; /* another node holds the lease (said once per standby) */
    hg_players_t *players;
    hg_ptokens_t *ptokens;
    hg_lbs_t *leaderboards;
    hg_logs_t *logs;
    hg_wallets_t *wallet;
    hg_rooms_t *rooms;
    hg_scripts_t *scripts;
    hg_examples_t *examples;        /* the example pages (examples-dir), or NULL */
    hg_ratelimit_t open_auth_limit; /* unsigned /v1/auth calls per source address */
    hg_webhook_t *webhook;          /* placement notifications */
    uv_timer_t placement_wake;      /* runs hg_pl_run on the next loop turn after a kick */
    uv_idle_t match_more;           /* a matchmaker batch out of time goes on next loop turn */
    hg_http_server_t *http;
    hg_api_t api;
    uv_timer_t cron;
    uv_signal_t sigint, sigterm;
    uv_timer_t shutdown_timer;
    hg_watchdog_t watchdog;
    uint64_t last_fleetiq_sweep;
    uint64_t last_registry_tick;
    uint64_t last_fleet_tick;
    uint64_t last_match_batch;
    int stopping;
    int http_stopped;
    int subsystems_stopped;
    int restart;   /* the store failed: serve again from what it holds */
    int listen_fd; /* in: a listening socket to serve on (the interim loop's), -1: bind; out: the
                      socket the next loop takes (unused, or kept on a store failure), or -1 */
} daemon_t;

/* Run `body` when at least `ms` passed since `last` (Redis run_with_period). */
#define HG_EVERY_MS(now, last, ms) if ((now) - (last) >= (ms) && (((last) = (now)), 1))

static void on_match_more(uv_idle_t *h)
{
    daemon_t *d = h->data;
    if (!d->stopping)
        hg_fm_batch(d->flexmatch);
    if (d->stopping || !hg_fm_more(d->flexmatch))
        uv_idle_stop(h);
}

/* A matchmaker batch; one that runs out of its time budget goes on at the next loop turn, after
 * the I/O that waited (an idle handle: the poll does not block while it is active), so the
 * matcher takes the loop's spare time and a request waits at most one budget. (A zero timer
 * restarted from its own callback would run again before the poll: libuv runs every due
 * timer in one pass.) */
static void match_batch(daemon_t *d)
{
    hg_fm_batch(d->flexmatch);
    if (hg_fm_more(d->flexmatch) && !d->stopping)
        uv_idle_start(&d->match_more, on_match_more);
}

static void on_cron(uv_timer_t *t)
{
    daemon_t *d = t->data;
    uint64_t now = uv_now(&d->loop);
    HG_EVERY_MS(now, d->last_fleetiq_sweep, FLEETIQ_SWEEP_MS)
    {
        hg_fleetiq_sweep(d->fleetiq, FLEETIQ_SWEEP_BUDGET);
    }
    HG_EVERY_MS(now, d->last_registry_tick, REGISTRY_TICK_MS)
    {
        hg_registry_tick(d->registry, REGISTRY_TICK_BUDGET);
    }
    /* batches start every matchmaker-batch-ms on the clock (not that long after the previous
     * one ended, nor after the cron tick that ran it late): a ticket waits at most one
     * interval for the batch that takes it */
    uint64_t every = (uint64_t)d->cfg.matchmaker_batch_ms;
    if (now - d->last_match_batch >= every) {
        d->last_match_batch =
            now - d->last_match_batch < 2 * every ? d->last_match_batch + every : now;
        if (!hg_fm_more(d->flexmatch)) /* else the idle handle carries the last one on */
            match_batch(d);
    }
    HG_EVERY_MS(now, d->last_fleet_tick, FLEET_TICK_MS)
    {
        hg_fleet_tick(d->fleet, FLEET_TICK_BUDGET);
        hg_pl_tick(d->placement, FLEET_TICK_BUDGET);
        hg_fm_tick(d->flexmatch, FLEET_TICK_BUDGET);
        hg_sdk_tick(d->sdk, FLEET_TICK_BUDGET);
        hg_lbs_tick(d->leaderboards, LB_TICK_BUDGET);
        hg_logs_tick(d->logs, LOGS_TICK_BUDGET);
        hg_wallets_tick(d->wallet, WALLET_TICK_BUDGET);
        hg_rooms_tick(d->rooms);
    }
}

static void close_handle(void *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    close_handle(h);
}

/* Stop every subsystem's own activity and close the daemon's handles: once, whether serving
 * ended normally or start-up failed half-way (each subsystem closes its own handles, so the
 * final uv_walk finds only what nobody owns). */
static void stop_subsystems(daemon_t *d)
{
    if (d->subsystems_stopped)
        return;
    d->subsystems_stopped = 1;
    uv_timer_stop(&d->shutdown_timer);
    close_handle(&d->shutdown_timer);
    close_handle(&d->cron);
    close_handle(&d->placement_wake);
    close_handle(&d->match_more);
    close_handle(&d->sigint);
    close_handle(&d->sigterm);
    hg_watchdog_stop(&d->watchdog);
    if (d->events)
        hg_events_stop(d->events);
    if (d->sdk)
        hg_sdk_stop(d->sdk);
    if (d->webhook)
        hg_webhook_stop(d->webhook);
    hg_metrics_unregister("placement");
    hg_metrics_unregister("flexmatch");
    hg_metrics_unregister("cluster");
    hg_probe_cancel_all();
}

static void on_http_stopped(void *ud)
{
    daemon_t *d = ud;
    d->http_stopped = 1;
    stop_subsystems(d);
    /* The store writer lane's async handle keeps the loop alive: leave the loop here and let
     * serve() drain and close the store. */
    uv_stop(&d->loop);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    daemon_t *d = t->data;
    HG_LOG(HG_LOG_WARN, "daemon", "shutdown timeout: closing connections still open");
    uv_stop(&d->loop);
}

static void begin_shutdown(daemon_t *d, const char *why)
{
    if (d->stopping) {
        HG_LOG(HG_LOG_WARN, "daemon", "second signal: stopping now");
        uv_stop(&d->loop);
        return;
    }
    d->stopping = 1;
    d->api.shutting_down = 1;
    HG_LOG(HG_LOG_INFO, "daemon", "shutting down (%s): finishing requests in progress", why);
    uv_timer_start(&d->shutdown_timer, on_shutdown_timeout, (uint64_t)d->cfg.shutdown_timeout_ms,
                   0);
    hg_http_server_stop(d->http, on_http_stopped, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    if (d->stopping && d->restart) { /* stopping to serve again: stop for good instead */
        d->restart = 0;
        HG_LOG(HG_LOG_INFO, "daemon", "%s: stopping instead of serving again",
               signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    begin_shutdown(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* The store fenced itself after a failed commit (see the top of this file). */
static void on_store_failure(void *ud, int rc)
{
    daemon_t *d = ud;
    HG_LOG(HG_LOG_ERROR, "daemon",
           "a commit failed (%s): refusing writes and reads, then serving again from the store",
           hg_strerror(rc));
    if (d->stopping)
        return; /* stopping anyway; the next start loads what is durable */
    d->restart = 1;
    /* the port stays open through the pause: the 503 loop takes it, then the next serve */
    if (d->listen_fd < 0)
        d->listen_fd = hg_http_server_dup_listener(d->http);
    begin_shutdown(d, "store failure");
}

static int write_credentials(const daemon_t *d, const hg_key_t *admin, const char *endpoint)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/credentials", d->cfg.data);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "# hangar administrator key, written by hangard on first start.\n"
            "# Use: AWS_SHARED_CREDENTIALS_FILE=%s aws --profile hangar ...\n"
            "[hangar]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n"
            "endpoint_url = %s\n",
            path, admin->id, admin->secret, d->cfg.region, endpoint);
    int rc = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -errno;
    fclose(f);
    return rc;
}

/* Leaderboard entries show their player's display name. */
static const char *player_name(void *ud, const char *player_id)
{
    const hg_player_t *p = hg_player_find(((daemon_t *)ud)->players, player_id);
    return p ? p->display_name : NULL;
}

/* FleetIQ game servers are entries of the one registry (kind "game"). */
static void on_fleetiq_change(void *ud, hg_store_txn_t *txn, hg_fq_event_t ev,
                              const hg_fq_server_t *s)
{
    daemon_t *d = ud;
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", s->group->name, s->id);
    if (ev == HG_FQ_EV_DEREGISTERED) {
        hg_registry_remove_external(d->registry, HG_REG_SRC_FLEETIQ, key, txn);
        return;
    }
    /* ConnectionInfo "host:port" gives the address; anything else is kept whole. */
    char addr[HG_REG_ADDRESS_MAX + 1];
    int port = 0;
    const char *ci = s->conn_info ? s->conn_info : s->instance_id;
    snprintf(addr, sizeof(addr), "%s", ci);
    char *colon = strrchr(addr, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
        strlen(colon + 1) <= 5 && atoi(colon + 1) <= 65535) {
        port = atoi(colon + 1);
        *colon = '\0';
    }
    json_t *md =
        json_pack("{s:s,s:s,s:s,s:b}", "game_server_group", s->group->name, "game_server_id", s->id,
                  "instance_id", s->instance_id, "claimed", hg_fq_server_claimed(d->fleetiq, s));
    hg_reg_announce_t a = {
        .kind = "game",
        .name = s->id,
        .address = addr,
        .port = port,
        .status = s->utilized ? "utilized" : "available",
        .load = s->utilized ? 1 : 0,
        .capacity = 1,
        .metadata = md,
    };
    hg_registry_upsert_external(d->registry, HG_REG_SRC_FLEETIQ, key, &a, txn);
    json_decref(md);
}

/* Server SDK processes are entries of the one registry too (kind "game", source sdk). */
static void on_process_change(void *ud, hg_store_txn_t *txn, const hg_fl_process_t *p, int gone)
{
    daemon_t *d = ud;
    if (gone) {
        hg_registry_remove_external(d->registry, HG_REG_SRC_SDK, p->key, txn);
        return;
    }
    const hg_fl_compute_t *c = p->compute;
    const char *status = p->state == HG_PR_TERMINATING ? "terminating"
                         : p->conn == NULL             ? "disconnected"
                         : p->gs                       ? "hosting"
                         : !p->healthy                 ? "unhealthy"
                                                       : "available";
    json_t *md = json_pack("{s:s,s:s,s:s,s:s}", "fleet_id", p->fleet->id, "compute", c->name,
                           "location", c->location, "pid", p->pid);
    if (p->gs)
        json_object_set_new(md, "game_session_id", json_string(p->gs->arn));
    hg_reg_announce_t a = {
        .kind = "game",
        .name = p->pid,
        .address = c->ip    ? c->ip
                   : c->dns ? c->dns
                            : "",
        .port = p->port,
        .status = status,
        .load = p->gs ? 1 : 0,
        .capacity = 1,
        .metadata = md,
    };
    hg_registry_upsert_external(d->registry, HG_REG_SRC_SDK, p->key, &a, txn);
    json_decref(md);
}

/* Computes are registry entries too (kind "compute"): the machines the fleet's game servers run
 * on, with the number of server processes as their load. */
static void on_compute_change(void *ud, hg_store_txn_t *txn, const hg_fl_compute_t *c, int gone)
{
    daemon_t *d = ud;
    char key[400];
    snprintf(key, sizeof(key), "compute:%s/%s", c->fleet->id, c->name);
    if (gone) {
        hg_registry_remove_external(d->registry, HG_REG_SRC_SDK, key, txn);
        return;
    }
    json_t *md = json_pack("{s:s,s:s,s:s}", "fleet_id", c->fleet->id, "location", c->location,
                           "compute_arn", c->arn);
    hg_reg_announce_t a = {
        .kind = "compute",
        .name = c->name,
        .address = c->ip    ? c->ip
                   : c->dns ? c->dns
                            : "",
        .status = "active",
        .load = (int64_t)c->nprocesses,
        .capacity = HG_FL_MAX_PROCESSES_PER_COMPUTE,
        .metadata = md,
    };
    hg_registry_upsert_external(d->registry, HG_REG_SRC_SDK, key, &a, txn);
    json_decref(md);
}

static void on_fleet_start_session(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs)
{
    hg_sdk_push_start(((daemon_t *)ud)->sdk, p, gs);
}

static void on_fleet_terminate(void *ud, hg_fl_process_t *p, int64_t termination_ms)
{
    hg_sdk_push_terminate(((daemon_t *)ud)->sdk, p, termination_ms);
}

static void on_fleet_drop(void *ud, hg_fl_process_t *p)
{
    hg_sdk_drop(((daemon_t *)ud)->sdk, p);
}

static void on_fleet_update_session(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs,
                                    const char *reason, const char *ticket)
{
    hg_sdk_push_update(((daemon_t *)ud)->sdk, p, gs, reason, ticket);
}

/* Placement follows its game sessions and waits for idle processes; FlexMatch then backfills
 * the session (automatic backfill) or drops the backfill of an ended one. */
static void on_fleet_session(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    daemon_t *d = ud;
    hg_pl_on_session(d->placement, txn, gs);
    if (d->flexmatch)
        hg_fm_on_session(d->flexmatch, txn, gs);
}

static void on_fleet_slot_freed(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs)
{
    daemon_t *d = ud;
    if (d->flexmatch)
        hg_fm_on_slot_freed(d->flexmatch, txn, gs);
}

static void on_fleet_idle(void *ud, hg_fl_fleet_t *f, const char *location)
{
    (void)f;
    (void)location;
    hg_pl_kick(((daemon_t *)ud)->placement);
}

static void on_placement_wake_timer(uv_timer_t *t)
{
    daemon_t *d = t->data;
    if (!d->stopping)
        hg_pl_run(d->placement, PLACEMENT_RUN_BUDGET);
}

static void on_placement_wake(void *ud)
{
    daemon_t *d = ud;
    if (!d->stopping)
        uv_timer_start(&d->placement_wake, on_placement_wake_timer, 0, 0);
}

/* /metrics: placements, and which rank of the ordering won (the first choice, or a fallback). */
static void render_placement_metrics(hg_buf_t *out, void *ud)
{
    hg_pl_stats_t st;
    hg_placement_stats(((daemon_t *)ud)->placement, &st);
    hg_buf_printf(out,
                  "# HELP hangar_placement_queues Game session queues.\n"
                  "# TYPE hangar_placement_queues gauge\nhangar_placement_queues %zu\n"
                  "# HELP hangar_placements_pending PENDING placements.\n"
                  "# TYPE hangar_placements_pending gauge\nhangar_placements_pending %zu\n"
                  "# HELP hangar_placements_started_total Placements started.\n"
                  "# TYPE hangar_placements_started_total counter\n"
                  "hangar_placements_started_total %llu\n"
                  "# HELP hangar_placements_ended_total Placements ended, by status.\n"
                  "# TYPE hangar_placements_ended_total counter\n"
                  "hangar_placements_ended_total{status=\"FULFILLED\"} %llu\n"
                  "hangar_placements_ended_total{status=\"TIMED_OUT\"} %llu\n"
                  "hangar_placements_ended_total{status=\"CANCELLED\"} %llu\n"
                  "hangar_placements_ended_total{status=\"FAILED\"} %llu\n"
                  "# HELP hangar_placement_attempts_total Placement attempts (orderings "
                  "computed).\n# TYPE hangar_placement_attempts_total counter\n"
                  "hangar_placement_attempts_total %llu\n"
                  "# HELP hangar_placement_choice_total Game sessions placed, by the rank of the "
                  "chosen destination in the queue's ordering (0: the first choice).\n"
                  "# TYPE hangar_placement_choice_total counter\n"
                  "hangar_placement_choice_total{rank=\"0\"} %llu\n"
                  "hangar_placement_choice_total{rank=\"1\"} %llu\n"
                  "hangar_placement_choice_total{rank=\"2\"} %llu\n"
                  "hangar_placement_choice_total{rank=\"3+\"} %llu\n",
                  st.queues, st.pending, (unsigned long long)st.started,
                  (unsigned long long)st.fulfilled, (unsigned long long)st.timed_out,
                  (unsigned long long)st.cancelled, (unsigned long long)st.failed,
                  (unsigned long long)st.attempts, (unsigned long long)st.rank[0],
                  (unsigned long long)st.rank[1], (unsigned long long)st.rank[2],
                  (unsigned long long)st.rank[3]);
}

typedef struct notify_ctx {
    daemon_t *d;
    char *url;
    hg_buf_t body;
} notify_ctx_t;

/* The event goes out only once the placement's end is durable. */
static void on_notify_committed(void *ud, int rc)
{
    notify_ctx_t *n = ud;
    hg_error_t err;
    if (rc == 0 && !n->d->stopping &&
        hg_webhook_post(n->d->webhook, n->url, n->body.data, n->body.len, &err) < 0)
        HG_LOG(HG_LOG_WARN, "placement", "notification not sent: %s", err.msg);
    hg_free(n->url);
    hg_buf_free(&n->body);
    hg_free(n);
}

/* Placement events on the registry event stream (kind "placement"), and to the queue's
 * http(s) NotificationTarget as GameLift's EventBridge event. */
static void on_placement_ended(void *ud, hg_store_txn_t *txn, const hg_pl_placement_t *p)
{
    daemon_t *d = ud;
    static const char *const types[] = {"placement.pending", "placement.fulfilled",
                                        "placement.cancelled", "placement.timed_out",
                                        "placement.failed"};
    hg_pl_queue_t *q = hg_pl_queue_find(d->placement, p->queue_name);
    const char *custom = q ? json_string_value(json_object_get(q->cfg, "CustomEventData")) : NULL;
    hg_buf_t b;
    hg_buf_init(&b);
    hg_gl_placement_event(&b, p, custom, 0);
    hg_events_publish(d->events, txn, types[p->status <= HG_PL_FAILED ? p->status : 4], "placement",
                      "placement", b.data, b.len);
    hg_buf_free(&b);
    const char *url = q ? json_string_value(json_object_get(q->cfg, "NotificationTarget")) : NULL;
    if (url && txn && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
        notify_ctx_t *n = hg_calloc(1, sizeof(*n));
        n->d = d;
        n->url = hg_strdup(url);
        hg_buf_init(&n->body);
        hg_gl_placement_notification(&n->body, p, q->arn, custom, d->cfg.region, d->cfg.account_id,
                                     hg_clock_now_ms(&d->clock));
        hg_store_txn_on_commit(txn, on_notify_committed, n);
    }
    if (d->flexmatch) /* a match being placed follows its placement, in the same transaction */
        hg_fm_on_placement(d->flexmatch, txn, p);
}

/* /metrics in cluster mode: the lease and PostgreSQL's commit round trips. */
static void render_cluster_metrics(hg_buf_t *out, void *ud)
{
    (void)ud;
    hg_store_pg_stats_t st;
    hg_store_postgres_stats(&st);
    hg_buf_printf(
        out,
        "# HELP hangar_cluster_partitions_owned Partitions this node holds the lease of.\n"
        "# TYPE hangar_cluster_partitions_owned gauge\nhangar_cluster_partitions_owned %llu\n"
        "# HELP hangar_cluster_lease_epoch The fencing token (epoch) of the control partition's "
        "lease, held with the rest.\n"
        "# TYPE hangar_cluster_lease_epoch gauge\nhangar_cluster_lease_epoch %llu\n"
        "# HELP hangar_cluster_lease_renewals_total Lease renewals.\n"
        "# TYPE hangar_cluster_lease_renewals_total counter\n"
        "hangar_cluster_lease_renewals_total %llu\n"
        "# HELP hangar_cluster_leases_lost_total Leases found taken or not renewed in time.\n"
        "# TYPE hangar_cluster_leases_lost_total counter\nhangar_cluster_leases_lost_total %llu\n"
        "# HELP hangar_store_pg_commit_seconds PostgreSQL commits (a batch in one round trip).\n"
        "# TYPE hangar_store_pg_commit_seconds summary\n"
        "hangar_store_pg_commit_seconds_sum %.6f\nhangar_store_pg_commit_seconds_count %llu\n"
        "# HELP hangar_store_pg_commit_seconds_max The longest commit.\n"
        "# TYPE hangar_store_pg_commit_seconds_max gauge\nhangar_store_pg_commit_seconds_max "
        "%.6f\n",
        (unsigned long long)st.owned, (unsigned long long)st.epoch, (unsigned long long)st.renewals,
        (unsigned long long)st.lost, (double)st.commit_ns_total / 1e9,
        (unsigned long long)st.commits, (double)st.commit_ns_max / 1e9);
}

/* FlexMatch events on the registry event stream (kind "matchmaking"; type
 * "matchmaking.<event>"), and to the configuration's http(s) NotificationTarget as GameLift's
 * EventBridge event (detail-type "GameLift Matchmaking Event"). */
static void on_fm_event(void *ud, hg_store_txn_t *txn, const hg_fm_config_t *c, const char *type,
                        const char *detail, size_t len)
{
    daemon_t *d = ud;
    static const char *const types[][2] = {
        {"MatchmakingSearching", "matchmaking.searching"},
        {"PotentialMatchCreated", "matchmaking.potential_match_created"},
        {"AcceptMatch", "matchmaking.accept_match"},
        {"AcceptMatchCompleted", "matchmaking.accept_match_completed"},
        {"MatchmakingSucceeded", "matchmaking.succeeded"},
        {"MatchmakingTimedOut", "matchmaking.timed_out"},
        {"MatchmakingCancelled", "matchmaking.cancelled"},
        {"MatchmakingFailed", "matchmaking.failed"},
    };
    const char *st = "matchmaking.failed";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i][0], type) == 0)
            st = types[i][1];
    hg_events_publish(d->events, txn, st, "matchmaking", "matchmaking", detail, len);
    const char *url = json_string_value(json_object_get(c->cfg, "NotificationTarget"));
    if (url && txn && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
        notify_ctx_t *n = hg_calloc(1, sizeof(*n));
        n->d = d;
        n->url = hg_strdup(url);
        hg_buf_init(&n->body);
        hg_gl_matchmaking_notification(&n->body, detail, len, c->arn, d->cfg.region,
                                       d->cfg.account_id, hg_clock_now_ms(&d->clock));
        hg_store_txn_on_commit(txn, on_notify_committed, n);
    }
}

/* /metrics: the matchmaker (pool, batches, matches, time to match) and tickets by outcome. */
static void render_fm_metrics(hg_buf_t *out, void *ud)
{
    hg_fm_stats_t st;
    hg_flexmatch_stats(((daemon_t *)ud)->flexmatch, &st);
    hg_buf_printf(
        out,
        "# HELP hangar_matchmaking_configurations Matchmaking configurations.\n"
        "# TYPE hangar_matchmaking_configurations gauge\nhangar_matchmaking_configurations %zu\n"
        "# HELP hangar_matchmaking_tickets_active Tickets not yet ended.\n"
        "# TYPE hangar_matchmaking_tickets_active gauge\nhangar_matchmaking_tickets_active %zu\n"
        "# HELP hangar_matchmaking_pool_size Tickets QUEUED or SEARCHING.\n"
        "# TYPE hangar_matchmaking_pool_size gauge\nhangar_matchmaking_pool_size %zu\n"
        "# HELP hangar_matchmaking_last_batch_pool Tickets the last batch handed to the matcher.\n"
        "# TYPE hangar_matchmaking_last_batch_pool gauge\nhangar_matchmaking_last_batch_pool %zu\n"
        "# HELP hangar_matchmaking_batches_total Matchmaker batches run.\n"
        "# TYPE hangar_matchmaking_batches_total counter\nhangar_matchmaking_batches_total %llu\n"
        "# HELP hangar_matchmaking_batch_seconds Time spent in batches.\n"
        "# TYPE hangar_matchmaking_batch_seconds summary\n"
        "hangar_matchmaking_batch_seconds_sum %.6f\nhangar_matchmaking_batch_seconds_count %llu\n"
        "# HELP hangar_matchmaking_batch_seconds_max The longest batch.\n"
        "# TYPE hangar_matchmaking_batch_seconds_max gauge\n"
        "hangar_matchmaking_batch_seconds_max %.6f\n"
        "# HELP hangar_matchmaking_matches_total Matches proposed.\n"
        "# TYPE hangar_matchmaking_matches_total counter\nhangar_matchmaking_matches_total %llu\n"
        "# HELP hangar_matchmaking_tickets_total Tickets started and ended, by status.\n"
        "# TYPE hangar_matchmaking_tickets_total counter\n"
        "hangar_matchmaking_tickets_total{status=\"STARTED\"} %llu\n"
        "hangar_matchmaking_tickets_total{status=\"COMPLETED\"} %llu\n"
        "hangar_matchmaking_tickets_total{status=\"FAILED\"} %llu\n"
        "hangar_matchmaking_tickets_total{status=\"CANCELLED\"} %llu\n"
        "hangar_matchmaking_tickets_total{status=\"TIMED_OUT\"} %llu\n",
        st.configs, st.active, st.searching, st.pool, (unsigned long long)st.batches,
        (double)st.batch_ns_total / 1e9, (unsigned long long)st.batches,
        (double)st.batch_ns_max / 1e9, (unsigned long long)st.matches,
        (unsigned long long)st.started, (unsigned long long)st.completed,
        (unsigned long long)st.failed, (unsigned long long)st.cancelled,
        (unsigned long long)st.timed_out);
    hg_buf_printf(out,
                  "# HELP hangar_matchmaking_backfills_total Backfill tickets (StartMatchBackfill "
                  "and automatic backfill), started and completed.\n"
                  "# TYPE hangar_matchmaking_backfills_total counter\n"
                  "hangar_matchmaking_backfills_total{status=\"STARTED\"} %llu\n"
                  "hangar_matchmaking_backfills_total{status=\"COMPLETED\"} %llu\n",
                  (unsigned long long)st.backfills_started,
                  (unsigned long long)st.backfills_completed);
    hg_buf_puts(out, "# HELP hangar_matchmaking_time_to_match_seconds Ticket start to its match.\n"
                     "# TYPE hangar_matchmaking_time_to_match_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < HG_FM_WAIT_BUCKETS; b++) {
        cum += st.wait_buckets[b];
        hg_buf_printf(out, "hangar_matchmaking_time_to_match_seconds_bucket{le=\"%g\"} %llu\n",
                      (double)hg_fm_wait_bounds_ms[b] / 1e3, (unsigned long long)cum);
    }
    hg_buf_printf(out,
                  "hangar_matchmaking_time_to_match_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "hangar_matchmaking_time_to_match_seconds_sum %.3f\n"
                  "hangar_matchmaking_time_to_match_seconds_count %llu\n",
                  (unsigned long long)st.matched_tickets, (double)st.wait_ms_total / 1e3,
                  (unsigned long long)st.matched_tickets);
}

typedef struct probe_ctx {
    daemon_t *d;
    char id[24];
    uint64_t probe_id;
} probe_ctx_t;

static void on_probe_done(void *ud, int ok)
{
    probe_ctx_t *p = ud;
    if (!p->d->stopping)
        hg_registry_probe_result(p->d->registry, p->id, p->probe_id, ok);
    hg_free(p);
}

static void on_probe_request(void *ud, const hg_reg_server_t *s, uint64_t probe_id)
{
    daemon_t *d = ud;
    probe_ctx_t *p = hg_calloc(1, sizeof(*p));
    p->d = d;
    snprintf(p->id, sizeof(p->id), "%s", s->id);
    p->probe_id = probe_id;
    uint32_t timeout =
        s->check_interval_ms < PROBE_TIMEOUT_MS ? (uint32_t)s->check_interval_ms : PROBE_TIMEOUT_MS;
    if (hg_probe_start(&d->loop, s->address, s->port,
                       s->check == HG_REG_CHECK_HTTP ? s->check_path : NULL, timeout, on_probe_done,
                       p) < 0) {
        hg_registry_probe_result(d->registry, p->id, probe_id, 0);
        hg_free(p);
    }
}

static int serve(daemon_t *d)
{
    int rc = HG_OK;
    hg_error_t err;
    hg_error_clear(&err);
    char host[256];
    int port;
    char endpoint[300];

    /* checked by hg_config_check() before serve() runs */
    HG_BUG_ON(hg_config_parse_listen(d->cfg.listen, host, sizeof(host), &port) < 0);
    hg_log_level = hg_log_parse_level(d->cfg.log_level);
    size_t bad;
    if (hg_gl_validate_warm(&bad) < 0) {
        fprintf(stderr, "hangard: a pattern of the GameLift model does not compile (#%zu)\n", bad);
        return 1;
    }
    uv_loop_init(&d->loop);
    hg_clock_init_real(&d->clock);
    hg_watchdog_start(&d->watchdog, &d->loop, WATCHDOG_MS);
    /* the daemon's own handles exist from here, so every exit closes them the same way */
    uv_timer_init(&d->loop, &d->cron);
    d->cron.data = d;
    uv_timer_init(&d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
    uv_timer_init(&d->loop, &d->placement_wake);
    d->placement_wake.data = d;
    uv_idle_init(&d->loop, &d->match_more);
    d->match_more.data = d;
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;

    int pg = strncmp(d->cfg.store, "postgres://", 11) == 0 ||
             strncmp(d->cfg.store, "postgresql://", 13) == 0;
    if (d->cfg.store[0] && !pg) {
        rc = hg_error_set(&err, HG_EINVAL, "store must be empty or a postgres:// URI, not %s",
                          d->cfg.store);
        goto fail;
    }
    if (pg) {
        char node[160];
        if (d->cfg.node_id[0]) {
            snprintf(node, sizeof(node), "%s", d->cfg.node_id);
        } else {
            char host[64] = "localhost";
            gethostname(host, sizeof(host) - 1);
            const char *port = strrchr(d->cfg.listen, ':');
            snprintf(node, sizeof(node), "%.63s:%.32s", host, port ? port + 1 : d->cfg.listen);
        }
        char addr[200];
        if (d->cfg.advertise[0]) {
            snprintf(addr, sizeof(addr), "%s", d->cfg.advertise);
        } else if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            char me[64] = "localhost";
            gethostname(me, sizeof(me) - 1);
            snprintf(addr, sizeof(addr), "%.63s:%d", me, port);
        } else {
            snprintf(addr, sizeof(addr), "%.150s", d->cfg.listen);
        }
        hg_store_postgres_configure(node, addr, d->cfg.lease_ms);
    }
    if ((rc = hg_store_open(&d->loop, pg ? &hg_store_postgres : &hg_store_sqlite,
                            pg ? d->cfg.store : d->cfg.data, (size_t)d->cfg.store_batch_max,
                            &d->store, &err)) < 0) {
        if (pg && rc == HG_ENOTREADY) { /* another node holds the lease: stand by */
            if (!d->standby_logged)
                HG_LOG(HG_LOG_INFO, "daemon", "standby: %s", hg_error_message(&err));
            d->standby = 1;
            rc = 0;
            goto out_restart;
        }
        if (pg && d->after_failure) { /* PostgreSQL restarting: wait for it, as for the failure */
            HG_LOG(HG_LOG_WARN, "daemon", "the store cannot be opened yet: %s",
                   hg_error_message(&err));
            d->restart = 1;
            rc = 0;
            goto out_restart;
        }
        goto fail;
    }
    HG_LOG(HG_LOG_INFO, "daemon", "store=%s", pg ? "postgres" : "sqlite");
    if (pg)
        hg_metrics_register("cluster", render_cluster_metrics, d);
    hg_store_set_failure_cb(d->store, on_store_failure, d);
    d->keys = hg_keys_new(d->store, &d->clock);
    if ((rc = hg_keys_load(d->keys)) < 0) {
        hg_error_set(&err, rc, "cannot load access keys");
        goto fail;
    }
    d->players = hg_players_new(d->store, &d->clock, d->cfg.refresh_token_ttl_s * 1000);
    d->ptokens = hg_ptokens_new(d->store, &d->clock, d->cfg.player_token_ttl_s * 1000);
    hg_ratelimit_init(&d->open_auth_limit, (uint32_t)d->cfg.auth_open_per_minute, 60000, 100000);
    d->leaderboards = hg_lbs_new(d->store, &d->clock);
    hg_lbs_set_names(d->leaderboards, player_name, d);
    d->logs = hg_logs_new(&d->loop, d->store, &d->clock);
    d->wallet = hg_wallets_new(d->store, &d->clock, d->logs);
    hg_rooms_config_t roomc = {
        .max_rooms = (size_t)d->cfg.rooms_max,
        .max_message = (size_t)d->cfg.room_max_message,
        .rate_per_s = (uint32_t)d->cfg.room_rate_per_s,
        .send_queue_bytes = (size_t)d->cfg.room_send_queue_bytes,
        .reconnect_grace_ms = d->cfg.room_reconnect_grace_s * 1000,
        .empty_close_ms = d->cfg.room_empty_close_s * 1000,
    };
    d->scripts = hg_scripts_new(d->store, &d->clock);
    d->rooms = hg_rooms_new(&d->loop, d->store, &d->clock, d->scripts, &roomc);
    hg_rooms_set_service(d->rooms, hg_api_room_service, &d->api);
    if ((rc = hg_players_load(d->players, &err)) < 0 ||
        (rc = hg_ptokens_load(d->ptokens, &err)) < 0 ||
        (rc = hg_lbs_load(d->leaderboards, &err)) < 0 ||
        (rc = hg_logs_start(d->logs, d->cfg.event_retention, &err)) < 0 ||
        (rc = hg_wallets_load(d->wallet, &err)) < 0 ||
        (rc = hg_scripts_load(d->scripts, &err)) < 0 || (rc = hg_rooms_load(d->rooms, &err)) < 0)
        goto fail;
    hg_fq_config_t fqc = {
        .health_window_ms = d->cfg.fleetiq_health_window_s * 1000,
        .deregister_after_ms = d->cfg.fleetiq_deregister_after_s * 1000,
    };
    snprintf(fqc.region, sizeof(fqc.region), "%s", d->cfg.region);
    snprintf(fqc.account, sizeof(fqc.account), "%s", d->cfg.account_id);
    d->registry = hg_registry_new(&d->clock, d->store);
    d->events = hg_events_new(&d->loop, &d->clock, d->store, d->registry, 0);
    hg_registry_set_observer(d->registry, hg_events_observe, d->events);
    hg_registry_set_prober(d->registry, on_probe_request, d);
    if ((rc = hg_events_load(d->events)) < 0 || (rc = hg_registry_load(d->registry)) < 0) {
        hg_error_set(&err, rc, "cannot load the registry");
        goto fail;
    }
    d->fleetiq = hg_fleetiq_new(&d->clock, d->store, &fqc);
    hg_fleetiq_set_observer(d->fleetiq, on_fleetiq_change, d);
    if ((rc = hg_fleetiq_load(d->fleetiq)) < 0) {
        hg_error_set(&err, rc, "cannot load FleetIQ state");
        goto fail;
    }
    hg_fl_config_t flc = {.token_ttl_ms = d->cfg.compute_auth_token_ttl_s * 1000};
    snprintf(flc.region, sizeof(flc.region), "%s", d->cfg.region);
    snprintf(flc.account, sizeof(flc.account), "%s", d->cfg.account_id);
    d->fleet = hg_fleet_new(&d->clock, d->store, &flc);
    d->sdk = hg_sdk_new(&d->api);
    hg_fl_timeouts_t to = {
        .ready_ms = d->cfg.sdk_process_ready_timeout_s * 1000,
        .heartbeat_ms = d->cfg.sdk_heartbeat_timeout_s * 1000,
        .unhealthy_reports = (int)d->cfg.sdk_unhealthy_reports,
        .grace_ms = d->cfg.sdk_reconnect_grace_s * 1000,
        .activation_ms = d->cfg.game_session_activation_timeout_s * 1000,
        .reservation_ms = d->cfg.player_session_reservation_s * 1000,
    };
    hg_fleet_set_timeouts(d->fleet, &to);
    hg_fl_sink_t sink = {
        .start_session = on_fleet_start_session,
        .terminate = on_fleet_terminate,
        .drop = on_fleet_drop,
        .changed = on_process_change,
        .idle = on_fleet_idle,
        .session = on_fleet_session,
        .update_session = on_fleet_update_session,
        .slot_freed = on_fleet_slot_freed,
        .compute = on_compute_change,
        .ud = d,
    };
    hg_fleet_set_sink(d->fleet, &sink);
    if ((rc = hg_webhook_new(&d->loop, NULL, &d->webhook, &err)) < 0)
        goto fail;
    d->placement =
        hg_placement_new(&d->clock, d->store, d->fleet, d->cfg.region, d->cfg.account_id);
    hg_pl_sink_t psink = {.ended = on_placement_ended, .wake = on_placement_wake, .ud = d};
    hg_placement_set_sink(d->placement, &psink);
    hg_metrics_register("placement", render_placement_metrics, d);
    if ((rc = hg_fleet_load(d->fleet)) < 0) {
        hg_error_set(&err, rc, "cannot load fleets");
        goto fail;
    }
    if ((rc = hg_placement_load(d->placement)) < 0) {
        hg_error_set(&err, rc, "cannot load game session queues and placements");
        goto fail;
    }
    d->flexmatch = hg_flexmatch_new(&d->clock, d->store, d->placement, d->fleet, d->cfg.region,
                                    d->cfg.account_id);
    hg_fm_sink_t fmsink = {.event = on_fm_event, .ud = d};
    hg_flexmatch_set_sink(d->flexmatch, &fmsink);
    if ((rc = hg_flexmatch_load(d->flexmatch)) < 0) {
        hg_error_set(&err, rc, "cannot load FlexMatch rule sets, configurations and tickets");
        goto fail;
    }
    hg_metrics_register("flexmatch", render_fm_metrics, d);
    if (d->cfg.examples_dir[0] && /* reads the files (start-up only) */
        (rc = hg_examples_load(d->cfg.examples_dir, &d->examples, &err)) < 0)
        goto fail;
    const hg_key_t *admin;
    int created;
    if ((rc = hg_keys_bootstrap_admin(d->keys, d->cfg.admin_key_id, d->cfg.admin_secret, &admin,
                                      &created, &err)) < 0)
        goto fail;

    d->api = (hg_api_t){
        .loop = &d->loop,
        .clock = &d->clock,
        .store = d->store,
        .keys = d->keys,
        .fleetiq = d->fleetiq,
        .fleet = d->fleet,
        .registry = d->registry,
        .events = d->events,
        .sdk = d->sdk,
        .placement = d->placement,
        .flexmatch = d->flexmatch,
        .players = d->players,
        .ptokens = d->ptokens,
        .leaderboards = d->leaderboards,
        .logs = d->logs,
        .wallet = d->wallet,
        .rooms = d->rooms,
        .scripts = d->scripts,
        .examples = d->examples,
        .open_auth_limit = &d->open_auth_limit,
        .auth_device = (int)d->cfg.auth_device,
        .allow_plain_bearer = (int)d->cfg.allow_plain_bearer,
        .sigv4_skew_s = d->cfg.sigv4_skew_s,
    };
    snprintf(d->api.sdk_endpoint, sizeof(d->api.sdk_endpoint), "%s", d->cfg.sdk_endpoint);
    snprintf(d->api.notification_hosts, sizeof(d->api.notification_hosts), "%s",
             d->cfg.notification_hosts);
    snprintf(d->api.region, sizeof(d->api.region), "%s", d->cfg.region);
    hg_gamelift_metrics_start();
    hg_http_limits_t lim = {
        .max_header_bytes = (size_t)d->cfg.http_max_header_bytes,
        .max_headers = (size_t)d->cfg.http_max_headers,
        .max_body = (size_t)d->cfg.http_max_body,
        .max_pipeline = (size_t)d->cfg.http_max_pipeline,
        .max_conns = (size_t)d->cfg.http_max_conns,
        .idle_timeout_ms = (uint32_t)d->cfg.http_idle_timeout_ms,
        .request_timeout_ms = (uint32_t)d->cfg.http_request_timeout_ms,
    };
    hg_http_server_new(&d->loop, &lim, hg_api_handle, &d->api, &d->http);
    if (pg) { /* a standby's relay names the client's address, signed (docs/cluster.md) */
        char secret[HG_STORE_PG_SECRET_MAX + 1];
        size_t len = hg_store_postgres_secret(secret);
        if (hg_http_server_set_proxy_key(d->http, secret, len) < 0) /* the open checked it */
            HG_LOG(HG_LOG_ERROR, "daemon", "no cluster secret: relayed clients are refused");
        OPENSSL_cleanse(secret, sizeof(secret));
    }
    if (d->cfg.tls_cert[0]) { /* TLS on the same port; reads the files (start-up only) */
        if ((rc = hg_http_server_set_tls(d->http, d->cfg.tls_cert, d->cfg.tls_key, &err)) < 0)
            goto fail;
        HG_LOG(HG_LOG_INFO, "daemon", "tls enabled cert=%s", d->cfg.tls_cert);
        d->api.tls = 1;
    }
    if (d->listen_fd >= 0) { /* the interim loop's socket: what waited in its backlog is served */
        rc = hg_http_server_listen_fd(d->http, d->listen_fd);
        d->listen_fd = -1;
    } else {
        rc = hg_http_server_listen(d->http, host, port);
    }
    if (rc < 0) {
        hg_error_set(&err, rc, "cannot listen on %s: %s", d->cfg.listen, uv_strerror(rc));
        goto fail;
    }
    snprintf(endpoint, sizeof(endpoint), "http://%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", hg_http_server_port(d->http));

    uv_timer_start(&d->cron, on_cron, CRON_TICK_MS, CRON_TICK_MS);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);

    if (created) {
        int wrc = write_credentials(d, admin, endpoint);
        printf("hangard %s listening on %s (data in %s)\n\n"
               "Administrator access key (created now, shown once; also in %s/credentials,\n"
               "profile [hangar]%s):\n"
               "  aws_access_key_id     = %s\n"
               "  aws_secret_access_key = %s\n\n"
               "Try:\n"
               "  AWS_SHARED_CREDENTIALS_FILE=%s/credentials AWS_PROFILE=hangar \\\n"
               "    aws gamelift list-game-server-groups --region %s --endpoint-url %s\n\n",
               HANGAR_VERSION, endpoint, d->cfg.data, d->cfg.data,
               wrc < 0 ? " — could not be written!" : "", admin->id, admin->secret, d->cfg.data,
               d->cfg.region, endpoint);
    } else {
        printf("hangard %s listening on %s (data in %s); administrator key %s%s\n", HANGAR_VERSION,
               endpoint, d->cfg.data, admin->id,
               admin->stored ? " (secret in the data directory's credentials file)"
                             : " (from the environment)");
    }
    fflush(stdout);
    HG_LOG(HG_LOG_INFO, "daemon", "serving endpoint=%s", endpoint);

    uv_run(&d->loop, UV_RUN_DEFAULT);
out_restart:
    rc = d->standby ? SERVE_STANDBY : d->restart ? SERVE_RESTART : 0;
    goto out;
fail:
    fprintf(stderr, "hangard: %s\n", hg_error_message(&err));
    rc = 1;
out:
    /* stop in reverse order: HTTP is stopped; drain and close the store, then the domain */
    if (d->http && !d->http_stopped)
        hg_http_server_abort(d->http); /* start-up failed, or the shutdown timed out */
    stop_subsystems(d);
    hg_store_close(d->store); /* runs the done callbacks of the last transactions */
    uv_walk(&d->loop, close_walk, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    hg_http_server_free(d->http);
    hg_fleetiq_free(d->fleetiq);
    hg_flexmatch_free(d->flexmatch); /* before placement: it borrows it */
    hg_placement_free(d->placement);
    hg_webhook_free(d->webhook);
    hg_fleet_free(d->fleet);
    hg_sdk_free(d->sdk);
    hg_registry_free(d->registry);
    hg_events_free(d->events);
    hg_lbs_free(d->leaderboards);
    hg_wallets_free(d->wallet);
    hg_rooms_free(d->rooms);
    hg_scripts_free(d->scripts); /* after the rooms: they hold references to its versions */
    hg_logs_free(d->logs);
    hg_players_free(d->players);
    hg_ptokens_free(d->ptokens);
    hg_ratelimit_free(&d->open_auth_limit);
    hg_keys_free(d->keys);
    hg_examples_free(d->examples);
    hg_gl_validate_fini();
    uv_loop_close(&d->loop);
    if (rc == 0)
        HG_LOG(HG_LOG_INFO, "daemon", "stopped");
    return rc;
}

/* serve() until it ends for good: again after each store failure, from what the store holds
 * (nothing of the last run's memory is kept: a new daemon_t each time). */
static int serve_until_stopped(const hg_config_t *cfg)
{
    uint64_t pause_ms = 0;
    int standing_by = 0;
    int lfd = -1; /* the listening socket handed from loop to loop (see daemon_t.listen_fd) */
    /* Before any loop owns the port: a peer gone mid-write is EPIPE, not a SIGPIPE that ends
     * the process (a standby relaying to a client that reset its connection died of it). */
    signal(SIGPIPE, SIG_IGN);
    for (unsigned run = 1;; run++) {
        daemon_t *d = hg_calloc(1, sizeof(*d));
        d->cfg = *cfg;
        d->after_failure = run > 1;
        d->standby_logged = standing_by;
        d->listen_fd = lfd;
        uint64_t t0 = uv_hrtime();
        int rc = serve(d);
        lfd = d->listen_fd;
        OPENSSL_cleanse(&d->cfg, sizeof(d->cfg));
        hg_free(d);
        if (rc != SERVE_STANDBY && rc != SERVE_RESTART && lfd >= 0) {
            close(lfd);
            lfd = -1;
        }
        if (rc == SERVE_STANDBY) { /* another node serves: relay to it until its lease ends */
            standing_by = 1;
            run--;
            int s = hg_standby_run(cfg, &lfd);
            if (s == 1) {
                HG_LOG(HG_LOG_INFO, "daemon", "stopped (signal while standing by)");
                return 0;
            }
            continue;
        }
        standing_by = 0;
        if (rc != SERVE_RESTART)
            return rc;
        uint64_t ran_ms = (uv_hrtime() - t0) / 1000000;
        pause_ms = ran_ms >= RESTART_CALM_MS || pause_ms == 0 ? RESTART_PAUSE_MS
                   : pause_ms * 2 > RESTART_PAUSE_MAX_MS      ? RESTART_PAUSE_MAX_MS
                                                              : pause_ms * 2;
        HG_LOG(HG_LOG_WARN, "daemon", "serving again in %llu ms (restart %u after a store failure)",
               (unsigned long long)pause_ms, run);
        /* meanwhile every request is answered 503 (interim.c), not refused */
        if (hg_unavailable_run(cfg, pause_ms, "its store failed; it serves again shortly", &lfd)) {
            HG_LOG(HG_LOG_INFO, "daemon", "stopped (signal while waiting to serve again)");
            return 0;
        }
    }
}

int hg_daemon_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keys") == 0)
        return hg_keys_cli(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return hg_check_cli(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return hg_migrate_cli(argc - 1, argv + 1);
    hg_config_t *cfg = hg_calloc(1, sizeof(*cfg));
    hg_config_init(cfg);
    hg_error_t err;
    hg_error_clear(&err);
    int rc = 0;
    const char *config_file = getenv("HANGAR_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_file = argv[i] + 9;
    }
    if (config_file && hg_config_load_file(cfg, config_file, &err) < 0)
        goto bad;
    if (hg_config_load_env(cfg, &err) < 0)
        goto bad;
    int print_config = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            hg_config_print_help(stdout);
            goto done;
        }
        if (strcmp(a, "--version") == 0) {
            printf("hangard %s\n", HANGAR_VERSION);
            goto done;
        }
        if (strcmp(a, "--config-doc") == 0) {
            hg_config_print_doc(stdout);
            goto done;
        }
        if (strcmp(a, "--print-config") == 0) {
            print_config = 1;
            continue;
        }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0) {
            hg_error_set(&err, HG_EINVAL, "unexpected argument '%s' (see hangard --help)", a);
            goto bad;
        }
        char name[128];
        const char *value;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (i + 1 >= argc) {
                hg_error_set(&err, HG_EINVAL, "--%s needs a value", name);
                goto bad;
            }
            value = argv[++i];
        }
        if (hg_config_set(cfg, name, value, &err) < 0)
            goto bad;
    }
    if (print_config) {
        hg_config_print(cfg, stdout);
        goto done;
    }
    if (hg_config_check(cfg, &err) < 0)
        goto bad;
    rc = serve_until_stopped(cfg);
    goto done;
bad:
    fprintf(stderr, "hangard: %s\n", hg_error_message(&err));
    rc = 1;
done:
    OPENSSL_cleanse(cfg->admin_secret, sizeof(cfg->admin_secret));
    hg_free(cfg);
    return rc;
}
