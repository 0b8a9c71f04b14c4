/* fsio.c - tmp + fsync + rename writes and O_NOFOLLOW bounded reads. */
#include "fsio.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int fs_write_fd(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fs_read_fd(int fd, void *data, size_t len)
{
	char *p = data;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* A descriptor opened O_PATH serves openat and renameat, but not fsync. */
static bool path_only(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_PATH);
}

int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags,
		    struct err *e)
{
	return fs_write_atomic_owned(dirfd, name, data, len, mode, (uid_t)-1, flags, e);
}

int fs_write_atomic_owned(int dirfd, const char *name, const void *data, size_t len, mode_t mode, uid_t owner,
			  unsigned flags, struct err *e)
{
	char tmp[300];
	unsigned rnd = 0;
	int fd, keep = -1;

	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) < 0)
		rnd = (unsigned)mono_ms();
	if (snprintf(tmp, sizeof tmp, ".tmp.%s.%d.%08x", name, (int)getpid(), rnd) >= (int)sizeof tmp)
		return err_set(e, "file name too long: %s", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(e, "cannot create temporary file for %s", name);
	/* The mode is exact, whatever the umask: readers on other accounts depend on it. */
	if (fchmod(fd, mode) < 0) {
		err_sys(e, "cannot set mode %04o on %s", (unsigned)mode, name);
		goto fail;
	}
	if (owner != (uid_t)-1 && fchown(fd, owner, (gid_t)-1) < 0) {
		err_sys(e, "cannot give %s to uid %u", name, (unsigned)owner);
		goto fail;
	}
	if (fs_write_fd(fd, data, len) < 0) {
		err_sys(e, "cannot write %s", name);
		goto fail;
	}
	bool sync_after = (flags & FSW_VISIBLE_FIRST) && !(flags & FSW_NOSYNC);
	bool dir_sync = !(flags & (FSW_NOSYNC | FSW_NODIRSYNC));
	bool by_syncfs = dir_sync && path_only(dirfd);
	if (!(flags & FSW_NOSYNC) && !sync_after && fsync(fd) < 0) {
		err_sys(e, "cannot fsync %s", name);
		goto fail;
	}
	/* A directory we may write but not read (a shared spool's incoming/, opened O_PATH) cannot
	 * be fsync'd: keep a descriptor of the file, to commit its filesystem after the rename. Not
	 * reopened by name then: the controller may already have taken the record away. */
	if ((sync_after || by_syncfs) && (keep = dup(fd)) < 0) {
		err_sys(e, "cannot write %s (dup)", name);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(e, "cannot write %s (close)", name);
		goto fail;
	}
	fd = -1;
	/* From the rename until the file is synced, a reader may hold a file that is not on disk:
	 * the signals a user sends (^C) wait until it is (SIGKILL cannot: spoold syncs the records
	 * it takes, spool-layout.md 7). */
	sigset_t all, old;
	sigfillset(&all);
	if (sync_after)
		pthread_sigmask(SIG_BLOCK, &all, &old);
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int rename_errno = errno;
		if (sync_after)
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		errno = rename_errno;
		err_sys(e, "cannot rename temporary file into place as %s", name);
		goto fail;
	}
	if (keep < 0) {
		if (dir_sync && fsync(dirfd) < 0) {
			err_sys(e, "%s is in place but not on disk (fsync of its directory failed)", name);
			return FSW_IN_PLACE;
		}
		return 0;
	}
	const char *what = "fsync";
	int rc = sync_after ? fsync(keep) : 0;
	if (rc == 0 && dir_sync) {
		what = by_syncfs ? "syncfs" : "fsync of its directory";
		rc = by_syncfs ? syncfs(keep) : fsync(dirfd);
	}
	int sync_errno = errno;
	close(keep);
	if (sync_after)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = sync_errno;
	if (rc < 0) {
		err_sys(e, "%s is in place but not on disk (%s failed)", name, what);
		return FSW_IN_PLACE;
	}
	return 0;
fail:;
	int saved = errno; /* callers tell EPERM, ENOSPC... apart */
	if (fd >= 0)
		close(fd);
	if (keep >= 0)
		close(keep);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int fs_write_new(int dirfd, const char *name, const void *data, size_t len, mode_t mode, struct err *e)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST)
		return fs_write_atomic(dirfd, name, data, len, mode, FSW_NOSYNC, e);
	if (fd < 0)
		return err_sys(e, "cannot create %s", name);
	int rc = fs_write_fd(fd, data, len), saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0) {
		err_set(e, "cannot write %s: %s", name, strerror(saved));
		unlinkat(dirfd, name, 0); /* nothing half-written stays */
		errno = saved;
	}
	return rc;
}

int fs_read_file(int dirfd, const char *name, size_t max, struct buf *out, struct stat *st, struct err *e)
{
	struct stat sb;
	int fd, saved;

	buf_reset(out);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			return err_set(e, "%s is a symbolic link: refused", name), errno = ELOOP, -1;
		return err_sys(e, "cannot open %s", name);
	}
	if (fstat(fd, &sb) < 0) {
		err_sys(e, "cannot stat %s", name);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(e, "%s is not a regular file: refused", name);
		errno = EINVAL;
		goto fail;
	}
	/* More than one link: someone may have linked a file we must not read (or clobber). Zero
	 * links is fine: another node replaced the file after we opened it, and we read the old
	 * version whole, as on NFS. */
	if (sb.st_nlink > 1) {
		err_set(e, "%s has %lu hard links (expected 1): refused", name, (unsigned long)sb.st_nlink);
		errno = EMLINK;
		goto fail;
	}
	if ((size_t)sb.st_size > max) {
		err_set(e, "%s is %lld bytes, limit %zu: refused", name, (long long)sb.st_size, max);
		errno = EFBIG;
		goto fail;
	}
	/* Read to EOF rather than trusting st_size, but never past the bound. */
	for (;;) {
		ssize_t r;
		buf_grow(out, 65536);
		r = read(fd, out->p + out->len, out->cap - out->len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err_sys(e, "cannot read %s", name);
			goto fail;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		out->p[out->len] = '\0';
		if (out->len > max) {
			err_set(e, "%s grew past the limit of %zu bytes: refused", name, max);
			errno = EFBIG;
			goto fail;
		}
	}
	if (!out->p)
		buf_grow(out, 1);
	if (st)
		*st = sb;
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int fs_read_u64(int dirfd, const char *name, uint64_t *v)
{
	struct buf b;
	int rc = -1;
	buf_init(&b);
	if (fs_read_file(dirfd, name, 64, &b, NULL, NULL) == 0) {
		b.p[strcspn(b.p, "\n")] = '\0';
		rc = parse_u64(b.p, INT64_MAX, v);
	}
	buf_free(&b);
	return rc;
}

int fs_fsync_dir(int dirfd, struct err *e)
{
	if (fsync(dirfd) < 0)
		return err_sys(e, "cannot fsync directory");
	return 0;
}

int fs_open_dir(int dirfd, const char *name, struct err *e)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, "cannot open directory %s", name);
	return fd;
}

int fs_mkdir(int dirfd, const char *name, mode_t mode, struct err *e)
{
	struct stat sb;
	if (mkdirat(dirfd, name, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return err_sys(e, "cannot create directory %s", name);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(e, "cannot stat %s", name);
	if (!S_ISDIR(sb.st_mode))
		return err_set(e, "%s exists and is not a directory", name);
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char *p;
	int rc = 0;
	struct stat sb;
	if (!*path)
		return err_set(e, "cannot create directory: empty path");
	p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = err_sys(e, "cannot create directory %s", p);
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	if (rc == 0 && stat(path, &sb) < 0)
		rc = err_sys(e, "cannot stat %s", path);
	else if (rc == 0 && !S_ISDIR(sb.st_mode))
		rc = err_set(e, "%s exists and is not a directory", path);
	free(p);
	return rc;
}

bool fs_skip_name(const char *name)
{
	return name[0] == '.';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

long fs_list(int dirfd, char ***names, struct err *e)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	size_t n = 0, cap = 16;
	char **v;

	*names = NULL;
	if (fd < 0)
		return err_sys(e, "cannot open directory");
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(e, "cannot read directory");
	}
	v = xmalloc(cap * sizeof *v);
	for (;;) {
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (fs_skip_name(de->d_name))
			continue;
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = xstrdup(de->d_name);
	}
	if (errno) {
		int saved = errno;
		closedir(d);
		fs_list_free(v, (long)n);
		errno = saved;
		return err_sys(e, "cannot read directory");
	}
	closedir(d);
	qsort(v, n, sizeof *v, cmp_str);
	*names = v;
	return (long)n;
}

void fs_list_free(char **names, long n)
{
	for (long i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

bool fs_noted_add(struct fs_noted *l, const char *name)
{
	if (fs_skip_name(name))
		return true;
	if (l->n == FS_NOTED_MAX)
		return false;
	if (!l->v)
		l->v = xcalloc(FS_NOTED_MAX, sizeof *l->v);
	l->v[l->n++] = xstrdup(name);
	return true;
}

long fs_noted_take(struct fs_noted *l, char ***names)
{
	long n = (long)l->n;
	if (n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
	*names = l->v;
	l->v = NULL;
	l->n = 0;
	return n;
}

void fs_noted_clear(struct fs_noted *l)
{
	fs_list_free(l->v, (long)l->n);
	l->v = NULL;
	l->n = 0;
}

/* The directories between the top of a tree and the one being emptied: their identities (to
 * check that ".." leads back where we came from) and the names to remove on the way up. */
struct tree_path {
	dev_t *dev;
	ino_t *ino;
	size_t *name_at; /* offsets into names */
	struct buf names;
	size_t n, cap;
};

static int path_push(struct tree_path *p, int fd, const char *name)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->dev = xrealloc(p->dev, p->cap * sizeof *p->dev);
		p->ino = xrealloc(p->ino, p->cap * sizeof *p->ino);
		p->name_at = xrealloc(p->name_at, p->cap * sizeof *p->name_at);
	}
	p->dev[p->n] = st.st_dev;
	p->ino[p->n] = st.st_ino;
	p->name_at[p->n] = p->names.len;
	buf_add(&p->names, name, strlen(name) + 1);
	p->n++;
	return 0;
}

/* Empty the directory cur of everything but one non-empty subdirectory, which it opens and
 * returns in *child (with its name pushed on p). Returns 0 (empty, or *child set), 1 when the
 * budget ran out, -1 on error. */
static int empty_dir(int cur, struct tree_path *p, int *child, size_t *removed, size_t budget)
{
	int dfd = dup(cur);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int rc = 0;
	*child = -1;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (budget && *removed >= budget) {
			rc = 1;
			break;
		}
		if (unlinkat(cur, de->d_name, 0) == 0 || errno == ENOENT) {
			++*removed;
			continue;
		}
		if (errno != EISDIR && errno != EPERM) {
			rc = -1;
			break;
		}
		if (unlinkat(cur, de->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			++*removed;
			continue;
		}
		if (errno != ENOTEMPTY && errno != EEXIST) {
			rc = -1;
			break;
		}
		*child = openat(cur, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*child < 0 || path_push(p, cur, de->d_name) < 0) {
			if (*child >= 0)
				close(*child);
			*child = -1;
			rc = -1;
		}
		break;
	}
	closedir(d);
	return rc;
}

int fs_remove_tree_some(int dirfd, const char *name, size_t budget)
{
	struct tree_path p = { 0 };
	size_t removed = 0;
	int cur = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	if (cur < 0)
		return errno == ENOTDIR || errno == ELOOP ? unlinkat(dirfd, name, 0) : -1;
	buf_init(&p.names);
	for (;;) {
		int child, r = empty_dir(cur, &p, &child, &removed, budget);
		if (r != 0) {
			rc = r;
			break;
		}
		if (child >= 0) { /* go down: only two descriptors open at any depth */
			close(cur);
			cur = child;
			continue;
		}
		if (p.n == 0) { /* the top is empty */
			rc = unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
			break;
		}
		/* Back up through "..", which must be the directory we came down from: a subtree
		 * moved elsewhere meanwhile must not lead us out of the tree. */
		struct stat st;
		int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		p.n--;
		if (up < 0 || fstat(up, &st) < 0 || st.st_dev != p.dev[p.n] || st.st_ino != p.ino[p.n]) {
			if (up >= 0)
				close(up);
			errno = ESTALE;
			break;
		}
		close(cur);
		cur = up;
		if (unlinkat(cur, p.names.p + p.name_at[p.n], AT_REMOVEDIR) < 0 && errno != ENOENT)
			break;
		removed++;
		p.names.len = p.name_at[p.n];
		if (budget && removed >= budget) {
			rc = 1;
			break;
		}
	}
	int saved = errno;
	close(cur);
	free(p.dev);
	free(p.ino);
	free(p.name_at);
	buf_free(&p.names);
	errno = saved;
	return rc;
}

int fs_remove_tree(int dirfd, const char *name)
{
	return fs_remove_tree_some(dirfd, name, 0);
}
