/* hangar — the event stream: sequence numbers, the ring of recent events, publish once durable.
 *
 * What it owns. The one stream every domain module publishes its changes on (registry today,
 * placement through the daemon's sink, matchmaking and rooms next): the sequence numbers and
 * their durable reservation in the store, the ring of the latest events, and the rule that an
 * event is handed out only once the change it describes is durable. It knows nothing of
 * sockets or HTTP: the wire (api/native/events.c: WebSocket and SSE subscribers, catch-up,
 * snapshots) learns of each published event through the listener and reads the ring by seq.
 * The folder is DESIGN.md's `events` module; the prefix is `hg_stream_` because `hg_events_`
 * names the wire's subscriber hub.
 *
 * The transaction boundary. A publisher passes the store transaction that carries its change
 * — opened by whoever decides what the change is (an API handler, a timer's sweep, a domain
 * call that was given one) — and the stream hangs a commit hook on it. The event is thereby
 * published iff that exact change is durable: the hook runs with rc 0 after the commit, with
 * rc < 0 when the commit fails or the transaction is dropped (hg_store_txn_free), and then the
 * event is discarded: never in the ring, never given to the listener. The stream never opens a
 * transaction for an event: a separate one could commit while the change's fails (or the
 * reverse), and the caller's is the only place that knows every change of one request, so one
 * request's events and changes are durable together, with one fsync. What the stream does
 * commit on its own is its sequence reservation, because that is its own state and not any
 * one change's: see "Sequence numbers".
 *
 * Sequence numbers. An event gets its number when it is published, not when it is queued: the
 * last published seq plus one. Numbers therefore increase by exactly one per published event,
 * with no gaps for the events whose commit failed, in commit order. A number is published
 * only when the store durably holds a reservation at least as high (`durable`); after a
 * restart numbering continues above the stored reservation, so a number is never handed out
 * twice. Reservations cover HG_STREAM_SEQ_BLOCK numbers ahead of the last published one and are
 * written, when a queued event could need a number above the highest reservation issued so
 * far, in a transaction of their own committed at once — so it is submitted before, and
 * commits no later than, the transaction of the event that asked for it (usually in the same
 * group-commit batch: no extra fsync). Being committed in issue order with non-decreasing
 * values, the stored reservation only grows, whatever order the callers' transactions commit
 * in. When a reservation's commit fails, nothing above the last durable one is published: the
 * events that committed meanwhile are held, in order, and a new reservation is written by the
 * next event that commits or is queued (never in a loop while the store keeps failing).
 *
 * Ordering. Transactions commit, and their hooks run, in hg_store_commit() order (store.h); a
 * batch fails or succeeds as a whole. Events are published in the order their hooks report
 * success, events of one transaction in the order they were queued; the listener sees every
 * published event exactly once, in seq order.
 *
 * Cluster mode (DESIGN.md §5) replaces this module: the same interface, with numbers from a
 * PostgreSQL sequence and the event rows inserted in the caller's transaction (so `after=`
 * replays on any node), and published events fanned out over Redis to every node's listener.
 * Publishers and the wire do not change.
 *
 * Threading: loop thread only, like the store. Limits: HG_STREAM_RING_MAX events in the ring,
 * kinds of at most HG_STREAM_KIND_MAX bytes.
 */
#ifndef HG_EVENTS_STREAM_H
#define HG_EVENTS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "rt/clock.h"
#include "store/store.h"

typedef struct hg_stream hg_stream_t;

#define HG_STREAM_RING_DEFAULT 65536
#define HG_STREAM_RING_MAX (1u << 22)
#define HG_STREAM_KIND_MAX 32
/* Numbers reserved ahead of the last published one by each reservation write: after a restart
 * numbering may jump ahead by about this much. */
#define HG_STREAM_SEQ_BLOCK 4096

/* A published event, as the ring holds it (read-only for everyone but the stream). */
typedef struct hg_stream_event {
    uint64_t seq;
    const char *type; /* a static string */
    char kind[HG_STREAM_KIND_MAX + 1];
    int64_t time_ms;
    char *json; /* {"seq","type"[,"reason"],"time","<member>": ...}, NUL-terminated */
    size_t len;
} hg_stream_event_t;

/* Told of each event once it is published, in seq order. e is borrowed for the call; the
 * listener may read the ring and publish (it runs inside a commit hook). */
typedef void (*hg_stream_listener_cb)(void *ud, const hg_stream_event_t *e);

typedef struct hg_stream_stats {
    uint64_t published;        /* events handed out */
    uint64_t dropped;          /* events whose transaction failed or was dropped */
    uint64_t reservations;     /* reservation writes issued */
    uint64_t reserve_failures; /* reservation writes whose commit failed */
    size_t held;               /* committed, waiting for a durable reservation */
    size_t inflight;           /* queued, their transaction not yet resolved */
} hg_stream_stats_t;

/* ---- lifecycle ---- */

/**
 * Create a stream that keeps the latest `ring` events (0: HG_STREAM_RING_DEFAULT; at most
 * HG_STREAM_RING_MAX). clock stamps events; store holds the reservation.
 * @param clock borrowed until hg_stream_free()
 * @param store borrowed until hg_stream_free(); its transactions carry the stream's hooks
 * @return a new stream — release with hg_stream_free()
 */
hg_stream_t *hg_stream_new(hg_clock_t *clock, hg_store_t *store, size_t ring);

/**
 * Read the stored reservation (start-up, before anything is published): numbering continues
 * above it, and the ring starts empty there.
 * @return 0, or the store's error
 */
int hg_stream_load(hg_stream_t *st);

/**
 * Stop accepting events (the daemon is stopping; the store may be closing): hg_stream_publish()
 * refuses from now on and no reservation is written any more. Events already queued are still
 * published when their transaction commits and a durable reservation covers them.
 */
void hg_stream_stop(hg_stream_t *st);

/**
 * Free the stream. Call it only once every transaction carrying its events has committed or
 * been dropped (stop the stream, then close the store): their hooks point at it. If some are
 * still unresolved the stream logs an error and is not freed. st is invalid after this call.
 */
void hg_stream_free(hg_stream_t *st);

/* ---- publishing ---- */

/**
 * Queue an event that is published when txn commits, and discarded if it fails or is dropped:
 * {"seq", "type"[, "reason"], "time", "<member>": <json>}. Numbered when published (see above).
 * @param txn the transaction carrying the change the event describes; borrowed (a hook is added)
 * @param type static string, e.g. "server.up"; borrowed for the stream's lifetime
 * @param reason NULL or a string copied now
 * @param kind what subscribers filter on (e.g. a server kind, "placement"); copied now
 * @param member, json, len the event's payload member name and its JSON text (copied now)
 * @return 0; HG_EINVAL for a NULL txn, type, kind, member or json, or a kind over
 *         HG_STREAM_KIND_MAX bytes; HG_ESHUTDOWN once stopped
 */
int hg_stream_publish(hg_stream_t *st, hg_store_txn_t *txn, const char *type, const char *reason,
                      const char *kind, const char *member, const char *json, size_t len);

/**
 * Set the one listener told of each published event (the wire's hub). ud is borrowed until it
 * is replaced or the stream is freed. cb may be NULL.
 */
void hg_stream_set_listener(hg_stream_t *st, hg_stream_listener_cb cb, void *ud);

/* ---- reading the ring ---- */

/* The oldest seq in the ring (hg_stream_last_seq() + 1 when it is empty). */
uint64_t hg_stream_first_seq(const hg_stream_t *st);
/* The last seq published (after a restart: the stored reservation until something is). */
uint64_t hg_stream_last_seq(const hg_stream_t *st);
/**
 * The event numbered seq, or NULL when it is not in the ring (not yet published or overwritten).
 * @return borrowed until the stream next publishes
 */
const hg_stream_event_t *hg_stream_get(const hg_stream_t *st, uint64_t seq);

void hg_stream_stats(const hg_stream_t *st, hg_stream_stats_t *out);

#endif
