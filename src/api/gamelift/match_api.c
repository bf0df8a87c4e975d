/* hangar — GameLift FlexMatch operations (gamelift-wire.md §6) over match/flexmatch.h.
 *
 * Rule sets: Create, Describe (by names, or paged in creation order), Delete, Validate.
 * Configurations: Create, Describe (by names, by rule set, or paged), Update, Delete.
 * Tickets: StartMatchmaking, DescribeMatchmaking, StopMatchmaking, AcceptMatch,
 * StartMatchBackfill.
 *
 * Choices where GameLift publishes nothing (docs/flexmatch.md §10):
 *   - a TicketId seen before returns that ticket as it is now (StartMatchmaking is idempotent);
 *   - StopMatchmaking on a CANCELLED ticket answers {} again; on a ticket PLACING or otherwise
 *     ended, InvalidRequestException;
 *   - DescribeMatchmakingRuleSets with a name that does not exist is NotFoundException;
 *     DescribeMatchmakingConfigurations and DescribeMatchmaking omit unknown names and ids;
 *   - a NotificationTarget may be an http(s):// URL on a host of the notification-hosts option:
 *     FlexMatch events are POSTed there as EventBridge events (hg_gl_matchmaking_notification).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/gamelift/gamelift.h"
#include "core/alloc.h"
#include "core/jsonw.h"
#include "match/flexmatch.h"

#define MAX_TICKET_IDS 10 /* DescribeMatchmaking TicketIds */
#define MAX_PAGE_RULE_SETS 10
#define MAX_PAGE_CONFIGS 100

static hg_flexmatch_t *FM(hg_gl_call_t *c)
{
    return c->api->flexmatch;
}

/* ---- renderers ---- */

static json_t *render_rule_set(const hg_fm_ruleset_t *rs)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "RuleSetName", rs->name, "RuleSetArn", rs->arn,
                     "RuleSetBody", rs->body, "CreationTime", hg_gl_time(rs->created_ms));
}

static json_t *render_config(const hg_fm_config_t *cf)
{
    json_t *o = json_pack("{s:s,s:s,s:o}", "Name", cf->name, "ConfigurationArn", cf->arn,
                          "CreationTime", hg_gl_time(cf->created_ms));
    json_object_update(o, cf->cfg);
    if (json_object_get(o, "FlexMatchMode") == NULL)
        json_object_set_new(o, "FlexMatchMode", json_string("WITH_QUEUE"));
    if (cf->accept_required && json_object_get(o, "AcceptanceTimeoutSeconds") == NULL)
        json_object_set_new(o, "AcceptanceTimeoutSeconds", json_integer(cf->accept_timeout_s));
    if (json_object_get(o, "AdditionalPlayerCount") == NULL)
        json_object_set_new(o, "AdditionalPlayerCount", json_integer(0));
    return o;
}

/* A MatchmakingTicket, written as text (StartMatchmaking answers thousands a second). Players as
 * the request gave them, with Team once matched (a backfill ticket's from the start): while no
 * player has a team the ticket's rendered players text is spliced as it is. */
static void render_ticket(hg_buf_t *b, hg_gl_call_t *c, hg_fm_ticket_t *t)
{
    char arn[512];
    hg_fm_config_arn(FM(c), t->config_name, arn, sizeof(arn));
    hg_buf_reserve(b, 1024);
    hg_buf_puts(b, "{\"TicketId\":");
    hg_jsonw_str(b, t->id);
    hg_jsonw_kv_str(b, "ConfigurationName", t->config_name);
    hg_jsonw_kv_str(b, "ConfigurationArn", arn);
    hg_jsonw_kv_str(b, "Status", hg_fm_status_name(t->status));
    hg_buf_puts(b, ",\"StartTime\":");
    hg_jsonw_time_ms(b, t->start_ms);
    if (t->reason)
        hg_jsonw_kv_str(b, "StatusReason", t->reason);
    if (t->message)
        hg_jsonw_kv_str(b, "StatusMessage", t->message);
    if (t->status >= HG_FM_COMPLETED) {
        hg_buf_puts(b, ",\"EndTime\":");
        hg_jsonw_time_ms(b, t->end_ms);
    }
    int64_t est = t->status == HG_FM_QUEUED || t->status == HG_FM_SEARCHING
                      ? hg_fm_estimated_wait_ms(FM(c), t->config)
                      : -1;
    if (est >= 0) { /* whole seconds, rounded up: a wait under a second is not "0" */
        hg_buf_puts(b, ",\"EstimatedWaitTime\":");
        hg_jsonw_int(b, (est + 999) / 1000);
    }
    hg_buf_puts(b, ",\"Players\":");
    int teams = 0;
    for (size_t i = 0; i < t->nplayers; i++)
        teams |= t->players[i].team != NULL;
    if (!teams) {
        size_t plen;
        const char *players = hg_fm_players_text(t, &plen);
        hg_buf_append(b, players, plen);
    } else {
        hg_buf_append(b, "[", 1);
        size_t i;
        json_t *p;
        /* an ended ticket keeps its players as text only */
        json_t *players = t->players_json ? json_incref(t->players_json)
                                          : json_loads(hg_fm_players_text(t, NULL), 0, NULL);
        json_array_foreach (players, i, p) {
            hg_buf_puts(b, i ? ",{" : "{");
            const char *k;
            json_t *v;
            int n = 0;
            json_object_foreach (p, k, v) {
                if (strcmp(k, "Team") == 0)
                    continue;
                if (n++)
                    hg_buf_append(b, ",", 1);
                hg_jsonw_key(b, k);
                hg_jsonw_value(b, v);
            }
            if (i < t->nplayers && t->players[i].team) {
                if (n)
                    hg_buf_append(b, ",", 1);
                hg_jsonw_key(b, "Team");
                hg_jsonw_str(b, t->players[i].team);
            }
            hg_buf_append(b, "}", 1);
        }
        json_decref(players);
        hg_buf_append(b, "]", 1);
    }
    if (t->gs_arn) {
        hg_buf_puts(b, ",\"GameSessionConnectionInfo\":{\"GameSessionArn\":");
        hg_jsonw_str(b, t->gs_arn);
        if (t->ip)
            hg_jsonw_kv_str(b, "IpAddress", t->ip);
        if (t->dns)
            hg_jsonw_kv_str(b, "DnsName", t->dns);
        if (t->port > 0) {
            hg_buf_puts(b, ",\"Port\":");
            hg_jsonw_int(b, t->port);
        }
        hg_buf_puts(b, ",\"MatchedPlayerSessions\":[");
        int n = 0;
        for (size_t i = 0; i < t->nplayers; i++) {
            if (!t->players[i].psid[0])
                continue;
            hg_buf_puts(b, n++ ? ",{\"PlayerId\":" : "{\"PlayerId\":");
            hg_jsonw_str(b, t->players[i].id);
            hg_jsonw_kv_str(b, "PlayerSessionId", t->players[i].psid);
            hg_buf_append(b, "}", 1);
        }
        hg_buf_puts(b, "]}");
    }
    hg_buf_append(b, "}", 1);
}

/* {"MatchmakingTicket": …} as the answer's text. */
static void answer_ticket(hg_gl_call_t *c, hg_fm_ticket_t *t)
{
    hg_buf_puts(&c->out_text, "{\"MatchmakingTicket\":");
    render_ticket(&c->out_text, c, t);
    hg_buf_append(&c->out_text, "}", 1);
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

void hg_gl_matchmaking_notification(hg_buf_t *b, const char *detail, size_t len,
                                    const char *config_arn, const char *region, const char *account,
                                    int64_t now_ms)
{
    char id[37];
    hg_api_request_id(id);
    hg_buf_puts(b, "{\"version\":\"0\",\"id\":");
    hg_jsonw_str(b, id);
    hg_buf_puts(b, ",\"detail-type\":\"GameLift Matchmaking Event\",\"source\":"
                   "\"aws.gamelift\",\"account\":");
    hg_jsonw_str(b, account);
    hg_buf_puts(b, ",\"time\":");
    iso_time(b, now_ms);
    hg_buf_puts(b, ",\"region\":");
    hg_jsonw_str(b, region);
    hg_buf_puts(b, ",\"resources\":[");
    hg_jsonw_str(b, config_arn);
    hg_buf_puts(b, "],\"detail\":");
    hg_buf_append(b, detail, len);
    hg_buf_puts(b, "}");
}

/* ---- rule sets ---- */

static int create_rule_set(hg_gl_call_t *c)
{
    json_t *tags = json_object_get(c->in, "Tags");
    json_t *body = json_object_get(c->in, "RuleSetBody");
    hg_fm_ruleset_t *rs;
    int rc = hg_fm_ruleset_create(FM(c), hg_gl_str(c->in, "Name"), json_string_value(body),
                                  json_string_length(body), tags ? json_deep_copy(tags) : NULL,
                                  c->txn, &rs, &c->err);
    if (rc == 0)
        c->out = hg_gl_wrap("RuleSet", render_rule_set(rs));
    return rc;
}

static int validate_rule_set(hg_gl_call_t *c)
{
    json_t *body = json_object_get(c->in, "RuleSetBody");
    hg_rules_t *rules = NULL;
    int rc = hg_rules_parse(json_string_value(body), json_string_length(body), &rules, &c->err);
    hg_rules_free(rules);
    if (rc == 0)
        c->out = json_pack("{s:b}", "Valid", 1);
    return rc;
}

static int describe_rule_sets(hg_gl_call_t *c)
{
    json_t *names = json_object_get(c->in, "Names");
    json_t *arr = json_array();
    if (json_array_size(names)) {
        size_t i;
        json_t *v;
        json_array_foreach (names, i, v) {
            hg_fm_ruleset_t *rs = hg_fm_ruleset_find(FM(c), json_string_value(v));
            if (rs == NULL) {
                json_decref(arr);
                return hg_error_set(&c->err, HG_ENOTFOUND, "Matchmaking rule set %s not found",
                                    json_string_value(v));
            }
            json_array_append_new(arr, render_rule_set(rs));
        }
        c->out = hg_gl_wrap("RuleSets", arr);
        return 0;
    }
    uint64_t after;
    int rc = hg_gl_token_seq(c->in, "rs", &after, &c->err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, MAX_PAGE_RULE_SETS, MAX_PAGE_RULE_SETS);
    hg_fm_ruleset_t *out[MAX_PAGE_RULE_SETS];
    int more;
    size_t n = hg_fm_ruleset_list(FM(c), after, limit, out, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_rule_set(out[i]));
    c->out = hg_gl_wrap("RuleSets", arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("rs", out[n - 1]->seq));
    return 0;
}

static int delete_rule_set(hg_gl_call_t *c)
{
    const char *name = hg_gl_str(c->in, "Name");
    hg_fm_ruleset_t *rs = hg_fm_ruleset_find(FM(c), name);
    if (rs == NULL)
        return hg_error_set(&c->err, HG_ENOTFOUND, "Matchmaking rule set %s not found", name);
    int rc = hg_fm_ruleset_delete(FM(c), rs, c->txn, &c->err);
    if (rc == 0)
        c->out = json_object();
    return rc;
}

/* ---- configurations ---- */

static int create_config(hg_gl_call_t *c)
{
    int rc = hg_gl_check_target(c);
    if (rc < 0)
        return rc;
    json_t *tags = json_object_get(c->in, "Tags");
    hg_fm_config_t *cf;
    rc = hg_fm_config_create(FM(c), hg_gl_str(c->in, "Name"), c->in,
                             tags ? json_deep_copy(tags) : NULL, c->txn, &cf, &c->err);
    if (rc == 0)
        c->out = hg_gl_wrap("Configuration", render_config(cf));
    return rc;
}

static int get_config(hg_gl_call_t *c, const char *member, hg_fm_config_t **cf)
{
    const char *name = hg_gl_str(c->in, member);
    *cf = hg_fm_config_find(FM(c), name);
    return *cf ? 0
               : hg_error_set(&c->err, HG_ENOTFOUND, "Matchmaking configuration %s not found",
                              name);
}

static int update_config(hg_gl_call_t *c)
{
    hg_fm_config_t *cf;
    int rc = get_config(c, "Name", &cf);
    if (rc < 0 || (rc = hg_gl_check_target(c)) < 0)
        return rc;
    if ((rc = hg_fm_config_update(FM(c), cf, c->in, c->txn, &c->err)) == 0)
        c->out = hg_gl_wrap("Configuration", render_config(cf));
    return rc;
}

static int delete_config(hg_gl_call_t *c)
{
    hg_fm_config_t *cf;
    int rc = get_config(c, "Name", &cf);
    if (rc < 0)
        return rc;
    hg_fm_config_delete(FM(c), cf, c->txn);
    c->out = json_object();
    return 0;
}

static int describe_configs(hg_gl_call_t *c)
{
    json_t *names = json_object_get(c->in, "Names");
    json_t *arr = json_array();
    if (json_array_size(names)) {
        size_t i;
        json_t *v;
        json_array_foreach (names, i, v) {
            hg_fm_config_t *cf = hg_fm_config_find(FM(c), json_string_value(v));
            if (cf)
                json_array_append_new(arr, render_config(cf));
        }
        c->out = hg_gl_wrap("Configurations", arr);
        return 0;
    }
    uint64_t after;
    int rc = hg_gl_token_seq(c->in, "mc", &after, &c->err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    size_t limit = hg_gl_limit(c->in, MAX_PAGE_CONFIGS, MAX_PAGE_CONFIGS);
    hg_fm_config_t *out[MAX_PAGE_CONFIGS];
    int more;
    size_t n = hg_fm_config_list(FM(c), hg_gl_str(c->in, "RuleSetName"), after, limit, out, &more);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_config(out[i]));
    c->out = hg_gl_wrap("Configurations", arr);
    if (more)
        json_object_set_new(c->out, "NextToken", hg_gl_seq_token("mc", out[n - 1]->seq));
    return 0;
}

/* ---- tickets ---- */

static int start_matchmaking(hg_gl_call_t *c)
{
    const char *id = hg_gl_str(c->in, "TicketId");
    hg_fm_ticket_t *t = id && *id ? hg_fm_find(FM(c), id) : NULL;
    if (t) { /* the same TicketId again: that ticket, as it is now */
        answer_ticket(c, t);
        return 0;
    }
    hg_fm_config_t *cf;
    int rc = get_config(c, "ConfigurationName", &cf);
    int existed;
    if (rc == 0 && (rc = hg_fm_start(FM(c), cf, id, json_object_get(c->in, "Players"), c->txn, &t,
                                     &existed, &c->err)) == 0)
        answer_ticket(c, t);
    return rc;
}

static int start_match_backfill(hg_gl_call_t *c)
{
    const char *id = hg_gl_str(c->in, "TicketId");
    hg_fm_config_t *cf;
    hg_fm_ticket_t *t;
    int rc = get_config(c, "ConfigurationName", &cf);
    int existed;
    if (rc == 0 && (rc = hg_fm_backfill_start(FM(c), cf, id, hg_gl_str(c->in, "GameSessionArn"),
                                              json_object_get(c->in, "Players"), NULL, c->txn, &t,
                                              &existed, &c->err)) == 0)
        answer_ticket(c, t);
    return rc;
}

static int describe_matchmaking(hg_gl_call_t *c)
{
    json_t *ids = json_object_get(c->in, "TicketIds");
    if (json_array_size(ids) > MAX_TICKET_IDS)
        return hg_error_set(&c->err, HG_EINVAL, "TicketIds: at most %d", MAX_TICKET_IDS);
    hg_buf_puts(&c->out_text, "{\"TicketList\":[");
    size_t i, n = 0;
    json_t *v;
    json_array_foreach (ids, i, v) {
        hg_fm_ticket_t *t = hg_fm_find(FM(c), json_string_value(v));
        if (t == NULL)
            continue;
        if (n++)
            hg_buf_append(&c->out_text, ",", 1);
        render_ticket(&c->out_text, c, t);
    }
    hg_buf_puts(&c->out_text, "]}");
    return 0;
}

static int get_ticket(hg_gl_call_t *c, hg_fm_ticket_t **t)
{
    const char *id = hg_gl_str(c->in, "TicketId");
    *t = hg_fm_find(FM(c), id);
    return *t ? 0 : hg_error_set(&c->err, HG_ENOTFOUND, "Matchmaking ticket %s not found", id);
}

static int stop_matchmaking(hg_gl_call_t *c)
{
    hg_fm_ticket_t *t;
    int rc = get_ticket(c, &t);
    if (rc == 0 && (rc = hg_fm_stop(FM(c), t, c->txn, &c->err)) == 0)
        c->out = json_object();
    return rc;
}

static int accept_match(hg_gl_call_t *c)
{
    hg_fm_ticket_t *t;
    int rc = get_ticket(c, &t);
    if (rc < 0)
        return rc;
    json_t *ids = json_object_get(c->in, "PlayerIds");
    size_t n = json_array_size(ids);
    if (n == 0 || n > HG_FM_MAX_PLAYERS)
        return hg_error_set(&c->err, HG_EINVAL, "PlayerIds: 1 to %d players of the ticket",
                            HG_FM_MAX_PLAYERS);
    const char *pv[HG_FM_MAX_PLAYERS];
    for (size_t i = 0; i < n; i++)
        pv[i] = json_string_value(json_array_get(ids, i));
    const char *type = hg_gl_str(c->in, "AcceptanceType");
    rc = hg_fm_accept(FM(c), t, pv, n, strcmp(type, "ACCEPT") == 0, c->txn, &c->err);
    if (rc == 0)
        c->out = json_object();
    return rc;
}

#define OP(fn)                                                                                     \
    static int fn##_op(hg_gl_call_t *c)                                                            \
    {                                                                                              \
        if (c->api->flexmatch == NULL)                                                             \
            return hg_error_set(&c->err, HG_ENOTIMPL, "FlexMatch is not running");                 \
        return hg_gl_fit(c, fn(c));                                                                \
    }
OP(create_rule_set)
OP(validate_rule_set)
OP(describe_rule_sets)
OP(delete_rule_set)
OP(create_config)
OP(update_config)
OP(delete_config)
OP(describe_configs)
OP(start_matchmaking)
OP(describe_matchmaking)
OP(stop_matchmaking)
OP(accept_match)
OP(start_match_backfill)
#undef OP

const hg_gl_handler_t hg_gl_match_handlers[] = {
    {"CreateMatchmakingRuleSet", create_rule_set_op},
    {"ValidateMatchmakingRuleSet", validate_rule_set_op},
    {"DescribeMatchmakingRuleSets", describe_rule_sets_op},
    {"DeleteMatchmakingRuleSet", delete_rule_set_op},
    {"CreateMatchmakingConfiguration", create_config_op},
    {"UpdateMatchmakingConfiguration", update_config_op},
    {"DeleteMatchmakingConfiguration", delete_config_op},
    {"DescribeMatchmakingConfigurations", describe_configs_op},
    {"StartMatchmaking", start_matchmaking_op},
    {"DescribeMatchmaking", describe_matchmaking_op},
    {"StopMatchmaking", stop_matchmaking_op},
    {"AcceptMatch", accept_match_op},
    {"StartMatchBackfill", start_match_backfill_op},
    {NULL, NULL},
};
