/* outdir.c - a job's output directory beside the data, verified before anything goes there.
 *
 * The data's directory may be writable by other users (a group project directory, /tmp). Such a
 * user could create spool-JOB/ first and plant files in it, or swap it for a symbolic link while
 * a task runs. So the worker, acting as the task's user, opens the output directory without
 * following a link, checks that it is a directory of that user that no one else may write, and
 * from then on creates every file relative to that descriptor, exclusively, O_NOFOLLOW. What a
 * task leaves for the worker ($SPOOL_VARS) is opened relative to that descriptor too, without
 * following a link or waiting on a FIFO, and read only if it is a regular file of the task's
 * user with one link (outdir_vars_open).
 */
#include "outdir.h"
#include "fsio.h"
#include "util.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *owner_name(uid_t uid, char *buf, size_t sz)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, sz, "%s, uid %u", pw->pw_name, (unsigned)uid);
	else
		snprintf(buf, sz, "uid %u", (unsigned)uid);
	return buf;
}

/* The parent of the output directory, created (as the user) if it is missing: it is the user's
 * own path (their working directory, or the --output they gave), so links in it are followed. */
static int open_parent(const char *parent, char *why, size_t whysz)
{
	struct err er;
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (fs_mkdir_p(parent, 0755, &er) < 0) {
			snprintf(why, whysz, "cannot create the output directory's parent: %.800s", er.msg);
			return -1;
		}
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		snprintf(why, whysz, "cannot open %.800s: %s", parent, strerror(errno));
	return fd;
}

int outdir_open(const char *path, char *why, size_t whysz)
{
	char *parent = xstrdup(path);
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	if (!slash || !slash[1]) {
		snprintf(why, whysz, "output directory '%.800s' is not an absolute path of a directory", path);
		free(parent);
		return -1;
	}
	char *base = xstrdup(slash + 1);
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';

	int fd = -1, pfd = open_parent(parent, why, whysz);
	if (pfd < 0)
		goto out;
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* 0755 less the submitter's umask (the worker acts with it): never group- or
		 * other-writable, whatever the umask, or the check below would refuse it. */
		if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST) {
			snprintf(why, whysz, "cannot create output directory %.800s: %s", path, strerror(errno));
			goto out;
		}
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	struct stat st;
	if (fd < 0) {
		int saved = errno;
		bool link = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
		snprintf(why, whysz, "output directory %.800s %s: refused (remove it, or give another with --output)",
			 path, link ? "is a symbolic link" : saved == ENOTDIR ? "is not a directory" : strerror(saved));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(why, whysz, "cannot stat output directory %.800s: %s", path, strerror(errno));
	} else if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		char who[96];
		snprintf(why, whysz, "output directory %.800s belongs to %s and has mode %04o: refused, results are "
			 "written only into a directory of the submitter's that no one else may write (remove it, "
			 "or give another with --output)", path, owner_name(st.st_uid, who, sizeof who),
			 (unsigned)(st.st_mode & 07777));
	} else {
		goto out; /* verified */
	}
	close(fd);
	fd = -1;
out:
	if (pfd >= 0)
		close(pfd);
	free(parent);
	free(base);
	return fd;
}

/* A task's output file in the verified directory: created new (O_EXCL); one already there (a
 * reused --output directory, an earlier attempt) is replaced only if it is a plain file with
 * one link that belongs to the acting user. Never through a symlink, never a FIFO or device.
 * Runs in the task's child too: only async-signal-safe calls. Returns an fd, or -1 with errno
 * (ELOOP, EMLINK, EPERM, EINVAL: refused). */
/* 0 when fd is a regular file with one link that belongs to uid (st receives its fstat), else
 * why not, as an errno value (EINVAL, EMLINK, EPERM: refused; see outdir_why). Async-signal-safe. */
static int plain_file_of(int fd, uid_t uid, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return errno;
	if (!S_ISREG(st->st_mode))
		return EINVAL;
	if (st->st_nlink != 1)
		return EMLINK;
	return st->st_uid == uid ? 0 : EPERM;
}

int outdir_create(int dirfd, const char *name, mode_t mode)
{
	struct stat st;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0 || errno != EEXIST)
		return fd;
	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int err = plain_file_of(fd, geteuid(), &st);
	if (!err && ftruncate(fd, 0) < 0)
		err = errno;
	if (err) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

const char *outdir_why(int err)
{
	switch (err) {
	case ELOOP: return "it is a symbolic link (refused, not followed)";
	case EMLINK: return "it has another hard link (refused)";
	case EINVAL: return "it is not a regular file (refused)";
	case EPERM: return "it belongs to another user (refused)";
	default: return strerror(err);
	}
}

/* The task's $SPOOL_VARS, before the task: whatever is there by that name (left by an earlier
 * run of the same attempt) is removed. The task creates the file itself if it sets anything, so
 * a task that sets nothing costs no file (a file created is the dearest step of a short task
 * on some filesystems). */
int outdir_vars_clear(int dirfd, const char *name)
{
	return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
}

/* ... and after it: opened relative to the verified directory, not following a link, not
 * waiting on a FIFO; used only if it is a regular file with one link that belongs to the task's
 * user (uid). The directory is that user's and no one else may write it (outdir_open), so only
 * the task (or root) can have put the file there; the owner and link checks keep a hard link to
 * someone else's file from being read through the worker. st receives its fstat. -1 with
 * errno: ENOENT when the task set nothing, else why it was refused (outdir_why). */
int outdir_vars_open(int dirfd, const char *name, uid_t uid, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	int err = plain_file_of(fd, uid, st);
	if (err) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}
