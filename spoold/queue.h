/* queue.h - every change of a task's or a job's state (spool-layout.md 5.1), in one module.
 *
 * Each function runs inside the caller's transaction (db_begin .. db_commit), checks every
 * SQLite step, logs what failed and returns -1: the caller then rolls back. Each one keeps,
 * with the tasks, what publishing and the scheduler read without scanning the tasks table: the
 * job's count of tasks per state (job_counts), its number of terminal tasks and finishing
 * time, the mark that it must be published again, and which chunks of its published state
 * (JOBSTATE_CHUNK tasks each) changed (chunks_dirty).
 */
#ifndef SPOOLD_QUEUE_H
#define SPOOLD_QUEUE_H

#include "ctl.h"

struct queue_job {
	const char *id, *name, *cwd, *outdir, *targets, *builtin, *command;
	uid_t owner;
	int64_t timeout_ms, retries, umask; /* umask -1: not given */
	int is_map;
	int retry_on_failure; /* failed or timed-out tasks run again within retries */
	const void *argv, *env;
	size_t argv_len, env_len;
	uint64_t ntasks;
	int64_t priority;     /* higher first among the owner's jobs */
	uint64_t max_running; /* 0: no limit on its assigned + running tasks */
	int64_t mem;          /* each task's memory limit in bytes, 0: none */
};

/* A job and its tasks: queue_job_add, then queue_task_add for tasks 1..ntasks in order, then
 * queue_job_added (which inserts the last rows queue_task_add held: strings passed to it must
 * live until then). A failure of either means the caller rolls back. */
int64_t queue_job_add(struct ctl *c, const struct queue_job *j); /* the new rid, or -1 */
int queue_task_add(struct ctl *c, int64_t rid, int64_t idx, const char *item, size_t item_len, int64_t pin,
		   enum spool_task_state state, const char *reason, int64_t waits);
int queue_job_added(struct ctl *c, int64_t rid, const uint64_t counts[SPOOL_TASK_NSTATES]);

/* Dependencies (spool-layout.md 5.5), inside the transaction that adds job rid, whose tasks were
 * added with waits counting the rows each waits on: rid waits on task on_idx of on_rid, on its
 * whole job (on_idx 0), or each task i of rid on task i of on_rid (QUEUE_DEP_EACH); ok: they must
 * succeed, else the waiting tasks end skipped. Every transition below that ends a task resolves
 * the rows waiting on it: released (waits - 1; at 0 the task may be assigned) or, ok and not
 * succeeded, the waiting tasks skipped, which their own dependents learn in turn. */
#define QUEUE_DEP_EACH (-1)
int queue_dep_add(struct ctl *c, int64_t rid, int64_t on_rid, int64_t on_idx, bool ok);
/* "dependency JOB.TASK failed: exited with status 1": why what waited on that task is skipped. */
int queue_dep_reason(struct ctl *c, int64_t rid, int64_t idx, char *out, size_t sz);
/* The jobs job rid still waits on, "JOB,JOB" ("" for none), for publishing. */
int queue_waiting(struct ctl *c, int64_t rid, char *out, size_t sz);

/* queued -> assigned (attempt, engine, worker, assignment sequence). */
int queue_assign(struct ctl *c, int64_t rid, int64_t idx, int64_t attempt, int64_t engine, const char *wid,
		 uint64_t seq);
/* queued -> failed, never assigned (its assignment would break the limits). */
int queue_refuse(struct ctl *c, int64_t rid, int64_t idx, const char *reason);
/* assigned -> running, when the worker says it started this attempt. 1 changed, 0 not, -1. */
int queue_start(struct ctl *c, const char *job, int64_t idx, int64_t attempt, const char *wid);

/* A result from a worker. Accepted when the task is not terminal yet (returns 1, and *revoke
 * names a run of the task still in progress elsewhere, which the caller revokes); kept as a
 * duplicate otherwise (returns 0). */
struct queue_result {
	const char *wid, *node, *status, *reason;
	enum spool_task_state state;
	int64_t idx, attempt, engine, wall_ms;
	int64_t exit_code, signal; /* -1: none */
};
struct queue_revoke {
	char wid[72];
	int64_t attempt;
};
#define QUEUE_NO_TASK (-2) /* queue_finish: the job has no such task (a bad record, not a database error) */
#define QUEUE_RETRIED 2    /* queue_finish: a failure queued again (--retry-on-failure), kept as an attempt */
int queue_finish(struct ctl *c, int64_t rid, const struct queue_result *res, struct queue_revoke *revoke);

/* The tasks worker wid held: requeued (queued again, attempt kept for the next assignment),
 * abandoned past the job's retries when lost (not clean), failed when pinned to its engines.
 * Pinned tasks still queued for its engines fail too. Counts what happened in *requeued and
 * *ended. The (job, task, attempt) taken from the worker are handed to each() after the
 * database work, for the caller to revoke them once committed. */
struct queue_taken {
	char job[72], wid[72];
	int64_t idx, attempt;
};
int queue_requeue_worker(struct ctl *c, const char *wid, bool clean, const char *lost_reason,
			 const char *pinned_reason, struct queue_taken **taken, size_t *ntaken, int *requeued,
			 int *ended);

/* End the tasks of job rid not yet terminal (all, or only task when not 0) in state with reason;
 * forget_engine also clears which engine had them. The assigned and running ones are returned
 * in taken (to revoke after the commit). Returns how many changed, or -1. */
int queue_end(struct ctl *c, int64_t rid, uint64_t task, enum spool_task_state state, const char *reason,
	      bool forget_engine, struct queue_taken **taken, size_t *ntaken);

/* Hold (hold true) or release job rid: its queued tasks leave the scheduler's indexes (waits + 1)
 * or come back (waits - 1); assigned and running ones go on. Returns 1 when the job changed, 0
 * when it already was so, -1. */
int queue_hold(struct ctl *c, int64_t rid, bool hold);

/* Forget finished job rid (spool purge): its rows in every table. Returns 1 when it was removed,
 * 0 when some of its tasks are not terminal yet (nothing changed), -1. */
int queue_purge(struct ctl *c, int64_t rid);

/* Rebuild: a task as a published state says it was. */
int queue_restore(struct ctl *c, int64_t rid, const struct spool_task *t);
/* Count a job's tasks per state again from the tasks table (after a rebuild or an upgrade):
 * O(tasks of the job), never on the hot path. Marks every chunk that has a task not queued. */
int queue_recount(struct ctl *c, int64_t rid);

/* Publishing reads these. */
int queue_counts(struct ctl *c, int64_t rid, uint64_t counts[SPOOL_TASK_NSTATES]);

#endif
