/* api_purge.c - remove a finished job's output directory beside the data (spool purge --results).
 *
 * The data's directory may be writable by other users: one could have made spool-JOB/ there
 * first, or put a link in its place. The directory is opened without following its last
 * component, checked to be the submitter's own that no one else may write, and emptied through
 * that descriptor (fs_remove_tree never follows a link); its name is removed last, and only if it
 * still names the directory that was checked.
 */
#include "spool.h"
#include "api_job.h"
#include "fsio.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every entry of the directory fd, each removed below it; how many, or -1 with errno. */
static long empty_dir(int fd)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	long n = 0;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	/* Names first, then removals: removing while reading may skip entries. */
	struct buf names;
	struct dirent *de;
	buf_init(&names);
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		buf_add(&names, de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	int saved = errno;
	closedir(d);
	if (saved) {
		buf_free(&names);
		errno = saved;
		return -1;
	}
	for (size_t at = 0; at < names.len; at += strlen(names.p + at) + 1)
		if (fs_remove_tree(fd, names.p + at) < 0 && errno != ENOENT) {
			saved = errno;
			buf_free(&names);
			errno = saved;
			return -1;
		}
	buf_free(&names);
	return n;
}

int spool_purge_results(const struct spool_job *j, char *err, size_t errlen)
{
	const char *path = j->outdir;
	char want[48];
	snprintf(want, sizeof want, "spool-%s", j->id);
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || slash == path)
		return api_refuse(err, errlen, EINVAL, "job %s has no output directory below / to remove", j->id);
	if (strcmp(slash + 1, want) != 0)
		return api_refuse(err, errlen, EEXIST, "kept %s: it is not a job's own spool-%s (a Python client's results directory, "
			    "or given by an older client) and may hold other files: remove it yourself", path, j->id);
	char *parent = xstrndup(path, (size_t)(slash - path));
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
	long n = -1;
	struct stat st, again;
	if (pfd < 0) {
		api_refuse(err, errlen, errno, "cannot open %s: %s", parent, strerror(errno));
		goto out;
	}
	fd = openat(pfd, want, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		bool link = fstatat(pfd, want, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
		if (link)
			api_refuse(err, errlen, ELOOP, "refused %s: it is a symbolic link (not followed, left in place)", path);
		else if (saved == ENOTDIR)
			api_refuse(err, errlen, ENOTDIR, "refused %s: it is not a directory (left in place)", path);
		else
			api_refuse(err, errlen, saved, "cannot open %s: %s", path, strerror(saved));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		api_refuse(err, errlen, errno, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_uid != (uid_t)j->owner || (st.st_mode & 022)) {
		api_refuse(err, errlen, EPERM, "refused %s: it belongs to uid %u and has mode %04o; only a directory of the "
		     "job's submitter (uid %llu) that no one else may write is removed", path, (unsigned)st.st_uid,
		     (unsigned)(st.st_mode & 07777), (unsigned long long)j->owner);
		goto out;
	}
	if ((n = empty_dir(fd)) < 0) {
		api_refuse(err, errlen, errno, "cannot empty %s: %s", path, strerror(errno));
		goto out;
	}
	/* The name may have been swapped meanwhile (the parent is not ours to trust): remove it only
	 * if it is still the directory emptied. */
	if (fstatat(pfd, want, &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_dev != st.st_dev ||
	    again.st_ino != st.st_ino) {
		n = api_refuse(err, errlen, ESTALE, "emptied %s, but its name now names something else: left in place", path);
		goto out;
	}
	if (unlinkat(pfd, want, AT_REMOVEDIR) < 0)
		n = api_refuse(err, errlen, errno, "emptied %s but cannot remove it: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	free(parent);
	return n < 0 ? -1 : (int)(n > 0x7fffffff ? 0x7fffffff : n);
}
