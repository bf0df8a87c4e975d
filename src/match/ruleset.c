/* hangar — FlexMatch rule set compiler: RuleSetBody JSON → immutable hg_rules_t (language and
 * choices in docs/flexmatch.md, limits in ruleset.h).
 *
 * Design. The body is parsed once with jansson and walked section by section in the order the
 * sections depend on each other: playerAttributes, teams (replicated by quantity), algorithm,
 * rules (two passes: names first, so a compound statement may name a rule defined after it),
 * expansions (which address rules and teams by name), then the checks that need the whole
 * set (large-match restrictions). Every refusal goes through fail(), which appends the
 * current location in GameLift's words ("; location: rules section: array index=2: Fair"),
 * so each section only keeps `loc` up to date.
 *
 * Property expressions ("avg(teams[*].players.attributes[skill])") are compiled by a small
 * recursive-descent parser whose recursion is bounded by HG_RULES_EXPR_DEPTH_MAX; each node
 * carries its result type (base, list depth), so type errors are refused here, not found by
 * the matcher. Compound statements use a second parser of the same shape.
 *
 * Ownership: everything hangs off the hg_rules_t and is released by hg_rules_free(); on a
 * refusal the half-built set is released the same way (every pointer starts NULL).
 */
#include "match/ruleset.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/str.h"
#include "match/match_int.h"

#define NAME_EXTRA "-._"

typedef struct ctx {
    hg_rules_t *rs;
    hg_error_t *err;
    char loc[192];
} ctx_t;

/* ---- errors ---- */

static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx_t *c, const char *fmt, ...)
{
    char msg[HG_ERROR_MSG_MAX - 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err == NULL)
        return HG_EINVAL;
    if (c->loc[0])
        hg_error_set(c->err, HG_EINVAL, "%s; location: %s", msg, c->loc);
    else
        hg_error_set(c->err, HG_EINVAL, "%s", msg);
    snprintf(c->err->field, sizeof(c->err->field), "RuleSetBody");
    /* messages quote the body (and jansson's text quotes it too): no control bytes, no DEL */
    for (char *p = c->err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return HG_EINVAL;
}

static void set_loc(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_loc(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->loc, sizeof(c->loc), fmt, ap);
    va_end(ap);
}

/* Append ": what" to the location (a property of the current entry). Returns the old length so
 * the caller can cut it off again with pop_loc(). */
static size_t push_loc(ctx_t *c, const char *what)
{
    size_t n = strlen(c->loc);
    snprintf(c->loc + n, sizeof(c->loc) - n, ": %s", what);
    return n;
}

static void pop_loc(ctx_t *c, size_t n)
{
    c->loc[n] = '\0';
}

/* ---- JSON helpers ---- */

/* A number, or a string holding one ("500" is as good as 500 in AWS's own examples). */
static int as_number(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    if (json_string_length(v) == 0 || json_string_length(v) > 64 ||
        strlen(s) != json_string_length(v))
        return 0;
    char *end = NULL;
    double d = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end != '\0' || !isfinite(d) || *s == ' ')
        return 0;
    *out = d;
    return 1;
}

static int as_int(const json_t *v, long lo, long hi, long *out)
{
    double d;
    if (!as_number(v, &d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return 0;
    *out = (long)d;
    return 1;
}

/* Refuse keys of obj not in allowed (a NULL-terminated list). */
static int check_keys(ctx_t *c, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char shown[48];
            snprintf(shown, sizeof(shown), "%s", key);
            return fail(c, "Unknown property '%s'", shown);
        }
    }
    return HG_OK;
}

static int valid_name(const char *s)
{
    return hg_str_name(s, strlen(s), HG_RULES_NAME_MAX, NAME_EXTRA);
}

/* A required or optional name member: 1..HG_RULES_NAME_MAX of [A-Za-z0-9_.-]. */
static int get_name(ctx_t *c, json_t *obj, const char *key, int required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return fail(c, "Missing required property '%s'", key);
        return HG_OK;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !valid_name(json_string_value(v)))
        return fail(c, "'%s' must be a string of 1 to %d letters, digits, '_', '-' or '.'", key,
                    HG_RULES_NAME_MAX);
    *out = json_string_value(v);
    return HG_OK;
}

/* ---- lookups ---- */

int hg_rules_attr_index(const hg_rules_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->nattrs; i++)
        if (strcmp(rs->attrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

int hg_rules_team_index(const hg_rules_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->nteams; i++)
        if (strcmp(rs->teams[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int attr_index_n(const hg_rules_t *rs, const char *name, size_t n)
{
    for (size_t i = 0; i < rs->nattrs; i++)
        if (strlen(rs->attrs[i].name) == n && memcmp(rs->attrs[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

static int rule_index(const hg_rules_t *rs, const char *name, size_t n)
{
    for (size_t i = 0; i < rs->nrules; i++)
        if (rs->rules[i].name && strlen(rs->rules[i].name) == n &&
            memcmp(rs->rules[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

/* ---- freeing ---- */

static void rx_free(rx_t *x)
{
    if (x == NULL)
        return;
    rx_free(x->kid);
    for (size_t i = 0; i < x->nitems; i++)
        rx_free(x->items[i]);
    hg_free(x->items);
    hg_free(x->teams);
    hg_free(x->str);
    hg_free(x);
}

static void stmt_free(stmt_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nkids; i++)
        stmt_free(s->kids[i]);
    hg_free(s->kids);
    hg_free(s);
}

void hg_rules_free(hg_rules_t *rs)
{
    if (rs == NULL)
        return;
    hg_free(rs->name);
    for (size_t i = 0; i < rs->nattrs; i++) {
        rattr_t *a = &rs->attrs[i];
        hg_free(a->name);
        hg_free(a->dstr);
        for (size_t k = 0; k < a->ndlist; k++)
            hg_free(a->dlist[k]);
        hg_free(a->dlist);
        for (size_t k = 0; k < a->ndmap; k++)
            hg_free(a->dkeys[k]);
        hg_free(a->dkeys);
        hg_free(a->dvals);
    }
    hg_free(rs->attrs);
    for (size_t i = 0; i < rs->nteams; i++)
        hg_free(rs->teams[i].name);
    hg_free(rs->teams);
    for (size_t i = 0; i < rs->ndefs; i++)
        hg_free(rs->defs[i].name);
    hg_free(rs->defs);
    for (size_t i = 0; i < rs->nrules; i++) {
        rule_t *r = &rs->rules[i];
        hg_free(r->name);
        for (size_t k = 0; k < r->nmeas; k++)
            rx_free(r->meas[k]);
        hg_free(r->meas);
        rx_free(r->ref);
        stmt_free(r->stmt);
    }
    hg_free(rs->rules);
    hg_free(rs->exps);
    hg_free(rs);
}

/* ---- property expressions ---- */

typedef struct xp {
    ctx_t *c;
    const char *s;
    size_t n, i;
} xp_t;

static const char *const fn_names[] = {"min",   "max",    "avg",     "median",          "sum",
                                       "count", "stddev", "flatten", "set_intersection"};

static int xp_fail(xp_t *p, const char *what)
{
    char shown[80];
    snprintf(shown, sizeof(shown), "%.*s%s", (int)(p->n > 64 ? 64 : p->n), p->s,
             p->n > 64 ? "..." : "");
    return fail(p->c, "Invalid property expression '%s': %s at position %zu", shown, what,
                p->i + 1);
}

static void xp_ws(xp_t *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
        p->i++;
}

static int xp_eat(xp_t *p, const char *lit)
{
    size_t k = strlen(lit);
    xp_ws(p);
    if (p->n - p->i >= k && memcmp(p->s + p->i, lit, k) == 0) {
        p->i += k;
        return 1;
    }
    return 0;
}

static size_t xp_ident(xp_t *p)
{
    size_t j = p->i;
    while (j < p->n && ((p->s[j] >= 'a' && p->s[j] <= 'z') || (p->s[j] >= 'A' && p->s[j] <= 'Z') ||
                        (p->s[j] >= '0' && p->s[j] <= '9') || p->s[j] == '_'))
        j++;
    return j - p->i;
}

static rx_t *rx_new(rx_kind_t kind, rx_base_t base, int depth)
{
    rx_t *x = hg_calloc(1, sizeof(*x));
    x->kind = (uint8_t)kind;
    x->base = (uint8_t)base;
    x->depth = (uint8_t)depth;
    x->attr = -1;
    return x;
}

/* The text between '[' and ']' (already past '['): [start, end) trimmed; p->i after ']'. */
static int xp_bracket(xp_t *p, size_t *start, size_t *end)
{
    size_t j = p->i;
    while (j < p->n && p->s[j] != ']')
        j++;
    if (j >= p->n) {
        /* a constant, not xp_fail's result: the callers read *start and *end after testing it,
         * and GCC at -O3 cannot see that fail() (variadic, not inlined) never returns HG_OK */
        xp_fail(p, "missing ']'");
        return HG_EINVAL;
    }
    size_t a = p->i, b = j;
    while (a < b && p->s[a] == ' ')
        a++;
    while (b > a && p->s[b - 1] == ' ')
        b--;
    *start = a;
    *end = b;
    p->i = j + 1;
    return HG_OK;
}

/* Resolve one team name of a selector: a team ("aliens_1", "red") or a definition's name, which
 * stands for all of its replicas. Appends indices to x->teams. */
static int xp_team(xp_t *p, rx_t *x, const char *name, size_t n, int *many)
{
    const hg_rules_t *rs = p->c->rs;
    for (size_t t = 0; t < rs->nteams; t++)
        if (strlen(rs->teams[t].name) == n && memcmp(rs->teams[t].name, name, n) == 0) {
            x->teams[x->nteams++] = (uint16_t)t;
            return HG_OK;
        }
    for (size_t d = 0; d < rs->ndefs; d++)
        if (strlen(rs->defs[d].name) == n && memcmp(rs->defs[d].name, name, n) == 0) {
            for (size_t k = 0; k < rs->defs[d].count; k++)
                x->teams[x->nteams++] = (uint16_t)(rs->defs[d].first + k);
            *many = 1;
            return HG_OK;
        }
    char shown[64];
    snprintf(shown, sizeof(shown), "unknown team '%.*s'", (int)(n > 40 ? 40 : n), name);
    return xp_fail(p, shown);
}

/* teams[sel](.players(.attributes[x] | .playerId | [playerId])?)? — p->i just after '['. */
static rx_t *xp_path(xp_t *p)
{
    const hg_rules_t *rs = p->c->rs;
    size_t a, b;
    if (xp_bracket(p, &a, &b) != HG_OK)
        return NULL;
    rx_t *x = rx_new(RX_TEAMS, B_TEAM, 0);
    /* each name of the selector stands for at most every team */
    size_t names = 1;
    for (size_t k = a; k < b; k++)
        names += p->s[k] == ',';
    x->teams = hg_calloc(names * rs->nteams + 1, sizeof(*x->teams));
    int many = 0;
    if (b - a == 1 && p->s[a] == '*') {
        for (size_t t = 0; t < rs->nteams; t++)
            x->teams[x->nteams++] = (uint16_t)t;
        many = 1;
    } else {
        size_t k = a;
        int seen = 0;
        while (k <= b) {
            size_t e = k;
            while (e < b && p->s[e] != ',')
                e++;
            size_t s0 = k, e0 = e;
            while (s0 < e0 && p->s[s0] == ' ')
                s0++;
            while (e0 > s0 && p->s[e0 - 1] == ' ')
                e0--;
            if (e0 == s0 || xp_team(p, x, p->s + s0, e0 - s0, &many) != HG_OK) {
                if (e0 == s0)
                    xp_fail(p, "empty team name");
                rx_free(x);
                return NULL;
            }
            seen++;
            k = e + 1;
        }
        if (seen > 1)
            many = 1;
    }
    x->depth = (uint8_t)(many ? 1 : 0);
    if (!xp_eat(p, ".players"))
        return x;
    rx_t *pl = rx_new(RX_PLAYERS, B_PLAYER, x->depth + 1);
    pl->kid = x;
    if (xp_eat(p, ".attributes")) {
        if (!xp_eat(p, "[")) {
            xp_fail(p, "expected '[' after attributes");
            rx_free(pl);
            return NULL;
        }
        if (xp_bracket(p, &a, &b) != HG_OK) {
            rx_free(pl);
            return NULL;
        }
        int ai = attr_index_n(rs, p->s + a, b - a);
        if (ai < 0) {
            char shown[80];
            snprintf(shown, sizeof(shown), "attribute '%.*s' is not in playerAttributes",
                     (int)(b - a > 40 ? 40 : b - a), p->s + a);
            xp_fail(p, shown);
            rx_free(pl);
            return NULL;
        }
        rs->attrs[ai].used = 1;
        hg_rules_attr_type_t t = rs->attrs[ai].type;
        rx_base_t base = t == HG_RULES_ATTR_NUMBER              ? B_NUM
                         : t == HG_RULES_ATTR_STRING_NUMBER_MAP ? B_MAP
                                                                : B_STR;
        rx_t *at = rx_new(RX_ATTR, base, pl->depth + (t == HG_RULES_ATTR_STRING_LIST));
        at->attr = ai;
        at->kid = pl;
        return at;
    }
    if (xp_eat(p, ".playerId") || xp_eat(p, "[playerId]")) {
        rx_t *id = rx_new(RX_PLAYERID, B_STR, pl->depth);
        id->kid = pl;
        return id;
    }
    return pl;
}

static rx_t *xp_expr(xp_t *p, int depth);

static rx_t *xp_func(xp_t *p, rx_fn_t fn, int depth)
{
    rx_t *in = xp_expr(p, depth + 1);
    if (in == NULL)
        return NULL;
    if (!xp_eat(p, ")")) {
        xp_fail(p, "expected ')'");
        rx_free(in);
        return NULL;
    }
    const char *why = NULL;
    int core = fn == FN_FLATTEN || fn == FN_SET_INTERSECTION ? 2 : 1;
    if (in->depth < core)
        why = core == 2 ? "needs a list of lists" : "needs a list";
    else if (fn != FN_COUNT && fn != FN_FLATTEN && fn != FN_SET_INTERSECTION && in->base != B_NUM)
        why = "needs numbers";
    else if (fn == FN_SET_INTERSECTION && in->base != B_STR)
        why = "needs strings";
    if (why) {
        char shown[80];
        snprintf(shown, sizeof(shown), "%s() %s", fn_names[fn], why);
        xp_fail(p, shown);
        rx_free(in);
        return NULL;
    }
    rx_t *x = rx_new(RX_FUNC, fn == FN_COUNT ? B_NUM : (rx_base_t)in->base, in->depth - 1);
    x->fn = (uint8_t)fn;
    x->kid = in;
    x->has_fn = 1;
    return x;
}

static rx_t *xp_expr(xp_t *p, int depth)
{
    if (depth > HG_RULES_EXPR_DEPTH_MAX) {
        char why[48];
        snprintf(why, sizeof(why), "nested deeper than %d levels", HG_RULES_EXPR_DEPTH_MAX);
        xp_fail(p, why);
        return NULL;
    }
    xp_ws(p);
    if (p->i >= p->n) {
        xp_fail(p, "unexpected end");
        return NULL;
    }
    char ch = p->s[p->i];
    if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '.') {
        size_t j = p->i;
        char num[40];
        while (j < p->n && j - p->i < sizeof(num) - 1 && strchr("0123456789.-+eE", p->s[j]) != NULL)
            j++;
        memcpy(num, p->s + p->i, j - p->i);
        num[j - p->i] = '\0';
        char *end = NULL;
        double d = strtod(num, &end);
        if (end == num || *end != '\0' || !isfinite(d)) {
            xp_fail(p, "bad number");
            return NULL;
        }
        p->i = j;
        rx_t *x = rx_new(RX_NUM, B_NUM, 0);
        x->num = d;
        return x;
    }
    if (ch == '\'' || ch == '"') {
        size_t j = p->i + 1;
        while (j < p->n && p->s[j] != ch)
            j++;
        if (j >= p->n) {
            xp_fail(p, "unterminated string");
            return NULL;
        }
        rx_t *x = rx_new(RX_STR, B_STR, 0);
        x->str = hg_strndup(p->s + p->i + 1, j - p->i - 1);
        p->i = j + 1;
        return x;
    }
    size_t k = xp_ident(p);
    if (k == 0) {
        xp_fail(p, "unexpected character");
        return NULL;
    }
    const char *w = p->s + p->i;
    p->i += k;
    if ((k == 5 && memcmp(w, "teams", 5) == 0) || (k == 4 && memcmp(w, "team", 4) == 0)) {
        if (!xp_eat(p, "[")) {
            xp_fail(p, "expected '[' after teams");
            return NULL;
        }
        return xp_path(p);
    }
    for (size_t f = 0; f < sizeof(fn_names) / sizeof(fn_names[0]); f++)
        if (strlen(fn_names[f]) == k && memcmp(fn_names[f], w, k) == 0) {
            if (!xp_eat(p, "(")) {
                xp_fail(p, "expected '(' after function name");
                return NULL;
            }
            return xp_func(p, (rx_fn_t)f, depth);
        }
    p->i -= k;
    xp_fail(p, "unknown function or property");
    return NULL;
}

/* Does s look like an expression (a path or a function call) rather than a literal string? */
static int looks_like_expr(const char *s)
{
    while (*s == ' ')
        s++;
    if (strncmp(s, "teams[", 6) == 0 || strncmp(s, "team[", 5) == 0)
        return 1;
    for (size_t f = 0; f < sizeof(fn_names) / sizeof(fn_names[0]); f++) {
        size_t k = strlen(fn_names[f]);
        if (strncmp(s, fn_names[f], k) == 0) {
            const char *q = s + k;
            while (*q == ' ')
                q++;
            if (*q == '(')
                return 1;
        }
    }
    return 0;
}

/* Compile the expression in JSON string v. */
static int compile_expr(ctx_t *c, const json_t *v, rx_t **out)
{
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    *out = NULL;
    if (n == 0 || n > HG_RULES_EXPR_MAX || strlen(s) != n)
        return fail(c, "A property expression must be 1 to %d bytes", HG_RULES_EXPR_MAX);
    xp_t p = {.c = c, .s = s, .n = n, .i = 0};
    rx_t *x = xp_expr(&p, 1);
    if (x == NULL)
        return HG_EINVAL;
    xp_ws(&p);
    if (p.i != p.n) {
        rx_free(x);
        return xp_fail(&p, "unexpected text after the expression");
    }
    *out = x;
    return HG_OK;
}

/* A referenceValue / distanceReference: a number, a list of literals, an expression, or a
 * literal string. A number also fills prop[P_REFERENCE] so an expansion may target it. */
static int compile_ref(ctx_t *c, rule_t *r, const json_t *v, int want_num)
{
    double d;
    if (json_is_number(v) || (want_num && json_is_string(v) && as_number(v, &d))) {
        as_number(v, &d);
        if (!isfinite(d))
            return fail(c, "referenceValue must be a finite number");
        r->ref = rx_new(RX_NUM, B_NUM, 0);
        r->ref->num = d;
        r->prop[P_REFERENCE] = d;
        r->has[P_REFERENCE] = 1;
        return HG_OK;
    }
    if (json_is_string(v)) {
        if (looks_like_expr(json_string_value(v)))
            return compile_expr(c, v, &r->ref);
        if (json_string_length(v) > HG_RULES_EXPR_MAX ||
            strlen(json_string_value(v)) != json_string_length(v))
            return fail(c, "A reference string must be at most %d bytes", HG_RULES_EXPR_MAX);
        r->ref = rx_new(RX_STR, B_STR, 0);
        r->ref->str = hg_strdup(json_string_value(v));
        return HG_OK;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n == 0 || n > HG_RULES_MAX_LIST)
            return fail(c, "A reference list must hold 1 to %d values", HG_RULES_MAX_LIST);
        rx_t *x = rx_new(RX_LIST, B_STR, 1);
        r->ref = x;
        x->items = hg_calloc(n, sizeof(*x->items));
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            rx_t *it = NULL;
            if (json_is_string(e) && strlen(json_string_value(e)) == json_string_length(e) &&
                json_string_length(e) <= 100) {
                it = rx_new(RX_STR, B_STR, 0);
                it->str = hg_strdup(json_string_value(e));
            } else if (json_is_number(e)) {
                it = rx_new(RX_NUM, B_NUM, 0);
                it->num = json_number_value(e);
            } else {
                return fail(c, "A reference list must hold strings of at most 100 bytes or "
                               "numbers");
            }
            x->items[x->nitems++] = it;
            if (i > 0 && it->base != x->base)
                return fail(c, "A reference list must not mix strings and numbers");
            x->base = it->base;
        }
        return HG_OK;
    }
    return fail(c, "referenceValue must be a number, a string, a list or a property expression");
}

/* ---- compound statements ---- */

typedef struct sp {
    ctx_t *c;
    const char *s;
    size_t n, i;
    int self;
} sp_t;

static int sp_fail(sp_t *p, const char *what)
{
    return fail(p->c, "Invalid compound statement: %s at position %zu", what, p->i + 1);
}

static void sp_ws(sp_t *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
        p->i++;
}

static stmt_t *sp_stmt(sp_t *p, int depth)
{
    if (depth > HG_RULES_STATEMENT_DEPTH_MAX) {
        sp_fail(p, "nested too deeply");
        return NULL;
    }
    sp_ws(p);
    size_t j = p->i;
    while (j < p->n && hg_str_name(p->s + j, 1, 1, NAME_EXTRA))
        j++;
    if (j == p->i) {
        sp_fail(p, "expected a rule name or and/or/not/xor");
        return NULL;
    }
    const char *w = p->s + p->i;
    size_t k = j - p->i;
    p->i = j;
    sp_ws(p);
    if (p->i < p->n && p->s[p->i] == '(') {
        static const char *const ops[] = {"and", "or", "not", "xor"};
        int op = -1;
        for (int o = 0; o < 4; o++)
            if (strlen(ops[o]) == k && strncasecmp(ops[o], w, k) == 0)
                op = S_AND + o;
        if (op < 0) {
            p->i -= k;
            sp_fail(p, "unknown operator");
            return NULL;
        }
        p->i++;
        stmt_t *s = hg_calloc(1, sizeof(*s));
        s->op = (uint8_t)op;
        for (;;) {
            if (s->nkids == HG_RULES_MAX_RULES) {
                sp_fail(p, "too many operands");
                stmt_free(s);
                return NULL;
            }
            stmt_t *kid = sp_stmt(p, depth + 1);
            if (kid == NULL) {
                stmt_free(s);
                return NULL;
            }
            s->kids = hg_realloc(s->kids, (s->nkids + 1) * sizeof(*s->kids));
            s->kids[s->nkids++] = kid;
            sp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ')') {
                p->i++;
                break;
            }
            sp_fail(p, "expected ',' or ')'");
            stmt_free(s);
            return NULL;
        }
        if ((op == S_NOT && s->nkids != 1) || (op == S_XOR && s->nkids < 2)) {
            sp_fail(p, op == S_NOT ? "not() takes one operand" : "xor() takes two or more");
            stmt_free(s);
            return NULL;
        }
        return s;
    }
    int ri = rule_index(p->c->rs, w, k);
    const char *why = NULL;
    if (ri < 0)
        why = "unknown rule";
    else if (ri == p->self)
        why = "a rule cannot name itself";
    else if (p->c->rs->rules[ri].type == R_COMPOUND)
        why = "a compound rule cannot name another compound rule";
    else if (p->c->rs->rules[ri].type == R_DISTANCE_SORT ||
             p->c->rs->rules[ri].type == R_ABSOLUTE_SORT)
        why = "a sort rule cannot be part of a compound rule";
    else if (p->c->rs->rules[ri].type == R_LATENCY)
        why = "a latency rule cannot be part of a compound rule";
    if (why) {
        p->i -= k;
        char shown[96];
        snprintf(shown, sizeof(shown), "%s '%.*s'", why, (int)(k > 48 ? 48 : k), w);
        sp_fail(p, shown);
        return NULL;
    }
    p->c->rs->rules[ri].in_compound = 1;
    stmt_t *s = hg_calloc(1, sizeof(*s));
    s->op = S_RULE;
    s->rule = ri;
    return s;
}

/* ---- playerAttributes ---- */

static int parse_default(ctx_t *c, rattr_t *a, json_t *d)
{
    size_t at = push_loc(c, "default");
    int rc = HG_OK;
    a->has_default = 1;
    switch (a->type) {
    case HG_RULES_ATTR_NUMBER:
        if (!as_number(d, &a->dnum))
            rc = fail(c, "The default of a number attribute must be a number");
        break;
    case HG_RULES_ATTR_STRING:
        if (!json_is_string(d) || json_string_length(d) > 100 ||
            strlen(json_string_value(d)) != json_string_length(d))
            rc = fail(c, "The default of a string attribute must be a string of at most 100 bytes");
        else
            a->dstr = hg_strdup(json_string_value(d));
        break;
    case HG_RULES_ATTR_STRING_LIST:
        if (!json_is_array(d) || json_array_size(d) > HG_RULES_MAX_LIST) {
            rc = fail(c,
                      "The default of a string_list attribute must be a list of at most %d "
                      "strings",
                      HG_RULES_MAX_LIST);
            break;
        }
        a->dlist = hg_calloc(json_array_size(d) + 1, sizeof(*a->dlist));
        for (size_t i = 0; i < json_array_size(d) && rc == HG_OK; i++) {
            json_t *e = json_array_get(d, i);
            if (!json_is_string(e) || json_string_length(e) > 100 ||
                strlen(json_string_value(e)) != json_string_length(e))
                rc = fail(c, "The default of a string_list attribute must hold strings of at most "
                             "100 bytes");
            else
                a->dlist[a->ndlist++] = hg_strdup(json_string_value(e));
        }
        break;
    case HG_RULES_ATTR_STRING_NUMBER_MAP: {
        if (!json_is_object(d) || json_object_size(d) > HG_RULES_MAX_MAP) {
            rc = fail(c,
                      "The default of a string_number_map attribute must be an object of at "
                      "most %d numbers",
                      HG_RULES_MAX_MAP);
            break;
        }
        a->dkeys = hg_calloc(json_object_size(d) + 1, sizeof(*a->dkeys));
        a->dvals = hg_calloc(json_object_size(d) + 1, sizeof(*a->dvals));
        const char *k;
        json_t *v;
        json_object_foreach (d, k, v) {
            if (rc != HG_OK)
                break;
            if (!json_is_number(v) || strlen(k) > 100) {
                rc = fail(c, "The default of a string_number_map attribute must map strings of at "
                             "most 100 bytes to numbers");
                break;
            }
            a->dkeys[a->ndmap] = hg_strdup(k);
            a->dvals[a->ndmap++] = json_number_value(v);
        }
        break;
    }
    }
    if (rc == HG_OK)
        pop_loc(c, at);
    return rc;
}

static int parse_attrs(ctx_t *c, json_t *arr)
{
    hg_rules_t *rs = c->rs;
    static const char *const keys[] = {"name", "type", "default", NULL};
    static const char *const types[] = {"string", "number", "string_list", "string_number_map"};
    set_loc(c, "playerAttributes section");
    if (arr == NULL)
        return HG_OK;
    if (!json_is_array(arr) || json_array_size(arr) > HG_RULES_MAX_ATTRS)
        return fail(c, "playerAttributes must be a list of at most %d attributes",
                    HG_RULES_MAX_ATTRS);
    rs->attrs = hg_calloc(json_array_size(arr) + 1, sizeof(*rs->attrs));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        set_loc(c, "playerAttributes section: array index=%zu", i);
        if (!json_is_object(o))
            return fail(c, "A player attribute must be an object");
        const char *name = NULL;
        int rc = check_keys(c, o, keys);
        if (rc == HG_OK)
            rc = get_name(c, o, "name", 1, &name);
        if (rc != HG_OK)
            return rc;
        set_loc(c, "playerAttributes section: array index=%zu: %s", i, name);
        if (hg_rules_attr_index(rs, name) >= 0)
            return fail(c, "Duplicate player attribute name '%s'", name);
        json_t *t = json_object_get(o, "type");
        int type = 0;
        for (int k = 0; k < 4 && t && json_is_string(t); k++)
            if (strcmp(json_string_value(t), types[k]) == 0)
                type = k + 1;
        if (type == 0) {
            push_loc(c, "type");
            return fail(c, "type must be one of string, number, string_list, string_number_map");
        }
        rattr_t *a = &rs->attrs[rs->nattrs++];
        a->name = hg_strdup(name);
        a->type = (hg_rules_attr_type_t)type;
        json_t *d = json_object_get(o, "default");
        if (d != NULL && (rc = parse_default(c, a, d)) != HG_OK)
            return rc;
    }
    return HG_OK;
}

/* ---- teams ---- */

static int parse_teams(ctx_t *c, json_t *arr)
{
    hg_rules_t *rs = c->rs;
    static const char *const keys[] = {"name", "minPlayers", "maxPlayers", "quantity", NULL};
    set_loc(c, "teams section");
    if (arr == NULL)
        return fail(c, "Missing required property 'teams'");
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > HG_RULES_MAX_TEAMS)
        return fail(c, "teams must be a list of 1 to %d teams", HG_RULES_MAX_TEAMS);
    size_t ndef = json_array_size(arr);
    rs->defs = hg_calloc(ndef, sizeof(*rs->defs));
    rs->teams = hg_calloc(HG_RULES_MAX_TEAMS, sizeof(*rs->teams));
    for (size_t i = 0; i < ndef; i++) {
        json_t *o = json_array_get(arr, i);
        set_loc(c, "teams section: array index=%zu", i);
        if (!json_is_object(o))
            return fail(c, "A team must be an object");
        const char *name = NULL;
        int rc = check_keys(c, o, keys);
        if (rc == HG_OK)
            rc = get_name(c, o, "name", 1, &name);
        if (rc != HG_OK)
            return rc;
        long mx = 0, mn = 0, q = 1;
        json_t *v = json_object_get(o, "maxPlayers");
        if (v == NULL || !as_int(v, 1, HG_RULES_LARGE_MAX_PLAYERS, &mx)) {
            push_loc(c, "maxPlayers");
            return fail(c, "maxPlayers must be an integer from 1 to %d",
                        HG_RULES_LARGE_MAX_PLAYERS);
        }
        v = json_object_get(o, "minPlayers");
        if (v == NULL || !as_int(v, 0, mx, &mn)) {
            push_loc(c, "minPlayers");
            return fail(c, "minPlayers must be an integer from 0 to maxPlayers (%ld)", mx);
        }
        v = json_object_get(o, "quantity");
        if (v != NULL && !as_int(v, 1, HG_RULES_MAX_TEAMS, &q)) {
            push_loc(c, "quantity");
            return fail(c, "quantity must be an integer from 1 to %d", HG_RULES_MAX_TEAMS);
        }
        if (rs->nteams + (size_t)q > HG_RULES_MAX_TEAMS) {
            push_loc(c, "quantity");
            return fail(c, "A rule set may define at most %d teams (quantity included)",
                        HG_RULES_MAX_TEAMS);
        }
        rdef_t *d = &rs->defs[rs->ndefs++];
        d->name = hg_strdup(name);
        d->first = rs->nteams;
        d->count = (size_t)q;
        for (long k = 1; k <= q; k++) {
            char tn[HG_RULES_NAME_MAX + 8];
            if (q > 1)
                snprintf(tn, sizeof(tn), "%s_%ld", name, k);
            else
                snprintf(tn, sizeof(tn), "%s", name);
            if (hg_rules_team_index(rs, tn) >= 0)
                return fail(c, "Duplicate team name '%s'", tn);
            for (size_t e = 0; e + 1 < rs->ndefs; e++)
                if (strcmp(rs->defs[e].name, tn) == 0 && rs->defs[e].count > 1)
                    return fail(c, "Duplicate team name '%s'", tn);
            rteam_t *t = &rs->teams[rs->nteams++];
            t->name = hg_strdup(tn);
            t->def = (int)i;
            t->min = (int)mn;
            t->max = (int)mx;
            t->exp_min = t->exp_max = -1;
            rs->max_total += (int)mx;
        }
        for (size_t e = 0; e + 1 < rs->ndefs; e++)
            if (strcmp(rs->defs[e].name, name) == 0)
                return fail(c, "Duplicate team name '%s'", name);
    }
    set_loc(c, "teams section");
    if (rs->max_total > HG_RULES_LARGE_MAX_PLAYERS)
        return fail(c, "The teams' maxPlayers add up to %d; a match holds at most %d players",
                    rs->max_total, HG_RULES_LARGE_MAX_PLAYERS);
    rs->large = rs->max_total > HG_RULES_SMALL_MAX_PLAYERS;
    return HG_OK;
}

/* ---- algorithm ---- */

static int attr_of_type(ctx_t *c, json_t *v, const char *what, int number_only, int *out)
{
    if (!json_is_string(v))
        return fail(c, "%s must name a player attribute", what);
    int ai = hg_rules_attr_index(c->rs, json_string_value(v));
    if (ai < 0)
        return fail(c, "%s '%.64s' is not in playerAttributes", what, json_string_value(v));
    hg_rules_attr_type_t t = c->rs->attrs[ai].type;
    if (number_only ? t != HG_RULES_ATTR_NUMBER
                    : (t != HG_RULES_ATTR_NUMBER && t != HG_RULES_ATTR_STRING))
        return fail(c, "%s '%s' must be a %s attribute", what, c->rs->attrs[ai].name,
                    number_only ? "number" : "number or string");
    c->rs->attrs[ai].used = 1;
    *out = ai;
    return HG_OK;
}

/* The index of v's string in names (NULL-terminated), or -1. */
static int pick(const json_t *v, const char *const *names)
{
    if (!json_is_string(v))
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return i;
    return -1;
}

static int parse_algorithm(ctx_t *c, json_t *o)
{
    hg_rules_t *rs = c->rs;
    static const char *const keys[] = {"strategy",
                                       "batchingPreference",
                                       "sortByAttributes",
                                       "expansionAgeSelection",
                                       "backfillPriority",
                                       "balancedAttribute",
                                       NULL};
    static const char *const strategies[] = {"exhaustiveSearch", "balanced", NULL};
    static const char *const batching[] = {"random", "sorted", "largestPopulation", "fastestRegion",
                                           NULL};
    static const char *const ages[] = {"newest", "oldest", NULL};
    static const char *const prios[] = {"normal", "low", "high", NULL};
    set_loc(c, "algorithm section");
    rs->balanced_attr = -1;
    rs->batching = rs->large ? BATCH_LARGEST_POPULATION : BATCH_RANDOM;
    if (o == NULL) {
        if (rs->large)
            return fail(c,
                        "A large match (teams' maxPlayers add up to more than %d) needs "
                        "algorithm.strategy balanced with a balancedAttribute",
                        HG_RULES_SMALL_MAX_PLAYERS);
        return HG_OK;
    }
    if (!json_is_object(o))
        return fail(c, "algorithm must be an object");
    int rc = check_keys(c, o, keys);
    if (rc != HG_OK)
        return rc;
    json_t *v = json_object_get(o, "strategy");
    int s = v ? pick(v, strategies) : (rs->large ? -1 : 0);
    if (s < 0 || s != rs->large) {
        push_loc(c, "strategy");
        return fail(c, rs->large ? "A large match needs strategy balanced"
                                 : "strategy must be exhaustiveSearch for a match of at most "
                                   "40 players");
    }
    rs->balanced = s == 1;
    if ((v = json_object_get(o, "balancedAttribute")) != NULL) {
        push_loc(c, "balancedAttribute");
        if (!rs->balanced)
            return fail(c, "balancedAttribute needs strategy balanced");
        if ((rc = attr_of_type(c, v, "balancedAttribute", 1, &rs->balanced_attr)) != HG_OK)
            return rc;
        set_loc(c, "algorithm section");
    } else if (rs->balanced) {
        return fail(c, "strategy balanced needs a balancedAttribute");
    }
    if ((v = json_object_get(o, "batchingPreference")) != NULL) {
        int b = pick(v, batching);
        if (b < 0 || (b >= BATCH_LARGEST_POPULATION) != rs->large) {
            push_loc(c, "batchingPreference");
            return fail(c, rs->large ? "batchingPreference must be largestPopulation or "
                                       "fastestRegion for a large match"
                                     : "batchingPreference must be random or sorted");
        }
        rs->batching = (uint8_t)b;
    }
    if ((v = json_object_get(o, "sortByAttributes")) != NULL) {
        push_loc(c, "sortByAttributes");
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > HG_RULES_MAX_SORT_ATTRS)
            return fail(c, "sortByAttributes must list 1 to %d attributes",
                        HG_RULES_MAX_SORT_ATTRS);
        if (rs->batching != BATCH_SORTED)
            return fail(c, "sortByAttributes needs batchingPreference sorted");
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((rc = attr_of_type(c, json_array_get(v, i), "sortByAttributes", 0,
                                   &rs->sort_attrs[rs->nsort_attrs++])) != HG_OK)
                return rc;
        set_loc(c, "algorithm section");
    } else if (rs->batching == BATCH_SORTED) {
        push_loc(c, "batchingPreference");
        return fail(c, "batchingPreference sorted needs sortByAttributes");
    }
    if ((v = json_object_get(o, "expansionAgeSelection")) != NULL) {
        int a = pick(v, ages);
        if (a < 0) {
            push_loc(c, "expansionAgeSelection");
            return fail(c, "expansionAgeSelection must be newest or oldest");
        }
        rs->age_oldest = (uint8_t)a;
    }
    if ((v = json_object_get(o, "backfillPriority")) != NULL) {
        int p = pick(v, prios);
        if (p < 0) {
            push_loc(c, "backfillPriority");
            return fail(c, "backfillPriority must be normal, low or high");
        }
        rs->backfill_priority = (hg_rules_backfill_priority_t)p;
    }
    return HG_OK;
}

/* ---- rules ---- */

typedef struct rule_kind {
    const char *name;
    rule_type_t type;
    const char *const *keys; /* allowed besides name, type, description */
} rule_kind_t;

static const char *const k_batch[] = {"batchAttribute", "maxDistance", "partyAggregation", NULL};
static const char *const k_cmp[] = {"measurements", "referenceValue", "operation",
                                    "partyAggregation", NULL};
static const char *const k_dist[] = {"measurements", "referenceValue",   "minDistance",
                                     "maxDistance",  "partyAggregation", NULL};
static const char *const k_coll[] = {"measurements", "referenceValue",   "operation", "minCount",
                                     "maxCount",     "partyAggregation", NULL};
static const char *const k_lat[] = {"maxLatency", "maxDistance", "distanceReference",
                                    "partyAggregation", NULL};
static const char *const k_sort[] = {"sortDirection", "sortAttribute", "mapKey", "partyAggregation",
                                     NULL};
static const char *const k_comp[] = {"statement", NULL};

static const rule_kind_t kinds[] = {
    {"batchDistance", R_BATCH_DISTANCE, k_batch},
    {"comparison", R_COMPARISON, k_cmp},
    {"distance", R_DISTANCE, k_dist},
    {"collection", R_COLLECTION, k_coll},
    {"latency", R_LATENCY, k_lat},
    {"distanceSort", R_DISTANCE_SORT, k_sort},
    {"absoluteSort", R_ABSOLUTE_SORT, k_sort},
    {"compound", R_COMPOUND, k_comp},
};

static int check_rule_keys(ctx_t *c, json_t *o, const rule_kind_t *k)
{
    const char *all[16];
    size_t n = 0;
    all[n++] = "name";
    all[n++] = "type";
    all[n++] = "description";
    for (const char *const *p = k->keys; *p; p++)
        all[n++] = *p;
    all[n] = NULL;
    return check_keys(c, o, all);
}

/* An optional numeric property: into r->prop[p] when present. */
static int num_prop(ctx_t *c, rule_t *r, json_t *o, const char *key, rule_prop_t p, double lo,
                    int required)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        if (required) {
            push_loc(c, key);
            return fail(c, "Missing required property '%s'", key);
        }
        return HG_OK;
    }
    double d;
    if (!as_number(v, &d) || d < lo) {
        push_loc(c, key);
        return fail(c, "%s must be a number of at least %g", key, lo);
    }
    r->prop[p] = d;
    r->has[p] = 1;
    return HG_OK;
}

static int party_agg(ctx_t *c, rule_t *r, json_t *o, int collection)
{
    static const char *const num[] = {"avg", "min", "max", NULL};
    static const char *const coll[] = {"union", "intersection", NULL};
    json_t *v = json_object_get(o, "partyAggregation");
    r->agg = collection ? AGG_UNION : AGG_AVG;
    if (v == NULL)
        return HG_OK;
    int a = pick(v, collection ? coll : num);
    if (a < 0) {
        push_loc(c, "partyAggregation");
        return fail(c, collection ? "partyAggregation must be union or intersection"
                                  : "partyAggregation must be avg, min or max");
    }
    r->agg = (uint8_t)(collection ? AGG_UNION + a : a);
    return HG_OK;
}

static int measurements(ctx_t *c, rule_t *r, json_t *o)
{
    json_t *v = json_object_get(o, "measurements");
    size_t at = push_loc(c, "measurements");
    if (v == NULL)
        return fail(c, "Missing required property 'measurements'");
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if ((!json_is_array(v) && !json_is_string(v)) || n == 0 || n > HG_RULES_MAX_MEASUREMENTS)
        return fail(c, "measurements must be a property expression or a list of 1 to %d",
                    HG_RULES_MAX_MEASUREMENTS);
    r->meas = hg_calloc(n, sizeof(*r->meas));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(e))
            return fail(c, "A measurement must be a property expression string");
        int rc = compile_expr(c, e, &r->meas[r->nmeas]);
        if (rc != HG_OK)
            return rc;
        rx_t *x = r->meas[r->nmeas++];
        if (x->base == B_TEAM || x->base == B_PLAYER || x->base == B_MAP)
            return fail(c, "A measurement must give numbers or strings (use "
                           ".players.attributes[...], .playerId or count())");
    }
    pop_loc(c, at);
    return HG_OK;
}

/* Do all measurements read players directly, without aggregation functions? */
static int direct(const rule_t *r)
{
    for (size_t i = 0; i < r->nmeas; i++)
        if (r->meas[i]->has_fn || r->meas[i]->kind == RX_NUM || r->meas[i]->kind == RX_STR)
            return 0;
    return 1;
}

static int parse_comparison(ctx_t *c, rule_t *r, json_t *o)
{
    static const char *const ops[] = {"<", "<=", "=", "!=", ">", ">=", NULL};
    int rc = measurements(c, r, o);
    if (rc == HG_OK)
        rc = party_agg(c, r, o, 0);
    if (rc != HG_OK)
        return rc;
    json_t *v = json_object_get(o, "operation");
    int op = v ? pick(v, ops) : -1;
    if (op < 0) {
        push_loc(c, "operation");
        return fail(c, "operation must be one of <, <=, =, !=, >, >=");
    }
    r->op = (uint8_t)op;
    int base = r->meas[0]->base;
    for (size_t i = 1; i < r->nmeas; i++)
        if (r->meas[i]->base != base) {
            push_loc(c, "measurements");
            return fail(c, "Comparison measurements must all be numbers or all be strings");
        }
    if ((v = json_object_get(o, "referenceValue")) != NULL) {
        size_t at = push_loc(c, "referenceValue");
        if ((rc = compile_ref(c, r, v, base == B_NUM)) != HG_OK)
            return rc;
        if (r->ref->depth != 0 || r->ref->base != base)
            return fail(c, "referenceValue must be a single %s, like the measurements",
                        base == B_NUM ? "number" : "string");
        pop_loc(c, at);
        r->per_player = direct(r) && (r->ref->kind == RX_NUM || r->ref->kind == RX_STR);
        r->monotone = r->per_player;
    } else {
        if (op != OP_EQ && op != OP_NE) {
            push_loc(c, "operation");
            return fail(c, "Without a referenceValue a comparison rule's operation must be = or "
                           "!=");
        }
        r->monotone = 1;
    }
    if (base == B_STR && op != OP_EQ && op != OP_NE) {
        push_loc(c, "operation");
        return fail(c, "Strings compare only with = and !=");
    }
    return HG_OK;
}

static int parse_distance(ctx_t *c, rule_t *r, json_t *o)
{
    int rc = measurements(c, r, o);
    if (rc == HG_OK)
        rc = party_agg(c, r, o, 0);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "maxDistance", P_MAX_DISTANCE, 0, 0);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "minDistance", P_MIN_DISTANCE, 0, 0);
    if (rc != HG_OK)
        return rc;
    for (size_t i = 0; i < r->nmeas; i++)
        if (r->meas[i]->base != B_NUM) {
            push_loc(c, "measurements");
            return fail(c, "Distance rule encountered a measurement which was not a number or a "
                           "list of numbers");
        }
    if (!r->has[P_MAX_DISTANCE] && !r->has[P_MIN_DISTANCE])
        return fail(c, "A distance rule needs maxDistance, minDistance or both");
    json_t *v = json_object_get(o, "referenceValue");
    size_t at = push_loc(c, "referenceValue");
    if (v == NULL)
        return fail(c, "Missing required property 'referenceValue'");
    if ((rc = compile_ref(c, r, v, 1)) != HG_OK)
        return rc;
    if (r->ref->base != B_NUM || r->ref->depth != 0)
        return fail(c, "referenceValue must be a single number");
    pop_loc(c, at);
    r->per_player = direct(r) && r->ref->kind == RX_NUM;
    r->monotone = r->per_player;
    return HG_OK;
}

static int parse_collection(ctx_t *c, rule_t *r, json_t *o)
{
    static const char *const ops[] = {"intersection", "contains", "reference_intersection_count",
                                      NULL};
    int rc = measurements(c, r, o);
    if (rc == HG_OK)
        rc = party_agg(c, r, o, 1);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "minCount", P_MIN_COUNT, 0, 0);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "maxCount", P_MAX_COUNT, 0, 0);
    if (rc != HG_OK)
        return rc;
    for (size_t i = 0; i < r->nmeas; i++)
        if (r->meas[i]->base != B_STR || r->meas[i]->depth < 2) {
            push_loc(c, "measurements");
            return fail(c, "Collection rule encountered a measurement which was not a list of "
                           "string lists");
        }
    json_t *v = json_object_get(o, "operation");
    int op = v ? pick(v, ops) : -1;
    if (op < 0) {
        push_loc(c, "operation");
        return fail(c, "operation must be intersection, contains or reference_intersection_count");
    }
    r->coll_op = (uint8_t)op;
    if (!r->has[P_MIN_COUNT] && !r->has[P_MAX_COUNT])
        return fail(c, "A collection rule needs minCount, maxCount or both");
    v = json_object_get(o, "referenceValue");
    size_t at = push_loc(c, "referenceValue");
    if (op == COLL_INTERSECTION) {
        if (v != NULL)
            return fail(c, "The intersection operation takes no referenceValue");
    } else {
        if (v == NULL)
            return fail(c, "Missing required property 'referenceValue'");
        if ((rc = compile_ref(c, r, v, 0)) != HG_OK)
            return rc;
        if (r->ref->base != B_STR || r->ref->depth > (op == COLL_CONTAINS ? 0 : 1))
            return fail(c, op == COLL_CONTAINS ? "referenceValue must be a string"
                                               : "referenceValue must be a string or a list of "
                                                 "strings");
    }
    pop_loc(c, at);
    r->per_player =
        op == COLL_REF_COUNT && direct(r) && (r->ref->kind == RX_STR || r->ref->kind == RX_LIST);
    /* an intersection only shrinks as lists join, a contains count only grows */
    r->monotone = r->per_player || (op == COLL_INTERSECTION && !r->has[P_MAX_COUNT]) ||
                  (op == COLL_CONTAINS && !r->has[P_MIN_COUNT] && r->ref->kind == RX_STR);
    return HG_OK;
}

static int parse_latency(ctx_t *c, rule_t *r, json_t *o)
{
    int rc = party_agg(c, r, o, 0);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "maxLatency", P_MAX_LATENCY, 0, 1);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "maxDistance", P_MAX_DISTANCE, 0, 0);
    if (rc == HG_OK)
        rc = num_prop(c, r, o, "distanceReference", P_REFERENCE, 0, 0);
    if (rc != HG_OK)
        return rc;
    if (r->has[P_REFERENCE] && !r->has[P_MAX_DISTANCE]) {
        push_loc(c, "distanceReference");
        return fail(c, "distanceReference needs maxDistance");
    }
    r->monotone = 1;
    return HG_OK;
}

static int parse_batch(ctx_t *c, rule_t *r, json_t *o)
{
    int rc = party_agg(c, r, o, 0);
    if (rc != HG_OK)
        return rc;
    json_t *v = json_object_get(o, "batchAttribute");
    size_t at = push_loc(c, "batchAttribute");
    if (v == NULL)
        return fail(c, "Missing required property 'batchAttribute'");
    if ((rc = attr_of_type(c, v, "batchAttribute", 0, &r->attr)) != HG_OK)
        return rc;
    pop_loc(c, at);
    if ((rc = num_prop(c, r, o, "maxDistance", P_MAX_DISTANCE, 0, 0)) != HG_OK)
        return rc;
    if (c->rs->attrs[r->attr].type == HG_RULES_ATTR_NUMBER && !r->has[P_MAX_DISTANCE])
        return fail(c, "A batchDistance rule on a number attribute needs maxDistance");
    r->monotone = 1;
    return HG_OK;
}

static int parse_sort(ctx_t *c, rule_t *r, json_t *o)
{
    static const char *const dirs[] = {"ascending", "descending", NULL};
    static const char *const keys[] = {"minValue", "maxValue", NULL};
    int rc = party_agg(c, r, o, 0);
    if (rc != HG_OK)
        return rc;
    json_t *v = json_object_get(o, "sortDirection");
    int d = v ? pick(v, dirs) : 0;
    if (d < 0) {
        push_loc(c, "sortDirection");
        return fail(c, "sortDirection must be ascending or descending");
    }
    r->desc = (uint8_t)d;
    v = json_object_get(o, "sortAttribute");
    size_t at = push_loc(c, "sortAttribute");
    if (v == NULL || !json_is_string(v))
        return fail(c, "sortAttribute must name a player attribute");
    r->attr = hg_rules_attr_index(c->rs, json_string_value(v));
    if (r->attr < 0)
        return fail(c, "sortAttribute '%.64s' is not in playerAttributes", json_string_value(v));
    hg_rules_attr_type_t t = c->rs->attrs[r->attr].type;
    if (t != HG_RULES_ATTR_NUMBER && t != HG_RULES_ATTR_STRING_NUMBER_MAP)
        return fail(c, "sortAttribute must be a number or string_number_map attribute");
    c->rs->attrs[r->attr].used = 1;
    pop_loc(c, at);
    v = json_object_get(o, "mapKey");
    if (v != NULL) {
        int k = pick(v, keys);
        if (k < 0 || t != HG_RULES_ATTR_STRING_NUMBER_MAP) {
            push_loc(c, "mapKey");
            return fail(c, "mapKey must be minValue or maxValue, on a string_number_map "
                           "attribute");
        }
        r->map_max = (uint8_t)k;
    }
    return HG_OK;
}

static int parse_compound(ctx_t *c, rule_t *r, json_t *o, size_t self)
{
    json_t *v = json_object_get(o, "statement");
    size_t at = push_loc(c, "statement");
    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > HG_RULES_STATEMENT_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, "statement must be a string of 1 to %d bytes", HG_RULES_STATEMENT_MAX);
    sp_t p = {.c = c, .s = json_string_value(v), .n = json_string_length(v), .self = (int)self};
    r->stmt = sp_stmt(&p, 1);
    if (r->stmt == NULL)
        return HG_EINVAL;
    sp_ws(&p);
    if (p.i != p.n)
        return sp_fail(&p, "unexpected text after the statement");
    if (r->stmt->op == S_RULE)
        return sp_fail(&p, "a statement must start with and, or, not or xor");
    pop_loc(c, at);
    return HG_OK;
}

static int parse_rules(ctx_t *c, json_t *arr)
{
    hg_rules_t *rs = c->rs;
    set_loc(c, "rules section");
    if (arr == NULL)
        return HG_OK;
    if (!json_is_array(arr) || json_array_size(arr) > HG_RULES_MAX_RULES)
        return fail(c, "rules must be a list of at most %d rules", HG_RULES_MAX_RULES);
    size_t n = json_array_size(arr);
    rs->rules = hg_calloc(n + 1, sizeof(*rs->rules));
    const rule_kind_t **kind = hg_calloc(n + 1, sizeof(*kind));
    int rc = HG_OK;
    /* pass 1: names and types, so compound statements can name any rule */
    for (size_t i = 0; i < n && rc == HG_OK; i++) {
        json_t *o = json_array_get(arr, i);
        set_loc(c, "rules section: array index=%zu", i);
        const char *name = NULL;
        if (!json_is_object(o)) {
            rc = fail(c, "A rule must be an object");
            break;
        }
        if ((rc = get_name(c, o, "name", 1, &name)) != HG_OK)
            break;
        set_loc(c, "rules section: array index=%zu: %s", i, name);
        if (rule_index(rs, name, strlen(name)) >= 0) {
            rc = fail(c, "Duplicate rule name '%s'", name);
            break;
        }
        json_t *t = json_object_get(o, "type");
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && t && json_is_string(t); k++)
            if (strcmp(json_string_value(t), kinds[k].name) == 0)
                kind[i] = &kinds[k];
        if (kind[i] == NULL) {
            push_loc(c, "type");
            rc = fail(c, "Unknown rule type; use batchDistance, comparison, distance, collection, "
                         "latency, distanceSort, absoluteSort or compound");
            break;
        }
        if ((rc = check_rule_keys(c, o, kind[i])) != HG_OK)
            break;
        json_t *d = json_object_get(o, "description");
        if (d != NULL && !json_is_string(d)) {
            push_loc(c, "description");
            rc = fail(c, "description must be a string");
            break;
        }
        rule_t *r = &rs->rules[rs->nrules++];
        r->name = hg_strdup(name);
        r->type = (uint8_t)kind[i]->type;
        r->attr = -1;
        for (int p = 0; p < P_COUNT_; p++)
            r->exp[p] = -1;
    }
    /* pass 2: the properties of each type */
    for (size_t i = 0; i < n && rc == HG_OK; i++) {
        json_t *o = json_array_get(arr, i);
        rule_t *r = &rs->rules[i];
        set_loc(c, "rules section: array index=%zu: %s", i, r->name);
        if (rs->large && r->type != R_LATENCY && r->type != R_BATCH_DISTANCE) {
            push_loc(c, "type");
            rc = fail(c,
                      "A large match (more than %d players) allows only latency and "
                      "batchDistance rules",
                      HG_RULES_SMALL_MAX_PLAYERS);
            break;
        }
        switch (r->type) {
        case R_BATCH_DISTANCE: rc = parse_batch(c, r, o); break;
        case R_COMPARISON: rc = parse_comparison(c, r, o); break;
        case R_DISTANCE: rc = parse_distance(c, r, o); break;
        case R_COLLECTION: rc = parse_collection(c, r, o); break;
        case R_LATENCY: rc = parse_latency(c, r, o); break;
        case R_DISTANCE_SORT:
        case R_ABSOLUTE_SORT: rc = parse_sort(c, r, o); break;
        case R_COMPOUND: rc = parse_compound(c, r, o, i); break;
        }
    }
    hg_free(kind);
    return rc;
}

/* ---- expansions ---- */

static const struct {
    const char *name;
    rule_prop_t prop;
} exp_props[] = {
    {"maxDistance", P_MAX_DISTANCE},    {"minDistance", P_MIN_DISTANCE},
    {"minCount", P_MIN_COUNT},          {"maxCount", P_MAX_COUNT},
    {"maxLatency", P_MAX_LATENCY},      {"referenceValue", P_REFERENCE},
    {"distanceReference", P_REFERENCE},
};

/* Parse "rules[X].prop" / "teams[Y].minPlayers" and point the target at expansion e. */
static int bind_target(ctx_t *c, const char *t, int16_t e, int *is_team)
{
    hg_rules_t *rs = c->rs;
    const char *lb = strchr(t, '['), *rb = lb ? strchr(lb, ']') : NULL;
    if (lb == NULL || rb == NULL || rb[1] != '.')
        return fail(c, "target must look like rules[name].property or teams[name].minPlayers");
    size_t kw = (size_t)(lb - t), nl = (size_t)(rb - lb - 1);
    const char *name = lb + 1, *prop = rb + 2;
    if (kw == 5 && strncmp(t, "rules", 5) == 0) {
        int ri = rule_index(rs, name, nl);
        if (ri < 0)
            return fail(c, "target names an unknown rule '%.*s'", (int)(nl > 64 ? 64 : nl), name);
        rule_t *r = &rs->rules[ri];
        for (size_t k = 0; k < sizeof(exp_props) / sizeof(exp_props[0]); k++)
            if (strcmp(prop, exp_props[k].name) == 0) {
                rule_prop_t p = exp_props[k].prop;
                if (!r->has[p])
                    return fail(c, "target %.200s: the rule has no numeric %s to expand", t, prop);
                if (r->exp[p] >= 0)
                    return fail(c, "target %.200s is expanded twice", t);
                r->exp[p] = e;
                *is_team = 0;
                return HG_OK;
            }
        return fail(c, "target property '%.64s' cannot be expanded", prop);
    }
    if ((kw == 5 && strncmp(t, "teams", 5) == 0) || (kw == 4 && strncmp(t, "team", 4) == 0)) {
        int is_min = strcmp(prop, "minPlayers") == 0, is_max = strcmp(prop, "maxPlayers") == 0;
        if (!is_min && !is_max)
            return fail(c, "a team target must be minPlayers or maxPlayers");
        size_t hits = 0;
        for (size_t i = 0; i < rs->nteams; i++) {
            rteam_t *tm = &rs->teams[i];
            const char *dn = rs->defs[tm->def].name;
            int named = (strlen(tm->name) == nl && strncmp(tm->name, name, nl) == 0) ||
                        (strlen(dn) == nl && strncmp(dn, name, nl) == 0) ||
                        (nl == 1 && name[0] == '*');
            if (!named)
                continue;
            int16_t *slot = is_min ? &tm->exp_min : &tm->exp_max;
            if (*slot >= 0)
                return fail(c, "target %.200s is expanded twice", t);
            *slot = e;
            hits++;
        }
        if (hits == 0)
            return fail(c, "target names an unknown team '%.*s'", (int)(nl > 64 ? 64 : nl), name);
        *is_team = 1;
        return HG_OK;
    }
    return fail(c, "target must look like rules[name].property or teams[name].minPlayers");
}

static int parse_expansions(ctx_t *c, json_t *arr)
{
    hg_rules_t *rs = c->rs;
    static const char *const keys[] = {"target", "steps", NULL};
    static const char *const skeys[] = {"waitTimeSeconds", "value", NULL};
    set_loc(c, "expansions section");
    if (arr == NULL)
        return HG_OK;
    if (!json_is_array(arr) || json_array_size(arr) > HG_RULES_MAX_EXPANSIONS)
        return fail(c, "expansions must be a list of at most %d expansions",
                    HG_RULES_MAX_EXPANSIONS);
    rs->exps = hg_calloc(json_array_size(arr) + 1, sizeof(*rs->exps));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        set_loc(c, "expansions section: array index=%zu", i);
        if (!json_is_object(o))
            return fail(c, "An expansion must be an object");
        int rc = check_keys(c, o, keys);
        if (rc != HG_OK)
            return rc;
        json_t *t = json_object_get(o, "target");
        if (t == NULL || !json_is_string(t) || json_string_length(t) > 2 * HG_RULES_NAME_MAX + 32 ||
            strlen(json_string_value(t)) != json_string_length(t)) {
            push_loc(c, "target");
            return fail(c, "target must be a string like rules[name].maxDistance");
        }
        set_loc(c, "expansions section: array index=%zu: %s", i, json_string_value(t));
        int16_t e = (int16_t)rs->nexps;
        rexp_t *x = &rs->exps[rs->nexps++];
        int is_team = 0;
        if ((rc = bind_target(c, json_string_value(t), e, &is_team)) != HG_OK)
            return rc;
        json_t *steps = json_object_get(o, "steps");
        push_loc(c, "steps");
        if (steps == NULL || !json_is_array(steps) || json_array_size(steps) == 0 ||
            json_array_size(steps) > HG_RULES_MAX_STEPS)
            return fail(c, "steps must be a list of 1 to %d steps", HG_RULES_MAX_STEPS);
        for (size_t k = 0; k < json_array_size(steps); k++) {
            json_t *s = json_array_get(steps, k);
            long w;
            double val;
            if (!json_is_object(s) || check_keys(c, s, skeys) != HG_OK)
                return fail(c, "A step must be an object with waitTimeSeconds and value");
            json_t *wv = json_object_get(s, "waitTimeSeconds"), *vv = json_object_get(s, "value");
            if (wv == NULL || !as_int(wv, 0, HG_RULES_MAX_WAIT_S, &w))
                return fail(c, "waitTimeSeconds must be an integer from 0 to %d",
                            HG_RULES_MAX_WAIT_S);
            if (vv == NULL || !as_number(vv, &val) || val < 0 ||
                (is_team && (val != floor(val) || val > HG_RULES_LARGE_MAX_PLAYERS)))
                return fail(c, is_team ? "A team step's value must be an integer from 0 to 200"
                                       : "A step's value must be a number of at least 0");
            if (k > 0 && w <= x->wait_ms[k - 1] / 1000)
                return fail(c, "Steps must be in increasing waitTimeSeconds");
            x->wait_ms[x->nsteps] = (int64_t)w * 1000;
            x->value[x->nsteps++] = val;
        }
    }
    return HG_OK;
}

/* ---- the whole body ---- */

static int parse_root(ctx_t *c, json_t *root)
{
    static const char *const keys[] = {"name",  "ruleLanguageVersion", "playerAttributes", "teams",
                                       "rules", "expansions",          "algorithm",        NULL};
    hg_rules_t *rs = c->rs;
    if (!json_is_object(root))
        return fail(c, "A rule set must be a JSON object");
    int rc = check_keys(c, root, keys);
    if (rc != HG_OK)
        return rc;
    json_t *v = json_object_get(root, "ruleLanguageVersion");
    if (v == NULL || !json_is_string(v) || strcmp(json_string_value(v), "1.0") != 0)
        return fail(c, "ruleLanguageVersion must be \"1.0\"");
    v = json_object_get(root, "name");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) > HG_RULES_NAME_MAX ||
            strlen(json_string_value(v)) != json_string_length(v))
            return fail(c, "name must be a string of at most %d bytes", HG_RULES_NAME_MAX);
        rs->name = hg_strdup(json_string_value(v));
    }
    if ((rc = parse_attrs(c, json_object_get(root, "playerAttributes"))) != HG_OK ||
        (rc = parse_teams(c, json_object_get(root, "teams"))) != HG_OK ||
        (rc = parse_algorithm(c, json_object_get(root, "algorithm"))) != HG_OK ||
        (rc = parse_rules(c, json_object_get(root, "rules"))) != HG_OK ||
        (rc = parse_expansions(c, json_object_get(root, "expansions"))) != HG_OK)
        return rc;
    return HG_OK;
}

int hg_rules_parse(const char *body, size_t len, hg_rules_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    json_t *root = NULL;
    ctx_t c = {.rs = NULL, .err = err, .loc = ""};
    if (body == NULL || len == 0 || len > HG_RULES_BODY_MAX) {
        rc = fail(&c, "RuleSetBody must be 1 to %d bytes", HG_RULES_BODY_MAX);
        goto out;
    }
    json_error_t jerr;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        rc = fail(&c, "Unable to parse the rule set as JSON: %.120s (line %d, column %d)",
                  jerr.text, jerr.line, jerr.column);
        goto out;
    }
    c.rs = hg_calloc(1, sizeof(*c.rs));
    c.rs->balanced_attr = -1;
    if ((rc = parse_root(&c, root)) != HG_OK)
        goto out;
    *out = c.rs;
    c.rs = NULL;
out:
    hg_rules_free(c.rs);
    json_decref(root);
    return rc;
}

/* ---- read-only views ---- */

const char *hg_rules_name(const hg_rules_t *rs)
{
    return rs->name ? rs->name : "";
}

int hg_rules_is_large(const hg_rules_t *rs)
{
    return rs->large;
}

int hg_rules_max_players(const hg_rules_t *rs)
{
    return rs->max_total;
}

size_t hg_rules_team_count(const hg_rules_t *rs)
{
    return rs->nteams;
}

const char *hg_rules_team_name(const hg_rules_t *rs, size_t i)
{
    return i < rs->nteams ? rs->teams[i].name : NULL;
}

int hg_rules_team_max(const hg_rules_t *rs, size_t i, int64_t age_ms)
{
    const rteam_t *t = &rs->teams[i];
    return (int)hg_rules_expand_(rs, t->exp_max, t->max, age_ms);
}

int hg_rules_team_min(const hg_rules_t *rs, size_t i, int64_t age_ms)
{
    const rteam_t *t = &rs->teams[i];
    int mn = (int)hg_rules_expand_(rs, t->exp_min, t->min, age_ms);
    int mx = hg_rules_team_max(rs, i, age_ms);
    return mn < mx ? mn : mx;
}

size_t hg_rules_attr_count(const hg_rules_t *rs)
{
    return rs->nattrs;
}

const char *hg_rules_attr_name(const hg_rules_t *rs, size_t i)
{
    return i < rs->nattrs ? rs->attrs[i].name : NULL;
}

hg_rules_attr_type_t hg_rules_attr_type(const hg_rules_t *rs, size_t i)
{
    return rs->attrs[i].type;
}

size_t hg_rules_rule_count(const hg_rules_t *rs)
{
    return rs->nrules;
}

const char *hg_rules_rule_name(const hg_rules_t *rs, size_t i)
{
    return i < rs->nrules ? rs->rules[i].name : NULL;
}

hg_rules_backfill_priority_t hg_rules_backfill_priority(const hg_rules_t *rs)
{
    return rs->backfill_priority;
}
