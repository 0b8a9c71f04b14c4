/* syncer.c - the fsyncs of finished jobs' state files (and of accepted job records a client
 * put in place before it synced them: ingest.c), off the controller's loop.
 *
 * A finished job's summary and its finished chunks must survive a power cut (the rebuild reads
 * them), but a client waiting on the job needs them only visible: spoold renames them into
 * place, then hands their names to this thread, which fsyncs each file and then ctl/jobs/ once
 * for the batch. Meanwhile the job is marked `dirty = 2` in the database (published, not yet
 * durable): a start after a crash publishes such jobs again; once the thread reports the batch
 * synced, the loop marks them 0 (a failure: 1, published again at once). Before, these three
 * fsyncs ran on the loop's own thread after every finished job: about 1.5 ms here during which
 * the next job's record waited (spool-layout.md 3.10).
 *
 * The thread touches nothing but its own descriptor of ctl/jobs/ and the two lists below; the
 * database and the log stay the loop's. */
#include "ctl.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sync_list {
	struct sync_item *v;
	size_t n, cap;
};

struct syncer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int dirfd, efd;
	struct sync_list todo, done; /* queued by the loop; results for the loop */
	size_t busy;                 /* items the thread holds now */
	bool stop;
};

static void list_add(struct sync_list *l, const struct sync_item *it)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = *it;
}

/* Each file, then their names: one fsync of the directory for the whole batch. Also the
 * loop's own way when it has no thread (publish.c), so it touches nothing else. */
void sync_items(int dirfd, struct sync_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int fd = openat(dirfd, v[i].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		v[i].err = fd < 0 || fsync(fd) < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	}
	if (n && fsync(dirfd) < 0) {
		int err = errno;
		for (size_t i = 0; i < n; i++)
			if (!v[i].err)
				v[i].err = err;
	}
}

static void *run(void *arg)
{
	struct syncer *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->todo.n && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->todo.n)
			break; /* stopping, and nothing left */
		struct sync_list batch = s->todo;
		memset(&s->todo, 0, sizeof s->todo);
		s->busy = batch.n;
		pthread_mutex_unlock(&s->mu);

		sync_items(s->dirfd, batch.v, batch.n);

		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < batch.n; i++)
			list_add(&s->done, &batch.v[i]);
		s->busy = 0;
		free(batch.v);
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof one) < 0) {
			/* the counter cannot overflow at one per batch; the loop also looks on its timer */
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int syncer_start(struct ctl *c)
{
	struct syncer *s = xcalloc(1, sizeof *s);
	s->dirfd = fcntl(c->sd.ctl_jobs, F_DUPFD_CLOEXEC, 0);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int rc = s->dirfd < 0 || s->efd < 0 ? errno : pthread_create(&s->th, NULL, run, s);
	if (rc) {
		log_warn("cannot start the thread that syncs finished jobs' states (%s): syncing them in the main loop",
			 strerror(rc));
		if (s->dirfd >= 0)
			close(s->dirfd);
		if (s->efd >= 0)
			close(s->efd);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		free(s);
		return -1;
	}
	c->syncer = s;
	/* Published by a run that ended before their sync: publish them again (a power cut may
	 * have lost the files, while the database kept the note that they were written). */
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = ?1 WHERE dirty = ?2");
	sqlite3_bind_int(u, 1, JOB_DIRTY);
	sqlite3_bind_int(u, 2, JOB_UNSYNCED);
	if (sqlite3_step(u) != SQLITE_DONE)
		log_err("database %s: cannot mark the jobs published but not synced by the last run to publish again: "
			"%s", c->dbpath, sqlite3_errmsg(c->db));
	sqlite3_reset(u);
	return 0;
}

int syncer_fd(const struct ctl *c)
{
	return c->syncer ? c->syncer->efd : -1;
}

void syncer_add(struct ctl *c, const char *name, int64_t rid)
{
	struct sync_item it = { .rid = rid };
	snprintf(it.name, sizeof it.name, "%s", name);
	pthread_mutex_lock(&c->syncer->mu);
	list_add(&c->syncer->todo, &it);
	pthread_cond_signal(&c->syncer->cv);
	pthread_mutex_unlock(&c->syncer->mu);
}

static void set_dirty(struct ctl *c, int64_t rid, int to, int from)
{
	sqlite3_stmt *u = db_prep(c, "UPDATE jobs SET dirty = ?1 WHERE rid = ?2 AND dirty = ?3");
	sqlite3_bind_int(u, 1, to);
	sqlite3_bind_int64(u, 2, rid);
	sqlite3_bind_int(u, 3, from);
	if (sqlite3_step(u) != SQLITE_DONE)
		log_err("database %s: cannot note a job's published state as synced: %s", c->dbpath,
			sqlite3_errmsg(c->db));
	sqlite3_reset(u);
}

/* What the thread synced, noted in the database. A job published again since (a late
 * duplicate) is dirty 2 again with files not synced yet: the results of earlier batches are
 * therefore noted only once the thread is idle, when every batch queued before is done. A
 * thread never idle for 4,096 results has its failures noted and its successes dropped: those
 * jobs stay dirty 2, published again at the next start. */
void syncer_collect(struct ctl *c)
{
	struct syncer *s = c->syncer;
	uint64_t cnt;
	if (!s)
		return;
	if (read(s->efd, &cnt, sizeof cnt) < 0 && errno != EAGAIN)
		log_err("cannot read the state syncer's eventfd: %s", strerror(errno));
	pthread_mutex_lock(&s->mu);
	bool idle = !s->todo.n && !s->busy;
	struct sync_list done = { 0 };
	if (idle || s->done.n > 4096) {
		done = s->done;
		memset(&s->done, 0, sizeof s->done);
	}
	pthread_mutex_unlock(&s->mu);
	if (!done.n)
		return;
	if (db_begin_lazy(c) < 0) {
		pthread_mutex_lock(&s->mu); /* noted next time */
		for (size_t i = 0; i < done.n; i++)
			list_add(&s->done, &done.v[i]);
		pthread_mutex_unlock(&s->mu);
		free(done.v);
		return;
	}
	for (size_t i = 0; i < done.n; i++) {
		const struct sync_item *it = &done.v[i];
		if (it->err && !it->rid) {
			log_err("cannot sync the accepted job record %s/ctl/jobs/%s to disk: %s (the job stands in the "
				"database; only a rebuild of it would miss the job)", c->sd.path, it->name, strerror(it->err));
		} else if (it->err) {
			log_err("cannot sync %s/ctl/jobs/%s to disk: %s (publishing it again)", c->sd.path, it->name,
				strerror(it->err));
			set_dirty(c, it->rid, JOB_DIRTY, JOB_UNSYNCED);
		}
	}
	for (size_t i = 0; i < done.n; i++)
		if (!done.v[i].err && idle && done.v[i].rid)
			set_dirty(c, done.v[i].rid, JOB_CLEAN, JOB_UNSYNCED);
	db_commit_lazy(c);
	free(done.v);
}

void syncer_stop(struct ctl *c)
{
	struct syncer *s = c->syncer;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL); /* it syncs what is queued first */
	syncer_collect(c);
	c->syncer = NULL;
	close(s->dirfd);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->todo.v);
	free(s->done.v);
	free(s);
}
