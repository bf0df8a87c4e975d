/* hangar — the embedded SQLite store backend.
 *
 * One database file, <data dir>/hangar.db, in WAL mode with synchronous=FULL: a COMMIT returns
 * only after the WAL is fsynced, so a committed batch survives kill -9 and power loss.
 * Schema (version 2):
 *
 *     records(coll TEXT, key TEXT, value TEXT NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID
 *     events(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, type TEXT NOT NULL, player TEXT,
 *            attrs TEXT)                                       -- the event log (logs/logs.h)
 *       indexes events_type(type, id), events_player(player, id), events_time(time_ms),
 *               events_type_time(type, time_ms)               -- the retention sweep
 *
 * `records` holds every domain's state (and history such as ledgers and purchases, read back
 * with hg_store_scan); `events` holds the event log, in the same file so that an event commits
 * atomically with the change it records (a purchase and its payment event). Version 1 stores
 * (records only) get the events table and user_version 2 in one transaction when opened.
 *
 * History reads (hg_store_reads_t) use a second connection, opened read-only on the same file
 * and used only by the store's reader lane: in WAL mode it reads while the writer commits and
 * sees only committed transactions. Each read is one statement, reset when done, so no read
 * holds a snapshot (and holds back checkpoints) between pages.
 *
 * The write connection opens through a write-behind VFS shim (sqlite_wb.c): the WAL frames of
 * a commit and the pages of a checkpoint go to the file in a few large writes instead of two
 * system calls per page.
 *
 * apply() runs on the store writer lane thread, which owns the write connection after open;
 * load() (and a start-up put_now) runs on the loop thread while the store holds the writer off
 * (hg_lane_hold): the connection is opened without SQLite's mutex, so the two must never use it
 * at the same time. (Before the hold, clean-up commits queued by modules while loading ran on
 * the writer during later loads: after such a start every commit was acknowledged, yet none was
 * found after a kill -9. Seen once expired compute tokens were dropped at load.) The PostgreSQL
 * backend will keep the same table shape (`value JSONB`).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/sqlite_wb.h"
#include "store/store.h"

#define SCHEMA_VERSION 2

typedef struct sqlite_state {
    const hg_store_reads_t *reads; /* first: the store finds its history reads here */
    char *path;
    sqlite3 *db;
    sqlite3_stmt *ev_add;
    sqlite3_stmt *ev_del;
    sqlite3_stmt *put;
    sqlite3_stmt *del;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
} sqlite_state_t;

static int exec(sqlite3 *db, const char *sql, hg_error_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hg_error_set(err, HG_ESTORE, "sqlite: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return HG_ESTORE;
    }
    return 0;
}

/* 0 when what (a directory or file) can be written, else an error naming the reason. */
static int check_writable(const char *path, const char *what, hg_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return hg_error_set(err, -errno, "%s %s: %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode) != (strcmp(what, "data directory") == 0))
        return hg_error_set(err, HG_EINVAL, "%s %s is not a %s", what, path,
                            S_ISDIR(st.st_mode) ? "file" : "directory");
    if (access(path, W_OK) == 0)
        return 0;
    if (errno == EROFS)
        return hg_error_set(err, -errno, "%s %s is on a read-only file system", what, path);
    if (errno == EACCES || errno == EPERM)
        return hg_error_set(err, -errno, "%s %s is read-only for this user (permission denied)",
                            what, path);
    return hg_error_set(err, -errno, "%s %s cannot be written: %s", what, path, strerror(errno));
}

static const hg_store_reads_t sqlite_reads;

static void st_close(void *state)
{
    sqlite_state_t *st = state;
    if (st == NULL)
        return;
    sqlite3_finalize(st->ev_add);
    sqlite3_finalize(st->ev_del);
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->rollback);
    sqlite3_close(st->db);
    hg_free(st->path);
    hg_free(st);
}

/* Creates what a store of an older version lacks and records the schema version, in one
 * transaction, once: opening a current store writes nothing, so a store on a full disk still
 * opens (and serves reads) after a restart. Version 0 is a new file (records was just created),
 * 1 a store from before the event log. */
static int set_schema_version(sqlite3 *db, hg_error_t *err)
{
    sqlite3_stmt *q = NULL;
    int version = -1, rc;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version == SCHEMA_VERSION)
        return 0;
    if (version > SCHEMA_VERSION || version < 0)
        return hg_error_set(err, HG_ESTORE,
                            "the store has schema version %d; this hangard knows versions 0..%d",
                            version, SCHEMA_VERSION);
    if ((rc = exec(db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    if ((rc = exec(db,
                   "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY,"
                   " time_ms INTEGER NOT NULL, type TEXT NOT NULL, player TEXT, attrs TEXT);"
                   "CREATE INDEX IF NOT EXISTS events_type ON events(type, id);"
                   "CREATE INDEX IF NOT EXISTS events_player ON events(player, id);"
                   "CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);"
                   "CREATE INDEX IF NOT EXISTS events_type_time ON events(type, time_ms);"
                   "PRAGMA user_version=2",
                   err)) < 0 ||
        (rc = exec(db, "COMMIT", err)) < 0) {
        exec(db, "ROLLBACK", NULL);
        return rc;
    }
    if (version > 0)
        HG_LOG(HG_LOG_INFO, "store", "schema upgraded from=%d to=%d (event log)", version,
               SCHEMA_VERSION);
    return 0;
}

static int st_open(const char *dir, void **state, hg_error_t *err)
{
    int rc = HG_OK;
    hg_buf_t path;
    hg_buf_init(&path);
    sqlite_state_t *st = hg_calloc(1, sizeof(*st));

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        rc = hg_error_set(err, -errno, "cannot create data directory %s: %s", dir, strerror(errno));
        goto out;
    }
    hg_buf_printf(&path, "%s/hangar.db", dir);
    /* say why a store cannot be written before SQLite says "unable to open database file" */
    if ((rc = check_writable(dir, "data directory", err)) < 0 ||
        (access(path.data, F_OK) == 0 && (rc = check_writable(path.data, "store", err)) < 0))
        goto out;
    /* the writer's connection coalesces its writes (sqlite_wb.c); without the shim it would
     * only be slower */
    if (sqlite3_open_v2(
            path.data, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
            hg_sqlite_wb_register() == SQLITE_OK ? HG_SQLITE_WB_VFS : NULL) != SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "cannot open %s: %s", path.data,
                          st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if ((rc = exec(st->db, "PRAGMA journal_mode=WAL", err)) < 0 ||
        (rc = exec(st->db, "PRAGMA synchronous=FULL", err)) < 0 ||
        /* a page cache that holds the hot part of the table (the default 2 MB made commits read
         * pages back), and WAL checkpoints every 10,000 pages instead of 1,000: the checkpoint
         * runs inside a commit, so fewer, larger ones keep commits short (bench/README.md) */
        (rc = exec(st->db, "PRAGMA cache_size=-65536", err)) < 0 ||
        (rc = exec(st->db, "PRAGMA wal_autocheckpoint=10000", err)) < 0 ||
        (rc = exec(st->db, "PRAGMA journal_size_limit=67108864", err)) < 0 ||
        (rc = exec(st->db,
                   "CREATE TABLE IF NOT EXISTS records(coll TEXT NOT NULL, key TEXT NOT NULL,"
                   " value TEXT NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID",
                   err)) < 0 ||
        (rc = set_schema_version(st->db, err)) < 0)
        goto out;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO events(id,time_ms,type,player,attrs) VALUES(?,?,?,?,?)", -1,
                           &st->ev_add, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "DELETE FROM events WHERE id=?", -1, &st->ev_del, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO records(coll,key,value) VALUES(?,?,?)",
                           -1, &st->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "DELETE FROM records WHERE coll=? AND key=?", -1, &st->del,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "BEGIN IMMEDIATE", -1, &st->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "COMMIT", -1, &st->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "ROLLBACK", -1, &st->rollback, NULL) != SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "sqlite prepare: %s", sqlite3_errmsg(st->db));
        goto out;
    }
    chmod(path.data, 0600);
    st->reads = &sqlite_reads;
    st->path = hg_strdup(path.data);
    *state = st;
    st = NULL;
out:
    st_close(st);
    hg_buf_free(&path);
    return rc;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, i);
}

static int step_reset(sqlite3_stmt *stmt)
{
    int r = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return r == SQLITE_DONE ? 0 : HG_ESTORE;
}

static int st_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    sqlite_state_t *st = state;
    int rc = step_reset(st->begin);
    if (rc < 0) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite begin: %s", sqlite3_errmsg(st->db));
        return rc;
    }
    for (size_t i = 0; i < nops && rc == 0; i++) {
        const hg_store_op_t *op = ops[i];
        sqlite3_stmt *stmt;
        switch (op->kind) {
        case HG_STORE_EVENT_ADD:
            stmt = st->ev_add;
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)op->ev_id);
            sqlite3_bind_int64(stmt, 2, op->ev_time_ms);
            sqlite3_bind_text(stmt, 3, op->ev_type, -1, SQLITE_STATIC);
            bind_text_or_null(stmt, 4, op->ev_player);
            bind_text_or_null(stmt, 5, op->ev_attrs);
            break;
        case HG_STORE_EVENT_DEL:
            stmt = st->ev_del;
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)op->ev_id);
            break;
        default:
            stmt = op->kind == HG_STORE_PUT ? st->put : st->del;
            sqlite3_bind_text(stmt, 1, op->coll, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, op->key, -1, SQLITE_STATIC);
            if (op->kind == HG_STORE_PUT)
                sqlite3_bind_text(stmt, 3, op->value, -1, SQLITE_STATIC);
            break;
        }
        rc = step_reset(stmt);
    }
    if (rc == 0)
        rc = step_reset(st->commit);
    if (rc < 0) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite apply: %s", sqlite3_errmsg(st->db));
        step_reset(st->rollback);
    }
    /* nothing stays buffered between transactions: with synchronous=FULL the COMMIT's syncs
     * already wrote it all; a failure here stays with the file for SQLite's next call */
    if (hg_sqlite_wb_flush(st->db) != SQLITE_OK)
        HG_LOG(HG_LOG_WARN, "store", "sqlite: a buffered write after the transaction failed");
    return rc;
}

static int st_load(void *state, const char *coll, hg_store_load_cb cb, void *ud)
{
    sqlite_state_t *st = state;
    sqlite3_stmt *q = NULL;
    int rc = HG_OK;
    if (sqlite3_prepare_v2(st->db, "SELECT key, value FROM records WHERE coll=? ORDER BY key", -1,
                           &q, NULL) != SQLITE_OK)
        return HG_ESTORE;
    sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        json_error_t jerr;
        json_t *v = json_loads((const char *)sqlite3_column_text(q, 1), 0, &jerr);
        if (v == NULL) {
            HG_LOG(HG_LOG_ERROR, "store", "corrupt record coll=%s key=%s: %s", coll,
                   (const char *)sqlite3_column_text(q, 0), jerr.text);
            rc = HG_ESTORE;
            goto out;
        }
        int stop = cb(ud, (const char *)sqlite3_column_text(q, 0), v);
        json_decref(v);
        if (stop) {
            rc = stop < 0 ? stop : 0;
            goto out;
        }
    }
    if (r != SQLITE_DONE)
        rc = HG_ESTORE;
out:
    sqlite3_finalize(q);
    return rc;
}

/* ---- history reads: the reader connection (the store's reader lane only) ---- */

#define EVENT_QUERY_SHAPES 32 /* type, player, from, to, by_time: one statement each */

typedef struct sqlite_reader {
    sqlite3 *db;
    sqlite3_stmt *scan[8]; /* by shape: desc | after << 1 | upper << 2 */
    sqlite3_stmt *get;
    sqlite3_stmt *next_type;
    sqlite3_stmt *events[EVENT_QUERY_SHAPES];
} sqlite_reader_t;

static void rd_close(void *reader)
{
    sqlite_reader_t *rd = reader;
    if (rd == NULL)
        return;
    for (size_t i = 0; i < 8; i++)
        sqlite3_finalize(rd->scan[i]);
    for (size_t i = 0; i < EVENT_QUERY_SHAPES; i++)
        sqlite3_finalize(rd->events[i]);
    sqlite3_finalize(rd->get);
    sqlite3_finalize(rd->next_type);
    sqlite3_close(rd->db);
    hg_free(rd);
}

static int rd_open(void *state, void **reader, hg_error_t *err)
{
    sqlite_state_t *st = state;
    sqlite_reader_t *rd = hg_calloc(1, sizeof(*rd));
    int rc = HG_OK;
    if (sqlite3_open_v2(st->path, &rd->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "cannot open %s for reading: %s", st->path,
                          rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(rd->db, 5000);
    if (sqlite3_prepare_v2(rd->db, "SELECT key, value FROM records WHERE coll=?1 AND key=?2", -1,
                           &rd->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(rd->db, "SELECT type FROM events WHERE type > ?1 ORDER BY type LIMIT 1",
                           -1, &rd->next_type, NULL) != SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "sqlite prepare (reader): %s", sqlite3_errmsg(rd->db));
        goto out;
    }
    *reader = rd;
    rd = NULL;
out:
    rd_close(rd);
    return rc;
}

/* A cached statement of the given shape, prepared on first use from sql. */
static sqlite3_stmt *rd_stmt(sqlite_reader_t *rd, sqlite3_stmt **slot, const char *sql)
{
    if (*slot == NULL && sqlite3_prepare_v2(rd->db, sql, -1, slot, NULL) != SQLITE_OK) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite prepare (reader): %s", sqlite3_errmsg(rd->db));
        *slot = NULL;
    }
    return *slot;
}

/* Step q to its end, handing each row to fn; resets q (no snapshot is kept). */
static int rd_rows(sqlite_reader_t *rd, sqlite3_stmt *q, hg_store_row_fn fn, void *ud)
{
    int r, rc = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if (fn(ud, (const char *)sqlite3_column_text(q, 0),
               (const char *)sqlite3_column_text(q, 1)))
            break;
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite read: %s", sqlite3_errmsg(rd->db));
        rc = HG_ESTORE;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

/* The smallest string greater than every string starting with prefix (bytes, memcmp order):
 * prefix with its last byte below 0xff incremented and what follows dropped. 0 when there is
 * none (an empty prefix, or all 0xff). */
static int prefix_upper(const char *prefix, char *out, size_t cap)
{
    size_t n = strlen(prefix);
    if (n >= cap)
        return 0;
    memcpy(out, prefix, n);
    while (n > 0 && (unsigned char)out[n - 1] == 0xff)
        n--;
    if (n == 0)
        return 0;
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    out[n] = '\0';
    return 1;
}

static int rd_scan(void *reader, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_row_fn fn, void *ud)
{
    sqlite_reader_t *rd = reader;
    char upper_buf[256];
    size_t plen = strlen(prefix);
    char *alloc = plen < sizeof(upper_buf) ? NULL : hg_malloc(plen + 1);
    char *upper = alloc ? alloc : upper_buf;
    int rc;
    if (!prefix_upper(prefix, upper, plen + 1))
        upper = NULL;
    int shape = (desc ? 1 : 0) | (after ? 2 : 0) | (upper ? 4 : 0);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT key, value FROM records WHERE coll=?1 AND key >= ?2%s%s ORDER BY key %s "
             "LIMIT ?5",
             after ? (desc ? " AND key < ?3" : " AND key > ?3") : "", upper ? " AND key < ?4" : "",
             desc ? "DESC" : "ASC");
    sqlite3_stmt *q = rd_stmt(rd, &rd->scan[shape], sql);
    if (q == NULL) {
        rc = HG_ESTORE;
        goto out;
    }
    sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, prefix, -1, SQLITE_STATIC);
    if (after)
        sqlite3_bind_text(q, 3, after, -1, SQLITE_STATIC);
    if (upper)
        sqlite3_bind_text(q, 4, upper, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)limit);
    rc = rd_rows(rd, q, fn, ud);
out:
    hg_free(alloc);
    return rc;
}

static int rd_get(void *reader, const char *coll, const char *key, hg_store_row_fn fn, void *ud)
{
    sqlite_reader_t *rd = reader;
    sqlite3_bind_text(rd->get, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd->get, 2, key, -1, SQLITE_STATIC);
    return rd_rows(rd, rd->get, fn, ud);
}

static int rd_events(void *reader, const hg_store_event_query_t *eq, hg_store_event_fn fn, void *ud)
{
    sqlite_reader_t *rd = reader;
    int has_from = eq->from_ms != INT64_MIN, has_to = eq->to_ms != INT64_MAX;
    int shape = (eq->type ? 1 : 0) | (eq->player ? 2 : 0) | (has_from ? 4 : 0) | (has_to ? 8 : 0) |
                (eq->by_time ? 16 : 0);
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT id, time_ms, type, player, attrs FROM events WHERE %s%s%s%s%s ORDER BY %s "
             "LIMIT ?7",
             eq->by_time ? "1" : "id > ?1", eq->type ? " AND type = ?2" : "",
             eq->player ? " AND player = ?3" : "", has_from ? " AND time_ms >= ?4" : "",
             has_to ? " AND time_ms < ?5" : "", eq->by_time ? "time_ms, id" : "id");
    sqlite3_stmt *q = rd_stmt(rd, &rd->events[shape], sql);
    if (q == NULL)
        return HG_ESTORE;
    if (!eq->by_time)
        sqlite3_bind_int64(q, 1, (sqlite3_int64)eq->after_id);
    if (eq->type)
        sqlite3_bind_text(q, 2, eq->type, -1, SQLITE_STATIC);
    if (eq->player)
        sqlite3_bind_text(q, 3, eq->player, -1, SQLITE_STATIC);
    if (has_from)
        sqlite3_bind_int64(q, 4, eq->from_ms);
    if (has_to)
        sqlite3_bind_int64(q, 5, eq->to_ms);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)eq->limit);
    int r, rc = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        hg_store_event_t ev = {
            .id = (uint64_t)sqlite3_column_int64(q, 0),
            .time_ms = sqlite3_column_int64(q, 1),
            .type = (const char *)sqlite3_column_text(q, 2),
            .player = (const char *)sqlite3_column_text(q, 3),
            .attrs = (const char *)sqlite3_column_text(q, 4),
        };
        if (ev.type == NULL)
            ev.type = "";
        if (fn(ud, &ev))
            break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite event read: %s", sqlite3_errmsg(rd->db));
        rc = HG_ESTORE;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

/* One index seek per type: SELECT DISTINCT would walk every row of each type. */
static int rd_event_types(void *reader, const char *after, size_t limit, hg_store_name_fn fn,
                          void *ud)
{
    sqlite_reader_t *rd = reader;
    char *cur = hg_strdup(after);
    int rc = 0;
    for (size_t i = 0; i < limit; i++) {
        sqlite3_bind_text(rd->next_type, 1, cur, -1, SQLITE_STATIC);
        int r = sqlite3_step(rd->next_type);
        if (r == SQLITE_DONE) {
            sqlite3_reset(rd->next_type);
            break;
        }
        if (r != SQLITE_ROW) {
            HG_LOG(HG_LOG_ERROR, "store", "sqlite type read: %s", sqlite3_errmsg(rd->db));
            sqlite3_reset(rd->next_type);
            rc = HG_ESTORE;
            break;
        }
        char *next = hg_strdup((const char *)sqlite3_column_text(rd->next_type, 0));
        sqlite3_reset(rd->next_type);
        hg_free(cur);
        cur = next;
        if (fn(ud, cur))
            break;
    }
    sqlite3_clear_bindings(rd->next_type);
    hg_free(cur);
    return rc;
}

/* Loop thread, writer held (start-up). */
static int st_last_event_id(void *state, uint64_t *out)
{
    sqlite_state_t *st = state;
    sqlite3_stmt *q = NULL;
    int rc = HG_ESTORE;
    *out = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT max(id) FROM events", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(q, 0); /* NULL (no events) reads as 0 */
        rc = 0;
    } else {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite last event id: %s", sqlite3_errmsg(st->db));
    }
    sqlite3_finalize(q);
    return rc;
}

static const hg_store_reads_t sqlite_reads = {
    .version = HG_STORE_READS_VERSION,
    .reader_open = rd_open,
    .reader_close = rd_close,
    .scan = rd_scan,
    .get = rd_get,
    .events = rd_events,
    .event_types = rd_event_types,
    .last_event_id = st_last_event_id,
};

const hg_store_backend_t hg_store_sqlite = {
    .version = HG_STORE_BACKEND_VERSION,
    .name = "sqlite",
    .open = st_open,
    .load = st_load,
    .apply = st_apply,
    .close = st_close,
};
