/* hangar — helpers shared by the unit tests that run a real store on a loop (test-only). */
#ifndef HG_TEST_UTIL_H
#define HG_TEST_UTIL_H

#include <uv.h>

#include "store/store.h"

/* Commit t (takes ownership) and run loop until its callback; fails the test unless durable. */
void hg_test_commit(uv_loop_t *loop, hg_store_txn_t *t);
/* Remove a temporary data directory and everything in it; fails the test if it cannot. */
void hg_test_rmtree(const char *dir);

/* The store backend the store tests run on: SQLite in a test's directory by default; after
 * hg_test_pg_begin() (which empties its tables), PostgreSQL at $HG_TEST_PG. Each test runs in a
 * process of its own, so the choice lasts for one test. hg_test_pg_begin() returns 0 (skip)
 * when HG_TEST_PG is unset, and fails when HG_TEST_PG_REQUIRED is set as well (make unit). */
extern const hg_store_backend_t *hg_test_backend;
const char *hg_test_location(const char *dir);
int hg_test_pg_begin(void);

#endif
