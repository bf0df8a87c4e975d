/* Unit tests: the partition map (store/partition.c) — every collection the modules write maps
 * where docs/cluster.md says, no collection named in src/ is left out — and, on PostgreSQL, the
 * leases per partition: a store takes every partition, a version 3 store's one lease migrates,
 * and a commit is fenced by the partitions it writes only. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/map.h"
#include "players/players.h"
#include "store/partition.h"
#include "store/store.h"
#include "test.h"
#include "test_util.h"

/* The name of the partition of (coll, key), or the class of a negative result. */
static const char *part_of(const char *coll, const char *key, char buf[HG_PARTITION_NAME_MAX])
{
    int p = hg_partition_of(coll, key);
    switch (p) {
    case HG_PARTITION_NONE: return "none";
    case HG_PARTITION_WITH: return "with";
    case HG_PARTITION_UNKNOWN: return "unknown";
    default: hg_partition_name(p, buf); return buf;
    }
}

static const char *hashed_name(const char *prefix, const char *name, char buf[16])
{
    snprintf(buf, 16, "%s%02u", prefix,
             (unsigned)(hg_hash_bytes(name, strlen(name)) % HG_PARTITION_HASHED));
    return buf;
}

HG_TEST(every_collection_maps_to_its_partition)
{
    static const struct {
        const char *coll, *key, *want;
    } cases[] = {
        {"fleet.fleets", "fleet-1", "control"},
        {"fleet.locations", "custom-a", "control"},
        {"fleet.events", "fleet-1/0001", "control"},
        {"fleet.aliases", "alias-1", "control"},
        {"fleet.computes", "fleet-1/c1", "control"},
        {"fleet.tokens", "tok", "control"},
        {"fleet.processes", "fleet-1/c1/p1", "control"},
        {"fleet.gsessions", "arn:aws:gamelift:x", "control"},
        {"fleet.psessions", "psess-1", "control"},
        {"placement.queues", "q", "control"},
        {"placement.placements", "pl-1", "control"},
        {"match.rulesets", "rs", "control"},
        {"match.configs", "c", "control"},
        {"match.tickets", "t1", "control"},
        {"match.autobackfill_off", "arn", "control"},
        {"registry.servers", "s1", "control"},
        {"registry.meta", "stream", "control"},
        {"keys", "AKIA", "control"},
        {"auth.signing_keys", "kid", "control"},
        {"players.meta", "ids", "control"},
        {"wallet.catalog", "sword", "control"},
        {"scripts", "lobby", "control"},
        {"scripts.v/lobby", "00000001", "control"},
        {"logs.meta", "retention", "control"},
        {"players/00", "player-a", "p00"},
        {"friends/63", "player-b", "p63"},
        {"wallet/07", "player-c", "p07"},
        {"wallet.ledger/12", "player-c/0000000000000001", "p12"},
        {"wallet.pp/40", "player-c/pid", "p40"},
        {"wallet.pk/05", "player-c/key", "p05"},
        {"wallet.purchase", "0190-uuid", "with"},
        {"wallet.rcpt", "r-1", "with"},
        {"events", NULL, "none"},
        /* not the map's: unknown, never a silent default */
        {"things", "k", "unknown"},
        {"players", "k", "unknown"},    /* the family without its <nn> */
        {"players/64", "k", "unknown"}, /* past the 64 */
        {"players/7", "k", "unknown"},  /* <nn> is two digits */
        {"wallet/07x", "k", "unknown"},
        {"fleet.fleets/00", "k", "unknown"}, /* a name, not a family */
    };
    char buf[HG_PARTITION_NAME_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = part_of(cases[i].coll, cases[i].key, buf);
        if (strcmp(got, cases[i].want) != 0)
            HG_FAIL_("(%s, %s) → %s, want %s", cases[i].coll, cases[i].key ? cases[i].key : "NULL",
                     got, cases[i].want);
    }
    /* players: the <nn> the modules compute is the partition */
    char coll[24], want[8];
    unsigned nn = hg_player_partition("some-player");
    snprintf(coll, sizeof(coll), "wallet/%02u", nn);
    snprintf(want, sizeof(want), "p%02u", nn);
    ASSERT_STR_EQ(part_of(coll, "some-player", buf), want);
}

HG_TEST(groups_boards_and_rooms_hash_by_their_name)
{
    char buf[HG_PARTITION_NAME_MAX], want[16];
    /* a FleetIQ group and every server of it, whose key starts with the group */
    ASSERT_STR_EQ(part_of("fleetiq.groups", "group-a", buf), hashed_name("fq", "group-a", want));
    ASSERT_STR_EQ(part_of("fleetiq.servers", "group-a/server-1", buf), want);
    ASSERT_STR_EQ(part_of("fleetiq.servers", "group-a/x.y-z", buf), want);
    /* a server stored by id alone (before the group led its key): control, rewritten at load */
    ASSERT_STR_EQ(part_of("fleetiq.servers", "server-1", buf), "control");
    /* a board, its periods' entries and its idempotency keys */
    ASSERT_STR_EQ(part_of("lb.boards", "weekly.kills", buf),
                  hashed_name("lb", "weekly.kills", want));
    ASSERT_STR_EQ(part_of("lb.e/weekly.kills/1733529600000", "00000000000000000001", buf), want);
    ASSERT_STR_EQ(part_of("lb.i/weekly.kills", "idem-1", buf), want);
    ASSERT_STR_EQ(part_of("rooms", "room-42", buf), hashed_name("rm", "room-42", want));
    /* the hash is spread: 200 rooms land in more than 12 of the 16 */
    int seen[HG_PARTITION_HASHED] = {0}, n = 0;
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "room-%d", i);
        int p = hg_partition_of("rooms", id) - HG_PARTITION_RM0;
        ASSERT_TRUE(p >= 0 && p < HG_PARTITION_HASHED);
        n += !seen[p]++;
    }
    ASSERT_TRUE(n > 12);
    /* hg_hash_bytes, the same on every node and in every build: a name keeps its partition
     * (its offset basis is not FNV-1a's published one; it is what stored players are split by
     * too, so it stays) */
    ASSERT_STR_EQ(part_of("rooms", "a", buf), "rm06");
    ASSERT_STR_EQ(part_of("fleetiq.groups", "a", buf), "fq06");
}

HG_TEST(the_set_is_control_and_64_16_16_16_named_once)
{
    ASSERT_EQ_INT(HG_PARTITIONS, 113);
    ASSERT_EQ_INT(HG_PARTITION_PLAYERS, HG_PLAYER_PARTITIONS);
    char buf[HG_PARTITION_NAME_MAX];
    int control = 0, p = 0, fq = 0, lb = 0, rm = 0;
    for (int i = 0; i < HG_PARTITIONS; i++) {
        ASSERT_TRUE(hg_partition_name(i, buf) > 0);
        ASSERT_EQ_INT(hg_partition_by_name(buf), i); /* names are unique */
        control += strcmp(buf, "control") == 0;
        p += buf[0] == 'p';
        fq += strncmp(buf, "fq", 2) == 0;
        lb += strncmp(buf, "lb", 2) == 0;
        rm += strncmp(buf, "rm", 2) == 0;
    }
    ASSERT_EQ_INT(control, 1);
    ASSERT_EQ_INT(p, 64);
    ASSERT_EQ_INT(fq, 16);
    ASSERT_EQ_INT(lb, 16);
    ASSERT_EQ_INT(rm, 16);
    ASSERT_EQ_INT((int)hg_partition_name(HG_PARTITIONS, buf), 0);
    ASSERT_EQ_INT(hg_partition_by_name("all"), -1);
    ASSERT_EQ_INT(hg_partition_by_name("p64"), -1);
}

/* Every collection named in src/, as the modules name them: `#define <…COLL…> "<name>"`, a
 * format that starts with a collection family ("wallet.pk/%02u", "lb.e/%s/%lld"), and the
 * families the player modules build with a helper (coll_of("players", …), part_coll("wallet",
 * …)). Each must be in the map; a module adding a collection another way adds its pattern
 * here, and the PostgreSQL backend's debug check stops any write the map does not know. */
HG_TEST(every_collection_named_in_src_is_mapped)
{
    const char *cmd =
        "cd '" HG_SOURCE_DIR "' && { "
        "grep -rhoE '#define [A-Z_]*COLL[A-Z_]* \"[^\"]+\"' src | sed -E 's/.*\"(.*)\"/\\1/'; "
        "grep -rhoE '\"[a-z][a-z._]*/%[^\"]*\"' src | tr -d '\"'; "
        "grep -rhoE '(coll_of|part_coll)\\(\"[a-z.]+\"' src | sed -E 's/.*\"(.*)\"/\\1\\/%02u/'; "
        "}";
    FILE *f = popen(cmd, "r");
    ASSERT_NOT_NULL(f);
    char line[256];
    int n = 0, families = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "%", 1) == 0)
            continue; /* "%s/%02u": the helper's own format, its kinds are listed above */
        /* "lb.e/%s/%lld" → "lb.e/b/1": each conversion becomes a value it would print */
        char coll[256];
        size_t at = 0;
        for (const char *c = line; *c && at < sizeof(coll) - 4; c++) {
            if (*c != '%') {
                coll[at++] = *c;
                continue;
            }
            families += coll[0] != '\0';
            while (*c && strchr("0123456789l", c[1]))
                c++;
            c++;
            if (*c == 'u' || *c == 'd') {
                memcpy(coll + at, "00", 2); /* a player partition's <nn> */
                at += 2;
            } else {
                coll[at++] = 'b';
            }
        }
        coll[at] = '\0';
        if (hg_partition_of(coll, "g/k") == HG_PARTITION_UNKNOWN)
            HG_FAIL_("collection %s (from src/: %s) is not in store/partition.c's map", coll, line);
        n++;
    }
    ASSERT_EQ_INT(pclose(f), 0);
    /* the scan found them (a broken pattern must not pass): 23+ names, 7+ families today */
    if (n < 30 || families < 7)
        HG_FAIL_("the scan of src/ found %d collections (%d families): the patterns are stale", n,
                 families);
}

/* ---- on PostgreSQL: the leases per partition ---- */

static PGconn *db_open(void)
{
    PGconn *db = PQconnectdb(getenv("HG_TEST_PG"));
    ASSERT_TRUE(PQstatus(db) == CONNECTION_OK);
    return db;
}

static void sql(PGconn *db, const char *q)
{
    PGresult *r = PQexec(db, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        HG_FAIL_("%s: %s", q, PQerrorMessage(db));
    PQclear(r);
}

/* The first column of the first row of q, as text. */
static void sql_text(PGconn *db, const char *q, char *out, size_t cap)
{
    PGresult *r = PQexec(db, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        HG_FAIL_("%s: %s", q, PQerrorMessage(db));
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static hg_store_t *pg_open(uv_loop_t *loop, int *rc)
{
    uv_loop_init(loop);
    hg_store_t *s = NULL;
    hg_error_t err;
    *rc = hg_store_open(loop, &hg_store_postgres, getenv("HG_TEST_PG"), 8, &s, &err);
    return s;
}

static void pg_close(uv_loop_t *loop, hg_store_t *s)
{
    if (s)
        hg_store_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(loop));
}

static void on_rc(void *ud, int rc)
{
    *(int *)ud = rc;
}

/* Commit one put of (coll, key) and return its result. */
static int put_rc(uv_loop_t *loop, hg_store_t *s, const char *coll, const char *key)
{
    hg_store_txn_t *t = hg_store_txn_new(s);
    json_t *v = json_pack("{s:s}", "k", key);
    hg_store_put(t, coll, key, v);
    json_decref(v);
    int rc = 1;
    hg_store_commit(t, on_rc, &rc);
    while (rc == 1)
        uv_run(loop, UV_RUN_ONCE);
    return rc;
}

HG_TEST(pg_a_node_takes_every_partition_and_renews_them_together)
{
    if (!hg_test_pg_begin())
        return;
    hg_store_postgres_unmapped_ok = 0;
    hg_store_postgres_configure("node-a", "127.0.0.1:1", 1200);
    uv_loop_t loop;
    int rc;
    hg_store_t *s = pg_open(&loop, &rc);
    ASSERT_OK(rc);
    PGconn *db = db_open();
    char got[64];
    sql_text(db,
             "SELECT count(*) FILTER (WHERE owner = 'node-a' AND epoch = 1 AND addr = "
             "'127.0.0.1:1' AND lease_until > clock_timestamp()) || '/' || count(*) FROM "
             "partitions",
             got, sizeof(got));
    ASSERT_STR_EQ(got, "113/113");
    hg_store_pg_stats_t st;
    hg_store_postgres_stats(&st);
    ASSERT_EQ_INT((int)st.owned, 113);
    ASSERT_EQ_INT((int)st.epoch, 1);
    /* renewed every 400 ms: each renewal moves all 113 leases */
    uint64_t renewals = st.renewals;
    sql_text(db, "SELECT min(lease_until)::text FROM partitions", got, sizeof(got));
    char before[64];
    snprintf(before, sizeof(before), "%s", got);
    for (int i = 0; i < 40 && st.renewals < renewals + 2; i++) {
        usleep(50000);
        hg_store_postgres_stats(&st);
    }
    ASSERT_TRUE(st.renewals >= renewals + 2);
    char q[160];
    snprintf(q, sizeof(q),
             "SELECT count(*) FROM partitions WHERE lease_until > '%s'::timestamptz + interval "
             "'300 ms'",
             before);
    sql_text(db, q, got, sizeof(got));
    ASSERT_STR_EQ(got, "113");
    /* another node cannot take any of them meanwhile */
    hg_store_postgres_configure("node-b", "127.0.0.1:2", 1200);
    uv_loop_t loop2;
    hg_store_t *s2 = pg_open(&loop2, &rc);
    ASSERT_EQ_INT(rc, HG_ENOTREADY);
    ASSERT_NULL(s2);
    pg_close(&loop2, NULL);
    /* a graceful close hands them all over at once; the next holder's epochs are 2 */
    pg_close(&loop, s);
    sql_text(db, "SELECT count(*) FROM partitions WHERE lease_until <= clock_timestamp()", got,
             sizeof(got));
    ASSERT_STR_EQ(got, "113");
    s2 = pg_open(&loop2, &rc);
    ASSERT_OK(rc);
    sql_text(db, "SELECT count(*) FROM partitions WHERE owner = 'node-b' AND epoch = 2", got,
             sizeof(got));
    ASSERT_STR_EQ(got, "113");
    hg_store_postgres_stats(&st);
    ASSERT_EQ_INT((int)st.owned, 113);
    pg_close(&loop2, s2);
    PQfinish(db);
}

/* A version 3 store: partitions holds the one row "all". */
static void make_v3(PGconn *db, const char *owner, const char *until)
{
    char q[512];
    sql(db, "CREATE TABLE hangar_schema(version int NOT NULL); INSERT INTO hangar_schema "
            "VALUES(3); CREATE TABLE partitions(id text COLLATE \"C\" PRIMARY KEY, owner text NOT "
            "NULL, epoch bigint NOT NULL, lease_until timestamptz NOT NULL, addr text)");
    snprintf(q, sizeof(q), "INSERT INTO partitions VALUES('all', '%s', 7, %s, '127.0.0.1:9')",
             owner, until);
    sql(db, q);
}

HG_TEST(pg_a_version_3_store_hands_its_one_lease_to_every_partition)
{
    if (!hg_test_pg_begin())
        return;
    hg_store_postgres_unmapped_ok = 0;
    PGconn *db = db_open();
    /* held by a running version 3 node: its lease stands on every partition, so this node
     * stands by until it runs out */
    make_v3(db, "old-node", "clock_timestamp() + interval '1 minute'");
    hg_store_postgres_configure("node-a", "127.0.0.1:1", 10000);
    uv_loop_t loop;
    int rc;
    hg_store_t *s = pg_open(&loop, &rc);
    ASSERT_EQ_INT(rc, HG_ENOTREADY);
    pg_close(&loop, s);
    char got[64];
    sql_text(db,
             "SELECT count(*) FILTER (WHERE owner = 'old-node' AND epoch = 7 AND addr = "
             "'127.0.0.1:9') || '/' || count(*) || '/' || count(*) FILTER (WHERE id = 'all') FROM "
             "partitions",
             got, sizeof(got));
    ASSERT_STR_EQ(got, "113/113/0");
    sql_text(db, "SELECT version FROM hangar_schema", got, sizeof(got));
    ASSERT_STR_EQ(got, "4");
    /* its lease expired: every partition is taken at epoch 8 */
    sql(db, "UPDATE partitions SET lease_until = clock_timestamp()");
    s = pg_open(&loop, &rc);
    ASSERT_OK(rc);
    sql_text(db, "SELECT count(*) FROM partitions WHERE owner = 'node-a' AND epoch = 8", got,
             sizeof(got));
    ASSERT_STR_EQ(got, "113");
    ASSERT_OK(put_rc(&loop, s, "fleet.fleets", "f1"));
    pg_close(&loop, s);
    /* the version 3 node's fence finds no "all" row any more: it cannot write */
    PGresult *r = PQexec(db, "SELECT hangar_fence('all', 'old-node', 7)");
    ASSERT_TRUE(PQresultStatus(r) == PGRES_FATAL_ERROR);
    PQclear(r);
    PQfinish(db);
}

HG_TEST(pg_a_commit_is_fenced_by_the_partitions_it_writes)
{
    if (!hg_test_pg_begin())
        return;
    hg_store_postgres_unmapped_ok = 0;
    hg_store_postgres_configure("node-a", "127.0.0.1:1", 60000); /* no renewal during the test */
    uv_loop_t loop;
    int rc;
    hg_store_t *s = pg_open(&loop, &rc);
    ASSERT_OK(rc);
    char coll[24], other[24];
    snprintf(coll, sizeof(coll), "wallet/%02u", 7u);
    snprintf(other, sizeof(other), "wallet/%02u", 8u);
    ASSERT_OK(put_rc(&loop, s, coll, "player-7"));
    /* another node took p07 (a higher epoch): what writes p07 fails, what does not commits */
    PGconn *db = db_open();
    sql(db, "UPDATE partitions SET owner = 'node-b', epoch = epoch + 1 WHERE id = 'p07'");
    ASSERT_OK(put_rc(&loop, s, other, "player-8"));
    ASSERT_OK(put_rc(&loop, s, "fleet.fleets", "f1"));
    ASSERT_OK(put_rc(&loop, s, "rooms", "room-1"));
    /* a batch of several partitions, p07 among them, fails whole */
    hg_store_txn_t *t = hg_store_txn_new(s);
    json_t *v = json_pack("{}");
    hg_store_put(t, "fleet.fleets", "f2", v);
    hg_store_put(t, coll, "player-7", v);
    json_decref(v);
    rc = 1;
    hg_store_commit(t, on_rc, &rc);
    while (rc == 1)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(rc, HG_ESTORE);
    ASSERT_TRUE(hg_store_fenced(s));
    char got[64];
    sql_text(db, "SELECT count(*) FROM records WHERE key IN ('f2', 'player-7')", got, sizeof(got));
    ASSERT_STR_EQ(got, "1"); /* player-7's first put only */
    pg_close(&loop, s);
    PQfinish(db);
}

HG_TEST(pg_a_node_whose_partition_was_taken_loses_its_leases_at_the_next_renewal)
{
    if (!hg_test_pg_begin())
        return;
    hg_store_postgres_unmapped_ok = 0;
    hg_store_postgres_configure("node-a", "127.0.0.1:1", 1200);
    uv_loop_t loop;
    int rc;
    hg_store_t *s = pg_open(&loop, &rc);
    ASSERT_OK(rc);
    hg_store_pg_stats_t st;
    hg_store_postgres_stats(&st);
    uint64_t lost = st.lost;
    PGconn *db = db_open();
    sql(db, "UPDATE partitions SET owner = 'node-b', epoch = epoch + 1 WHERE id = 'rm03'");
    for (int i = 0; i < 40 && st.lost == lost; i++) {
        usleep(50000);
        hg_store_postgres_stats(&st);
    }
    ASSERT_EQ_INT((int)(st.lost - lost), 1);
    ASSERT_EQ_INT((int)st.owned, 0);
    /* every commit is refused from then on, whatever it writes */
    ASSERT_EQ_INT(put_rc(&loop, s, "fleet.fleets", "f1"), HG_ESTORE);
    /* the renewal that found rm03 gone renewed none of the 112 others (all or nothing) */
    char got[64];
    sql_text(db, "SELECT count(DISTINCT lease_until) FROM partitions WHERE owner = 'node-a'", got,
             sizeof(got));
    ASSERT_STR_EQ(got, "1");
    sql_text(db,
             "SELECT count(*) FROM partitions WHERE owner = 'node-a' AND lease_until > (SELECT "
             "lease_until FROM partitions WHERE id = 'rm03')",
             got, sizeof(got));
    ASSERT_STR_EQ(got, "0");
    pg_close(&loop, s);
    PQfinish(db);
}

HG_SUITE(partition) = {
    HG_CASE(every_collection_maps_to_its_partition),
    HG_CASE(groups_boards_and_rooms_hash_by_their_name),
    HG_CASE(the_set_is_control_and_64_16_16_16_named_once),
    HG_CASE(every_collection_named_in_src_is_mapped),
    HG_CASE(pg_a_node_takes_every_partition_and_renews_them_together),
    HG_CASE(pg_a_version_3_store_hands_its_one_lease_to_every_partition),
    HG_CASE(pg_a_commit_is_fenced_by_the_partitions_it_writes),
    HG_CASE(pg_a_node_whose_partition_was_taken_loses_its_leases_at_the_next_renewal),
    HG_CASE_END,
};
