/* hangar — the daemon: start-up order, the cron, signals, graceful shutdown. */
#ifndef HG_DAEMON_DAEMON_H
#define HG_DAEMON_DAEMON_H

#include <stdint.h>

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
 * 0: free (serve now); 1: stopped by a signal; -1: cannot run. */
struct hg_config;
int hg_standby_run(const struct hg_config *cfg);
/* Answer every request on the listening port 503 for ms (unavailable.c): the pause before the
 * daemon serves again after a store failure. 1 when SIGINT/SIGTERM came meanwhile. */
int hg_unavailable_run(const struct hg_config *cfg, uint64_t ms, const char *why);

#endif
