/* hangar — `hangard check --data DIR`: verify the wallets of an embedded store.
 *
 * For every player and currency the ledger's amounts must sum to the wallet's balance, each
 * ledger entry's balance must be the running sum, the entries must be numbered 1, 2, … up to the
 * wallet's next number - 1, no balance may be negative, and every purchase and credit must have
 * its payment event (payment.purchase / payment.credit carrying its id). Works on a stopped
 * store and on one a daemon is serving (a read-only connection sees the last committed state;
 * WAL readers do not block the writer). Exit status: 0 consistent, 1 a mismatch (each printed),
 * 2 the store cannot be read.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon.h"

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

int hg_check_cli(int argc, char **argv)
{
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            data = argv[i] + 7;
        else {
            fprintf(stderr, "usage: hangard check --data DIR\n");
            return 2;
        }
    }
    if (data == NULL) {
        fprintf(stderr, "usage: hangard check --data DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/hangar.db", data);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "hangard check: cannot open %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    sqlite3_busy_timeout(db, 5000);
    /* one read transaction: every table as of one commit */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "hangard check: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    int bad = 0;
    long wallets = 0, entries = 0, purchases = 0, credits = 0;
    sums_t sums = {0};
    sqlite3_stmt *q;
    /* the ledger, in key order: per player, by number */
    if (sqlite3_prepare_v2(db,
                           "SELECT key, value FROM records WHERE coll >= 'wallet.ledger/' AND "
                           "coll < 'wallet.ledger0' ORDER BY coll, key",
                           -1, &q, NULL) != SQLITE_OK)
        goto sql;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(q, 0);
        json_t *v = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
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
    sqlite3_finalize(q);
    /* ledger numbering per player (all currencies share one sequence) */
    if (sqlite3_prepare_v2(db,
                           "SELECT key FROM records WHERE coll >= 'wallet.ledger/' AND "
                           "coll < 'wallet.ledger0' ORDER BY coll, key",
                           -1, &q, NULL) != SQLITE_OK)
        goto sql;
    char player[64] = "";
    uint64_t expect = 1;
    sums_t seqs = {0};
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(q, 0);
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
    sqlite3_finalize(q);
    sums_sort(&sums);
    sums_sort(&seqs);
    /* wallets: every balance is its ledger's sum; the next number follows the last entry */
    if (sqlite3_prepare_v2(db,
                           "SELECT key, value FROM records WHERE coll >= 'wallet/' AND coll < "
                           "'wallet0' ORDER BY coll, key",
                           -1, &q, NULL) != SQLITE_OK)
        goto sql;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *pl = (const char *)sqlite3_column_text(q, 0);
        json_t *v = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
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
    sqlite3_finalize(q);
    for (size_t i = 0; i < sums.n; i++)
        if (!sums.v[i].seen && sums.v[i].total != 0) {
            printf("ledger %s sums to %" PRId64 " but the wallet has no such balance\n",
                   sums.v[i].key, sums.v[i].total);
            bad = 1;
        }
    /* payment events: one per purchase and per receipt. The events are counted by the id they
     * carry into a temporary table (the temp database is writable on a read-only connection),
     * then joined: one pass each, not a scan of the events per purchase. */
    int has_events = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'",
                           -1, &q, NULL) == SQLITE_OK) {
        has_events = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
    }
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE pay(kind TEXT, id TEXT, n INTEGER, PRIMARY KEY (kind, id))",
                     NULL, NULL, NULL) != SQLITE_OK ||
        (has_events &&
         sqlite3_exec(db,
                      "INSERT INTO pay SELECT 'wallet.purchase', json_extract(attrs, "
                      "'$.purchase_id'), count(*) FROM events WHERE type = 'payment.purchase' "
                      "GROUP BY 2; INSERT INTO pay SELECT 'wallet.rcpt', json_extract(attrs, "
                      "'$.receipt_id'), count(*) FROM events WHERE type = 'payment.credit' GROUP "
                      "BY 2",
                      NULL, NULL, NULL) != SQLITE_OK))
        goto sql;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.coll, r.key, coalesce(p.n, 0) FROM records r LEFT JOIN pay p "
                           "ON p.kind = r.coll AND p.id = r.key WHERE r.coll IN "
                           "('wallet.purchase', 'wallet.rcpt')",
                           -1, &q, NULL) != SQLITE_OK)
        goto sql;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *coll = (const char *)sqlite3_column_text(q, 0);
        int purchase = strcmp(coll, "wallet.purchase") == 0, n = sqlite3_column_int(q, 2);
        if (purchase)
            purchases++;
        if (n != 1) {
            printf("%s %s: %d %s events (1 due)\n", purchase ? "purchase_id" : "receipt_id",
                   (const char *)sqlite3_column_text(q, 1), n,
                   purchase ? "payment.purchase" : "payment.credit");
            bad = 1;
        }
    }
    sqlite3_finalize(q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    free(sums.v);
    free(seqs.v);
    printf("%s: %ld wallets, %ld ledger entries (%ld credits), %ld purchases: %s\n", path, wallets,
           entries, credits, purchases, bad ? "MISMATCH" : "consistent");
    return bad ? 1 : 0;
sql:
    fprintf(stderr, "hangard check: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    free(sums.v);
    return 2;
}
