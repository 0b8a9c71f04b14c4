/* api_acct.c - spool_job_acct(): what a job's tasks used (`spool acct`), summed from the result
 * records the workers wrote beside the data. Built on spool_collect's hand-out of terminal tasks,
 * which reads one chunk of tasks at a time: a job of a million tasks costs O(results) reads and
 * O(one chunk) memory, never its whole task list. */
#include "spool.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct acct_walk {
	struct spool_acct *a;
	char first_err[SPOOL_ERRLEN]; /* the first result record that could not be read */
};

/* One attempt's result record: its CPU time, peak memory and wall time. 0 when it was read. */
static int add_attempt(struct acct_walk *w, const struct spool_job *j, const struct spool_task *t, int64_t task_wall)
{
	struct spool_usage u;
	char why[SPOOL_ERRLEN];
	if (spool_task_usage(j, t, &u, why, sizeof why) < 0) {
		if (!w->first_err[0])
			snprintf(w->first_err, sizeof w->first_err, "%s", why);
		return -1;
	}
	struct spool_acct *a = w->a;
	a->user_ms += u.user_ms > 0 ? u.user_ms : 0;
	a->sys_ms += u.sys_ms > 0 ? u.sys_ms : 0;
	if (u.maxrss_kb > a->maxrss_kb)
		a->maxrss_kb = u.maxrss_kb;
	/* The controller's wall time of the accepted run when it has one; else the record's own. */
	if (task_wall >= 0)
		a->wall_ms += task_wall;
	else if (u.start_ms >= 0 && u.end_ms >= u.start_ms)
		a->wall_ms += u.end_ms - u.start_ms;
	a->attempts++;
	return 0;
}

/* Each terminal task: its state counted, and the result record of every attempt that left one
 * (the accepted one, and those run again or received late: they used the machine too). */
static void on_task(const struct spool_job *j, const struct spool_task *t, void *arg)
{
	struct acct_walk *w = arg;
	struct spool_acct *a = w->a;
	a->ended++;
	switch (t->state) {
	case SPOOL_TASK_SUCCEEDED: a->succeeded++; break;
	case SPOOL_TASK_FAILED:
	case SPOOL_TASK_TIMEDOUT:
	case SPOOL_TASK_ABANDONED: a->failed++; break;
	case SPOOL_TASK_CANCELLED: a->cancelled++; break;
	case SPOOL_TASK_SKIPPED: a->skipped++; break;
	default: break;
	}
	if (t->attempt == 0)
		return; /* never ran (skipped, or cancelled while queued) */
	if (add_attempt(w, j, t, t->wall_ms) < 0) {
		a->unreadable++;
		if (t->wall_ms >= 0)
			a->wall_ms += t->wall_ms;
	}
	for (size_t i = 0; i < t->nduplicates && j->outdir; i++) {
		struct spool_task d = *t;
		unsigned long long n = (unsigned long long)t->task, at = (unsigned long long)t->duplicates[i].attempt;
		d.attempt = t->duplicates[i].attempt;
		d.result_path = xasprintf("%s/%llu.%llu.res", j->outdir, n, at);
		if (add_attempt(w, j, &d, -1) < 0)
			a->unreadable++;
		free(d.result_path);
	}
}

int spool_job_acct(spool_t *sp, const char *jobid, struct spool_acct *a, char *err, size_t errlen)
{
	struct acct_walk w = { .a = a };
	struct spool_collect_opts o = { .flags = 0, .on_result = on_task, .arg = &w };
	struct spool_job *j = NULL;
	memset(a, 0, sizeof *a);
	a->maxrss_kb = -1;
	a->elapsed_ms = -1;
	int rc = spool_collect(sp, jobid, &o, &j, err, errlen);
	if (rc == SPOOL_EXIT_NO_JOB || rc == SPOOL_EXIT_ERROR) {
		spool_job_free(j);
		return rc == SPOOL_EXIT_NO_JOB ? -SPOOL_ERR_NO_JOB : -SPOOL_ERR_FAILED;
	}
	snprintf(a->id, sizeof a->id, "%s", j->id);
	a->owner = j->accepted && j->ntasks ? (int64_t)j->owner : -1;
	a->tasks = j->ntasks;
	a->done = j->done;
	a->submitted_ms = j->submitted_ms;
	a->finished_ms = j->done ? j->finished_ms : 0;
	if (j->submitted_ms) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		uint64_t end = j->done && j->finished_ms ? j->finished_ms
							 : (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
		a->elapsed_ms = end >= j->submitted_ms ? (int64_t)(end - j->submitted_ms) : 0;
	}
	if (w.first_err[0] && err && errlen)
		snprintf(err, errlen, "%llu result record%s of job %s could not be read (their usage is not counted); "
			 "the first: %s", (unsigned long long)a->unreadable, a->unreadable == 1 ? "" : "s", j->id, w.first_err);
	else if (err && errlen)
		err[0] = '\0';
	spool_job_free(j);
	return 0;
}
