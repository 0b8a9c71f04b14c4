/* assign.c - give queued tasks to free engines (load-balanced, fair between users).
 * A task still waiting on a dependency (tasks.waits > 0) is in none of the indexes read here.
 *
 * Which task next: fair share between owners, then priority, then submission order (below).
 * Each live engine holds at most 1 + prefetch tasks. A round fills every engine
 * that holds nothing before any engine gets a second task, lowest engine id
 * first. The database commit comes before the assignment files are written:
 * a crash in between leaves tasks assigned with no file, which start-up repairs
 * (assign_reconcile) by writing the same files again.
 */
#include "ctl.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "assignrec.h"
#include "rec.h"
#include "queue.h"
#include "smallfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tmpl_clear(struct tmpl *t)
{
	free(t->name);
	free(t->cwd);
	free(t->outdir);
	free(t->argv);
	free(t->env);
	free(t->targets);
	free(t->builtin);
	memset(t, 0, sizeof *t);
}

void assign_forget(struct ctl *c)
{
	for (size_t i = 0; i < TMPL_CACHE; i++)
		tmpl_clear(&c->tmpl[i]);
}

static char *dup_col(sqlite3_stmt *st, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	char *d = xmalloc(n + 1);
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	if (len)
		*len = n;
	return d;
}

static const struct tmpl *tmpl_get(struct ctl *c, int64_t rid)
{
	for (size_t i = 0; i < TMPL_CACHE; i++)
		if (c->tmpl[i].rid == rid && c->tmpl[i].cwd)
			return &c->tmpl[i];
	sqlite3_stmt *st = db_prep(c, "SELECT id, name, cwd, outdir, timeout_ms, is_map, argv, env, targets, builtin, owner, umask, mem FROM jobs WHERE rid = ?");
	sqlite3_bind_int64(st, 1, rid);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	struct tmpl *t = &c->tmpl[c->tmpl_next++ % TMPL_CACHE];
	tmpl_clear(t);
	t->rid = rid;
	snprintf(t->id, sizeof t->id, "%s", (const char *)sqlite3_column_text(st, 0));
	t->name = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : dup_col(st, 1, NULL);
	t->cwd = dup_col(st, 2, NULL);
	t->outdir = dup_col(st, 3, NULL);
	t->a.timeout_ms = sqlite3_column_int64(st, 4);
	t->a.is_map = sqlite3_column_int(st, 5);
	t->argv = dup_col(st, 6, &t->a.argv_len);
	t->env = dup_col(st, 7, &t->a.env_len);
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		targets_parse((const char *)sqlite3_column_text(st, 8), &t->targets, &t->ntargets);
	t->builtin = sqlite3_column_type(st, 9) == SQLITE_NULL ? NULL : dup_col(st, 9, NULL);
	t->a.owner = sqlite3_column_int64(st, 10);
	t->a.umask = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
	t->a.mem = sqlite3_column_int64(st, 12);
	sqlite3_reset(st);
	t->a.id = t->id;
	t->a.name = t->name;
	t->a.cwd = t->cwd;
	t->a.outdir = t->outdir;
	t->a.argv = t->argv;
	t->a.env = t->env;
	t->a.builtin = t->builtin;
	return t;
}

/* A task whose assignment would break the limits is failed, never built: jobs are checked when
 * they are accepted, but one accepted by an older spoold may still be in the queue, and building
 * it could take gigabytes (and again at every restart). */
static int task_too_big(const struct tmpl *t, int64_t idx, const char *item, char *why, size_t whysz)
{
	struct err e;
	size_t n = item ? strlen(item) : 0;
	char num[24];
	if (assign_check(&t->a, n, item ? rec_escaped_len(item, n) : 0, (uint64_t)(idx > 0 ? idx : 1), &e) == 0)
		return 0;
	snprintf(num, sizeof num, "%lld", (long long)idx);
	snprintf(why, whysz, "refused: task %s.%s: %.900s", t->id, num, e.msg);
	return 1;
}

static int inbox_open(struct ctl *c, const char *wid)
{
	char path[200];
	snprintf(path, sizeof path, "%s/inbox", wid);
	return openat(c->sd.ctl_w, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Removes worker wid's assignment of JOB.TASK.ATTEMPT. *cache is an inbox descriptor kept by a
 * caller that removes many (-1 at first, closed by it after), with its worker in cache_wid;
 * NULL opens and closes the inbox for this one. */
void inbox_remove_cached(struct ctl *c, const char *wid, const char *job, int64_t task, int64_t attempt,
			 int *cache, char *cache_wid, size_t cache_wid_sz)
{
	char name[TASKNAME_MAX];
	if (taskname_format(name, sizeof name, job, task, attempt) < 0) {
		log_err("no assignment of worker %s to remove for task %s.%lld.%lld: not a task name", wid, job,
			(long long)task, (long long)attempt);
		return;
	}
	int fd;
	if (cache && *cache >= 0 && strcmp(cache_wid, wid) == 0) {
		fd = *cache;
	} else {
		fd = inbox_open(c, wid);
		if (cache) {
			if (*cache >= 0)
				close(*cache);
			*cache = fd;
			snprintf(cache_wid, cache_wid_sz, "%s", wid);
		}
	}
	if (fd < 0)
		return;
	if (unlinkat(fd, name, 0) < 0 && errno != ENOENT)
		log_err("cannot remove assignment ctl/w/%s/inbox/%s: %s", wid, name, strerror(errno));
	if (!cache)
		close(fd);
}

void inbox_remove(struct ctl *c, const char *wid, const char *job, int64_t task, int64_t attempt)
{
	inbox_remove_cached(c, wid, job, task, attempt, NULL, NULL, 0);
}

struct slot {
	int64_t engine;
	char wid[72];
	int load, maxload;
	bool jump; /* a full engine's one extra place, for an owner with nothing assigned or running */
};

struct pick {
	int64_t rid, idx, attempt, engine;
	char *item;
	char *refused;    /* not NULL: the task is failed with this reason instead of assigned */
	char wid[72];
	uint64_t seq;
};

static int write_assignments(struct ctl *c, struct pick *p, size_t n)
{
	struct buf b;
	struct err e;
	char name[TASKNAME_MAX];
	int rc = 0;
	int fd = -1;
	const char *fd_wid = "";

	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		const struct tmpl *t = tmpl_get(c, p[i].rid);
		if (!t || p[i].refused)
			continue;
		inflight_set(c, "assign", t->id);
		if (strcmp(fd_wid, p[i].wid) != 0) {
			if (fd >= 0)
				close(fd);
			fd = inbox_open(c, p[i].wid);
			fd_wid = p[i].wid;
			if (fd < 0) {
				log_err("cannot open the inbox of worker %s: %s", p[i].wid, strerror(errno));
				rc = -1;
				continue;
			}
		}
		if (fd < 0)
			continue;
		if (taskname_format(name, sizeof name, t->id, p[i].idx, p[i].attempt) < 0) {
			log_err("cannot name the assignment of task %s.%lld.%lld for worker %s", t->id,
				(long long)p[i].idx, (long long)p[i].attempt, p[i].wid);
			rc = -1;
			continue;
		}
		assign_build(&b, &c->sd.key, &t->a, p[i].idx, p[i].item, p[i].attempt, p[i].engine, p[i].seq);
		/* Not fsync'd: only the worker process running now ever reads this inbox (a worker
		 * that starts again is a new one), so a crash that could lose the file (of the node or
		 * the OS) ends that worker too; its tasks are requeued when it is declared dead. A
		 * spoold-only crash loses nothing the kernel holds, and assign_reconcile rewrites any
		 * file missing at start-up. The job or done record kept on disk is the durable step. */
		if (fs_write_atomic(fd, name, b.p, b.len, 0600, FSW_NOSYNC, &e) < 0) {
			log_err("cannot write assignment for worker %s: %s", p[i].wid, e.msg);
			rc = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	inflight_clear(c);
	buf_free(&b);
	return rc;
}

static void take(struct pick *p, sqlite3_stmt *q, struct slot *s)
{
	p->rid = sqlite3_column_int64(q, 0);
	p->idx = sqlite3_column_int64(q, 1);
	p->item = sqlite3_column_type(q, 2) == SQLITE_NULL ? NULL : dup_col(q, 2, NULL);
	p->attempt = sqlite3_column_int64(q, 3) + 1;
	p->engine = s->engine;
	snprintf(p->wid, sizeof p->wid, "%s", s->wid);
	s->load++;
}

static void mark_refused(struct ctl *c, struct pick *p, size_t n)
{
	char why[MAX_REASON_LEN];
	for (size_t i = 0; i < n; i++) {
		const struct tmpl *t = tmpl_get(c, p[i].rid);
		if (t && task_too_big(t, p[i].idx, p[i].item, why, sizeof why)) {
			log_err("job %s: %s", t->id, why);
			p[i].refused = xstrdup(why);
		}
	}
}

/* Inside the caller's transaction. */
static int fail_refused(struct ctl *c, const struct pick *p)
{
	return queue_refuse(c, p->rid, p->idx, p->refused);
}

static int cmp_pick(const void *a, const void *b)
{
	return strcmp(((const struct pick *)a)->wid, ((const struct pick *)b)->wid);
}

#define RESTRICTED_SKIPS 256

/* ---- Fair share (spool-layout.md 5.6) ----
 * Each free slot goes to the owner with the least work assigned or running (owner_load, kept by
 * queue.c, plus what this pass gave it); within one owner, to its job of highest priority, then
 * the earliest submitted, task by task. Each owner with ready tasks has two streams, read through
 * their own indexes in (nprio, rid, idx) order: tasks any engine may run and tasks restricted to
 * their job's targets. A job at its max_running, or restricted to engines none of which has a
 * free slot, is skipped whole in one index seek. Every step is an index seek or step: a pass
 * costs O(owners + engines + tasks assigned + jobs skipped), whatever the queue's length. */

/* A queued task: the head of a stream. */
struct head {
	sqlite3_stmt *q;
	bool ok;
	int64_t nprio, rid, idx;
};

struct owner {
	int64_t uid, load;
	struct head any, res;
};

/* Per job this pass touched: its cap and what it has assigned or running (with this pass's). */
struct jobcap {
	int64_t rid, cap, active;
	int64_t *ids; /* its targets (restricted stream), NULL: none */
	size_t nids;
};

/* The state (and the pin) are bound once, when prepared (db_prep_fixed says why); the owner,
 * priority and job to start from are the last three parameters, bound at each seek. */
static const char any_sql[] = "SELECT rid, idx, item, attempt, nprio FROM tasks WHERE state = ?1 AND pin IS NULL AND waits = 0"
			      " AND owner = ?2 AND (nprio, rid) >= (?3, ?4) ORDER BY nprio, rid, idx";
static const char res_sql[] = "SELECT rid, idx, item, attempt, nprio FROM tasks WHERE state = ?1 AND pin = ?2 AND waits = 0"
			      " AND owner = ?3 AND (nprio, rid) >= (?4, ?5) ORDER BY nprio, rid, idx";

static void head_step(struct head *h)
{
	h->ok = h->q && sqlite3_step(h->q) == SQLITE_ROW;
	if (h->ok) {
		h->rid = sqlite3_column_int64(h->q, 0);
		h->idx = sqlite3_column_int64(h->q, 1);
		h->nprio = sqlite3_column_int64(h->q, 4);
	}
}

/* (Re)position a stream of owner uid at the first task of (nprio, rid) or after. */
static void head_seek(struct head *h, int64_t uid, int64_t nprio, int64_t rid)
{
	if (!h->q)
		return;
	sqlite3_reset(h->q);
	int last = sqlite3_bind_parameter_count(h->q);
	sqlite3_bind_int64(h->q, last - 2, uid);
	sqlite3_bind_int64(h->q, last - 1, nprio);
	sqlite3_bind_int64(h->q, last, rid);
	head_step(h);
}

static bool head_before(const struct head *a, const struct head *b)
{
	if (!a->ok)
		return false;
	if (!b->ok)
		return true;
	if (a->nprio != b->nprio)
		return a->nprio < b->nprio;
	return a->rid != b->rid ? a->rid < b->rid : a->idx < b->idx;
}

/* The least loaded engine with a free slot among ids (n == 0: any). */
/* The least loaded free slot among engines ids (all when n = 0); jump: a full engine's extra
 * place may serve (an owner with no work anywhere), after every ordinary one. */
static struct slot *best_slot(struct slot *s, size_t ns, const int64_t *ids, size_t n, bool jump)
{
	struct slot *best = NULL;
	for (size_t i = 0; i < ns; i++)
		if (s[i].load < s[i].maxload && (!s[i].jump || jump) && targets_has(ids, n, s[i].engine) &&
		    (!best || (best->jump && !s[i].jump) || (best->jump == s[i].jump && s[i].load < best->load)))
			best = &s[i];
	return best;
}

static struct jobcap *jobcap_get(struct ctl *c, struct jobcap **caps, size_t *n, int64_t rid)
{
	for (size_t i = 0; i < *n; i++)
		if ((*caps)[i].rid == rid)
			return &(*caps)[i];
	sqlite3_stmt *q = db_prep(c, "SELECT max_running, targets, (SELECT coalesce(sum(n), 0) FROM job_counts k"
				     " WHERE k.rid = ?1 AND k.state BETWEEN ?2 AND ?3) FROM jobs WHERE rid = ?1");
	sqlite3_bind_int64(q, 1, rid);
	sqlite3_bind_int(q, 2, SPOOL_TASK_ASSIGNED);
	sqlite3_bind_int(q, 3, SPOOL_TASK_RUNNING);
	*caps = xrealloc(*caps, (*n + 1) * sizeof **caps);
	struct jobcap *j = &(*caps)[(*n)++];
	memset(j, 0, sizeof *j);
	j->rid = rid;
	if (sqlite3_step(q) == SQLITE_ROW) {
		j->cap = sqlite3_column_int64(q, 0);
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			targets_parse((const char *)sqlite3_column_text(q, 1), &j->ids, &j->nids);
		j->active = sqlite3_column_int64(q, 2);
	}
	sqlite3_reset(q);
	return j;
}

static bool capped(const struct jobcap *j)
{
	return j->cap > 0 && j->active >= j->cap;
}

/* The owners with ready tasks, found one index seek per stream each, with their load. */
static size_t owners_ready(struct ctl *c, struct owner **out)
{
	static const int fixed[] = { SPOOL_TASK_QUEUED, PIN_TARGETS };
	sqlite3_stmt *next[2] = {
		db_prep_fixed(c, "SELECT owner FROM tasks WHERE state = ?1 AND pin IS NULL AND waits = 0 AND owner > ?2"
				 " ORDER BY owner LIMIT 1", 1, fixed),
		db_prep_fixed(c, "SELECT owner FROM tasks WHERE state = ?1 AND pin = ?2 AND waits = 0 AND owner > ?3"
				 " ORDER BY owner LIMIT 1", 2, fixed),
	};
	sqlite3_stmt *ld = db_prep(c, "SELECT n FROM owner_load WHERE owner = ?");
	struct owner *o = NULL;
	size_t n = 0;
	int64_t at = -1;
	for (;;) {
		int64_t uid = INT64_MAX;
		for (int k = 0; k < 2; k++) {
			sqlite3_reset(next[k]);
			sqlite3_bind_int64(next[k], k + 2, at);
			if (sqlite3_step(next[k]) == SQLITE_ROW && sqlite3_column_int64(next[k], 0) < uid)
				uid = sqlite3_column_int64(next[k], 0);
			sqlite3_reset(next[k]);
		}
		if (uid == INT64_MAX)
			break;
		at = uid;
		o = xrealloc(o, (n + 1) * sizeof *o);
		memset(&o[n], 0, sizeof o[n]);
		o[n].uid = uid;
		sqlite3_bind_int64(ld, 1, uid);
		o[n].load = sqlite3_step(ld) == SQLITE_ROW ? sqlite3_column_int64(ld, 0) : 0;
		sqlite3_reset(ld);
		n++;
	}
	*out = o;
	return n;
}

/* The any/res queries of the i-th owner of a pass: cached in c, since a pass runs after every
 * few finished tasks and parsing them each time was a visible part of spoold's CPU per task. */
static int owner_queries(struct ctl *c, size_t i, sqlite3_stmt **any, sqlite3_stmt **res)
{
	if (i >= c->nowner_q) {
		sqlite3_stmt *(*q)[2] = realloc(c->owner_q, (i + 1) * sizeof *q);
		if (!q)
			return -1;
		c->owner_q = q;
		for (; c->nowner_q <= i; c->nowner_q++) {
			sqlite3_stmt **pair = c->owner_q[c->nowner_q];
			pair[0] = pair[1] = NULL;
			if (sqlite3_prepare_v3(c->db, any_sql, -1, SQLITE_PREPARE_PERSISTENT, &pair[0], NULL) != SQLITE_OK ||
			    sqlite3_prepare_v3(c->db, res_sql, -1, SQLITE_PREPARE_PERSISTENT, &pair[1], NULL) != SQLITE_OK ||
			    sqlite3_bind_int(pair[0], 1, SPOOL_TASK_QUEUED) != SQLITE_OK ||
			    sqlite3_bind_int(pair[1], 1, SPOOL_TASK_QUEUED) != SQLITE_OK ||
			    sqlite3_bind_int(pair[1], 2, PIN_TARGETS) != SQLITE_OK) {
				log_err("database %s: cannot prepare the scheduler's query: %s", c->dbpath,
					sqlite3_errmsg(c->db));
				sqlite3_finalize(pair[0]);
				sqlite3_finalize(pair[1]);
				return -1;
			}
		}
	}
	*any = c->owner_q[i][0];
	*res = c->owner_q[i][1];
	return 0;
}

void assign_close(struct ctl *c)
{
	for (size_t i = 0; i < c->nowner_q; i++) {
		sqlite3_finalize(c->owner_q[i][0]);
		sqlite3_finalize(c->owner_q[i][1]);
	}
	free(c->owner_q);
	c->owner_q = NULL;
	c->nowner_q = 0;
}

/* Owner o's next task it may run now: take it (1), or none left (0). */
static int owner_take(struct ctl *c, struct owner *o, struct slot *s, size_t ns, struct pick *p, struct jobcap **caps,
		      size_t *ncaps, size_t *skips)
{
	while (o->any.ok || o->res.ok) {
		struct head *h = head_before(&o->any, &o->res) ? &o->any : &o->res;
		bool restricted = h == &o->res;
		struct jobcap *j = jobcap_get(c, caps, ncaps, h->rid);
		struct slot *b = NULL;
		bool jump = o->load == 0;
		if (!capped(j))
			b = restricted ? (j->nids ? best_slot(s, ns, j->ids, j->nids, jump) : NULL)
				       : best_slot(s, ns, NULL, 0, jump);
		if (b) {
			take(p, h->q, b);
			j->active++;
			o->load++;
			head_step(h);
			return 1;
		}
		if (!restricted && !capped(j))
			return 0; /* no free slot at all */
		/* This job cannot have more now: skip the rest of it in one seek. */
		if (++*skips > RESTRICTED_SKIPS) {
			o->any.ok = o->res.ok = false;
			return 0;
		}
		head_seek(h, o->uid, h->nprio, h->rid + 1);
	}
	return 0;
}

static size_t assign_free(struct ctl *c, struct slot *s, size_t ns, struct pick *p, size_t np, size_t want)
{
	struct owner *o = NULL;
	size_t no = owners_ready(c, &o), skips = 0, ncaps = 0;
	struct jobcap *caps = NULL;
	for (size_t i = 0; i < no; i++) {
		if (owner_queries(c, i, &o[i].any.q, &o[i].res.q) < 0)
			o[i].any.q = o[i].res.q = NULL;
		head_seek(&o[i].any, o[i].uid, INT64_MIN, 0);
		head_seek(&o[i].res, o[i].uid, INT64_MIN, 0);
	}
	while (np < want) {
		struct owner *best = NULL;
		for (size_t i = 0; i < no; i++)
			if ((o[i].any.ok || o[i].res.ok) && (!best || o[i].load < best->load))
				best = &o[i];
		if (!best || !best_slot(s, ns, NULL, 0, best->load == 0))
			break;
		if (owner_take(c, best, s, ns, &p[np], &caps, &ncaps, &skips))
			np++;
		else if (best->any.ok && !best_slot(s, ns, NULL, 0, best->load == 0))
			break;
		else
			best->any.ok = best->res.ok = false; /* nothing more of this owner fits now */
	}
	for (size_t i = 0; i < no; i++) { /* (a statement left stepping would hold its read open) */
		if (o[i].any.q)
			sqlite3_reset(o[i].any.q);
		if (o[i].res.q)
			sqlite3_reset(o[i].res.q);
	}
	for (size_t i = 0; i < ncaps; i++)
		free(caps[i].ids);
	free(caps);
	free(o);
	return np;
}

/* The pass reads and then writes inside one transaction: each statement run outside one is a
 * read transaction of its own (the WAL's read lock taken and released, its snapshot looked up),
 * and a pass runs a dozen of them after every few finished tasks. */
static bool assign_pass(struct ctl *c);

void assign_tasks(struct ctl *c)
{
	c->want_assign = false;
	if (db_begin_lazy(c) < 0)
		return;
	bool ok = assign_pass(c);
	if (sqlite3_get_autocommit(c->db))
		return; /* the pass committed (and wrote its assignments) or rolled back */
	if (!ok) /* a failed pass whose rollback did not end the transaction: never commit it */
		db_rollback(c);
	else if (db_commit_lazy(c) < 0) /* nothing was assigned: nothing changed */
		log_err("database %s: the assignment pass could not end its transaction", c->dbpath);
}

/* false when it failed (and rolled back) */
static bool assign_pass(struct ctl *c)
{
	bool ok = true;
	struct slot *s = NULL;
	size_t ns = 0, cs = 0;
	size_t want = 0;

	/* Engines whose recent tasks were short (under 0.1 s on average) may hold prefetch_short
	 * queued tasks: holding them costs little, and they would otherwise wait on the controller. */
	static const int held[] = { SPOOL_TASK_ASSIGNED, SPOOL_TASK_RUNNING };
	sqlite3_stmt *es = db_prep_fixed(c,
		"SELECT e.id, e.wid, (SELECT count(*) FROM tasks t WHERE t.engine = e.id AND t.state BETWEEN ?1 AND ?2),"
		" e.avg_ms IS NOT NULL AND e.avg_ms < 100"
		" FROM engines e WHERE e.alive = 1 ORDER BY e.id", 2, held);
	while (sqlite3_step(es) == SQLITE_ROW) {
		int load = sqlite3_column_int(es, 2);
		int maxload = 1 + (int)(sqlite3_column_int(es, 3) ? c->sd.conf.prefetch_short : c->sd.conf.prefetch);
		if (maxload < 1 + (int)c->sd.conf.prefetch)
			maxload = 1 + (int)c->sd.conf.prefetch;
		/* A full engine that holds a task not yet started (prefetch) offers one more place to
		 * an owner with no work anywhere: its worker runs owners in turn (worker/run.c), so
		 * that task starts as soon as the engine's running one ends, not after the prefetched
		 * ones of the owner that fills the queue (fair share, spool-layout.md 5.6). */
		bool jump = load == maxload && maxload > 1;
		if (load >= maxload && !jump)
			continue;
		if (ns == cs) {
			cs = cs ? cs * 2 : 16;
			s = xrealloc(s, cs * sizeof *s);
		}
		s[ns].engine = sqlite3_column_int64(es, 0);
		snprintf(s[ns].wid, sizeof s[ns].wid, "%s", (const char *)sqlite3_column_text(es, 1));
		s[ns].load = load;
		s[ns].maxload = jump ? load + 1 : maxload;
		s[ns].jump = jump;
		want += (size_t)(s[ns].maxload - load);
		ns++;
	}
	sqlite3_reset(es);
	if (!want) {
		free(s);
		return true;
	}
	struct pick *p = xcalloc(want, sizeof *p);
	size_t np = 0;
	/* Phase 1: tasks pinned to an engine (apply, static map, push, pull, submit or map with one
	 * target), in submission order. */
	static const int queued[] = { SPOOL_TASK_QUEUED };
	sqlite3_stmt *pq = db_prep_fixed(c, "SELECT rid, idx, item, attempt FROM tasks WHERE state = ?1 AND pin = ?2"
					    " AND waits = 0 ORDER BY rid, idx LIMIT ?3", 1, queued);
	for (size_t i = 0; i < ns; i++) {
		if (s[i].jump)
			continue;
		sqlite3_reset(pq);
		sqlite3_bind_int64(pq, 2, s[i].engine);
		sqlite3_bind_int64(pq, 3, s[i].maxload - s[i].load);
		while (s[i].load < s[i].maxload && sqlite3_step(pq) == SQLITE_ROW)
			take(&p[np++], pq, &s[i]);
	}
	sqlite3_reset(pq);
	/* Phase 2: the rest, fair between owners (assign_free), each to the least loaded eligible
	 * engine (lowest id first): every engine's first slot fills before anyone's second. A
	 * restricted job none of whose targets has a free slot is skipped whole (one index seek),
	 * so tasks aimed at busy engines never keep an idle one from other work; at most
	 * RESTRICTED_SKIPS skipped jobs per pass. */
	np = assign_free(c, s, ns, p, np, want);
	if (np == 0)
		goto out;
	mark_refused(c, p, np);
	uint64_t seq = db_meta_get(c, "assign_seq", 0);
	/* Lazy: the assignment files go out before the commit is synced. A power cut of the
	 * controller's node before the next sync can lose the assignment, never a task: its job
	 * record or its done record stays on disk until a sync has made the rows that consumed it
	 * durable, so the task is queued again and may run a second time (its first result, if it
	 * comes, is taken; the other is kept as a duplicate). spool-layout.md 7. (The transaction
	 * is assign_tasks'.) */
	for (size_t i = 0; i < np; i++) {
		int rc;
		if (p[i].refused) {
			rc = fail_refused(c, &p[i]);
		} else {
			p[i].seq = ++seq;
			rc = queue_assign(c, p[i].rid, p[i].idx, p[i].attempt, p[i].engine, p[i].wid, p[i].seq);
		}
		if (rc < 0) {
			db_rollback(c);
			ok = false;
			goto out;
		}
	}
	if (db_meta_set(c, "assign_seq", seq) < 0) {
		db_rollback(c);
		ok = false;
		goto out;
	}
	if (db_commit_lazy(c) < 0) {
		ok = false;
		goto out;
	}
	qsort(p, np, sizeof *p, cmp_pick);
	write_assignments(c, p, np);
	c->engines_dirty = true;
out:
	for (size_t i = 0; i < np; i++) {
		free(p[i].item);
		free(p[i].refused);
	}
	free(p);
	free(s);
	return ok;
}

/* Start-up repair: every task the database says is assigned to a live worker gets its
 * assignment file, written again if a crash lost it (same name, same content). */
void assign_reconcile(struct ctl *c)
{
	struct pick *p = NULL;
	size_t np = 0, cp = 0;
	static const int held[] = { SPOOL_TASK_ASSIGNED, SPOOL_TASK_RUNNING };
	sqlite3_stmt *q = db_prep_fixed(c, "SELECT t.rid, t.idx, t.item, t.attempt, t.engine, t.wid, t.seq FROM tasks t"
					   " WHERE t.state BETWEEN ?1 AND ?2 ORDER BY t.wid, t.rid, t.idx", 2, held);
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (np == cp) {
			cp = cp ? cp * 2 : 64;
			p = xrealloc(p, cp * sizeof *p);
		}
		memset(&p[np], 0, sizeof p[np]);
		p[np].rid = sqlite3_column_int64(q, 0);
		p[np].idx = sqlite3_column_int64(q, 1);
		p[np].attempt = sqlite3_column_int64(q, 3);
		p[np].engine = sqlite3_column_int64(q, 4);
		snprintf(p[np].wid, sizeof p[np].wid, "%s", (const char *)sqlite3_column_text(q, 5));
		p[np].item = sqlite3_column_type(q, 2) == SQLITE_NULL ? NULL : dup_col(q, 2, NULL);
		p[np].seq = (uint64_t)sqlite3_column_int64(q, 6);
		np++;
	}
	sqlite3_reset(q);
	size_t keep = 0;
	for (size_t i = 0; i < np; i++) {
		char name[TASKNAME_MAX];
		const struct tmpl *t = tmpl_get(c, p[i].rid);
		int fd = inbox_open(c, p[i].wid);
		int present = 0;
		if (t && fd >= 0 && taskname_format(name, sizeof name, t->id, p[i].idx, p[i].attempt) == 0)
			present = faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		if (fd >= 0)
			close(fd);
		if (present || !t) {
			free(p[i].item);
			continue;
		}
		p[keep++] = p[i];
	}
	mark_refused(c, p, keep);
	size_t nref = 0;
	for (size_t i = 0; i < keep; i++)
		nref += p[i].refused != NULL;
	if (nref && db_begin(c) == 0) {
		int ok = 1;
		for (size_t i = 0; ok && i < keep; i++)
			if (p[i].refused && fail_refused(c, &p[i]) < 0)
				ok = 0;
		if (ok)
			db_commit(c);
		else
			db_rollback(c);
	}
	if (keep > nref) {
		log_info("rewriting %zu assignment file%s lost in a crash", keep - nref, keep - nref == 1 ? "" : "s");
		write_assignments(c, p, keep);
	}
	for (size_t i = 0; i < keep; i++) {
		free(p[i].item);
		free(p[i].refused);
	}
	free(p);
}
