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
 * which only logs, activates the session, keeps the match's teams, or wakes the poll loop through
 * a pipe to shut down.
 *
 * FlexMatch manual backfill (BACKFILL_CONFIG_ARN=<matchmaking configuration ARN>): the server
 * remembers each matched player's team from the game session's MatchmakerData (on start and on
 * every MATCHMAKING_DATA_UPDATED) and each connected player's id (DescribePlayerSessions after
 * AcceptPlayerSession). When a player leaves it asks FlexMatch for a replacement
 * (hangar_server_start_match_backfill) with the players still connected and their teams; when
 * none is left it stops the backfill it started, if that is still searching
 * (hangar_server_stop_match_backfill).
 *
 * usage: echo-server [--port N] [--url ws://...] [--fleet-id ID] [--host-id NAME]
 *                    [--auth-token TOKEN] [--process-id ID]
 * Options left out come from the SDK's environment variables (GAMELIFT_SDK_WEBSOCKET_URL,
 * GAMELIFT_SDK_FLEET_ID, GAMELIFT_SDK_HOST_ID, GAMELIFT_SDK_AUTH_TOKEN, ...); the port from
 * PORT, else 7777; BACKFILL_CONFIG_ARN turns the manual backfill on.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <hangar/server.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PLAYERS 64
#define LINE_MAX_BYTES 1024
#define MAX_MATCH 200 /* players in one FlexMatch match at most */
#define JSON_MAX_DEPTH 32

struct player {
    int fd;                                        /* -1: free slot */
    char session_id[HANGAR_SERVER_MAX_ID_LEN + 1]; /* "" until accepted */
    char player_id[HANGAR_SERVER_MAX_ID_LEN + 1];  /* "" unless known (backfill only) */
    char buf[LINE_MAX_BYTES];
    size_t len;
};

/* A matched player and its team, from MatchmakerData. */
struct member {
    char player_id[HANGAR_SERVER_MAX_ID_LEN + 1];
    char team[HANGAR_SERVER_MAX_NAME_LEN + 1];
};

static hangar_server_t *srv;
static struct player players[MAX_PLAYERS];
static int wake_pipe[2]; /* signals and on_process_terminate write here; the loop reads */

/* Backfill state, shared by the callback thread (which writes the roster) and the poll loop. */
static const char *backfill_config_arn;                      /* NULL: no backfill */
static pthread_mutex_t match_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the three below */
static struct member roster[MAX_MATCH]; /* the teams of the current MatchmakerData */
static size_t roster_len;
static char backfill_ticket[HANGAR_SERVER_TICKET_ID_SIZE]; /* ours, still searching; or "" */

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

/* ---- MatchmakerData: the team of each matched player ----
 *
 * The example links nothing but the SDK, so instead of a JSON library it reads MatchmakerData
 * ({"teams":[{"name":"red","players":[{"playerId":"p1","attributes":{..}}]}],..}, the
 * matchmaker's JSON) with the small reader below. It follows the JSON grammar over the whole
 * text — strings with every escape, numbers, literals, nested objects and arrays — so it finds
 * "teams" only as a member of the top object and "playerId" only in a team's players, whatever
 * order the members come in and whatever the attributes hold; a malformed text is refused as a
 * whole. */

struct json {
    const char *p;
    int depth;
};

struct roster_load {
    struct member *out;
    size_t n;
    const char *team; /* while reading a team's players */
};

struct team_read {
    char name[HANGAR_SERVER_MAX_NAME_LEN + 1];
    const char *players; /* where its list of players starts */
};

static void j_ws(struct json *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int j_hex4(struct json *j, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        char c = *j->p;
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        *cp = *cp << 4 | (unsigned)v;
    }
    return 0;
}

/* The UTF-8 bytes of a code point (not a surrogate, not 0) into u; their count. */
static size_t utf8_put(char *u, unsigned cp)
{
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        u[i] = (char)(0x80 | (cp & 0x3f));
    u[0] = (char)(lead[n] | cp);
    return n;
}

/* Consume c if it comes next (never steps over the end of the text). */
static int j_eat(struct json *j, char c)
{
    if (*j->p != c)
        return 0;
    j->p++;
    return 1;
}

/* A string, decoded into out (cap bytes with the NUL) unless out is NULL. 0; 1 when it does not
 * fit (out is then ""); -1 when malformed. */
static int j_string(struct json *j, char *out, size_t cap)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    size_t n = 0;
    int fits = 1;
    if (!j_eat(j, '"'))
        return -1;
    while (*j->p != '"') {
        unsigned c = (unsigned char)*j->p;
        char u[4] = {(char)c};
        size_t un = 1;
        if (c < 0x20) /* a control character, or the end of the text */
            return -1;
        j->p++;
        if (c == '\\') {
            const char *e = *j->p ? strchr(from, *j->p) : NULL;
            unsigned cp, lo;
            if (*j->p == 'u') {
                j->p++;
                if (j_hex4(j, &cp) != 0 || cp == 0 || (cp >= 0xdc00 && cp < 0xe000))
                    return -1;
                if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
                    if (j->p[0] != '\\' || j->p[1] != 'u')
                        return -1;
                    j->p += 2;
                    if (j_hex4(j, &lo) != 0 || lo < 0xdc00 || lo >= 0xe000)
                        return -1;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                un = utf8_put(u, cp);
            } else if (e) {
                u[0] = to[e - from];
                j->p++;
            } else {
                return -1;
            }
        }
        if (out && fits && n + un < cap)
            memcpy(out + n, u, un);
        else
            fits = 0;
        n += un;
    }
    j->p++;
    if (out)
        out[fits ? n : 0] = '\0';
    return out && !fits ? 1 : 0;
}

typedef int (*member_cb)(struct json *j, const char *key, void *ctx); /* reads the value */
typedef int (*element_cb)(struct json *j, void *ctx);

static int j_skip(struct json *j);

static int j_object(struct json *j, member_cb cb, void *ctx)
{
    char key[HANGAR_SERVER_MAX_NAME_LEN + 1]; /* a longer key is read as "" */
    if (!j_eat(j, '{') || ++j->depth > JSON_MAX_DEPTH)
        return -1;
    j_ws(j);
    for (int first = 1; *j->p != '}'; first = 0) {
        if (!first && !j_eat(j, ','))
            return -1;
        j_ws(j);
        if (j_string(j, key, sizeof(key)) < 0)
            return -1;
        j_ws(j);
        if (!j_eat(j, ':'))
            return -1;
        j_ws(j);
        if ((cb ? cb(j, key, ctx) : j_skip(j)) != 0)
            return -1;
        j_ws(j);
    }
    j->p++;
    j->depth--;
    return 0;
}

static int j_array(struct json *j, element_cb cb, void *ctx)
{
    if (!j_eat(j, '[') || ++j->depth > JSON_MAX_DEPTH)
        return -1;
    j_ws(j);
    for (int first = 1; *j->p != ']'; first = 0) {
        if (!first && !j_eat(j, ','))
            return -1;
        j_ws(j);
        if ((cb ? cb(j, ctx) : j_skip(j)) != 0)
            return -1;
        j_ws(j);
    }
    j->p++;
    j->depth--;
    return 0;
}

/* Any value. */
static int j_skip(struct json *j)
{
    static const char *const literals[] = {"true", "false", "null"};
    switch (*j->p) {
    case '"': return j_string(j, NULL, 0);
    case '{': return j_object(j, NULL, NULL);
    case '[': return j_array(j, NULL, NULL);
    }
    for (int i = 0; i < 3; i++)
        if (strncmp(j->p, literals[i], strlen(literals[i])) == 0) {
            j->p += strlen(literals[i]);
            return 0;
        }
    size_t k = strspn(j->p, "+-0123456789.eE");
    j->p += k;
    return k ? 0 : -1;
}

static int on_player_member(struct json *j, const char *key, void *ctx)
{
    struct member *m = ctx;
    if (strcmp(key, "playerId") != 0)
        return j_skip(j);
    return j_string(j, m->player_id, sizeof(m->player_id)) < 0 ? -1 : 0; /* too long: "" */
}

static int on_player(struct json *j, void *ctx)
{
    struct roster_load *l = ctx;
    struct member m = {"", ""};
    if (j_object(j, on_player_member, &m) != 0)
        return -1;
    if (m.player_id[0] && l->n < MAX_MATCH) {
        snprintf(m.team, sizeof(m.team), "%s", l->team);
        l->out[l->n++] = m;
    }
    return 0;
}

static int on_team_member(struct json *j, const char *key, void *ctx)
{
    struct team_read *t = ctx;
    if (strcmp(key, "name") == 0)
        return j_string(j, t->name, sizeof(t->name)) < 0 ? -1 : 0;
    if (strcmp(key, "players") == 0 && *j->p == '[')
        t->players = j->p;
    return j_skip(j);
}

static int on_team(struct json *j, void *ctx)
{
    struct roster_load *l = ctx;
    struct team_read t = {"", NULL};
    if (j_object(j, on_team_member, &t) != 0)
        return -1;
    if (t.players == NULL || t.name[0] == '\0')
        return 0;
    /* its players again, now that the team's name is known (the members may come in any order) */
    struct json again = {t.players, j->depth};
    l->team = t.name;
    return j_array(&again, on_player, l);
}

static int on_top_member(struct json *j, const char *key, void *ctx)
{
    if (strcmp(key, "teams") == 0 && *j->p == '[')
        return j_array(j, on_team, ctx);
    return j_skip(j);
}

/* Replace the roster with the players of a MatchmakerData text ("" for a game session FlexMatch
 * did not make). Callback thread. */
static void roster_load(const char *text)
{
    static struct member loaded[MAX_MATCH]; /* only the callback thread loads */
    struct roster_load l = {loaded, 0, NULL};
    struct json j = {text, 0};
    int ok = 1;
    if (*text) {
        j_ws(&j);
        ok = j_object(&j, on_top_member, &l) == 0;
        j_ws(&j);
        ok = ok && *j.p == '\0';
    }
    if (!ok) {
        LOG_ERR("matchmaker_data_unreadable");
        l.n = 0;
    }
    pthread_mutex_lock(&match_mu);
    memcpy(roster, loaded, l.n * sizeof(*loaded));
    roster_len = l.n;
    pthread_mutex_unlock(&match_mu);
}

/* ---- SDK callbacks (on the SDK's callback thread) ---- */

static void on_start_game_session(hangar_server_t *s, const hangar_game_session_t *gs, void *ud)
{
    (void)ud;
    LOG("start_game_session id=%s name=\"%s\" max_players=%d properties=%zu "
        "matchmaker_data=%.600s",
        gs->game_session_id, gs->name, gs->maximum_player_session_count, gs->game_property_count,
        gs->matchmaker_data);
    roster_load(gs->matchmaker_data);
    pthread_mutex_lock(&match_mu);
    backfill_ticket[0] = '\0';
    pthread_mutex_unlock(&match_mu);
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
    if (u->update_reason == HANGAR_UPDATE_REASON_MATCHMAKING_DATA_UPDATED)
        roster_load(u->game_session.matchmaker_data);
    pthread_mutex_lock(&match_mu);
    if (strcmp(u->backfill_ticket_id, backfill_ticket) == 0) /* our backfill ended */
        backfill_ticket[0] = '\0';
    pthread_mutex_unlock(&match_mu);
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

/* A player left: ask FlexMatch for a replacement, with the players still connected whose team
 * the MatchmakerData gave; with none left, stop the backfill we started if it still searches.
 * Players RESERVED but not connected yet are left out (a real game might count them too).
 * Poll loop. */
static void backfill_after_leave(void)
{
    hangar_player_t req_players[MAX_PLAYERS];
    char teams[MAX_PLAYERS][HANGAR_SERVER_MAX_NAME_LEN + 1]; /* copies: the roster may change */
    char ticket[HANGAR_SERVER_TICKET_ID_SIZE];
    size_t n = 0;
    pthread_mutex_lock(&match_mu);
    for (int i = 0; i < MAX_PLAYERS; i++) {
        const struct player *p = &players[i];
        for (size_t k = 0; p->fd >= 0 && p->player_id[0] && k < roster_len; k++)
            if (strcmp(roster[k].player_id, p->player_id) == 0) {
                memcpy(teams[n], roster[k].team, sizeof(teams[n]));
                req_players[n] = (hangar_player_t){.player_id = p->player_id, .team = teams[n]};
                n++;
                break;
            }
    }
    memcpy(ticket, backfill_ticket, sizeof(ticket));
    pthread_mutex_unlock(&match_mu);

    if (n == 0 && ticket[0] == '\0') {
        LOG("backfill_skipped reason=no_matched_player_connected");
    } else if (n == 0) {
        if (hangar_server_stop_match_backfill(srv, NULL, backfill_config_arn, ticket) == 0)
            LOG("backfill_stopped ticket=%s", ticket);
        else
            LOG_ERR("backfill_stop_failed ticket=%s code=%s error=\"%s\"", ticket,
                    hangar_server_err_name(hangar_server_last_error(srv)->code), sdk_error());
        ticket[0] = '\0';
    } else {
        /* NULL game session: the current one; no ticket id: the service makes one (and replaces
         * our previous backfill if it still searches) */
        hangar_start_match_backfill_request_t req = {
            .matchmaking_configuration_arn = backfill_config_arn,
            .players = req_players,
            .player_count = n,
        };
        if (hangar_server_start_match_backfill(srv, &req, ticket, sizeof(ticket)) == 0) {
            LOG("backfill_started ticket=%s players=%zu", ticket, n);
        } else {
            LOG_ERR("backfill_failed code=%s error=\"%s\"",
                    hangar_server_err_name(hangar_server_last_error(srv)->code), sdk_error());
            ticket[0] = '\0';
        }
    }
    /* An UpdateGameSession that ended the new ticket before we store it here would leave it
     * stored: a later stop then fails harmlessly (the service says it already ended). */
    pthread_mutex_lock(&match_mu);
    memcpy(backfill_ticket, ticket, sizeof(ticket));
    pthread_mutex_unlock(&match_mu);
}

static void player_close(struct player *p, const char *why)
{
    int was_playing = p->session_id[0] != '\0';
    if (was_playing) {
        if (hangar_server_remove_player_session(srv, p->session_id) == 0)
            LOG("player_removed player_session_id=%s reason=%s", p->session_id, why);
        else
            LOG_ERR("remove_player_session_failed player_session_id=%s error=\"%s\"", p->session_id,
                    sdk_error());
    }
    close(p->fd);
    p->fd = -1;
    p->session_id[0] = '\0';
    p->player_id[0] = '\0';
    p->len = 0;
    if (was_playing && backfill_config_arn && strcmp(why, "shutdown") != 0)
        backfill_after_leave();
}

/* The player id behind an accepted player session (the backfill names players by id). */
static void player_learn_id(struct player *p)
{
    hangar_describe_player_sessions_request_t req = {.player_session_id = p->session_id};
    hangar_player_sessions_t *res = NULL;
    if (hangar_server_describe_player_sessions(srv, &req, &res) != 0) {
        LOG_ERR("describe_player_sessions_failed player_session_id=%s error=\"%s\"", p->session_id,
                sdk_error());
        return;
    }
    if (res->count == 1)
        snprintf(p->player_id, sizeof(p->player_id), "%s", res->sessions[0].player_id);
    hangar_server_player_sessions_free(res);
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
    if (backfill_config_arn)
        player_learn_id(p);
    LOG("player_accepted player_session_id=%s fd=%d player_id=%s", line, p->fd,
        p->player_id[0] ? p->player_id : "-");
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
    const char *arn = getenv("BACKFILL_CONFIG_ARN");
    backfill_config_arn = arn && *arn ? arn : NULL;
    if (pipe(wake_pipe) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int lfd = listen_on(port);
    unsigned v = hangar_server_version();
    LOG("listening port=%d sdk_version=%u.%u.%u backfill=%s", port, v >> 16, (v >> 8) & 255,
        v & 255, backfill_config_arn ? backfill_config_arn : "off");

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
