/* Unit tests: core (errors, buffers). */
#include "core/bloom.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonscan.h"
#include "core/map.h"
#include "rt/turn.h"
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

typedef struct peer {
    hg_list_t node;
    int runs;
    int again; /* add itself again from its callback this many times */
} peer_t;

static int turn_closed;

static void far_timer(uv_timer_t *t)
{
    (void)t;
}

static void turn_cb(hg_turn_t *t, hg_list_t *node)
{
    peer_t *p = hg_container_of(node, peer_t, node);
    p->runs++;
    if (p->again > 0) {
        p->again--;
        hg_turn_add(t, &p->node);
    }
}

static void on_turn_closed(hg_turn_t *t)
{
    (void)t;
    turn_closed++;
}

HG_TEST(turn_runs_each_node_once_and_keeps_poll_from_blocking)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t far; /* without the turn, the loop would wait for this */
    uv_timer_init(&loop, &far);
    uv_timer_start(&far, far_timer, 60000, 0);
    hg_turn_t t;
    hg_turn_init(&t, &loop, turn_cb, NULL);
    peer_t a = {.runs = 0}, b = {.runs = 0, .again = 1};
    hg_list_init(&a.node);
    hg_list_init(&b.node);
    uv_run(&loop, UV_RUN_NOWAIT); /* settles the backend: uv_backend_timeout is 0 before */
    ASSERT_TRUE(uv_backend_timeout(&loop) > 0);
    hg_turn_add(&t, &a.node);
    hg_turn_add(&t, &a.node); /* already queued: once */
    hg_turn_add(&t, &b.node);
    ASSERT_EQ_INT(uv_backend_timeout(&loop), 0); /* queued work: the next poll must not block */
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(a.runs, 1);
    ASSERT_EQ_INT(b.runs, 2); /* added again from its callback: run in the same pass */
    ASSERT_TRUE(!hg_list_linked(&a.node) && !hg_list_linked(&b.node));
    ASSERT_TRUE(uv_backend_timeout(&loop) > 0); /* nothing queued: the handles are stopped */
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(a.runs, 1);
    hg_turn_add(&t, &a.node);
    hg_turn_close(&t, on_turn_closed); /* drops what is queued */
    ASSERT_TRUE(!hg_list_linked(&a.node));
    hg_turn_add(&t, &a.node); /* closing: ignored */
    ASSERT_TRUE(!hg_list_linked(&a.node));
    uv_close((uv_handle_t *)&far, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(turn_closed, 1);
    ASSERT_EQ_INT(a.runs, 1);
    ASSERT_OK(uv_loop_close(&loop));
}

/* The scanner takes exactly the JSON texts (a table of both kinds), stops right after the value,
 * and decodes strings (escapes, surrogate pairs, truncation). */
HG_TEST(json_scan_accepts_json_and_nothing_else)
{
    static const char *const good[] = {"0",
                                       "-0",
                                       "1.5e-3",
                                       "12345678901234567890123",
                                       "true",
                                       "null",
                                       "\"a\\\"b\"",
                                       "[]",
                                       "{}",
                                       " [ 1 , {\"a\" : [ ] } , \"x\" ] ",
                                       "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
                                       "\"\\ud83d\\ude00\"",
                                       "\"\\u00e9/\\/\"",
                                       "[1e400]"};
    static const char *const bad[] = {"",
                                      " ",
                                      "01",
                                      "1.",
                                      ".5",
                                      "-",
                                      "1e",
                                      "+1",
                                      "tru",
                                      "nul",
                                      "[1,]",
                                      "[,1]",
                                      "{\"a\"}",
                                      "{\"a\":}",
                                      "{\"a\":1,}",
                                      "{a:1}",
                                      "[1 2]",
                                      "\"\\x\"",
                                      "\"\\u12\"",
                                      "\"\\u0000\"",
                                      "\"\\ud83d\"",
                                      "\"\\ude00\"",
                                      "\"tab\there\"",
                                      "[",
                                      "{",
                                      "]",
                                      "\"open",
                                      "{\"a\":1 \"b\":2}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *p = good[i], *end = p + strlen(p);
        if (hg_json_skip(&p, end) != 0 || hg_json_ws(p, end) != end)
            HG_FAIL_("refused: %s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *p = bad[i], *end = p + strlen(p);
        if (hg_json_skip(&p, end) == 0 && hg_json_ws(p, end) == end)
            HG_FAIL_("accepted: %s", bad[i]);
    }
    /* nesting: at the limit yes, past it no */
    char deep[2 * HG_JSON_SCAN_DEPTH + 4];
    for (int extra = 0; extra <= 1; extra++) {
        int n = HG_JSON_SCAN_DEPTH + extra;
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        const char *p = deep;
        ASSERT_EQ_INT(hg_json_skip(&p, deep + 2 * n), extra ? -1 : 0);
    }
    const char *two = "[1] {\"b\":2}", *p = two;
    ASSERT_EQ_INT(hg_json_skip(&p, two + strlen(two)), 0);
    ASSERT_EQ_INT((int)(p - two), 3); /* right after the first value */
    char out[8];
    size_t len;
    const char *s = "\"h\\u00e9\\ud83d\\ude00\"";
    p = s;
    ASSERT_EQ_INT(hg_json_string(&p, s + strlen(s), out, sizeof(out), &len), 0);
    ASSERT_EQ_INT(len, 7);
    ASSERT_STR_EQ(out, "h\xc3\xa9\xf0\x9f\x98\x80");
    s = "\"longer than eight\"";
    p = s;
    ASSERT_EQ_INT(hg_json_string(&p, s + strlen(s), out, sizeof(out), &len), 0);
    ASSERT_EQ_INT(len, sizeof(out)); /* too long: cap, and the first 7 bytes */
    ASSERT_STR_EQ(out, "longer ");
    ASSERT_TRUE(*p == '\0');
}

/* Everything added is "maybe"; of 100,000 never added, about 1/64 or fewer are; past its bound
 * the filter answers "maybe" to everything. */
HG_TEST(bloom_grows_without_false_negatives_and_fails_safe)
{
    hg_bloom_t b;
    hg_bloom_init(&b, 1000, 1u << 20);
    char k[32];
    for (int i = 0; i < 50000; i++) { /* six stages */
        snprintf(k, sizeof(k), "p%d/key-%d", i % 97, i);
        hg_bloom_add(&b, hg_hash_bytes(k, strlen(k)));
    }
    ASSERT_TRUE(b.nstages >= 5);
    ASSERT_TRUE(!b.full);
    for (int i = 0; i < 50000; i++) {
        snprintf(k, sizeof(k), "p%d/key-%d", i % 97, i);
        ASSERT_EQ_INT(hg_bloom_maybe(&b, hg_hash_bytes(k, strlen(k))), 1);
    }
    int fp = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof(k), "p%d/other-%d", i % 97, i);
        fp += hg_bloom_maybe(&b, hg_hash_bytes(k, strlen(k)));
    }
    ASSERT_TRUE(fp < 100000 / 64);
    ASSERT_TRUE(fp > 0); /* a filter that says "maybe" only for what it holds is a set */
    hg_bloom_free(&b);

    hg_bloom_init(&b, 1000, 4096); /* room for the first stage only (2 KiB) */
    for (int i = 0; i < 1000; i++)
        hg_bloom_add(&b, (uint64_t)i * 7919);
    ASSERT_TRUE(!b.full);
    ASSERT_EQ_INT(hg_bloom_maybe(&b, 0xdeadbeefULL), 0);
    hg_bloom_add(&b, 123456789); /* a second stage would pass 4 KiB */
    ASSERT_TRUE(b.full);
    ASSERT_EQ_INT(hg_bloom_maybe(&b, 0xdeadbeefULL), 1);
    hg_bloom_free(&b);
}

HG_SUITE(core) = {HG_CASE(err_map),
                  HG_CASE(buf_grow),
                  HG_CASE(error_messages_are_valid_utf8),
                  HG_CASE(turn_runs_each_node_once_and_keeps_poll_from_blocking),
                  HG_CASE(json_scan_accepts_json_and_nothing_else),
                  HG_CASE(bloom_grows_without_false_negatives_and_fails_safe),
                  HG_CASE_END};
