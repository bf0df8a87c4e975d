/* hangar — room scripts' versions (scripts.h). */
#include "rooms/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"
#include "core/str.h"

#define SCRIPTS_COLL "scripts"

typedef struct version {
    uint32_t v;
    int64_t created_ms;
    char *source;
    size_t len;
    hg_script_t *compiled; /* NULL until a room needs it */
    unsigned grants;       /* HG_SCRIPT_GRANT_* given at deploy */
} version_t;

typedef struct script {
    char name[HG_SCRIPT_NAME_MAX + 1];
    uint32_t current;
    version_t vers[HG_SCRIPT_VERSIONS_KEPT]; /* oldest first */
    size_t nvers;
} script_t;

struct hg_scripts {
    hg_store_t *store;
    hg_clock_t *clock;
    hg_map_t byname; /* name → script_t */
};

hg_scripts_t *hg_scripts_new(hg_store_t *store, hg_clock_t *clock)
{
    hg_scripts_t *s = hg_calloc(1, sizeof(*s));
    s->store = store;
    s->clock = clock;
    hg_map_init(&s->byname);
    return s;
}

static void version_clear(version_t *v)
{
    hg_free(v->source);
    if (v->compiled)
        hg_script_unref(v->compiled);
    memset(v, 0, sizeof(*v));
}

void hg_scripts_free(hg_scripts_t *s)
{
    if (s == NULL)
        return;
    size_t it = 0;
    void *val;
    while (hg_map_next(&s->byname, &it, NULL, &val)) {
        script_t *sc = val;
        for (size_t i = 0; i < sc->nvers; i++)
            version_clear(&sc->vers[i]);
        hg_free(sc);
    }
    hg_map_free(&s->byname);
    hg_free(s);
}

static int valid_name(const char *n)
{
    return hg_str_name(n, strlen(n), HG_SCRIPT_NAME_MAX, ".-");
}

static void src_coll(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "scripts.v/%s", name);
}

/* The grants' action names, in their order. */
static json_t *grants_json(unsigned grants)
{
    json_t *a = json_array();
    for (int i = 0; i < HG_SCRIPT_GRANTS_N; i++)
        if (grants & (1u << i))
            json_array_append_new(a, json_string(hg_script_grant_name(1u << i)));
    return a;
}

static unsigned grants_parse(json_t *a)
{
    unsigned g = 0;
    size_t i;
    json_t *e;
    json_array_foreach (a, i, e)
        if (json_is_string(e))
            g |= hg_script_grant_parse(json_string_value(e));
    return g;
}

static void save_script(const script_t *sc, hg_store_txn_t *txn)
{
    json_t *vs = json_array();
    for (size_t i = 0; i < sc->nvers; i++)
        json_array_append_new(
            vs, json_pack("{s:I,s:I,s:I,s:o}", "version", (json_int_t)sc->vers[i].v, "created_ms",
                          (json_int_t)sc->vers[i].created_ms, "bytes", (json_int_t)sc->vers[i].len,
                          "grants", grants_json(sc->vers[i].grants)));
    json_t *o = json_pack("{s:I,s:o}", "current", (json_int_t)sc->current, "versions", vs);
    hg_store_put(txn, SCRIPTS_COLL, sc->name, o);
    json_decref(o);
}

static version_t *find_version(script_t *sc, uint32_t v)
{
    for (size_t i = 0; i < sc->nvers; i++)
        if (sc->vers[i].v == v)
            return &sc->vers[i];
    return NULL;
}

int hg_scripts_deploy(hg_scripts_t *s, const char *name, const char *source, size_t len,
                      unsigned grants, hg_store_txn_t *txn, uint32_t *version, hg_error_t *err)
{
    if (!valid_name(name))
        return hg_error_set(err, HG_EINVAL, "a script name is 1..%d of [A-Za-z0-9_.-]",
                            HG_SCRIPT_NAME_MAX);
    script_t *sc = hg_map_get(&s->byname, name);
    if (sc == NULL && hg_map_count(&s->byname) >= HG_SCRIPTS_MAX)
        return hg_error_set(err, HG_ELIMIT, "at most %d scripts", HG_SCRIPTS_MAX);
    hg_script_t *compiled;
    int rc = hg_script_compile(name, source, len, &compiled, err);
    if (rc < 0)
        return rc;
    hg_script_set_grants(compiled, grants);
    if (sc == NULL) {
        sc = hg_calloc(1, sizeof(*sc));
        snprintf(sc->name, sizeof(sc->name), "%s", name);
        hg_map_set(&s->byname, sc->name, sc);
    }
    uint32_t v = sc->nvers ? sc->vers[sc->nvers - 1].v + 1 : 1;
    char coll[HG_SCRIPT_NAME_MAX + 16], key[16];
    src_coll(name, coll, sizeof(coll));
    if (sc->nvers == HG_SCRIPT_VERSIONS_KEPT) { /* the oldest goes (a live room keeps its ref) */
        snprintf(key, sizeof(key), "%08u", sc->vers[0].v);
        hg_store_del(txn, coll, key);
        version_clear(&sc->vers[0]);
        memmove(&sc->vers[0], &sc->vers[1], (sc->nvers - 1) * sizeof(sc->vers[0]));
        sc->nvers--;
    }
    version_t *nv = &sc->vers[sc->nvers++];
    memset(nv, 0, sizeof(*nv));
    nv->v = v;
    nv->created_ms = hg_clock_now_ms(s->clock);
    nv->source = hg_malloc(len + 1);
    memcpy(nv->source, source, len);
    nv->source[len] = '\0';
    nv->len = len;
    nv->compiled = compiled;
    nv->grants = grants;
    sc->current = v;
    snprintf(key, sizeof(key), "%08u", v);
    json_t *rec = json_pack("{s:s%}", "source", source, len);
    hg_store_put(txn, coll, key, rec);
    json_decref(rec);
    save_script(sc, txn);
    *version = v;
    return 0;
}

int hg_scripts_rollback(hg_scripts_t *s, const char *name, uint32_t version, hg_store_txn_t *txn,
                        hg_error_t *err)
{
    script_t *sc = hg_map_get(&s->byname, name);
    if (sc == NULL || find_version(sc, version) == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no version %u of script %.64s kept", version, name);
    sc->current = version;
    save_script(sc, txn);
    return 0;
}

int hg_scripts_get(hg_scripts_t *s, const char *name, uint32_t version, hg_script_t **out,
                   uint32_t *out_version, hg_error_t *err)
{
    script_t *sc = hg_map_get(&s->byname, name);
    version_t *v = sc ? find_version(sc, version ? version : sc->current) : NULL;
    if (v == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "no script %.64s%s", name,
                            version ? " at that version" : "");
    if (v->compiled == NULL) {
        int rc = hg_script_compile(name, v->source, v->len, &v->compiled, err);
        if (rc < 0)
            return rc;
        hg_script_set_grants(v->compiled, v->grants);
    }
    *out = v->compiled;
    *out_version = v->v;
    return 0;
}

json_t *hg_scripts_json(hg_scripts_t *s, const char *name)
{
    script_t *sc = hg_map_get(&s->byname, name);
    if (sc == NULL)
        return NULL;
    json_t *vs = json_array();
    for (size_t i = 0; i < sc->nvers; i++)
        json_array_append_new(
            vs, json_pack("{s:I,s:f,s:I,s:o}", "version", (json_int_t)sc->vers[i].v, "created",
                          (double)sc->vers[i].created_ms / 1000.0, "bytes",
                          (json_int_t)sc->vers[i].len, "grants", grants_json(sc->vers[i].grants)));
    return json_pack("{s:s,s:I,s:o}", "name", sc->name, "current", (json_int_t)sc->current,
                     "versions", vs);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *hg_scripts_list(hg_scripts_t *s)
{
    size_t n = hg_map_count(&s->byname), k = 0, it = 0;
    const char **names = hg_malloc((n ? n : 1) * sizeof(*names));
    const char *key;
    while (hg_map_next(&s->byname, &it, &key, NULL))
        names[k++] = key;
    qsort(names, k, sizeof(*names), cmp_name);
    json_t *items = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(items, hg_scripts_json(s, names[i]));
    hg_free(names);
    return json_pack("{s:o}", "items", items);
}

/* ---- load ---- */

typedef struct load_src {
    script_t *sc;
} load_src_t;

static int load_source(void *ud, const char *key, json_t *v)
{
    script_t *sc = ((load_src_t *)ud)->sc;
    uint32_t ver = (uint32_t)strtoul(key, NULL, 10);
    version_t *x = find_version(sc, ver);
    const char *src = json_string_value(json_object_get(v, "source"));
    if (x && src && x->source == NULL) {
        x->len = json_string_length(json_object_get(v, "source"));
        x->source = hg_malloc(x->len + 1);
        memcpy(x->source, src, x->len);
        x->source[x->len] = '\0';
    }
    return 0;
}

static int load_script(void *ud, const char *key, json_t *v)
{
    hg_scripts_t *s = ud;
    if (!valid_name(key) || hg_map_get(&s->byname, key))
        return 0;
    script_t *sc = hg_calloc(1, sizeof(*sc));
    snprintf(sc->name, sizeof(sc->name), "%s", key);
    sc->current = (uint32_t)json_integer_value(json_object_get(v, "current"));
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(v, "versions"), i, e) {
        if (sc->nvers == HG_SCRIPT_VERSIONS_KEPT)
            break;
        version_t *x = &sc->vers[sc->nvers++];
        x->v = (uint32_t)json_integer_value(json_object_get(e, "version"));
        x->created_ms = json_integer_value(json_object_get(e, "created_ms"));
        x->grants = grants_parse(json_object_get(e, "grants"));
    }
    hg_map_set(&s->byname, sc->name, sc);
    return 0;
}

int hg_scripts_load(hg_scripts_t *s, hg_error_t *err)
{
    int rc = hg_store_load(s->store, SCRIPTS_COLL, load_script, s);
    size_t it = 0;
    void *val;
    while (rc >= 0 && hg_map_next(&s->byname, &it, NULL, &val)) {
        script_t *sc = val;
        char coll[HG_SCRIPT_NAME_MAX + 16];
        src_coll(sc->name, coll, sizeof(coll));
        load_src_t ls = {sc};
        rc = hg_store_load(s->store, coll, load_source, &ls);
        /* a version whose source is missing cannot run: dropped */
        size_t k = 0;
        for (size_t i = 0; i < sc->nvers; i++)
            if (sc->vers[i].source)
                sc->vers[k++] = sc->vers[i];
        sc->nvers = k;
    }
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load room scripts: %s", hg_strerror(rc));
    HG_LOG(HG_LOG_INFO, "rooms", "loaded scripts=%zu", hg_map_count(&s->byname));
    return 0;
}
