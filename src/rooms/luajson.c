/* hangar — JSON text to Lua values and back, with no tree in between (luajson.h).
 *
 * Why not jansson: a room's Lua relay read every message into a jansson tree, turned the tree
 * into Lua tables, and on the way out built a second tree and printed it; per message that was a
 * few dozen malloc/free pairs and two walks more than the work needs. Here the decoder pushes
 * each value as soon as it is scanned, and the writer prints as it walks.
 *
 * Decoder: recursive descent over core/jsonscan's pieces (whitespace, strings, numbers), its
 * recursion bounded by depth_max. A container's members wait on the Lua stack (up to BATCH of
 * them) before its table is made, so a small table is made once at its final size instead of
 * growing through rehashes; members past BATCH are flushed into it BATCH at a time. Object
 * members are set in text order, so a repeated key keeps its last value (as in jansson).
 *
 * Writer: a table is first walked with lua_next to tell an array from an object (as the jansson
 * path did); an object's string keys stay on the Lua stack meanwhile (a table's own strings do not
 * move, so their bytes can be sorted in place and each key pushed again to read its value, which
 * neither allocates nor runs a metamethod). Text goes to a buffer on the C stack, then to Lua
 * userdata grown by doubling (the old one is garbage), held at a stack slot the caller keeps.
 */
#include "rooms/luajson.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"

#define BATCH 16      /* members waiting on the stack before their table is made */
#define SORT_LOCAL 32 /* object members sorted in a C array; more go in Lua userdata */
#define NUM_LOCAL 64  /* a number's text copied for strtod on the C stack; longer in userdata */
#define KEEP_CHUNK 32 /* stack slots reserved at a time for an object's keys */

/* ---- JSON text -> Lua ---- */

typedef struct dec {
    lua_State *L; /* NULL: check only */
    const char *start, *end;
    int depth_max;
    int deep;        /* refused for depth_max (checking only) */
    const char *why; /* the first refusal: what (static text) */
    const char *at;  /* and where */
} dec_t;

static int refuse(dec_t *d, const char *at, const char *why)
{
    if (d->why == NULL) {
        d->why = why;
        d->at = at;
    }
    return -1;
}

static int dec_value(dec_t *d, const char **pp, int depth);

/* A string at *pp (its opening quote); key: "\u0000" is refused (no NUL in object keys). */
static int dec_string(dec_t *d, const char **pp, int key)
{
    const char *p = *pp, *q = p + 1, *end = d->end;
    /* the common case, read in one pass: printable ASCII without escapes */
    while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 && *q != '"' &&
           *q != '\\')
        q++;
    if (q < end && *q == '"') {
        if (d->L != NULL)
            lua_pushlstring(d->L, p + 1, (size_t)(q - p - 1));
        *pp = q + 1;
        return 0;
    }
    unsigned flags = HG_JSON_STR_UTF8 | (key ? 0 : HG_JSON_STR_NUL);
    const char *after = p;
    size_t n;
    if (hg_json_string_ex(&after, end, flags, NULL, 0, &n) < 0) {
        const char *again = p;
        if (key && hg_json_string_ex(&again, end, flags | HG_JSON_STR_NUL, NULL, 0, &n) == 0)
            return refuse(d, p, "an object key holds \\u0000");
        return refuse(d, p,
                      "a string is cut short or holds a control character, a bad escape or bytes "
                      "that are not UTF-8");
    }
    if (d->L != NULL) {
        if (n == (size_t)(after - p - 2)) { /* no escape: the bytes as they are */
            lua_pushlstring(d->L, p + 1, n);
        } else {
            luaL_Buffer b;
            char *out = luaL_buffinitsize(d->L, &b, n + 1);
            const char *again = p;
            hg_json_string_ex(&again, end, flags, out, n + 1, &n);
            luaL_pushresultsize(&b, n);
        }
    }
    *pp = after;
    return 0;
}

/* A number at *pp: a Lua integer when it is written as one and fits, else a float (strtod: the
 * daemon never calls setlocale, so the decimal point is '.'). Out of a double's range: refused,
 * as jansson refuses it. */
static int dec_number(dec_t *d, const char **pp)
{
    const char *p = *pp, *q = p;
    int integer;
    if (hg_json_number(&q, d->end, &integer) < 0)
        return refuse(d, p, "not a JSON value");
    if (integer) {
        const char *s = p + (*p == '-');
        uint64_t u = 0, limit = (uint64_t)LUA_MAXINTEGER + (*p == '-');
        while (s < q && u <= (limit - (uint64_t)(*s - '0')) / 10) {
            u = u * 10 + (uint64_t)(*s - '0');
            s++;
        }
        if (s == q) { /* every digit taken: it fits */
            if (d->L != NULL) {
                lua_Integer v = *p != '-'            ? (lua_Integer)u
                                : u > LUA_MAXINTEGER ? LUA_MININTEGER
                                                     : -(lua_Integer)u;
                lua_pushinteger(d->L, v);
            }
            *pp = q;
            return 0;
        }
    }
    size_t n = (size_t)(q - p);
    char local[NUM_LOCAL];
    char *text = local;
    if (n >= sizeof(local)) {
        if (d->L == NULL) {
            /* checking only: a long number is out of range exactly when its exponent or its
             * integer digits say so; strtod on a copy is the simple way to know */
            text = malloc(n + 1);
            if (text == NULL)
                return refuse(d, p, "out of memory");
        } else {
            text = lua_newuserdatauv(d->L, n + 1, 0); /* popped below */
        }
    }
    memcpy(text, p, n);
    text[n] = '\0';
    double v = strtod(text, NULL);
    if (text != local) {
        if (d->L == NULL)
            free(text);
        else
            lua_pop(d->L, 1);
    }
    if (!isfinite(v))
        return refuse(d, p, "a number is too large for a double");
    if (d->L != NULL)
        lua_pushnumber(d->L, (lua_Number)v);
    *pp = q;
    return 0;
}

/* Set the members waiting above the table (or above base, the table not made yet: made now,
 * sized for them). */
static void flush(lua_State *L, int obj, int base, int *table, int *pending, lua_Integer *n)
{
    if (*table == 0) {
        lua_createtable(L, obj ? 0 : *pending, obj ? *pending : 0);
        lua_insert(L, base + 1);
        *table = base + 1;
    }
    int t = *table;
    if (obj) {
        for (int i = 0; i < *pending; i++) { /* in text order: a repeated key keeps its last */
            lua_pushvalue(L, t + 1 + 2 * i);
            lua_pushvalue(L, t + 2 + 2 * i);
            lua_rawset(L, t);
        }
        lua_settop(L, t);
    } else {
        for (int i = *pending; i > 0; i--)
            lua_rawseti(L, t, *n + i); /* pops the top one, the last */
        *n += *pending;
    }
    *pending = 0;
}

static int dec_container(dec_t *d, const char **pp, int depth)
{
    lua_State *L = d->L;
    const char *p = *pp;
    int obj = *p == '{';
    char close = obj ? '}' : ']';
    if (depth >= d->depth_max) {
        if (L != NULL)
            luaL_error(L, "data is nested deeper than %d", d->depth_max);
        d->deep = 1;
        return refuse(d, p, "nested too deep");
    }
    int base = 0, table = 0, pending = 0;
    lua_Integer n = 0;
    if (L != NULL) {
        luaL_checkstack(L, 2 * BATCH + 8, "data");
        base = lua_gettop(L);
    }
    p = hg_json_ws(p + 1, d->end);
    if (p < d->end && *p == close) {
        if (L != NULL)
            lua_createtable(L, 0, 0);
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (obj) {
            if (p >= d->end || *p != '"')
                return refuse(d, p, "an object key must be a string");
            if (dec_string(d, &p, 1) < 0)
                return -1;
            p = hg_json_ws(p, d->end);
            if (p >= d->end || *p != ':')
                return refuse(d, p, "':' must follow an object key");
            p++;
        }
        if (dec_value(d, &p, depth + 1) < 0)
            return -1;
        if (L != NULL && ++pending == BATCH)
            flush(L, obj, base, &table, &pending, &n);
        p = hg_json_ws(p, d->end);
        if (p < d->end && *p == ',') {
            p = hg_json_ws(p + 1, d->end);
            continue;
        }
        if (p < d->end && *p == close)
            break;
        return refuse(
            d, p, obj ? "',' or '}' must follow a member" : "',' or ']' must follow an element");
    }
    if (L != NULL && (pending > 0 || table == 0))
        flush(L, obj, base, &table, &pending, &n);
    *pp = p + 1;
    return 0;
}

static int dec_literal(dec_t *d, const char **pp, const char *word, size_t n)
{
    if ((size_t)(d->end - *pp) < n || memcmp(*pp, word, n) != 0)
        return refuse(d, *pp, "not a JSON value");
    *pp += n;
    return 0;
}

static int dec_value(dec_t *d, const char **pp, int depth)
{
    lua_State *L = d->L;
    const char *p = hg_json_ws(*pp, d->end);
    int rc;
    if (p >= d->end)
        return refuse(d, p, "a value is missing");
    switch (*p) {
    case '{':
    case '[': rc = dec_container(d, &p, depth); break;
    case '"': rc = dec_string(d, &p, 0); break;
    case 't':
        if ((rc = dec_literal(d, &p, "true", 4)) == 0 && L != NULL)
            lua_pushboolean(L, 1);
        break;
    case 'f':
        if ((rc = dec_literal(d, &p, "false", 5)) == 0 && L != NULL)
            lua_pushboolean(L, 0);
        break;
    case 'n':
        if ((rc = dec_literal(d, &p, "null", 4)) == 0 && L != NULL)
            lua_pushlightuserdata(L, NULL); /* room.null */
        break;
    default: rc = dec_number(d, &p); break;
    }
    if (rc == 0)
        *pp = p;
    return rc;
}

int hg_luajson_decode(lua_State *L, const char *text, size_t len, int depth_max, char *why,
                      size_t cap)
{
    dec_t d = {.L = L, .start = text, .end = text + len};
    d.depth_max = depth_max < HG_LUAJSON_DEPTH_MAX ? depth_max : HG_LUAJSON_DEPTH_MAX;
    int top = L != NULL ? lua_gettop(L) : 0;
    const char *p = text;
    if (dec_value(&d, &p, 0) == 0) {
        if (hg_json_ws(p, d.end) == d.end)
            return 0;
        refuse(&d, hg_json_ws(p, d.end), "more text follows the value");
    }
    if (L != NULL)
        lua_settop(L, top);
    if (d.deep)
        snprintf(why, cap, "is nested deeper than %d", d.depth_max);
    else
        snprintf(why, cap, "is not valid JSON: %s at byte %zu", d.why, (size_t)(d.at - d.start));
    return -1;
}

/* ---- Lua -> JSON text ---- */

typedef struct wr {
    lua_State *L;
    hg_luajson_buf_t *b;
    const void *path[HG_LUAJSON_DEPTH_MAX]; /* the tables we are in: a cycle comes back to one */
    int depth, depth_max;
    size_t values, values_max;
    char *why;
    size_t cap;
} wr_t;

static int wr_fail(wr_t *w, const char *fmt, const char *arg)
{
    if (w->why[0] == '\0')
        snprintf(w->why, w->cap, fmt, arg);
    return -1;
}

/* Room for extra more bytes and the final NUL; may raise (memory). */
static void reserve(wr_t *w, size_t extra)
{
    hg_luajson_buf_t *b = w->b;
    if (b->cap - b->len > extra)
        return;
    if (extra > SIZE_MAX / 4 - b->len)
        luaL_error(w->L, "data: the JSON text is too long");
    size_t cap = b->cap;
    while (cap - b->len <= extra)
        cap *= 2;
    char *text = lua_newuserdatauv(w->L, cap, 0);
    memcpy(text, b->text, b->len);
    lua_replace(w->L, b->slot); /* the old storage is garbage now */
    b->text = text;
    b->cap = cap;
}

static void put(wr_t *w, const char *s, size_t n)
{
    reserve(w, n);
    memcpy(w->b->text + w->b->len, s, n);
    w->b->len += n;
}

static void put_char(wr_t *w, char c)
{
    reserve(w, 1);
    w->b->text[w->b->len++] = c;
}

static int put_string(wr_t *w, const char *s, size_t n, const char *not_utf8)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!hg_json_utf8(s, n))
        return wr_fail(w, "%s", not_utf8);
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    reserve(w, n + 2);
    put_char(w, '"');
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        put(w, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t elen = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            elen = 6;
            break;
        }
        put(w, esc, elen);
        p++;
    }
    put_char(w, '"');
    return 0;
}

static void put_integer(wr_t *w, lua_Integer v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--i] = '-';
    put(w, tmp + i, sizeof(tmp) - i);
}

/* A finite double as jansson 2.14 writes it (jsonp_dtostr, precision 17). */
static void put_real(wr_t *w, double v)
{
    char buf[40];
    int len = snprintf(buf, sizeof(buf), "%.17g", v);
    size_t n = len < 0 ? 0 : (size_t)len;
    if (memchr(buf, '.', n) == NULL && memchr(buf, 'e', n) == NULL) {
        buf[n++] = '.'; /* would read back as an integer */
        buf[n++] = '0';
    }
    char *e = memchr(buf, 'e', n);
    if (e != NULL) { /* "1e+21" -> "1e21", "1e-07" -> "1e-7" */
        char *from = e + 2, *to = e + 1;
        if (*to == '-')
            to++;
        while (*from == '0' && from < buf + n - 1)
            from++;
        memmove(to, from, (size_t)(buf + n - from));
        n -= (size_t)(from - to);
    }
    put(w, buf, n);
}

static int put_value(wr_t *w, int idx);

/* Byte order, then length: jansson's JSON_SORT_KEYS order. */
typedef struct member {
    const char *k;
    size_t n;
    int slot; /* where the key waits on the stack */
} member_t;

static int cmp_member(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int c = memcmp(x->k, y->k, x->n < y->n ? x->n : y->n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

static int put_table(wr_t *w, int idx)
{
    lua_State *L = w->L;
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < w->depth; i++)
        if (w->path[i] == self)
            return wr_fail(w, "%s", "a table contains itself (a cycle)");
    if (w->depth >= w->depth_max) {
        char m[64];
        snprintf(m, sizeof(m), "tables are nested deeper than %d", w->depth_max);
        return wr_fail(w, "%s", m);
    }
    if (!lua_checkstack(L, KEEP_CHUNK + 4))
        return wr_fail(w, "%s", "out of Lua stack");

    /* Which kind: keys 1..n exactly (an array), or only string keys (an object, its keys kept
     * on the stack above base + 1, the slot for the member array's storage). */
    int base = lua_gettop(L);
    lua_pushnil(L);
    lua_Integer n = 0, maxk = 0;
    size_t strings = 0;
    int other = LUA_TNIL, rc = -1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1); /* the value: read again below */
        int kt = lua_type(L, -1);
        if (kt == LUA_TSTRING) {
            if (w->values + ++strings > w->values_max) {
                char m[64];
                snprintf(m, sizeof(m), "more than %zu values", w->values_max);
                wr_fail(w, "%s", m);
                goto out;
            }
            if (strings % KEEP_CHUNK == 0 && !lua_checkstack(L, KEEP_CHUNK + 4)) {
                wr_fail(w, "%s", "out of Lua stack");
                goto out;
            }
            lua_pushvalue(L, -1); /* the key stays; its copy goes on with lua_next */
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            n++;
            if (lua_tointeger(L, -1) > maxk)
                maxk = lua_tointeger(L, -1);
        } else if (other == LUA_TNIL) {
            other = kt;
        }
    }
    if (other != LUA_TNIL) {
        wr_fail(w, "a table has a %s key (JSON objects have string keys, arrays 1..n)",
                other == LUA_TNUMBER ? "non-positive or fractional number"
                                     : lua_typename(L, other));
        goto out;
    }
    if (strings > 0 && n > 0) {
        wr_fail(w, "%s", "a table mixes string keys and array indices");
        goto out;
    }
    if (n != maxk) {
        wr_fail(w, "%s", "an array has holes (its keys are not exactly 1..n)");
        goto out;
    }

    w->path[w->depth++] = self;
    if (n > 0) {
        put_char(w, '[');
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                put_char(w, ',');
            lua_rawgeti(L, idx, i);
            int vrc = put_value(w, -1);
            lua_pop(L, 1);
            if (vrc < 0)
                goto out;
        }
        put_char(w, ']');
    } else {
        member_t local[SORT_LOCAL], *m = local;
        if (strings > SORT_LOCAL) {
            m = lua_newuserdatauv(L, strings * sizeof(*m), 0);
            lua_replace(L, base + 1);
        }
        for (size_t i = 0; i < strings; i++) {
            m[i].slot = base + 2 + (int)i;
            m[i].k = lua_tolstring(L, m[i].slot, &m[i].n); /* a string: converts nothing */
        }
        if (strings > 1)
            qsort(m, strings, sizeof(*m), cmp_member);
        put_char(w, '{');
        for (size_t i = 0; i < strings; i++) {
            if (i > 0)
                put_char(w, ',');
            if (put_string(w, m[i].k, m[i].n, "a key is not valid UTF-8") < 0)
                goto out;
            put_char(w, ':');
            lua_pushvalue(L, m[i].slot);
            lua_rawget(L, idx);
            int vrc = put_value(w, -1);
            lua_pop(L, 1);
            if (vrc < 0)
                goto out;
        }
        put_char(w, '}');
    }
    w->depth--;
    rc = 0;
out:
    lua_settop(L, base);
    return rc;
}

static int put_value(wr_t *w, int idx)
{
    lua_State *L = w->L;
    idx = lua_absindex(L, idx);
    if (++w->values > w->values_max) {
        char m[64];
        snprintf(m, sizeof(m), "more than %zu values", w->values_max);
        return wr_fail(w, "%s", m);
    }
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: put(w, "null", 4); return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put(w, "true", 4);
        else
            put(w, "false", 5);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            put_integer(w, lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d))
                return wr_fail(w, "%s", "NaN and infinities have no JSON form");
            put_real(w, d);
        }
        return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return put_string(w, s, n, "a string is not valid UTF-8");
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            put(w, "null", 4); /* room.null */
            return 0;
        }
        return wr_fail(w, "a %s has no JSON form", "userdata");
    case LUA_TTABLE: return put_table(w, idx);
    default: return wr_fail(w, "a %s has no JSON form", lua_typename(L, lua_type(L, idx)));
    }
}

int hg_luajson_write(lua_State *L, int idx, hg_luajson_buf_t *b, int depth_max, size_t values_max,
                     size_t *values, char *why, size_t cap)
{
    idx = lua_absindex(L, idx);
    b->text = b->local;
    b->len = 0;
    b->cap = sizeof(b->local);
    luaL_checkstack(L, 1, "data");
    lua_pushnil(L); /* the storage's slot, once it outgrows local */
    b->slot = lua_gettop(L);
    wr_t w = {.L = L, .b = b, .values_max = values_max, .why = why, .cap = cap};
    w.depth_max = depth_max < HG_LUAJSON_DEPTH_MAX ? depth_max : HG_LUAJSON_DEPTH_MAX;
    if (cap > 0)
        why[0] = '\0';
    int rc = put_value(&w, idx);
    *values = w.values;
    if (rc == 0)
        b->text[b->len] = '\0'; /* reserve always leaves room for it */
    return rc;
}
