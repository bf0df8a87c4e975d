/* Unit tests: core (errors, buffers). */
#include "core/buf.h"
#include "core/err.h"
#include "test.h"

HG_TEST(err_map)
{
    ASSERT_STR_EQ(hg_err_gamelift_type(HG_ENOTFOUND), "NotFoundException");
    ASSERT_EQ_INT(hg_err_http_status(HG_EINTERNAL), 500);
    ASSERT_EQ_INT(hg_err_http_status(-2), 500);
    ASSERT_STR_EQ(hg_err_name(HG_EINVAL), "EINVAL");
    ASSERT_STR_EQ(hg_err_name(-2), "ENOENT");
    hg_error_t e;
    hg_error_clear(&e);
    ASSERT_EQ_INT(hg_error_set(&e, HG_ECONFLICT, "dup %s", "x"), HG_ECONFLICT);
    ASSERT_STR_EQ(hg_error_message(&e), "dup x");
}

HG_TEST(buf_grow)
{
    hg_buf_t b;
    hg_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        hg_buf_printf(&b, "%04d", i);
    ASSERT_EQ_INT(b.len, 4000);
    ASSERT_TRUE(memcmp(b.data + 3996, "0999", 4) == 0);
    hg_buf_consume(&b, 3996);
    ASSERT_STR_EQ(b.data, "0999");
    hg_buf_free(&b);
}

HG_TEST(error_messages_are_valid_utf8)
{
    hg_error_t e;
    hg_error_clear(&e);
    hg_error_set(&e, HG_EINVAL, "bad %s", "\xff\xfe ok \xc3\xa9 \xed\xa0\x80 \x01 \xe2\x82");
    ASSERT_STR_EQ(hg_error_message(&e), "bad ?? ok \xc3\xa9 ??? ? ??");
    char s[] = "\xf0\x9f\x98\x80\xc0\xaf";
    hg_utf8_sanitize(s);
    ASSERT_STR_EQ(s, "\xf0\x9f\x98\x80??"); /* emoji kept, overlong '/' replaced */
}

HG_SUITE(core) = {HG_CASE(err_map), HG_CASE(buf_grow), HG_CASE(error_messages_are_valid_utf8),
                  HG_CASE_END};
