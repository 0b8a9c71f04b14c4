/* api_wait.c - the waiting half of the client API: collect with callbacks, the engine
 * table, waiting for engines, push/pull, and whether the controller runs.
 *
 * Waiting watches ctl/ and ctl/jobs/ with inotify when it can, and always re-reads on a
 * timer (rescan_interval), so it works on NFS where inotify cannot see other nodes. A job's
 * wait on a local spool sleeps on spoold's futex, ctl/wake (bell_wait), and elsewhere starts
 * without inotify (see quick_wait): most jobs end before it would pay off.
 */
#include "spool.h"
#include "api_job.h"
#include "fsio.h"
#include "ids.h"
#include "rec.h"
#include "schema.h"
#include "smallfmt.h"
#include "spooldir.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Closing an inotify instance that held a watch costs the kernel an SRCU grace period (about
 * 4-15 ms here, paid at close or at exit): more than a short job takes from submit to result.
 * So a job's wait polls its state file with stat for this long before it sets one up. */
#define QUICK_WAIT_MS 50
#define QUICK_STEP_MIN_US 100  /* a one-task job ends 1-3 ms after its submit returns */
#define QUICK_STEP_MAX_US 300  /* intervals grow by an eighth each poll up to this: about 180
				* stat calls in all (2 us each); a short job is seen within 0.1-0.2 ms */
#define QUICK_SLACK_NS 5000    /* the kernel may sleep 50 us more than asked by default */

static int read_counter(struct spooldir *sd, uint64_t *v)
{
	return fs_read_u64(sd->ctl, "beat", v);
}

/* On the controller's node its pid can be checked; elsewhere, watch its beat counter change. */
int spool_controller_running(spool_t *sp, char *out, size_t outsz, int patient)
{
	struct spooldir *sd = api_spooldir(sp);
	struct buf b;
	struct rec r;
	char node[72], boot[72];
	int running = 0;
	uint64_t b1, b2;

	buf_init(&b);
	if (fs_read_file(sd->ctl, "controller", MAX_SMALL_RECORD, &b, NULL, NULL) < 0 ||
	    rec_parse(&r, b.p, b.len, &schema_ctlinfo, NULL) < 0) {
		snprintf(out, outsz, "NOT RUNNING (it never ran on this spool: start it with 'spoold -d %s')", sd->path);
		buf_free(&b);
		return 0;
	}
	node_name(node, sizeof node);
	boot_id(boot, sizeof boot);
	const char *cn = rec_get(&r, "node");
	uint64_t pid = rec_get_u64(&r, "pid", 0), start = rec_get_u64(&r, "start", 0);
	if (read_counter(sd, &b1) < 0) {
		running = 0;
	} else if (strcmp(cn, node) == 0 && strcmp(rec_get(&r, "boot"), boot) == 0) {
		running = pid > 0 && pid < INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM) &&
			  (!start || proc_start_ticks((pid_t)pid) == start);
	} else if (patient) {
		usleep((useconds_t)(sd->conf.heartbeat_ms + 300) * 1000);
		running = read_counter(sd, &b2) == 0 && b2 != b1;
	} else {
		running = 1; /* cannot tell quickly from another node; assume the best */
	}
	if (running)
		snprintf(out, outsz, "running (pid %llu on %s)", (unsigned long long)pid, cn);
	else
		snprintf(out, outsz, "NOT RUNNING (last ran as pid %llu on %s): jobs wait in the spool until it "
			 "starts: 'spoold -d %s'", (unsigned long long)pid, cn, sd->path);
	rec_free(&r);
	buf_free(&b);
	return running;
}

/* A watch on DIR (relative to the spool) or -1; the caller re-reads on a timer anyway. */
static int watch_dir(struct spooldir *sd, const char *rel)
{
	char path[4200];
	if (!sd->conf.use_inotify)
		return -1;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	snprintf(path, sizeof path, "%s/%s", sd->path, rel);
	if (fd >= 0 && inotify_add_watch(fd, path, IN_MOVED_TO | IN_ONLYDIR) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void nap(struct spooldir *sd, int ino)
{
	struct pollfd p = { ino, POLLIN, 0 };
	int tmo = (int)sd->conf.rescan_ms;
	if (ino >= 0 && poll(&p, 1, tmo) > 0) {
		char buf[4096];
		while (read(ino, buf, sizeof buf) > 0)
			;
	} else if (ino < 0) {
		poll(NULL, 0, tmo < 50 ? tmo : 50);
	}
}

/* What identifies one version of a job's state file (rewritten by rename: a new inode). */
struct stamp {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

static void state_stamp(struct spooldir *sd, const char *jobid, struct stamp *s)
{
	char name[64];
	struct stat st;
	snprintf(name, sizeof name, "%s.state", jobid);
	memset(s, 0, sizeof *s);
	if (fstatat(sd->ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	*s = (struct stamp){ 1, st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim };
}

static int stamp_same(const struct stamp *a, const struct stamp *b)
{
	return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       timespec_cmp(&a->mtime, &b->mtime) == 0 && timespec_cmp(&a->ctime, &b->ctime) == 0;
}

/* Sleep until the job's state differs from *seen (taken before the last read) or until the
 * monotonic time `until` (ms). Cheap: one stat per poll. A change it misses (an attribute cache
 * on NFS) is seen by the inotify-or-timer wait that follows the quick phase. */
static void quick_wait(struct spooldir *sd, const char *jobid, const struct stamp *seen, uint64_t until,
		       long *step_us)
{
	struct stamp now;
	int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0); /* this thread's, put back after */
	if (slack > QUICK_SLACK_NS)
		prctl(PR_SET_TIMERSLACK, QUICK_SLACK_NS, 0, 0, 0);
	while (mono_ms() < until) {
		struct timespec ts = { 0, *step_us * 1000 };
		nanosleep(&ts, NULL);
		if (*step_us < QUICK_STEP_MAX_US)
			*step_us += *step_us / 8 + 1;
		state_stamp(sd, jobid, &now);
		if (!stamp_same(&now, seen))
			break;
	}
	if (slack > QUICK_SLACK_NS)
		prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
}

/* ctl/wake, spoold's count of publish passes (spoold/wake.c), mapped read-only: only on a local
 * filesystem (a futex joins the processes of one kernel), and only the file spoold made (its
 * account's or root's, a regular file). NULL: none, wait as on NFS. */
static const uint32_t *bell_open(struct spooldir *sd)
{
	if (!sd->local_fs)
		return NULL;
	int fd = openat(sd->ctl, SPOOLDIR_WAKE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	void *m = MAP_FAILED;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= SPOOLDIR_WAKE_SIZE &&
	    (st.st_uid == sd->owner || st.st_uid == 0))
		m = mmap(NULL, SPOOLDIR_WAKE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	return m == MAP_FAILED ? NULL : m;
}

/* Sleep until the job's state differs from *seen (taken before the last read) or until the
 * monotonic time `until` (ms). The count is read before the stat: a state published after the
 * stat has moved it, and the futex does not sleep on a count that moved. Woken by every publish
 * (of any job): a stat each. */
static void bell_wait(const uint32_t *bell, struct spooldir *sd, const char *jobid, const struct stamp *seen,
		      uint64_t until)
{
	for (;;) {
		uint32_t v = __atomic_load_n(bell, __ATOMIC_ACQUIRE);
		struct stamp now;
		state_stamp(sd, jobid, &now);
		uint64_t t = mono_ms();
		if (!stamp_same(&now, seen) || t >= until)
			return;
		struct timespec ts = { (time_t)((until - t) / 1000), (long)((until - t) % 1000) * 1000000 };
		syscall(SYS_futex, bell, FUTEX_WAIT, v, &ts, NULL, 0);
	}
}

/* From the counts of a summary. */
static int outcome(const struct spool_job *j)
{
	uint64_t term = 0;
	for (int s = SPOOL_TASK_SUCCEEDED; s < SPOOL_TASK_NSTATES; s++)
		term += j->counts[s];
	if (!j->ntasks || term < j->ntasks)
		return SPOOL_EXIT_PENDING;
	return j->counts[SPOOL_TASK_SUCCEEDED] == j->ntasks ? SPOOL_EXIT_OK : SPOOL_EXIT_TASK_FAILED;
}

/* What a collect has handed out so far (follow), chunk by chunk. */
struct seen {
	size_t nchunks;
	ino_t *ino;          /* of each chunk when last read */
	uint32_t *shown;     /* terminal tasks of each chunk handed out */
	unsigned char *done; /* per task: handed out */
};

static void seen_free(struct seen *s)
{
	free(s->ino);
	free(s->shown);
	free(s->done);
	memset(s, 0, sizeof *s);
}

/* Hand each task of chunk k (or, with full, of a state read whole: formats 1 and 3) that is terminal to
 * the callback: every one (s NULL), or those not handed out before. */
static int hand_out(spool_t *sp, const struct spool_job *j, const struct spool_job *full, uint64_t k, struct seen *s,
		    const struct spool_collect_opts *o, char *err, size_t errlen)
{
	struct job_chunk ch;
	const struct spool_task *t;
	uint64_t first;
	size_t n;
	if (full) {
		n = jobstate_chunk_tasks(full->ntasks, k, &first);
		t = &full->tasks[first - 1];
	} else {
		if (s && s->ino[k] && !job_chunk_changed(sp, j, k, &(struct job_chunk){ .ino = s->ino[k] }))
			return 0;
		if (job_chunk_read(sp, j, k, &ch, err, errlen) < 0)
			return -1;
		if (s)
			s->ino[k] = ch.ino;
		t = ch.tasks;
		n = ch.n;
		first = ch.first;
	}
	for (size_t i = 0; i < n; i++) {
		if (!spool_task_terminal(&t[i]) || (s && s->done[first - 1 + i]))
			continue;
		if (s) {
			s->done[first - 1 + i] = 1;
			s->shown[k]++;
		}
		if (o->on_result)
			o->on_result(full ? full : j, &t[i], o->arg);
	}
	if (!full)
		job_chunk_free(&ch);
	return 0;
}

/* Every chunk (s NULL), or those with tasks not yet handed out; a chunk is read only when it
 * was rewritten since the last look, so a look costs O(chunks changed). */
static int hand_out_all(spool_t *sp, struct spool_job *j, struct seen *s, const struct spool_collect_opts *o,
			char *err, size_t errlen)
{
	struct spool_job *got = NULL; /* a format 1 state, read again whole */
	const struct spool_job *full = NULL;
	int nf, rc = 0;
	if (job_tasks_inline(j)) {
		/* format 3: the tasks are in the summary just read; format 1: read it again */
		if (job_inline_load(j) == 0)
			full = j;
		else if (spool_job_get(sp, j->id, &got, &nf, err, errlen) < 0)
			return -1;
		else
			full = got;
	}
	uint64_t nchunks = jobstate_nchunks(full ? full->ntasks : j->ntasks);
	if (s && s->nchunks < nchunks) {
		s->ino = xrealloc(s->ino, nchunks * sizeof *s->ino);
		s->shown = xrealloc(s->shown, nchunks * sizeof *s->shown);
		memset(s->ino + s->nchunks, 0, (nchunks - s->nchunks) * sizeof *s->ino);
		memset(s->shown + s->nchunks, 0, (nchunks - s->nchunks) * sizeof *s->shown);
		s->done = xcalloc(full ? full->ntasks : j->ntasks, 1);
		s->nchunks = nchunks;
	}
	for (uint64_t k = 0; rc == 0 && k < nchunks; k++) {
		uint64_t first;
		if (s && s->shown[k] >= jobstate_chunk_tasks(j->ntasks, k, &first))
			continue; /* all of it handed out */
		rc = hand_out(sp, j, full, k, s, o, err, errlen);
	}
	spool_job_free(got);
	return rc;
}

int spool_collect(spool_t *sp, const char *jobid, const struct spool_collect_opts *o, struct spool_job **out,
		  char *err, size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	uint64_t start = mono_ms();
	int wait = o->flags & SPOOL_COLLECT_WAIT, follow = o->flags & SPOOL_COLLECT_FOLLOW;
	int ino = -1, nf, rc;
	const uint32_t *bell = wait ? bell_open(sd) : NULL; /* on a local spool: the futex */
	bool quick = wait && !bell; /* else the stat-polling phase (quick_wait), then inotify */
	long step_us = QUICK_STEP_MIN_US;
	struct stamp stamp;
	struct seen seen = { 0 };
	uint64_t handed = 0; /* follow: terminal tasks in the summary when last handed out */
	struct spool_job *j = NULL;

	if (out)
		*out = NULL;
	for (;;) {
		spool_job_free(j);
		if (quick || bell)
			state_stamp(sd, jobid, &stamp); /* before the read: a later change is never missed */
		if (spool_job_summary(sp, jobid, &j, &nf, err, errlen) < 0) {
			j = NULL;
			rc = nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
			break;
		}
		uint64_t term = 0;
		for (int s = SPOOL_TASK_SUCCEEDED; s < SPOOL_TASK_NSTATES; s++)
			term += j->counts[s];
		if (follow && j->ntasks && term > handed) {
			if (hand_out_all(sp, j, &seen, o, err, errlen) < 0) {
				rc = SPOOL_EXIT_ERROR;
				break;
			}
			handed = term;
		}
		uint64_t elapsed = mono_ms() - start;
		int timed_out = o->timeout_ms && elapsed >= o->timeout_ms;
		if (j->done || !wait || timed_out) {
			rc = outcome(j);
			if (timed_out && rc == SPOOL_EXIT_PENDING && err)
				snprintf(err, errlen, "gave up waiting for job %s after %.1f s", jobid, elapsed / 1000.0);
			if (!follow && o->on_result && j->ntasks && hand_out_all(sp, j, NULL, o, err, errlen) < 0)
				rc = SPOOL_EXIT_ERROR;
			break;
		}
		if (o->on_progress)
			o->on_progress(j, elapsed, o->arg);
		if (bell) { /* and a look every rescan_interval, as the other ways */
			uint64_t until = mono_ms() + sd->conf.rescan_ms;
			if (o->timeout_ms && start + o->timeout_ms < until)
				until = start + o->timeout_ms;
			bell_wait(bell, sd, jobid, &stamp, until);
			continue;
		}
		if (quick && elapsed < QUICK_WAIT_MS) {
			uint64_t until = start + QUICK_WAIT_MS;
			if (o->timeout_ms && start + o->timeout_ms < until)
				until = start + o->timeout_ms;
			quick_wait(sd, jobid, &stamp, until, &step_us);
			continue;
		}
		if (quick) {
			/* A longer job: from now on inotify (and the timer). Read again once the watch
			 * is set, so that a change just before it is not slept through. */
			quick = false;
			ino = watch_dir(sd, "ctl/jobs");
			continue;
		}
		nap(sd, ino);
	}
	if (ino >= 0)
		close(ino);
	if (bell)
		munmap((void *)bell, SPOOLDIR_WAKE_SIZE);
	seen_free(&seen);
	if (out)
		*out = j;
	else
		spool_job_free(j);
	return rc;
}

int spool_engines(spool_t *sp, struct spool_engine **out, size_t *n, char *err, size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	struct buf b;
	struct rec r;
	struct err e;

	*out = NULL;
	*n = 0;
	buf_init(&b);
	if (fs_read_file(sd->ctl, "engines", 64u * 1024 * 1024, &b, NULL, &e) < 0) {
		int absent = errno == ENOENT;
		buf_free(&b);
		if (absent)
			return 0; /* no controller has run yet: no engines */
		snprintf(err, errlen, "cannot read %s/ctl/engines: %s", sd->path, e.msg);
		return -1;
	}
	if (rec_parse(&r, b.p, b.len, &schema_engines, &e) < 0) {
		snprintf(err, errlen, "cannot parse %s/ctl/engines: %s", sd->path, e.msg);
		buf_free(&b);
		return -1;
	}
	*out = xcalloc(r.n + 1, sizeof **out);
	for (size_t i = 0; i < r.n; i++) {
		if (engine_line_parse(r.f[i].val, &(*out)[*n]) < 0) {
			snprintf(err, errlen, "cannot parse %s/ctl/engines, line %u: not an engine as the controller "
				 "writes it (is a spoold of another version running? restart it)", sd->path, r.f[i].line);
			rec_free(&r);
			buf_free(&b);
			spool_engines_free(*out);
			*out = NULL;
			*n = 0;
			return -1;
		}
		(*n)++;
	}
	rec_free(&r);
	buf_free(&b);
	return 0;
}

void spool_engines_free(struct spool_engine *e)
{
	free(e);
}

int spool_wait_engines(spool_t *sp, size_t want, uint64_t timeout_ms, char *err, size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	uint64_t start = mono_ms();
	int ino = watch_dir(sd, "ctl");
	int rc = -1;
	for (;;) {
		struct spool_engine *e;
		size_t n, alive = 0;
		if (spool_engines(sp, &e, &n, err, errlen) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			alive += strcmp(e[i].state, "dead") != 0;
		spool_engines_free(e);
		if (alive >= want) {
			rc = 0;
			break;
		}
		if (timeout_ms && mono_ms() - start >= timeout_ms) {
			snprintf(err, errlen, "only %zu of %zu engines alive after %.1f s (start more with spool-worker -n N)",
				 alive, want, timeout_ms / 1000.0);
			rc = -SPOOL_ERR_TIMEOUT;
			break;
		}
		nap(sd, ino);
	}
	if (ino >= 0)
		close(ino);
	return rc;
}

static int builtin_job(spool_t *sp, const char *builtin, const char *targets, const char *const *args, size_t n,
		       char jobid[16], char *err, size_t errlen)
{
	struct spool_job_spec s = { .argv = args, .argc = n, .env_set = 1, .retries = -1, .is_apply = 1,
				    .targets = targets, .builtin = builtin };
	if (!n) {
		snprintf(err, errlen, "%s: nothing to %s", builtin, builtin);
		return -SPOOL_ERR_USAGE;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(args[i], "=");
		int has_eq = args[i][len] == '=';
		if (!var_name_ok(args[i], len) || has_eq != (strcmp(builtin, "push") == 0)) {
			snprintf(err, errlen, "%s: '%s' is not %s (NAME: letters, digits and _, not starting with a "
				 "digit, at most 64)", builtin, args[i], strcmp(builtin, "push") == 0 ? "NAME=VALUE" : "NAME");
			return -SPOOL_ERR_USAGE;
		}
		if (strlen(args[i]) - len > MAX_VAR_VALUE + 1) {
			snprintf(err, errlen, "push: the value of %.*s is longer than %d bytes", (int)len, args[i],
				 MAX_VAR_VALUE);
			return -SPOOL_ERR_USAGE;
		}
	}
	return spool_submit(sp, &s, jobid, err, errlen);
}

int spool_push(spool_t *sp, const char *targets, const char *const *assignments, size_t n, char jobid[16],
	       char *err, size_t errlen)
{
	return builtin_job(sp, "push", targets, assignments, n, jobid, err, errlen);
}

int spool_pull(spool_t *sp, const char *targets, const char *const *names, size_t n, char jobid[16], char *err,
	       size_t errlen)
{
	return builtin_job(sp, "pull", targets, names, n, jobid, err, errlen);
}
