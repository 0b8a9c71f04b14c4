/* test_spooldir.c - creating and opening spool directories, and the errors for broken ones. */
#include "fsio.h"
#include "spooldir.h"
#include "util.h"
#include "unit.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *base; /* the resolved temp dir: messages hold resolved paths */

/* Open expecting failure with a message holding want; sd must come back closed. */
static bool open_fails(const char *path, const char *want)
{
	struct spooldir sd;
	struct err e = { "" };
	int rc = spooldir_open(&sd, path, &e);
	bool ok = rc == -1 && sd.path == NULL && sd.root == -1 && sd.incoming == -1 && unit_has(e.msg, want);
	if (rc == 0)
		spooldir_close(&sd);
	if (!ok)
		fprintf(stderr, "  rc=%d msg=\"%s\", expected \"%s\"\n", rc, e.msg, want);
	return ok;
}

static bool opens(const char *path)
{
	struct spooldir sd;
	struct err e = { "" };
	if (spooldir_open(&sd, path, &e) < 0) {
		fprintf(stderr, "  unexpected error: %s\n", e.msg);
		return false;
	}
	spooldir_close(&sd);
	return true;
}

static bool is_dir(int fd, const char *name)
{
	struct stat st;
	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void put(const char *dir, const char *name, const char *text)
{
	struct err e;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fs_write_atomic(fd, name, text, strlen(text), 0644, FSW_NOSYNC, &e) < 0)
		fprintf(stderr, "  cannot write %s/%s\n", dir, name);
	if (fd >= 0)
		close(fd);
}

static void test_create_open(void)
{
	static const char *dirs[] = { "incoming", "ctl", "ctl/jobs", "ctl/w", "workers", "quarantine" };
	char *path = xasprintf("%s/spool", base);
	struct spooldir sd;
	struct err e = { "" };
	struct buf b;
	struct stat st;
	bool all = true;

	buf_init(&b);
	CHECK(spooldir_create(path, NULL, &e) == 0, "spooldir_create on a fresh path");
	CHECK(spooldir_open(&sd, path, &e) == 0, "spooldir_open of the new spool");
	if (!sd.path) {
		fprintf(stderr, "  error: %s\n", e.msg);
		free(path);
		return;
	}
	CHECK(strcmp(sd.path, path) == 0, "sd.path is the absolute path");
	CHECK(sd.root >= 0 && sd.incoming >= 0 && sd.ctl >= 0 && sd.ctl_jobs >= 0 && sd.ctl_w >= 0 &&
		      sd.workers >= 0 && sd.quarantine >= 0,
	      "every directory fd is open");
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
		all = all && is_dir(sd.root, dirs[i]);
	CHECK(all, "the spool directories exist");
	CHECK(sd.conf.rescan_ms == 500 && sd.conf.dead_ms == 30000 && sd.conf.use_inotify,
	      "spool.conf loaded with default values");

	CHECK(fs_read_file(sd.root, "key", 1024, &b, &st, &e) == 0 && (st.st_mode & 0777) == 0600,
	      "key file has mode 0600");
	CHECK(b.len == 65 && strspn(b.p, "0123456789abcdef") == 64 && b.p[64] == '\n', "key is 64 hex chars");
	CHECK(fs_read_file(sd.root, "format", 1024, &b, NULL, &e) == 0 && strcmp(b.p, "spool-layout 1\n") == 0,
	      "format file says spool-layout 1");
	/* The spool.conf written is the one read: a value changed in it changes what open gives (the
	 * defaults alone would give the same figures as the template). */
	bool edited = false;
	if (fs_read_file(sd.root, "spool.conf", 65536, &b, NULL, &e) == 0) {
		char *at = strstr(b.p, "rescan_interval = 0.5;");
		if (at) {
			char *conf = xasprintf("%.*srescan_interval = 0.25;%s", (int)(at - b.p), b.p,
					       at + strlen("rescan_interval = 0.5;"));
			put(path, "spool.conf", conf);
			free(conf);
			struct spooldir sd2;
			if (spooldir_open(&sd2, path, &e) == 0) {
				edited = sd2.conf.rescan_ms == 250 && sd2.conf.dead_ms == 30000;
				spooldir_close(&sd2);
			}
		}
	}
	CHECK(edited, "the spool.conf created is the one read: rescan_interval 0.5 -> 0.25 gives 250 ms");
	spooldir_close(&sd);
	CHECK(sd.path == NULL && sd.root == -1 && sd.quarantine == -1, "spooldir_close resets the struct");

	CHECK(spooldir_create(path, NULL, &e) == -1 && unit_has(e.msg, "already holds a spool"),
	      "create again refuses with \"already holds a spool\"");
	CHECK(opens(path), "the spool still opens after the refused create");
	buf_free(&b);
	free(path);
}

static void test_broken(void)
{
	char *absent = xasprintf("%s/absent", base);
	char *empty = xasprintf("%s/empty", base);
	char *sp = xasprintf("%s/spool", base);
	char *want = xasprintf("%s/spool/spool.conf:2:", base);
	char *file = xasprintf("%s/file", base);
	struct err e = { "" };

	CHECK(open_fails(absent, "no spool at"), "open of a non-existent path says \"no spool at\"");
	mkdir(empty, 0755);
	CHECK(open_fails(empty, "it has no 'format' file"), "open of a directory without a format file");
	put(base, "file", "x");
	CHECK(spooldir_create(file, NULL, &e) == -1 && unit_has(e.msg, "exists and is not a directory"),
	      "create over a regular file refused");

	put(sp, "format", "spool-layout 99\n");
	CHECK(open_fails(sp, "has layout 99, this spool reads up to 1: upgrade spool"), "newer layout refused");
	put(sp, "format", "spool-layout 0\n");
	CHECK(open_fails(sp, "bad layout version \"0\""), "layout 0 refused");
	put(sp, "format", "something else\n");
	CHECK(open_fails(sp, "is not a spool format file"), "foreign format file refused");
	put(sp, "format", "spool-layout 1\n");

	put(sp, "spool.conf", "prefetch = 1;\nprefetch = = 2;\n");
	CHECK(open_fails(sp, want), "broken spool.conf gives the file:line message");
	put(sp, "spool.conf", "");
	CHECK(opens(sp), "empty spool.conf opens");
	int root = open(sp, O_RDONLY | O_DIRECTORY);
	unlinkat(root, "ctl/w", AT_REMOVEDIR);
	close(root);
	CHECK(open_fails(sp, "is damaged: cannot open") && open_fails(sp, "ctl/w"), "missing subdirectory reported");

	free(absent);
	free(empty);
	free(sp);
	free(want);
	free(file);
}

static void test_choose(void)
{
	struct err e = { "" };
	setenv("SPOOL_DIR", "/from/env", 1);
	CHECK(strcmp(spooldir_choose("/arg", &e), "/arg") == 0, "spooldir_choose prefers the argument");
	CHECK(strcmp(spooldir_choose(NULL, &e), "/from/env") == 0 && strcmp(spooldir_choose("", &e), "/from/env") == 0,
	      "spooldir_choose falls back to SPOOL_DIR");
	unsetenv("SPOOL_DIR");
	CHECK(spooldir_choose(NULL, &e) == NULL && unit_has(e.msg, "no spool given"), "spooldir_choose with neither");

	/* Filesystems whose type is known here: /proc (local, not one it names) and a tmpfs. */
	int remote = -1, fd = open("/proc", O_RDONLY | O_DIRECTORY);
	const char *kind = spooldir_fstype(fd, &remote);
	CHECK(fd >= 0 && strcmp(kind, "other") == 0 && remote == 0, "spooldir_fstype: /proc is a local 'other'");
	CHECK(!spooldir_fs_local(fd), "spooldir_fs_local: an 'other' filesystem is not taken for local");
	if (fd >= 0)
		close(fd);
	char *tm = xasprintf("%s/tmpfs", base);
	struct statfs sf;
	const char *tdir = "/dev/shm";
	if (mkdir(tm, 0700) == 0 && mount("spool-test", tm, "tmpfs", 0, "size=64k") == 0)
		tdir = tm; /* root: a tmpfs of our own */
	fd = open(tdir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type == 0x01021994) {
		remote = -1;
		kind = spooldir_fstype(fd, &remote);
		CHECK(strcmp(kind, "tmpfs") == 0 && remote == 0, "spooldir_fstype: a tmpfs is a local 'tmpfs'");
		CHECK(spooldir_fs_local(fd), "spooldir_fs_local: a tmpfs is local");
	} else {
		printf("SKIP: test_spooldir: spooldir_fstype on a tmpfs: none here (not root, no tmpfs /dev/shm)\n");
	}
	if (fd >= 0)
		close(fd);
	if (tdir == tm)
		umount(tm);
	rmdir(tm);
	free(tm);
	/* A file descriptor that is not open answers "unknown", local. */
	remote = -1;
	kind = spooldir_fstype(-1, &remote);
	CHECK(strcmp(kind, "unknown") == 0 && remote == 0, "spooldir_fstype of a closed descriptor: unknown");
	CHECK(!spooldir_fs_local(-1), "spooldir_fs_local of a closed descriptor: not local");
	/* The kinds by their magic numbers: client records go into place before their fsyncs only
	 * on the local ones (spool-layout.md 7). */
	CHECK(spooldir_magic_local(0xEF53) && spooldir_magic_local(0x58465342) && spooldir_magic_local(0x9123683E) &&
		      spooldir_magic_local(0x01021994) && spooldir_magic_local(0x794c7630),
	      "ext4, xfs, btrfs, tmpfs and overlay are local");
	CHECK(!spooldir_magic_local(0x6969) && !spooldir_magic_local(0x65735546) && !spooldir_magic_local(0xFF534D42) &&
		      !spooldir_magic_local(0x0BD00BD0) && !spooldir_magic_local(0x00c36400) &&
		      !spooldir_magic_local(0x47504653),
	      "NFS, FUSE, CIFS, Lustre, CephFS and GPFS are not local");
	CHECK(!spooldir_magic_local(0x9fa0) && !spooldir_magic_local(0x12345678), "an unknown kind (procfs, any) is not local");
}

int main(void)
{
	char tmpl[] = "/tmp/spool-test-spooldir-XXXXXX";

	umask(022);
	if (!mkdtemp(tmpl) || !(base = realpath(tmpl, NULL))) {
		perror("mkdtemp");
		return 1;
	}
	test_create_open();
	test_broken();
	test_choose();
	CHECK(fs_remove_tree(AT_FDCWD, base) == 0 && access(base, F_OK) < 0, "temp dir cleaned up");
	free(base);
	return unit_done();
}
