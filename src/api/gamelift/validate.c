/* hangar — GameLift request validation against the generated botocore model.
 *
 * One walk over the request body, driven by the op's input shape (never by the body: unknown
 * members are not visited, so the work is bounded by the model times the body size, and also by
 * HG_GL_VALIDATE_MAX_NODES). The walk keeps the current member path on a small stack and only
 * spells it out when something fails, so a valid request costs a few hash lookups, length counts
 * and (cached, JIT-compiled) regex matches.
 *
 * Two failure classes, in the order GameLift's front end produces them:
 *   - a JSON type mismatch is a deserialization failure: the walk stops at the first one and
 *     returns HG_ESERIALIZATION ("Value for Players[0].PlayerId must be a string");
 *   - constraint violations are collected (all counted, the first HG_GL_VALIDATE_MAX_REPORTED
 *     kept) and returned as HG_EINVAL with the Coral-style message GameLift sends:
 *       N validation error(s) detected: V1; V2; ...
 *       V = Value '<value>' at '<path>' failed to satisfy constraint: <phrase>
 *     (`Value null at ...` for a missing required member).
 *
 * Path spelling in messages (Coral): members in lowerCamel ("gameServerId"), joined by '.';
 * a list element of structure type is "<list>.<1-based index>.member" ("instanceDefinitions.1.
 * member.instanceType"); a map value of structure type is "<map>.<key>". Constraints on scalar
 * list elements and on map keys/scalar values are reported once, at the list or map, the way
 * Coral does: "Member must satisfy constraint: [<phrases>]", "Map keys must satisfy constraint:
 * [...]", "Map values must satisfy constraint: [...]" (the phrases violated by any element).
 * Values render like Java's toString: strings raw, lists "[a, b]", maps/structures "{K=v}".
 * Each violated constraint of a scalar member is its own violation (length and pattern can both
 * fail). err->field and serialization messages use the wire path instead:
 * "InstanceDefinitions[0].InstanceType", "PlayerAttributes[skill].N".
 *
 * NUL (U+0000, `\u0000` in the body) is refused in every string, because handlers and the domain
 * read members as C strings and would silently cut them there. Strings are measured with
 * json_string_length, never strlen. A modeled string member holding a NUL fails its pattern (a
 * NUL never satisfies a model pattern, even one like `.*\S.*` that would match it), or, when it
 * has no pattern (and no enum, which a NUL cannot match either), fails hangard's own constraint
 * "Member must not contain the character U+0000". After a clean walk of the model, one more pass
 * over the whole body refuses a NUL in members the model does not know (handlers read a few
 * members newer than Debian's botocore model); that pass names the member by its wire name with
 * the first letter lowered, as Coral spells paths. In messages a NUL is shown as `\u0000`.
 *
 * Patterns are compiled lazily once each (UTF mode, anchored at both ends so the model's
 * inconsistently anchored regexes act as whole-string matches, JIT when available) and cached in
 * file statics with one shared match data block: callers use one thread at a time.
 */
#include "api/gamelift/validate.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

/* Constraint kinds; a bit each so scalar list/map checks can union them. */
enum {
    K_NULL = 1u << 0,
    K_LEN_MIN = 1u << 1,
    K_LEN_MAX = 1u << 2,
    K_VAL_MIN = 1u << 3,
    K_VAL_MAX = 1u << 4,
    K_ENUM = 1u << 5,
    K_PATTERN = 1u << 6,
    K_NUL = 1u << 7, /* hangard's own: see the file comment */
};
#define K_COUNT 8 /* number of K_ bits */

/* How a violation is phrased: a bare constraint, or wrapped for scalar list/map elements. */
enum { WRAP_NONE, WRAP_LIST, WRAP_MAP_KEYS, WRAP_MAP_VALUES };

/* SEG_NAME: an object member outside the model (the NUL pass), named by its key. */
enum { SEG_MEMBER, SEG_INDEX, SEG_KEY, SEG_NAME };

typedef struct seg {
    int kind;
    const hg_gl_member_t *member; /* SEG_MEMBER */
    const char *key;              /* SEG_KEY, SEG_NAME; borrowed from the body */
    size_t n;                     /* SEG_INDEX: 0-based index; SEG_KEY, SEG_NAME: key length */
} seg_t;

typedef struct viol {
    seg_t path[HG_GL_PATH_MAX];
    size_t depth;
    json_t *value;              /* offending value; NULL when missing */
    const hg_gl_shape_t *shape; /* shape whose constraints failed */
    unsigned kinds;             /* one K_ bit for WRAP_NONE, a union otherwise */
    int wrap;
} viol_t;

typedef struct vctx {
    seg_t path[HG_GL_PATH_MAX];
    size_t depth; /* may exceed HG_GL_PATH_MAX; only the first segments are recorded */
    size_t nviol; /* total found; the first HG_GL_VALIDATE_MAX_REPORTED are in viol[] */
    size_t budget;
    hg_error_t *err;
    viol_t viol[HG_GL_VALIDATE_MAX_REPORTED];
} vctx_t;

/* ---- Pattern cache ------------------------------------------------------------------------- */

static pcre2_general_context *gctx;
static pcre2_compile_context *cctx;
static pcre2_match_context *mctx;
static pcre2_match_data *mdata;
static pcre2_code **codes;    /* hg_gl_pattern_count entries, NULL until compiled */
static unsigned char *broken; /* 1 when compilation failed (logged once) */

static void *pcre_alloc(size_t n, void *ud)
{
    (void)ud;
    return hg_malloc(n);
}

static void pcre_free(void *p, void *ud)
{
    (void)ud;
    hg_free(p);
}

static void cache_init(void)
{
    if (codes != NULL)
        return;
    gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    cctx = pcre2_compile_context_create(gctx);
    mctx = pcre2_match_context_create(gctx);
    mdata = pcre2_match_data_create(1, gctx);
    HG_BUG_ON(gctx == NULL || cctx == NULL || mctx == NULL || mdata == NULL);
    pcre2_set_match_limit(mctx, HG_GL_PATTERN_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, HG_GL_PATTERN_MATCH_LIMIT);
    pcre2_set_heap_limit(mctx, 4096); /* KiB of backtracking frames */
    codes = hg_calloc(hg_gl_pattern_count, sizeof(*codes));
    broken = hg_calloc(hg_gl_pattern_count, 1);
}

/* The compiled pattern i, or NULL if it does not compile (logged the first time). */
static pcre2_code *pattern_get(size_t i)
{
    cache_init();
    if (codes[i] != NULL || broken[i])
        return codes[i];
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    const char *src = hg_gl_patterns[i].pcre;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ecode, &eoff, cctx);
    if (re == NULL) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        HG_LOG(HG_LOG_ERROR, "gamelift", "pattern=%zu regex=\"%s\" offset=%zu error=\"%s\"", i, src,
               (size_t)eoff, (const char *)msg);
        broken[i] = 1;
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    codes[i] = re;
    return re;
}

int hg_gl_pattern_match(size_t i, const char *s, size_t len)
{
    if (i >= hg_gl_pattern_count)
        return HG_EINVAL;
    pcre2_code *re = pattern_get(i);
    if (re == NULL)
        return HG_EINTERNAL;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, mdata, mctx);
    return rc >= 0 ? 1 : 0;
}

int hg_gl_validate_warm(size_t *bad)
{
    int rc = HG_OK;
    for (size_t i = 0; i < hg_gl_pattern_count; i++) {
        if (pattern_get(i) == NULL && rc == HG_OK) {
            rc = HG_EINTERNAL;
            if (bad != NULL)
                *bad = i;
        }
    }
    return rc;
}

void hg_gl_validate_fini(void)
{
    if (codes == NULL)
        return;
    for (size_t i = 0; i < hg_gl_pattern_count; i++)
        pcre2_code_free(codes[i]);
    hg_free(codes);
    hg_free(broken);
    pcre2_match_data_free(mdata);
    pcre2_match_context_free(mctx);
    pcre2_compile_context_free(cctx);
    pcre2_general_context_free(gctx);
    codes = NULL;
    broken = NULL;
    mdata = NULL;
    mctx = NULL;
    cctx = NULL;
    gctx = NULL;
}

/* ---- Message rendering --------------------------------------------------------------------- */

/* A bounded string builder that never splits a UTF-8 sequence when it runs out of room. */
typedef struct out {
    char *p;
    size_t len;
    size_t cap; /* including the NUL */
    int full;
} out_t;

static void out_put(out_t *o, const char *s, size_t n)
{
    if (o->full || o->cap == 0)
        return;
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        o->full = 1;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(out_t *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* n bytes of a JSON string, each NUL shown as the six characters \u0000 (err->msg is a C
 * string: a raw NUL would end the message there). */
static void out_text(out_t *o, const char *s, size_t n)
{
    const char *nul;
    while (n > 0 && (nul = memchr(s, '\0', n)) != NULL) {
        out_put(o, s, (size_t)(nul - s));
        out_str(o, "\\u0000");
        n -= (size_t)(nul - s) + 1;
        s = nul + 1;
    }
    out_put(o, s, n);
}

static void out_i64(out_t *o, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    out_put(o, tmp, (size_t)n);
}

static void out_size(out_t *o, size_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%zu", v);
    out_put(o, tmp, (size_t)n);
}

/* Shortest decimal that reads back as d, with ".0" added to whole numbers like Java prints. */
static void out_double(out_t *o, double d)
{
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (strpbrk(tmp, ".eEn") == NULL) /* no point, exponent, inf or nan */
        n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".0");
    out_put(o, tmp, (size_t)n);
}

/* A JSON value the way Coral's toString shows it. Deep values are elided. */
static void out_value(out_t *o, json_t *v, int depth)
{
    if (o->full)
        return;
    if (depth > 4) {
        out_str(o, "...");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: out_text(o, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: out_i64(o, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: out_double(o, json_real_value(v)); break;
    case JSON_TRUE: out_str(o, "true"); break;
    case JSON_FALSE: out_str(o, "false"); break;
    case JSON_NULL: out_str(o, "null"); break;
    case JSON_ARRAY:
        out_str(o, "[");
        for (size_t i = 0; i < json_array_size(v) && !o->full; i++) {
            if (i > 0)
                out_str(o, ", ");
            out_value(o, json_array_get(v, i), depth + 1);
        }
        out_str(o, "]");
        break;
    case JSON_OBJECT: {
        out_str(o, "{");
        int first = 1;
        for (void *it = json_object_iter(v); it != NULL && !o->full;
             it = json_object_iter_next(v, it)) {
            if (!first)
                out_str(o, ", ");
            first = 0;
            out_put(o, json_object_iter_key(it), json_object_iter_key_len(it));
            out_str(o, "=");
            out_value(o, json_object_iter_value(it), depth + 1);
        }
        out_str(o, "}");
        break;
    }
    }
}

/* Coral path: gameServerId, instanceDefinitions.1.member.instanceType, playerAttributes.k.n */
static void out_coral_path(out_t *o, const seg_t *path, size_t depth)
{
    if (depth > HG_GL_PATH_MAX)
        depth = HG_GL_PATH_MAX;
    for (size_t i = 0; i < depth; i++) {
        if (i > 0)
            out_str(o, ".");
        switch (path[i].kind) {
        case SEG_MEMBER: out_str(o, path[i].member->path_name); break;
        case SEG_INDEX:
            out_size(o, path[i].n + 1);
            out_str(o, ".member");
            break;
        case SEG_NAME: /* lowerCamel, as the generator spells path_name */
            if (path[i].n > 0 && path[i].key[0] >= 'A' && path[i].key[0] <= 'Z') {
                char first = (char)(path[i].key[0] - 'A' + 'a');
                out_put(o, &first, 1);
                out_put(o, path[i].key + 1, path[i].n - 1);
            } else {
                out_put(o, path[i].key, path[i].n);
            }
            break;
        default: out_put(o, path[i].key, path[i].n); break;
        }
    }
}

/* Wire path: GameServerId, InstanceDefinitions[0].InstanceType, PlayerAttributes[k].N */
static void out_wire_path(out_t *o, const seg_t *path, size_t depth)
{
    if (depth > HG_GL_PATH_MAX)
        depth = HG_GL_PATH_MAX;
    for (size_t i = 0; i < depth; i++) {
        switch (path[i].kind) {
        case SEG_MEMBER:
            if (i > 0)
                out_str(o, ".");
            out_str(o, path[i].member->name);
            break;
        case SEG_NAME:
            if (i > 0)
                out_str(o, ".");
            out_put(o, path[i].key, path[i].n);
            break;
        case SEG_INDEX:
            out_str(o, "[");
            out_size(o, path[i].n);
            out_str(o, "]");
            break;
        default:
            out_str(o, "[");
            out_put(o, path[i].key, path[i].n);
            out_str(o, "]");
            break;
        }
    }
}

/* The phrase for one constraint kind of shape s. */
static void out_phrase(out_t *o, const hg_gl_shape_t *s, unsigned kind)
{
    switch (kind) {
    case K_NULL: out_str(o, "Member must not be null"); break;
    case K_LEN_MIN:
        out_str(o, "Member must have length greater than or equal to ");
        out_i64(o, s->min);
        break;
    case K_LEN_MAX:
        out_str(o, "Member must have length less than or equal to ");
        out_i64(o, s->max);
        break;
    case K_VAL_MIN:
        out_str(o, "Member must have value greater than or equal to ");
        out_i64(o, s->min);
        break;
    case K_VAL_MAX:
        out_str(o, "Member must have value less than or equal to ");
        out_i64(o, s->max);
        break;
    case K_ENUM:
        out_str(o, "Member must satisfy enum value set: [");
        for (size_t i = 0; i < s->nenums; i++) {
            if (i > 0)
                out_str(o, ", ");
            out_str(o, s->enums[i]);
        }
        out_str(o, "]");
        break;
    case K_PATTERN:
        out_str(o, "Member must satisfy regular expression pattern: ");
        out_str(o, hg_gl_patterns[s->pattern].model);
        break;
    case K_NUL: out_str(o, "Member must not contain the character U+0000"); break;
    }
}

static void out_viol(out_t *o, const viol_t *v)
{
    if (v->value == NULL) {
        out_str(o, "Value null at '");
    } else if (v->shape->flags & HG_GL_SENSITIVE) {
        out_str(o, "Value at '");
    } else {
        out_str(o, "Value '");
        out_value(o, v->value, 0);
        out_str(o, "' at '");
    }
    out_coral_path(o, v->path, v->depth);
    out_str(o, "' failed to satisfy constraint: ");
    if (v->wrap == WRAP_NONE) {
        out_phrase(o, v->shape, v->kinds);
        return;
    }
    out_str(o, v->wrap == WRAP_LIST       ? "Member must satisfy constraint: ["
               : v->wrap == WRAP_MAP_KEYS ? "Map keys must satisfy constraint: ["
                                          : "Map values must satisfy constraint: [");
    int first = 1;
    for (unsigned b = 0; b < K_COUNT; b++) {
        if (!(v->kinds & (1u << b)))
            continue;
        if (!first)
            out_str(o, ", ");
        first = 0;
        out_phrase(o, v->shape, 1u << b);
    }
    out_str(o, "]");
}

static int report(vctx_t *c)
{
    hg_error_t *err = c->err;
    if (err == NULL)
        return HG_EINVAL;
    hg_error_clear(err);
    err->code = HG_EINVAL;
    out_t f = {err->field, 0, sizeof(err->field), 0};
    out_wire_path(&f, c->viol[0].path, c->viol[0].depth);
    out_t o = {err->msg, 0, sizeof(err->msg), 0};
    out_size(&o, c->nviol);
    out_str(&o, c->nviol == 1 ? " validation error detected: " : " validation errors detected: ");
    size_t shown = c->nviol < HG_GL_VALIDATE_MAX_REPORTED ? c->nviol : HG_GL_VALIDATE_MAX_REPORTED;
    for (size_t i = 0; i < shown; i++) {
        if (i > 0)
            out_str(&o, "; ");
        out_viol(&o, &c->viol[i]);
    }
    return HG_EINVAL;
}

/* ---- The walk ------------------------------------------------------------------------------ */

static const char *type_word(int type)
{
    switch (type) {
    case HG_GL_STRUCTURE:
    case HG_GL_MAP: return "an object";
    case HG_GL_LIST: return "an array";
    case HG_GL_STRING:
    case HG_GL_BLOB: return "a string";
    case HG_GL_INTEGER:
    case HG_GL_LONG: return "an integer";
    case HG_GL_BOOLEAN: return "a boolean";
    case HG_GL_TIMESTAMP: return "a number (epoch seconds)";
    default: return "a number";
    }
}

/* Fail the walk with a SerializationException naming the current path. */
static int type_error(vctx_t *c, const char *what)
{
    hg_error_t *err = c->err;
    if (err == NULL)
        return HG_ESERIALIZATION;
    hg_error_clear(err);
    err->code = HG_ESERIALIZATION;
    out_t f = {err->field, 0, sizeof(err->field), 0};
    out_wire_path(&f, c->path, c->depth);
    out_t o = {err->msg, 0, sizeof(err->msg), 0};
    out_str(&o, "Value for ");
    out_wire_path(&o, c->path, c->depth);
    out_str(&o, " must be ");
    out_str(&o, what);
    return HG_ESERIALIZATION;
}

static void push(vctx_t *c, int kind, const hg_gl_member_t *m, const char *key, size_t n)
{
    if (c->depth < HG_GL_PATH_MAX) {
        seg_t *s = &c->path[c->depth];
        s->kind = kind;
        s->member = m;
        s->key = key;
        s->n = n;
    }
    c->depth++;
}

static void pop(vctx_t *c)
{
    c->depth--;
}

static void add_viol(vctx_t *c, const hg_gl_shape_t *s, json_t *value, unsigned kinds, int wrap)
{
    size_t i = c->nviol++;
    if (i >= HG_GL_VALIDATE_MAX_REPORTED)
        return;
    viol_t *v = &c->viol[i];
    v->depth = c->depth < HG_GL_PATH_MAX ? c->depth : HG_GL_PATH_MAX;
    memcpy(v->path, c->path, v->depth * sizeof(seg_t));
    v->value = value;
    v->shape = s;
    v->kinds = kinds;
    v->wrap = wrap;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static int enum_cmp(const char *s, size_t n, const char *e)
{
    size_t elen = strlen(e);
    int c = memcmp(s, e, n < elen ? n : elen);
    if (c != 0)
        return c;
    return n < elen ? -1 : n > elen ? 1 : 0;
}

static int in_enum(const hg_gl_shape_t *sh, const char *s, size_t n)
{
    size_t lo = 0, hi = sh->nenums;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = enum_cmp(s, n, sh->enums_sorted[mid]);
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* Constraint bits a string of shape sh violates (n bytes: s may hold NULs). */
static unsigned check_string(const hg_gl_shape_t *sh, const char *s, size_t n)
{
    int nul = memchr(s, '\0', n) != NULL;
    unsigned kinds = 0;
    if (sh->flags & (HG_GL_HAS_MIN | HG_GL_HAS_MAX)) {
        int64_t len = (int64_t)utf8_chars(s, n);
        if ((sh->flags & HG_GL_HAS_MIN) && len < sh->min)
            kinds |= K_LEN_MIN;
        if ((sh->flags & HG_GL_HAS_MAX) && len > sh->max)
            kinds |= K_LEN_MAX;
    }
    if (sh->nenums > 0 && !in_enum(sh, s, n))
        kinds |= K_ENUM;
    if (sh->pattern >= 0 && (nul || hg_gl_pattern_match((size_t)sh->pattern, s, n) == 0))
        kinds |= K_PATTERN;
    else if (nul && sh->pattern < 0 && sh->nenums == 0)
        kinds |= K_NUL; /* an enum already failed: no enum value holds a NUL */
    return kinds;
}

static unsigned check_range(const hg_gl_shape_t *sh, double d)
{
    unsigned kinds = 0;
    if ((sh->flags & HG_GL_HAS_MIN) && d < (double)sh->min)
        kinds |= K_VAL_MIN;
    if ((sh->flags & HG_GL_HAS_MAX) && d > (double)sh->max)
        kinds |= K_VAL_MAX;
    return kinds;
}

/* Type-check scalar v against sh and set *kinds to the constraints it violates. */
static int check_scalar(vctx_t *c, const hg_gl_shape_t *sh, json_t *v, unsigned *kinds)
{
    *kinds = 0;
    switch (sh->type) {
    case HG_GL_STRING:
        if (!json_is_string(v))
            return type_error(c, type_word(sh->type));
        *kinds = check_string(sh, json_string_value(v), json_string_length(v));
        return HG_OK;
    case HG_GL_BLOB: {
        if (!json_is_string(v))
            return type_error(c, type_word(sh->type));
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), pad = 0;
        while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
            pad++;
        size_t whole = (n / 4) * 3 + ((n % 4) * 3) / 4; /* decoded size before padding */
        int64_t bytes = (int64_t)(whole > pad ? whole - pad : 0);
        if ((sh->flags & HG_GL_HAS_MIN) && bytes < sh->min)
            *kinds |= K_LEN_MIN;
        if ((sh->flags & HG_GL_HAS_MAX) && bytes > sh->max)
            *kinds |= K_LEN_MAX;
        if (memchr(s, '\0', n) != NULL)
            *kinds |= K_NUL;
        return HG_OK;
    }
    case HG_GL_INTEGER:
    case HG_GL_LONG: {
        if (!json_is_integer(v))
            return type_error(c, type_word(sh->type));
        json_int_t i = json_integer_value(v);
        if (sh->type == HG_GL_INTEGER && (i < INT32_MIN || i > INT32_MAX))
            return type_error(c, "a 32-bit integer");
        if ((sh->flags & HG_GL_HAS_MIN) && i < sh->min)
            *kinds |= K_VAL_MIN;
        if ((sh->flags & HG_GL_HAS_MAX) && i > sh->max)
            *kinds |= K_VAL_MAX;
        return HG_OK;
    }
    case HG_GL_FLOAT:
    case HG_GL_DOUBLE:
        if (!json_is_number(v))
            return type_error(c, type_word(sh->type));
        *kinds = check_range(sh, json_number_value(v));
        return HG_OK;
    case HG_GL_TIMESTAMP:
        if (!json_is_number(v))
            return type_error(c, type_word(sh->type));
        return HG_OK;
    case HG_GL_BOOLEAN:
        if (!json_is_boolean(v))
            return type_error(c, type_word(sh->type));
        return HG_OK;
    default:
        HG_BUG_ON(1); /* aggregates never reach here */
        return HG_EINTERNAL;
    }
}

static int is_aggregate(const hg_gl_shape_t *sh)
{
    return sh->type == HG_GL_STRUCTURE || sh->type == HG_GL_LIST || sh->type == HG_GL_MAP;
}

static unsigned count_kinds(const hg_gl_shape_t *sh, size_t n)
{
    unsigned kinds = 0;
    if ((sh->flags & HG_GL_HAS_MIN) && (int64_t)n < sh->min)
        kinds |= K_LEN_MIN;
    if ((sh->flags & HG_GL_HAS_MAX) && (int64_t)n > sh->max)
        kinds |= K_LEN_MAX;
    return kinds;
}

/* Each set bit of kinds as its own violation of sh by v at the current path. */
static void add_each(vctx_t *c, const hg_gl_shape_t *sh, json_t *v, unsigned kinds)
{
    for (unsigned b = 0; b < K_COUNT; b++)
        if (kinds & (1u << b))
            add_viol(c, sh, v, 1u << b, WRAP_NONE);
}

static int check_value(vctx_t *c, const hg_gl_shape_t *sh, json_t *v);

static int check_structure(vctx_t *c, const hg_gl_shape_t *sh, json_t *v)
{
    if (!json_is_object(v))
        return type_error(c, type_word(sh->type));
    for (size_t i = 0; i < sh->nmembers; i++) {
        const hg_gl_member_t *m = &sh->members[i];
        json_t *mv = json_object_get(v, m->name);
        if (mv == NULL || json_is_null(mv)) {
            if (m->required) {
                push(c, SEG_MEMBER, m, NULL, 0);
                add_viol(c, m->shape, NULL, K_NULL, WRAP_NONE);
                pop(c);
            }
            continue;
        }
        push(c, SEG_MEMBER, m, NULL, 0);
        int rc = check_value(c, m->shape, mv);
        pop(c);
        if (rc != HG_OK)
            return rc;
    }
    return HG_OK;
}

static int check_list(vctx_t *c, const hg_gl_shape_t *sh, json_t *v)
{
    if (!json_is_array(v))
        return type_error(c, type_word(sh->type));
    size_t n = json_array_size(v);
    add_each(c, sh, v, count_kinds(sh, n));
    const hg_gl_shape_t *el = sh->elem;
    int scalar = !is_aggregate(el);
    unsigned kinds = 0;
    for (size_t i = 0; i < n && c->budget > 0; i++) {
        json_t *ev = json_array_get(v, i);
        c->budget--;
        push(c, SEG_INDEX, NULL, NULL, i);
        int rc;
        if (scalar) {
            unsigned k = 0;
            rc = check_scalar(c, el, ev, &k);
            kinds |= k;
        } else {
            rc = check_value(c, el, ev);
        }
        pop(c);
        if (rc != HG_OK)
            return rc;
    }
    if (kinds != 0)
        add_viol(c, el, v, kinds, WRAP_LIST);
    return HG_OK;
}

static int check_map(vctx_t *c, const hg_gl_shape_t *sh, json_t *v)
{
    if (!json_is_object(v))
        return type_error(c, type_word(sh->type));
    add_each(c, sh, v, count_kinds(sh, json_object_size(v)));
    const hg_gl_shape_t *val = sh->elem;
    int scalar = !is_aggregate(val);
    unsigned key_kinds = 0, val_kinds = 0;
    for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *ev = json_object_iter_value(it);
        if (c->budget == 0)
            break;
        c->budget--;
        key_kinds |= check_string(sh->key, key, klen);
        push(c, SEG_KEY, NULL, key, klen);
        int rc;
        if (scalar) {
            unsigned k = 0;
            rc = check_scalar(c, val, ev, &k);
            val_kinds |= k;
        } else {
            rc = check_value(c, val, ev);
        }
        pop(c);
        if (rc != HG_OK)
            return rc;
    }
    if (key_kinds != 0)
        add_viol(c, sh->key, v, key_kinds, WRAP_MAP_KEYS);
    if (val_kinds != 0)
        add_viol(c, val, v, val_kinds, WRAP_MAP_VALUES);
    return HG_OK;
}

/* Validate non-null v against sh at the current path. */
static int check_value(vctx_t *c, const hg_gl_shape_t *sh, json_t *v)
{
    if (c->budget == 0)
        return HG_OK; /* hg_gl_validate reports the exhausted budget */
    c->budget--;
    switch (sh->type) {
    case HG_GL_STRUCTURE: return check_structure(c, sh, v);
    case HG_GL_LIST: return check_list(c, sh, v);
    case HG_GL_MAP: return check_map(c, sh, v);
    default: {
        unsigned kinds = 0;
        int rc = check_scalar(c, sh, v, &kinds);
        if (rc == HG_OK)
            add_each(c, sh, v, kinds);
        return rc;
    }
    }
}

/* A string outside the model, for the phrase and value of a NUL found by scan_nul. */
static const hg_gl_shape_t unmodeled = {.name = "String", .type = HG_GL_STRING, .pattern = -1};

/* Every string in v, modeled or not: a NUL is a violation at its path. Recursion is bounded by
 * the parser's nesting limit; the work by the body size. */
static void scan_nul(vctx_t *c, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
            add_viol(c, &unmodeled, v, K_NUL, WRAP_NONE);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++) {
            push(c, SEG_INDEX, NULL, NULL, i);
            scan_nul(c, json_array_get(v, i));
            pop(c);
        }
        break;
    case JSON_OBJECT:
        for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
            push(c, SEG_NAME, NULL, json_object_iter_key(it), json_object_iter_key_len(it));
            scan_nul(c, json_object_iter_value(it));
            pop(c);
        }
        break;
    default: break;
    }
}

int hg_gl_validate(const hg_gl_op_t *op, json_t *input, hg_error_t *err)
{
    vctx_t c;
    c.depth = 0;
    c.nviol = 0;
    c.budget = HG_GL_VALIDATE_MAX_NODES;
    c.err = err;
    if (!json_is_object(input)) {
        if (err != NULL) {
            hg_error_clear(err);
            hg_error_set(err, HG_ESERIALIZATION, "Request body must be a JSON object");
        }
        return HG_ESERIALIZATION;
    }
    int rc = check_value(&c, op->input, input);
    if (rc != HG_OK)
        return rc;
    if (c.budget == 0) {
        if (err != NULL) {
            hg_error_clear(err);
            hg_error_set(err, HG_EINVAL, "Request has too many values to validate (limit %u)",
                         HG_GL_VALIDATE_MAX_NODES);
        }
        return HG_EINVAL;
    }
    if (c.nviol == 0)
        scan_nul(&c, input); /* what the model walk did not visit */
    if (c.nviol > 0)
        return report(&c);
    return HG_OK;
}
