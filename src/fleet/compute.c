/* hangar — computes of ANYWHERE fleets and their auth tokens (design and state tables in
 * fleet.h, records in fleet_int.h).
 *
 * A compute is a host the studio runs, registered under a name unique within its fleet, in one
 * of the fleet's custom locations. Its auth tokens (GetComputeAuthToken) are kept in the
 * compute, oldest first, with their expiry; the Server SDK endpoint checks a token with
 * hg_fleet_token_check(). Tokens are durable so a restart does not log every game server out.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/str.h"
#include "core/vec.h"
#include "fleet/fleet_int.h"

void hg_fl_compute_free(hg_fl_compute_t *c)
{
    hg_free(c->name);
    hg_free(c->arn);
    hg_free(c->ip);
    hg_free(c->dns);
    hg_free(c->cert);
    hg_free(c->location);
    hg_free(c);
}

static void compute_key(const hg_fl_compute_t *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", c->fleet->id, c->name);
}

static void save_compute(const hg_fl_compute_t *c, hg_store_txn_t *txn)
{
    json_t *r = json_pack("{s:s,s:s,s:I,s:I}", "arn", c->arn, "location", c->location, "created_ms",
                          (json_int_t)c->created_ms, "seq", (json_int_t)c->seq);
    if (c->ip)
        json_object_set_new(r, "ip", json_string(c->ip));
    if (c->dns)
        json_object_set_new(r, "dns", json_string(c->dns));
    if (c->cert)
        json_object_set_new(r, "cert", json_string(c->cert));
    char key[256];
    compute_key(c, key, sizeof(key));
    hg_store_put(txn, COLL_COMPUTES, key, r);
    json_decref(r);
}

static int same_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int hg_fl_compute_register(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *name, const char *ip,
                           const char *dns, const char *cert, const char *location,
                           hg_store_txn_t *txn, hg_fl_compute_t **out, hg_error_t *err)
{
    int rc = hg_fl_fleet_check_active(f, err);
    if (rc < 0)
        return rc;
    if (location == NULL || strcmp(location, fl->cfg.region) == 0 ||
        !hg_fl_fleet_has_location(fl, f, location))
        return hg_error_set(
            err, HG_EINVAL,
            "Location %s is not one of fleet %s's custom locations; a compute of an "
            "ANYWHERE fleet registers in one of them",
            location ? location : "(none)", f->id);
    hg_fl_compute_t *c = hg_map_get(&f->computes, name);
    if (c) {
        if (same_opt(c->ip, ip) && same_opt(c->dns, dns) && strcmp(c->location, location) == 0) {
            *out = c; /* a retried registration */
            return 0;
        }
        return hg_error_set(err, HG_ECONFLICT,
                            "Compute %s is already registered in fleet %s with a different address "
                            "or location; deregister it first",
                            name, f->id);
    }
    if (fl->ncomputes >= HG_FL_MAX_COMPUTES)
        return hg_error_set(err, HG_ELIMIT, "at most %d computes", HG_FL_MAX_COMPUTES);
    c = hg_calloc(1, sizeof(*c));
    c->name = hg_strdup(name);
    c->arn = hg_fl_arn(fl, "compute", name);
    c->fleet = f;
    c->ip = hg_fl_strdup_opt(ip);
    c->dns = hg_fl_strdup_opt(dns);
    c->cert = hg_fl_strdup_opt(cert);
    c->location = hg_strdup(location);
    c->created_ms = hg_fl_now(fl);
    c->seq = fl->next_seq++;
    hg_list_init(&c->processes);
    hg_map_set(&f->computes, c->name, c);
    if (fl->sink.compute)
        fl->sink.compute(fl->sink.ud, txn, c, 0);
    hg_list_insert_tail(&f->by_reg, &c->node);
    fl->ncomputes++;
    save_compute(c, txn);
    char msg[400];
    snprintf(msg, sizeof(msg), "Compute %s registered in %s (%s).", c->name, c->location,
             c->ip    ? c->ip
             : c->dns ? c->dns
                      : "no address");
    hg_fl_event_add(fl, f, "GENERIC_EVENT", msg, txn);
    HG_LOG(HG_LOG_INFO, "fleet", "compute registered fleet=%s compute=%s location=%s", f->id,
           c->name, c->location);
    *out = c;
    return 0;
}

hg_fl_compute_t *hg_fl_compute_find(const hg_fl_fleet_t *f, const char *name_or_arn)
{
    const char *name = hg_fl_arn_id(name_or_arn, "compute");
    if (name == NULL)
        return hg_map_get(&f->computes, name_or_arn);
    hg_fl_compute_t *c = hg_map_get(&f->computes, name);
    return c && strcmp(c->arn, name_or_arn) == 0 ? c : NULL;
}

int hg_fl_compute_get(const hg_fl_fleet_t *f, const char *name_or_arn, hg_fl_compute_t **out,
                      hg_error_t *err)
{
    *out = hg_fl_compute_find(f, name_or_arn);
    if (*out == NULL)
        return hg_error_set(err, HG_ENOTFOUND, "Compute %s not found in fleet %s", name_or_arn,
                            f->id);
    return 0;
}

static void drop_token(hg_fl_compute_t *c, size_t i, hg_store_txn_t *txn)
{
    hg_store_del(txn, COLL_TOKENS, c->tokens[i].token);
    OPENSSL_cleanse(&c->tokens[i], sizeof(c->tokens[i]));
    memmove(&c->tokens[i], &c->tokens[i + 1], (c->ntokens - i - 1) * sizeof(c->tokens[0]));
    c->ntokens--;
}

/* Unlink and free c with its records; no event. */
static void compute_remove(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn)
{
    hg_fl_proc_drop_compute(fl, c, txn);
    if (fl->sink.compute)
        fl->sink.compute(fl->sink.ud, txn, c, 1);
    while (c->ntokens)
        drop_token(c, 0, txn);
    char key[256];
    compute_key(c, key, sizeof(key));
    hg_store_del(txn, COLL_COMPUTES, key);
    hg_map_del(&c->fleet->computes, c->name);
    hg_list_remove(&c->node);
    fl->ncomputes--;
    hg_fl_compute_free(c);
}

void hg_fl_compute_deregister(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn)
{
    hg_fl_fleet_t *f = c->fleet;
    char msg[300];
    snprintf(msg, sizeof(msg), "Compute %s deregistered from %s.", c->name, c->location);
    HG_LOG(HG_LOG_INFO, "fleet", "compute deregistered fleet=%s compute=%s", f->id, c->name);
    compute_remove(fl, c, txn);
    hg_fl_event_add(fl, f, "GENERIC_EVENT", msg, txn);
}

void hg_fl_compute_drop_all(hg_fleet_t *fl, hg_fl_fleet_t *f, const char *location,
                            hg_store_txn_t *txn)
{
    hg_list_t *q, *tmp;
    hg_list_foreach_safe (q, tmp, &f->by_reg) {
        hg_fl_compute_t *c = hg_container_of(q, hg_fl_compute_t, node);
        if (location == NULL || strcmp(c->location, location) == 0)
            compute_remove(fl, c, txn);
    }
}

size_t hg_fl_compute_list(const hg_fl_fleet_t *f, const char *location, const char *after,
                          uint64_t after_seq, size_t limit, hg_fl_compute_t **out, int *more)
{
    size_t n = 0;
    *more = 0;
    const hg_list_t *start = f->by_reg.next;
    if (after) {
        /* resume right after the last compute of the previous page when it is still there:
         * O(page) instead of a scan from the start */
        hg_fl_compute_t *last = hg_map_get(&f->computes, after);
        if (last && last->seq == after_seq)
            start = last->node.next;
    }
    for (const hg_list_t *q = start; q != &f->by_reg; q = q->next) {
        hg_fl_compute_t *c = hg_container_of(q, hg_fl_compute_t, node);
        if (c->seq <= after_seq || (location && strcmp(c->location, location) != 0))
            continue;
        if (n == limit) {
            *more = 1;
            break;
        }
        out[n++] = c;
    }
    return n;
}

/* ---- tokens ---- */

static void save_token(const hg_fl_compute_t *c, const hg_fl_token_t *t, hg_store_txn_t *txn)
{
    json_t *r =
        json_pack("{s:s,s:s,s:I,s:I}", "fleet", c->fleet->id, "compute", c->name, "issued_ms",
                  (json_int_t)t->issued_ms, "expires_ms", (json_int_t)t->expires_ms);
    hg_store_put(txn, COLL_TOKENS, t->token, r);
    json_decref(r);
}

int hg_fl_compute_token(hg_fleet_t *fl, hg_fl_compute_t *c, hg_store_txn_t *txn,
                        const hg_fl_token_t **out, hg_error_t *err)
{
    int rc = hg_fl_fleet_check_active(c->fleet, err);
    if (rc < 0)
        return rc;
    int64_t now = hg_fl_now(fl);
    for (size_t i = 0; i < c->ntokens;) {
        if (c->tokens[i].expires_ms <= now)
            drop_token(c, i, txn);
        else
            i++;
    }
    if (c->ntokens && c->tokens[c->ntokens - 1].expires_ms - now >= fl->cfg.token_ttl_ms / 2) {
        *out = &c->tokens[c->ntokens - 1];
        return 0;
    }
    if (c->ntokens == HG_FL_TOKENS_PER_COMPUTE)
        drop_token(c, 0, txn);
    hg_fl_token_t *t = &c->tokens[c->ntokens++];
    unsigned char rnd[HG_FL_TOKEN_CHARS / 2];
    HG_BUG_ON(RAND_bytes(rnd, sizeof(rnd)) != 1);
    hg_hex_encode(rnd, sizeof(rnd), t->token);
    OPENSSL_cleanse(rnd, sizeof(rnd));
    t->issued_ms = now;
    t->expires_ms = now + fl->cfg.token_ttl_ms;
    fl->tokens_issued++;
    save_token(c, t, txn);
    *out = t;
    return 0;
}

int64_t hg_fleet_token_ttl_ms(const hg_fleet_t *fl)
{
    return fl->cfg.token_ttl_ms;
}

void hg_fleet_token_hash(const char *token, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), md);
    hg_hex_encode(md, sizeof(md), out);
}

int hg_fleet_token_check(hg_fleet_t *fl, const char *fleet_id, const char *compute,
                         const char *token, int64_t *expires_ms)
{
    hg_fl_fleet_t *f = hg_fl_fleet_find(fl, fleet_id);
    hg_fl_compute_t *c = f && f->status == HG_FL_ACTIVE ? hg_fl_compute_find(f, compute) : NULL;
    if (c == NULL) {
        fl->token_checks_failed++;
        return HG_ENOTFOUND;
    }
    int64_t now = hg_fl_now(fl);
    size_t len = strlen(token);
    int ok = 0;
    for (size_t i = 0; i < c->ntokens; i++)
        if (len == HG_FL_TOKEN_CHARS && c->tokens[i].expires_ms > now &&
            CRYPTO_memcmp(c->tokens[i].token, token, HG_FL_TOKEN_CHARS) == 0) {
            ok = 1;
            if (expires_ms)
                *expires_ms = c->tokens[i].expires_ms;
        }
    if (!ok) {
        fl->token_checks_failed++;
        return HG_EUNAUTHORIZED;
    }
    return 0;
}

/* ---- load ---- */

typedef struct compute_load {
    hg_fleet_t *fl;
    hg_vec_t v;
} compute_load_t;

static int load_compute(void *ud, const char *key, json_t *v)
{
    compute_load_t *cl = ud;
    const char *slash = strchr(key, '/');
    if (slash == NULL)
        return 0;
    char fleet_id[128];
    if ((size_t)(slash - key) >= sizeof(fleet_id))
        return 0;
    memcpy(fleet_id, key, (size_t)(slash - key));
    fleet_id[slash - key] = '\0';
    hg_fl_fleet_t *f = hg_map_get(&cl->fl->fleets, fleet_id);
    if (f == NULL || f->status != HG_FL_ACTIVE) {
        HG_LOG(HG_LOG_WARN, "fleet", "compute %s belongs to no active fleet; ignored", key);
        return 0;
    }
    hg_fl_compute_t *c = hg_calloc(1, sizeof(*c));
    c->name = hg_strdup(slash + 1);
    c->fleet = f;
    const char *arn = json_string_value(json_object_get(v, "arn"));
    c->arn = arn ? hg_strdup(arn) : hg_fl_arn(cl->fl, "compute", c->name);
    c->ip = hg_fl_strdup_opt(json_string_value(json_object_get(v, "ip")));
    c->dns = hg_fl_strdup_opt(json_string_value(json_object_get(v, "dns")));
    c->cert = hg_fl_strdup_opt(json_string_value(json_object_get(v, "cert")));
    const char *loc = json_string_value(json_object_get(v, "location"));
    c->location = hg_strdup(loc ? loc : "");
    c->created_ms = (int64_t)json_integer_value(json_object_get(v, "created_ms"));
    c->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
    hg_list_init(&c->processes);
    hg_vec_push(&cl->v, c);
    return 0;
}

typedef struct token_load {
    char fleet[128];
    char compute[160];
    hg_fl_token_t t;
} token_load_t;

static int load_token(void *ud, const char *key, json_t *v)
{
    hg_vec_t *tv = ud;
    const char *fleet = json_string_value(json_object_get(v, "fleet"));
    const char *compute = json_string_value(json_object_get(v, "compute"));
    token_load_t *tl = hg_calloc(1, sizeof(*tl));
    snprintf(tl->fleet, sizeof(tl->fleet), "%s", fleet ? fleet : "");
    snprintf(tl->compute, sizeof(tl->compute), "%s", compute ? compute : "");
    snprintf(tl->t.token, sizeof(tl->t.token), "%s", key);
    tl->t.issued_ms = (int64_t)json_integer_value(json_object_get(v, "issued_ms"));
    tl->t.expires_ms = (int64_t)json_integer_value(json_object_get(v, "expires_ms"));
    hg_vec_push(tv, tl);
    return 0;
}

static int cmp_compute_seq(const void *a, const void *b)
{
    const hg_fl_compute_t *x = *(hg_fl_compute_t *const *)a, *y = *(hg_fl_compute_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_token_issued(const void *a, const void *b)
{
    const token_load_t *x = *(token_load_t *const *)a, *y = *(token_load_t *const *)b;
    return x->t.issued_ms < y->t.issued_ms ? -1 : x->t.issued_ms > y->t.issued_ms;
}

int hg_fl_compute_load(hg_fleet_t *fl)
{
    compute_load_t cl = {.fl = fl};
    int rc = hg_store_load(fl->store, COLL_COMPUTES, load_compute, &cl);
    if (cl.v.n)
        qsort(cl.v.all, cl.v.n, sizeof(*cl.v.all), cmp_compute_seq);
    for (size_t i = 0; i < cl.v.n; i++) {
        hg_fl_compute_t *c = cl.v.all[i];
        if (rc < 0) {
            hg_fl_compute_free(c);
            continue;
        }
        hg_map_set(&c->fleet->computes, c->name, c);
        hg_list_insert_tail(&c->fleet->by_reg, &c->node);
        fl->ncomputes++;
        if (fl->sink.compute)
            fl->sink.compute(fl->sink.ud, NULL, c, 0);
        if (c->seq >= fl->next_seq)
            fl->next_seq = c->seq + 1;
    }
    hg_free(cl.v.all);
    if (rc < 0)
        return rc;

    /* tokens: expired ones, and ones whose compute is gone, are deleted now */
    hg_vec_t tv = {0};
    rc = hg_store_load(fl->store, COLL_TOKENS, load_token, &tv);
    if (tv.n)
        qsort(tv.all, tv.n, sizeof(*tv.all), cmp_token_issued);
    hg_store_txn_t *cleanup = hg_store_txn_new(fl->store);
    int64_t now = hg_fl_now(fl);
    for (size_t i = 0; i < tv.n; i++) {
        token_load_t *tl = tv.all[i];
        hg_fl_fleet_t *f = hg_map_get(&fl->fleets, tl->fleet);
        hg_fl_compute_t *c = f ? hg_map_get(&f->computes, tl->compute) : NULL;
        if (rc == 0 && c && tl->t.expires_ms > now && strlen(tl->t.token) == HG_FL_TOKEN_CHARS) {
            if (c->ntokens == HG_FL_TOKENS_PER_COMPUTE)
                drop_token(c, 0, cleanup);
            c->tokens[c->ntokens++] = tl->t;
        } else if (rc == 0) {
            hg_store_del(cleanup, COLL_TOKENS, tl->t.token);
        }
        OPENSSL_cleanse(tl, sizeof(*tl));
        hg_free(tl);
    }
    hg_free(tv.all);
    if (hg_store_txn_empty(cleanup))
        hg_store_txn_free(cleanup);
    else
        hg_store_commit(cleanup, NULL, NULL);
    return rc;
}
