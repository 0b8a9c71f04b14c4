/* states.c - the one name table of task and job states (include/spool.h). The published
 * records, the controller's log and the CLI all spell states through these functions. */
#include "spool.h"
#include "util.h"

#include <string.h>

static const char *const task_names[SPOOL_TASK_NSTATES] = {
	[SPOOL_TASK_QUEUED] = "queued",       [SPOOL_TASK_ASSIGNED] = "assigned",
	[SPOOL_TASK_RUNNING] = "running",     [SPOOL_TASK_SUCCEEDED] = "succeeded",
	[SPOOL_TASK_FAILED] = "failed",       [SPOOL_TASK_TIMEDOUT] = "timedout",
	[SPOOL_TASK_CANCELLED] = "cancelled", [SPOOL_TASK_ABANDONED] = "abandoned",
	[SPOOL_TASK_SKIPPED] = "skipped",
};

static const char *const job_names[SPOOL_JOB_NSTATES] = {
	[SPOOL_JOB_SUBMITTED] = "submitted",
	[SPOOL_JOB_ACTIVE] = "active",
	[SPOOL_JOB_DONE] = "done",
};

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

const char *spool_task_state_name(enum spool_task_state s)
{
	return (int)s >= 0 && s < SPOOL_TASK_NSTATES ? task_names[s] : "unknown";
}

int spool_task_state_parse(const char *name)
{
	return lookup(task_names, SPOOL_TASK_NSTATES, name);
}

const char *spool_job_state_name(enum spool_job_state s)
{
	return (int)s >= 0 && s < SPOOL_JOB_NSTATES ? job_names[s] : "unknown";
}

int spool_job_state_parse(const char *name)
{
	return lookup(job_names, SPOOL_JOB_NSTATES, name);
}

int spool_task_terminal(const struct spool_task *t)
{
	return t->state >= SPOOL_TASK_SUCCEEDED && t->state < SPOOL_TASK_NSTATES;
}

int spool_task_succeeded(const struct spool_task *t)
{
	return t->state == SPOOL_TASK_SUCCEEDED;
}
