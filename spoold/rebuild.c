/* rebuild.c - rebuild a lost queue database from the spool.
 *
 * The spool keeps what is needed: every accepted job record (ctl/jobs/ID.job, still owned by
 * its submitter), each job's last published state (ctl/jobs/ID.state), the workers' hello
 * records and ctl/engine-seq. Tasks published as finished keep their result; the others are
 * queued again with attempt numbers above any seen (at-least-once: a run in progress may
 * finish too, and its result is then accepted or kept as a duplicate). Every known worker
 * is told it was declared dead, so it comes back under a new identity with new engine ids,
 * which ctl/engine-seq keeps above every id handed out before.
 */
#include "ctl.h"
#include "jobstate.h"
#include "queue.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int getrandom_u64(uint64_t *v)
{
	return getrandom(v, sizeof *v, 0) == (ssize_t)sizeof *v ? 0 : -1;
}

/* A state given to the job's owner may have been rewritten by that owner (spool-layout.md 12):
 * one that names another owner, or that another account holds or may write, is not ours. */
static bool state_is_ours(struct ctl *c, const struct stat *st, const struct rec *r, uid_t owner)
{
	bool given = st->st_uid != c->sd.owner && st->st_uid != 0 && st->st_uid != geteuid();
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return false;
	if (given && st->st_uid != owner)
		return false;
	return rec_get_u64(r, "owner", 0) == (uint64_t)owner;
}

/* Restore tasks[0..n) (tasks first..) as published: only what is not "never assigned". */
static int restore_tasks(struct ctl *c, int64_t rid, const struct spool_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((t[i].state != SPOOL_TASK_QUEUED || t[i].attempt > 0) && queue_restore(c, rid, &t[i]) < 0)
			return -1;
	return 0;
}

static void free_tasks(struct spool_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].duplicates);
	free(t);
}

/* Read the tasks first..first+n-1 of a job from a record (a format 1 state, or a chunk). */
static int read_tasks(struct rec *r, uint64_t first, size_t n, struct spool_task **out, struct err *e)
{
	struct spool_task *t = xcalloc(n ? n : 1, sizeof *t);
	if (jobstate_tasks_read(r, first, n, t, e) < 0) {
		free(t);
		return -1;
	}
	*out = t;
	return 0;
}

/* The chunks of a format 2 state: a chunk missing or torn holds tasks queued again. */
static int apply_chunks(struct ctl *c, int64_t rid, const char *id, const struct spool_job *j)
{
	struct buf b;
	struct err e;
	buf_init(&b);
	for (uint64_t k = 0; k < jobstate_nchunks(j->ntasks); k++) {
		char name[96];
		struct rec r;
		struct spool_task *t;
		uint64_t first;
		size_t n = jobstate_chunk_tasks(j->ntasks, k, &first);
		jobstate_chunk_name(name, sizeof name, id, k);
		if (fs_read_file(c->sd.ctl_jobs, name, MAX_CHUNK_RECORD, &b, NULL, &e) < 0)
			continue;
		if (jobstate_chunk_parse(b.p, b.len, id, k, &r, &e) < 0 || read_tasks(&r, first, n, &t, &e) < 0) {
			log_warn("rebuild: ignoring ctl/jobs/%s: %s; its tasks are queued again", name, e.msg);
			if (r.mem)
				rec_free(&r);
			continue;
		}
		int rc = restore_tasks(c, rid, t, n);
		free_tasks(t, n);
		rec_free(&r);
		if (rc < 0) {
			buf_free(&b);
			return -1;
		}
	}
	buf_free(&b);
	return 0;
}

/* Apply a published state (format 1 or 2) to the freshly inserted tasks of one job. */
static void apply_state(struct ctl *c, const char *id, uid_t owner)
{
	char name[96];
	struct buf b;
	struct rec r;
	struct stat fst;
	struct err e;
	struct spool_job j;
	int v1 = 0, rc = 0;
	int64_t rid = db_job_rid(c, id);

	jobstate_sum_name(name, sizeof name, id);
	buf_init(&b);
	memset(&j, 0, sizeof j);
	if (rid < 0 || fs_read_file(c->sd.ctl_jobs, name, MAX_STATE_RECORD, &b, &fst, NULL) < 0 ||
	    jobstate_sum_read(b.p, b.len, &r, &j, &v1, &e) < 0) {
		buf_free(&b);
		return;
	}
	if (!state_is_ours(c, &fst, &r, owner)) {
		log_warn("rebuild: ignoring ctl/jobs/%s (owner uid %u, mode %04o): it is not as this controller "
			 "wrote it; the tasks of job %s are queued again", name, (unsigned)fst.st_uid,
			 (unsigned)(fst.st_mode & 07777), id);
	} else if (j.ntasks != db_job_ntasks(c, rid)) {
		log_warn("rebuild: ignoring ctl/jobs/%s: it has %zu tasks, the job %llu", name, j.ntasks,
			 (unsigned long long)db_job_ntasks(c, rid));
	} else if (v1) {
		struct spool_task *t;
		if (read_tasks(&r, 1, j.ntasks, &t, &e) < 0) {
			log_warn("rebuild: ignoring ctl/jobs/%s: %s", name, e.msg);
		} else {
			rc = restore_tasks(c, rid, t, j.ntasks);
			free_tasks(t, j.ntasks);
		}
	} else {
		rc = apply_chunks(c, rid, id, &j);
	}
	if (rc == 0 && j.held && queue_hold(c, rid, true) < 0) /* (a request that came before the loss) */
		rc = -1;
	if (rc < 0 || queue_recount(c, rid) < 0)
		log_err("rebuild: the database could not take the state of job %s", id);
	rec_free(&r);
	buf_free(&b);
}

static size_t rebuild_jobs(struct ctl *c)
{
	char **names;
	long n = fs_list(c->sd.ctl_jobs, &names, NULL);
	struct submission *f = xcalloc((size_t)(n > 0 ? n : 1), sizeof *f);
	size_t nf = 0, done = 0;
	struct buf b;

	for (long i = 0; i < n; i++) {
		struct stat st;
		if (!has_suffix(names[i], ".job") ||
		    fstatat(c->sd.ctl_jobs, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		f[nf].name = names[i];
		f[nf++].mtime = st.st_mtim;
	}
	sort_submissions(c->sd.ctl_jobs, f, nf, nf); /* submission order, as at first ingest */
	buf_init(&b);
	for (size_t i = 0; i < nf; i++) {
		struct stat st;
		struct rec r;
		struct err e;
		char stem[80];
		snprintf(stem, sizeof stem, "%.*s", (int)(strlen(f[i].name) - 4), f[i].name);
		if (fs_read_file(c->sd.ctl_jobs, f[i].name, MAX_JOB_RECORD, &b, &st, &e) < 0 ||
		    rec_parse(&r, b.p, b.len, &schema_job, &e) < 0) {
			log_err("rebuild: skipping ctl/jobs/%s: %s", f[i].name, e.msg);
			continue;
		}
		if (validate_job(&r, stem, &e) == 0 && db_begin(c) == 0) {
			struct err refused;
			if (insert_job(c, &r, st.st_uid, &refused) >= 0) {
				apply_state(c, stem, st.st_uid);
				if (db_commit(c) == 0)
					done++;
			} else {
				db_rollback(c);
			}
		}
		rec_free(&r);
	}
	buf_free(&b);
	submissions_free(f, nf);
	fs_list_free(names, n);
	return done;
}

/* Known workers are recorded dead and told so: they rejoin with new engine ids. */
static size_t retire_workers(struct ctl *c)
{
	char **names;
	long n = fs_list(c->sd.workers, &names, NULL);
	size_t count = 0;
	struct buf b;
	buf_init(&b);
	for (long i = 0; i < n; i++) {
		char path[200];
		struct rec r;
		if (!name_ok(names[i]))
			continue;
		/* A worker the lost database never answered (no reg: it started while spoold was down)
		 * holds no engine id and ran nothing: left out here, it is registered as a new one. */
		snprintf(path, sizeof path, "%s/reg", names[i]);
		if (faccessat(c->sd.ctl_w, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			continue;
		snprintf(path, sizeof path, "%s/hello", names[i]);
		if (fs_read_file(c->sd.workers, path, MAX_SMALL_RECORD, &b, NULL, NULL) < 0 ||
		    rec_parse(&r, b.p, b.len, &schema_hello, NULL) < 0)
			continue;
		sqlite3_stmt *wi = db_prep(c, "INSERT OR IGNORE INTO workers(wid, node, pid, boot, start, slots, alive) VALUES(?,?,?,?,?,?,0)");
		sqlite3_bind_text(wi, 1, names[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(wi, 2, rec_get(&r, "node"), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(wi, 3, (int64_t)rec_get_u64(&r, "pid", 0));
		sqlite3_bind_text(wi, 4, rec_get(&r, "boot"), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(wi, 5, (int64_t)rec_get_u64(&r, "start", 0));
		sqlite3_bind_int64(wi, 6, (int64_t)rec_get_u64(&r, "slots", 1));
		if (sqlite3_step(wi) != SQLITE_DONE)
			log_err("rebuild: database %s: cannot keep worker %s as retired: %s", c->dbpath, names[i],
				sqlite3_errmsg(c->db));
		sqlite3_reset(wi);
		rec_free(&r);
		/* Its assignments belong to the lost database: take them back. */
		snprintf(path, sizeof path, "%s/inbox", names[i]);
		int ifd = openat(c->sd.ctl_w, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ifd >= 0) {
			char **in;
			long k = fs_list(ifd, &in, NULL);
			for (long j = 0; j < k; j++)
				unlinkat(ifd, in[j], 0);
			if (k >= 0)
				fs_list_free(in, k);
			close(ifd);
		}
		snprintf(path, sizeof path, "%s", names[i]);
		int wfd = openat(c->sd.ctl_w, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (wfd >= 0) {
			struct buf rb;
			buf_init(&rb);
			rec_begin(&rb, "reg");
			rec_put(&rb, "wid", names[i]);
			rec_put(&rb, "state", "dead");
			rec_end_sealed(&rb, &c->sd.key);
			fs_write_atomic(wfd, "reg", rb.p, rb.len, 0600, 0, NULL);
			buf_free(&rb);
			close(wfd);
		}
		count++;
	}
	buf_free(&b);
	if (n >= 0)
		fs_list_free(names, n);
	return count;
}

/* The database and the spool carry the same random id (meta db_id, ctl/db-id): a new, empty
 * database beside a spool that has an id means the database was lost. */
static uint64_t spool_db_id(struct ctl *c)
{
	uint64_t v;
	return fs_read_u64(c->sd.ctl, "db-id", &v) == 0 ? v : 0;
}

void rebuild_if_lost(struct ctl *c)
{
	uint64_t mine = db_meta_get(c, "db_id", 0), theirs = spool_db_id(c);
	struct err e;
	if (mine) {
		if (theirs && theirs != mine)
			log_warn("the queue database %s belongs to another spool (its id differs from %s/ctl/db-id): "
				 "check the 'database' setting", c->dbpath, c->sd.path);
		return;
	}
	if (theirs) {
		log_warn("the queue database %s is new but the spool %s was controlled before: rebuilding the "
			 "queue from the spool", c->dbpath, c->sd.path);
		if (db_begin(c) == 0) {
			size_t workers = retire_workers(c);
			if (db_commit(c) == 0) {
				c->rebuilding = true;
				size_t jobs = rebuild_jobs(c);
				c->rebuilding = false;
				log_warn("rebuilt %zu job%s; %zu worker%s told to register again with new engine ids", jobs,
					 jobs == 1 ? "" : "s", workers, workers == 1 ? "" : "s");
			}
		}
	}
	uint64_t id = 0;
	if (getrandom_u64(&id) < 0 || !id)
		id = (uint64_t)getpid() << 32 ^ mono_ms();
	id &= INT64_MAX;
	if (db_begin(c) < 0 || db_meta_set(c, "db_id", id) < 0 || db_commit(c) < 0) {
		db_rollback(c);
		log_err("cannot record this database's id: a later start may take it for a lost one and rebuild it");
		return;
	}
	char txt[32];
	int n = snprintf(txt, sizeof txt, "%llu\n", (unsigned long long)id);
	if (fs_write_atomic(c->sd.ctl, "db-id", txt, (size_t)n, 0644, 0, &e) < 0)
		log_err("cannot write %s/ctl/db-id: %s", c->sd.path, e.msg);
}
