/* hangar — the daemon: start-up order, the cron, signals, graceful shutdown. */
#ifndef HG_DAEMON_DAEMON_H
#define HG_DAEMON_DAEMON_H

#include <stdint.h>
#include <uv.h>

/* The whole of `hangard`: options, subcommands, serve until SIGINT/SIGTERM. Returns the exit
 * status. */
int hg_daemon_main(int argc, char **argv);

/* `hangard keys …` (daemon/keys_cli.c). */
int hg_keys_cli(int argc, char **argv);
/* `hangard check --data DIR` (check_cli.c): the wallets and ledgers of a store agree. */
int hg_check_cli(int argc, char **argv);
/* `hangard migrate --data DIR --store postgres://…` (migrate_cli.c): the embedded store copied
 * into an empty PostgreSQL database. */
int hg_migrate_cli(int argc, char **argv);
/* A standby node (standby.c): relays connections to the lease's owner until the lease is free.
 * 0: free (serve now); 1: stopped by a signal. */
struct hg_config;
int hg_standby_run(const struct hg_config *cfg);
/* The two small loops that own the port while the daemon does not serve (standby.c,
 * unavailable.c) listen on cfg->listen (0, or a libuv error to log: the caller just waits) and
 * stop on SIGINT/SIGTERM (once each) with these. */
int hg_daemon_listen(uv_tcp_t *tcp, const struct hg_config *cfg, uv_connection_cb cb);
void hg_daemon_on_signals(uv_loop_t *loop, uv_signal_t *sigint, uv_signal_t *sigterm, void *data,
                          uv_signal_cb cb);
/* Answer every request on the listening port 503 for ms (unavailable.c): the pause before the
 * daemon serves again after a store failure. 1 when SIGINT/SIGTERM came meanwhile. */
int hg_unavailable_run(const struct hg_config *cfg, uint64_t ms, const char *why);

#endif
