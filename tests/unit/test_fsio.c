/* test_fsio.c - atomic writes, careful bounded reads, listing, mkdir and tree removal. */
#include "fsio.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int dfd = -1;

/* fsync and syncfs of the library go through these (linked with --wrap, GNUmakefile): the
 * n-th call from now fails with EIO when fail_sync_at is n (0: none fails). */
static int fail_sync_at, sync_calls;
int __real_fsync(int fd);
int __real_syncfs(int fd);
static bool sync_fails(void)
{
	if (fail_sync_at && ++sync_calls == fail_sync_at) {
		errno = EIO;
		return true;
	}
	return false;
}
int __wrap_fsync(int fd)
{
	return sync_fails() ? -1 : __real_fsync(fd);
}
int __wrap_syncfs(int fd)
{
	return sync_fails() ? -1 : __real_syncfs(fd);
}
static void fail_sync(int n)
{
	fail_sync_at = n;
	sync_calls = 0;
}

/* The lowest descriptor free now: the same before and after a call that leaks none. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd;
}

/* True when the directory holds no ".tmp." leftovers (fs_list would hide them). */
static bool no_tmp_files(int fd)
{
	bool clean = true;
	DIR *d = fdopendir(openat(fd, ".", O_RDONLY | O_DIRECTORY));
	struct dirent *de;
	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".tmp.", 5) == 0)
			clean = false;
	closedir(d);
	return clean;
}

static bool exists(int fd, const char *name)
{
	struct stat st;
	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_write_read(void)
{
	static const char data[] = "hello\0world\n";
	struct buf b;
	struct stat st;
	struct err e = { "" };
	char *big = xmalloc(200000);

	buf_init(&b);
	CHECK(fs_write_atomic(dfd, "a", data, sizeof data, 0640, 0, &e) == 0, "fs_write_atomic succeeds");
	CHECK(fs_read_file(dfd, "a", 1024, &b, &st, &e) == 0, "fs_read_file succeeds");
	CHECK(b.len == sizeof data && memcmp(b.p, data, sizeof data) == 0, "round trip keeps bytes and NULs");
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0640 && st.st_size == (off_t)sizeof data,
	      "stat returned, mode as asked");
	CHECK(no_tmp_files(dfd), "no .tmp. leftovers after success");

	CHECK(fs_write_atomic(dfd, "a", "new", 3, 0644, FSW_NOSYNC, &e) == 0 &&
		      fs_read_file(dfd, "a", 1024, &b, NULL, &e) == 0 && b.len == 3 && strcmp(b.p, "new") == 0,
	      "rewrite replaces content (FSW_NOSYNC)");
	CHECK(fs_write_atomic(dfd, "empty", "", 0, 0644, FSW_NODIRSYNC, &e) == 0 &&
		      fs_read_file(dfd, "empty", 10, &b, NULL, &e) == 0 && b.len == 0 && b.p && b.p[0] == '\0',
	      "empty file round trip");
	for (size_t i = 0; i < 200000; i++)
		big[i] = (char)('a' + i % 26);
	CHECK(fs_write_atomic(dfd, "big", big, 200000, 0644, 0, &e) == 0 &&
		      fs_read_file(dfd, "big", 200000, &b, NULL, &e) == 0 && b.len == 200000 &&
		      memcmp(b.p, big, 200000) == 0,
	      "200000-byte file round trip at exactly the bound");
	free(big);

	/* Visible first, then synced: the same whole file, through a directory descriptor or a
	 * path-only one (synced by syncfs then), and no temporary left. */
	CHECK(fs_write_atomic(dfd, "vf", "early", 5, 0640, FSW_VISIBLE_FIRST, &e) == 0 &&
		      fs_read_file(dfd, "vf", 100, &b, &st, &e) == 0 && b.len == 5 && memcmp(b.p, "early", 5) == 0 &&
		      (st.st_mode & 0777) == 0640,
	      "FSW_VISIBLE_FIRST: whole file in place, exact mode");
	int pdir = openat(dfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(pdir >= 0 && fs_write_atomic(pdir, "vp", "path", 4, 0640, FSW_VISIBLE_FIRST, &e) == 0 &&
		      fs_read_file(dfd, "vp", 100, &b, NULL, &e) == 0 && b.len == 4,
	      "FSW_VISIBLE_FIRST through a path-only directory descriptor");
	if (pdir >= 0)
		close(pdir);
	mkdirat(dfd, "vdir", 0755);
	CHECK(fs_write_atomic(dfd, "vdir", "x", 1, 0644, FSW_VISIBLE_FIRST, &e) == -1 &&
		      unit_has(e.msg, "cannot rename temporary file into place as vdir"),
	      "FSW_VISIBLE_FIRST: a failed rename is -1 (nothing in place), not FSW_IN_PLACE");
	CHECK(no_tmp_files(dfd), "no .tmp. leftovers after FSW_VISIBLE_FIRST");

	/* A sync that fails after the rename: FSW_IN_PLACE (the file is there, a reader may hold
	 * it), errno kept, no descriptor left open; one that fails before it: -1, nothing there. */
	struct {
		const char *name;
		unsigned flags;
		int fail, pathdir, want;
		const char *what;
	} sc[] = {
		{ "s1", FSW_VISIBLE_FIRST, 1, 0, FSW_IN_PLACE, "visible first, the record's fsync fails" },
		{ "s2", FSW_VISIBLE_FIRST, 2, 0, FSW_IN_PLACE, "visible first, the directory's fsync fails" },
		{ "s3", FSW_VISIBLE_FIRST, 2, 1, FSW_IN_PLACE, "visible first, syncfs fails (path-only directory)" },
		{ "s4", 0, 1, 0, -1, "synced first, the record's fsync fails" },
		{ "s5", 0, 2, 0, FSW_IN_PLACE, "synced first, the directory's fsync fails" },
		{ "s6", 0, 2, 1, FSW_IN_PLACE, "synced first, syncfs fails (path-only directory)" },
	};
	for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
		int d = sc[i].pathdir ? openat(dfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC) : dfd;
		int low = lowest_free_fd();
		fail_sync(sc[i].fail);
		int rc = fs_write_atomic(d, sc[i].name, "abc", 3, 0644, sc[i].flags, &e);
		int err = errno;
		fail_sync(0);
		bool there = fs_read_file(dfd, sc[i].name, 100, &b, NULL, &e) == 0 && b.len == 3;
		CHECK(rc == sc[i].want && err == EIO && there == (sc[i].want == FSW_IN_PLACE) &&
			      lowest_free_fd() == low && no_tmp_files(dfd),
		      sc[i].what);
		if (d != dfd)
			close(d);
	}
	CHECK(fs_write_atomic(dfd, "s7", "abc", 3, 0644, FSW_VISIBLE_FIRST, &e) == 0 && exists(dfd, "s7"),
	      "with no failure made, the wrapped syncs pass through");

	/* A failed rename (onto a directory) must not leave the temporary behind. */
	mkdirat(dfd, "adir", 0755);
	CHECK(fs_write_atomic(dfd, "adir", "x", 1, 0644, 0, &e) == -1 &&
		      unit_has(e.msg, "cannot rename temporary file into place as adir"),
	      "write over a directory fails with a message");
	CHECK(no_tmp_files(dfd), "no .tmp. leftovers after failure");
	char longname[300];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(fs_write_atomic(dfd, longname, "x", 1, 0644, 0, &e) == -1 && unit_has(e.msg, "file name too long"),
	      "over-long name refused");
	buf_free(&b);
}

static void test_read_refusals(void)
{
	struct buf b;
	struct err e = { "" };
	int rc;

	buf_init(&b);
	fs_write_atomic(dfd, "f", "0123456789X", 11, 0644, 0, &e);

	symlinkat("f", dfd, "link");
	rc = fs_read_file(dfd, "link", 1024, &b, NULL, &e);
	CHECK(rc == -1 && errno == ELOOP && unit_has(e.msg, "link is a symbolic link: refused"),
	      "symlink refused with ELOOP");

	linkat(dfd, "f", dfd, "hard", 0);
	rc = fs_read_file(dfd, "f", 1024, &b, NULL, &e);
	CHECK(rc == -1 && errno == EMLINK && unit_has(e.msg, "f has 2 hard links (expected 1): refused"),
	      "hard-linked file (nlink 2) refused");
	unlinkat(dfd, "hard", 0);
	CHECK(fs_read_file(dfd, "f", 1024, &b, NULL, &e) == 0 && b.len == 11, "readable again with one link");

	rc = fs_read_file(dfd, "adir", 1024, &b, NULL, &e);
	CHECK(rc == -1 && errno == EINVAL && unit_has(e.msg, "adir is not a regular file: refused"),
	      "directory refused");
	mkfifoat(dfd, "fifo", 0600);
	rc = fs_read_file(dfd, "fifo", 1024, &b, NULL, &e);
	CHECK(rc == -1 && unit_has(e.msg, "fifo is not a regular file"), "FIFO refused without blocking");

	rc = fs_read_file(dfd, "f", 10, &b, NULL, &e);
	CHECK(rc == -1 && errno == EFBIG && unit_has(e.msg, "f is 11 bytes, limit 10: refused"),
	      "file over the max bound refused");
	CHECK(fs_read_file(dfd, "f", 11, &b, NULL, &e) == 0 && strcmp(b.p, "0123456789X") == 0,
	      "file at the max bound accepted");

	rc = fs_read_file(dfd, "absent", 1024, &b, NULL, &e);
	CHECK(rc == -1 && errno == ENOENT && unit_has(e.msg, "cannot open absent: No such file or directory"),
	      "absent file gives ENOENT");
	buf_free(&b);
}

/* fs_noted: the names inotify reported, handed over sorted as a listing; bounded. */
static void test_noted(void)
{
	struct fs_noted l = { 0 };
	char **names, name[32];
	CHECK(fs_noted_add(&l, "b.job") && fs_noted_add(&l, "a.job") && fs_noted_add(&l, ".tmp.x") && l.n == 2,
	      "fs_noted: names kept, a dot name left out");
	long n = fs_noted_take(&l, &names);
	CHECK(n == 2 && strcmp(names[0], "a.job") == 0 && strcmp(names[1], "b.job") == 0 && l.n == 0 && !l.v,
	      "fs_noted: taken sorted, and the list is empty after");
	fs_list_free(names, n);
	bool all = true;
	for (int i = 0; i < FS_NOTED_MAX; i++) {
		snprintf(name, sizeof name, "n%d", i);
		all = all && fs_noted_add(&l, name);
	}
	CHECK(all && !fs_noted_add(&l, "one.more") && l.n == FS_NOTED_MAX,
	      "fs_noted: full at FS_NOTED_MAX (the caller lists the directory then)");
	fs_noted_clear(&l);
	CHECK(l.n == 0 && !l.v, "fs_noted: cleared");
}

static void test_list(void)
{
	static const char *make[] = { "b", "a", "c10", "c9", ".hidden", ".tmp.x.1.2" };
	struct err e = { "" };
	char **names = NULL;
	int sub;
	long n;

	fs_mkdir(dfd, "list", 0755, &e);
	sub = fs_open_dir(dfd, "list", &e);
	CHECK(sub >= 0, "fs_open_dir opens a directory");
	n = fs_list(sub, &names, &e);
	CHECK(n == 0 && names != NULL, "fs_list of an empty directory");
	fs_list_free(names, n);
	for (size_t i = 0; i < ARRAY_LEN(make); i++)
		fs_write_atomic(sub, make[i], "x", 1, 0644, FSW_NOSYNC, &e);
	mkdirat(sub, "d", 0755);
	n = fs_list(sub, &names, &e);
	CHECK(n == 5, "fs_list skips dot files");
	CHECK(n == 5 && strcmp(names[0], "a") == 0 && strcmp(names[1], "b") == 0 && strcmp(names[2], "c10") == 0 &&
		      strcmp(names[3], "c9") == 0 && strcmp(names[4], "d") == 0,
	      "fs_list is sorted and includes directories");
	fs_list_free(names, n);
	CHECK(fs_skip_name(".") && fs_skip_name("..") && fs_skip_name(".tmp.a") && !fs_skip_name("a.b"),
	      "fs_skip_name");
	close(sub);

	symlinkat("list", dfd, "dirlink");
	CHECK(fs_open_dir(dfd, "dirlink", &e) == -1 && unit_has(e.msg, "cannot open directory dirlink"),
	      "fs_open_dir refuses a symlink");
}

static void test_mkdir(const char *base)
{
	struct err e = { "" };
	struct stat st;
	char *deep = xasprintf("%s/p/q/r", base);

	CHECK(fs_mkdir(dfd, "m", 0755, &e) == 0 && fstatat(dfd, "m", &st, 0) == 0 && S_ISDIR(st.st_mode),
	      "fs_mkdir creates a directory");
	CHECK(fs_mkdir(dfd, "m", 0755, &e) == 0, "fs_mkdir accepts an existing directory");
	CHECK(fs_mkdir(dfd, "f", 0755, &e) == -1 && unit_has(e.msg, "f exists and is not a directory"),
	      "fs_mkdir refuses an existing regular file");
	CHECK(fs_mkdir(dfd, "dirlink", 0755, &e) == -1 && unit_has(e.msg, "dirlink exists and is not a directory"),
	      "fs_mkdir refuses a symlink to a directory");
	CHECK(fs_mkdir(dfd, "nope/x", 0755, &e) == -1 && unit_has(e.msg, "cannot create directory nope/x"),
	      "fs_mkdir with a missing parent fails");
	CHECK(fs_mkdir_p(deep, 0755, &e) == 0 && stat(deep, &st) == 0 && S_ISDIR(st.st_mode),
	      "fs_mkdir_p creates nested directories");
	CHECK(fs_mkdir_p(deep, 0755, &e) == 0, "fs_mkdir_p accepts existing directories");
	free(deep);
}

static void test_remove_tree(void)
{
	struct err e = { "" };
	int t, u;

	fs_write_atomic(dfd, "keep", "k", 1, 0644, 0, &e);
	fs_mkdir(dfd, "keepdir", 0755, &e);
	fs_mkdir(dfd, "tree", 0755, &e);
	t = fs_open_dir(dfd, "tree", &e);
	fs_write_atomic(t, "file", "x", 1, 0644, 0, &e);
	fs_write_atomic(t, ".dot", "x", 1, 0644, 0, &e);
	fs_mkdir(t, "sub", 0755, &e);
	u = fs_open_dir(t, "sub", &e);
	fs_mkdir(u, "deeper", 0755, &e);
	fs_write_atomic(u, "g", "y", 1, 0644, 0, &e);
	symlinkat("../../keep", u, "to_file");
	symlinkat("../../keepdir", u, "to_dir");
	close(u);
	close(t);
	CHECK(fs_remove_tree(dfd, "tree") == 0 && !exists(dfd, "tree"), "fs_remove_tree removes a tree");
	CHECK(exists(dfd, "keep") && exists(dfd, "keepdir"), "fs_remove_tree does not follow symlinks");
	CHECK(fs_remove_tree(dfd, "keep") == 0 && !exists(dfd, "keep"), "fs_remove_tree removes a plain file");
	CHECK(fs_remove_tree(dfd, "absent") == -1 && errno == ENOENT, "fs_remove_tree of an absent name");
}

/* name/d/d/d... LEVELS deep, with a file at the bottom; built with one descriptor at a time. */
static void make_deep(const char *name, int levels)
{
	struct err e;
	fs_mkdir(dfd, name, 0755, &e);
	int fd = fs_open_dir(dfd, name, &e);
	for (int i = 0; i < levels && fd >= 0; i++) {
		fs_mkdir(fd, "d", 0755, &e);
		int nfd = fs_open_dir(fd, "d", &e);
		close(fd);
		fd = nfd;
	}
	if (fd >= 0) {
		fs_write_atomic(fd, "bottom", "b", 1, 0644, 0, &e);
		close(fd);
	}
}

/* A tree deeper than the descriptor limit is removed: the walk needs two descriptors at any
 * depth (the recursive one needed one per level and stopped at EMFILE). */
static void test_remove_deep(void)
{
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64;
	make_deep("deep", 25000);
	setrlimit(RLIMIT_NOFILE, &low);
	int rc = fs_remove_tree(dfd, "deep");
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK(rc == 0 && !exists(dfd, "deep"), "fs_remove_tree removes a 25,000-level tree with 64 descriptors");

	make_deep("deep2", 3000);
	int calls = 0;
	while ((rc = fs_remove_tree_some(dfd, "deep2", 1000)) == 1 && calls < 100)
		calls++;
	CHECK(rc == 0 && !exists(dfd, "deep2") && calls >= 2 && calls <= 4,
	      "fs_remove_tree_some removes a 3,000-level tree 1,000 entries at a time");
}

/* fs_write_new: created under its own name with the umask applied; what is already there (a
 * file, a link) is replaced whole, never written through. */
static void test_write_new(void)
{
	struct err e;
	struct buf b;
	struct stat st;
	buf_init(&b);
	CHECK(fs_write_new(dfd, "n1", "first", 5, 0666, &e) == 0 && /* (a caller passes 0666 & ~umask) */
		      fs_read_file(dfd, "n1", 100, &b, &st, &e) == 0 && b.len == 5 && memcmp(b.p, "first", 5) == 0 &&
		      (st.st_mode & 0777) == 0644,
	      "fs_write_new creates the file, mode less the umask (0666 & ~022)");
	CHECK(fs_write_new(dfd, "n1", "second", 6, 0644, &e) == 0 && fs_read_file(dfd, "n1", 100, &b, &st, &e) == 0 &&
		      b.len == 6 && memcmp(b.p, "second", 6) == 0 && no_tmp_files(dfd) && (st.st_mode & 0777) == 0644,
	      "fs_write_new replaces a file already there whole, with the mode given");
	CHECK(fs_write_new(dfd, "target", "t", 1, 0644, &e) == 0 && symlinkat("target", dfd, "n2") == 0 &&
		      fs_write_new(dfd, "n2", "via", 3, 0644, &e) == 0 && fs_read_file(dfd, "target", 100, &b, NULL, &e) == 0 &&
		      b.len == 1 && fstatat(dfd, "n2", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
	      "fs_write_new replaces a symbolic link, never writes through it");
	buf_free(&b);
}

int main(void)
{
	char base[] = "/tmp/spool-test-fsio-XXXXXX";

	umask(022);
	if (!mkdtemp(base) || (dfd = open(base, O_RDONLY | O_DIRECTORY)) < 0) {
		perror("mkdtemp");
		return 1;
	}
	test_write_read();
	test_write_new();
	test_read_refusals();
	test_list();
	test_noted();
	test_mkdir(base);
	test_remove_tree();
	test_remove_deep();
	close(dfd);
	CHECK(fs_remove_tree(AT_FDCWD, base) == 0 && access(base, F_OK) < 0, "temp dir cleaned up");
	return unit_done();
}
