/* hangar — the daemon's options: one table behind the command line, the environment, the config
 * file, --help, --print-config and docs/config.md (rule 19).
 *
 * Precedence: built-in default < config file (`name = value`, # comments) < environment
 * (HANGAR_<NAME> with '-' as '_', upper case) < command line (`--name value` or `--name=value`).
 * Every number is checked against its documented range.
 */
#ifndef HG_DAEMON_CONFIG_H
#define HG_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

typedef struct hg_config {
    char listen[256];
    char tls_cert[1024];
    char tls_key[1024];
    char data[1024];
    char store[1024];
    char node_id[128];
    char advertise[160];
    int64_t lease_ms;
    char log_level[16];
    char region[32];
    char account_id[16];
    char admin_key_id[64];
    char admin_secret[128];
    int64_t sigv4_skew_s;
    int64_t http_max_body;
    int64_t http_max_header_bytes;
    int64_t http_max_headers;
    int64_t http_max_pipeline;
    int64_t http_max_conns;
    int64_t http_idle_timeout_ms;
    int64_t http_request_timeout_ms;
    int64_t store_batch_max;
    int64_t fleetiq_health_window_s;
    int64_t fleetiq_deregister_after_s;
    int64_t shutdown_timeout_ms;
    char sdk_endpoint[256];
    char notification_hosts[1024];
    int64_t compute_auth_token_ttl_s;
    int64_t auth_device;
    int64_t auth_open_per_minute;
    int64_t allow_plain_bearer;
    int64_t player_token_ttl_s;
    int64_t refresh_token_ttl_s;
    int64_t sdk_process_ready_timeout_s;
    int64_t sdk_heartbeat_timeout_s;
    int64_t sdk_unhealthy_reports;
    int64_t sdk_reconnect_grace_s;
    int64_t game_session_activation_timeout_s;
    int64_t player_session_reservation_s;
    int64_t matchmaker_batch_ms;
    char event_retention[1024];
    int64_t rooms_max;
    int64_t room_max_message;
    int64_t room_rate_per_s;
    int64_t room_send_queue_bytes;
    int64_t room_reconnect_grace_s;
    int64_t room_empty_close_s;
    char examples_dir[1024];
} hg_config_t;

typedef enum { HG_CFG_STR, HG_CFG_INT } hg_config_type_t;

typedef struct hg_config_def {
    const char *name;
    hg_config_type_t type;
    size_t offset;
    size_t size; /* for strings: buffer size */
    const char *def;
    int64_t min, max;
    const char *unit;
    const char *doc;
} hg_config_def_t;

extern const hg_config_def_t hg_config_defs[];

/* Defaults. */
void hg_config_init(hg_config_t *cfg);
/* Apply one option by name; err says what is wrong. */
int hg_config_set(hg_config_t *cfg, const char *name, const char *value, hg_error_t *err);
/* Read `name = value` lines; errors carry the line number. */
int hg_config_load_file(hg_config_t *cfg, const char *path, hg_error_t *err);
/* Apply every HANGAR_* variable that names an option. */
int hg_config_load_env(hg_config_t *cfg, hg_error_t *err);
/* The checks that span options or formats (listen is host:port, pairs set together, files
 * start-up will read are readable), after every source was applied. */
int hg_config_check(const hg_config_t *cfg, hg_error_t *err);
/* Split listen ("host:port", "[v6]:port") into host and port. */
int hg_config_parse_listen(const char *listen, char *host, size_t cap, int *port);
void hg_config_print_help(FILE *f);
/* Current values, secrets masked. */
void hg_config_print(const hg_config_t *cfg, FILE *f);
/* The option table as markdown (docs/config.md). */
void hg_config_print_doc(FILE *f);

#endif
