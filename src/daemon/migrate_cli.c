/* hangar — `hangard migrate --data DIR --store postgres://…`: copy an embedded store into
 * PostgreSQL (docs/cluster.md).
 *
 * Reads every record and every event of <DIR>/hangar.db (read-only: a daemon may still be
 * serving it, but what it commits after the copy started is not copied — stop it first) and
 * writes them through the PostgreSQL backend's own apply, in transactions of MIGRATE_BATCH ops,
 * so the tables and their schema are the ones hangard itself creates. The target must hold no
 * records and no events (a migration is a copy into an empty database, not a merge): anything
 * there refuses it before a byte is written. At the end the counts are read back and compared.
 * Exit status: 0 copied and verified, 1 refused or a mismatch, 2 a store cannot be read or
 * written.
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "daemon/daemon.h"
#include "store/store.h"

#define MIGRATE_BATCH 2000 /* ops per PostgreSQL transaction */

typedef struct batch {
    const hg_store_backend_t *be;
    void *state;
    hg_store_op_t ops[MIGRATE_BATCH];
    hg_store_op_t *ptrs[MIGRATE_BATCH];
    size_t n;
    long long records, events;
} batch_t;

static void op_clear(hg_store_op_t *op)
{
    hg_free(op->coll);
    hg_free(op->key);
    hg_free(op->value);
    hg_free(op->ev_type);
    hg_free(op->ev_player);
    hg_free(op->ev_attrs);
    memset(op, 0, sizeof(*op));
}

static int flush(batch_t *b)
{
    if (b->n == 0)
        return 0;
    for (size_t i = 0; i < b->n; i++)
        b->ptrs[i] = &b->ops[i];
    int rc = b->be->apply(b->state, b->ptrs, b->n);
    for (size_t i = 0; i < b->n; i++)
        op_clear(&b->ops[i]);
    b->n = 0;
    return rc;
}

static hg_store_op_t *next_op(batch_t *b, int *rc)
{
    if (b->n == MIGRATE_BATCH && (*rc = flush(b)) < 0)
        return NULL;
    return &b->ops[b->n++];
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? hg_strdup((const char *)t) : NULL;
}

/* How many rows a query answers in PostgreSQL (-1 on error). */
static long long pg_count(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: hangard migrate --data DIR --store postgres://…\n"
                    "  copies the embedded store DIR/hangar.db into an empty PostgreSQL "
                    "database\n");
}

int hg_migrate_cli(int argc, char **argv)
{
    const char *data = NULL, *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            url = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (data == NULL || url == NULL ||
        (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0)) {
        usage();
        return 2;
    }
    /* history.db with hangar.db attached as m; a store no hangard of this version opened yet
     * is hangar.db alone */
    char path[1200];
    sqlite3 *src = NULL;
    int two;
    if (hg_store_sqlite_open_files(data, "m", &src, &two, path, sizeof(path)) < 0) {
        fprintf(stderr, "migrate: cannot open %s: %s\n", path,
                src ? sqlite3_errmsg(src) : "out of memory");
        sqlite3_close(src);
        return 2;
    }
    /* the target must be empty; checked on a connection of our own before the backend opens */
    PGconn *chk = hg_store_pg_connectdb(url);
    if (PQstatus(chk) != CONNECTION_OK) {
        fprintf(stderr, "migrate: cannot connect to PostgreSQL: %s", PQerrorMessage(chk));
        PQfinish(chk);
        sqlite3_close(src);
        return 2;
    }
    long long there = pg_count(chk, "SELECT (SELECT count(*) FROM records) + "
                                    "(SELECT count(*) FROM events)");
    if (there > 0) {
        fprintf(stderr,
                "migrate: the PostgreSQL database already holds %lld records and events: "
                "a migration copies into an empty database\n",
                there);
        PQfinish(chk);
        sqlite3_close(src);
        return 1;
    }
    batch_t *b = hg_calloc(1, sizeof(*b));
    b->be = &hg_store_postgres;
    hg_error_t err;
    int rc = b->be->open(url, &b->state, &err);
    if (rc < 0) {
        fprintf(stderr, "migrate: %s\n", hg_error_message(&err));
        goto out;
    }
    /* records, then events, in one read transaction of the source (one snapshot) */
    sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *q = NULL;
    /* a journal a crash left is copied as if folded (a cleanly stopped store has none) */
    if (two && hg_store_sqlite_overlay(src, "m") < 0) {
        fprintf(stderr, "migrate: cannot read the store's journal: %s\n", sqlite3_errmsg(src));
        rc = HG_ESTORE;
        goto out;
    }
    if (sqlite3_prepare_v2(src,
                           two ? "SELECT coll, key, value FROM records UNION ALL SELECT coll, key, "
                                 "value FROM m.records ORDER BY 1, 2"
                               : "SELECT coll, key, value FROM records ORDER BY coll, key",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = HG_ESTORE;
        goto out;
    }
    int r;
    while (rc == 0 && (r = sqlite3_step(q)) == SQLITE_ROW) {
        hg_store_op_t *op = next_op(b, &rc);
        if (op == NULL)
            break;
        op->kind = HG_STORE_PUT;
        op->coll = col_dup(q, 0);
        op->key = col_dup(q, 1);
        op->value = col_dup(q, 2);
        b->records++;
    }
    sqlite3_finalize(q);
    q = NULL;
    /* a version 1 store has no events table: nothing to copy then */
    if (rc == 0 && sqlite3_prepare_v2(src,
                                      "SELECT id, time_ms, type, player, attrs FROM events "
                                      "ORDER BY id",
                                      -1, &q, NULL) == SQLITE_OK) {
        while (rc == 0 && (r = sqlite3_step(q)) == SQLITE_ROW) {
            hg_store_op_t *op = next_op(b, &rc);
            if (op == NULL)
                break;
            op->kind = HG_STORE_EVENT_ADD;
            op->ev_id = (uint64_t)sqlite3_column_int64(q, 0);
            op->ev_time_ms = sqlite3_column_int64(q, 1);
            op->ev_type = col_dup(q, 2);
            op->ev_player = col_dup(q, 3);
            op->ev_attrs = col_dup(q, 4);
            b->events++;
        }
    }
    sqlite3_finalize(q);
    if (rc == 0)
        rc = flush(b);
    if (rc < 0) {
        fprintf(stderr, "migrate: writing to PostgreSQL failed (see the log above)\n");
        goto out;
    }
    long long nr = pg_count(chk, "SELECT count(*) FROM records");
    long long ne = pg_count(chk, "SELECT count(*) FROM events");
    if (nr != b->records || ne != b->events) {
        fprintf(stderr,
                "migrate: copied %lld records and %lld events, but PostgreSQL holds %lld "
                "and %lld\n",
                b->records, b->events, nr, ne);
        rc = 1;
        goto out;
    }
    printf("migrate: %s -> PostgreSQL: %lld records, %lld events copied and counted\n", path,
           b->records, b->events);
out:
    for (size_t i = 0; i < b->n; i++)
        op_clear(&b->ops[i]);
    if (b->state)
        b->be->close(b->state);
    hg_free(b);
    PQfinish(chk);
    sqlite3_close(src);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}
