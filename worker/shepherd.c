/* shepherd.c - one small process per engine, between the worker and that engine's tasks, that
 * starts each task and ends every process the task started.
 *
 * A process group is not enough: a task may move itself or a child to another group or session
 * (setsid, a daemonising double fork), and would then outlive its timeout, its cancel and the
 * worker. So each engine has a shepherd, forked by the worker at the engine's first task, which
 * makes itself a child subreaper (PR_SET_CHILD_SUBREAPER): every orphan a task leaves is
 * re-parented to the shepherd, never to init. For each task the worker sends (launch.c), the
 * shepherd starts the task (sharing its memory until the exec where it can: spawn_shared), reaps
 * whatever is re-parented to it, and:
 *   - when the task's first process ends, kills everything that is left of it (the way a batch
 *     system ends a job step), and reaps it;
 *   - on SIGTERM (a timeout, a cancel, the worker stopping, or the worker's death: it is the
 *     shepherd's parent-death signal) sends SIGTERM to every descendant, and SIGKILL to every
 *     descendant kill_grace later.
 * It stays the worker's identity (a user's task cannot signal a root shepherd) and reports the
 * task's CPU time and wait status to the worker over the task's start pipe. It ends when the
 * worker closes its socket, or after its task when the worker is gone.
 *
 * Why one per engine, not one per task: a shepherd forked for each task cost more than the task
 * (`true`) itself. The fork copies the worker's page tables, every page the worker then writes
 * while the shepherd shares it is copied again, and the exit tears it all down: about half the
 * worker's CPU time per short task. Sending the task to a shepherd that is already there costs a
 * message and a wake-up.
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
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
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

/* The engine's task cgroup (cgroup.c), tPID beside the worker's, made at the first task and kept
 * until the shepherd ends: every task of the engine runs in it, one at a time (the shepherd has
 * reaped all of a task before the next starts), so a mkdir and an rmdir per task are saved.
 * -1 when there is none. procs_fd is its cgroup.procs, for a kernel without clone3. */
static int task_cg = -1, procs_fd = -1;
static bool mem_limited; /* a task set memory.max: the next one without --mem resets it */
/* cgroup.kill was written: the cgroup is not used again. Some kernels compare the kill count of
 * the cgroup a CLONE_INTO_CGROUP child is born in with that of its parent's, and SIGKILL every
 * later task born in a cgroup that was ever killed (seen on this project's machines). */
static bool cg_killed;

/* Signal every live descendant of this process, through the task's cgroup first where there is
 * one, then by the /proc walk (which also finds a process that could not be moved into it). */
static void signal_descendants(int sig)
{
	cgroup_task_signal(task_cg, sig);
	cg_killed |= sig == SIGKILL && task_cg >= 0;
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

/* One message on the task's start pipe: a letter and a value (an errno for a failed start step,
 * the task's wait status for 'x', its CPU milliseconds for 'U' and 'S', its peak RSS in KiB for
 * 'R'). Written whole (less than PIPE_BUF), read by start_pipe_recv. Async-signal-safe. */
_Static_assert(START_MSG_LEN == 1 + sizeof(int64_t), "a start message is a letter and an int64_t");

void start_msg_put(char msg[START_MSG_LEN], char what, int64_t value)
{
	msg[0] = what;
	memcpy(msg + 1, &value, sizeof value);
}

void start_pipe_send(int fd, char what, int64_t value)
{
	char msg[START_MSG_LEN];
	start_msg_put(msg, what, value);
	if (write(fd, msg, sizeof msg) < 0) {
		/* the worker is gone: nothing to tell */
	}
}

int start_pipe_recv(int fd, struct start_msg *m)
{
	char msg[START_MSG_LEN];
	ssize_t n;
	do
		n = read(fd, msg, sizeof msg);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	if (n != (ssize_t)sizeof msg) /* the end (every writer closed it), or a torn message */
		return -1;
	m->what = msg[0];
	memcpy(&m->value, msg + 1, sizeof m->value);
	return 1;
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

/* Faster still, where it can be done: the child shares the shepherd's memory until its exec, as
 * after vfork (CLONE_VM | CLONE_VFORK), on a stack of its own. A forked child costs a copy of
 * the shepherd's page tables, a copy-on-write fault for each page either side writes, and
 * tearing its copy down at the exec: a quarter of what a short task costs the node (perf, 5,000
 * `true`). The shepherd waits meanwhile, which it would do anyway.
 *
 * The child runs start_task, which makes only system calls (no allocation, no lock, nothing
 * written that the shepherd reads; errno is the one word both write, and the shepherd reads
 * it only after a call of its own). Signals stay blocked until the child has set its own mask,
 * and the shepherd has no handler the child could run on the shared memory: it takes its
 * signals from a signalfd.
 *
 * The clone needs a few instructions of assembly, as glibc's clone() has (it cannot pass
 * CLONE_INTO_CGROUP): the child must call start_task on its new stack before anything else
 * touches the stack. x86-64 only; elsewhere, and under AddressSanitizer (whose shadow memory a
 * child sharing ours would leave poisoned), tasks are forked as before. */
#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define UNDER_ASAN 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_INTO_CGROUP) && !defined(UNDER_ASAN)
#define SPAWN_SHARED 1
#else
#define SPAWN_SHARED 0
#endif

#if SPAWN_SHARED
#define CHILD_STACK (256 * 1024)
static void *child_stack; /* reused: a child leaves it at its exec, before the next is made */

struct child_start {
	start_task_fn start;
	const struct launch *l;
};

static void child_main(void *p)
{
	const struct child_start *cs = p;
	cs->start(cs->l); /* does not return */
}

/* clone3 whose child calls fn(arg) on the stack the clone_args name and exits 127 if it
 * returns. The parent gets the child's pid or -errno. Only rax, rcx and r11 change across a
 * syscall, so fn and arg reach the child in r8 and r10 (clone3 reads only rdi and rsi). */
static long clone3_call(struct clone_args *ca, void (*fn)(void *), void *arg)
{
	long ret;
	register long r8 __asm__("r8") = (long)fn;
	register long r10 __asm__("r10") = (long)arg;
	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "movq %%r10, %%rdi\n\t"
			 "callq *%%r8\n\t"
			 "movl $60, %%eax\n\t" /* exit(127) */
			 "movl $127, %%edi\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(r8), "r"(r10)
			 : "rcx", "r11", "memory", "cc");
	return ret;
}

/* The task's child sharing our memory, in cgroup cg when cg >= 0; -1 (errno set) when it could
 * not be made that way (no memory for the stack; clone3 refused, as under valgrind). */
static pid_t spawn_shared(int cg, start_task_fn start, const struct launch *l)
{
	static bool refused; /* once refused, the kernel will refuse again: stop asking */
	if (refused)
		return -1;
	if (!child_stack) {
		void *s = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (s == MAP_FAILED)
			return -1;
		/* The lowest page stays unmapped in effect: an overflow faults instead of writing below. */
		if (mprotect(s, 4096, PROT_NONE) < 0) {
			munmap(s, CHILD_STACK);
			return -1;
		}
		child_stack = s;
	}
	struct child_start cs = { start, l };
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_VFORK | (cg >= 0 ? CLONE_INTO_CGROUP : 0),
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)child_stack,
		.stack_size = CHILD_STACK,
		.cgroup = cg >= 0 ? (uint64_t)cg : 0,
	};
	long pid = clone3_call(&ca, child_main, &cs);
	if (pid < 0) {
		errno = (int)-pid;
		refused = errno == ENOSYS || errno == EPERM;
		return -1;
	}
	return (pid_t)pid;
}
#endif

bool shepherd_mem_in_cgroup;

static uint64_t tv_ms(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* One task, from its fork to the report of its end. */
static void run_task(const struct launch *l, int cgfd, start_task_fn start, sigset_t *set)
{
	int errfd = l->errfd;
	uint64_t ooms = 0;
	struct rusage before, after, ru;
	getrusage(RUSAGE_CHILDREN, &before);
	if (task_cg < 0)
		task_cg = cgroup_task_make(cgfd, &procs_fd);
	shepherd_mem_in_cgroup = l->mem && cgroup_task_set_mem(task_cg, l->mem) == 0; /* the task sees it */
	if (!l->mem && mem_limited)
		cgroup_task_unset_mem(task_cg);
	mem_limited = shepherd_mem_in_cgroup;
	if (shepherd_mem_in_cgroup)
		ooms = cgroup_task_oom_kills(task_cg); /* the count is the cgroup's, over all its tasks */
	pid_t task = -1;
#if SPAWN_SHARED
	/* Not with an input file: its open may wait (a FIFO), and the shepherd with it. */
	if (!l->in)
		task = spawn_shared(task_cg, start, l); /* the child never comes back here */
#endif
	if (task < 0)
		task = clone_into(task_cg);
	bool inside = task >= 0; /* (in the child too: it was born in the cgroup) */
	if (task < 0)
		task = fork();
	if (task < 0) {
		start_pipe_send(errfd, 'f', errno);
		start_pipe_send(errfd, 'x', 127 << 8);
		return;
	}
	if (task == 0) {
		/* Into the task's cgroup before anything of the task runs, so all it forks is there. */
		if (!inside && procs_fd >= 0 && write(procs_fd, "0", 1) < 0) {
			/* the shepherd's /proc walk still finds every process */
		}
		start(l); /* does not return */
	}

	int status = 0;
	bool ended = false, term = false;
	uint64_t kill_at = 0;
	memset(&ru, 0, sizeof ru);
	for (;;) {
		int st;
		pid_t p;
		struct rusage r;
		while ((p = wait4(-1, &st, WNOHANG, &r)) > 0)
			if (p == task) {
				status = st;
				ru = r;
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
		int sig = sigtimedwait(set, NULL, tmo);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			if (!term) {
				term = true;
				kill_at = now_ms() + l->grace_ms;
				signal_descendants(SIGTERM);
			}
		} else if (sig < 0 && errno == EAGAIN) {
			signal_descendants(SIGKILL);
			kill_at = now_ms() + 1000; /* and again, should anything have forked meanwhile */
		}
	}
	end_the_rest();
	getrusage(RUSAGE_CHILDREN, &after);
	if (l->mem) /* how its memory limit was enforced, and whether the kernel killed for it */
		start_pipe_send(errfd, 'M', shepherd_mem_in_cgroup
				? MEM_CGROUP | (cgroup_task_oom_kills(task_cg) > ooms ? MEM_OOM_KILLED : 0) : MEM_RLIMIT);
	if (cg_killed) { /* a fresh one for the next task */
		cgroup_task_remove(cgfd, task_cg);
		task_cg = -1;
		if (procs_fd >= 0)
			close(procs_fd);
		procs_fd = -1;
		cg_killed = mem_limited = false;
	}
	/* Everything the task and what it left used (the peak is its first process's), then its
	 * status: one write, so that the worker wakes once for the four. */
	char end[4][START_MSG_LEN];
	start_msg_put(end[0], 'U', (int64_t)(tv_ms(after.ru_utime) - tv_ms(before.ru_utime)));
	start_msg_put(end[1], 'S', (int64_t)(tv_ms(after.ru_stime) - tv_ms(before.ru_stime)));
	start_msg_put(end[2], 'R', ru.ru_maxrss);
	start_msg_put(end[3], 'x', status);
	if (write(errfd, end, sizeof end) < 0) {
		/* the worker is gone: nothing to tell */
	}
}

/* The shepherd keeps only its socket, the worker's cgroup, the node lock (which it shares, so
 * that the node is not free before its tasks are gone: spool-layout.md 1) and the standard
 * descriptors. Another engine's socket held here would keep that engine's shepherd from ever
 * seeing the worker close it. */
static void close_all_but(const int *keep, int n)
{
	int lo = 3;
	for (;;) {
		int next = -1;
		for (int i = 0; i < n; i++)
			if (keep[i] >= lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0)
			break;
		if (next > lo)
			close_range((unsigned)lo, (unsigned)next - 1, 0);
		lo = next + 1;
	}
	close_range((unsigned)lo, ~0U, 0);
}

/* The shepherd ends: its cgroup goes with it (empty: its last task was reaped whole). */
static __attribute__((noreturn)) void shepherd_exit(int cgfd, int code)
{
	if (procs_fd >= 0)
		close(procs_fd);
	cgroup_task_remove(cgfd, task_cg);
	_exit(code);
}

static __attribute__((noreturn)) void shepherd_main(pid_t worker, int sock, int cgfd,
						    start_task_fn start)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	setpgid(0, 0);
	/* The worker's death (even by SIGKILL) reaches us as SIGTERM: the running task is ended as
	 * on a cancel, and the shepherd goes. Checked after setting it, in case the worker died
	 * before. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != worker)
		_exit(127);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		_exit(127);
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(p, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 1000) < 0 && errno != EINTR)
			_exit(127);
		if (sfd < 0 || (p[1].revents & POLLIN)) {
			/* Between tasks a TERM is a late cancel of the last one (ignored), unless the
			 * worker is gone; a CHLD is nothing: end_the_rest reaped everything. */
			struct signalfd_siginfo si;
			while (sfd >= 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			}
			while (waitpid(-1, NULL, WNOHANG) > 0) {
			}
			if (getppid() != worker)
				shepherd_exit(cgfd, 0);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		struct launch l;
		char *mem;
		int rc = launch_recv(sock, &l, &mem);
		if (rc <= 0) /* the worker closed its end, or the stream makes no sense: the worker sees us go */
			shepherd_exit(cgfd, rc == 0 ? 0 : 127);
		run_task(&l, cgfd, start, &set);
		launch_free(&l, mem);
		if (getppid() != worker)
			shepherd_exit(cgfd, 0);
	}
}

pid_t shepherd_spawn(struct worker *w, struct engine *e, start_task_fn start)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		int keep[] = { sv[1], w->cg_fd, w->lock_fd };
		close_all_but(keep, (int)ARRAY_LEN(keep));
		shepherd_main(parent, sv[1], w->cg_fd, start);
	}
	int saved = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		errno = saved;
		return -1;
	}
	setpgid(pid, pid);
	e->shep_pid = pid;
	e->shep_sock = sv[0];
	return pid;
}

void shepherd_forget(struct worker *w, struct engine *e)
{
	if (e->shep_sock >= 0)
		close(e->shep_sock);
	e->shep_sock = -1;
	if (e->shep_pid > 0) {
		kill(e->shep_pid, SIGKILL);
		waitpid(e->shep_pid, NULL, 0);
		cgroup_shepherd_gone(w->cg_fd, e->shep_pid);
	}
	e->shep_pid = 0;
}

void shepherd_stop_all(struct worker *w)
{
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].shep_sock >= 0) {
			close(w->eng[i].shep_sock);
			w->eng[i].shep_sock = -1;
		}
	/* Each ends at once (its task, if any, was ended before: run_stop_all). */
	uint64_t until = now_ms() + 2000;
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		while (e->shep_pid > 0) {
			pid_t p = waitpid(e->shep_pid, NULL, WNOHANG);
			if (p == e->shep_pid || (p < 0 && errno == ECHILD))
				e->shep_pid = 0;
			else if (now_ms() > until)
				kill(e->shep_pid, SIGKILL);
			else
				usleep(1000);
		}
	}
}
