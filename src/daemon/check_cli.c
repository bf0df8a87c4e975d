/* hangar — `hangard check --data DIR` (the embedded store) or `hangard check --store
 * postgres://…`: verify the wallets.
 *
 * For every player and currency the ledger's amounts must sum to the wallet's balance, each
 * ledger entry's balance must be the running sum, the entries must be numbered 1, 2, … up to the
 * wallet's next number - 1, no balance may be negative, and every purchase and credit must have
 * its payment event (payment.purchase / payment.credit carrying its id). Works on a stopped
 * store and on one a daemon is serving (one read-only transaction sees a single committed
 * state: a WAL reader on SQLite, REPEATABLE READ on PostgreSQL; neither blocks the writer). The
 * same queries run on both stores through the row reader below (text columns). Exit status: 0
 * consistent, 1 a mismatch (each printed), 2 the store cannot be read.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon.h"
#include "store/store.h"

typedef struct sum {
    char key[128]; /* "<player> <currency>" */
    int64_t total, last_balance;
    uint64_t last_seq;
    int seen;
} sum_t;

typedef struct sums {
    sum_t *v;
    size_t n, cap;
    int sorted; /* v sorted by key: found by bisection; else the entries of one player come
                 * together, so the last few are searched */
} sums_t;

static int cmp_sum(const void *a, const void *b)
{
    return strcmp(((const sum_t *)a)->key, ((const sum_t *)b)->key);
}

static void sums_sort(sums_t *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_sum);
    s->sorted = 1;
}

static sum_t *sum_get(sums_t *s, const char *key)
{
    if (s->sorted) {
        sum_t probe;
        snprintf(probe.key, sizeof(probe.key), "%s", key);
        sum_t *hit = s->n ? bsearch(&probe, s->v, s->n, sizeof(*s->v), cmp_sum) : NULL;
        if (hit)
            return hit;
        static sum_t none;
        memset(&none, 0, sizeof(none)); /* absent: a zero the caller may look at */
        snprintf(none.key, sizeof(none.key), "%s", key);
        return &none;
    }
    for (size_t i = s->n; i-- > 0 && i + 64 >= s->n;)
        if (strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (s->v == NULL) {
            fprintf(stderr, "hangard check: out of memory\n");
            exit(2);
        }
    }
    sum_t *e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    return e;
}

/* ---- one store or the other, read row by row ---- */

typedef struct src {
    sqlite3 *db; /* the embedded store, or */
    PGconn *pg;  /* PostgreSQL */
    char err[512];
} src_t;

typedef struct rows {
    src_t *src;
    sqlite3_stmt *q;
    PGresult *r; /* the current row (single-row mode) */
    int end;
} rows_t;

static int rows_open(src_t *s, const char *sql, rows_t *it)
{
    memset(it, 0, sizeof(*it));
    it->src = s;
    if (s->db) {
        if (sqlite3_prepare_v2(s->db, sql, -1, &it->q, NULL) == SQLITE_OK)
            return 0;
        snprintf(s->err, sizeof(s->err), "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    if (PQsendQuery(s->pg, sql) && PQsetSingleRowMode(s->pg))
        return 0;
    snprintf(s->err, sizeof(s->err), "%s", PQerrorMessage(s->pg));
    return -1;
}

/* 1: a row; 0: the end; -1: an error (in src->err). */
static int rows_next(rows_t *it)
{
    if (it->end)
        return 0;
    if (it->q) {
        int r = sqlite3_step(it->q);
        if (r == SQLITE_ROW)
            return 1;
        it->end = 1;
        if (r == SQLITE_DONE)
            return 0;
        snprintf(it->src->err, sizeof(it->src->err), "%s", sqlite3_errmsg(it->src->db));
        return -1;
    }
    PQclear(it->r);
    it->r = PQgetResult(it->src->pg);
    ExecStatusType st = it->r ? PQresultStatus(it->r) : PGRES_TUPLES_OK;
    if (st == PGRES_SINGLE_TUPLE)
        return 1;
    it->end = 1;
    int rc = st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        snprintf(it->src->err, sizeof(it->src->err), "%s", PQresultErrorMessage(it->r));
    return rc;
}

static const char *rows_text(rows_t *it, int col)
{
    return it->q ? (const char *)sqlite3_column_text(it->q, col) : PQgetvalue(it->r, 0, col);
}

static void rows_close(rows_t *it)
{
    if (it->q)
        sqlite3_finalize(it->q);
    if (it->src->pg) {
        PQclear(it->r);
        PGresult *r;
        while ((r = PQgetResult(it->src->pg)) != NULL) /* the connection idle again */
            PQclear(r);
    }
    memset(it, 0, sizeof(*it));
}

static int src_exec(src_t *s, const char *sql)
{
    if (s->db) {
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK)
            return 0;
        snprintf(s->err, sizeof(s->err), "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    PGresult *r = PQexec(s->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(s->err, sizeof(s->err), "%s", PQerrorMessage(s->pg));
    PQclear(r);
    return ok ? 0 : -1;
}

static void src_close(src_t *s)
{
    if (s->db)
        sqlite3_close(s->db);
    if (s->pg)
        PQfinish(s->pg);
}

/* The payment events by the id they carry, one row per purchase and receipt record: (coll,
 * key, how many events). SQLite counts into a temporary table (writable on a read-only
 * connection), PostgreSQL in a CTE: one pass over each, not a scan of the events per purchase. */
static const char *const pay_sql_sqlite =
    "SELECT r.coll, r.key, coalesce(p.n, 0) FROM records r LEFT JOIN pay p "
    "ON p.kind = r.coll AND p.id = r.key WHERE r.coll IN ('wallet.purchase', 'wallet.rcpt')";
static const char *const pay_sql_pg =
    "WITH pay AS (SELECT 'wallet.purchase' AS kind, attrs::json->>'purchase_id' AS id, "
    "count(*) AS n FROM events WHERE type = 'payment.purchase' GROUP BY 2 UNION ALL "
    "SELECT 'wallet.rcpt', attrs::json->>'receipt_id', count(*) FROM events WHERE type = "
    "'payment.credit' GROUP BY 2) SELECT r.coll, r.key, coalesce(p.n, 0) FROM records r LEFT "
    "JOIN pay p ON p.kind = r.coll AND p.id = r.key WHERE r.coll IN ('wallet.purchase', "
    "'wallet.rcpt')";

int hg_check_cli(int argc, char **argv)
{
    const char *data = NULL, *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            data = argv[i] + 7;
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            url = argv[++i];
        else
            data = NULL, url = NULL, i = argc;
    }
    if ((data == NULL) == (url == NULL)) {
        fprintf(stderr, "usage: hangard check --data DIR | --store postgres://…\n");
        return 2;
    }
    char path[4096];
    int journal = 0; /* history.db and hangar.db's journal (else one file from before) */
    src_t src = {0};
    if (url) {
        snprintf(path, sizeof(path), "PostgreSQL");
        src.pg = hg_store_pg_connectdb(url);
        if (PQstatus(src.pg) != CONNECTION_OK) {
            fprintf(stderr, "hangard check: cannot connect to PostgreSQL: %s",
                    PQerrorMessage(src.pg));
            src_close(&src);
            return 2;
        }
    } else {
        /* the wallets live in history.db, their latest writes perhaps still in hangar.db's
         * journal; a store no hangard of this version opened yet has them all in hangar.db */
        if (hg_store_sqlite_open_files(data, "hg", &src.db, &journal, path, sizeof(path)) < 0) {
            fprintf(stderr, "hangard check: cannot open %s: %s\n", path, sqlite3_errmsg(src.db));
            src_close(&src);
            return 2;
        }
    }
    /* one read transaction: every table as of one commit */
    if (src_exec(&src, src.pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN") < 0) {
        fprintf(stderr, "hangard check: %s\n", src.err);
        src_close(&src);
        return 2;
    }
    /* an embedded store's journal (a running store's, or one a crash left) as if indexed */
    if (journal && hg_store_sqlite_overlay(src.db, "hg") < 0) {
        fprintf(stderr, "hangard check: cannot read the store's journal: %s\n",
                sqlite3_errmsg(src.db));
        src_close(&src);
        return 2;
    }
    int bad = 0;
    long wallets = 0, entries = 0, purchases = 0, credits = 0;
    sums_t sums = {0}, seqs = {0};
    rows_t q;
    /* the ledger, in key order: per player, by number */
    int r;
    if (rows_open(&src,
                  "SELECT key, value FROM records WHERE coll >= 'wallet.ledger/' AND "
                  "coll < 'wallet.ledger0' ORDER BY coll, key",
                  &q) < 0)
        goto sql;
    while ((r = rows_next(&q)) == 1) {
        const char *key = rows_text(&q, 0);
        json_t *v = json_loads(rows_text(&q, 1), 0, NULL);
        const char *slash = strchr(key, '/'),
                   *cur = json_string_value(json_object_get(v, "currency"));
        if (slash == NULL || cur == NULL) {
            printf("ledger entry %s: unreadable\n", key);
            bad = 1;
            json_decref(v);
            continue;
        }
        entries++;
        char k[128];
        snprintf(k, sizeof(k), "%.*s %s", (int)(slash - key), key, cur);
        sum_t *s = sum_get(&sums, k);
        int64_t amount = json_integer_value(json_object_get(v, "amount"));
        int64_t balance = json_integer_value(json_object_get(v, "balance"));
        s->total += amount;
        if (s->total != balance) {
            printf("ledger entry %s: balance %" PRId64 " but the entries so far sum to %" PRId64
                   "\n",
                   key, balance, s->total);
            bad = 1;
        }
        s->last_balance = balance;
        const char *kind = json_string_value(json_object_get(v, "kind"));
        if (kind && strcmp(kind, "credit") == 0)
            credits++;
        json_decref(v);
    }
    rows_close(&q);
    if (r < 0)
        goto sql;
    /* ledger numbering per player (all currencies share one sequence) */
    if (rows_open(&src,
                  "SELECT key FROM records WHERE coll >= 'wallet.ledger/' AND "
                  "coll < 'wallet.ledger0' ORDER BY coll, key",
                  &q) < 0)
        goto sql;
    char player[64] = "";
    uint64_t expect = 1;
    while ((r = rows_next(&q)) == 1) {
        const char *key = rows_text(&q, 0);
        const char *slash = strchr(key, '/');
        if (slash == NULL)
            continue;
        if ((size_t)(slash - key) >= sizeof(player) ||
            strncmp(player, key, (size_t)(slash - key)) || player[slash - key] != '\0') {
            snprintf(player, sizeof(player), "%.*s", (int)(slash - key), key);
            expect = 1;
        }
        uint64_t seq = strtoull(slash + 1, NULL, 10);
        if (seq != expect) {
            printf("ledger of %s: entry %" PRIu64 " where %" PRIu64 " was due\n", player, seq,
                   expect);
            bad = 1;
        }
        expect = seq + 1;
        sum_get(&seqs, player)->last_seq = seq;
    }
    rows_close(&q);
    if (r < 0)
        goto sql;
    sums_sort(&sums);
    sums_sort(&seqs);
    /* wallets: every balance is its ledger's sum; the next number follows the last entry */
    if (rows_open(&src,
                  "SELECT key, value FROM records WHERE coll >= 'wallet/' AND coll < "
                  "'wallet0' ORDER BY coll, key",
                  &q) < 0)
        goto sql;
    while ((r = rows_next(&q)) == 1) {
        const char *pl = rows_text(&q, 0);
        json_t *v = json_loads(rows_text(&q, 1), 0, NULL);
        wallets++;
        const char *cur;
        json_t *n;
        json_object_foreach (json_object_get(v, "b"), cur, n) {
            char k[128];
            snprintf(k, sizeof(k), "%s %s", pl, cur);
            sum_t *s = sum_get(&sums, k);
            s->seen = 1; /* (a balance with no ledger entries: the static zero, compared below) */
            if (json_integer_value(n) != s->total) {
                printf("wallet of %s: %s balance %" PRId64 " but its ledger sums to %" PRId64 "\n",
                       pl, cur, (int64_t)json_integer_value(n), s->total);
                bad = 1;
            }
            if (json_integer_value(n) < 0) {
                printf("wallet of %s: %s balance %" PRId64 " is negative\n", pl, cur,
                       (int64_t)json_integer_value(n));
                bad = 1;
            }
        }
        uint64_t next = (uint64_t)json_integer_value(json_object_get(v, "n"));
        uint64_t last = sum_get(&seqs, pl)->last_seq;
        if (next != last + 1) {
            printf("wallet of %s: next ledger number %" PRIu64 " but the last entry is %" PRIu64
                   "\n",
                   pl, next, last);
            bad = 1;
        }
        json_decref(v);
    }
    rows_close(&q);
    if (r < 0)
        goto sql;
    for (size_t i = 0; i < sums.n; i++)
        if (!sums.v[i].seen && sums.v[i].total != 0) {
            printf("ledger %s sums to %" PRId64 " but the wallet has no such balance\n",
                   sums.v[i].key, sums.v[i].total);
            bad = 1;
        }
    /* payment events: one per purchase and per receipt (pay_sql_*) */
    if (src.db) {
        int has_events = 0;
        /* the event log is in hangar.db (attached as hg beside history.db) */
        if (rows_open(&src,
                      journal ? "SELECT 1 FROM hg.sqlite_master WHERE type='table' AND "
                                "name='events'"
                              : "SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'",
                      &q) == 0) {
            has_events = rows_next(&q) == 1;
            rows_close(&q);
        }
        if (src_exec(&src, "CREATE TEMP TABLE pay(kind TEXT, id TEXT, n INTEGER, "
                           "PRIMARY KEY (kind, id))") < 0 ||
            (has_events &&
             src_exec(&src, "INSERT INTO pay SELECT 'wallet.purchase', json_extract(attrs, "
                            "'$.purchase_id'), count(*) FROM events WHERE type = "
                            "'payment.purchase' GROUP BY 2; INSERT INTO pay SELECT 'wallet.rcpt', "
                            "json_extract(attrs, '$.receipt_id'), count(*) FROM events WHERE "
                            "type = 'payment.credit' GROUP BY 2") < 0))
            goto sql;
    }
    if (rows_open(&src, src.db ? pay_sql_sqlite : pay_sql_pg, &q) < 0)
        goto sql;
    while ((r = rows_next(&q)) == 1) {
        const char *coll = rows_text(&q, 0);
        int purchase = strcmp(coll, "wallet.purchase") == 0, n = atoi(rows_text(&q, 2));
        if (purchase)
            purchases++;
        if (n != 1) {
            printf("%s %s: %d %s events (1 due)\n", purchase ? "purchase_id" : "receipt_id",
                   rows_text(&q, 1), n, purchase ? "payment.purchase" : "payment.credit");
            bad = 1;
        }
    }
    rows_close(&q);
    if (r < 0)
        goto sql;
    src_exec(&src, "COMMIT");
    src_close(&src);
    free(sums.v);
    free(seqs.v);
    printf("%s: %ld wallets, %ld ledger entries (%ld credits), %ld purchases: %s\n", path, wallets,
           entries, credits, purchases, bad ? "MISMATCH" : "consistent");
    return bad ? 1 : 0;
sql:
    fprintf(stderr, "hangard check: %s\n", src.err);
    src_close(&src);
    free(sums.v);
    free(seqs.v);
    return 2;
}
