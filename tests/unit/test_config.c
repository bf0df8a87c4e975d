/* Unit tests: the option table, its sources and the generated docs/config.md. */
#include <stdlib.h>
#include <string.h>
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

HG_TEST(string_lengths_and_whole_checks)
{
    hg_config_t c;
    hg_config_init(&c);
    hg_error_t err;
    /* the admin key's documented lengths are checked when the option is read */
    ASSERT_EQ_INT(hg_config_set(&c, "admin-key-id", "AB", &err), HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "4..20") != NULL);
    ASSERT_EQ_INT(hg_config_set(&c, "admin-secret", "1234567", &err), HG_EINVAL);
    ASSERT_EQ_INT(hg_config_set(&c, "admin-key-id", "AKIA0123456789ABCDEFG", &err), HG_EINVAL);
    ASSERT_OK(hg_config_set(&c, "admin-key-id", "AKIA", &err));
    ASSERT_OK(hg_config_set(&c, "admin-key-id", "", &err)); /* unset */
    ASSERT_OK(hg_config_check(&c, &err));
    /* what spans options or formats, checked before anything starts */
    hg_config_t k = c;
    ASSERT_OK(hg_config_set(&k, "admin-key-id", "AKIA0001", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL); /* without its secret */
    k = c;
    ASSERT_OK(hg_config_set(&k, "listen", "localhost", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "listen") != NULL);
    ASSERT_OK(hg_config_set(&k, "listen", "[::1]:70000", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL);
    k = c;
    ASSERT_OK(hg_config_set(&k, "log-level", "loud", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL);
    k = c;
    ASSERT_OK(hg_config_set(&k, "tls-cert", "/nonexistent/cert.pem", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL); /* without its key */
    ASSERT_OK(hg_config_set(&k, "tls-key", "/nonexistent/key.pem", &err));
    ASSERT_TRUE(hg_config_check(&k, &err) < 0);
    ASSERT_TRUE(strstr(err.msg, "/nonexistent/cert.pem") != NULL);
    k = c;
    ASSERT_OK(hg_config_set(&k, "account-id", "12345", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL);
    k = c;
    ASSERT_OK(hg_config_set(&k, "sdk-endpoint", "http://x/sdk", &err));
    ASSERT_EQ_INT(hg_config_check(&k, &err), HG_EINVAL);
    char host[64];
    int port;
    ASSERT_OK(hg_config_parse_listen("[::1]:7770", host, sizeof(host), &port));
    ASSERT_STR_EQ(host, "::1");
    ASSERT_EQ_INT(port, 7770);
}

HG_SUITE(config) = {HG_CASE(defaults_and_ranges), HG_CASE(file_then_env),
                    HG_CASE(docs_config_md_is_current), HG_CASE(string_lengths_and_whole_checks),
                    HG_CASE_END};
