/* worker.h - spool-worker's state: engines, their queues, the running tasks. */
#ifndef SPOOL_WORKER_H
#define SPOOL_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsio.h"
#include "outdir.h"
#include "rec.h"
#include "spooldir.h"
#include "util.h"

/* One assignment read from the inbox: its file name and parsed record. */
struct job_assign {
	char name[160];   /* JOB.TASK.ATTEMPT, also the done record's name */
	struct rec r;
	uint64_t seq;
	int64_t engine;
	uint64_t uid;          /* whose task: an engine takes owners in turn */
	uint64_t absent_since; /* monotonic ms since its file was first missing from the inbox, or 0 */
};

#define CRED_MAX_GROUPS 256
#define MAX_ENGINES 1024 /* engines per worker (-n) */

/* One message on a task's start pipe: a letter and a value (shepherd.c). */
struct start_msg {
	char what;
	int64_t value;
};

/* Resource limits from /etc/security/limits.conf for a task's user (limits.c). */
#define LIMIT_ITEMS 13
struct task_limits {
	unsigned char set[LIMIT_ITEMS]; /* bit 1: soft given, bit 2: hard given */
	unsigned long long soft[LIMIT_ITEMS], hard[LIMIT_ITEMS];
};

/* Who a task runs as (cred.c). */
struct task_cred {
	uid_t uid;
	gid_t gid;
	char name[64];
	gid_t groups[CRED_MAX_GROUPS];
	int ngroups;
	bool switch_ids; /* false: the worker already is this user */
	mode_t umask;    /* the submitter's, sent in the job record */
	struct task_limits limits; /* applied in the task's process when switch_ids */
};

/* An engine's variables: "NAME=VALUE" strings, with an index by name (open addressing, twice
 * MAX_VARS slots) and their total size, so that setting one costs O(1), not O(variables). */
#define VARS_SLOTS 2048
struct vars {
	char **kv;
	size_t n;
	size_t bytes;     /* sum of strlen(kv[i]) + 1 */
	uint32_t *slot;   /* VARS_SLOTS entries: index + 1 into kv, 0 empty; NULL until the first set */
};

/* A persistent Python interpreter of one user on one engine (pyengine.c). */
struct pyinterp {
	uid_t uid;
	char *python;           /* the interpreter as the calls name it */
	pid_t pid;              /* 0 when none runs */
	int sock;               /* the worker's end of its socket, -1 when none */
	uint64_t calls;         /* calls since it started: 0 means no namespace to lose */
	char lost[1024];        /* why the previous one ended, for the next call; "" none */
};

/* What an interpreter answered about a call. */
struct pyresult {
	int code;               /* 0 returned, 1 raised, 2 refused before running */
	uint64_t user_ms, sys_ms, maxrss_kb;
	char reason[1000];
};

struct outcome;

struct engine {
	int64_t id;
	int slot;               /* 0..N-1 on this node: names its variables file */
	struct vars vars;
	uid_t vars_uid;         /* whose variables are loaded */
	struct job_assign *run; /* NULL when idle */
	uint64_t last_uid;      /* the owner of the task it started last ... */
	bool ran;               /* ... if it started one */
	pid_t pid;
	uint64_t start_wall, start_mono;
	uint64_t deadline;      /* monotonic ms; 0 = no timeout */
	uint64_t kill_at;       /* after TERM: when to KILL */
	bool timed_out, revoked;
	struct outcome *held;   /* ended by a signal from outside: reported at held_until (run.c) */
	uint64_t held_until;
	uint64_t mem;           /* the running task's memory limit in bytes (--mem), 0 none */
	int mem_how;            /* MEM_* from its shepherd, once it ended */
	int errfd;              /* read end of the task's start pipe (shepherd.c), 0 when none */
	struct start_msg smsg[12]; /* what came on it so far; the last slot is kept for 'x' */
	int nsmsg;
	bool ended;             /* its 'x' came: the task and everything it left are gone */
	bool pipe_eof;          /* it closed without an 'x': the shepherd died (run_reap tells) */
	pid_t shep_pid;         /* the engine's shepherd, 0 when none runs (shepherd.c) */
	int shep_sock;          /* the worker's end of its socket, -1 when none */
	struct task_cred cred;  /* the running task's user */
	int outfd;              /* the verified output directory (outdir.c), -1 when none */
	char out_path[4200], err_path[4200], res_path[4200], vars_path[4200];
	struct pyinterp *py;    /* this engine's interpreters, one per user and interpreter */
	size_t npy;
	struct pyinterp *pyi;   /* the one running the current call, NULL when none */
};

/* A done record waiting for space to be written. */
struct unsent {
	char name[160];
	char *rec;
};

struct worker {
	struct spooldir sd;
	char wid[72], node[72], boot[72];
	int nslots;
	struct engine *eng;   /* nslots of them once registered */
	bool registered, dead;
	int wfd;              /* workers/WID */
	int done_fd;          /* workers/WID/done */
	int inbox_fd;         /* ctl/w/WID/inbox, -1 until registered */
	int lock_fd;          /* vars/.lock.NODE, held for the worker's life */
	int cg_fd;            /* this worker's cgroup for its tasks (cgroup.c), -1 when none */
	struct job_assign **queue; /* assignments not yet started, any engine */
	size_t nq, capq;
	char **finished;      /* names this process completed whose inbox file is not gone yet */
	uint64_t *fin_absent; /* for each: when first missing from the inbox (0: present) */
	size_t nfin, capfin;
	struct unsent *unsent;
	size_t nunsent;
	uint64_t beat;
	int ino, wd_inbox, wd_ctlw, wd_reg;
	bool scan_inbox; /* list the whole inbox (a rescan, a revocation, an overflow) */
	/* Names inotify saw renamed into the inbox since the last look: read those alone, without
	 * listing the inbox (inbox_scan). */
	struct fs_noted inbox_noted;
	volatile int stop;
};

/* inbox.c */
void inbox_scan(struct worker *w); /* when scan_inbox or inbox_noted holds names */
bool inbox_is_finished(struct worker *w, const char *name);
void inbox_mark_finished(struct worker *w, const char *name);
void job_assign_free(struct job_assign *a);

/* vars.c */
void vars_load(struct worker *w, struct engine *e, uid_t uid);
int vars_save(struct worker *w, struct engine *e, struct err *er);
int vars_set(struct vars *v, const char *kv, size_t len, struct err *e);
const char *vars_get(const struct vars *v, const char *name);
void vars_merge(struct worker *w, struct engine *e, const char *data, size_t len, char *warn, size_t wsz);
bool vars_protected(const char *name, size_t len);
void vars_free(struct vars *v);

/* cred.c */
int cred_init(struct err *e);
/* The identity for a task of uid; -1 with a reason ("refused: ...") when this worker may not run it. */
int cred_for_task(uid_t uid, const char *node, struct task_cred *c, char *why, size_t whysz);
int cred_enter(const struct task_cred *c); /* act as the task's user (effective ids) */
void cred_leave(const struct task_cred *c);
int cred_become(const struct task_cred *c); /* in the child: become the user for good */

/* limits.c */
void limits_for_user(const struct task_cred *c, struct task_limits *l);
void limits_apply(const struct task_limits *l);


/* What a task's first process needs, sent by the worker to the engine's shepherd (launch.c). */
struct launch {
	struct task_cred cred;
	uint64_t mem;           /* --mem in bytes, 0 none */
	uint64_t grace_ms;      /* kill_grace as the worker has it now (a SIGHUP may change it) */
	int outfd;              /* the verified output directory */
	int errfd;              /* write end of the task's start pipe */
	const char *out_name, *err_name; /* created in outfd as the task's user */
	const char *cwd, *path;
	const char *in;         /* the task's standard input (SPOOL_STDIN), NULL: /dev/null */
	char **argv, **envp;
};
int launch_send(int sock, const struct launch *l);
int launch_recv(int sock, struct launch *l, char **mem); /* 1, 0 at end of stream, -1 */
void launch_free(struct launch *l, char *mem);

/* shepherd.c: one per engine, forked by the worker at the engine's first task; starts each task
 * (start_task does not return), ends every process it leaves, and reports on the task's start
 * pipe: its CPU time and peak RSS ('U', 'S', 'R'), then its wait status ('x'). */
typedef void (*start_task_fn)(const struct launch *l);
pid_t shepherd_spawn(struct worker *w, struct engine *e, start_task_fn start);
void shepherd_stop_all(struct worker *w); /* at exit: each shepherd ends when its socket does */
void shepherd_forget(struct worker *w, struct engine *e);    /* one that cannot take a task: killed, reaped */
/* In the task's first process: the shepherd set its memory limit on the task's cgroup (else the
 * task sets RLIMIT_AS). */
extern bool shepherd_mem_in_cgroup;
/* What the shepherd's 'M' message says about a task's memory limit. */
enum { MEM_CGROUP = 1, MEM_OOM_KILLED = 2, MEM_RLIMIT = 4 };

#define START_MSG_LEN 9 /* the letter and the 8 bytes of the value */
/* Several messages in one write (each START_MSG_LEN bytes, all under PIPE_BUF): start_msg_put. */
void start_msg_put(char msg[START_MSG_LEN], char what, int64_t value);
void start_pipe_send(int fd, char what, int64_t value);
int start_pipe_recv(int fd, struct start_msg *m); /* 1 one message, 0 none yet, -1 the end or an error */

/* cgroup.c: a cgroup per task where the worker may make one (-1: none; the shepherd alone) */
int cgroup_init(void);
void cgroup_fini(int cgfd);
void cgroup_tick(int cgfd); /* now and then: end what dead workers' tasks left */
int cgroup_task_make(int cgfd, int *procs);
void cgroup_task_signal(int tfd, int sig);
void cgroup_task_remove(int cgfd, int tfd);
void cgroup_task_unset_mem(int tfd);
void cgroup_shepherd_gone(int cgfd, pid_t shepherd);
bool cgroup_memory(void); /* --mem is memory.max of the task's cgroup (else RLIMIT_AS) */
int cgroup_task_set_mem(int tfd, uint64_t bytes);
uint64_t cgroup_task_oom_kills(int tfd);
/* This process's cgroup2 directory (mount point + the "0::PATH" line): 0, or -1 with why. */
int cgroup_own_path(char *out, size_t sz, char *why, size_t whysz);
void cgroup_cpu_quota(uint64_t *quota, uint64_t *period); /* cpu.max; 0 and 0: no quota */

/* pyengine.c */
struct pollfd;
void pyengine_init(void);
int pyengine_call(struct worker *w, struct engine *e, int ofd, int efd, char **envp, const char *python,
		  char *why, size_t whysz);
size_t pyengine_pollfds(struct worker *w, struct pollfd *p, size_t max);
int pyengine_reply(struct worker *w, struct engine *e, struct pyresult *res);
void pyengine_kill(struct worker *w, struct engine *e, const char *why);
bool pyengine_reaped(struct worker *w, pid_t pid, int status);
void pyengine_died(struct worker *w, struct engine *e, int status, char *reason, size_t sz);
void pyengine_stop_all(struct worker *w);

/* run.c */
void run_close_inherited(void);
void run_child_exec(char **argv, char **envp, const char *path, int errfd) __attribute__((noreturn));
void run_python_replies(struct worker *w);
void run_start_ready(struct worker *w);
void run_retry_unsent(struct worker *w);
void run_report_refused(struct worker *w, const char *name, const char *why);
void run_reap(struct worker *w);
void run_task_pipes(struct worker *w, const struct pollfd *p, size_t n); /* p NULL: every task's */
size_t run_pollfds(struct worker *w, struct pollfd *p, size_t max);
void run_check_timeouts(struct worker *w);
uint64_t run_release_held(struct worker *w); /* tasks ended by a signal from outside (run.c) */
void run_kill(struct worker *w, struct engine *e, int sig);
void run_stop_all(struct worker *w);
int run_running(const struct worker *w);

#endif
