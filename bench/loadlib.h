/* hangar — what the bench load generators (glload, evload, sessload) share: the command line
 * (the common options and a table of each tool's own), signed GameLift JSON 1.1 requests, the
 * HTTP answer collector of every connection, a blocking HTTP client for set-up, read-backs and
 * /metrics, captured problems, TCP connects and writes on libuv, WebSocket client framing, a
 * log-linear latency histogram, the x-amz-date of now, CPU readings of a process, of one of its
 * threads, of this process and of the machine (for the server / client / softirq / others CPU
 * columns of bench/RESULTS.md), and the tail of the RESULT line.
 *
 * Everything here is for one tool's own use: no locking (glload's worker threads each use their
 * own objects); the blocking client is for set-up and for the window's edges, never for the
 * measured load.
 */
#ifndef HG_BENCH_LOADLIB_H
#define HG_BENCH_LOADLIB_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- the options every tool takes ---- */

typedef struct load_opts {
    const char *addr; /* -a HOST:PORT as given */
    char host[64];    /* IPv4 address */
    int port;         /* the first port of -a */
    int ports[8]; /* -a HOST:PORT[,PORT…]: new connections go to them in turn (a cluster's nodes) */
    int nports;
    char hostport[80];                  /* the Host header (and the signed host) */
    const char *key, *secret, *region;  /* SigV4: -k, -s ($HANGAR_ADMIN_KEY_ID / _SECRET), -r */
    const char *err_path;               /* -e: the captured problems go there too */
    int server_pid;                     /* -P: the daemon whose CPU is read; 0 none */
    double duration, warmup, timeout_s; /* -d, -W, -T, in seconds */
    char tag[32];                       /* unique to this run (pid, time): names what it creates */
} load_opts_t;

/* One of a tool's own options, as a table row: each takes an argument. */
typedef enum { LOAD_INT, LOAD_DOUBLE, LOAD_STR } load_opt_type_t;

typedef struct load_opt {
    char ch;
    load_opt_type_t type;
    void *dst; /* int *, double * or const char ** (borrows argv) */
} load_opt_t;

/* The command line: the common options (-a -k -s -r -e -P -d -W -T) into o, whose defaults are
 * 127.0.0.1:7770, credentials from the environment, us-east-1, a 10 s window after 1 s of warm-up
 * and 10 s for an answer; the tool's own, own[0..n), into their destinations (which hold their
 * defaults). Then splits the address, checks the credentials are there and the times sane, and
 * makes the tag. Returns 0, or -1 (an unknown option, -h, or a bad common value: print the
 * usage). */
int load_parse(load_opts_t *o, int argc, char **argv, const load_opt_t *own, size_t n);
/* The index of name in names[0..n) (a mode's or a workload's), or -1. */
int name_index(const char *const *names, int n, const char *name);

/* ---- signed GameLift JSON 1.1 requests (POST /, x-amz-target GameLift.OP) ---- */

#define GL_CONTENT_TYPE "application/x-amz-json-1.1"

/* SigV4 over host, x-amz-date, x-amz-target and content-type, as the AWS SDKs sign: the
 * X-Amz-Target value into target (64 bytes) and the Authorization value into auth. date is the
 * 16-character x-amz-date. Returns 0 or -1. */
int gl_sign(const load_opts_t *o, const char *date, const char *op, const char *body,
            char target[64], char *auth, size_t auth_cap);
/* The whole signed request (headers and body) into out. Returns its length, or -1. */
int gl_request(const load_opts_t *o, char *out, size_t cap, const char *date, const char *op,
               const char *body);

/* ---- HTTP answers read on a socket ---- */

/* Append n bytes at `at` to buf (len bytes used, cap in all; NUL-terminated, the rest dropped). */
void body_append(char *buf, size_t cap, size_t *len, const char *at, size_t n);

/* An answer's parser and the buffer its body goes into. The owner embeds it per connection and
 * its buffer (borrowed until the connection is done with). */
typedef struct http_in {
    http_parser parser;
    char *body; /* NUL-terminated; truncated at cap - 1 bytes */
    size_t len, cap;
    int (*complete)(struct http_in *in); /* at the end of each answer: 0 to go on (http_parser) */
    void *owner;
    char why[128];
} http_in_t;

/* Ready for the answers of a new connection, their bodies into buf (cap bytes). */
void http_in_init(http_in_t *in, char *buf, size_t cap, int (*complete)(http_in_t *), void *owner);
/* Parse n bytes read. Returns the bytes taken: fewer than n when complete paused the parser
 * (http_parser_pause) or the answer is unparsable (then http_in_failed() says why). */
size_t http_in_feed(http_in_t *in, const char *data, size_t n);
/* "unparsable answer: …" when the parser failed (or is paused), else NULL. */
const char *http_in_failed(http_in_t *in);

/* ---- blocking HTTP client: set-up and /metrics, before and after the load ---- */

/* A keep-alive connection and its last answer. */
typedef struct sync_conn {
    const load_opts_t *o; /* borrowed until sync_close() */
    int fd, rcv_timeout_s;
    char *body; /* the last answer's body, NUL-terminated, truncated at cap - 1 bytes */
    size_t len, cap;
} sync_conn_t;

/* A connection to the daemon (TCP_NODELAY; a receive timeout of rcv_timeout_s seconds when above
 * 0), answers kept up to cap bytes. Returns a new connection (release with sync_close()), or NULL
 * with errno set. */
sync_conn_t *sync_open(const load_opts_t *o, int rcv_timeout_s, size_t cap);
/* NULL-safe; c is invalid after this call. */
void sync_close(sync_conn_t *c);
/* Send n bytes of req and read one answer into c->body. Returns the HTTP status, or -1. When the
 * daemon closes the connection after the answer, it is opened again for the next request. */
int sync_send(sync_conn_t *c, const char *req, size_t n);
/* One signed GameLift request (x-amz-date of now). Returns the status, or -1. */
int sync_gl(sync_conn_t *c, const char *op, const char *body);

#define METRICS_MAX 32

/* Counters read from the daemon's GET /metrics at one instant. */
typedef struct metrics {
    int ok; /* the answer was a 200 that holds the first name asked for */
    double v[METRICS_MAX];
} metrics_t;

/* The n (<= METRICS_MAX) Prometheus samples names (with their labels, if any) into m->v, 0 when
 * absent; on a connection of its own. */
void metrics_read(const load_opts_t *o, const char *const *names, size_t n, metrics_t *m);

/* ---- problems: the first few, with their text ---- */

#define LOAD_MAX_CAPTURES 8

typedef struct captures {
    char text[LOAD_MAX_CAPTURES][2048];
    int n;
} captures_t;

void cap_add(captures_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Each capture to stderr ("=== …") and, when path is not NULL, to that file as well. */
void cap_dump(const captures_t *c, const char *path);

/* ---- libuv streams ---- */

/* uv_tcp_init tcp on loop (handle data: data, TCP_NODELAY) and connect it to the daemon (req
 * data: data). Returns uv_tcp_connect's result: 0, or a libuv error (the handle is open: close
 * it). */
int tcp_start(uv_loop_t *loop, uv_tcp_t *tcp, uv_connect_t *req, void *data, const load_opts_t *o,
              uv_connect_cb cb);

/* Queue a private copy of len bytes (uv_write; freed when written). */
void write_copy(uv_stream_t *s, const void *data, size_t len);
/* Write len bytes at once when the kernel takes them (uv_try_write), queue a copy of the rest.
 * Returns 0 or a libuv error. */
int write_now(uv_stream_t *s, const void *data, size_t len);

/* ---- WebSocket client (RFC 6455): handshake and frames ---- */

/* Sec-WebSocket-Key from 16 random bytes, and the Sec-WebSocket-Accept the server must answer
 * (both NUL-terminated base64, 25 and 29 bytes). */
void ws_key(const unsigned char raw[16], char key[32], char accept[32]);

enum { WS_HS_LONG = -1, WS_HS_STATUS = -2, WS_HS_ACCEPT = -3 };
/* The upgrade's answer at the start of data (n bytes): its length when it is a 101 with the
 * expected accept value, 0 while incomplete (and at most max bytes), or WS_HS_LONG (no end
 * within max bytes), WS_HS_STATUS (not a 101: data is NUL-terminated after the headers, for
 * the report), WS_HS_ACCEPT (a wrong or missing Sec-WebSocket-Accept). */
long ws_handshake(char *data, size_t n, size_t max, const char *accept);

/* A masked client frame (FIN set) of len payload bytes into out, which holds len + 14 bytes.
 * Returns the frame's length. */
size_t ws_frame(unsigned char *out, int opcode, const void *payload, size_t len, uint32_t mask);

typedef struct ws_hdr {
    int fin, opcode;
    size_t hl;    /* header bytes */
    uint64_t len; /* payload bytes, which follow the header */
} ws_hdr_t;

enum { WS_MASKED = -1, WS_TOO_BIG = -2 };
/* The server frame at the start of data (avail bytes): 1 when it is all there (*h filled), 0
 * when more bytes are needed, WS_MASKED (a server must not mask), WS_TOO_BIG (payload above
 * max; h->len says how big). */
int ws_parse(const void *data, size_t avail, uint64_t max, ws_hdr_t *h);

/* ---- histogram: log-linear over nanoseconds (128 sub-buckets per power of two: <= 0.8%) ---- */

#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_BUCKETS ((64 - H_SUB_BITS + 1) * H_SUB)

typedef struct hist {
    uint64_t n[H_BUCKETS];
    uint64_t count, max, sum;
} hist_t;

void hist_add(hist_t *h, uint64_t v);
void hist_merge(hist_t *into, const hist_t *h);
/* Quantile q (0..1) in milliseconds; 0 when empty. */
double hist_q_ms(const hist_t *h, double q);

/* ---- time ---- */

/* YYYYMMDDTHHMMSSZ of now (UTC), NUL-terminated. */
void amz_date_now(char out[17]);
/* Sleep until uv_hrtime() reaches t. */
void sleep_until(uint64_t t);

/* ---- CPU ---- */

/* utime+stime of pid in clock ticks (/proc/PID/stat), or -1. */
long long proc_ticks(int pid);
/* utime+stime of one thread tid of pid (/proc/PID/task/TID/stat), or -1. A daemon's loop
 * thread is the one whose tid is its pid: this tells a saturated loop from busy helpers. */
long long proc_task_ticks(int pid, int tid);
/* Machine-wide jiffies from /proc/stat: busy (as lib.sh's bp_cpu_snap), total, and the part of
 * busy spent in interrupts and softirqs (loopback TCP is mostly processed there, and that time is
 * charged to no process). */
void machine_ticks(unsigned long long *busy, unsigned long long *total, unsigned long long *irq);
/* CPU seconds this process used so far (all threads). */
double self_cpu_s(void);

/* CPU over a window: take cpu_mark() at both edges, then cpu_report(). */
typedef struct cpu_mark {
    long long server; /* -1 without a server pid */
    double self;
    unsigned long long busy, total, irq;
} cpu_mark_t;

typedef struct cpu_report {
    double server_pct; /* -1 when unknown; 1 core = 100 */
    double client_pct, irq_pct, other_pct;
    double busy_pct; /* all cores = 100 */
    long ncpu;
} cpu_report_t;

void cpu_mark(cpu_mark_t *m, int server_pid);
void cpu_report(const cpu_mark_t *a, const cpu_mark_t *b, double seconds, cpu_report_t *out);

/* The end of a RESULT line: client, softirq, other CPU and machine busy, flagged, the answers
 * other than 200 of status[0..nstatus) (status_NNN=count), and the newline. */
void result_tail(const cpu_report_t *cpu, int flagged, const uint64_t *status, int nstatus);

#endif
