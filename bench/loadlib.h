/* hangar — helpers shared by the bench load generators (glload, evload, sessload): a log-linear
 * latency histogram, the x-amz-date of now, and CPU readings of a process, of one of its threads,
 * of this process and of the machine (for the server / client / softirq / others CPU columns of
 * bench/RESULTS.md).
 */
#ifndef HG_BENCH_LOADLIB_H
#define HG_BENCH_LOADLIB_H

#include <stddef.h>
#include <stdint.h>

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

#endif
