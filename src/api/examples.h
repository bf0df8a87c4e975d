/* hangar — the example pages: static files served read-only under /examples/.
 *
 * The `examples-dir` option names a directory (examples/rooms: the rooms demo page); its files
 * are read once, at start-up, into memory, and served to anyone (no authentication: they are
 * public, static content) with GET or HEAD:
 *
 *     GET /examples            301 to /examples/ (the page's relative links need the slash)
 *     GET /examples/           index.html
 *     GET /examples/<name>     that file; 404 for any other name
 *
 * Only regular files directly in the directory are kept (a symbolic link is what it points to:
 * the directory's owner chose it), named 1..HG_EXAMPLES_NAME_MAX of
 * [A-Za-z0-9._-] not starting with '.', with a known extension (.html .js .css .lua .json .md
 * .txt), at most HG_EXAMPLES_FILES_MAX files and HG_EXAMPLES_BYTES_MAX bytes together. A
 * request names one of them exactly or gets 404: there is no path to resolve, so no '..', '/',
 * '%' or NUL can lead anywhere else. Reading at start-up keeps the disk off the loop thread;
 * changed files are served after a restart. Loop thread only (after load).
 */
#ifndef HG_API_EXAMPLES_H
#define HG_API_EXAMPLES_H

#include "core/err.h"
#include "http/http.h"

#define HG_EXAMPLES_FILES_MAX 64         /* files kept from examples-dir */
#define HG_EXAMPLES_BYTES_MAX (1u << 20) /* their bytes together */
#define HG_EXAMPLES_NAME_MAX 64          /* a file name's length */

typedef struct hg_examples hg_examples_t;

/* Read the servable files of dir (blocking: start-up only). Returns 0 with a new set in *out
 * (release with hg_examples_free()), or < 0 with err naming the directory or the file: dir
 * cannot be read, a file cannot be read, or the files pass a limit. */
int hg_examples_load(const char *dir, hg_examples_t **out, hg_error_t *err);
/* NULL-safe. */
void hg_examples_free(hg_examples_t *ex);
/* 1 when req's path is /examples or under /examples/ (hg_examples_handle answers it). */
int hg_examples_match(const hg_http_req_t *req);
/* Answer a request hg_examples_match() took: the file, a redirect, 404 or 405. ex borrowed. */
void hg_examples_handle(const hg_examples_t *ex, hg_http_req_t *req);

#endif
