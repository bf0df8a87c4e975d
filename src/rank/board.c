/* hangar — leaderboards (see board.h).
 *
 * Records:
 *   lb.boards          <board id> → {"order","op","reset"?,"tz"?,"max_entries","metadata_max",
 *                                    "created_ms","cur": period start ms,"prev": … | null}
 *   lb.e/<id>/<start>  <player id> → {"s": score,"ss": subscore,"r": reached,"m": metadata?}
 *   lb.i/<id>          <player id>/<idempotency key> → {"a": the first answer,"t": ms}
 * A board without a reset has one period, start 0.
 *
 * `reached` orders ties (earlier first) and gives `updated`: it is the time of the change in
 * ms times 1024 plus a counter, strictly increasing per board (REACHED_SHIFT), so two submits in
 * the same millisecond still rank in the order they came.
 *
 * Period boundaries are searched minute by minute in the board's local time, skipping whole
 * months, days and hours that cannot match, with the process's TZ set to the board's zone for
 * the search (tz_push/tz_pop). Only the loop thread uses local time (logs are UTC), and a
 * search runs at a board's creation, at start-up and once per period.
 *
 *     period P ──boundary──▶ P becomes previous (readable), P+1 current (empty);
 *                            the period before P is purged (HG_LB_PURGE_BUDGET records a tick)
 */
#include "rank/board.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/jsonw.h"
#include "core/list.h"
#include "core/log.h"
#include "core/map.h"
#include "core/str.h"
#include "core/vec.h"
#include "store/partition.h"
#include "store/partload.h"

#define BOARDS_COLL "lb.boards"
#define REACHED_SHIFT 10 /* reached = ms << 10 | counter */
#define SCAN_STEPS 200000

/* ---- schedules ---- */

typedef struct sched {
    uint64_t minute; /* bit m: minute m matches */
    uint32_t hour;
    uint32_t dom;   /* bits 1..31 */
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday 0 */
    int dom_star, dow_star;
} sched_t;

typedef struct idem {
    hg_list_t node; /* board->idem_fifo, oldest first */
    int64_t t_ms;
    char *answer;
    char key[];
} idem_t;

typedef struct purge {
    hg_list_t node;
    char coll[HG_LB_ID_MAX + 40];
    hg_rankset_t *set;
    hg_rankset_iter_t it;
    int started;
} purge_t;

struct hg_lb {
    char id[HG_LB_ID_MAX + 1];
    hg_rankset_order_t order;
    hg_lb_op_t op;
    char *reset; /* NULL: never */
    char *tz;    /* NULL: UTC */
    sched_t sched;
    size_t max_entries, metadata_max;
    int64_t created_ms;
    int64_t cur_start, prev_start; /* prev_start -1: no previous period */
    int64_t next_reset_ms;         /* 0: never */
    hg_rankset_t *cur, *prev;
    uint64_t last_reached;
    hg_map_t idem; /* "<player>/<key>" → idem_t */
    hg_list_t idem_fifo;
    hg_lbs_t *owner;
};

struct hg_lbs {
    hg_store_t *store;
    hg_clock_t *clock;
    hg_map_t boards;
    hg_list_t purges; /* purge_t */
    hg_lb_name_cb name;
    void *name_ud;
};

static const char *const OPS[] = {NULL, "best", "set", "incr", "decr"};

/* ---- cron ---- */

static int parse_field(const char *s, int lo, int hi, uint64_t *bits, int *star)
{
    *bits = 0;
    *star = strcmp(s, "*") == 0;
    char buf[128];
    if (strlen(s) >= sizeof(buf) || *s == '\0')
        return -1;
    strcpy(buf, s);
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        int a = lo, b = hi, step = 1;
        char *slash = strchr(part, '/');
        if (slash) {
            *slash = '\0';
            char *e;
            long st = strtol(slash + 1, &e, 10);
            if (*e || slash[1] == '\0' || st < 1 || st > hi)
                return -1;
            step = (int)st;
        }
        if (strcmp(part, "*") != 0) {
            char *e;
            long x = strtol(part, &e, 10);
            if (e == part)
                return -1;
            a = b = (int)x;
            if (*e == '-') {
                char *e2;
                long y = strtol(e + 1, &e2, 10);
                if (e2 == e + 1 || *e2)
                    return -1;
                b = (int)y;
            } else if (*e) {
                return -1;
            } else if (slash) {
                b = hi; /* "a/n": from a to the end */
            }
        }
        if (a < lo || b > hi || a > b)
            return -1;
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << v;
    }
    return 0;
}

static int parse_sched(const char *reset, sched_t *out)
{
    const char *expr = strcmp(reset, "daily") == 0     ? "0 0 * * *"
                       : strcmp(reset, "weekly") == 0  ? "0 0 * * 1"
                       : strcmp(reset, "monthly") == 0 ? "0 0 1 * *"
                                                       : reset;
    char buf[256];
    if (strlen(expr) >= sizeof(buf))
        return -1;
    strcpy(buf, expr);
    char *f[6];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && n < 6;
         t = strtok_r(NULL, " \t", &save))
        f[n++] = t;
    if (n != 5)
        return -1;
    uint64_t b;
    int star;
    memset(out, 0, sizeof(*out));
    if (parse_field(f[0], 0, 59, &out->minute, &star) < 0 ||
        parse_field(f[1], 0, 23, &b, &star) < 0)
        return -1;
    out->hour = (uint32_t)b;
    if (parse_field(f[2], 1, 31, &b, &out->dom_star) < 0)
        return -1;
    out->dom = (uint32_t)b;
    if (parse_field(f[3], 1, 12, &b, &star) < 0)
        return -1;
    out->month = (uint16_t)b;
    if (parse_field(f[4], 0, 7, &b, &out->dow_star) < 0)
        return -1;
    if (b & (1u << 7)) /* 7 is Sunday too */
        b |= 1;
    out->dow = (uint8_t)(b & 0x7f);
    return 0;
}

/* cron's rule: when both day fields are restricted, either may match. */
static int day_matches(const sched_t *s, const struct tm *t)
{
    int dom = (s->dom >> t->tm_mday) & 1, dow = (s->dow >> t->tm_wday) & 1;
    if (s->dom_star || s->dow_star)
        return dom && dow;
    return dom || dow;
}

static char saved_tz[256];
static int had_tz;

static void tz_push(const char *tz)
{
    const char *cur = getenv("TZ");
    had_tz = cur != NULL;
    snprintf(saved_tz, sizeof(saved_tz), "%s", cur ? cur : "");
    setenv("TZ", tz ? tz : "UTC", 1);
    tzset();
}

static void tz_pop(void)
{
    if (had_tz)
        setenv("TZ", saved_tz, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* The first matching minute after (dir > 0) or at-or-before (dir < 0) t, in seconds; -1 when
 * none is found within SCAN_STEPS steps. Local time is the current TZ's. */
static int64_t scan(const sched_t *s, int64_t t, int dir)
{
    time_t x = (time_t)(t - ((t % 60) + 60) % 60) + (dir > 0 ? 60 : 0);
    struct tm tm;
    localtime_r(&x, &tm);
    for (int i = 0; i < SCAN_STEPS; i++) {
        tm.tm_isdst = -1;
        if (!((s->month >> (tm.tm_mon + 1)) & 1)) {
            if (dir > 0)
                tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0;
            else
                tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = -1;
        } else if (!day_matches(s, &tm)) {
            if (dir > 0)
                tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0;
            else
                tm.tm_hour = 0, tm.tm_min = -1;
        } else if (!((s->hour >> tm.tm_hour) & 1)) {
            if (dir > 0)
                tm.tm_hour++, tm.tm_min = 0;
            else
                tm.tm_min = -1;
        } else if (!((s->minute >> tm.tm_min) & 1)) {
            tm.tm_min += dir;
        } else {
            return (int64_t)mktime(&tm);
        }
        x = mktime(&tm); /* normalise (and re-derive wday, DST) */
        localtime_r(&x, &tm);
    }
    return -1;
}

/* Boundary after t_ms (dir > 0) or the last at or before it (dir < 0), in ms; -1: none. */
static int64_t boundary(const hg_lb_t *b, int64_t t_ms, int dir)
{
    tz_push(b->tz);
    int64_t s = scan(&b->sched, t_ms / 1000 - (t_ms < 0 && t_ms % 1000 ? 1 : 0), dir);
    tz_pop();
    return s < 0 ? -1 : s * 1000;
}

static int valid_tz(const char *tz)
{
    if (strcmp(tz, "UTC") == 0)
        return 1;
    size_t n = strlen(tz);
    if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, ".."))
        return 0;
    for (const char *c = tz; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_+-/", *c))
            return 0;
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- records ---- */

static void entries_coll(const hg_lb_t *b, int64_t start, char *out, size_t cap)
{
    snprintf(out, cap, "lb.e/%s/%lld", b->id, (long long)start);
}

static void idem_coll(const hg_lb_t *b, char *out, size_t cap)
{
    snprintf(out, cap, "lb.i/%s", b->id);
}

static void save_board(const hg_lb_t *b, hg_store_txn_t *txn)
{
    json_t *r =
        json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "order",
                  b->order == HG_RANKSET_DESC ? "desc" : "asc", "op", OPS[b->op], "max_entries",
                  (json_int_t)b->max_entries, "metadata_max", (json_int_t)b->metadata_max,
                  "created_ms", (json_int_t)b->created_ms, "cur", (json_int_t)b->cur_start);
    json_object_set_new(r, "prev", b->prev_start >= 0 ? json_integer(b->prev_start) : json_null());
    if (b->reset)
        json_object_set_new(r, "reset", json_string(b->reset));
    if (b->tz)
        json_object_set_new(r, "tz", json_string(b->tz));
    hg_store_put(txn, BOARDS_COLL, b->id, r);
    json_decref(r);
}

static void save_entry(const hg_lb_t *b, const hg_rankset_entry_t *e, hg_store_txn_t *txn)
{
    char coll[HG_LB_ID_MAX + 40], id[HG_RANKSET_ID_TEXT + 1];
    entries_coll(b, b->cur_start, coll, sizeof(coll));
    hg_rankset_id_format(e->id, id);
    hg_buf_t w;
    hg_buf_init(&w);
    hg_buf_puts(&w, "{\"s\":");
    hg_jsonw_int(&w, e->score);
    hg_buf_puts(&w, ",\"ss\":");
    hg_jsonw_int(&w, e->subscore);
    hg_buf_puts(&w, ",\"r\":");
    hg_jsonw_int(&w, (int64_t)e->reached);
    if (e->ud) {
        hg_buf_puts(&w, ",\"m\":");
        hg_buf_puts(&w, e->ud);
    }
    hg_buf_puts(&w, "}");
    hg_store_put_text(txn, coll, id, hg_buf_steal(&w, NULL));
}

/* ---- boards ---- */

hg_lbs_t *hg_lbs_new(hg_store_t *store, hg_clock_t *clock)
{
    hg_lbs_t *l = hg_calloc(1, sizeof(*l));
    l->store = store;
    l->clock = clock;
    hg_map_init(&l->boards);
    hg_list_init(&l->purges);
    return l;
}

static void free_set(hg_rankset_t *s)
{
    if (s == NULL)
        return;
    hg_rankset_iter_t it;
    hg_rankset_entry_t *e;
    for (hg_rankset_iter_init(s, 1, &it); (e = hg_rankset_iter_next(&it)) != NULL;)
        hg_free(e->ud);
    hg_rankset_free(s);
}

static void board_free(hg_lb_t *b)
{
    free_set(b->cur);
    free_set(b->prev);
    while (!hg_list_empty(&b->idem_fifo)) {
        idem_t *i = hg_container_of(b->idem_fifo.next, idem_t, node);
        hg_list_remove(&i->node);
        hg_free(i->answer);
        hg_free(i);
    }
    hg_map_free(&b->idem);
    hg_free(b->reset);
    hg_free(b->tz);
    hg_free(b);
}

void hg_lbs_free(hg_lbs_t *l)
{
    if (l == NULL)
        return;
    size_t it = 0;
    void *v;
    while (hg_map_next(&l->boards, &it, NULL, &v))
        board_free(v);
    hg_map_free(&l->boards);
    while (!hg_list_empty(&l->purges)) {
        purge_t *p = hg_container_of(l->purges.next, purge_t, node);
        hg_list_remove(&p->node);
        free_set(p->set);
        hg_free(p);
    }
    hg_free(l);
}

hg_lb_t *hg_lb_find(const hg_lbs_t *l, const char *id)
{
    return hg_map_get(&l->boards, id);
}

const char *hg_lb_id(const hg_lb_t *b)
{
    return b->id;
}

static int valid_board_id(const char *id)
{
    return hg_str_name(id, strlen(id), HG_LB_ID_MAX, "_-.");
}

/* Periods of b for time now: current start and previous start (-1: none). */
static int periods_at(const hg_lb_t *b, int64_t now, int64_t *cur, int64_t *prev)
{
    if (b->reset == NULL) {
        *cur = 0;
        *prev = -1;
        return 0;
    }
    *cur = boundary(b, now, -1);
    *prev = *cur >= 0 ? boundary(b, *cur - 60000, -1) : -1;
    return *cur >= 0 ? 0 : -1;
}

static hg_rankset_t *new_set(const hg_lb_t *b)
{
    hg_rankset_t *s = NULL;
    HG_BUG_ON(hg_rankset_new(b->order, b->max_entries, &s) != 0);
    return s;
}

static hg_lb_t *board_new(hg_lbs_t *l, const hg_lb_config_t *cfg)
{
    hg_lb_t *b = hg_calloc(1, sizeof(*b));
    snprintf(b->id, sizeof(b->id), "%s", cfg->id);
    b->order = cfg->order;
    b->op = cfg->op;
    b->reset = cfg->reset ? hg_strdup(cfg->reset) : NULL;
    b->tz = cfg->time_zone && strcmp(cfg->time_zone, "UTC") != 0 ? hg_strdup(cfg->time_zone) : NULL;
    if (b->reset)
        HG_BUG_ON(parse_sched(b->reset, &b->sched) < 0); /* checked by the caller */
    b->max_entries = cfg->max_entries ? cfg->max_entries : HG_LB_ENTRIES_DEFAULT;
    b->metadata_max = cfg->metadata_max ? cfg->metadata_max : HG_LB_METADATA_DEFAULT;
    b->prev_start = -1;
    hg_map_init(&b->idem);
    hg_list_init(&b->idem_fifo);
    b->owner = l;
    b->cur = new_set(b);
    return b;
}

int hg_lb_create(hg_lbs_t *l, const hg_lb_config_t *cfg, hg_store_txn_t *txn, hg_lb_t **out,
                 hg_error_t *err)
{
    if (cfg->id == NULL || !valid_board_id(cfg->id))
        return hg_error_set(err, HG_EINVAL, "id must be 1 to %d of A-Z a-z 0-9 _ - .",
                            HG_LB_ID_MAX);
    if (cfg->order != HG_RANKSET_ASC && cfg->order != HG_RANKSET_DESC)
        return hg_error_set(err, HG_EINVAL, "order must be desc or asc");
    if (cfg->op < HG_LB_BEST || cfg->op > HG_LB_DECR)
        return hg_error_set(err, HG_EINVAL, "operator must be best, set, incr or decr");
    sched_t s;
    if (cfg->reset && parse_sched(cfg->reset, &s) < 0)
        return hg_error_set(err, HG_EINVAL,
                            "reset must be daily, weekly, monthly or a 5-field cron expression "
                            "(minute hour day-of-month month day-of-week)");
    if (cfg->time_zone && !valid_tz(cfg->time_zone))
        return hg_error_set(err, HG_EINVAL, "time_zone %.64s is not an IANA time zone name",
                            cfg->time_zone);
    if (cfg->max_entries > HG_RANKSET_MAX)
        return hg_error_set(err, HG_EINVAL, "max_entries is at most %d", HG_RANKSET_MAX);
    if (cfg->metadata_max > HG_LB_METADATA_MAX)
        return hg_error_set(err, HG_EINVAL, "metadata_max is at most %d", HG_LB_METADATA_MAX);
    if (hg_lb_find(l, cfg->id))
        return hg_error_set(err, HG_ECONFLICT, "leaderboard %s exists", cfg->id);
    if (hg_map_count(&l->boards) >= HG_LB_MAX_BOARDS)
        return hg_error_set(err, HG_ELIMIT, "at most %d leaderboards", HG_LB_MAX_BOARDS);
    hg_lb_t *b = board_new(l, cfg);
    int64_t now = hg_clock_now_ms(l->clock);
    b->created_ms = now;
    int64_t prev;
    if (periods_at(b, now, &b->cur_start, &prev) < 0 ||
        (b->reset && (b->next_reset_ms = boundary(b, now, 1)) < 0)) {
        board_free(b);
        return hg_error_set(err, HG_EINVAL, "reset %.64s never comes (within a few years)",
                            cfg->reset);
    }
    hg_map_set(&l->boards, b->id, b);
    save_board(b, txn);
    *out = b;
    return 0;
}

/* Delete a period's records a budget at a time (hg_lbs_tick); takes ownership of set. */
static void purge_later(hg_lbs_t *l, const hg_lb_t *b, int64_t start, hg_rankset_t *set)
{
    if (set == NULL)
        return;
    purge_t *p = hg_calloc(1, sizeof(*p));
    entries_coll(b, start, p->coll, sizeof(p->coll));
    p->set = set;
    hg_list_insert_tail(&l->purges, &p->node);
}

int hg_lb_delete(hg_lbs_t *l, hg_lb_t *b, hg_store_txn_t *txn)
{
    hg_store_del(txn, BOARDS_COLL, b->id);
    char coll[HG_LB_ID_MAX + 16];
    idem_coll(b, coll, sizeof(coll));
    for (hg_list_t *q = b->idem_fifo.next; q != &b->idem_fifo; q = q->next)
        hg_store_del(txn, coll, hg_container_of(q, idem_t, node)->key);
    purge_later(l, b, b->cur_start, b->cur);
    purge_later(l, b, b->prev_start, b->prev);
    b->cur = b->prev = NULL;
    hg_map_del(&l->boards, b->id);
    board_free(b);
    return 0;
}

static int cmp_board(const void *x, const void *y)
{
    return strcmp((*(hg_lb_t *const *)x)->id, (*(hg_lb_t *const *)y)->id);
}

size_t hg_lb_list(const hg_lbs_t *l, const char *after, size_t limit, hg_lb_t **out, int *more)
{
    size_t n = hg_map_count(&l->boards), k = 0, it = 0;
    hg_lb_t **all = hg_malloc((n ? n : 1) * sizeof(*all));
    void *v;
    while (hg_map_next(&l->boards, &it, NULL, &v))
        all[k++] = v;
    qsort(all, k, sizeof(*all), cmp_board);
    size_t w = 0;
    *more = 0;
    for (size_t i = 0; i < k; i++) {
        if (after && strcmp(all[i]->id, after) <= 0)
            continue;
        if (w == limit) {
            *more = 1;
            break;
        }
        out[w++] = all[i];
    }
    hg_free(all);
    return w;
}

json_t *hg_lb_json(const hg_lb_t *b)
{
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:o,s:s,s:I,s:I,s:f,s:I}", "id", b->id, "order",
        b->order == HG_RANKSET_DESC ? "desc" : "asc", "operator", OPS[b->op], "reset",
        b->reset ? json_string(b->reset) : json_null(), "time_zone", b->tz ? b->tz : "UTC",
        "max_entries", (json_int_t)b->max_entries, "metadata_max", (json_int_t)b->metadata_max,
        "created", (double)b->created_ms / 1000.0, "entries", (json_int_t)hg_rankset_count(b->cur));
    json_object_set_new(o, "period_start",
                        b->reset ? json_real((double)b->cur_start / 1000.0) : json_null());
    json_object_set_new(o, "next_reset",
                        b->next_reset_ms ? json_real((double)b->next_reset_ms / 1000.0)
                                         : json_null());
    return o;
}

/* ---- submits ---- */

static uint64_t next_reached(hg_lb_t *b, int64_t now)
{
    uint64_t r = (uint64_t)now << REACHED_SHIFT;
    if (r <= b->last_reached)
        r = b->last_reached + 1;
    b->last_reached = r;
    return r;
}

static int better(const hg_lb_t *b, int64_t s, int64_t ss, const hg_rankset_entry_t *e)
{
    if (s != e->score)
        return b->order == HG_RANKSET_DESC ? s > e->score : s < e->score;
    return b->order == HG_RANKSET_DESC ? ss > e->subscore : ss < e->subscore;
}

static int add_checked(int64_t a, int64_t x, int64_t *out)
{
    return __builtin_add_overflow(a, x, out) ? -1 : 0;
}

void hg_lb_write_entry(hg_buf_t *out, const hg_rankset_entry_t *e, size_t rank, hg_lb_name_cb name,
                       void *ud)
{
    char id[HG_RANKSET_ID_TEXT + 1];
    hg_rankset_id_format(e->id, id);
    const char *n = name ? name(ud, id) : NULL;
    hg_buf_puts(out, "{\"player_id\":");
    hg_jsonw_str(out, id);
    hg_buf_puts(out, ",\"display_name\":");
    if (n)
        hg_jsonw_str(out, n);
    else
        hg_buf_puts(out, "null");
    hg_buf_puts(out, ",\"rank\":");
    hg_jsonw_int(out, (int64_t)rank);
    hg_buf_puts(out, ",\"score\":");
    hg_jsonw_int(out, e->score);
    hg_buf_puts(out, ",\"subscore\":");
    hg_jsonw_int(out, e->subscore);
    hg_buf_puts(out, ",\"metadata\":");
    hg_buf_puts(out, e->ud ? (const char *)e->ud : "null");
    hg_buf_puts(out, ",\"updated\":");
    hg_jsonw_time_ms(out, (int64_t)(e->reached >> REACHED_SHIFT));
    hg_buf_puts(out, "}");
}

void hg_lbs_set_names(hg_lbs_t *l, hg_lb_name_cb cb, void *ud)
{
    l->name = cb;
    l->name_ud = ud;
}

static void idem_remember(hg_lbs_t *l, hg_lb_t *b, const char *key, const char *answer, size_t len,
                          int64_t now, hg_store_txn_t *txn)
{
    char coll[HG_LB_ID_MAX + 16];
    idem_coll(b, coll, sizeof(coll));
    if (hg_map_count(&b->idem) >= HG_LB_IDEM_MAX) {
        idem_t *old = hg_container_of(b->idem_fifo.next, idem_t, node);
        hg_store_del(txn, coll, old->key);
        hg_map_del(&b->idem, old->key);
        hg_list_remove(&old->node);
        hg_free(old->answer);
        hg_free(old);
    }
    size_t kl = strlen(key) + 1;
    idem_t *i = hg_malloc(sizeof(*i) + kl);
    memcpy(i->key, key, kl);
    i->t_ms = now;
    i->answer = hg_malloc(len + 1);
    memcpy(i->answer, answer, len);
    i->answer[len] = '\0';
    hg_list_insert_tail(&b->idem_fifo, &i->node);
    hg_map_set(&b->idem, i->key, i);
    json_t *r = json_pack("{s:s,s:I}", "a", i->answer, "t", (json_int_t)now);
    hg_store_put(txn, coll, i->key, r);
    json_decref(r);
    (void)l;
}

int hg_lb_submit(hg_lbs_t *l, hg_lb_t *b, const hg_lb_submit_t *s, hg_store_txn_t *txn,
                 hg_buf_t *out, int *replayed, hg_error_t *err)
{
    *replayed = 0;
    uint8_t id[HG_RANKSET_ID_LEN];
    if (s->player_id == NULL || hg_rankset_id_parse(s->player_id, id) < 0)
        return hg_error_set(err, HG_EINVAL, "player_id is not a player id");
    int64_t now = hg_clock_now_ms(l->clock);
    char ikey[HG_RANKSET_ID_TEXT + HG_LB_IDEM_KEY_MAX + 2] = "";
    if (s->idem_key) {
        if (!hg_str_token(s->idem_key, 1, HG_LB_IDEM_KEY_MAX))
            return hg_error_set(err, HG_EINVAL,
                                "idempotency_key must be 1 to %d printable ASCII characters",
                                HG_LB_IDEM_KEY_MAX);
        snprintf(ikey, sizeof(ikey), "%s/%s", s->player_id, s->idem_key);
        idem_t *i = hg_map_get(&b->idem, ikey);
        if (i && now - i->t_ms < HG_LB_IDEM_TTL_MS) {
            hg_buf_puts(out, i->answer);
            *replayed = 1;
            return 0;
        }
    }
    if (s->metadata && strlen(s->metadata) > b->metadata_max)
        return hg_error_set(err, HG_EINVAL, "metadata is %zu bytes; this board takes %zu",
                            strlen(s->metadata), b->metadata_max);
    size_t rank = 0;
    hg_rankset_entry_t *e = hg_rankset_get(b->cur, id, NULL);
    int64_t score = s->score, sub = s->subscore;
    int changed = 1;
    if (e) {
        switch (b->op) {
        case HG_LB_BEST: changed = better(b, score, sub, e); break;
        case HG_LB_SET: break;
        case HG_LB_INCR:
        case HG_LB_DECR:
            if (b->op == HG_LB_DECR && (score == INT64_MIN || sub == INT64_MIN))
                return hg_error_set(err, HG_EINVAL, "score out of range for decr");
            if (add_checked(e->score, b->op == HG_LB_INCR ? score : -score, &score) < 0 ||
                add_checked(e->subscore, b->op == HG_LB_INCR ? sub : -sub, &sub) < 0)
                return hg_error_set(err, HG_EINVAL,
                                    "the entry's score would leave the int64 range");
            break;
        }
    } else if (b->op == HG_LB_DECR) {
        if (score == INT64_MIN || sub == INT64_MIN)
            return hg_error_set(err, HG_EINVAL, "score out of range for decr");
        score = -score, sub = -sub;
    }
    if (changed) {
        if (e == NULL && hg_rankset_count(b->cur) >= b->max_entries)
            return hg_error_set(err, HG_ELIMIT, "leaderboard %s holds its %zu entries", b->id,
                                b->max_entries);
        char *md = s->metadata ? hg_strdup(s->metadata) : NULL;
        void *old = e ? e->ud : NULL;
        if (hg_rankset_upsert(b->cur, id, score, sub, next_reached(b, now), md, &rank) < 0) {
            hg_free(md);
            return hg_error_set(err, HG_ELIMIT, "leaderboard %s is full", b->id);
        }
        e = hg_rankset_get(b->cur, id, NULL);
        if (md == NULL && old) /* no new metadata: keep the entry's */
            e->ud = old;
        else
            hg_free(old);
        save_entry(b, e, txn);
    } else {
        hg_rankset_get(b->cur, id, &rank);
    }
    size_t start = out->len;
    hg_lb_write_entry(out, e, rank, l->name, l->name_ud);
    out->len--; /* reopen the object */
    hg_buf_puts(out, changed ? ",\"changed\":true}" : ",\"changed\":false}");
    if (s->idem_key)
        idem_remember(l, b, ikey, out->data + start, out->len - start, now, txn);
    return 0;
}

/* ---- reads ---- */

int hg_lb_view(hg_lb_t *b, int previous, hg_lb_view_t *out, hg_error_t *err)
{
    if (previous && b->reset == NULL)
        return hg_error_set(err, HG_EINVAL, "leaderboard %s has no reset, so no previous period",
                            b->id);
    if (previous && b->prev == NULL) /* a previous period nobody played in */
        b->prev = new_set(b);
    out->board = b;
    out->set = previous ? b->prev : b->cur;
    out->name = b->owner->name;
    out->name_ud = b->owner->name_ud;
    return 0;
}

size_t hg_lb_count(const hg_lb_view_t *v)
{
    return hg_rankset_count(v->set);
}

/* ---- periods ---- */

/* The boundary came: the current period becomes the previous one, a new one starts. */
static void roll(hg_lbs_t *l, hg_lb_t *b, int64_t now)
{
    int64_t cur, prev;
    if (periods_at(b, now, &cur, &prev) < 0) {
        b->next_reset_ms = 0;
        return;
    }
    if (cur != b->cur_start) {
        purge_later(l, b, b->prev_start, b->prev);
        if (prev == b->cur_start) {
            b->prev = b->cur;
        } else { /* more than one boundary passed: the previous period had nobody */
            purge_later(l, b, b->cur_start, b->cur);
            b->prev = NULL;
        }
        b->prev_start = prev;
        b->cur = new_set(b);
        b->cur_start = cur;
        hg_store_txn_t *txn = hg_store_txn_new(l->store);
        save_board(b, txn);
        hg_store_commit(txn, NULL, NULL);
        HG_LOG(HG_LOG_INFO, "rank", "leaderboard %s reset: period %lld begins", b->id,
               (long long)cur);
    }
    b->next_reset_ms = boundary(b, now, 1);
    if (b->next_reset_ms < 0)
        b->next_reset_ms = 0;
}

size_t hg_lbs_tick(hg_lbs_t *l, size_t budget)
{
    size_t done = 0;
    int64_t now = hg_clock_now_ms(l->clock);
    size_t it = 0;
    void *v;
    while (hg_map_next(&l->boards, &it, NULL, &v)) {
        hg_lb_t *b = v;
        if (b->next_reset_ms && now >= b->next_reset_ms) {
            roll(l, b, now);
            done++;
        }
        /* idempotency keys past their day */
        char coll[HG_LB_ID_MAX + 16];
        hg_store_txn_t *txn = NULL;
        while (done < budget && !hg_list_empty(&b->idem_fifo)) {
            idem_t *i = hg_container_of(b->idem_fifo.next, idem_t, node);
            if (now - i->t_ms < HG_LB_IDEM_TTL_MS)
                break;
            if (txn == NULL) {
                txn = hg_store_txn_new(l->store);
                idem_coll(b, coll, sizeof(coll));
            }
            hg_store_del(txn, coll, i->key);
            hg_map_del(&b->idem, i->key);
            hg_list_remove(&i->node);
            hg_free(i->answer);
            hg_free(i);
            done++;
        }
        if (txn)
            hg_store_commit(txn, NULL, NULL);
    }
    /* old periods' records */
    while (done < budget && !hg_list_empty(&l->purges)) {
        purge_t *p = hg_container_of(l->purges.next, purge_t, node);
        if (!p->started) {
            hg_rankset_iter_init(p->set, 1, &p->it);
            p->started = 1;
        }
        hg_store_txn_t *txn = hg_store_txn_new(l->store);
        hg_rankset_entry_t *e = NULL;
        while (done < budget && (e = hg_rankset_iter_next(&p->it)) != NULL) {
            char id[HG_RANKSET_ID_TEXT + 1];
            hg_rankset_id_format(e->id, id);
            hg_store_del(txn, p->coll, id);
            done++;
        }
        hg_store_commit(txn, NULL, NULL);
        if (e != NULL)
            break; /* budget spent: go on next tick (the set is unchanged meanwhile) */
        hg_list_remove(&p->node);
        free_set(p->set);
        hg_free(p);
    }
    return done;
}

/* ---- load ---- */

typedef struct entry_load {
    hg_lb_t *b;
    hg_rankset_t *set;
} entry_load_t;

static int load_entry(void *ud, const char *key, json_t *v)
{
    entry_load_t *el = ud;
    uint8_t id[HG_RANKSET_ID_LEN];
    if (hg_rankset_id_parse(key, id) < 0)
        return 0;
    json_t *m = json_object_get(v, "m");
    char *md = m ? json_dumps(m, JSON_COMPACT) : NULL;
    char *copy = md ? hg_strdup(md) : NULL;
    free(md);
    uint64_t r = (uint64_t)json_integer_value(json_object_get(v, "r"));
    if (hg_rankset_upsert(el->set, id, json_integer_value(json_object_get(v, "s")),
                          json_integer_value(json_object_get(v, "ss")), r, copy, NULL) < 0) {
        hg_free(copy);
        return 0;
    }
    if (r > el->b->last_reached)
        el->b->last_reached = r;
    return 0;
}

static int load_idem(void *ud, const char *key, json_t *v)
{
    hg_lb_t *b = ud;
    const char *a = json_string_value(json_object_get(v, "a"));
    if (a == NULL || hg_map_get(&b->idem, key))
        return 0;
    size_t kl = strlen(key) + 1;
    idem_t *i = hg_malloc(sizeof(*i) + kl);
    memcpy(i->key, key, kl);
    i->t_ms = json_integer_value(json_object_get(v, "t"));
    i->answer = hg_strdup(a);
    /* keep the fifo in time order */
    hg_list_t *q = b->idem_fifo.prev;
    while (q != &b->idem_fifo && hg_container_of(q, idem_t, node)->t_ms > i->t_ms)
        q = q->prev;
    hg_list_insert_tail(q->next, &i->node);
    hg_map_set(&b->idem, i->key, i);
    return 0;
}

static hg_rankset_t *load_period(hg_lbs_t *l, hg_lb_t *b, int64_t start, int *rc)
{
    entry_load_t el = {.b = b, .set = new_set(b)};
    char coll[HG_LB_ID_MAX + 40];
    entries_coll(b, start, coll, sizeof(coll));
    *rc = hg_store_load(l->store, coll, load_entry, &el);
    return el.set;
}

/* A board record read at start-up; its periods are loaded once every record is read (no load
 * nests inside another). */
typedef struct board_load {
    hg_lb_t *b;
    int64_t stored_cur, stored_prev;
} board_load_t;

static int load_board(void *ud, const char *key, json_t *v)
{
    hg_lbs_t *l = ((void **)ud)[0];
    hg_vec_t *loaded = ((void **)ud)[1];
    const char *order = json_string_value(json_object_get(v, "order"));
    const char *op = json_string_value(json_object_get(v, "op"));
    hg_lb_config_t cfg = {
        .id = key,
        .order = order && strcmp(order, "asc") == 0 ? HG_RANKSET_ASC : HG_RANKSET_DESC,
        .reset = json_string_value(json_object_get(v, "reset")),
        .time_zone = json_string_value(json_object_get(v, "tz")),
        .max_entries = (size_t)json_integer_value(json_object_get(v, "max_entries")),
        .metadata_max = (size_t)json_integer_value(json_object_get(v, "metadata_max")),
    };
    for (int i = HG_LB_BEST; i <= HG_LB_DECR; i++)
        if (op && strcmp(op, OPS[i]) == 0)
            cfg.op = i;
    sched_t s;
    if (!valid_board_id(key) || cfg.op == 0 || (cfg.reset && parse_sched(cfg.reset, &s) < 0) ||
        cfg.max_entries > HG_RANKSET_MAX || hg_lb_find(l, key)) {
        HG_LOG(HG_LOG_WARN, "rank", "leaderboard record %s unreadable: ignored", key);
        return 0;
    }
    board_load_t *bl = hg_calloc(1, sizeof(*bl));
    bl->b = board_new(l, &cfg);
    bl->b->created_ms = json_integer_value(json_object_get(v, "created_ms"));
    bl->stored_cur = json_integer_value(json_object_get(v, "cur"));
    json_t *sp = json_object_get(v, "prev");
    bl->stored_prev = json_is_integer(sp) ? json_integer_value(sp) : -1;
    hg_map_set(&l->boards, bl->b->id, bl->b);
    hg_vec_push(loaded, bl);
    return 0;
}

/* A loaded board's periods: the ones it stored that are still current or previous now (a
 * boundary may have passed while hangard was down), its idempotency keys. */
static int load_periods(hg_lbs_t *l, const board_load_t *bl)
{
    hg_lb_t *b = bl->b;
    int64_t now = hg_clock_now_ms(l->clock), cur = 0, prev = -1;
    if (b->reset && periods_at(b, now, &cur, &prev) < 0) {
        cur = bl->stored_cur;
        prev = bl->stored_prev;
    }
    b->cur_start = cur;
    b->prev_start = prev;
    int rc = 0;
    int64_t starts[2] = {bl->stored_cur, bl->stored_prev};
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (starts[i] < 0 || (i == 1 && starts[1] == starts[0]))
            continue;
        hg_rankset_t *set = load_period(l, b, starts[i], &rc);
        if (starts[i] == cur) {
            free_set(b->cur);
            b->cur = set;
        } else if (starts[i] == prev) {
            b->prev = set;
        } else {
            purge_later(l, b, starts[i], set); /* a period older than the previous one */
        }
    }
    char coll[HG_LB_ID_MAX + 16];
    idem_coll(b, coll, sizeof(coll));
    if (rc == 0)
        rc = hg_store_load(l->store, coll, load_idem, b);
    if (b->reset) {
        b->next_reset_ms = boundary(b, now, 1);
        if (b->next_reset_ms < 0)
            b->next_reset_ms = 0;
    }
    if (cur != bl->stored_cur || prev != bl->stored_prev) { /* it passed while we were down */
        hg_store_txn_t *txn = hg_store_txn_new(l->store);
        save_board(b, txn);
        hg_store_commit(txn, NULL, NULL);
    }
    return rc;
}

/* The boards of partition part (every board when part < 0), then their periods. */
static int load_boards(hg_lbs_t *l, int part)
{
    hg_vec_t loaded = {0};
    void *ud[2] = {l, &loaded};
    int rc = hg_partload_coll(l->store, BOARDS_COLL, part, load_board, ud);
    for (size_t i = 0; i < loaded.n; i++) {
        if (rc == 0)
            rc = load_periods(l, loaded.all[i]);
        hg_free(loaded.all[i]);
    }
    hg_free(loaded.all);
    return rc;
}

int hg_lbs_load(hg_lbs_t *l, hg_error_t *err)
{
    /* one read of lb.boards, not one per partition (hg_lbs_load_partition) */
    int rc = load_boards(l, -1);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load leaderboards");
    HG_LOG(HG_LOG_INFO, "rank", "loaded leaderboards=%zu", hg_map_count(&l->boards));
    return 0;
}

/* ---- partitions (docs/cluster.md "Next", step 3) ---- */

int hg_lbs_load_partition(hg_lbs_t *l, int part, hg_error_t *err)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_LB0))
        return hg_error_set(err, HG_EINVAL, "partition %d holds no leaderboards", part);
    int rc = load_boards(l, part);
    if (rc < 0)
        return hg_error_set(err, rc, "cannot load leaderboards (partition %d)", part);
    return 0;
}

int hg_lbs_drop_partition(hg_lbs_t *l, int part)
{
    if (!hg_partition_hashed_in(part, HG_PARTITION_LB0))
        return HG_EINVAL;
    size_t it = 0;
    void *v;
    while (hg_map_next(&l->boards, &it, NULL, &v)) {
        hg_lb_t *b = v;
        if (hg_partition_of(BOARDS_COLL, b->id) == part) {
            hg_map_del(&l->boards, b->id); /* the current key: allowed while iterating */
            board_free(b);
        }
    }
    /* old periods still being deleted are forgotten too: this node may not write the partition
     * any more. Their remaining records stay in the store, where no board names them (the next
     * owner loads only the current and previous periods): docs/cluster.md, step 3. */
    hg_list_t *q, *nx;
    hg_list_foreach_safe (q, nx, &l->purges) {
        purge_t *p = hg_container_of(q, purge_t, node);
        if (hg_partition_of(p->coll, NULL) == part) {
            hg_list_remove(&p->node);
            free_set(p->set);
            hg_free(p);
        }
    }
    return 0;
}

/* {"items": [...]} with entries from rank `from` (1-based), at most limit; "next" when more. */
void hg_lb_write_page(hg_buf_t *o, const hg_lb_view_t *v, size_t from, size_t limit)
{
    hg_rankset_entry_t **es = hg_malloc(limit * sizeof(*es));
    size_t n = hg_rankset_range(v->set, from, limit, es);
    hg_buf_puts(o, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hg_buf_puts(o, ",");
        hg_lb_write_entry(o, es[i], from + i, v->name, v->name_ud);
    }
    hg_buf_puts(o, "]");
    if (n && from + n - 1 < hg_lb_count(v)) {
        hg_buf_printf(o, ",\"next\":\"%zu\"", from + n - 1);
    }
    hg_buf_printf(o, ",\"count\":%zu}", hg_lb_count(v));
    hg_free(es);
}

typedef struct ranked {
    hg_rankset_entry_t *e;
    size_t rank;
} ranked_t;

static int cmp_ranked(const void *x, const void *y)
{
    size_t a = ((const ranked_t *)x)->rank, b = ((const ranked_t *)y)->rank;
    return a < b ? -1 : a > b;
}

/* Entries of ids (borrowed texts), those present, in rank order; the others in missing. */
void hg_lb_write_ranks(hg_buf_t *o, const hg_lb_view_t *v, const char *const *ids, size_t n,
                       int friends)
{
    ranked_t *r = hg_malloc((n ? n : 1) * sizeof(*r));
    size_t k = 0;
    json_t *missing = json_array();
    for (size_t i = 0; i < n; i++) {
        uint8_t id[HG_RANKSET_ID_LEN];
        hg_rankset_entry_t *e = NULL;
        if (hg_rankset_id_parse(ids[i], id) == 0)
            e = hg_rankset_get(v->set, id, &r[k].rank);
        if (e) {
            r[k++].e = e;
        } else {
            json_array_append_new(missing, json_string(ids[i]));
        }
    }
    qsort(r, k, sizeof(*r), cmp_ranked);
    hg_buf_puts(o, "{\"items\":[");
    for (size_t i = 0; i < k; i++) {
        if (i)
            hg_buf_puts(o, ",");
        hg_lb_write_entry(o, r[i].e, r[i].rank, v->name, v->name_ud);
        if (friends) { /* its place among them, beside its global rank */
            o->len--;
            hg_buf_printf(o, ",\"friend_rank\":%zu}", i + 1);
        }
    }
    hg_buf_puts(o, "],\"missing\":");
    hg_jsonw_value(o, missing);
    hg_buf_puts(o, "}");
    json_decref(missing);
    hg_free(r);
}
