/* publish.c - the files clients read: job states, the engine table, who the controller is.
 * Clients never open the database; these files are the controller's only answer to them. */
#include "ctl.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "rec.h"
#include "smallfmt.h"
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *state_names[] = { "queued",    "assigned", "running",   "succeeded",
				     "failed",    "timedout", "cancelled", "abandoned" };

const char *task_state_name(int s)
{
	return s >= 0 && s < (int)ARRAY_LEN(state_names) ? state_names[s] : "unknown";
}

static void col_int(struct buf *b, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		buf_adds(b, " -");
	else
		buf_printf(b, " %lld", (long long)sqlite3_column_int64(st, i));
}

static void publish_one(struct ctl *c, int64_t rid, struct buf *b)
{
	struct err e;
	char id[72], name[96];
	int64_t ntasks, nterm, owner;

	sqlite3_stmt *j = db_prep(c, "SELECT id, name, owner, cwd, outdir, ntasks, nterminal FROM jobs WHERE rid = ?");
	sqlite3_bind_int64(j, 1, rid);
	if (sqlite3_step(j) != SQLITE_ROW) {
		sqlite3_reset(j);
		return;
	}
	buf_reset(b);
	rec_begin(b, "jobstate");
	snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(j, 0));
	rec_put(b, "job", id);
	if (sqlite3_column_type(j, 1) != SQLITE_NULL)
		rec_put(b, "name", (const char *)sqlite3_column_text(j, 1));
	owner = sqlite3_column_int64(j, 2);
	rec_put_i64(b, "owner", owner);
	rec_put(b, "cwd", (const char *)sqlite3_column_text(j, 3));
	rec_put(b, "outdir", (const char *)sqlite3_column_text(j, 4));
	ntasks = sqlite3_column_int64(j, 5);
	nterm = sqlite3_column_int64(j, 6);
	rec_put_i64(b, "ntasks", ntasks);
	rec_put(b, "state", nterm >= ntasks ? "done" : "active");
	sqlite3_reset(j);

	/* task IDX STATE ATTEMPT ENGINE EXIT SIGNAL WALL_MS NODE ; "-" for none */
	sqlite3_stmt *t = db_prep(c, "SELECT idx, state, attempt, engine, exit, signal, wall_ms, node, reason FROM tasks WHERE rid = ? ORDER BY idx");
	sqlite3_bind_int64(t, 1, rid);
	struct buf reasons;
	buf_init(&reasons);
	while (sqlite3_step(t) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(t, 0);
		buf_printf(b, "task %lld %s %lld", (long long)idx, task_state_name(sqlite3_column_int(t, 1)),
			   (long long)sqlite3_column_int64(t, 2));
		for (int i = 3; i <= 6; i++)
			col_int(b, t, i);
		const char *node = (const char *)sqlite3_column_text(t, 7);
		buf_printf(b, " %s\n", node && name_ok(node) ? node : "-");
		if (sqlite3_column_type(t, 8) != SQLITE_NULL) {
			buf_printf(&reasons, "reason %lld ", (long long)idx);
			const char *r = (const char *)sqlite3_column_text(t, 8);
			rec_escape(&reasons, r, strlen(r));
			buf_addc(&reasons, '\n');
		}
	}
	sqlite3_reset(t);
	/* dup IDX ATTEMPT WID STATUS EXIT SIGNAL: results that came after the accepted one */
	sqlite3_stmt *d = db_prep(c, "SELECT idx, attempt, wid, status, exit, signal FROM attempts WHERE rid = ? AND accepted = 0 ORDER BY idx, attempt");
	sqlite3_bind_int64(d, 1, rid);
	while (sqlite3_step(d) == SQLITE_ROW) {
		const char *dw = (const char *)sqlite3_column_text(d, 2), *ds = (const char *)sqlite3_column_text(d, 3);
		buf_printf(&reasons, "dup %lld %lld %s %s", (long long)sqlite3_column_int64(d, 0),
			   (long long)sqlite3_column_int64(d, 1), dw && name_ok(dw) ? dw : "-",
			   ds && name_ok(ds) ? ds : "-");
		col_int(&reasons, d, 4);
		col_int(&reasons, d, 5);
		buf_addc(&reasons, '\n');
	}
	sqlite3_reset(d);
	buf_add(b, reasons.p ? reasons.p : "", reasons.len);
	buf_free(&reasons);
	rec_end(b);
	snprintf(name, sizeof name, "%s.state", id);
	/* Only a finished job's state must survive a crash; intermediate ones are rewritten anyway. */
	/* On a shared spool a job's state is its owner's alone (a root controller can give it away;
	 * one running as a service account cannot, and says so in spool doctor). */
	static bool cannot_give; /* root squashed to nobody by an NFS server cannot chown */
	bool give = c->sd.shared && geteuid() == 0 && !cannot_give;
	unsigned sync = nterm >= ntasks ? 0 : FSW_NOSYNC;
	int rc = fs_write_atomic_owned(c->sd.ctl_jobs, name, b->p, b->len, give ? 0600 : 0644,
				       give ? (uid_t)owner : (uid_t)-1, sync, &e);
	if (rc < 0 && give && errno == EPERM) {
		cannot_give = true;
		log_warn("cannot give job states to their owners (%s): the file server does not let root "
			 "chown (NFS root_squash?); publishing them readable by every user of the spool instead "
			 "(export the spool no_root_squash to this node to keep them private)", e.msg);
		rc = fs_write_atomic(c->sd.ctl_jobs, name, b->p, b->len, 0644, sync, &e);
	}
	if (rc < 0) {
		log_err("cannot publish the state of job %s: %s", id, e.msg);
		return;
	}
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = 0, published_ms = ? WHERE rid = ?");
	sqlite3_bind_int64(u, 1, (int64_t)c->now);
	sqlite3_bind_int64(u, 2, rid);
	sqlite3_step(u);
	sqlite3_reset(u);
}

void publish_job(struct ctl *c, int64_t rid)
{
	struct buf b;
	buf_init(&b);
	db_begin_lazy(c);
	publish_one(c, rid, &b);
	db_commit_lazy(c);
	buf_free(&b);
}

/* Rewriting a job's state costs O(tasks): big jobs are rewritten less often, finished ones at once. */
void publish_jobs(struct ctl *c, bool force)
{
	struct buf b;
	int64_t *rids = NULL;
	size_t n = 0, cap = 0;

	sqlite3_stmt *st = db_prep(c, "SELECT rid, ntasks, nterminal, published_ms FROM jobs WHERE dirty = 1");
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t ntasks = sqlite3_column_int64(st, 1), nterm = sqlite3_column_int64(st, 2);
		uint64_t last = (uint64_t)sqlite3_column_int64(st, 3);
		uint64_t gap = c->sd.conf.publish_ms + (uint64_t)ntasks / 100;
		if (!force && nterm < ntasks && last <= c->now && c->now - last < gap)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rids = xrealloc(rids, cap * sizeof *rids);
		}
		rids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (!n)
		return;
	buf_init(&b);
	db_begin_lazy(c);
	for (size_t i = 0; i < n; i++)
		publish_one(c, rids[i], &b);
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
	sqlite3_stmt *st = db_prep(c,
		"SELECT e.id, e.alive, w.node, w.pid, e.wid,"
		" (SELECT j.id || '.' || t.idx FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE t.engine = e.id AND t.state IN (1, 2) ORDER BY t.seq LIMIT 1)"
		" FROM engines e JOIN workers w ON w.wid = e.wid ORDER BY e.id");
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
