/* complete.c - take done records from workers/WID/done/ into the queue.
 *
 * The first completion of a task is its result; any later one (a worker that was
 * declared dead and finished anyway, a cancelled task that ended) is kept in the
 * attempts table as a duplicate and never replaces it. Order of effects: commit,
 * then remove the assignment from the inbox, then remove the done record, so a
 * crash anywhere replays harmlessly.
 */
#include "ctl.h"
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

struct outcome {
	int state;
	const char *status;
};

static int status_to_state(const char *status, uint64_t exit_code)
{
	if (strcmp(status, "exited") == 0)
		return exit_code == 0 ? T_SUCCEEDED : T_FAILED;
	if (strcmp(status, "timeout") == 0)
		return T_TIMEDOUT;
	if (strcmp(status, "signaled") == 0 || strcmp(status, "nodir") == 0 || strcmp(status, "noexec") == 0 ||
	    strcmp(status, "error") == 0)
		return T_FAILED;
	if (strcmp(status, "cancelled") == 0)
		return T_CANCELLED;
	return -1;
}

struct revoke {
	char wid[72], job[72];
	int64_t idx, attempt;
};

/* Returns 1 when accepted, 0 when kept as a duplicate, -1 on a bad record or database error. */
static int apply_done(struct ctl *c, const char *wid, const struct rec *r, struct revoke *rv, struct err *e)
{
	const char *job = rec_get(r, "job"), *status = rec_get(r, "status");
	int64_t idx = (int64_t)rec_get_u64(r, "task", 0), attempt = (int64_t)rec_get_u64(r, "attempt", 0);
	uint64_t code = rec_get_u64(r, "exit", 0);
	int state = status_to_state(status, code);
	int accepted = 0;

	rv->wid[0] = '\0';
	if (strcmp(rec_get(r, "wid"), wid) != 0)
		return err_set(e, "done record names worker '%s' but sits in the directory of %s", rec_get(r, "wid"), wid);
	if (state < 0)
		return err_set(e, "unknown status '%s'", status);
	int64_t rid = name_ok(job) ? db_job_rid(c, job) : -1;
	if (rid < 0)
		return err_set(e, "done record for job '%s', which does not exist", job);
	sqlite3_stmt *sel = db_prep(c, "SELECT state, wid, attempt FROM tasks WHERE rid = ? AND idx = ?");
	sqlite3_bind_int64(sel, 1, rid);
	sqlite3_bind_int64(sel, 2, idx);
	if (sqlite3_step(sel) != SQLITE_ROW) {
		sqlite3_reset(sel);
		return err_set(e, "done record for task %s.%lld, which does not exist", job, (long long)idx);
	}
	int cur = sqlite3_column_int(sel, 0);
	const char *cur_wid = (const char *)sqlite3_column_text(sel, 1);
	int64_t cur_attempt = sqlite3_column_int64(sel, 2);
	if (cur < T_SUCCEEDED) {
		accepted = 1;
		/* A late result from an earlier attempt wins over a re-run still in progress. */
		if (cur_wid && (strcmp(cur_wid, wid) != 0 || cur_attempt != attempt)) {
			snprintf(rv->wid, sizeof rv->wid, "%s", cur_wid);
			snprintf(rv->job, sizeof rv->job, "%s", job);
			rv->idx = idx;
			rv->attempt = cur_attempt;
		}
	}
	sqlite3_reset(sel);
	if (accepted) {
		sqlite3_stmt *up = db_prep(c,
			"UPDATE tasks SET state = ?, attempt = ?, engine = ?, wid = ?, node = ?, exit = ?, signal = ?,"
			" wall_ms = ?, reason = ? WHERE rid = ? AND idx = ?");
		sqlite3_bind_int(up, 1, state);
		sqlite3_bind_int64(up, 2, attempt);
		sqlite3_bind_int64(up, 3, (int64_t)rec_get_u64(r, "engine", 0));
		sqlite3_bind_text(up, 4, wid, -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 5, rec_get(r, "node"), -1, SQLITE_STATIC);
		if (rec_get(r, "exit"))
			sqlite3_bind_int64(up, 6, (int64_t)code);
		if (rec_get(r, "signal"))
			sqlite3_bind_int64(up, 7, (int64_t)rec_get_u64(r, "signal", 0));
		sqlite3_bind_int64(up, 8, (int64_t)rec_get_u64(r, "wall_ms", 0));
		if (rec_get(r, "reason"))
			sqlite3_bind_text(up, 9, rec_get(r, "reason"), -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 10, rid);
		sqlite3_bind_int64(up, 11, idx);
		int rc = sqlite3_step(up);
		sqlite3_reset(up);
		if (rc != SQLITE_DONE)
			return err_set(e, "database: %s", sqlite3_errmsg(c->db));
		/* How long this engine's tasks take (moving average): decides its prefetch. */
		sqlite3_stmt *ea = db_prep(c, "UPDATE engines SET avg_ms = CASE WHEN avg_ms IS NULL THEN ?1 ELSE avg_ms * 0.7 + ?1 * 0.3 END WHERE id = ?2");
		sqlite3_bind_double(ea, 1, (double)rec_get_u64(r, "wall_ms", 0));
		sqlite3_bind_int64(ea, 2, (int64_t)rec_get_u64(r, "engine", 0));
		sqlite3_step(ea);
		sqlite3_reset(ea);
		sqlite3_stmt *jd = db_prep(c, "UPDATE jobs SET dirty = 1, nterminal = nterminal + 1 WHERE rid = ?");
		sqlite3_bind_int64(jd, 1, rid);
		sqlite3_step(jd);
		sqlite3_reset(jd);
	} else {
		sqlite3_stmt *jd = db_prep(c, "UPDATE jobs SET dirty = 1 WHERE rid = ?");
		sqlite3_bind_int64(jd, 1, rid);
		sqlite3_step(jd);
		sqlite3_reset(jd);
	}
	sqlite3_stmt *at = db_prep(c,
		"INSERT OR IGNORE INTO attempts(rid, idx, attempt, wid, engine, status, exit, signal, accepted)"
		" VALUES(?,?,?,?,?,?,?,?,?)");
	sqlite3_bind_int64(at, 1, rid);
	sqlite3_bind_int64(at, 2, idx);
	sqlite3_bind_int64(at, 3, attempt);
	sqlite3_bind_text(at, 4, wid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(at, 5, (int64_t)rec_get_u64(r, "engine", 0));
	sqlite3_bind_text(at, 6, status, -1, SQLITE_STATIC);
	if (rec_get(r, "exit"))
		sqlite3_bind_int64(at, 7, (int64_t)code);
	if (rec_get(r, "signal"))
		sqlite3_bind_int64(at, 8, (int64_t)rec_get_u64(r, "signal", 0));
	sqlite3_bind_int(at, 9, accepted);
	sqlite3_step(at);
	sqlite3_reset(at);
	if (!accepted)
		log_info("task %s.%lld: result of attempt %lld from %s kept as a duplicate (the task already ended)",
			 job, (long long)idx, (long long)attempt, wid);
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
	if (n > DONE_BATCH)
		c->scan_done = true;
	long lim = n > DONE_BATCH ? DONE_BATCH : n;
	struct revoke *rv = xcalloc((size_t)lim, sizeof *rv);
	char *consumed = xcalloc((size_t)lim, 1);
	buf_init(&b);
	if (db_begin(c) < 0)
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
		if (rc < 0) {
			quarantine_file(c, dfd, names[i], e.msg);
			continue;
		}
		consumed[i] = 1;
	}
	if (db_commit(c) < 0) {
		log_err("results from worker %s stay in its done/ directory and will be retried", w->wid);
		goto out;
	}
	for (long i = 0; i < lim; i++) {
		if (!consumed[i])
			continue;
		/* names are JOB.TASK.ATTEMPT, the same as the assignment's */
		struct taskname tn;
		if (taskname_parse(names[i], &tn) == 0)
			inbox_remove(c, w->wid, tn.job, tn.task, tn.attempt);
		if (rv[i].wid[0])
			inbox_remove(c, rv[i].wid, rv[i].job, rv[i].idx, rv[i].attempt);
		if (unlinkat(dfd, names[i], 0) < 0 && errno != ENOENT)
			log_err("cannot remove consumed result %s/workers/%s/done/%s: %s", c->sd.path, w->wid, names[i],
				strerror(errno));
	}
	c->want_assign = c->engines_dirty = true;
out:
	free(rv);
	free(consumed);
	buf_free(&b);
	fs_list_free(names, n);
	close(dfd);
}

void complete_scan(struct ctl *c)
{
	for (size_t i = 0; i < c->nw; i++)
		scan_worker_done(c, &c->w[i]);
}
