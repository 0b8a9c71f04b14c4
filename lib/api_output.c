/* api_output.c - read a task's files beside the data, trusting only its submitter's.
 *
 * The data's directory may be writable by other users, who could plant a spool-JOB/ of their
 * own, swap it for a link, or replace a .out or .res. A file is read only if it is a regular
 * file owned by the job's submitter (or root), reached through an output directory that is not
 * a symbolic link and belongs to one of them too; anything else is refused with a reason that
 * names the file, so `spool collect` never prints what another user wrote.
 */
#include "spool.h"
#include "api_job.h"
#include "rec.h"
#include "schema.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int trusted(const struct spool_job *j, uid_t uid)
{
	return uid == (uid_t)j->owner || uid == 0;
}

int api_refuse(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = errnum;
	return -1;
}

/* The output directory: its parent is the submitter's own path; its last component must not be
 * a link and must belong to the submitter (or root). */
static int open_outdir(const struct spool_job *j, const char *path, char *err, size_t errlen)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int pfd = -1, fd = -1;
	struct stat st;
	if (!slash || slash == dir) {
		api_refuse(err, errlen, EINVAL, "its output directory %s is not a directory below /", path);
		goto out;
	}
	*slash = '\0';
	pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		api_refuse(err, errlen, errno, "cannot open %s: %s", dir, strerror(errno));
		goto out;
	}
	fd = openat(pfd, slash + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		bool link = fstatat(pfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
		api_refuse(err, errlen, saved, link ? "its output directory %s is a symbolic link (not followed)"
						: "cannot open its output directory %s: %s",
		       path, strerror(saved));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		api_refuse(err, errlen, errno, "cannot stat its output directory %s: %s", path, strerror(errno));
	} else if (!trusted(j, st.st_uid)) {
		api_refuse(err, errlen, EPERM, "its output directory %s belongs to uid %u, not to the job's submitter (uid %llu)",
		       path, (unsigned)st.st_uid, (unsigned long long)j->owner);
	} else {
		goto out;
	}
	close(fd);
	fd = -1;
out:
	if (pfd >= 0)
		close(pfd);
	free(dir);
	return fd;
}

int spool_task_open(const struct spool_job *j, const struct spool_task *t, enum spool_output which, char *err,
		    size_t errlen)
{
	const char *path = which == SPOOL_OUT_STDOUT ? t->stdout_path
			 : which == SPOOL_OUT_STDERR ? t->stderr_path
						     : t->result_path;
	char *value = NULL;
	if (path && which == SPOOL_OUT_VALUE) /* TASK.ATTEMPT.ret beside TASK.ATTEMPT.res */
		path = value = xasprintf("%.*s.ret", (int)(strlen(path) - 4), path);
	if (!path)
		return api_refuse(err, errlen, ENOENT, "task %s.%llu never ran: it has no output", j->id,
			      (unsigned long long)t->task);
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	*slash = '\0';
	char why[1024];
	int dfd = open_outdir(j, dir, why, sizeof why), fd = -1;
	struct stat st;
	if (dfd < 0) {
		api_refuse(err, errlen, errno, "%s %s: %s", errno == ENOENT ? "cannot read" : "refused", path, why);
		goto out;
	}
	/* Non-blocking, so a FIFO planted under the name cannot hang the reader. */
	fd = openat(dfd, slash + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		api_refuse(err, errlen, saved, saved == ELOOP ? "refused %s: it is a symbolic link (not followed)"
							  : "cannot open %s: %s",
		       path, strerror(saved));
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		api_refuse(err, errlen, EINVAL, "refused %s: it is not a regular file", path);
	} else if (!trusted(j, st.st_uid)) {
		api_refuse(err, errlen, EPERM, "refused %s: it belongs to uid %u, not to the job's submitter (uid %llu)", path,
		       (unsigned)st.st_uid, (unsigned long long)j->owner);
	} else if (which == SPOOL_OUT_VALUE && (st.st_mode & 022)) {
		/* A value is unpickled, that is run: no one but its writer may have changed it. */
		api_refuse(err, errlen, EPERM, "refused %s: others may write it (mode %04o)", path,
		       (unsigned)(st.st_mode & 07777));
	} else {
		fcntl(fd, F_SETFL, 0);
		goto out;
	}
	if (fd >= 0)
		close(fd);
	fd = -1;
out:
	if (dfd >= 0)
		close(dfd);
	free(dir);
	free(value);
	return fd;
}

/* A result record is small (the done schema); read at most that much and one byte more. */
int spool_task_usage(const struct spool_job *j, const struct spool_task *t, struct spool_usage *u, char *err,
		     size_t errlen)
{
	struct buf b;
	struct rec r;
	struct err e;
	ssize_t n = 0;
	int fd = spool_task_open(j, t, SPOOL_OUT_RESULT, err, errlen), rc = -1;
	if (fd < 0)
		return -1;
	buf_init(&b);
	buf_grow(&b, MAX_SMALL_RECORD + 1);
	while (b.len <= MAX_SMALL_RECORD && (n = read(fd, b.p + b.len, MAX_SMALL_RECORD + 1 - b.len)) > 0)
		b.len += (size_t)n;
	b.p[b.len] = '\0';
	close(fd);
	if (n < 0) {
		api_refuse(err, errlen, errno, "cannot read %s: %s", t->result_path, strerror(errno));
	} else if (rec_parse(&r, b.p, b.len, &schema_done, &e) < 0) {
		api_refuse(err, errlen, EBADMSG, "%s is not a task result: %s", t->result_path, e.msg);
	} else {
		int64_t *f[] = { &u->start_ms, &u->end_ms, &u->user_ms, &u->sys_ms, &u->maxrss_kb };
		static const char *keys[] = { "start_ms", "end_ms", "user_ms", "sys_ms", "maxrss_kb" };
		for (size_t i = 0; i < ARRAY_LEN(keys); i++)
			*f[i] = rec_get(&r, keys[i]) ? (int64_t)rec_get_u64(&r, keys[i], 0) : -1;
		rec_free(&r);
		rc = 0;
	}
	buf_free(&b);
	return rc;
}
