/* hangar — helpers shared by the bench load generators (see loadlib.h). */
/* memmem, strcasestr: _GNU_SOURCE comes from the build (CMakeLists.txt) */
#include "loadlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth/sigv4.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- options ---- */

static int take_common(load_opts_t *o, int ch, const char *arg)
{
    switch (ch) {
    case 'a': o->addr = arg; break;
    case 'k': o->key = arg; break;
    case 's': o->secret = arg; break;
    case 'r': o->region = arg; break;
    case 'e': o->err_path = arg; break;
    case 'P': o->server_pid = atoi(arg); break;
    case 'd': o->duration = atof(arg); break;
    case 'W': o->warmup = atof(arg); break;
    case 'T': o->timeout_s = atof(arg); break;
    default: return 0;
    }
    return 1;
}

static int take_own(const load_opt_t *own, size_t n, int ch, const char *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (own[i].ch != ch)
            continue;
        switch (own[i].type) {
        case LOAD_INT: *(int *)own[i].dst = atoi(arg); break;
        case LOAD_DOUBLE: *(double *)own[i].dst = atof(arg); break;
        case LOAD_STR: *(const char **)own[i].dst = arg; break;
        }
        return 1;
    }
    return 0;
}

int load_parse(load_opts_t *o, int argc, char **argv, const load_opt_t *own, size_t n)
{
    char spec[128] = "ha:k:s:r:e:P:d:W:T:"; /* -h: the usage */
    size_t len = strlen(spec);
    for (size_t i = 0; i < n && len + 3 < sizeof(spec); i++) {
        spec[len++] = own[i].ch;
        spec[len++] = ':';
    }
    spec[len] = '\0';
    memset(o, 0, sizeof(*o));
    o->addr = "127.0.0.1:7770";
    o->key = getenv("HANGAR_ADMIN_KEY_ID");
    o->secret = getenv("HANGAR_ADMIN_SECRET");
    o->region = "us-east-1";
    o->duration = 10;
    o->warmup = 1;
    o->timeout_s = 10;
    int ch;
    while ((ch = getopt(argc, argv, spec)) != -1)
        if (!take_common(o, ch, optarg) && !take_own(own, n, ch, optarg))
            return -1;
    const char *colon = strrchr(o->addr, ':');
    if (colon == NULL || (size_t)(colon - o->addr) >= sizeof(o->host) || o->key == NULL ||
        o->secret == NULL || o->duration <= 0 || o->warmup < 0 || o->timeout_s <= 0)
        return -1;
    memcpy(o->host, o->addr, (size_t)(colon - o->addr));
    o->host[colon - o->addr] = '\0';
    for (const char *at = colon + 1; at && o->nports < 8; at = strchr(at, ',')) {
        if (*at == ',')
            at++;
        int p = atoi(at);
        if (p <= 0 || p > 65535)
            return -1;
        o->ports[o->nports++] = p;
    }
    o->port = o->ports[0];
    snprintf(o->hostport, sizeof(o->hostport), "%s:%d", o->host, o->port);
    snprintf(o->tag, sizeof(o->tag), "%x%llx", (unsigned)getpid(),
             (unsigned long long)time(NULL) & 0xffffff);
    return 0;
}

int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* ---- signed GameLift requests ---- */

int gl_sign(const load_opts_t *o, const char *date, const char *op, const char *body,
            char target[64], char *auth, size_t auth_cap)
{
    int tlen = snprintf(target, 64, "GameLift.%s", op);
    hg_sigv4_header_t h[4] = {
        {"host", 4, o->hostport, strlen(o->hostport)},
        {"x-amz-date", 10, date, 16},
        {"x-amz-target", 12, target, (size_t)tlen},
        {"content-type", 12, GL_CONTENT_TYPE, sizeof(GL_CONTENT_TYPE) - 1},
    };
    hg_sigv4_request_t r = {
        .method = "POST",
        .path = "/",
        .path_len = 1,
        .headers = h,
        .nheaders = 4,
        .body = body,
        .body_len = strlen(body),
    };
    return hg_sigv4_sign(&r, o->key, o->secret, o->region, "gamelift", date, auth, auth_cap) != 0
               ? -1
               : 0;
}

int gl_request(const load_opts_t *o, char *out, size_t cap, const char *date, const char *op,
               const char *body)
{
    char target[64], auth[512];
    if (gl_sign(o, date, op, body, target, auth, sizeof(auth)) < 0)
        return -1;
    int n = snprintf(out, cap,
                     "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\nX-Amz-Target: %s\r\n"
                     "Content-Type: " GL_CONTENT_TYPE "\r\nAuthorization: %s\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     o->hostport, date, target, auth, strlen(body), body);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- HTTP answers ---- */

static int in_begin(http_parser *p)
{
    http_in_t *in = p->data;
    in->len = 0;
    in->body[0] = '\0';
    return 0;
}

static int in_body(http_parser *p, const char *at, size_t len)
{
    http_in_t *in = p->data;
    body_append(in->body, in->cap, &in->len, at, len);
    return 0;
}

static int in_complete(http_parser *p)
{
    http_in_t *in = p->data;
    return in->complete ? in->complete(in) : 0;
}

static const http_parser_settings in_settings = {
    .on_message_begin = in_begin,
    .on_body = in_body,
    .on_message_complete = in_complete,
};

void http_in_init(http_in_t *in, char *buf, size_t cap, int (*complete)(http_in_t *), void *owner)
{
    http_parser_init(&in->parser, HTTP_RESPONSE);
    in->parser.data = in;
    in->body = buf;
    in->cap = cap;
    in->len = 0;
    buf[0] = '\0';
    in->complete = complete;
    in->owner = owner;
}

size_t http_in_feed(http_in_t *in, const char *data, size_t n)
{
    return http_parser_execute(&in->parser, &in_settings, data, n);
}

const char *http_in_failed(http_in_t *in)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&in->parser);
    if (e == HPE_OK)
        return NULL;
    snprintf(in->why, sizeof(in->why), "unparsable answer: %s", http_errno_description(e));
    return in->why;
}

/* ---- blocking client ---- */

void body_append(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    size_t room = cap - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, at, n);
    *len += n;
    buf[*len] = '\0';
}

static int sync_done(http_in_t *in)
{
    *(int *)in->owner = 1;
    return 0;
}

static int sync_connect(const load_opts_t *o, int rcv_timeout_s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &a.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (rcv_timeout_s > 0) {
        struct timeval tv = {.tv_sec = rcv_timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

sync_conn_t *sync_open(const load_opts_t *o, int rcv_timeout_s, size_t cap)
{
    int fd = sync_connect(o, rcv_timeout_s);
    if (fd < 0)
        return NULL;
    sync_conn_t *c = calloc(1, sizeof(*c));
    c->o = o;
    c->fd = fd;
    c->rcv_timeout_s = rcv_timeout_s;
    c->body = calloc(1, cap);
    c->cap = cap;
    return c;
}

void sync_close(sync_conn_t *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->body);
    free(c);
}

int sync_send(sync_conn_t *c, const char *req, size_t n)
{
    char buf[16384];
    int done = 0;
    http_in_t in;
    http_in_init(&in, c->body, c->cap, sync_done, &done);
    c->len = 0;
    if (c->fd < 0 && (c->fd = sync_connect(c->o, c->rcv_timeout_s)) < 0)
        return -1;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(c->fd, req + off, n - off);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    while (!done) {
        ssize_t got = read(c->fd, buf, sizeof(buf));
        if (got <= 0 || http_in_feed(&in, buf, (size_t)got) != (size_t)got) {
            close(c->fd);
            c->fd = -1;
            return -1;
        }
    }
    c->len = in.len;
    if (!http_should_keep_alive(&in.parser)) {
        close(c->fd);
        c->fd = -1; /* the next request connects again */
    }
    return in.parser.status_code;
}

int sync_gl(sync_conn_t *c, const char *op, const char *body)
{
    char req[8192], date[17];
    amz_date_now(date);
    int n = gl_request(c->o, req, sizeof(req), date, op, body);
    return n < 0 ? -1 : sync_send(c, req, (size_t)n);
}

static double metric(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
        if ((p == text || p[-1] == '\n') && p[nl] == ' ')
            return atof(p + nl + 1);
    return 0;
}

void metrics_read(const load_opts_t *o, const char *const *names, size_t n, metrics_t *m)
{
    char req[256];
    int len = snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", o->hostport);
    sync_conn_t *c = sync_open(o, 5, 1 << 20);
    memset(m, 0, sizeof(*m));
    m->ok = c && sync_send(c, req, (size_t)len) == 200 && strstr(c->body, names[0]) != NULL;
    for (size_t i = 0; i < n && i < METRICS_MAX && m->ok; i++)
        m->v[i] = metric(c->body, names[i]);
    sync_close(c);
}

/* ---- problems ---- */

void cap_add(captures_t *c, const char *fmt, ...)
{
    if (c->n == LOAD_MAX_CAPTURES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->text[c->n++], sizeof(c->text[0]), fmt, ap);
    va_end(ap);
}

void cap_dump(const captures_t *c, const char *path)
{
    FILE *ef = path && c->n ? fopen(path, "w") : NULL;
    for (int i = 0; i < c->n; i++) {
        fprintf(stderr, "=== %s\n", c->text[i]);
        if (ef)
            fprintf(ef, "=== %s\n", c->text[i]);
    }
    if (ef)
        fclose(ef);
}

/* ---- libuv streams ---- */

int tcp_start(uv_loop_t *loop, uv_tcp_t *tcp, uv_connect_t *req, void *data, const load_opts_t *o,
              uv_connect_cb cb)
{
    static unsigned next; /* every thread's connections, over the ports in turn */
    unsigned k = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
    struct sockaddr_in a;
    uv_ip4_addr(o->host, o->nports ? o->ports[k % (unsigned)o->nports] : o->port, &a);
    uv_tcp_init(loop, tcp);
    tcp->data = data;
    uv_tcp_nodelay(tcp, 1);
    req->data = data;
    return uv_tcp_connect(req, tcp, (const struct sockaddr *)&a, cb);
}

typedef struct copy_write {
    uv_write_t w;
    char data[];
} copy_write_t;

static void on_copy_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
}

static int queue_copy(uv_stream_t *s, const void *data, size_t len)
{
    copy_write_t *cw = malloc(sizeof(*cw) + len);
    memcpy(cw->data, data, len);
    cw->w.data = cw;
    uv_buf_t b = uv_buf_init(cw->data, (unsigned)len);
    int rc = uv_write(&cw->w, s, &b, 1, on_copy_written);
    if (rc < 0)
        free(cw);
    return rc;
}

void write_copy(uv_stream_t *s, const void *data, size_t len)
{
    (void)queue_copy(s, data, len);
}

int write_now(uv_stream_t *s, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    if (n == (int)len)
        return 0;
    if (n < 0 && n != UV_EAGAIN)
        return n;
    if (n < 0)
        n = 0;
    return queue_copy(s, (const char *)data + n, len - (size_t)n);
}

/* ---- WebSocket client ---- */

void ws_key(const unsigned char raw[16], char key[32], char accept[32])
{
    char cat[80];
    unsigned char sha[20];
    EVP_EncodeBlock((unsigned char *)key, raw, 16);
    snprintf(cat, sizeof(cat), "%s" WS_GUID, key);
    EVP_Digest(cat, strlen(cat), sha, NULL, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)accept, sha, 20);
}

long ws_handshake(char *data, size_t n, size_t max, const char *accept)
{
    char *e = memmem(data, n, "\r\n\r\n", 4);
    if (e == NULL)
        return n > max ? WS_HS_LONG : 0;
    size_t hl = (size_t)(e - data) + 4;
    *e = '\0';
    if (strncmp(data, "HTTP/1.1 101", 12) != 0)
        return WS_HS_STATUS;
    const char *a = strcasestr(data, "\r\nSec-WebSocket-Accept:");
    if (a)
        a += 23;
    while (a && *a == ' ')
        a++;
    if (a == NULL || strncmp(a, accept, strlen(accept)) != 0)
        return WS_HS_ACCEPT;
    return (long)hl;
}

size_t ws_frame(unsigned char *out, int opcode, const void *payload, size_t len, uint32_t mask)
{
    size_t hl = 2;
    out[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)(len & 0xff);
        hl = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(out + hl, &mask, 4);
    const unsigned char *mk = out + hl, *p = payload;
    for (size_t i = 0; i < len; i++)
        out[hl + 4 + i] = p[i] ^ mk[i & 3];
    return hl + 4 + len;
}

int ws_parse(const void *data, size_t avail, uint64_t max, ws_hdr_t *h)
{
    const unsigned char *f = data;
    if (avail < 2)
        return 0;
    h->fin = (f[0] & 0x80) != 0;
    h->opcode = f[0] & 0x0f;
    h->len = f[1] & 0x7f;
    h->hl = 2;
    if (f[1] & 0x80)
        return WS_MASKED;
    if (h->len == 126) {
        if (avail < 4)
            return 0;
        h->len = (uint64_t)f[2] << 8 | f[3];
        h->hl = 4;
    } else if (h->len == 127) {
        if (avail < 10)
            return 0;
        h->len = 0;
        for (int i = 0; i < 8; i++)
            h->len = h->len << 8 | f[2 + i];
        h->hl = 10;
    }
    if (h->len > max)
        return WS_TOO_BIG;
    return avail >= h->hl + h->len;
}

/* ---- histogram ---- */

static unsigned hist_index(uint64_t v)
{
    if (v < H_SUB)
        return (unsigned)v;
    unsigned h = 63u - (unsigned)__builtin_clzll(v); /* highest set bit, >= H_SUB_BITS */
    uint64_t sub = v >> (h - H_SUB_BITS);            /* in [H_SUB, 2*H_SUB) */
    return (h - H_SUB_BITS + 1) * H_SUB + (unsigned)(sub - H_SUB);
}

/* Middle of the bucket's range. */
static uint64_t hist_value(unsigned idx)
{
    if (idx < H_SUB)
        return idx;
    unsigned b = idx / H_SUB;
    uint64_t sub = idx % H_SUB + H_SUB;
    uint64_t lo = sub << (b - 1), width = (uint64_t)1 << (b - 1);
    return lo + width / 2;
}

void hist_add(hist_t *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist_t *into, const hist_t *h)
{
    for (unsigned i = 0; i < H_BUCKETS; i++)
        into->n[i] += h->n[i];
    into->count += h->count;
    into->sum += h->sum;
    if (h->max > into->max)
        into->max = h->max;
}

double hist_q_ms(const hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->count + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return (double)(v > h->max ? h->max : v) / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

void amz_date_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void sleep_until(uint64_t t)
{
    uint64_t now = uv_hrtime();
    if (t <= now)
        return;
    struct timespec ts = {.tv_sec = (time_t)((t - now) / 1000000000),
                          .tv_nsec = (long)((t - now) % 1000000000)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static long long stat_ticks(const char *path)
{
    char buf[2048];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

long long proc_ticks(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    return stat_ticks(path);
}

long long proc_task_ticks(int pid, int tid)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
    return stat_ticks(path);
}

void machine_ticks(unsigned long long *busy, unsigned long long *total, unsigned long long *irq)
{
    unsigned long long v[8] = {0};
    *busy = *total = *irq = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        *total = *busy + v[3] + v[4];
        *irq = v[5] + v[6];
    }
    fclose(f);
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

void cpu_mark(cpu_mark_t *m, int server_pid)
{
    m->server = server_pid ? proc_ticks(server_pid) : -1;
    m->self = self_cpu_s();
    machine_ticks(&m->busy, &m->total, &m->irq);
}

void cpu_report(const cpu_mark_t *a, const cpu_mark_t *b, double seconds, cpu_report_t *out)
{
    long hz = sysconf(_SC_CLK_TCK);
    out->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    out->busy_pct =
        b->total > a->total ? (double)(b->busy - a->busy) / (double)(b->total - a->total) * 100 : 0;
    double irq_share =
        b->total > a->total ? (double)(b->irq - a->irq) / (double)(b->total - a->total) : 0;
    out->client_pct = (b->self - a->self) / seconds * 100;
    out->server_pct = -1;
    if (a->server >= 0 && b->server >= 0)
        out->server_pct = (double)(b->server - a->server) / (double)hz / seconds * 100;
    /* Kernel time in (soft)interrupts, charged to no process: mostly loopback TCP. And the CPU
     * used by neither the server, the load generator nor interrupts: other processes. */
    out->irq_pct = irq_share * 100 * (double)out->ncpu;
    out->other_pct = out->busy_pct * (double)out->ncpu - out->client_pct -
                     (out->server_pct > 0 ? out->server_pct : 0) - out->irq_pct;
    if (out->other_pct < 0)
        out->other_pct = 0;
}

void result_tail(const cpu_report_t *cpu, int flagged, const uint64_t *status, int nstatus)
{
    printf(" client_cpu_pct=%.0f softirq_cpu_pct=%.0f other_cpu_pct=%.0f machine_busy_pct=%.0f"
           " flagged=%d",
           cpu->client_pct, cpu->irq_pct, cpu->other_pct, cpu->busy_pct, flagged);
    for (int s = 0; s < nstatus; s++)
        if (status[s] && s != 200)
            printf(" status_%d=%llu", s, (unsigned long long)status[s]);
    printf("\n");
}
