/* hangar — the example pages under /examples/ (see examples.h and docs/rooms.md).
 *
 * A small, closed set of files read at start-up: a request is answered from memory by an exact
 * name match, so serving needs no path handling and no disk I/O on the loop thread.
 */
#include "api/examples.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/str.h"

#define PREFIX "/examples"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

typedef struct file {
    char name[HG_EXAMPLES_NAME_MAX + 1];
    const char *type; /* Content-Type */
    char *data;       /* owned */
    size_t len;
} file_t;

struct hg_examples {
    file_t files[HG_EXAMPLES_FILES_MAX];
    size_t n;
    size_t bytes;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},   {".lua", "text/plain; charset=utf-8"},
    {".json", "application/json"},         {".md", "text/markdown; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
};

/* The Content-Type of a servable name, or NULL: 1..HG_EXAMPLES_NAME_MAX of [A-Za-z0-9._-], not
 * starting with '.' (no hidden files, no "..") and ending in a known extension. */
static const char *servable(const char *name, size_t len)
{
    if (len == 0 || name[0] == '.' || !hg_str_name(name, len, HG_EXAMPLES_NAME_MAX, ".-"))
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t el = strlen(types[i].ext);
        if (len > el && memcmp(name + len - el, types[i].ext, el) == 0)
            return types[i].type;
    }
    return NULL;
}

/* Read one regular file of at most `room` bytes into f; err names it otherwise. */
static int read_file(int dirfd, const char *dir, file_t *f, size_t room, hg_error_t *err)
{
    int rc = HG_OK, fd = openat(dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = hg_error_set(err, -errno, "examples-dir %s: %s: %s", dir, f->name, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) /* a directory, a FIFO…: not a page; skipped */
        goto out;
    if ((uint64_t)st.st_size > room) {
        rc = hg_error_set(err, HG_ELIMIT,
                          "examples-dir %s: %s makes the files over %u bytes together (the limit "
                          "in docs/limits.md)",
                          dir, f->name, HG_EXAMPLES_BYTES_MAX);
        goto out;
    }
    f->data = hg_malloc((size_t)st.st_size + 1);
    while (f->len < (size_t)st.st_size) {
        ssize_t got = read(fd, f->data + f->len, (size_t)st.st_size - f->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) { /* an error, or the file shrank while read: take what was read */
            if (got < 0)
                rc = hg_error_set(err, -errno, "examples-dir %s: %s: %s", dir, f->name,
                                  strerror(errno));
            break;
        }
        f->len += (size_t)got;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int hg_examples_load(const char *dir, hg_examples_t **out, hg_error_t *err)
{
    int rc = HG_OK;
    hg_examples_t *ex = hg_calloc(1, sizeof(*ex));
    DIR *d = opendir(dir);
    if (d == NULL) {
        rc = hg_error_set(err, -errno, "examples-dir %s: %s", dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        const char *type = servable(de->d_name, len);
        if (type == NULL)
            continue;
        if (ex->n == HG_EXAMPLES_FILES_MAX) {
            rc = hg_error_set(err, HG_ELIMIT,
                              "examples-dir %s: more than %d files to serve (the limit in "
                              "docs/limits.md)",
                              dir, HG_EXAMPLES_FILES_MAX);
            goto out;
        }
        file_t *f = &ex->files[ex->n];
        memcpy(f->name, de->d_name, len + 1);
        f->type = type;
        if ((rc = read_file(dirfd(d), dir, f, HG_EXAMPLES_BYTES_MAX - ex->bytes, err)) < 0)
            goto out;
        if (f->data == NULL)
            continue; /* not a regular file */
        ex->bytes += f->len;
        ex->n++;
    }
    HG_LOG(HG_LOG_INFO, "examples", "serving /examples/ dir=%s files=%zu bytes=%zu", dir, ex->n,
           ex->bytes);
    *out = ex;
    ex = NULL;
out:
    if (d)
        closedir(d);
    hg_examples_free(ex);
    return rc;
}

void hg_examples_free(hg_examples_t *ex)
{
    if (ex == NULL)
        return;
    for (size_t i = 0; i <= ex->n && i < HG_EXAMPLES_FILES_MAX; i++) /* <=: one being read */
        hg_free(ex->files[i].data);
    hg_free(ex);
}

int hg_examples_match(const hg_http_req_t *req)
{
    return req->path_len >= PREFIX_LEN && memcmp(req->path, PREFIX, PREFIX_LEN) == 0 &&
           (req->path_len == PREFIX_LEN || req->path[PREFIX_LEN] == '/');
}

static void answer_text(hg_http_req_t *req, int status, const char *extra, const char *text)
{
    hg_http_respond(req, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

void hg_examples_handle(const hg_examples_t *ex, hg_http_req_t *req)
{
    /* nosniff: a .lua or .json file is never run as a script; the policy keeps the page to its
     * own files and its own origin (the API and the room sockets) */
    static const char headers[] =
        "Cache-Control: no-cache\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'self'; connect-src 'self'; frame-ancestors "
        "'none'\r\n";
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        answer_text(req, 405, "Allow: GET, HEAD\r\n", "use GET or HEAD on /examples/\n");
        return;
    }
    if (req->path_len == PREFIX_LEN) {
        answer_text(req, 301, "Location: /examples/\r\n", "see /examples/\n");
        return;
    }
    const char *name = req->path + PREFIX_LEN + 1;
    size_t len = req->path_len - PREFIX_LEN - 1;
    if (len == 0) {
        name = "index.html";
        len = strlen(name);
    }
    for (size_t i = 0; i < ex->n; i++) {
        const file_t *f = &ex->files[i];
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) {
            hg_http_respond(req, 200, f->type, headers, f->data, f->len);
            return;
        }
    }
    answer_text(req, 404, NULL, "no such file under /examples/\n");
}
