/* hangar — write-behind for the SQLite store's writer connection: a VFS shim.
 *
 * SQLite writes a WAL frame as two write calls (its 24-byte header, then the page), and a
 * checkpoint copies pages into the database file one write call each. A group commit of 64
 * purchases writes ~300 frames, so the writer lane made ~600 pwrite system calls per commit,
 * and on this kind of virtual machine a system call is costly: half of the writer thread's time
 * was in the kernel (bench/README.md, "Purchases"). This shim sits over the default (unix) VFS
 * for the main database and WAL files of the one connection that writes, and coalesces writes
 * that continue one another into one buffer, written with one call when something needs the
 * bytes in the file:
 *
 *   - xSync (a commit's fsync of the WAL, a checkpoint's of the database): the bytes reach the
 *     file before the fsync, so durability is what it was;
 *   - the database file's xShmBarrier, which SQLite calls as it publishes a commit in the WAL
 *     index header (what other connections read): the WAL's buffer is written first, so no
 *     reader is ever pointed at a frame still in the buffer, whatever the synchronous setting
 *     (with FULL, the commit's sync wrote it already; with NORMAL, the reader lane read frames
 *     that were not yet there before this);
 *   - xRead, xFileSize, xTruncate, xFetch, xFileControl, xClose of the same file: SQLite sees
 *     what it wrote (a transaction reading back a page it spilled, a checkpoint reading frames);
 *   - a write that does not continue the buffer, or would overflow it (WB_CAP);
 *   - hg_sqlite_wb_flush() after every COMMIT and ROLLBACK (sqlite.c), so nothing is left
 *     buffered between transactions whatever the synchronous setting.
 *
 * Reads of the WAL below what this connection knows is in the file (it is the only one that
 * writes the WAL) are served from a read-only map of it: a checkpoint reads every frame it
 * copies, 10,000 pread calls per checkpoint before. The size it knows follows its own writes
 * and truncations, so the map is never read past the end of the file (which would fault).
 *
 * A write that fails when the buffer is written (ENOSPC: SQLITE_FULL) drops the buffer and
 * fails the next call whose error SQLite acts on (the commit's or the checkpoint's sync, a read,
 * a write): SQLite then rolls the transaction back, or keeps the WAL, as when a write itself
 * fails. (A first version returned the error from whichever call flushed; SQLite ignores the
 * result of a checkpoint's SQLITE_FCNTL_CKPT_DONE, so on a full disk a checkpoint whose pages
 * were never written "succeeded", the WAL was deleted at close, and the store came back
 * corrupt: tests/e2e/01-store-full-disk.py caught it.) Other files (temporary files,
 * the shared-memory index) and other connections (the reader lane, `hangard check`) use the
 * unix VFS directly.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_wb.h"

#define WB_CAP (2u << 20) /* bytes buffered per file before they are written */

typedef struct wb_file {
    sqlite3_file base; /* pMethods: &wb_methods (first: SQLite's handle is this struct) */
    sqlite3_file *real;
    unsigned char *buf; /* WB_CAP bytes, allocated at the first buffered write */
    size_t len;
    sqlite3_int64 off; /* the file offset of buf[0] */
    int err;           /* a failed write of the buffer not yet reported (see wb_take_err) */
    /* WAL files: a read-only map of the file, for reads below `size` (what is in the file:
     * known because only this connection writes the WAL); NULL: reads go to the base VFS */
    const unsigned char *map;
    sqlite3_int64 size;
    /* a main database file: its WAL's wrapper while that is open (wb_shm_barrier); the WAL's:
     * its database file's. Both under wb_mu. */
    struct wb_file *wal, *db;
    char *name;           /* a main database file's path, to find it when its WAL opens */
    struct wb_file *next; /* open main database files, under wb_mu */
} wb_file_t;

/* The WAL's map: address space only (64 MiB journal_size_limit, 10,000-page checkpoints, the
 * rest for a WAL that grows while a reader holds a checkpoint back). A read past it, or past
 * what is in the file, goes to the base VFS. */
#define WB_MAP_MAX ((sqlite3_int64)1 << 30)

#define WB_REAL_OFFSET ((sizeof(wb_file_t) + 15) & ~(size_t)15)

static pthread_mutex_t wb_mu = PTHREAD_MUTEX_INITIALIZER;
static wb_file_t *wb_dbs; /* open main database files */
static sqlite3_vfs wb_vfs;
static sqlite3_vfs *wb_base;
static int wb_register_rc = SQLITE_ERROR;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;

/* The unix VFS writes at most 128 KiB per call: its seekAndWrite masks a count with 0x1ffff
 * (a count of exactly 128 KiB became 0 and failed as SQLITE_FULL), so the buffer goes out in
 * pieces of WB_CHUNK. */
#define WB_CHUNK (64u << 10)

/* Writes the buffer. A failure is kept in f->err until a call whose error SQLite always acts
 * on reports it (wb_take_err): SQLite ignores the result of some file controls (a checkpoint's
 * SQLITE_FCNTL_CKPT_DONE, size hints), and the bytes of a buffer that failed are dropped, so the
 * failure must reach the checkpoint's sync or the commit's, never be lost with them. */
static void wb_flush(wb_file_t *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->len && rc == SQLITE_OK; done += WB_CHUNK) {
        size_t n = f->len - done < WB_CHUNK ? f->len - done : WB_CHUNK;
        rc =
            f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
    }
    if (rc == SQLITE_OK && f->off + (sqlite3_int64)f->len > f->size)
        f->size = f->off + (sqlite3_int64)f->len;
    f->len = 0;
    if (rc != SQLITE_OK && f->err == SQLITE_OK)
        f->err = rc;
}

/* Flushes, then returns (and forgets) the first failure not yet reported. */
static int wb_take_err(wb_file_t *f)
{
    wb_flush(f);
    int rc = f->err;
    f->err = SQLITE_OK;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    if (f->map)
        munmap((void *)f->map, (size_t)WB_MAP_MAX);
    f->map = NULL;
    pthread_mutex_lock(&wb_mu);
    if (f->db) /* a WAL */
        f->db->wal = NULL;
    if (f->name) { /* a main database file */
        for (wb_file_t **pp = &wb_dbs; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        if (f->wal)
            f->wal->db = NULL;
    }
    pthread_mutex_unlock(&wb_mu);
    sqlite3_free(f->name);
    f->name = NULL;
    int rc2 = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 ofst)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    if (rc != SQLITE_OK)
        return rc;
    /* a checkpoint reads every frame it copies: one memcpy each instead of one pread */
    if (f->map && ofst >= 0 && ofst + amt <= f->size && ofst + amt <= WB_MAP_MAX) {
        memcpy(out, f->map + ofst, (size_t)amt);
        return SQLITE_OK;
    }
    return f->real->pMethods->xRead(f->real, out, amt, ofst);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 ofst)
{
    wb_file_t *f = (wb_file_t *)file;
    size_t n = (size_t)amt;
    if (f->len > 0 && ofst == f->off + (sqlite3_int64)f->len && f->len + n <= WB_CAP) {
        memcpy(f->buf + f->len, data, n);
        f->len += n;
        return SQLITE_OK;
    }
    int rc = wb_take_err(f);
    if (rc != SQLITE_OK)
        return rc;
    if (n >= WB_CHUNK || (f->buf == NULL && (f->buf = sqlite3_malloc(WB_CAP)) == NULL)) {
        rc = f->real->pMethods->xWrite(f->real, data, amt, ofst);
        if (rc == SQLITE_OK && ofst + amt > f->size)
            f->size = ofst + amt;
        return rc;
    }
    memcpy(f->buf, data, n);
    f->off = ofst;
    f->len = n;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    if (rc != SQLITE_OK)
        return rc;
    /* below the new size before the file shrinks: a map read past the end would fault */
    if (size < f->size)
        f->size = size;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

/* Any file control may look at or change the file (size hints, chunk sizes, a persisted WAL):
 * the buffer is written first. It is empty at nearly every call: controls come between
 * transactions, not amid a run of frames. */
static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    wb_file_t *f = (wb_file_t *)file;
    wb_flush(f); /* a failure stays in f->err for the next sync, read or write */
    if (op == SQLITE_FCNTL_VFSNAME) {
        /* say the shim is there, as SQLite's own shims do */
        int rc = f->real->pMethods->xFileControl(f->real, op, arg);
        if (rc == SQLITE_OK) {
            char **name = arg;
            char *s = sqlite3_mprintf("hangar-wb/%z", *name);
            if (s == NULL)
                return SQLITE_NOMEM;
            *name = s;
        }
        return rc;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int wb_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

/* SQLite publishes a commit to other connections by writing the WAL index header, with a
 * barrier between its two copies: the WAL's frames must be in the file by then, whether or not
 * the commit synced them (synchronous=FULL does; NORMAL would not, and readers would read frames
 * still in the buffer). Only the connection's own thread calls this for its files. */
static void wb_shm_barrier(sqlite3_file *file)
{
    wb_file_t *f = (wb_file_t *)file;
    if (f->wal)
        wb_flush(f->wal); /* a failure stays with the WAL for its next sync, read or write */
    f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 ofst, int amt, void **out)
{
    wb_file_t *f = (wb_file_t *)file;
    int rc = wb_take_err(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, ofst, amt, out);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 ofst, void *p)
{
    wb_file_t *f = (wb_file_t *)file;
    return f->real->pMethods->xUnfetch(f->real, ofst, p);
}

static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    (void)vfs;
    /* temporary files and journals of other kinds go straight to the base VFS, in the same
     * (larger) space */
    if ((flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) == 0)
        return wb_base->xOpen(wb_base, name, file, flags, out_flags);
    wb_file_t *f = (wb_file_t *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + WB_REAL_OFFSET);
    int rc = wb_base->xOpen(wb_base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc; /* pMethods stays NULL: SQLite does not call xClose */
    if (f->real->pMethods == NULL || f->real->pMethods->iVersion < 3) {
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &wb_methods;
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        f->name = sqlite3_mprintf("%s", name);
        pthread_mutex_lock(&wb_mu);
        f->next = wb_dbs;
        wb_dbs = f;
        pthread_mutex_unlock(&wb_mu);
    }
    if ((flags & SQLITE_OPEN_WAL) && name) {
        /* the WAL of a database file this connection opened: <its path>-wal, opened after it
         * by the same connection (several connections may have the same path open: the most
         * recent, first in the list, is the one opening its WAL now) */
        size_t n = strlen(name);
        pthread_mutex_lock(&wb_mu);
        for (wb_file_t *d = wb_dbs; d; d = d->next)
            if (d->wal == NULL && d->name && n > 4 && strncmp(d->name, name, n - 4) == 0 &&
                d->name[n - 4] == '\0' && strcmp(name + n - 4, "-wal") == 0) {
                d->wal = f;
                f->db = d;
                break;
            }
        pthread_mutex_unlock(&wb_mu);
        /* the map holds the file's pages through a descriptor of its own, closed at once */
        int fd = open(name, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (fd >= 0 && fstat(fd, &sb) == 0) {
            void *m = mmap(NULL, (size_t)WB_MAP_MAX, PROT_READ, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                f->map = m;
                f->size = sb.st_size;
            }
        }
        if (fd >= 0)
            close(fd);
    }
    return SQLITE_OK;
}

static void wb_register_once(void)
{
    wb_base = sqlite3_vfs_find(NULL);
    if (wb_base == NULL)
        return;
    /* the base's other methods (delete, access, full path, randomness, time) take the VFS only
     * to read the fields copied here with them */
    wb_vfs = *wb_base;
    wb_vfs.pNext = NULL;
    wb_vfs.zName = HG_SQLITE_WB_VFS;
    wb_vfs.szOsFile = (int)WB_REAL_OFFSET + wb_base->szOsFile;
    wb_vfs.xOpen = wb_open;
    wb_register_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int hg_sqlite_wb_register(void)
{
    pthread_once(&wb_once, wb_register_once);
    return wb_register_rc;
}

static int flush_pointer(sqlite3 *db, int op)
{
    sqlite3_file *file = NULL;
    if (sqlite3_file_control(db, "main", op, &file) != SQLITE_OK || file == NULL ||
        file->pMethods != &wb_methods)
        return SQLITE_OK;
    wb_file_t *f = (wb_file_t *)file;
    wb_flush(f);
    return f->err; /* kept for SQLite's next call to report */
}

int hg_sqlite_wb_flush(sqlite3 *db)
{
    int rc = flush_pointer(db, SQLITE_FCNTL_JOURNAL_POINTER);
    int rc2 = flush_pointer(db, SQLITE_FCNTL_FILE_POINTER);
    return rc != SQLITE_OK ? rc : rc2;
}
