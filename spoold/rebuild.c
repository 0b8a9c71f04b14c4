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

static const char *terminal[] = { "succeeded", "failed", "timedout", "cancelled", "abandoned" };

static int state_code(const char *s)
{
	for (size_t i = 0; i < ARRAY_LEN(terminal); i++)
		if (strcmp(s, terminal[i]) == 0)
			return T_SUCCEEDED + (int)i;
	return T_QUEUED;
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

/* Apply a published state to the freshly inserted tasks of one job. */
static void apply_state(struct ctl *c, const char *id, uid_t owner)
{
	char name[96];
	struct buf b;
	struct rec r;
	struct stat fst;
	int64_t rid = db_job_rid(c, id);

	snprintf(name, sizeof name, "%s.state", id);
	buf_init(&b);
	if (rid < 0 || fs_read_file(c->sd.ctl_jobs, name, MAX_STATE_RECORD, &b, &fst, NULL) < 0 ||
	    rec_parse(&r, b.p, b.len, &schema_jobstate, NULL) < 0) {
		buf_free(&b);
		return;
	}
	if (!state_is_ours(c, &fst, &r, owner)) {
		log_warn("rebuild: ignoring ctl/jobs/%s (owner uid %u, mode %04o): it is not as this controller "
			 "wrote it; the tasks of job %s are queued again", name, (unsigned)fst.st_uid,
			 (unsigned)(fst.st_mode & 07777), id);
		rec_free(&r);
		buf_free(&b);
		return;
	}
	sqlite3_stmt *up = db_prep(c,
		"UPDATE tasks SET state = CASE WHEN ?1 = 0 THEN state ELSE ?1 END, attempt = ?2, engine = ?3,"
		" exit = ?4, signal = ?5, wall_ms = ?6, node = ?7 WHERE rid = ?8 AND idx = ?9");
	for (size_t i = 0; i < r.n; i++) {
		char st[32], eng[24], ex[24], sg[24], wall[24], node[80];
		unsigned long long idx, att;
		if (strcmp(r.f[i].key, "task") != 0 ||
		    sscanf(r.f[i].val, "%llu %31s %llu %23s %23s %23s %23s %79s", &idx, st, &att, eng, ex, sg, wall,
			   node) != 8)
			continue;
		int code = state_code(st);
		sqlite3_reset(up);
		sqlite3_bind_int(up, 1, code);
		sqlite3_bind_int64(up, 2, (int64_t)att);
		if (code != T_QUEUED) {
			if (strcmp(eng, "-"))
				sqlite3_bind_int64(up, 3, strtoll(eng, NULL, 10));
			if (strcmp(ex, "-"))
				sqlite3_bind_int64(up, 4, strtoll(ex, NULL, 10));
			if (strcmp(sg, "-"))
				sqlite3_bind_int64(up, 5, strtoll(sg, NULL, 10));
			if (strcmp(wall, "-"))
				sqlite3_bind_int64(up, 6, strtoll(wall, NULL, 10));
			if (strcmp(node, "-"))
				sqlite3_bind_text(up, 7, node, -1, SQLITE_TRANSIENT);
		}
		sqlite3_bind_int64(up, 8, rid);
		sqlite3_bind_int64(up, 9, (int64_t)idx);
		sqlite3_step(up);
	}
	sqlite3_reset(up);
	sqlite3_stmt *rs = db_prep(c, "UPDATE tasks SET reason = ? WHERE rid = ? AND idx = ? AND state >= 3");
	for (size_t i = 0; i < r.n; i++) {
		unsigned long long idx;
		int off = 0;
		if (strcmp(r.f[i].key, "reason") != 0 || sscanf(r.f[i].val, "%llu %n", &idx, &off) != 1 || !off)
			continue;
		sqlite3_reset(rs);
		sqlite3_bind_text(rs, 1, r.f[i].val + off, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(rs, 2, rid);
		sqlite3_bind_int64(rs, 3, (int64_t)idx);
		sqlite3_step(rs);
	}
	sqlite3_reset(rs);
	db_job_recount(c, rid);
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
		sqlite3_step(wi);
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
				size_t jobs = rebuild_jobs(c);
				log_warn("rebuilt %zu job%s; %zu worker%s told to register again with new engine ids", jobs,
					 jobs == 1 ? "" : "s", workers, workers == 1 ? "" : "s");
			}
		}
	}
	uint64_t id = 0;
	if (getrandom_u64(&id) < 0 || !id)
		id = (uint64_t)getpid() << 32 ^ mono_ms();
	id &= INT64_MAX;
	db_begin(c);
	db_meta_set(c, "db_id", id);
	db_commit(c);
	char txt[32];
	int n = snprintf(txt, sizeof txt, "%llu\n", (unsigned long long)id);
	if (fs_write_atomic(c->sd.ctl, "db-id", txt, (size_t)n, 0644, 0, &e) < 0)
		log_err("cannot write %s/ctl/db-id: %s", c->sd.path, e.msg);
}
