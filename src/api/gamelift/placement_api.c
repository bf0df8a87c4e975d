/* hangar — GameLift game session queue and placement operations (gamelift-wire.md §5) over
 * placement/placement.h.
 *
 * Choices where GameLift publishes nothing (limits in docs/limits.md):
 *   - TimeoutInSeconds defaults to 600 (the documented maximum);
 *   - a PlacementId seen before returns that placement as it is now (the call is idempotent);
 *   - NotificationTarget is stored and echoed; placement events go to the registry event stream
 *     (kind "placement").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/gamelift/gamelift.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "net/webhook.h"
#include "placement/placement.h"

static hg_placement_t *PL(hg_gl_call_t *c)
{
    return c->api->placement;
}

/* ---- renderers ---- */

static json_t *render_queue(const hg_pl_queue_t *q)
{
    json_t *o = json_pack("{s:s,s:s}", "Name", q->name, "GameSessionQueueArn", q->arn);
    const char *k;
    json_t *v;
    json_object_foreach (q->cfg, k, v)
        json_object_set(o, k, v);
    return o;
}

static json_t *render_placement(const hg_pl_placement_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "PlacementId", json_string(p->id));
    json_object_set_new(o, "GameSessionQueueName", json_string(p->queue_name));
    json_object_set_new(o, "Status", json_string(hg_pl_status_name(p->status)));
    static const char *const echoed[] = {"GameProperties",
                                         "MaximumPlayerSessionCount",
                                         "GameSessionName",
                                         "PlayerLatencies",
                                         "GameSessionData",
                                         "MatchmakerData",
                                         NULL};
    for (const char *const *k = echoed; *k; k++) {
        json_t *v = json_object_get(p->req, *k);
        if (v)
            json_object_set(o, *k, v);
    }
    json_object_set_new(o, "StartTime", hg_gl_time(p->start_ms));
    if (p->status != HG_PL_PENDING)
        json_object_set_new(o, "EndTime", hg_gl_time(p->end_ms));
    if (p->gs_arn) {
        json_object_set_new(o, "GameSessionId", json_string(p->gs_arn));
        json_object_set_new(o, "GameSessionArn", json_string(p->gs_arn));
        json_object_set_new(o, "GameSessionRegion", json_string(p->location));
        if (p->ip)
            json_object_set_new(o, "IpAddress", json_string(p->ip));
        if (p->dns)
            json_object_set_new(o, "DnsName", json_string(p->dns));
        if (p->port > 0)
            json_object_set_new(o, "Port", json_integer(p->port));
    }
    if (p->status == HG_PL_FULFILLED) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->nplaced; i++)
            json_array_append_new(a, json_pack("{s:s,s:s}", "PlayerId", p->placed[i].player,
                                               "PlayerSessionId", p->placed[i].psid));
        json_object_set_new(o, "PlacedPlayerSessions", a);
    }
    return o;
}

static void iso_time(hg_buf_t *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[96];
    snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    hg_jsonw_str(b, s);
}

/* The queue event's detail as GameLift publishes it (gamelift-wire.md §5.3):
 * {"type":"PlacementFulfilled","placementId",…}; times as ISO-8601 strings when iso (GameLift's
 * events), else as epoch seconds like the rest of the API (the event stream). */
void hg_gl_placement_event(hg_buf_t *b, const struct hg_pl_placement *p, const char *custom,
                           int iso)
{
    void (*when)(hg_buf_t *, int64_t) = iso ? iso_time : hg_jsonw_time_ms;
    static const char *const types[] = {"PlacementPending", "PlacementFulfilled",
                                        "PlacementCancelled", "PlacementTimedOut",
                                        "PlacementFailed"};
    hg_buf_puts(b, "{\"type\":");
    hg_jsonw_str(b, types[p->status <= HG_PL_FAILED ? p->status : HG_PL_FAILED]);
    hg_buf_puts(b, ",\"placementId\":");
    hg_jsonw_str(b, p->id);
    hg_buf_puts(b, ",\"queueName\":");
    hg_jsonw_str(b, p->queue_name);
    hg_buf_puts(b, ",\"startTime\":");
    when(b, p->start_ms);
    hg_buf_puts(b, ",\"endTime\":");
    when(b, p->end_ms);
    if (p->status == HG_PL_FULFILLED) {
        char port[16];
        snprintf(port, sizeof(port), "%d", p->port);
        hg_buf_puts(b, ",\"gameSessionArn\":");
        hg_jsonw_str(b, p->gs_arn);
        hg_buf_puts(b, ",\"gameSessionRegion\":");
        hg_jsonw_str(b, p->location);
        hg_buf_puts(b, ",\"ipAddress\":");
        hg_jsonw_str(b, p->ip ? p->ip : "");
        hg_buf_puts(b, ",\"dnsName\":");
        hg_jsonw_str(b, p->dns ? p->dns : "");
        hg_buf_puts(b, ",\"port\":");
        hg_jsonw_str(b, port); /* a string in GameLift's published example */
        hg_buf_puts(b, ",\"placedPlayerSessions\":[");
        for (size_t i = 0; i < p->nplaced; i++) {
            hg_buf_puts(b, i ? ",{\"playerId\":" : "{\"playerId\":");
            hg_jsonw_str(b, p->placed[i].player);
            hg_buf_puts(b, ",\"playerSessionId\":");
            hg_jsonw_str(b, p->placed[i].psid);
            hg_buf_puts(b, "}");
        }
        hg_buf_puts(b, "]");
    }
    if (custom) {
        hg_buf_puts(b, ",\"customEventData\":");
        hg_jsonw_str(b, custom);
    }
    hg_buf_puts(b, "}");
}

/* The EventBridge envelope GameLift sends queue events in (detail-type "GameLift Queue
 * Placement Event"), for a queue's http(s) NotificationTarget. */
void hg_gl_placement_notification(hg_buf_t *b, const struct hg_pl_placement *p,
                                  const char *queue_arn, const char *custom, const char *region,
                                  const char *account, int64_t now_ms)
{
    char id[37];
    hg_api_request_id(id);
    hg_buf_puts(b, "{\"version\":\"0\",\"id\":");
    hg_jsonw_str(b, id);
    hg_buf_puts(b, ",\"detail-type\":\"GameLift Queue Placement Event\",\"source\":"
                   "\"aws.gamelift\",\"account\":");
    hg_jsonw_str(b, account);
    hg_buf_puts(b, ",\"time\":");
    iso_time(b, now_ms);
    hg_buf_puts(b, ",\"region\":");
    hg_jsonw_str(b, region);
    hg_buf_puts(b, ",\"resources\":[");
    hg_jsonw_str(b, queue_arn);
    hg_buf_puts(b, "],\"detail\":");
    hg_gl_placement_event(b, p, custom, 1);
    hg_buf_puts(b, "}");
}

int hg_gl_check_target(hg_gl_call_t *c)
{
    const char *url = hg_gl_str(c->in, "NotificationTarget");
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return 0;
    char host[256];
    if (strlen(url) > 300 || hg_webhook_url_host(url, host, sizeof(host)) < 0)
        return hg_error_set(&c->err, HG_EINVAL,
                            "NotificationTarget: %s is not an http(s) URL of at most 300 "
                            "characters with a host",
                            url);
    const char *list = c->api->notification_hosts;
    size_t hl = strlen(host);
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && s[0] == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n == hl && strncasecmp(s, host, n) == 0)
            return 0;
        if (e == NULL)
            break;
        s = e + 1;
    }
    return hg_error_set(&c->err, HG_EINVAL,
                        "NotificationTarget: host %s is not allowed (hangard's notification-hosts "
                        "option lists the hosts events may be posted to)",
                        host);
}

/* ---- queues ---- */

#define MAX_LIST 100

typedef struct queue_args {
    hg_pl_queue_in_t in;
    const char *dests[HG_PL_MAX_DESTINATIONS];
    hg_pl_policy_t pol[HG_PL_MAX_POLICIES];
    const char *allowed[MAX_LIST];
    hg_pl_prio_t order[4];
    const char *loc_order[MAX_LIST];
    json_t *cfg; /* owned */
} queue_args_t;

/* The queue members of a Create/Update request into the domain's input and the API members
 * kept for Describe. */
static int queue_args(hg_gl_call_t *c, queue_args_t *a)
{
    memset(a, 0, sizeof(*a));
    a->in.timeout_s = -1;
    a->cfg = json_object();
    json_t *in = c->in, *v, *e;
    size_t i;
    if ((v = json_object_get(in, "TimeoutInSeconds"))) {
        a->in.timeout_s = json_integer_value(v);
        if (a->in.timeout_s > 86400)
            return hg_error_set(&c->err, HG_EINVAL, "TimeoutInSeconds: at most 86400");
    }
    if ((v = json_object_get(in, "Destinations"))) {
        if (json_array_size(v) > HG_PL_MAX_DESTINATIONS)
            return hg_error_set(&c->err, HG_EINVAL, "Destinations: at most %d",
                                HG_PL_MAX_DESTINATIONS);
        a->in.has_dests = 1;
        json_array_foreach (v, i, e)
            a->dests[a->in.ndests++] = hg_gl_str(e, "DestinationArn");
        a->in.dests = a->dests;
        json_object_set(a->cfg, "Destinations", v);
    }
    if ((v = json_object_get(in, "PlayerLatencyPolicies"))) {
        if (json_array_size(v) > HG_PL_MAX_POLICIES)
            return hg_error_set(&c->err, HG_EINVAL, "PlayerLatencyPolicies: at most %d",
                                HG_PL_MAX_POLICIES);
        a->in.has_policies = 1;
        json_array_foreach (v, i, e) {
            json_t *cap = json_object_get(e, "MaximumIndividualPlayerLatencyMilliseconds");
            json_t *dur = json_object_get(e, "PolicyDurationSeconds");
            if (cap == NULL)
                return hg_error_set(&c->err, HG_EINVAL,
                                    "PlayerLatencyPolicies: "
                                    "MaximumIndividualPlayerLatencyMilliseconds is required");
            a->pol[a->in.npolicies++] =
                (hg_pl_policy_t){json_integer_value(cap), dur ? json_integer_value(dur) : -1};
        }
        a->in.policies = a->pol;
        json_object_set(a->cfg, "PlayerLatencyPolicies", v);
    }
    if ((v = json_object_get(in, "FilterConfiguration"))) {
        json_t *al = json_object_get(v, "AllowedLocations");
        a->in.has_allowed = 1;
        json_array_foreach (al, i, e)
            if (i < MAX_LIST)
                a->allowed[a->in.nallowed++] = json_string_value(e);
        a->in.allowed = a->allowed;
        json_object_set(a->cfg, "FilterConfiguration", a->in.nallowed ? v : json_null());
    }
    if ((v = json_object_get(in, "PriorityConfiguration"))) {
        static const char *const names[] = {"LATENCY", "COST", "DESTINATION", "LOCATION"};
        a->in.has_priority = 1;
        json_array_foreach (json_object_get(v, "PriorityOrder"), i, e)
            for (int k = 0; k < 4; k++)
                if (strcmp(json_string_value(e), names[k]) == 0 && a->in.norder < 4)
                    a->order[a->in.norder++] = (hg_pl_prio_t)k;
        json_array_foreach (json_object_get(v, "LocationOrder"), i, e)
            if (i < MAX_LIST)
                a->loc_order[a->in.nloc_order++] = json_string_value(e);
        if (json_array_size(json_object_get(v, "PriorityOrder")) > 4)
            return hg_error_set(&c->err, HG_EINVAL, "PriorityOrder: at most 4 entries");
        a->in.order = a->order;
        a->in.loc_order = a->loc_order;
        json_object_set(a->cfg, "PriorityConfiguration", a->in.norder ? v : json_null());
    }
    static const char *const kept[] = {"CustomEventData", "NotificationTarget", NULL};
    for (const char *const *k = kept; *k; k++)
        if ((v = json_object_get(in, *k)))
            json_object_set(a->cfg, *k, v);
    a->in.cfg = a->cfg;
    return 0;
}

static int create_queue(hg_gl_call_t *c)
{
    queue_args_t a;
    int rc = hg_gl_check_target(c);
    if (rc < 0)
        return rc;
    rc = queue_args(c, &a);
    json_t *tags = json_object_get(c->in, "Tags");
    hg_pl_queue_t *q;
    if (rc == 0)
        rc = hg_pl_queue_create(PL(c), hg_gl_str(c->in, "Name"), &a.in,
                                tags ? json_deep_copy(tags) : NULL, c->txn, &q, &c->err);
    if (rc == 0) {
        c->out = hg_gl_wrap("GameSessionQueue", render_queue(q));
    }
    json_decref(a.cfg);
    return rc;
}

static int get_queue(hg_gl_call_t *c, hg_pl_queue_t **q)
{
    const char *name = hg_gl_str(c->in, "Name");
    *q = hg_pl_queue_find(PL(c), name);
    return *q ? 0 : hg_error_set(&c->err, HG_ENOTFOUND, "Game session queue %s not found", name);
}

static int update_queue(hg_gl_call_t *c)
{
    hg_pl_queue_t *q;
    queue_args_t a;
    int rc = get_queue(c, &q);
    if (rc < 0 || (rc = hg_gl_check_target(c)) < 0)
        return rc;
    if ((rc = queue_args(c, &a)) == 0 &&
        (rc = hg_pl_queue_update(PL(c), q, &a.in, c->txn, &c->err)) == 0) {
        c->out = hg_gl_wrap("GameSessionQueue", render_queue(q));
    }
    json_decref(a.cfg);
    return rc;
}

static int delete_queue(hg_gl_call_t *c)
{
    hg_pl_queue_t *q;
    int rc = get_queue(c, &q);
    if (rc < 0)
        return rc;
    hg_pl_queue_delete(PL(c), q, c->txn);
    c->out = json_object();
    return 0;
}

static int describe_queues(hg_gl_call_t *c)
{
    json_t *names = json_object_get(c->in, "Names");
    json_t *arr = json_array();
    if (json_array_size(names)) {
        size_t i;
        json_t *v;
        json_array_foreach (names, i, v) {
            hg_pl_queue_t *q = hg_pl_queue_find(PL(c), json_string_value(v));
            if (q)
                json_array_append_new(arr, render_queue(q));
        }
        c->out = hg_gl_wrap("GameSessionQueues", arr);
        return 0;
    }
    uint64_t after;
    int rc = hg_gl_token_seq(c->in, "q", &after, &c->err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, 100, 1000);
    hg_pl_queue_t **out = hg_malloc((limit + 1) * sizeof(*out));
    int more;
    size_t n = hg_pl_queue_list(PL(c), after, limit, out, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_queue(out[i]));
    c->out = hg_gl_wrap("GameSessionQueues", arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("q", out[n - 1]->seq));
    hg_free(out);
    return 0;
}

/* ---- placements ---- */

static int start_placement(hg_gl_call_t *c)
{
    hg_pl_queue_t *q = hg_pl_queue_find(PL(c), hg_gl_str(c->in, "GameSessionQueueName"));
    const char *id = hg_gl_str(c->in, "PlacementId");
    hg_pl_placement_t *p = hg_pl_find(PL(c), id);
    if (p) { /* the same PlacementId again: that placement, as it is now */
        c->out = hg_gl_wrap("GameSessionPlacement", render_placement(p));
        return 0;
    }
    if (q == NULL)
        return hg_error_set(&c->err, HG_ENOTFOUND, "Game session queue %s not found",
                            hg_gl_str(c->in, "GameSessionQueueName"));
    json_t *lat = json_object_get(c->in, "PlayerLatencies");
    json_t *des = json_object_get(c->in, "DesiredPlayerSessions");
    size_t nlat = json_array_size(lat), ndes = json_array_size(des);
    if (nlat > HG_PL_MAX_LATENCIES || ndes > HG_PL_MAX_DESIRED)
        return hg_error_set(&c->err, HG_EINVAL,
                            "at most %d PlayerLatencies and %d DesiredPlayerSessions",
                            HG_PL_MAX_LATENCIES, HG_PL_MAX_DESIRED);
    hg_pl_latency_t *l = hg_calloc(nlat + 1, sizeof(*l));
    const char **dp = hg_calloc(ndes + 1, sizeof(*dp)), **dd = hg_calloc(ndes + 1, sizeof(*dd));
    size_t nl = 0, i;
    json_t *e;
    int rc = 0;
    json_array_foreach (lat, i, e) {
        const char *pid = hg_gl_str(e, "PlayerId"), *reg = hg_gl_str(e, "RegionIdentifier");
        json_t *ms = json_object_get(e, "LatencyInMilliseconds");
        if (!pid || !reg || !json_is_number(ms) || json_number_value(ms) < 0) {
            rc = hg_error_set(&c->err, HG_EINVAL,
                              "PlayerLatencies: each entry needs PlayerId, RegionIdentifier and "
                              "a LatencyInMilliseconds of at least 0");
            goto out;
        }
        l[nl++] = (hg_pl_latency_t){pid, reg, json_number_value(ms)};
    }
    json_array_foreach (des, i, e) {
        dp[i] = hg_gl_str(e, "PlayerId");
        dd[i] = hg_gl_str(e, "PlayerData");
        if (dp[i] == NULL) {
            rc = hg_error_set(&c->err, HG_EINVAL, "DesiredPlayerSessions: PlayerId is required");
            goto out;
        }
    }
    /* PriorityConfigurationOverride is newer than the model the validation tables come from:
     * its shape is checked here */
    json_t *ov = json_object_get(c->in, "PriorityConfigurationOverride");
    json_t *ol = json_object_get(ov, "LocationOrder");
    json_t *fbj = json_object_get(ov, "PlacementFallbackStrategy");
    if ((ov && !json_is_object(ov)) || (ol && !json_is_array(ol)) ||
        (fbj && !json_is_string(fbj))) {
        rc = hg_error_set(&c->err, HG_EINVAL,
                          "PriorityConfigurationOverride must be an object with a LocationOrder "
                          "list and a PlacementFallbackStrategy string");
        goto out;
    }
    const char *olv[16];
    size_t nov = 0;
    json_array_foreach (ol, i, e) {
        if (!json_is_string(e)) {
            rc = hg_error_set(&c->err, HG_EINVAL,
                              "PriorityConfigurationOverride.LocationOrder: locations are strings");
            goto out;
        }
        if (nov < 16)
            olv[nov++] = json_string_value(e);
    }
    const char *fb = json_string_value(fbj);
    json_t *req = json_object();
    static const char *const echoed[] = {"GameProperties",
                                         "MaximumPlayerSessionCount",
                                         "GameSessionName",
                                         "PlayerLatencies",
                                         "DesiredPlayerSessions",
                                         "GameSessionData",
                                         "PriorityConfigurationOverride",
                                         NULL};
    for (const char *const *k = echoed; *k; k++)
        if (json_object_get(c->in, *k))
            json_object_set(req, *k, json_object_get(c->in, *k));
    hg_pl_start_in_t in = {
        .id = id,
        .req = req,
        .max_players = hg_gl_int(c->in, "MaximumPlayerSessionCount", 0),
        .lat = l,
        .nlat = nl,
        .desired = dp,
        .desired_data = dd,
        .ndesired = ndes,
        .override_locs = olv,
        .noverride = nov,
        .override_none = fb && strcmp(fb, "NONE") == 0,
    };
    int existed;
    rc = hg_pl_start(PL(c), q, &in, c->txn, &p, &existed, &c->err);
    json_decref(req);
    if (rc == 0)
        c->out = hg_gl_wrap("GameSessionPlacement", render_placement(p));
out:
    hg_free(l);
    hg_free(dp);
    hg_free(dd);
    return rc;
}

static int get_placement(hg_gl_call_t *c, hg_pl_placement_t **p)
{
    const char *id = hg_gl_str(c->in, "PlacementId");
    *p = hg_pl_find(PL(c), id);
    return *p ? 0 : hg_error_set(&c->err, HG_ENOTFOUND, "Placement %s not found", id);
}

static int describe_placement(hg_gl_call_t *c)
{
    hg_pl_placement_t *p;
    int rc = get_placement(c, &p);
    if (rc == 0)
        c->out = hg_gl_wrap("GameSessionPlacement", render_placement(p));
    return rc;
}

static int stop_placement(hg_gl_call_t *c)
{
    hg_pl_placement_t *p;
    int rc = get_placement(c, &p);
    if (rc == 0 && (rc = hg_pl_stop(PL(c), p, c->txn, &c->err)) == 0)
        c->out = hg_gl_wrap("GameSessionPlacement", render_placement(p));
    return rc;
}

#define OP(fn)                                                                                     \
    static int fn##_op(hg_gl_call_t *c)                                                            \
    {                                                                                              \
        return hg_gl_fit(c, fn(c));                                                                \
    }
OP(create_queue)
OP(update_queue)
OP(delete_queue)
OP(describe_queues)
OP(start_placement)
OP(describe_placement)
OP(stop_placement)
#undef OP

const hg_gl_handler_t hg_gl_placement_handlers[] = {
    {"CreateGameSessionQueue", create_queue_op},
    {"UpdateGameSessionQueue", update_queue_op},
    {"DeleteGameSessionQueue", delete_queue_op},
    {"DescribeGameSessionQueues", describe_queues_op},
    {"StartGameSessionPlacement", start_placement_op},
    {"DescribeGameSessionPlacement", describe_placement_op},
    {"StopGameSessionPlacement", stop_placement_op},
    {NULL, NULL},
};
