/* hangar — the daemon: start-up order, the cron, signals, graceful shutdown. */
#ifndef HG_DAEMON_DAEMON_H
#define HG_DAEMON_DAEMON_H

#include <stddef.h>
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
/* The interim loop (interim.c): the port while this node does not serve. */
struct hg_config;
/* Stand by: relay every connection to the lease's owner until the lease is free; a connection
 * the owner does not take (or when no live owner is known) is answered 503 instead. 0: the
 * lease is free (serve now); 1: stopped by SIGINT/SIGTERM. *listen_fd: in, a listening socket
 * to take instead of binding cfg->listen (-1: none; taken either way); out, when it returns 0,
 * a copy of its listening socket for serve() (or -1), so the port never closes between them:
 * connections that arrive meanwhile wait in its backlog instead of being refused. */
int hg_standby_run(const struct hg_config *cfg, int *listen_fd);
/* Answer every request on the listening port 503 for ms: the pause before the daemon serves
 * again after a store failure. 1 when SIGINT/SIGTERM came meanwhile. Both loops just wait when
 * they cannot listen on cfg->listen (the port is not theirs yet). */
int hg_unavailable_run(const struct hg_config *cfg, uint64_t ms, const char *why, int *listen_fd);
/* The 503 answer to a request whose head (NUL-terminated; anything after its blank line is
 * ignored) is head: GameLift's {"__type":"ServiceUnavailableException"} when it names an
 * X-Amz-Target, the native {"error":{"code":"unavailable"}} otherwise, with Retry-After: 1 and
 * Connection: close; why goes into the message. Returns a new string (release with hg_free())
 * and its length in *len. Any thread. */
char *hg_unavailable_reply(const char *head, const char *why, size_t *len);

#endif
