/* hangar — write-behind VFS shim for the SQLite store's writer connection (sqlite_wb.c). */
#ifndef HG_STORE_SQLITE_WB_H
#define HG_STORE_SQLITE_WB_H

#include <sqlite3.h>

#define HG_SQLITE_WB_VFS "hangar-wb"

/* Registers the VFS (not as the default), once per process; any thread. SQLITE_OK or why not. */
int hg_sqlite_wb_register(void);
/* Writes what db's main database and WAL files hold buffered (after a COMMIT or ROLLBACK). */
int hg_sqlite_wb_flush(sqlite3 *db);

#endif
