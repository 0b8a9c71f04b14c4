/* limits.c - the resource limits a login of the task's user would get.
 *
 * A root worker was started by an administrator, perhaps with generous limits (unlimited core
 * files, many descriptors, no CPU limit). Its tasks must not inherit more than the submitter
 * would get at a login: pam_limits applies /etc/security/limits.conf and the files in limits.d at a
 * login, so the worker reads the same files (as pam_limits does: a user's own line beats a
 * group's, which beats '*'; a later line of the same kind beats an earlier one; limits.d after
 * limits.conf) and, in the task's process, lowers each limit the files set: the hard limit to at
 * most the configured hard value, the soft limit to at most the configured soft value and never
 * above the new hard limit. A limit the files do not name is inherited from the worker. Limits
 * are only ever lowered: a task never gets more than the worker has. Read when the user's account
 * is looked up (cred.c caches it for a minute), never in the task's process.
 */
#include "worker.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const struct {
	const char *name;
	int resource;
	rlim_t unit; /* limits.conf's unit in bytes or seconds */
} items[LIMIT_ITEMS] = {
	{ "core", RLIMIT_CORE, 1024 },        { "data", RLIMIT_DATA, 1024 },
	{ "fsize", RLIMIT_FSIZE, 1024 },      { "memlock", RLIMIT_MEMLOCK, 1024 },
	{ "nofile", RLIMIT_NOFILE, 1 },       { "rss", RLIMIT_RSS, 1024 },
	{ "stack", RLIMIT_STACK, 1024 },      { "cpu", RLIMIT_CPU, 60 },
	{ "nproc", RLIMIT_NPROC, 1 },         { "as", RLIMIT_AS, 1024 },
	{ "locks", RLIMIT_LOCKS, 1 },         { "sigpending", RLIMIT_SIGPENDING, 1 },
	{ "msgqueue", RLIMIT_MSGQUEUE, 1 },
};

/* How specific a line's domain is for this user: 3 the user, 2 one of their groups, 1 '*', 0 not
 * theirs. uid ranges and %group (maxlogins only) are not matched. */
static int domain_rank(const char *dom, const struct task_cred *c)
{
	if (strcmp(dom, c->name) == 0)
		return 3;
	if (dom[0] == '@') {
		struct group *gr = getgrnam(dom + 1);
		if (!gr)
			return 0;
		if (gr->gr_gid == c->gid)
			return 2;
		for (int i = 0; i < c->ngroups; i++)
			if (c->groups[i] == gr->gr_gid)
				return 2;
		return 0;
	}
	return strcmp(dom, "*") == 0 ? 1 : 0;
}

static void read_file(const char *path, const struct task_cred *c, struct task_limits *l, int rank[][2])
{
	FILE *f = fopen(path, "re");
	char line[512];
	if (!f) {
		if (errno != ENOENT)
			log_warn("cannot read %s: %s; its limits are not applied to tasks", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char dom[128], type[16], item[32], val[32];
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sscanf(line, "%127s %15s %31s %31s", dom, type, item, val) != 4)
			continue;
		int r = domain_rank(dom, c);
		if (!r)
			continue;
		for (int i = 0; i < LIMIT_ITEMS; i++) {
			if (strcmp(item, items[i].name) != 0)
				continue;
			rlim_t v;
			if (strcmp(val, "unlimited") == 0 || strcmp(val, "infinity") == 0 || strcmp(val, "-1") == 0) {
				v = RLIM_INFINITY;
			} else {
				char *end;
				errno = 0;
				unsigned long long n = strtoull(val, &end, 10);
				if (errno || *end || val[0] == '-')
					break;
				v = n > RLIM_INFINITY / items[i].unit ? RLIM_INFINITY : (rlim_t)n * items[i].unit;
			}
			bool soft = strcmp(type, "soft") == 0 || strcmp(type, "-") == 0;
			bool hard = strcmp(type, "hard") == 0 || strcmp(type, "-") == 0;
			if (soft && r >= rank[i][0]) {
				rank[i][0] = r;
				l->set[i] |= 1;
				l->soft[i] = v;
			}
			if (hard && r >= rank[i][1]) {
				rank[i][1] = r;
				l->set[i] |= 2;
				l->hard[i] = v;
			}
			break;
		}
	}
	fclose(f);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void limits_for_user(const struct task_cred *c, struct task_limits *l)
{
	int rank[LIMIT_ITEMS][2] = { { 0 } };
	memset(l, 0, sizeof *l);
	read_file("/etc/security/limits.conf", c, l, rank);
	DIR *d = opendir("/etc/security/limits.d");
	if (!d)
		return;
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < ARRAY_LEN(names)) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] != '.' && len > 5 && strcmp(de->d_name + len - 5, ".conf") == 0)
			names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_name);
	for (size_t i = 0; i < n; i++) {
		char path[400];
		snprintf(path, sizeof path, "/etc/security/limits.d/%s", names[i]);
		read_file(path, c, l, rank);
		free(names[i]);
	}
}

/* In the task's process, after the credential switch: only lowers limits. Async-signal-safe. */
void limits_apply(const struct task_limits *l)
{
	for (int i = 0; i < LIMIT_ITEMS; i++) {
		struct rlimit r;
		if (!l->set[i] || getrlimit(items[i].resource, &r) < 0)
			continue;
		if ((l->set[i] & 2) && l->hard[i] < r.rlim_max)
			r.rlim_max = l->hard[i];
		if ((l->set[i] & 1) && l->soft[i] < r.rlim_cur)
			r.rlim_cur = l->soft[i];
		if (r.rlim_cur > r.rlim_max)
			r.rlim_cur = r.rlim_max;
		setrlimit(items[i].resource, &r);
	}
}
