/* api_job.h - reading a job's published state, shared by api_job.c and api_wait.c, and the
 * refusal of an API call (internal). */
#ifndef SPOOL_API_JOB_H
#define SPOOL_API_JOB_H

#include "spool.h"
#include "jobstate.h"

#include <sys/stat.h>

/* One chunk of a job's tasks as read: the tasks, and the record their strings point into. */
struct job_chunk {
	uint64_t first;            /* first task number */
	size_t n;                  /* tasks in it */
	struct spool_task *tasks;
	struct rec r;              /* r.mem NULL when the chunk file does not exist (all queued) */
	ino_t ino;                 /* of the file read (0: none): each rewrite is a new file */
};

/* Read chunk k of job j (whose summary was read). Returns 0, or -1 with err set. */
int job_chunk_read(spool_t *sp, const struct spool_job *j, uint64_t k, struct job_chunk *ch, char *err,
		   size_t errlen);
/* Has chunk k been rewritten since ch was read? (one fstatat) */
int job_chunk_changed(spool_t *sp, const struct spool_job *j, uint64_t k, const struct job_chunk *ch);
void job_chunk_free(struct job_chunk *ch);
/* Are j's tasks in its summary (format 1, or format 3: read it whole with spool_job_get)? */
int job_tasks_inline(const struct spool_job *j);
/* A format 3 summary read by spool_job_summary: its tasks into j->tasks, from the record it
 * holds (no second read). 0 (also when already loaded), or -1 (errno EINVAL: not format 3; or
 * a bad task line: read it with spool_job_get, which says what is wrong). */
int job_inline_load(struct spool_job *j);

/* An API call's refusal: err (when given) says why, errno is errnum; returns -1. */
int api_refuse(char *err, size_t errlen, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
