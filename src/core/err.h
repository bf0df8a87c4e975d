/* hangar — one error space for the whole daemon.
 *
 * Every internal function returns int: 0 (HG_OK) on success, a negative HG_E* on failure.
 * OS errors are passed through as -errno. HG_ERR_MAP is the single list: it generates the
 * enum, hg_strerror(), hg_err_name(), and for each code the HTTP status, the GameLift
 * `__type` and the native /v1 error code, so the mapping from an internal failure to a wire
 * error is written once (rule 5 of STYLE.md).
 */
#ifndef HG_CORE_ERR_H
#define HG_CORE_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* XX(name, value, GameLift HTTP status, native /v1 HTTP status, GameLift __type, native code,
 *    default message) */
#define HG_ERR_MAP(XX)                                                                             \
    XX(EINVAL, -1000, 400, 400, "InvalidRequestException", "invalid_request", "invalid request")   \
    XX(ENOTFOUND, -1001, 400, 404, "NotFoundException", "not_found", "not found")                  \
    XX(ECONFLICT, -1002, 400, 409, "ConflictException", "conflict", "conflict with current state") \
    XX(ELIMIT, -1003, 400, 409, "LimitExceededException", "limit_exceeded", "limit exceeded")      \
    XX(EUNAUTHORIZED, -1004, 400, 403, "UnauthorizedException", "forbidden", "not authorized")     \
    XX(EINTERNAL, -1005, 500, 500, "InternalServiceException", "internal", "internal error")       \
    XX(EOUTOFCAPACITY, -1006, 400, 503, "OutOfCapacityException", "out_of_capacity",               \
       "out of capacity")                                                                          \
    XX(EFLEETCAPACITY, -1007, 400, 503, "FleetCapacityExceededException", "out_of_capacity",       \
       "fleet capacity exceeded")                                                                  \
    XX(EGAMESESSIONFULL, -1008, 400, 409, "GameSessionFullException", "full", "game session full") \
    XX(EGSSTATUS, -1009, 400, 409, "InvalidGameSessionStatusException", "conflict",                \
       "invalid game session status")                                                              \
    XX(EFLEETSTATUS, -1010, 400, 409, "InvalidFleetStatusException", "conflict",                   \
       "invalid fleet status")                                                                     \
    XX(EIDEMPOTENT, -1011, 400, 409, "IdempotentParameterMismatchException",                       \
       "idempotency_mismatch", "idempotency token reused with different parameters")               \
    XX(ETERMINALROUTING, -1012, 400, 409, "TerminalRoutingStrategyException", "terminal_routing",  \
       "terminal routing strategy")                                                                \
    XX(ETAGGING, -1013, 400, 400, "TaggingFailedException", "tagging_failed", "tagging failed")    \
    XX(EUNSUPPORTEDREGION, -1014, 400, 400, "UnsupportedRegionException", "unsupported",           \
       "unsupported region")                                                                       \
    XX(ENOTREADY, -1015, 400, 409, "NotReadyException", "not_ready", "not ready")                  \
    XX(ENOAUTH, -1016, 403, 403, "MissingAuthenticationTokenException", "unauthenticated",         \
       "missing authentication token")                                                             \
    XX(EUNKNOWNKEY, -1017, 403, 403, "UnrecognizedClientException", "unauthenticated",             \
       "the security token included in the request is invalid")                                    \
    XX(EBADSIG, -1018, 403, 403, "InvalidSignatureException", "unauthenticated",                   \
       "the request signature does not match")                                                     \
    XX(ESKEW, -1019, 403, 403, "InvalidSignatureException", "unauthenticated",                     \
       "signature expired")                                                                        \
    XX(ETHROTTLED, -1020, 400, 429, "ThrottlingException", "throttled", "rate exceeded")           \
    XX(ESERIALIZATION, -1021, 400, 400, "SerializationException", "bad_json",                      \
       "malformed request body")                                                                   \
    XX(EUNKNOWNOP, -1022, 400, 404, "UnknownOperationException", "unknown_operation",              \
       "unknown operation")                                                                        \
    XX(ENOTIMPL, -1023, 400, 501, "UnsupportedOperationException", "not_implemented",              \
       "operation not implemented by hangard")                                                     \
    XX(ETOOLARGE, -1024, 413, 413, "RequestEntityTooLargeException", "too_large",                  \
       "request body too large")                                                                   \
    XX(ESTORE, -1025, 500, 500, "InternalServiceException", "internal", "store failure")           \
    XX(ESHUTDOWN, -1026, 503, 503, "ServiceUnavailableException", "unavailable", "shutting down")  \
    XX(ENOROUTE, -1027, 404, 404, "UnknownOperationException", "not_found", "no such endpoint")    \
    XX(EMETHOD, -1028, 405, 405, "UnknownOperationException", "method_not_allowed",                \
       "method not allowed")                                                                       \
    XX(EMEDIATYPE, -1029, 415, 415, "UnsupportedMediaTypeException", "unsupported_media_type",     \
       "unsupported media type")                                                                   \
    XX(ETOKEN, -1030, 401, 401, "UnauthorizedException", "invalid_token",                          \
       "the token is not valid or has expired")                                                    \
    XX(EFUNDS, -1031, 400, 409, "InvalidRequestException", "insufficient_funds",                   \
       "insufficient funds")

enum hg_err {
    HG_OK = 0,
#define XX(name, val, st, nst, ty, nat, msg) HG_##name = (val),
    HG_ERR_MAP(XX)
#undef XX
};

/* Human-readable text for rc (an HG_E* code or -errno). Never NULL. */
const char *hg_strerror(int rc);
/* Symbolic name, e.g. "EINVAL" for HG_EINVAL or "ENOENT" for -ENOENT. Never NULL. */
const char *hg_err_name(int rc);
/* HTTP status for rc; codes outside the map (-errno) give 500. */
int hg_err_http_status(int rc);
/* Native /v1 HTTP status for rc; codes outside the map give 500. */
int hg_err_native_status(int rc);
/* GameLift `__type` for rc; codes outside the map give InternalServiceException. */
const char *hg_err_gamelift_type(int rc);
/* Native /v1 error code for rc ("internal" outside the map). */
const char *hg_err_native_code(int rc);

/* A client-visible error, filled by a handler and rendered at one exit for the transport
 * (rule 7). `field` names the offending input member when there is one. */
#define HG_ERROR_MSG_MAX 2048
typedef struct hg_error {
    int code;
    char field[64];
    char msg[HG_ERROR_MSG_MAX];
} hg_error_t;

/* Set code and a formatted message; returns code so callers can `return hg_error_set(...)`. */
int hg_error_set(hg_error_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hg_error_setv(hg_error_t *e, int code, const char *fmt, va_list ap);
void hg_error_clear(hg_error_t *e);
/* The message to show: e->msg when set, else the code's default text. Always valid UTF-8:
 * messages may quote client input, so invalid sequences were replaced by '?' when set. */
const char *hg_error_message(const hg_error_t *e);
/* Replace every byte that is not part of a valid UTF-8 sequence (or is a NUL-free control
 * character other than tab) with '?', in place. */
void hg_utf8_sanitize(char *s);

#endif
