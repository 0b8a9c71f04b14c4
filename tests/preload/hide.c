/* hide.c - LD_PRELOAD shim for tests/e2e/visibility.sh: one process's stale view of a shared
 * directory, as an NFS client's attribute cache gives it.
 *
 * SPOOL_HIDE_CTL names a control file, read at every readdir() call (a few bytes); its lines:
 *   hide NAME MS     readdir() skips NAME and openat()/fstatat() of it fail with ENOENT, from the
 *                    first listing that hides it for MS milliseconds (0: for as long as the line
 *                    is there). A new line (other text) starts a new window.
 *   block NAME       renameat()/rename() onto a name NAME fail with EIO (a done record that
 *                    cannot be written yet: the worker keeps it and retries).
 * SPOOL_HIDE_LOG names a log the shim appends to, one line per event, with CLOCK_BOOTTIME in ms
 * (comparable with /proc/uptime in a task):
 *   hid NAME MS      a listing at MS left NAME out
 *   shown NAME MS    a listing after the window showed NAME again (each one)
 * Only the process that preloads it is affected: the other "nodes" see the directory as it is.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char cur_line[512];  /* the hide line of the current window */
static char hide_name[256]; /* empty: nothing hidden */
static char block_name[256];
static long long hide_ms, first_hid; /* first_hid: 0 until a listing hid the name */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_event(const char *what, const char *name, long long ms)
{
	const char *path = getenv("SPOOL_HIDE_LOG");
	char line[400];
	if (!path)
		return;
	int n = snprintf(line, sizeof line, "%s %s %lld\n", what, name, ms);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) { /* a test log: nothing to do about it */
	}
	close(fd);
}

/* Re-read the control file; a changed hide line starts a new window. */
static void load_ctl(void)
{
	const char *path = getenv("SPOOL_HIDE_CTL");
	char buf[1024], hline[512] = "";
	ssize_t n = 0;
	block_name[0] = '\0';
	if (path) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof buf - 1);
			close(fd);
		}
	}
	buf[n > 0 ? n : 0] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[256];
		long long ms;
		if (sscanf(l, "hide %255s %lld", name, &ms) == 2)
			snprintf(hline, sizeof hline, "%s", l);
		else if (sscanf(l, "block %255s", name) == 1)
			snprintf(block_name, sizeof block_name, "%s", name);
	}
	if (strcmp(hline, cur_line) == 0)
		return;
	snprintf(cur_line, sizeof cur_line, "%s", hline);
	hide_name[0] = '\0';
	first_hid = 0;
	if (hline[0])
		sscanf(hline, "hide %255s %lld", hide_name, &hide_ms);
}

/* Is NAME hidden now? Starts the window at the first listing that asks. */
static int hidden(const char *name, int listing)
{
	if (!hide_name[0] || strcmp(name, hide_name) != 0)
		return 0;
	long long t = now_ms();
	if (first_hid && hide_ms > 0 && t - first_hid >= hide_ms) {
		if (listing)
			log_event("shown", name, t);
		return 0;
	}
	if (listing) {
		if (!first_hid)
			first_hid = t;
		log_event("hid", name, t);
	}
	return 1;
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

struct dirent *readdir(DIR *d)
{
	static struct dirent *(*real)(DIR *);
	struct dirent *de;
	if (!real)
		real = (struct dirent * (*)(DIR *)) dlsym(RTLD_NEXT, "readdir");
	load_ctl();
	while ((de = real(d)) && hidden(de->d_name, 1))
		;
	return de;
}

struct dirent64 *readdir64(DIR *d)
{
	static struct dirent64 *(*real)(DIR *);
	struct dirent64 *de;
	if (!real)
		real = (struct dirent64 * (*)(DIR *)) dlsym(RTLD_NEXT, "readdir64");
	load_ctl();
	while ((de = real(d)) && hidden(de->d_name, 1))
		;
	return de;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (hidden(base(path), 0))
		return errno = ENOENT, -1;
	return real(dirfd, path, flags, mode);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	static int (*real)(int, const char *, struct stat *, int);
	if (!real)
		real = (int (*)(int, const char *, struct stat *, int))dlsym(RTLD_NEXT, "fstatat");
	if (path[0] && hidden(base(path), 0))
		return errno = ENOENT, -1;
	return real(dirfd, path, st, flags);
}

static int blocked(const char *newpath)
{
	load_ctl();
	return block_name[0] && strcmp(base(newpath), block_name) == 0;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	static int (*real)(int, const char *, int, const char *);
	if (!real)
		real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
	if (blocked(newpath))
		return errno = EIO, -1;
	return real(olddirfd, oldpath, newdirfd, newpath);
}

int rename(const char *oldpath, const char *newpath)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (blocked(newpath))
		return errno = EIO, -1;
	return real(oldpath, newpath);
}
