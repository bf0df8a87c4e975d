/* hangar — unit test runner.
 *
 * Runs every case of every suite in tests/unit/test-list.h in its own forked process with a
 * timeout (HG_TEST_TIMEOUT seconds, default 30), so a crash, a hang or a sanitizer report fails
 * exactly one named test. `runner [filter]` runs the cases whose "suite.case" contains filter.
 * Prints "N passed, N failed" as its last line; exits non-zero when anything failed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "test.h"

/* -DHG_TEST_LIST=\"file.h\" runs another list (a module built alone). */
#ifndef HG_TEST_LIST
#define HG_TEST_LIST "test-list.h"
#endif

#define HG_SUITE_ENTRY(s) extern const hg_test_case_t hg_suite_##s[];
#include HG_TEST_LIST
#undef HG_SUITE_ENTRY

static const struct {
    const char *name;
    const hg_test_case_t *cases;
} suites[] = {
#define HG_SUITE_ENTRY(s) {#s, hg_suite_##s},
#include HG_TEST_LIST
#undef HG_SUITE_ENTRY
};

static int run_one(const hg_test_case_t *c, int timeout_s)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm((unsigned)timeout_s);
        c->fn();
        fflush(stdout);
        exit(0); /* not _exit: LeakSanitizer runs at exit */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *t = getenv("HG_TEST_TIMEOUT");
    int timeout_s = t ? atoi(t) : 30;
    int passed = 0, failed = 0;
    const char *lvl = getenv("HG_TEST_LOG_LEVEL");
    hg_log_level = lvl ? hg_log_parse_level(lvl) : HG_LOG_WARN;
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        for (const hg_test_case_t *c = suites[s].cases; c->name; c++) {
            char full[256];
            snprintf(full, sizeof(full), "%s.%s", suites[s].name, c->name);
            if (filter && strstr(full, filter) == NULL)
                continue;
            int ok = run_one(c, timeout_s);
            printf("%s %s\n", ok ? "ok  " : "FAIL", full);
            if (ok)
                passed++;
            else
                failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
