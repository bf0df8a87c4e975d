/* Unit tests: the option table, its sources and the generated docs/config.md. */
#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "daemon/config.h"
#include "test.h"

HG_TEST(defaults_and_ranges)
{
    hg_config_t c;
    hg_config_init(&c);
    ASSERT_STR_EQ(c.listen, "127.0.0.1:7770");
    ASSERT_EQ_INT(c.fleetiq_health_window_s, 180);
    hg_error_t err;
    ASSERT_EQ_INT(hg_config_set(&c, "http-max-body", "12", &err), HG_EINVAL); /* below 1024 */
    ASSERT_EQ_INT(hg_config_set(&c, "http-max-body", "12x", &err), HG_EINVAL);
    ASSERT_EQ_INT(hg_config_set(&c, "no-such-option", "1", &err), HG_EINVAL);
    ASSERT_OK(hg_config_set(&c, "http-max-body", "2048", &err));
    ASSERT_EQ_INT(c.http_max_body, 2048);
}

HG_TEST(file_then_env)
{
    char path[] = "/tmp/hg-cfg-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    const char *text = "# comment\nlisten = 127.0.0.1:9999\n data = \"/tmp/x\" \n"
                       "fleetiq-health-window-s = 5\n";
    ASSERT_TRUE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    hg_config_t c;
    hg_config_init(&c);
    hg_error_t err;
    ASSERT_OK(hg_config_load_file(&c, path, &err));
    ASSERT_STR_EQ(c.listen, "127.0.0.1:9999");
    ASSERT_STR_EQ(c.data, "/tmp/x");
    setenv("HANGAR_FLEETIQ_HEALTH_WINDOW_S", "7", 1);
    ASSERT_OK(hg_config_load_env(&c, &err));
    ASSERT_EQ_INT(c.fleetiq_health_window_s, 7);
    setenv("HANGAR_HTTP_MAX_HEADERS", "100000", 1);
    ASSERT_EQ_INT(hg_config_load_env(&c, &err), HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "HANGAR_HTTP_MAX_HEADERS") != NULL);
    /* a bad line names its line number */
    FILE *f = fopen(path, "w");
    fputs("listen = 1.2.3.4:5\nbogus line\n", f);
    fclose(f);
    ASSERT_EQ_INT(hg_config_load_file(&c, path, &err), HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, ":2:") != NULL);
    unlink(path);
}

HG_TEST(docs_config_md_is_current)
{
    /* The unit tests run from the build directory or the repository root. */
    const char *paths[] = {"docs/config.md", "../docs/config.md", NULL};
    FILE *f = NULL;
    for (int i = 0; paths[i] && f == NULL; i++)
        f = fopen(paths[i], "r");
    if (f == NULL)
        HG_FAIL_("docs/config.md not found: regenerate with build/hangard --config-doc");
    hg_buf_t have;
    hg_buf_init(&have);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        hg_buf_append(&have, tmp, n);
    fclose(f);
    char *want = NULL;
    size_t wlen = 0;
    FILE *m = open_memstream(&want, &wlen);
    hg_config_print_doc(m);
    fclose(m);
    if (have.len != wlen || memcmp(have.data, want, wlen) != 0)
        HG_FAIL_("docs/config.md is stale: run build/hangard --config-doc > docs/config.md");
    free(want);
    hg_buf_free(&have);
}

HG_SUITE(config) = {HG_CASE(defaults_and_ranges), HG_CASE(file_then_env),
                    HG_CASE(docs_config_md_is_current), HG_CASE_END};
