/* api_retry.c - a job's items from its accepted record (ctl/jobs/JOBID.job), and spool_retry:
 * the tasks of a job that ended in the chosen states, submitted again as a new job with the
 * same command, environment, working directory and items (spool-layout.md 3.2, retry_of). */
#include "spool.h"
#include "fsio.h"
#include "log.h"
#include "rec.h"
#include "repl.h"
#include "schema.h"
#include "spooldir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The job's accepted record, believed only as its owner's file (the submitter's, 0640: only
 * they and the controller read it) and only by its owner or root. -1 with err set (errno
 * ENOENT: the controller has not accepted the job, or it was refused). */
static int job_record(spool_t *sp, const char *jobid, struct rec *r, char *err, size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	char name[64];
	struct buf b;
	struct stat st;
	struct err e;
	snprintf(name, sizeof name, "%s.job", jobid);
	buf_init(&b);
	/* An accepted record waits in incoming/ until the controller moves it (at most 1 s,
	 * spool-layout.md 7), then moves: look there too, and in ctl/jobs/ again if it moved
	 * meanwhile. The owner is checked below whichever directory it came from. */
	int rc = fs_read_file(sd->ctl_jobs, name, MAX_JOB_RECORD, &b, &st, &e);
	if (rc < 0 && errno == ENOENT)
		rc = fs_read_file(sd->incoming, name, MAX_JOB_RECORD, &b, &st, &e);
	if (rc < 0 && errno == ENOENT)
		rc = fs_read_file(sd->ctl_jobs, name, MAX_JOB_RECORD, &b, &st, &e);
	if (rc < 0) {
		int saved = errno;
		snprintf(err, errlen, saved == ENOENT ?
			 "job %s has no accepted record in %s/ctl/jobs (not yet accepted by the controller, or refused)" :
			 "cannot read the record of job %s in %s/ctl/jobs: %s", jobid, sd->path, e.msg);
		buf_free(&b);
		errno = saved;
		return -1;
	}
	uid_t me = geteuid();
	if (me != 0 && st.st_uid != me) {
		snprintf(err, errlen, "the record of job %s belongs to uid %u, not to you (uid %u)", jobid,
			 (unsigned)st.st_uid, (unsigned)me);
		buf_free(&b);
		errno = EACCES;
		return -1;
	}
	rc = rec_parse(r, b.p, b.len, &schema_job, &e);
	buf_free(&b);
	if (rc < 0) {
		snprintf(err, errlen, "the record of job %s in %s/ctl/jobs is not a job record: %s", jobid, sd->path, e.msg);
		errno = EBADMSG;
	}
	return rc;
}

int spool_job_items(spool_t *sp, const char *jobid, char ***items, size_t *n, char *err, size_t errlen)
{
	struct rec r;
	*items = NULL;
	*n = 0;
	if (job_record(sp, jobid, &r, err, errlen) < 0)
		return -1;
	size_t k = rec_count(&r, "item");
	*items = calloc(k ? k : 1, sizeof **items);
	for (size_t i = 0; *items && i < r.n; i++)
		if (strcmp(r.f[i].key, "item") == 0)
			(*items)[(*n)++] = xstrdup(r.f[i].val);
	rec_free(&r);
	if (!*items) {
		snprintf(err, errlen, "out of memory reading the items of job %s", jobid);
		return -1;
	}
	return 0;
}

void spool_items_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static bool chosen(enum spool_task_state s, int which)
{
	return (s == SPOOL_TASK_FAILED && (which & SPOOL_RETRY_FAILED)) ||
	       (s == SPOOL_TASK_TIMEDOUT && (which & SPOOL_RETRY_TIMEDOUT)) ||
	       (s == SPOOL_TASK_CANCELLED && (which & SPOOL_RETRY_CANCELLED)) ||
	       (s == SPOOL_TASK_ABANDONED && (which & SPOOL_RETRY_ABANDONED)) ||
	       (s == SPOOL_TASK_SKIPPED && (which & SPOOL_RETRY_SKIPPED));
}

struct vec {
	const char **v;
	size_t n;
};

static void vec_add(struct vec *x, const char *s)
{
	x->v = xrealloc(x->v, (x->n + 1) * sizeof *x->v);
	x->v[x->n++] = s;
}

int spool_retry(spool_t *sp, const char *jobid, int which, char newjobid[16], char *err, size_t errlen)
{
	struct spool_job *j = NULL;
	struct rec r = { 0 };
	struct vec argv = { 0 }, env = { 0 }, items = { 0 };
	char **split = NULL;
	size_t nsplit = 0;
	int nf, rc = -1;
	if (!which)
		which = SPOOL_RETRY_DEFAULT;
	if (spool_job_get(sp, jobid, &j, &nf, err, errlen) < 0)
		return nf ? -SPOOL_ERR_NO_JOB : -1;
	if (job_record(sp, jobid, &r, err, errlen) < 0)
		goto out;
	if (rec_get_u64(&r, "apply", 0) || rec_get(&r, "builtin")) {
		snprintf(err, errlen, "job %s is an apply or a builtin (push, pull, a Python call): retry runs only "
			 "submitted commands and maps; submit it again", jobid);
		rc = -SPOOL_ERR_USAGE;
		goto out;
	}
	int is_map = rec_get_u64(&r, "map", 0) != 0;
	size_t nitems = rec_count(&r, "item"), ns = 0, ntasks = 0;
	const char *stdin_path = NULL;
	const char **item = calloc(nitems ? nitems : 1, sizeof *item);
	for (size_t i = 0, k = 0; i < r.n; i++) {
		if (strcmp(r.f[i].key, "arg") == 0)
			vec_add(&argv, r.f[i].val);
		else if (strcmp(r.f[i].key, "env") == 0 && strncmp(r.f[i].val, "SPOOL_STDIN=", 12) == 0)
			stdin_path = r.f[i].val + 12; /* spool_submit puts it back, never from env */
		else if (strcmp(r.f[i].key, "env") == 0)
			vec_add(&env, r.f[i].val);
		else if (strcmp(r.f[i].key, "item") == 0 && item)
			item[k++] = r.f[i].val;
	}
	/* Task i of a map is its i-th item; the values of several sources go back one by one. */
	for (size_t t = 0; item && t < j->ntasks; t++) {
		if (!chosen(j->tasks[t].state, which))
			continue;
		ntasks++;
		if (!is_map)
			continue;
		if (j->tasks[t].task < 1 || j->tasks[t].task > nitems) {
			snprintf(err, errlen, "job %s: task %llu has no item in the job's record", jobid,
				 (unsigned long long)j->tasks[t].task);
			free(item);
			goto out;
		}
		const char *it = item[j->tasks[t].task - 1];
		size_t nv = repl_nsrc(it, strlen(it));
		if (!ns)
			ns = nv;
		for (const char *p = it, *q;; p = q + 1) {
			q = strchr(p, REPL_SEP);
			size_t len = q ? (size_t)(q - p) : strlen(p);
			split = xrealloc(split, (nsplit + 1) * sizeof *split);
			split[nsplit] = xstrdup(p);
			split[nsplit++][len] = '\0';
			vec_add(&items, split[nsplit - 1]);
			if (!q)
				break;
		}
	}
	free(item);
	if (!ntasks) {
		snprintf(err, errlen, "job %s has no task in the states asked for%s: nothing to retry", jobid,
			 j->done ? "" : " (yet: it has not ended)");
		rc = -SPOOL_ERR_USAGE;
		goto out;
	}
	/* Its own output directory: the new job's task numbers start again at 1. */
	struct spool_job_spec s = {
		.cwd = rec_get(&r, "cwd"), .name = rec_get(&r, "name"), .argv = argv.v, .argc = argv.n,
		.env = env.v, .nenv = env.n, .env_set = 1, .timeout_ms = rec_get_u64(&r, "timeout_ms", 0),
		.retries = rec_get(&r, "retries") ? (int)(rec_get_u64(&r, "retries", 0) > 100 ? 100 : rec_get_u64(&r, "retries", 0)) : -1, .is_map = is_map,
		.items = items.v, .nitems = items.n, .nsources = ns, .retry_of = jobid, .stdin_path = stdin_path,
		.retry_on_failure = rec_get_u64(&r, "retry_on_failure", 0) != 0,
		.mem = rec_get_u64(&r, "mem", 0),
	};
	rc = spool_submit(sp, &s, newjobid, err, errlen);
out:
	for (size_t i = 0; i < nsplit; i++)
		free(split[i]);
	free(split);
	free(argv.v);
	free(env.v);
	free(items.v);
	rec_free(&r);
	spool_job_free(j);
	return rc;
}
