/* durable.c - LD_PRELOAD shim for tests/e2e/durability.sh: records what a power cut would keep.
 *
 * The model (the strict one of crash-consistency checkers: what is not synced is lost):
 *   - a file's content survives as it was at its last fsync()/fdatasync() (never synced: empty);
 *   - a directory's entries (names -> files) survive as they were at its last fsync();
 *   - syncfs() (and the start-up snapshot below) makes everything under the root durable.
 * After each successful sync of something under SPOOL_DURABLE_ROOT, the shim copies what just
 * became durable into SPOOL_DURABLE_DIR:
 *   f/KEY/SEQ.PID   a file's content (KEY = inode number and birth time: inode numbers are reused)
 *   d/KEY/SEQ.PID   a directory's entries: its path, then one line per entry
 *                   "f|d KEY MODE NAME" (regular files and directories only)
 * SEQ is CLOCK_MONOTONIC in ns taken before the copy: the highest SEQ of a key is its durable
 * state. Each copy is written to a temporary (one per thread) and renamed, so a process killed
 * mid-copy leaves the previous state, as a cut during the fsync would. tests/powercut.py
 * rebuilds the tree.
 * With SPOOL_DURABLE_BASELINE=1 the shim's constructor snapshots the whole root (as if the
 * machine had synced before the test started): `env ... LD_PRELOAD=durable.so true`.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int copy_dir(int fd, const char *path);

static unsigned long long seq_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int key_of(int dirfd, const char *name, int flags, char *key, size_t len, struct statx *sx)
{
	if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME | STATX_TYPE | STATX_MODE, sx) < 0)
		return -1;
	snprintf(key, len, "%llu.%lld.%u", (unsigned long long)sx->stx_ino, (long long)sx->stx_btime.tv_sec,
		 sx->stx_btime.tv_nsec);
	return 0;
}

/* Under the root? (paths from /proc/self/fd are absolute and resolved) */
static int tracked(const char *path)
{
	const char *root = getenv("SPOOL_DURABLE_ROOT");
	size_t n = root ? strlen(root) : 0;
	return n && strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Write DATA as the newest state of KIND/KEY, tmp + rename; drop older states. */
static void store(const char *kind, const char *key, unsigned long long seq, const char *data, size_t len)
{
	const char *dir = getenv("SPOOL_DURABLE_DIR");
	char kdir[PATH_MAX], tmp[PATH_MAX + 64], fin[PATH_MAX + 64];
	if (!dir)
		return;
	snprintf(kdir, sizeof kdir, "%s/%s/%s", dir, kind, key);
	mkdir(kdir, 0700);
	/* per thread, not per process: spoold syncs ctl/jobs/ from its loop and its syncer thread,
	 * and two copies into one temporary made a torn state that powercut.py could not read */
	snprintf(tmp, sizeof tmp, "%s/.tmp.%d.%d", kdir, (int)getpid(), (int)gettid());
	snprintf(fin, sizeof fin, "%s/%020llu.%d", kdir, seq, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w <= 0)
			break;
		data += w;
		len -= (size_t)w;
	}
	close(fd);
	if (rename(tmp, fin) < 0)
		return;
	DIR *d = opendir(kdir); /* keep only the newest: a database is synced hundreds of times */
	struct dirent *de;
	const char *mine = strrchr(fin, '/') + 1;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, mine) < 0) {
			char old[PATH_MAX + 300];
			snprintf(old, sizeof old, "%s/%s", kdir, de->d_name);
			unlink(old);
		}
	if (d)
		closedir(d);
}

static void copy_file(int fd)
{
	char proc[64], key[96];
	struct statx sx;
	unsigned long long seq = seq_now();
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (key_of(fd, "", AT_EMPTY_PATH, key, sizeof key, &sx) < 0)
		return;
	int rfd = open(proc, O_RDONLY | O_CLOEXEC); /* fd itself may be write-only */
	if (rfd < 0)
		return;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len == cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = pread(rfd, buf + len, cap - len, (off_t)len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(rfd);
	store("f", key, seq, buf, len);
	free(buf);
}

static int copy_dir(int fd, const char *path)
{
	char key[96];
	struct statx sx;
	unsigned long long seq = seq_now();
	if (key_of(fd, "", AT_EMPTY_PATH, key, sizeof key, &sx) < 0)
		return -1;
	int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	len = (size_t)snprintf(buf, cap, "%s\n", path);
	struct dirent *de;
	while ((de = readdir(d))) {
		char ekey[96], line[512];
		struct statx ex;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (key_of(dirfd(d), de->d_name, 0, ekey, sizeof ekey, &ex) < 0)
			continue;
		char t = S_ISREG(ex.stx_mode) ? 'f' : S_ISDIR(ex.stx_mode) ? 'd' : 0;
		if (!t)
			continue;
		int n = snprintf(line, sizeof line, "%c %s %o %s\n", t, ekey, ex.stx_mode & 07777, de->d_name);
		while (len + (size_t)n + 1 > cap)
			buf = realloc(buf, cap *= 2);
		memcpy(buf + len, line, (size_t)n);
		len += (size_t)n;
	}
	closedir(d);
	store("d", key, seq, buf, len);
	free(buf);
	return 0;
}

/* Everything under PATH (syncfs, the baseline). */
static void copy_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	copy_dir(fd, path);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			copy_tree(sub);
		} else if (S_ISREG(st.st_mode)) {
			int f = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f >= 0) {
				copy_file(f);
				close(f);
			}
		}
	}
	if (d)
		closedir(d);
}

static void after_sync(int fd)
{
	char proc[64], path[PATH_MAX];
	struct stat st;
	int saved = errno;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, path, sizeof path - 1);
	if (n > 0 && fstat(fd, &st) == 0) {
		path[n] = '\0';
		if (tracked(path)) {
			if (S_ISREG(st.st_mode))
				copy_file(fd);
			else if (S_ISDIR(st.st_mode))
				copy_dir(fd, path);
		}
	}
	errno = saved;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	int rc = real(fd);
	if (rc == 0)
		after_sync(fd);
	return rc;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	int rc = real(fd);
	if (rc == 0)
		after_sync(fd);
	return rc;
}

int syncfs(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	int rc = real(fd), saved = errno;
	const char *root = getenv("SPOOL_DURABLE_ROOT");
	if (rc == 0 && root)
		copy_tree(root);
	errno = saved;
	return rc;
}

__attribute__((constructor)) static void baseline(void)
{
	const char *b = getenv("SPOOL_DURABLE_BASELINE"), *root = getenv("SPOOL_DURABLE_ROOT");
	if (b && !strcmp(b, "1") && root)
		copy_tree(root);
}
