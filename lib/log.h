/* log.h - one error vocabulary for every program.
 *
 * Library code never exits on environment problems: it returns -1 and fills a
 * struct err with a sentence that says what failed, on which path or record,
 * and (where there is one) what to do. Only main()-level code logs and exits.
 */
#ifndef SPOOL_LOG_H
#define SPOOL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err {
	char msg[1024];
};

/* Fill e (if not NULL) and return -1, so callers can write `return err_set(...)`. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, appending ": strerror(errno)". */
int err_sys(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_open(const char *progname, bool to_syslog, enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level level);
/* While on, errors and warnings logged to syslog or a file are also printed on stderr: a daemon
 * between choosing its log and detaching, whose start-up errors belong on the terminal too. */
void log_tee_errors(bool on);
/* Does something listen on /dev/log? (syslog(3) would drop every message silently otherwise.) */
bool log_syslog_reachable(void);
/* From now on, log to ROOTPATH/log/NAME (root: the fd of ROOTPATH): the directory is made
 * (0750) and the file created exclusively (0600), both given to owner when running as root; an
 * existing file is used only if it is a plain file of owner (or ours) with one link. The file is
 * renamed to NAME.1 when it would grow past max_bytes (0: never). */
int log_open_file(const char *progname, int root, const char *rootpath, const char *name, uid_t owner,
		  uint64_t max_bytes, enum log_level level, struct err *e);
const char *log_file_path(void); /* the file being logged to, NULL when none */
void log_set_file_max(uint64_t max_bytes);
/* Reopen the log file by its name (after an outside rotation); 0 when not logging to a file. */
int log_reopen(struct err *e);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level and exit with code. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
