/* hangar — loading the records of one partition (partload.h). */
#include "store/partload.h"

#include "store/partition.h"

typedef struct filter {
    const char *coll;
    int part;
    hg_store_load_cb cb;
    void *ud;
} filter_t;

static int load_filtered(void *ud, const char *key, json_t *value)
{
    filter_t *f = ud;
    return hg_partition_of(f->coll, key) == f->part ? f->cb(f->ud, key, value) : 0;
}

int hg_partload_coll(hg_store_t *s, const char *coll, int part, hg_store_load_cb cb, void *ud)
{
    if (part < 0)
        return hg_store_load(s, coll, cb, ud);
    filter_t f = {coll, part, cb, ud};
    return hg_store_load(s, coll, load_filtered, &f);
}
