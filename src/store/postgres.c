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
 * The lease (docs/cluster.md): one partition, "all", held by one node at a time in
 * partitions(id, owner, epoch, lease_until). open() takes it (free, expired, or held under this
 * node's name; the epoch goes up every time) or fails HG_ENOTREADY (the daemon stands by); a
 * thread of its own renews it every third of the lease and marks it lost when another node took
 * it or it could not be renewed in time; every commit first runs hangar_fence(partition, node,
 * epoch) inside its transaction, which holds the row FOR SHARE and raises unless the lease is
 * still this node's: a takeover waits for a commit in flight, and a commit after it fails. A
 * lost connection fails the batch (the store fences, as on a SQLite error, and the daemon
 * serves again from the store).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/store.h"

#include <time.h>
#include <uv.h>

#define PG_SCHEMA_VERSION 3
#define PG_LOCK_KEY 0x68616e676172LL /* "hangar": the schema's advisory lock */
#define PG_PARTITION "all"           /* the one partition until DESIGN.md §5's split lands */
#define PG_NODE_MAX 128

/* This process's identity and lease length (hg_store_postgres_configure). */
/* What /metrics shows (hg_store_postgres_stats); written by the writer lane and the renewer. */
static hg_store_pg_stats_t stats;

void hg_store_postgres_stats(hg_store_pg_stats_t *out)
{
    out->owned = __atomic_load_n(&stats.owned, __ATOMIC_RELAXED);
    out->epoch = __atomic_load_n(&stats.epoch, __ATOMIC_RELAXED);
    out->renewals = __atomic_load_n(&stats.renewals, __ATOMIC_RELAXED);
    out->lost = __atomic_load_n(&stats.lost, __ATOMIC_RELAXED);
    out->commits = __atomic_load_n(&stats.commits, __ATOMIC_RELAXED);
    out->commit_ns_total = __atomic_load_n(&stats.commit_ns_total, __ATOMIC_RELAXED);
    out->commit_ns_max = __atomic_load_n(&stats.commit_ns_max, __ATOMIC_RELAXED);
}

static char node_id[PG_NODE_MAX] = "hangard";
static char node_addr[160] = "";
static int64_t lease_ms = HG_STORE_PG_LEASE_MS;

void hg_store_postgres_configure(const char *node, const char *addr, int64_t lease)
{
    snprintf(node_id, sizeof(node_id), "%s", node);
    snprintf(node_addr, sizeof(node_addr), "%s", addr ? addr : "");
    lease_ms = lease > 0 ? lease : HG_STORE_PG_LEASE_MS;
}

typedef struct pg_state {
    const hg_store_reads_t *reads; /* first: the store finds its history reads here */
    char *conninfo;
    PGconn *db;
    /* the lease on PG_PARTITION: its fencing token, and the thread that renews it */
    char node[PG_NODE_MAX], addr[160], epoch[24];
    int64_t lease_ms;
    PGconn *renew_db;
    pthread_t renewer;
    int renewer_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping; /* under mu */
    int lost;     /* atomic: the renewer found the lease gone (another node took over) */
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
    "CREATE TABLE IF NOT EXISTS hangar_schema(version int NOT NULL);"
    /* version 2: the lease (DESIGN.md §5) and the fencing check every commit runs first */
    "CREATE TABLE IF NOT EXISTS partitions(id text COLLATE \"C\" PRIMARY KEY, owner text NOT NULL,"
    " epoch bigint NOT NULL, lease_until timestamptz NOT NULL);"
    "CREATE OR REPLACE FUNCTION hangar_fence(p text, o text, e bigint) RETURNS void"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " PERFORM 1 FROM partitions WHERE id = p AND owner = o AND epoch = e FOR SHARE;"
    " IF NOT FOUND THEN RAISE EXCEPTION 'hangar: % does not hold partition % at epoch % (fenced)',"
    " o, p, e; END IF; END $$;"
    /* the owner's address, where standby nodes relay their clients (daemon/interim.c) */
    "ALTER TABLE partitions ADD COLUMN IF NOT EXISTS addr text;";

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

PGconn *hg_store_pg_connectdb(const char *conninfo)
{
    if (strstr(conninfo, "connect_timeout")) /* the URI says: as it says */
        return PQconnectdb(conninfo);
    /* a host that does not answer (a blackhole, a firewall) would block this thread for the
     * kernel's SYN retries (about two minutes) */
    const char *const keys[] = {"dbname", "connect_timeout", NULL};
    const char *const values[] = {conninfo, HG_STORE_PG_CONNECT_TIMEOUT_S, NULL};
    return PQconnectdbParams(keys, values, 1);
}

static int pg_connect(const char *conninfo, PGconn **out, hg_error_t *err)
{
    PGconn *db = hg_store_pg_connectdb(conninfo);
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

static void renewer_stop(pg_state_t *st)
{
    if (!st->renewer_on)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->renewer, NULL);
    st->renewer_on = 0;
}

static void st_close(void *state)
{
    pg_state_t *st = state;
    if (st == NULL)
        return;
    renewer_stop(st);
    if (st->db && st->epoch[0] && !__atomic_load_n(&st->lost, __ATOMIC_SEQ_CST)) {
        /* a graceful stop hands the partition over at once */
        const char *v[3] = {PG_PARTITION, st->node, st->epoch};
        PQclear(PQexecParams(st->db,
                             "UPDATE partitions SET lease_until = clock_timestamp() WHERE id = $1 "
                             "AND owner = $2 AND epoch = $3",
                             3, NULL, v, NULL, NULL, 0));
    }
    if (st->renew_db)
        PQfinish(st->renew_db);
    if (st->db)
        PQfinish(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    hg_free(st->conninfo);
    hg_free(st);
}

static const hg_store_reads_t pg_reads;

/* Take the partition's lease: free, expired, or held by this node's name before (a restart
 * of the same node), always with a new epoch, which fences every earlier holder's commits.
 * HG_ENOTREADY while another node holds it (the daemon waits as a standby). */
static int lease_acquire(pg_state_t *st, hg_error_t *err)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)st->lease_ms);
    const char *v[4] = {PG_PARTITION, st->node, ms, st->addr};
    PGresult *r = PQexecParams(
        st->db,
        "INSERT INTO partitions(id, owner, epoch, lease_until, addr) VALUES($1, $2, 1, "
        "clock_timestamp() + $3 * interval '1 millisecond', $4) ON CONFLICT (id) DO UPDATE SET "
        "owner = excluded.owner, epoch = partitions.epoch + 1, lease_until = excluded.lease_until, "
        "addr = excluded.addr WHERE partitions.lease_until < clock_timestamp() OR "
        "partitions.owner = excluded.owner RETURNING epoch",
        4, NULL, v, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = hg_error_set(err, HG_ESTORE, "postgres lease: %s", PQerrorMessage(st->db));
    } else if (PQntuples(r) == 1) {
        snprintf(st->epoch, sizeof(st->epoch), "%s", PQgetvalue(r, 0, 0));
        __atomic_store_n(&stats.epoch, strtoull(st->epoch, NULL, 10), __ATOMIC_RELAXED);
        __atomic_store_n(&stats.owned, 1, __ATOMIC_RELAXED);
        HG_LOG(HG_LOG_INFO, "store", "lease taken partition=%s node=%s epoch=%s lease_ms=%lld",
               PG_PARTITION, st->node, st->epoch, (long long)st->lease_ms);
    } else {
        PQclear(r);
        const char *w[1] = {PG_PARTITION};
        r = PQexecParams(st->db,
                         "SELECT owner, epoch, greatest(0, (extract(epoch FROM lease_until - "
                         "clock_timestamp()) * 1000)::bigint) FROM partitions WHERE id = $1",
                         1, NULL, w, NULL, NULL, 0);
        int known = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        rc = hg_error_set(err, HG_ENOTREADY,
                          "partition %s is held by node %s (epoch %s) for %s ms more: standing by",
                          PG_PARTITION, known ? PQgetvalue(r, 0, 0) : "?",
                          known ? PQgetvalue(r, 0, 1) : "?", known ? PQgetvalue(r, 0, 2) : "?");
    }
    PQclear(r);
    return rc;
}

/* The renewer: every third of the lease, push lease_until forward while (owner, epoch) is still
 * ours. Finding it taken (another node's epoch) or not renewing it in time (PostgreSQL out of
 * reach) marks the lease lost: every commit from then on fails, before it is sent. */
static void *renewer_main(void *arg)
{
    pg_state_t *st = arg;
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)st->lease_ms);
    const char *v[4] = {PG_PARTITION, st->node, st->epoch, ms};
    uint64_t ok_at = uv_hrtime();
    pthread_mutex_lock(&st->mu);
    while (!st->stopping && !__atomic_load_n(&st->lost, __ATOMIC_SEQ_CST)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (st->lease_ms / 3) * 1000000LL;
        until.tv_sec += ns / 1000000000LL;
        until.tv_nsec = ns % 1000000000LL;
        pthread_cond_timedwait(&st->cv, &st->mu, &until);
        if (st->stopping)
            break;
        pthread_mutex_unlock(&st->mu);
        if (PQstatus(st->renew_db) != CONNECTION_OK)
            PQreset(st->renew_db);
        PGresult *r = PQexecParams(st->renew_db,
                                   "UPDATE partitions SET lease_until = clock_timestamp() + $4 * "
                                   "interval '1 millisecond' WHERE id = $1 AND owner = $2 AND "
                                   "epoch = $3",
                                   4, NULL, v, NULL, NULL, 0);
        int done = PQresultStatus(r) == PGRES_COMMAND_OK;
        int ours = done && strcmp(PQcmdTuples(r), "1") == 0;
        PQclear(r);
        if (ours) {
            ok_at = uv_hrtime();
            __atomic_add_fetch(&stats.renewals, 1, __ATOMIC_RELAXED);
        } else if (done || (uv_hrtime() - ok_at) / 1000000 >= (uint64_t)st->lease_ms) {
            HG_LOG(HG_LOG_ERROR, "store", "lease lost partition=%s epoch=%s: %s", PG_PARTITION,
                   st->epoch, done ? "another node holds it" : "not renewed in time");
            __atomic_store_n(&st->lost, 1, __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&stats.lost, 1, __ATOMIC_RELAXED);
            __atomic_store_n(&stats.owned, 0, __ATOMIC_RELAXED);
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static int st_open(const char *location, void **state, hg_error_t *err)
{
    pg_state_t *st = hg_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    snprintf(st->node, sizeof(st->node), "%s", node_id);
    snprintf(st->addr, sizeof(st->addr), "%s", node_addr);
    st->lease_ms = lease_ms;
    int rc;
    if ((rc = pg_connect(location, &st->db, err)) < 0 || (rc = pg_schema(st->db, err)) < 0 ||
        (rc = lease_acquire(st, err)) < 0 || (rc = pg_connect(location, &st->renew_db, err)) < 0 ||
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
    if (pthread_create(&st->renewer, NULL, renewer_main, st) != 0) {
        st_close(st);
        return hg_error_set(err, HG_ESTORE, "cannot start the lease renewer thread");
    }
    st->renewer_on = 1;
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
    if (__atomic_load_n(&st->lost, __ATOMIC_SEQ_CST)) {
        HG_LOG(HG_LOG_ERROR, "store", "commit refused: the lease on partition %s is lost",
               PG_PARTITION);
        return HG_ESTORE;
    }
    if (!PQenterPipelineMode(db)) {
        HG_LOG(HG_LOG_ERROR, "store", "postgres: %s", PQerrorMessage(db));
        return HG_ESTORE;
    }
    /* the fencing check first, inside the transaction: it holds the partition's row (FOR
     * SHARE) until COMMIT, so a node taking the lease over waits for this commit to end, and a
     * commit after the takeover fails */
    const char *fv[3] = {PG_PARTITION, st->node, st->epoch};
    int ok = PQsendQueryParams(db, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
             PQsendQueryParams(db, "SELECT hangar_fence($1, $2, $3)", 3, NULL, fv, NULL, NULL, 0);
    for (size_t i = 0; i < nops && ok; i++)
        ok = send_op(db, ops[i]);
    ok = ok && PQsendQueryParams(db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    ok = ok && PQpipelineSync(db);
    uint64_t t0 = uv_hrtime();
    int rc = ok ? collect(db, nops + 3) : HG_ESTORE;
    uint64_t ns = uv_hrtime() - t0;
    __atomic_add_fetch(&stats.commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stats.commit_ns_total, ns, __ATOMIC_RELAXED);
    if (ns > __atomic_load_n(&stats.commit_ns_max, __ATOMIC_RELAXED))
        __atomic_store_n(&stats.commit_ns_max, ns, __ATOMIC_RELAXED);
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
