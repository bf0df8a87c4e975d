/* hangar — libhangar-server: the C server SDK for game servers (GameLift Server SDK 5 protocol).
 *
 * A game server process links this library to talk to hangard (or to any service speaking the
 * GameLift Server SDK 5 WebSocket protocol). The lifecycle mirrors the official SDKs
 * (C++ `Aws::GameLift::Server`, Go `server`):
 *
 *     hangar_server_new()                    InitSDK: connect to the service
 *     hangar_server_process_ready()          ProcessReady: register callbacks, start heartbeats
 *       on_start_game_session()              -> hangar_server_activate_game_session()
 *       players connect                      -> hangar_server_accept_player_session()
 *       players leave                        -> hangar_server_remove_player_session()
 *                                               (FlexMatch: hangar_server_start_match_backfill())
 *       on_process_terminate()               -> wind down
 *     hangar_server_process_ending()         ProcessEnding: the process is about to exit
 *     hangar_server_free()                   Destroy: close the socket (1001), free everything
 *
 * Every public name starts with `hangar_` / `HANGAR_`; the instance is a heap object, so its
 * lifecycle verbs are `_new` / `_free` (hangar_server_new() is the official SDKs' InitSDK,
 * hangar_server_free() their Destroy).
 *
 * Build with `pkg-config --cflags --libs hangar-server`. This is the only public header.
 *
 * THREADING
 * - The SDK runs two threads of its own per hangar_server_t:
 *   the I/O thread owns the socket (its own libuv loop): connecting, TLS, WebSocket framing,
 *   request correlation, timeouts, heartbeats, reconnects;
 *   the callback thread runs every callback (on_start_game_session, on_update_game_session,
 *   on_process_terminate, on_health_check), one at a time, in the order the service sent
 *   the messages.
 * - Every API function may be called from any thread, including from inside a callback: the
 *   call is queued to the I/O thread and the caller blocks (condition variable) until the reply,
 *   a timeout or the SDK's shutdown. Because callbacks do not run on the I/O thread, a callback
 *   that calls the API (hangar_server_activate_game_session() from on_start_game_session is the
 *   usual case) does not deadlock. A callback that blocks delays the callbacks queued after it (and
 *   a late on_health_check makes the heartbeat report unhealthy), never the socket.
 * - hangar_server_free() may be called from any thread, including from on_process_terminate.
 *   Calls blocked in other threads when it starts return HANGAR_SERVER_ECLOSED before it returns;
 *   no call on that hangar_server_t may start once it has been called (the memory is freed).
 *
 * REQUESTS, TIMEOUTS, RETRIES
 * - Each request carries a random RequestId. Without an answer within the call timeout
 *   (20 s; 20 s too for ProcessReady, as the C++ SDK) the same message is re-sent with the SAME
 *   RequestId, at most max_resends times (5), so the service can treat it idempotently; then the
 *   call fails with HANGAR_SERVER_ETIMEDOUT. Two tries in a row left unanswered, with nothing at
 *   all received on the socket meanwhile, make the SDK drop the socket and reconnect (half-open
 *   connection detection, as the Go SDK 5.4.1+).
 * - A request that was on a socket which closed is re-sent (same RequestId) on the next one.
 * - A request is at most HANGAR_SERVER_MAX_REQUEST bytes of JSON; a larger one fails with
 *   HANGAR_SERVER_EINVAL before anything is sent (only a StartMatchBackfill with many players and
 *   long attributes comes near).
 *
 * CONNECTION, RECONNECTS
 * - hangar_server_new() connects before it returns: each attempt is bounded by connect_timeout_ms
 *   (20 s); failed attempts are retried connect_retries times (7) with exponential backoff
 *   (4 s doubling, capped at 32 s), as the official SDKs do. A refused upgrade with HTTP 401/403
 *   and a failed certificate check are not retried (they do not fix themselves; the C++ SDK
 *   retries them for ~156 s).
 * - An abnormal close (any close code but 1000/1001, a dropped TCP connection) makes the SDK
 *   reconnect at once to the same URL and identity (pID, ComputeId, FleetId, IdempotencyToken),
 *   then with the same bounded backoff; ActivateServerProcess is not re-sent (the service keys the
 *   process by FleetId, ComputeId and pID). When the service closes normally (1000/1001) or the
 *   retries run out, pending and later calls fail (HANGAR_SERVER_ECLOSED / HANGAR_SERVER_ECONNECT).
 * - A RefreshConnection push makes the SDK open a socket to the new endpoint with the new auth
 *   token (same pID, ComputeId, FleetId), move to it once it is open, and close the old one
 *   after DISCONNECT_WEBSOCKET_TIMEOUT (5 s) during which late answers on it are still taken.
 *   If the new endpoint cannot be reached the SDK stays on the old socket and tries again every
 *   60 s.
 *
 * TLS
 * - `wss://` URLs use TLS 1.2 or later (OpenSSL). By default the server certificate is verified
 *   against the system store (or tls_ca_file) and must match the URL's host. Verification is off
 *   when params->tls_verify is HANGAR_SERVER_TLS_INSECURE, or when it is HANGAR_SERVER_TLS_DEFAULT
 *   and the environment has HANGAR_SDK_TLS_INSECURE=1 (the official C++ SDK never verifies; use
 *   this for a hangard with a self-signed certificate, or better give its certificate as the CA
 *   file).
 *   `ws://` URLs are plain TCP.
 *
 * ERRORS
 * - Every function returning int returns 0 (HANGAR_SERVER_OK) or a negative HANGAR_SERVER_E* code.
 *   hangar_server_last_error() then gives the calling thread's error in detail: code, the service's
 *   StatusCode (or the HTTP status of a refused upgrade) and a message (with the service's
 *   ErrorMessage when it sent one).
 *
 * NOT PROVIDED
 * - GetFleetRoleCredentials (managed EC2 only) is not part of this SDK.
 * - No statsd metrics (GAMELIFT_STATSD_*), no container metadata discovery
 *   (GAMELIFT_COMPUTE_TYPE=CONTAINER): give host_id and credentials explicitly.
 */
#ifndef HANGAR_SERVER_H
#define HANGAR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HANGAR_SERVER_API __attribute__((visibility("default")))
#else
#define HANGAR_SERVER_API
#endif

/** One SDK instance: the connection of one game server process to the service. Opaque. */
typedef struct hangar_server hangar_server_t;

/* ---- version ---------------------------------------------------------------------------- */

#define HANGAR_SERVER_VERSION_MAJOR 0
#define HANGAR_SERVER_VERSION_MINOR 1
#define HANGAR_SERVER_VERSION_PATCH 0
#define HANGAR_SERVER_VERSION_STRING "0.1.0"
/** The version this header describes, as one number (0x00MMmmpp). */
#define HANGAR_SERVER_VERSION_NUM                                                                  \
    ((HANGAR_SERVER_VERSION_MAJOR << 16) | (HANGAR_SERVER_VERSION_MINOR << 8) |                    \
     HANGAR_SERVER_VERSION_PATCH)

/** Protocol version announced to the service (query `sdkVersion`): the SDK 5 protocol as the
 * C++ SDK 5.4.0 speaks it. The query's `sdkLanguage` is "Cpp" (a value the service knows); the
 * SDK names itself in ActivateServerProcess's SdkToolName "hangar-server" and SdkToolVersion
 * HANGAR_SERVER_VERSION_STRING unless GAMELIFT_SDK_TOOL_NAME / GAMELIFT_SDK_TOOL_VERSION say
 * otherwise. */
#define HANGAR_SERVER_PROTOCOL_VERSION "5.4.0"

/**
 * The version of the library actually loaded (HANGAR_SERVER_VERSION_NUM it was built with).
 * A program can check `hangar_server_version() >> 16 == HANGAR_SERVER_VERSION_MAJOR` at startup.
 */
HANGAR_SERVER_API unsigned hangar_server_version(void);

/* ---- limits ----------------------------------------------------------------------------- */

/** Largest message accepted from the service, in bytes. It bounds the biggest pushes and
 * replies: a CreateGameSession carries GameSessionData (<= 262144 chars) and MatchmakerData
 * (<= 390000 chars) and a DescribePlayerSessions page up to 1024 sessions with PlayerData
 * (<= 2048 chars each), all JSON-escaped. A larger message closes the socket (1009) and the
 * SDK reconnects. */
#define HANGAR_SERVER_MAX_MESSAGE (4u << 20)
/** Calls waiting for an answer at once (all threads together); beyond, HANGAR_SERVER_ELIMIT.
 * With at most one heartbeat in flight this also bounds the messages queued for sending. */
#define HANGAR_SERVER_MAX_PENDING_CALLS 64
/** Callback invocations queued for the callback thread; beyond, a push is dropped with a log
 * line (and a health check reports unhealthy). Pushes are rare: this only fills when a
 * callback blocks for a long time. */
#define HANGAR_SERVER_MAX_QUEUED_CALLBACKS 64
/** Fleet id, host id (compute name), process id, player session id, player id: characters. */
#define HANGAR_SERVER_MAX_ID_LEN 256
/** Game session id (an ARN) and other long strings: characters. */
#define HANGAR_SERVER_MAX_LONG_LEN 1024
/** WebSocket URL and auth token: characters. */
#define HANGAR_SERVER_MAX_URL_LEN 2048
#define HANGAR_SERVER_MAX_TOKEN_LEN 2048
/** Log paths given to hangar_server_process_ready(): count and characters each. */
#define HANGAR_SERVER_MAX_LOG_PATHS 64
#define HANGAR_SERVER_MAX_PATH_LEN 4096
/** Player sessions in one hangar_server_describe_player_sessions() result (as the official
 * SDKs). */
#define HANGAR_SERVER_MAX_PLAYER_SESSIONS 1024
/** Size of the buffer hangar_server_get_game_session_id() needs at most (with the NUL). */
#define HANGAR_SERVER_GAME_SESSION_ID_SIZE (HANGAR_SERVER_MAX_LONG_LEN + 1)
/** Largest request sent, in bytes of JSON: hangard's frame limit (a larger frame makes it close
 * the socket with 1009). */
#define HANGAR_SERVER_MAX_REQUEST (256u << 10)
/** Matchmaking ticket id, team name, player attribute name, latency region: characters. */
#define HANGAR_SERVER_MAX_NAME_LEN 128
/** Size of the buffer hangar_server_start_match_backfill() writes the ticket id to (with the
 * NUL). */
#define HANGAR_SERVER_TICKET_ID_SIZE (HANGAR_SERVER_MAX_NAME_LEN + 1)
/** Players in one hangar_server_start_match_backfill() (GameLift's limit). */
#define HANGAR_SERVER_MAX_BACKFILL_PLAYERS 199
/** Per backfill player: attributes and latency entries (hangard's limits, docs/flexmatch.md §8). */
#define HANGAR_SERVER_MAX_PLAYER_ATTRIBUTES 10
#define HANGAR_SERVER_MAX_PLAYER_LATENCIES 64
/** Per attribute: strings of a STRING_LIST, entries of a STRING_DOUBLE_MAP. */
#define HANGAR_SERVER_MAX_ATTRIBUTE_LIST 100
#define HANGAR_SERVER_MAX_ATTRIBUTE_MAP 10

/* ---- errors ----------------------------------------------------------------------------- */

/* XX(name, value, message). The service's StatusCode maps as the Go SDK's
 * getErrorTypeForStatusCode: 400 and other 4xx -> EBADREQUEST, 401 -> EUNAUTHORIZED,
 * 403 -> EFORBIDDEN, 404 -> ENOTFOUND, 409 -> ECONFLICT, 429 -> ETHROTTLED, others -> EINTERNAL. */
#define HANGAR_SERVER_ERR_MAP(XX)                                                                  \
    XX(EINVAL, -1, "invalid argument")                                                             \
    XX(ESTATE, -2, "not possible in the current state")                                            \
    XX(ECONNECT, -3, "cannot connect to the service")                                              \
    XX(ETIMEDOUT, -4, "no answer from the service in time")                                        \
    XX(ECLOSED, -5, "the connection is closed or the SDK is shutting down")                        \
    XX(ELIMIT, -6, "a limit of the SDK was reached")                                               \
    XX(EPROTO, -7, "malformed message from the service")                                           \
    XX(ETLS, -8, "TLS failure")                                                                    \
    XX(ESYS, -9, "system error")                                                                   \
    XX(EBADREQUEST, -10, "the service rejected the request as invalid")                            \
    XX(EUNAUTHORIZED, -11, "the service rejected the credentials")                                 \
    XX(EFORBIDDEN, -12, "the service refused access")                                              \
    XX(ENOTFOUND, -13, "the service does not know the resource")                                   \
    XX(ECONFLICT, -14, "the request conflicts with the resource's state")                          \
    XX(ETHROTTLED, -15, "too many requests")                                                       \
    XX(EINTERNAL, -16, "the service failed")

enum {
    HANGAR_SERVER_OK = 0,
#define HANGAR_SERVER_XX(name, value, msg) HANGAR_SERVER_##name = (value),
    HANGAR_SERVER_ERR_MAP(HANGAR_SERVER_XX)
#undef HANGAR_SERVER_XX
};

#define HANGAR_SERVER_ERROR_MESSAGE_SIZE 512

/** The detail of a failed call. */
typedef struct hangar_server_error {
    int code;        /**< HANGAR_SERVER_E* (0 when no call has failed yet) */
    int status_code; /**< the service's StatusCode for a service error; the HTTP status when the
                          WebSocket upgrade was refused; 0 otherwise */
    char message[HANGAR_SERVER_ERROR_MESSAGE_SIZE]; /**< one line, NUL-terminated */
} hangar_server_error_t;

/** "HANGAR_SERVER_ETIMEDOUT" for HANGAR_SERVER_ETIMEDOUT; "HANGAR_SERVER_OK" for 0; "unknown"
 * otherwise. */
HANGAR_SERVER_API const char *hangar_server_err_name(int code);
/** A static English message for code. */
HANGAR_SERVER_API const char *hangar_server_strerror(int code);

/**
 * The error of the calling thread's last failed call (any hangar_server_t, or hangar_server_new()).
 * Like errno it is per thread and only meaningful right after a call returned an error;
 * successful calls leave it unchanged.
 * @param srv  the server the call was made on, or NULL (for hangar_server_new()); informational
 * @return a pointer to thread-local storage, valid until this thread's next failed call
 */
HANGAR_SERVER_API const hangar_server_error_t *hangar_server_last_error(const hangar_server_t *srv);

/* ---- types ------------------------------------------------------------------------------ */

typedef enum hangar_server_tls_verify {
    HANGAR_SERVER_TLS_DEFAULT = 0,  /**< verify, unless HANGAR_SDK_TLS_INSECURE=1 in the env. */
    HANGAR_SERVER_TLS_VERIFY = 1,   /**< verify the chain and the host name (TLS 1.2+) */
    HANGAR_SERVER_TLS_INSECURE = 2, /**< encrypt but accept any certificate (as the C++ SDK does) */
} hangar_server_tls_verify_t;

typedef enum hangar_server_log_level {
    HANGAR_SERVER_LOG_DEFAULT = 0, /**< params only: HANGAR_SDK_LOG, else info */
    HANGAR_SERVER_LOG_DEBUG = 1,
    HANGAR_SERVER_LOG_INFO = 2,
    HANGAR_SERVER_LOG_WARN = 3,
    HANGAR_SERVER_LOG_ERROR = 4,
    HANGAR_SERVER_LOG_OFF = 5,
} hangar_server_log_level_t;

/**
 * Receives the SDK's log lines: one line per event, `hangar-server level=... msg="..."` plus
 * key=value fields, no newline. Called from any thread (mostly the SDK's own), possibly
 * concurrently: it must be thread-safe and must not call the API.
 */
typedef void (*hangar_server_log_cb)(hangar_server_log_level_t level, const char *line, void *ud);

/**
 * InitSDK parameters. Zero-initialize, then set what you need: every string left NULL is taken
 * from the environment variable named (the names of the official SDKs), every number left 0
 * from its environment variable (a Go duration such as "20s", "1500ms", "1m") or the default.
 * Strings are copied by hangar_server_new().
 */
typedef struct hangar_server_params {
    /** ws:// or wss:// endpoint, e.g. "ws://127.0.0.1:7770/sdk" (RegisterCompute's
     * GameLiftServiceSdkEndpoint). Any query string is replaced. GAMELIFT_SDK_WEBSOCKET_URL. */
    const char *websocket_url;
    /** Fleet id, ^[a-zA-Z0-9.-]+$, <= 256. GAMELIFT_SDK_FLEET_ID. */
    const char *fleet_id;
    /** Compute name given to RegisterCompute (query ComputeId),
     * ^[a-zA-Z0-9-]+(/[a-zA-Z0-9-]+)?$, <= 256. GAMELIFT_SDK_HOST_ID. */
    const char *host_id;
    /** Unique per process execution (query pID), <= 256. GAMELIFT_SDK_PROCESS_ID; when neither
     * is set (or the variable is "ManagedResource") a random UUID is generated. */
    const char *process_id;
    /** Compute auth token (GetComputeAuthToken). GAMELIFT_SDK_AUTH_TOKEN. Exactly one of the
     * auth token and SigV4 (aws_region) must be given. */
    const char *auth_token;
    /** SigV4 query signing instead of a token: region and credentials. GAMELIFT_REGION,
     * GAMELIFT_ACCESS_KEY, GAMELIFT_SECRET_KEY, GAMELIFT_SESSION_TOKEN (optional). */
    const char *aws_region;
    const char *access_key;
    const char *secret_key;
    const char *session_token;

    /** Server certificate checking for wss:// (see TLS above). */
    hangar_server_tls_verify_t tls_verify;
    /** PEM file of trusted CA certificates used instead of the system store.
     * HANGAR_SDK_TLS_CA_FILE. */
    const char *tls_ca_file;

    /* Tuning; 0 = environment variable, else the default in brackets. */
    uint32_t call_timeout_ms;    /**< per try of a call, SERVICE_CALL_TIMEOUT [20 s] */
    uint32_t ready_timeout_ms;   /**< per try of ProcessReady, HANGAR_SDK_READY_TIMEOUT [20 s] */
    uint32_t max_resends;        /**< re-sends after the first try, MAX_RETRY [5] */
    uint32_t connect_timeout_ms; /**< one connection attempt, HANGAR_SDK_CONNECT_TIMEOUT [20 s] */
    uint32_t connect_retries;    /**< attempts after the first, HANGAR_SDK_CONNECT_RETRIES [7] */
    uint32_t retry_interval_ms;  /**< first backoff, HANGAR_SDK_RETRY_INTERVAL [4 s], doubling */
    uint32_t retry_max_ms;       /**< backoff cap, HANGAR_SDK_RETRY_MAX [32 s] */
    uint32_t heartbeat_interval_ms; /**< HEALTHCHECK_INTERVAL [60 s] */
    uint32_t heartbeat_jitter_ms;   /**< +/- around the interval, HEALTHCHECK_MAX_JITTER [10 s];
                                         at most half the interval */
    uint32_t health_timeout_ms;     /**< wait for on_health_check, HEALTHCHECK_TIMEOUT [50 s]; at
                                         most the interval; late = unhealthy */
    uint32_t disconnect_timeout_ms; /**< old socket kept after a refresh,
                                         DISCONNECT_WEBSOCKET_TIMEOUT [5 s] */

    /** Log sink; NULL writes lines at or above log_level to stderr. */
    hangar_server_log_cb log_cb;
    void *log_ud;
    /** Lowest level logged; HANGAR_SERVER_LOG_DEFAULT (0): from HANGAR_SDK_LOG
     * (debug|info|warn|error|off), else info. */
    hangar_server_log_level_t log_level;
} hangar_server_params_t;

/** A game property: GameProperties arrive as a JSON object {"key": "value"} on the socket. */
typedef struct hangar_game_property {
    const char *key;
    const char *value;
} hangar_game_property_t;

/**
 * A game session as pushed by the service. Borrowed: every pointer (strings, the property
 * array) is valid only during the callback; copy what you keep. Strings are never NULL ("" when
 * the service sent none); numbers are 0 when absent.
 */
typedef struct hangar_game_session {
    const char *game_session_id; /**< the full ARN, as the official SDKs report it */
    const char *name;
    const char *fleet_id; /**< the fleet from the message; the SDK's fleet_id when absent */
    int maximum_player_session_count;
    const char *ip_address;
    const char *dns_name;
    int port;
    const char *game_session_data;
    const char *matchmaker_data;
    const hangar_game_property_t *game_properties;
    size_t game_property_count;
} hangar_game_session_t;

typedef enum hangar_update_reason {
    HANGAR_UPDATE_REASON_UNKNOWN = 0,
    HANGAR_UPDATE_REASON_MATCHMAKING_DATA_UPDATED,
    HANGAR_UPDATE_REASON_BACKFILL_FAILED,
    HANGAR_UPDATE_REASON_BACKFILL_TIMED_OUT,
    HANGAR_UPDATE_REASON_BACKFILL_CANCELLED,
} hangar_update_reason_t;

/** An UpdateGameSession push. Borrowed for the duration of the callback. */
typedef struct hangar_update_game_session {
    hangar_game_session_t game_session;
    hangar_update_reason_t update_reason;
    const char *backfill_ticket_id; /**< "" when absent */
} hangar_update_game_session_t;

/**
 * ProcessReady parameters and callbacks. Copied by hangar_server_process_ready() (the log path
 * strings too). Every callback runs on the SDK's callback thread, gets user_data and may call
 * any API function on srv (see THREADING).
 */
typedef struct hangar_process_params {
    /** Port players connect to, 1..60000 (the Go SDK's range; GameLift rejects others). */
    int port;
    /** Files the service may collect; NULL/0 for none (sent as an empty list). */
    const char *const *log_paths;
    size_t log_path_count;

    /** Required. The service placed a game session on this process: prepare it, then call
     * hangar_server_activate_game_session() (from here or later, from any thread). The SDK has
     * stored the session id before this runs (hangar_server_get_game_session_id()). */
    void (*on_start_game_session)(hangar_server_t *srv, const hangar_game_session_t *gs,
                                  void *user_data);
    /** Optional. The game session was updated (matchmaker data, backfill outcome). */
    void (*on_update_game_session)(hangar_server_t *srv, const hangar_update_game_session_t *update,
                                   void *user_data);
    /** Optional but strongly advised. The service wants this process to stop: finish the game,
     * call hangar_server_process_ending(), hangar_server_free() and exit. termination_time is the
     * deadline in epoch seconds (0 when the service gave none). When NULL the SDK only logs it
     * and stores the time for hangar_server_get_termination_time(). */
    void (*on_process_terminate)(hangar_server_t *srv, int64_t termination_time, void *user_data);
    /** Optional. Asked before every heartbeat; return true when healthy. It has
     * health_timeout_ms (50 s) to answer, else the heartbeat reports unhealthy.
     * When NULL every heartbeat reports HEALTHY: a process with no health check is not sick.
     * (The Go SDK reports unhealthy in that case; the C++ SDK's default reports healthy.) */
    bool (*on_health_check)(hangar_server_t *srv, void *user_data);

    void *user_data;
} hangar_process_params_t;

typedef enum hangar_player_session_creation_policy {
    HANGAR_PLAYER_SESSION_POLICY_ACCEPT_ALL = 0, /**< "ACCEPT_ALL" */
    HANGAR_PLAYER_SESSION_POLICY_DENY_ALL = 1,   /**< "DENY_ALL" */
} hangar_player_session_creation_policy_t;

typedef enum hangar_player_session_status {
    HANGAR_PLAYER_SESSION_STATUS_UNKNOWN = 0,
    HANGAR_PLAYER_SESSION_STATUS_RESERVED,
    HANGAR_PLAYER_SESSION_STATUS_ACTIVE,
    HANGAR_PLAYER_SESSION_STATUS_COMPLETED,
    HANGAR_PLAYER_SESSION_STATUS_TIMEDOUT,
} hangar_player_session_status_t;

/** DescribePlayerSessions input: exactly one of the three ids. Borrowed during the call. */
typedef struct hangar_describe_player_sessions_request {
    const char *game_session_id;   /**< an ARN, ^[a-zA-Z0-9:/-]+$, <= 256 */
    const char *player_id;         /**< <= 1024 */
    const char *player_session_id; /**< <= 1024 */
    /** NULL, or "RESERVED", "ACTIVE", "COMPLETED", "TIMEDOUT" */
    const char *player_session_status_filter;
    const char *next_token; /**< NULL for the first page */
    int limit;              /**< 0: the service's default; else 1..1024 */
} hangar_describe_player_sessions_request_t;

/** One player session of a describe result. Strings are never NULL ("" when absent) and
 * belong to the result. */
typedef struct hangar_player_session {
    char *player_session_id;
    char *player_id;
    char *game_session_id;
    char *fleet_id;
    char *player_data;
    char *ip_address;
    char *dns_name;
    int port;
    hangar_player_session_status_t status;
    int64_t creation_time;    /**< epoch milliseconds (0 when absent) */
    int64_t termination_time; /**< epoch milliseconds (0 when absent) */
} hangar_player_session_t;

/** A describe result. Release with hangar_server_player_sessions_free(). */
typedef struct hangar_player_sessions {
    hangar_player_session_t *sessions;
    size_t count;
    char *next_token; /**< NULL on the last page */
} hangar_player_sessions_t;

/** GetComputeCertificate's answer. */
typedef struct hangar_compute_certificate {
    char certificate_path[HANGAR_SERVER_MAX_PATH_LEN + 1];
    char compute_name[HANGAR_SERVER_MAX_ID_LEN + 1];
} hangar_compute_certificate_t;

typedef enum hangar_attribute_type {
    HANGAR_ATTRIBUTE_TYPE_NONE = 0,          /**< not set: refused */
    HANGAR_ATTRIBUTE_TYPE_STRING,            /**< "STRING": s */
    HANGAR_ATTRIBUTE_TYPE_DOUBLE,            /**< "DOUBLE": n */
    HANGAR_ATTRIBUTE_TYPE_STRING_LIST,       /**< "STRING_LIST": sl, sl_count */
    HANGAR_ATTRIBUTE_TYPE_STRING_DOUBLE_MAP, /**< "STRING_DOUBLE_MAP": sdm, sdm_count */
} hangar_attribute_type_t;

/** One entry of a STRING_DOUBLE_MAP attribute. */
typedef struct hangar_string_double {
    const char *key; /**< 1..1024 characters, unique within the map */
    double value;    /**< finite */
} hangar_string_double_t;

/**
 * A player attribute (the official SDKs' AttributeValue with its name): `type` says which one of
 * the value fields is set; the fields of the other types must stay zero (NULL, 0) — exactly one
 * of S, N, SL, SDM goes on the wire.
 */
typedef struct hangar_player_attribute {
    const char *name; /**< 1..HANGAR_SERVER_MAX_NAME_LEN characters, unique per player */
    hangar_attribute_type_t type;
    const char *s;                     /**< STRING: 1..1024 characters */
    double n;                          /**< DOUBLE: finite */
    const char *const *sl;             /**< STRING_LIST: sl_count strings of 1..1024 characters */
    size_t sl_count;                   /**< 0..HANGAR_SERVER_MAX_ATTRIBUTE_LIST */
    const hangar_string_double_t *sdm; /**< STRING_DOUBLE_MAP: sdm_count entries */
    size_t sdm_count;                  /**< 0..HANGAR_SERVER_MAX_ATTRIBUTE_MAP */
} hangar_player_attribute_t;

/** A player's latency to one region (location), as the matchmaker's latency rules read it. */
typedef struct hangar_player_latency {
    const char *region; /**< 1..HANGAR_SERVER_MAX_NAME_LEN characters, unique per player */
    int latency_ms;     /**< at least 1 */
} hangar_player_latency_t;

/**
 * A player already in the game session, as a backfill request describes it (the socket's
 * Player: PlayerId, Team, PlayerAttributes, LatencyInMs). Take the team and the attributes
 * from the game session's MatchmakerData so the match still holds.
 */
typedef struct hangar_player {
    const char *player_id; /**< 1..HANGAR_SERVER_MAX_ID_LEN characters, unique in the request */
    const char *team;      /**< required: the rule set's team the player is on,
                                1..HANGAR_SERVER_MAX_NAME_LEN characters */
    const hangar_player_attribute_t *attributes; /**< NULL when attribute_count is 0 */
    size_t attribute_count;                      /**< 0..HANGAR_SERVER_MAX_PLAYER_ATTRIBUTES */
    const hangar_player_latency_t *latencies;    /**< NULL when latency_count is 0 */
    size_t latency_count;                        /**< 0..HANGAR_SERVER_MAX_PLAYER_LATENCIES */
} hangar_player_t;

/** StartMatchBackfill input. Borrowed during the call (nothing is kept). */
typedef struct hangar_start_match_backfill_request {
    /** NULL or "": the service makes one. Else ^[a-zA-Z0-9.-]+$, <= HANGAR_SERVER_MAX_NAME_LEN; a
     * ticket id the service has seen before gives that ticket back. */
    const char *ticket_id;
    /** NULL or "": the game session last started on this process. Else an ARN,
     * ^[a-zA-Z0-9:/-]+$, <= 256. */
    const char *game_session_arn;
    /** Required: the configuration that made the match (MatchmakerData's
     * matchmakingConfigurationArn), a GameLift ARN as the official SDKs check it:
     * arn:(aws|aws-cn):gamelift:<xx-yyyy-N>:<12 digits or nothing>:<type>/<name>, <= 256. */
    const char *matchmaking_configuration_arn;
    /** The players in the game session now, each with its team; 1 to
     * HANGAR_SERVER_MAX_BACKFILL_PLAYERS of them. */
    const hangar_player_t *players;
    size_t player_count;
} hangar_start_match_backfill_request_t;

/* ---- lifecycle -------------------------------------------------------------------------- */

/**
 * InitSDK: validate the parameters, start the SDK's threads and connect to the service
 * (blocking; see CONNECTION for the retries, up to ~3 minutes at the defaults).
 * No message is sent: the WebSocket handshake is the registration.
 * @param params  may be NULL (everything from the environment); borrowed during the call
 * @param out     the new instance on success; release with hangar_server_free()
 * @return 0; HANGAR_SERVER_EINVAL (a parameter is missing or malformed, the message names it);
 *         HANGAR_SERVER_ECONNECT (no connection after the retries; status_code is the HTTP status
 *         when the upgrade was refused); HANGAR_SERVER_EUNAUTHORIZED / HANGAR_SERVER_EFORBIDDEN
 *         (upgrade refused with 401 / 403); HANGAR_SERVER_ETLS (TLS setup or certificate check
 *         failed); HANGAR_SERVER_ESYS. Details in hangar_server_last_error(NULL).
 * Thread: any.
 */
HANGAR_SERVER_API int hangar_server_new(const hangar_server_params_t *params,
                                        hangar_server_t **out);

/**
 * ProcessReady: register the callbacks and tell the service this process can host a game
 * session (ActivateServerProcess). Blocks until the service answers. On success the first
 * heartbeat is sent at once, then one every heartbeat_interval_ms +/- jitter.
 * @param pp  borrowed during the call (copied)
 * @return 0; HANGAR_SERVER_EINVAL (no on_start_game_session, port out of 1..60000, log paths over
 *         the limits); HANGAR_SERVER_ESTATE (already called successfully, or after
 *         hangar_server_process_ending()); a call error (see the common returns below).
 * Common returns of every call to the service: HANGAR_SERVER_ETIMEDOUT, HANGAR_SERVER_ECLOSED,
 * HANGAR_SERVER_ECONNECT, HANGAR_SERVER_ELIMIT (too many calls pending), HANGAR_SERVER_EPROTO, or
 * the service's error mapped from its StatusCode (HANGAR_SERVER_EBADREQUEST to
 * HANGAR_SERVER_EINTERNAL).
 */
HANGAR_SERVER_API int hangar_server_process_ready(hangar_server_t *srv,
                                                  const hangar_process_params_t *pp);

/**
 * ProcessEnding: tell the service the process is shutting down (TerminateServerProcess); the
 * game session ends. Heartbeats stop and pushes are ignored from here on. Call before
 * hangar_server_free() and exit within 30 s.
 * @return 0 or a call error.
 */
HANGAR_SERVER_API int hangar_server_process_ending(hangar_server_t *srv);

/**
 * Destroy: close the socket with 1001 (Going Away, waiting briefly for the service's answer),
 * stop the SDK's threads and free srv. Calls still blocked in other threads return
 * HANGAR_SERVER_ECLOSED before this returns; callbacks queued and not yet run are dropped. When
 * called from a callback, the callback thread finishes after that callback returns.
 * srv is invalid after this call. NULL is a no-op.
 */
HANGAR_SERVER_API void hangar_server_free(hangar_server_t *srv);

/* ---- game and player sessions ----------------------------------------------------------- */

/**
 * ActivateGameSession for the session last started (on_start_game_session): the session
 * becomes ACTIVE and can take players.
 * @return 0; HANGAR_SERVER_ESTATE (no game session yet, or ProcessReady not done); a call error.
 */
HANGAR_SERVER_API int hangar_server_activate_game_session(hangar_server_t *srv);

/**
 * UpdatePlayerSessionCreationPolicy for the current game session (sent as the wire field
 * PlayerSessionPolicy: "ACCEPT_ALL" / "DENY_ALL").
 * @return 0; HANGAR_SERVER_EINVAL (unknown policy); HANGAR_SERVER_ESTATE (no game session); a call
 *         error.
 */
HANGAR_SERVER_API int
hangar_server_update_player_session_creation_policy(hangar_server_t *srv,
                                                    hangar_player_session_creation_policy_t policy);

/**
 * AcceptPlayerSession: a player connected with this player session id; the service checks it
 * is RESERVED for the current game session and marks it ACTIVE.
 * @param player_session_id  ^[a-zA-Z0-9.-]+$, <= 256; borrowed during the call
 * @return 0; HANGAR_SERVER_EINVAL (malformed id); HANGAR_SERVER_ESTATE (no game session); a call
 *         error (typically HANGAR_SERVER_EBADREQUEST / HANGAR_SERVER_ENOTFOUND with the service's
 *         message when the id is unknown, not RESERVED or of another game session).
 */
HANGAR_SERVER_API int hangar_server_accept_player_session(hangar_server_t *srv,
                                                          const char *player_session_id);

/**
 * RemovePlayerSession: the player left; the session becomes COMPLETED and frees its slot.
 * @return as hangar_server_accept_player_session().
 */
HANGAR_SERVER_API int hangar_server_remove_player_session(hangar_server_t *srv,
                                                          const char *player_session_id);

/**
 * DescribePlayerSessions.
 * @param req  borrowed during the call
 * @param out  on success, a new result: release with hangar_server_player_sessions_free()
 * @return 0; HANGAR_SERVER_EINVAL (not exactly one id, bad filter or limit); HANGAR_SERVER_EPROTO
 *         (the answer is malformed or lists more than HANGAR_SERVER_MAX_PLAYER_SESSIONS); a call
 *         error.
 */
HANGAR_SERVER_API int
hangar_server_describe_player_sessions(hangar_server_t *srv,
                                       const hangar_describe_player_sessions_request_t *req,
                                       hangar_player_sessions_t **out);

/** Release a describe result. res is invalid after this call; NULL is a no-op. */
HANGAR_SERVER_API void hangar_server_player_sessions_free(hangar_player_sessions_t *res);

/* ---- FlexMatch backfill ----------------------------------------------------------------- */

/**
 * StartMatchBackfill: ask FlexMatch for new players for open slots of a game session it made
 * (a player left, or the match was made with AdditionalPlayerCount). The answer comes later as
 * on_update_game_session: MATCHMAKING_DATA_UPDATED with the new MatchmakerData (the new players
 * have RESERVED player sessions and connect as usual), or BACKFILL_FAILED / BACKFILL_TIMED_OUT
 * / BACKFILL_CANCELLED, with backfill_ticket_id set to the ticket id returned here. A game
 * session has one backfill at a time: a new request replaces the one still searching.
 * @param req            borrowed during the call
 * @param ticket_id_out  receives the ticket's id, NUL-terminated; may be NULL (size 0) when the
 *                       caller chose the id itself
 * @param size           at least HANGAR_SERVER_TICKET_ID_SIZE when ticket_id_out is not NULL
 * @return 0; HANGAR_SERVER_EINVAL (a field missing, malformed or over its limit: the message
 *         names it, e.g. "StartMatchBackfill: players[1].team is required"; the request over
 *         HANGAR_SERVER_MAX_REQUEST); HANGAR_SERVER_ESTATE (no game session given and none started
 *         yet); HANGAR_SERVER_EPROTO (the answer has no usable TicketId: the backfill may have
 *         started); a call error (HANGAR_SERVER_EBADREQUEST with the service's message for a rule
 *         the service checks, e.g. a team the rule set does not have; HANGAR_SERVER_ENOTFOUND
 *         for an unknown configuration or game session).
 * Thread: any.
 */
HANGAR_SERVER_API int
hangar_server_start_match_backfill(hangar_server_t *srv,
                                   const hangar_start_match_backfill_request_t *req,
                                   char *ticket_id_out, size_t size);

/**
 * StopMatchBackfill: cancel a backfill ticket of one of this process's game sessions. The
 * process gets on_update_game_session BACKFILL_CANCELLED for it.
 * @param game_session_arn  NULL or "": the game session last started; else ^[a-zA-Z0-9:/-]+$,
 *                          <= 256
 * @param matchmaking_configuration_arn  as in hangar_start_match_backfill_request_t
 * @param ticket_id  the id hangar_server_start_match_backfill() gave, ^[a-zA-Z0-9.-]+$,
 *                   <= HANGAR_SERVER_MAX_NAME_LEN
 * All three borrowed during the call.
 * @return 0; HANGAR_SERVER_EINVAL (malformed argument); HANGAR_SERVER_ESTATE (no game session);
 *         a call error (HANGAR_SERVER_ENOTFOUND: no such backfill ticket for a game session of this
 *         process; HANGAR_SERVER_EBADREQUEST: the ticket already ended COMPLETED, FAILED or
 *         TIMED_OUT — stopping a CANCELLED one again succeeds).
 * Thread: any.
 */
HANGAR_SERVER_API int hangar_server_stop_match_backfill(hangar_server_t *srv,
                                                        const char *game_session_arn,
                                                        const char *matchmaking_configuration_arn,
                                                        const char *ticket_id);

/* ---- information ------------------------------------------------------------------------ */

/**
 * GetGameSessionId: the id (ARN) of the game session last started on this process. No
 * message is sent.
 * @param buf   receives the NUL-terminated id; HANGAR_SERVER_GAME_SESSION_ID_SIZE bytes always fit
 * @return 0; HANGAR_SERVER_ESTATE (no game session yet); HANGAR_SERVER_ELIMIT (size too small:
 *         nothing written); HANGAR_SERVER_EINVAL (NULL arguments).
 */
HANGAR_SERVER_API int hangar_server_get_game_session_id(hangar_server_t *srv, char *buf,
                                                        size_t size);

/**
 * GetTerminationTime: when the service will stop this process, from the last TerminateProcess
 * push. No message is sent.
 * @param epoch_seconds  receives the time (the wire carries milliseconds; as the official SDKs
 *                       this reports seconds)
 * @return 0; HANGAR_SERVER_ESTATE (no termination time was sent); HANGAR_SERVER_EINVAL.
 */
HANGAR_SERVER_API int hangar_server_get_termination_time(hangar_server_t *srv,
                                                         int64_t *epoch_seconds);

/**
 * GetComputeCertificate: the TLS certificate path registered for this compute and the compute
 * name.
 * @return 0; HANGAR_SERVER_EPROTO (an answer field missing or too long); a call error.
 */
HANGAR_SERVER_API int hangar_server_get_compute_certificate(hangar_server_t *srv,
                                                            hangar_compute_certificate_t *out);

#ifdef __cplusplus
}
#endif

#endif /* HANGAR_SERVER_H */
