/* publish.c - the files clients read: job states, the engine table, who the controller is.
 * Clients never open the database; these files are the controller's only answer to them. */
#include "ctl.h"
#include "jobstate.h"
#include "queue.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "rec.h"
#include "smallfmt.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files of job states that will not change again (a finished job's summary, a chunk of
 * terminal tasks): written and renamed into place at once, so that a waiting client sees them
 * without waiting for the disk, then fsync'd together with one fsync of ctl/jobs/ before the
 * database notes them published (sync_states). They only repeat what the database committed
 * before: one lost in a power cut is published again, as the job is still marked dirty. */
struct to_sync {
	struct sync_item *v;
	size_t n;
};

static void to_sync_add(struct to_sync *ts, const char *name, int64_t rid)
{
	ts->v = xrealloc(ts->v, (ts->n + 1) * sizeof *ts->v);
	ts->v[ts->n] = (struct sync_item){ .rid = rid };
	snprintf(ts->v[ts->n++].name, sizeof ts->v->name, "%s", name);
}

static void republish(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = 1 WHERE rid = ?");
	sqlite3_bind_int64(u, 1, rid);
	if (sqlite3_step(u) != SQLITE_DONE)
		log_err("database %s: cannot mark a job to publish: %s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(u);
}

/* Inside the caller's transaction: the files, then the directory (their names); a job whose
 * file could not be synced stays to publish. */
static void sync_states(struct ctl *c, struct to_sync *ts)
{
	sync_items(c->sd.ctl_jobs, ts->v, ts->n);
	for (size_t i = 0; i < ts->n; i++) {
		if (!ts->v[i].err)
			continue;
		log_err("cannot sync %s/ctl/jobs/%s to disk: %s (publishing it again)", c->sd.path, ts->v[i].name,
			strerror(ts->v[i].err));
		republish(c, ts->v[i].rid);
	}
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* Inside the caller's transaction: the files go to the syncer thread, their jobs are noted
 * published but not yet durable (syncer.c). */
static void hand_to_syncer(struct ctl *c, struct to_sync *ts)
{
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = ?1 WHERE rid = ?2 AND dirty = ?3");
	for (size_t i = 0; i < ts->n; i++) {
		syncer_add(c, ts->v[i].name, ts->v[i].rid);
		sqlite3_bind_int(u, 1, JOB_UNSYNCED);
		sqlite3_bind_int64(u, 2, ts->v[i].rid);
		sqlite3_bind_int(u, 3, JOB_CLEAN);
		if (sqlite3_step(u) != SQLITE_DONE)
			log_err("database %s: cannot note a job's state as published but not synced: %s", c->dbpath,
				sqlite3_errmsg(c->db));
		sqlite3_reset(u);
	}
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* Write one file of a job's state; on a shared spool with a root controller it is the job
 * owner's alone (spool-layout.md 12). ts: sync it (it will not change again). */
static int write_state(struct ctl *c, const char *name, const struct buf *b, uid_t owner, int64_t rid,
		       struct to_sync *ts)
{
	struct err e;
	bool give = c->sd.shared && geteuid() == 0 && !c->cannot_give_states;
	unsigned flags = FSW_NOSYNC;
	int rc = fs_write_atomic_owned(c->sd.ctl_jobs, name, b->p, b->len, give ? 0600 : 0644, give ? owner : (uid_t)-1,
				       flags, &e);
	if (rc < 0 && give && errno == EPERM) {
		c->cannot_give_states = true;
		log_warn("cannot give job states to their owners (%s): the file server does not let root "
			 "chown (NFS root_squash?); publishing them readable by every user of the spool instead "
			 "(export the spool no_root_squash to this node to keep them private)", e.msg);
		rc = fs_write_atomic(c->sd.ctl_jobs, name, b->p, b->len, 0644, flags, &e);
	}
	if (rc < 0)
		log_err("cannot publish %s/ctl/jobs/%s: %s", c->sd.path, name, e.msg);
	else if (ts)
		to_sync_add(ts, name, rid);
	return rc;
}

static int64_t col_or(sqlite3_stmt *st, int i, int64_t none)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int64(st, i);
}

/* The duplicate results of tasks first..last, added to tasks[] (indexed from first). */
static int read_dups(struct ctl *c, int64_t rid, int64_t first, int64_t last, struct spool_task *tasks)
{
	int rc;
	sqlite3_stmt *d = db_prep(c, "SELECT idx, attempt, wid, status, exit, signal FROM attempts WHERE rid = ?1"
				     " AND idx BETWEEN ?2 AND ?3 AND accepted = 0 ORDER BY idx, attempt");
	sqlite3_bind_int64(d, 1, rid);
	sqlite3_bind_int64(d, 2, first);
	sqlite3_bind_int64(d, 3, last);
	while ((rc = sqlite3_step(d)) == SQLITE_ROW) {
		struct spool_task *t = &tasks[sqlite3_column_int64(d, 0) - first];
		const char *w = (const char *)sqlite3_column_text(d, 2), *st = (const char *)sqlite3_column_text(d, 3);
		t->duplicates = xrealloc(t->duplicates, (t->nduplicates + 1) * sizeof *t->duplicates);
		struct spool_attempt *a = &t->duplicates[t->nduplicates++];
		a->attempt = (uint64_t)sqlite3_column_int64(d, 1);
		snprintf(a->worker, sizeof a->worker, "%s", w ? w : "-");
		snprintf(a->status, sizeof a->status, "%s", st ? st : "-");
		a->exit_code = (int)col_or(d, 4, -1);
		a->signal = (int)col_or(d, 5, 0);
	}
	sqlite3_reset(d);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void tasks_free(struct spool_task *t, char **text, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].duplicates);
		free(text[i]);
	}
	free(t);
	free(text);
}

/* Tasks first..first+n-1 of job rid as the database has them; *text holds their node
 * and reason strings (free both with tasks_free). *all_done: every one is terminal. NULL on a
 * database error (logged). */
static struct spool_task *tasks_read(struct ctl *c, int64_t rid, const char *id, int64_t first, size_t n,
				     char ***textp, bool *all_done)
{
	int64_t last = first + (int64_t)n - 1;
	int rc;
	struct spool_task *t = xcalloc(n ? n : 1, sizeof *t);
	char **text = xcalloc(n ? n : 1, sizeof *text); /* node and reason, copied out of the statement */
	*all_done = true;
	for (size_t i = 0; i < n; i++)
		jobstate_task_init(&t[i], (uint64_t)first + i);
	sqlite3_stmt *q = db_prep(c, "SELECT idx, state, attempt, engine, exit, signal, wall_ms, node, reason FROM tasks"
				     " WHERE rid = ?1 AND idx BETWEEN ?2 AND ?3");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int64(q, 2, first);
	sqlite3_bind_int64(q, 3, last);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		size_t i = (size_t)(sqlite3_column_int64(q, 0) - first);
		const char *node = (const char *)sqlite3_column_text(q, 7), *why = (const char *)sqlite3_column_text(q, 8);
		t[i].state = (enum spool_task_state)sqlite3_column_int(q, 1);
		t[i].attempt = (uint64_t)sqlite3_column_int64(q, 2);
		t[i].engine = col_or(q, 3, -1);
		t[i].exit_code = (int)col_or(q, 4, -1);
		t[i].signal = (int)col_or(q, 5, 0);
		t[i].wall_ms = col_or(q, 6, -1);
		text[i] = xasprintf("%s%c%s", node ? node : "-", 0, why ? why : "");
		t[i].node = text[i];
		t[i].reason = why ? text[i] + strlen(text[i]) + 1 : NULL;
		*all_done &= spool_task_terminal(&t[i]);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE || read_dups(c, rid, first, last, t) < 0) {
		log_err("database %s: cannot read tasks %lld-%lld of job %s: %s", c->dbpath, (long long)first,
			(long long)last, id, sqlite3_errmsg(c->db));
		tasks_free(t, text, n);
		return NULL;
	}
	*textp = text;
	return t;
}

/* Chunk k of a job: its tasks as they are now. Written whole; synced once all are terminal. */
static int publish_chunk(struct ctl *c, int64_t rid, const char *id, uid_t owner, int64_t ntasks, int64_t k,
			 struct buf *b, struct to_sync *ts)
{
	uint64_t first;
	size_t n = jobstate_chunk_tasks((uint64_t)ntasks, (uint64_t)k, &first);
	if (!n)
		return 0;
	char **text, name[96];
	bool all_done;
	struct spool_task *t = tasks_read(c, rid, id, (int64_t)first, n, &text, &all_done);
	if (!t)
		return -1;
	buf_reset(b);
	jobstate_chunk_begin(b, id, (uint64_t)k);
	for (size_t i = 0; i < n; i++)
		jobstate_task_write(b, &t[i]);
	rec_end(b);
	jobstate_chunk_name(name, sizeof name, id, (uint64_t)k);
	int rc = write_state(c, name, b, owner, rid, all_done ? ts : NULL);
	tasks_free(t, text, n);
	return rc;
}

/* The chunks of job rid that changed, then its summary: O(changed chunks), not O(tasks). A
 * small job's tasks go in its summary instead (format 3, jobstate.h): one file. */
static void publish_one(struct ctl *c, int64_t rid, struct buf *b, struct to_sync *ts)
{
	struct spool_job j;
	char name[96];
	int rc;

	sqlite3_stmt *q = db_prep(c, "SELECT id, name, owner, cwd, outdir, ntasks, nterminal, command, submitted_ms,"
				     " finished_ms, held FROM jobs WHERE rid = ?");
	sqlite3_bind_int64(q, 1, rid);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			log_err("database %s: cannot read job rid %lld: %s", c->dbpath, (long long)rid, sqlite3_errmsg(c->db));
		sqlite3_reset(q);
		return;
	}
	memset(&j, 0, sizeof j);
	snprintf(j.id, sizeof j.id, "%s", (const char *)sqlite3_column_text(q, 0));
	char *jname = sqlite3_column_type(q, 1) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(q, 1));
	char *cwd = xstrdup((const char *)sqlite3_column_text(q, 3)), *outdir = xstrdup((const char *)sqlite3_column_text(q, 4));
	char *command = sqlite3_column_type(q, 7) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(q, 7));
	j.name = jname;
	j.owner = (uint64_t)sqlite3_column_int64(q, 2);
	j.cwd = cwd;
	j.outdir = outdir;
	j.command = command;
	int64_t ntasks = sqlite3_column_int64(q, 5), nterm = sqlite3_column_int64(q, 6);
	j.ntasks = (size_t)ntasks;
	j.state = nterm >= ntasks ? SPOOL_JOB_DONE : SPOOL_JOB_ACTIVE;
	j.submitted_ms = (uint64_t)col_or(q, 8, 0);
	j.order = (uint64_t)rid;
	j.finished_ms = (uint64_t)col_or(q, 9, 0);
	j.held = j.state != SPOOL_JOB_DONE && sqlite3_column_int(q, 10) != 0;
	sqlite3_reset(q);
	char waiting[MAX_WAITING_LEN];
	waiting[0] = '\0';
	if (j.state != SPOOL_JOB_DONE && queue_waiting(c, rid, waiting, sizeof waiting) < 0)
		waiting[0] = '\0';
	j.waiting = waiting;

	/* Chunks first: a reader that sees the summary finds every chunk it counts. */
	bool inl = jobstate_inline((uint64_t)ntasks);
	int64_t *chunks = NULL;
	size_t nc = 0;
	rc = SQLITE_DONE;
	if (!inl) {
		sqlite3_stmt *dc = db_prep(c, "SELECT chunk FROM chunks_dirty WHERE rid = ? ORDER BY chunk");
		sqlite3_bind_int64(dc, 1, rid);
		while ((rc = sqlite3_step(dc)) == SQLITE_ROW) {
			chunks = xrealloc(chunks, (nc + 1) * sizeof *chunks);
			chunks[nc++] = sqlite3_column_int64(dc, 0);
		}
		sqlite3_reset(dc);
	}
	bool ok = rc == SQLITE_DONE && queue_counts(c, rid, j.counts) == 0;
	char **text = NULL;
	if (ok && inl) { /* (its chunks_dirty rows are deleted below all the same) */
		bool all_done;
		j.tasks = tasks_read(c, rid, j.id, 1, (size_t)ntasks, &text, &all_done);
		ok = j.tasks != NULL;
	}
	/* The chunks a failed publish created are removed again (a full disk must not fill up
	 * with half of a job's state and leave no room for the rest of the spool). */
	bool *created = xcalloc(nc ? nc : 1, sizeof *created);
	for (size_t i = 0; ok && i < nc; i++) {
		jobstate_chunk_name(name, sizeof name, j.id, (uint64_t)chunks[i]);
		created[i] = faccessat(c->sd.ctl_jobs, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
		ok = publish_chunk(c, rid, j.id, (uid_t)j.owner, ntasks, chunks[i], b, ts) == 0;
		if (!ok)
			created[i] = false;
	}
	if (ok) {
		buf_reset(b);
		jobstate_sum_write(b, &j);
		jobstate_sum_name(name, sizeof name, j.id);
		/* Only a finished job's state must survive a crash (synced after it is visible, by
		 * sync_states); intermediate ones are rewritten anyway. */
		ok = write_state(c, name, b, (uid_t)j.owner, rid, j.state == SPOOL_JOB_DONE ? ts : NULL) == 0;
	}
	for (size_t i = 0; !ok && i < nc; i++) {
		if (!created[i])
			continue;
		jobstate_chunk_name(name, sizeof name, j.id, (uint64_t)chunks[i]);
		unlinkat(c->sd.ctl_jobs, name, 0);
	}
	free(created);
	if (j.tasks)
		tasks_free(j.tasks, text, (size_t)ntasks);
	if (ok) {
		sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = 0, published_ms = ? WHERE rid = ?");
		sqlite3_bind_int64(u, 1, (int64_t)c->now);
		sqlite3_bind_int64(u, 2, rid);
		sqlite3_stmt *d = db_prep(c, "DELETE FROM chunks_dirty WHERE rid = ?");
		sqlite3_bind_int64(d, 1, rid);
		if (sqlite3_step(u) != SQLITE_DONE || sqlite3_step(d) != SQLITE_DONE)
			log_err("database %s: cannot note that job %s was published: %s", c->dbpath, j.id,
				sqlite3_errmsg(c->db));
		sqlite3_reset(u);
		sqlite3_reset(d);
	}
	free(chunks);
	free(jname);
	free(cwd);
	free(outdir);
	free(command);
}

void publish_job(struct ctl *c, int64_t rid)
{
	struct buf b;
	struct to_sync ts = { 0 };
	buf_init(&b);
	db_begin_lazy(c);
	publish_one(c, rid, &b, &ts);
	wake_ring(c);
	sync_states(c, &ts);
	db_commit_lazy(c);
	buf_free(&b);
}

/* Each publish of a job costs what changed in it, so every job is published at most once per
 * publish_interval while it runs, and at once when it is done. */
void publish_jobs(struct ctl *c, bool force)
{
	struct buf b;
	int64_t *rids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	static const int dirty[] = { JOB_DIRTY };
	sqlite3_stmt *st = db_prep_fixed(c, "SELECT rid, ntasks, nterminal, published_ms FROM jobs WHERE dirty = ?1", 1, dirty);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ntasks = sqlite3_column_int64(st, 1), nterm = sqlite3_column_int64(st, 2);
		/* published_ms: when it was last published; negated while its first publish waits
		 * (queue_job_add), until publish_interval passed or one of its tasks ended. */
		int64_t pub = sqlite3_column_int64(st, 3);
		uint64_t last = (uint64_t)(pub < 0 ? -pub : pub);
		if (!force && nterm < ntasks && last <= c->now && c->now - last < c->sd.conf.publish_ms)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rids = xrealloc(rids, cap * sizeof *rids);
		}
		rids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot list the jobs to publish: %s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	if (!n)
		return;
	struct to_sync ts = { 0 };
	buf_init(&b);
	db_begin_lazy(c);
	for (size_t i = 0; i < n; i++)
		publish_one(c, rids[i], &b, &ts);
	wake_ring(c); /* the clients waiting on this machine look now */
	if (c->syncer)
		hand_to_syncer(c, &ts);
	else
		sync_states(c, &ts);
	db_commit_lazy(c);
	buf_free(&b);
	free(rids);
}

void publish_engines(struct ctl *c)
{
	struct buf b;
	struct err e;
	int rc;

	buf_init(&b);
	rec_begin(&b, "engines");
	/* engine_line_put (lib/smallfmt.h) checks every field, TASK (JOB.TASK) included */
	static const int held[] = { SPOOL_TASK_ASSIGNED, SPOOL_TASK_RUNNING };
	sqlite3_stmt *st = db_prep_fixed(c,
		"SELECT e.id, e.alive, w.node, w.pid, e.wid,"
		" (SELECT j.id || '.' || t.idx FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE t.engine = e.id"
		"  AND t.state BETWEEN ?1 AND ?2 ORDER BY t.seq LIMIT 1)"
		" FROM engines e JOIN workers w ON w.wid = e.wid ORDER BY e.id", 2, held);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *wid = (const char *)sqlite3_column_text(st, 4);
		const char *task = (const char *)sqlite3_column_text(st, 5);
		const char *node = (const char *)sqlite3_column_text(st, 2);
		int alive = sqlite3_column_int(st, 1);
		struct wlive *w = wlive_find(c, wid);
		struct spool_engine x = { .id = sqlite3_column_int64(st, 0), .pid = sqlite3_column_int64(st, 3),
					  .beat_age_ms = w && alive ? (int64_t)(c->now - w->beat_changed_ms) : -1 };
		snprintf(x.state, sizeof x.state, "%s", !alive ? "dead" : task ? "busy" : "idle");
		snprintf(x.node, sizeof x.node, "%s", node ? node : "");
		snprintf(x.worker, sizeof x.worker, "%s", wid ? wid : "");
		snprintf(x.task, sizeof x.task, "%s", task ? task : "-");
		if (engine_line_put(&b, &x) < 0)
			log_err("engine %lld of worker %s on %s is left out of ctl/engines: a field is not as clients "
				"read it", (long long)x.id, x.worker, x.node);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_err("cannot list the engines to publish ctl/engines (%s): the engine table is left as it was",
			sqlite3_errmsg(c->db));
		buf_free(&b);
		return;
	}
	rec_end(&b);
	if (fs_write_atomic(c->sd.ctl, "engines", b.p, b.len, 0644, FSW_NOSYNC, &e) < 0)
		log_err("cannot publish the engine table: %s", e.msg);
	buf_free(&b);
	c->engines_dirty = false;
}

int publish_controller(struct ctl *c, struct err *e)
{
	struct buf b;
	int rc;
	buf_init(&b);
	rec_begin(&b, "controller");
	rec_put(&b, "node", c->node);
	rec_put_u64(&b, "pid", (uint64_t)getpid());
	rec_put(&b, "boot", c->boot);
	rec_put_u64(&b, "start", proc_start_ticks(getpid()));
	rec_put(&b, "fs", c->fstype);
	rec_put(&b, "database", c->dbpath);
	rec_put(&b, "version", SPOOL_VERSION);
	rec_end(&b);
	rc = fs_write_atomic(c->sd.ctl, "controller", b.p, b.len, 0644, 0, e);
	buf_free(&b);
	return rc;
}

/* A counter clients on other nodes can watch change (they cannot signal our pid). */
void publish_beat(struct ctl *c)
{
	char txt[32];
	int n = snprintf(txt, sizeof txt, "%llu\n", (unsigned long long)++c->ctl_beat);
	fs_write_atomic(c->sd.ctl, "beat", txt, (size_t)n, 0644, FSW_NOSYNC, NULL);
}
