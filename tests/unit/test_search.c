/* Unit tests: SearchGameSessions expressions (src/fleet/search.c) — filter results over a few
 * sessions, precedence, the documented choices (missing operands, bare property values), sort
 * orders, every parse error with its message and position, and the limits. */
#include <stdint.h>

#include "core/alloc.h"
#include "fleet/search.h"
#include "test.h"

#define ARN "arn:aws:gamelift:us-east-1::gamesession/fleet-1111/"

/* s0: named, mode=brawl level=5, 3 of 10, available.
 * s1: no name, mode=novice, 4 of 4, full.
 * s2: named zeta, no mode, level=05, a dotted key and a backslash value, empty, available. */
static const char *const k0[] = {"mode", "level"};
static const char *const v0[] = {"brawl", "5"};
static const char *const k1[] = {"mode"};
static const char *const v1[] = {"novice"};
static const char *const k2[] = {"level", "key.with.dots", "path", "level"};
static const char *const v2[] = {"05", "x", "C:\\games", "shadowed"};

static const hg_gs_view_t S[3] = {
    {ARN "gs-a", "Matt's Awesome Game 1", k0, v0, 2, 10, 3, 1000, 1},
    {ARN "gs-b", NULL, k1, v1, 1, 4, 4, 2000, 0},
    {ARN "gs-c", "zeta", k2, v2, 4, 8, 0, 1500, 1},
};

/* Parse expr (must succeed) and return a bitmask: bit i set when S[i] matches. */
static unsigned matches(const char *expr)
{
    hg_gs_filter_t *f = NULL;
    hg_error_t err = {0};
    int rc = hg_gs_filter_parse(expr, &f, &err);
    if (rc != HG_OK)
        HG_FAIL_("parse \"%s\": %d %s", expr, rc, err.msg);
    unsigned m = 0;
    for (unsigned i = 0; i < 3; i++) {
        int r = hg_gs_filter_match(f, &S[i]);
        if (r != 0 && r != 1)
            HG_FAIL_("match \"%s\" on s%u returned %d", expr, i, r);
        m |= (unsigned)r << i;
    }
    hg_gs_filter_free(f);
    return m;
}

struct row {
    const char *expr;
    unsigned want; /* bit i: S[i] matches */
};

static void check_table(const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned got = matches(rows[i].expr);
        if (got != rows[i].want)
            HG_FAIL_("\"%s\": matched {s0,s1,s2} = {%u,%u,%u}, want {%u,%u,%u}", rows[i].expr,
                     got & 1, (got >> 1) & 1, (got >> 2) & 1, rows[i].want & 1,
                     (rows[i].want >> 1) & 1, (rows[i].want >> 2) & 1);
    }
}

#define M(a, b, c) ((a) | (b) << 1 | (c) << 2)
#define ROWS(...)                                                                                  \
    do {                                                                                           \
        static const struct row rows_[] = {__VA_ARGS__};                                           \
        check_table(rows_, sizeof(rows_) / sizeof(rows_[0]));                                      \
    } while (0)

HG_TEST(filter_numbers_and_booleans)
{
    ROWS({"maximumSessions > 5", M(1, 0, 1)}, {"maximumSessions>=8", M(1, 0, 1)},
         {"maximumSessions<=8", M(0, 1, 1)}, {"maximumSessions < 8", M(0, 1, 0)},
         {"maximumSessions = 4", M(0, 1, 0)}, {"maximumSessions <> 4", M(1, 0, 1)},
         {"playerSessionCount = 0", M(0, 0, 1)}, {"playerSessionCount>0", M(1, 1, 0)},
         {"creationTimeMillis >= 1500", M(0, 1, 1)}, {"creationTimeMillis > -1", M(1, 1, 1)},
         {"creationTimeMillis < -9223372036854775808", M(0, 0, 0)},
         {"creationTimeMillis <= 9223372036854775807", M(1, 1, 1)},
         {"hasAvailablePlayerSessions=true", M(1, 0, 1)},
         {"hasAvailablePlayerSessions = false", M(0, 1, 0)},
         {"hasAvailablePlayerSessions <> true", M(0, 1, 0)},
         {"hasAvailablePlayerSessions = TRUE", M(1, 0, 1)},
         {"hasAvailablePlayerSessions <> False", M(1, 0, 1)});
}

HG_TEST(filter_strings)
{
    ROWS({"gameSessionName = 'Matt\\'s Awesome Game 1'", M(1, 0, 0)},
         {"gameSessionName = \"Matt's Awesome Game 1\"", M(1, 0, 0)},
         {"gameSessionName = 'matt\\'s awesome game 1'", M(0, 0, 0)}, /* case-sensitive */
         {"gameSessionName = 'Matt'", M(0, 0, 0)},                    /* whole value */
         {"gameSessionName='zeta'", M(0, 0, 1)}, {"gameSessionId = '" ARN "gs-b'", M(0, 1, 0)},
         {"gameSessionId <> '" ARN "gs-b'", M(1, 0, 1)},
         {"gameSessionId = 'gs-b'", M(0, 0, 0)}, /* the full ARN, not the short id */
         {"gameSessionProperties.mode = \"brawl\"", M(1, 0, 0)},
         {"gameSessionProperties.mode = 'BRAWL'", M(0, 0, 0)},
         {"gameSessionProperties.Mode = 'brawl'", M(0, 0, 0)}, /* keys are case-sensitive */
         {"gameSessionProperties.key.with.dots='x'", M(0, 0, 1)},
         {"gameSessionProperties.path = 'C:\\\\games'", M(0, 0, 1)},
         {"gameSessionProperties.path = \"C:\\games\"", M(0, 0, 0)}, /* \g is g */
         {"gameSessionProperties.mode = ''", M(0, 0, 0)});
}

/* The choices search.h documents: a missing operand makes = and <> false; NOT negates. */
HG_TEST(filter_missing_operand)
{
    ROWS({"gameSessionName <> 'zeta'", M(1, 0, 0)}, /* s1 has no name: false */
         {"NOT gameSessionName = 'zeta'", M(1, 1, 0)},
         {"gameSessionProperties.mode <> 'brawl'", M(0, 1, 0)}, /* s2 has no mode: false */
         {"NOT gameSessionProperties.mode = 'brawl'", M(0, 1, 1)},
         {"gameSessionProperties.nosuch = 'x' OR gameSessionProperties.nosuch <> 'x'", M(0, 0, 0)});
}

/* Bare numbers and booleans on a property compare as the text written; first duplicate wins. */
HG_TEST(filter_property_bare_values)
{
    ROWS({"gameSessionProperties.level = 5", M(1, 0, 0)},
         {"gameSessionProperties.level = '5'", M(1, 0, 0)},
         {"gameSessionProperties.level = 05", M(0, 0, 1)},
         {"gameSessionProperties.level = '05'", M(0, 0, 1)},
         {"gameSessionProperties.level <> 5", M(0, 0, 1)},
         {"gameSessionProperties.level = 'shadowed'", M(0, 0, 0)},
         {"gameSessionProperties.mode = true", M(0, 0, 0)});
    hg_gs_view_t v = S[0];
    const char *k[] = {"ranked", "n"};
    const char *val[] = {"true", "-7"};
    v.prop_keys = k, v.prop_vals = val, v.nprops = 2;
    hg_gs_filter_t *f = NULL;
    ASSERT_OK(hg_gs_filter_parse("gameSessionProperties.ranked = true AND "
                                 "gameSessionProperties.n = -7",
                                 &f, NULL));
    ASSERT_EQ_INT(hg_gs_filter_match(f, &v), 1);
    hg_gs_filter_free(f);
    /* The text as written: TRUE is not "true". */
    ASSERT_OK(hg_gs_filter_parse("gameSessionProperties.ranked = TRUE", &f, NULL));
    ASSERT_EQ_INT(hg_gs_filter_match(f, &v), 0);
    hg_gs_filter_free(f);
}

HG_TEST(filter_precedence)
{
    ROWS(/* AND binds tighter than OR: 4 OR (10 AND 0 players) */
         {"maximumSessions = 4 OR maximumSessions = 10 AND playerSessionCount = 0", M(0, 1, 0)},
         {"(maximumSessions = 4 OR maximumSessions = 10) AND playerSessionCount = 0", M(0, 0, 0)},
         {"(maximumSessions = 4 OR maximumSessions = 10) AND playerSessionCount = 3", M(1, 0, 0)},
         {"playerSessionCount = 0 AND maximumSessions = 10 OR maximumSessions = 4", M(0, 1, 0)},
         /* NOT binds tighter than AND */
         {"NOT maximumSessions = 4 AND NOT maximumSessions = 10", M(0, 0, 1)},
         {"NOT (maximumSessions = 4 OR maximumSessions = 10)", M(0, 0, 1)},
         {"NOT NOT hasAvailablePlayerSessions = true", M(1, 0, 1)},
         {"NOT(NOT(hasAvailablePlayerSessions = true))", M(1, 0, 1)},
         {"maximumSessions = 4 OR maximumSessions = 8 OR maximumSessions = 10", M(1, 1, 1)},
         {"maximumSessions > 1 AND maximumSessions < 10 AND playerSessionCount > 0", M(0, 1, 0)},
         {"(((maximumSessions=10)))", M(1, 0, 0)},
         /* keywords in any case */
         {"maximumSessions=10 oR maximumSessions=4", M(1, 1, 0)},
         {"not maximumSessions=10", M(0, 1, 1)},
         {"creationTimeMillis >= 1500 and playerSessionCount < 4", M(0, 0, 1)},
         /* whitespace anywhere between tokens, or none */
         {"  (  maximumSessions\t=\n10 )  ", M(1, 0, 0)},
         {"(maximumSessions=4)OR(maximumSessions=8)", M(0, 1, 1)},
         {"gameSessionName='zeta'OR gameSessionName=\"x\"", M(0, 0, 1)});
}

HG_TEST(filter_null_matches_all)
{
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(hg_gs_filter_match(NULL, &S[i]), 1);
    hg_gs_filter_free(NULL);
}

/* Parse expr (length len, or strlen when len is SIZE_MAX), which must fail with a message
 * "FilterExpression: " + want, exactly. */
static void filter_err_n(const char *expr, size_t len, const char *want)
{
    hg_gs_filter_t *f = (hg_gs_filter_t *)(uintptr_t)0x1; /* must stay untouched */
    hg_error_t err = {0};
    int rc = len == SIZE_MAX ? hg_gs_filter_parse(expr, &f, &err)
                             : hg_gs_filter_parse_n(expr, len, &f, &err);
    if (rc != HG_EINVAL)
        HG_FAIL_("\"%s\": rc %d, want HG_EINVAL", expr, rc);
    ASSERT_EQ_INT(err.code, HG_EINVAL);
    ASSERT_TRUE(f == (hg_gs_filter_t *)(uintptr_t)0x1);
    ASSERT_STR_EQ(err.field, "FilterExpression");
    char full[512];
    snprintf(full, sizeof(full), "FilterExpression: %s", want);
    if (strcmp(err.msg, full) != 0)
        HG_FAIL_("\"%s\":\n    got  %s\n    want %s", expr, err.msg, full);
    for (const char *p = err.msg; *p; p++)
        ASSERT_TRUE((unsigned char)*p >= 0x20);
    /* The same refusal without an error to fill. */
    rc = len == SIZE_MAX ? hg_gs_filter_parse(expr, &f, NULL)
                         : hg_gs_filter_parse_n(expr, len, &f, NULL);
    ASSERT_EQ_INT(rc, HG_EINVAL);
}

static void filter_err(const char *expr, const char *want)
{
    filter_err_n(expr, SIZE_MAX, want);
}

HG_TEST(filter_errors)
{
    /* empty */
    filter_err("", "empty expression");
    filter_err(" \t\n ", "empty expression");
    filter_err_n(NULL, 0, "empty expression");
    /* unknown operand (names are case-sensitive) */
    filter_err("foo = 1", "unknown operand 'foo' at position 1");
    filter_err("maximumSessions = 1 AND hasavailableplayersessions = true",
               "unknown operand 'hasavailableplayersessions' at position 25");
    filter_err("gameSessionPropertiesmode = 'x'",
               "unknown operand 'gameSessionPropertiesmode' at position 1");
    filter_err("gameSessionProperties. = 'x'",
               "missing property key after 'gameSessionProperties.' at position 1");
    filter_err("gameSessionProperties.abcdefghijklmnopqrstuvwxyz0123456 = 'x'",
               "property key longer than 32 bytes at position 23");
    filter_err("aVeryLongOperandNameThatGoesOnAndOnAndOnForever = 1",
               "unknown operand 'aVeryLongOperandNameThatGoesOnAndOnAndOn...' at position 1");
    /* comparators */
    filter_err("gameSessionName < 'a'", "comparator '<' not allowed for 'gameSessionName' at "
                                        "position 17 (strings allow only = and <>)");
    filter_err("gameSessionProperties.level >= 5",
               "comparator '>=' not allowed for 'gameSessionProperties.level' at position 29 "
               "(strings allow only = and <>)");
    filter_err("hasAvailablePlayerSessions > false",
               "comparator '>' not allowed for 'hasAvailablePlayerSessions' at position 28 "
               "(booleans allow only = and <>)");
    filter_err("maximumSessions == 1", "unexpected '=' at position 18 (expected a value: a "
                                       "number, true, false or a quoted string)");
    filter_err("maximumSessions != 1",
               "unexpected '!' at position 17 (expected a comparator: = <> < > <= >=)");
    filter_err("maximumSessions", "unexpected end of expression at position 16 (expected a "
                                  "comparator: = <> < > <= >=)");
    filter_err("maximumSessions 'x'",
               "unexpected string at position 17 (expected a comparator: = <> < > <= >=)");
    /* values and types */
    filter_err("maximumSessions = 'ten'",
               "'maximumSessions' takes a number, not a string, at position 19");
    filter_err("maximumSessions = true",
               "'maximumSessions' takes a number, not a boolean, at position 19");
    filter_err("gameSessionName = 5", "'gameSessionName' takes a string, not a number, at "
                                      "position 19");
    filter_err("gameSessionId <> false", "'gameSessionId' takes a string, not a boolean, at "
                                         "position 18");
    filter_err("hasAvailablePlayerSessions = 1",
               "'hasAvailablePlayerSessions' takes true or false, not a number, at position 30");
    filter_err("hasAvailablePlayerSessions = 'true'",
               "'hasAvailablePlayerSessions' takes true or false, not a string, at position 30");
    filter_err("maximumSessions = brawl", "unexpected 'brawl' at position 19 (expected a value: "
                                          "a number, true, false or a quoted string)");
    filter_err("maximumSessions = 1.5", "invalid number '1.5' at position 19 (integers only)");
    filter_err("maximumSessions = -", "invalid number '-' at position 19 (integers only)");
    filter_err("maximumSessions = +1", "unexpected '+1' at position 19 (expected a value: a "
                                       "number, true, false or a quoted string)");
    filter_err("maximumSessions = 9223372036854775808",
               "number '9223372036854775808' out of range at position 19");
    filter_err("maximumSessions = -9223372036854775809",
               "number '-9223372036854775809' out of range at position 19");
    /* strings */
    filter_err("gameSessionName = 'abc", "unterminated string starting at position 19");
    filter_err("gameSessionName = \"abc'", "unterminated string starting at position 19");
    filter_err("gameSessionName = 'abc\\'", "unterminated string starting at position 19");
    filter_err("gameSessionName = 'abc\\", "unterminated string starting at position 19");
    filter_err("gameSessionName = 'a' AND gameSessionName = 'b",
               "unterminated string starting at position 45");
    filter_err("gameSessionName = 'a' 'b", "unterminated string starting at position 23");
    /* structure */
    filter_err("maximumSessions = 1 ORR maximumSessions = 2",
               "unexpected 'ORR' at position 21 (expected AND, OR, ')' or end of expression)");
    filter_err("maximumSessions = 1 NOT maximumSessions = 2",
               "unexpected 'NOT' at position 21 (expected AND, OR, ')' or end of expression)");
    filter_err("maximumSessions = 1 AND", "unexpected end of expression at position 24 "
                                          "(expected a condition, NOT or '(')");
    filter_err("AND maximumSessions = 1",
               "unexpected 'AND' at position 1 (expected a condition, NOT or '(')");
    filter_err("NOT", "unexpected end of expression at position 4 (expected a condition, NOT "
                      "or '(')");
    filter_err("5 = maximumSessions",
               "unexpected '5' at position 1 (expected a condition, NOT or '(')");
    filter_err("'x' = gameSessionName",
               "unexpected string at position 1 (expected a condition, NOT or '(')");
    filter_err("maximumSessions = 1 maximumSessions = 2",
               "unexpected 'maximumSessions' at position 21 (expected AND, OR, ')' or end of "
               "expression)");
    /* parentheses */
    filter_err("(maximumSessions = 1", "unmatched '(' at position 1");
    filter_err("((maximumSessions = 1)", "unmatched '(' at position 1");
    filter_err("(maximumSessions = 1 AND (maximumSessions = 2)", "unmatched '(' at position 1");
    filter_err("maximumSessions = 1)", "unmatched ')' at position 20");
    filter_err("(maximumSessions = 1))", "unmatched ')' at position 22");
    filter_err("()", "unexpected ')' at position 2 (expected a condition, NOT or '(')");
    filter_err(")", "unexpected ')' at position 1 (expected a condition, NOT or '(')");
    /* bytes that start no token, shown without being copied */
    filter_err("maximumSessions = 1\x01", "unexpected byte 0x01 at position 20 (expected AND, "
                                          "OR, ')' or end of expression)");
    filter_err("maximumSessions\x1b[31m = 1", "unexpected byte 0x1b at position 16 (expected a "
                                              "comparator: = <> < > <= >=)");
    filter_err("\\", "unexpected '\\' at position 1 (expected a condition, NOT or '(')");
    filter_err_n("maximumSessions = 1\0 OR x", 25, "unexpected byte 0x00 at position 20");
    /* invalid UTF-8 in an echoed word is replaced, not copied */
    hg_error_t err = {0};
    hg_gs_filter_t *f = NULL;
    ASSERT_EQ_INT(hg_gs_filter_parse("\xff\xfe = 1", &f, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "FilterExpression: unknown operand '?"
                           "?' at position 1");
}

/* A chain of n opening parentheses (or NOTs) around one condition. */
static void nested(char *buf, size_t size, int n, int use_not)
{
    size_t i = 0;
    for (int k = 0; k < n; k++)
        i += (size_t)snprintf(buf + i, size - i, "%s", use_not ? "NOT " : "(");
    i += (size_t)snprintf(buf + i, size - i, "maximumSessions = 4");
    for (int k = 0; k < n && !use_not; k++)
        i += (size_t)snprintf(buf + i, size - i, ")");
}

HG_TEST(filter_limits_depth)
{
    char buf[HG_GS_EXPR_MAX + 1];
    nested(buf, sizeof(buf), HG_GS_MAX_DEPTH, 0);
    ASSERT_EQ_INT(matches(buf), M(0, 1, 0));
    nested(buf, sizeof(buf), HG_GS_MAX_DEPTH, 1); /* an even number of NOTs */
    ASSERT_EQ_INT(matches(buf), M(0, 1, 0));
    nested(buf, sizeof(buf), HG_GS_MAX_DEPTH + 1, 0);
    filter_err(buf, "nesting deeper than 32 at position 33");
    nested(buf, sizeof(buf), HG_GS_MAX_DEPTH + 1, 1);
    filter_err(buf, "nesting deeper than 32 at position 129");
    /* NOT and '(' count together */
    snprintf(buf, sizeof(buf), "%s", "NOT ");
    nested(buf + 4, sizeof(buf) - 4, HG_GS_MAX_DEPTH, 0);
    filter_err(buf, "nesting deeper than 32 at position 36");
    /* depth is nesting, not count: many NOTs side by side are fine */
    buf[0] = '\0';
    for (int k = 0; k < 30; k++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%sNOT maximumSessions = 1",
                 k ? " AND " : "");
    ASSERT_EQ_INT(matches(buf), M(1, 1, 1));
}

HG_TEST(filter_limits_length_and_conditions)
{
    char buf[HG_GS_EXPR_MAX + 2];
    /* exactly 1024 bytes: accepted; 1025: refused */
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "maximumSessions = 10", 20);
    buf[HG_GS_EXPR_MAX] = '\0';
    ASSERT_EQ_INT(matches(buf), M(1, 0, 0));
    buf[HG_GS_EXPR_MAX] = ' ';
    buf[HG_GS_EXPR_MAX + 1] = '\0';
    filter_err(buf, "longer than 1024 bytes");
    filter_err_n(buf, HG_GS_EXPR_MAX + 1, "longer than 1024 bytes");

    /* as many conditions as fit in 1024 bytes with this last one (53; 54 at most with the
     * shortest, under HG_GS_MAX_CONDS); only the last one matches, s2 only; the memory kept is
     * bounded by the expression length */
    buf[0] = '\0';
    int n = 0;
    while (strlen(buf) + 19 + 22 <= HG_GS_EXPR_MAX) {
        strcat(buf, "gameSessionId=''OR ");
        n++;
    }
    strcat(buf, "gameSessionName='zeta'");
    n++;
    ASSERT_EQ_INT(n, 53);
    ASSERT_TRUE(n <= HG_GS_MAX_CONDS);
    size_t before = hg_alloc_used();
    hg_gs_filter_t *f = NULL;
    ASSERT_OK(hg_gs_filter_parse(buf, &f, NULL));
    size_t held = hg_alloc_used() - before;
    ASSERT_TRUE(held > 0 && held <= 4 * strlen(buf));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(hg_gs_filter_match(f, &S[i]), i == 2);
    hg_gs_filter_free(f);
    ASSERT_EQ_INT(hg_alloc_used(), before);
}

HG_TEST(filter_parse_n)
{
    /* not NUL-terminated: only len bytes are read */
    const char text[] = "maximumSessions = 4XXXX";
    hg_gs_filter_t *f = NULL;
    ASSERT_OK(hg_gs_filter_parse_n(text, 19, &f, NULL));
    ASSERT_EQ_INT(hg_gs_filter_match(f, &S[1]), 1);
    ASSERT_EQ_INT(hg_gs_filter_match(f, &S[0]), 0);
    hg_gs_filter_free(f);
}

/* ---- sort ---- */

static hg_gs_sort_t sort_of(const char *expr)
{
    hg_gs_sort_t s;
    hg_error_t err = {0};
    if (hg_gs_sort_parse(expr, &s, &err) != HG_OK)
        HG_FAIL_("sort \"%s\": %s", expr, err.msg);
    return s;
}

static const hg_gs_sort_t *qs_sort;
static int qs_cmp(const void *a, const void *b)
{
    const hg_gs_view_t *x = *(const hg_gs_view_t *const *)a, *y = *(const hg_gs_view_t *const *)b;
    int r = hg_gs_sort_cmp(qs_sort, x, y);
    return r != 0 ? r : strcmp(x->id, y->id); /* the caller's tie-break */
}

/* Sort S by expr and return the order as a string of indices, e.g. "102". */
static const char *order(const char *expr)
{
    static char out[4];
    hg_gs_sort_t s = sort_of(expr);
    const hg_gs_view_t *v[3] = {&S[0], &S[1], &S[2]};
    qs_sort = &s;
    qsort(v, 3, sizeof(v[0]), qs_cmp);
    for (int i = 0; i < 3; i++)
        out[i] = (char)('0' + (v[i] - S));
    out[3] = '\0';
    return out;
}

HG_TEST(sort_orders)
{
    ASSERT_STR_EQ(order("maximumSessions ASC"), "120");
    ASSERT_STR_EQ(order("maximumSessions DESC"), "021");
    ASSERT_STR_EQ(order("creationTimeMillis"), "021"); /* no direction: ascending */
    ASSERT_STR_EQ(order("creationTimeMillis desc"), "120");
    ASSERT_STR_EQ(order("playerSessionCount ASC"), "201");
    ASSERT_STR_EQ(order("  playerSessionCount\tDesc  "), "102");
    ASSERT_STR_EQ(order("gameSessionId DESC"), "210");
    ASSERT_STR_EQ(order("hasAvailablePlayerSessions ASC"), "102");  /* false first */
    ASSERT_STR_EQ(order("hasAvailablePlayerSessions DESC"), "021"); /* ties by id */
}

HG_TEST(sort_missing_last)
{
    /* s1 has no name: last both ways */
    ASSERT_STR_EQ(order("gameSessionName ASC"), "021");
    ASSERT_STR_EQ(order("gameSessionName DESC"), "201");
    /* s2 has no mode: last both ways */
    ASSERT_STR_EQ(order("gameSessionProperties.mode ASC"), "012");
    ASSERT_STR_EQ(order("gameSessionProperties.mode DESC"), "102");
    /* level: s0 "5", s2 "05" (strings: "05" < "5"), s1 none */
    ASSERT_STR_EQ(order("gameSessionProperties.level"), "201");
    ASSERT_STR_EQ(order("gameSessionProperties.level DESC"), "021");

    hg_gs_sort_t s = sort_of("gameSessionProperties.mode DESC");
    ASSERT_EQ_INT(s.operand, HG_GS_OPERAND_PROPERTY);
    ASSERT_EQ_INT(s.desc, 1);
    ASSERT_STR_EQ(s.key, "mode");
    ASSERT_TRUE(hg_gs_sort_cmp(&s, &S[2], &S[0]) > 0);
    ASSERT_TRUE(hg_gs_sort_cmp(&s, &S[0], &S[2]) < 0);
    ASSERT_EQ_INT(hg_gs_sort_cmp(&s, &S[2], &S[2]), 0); /* both missing: tie */
    ASSERT_TRUE(hg_gs_sort_cmp(&s, &S[1], &S[0]) < 0);  /* novice before brawl, DESC */
    s = sort_of("gameSessionProperties.mode ASC");
    ASSERT_TRUE(hg_gs_sort_cmp(&s, &S[1], &S[0]) > 0);
    ASSERT_TRUE(hg_gs_sort_cmp(&s, &S[2], &S[1]) > 0);
    ASSERT_EQ_INT(hg_gs_sort_cmp(&s, &S[0], &S[0]), 0);
    /* a 32-byte key is kept whole */
    s = sort_of("gameSessionProperties.abcdefghijklmnopqrstuvwxyz012345 ASC");
    ASSERT_STR_EQ(s.key, "abcdefghijklmnopqrstuvwxyz012345");
}

static void sort_err(const char *expr, const char *want)
{
    hg_gs_sort_t s;
    hg_error_t err = {0};
    ASSERT_EQ_INT(hg_gs_sort_parse(expr, &s, &err), HG_EINVAL);
    ASSERT_EQ_INT(err.code, HG_EINVAL);
    ASSERT_STR_EQ(err.field, "SortExpression");
    char full[512];
    snprintf(full, sizeof(full), "SortExpression: %s", want);
    if (strcmp(err.msg, full) != 0)
        HG_FAIL_("\"%s\":\n    got  %s\n    want %s", expr, err.msg, full);
    ASSERT_EQ_INT(hg_gs_sort_parse(expr, &s, NULL), HG_EINVAL);
}

HG_TEST(sort_errors)
{
    sort_err("", "empty expression");
    sort_err("   ", "empty expression");
    sort_err("foo ASC", "unknown operand 'foo' at position 1");
    sort_err("MaximumSessions ASC", "unknown operand 'MaximumSessions' at position 1");
    sort_err("ASC", "unexpected 'ASC' at position 1 (expected an operand)");
    sort_err("(maximumSessions)", "unexpected '(' at position 1 (expected an operand)");
    sort_err("maximumSessions UP",
             "unexpected 'UP' at position 17 (expected ASC, DESC or end of expression)");
    sort_err("maximumSessions ASC DESC",
             "unexpected 'DESC' at position 21 (expected end of expression)");
    sort_err("maximumSessions = 1", "unexpected '=' at position 17 (expected ASC, DESC or end "
                                    "of expression)");
    sort_err("gameSessionProperties. ASC",
             "missing property key after 'gameSessionProperties.' at position 1");
    sort_err("gameSessionProperties.abcdefghijklmnopqrstuvwxyz0123456 ASC",
             "property key longer than 32 bytes at position 23");
    sort_err("gameSessionName 'x", "unterminated string starting at position 17");
    char buf[HG_GS_EXPR_MAX + 2];
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "maximumSessions", 15);
    buf[HG_GS_EXPR_MAX + 1] = '\0';
    sort_err(buf, "longer than 1024 bytes");
    buf[HG_GS_EXPR_MAX] = '\0';
    ASSERT_EQ_INT(sort_of(buf).operand, HG_GS_OPERAND_MAX_PLAYERS);
}

HG_SUITE(search) = {
    HG_CASE(filter_numbers_and_booleans),
    HG_CASE(filter_strings),
    HG_CASE(filter_missing_operand),
    HG_CASE(filter_property_bare_values),
    HG_CASE(filter_precedence),
    HG_CASE(filter_null_matches_all),
    HG_CASE(filter_errors),
    HG_CASE(filter_limits_depth),
    HG_CASE(filter_limits_length_and_conditions),
    HG_CASE(filter_parse_n),
    HG_CASE(sort_orders),
    HG_CASE(sort_missing_last),
    HG_CASE(sort_errors),
    HG_CASE_END,
};
