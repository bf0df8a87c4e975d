/* hangar — the storage interface.
 *
 * Durable state is a set of collections of records: (collection, key) → a JSON document.
 * Domain modules keep their hot state in memory (memory is the read path) and describe each
 * change as a transaction of puts and deletes; hg_store_commit() hands the transaction to the
 * backend, and its callback runs on the loop thread once the change is durable (or failed).
 * Only then may the caller acknowledge the request (durable before acknowledged).
 *
 * Ordering: transactions commit, and their callbacks run, in the order hg_store_commit() was
 * called. An empty transaction is a barrier: its callback runs once everything committed
 * before it is durable, so a read that follows an unacknowledged write is answered only when
 * that write is durable (and at once when nothing is in flight).
 *
 * Backends implement hg_store_backend_t: the embedded SQLite backend (store/sqlite.c) runs on
 * the store writer lane and commits a batch of transactions with one fsync (group commit); a
 * PostgreSQL backend implements the same vtable for cluster mode. Loading at start-up is
 * synchronous and happens before the daemon serves.
 *
 * Failure: a transaction that fails (rc < 0 in its callback) fences the store: it and every
 * transaction after it fail, barriers included, and nothing more is written until the store is
 * closed and opened again. Memory changed for the failed transactions may be ahead of the
 * disk, so the owner must rebuild it from the store before serving again; the failure
 * callback tells it once. The failed batch's transactions get the backend's error (HG_ESTORE),
 * those refused after it HG_ESHUTDOWN.
 *
 * The journal: a backend may keep one (hg_store_backend_t.index). The puts and deletes of
 * history (store/partition.h: a wallet, its ledger, purchases, receipts, idempotency keys)
 * become rows appended to it, so a commit of many purchases writes a few sequential pages
 * instead of one page per record it changes. The store has the backend fold the journal into
 * its history (apply its rows, sorted, the latest write per record) on a lane of its own,
 * beside the writer, when HG_STORE_JOURNAL_OPS history ops or HG_STORE_JOURNAL_BYTES of their
 * values wait, before a scan of a history collection, at close, and at open (a journal left by
 * a crash). Until folded, those of collections read by key (purchases, receipts, idempotency
 * keys: partition.h hg_store_history_kind) are kept in memory (the tail) and hg_store_get answers
 * from it; a get of another history collection waits for the fold, as a scan does.
 * The tail is bounded: once it holds HG_STORE_TAIL_MAX bytes (a fold behind, or failing), new
 * commits wait, in order, until a fold has made room (a failed fold is tried again every
 * 250 ms while they wait).
 *
 * Threading: every function here is for the loop thread.
 */
#ifndef HG_STORE_STORE_H
#define HG_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "core/list.h"

typedef struct hg_store hg_store_t;
typedef struct hg_store_txn hg_store_txn_t;

/* Runs on the loop thread: rc is 0 when the transaction is durable. */
typedef void (*hg_store_commit_cb)(void *ud, int rc);
/* Runs on the loop thread, once, when the first transaction fails (before its callbacks). */
typedef void (*hg_store_failure_cb)(void *ud, int rc);
/* Start-up load: one call per record, value borrowed for the call. Non-zero stops the load. */
typedef int (*hg_store_load_cb)(void *ud, const char *key, json_t *value);

typedef enum {
    HG_STORE_PUT = 1,
    HG_STORE_DEL = 2,
    HG_STORE_EVENT_ADD = 3, /* append one event to the event log (logs/logs.h) */
    HG_STORE_EVENT_DEL = 4, /* delete one event by id (the retention sweep) */
} hg_store_op_kind_t;

/* An event of the event log, as stored and as read back. Its strings are borrowed. */
typedef struct hg_store_event {
    uint64_t id;        /* unique, assigned by the logs module; > 0 */
    int64_t time_ms;    /* the event's time, epoch milliseconds */
    const char *type;   /* never NULL */
    const char *player; /* NULL: none */
    const char *attrs;  /* a JSON object's compact text; NULL: none */
} hg_store_event_t;

typedef struct hg_store_op {
    hg_store_op_kind_t kind;
    char *coll;  /* PUT, DEL: the collection; EVENT_*: "events" (the table) */
    char *key;   /* PUT, DEL: the key; EVENT_*: NULL */
    char *value; /* PUT: compact JSON text; else NULL */
    /* EVENT_ADD: the event (ev_player and ev_attrs may be NULL); EVENT_DEL: ev_id, and
     * ev_player when the deleter knows it (it keeps a journal's player index exact). A
     * transaction's ops (store.c) hold coll, key and the ev_ strings in the op's own
     * allocation, value in its own; migrate (migrate_cli.c) allocates each on its own. */
    uint64_t ev_id;
    int64_t ev_time_ms;
    char *ev_type;
    char *ev_player;
    char *ev_attrs;
    /* a history op's transaction number (store.c "The journal"; 0: none): the backend keeps
     * it with the journal row, and index() reports how far it folded in these numbers. An
     * event op with a player gets one too: a backend with a journal keeps its player index
     * there (see index below) */
    uint64_t jseq;
    int keyed; /* store.c: a history op of a collection read by key (its value kept until folded) */
} hg_store_op_t;

/* 1 when op continues prev's run of the player index: both add events of one player, op's id
 * the next after prev's. A run is one entry of a journal's player index (store.c counts runs
 * toward a fold as sqlite.c journals them). */
static inline int hg_store_event_run_extends(const hg_store_op_t *prev, const hg_store_op_t *op)
{
    return prev && prev->kind == HG_STORE_EVENT_ADD && op->kind == HG_STORE_EVENT_ADD &&
           prev->ev_player && op->ev_player && op->ev_id == prev->ev_id + 1 &&
           strcmp(op->ev_player, prev->ev_player) == 0;
}

/* The backend vtable (rule 18). open/load/close run on the loop thread before/after serving;
 * apply runs on the store writer lane and must make every op of every transaction in the batch
 * durable atomically before returning 0 (event ops included: an event appended with a
 * purchase commits with it). */
#define HG_STORE_BACKEND_VERSION 1
typedef struct hg_store_backend {
    int version;
    const char *name;
    int (*open)(const char *location, void **state, hg_error_t *err);
    int (*load)(void *state, const char *coll, hg_store_load_cb cb, void *ud);
    int (*apply)(void *state, hg_store_op_t *const *ops, size_t nops);
    void (*close)(void *state);
    /* Optional (NULL: the backend has no journal and applies every op in place). A backend
     * with a journal writes every history op (a put or delete of a collection
     * store/partition.h hg_store_is_history names) as a row appended to its journal, durable
     * with the batch like any op, and applies them to their records later, in bulk, when
     * index() is called: every journal row not folded yet, sorted by place, in a transaction
     * of its own that does not hold up apply() (the store's index lane; the loop thread at
     * open, before the lanes start), at most a bounded number of rows at a time. *upto: every
     * transaction whose jseq <= *upto is folded; *rows: how many rows this call folded.
     * History reads and loads see history ops only once folded (store.c holds scans of history
     * collections until then and answers gets from memory). Such a backend also journals an
     * event op that names a player (its jseq is set) for the event log's index by player, and
     * folds it with the rest: store.c holds event reads filtered by player until then. */
    int (*index)(void *state, uint64_t *upto, size_t *rows);
} hg_store_backend_t;

extern const hg_store_backend_t hg_store_sqlite;
/* The embedded store is two files in its directory: hangar.db (plain records, the event log,
 * and the journal of history ops) and history.db (the history records: store/partition.h).
 * For a program reading them on a connection of its own (hangard check, migrate): history.db
 * opened as main and hangar.db attached as jschema, inside one read transaction. When the
 * journal holds rows not folded yet, makes a TEMP copy of history.db's records with those rows
 * applied, which the connection's unqualified `records` then names. The journal is read before
 * history.db, so the two agree (a fold between them only means fewer rows to apply). Returns
 * how many rows were applied (0: nothing was created), or < 0. */
struct sqlite3;
int hg_store_sqlite_overlay(struct sqlite3 *db, const char *jschema);
/* Opens the store in dir for such a reader, read-only: history.db with hangar.db attached as
 * jschema (*two = 1), or, for a store no hangard of this version opened yet, hangar.db alone
 * (*two = 0). On failure (HG_ESTORE) path names the file that could not be opened, and *db,
 * when set, says why (sqlite3_errmsg) and is the caller's to close. */
int hg_store_sqlite_open_files(const char *dir, const char *jschema, struct sqlite3 **db, int *two,
                               char *path, size_t cap);
/* PostgreSQL (store/postgres.c): location is a libpq connection URI. A store holds the leases
 * of every partition (store/partition.h) under this node's name; hg_store_open fails with
 * HG_ENOTREADY while another node holds any of them. Configure before opening (loop thread). */
extern const hg_store_backend_t hg_store_postgres;
#define HG_STORE_PG_LEASE_MS 10000
void hg_store_postgres_configure(const char *node, const char *addr, int64_t lease_ms);
/* PQconnectdb(conninfo), with connect_timeout HG_STORE_PG_CONNECT_TIMEOUT_S seconds unless the
 * URI sets its own: every connection hangard opens (store lanes, the lease renewer, a standby's
 * lease poll, check and migrate). Blocks: never on the loop. */
#define HG_STORE_PG_CONNECT_TIMEOUT_S "5"
struct pg_conn *hg_store_pg_connectdb(const char *conninfo);
/* For /metrics: the lease and the commits' round trips (any thread). */
typedef struct hg_store_pg_stats {
    uint64_t owned; /* partitions this node holds (0, or all HG_PARTITIONS) */
    uint64_t epoch; /* the fencing token of its lease on control */
    uint64_t renewals, lost;
    uint64_t commits, commit_ns_total, commit_ns_max; /* a batch: send to the last result */
} hg_store_pg_stats_t;
void hg_store_postgres_stats(hg_store_pg_stats_t *out);
/* What a standby reads to find the serving node and whether its leases ran out: owner, addr
 * ('' when none), and 't' while the lease holds; no row: never taken (daemon/interim.c). The
 * node that serves holds every partition, renewed together, so control's row says it. */
#define HG_STORE_PG_LEASE_PEEK_SQL                                                                 \
    "SELECT owner, coalesce(addr, ''), lease_until > clock_timestamp() FROM partitions WHERE id "  \
    "= 'control'"
/* The cluster secret (docs/cluster.md, "The client's address"): one row of
 * hangar_cluster_secret, created at random by the first node to open the store and read by
 * every node at open; it signs the PROXY headers a standby's relay sends (http/proxyhdr.h).
 * hg_store_postgres_secret: the secret the last open read, NUL-terminated, and its length (0:
 * none was read; loop thread). A standby reads it with HG_STORE_PG_SECRET_SQL. */
#define HG_STORE_PG_SECRET_MIN 32
#define HG_STORE_PG_SECRET_MAX 255
#define HG_STORE_PG_SECRET_SQL "SELECT secret FROM hangar_cluster_secret LIMIT 2"
size_t hg_store_postgres_secret(char out[HG_STORE_PG_SECRET_MAX + 1]);
/* 0: a commit writing a collection the partition map does not know (store/partition.c) stops a
 * debug build. The store's own tests, which write collections of their own, set it to 1. */
extern int hg_store_postgres_unmapped_ok;

/* ---- history reads: the backend side ----
 *
 * History (records not kept in memory, and the event log) is read off the loop thread, on the
 * store's reader lane, through a connection of its own that sees only committed data. A
 * backend that serves such reads says so through its state: the state open() returns starts
 * with a `const hg_store_reads_t *` (its read vtable), NULL for a backend without history
 * reads (they then fail HG_ENOTIMPL). The write vtable above stays as it was, so backends and
 * test doubles built on it need no change.
 *
 * reader_open runs on the loop thread in hg_store_open (after open); reader_close in
 * hg_store_close (after the reader lane stopped); every other function but last_event_id runs
 * on the reader lane with the reader handle, calling fn once per row, in order, for at most
 * `limit` rows (a non-zero return from fn stops the read early, without error). Strings
 * passed to fn are borrowed for the call. last_event_id runs on the loop thread before serving,
 * on the writer's state, while the writer lane is held (as load does). */
typedef int (*hg_store_row_fn)(void *ud, const char *key, const char *value);
typedef int (*hg_store_event_fn)(void *ud, const hg_store_event_t *ev);
typedef int (*hg_store_name_fn)(void *ud, const char *name);

/* Which events to read. Strings are borrowed. */
typedef struct hg_store_event_query {
    const char *type;   /* exact type, or NULL */
    const char *player; /* exact player id, or NULL */
    int64_t from_ms;    /* time_ms >= from_ms (INT64_MIN: no bound) */
    int64_t to_ms;      /* time_ms < to_ms (INT64_MAX: no bound) */
    uint64_t after_id;  /* id > after_id (0: from the first) */
    size_t limit;       /* rows: 1..HG_STORE_READ_MAX */
    int by_time;        /* order by (time_ms, id) instead of id; after_id is then ignored */
} hg_store_event_query_t;

#define HG_STORE_READS_VERSION 1
typedef struct hg_store_reads {
    int version;
    int (*reader_open)(void *state, void **reader, hg_error_t *err);
    void (*reader_close)(void *reader);
    /* records of coll with keys starting with prefix ("" for all), after `after` (NULL: from
     * the first) in key order, ascending, or descending before `after` when desc */
    int (*scan)(void *reader, const char *coll, const char *prefix, const char *after, size_t limit,
                int desc, hg_store_row_fn fn, void *ud);
    int (*get)(void *reader, const char *coll, const char *key, hg_store_row_fn fn, void *ud);
    int (*events)(void *reader, const hg_store_event_query_t *q, hg_store_event_fn fn, void *ud);
    /* the distinct event types sorted after `after` ("" for all), ascending */
    int (*event_types)(void *reader, const char *after, size_t limit, hg_store_name_fn fn,
                       void *ud);
    /* the highest event id stored, 0 when none */
    int (*last_event_id)(void *state, uint64_t *out);
} hg_store_reads_t;

/* When the store folds the journal (store.c): history ops pending, and bytes of their values
 * kept in memory (docs/limits.md). Larger folds put more of a player's new ledger entries, keys
 * and purchases on each page they rewrite: 16,384 and 16 MiB gave 9.9k falling to 6.3k
 * purchases/s over 64 s of a 1,000-player run, these 11.4k falling to 8.5k (bench/README.md). */
#define HG_STORE_JOURNAL_OPS 65536
#define HG_STORE_JOURNAL_BYTES (64u << 20)
/* The tail's bound: commits wait for a fold past it. */
#define HG_STORE_TAIL_MAX (256u << 20)

typedef struct hg_store_stats {
    uint64_t batches;  /* backend commits */
    uint64_t txns;     /* non-empty transactions committed */
    uint64_t failures; /* failed batches */
    size_t inflight;
    uint64_t reads;         /* history reads completed */
    uint64_t read_errors;   /* history reads that failed in the backend */
    uint64_t indexes;       /* journal indexes that succeeded */
    uint64_t index_errors;  /* journal indexes that failed (the journal stays; retried) */
    size_t journal_pending; /* journaled transactions not indexed yet */
    size_t journal_bytes;   /* bytes of their values in memory */
    uint64_t deferred;      /* commits that waited for the tail to shrink */
    int indexing;           /* 1 while a fold runs on the index lane */
} hg_store_stats_t;

/* Open a store. location: a directory for the embedded SQLite store (hangar.db inside it). */
int hg_store_open(uv_loop_t *loop, const hg_store_backend_t *backend, const char *location,
                  size_t batch_max, hg_store_t **out, hg_error_t *err);
/* Drains every queued transaction (their callbacks run), then closes. *s invalid after. */
void hg_store_close(hg_store_t *s);
/* Read every record of coll (start-up). Synchronous, on the loop thread: it holds the writer
 * lane off the backend meanwhile (waiting for a batch being written to end), since modules
 * loading already commit clean-ups of what they drop and the backend's connection is not
 * shared between threads. */
int hg_store_load(hg_store_t *s, const char *coll, hg_store_load_cb cb, void *ud);

hg_store_txn_t *hg_store_txn_new(hg_store_t *s);
/* Record a put; value is borrowed (serialised now). */
void hg_store_put(hg_store_txn_t *t, const char *coll, const char *key, json_t *value);
/* Record a put of JSON text already rendered; takes ownership of text (from hg_malloc or
 * hg_buf_steal). */
void hg_store_put_text(hg_store_txn_t *t, const char *coll, const char *key, char *text);
void hg_store_del(hg_store_txn_t *t, const char *coll, const char *key);
/* No writes and no hooks: dropping it changes nothing. */
int hg_store_txn_empty(const hg_store_txn_t *t);
/* Run cb(ud, rc) when t commits (or fails), before the commit callback, in the order hooks
 * were added. Lets a module act on a change only once it is durable (publishing an event)
 * without owning the transaction. Hooks of a transaction dropped with hg_store_txn_free()
 * run with rc HG_ESTORE. */
void hg_store_txn_on_commit(hg_store_txn_t *t, hg_store_commit_cb cb, void *ud);
/* Submit; takes ownership of t (invalid after this call). cb may run before this returns when
 * the transaction is empty and nothing is in flight. */
void hg_store_commit(hg_store_txn_t *t, hg_store_commit_cb cb, void *ud);
/* Drop an uncommitted transaction; t invalid after this call. */
void hg_store_txn_free(hg_store_txn_t *t);

/* Synchronous one-record put used only before serving (bootstrap of the admin key); holds the
 * writer off the backend as hg_store_load() does. */
int hg_store_put_now(hg_store_t *s, const char *coll, const char *key, json_t *value);

/* History reads (records not kept in memory: ledger, purchases; logs.h's events). They run off
 * the loop thread, on the store's reader lane with its own connection, and see only committed
 * (durable) records: a read submitted after a commit's callback ran sees that commit.
 *
 * Reader lane: one thread, FIFO (reads complete, and their callbacks run, in submission
 * order); each read is one statement, so no read holds a snapshot between pages. Arguments
 * are copied when the read is submitted; rows are copied on the lane and handed to the
 * callback on the loop thread, borrowed for the call. A read refused at once (bad limit, no
 * reader, store closing: HG_EINVAL, HG_ENOTIMPL, HG_ESHUTDOWN) calls back before the submitting
 * function returns. A failed read (HG_ESTORE) does not fence the store: reads change nothing. */
#define HG_STORE_READ_MAX 1000 /* rows per read */
typedef struct hg_store_row {
    const char *key;
    const char *value; /* JSON text */
} hg_store_row_t;
/* Runs on the loop thread: rc 0 and rows (borrowed for the call) in key order, more = 1 when
 * further rows match; rc < 0 on failure (n 0). */
typedef void (*hg_store_rows_cb)(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more);
/* Up to limit (1..1000) records of coll whose keys start with prefix ("" for all) and sort after
 * `after` (NULL: from the first), ascending; or descending from before `after` when desc.
 * Keys compare as bytes (memcmp order). */
void hg_store_scan(hg_store_t *s, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_rows_cb cb, void *ud);
/* One record (n = 1) or none (n = 0). */
void hg_store_get(hg_store_t *s, const char *coll, const char *key, hg_store_rows_cb cb, void *ud);
/* Runs on the loop thread: events (borrowed for the call) in the query's order, more = 1 when
 * further events match; rc < 0 on failure (n 0). */
typedef void (*hg_store_events_cb)(void *ud, int rc, const hg_store_event_t *evs, size_t n,
                                   int more);
/* Up to q->limit events matching q (q and its strings are copied). */
void hg_store_events(hg_store_t *s, const hg_store_event_query_t *q, hg_store_events_cb cb,
                     void *ud);
/* Runs on the loop thread: names (borrowed for the call) ascending, more as above. */
typedef void (*hg_store_names_cb)(void *ud, int rc, const char *const *names, size_t n, int more);
/* Up to limit (1..1000) distinct event types sorting after `after` (NULL or "": from the
 * first). */
void hg_store_event_types(hg_store_t *s, const char *after, size_t limit, hg_store_names_cb cb,
                          void *ud);
/* The highest event id stored (0 when none). Synchronous, before serving, like hg_store_load.
 * HG_ENOTIMPL when the backend has no history reads. */
int hg_store_last_event_id(hg_store_t *s, uint64_t *out);
/* Append an event to t (HG_STORE_EVENT_ADD): every string is copied; player and attrs may be
 * NULL. The logs module validates events and assigns ids (logs.h hg_logs_append): call that. */
void hg_store_event_add(hg_store_txn_t *t, const hg_store_event_t *ev);
/* Delete event id in t (HG_STORE_EVENT_DEL; nothing when no such event). player: the event's
 * (NULL when it has none); a wrong one leaves an entry of the player index that no read
 * returns, since reads join it with the events. */
void hg_store_event_del(hg_store_txn_t *t, uint64_t id, const char *player);
/* Who hears of the first failed commit (see "Failure" above). */
void hg_store_set_failure_cb(hg_store_t *s, hg_store_failure_cb cb, void *ud);
/* 1 once a transaction failed: every later commit fails too. */
int hg_store_fenced(const hg_store_t *s);

void hg_store_stats(const hg_store_t *s, hg_store_stats_t *out);
/* Tests: the tail's bound (HG_STORE_TAIL_MAX), in bytes of its 1 MiB blocks. */
void hg_store_set_tail_max(hg_store_t *s, size_t bytes);

#endif
