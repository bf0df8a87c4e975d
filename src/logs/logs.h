/* hangar — event logs: append-only game and payment events for analysis (seed 002: "logs must be
 * kept for marketing").
 *
 * An event is {id, type, player_id?, time, attributes?}. Ids are integers that only grow and are
 * never reused (two events in the same millisecond are two events), assigned on the loop thread
 * when the event is appended to a store transaction; the event is durable with that transaction.
 * Payment events (payment.purchase, payment.credit) are appended by the purchase or credit
 * transaction itself (wallet/wallet.h), so none can be missing.
 *
 * Logs are history, not hot state: nothing is loaded into memory at start (only the last id).
 * Queries and exports read the store off the loop thread (the store's reader lane). Retention
 * per event type is enforced by a sweep (hg_logs_tick).
 *
 * Storage (store/store.h): each event is one HG_STORE_EVENT_ADD op in the caller's store
 * transaction (the SQLite backend's `events` table, beside `records` in the same file). Reads
 * (hg_logs_query, exports, the sweep's look-ups) are hg_store_events / hg_store_event_types on
 * the store's reader lane; the sweep's deletes are HG_STORE_EVENT_DEL ops committed through the
 * store writer like any change. Ids: last_id starts at the highest id stored (or the high-water
 * mark the sweep stores in `logs.meta/last_id` with each delete, so that deleting the newest
 * events never lets an id be handed out twice); ids of a transaction that fails are skipped.
 * After an in-process restart (a failed commit fences the store, daemon.c) numbering continues
 * from the store, so ids that were never durable — never acknowledged to anyone — may be used
 * again; an id that was ever durable is never given to another event.
 *
 * Retention: the event-retention option, "sel=days[,sel=days…]" where sel is an exact type, a
 * prefix ending in `*` (payment.*) or `*` alone; an event of type t is kept for the days of the
 * exact rule for t, else of the longest matching prefix, else of `*`, else for ever. The sweep
 * walks the distinct types (HG_LOGS_SWEEP_TYPES a read), reads each type's events older than
 * its cut-off, oldest first, and deletes them, at most `budget` a tick; a full round over
 * the types starts at most once every HG_LOGS_SWEEP_ROUND_MS.
 *
 * Exports: hg_logs_export_start() streams every event matching a query, a page
 * (HG_LOGS_EXPORT_PAGE events) at a time, to a transport the caller gives as a sink: a page is
 * read on the reader lane, rendered, written; the next is read at once while the transport has
 * less than HG_LOGS_EXPORT_DRAIN bytes queued, else when it drains. Memory stays bounded by a
 * page plus the threshold whatever the range. A transport that stays full for
 * HG_LOGS_EXPORT_STALL_MS ends the export (checked by hg_logs_tick).
 *
 * Threading: loop thread only.
 */
#ifndef HG_LOGS_LOGS_H
#define HG_LOGS_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/err.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_LOGS_TYPE_MAX 64    /* type: 1..64 of [A-Za-z0-9_.:-] */
#define HG_LOGS_ATTRS_MAX 4096 /* attributes: a JSON object, at most this many bytes compact */
#define HG_LOGS_BATCH_MAX 1000 /* events per POST /v1/events */
#define HG_LOGS_PLAYER_MAX 128 /* player_id: 1..128 printable ASCII characters, no spaces */
#define HG_LOGS_RESERVED_PREFIX "payment." /* types only the wallet appends */
#define HG_LOGS_TIME_MIN_MS 946684800000LL /* 2000-01-01T00:00:00Z: no event is older */
#define HG_LOGS_FUTURE_MAX_MS 86400000LL   /* an event's time is at most a day ahead of now */
#define HG_LOGS_RULES_MAX 64               /* event-retention rules */
#define HG_LOGS_RETENTION_DAYS_MAX 36500   /* days a rule keeps events: 1..36500 */
#define HG_LOGS_PAGE_DEFAULT 100           /* GET /v1/events without ?limit= */
#define HG_LOGS_EXPORT_PAGE 500            /* events read per export page */
#define HG_LOGS_EXPORT_DRAIN (256u << 10)  /* bytes queued below which the next page is read */
#define HG_LOGS_EXPORT_STALL_MS 60000      /* transport full this long: the export ends */
#define HG_LOGS_EXPORTS_MAX 16             /* exports at once (more: HG_ETHROTTLED) */
#define HG_LOGS_SWEEP_TYPES 64             /* types the sweep reads at once */
#define HG_LOGS_SWEEP_STEPS 64             /* reads a sweep tick makes at most */
#define HG_LOGS_SWEEP_ROUND_MS 1000        /* a round over every type at most this often */
/* The CSV export's header row (RFC 4180, CRLF line ends). */
#define HG_LOGS_CSV_HEADER "id,type,player_id,time,attributes\r\n"

typedef struct hg_logs hg_logs_t;

hg_logs_t *hg_logs_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock);
void hg_logs_free(hg_logs_t *lg);
/* Before serving: reads the last id from the store; retention is the event-retention option's
 * text (NULL or "" keeps every event). Fills err and returns < 0 on failure: a retention text
 * that does not parse (HG_EINVAL, the message names the bad rule), or a store that cannot be
 * read. */
int hg_logs_start(hg_logs_t *lg, const char *retention, hg_error_t *err);
/* The retention sweep: deletes at most budget expired events (called from the daemon's cron),
 * and ends exports whose transport stalled. */
void hg_logs_tick(hg_logs_t *lg, size_t budget);

/* Append one event to txn (durable with it). type as above; player_id NULL or a player id;
 * time_ms the event's time (epoch ms); attrs compact JSON object text (≤ HG_LOGS_ATTRS_MAX) or
 * NULL, written by a JSON writer (its size and braces are checked, not its grammar). *id gets the
 * event's id. HG_EINVAL with err filled when the event is invalid (nothing appended). */
int hg_logs_append(hg_logs_t *lg, hg_store_txn_t *txn, const char *type, const char *player_id,
                   int64_t time_ms, const char *attrs, uint64_t *id, hg_error_t *err);

/* The last id handed out (0 before the first event). */
uint64_t hg_logs_last_id(const hg_logs_t *lg);

typedef struct hg_logs_stats {
    uint64_t last_id;
    uint64_t swept; /* events deleted by retention since start */
    size_t exports; /* exports running */
    int sweeping;   /* a sweep pass is in progress (a read or a delete in flight) */
} hg_logs_stats_t;
void hg_logs_stats(const hg_logs_t *lg, hg_logs_stats_t *out);
/* Days events of `type` are kept under the retention rules; 0: for ever. */
unsigned hg_logs_retention_days(const hg_logs_t *lg, const char *type);
/* 1 when type is a valid event type (see HG_LOGS_TYPE_MAX), else 0. */
int hg_logs_type_valid(const char *type);

/* Read a page of events (hg_store_events on the reader lane): cb runs on the loop thread. */
void hg_logs_query(hg_logs_t *lg, const hg_store_event_query_t *q, hg_store_events_cb cb, void *ud);
/* Render an event as the API shows it: {"id","type","player_id","time","attributes"} (time in
 * epoch seconds with a 3-digit fraction, player_id and attributes null when absent). */
void hg_logs_write_json(hg_buf_t *b, const hg_store_event_t *ev);
/* The same as one CSV row (RFC 4180 quoting; attributes as a JSON text cell), CRLF-ended. */
void hg_logs_write_csv(hg_buf_t *b, const hg_store_event_t *ev);

/* ---- exports ---- */
typedef enum { HG_LOGS_NDJSON = 1, HG_LOGS_CSV = 2 } hg_logs_format_t;
typedef struct hg_logs_export hg_logs_export_t;
/* The transport of an export. Each runs on the loop thread, with the ud given at start. */
typedef struct hg_logs_sink {
    /* The first page is read: start the answer. < 0 ends the export (end follows with it). */
    int (*begin)(void *ud);
    /* Queue bytes (copied). < 0: the transport is gone (end follows with it). */
    int (*write)(void *ud, const char *data, size_t len);
    /* Bytes queued and not yet sent. */
    size_t (*queued)(void *ud);
    /* Once, last: rc 0 when everything was written, else why the export ended (before begin:
     * nothing was written). The export is invalid after this call. */
    void (*end)(void *ud, int rc);
} hg_logs_sink_t;
/* Start streaming every event matching q (its limit and after_id are the export's own; by_time
 * is ignored) in id order, formatted as fmt (CSV starts with HG_LOGS_CSV_HEADER). sink is
 * borrowed until end runs (or cancel). Returns 0 with *out set, or < 0 without calling any of
 * the sink's functions (HG_ETHROTTLED: HG_LOGS_EXPORTS_MAX running; HG_ESHUTDOWN: the store is
 * closing). */
int hg_logs_export_start(hg_logs_t *lg, const hg_store_event_query_t *q, hg_logs_format_t fmt,
                         const hg_logs_sink_t *sink, void *ud, hg_logs_export_t **out);
/* The transport's queue drained: read the next page if the export waits for it. */
void hg_logs_export_drained(hg_logs_export_t *x);
/* The transport is gone: no sink function runs from now on; x is invalid after this call. */
void hg_logs_export_cancel(hg_logs_export_t *x);

#endif
