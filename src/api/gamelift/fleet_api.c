/* hangar — GameLift fleet operations: wire ⇄ fleet domain (custom locations, ANYWHERE fleets,
 * aliases, computes, auth tokens, tags).
 *
 * Input is already validated against the model (types, required members, lengths, enums,
 * patterns). These handlers apply the cross-field rules the model cannot express (ComputeType
 * ANYWHERE only, SIMPLE needs FleetId, an address for a compute, at most 200 tags, …), call
 * the domain, and render the output shapes (FleetAttributes, LocationState, Compute, Alias,
 * FleetCapacity, FleetUtilization, Event, LocationModel).
 *
 * Errors: every handler runs through hg_gl_fit(), which reports a domain error whose `__type` the
 * operation does not list in the model as InvalidRequestException with the same message (e.g.
 * an unknown fleet in RegisterCompute, whose model has no NotFoundException), so clients only
 * ever see the exceptions their SDK models for that call.
 *
 * Choices where GameLift publishes nothing (gamelift-wire.md §3.3; limits in docs/limits.md):
 *   - GameLiftServiceSdkEndpoint is the sdk-endpoint option, else ws://<the Host the request
 *     came to>/sdk (wss:// when TLS is configured: the C++ SDK speaks only TLS);
 *   - capacity of an ANYWHERE fleet counts registered computes: ACTIVE = DESIRED = MAXIMUM =
 *     registered, IDLE = those hosting no game session, MINIMUM = PENDING = TERMINATING = 0;
 *     DescribeFleetCapacity gives the fleet's totals with Location = the home Region;
 *   - ListLocations lists the home Region as the one AWS location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/gamelift/gamelift.h"
#include "core/alloc.h"
#include "fleet/fleet.h"
#include "fleetiq/fleetiq.h"
#include "match/flexmatch.h"
#include "placement/placement.h"

/* ---- errors and small helpers ---- */

static hg_fleet_t *FL(hg_gl_call_t *c)
{
    return c->api->fleet;
}

static int get_fleet(hg_gl_call_t *c, hg_fl_fleet_t **f)
{
    return hg_fl_fleet_get(FL(c), hg_gl_str(c->in, "FleetId"), f, &c->err);
}

static const char *home(hg_gl_call_t *c)
{
    return hg_fleet_config(FL(c))->region;
}

/* A NextToken "<kind>:<number>[:rest]": *seq (0 when absent), *rest (NULL when absent). */
static int seq_token(hg_gl_call_t *c, const char *kind, uint64_t *seq, const char **rest)
{
    const char *p;
    *seq = 0;
    if (rest)
        *rest = NULL;
    int rc = hg_gl_token_decode(c->in, kind, &p, &c->err);
    if (rc < 0 || p == NULL)
        return rc;
    char *end;
    *seq = strtoull(p, &end, 10);
    if (end == p || *seq == 0 || (*end && !(rest && *end == ':' && end[1])))
        return hg_error_set(&c->err, HG_EINVAL, "Invalid NextToken");
    if (rest && *end)
        *rest = end + 1;
    return 0;
}

/* A page's token that also carries a name (rest): "<kind>:<seq>:<rest>". */
static json_t *seq_next(const char *kind, uint64_t seq, const char *rest)
{
    char buf[300];
    snprintf(buf, sizeof(buf), "%llu:%s", (unsigned long long)seq, rest);
    return hg_gl_token(kind, buf);
}

/* ---- tags ---- */

static int tag_key_ok(hg_gl_call_t *c, const char *key)
{
    if (strncmp(key, "aws:", 4) == 0)
        return hg_error_set(&c->err, HG_EINVAL, "Tag keys starting with aws: are reserved (%s)",
                            key);
    return 0;
}

/* A new tag array: cur (borrowed, may be NULL) with add ([{Key,Value}], borrowed) merged in;
 * a key already present gets the new value. NULL with c->err set on a bad key or too many. */
static json_t *tags_merge(hg_gl_call_t *c, json_t *cur, json_t *add)
{
    json_t *out = cur ? json_deep_copy(cur) : json_array();
    size_t i;
    json_t *t;
    json_array_foreach (add, i, t) {
        const char *k = hg_gl_str(t, "Key"), *v = hg_gl_str(t, "Value");
        if (tag_key_ok(c, k) < 0)
            goto bad;
        size_t j;
        json_t *have;
        int found = 0;
        json_array_foreach (out, j, have) {
            if (strcmp(hg_gl_str(have, "Key"), k) == 0) {
                json_object_set_new(have, "Value", json_string(v));
                found = 1;
                break;
            }
        }
        if (!found) {
            if (json_array_size(out) >= HG_FL_MAX_TAGS) {
                hg_error_set(&c->err, HG_EINVAL, "A resource can have at most %d tags",
                             HG_FL_MAX_TAGS);
                goto bad;
            }
            json_array_append_new(out, json_pack("{s:s,s:s}", "Key", k, "Value", v));
        }
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

/* The Tags member of a create call, normalised; NULL with c->err set when refused. */
static json_t *input_tags(hg_gl_call_t *c)
{
    return tags_merge(c, NULL, json_object_get(c->in, "Tags"));
}

/* ---- renderers ---- */

static json_t *render_location(const hg_fl_location_t *loc)
{
    return json_pack("{s:s,s:s}", "LocationName", loc->name, "LocationArn", loc->arn);
}

/* The members of CreateFleet kept as the fleet's attributes (echoed by DescribeFleetAttributes;
 * RuntimeConfiguration by DescribeRuntimeConfiguration). */
static const char *const fleet_attrs[] = {"Name",
                                          "Description",
                                          "NewGameSessionProtectionPolicy",
                                          "RuntimeConfiguration",
                                          "ResourceCreationLimitPolicy",
                                          "MetricGroups",
                                          "LogPaths",
                                          "AnywhereConfiguration",
                                          NULL};

static json_t *render_fleet(const hg_fl_fleet_t *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "FleetId", json_string(f->id));
    json_object_set_new(o, "FleetArn", json_string(f->arn));
    static const char *const echoed[] = {"Name",
                                         "Description",
                                         "NewGameSessionProtectionPolicy",
                                         "ResourceCreationLimitPolicy",
                                         "MetricGroups",
                                         "LogPaths",
                                         "AnywhereConfiguration",
                                         NULL};
    for (const char *const *k = echoed; *k; k++) {
        json_t *v = json_object_get(f->attrs, *k);
        if (v)
            json_object_set(o, *k, v);
    }
    json_object_set_new(o, "CreationTime", hg_gl_time(f->created_ms));
    if (f->status == HG_FL_TERMINATED)
        json_object_set_new(o, "TerminationTime", hg_gl_time(f->terminated_ms));
    json_object_set_new(o, "Status", json_string(hg_fl_status_name(f->status)));
    json_object_set_new(o, "ComputeType", json_string("ANYWHERE"));
    return o;
}

static json_t *location_state(const char *loc, const char *status)
{
    return json_pack("{s:s,s:s}", "Location", loc, "Status", status);
}

/* Home Region first, then the custom locations in the order added. */
static json_t *location_states(hg_gl_call_t *c, const hg_fl_fleet_t *f)
{
    const char *st = hg_fl_status_name(f->status);
    json_t *arr = json_array();
    json_array_append_new(arr, location_state(home(c), st));
    for (size_t i = 0; i < f->nlocations; i++)
        json_array_append_new(arr, location_state(f->locations[i], st));
    return arr;
}

static json_t *render_compute(hg_gl_call_t *c, const hg_fl_compute_t *cp)
{
    json_t *o = json_object();
    json_object_set_new(o, "FleetId", json_string(cp->fleet->id));
    json_object_set_new(o, "FleetArn", json_string(cp->fleet->arn));
    json_object_set_new(o, "ComputeName", json_string(cp->name));
    json_object_set_new(o, "ComputeArn", json_string(cp->arn));
    if (cp->ip)
        json_object_set_new(o, "IpAddress", json_string(cp->ip));
    if (cp->dns)
        json_object_set_new(o, "DnsName", json_string(cp->dns));
    json_object_set_new(o, "ComputeStatus", json_string("ACTIVE"));
    json_object_set_new(o, "Location", json_string(cp->location));
    json_object_set_new(o, "CreationTime", hg_gl_time(cp->created_ms));
    char ep[300];
    hg_api_sdk_endpoint(c->api, c->req, c->api->tls, ep, sizeof(ep));
    json_object_set_new(o, "GameLiftServiceSdkEndpoint", json_string(ep));
    return o;
}

static json_t *render_alias(const hg_fl_alias_t *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "AliasId", json_string(a->id));
    json_object_set_new(o, "Name", json_string(a->name));
    json_object_set_new(o, "AliasArn", json_string(a->arn));
    if (a->description)
        json_object_set_new(o, "Description", json_string(a->description));
    json_t *rs = json_object();
    json_object_set_new(rs, "Type", json_string(a->terminal ? "TERMINAL" : "SIMPLE"));
    if (a->fleet_id)
        json_object_set_new(rs, "FleetId", json_string(a->fleet_id));
    if (a->message)
        json_object_set_new(rs, "Message", json_string(a->message));
    json_object_set_new(o, "RoutingStrategy", rs);
    json_object_set_new(o, "CreationTime", hg_gl_time(a->created_ms));
    json_object_set_new(o, "LastUpdatedTime", hg_gl_time(a->updated_ms));
    return o;
}

static json_t *render_capacity(hg_gl_call_t *c, const hg_fl_fleet_t *f, const char *location)
{
    hg_fl_counts_t n;
    hg_fl_fleet_counts(FL(c), f, location, &n);
    json_t *counts = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "DESIRED", (json_int_t)n.computes,
                               "MINIMUM", (json_int_t)0, "MAXIMUM", (json_int_t)n.computes,
                               "PENDING", (json_int_t)0, "ACTIVE", (json_int_t)n.computes, "IDLE",
                               (json_int_t)n.idle_computes, "TERMINATING", (json_int_t)0);
    return json_pack("{s:s,s:s,s:o,s:s}", "FleetId", f->id, "FleetArn", f->arn, "InstanceCounts",
                     counts, "Location", location ? location : home(c));
}

static json_t *render_utilization(hg_gl_call_t *c, const hg_fl_fleet_t *f, const char *location)
{
    hg_fl_counts_t n;
    hg_fl_fleet_counts(FL(c), f, location, &n);
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "FleetId", f->id, "FleetArn", f->arn,
                     "ActiveServerProcessCount", (json_int_t)n.processes, "ActiveGameSessionCount",
                     (json_int_t)n.game_sessions, "CurrentPlayerSessionCount",
                     (json_int_t)n.players, "MaximumPlayerSessionCount", (json_int_t)n.max_players,
                     "Location", location ? location : home(c));
}

static json_t *render_event(const hg_fl_fleet_t *f, const hg_fl_event_t *ev)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "EventId", ev->id, "ResourceId", f->id, "EventCode",
                          ev->code, "Message", ev->message);
    json_object_set_new(o, "EventTime", hg_gl_time(ev->time_ms));
    return o;
}

/* ---- locations ---- */

static int create_location(hg_gl_call_t *c)
{
    json_t *tags = input_tags(c);
    if (tags == NULL)
        return c->err.code;
    hg_fl_location_t *loc;
    int rc =
        hg_fl_location_create(FL(c), hg_gl_str(c->in, "LocationName"), tags, c->txn, &loc, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Location", render_location(loc));
    return 0;
}

static int list_locations(hg_gl_call_t *c)
{
    int want_aws = 1, want_custom = 1;
    json_t *filters = json_object_get(c->in, "Filters");
    if (filters) {
        want_aws = want_custom = 0;
        size_t i;
        json_t *v;
        json_array_foreach (filters, i, v) {
            if (strcmp(json_string_value(v), "AWS") == 0)
                want_aws = 1;
            else
                want_custom = 1;
        }
    }
    const char *after;
    int rc = hg_gl_token_decode(c->in, "l", &after, &c->err);
    if (rc < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    /* every custom location after the token (there are few), merged by name with the home
     * Region, then cut to the page */
    size_t cap = HG_FL_MAX_LOCATIONS + 1;
    hg_fl_location_t **all = hg_malloc(cap * sizeof(*all));
    int more;
    size_t n = want_custom ? hg_fl_location_list(FL(c), after, cap, all, &more) : 0;
    const char *region = home(c);
    int region_due = want_aws && (after == NULL || strcmp(region, after) > 0);
    json_t *arr = json_array();
    const char *last = NULL;
    size_t shown = 0, i = 0;
    int left = 0;
    while (i < n || region_due) {
        if (shown == limit) {
            left = 1;
            break;
        }
        if (region_due && (i == n || strcmp(region, all[i]->name) < 0)) {
            json_array_append_new(arr, json_pack("{s:s}", "LocationName", region));
            last = region;
            region_due = 0;
        } else {
            json_array_append_new(arr, render_location(all[i]));
            last = all[i++]->name;
        }
        shown++;
    }
    c->out = hg_gl_wrap("Locations", arr);
    if (left)
        json_object_set_new(c->out, "NextToken", hg_gl_token("l", last));
    hg_free(all);
    return 0;
}

static int delete_location(hg_gl_call_t *c)
{
    const char *name = hg_gl_str(c->in, "LocationName");
    hg_fl_location_t *loc = hg_fl_location_find(FL(c), name);
    if (loc == NULL)
        return hg_error_set(&c->err, HG_ENOTFOUND, "Location %s not found", name);
    int rc = hg_fl_location_delete(FL(c), loc, c->txn, &c->err);
    if (rc < 0)
        return rc;
    c->out = json_object();
    return 0;
}

/* ---- fleets ---- */

/* CreateFleet members that describe EC2 (or script/build) fleets. */
static const char *const ec2_only[] = {"BuildId",
                                       "ScriptId",
                                       "ServerLaunchPath",
                                       "ServerLaunchParameters",
                                       "EC2InstanceType",
                                       "EC2InboundPermissions",
                                       "PeerVpcAwsAccountId",
                                       "PeerVpcId",
                                       "FleetType",
                                       "InstanceRoleArn",
                                       "CertificateConfiguration",
                                       NULL};

static int check_runtime(hg_gl_call_t *c, json_t *rt)
{
    long long total = 0;
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(rt, "ServerProcesses"), i, p)
        total += json_integer_value(json_object_get(p, "ConcurrentExecutions"));
    if (total > 50)
        return hg_error_set(&c->err, HG_EINVAL,
                            "RuntimeConfiguration: the ConcurrentExecutions of all ServerProcesses "
                            "add up to %lld; at most 50 processes run per compute",
                            total);
    return 0;
}

/* Names from [{"Location": …}] (borrowed from in); *n set. Free the array with hg_free. */
static const char **location_names(json_t *list, size_t *n)
{
    *n = json_array_size(list);
    const char **names = hg_calloc(*n + 1, sizeof(*names));
    for (size_t i = 0; i < *n; i++) {
        json_t *v = json_array_get(list, i);
        names[i] = json_is_string(v) ? json_string_value(v) : hg_gl_str(v, "Location");
    }
    return names;
}

static int create_fleet(hg_gl_call_t *c)
{
    json_t *in = c->in;
    const char *ct = hg_gl_str(in, "ComputeType");
    if (ct == NULL || strcmp(ct, "ANYWHERE") != 0)
        return hg_error_set(&c->err, HG_EINVAL,
                            "ComputeType %s is not supported: hangard supports ANYWHERE fleets "
                            "(set ComputeType=ANYWHERE and register your hosts with "
                            "RegisterCompute)",
                            ct ? ct : "EC2 (the default)");
    for (const char *const *k = ec2_only; *k; k++)
        if (json_object_get(in, *k))
            return hg_error_set(&c->err, HG_EINVAL,
                                "%s does not apply to ANYWHERE fleets; hangard supports ANYWHERE "
                                "fleets only",
                                *k);
    json_t *rt = json_object_get(in, "RuntimeConfiguration");
    if (rt && check_runtime(c, rt) < 0)
        return c->err.code;
    json_t *tags = input_tags(c);
    if (tags == NULL)
        return c->err.code;
    json_t *attrs = json_object();
    for (const char *const *k = fleet_attrs; *k; k++) {
        json_t *v = json_object_get(in, *k);
        if (v)
            json_object_set(attrs, *k, v);
    }
    if (!json_object_get(attrs, "NewGameSessionProtectionPolicy"))
        json_object_set_new(attrs, "NewGameSessionProtectionPolicy", json_string("NoProtection"));
    size_t n;
    const char **names = location_names(json_object_get(in, "Locations"), &n);
    hg_fl_fleet_t *f;
    int rc = hg_fl_fleet_create(FL(c), attrs, names, n, tags, c->txn, &f, &c->err);
    hg_free(names);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("FleetAttributes", render_fleet(f));
    json_object_set_new(c->out, "LocationStates", location_states(c, f));
    return 0;
}

/* For DescribeFleetAttributes/Capacity/Utilization: the listed fleets (unknown ones silently
 * omitted, Limit ignored) or a page of every fleet that is not TERMINATED. */
typedef json_t *(*render_fleet_fn)(hg_gl_call_t *c, const hg_fl_fleet_t *f);

static int describe_fleets(hg_gl_call_t *c, const char *member, render_fleet_fn fn)
{
    json_t *arr = json_array();
    json_t *ids = json_object_get(c->in, "FleetIds");
    if (ids) {
        size_t i;
        json_t *v;
        json_array_foreach (ids, i, v) {
            hg_fl_fleet_t *f = hg_fl_fleet_find(FL(c), json_string_value(v));
            if (f)
                json_array_append_new(arr, fn(c, f));
        }
        c->out = hg_gl_wrap(member, arr);
        return 0;
    }
    uint64_t after;
    int rc = seq_token(c, "f", &after, NULL);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_fleet_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fl_fleet_list(FL(c), after, limit, page, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, fn(c, page[i]));
    c->out = hg_gl_wrap(member, arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("f", page[n - 1]->seq));
    hg_free(page);
    return 0;
}

static json_t *fleet_attrs_of(hg_gl_call_t *c, const hg_fl_fleet_t *f)
{
    (void)c;
    return render_fleet(f);
}

static json_t *fleet_capacity_of(hg_gl_call_t *c, const hg_fl_fleet_t *f)
{
    return render_capacity(c, f, NULL);
}

static json_t *fleet_utilization_of(hg_gl_call_t *c, const hg_fl_fleet_t *f)
{
    return render_utilization(c, f, NULL);
}

static int describe_fleet_attributes(hg_gl_call_t *c)
{
    return describe_fleets(c, "FleetAttributes", fleet_attrs_of);
}

static int describe_fleet_capacity(hg_gl_call_t *c)
{
    return describe_fleets(c, "FleetCapacity", fleet_capacity_of);
}

static int describe_fleet_utilization(hg_gl_call_t *c)
{
    return describe_fleets(c, "FleetUtilization", fleet_utilization_of);
}

static int list_fleets(hg_gl_call_t *c)
{
    uint64_t after;
    int rc = seq_token(c, "f", &after, NULL);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    c->out = hg_gl_wrap("FleetIds", arr);
    /* ANYWHERE fleets have no build or script: a filter on either matches none */
    if (json_object_get(c->in, "BuildId") || json_object_get(c->in, "ScriptId"))
        return 0;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_fleet_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fl_fleet_list(FL(c), after, limit, page, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(page[i]->id));
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("f", page[n - 1]->seq));
    hg_free(page);
    return 0;
}

static int delete_fleet(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0 || (rc = hg_fl_fleet_delete(FL(c), f, c->txn, &c->err)) < 0)
        return rc;
    c->out = json_object();
    return 0;
}

static int update_fleet_attributes(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0 || (rc = hg_fl_fleet_check_active(f, &c->err)) < 0)
        return rc;
    const char *old = hg_gl_str(f->attrs, "NewGameSessionProtectionPolicy");
    const char *new = hg_gl_str(c->in, "NewGameSessionProtectionPolicy");
    if (new &&old && strcmp(old, new) != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "Fleet %s: NewGameSessionProtectionPolicy changed from %s to %s.", f->id, old,
                 new);
        hg_fl_event_add(FL(c), f, "FLEET_NEW_GAME_SESSION_PROTECTION_POLICY_UPDATED", msg, c->txn);
    }
    static const char *const updatable[] = {"Name",
                                            "Description",
                                            "NewGameSessionProtectionPolicy",
                                            "ResourceCreationLimitPolicy",
                                            "MetricGroups",
                                            "AnywhereConfiguration",
                                            NULL};
    for (const char *const *k = updatable; *k; k++) {
        json_t *v = json_object_get(c->in, *k);
        if (v)
            json_object_set(f->attrs, *k, v);
    }
    hg_fl_fleet_save(FL(c), f, c->txn);
    c->out = json_pack("{s:s,s:s}", "FleetId", f->id, "FleetArn", f->arn);
    return 0;
}

static int describe_runtime(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0)
        return rc;
    json_t *rt = json_object_get(f->attrs, "RuntimeConfiguration");
    c->out = hg_gl_wrap("RuntimeConfiguration", rt ? json_incref(rt) : json_object());
    return 0;
}

static int update_runtime(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0 || (rc = hg_fl_fleet_check_active(f, &c->err)) < 0)
        return rc;
    json_t *rt = json_object_get(c->in, "RuntimeConfiguration");
    if ((rc = check_runtime(c, rt)) < 0)
        return rc;
    json_object_set(f->attrs, "RuntimeConfiguration", rt);
    hg_fl_fleet_save(FL(c), f, c->txn);
    c->out = hg_gl_wrap("RuntimeConfiguration", json_incref(rt));
    return 0;
}

static int create_fleet_locations(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0)
        return rc;
    size_t n;
    const char **names = location_names(json_object_get(c->in, "Locations"), &n);
    rc = hg_fl_fleet_add_locations(FL(c), f, names, n, c->txn, &c->err);
    if (rc == 0) {
        json_t *states = json_array();
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], home(c)) != 0)
                json_array_append_new(states, location_state(names[i], "ACTIVE"));
        c->out = json_pack("{s:s,s:s,s:o}", "FleetId", f->id, "FleetArn", f->arn, "LocationStates",
                           states);
    }
    hg_free(names);
    return rc;
}

static int delete_fleet_locations(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0)
        return rc;
    size_t n;
    const char **names = location_names(json_object_get(c->in, "Locations"), &n);
    rc = hg_fl_fleet_remove_locations(FL(c), f, names, n, c->txn, &c->err);
    if (rc == 0) {
        json_t *states = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(states, location_state(names[i], "TERMINATED"));
        c->out = json_pack("{s:s,s:s,s:o}", "FleetId", f->id, "FleetArn", f->arn, "LocationStates",
                           states);
    }
    hg_free(names);
    return rc;
}

static int describe_fleet_location_attributes(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    uint64_t offset;
    if (rc < 0 || (rc = seq_token(c, "o", &offset, NULL)) < 0)
        return rc;
    json_t *filter = json_object_get(c->in, "Locations");
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    const char *st = hg_fl_status_name(f->status);
    json_t *arr = json_array();
    size_t idx = 0, shown = 0;
    int more = 0;
    for (size_t i = 0; i <= f->nlocations; i++) {
        const char *loc = i == 0 ? home(c) : f->locations[i - 1];
        if (filter) {
            int listed = 0;
            size_t j;
            json_t *v;
            json_array_foreach (filter, j, v)
                listed |= strcmp(json_string_value(v), loc) == 0;
            if (!listed)
                continue;
        }
        if (idx++ < offset)
            continue;
        if (shown == limit) {
            more = 1;
            break;
        }
        json_array_append_new(arr, json_pack("{s:o}", "LocationState", location_state(loc, st)));
        shown++;
    }
    c->out =
        json_pack("{s:s,s:s,s:o}", "FleetId", f->id, "FleetArn", f->arn, "LocationAttributes", arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("o", offset + shown));
    return 0;
}

static int get_fleet_location(hg_gl_call_t *c, hg_fl_fleet_t **f, const char **loc)
{
    int rc = get_fleet(c, f);
    if (rc < 0)
        return rc;
    *loc = hg_gl_str(c->in, "Location");
    if (!hg_fl_fleet_has_location(FL(c), *f, *loc))
        return hg_error_set(&c->err, HG_EINVAL, "Fleet %s has no location %s", (*f)->id, *loc);
    return 0;
}

static int describe_fleet_location_capacity(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    const char *loc;
    int rc = get_fleet_location(c, &f, &loc);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("FleetCapacity", render_capacity(c, f, loc));
    return 0;
}

static int describe_fleet_location_utilization(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    const char *loc;
    int rc = get_fleet_location(c, &f, &loc);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("FleetUtilization", render_utilization(c, f, loc));
    return 0;
}

static int64_t time_ms(json_t *in, const char *member)
{
    json_t *v = json_object_get(in, member);
    return json_is_number(v) ? (int64_t)(json_number_value(v) * 1000.0) : 0;
}

static int describe_fleet_events(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    uint64_t after;
    int rc = get_fleet(c, &f);
    if (rc < 0 || (rc = seq_token(c, "e", &after, NULL)) < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_event_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n = hg_fl_event_list(f, time_ms(c->in, "StartTime"), time_ms(c->in, "EndTime"), after,
                                limit, page, &more);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_event(f, page[i]));
    c->out = hg_gl_wrap("Events", arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("e", page[n - 1]->seq));
    hg_free(page);
    return 0;
}

/* ---- aliases ---- */

static int input_route(hg_gl_call_t *c, json_t *rs, hg_fl_route_t *r)
{
    const char *type = hg_gl_str(rs, "Type");
    if (type == NULL)
        return hg_error_set(&c->err, HG_EINVAL,
                            "RoutingStrategy needs a Type (SIMPLE or TERMINAL)");
    r->terminal = strcmp(type, "TERMINAL") == 0;
    r->fleet_id = hg_gl_str(rs, "FleetId");
    r->message = hg_gl_str(rs, "Message");
    if (!r->terminal && r->fleet_id == NULL)
        return hg_error_set(&c->err, HG_EINVAL, "RoutingStrategy of type SIMPLE needs a FleetId");
    return 0;
}

static int create_alias(hg_gl_call_t *c)
{
    hg_fl_route_t r;
    int rc = input_route(c, json_object_get(c->in, "RoutingStrategy"), &r);
    if (rc < 0)
        return rc;
    json_t *tags = input_tags(c);
    if (tags == NULL)
        return c->err.code;
    hg_fl_alias_t *a;
    rc = hg_fl_alias_create(FL(c), hg_gl_str(c->in, "Name"), hg_gl_str(c->in, "Description"), &r,
                            tags, c->txn, &a, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Alias", render_alias(a));
    return 0;
}

static int get_alias(hg_gl_call_t *c, hg_fl_alias_t **a)
{
    return hg_fl_alias_get(FL(c), hg_gl_str(c->in, "AliasId"), a, &c->err);
}

static int describe_alias(hg_gl_call_t *c)
{
    hg_fl_alias_t *a;
    int rc = get_alias(c, &a);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Alias", render_alias(a));
    return 0;
}

static int list_aliases(hg_gl_call_t *c)
{
    uint64_t after;
    int rc = seq_token(c, "a", &after, NULL);
    if (rc < 0)
        return rc;
    const char *type = hg_gl_str(c->in, "RoutingStrategyType");
    int terminal = type == NULL ? -1 : strcmp(type, "TERMINAL") == 0;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_alias_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n =
        hg_fl_alias_list(FL(c), terminal, hg_gl_str(c->in, "Name"), after, limit, page, &more);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_alias(page[i]));
    c->out = hg_gl_wrap("Aliases", arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("a", page[n - 1]->seq));
    hg_free(page);
    return 0;
}

static int update_alias(hg_gl_call_t *c)
{
    hg_fl_alias_t *a;
    int rc = get_alias(c, &a);
    if (rc < 0)
        return rc;
    hg_fl_route_t r, *route = NULL;
    json_t *rs = json_object_get(c->in, "RoutingStrategy");
    if (rs) {
        if ((rc = input_route(c, rs, &r)) < 0)
            return rc;
        route = &r;
    }
    rc = hg_fl_alias_update(FL(c), a, hg_gl_str(c->in, "Name"), hg_gl_str(c->in, "Description"),
                            route, c->txn, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Alias", render_alias(a));
    return 0;
}

static int delete_alias(hg_gl_call_t *c)
{
    hg_fl_alias_t *a;
    int rc = get_alias(c, &a);
    if (rc < 0)
        return rc;
    hg_fl_alias_delete(FL(c), a, c->txn);
    c->out = json_object();
    return 0;
}

static int resolve_alias(hg_gl_call_t *c)
{
    hg_fl_alias_t *a;
    const char *fleet_id;
    int rc = get_alias(c, &a);
    if (rc < 0 || (rc = hg_fl_alias_resolve(a, &fleet_id, &c->err)) < 0)
        return rc;
    hg_fl_fleet_t *f = hg_fl_fleet_find(FL(c), fleet_id);
    char arn[300];
    const hg_fl_config_t *cfg = hg_fleet_config(FL(c));
    snprintf(arn, sizeof(arn), "arn:aws:gamelift:%s:%s:fleet/%s", cfg->region, cfg->account,
             fleet_id);
    c->out = json_pack("{s:s,s:s}", "FleetId", fleet_id, "FleetArn", f ? f->arn : arn);
    return 0;
}

/* ---- computes ---- */

static int register_compute(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0)
        return rc;
    const char *ip = hg_gl_str(c->in, "IpAddress"), *dns = hg_gl_str(c->in, "DnsName");
    const char *loc = hg_gl_str(c->in, "Location");
    if (ip == NULL && dns == NULL)
        return hg_error_set(&c->err, HG_EINVAL,
                            "A compute of an ANYWHERE fleet needs an IpAddress or a DnsName");
    if (loc == NULL)
        return hg_error_set(&c->err, HG_EINVAL,
                            "A compute of an ANYWHERE fleet needs a Location: one of the fleet's "
                            "custom locations");
    hg_fl_compute_t *cp;
    rc = hg_fl_compute_register(FL(c), f, hg_gl_str(c->in, "ComputeName"), ip, dns,
                                hg_gl_str(c->in, "CertificatePath"), loc, c->txn, &cp, &c->err);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Compute", render_compute(c, cp));
    return 0;
}

static int get_compute(hg_gl_call_t *c, hg_fl_compute_t **cp)
{
    hg_fl_fleet_t *f;
    int rc = get_fleet(c, &f);
    if (rc < 0)
        return rc;
    return hg_fl_compute_get(f, hg_gl_str(c->in, "ComputeName"), cp, &c->err);
}

static int deregister_compute(hg_gl_call_t *c)
{
    hg_fl_compute_t *cp;
    int rc = get_compute(c, &cp);
    if (rc < 0)
        return rc;
    hg_fl_compute_deregister(FL(c), cp, c->txn);
    c->out = json_object();
    return 0;
}

static int describe_compute(hg_gl_call_t *c)
{
    hg_fl_compute_t *cp;
    int rc = get_compute(c, &cp);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Compute", render_compute(c, cp));
    return 0;
}

static int list_compute(hg_gl_call_t *c)
{
    hg_fl_fleet_t *f;
    uint64_t after;
    const char *after_name;
    int rc = get_fleet(c, &f);
    if (rc < 0 || (rc = seq_token(c, "c", &after, &after_name)) < 0)
        return rc;
    size_t limit = hg_gl_limit(c->in, 100, HG_FL_MAX_PAGE);
    hg_fl_compute_t **page = hg_malloc(limit * sizeof(*page));
    int more;
    size_t n =
        hg_fl_compute_list(f, hg_gl_str(c->in, "Location"), after_name, after, limit, page, &more);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_compute(c, page[i]));
    c->out = hg_gl_wrap("ComputeList", arr);
    if (more && n)
        json_object_set_new(c->out, "NextToken",
                            seq_next("c", page[n - 1]->seq, page[n - 1]->name));
    hg_free(page);
    return 0;
}

static int get_compute_auth_token(hg_gl_call_t *c)
{
    hg_fl_compute_t *cp;
    const hg_fl_token_t *t;
    int rc = get_compute(c, &cp);
    if (rc < 0 || (rc = hg_fl_compute_token(FL(c), cp, c->txn, &t, &c->err)) < 0)
        return rc;
    c->out =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "FleetId", cp->fleet->id, "FleetArn", cp->fleet->arn,
                  "ComputeName", cp->name, "ComputeArn", cp->arn, "AuthToken", t->token);
    json_object_set_new(c->out, "ExpirationTimestamp", hg_gl_time(t->expires_ms));
    return 0;
}

/* ---- tags (fleets, aliases, locations here; game server groups through fleetiq) ---- */

static int get_tags(hg_gl_call_t *c, json_t **tags, hg_fq_group_t **g)
{
    const char *arn = hg_gl_str(c->in, "ResourceARN");
    *g = NULL;
    if (strncmp(arn, "arn:", 4) == 0 && strstr(arn, ":gameservergroup/")) {
        *g = hg_fq_group_find(c->api->fleetiq, arn);
        if (*g == NULL)
            return hg_error_set(&c->err, HG_ENOTFOUND, "Resource %s not found", arn);
        *tags = json_object_get((*g)->attrs, "Tags");
        return 0;
    }
    if (strncmp(arn, "arn:", 4) != 0)
        return hg_error_set(&c->err, HG_EINVAL, "ResourceARN %s is not an ARN", arn);
    if (strstr(arn, ":gamesessionqueue/"))
        return hg_pl_tags_get(c->api->placement, arn, tags, &c->err);
    if (strstr(arn, ":matchmakingruleset/") || strstr(arn, ":matchmakingconfiguration/"))
        return hg_fm_tags_get(c->api->flexmatch, arn, tags, &c->err);
    return hg_fl_tags_get(FL(c), arn, tags, &c->err);
}

/* Takes ownership of tags. */
static int set_tags(hg_gl_call_t *c, hg_fq_group_t *g, json_t *tags)
{
    if (g) {
        json_object_set_new(g->attrs, "Tags", tags);
        hg_fq_group_save(c->api->fleetiq, g, c->txn);
        return 0;
    }
    const char *arn = hg_gl_str(c->in, "ResourceARN");
    if (strstr(arn, ":gamesessionqueue/"))
        return hg_pl_tags_set(c->api->placement, arn, tags, c->txn, &c->err);
    if (strstr(arn, ":matchmakingruleset/") || strstr(arn, ":matchmakingconfiguration/"))
        return hg_fm_tags_set(c->api->flexmatch, arn, tags, c->txn, &c->err);
    return hg_fl_tags_set(FL(c), arn, tags, c->txn, &c->err);
}

static int tag_resource(hg_gl_call_t *c)
{
    json_t *cur;
    hg_fq_group_t *g;
    int rc = get_tags(c, &cur, &g);
    if (rc < 0)
        return rc;
    json_t *merged = tags_merge(c, cur, json_object_get(c->in, "Tags"));
    if (merged == NULL)
        return c->err.code;
    if ((rc = set_tags(c, g, merged)) < 0)
        return rc;
    c->out = json_object();
    return 0;
}

static int untag_resource(hg_gl_call_t *c)
{
    json_t *cur;
    hg_fq_group_t *g;
    int rc = get_tags(c, &cur, &g);
    if (rc < 0)
        return rc;
    json_t *keys = json_object_get(c->in, "TagKeys");
    json_t *kept = json_array();
    size_t i;
    json_t *t;
    json_array_foreach (cur, i, t) {
        int drop = 0;
        size_t j;
        json_t *k;
        json_array_foreach (keys, j, k)
            drop |= strcmp(json_string_value(k), hg_gl_str(t, "Key")) == 0;
        if (!drop)
            json_array_append(kept, t);
    }
    if ((rc = set_tags(c, g, kept)) < 0)
        return rc;
    c->out = json_object();
    return 0;
}

static int list_tags(hg_gl_call_t *c)
{
    json_t *cur;
    hg_fq_group_t *g;
    int rc = get_tags(c, &cur, &g);
    if (rc < 0)
        return rc;
    c->out = hg_gl_wrap("Tags", cur ? json_deep_copy(cur) : json_array());
    return 0;
}

/* Every handler reports only the error types its operation models (see hg_gl_fit()). */
#define OP(fn)                                                                                     \
    static int fn##_op(hg_gl_call_t *c)                                                            \
    {                                                                                              \
        return hg_gl_fit(c, fn(c));                                                                \
    }
OP(create_location)
OP(list_locations)
OP(delete_location)
OP(create_fleet)
OP(describe_fleet_attributes)
OP(list_fleets)
OP(delete_fleet)
OP(update_fleet_attributes)
OP(describe_runtime)
OP(update_runtime)
OP(create_fleet_locations)
OP(delete_fleet_locations)
OP(describe_fleet_location_attributes)
OP(describe_fleet_events)
OP(describe_fleet_capacity)
OP(describe_fleet_utilization)
OP(describe_fleet_location_capacity)
OP(describe_fleet_location_utilization)
OP(create_alias)
OP(describe_alias)
OP(list_aliases)
OP(update_alias)
OP(delete_alias)
OP(resolve_alias)
OP(register_compute)
OP(deregister_compute)
OP(describe_compute)
OP(list_compute)
OP(get_compute_auth_token)
OP(tag_resource)
OP(untag_resource)
OP(list_tags)
#undef OP

const hg_gl_handler_t hg_gl_fleet_handlers[] = {
    {"CreateLocation", create_location_op},
    {"ListLocations", list_locations_op},
    {"DeleteLocation", delete_location_op},
    {"CreateFleet", create_fleet_op},
    {"DescribeFleetAttributes", describe_fleet_attributes_op},
    {"ListFleets", list_fleets_op},
    {"DeleteFleet", delete_fleet_op},
    {"UpdateFleetAttributes", update_fleet_attributes_op},
    {"DescribeRuntimeConfiguration", describe_runtime_op},
    {"UpdateRuntimeConfiguration", update_runtime_op},
    {"CreateFleetLocations", create_fleet_locations_op},
    {"DeleteFleetLocations", delete_fleet_locations_op},
    {"DescribeFleetLocationAttributes", describe_fleet_location_attributes_op},
    {"DescribeFleetEvents", describe_fleet_events_op},
    {"DescribeFleetCapacity", describe_fleet_capacity_op},
    {"DescribeFleetUtilization", describe_fleet_utilization_op},
    {"DescribeFleetLocationCapacity", describe_fleet_location_capacity_op},
    {"DescribeFleetLocationUtilization", describe_fleet_location_utilization_op},
    {"CreateAlias", create_alias_op},
    {"DescribeAlias", describe_alias_op},
    {"ListAliases", list_aliases_op},
    {"UpdateAlias", update_alias_op},
    {"DeleteAlias", delete_alias_op},
    {"ResolveAlias", resolve_alias_op},
    {"RegisterCompute", register_compute_op},
    {"DeregisterCompute", deregister_compute_op},
    {"DescribeCompute", describe_compute_op},
    {"ListCompute", list_compute_op},
    {"GetComputeAuthToken", get_compute_auth_token_op},
    {"TagResource", tag_resource_op},
    {"UntagResource", untag_resource_op},
    {"ListTagsForResource", list_tags_op},
    {NULL, NULL},
};
