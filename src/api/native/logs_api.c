/* hangar — /v1/events (docs/api.md; the domain is logs/logs.h). Placeholder until it lands. */
#include "api/native/native_int.h"

void hg_native_logs(hg_native_call_t *c, const char *rest, size_t rest_len)
{
    (void)rest, (void)rest_len;
    hg_error_set(&c->err, HG_ENOTIMPL, "event logs are not built yet");
    hg_native_finish(c);
}
