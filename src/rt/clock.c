/* hangar — the injectable clock (see clock.h). */
#include "rt/clock.h"

#include <time.h>

void hg_clock_init_real(hg_clock_t *c)
{
    c->manual = 0;
    c->manual_ms = 0;
}

void hg_clock_init_manual(hg_clock_t *c, int64_t start_ms)
{
    c->manual = 1;
    c->manual_ms = start_ms;
}

void hg_clock_advance(hg_clock_t *c, int64_t ms)
{
    c->manual_ms += ms;
}

int64_t hg_clock_now_ms(const hg_clock_t *c)
{
    if (c->manual)
        return c->manual_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t hg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
