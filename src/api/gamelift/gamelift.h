/* hangar — the GameLift JSON 1.1 protocol layer.
 *
 * One POST / request becomes one hg_gl_call_t: X-Amz-Target routed to the generated operation
 * table (api/gamelift/model.h), SigV4 checked, the key's policy asked for "gamelift:<Op>", the
 * body parsed and validated against the model, then the operation's handler runs. A handler
 * fills call->out (a JSON object, the output shape) or call->err and records its durable
 * changes in call->txn; the layer commits the transaction and answers only after the commit
 * (durable before acknowledged). Handlers never write to the socket.
 *
 * Answers: 200 application/x-amz-json-1.1 with x-amzn-RequestId and Date; errors as
 * {"__type": …, "message": …} with the status from the error map (core/err.h).
 * Timestamps are epoch seconds (JSON numbers, millisecond fraction); absent members are omitted.
 */
#ifndef HG_API_GAMELIFT_GAMELIFT_H
#define HG_API_GAMELIFT_GAMELIFT_H

#include <jansson.h>

#include "api/api.h"
#include "api/gamelift/model.h"
#include "api/gamelift/validate.h"
#include "core/buf.h"

typedef struct hg_gl_call {
    hg_api_t *api;
    hg_http_req_t *req;
    const hg_gl_op_t *op;
    size_t op_index;
    const hg_key_t *key;
    json_t *in;        /* owned by the layer; validated input */
    json_t *out;       /* set by the handler: owned by the layer after return */
    hg_buf_t out_text; /* or the answer already rendered (hot paths); used when non-empty */
    hg_store_txn_t *txn;
    hg_error_t err;
    char request_id[37];
} hg_gl_call_t;

typedef int (*hg_gl_handler_fn)(hg_gl_call_t *call);

typedef struct hg_gl_handler {
    const char *op;
    hg_gl_handler_fn fn;
} hg_gl_handler_t;

/* Handler tables, each ending with {NULL, NULL}. */
extern const hg_gl_handler_t hg_gl_fleetiq_handlers[];
extern const hg_gl_handler_t hg_gl_fleet_handlers[];
extern const hg_gl_handler_t hg_gl_session_handlers[];
extern const hg_gl_handler_t hg_gl_placement_handlers[];
extern const hg_gl_handler_t hg_gl_match_handlers[];

/* A placement's queue event as GameLift publishes it (placement_api.c), appended to b: the
 * detail (iso: times as ISO-8601 strings, else epoch seconds), or the whole EventBridge
 * envelope for a queue's http(s) NotificationTarget. */
struct hg_pl_placement;
void hg_gl_placement_event(hg_buf_t *b, const struct hg_pl_placement *p, const char *custom,
                           int iso);
void hg_gl_placement_notification(hg_buf_t *b, const struct hg_pl_placement *p,
                                  const char *queue_arn, const char *custom, const char *region,
                                  const char *account, int64_t now_ms);

/* A FlexMatch event for a configuration's http(s) NotificationTarget (match_api.c): the
 * EventBridge envelope GameLift sends (detail-type "GameLift Matchmaking Event") around detail
 * (the JSON text of the detail object, len bytes, borrowed), appended to b. */
void hg_gl_matchmaking_notification(hg_buf_t *b, const char *detail, size_t len,
                                    const char *config_arn, const char *region, const char *account,
                                    int64_t now_ms);

/* Helpers for handlers. */
/* An http(s):// NotificationTarget in the request must name a host of the notification-hosts
 * option (placement_api.c); 0, or HG_EINVAL with c->err set. Anything else passes (the model's
 * pattern judged it). */
int hg_gl_check_target(hg_gl_call_t *c);
/* An error type the operation's model does not list becomes InvalidRequestException (same
 * message), so clients only ever see the exceptions their SDK models for that call. */
int hg_gl_fit(hg_gl_call_t *c, int rc);
const char *hg_gl_str(json_t *in, const char *member);        /* NULL when absent */
int hg_gl_int(json_t *in, const char *member, long long def); /* def when absent */
json_t *hg_gl_time(int64_t ms);                               /* new JSON number */
/* {member: v}: takes ownership of v, returns a new object (an output shape's one member). */
json_t *hg_gl_wrap(const char *member, json_t *v);
/* Limit member clamped to 1..max, default def. */
size_t hg_gl_limit(json_t *in, size_t def, size_t max);
/* Pagination tokens: "<kind>:<payload>"; decode checks the kind. */
json_t *hg_gl_token(const char *kind, const char *payload);
/* The token of a page that ends at the item numbered seq: "<kind>:<seq>". */
json_t *hg_gl_seq_token(const char *kind, uint64_t seq);
int hg_gl_token_decode(json_t *in, const char *kind, const char **payload, hg_error_t *err);
/* NextToken of hg_gl_seq_token(kind, …): its seq into *seq (0 without a token); a token of
 * another kind, or whose payload is not a decimal number that fits, is InvalidRequest. */
int hg_gl_token_seq(json_t *in, const char *kind, uint64_t *seq, hg_error_t *err);

#endif
