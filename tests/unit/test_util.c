/* hangar — helpers shared by the unit tests (see test_util.h). */
#include "test_util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

static void on_commit(void *ud, int rc)
{
    *(int *)ud = rc == 0 ? 1 : -1;
}

void hg_test_commit(uv_loop_t *loop, hg_store_txn_t *t)
{
    int done = 0;
    hg_store_commit(t, on_commit, &done);
    while (done == 0)
        uv_run(loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(done, 1);
}

void hg_test_rmtree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

const hg_store_backend_t *hg_test_backend = &hg_store_sqlite;

const char *hg_test_location(const char *dir)
{
    return hg_test_backend == &hg_store_postgres ? getenv("HG_TEST_PG") : dir;
}

int hg_test_pg_begin(void)
{
    const char *url = getenv("HG_TEST_PG");
    if (url == NULL || *url == '\0') {
        if (getenv("HG_TEST_PG_REQUIRED"))
            HG_FAIL_("HG_TEST_PG is not set (make unit starts PostgreSQL: scripts/pg-local)");
        fprintf(stderr, "  skipped: HG_TEST_PG is not set (make unit sets it)\n");
        return 0;
    }
    PGconn *db = PQconnectdb(url);
    if (PQstatus(db) != CONNECTION_OK)
        HG_FAIL_("cannot connect to HG_TEST_PG %s: %s", url, PQerrorMessage(db));
    PGresult *r = PQexec(db, "DROP TABLE IF EXISTS records, events, hangar_schema, partitions, "
                             "hangar_cluster_secret");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        HG_FAIL_("cannot empty the test database: %s", PQerrorMessage(db));
    PQclear(r);
    PQfinish(db);
    hg_test_backend = &hg_store_postgres;
    hg_store_postgres_unmapped_ok = 1; /* the store's tests write collections of their own */
    return 1;
}
