/* spoold - the controller of a spool: ingests records, keeps the queue in SQLite,
 * assigns tasks to engines, tracks liveness, publishes state for clients.
 *
 * One loop (poll on inotify and a signalfd) runs every step; inotify only makes
 * the loop wake sooner: every directory is also rescanned on a timer, so the
 * controller makes full progress on NFS, where inotify cannot see other nodes.
 */
#include "ctl.h"
#include "daemon.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spoold [-d DIR] [-f] [--help] [--version]\n"
		"\n"
		"The controller of the spool in DIR (default: $SPOOL_DIR). One per spool.\n"
		"  -d, --dir DIR     the spool directory\n"
		"  -f, --foreground  stay in the foreground and log to stderr (default: a daemon, logging\n"
		"                    where spool.conf's `log` says: syslog, or DIR/log/spoold.log)\n"
		"  -h, --help        this text\n"
		"  -V, --version     print the version\n"
		"\n"
		"SIGTERM or SIGINT stops it cleanly; SIGHUP rereads spool.conf; SIGUSR1 logs a status\n"
		"line; SIGUSR2 is ignored. A start-up error is printed here, before it detaches.\n"
		"Exit codes: 0 clean stop, 2 usage, 3 spool, config, database or lock error (another\n"
		"spoold holds the spool).\n");
}

static int take_lock(struct ctl *c)
{
	struct buf b;
	struct rec r;
	int fd = openat(c->sd.ctl, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_err("cannot open %s/ctl/lock: %s", c->sd.path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd; /* kept open for the life of the process */
	buf_init(&b);
	if (fs_read_file(c->sd.ctl, "controller", 65536, &b, NULL, NULL) == 0 &&
	    rec_parse(&r, b.p, b.len, &schema_ctlinfo, NULL) == 0) {
		log_err("another spoold already runs this spool: pid %s on %s (stop it first: kill %s)",
			rec_get(&r, "pid"), rec_get(&r, "node"), rec_get(&r, "pid"));
		rec_free(&r);
	} else {
		log_err("another spoold already holds %s/ctl/lock", c->sd.path);
	}
	buf_free(&b);
	close(fd);
	return -1;
}

static void setup_inotify(struct ctl *c)
{
	char path[4200];
	c->ino = c->wd_incoming = c->wd_workers = -1;
	if (!c->sd.conf.use_inotify) {
		log_info("inotify is off in spool.conf: rescanning every %.2f s", c->sd.conf.rescan_ms / 1000.0);
		return;
	}
	c->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->ino < 0) {
		log_warn("inotify unavailable (%s): rescanning every %.2f s instead%s", strerror(errno),
			 c->sd.conf.rescan_ms / 1000.0,
			 errno == EMFILE ? " (raise sysctl fs.inotify.max_user_instances)" : "");
		return;
	}
	snprintf(path, sizeof path, "%s/incoming", c->sd.path);
	c->wd_incoming = inotify_add_watch(c->ino, path, IN_MOVED_TO | IN_ONLYDIR);
	snprintf(path, sizeof path, "%s/workers", c->sd.path);
	c->wd_workers = inotify_add_watch(c->ino, path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	if (c->wd_incoming < 0 || c->wd_workers < 0)
		log_warn("cannot watch the spool with inotify (%s): rescanning every %.2f s instead%s",
			 strerror(errno), c->sd.conf.rescan_ms / 1000.0,
			 errno == ENOSPC ? " (raise sysctl fs.inotify.max_user_watches)" : "");
}

/* A result in one worker's done/: read that directory only, not every worker's (a cluster has
 * hundreds; the rescan still reads them all). An unknown watch: all of them. */
static void done_event(struct ctl *c, int wd)
{
	for (size_t i = 0; i < c->nw; i++) {
		if (c->w[i].done_wd == wd) {
			c->w[i].done_dirty = true;
			c->scan_done_some = true;
			return;
		}
	}
	c->scan_done = true;
}

/* A record renamed into incoming/: its name, so that the pass reads that file alone. Anything
 * else (an event without a name, more names than FS_NOTED_MAX): the whole directory. */
static void incoming_event(struct ctl *c, const struct inotify_event *ev)
{
	if (!c->scan_incoming && (!ev->len || !(ev->mask & IN_MOVED_TO) || !fs_noted_add(&c->in_noted, ev->name)))
		c->scan_incoming = true;
}

static void drain_inotify(struct ctl *c)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(c->ino, buf, sizeof buf);
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				c->scan_incoming = c->scan_workers = c->scan_done = true;
			else if (ev->wd == c->wd_incoming)
				incoming_event(c, ev);
			else if (ev->wd == c->wd_workers)
				c->scan_workers = true;
			else
				done_event(c, ev->wd);
			p += sizeof *ev + ev->len;
		}
	}
}

/* Known workers and how many are alive: changes when one registers or is declared dead. */
static unsigned live_workers(const struct ctl *c)
{
	unsigned n = 0;
	for (size_t i = 0; i < c->nw; i++)
		n += c->w[i].alive;
	return (unsigned)c->nw << 16 ^ n;
}

/* SIGUSR1: one line on the state of the queue, for an administrator without the CLI at hand. */
static void log_status(struct ctl *c)
{
	unsigned alive = 0;
	int64_t n[SPOOL_TASK_NSTATES] = { 0 };
	struct buf b;
	for (size_t i = 0; i < c->nw; i++)
		alive += c->w[i].alive;
	sqlite3_stmt *st = db_prep(c, "SELECT state, sum(n) FROM job_counts GROUP BY state");
	int rc;
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0);
		if (s >= 0 && s < SPOOL_TASK_NSTATES)
			n[s] = sqlite3_column_int64(st, 1);
	}
	if (st && rc != SQLITE_DONE)
		log_err("SIGUSR1: cannot count the tasks in %s: %s", c->dbpath, sqlite3_errmsg(c->db));
	if (st)
		sqlite3_reset(st);
	buf_init(&b);
	for (int s = 0; s < SPOOL_TASK_NSTATES; s++)
		if (n[s])
			buf_printf(&b, " %s %lld", spool_task_state_name((enum spool_task_state)s), (long long)n[s]);
	log_info("status: pid %d, spool %s, %zu worker%s known (%u alive); tasks:%s", (int)getpid(), c->sd.path,
		 c->nw, c->nw == 1 ? "" : "s", alive, b.len ? b.p : " none");
	buf_free(&b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "foreground", no_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { NULL, 0, NULL, 0 } };
	const char *dir = NULL;
	bool fg = false;
	struct ctl c;
	struct err e;
	int o;

	while ((o = getopt_long(argc, argv, "d:fhV", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'f': fg = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("spoold %s\n", SPOOL_VERSION); return 0;
		default: usage(stderr); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "spoold: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return SPOOL_EXIT_USAGE;
	}
	log_open("spoold", false, LOG_LVL_INFO);
	ctl_init(&c);
	if (!(dir = spooldir_choose(dir, &e)) || spooldir_open(&c.sd, dir, &e) < 0 ||
	    spooldir_load_key(&c.sd, &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	/* The database and everything not published on purpose (with an explicit mode) hold
	 * every user's commands and environments: the controller's eyes only. */
	umask(077);
	enum log_level lvl = LOG_LVL_INFO;
	log_level_parse(c.sd.conf.log_level, &lvl);
	/* Before the fork, so that a second spoold says why and exits 3 in the foreground; the
	 * daemon inherits the lock (flock belongs to the open file, shared across fork). */
	if (take_lock(&c) < 0) {
		spooldir_close(&c.sd);
		return SPOOL_EXIT_ERROR;
	}
	/* Detached only once everything that can fail at start has been tried: its error reaches
	 * the terminal and the exit code (daemon.c). */
	if (!fg && daemon_start("spoold") < 0)
		die(SPOOL_EXIT_ERROR, "cannot fork into the background: %s", strerror(errno));
	log_open("spoold", false, lvl);
	node_name(c.node, sizeof c.node);
	boot_id(c.boot, sizeof c.boot);
	c.fstype = spooldir_fstype(c.sd.root, &c.fs_remote);
	if (db_open(&c, &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	if (publish_controller(&c, &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	if (!fg && daemon_log_open("spoold", &c.sd, "spoold.log", &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s (set log = \"syslog\" in spool.conf, or run with -f)", e.msg);
	if (c.fs_remote)
		log_warn("spool %s is on %s: inotify cannot see other nodes there, relying on rescans every %.2f s "
			 "(mount NFS with 'hard' and a short actimeo, e.g. actimeo=1, to bound the delay)",
			 c.sd.path, c.fstype, c.sd.conf.rescan_ms / 1000.0);
	log_info("controlling spool %s (database %s, %s), pid %d", c.sd.path, c.dbpath, c.fstype, (int)getpid());

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die(SPOOL_EXIT_ERROR, "cannot create a signalfd: %s", strerror(errno));
	setup_inotify(&c);
	syncer_start(&c);
	wake_open(&c);
	publish_beat(&c); /* clients see a running controller as soon as the command returns */
	if (!fg)
		daemon_ready();

	c.now = mono_ms();
	rebuild_if_lost(&c);
	inflight_check(&c);
	workers_scan(&c);
	assign_reconcile(&c);
	c.scan_incoming = c.scan_done = c.want_assign = c.engines_dirty = true;
	uint64_t next_rescan = 0, next_tick = 0, next_engines = 0;
	unsigned live = live_workers(&c);
	while (!c.stop) {
		c.now = mono_ms();
		if (c.now >= next_rescan) {
			c.scan_incoming = c.scan_workers = c.scan_done = c.want_assign = true;
			next_rescan = c.now + c.sd.conf.rescan_ms;
		}
		if (c.scan_workers) {
			c.scan_workers = false;
			workers_scan(&c);
		}
		if (c.scan_incoming || c.in_noted.n)
			ingest_incoming(&c);
		if (c.scan_done || c.scan_done_some) {
			bool all = c.scan_done; /* (complete_scan may ask for another look) */
			c.scan_done = c.scan_done_some = false;
			complete_scan(&c, all);
		}
		if (c.now >= next_tick) {
			workers_check_liveness(&c);
			publish_beat(&c);
			c.engines_dirty = true;
			next_tick = c.now + c.sd.conf.heartbeat_ms / 2;
		}
		if (c.want_assign)
			assign_tasks(&c);
		/* Published before the sync that lets the done records go: the client waiting on a
		 * result sees it one fdatasync sooner, and a power cut in between replays the done
		 * records still there, to the same result (spool-layout.md 8, Complete). */
		publish_jobs(&c, false);
		complete_settle(&c);
		ingest_settle(&c, false); /* after that sync, which usually makes ingest durable too */
		/* The engine table changes with every task assigned or finished: rewrite it at most
		 * every publish_interval, as job states, but at once when a worker came or went. */
		unsigned live_now = live_workers(&c);
		if (c.engines_dirty && (c.now >= next_engines || live_now != live)) {
			publish_engines(&c);
			next_engines = c.now + c.sd.conf.publish_ms;
			live = live_now;
		}

		uint64_t now = mono_ms(), wake = next_rescan < next_tick ? next_rescan : next_tick;
		int timeout = c.scan_incoming || c.in_noted.n || c.scan_done || c.scan_done_some || c.scan_workers ? 0
			      : wake > now ? (int)(wake - now) : 0;
		/* Jobs left dirty by the publish rate limit need another look soon. */
		if (timeout > (int)c.sd.conf.publish_ms)
			timeout = (int)c.sd.conf.publish_ms;
		if (c.engines_dirty && next_engines > now && timeout > (int)(next_engines - now))
			timeout = (int)(next_engines - now);
		int settle = ingest_settle_due(&c);
		if (settle >= 0 && timeout > settle)
			timeout = settle;
		/* A negative descriptor is skipped by poll: inotify off, no syncer thread. */
		struct pollfd p[3] = { { sfd, POLLIN, 0 }, { c.ino, POLLIN, 0 }, { syncer_fd(&c), POLLIN, 0 } };
		if (poll(p, 3, timeout) < 0 && errno != EINTR)
			log_err("poll: %s", strerror(errno));
		if (p[2].revents & POLLIN)
			syncer_collect(&c);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					c.stop = 1;
				} else if (si.ssi_signo == SIGHUP) {
					daemon_reload_conf(&c.sd);
					c.want_assign = true; /* prefetch may have grown */
				} else if (si.ssi_signo == SIGUSR1) {
					log_status(&c);
				}
			}
		}
		if (c.ino >= 0 && (p[1].revents & POLLIN))
			drain_inotify(&c);
		inflight_settle(&c);
	}
	inflight_settle(&c);
	ingest_settle(&c, true);
	publish_jobs(&c, true);
	syncer_stop(&c);
	log_info("stopping on signal; the queue is saved in %s", c.dbpath);
	unlinkat(c.sd.ctl, "beat", 0);
	db_close(&c);
	inflight_unmap(&c);
	wake_close(&c);
	assign_forget(&c);
	free(c.w);
	free(c.moves);
	free(c.consumed);
	fs_noted_clear(&c.in_noted);
	spooldir_close(&c.sd);
	return 0;
}
