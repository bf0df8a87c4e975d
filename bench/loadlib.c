/* hangar — helpers shared by the bench load generators (see loadlib.h). */
#include "loadlib.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

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
