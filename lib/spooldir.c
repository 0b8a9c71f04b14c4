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
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static const char *subdirs[] = { "incoming", "ctl", "ctl/jobs", "ctl/w", "workers", "quarantine", "vars" };
/* Modes spool init gives them. Submitters need only incoming/ (to add records) and ctl/ and
 * ctl/jobs/ (to read published states); the rest is for the controller and workers alone. */
static const mode_t subdir_modes[] = { 0700, 0755, 0755, 0700, 0700, 0700, 0700 };
/* incoming/ of a shared spool: anyone may add, no one may list, and only a record's owner (or the
 * spool's owner) may rename or remove it; new records take the directory's group (setgid), the
 * controller's own, so they can be made readable to the controller and no one else. */
#define SHARED_INCOMING_MODE 03733

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

static int unsafe(struct err *e, const char *spool, const char *name, const struct stat *st, const char *why,
		  const char *fix)
{
	return err_set(e, "unsafe spool %s: %s%s%s has owner uid %u and mode %04o: %s; refusing to use it (%s)",
		       spool, spool, *name ? "/" : "", name, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777),
		       why, fix);
}

/* Who may write where decides who can run what as whom: check the spool's files and directories
 * are owned by the spool's owner and writable by no one else (incoming/ excepted, sticky). */
static int check_modes(struct spooldir *sd, int **fds, struct err *e)
{
	struct stat st;
	char fix[PATH_MAX + 64];

	if (fstat(sd->root, &st) < 0)
		return err_sys(e, "cannot stat spool %s", sd->path);
	sd->owner = st.st_uid;
	if (st.st_mode & 022) {
		snprintf(fix, sizeof fix, "chmod go-w %s", sd->path);
		return unsafe(e, sd->path, "", &st, "others may write there (expected 0700, or 0750/0755 shared)", fix);
	}
	static const char *files[] = { "format", "spool.conf", "key" };
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		if (fstatat(sd->root, files[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT && strcmp(files[i], "key") == 0)
				return err_set(e, "spool %s has no key file: it cannot authenticate its records "
						  "(create a new spool with 'spool init')", sd->path);
			return err_sys(e, "cannot stat %s/%s", sd->path, files[i]);
		}
		bool key = strcmp(files[i], "key") == 0;
		if (!S_ISREG(st.st_mode) || st.st_uid != sd->owner || (st.st_mode & (key ? 077 : 022))) {
			snprintf(fix, sizeof fix, "it must be a plain file owned by uid %u, mode %s: chown %u %s/%s; chmod %s %s/%s",
				 (unsigned)sd->owner, key ? "0600" : "0644", (unsigned)sd->owner, sd->path, files[i],
				 key ? "600" : "644", sd->path, files[i]);
			return unsafe(e, sd->path, files[i], &st,
				      key ? "the key must be readable by its owner only" : "only the spool's owner may change it",
				      fix);
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		if (fstat(*fds[i], &st) < 0)
			return err_sys(e, "cannot stat %s/%s", sd->path, subdirs[i]);
		bool incoming = fds[i] == &sd->incoming;
		if (st.st_uid != sd->owner) {
			snprintf(fix, sizeof fix, "chown %u %s/%s", (unsigned)sd->owner, sd->path, subdirs[i]);
			return unsafe(e, sd->path, subdirs[i], &st, "it must belong to the spool's owner", fix);
		}
		if ((st.st_mode & 022) && !(incoming && (st.st_mode & S_ISVTX))) {
			snprintf(fix, sizeof fix, "chmod %s %s/%s", incoming ? "3733" : "go-w", sd->path, subdirs[i]);
			return unsafe(e, sd->path, subdirs[i], &st,
				      incoming ? "writable by others without the sticky bit, so anyone could remove "
						 "or replace others' records"
					       : "others may write there",
				      fix);
		}
		if (incoming)
			sd->shared = (st.st_mode & 022) != 0;
	}
	return 0;
}

int spooldir_read_conf(const struct spooldir *sd, struct spool_conf *c, struct err *e)
{
	char *conf = xasprintf("%s/spool.conf", sd->path);
	int rc, remote;
	conf_defaults(c);
	rc = conf_load(c, conf, e);
	free(conf);
	if (rc < 0)
		return -1;
	spooldir_fstype(sd->root, &remote);
	if (c->visibility_ms < 0)
		c->visibility_ms = remote ? 10000 : 0;
	if (c->dead_ms <= c->heartbeat_ms + (uint64_t)c->visibility_ms)
		return err_set(e, "%s/spool.conf: dead_timeout (%.1f s) must exceed heartbeat_interval plus "
				  "visibility_deadline (%.1f s here)", sd->path, c->dead_ms / 1000.0,
			       (c->heartbeat_ms + (uint64_t)c->visibility_ms) / 1000.0);
	return 0;
}

int spooldir_open(struct spooldir *sd, const char *path, struct err *e)
{
	return spooldir_open_inspect(sd, path, NULL, e);
}

int spooldir_open_inspect(struct spooldir *sd, const char *path, struct err *unsafe_modes, struct err *e)
{
	struct buf b;
	struct err fe;
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
	sd->layout = (unsigned)v;
	if (spooldir_read_conf(sd, &sd->conf, e) < 0)
		goto out;
	int *fds[] = { &sd->incoming, &sd->ctl, &sd->ctl_jobs, &sd->ctl_w, &sd->workers, &sd->quarantine, &sd->vars };
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		*fds[i] = openat(sd->root, subdirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* A submitter on a shared spool may not list incoming/ or read the daemons'
		 * directories; a path-only descriptor still serves openat, renameat and fstat. */
		if (*fds[i] < 0 && errno == EACCES)
			*fds[i] = openat(sd->root, subdirs[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*fds[i] < 0) {
			err_sys(e, "spool %s is damaged: cannot open %s/%s (run 'spool doctor')", sd->path, sd->path,
				subdirs[i]);
			goto out;
		}
	}
	sd->local_fs = spooldir_fs_local(sd->incoming); /* where client records go (fstatfs takes O_PATH) */
	if (unsafe_modes)
		unsafe_modes->msg[0] = '\0';
	if (check_modes(sd, fds, unsafe_modes ? unsafe_modes : e) < 0 && !unsafe_modes)
		goto out;
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

/* Owners and modes of a new spool; see spool-layout.md "Threat model". */
static int set_modes(int root, const char *path, const struct spool_init_opts *o, struct err *e)
{
	bool shared = o && o->shared;
	mode_t rootmode = !shared ? 0700 : o->group != (gid_t)-1 ? 0750 : 0755;
	if (shared && o->group != (gid_t)-1 && fchown(root, (uid_t)-1, o->group) < 0)
		return err_sys(e, "cannot give %s to group %u", path, (unsigned)o->group);
	if (fchmod(root, rootmode) < 0)
		return err_sys(e, "cannot set mode %04o on %s", (unsigned)rootmode, path);
	for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
		mode_t m = subdir_modes[i];
		if (shared && strcmp(subdirs[i], "incoming") == 0) {
			if (fchownat(root, subdirs[i], (uid_t)-1, getegid(), AT_SYMLINK_NOFOLLOW) < 0)
				return err_sys(e, "cannot set the group of %s/%s", path, subdirs[i]);
			m = SHARED_INCOMING_MODE;
		}
		if (fchmodat(root, subdirs[i], m, 0) < 0)
			return err_sys(e, "cannot set mode %04o on %s/%s", (unsigned)m, path, subdirs[i]);
	}
	return 0;
}

/* A new spool key: 64 hex digits and a newline, from the kernel's random source (what
 * libsodium's crypto_auth_keygen reads too; not linked here, so the client starts without it). */
static int key_generate(char hex[2 * SPOOL_KEY_BYTES + 2], struct err *e)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char k[SPOOL_KEY_BYTES];
	if (random_bytes(k, sizeof k) < 0)
		return err_sys(e, "cannot draw a spool key from the kernel's random source (getrandom)");
	for (size_t i = 0; i < sizeof k; i++) {
		hex[2 * i] = digits[k[i] >> 4];
		hex[2 * i + 1] = digits[k[i] & 15];
	}
	hex[2 * SPOOL_KEY_BYTES] = '\n';
	hex[2 * SPOOL_KEY_BYTES + 1] = '\0';
	explicit_bzero(k, sizeof k);
	return 0;
}

int spooldir_create(const char *path, const struct spool_init_opts *o, struct err *e)
{
	struct stat st;
	int root, rc = -1;
	char hex[2 * SPOOL_KEY_BYTES + 2], fmt[64];

	if (mkdir(path, 0700) < 0) {
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
		if (fs_mkdir(root, subdirs[i], 0700, e) < 0)
			goto out;
	if (set_modes(root, path, o, e) < 0)
		goto out;
	if (key_generate(hex, e) < 0)
		goto out;
	rc = fs_write_atomic(root, "key", hex, 2 * SPOOL_KEY_BYTES + 1, 0600, 0, e);
	explicit_bzero(hex, sizeof hex);
	if (rc < 0)
		goto out;
	rc = -1;
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

/* The filesystems spool knows: network and FUSE ones, where inotify is blind to other nodes
 * and a reader on another node sees a file only once its writer has flushed it; and local ones,
 * where every reader shares one page cache. Anything else is "other": neither is assumed. */
static const struct fs_kind {
	unsigned long magic;
	const char *name;
	int remote; /* 1 network or FUSE, 0 local */
} fs_kinds[] = {
	{ 0x6969, "nfs", 1 },        { 0x65735546, "fuse", 1 }, { 0xFF534D42, "cifs", 1 },
	{ 0x0BD00BD0, "lustre", 1 }, { 0x00c36400, "ceph", 1 }, { 0x47504653, "gpfs", 1 },
	{ 0xEF53, "ext4", 0 },       { 0x58465342, "xfs", 0 },  { 0x9123683E, "btrfs", 0 },
	{ 0x01021994, "tmpfs", 0 },  { 0x794c7630, "overlay", 0 },
};

static const struct fs_kind *fs_kind_by_magic(unsigned long magic)
{
	for (size_t i = 0; i < ARRAY_LEN(fs_kinds); i++)
		if (magic == fs_kinds[i].magic)
			return &fs_kinds[i];
	return NULL;
}

static const struct fs_kind *fs_kind_of(int fd)
{
	struct statfs s;
	return fstatfs(fd, &s) < 0 ? NULL : fs_kind_by_magic((unsigned long)s.f_type);
}

bool spooldir_magic_local(unsigned long magic)
{
	const struct fs_kind *k = fs_kind_by_magic(magic);
	return k && !k->remote;
}

const char *spooldir_fstype(int fd, int *is_remote)
{
	struct statfs s;
	const struct fs_kind *k = fs_kind_of(fd);
	*is_remote = k && k->remote;
	if (k)
		return k->name;
	return fstatfs(fd, &s) < 0 ? "unknown" : "other";
}

bool spooldir_fs_local(int fd)
{
	const struct fs_kind *k = fs_kind_of(fd);
	return k && !k->remote;
}
