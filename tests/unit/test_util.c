/* hangar — helpers shared by the unit tests (see test_util.h). */
#include "test_util.h"

#include <stdio.h>

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
