/* hangar — the PostgreSQL store backend (cluster mode: ../shared/DESIGN.md §5, docs/cluster.md).
 *
 * The same records and event log as the embedded SQLite backend (store/sqlite.c), in a
 * PostgreSQL database named by a libpq connection URI (postgres://user@host:port/db?…):
 *
 *     records(coll text COLLATE "C", key text COLLATE "C", value text, PRIMARY KEY (coll, key))
 *     events(id bigint PRIMARY KEY, time_ms bigint, type text COLLATE "C", player text
 *            COLLATE "C", attrs text)  + the same four indexes as SQLite's
 *     hangar_schema(version int)       -- one row
 *     hangar_cluster_secret(secret text) -- one row: signs a standby's PROXY headers
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
 * hangar_schema; a newer version than this build knows refuses to open. The cluster secret is
 * created there too, once (random, from the first node to open the store), and read at every
 * open: the nodes share it through the database they already trust with everything else
 * (docs/cluster.md, "The client's address").
 *
 * The leases (docs/cluster.md): one row per partition of the fixed set (store/partition.h) in
 * partitions(id, owner, epoch, lease_until, addr); one node at a time holds them all (spreading
 * them over the nodes is the next step). open() takes every one in one transaction — each must be
 * free, expired, or held under this node's name; each row's epoch goes up — or fails
 * HG_ENOTREADY (the daemon stands by); a thread of its own renews them all every third of the
 * lease with one statement and marks them lost when that statement did not renew every one
 * (another node took one) or could not run in time. Every commit first runs
 * hangar_fence_many(partitions, node, epochs) inside its transaction, for the distinct partitions
 * its ops touch (hg_partition_of()): it holds those rows FOR SHARE and raises unless each is
 * still this node's at the epoch it took: a takeover waits for a commit in flight, and a commit
 * after it fails. A lost connection fails the batch (the store fences, as on a SQLite error, and
 * the daemon serves again from the store).
 *
 * Lock order: everything that locks several partition rows — the fence (FOR SHARE), a renewal
 * or release (FOR NO KEY UPDATE), a takeover (FOR UPDATE) — locks them in id order, so a
 * renewal waits for a commit in flight instead of deadlocking with its fence. A renewal or a
 * takeover gives every row the same lease_until, from the statement's start
 * (statement_timestamp(): waiting for those locks only shortens the lease, never lengthens it).
 */
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/partition.h"
#include "store/store.h"

#include <time.h>
#include <uv.h>

#define PG_SCHEMA_VERSION 4          /* 4: a row per partition of the set, hangar_fence_many */
#define PG_LOCK_KEY 0x68616e676172LL /* "hangar": the schema's advisory lock */
#define PG_PARTITION_V3 "all"        /* version 3's one partition, migrated to the set */
#define PG_NODE_MAX 128
/* A text[] literal of partition names, and a bigint[] one of their epochs, for all of them */
#define PG_IDS_TEXT_MAX (HG_PARTITIONS * HG_PARTITION_NAME_MAX + 3)
#define PG_EPOCHS_TEXT_MAX (HG_PARTITIONS * 21 + 3)

int hg_store_postgres_unmapped_ok;

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
static char cluster_secret[HG_STORE_PG_SECRET_MAX + 1]; /* read at open (loop thread) */
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
    /* the leases: every partition's fencing token (all held once open() returns), the same as
     * array literals for the renewer, and the thread that renews them */
    char node[PG_NODE_MAX], addr[160], epoch[24]; /* epoch: control's, for logs */
    int64_t epochs[HG_PARTITIONS];
    int held; /* open() took every partition */
    char held_ids[PG_IDS_TEXT_MAX], held_epochs[PG_EPOCHS_TEXT_MAX];
    char fence_ids[PG_IDS_TEXT_MAX], fence_epochs[PG_EPOCHS_TEXT_MAX]; /* the writer lane's */
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
    "CREATE TABLE IF NOT EXISTS hangar_cluster_secret(secret text NOT NULL);"
    /* version 2: the lease (DESIGN.md §5) and the fencing check every commit runs first */
    "CREATE TABLE IF NOT EXISTS partitions(id text COLLATE \"C\" PRIMARY KEY, owner text NOT NULL,"
    " epoch bigint NOT NULL, lease_until timestamptz NOT NULL);"
    "CREATE OR REPLACE FUNCTION hangar_fence(p text, o text, e bigint) RETURNS void"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " PERFORM 1 FROM partitions WHERE id = p AND owner = o AND epoch = e FOR SHARE;"
    " IF NOT FOUND THEN RAISE EXCEPTION 'hangar: % does not hold partition % at epoch % (fenced)',"
    " o, p, e; END IF; END $$;"
    /* the owner's address, where standby nodes relay their clients (daemon/interim.c) */
    "ALTER TABLE partitions ADD COLUMN IF NOT EXISTS addr text;"
    /* version 4: the fence of a batch's distinct partitions, in one call; the rows locked in id
     * order (the lock order above). It raises unless every (p[i], e[i]) is o's. */
    "CREATE OR REPLACE FUNCTION hangar_fence_many(p text[], o text, e bigint[]) RETURNS void"
    " LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN"
    " PERFORM 1 FROM partitions t, unnest(p, e) AS h(id, epoch) WHERE t.id = h.id AND"
    " t.owner = o AND t.epoch = h.epoch ORDER BY t.id FOR SHARE OF t;"
    " GET DIAGNOSTICS n = ROW_COUNT;"
    " IF n <> cardinality(p) THEN RAISE EXCEPTION"
    " 'hangar: % does not hold partitions % at epochs % (fenced)', o, p, e; END IF; END $$;";

/* Renew (or, with $4 = 0, release) every partition this node holds at the epochs it took: one
 * statement, all or nothing — when any one is no longer ours it renews none (the row count is 0),
 * as the one lease of version 3 did, so the others run out a lease after the last renewal. The
 * rows are locked in id order first (the lock order above). $1 owner, $2 text[] ids, $3 bigint[]
 * epochs, $4 milliseconds. */
static const char *const renew_sql =
    "WITH held AS MATERIALIZED (SELECT t.id FROM partitions t, unnest($2::text[], $3::bigint[]) "
    "AS h(id, epoch) WHERE t.id = h.id AND t.owner = $1 AND t.epoch = h.epoch ORDER BY t.id FOR "
    "NO KEY UPDATE OF t) UPDATE partitions p SET lease_until = statement_timestamp() + $4 * "
    "interval '1 millisecond' FROM held WHERE p.id = held.id AND (SELECT count(*) FROM held) = "
    "cardinality($2::text[])";

/* A text[] literal of the partitions flagged in which (every one when NULL): "{control,p00}". */
static void ids_literal(char out[PG_IDS_TEXT_MAX], const uint8_t *which)
{
    size_t at = 0;
    out[at++] = '{';
    for (int i = 0; i < HG_PARTITIONS; i++) {
        if (which && !which[i])
            continue;
        if (out[at - 1] != '{')
            out[at++] = ',';
        at += hg_partition_name(i, out + at);
    }
    out[at++] = '}';
    out[at] = '\0';
}

/* The bigint[] literal of the epochs of the partitions flagged in which, in the same order. */
static void epochs_literal(char out[PG_EPOCHS_TEXT_MAX], const int64_t *epochs,
                           const uint8_t *which)
{
    size_t at = 0;
    out[at++] = '{';
    for (int i = 0; i < HG_PARTITIONS; i++) {
        if (which && !which[i])
            continue;
        if (out[at - 1] != '{')
            out[at++] = ',';
        at += (size_t)snprintf(out + at, PG_EPOCHS_TEXT_MAX - at, "%lld", (long long)epochs[i]);
    }
    out[at++] = '}';
    out[at] = '\0';
}

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

/* Inside the schema's transaction: one row per partition of the set. A version 3 store's one
 * partition, "all", hands its owner, epoch, lease and address to every partition, then goes: a
 * version 3 node still serving finds its lease gone (its fence and renewal match no row) and a
 * version 3 node starting refuses the newer schema, while this node takes the partitions over
 * as it would have taken "all" (free, expired or its own; epoch + 1). Partitions still missing
 * are inserted free (no owner, epoch 0, expired). Idempotent: it runs at every open. */
static int pg_partitions(PGconn *db, hg_error_t *err)
{
    char ids[PG_IDS_TEXT_MAX];
    ids_literal(ids, NULL);
    hg_buf_t sql;
    hg_buf_init(&sql);
    hg_buf_printf(&sql,
                  "INSERT INTO partitions(id, owner, epoch, lease_until, addr) SELECT s.id, "
                  "a.owner, a.epoch, a.lease_until, a.addr FROM unnest('%s'::text[]) AS s(id), "
                  "partitions a WHERE a.id = '%s' ON CONFLICT (id) DO NOTHING;"
                  "DELETE FROM partitions WHERE id = '%s';"
                  "INSERT INTO partitions(id, owner, epoch, lease_until) SELECT s.id, '', 0, "
                  "'-infinity' FROM unnest('%s'::text[]) AS s(id) ON CONFLICT (id) DO NOTHING;",
                  ids, PG_PARTITION_V3, PG_PARTITION_V3, ids);
    int rc = pg_exec(db, sql.data, err);
    hg_buf_free(&sql);
    return rc;
}

/* The cluster secret: created once (32 random bytes, as hex) by the first node, read by all.
 * Runs in pg_schema's transaction, under its advisory lock, so two nodes never create two. */
static int pg_secret(PGconn *db, hg_error_t *err)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 1], sql[256];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return hg_error_set(err, HG_ESTORE, "cannot make a cluster secret: no randomness");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    snprintf(sql, sizeof(sql),
             "INSERT INTO hangar_cluster_secret SELECT '%s' WHERE NOT EXISTS (SELECT 1 FROM "
             "hangar_cluster_secret)",
             hex);
    OPENSSL_cleanse(raw, sizeof(raw));
    int rc = pg_exec(db, sql, err);
    OPENSSL_cleanse(sql, sizeof(sql));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (rc < 0)
        return rc;
    PGresult *r = PQexec(db, HG_STORE_PG_SECRET_SQL);
    size_t len =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? strlen(PQgetvalue(r, 0, 0)) : 0;
    if (len < HG_STORE_PG_SECRET_MIN || len > HG_STORE_PG_SECRET_MAX)
        rc = hg_error_set(err, HG_ESTORE,
                          "hangar_cluster_secret must hold one secret of %d to %d bytes",
                          HG_STORE_PG_SECRET_MIN, HG_STORE_PG_SECRET_MAX);
    else
        memcpy(cluster_secret, PQgetvalue(r, 0, 0), len + 1);
    PQclear(r);
    return rc;
}

size_t hg_store_postgres_secret(char out[HG_STORE_PG_SECRET_MAX + 1])
{
    size_t len = strlen(cluster_secret);
    memcpy(out, cluster_secret, len + 1);
    return len;
}

static int pg_schema(PGconn *db, hg_error_t *err)
{
    char sql[128];
    int rc;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", (long long)PG_LOCK_KEY);
    if ((rc = pg_exec(db, sql, err)) < 0)
        return rc;
    if ((rc = pg_exec(db, "BEGIN", err)) < 0 || (rc = pg_exec(db, schema_sql, err)) < 0 ||
        (rc = pg_partitions(db, err)) < 0 || (rc = pg_secret(db, err)) < 0) {
        pg_exec(db, "ROLLBACK", NULL);
        goto unlock;
    }
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
    if (st->db && st->held && !__atomic_load_n(&st->lost, __ATOMIC_SEQ_CST)) {
        /* a graceful stop hands the partitions over at once: the renewal with no time left */
        const char *v[4] = {st->node, st->held_ids, st->held_epochs, "0"};
        PQclear(PQexecParams(st->db, renew_sql, 4, NULL, v, NULL, NULL, 0));
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

/* Take every partition's lease: each free, expired, or held by this node's name before (a
 * restart of the same node), always with its epoch + 1, which fences every earlier holder's
 * commits. One transaction that locks the rows first (in id order), so two nodes starting
 * together cannot split the set. HG_ENOTREADY while another node holds any of them (the daemon
 * waits as a standby). */
static int lease_acquire(pg_state_t *st, hg_error_t *err)
{
    char ms[24], ids[PG_IDS_TEXT_MAX];
    snprintf(ms, sizeof(ms), "%lld", (long long)st->lease_ms);
    ids_literal(ids, NULL);
    const char *v[4] = {ids, st->node, ms, st->addr};
    PGresult *r = NULL;
    int rc = pg_exec(st->db, "BEGIN", err);
    if (rc < 0)
        return rc;
    /* who holds one, to say so (control first: the row a standby reads, daemon/interim.c) */
    r = PQexecParams(st->db,
                     "SELECT id, owner, epoch, greatest(0, (extract(epoch FROM lease_until - "
                     "clock_timestamp()) * 1000)::bigint) FROM partitions WHERE id = ANY($1) AND "
                     "lease_until >= clock_timestamp() AND owner <> $2 ORDER BY id <> 'control', "
                     "id LIMIT 1",
                     2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = hg_error_set(err, HG_ESTORE, "postgres lease: %s", PQerrorMessage(st->db));
        goto out;
    }
    if (PQntuples(r) > 0) {
        rc = hg_error_set(err, HG_ENOTREADY,
                          "partition %s is held by node %s (epoch %s) for %s ms more: standing by",
                          PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                          PQgetvalue(r, 0, 3));
        goto out;
    }
    PQclear(r);
    /* every row locked in id order (the lock order; a commit in flight under an earlier epoch
     * ends first), then the takeable ones taken, rechecked on their latest versions: a node that
     * took one meanwhile leaves fewer than all, and this node stands by */
    r = PQexecParams(
        st->db,
        "WITH s AS MATERIALIZED (SELECT id FROM partitions WHERE id = ANY($1) ORDER "
        "BY id FOR UPDATE) UPDATE partitions p SET owner = $2, epoch = p.epoch + 1, "
        "lease_until = statement_timestamp() + $3 * interval '1 millisecond', addr = $4 "
        "FROM s WHERE p.id = s.id AND (p.lease_until < clock_timestamp() OR p.owner "
        "= $2) RETURNING p.id, p.epoch",
        4, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = hg_error_set(err, HG_ESTORE, "postgres lease: %s", PQerrorMessage(st->db));
        goto out;
    }
    if (PQntuples(r) != HG_PARTITIONS) {
        rc = hg_error_set(err, HG_ENOTREADY,
                          "%d of the %d partitions are held by another node: standing by",
                          HG_PARTITIONS - PQntuples(r), HG_PARTITIONS);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int part = hg_partition_by_name(PQgetvalue(r, i, 0));
        if (part >= 0)
            st->epochs[part] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    r = NULL;
    if ((rc = pg_exec(st->db, "COMMIT", err)) < 0)
        goto out;
    st->held = 1;
    ids_literal(st->held_ids, NULL);
    epochs_literal(st->held_epochs, st->epochs, NULL);
    snprintf(st->epoch, sizeof(st->epoch), "%lld", (long long)st->epochs[HG_PARTITION_CONTROL]);
    __atomic_store_n(&stats.epoch, (uint64_t)st->epochs[HG_PARTITION_CONTROL], __ATOMIC_RELAXED);
    __atomic_store_n(&stats.owned, HG_PARTITIONS, __ATOMIC_RELAXED);
    HG_LOG(HG_LOG_INFO, "store",
           "lease taken partitions=%d node=%s epoch=%s (control's) lease_ms=%lld", HG_PARTITIONS,
           st->node, st->epoch, (long long)st->lease_ms);
out:
    PQclear(r);
    if (rc < 0)
        pg_exec(st->db, "ROLLBACK", NULL);
    return rc;
}

/* The renewer: every third of the lease, push lease_until forward on every partition whose
 * (owner, epoch) is still ours, in one statement. Finding fewer renewed than held (another node
 * took one) or not renewing in time (PostgreSQL out of reach) marks the leases lost: every
 * commit from then on fails, before it is sent. */
static void *renewer_main(void *arg)
{
    pg_state_t *st = arg;
    char ms[24], count[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)st->lease_ms);
    snprintf(count, sizeof(count), "%d", HG_PARTITIONS);
    const char *v[4] = {st->node, st->held_ids, st->held_epochs, ms};
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
        PGresult *r = PQexecParams(st->renew_db, renew_sql, 4, NULL, v, NULL, NULL, 0);
        int done = PQresultStatus(r) == PGRES_COMMAND_OK;
        int ours = done && strcmp(PQcmdTuples(r), count) == 0;
        char renewed[24];
        snprintf(renewed, sizeof(renewed), "%s", done ? PQcmdTuples(r) : "");
        PQclear(r);
        if (ours) {
            ok_at = uv_hrtime();
            __atomic_add_fetch(&stats.renewals, 1, __ATOMIC_RELAXED);
        } else if (done || (uv_hrtime() - ok_at) / 1000000 >= (uint64_t)st->lease_ms) {
            if (done)
                HG_LOG(HG_LOG_ERROR, "store",
                       "lease lost: %s of %d partitions renewed: another node holds one or more "
                       "(epoch of control %s)",
                       renewed, HG_PARTITIONS, st->epoch);
            else
                HG_LOG(HG_LOG_ERROR, "store",
                       "lease lost: not renewed in time (epoch of control %s)", st->epoch);
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
        (rc = pg_prepare(st->db, "ev_del", "DELETE FROM events WHERE id = $1", 1, err)) < 0 ||
        (rc = pg_prepare(st->db, "fence", "SELECT hangar_fence_many($1::text[], $2, $3::bigint[])",
                         3, err)) < 0) {
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

/* Writer lane: the distinct partitions the batch's ops touch, as the fence's two array
 * literals (st->fence_ids, st->fence_epochs). A batch that touches none — the event log's ops
 * only, or records covered by a player's partition only (HG_PARTITION_WITH, never alone in
 * practice) — fences control: event ids still come from one node's memory (logs.c), so only
 * the holder of the leases may append. */
static void fence_set(pg_state_t *st, hg_store_op_t *const *ops, size_t nops)
{
    uint8_t touched[HG_PARTITIONS] = {0};
    size_t n = 0;
    for (size_t i = 0; i < nops; i++) {
        if (ops[i]->kind != HG_STORE_PUT && ops[i]->kind != HG_STORE_DEL)
            continue; /* the event log: no partition */
        int part = hg_partition_of(ops[i]->coll, ops[i]->key);
        if (part == HG_PARTITION_UNKNOWN) {
            /* a module writes a collection store/partition.c does not list: a bug that debug
             * builds stop at (unless a store test writes collections of its own) */
            HG_LOG(HG_LOG_ERROR, "store", "collection %s has no partition: fencing control",
                   ops[i]->coll);
            HG_ASSERT(hg_store_postgres_unmapped_ok);
            part = HG_PARTITION_CONTROL;
        }
        if (part >= 0 && !touched[part]) {
            touched[part] = 1;
            n++;
        }
    }
    if (n == 0)
        touched[HG_PARTITION_CONTROL] = 1;
    ids_literal(st->fence_ids, touched);
    epochs_literal(st->fence_epochs, st->epochs, touched);
}

static int st_apply(void *state, hg_store_op_t *const *ops, size_t nops)
{
    pg_state_t *st = state;
    PGconn *db = st->db;
    if (__atomic_load_n(&st->lost, __ATOMIC_SEQ_CST)) {
        HG_LOG(HG_LOG_ERROR, "store", "commit refused: the leases are lost (epoch of control %s)",
               st->epoch);
        return HG_ESTORE;
    }
    fence_set(st, ops, nops);
    if (!PQenterPipelineMode(db)) {
        HG_LOG(HG_LOG_ERROR, "store", "postgres: %s", PQerrorMessage(db));
        return HG_ESTORE;
    }
    /* the fencing check first, inside the transaction: it holds the rows of the partitions the
     * batch writes (FOR SHARE) until COMMIT, so a node taking one over waits for this commit to
     * end, and a commit after the takeover fails */
    const char *fv[3] = {st->fence_ids, st->node, st->fence_epochs};
    int ok = PQsendQueryParams(db, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
             PQsendQueryPrepared(db, "fence", 3, fv, NULL, NULL, 0);
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
