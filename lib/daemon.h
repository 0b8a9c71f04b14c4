/* daemon.h - becoming a daemon only once start-up has succeeded. */
#ifndef SPOOL_DAEMON_H
#define SPOOL_DAEMON_H

#include "log.h"

/* Fork: the parent waits (its stderr stays the terminal's) until the child calls
 * daemon_ready, then exits 0; if the child exits first (a start-up error, which it printed
 * on the same stderr), the parent exits with the child's status, so the error reaches the
 * terminal and the exit code the caller. Returns in the child only (a new session), or -1
 * when fork fails. */
int daemon_start(const char *prog);
/* In the child: stdin, stdout and stderr to /dev/null, and the parent released (exit 0). */
void daemon_ready(void);

struct spooldir;

/* In the background: log where spool.conf's `log` says (auto: syslog when something listens on
 * /dev/log, else DIR/log/FILE), and say where on stderr, before daemon_ready closes it. */
int daemon_log_open(const char *prog, const struct spooldir *sd, const char *file, struct err *e);
/* SIGHUP: read spool.conf again and apply what can change while running; log one line naming the
 * settings applied and those that wait for a restart. A bad file keeps the old settings (logged,
 * with the file's line). Reopens the log file too (for an outside rotation). */
void daemon_reload_conf(struct spooldir *sd);

#endif
