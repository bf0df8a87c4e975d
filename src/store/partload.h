/* hangar — loading the records of one partition (docs/cluster.md "Next", step 3).
 *
 * A node that takes a partition loads its records; one that loses or hands back a partition
 * drops them (each module's hg_<module>_drop_partition / _load_partition). Where a collection's
 * name carries the partition ("players/07", "wallet/07", "lb.e/<board>/<period>"), a module
 * loads that collection whole with hg_store_load. Where it does not ("fleetiq.groups",
 * "fleetiq.servers", "lb.boards", "rooms"), hg_partload_coll reads the collection and hands on
 * the records that hg_partition_of maps to the partition.
 *
 * Cost: the whole collection is read to keep a sixteenth of it (the store has no partition
 * column to filter on). Synchronous, like hg_store_load: fine before serving and in tests; a
 * node taking partitions while it serves will load them on the store's reader lane instead
 * (a later step), with the filter pushed into the backend's query.
 *
 * Threading: loop thread only (hg_store_load holds the writer lane off the backend meanwhile).
 */
#ifndef HG_STORE_PARTLOAD_H
#define HG_STORE_PARTLOAD_H

#include "store/store.h"

/* Call cb(ud, key, value) for every record of coll whose partition (hg_partition_of(coll,
 * key)) is part, as hg_store_load does for every record (value borrowed for the call; a
 * non-zero return stops the load and is returned); part < 0: every record (hg_store_load
 * itself, for a module's load of all its partitions in one read). coll is borrowed. Returns 0,
 * or the store's error. */
int hg_partload_coll(hg_store_t *s, const char *coll, int part, hg_store_load_cb cb, void *ud);

#endif
