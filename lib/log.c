/* log.c - logging to stderr (foreground, tools), syslog, or a file under the spool (daemons in
 * the background on a machine without a syslog socket, or when spool.conf says `log = "file"`).
 *
 * Messages carry paths, names and reasons that users chose (a working directory with a newline
 * and an escape sequence in its name): every message and every struct err sentence is passed
 * through text_clean, so a log line is always one line and drives no terminal. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "spool";
static bool use_syslog;
static enum log_level max_level = LOG_LVL_INFO;
static bool tee_errors; /* a daemon not yet detached: its errors and warnings also reach stderr */

/* The log file, when logging to one: the directory stays open so that rotation and a reopen
 * (SIGHUP) work relative to it, never through a path someone could have swapped. */
static struct {
	int fd, dirfd;
	char name[128], shown[4400];
	uid_t owner;
	uint64_t max, size;
} lf = { .fd = -1, .dirfd = -1 };

/* An error sentence may end in a reason file, a result or a terminal: cleaned once, here. */
static void err_fill(struct err *e, const char *fmt, va_list ap)
{
	char raw[sizeof e->msg];
	vsnprintf(raw, sizeof raw, fmt, ap);
	text_clean(e->msg, sizeof e->msg, raw);
}

int err_set(struct err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	if (!e)
		return -1;
	va_start(ap, fmt);
	err_fill(e, fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

int err_sys(struct err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;
	if (!e)
		return -1;
	va_start(ap, fmt);
	err_fill(e, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

void log_open(const char *progname, bool to_syslog, enum log_level level)
{
	prog = progname;
	use_syslog = to_syslog;
	max_level = level;
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_tee_errors(bool on)
{
	tee_errors = on;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

/* syslog(3) drops messages silently when nothing listens on /dev/log (a container, a minimal
 * node): so a daemon looks before it chooses syslog. */
bool log_syslog_reachable(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return false;
		int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
		int err = errno;
		close(fd);
		if (rc == 0)
			return true;
		if (err != EPROTOTYPE)
			return false;
	}
	return false;
}

/* A new file is created exclusively (no one else's file or link is ever opened for writing);
 * an existing one is appended to only if it is a plain file, not a link, of the spool's owner
 * or ours, writable by no one else. */
static int lf_open(struct err *e)
{
	struct stat st;
	int fd = openat(lf.dirfd, lf.name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (geteuid() == 0 && lf.owner != 0 && fchown(fd, lf.owner, (gid_t)-1) < 0) {
			err_sys(e, "cannot give %s to uid %u", lf.shown, (unsigned)lf.owner);
			close(fd);
			return -1;
		}
	} else if (errno == EEXIST) {
		fd = openat(lf.dirfd, lf.name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return err_sys(e, "cannot open the log file %s (remove it if it is not a log)", lf.shown);
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
		    (st.st_uid != lf.owner && st.st_uid != geteuid()) || (st.st_mode & 022)) {
			close(fd);
			return err_set(e, "refusing the log file %s: not a plain file of uid %u with one link, "
					  "writable by its owner only (remove it: the daemon makes a new one)",
				       lf.shown, (unsigned)lf.owner);
		}
		fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
	} else {
		return err_sys(e, "cannot create the log file %s", lf.shown);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_sys(e, "cannot stat the log file %s", lf.shown);
	}
	if (lf.fd >= 0)
		close(lf.fd);
	lf.fd = fd;
	lf.size = (uint64_t)st.st_size;
	return 0;
}

int log_open_file(const char *progname, int root, const char *rootpath, const char *name, uid_t owner,
		  uint64_t max_bytes, enum log_level level, struct err *e)
{
	struct stat st;
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/log", rootpath);
	if (mkdirat(root, "log", 0750) == 0) {
		if (geteuid() == 0 && owner != 0 && fchownat(root, "log", owner, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
			return err_sys(e, "cannot give %s to uid %u", dir, (unsigned)owner);
	} else if (errno != EEXIST) {
		return err_sys(e, "cannot create the log directory %s", dir);
	}
	int dfd = openat(root, "log", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(e, "cannot open the log directory %s", dir);
	if (fstat(dfd, &st) < 0 || st.st_uid != owner || (st.st_mode & 022)) {
		close(dfd);
		return err_set(e, "refusing the log directory %s: it must be a directory of uid %u that no one else "
				  "may write (chown %u %s; chmod go-w %s)", dir, (unsigned)owner, (unsigned)owner, dir, dir);
	}
	if (lf.dirfd >= 0)
		close(lf.dirfd);
	lf.dirfd = dfd;
	lf.owner = owner;
	lf.max = max_bytes;
	snprintf(lf.name, sizeof lf.name, "%s", name);
	snprintf(lf.shown, sizeof lf.shown, "%s/%s", dir, name);
	if (lf_open(e) < 0)
		return -1;
	prog = progname;
	use_syslog = false;
	max_level = level;
	return 0;
}

const char *log_file_path(void)
{
	return lf.fd >= 0 ? lf.shown : NULL;
}

void log_set_file_max(uint64_t max_bytes)
{
	lf.max = max_bytes;
}

int log_reopen(struct err *e)
{
	return lf.fd >= 0 ? lf_open(e) : 0;
}

/* NAME -> NAME.1 once it holds max bytes: the log never takes more than twice that. A failed
 * rotation (the worker acting as a task's user at that moment) goes on appending, and is
 * tried again on the next line. */
static void lf_rotate(void)
{
	char old[sizeof lf.name + 8];
	struct err e;
	snprintf(old, sizeof old, "%s.1", lf.name);
	if (renameat(lf.dirfd, lf.name, lf.dirfd, old) < 0)
		return;
	if (lf_open(&e) < 0) /* keep writing to the renamed file rather than nowhere */
		return;
}

static void lf_write(enum log_level lvl, const char *line)
{
	static const char *tag[] = { "error: ", "warning: ", "", "debug: " };
	char ts[40], out[8300];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S%z", &tm);
	int n = snprintf(out, sizeof out, "%s %s[%d]: %s%s\n", ts, prog, (int)getpid(), tag[lvl], line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof out) {
		n = (int)sizeof out - 1;
		out[n - 1] = '\n';
	}
	if (lf.max && lf.size + (uint64_t)n > lf.max && lf.size > 0)
		lf_rotate();
	if (write(lf.fd, out, (size_t)n) == n)
		lf.size += (uint64_t)n;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *tag[] = { "error: ", "warning: ", "", "debug: " };
	char raw[2048], line[3 * sizeof raw];

	if (lvl > max_level)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	text_clean(line, sizeof line, raw);
	if (tee_errors && lvl <= LOG_LVL_WARN && (use_syslog || lf.fd >= 0))
		fprintf(stderr, "%s: %s%s\n", prog, tag[lvl], line);
	if (use_syslog) {
		syslog(prio[lvl], "%s", line);
		return;
	}
	if (lf.fd >= 0) {
		lf_write(lvl, line);
		return;
	}
	fprintf(stderr, "%s: %s%s\n", prog, tag[lvl], line);
}

#define DEFINE_LOG(name, lvl)                 \
	void name(const char *fmt, ...)       \
	{                                     \
		va_list ap;                   \
		va_start(ap, fmt);            \
		vlog(lvl, fmt, ap);           \
		va_end(ap);                   \
	}
DEFINE_LOG(log_err, LOG_LVL_ERR)
DEFINE_LOG(log_warn, LOG_LVL_WARN)
DEFINE_LOG(log_info, LOG_LVL_INFO)
DEFINE_LOG(log_debug, LOG_LVL_DEBUG)

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}
