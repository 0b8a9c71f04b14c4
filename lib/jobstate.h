/* jobstate.h - the published state of a job (spool-layout.md 3.10): one writer and one parser.
 *
 * Format 2: ctl/jobs/JOBID.state is a small summary record (`jobsum`: who, what, counts per
 * state), rewritten in O(1); the tasks are in chunk records ctl/jobs/JOBID.tasks.K (`jobtasks`,
 * tasks K*JOBSTATE_CHUNK+1 .. (K+1)*JOBSTATE_CHUNK), each rewritten only when one of its tasks
 * changed. A chunk that does not exist holds only tasks never assigned (queued, attempt 0).
 * Format 3 is a summary with the tasks in it, and no chunk: what a job of at most
 * JOBSTATE_INLINE tasks gets (one file per publish and one read for a client, on the path of
 * every short job). Format 2 stays what it was, so that a client of the last version still
 * reads the state of a big job.
 * Format 1 (`jobstate`: every task in one record) is still read.
 */
#ifndef SPOOL_JOBSTATE_H
#define SPOOL_JOBSTATE_H

#include "rec.h"
#include "spool.h"

#define JOBSTATE_FORMAT 2
#define JOBSTATE_FORMAT_INLINE 3
#define JOBSTATE_CHUNK 1024
#define JOBSTATE_CMD_MAX 200 /* bytes of the command shown in a summary */
#define JOBSTATE_INLINE 16    /* at most this many tasks: in the summary, no chunk files */

static inline int jobstate_inline(uint64_t ntasks)
{
	return ntasks <= JOBSTATE_INLINE;
}

/* "JOBID.state" and "JOBID.tasks.K" */
void jobstate_sum_name(char *out, size_t sz, const char *job);
void jobstate_chunk_name(char *out, size_t sz, const char *job, uint64_t chunk);
static inline uint64_t jobstate_nchunks(uint64_t ntasks)
{
	return (ntasks + JOBSTATE_CHUNK - 1) / JOBSTATE_CHUNK;
}
/* The tasks of chunk k of a job of ntasks: first (1-based), and how many (0 past the end). */
static inline size_t jobstate_chunk_tasks(uint64_t ntasks, uint64_t k, uint64_t *first)
{
	*first = k * JOBSTATE_CHUNK + 1;
	return *first > ntasks ? 0 : ntasks - *first + 1 < JOBSTATE_CHUNK ? (size_t)(ntasks - *first + 1) : JOBSTATE_CHUNK;
}

/* The summary: every field of j but tasks (format 2); with its tasks too if
 * jobstate_inline(j->ntasks) and j->tasks holds them all (format 3). */
void jobstate_sum_write(struct buf *b, const struct spool_job *j);
/* Parse a summary (format 2) or a whole state (format 1, tasks included) into j. Strings point
 * into r, which the caller keeps while it uses j. *tasks_here = 1: the tasks are in r (format 1,
 * or format 3: a summary with its tasks inline); read them with jobstate_tasks_read(r, 1,
 * j->ntasks, ...). Format 1 has no counts (j->counts left zero): count the tasks. */
int jobstate_sum_read(const char *data, size_t len, struct rec *r, struct spool_job *j, int *tasks_here,
		      struct err *e);

/* One chunk: jobstate_chunk_begin, jobstate_task_write for each of its tasks in order, rec_end. */
void jobstate_chunk_begin(struct buf *b, const char *job, uint64_t chunk);
/* A task's line, its reason line and one dup line per duplicate result. */
void jobstate_task_write(struct buf *b, const struct spool_task *t);
/* Parse a chunk of job (number chunk) into r. */
int jobstate_chunk_parse(const char *data, size_t len, const char *job, uint64_t chunk, struct rec *r,
			 struct err *e);
/* Fill tasks[0..count) (tasks first .. first+count-1) from the task, reason and dup lines of r
 * (NULL: all never assigned, as jobstate_task_init makes them). Modifies r's values in place (node
 * and reason point into r). On a bad line, -1 with no duplicate left allocated. */
int jobstate_tasks_read(struct rec *r, uint64_t first, uint64_t count, struct spool_task *tasks, struct err *e);
/* A task never assigned: queued, attempt 0, no engine, node "-". */
void jobstate_task_init(struct spool_task *t, uint64_t task);

#endif
