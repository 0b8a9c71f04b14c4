/* api_job.c - the published state of jobs, read for clients (include/spool.h): one job's
 * summary, its tasks chunk by chunk, every job's summary. The records themselves are parsed by
 * jobstate.c only; this file decides which files to believe (spool-layout.md 12). */
#include "api_job.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "spooldir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job_priv {
	struct rec sum;           /* the summary (or the whole format 1 state) */
	int tasks_here;           /* the tasks are in sum (formats 1 and 3) */
	int inline_parsed;        /* job_inline_load ran on sum (it changes it in place) */
	struct job_chunk *chunks; /* spool_job_get: every chunk, the tasks pointing into them */
	size_t nchunks;
};

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

static void task_paths(const struct spool_job *j, struct spool_task *t)
{
	if (t->attempt == 0 || !j->outdir)
		return;
	unsigned long long n = (unsigned long long)t->task, a = (unsigned long long)t->attempt;
	t->stdout_path = xasprintf("%s/%llu.%llu.out", j->outdir, n, a);
	t->stderr_path = xasprintf("%s/%llu.%llu.err", j->outdir, n, a);
	t->result_path = xasprintf("%s/%llu.%llu.res", j->outdir, n, a);
}

static void tasks_release(struct spool_task *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].stdout_path);
		free(t[i].stderr_path);
		free(t[i].result_path);
		free(t[i].duplicates);
	}
}

/* Tasks first..first+n-1 of j, from r (NULL: all never assigned). */
static int tasks_from(const struct spool_job *j, struct rec *r, uint64_t first, size_t n, struct spool_task *t,
		      char *err, size_t errlen)
{
	struct err e;
	if (jobstate_tasks_read(r, first, n, t, &e) < 0) {
		snprintf(err, errlen, "cannot parse the state of job %s: %s", j->id, e.msg);
		errno = EBADMSG;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		task_paths(j, &t[i]);
	return 0;
}

void job_chunk_free(struct job_chunk *ch)
{
	tasks_release(ch->tasks, ch->n);
	free(ch->tasks);
	if (ch->r.mem)
		rec_free(&ch->r);
	memset(ch, 0, sizeof *ch);
}

int job_chunk_changed(spool_t *sp, const struct spool_job *j, uint64_t k, const struct job_chunk *ch)
{
	char name[96];
	struct stat st;
	jobstate_chunk_name(name, sizeof name, j->id, k);
	if (fstatat(api_spooldir(sp)->ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ch->ino != 0;
	return st.st_ino != ch->ino;
}

int job_chunk_read(spool_t *sp, const struct spool_job *j, uint64_t k, struct job_chunk *ch, char *err,
		   size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	char name[96];
	struct buf b;
	struct stat st;
	struct err e;
	int rc = -1;

	memset(ch, 0, sizeof *ch);
	ch->n = jobstate_chunk_tasks(j->ntasks, k, &ch->first);
	ch->tasks = xcalloc(ch->n, sizeof *ch->tasks);
	jobstate_chunk_name(name, sizeof name, j->id, k);
	buf_init(&b);
	if (fs_read_file(sd->ctl_jobs, name, MAX_CHUNK_RECORD, &b, &st, &e) < 0) {
		if (errno == ENOENT) { /* never written: its tasks were never assigned */
			buf_free(&b);
			return tasks_from(j, NULL, ch->first, ch->n, ch->tasks, err, errlen);
		}
		snprintf(err, errlen, "cannot read the state of job %s: %s", j->id, e.msg);
		goto out;
	}
	if (state_file_ok(sd, &st, j->id, name, err, errlen) < 0 ||
	    state_owner_ok(sd, &st, j->owner, j->id, name, err, errlen) < 0)
		goto out;
	if (jobstate_chunk_parse(b.p, b.len, j->id, k, &ch->r, &e) < 0) {
		snprintf(err, errlen, "cannot parse the state of job %s (%s/ctl/jobs/%s): %s", j->id, sd->path, name, e.msg);
		errno = EBADMSG;
		goto out;
	}
	ch->ino = st.st_ino;
	rc = tasks_from(j, &ch->r, ch->first, ch->n, ch->tasks, err, errlen);
out:
	buf_free(&b);
	if (rc < 0) {
		int saved = errno;
		free(ch->tasks);
		ch->tasks = NULL;
		ch->n = 0;
		if (ch->r.mem)
			rec_free(&ch->r);
		errno = saved;
	}
	return rc;
}

void spool_job_free(struct spool_job *j)
{
	if (!j)
		return;
	struct job_priv *p = j->priv;
	if (p) {
		if (p->chunks) {
			for (size_t i = 0; i < p->nchunks; i++) {
				p->chunks[i].tasks = NULL; /* they live in j->tasks */
				p->chunks[i].n = 0;
				job_chunk_free(&p->chunks[i]);
			}
			free(p->chunks);
		}
		if (p->sum.mem)
			rec_free(&p->sum);
		free(p);
	}
	tasks_release(j->tasks, j->ntasks);
	free(j->tasks);
	free(j);
}

/* Counts of a format 1 state, which has none: from its tasks. */
static void count_tasks(struct spool_job *j)
{
	memset(j->counts, 0, sizeof j->counts);
	for (size_t i = 0; i < j->ntasks; i++)
		j->counts[j->tasks[i].state]++;
}

/* The summary of a job; *here: its tasks are in j->priv's record (format 1, or format 3: inline). */
static int read_summary(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, int *here, char *err,
			size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	char name[64];
	struct buf b;
	struct err e;
	struct stat fst;
	struct spool_job *j;
	int saved;

	*out = NULL;
	*notfound = 0;
	*here = 0;
	if (!name_ok(jobid) || strchr(jobid, '.') || strlen(jobid) > 32) {
		snprintf(err, errlen, "'%s' is not a job id (job ids look like 4k7x0qz2ma)", jobid);
		*notfound = 1;
		return -1;
	}
	buf_init(&b);
	jobstate_sum_name(name, sizeof name, jobid);
	j = xcalloc(1, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", jobid);
	j->state = SPOOL_JOB_SUBMITTED;
	if (fs_read_file(sd->ctl_jobs, name, MAX_STATE_RECORD, &b, &fst, &e) < 0) {
		struct stat st;
		if (errno == EACCES && fstatat(sd->ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    not_yours(st.st_uid, jobid, err, errlen) < 0)
			goto fail;
		if (errno != ENOENT) {
			snprintf(err, errlen, "cannot read the state of job %s: %s", jobid, e.msg);
			goto fail;
		}
		snprintf(name, sizeof name, "%s.job", jobid);
		if (fstatat(sd->incoming, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			j->accepted = 0;
			if (not_yours(st.st_uid, jobid, err, errlen) < 0)
				goto fail;
		} else if (fstatat(sd->ctl_jobs, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			j->accepted = 1; /* accepted, its state not yet published */
			if (not_yours(st.st_uid, jobid, err, errlen) < 0)
				goto fail;
		} else {
			snprintf(err, errlen, "no job '%s' in spool %s (list the jobs with 'spool status')", jobid, sd->path);
			*notfound = 1;
			goto fail;
		}
		buf_free(&b);
		*out = j;
		return 0;
	}
	if (state_file_ok(sd, &fst, jobid, name, err, errlen) < 0)
		goto fail;
	struct job_priv *p = xcalloc(1, sizeof *p);
	j->priv = p;
	if (jobstate_sum_read(b.p, b.len, &p->sum, j, here, &e) < 0) {
		snprintf(err, errlen, "cannot parse the state of job %s (%s/ctl/jobs/%s): %s", jobid, sd->path, name, e.msg);
		errno = EBADMSG;
		goto fail;
	}
	if (strcmp(rec_get(&p->sum, "job"), jobid) != 0) {
		snprintf(err, errlen, "the state %s/ctl/jobs/%s is the state of job %s", sd->path, name,
			 rec_get(&p->sum, "job"));
		errno = EBADMSG;
		goto fail;
	}
	if (state_owner_ok(sd, &fst, j->owner, jobid, name, err, errlen) < 0 ||
	    not_yours((uid_t)j->owner, jobid, err, errlen) < 0)
		goto fail;
	p->tasks_here = *here;
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

/* A format 1 state (`jobstate`: every task, no counts), not a summary. */
static int state_v1(const struct job_priv *p)
{
	return strcmp(p->sum.type, "jobstate") == 0;
}

int job_tasks_inline(const struct spool_job *j)
{
	const struct job_priv *p = j->priv;
	return p && p->sum.mem && p->tasks_here;
}

/* The tasks of a state that holds them (formats 1 and 3); format 1 has no counts: from them. */
static int load_inline_tasks(struct spool_job *j, char *err, size_t errlen)
{
	struct job_priv *p = j->priv;
	j->tasks = xcalloc(j->ntasks ? j->ntasks : 1, sizeof *j->tasks);
	if (tasks_from(j, &p->sum, 1, j->ntasks, j->tasks, err, errlen) < 0) {
		free(j->tasks);
		j->tasks = NULL;
		return -1;
	}
	if (state_v1(p))
		count_tasks(j);
	return 0;
}

int job_inline_load(struct spool_job *j)
{
	struct job_priv *p = j->priv;
	char err[16];
	if (j->tasks)
		return 0;
	if (!p || !p->tasks_here || state_v1(p) || p->inline_parsed) {
		errno = EINVAL;
		return -1;
	}
	p->inline_parsed = 1; /* the parse changes the record in place: once */
	return load_inline_tasks(j, err, sizeof err);
}

int spool_job_summary(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err,
		      size_t errlen)
{
	int here;
	if (read_summary(sp, jobid, out, notfound, &here, err, errlen) < 0)
		return -1;
	struct spool_job *j = *out;
	if (here && state_v1(j->priv)) {
		/* format 1: counted from its tasks, which it holds anyway */
		if (load_inline_tasks(j, err, errlen) < 0) {
			spool_job_free(j);
			*out = NULL;
			return -1;
		}
		tasks_release(j->tasks, j->ntasks);
		free(j->tasks);
		j->tasks = NULL;
	}
	return 0;
}

int spool_job_get(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err, size_t errlen)
{
	int here;
	if (read_summary(sp, jobid, out, notfound, &here, err, errlen) < 0)
		return -1;
	struct spool_job *j = *out;
	struct job_priv *p = j->priv;
	int rc = 0;
	if (!p)
		return 0; /* not accepted yet */
	if (here) {
		rc = load_inline_tasks(j, err, errlen);
	} else {
		p->nchunks = jobstate_nchunks(j->ntasks);
		p->chunks = xcalloc(p->nchunks ? p->nchunks : 1, sizeof *p->chunks);
		j->tasks = xcalloc(j->ntasks ? j->ntasks : 1, sizeof *j->tasks);
		for (size_t k = 0; rc == 0 && k < p->nchunks; k++) {
			rc = job_chunk_read(sp, j, k, &p->chunks[k], err, errlen);
			if (rc == 0) { /* the tasks move into j->tasks; their strings stay in the chunk's record */
				memcpy(&j->tasks[p->chunks[k].first - 1], p->chunks[k].tasks, p->chunks[k].n * sizeof *j->tasks);
				free(p->chunks[k].tasks);
				p->chunks[k].tasks = NULL;
				p->chunks[k].n = 0;
			}
		}
	}
	if (rc < 0) {
		int saved = errno;
		if (!here) { /* chunks read so far own nothing in j->tasks' zeroed tail */
			tasks_release(j->tasks, j->ntasks);
			free(j->tasks);
			j->tasks = NULL;
		}
		spool_job_free(j);
		*out = NULL;
		errno = saved;
	}
	return rc;
}

static int cmp_job(const void *a, const void *b)
{
	const struct spool_job *x = *(struct spool_job *const *)a, *y = *(struct spool_job *const *)b;
	if (x->accepted != y->accepted)
		return x->accepted ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->submitted_ms != y->submitted_ms)
		return x->submitted_ms < y->submitted_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

void spool_jobs_free(struct spool_job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_job_free(jobs[i]);
	free(jobs);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is JOB.state among the sorted names, for the record name JOB.job? */
static bool state_listed(char **names, long nn, const char *record)
{
	char want[300];
	size_t len = strlen(record) - strlen(".job");
	if (len + sizeof ".state" > sizeof want)
		return true; /* not a job's name: never listed from its record */
	snprintf(want, sizeof want, "%.*s.state", (int)len, record);
	const char *key = want;
	return bsearch(&key, names, (size_t)nn, sizeof *names, cmp_name) != NULL;
}

/* Every job with a published state, then those still in incoming/ (on a shared spool
 * incoming/ cannot be listed: a submitter's own records there are not shown until accepted). */
int spool_jobs(spool_t *sp, struct spool_job ***out, size_t *n, spool_warn_cb warn, void *arg, char *err,
	       size_t errlen)
{
	struct spooldir *sd = api_spooldir(sp);
	int dirs[2] = { sd->ctl_jobs, sd->incoming };
	const char *suffix[2] = { ".state", ".job" };
	struct spool_job **jobs = NULL;
	size_t nj = 0;
	struct err e;

	*out = NULL;
	*n = 0;
	for (int d = 0; d < 2; d++) {
		char **names;
		long nn = fs_list(dirs[d], &names, &e);
		if (nn < 0) {
			if (d == 1)
				continue;
			snprintf(err, errlen, "cannot list the jobs in %s/ctl/jobs: %s", sd->path, e.msg);
			spool_jobs_free(jobs, nj);
			return -1;
		}
		/* In ctl/jobs/, an accepted job's record without a state yet (its first publish waits
		 * publish_interval, spool-layout.md 3.10) is listed too, from its record. */
		bool *from_record = xcalloc(nn > 0 ? (size_t)nn : 1, sizeof *from_record);
		if (d == 0) { /* (decided before the loop below shortens the names) */
			qsort(names, (size_t)nn, sizeof *names, cmp_name);
			for (long i = 0; i < nn; i++)
				from_record[i] = has_suffix(names[i], ".job") && !state_listed(names, nn, names[i]);
		}
		for (long i = 0; i < nn; i++) {
			struct spool_job *j;
			char why[SPOOL_ERRLEN];
			int nf;
			if (from_record[i]) {
				names[i][strlen(names[i]) - strlen(".job")] = '\0';
			} else {
				if (!has_suffix(names[i], suffix[d]))
					continue;
				names[i][strlen(names[i]) - strlen(suffix[d])] = '\0';
			}
			if (spool_job_summary(sp, names[i], &j, &nf, why, sizeof why) < 0) {
				/* Another user's or gone meanwhile: silently; not the controller's: said. */
				if (warn && d == 0 && !nf && errno != EACCES && errno != ENOENT)
					warn(why, arg);
				continue;
			}
			if (d == 1 && j->accepted) {
				spool_job_free(j); /* accepted meanwhile: listed from ctl/jobs */
				continue;
			}
			if (d == 1)
				for (size_t k = 0; k < nj; k++)
					if (strcmp(jobs[k]->id, j->id) == 0) {
						spool_job_free(j);
						j = NULL;
						break;
					}
			if (!j)
				continue;
			jobs = xrealloc(jobs, (nj + 1) * sizeof *jobs);
			jobs[nj++] = j;
		}
		free(from_record);
		fs_list_free(names, nn);
	}
	if (nj)
		qsort(jobs, nj, sizeof *jobs, cmp_job);
	*out = jobs;
	*n = nj;
	return 0;
}
