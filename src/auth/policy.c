/* hangar — IAM-style permission policies (see policy.h). */
#include "auth/policy.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

typedef struct statement {
    int allow;
    char **actions;
    size_t nactions;
} statement_t;

struct hg_policy {
    statement_t *st;
    size_t nst;
    json_t *doc;
};

int hg_glob_match(const char *p, const char *s)
{
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '?' || (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
            p++;
            s++;
        } else if (*p == '*') {
            star = p++;
            ss = s;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

void hg_policy_free(hg_policy_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nst; i++) {
        for (size_t j = 0; j < p->st[i].nactions; j++)
            hg_free(p->st[i].actions[j]);
        hg_free(p->st[i].actions);
    }
    hg_free(p->st);
    json_decref(p->doc);
    hg_free(p);
}

hg_policy_t *hg_policy_allow_all(void)
{
    hg_policy_t *p = NULL;
    json_t *doc = json_pack("{s:s,s:[{s:s,s:s,s:s}]}", "Version", "2012-10-17", "Statement",
                            "Effect", "Allow", "Action", "*", "Resource", "*");
    hg_policy_parse(doc, &p, NULL);
    json_decref(doc);
    return p;
}

static int valid_action(const char *a)
{
    if (strcmp(a, "*") == 0)
        return 1;
    const char *colon = strchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return 0;
    for (const char *c = a; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == ':' || *c == '*' || *c == '?' || *c == '-' ||
              *c == '_'))
            return 0;
    return 1;
}

static int add_action(statement_t *st, json_t *v, hg_error_t *err)
{
    if (!json_is_string(v))
        return hg_error_set(err, HG_EINVAL, "policy: Action must be a string or list of strings");
    const char *a = json_string_value(v);
    if (strlen(a) > HG_POLICY_MAX_ACTION_LEN || !valid_action(a))
        return hg_error_set(err, HG_EINVAL,
                            "policy: invalid action '%.64s' (want service:Operation, wildcards "
                            "* and ?, at most %d bytes)",
                            a, HG_POLICY_MAX_ACTION_LEN);
    if (st->nactions == HG_POLICY_MAX_ACTIONS)
        return hg_error_set(err, HG_EINVAL, "policy: more than %d actions in a statement",
                            HG_POLICY_MAX_ACTIONS);
    st->actions[st->nactions++] = hg_strdup(a);
    return 0;
}

static int parse_statement(json_t *js, statement_t *st, hg_error_t *err)
{
    if (!json_is_object(js))
        return hg_error_set(err, HG_EINVAL, "policy: each Statement must be an object");
    const char *k;
    json_t *v;
    json_object_foreach (js, k, v) {
        if (strcmp(k, "Effect") && strcmp(k, "Action") && strcmp(k, "Resource") && strcmp(k, "Sid"))
            return hg_error_set(err, HG_EINVAL,
                                "policy: %s is not supported (use Effect, Action, Resource \"*\")",
                                k);
    }
    const char *effect = json_string_value(json_object_get(js, "Effect"));
    if (effect == NULL || (strcmp(effect, "Allow") && strcmp(effect, "Deny")))
        return hg_error_set(err, HG_EINVAL, "policy: Effect must be \"Allow\" or \"Deny\"");
    st->allow = strcmp(effect, "Allow") == 0;
    json_t *res = json_object_get(js, "Resource");
    if (res) {
        int ok = json_is_string(res) && strcmp(json_string_value(res), "*") == 0;
        if (json_is_array(res) && json_array_size(res) == 1 &&
            json_is_string(json_array_get(res, 0)) &&
            strcmp(json_string_value(json_array_get(res, 0)), "*") == 0)
            ok = 1;
        if (!ok)
            return hg_error_set(err, HG_EINVAL,
                                "policy: Resource must be \"*\" (resource-level permissions are "
                                "not supported yet)");
    }
    json_t *act = json_object_get(js, "Action");
    if (act == NULL)
        return hg_error_set(err, HG_EINVAL, "policy: a Statement needs an Action");
    st->actions = hg_calloc(HG_POLICY_MAX_ACTIONS, sizeof(char *));
    if (json_is_array(act)) {
        if (json_array_size(act) == 0)
            return hg_error_set(err, HG_EINVAL, "policy: Action list is empty");
        size_t i;
        json_t *a;
        json_array_foreach (act, i, a) {
            int rc = add_action(st, a, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return add_action(st, act, err);
}

int hg_policy_parse(json_t *doc, hg_policy_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_policy_t *p = hg_calloc(1, sizeof(*p));
    if (!json_is_object(doc)) {
        rc = hg_error_set(err, HG_EINVAL, "policy must be a JSON object");
        goto out;
    }
    json_t *sts = json_object_get(doc, "Statement");
    if (json_is_object(sts)) {
        json_t *arr = json_array();
        json_array_append(arr, sts);
        sts = arr;
    } else if (json_is_array(sts)) {
        json_incref(sts);
    } else {
        rc = hg_error_set(err, HG_EINVAL, "policy: Statement must be an object or a list");
        goto out;
    }
    size_t n = json_array_size(sts);
    if (n == 0 || n > HG_POLICY_MAX_STATEMENTS) {
        json_decref(sts);
        rc = hg_error_set(err, HG_EINVAL, "policy: 1 to %d statements", HG_POLICY_MAX_STATEMENTS);
        goto out;
    }
    p->st = hg_calloc(n, sizeof(*p->st));
    for (size_t i = 0; i < n; i++) {
        p->nst++;
        rc = parse_statement(json_array_get(sts, i), &p->st[i], err);
        if (rc < 0)
            break;
    }
    json_decref(sts);
    if (rc < 0)
        goto out;
    p->doc = json_incref(doc);
    *out = p;
    p = NULL;
out:
    hg_policy_free(p);
    return rc;
}

int hg_policy_allows(const hg_policy_t *p, const char *action)
{
    int allowed = 0;
    for (size_t i = 0; i < p->nst; i++) {
        for (size_t j = 0; j < p->st[i].nactions; j++) {
            if (hg_glob_match(p->st[i].actions[j], action)) {
                if (!p->st[i].allow)
                    return 0;
                allowed = 1;
            }
        }
    }
    return allowed;
}

json_t *hg_policy_document(const hg_policy_t *p)
{
    return json_incref(p->doc);
}
