/* hangar — event logs: append-only game and payment events for analysis (seed 002: "logs must be
 * kept for marketing").
 *
 * An event is {id, type, player_id?, time, attributes?}. Ids are integers that only grow and are
 * never reused (two events in the same millisecond are two events), assigned on the loop thread
 * when the event is appended to a store transaction; the event is durable with that transaction.
 * Payment events (payment.purchase, payment.credit) are appended by the purchase or credit
 * transaction itself (wallet/wallet.h), so none can be missing.
 *
 * Logs are history, not hot state: nothing is loaded into memory at start (only the last id).
 * Queries and exports read the store off the loop thread (the store's reader lane). Retention
 * per event type is enforced by a sweep (hg_logs_tick).
 *
 * Threading: loop thread only.
 */
#ifndef HG_LOGS_LOGS_H
#define HG_LOGS_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "rt/clock.h"
#include "store/store.h"

#define HG_LOGS_TYPE_MAX 64    /* type: 1..64 of [A-Za-z0-9_.:-] */
#define HG_LOGS_ATTRS_MAX 4096 /* attributes: a JSON object, at most this many bytes compact */
#define HG_LOGS_BATCH_MAX 1000 /* events per POST /v1/events */

typedef struct hg_logs hg_logs_t;

hg_logs_t *hg_logs_new(uv_loop_t *loop, hg_store_t *store, hg_clock_t *clock);
void hg_logs_free(hg_logs_t *lg);
/* Before serving: reads the last id from the store; retention is the event-retention option's
 * text. Fills err and returns < 0 on failure. */
int hg_logs_start(hg_logs_t *lg, const char *retention, hg_error_t *err);
/* The retention sweep: deletes at most budget expired events (called from the daemon's cron). */
void hg_logs_tick(hg_logs_t *lg, size_t budget);

/* Append one event to txn (durable with it). type as above; player_id NULL or a player id;
 * time_ms the event's time (epoch ms); attrs compact JSON object text (≤ HG_LOGS_ATTRS_MAX) or
 * NULL. *id gets the event's id. HG_EINVAL with err filled when the event is invalid (nothing
 * appended). */
int hg_logs_append(hg_logs_t *lg, hg_store_txn_t *txn, const char *type, const char *player_id,
                   int64_t time_ms, const char *attrs, uint64_t *id, hg_error_t *err);

#endif
