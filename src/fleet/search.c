/* hangar — SearchGameSessions expressions: lexer, filter compiler and evaluator, sort
 * comparator (grammar, choices and limits in search.h).
 *
 * Design. A FilterExpression is compiled once per request and tested against every candidate
 * session, so the work is split that way:
 *
 *   - The lexer reads the expression left to right, once, never past its length, and hands out
 *     tokens by position (no copies). A word is a run of bytes that are not delimiters
 *     (whitespace, control bytes, ( ) = < > ! ' " \), so `a=1` and `a = 1` lex alike.
 *   - The compiler is a shunting-yard: a two-state machine (expecting a primary — a condition,
 *     NOT or '(' — or expecting an operator — AND, OR, ')' or the end) with an explicit operator
 *     stack, emitting a postfix program. No recursion at all: the depth limit bounds the
 *     operator stack, not the C stack. Precedence NOT > AND > OR falls out of the pop rules:
 *
 *         | token        | pops first (emitting each)   | then                             |
 *         |--------------|------------------------------|----------------------------------|
 *         | condition    | —                            | emit it; pop pending NOTs        |
 *         | NOT, '('     | —                            | push (one nesting level)         |
 *         | AND          | ANDs                         | push                             |
 *         | OR           | ANDs and ORs                 | push                             |
 *         | ')'          | ANDs and ORs down to its '(' | drop the '('; pop pending NOTs   |
 *         | end          | everything ('(' left: error) | done                             |
 *
 *     Per nesting level at most one OR and one AND wait on the stack, so it never holds more
 *     than HG_GS_MAX_DEPTH + 2 * (HG_GS_MAX_DEPTH + 1) entries.
 *   - Everything is built in a fixed scratch area on the stack (conditions, program, a string
 *     pool for property keys and unescaped values, each bounded by HG_GS_EXPR_MAX), then copied
 *     into one allocation of exactly the size used.
 *   - Matching runs the postfix program over a stack of at most HG_GS_MAX_CONDS truth values
 *     (the compiler checks the program's stack discipline before handing it out).
 */
#include "fleet/search.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/log.h"

#define PROP_PREFIX "gameSessionProperties."
#define PROP_PREFIX_LEN (sizeof(PROP_PREFIX) - 1)

/* ---- lexer ---- */

typedef enum tok_kind {
    T_END,
    T_LPAREN,
    T_RPAREN,
    T_CMP,
    T_STRING,       /* a complete quoted string, quotes included */
    T_UNTERMINATED, /* a quote with no closing quote before the end */
    T_WORD,
    T_BAD, /* a delimiter byte that starts no token ('!', '\\', a control byte) */
} tok_kind_t;

typedef enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_GT, CMP_LE, CMP_GE } cmp_t;

static const char *const cmp_text[] = {"=", "<>", "<", ">", "<=", ">="};

typedef struct tok {
    tok_kind_t kind;
    size_t pos; /* 0-based offset of its first byte */
    size_t len; /* raw length in the expression */
    cmp_t cmp;  /* T_CMP */
} tok_t;

typedef struct lexer {
    const char *s;
    size_t len;
    size_t i;
    const char *what; /* "FilterExpression" or "SortExpression": the field, message prefix */
    hg_error_t *err;
} lexer_t;

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_delim(unsigned char c)
{
    if (c < 0x20 || c == 0x7f)
        return 1;
    switch (c) {
    case ' ':
    case '(':
    case ')':
    case '=':
    case '<':
    case '>':
    case '!':
    case '\'':
    case '"':
    case '\\': return 1;
    default: return 0;
    }
}

static tok_t lex_next(lexer_t *lx)
{
    const char *s = lx->s;
    size_t i = lx->i, n = lx->len;
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    tok_t t = {.kind = T_BAD, .pos = i, .len = 1, .cmp = CMP_EQ};
    if (i >= n) {
        t.kind = T_END;
        t.len = 0;
        lx->i = n;
        return t;
    }
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '(': t.kind = T_LPAREN; break;
    case ')': t.kind = T_RPAREN; break;
    case '=': t.kind = T_CMP; break;
    case '<':
        t.kind = T_CMP;
        t.cmp = CMP_LT;
        if (i + 1 < n && (s[i + 1] == '>' || s[i + 1] == '=')) {
            t.cmp = s[i + 1] == '>' ? CMP_NE : CMP_LE;
            t.len = 2;
        }
        break;
    case '>':
        t.kind = T_CMP;
        t.cmp = CMP_GT;
        if (i + 1 < n && s[i + 1] == '=') {
            t.cmp = CMP_GE;
            t.len = 2;
        }
        break;
    case '\'':
    case '"': {
        size_t j = i + 1;
        while (j < n && (unsigned char)s[j] != c)
            j += s[j] == '\\' ? 2 : 1;
        if (j >= n) {
            t.kind = T_UNTERMINATED;
            t.len = n - i;
        } else {
            t.kind = T_STRING;
            t.len = j + 1 - i;
        }
        break;
    }
    default:
        if (!is_delim(c)) {
            size_t j = i;
            while (j < n && !is_delim((unsigned char)s[j]))
                j++;
            t.kind = T_WORD;
            t.len = j - i;
        }
        break;
    }
    lx->i = i + t.len;
    return t;
}

/* Is t the word kw, ignoring case? */
static int is_kw(const lexer_t *lx, const tok_t *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->kind == T_WORD && t->len == n && strncasecmp(lx->s + t->pos, kw, n) == 0;
}

/* Unescape the quoted string token t into dst (room for t->len - 2 bytes); returns its length. */
static size_t unquote(const lexer_t *lx, const tok_t *t, char *dst)
{
    const char *p = lx->s + t->pos + 1, *end = lx->s + t->pos + t->len - 1;
    size_t n = 0;
    while (p < end) {
        if (*p == '\\')
            p++; /* the lexer guarantees a byte follows inside the quotes */
        dst[n++] = *p++;
    }
    return n;
}

/* 0, or -1 when p[0..n) is not an optional '-' and digits, or -2 when it is out of range. */
static int parse_int(const char *p, size_t n, int64_t *out)
{
    size_t i = p[0] == '-' ? 1 : 0;
    if (i == n)
        return -1;
    for (size_t k = i; k < n; k++)
        if (p[k] < '0' || p[k] > '9')
            return -1;
    uint64_t limit = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
    for (; i < n; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (acc > (limit - d) / 10)
            return -2;
        acc = acc * 10 + d;
    }
    if (p[0] != '-')
        *out = (int64_t)acc;
    else
        *out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    return 0;
}

/* ---- error messages ---- */

/* Quote n bytes of the expression for a message: at most 40 bytes (cut on a UTF-8 boundary,
 * "..." added); control bytes cannot occur in words, and hg_error_set() replaces any. */
static void quote(char *buf, size_t size, const char *p, size_t n)
{
    size_t cut = n;
    if (cut > 40) {
        cut = 40;
        while (cut > 0 && ((unsigned char)p[cut] & 0xC0) == 0x80)
            cut--;
    }
    snprintf(buf, size, "'%.*s%s'", (int)cut, p, cut < n ? "..." : "");
}

static void describe(const lexer_t *lx, const tok_t *t, char *buf, size_t size)
{
    unsigned char c = t->kind == T_END ? 0 : (unsigned char)lx->s[t->pos];
    switch (t->kind) {
    case T_END: snprintf(buf, size, "end of expression"); break;
    case T_STRING: snprintf(buf, size, "string"); break;
    case T_UNTERMINATED: snprintf(buf, size, "unterminated string"); break;
    case T_BAD:
        if (c < 0x20 || c == 0x7f) {
            snprintf(buf, size, "byte 0x%02x", c);
            break;
        }
        /* fallthrough */
    default: quote(buf, size, lx->s + t->pos, t->len); break;
    }
}

static int fail(const lexer_t *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const lexer_t *lx, const char *fmt, ...)
{
    if (lx->err == NULL)
        return HG_EINVAL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(lx->err->field, sizeof(lx->err->field), "%s", lx->what);
    return hg_error_set(lx->err, HG_EINVAL, "%s: %s", lx->what, msg);
}

/* "unexpected X at position N (expected ...)", or the unterminated-string message. */
static int unexpected(const lexer_t *lx, const tok_t *t, const char *expected)
{
    if (t->kind == T_UNTERMINATED)
        return fail(lx, "unterminated string starting at position %zu", t->pos + 1);
    char what[64];
    describe(lx, t, what, sizeof(what));
    return fail(lx, "unexpected %s at position %zu (expected %s)", what, t->pos + 1, expected);
}

/* Refuse what no token rule needs to see: too long, an embedded NUL, nothing but whitespace. */
static int check_input(lexer_t *lx)
{
    if (lx->s == NULL || lx->len == 0)
        return fail(lx, "empty expression");
    if (lx->len > HG_GS_EXPR_MAX)
        return fail(lx, "longer than %d bytes", HG_GS_EXPR_MAX);
    const char *nul = memchr(lx->s, '\0', lx->len);
    if (nul != NULL)
        return fail(lx, "unexpected byte 0x00 at position %zu", (size_t)(nul - lx->s) + 1);
    size_t i = 0;
    while (i < lx->len && is_space((unsigned char)lx->s[i]))
        i++;
    if (i == lx->len)
        return fail(lx, "empty expression");
    return HG_OK;
}

/* ---- operands ---- */

typedef enum vtype { V_STRING, V_NUMBER, V_BOOL } vtype_t;

static const struct {
    const char *name;
    hg_gs_operand_t op;
    vtype_t type;
} operands[] = {
    {"gameSessionId", HG_GS_OPERAND_ID, V_STRING},
    {"gameSessionName", HG_GS_OPERAND_NAME, V_STRING},
    {"maximumSessions", HG_GS_OPERAND_MAX_PLAYERS, V_NUMBER},
    {"creationTimeMillis", HG_GS_OPERAND_CREATED, V_NUMBER},
    {"playerSessionCount", HG_GS_OPERAND_PLAYERS, V_NUMBER},
    {"hasAvailablePlayerSessions", HG_GS_OPERAND_AVAILABLE, V_BOOL},
};

static vtype_t operand_type(hg_gs_operand_t op)
{
    for (size_t i = 0; i < sizeof(operands) / sizeof(operands[0]); i++)
        if (operands[i].op == op)
            return operands[i].type;
    return V_STRING; /* HG_GS_OPERAND_PROPERTY */
}

/* Resolve the word t as an operand; for a property, *key and *klen locate the key in the
 * expression. */
static int operand_of(const lexer_t *lx, const tok_t *t, hg_gs_operand_t *op, size_t *key,
                      size_t *klen)
{
    const char *w = lx->s + t->pos;
    for (size_t i = 0; i < sizeof(operands) / sizeof(operands[0]); i++) {
        if (strlen(operands[i].name) == t->len && memcmp(operands[i].name, w, t->len) == 0) {
            *op = operands[i].op;
            *key = *klen = 0;
            return HG_OK;
        }
    }
    if (t->len >= PROP_PREFIX_LEN && memcmp(w, PROP_PREFIX, PROP_PREFIX_LEN) == 0) {
        size_t n = t->len - PROP_PREFIX_LEN;
        if (n == 0)
            return fail(lx, "missing property key after '" PROP_PREFIX "' at position %zu",
                        t->pos + 1);
        if (n > HG_GS_KEY_MAX)
            return fail(lx, "property key longer than %d bytes at position %zu", HG_GS_KEY_MAX,
                        t->pos + PROP_PREFIX_LEN + 1);
        *op = HG_GS_OPERAND_PROPERTY;
        *key = t->pos + PROP_PREFIX_LEN;
        *klen = n;
        return HG_OK;
    }
    char what[64];
    describe(lx, t, what, sizeof(what));
    return fail(lx, "unknown operand %s at position %zu", what, t->pos + 1);
}

/* ---- filter: compiled form ---- */

typedef struct cond {
    int64_t num; /* V_NUMBER value; V_BOOL 0 or 1 */
    uint8_t operand;
    uint8_t cmp;
    uint16_t key, klen; /* property key in the pool */
    uint16_t str, slen; /* string value in the pool (property values: also bare ones) */
} cond_t;

enum { S_COND, S_NOT, S_AND, S_OR };

typedef struct step {
    uint8_t op;
    uint8_t cond; /* S_COND: index into conds */
} step_t;

struct hg_gs_filter {
    size_t nconds, nsteps;
    cond_t *conds; /* these three point into the same allocation, after the struct */
    step_t *steps;
    char *pool;
};

/* ---- filter: compiler ---- */

enum { O_LPAREN, O_NOT, O_AND, O_OR };

#define OPSTACK_MAX (HG_GS_MAX_DEPTH + 2 * (HG_GS_MAX_DEPTH + 1))

typedef struct compiler {
    lexer_t lx;
    cond_t conds[HG_GS_MAX_CONDS];
    size_t nconds;
    step_t steps[HG_GS_EXPR_MAX]; /* one step per token at most */
    size_t nsteps;
    char pool[HG_GS_EXPR_MAX]; /* keys and values, each no longer than its token */
    size_t npool;
    struct {
        uint8_t op;
        uint16_t pos;
    } ops[OPSTACK_MAX];
    size_t nops;
    int depth; /* '(' and NOT entries in ops */
} compiler_t;

static int emit(compiler_t *c, uint8_t op, size_t cond)
{
    if (HG_NEVER(c->nsteps >= sizeof(c->steps) / sizeof(c->steps[0])))
        return fail(&c->lx, "internal error: program overflow");
    c->steps[c->nsteps++] = (step_t){op, (uint8_t)cond};
    return HG_OK;
}

static int push(compiler_t *c, uint8_t op, const tok_t *t)
{
    if ((op == O_LPAREN || op == O_NOT) && c->depth >= HG_GS_MAX_DEPTH)
        return fail(&c->lx, "nesting deeper than %d at position %zu", HG_GS_MAX_DEPTH, t->pos + 1);
    if (HG_NEVER(c->nops >= OPSTACK_MAX))
        return fail(&c->lx, "internal error: operator stack overflow");
    c->ops[c->nops].op = op;
    c->ops[c->nops].pos = (uint16_t)t->pos;
    c->nops++;
    if (op == O_LPAREN || op == O_NOT)
        c->depth++;
    return HG_OK;
}

/* Pop and emit the operators on top of the stack while they are in the mask (1 << O_*). */
static int pop_while(compiler_t *c, unsigned mask)
{
    static const uint8_t step_of[] = {[O_NOT] = S_NOT, [O_AND] = S_AND, [O_OR] = S_OR};
    while (c->nops > 0 && (mask & (1u << c->ops[c->nops - 1].op))) {
        uint8_t op = c->ops[--c->nops].op;
        if (op == O_NOT)
            c->depth--;
        int rc = emit(c, step_of[op], 0);
        if (rc != HG_OK)
            return rc;
    }
    return HG_OK;
}

static char *pool_add(compiler_t *c, size_t n, uint16_t *off)
{
    if (HG_NEVER(c->npool + n > sizeof(c->pool)))
        return NULL;
    *off = (uint16_t)c->npool;
    c->npool += n;
    return c->pool + *off;
}

/* Put the text of value token t in the pool for cd: unescaped when quoted, else as written. */
static int pool_value(compiler_t *c, cond_t *cd, const tok_t *t)
{
    size_t room = t->kind == T_STRING ? t->len - 2 : t->len, n = t->len;
    char *dst = pool_add(c, room, &cd->str);
    if (dst == NULL)
        return fail(&c->lx, "internal error: pool overflow");
    if (t->kind == T_STRING)
        n = unquote(&c->lx, t, dst);
    else
        memcpy(dst, c->lx.s + t->pos, n);
    c->npool -= room - n; /* escapes made it shorter */
    cd->slen = (uint16_t)n;
    return HG_OK;
}

/* Compile `operand comparator value`, the operand word being t. */
static int parse_cond(compiler_t *c, const tok_t *t)
{
    lexer_t *lx = &c->lx;
    hg_gs_operand_t op;
    size_t key, klen;
    char name[64];
    int rc = operand_of(lx, t, &op, &key, &klen);
    if (rc != HG_OK)
        return rc;
    if (c->nconds >= HG_GS_MAX_CONDS)
        return fail(lx, "more than %d conditions at position %zu", HG_GS_MAX_CONDS, t->pos + 1);
    quote(name, sizeof(name), lx->s + t->pos, t->len);
    vtype_t type = operand_type(op);

    tok_t ct = lex_next(lx);
    if (ct.kind != T_CMP)
        return unexpected(lx, &ct, "a comparator: = <> < > <= >=");
    if (type != V_NUMBER && ct.cmp != CMP_EQ && ct.cmp != CMP_NE)
        return fail(lx,
                    "comparator '%s' not allowed for %s at position %zu (%s allow only = and <>)",
                    cmp_text[ct.cmp], name, ct.pos + 1, type == V_BOOL ? "booleans" : "strings");

    cond_t *cd = &c->conds[c->nconds];
    *cd = (cond_t){.operand = (uint8_t)op, .cmp = (uint8_t)ct.cmp};
    if (op == HG_GS_OPERAND_PROPERTY) {
        char *k = pool_add(c, klen, &cd->key);
        if (k == NULL)
            return fail(lx, "internal error: pool overflow");
        memcpy(k, lx->s + key, klen);
        cd->klen = (uint16_t)klen;
    }

    tok_t vt = lex_next(lx);
    vtype_t vtype;
    const char *found = NULL;
    if (vt.kind == T_STRING) {
        vtype = V_STRING;
        found = "a string";
    } else if (is_kw(lx, &vt, "true") || is_kw(lx, &vt, "false")) {
        vtype = V_BOOL;
        cd->num = is_kw(lx, &vt, "true");
        found = "a boolean";
    } else if (vt.kind == T_WORD &&
               (lx->s[vt.pos] == '-' || (lx->s[vt.pos] >= '0' && lx->s[vt.pos] <= '9'))) {
        vtype = V_NUMBER;
        found = "a number";
        char num[64];
        quote(num, sizeof(num), lx->s + vt.pos, vt.len);
        int r = parse_int(lx->s + vt.pos, vt.len, &cd->num);
        if (r == -1)
            return fail(lx, "invalid number %s at position %zu (integers only)", num, vt.pos + 1);
        if (r == -2)
            return fail(lx, "number %s out of range at position %zu", num, vt.pos + 1);
    } else {
        return unexpected(lx, &vt, "a value: a number, true, false or a quoted string");
    }

    if (op != HG_GS_OPERAND_PROPERTY && vtype != type) {
        static const char *const need[] = {"a string", "a number", "true or false"};
        return fail(lx, "%s takes %s, not %s, at position %zu", name, need[type], found,
                    vt.pos + 1);
    }
    /* Property values compare as strings, a bare number or boolean as the text written. */
    if (op == HG_GS_OPERAND_PROPERTY || vtype == V_STRING) {
        rc = pool_value(c, cd, &vt);
        if (rc != HG_OK)
            return rc;
    }
    return emit(c, S_COND, c->nconds++);
}

/* The program must leave exactly one value and never pop an empty stack; the stack never holds
 * more values than there are conditions. */
static int program_ok(const compiler_t *c)
{
    size_t h = 0;
    for (size_t i = 0; i < c->nsteps; i++) {
        switch (c->steps[i].op) {
        case S_COND: h++; break;
        case S_NOT:
            if (h < 1)
                return 0;
            break;
        default:
            if (h < 2)
                return 0;
            h--;
            break;
        }
    }
    return h == 1;
}

static int compile(compiler_t *c)
{
    lexer_t *lx = &c->lx;
    int rc = check_input(lx);
    if (rc != HG_OK)
        return rc;
    int want_primary = 1;
    for (;;) {
        tok_t t = lex_next(lx);
        if (want_primary) {
            if (t.kind == T_LPAREN || is_kw(lx, &t, "NOT")) {
                rc = push(c, t.kind == T_LPAREN ? O_LPAREN : O_NOT, &t);
                if (rc != HG_OK)
                    return rc;
                continue;
            }
            unsigned char c0 = t.kind == T_WORD ? (unsigned char)lx->s[t.pos] : 0;
            if (t.kind != T_WORD || is_kw(lx, &t, "AND") || is_kw(lx, &t, "OR") ||
                is_kw(lx, &t, "true") || is_kw(lx, &t, "false") || c0 == '-' ||
                (c0 >= '0' && c0 <= '9'))
                return unexpected(lx, &t, "a condition, NOT or '('");
            rc = parse_cond(c, &t);
            if (rc == HG_OK)
                rc = pop_while(c, 1u << O_NOT);
            if (rc != HG_OK)
                return rc;
            want_primary = 0;
            continue;
        }
        if (is_kw(lx, &t, "AND")) {
            rc = pop_while(c, 1u << O_AND);
            if (rc == HG_OK)
                rc = push(c, O_AND, &t);
            want_primary = 1;
        } else if (is_kw(lx, &t, "OR")) {
            rc = pop_while(c, (1u << O_AND) | (1u << O_OR));
            if (rc == HG_OK)
                rc = push(c, O_OR, &t);
            want_primary = 1;
        } else if (t.kind == T_RPAREN) {
            rc = pop_while(c, (1u << O_AND) | (1u << O_OR));
            if (rc != HG_OK)
                return rc;
            if (c->nops == 0 || HG_NEVER(c->ops[c->nops - 1].op != O_LPAREN))
                return fail(lx, "unmatched ')' at position %zu", t.pos + 1);
            c->nops--; /* the '(' */
            c->depth--;
            rc = pop_while(c, 1u << O_NOT);
        } else if (t.kind == T_END) {
            rc = pop_while(c, (1u << O_AND) | (1u << O_OR));
            if (rc != HG_OK)
                return rc;
            if (c->nops > 0)
                return fail(lx, "unmatched '(' at position %zu",
                            (size_t)c->ops[c->nops - 1].pos + 1);
            break;
        } else {
            return unexpected(lx, &t, "AND, OR, ')' or end of expression");
        }
        if (rc != HG_OK)
            return rc;
    }
    if (HG_NEVER(!program_ok(c)))
        return fail(lx, "internal error: malformed program");
    return HG_OK;
}

int hg_gs_filter_parse_n(const char *expr, size_t len, hg_gs_filter_t **out, hg_error_t *err)
{
    /* About 5 KiB of scratch on the stack (fixed, whatever the input); only the result is
     * allocated, at its exact size. */
    compiler_t c;
    c.lx = (lexer_t){.s = expr, .len = len, .what = "FilterExpression", .err = err};
    c.nconds = c.nsteps = c.npool = c.nops = 0;
    c.depth = 0;
    int rc = compile(&c);
    if (rc != HG_OK)
        return rc;

    size_t align = _Alignof(cond_t);
    size_t off_conds = (sizeof(hg_gs_filter_t) + align - 1) / align * align;
    size_t off_steps = off_conds + c.nconds * sizeof(cond_t);
    size_t off_pool = off_steps + c.nsteps * sizeof(step_t);
    char *mem = hg_malloc(off_pool + c.npool);
    hg_gs_filter_t *f = (hg_gs_filter_t *)mem;
    f->nconds = c.nconds;
    f->nsteps = c.nsteps;
    f->conds = (cond_t *)(mem + off_conds);
    f->steps = (step_t *)(mem + off_steps);
    f->pool = mem + off_pool;
    memcpy(f->conds, c.conds, c.nconds * sizeof(cond_t));
    memcpy(f->steps, c.steps, c.nsteps * sizeof(step_t));
    memcpy(f->pool, c.pool, c.npool);
    *out = f;
    return HG_OK;
}

int hg_gs_filter_parse(const char *expr, hg_gs_filter_t **out, hg_error_t *err)
{
    return hg_gs_filter_parse_n(expr, expr ? strnlen(expr, HG_GS_EXPR_MAX + 1) : 0, out, err);
}

void hg_gs_filter_free(hg_gs_filter_t *f)
{
    hg_free(f);
}

/* ---- filter: evaluation ---- */

/* The value of property key[0..klen) in v, or NULL when v has none. */
static const char *prop_get(const hg_gs_view_t *v, const char *key, size_t klen)
{
    if (v->prop_keys == NULL || v->prop_vals == NULL)
        return NULL;
    for (size_t i = 0; i < v->nprops; i++) {
        const char *k = v->prop_keys[i];
        if (k != NULL && strncmp(k, key, klen) == 0 && k[klen] == '\0')
            return v->prop_vals[i];
    }
    return NULL;
}

static int test_str(const hg_gs_filter_t *f, const cond_t *c, const char *have)
{
    if (have == NULL)
        return 0; /* missing: false for = and <> alike */
    int eq = strncmp(have, f->pool + c->str, c->slen) == 0 && have[c->slen] == '\0';
    return c->cmp == CMP_EQ ? eq : !eq;
}

static int test_num(const cond_t *c, int64_t have)
{
    switch ((cmp_t)c->cmp) {
    case CMP_EQ: return have == c->num;
    case CMP_NE: return have != c->num;
    case CMP_LT: return have < c->num;
    case CMP_GT: return have > c->num;
    case CMP_LE: return have <= c->num;
    case CMP_GE: return have >= c->num;
    }
    return 0;
}

static int test_cond(const hg_gs_filter_t *f, const cond_t *c, const hg_gs_view_t *v)
{
    switch ((hg_gs_operand_t)c->operand) {
    case HG_GS_OPERAND_ID: return test_str(f, c, v->id);
    case HG_GS_OPERAND_NAME: return test_str(f, c, v->name);
    case HG_GS_OPERAND_PROPERTY: return test_str(f, c, prop_get(v, f->pool + c->key, c->klen));
    case HG_GS_OPERAND_MAX_PLAYERS: return test_num(c, v->max_players);
    case HG_GS_OPERAND_CREATED: return test_num(c, v->created_ms);
    case HG_GS_OPERAND_PLAYERS: return test_num(c, v->players);
    case HG_GS_OPERAND_AVAILABLE: return test_num(c, v->available != 0);
    }
    return 0;
}

int hg_gs_filter_match(const hg_gs_filter_t *f, const hg_gs_view_t *v)
{
    if (f == NULL)
        return 1;
    unsigned char st[HG_GS_MAX_CONDS];
    size_t sp = 0;
    for (size_t i = 0; i < f->nsteps; i++) {
        const step_t *s = &f->steps[i];
        switch (s->op) {
        case S_COND: st[sp++] = (unsigned char)test_cond(f, &f->conds[s->cond], v); break;
        case S_NOT: st[sp - 1] = !st[sp - 1]; break;
        case S_AND:
            sp--;
            st[sp - 1] = st[sp - 1] && st[sp];
            break;
        case S_OR:
            sp--;
            st[sp - 1] = st[sp - 1] || st[sp];
            break;
        }
    }
    return st[0];
}

/* ---- sort ---- */

int hg_gs_sort_parse_n(const char *expr, size_t len, hg_gs_sort_t *out, hg_error_t *err)
{
    lexer_t lx = {.s = expr, .len = len, .what = "SortExpression", .err = err};
    int rc = check_input(&lx);
    if (rc != HG_OK)
        return rc;
    tok_t t = lex_next(&lx);
    if (t.kind != T_WORD || is_kw(&lx, &t, "ASC") || is_kw(&lx, &t, "DESC"))
        return unexpected(&lx, &t, "an operand");
    size_t key, klen;
    rc = operand_of(&lx, &t, &out->operand, &key, &klen);
    if (rc != HG_OK)
        return rc;
    memcpy(out->key, lx.s + key, klen);
    out->key[klen] = '\0';
    out->desc = 0;

    t = lex_next(&lx);
    if (t.kind == T_END)
        return HG_OK;
    if (is_kw(&lx, &t, "DESC"))
        out->desc = 1;
    else if (!is_kw(&lx, &t, "ASC"))
        return unexpected(&lx, &t, "ASC, DESC or end of expression");
    t = lex_next(&lx);
    if (t.kind != T_END)
        return unexpected(&lx, &t, "end of expression");
    return HG_OK;
}

int hg_gs_sort_parse(const char *expr, hg_gs_sort_t *out, hg_error_t *err)
{
    return hg_gs_sort_parse_n(expr, expr ? strnlen(expr, HG_GS_EXPR_MAX + 1) : 0, out, err);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

int hg_gs_sort_cmp(const hg_gs_sort_t *s, const hg_gs_view_t *a, const hg_gs_view_t *b)
{
    const char *sa = NULL, *sb = NULL;
    int r = 0;
    switch (s->operand) {
    case HG_GS_OPERAND_ID: sa = a->id, sb = b->id; break;
    case HG_GS_OPERAND_NAME: sa = a->name, sb = b->name; break;
    case HG_GS_OPERAND_PROPERTY: {
        size_t klen = strnlen(s->key, HG_GS_KEY_MAX);
        sa = prop_get(a, s->key, klen);
        sb = prop_get(b, s->key, klen);
        break;
    }
    case HG_GS_OPERAND_MAX_PLAYERS: r = cmp_i64(a->max_players, b->max_players); break;
    case HG_GS_OPERAND_CREATED: r = cmp_i64(a->created_ms, b->created_ms); break;
    case HG_GS_OPERAND_PLAYERS: r = cmp_i64(a->players, b->players); break;
    case HG_GS_OPERAND_AVAILABLE: r = cmp_i64(a->available != 0, b->available != 0); break;
    }
    if (operand_type(s->operand) == V_STRING) {
        if (sa == NULL || sb == NULL)
            return (sa == NULL) - (sb == NULL); /* missing last, whatever the direction */
        int d = strcmp(sa, sb);
        r = (d > 0) - (d < 0);
    }
    return s->desc ? -r : r;
}
