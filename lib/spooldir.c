/* spooldir.c - open and create spool directories. */
#include "spooldir.h"
#include "fsio.h"
#include "ids.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static const char *subdirs[] = { "incoming", "ctl", "ctl/jobs", "ctl/w", "workers", "quarantine", "vars" };

const char *spooldir_choose(const char *arg, struct err *e)
{
	if (arg && *arg)
		return arg;
	const char *env = getenv("SPOOL_DIR");
	if (env && *env)
		return env;
	err_set(e, "no spool given: use -d DIR or set SPOOL_DIR (create one with 'spool init DIR')");
	return NULL;
}

static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);
	return r ? r : xstrdup(path);
}

int spooldir_open(struct spooldir *sd, const char *path, struct err *e)
{
	struct buf b;
	struct err fe;
	char *conf;
	int rc = -1;
	uint64_t v;

	memset(sd, 0, sizeof *sd);
	sd->root = sd->incoming = sd->ctl = sd->ctl_jobs = sd->ctl_w = sd->workers = sd->quarantine = sd->vars = -1;
	sd->path = absolute(path);
	buf_init(&b);
	sd->root = open(sd->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sd->root < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			err_set(e, "no spool at %s (no such directory): create one with 'spool init %s'", sd->path,
				sd->path);
		else
			err_sys(e, "cannot open spool %s", sd->path);
		goto out;
	}
	if (fs_read_file(sd->root, "format", 256, &b, NULL, &fe) < 0) {
		if (errno == ENOENT)
			err_set(e, "no spool at %s (it has no 'format' file): create one with 'spool init DIR'",
				sd->path);
		else
			err_set(e, "cannot read the spool's format file in %s: %s", sd->path, fe.msg);
		goto out;
	}
	if (strncmp(b.p, "spool-layout ", 13) != 0) {
		err_set(e, "%s/format is not a spool format file (expected \"spool-layout N\")", sd->path);
		goto out;
	}
	b.p[strcspn(b.p, "\n")] = '\0';
	if (parse_u64(b.p + 13, 1000000, &v) < 0 || v == 0) {
		err_set(e, "%s/format: bad layout version \"%s\"", sd->path, b.p + 13);
		goto out;
	}
	if (v > LAYOUT_VERSION) {
		err_set(e, "the spool at %s has layout %u, this spool reads up to %u: upgrade spool", sd->path,
			(unsigned)v, LAYOUT_VERSION);
		goto out;
	}
	conf_defaults(&sd->conf);
	conf = xasprintf("%s/spool.conf", sd->path);
	rc = conf_load(&sd->conf, conf, e);
	free(conf);
	if (rc < 0)
		goto out;
	rc = -1;
	int remote;
	spooldir_fstype(sd->root, &remote);
	if (sd->conf.visibility_ms < 0)
		sd->conf.visibility_ms = remote ? 10000 : 0;
	if (sd->conf.dead_ms <= sd->conf.heartbeat_ms + (uint64_t)sd->conf.visibility_ms) {
		err_set(e, "%s/spool.conf: dead_timeout (%.1f s) must exceed heartbeat_interval plus visibility_deadline "
			"(%.1f s here)", sd->path, sd->conf.dead_ms / 1000.0,
			(sd->conf.heartbeat_ms + (uint64_t)sd->conf.visibility_ms) / 1000.0);
		goto out;
	}
	int *fds[] = { &sd->incoming, &sd->ctl, &sd->ctl_jobs, &sd->ctl_w, &sd->workers, &sd->quarantine, &sd->vars };
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		*fds[i] = openat(sd->root, subdirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*fds[i] < 0) {
			err_sys(e, "spool %s is damaged: cannot open %s/%s (run 'spool doctor')", sd->path, sd->path,
				subdirs[i]);
			goto out;
		}
	}
	rc = 0;
out:
	buf_free(&b);
	if (rc < 0)
		spooldir_close(sd);
	return rc;
}

void spooldir_close(struct spooldir *sd)
{
	int *fds[] = { &sd->root, &sd->incoming, &sd->ctl, &sd->ctl_jobs, &sd->ctl_w, &sd->workers,
		       &sd->quarantine, &sd->vars };
	for (size_t i = 0; i < ARRAY_LEN(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	free(sd->path);
	sd->path = NULL;
}

int spooldir_create(const char *path, struct err *e)
{
	struct stat st;
	int root, rc = -1;
	unsigned char key[32];
	char hex[65], fmt[64];

	if (mkdir(path, 0755) < 0) {
		if (errno != EEXIST)
			return err_sys(e, "cannot create spool directory %s", path);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			return err_set(e, "%s exists and is not a directory", path);
	}
	root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return err_sys(e, "cannot open %s", path);
	if (faccessat(root, "format", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(root, "spool.conf", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		err_set(e, "%s already holds a spool: refusing to overwrite it (remove it first, or use it)", path);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++)
		if (fs_mkdir(root, subdirs[i], 0755, e) < 0)
			goto out;
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
		err_sys(e, "cannot get random bytes for the spool key");
		goto out;
	}
	for (size_t i = 0; i < sizeof key; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[64] = '\n';
	if (fs_write_atomic(root, "key", hex, 65, 0600, 0, e) < 0)
		goto out;
	const char *tmpl = conf_template();
	if (fs_write_atomic(root, "spool.conf", tmpl, strlen(tmpl), 0644, 0, e) < 0)
		goto out;
	/* The format file goes last: its presence is what makes the directory a spool. */
	int n = snprintf(fmt, sizeof fmt, "spool-layout %d\n", LAYOUT_VERSION);
	if (fs_write_atomic(root, "format", fmt, (size_t)n, 0644, 0, e) < 0)
		goto out;
	rc = 0;
out:
	close(root);
	return rc;
}

const char *spooldir_fstype(int fd, int *is_remote)
{
	struct statfs s;
	*is_remote = 0;
	if (fstatfs(fd, &s) < 0)
		return "unknown";
	switch ((unsigned long)s.f_type) {
	case 0x6969: *is_remote = 1; return "nfs";
	case 0x65735546: *is_remote = 1; return "fuse";
	case 0xFF534D42: *is_remote = 1; return "cifs";
	case 0x0BD00BD0: *is_remote = 1; return "lustre";
	case 0x00c36400: *is_remote = 1; return "ceph";
	case 0x47504653: *is_remote = 1; return "gpfs";
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlay";
	default: return "other";
	}
}
