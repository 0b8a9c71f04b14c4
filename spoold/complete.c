/* complete.c - take done records from workers/WID/done/ into the queue.
 *
 * The first completion of a task is its result; any later one (a worker that was
 * declared dead and finished anyway, a cancelled task that ended) is kept in the
 * attempts table as a duplicate and never replaces it. Order of effects: commit,
 * then remove the assignment from the inbox, then remove the done record, so a
 * crash anywhere replays harmlessly.
 */
#include "ctl.h"
#include "queue.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "smallfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int status_to_state(const char *status, uint64_t exit_code)
{
	if (strcmp(status, "exited") == 0)
		return exit_code == 0 ? SPOOL_TASK_SUCCEEDED : SPOOL_TASK_FAILED;
	if (strcmp(status, "timeout") == 0)
		return SPOOL_TASK_TIMEDOUT;
	if (strcmp(status, "signaled") == 0 || strcmp(status, "nodir") == 0 || strcmp(status, "noexec") == 0 ||
	    strcmp(status, "error") == 0)
		return SPOOL_TASK_FAILED;
	if (strcmp(status, "cancelled") == 0)
		return SPOOL_TASK_CANCELLED;
	return -1;
}

struct revoke {
	char wid[72], job[72];
	int64_t idx, attempt;
};

/* How long this engine's tasks take (moving average): decides its prefetch. */
static int engine_timing(struct ctl *c, int64_t engine, int64_t wall)
{
	sqlite3_stmt *ea = db_prep(c, "UPDATE engines SET avg_ms = CASE WHEN avg_ms IS NULL THEN ?1 ELSE avg_ms * 0.7 + ?1 * 0.3 END WHERE id = ?2");
	sqlite3_bind_double(ea, 1, (double)wall);
	sqlite3_bind_int64(ea, 2, engine);
	int rc = sqlite3_step(ea);
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot update engine %lld: %s", c->dbpath, (long long)engine, sqlite3_errmsg(c->db));
	sqlite3_reset(ea);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Returns 1 when accepted, 0 when kept as a duplicate, -1 on a bad record, -2 on a database
 * error (the caller rolls back). */
static int apply_done(struct ctl *c, const char *wid, const struct rec *r, struct revoke *rv, struct err *e)
{
	const char *job = rec_get(r, "job"), *status = rec_get(r, "status");
	uint64_t code = rec_get_u64(r, "exit", 0);
	int state = status_to_state(status, code);
	struct queue_result res = {
		.wid = wid, .node = rec_get(r, "node"), .status = status, .reason = rec_get(r, "reason"),
		.idx = (int64_t)rec_get_u64(r, "task", 0), .attempt = (int64_t)rec_get_u64(r, "attempt", 0),
		.engine = (int64_t)rec_get_u64(r, "engine", 0), .wall_ms = (int64_t)rec_get_u64(r, "wall_ms", 0),
		.exit_code = rec_get(r, "exit") ? (int64_t)code : -1,
		.signal = rec_get(r, "signal") ? (int64_t)rec_get_u64(r, "signal", 0) : -1,
	};
	struct queue_revoke qr;

	rv->wid[0] = '\0';
	if (strcmp(rec_get(r, "wid"), wid) != 0)
		return err_set(e, "done record names worker '%s' but sits in the directory of %s", rec_get(r, "wid"), wid);
	if (state < 0)
		return err_set(e, "unknown status '%s'", status);
	res.state = (enum spool_task_state)state;
	int64_t rid = name_ok(job) ? db_job_rid(c, job) : -1;
	if (rid < 0)
		return err_set(e, "done record for job '%s', which does not exist", job);
	int accepted = queue_finish(c, rid, &res, &qr);
	if (accepted == QUEUE_NO_TASK)
		return err_set(e, "done record for task %s.%lld, which does not exist", job, (long long)res.idx);
	if (accepted < 0)
		return -2;
	if (accepted && engine_timing(c, res.engine, res.wall_ms) < 0)
		return -2;
	if (accepted == QUEUE_RETRIED) { /* queued again: the task goes on, nothing to revoke */
		log_info("task %s.%lld: attempt %lld %s, run again (--retry-on-failure)", job, (long long)res.idx,
			 (long long)res.attempt, status);
		return 1;
	}
	if (qr.wid[0]) {
		snprintf(rv->wid, sizeof rv->wid, "%s", qr.wid);
		snprintf(rv->job, sizeof rv->job, "%s", job);
		rv->idx = res.idx;
		rv->attempt = qr.attempt;
	}
	if (!accepted)
		log_info("task %s.%lld: result of attempt %lld from %s kept as a duplicate (the task already ended)",
			 job, (long long)res.idx, (long long)res.attempt, wid);
	return accepted;
}

#define DONE_BATCH 4096

static void scan_worker_done(struct ctl *c, struct wlive *w)
{
	char path[200];
	char **names;
	struct err e;
	struct buf b;
	long n;
	int dfd;

	snprintf(path, sizeof path, "%s/done", w->wid);
	dfd = openat(c->sd.workers, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	n = fs_list(dfd, &names, &e);
	if (n <= 0) {
		if (n == 0)
			free(names);
		close(dfd);
		return;
	}
	if (n > DONE_BATCH) { /* the rest at the next look */
		w->done_dirty = true;
		c->scan_done_some = true;
	}
	long lim = n > DONE_BATCH ? DONE_BATCH : n;
	struct revoke *rv = xcalloc((size_t)lim, sizeof *rv);
	char *consumed = xcalloc((size_t)lim, 1);
	buf_init(&b);
	if (db_begin_lazy(c) < 0)
		goto out;
	for (long i = 0; i < lim; i++) {
		struct rec r;
		struct stat st;
		if (fs_read_file(dfd, names[i], MAX_SMALL_RECORD, &b, &st, &e) < 0) {
			if (errno != ENOENT)
				quarantine_file(c, dfd, names[i], e.msg);
			continue;
		}
		if (!worker_account(c, st.st_uid)) {
			snprintf(e.msg, sizeof e.msg, "result written by uid %u, not by a worker account (the spool's "
				 "owner, uid %u, or root)", (unsigned)st.st_uid, (unsigned)c->sd.owner);
			quarantine_file(c, dfd, names[i], e.msg);
			continue;
		}
		if (rec_parse(&r, b.p, b.len, &schema_done, &e) < 0) {
			quarantine_file(c, dfd, names[i], e.msg);
			continue;
		}
		int rc = apply_done(c, w->wid, &r, &rv[i], &e);
		rec_free(&r);
		if (rc == -2) {
			db_rollback(c);
			log_err("results from worker %s stay in its done/ directory and will be retried", w->wid);
			goto out;
		}
		if (rc < 0) {
			quarantine_file(c, dfd, names[i], e.msg);
			continue;
		}
		consumed[i] = 1;
	}
	/* Committed without a sync of its own: the assignment pass that follows in this loop
	 * iteration syncs it with its own commit (or complete_settle does). Until then nothing is
	 * removed, so a power cut before the sync replays the results. */
	if (db_commit_lazy(c) < 0) {
		log_err("results from worker %s stay in its done/ directory and will be retried", w->wid);
		goto out;
	}
	if (!c->nconsumed)
		c->consumed_synced = c->synced;
	for (long i = 0; i < lim; i++) {
		if (!consumed[i])
			continue;
		c->consumed = xrealloc(c->consumed, (c->nconsumed + 1) * sizeof *c->consumed);
		struct consumed *k = &c->consumed[c->nconsumed++];
		snprintf(k->wid, sizeof k->wid, "%s", w->wid);
		snprintf(k->name, sizeof k->name, "%s", names[i]);
		snprintf(k->rv_wid, sizeof k->rv_wid, "%s", rv[i].wid);
		snprintf(k->rv_job, sizeof k->rv_job, "%s", rv[i].job);
		k->rv_idx = rv[i].idx;
		k->rv_attempt = rv[i].attempt;
	}
	c->want_assign = c->engines_dirty = true;
out:
	free(rv);
	free(consumed);
	buf_free(&b);
	fs_list_free(names, n);
	close(dfd);
}

/* Once the results committed lazily are durable: remove their assignments (and the revoked runs'
 * ones) and their done records. */
void complete_settle(struct ctl *c)
{
	if (!c->nconsumed)
		return;
	bool durable = c->synced != c->consumed_synced || db_sync(c) == 0;
	int dfd = -1, ifd = -1;
	const char *dfd_wid = "";
	char ifd_wid[sizeof c->consumed[0].wid] = "";
	for (size_t i = 0; durable && i < c->nconsumed; i++) {
		const struct consumed *k = &c->consumed[i];
		char path[200];
		struct taskname tn; /* names are JOB.TASK.ATTEMPT, the same as the assignment's */
		if (taskname_parse(k->name, &tn) == 0)
			inbox_remove_cached(c, k->wid, tn.job, tn.task, tn.attempt, &ifd, ifd_wid, sizeof ifd_wid);
		if (k->rv_wid[0])
			inbox_remove(c, k->rv_wid, k->rv_job, k->rv_idx, k->rv_attempt);
		snprintf(path, sizeof path, "%s/done", k->wid);
		if (strcmp(dfd_wid, k->wid) != 0) { /* consecutive results are mostly one worker's */
			if (dfd >= 0)
				close(dfd);
			dfd = openat(c->sd.workers, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dfd_wid = k->wid;
		}
		if (dfd < 0 || (unlinkat(dfd, k->name, 0) < 0 && errno != ENOENT))
			log_err("cannot remove consumed result %s/workers/%s/%s: %s", c->sd.path, path, k->name,
				strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	if (ifd >= 0)
		close(ifd);
	if (!durable)
		log_err("%zu results stay in the workers' done/ directories until the database can be synced (they "
			"will be taken again)", c->nconsumed);
	c->nconsumed = 0;
}

void complete_scan(struct ctl *c, bool all)
{
	for (size_t i = 0; i < c->nw; i++) {
		if (!all && !c->w[i].done_dirty)
			continue;
		c->w[i].done_dirty = false;
		scan_worker_done(c, &c->w[i]);
	}
}
