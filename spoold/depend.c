/* depend.c - a job record's dependencies (after, afterok, after_each), checked and resolved as far
 * as they can be when the controller accepts the job (spool-layout.md 5.5). What is still pending
 * becomes rows of the deps table, which queue.c resolves as the jobs waited on end.
 *
 * A dependency names a job the queue has already accepted: none can name a later job, so no
 * cycle can form. On ingest a record that names a job still in incoming/ (taken later in the same
 * pass because of a tie in submission order) is taken again once, after the others.
 */
#include "ctl.h"
#include "depend.h"
#include "ids.h"
#include "log.h"
#include "queue.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The record's after, afterok and after_each fields are well formed (validate_job). */
int deps_validate(const struct rec *r, struct err *e)
{
	char job[NAME_MAX_LEN + 1];
	uint64_t task;
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const char *k = r->f[i].key;
		bool each = strcmp(k, "after_each") == 0;
		if (!each && strcmp(k, "after") != 0 && strcmp(k, "afterok") != 0)
			continue;
		if (jobref_parse(r->f[i].val, job, sizeof job, &task) < 0 || (each && task))
			return err_set(e, "%s '%.100s' on line %u is not %s", k, r->f[i].val, r->f[i].line,
				       each ? "a job id" : "JOB or JOB.TASK");
		if (each && rec_get_u64(r, "map", 0) == 0)
			return err_set(e, "after_each is for a map: this job is not one");
		n++;
	}
	if (n > MAX_DEPS + 1)
		return err_set(e, "%zu dependencies, limit %d", n, MAX_DEPS + 1);
	return 0;
}

bool deps_in_incoming(struct ctl *c, const struct rec *r)
{
	char job[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 8];
	uint64_t task;
	for (size_t i = 0; i < r->n; i++) {
		const char *k = r->f[i].key;
		if (strcmp(k, "after") != 0 && strcmp(k, "afterok") != 0 && strcmp(k, "after_each") != 0)
			continue;
		if (jobref_parse(r->f[i].val, job, sizeof job, &task) < 0 || db_job_rid(c, job) >= 0)
			continue;
		snprintf(name, sizeof name, "%s.job", job);
		if (faccessat(c->sd.incoming, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return true;
	}
	return false;
}

struct dep_job {
	int64_t rid, ntasks, nterminal;
	uid_t owner;
};

static int job_row(struct ctl *c, const char *id, struct dep_job *j)
{
	sqlite3_stmt *q = db_prep(c, "SELECT rid, owner, ntasks, nterminal FROM jobs WHERE id = ?");
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		j->rid = sqlite3_column_int64(q, 0);
		j->owner = (uid_t)sqlite3_column_int64(q, 1);
		j->ntasks = sqlite3_column_int64(q, 2);
		j->nterminal = sqlite3_column_int64(q, 3);
	} else if (rc != SQLITE_DONE) {
		log_err("database %s: cannot read job %s: %s", c->dbpath, id, sqlite3_errmsg(c->db));
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The state of task idx of job rid, or -1. */
static int task_state(struct ctl *c, int64_t rid, int64_t idx)
{
	sqlite3_stmt *q = db_prep(c, "SELECT state FROM tasks WHERE rid = ? AND idx = ?");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int64(q, 2, idx);
	int s = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
	sqlite3_reset(q);
	return s;
}

/* The first task of job rid that ended without succeeding, or 0. */
static int64_t first_bad(struct ctl *c, int64_t rid)
{
	uint64_t counts[SPOOL_TASK_NSTATES];
	uint64_t bad = 0;
	if (queue_counts(c, rid, counts) < 0)
		return -1;
	for (int s = SPOOL_TASK_SUCCEEDED + 1; s < SPOOL_TASK_NSTATES; s++)
		bad += counts[s];
	if (!bad)
		return 0;
	sqlite3_stmt *q = db_prep(c, "SELECT idx FROM tasks WHERE rid = ?1 AND state > ?2 ORDER BY idx LIMIT 1");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int(q, 2, SPOOL_TASK_SUCCEEDED);
	int64_t idx = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
	sqlite3_reset(q);
	return idx;
}

static void plan_add(struct dep_plan *p, int64_t on_rid, int64_t on_idx, bool ok)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->d[i].on_rid == on_rid && p->d[i].on_idx == on_idx) {
			p->d[i].ok |= ok;
			return;
		}
	p->d[p->n++] = (struct dep_one){ on_rid, on_idx, ok };
}

/* One after/afterok entry: resolved now (nothing), failed now (p->skip), or a row to add. */
static int plan_one(struct ctl *c, const char *val, bool ok, uid_t owner, struct dep_plan *p, struct err *refuse)
{
	char job[NAME_MAX_LEN + 1], why[MAX_REASON_LEN];
	uint64_t task;
	struct dep_job j;
	int found;
	if (jobref_parse(val, job, sizeof job, &task) < 0)
		return err_set(refuse, "dependency '%.100s' is not JOB or JOB.TASK", val), 1;
	if ((found = job_row(c, job, &j)) < 0)
		return -1;
	if (!found) {
		if (c->rebuilding) { /* a refused job's record is in quarantine/, not in ctl/jobs/ */
			log_warn("rebuild: a job depends on job %s, which is not in ctl/jobs/: that dependency is dropped", job);
			return 0;
		}
		err_set(refuse, "it depends on job %s, which does not exist (a job may depend only on existing jobs)", job);
		return 1;
	}
	if (owner != 0 && j.owner != owner) {
		err_set(refuse, "it depends on job %s of uid %u: a job may depend only on jobs of its owner's", job,
			(unsigned)j.owner);
		return 1;
	}
	if ((int64_t)task > j.ntasks) {
		err_set(refuse, "it depends on task %llu of job %s, which has %lld task%s", (unsigned long long)task, job,
			(long long)j.ntasks, j.ntasks == 1 ? "" : "s");
		return 1;
	}
	int64_t bad;
	if (task) {
		int s = task_state(c, j.rid, (int64_t)task);
		bad = s > SPOOL_TASK_SUCCEEDED ? (int64_t)task : 0;
		if (s < SPOOL_TASK_SUCCEEDED)
			plan_add(p, j.rid, (int64_t)task, ok);
	} else {
		if ((bad = ok ? first_bad(c, j.rid) : 0) < 0)
			return -1;
		if (!bad && j.nterminal < j.ntasks)
			plan_add(p, j.rid, 0, ok);
	}
	if (ok && bad && !p->skip) {
		if (queue_dep_reason(c, j.rid, bad, why, sizeof why) < 0)
			return -1;
		p->skip = xstrdup(why);
	}
	return 0;
}

int deps_plan(struct ctl *c, const struct rec *r, uid_t owner, uint64_t ntasks, struct dep_plan *p,
	      struct err *refuse)
{
	memset(p, 0, sizeof *p);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		bool ok = strcmp(r->f[i].key, "afterok") == 0;
		if (ok || strcmp(r->f[i].key, "after") == 0)
			rc = plan_one(c, r->f[i].val, ok, owner, p, refuse);
	}
	p->waits = (int64_t)p->n;
	const char *each = rec_get(r, "after_each");
	if (rc || !each)
		return rc;
	struct dep_job j;
	int found = job_row(c, each, &j);
	if (found < 0)
		return -1;
	if (!found && c->rebuilding) {
		log_warn("rebuild: a job depends on job %s, which is not in ctl/jobs/: that dependency is dropped", each);
		return 0;
	}
	if (!found)
		return err_set(refuse, "after_each names job %s, which does not exist", each), 1;
	if (owner != 0 && j.owner != owner)
		return err_set(refuse, "after_each names job %s of uid %u: a job may depend only on jobs of its "
			       "owner's", each, (unsigned)j.owner), 1;
	if ((uint64_t)j.ntasks != ntasks)
		return err_set(refuse, "after_each pairs task i with task i of job %s, which has %lld task%s, not %llu",
			       each, (long long)j.ntasks, j.ntasks == 1 ? "" : "s", (unsigned long long)ntasks), 1;
	p->each_rid = j.rid;
	p->each_started = j.nterminal > 0;
	if (j.nterminal < j.ntasks)
		p->d[p->n++] = (struct dep_one){ j.rid, QUEUE_DEP_EACH, true };
	return 0;
}

int deps_task(struct ctl *c, const struct dep_plan *p, int64_t idx, int64_t *waits, char *skip, size_t sz)
{
	*waits = p->waits;
	skip[0] = '\0';
	if (p->skip) {
		snprintf(skip, sz, "%s", p->skip);
		return 0;
	}
	if (!p->each_rid)
		return 0;
	int s = p->each_started ? task_state(c, p->each_rid, idx) : SPOOL_TASK_QUEUED;
	if (s < 0)
		return -1;
	if (s < SPOOL_TASK_SUCCEEDED)
		(*waits)++;
	else if (s > SPOOL_TASK_SUCCEEDED && queue_dep_reason(c, p->each_rid, idx, skip, sz) < 0)
		return -1;
	return 0;
}

int deps_record(struct ctl *c, int64_t rid, const struct dep_plan *p)
{
	if (p->skip)
		return 0; /* every task ended already: it waits on nothing */
	for (size_t i = 0; i < p->n; i++)
		if (queue_dep_add(c, rid, p->d[i].on_rid, p->d[i].on_idx, p->d[i].ok) < 0)
			return -1;
	return 0;
}

void deps_plan_free(struct dep_plan *p)
{
	free(p->skip);
	p->skip = NULL;
}
