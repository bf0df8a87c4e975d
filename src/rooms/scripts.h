/* hangar — room scripts' versions: upload, keep, roll back (issue #14, "deploy without restart").
 *
 * A script has a name and numbered versions (1, 2, …); one is current: rooms created from then on
 * run it. A deploy compiles and checks the source (script.h) before it is kept, so a broken script
 * is refused with the Lua error and its line and changes nothing. The last HG_SCRIPT_VERSIONS_KEPT
 * versions of each script are kept (a version a live room runs is never dropped while the daemon
 * runs: the room holds a reference to it).
 *
 * Records: "scripts" <name> → {"current", "versions": [{"version", "created_ms", "bytes",
 * "grants"}]};
 * "scripts.v/<name>" <version, 8 digits> → {"source"}. Every source kept is loaded at start; a
 * version is compiled when a room first needs it.
 *
 * Threading: loop thread only.
 */
#ifndef HG_ROOMS_SCRIPTS_H
#define HG_ROOMS_SCRIPTS_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "rooms/script.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_SCRIPTS_MAX 100         /* scripts */
#define HG_SCRIPT_NAME_MAX 64      /* a name: 1..64 of [A-Za-z0-9_.-] */
#define HG_SCRIPT_VERSIONS_KEPT 20 /* versions kept per script (the oldest go) */

typedef struct hg_scripts hg_scripts_t;

hg_scripts_t *hg_scripts_new(hg_store_t *store, hg_clock_t *clock);
void hg_scripts_free(hg_scripts_t *s);
int hg_scripts_load(hg_scripts_t *s, hg_error_t *err);

/* Compile source; when it is good, keep it as the script's next version and make it current,
 * with grants (HG_SCRIPT_GRANT_*: what its rooms may reach; the caller checked the deployer holds
 * them). *version: the new version. HG_EINVAL (the Lua error, err names its line), HG_ELIMIT. */
int hg_scripts_deploy(hg_scripts_t *s, const char *name, const char *source, size_t len,
                      unsigned grants, hg_store_txn_t *txn, uint32_t *version, hg_error_t *err);
/* Make a kept version current again. HG_ENOTFOUND. */
int hg_scripts_rollback(hg_scripts_t *s, const char *name, uint32_t version, hg_store_txn_t *txn,
                        hg_error_t *err);
/* The compiled script of a version (0: the current one), borrowed (hg_script_ref to keep it);
 * *version set to the version's number. HG_ENOTFOUND, or HG_EINVAL when it no longer compiles. */
int hg_scripts_get(hg_scripts_t *s, const char *name, uint32_t version, hg_script_t **out,
                   uint32_t *out_version, hg_error_t *err);
/* {"name", "current", "versions": [{"version", "created", "bytes", "grants"}]}; NULL when
 * unknown. */
json_t *hg_scripts_json(hg_scripts_t *s, const char *name);
/* {"items": [{"name", "current", …}]} in name order. */
json_t *hg_scripts_list(hg_scripts_t *s);

#endif
