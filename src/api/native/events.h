/* hangar — the registry event stream's wire: GET /v1/registry/events over WebSocket or
 * Server-Sent Events.
 *
 * The stream itself — sequence numbers, their durable reservation, the ring of recent events,
 * publishing once a change is durable — is events/stream.h; this hub owns one, subscribes to
 * it as its listener, and carries its events to subscribers. Every registry change becomes one
 * event {"seq", "type", "reason", "time", "server"} (hg_events_observe renders the server);
 * other modules publish on the same stream (hg_events_publish, or hg_stream_publish on
 * hg_events_stream()). Sequence numbers increase by one per published event and never repeat,
 * also across restarts (after a restart they may jump ahead). An event whose change's commit
 * failed is never sent. The ring keeps the latest `ring` events, so a subscriber that reconnects
 * with ?after=<seq> (or the Last-Event-ID header) receives every event it missed and then the
 * live stream. One whose cursor has left the ring — or that asks with ?snapshot=1 — first
 * receives {"type": "snapshot", "seq", "reason", "servers": [...]} and continues from there.
 * ?kind= filters by server kind.
 *
 * Backpressure: a subscriber whose transport has more than `sub_queue_max` bytes queued is
 * not written to; when its queue drains it catches up from the ring (or gets a snapshot when
 * it fell out of it). Nothing grows without bound. Loop thread only.
 */
#ifndef HG_API_NATIVE_EVENTS_H
#define HG_API_NATIVE_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/native/native_int.h"
#include "events/stream.h"
#include "registry/registry.h"

typedef struct hg_events hg_events_t;

#define HG_EVENTS_RING_DEFAULT HG_STREAM_RING_DEFAULT
#define HG_EVENTS_SUB_QUEUE_MAX (4u << 20)
#define HG_EVENTS_MAX_SUBSCRIBERS 10000
#define HG_EVENTS_KEEPALIVE_MS 15000

/* A hub and the stream it owns (hg_stream_new(clock, store, ring)); reg is borrowed for the
 * snapshots. Release with hg_events_free(). */
hg_events_t *hg_events_new(uv_loop_t *loop, hg_clock_t *clock, hg_store_t *store,
                           hg_registry_t *reg, size_t ring);
/* Read the stored sequence reservation (start-up): hg_stream_load(). */
int hg_events_load(hg_events_t *ev);
/* The stream the hub carries (borrowed, freed with the hub): what modules publish through. */
hg_stream_t *hg_events_stream(hg_events_t *ev);
/* The registry observer (hg_reg_observer_cb); ud is the hub. */
void hg_events_observe(void *ud, hg_store_txn_t *txn, hg_reg_event_t type, hg_reg_reason_t reason,
                       const hg_reg_server_t *s);
/* Publish another module's event on the same stream when txn commits (never if it fails):
 * {"seq","type","time","<member>": <json>}. type must be a static string; kind is what ?kind=
 * filters on (e.g. "placement"). A wrapper of hg_stream_publish(); nothing for a NULL txn
 * (loading at start-up) or ev, or once stopped. */
void hg_events_publish(hg_events_t *ev, hg_store_txn_t *txn, const char *type, const char *kind,
                       const char *member, const char *json, size_t len);
/* Take over the request of an authenticated GET /v1/registry/events (answers errors itself). */
void hg_events_subscribe(hg_native_call_t *c);
/* Close every subscriber (server stopping) and the keep-alive timer, and stop the stream
 * (hg_stream_stop); free after the loop ran and the store is closed (hg_stream_free). */
void hg_events_stop(hg_events_t *ev);
void hg_events_free(hg_events_t *ev);
uint64_t hg_events_last_seq(const hg_events_t *ev);

/* Render a registry server as the API shows it (registry_api.c): as a new JSON reference, or
 * appended to b as text (the event stream's hot path; the same members and values). */
json_t *hg_registry_server_json(const hg_reg_server_t *s);
void hg_registry_server_write(hg_buf_t *b, const hg_reg_server_t *s);

#endif
