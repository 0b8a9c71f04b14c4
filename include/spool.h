/* spool.h - the public interface of spool: versions, exit codes and the C client API.
 *
 * A spool is a directory on a filesystem shared by every node. Clients (this API and the
 * `spool` command built on it) write job records into it; spoold, the controller, queues
 * them and assigns tasks to engines run by spool-worker on each node. See spool-layout.md.
 *
 * Error rules: functions that can fail return 0 (or a non-NULL pointer) on success and, on
 * failure, NULL or a negative error code, -SPOOL_ERR_*: -1 (SPOOL_ERR_FAILED) for most failures,
 * another code where the caller may act on the kind, as each function says. Either way a
 * sentence in the caller's err buffer says what failed, on which path or record, and what to do.
 * The sentence is for people: a program tests the code (spool_exit_code gives the command's exit
 * status for it), never the text. Nothing here exits or prints.
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
	SPOOL_EXIT_TASK_FAILED = 1, /* collect: some task failed, timed out, was cancelled, abandoned or skipped */
	SPOOL_EXIT_USAGE = 2,       /* bad command line */
	SPOOL_EXIT_ERROR = 3,       /* no spool, bad spool.conf, I/O error, controller already running */
	SPOOL_EXIT_NO_JOB = 4,      /* the job id does not exist in this spool */
	SPOOL_EXIT_PENDING = 5,     /* collect --no-wait or --timeout: tasks are still pending */
	SPOOL_EXIT_INTERRUPTED = 130 /* the spool command: interrupted (SIGINT) while waiting */
};

/* What kind of failure, returned negated (-SPOOL_ERR_NO_JOB). */
enum spool_err {
	SPOOL_ERR_FAILED = 1,  /* anything not below: no spool, I/O, a record not believed, ... */
	SPOOL_ERR_USAGE = 2,   /* the arguments are not valid (a bad variable name, say) */
	SPOOL_ERR_NO_JOB = 3,  /* no such job or task in this spool */
	SPOOL_ERR_TIMEOUT = 4  /* a wait gave up at its deadline */
};
/* The exit status of a command whose API call returned rc: 0 for rc >= 0, else the
 * SPOOL_EXIT_* of the error code (USAGE, NO_JOB, PENDING for a timeout, ERROR otherwise). */
int spool_exit_code(int rc);

typedef struct spool spool_t;

/* The states of a task, as the controller stores and publishes them (spool-layout.md 5.1).
 * One enum and one name table (spool_task_state_name) for every program: terminal states
 * are those >= SPOOL_TASK_SUCCEEDED. */
enum spool_task_state {
	SPOOL_TASK_QUEUED,
	SPOOL_TASK_ASSIGNED,
	SPOOL_TASK_RUNNING,
	SPOOL_TASK_SUCCEEDED,
	SPOOL_TASK_FAILED,
	SPOOL_TASK_TIMEDOUT,
	SPOOL_TASK_CANCELLED,
	SPOOL_TASK_ABANDONED,
	SPOOL_TASK_SKIPPED,   /* never ran: a dependency it needed to succeed did not (spool-layout.md 5.5) */
	SPOOL_TASK_NSTATES
};
const char *spool_task_state_name(enum spool_task_state s); /* "queued", ...; "unknown" out of range */
int spool_task_state_parse(const char *name);               /* the state, or -1 */

/* The states of a job: submitted (still in incoming/, not yet accepted), active, done (every
 * task terminal). */
enum spool_job_state { SPOOL_JOB_SUBMITTED, SPOOL_JOB_ACTIVE, SPOOL_JOB_DONE, SPOOL_JOB_NSTATES };
const char *spool_job_state_name(enum spool_job_state s);
int spool_job_state_parse(const char *name);

/* The default spool.conf, every setting commented with its default (what `spool init` writes). */
const char *spool_conf_defaults(void);

/* Open the spool at dir (NULL: $SPOOL_DIR). */
spool_t *spool_open(const char *dir, char *err, size_t errlen);
void spool_close(spool_t *sp);
/* For a diagnosis (`spool doctor`): open the spool even when its owners or modes are unsafe,
 * which spool_open refuses; problem receives that refusal's sentence ("" when there is none).
 * Use the handle to read the spool's state, never to submit to a spool found unsafe. */
spool_t *spool_open_inspect(const char *dir, char *problem, size_t problemlen, char *err, size_t errlen);
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
	int is_map;                     /* 1: one task per item, {} {#}... substituted (spool map --help) */
	const char *const *items;
	size_t nitems;
	int is_apply;                   /* 1: one task on each live target engine (DirectView apply) */
	const char *targets;            /* NULL or "all": any engine; else engine ids "3,4,9" */
	const char *schedule;           /* map: NULL or "balanced" (next free engine), "static" (split up front) */
	const char *builtin;            /* NULL; on an apply, "push" (argv = NAME=VALUE...) or "pull" (argv = NAME...);
					 * on any job, "python": a call the engine's persistent Python interpreter
					 * runs (argv[0] = the call file's name in outdir, argv[1..] a label; see
					 * spool-layout.md 13). outdir must be given. */
	/* Fields added after the first release: zero them (designated initialisers do). */
	const char *jobid;              /* NULL: a new random id; else one from spool_job_id_new() */
	const char *python;             /* builtin "python": the interpreter (NULL: spool.conf's python) */
	/* Dependencies (spool-layout.md 5.5), each "JOB" or "JOB.TASK" of a job of the caller's that
	 * exists already. after: the tasks start once those ended, however they ended; afterok: only
	 * if they all succeeded, else the tasks end skipped. after_each (a map): task i starts once task
	 * i of that job succeeded (else it is skipped); both jobs have as many tasks. */
	const char *const *after;
	size_t nafter;
	const char *const *afterok;
	size_t nafterok;
	const char *after_each;         /* a job id, or NULL */
	/* Scheduling (spool-layout.md 5.6). priority: higher first among the caller's own jobs (it
	 * never orders one user's jobs against another's: engines are shared fairly between users);
	 * 0 by default, -1000000000..1000000000. max_running: at most this many of the job's tasks
	 * assigned or running at once (0: no limit). */
	int priority;
	unsigned max_running;
	/* A map over several input sources (GNU parallel's ::: A ::: B): each task takes nsources
	 * consecutive entries of items, its values {1}..{N} (so nitems is a multiple of it). 0 or 1:
	 * one value per task. No value may hold the byte 0x1F (spool-layout.md 3.2). */
	size_t nsources;
	/* NULL, or an absolute path: each task reads this file on its standard input, opened on the
	 * node as the task's user (else /dev/null). Travels as SPOOL_STDIN in the job's environment. */
	const char *stdin_path;
	/* Reruns (spool-layout.md 5.7): retry_on_failure 1: a task that fails or times out is run
	 * again, like one whose node was lost, up to `retries` times in all. retry_of: the job this
	 * one retries (spool_retry sets it), or NULL. */
	int retry_on_failure;
	const char *retry_of;
	/* Memory limit of each task in bytes (0: none), 1 MiB .. 1 PiB (spool-layout.md 7, "Memory
	 * limit"): a task that exceeds it fails with the reason "memory limit SIZE exceeded". Not for
	 * builtin jobs (push, pull, Python calls). */
	uint64_t mem;
};

/* A fresh job id, not used in this spool, for spec.jobid: it lets a client put files for the
 * job (a Python call) in its output directory before it submits. */
int spool_job_id_new(spool_t *sp, char jobid[16], char *err, size_t errlen);
/* Create (with its parents) or open the output directory path as the caller, verified as the
 * worker verifies it: a directory of the caller's, not a symbolic link, that no one else may
 * write. Returns its descriptor (the caller closes it) or -1 with the reason in err. Create files
 * in it relative to the descriptor, O_EXCL|O_NOFOLLOW. */
int spool_outdir_open(spool_t *sp, const char *path, char *err, size_t errlen);

/* Write the job record durably; on success jobid holds the new id (NUL-terminated).
 * -SPOOL_ERR_USAGE for a malformed dependency, -SPOOL_ERR_NO_JOB for one on a job that does not
 * exist or that the caller may not see (another user's), or on a task the job does not have. */
int spool_submit(spool_t *sp, const struct spool_job_spec *spec, char jobid[16], char *err, size_t errlen);

struct spool_attempt;

struct spool_task {
	uint64_t task;       /* 1-based */
	enum spool_task_state state;
	uint64_t attempt;
	int64_t engine;      /* -1 when none */
	int exit_code;       /* -1 when it did not exit */
	int signal;          /* 0 when not killed by a signal */
	int64_t wall_ms;     /* -1 when unknown */
	const char *node;    /* "-" when none */
	const char *reason;  /* NULL or why it failed */
	char *stdout_path, *stderr_path, *result_path;
	size_t nduplicates;  /* results received after the accepted one (a node declared dead that */
	struct spool_attempt *duplicates; /* finished anyway): kept, never replacing it; and the
					   * failed attempts run again under retry_on_failure */
};

struct spool_attempt {
	uint64_t attempt;
	char worker[80];
	char status[16];     /* exited, signaled, timeout, nodir, noexec, error, cancelled */
	int exit_code;       /* -1 when none */
	int signal;          /* 0 when none */
};

struct spool_job {
	char id[16];
	const char *name;
	uint64_t owner;
	const char *cwd, *outdir;
	const char *command;   /* the command line, shortened to about 200 bytes (NULL: unknown) */
	enum spool_job_state state;
	int done;              /* every task is in a terminal state (state == SPOOL_JOB_DONE) */
	int accepted;          /* 0: still in incoming/, the controller has not taken it yet */
	size_t ntasks;         /* tasks in the job */
	uint64_t counts[SPOOL_TASK_NSTATES]; /* how many tasks are in each state */
	uint64_t submitted_ms, finished_ms;  /* the controller's wall clock (ms since 1970); 0: not known */
	uint64_t order;                      /* the order in which the controller accepted jobs (0: not known) */
	struct spool_task *tasks; /* ntasks of them, in order; NULL from spool_job_summary() and spool_jobs() */
	void *priv;
	const char *waiting;   /* NULL, or the jobs some of its tasks still wait on: "JOB[,JOB]..." */
	int held;              /* spool_hold: its queued tasks are not assigned until spool_release */
};

/* The item of each task of a map, from the job's accepted record: (*items)[i] is task i+1's,
 * its values separated by the byte 0x1F when the map has several input sources (spool-layout.md
 * 3.2). None (n = 0) for other jobs. Free with spool_items_free. -1 with err set (errno ENOENT
 * when the controller has not accepted the job). */
int spool_job_items(spool_t *sp, const char *jobid, char ***items, size_t *n, char *err, size_t errlen);
void spool_items_free(char **items, size_t n);

/* Submit again, as a new job whose record says retry_of JOBID, exactly the tasks of jobid that
 * ended in the chosen states: the same command, environment, working directory, timeout,
 * retries and (a map) the items of those tasks, in their order; its own output directory
 * (CWD/spool-NEWJOB). which: SPOOL_RETRY_* bits, 0 for SPOOL_RETRY_DEFAULT. Returns 0 with
 * newjobid set; -SPOOL_ERR_NO_JOB when there is no such job; -SPOOL_ERR_USAGE when no task is in
 * those states or the job is an apply or a builtin; -1 otherwise. */
enum {
	SPOOL_RETRY_FAILED = 1,
	SPOOL_RETRY_TIMEDOUT = 2,
	SPOOL_RETRY_CANCELLED = 4,
	SPOOL_RETRY_ABANDONED = 8,
	SPOOL_RETRY_SKIPPED = 16,
	SPOOL_RETRY_DEFAULT = SPOOL_RETRY_FAILED | SPOOL_RETRY_TIMEDOUT | SPOOL_RETRY_ABANDONED
};
int spool_retry(spool_t *sp, const char *jobid, int which, char newjobid[16], char *err, size_t errlen);

/* Read a job's published state. Returns 0, or -1 with *notfound = 1 when no such job, errno
 * EACCES when it is another user's, EBADMSG when its state file is not as the controller wrote
 * it (another owner than the file's, or writable by others: spool-layout.md 12). */
int spool_job_get(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err,
		  size_t errlen);
void spool_job_free(struct spool_job *job);
/* The same without the tasks (job->tasks is NULL): what `spool status` needs. It reads one small
 * record whatever the job's size. */
int spool_job_summary(spool_t *sp, const char *jobid, struct spool_job **out, int *notfound, char *err,
		      size_t errlen);
/* The summaries of every job the caller may see (its own; root: all), in submission order, the
 * jobs not yet accepted last. Free with spool_jobs_free. A job whose state is there but cannot be
 * believed or read is left out and, if warn is set, named to warn with the reason (other users'
 * jobs are left out without a word). */
typedef void (*spool_warn_cb)(const char *msg, void *arg);
int spool_jobs(spool_t *sp, struct spool_job ***out, size_t *n, spool_warn_cb warn, void *arg, char *err,
	       size_t errlen);
void spool_jobs_free(struct spool_job **jobs, size_t n);
/* Collect: wait for a job and hand each finished task to a callback.
 * on_result is called once per terminal task: in task order when the wait ends, or as tasks
 * finish with SPOOL_COLLECT_FOLLOW (in task order within each look at the job's state). The job
 * and task it is given are valid during the call only: collect reads a job's tasks a bounded
 * chunk at a time, so its memory does not grow with the job (job->tasks is NULL).
 * on_progress, if set, is called after every look while waiting, with the job's summary.
 * Returns a SPOOL_EXIT_* code: OK (every task succeeded), TASK_FAILED, PENDING (no wait, or the
 * timeout passed), NO_JOB, ERROR. *out, if not NULL, receives the last summary read (tasks NULL;
 * free with spool_job_free). */
enum { SPOOL_COLLECT_WAIT = 1, SPOOL_COLLECT_FOLLOW = 2 };
typedef void (*spool_result_cb)(const struct spool_job *job, const struct spool_task *task, void *arg);
typedef void (*spool_progress_cb)(const struct spool_job *job, uint64_t elapsed_ms, void *arg);
struct spool_collect_opts {
	int flags;
	uint64_t timeout_ms;          /* 0: wait for ever */
	spool_result_cb on_result;
	spool_progress_cb on_progress;
	void *arg;
};
int spool_collect(spool_t *sp, const char *jobid, const struct spool_collect_opts *opts, struct spool_job **out,
		  char *err, size_t errlen);

/* The engine table as the controller last published it. */
struct spool_engine {
	int64_t id;
	char state[8];        /* idle, busy, dead */
	char node[72];
	int64_t pid;          /* of its worker */
	char worker[80];
	char task[100];       /* JOB.TASK or "-" */
	int64_t beat_age_ms;  /* -1 for dead engines */
};
int spool_engines(spool_t *sp, struct spool_engine **out, size_t *n, char *err, size_t errlen);
void spool_engines_free(struct spool_engine *e);
/* Wait until at least n engines are alive (timeout_ms 0: for ever). 0 when they are,
 * -SPOOL_ERR_TIMEOUT when the timeout passed first, -1 when the table cannot be read. */
int spool_wait_engines(spool_t *sp, size_t n, uint64_t timeout_ms, char *err, size_t errlen);

/* push NAME=VALUE pairs to, or pull NAMEs from, the target engines ("all" or ids); each is a job.
 * -SPOOL_ERR_USAGE when none is given, one is not NAME=VALUE (push) or NAME (pull), or a value
 * is too long; else as spool_submit. */
int spool_push(spool_t *sp, const char *targets, const char *const *assignments, size_t n, char jobid[16],
	       char *err, size_t errlen);
int spool_pull(spool_t *sp, const char *targets, const char *const *names, size_t n, char jobid[16], char *err,
	       size_t errlen);

/* Is the controller running? Fills out with a sentence either way. patient: on another node,
 * wait about one heartbeat to see its counter change. */
int spool_controller_running(spool_t *sp, char *out, size_t outsz, int patient);

/* What `spool doctor` and `spool status` tell about a spool, read through the handle. */
struct spool_info {
	const char *path;            /* absolute */
	unsigned layout;             /* on-disk layout version (its "format" file) */
	const char *fstype;          /* "ext4", "nfs", "fuse", ... or "unknown" */
	int fs_remote;               /* network or FUSE: inotify is blind to other nodes, rescans see */
	uint64_t owner;              /* uid of the spool's owner: spoold and the workers run as it (or root) */
	int shared;                  /* 0: personal (its owner alone), 1: other users may submit */
	int shared_with_all;         /* shared: every user of the node (else the directory's group) */
	/* The controller, as it last announced itself in ctl/controller. */
	int controller_ran;          /* 0: never ran here (the fields below are empty, -1) */
	int controller_running;      /* as spool_controller_running says */
	char *controller_status;     /* its sentence: "running (pid P on N)", or NOT RUNNING and what to do */
	int64_t controller_uid;      /* the account it runs as (owner of ctl/controller) */
	char *controller_node, *controller_version, *database; /* "" when not announced */
	int64_t controller_pid;
	/* Engines as last published; -1 with engines_error set when ctl/engines cannot be read. */
	long engines_live, engines_dead;
	char *engines_error;
	long quarantined;            /* rejected records in quarantine/; -1 when it cannot be listed */
};
/* Fill *out (free with spool_info_free). patient: as for spool_controller_running (on another
 * node, wait about one heartbeat to see the controller alive). Returns 0: what cannot be read is
 * reported in the fields, as above. */
int spool_info(spool_t *sp, int patient, struct spool_info **out);
void spool_info_free(struct spool_info *info);

/* Ask the controller to cancel a job (task 0) or one task. -SPOOL_ERR_NO_JOB when there is no
 * such job (or jobid is not a job id) or the job has no such task. */
int spool_cancel(spool_t *sp, const char *jobid, uint64_t task, char *err, size_t errlen);
/* Hold a job: its queued tasks are not assigned (those assigned or running go on) until
 * spool_release. A request the controller takes, as a cancel: -SPOOL_ERR_NO_JOB when there is no
 * such job (or it is another user's and the caller is not root). */
int spool_hold(spool_t *sp, const char *jobid, char *err, size_t errlen);
int spool_release(spool_t *sp, const char *jobid, char *err, size_t errlen);
/* Purge (spool-layout.md 3.3b): ask the controller to forget a finished job: its published state,
 * its accepted record and its rows in the queue, so it no longer shows in spool_jobs or `spool
 * status` and its id may be taken again. The files beside the data stay (spool_purge_results).
 * Refused, never stopping anything: -SPOOL_ERR_USAGE when the job has not finished (a task queued,
 * assigned, running, held or waiting on a dependency) or the controller has not accepted it yet;
 * -SPOOL_ERR_NO_JOB when there is no such job; -1 with errno EACCES when it is another user's (as
 * spool_cancel; root and the spool's owner may purge anyone's). Returns 0 once the request is
 * written; the controller takes it as it takes a cancel. */
int spool_purge(spool_t *sp, const char *jobid, char *err, size_t errlen);
/* Remove a finished job's output directory beside the data, as read from its published state
 * (job from spool_job_summary): only the default one, named spool-JOBID (a directory given with
 * --output may hold other files: it is kept, EEXIST), reached without following a link in its
 * last component, that belongs to the job's submitter and that no one else may write (EPERM
 * otherwise: the data's directory may be writable by others, who could have put theirs there).
 * Its contents are removed through its descriptor, never following a link. Returns how many
 * entries it held (>= 0) once it is gone, or -1 with errno (ENOENT: it is not there) and the
 * reason, naming the path, in err. Run it as the submitter (or root). */
int spool_purge_results(const struct spool_job *job, char *err, size_t errlen);

/* Open one of a finished task's files beside the data for reading. Only a regular file owned
 * by the job's submitter (or root) is trusted, reached without following a link in the output
 * directory's name, through a directory that belongs to one of them: the data's directory may be
 * writable by other users. Returns an fd, or -1 with errno set (ENOENT: not there; EPERM, ELOOP,
 * EINVAL: refused) and the reason, naming the file, in err. */
enum spool_output {
	SPOOL_OUT_STDOUT,
	SPOOL_OUT_STDERR,
	SPOOL_OUT_RESULT,
	SPOOL_OUT_VALUE   /* a Python call's value file, TASK.ATTEMPT.ret (spool-layout.md 13) */
};
int spool_task_open(const struct spool_job *job, const struct spool_task *task, enum spool_output which,
		    char *err, size_t errlen);

/* One task's state as published, read through the job's summary and the one chunk of its tasks
 * that holds it: its state and attempt (0: never assigned). 0, -SPOOL_ERR_NO_JOB (no such job of
 * the caller's, or no such task), or -1. A job not yet accepted reads as queued. */
int spool_task_state_get(spool_t *sp, const char *jobid, uint64_t task, enum spool_task_state *state,
			 uint64_t *attempt, char *err, size_t errlen);
/* Open the output (SPOOL_OUT_STDOUT or SPOOL_OUT_STDERR) of a task's current attempt, running
 * or finished, with the trust checks of spool_task_open: a descriptor the caller reads as the file
 * grows (`spool tail -f`). *attempt receives the attempt opened. -1 with errno ENOENT while the
 * task has no file yet (never assigned, or its worker has not started it: try again), else as
 * spool_task_open; -SPOOL_ERR_NO_JOB as spool_task_state_get. */
int spool_task_output_open(spool_t *sp, const char *jobid, uint64_t task, enum spool_output which,
			   uint64_t *attempt, char *err, size_t errlen);

/* Times and resource usage of a finished task, from its result record beside the data (read
 * through spool_task_open's checks); a field the record lacks is -1. Returns 0, or -1 with the
 * reason in err (no record, refused, or not a result record). */
struct spool_usage {
	int64_t start_ms, end_ms;  /* wall clock, ms since the epoch */
	int64_t user_ms, sys_ms;   /* CPU time */
	int64_t maxrss_kb;         /* peak resident memory */
};
int spool_task_usage(const struct spool_job *job, const struct spool_task *task, struct spool_usage *u, char *err,
		     size_t errlen);

/* Accounting of one job (`spool acct`, like Slurm's sacct): its ended tasks counted by outcome,
 * and what they used, summed from the result record of every attempt that left one (the accepted
 * run, and those run again or received late: spool_task_usage's checks apply). The tasks are read
 * a chunk at a time (as spool_collect does): O(results) reads, memory bounded whatever the job's
 * size. Returns 0, with err "" or, when some records could not be read (not counted, numbered in
 * unreadable), a sentence naming the first; -SPOOL_ERR_NO_JOB when there is no such job (or it is
 * another user's); -1 otherwise, with the reason in err. */
struct spool_acct {
	char id[16];
	int64_t owner;                /* uid; -1 while the job is not accepted */
	uint64_t tasks;               /* tasks in the job */
	uint64_t ended;               /* terminal tasks: the sum of the five below */
	uint64_t succeeded, failed;   /* failed: failed, timed out or abandoned */
	uint64_t cancelled, skipped;
	uint64_t attempts;            /* result records read */
	uint64_t unreadable;          /* attempts that ran but whose result record could not be read */
	int64_t user_ms, sys_ms;      /* CPU time, summed */
	int64_t maxrss_kb;            /* the largest peak resident memory of any attempt; -1: none known */
	int64_t wall_ms;              /* the tasks' wall times, summed */
	int64_t elapsed_ms;           /* the job's: accepted to finished (or now, while active); -1: unknown */
	uint64_t submitted_ms, finished_ms; /* as in struct spool_job (finished 0 while active) */
	int done;
};
int spool_job_acct(spool_t *sp, const char *jobid, struct spool_acct *out, char *err, size_t errlen);

/* Is a task's state terminal? Did it succeed? */
int spool_task_terminal(const struct spool_task *t);
int spool_task_succeeded(const struct spool_task *t);

#ifdef __cplusplus
}
#endif
#endif
