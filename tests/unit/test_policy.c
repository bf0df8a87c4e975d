/* Unit tests: IAM-style policies and key records. */
#include "auth/policy.h"
#include "test.h"

static hg_policy_t *parse(const char *text, int *rc)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ASSERT_NOT_NULL(doc);
    hg_policy_t *p = NULL;
    hg_error_t err;
    hg_error_clear(&err);
    *rc = hg_policy_parse(doc, &p, &err);
    json_decref(doc);
    return p;
}

HG_TEST(glob)
{
    ASSERT_TRUE(hg_glob_match("gamelift:Describe*", "gamelift:DescribeGameServer"));
    ASSERT_TRUE(hg_glob_match("GAMELIFT:describe*", "gamelift:DescribeGameServer"));
    ASSERT_FALSE(hg_glob_match("gamelift:Describe*", "gamelift:ClaimGameServer"));
    ASSERT_TRUE(hg_glob_match("*", "keys:Manage"));
    ASSERT_TRUE(hg_glob_match("gamelift:?laimGameServer", "gamelift:ClaimGameServer"));
    ASSERT_FALSE(hg_glob_match("gamelift:Claim", "gamelift:ClaimGameServer"));
    ASSERT_TRUE(hg_glob_match("*:*Server*", "gamelift:RegisterGameServer"));
}

HG_TEST(allow_list_and_deny_wins)
{
    int rc;
    hg_policy_t *p =
        parse("{\"Version\":\"2012-10-17\",\"Statement\":["
              "{\"Effect\":\"Allow\",\"Action\":[\"gamelift:ClaimGameServer\","
              "\"gamelift:Describe*\"],\"Resource\":\"*\"},"
              "{\"Effect\":\"Deny\",\"Action\":\"gamelift:DescribeGameServerGroup\"}]}",
              &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(hg_policy_allows(p, "gamelift:ClaimGameServer"));
    ASSERT_TRUE(hg_policy_allows(p, "gamelift:DescribeGameServer"));
    ASSERT_FALSE(hg_policy_allows(p, "gamelift:DescribeGameServerGroup"));
    ASSERT_FALSE(hg_policy_allows(p, "gamelift:RegisterGameServer"));
    ASSERT_FALSE(hg_policy_allows(p, "keys:Manage"));
    hg_policy_free(p);
    p = hg_policy_allow_all();
    ASSERT_TRUE(hg_policy_allows(p, "keys:Manage"));
    hg_policy_free(p);
}

HG_TEST(refuses_what_it_cannot_enforce)
{
    int rc;
    const char *bad[] = {
        "[]",
        "{\"Statement\":[]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"gamelift:*\",\"Resource\":\"arn:x\"}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"NotAction\":\"gamelift:*\"}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"gamelift:*\",\"Condition\":{}}]}",
        "{\"Statement\":[{\"Effect\":\"Maybe\",\"Action\":\"gamelift:*\"}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"no-colon\"}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[]}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[1]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hg_policy_t *p = parse(bad[i], &rc);
        if (rc != HG_EINVAL)
            HG_FAIL_("policy %zu accepted: %s", i, bad[i]);
        ASSERT_NULL(p);
    }
    hg_policy_t *p = parse("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"gamelift:*\","
                           "\"Resource\":[\"*\"]}}",
                           &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(hg_policy_allows(p, "gamelift:CreateFleet"));
    hg_policy_free(p);
}

HG_SUITE(policy) = {HG_CASE(glob), HG_CASE(allow_list_and_deny_wins),
                    HG_CASE(refuses_what_it_cannot_enforce), HG_CASE_END};
