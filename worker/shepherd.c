/* shepherd.c - one small process per task, between the worker and the task, that ends every
 * process the task started.
 *
 * A process group is not enough: a task may move itself or a child to another group or session
 * (setsid, a daemonising double fork), and would then outlive its timeout, its cancel and the
 * worker. So the worker forks a shepherd for each task, which makes itself a child subreaper
 * (PR_SET_CHILD_SUBREAPER): every orphan the task leaves is re-parented to the shepherd, never to
 * init. The shepherd forks the task, reaps whatever is re-parented to it, and:
 *   - when the task's first process ends, kills everything that is left of it (the way a batch
 *     system ends a job step), and reaps it;
 *   - on SIGTERM (a timeout, a cancel, the worker stopping, or the worker's death: it is the
 *     shepherd's parent-death signal) sends SIGTERM to every descendant, and SIGKILL to every
 *     descendant kill_grace later.
 * It stays the worker's identity (a user's task cannot signal a root shepherd) and reports the
 * task's wait status to the worker over the start-failure pipe, then exits.
 *
 * Descendants are found by walking /proc (parent pids), so a process in any group or session is
 * found as long as its ancestry leads to the shepherd, which the subreaper guarantees.
 */
#include "worker.h"
#include "ids.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h> /* struct clone_args, CLONE_INTO_CGROUP */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct proc {
	pid_t pid, ppid;
};

/* Every process's parent, from /proc/N/stat (proc_state). Zombies are left out: they cannot be signalled
 * and are reaped by whoever's child they are. */
static size_t list_procs(struct proc **out)
{
	DIR *d = opendir("/proc");
	size_t n = 0, cap = 256;
	struct proc *p = xcalloc(cap, sizeof *p);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char st;
		pid_t pid = (pid_t)atoi(de->d_name), ppid;
		if (proc_state(pid, &st, &ppid) < 0 || st == 'Z' || st == 'X')
			continue;
		if (n == cap)
			p = xrealloc(p, (cap *= 2) * sizeof *p);
		p[n].pid = pid;
		p[n++].ppid = ppid;
	}
	if (d)
		closedir(d);
	*out = p;
	return n;
}

static int task_cg = -1; /* the task's cgroup (cgroup.c), -1 when none */

/* Signal every live descendant of this process, through the task's cgroup first where there is
 * one, then by the /proc walk (which also finds a process that could not be moved into it). */
static void signal_descendants(int sig)
{
	cgroup_task_signal(task_cg, sig);
	struct proc *p;
	size_t n = list_procs(&p);
	pid_t *tree = xcalloc(n + 1, sizeof *tree);
	size_t nt = 0;
	tree[nt++] = getpid();
	/* Grow the set to a fixed point: a child can be listed before its parent. */
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (!p[i].pid)
				continue;
			for (size_t k = 0; k < nt; k++)
				if (p[i].ppid == tree[k]) {
					tree[nt++] = p[i].pid;
					p[i].pid = 0;
					grew = true;
					break;
				}
		}
	}
	for (size_t k = 1; k < nt; k++)
		kill(tree[k], sig);
	free(tree);
	free(p);
}

/* One message on the task's start pipe: a letter and an int (an errno for a failed start step,
 * the task's wait status for 'x'). Read by start_failure in run.c. Async-signal-safe. */
void start_pipe_send(int fd, char what, int value)
{
	char msg[1 + sizeof(int)];
	msg[0] = what;
	memcpy(msg + 1, &value, sizeof value);
	if (write(fd, msg, sizeof msg) < 0) {
		/* the worker is gone: nothing to tell */
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The task has ended: SIGKILL what is left of it until nothing is. Each round kills every
 * descendant seen; one forked meanwhile is re-parented to us when its parent dies, and is
 * seen in the next round. */
static void end_the_rest(void)
{
	int st;
	for (;;) {
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == ECHILD)
			return; /* no child left, so no descendant: the usual case costs no /proc walk */
		if (p > 0)
			continue;
		signal_descendants(SIGKILL);
		if (waitpid(-1, &st, 0) < 0 && errno == ECHILD)
			return;
	}
}

/* The task's first process, created inside its cgroup (clone3 with CLONE_INTO_CGROUP, Linux
 * 5.7). Moving a process in afterwards by writing cgroup.procs takes the kernel's cgroup write
 * lock, which waits for an RCU grace period: 1 to 15 ms here, longer than a short task runs.
 * A raw clone3 child skips glibc's fork bookkeeping (atfork handlers, the cached thread id),
 * which is safe here: this process has one thread and the child makes only system calls
 * before its exec (start_task is async-signal-safe). -1 when the kernel or a seccomp filter
 * refuses it: the caller forks and moves the child in the old way. */
static pid_t clone_into(int cg)
{
#if defined(CLONE_INTO_CGROUP) && defined(SYS_clone3)
	struct clone_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg };
	return cg >= 0 ? (pid_t)syscall(SYS_clone3, &ca, sizeof ca) : -1;
#else
	(void)cg;
	return -1;
#endif
}

bool shepherd_mem_in_cgroup;

void shepherd_main(pid_t worker, int errfd, uint64_t grace_ms, int cgfd, uint64_t mem, void (*start_task)(void *),
		   void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	setpgid(0, 0);
	/* The worker's death (even by SIGKILL) reaches us as SIGTERM: the task is ended as on a
	 * cancel. Checked after setting it, in case the worker died before. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != worker)
		_exit(127);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		_exit(127);
	int procs;
	task_cg = cgroup_task_make(cgfd, &procs);
	shepherd_mem_in_cgroup = mem && cgroup_task_set_mem(task_cg, mem) == 0; /* the task sees it */
	pid_t task = clone_into(task_cg);
	bool inside = task >= 0; /* (in the child too: it was born in the cgroup) */
	if (task < 0)
		task = fork();
	if (task < 0) {
		start_pipe_send(errfd, 'f', errno);
		_exit(127);
	}
	if (task == 0) {
		/* Into the task's cgroup before anything of the task runs, so all it forks is there. */
		if (!inside && procs >= 0 && write(procs, "0", 1) < 0) {
			/* the shepherd's /proc walk still finds every process */
		}
		start_task(arg); /* does not return */
	}
	if (procs >= 0)
		close(procs);

	int status = 0;
	bool ended = false, term = false;
	uint64_t kill_at = 0;
	for (;;) {
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == task) {
				status = st;
				ended = true;
			}
		if (ended)
			break;
		struct timespec ts, *tmo = NULL;
		if (term) {
			uint64_t now = now_ms(), left = kill_at > now ? kill_at - now : 0;
			ts.tv_sec = (time_t)(left / 1000);
			ts.tv_nsec = (long)(left % 1000) * 1000000;
			tmo = &ts;
		}
		int sig = sigtimedwait(&set, NULL, tmo);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			if (!term) {
				term = true;
				kill_at = now_ms() + grace_ms;
				signal_descendants(SIGTERM);
			}
		} else if (sig < 0 && errno == EAGAIN) {
			signal_descendants(SIGKILL);
			kill_at = now_ms() + 1000; /* and again, should anything have forked meanwhile */
		}
	}
	end_the_rest();
	if (mem) /* how its memory limit was enforced, and whether the kernel killed for it */
		start_pipe_send(errfd, 'M', shepherd_mem_in_cgroup
				? MEM_CGROUP | (cgroup_task_oom_kills(task_cg) ? MEM_OOM_KILLED : 0) : MEM_RLIMIT);
	cgroup_task_remove(cgfd, task_cg);
	start_pipe_send(errfd, 'x', status);
	_exit(0);
}
