/* daemon.c - becoming a daemon only once start-up has succeeded.
 *
 * A daemon that forks first and fails later (the database cannot be opened, the log file is
 * refused) says why only in a log the user does not look at, and its command exits 0. So the
 * parent stays until the child says it is ready, over a pipe: the child's start-up errors go
 * to the terminal's stderr, and its exit status becomes the command's. */
#include "daemon.h"
#include "spooldir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready_fd = -1;

static void parent_wait(const char *prog, pid_t child, int fd)
{
	char c;
	ssize_t n;
	int st;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	/* The pipe closed without a word: the child ended during start-up. */
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			_exit(3);
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st) ? WEXITSTATUS(st) : 3);
	fprintf(stderr, "%s: the daemon (pid %d) was killed during start-up by signal %d (%s)\n", prog, (int)child,
		WTERMSIG(st), strsignal(WTERMSIG(st)));
	_exit(3);
}

int daemon_start(const char *prog)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		parent_wait(prog, pid, p[0]);
	}
	close(p[0]);
	ready_fd = p[1];
	setsid();
	return 0;
}

void daemon_ready(void)
{
	log_tee_errors(false);
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	fflush(NULL);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) < 0) {
			/* the parent is gone: no one to release */
		}
		close(ready_fd);
		ready_fd = -1;
	}
}

int daemon_log_open(const char *prog, const struct spooldir *sd, const char *file, struct err *e)
{
	enum log_level lvl = LOG_LVL_INFO;
	log_level_parse(sd->conf.log_level, &lvl);
	bool to_syslog = strcmp(sd->conf.log, "syslog") == 0 ||
			 (strcmp(sd->conf.log, "auto") == 0 && log_syslog_reachable());
	if (to_syslog) {
		fprintf(stderr, "%s: logging to syslog (daemon facility; journalctl -t %s)\n", prog, prog);
		log_open(prog, true, lvl);
		log_tee_errors(true);
		return 0;
	}
	if (log_open_file(prog, sd->root, sd->path, file, sd->owner, sd->conf.log_max_bytes, lvl, e) < 0)
		return -1;
	fprintf(stderr, "%s: logging to %s%s\n", prog, log_file_path(),
		strcmp(sd->conf.log, "auto") == 0 ? " (no syslog socket at /dev/log)" : "");
	log_tee_errors(true);
	return 0;
}

void daemon_reload_conf(struct spooldir *sd)
{
	struct spool_conf next;
	struct err e;
	struct buf applied, restart;
	if (log_reopen(&e) < 0)
		log_err("SIGHUP: %s (logging on to the old file)", e.msg);
	if (spooldir_read_conf(sd, &next, &e) < 0) {
		log_err("SIGHUP: keeping the settings in use: %s", e.msg);
		return;
	}
	buf_init(&applied);
	buf_init(&restart);
	conf_apply_live(&sd->conf, &next, &applied, &restart);
	enum log_level lvl = LOG_LVL_INFO;
	log_level_parse(sd->conf.log_level, &lvl);
	log_set_level(lvl);
	log_set_file_max(sd->conf.log_max_bytes);
	log_info("SIGHUP: reread %s/spool.conf: %s%s%s%s", sd->path, applied.len ? "applied " : "no change to apply",
		 applied.len ? applied.p : "", restart.len ? "; changed but kept until a restart: " : "",
		 restart.len ? restart.p : "");
	buf_free(&applied);
	buf_free(&restart);
}
