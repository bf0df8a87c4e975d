/* hangar — echo-server: a minimal game server on libhangar-server (<hangar/server.h> only).
 *
 * It registers with the service (hangar_server_new + hangar_server_process_ready), activates every
 * game session the service starts on it, and serves players over TCP: a player sends its player
 * session id as the first line; the server asks the service to accept it, answers `OK <id>` and
 * then echoes every line back, or answers `ERR <message>` and hangs up. When the player disconnects
 * the server removes the player session. TerminateProcess from the service, SIGTERM and SIGINT all
 * end the process the same way: ProcessEnding, hangar_server_free() (Destroy), exit 0.
 *
 * One thread serves the players with poll(); the SDK calls on_* from its own callback thread,
 * which only logs, activates the session, or wakes the poll loop through a pipe to shut down.
 *
 * usage: echo-server [--port N] [--url ws://...] [--fleet-id ID] [--host-id NAME]
 *                    [--auth-token TOKEN] [--process-id ID]
 * Options left out come from the SDK's environment variables (GAMELIFT_SDK_WEBSOCKET_URL,
 * GAMELIFT_SDK_FLEET_ID, GAMELIFT_SDK_HOST_ID, GAMELIFT_SDK_AUTH_TOKEN, ...); the port from
 * PORT, else 7777.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <hangar/server.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PLAYERS 64
#define LINE_MAX_BYTES 1024

struct player {
    int fd;                                        /* -1: free slot */
    char session_id[HANGAR_SERVER_MAX_ID_LEN + 1]; /* "" until accepted */
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static hangar_server_t *srv;
static struct player players[MAX_PLAYERS];
static int wake_pipe[2]; /* signals and on_process_terminate write here; the loop reads */

static void logf_(const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "echo-server level=%s %s\n", level, line);
}
#define LOG(...) logf_("info", __VA_ARGS__)
#define LOG_ERR(...) logf_("error", __VA_ARGS__)

static const char *sdk_error(void)
{
    return hangar_server_last_error(srv)->message;
}

/* ---- SDK callbacks (on the SDK's callback thread) ---- */

static void on_start_game_session(hangar_server_t *s, const hangar_game_session_t *gs, void *ud)
{
    (void)ud;
    LOG("start_game_session id=%s name=\"%s\" max_players=%d properties=%zu "
        "matchmaker_data=%.600s",
        gs->game_session_id, gs->name, gs->maximum_player_session_count, gs->game_property_count,
        gs->matchmaker_data);
    if (hangar_server_activate_game_session(s) == 0)
        LOG("game_session_activated id=%s", gs->game_session_id);
    else
        LOG_ERR("activate_game_session_failed error=\"%s\"", hangar_server_last_error(s)->message);
}

static void on_update_game_session(hangar_server_t *s, const hangar_update_game_session_t *u,
                                   void *ud)
{
    (void)s;
    (void)ud;
    static const char *const reasons[] = {"UNKNOWN", "MATCHMAKING_DATA_UPDATED", "BACKFILL_FAILED",
                                          "BACKFILL_TIMED_OUT", "BACKFILL_CANCELLED"};
    unsigned r = (unsigned)u->update_reason;
    /* a FlexMatch backfill added players (matchmaker_data lists them all) or ended without */
    LOG("update_game_session id=%s reason=%s backfill_ticket=%s matchmaker_data=%.600s",
        u->game_session.game_session_id, r < 5 ? reasons[r] : "UNKNOWN", u->backfill_ticket_id,
        u->game_session.matchmaker_data);
}

static void on_process_terminate(hangar_server_t *s, int64_t termination_time, void *ud)
{
    (void)s;
    (void)ud;
    LOG("process_terminate termination_time=%lld", (long long)termination_time);
    char c = 'T';
    if (write(wake_pipe[1], &c, 1) < 0)
        LOG_ERR("wake_failed error=\"%s\"", strerror(errno));
}

static bool on_health_check(hangar_server_t *s, void *ud)
{
    (void)s;
    (void)ud;
    return true; /* a real game would check that its main loop is alive */
}

static void on_signal(int sig)
{
    char c = (char)sig;
    ssize_t r = write(wake_pipe[1], &c, 1); /* async-signal-safe */
    (void)r;
}

/* ---- players ---- */

static void send_line(struct player *p, const char *prefix, const char *text)
{
    char line[LINE_MAX_BYTES + 512];
    int n = snprintf(line, sizeof(line), "%s%s\n", prefix, text);
    if (n > 0 && send(p->fd, line, (size_t)n, MSG_NOSIGNAL) < 0)
        LOG_ERR("send_failed fd=%d error=\"%s\"", p->fd, strerror(errno));
}

static void player_close(struct player *p, const char *why)
{
    if (p->session_id[0]) {
        if (hangar_server_remove_player_session(srv, p->session_id) == 0)
            LOG("player_removed player_session_id=%s reason=%s", p->session_id, why);
        else
            LOG_ERR("remove_player_session_failed player_session_id=%s error=\"%s\"", p->session_id,
                    sdk_error());
    }
    close(p->fd);
    p->fd = -1;
    p->session_id[0] = '\0';
    p->len = 0;
}

/* One complete line from a player (without its newline). Returns 0, or -1 to hang up. */
static int player_line(struct player *p, char *line)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    if (p->session_id[0]) { /* accepted: echo */
        send_line(p, "", line);
        return 0;
    }
    if (n > HANGAR_SERVER_MAX_ID_LEN) {
        send_line(p, "ERR ", "player session id too long");
        return -1;
    }
    if (hangar_server_accept_player_session(srv, line) != 0) {
        LOG("player_rejected player_session_id=%s error=\"%s\"", line, sdk_error());
        send_line(p, "ERR ", sdk_error());
        return -1;
    }
    memcpy(p->session_id, line, n + 1);
    LOG("player_accepted player_session_id=%s fd=%d", line, p->fd);
    send_line(p, "OK ", line);
    return 0;
}

static void player_read(struct player *p)
{
    ssize_t r = recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, 0);
    if (r <= 0) {
        player_close(p, "disconnected");
        return;
    }
    p->len += (size_t)r;
    p->buf[p->len] = '\0';
    char *start = p->buf, *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
        *nl = '\0';
        if (player_line(p, start) != 0) {
            player_close(p, "rejected");
            return;
        }
        start = nl + 1;
    }
    p->len -= (size_t)(start - p->buf);
    memmove(p->buf, start, p->len);
    if (p->len == sizeof(p->buf) - 1) { /* a line longer than we take */
        send_line(p, "ERR ", "line too long");
        player_close(p, "line_too_long");
    }
}

static void player_accept(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_PLAYERS; i++)
        if (players[i].fd < 0) {
            players[i].fd = fd;
            LOG("player_connected fd=%d", fd);
            return;
        }
    const char *full = "ERR server full\n";
    send(fd, full, strlen(full), MSG_NOSIGNAL);
    close(fd);
}

/* ---- main ---- */

static int listen_on(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)); /* IPv4 too */
    struct sockaddr_in6 a = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
        LOG_ERR("listen_failed port=%d error=\"%s\"", port, strerror(errno));
        exit(1);
    }
    return fd;
}

static void shut_down(const char *why)
{
    LOG("shutting_down reason=%s", why);
    for (int i = 0; i < MAX_PLAYERS; i++)
        if (players[i].fd >= 0)
            player_close(&players[i], "shutdown");
    if (hangar_server_process_ending(srv) != 0)
        LOG_ERR("process_ending_failed error=\"%s\"", sdk_error());
    hangar_server_free(srv);
    LOG("bye");
    exit(0);
}

int main(int argc, char **argv)
{
    hangar_server_params_t params = {0}; /* NULL fields: the SDK reads GAMELIFT_SDK_* */
    const char *port_env = getenv("PORT");
    int port = port_env ? atoi(port_env) : 7777;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *opt = argv[i], *val = argv[i + 1];
        if (strcmp(opt, "--port") == 0)
            port = atoi(val);
        else if (strcmp(opt, "--url") == 0)
            params.websocket_url = val;
        else if (strcmp(opt, "--fleet-id") == 0)
            params.fleet_id = val;
        else if (strcmp(opt, "--host-id") == 0)
            params.host_id = val;
        else if (strcmp(opt, "--auth-token") == 0)
            params.auth_token = val;
        else if (strcmp(opt, "--process-id") == 0)
            params.process_id = val;
        else {
            fprintf(stderr,
                    "usage: %s [--port N] [--url ws://...] [--fleet-id ID] "
                    "[--host-id NAME] [--auth-token TOKEN] [--process-id ID]\n",
                    argv[0]);
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "%s: option %s needs a value\n", argv[0], argv[argc - 1]);
        return 2;
    }

    for (int i = 0; i < MAX_PLAYERS; i++)
        players[i].fd = -1;
    if (pipe(wake_pipe) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int lfd = listen_on(port);
    unsigned v = hangar_server_version();
    LOG("listening port=%d sdk_version=%u.%u.%u", port, v >> 16, (v >> 8) & 255, v & 255);

    if (hangar_server_new(&params, &srv) != 0) {
        LOG_ERR("init_failed error=\"%s\"", hangar_server_last_error(NULL)->message);
        return 1;
    }
    static const char *log_paths[] = {"/tmp/echo-server.log"};
    hangar_process_params_t pp = {
        .port = port,
        .log_paths = log_paths,
        .log_path_count = 1,
        .on_start_game_session = on_start_game_session,
        .on_update_game_session = on_update_game_session,
        .on_process_terminate = on_process_terminate,
        .on_health_check = on_health_check,
    };
    if (hangar_server_process_ready(srv, &pp) != 0) {
        LOG_ERR("process_ready_failed error=\"%s\"", sdk_error());
        hangar_server_free(srv);
        return 1;
    }
    LOG("process_ready port=%d", port);

    for (;;) {
        struct pollfd fds[MAX_PLAYERS + 2];
        struct player *owner[MAX_PLAYERS + 2];
        nfds_t n = 0;
        fds[n] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
        owner[n++] = NULL;
        fds[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        owner[n++] = NULL;
        for (int i = 0; i < MAX_PLAYERS; i++)
            if (players[i].fd >= 0) {
                fds[n] = (struct pollfd){.fd = players[i].fd, .events = POLLIN};
                owner[n++] = &players[i];
            }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERR("poll_failed error=\"%s\"", strerror(errno));
            shut_down("poll_failed");
        }
        if (fds[0].revents) {
            char c = 0;
            if (read(wake_pipe[0], &c, 1) == 1)
                shut_down(c == 'T' ? "process_terminate" : c == SIGINT ? "SIGINT" : "SIGTERM");
        }
        if (fds[1].revents)
            player_accept(lfd);
        for (nfds_t i = 2; i < n; i++)
            if (fds[i].revents && owner[i]->fd >= 0)
                player_read(owner[i]);
    }
}
