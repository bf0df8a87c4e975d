/* hangar — event logs (logs.h). Placeholder until the logs module lands. */
#include "logs/logs.h"

#include "core/alloc.h"

struct hg_logs {
    hg_store_t *store;
    hg_clock_t *clock;
};

hg_logs_t *hg_logs_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock)
{
    (void)loop;
    hg_logs_t *lg = hg_calloc(1, sizeof(*lg));
    lg->store = store;
    lg->clock = clock;
    return lg;
}

void hg_logs_free(hg_logs_t *lg)
{
    hg_free(lg);
}

int hg_logs_start(hg_logs_t *lg, const char *retention, hg_error_t *err)
{
    (void)lg, (void)retention, (void)err;
    return 0;
}

void hg_logs_tick(hg_logs_t *lg, size_t budget)
{
    (void)lg, (void)budget;
}

int hg_logs_append(hg_logs_t *lg, hg_store_txn_t *txn, const char *type, const char *player_id,
                   int64_t time_ms, const char *attrs, uint64_t *id, hg_error_t *err)
{
    (void)lg, (void)txn, (void)type, (void)player_id, (void)time_ms, (void)attrs, (void)id;
    return hg_error_set(err, HG_ENOTIMPL, "event logs are not built yet");
}
