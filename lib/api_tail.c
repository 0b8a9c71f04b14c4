/* api_tail.c - one task's state and its output while it runs (spool tail).
 *
 * A task is found through its job's summary and the one chunk of its tasks that holds it
 * (spool-layout.md 3.10): following a task of a million-task job reads two small records per
 * look, never the whole job. Its output file is opened with spool_task_open's trust checks.
 */
#include "spool.h"
#include "api_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job's summary in *j and, when the controller accepted it, the chunk holding task in ch,
 * *t pointing into it (NULL: not accepted yet, or a format-1 state read whole into (*j)->tasks). */
static int find_task(spool_t *sp, const char *jobid, uint64_t task, struct spool_job **j, struct job_chunk *ch,
		     struct spool_task **t, char *err, size_t errlen)
{
	int nf;
	memset(ch, 0, sizeof *ch);
	*t = NULL;
	if (spool_job_summary(sp, jobid, j, &nf, err, errlen) < 0)
		return nf ? -SPOOL_ERR_NO_JOB : -1;
	if (!(*j)->accepted)
		return 0;
	if (task < 1 || task > (*j)->ntasks) {
		snprintf(err, errlen, "job %s has %zu task%s: there is no task %llu", jobid, (*j)->ntasks,
			 (*j)->ntasks == 1 ? "" : "s", (unsigned long long)task);
		spool_job_free(*j);
		*j = NULL;
		return -SPOOL_ERR_NO_JOB;
	}
	if (job_tasks_inline(*j)) {
		spool_job_free(*j);
		if (spool_job_get(sp, jobid, j, &nf, err, errlen) < 0)
			return nf ? -SPOOL_ERR_NO_JOB : -1;
		*t = &(*j)->tasks[task - 1];
		return 0;
	}
	if (job_chunk_read(sp, *j, (task - 1) / JOBSTATE_CHUNK, ch, err, errlen) < 0) {
		spool_job_free(*j);
		*j = NULL;
		return -1;
	}
	*t = &ch->tasks[task - ch->first];
	return 0;
}

int spool_task_state_get(spool_t *sp, const char *jobid, uint64_t task, enum spool_task_state *state,
			 uint64_t *attempt, char *err, size_t errlen)
{
	struct spool_job *j;
	struct job_chunk ch;
	struct spool_task *t;
	int rc = find_task(sp, jobid, task, &j, &ch, &t, err, errlen);
	if (rc < 0)
		return rc;
	*state = t ? t->state : SPOOL_TASK_QUEUED;
	*attempt = t ? t->attempt : 0;
	job_chunk_free(&ch);
	spool_job_free(j);
	return 0;
}

int spool_task_output_open(spool_t *sp, const char *jobid, uint64_t task, enum spool_output which,
			   uint64_t *attempt, char *err, size_t errlen)
{
	struct spool_job *j;
	struct job_chunk ch;
	struct spool_task *t;
	*attempt = 0;
	if (which != SPOOL_OUT_STDOUT && which != SPOOL_OUT_STDERR) {
		snprintf(err, errlen, "spool_task_output_open follows a task's standard output or error only");
		errno = EINVAL;
		return -SPOOL_ERR_USAGE;
	}
	int rc = find_task(sp, jobid, task, &j, &ch, &t, err, errlen);
	if (rc < 0)
		return rc;
	int fd = -1;
	if (!t || !t->attempt) {
		snprintf(err, errlen, "task %s.%llu has not started yet: it has no output", jobid, (unsigned long long)task);
		errno = ENOENT;
	} else {
		*attempt = t->attempt;
		fd = spool_task_open(j, t, which, err, errlen);
	}
	int saved = errno;
	job_chunk_free(&ch);
	spool_job_free(j);
	errno = saved;
	return fd;
}
