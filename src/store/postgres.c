/* hangar — the PostgreSQL store backend (cluster mode: ../shared/DESIGN.md §5, docs/cluster.md).
 *
 * The same records and event log as the embedded SQLite backend (store/sqlite.c), in a
 * PostgreSQL database named by a libpq connection URI (postgres://user@host:port/db?…):
 *
 *     records(coll text COLLATE "C", key text COLLATE "C", value text, PRIMARY KEY (coll, key))
 *     events(id bigint PRIMARY KEY, time_ms bigint, type text COLLATE "C", player text
 *            COLLATE "C", attrs text)  + the same four indexes as SQLite's
 *     hangar_schema(version int)       -- one row
 *
 * "C" collation: keys order and compare as bytes, as in SQLite, so a prefix scan and its
 * paging mean the same on both. Values are text, not JSONB: they are written and read back
 * whole, never queried inside, and JSONB would reorder keys and parse every write.
 *
 * Threads, as for SQLite: open, load and close run on the loop thread before and after serving;
 * apply runs on the store writer lane, which owns the writer connection after open; history
 * reads run on the reader lane with a connection of their own. libpq calls block their thread
 * only, never the loop. apply sends a whole batch in pipeline mode — BEGIN, every op, COMMIT,
 * then one sync — so a group commit costs one round trip and one WAL flush in PostgreSQL
 * (synchronous_commit as the server is configured: on, by default).
 *
 * Schema: created under an advisory lock (nodes starting together), versioned in
 * hangar_schema; a newer version than this build knows refuses to open.
 *
 * Not yet (issue #16): partitions, leases and the fencing check inside each commit; a lost
 * connection fails the batch (the store fences, as on a SQLite error) instead of reconnecting.
 */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/store.h"

#define PG_SCHEMA_VERSION 1
#define PG_LOCK_KEY 0x68616e676172LL /* "hangar": the schema's advisory lock */
#define PG_NODE_KEY 0x68616e676173LL /* held by the one node using the database */

typedef struct pg_state {
    const hg_store_reads_t *reads; /* first: the store finds its history reads here */
    char *conninfo;
    PGconn *db;
} pg_state_t;

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS records(coll text COLLATE \"C\" NOT NULL,"
    " key text COLLATE \"C\" NOT NULL, value text NOT NULL, PRIMARY KEY (coll, key));"
    "CREATE TABLE IF NOT EXISTS events(id bigint PRIMARY KEY, time_ms bigint NOT NULL,"
    " type text COLLATE \"C\" NOT NULL, player text COLLATE \"C\", attrs text);"
    "CREATE INDEX IF NOT EXISTS events_type ON events(type, id);"
    "CREATE INDEX IF NOT EXISTS events_player ON events(player, id);"
    "CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);"
    "CREATE INDEX IF NOT EXISTS events_type_time ON events(type, time_ms);"
    "CREATE TABLE IF NOT EXISTS hangar_schema(version int NOT NULL);";

/* Run sql (no parameters) and check it; the message into err. */
static int pg_exec(PGconn *db, const char *sql, hg_error_t *err)
{
    PGresult *r = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = hg_error_set(err, HG_ESTORE, "postgres: %s", PQerrorMessage(db));
    PQclear(r);
    return rc;
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("relation … already exists, skipping") are not our log's */
}

static int pg_connect(const char *conninfo, PGconn **out, hg_error_t *err)
{
    PGconn *db = PQconnectdb(conninfo);
    if (db == NULL)
        return hg_error_set(err, HG_ESTORE, "postgres: out of memory");
    if (PQstatus(db) != CONNECTION_OK) {
        int rc =
            hg_error_set(err, HG_ESTORE, "cannot connect to PostgreSQL: %s", PQerrorMessage(db));
        PQfinish(db);
        return rc;
    }
    PQsetNoticeProcessor(db, quiet, NULL);
    *out = db;
    return 0;
}

static int pg_schema(PGconn *db, hg_error_t *err)
{
    char sql[128];
    int rc;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", (long long)PG_LOCK_KEY);
    if ((rc = pg_exec(db, sql, err)) < 0)
        return rc;
    if ((rc = pg_exec(db, "BEGIN", err)) < 0 || (rc = pg_exec(db, schema_sql, err)) < 0)
        goto unlock;
    PGresult *r = PQexec(db, "SELECT max(version) FROM hangar_schema");
    int version = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                      ? atoi(PQgetvalue(r, 0, 0))
                      : 0;
    PQclear(r);
    if (version > PG_SCHEMA_VERSION) {
        rc = hg_error_set(err, HG_ESTORE,
                          "the PostgreSQL store has schema version %d; this hangard knows "
                          "versions 1..%d",
                          version, PG_SCHEMA_VERSION);
    } else if (version < PG_SCHEMA_VERSION) {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM hangar_schema; INSERT INTO hangar_schema VALUES(%d)",
                 PG_SCHEMA_VERSION);
        rc = pg_exec(db, sql, err);
    }
    if (rc == 0)
        rc = pg_exec(db, "COMMIT", err);
    else
        pg_exec(db, "ROLLBACK", NULL);
unlock:
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", (long long)PG_LOCK_KEY);
    pg_exec(db, sql, NULL);
    return rc;
}

static int pg_prepare(PGconn *db, const char *name, const char *sql, int nparams, hg_error_t *err)
{
    PGresult *r = PQprepare(db, name, sql, nparams, NULL);
    int rc =
        PQresultStatus(r) == PGRES_COMMAND_OK
            ? 0
            : hg_error_set(err, HG_ESTORE, "postgres prepare %s: %s", name, PQerrorMessage(db));
    PQclear(r);
    return rc;
}

static void st_close(void *state)
{
    pg_state_t *st = state;
    if (st == NULL)
        return;
    if (st->db)
        PQfinish(st->db);
    hg_free(st->conninfo);
    hg_free(st);
}

static const hg_store_reads_t pg_reads;

/* Until partitions and leases fence several nodes (#16), one node uses a database: its writer
 * connection holds a session advisory lock, which PostgreSQL drops with the connection. */
static int pg_claim(PGconn *db, hg_error_t *err)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", (long long)PG_NODE_KEY);
    PGresult *r = PQexec(db, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = hg_error_set(err, HG_ESTORE, "postgres: %s", PQerrorMessage(db));
    else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rc = hg_error_set(err, HG_ESTORE,
                          "another hangard is using this PostgreSQL database (one node per "
                          "database until cluster mode's leases)");
    PQclear(r);
    return rc;
}

static int st_open(const char *location, void **state, hg_error_t *err)
{
    pg_state_t *st = hg_calloc(1, sizeof(*st));
    int rc;
    if ((rc = pg_connect(location, &st->db, err)) < 0 || (rc = pg_claim(st->db, err)) < 0 ||
        (rc = pg_schema(st->db, err)) < 0 ||
        (rc = pg_prepare(st->db, "put",
                         "INSERT INTO records(coll, key, value) VALUES($1, $2, $3) ON CONFLICT "
                         "(coll, key) DO UPDATE SET value = excluded.value",
                         3, err)) < 0 ||
        (rc = pg_prepare(st->db, "del", "DELETE FROM records WHERE coll = $1 AND key = $2", 2,
                         err)) < 0 ||
        (rc = pg_prepare(st->db, "ev_add",
                         "INSERT INTO events(id, time_ms, type, player, attrs) "
                         "VALUES($1, $2, $3, $4, $5)",
                         5, err)) < 0 ||
        (rc = pg_prepare(st->db, "ev_del", "DELETE FROM events WHERE id = $1", 1, err)) < 0) {
        st_close(st);
        return rc;
    }
    st->conninfo = hg_strdup(location);
    st->reads = &pg_reads;
    *state = st;
    return 0;
}

/* Queue one op of the batch (pipeline mode). */
static int send_op(PGconn *db, const hg_store_op_t *op)
{
    char id[24], t[24];
    switch (op->kind) {
    case HG_STORE_PUT: {
        const char *v[3] = {op->coll, op->key, op->value};
        return PQsendQueryPrepared(db, "put", 3, v, NULL, NULL, 0);
    }
    case HG_STORE_DEL: {
        const char *v[2] = {op->coll, op->key};
        return PQsendQueryPrepared(db, "del", 2, v, NULL, NULL, 0);
    }
    case HG_STORE_EVENT_ADD: {
        snprintf(id, sizeof(id), "%llu", (unsigned long long)op->ev_id);
        snprintf(t, sizeof(t), "%lld", (long long)op->ev_time_ms);
        const char *v[5] = {id, t, op->ev_type, op->ev_player, op->ev_attrs};
        return PQsendQueryPrepared(db, "ev_add", 5, v, NULL, NULL, 0);
    }
    case HG_STORE_EVENT_DEL: {
        snprintf(id, sizeof(id), "%llu", (unsigned long long)op->ev_id);
        const char *v[1] = {id};
        return PQsendQueryPrepared(db, "ev_del", 1, v, NULL, NULL, 0);
    }
    }
    return 0;
}

/* Collect the results of n queued queries and the sync; 0 when every one succeeded. */
static int collect(PGconn *db, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        PGresult *r = PQgetResult(db);
        if (r == NULL)
            return HG_ESTORE; /* the connection broke */
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            HG_LOG(HG_LOG_ERROR, "store", "postgres apply: %s",
                   st == PGRES_PIPELINE_ABORTED ? "pipeline aborted" : PQresultErrorMessage(r));
            rc = HG_ESTORE;
        }
        PQclear(r);
        while ((r = PQgetResult(db)) != NULL) /* the end of this query's results */
            PQclear(r);
    }
    PGresult *r = PQgetResult(db);
    if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        rc = HG_ESTORE;
    PQclear(r);
    return rc;
}

static int st_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    pg_state_t *st = state;
    PGconn *db = st->db;
    if (!PQenterPipelineMode(db)) {
        HG_LOG(HG_LOG_ERROR, "store", "postgres: %s", PQerrorMessage(db));
        return HG_ESTORE;
    }
    int ok = PQsendQueryParams(db, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (size_t i = 0; i < nops && ok; i++)
        ok = send_op(db, ops[i]);
    ok = ok && PQsendQueryParams(db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    ok = ok && PQpipelineSync(db);
    int rc = ok ? collect(db, nops + 2) : HG_ESTORE;
    if (!ok)
        HG_LOG(HG_LOG_ERROR, "store", "postgres send: %s", PQerrorMessage(db));
    if (!PQexitPipelineMode(db))
        rc = HG_ESTORE;
    if (rc < 0 && PQstatus(db) == CONNECTION_OK)
        pg_exec(db, "ROLLBACK", NULL); /* an aborted transaction block stays open */
    return rc;
}

static int st_load(void *state, const char *coll, hg_store_load_cb cb, void *ud)
{
    pg_state_t *st = state;
    const char *v[1] = {coll};
    if (!PQsendQueryParams(st->db, "SELECT key, value FROM records WHERE coll = $1 ORDER BY key", 1,
                           NULL, v, NULL, NULL, 0) ||
        !PQsetSingleRowMode(st->db))
        return HG_ESTORE;
    int rc = 0, stop = 0;
    PGresult *r;
    while ((r = PQgetResult(st->db)) != NULL) {
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_SINGLE_TUPLE && rc == 0 && !stop) {
            json_error_t jerr;
            json_t *val = json_loads(PQgetvalue(r, 0, 1), 0, &jerr);
            if (val == NULL) {
                HG_LOG(HG_LOG_ERROR, "store", "corrupt record coll=%s key=%s: %s", coll,
                       PQgetvalue(r, 0, 0), jerr.text);
                rc = HG_ESTORE;
            } else {
                stop = cb(ud, PQgetvalue(r, 0, 0), val);
                json_decref(val);
                if (stop < 0)
                    rc = stop;
            }
        } else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && rc == 0) {
            HG_LOG(HG_LOG_ERROR, "store", "postgres load %s: %s", coll, PQresultErrorMessage(r));
            rc = HG_ESTORE;
        }
        PQclear(r); /* a stopped load still drains the rows (the connection must be idle) */
    }
    return rc;
}

/* ---- history reads: the reader connection (the store's reader lane only) ---- */

typedef struct pg_reader {
    PGconn *db;
} pg_reader_t;

static void rd_close(void *reader)
{
    pg_reader_t *rd = reader;
    if (rd == NULL)
        return;
    if (rd->db)
        PQfinish(rd->db);
    hg_free(rd);
}

static int rd_open(void *state, void **reader, hg_error_t *err)
{
    pg_state_t *st = state;
    pg_reader_t *rd = hg_calloc(1, sizeof(*rd));
    int rc = pg_connect(st->conninfo, &rd->db, err);
    if (rc < 0) {
        hg_free(rd);
        return rc;
    }
    *reader = rd;
    return 0;
}

/* Run a read and hand its (key, value) rows to fn. */
static int rd_rows(pg_reader_t *rd, const char *sql, int n, const char *const *v,
                   hg_store_row_fn fn, void *ud)
{
    PGresult *r = PQexecParams(rd->db, sql, n, NULL, v, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        HG_LOG(HG_LOG_ERROR, "store", "postgres read: %s", PQerrorMessage(rd->db));
        rc = HG_ESTORE;
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            if (fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)))
                break;
    }
    PQclear(r);
    return rc;
}

static int rd_scan(void *reader, const char *coll, const char *prefix, const char *after,
                   size_t limit, int desc, hg_store_row_fn fn, void *ud)
{
    char sql[320], lim[24];
    snprintf(lim, sizeof(lim), "%zu", limit);
    /* starts_with on a "C" column is a byte prefix; the (coll, key) index serves the range */
    snprintf(sql, sizeof(sql),
             "SELECT key, value FROM records WHERE coll = $1 AND key >= $2 AND "
             "starts_with(key, $2)%s ORDER BY key %s LIMIT $3",
             after ? (desc ? " AND key < $4" : " AND key > $4") : "", desc ? "DESC" : "ASC");
    const char *v[4] = {coll, prefix, lim, after};
    return rd_rows(reader, sql, after ? 4 : 3, v, fn, ud);
}

static int rd_get(void *reader, const char *coll, const char *key, hg_store_row_fn fn, void *ud)
{
    const char *v[2] = {coll, key};
    return rd_rows(reader, "SELECT key, value FROM records WHERE coll = $1 AND key = $2", 2, v, fn,
                   ud);
}

static int rd_events(void *reader, const hg_store_event_query_t *eq, hg_store_event_fn fn, void *ud)
{
    pg_reader_t *rd = reader;
    int has_from = eq->from_ms != INT64_MIN, has_to = eq->to_ms != INT64_MAX;
    char after[24], from[24], to[24], lim[24];
    snprintf(after, sizeof(after), "%llu", (unsigned long long)eq->after_id);
    snprintf(from, sizeof(from), "%lld", (long long)eq->from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)eq->to_ms);
    snprintf(lim, sizeof(lim), "%zu", eq->limit);
    /* parameters are numbered as they are used: $1.. in this order */
    const char *v[6];
    int n = 0;
    hg_buf_t sql;
    hg_buf_init(&sql);
    hg_buf_puts(&sql, "SELECT id, time_ms, type, player, attrs FROM events WHERE true");
    if (!eq->by_time) {
        v[n++] = after;
        hg_buf_printf(&sql, " AND id > $%d", n);
    }
    if (eq->type) {
        v[n++] = eq->type;
        hg_buf_printf(&sql, " AND type = $%d", n);
    }
    if (eq->player) {
        v[n++] = eq->player;
        hg_buf_printf(&sql, " AND player = $%d", n);
    }
    if (has_from) {
        v[n++] = from;
        hg_buf_printf(&sql, " AND time_ms >= $%d", n);
    }
    if (has_to) {
        v[n++] = to;
        hg_buf_printf(&sql, " AND time_ms < $%d", n);
    }
    v[n++] = lim;
    hg_buf_printf(&sql, " ORDER BY %s LIMIT $%d", eq->by_time ? "time_ms, id" : "id", n);
    PGresult *r = PQexecParams(rd->db, sql.data, n, NULL, v, NULL, NULL, 0);
    hg_buf_free(&sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        HG_LOG(HG_LOG_ERROR, "store", "postgres event read: %s", PQerrorMessage(rd->db));
        rc = HG_ESTORE;
    } else {
        for (int i = 0; i < PQntuples(r); i++) {
            hg_store_event_t ev = {
                .id = strtoull(PQgetvalue(r, i, 0), NULL, 10),
                .time_ms = strtoll(PQgetvalue(r, i, 1), NULL, 10),
                .type = PQgetvalue(r, i, 2),
                .player = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
                .attrs = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4),
            };
            if (fn(ud, &ev))
                break;
        }
    }
    PQclear(r);
    return rc;
}

/* One index seek per type, as on SQLite. */
static int rd_event_types(void *reader, const char *after, size_t limit, hg_store_name_fn fn,
                          void *ud)
{
    pg_reader_t *rd = reader;
    char *cur = hg_strdup(after);
    int rc = 0;
    for (size_t i = 0; i < limit; i++) {
        const char *v[1] = {cur};
        PGresult *r =
            PQexecParams(rd->db, "SELECT type FROM events WHERE type > $1 ORDER BY type LIMIT 1", 1,
                         NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            HG_LOG(HG_LOG_ERROR, "store", "postgres type read: %s", PQerrorMessage(rd->db));
            PQclear(r);
            rc = HG_ESTORE;
            break;
        }
        if (PQntuples(r) == 0) {
            PQclear(r);
            break;
        }
        hg_free(cur);
        cur = hg_strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (fn(ud, cur))
            break;
    }
    hg_free(cur);
    return rc;
}

/* Loop thread, writer held (start-up). */
static int st_last_event_id(void *state, uint64_t *out)
{
    pg_state_t *st = state;
    PGresult *r = PQexec(st->db, "SELECT coalesce(max(id), 0) FROM events");
    int rc = 0;
    *out = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        *out = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    else {
        HG_LOG(HG_LOG_ERROR, "store", "postgres last event id: %s", PQerrorMessage(st->db));
        rc = HG_ESTORE;
    }
    PQclear(r);
    return rc;
}

static const hg_store_reads_t pg_reads = {
    .version = HG_STORE_READS_VERSION,
    .reader_open = rd_open,
    .reader_close = rd_close,
    .scan = rd_scan,
    .get = rd_get,
    .events = rd_events,
    .event_types = rd_event_types,
    .last_event_id = st_last_event_id,
};

const hg_store_backend_t hg_store_postgres = {
    .version = HG_STORE_BACKEND_VERSION,
    .name = "postgres",
    .open = st_open,
    .load = st_load,
    .apply = st_apply,
    .close = st_close,
};
