/* hangar — fleet module internals shared by fleet.c, alias.c and compute.c (never included
 * from outside src/fleet/).
 *
 * Durable records (collection → key → value):
 *   fleet.locations  name             → {arn, tags, created_ms}
 *   fleet.fleets     fleet id         → {arn, attrs, tags, status, locations, created_ms,
 *                                       terminated_ms, seq}
 *   fleet.events     <fleet id>/<seq> → {id, code, message, time_ms, seq}   (seq: 16 hex digits)
 *   fleet.aliases    alias id         → {arn, name, description, type, fleet_id, message, tags,
 *                                       created_ms, updated_ms, seq}
 *   fleet.computes   <fleet id>/<name>→ {arn, ip, dns, cert, location, created_ms, seq}
 *   fleet.tokens     token            → {fleet, compute, issued_ms, expires_ms}
 *   fleet.processes  <fleet>/<compute>/<pID> → {state, port, sdk_version, sdk_language,
 *                                       log_paths, ready_ms, seq}   (ACTIVE/TERMINATING only)
 *   fleet.gsessions  game session ARN → {fleet, location, compute, ip, dns, port, proc, name,
 *                                       creator, token, data, mm, props, max, status, reason,
 *                                       deny, protect, created_ms, terminated_ms, seq}
 *   fleet.psessions  psess-…          → {gs, player, data, status, created_ms, terminated_ms,
 *                                       seq}
 *
 * One sequence (`next_seq`) numbers fleets, aliases, computes and events: it gives every list its
 * order and every page token its position, and survives restarts as the largest stored + 1.
 */
#ifndef HG_FLEET_FLEET_INT_H
#define HG_FLEET_FLEET_INT_H

#include "fleet/fleet.h"
#include "fleet/session.h"

#define COLL_LOCATIONS "fleet.locations"
#define COLL_FLEETS "fleet.fleets"
#define COLL_EVENTS "fleet.events"
#define COLL_ALIASES "fleet.aliases"
#define COLL_COMPUTES "fleet.computes"
#define COLL_TOKENS "fleet.tokens"
#define COLL_PROCESSES "fleet.processes"
#define COLL_GSESSIONS "fleet.gsessions"
#define COLL_PSESSIONS "fleet.psessions"

struct hg_fleet {
    hg_clock_t *clock;
    hg_store_t *store;
    hg_fl_config_t cfg;
    hg_map_t locations; /* name → hg_fl_location_t */
    hg_map_t fleets;    /* id → hg_fl_fleet_t (TERMINATED ones too) */
    hg_list_t fleet_order;
    hg_list_t terminated; /* TERMINATED fleets, oldest termination first */
    size_t nlive, nterminated;
    hg_map_t aliases; /* id → hg_fl_alias_t */
    hg_list_t alias_order;
    size_t ncomputes;
    uint64_t next_seq;
    uint64_t tokens_issued, token_checks_failed;

    /* processes and sessions (process.c, gsession.c) */
    hg_fl_sink_t sink;
    hg_fl_timeouts_t to;
    hg_map_t processes;      /* key → hg_fl_process_t */
    hg_map_t places;         /* <fleet>/<location> → hg_fl_place_t */
    hg_map_t gsessions;      /* ARN → hg_fl_gsession_t */
    hg_map_t gs_tokens;      /* <fleet>/<token> → hg_fl_gsession_t */
    hg_map_t psessions;      /* id → hg_fl_psession_t */
    hg_map_t players;        /* player id → hg_fl_player_t */
    hg_list_t t_waiting;     /* WAITING processes, ProcessReady deadline order */
    hg_list_t t_heartbeat;   /* connected ACTIVE processes, heartbeat deadline order */
    hg_list_t t_grace;       /* disconnected processes, reconnect deadline order */
    hg_list_t t_terminating; /* TERMINATING processes, end deadline order */
    hg_list_t t_activating;  /* ACTIVATING game sessions, activation deadline order */
    hg_list_t t_reserved;    /* RESERVED player sessions, creation order */
    hg_list_t ended;         /* TERMINATED game sessions, termination order */
    size_t nwaiting, nended;
    uint64_t gs_created, gs_activation_timeouts, ps_timeouts, proc_lost, proc_unhealthy;
};

/* A player's sessions (the index behind DescribePlayerSessions by PlayerId). */
typedef struct hg_fl_player {
    hg_list_t sessions; /* hg_fl_psession_t.pnode, seq order */
    size_t n;
} hg_fl_player_t;

static inline int64_t hg_fl_now(const hg_fleet_t *fl)
{
    return hg_clock_now_ms(fl->clock);
}

/* "<prefix><uuid v4>" into out (cap >= strlen(prefix) + 37). */
void hg_fl_new_id(const char *prefix, char *out, size_t cap);
/* "<prefix><uuid v7>": the time (ms) first, so ids made one after another sort together — the
 * store's B-tree then touches a few pages per commit instead of one per record (game and player
 * sessions are written at placement rates). */
void hg_fl_new_time_id(const char *prefix, int64_t now_ms, char *out, size_t cap);
/* arn:aws:gamelift:<region>:<account>:<kind>/<id>, a new string. */
char *hg_fl_arn(const hg_fleet_t *fl, const char *kind, const char *id);
/* The id part of an ARN of `kind` ("fleet", "alias", …), or NULL when arn is not one. */
const char *hg_fl_arn_id(const char *arn, const char *kind);
/* "" → NULL; a copy otherwise. */
char *hg_fl_strdup_opt(const char *s);
/* A tags array for a record or NULL argument: a new reference. */
json_t *hg_fl_tags_or_empty(json_t *tags);

/* process.c, gsession.c */
void hg_fl_session_init(hg_fleet_t *fl);
void hg_fl_session_free(hg_fleet_t *fl);
int hg_fl_session_load(hg_fleet_t *fl); /* after computes */
/* The processes of c go (compute deregistered): their sessions end. */
void hg_fl_proc_drop_compute(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn);
/* Every game session of f is forgotten (a TERMINATED fleet dropped for good). */
void hg_fl_gs_drop_fleet(hg_fleet_t *fl, hg_fl_fleet_t *f, hg_store_txn_t *txn);
/* End gs (→ TERMINATED): players complete, the process is released (idle again when it can
 * be; `release` 0 when the process is going anyway). */
void hg_fl_gs_end(hg_fleet_t *fl, hg_fl_gsession_t *gs, int release, hg_store_txn_t *txn);
/* p became able to host (or not): keep its place in the idle queue right. */
void hg_fl_proc_update_idle(hg_fleet_t *fl, hg_fl_process_t *p);
void hg_fl_gs_save(const hg_fl_gsession_t *gs, hg_store_txn_t *txn);
/* Push CreateGameSession to gs's process once txn commits. */
void hg_fl_gs_push_start(hg_fleet_t *fl, hg_fl_gsession_t *gs, hg_store_txn_t *txn);
void hg_fl_gs_free_all(hg_fleet_t *fl);
int hg_fl_gs_load(hg_fleet_t *fl, hg_store_txn_t *cleanup);
/* p now hosts gs (NULL: hosts nothing; idle again when it can be). */
void hg_fl_proc_host(hg_fleet_t *fl, hg_fl_process_t *p, hg_fl_gsession_t *gs, hg_store_txn_t *txn);
/* p → TERMINATING; TerminateProcess pushed once durable. */
void hg_fl_proc_tell_terminate(hg_fleet_t *fl, hg_fl_process_t *p, hg_store_txn_t *txn);
/* Fire expired game- and player-session deadlines (gsession.c). */
size_t hg_fl_gs_tick(hg_fleet_t *fl, int64_t now, size_t budget, hg_store_txn_t *txn);

/* alias.c */
void hg_fl_alias_free(hg_fl_alias_t *a);
void hg_fl_alias_save(hg_fleet_t *fl, const hg_fl_alias_t *a, hg_store_txn_t *txn);
int hg_fl_alias_load(hg_fleet_t *fl);
/* compute.c */
void hg_fl_compute_free(hg_fl_compute_t *c);
int hg_fl_compute_load(hg_fleet_t *fl);
/* Deregister every compute of f (in location `location`, or all when NULL). */
void hg_fl_compute_drop_all(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *location,
                            hg_store_txn_t *txn);

#endif
