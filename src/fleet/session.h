/* hangar — server processes, game sessions and player sessions of ANYWHERE fleets.
 *
 * The domain behind the Server SDK endpoint (api/sdk/) and the game/player session operations of
 * the GameLift API (gamelift-wire.md §4, §7). Like the rest of src/fleet/: no sockets, no wire
 * format; each change is recorded into the caller's store transaction and acknowledged only once
 * it commits; every call checks what it can refuse before it changes anything. The connection a
 * process speaks through is an opaque handle (`conn`) owned by the API layer; the module tells
 * the API layer what to push through the sink (hg_fl_sink_t), and only once the change that
 * causes the push is durable.
 *
 * Server process, identified by (fleet, compute, pID) so that a reconnect — the SDKs reconnect
 * after an abnormal close with the same pID and do not repeat ProcessReady — finds it again:
 *
 *     connect ──▶ WAITING ──ProcessReady──▶ ACTIVE ──ProcessEnding──▶ (gone)
 *
 *     | transition                                   | function / cause               | stored  |
 *     |----------------------------------------------|--------------------------------|---------|
 *     | (none) → WAITING                             | hg_fl_proc_connect             | no      |
 *     | WAITING → gone (no ProcessReady in time)     | hg_fleet_tick: sink->drop      | no      |
 *     | WAITING → ACTIVE                             | hg_fl_proc_ready               | yes     |
 *     | ACTIVE → ACTIVE (heartbeat, health recorded) | hg_fl_proc_heartbeat           | no      |
 *     | ACTIVE → TERMINATING (no heartbeat for       | hg_fleet_tick / heartbeat:     | yes     |
 *     |   heartbeat_timeout, or unhealthy_reports    |   its game session ends,       |         |
 *     |   false reports in a row)                    |   TerminateProcess pushed      |         |
 *     | any → gone (ProcessEnding)                   | hg_fl_proc_ending              | deleted |
 *     | any → gone (socket closed, no reconnect      | hg_fleet_tick after            | deleted |
 *     |   within reconnect_grace)                    |   hg_fl_proc_disconnect        |         |
 *     | TERMINATING → gone (not ended in time)       | hg_fleet_tick                  | deleted |
 *     | any → gone (compute deregistered, fleet      | hg_fl_compute_deregister, …    | deleted |
 *     |   deleted)                                   |                                |         |
 *
 * A process is *idle* — it can be given a game session — when it is ACTIVE, connected, healthy
 * (its last heartbeat reported healthy, or it has not reported yet) and hosts no game session.
 * Idle processes queue per (fleet, location) in the order they became idle; a new game session
 * goes to the one idle longest. After a restart of hangard every stored process is disconnected
 * and waits reconnect_grace for its SDK to reconnect.
 *
 * Game session (one per process at a time):
 *
 *     | transition                         | function / cause                  | StatusReason  |
 *     |------------------------------------|-----------------------------------|---------------|
 *     | (none) → ACTIVATING                | hg_fl_gs_create (push             | —             |
 *     |                                    |   CreateGameSession after commit) |               |
 *     | ACTIVATING → ACTIVE                | hg_fl_gs_activate (SDK)           | —             |
 *     | ACTIVATING → TERMINATED            | hg_fleet_tick (activation_timeout)| —             |
 *     | ACTIVE → TERMINATING               | hg_fl_gs_terminate (TRIGGER_ON_…: | TRIGGERED_ON_ |
 *     |                                    |   TerminateProcess pushed)        | PROCESS_TERM… |
 *     | ACTIVATING/ACTIVE/TERMINATING →    | the process ends or goes (ending, | (kept)        |
 *     |   TERMINATED                       |   lost, unhealthy, deregistered)  |               |
 *
 * Ending a game session completes its RESERVED and ACTIVE player sessions; the process, if it
 * is still ACTIVE and healthy, becomes idle again. Ended game sessions (with their player
 * sessions and idempotency tokens) are kept HG_FL_GS_RETAIN_MS or until HG_FL_MAX_ENDED_SESSIONS
 * newer ones ended, whichever comes first.
 *
 * Player session (slots: RESERVED + ACTIVE count against MaximumPlayerSessionCount):
 *
 *     | transition             | function / cause                                    |
 *     |------------------------|-----------------------------------------------------|
 *     | (none) → RESERVED      | hg_fl_ps_create (ACTIVE game session, ACCEPT_ALL)   |
 *     | RESERVED → ACTIVE      | hg_fl_ps_accept (SDK AcceptPlayerSession)           |
 *     | RESERVED → TIMEDOUT    | hg_fleet_tick: not accepted within reservation time |
 *     | RESERVED/ACTIVE →      | hg_fl_ps_remove (SDK RemovePlayerSession) or the    |
 *     |   COMPLETED            |   game session ends                                 |
 *
 * Timers (all on the injected clock, driven by hg_fleet_tick): each kind of deadline has one
 * fixed length, so each is a list kept in deadline order by appending — no heap, O(1) per
 * change, and a tick looks only at the expired heads.
 *
 * Durable records (see fleet_int.h): fleet.processes, fleet.gsessions, fleet.psessions.
 * Threading: loop thread only.
 */
#ifndef HG_FLEET_SESSION_H
#define HG_FLEET_SESSION_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/list.h"
#include "fleet/fleet.h"
#include "store/store.h"

#define HG_FL_MAX_PROCESSES 100000         /* server processes across all fleets */
#define HG_FL_MAX_PROCESSES_PER_COMPUTE 50 /* GameLift's concurrent processes per instance */
#define HG_FL_MAX_PLAYERS 200              /* MaximumPlayerSessionCount: GameLift's hard cap */
#define HG_FL_MAX_ENDED_SESSIONS 100000    /* TERMINATED game sessions kept */
#define HG_FL_GS_RETAIN_MS (30LL * 24 * 3600 * 1000) /* … and for at most 30 days */
#define HG_FL_MAX_PLAYER_SESSIONS 1000000            /* player sessions kept, all states */
#define HG_FL_TERMINATE_GRACE_MS 30000 /* a process told to terminate has this long to end */
#define HG_FL_PID_MAX 256              /* bytes of a pID */
#define HG_FL_MAX_PROPS 16             /* GameProperties (the model's cap) */

typedef enum { HG_PR_WAITING = 0, HG_PR_ACTIVE, HG_PR_TERMINATING } hg_pr_state_t;
typedef enum {
    HG_GS_ACTIVATING = 0,
    HG_GS_ACTIVE,
    HG_GS_TERMINATING,
    HG_GS_TERMINATED,
    HG_GS_ERROR
} hg_gs_status_t;
typedef enum {
    HG_GS_REASON_NONE = 0,
    HG_GS_REASON_INTERRUPTED,
    HG_GS_REASON_TRIGGERED, /* TRIGGERED_ON_PROCESS_TERMINATE */
    HG_GS_REASON_FORCE,     /* FORCE_TERMINATED */
} hg_gs_reason_t;
typedef enum { HG_PS_RESERVED = 0, HG_PS_ACTIVE, HG_PS_COMPLETED, HG_PS_TIMEDOUT } hg_ps_status_t;

typedef struct hg_fl_gsession hg_fl_gsession_t;

/* The idle processes of one (fleet, location). Read-only outside src/fleet/. */
typedef struct hg_fl_place {
    char *key; /* <fleet id>/<location> */
    hg_list_t idle;
    size_t nidle;
} hg_fl_place_t;

/* Read-only outside src/fleet/ (conn excepted: see hg_fl_proc_connect). */
typedef struct hg_fl_process {
    char *key; /* <fleet id>/<compute name>/<pID> */
    char *pid;
    hg_fl_fleet_t *fleet;
    hg_fl_compute_t *compute;
    hg_fl_place_t *place;
    hg_pr_state_t state;
    int port; /* from ProcessReady */
    char *sdk_version, *sdk_language;
    json_t *log_paths; /* owned array; NULL when none */
    void *conn;        /* the API layer's newest connection; NULL while disconnected */
    int healthy;       /* last HealthStatus (1 until the first report) */
    int unhealthy_reports;
    int64_t connected_ms, ready_ms, heartbeat_ms, disconnected_ms;
    char auth[HG_FL_TOKEN_HASH_CHARS + 1]; /* hash of the token it last connected with; "" */
    int64_t deadline_ms;                   /* of the timer list it is on (tnode) */
    hg_fl_gsession_t *gs;                  /* hosted, not TERMINATED; NULL when none */
    uint64_t heartbeats;
    hg_list_t cnode; /* compute->processes */
    hg_list_t inode; /* place->idle while idle */
    hg_list_t tnode; /* one of the module's timer lists */
} hg_fl_process_t;

struct hg_fl_gsession {
    char *arn; /* GameSessionId: arn:aws:gamelift:<region>::gamesession/<fleet>/<location>/<id> */
    hg_fl_fleet_t *fleet;
    char *location;
    char *compute; /* ComputeName; the process's compute */
    char *ip, *dns;
    int port;
    char *proc_key;           /* the hosting process's key */
    hg_fl_process_t *process; /* while not TERMINATED and the process is known */
    char *name, *creator, *token, *data, *matchmaker_data; /* NULL when absent */
    json_t *props;                                         /* owned: [{"Key","Value"}] */
    int64_t max_players;
    hg_gs_status_t status;
    hg_gs_reason_t reason;
    int deny_all;    /* PlayerSessionCreationPolicy DENY_ALL */
    int protect;     /* ProtectionPolicy FullProtection */
    size_t nplayers; /* RESERVED + ACTIVE */
    size_t nplayers_all;
    int64_t created_ms, terminated_ms;
    int64_t deadline_ms; /* activation deadline while ACTIVATING */
    uint64_t seq;
    hg_list_t players; /* hg_fl_psession_t, creation order */
    hg_list_t fnode;   /* fleet->gsessions, creation order */
    hg_list_t tnode;   /* module's activating list, then its ended list */
};

typedef struct hg_fl_psession {
    char id[48]; /* psess-<uuid> */
    char *player_id;
    char *data; /* PlayerData; NULL when absent */
    hg_ps_status_t status;
    int64_t created_ms, terminated_ms;
    uint64_t seq;
    hg_fl_gsession_t *gs;
    hg_list_t gnode; /* gs->players */
    hg_list_t pnode; /* the player's sessions */
    hg_list_t tnode; /* module's reservation list while RESERVED */
} hg_fl_psession_t;

/* What the module asks of the API layer. Every member may be NULL. */
typedef struct hg_fl_sink {
    /* Push CreateGameSession for gs to p->conn (gs was just made durable). */
    void (*start_session)(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs);
    /* Push TerminateProcess (termination_ms: by when it should end) to p->conn. */
    void (*terminate)(void *ud, hg_fl_process_t *p, int64_t termination_ms);
    /* p is going away now (WAITING past its deadline, ended, lost, deregistered): close every
     * connection of p. Called before p is freed; p->conn may be NULL. */
    void (*drop)(void *ud, hg_fl_process_t *p);
    /* p changed in txn (gone: removed): the registry mirror. txn is NULL at load. */
    void (*changed)(void *ud, hg_store_txn_t *txn, const hg_fl_process_t *p, int gone);
    /* A process became idle in (f, location) — placement retries pending work. */
    void (*idle)(void *ud, hg_fl_fleet_t *f, const char *location);
    /* gs became ACTIVE or TERMINATED, in txn (placement follows its sessions). Must not call
     * back into this module except to reserve player sessions of an ACTIVE gs. */
    void (*session)(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs);
    /* Push UpdateGameSession for gs to p->conn (its MatchmakerData changed, or a backfill
     * ended: reason is GameLift's UpdateReason, ticket the backfill ticket id or NULL). */
    void (*update_session)(void *ud, hg_fl_process_t *p, hg_fl_gsession_t *gs, const char *reason,
                           const char *ticket);
    /* A player session of the ACTIVE gs ended (RemovePlayerSession, or its reservation timed
     * out) in txn: a slot is open again (FlexMatch's automatic backfill). Same rule as
     * session. */
    void (*slot_freed)(void *ud, hg_store_txn_t *txn, const hg_fl_gsession_t *gs);
    /* A compute was registered (or loaded: txn NULL) or is going (gone): the registry mirror. */
    void (*compute)(void *ud, hg_store_txn_t *txn, const hg_fl_compute_t *c, int gone);
    void *ud;
} hg_fl_sink_t;

typedef struct hg_fl_timeouts {
    int64_t ready_ms;       /* connect → ProcessReady (default 300 s) */
    int64_t heartbeat_ms;   /* silence that makes a process unhealthy (default 180 s) */
    int unhealthy_reports;  /* false reports in a row (default 3; 0: never acted on) */
    int64_t grace_ms;       /* reconnect window after a socket closed (default 30 s) */
    int64_t activation_ms;  /* ACTIVATING → TERMINATED (default 600 s) */
    int64_t reservation_ms; /* RESERVED → TIMEDOUT (default 60 s) */
} hg_fl_timeouts_t;

void hg_fleet_set_sink(hg_fleet_t *fl, const hg_fl_sink_t *sink);
/* Fields at 0 (or negative) take the defaults above. */
void hg_fleet_set_timeouts(hg_fleet_t *fl, const hg_fl_timeouts_t *t);
/* Fire every expired deadline (at most budget changes); commits its own transaction.
 * Returns how many fired. */
size_t hg_fleet_tick(hg_fleet_t *fl, size_t budget);

/* ---- server processes (Server SDK) ---- */
/* A socket authenticated for (f, c) with pID pid: the existing process (reconnect: conn becomes
 * its newest connection) or a new WAITING one. token: the auth token it connected with (NULL
 * with SigV4), remembered hashed (recorded in txn once the process is stored). HG_EINVAL bad
 * pID, HG_ELIMIT, HG_EFLEETSTATUS. *created says which. txn carries the registry mirror's
 * change and the remembered token. */
int hg_fl_proc_connect(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_fl_compute_t *c, const char *pid,
                       void *conn, const char *token, hg_store_txn_t *txn, hg_fl_process_t **out,
                       int *created, hg_error_t *err);
/* 1 when the process (fleet id, compute name, pID) is known — connected, or within its
 * reconnect grace — and last connected with `token` (live or expired): it may reconnect with it
 * (hg_fleet_token_check's one exception, fleet.h). Constant-time compare. */
int hg_fl_proc_auth_known(hg_fleet_t *fl, const char *fleet_id, const char *compute,
                          const char *pid, const char *token);
/* The process of key, NULL when gone. */
hg_fl_process_t *hg_fl_proc_find(hg_fleet_t *fl, const char *key);
/* conn closed: when it was p's newest, p is disconnected (reconnect grace starts; a WAITING
 * process goes at once). */
void hg_fl_proc_disconnect(hg_fleet_t *fl, hg_fl_process_t *p, void *conn, hg_store_txn_t *txn);
/* ProcessReady. Again on an ACTIVE process: the same port is accepted (a resent request),
 * another is HG_ECONFLICT. log_paths: borrowed array or NULL. */
int hg_fl_proc_ready(hg_fleet_t *fl, hg_fl_process_t *p, int port, const char *sdk_version,
                     const char *sdk_language, json_t *log_paths, hg_store_txn_t *txn,
                     hg_error_t *err);
/* A heartbeat. HG_EINVAL before ProcessReady. May make p TERMINATING (see the table). */
int hg_fl_proc_heartbeat(hg_fleet_t *fl, hg_fl_process_t *p, int healthy, hg_store_txn_t *txn,
                         hg_error_t *err);
/* ProcessEnding: its game session ends, p is gone (invalid after the call) — sink->drop is not
 * called (the API layer is answering on that connection). */
void hg_fl_proc_ending(hg_fleet_t *fl, hg_fl_process_t *p, hg_store_txn_t *txn);
/* Idle processes of f in location (all locations when NULL). */
size_t hg_fl_idle_count(hg_fleet_t *fl, const hg_fl_fleet_t *f, const char *location);
const char *hg_pr_state_name(hg_pr_state_t s);

/* ---- game sessions ---- */
typedef struct hg_fl_gs_params {
    const char *location; /* NULL: any of the fleet's locations */
    const char *name, *creator, *token, *data, *matchmaker_data; /* NULL when absent */
    json_t *props;                                               /* borrowed array or NULL */
    int64_t max_players;
} hg_fl_gs_params_t;
/* CreateGameSession on f. A token seen before on f returns that session (*existed = 1, nothing
 * changes) or HG_EIDEMPOTENT when the other parameters differ. HG_EFLEETSTATUS, HG_EINVAL
 * (location not in the fleet, players above HG_FL_MAX_PLAYERS), HG_ELIMIT (the fleet's
 * ResourceCreationLimitPolicy for this creator), HG_EFLEETCAPACITY (no idle process). */
int hg_fl_gs_create(hg_fleet_t *fl, hg_fl_fleet_t *f, const hg_fl_gs_params_t *p,
                    hg_store_txn_t *txn, hg_fl_gsession_t **out, int *existed, hg_error_t *err);
/* By ARN; NULL when absent. */
hg_fl_gsession_t *hg_fl_gs_find(hg_fleet_t *fl, const char *arn);
int hg_fl_gs_get(hg_fleet_t *fl, const char *arn, hg_fl_gsession_t **out, hg_error_t *err);
/* The SDK's ActivateGameSession from process p: ACTIVATING → ACTIVE (ACTIVE again: no-op).
 * HG_ENOTFOUND (not p's session), HG_EGSSTATUS. */
int hg_fl_gs_activate(hg_fleet_t *fl, hg_fl_process_t *p, const char *arn, hg_store_txn_t *txn,
                      hg_error_t *err);
/* UpdateGameSession. Negative max / policy / protect and NULL name / props leave a field as
 * it is; props are merged by key. HG_EGSSTATUS when TERMINATED/TERMINATING. */
int hg_fl_gs_update(hg_fleet_t *fl, hg_fl_gsession_t *gs, int64_t max_players, const char *name,
                    int deny_all, int protect, json_t *props, hg_store_txn_t *txn, hg_error_t *err);
/* FlexMatch changed gs: its MatchmakerData becomes data (NULL: unchanged) and, once that is
 * durable, UpdateGameSession (reason, backfill ticket id or NULL) is pushed to its process. */
void hg_fl_gs_matchmaking_update(hg_fleet_t *fl, hg_fl_gsession_t *gs, const char *data,
                                 const char *reason, const char *ticket, hg_store_txn_t *txn);
/* TerminateGameSession TRIGGER_ON_PROCESS_TERMINATE: TERMINATING, TerminateProcess pushed to
 * the process once durable. HG_EGSSTATUS unless ACTIVATING/ACTIVE. */
int hg_fl_gs_terminate(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn, hg_error_t *err);
/* Game sessions of f (location NULL: all), status filter (-1: any), after seq `after`, at
 * most limit, creation order. */
size_t hg_fl_gs_list(const hg_fl_fleet_t *f, const char *location, int status, uint64_t after,
                     size_t limit, hg_fl_gsession_t **out, int *more);
const char *hg_gs_status_name(hg_gs_status_t s);
const char *hg_gs_reason_name(hg_gs_reason_t r); /* NULL for NONE */

/* ---- player sessions ---- */
/* CreatePlayerSession(s): n ids (1..25, distinct), data[i] may be NULL. All or nothing.
 * HG_EGSSTATUS (not ACTIVE, or DENY_ALL), HG_EGAMESESSIONFULL, HG_ELIMIT. out: n entries. */
int hg_fl_ps_create(hg_fleet_t *fl, hg_fl_gsession_t *gs, const char *const *players,
                    const char *const *data, size_t n, hg_store_txn_t *txn, hg_fl_psession_t **out,
                    hg_error_t *err);
hg_fl_psession_t *hg_fl_ps_find(hg_fleet_t *fl, const char *id);
/* AcceptPlayerSession from process p: RESERVED → ACTIVE. HG_ENOTFOUND (unknown, or not a
 * session of gs_arn / of p's game session), HG_EGSSTATUS (not RESERVED). */
int hg_fl_ps_accept(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, const char *ps_id,
                    hg_store_txn_t *txn, hg_error_t *err);
/* RemovePlayerSession: RESERVED/ACTIVE → COMPLETED (COMPLETED again: no-op). */
int hg_fl_ps_remove(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, const char *ps_id,
                    hg_store_txn_t *txn, hg_error_t *err);
/* SDK UpdatePlayerSessionCreationPolicy. */
int hg_fl_ps_policy(hg_fleet_t *fl, hg_fl_process_t *p, const char *gs_arn, int deny_all,
                    hg_store_txn_t *txn, hg_error_t *err);
/* Player sessions of a game session (status -1: any) or of a player, seq order, after seq
 * `after`, at most limit. */
size_t hg_fl_ps_list_gs(const hg_fl_gsession_t *gs, int status, uint64_t after, size_t limit,
                        hg_fl_psession_t **out, int *more);
size_t hg_fl_ps_list_player(hg_fleet_t *fl, const char *player_id, uint64_t after, size_t limit,
                            hg_fl_psession_t **out, int *more);
const char *hg_ps_status_name(hg_ps_status_t s);
int hg_ps_status_parse(const char *s); /* -1 when unknown */
int hg_gs_status_parse(const char *s); /* -1 when unknown */

typedef struct hg_fl_session_stats {
    size_t processes, waiting, idle, gsessions_live, gsessions_ended, psessions;
    uint64_t gs_created, gs_activation_timeouts, ps_timeouts, proc_lost, proc_unhealthy;
} hg_fl_session_stats_t;
void hg_fleet_session_stats(const hg_fleet_t *fl, hg_fl_session_stats_t *out);

#endif
