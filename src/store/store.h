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
 * Threading: every function here is for the loop thread.
 */
#ifndef HG_STORE_STORE_H
#define HG_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
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

typedef enum { HG_STORE_PUT = 1, HG_STORE_DEL = 2 } hg_store_op_kind_t;

typedef struct hg_store_op {
    hg_store_op_kind_t kind;
    char *coll;
    char *key;
    char *value; /* compact JSON text for PUT */
} hg_store_op_t;

/* The backend vtable (rule 18). open/load/close run on the loop thread before/after serving;
 * apply runs on the store writer lane and must make every op of every transaction in the batch
 * durable atomically before returning 0. */
#define HG_STORE_BACKEND_VERSION 1
typedef struct hg_store_backend {
    int version;
    const char *name;
    int (*open)(const char *location, void **state, hg_error_t *err);
    int (*load)(void *state, const char *coll, hg_store_load_cb cb, void *ud);
    int (*apply)(void *state, hg_store_op_t *const *ops, size_t nops);
    void (*close)(void *state);
} hg_store_backend_t;

extern const hg_store_backend_t hg_store_sqlite;

typedef struct hg_store_stats {
    uint64_t batches;  /* backend commits */
    uint64_t txns;     /* non-empty transactions committed */
    uint64_t failures; /* failed batches */
    size_t inflight;
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
 * (durable) records. */
typedef struct hg_store_row {
    const char *key;
    const char *value; /* JSON text */
} hg_store_row_t;
/* Runs on the loop thread: rc 0 and rows (borrowed for the call) in key order, more = 1 when
 * further rows match; rc < 0 on failure (n 0). */
typedef void (*hg_store_rows_cb)(void *ud, int rc, const hg_store_row_t *rows, size_t n, int more);
/* Up to limit (1..1000) records of coll whose keys start with prefix ("" for all) and sort after
 * `after` (NULL: from the first), ascending; or descending from before `after` when desc. */
void hg_store_scan(hg_store_t *s, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_rows_cb cb, void *ud);
/* One record (n = 1) or none (n = 0). */
void hg_store_get(hg_store_t *s, const char *coll, const char *key, hg_store_rows_cb cb, void *ud);
/* Who hears of the first failed commit (see "Failure" above). */
void hg_store_set_failure_cb(hg_store_t *s, hg_store_failure_cb cb, void *ud);
/* 1 once a transaction failed: every later commit fails too. */
int hg_store_fenced(const hg_store_t *s);

void hg_store_stats(const hg_store_t *s, hg_store_stats_t *out);

#endif
