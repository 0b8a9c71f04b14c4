/* pyengine.c - persistent Python interpreters: an engine's Python calls run in one long-lived
 * interpreter per user and interpreter path, so a namespace outlives the call that built it
 * (ipyparallel's engines) and a call costs no interpreter start.
 *
 * The interpreter (python/spool/_engine.py) runs as the call's user, in a session of its own,
 * and speaks to the worker over an AF_UNIX SOCK_SEQPACKET socket on its fd 3: one message per
 * call each way (spool-layout.md 13.3). The worker sends the call with three descriptors it
 * verified or created as the user (the output directory, the task's stdout and stderr), so the
 * interpreter never resolves a path in a directory others may write. A timeout or a cancel
 * ends the interpreter (its process group, SIGKILL): the namespace is lost, and the next call
 * of that user on this engine carries a sentence saying so, which the client shows.
 */
#include "worker.h"
#include "json.h"
#include "log.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SPOOL_DATADIR
#define SPOOL_DATADIR "/usr/local/share/spool"
#endif

/* One message each way; a call's request holds its environment (MAX_ENV entries at most). */
#define PY_MSG_MAX (1u << 20)

static char engine_script[PATH_MAX]; /* "" when none was found */
static char script_why[800];

/* The engine script: beside the programs in a build tree (bin/../python/spool/_engine.py), else
 * where `make install` puts it (PREFIX/share/spool/python/spool/, found from the program's own
 * PREFIX/bin or PREFIX/sbin, whatever PREFIX was), else SPOOL_DATADIR. It runs as every user who sends a call, so it must not be
 * writable by anyone but root or this worker's account. */
void pyengine_init(void)
{
	char exe[PATH_MAX], cand[3][PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int nc = 0;
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(cand[nc++], sizeof cand[0], "%s/../python/spool/_engine.py", exe);
			snprintf(cand[nc++], sizeof cand[0], "%s/../share/spool/python/spool/_engine.py", exe);
		}
	}
	snprintf(cand[nc++], sizeof cand[0], "%s/python/spool/_engine.py", SPOOL_DATADIR);
	script_why[0] = '\0';
	for (int i = 0; i < nc; i++) {
		struct stat st;
		if (stat(cand[i], &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		/* Group write is harmless only for root's group or this worker's own (a umask of 002). */
		bool group_ok = !(st.st_mode & 020) || st.st_gid == 0 || st.st_gid == getegid();
		if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 002) || !group_ok) {
			snprintf(script_why, sizeof script_why,
				 "%.400s belongs to uid %u, gid %u with mode %04o: refused, others could change what "
				 "runs as every user", cand[i], (unsigned)st.st_uid, (unsigned)st.st_gid,
				 (unsigned)(st.st_mode & 07777));
			continue;
		}
		if (!realpath(cand[i], engine_script))
			snprintf(engine_script, sizeof engine_script, "%.4000s", cand[i]);
		log_debug("Python engine script: %s", engine_script);
		return;
	}
	if (!script_why[0])
		snprintf(script_why, sizeof script_why, "no Python engine script at %.250s or %.250s: install spool's "
			 "python/ directory there (make install)", nc > 1 ? cand[1] : "(no program path)", cand[nc - 1]);
	log_info("Python calls will fail on this worker: %s", script_why);
}

static struct pyinterp *find_interp(struct engine *e, uid_t uid, const char *python)
{
	for (size_t i = 0; i < e->npy; i++)
		if (e->py[i].uid == uid && strcmp(e->py[i].python, python) == 0)
			return &e->py[i];
	e->py = xrealloc(e->py, (e->npy + 1) * sizeof *e->py);
	struct pyinterp *p = &e->py[e->npy++];
	memset(p, 0, sizeof *p);
	p->uid = uid;
	p->python = xstrdup(python);
	p->sock = -1;
	return p;
}

/* The interpreter is gone (or being ended): forget its process, keep why for the next call. */
static void interp_lost(struct pyinterp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void interp_lost(struct pyinterp *p, const char *fmt, ...)
{
	if (p->sock >= 0)
		close(p->sock);
	p->sock = -1;
	p->pid = 0;
	if (!p->calls)
		return; /* nothing was built in it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->lost, sizeof p->lost, fmt, ap);
	va_end(ap);
	p->calls = 0;
}

static const char *now_text(char *buf, size_t sz)
{
	time_t t = time(NULL);
	struct tm tm;
	strftime(buf, sz, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	return buf;
}

/* Start the interpreter as the call's user: the child reports a failed switch or exec over a
 * close-on-exec pipe, read here at once (exec closes it), so "no such interpreter" is this
 * call's clear failure rather than a silent exit. 0, or -1 with the reason in why. */
static int interp_spawn(struct worker *w, struct engine *e, struct pyinterp *p, int ofd, int efd, char **envp,
			char *why, size_t whysz)
{
	int sv[2], pfd[2];
	const char *cwd = rec_get(&e->run->r, "cwd");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(why, whysz, "cannot create the Python engine's socket on node %s: %s", w->node, strerror(errno));
		return -1;
	}
	const char *path = NULL;
	for (char **ep = envp; *ep; ep++)
		if (strncmp(*ep, "PATH=", 5) == 0)
			path = *ep + 5;
	char *argv[] = { p->python, engine_script, NULL };
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		int uerr = cred_become(&e->cred);
		if (uerr) {
			start_pipe_send(pfd[1], 'u', uerr);
			_exit(127);
		}
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (e->cred.switch_ids)
			limits_apply(&e->cred.limits);
		umask(e->cred.umask);
		if (chdir(cwd) < 0 && chdir("/") < 0)
			_exit(127);
		int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0 || dup2(sv[1], 3) < 0) {
			start_pipe_send(pfd[1], 'd', errno);
			_exit(127);
		}
		run_close_inherited();
		fcntl(3, F_SETFD, 0); /* fd 3 alone survives the exec */
		run_child_exec(argv, envp, path ? path : "/usr/local/bin:/usr/bin:/bin", pfd[1]);
	}
	close(sv[1]);
	close(pfd[1]);
	if (pid < 0) {
		close(sv[0]);
		close(pfd[0]);
		snprintf(why, whysz, "cannot fork the Python engine on node %s: %s", w->node, strerror(errno));
		return -1;
	}
	struct start_msg msg;
	int n = start_pipe_recv(pfd[0], &msg); /* blocks until the exec, or the child's failure */
	close(pfd[0]);
	if (n == 1) {
		int err = (int)msg.value;
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (msg.what == 'e')
			snprintf(why, whysz, "cannot execute the Python interpreter '%.300s' on node %s: %s%s", p->python,
				 w->node, strerror(err),
				 err == ENOENT ? " (not found in the task's PATH: set python in spool.conf or "
						 "Client(python=...) to an interpreter every node has)" : "");
		else
			snprintf(why, whysz, "cannot start the Python engine as uid %u on node %s: %s", (unsigned)e->cred.uid,
				 w->node, strerror(err));
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	p->pid = pid;
	p->sock = sv[0];
	p->calls = 0;
	log_info("engine %lld: started the Python interpreter %s for uid %u (pid %d)", (long long)e->id, p->python,
		 (unsigned)e->cred.uid, (int)pid);
	return 0;
}

/* The call as one JSON message (spool-layout.md 13.3). */
static void build_request(struct json *j, struct worker *w, struct engine *e, struct pyinterp *p, char **envp)
{
	const struct rec *r = &e->run->r;
	json_obj_begin(j, NULL);
	json_str(j, "name", e->run->name);
	json_str(j, "job", rec_get(r, "job"));
	json_int(j, "task", (int64_t)rec_get_u64(r, "task", 0));
	json_int(j, "attempt", (int64_t)rec_get_u64(r, "attempt", 0));
	json_int(j, "engine", e->id);
	json_str(j, "node", w->node);
	json_str(j, "cwd", rec_get(r, "cwd"));
	json_str(j, "call", rec_get(r, "arg"));
	char value[200]; /* TASK.ATTEMPT.ret beside TASK.ATTEMPT.res */
	snprintf(value, sizeof value, "%.190s", strrchr(e->res_path, '/') + 1);
	memcpy(value + strlen(value) - 3, "ret", 3);
	json_str(j, "value", value);
	json_obj_begin(j, "env");
	for (char **ep = envp; *ep; ep++) {
		char *eq = strchr(*ep, '=');
		char name[256];
		if (!eq || (size_t)(eq - *ep) >= sizeof name)
			continue;
		memcpy(name, *ep, (size_t)(eq - *ep));
		name[eq - *ep] = '\0';
		json_str(j, name, eq + 1);
	}
	json_obj_end(j);
	json_str(j, "lost", p->lost[0] ? p->lost : NULL);
	json_obj_end(j);
}

static int send_call(int sock, const struct buf *b, const int fds[3])
{
	char ctl[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { .iov_base = b->p, .iov_len = b->len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	memset(ctl, 0, sizeof ctl);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)b->len ? 0 : -1;
}

/* Start a Python call on e (the caller made its stdout and stderr files, ofd and efd, as the
 * user). 0 when it runs (the reply or the interpreter's end finishes it), -1 with why when it
 * could not start: the caller fails the task with that reason. ofd and efd are closed either way. */
int pyengine_call(struct worker *w, struct engine *e, int ofd, int efd, char **envp, const char *python,
		  char *why, size_t whysz)
{
	int rc = -1;
	struct json j;
	json_init(&j);
	if (!engine_script[0]) {
		snprintf(why, whysz, "worker %s on node %s cannot run Python calls: %s", w->wid, w->node, script_why);
		goto out;
	}
	if (strlen(python) > PATH_MAX - 1) {
		snprintf(why, whysz, "the Python interpreter's name is longer than %d bytes", PATH_MAX - 1);
		goto out;
	}
	struct pyinterp *p = find_interp(e, e->cred.uid, python);
	for (int tries = 0; tries < 2; tries++) {
		if (!p->pid && interp_spawn(w, e, p, ofd, efd, envp, why, whysz) < 0)
			goto out;
		json_free(&j);
		json_init(&j);
		build_request(&j, w, e, p, envp);
		if (j.b.len > PY_MSG_MAX) {
			snprintf(why, whysz, "the call's request is %zu bytes, more than %u: its environment is too large",
				 j.b.len, PY_MSG_MAX);
			goto out;
		}
		int fds[3] = { e->outfd, ofd, efd };
		if (send_call(p->sock, &j.b, fds) == 0)
			break;
		/* An idle interpreter died (its user's memory limit, say): start another, once. */
		char t[32];
		log_info("engine %lld: the Python interpreter of uid %u (pid %d) is gone: %s", (long long)e->id,
			 (unsigned)e->cred.uid, (int)p->pid, strerror(errno));
		kill(-p->pid, SIGKILL);
		interp_lost(p, "the Python interpreter of engine %lld on node %s ended while idle (noticed at %s)",
			    (long long)e->id, w->node, now_text(t, sizeof t));
		if (tries == 1) {
			snprintf(why, whysz, "cannot send the call to the Python interpreter on node %s: %s", w->node,
				 strerror(errno));
			goto out;
		}
	}
	p->lost[0] = '\0';
	p->calls++;
	e->pyi = p;
	e->pid = p->pid;
	e->start_wall = wall_ms();
	e->start_mono = mono_ms();
	uint64_t tmo = rec_get_u64(&e->run->r, "timeout_ms", 0);
	e->deadline = tmo ? e->start_mono + tmo : 0;
	rc = 0;
out:
	close(ofd);
	close(efd);
	json_free(&j);
	return rc;
}

/* The sockets of engines running a Python call, for the worker's poll. */
size_t pyengine_pollfds(struct worker *w, struct pollfd *p, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < w->nslots && n < max; i++) {
		struct engine *e = &w->eng[i];
		if (e->run && e->pyi && e->pyi->sock >= 0)
			p[n++] = (struct pollfd){ .fd = e->pyi->sock, .events = POLLIN };
	}
	return n;
}

/* The reply "CODE USER_MS SYS_MS MAXRSS_KB\nREASON"; -1 if it is not one. */
static int parse_reply(char *msg, size_t len, struct pyresult *res)
{
	msg[len] = '\0';
	char *nl = strchr(msg, '\n'), *end;
	if (nl)
		*nl = '\0';
	long long v[4];
	char *s = msg;
	for (int i = 0; i < 4; i++) {
		errno = 0;
		v[i] = strtoll(s, &end, 10);
		if (end == s || errno || v[i] < 0)
			return -1;
		s = end;
	}
	if (*s || v[0] > 2)
		return -1;
	res->code = (int)v[0];
	res->user_ms = (uint64_t)v[1];
	res->sys_ms = (uint64_t)v[2];
	res->maxrss_kb = (uint64_t)v[3];
	snprintf(res->reason, sizeof res->reason, "%s", nl ? nl + 1 : "");
	for (char *c = res->reason; *c; c++) /* one line in the records */
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return 0;
}

/* After poll: the reply of engine e's interpreter. 1 with res filled when the call ended, 0
 * when nothing is there yet, -1 when the interpreter closed its end (it is dying: the reaper
 * tells how) or answered nonsense (it is killed, and the call fails with that). */
int pyengine_reply(struct worker *w, struct engine *e, struct pyresult *res)
{
	struct pyinterp *p = e->pyi;
	char *msg = xmalloc(PY_MSG_MAX + 1);
	ssize_t n;
	int rc;
	do
		n = recv(p->sock, msg, PY_MSG_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		rc = 0;
	} else if (n <= 0) {
		close(p->sock); /* the reaper ends the call with the interpreter's exit status */
		p->sock = -1;
		rc = -1;
	} else if (parse_reply(msg, (size_t)n, res) < 0) {
		log_err("engine %lld: the Python interpreter (pid %d) answered %zd bytes that are not a reply: "
			"ending it", (long long)e->id, (int)p->pid, n);
		kill(-p->pid, SIGKILL);
		close(p->sock);
		p->sock = -1;
		rc = -1;
	} else {
		rc = 1;
		e->pyi = NULL;
	}
	(void)w;
	free(msg);
	return rc;
}

/* Engine e's call must end now (timeout, cancel, worker stop): end its interpreter. */
void pyengine_kill(struct worker *w, struct engine *e, const char *why)
{
	struct pyinterp *p = e->pyi;
	char t[32];
	if (!p || !p->pid)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	log_info("engine %lld: ended the Python interpreter of uid %u (pid %d): %s", (long long)e->id,
		 (unsigned)e->cred.uid, (int)p->pid, why);
	/* e->pid stays: the reaper finishes the call when the process is gone. */
	pid_t pid = p->pid;
	interp_lost(p, "the Python interpreter of engine %lld on node %s was ended at %s (%s): the variables "
		       "and imports of earlier calls are gone", (long long)e->id, w->node, now_text(t, sizeof t), why);
	p->pid = 0;
	e->pid = pid;
}

/* A process the reaper found: an idle interpreter that ended. true if it was one. */
bool pyengine_reaped(struct worker *w, pid_t pid, int status)
{
	char t[32];
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		for (size_t k = 0; k < e->npy; k++) {
			struct pyinterp *p = &e->py[k];
			if (p->pid != pid)
				continue;
			log_info("engine %lld: the idle Python interpreter (pid %d) ended (%s %d)", (long long)e->id,
				 (int)pid, WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			interp_lost(p, "the Python interpreter of engine %lld on node %s ended while idle at %s (%s %d)",
				    (long long)e->id, w->node, now_text(t, sizeof t),
				    WIFSIGNALED(status) ? "signal" : "exit status",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			return true;
		}
	}
	return false;
}

/* The call on e ended with its interpreter (reaped): say so, for the task's reason. */
void pyengine_died(struct worker *w, struct engine *e, int status, char *reason, size_t sz)
{
	struct pyinterp *p = e->pyi;
	char t[32];
	e->pyi = NULL;
	if (!p)
		return;
	if (p->pid) { /* not ended by us: it died during the call */
		snprintf(reason, sz, "the Python interpreter of engine %lld on node %s died during the call (%s %d): "
			 "its namespace is lost", (long long)e->id, w->node,
			 WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		interp_lost(p, "the Python interpreter of engine %lld on node %s died at %s during task %s: the "
			       "variables and imports of earlier calls are gone", (long long)e->id, w->node,
			    now_text(t, sizeof t), e->run ? e->run->name : "?");
	}
	if (p->sock >= 0)
		close(p->sock);
	p->sock = -1;
	p->pid = 0;
}

/* Worker stop: end every interpreter and wait for each. */
void pyengine_stop_all(struct worker *w)
{
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		for (size_t k = 0; k < e->npy; k++) {
			struct pyinterp *p = &e->py[k];
			if (p->pid > 0) {
				kill(-p->pid, SIGKILL);
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
			}
			if (p->sock >= 0)
				close(p->sock);
			free(p->python);
		}
		free(e->py);
		e->py = NULL;
		e->npy = 0;
	}
}
