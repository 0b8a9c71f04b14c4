/* spool.h - the public interface of spool: versions, exit codes and the C client API.
 *
 * A spool is a directory on a filesystem shared by every node. Clients (this API and the
 * `spool` command built on it) write job records into it; spoold, the controller, queues
 * them and assigns tasks to engines run by spool-worker on each node. See spool-layout.md.
 *
 * Error rules: functions that can fail return 0 (or a non-NULL pointer) on success and -1
 * (or NULL) on failure, with a sentence in the caller's err buffer saying what failed, on
 * which path or record, and what to do. Nothing here exits or prints.
 * Ownership: every pointer a function returns through an out-parameter belongs to the
 * caller and is released with the matching *_free function.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPOOL_VERSION "0.1.0"
#define SPOOL_ERRLEN 1024

/* Exit codes shared by the spool, spoold and spool-worker commands. */
enum spool_exit {
	SPOOL_EXIT_OK = 0,          /* success; for collect: every task succeeded */
	SPOOL_EXIT_TASK_FAILED = 1, /* collect: some task failed, timed out, was cancelled or abandoned */
	SPOOL_EXIT_USAGE = 2,       /* bad command line */
	SPOOL_EXIT_ERROR = 3,       /* no spool, bad spool.conf, I/O error, controller already running */
	SPOOL_EXIT_NO_JOB = 4,      /* the job id does not exist in this spool */
	SPOOL_EXIT_PENDING = 5      /* collect --no-wait or --timeout: tasks are still pending */
};

typedef struct spool spool_t;

/* Open the spool at dir (NULL: $SPOOL_DIR). */
spool_t *spool_open(const char *dir, char *err, size_t errlen);
void spool_close(spool_t *sp);
const char *spool_path(const spool_t *sp);

struct spool_job_spec {
	const char *cwd;                /* absolute working directory; NULL: the current one */
	const char *outdir;             /* absolute output directory; NULL: CWD/spool-JOBID */
	const char *name;               /* label, may be NULL */
	const char *const *argv;        /* command and arguments, argc >= 1 */
	size_t argc;
	const char *const *env;         /* NAME=VALUE entries; used only when env_set */
	size_t nenv;
	int env_set;                    /* 0: capture this process's environment */
	uint64_t timeout_ms;            /* 0: spool.conf's default_timeout */
	int retries;                    /* -1: spool.conf's default_retries */
	int is_map;                     /* 1: one task per item, {} and {#} substituted */
	const char *const *items;
	size_t nitems;
};

/* Write the job record durably; on success jobid holds the new id (NUL-terminated). */
int spool_submit(spool_t *sp, const struct spool_job_spec *spec, char jobid[16], char *err, size_t errlen);

struct spool_task {
	uint64_t task;       /* 1-based */
	const char *state;   /* queued assigned running succeeded failed timedout cancelled abandoned */
	uint64_t attempt;
	int64_t engine;      /* -1 when none */
	int exit_code;       /* -1 when it did not exit */
	int signal;          /* 0 when not killed by a signal */
	int64_t wall_ms;     /* -1 when unknown */
	const char *node;    /* "-" when none */
	const char *reason;  /* NULL or why it failed */
	char *stdout_path, *stderr_path, *result_path;
};

struct spool_job {
	char id[16];
	const char *name;
	uint64_t owner;
	const char *cwd, *outdir;
	int done;            /* every task is in a terminal state */
	int accepted;        /* 0: still in incoming/, the controller has not taken it yet */
	size_t ntasks;
	struct spool_task *tasks;
	void *priv;
};

/* Read a job's published state. Returns 0, or -1 with *notfound = 1 when no such job. */
int spool_job_get(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err,
		  size_t errlen);
void spool_job_free(struct spool_job *job);
/* Ask the controller to cancel a job (task 0) or one task. */
int spool_cancel(spool_t *sp, const char *jobid, uint64_t task, char *err, size_t errlen);
/* Is a task's state terminal? Did it succeed? */
int spool_task_terminal(const struct spool_task *t);
int spool_task_succeeded(const struct spool_task *t);

#ifdef __cplusplus
}
#endif
#endif
