/* Unit tests: the generated GameLift operation table and request validation. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "api/gamelift/model.h"
#include "api/gamelift/validate.h"
#include "core/err.h"
#include "test.h"

static const hg_gl_op_t *op(const char *name)
{
    const hg_gl_op_t *o = hg_gl_op_find(name, strlen(name));
    if (o == NULL)
        HG_FAIL_("operation %s not found", name);
    return o;
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    if (j == NULL)
        HG_FAIL_("bad test JSON: %s", je.text);
    return j;
}

/* Validate text against operation name; returns the rc and leaves the error in *err. */
static int run(const char *name, const char *text, hg_error_t *err)
{
    json_t *j = parse(text);
    hg_error_clear(err);
    int rc = hg_gl_validate(op(name), j, err);
    json_decref(j);
    return rc;
}

static const char GOOD_REGISTER[] =
    "{\"GameServerGroupName\":\"group-1\",\"GameServerId\":\"gs-1\","
    "\"InstanceId\":\"i-0123456789abcdef0\",\"ConnectionInfo\":\"10.0.0.1:7777\","
    "\"GameServerData\":\"{\\\"map\\\":\\\"de_dust\\\"}\"}";

HG_TEST(all_ops_found)
{
    ASSERT_EQ_INT(hg_gl_op_count(), 104);
    for (size_t i = 0; i < hg_gl_op_count(); i++) {
        const hg_gl_op_t *o = hg_gl_op_at(i);
        const char *name = hg_gl_op_name(o);
        ASSERT_TRUE(hg_gl_op_find(name, strlen(name)) == o);
        ASSERT_NOT_NULL(hg_gl_op_input(o));
        ASSERT_EQ_INT(hg_gl_op_input(o)->type, HG_GL_STRUCTURE);
        if (i > 0)
            ASSERT_TRUE(strcmp(hg_gl_op_name(hg_gl_op_at(i - 1)), name) < 0);
    }
    ASSERT_NULL(hg_gl_op_at(hg_gl_op_count()));
    /* Counted lookup: the name need not be NUL-terminated. */
    const char *target = "ClaimGameServerXYZ";
    ASSERT_STR_EQ(hg_gl_op_name(hg_gl_op_find(target, 15)), "ClaimGameServer");
    const hg_gl_op_t *claim = op("ClaimGameServer");
    ASSERT_STR_EQ(hg_gl_op_output(claim), "ClaimGameServerOutput");
    ASSERT_TRUE(hg_gl_op_has_error(claim, "OutOfCapacityException"));
    ASSERT_FALSE(hg_gl_op_has_error(claim, "GameSessionFullException"));
    size_t n = 0;
    ASSERT_NOT_NULL(hg_gl_op_errors(claim, &n));
    ASSERT_TRUE(n >= 4);
    ASSERT_FALSE(hg_gl_op_is_paginated(claim));
    ASSERT_TRUE(hg_gl_op_is_paginated(op("ListGameServers")));
    ASSERT_TRUE(hg_gl_op_is_paginated(op("DescribeGameSessions")));
}

HG_TEST(unknown_op)
{
    ASSERT_NULL(hg_gl_op_find("NoSuchOperation", 15));
    ASSERT_NULL(hg_gl_op_find("ClaimGameServe", 14));
    ASSERT_NULL(hg_gl_op_find("ClaimGameServerX", 16));
    ASSERT_NULL(hg_gl_op_find("", 0));
    ASSERT_NULL(hg_gl_op_find("claimgameserver", 15));
}

HG_TEST(valid_register)
{
    hg_error_t err;
    ASSERT_OK(run("RegisterGameServer", GOOD_REGISTER, &err));
    ASSERT_OK(run("ClaimGameServer", "{\"GameServerGroupName\":\"group-1\"}", &err));
    /* ARN form of GameServerGroupNameOrArn; unknown members are ignored. */
    ASSERT_OK(run("ClaimGameServer",
                  "{\"GameServerGroupName\":\"arn:aws:gamelift:us-east-1:123:gameservergroup/g\","
                  "\"Whatever\":[1,2,{}]}",
                  &err));
    /* JSON null is absent. */
    ASSERT_OK(
        run("ClaimGameServer", "{\"GameServerGroupName\":\"g\",\"GameServerId\":null}", &err));
}

HG_TEST(missing_required)
{
    hg_error_t err;
    ASSERT_EQ_INT(run("RegisterGameServer",
                      "{\"GameServerGroupName\":\"g\",\"InstanceId\":\"i-0123456789abcdef0\"}",
                      &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(err.code, HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value null at 'gameServerId' failed to "
                           "satisfy constraint: Member must not be null");
    ASSERT_STR_EQ(err.field, "GameServerId");
    ASSERT_STR_EQ(hg_err_gamelift_type(err.code), "InvalidRequestException");
}

HG_TEST(too_long)
{
    char id[130];
    memset(id, 'a', 129);
    id[129] = '\0';
    char body[512], want[512];
    snprintf(body, sizeof(body),
             "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"%s\","
             "\"InstanceId\":\"i-0123456789abcdef0\"}",
             id);
    snprintf(want, sizeof(want),
             "1 validation error detected: Value '%s' at 'gameServerId' failed to satisfy "
             "constraint: Member must have length less than or equal to 128",
             id);
    hg_error_t err;
    ASSERT_EQ_INT(run("RegisterGameServer", body, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.msg, want);
    ASSERT_STR_EQ(err.field, "GameServerId");
    /* 128 is fine; so are 128 two-byte characters (lengths are code points, not bytes). */
    id[128] = '\0';
    snprintf(body, sizeof(body),
             "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"%s\","
             "\"InstanceId\":\"i-0123456789abcdef0\"}",
             id);
    ASSERT_OK(run("RegisterGameServer", body, &err));
    char data[2200] = "{\"GameServerGroupName\":\"g\",\"GameServerData\":\"";
    for (int i = 0; i < 1024; i++)
        strcat(data, i % 2 ? "\xc3\xa9" : "x"); /* é */
    strcat(data, "\"}");
    ASSERT_OK(run("ClaimGameServer", data, &err));
}

HG_TEST(too_short_and_pattern)
{
    /* Two constraints of one member fail: both are reported, in one message. */
    hg_error_t err;
    ASSERT_EQ_INT(
        run("ClaimGameServer", "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"a_\"}", &err),
        HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "2 validation errors detected: Value 'a_' at 'gameServerId' failed to satisfy "
                  "constraint: Member must have length greater than or equal to 3; Value 'a_' at "
                  "'gameServerId' failed to satisfy constraint: Member must satisfy regular "
                  "expression pattern: [a-zA-Z0-9-\\.]+");
}

HG_TEST(bad_enum)
{
    hg_error_t err;
    ASSERT_EQ_INT(run("UpdateGameServer",
                      "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"gs-1\","
                      "\"UtilizationStatus\":\"BUSY\"}",
                      &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value 'BUSY' at 'utilizationStatus' "
                           "failed to satisfy constraint: Member must satisfy enum value set: "
                           "[AVAILABLE, UTILIZED]");
    ASSERT_STR_EQ(err.field, "UtilizationStatus");
    ASSERT_OK(run("UpdateGameServer",
                  "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"gs-1\","
                  "\"UtilizationStatus\":\"UTILIZED\",\"HealthCheck\":\"HEALTHY\"}",
                  &err));
    /* Enums are case-sensitive and exact (no prefix match, no embedded NUL). */
    ASSERT_EQ_INT(run("UpdateGameServer",
                      "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"gs-1\","
                      "\"UtilizationStatus\":\"utilized\"}",
                      &err),
                  HG_EINVAL);
    ASSERT_EQ_INT(run("UpdateGameServer",
                      "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"gs-1\","
                      "\"UtilizationStatus\":\"UTILIZED\\u0000\"}",
                      &err),
                  HG_EINVAL);
}

HG_TEST(bad_pattern)
{
    hg_error_t err;
    ASSERT_EQ_INT(run("RegisterGameServer",
                      "{\"GameServerGroupName\":\"g\",\"GameServerId\":\"gs-1\","
                      "\"InstanceId\":\"i-0123456789abcdef_\"}",
                      &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value 'i-0123456789abcdef_' at "
                           "'instanceId' failed to satisfy constraint: Member must satisfy "
                           "regular expression pattern: ^i-[0-9a-zA-Z]{17}$");
    ASSERT_STR_EQ(err.field, "InstanceId");
    /* Unanchored model patterns are whole-string matches: a valid prefix is not enough. */
    ASSERT_EQ_INT(run("ClaimGameServer", "{\"GameServerGroupName\":\"good name\"}", &err),
                  HG_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "regular expression pattern") != NULL);
    /* An alternation is anchored as a whole, not only its first branch. */
    ASSERT_EQ_INT(run("DescribeFleetEvents", "{\"FleetId\":\"xfleet-1\"}", &err), HG_EINVAL);
    ASSERT_OK(run("DescribeFleetEvents", "{\"FleetId\":\"fleet-1\"}", &err));
    ASSERT_OK(run("DescribeFleetEvents",
                  "{\"FleetId\":\"arn:aws:gamelift:us-east-1::fleet/fleet-1\"}", &err));
}

HG_TEST(wrong_type)
{
    hg_error_t err;
    ASSERT_EQ_INT(
        run("ClaimGameServer", "{\"GameServerGroupName\":\"g\",\"GameServerId\":42}", &err),
        HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for GameServerId must be a string");
    ASSERT_STR_EQ(err.field, "GameServerId");
    ASSERT_STR_EQ(hg_err_gamelift_type(err.code), "SerializationException");
    /* A real where an integer is modeled. */
    ASSERT_EQ_INT(run("DescribeFleetEvents", "{\"FleetId\":\"fleet-1\",\"Limit\":1.5}", &err),
                  HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for Limit must be an integer");
    /* 2^31 does not fit a 32-bit integer member. */
    ASSERT_EQ_INT(
        run("DescribeFleetEvents", "{\"FleetId\":\"fleet-1\",\"Limit\":2147483648}", &err),
        HG_ESERIALIZATION);
    /* A string timestamp is a type error (numbers only). */
    ASSERT_EQ_INT(run("DescribeFleetEvents",
                      "{\"FleetId\":\"fleet-1\",\"StartTime\":\"2024-01-01T00:00:00Z\"}", &err),
                  HG_ESERIALIZATION);
    /* The body must be an object. */
    json_t *arr = json_array();
    hg_error_clear(&err);
    ASSERT_EQ_INT(hg_gl_validate(op("ClaimGameServer"), arr, &err), HG_ESERIALIZATION);
    json_decref(arr);
    /* A type error wins over constraint violations found earlier in the walk. */
    ASSERT_EQ_INT(
        run("RegisterGameServer", "{\"GameServerGroupName\":\"\",\"GameServerId\":[\"x\"]}", &err),
        HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for GameServerId must be a string");
}

HG_TEST(nested)
{
    static const char *base =
        "{\"GameServerGroupName\":\"g\",\"RoleArn\":\"arn:aws:iam::1:role/r\",\"MinSize\":0,"
        "\"MaxSize\":2,\"LaunchTemplate\":{\"LaunchTemplateName\":\"my-template\"},"
        "\"InstanceDefinitions\":%s}";
    char body[512];
    hg_error_t err;

    snprintf(body, sizeof(body), base,
             "[{\"InstanceType\":\"c5.large\"},{\"InstanceType\":\"c5.xlarge\","
             "\"WeightedCapacity\":\"2\"}]");
    ASSERT_OK(run("CreateGameServerGroup", body, &err));

    /* One element: the list's min of 2. */
    snprintf(body, sizeof(body), base, "[{\"InstanceType\":\"c5.large\"}]");
    ASSERT_EQ_INT(run("CreateGameServerGroup", body, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value '[{InstanceType=c5.large}]' at "
                           "'instanceDefinitions' failed to satisfy constraint: Member must have "
                           "length greater than or equal to 2");
    ASSERT_STR_EQ(err.field, "InstanceDefinitions");

    /* A bad enum inside the second element. */
    snprintf(body, sizeof(body), base,
             "[{\"InstanceType\":\"c5.large\"},{\"InstanceType\":\"c5.huge\"}]");
    ASSERT_EQ_INT(run("CreateGameServerGroup", body, &err), HG_EINVAL);
    const char *want = "1 validation error detected: Value 'c5.huge' at "
                       "'instanceDefinitions.2.member.instanceType' failed to satisfy constraint: "
                       "Member must satisfy enum value set: [";
    ASSERT_TRUE(strncmp(err.msg, want, strlen(want)) == 0);
    ASSERT_STR_EQ(err.field, "InstanceDefinitions[1].InstanceType");

    /* Missing required member inside an element; a bad \u-range weighted capacity. */
    snprintf(body, sizeof(body), base,
             "[{},{\"InstanceType\":\"c5.large\",\"WeightedCapacity\":\"0\"}]");
    ASSERT_EQ_INT(run("CreateGameServerGroup", body, &err), HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "2 validation errors detected: Value null at "
                  "'instanceDefinitions.1.member.instanceType' failed to satisfy constraint: "
                  "Member must not be null; Value '0' at "
                  "'instanceDefinitions.2.member.weightedCapacity' failed to satisfy constraint: "
                  "Member must satisfy regular expression pattern: "
                  "^[\\u0031-\\u0039][\\u0030-\\u0039]{0,2}$");

    /* A wrong type deep inside names the full wire path. */
    snprintf(body, sizeof(body), base, "[{\"InstanceType\":\"c5.large\"},{\"InstanceType\":5}]");
    ASSERT_EQ_INT(run("CreateGameServerGroup", body, &err), HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for InstanceDefinitions[1].InstanceType must be a string");
    ASSERT_STR_EQ(err.field, "InstanceDefinitions[1].InstanceType");
}

HG_TEST(scalar_lists_and_maps)
{
    hg_error_t err;
    /* GameServerInstanceIds: 1..20 of GameServerInstanceId (19 chars, i-...). */
    ASSERT_EQ_INT(run("DescribeGameServerInstances",
                      "{\"GameServerGroupName\":\"g\",\"InstanceIds\":[\"i-0123456789abcdef0\","
                      "\"bad\"]}",
                      &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "1 validation error detected: Value '[i-0123456789abcdef0, bad]' at "
                  "'instanceIds' failed to satisfy constraint: Member must satisfy constraint: "
                  "[Member must have length greater than or equal to 19, Member must satisfy "
                  "regular expression pattern: ^i-[0-9a-zA-Z]{17}$]");
    ASSERT_EQ_INT(run("DescribeGameServerInstances",
                      "{\"GameServerGroupName\":\"g\",\"InstanceIds\":[7]}", &err),
                  HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for InstanceIds[0] must be a string");
    /* PlayerLatency.LatencyInMilliseconds is a float. */
    const char *place = "{\"PlacementId\":\"p1\",\"GameSessionQueueName\":\"q\","
                        "\"MaximumPlayerSessionCount\":4,\"PlayerLatencies\":[{\"PlayerId\":\"a\","
                        "\"RegionIdentifier\":\"us-east-1\",\"LatencyInMilliseconds\":%s}]}";
    char body[512];
    snprintf(body, sizeof(body), place, "12.5");
    ASSERT_OK(run("StartGameSessionPlacement", body, &err));
    snprintf(body, sizeof(body), place, "12");
    ASSERT_OK(run("StartGameSessionPlacement", body, &err)); /* an integer is a valid float */
    snprintf(body, sizeof(body), place, "\"12\"");
    ASSERT_EQ_INT(run("StartGameSessionPlacement", body, &err), HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.field, "PlayerLatencies[0].LatencyInMilliseconds");
    /* Maps: LatencyMap (NonEmptyString keys -> PositiveInteger values) and PlayerAttributeMap
     * (NonZeroAndMaxString keys -> AttributeValue structures). */
    ASSERT_OK(run("StartMatchmaking",
                  "{\"ConfigurationName\":\"c\",\"Players\":[{\"PlayerId\":\"p\","
                  "\"LatencyInMs\":{\"us-east-1\":20},\"PlayerAttributes\":{\"skill\":{\"N\":12.5},"
                  "\"modes\":{\"SL\":[\"ctf\"]},\"w\":{\"SDM\":{\"a\":1}}}}]}",
                  &err));
    ASSERT_EQ_INT(
        run("StartMatchmaking",
            "{\"ConfigurationName\":\"c\",\"Players\":[{\"PlayerId\":\"p\","
            "\"LatencyInMs\":{\"\":20,\"eu\":0},\"PlayerAttributes\":{\"skill\":{\"S\":\"\"}}}]}",
            &err),
        HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "3 validation errors detected: Value '' at "
                  "'players.1.member.playerAttributes.skill.s' failed to satisfy constraint: "
                  "Member must have length greater than or equal to 1; Value '{=20, eu=0}' at "
                  "'players.1.member.latencyInMs' failed to satisfy constraint: Map keys must "
                  "satisfy constraint: [Member must have length greater than or equal to 1]; "
                  "Value '{=20, eu=0}' at 'players.1.member.latencyInMs' failed to satisfy "
                  "constraint: Map values must satisfy constraint: [Member must have value "
                  "greater than or equal to 1]");
    ASSERT_EQ_INT(run("StartMatchmaking",
                      "{\"ConfigurationName\":\"c\",\"Players\":[{\"PlayerId\":\"p\","
                      "\"PlayerAttributes\":{\"skill\":{\"N\":\"12\"}}}]}",
                      &err),
                  HG_ESERIALIZATION);
    ASSERT_STR_EQ(err.msg, "Value for Players[0].PlayerAttributes[skill].N must be a number");
    /* Integer range: Limit >= 1. */
    ASSERT_EQ_INT(run("DescribeFleetEvents", "{\"FleetId\":\"fleet-1\",\"Limit\":0}", &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                           "constraint: Member must have value greater than or equal to 1");
}

/* \u0000 is valid JSON, but no string that passes validation may hold a NUL: handlers read members
 * as C strings. The whole string is checked (json_string_length), and the message shows the NUL. */
HG_TEST(nul_in_strings)
{
    hg_error_t err;
    /* A member with a pattern fails it... */
    ASSERT_EQ_INT(run("CreateLocation", "{\"LocationName\":\"custom-a\\u0000b\"}", &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "1 validation error detected: Value 'custom-a\\u0000b' at 'locationName' "
                  "failed to satisfy constraint: Member must satisfy regular expression "
                  "pattern: ^custom-[A-Za-z0-9\\-]+");
    ASSERT_STR_EQ(err.field, "LocationName");
    ASSERT_STR_EQ(hg_err_gamelift_type(err.code), "InvalidRequestException");
    /* ...even a pattern the NUL would match (.*\S.*: NUL is not a blank). */
    ASSERT_EQ_INT(run("ClaimGameServer",
                      "{\"GameServerGroupName\":\"g\",\"GameServerData\":\"a\\u0000b\"}", &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value 'a\\u0000b' at 'gameServerData' "
                           "failed to satisfy constraint: Member must satisfy regular expression "
                           "pattern: .*\\S.*");
    ASSERT_STR_EQ(err.field, "GameServerData");
    /* A member without a pattern (NonZeroAndMaxString): hangard's own constraint. A NUL at the
     * start or the end is seen too. */
    static const char *const names[] = {"\\u0000echo", "echo\\u0000", "\\u0000"};
    static const char *const shown[] = {"\\u0000echo", "echo\\u0000", "\\u0000"};
    for (size_t i = 0; i < 3; i++) {
        char body[128], want[256];
        snprintf(body, sizeof(body), "{\"Name\":\"%s\"}", names[i]);
        snprintf(want, sizeof(want),
                 "1 validation error detected: Value '%s' at 'name' failed to satisfy "
                 "constraint: Member must not contain the character U+0000",
                 shown[i]);
        ASSERT_EQ_INT(run("CreateFleet", body, &err), HG_EINVAL);
        ASSERT_STR_EQ(err.msg, want);
        ASSERT_STR_EQ(err.field, "Name");
    }
    ASSERT_OK(run("CreateFleet", "{\"Name\":\"echo\"}", &err));
    /* A scalar list element. */
    ASSERT_EQ_INT(run("CreateFleet", "{\"Name\":\"echo\",\"LogPaths\":[\"a\",\"b\\u0000\"]}", &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "1 validation error detected: Value '[a, b\\u0000]' at 'logPaths' failed "
                  "to satisfy constraint: Member must satisfy constraint: [Member must not "
                  "contain the character U+0000]");
    ASSERT_STR_EQ(err.field, "LogPaths");
    /* Members the model does not know (FilterOption is newer than Debian's botocore, and
     * ClaimGameServer's handler reads it) are refused too, once the modeled ones are clean. */
    ASSERT_EQ_INT(run("ClaimGameServer",
                      "{\"GameServerGroupName\":\"g\",\"FilterOption\":{\"InstanceStatuses\":"
                      "[\"ACTIVE\",\"ACT\\u0000IVE\"]}}",
                      &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.msg, "1 validation error detected: Value 'ACT\\u0000IVE' at "
                           "'filterOption.instanceStatuses.2.member' failed to satisfy constraint: "
                           "Member must not contain the character U+0000");
    ASSERT_STR_EQ(err.field, "FilterOption.InstanceStatuses[1]");
    ASSERT_EQ_INT(run("ClaimGameServer", "{\"GameServerGroupName\":\"g\",\"x\":\"\\u0000\"}", &err),
                  HG_EINVAL);
    ASSERT_STR_EQ(err.field, "x");
    ASSERT_OK(run("ClaimGameServer",
                  "{\"GameServerGroupName\":\"g\",\"FilterOption\":{\"InstanceStatuses\":"
                  "[\"ACTIVE\"]},\"Whatever\":[\"ok\",{\"k\":\"v\"}]}",
                  &err));
    /* A modeled violation is reported alone: the second pass runs only on a clean body. */
    ASSERT_EQ_INT(
        run("ClaimGameServer", "{\"GameServerGroupName\":\"g\\u0000\",\"x\":\"\\u0000\"}", &err),
        HG_EINVAL);
    ASSERT_TRUE(strncmp(err.msg, "1 validation error detected: ", 29) == 0);
    ASSERT_STR_EQ(err.field, "GameServerGroupName");
}

HG_TEST(multiple_errors)
{
    hg_error_t err;
    ASSERT_EQ_INT(run("RegisterGameServer", "{\"GameServerId\":\"x\"}", &err), HG_EINVAL);
    ASSERT_STR_EQ(err.msg,
                  "3 validation errors detected: Value null at 'gameServerGroupName' failed to "
                  "satisfy constraint: Member must not be null; Value 'x' at 'gameServerId' "
                  "failed to satisfy constraint: Member must have length greater than or equal "
                  "to 3; Value null at 'instanceId' failed to satisfy constraint: Member must not "
                  "be null");
    ASSERT_STR_EQ(err.field, "GameServerGroupName");

    /* Many violations: the count is the total, at most 10 are spelled out, and the message is
     * cut to the buffer without splitting a UTF-8 sequence. */
    char body[4096] = "{\"PlacementId\":\"p1\",\"GameSessionQueueName\":\"q\","
                      "\"MaximumPlayerSessionCount\":4,\"PlayerLatencies\":[";
    for (int i = 0; i < 30; i++)
        strcat(body, i ? ",{\"LatencyInMilliseconds\":1}" : "{\"LatencyInMilliseconds\":1}");
    strcat(body, "],\"GameSessionName\":\"");
    for (int i = 0; i < 1100; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}");
    /* PlayerLatency has no required members, so only GameSessionName (max 1024) fails... */
    ASSERT_EQ_INT(run("StartGameSessionPlacement", body, &err), HG_EINVAL);
    ASSERT_TRUE(strncmp(err.msg, "1 validation error detected: Value '\xc3\xa9", 32) == 0);
    size_t len = strlen(err.msg);
    ASSERT_TRUE(len <= HG_ERROR_MSG_MAX - 1);
    ASSERT_TRUE(len >= HG_ERROR_MSG_MAX - 4);
    /* Valid UTF-8 to the end: ends on a complete é. */
    ASSERT_TRUE(memcmp(err.msg + len - 2, "\xc3\xa9", 2) == 0);

    /* ...while 30 list elements each missing their 4 required members count 120. */
    strcpy(body, "{\"FleetId\":\"fleet-1\",\"InboundPermissionAuthorizations\":[");
    for (int i = 0; i < 30; i++)
        strcat(body, i ? ",{}" : "{}");
    strcat(body, "]}");
    ASSERT_EQ_INT(run("UpdateFleetPortSettings", body, &err), HG_EINVAL);
    const char *want = "120 validation errors detected: Value null at "
                       "'inboundPermissionAuthorizations.1.member.fromPort' failed to satisfy "
                       "constraint: Member must not be null; Value null at "
                       "'inboundPermissionAuthorizations.1.member.toPort' failed";
    ASSERT_TRUE(strncmp(err.msg, want, strlen(want)) == 0);
    ASSERT_STR_EQ(err.field, "InboundPermissionAuthorizations[0].FromPort");
}

HG_TEST(patterns_compile)
{
    ASSERT_EQ_INT(hg_gl_pattern_count, 51);
    size_t bad = (size_t)-1;
    int rc = hg_gl_validate_warm(&bad);
    if (rc != 0)
        HG_FAIL_("pattern %zu does not compile: %s", bad, hg_gl_patterns[bad].pcre);
    for (size_t i = 0; i < hg_gl_pattern_count; i++)
        ASSERT_TRUE(strstr(hg_gl_patterns[i].pcre, "\\u") == NULL);
    ASSERT_EQ_INT(hg_gl_pattern_match(hg_gl_pattern_count, "x", 1), HG_EINVAL);
    hg_gl_validate_fini();
    hg_gl_validate_fini(); /* idempotent; validation recompiles lazily afterwards */
    hg_error_t err;
    ASSERT_OK(run("RegisterGameServer", GOOD_REGISTER, &err));
    hg_gl_validate_fini();
}

static size_t find_pattern(const char *model)
{
    for (size_t i = 0; i < hg_gl_pattern_count; i++)
        if (strcmp(hg_gl_patterns[i].model, model) == 0)
            return i;
    HG_FAIL_("no pattern %s", model);
}

HG_TEST(non_bmp)
{
    size_t p =
        find_pattern("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]+");
    ASSERT_STR_EQ(hg_gl_patterns[p].pcre,
                  "[\\x{0020}-\\x{D7FF}\\x{E000}-\\x{FFFD}\\x{10000}-\\x{10FFFF}\\r\\n\\t]+");
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "\xf0\x9f\x8e\xae", 4), 1);  /* U+1F3AE */
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "v1 \xe2\x82\xac\t", 7), 1); /* U+20AC */
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "\xf4\x8f\xbf\xbf", 4), 1);  /* U+10FFFF */
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "a\x01", 2), 0);             /* control char */
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "\xef\xbf\xbf", 3), 0);      /* U+FFFF */
    ASSERT_EQ_INT(hg_gl_pattern_match(p, "\xed\xa0\x80", 3), 0);      /* invalid UTF-8 */
    /* Through the validator: LaunchTemplate.Version uses this pattern. */
    hg_error_t err;
    ASSERT_OK(run("UpdateGameServerGroup",
                  "{\"GameServerGroupName\":\"g\",\"InstanceDefinitions\":["
                  "{\"InstanceType\":\"c5.large\"},{\"InstanceType\":\"c5.xlarge\"}]}",
                  &err));
    ASSERT_OK(
        run("CreateGameServerGroup",
            "{\"GameServerGroupName\":\"g\",\"RoleArn\":\"arn:aws:iam::1:role/r\","
            "\"MinSize\":0,\"MaxSize\":2,\"LaunchTemplate\":{\"LaunchTemplateId\":"
            "\"lt-\xf0\x9f\x8e\xae\",\"Version\":\"\\ud83c\\udfae\"},\"InstanceDefinitions\":["
            "{\"InstanceType\":\"c5.large\"},{\"InstanceType\":\"c5.xlarge\"}]}",
            &err));
    /* The \u0031-\u0039 digits translation. */
    size_t w = find_pattern("^[\\u0031-\\u0039][\\u0030-\\u0039]{0,2}$");
    ASSERT_EQ_INT(hg_gl_pattern_match(w, "100", 3), 1);
    ASSERT_EQ_INT(hg_gl_pattern_match(w, "010", 3), 0);
    hg_gl_validate_fini();
}

HG_TEST(timestamp_float)
{
    hg_error_t err;
    ASSERT_OK(run("DescribeFleetEvents",
                  "{\"FleetId\":\"fleet-1\",\"StartTime\":1704164645.678,\"EndTime\":1704164645}",
                  &err));
}

/* Not a pass/fail test: prints what validation of hot-path bodies costs. */
HG_TEST(timing)
{
    json_t *reg = parse(GOOD_REGISTER);
    json_t *claim = parse("{\"GameServerGroupName\":\"group-1\",\"GameServerId\":\"gs-1\","
                          "\"GameServerData\":\"x\"}");
    const hg_gl_op_t *opr = op("RegisterGameServer"), *opc = op("ClaimGameServer");
    hg_error_t err;
    ASSERT_OK(hg_gl_validate(opr, reg, &err)); /* compile patterns outside the timing */
    ASSERT_OK(hg_gl_validate(opc, claim, &err));
    enum { N = 20000 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(hg_gl_validate(opr, reg, &err));
        ASSERT_OK(hg_gl_validate(opc, claim, &err));
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (2.0 * N);
    printf("  validate: %.0f ns per Register/Claim body\n", ns);
    json_decref(reg);
    json_decref(claim);
    hg_gl_validate_fini();
}

HG_SUITE(validate) = {
    HG_CASE(all_ops_found),
    HG_CASE(unknown_op),
    HG_CASE(valid_register),
    HG_CASE(missing_required),
    HG_CASE(too_long),
    HG_CASE(too_short_and_pattern),
    HG_CASE(bad_enum),
    HG_CASE(bad_pattern),
    HG_CASE(wrong_type),
    HG_CASE(nested),
    HG_CASE(scalar_lists_and_maps),
    HG_CASE(nul_in_strings),
    HG_CASE(multiple_errors),
    HG_CASE(patterns_compile),
    HG_CASE(non_bmp),
    HG_CASE(timestamp_float),
    HG_CASE(timing),
    HG_CASE_END,
};
