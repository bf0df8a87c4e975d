/* hangar — GameLift FleetIQ operations: wire ⇄ fleetiq domain.
 *
 * Input is already validated against the model (types, required members, lengths, enums,
 * patterns). These handlers apply the cross-field rules the model cannot express, call the
 * domain, and render the output shapes (GameServerGroup, GameServer, GameServerInstance).
 */
#include <stdio.h>
#include <string.h>

#include "api/gamelift/gamelift.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "fleetiq/fleetiq.h"

/* Members of CreateGameServerGroup kept as the group's opaque metadata. */
static const char *const group_attrs[] = {"RoleArn",
                                          "MinSize",
                                          "MaxSize",
                                          "LaunchTemplate",
                                          "InstanceDefinitions",
                                          "AutoScalingPolicy",
                                          "BalancingStrategy",
                                          "GameServerProtectionPolicy",
                                          "VpcSubnets",
                                          "Tags",
                                          NULL};

static json_t *render_group(hg_fleetiq_t *fq, const hg_fq_group_t *g)
{
    const hg_fq_config_t *cfg = hg_fleetiq_config(fq);
    json_t *o = json_object();
    json_object_set_new(o, "GameServerGroupName", json_string(g->name));
    json_object_set_new(o, "GameServerGroupArn", json_string(g->arn));
    static const char *const echoed[] = {"RoleArn", "InstanceDefinitions", "BalancingStrategy",
                                         "GameServerProtectionPolicy", NULL};
    for (const char *const *k = echoed; *k; k++) {
        json_t *v = json_object_get(g->attrs, *k);
        if (v)
            json_object_set(o, *k, v);
    }
    char asg[700];
    snprintf(asg, sizeof(asg),
             "arn:aws:autoscaling:%s:%s:autoScalingGroup:hangar:autoScalingGroupName/"
             "gamelift-gameservergroup-%s",
             cfg->region, cfg->account, g->name);
    json_object_set_new(o, "AutoScalingGroupArn", json_string(asg));
    json_object_set_new(o, "Status", json_string(hg_fq_group_status_name(g->status)));
    if (g->status == HG_FQ_DELETE_SCHEDULED)
        json_object_set_new(o, "StatusReason",
                            json_string(g->delete_option == HG_FQ_FORCE_DELETE
                                            ? "Deletion requested (FORCE_DELETE)"
                                            : "Deletion requested; waiting until no game server "
                                              "is UTILIZED"));
    if (g->suspended)
        json_object_set_new(o, "SuspendedActions", json_pack("[s]", "REPLACE_INSTANCE_TYPES"));
    json_object_set_new(o, "CreationTime", hg_gl_time(g->created_ms));
    json_object_set_new(o, "LastUpdatedTime", hg_gl_time(g->updated_ms));
    return o;
}

/* A GameServer object written straight to text: game-server answers are the FleetIQ hot
 * path (register, update, claim, describe, list), so no jansson tree and no printf. */
static void write_server_obj(hg_buf_t *b, hg_fleetiq_t *fq, const hg_fq_server_t *s)
{
    hg_buf_reserve(b, 512);
    hg_buf_puts(b, "{\"GameServerGroupName\":");
    hg_jsonw_str(b, s->group->name);
    hg_buf_puts(b, ",\"GameServerGroupArn\":");
    hg_jsonw_str(b, s->group->arn);
    hg_buf_puts(b, ",\"GameServerId\":");
    hg_jsonw_str(b, s->id);
    hg_buf_puts(b, ",\"InstanceId\":");
    hg_jsonw_str(b, s->instance_id);
    if (s->conn_info) {
        hg_buf_puts(b, ",\"ConnectionInfo\":");
        hg_jsonw_str(b, s->conn_info);
    }
    if (s->data) {
        hg_buf_puts(b, ",\"GameServerData\":");
        hg_jsonw_str(b, s->data);
    }
    if (hg_fq_server_claimed(fq, s))
        hg_buf_puts(b, ",\"ClaimStatus\":\"CLAIMED\"");
    hg_buf_puts(b, s->utilized ? ",\"UtilizationStatus\":\"UTILIZED\""
                               : ",\"UtilizationStatus\":\"AVAILABLE\"");
    hg_buf_puts(b, ",\"RegistrationTime\":");
    hg_jsonw_time_ms(b, s->registered_ms);
    if (s->claim_ms) {
        hg_buf_puts(b, ",\"LastClaimTime\":");
        hg_jsonw_time_ms(b, s->claim_ms);
    }
    hg_buf_puts(b, ",\"LastHealthCheckTime\":");
    hg_jsonw_time_ms(b, s->health_ms);
    hg_buf_puts(b, "}");
}

/* {"GameServer": {...}} */
static void write_server(hg_buf_t *b, hg_fleetiq_t *fq, const hg_fq_server_t *s)
{
    hg_buf_puts(b, "{\"GameServer\":");
    write_server_obj(b, fq, s);
    hg_buf_puts(b, "}");
}

static int get_group(hg_gl_call_t *c, hg_fq_group_t **g)
{
    return hg_fq_group_get(c->api->fleetiq, hg_gl_str(c->in, "GameServerGroupName"), g, &c->err);
}

/* ---- groups ---- */

static int create_group(hg_gl_call_t *c)
{
    json_t *in = c->in;
    json_t *lt = json_object_get(in, "LaunchTemplate");
    int has_id = json_object_get(lt, "LaunchTemplateId") != NULL;
    int has_name = json_object_get(lt, "LaunchTemplateName") != NULL;
    if (has_id == has_name)
        return hg_error_set(&c->err, HG_EINVAL,
                            "LaunchTemplate needs exactly one of LaunchTemplateId and "
                            "LaunchTemplateName");
    int min = hg_gl_int(in, "MinSize", 0), max = hg_gl_int(in, "MaxSize", 1);
    if (min > max)
        return hg_error_set(&c->err, HG_EINVAL, "MinSize (%d) must not exceed MaxSize (%d)", min,
                            max);
    json_t *defs = json_object_get(in, "InstanceDefinitions");
    for (size_t i = 0; i < json_array_size(defs); i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(hg_gl_str(json_array_get(defs, i), "InstanceType"),
                       hg_gl_str(json_array_get(defs, j), "InstanceType")) == 0)
                return hg_error_set(&c->err, HG_EINVAL,
                                    "InstanceDefinitions must name distinct instance types");
    json_t *attrs = json_object();
    for (const char *const *k = group_attrs; *k; k++) {
        json_t *v = json_object_get(in, *k);
        if (v)
            json_object_set(attrs, *k, v);
    }
    if (!json_object_get(attrs, "BalancingStrategy"))
        json_object_set_new(attrs, "BalancingStrategy", json_string("SPOT_PREFERRED"));
    if (!json_object_get(attrs, "GameServerProtectionPolicy"))
        json_object_set_new(attrs, "GameServerProtectionPolicy", json_string("NO_PROTECTION"));
    hg_fq_group_t *g;
    int rc = hg_fq_group_create(c->api->fleetiq, hg_gl_str(in, "GameServerGroupName"), attrs,
                                c->txn, &g, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("GameServerGroup", render_group(c->api->fleetiq, g));
    return 0;
}

static int describe_group(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("GameServerGroup", render_group(c->api->fleetiq, g));
    return 0;
}

static int list_groups(hg_gl_call_t *c)
{
    const char *after;
    int rc = hg_gl_token_decode(c->in, "g", &after, &c->err);
    if (rc < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FQ_MAX_PAGE);
    hg_fq_group_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fq_group_list(c->api->fleetiq, after, limit, page, &more);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_group(c->api->fleetiq, page[i]));
    c->out = hg_gl_wrap("GameServerGroups", arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_token("g", page[n - 1]->name));
    hg_free(page);
    return 0;
}

static int update_group(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    static const char *const updatable[] = {
        "RoleArn", "InstanceDefinitions", "GameServerProtectionPolicy", "BalancingStrategy", NULL};
    json_t *defs = json_object_get(c->in, "InstanceDefinitions");
    for (size_t i = 0; i < json_array_size(defs); i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(hg_gl_str(json_array_get(defs, i), "InstanceType"),
                       hg_gl_str(json_array_get(defs, j), "InstanceType")) == 0)
                return hg_error_set(&c->err, HG_EINVAL,
                                    "InstanceDefinitions must name distinct instance types");
    for (const char *const *k = updatable; *k; k++) {
        json_t *v = json_object_get(c->in, *k);
        if (v)
            json_object_set(g->attrs, *k, v);
    }
    hg_fq_group_save(c->api->fleetiq, g, c->txn);
    c->out = hg_gl_wrap("GameServerGroup", render_group(c->api->fleetiq, g));
    return 0;
}

static int delete_group(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    const char *opt = hg_gl_str(c->in, "DeleteOption");
    hg_fq_delete_t d = HG_FQ_SAFE_DELETE;
    if (opt && strcmp(opt, "FORCE_DELETE") == 0)
        d = HG_FQ_FORCE_DELETE;
    else if (opt && strcmp(opt, "RETAIN") == 0)
        d = HG_FQ_RETAIN;
    rc = hg_fq_group_delete(c->api->fleetiq, g, d, c->txn, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("GameServerGroup", render_group(c->api->fleetiq, g));
    return 0;
}

static int suspend_resume(hg_gl_call_t *c, int suspend)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    hg_fq_group_suspend(c->api->fleetiq, g, suspend, c->txn);
    c->out = hg_gl_wrap("GameServerGroup", render_group(c->api->fleetiq, g));
    return 0;
}

static int suspend_group(hg_gl_call_t *c)
{
    return suspend_resume(c, 1);
}

static int resume_group(hg_gl_call_t *c)
{
    return suspend_resume(c, 0);
}

/* ---- game servers ---- */

static int register_server(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    hg_fq_server_t *s;
    rc = hg_fq_server_register(c->api->fleetiq, g, hg_gl_str(c->in, "GameServerId"),
                               hg_gl_str(c->in, "InstanceId"), hg_gl_str(c->in, "ConnectionInfo"),
                               hg_gl_str(c->in, "GameServerData"), c->txn, &s, &c->err);
    if (rc < 0)
        return rc;
    write_server(&c->out_text, c->api->fleetiq, s);
    return 0;
}

static int get_server(hg_gl_call_t *c, hg_fq_server_t **s)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    return hg_fq_server_get(c->api->fleetiq, g, hg_gl_str(c->in, "GameServerId"), s, &c->err);
}

static int update_server(hg_gl_call_t *c)
{
    hg_fq_server_t *s;
    int rc = get_server(c, &s);
    if (rc < 0)
        return rc;
    const char *u = hg_gl_str(c->in, "UtilizationStatus");
    int util = u == NULL ? -1 : strcmp(u, "UTILIZED") == 0;
    int health = hg_gl_str(c->in, "HealthCheck") != NULL;
    rc = hg_fq_server_update(c->api->fleetiq, s, hg_gl_str(c->in, "GameServerData"), util, health,
                             c->txn, &c->err);
    if (rc < 0)
        return rc;
    write_server(&c->out_text, c->api->fleetiq, s);
    return 0;
}

static int describe_server(hg_gl_call_t *c)
{
    hg_fq_server_t *s;
    int rc = get_server(c, &s);
    if (rc < 0)
        return rc;
    write_server(&c->out_text, c->api->fleetiq, s);
    return 0;
}

static int deregister_server(hg_gl_call_t *c)
{
    hg_fq_server_t *s;
    int rc = get_server(c, &s);
    if (rc < 0)
        return rc;
    hg_fq_server_deregister(c->api->fleetiq, s, c->txn);
    c->out = json_object();
    return 0;
}

static int claim_server(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    /* FilterOption is newer than the model the validation tables come from: checked here */
    json_t *filter = json_object_get(c->in, "FilterOption");
    json_t *statuses = json_object_get(filter, "InstanceStatuses");
    if ((filter && !json_is_object(filter)) || (statuses && !json_is_array(statuses)))
        return hg_error_set(&c->err, HG_EINVAL,
                            "FilterOption must be an object whose InstanceStatuses is a list");
    if (statuses) {
        int has_active = 0;
        size_t i;
        json_t *v;
        json_array_foreach (statuses, i, v) {
            const char *st = json_string_value(v);
            if (st == NULL || (strcmp(st, "ACTIVE") != 0 && strcmp(st, "DRAINING") != 0))
                return hg_error_set(&c->err, HG_EINVAL,
                                    "FilterOption.InstanceStatuses: each member must be ACTIVE "
                                    "or DRAINING");
            has_active |= strcmp(st, "ACTIVE") == 0;
        }
        if (!has_active)
            return hg_error_set(&c->err, HG_EINVAL,
                                "FilterOption.InstanceStatuses must include ACTIVE");
    }
    hg_fq_server_t *s;
    rc = hg_fq_server_claim(c->api->fleetiq, g, hg_gl_str(c->in, "GameServerId"),
                            hg_gl_str(c->in, "GameServerData"), c->txn, &s, &c->err);
    if (rc < 0)
        return rc;
    write_server(&c->out_text, c->api->fleetiq, s);
    return 0;
}

static int list_servers(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    const char *order = hg_gl_str(c->in, "SortOrder");
    int desc = order && strcmp(order, "DESCENDING") == 0;
    const char *payload;
    const char *kind = desc ? "sd" : "sa";
    rc = hg_gl_token_decode(c->in, kind, &payload, &c->err);
    if (rc < 0)
        return rc;
    uint64_t after = 0;
    if (payload) {
        char *end;
        after = strtoull(payload, &end, 10);
        if (*end || after == 0)
            return hg_error_set(&c->err, HG_EINVAL, "Invalid NextToken");
    }
    size_t limit = hg_gl_limit(c->in, 100, HG_FQ_MAX_PAGE);
    hg_fq_server_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fq_server_list(c->api->fleetiq, g, desc, after, limit, page, &more);
    hg_buf_t *b = &c->out_text;
    hg_buf_puts(b, "{\"GameServers\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hg_buf_puts(b, ",");
        write_server_obj(b, c->api->fleetiq, page[i]);
    }
    hg_buf_puts(b, "]");
    if (more && n) {
        char token[48];
        snprintf(token, sizeof(token), "%s:%llu", kind, (unsigned long long)page[n - 1]->seq);
        hg_buf_puts(b, ",\"NextToken\":");
        hg_jsonw_str(b, token);
    }
    hg_buf_puts(b, "}");
    hg_free(page);
    return 0;
}

static int describe_instances(hg_gl_call_t *c)
{
    hg_fq_group_t *g;
    int rc = get_group(c, &g);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    json_t *ids = json_object_get(c->in, "InstanceIds");
    if (ids) {
        /* explicit ids: every one that has game servers here; no pagination */
        c->out = hg_gl_wrap("GameServerInstances", arr);
        for (size_t i = 0; i < json_array_size(ids); i++) {
            const char *id = json_string_value(json_array_get(ids, i));
            if (!hg_map_get(&g->instances, id))
                continue;
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "GameServerGroupName",
                                                 g->name, "GameServerGroupArn", g->arn,
                                                 "InstanceId", id, "InstanceStatus", "ACTIVE"));
        }
        return 0;
    }
    const char *after;
    rc = hg_gl_token_decode(c->in, "i", &after, &c->err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, 100, HG_FQ_MAX_PAGE);
    hg_fq_instance_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fq_instance_list(c->api->fleetiq, g, after, limit, page, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "GameServerGroupName", g->name,
                                             "GameServerGroupArn", g->arn, "InstanceId",
                                             page[i]->id, "InstanceStatus", "ACTIVE"));
    c->out = hg_gl_wrap("GameServerInstances", arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_token("i", page[n - 1]->id));
    hg_free(page);
    return 0;
}

const hg_gl_handler_t hg_gl_fleetiq_handlers[] = {
    {"CreateGameServerGroup", create_group},
    {"DescribeGameServerGroup", describe_group},
    {"ListGameServerGroups", list_groups},
    {"UpdateGameServerGroup", update_group},
    {"DeleteGameServerGroup", delete_group},
    {"SuspendGameServerGroup", suspend_group},
    {"ResumeGameServerGroup", resume_group},
    {"RegisterGameServer", register_server},
    {"UpdateGameServer", update_server},
    {"DescribeGameServer", describe_server},
    {"DeregisterGameServer", deregister_server},
    {"ClaimGameServer", claim_server},
    {"ListGameServers", list_servers},
    {"DescribeGameServerInstances", describe_instances},
    {NULL, NULL},
};
