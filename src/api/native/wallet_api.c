/* hangar — /v1/catalog, /v1/purchases and the wallet endpoints under /v1/players (docs/api.md;
 * the domain is wallet/wallet.h). Placeholder until it lands. */
#include "api/native/native_int.h"

void hg_native_catalog(hg_native_call_t *c, const char *rest, size_t rest_len)
{
    (void)rest, (void)rest_len;
    hg_error_set(&c->err, HG_ENOTIMPL, "the catalog is not built yet");
    hg_native_finish(c);
}

void hg_native_purchases(hg_native_call_t *c, const char *rest, size_t rest_len)
{
    (void)rest, (void)rest_len;
    hg_error_set(&c->err, HG_ENOTIMPL, "purchases are not built yet");
    hg_native_finish(c);
}
