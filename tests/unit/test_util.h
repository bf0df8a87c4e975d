/* hangar — helpers shared by the unit tests that run a real store on a loop (test-only). */
#ifndef HG_TEST_UTIL_H
#define HG_TEST_UTIL_H

#include <uv.h>

#include "store/store.h"

/* Commit t (takes ownership) and run loop until its callback; fails the test unless durable. */
void hg_test_commit(uv_loop_t *loop, hg_store_txn_t *t);
/* Remove a temporary data directory and everything in it; fails the test if it cannot. */
void hg_test_rmtree(const char *dir);

#endif
