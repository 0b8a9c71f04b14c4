/* cgroup.c - a cgroup (v2) per task, where the worker may make one.
 *
 * The shepherd (shepherd.c) already finds every process of a task through /proc, because it is
 * their subreaper. A cgroup adds what /proc cannot: one atomic kill of everything in it
 * (cgroup.kill, Linux 5.14), a list of the task's processes without walking /proc, and a place
 * that outlives the worker, so the next worker on the node can end what a worker killed with
 * SIGKILL (and its shepherds with it) left running.
 *
 * The worker makes spool-worker-RANDOM below its own cgroup (cgroup2 only: the unified
 * hierarchy) and moves itself into its "w" child; each shepherd (forked there) makes tPID beside
 * it and starts the task's first process inside it (clone3 CLONE_INTO_CGROUP; where the kernel
 * refuses that, the process moves itself in before anything runs). A worker is alive while "w"
 * holds a process (itself or its shepherds): that test needs no pid, so it holds across pid
 * namespaces (containers, simulated nodes) that share one cgroup tree. Where the worker may not
 * make cgroups (not root, no cgroup2, a read-only or undelegated hierarchy), it says so once and
 * the shepherd works alone. Nothing here is required for correctness.
 */
#include "worker.h"
#include "ids.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "spool-worker-"
#define STALE_AFTER_S 10 /* a younger directory may be a worker's that has not moved into it yet */

static int base_fd = -1;     /* the worker's own cgroup, where it makes PREFIX... */
static char my_name[64];     /* PREFIX + random */
static char base_path[4200]; /* base_fd's path (for messages: the worker itself moves below it) */
static bool mem_ok;          /* the memory controller is on for the task cgroups (--mem) */

/* The cgroup2 directory of this process: the mount point of the unified hierarchy (from
 * /proc/self/mountinfo) joined with the "0::PATH" line of /proc/self/cgroup. */
int cgroup_own_path(char *out, size_t sz, char *why, size_t whysz)
{
	char line[4200], path[4096] = "", mnt[4096] = "";
	FILE *f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%4095s", path) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof line, f)) {
		char *dash = strstr(line, " - cgroup2 "), m[4096];
		if (dash && sscanf(line, "%*s %*s %*s %*s %4095s", m) == 1) {
			snprintf(mnt, sizeof mnt, "%s", m);
			break;
		}
	}
	if (f)
		fclose(f);
	if (!path[0] || !mnt[0]) {
		snprintf(why, whysz, "no cgroup2 (unified) hierarchy is mounted for this process");
		return -1;
	}
	if (snprintf(out, sz, "%s%s", mnt, strcmp(path, "/") ? path : "") >= (int)sz) {
		snprintf(why, whysz, "its cgroup path is too long");
		return -1;
	}
	return 0;
}

/* The CPU quota of this process's cgroup (cpu.max "QUOTA PERIOD" or "max PERIOD"): 0 when
 * there is none or it cannot be read. */
void cgroup_cpu_quota(uint64_t *quota, uint64_t *period)
{
	char dir[4200], why[200], file[4300], buf[64], q[32];
	unsigned long long per;
	uint64_t qv;
	*quota = *period = 0;
	if (cgroup_own_path(dir, sizeof dir, why, sizeof why) < 0)
		return;
	snprintf(file, sizeof file, "%s/cpu.max", dir);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	if (sscanf(buf, "%31s %llu", q, &per) == 2 && per > 0 && parse_u64(q, UINT64_MAX, &qv) == 0) {
		*quota = qv;
		*period = per;
	}
}

/* Does the cgroup dir/name/w hold a process (a worker or one of its shepherds)? */
static bool populated(int dirfd, const char *name)
{
	char path[300], buf[256];
	snprintf(path, sizeof path, "%s/w/cgroup.events", name);
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, "populated 1") != NULL;
}

/* Write text to a cgroup's control file dirfd/path (cgroup.kill, cgroup.procs). */
static int write_text(int dirfd, const char *path, const char *text)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC), rc = -1;
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		rc = 0;
	close(fd);
	return rc;
}

/* Remove the cgroup dirfd/name once its last process has gone (a killed process takes a moment
 * to leave it): up to a second. Returns 0 when removed or already gone. */
static int rmdir_when_empty(int dirfd, const char *name)
{
	for (int i = 0; i < 100; i++) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		usleep(10000);
	}
	return -1;
}

/* Kill everything in the cgroup dirfd/name and remove it. Returns 0 when removed (a failed
 * kill shows as a failed removal). */
static int kill_and_remove(int dirfd, const char *name)
{
	char path[300];
	snprintf(path, sizeof path, "%s/cgroup.kill", name);
	write_text(dirfd, path, "1");
	return rmdir_when_empty(dirfd, name);
}

/* A worker that died without its shepherds ending their tasks (all of them killed with SIGKILL)
 * left its cgroups behind, perhaps with processes in them: end those, as the shepherds would
 * have. Only cgroups of workers with no process left (none in their "w") are touched. */
static void remove_stale(void)
{
	int basefd = base_fd;
	const char *base = base_path;
	DIR *d = fdopendir(dup(basefd));
	struct dirent *de;
	struct stat st;
	if (!d)
		return;
	rewinddir(d); /* the duplicate shares base_fd's offset, left at the end by the last listing */
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0 || strcmp(de->d_name, my_name) == 0 ||
		    fstatat(basefd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    time(NULL) - st.st_mtime < STALE_AFTER_S || populated(basefd, de->d_name))
			continue;
		int wfd = openat(basefd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *td = wfd >= 0 ? fdopendir(wfd) : NULL;
		struct dirent *te;
		int left = 0;
		while (td && (te = readdir(td)))
			if ((te->d_name[0] == 't' || strcmp(te->d_name, "w") == 0) && kill_and_remove(wfd, te->d_name) < 0)
				left++;
		if (td)
			closedir(td);
		if (!left && unlinkat(basefd, de->d_name, AT_REMOVEDIR) == 0)
			log_info("removed the task cgroups %s/%s of a worker that is not running any more (anything "
				 "its tasks left running was killed)", base, de->d_name);
		else
			log_warn("cannot remove the task cgroups of a worker that is not running any more, %s/%s: %s",
				 base, de->d_name, strerror(errno));
	}
	closedir(d);
}

/* Move this process into the cgroup dirfd/path. */
static int move_self(int dirfd, const char *path)
{
	char pid[32];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	return write_text(dirfd, path, pid);
}

/* Turn the memory controller on for the task cgroups below the worker's (fd), so that --mem is
 * memory.max: the kernel then counts everything a task's processes use (page cache and kernel
 * memory too) and OOM-kills inside the task's cgroup alone. It needs the controller in fd's
 * cgroup.controllers, which the parent grants (a hybrid v1/v2 host keeps it in v1). */
static void memory_controller(int fd)
{
	char buf[512], why[4600];
	int cfd = openat(fd, "cgroup.controllers", O_RDONLY | O_CLOEXEC);
	ssize_t n = cfd >= 0 ? read(cfd, buf, sizeof buf - 1) : -1;
	if (cfd >= 0)
		close(cfd);
	buf[n > 0 ? n : 0] = '\0';
	bool avail = false;
	for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		avail |= strcmp(t, "memory") == 0;
	if (!avail)
		snprintf(why, sizeof why, "the memory controller is not available to %s/%s (its parent does not "
			 "delegate it, or it is bound to a cgroup v1 hierarchy)", base_path, my_name);
	else if (write_text(fd, "cgroup.subtree_control", "+memory") < 0)
		snprintf(why, sizeof why, "cannot turn on the memory controller in %s/%s/cgroup.subtree_control: %s",
			 base_path, my_name, strerror(errno));
	else
		mem_ok = true;
	if (mem_ok)
		log_info("memory limits (--mem) are set as memory.max (and memory.swap.max 0) of each task's cgroup");
	else
		log_info("memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup: %s", why);
}

bool cgroup_memory(void)
{
	return mem_ok;
}

/* In the shepherd: the task's memory limit on its cgroup, before the task starts. 0 when
 * memory.max took it (memory.swap.max is absent without swap accounting: no swap to limit). */
int cgroup_task_set_mem(int tfd, uint64_t bytes)
{
	char v[32];
	if (tfd < 0 || !mem_ok)
		return -1;
	snprintf(v, sizeof v, "%llu", (unsigned long long)bytes);
	if (write_text(tfd, "memory.max", v) < 0)
		return -1;
	write_text(tfd, "memory.swap.max", "0");
	return 0;
}

/* In the shepherd: no memory limit for the next task (the last one had one). */
void cgroup_task_unset_mem(int tfd)
{
	if (tfd >= 0 && mem_ok)
		write_text(tfd, "memory.max", "max");
}

/* The OOM kills in the task's cgroup (memory.events oom_kill): its limit was exceeded. */
uint64_t cgroup_task_oom_kills(int tfd)
{
	char buf[1024];
	int fd = tfd >= 0 ? openat(tfd, "memory.events", O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	const char *p = strstr(buf, "oom_kill ");
	return p ? strtoull(p + 9, NULL, 10) : 0;
}

int cgroup_init(void)
{
	char base[4200], why[4600], rnd[12];
	if (geteuid() != 0) {
		log_info("tasks get no cgroup of their own (the worker is not root): its shepherds track their processes");
		log_info("memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup: tasks get no cgroup of their own");
		return -1;
	}
	if (cgroup_own_path(base, sizeof base, why, sizeof why) < 0) {
		log_info("tasks get no cgroup of their own (%s): the shepherds track their processes", why);
		log_info("memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup: tasks get no cgroup of their own");
		return -1;
	}
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0) {
		log_info("tasks get no cgroup of their own (cannot open %s: %s): the shepherds track their processes",
			 base, strerror(errno));
		log_info("memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup: tasks get no cgroup of their own");
		return -1;
	}
	snprintf(base_path, sizeof base_path, "%s", base);
	if (id_random(rnd, 10) < 0)
		snprintf(rnd, sizeof rnd, "%d", (int)getpid());
	snprintf(my_name, sizeof my_name, PREFIX "%s", rnd);
	remove_stale();
	int fd = -1;
	if (mkdirat(base_fd, my_name, 0755) < 0) {
		snprintf(why, sizeof why, "cannot create %s/%s: %s", base, my_name, strerror(errno));
	} else if ((fd = openat(base_fd, my_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(why, sizeof why, "cannot open %s/%s: %s", base, my_name, strerror(errno));
	} else if (faccessat(fd, "cgroup.kill", F_OK, 0) < 0) {
		snprintf(why, sizeof why, "%s/%s has no cgroup.kill: Linux before 5.14?", base, my_name);
	} else if (mkdirat(fd, "w", 0755) < 0 || move_self(fd, "w/cgroup.procs") < 0) {
		snprintf(why, sizeof why, "cannot move the worker into %s/%s/w: %s", base, my_name, strerror(errno));
	} else {
		log_info("each task runs in a cgroup of its own below %s/%s", base, my_name);
		memory_controller(fd);
		return fd;
	}
	log_info("tasks get no cgroup of their own (%s): the shepherds track their processes", why);
	log_info("memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup: tasks get no cgroup of their own");
	if (fd >= 0) {
		unlinkat(fd, "w", AT_REMOVEDIR);
		close(fd);
	}
	unlinkat(base_fd, my_name, AT_REMOVEDIR);
	close(base_fd);
	base_fd = -1;
	return -1;
}

/* Now and then (every STALE_AFTER_S): a worker that died since start-up, or whose cgroup was too
 * young to judge then, is cleaned up while this one runs. */
void cgroup_tick(int cgfd)
{
	static uint64_t next;
	uint64_t now = mono_ms();
	if (cgfd < 0 || now < next)
		return;
	next = now + STALE_AFTER_S * 1000;
	remove_stale();
}

/* At exit, once the shepherds are gone: the worker moves back to its own cgroup and removes its. */
void cgroup_fini(int cgfd)
{
	if (cgfd < 0)
		return;
	if (move_self(base_fd, "cgroup.procs") < 0 || unlinkat(cgfd, "w", AT_REMOVEDIR) < 0 ||
	    unlinkat(base_fd, my_name, AT_REMOVEDIR) < 0)
		log_warn("cannot remove the worker's cgroup %s: %s (the next worker on this node removes it)", my_name,
			 strerror(errno));
	close(cgfd);
	close(base_fd);
}

/* In the shepherd: a cgroup for its engine's tasks, tPID in the worker's. Returns its directory fd and
 * its cgroup.procs fd in *procs (for the task's first process to move itself in), or -1. */
int cgroup_task_make(int cgfd, int *procs)
{
	char name[32];
	*procs = -1;
	if (cgfd < 0)
		return -1;
	snprintf(name, sizeof name, "t%d", (int)getpid());
	if (mkdirat(cgfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	int fd = openat(cgfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		*procs = openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (*procs < 0 && fd >= 0) {
		close(fd);
		unlinkat(cgfd, name, AT_REMOVEDIR);
		fd = -1;
	}
	return fd;
}

/* Signal every process in the task's cgroup: SIGKILL through cgroup.kill (atomic, and reaches
 * a process forked meanwhile), others by listing cgroup.procs. */
void cgroup_task_signal(int tfd, int sig)
{
	if (tfd < 0)
		return;
	if (sig == SIGKILL) {
		write_text(tfd, "cgroup.kill", "1"); /* if it fails, the /proc walk that follows kills them */
		return;
	}
	int pfd = openat(tfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f = pfd >= 0 ? fdopen(pfd, "re") : NULL;
	int pid;
	while (f && fscanf(f, "%d", &pid) == 1)
		if (pid > 0)
			kill(pid, sig);
	if (f)
		fclose(f);
	else if (pfd >= 0)
		close(pfd);
}

/* The shepherd ends, its last task over and every process in it reaped: remove its cgroup. */
void cgroup_task_remove(int cgfd, int tfd)
{
	char name[32];
	if (tfd < 0)
		return;
	close(tfd);
	snprintf(name, sizeof name, "t%d", (int)getpid());
	rmdir_when_empty(cgfd, name);
}

/* In the worker: a shepherd that died (killed) left its cgroup: end what is in it and remove it. */
void cgroup_shepherd_gone(int cgfd, pid_t shepherd)
{
	char name[32];
	if (cgfd < 0)
		return;
	snprintf(name, sizeof name, "t%d", (int)shepherd);
	if (kill_and_remove(cgfd, name) < 0)
		log_warn("cannot remove the task cgroup %s of a shepherd that was killed: %s", name, strerror(errno));
}
