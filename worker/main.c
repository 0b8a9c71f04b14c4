/* spool-worker - the service on each node: N engines, each running one task at a time.
 *
 * It registers with the controller through files (hello -> reg), bumps a heartbeat
 * counter, watches its inbox with inotify plus a rescan timer, and runs what it is
 * assigned. It needs neither the controller up to start nor to keep running.
 */
#include "worker.h"
#include "daemon.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "smallfmt.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
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
		"usage: spool-worker [-d DIR] [-n N] [--name NODE] [-f] [--help] [--version]\n"
		"\n"
		"Run N engines for the spool in DIR (default: $SPOOL_DIR). Without -n, as many as the CPUs it\n"
		"may use: its affinity mask, lowered by its cgroup's CPU quota and by SLURM_CPUS_ON_NODE.\n"
		"  -d, --dir DIR     the spool directory\n"
		"  -n, --engines N   engines on this node, each runs one task at a time (1..1024)\n"
		"      --name NODE   node name to report (default: the short hostname)\n"
		"  -f, --foreground  stay in the foreground and log to stderr (default: a daemon, logging\n"
		"                    where spool.conf's `log` says: syslog, or DIR/log/worker-NODE.log)\n"
		"  -h, --help        this text\n"
		"  -V, --version     print the version\n"
		"\n"
		"SIGTERM or SIGINT stops it: running tasks get SIGTERM, then SIGKILL after kill_grace;\n"
		"the controller requeues them (not counted against their retries). SIGHUP rereads\n"
		"spool.conf; SIGUSR1 logs a status line; SIGUSR2 is ignored. Under Slurm, run it\n"
		"with srun, one per node (spool-worker(8), SLURM). A start-up error is printed\n"
		"here, before it detaches.\n"
		"Exit codes: 0 clean stop, 2 usage, 3 spool or config error (another worker runs as NODE).\n");
}

/* Without -n: as many engines as CPUs this worker may use (cpus_choose says how it chose). */
static int auto_engines(char *why, size_t whysz)
{
	cpu_set_t set;
	long aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t quota, period, slurm = 0;
	const char *s = getenv("SLURM_CPUS_ON_NODE");
	cgroup_cpu_quota(&quota, &period);
	if (s && parse_u64(s, MAX_ENGINES, &slurm) < 0)
		slurm = 0; /* not a number of CPUs: ignored, as if unset */
	return cpus_choose(aff, quota, period, (long)slurm, MAX_ENGINES, why, whysz);
}

static int write_hello(struct worker *w, struct err *e)
{
	struct buf b;
	int rc;
	buf_init(&b);
	rec_begin(&b, "hello");
	rec_put(&b, "wid", w->wid);
	rec_put(&b, "node", w->node);
	rec_put_u64(&b, "pid", (uint64_t)getpid());
	rec_put(&b, "boot", w->boot);
	rec_put_u64(&b, "start", proc_start_ticks(getpid()));
	rec_put_u64(&b, "slots", (uint64_t)w->nslots);
	rec_put(&b, "version", SPOOL_VERSION);
	rec_end(&b);
	rc = fs_write_atomic(w->wfd, "hello", b.p, b.len, 0644, 0, e);
	buf_free(&b);
	return rc;
}

static void write_beat(struct worker *w)
{
	struct buf b;
	struct err e;
	buf_init(&b);
	rec_begin(&b, "beat");
	rec_put_u64(&b, "count", ++w->beat);
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].run && w->eng[i].pid > 0)
			rec_put(&b, "running", w->eng[i].run->name);
	rec_end(&b);
	if (fs_write_atomic(w->wfd, "beat", b.p, b.len, 0644, FSW_NOSYNC, &e) < 0)
		log_err("cannot write my heartbeat: %s", e.msg);
	buf_free(&b);
}

/* A fresh identity: a new directory under workers/ and a hello for the controller. */
static int start_identity(struct worker *w, struct err *e)
{
	char rnd[9];
	if (id_random(rnd, 8) < 0)
		return err_sys(e, "cannot get random bytes");
	snprintf(w->wid, sizeof w->wid, "%.50s-%s", w->node, rnd);
	if (fs_mkdir(w->sd.workers, w->wid, 0755, e) < 0)
		return -1;
	if (w->wfd >= 0)
		close(w->wfd);
	if (w->done_fd >= 0)
		close(w->done_fd);
	w->wfd = fs_open_dir(w->sd.workers, w->wid, e);
	if (w->wfd < 0 || fs_mkdir(w->wfd, "done", 0755, e) < 0)
		return -1;
	w->done_fd = fs_open_dir(w->wfd, "done", e);
	if (w->done_fd < 0)
		return -1;
	write_beat(w);
	if (write_hello(w, e) < 0)
		return -1;
	w->registered = w->dead = false;
	if (w->inbox_fd >= 0)
		close(w->inbox_fd);
	w->inbox_fd = -1;
	log_info("worker %s on %s: %d engine%s, waiting for the controller to register them", w->wid, w->node,
		 w->nslots, w->nslots == 1 ? "" : "s");
	return 0;
}

static void watch(struct worker *w, int *wd, const char *rel, uint32_t mask)
{
	char path[4300];
	if (w->ino < 0)
		return;
	snprintf(path, sizeof path, "%s/%s", w->sd.path, rel);
	*wd = inotify_add_watch(w->ino, path, mask | IN_ONLYDIR);
	if (*wd < 0 && errno == ENOSPC)
		log_warn("inotify watch limit reached watching %s: relying on rescans every %.2f s "
			 "(raise sysctl fs.inotify.max_user_watches)", path, w->sd.conf.rescan_ms / 1000.0);
}

/* Read ctl/w/WID/reg: our engine ids, or the news that we were declared dead. */
static void check_reg(struct worker *w)
{
	char path[200];
	struct buf b;
	struct rec r;
	struct err e;
	int fd;

	snprintf(path, sizeof path, "%s", w->wid);
	fd = openat(w->sd.ctl_w, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	buf_init(&b);
	if (fs_read_file(fd, "reg", MAX_SMALL_RECORD, &b, NULL, &e) < 0) {
		if (errno != ENOENT)
			log_err("cannot read my registration ctl/w/%s/reg: %s", w->wid, e.msg);
		goto out;
	}
	if (mac_check(&w->sd.key, b.p, b.len, &e) < 0 || rec_parse(&r, b.p, b.len, &schema_reg, &e) < 0) {
		log_err("refusing my registration ctl/w/%s/reg: %s", w->wid, e.msg);
		goto out;
	}
	if (strcmp(rec_get(&r, "state"), "dead") == 0) {
		w->dead = true;
	} else if (!w->registered) {
		int k = 0;
		unsigned bad = 0; /* line of an engine that is not one of ours */
		for (size_t i = 0; i < r.n && !bad; i++) {
			int64_t id;
			int slot;
			if (strcmp(r.f[i].key, "engine") != 0)
				continue;
			if (reg_engine_parse(r.f[i].val, &id, &slot) < 0 || slot >= w->nslots) {
				bad = r.f[i].line;
			} else if (k < w->nslots) {
				w->eng[k].id = id;
				w->eng[k].slot = slot;
			}
			k++;
		}
		if (bad) {
			log_err("refusing my registration ctl/w/%s/reg: line %u is not one of my engines (ID SLOT, "
				"SLOT below %d)", w->wid, bad, w->nslots);
		} else if (k != w->nslots) {
			log_err("registration ctl/w/%s/reg lists %d engines, expected %d", w->wid, k, w->nslots);
		} else {
			w->inbox_fd = openat(fd, "inbox", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (w->inbox_fd >= 0) {
				char rel[200];
				w->registered = true;
				snprintf(rel, sizeof rel, "ctl/w/%s/inbox", w->wid);
				watch(w, &w->wd_inbox, rel, IN_MOVED_TO | IN_DELETE);
				snprintf(rel, sizeof rel, "ctl/w/%s", w->wid);
				watch(w, &w->wd_reg, rel, IN_MOVED_TO);
				struct buf ids;
				buf_init(&ids);
				for (int i = 0; i < w->nslots; i++)
					buf_printf(&ids, "%s%lld", i ? "," : "", (long long)w->eng[i].id);
				log_info("worker %s registered: engine id%s %s", w->wid, w->nslots == 1 ? "" : "s", ids.p);
				for (int i = 0; i < w->nslots; i++)
					vars_load(w, &w->eng[i], w->sd.owner);
				buf_free(&ids);
				w->scan_inbox = true;
			}
		}
	}
	rec_free(&r);
out:
	buf_free(&b);
	close(fd);
}

/* Declared dead (we were stopped or cut off too long): our tasks were requeued elsewhere,
 * so running them on would only make duplicates. Kill them and come back as a new worker. */
static void rejoin(struct worker *w)
{
	struct err e;
	/* A task that ended while we were stopped still reports: its result is kept as a late
	 * duplicate (or accepted, if first), rather than dropped as revoked. */
	run_reap(w);
	log_warn("worker %s was declared dead by the controller: killing its tasks and registering again "
		 "with new engine ids", w->wid);
	run_stop_all(w);
	for (size_t i = 0; i < w->nq; i++)
		job_assign_free(w->queue[i]);
	w->nq = 0;
	for (size_t i = 0; i < w->nfin; i++)
		free(w->finished[i]);
	w->nfin = 0;
	if (w->ino >= 0) {
		if (w->wd_inbox >= 0)
			inotify_rm_watch(w->ino, w->wd_inbox);
		if (w->wd_reg >= 0)
			inotify_rm_watch(w->ino, w->wd_reg);
		w->wd_inbox = w->wd_reg = -1;
	}
	for (int i = 0; i < w->nslots; i++)
		w->eng[i].id = 0;
	if (start_identity(w, &e) < 0)
		log_err("cannot register again: %s (retrying)", e.msg);
}

/* One worker per node name: engine variables live in vars/NODE.SLOT, and two workers under
 * one name would overwrite each other's. The lock dies with the process. */
/* The pid in the node's lock file, for the message of a second worker on the node. */
static void lock_note_pid(struct worker *w)
{
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(w->lock_fd, 0) < 0 || pwrite(w->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write my pid into %s/vars/.lock.%s", w->sd.path, w->node);
}

/* Is the process pid running (not gone, not a zombie waiting for its parent)? */
static bool pid_running(pid_t pid)
{
	char st;
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	return proc_state(pid, &st, NULL) < 0 || (st != 'Z' && st != 'X');
}

/* One worker per node name: taken before the worker detaches, so that a second one says why on
 * its terminal and exits 3 instead of vanishing into the log. The lock is the descriptor's, so
 * the worker's shepherds share it: when a worker dies (even by SIGKILL), its shepherds end their
 * tasks (up to kill_grace) before the lock is free. A worker started meanwhile (systemd's
 * restart) waits for that, rather than refusing to start or running beside the old tasks. */
static int lock_node(struct worker *w)
{
	char name[100], pid[32];
	snprintf(name, sizeof name, ".lock.%.60s", w->node);
	int fd = openat(w->sd.vars, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_err("cannot open %s/vars/%s: %s", w->sd.path, name, strerror(errno));
		return -1;
	}
	uint64_t give_up = 0;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		uint64_t holder = 0;
		if (err != EWOULDBLOCK || parse_u64(pid, INT_MAX, &holder) < 0 || pid_running((pid_t)holder)) {
			log_err("another spool-worker already runs as node %s (pid %s): stop it, or give this one "
				"another --name", w->node, pid[0] ? pid : "?");
			close(fd);
			return -1;
		}
		uint64_t now = mono_ms();
		if (!give_up) {
			/* kill_grace, and as long again for a loaded machine */
			give_up = now + 2 * w->sd.conf.kill_grace_ms + 5000;
			log_info("the last worker of node %s (pid %s) has died; waiting (at most %.1f s) for the "
				 "processes of its tasks to end, which hold %s/vars/%s", w->node, pid,
				 (give_up - now) / 1000.0, w->sd.path, name);
		} else if (now >= give_up) {
			log_err("%s/vars/%s is still locked: by processes of the tasks of node %s's last worker (pid %s, "
				"not running here; find them with 'fuser -v %s/vars/%s' and end them), or by a worker "
				"of that name on another machine (give this one another --name)", w->sd.path, name,
				w->node, pid, w->sd.path, name);
			close(fd);
			return -1;
		}
		usleep(50000);
	}
	w->lock_fd = fd; /* stays open: it holds the lock (a forked daemon shares it) */
	lock_note_pid(w);
	return 0;
}

/* SIGUSR1: one line on what this worker holds, for an administrator on the node. */
static void log_status(struct worker *w)
{
	log_info("status: worker %s on %s, pid %d, %s; %d engine%s, %d running, %zu assigned task%s waiting, "
		 "%zu result%s not yet delivered", w->wid, w->node, (int)getpid(),
		 w->registered ? "registered" : "waiting for the controller to register it", w->nslots,
		 w->nslots == 1 ? "" : "s", run_running(w), w->nq, w->nq == 1 ? "" : "s", w->nunsent,
		 w->nunsent == 1 ? "" : "s");
}

/* Any event means a look at the inbox, but one: the controller removing the assignment of a
 * task whose result it took (every task ends so), which changes nothing here; the finished name
 * is forgotten at the next look. A removal of anything else is a revocation: look at it all. A
 * new assignment: a look at that file alone. */
static void drain_inotify(struct worker *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(w->ino, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->wd == w->wd_inbox && (ev->mask & IN_DELETE) && ev->len && inbox_is_finished(w, ev->name))
				continue;
			if (ev->wd == w->wd_inbox && (ev->mask & IN_MOVED_TO) && ev->len) {
				/* a new assignment: that file alone (unless the whole inbox is read anyway) */
				if (!w->scan_inbox && !fs_noted_add(&w->inbox_noted, ev->name))
					w->scan_inbox = true;
				continue;
			}
			w->scan_inbox = true;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "engines", required_argument, NULL, 'n' },
					      { "name", required_argument, NULL, 'N' },
					      { "foreground", no_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { NULL, 0, NULL, 0 } };
	const char *dir = NULL, *name = NULL;
	bool fg = false;
	struct worker w;
	struct err e;
	uint64_t n = 0;
	int o;

	while ((o = getopt_long(argc, argv, "d:n:fhV", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'n':
			if (parse_u64(optarg, MAX_ENGINES, &n) < 0 || n == 0) {
				fprintf(stderr, "spool-worker: -n wants a number of engines from 1 to 1024, not '%s'\n", optarg);
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'N': name = optarg; break;
		case 'f': fg = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("spool-worker %s\n", SPOOL_VERSION); return 0;
		default: usage(stderr); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "spool-worker: unexpected argument '%s'\n", argv[optind]);
		return SPOOL_EXIT_USAGE;
	}
	if (name && !name_ok(name)) {
		fprintf(stderr, "spool-worker: --name '%s' is not a valid node name (letters, digits, '.', '_', '-'; "
			"at most 64)\n", name);
		return SPOOL_EXIT_USAGE;
	}
	log_open("spool-worker", false, LOG_LVL_INFO);
	memset(&w, 0, sizeof w);
	w.wfd = w.done_fd = w.inbox_fd = w.ino = w.wd_inbox = w.wd_ctlw = w.wd_reg = -1;
	if (!(dir = spooldir_choose(dir, &e)) || spooldir_open(&w.sd, dir, &e) < 0 ||
	    spooldir_load_key(&w.sd, &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	if (cred_init(&e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	char chose[300] = "";
	if (!n)
		n = (uint64_t)auto_engines(chose, sizeof chose);
	w.nslots = (int)n;
	w.eng = xcalloc(n, sizeof *w.eng);
	for (uint64_t i = 0; i < n; i++)
		w.eng[i].outfd = w.eng[i].shep_sock = -1;
	if (name)
		snprintf(w.node, sizeof w.node, "%s", name);
	else
		node_name(w.node, sizeof w.node);
	boot_id(w.boot, sizeof w.boot);
	enum log_level lvl = LOG_LVL_INFO;
	log_level_parse(w.sd.conf.log_level, &lvl);
	if (lock_node(&w) < 0) {
		free(w.eng);
		spooldir_close(&w.sd);
		return SPOOL_EXIT_ERROR;
	}
	/* Detached only once everything that can fail at start has been tried: its error reaches
	 * the terminal and the exit code (daemon.c). */
	if (!fg) {
		if (daemon_start("spool-worker") < 0)
			die(SPOOL_EXIT_ERROR, "cannot fork into the background: %s", strerror(errno));
		lock_note_pid(&w);
		char logname[100];
		snprintf(logname, sizeof logname, "worker-%.64s.log", w.node);
		if (daemon_log_open("spool-worker", &w.sd, logname, &e) < 0)
			die(SPOOL_EXIT_ERROR, "%s (set log = \"syslog\" in spool.conf, or run with -f)", e.msg);
	} else {
		log_open("spool-worker", false, lvl);
	}
	if (chose[0])
		log_info("%s (-n sets the number of engines)", chose);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die(SPOOL_EXIT_ERROR, "cannot create a signalfd: %s", strerror(errno));
	w.cg_fd = cgroup_init();
	pyengine_init();

	if (w.sd.conf.use_inotify) {
		w.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w.ino < 0)
			log_warn("inotify unavailable (%s): rescanning every %.2f s instead%s", strerror(errno),
				 w.sd.conf.rescan_ms / 1000.0,
				 errno == EMFILE ? " (raise sysctl fs.inotify.max_user_instances)" : "");
		watch(&w, &w.wd_ctlw, "ctl/w", IN_CREATE | IN_MOVED_TO);
	}
	if (start_identity(&w, &e) < 0)
		die(SPOOL_EXIT_ERROR, "%s", e.msg);
	if (!fg) {
		fprintf(stderr, "spool-worker: node %s runs in the background (pid %d); -f keeps it in the "
			"foreground, logging here\n", w.node, (int)getpid());
		daemon_ready();
	}

	uint64_t next_beat = 0, next_rescan = 0;
	while (!w.stop) {
		uint64_t now = mono_ms();
		if (now >= next_beat) {
			write_beat(&w);
			next_beat = now + w.sd.conf.heartbeat_ms;
		}
		if (now >= next_rescan) {
			check_reg(&w);
			run_retry_unsent(&w);
			w.scan_inbox = true;
			next_rescan = now + w.sd.conf.rescan_ms;
		}
		if (w.dead)
			rejoin(&w);
		if (w.registered && (w.scan_inbox || w.inbox_noted.n))
			inbox_scan(&w);
		run_start_ready(&w);

		uint64_t held = run_release_held(&w);
		now = mono_ms();
		uint64_t wake = next_beat < next_rescan ? next_beat : next_rescan;
		if (held && held < wake)
			wake = held;
		for (int i = 0; i < w.nslots; i++) {
			if (w.eng[i].deadline && !w.eng[i].timed_out && w.eng[i].deadline < wake)
				wake = w.eng[i].deadline;
			if (w.eng[i].kill_at && w.eng[i].kill_at < wake)
				wake = w.eng[i].kill_at;
		}
		int timeout = wake > now ? (int)(wake - now) : 0;
		/* The signals, inotify, the sockets of engines running a Python call, and the start
		 * pipes of the tasks that run (their shepherd writes there when they end). */
		struct pollfd p[2 + 2 * MAX_ENGINES] = { { sfd, POLLIN, 0 }, { w.ino, POLLIN, 0 } };
		size_t npy = pyengine_pollfds(&w, p + 2, MAX_ENGINES);
		size_t np = 2 + npy + run_pollfds(&w, p + 2 + npy, MAX_ENGINES);
		if (poll(p, np, timeout) < 0 && errno != EINTR)
			log_err("poll: %s", strerror(errno));
		if (npy)
			run_python_replies(&w);
		if (np > 2 + npy)
			run_task_pipes(&w, p + 2 + npy, np - 2 - npy);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					w.stop = 1;
				else if (si.ssi_signo == SIGHUP)
					daemon_reload_conf(&w.sd);
				else if (si.ssi_signo == SIGUSR1)
					log_status(&w);
			}
			run_reap(&w);
		}
		if (w.ino >= 0 && (p[1].revents & POLLIN)) {
			drain_inotify(&w);
			if (!w.registered)
				check_reg(&w);
		}
		run_check_timeouts(&w);
		cgroup_tick(w.cg_fd);
	}
	log_info("stopping: %d running task%s get SIGTERM, then SIGKILL after %.1f s; the controller requeues them",
		 run_running(&w), run_running(&w) == 1 ? "" : "s", w.sd.conf.kill_grace_ms / 1000.0);
	run_stop_all(&w);
	shepherd_stop_all(&w);
	pyengine_stop_all(&w);
	cgroup_fini(w.cg_fd);
	struct buf b;
	buf_init(&b);
	rec_begin(&b, "bye");
	rec_put(&b, "wid", w.wid);
	rec_end(&b);
	if (fs_write_atomic(w.wfd, "bye", b.p, b.len, 0644, 0, &e) < 0)
		log_err("cannot write my bye record (the controller will notice by the heartbeat): %s", e.msg);
	buf_free(&b);
	for (size_t i = 0; i < w.nq; i++)
		job_assign_free(w.queue[i]);
	free(w.queue);
	fs_noted_clear(&w.inbox_noted);
	for (size_t i = 0; i < w.nfin; i++)
		free(w.finished[i]);
	free(w.finished);
	free(w.fin_absent);
	for (size_t i = 0; i < w.nunsent; i++)
		free(w.unsent[i].rec);
	free(w.unsent);
	for (int i = 0; i < w.nslots; i++)
		vars_free(&w.eng[i].vars);
	free(w.eng);
	spooldir_close(&w.sd);
	return 0;
}
