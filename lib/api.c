/* api.c - the client side of spool (include/spool.h): write job and cancel records,
 * read the state the controller publishes. */
#include "spool.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "spooldir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Records are readable by their owner and, through the setgid incoming/ of a shared spool,
 * by the controller's group alone: other submitters cannot read them (spool-layout.md 12). */
#define SUBMIT_MODE 0640


extern char **environ;

struct spool {
	struct spooldir sd;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

spool_t *spool_open(const char *dir, char *err, size_t errlen)
{
	struct err e;
	spool_t *sp = xcalloc(1, sizeof *sp);
	if (!(dir = spooldir_choose(dir, &e)) || spooldir_open(&sp->sd, dir, &e) < 0) {
		set_err(err, errlen, e.msg);
		free(sp);
		return NULL;
	}
	return sp;
}

void spool_close(spool_t *sp)
{
	if (!sp)
		return;
	spooldir_close(&sp->sd);
	free(sp);
}

const char *spool_path(const spool_t *sp)
{
	return sp->sd.path;
}

struct spooldir *spool_dir(spool_t *sp)
{
	return &sp->sd;
}

/* The environment goes into the record whole: refuse one the controller would refuse rather
 * than drop entries silently. Captured entries that are not NAME=VALUE are skipped (they
 * cannot be passed on); given ones (env_set) must all be NAME=VALUE. */
static int check_env(const char *const *env, size_t n, int given, struct err *e)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq || eq == env[i]) {
			if (given)
				return err_set(e, "environment entry '%.64s' is not NAME=VALUE", env[i]);
			continue;
		}
		if (strlen(env[i]) > MAX_ENV_LEN)
			return err_set(e, "environment variable %.*s is longer than %d bytes (unset it or use --no-env)",
				       (int)(eq - env[i] < 64 ? eq - env[i] : 64), env[i], MAX_ENV_LEN);
		kept++;
	}
	if (kept > MAX_ENV)
		return err_set(e, "%zu environment variables, limit %d (unset some or use --no-env)", kept, MAX_ENV);
	return 0;
}

static int check_spec(const struct spool_job_spec *s, const char *cwd, struct err *e)
{
	if (!s->argc || !s->argv[0] || !s->argv[0][0])
		return err_set(e, "no command given");
	if (s->argc > MAX_ARGS)
		return err_set(e, "%zu arguments, limit %d", s->argc, MAX_ARGS);
	for (size_t i = 0; i < s->argc; i++)
		if (strlen(s->argv[i]) > MAX_ARG_LEN)
			return err_set(e, "argument %zu is longer than %d bytes", i + 1, MAX_ARG_LEN);
	size_t nenv = 0;
	while (!s->env_set && environ && environ[nenv])
		nenv++;
	if (check_env(s->env_set ? s->env : (const char *const *)environ, s->env_set ? s->nenv : nenv,
		      s->env_set, e) < 0)
		return -1;
	if (cwd[0] != '/')
		return err_set(e, "working directory '%s' is not absolute: give a full path", cwd);
	if (strlen(cwd) > MAX_PATH_LEN)
		return err_set(e, "working directory path is longer than %d bytes", MAX_PATH_LEN);
	if (access(cwd, F_OK) < 0)
		return err_set(e, "working directory %s does not exist here: create it or give another with --cwd "
			       "(it must exist on the nodes that run the task)", cwd);
	if (s->outdir && s->outdir[0] != '/')
		return err_set(e, "output directory '%s' is not absolute: give a full path", s->outdir);
	if (s->name && !label_ok(s->name, MAX_LABEL_LEN))
		return err_set(e, "job name must be at most %d printable characters", MAX_LABEL_LEN);
	if (s->targets && strcmp(s->targets, "all") != 0) {
		int64_t *ids;
		size_t n;
		if (targets_parse(s->targets, &ids, &n) < 0)
			return err_set(e, "--targets '%s' is not 'all' or a list of engine ids like 3,4,9", s->targets);
		free(ids);
	}
	if (s->schedule && strcmp(s->schedule, "static") != 0 && strcmp(s->schedule, "balanced") != 0)
		return err_set(e, "schedule '%s' is neither static nor balanced", s->schedule);
	if (s->is_map && !s->nitems)
		return err_set(e, "map has no input items (give them after ':::' or with --input)");
	if (s->nitems > MAX_ITEMS)
		return err_set(e, "%zu input items, limit %d per job", s->nitems, MAX_ITEMS);
	for (size_t i = 0; i < s->nitems; i++)
		if (strlen(s->items[i]) > MAX_ITEM_LEN)
			return err_set(e, "input item %zu is longer than %d bytes", i + 1, MAX_ITEM_LEN);
	return 0;
}

/* Where this client's records stand in its own order (spool-layout.md 7): the controller
 * takes records by mtime and, where mtimes tie, by client then seq. A client is a kernel (its
 * boot id); seq is that kernel's CLOCK_MONOTONIC in ns, so the records of every process there
 * are numbered in the order they were written, with no wait for the file server's clock. */
static void put_order(struct buf *b)
{
	static uint64_t last; /* strictly increasing within this process, whatever the clock says */
	char boot[72];
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t seq = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (seq <= last)
		seq = last + 1;
	last = seq;
	boot_id(boot, sizeof boot);
	rec_put(b, "client", boot);
	rec_put_u64(b, "seq", seq);
}

int spool_submit(spool_t *sp, const struct spool_job_spec *s, char jobid[16], char *err, size_t errlen)
{
	struct err e;
	struct buf b;
	char cwdbuf[MAX_PATH_LEN + 1], name[32], node[72];
	const char *cwd = s->cwd;
	int rc = -1;

	if (!cwd) {
		if (!getcwd(cwdbuf, sizeof cwdbuf)) {
			snprintf(err, errlen, "cannot get the current directory: %s (use --cwd)", strerror(errno));
			return -1;
		}
		cwd = cwdbuf;
	}
	if (check_spec(s, cwd, &e) < 0) {
		set_err(err, errlen, e.msg);
		return -1;
	}
	/* 50 random bits; the controller refuses a clash with a job it already has. */
	for (int tries = 0;; tries++) {
		if (id_random(jobid, JOBID_LEN) < 0) {
			snprintf(err, errlen, "cannot get random bytes for a job id: %s", strerror(errno));
			return -1;
		}
		snprintf(name, sizeof name, "%s.job", jobid);
		char st[32];
		snprintf(st, sizeof st, "%s.state", jobid);
		if (faccessat(sp->sd.incoming, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    faccessat(sp->sd.ctl_jobs, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    faccessat(sp->sd.ctl_jobs, st, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		if (tries > 10) {
			snprintf(err, errlen, "cannot find a free job id in %s", sp->sd.path);
			return -1;
		}
	}
	node_name(node, sizeof node);
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", jobid);
	if (s->name)
		rec_put(&b, "name", s->name);
	rec_put(&b, "cwd", cwd);
	if (s->outdir)
		rec_put(&b, "outdir", s->outdir);
	if (s->timeout_ms)
		rec_put_u64(&b, "timeout_ms", s->timeout_ms);
	if (s->retries >= 0)
		rec_put_u64(&b, "retries", (uint64_t)s->retries);
	if (s->is_map)
		rec_put(&b, "map", "1");
	if (s->is_apply)
		rec_put(&b, "apply", "1");
	if (s->targets)
		rec_put(&b, "targets", s->targets);
	if (s->schedule)
		rec_put(&b, "schedule", s->schedule);
	if (s->builtin)
		rec_put(&b, "builtin", s->builtin);
	rec_put(&b, "client_node", node);
	put_order(&b);
	/* The submitter's umask: the task and its files beside the data get it, as at a login. */
	mode_t mask = umask(0);
	umask(mask);
	rec_put_u64(&b, "umask", (uint64_t)(mask & 0777));
	if (s->env_set) {
		for (size_t i = 0; i < s->nenv; i++)
			rec_put(&b, "env", s->env[i]);
	} else {
		for (char **ep = environ; ep && *ep; ep++) /* within the limits: check_env said so */
			if (strchr(*ep, '=') && **ep != '=')
				rec_put(&b, "env", *ep);
	}
	for (size_t i = 0; i < s->argc; i++)
		rec_put(&b, "arg", s->argv[i]);
	for (size_t i = 0; i < s->nitems; i++)
		rec_put(&b, "item", s->items[i]);
	rec_end(&b);
	if (b.len > MAX_JOB_RECORD) {
		snprintf(err, errlen, "the job record would be %zu bytes, limit %u: split the input", b.len,
			 MAX_JOB_RECORD);
		goto out;
	}
	/* Durable before we answer: tmp + fsync + rename + fsync of incoming/. */
	if (fs_write_atomic(sp->sd.incoming, name, b.p, b.len, SUBMIT_MODE, 0, &e) < 0) {
		snprintf(err, errlen, "cannot submit to %s/incoming: %s (nothing was submitted)", sp->sd.path, e.msg);
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

struct job_priv {
	struct rec r;
};

static int parse_task_line(const char *v, struct spool_task *t, char **node_out)
{
	char state[32], eng[24], ex[24], sg[24], wall[24], node[80];
	unsigned long long idx, att;
	if (sscanf(v, "%llu %31s %llu %23s %23s %23s %23s %79s", &idx, state, &att, eng, ex, sg, wall, node) != 8)
		return -1;
	t->task = idx;
	t->attempt = att;
	t->engine = strcmp(eng, "-") ? strtoll(eng, NULL, 10) : -1;
	t->exit_code = strcmp(ex, "-") ? atoi(ex) : -1;
	t->signal = strcmp(sg, "-") ? atoi(sg) : 0;
	t->wall_ms = strcmp(wall, "-") ? strtoll(wall, NULL, 10) : -1;
	*node_out = xasprintf("%s\n%s", state, node);
	return 0;
}

void spool_job_free(struct spool_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->ntasks; i++) {
		free((char *)j->tasks[i].state);
		free(j->tasks[i].stdout_path);
		free(j->tasks[i].stderr_path);
		free(j->tasks[i].result_path);
		free(j->tasks[i].duplicates);
	}
	free(j->tasks);
	struct job_priv *p = j->priv;
	if (p) {
		rec_free(&p->r);
		free(p);
	}
	free(j);
}

/* A job is its owner's (and root's) to read, collect and cancel. The files enforce it on a
 * shared spool (states are 0600 and the submitter's); this says so plainly. errno EACCES: a
 * listing skips such jobs without a word. */
static int not_yours(uid_t owner, const char *jobid, char *err, size_t errlen)
{
	uid_t me = geteuid();
	if (me == 0 || owner == me)
		return 0;
	snprintf(err, errlen, "job %s belongs to uid %u, not to you (uid %u): only its owner or root may see, "
		 "collect or cancel it", jobid, (unsigned)owner, (unsigned)me);
	errno = EACCES;
	return -1;
}

/* Only the controller writes job states, but a root controller gives each one to the job's owner
 * (so that no one else reads it), and that owner can then rewrite its content (never replace the
 * file: ctl/jobs/ is the controller's). So a state is believed only as the controller could have
 * written it (spool-layout.md 12): a file of the controller's account (or root's) says whose job
 * it is; any other file is its owner's job and must say so; and no one else may write it.
 * Before parsing: the file's owner, when it decides alone. errno EBADMSG: refused. */
static int state_file_ok(const struct spooldir *sd, const struct stat *st, const char *jobid, const char *name,
			 char *err, size_t errlen)
{
	bool given = st->st_uid != sd->owner && st->st_uid != 0;
	if (given && not_yours(st->st_uid, jobid, err, errlen) < 0)
		return -1;
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "the state of job %s, %s/ctl/jobs/%s, is writable by others (mode %04o, owner uid "
			 "%u): not believed, only the controller writes job states (its owner may 'chmod go-w' it)",
			 jobid, sd->path, name, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid);
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/* After parsing: the owner the state names must be the file's, unless the controller owns it. */
static int state_owner_ok(const struct spooldir *sd, const struct stat *st, uint64_t said, const char *jobid,
			  const char *name, char *err, size_t errlen)
{
	if (st->st_uid == sd->owner || st->st_uid == 0 || said == (uint64_t)st->st_uid)
		return 0;
	snprintf(err, errlen, "the state of job %s, %s/ctl/jobs/%s, belongs to uid %u but says its owner is uid %llu: "
		 "it was not written by the controller (only the file's owner can have rewritten it), so it is "
		 "not believed", jobid, sd->path, name, (unsigned)st->st_uid, (unsigned long long)said);
	errno = EBADMSG;
	return -1;
}

int spool_job_get(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err, size_t errlen)
{
	char name[64];
	struct buf b;
	struct err e;
	struct spool_job *j;
	struct job_priv *p;
	int saved;

	*out = NULL;
	*notfound = 0;
	if (!name_ok(jobid) || strchr(jobid, '.') || strlen(jobid) > 32) {
		snprintf(err, errlen, "'%s' is not a job id (job ids look like 4k7x0qz2ma)", jobid);
		*notfound = 1;
		return -1;
	}
	buf_init(&b);
	snprintf(name, sizeof name, "%s.state", jobid);
	j = xcalloc(1, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", jobid);
	struct stat fst;
	if (fs_read_file(sp->sd.ctl_jobs, name, MAX_STATE_RECORD, &b, &fst, &e) < 0) {
		struct stat st;
		if (errno == EACCES && fstatat(sp->sd.ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    not_yours(st.st_uid, jobid, err, errlen) < 0)
			goto fail;
		if (errno != ENOENT) {
			snprintf(err, errlen, "cannot read the state of job %s: %s", jobid, e.msg);
			goto fail;
		}
		snprintf(name, sizeof name, "%s.job", jobid);
		if (fstatat(sp->sd.incoming, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			j->accepted = 0;
			if (not_yours(st.st_uid, jobid, err, errlen) < 0)
				goto fail;
		} else if (fstatat(sp->sd.ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			j->accepted = 1;
			if (not_yours(st.st_uid, jobid, err, errlen) < 0)
				goto fail;
		} else {
			snprintf(err, errlen, "no job '%s' in spool %s (list the jobs with 'spool status')", jobid,
				 sp->sd.path);
			*notfound = 1;
			goto fail;
		}
		buf_free(&b);
		*out = j;
		return 0;
	}
	if (state_file_ok(&sp->sd, &fst, jobid, name, err, errlen) < 0)
		goto fail;
	p = xcalloc(1, sizeof *p);
	j->priv = p;
	if (rec_parse(&p->r, b.p, b.len, &schema_jobstate, &e) < 0) {
		snprintf(err, errlen, "cannot parse the state of job %s (%s/ctl/jobs/%s): %s", jobid, sp->sd.path, name,
			 e.msg);
		goto fail;
	}
	j->accepted = 1;
	j->name = rec_get(&p->r, "name");
	j->owner = rec_get_u64(&p->r, "owner", 0);
	if (state_owner_ok(&sp->sd, &fst, j->owner, jobid, name, err, errlen) < 0 ||
	    not_yours((uid_t)j->owner, jobid, err, errlen) < 0)
		goto fail;
	j->cwd = rec_get(&p->r, "cwd");
	j->outdir = rec_get(&p->r, "outdir");
	j->done = strcmp(rec_get(&p->r, "state"), "done") == 0;
	size_t n = rec_count(&p->r, "task");
	j->tasks = xcalloc(n + 1, sizeof *j->tasks);
	for (size_t i = 0; i < p->r.n; i++) {
		const struct rec_field *f = &p->r.f[i];
		if (strcmp(f->key, "task") == 0) {
			struct spool_task *t = &j->tasks[j->ntasks];
			char *sn;
			if (parse_task_line(f->val, t, &sn) < 0) {
				snprintf(err, errlen, "bad task line in the state of job %s: %s", jobid, f->val);
				goto fail;
			}
			char *nl = strchr(sn, '\n');
			*nl = '\0';
			t->state = sn; /* owns the buffer; node follows the state's NUL */
			t->node = nl + 1;
			if (t->attempt > 0) {
				t->stdout_path = xasprintf("%s/%llu.%llu.out", j->outdir, (unsigned long long)t->task,
							   (unsigned long long)t->attempt);
				t->stderr_path = xasprintf("%s/%llu.%llu.err", j->outdir, (unsigned long long)t->task,
							   (unsigned long long)t->attempt);
				t->result_path = xasprintf("%s/%llu.%llu.res", j->outdir, (unsigned long long)t->task,
							   (unsigned long long)t->attempt);
			}
			j->ntasks++;
		} else if (strcmp(f->key, "dup") == 0) {
			unsigned long long idx, att;
			char wid[80], st[16], ex[24], sg[24];
			if (sscanf(f->val, "%llu %llu %79s %15s %23s %23s", &idx, &att, wid, st, ex, sg) != 6 || idx < 1 ||
			    idx > j->ntasks)
				continue;
			struct spool_task *t = &j->tasks[idx - 1];
			t->duplicates = xrealloc(t->duplicates, (t->nduplicates + 1) * sizeof *t->duplicates);
			struct spool_attempt *a = &t->duplicates[t->nduplicates++];
			a->attempt = att;
			snprintf(a->worker, sizeof a->worker, "%s", wid);
			snprintf(a->status, sizeof a->status, "%s", st);
			a->exit_code = strcmp(ex, "-") ? atoi(ex) : -1;
			a->signal = strcmp(sg, "-") ? atoi(sg) : 0;
		} else if (strcmp(f->key, "reason") == 0) {
			unsigned long long idx;
			int off = 0;
			if (sscanf(f->val, "%llu %n", &idx, &off) == 1 && off > 0 && idx >= 1 && idx <= j->ntasks)
				j->tasks[idx - 1].reason = f->val + off;
		}
	}
	buf_free(&b);
	*out = j;
	return 0;
fail:
	saved = errno;
	buf_free(&b);
	spool_job_free(j);
	errno = saved;
	return -1;
}

int spool_task_terminal(const struct spool_task *t)
{
	static const char *term[] = { "succeeded", "failed", "timedout", "cancelled", "abandoned" };
	for (size_t i = 0; i < ARRAY_LEN(term); i++)
		if (strcmp(t->state, term[i]) == 0)
			return 1;
	return 0;
}

int spool_task_succeeded(const struct spool_task *t)
{
	return strcmp(t->state, "succeeded") == 0;
}

int spool_cancel(spool_t *sp, const char *jobid, uint64_t task, char *err, size_t errlen)
{
	struct spool_job *j;
	struct buf b;
	struct err e;
	char rnd[9], name[96];
	int nf, rc = -1;

	if (spool_job_get(sp, jobid, &j, &nf, err, errlen) < 0)
		return -1;
	if (task && j->accepted && j->ntasks && task > j->ntasks) {
		snprintf(err, errlen, "job %s has %zu tasks: there is no task %llu", jobid, j->ntasks,
			 (unsigned long long)task);
		spool_job_free(j);
		return -1;
	}
	spool_job_free(j);
	id_random(rnd, 8);
	snprintf(name, sizeof name, "%s.%s.cancel", jobid, rnd);
	buf_init(&b);
	rec_begin(&b, "cancel");
	rec_put(&b, "job", jobid);
	if (task)
		rec_put_u64(&b, "task", task);
	put_order(&b);
	rec_end(&b);
	if (fs_write_atomic(sp->sd.incoming, name, b.p, b.len, SUBMIT_MODE, 0, &e) < 0)
		snprintf(err, errlen, "cannot write the cancel request to %s/incoming: %s", sp->sd.path, e.msg);
	else
		rc = 0;
	buf_free(&b);
	return rc;
}
