/* hangar — the API front: one HTTP handler that routes every request on the one port.
 *
 *     POST /            GameLift JSON 1.1 (api/gamelift), X-Amz-Target: GameLift.<Op>
 *     /v1/...           the native REST API (api/native)
 *     GET /healthz      200 while serving
 *     GET /metrics      Prometheus text
 *     GET /sdk[/]       the GameLift Server SDK WebSocket endpoint (api/sdk)
 *     GET /examples/…   the example pages, when examples-dir is set (api/examples.h)
 *
 * hg_api_t holds borrowed pointers to the domain modules the handlers translate into; the
 * daemon fills it at start-up. Loop thread only.
 */
#ifndef HG_API_API_H
#define HG_API_API_H

#include <stdint.h>
#include <uv.h>

#include "auth/keys.h"
#include "core/err.h"
#include "fleet/fleet.h"
#include "fleetiq/fleetiq.h"
#include "http/http.h"
#include "registry/registry.h"
#include "rt/clock.h"
#include "store/store.h"

typedef struct hg_api {
    uv_loop_t *loop;
    hg_clock_t *clock;
    hg_store_t *store;
    hg_keys_t *keys;
    hg_fleetiq_t *fleetiq;
    struct hg_fleet *fleet;
    hg_registry_t *registry;
    struct hg_events *events;
    struct hg_sdk *sdk;
    struct hg_placement *placement;
    struct hg_flexmatch *flexmatch;
    struct hg_players *players;
    struct hg_ptokens *ptokens;
    struct hg_lbs *leaderboards;
    struct hg_logs *logs;
    struct hg_wallets *wallet;
    struct hg_rooms *rooms;
    struct hg_scripts *scripts;
    const struct hg_examples *examples;   /* the example pages; NULL: not served (404) */
    struct hg_ratelimit *open_auth_limit; /* unsigned /v1/auth calls, per source address */
    int auth_device;                      /* device logins without a signature are allowed */
    int allow_plain_bearer;               /* bearer tokens over plain HTTP from anywhere */
    int64_t sigv4_skew_s;
    char region[32];
    char sdk_endpoint[256];        /* GameLiftServiceSdkEndpoint; "" = derived from the Host */
    int tls;                       /* TLS is served on the port (wss:// endpoints) */
    char notification_hosts[1024]; /* allowed hosts of http(s) NotificationTargets, "a,b" */
    int shutting_down;
} hg_api_t;

/* The HTTP handler (hg_http_handler_cb); ud is the hg_api_t. */
void hg_api_handle(hg_http_req_t *req, void *ud);

/* Authenticate req with SigV4 for one of `services` (NULL-terminated list of signing names) and
 * return the key (borrowed) in *key. Fills err on failure. */
int hg_api_authenticate(hg_api_t *api, const hg_http_req_t *req, const char *const *services,
                        const hg_key_t **key, hg_error_t *err);

/* The Server SDK WebSocket URL for a client that sent req: the sdk-endpoint option when set, else
 * ws[s]://<the Host it reached us at>/sdk (wss when tls). RegisterCompute hands it out as
 * GameLiftServiceSdkEndpoint; RefreshConnection hands it back to a process. */
void hg_api_sdk_endpoint(const hg_api_t *api, const hg_http_req_t *req, int tls, char *out,
                         size_t cap);

/* The answer to a request whose commit failed (rc < 0), whatever its handler found — an error
 * too may rest on changes the disk refused: HG_EINTERNAL for the failed batch, HG_ESHUTDOWN
 * once the store is fenced (store.h). Fills err; returns its code. */
int hg_api_commit_failed(hg_error_t *err, int rc);

/* A random request id (UUID v4 text, 36 chars + NUL). */
void hg_api_request_id(char out[37]);

/* Room scripts' leaderboard and wallet calls (hg_rooms_service_fn; ud is the hg_api_t):
 * api/native/room_services.c. */
void hg_api_room_service(void *ud, const char *room_id, const char *op, const char *args,
                         uint64_t call_id);

/* Module entry points used by the router. */
void hg_gamelift_handle(hg_api_t *api, hg_http_req_t *req);
void hg_native_handle(hg_api_t *api, hg_http_req_t *req);
void hg_gamelift_metrics_start(void);

#endif
