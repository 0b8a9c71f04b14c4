/* cgroup.c - a cgroup (v2) per task, where the worker may make one.
 *
 * The shepherd (shepherd.c) already finds every process of a task through /proc, because it is
 * their subreaper. A cgroup adds what /proc cannot: one atomic kill of everything in it
 * (cgroup.kill, Linux 5.14), a list of the task's processes without walking /proc, and a place
 * that outlives the worker, so the next worker on the node can end what a worker killed with
 * SIGKILL (and its shepherds with it) left running.
 *
 * The worker makes spool-worker-PID below its own cgroup (cgroup2 only: the unified hierarchy),
 * each shepherd makes tSHEPHERDPID in it and moves the task's first process there before anything
 * runs. Where the worker may not (not root, no cgroup2, a read-only or undelegated hierarchy),
 * it says so once and the shepherd works alone. Nothing here is required for correctness.
 */
#include "worker.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "spool-worker-"

/* The cgroup2 directory of this process: the mount point of the unified hierarchy (from
 * /proc/self/mountinfo) joined with the "0::PATH" line of /proc/self/cgroup. */
static int own_cgroup(char *out, size_t sz, char *why, size_t whysz)
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

/* Is pid a running spool-worker (not a zombie, not a process that reused the pid)? */
static bool is_live_worker(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && strstr(buf, "(spool-worker") && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* Kill everything in the cgroup dir/name and remove it (waiting up to a second for it to
 * empty). Returns 0 when removed. */
static int kill_and_remove(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int kfd = openat(fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
	if (kfd >= 0) {
		if (write(kfd, "1", 1) < 0) {
			/* then the rmdir below fails and says so */
		}
		close(kfd);
	}
	close(fd);
	for (int i = 0; i < 100; i++) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		usleep(10000);
	}
	return -1;
}

/* A worker that died without its shepherds ending their tasks (all of them killed with SIGKILL)
 * left its cgroups behind, perhaps with processes in them: end those, as the shepherds would
 * have. Only cgroups of workers that are not running any more are touched. */
static void remove_stale(int basefd, const char *base)
{
	DIR *d = fdopendir(dup(basefd));
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		pid_t pid = (pid_t)atoi(de->d_name + strlen(PREFIX));
		if (pid <= 0 || pid == getpid() || is_live_worker(pid))
			continue;
		int wfd = openat(basefd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *td = wfd >= 0 ? fdopendir(wfd) : NULL;
		struct dirent *te;
		int left = 0;
		while (td && (te = readdir(td)))
			if (te->d_name[0] == 't' && kill_and_remove(wfd, te->d_name) < 0)
				left++;
		if (td)
			closedir(td);
		if (!left && unlinkat(basefd, de->d_name, AT_REMOVEDIR) == 0)
			log_info("removed the task cgroups of worker pid %d, which is not running any more "
				 "(anything its tasks left running was killed)", (int)pid);
		else
			log_warn("cannot remove the task cgroups of the dead worker pid %d in %s/%s: %s", (int)pid, base,
				 de->d_name, strerror(errno));
	}
	closedir(d);
}

int cgroup_init(void)
{
	char base[4200], why[300], name[64];
	if (geteuid() != 0) {
		log_info("tasks get no cgroup of their own (the worker is not root): its shepherds track their processes");
		return -1;
	}
	if (own_cgroup(base, sizeof base, why, sizeof why) < 0) {
		log_info("tasks get no cgroup of their own (%s): the shepherds track their processes", why);
		return -1;
	}
	int basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0) {
		log_info("tasks get no cgroup of their own (cannot open %s: %s): the shepherds track their processes",
			 base, strerror(errno));
		return -1;
	}
	remove_stale(basefd, base);
	snprintf(name, sizeof name, PREFIX "%d", (int)getpid());
	int fd = -1;
	if (mkdirat(basefd, name, 0755) < 0 && errno != EEXIST)
		log_info("tasks get no cgroup of their own (cannot create %s/%s: %s): the shepherds track their "
			 "processes", base, name, strerror(errno));
	else if ((fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		log_info("tasks get no cgroup of their own (cannot open %s/%s: %s)", base, name, strerror(errno));
	else if (faccessat(fd, "cgroup.kill", F_OK, 0) < 0) {
		log_info("tasks get no cgroup of their own (%s/%s has no cgroup.kill: Linux before 5.14?)", base, name);
		close(fd);
		fd = -1;
		unlinkat(basefd, name, AT_REMOVEDIR);
	} else {
		log_info("each task runs in a cgroup of its own below %s/%s", base, name);
	}
	close(basefd);
	return fd;
}

/* At exit: the worker's cgroup is empty once its shepherds are gone. */
void cgroup_fini(int cgfd)
{
	char base[4200], why[300], name[4300];
	if (cgfd < 0)
		return;
	close(cgfd);
	if (own_cgroup(base, sizeof base, why, sizeof why) < 0)
		return;
	snprintf(name, sizeof name, "%s/" PREFIX "%d", base, (int)getpid());
	if (rmdir(name) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", name, strerror(errno));
}

/* In the shepherd: a cgroup for this task, tPID in the worker's. Returns its directory fd and
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
		int kfd = openat(tfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
		if (kfd >= 0) {
			if (write(kfd, "1", 1) < 0) {
				/* the /proc walk that follows still kills them */
			}
			close(kfd);
		}
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

/* The task has ended and every process in it was reaped: remove its cgroup. */
void cgroup_task_remove(int cgfd, int tfd)
{
	char name[32];
	if (tfd < 0)
		return;
	close(tfd);
	snprintf(name, sizeof name, "t%d", (int)getpid());
	for (int i = 0; i < 100; i++) {
		if (unlinkat(cgfd, name, AT_REMOVEDIR) == 0 || errno != EBUSY)
			return;
		usleep(10000);
	}
}
