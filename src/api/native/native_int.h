/* hangar — shared internals of the native /v1 API (only for the files of api/native). */
#ifndef HG_API_NATIVE_NATIVE_INT_H
#define HG_API_NATIVE_NATIVE_INT_H

#include <jansson.h>

#include "api/api.h"
#include "core/buf.h"
#include "players/players.h"

typedef struct hg_native_call {
    hg_api_t *api;
    hg_http_req_t *req;
    const hg_key_t *key; /* the SigV4 key, or */
    hg_player_t *player; /* the player of a bearer token (key NULL), or neither (open calls) */
    char sid[HG_PLAYER_SID_LEN + 1]; /* with player: its session */
    json_t *in;                      /* parsed body (owned) */
    json_t *out;                     /* answer body (owned) */
    hg_buf_t out_text; /* or the answer already rendered (hot paths); used when non-empty */
    int status;        /* success status; 200 when 0 */
    int replayed;      /* an idempotent replay: the answer says Idempotent-Replayed: true */
    hg_store_txn_t *pending_txn; /* a transaction an asynchronous handler is filling */
    char request_id[37];
    hg_error_t err; /* last: its message buffer is not cleared per request (see native.c) */
} hg_native_call_t;

/* Answer (c->err or c->out) and free c. */
void hg_native_finish(hg_native_call_t *c);
/* Free c without answering: its handler took the connection over (a WebSocket, a stream). */
void hg_native_release(hg_native_call_t *c);
/* Commit txn (takes ownership), then answer: durable before acknowledged. */
void hg_native_commit(hg_native_call_t *c, hg_store_txn_t *txn);
/* Parse the body into c->in (an object; empty body = {}). */
int hg_native_parse_body(hg_native_call_t *c);
/* The key must allow `action`. */
int hg_native_require(hg_native_call_t *c, const char *action);
/* A secret the client sends as it is (a bearer token, a player session id) may come over this
 * connection: TLS, loopback, or the allow-plain-bearer option. */
int hg_native_bearer_transport_ok(const hg_native_call_t *c);
/* The key (none for a player) allows `action`; nothing is set. */
int hg_native_allows(const hg_native_call_t *c, const char *action);
/* Query parameter `name`, URL-decoded into out (cap bytes). 1 found, 0 absent, HG_EINVAL when
 * too long or malformed (c->err set). */
int hg_native_query(hg_native_call_t *c, const char *name, char *out, size_t cap);
/* "?limit=": 1..1000, default def. */
int hg_native_limit(hg_native_call_t *c, size_t def, size_t *out);

/* Endpoint groups: rest is the path after the group prefix. */
void hg_native_registry(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_auth(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_players(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_leaderboards(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_logs(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_rooms(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_scripts(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_catalog(hg_native_call_t *c, const char *rest, size_t rest_len);
void hg_native_purchases(hg_native_call_t *c, const char *rest, size_t rest_len);
/* /v1/players/{id|me}/wallet[/credits], …/purchases, …/ledger: 1 when rest is one of them (c is
 * answered), 0 when not (nothing done). */
int hg_native_player_wallet(hg_native_call_t *c, const char *rest, size_t rest_len);

/* The calls open to clients without credentials (their handlers check what they need). */
int hg_native_is_open(const hg_http_req_t *req);

#endif
