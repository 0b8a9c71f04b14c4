/* queue.c - the one module that changes the state of tasks and jobs (see queue.h).
 *
 * Why counts and dirty chunks are kept here rather than computed when publishing: a job of a
 * million tasks must cost O(changes) per publish and per scheduling pass, never O(tasks), so
 * whatever publishing needs is maintained by the transition that changes it.
 */
#include "queue.h"
#include "jobstate.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Step a statement that returns no row (or whose rows the caller does not need) and reset it. */
static int run(struct ctl *c, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	log_err("database %s: cannot %s: %s", c->dbpath, what, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	return -1;
}

static int mark_chunk(struct ctl *c, int64_t rid, int64_t idx)
{
	sqlite3_stmt *st = db_prep(c, "INSERT OR IGNORE INTO chunks_dirty(rid, chunk) VALUES(?, ?)");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, (idx - 1) / JOBSTATE_CHUNK);
	return run(c, st, "mark a chunk of a job's state to publish");
}

static int count_add(struct ctl *c, int64_t rid, int state, int64_t n)
{
	sqlite3_stmt *st = db_prep(c, "INSERT INTO job_counts(rid, state, n) VALUES(?1, ?2, ?3)"
				      " ON CONFLICT(rid, state) DO UPDATE SET n = n + excluded.n");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_int64(st, 3, n);
	return run(c, st, "count a job's tasks");
}

static int note_finished(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *st = db_prep(c, "UPDATE jobs SET finished_ms = ?2 WHERE rid = ?1 AND nterminal >= ntasks AND finished_ms IS NULL");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, (int64_t)wall_ms());
	return run(c, st, "note when a job ended");
}

/* The job has n more terminal tasks (n may be 0): mark it to publish, and note when it ended. */
static int job_changed(struct ctl *c, int64_t rid, int64_t n)
{
	sqlite3_stmt *st = db_prep(c, "UPDATE jobs SET dirty = 1, nterminal = nterminal + ?2,"
				      " published_ms = CASE WHEN ?2 > 0 AND published_ms < 0 THEN 0 ELSE published_ms END"
				      " WHERE rid = ?1");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, n);
	if (run(c, st, "update a job") < 0)
		return -1;
	return n ? note_finished(c, rid) : 0;
}

/* Only a queued task may be assigned or refused: anything else is a bug of the caller, which
 * rolls back. */
static int refused_unless_changed(struct ctl *c, int64_t rid, int64_t idx, const char *what)
{
	if (sqlite3_changes(c->db) == 1)
		return 0;
	log_err("internal error: cannot %s task %lld of job rid %lld: it is not queued", what, (long long)idx,
		(long long)rid);
	return -1;
}

static bool terminal(int s)
{
	return s >= SPOOL_TASK_SUCCEEDED;
}

/* Room for element n of an array grown by doubling from 16. */
static void *grow(void *p, size_t n, size_t size)
{
	if (n == 0)
		return xrealloc(p, 16 * size);
	if (n >= 16 && (n & (n - 1)) == 0)
		return xrealloc(p, 2 * n * size);
	return p;
}

static int deps_ended(struct ctl *c, int64_t rid, int64_t idx, int state);
static int recount(struct ctl *c, int64_t rid);

static bool active(int s)
{
	return s == SPOOL_TASK_ASSIGNED || s == SPOOL_TASK_RUNNING;
}

/* The owner of job rid has n more tasks assigned or running (owner_load, for fair share). */
static int load_add(struct ctl *c, int64_t rid, int64_t n)
{
	sqlite3_stmt *st = db_prep(c, "INSERT INTO owner_load(owner, n) SELECT owner, ?2 FROM jobs WHERE rid = ?1"
				      " ON CONFLICT(owner) DO UPDATE SET n = n + excluded.n");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, n);
	return run(c, st, "count a user's running tasks");
}

/* How many tasks of job rid are assigned or running, from its counts. */
static int64_t job_active(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *st = db_prep(c, "SELECT coalesce(sum(n), 0) FROM job_counts WHERE rid = ?1 AND state BETWEEN ?2 AND ?3");
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int(st, 2, SPOOL_TASK_ASSIGNED);
	sqlite3_bind_int(st, 3, SPOOL_TASK_RUNNING);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	if (n < 0)
		log_err("database %s: cannot count the running tasks of job rid %lld: %s", c->dbpath, (long long)rid,
			sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	return n;
}

/* One task of job rid went from one state to another; when it ended, what waited on it learns. */
static int moved(struct ctl *c, int64_t rid, int64_t idx, int from, int to)
{
	if (from != to && (count_add(c, rid, from, -1) < 0 || count_add(c, rid, to, 1) < 0))
		return -1;
	if (active(from) != active(to) && load_add(c, rid, active(to) ? 1 : -1) < 0)
		return -1;
	if (mark_chunk(c, rid, idx) < 0)
		return -1;
	bool ended = !terminal(from) && terminal(to);
	if (job_changed(c, rid, ended ? 1 : 0) < 0)
		return -1;
	return ended ? deps_ended(c, rid, idx, to) : 0;
}

/* ---- Dependencies (spool-layout.md 5.5) ----
 * A row of deps is resolved by the end of what it names: released (the waiting tasks' waits go
 * down by one; at 0 the scheduler's indexes hold them again) or, for an ok dependency that did not
 * succeed, failed: the waiting tasks end skipped, and their own dependents learn it in turn. The
 * rows are found by the job that ended (the table's key), so a task's end costs one index seek
 * when nothing waits on its job, whatever the number of waiting tasks elsewhere. */

int queue_dep_add(struct ctl *c, int64_t rid, int64_t on_rid, int64_t on_idx, bool ok)
{
	sqlite3_stmt *st = db_prep(c, "INSERT INTO deps(on_rid, on_idx, rid, ok) VALUES(?1, ?2, ?3, ?4)"
				      " ON CONFLICT(on_rid, on_idx, rid) DO UPDATE SET ok = max(ok, excluded.ok)");
	sqlite3_bind_int64(st, 1, on_rid);
	sqlite3_bind_int64(st, 2, on_idx);
	sqlite3_bind_int64(st, 3, rid);
	sqlite3_bind_int(st, 4, ok);
	return run(c, st, "record a dependency");
}

int queue_dep_reason(struct ctl *c, int64_t rid, int64_t idx, char *out, size_t sz)
{
	static const char *const verb[SPOOL_TASK_NSTATES] = {
		[SPOOL_TASK_FAILED] = "failed", [SPOOL_TASK_TIMEDOUT] = "timed out",
		[SPOOL_TASK_CANCELLED] = "was cancelled", [SPOOL_TASK_ABANDONED] = "was abandoned",
		[SPOOL_TASK_SKIPPED] = "was skipped",
	};
	sqlite3_stmt *q = db_prep(c, "SELECT j.id, t.state, t.exit, t.signal, t.reason FROM tasks t JOIN jobs j ON"
				     " j.rid = t.rid WHERE t.rid = ?1 AND t.idx = ?2");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int64(q, 2, idx);
	int rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		log_err("database %s: cannot read task %lld of job rid %lld: %s", c->dbpath, (long long)idx,
			(long long)rid, rc == SQLITE_DONE ? "no such task" : sqlite3_errmsg(c->db));
		sqlite3_reset(q);
		return -1;
	}
	int st = sqlite3_column_int(q, 1);
	const char *why = (const char *)sqlite3_column_text(q, 4);
	char how[64] = "";
	if (st == SPOOL_TASK_FAILED && sqlite3_column_type(q, 2) != SQLITE_NULL)
		snprintf(how, sizeof how, "exited with status %d", sqlite3_column_int(q, 2));
	else if (st == SPOOL_TASK_FAILED && sqlite3_column_int(q, 3) > 0)
		snprintf(how, sizeof how, "killed by signal %d", sqlite3_column_int(q, 3));
	snprintf(out, sz, "dependency %s.%lld %s%s%.*s", (const char *)sqlite3_column_text(q, 0), (long long)idx,
		 st >= 0 && st < SPOOL_TASK_NSTATES && verb[st] ? verb[st] : spool_task_state_name(st),
		 how[0] || why ? ": " : "", MAX_REASON_LEN - 200, how[0] ? how : why ? why : "");
	sqlite3_reset(q);
	return 0;
}

/* Tasks of job rid (idx 0: all) still queued end skipped with reason; then what waits on them. */
static int skip_tasks(struct ctl *c, int64_t rid, int64_t idx, const char *reason)
{
	int rc;
	sqlite3_stmt *up = db_prep(c, "UPDATE tasks SET state = ?1, reason = ?2 WHERE rid = ?3 AND (?4 = 0 OR idx = ?4)"
				      " AND +state = ?5 RETURNING idx");
	sqlite3_bind_int(up, 1, SPOOL_TASK_SKIPPED);
	sqlite3_bind_text(up, 2, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(up, 3, rid);
	sqlite3_bind_int64(up, 4, idx);
	sqlite3_bind_int(up, 5, SPOOL_TASK_QUEUED);
	int64_t *ix = NULL;
	size_t n = 0;
	while ((rc = sqlite3_step(up)) == SQLITE_ROW) {
		ix = grow(ix, n, sizeof *ix);
		ix[n++] = sqlite3_column_int64(up, 0);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot skip the tasks of job rid %lld: %s", c->dbpath, (long long)rid,
			sqlite3_errmsg(c->db));
	sqlite3_reset(up);
	if (rc == SQLITE_DONE && idx == 0) { /* it waits on nothing any more */
		sqlite3_stmt *d = db_prep(c, "DELETE FROM deps WHERE rid = ?");
		sqlite3_bind_int64(d, 1, rid);
		rc = run(c, d, "forget the dependencies of a skipped job") < 0 ? SQLITE_ERROR : SQLITE_DONE;
	}
	if (rc == SQLITE_DONE && n == 1) {
		rc = moved(c, rid, ix[0], SPOOL_TASK_QUEUED, SPOOL_TASK_SKIPPED) < 0 ? SQLITE_ERROR : SQLITE_DONE;
	} else if (rc == SQLITE_DONE && n > 1) {
		/* Many at once: counted again, O(tasks of the job), as queue_end does. */
		for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
			if ((i == 0 || (ix[i] - 1) / JOBSTATE_CHUNK != (ix[i - 1] - 1) / JOBSTATE_CHUNK) &&
			    mark_chunk(c, rid, ix[i]) < 0)
				rc = SQLITE_ERROR;
		if (rc == SQLITE_DONE && recount(c, rid) < 0)
			rc = SQLITE_ERROR;
		for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
			if (deps_ended(c, rid, ix[i], SPOOL_TASK_SKIPPED) < 0)
				rc = SQLITE_ERROR;
	}
	free(ix);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One dependency of job rid (of its task idx; 0: of all its tasks) is resolved well. */
static int release(struct ctl *c, int64_t rid, int64_t idx)
{
	sqlite3_stmt *up = db_prep(c, "UPDATE tasks SET waits = waits - 1 WHERE rid = ?1 AND (?2 = 0 OR idx = ?2)"
				      " AND +state = ?3 AND waits > 0");
	sqlite3_bind_int64(up, 1, rid);
	sqlite3_bind_int64(up, 2, idx);
	sqlite3_bind_int(up, 3, SPOOL_TASK_QUEUED);
	if (run(c, up, "release the tasks waiting on a dependency") < 0)
		return -1;
	c->want_assign = true;
	return job_changed(c, rid, 0); /* what it waits on is published */
}

static int dep_forget(struct ctl *c, int64_t on_rid, int64_t on_idx, int64_t rid)
{
	sqlite3_stmt *d = db_prep(c, "DELETE FROM deps WHERE on_rid = ?1 AND on_idx = ?2 AND rid = ?3");
	sqlite3_bind_int64(d, 1, on_rid);
	sqlite3_bind_int64(d, 2, on_idx);
	sqlite3_bind_int64(d, 3, rid);
	return run(c, d, "resolve a dependency");
}

static bool job_over(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *q = db_prep(c, "SELECT nterminal >= ntasks FROM jobs WHERE rid = ?");
	sqlite3_bind_int64(q, 1, rid);
	bool over = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
	sqlite3_reset(q);
	return over;
}

struct dep_row { int64_t on_idx, rid; bool ok; };

/* Task idx of job rid ended in state: resolve the rows waiting on it (on that task, on its job,
 * or on the task of the same number). */
static int deps_ended(struct ctl *c, int64_t rid, int64_t idx, int state)
{
	int rc;
	/* Most jobs have nothing waiting on them: one seek says so, where the query below builds a
	 * table for its IN list at every task's end (about 10 us). */
	sqlite3_stmt *any = db_prep(c, "SELECT 1 FROM deps WHERE on_rid = ?1 LIMIT 1");
	sqlite3_bind_int64(any, 1, rid);
	rc = sqlite3_step(any);
	sqlite3_reset(any);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		log_err("database %s: cannot read what waits on job rid %lld: %s", c->dbpath, (long long)rid,
			sqlite3_errmsg(c->db));
		return -1;
	}
	sqlite3_stmt *q = db_prep(c, "SELECT on_idx, rid, ok FROM deps WHERE on_rid = ?1 AND on_idx IN (?2, 0, ?3)");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int64(q, 2, idx);
	sqlite3_bind_int64(q, 3, QUEUE_DEP_EACH);
	struct dep_row *d = NULL;
	size_t n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		d = grow(d, n, sizeof *d);
		d[n].on_idx = sqlite3_column_int64(q, 0);
		d[n].rid = sqlite3_column_int64(q, 1);
		d[n++].ok = sqlite3_column_int(q, 2) != 0;
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot read what waits on job rid %lld: %s", c->dbpath, (long long)rid,
			sqlite3_errmsg(c->db));
	sqlite3_reset(q);
	if (!n || rc != SQLITE_DONE) {
		free(d);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	char why[MAX_REASON_LEN];
	bool bad = state != SPOOL_TASK_SUCCEEDED, over = job_over(c, rid);
	int res = 0;
	for (size_t i = 0; res == 0 && i < n; i++) {
		int64_t on = d[i].on_idx, waiter = d[i].rid;
		bool each = on == QUEUE_DEP_EACH;
		if (d[i].ok && bad) {
			if (queue_dep_reason(c, rid, idx, why, sizeof why) < 0)
				res = -1;
			else if (!each) /* the job cannot start any more: this row goes with its others */
				res = skip_tasks(c, waiter, 0, why);
			else
				res = skip_tasks(c, waiter, idx, why);
			if (res == 0 && each && over)
				res = dep_forget(c, rid, on, waiter);
			continue;
		}
		if (on == 0 && !over)
			continue; /* the rest of the job still runs */
		res = release(c, waiter, each ? idx : 0);
		if (res == 0 && (!each || over))
			res = dep_forget(c, rid, on, waiter);
	}
	free(d);
	return res;
}

int queue_waiting(struct ctl *c, int64_t rid, char *out, size_t sz)
{
	int rc;
	size_t len = 0;
	out[0] = '\0';
	sqlite3_stmt *q = db_prep(c, "SELECT DISTINCT j.id FROM deps d JOIN jobs j ON j.rid = d.on_rid WHERE d.rid = ?"
				     " ORDER BY d.on_rid");
	sqlite3_bind_int64(q, 1, rid);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);
		if (len + strlen(id) + 2 < sz)
			len += (size_t)snprintf(out + len, sz - len, "%s%s", len ? "," : "", id);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot read what job rid %lld waits on: %s", c->dbpath, (long long)rid,
			sqlite3_errmsg(c->db));
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

int64_t queue_job_add(struct ctl *c, const struct queue_job *j)
{
	c->add_n = 0; /* rows of a job whose insertion failed (rolled back) are dropped with it */
	sqlite3_stmt *st = db_prep(c,
		"INSERT INTO jobs(id, owner, name, cwd, outdir, timeout_ms, retries, is_map, argv, env, ntasks, targets,"
		" builtin, umask, command, submitted_ms, priority, max_running, mem, published_ms)"
		" VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->owner);
	if (j->name)
		sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, j->cwd, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, j->outdir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, j->timeout_ms);
	sqlite3_bind_int64(st, 7, j->retries);
	sqlite3_bind_int(st, 8, j->is_map);
	sqlite3_bind_blob(st, 9, j->argv ? j->argv : "", (int)j->argv_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, j->env ? j->env : "", (int)j->env_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (int64_t)j->ntasks);
	if (j->targets)
		sqlite3_bind_text(st, 12, j->targets, -1, SQLITE_STATIC);
	if (j->builtin)
		sqlite3_bind_text(st, 13, j->builtin, -1, SQLITE_STATIC);
	if (j->umask >= 0)
		sqlite3_bind_int64(st, 14, j->umask);
	if (j->command)
		sqlite3_bind_text(st, 15, j->command, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 16, (int64_t)wall_ms());
	sqlite3_bind_int64(st, 17, j->priority);
	sqlite3_bind_int64(st, 18, (int64_t)j->max_running);
	sqlite3_bind_int64(st, 19, j->mem);
	/* Its first publish waits publish_interval, or until one of its tasks ends (job_changed):
	 * a job that ends sooner is published once, finished (two files, not four); a task that
	 * ended, which a dependent job may already have seen, is published at once; until then
	 * clients show the accepted job as queued (spool-layout.md 3.10). Negated: not yet
	 * published (publish.c). */
	sqlite3_bind_int64(st, 20, -(int64_t)c->now);
	if (run(c, st, "insert a job") < 0)
		return -1;
	int64_t rid = sqlite3_last_insert_rowid(c->db);
	c->add_owner = j->owner;
	c->add_nprio = -j->priority;
	if (j->retry_on_failure) {
		sqlite3_stmt *rt = db_prep(c, "INSERT INTO job_retry(rid) VALUES(?)");
		sqlite3_bind_int64(rt, 1, rid);
		if (run(c, rt, "note a job's --retry-on-failure") < 0)
			return -1;
	}
	return rid;
}

/* Tasks are inserted QUEUE_ADD_BATCH rows per statement: a map of a million tasks is accepted
 * in a few seconds, most of it SQLite's own work per row rather than a statement per row. */
#define ROW1 "(?,?,?,?,?,?,?,?,?)"
#define ROW8 ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1
#define ROW64 ROW8 "," ROW8 "," ROW8 "," ROW8 "," ROW8 "," ROW8 "," ROW8 "," ROW8
_Static_assert(QUEUE_ADD_BATCH == 64, "the batch statement below has 64 rows");

#define ROW_COLS 9
static void bind_row(struct ctl *c, sqlite3_stmt *st, int base, const struct queue_row *t)
{
	sqlite3_bind_int64(st, base + 1, t->rid);
	sqlite3_bind_int64(st, base + 2, t->idx);
	if (t->item)
		sqlite3_bind_text(st, base + 3, t->item, (int)t->item_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, base + 3);
	if (t->pin >= 0)
		sqlite3_bind_int64(st, base + 4, t->pin);
	else
		sqlite3_bind_null(st, base + 4);
	sqlite3_bind_int(st, base + 5, t->state);
	if (t->reason)
		sqlite3_bind_text(st, base + 6, t->reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, base + 6);
	sqlite3_bind_int64(st, base + 7, t->waits);
	sqlite3_bind_int64(st, base + 8, c->add_owner);
	sqlite3_bind_int64(st, base + 9, c->add_nprio);
}

/* Insert the rows queue_task_add holds. */
static int add_flush(struct ctl *c)
{
	static const char one[] = "INSERT INTO tasks(rid, idx, item, pin, state, reason, waits, owner, nprio) VALUES" ROW1;
	static const char batch[] = "INSERT INTO tasks(rid, idx, item, pin, state, reason, waits, owner, nprio) VALUES" ROW64;
	size_t n = c->add_n;
	c->add_n = 0;
	if (n == QUEUE_ADD_BATCH) {
		sqlite3_stmt *st = db_prep(c, batch);
		for (size_t i = 0; i < n; i++)
			bind_row(c, st, (int)i * ROW_COLS, &c->add[i]);
		return run(c, st, "insert tasks");
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = db_prep(c, one);
		bind_row(c, st, 0, &c->add[i]);
		if (run(c, st, "insert a task") < 0)
			return -1;
	}
	return 0;
}

int queue_task_add(struct ctl *c, int64_t rid, int64_t idx, const char *item, size_t item_len, int64_t pin,
		   enum spool_task_state state, const char *reason, int64_t waits)
{
	c->add[c->add_n++] = (struct queue_row){ rid, idx, item, item_len, pin, state, reason, waits };
	if (c->add_n == QUEUE_ADD_BATCH && add_flush(c) < 0)
		return -1;
	/* A chunk of queued tasks is never written: readers take a missing chunk as all queued. */
	return state == SPOOL_TASK_QUEUED ? 0 : mark_chunk(c, rid, idx);
}

int queue_job_added(struct ctl *c, int64_t rid, const uint64_t counts[SPOOL_TASK_NSTATES])
{
	int64_t nterm = 0;
	if (add_flush(c) < 0)
		return -1;
	for (int s = 0; s < SPOOL_TASK_NSTATES; s++) {
		if (counts[s] && count_add(c, rid, s, (int64_t)counts[s]) < 0)
			return -1;
		if (terminal(s))
			nterm += (int64_t)counts[s];
	}
	return job_changed(c, rid, nterm);
}

int queue_assign(struct ctl *c, int64_t rid, int64_t idx, int64_t attempt, int64_t engine, const char *wid,
		 uint64_t seq)
{
	/* "+state": a guard the planner does not match against the partial indexes, which would
	 * make SQLite re-prepare the statement each time the bound state changes. */
	sqlite3_stmt *up = db_prep(c, "UPDATE tasks SET state = ?1, attempt = ?2, engine = ?3, wid = ?4,"
				      " node = (SELECT node FROM workers WHERE wid = ?4), seq = ?5 WHERE rid = ?6 AND idx = ?7"
				      " AND +state = ?8");
	sqlite3_bind_int(up, 1, SPOOL_TASK_ASSIGNED);
	sqlite3_bind_int64(up, 2, attempt);
	sqlite3_bind_int64(up, 3, engine);
	sqlite3_bind_text(up, 4, wid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(up, 5, (int64_t)seq);
	sqlite3_bind_int64(up, 6, rid);
	sqlite3_bind_int64(up, 7, idx);
	sqlite3_bind_int(up, 8, SPOOL_TASK_QUEUED);
	if (run(c, up, "assign a task") < 0 || refused_unless_changed(c, rid, idx, "assign") < 0)
		return -1;
	return moved(c, rid, idx, SPOOL_TASK_QUEUED, SPOOL_TASK_ASSIGNED);
}

int queue_refuse(struct ctl *c, int64_t rid, int64_t idx, const char *reason)
{
	sqlite3_stmt *f = db_prep(c, "UPDATE tasks SET state = ?1, reason = ?2, engine = NULL, wid = NULL WHERE rid = ?3"
				     " AND idx = ?4 AND +state = ?5");
	sqlite3_bind_int(f, 1, SPOOL_TASK_FAILED);
	sqlite3_bind_text(f, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(f, 3, rid);
	sqlite3_bind_int64(f, 4, idx);
	sqlite3_bind_int(f, 5, SPOOL_TASK_QUEUED);
	if (run(c, f, "fail a task") < 0 || refused_unless_changed(c, rid, idx, "refuse") < 0)
		return -1;
	return moved(c, rid, idx, SPOOL_TASK_QUEUED, SPOOL_TASK_FAILED);
}

int queue_start(struct ctl *c, const char *job, int64_t idx, int64_t attempt, const char *wid)
{
	sqlite3_stmt *up = db_prep(c, "UPDATE tasks SET state = ?5 WHERE rid = (SELECT rid FROM jobs WHERE id = ?1)"
				      " AND idx = ?2 AND attempt = ?3 AND wid = ?4 AND state = ?6 RETURNING rid");
	sqlite3_bind_text(up, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(up, 2, idx);
	sqlite3_bind_int64(up, 3, attempt);
	sqlite3_bind_text(up, 4, wid, -1, SQLITE_STATIC);
	sqlite3_bind_int(up, 5, SPOOL_TASK_RUNNING);
	sqlite3_bind_int(up, 6, SPOOL_TASK_ASSIGNED);
	int rc = sqlite3_step(up);
	int64_t rid = rc == SQLITE_ROW ? sqlite3_column_int64(up, 0) : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_err("database %s: cannot mark task %s.%lld running: %s", c->dbpath, job, (long long)idx,
			sqlite3_errmsg(c->db));
		sqlite3_reset(up);
		return -1;
	}
	sqlite3_reset(up);
	if (rid < 0)
		return 0;
	return moved(c, rid, idx, SPOOL_TASK_ASSIGNED, SPOOL_TASK_RUNNING) < 0 ? -1 : 1;
}

static int attempt_add(struct ctl *c, int64_t rid, const struct queue_result *r, int accepted)
{
	sqlite3_stmt *at = db_prep(c,
		"INSERT OR IGNORE INTO attempts(rid, idx, attempt, wid, engine, status, exit, signal, accepted)"
		" VALUES(?,?,?,?,?,?,?,?,?)");
	sqlite3_bind_int64(at, 1, rid);
	sqlite3_bind_int64(at, 2, r->idx);
	sqlite3_bind_int64(at, 3, r->attempt);
	sqlite3_bind_text(at, 4, r->wid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(at, 5, r->engine);
	sqlite3_bind_text(at, 6, r->status, -1, SQLITE_STATIC);
	if (r->exit_code >= 0)
		sqlite3_bind_int64(at, 7, r->exit_code);
	if (r->signal >= 0)
		sqlite3_bind_int64(at, 8, r->signal);
	sqlite3_bind_int(at, 9, accepted);
	return run(c, at, "record a result");
}

/* --retry-on-failure: a failed or timed-out result of a task with retries left queues it
 * again (its lost count, the retries used, + 1) and is kept as an attempt not accepted, so that
 * it stays visible. 1 when it did, 0 when the result is to be stored, -1 on a database error. A
 * replay of a result already taken (the same attempt and worker) is dropped: 2. */
static int retry_failed(struct ctl *c, int64_t rid, const struct queue_result *r, int cur)
{
	if (r->state != SPOOL_TASK_FAILED && r->state != SPOOL_TASK_TIMEDOUT)
		return 0;
	sqlite3_stmt *q = db_prep(c,
		"SELECT (SELECT count(*) FROM attempts WHERE rid = ?1 AND idx = ?2 AND attempt = ?3 AND wid = ?4),"
		" t.lost < j.retries AND t.pin IS NULL FROM tasks t JOIN jobs j ON j.rid = t.rid"
		" JOIN job_retry r ON r.rid = t.rid WHERE t.rid = ?1 AND t.idx = ?2");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int64(q, 2, r->idx);
	sqlite3_bind_int64(q, 3, r->attempt);
	sqlite3_bind_text(q, 4, r->wid, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	int seen = rc == SQLITE_ROW && sqlite3_column_int(q, 0) > 0, again = rc == SQLITE_ROW && sqlite3_column_int(q, 1);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		log_err("database %s: cannot read whether a task is retried: %s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	if (seen)
		return 2;
	if (!again)
		return 0;
	sqlite3_stmt *up = db_prep(c,
		"UPDATE tasks SET state = ?3, lost = lost + 1, engine = NULL, wid = NULL,"
		" waits = waits + (SELECT held FROM jobs WHERE rid = ?1)," /* a held job's task comes back held */
		" reason = 'attempt ' || ?4 || ' ' || ?5 || ': run again (--retry-on-failure)' WHERE rid = ?1 AND idx = ?2");
	sqlite3_bind_int64(up, 1, rid);
	sqlite3_bind_int64(up, 2, r->idx);
	sqlite3_bind_int(up, 3, SPOOL_TASK_QUEUED);
	sqlite3_bind_int64(up, 4, r->attempt);
	sqlite3_bind_text(up, 5, r->state == SPOOL_TASK_TIMEDOUT ? "timed out" : "failed", -1, SQLITE_STATIC);
	if (run(c, up, "queue a failed task again") < 0 || moved(c, rid, r->idx, cur, SPOOL_TASK_QUEUED) < 0 ||
	    mark_chunk(c, rid, r->idx) < 0 || attempt_add(c, rid, r, 0) < 0)
		return -1;
	return 1;
}

int queue_finish(struct ctl *c, int64_t rid, const struct queue_result *r, struct queue_revoke *rv)
{
	rv->wid[0] = '\0';
	sqlite3_stmt *sel = db_prep(c, "SELECT state, wid, attempt FROM tasks WHERE rid = ? AND idx = ?");
	sqlite3_bind_int64(sel, 1, rid);
	sqlite3_bind_int64(sel, 2, r->idx);
	int rc = sqlite3_step(sel);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			log_err("database %s: cannot read a task: %s", c->dbpath, sqlite3_errmsg(c->db));
		sqlite3_reset(sel);
		return rc == SQLITE_DONE ? QUEUE_NO_TASK : -1;
	}
	int cur = sqlite3_column_int(sel, 0);
	const char *cur_wid = (const char *)sqlite3_column_text(sel, 1);
	int64_t cur_attempt = sqlite3_column_int64(sel, 2);
	int accepted = !terminal(cur);
	/* A late result from an earlier attempt wins over a re-run still in progress. */
	if (accepted && cur_wid && (strcmp(cur_wid, r->wid) != 0 || cur_attempt != r->attempt)) {
		snprintf(rv->wid, sizeof rv->wid, "%s", cur_wid);
		rv->attempt = cur_attempt;
	}
	sqlite3_reset(sel);
	if (accepted) {
		int rr = retry_failed(c, rid, r, cur);
		if (rr == 2) /* a replay of a result already taken: revoke nothing */
			rv->wid[0] = '\0';
		if (rr != 0)
			return rr < 0 ? -1 : rr == 2 ? 0 : QUEUE_RETRIED;
		sqlite3_stmt *up = db_prep(c,
			"UPDATE tasks SET state = ?, attempt = ?, engine = ?, wid = ?, node = ?, exit = ?, signal = ?,"
			" wall_ms = ?, reason = ? WHERE rid = ? AND idx = ?");
		sqlite3_bind_int(up, 1, r->state);
		sqlite3_bind_int64(up, 2, r->attempt);
		sqlite3_bind_int64(up, 3, r->engine);
		sqlite3_bind_text(up, 4, r->wid, -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 5, r->node, -1, SQLITE_STATIC);
		if (r->exit_code >= 0)
			sqlite3_bind_int64(up, 6, r->exit_code);
		if (r->signal >= 0)
			sqlite3_bind_int64(up, 7, r->signal);
		sqlite3_bind_int64(up, 8, r->wall_ms);
		if (r->reason)
			sqlite3_bind_text(up, 9, r->reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 10, rid);
		sqlite3_bind_int64(up, 11, r->idx);
		if (run(c, up, "store a result") < 0 || moved(c, rid, r->idx, cur, r->state) < 0)
			return -1;
	} else if (mark_chunk(c, rid, r->idx) < 0 || job_changed(c, rid, 0) < 0) { /* the duplicate is published */
		return -1;
	}
	if (attempt_add(c, rid, r, accepted) < 0)
		return -1;
	return accepted;
}

static void taken_add(struct queue_taken **t, size_t *n, const char *job, const char *wid, int64_t idx,
		      int64_t attempt)
{
	*t = grow(*t, *n, sizeof **t);
	snprintf((*t)[*n].job, sizeof (*t)[*n].job, "%s", job);
	snprintf((*t)[*n].wid, sizeof (*t)[*n].wid, "%s", wid);
	(*t)[*n].idx = idx;
	(*t)[*n].attempt = attempt;
	(*n)++;
}

int queue_requeue_worker(struct ctl *c, const char *wid, bool clean, const char *lost_reason,
			 const char *pinned_reason, struct queue_taken **taken, size_t *ntaken, int *requeued,
			 int *ended)
{
	struct held { int64_t rid, idx; int state; } *h = NULL;
	size_t nh = 0;
	int rc;

	*taken = NULL;
	*ntaken = 0;
	*requeued = *ended = 0;
	sqlite3_stmt *sel = db_prep(c, "SELECT t.rid, t.idx, t.attempt, j.id, t.state FROM tasks t JOIN jobs j ON j.rid = t.rid"
				       " WHERE t.wid = ?1 AND t.state BETWEEN ?2 AND ?3");
	sqlite3_bind_text(sel, 1, wid, -1, SQLITE_STATIC);
	sqlite3_bind_int(sel, 2, SPOOL_TASK_ASSIGNED);
	sqlite3_bind_int(sel, 3, SPOOL_TASK_RUNNING);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		h = grow(h, nh, sizeof *h);
		h[nh].rid = sqlite3_column_int64(sel, 0);
		h[nh].idx = sqlite3_column_int64(sel, 1);
		h[nh].state = sqlite3_column_int(sel, 4);
		taken_add(taken, ntaken, (const char *)sqlite3_column_text(sel, 3), wid, h[nh].idx, sqlite3_column_int64(sel, 2));
		nh++;
	}
	if (rc != SQLITE_DONE) {
		log_err("database %s: cannot list the tasks of worker %s: %s", c->dbpath, wid, sqlite3_errmsg(c->db));
		sqlite3_reset(sel);
		goto fail;
	}
	sqlite3_reset(sel);
	/* Work aimed at one of its engines cannot go elsewhere: it fails, as in ipyparallel. */
	sqlite3_stmt *pf = db_prep(c, "UPDATE tasks SET state = ?3, reason = ?2 WHERE state = ?4 AND pin IN"
				      " (SELECT id FROM engines WHERE wid = ?1) RETURNING rid, idx");
	sqlite3_bind_text(pf, 1, wid, -1, SQLITE_STATIC);
	sqlite3_bind_text(pf, 2, pinned_reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(pf, 3, SPOOL_TASK_FAILED);
	sqlite3_bind_int(pf, 4, SPOOL_TASK_QUEUED);
	struct { int64_t rid, idx; } *pinned = NULL;
	size_t np = 0;
	while ((rc = sqlite3_step(pf)) == SQLITE_ROW) {
		pinned = grow(pinned, np, sizeof *pinned);
		pinned[np].rid = sqlite3_column_int64(pf, 0);
		pinned[np++].idx = sqlite3_column_int64(pf, 1);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot fail the tasks pinned to worker %s: %s", c->dbpath, wid, sqlite3_errmsg(c->db));
	sqlite3_reset(pf);
	for (size_t i = 0; rc == SQLITE_DONE && i < np; i++)
		if (moved(c, pinned[i].rid, pinned[i].idx, SPOOL_TASK_QUEUED, SPOOL_TASK_FAILED) < 0)
			rc = SQLITE_ERROR;
	*ended += (int)np;
	free(pinned);
	if (rc != SQLITE_DONE)
		goto fail;
	/* A clean shutdown does not count against the task's retries; a lost node does. */
	sqlite3_stmt *up = db_prep(c,
		"UPDATE tasks SET lost = lost + ?3,"
		" state = CASE WHEN pin > 0 THEN ?6"
		"  WHEN lost + ?3 > (SELECT retries FROM jobs WHERE rid = ?1) THEN ?7 ELSE ?8 END,"
		" reason = CASE WHEN pin > 0 THEN ?5"
		"  WHEN lost + ?3 > (SELECT retries FROM jobs WHERE rid = ?1) THEN ?4 ELSE reason END,"
		" engine = NULL, wid = NULL,"
		" waits = waits + (SELECT held FROM jobs WHERE rid = ?1) WHERE rid = ?1 AND idx = ?2 RETURNING state");
	for (size_t i = 0; i < nh; i++) {
		sqlite3_bind_int64(up, 1, h[i].rid);
		sqlite3_bind_int64(up, 2, h[i].idx);
		sqlite3_bind_int(up, 3, clean ? 0 : 1);
		sqlite3_bind_text(up, 4, lost_reason, -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 5, pinned_reason, -1, SQLITE_STATIC);
		sqlite3_bind_int(up, 6, SPOOL_TASK_FAILED);
		sqlite3_bind_int(up, 7, SPOOL_TASK_ABANDONED);
		sqlite3_bind_int(up, 8, SPOOL_TASK_QUEUED);
		rc = sqlite3_step(up);
		int st = rc == SQLITE_ROW ? sqlite3_column_int(up, 0) : -1;
		if (rc != SQLITE_ROW)
			log_err("database %s: cannot requeue task %s.%lld: %s", c->dbpath, (*taken)[i].job,
				(long long)h[i].idx, sqlite3_errmsg(c->db));
		sqlite3_reset(up);
		if (st < 0 || moved(c, h[i].rid, h[i].idx, h[i].state, st) < 0)
			goto fail;
		if (st == SPOOL_TASK_QUEUED)
			(*requeued)++;
		else
			(*ended)++;
	}
	free(h);
	return 0;
fail:
	free(h);
	free(*taken);
	*taken = NULL;
	*ntaken = 0;
	return -1;
}

/* Count a job's tasks per state again. */
static int recount(struct ctl *c, int64_t rid)
{
	int64_t was = job_active(c, rid);
	if (was < 0)
		return -1;
	sqlite3_stmt *d = db_prep(c, "DELETE FROM job_counts WHERE rid = ?");
	sqlite3_bind_int64(d, 1, rid);
	if (run(c, d, "recount a job's tasks") < 0)
		return -1;
	sqlite3_stmt *i = db_prep(c, "INSERT INTO job_counts(rid, state, n) SELECT rid, state, count(*) FROM tasks"
				     " WHERE rid = ?1 GROUP BY state");
	sqlite3_bind_int64(i, 1, rid);
	if (run(c, i, "recount a job's tasks") < 0)
		return -1;
	/* (a recount follows tasks ended in bulk: a first publish still waiting goes at once) */
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = 1, nterminal = (SELECT coalesce(sum(n), 0) FROM job_counts"
				     " WHERE rid = ?1 AND state >= ?2),"
				     " published_ms = CASE WHEN published_ms < 0 THEN 0 ELSE published_ms END WHERE rid = ?1");
	sqlite3_bind_int64(u, 1, rid);
	sqlite3_bind_int(u, 2, SPOOL_TASK_SUCCEEDED);
	if (run(c, u, "recount a job's tasks") < 0)
		return -1;
	int64_t now = job_active(c, rid);
	if (now < 0 || (now != was && load_add(c, rid, now - was) < 0))
		return -1;
	return job_changed(c, rid, 0) < 0 || note_finished(c, rid) < 0 ? -1 : 0;
}

int queue_end(struct ctl *c, int64_t rid, uint64_t task, enum spool_task_state state, const char *reason,
	      bool forget_engine, struct queue_taken **taken, size_t *ntaken)
{
	int rc, changed = 0;
	*taken = NULL;
	*ntaken = 0;
	sqlite3_stmt *sel = db_prep(c, "SELECT t.idx, t.wid, t.attempt, j.id FROM tasks t JOIN jobs j ON j.rid = t.rid"
				       " WHERE t.rid = ?1 AND t.state BETWEEN ?3 AND ?4 AND (?2 = 0 OR t.idx = ?2)");
	sqlite3_bind_int64(sel, 1, rid);
	sqlite3_bind_int64(sel, 2, (int64_t)task);
	sqlite3_bind_int(sel, 3, SPOOL_TASK_ASSIGNED);
	sqlite3_bind_int(sel, 4, SPOOL_TASK_RUNNING);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
		taken_add(taken, ntaken, (const char *)sqlite3_column_text(sel, 3),
			  (const char *)sqlite3_column_text(sel, 1), sqlite3_column_int64(sel, 0),
			  sqlite3_column_int64(sel, 2));
	sqlite3_reset(sel);
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_stmt *up = db_prep(c,
		"UPDATE tasks SET state = ?1, reason = ?2, engine = CASE WHEN ?5 THEN NULL ELSE engine END,"
		" wid = CASE WHEN ?5 THEN NULL ELSE wid END WHERE rid = ?3 AND state < ?6 AND (?4 = 0 OR idx = ?4)"
		" RETURNING idx");
	sqlite3_bind_int(up, 1, state);
	sqlite3_bind_text(up, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(up, 3, rid);
	sqlite3_bind_int64(up, 4, (int64_t)task);
	sqlite3_bind_int(up, 5, forget_engine);
	sqlite3_bind_int(up, 6, SPOOL_TASK_SUCCEEDED); /* the first terminal state */
	int64_t *idx = NULL;
	size_t n = 0;
	while ((rc = sqlite3_step(up)) == SQLITE_ROW) {
		idx = grow(idx, n, sizeof *idx);
		idx[n++] = sqlite3_column_int64(up, 0);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot end the tasks of a job: %s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(up);
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
		if ((i == 0 || (idx[i] - 1) / JOBSTATE_CHUNK != (idx[i - 1] - 1) / JOBSTATE_CHUNK) &&
		    mark_chunk(c, rid, idx[i]) < 0)
			rc = SQLITE_ERROR;
	changed = (int)n;
	/* Many tasks at once (a cancel, a poisoned job): counted again, O(tasks of the job). */
	if (rc == SQLITE_DONE && changed && recount(c, rid) < 0)
		rc = SQLITE_ERROR;
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
		if (deps_ended(c, rid, idx[i], state) < 0)
			rc = SQLITE_ERROR;
	free(idx);
	if (rc != SQLITE_DONE)
		goto fail;
	return changed;
fail:
	free(*taken);
	*taken = NULL;
	*ntaken = 0;
	return -1;
}

int queue_hold(struct ctl *c, int64_t rid, bool hold)
{
	sqlite3_stmt *j = db_prep(c, "UPDATE jobs SET held = ?2 WHERE rid = ?1 AND held != ?2");
	sqlite3_bind_int64(j, 1, rid);
	sqlite3_bind_int(j, 2, hold);
	if (run(c, j, "hold or release a job") < 0)
		return -1;
	if (sqlite3_changes(c->db) == 0)
		return 0;
	/* O(tasks of the job), once per request, as a cancel. */
	sqlite3_stmt *t = db_prep(c, "UPDATE tasks SET waits = waits + ?2 WHERE rid = ?1 AND +state = ?3 AND waits + ?2 >= 0");
	sqlite3_bind_int64(t, 1, rid);
	sqlite3_bind_int(t, 2, hold ? 1 : -1);
	sqlite3_bind_int(t, 3, SPOOL_TASK_QUEUED);
	if (run(c, t, hold ? "hold a job's tasks" : "release a job's tasks") < 0)
		return -1;
	if (!hold)
		c->want_assign = true;
	return job_changed(c, rid, 0) < 0 ? -1 : 1;
}

int queue_purge(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *q = db_prep(c, "SELECT nterminal >= ntasks FROM jobs WHERE rid = ?1");
	sqlite3_bind_int64(q, 1, rid);
	int rc = sqlite3_step(q);
	int over = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		log_err("database %s: cannot read job rid %lld: %s", c->dbpath, (long long)rid, sqlite3_errmsg(c->db));
	sqlite3_reset(q);
	if (over <= 0)
		return over < 0 && rc != SQLITE_DONE ? -1 : 0;
	/* Dependency rows on a finished job were resolved when it ended; any left (on either side)
	 * go with it, so no rid of a forgotten job stays behind. O(tasks of the job), once. */
	static const char *const del[] = {
		"DELETE FROM tasks WHERE rid = ?1",         "DELETE FROM job_counts WHERE rid = ?1",
		"DELETE FROM chunks_dirty WHERE rid = ?1",  "DELETE FROM attempts WHERE rid = ?1",
		"DELETE FROM deps WHERE on_rid = ?1",       "DELETE FROM deps WHERE rid = ?1",
		"DELETE FROM job_retry WHERE rid = ?1",     "DELETE FROM jobs WHERE rid = ?1",
	};
	for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
		sqlite3_stmt *st = db_prep(c, del[i]);
		sqlite3_bind_int64(st, 1, rid);
		if (run(c, st, "forget a purged job") < 0)
			return -1;
	}
	return 1;
}

int queue_restore(struct ctl *c, int64_t rid, const struct spool_task *t)
{
	sqlite3_stmt *up = db_prep(c, "UPDATE tasks SET state = ?1, attempt = ?2, engine = ?3, exit = ?4, signal = ?5,"
				      " wall_ms = ?6, node = ?7, reason = ?8 WHERE rid = ?9 AND idx = ?10");
	bool done = terminal(t->state);
	/* Only results survive a rebuild: a task that was in flight is queued again (same attempt
	 * count, so its next run gets a new attempt number). */
	sqlite3_bind_int(up, 1, done ? t->state : SPOOL_TASK_QUEUED);
	sqlite3_bind_int64(up, 2, (int64_t)t->attempt);
	if (done) {
		if (t->engine >= 0)
			sqlite3_bind_int64(up, 3, t->engine);
		if (t->exit_code >= 0)
			sqlite3_bind_int64(up, 4, t->exit_code);
		if (t->signal > 0)
			sqlite3_bind_int64(up, 5, t->signal);
		if (t->wall_ms >= 0)
			sqlite3_bind_int64(up, 6, t->wall_ms);
		if (t->node && strcmp(t->node, "-") != 0)
			sqlite3_bind_text(up, 7, t->node, -1, SQLITE_STATIC);
		if (t->reason)
			sqlite3_bind_text(up, 8, t->reason, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(up, 9, rid);
	sqlite3_bind_int64(up, 10, (int64_t)t->task);
	return run(c, up, "restore a task");
}

int queue_recount(struct ctl *c, int64_t rid)
{
	if (recount(c, rid) < 0)
		return -1;
	sqlite3_stmt *m = db_prep(c, "INSERT OR IGNORE INTO chunks_dirty(rid, chunk) SELECT DISTINCT rid, (idx - 1) / ?2"
				     " FROM tasks WHERE rid = ?1 AND (state != ?3 OR attempt > 0)");
	sqlite3_bind_int64(m, 1, rid);
	sqlite3_bind_int(m, 2, JOBSTATE_CHUNK);
	sqlite3_bind_int(m, 3, SPOOL_TASK_QUEUED);
	if (run(c, m, "mark a job's state to publish") < 0)
		return -1;
	sqlite3_stmt *f = db_prep(c, "UPDATE jobs SET finished_ms = CASE WHEN nterminal >= ntasks THEN coalesce(finished_ms, ?2)"
				     " ELSE NULL END WHERE rid = ?1");
	sqlite3_bind_int64(f, 1, rid);
	sqlite3_bind_int64(f, 2, (int64_t)wall_ms());
	return run(c, f, "note when a job ended");
}

int queue_counts(struct ctl *c, int64_t rid, uint64_t counts[SPOOL_TASK_NSTATES])
{
	int rc;
	memset(counts, 0, SPOOL_TASK_NSTATES * sizeof *counts);
	sqlite3_stmt *st = db_prep(c, "SELECT state, n FROM job_counts WHERE rid = ?");
	sqlite3_bind_int64(st, 1, rid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		if (s >= 0 && s < SPOOL_TASK_NSTATES && n > 0)
			counts[s] = (uint64_t)n;
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot read a job's counts: %s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
