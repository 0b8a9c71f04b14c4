/* cred.c - the identity a task runs under.
 *
 * A worker running as root runs each task as its submitter (the owner of the job record, as
 * the controller saw it with fstat, carried in the sealed assignment): supplementary groups,
 * then gid, then uid, each checked, then verified, the way cron and at do it. Files the
 * worker itself writes beside the data (the output directory, the .res file, push/pull
 * output) are written under the task user's effective ids, so they belong to that user and
 * the kernel applies that user's permissions: a root worker is never tricked into writing
 * where the user could not. A worker running as any other user runs only that user's tasks.
 */
#include "worker.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Users' accounts and groups, looked up once a minute at most: on a cluster they come from
 * LDAP or NIS, and the worker (one thread for all its engines) must not wait on a directory
 * server for every task. A uid without an account is not remembered, so a new user can
 * submit at once. */
#define CRED_CACHE 16
#define CRED_CACHE_MS 60000

static struct {
	struct task_cred c;
	uint64_t at; /* mono_ms() of the lookup; 0: empty */
} cache[CRED_CACHE];
static unsigned cache_next;

static uid_t my_uid;
static gid_t my_gid;
static gid_t my_groups[CRED_MAX_GROUPS];
static int my_ngroups;

int cred_init(struct err *e)
{
	my_uid = geteuid();
	my_gid = getegid();
	my_ngroups = getgroups(CRED_MAX_GROUPS, my_groups);
	if (my_ngroups < 0)
		return err_sys(e, "cannot read the worker's own groups");
	return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t sz)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, sz, "%s", pw->pw_name);
	else
		snprintf(buf, sz, "uid %u", (unsigned)uid);
	return buf;
}

int cred_for_task(uid_t uid, const char *node, struct task_cred *c, char *why, size_t whysz)
{
	char me[80], them[80];
	memset(c, 0, sizeof *c);
	c->uid = uid;
	if (my_uid != 0 || uid == 0) {
		if (uid != my_uid) {
			snprintf(why, whysz, "refused: this worker on node %s runs as %s (uid %u) and runs only that "
				 "user's tasks, and the task belongs to %s (uid %u): start spool-worker as root to run "
				 "every user's tasks", node, user_name(my_uid, me, sizeof me), (unsigned)my_uid,
				 user_name(uid, them, sizeof them), (unsigned)uid);
			return -1;
		}
		c->gid = my_gid;
		return 0; /* already who the task must run as */
	}
	uint64_t now = mono_ms();
	for (unsigned i = 0; i < CRED_CACHE; i++)
		if (cache[i].at && cache[i].c.uid == uid && now - cache[i].at < CRED_CACHE_MS) {
			*c = cache[i].c;
			return 0;
		}
	struct passwd *pw = getpwuid(uid);
	if (!pw) {
		snprintf(why, whysz, "refused: the task's submitter, uid %u, has no account on node %s "
			 "(add the user to this node's passwd database, e.g. through LDAP/NIS)", (unsigned)uid, node);
		return -1;
	}
	snprintf(c->name, sizeof c->name, "%s", pw->pw_name);
	c->gid = pw->pw_gid;
	c->ngroups = CRED_MAX_GROUPS;
	if (getgrouplist(pw->pw_name, pw->pw_gid, c->groups, &c->ngroups) < 0) {
		snprintf(why, whysz, "refused: user %s is in more than %d groups on node %s", pw->pw_name,
			 CRED_MAX_GROUPS, node);
		return -1;
	}
	c->switch_ids = true;
	limits_for_user(c, &c->limits);
	cache[cache_next].c = *c;
	cache[cache_next].at = now ? now : 1;
	cache_next = (cache_next + 1) % CRED_CACHE;
	return 0;
}

static mode_t my_umask;

/* Also takes the submitter's umask, so what the worker creates for the task beside the data has
 * the modes the submitter's own programs would give it. */
int cred_enter(const struct task_cred *c)
{
	my_umask = umask(c->umask);
	if (!c->switch_ids)
		return 0;
	if (setgroups((size_t)c->ngroups, c->groups) < 0 || setegid(c->gid) < 0 || seteuid(c->uid) < 0) {
		int saved = errno;
		cred_leave(c);
		errno = saved;
		return -1;
	}
	return 0;
}

void cred_leave(const struct task_cred *c)
{
	umask(my_umask);
	if (!c->switch_ids)
		return;
	/* Failing to become root again would leave the worker acting as a user: stop. */
	if (seteuid(my_uid) < 0 || setegid(my_gid) < 0 || setgroups((size_t)my_ngroups, my_groups) < 0) {
		log_err("cannot return to the worker's own identity after acting as uid %u: %s; stopping",
			(unsigned)c->uid, strerror(errno));
		_exit(SPOOL_EXIT_ERROR);
	}
}

/* In the task's child, before it opens anything: only async-signal-safe calls (the group list
 * was looked up before the fork, so this is initgroups without the lookup). Returns 0, or an
 * errno value. */
int cred_become(const struct task_cred *c)
{
	if (!c->switch_ids)
		return 0;
	if (setgroups((size_t)c->ngroups, c->groups) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0)
		return errno ? errno : EPERM;
	/* Verify: every id is the user's, and root cannot be taken back. */
	if (getuid() != c->uid || geteuid() != c->uid || getgid() != c->gid || getegid() != c->gid)
		return EPERM;
	if (setuid(0) == 0 || seteuid(0) == 0)
		return EPERM;
	return 0;
}
