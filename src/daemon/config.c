/* hangar — the option table and its three sources (see config.h). */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/keys.h"
#include "core/log.h"

#define S(field) HG_CFG_STR, offsetof(hg_config_t, field), sizeof(((hg_config_t *)0)->field)
#define I(field) HG_CFG_INT, offsetof(hg_config_t, field), 0

const hg_config_def_t hg_config_defs[] = {
    {"listen", S(listen), "127.0.0.1:7770", 0, 0, "host:port",
     "Address of the one listening port (GameLift API, /v1, /metrics, /healthz)."},
    {"tls-cert", S(tls_cert), "", 0, 0, "path",
     "PEM certificate chain (leaf first). With tls-key (both or neither), the listening port "
     "also speaks TLS 1.2/1.3: each connection is sniffed, a TLS handshake gets TLS, anything "
     "else plain HTTP. Read once at start-up; a bad file stops start-up."},
    {"tls-key", S(tls_key), "", 0, 0, "path",
     "PEM private key of tls-cert (not encrypted). Both or neither."},
    {"data", S(data), "./hangar-data", 0, 0, "path",
     "Data directory: the embedded store (hangar.db, history.db) and the credentials file."},
    {"store", S(store), "", 0, 0, "postgres://…",
     "Where durable state lives. Empty: the embedded SQLite store in the data directory. A "
     "postgres:// (or postgresql://) URI: that PostgreSQL database (libpq's URI form), created "
     "tables and all. Nodes on one database share it by a lease (docs/cluster.md): one serves, "
     "the others stand by and take over when its lease runs out."},
    {"node-id", S(node_id), "", 0, 127, "name",
     "This node's name in the PostgreSQL lease table (store). Default: <hostname>:<listen "
     "port>. Two nodes must not share a name."},
    {"advertise", S(advertise), "", 0, 159, "host:port",
     "Where other nodes reach this one (store): a standby relays its clients' connections "
     "here. Default: the listen address (with this host's name when it listens on every "
     "address)."},
    {"lease-ms", I(lease_ms), "10000", 1000, 300000, "ms",
     "The PostgreSQL lease: renewed every third of it; a node that stops renewing is taken over "
     "once it runs out, and its commits are refused from then on (fencing)."},
    {"log-level", S(log_level), "info", 0, 0, "error|warn|info|debug", "Log verbosity."},
    {"region", S(region), "us-east-1", 0, 0, "name", "Region shown in ARNs."},
    {"account-id", S(account_id), "000000000000", 0, 0, "12 digits", "Account shown in ARNs."},
    {"admin-key-id", S(admin_key_id), "", 4, HG_KEY_ID_LEN, "4..20 chars",
     "Administrator access key id (with admin-secret); default: created on first start."},
    {"admin-secret", S(admin_secret), "", 8, HG_KEY_SECRET_LEN, "8..40 chars",
     "Administrator secret access key (never printed by --print-config)."},
    {"sigv4-skew-s", I(sigv4_skew_s), "300", 1, 3600, "s",
     "Largest difference between a request's X-Amz-Date and the server's clock."},
    {"http-max-body", I(http_max_body), "1048576", 1024, 67108864, "bytes",
     "Largest request body; larger is answered 413."},
    {"http-max-header-bytes", I(http_max_header_bytes), "16384", 1024, 1048576, "bytes",
     "Largest request line plus headers; larger is answered 431."},
    {"http-max-headers", I(http_max_headers), "64", 8, 128, "count",
     "Most header fields in one request; more is answered 431."},
    {"http-max-pipeline", I(http_max_pipeline), "64", 1, 1024, "requests",
     "Requests queued on one connection before it stops reading (backpressure)."},
    {"http-max-conns", I(http_max_conns), "10000", 1, 1000000, "connections",
     "Open connections; more are closed as they are accepted."},
    {"http-idle-timeout-ms", I(http_idle_timeout_ms), "60000", 100, 3600000, "ms",
     "A keep-alive connection with no request in progress is closed after this."},
    {"http-request-timeout-ms", I(http_request_timeout_ms), "30000", 100, 600000, "ms",
     "A request must arrive whole within this from its first byte (else 408, closed)."},
    {"store-batch-max", I(store_batch_max), "512", 1, 65536, "transactions",
     "Most transactions committed together with one fsync (group commit)."},
    {"fleetiq-health-window-s", I(fleetiq_health_window_s), "180", 1, 86400, "s",
     "A game server that has not reported HealthCheck for this long is unhealthy (not "
     "claimable). Default: three missed 60 s reports."},
    {"fleetiq-deregister-after-s", I(fleetiq_deregister_after_s), "180", 0, 86400, "s",
     "An unhealthy game server is deregistered after this much longer."},
    {"sdk-endpoint", S(sdk_endpoint), "", 0, 0, "ws[s]://host:port/sdk",
     "Server SDK WebSocket URL handed out as GameLiftServiceSdkEndpoint by RegisterCompute. "
     "Default: ws://<listen>/sdk (wss:// when a TLS certificate is configured)."},
    {"compute-auth-token-ttl-s", I(compute_auth_token_ttl_s), "900", 3, 86400, "s",
     "Lifetime of a compute auth token (GetComputeAuthToken; GameLift: 15 minutes). A server "
     "process is sent a fresh one (RefreshConnection) when a third of its token's life is left."},
    {"auth-device", I(auth_device), "0", 0, 1, "0|1",
     "Let game clients log in with a device id without a signature (POST /v1/auth/device), "
     "rate-limited per source address (auth-open-per-minute). 0: such logins need a key with "
     "players:Vouch."},
    {"auth-open-per-minute", I(auth_open_per_minute), "60", 1, 100000, "calls",
     "Unsigned POST /v1/auth/device and /v1/auth/refresh calls per source address per minute "
     "(429 beyond); at most 100,000 addresses are counted per minute."},
    {"allow-plain-bearer", I(allow_plain_bearer), "0", 0, 1, "0|1",
     "Accept player bearer tokens over plain HTTP from anywhere. 0: over TLS, or over plain "
     "HTTP from this machine only (a token on a plain connection crosses the network in "
     "clear)."},
    {"player-token-ttl-s", I(player_token_ttl_s), "3600", 60, 86400, "s",
     "Lifetime of a player access token (a JWT); refresh with the refresh token."},
    {"event-retention", S(event_retention), "", 0, 0, "type=days[,type=days…]",
     "How long events (POST /v1/events and the payment events) are kept, by type: an exact "
     "type, a prefix ending in * (payment.*), or * for every other type; days 1..36500. "
     "Empty: every event is kept."},
    {"rooms-max", I(rooms_max), "10000", 1, 1000000, "rooms",
     "Realtime rooms this node holds (POST /v1/rooms: 409 limit_exceeded beyond)."},
    {"room-max-message", I(room_max_message), "16384", 125, 1048576, "bytes",
     "Bytes of one message a room client sends (the socket closes 1009 beyond)."},
    {"room-rate-per-s", I(room_rate_per_s), "60", 1, 100000, "messages",
     "Messages a second one room client may send, with bursts of twice that (closed 4008 "
     "beyond)."},
    {"room-send-queue-bytes", I(room_send_queue_bytes), "1048576", 4096, 67108864, "bytes",
     "Bytes queued for one room client that is not reading: beyond, it is cut off (4009) so it "
     "never slows the room."},
    {"room-reconnect-grace-s", I(room_reconnect_grace_s), "30", 0, 3600, "s",
     "A room client that drops keeps its seat this long: reconnecting with ?after= it gets what "
     "it missed, and nobody sees it leave."},
    {"room-empty-close-s", I(room_empty_close_s), "300", 1, 604800, "s",
     "A room with no one seated is closed after this long."},
    {"examples-dir", S(examples_dir), "", 0, 0, "path",
     "Directory whose pages hangard serves under /examples/ to anyone, without authentication "
     "(GET and HEAD; `make run` gives examples/rooms, the rooms demo). Its files are read once "
     "at start-up (docs/limits.md: at most 64 files, 1 MiB together; a file that cannot be read "
     "stops start-up). Empty: /examples/ answers 404."},
    {"refresh-token-ttl-s", I(refresh_token_ttl_s), "2592000", 60, 31536000, "s",
     "Lifetime of a player session's refresh token, from its last rotation (default 30 "
     "days)."},
    {"sdk-process-ready-timeout-s", I(sdk_process_ready_timeout_s), "300", 1, 3600, "s",
     "A Server SDK connection that has not called ProcessReady this long after connecting is "
     "closed."},
    {"sdk-heartbeat-timeout-s", I(sdk_heartbeat_timeout_s), "180", 1, 86400, "s",
     "A ready process that has sent no heartbeat this long is unhealthy: it is told to "
     "terminate and its game session ends. Default: three missed 60 s heartbeats."},
    {"sdk-unhealthy-reports", I(sdk_unhealthy_reports), "3", 0, 100, "heartbeats",
     "Consecutive heartbeats reporting HealthStatus false that make a process unhealthy "
     "(0: reports are recorded, never acted on)."},
    {"sdk-reconnect-grace-s", I(sdk_reconnect_grace_s), "30", 0, 3600, "s",
     "A process whose socket closed without ProcessEnding is gone (its game session ends) "
     "unless it reconnects within this."},
    {"game-session-activation-timeout-s", I(game_session_activation_timeout_s), "600", 1, 86400,
     "s", "A game session still ACTIVATING this long after creation is TERMINATED."},
    {"player-session-reservation-s", I(player_session_reservation_s), "60", 1, 3600, "s",
     "A RESERVED player session not accepted by the game server within this is TIMEDOUT "
     "(GameLift: 60 s)."},
    {"matchmaker-batch-ms", I(matchmaker_batch_ms), "1000", 100, 60000, "ms",
     "How often the FlexMatch matchmaker runs a batch over each configuration's waiting "
     "tickets."},
    {"notification-hosts", S(notification_hosts), "", 0, 0, "host[,host…]",
     "Hosts a game session queue's NotificationTarget may name as an http(s):// URL; hangard "
     "POSTs placement events there (with retries). Empty: URLs are refused. The same list "
     "applies to a matchmaking configuration's NotificationTarget (FlexMatch events)."},
    {"shutdown-timeout-ms", I(shutdown_timeout_ms), "10000", 100, 600000, "ms",
     "On SIGINT/SIGTERM, how long to wait for requests in progress before closing anyway."},
    {NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL},
};

static const hg_config_def_t *find(const char *name)
{
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

int hg_config_set(hg_config_t *cfg, const char *name, const char *value, hg_error_t *err)
{
    const hg_config_def_t *d = find(name);
    if (d == NULL)
        return hg_error_set(err, HG_EINVAL, "unknown option '%s' (see hangard --help)", name);
    char *p = (char *)cfg + d->offset;
    if (d->type == HG_CFG_STR) {
        if (strlen(value) >= d->size)
            return hg_error_set(err, HG_EINVAL, "%s: value longer than %zu bytes", name,
                                d->size - 1);
        size_t len = strlen(value);
        if (d->max && len && (len < (size_t)d->min || len > (size_t)d->max))
            return hg_error_set(err, HG_EINVAL, "%s: %zu characters; it must be %lld..%lld", name,
                                len, (long long)d->min, (long long)d->max);
        strcpy(p, value);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end)
        return hg_error_set(err, HG_EINVAL, "%s: '%s' is not a whole number", name, value);
    if (v < d->min || v > d->max)
        return hg_error_set(err, HG_EINVAL, "%s: %lld is outside %lld..%lld %s", name, v,
                            (long long)d->min, (long long)d->max, d->unit);
    *(int64_t *)p = v;
    return 0;
}

int hg_config_parse_listen(const char *listen, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= cap)
        return HG_EINVAL;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
        return HG_EINVAL;
    *port = (int)p;
    return 0;
}

/* A file start-up will read: say now, in one line, why it cannot be. */
static int readable(const char *opt, const char *path, hg_error_t *err)
{
    if (access(path, R_OK) == 0)
        return 0;
    return hg_error_set(err, -errno, "%s %s: %s", opt, path, strerror(errno));
}

int hg_config_check(const hg_config_t *cfg, hg_error_t *err)
{
    char host[256];
    int port;
    if (hg_config_parse_listen(cfg->listen, host, sizeof(host), &port) < 0)
        return hg_error_set(err, HG_EINVAL, "listen: '%s' is not host:port (port 0..65535)",
                            cfg->listen);
    if (hg_log_parse_level(cfg->log_level) < 0)
        return hg_error_set(err, HG_EINVAL, "log-level: '%s' is not error|warn|info|debug",
                            cfg->log_level);
    if (!cfg->tls_cert[0] != !cfg->tls_key[0])
        return hg_error_set(err, HG_EINVAL,
                            "tls-cert and tls-key go together: set both or neither");
    if (cfg->tls_cert[0] && (readable("tls-cert", cfg->tls_cert, err) < 0 ||
                             readable("tls-key", cfg->tls_key, err) < 0))
        return err->code;
    if (!cfg->admin_key_id[0] != !cfg->admin_secret[0])
        return hg_error_set(err, HG_EINVAL,
                            "admin-key-id and admin-secret go together: set both or neither");
    if (strlen(cfg->account_id) != 12 || strspn(cfg->account_id, "0123456789") != 12)
        return hg_error_set(err, HG_EINVAL, "account-id: '%s' is not 12 digits", cfg->account_id);
    if (cfg->sdk_endpoint[0] && strncmp(cfg->sdk_endpoint, "ws://", 5) != 0 &&
        strncmp(cfg->sdk_endpoint, "wss://", 6) != 0)
        return hg_error_set(err, HG_EINVAL, "sdk-endpoint: '%s' is not a ws:// or wss:// URL",
                            cfg->sdk_endpoint);
    if (!cfg->data[0])
        return hg_error_set(err, HG_EINVAL, "data: a directory is required");
    return 0;
}

void hg_config_init(hg_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++)
        hg_config_set(cfg, d->name, d->def, NULL);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int hg_config_load_file(hg_config_t *cfg, const char *path, hg_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return hg_error_set(err, -errno, "cannot read config file %s: %s", path, strerror(errno));
    char line[2048];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = hg_error_set(err, HG_EINVAL, "%s:%d: expected 'name = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        hg_error_t e;
        if (hg_config_set(cfg, name, value, &e) < 0) {
            rc = hg_error_set(err, HG_EINVAL, "%s:%d: %s", path, lineno, e.msg);
            break;
        }
    }
    fclose(f);
    return rc;
}

int hg_config_load_env(hg_config_t *cfg, hg_error_t *err)
{
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++) {
        char env[128] = "HANGAR_";
        size_t n = 7;
        for (const char *c = d->name; *c && n < sizeof(env) - 1; c++)
            env[n++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        env[n] = '\0';
        const char *v = getenv(env);
        if (v == NULL)
            continue;
        hg_error_t e;
        if (hg_config_set(cfg, d->name, v, &e) < 0)
            return hg_error_set(err, HG_EINVAL, "%s: %s", env, e.msg);
    }
    return 0;
}

void hg_config_print_help(FILE *f)
{
    fprintf(f, "usage: hangard [--config FILE] [--OPTION VALUE ...]\n"
               "       hangard keys create --name NAME (--allow ACTION ... | --policy FILE)\n"
               "       hangard keys list | keys revoke KEY_ID\n"
               "       hangard check --data DIR   (wallets and ledgers agree; exit 1 if not)\n"
               "       hangard --print-config | --config-doc | --version | --help\n\n"
               "Every option is also HANGAR_<OPTION> in the environment (upper case, '-' as "
               "'_')\nand 'option = value' in the config file.\n\noptions:\n");
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++) {
        fprintf(f, "  --%-28s %s\n", d->name, d->doc);
        if (d->type == HG_CFG_INT)
            fprintf(f, "  %-30s default %s, %lld..%lld %s\n", "", d->def, (long long)d->min,
                    (long long)d->max, d->unit);
        else if (d->def[0])
            fprintf(f, "  %-30s default %s\n", "", d->def);
    }
}

void hg_config_print(const hg_config_t *cfg, FILE *f)
{
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++) {
        const char *p = (const char *)cfg + d->offset;
        if (d->type == HG_CFG_INT)
            fprintf(f, "%s = %lld\n", d->name, (long long)*(const int64_t *)p);
        else if (strcmp(d->name, "admin-secret") == 0)
            fprintf(f, "%s = %s\n", d->name, *p ? "(set)" : "");
        else
            fprintf(f, "%s = %s\n", d->name, p);
    }
}

void hg_config_print_doc(FILE *f)
{
    fprintf(f, "# hangard options\n\n"
               "Generated from the option table (`src/daemon/config.c`) by `hangard "
               "--config-doc`; a unit test keeps this file in step.\n\n"
               "Each option is `--name VALUE` on the command line, `HANGAR_NAME` in the "
               "environment (upper case, `-` as `_`) and `name = value` in the file given by "
               "`--config`. Precedence: default < file < environment < command line.\n\n"
               "| option | default | range / unit | meaning |\n|---|---|---|---|\n");
    for (const hg_config_def_t *d = hg_config_defs; d->name; d++) {
        if (d->type == HG_CFG_INT)
            fprintf(f, "| `%s` | %s | %lld..%lld %s | %s |\n", d->name, d->def, (long long)d->min,
                    (long long)d->max, d->unit, d->doc);
        else
            fprintf(f, "| `%s` | %s | %s | %s |\n", d->name, d->def[0] ? d->def : "(none)", d->unit,
                    d->doc);
    }
}
