/* spooldir.h - opening a spool directory: its layout version, config and directory fds. */
#ifndef SPOOL_SPOOLDIR_H
#define SPOOL_SPOOLDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"
#include "log.h"
#include "mac.h"
#include "spool.h"

#define LAYOUT_VERSION 1 /* the "format" file; bump when directories or names change */

/* ctl/wake (spool-layout.md 3.12a): a 32-bit counter at offset 0 that spoold increments, and
 * wakes as a futex, after each pass that published job states (spoold/wake.c). */
#define SPOOLDIR_WAKE "wake"
#define SPOOLDIR_WAKE_SIZE 64

struct spooldir {
	char *path;       /* absolute */
	unsigned layout;  /* the layout version its "format" file names (<= LAYOUT_VERSION) */
	int root;         /* fd of the spool directory */
	int incoming;     /* incoming/: clients add job and cancel records */
	int ctl;          /* ctl/: the controller's own */
	int ctl_jobs;     /* ctl/jobs/: accepted records and published job states */
	int ctl_w;        /* ctl/w/: per-worker registration replies and inboxes */
	int workers;      /* workers/: one directory per worker process */
	int quarantine;   /* quarantine/: rejected records with a .reason beside each */
	int vars;         /* vars/: per-engine variables, NODE.SLOT, written by that engine's worker */
	struct spool_conf conf;
	uid_t owner;      /* owner of the spool directory: the account spoold and workers run as (or root) */
	bool shared;      /* incoming/ takes records from other users (spool init --shared/--group) */
	bool local_fs;    /* a local filesystem (spooldir_fs_local): one page cache for every reader */
	struct spool_key key; /* loaded by spooldir_load_key (spoold, workers) */
};

/* spool init options: a personal spool (only its owner uses it) unless shared. */
struct spool_init_opts {
	bool shared;      /* every user who can reach the directory may submit */
	gid_t group;      /* with shared: only this group may reach it ((gid_t)-1: everyone) */
};

/* Resolve the spool path: -d argument, else $SPOOL_DIR. NULL if neither (message in e). */
const char *spooldir_choose(const char *arg, struct err *e);
/* Open an existing spool: check the layout version, load spool.conf, open directories, and
 * refuse one whose key, files or directories have unsafe owners or modes. */
int spooldir_open(struct spooldir *sd, const char *path, struct err *e);
/* The same, but unsafe owners or modes (check_modes) do not refuse it: they are described in
 * unsafe_modes (its msg empty when there are none). For `spool doctor`, which only reads. */
int spooldir_open_inspect(struct spooldir *sd, const char *path, struct err *unsafe_modes, struct err *e);
void spooldir_close(struct spooldir *sd);
/* Read DIR/spool.conf into c as spooldir_open does (defaults, the automatic visibility deadline,
 * the checks across settings): at start, and again on SIGHUP. */
int spooldir_read_conf(const struct spooldir *sd, struct spool_conf *c, struct err *e);
/* The key, for the programs that seal or check MACs (spoold, spool-worker). */
int spooldir_load_key(struct spooldir *sd, struct err *e);
/* Create a new spool (refuses an existing one). o NULL: a personal spool. */
int spooldir_create(const char *path, const struct spool_init_opts *o, struct err *e);

/* Filesystem kind of the spool ("ext4", "nfs", "fuse", ...) and whether it is a network or
 * FUSE filesystem, where inotify is blind to other nodes. */
const char *spooldir_fstype(int fd, int *is_remote);
/* Whether it is a filesystem known to be local (ext4, xfs, btrfs, tmpfs, overlay): every
 * reader of the spool shares this kernel's page cache, so a file renamed into place is
 * whole to all of them before it is on disk. False for network, FUSE and unknown kinds. */
bool spooldir_fs_local(int fd);
bool spooldir_magic_local(unsigned long magic); /* the same, for statfs's f_type */

/* The spool directory behind an open client handle (lib/api.c). */
struct spooldir *api_spooldir(spool_t *sp);

#endif
