/* hangar — logging.
 *
 * HG_LOG(level, subsys, fmt, ...) tests the level before evaluating its arguments, writes one
 * line per event in key=value form (`ts=… level=… subsys=… msg="…"`), adds file:line at error
 * and debug levels. Lines go to stderr with a single write(2) each; stderr is a pipe or a
 * terminal for a foreground daemon, and a line is far below PIPE_BUF, so it never interleaves.
 * Secrets are never passed to the logger (keys are logged by id only).
 */
#ifndef HG_CORE_LOG_H
#define HG_CORE_LOG_H

enum hg_log_level {
    HG_LOG_ERROR = 0,
    HG_LOG_WARN = 1,
    HG_LOG_INFO = 2,
    HG_LOG_DEBUG = 3,
};

extern int hg_log_level;

void hg_log_write(int level, const char *subsys, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Parse "error|warn|info|debug"; returns the level or -1. */
int hg_log_parse_level(const char *s);

#define HG_LOG(level, subsys, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= hg_log_level)                                                               \
            hg_log_write((level), (subsys), __FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)

#define HG_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (cond) {                                                                                \
            hg_log_write(HG_LOG_ERROR, "bug", __FILE__, __LINE__, "BUG_ON(%s)", #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#ifdef NDEBUG
#define HG_ASSERT(x) ((void)0)
#define HG_NEVER(x) (x)
#define HG_ALWAYS(x) (x)
#else
#define HG_ASSERT(x) HG_BUG_ON(!(x))
#define HG_NEVER(x)                                                                                \
    ((x) ? (hg_log_write(HG_LOG_ERROR, "bug", __FILE__, __LINE__, "NEVER(%s)", #x), abort(), 1) : 0)
#define HG_ALWAYS(x)                                                                               \
    ((x) ? 1                                                                                       \
         : (hg_log_write(HG_LOG_ERROR, "bug", __FILE__, __LINE__, "ALWAYS(%s)", #x), abort(), 0))
#endif

#include <stdlib.h>

#endif
