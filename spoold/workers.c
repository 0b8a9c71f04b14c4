/* workers.c - worker registration, heartbeats and liveness.
 *
 * A worker is alive while its heartbeat counter keeps changing, as seen on our
 * own monotonic clock (never by comparing its clock or file mtimes with ours).
 * On our own node a worker can also be proven gone at once: same boot id, and
 * its pid is gone or belongs to a process with another start time.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct wlive *wlive_find(struct ctl *c, const char *wid)
{
	for (size_t i = 0; i < c->nw; i++)
		if (strcmp(c->w[i].wid, wid) == 0)
			return &c->w[i];
	return NULL;
}

static struct wlive *wlive_add(struct ctl *c, const char *wid)
{
	if (c->nw == c->capw) {
		c->capw = c->capw ? c->capw * 2 : 16;
		c->w = xrealloc(c->w, c->capw * sizeof *c->w);
	}
	struct wlive *w = &c->w[c->nw++];
	memset(w, 0, sizeof *w);
	snprintf(w->wid, sizeof w->wid, "%s", wid);
	w->done_wd = w->dir_wd = -1;
	w->beat_changed_ms = c->now;
	return w;
}

void workers_watch(struct ctl *c, struct wlive *w)
{
	char path[4300];
	if (c->ino < 0 || w->done_wd >= 0)
		return;
	snprintf(path, sizeof path, "%s/workers/%s/done", c->sd.path, w->wid);
	w->done_wd = inotify_add_watch(c->ino, path, IN_MOVED_TO | IN_ONLYDIR);
	if (w->done_wd < 0 && errno == ENOSPC)
		log_warn("inotify watch limit reached watching %s: relying on rescans every %.2f s "
			 "(raise sysctl fs.inotify.max_user_watches)", path, c->sd.conf.rescan_ms / 1000.0);
}

/* Engine ids are written ahead to ctl/engine-seq before SQLite hands them out, so that even a
 * database rebuilt from the spool never gives an id twice. */
static uint64_t engine_seq_read(struct ctl *c)
{
	uint64_t v = 0;
	if (fs_read_u64(c->sd.ctl, "engine-seq", &v) < 0)
		v = 0;
	sqlite3_stmt *st = db_prep(c, "SELECT seq FROM sqlite_sequence WHERE name = 'engines'");
	if (sqlite3_step(st) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > v)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

static int write_reg(struct ctl *c, const char *wid, bool alive, struct err *e)
{
	struct buf b;
	char dir[200];
	int fd, rc;

	snprintf(dir, sizeof dir, "%s", wid);
	if (fs_mkdir(c->sd.ctl_w, dir, 0755, e) < 0)
		return -1;
	fd = fs_open_dir(c->sd.ctl_w, dir, e);
	if (fd < 0)
		return -1;
	if (fs_mkdir(fd, "inbox", 0755, e) < 0) {
		close(fd);
		return -1;
	}
	buf_init(&b);
	rec_begin(&b, "reg");
	rec_put(&b, "wid", wid);
	rec_put(&b, "state", alive ? "alive" : "dead");
	sqlite3_stmt *st = db_prep(c, "SELECT id, slot FROM engines WHERE wid = ? ORDER BY id");
	sqlite3_bind_text(st, 1, wid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (reg_engine_put(&b, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1)) < 0)
			log_err("worker %s: engine %lld has slot %d, outside 0..%d: left out of its registration", wid,
				(long long)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), MAX_SLOTS - 1);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		buf_free(&b);
		close(fd);
		return err_set(e, "cannot list the engines of worker %s: %s", wid, sqlite3_errmsg(c->db));
	}
	rec_end_sealed(&b, &c->sd.key);
	rc = fs_write_atomic(fd, "reg", b.p, b.len, 0600, 0, e);
	buf_free(&b);
	close(fd);
	return rc;
}

/* Only the accounts that hold the key may run workers: files in workers/ written by anyone
 * else (possible only if its modes were loosened) are not a worker's. */
bool worker_account(const struct ctl *c, uid_t uid)
{
	return uid == 0 || uid == c->sd.owner;
}

static void register_worker(struct ctl *c, const char *wid)
{
	char path[200];
	struct buf b;
	struct rec r;
	struct err e;
	int wfd;

	snprintf(path, sizeof path, "%s", wid);
	wfd = openat(c->sd.workers, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd < 0)
		return;
	buf_init(&b);
	struct stat st;
	if (fs_read_file(wfd, "hello", MAX_SMALL_RECORD, &b, &st, &e) < 0) {
		if (errno != ENOENT)
			log_warn("worker %s: cannot read its hello record: %s", wid, e.msg);
		goto out;
	}
	if (!worker_account(c, st.st_uid)) {
		snprintf(e.msg, sizeof e.msg, "hello written by uid %u, not by a worker account (the spool's owner, "
			 "uid %u, or root)", (unsigned)st.st_uid, (unsigned)c->sd.owner);
		quarantine_file(c, wfd, "hello", e.msg);
		goto out;
	}
	if (rec_parse(&r, b.p, b.len, &schema_hello, &e) < 0) {
		log_warn("worker %s: bad hello record, ignoring this worker: %s", wid, e.msg);
		quarantine_file(c, wfd, "hello", e.msg);
		goto out;
	}
	uint64_t slots = rec_get_u64(&r, "slots", 0), pid = rec_get_u64(&r, "pid", 0);
	const char *node = rec_get(&r, "node"), *boot = rec_get(&r, "boot");
	if (strcmp(rec_get(&r, "wid"), wid) != 0 || !name_ok(node) || slots < 1 || slots > MAX_SLOTS || pid < 1 ||
	    pid > INT32_MAX) {
		log_warn("worker %s: hello record has a wrong wid, node, pid or slot count (1..1024): ignoring it", wid);
		quarantine_file(c, wfd, "hello", "wrong wid, node, pid or slot count");
		rec_free(&r);
		goto out;
	}
	uint64_t seq = engine_seq_read(c);
	char seqtxt[32];
	int n = snprintf(seqtxt, sizeof seqtxt, "%llu\n", (unsigned long long)(seq + slots));
	if (fs_write_atomic(c->sd.ctl, "engine-seq", seqtxt, (size_t)n, 0644, 0, &e) < 0) {
		log_err("cannot register worker %s: %s", wid, e.msg);
		rec_free(&r);
		goto out;
	}
	if (db_begin(c) < 0)
		goto fail;
	sqlite3_stmt *sq = db_prep(c, "INSERT INTO sqlite_sequence(name, seq) SELECT 'engines', ?1 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'engines')");
	sqlite3_bind_int64(sq, 1, (int64_t)seq);
	int src = sqlite3_step(sq);
	sqlite3_reset(sq);
	if (src != SQLITE_DONE)
		goto dberr;
	sq = db_prep(c, "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'engines'");
	sqlite3_bind_int64(sq, 1, (int64_t)seq);
	src = sqlite3_step(sq);
	sqlite3_reset(sq);
	if (src != SQLITE_DONE)
		goto dberr;
	sqlite3_stmt *wi = db_prep(c, "INSERT OR REPLACE INTO workers(wid, node, pid, boot, start, slots, alive) VALUES(?,?,?,?,?,?,1)");
	sqlite3_bind_text(wi, 1, wid, -1, SQLITE_STATIC);
	sqlite3_bind_text(wi, 2, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(wi, 3, (int64_t)pid);
	sqlite3_bind_text(wi, 4, boot, -1, SQLITE_STATIC);
	sqlite3_bind_int64(wi, 5, (int64_t)rec_get_u64(&r, "start", 0));
	sqlite3_bind_int64(wi, 6, (int64_t)slots);
	int wrc = sqlite3_step(wi);
	sqlite3_reset(wi);
	if (wrc != SQLITE_DONE)
		goto dberr;
	sqlite3_stmt *ei = db_prep(c, "INSERT INTO engines(wid, slot, alive) VALUES(?, ?, 1)");
	for (uint64_t s = 0; s < slots; s++) {
		sqlite3_reset(ei);
		sqlite3_bind_text(ei, 1, wid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ei, 2, (int64_t)s);
		if (sqlite3_step(ei) != SQLITE_DONE) {
			sqlite3_reset(ei);
			goto dberr;
		}
	}
	sqlite3_reset(ei);
	if (db_commit(c) < 0)
		goto fail;
	if (write_reg(c, wid, true, &e) < 0)
		log_err("worker %s registered but its reply could not be written: %s", wid, e.msg);
	struct wlive *w = wlive_add(c, wid);
	w->alive = true;
	snprintf(w->node, sizeof w->node, "%s", node);
	snprintf(w->boot, sizeof w->boot, "%s", boot);
	w->pid = (pid_t)pid;
	w->start_ticks = rec_get_u64(&r, "start", 0);
	workers_watch(c, w);
	log_info("worker %s on %s (pid %llu) registered with %llu engine%s", wid, node, (unsigned long long)pid,
		 (unsigned long long)slots, slots == 1 ? "" : "s");
	c->engines_dirty = c->want_assign = c->scan_done = true;
	rec_free(&r);
	goto out;
dberr:
	log_err("database: cannot register worker %s: %s", wid, sqlite3_errmsg(c->db));
fail:
	db_rollback(c);
	rec_free(&r);
out:
	buf_free(&b);
	close(wfd);
}

/* Load what the database knows, so late results from dead workers are still seen. */
static void workers_load(struct ctl *c)
{
	sqlite3_stmt *st = db_prep(c, "SELECT wid, node, pid, boot, start, alive FROM workers");
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct wlive *w = wlive_add(c, (const char *)sqlite3_column_text(st, 0));
		snprintf(w->node, sizeof w->node, "%s", (const char *)sqlite3_column_text(st, 1));
		w->pid = (pid_t)sqlite3_column_int64(st, 2);
		snprintf(w->boot, sizeof w->boot, "%s", (const char *)sqlite3_column_text(st, 3));
		w->start_ticks = (uint64_t)sqlite3_column_int64(st, 4);
		w->alive = sqlite3_column_int(st, 5) != 0;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < c->nw; i++)
		workers_watch(c, &c->w[i]);
}

void workers_scan(struct ctl *c)
{
	char **names;
	struct err e;
	long n;

	if (c->nw == 0 && c->capw == 0)
		workers_load(c);
	n = fs_list(c->sd.workers, &names, &e);
	if (n < 0) {
		log_err("cannot list %s/workers: %s", c->sd.path, e.msg);
		return;
	}
	for (long i = 0; i < n; i++) {
		if (!name_ok(names[i]) || wlive_find(c, names[i]))
			continue;
		register_worker(c, names[i]);
	}
	fs_list_free(names, n);
}

/* Jobs restricted to engines that are now all dead: their waiting tasks can never run.
 * Inside the caller's transaction. */
static int fail_doomed(struct ctl *c)
{
	int64_t *rids = NULL;
	size_t n = 0;
	int rc;
	sqlite3_stmt *st = db_prep(c, "SELECT rid, targets FROM jobs WHERE targets IS NOT NULL AND nterminal < ntasks");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t *lt;
		size_t live = live_targets(c, (const char *)sqlite3_column_text(st, 1), &lt);
		free(lt);
		if (live)
			continue;
		rids = xrealloc(rids, (n + 1) * sizeof *rids);
		rids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct queue_taken *t;
		size_t nt;
		/* Queued ones only: what is in flight on a dead engine was requeued or failed already. */
		if (queue_end(c, rids[i], 0, SPOOL_TASK_FAILED, DOOMED_REASON, false, &t, &nt) < 0)
			rc = -1;
		else
			free(t);
	}
	free(rids);
	return rc;
}

static int retire(struct ctl *c, const char *wid)
{
	sqlite3_stmt *ew = db_prep(c, "UPDATE engines SET alive = 0 WHERE wid = ?");
	sqlite3_bind_text(ew, 1, wid, -1, SQLITE_STATIC);
	int rc = sqlite3_step(ew);
	sqlite3_reset(ew);
	if (rc == SQLITE_DONE) {
		sqlite3_stmt *ww = db_prep(c, "UPDATE workers SET alive = 0 WHERE wid = ?");
		sqlite3_bind_text(ww, 1, wid, -1, SQLITE_STATIC);
		rc = sqlite3_step(ww);
		sqlite3_reset(ww);
	}
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot mark worker %s dead: %s", c->dbpath, wid, sqlite3_errmsg(c->db));
	return rc == SQLITE_DONE ? 0 : -1;
}

static void declare_dead(struct ctl *c, struct wlive *w, const char *why, bool clean)
{
	struct queue_taken *t = NULL;
	size_t nt = 0;
	int requeued = 0, ended = 0;
	struct err e;
	char reason[300], pinned_reason[300];

	snprintf(reason, sizeof reason, "its node %s was lost too often (%s)", w->node, why);
	snprintf(pinned_reason, sizeof pinned_reason, "its engine is gone: worker %s on %s %s", w->wid, w->node, why);
	if (db_begin(c) < 0)
		return;
	if (queue_requeue_worker(c, w->wid, clean, reason, pinned_reason, &t, &nt, &requeued, &ended) < 0 ||
	    retire(c, w->wid) < 0 || fail_doomed(c) < 0) {
		db_rollback(c);
		free(t);
		log_err("worker %s on %s is %s, but the database could not record it: trying again", w->wid, w->node, why);
		return;
	}
	if (db_commit(c) < 0) {
		free(t);
		return;
	}
	w->alive = false;
	log_info("worker %s on %s is %s: %d task%s requeued, %d abandoned or failed", w->wid, w->node, why, requeued,
		 requeued == 1 ? "" : "s", ended);
	if (write_reg(c, w->wid, false, &e) < 0)
		log_err("cannot tell worker %s it was declared dead: %s", w->wid, e.msg);
	for (size_t i = 0; i < nt; i++)
		inbox_remove(c, w->wid, t[i].job, t[i].idx, t[i].attempt);
	free(t);
	c->engines_dirty = c->want_assign = true;
}

/* Proven gone on this node: same boot, and the pid is free or reused by another process. */
static bool proven_gone(struct ctl *c, const struct wlive *w)
{
	if (strcmp(w->node, c->node) != 0 || strcmp(w->boot, c->boot) != 0)
		return false;
	if (kill(w->pid, 0) < 0 && errno == ESRCH)
		return true;
	uint64_t st = proc_start_ticks(w->pid);
	return w->start_ticks && st && st != w->start_ticks;
}

/* The beat lists the tasks the worker has started: assigned -> running (prefetched ones stay
 * assigned). Only for display; nothing depends on it. */
static void mark_running(struct ctl *c, struct wlive *w, const struct rec *r)
{
	bool began = false, ok = true;
	for (size_t i = 0; ok && i < r->n; i++) {
		struct taskname tn;
		if (strcmp(r->f[i].key, "running") != 0 || taskname_parse(r->f[i].val, &tn) < 0)
			continue;
		if (!began && db_begin_lazy(c) < 0)
			return;
		began = true;
		ok = queue_start(c, tn.job, tn.task, tn.attempt, w->wid) >= 0;
	}
	if (!began)
		return;
	if (ok)
		db_commit_lazy(c);
	else
		db_rollback(c); /* (which ends the lazy transaction) */
}

static int read_beat(struct ctl *c, struct wlive *w, uint64_t *count)
{
	char path[200];
	struct buf b;
	struct rec r;
	int rc = -1;
	int fd;

	snprintf(path, sizeof path, "%s", w->wid);
	fd = openat(c->sd.workers, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf_init(&b);
	if (faccessat(fd, "bye", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = 1;
	} else if (fs_read_file(fd, "beat", MAX_SMALL_RECORD, &b, NULL, NULL) == 0 &&
		   rec_parse(&r, b.p, b.len, &schema_beat, NULL) == 0) {
		*count = rec_get_u64(&r, "count", 0);
		if (!w->have_beat || *count != w->beat)
			mark_running(c, w, &r);
		rec_free(&r);
		rc = 0;
	}
	buf_free(&b);
	close(fd);
	return rc;
}

void workers_check_liveness(struct ctl *c)
{
	for (size_t i = 0; i < c->nw; i++) {
		struct wlive *w = &c->w[i];
		uint64_t count = 0;
		if (!w->alive)
			continue;
		int rc = read_beat(c, w, &count);
		if (rc == 1) {
			declare_dead(c, w, "shut down", true);
			continue;
		}
		if (rc == 0 && (!w->have_beat || count != w->beat)) {
			w->have_beat = true;
			w->beat = count;
			w->beat_changed_ms = c->now;
			continue;
		}
		if (proven_gone(c, w)) {
			declare_dead(c, w, "gone (its process no longer exists on this node)", false);
			continue;
		}
		if (c->now - w->beat_changed_ms > c->sd.conf.dead_ms) {
			char why[96];
			snprintf(why, sizeof why, "dead (no heartbeat change for %.1f s)",
				 (double)(c->now - w->beat_changed_ms) / 1000.0);
			declare_dead(c, w, why, false);
		}
	}
}
