/* hangar — the embedded SQLite store backend.
 *
 * One database file, <data dir>/hangar.db, in WAL mode with synchronous=FULL: a COMMIT returns
 * only after the WAL is fsynced, so a committed batch survives kill -9 and power loss.
 * Schema (version 1):
 *
 *     records(coll TEXT, key TEXT, value TEXT NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID
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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/store.h"

typedef struct sqlite_state {
    sqlite3 *db;
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

static void st_close(void *state)
{
    sqlite_state_t *st = state;
    if (st == NULL)
        return;
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->rollback);
    sqlite3_close(st->db);
    hg_free(st);
}

/* Records the schema version once: opening an existing store writes nothing, so a store on a
 * full disk still opens (and serves reads) after a restart. */
static int set_schema_version(sqlite3 *db, hg_error_t *err)
{
    sqlite3_stmt *q = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version == 1)
        return 0;
    if (version > 1)
        return hg_error_set(err, HG_ESTORE,
                            "the store has schema version %d; this hangard knows version 1",
                            version);
    return exec(db, "PRAGMA user_version=1", err);
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
    if (sqlite3_open_v2(path.data, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
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
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO records(coll,key,value) VALUES(?,?,?)",
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
    *state = st;
    st = NULL;
out:
    st_close(st);
    hg_buf_free(&path);
    return rc;
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
        sqlite3_stmt *stmt = op->kind == HG_STORE_PUT ? st->put : st->del;
        sqlite3_bind_text(stmt, 1, op->coll, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, op->key, -1, SQLITE_STATIC);
        if (op->kind == HG_STORE_PUT)
            sqlite3_bind_text(stmt, 3, op->value, -1, SQLITE_STATIC);
        rc = step_reset(stmt);
    }
    if (rc == 0)
        rc = step_reset(st->commit);
    if (rc < 0) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite apply: %s", sqlite3_errmsg(st->db));
        step_reset(st->rollback);
    }
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

const hg_store_backend_t hg_store_sqlite = {
    .version = HG_STORE_BACKEND_VERSION,
    .name = "sqlite",
    .open = st_open,
    .load = st_load,
    .apply = st_apply,
    .close = st_close,
};
