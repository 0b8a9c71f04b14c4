/* conf.h - spool.conf (libconfig syntax): every setting, its default and its bounds. */
#ifndef SPOOL_CONF_H
#define SPOOL_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

struct spool_conf {
	uint64_t rescan_ms;        /* rescan_interval: every watcher rescans this often */
	bool use_inotify;          /* inotify: a speed-up only; false must still make progress */
	uint64_t heartbeat_ms;     /* heartbeat_interval: how often a worker bumps its counter */
	uint64_t dead_ms;          /* dead_timeout: counter unchanged this long => worker dead */
	uint64_t kill_grace_ms;    /* kill_grace: TERM, then KILL after this */
	uint64_t timeout_ms;       /* default_timeout for tasks, 0 = none */
	unsigned retries;          /* default_retries after a node failure */
	unsigned prefetch;         /* tasks queued on an engine beyond the one it runs */
	unsigned prefetch_short;   /* the same for an engine whose tasks take under 0.1 s */
	uint64_t publish_ms;       /* publish_interval: least time between job-state rewrites */
	int64_t visibility_ms;     /* visibility_deadline: -1 = automatic (see spooldir_open) */
	char database[PATH_MAX];   /* "" = automatic (see spool-layout.md) */
	char log_level[16];
	char log[8];               /* log: where a daemon in the background logs: auto, syslog or file */
	uint64_t log_max_bytes;    /* log_max_size: a log file is rotated to .1 beyond this */
	char python[PATH_MAX];     /* python: the interpreter of Python engines (a call may name another) */
};

void conf_defaults(struct spool_conf *c);
/* Load path over the defaults. Errors name the file and line (from libconfig). */
int conf_load(struct spool_conf *c, const char *path, struct err *e);
/* SIGHUP: take from next what a running daemon can apply (every setting but database, inotify
 * and log, which keep cur's values), and list the names of the settings that changed, in
 * applied (comma-separated) or restart (changed in the file, kept until a restart). */
void conf_apply_live(struct spool_conf *cur, const struct spool_conf *next, struct buf *applied,
		     struct buf *restart);
/* The commented default spool.conf written by `spool init`. */
const char *conf_template(void);

#endif
