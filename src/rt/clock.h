/* hangar — the injectable clock.
 *
 * Every domain timeout (claims, health windows, placements, heartbeats) reads an hg_clock_t,
 * never the system clock directly, so unit tests move time by hand and never sleep.
 * hg_clock_now_ms() is wall time in milliseconds since the epoch (what the APIs show as
 * timestamps). The real clock reads CLOCK_REALTIME; a manual clock only moves when told.
 */
#ifndef HG_RT_CLOCK_H
#define HG_RT_CLOCK_H

#include <stdint.h>

typedef struct hg_clock {
    int manual;
    int64_t manual_ms;
} hg_clock_t;

void hg_clock_init_real(hg_clock_t *c);
void hg_clock_init_manual(hg_clock_t *c, int64_t start_ms);
/* Manual clocks only. */
void hg_clock_advance(hg_clock_t *c, int64_t ms);
int64_t hg_clock_now_ms(const hg_clock_t *c);
/* Monotonic nanoseconds for measuring durations (metrics); not injectable, never drives state. */
uint64_t hg_mono_ns(void);

#endif
