/* test_queue.c - the controller's queue without processes: ingest a map, register a worker,
 * assign (FIFO, first slots first, prefetch bound), complete, duplicate, requeue on death. */
#include "../unit/unit.h"
#include "ctl.h"
#include "fsio.h"
#include "jobstate.h"
#include "queue.h"
#include "rec.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct ctl c;

static void write_rec(int dirfd, const char *name, struct buf *b)
{
	struct err e;
	if (fs_write_atomic(dirfd, name, b->p, b->len, 0644, 0, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		exit(2);
	}
}

static int task_state(const char *job, int idx)
{
	sqlite3_stmt *st;
	int s = -1;
	sqlite3_prepare_v2(c.db, "SELECT t.state FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE j.id = ? AND t.idx = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, idx);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return s;
}

static long count(const char *sql)
{
	sqlite3_stmt *st;
	long n = -1;
	sqlite3_prepare_v2(c.db, sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* What queue.c keeps beside the tasks agrees with the tasks: per-state counts and nterminal. */
static bool counts_agree(void)
{
	return count("SELECT count(*) FROM (SELECT rid, state, count(*) AS n FROM tasks GROUP BY rid, state) g"
		     " LEFT JOIN job_counts k USING (rid, state) WHERE k.n IS NOT g.n") == 0 &&
	       count("SELECT count(*) FROM job_counts k WHERE k.n != (SELECT count(*) FROM tasks t"
		     " WHERE t.rid = k.rid AND t.state = k.state)") == 0 &&
	       count("SELECT count(*) FROM jobs j WHERE nterminal != (SELECT count(*) FROM tasks t WHERE t.rid = j.rid"
		     " AND t.state >= 3)") == 0 &&
	       /* fair share: owner_load is each owner's assigned + running tasks */
	       count("SELECT count(*) FROM (SELECT j.owner, count(*) AS n FROM tasks t JOIN jobs j ON j.rid = t.rid"
		     " WHERE t.state BETWEEN 1 AND 2 GROUP BY j.owner) g LEFT JOIN owner_load o USING (owner)"
		     " WHERE o.n IS NOT g.n") == 0 &&
	       count("SELECT count(*) FROM owner_load o WHERE o.n != (SELECT count(*) FROM tasks t JOIN jobs j ON"
		     " j.rid = t.rid WHERE j.owner = o.owner AND t.state BETWEEN 1 AND 2)") == 0;
}

/* One transition in its own transaction, rolled back when it fails (as spoold does). */
#define IN_TX(call) ({ db_begin(&c); int rc_ = (call); if (rc_ < 0) db_rollback(&c); else db_commit(&c); rc_; })

/* Rows SQLite stepped through in full scans (of a table or a whole index) by the controller's
 * statements since the last call. */
static long full_scan_steps(void)
{
	long n = 0;
	for (size_t i = 0; i < STMT_CACHE && c.stmts[i].sql; i++)
		n += sqlite3_stmt_status(c.stmts[i].st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	return n;
}

/* A scheduling pass costs what it assigns, not what is queued: with 20,000 tasks queued behind,
 * it steps through no more rows than engines and tasks it handles. */
static void pass_cost(void)
{
	struct buf b;
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", "bigaaaaaa1");
	rec_put(&b, "cwd", "/tmp");
	rec_put(&b, "map", "1");
	rec_put(&b, "arg", "true");
	for (int i = 1; i <= 20000; i++) {
		char it[16];
		snprintf(it, sizeof it, "%d", i);
		rec_put(&b, "item", it);
	}
	rec_end(&b);
	write_rec(c.sd.incoming, "bigaaaaaa1.job", &b);
	buf_free(&b);
	ingest_incoming(&c);
	CHECK(count("SELECT count(*) FROM tasks WHERE rid = (SELECT rid FROM jobs WHERE id = 'bigaaaaaa1')") == 20000,
	      "scheduler: 20,000 tasks queued");
	full_scan_steps();
	c.want_assign = true;
	assign_tasks(&c);
	ingest_settle(&c, true); /* as spoold's loop does after a pass */
	long assigned = count("SELECT count(*) FROM tasks WHERE state BETWEEN 1 AND 2"), steps = full_scan_steps();
	CHECK(assigned > 0 && assigned <= 8, "scheduler: a pass fills the engines' slots");
	CHECK(steps <= 4 * (assigned + 8), "scheduler: the pass stepped through O(engines + assigned) rows, not the queue");
	if (steps > 4 * (assigned + 8))
		fprintf(stderr, "full-scan steps: %ld for %ld assigned\n", steps, assigned);
	CHECK(counts_agree(), "scheduler: counts agree after the pass");
}

/* A job of owner with n tasks any engine may run, inserted through queue.c as ingest does. */
static int64_t owned_job(const char *id, uid_t owner, int n, int64_t priority, uint64_t max_running)
{
	struct queue_job q = { .id = id, .cwd = "/tmp", .outdir = "/tmp/o", .owner = owner, .umask = -1, .is_map = 1,
			       .argv = "true", .argv_len = 5, .ntasks = (uint64_t)n, .priority = priority,
			       .max_running = max_running };
	uint64_t counts[SPOOL_TASK_NSTATES] = { 0 };
	counts[SPOOL_TASK_QUEUED] = (uint64_t)n;
	db_begin(&c);
	int64_t rid = queue_job_add(&c, &q);
	for (int i = 1; rid >= 0 && i <= n; i++)
		if (queue_task_add(&c, rid, i, "x", 1, -1, SPOOL_TASK_QUEUED, NULL, 0) < 0)
			rid = -1;
	if (rid < 0 || queue_job_added(&c, rid, counts) < 0) {
		db_rollback(&c);
		return -1;
	}
	db_commit(&c);
	return rid;
}

static long assigned_of(const char *job)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE j.id = '%s'"
		 " AND t.state BETWEEN 1 AND 2", job);
	return count(sql);
}

/* Fair share, priority, max_running and hold (spool-layout.md 5.6), through a real pass, with a
 * long queue of one owner's behind. */
static void fair_share(void)
{
	struct queue_taken *t;
	size_t nt;
	sqlite3_stmt *st;
	/* An empty queue first: every job so far ends. */
	sqlite3_prepare_v2(c.db, "SELECT rid FROM jobs", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		IN_TX(queue_end(&c, sqlite3_column_int64(st, 0), 0, SPOOL_TASK_CANCELLED, "test", true, &t, &nt));
		free(t);
	}
	sqlite3_finalize(st);
	CHECK(counts_agree() && count("SELECT sum(n) FROM owner_load") == 0, "fair: nothing runs, owner_load says so");
	c.sd.conf.prefetch = c.sd.conf.prefetch_short = 3;
	long slots = count("SELECT count(*) * 4 FROM engines WHERE alive = 1");
	int64_t a = owned_job("fairaaaaa1", 4001, 5000, 0, 0);
	int64_t b1 = owned_job("fairbbbbb1", 4002, 1, 0, 0);
	int64_t b2 = owned_job("fairbbbbb2", 4002, 1, 9, 0);
	int64_t cc = owned_job("faircccc01", 4003, 5, 0, 1);
	CHECK(a > 0 && b1 > 0 && b2 > 0 && cc > 0, "fair: jobs of three owners queued (5,000 tasks of the first)");
	CHECK(slots >= 3, "fair: at least three free slots");
	full_scan_steps();
	c.want_assign = true;
	assign_tasks(&c);
	long steps = full_scan_steps(), na = assigned_of("fairaaaaa1"), nb1 = assigned_of("fairbbbbb1"),
	     nb2 = assigned_of("fairbbbbb2"), nc = assigned_of("faircccc01");
	CHECK(na + nb1 + nb2 + nc == slots, "fair: the pass fills every free slot");
	CHECK(nb2 == 1, "fair: the second owner's task runs at once, though the first owner's 5,000 came before");
	CHECK(nb1 == 0 || nb2 == 1, "fair: ... its priority 9 job before its earlier priority 0 job");
	CHECK(nc == 1, "fair: a job with max_running 1 gets one slot, however many are free");
	CHECK(na >= slots - 3 && na <= slots - 1, "fair: the first owner gets the rest (least loaded owner first)");
	CHECK(steps <= 4 * (slots + 8), "fair: the pass stepped through O(engines + assigned) rows, not the queue");
	if (steps > 4 * (slots + 8))
		fprintf(stderr, "full-scan steps: %ld for %ld slots\n", steps, slots);
	CHECK(counts_agree(), "fair: owner_load agrees after the pass");

	/* hold: the queued tasks leave the scheduler's indexes; running ones are untouched. */
	CHECK(IN_TX(queue_hold(&c, a, true)) == 1, "hold: a job is held");
	CHECK(IN_TX(queue_hold(&c, a, true)) == 0, "hold: holding it again changes nothing");
	CHECK(count("SELECT count(*) FROM tasks WHERE rid = (SELECT rid FROM jobs WHERE id = 'fairaaaaa1') AND state = 0"
		    " AND waits = 0") == 0, "hold: none of its queued tasks is ready");
	CHECK(assigned_of("fairaaaaa1") == na, "hold: its assigned tasks stay assigned");
	IN_TX(queue_end(&c, b1, 0, SPOOL_TASK_CANCELLED, "test", true, &t, &nt));
	free(t);
	IN_TX(queue_end(&c, b2, 0, SPOOL_TASK_CANCELLED, "test", true, &t, &nt));
	free(t);
	c.want_assign = true;
	assign_tasks(&c);
	CHECK(assigned_of("fairaaaaa1") == na, "hold: a pass with free slots assigns nothing of a held job");
	CHECK(assigned_of("faircccc01") == 1, "hold: ... nor more than max_running of a capped one");
	CHECK(IN_TX(queue_hold(&c, a, false)) == 1 && c.want_assign, "release: the job is released, a pass is due");
	CHECK(count("SELECT count(*) FROM tasks WHERE rid = (SELECT rid FROM jobs WHERE id = 'fairaaaaa1') AND state = 0"
		    " AND waits = 0") == 5000 - na, "release: all its queued tasks are ready again");
	assign_tasks(&c);
	CHECK(assigned_of("fairaaaaa1") == slots - 1, "release: the next pass gives it the free slots");
	CHECK(counts_agree(), "fair: counts and owner_load agree after hold and release");

	/* Every engine is full now. A newcomer's task gets a full engine's one extra place. */
	CHECK(owned_job("fairddddd1", 4004, 2, 0, 0) > 0, "jump: a 2-task job of a fourth owner queued");
	c.want_assign = true;
	assign_tasks(&c);
	CHECK(assigned_of("fairddddd1") == 1, "jump: an owner with nothing running gets a place on a full engine");
	CHECK(assigned_of("fairaaaaa1") == slots - 1 && assigned_of("faircccc01") == 1,
	      "jump: ... and owners with work get none");
	c.want_assign = true;
	assign_tasks(&c);
	CHECK(assigned_of("fairddddd1") == 1, "jump: ... and only one, while it has a task out");
	CHECK(counts_agree(), "fair: counts and owner_load agree after the jump");
}

static void transitions(void)
{
	struct queue_revoke rv;
	struct queue_taken *t;
	size_t nt;
	int64_t rid = db_job_rid(&c, "jobaaaaaa1");
	struct queue_result ok = { .wid = "node1-aaaaaaaa", .node = "node1", .status = "exited", .state = SPOOL_TASK_SUCCEEDED,
				   .idx = 3, .attempt = 9, .engine = 1, .wall_ms = 5, .exit_code = 0, .signal = -1 };

	CHECK(counts_agree(), "queue: counts agree with the tasks after ingest, assign, finish, requeue");
	CHECK(IN_TX(queue_assign(&c, rid, 1, 2, 1, "node1-aaaaaaaa", 100)) < 0, "queue: assigning a finished task is refused");
	CHECK(task_state("jobaaaaaa1", 1) == SPOOL_TASK_SUCCEEDED, "queue: ... and it stays succeeded");
	CHECK(IN_TX(queue_assign(&c, rid, 3, 9, 1, "node1-aaaaaaaa", 101)) == 0 &&
		      task_state("jobaaaaaa1", 3) == SPOOL_TASK_ASSIGNED,
	      "queue: queued -> assigned");
	CHECK(IN_TX(queue_assign(&c, rid, 3, 10, 1, "node1-aaaaaaaa", 102)) < 0, "queue: assigning an assigned task is refused");
	CHECK(IN_TX(queue_start(&c, "jobaaaaaa1", 3, 8, "node1-aaaaaaaa")) == 0, "queue: starting another attempt changes nothing");
	CHECK(IN_TX(queue_start(&c, "jobaaaaaa1", 3, 9, "node1-aaaaaaaa")) == 1 &&
		      task_state("jobaaaaaa1", 3) == SPOOL_TASK_RUNNING,
	      "queue: assigned -> running");
	CHECK(IN_TX(queue_start(&c, "jobaaaaaa1", 3, 9, "node1-aaaaaaaa")) == 0, "queue: running -> running changes nothing");
	CHECK(IN_TX(queue_start(&c, "jobaaaaaa1", 5, 1, "node1-aaaaaaaa")) == 0, "queue: a queued task cannot start");
	CHECK(counts_agree(), "queue: counts agree after assign and start");
	CHECK(IN_TX(queue_finish(&c, rid, &ok, &rv)) == 1 && task_state("jobaaaaaa1", 3) == SPOOL_TASK_SUCCEEDED && !rv.wid[0],
	      "queue: running -> succeeded, nothing to revoke");
	ok.exit_code = 4;
	ok.attempt = 10;
	CHECK(IN_TX(queue_finish(&c, rid, &ok, &rv)) == 0 && task_state("jobaaaaaa1", 3) == SPOOL_TASK_SUCCEEDED,
	      "queue: a second result of a finished task is a duplicate, never replacing it");
	CHECK(IN_TX(queue_refuse(&c, rid, 3, "no")) < 0, "queue: refusing a finished task is refused");
	CHECK(IN_TX(queue_end(&c, rid, 5, SPOOL_TASK_CANCELLED, "by test", false, &t, &nt)) == 1 &&
		      task_state("jobaaaaaa1", 5) == SPOOL_TASK_CANCELLED && nt == 0,
	      "queue: queued -> cancelled");
	free(t);
	CHECK(IN_TX(queue_end(&c, rid, 0, SPOOL_TASK_CANCELLED, "by test", false, &t, &nt)) == 1, "queue: ending a job ends only what was not terminal");
	free(t);
	CHECK(IN_TX(queue_end(&c, rid, 1, SPOOL_TASK_FAILED, "by test", false, &t, &nt)) == 0 &&
		      task_state("jobaaaaaa1", 1) == SPOOL_TASK_SUCCEEDED,
	      "queue: a terminal task never changes");
	free(t);
	CHECK(counts_agree(), "queue: counts agree after finish, duplicate and end");
	CHECK(count("SELECT count(*) FROM jobs WHERE finished_ms IS NOT NULL") == 1, "queue: the job's end is noted");

	/* Publishing: a job of 5 tasks has them in its summary (format 3, no chunk file), read
	 * back through the parser clients use. */
	publish_jobs(&c, false);
	CHECK(faccessat(c.sd.ctl_jobs, "jobaaaaaa1.state", F_OK, 0) == 0,
	      "publish: ... but not once one of its tasks ended (a dependent may have seen it)");
	c.now = mono_ms();
	publish_jobs(&c, true);
	struct buf b;
	struct rec r;
	struct err e;
	struct spool_job j;
	int v1 = 0;
	buf_init(&b);
	memset(&j, 0, sizeof j);
	CHECK(fs_read_file(c.sd.ctl_jobs, "jobaaaaaa1.state", 1 << 20, &b, NULL, &e) == 0 &&
		      jobstate_sum_read(b.p, b.len, &r, &j, &v1, &e) == 0,
	      "publish: the summary is a record of format 2 or 3");
	CHECK(v1 && rec_get_u64(&r, "format", 0) == JOBSTATE_FORMAT_INLINE && j.done && j.ntasks == 5 && j.counts[SPOOL_TASK_SUCCEEDED] == 2 && j.counts[SPOOL_TASK_FAILED] == 1 &&
		      j.counts[SPOOL_TASK_CANCELLED] == 2,
	      "publish: done, with its counts");
	struct spool_task tk[5];
	CHECK(jobstate_tasks_read(&r, 1, 5, tk, &e) == 0, "publish: the summary holds the 5 tasks");
	CHECK(faccessat(c.sd.ctl_jobs, "jobaaaaaa1.tasks.0", F_OK, 0) < 0 && errno == ENOENT,
	      "publish: a small job has no chunk file");
	CHECK(tk[2].state == SPOOL_TASK_SUCCEEDED && tk[2].attempt == 9 && tk[2].nduplicates == 1 &&
		      tk[2].duplicates[0].exit_code == 4 && tk[4].state == SPOOL_TASK_CANCELLED,
	      "publish: each task as the queue has it, with its duplicate");
	for (int i = 0; i < 5; i++)
		free(tk[i].duplicates);
	rec_free(&r);
	CHECK(count("SELECT count(*) FROM chunks_dirty") == 0 && count("SELECT count(*) FROM jobs WHERE dirty = 1") == 0,
	      "publish: nothing left to publish");
	buf_free(&b);

	/* With the syncer thread: published at once, noted durable only once it synced them. */
	CHECK(syncer_start(&c) == 0 && syncer_fd(&c) >= 0, "syncer: the thread starts");
	db_exec(&c, "UPDATE jobs SET dirty = 1");
	publish_jobs(&c, true);
	CHECK(count("SELECT count(*) FROM jobs WHERE dirty = 2") == 1 &&
		      faccessat(c.sd.ctl_jobs, "jobaaaaaa1.state", F_OK, 0) == 0,
	      "syncer: a finished job is published, noted published but not yet synced");
	for (int i = 0; i < 200 && count("SELECT count(*) FROM jobs WHERE dirty = 2") > 0; i++) {
		struct pollfd p = { syncer_fd(&c), POLLIN, 0 };
		poll(&p, 1, 50);
		syncer_collect(&c);
	}
	CHECK(count("SELECT count(*) FROM jobs WHERE dirty <> 0") == 0, "syncer: ... and noted synced once the thread synced it");
	db_exec(&c, "UPDATE jobs SET dirty = 2");
	syncer_stop(&c);
	CHECK(c.syncer == NULL && syncer_start(&c) == 0 && count("SELECT count(*) FROM jobs WHERE dirty = 1") == 1,
	      "syncer: a start publishes again what a previous run published without a sync");
	publish_jobs(&c, false);
	syncer_stop(&c);
	CHECK(count("SELECT count(*) FROM jobs WHERE dirty <> 0") == 0, "syncer: stopping syncs what is queued and notes it");

	/* A job of more than JOBSTATE_INLINE tasks: a format 2 summary, and a chunk file only for
	 * the chunk where a task changed. */
	int64_t big = owned_job("jobchunk01", 0, JOBSTATE_CHUNK + 6, 0, 0);
	CHECK(big > 0 && IN_TX(queue_end(&c, big, JOBSTATE_CHUNK + 6, SPOOL_TASK_CANCELLED, "by test", false, &t, &nt)) == 1,
	      "publish: the last task of a job of 1,030 ends");
	free(t);
	c.now = mono_ms();
	publish_jobs(&c, true);
	buf_init(&b);
	CHECK(fs_read_file(c.sd.ctl_jobs, "jobchunk01.state", 1 << 20, &b, NULL, &e) == 0 &&
		      jobstate_sum_read(b.p, b.len, &r, &j, &v1, &e) == 0 && !v1 &&
		      rec_get_u64(&r, "format", 0) == JOBSTATE_FORMAT && rec_count(&r, "task") == 0 &&
		      j.counts[SPOOL_TASK_CANCELLED] == 1,
	      "publish: a big job's summary is format 2, without its tasks");
	rec_free(&r);
	for (int i = 0; i < 5; i++)
		jobstate_task_init(&tk[i], JOBSTATE_CHUNK + 1 + (uint64_t)i);
	struct spool_task last[6];
	CHECK(faccessat(c.sd.ctl_jobs, "jobchunk01.tasks.0", F_OK, 0) < 0 &&
		      fs_read_file(c.sd.ctl_jobs, "jobchunk01.tasks.1", 1 << 20, &b, NULL, &e) == 0 &&
		      jobstate_chunk_parse(b.p, b.len, "jobchunk01", 1, &r, &e) == 0 &&
		      jobstate_tasks_read(&r, JOBSTATE_CHUNK + 1, 6, last, &e) == 0 && last[5].state == SPOOL_TASK_CANCELLED &&
		      last[0].state == SPOOL_TASK_QUEUED,
	      "publish: only the chunk that changed is written, with its 6 tasks");
	rec_free(&r);
	buf_free(&b);
}

/* A job record: a map of n items (n > 0) or a submit (n == 0), with dependencies "after=X",
 * "afterok=X" or "after_each=X" (NULL-terminated). */
static void dep_job(const char *id, const char *cwd, int n, const char *const *deps)
{
	struct buf b;
	char name[64];
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", id);
	rec_put(&b, "cwd", cwd);
	if (n)
		rec_put(&b, "map", "1");
	for (const char *const *d = deps; *d; d++) {
		char k[32];
		const char *eq = strchr(*d, '=');
		snprintf(k, sizeof k, "%.*s", (int)(eq - *d), *d);
		rec_put(&b, k, eq + 1);
	}
	rec_put(&b, "arg", "true");
	for (int i = 1; i <= n; i++) {
		char it[8];
		snprintf(it, sizeof it, "%d", i);
		rec_put(&b, "item", it);
	}
	rec_end(&b);
	snprintf(name, sizeof name, "%s.job", id);
	write_rec(c.sd.incoming, name, &b);
	buf_free(&b);
}

static long task_waits(const char *job, int idx)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT t.waits FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE j.id = '%s' AND t.idx = %d",
		 job, idx);
	return count(sql);
}

static bool reason_is(const char *job, int idx, const char *want)
{
	sqlite3_stmt *st;
	bool same = false;
	sqlite3_prepare_v2(c.db, "SELECT t.reason FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE j.id = ? AND t.idx = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, idx);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		same = strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
	if (!same)
		fprintf(stderr, "  reason of %s.%d: %s\n", job, idx,
			sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "(none)");
	sqlite3_finalize(st);
	return same;
}

/* Dependencies (spool-layout.md 5.5): rows resolved by the transitions of the job waited on. */
static void dependencies(const char *cwd)
{
	struct queue_taken *t;
	size_t nt;
	struct queue_revoke rv;
	dep_job("depa", cwd, 3, (const char *const[]){ NULL });
	dep_job("depb", cwd, 0, (const char *const[]){ "afterok=depa", NULL });
	dep_job("depc", cwd, 0, (const char *const[]){ "afterok=depb", NULL });
	dep_job("depd", cwd, 3, (const char *const[]){ "after_each=depa", NULL });
	dep_job("depe", cwd, 0, (const char *const[]){ "after=depa.2", NULL });
	dep_job("depf", cwd, 0, (const char *const[]){ "after=depa", "afterok=depe", NULL });
	dep_job("depg", cwd, 0, (const char *const[]){ "after=nosuchjob", NULL });
	dep_job("deph", cwd, 0, (const char *const[]){ "after_each=depa", NULL });
	ingest_incoming(&c);
	ingest_settle(&c, true);
	CHECK(count("SELECT count(*) FROM jobs WHERE id LIKE 'dep%'") == 7, "deps: the jobs are accepted");
	CHECK(task_waits("depb", 1) == 1 && task_waits("depc", 1) == 1 && task_waits("depd", 2) == 1 &&
		      task_waits("depe", 1) == 1 && task_waits("depf", 1) == 2 && task_waits("depa", 1) == 0,
	      "deps: each task waits on its dependencies not yet ended");
	CHECK(task_state("depg", 1) == SPOOL_TASK_FAILED &&
		      reason_is("depg", 1, "job refused: it depends on job nosuchjob, which does not exist (a job may "
				"depend only on existing jobs)"),
	      "deps: a job that depends on an unknown job is refused whole, with the reason");
	CHECK(count("SELECT count(*) FROM jobs WHERE id = 'deph'") == 0 &&
		      faccessat(c.sd.incoming, "deph.job", F_OK, 0) != 0,
	      "deps: after_each on a job that is not a map is quarantined");
	CHECK(count("SELECT count(*) FROM deps") == 6, "deps: one row per dependency not yet resolved");

	int64_t ra = db_job_rid(&c, "depa");
	struct queue_result r = { .wid = "node1-aaaaaaaa", .node = "node1", .status = "exited", .state = SPOOL_TASK_SUCCEEDED,
				  .idx = 2, .attempt = 1, .engine = 1, .wall_ms = 5, .exit_code = 0, .signal = -1 };
	CHECK(IN_TX(queue_finish(&c, ra, &r, &rv)) == 1, "deps: depa.2 succeeds");
	CHECK(task_waits("depe", 1) == 0 && task_waits("depd", 2) == 0 && task_waits("depd", 1) == 1 &&
		      task_waits("depb", 1) == 1,
	      "deps: ... which releases depe (after depa.2) and depd.2 (after_each), nothing else");
	CHECK(count("SELECT count(*) FROM deps WHERE on_idx = 2") == 0, "deps: ... and its row is gone");
	r.idx = 1;
	r.state = SPOOL_TASK_FAILED;
	r.exit_code = 1;
	CHECK(IN_TX(queue_finish(&c, ra, &r, &rv)) == 1, "deps: depa.1 fails");
	CHECK(task_state("depb", 1) == SPOOL_TASK_SKIPPED &&
		      reason_is("depb", 1, "dependency depa.1 failed: exited with status 1"),
	      "deps: ... depb (afterok depa) ends skipped, naming depa.1 before depa ends");
	CHECK(task_state("depc", 1) == SPOOL_TASK_SKIPPED &&
		      reason_is("depc", 1, "dependency depb.1 was skipped: dependency depa.1 failed: exited with status 1"),
	      "deps: ... and depc (afterok depb) in turn");
	CHECK(task_state("depd", 1) == SPOOL_TASK_SKIPPED && task_state("depd", 2) == SPOOL_TASK_QUEUED &&
		      task_state("depd", 3) == SPOOL_TASK_QUEUED,
	      "deps: ... and depd.1 (after_each), only that task");
	CHECK(task_state("depf", 1) == SPOOL_TASK_QUEUED && task_waits("depf", 1) == 2,
	      "deps: depf (after depa, afterok depe) still waits: after takes any end, and depa has not ended");
	CHECK(IN_TX(queue_end(&c, ra, 3, SPOOL_TASK_CANCELLED, "cancelled by uid 0", false, &t, &nt)) == 1,
	      "deps: depa.3 is cancelled");
	free(t);
	CHECK(task_state("depd", 3) == SPOOL_TASK_SKIPPED &&
		      reason_is("depd", 3, "dependency depa.3 was cancelled: cancelled by uid 0"),
	      "deps: ... so depd.3 is skipped");
	CHECK(task_waits("depf", 1) == 1, "deps: ... and depa has ended: depf waits on depe alone");
	CHECK(count("SELECT count(*) FROM deps WHERE on_rid = (SELECT rid FROM jobs WHERE id = 'depa')") == 0,
	      "deps: no row waits on depa any more");
	int64_t re = db_job_rid(&c, "depe");
	r.idx = 1;
	r.state = SPOOL_TASK_SUCCEEDED;
	r.exit_code = 0;
	CHECK(IN_TX(queue_finish(&c, re, &r, &rv)) == 1 && task_waits("depf", 1) == 0 &&
		      task_state("depf", 1) == SPOOL_TASK_QUEUED,
	      "deps: depe succeeds: depf is released, queued");
	CHECK(count("SELECT count(*) FROM deps") == 0, "deps: every row resolved");
	CHECK(counts_agree(), "deps: counts agree after releases, skips and their cascade");
	int64_t rc = db_job_rid(&c, "depc");
	uint64_t counts[SPOOL_TASK_NSTATES];
	CHECK(queue_counts(&c, rc, counts) == 0 && counts[SPOOL_TASK_SKIPPED] == 1 &&
		      count("SELECT nterminal FROM jobs WHERE id = 'depc'") == 1,
	      "deps: a skipped task is terminal, counted as skipped");
	dep_job("depi", cwd, 0, (const char *const[]){ "afterok=depa", NULL });
	dep_job("depj", cwd, 0, (const char *const[]){ "after=depa", NULL });
	ingest_incoming(&c);
	ingest_settle(&c, true);
	CHECK(task_state("depi", 1) == SPOOL_TASK_SKIPPED && reason_is("depi", 1, "dependency depa.1 failed: exited with status 1"),
	      "deps: afterok on a job that already failed: skipped when accepted");
	CHECK(task_state("depj", 1) == SPOOL_TASK_QUEUED && task_waits("depj", 1) == 0,
	      "deps: after on a job that already ended: queued, waiting on nothing");
	CHECK(counts_agree(), "deps: counts agree");
}

/* A one-task job record ID with the client and seq fields (none when client is NULL), its mtime
 * set to `when` so that it ties with the others. */
static void tied_job(const char *id, const char *cwd, const char *client, const char *seq, time_t when)
{
	struct buf b;
	char name[64];
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", id);
	rec_put(&b, "cwd", cwd);
	if (client) {
		rec_put(&b, "client", client);
		rec_put(&b, "seq", seq);
	}
	rec_put(&b, "arg", "true");
	rec_end(&b);
	snprintf(name, sizeof name, "%s.job", id);
	write_rec(c.sd.incoming, name, &b);
	buf_free(&b);
	struct timespec t[2] = { { when, 0 }, { when, 0 } };
	if (utimensat(c.sd.incoming, name, t, 0) < 0)
		exit(2);
}

/* The ids of the jobs whose id starts with PREFIX, in the order the queue took them. */
static void order_of(const char *prefix, char *out, size_t outsz)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	sqlite3_prepare_v2(c.db, "SELECT id FROM jobs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY rid", -1, &st, NULL);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s", out[0] ? " " : "",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static long inbox_list(char ***names)
{
	int fd = openat(c.sd.ctl_w, "node1-aaaaaaaa/inbox", O_RDONLY | O_DIRECTORY);
	long n = fs_list(fd, names, NULL);
	close(fd);
	return n;
}

static void done(const char *name, const char *job, int task, int attempt, int code)
{
	struct buf b;
	char d[64];
	buf_init(&b);
	rec_begin(&b, "done");
	rec_put(&b, "job", job);
	rec_put_i64(&b, "task", task);
	rec_put_i64(&b, "attempt", attempt);
	rec_put_i64(&b, "engine", 1);
	rec_put(&b, "wid", "node1-aaaaaaaa");
	rec_put(&b, "node", "node1");
	rec_put(&b, "status", "exited");
	rec_put_i64(&b, "exit", code);
	rec_end(&b);
	int fd = openat(c.sd.workers, "node1-aaaaaaaa/done", O_RDONLY | O_DIRECTORY);
	snprintf(d, sizeof d, "%s", name);
	write_rec(fd, d, &b);
	close(fd);
	buf_free(&b);
}

int main(void)
{
	char tmpl[] = "/tmp/spool-queue.XXXXXX", path[300];
	struct err e;
	struct buf b;
	char **names;
	long n;

	log_open("test_queue", false, LOG_LVL_ERR);
	if (!mkdtemp(tmpl))
		return 2;
	snprintf(path, sizeof path, "%s/spool", tmpl);
	if (spooldir_create(path, NULL, &e) < 0 || spooldir_open(&c.sd, path, &e) < 0 || spooldir_load_key(&c.sd, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 2;
	}
	c.ino = -1;
	snprintf(c.node, sizeof c.node, "elsewhere");
	snprintf(c.boot, sizeof c.boot, "x");
	c.fstype = "test";
	CHECK(db_open(&c, &e) == 0, "database opens");
	c.now = mono_ms();

	/* A map of 5 items, one record. */
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", "jobaaaaaa1");
	rec_put(&b, "cwd", tmpl);
	rec_put(&b, "map", "1");
	rec_put(&b, "arg", "echo");
	rec_put(&b, "arg", "x{}y{#}");
	for (int i = 1; i <= 5; i++) {
		char it[8];
		snprintf(it, sizeof it, "i%d", i);
		rec_put(&b, "item", it);
	}
	rec_end(&b);
	write_rec(c.sd.incoming, "jobaaaaaa1.job", &b);
	ingest_incoming(&c);
	CHECK(count("SELECT count(*) FROM tasks") == 5, "a map record becomes 5 tasks");
	CHECK(faccessat(c.sd.incoming, "jobaaaaaa1.job", F_OK, 0) == 0,
	      "the record stays in incoming until its commit is synced");
	uint64_t synced = c.synced;
	ingest_settle(&c, false); /* younger than SETTLE_MS: it waits for another step's sync */
	CHECK(c.synced == synced && faccessat(c.sd.incoming, "jobaaaaaa1.job", F_OK, 0) == 0,
	      "settle waits a moment for another step's sync before syncing on its own");
	CHECK(ingest_settle_due(&c) >= 0, "and says when it will sync on its own");
	ingest_settle(&c, true); /* no commit came after it: settle syncs the WAL itself */
	CHECK(c.synced == synced + 1, "settle synced the WAL once");
	CHECK(faccessat(c.sd.ctl_jobs, "jobaaaaaa1.job", F_OK, 0) == 0, "accepted record moved to ctl/jobs");
	CHECK(faccessat(c.sd.incoming, "jobaaaaaa1.job", F_OK, 0) != 0, "incoming is empty after ingest");
	publish_jobs(&c, false);
	CHECK(faccessat(c.sd.ctl_jobs, "jobaaaaaa1.state", F_OK, 0) != 0,
	      "publish: a new job's first publish waits publish_interval");

	/* A worker with 2 engines. */
	int wfd;
	fs_mkdir(c.sd.workers, "node1-aaaaaaaa", 0755, NULL);
	wfd = fs_open_dir(c.sd.workers, "node1-aaaaaaaa", NULL);
	fs_mkdir(wfd, "done", 0755, NULL);
	buf_reset(&b);
	rec_begin(&b, "hello");
	rec_put(&b, "wid", "node1-aaaaaaaa");
	rec_put(&b, "node", "node1");
	rec_put(&b, "pid", "4242");
	rec_put(&b, "boot", "other-boot");
	rec_put(&b, "slots", "2");
	rec_end(&b);
	write_rec(wfd, "hello", &b);
	workers_scan(&c);
	CHECK(count("SELECT count(*) FROM engines WHERE alive = 1") == 2, "worker registered with 2 engines");
	CHECK(count("SELECT min(id) FROM engines") == 1 && count("SELECT max(id) FROM engines") == 2, "engine ids 1 and 2");

	/* prefetch 1: 2 engines x 2 slots = 4 assignments; tasks 1,2 on the first slots. */
	c.sd.conf.prefetch = 1;
	assign_tasks(&c);
	n = inbox_list(&names);
	CHECK(n == 4, "4 tasks assigned with prefetch 1");
	CHECK(n == 4 && strcmp(names[0], "jobaaaaaa1.1.1") == 0 && strcmp(names[3], "jobaaaaaa1.4.1") == 0,
	      "FIFO: tasks 1-4 assigned, attempt 1");
	CHECK(task_state("jobaaaaaa1", 5) == SPOOL_TASK_QUEUED, "task 5 still queued");
	CHECK(count("SELECT engine FROM tasks WHERE idx = 1") == 1 && count("SELECT engine FROM tasks WHERE idx = 2") == 2 &&
	      count("SELECT engine FROM tasks WHERE idx = 3") == 1, "first slots of every engine before any second");
	struct buf a;
	buf_init(&a);
	int ifd = openat(c.sd.ctl_w, "node1-aaaaaaaa/inbox", O_RDONLY | O_DIRECTORY);
	fs_read_file(ifd, "jobaaaaaa1.3.1", 1 << 20, &a, NULL, NULL);
	close(ifd);
	CHECK_HAS(a.p, "arg xi3y3\n", "{} and {#} substituted in the assignment");
	buf_free(&a);
	fs_list_free(names, n);

	/* Completion, then a duplicate of the same result. */
	done("jobaaaaaa1.1.1", "jobaaaaaa1", 1, 1, 0);
	done("jobaaaaaa1.2.1", "jobaaaaaa1", 2, 1, 3);
	complete_scan(&c, true);
	complete_settle(&c); /* as spoold's loop does after the pass */
	CHECK(task_state("jobaaaaaa1", 1) == SPOOL_TASK_SUCCEEDED, "exit 0 -> succeeded");
	CHECK(task_state("jobaaaaaa1", 2) == SPOOL_TASK_FAILED, "exit 3 -> failed");
	n = inbox_list(&names);
	CHECK(n == 2, "assignments of completed tasks removed from the inbox");
	fs_list_free(names, n);
	done("jobaaaaaa1.1.1", "jobaaaaaa1", 1, 1, 7);
	complete_scan(&c, true);
	complete_settle(&c); /* as spoold's loop does after the pass */
	CHECK(task_state("jobaaaaaa1", 1) == SPOOL_TASK_SUCCEEDED, "a duplicate result does not replace the accepted one");
	CHECK(count("SELECT count(*) FROM attempts WHERE idx = 1") == 1, "duplicate of the same attempt recorded once");

	/* A done record for a task that does not exist goes to quarantine. */
	done("jobaaaaaa1.9.1", "jobaaaaaa1", 9, 1, 0);
	complete_scan(&c, true);
	complete_settle(&c); /* as spoold's loop does after the pass */
	n = fs_list(c.sd.quarantine, &names, NULL);
	CHECK(n == 2, "bad done record quarantined with a reason");
	fs_list_free(names, n);

	/* The worker says bye: its tasks 3, 4 go back to the queue, not counted as lost. */
	assign_tasks(&c);
	write_rec(wfd, "bye", &b);
	workers_check_liveness(&c);
	CHECK(count("SELECT count(*) FROM engines WHERE alive = 1") == 0, "engines dead after bye");
	CHECK(task_state("jobaaaaaa1", 3) == SPOOL_TASK_QUEUED && task_state("jobaaaaaa1", 5) == SPOOL_TASK_QUEUED, "tasks requeued");
	CHECK(count("SELECT max(lost) FROM tasks") == 0, "a clean shutdown does not count against retries");
	n = inbox_list(&names);
	CHECK(n == 0, "inbox emptied when the worker is declared dead");
	fs_list_free(names, n);

	transitions();
	dependencies(tmpl);

	/* Engine ids are never reused, even if the database lost every engine row and the sequence:
	 * with no row left, AUTOINCREMENT alone would start again at 1, so only ctl/engine-seq can
	 * keep the new id above the two handed out before. */
	CHECK(count("SELECT max(id) FROM engines") == 2, "two engine ids handed out before the loss");
	db_exec(&c, "DELETE FROM engines");
	db_exec(&c, "DELETE FROM sqlite_sequence");
	CHECK(count("SELECT count(*) FROM engines") == 0 && count("SELECT count(*) FROM sqlite_sequence") == 0,
	      "no engine row and no sequence left in the database");
	fs_mkdir(c.sd.workers, "node1-bbbbbbbb", 0755, NULL);
	int w2 = fs_open_dir(c.sd.workers, "node1-bbbbbbbb", NULL);
	buf_reset(&b);
	rec_begin(&b, "hello");
	rec_put(&b, "wid", "node1-bbbbbbbb");
	rec_put(&b, "node", "node1");
	rec_put(&b, "pid", "4243");
	rec_put(&b, "boot", "other-boot");
	rec_put(&b, "slots", "1");
	rec_end(&b);
	write_rec(w2, "hello", &b);
	workers_scan(&c);
	CHECK(count("SELECT id FROM engines WHERE wid = 'node1-bbbbbbbb'") == 3, "new engine gets id 3 from ctl/engine-seq");
	pass_cost();
	fair_share();
	close(w2);

	/* Records whose mtimes tie are taken by client, then seq (spool-layout.md 7), whatever
	 * their names; one without them (an older client's) first. Another mtime goes after. */
	tied_job("ordd", tmpl, "client-b", "5", 1700000000);
	tied_job("ordc", tmpl, "client-a", "90", 1700000000);
	tied_job("ordb", tmpl, "client-a", "10", 1700000000);
	tied_job("orda", tmpl, "client-a", "9", 1700000001);
	tied_job("orde", tmpl, NULL, NULL, 1700000000);
	ingest_incoming(&c);
	ingest_settle(&c, true);
	char order[200];
	order_of("ord", order, sizeof order);
	if (!CHECK(strcmp(order, "orde ordb ordc ordd orda") == 0, "tied records taken by client, then seq"))
		fprintf(stderr, "  expected \"orde ordb ordc ordd orda\", got \"%s\"\n", order);

	close(wfd);
	buf_free(&b);
	db_close(&c);
	assign_forget(&c);
	free(c.w);
	spooldir_close(&c.sd);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
	if (system(cmd) != 0)
		return 2;
	return unit_done();
}
