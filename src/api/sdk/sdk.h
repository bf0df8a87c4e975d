/* hangar — the GameLift Server SDK 5 WebSocket endpoint (gamelift-wire.md §7).
 *
 * Game server processes — the official Go, C++ and C# server SDKs, and ours (libhangar-server) —
 * connect to `GET /sdk` (or `/sdk/`: the C++ SDK appends a slash) with the query of §7.1:
 * pID, sdkVersion, sdkLanguage, ComputeId, FleetId, IdempotencyToken and either
 * `Authorization=<compute auth token>` (GetComputeAuthToken) or `Authorization=SigV4` with the
 * X-Amz-* parameters of §7.6 (the key's policy must allow `gamelift:ActivateServerProcess`).
 * The query is parsed by name, values URL-decoded when encoded (Go) and taken as they are when
 * not (C++, C#). Bad credentials are refused at the upgrade: 401 without any, 403 otherwise.
 *
 * Each frame is one JSON object {"Action","RequestId",…}; every answer echoes Action and
 * RequestId with "StatusCode" (200, or 4xx/5xx with "ErrorMessage") and its result fields at
 * top level; pushes (CreateGameSession, TerminateProcess) carry "StatusCode":200 and no
 * RequestId, so every SDK's dispatcher routes them to its handlers. An answer that follows a
 * change is sent once the change is durable. A request repeated with the same RequestId (the
 * C++ SDK resends after a timeout, also on a new socket) is answered from a per-process cache
 * of the last HG_SDK_DEDUP_REQUESTS answers without being applied again.
 *
 * The process behind a socket is identified by (FleetId, ComputeId, pID) — never by the
 * IdempotencyToken, which the C++ SDK changes when it reconnects — so a reconnect finds its
 * process ACTIVE, and pushes go to the newest socket while an older one drains.
 *
 * Limits: a frame is at most HG_SDK_MAX_MESSAGE bytes (close 1009), RequestId at most
 * HG_SDK_REQUEST_ID_MAX bytes, LogPaths at most HG_SDK_MAX_LOG_PATHS entries; sockets are
 * pinged every 30 s and dropped after 30 s more of silence. Loop thread only.
 */
#ifndef HG_API_SDK_SDK_H
#define HG_API_SDK_SDK_H

#include <stdint.h>

#include "api/api.h"
#include "fleet/session.h"

#define HG_SDK_MAX_MESSAGE (256u * 1024)
#define HG_SDK_REQUEST_ID_MAX 128
#define HG_SDK_DEDUP_REQUESTS 32
#define HG_SDK_MAX_LOG_PATHS 64
#define HG_SDK_MAX_PAGE 1024 /* DescribePlayerSessions Limit (the SDKs cap results at 1024) */

typedef struct hg_sdk hg_sdk_t;

hg_sdk_t *hg_sdk_new(hg_api_t *api);
/* Stop answering: sockets are closed by the HTTP server's shutdown. */
void hg_sdk_stop(hg_sdk_t *sdk);
void hg_sdk_free(hg_sdk_t *sdk);

/* GET /sdk[/] (the router calls it). */
void hg_sdk_handle(hg_api_t *api, hg_http_req_t *req);

/* The fleet sink's socket side (the daemon composes the whole sink). */
void hg_sdk_push_start(hg_sdk_t *sdk, hg_fl_process_t *p, hg_fl_gsession_t *gs);
void hg_sdk_push_terminate(hg_sdk_t *sdk, hg_fl_process_t *p, int64_t termination_ms);
/* UpdateGameSession (reason: GameLift's UpdateReason; ticket: BackfillTicketId, may be NULL). */
void hg_sdk_push_update(hg_sdk_t *sdk, hg_fl_process_t *p, hg_fl_gsession_t *gs, const char *reason,
                        const char *ticket);
void hg_sdk_drop(hg_sdk_t *sdk, hg_fl_process_t *p);
/* Push RefreshConnection (a fresh auth token) to the sockets whose time came, at most budget;
 * returns how many. Called from the daemon's cron. */
size_t hg_sdk_tick(hg_sdk_t *sdk, size_t budget);

#endif
