/* hangar — IAM-style permission policies for access keys.
 *
 * A policy is the IAM JSON document users already know:
 *
 *     {"Version": "2012-10-17",
 *      "Statement": [{"Effect": "Allow", "Action": ["gamelift:ClaimGameServer",
 *                                                   "gamelift:Describe*"], "Resource": "*"},
 *                    {"Effect": "Deny", "Action": "gamelift:Delete*", "Resource": "*"}]}
 *
 * Actions are "<service>:<Operation>" (gamelift:ClaimGameServer, keys:Manage, and later
 * registry:Announce, …) matched case-insensitively with `*` and `?` wildcards. An explicit
 * Deny beats any Allow; no matching Allow means denied. Resource must be "*" (or absent):
 * resource-level scoping is not enforced yet, so a policy that asks for it is refused rather
 * than silently granting more. Condition, NotAction and NotResource are refused for the same
 * reason. Limits: 20 statements, 100 actions per statement, 128 bytes per action.
 */
#ifndef HG_AUTH_POLICY_H
#define HG_AUTH_POLICY_H

#include <jansson.h>

#include "core/err.h"

typedef struct hg_policy hg_policy_t;

#define HG_POLICY_MAX_STATEMENTS 20
#define HG_POLICY_MAX_ACTIONS 100
#define HG_POLICY_MAX_ACTION_LEN 128

/* Compile a policy document (borrowed). Returns 0 and a new policy (release with
 * hg_policy_free()), or HG_EINVAL with err explaining what is wrong. */
int hg_policy_parse(json_t *doc, hg_policy_t **out, hg_error_t *err);
/* A policy that allows every action. */
hg_policy_t *hg_policy_allow_all(void);
void hg_policy_free(hg_policy_t *p);
/* 1 when `action` (e.g. "gamelift:ClaimGameServer") is allowed. */
int hg_policy_allows(const hg_policy_t *p, const char *action);
/* Returns a new reference to the policy's document as given. */
json_t *hg_policy_document(const hg_policy_t *p);
/* Case-insensitive glob match with '*' and '?'. */
int hg_glob_match(const char *pattern, const char *s);

#endif
