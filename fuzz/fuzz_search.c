/* hangar — libFuzzer driver for SearchGameSessions expressions (src/fleet/search.c).
 *
 * Input: the whole input is one expression, handed to the parsers both ways — with its length
 * (hg_gs_*_parse_n, so embedded NULs are seen) and NUL-terminated (hg_gs_*_parse, which stops
 * at the first NUL). Seeds are in fuzz/corpus/search/.
 *
 * Each input is parsed as a FilterExpression and as a SortExpression, and checked:
 *   1. a refusal is HG_EINVAL with field and message prefix set, no control byte in the message,
 *      and the output left untouched;
 *   2. an accepted filter answers 0 or 1 for each of four fixed sessions, and "NOT (expr)",
 *      when it is itself accepted, answers the opposite for every session;
 *   3. without an embedded NUL both entry points agree (same code, same message);
 *   4. an accepted sort is a consistent order over the fixed sessions: cmp(a, a) == 0,
 *      cmp(a, b) == -cmp(b, a) in sign, and a session lacking the operand never comes before
 *      one that has it;
 *   5. every compiled filter is released: the allocation counter returns to where it was.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "fleet/search.h"

static const char *const k0[] = {"mode", "level", "a"};
static const char *const v0[] = {"brawl", "5", ""};
static const char *const k1[] = {"mode"};
static const char *const v1[] = {"novice"};
static const char *const k2[] = {"level", "key.with.dots", "path", "level", "\xc3\xa9t\xc3\xa9"};
static const char *const v2[] = {"05", "x", "C:\\games", "shadowed", "summer"};

#define ARN "arn:aws:gamelift:us-east-1::gamesession/fleet-1111/"
static const hg_gs_view_t views[] = {
    {ARN "gs-a", "Matt's Awesome Game 1", k0, v0, 3, 10, 3, 1000, 1},
    {ARN "gs-b", NULL, k1, v1, 1, 4, 4, 2000, 0},
    {ARN "gs-c", "zeta", k2, v2, 5, 8, 0, 1500, 1},
    {NULL, "", NULL, NULL, 0, INT64_MIN, INT64_MAX, -1, 0},
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

static void check(int ok, const char *what, const uint8_t *data, size_t size)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_search: %s (input %zu bytes: %.*s)\n", what, size, (int)size,
            (const char *)data);
    abort();
}

static void check_refusal(int rc, const hg_error_t *err, const char *field, const uint8_t *data,
                          size_t size)
{
    check(rc == HG_EINVAL && err->code == HG_EINVAL, "refusal is not HG_EINVAL", data, size);
    check(strcmp(err->field, field) == 0, "field not set", data, size);
    check(strncmp(err->msg, field, strlen(field)) == 0 && err->msg[strlen(field)] == ':',
          "message prefix missing", data, size);
    for (const char *p = err->msg; *p; p++)
        check((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in message", data, size);
}

static int has_operand(const hg_gs_sort_t *s, const hg_gs_view_t *v)
{
    switch (s->operand) {
    case HG_GS_OPERAND_ID: return v->id != NULL;
    case HG_GS_OPERAND_NAME: return v->name != NULL;
    case HG_GS_OPERAND_PROPERTY:
        for (size_t i = 0; i < v->nprops; i++)
            if (strcmp(v->prop_keys[i], s->key) == 0)
                return v->prop_vals[i] != NULL;
        return 0;
    default: return 1;
    }
}

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* Parse expr (len bytes; NUL-terminated form when cstr) as a filter and check it. */
static void filter(const char *expr, size_t len, int cstr, const uint8_t *data, size_t size,
                   int *rc_out, char *msg_out)
{
    hg_gs_filter_t *sentinel = (hg_gs_filter_t *)(uintptr_t)0x10, *f = sentinel;
    hg_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = cstr ? hg_gs_filter_parse(expr, &f, &err) : hg_gs_filter_parse_n(expr, len, &f, &err);
    *rc_out = rc;
    snprintf(msg_out, HG_ERROR_MSG_MAX, "%s", rc == HG_OK ? "" : err.msg);
    if (rc != HG_OK) {
        check(f == sentinel, "output written on refusal", data, size);
        check_refusal(rc, &err, "FilterExpression", data, size);
        return;
    }
    int m[NVIEWS];
    for (size_t i = 0; i < NVIEWS; i++) {
        m[i] = hg_gs_filter_match(f, &views[i]);
        check(m[i] == 0 || m[i] == 1, "match not 0 or 1", data, size);
    }
    hg_gs_filter_free(f);

    /* NOT (expr) must be the negation whenever it is accepted. */
    size_t n = cstr ? strlen(expr) : len;
    char *neg = malloc(n + 8);
    if (neg == NULL)
        return;
    memcpy(neg, "NOT (", 5);
    memcpy(neg + 5, expr, n);
    memcpy(neg + 5 + n, ")", 2);
    f = NULL;
    if (hg_gs_filter_parse_n(neg, n + 6, &f, NULL) == HG_OK) {
        for (size_t i = 0; i < NVIEWS; i++)
            check(hg_gs_filter_match(f, &views[i]) == !m[i], "NOT (expr) is not the negation", data,
                  size);
        hg_gs_filter_free(f);
    }
    free(neg);
}

static void sort(const char *expr, size_t len, int cstr, const uint8_t *data, size_t size)
{
    hg_gs_sort_t s;
    hg_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = cstr ? hg_gs_sort_parse(expr, &s, &err) : hg_gs_sort_parse_n(expr, len, &s, &err);
    if (rc != HG_OK) { /* *out is unspecified on refusal */
        check_refusal(rc, &err, "SortExpression", data, size);
        return;
    }
    check(s.operand >= HG_GS_OPERAND_ID && s.operand <= HG_GS_OPERAND_AVAILABLE, "bad operand",
          data, size);
    check(memchr(s.key, '\0', sizeof(s.key)) != NULL, "key not terminated", data, size);
    for (size_t i = 0; i < NVIEWS; i++) {
        check(hg_gs_sort_cmp(&s, &views[i], &views[i]) == 0, "cmp(a, a) != 0", data, size);
        for (size_t j = 0; j < NVIEWS; j++) {
            int ab = sign(hg_gs_sort_cmp(&s, &views[i], &views[j]));
            int ba = sign(hg_gs_sort_cmp(&s, &views[j], &views[i]));
            check(ab == -ba, "cmp not antisymmetric", data, size);
            if (!has_operand(&s, &views[i]) && has_operand(&s, &views[j]))
                check(ab > 0, "missing operand sorted first", data, size);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char msg_n[HG_ERROR_MSG_MAX], msg_c[HG_ERROR_MSG_MAX];
    size_t used = hg_alloc_used();
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    int rc_n, rc_c;
    filter(buf, size, 0, data, size, &rc_n, msg_n);
    filter(buf, size, 1, data, size, &rc_c, msg_c);
    if (memchr(buf, '\0', size) == NULL)
        check(rc_n == rc_c && strcmp(msg_n, msg_c) == 0, "parse and parse_n disagree", data, size);
    sort(buf, size, 0, data, size);
    sort(buf, size, 1, data, size);

    check(hg_alloc_used() == used, "filter memory not released", data, size);
    free(buf);
    return 0;
}
