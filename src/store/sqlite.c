/* hangar — the embedded SQLite store backend.
 *
 * Two database files in the data directory, both in WAL mode with synchronous=FULL: a COMMIT
 * returns only after the WAL is fsynced, so a committed batch survives kill -9 and power loss.
 * Schema (hangar.db user_version 4; history.db user_version 2):
 *
 *   hangar.db
 *     records(coll TEXT, key TEXT, value TEXT NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID
 *     events(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, type TEXT NOT NULL, player TEXT,
 *            attrs TEXT)                               -- the event log (logs/logs.h)
 *       indexes events_type(type, id), events_time(time_ms),
 *               events_type_time(type, time_ms)       -- the retention sweep
 *     journal0, journal1(seq INTEGER PRIMARY KEY, jseq, kind, coll, key, value)
 *                                                      -- history writes not folded yet
 *   history.db
 *     records(…as above…)                              -- the history collections' records
 *     folded(seq)                                      -- the last journal row folded in
 *     event_players(player, first, last, PRIMARY KEY (player, first)) WITHOUT ROWID
 *                                                      -- the event log's index by player: runs
 *                                                         of ids, every event in one the player's
 *
 * History (store/partition.h hg_store_is_history: a wallet, its ledger, purchases, receipts,
 * idempotency keys) is written on hot paths and read back as history. A batch writes its
 * history ops as one journal row, appended, in the same hangar.db transaction as its other ops (so
 * a purchase and its payment event commit together, and are acknowledged once that is
 * durable); the index lane folds the journal into history.db (st_index: the rows after
 * `folded`, sorted by collection and key, the last write of each record, in one history.db
 * transaction that moves `folded` on). A purchase's records thus reach their B-tree places
 * thousands at a time instead of each commit rewriting a page per record, and the fold runs
 * beside the writer, not in front of it. The writer empties folded journal tables (JOURNAL_SWITCH).
 * A crash between a fold and the deletion leaves rows at or below `folded`, skipped. Version 2
 * stores (one file) move their history records to history.db at open. The event log is not
 * history: it is appended in order already, and folding it only doubled its work (a fold of
 * 400,000 events took 11 s and fell behind ingest: bench/README.md). Its index by player is
 * history, though: an index of hangar.db's took an insert at a random place per event, in the
 * writer, and purchases fell from 11,000 to 6,500/s as it grew (bench/README.md). So an event
 * that names a player adds an entry to the batch's journal row (a run of consecutive ids of one
 * player, as a batch of events from one player or a purchase gets, is one entry), folded into
 * history.db's event_players with the rest; readers join it with m.events, and store.c holds
 * reads by player until the fold has caught up. A deleted event shrinks its run when it is at
 * either end (the retention sweep deletes oldest first) and leaves it otherwise: reads join with
 * the events, so a run may name ids that are gone. hangar.db 3 stores move their index
 * there at open (history.db 1 → 2: filled from the events, then the old index dropped).
 *
 * Connections and threads: the writer lane owns `db` (hangar.db); the index lane owns `hdb`
 * (history.db) and `jdb` (hangar.db, read-only, to read the journal); the reader lane has its
 * own connection (history.db, hangar.db attached read-only as `m`: plain records, events). In WAL
 * mode each reads while the others commit and sees only committed transactions; each read is one
 * statement, reset when done, so no read holds a snapshot (and holds back checkpoints) between
 * pages. load() and a start-up put_now run on the loop thread while the store holds the writer and
 * index lanes off (hg_lane_hold): the connections are opened without SQLite's mutex, so two
 * threads must never use one at the same time. (Before the hold, clean-up commits queued by
 * modules while loading ran on the writer during later loads: after such a start every commit
 * was acknowledged, yet none was found after a kill -9. Seen once expired compute tokens were
 * dropped at load.)
 *
 * The write connections open through a write-behind VFS shim (sqlite_wb.c): the WAL frames of
 * a commit and the pages of a checkpoint go to the file in a few large writes instead of two
 * system calls per page.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/map.h"
#include "store/partition.h"
#include "store/sqlite_wb.h"
#include "store/store.h"

#define SCHEMA_VERSION 4
#define HISTORY_VERSION 2
/* Rows, and about as many ops, a fold takes at most: two folds' worth at HG_STORE_JOURNAL_OPS. */
#define JOURNAL_FOLD_MAX 131072
#define HG_STR_(x) #x
#define HG_STR(x) HG_STR_(x)

typedef struct sqlite_state {
    const hg_store_reads_t *reads; /* first: the store finds its history reads here */
    char *path;                    /* hangar.db */
    char *hpath;                   /* history.db */
    /* the writer lane's: hangar.db (plain records, the event log, the journal) */
    sqlite3 *db;
    sqlite3_stmt *put;
    sqlite3_stmt *del;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *j_add[2];   /* into journal0, journal1 */
    sqlite3_stmt *j_clear[2]; /* DELETE FROM journalN: SQLite's truncate, page by page */
    sqlite3_stmt *ev_add;
    sqlite3_stmt *ev_del;
    hg_buf_t pack;      /* a batch's history ops, packed into its one journal row */
    uint32_t npack;     /* ops in it */
    uint64_t pack_jseq; /* the last op's transaction */
    int cur;            /* the journal table appended to */
    int64_t next_seq;   /* the next row's seq */
    int64_t rows[2];    /* ops in each table (a restart counts a packed row as one) */
    int64_t max_seq[2]; /* the largest seq in each (0: empty) */
    /* the index lane's: history.db (history records) and a read-only hangar.db (the journal) */
    sqlite3 *hdb;
    sqlite3 *jdb;
    sqlite3_stmt *h_put;
    sqlite3_stmt *h_del;
    struct evp_stmts {             /* event_players (write_event_player) */
        sqlite3_stmt *put, *find;  /* add a run; the run holding an id */
        sqlite3_stmt *del, *first; /* delete a run; change its first id */
        sqlite3_stmt *last;        /* its last id */
    } evp;
    /* st_apply: the first and last event op of the run it is journaling (NULL: none) */
    const hg_store_op_t *run_first, *run_last;
    sqlite3_stmt *h_begin;
    sqlite3_stmt *h_commit;
    sqlite3_stmt *h_rollback;
    sqlite3_stmt *h_mark;
    sqlite3_stmt *j_after;
    int64_t folded;          /* the last journal row in history.db */
    uint64_t folded_jseq;    /* every transaction <= this is folded (this run's numbers) */
    uint64_t last_jseq;      /* the last folded row's transaction */
    _Atomic int64_t gc_upto; /* the index lane tells the writer: rows <= this are folded */
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

/* The journal (store.h, "The journal"): one row per writer batch holding its history ops
 * (kind JOURNAL_PACKED, the ops in value: journal_add), appended (an INTEGER PRIMARY KEY given in
 * order: rows go to the last pages), folded into history.db by st_index; jseq is the batch's
 * last transaction number. A row of schema 3's first journal holds one op: kind its
 * hg_store_op_kind_t (a put or a delete: no event is history), coll, key, value a put's text,
 * jseq its transaction. Two tables, used in turn: the writer appends to one until it holds
 * JOURNAL_SWITCH ops and the other is empty, then to the other; a table
 * whose rows are all folded is emptied whole (DELETE without WHERE: SQLite frees its pages without
 * visiting a row). Deleting folded rows one by one cost the writer half of event ingest after a
 * purchase run (bench/README.md). seq runs on across both and across restarts. */
#define JOURNAL_TABLE(n)                                                                           \
    "CREATE TABLE IF NOT EXISTS journal" n "(seq INTEGER PRIMARY KEY, jseq INTEGER NOT NULL,"      \
    " kind INTEGER NOT NULL, coll TEXT NOT NULL, key TEXT NOT NULL, value TEXT);"
#define JOURNAL_SCHEMA JOURNAL_TABLE("0") JOURNAL_TABLE("1")
#define JOURNAL_COLUMNS "jseq, kind, coll, key, value"
#define RECORDS_SCHEMA                                                                             \
    "CREATE TABLE IF NOT EXISTS records(coll TEXT NOT NULL, key TEXT NOT NULL,"                    \
    " value TEXT NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID;"
#define EVENTS_SCHEMA                                                                              \
    "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"          \
    " type TEXT NOT NULL, player TEXT, attrs TEXT);"                                               \
    "CREATE INDEX IF NOT EXISTS events_type ON events(type, id);"                                  \
    "CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);"                                   \
    "CREATE INDEX IF NOT EXISTS events_type_time ON events(type, time_ms);"
/* history.db: the history records, how far the journal is folded in, the events' player index */
#define HISTORY_SCHEMA                                                                             \
    RECORDS_SCHEMA "CREATE TABLE IF NOT EXISTS folded(seq INTEGER NOT NULL);"                      \
                   "INSERT INTO folded SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM folded);"          \
                   "CREATE TABLE IF NOT EXISTS event_players(player TEXT NOT NULL, first INTEGER"  \
                   " NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (player, first)) WITHOUT ROWID;"

/* An SQL condition true for the history collections' records (hg_store_is_history). */
static void history_where(hg_buf_t *b)
{
    const char *names[32];
    int family[32];
    size_t n = hg_store_history_families(names, family, 32);
    hg_buf_puts(b, "(0");
    for (size_t i = 0; i < n && i < 32; i++) {
        if (family[i]) /* "<name>/…": keys from "<name>/" up to "<name>0" ('0' follows '/') */
            hg_buf_printf(b, " OR (coll >= '%s/' AND coll < '%s0')", names[i], names[i]);
        else
            hg_buf_printf(b, " OR coll = '%s'", names[i]);
    }
    hg_buf_puts(b, ")");
}

static void st_close(void *state)
{
    sqlite_state_t *st = state;
    if (st == NULL)
        return;
    sqlite3_stmt *stmts[] = {
        st->put,      st->del,        st->begin,   st->commit,    st->rollback,   st->j_add[0],
        st->j_add[1], st->h_put,      st->h_del,   st->ev_add,    st->ev_del,     st->h_begin,
        st->h_commit, st->h_rollback, st->h_mark,  st->j_after,   st->j_clear[0], st->j_clear[1],
        st->evp.put,  st->evp.find,   st->evp.del, st->evp.first, st->evp.last};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(st->db);
    sqlite3_close(st->hdb);
    sqlite3_close(st->jdb);
    hg_buf_free(&st->pack);
    hg_free(st->path);
    hg_free(st->hpath);
    hg_free(st);
}

/* The first n columns of the one row sql yields, as integers; HG_ESTORE when there is none. */
static int row_i64(sqlite3 *db, const char *sql, int64_t *out, int n)
{
    sqlite3_stmt *q = NULL;
    int rc = HG_ESTORE;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            out[i] = sqlite3_column_int64(q, i);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

static int user_version(sqlite3 *db)
{
    int64_t v;
    return row_i64(db, "PRAGMA user_version", &v, 1) < 0 ? -1 : (int)v;
}

/* Creates what a store of an older version lacks and records the schema version, once:
 * opening a current store writes nothing, so a store on a full disk still opens (and serves
 * reads) after a restart. Version 0 is a new file (records was just created), 1 a store from
 * before the event log, 2 one from before the journal and history.db: its history records move
 * to history.db (copied there first, in a transaction of history.db, then deleted here with the
 * version: a crash between the two copies again, which changes nothing), 3 one whose events
 * had their index by player in hangar.db (history_schema moved it first; dropped here). */
static int set_schema_version(sqlite_state_t *st, hg_error_t *err)
{
    int version = user_version(st->db), rc;
    if (version == SCHEMA_VERSION)
        return 0;
    if (version > SCHEMA_VERSION || version < 0)
        return hg_error_set(err, HG_ESTORE,
                            "the store has schema version %d; this hangard knows versions 0..%d",
                            version, SCHEMA_VERSION);
    hg_buf_t sql;
    hg_buf_init(&sql);
    if (version > 0 && version < 3) {
        char *attach =
            sqlite3_mprintf("ATTACH 'file:%q?mode=ro' AS old; BEGIN IMMEDIATE;", st->path);
        hg_buf_puts(&sql, attach);
        sqlite3_free(attach);
        hg_buf_puts(&sql, "INSERT OR REPLACE INTO main.records SELECT coll, key, value FROM "
                          "old.records WHERE ");
        history_where(&sql);
        hg_buf_puts(&sql, "; COMMIT; DETACH old;");
        if ((rc = exec(st->hdb, sql.data, err)) < 0) {
            exec(st->hdb, "ROLLBACK", NULL);
            exec(st->hdb, "DETACH old", NULL);
            goto out;
        }
    }
    sql.len = 0;
    hg_buf_puts(&sql, "BEGIN IMMEDIATE;" JOURNAL_SCHEMA EVENTS_SCHEMA
                      "DROP INDEX IF EXISTS events_player;");
    if (version > 0 && version < 3) {
        hg_buf_puts(&sql, "DELETE FROM records WHERE ");
        history_where(&sql);
        hg_buf_puts(&sql, ";");
    }
    hg_buf_puts(&sql, "PRAGMA user_version=" HG_STR(SCHEMA_VERSION) "; COMMIT");
    if ((rc = exec(st->db, sql.data, err)) < 0) {
        exec(st->db, "ROLLBACK", NULL);
        goto out;
    }
    if (version > 0)
        HG_LOG(HG_LOG_INFO, "store", "schema upgraded from=%d to=%d%s%s%s", version, SCHEMA_VERSION,
               version < 3 ? " (history records moved to " : "", version < 3 ? st->hpath : "",
               version < 3 ? ")" : "");
out:
    hg_buf_free(&sql);
    return rc;
}

/* history.db's tables, once (a current one is not written to: see set_schema_version). A
 * version 1 file gets event_players, filled from hangar.db's events (when it has them) in the
 * same transaction as the version: hangar.db's own index is dropped after, by
 * set_schema_version. */
static int history_schema(sqlite_state_t *st, hg_error_t *err)
{
    int version = user_version(st->hdb), rc;
    if (version == HISTORY_VERSION)
        return 0;
    if (version > HISTORY_VERSION || version < 0)
        return hg_error_set(err, HG_ESTORE,
                            "%s has schema version %d; this hangard knows versions 0..%d",
                            st->hpath, version, HISTORY_VERSION);
    int64_t has_events = 0;
    if (row_i64(st->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='events'",
                &has_events, 1) < 0)
        return hg_error_set(err, HG_ESTORE, "sqlite: %s: %s", st->path, sqlite3_errmsg(st->db));
    hg_buf_t sql;
    hg_buf_init(&sql);
    if (has_events) {
        char *attach = sqlite3_mprintf("ATTACH 'file:%q?mode=ro' AS m;", st->path);
        hg_buf_puts(&sql, attach);
        sqlite3_free(attach);
    }
    hg_buf_puts(&sql, "BEGIN IMMEDIATE;" HISTORY_SCHEMA);
    if (has_events)
        hg_buf_puts(&sql, "INSERT OR IGNORE INTO main.event_players SELECT player, id, id FROM "
                          "m.events WHERE player IS NOT NULL;");
    hg_buf_puts(&sql, "PRAGMA user_version=" HG_STR(HISTORY_VERSION) "; COMMIT;");
    if (has_events)
        hg_buf_puts(&sql, "DETACH m;");
    if ((rc = exec(st->hdb, sql.data, err)) < 0) {
        exec(st->hdb, "ROLLBACK", NULL);
        if (has_events)
            exec(st->hdb, "DETACH m", NULL);
    } else if (has_events) {
        HG_LOG(HG_LOG_INFO, "store", "schema upgraded: the events' index by player moved to %s",
               st->hpath);
    }
    hg_buf_free(&sql);
    return rc;
}

/* Open one of the store's files for writing, through the write-behind shim, with our pragmas:
 * WAL, synchronous=FULL (a COMMIT returns once the WAL is fsynced), a page cache that holds
 * the hot part of a table (the default 2 MB made commits read pages back), and checkpoints every
 * 10,000 pages instead of 1,000: the checkpoint runs inside a commit, so fewer, larger ones keep
 * commits short (bench/README.md). */
static int open_rw(const char *path, sqlite3 **db, hg_error_t *err)
{
    int rc;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        hg_sqlite_wb_register() == SQLITE_OK ? HG_SQLITE_WB_VFS : NULL) !=
        SQLITE_OK)
        return hg_error_set(err, HG_ESTORE, "cannot open %s: %s", path,
                            *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_busy_timeout(*db, 5000);
    if ((rc = exec(*db, "PRAGMA journal_mode=WAL", err)) < 0 ||
        (rc = exec(*db, "PRAGMA synchronous=FULL", err)) < 0 ||
        (rc = exec(*db, "PRAGMA cache_size=-65536", err)) < 0 ||
        (rc = exec(*db, "PRAGMA wal_autocheckpoint=10000", err)) < 0 ||
        (rc = exec(*db, "PRAGMA journal_size_limit=67108864", err)) < 0)
        return rc;
    chmod(path, 0600);
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, hg_error_t *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return hg_error_set(err, HG_ESTORE, "sqlite prepare: %s: %s", sql, sqlite3_errmsg(db));
    return 0;
}

static int st_open(const char *dir, void **state, hg_error_t *err)
{
    int rc = HG_OK;
    hg_buf_t path;
    hg_buf_init(&path);
    sqlite_state_t *st = hg_calloc(1, sizeof(*st));
    hg_buf_init(&st->pack);

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        rc = hg_error_set(err, -errno, "cannot create data directory %s: %s", dir, strerror(errno));
        goto out;
    }
    hg_buf_printf(&path, "%s/hangar.db", dir);
    st->path = hg_strdup(path.data);
    path.len = 0;
    hg_buf_printf(&path, "%s/history.db", dir);
    st->hpath = hg_strdup(path.data);
    /* say why a store cannot be written before SQLite says "unable to open database file" */
    if ((rc = check_writable(dir, "data directory", err)) < 0 ||
        (access(st->path, F_OK) == 0 && (rc = check_writable(st->path, "store", err)) < 0) ||
        (access(st->hpath, F_OK) == 0 && (rc = check_writable(st->hpath, "store", err)) < 0))
        goto out;
    int had_history = access(st->hpath, F_OK) == 0;
    if ((rc = open_rw(st->path, &st->db, err)) < 0 || (rc = exec(st->db, RECORDS_SCHEMA, err)) < 0)
        goto out;
    if (!had_history && user_version(st->db) >= 3) { /* never make an empty one in its place */
        rc = hg_error_set(err, HG_ESTORE,
                          "%s is missing: the store's wallets and their history live there "
                          "(restore it with %s from the same backup)",
                          st->hpath, st->path);
        goto out;
    }
    if ((rc = open_rw(st->hpath, &st->hdb, err)) < 0 || (rc = history_schema(st, err)) < 0 ||
        (rc = set_schema_version(st, err)) < 0)
        goto out;
    if (sqlite3_open_v2(st->path, &st->jdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "cannot open %s for reading: %s", st->path,
                          st->jdb ? sqlite3_errmsg(st->jdb) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(st->jdb, 5000);
    if ((rc = prepare(st->db, "INSERT OR REPLACE INTO records(coll,key,value) VALUES(?,?,?)",
                      &st->put, err)) < 0 ||
        (rc = prepare(st->db, "DELETE FROM records WHERE coll=? AND key=?", &st->del, err)) < 0 ||
        (rc = prepare(st->db, "BEGIN IMMEDIATE", &st->begin, err)) < 0 ||
        (rc = prepare(st->db, "COMMIT", &st->commit, err)) < 0 ||
        (rc = prepare(st->db, "ROLLBACK", &st->rollback, err)) < 0 ||
        (rc = prepare(st->db, "INSERT INTO journal0(seq, " JOURNAL_COLUMNS ") VALUES(?,?,?,?,?,?)",
                      &st->j_add[0], err)) < 0 ||
        (rc = prepare(st->db, "INSERT INTO journal1(seq, " JOURNAL_COLUMNS ") VALUES(?,?,?,?,?,?)",
                      &st->j_add[1], err)) < 0 ||
        (rc = prepare(st->db, "DELETE FROM journal0", &st->j_clear[0], err)) < 0 ||
        (rc = prepare(st->db, "DELETE FROM journal1", &st->j_clear[1], err)) < 0 ||
        (rc = prepare(st->hdb, "INSERT OR REPLACE INTO records(coll,key,value) VALUES(?,?,?)",
                      &st->h_put, err)) < 0 ||
        (rc = prepare(st->hdb, "DELETE FROM records WHERE coll=? AND key=?", &st->h_del, err)) <
            0 ||
        (rc = prepare(st->hdb, "INSERT OR IGNORE INTO event_players VALUES(?1,?2,?3)", &st->evp.put,
                      err)) < 0 ||
        (rc = prepare(st->hdb,
                      "SELECT first, last FROM event_players WHERE player=?1 AND first<=?2 "
                      "ORDER BY first DESC LIMIT 1",
                      &st->evp.find, err)) < 0 ||
        (rc = prepare(st->hdb, "DELETE FROM event_players WHERE player=?1 AND first=?2",
                      &st->evp.del, err)) < 0 ||
        (rc = prepare(st->hdb, "UPDATE event_players SET first=?3 WHERE player=?1 AND first=?2",
                      &st->evp.first, err)) < 0 ||
        (rc = prepare(st->hdb, "UPDATE event_players SET last=?3 WHERE player=?1 AND first=?2",
                      &st->evp.last, err)) < 0 ||
        (rc = prepare(st->db, "INSERT INTO events(id,time_ms,type,player,attrs) VALUES(?,?,?,?,?)",
                      &st->ev_add, err)) < 0 ||
        (rc = prepare(st->db, "DELETE FROM events WHERE id=?", &st->ev_del, err)) < 0 ||
        (rc = prepare(st->hdb, "BEGIN IMMEDIATE", &st->h_begin, err)) < 0 ||
        (rc = prepare(st->hdb, "COMMIT", &st->h_commit, err)) < 0 ||
        (rc = prepare(st->hdb, "ROLLBACK", &st->h_rollback, err)) < 0 ||
        (rc = prepare(st->hdb, "UPDATE folded SET seq=?", &st->h_mark, err)) < 0 ||
        (rc = prepare(st->jdb,
                      "SELECT seq, " JOURNAL_COLUMNS
                      " FROM journal0 WHERE seq > ?1 UNION ALL SELECT seq, " JOURNAL_COLUMNS
                      " FROM journal1 WHERE seq > ?1 ORDER BY 1 LIMIT " HG_STR(JOURNAL_FOLD_MAX),
                      &st->j_after, err)) < 0)
        goto out;
    if (row_i64(st->hdb, "SELECT seq FROM folded", &st->folded, 1) < 0) {
        rc = hg_error_set(err, HG_ESTORE, "sqlite: %s: %s", st->hpath, sqlite3_errmsg(st->hdb));
        goto out;
    }
    atomic_store(&st->gc_upto, st->folded);
    /* where the journal stands: each table's rows and largest seq; append after the largest */
    for (int t = 0; t < 2; t++) {
        char sql[80];
        int64_t v[2];
        snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(max(seq), 0) FROM journal%d", t);
        if (row_i64(st->db, sql, v, 2) < 0) {
            rc = hg_error_set(err, HG_ESTORE, "sqlite: %s: %s", st->path, sqlite3_errmsg(st->db));
            goto out;
        }
        st->rows[t] = v[0];
        st->max_seq[t] = v[1];
    }
    st->cur = st->max_seq[1] > st->max_seq[0];
    st->next_seq = (st->max_seq[st->cur] > st->folded ? st->max_seq[st->cur] : st->folded) + 1;
    st->reads = &sqlite_reads;
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

/* ---- the journal ---- */

static int op_is_history(const hg_store_op_t *op)
{
    return (op->kind == HG_STORE_PUT || op->kind == HG_STORE_DEL) && hg_store_is_history(op->coll);
}

/* An op of the event log's player index (an event's add or delete), not of a record. */
static int kind_is_event(int kind)
{
    return kind == HG_STORE_EVENT_ADD || kind == HG_STORE_EVENT_DEL;
}

/* A writer batch's history ops go into one journal row (kind JOURNAL_PACKED; its value a blob):
 * a row per op cost the writer a B-tree insert each, a third of its time in a purchase run. The
 * blob, integers little-endian:
 *     u32 count, then per op: u64 jseq, u8 kind, u32 len + coll + NUL, u32 len + key + NUL,
 *     u32 len + 1 (0: no value) + value + NUL
 * An entry of the events' player index is an op of kind HG_STORE_EVENT_ADD (a run of ids:
 * its first as key, its last as value) or HG_STORE_EVENT_DEL (one id as key), the player as
 * coll, ids in 20 decimal digits (so that they sort as numbers). Rows of one op each (the journal
 * as schema 3 first wrote it) are still read. */
#define JOURNAL_PACKED 100
#define PACKED_OP_MIN 23 /* bytes of the shortest op: 8 + 1 + (4 + 1) × 2 + 4 */

static void pack_u32(hg_buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    hg_buf_append(b, x, 4);
}

/* A length field (prefix), then len bytes of s and a NUL. */
static void pack_str(hg_buf_t *b, uint32_t prefix, const char *s, size_t len)
{
    pack_u32(b, prefix);
    hg_buf_append(b, s, len);
    hg_buf_append(b, "", 1);
}

/* Writer: add one op to the batch's row (value NULL: none). */
static void journal_add(sqlite_state_t *st, uint64_t jseq, int kind, const char *coll,
                        const char *key, size_t kl, const char *value)
{
    if (st->npack == 0) {
        st->pack.len = 0;
        pack_u32(&st->pack, 0); /* the count, set at the end */
    }
    pack_u32(&st->pack, (uint32_t)jseq);
    pack_u32(&st->pack, (uint32_t)(jseq >> 32));
    unsigned char k = (unsigned char)kind;
    hg_buf_append(&st->pack, &k, 1);
    size_t cl = strlen(coll);
    pack_str(&st->pack, (uint32_t)cl, coll, cl);
    pack_str(&st->pack, (uint32_t)kl, key, kl);
    if (value) {
        size_t vl = strlen(value);
        pack_str(&st->pack, (uint32_t)vl + 1, value, vl);
    } else {
        pack_u32(&st->pack, 0);
    }
    st->npack++;
    st->pack_jseq = jseq;
}

static void journal_add_op(sqlite_state_t *st, const hg_store_op_t *op)
{
    journal_add(st, op->jseq, op->kind, op->coll, op->key, strlen(op->key),
                op->kind == HG_STORE_PUT ? op->value : NULL);
}

/* An event id as the player index's entries write it: 20 digits, so that ids sort as numbers. */
static void event_id_text(uint64_t id, char out[24])
{
    snprintf(out, 24, "%020llu", (unsigned long long)id);
}

/* Writer: the run of events being journaled, as one entry of the player index. */
static void journal_event_run(sqlite_state_t *st)
{
    if (st->run_first == NULL)
        return;
    char first[24], last[24];
    event_id_text(st->run_first->ev_id, first);
    event_id_text(st->run_last->ev_id, last);
    journal_add(st, st->run_last->jseq, HG_STORE_EVENT_ADD, st->run_last->ev_player, first, 20,
                last);
    st->run_first = st->run_last = NULL;
}

/* Writer: an event op naming a player (the ops outlive the batch). An add extends the run
 * (hg_store_event_run_extends); a delete is an entry of its own, after the run, in the
 * journal's order. */
static void journal_add_event(sqlite_state_t *st, const hg_store_op_t *op)
{
    if (hg_store_event_run_extends(st->run_last, op)) {
        st->run_last = op;
        return;
    }
    journal_event_run(st);
    if (op->kind == HG_STORE_EVENT_ADD) {
        st->run_first = st->run_last = op;
        return;
    }
    char id[24];
    event_id_text(op->ev_id, id);
    journal_add(st, op->jseq, op->kind, op->ev_player, id, 20, NULL);
}

/* Writer: append the batch's row, if it has ops. */
static int journal_flush(sqlite_state_t *st)
{
    if (st->npack == 0)
        return 0;
    unsigned char *n = (unsigned char *)st->pack.data;
    for (int i = 0; i < 4; i++)
        n[i] = (unsigned char)(st->npack >> (8 * i));
    sqlite3_stmt *q = st->j_add[st->cur];
    int64_t seq = st->next_seq++;
    sqlite3_bind_int64(q, 1, seq);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)st->pack_jseq);
    sqlite3_bind_int(q, 3, JOURNAL_PACKED);
    sqlite3_bind_text(q, 4, "", 0, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, "", 0, SQLITE_STATIC);
    sqlite3_bind_blob(q, 6, st->pack.data, (int)st->pack.len, SQLITE_STATIC);
    st->rows[st->cur] += st->npack;
    st->max_seq[st->cur] = seq;
    st->npack = 0;
    return step_reset(q);
}

/* One history op read back from the journal. */
typedef struct jrow {
    int64_t seq;   /* its row's */
    uint32_t idx;  /* its place in a packed row */
    uint64_t jseq; /* its transaction's */
    int kind;
    uint32_t rank; /* jrows_rank: the order of its collection (records first, then the index's) */
    const char *coll, *key, *value;
} jrow_t;

typedef struct jrows {
    jrow_t **v; /* into own's allocations */
    size_t n, cap;
    void **own;
    size_t nown, owncap;
    int64_t last_seq;   /* the last row read, */
    uint64_t last_jseq; /* its (last) transaction, */
    int last_packed;    /* and whether it holds whole transactions */
} jrows_t;

static void jrows_free(jrows_t *rows)
{
    for (size_t i = 0; i < rows->nown; i++)
        hg_free(rows->own[i]);
    hg_free(rows->own);
    hg_free(rows->v);
    memset(rows, 0, sizeof(*rows));
}

static void jrows_push(jrows_t *rows, jrow_t *r)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 1024;
        rows->v = hg_realloc(rows->v, rows->cap * sizeof(*rows->v));
    }
    rows->v[rows->n++] = r;
}

static void jrows_own(jrows_t *rows, void *p)
{
    if (rows->nown == rows->owncap) {
        rows->owncap = rows->owncap ? rows->owncap * 2 : 256;
        rows->own = hg_realloc(rows->own, rows->owncap * sizeof(*rows->own));
    }
    rows->own[rows->nown++] = p;
}

static int unpack_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
    if (end - *p < 4)
        return -1;
    *v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
         (uint32_t)(*p)[3] << 24;
    *p += 4;
    return 0;
}

/* A string of len bytes and its NUL at *p (in the caller's copy): NULL when it does not fit. */
static const char *unpack_str(const unsigned char **p, const unsigned char *end, uint32_t len)
{
    if ((size_t)(end - *p) < (size_t)len + 1 || (*p)[len] != '\0')
        return NULL;
    const char *s = (const char *)*p;
    *p += (size_t)len + 1;
    return s;
}

/* A packed row's ops (journal_add's blob), copied once and pointed into. */
static int jrow_unpack(sqlite3_stmt *q, jrows_t *rows)
{
    int64_t seq = sqlite3_column_int64(q, 0);
    const void *blob = sqlite3_column_blob(q, 5);
    size_t len = (size_t)sqlite3_column_bytes(q, 5);
    uint32_t n;
    const unsigned char *p = blob, *end;
    if (blob == NULL || unpack_u32(&p, p + len, &n) < 0 || n > len / PACKED_OP_MIN)
        return HG_ESTORE;
    char *mem = hg_malloc(n * sizeof(jrow_t) + len);
    jrows_own(rows, mem);
    jrow_t *r = (jrow_t *)mem;
    unsigned char *copy = (unsigned char *)(r + n);
    memcpy(copy, blob, len);
    p = copy + 4;
    end = copy + len;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t lo, hi, cl, kl, vl;
        if (unpack_u32(&p, end, &lo) < 0 || unpack_u32(&p, end, &hi) < 0 || p == end)
            return HG_ESTORE;
        r[i].seq = seq;
        r[i].idx = i;
        r[i].jseq = (uint64_t)hi << 32 | lo;
        r[i].kind = *p++;
        if (unpack_u32(&p, end, &cl) < 0 || (r[i].coll = unpack_str(&p, end, cl)) == NULL ||
            unpack_u32(&p, end, &kl) < 0 || (r[i].key = unpack_str(&p, end, kl)) == NULL ||
            unpack_u32(&p, end, &vl) < 0)
            return HG_ESTORE;
        r[i].value = NULL;
        if (vl && (r[i].value = unpack_str(&p, end, vl - 1)) == NULL)
            return HG_ESTORE;
        jrows_push(rows, &r[i]);
    }
    return p == end ? 0 : HG_ESTORE;
}

/* A row of SELECT seq, JOURNAL_COLUMNS: a packed one's ops, or the one op of an older row (its
 * strings after it in the same allocation). */
static int jrow_read(sqlite3_stmt *q, jrows_t *rows)
{
    rows->last_seq = sqlite3_column_int64(q, 0);
    rows->last_jseq = (uint64_t)sqlite3_column_int64(q, 1);
    rows->last_packed = sqlite3_column_int(q, 2) == JOURNAL_PACKED;
    if (rows->last_packed)
        return jrow_unpack(q, rows);
    const char *strs[3];
    size_t lens[3], total = sizeof(jrow_t);
    for (int i = 0; i < 3; i++) {
        strs[i] = (const char *)sqlite3_column_text(q, 3 + i);
        lens[i] = strs[i] ? (size_t)sqlite3_column_bytes(q, 3 + i) + 1 : 0;
        total += lens[i];
    }
    jrow_t *r = hg_malloc(total);
    jrows_own(rows, r);
    r->seq = rows->last_seq;
    r->idx = 0;
    r->jseq = rows->last_jseq;
    r->kind = sqlite3_column_int(q, 2);
    char *at = (char *)(r + 1);
    const char **outs[3] = {&r->coll, &r->key, &r->value};
    for (int i = 0; i < 3; i++) {
        *outs[i] = strs[i] ? memcpy(at, strs[i], lens[i]) : NULL;
        at += lens[i];
    }
    jrows_push(rows, r);
    return 0;
}

/* By collection (rank) and key (the order of the B-tree they go to), then the journal's order. */
static int cmp_jrow(const void *a, const void *b)
{
    const jrow_t *x = *(const jrow_t *const *)a, *y = *(const jrow_t *const *)b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A record's put (value NULL: "null") or delete, with the put and delete statements of the
 * table it goes to: a writer batch's plain op, or a folded journal row (history.db's, or a
 * reader's TEMP copy). */
static int write_record(sqlite3_stmt *put, sqlite3_stmt *del, int kind, const char *coll,
                        const char *key, const char *value)
{
    sqlite3_stmt *stmt = kind == HG_STORE_PUT ? put : del;
    sqlite3_bind_text(stmt, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    if (kind == HG_STORE_PUT)
        sqlite3_bind_text(stmt, 3, value ? value : "null", -1, SQLITE_STATIC);
    return step_reset(stmt);
}

/* The rows q yields (q reset after), or as many as give at least max_ops ops; *cut = 1 when
 * more may follow: it stopped so, or q's LIMIT (max_rows) was reached. */
static int jrows_read(sqlite3_stmt *q, jrows_t *rows, size_t max_rows, size_t max_ops, int *cut)
{
    int r, rc = 0;
    size_t nrows = 0;
    *cut = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if ((rc = jrow_read(q, rows)) < 0)
            break;
        if (++nrows >= max_rows || rows->n >= max_ops) {
            *cut = 1;
            break;
        }
    }
    sqlite3_reset(q);
    if (rc < 0)
        return rc;
    return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : HG_ESTORE;
}

/* stmt with the player (?1), a run's first id (?2) and, when it takes one, a number (?3) bound,
 * stepped once. */
static int evp_step(sqlite3_stmt *stmt, const char *player, int64_t first, int64_t n)
{
    sqlite3_bind_text(stmt, 1, player, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, first);
    if (sqlite3_bind_parameter_count(stmt) >= 3)
        sqlite3_bind_int64(stmt, 3, n);
    return step_reset(stmt);
}

/* An entry of the player index: a run of ids added, or one id deleted (its run shrinks when the
 * id is at either end, and is deleted with its only id). */
static int write_event_player(const struct evp_stmts *evp, const jrow_t *x)
{
    int64_t id = (int64_t)strtoull(x->key, NULL, 10);
    if (x->kind == HG_STORE_EVENT_ADD)
        return evp_step(evp->put, x->coll, id,
                        x->value ? (int64_t)strtoull(x->value, NULL, 10) : id);
    sqlite3_bind_text(evp->find, 1, x->coll, -1, SQLITE_STATIC);
    sqlite3_bind_int64(evp->find, 2, id);
    int r = sqlite3_step(evp->find);
    int64_t first = r == SQLITE_ROW ? sqlite3_column_int64(evp->find, 0) : 0;
    int64_t last = r == SQLITE_ROW ? sqlite3_column_int64(evp->find, 1) : 0;
    sqlite3_reset(evp->find);
    sqlite3_clear_bindings(evp->find);
    if (r != SQLITE_ROW)
        return r == SQLITE_DONE ? 0 : HG_ESTORE;
    if (id > last)
        return 0; /* in no run */
    if (first == last)
        return evp_step(evp->del, x->coll, first, 0);
    if (id == first)
        return evp_step(evp->first, x->coll, first, id + 1);
    if (id == last)
        return evp_step(evp->last, x->coll, first, id - 1);
    return 0; /* inside a run: reads skip it, as the event is gone */
}

typedef struct coll_name {
    int ev; /* 1: the player index's (coll is a player) */
    const char *coll;
    uint32_t id; /* its first-seen number */
} coll_name_t;

static int cmp_coll_name(const void *a, const void *b)
{
    const coll_name_t *x = a, *y = b;
    if (x->ev != y->ev)
        return x->ev - y->ev;
    return strcmp(x->coll, y->coll);
}

/* Give each row the rank of its collection among the rows' distinct ones (records first, then
 * the player index's entries), so that the sort compares an integer where it compared two
 * strings with long common prefixes ("wallet.ledger/07"): strcmp was 11% of a fold. */
static void jrows_rank(jrows_t *rows)
{
    hg_map_t seen[2];
    hg_map_init(&seen[0]);
    hg_map_init(&seen[1]);
    coll_name_t *names = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < rows->n; i++) {
        jrow_t *r = rows->v[i];
        int ev = kind_is_event(r->kind);
        uintptr_t id = (uintptr_t)hg_map_get(&seen[ev], r->coll);
        if (id == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = hg_realloc(names, cap * sizeof(*names));
            }
            names[n] = (coll_name_t){ev, r->coll, (uint32_t)n};
            id = ++n;
            hg_map_set(&seen[ev], r->coll, (void *)id);
        }
        r->rank = (uint32_t)(id - 1);
    }
    qsort(names, n, sizeof(*names), cmp_coll_name);
    uint32_t *rank = hg_malloc((n ? n : 1) * sizeof(*rank));
    for (size_t i = 0; i < n; i++)
        rank[names[i].id] = (uint32_t)i;
    for (size_t i = 0; i < rows->n; i++)
        rows->v[i]->rank = rank[rows->v[i]->rank];
    hg_free(rank);
    hg_free(names);
    hg_map_free(&seen[0]);
    hg_map_free(&seen[1]);
}

/* Apply rows sorted (cmp_jrow) with put and del, only the last write of each record, and the
 * player index's entries, every one, with evp (NULL: skipped). */
static int jrows_apply(sqlite3_stmt *put, sqlite3_stmt *del, const struct evp_stmts *evp,
                       jrows_t *rows)
{
    int rc = 0;
    if (rows->n) {
        jrows_rank(rows);
        qsort(rows->v, rows->n, sizeof(*rows->v), cmp_jrow);
    }
    for (size_t i = 0; i < rows->n && rc == 0; i++) {
        const jrow_t *x = rows->v[i], *next = i + 1 < rows->n ? rows->v[i + 1] : NULL;
        if (kind_is_event(x->kind)) {
            if (evp)
                rc = write_event_player(evp, x);
            continue;
        }
        if (next && next->rank == x->rank && strcmp(x->key, next->key) == 0)
            continue; /* a later write of the same record follows */
        rc = write_record(put, del, x->kind, x->coll, x->key, x->value);
    }
    return rc;
}

/* Index lane (or the loop at open): fold the journal rows after `folded` (JOURNAL_FOLD_MAX at
 * most: a fold's dirty pages must fit the page cache, or SQLite spills them mid-transaction and
 * a fold of 400,000 events took 11 s) into history.db in one transaction that also records how
 * far it folded; then the writer may delete them. */
static int st_index(void *state, uint64_t *upto, size_t *nrows)
{
    sqlite_state_t *st = state;
    jrows_t rows = {0};
    *nrows = 0;
    sqlite3_bind_int64(st->j_after, 1, st->folded);
    int cut;
    int rc = jrows_read(st->j_after, &rows, JOURNAL_FOLD_MAX, JOURNAL_FOLD_MAX, &cut);
    sqlite3_clear_bindings(st->j_after);
    if (rc < 0)
        HG_LOG(HG_LOG_ERROR, "store", "sqlite journal read: %s", sqlite3_errmsg(st->jdb));
    if (rc == 0 && rows.n) {
        int64_t last = rows.last_seq;
        uint64_t last_jseq = rows.last_jseq;
        rc = step_reset(st->h_begin);
        if (rc == 0)
            rc = jrows_apply(st->h_put, st->h_del, &st->evp, &rows);
        if (rc == 0) {
            sqlite3_bind_int64(st->h_mark, 1, last);
            rc = step_reset(st->h_mark);
        }
        if (rc == 0)
            rc = step_reset(st->h_commit);
        if (rc < 0) {
            HG_LOG(HG_LOG_ERROR, "store", "sqlite journal fold: %s", sqlite3_errmsg(st->hdb));
            step_reset(st->h_rollback);
        }
        if (hg_sqlite_wb_flush(st->hdb) != SQLITE_OK)
            HG_LOG(HG_LOG_WARN, "store", "sqlite: a buffered write after the transaction failed");
        if (rc == 0) {
            /* a read cut short after a row of one op may have left its transaction's other
             * rows: it counts as folded once the next fold reads past it (a packed row holds
             * its batch's transactions whole) */
            st->folded = last;
            st->last_jseq = last_jseq;
            st->folded_jseq = cut && !rows.last_packed ? last_jseq - 1 : last_jseq;
            atomic_store(&st->gc_upto, last);
            *nrows = rows.n;
        }
    }
    if (rc == 0 && rows.n == 0) /* nothing after the last row folded: its transaction is whole */
        st->folded_jseq = st->last_jseq;
    jrows_free(&rows);
    *upto = st->folded_jseq;
    return rc;
}

/* Ops a journal table takes before the writer turns to the other (once that one is empty). */
#define JOURNAL_SWITCH 65536

static int st_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    sqlite_state_t *st = state;
    int rc = step_reset(st->begin);
    if (rc < 0) {
        HG_LOG(HG_LOG_ERROR, "store", "sqlite begin: %s", sqlite3_errmsg(st->db));
        return rc;
    }
    /* the journal table not appended to, once folded whole, is emptied; the one appended to
     * changes when it is full and the other empty (a failed batch fences the store, so these
     * counts need no undo) */
    int other = !st->cur;
    if (st->rows[other] && atomic_load(&st->gc_upto) >= st->max_seq[other] &&
        (rc = step_reset(st->j_clear[other])) == 0)
        st->rows[other] = st->max_seq[other] = 0;
    if (rc == 0 && st->rows[st->cur] >= JOURNAL_SWITCH && st->rows[other] == 0)
        st->cur = other;
    for (size_t i = 0; i < nops && rc == 0; i++) {
        const hg_store_op_t *op = ops[i];
        if (op_is_history(op)) {
            journal_add_op(st, op);
            continue;
        }
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
            rc = write_record(st->put, st->del, op->kind, op->coll, op->key, op->value);
            continue;
        }
        rc = step_reset(stmt);
        if (op->jseq) /* an event naming a player: its entry of the player index */
            journal_add_event(st, op);
    }
    journal_event_run(st);
    if (rc == 0)
        rc = journal_flush(st);
    st->npack = 0; /* a failed batch drops its row (the store is fenced) */
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

/* Loop thread, both lanes held: a history collection from history.db (the journal was folded
 * at open), the others from hangar.db. */
static int st_load(void *state, const char *coll, hg_store_load_cb cb, void *ud)
{
    sqlite_state_t *st = state;
    sqlite3 *db = hg_store_is_history(coll) ? st->hdb : st->db;
    sqlite3_stmt *q = NULL;
    int rc = HG_OK;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM records WHERE coll=? ORDER BY key", -1, &q,
                           NULL) != SQLITE_OK)
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

/* One connection: history.db as main, hangar.db attached as `m` (plain records). */
typedef struct sqlite_reader {
    sqlite3 *db;
    sqlite3_stmt *scan[16]; /* by shape: desc | after << 1 | upper << 2 | plain << 3 */
    sqlite3_stmt *get[2];   /* history, plain */
    sqlite3_stmt *next_type;
    sqlite3_stmt *events[EVENT_QUERY_SHAPES];
} sqlite_reader_t;

static void rd_close(void *reader)
{
    sqlite_reader_t *rd = reader;
    if (rd == NULL)
        return;
    for (size_t i = 0; i < 16; i++)
        sqlite3_finalize(rd->scan[i]);
    sqlite3_finalize(rd->get[1]);
    for (size_t i = 0; i < EVENT_QUERY_SHAPES; i++)
        sqlite3_finalize(rd->events[i]);
    sqlite3_finalize(rd->get[0]);
    sqlite3_finalize(rd->next_type);
    sqlite3_close(rd->db);
    hg_free(rd);
}

static int rd_open(void *state, void **reader, hg_error_t *err)
{
    sqlite_state_t *st = state;
    sqlite_reader_t *rd = hg_calloc(1, sizeof(*rd));
    int rc = HG_OK;
    if (sqlite3_open_v2(st->hpath, &rd->db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                        NULL) != SQLITE_OK) {
        rc = hg_error_set(err, HG_ESTORE, "cannot open %s for reading: %s", st->hpath,
                          rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(rd->db, 5000);
    char *sql = sqlite3_mprintf("ATTACH 'file:%q?mode=ro' AS m", st->path);
    int attached = exec(rd->db, sql, err);
    sqlite3_free(sql);
    if ((rc = attached) < 0)
        goto out;
    if (sqlite3_prepare_v2(rd->db, "SELECT key, value FROM main.records WHERE coll=?1 AND key=?2",
                           -1, &rd->get[0], NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(rd->db, "SELECT key, value FROM m.records WHERE coll=?1 AND key=?2", -1,
                           &rd->get[1], NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(rd->db,
                           "SELECT type FROM m.events WHERE type > ?1 ORDER BY type LIMIT 1", -1,
                           &rd->next_type, NULL) != SQLITE_OK) {
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
    int plain = !hg_store_is_history(coll);
    int shape = (desc ? 1 : 0) | (after ? 2 : 0) | (upper ? 4 : 0) | (plain ? 8 : 0);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT key, value FROM %s.records WHERE coll=?1 AND key >= ?2%s%s ORDER BY key %s "
             "LIMIT ?5",
             plain ? "m" : "main", after ? (desc ? " AND key < ?3" : " AND key > ?3") : "",
             upper ? " AND key < ?4" : "", desc ? "DESC" : "ASC");
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
    sqlite3_stmt *q = rd->get[!hg_store_is_history(coll)];
    sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    return rd_rows(rd, q, fn, ud);
}

static int rd_events(void *reader, const hg_store_event_query_t *eq, hg_store_event_fn fn, void *ud)
{
    sqlite_reader_t *rd = reader;
    int has_from = eq->from_ms != INT64_MIN, has_to = eq->to_ms != INT64_MAX;
    int shape = (eq->type ? 1 : 0) | (eq->player ? 2 : 0) | (has_from ? 4 : 0) | (has_to ? 8 : 0) |
                (eq->by_time ? 16 : 0);
    char sql[640];
    /* by player: its runs of ids in the player index (history.db), from the one holding
     * after_id on, each joined with its events (a run's may include deleted ones); runs do not
     * overlap, so (first, id) is id order */
    snprintf(sql, sizeof(sql),
             "SELECT e.id, e.time_ms, e.type, e.player, e.attrs FROM %s WHERE %s%s%s%s%s ORDER BY "
             "%s LIMIT ?7",
             eq->player ? "main.event_players p CROSS JOIN m.events e ON e.id BETWEEN p.first AND "
                          "p.last AND e.player = p.player"
                        : "m.events e",
             eq->by_time  ? "1"
             : eq->player ? "e.id > ?1 AND p.first >= coalesce((SELECT max(first) FROM "
                            "main.event_players WHERE player = ?3 AND first <= ?1), 0)"
                          : "e.id > ?1",
             eq->type ? " AND e.type = ?2" : "", eq->player ? " AND p.player = ?3" : "",
             has_from ? " AND e.time_ms >= ?4" : "", has_to ? " AND e.time_ms < ?5" : "",
             eq->by_time  ? "e.time_ms, e.id"
             : eq->player ? "p.first, e.id"
                          : "e.id");
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
    .index = st_index,
};

/* ---- the journal for readers of the files (check, migrate) ---- */

int hg_store_sqlite_open_files(const char *dir, const char *jschema, sqlite3 **db, int *two,
                               char *path, size_t cap)
{
    snprintf(path, cap, "%s/history.db", dir);
    *two = access(path, F_OK) == 0;
    if (!*two)
        snprintf(path, cap, "%s/hangar.db", dir);
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        return HG_ESTORE;
    sqlite3_busy_timeout(*db, 5000);
    if (!*two)
        return 0;
    snprintf(path, cap, "%s/hangar.db", dir);
    char *attach = sqlite3_mprintf("ATTACH 'file:%q?mode=ro' AS %s", path, jschema);
    int rc = sqlite3_exec(*db, attach, NULL, NULL, NULL) == SQLITE_OK ? 0 : HG_ESTORE;
    sqlite3_free(attach);
    return rc;
}

int hg_store_sqlite_overlay(sqlite3 *db, const char *jschema)
{
    sqlite3_stmt *q = NULL;
    jrows_t rows = {0};
    sqlite3_stmt *put = NULL, *del = NULL;
    int rc = 0;
    char sql[640];
    /* the journal first: its snapshot, then history.db's (store.h says why that order) */
    snprintf(sql, sizeof(sql),
             "SELECT seq, " JOURNAL_COLUMNS
             " FROM %s.journal0 UNION ALL SELECT seq, " JOURNAL_COLUMNS
             " FROM %s.journal1 ORDER BY 1",
             jschema, jschema);
    int cut;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK ||
        jrows_read(q, &rows, SIZE_MAX, SIZE_MAX, &cut) < 0) {
        rc = HG_ESTORE;
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    int64_t folded;
    if ((rc = row_i64(db, "SELECT seq FROM main.folded", &folded, 1)) < 0)
        goto out;
    size_t keep = 0;
    for (size_t i = 0; i < rows.n; i++)
        if (rows.v[i]->seq > folded) /* the others are freed with rows */
            rows.v[keep++] = rows.v[i];
    rows.n = keep;
    if (keep == 0)
        goto out;
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE records(coll TEXT NOT NULL, key TEXT NOT NULL, value TEXT "
                     "NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID;"
                     "INSERT INTO temp.records SELECT coll, key, value FROM main.records",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO temp.records VALUES(?,?,?)", -1, &put,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM temp.records WHERE coll=? AND key=?", -1, &del, NULL) !=
            SQLITE_OK) {
        rc = HG_ESTORE;
        goto out;
    }
    rc = jrows_apply(put, del, NULL, &rows); /* records only */
out:
    sqlite3_finalize(q);
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    jrows_free(&rows);
    return rc < 0 ? rc : (int)(keep > INT32_MAX ? INT32_MAX : keep);
}
