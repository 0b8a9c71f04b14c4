/* run.c - run a task as argv (no shell) in its working directory, in its own
 * process group, with stdout and stderr to files beside the data; time it out;
 * write its result record there and a done record for the controller.
 *
 * Between fork and exec the child only calls async-signal-safe functions and
 * reports a failed chdir or exec over a close-on-exec pipe, so "command not
 * found" is told apart from a command that itself exits 127.
 */
#include "worker.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "smallfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int run_running(const struct worker *w)
{
	int n = 0;
	for (int i = 0; i < w->nslots; i++)
		n += w->eng[i].run != NULL;
	return n;
}

/* e->pid is the task's shepherd (shepherd.c): SIGTERM makes it end every process of the task,
 * SIGKILL after kill_grace. The worker's own SIGKILL to the shepherd, a second after that, is
 * only a safety net (the task's first process dies with its shepherd). */
void run_kill(struct worker *w, struct engine *e, int sig)
{
	if (!e->run || e->pid <= 0)
		return;
	if (e->pyi) { /* a Python call: its interpreter goes, with the namespace */
		pyengine_kill(w, e, e->timed_out ? "the call overran its timeout"
				    : w->stop ? "the worker is stopping" : "the call was cancelled");
		return;
	}
	kill(e->pid, sig);
	if (sig == SIGTERM && !e->kill_at)
		e->kill_at = mono_ms() + w->sd.conf.kill_grace_ms + 1000;
}

struct outcome {
	const char *status;
	int exit_code; /* -1 none */
	int sig;       /* 0 none */
	char reason[MAX_REASON_LEN];
	uint64_t user_ms, sys_ms, maxrss_kb;
};

/* The result goes beside the data first, then to the controller: once the controller has
 * it, the user can read it. Both are written whole (tmp + rename) but not fsync'd, like the
 * task's own output: the controller's commit is the durability point of a result. A node
 * that loses power before that loses nothing but a run, which the controller repeats when
 * it declares the node dead (at-least-once); a torn record left by the crash is refused by
 * the parser and quarantined. This halves the worker's cost per task. */
#define RESULT_SYNC FSW_NOSYNC

static void build_done(struct buf *b, struct worker *w, struct engine *e, const struct outcome *o, uint64_t end,
		       uint64_t wall)
{
	struct job_assign *a = e->run;
	buf_reset(b);
	rec_begin(b, "done");
	rec_put(b, "job", rec_get(&a->r, "job"));
	rec_put(b, "task", rec_get(&a->r, "task"));
	rec_put(b, "attempt", rec_get(&a->r, "attempt"));
	rec_put_i64(b, "engine", e->id);
	rec_put(b, "wid", w->wid);
	rec_put(b, "node", w->node);
	rec_put(b, "status", o->status);
	if (o->exit_code >= 0)
		rec_put_i64(b, "exit", o->exit_code);
	if (o->sig > 0)
		rec_put_i64(b, "signal", o->sig);
	if (o->reason[0])
		rec_put(b, "reason", o->reason);
	rec_put_u64(b, "start_ms", e->start_wall ? e->start_wall : end);
	rec_put_u64(b, "end_ms", end);
	rec_put_u64(b, "wall_ms", e->start_mono ? wall : 0);
	rec_put_u64(b, "user_ms", o->user_ms);
	rec_put_u64(b, "sys_ms", o->sys_ms);
	rec_put_u64(b, "maxrss_kb", o->maxrss_kb);
	if (e->out_path[0])
		rec_put(b, "stdout", e->out_path);
	if (e->err_path[0])
		rec_put(b, "stderr", e->err_path);
	rec_end(b);
}

/* Beside the data, as the task's user, in the verified output directory: the file is theirs,
 * and written only where they may write. */
static int write_res_as(struct engine *e, const struct buf *b, struct err *er)
{
	const char *name = strrchr(e->res_path, '/') + 1;
	if (cred_enter(&e->cred) < 0)
		return err_sys(er, "cannot act as uid %u", (unsigned)e->cred.uid);
	int rc = fs_write_new(e->outfd, name, b->p, b->len, 0666 & ~e->cred.umask, er);
	cred_leave(&e->cred);
	return rc;
}

/* The task's $SPOOL_VARS, if it made one: opened relative to the verified output directory and
 * checked (outdir_vars_open), then read through that descriptor, bounded. */
static void merge_task_vars(struct worker *w, struct engine *e, struct outcome *o)
{
	struct stat st;
	size_t used = strlen(o->reason);
	/* Opened as the task's user, like everything beside the data (a root_squash'd NFS export
	 * lets root read nothing of a user's 0700 directory); read through the descriptor after. */
	if (cred_enter(&e->cred) < 0) {
		snprintf(o->reason + used, sizeof o->reason - used, "%sSPOOL_VARS not merged: cannot act as uid %u: %s",
			 used ? "; " : "", (unsigned)e->cred.uid, strerror(errno));
		return;
	}
	int fd = outdir_vars_open(e->outfd, strrchr(e->vars_path, '/') + 1, e->cred.uid, &st);
	int saved = errno;
	cred_leave(&e->cred);
	errno = saved;
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(o->reason + used, sizeof o->reason - used, "%sSPOOL_VARS not merged: %.600s: %s",
				 used ? "; " : "", e->vars_path, outdir_why(errno));
		return;
	}
	if (st.st_size == 0) {
		close(fd);
		return;
	}
	if (st.st_size > (off_t)MAX_VARS_FILE) {
		snprintf(o->reason + used, sizeof o->reason - used,
			 "%sSPOOL_VARS not merged: %.600s is %lld bytes, more than %u", used ? "; " : "", e->vars_path,
			 (long long)st.st_size, MAX_VARS_FILE);
		close(fd);
		return;
	}
	char *data = xmalloc((size_t)st.st_size);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, data + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	vars_merge(w, e, data, got, o->reason, sizeof o->reason);
	free(data);
}

/* A done record that could not be written (disk full, say) is kept and retried: the task
 * stays assigned meanwhile, and nothing half-written is ever visible to the controller. */
void run_retry_unsent(struct worker *w)
{
	size_t k = 0;
	for (size_t i = 0; i < w->nunsent; i++) {
		struct err er;
		struct unsent *u = &w->unsent[i];
		if (fs_write_atomic(w->done_fd, u->name, u->rec, strlen(u->rec), 0644, 0, &er) == 0) {
			log_info("task %s: result reported after all", u->name);
			free(u->rec);
			continue;
		}
		w->unsent[k++] = *u;
	}
	w->nunsent = k;
}

/* The result goes beside the data first, then to the controller: once the controller has
 * it, the user can read it. Both are written whole (tmp + rename) but not fsync'd, like the
 * task's own output: the controller's commit is the durability point of a result. A node
 * that loses power before that loses nothing but a run, which the controller repeats when
 * it declares the node dead (at-least-once); a torn record left by the crash is refused by
 * the parser and quarantined. This halves the worker's cost per task. */
static void finish(struct worker *w, struct engine *e, struct outcome *o)
{
	struct buf b;
	struct err er;
	struct job_assign *a = e->run;
	uint64_t end = wall_ms(), wall = mono_ms() - e->start_mono;

	buf_init(&b);
	if (e->vars_path[0] && e->outfd >= 0 && !e->revoked)
		merge_task_vars(w, e, o);
	build_done(&b, w, e, o, end, wall);
	if (e->res_path[0] && e->outfd >= 0 && write_res_as(e, &b, &er) < 0) {
		/* Without its result beside the data the task did not deliver: report it failed. */
		log_err("task %s: cannot write its result %s: %s", a->name, e->res_path, er.msg);
		char why[MAX_REASON_LEN];
		snprintf(why, sizeof why, "its result could not be written beside the data on node %s: %.700s",
			 w->node, er.msg);
		snprintf(o->reason, sizeof o->reason, "%s", why);
		o->status = "error";
		build_done(&b, w, e, o, end, wall);
	}
	if (e->revoked) {
		log_info("task %s ended after it was revoked (%s): no result reported", a->name, o->status);
	} else if (fs_write_atomic(w->done_fd, a->name, b.p, b.len, 0644, RESULT_SYNC, &er) < 0) {
		log_err("task %s: cannot report its result to the controller: %s (retrying)", a->name, er.msg);
		w->unsent = xrealloc(w->unsent, (w->nunsent + 1) * sizeof *w->unsent);
		snprintf(w->unsent[w->nunsent].name, sizeof w->unsent[w->nunsent].name, "%s", a->name);
		w->unsent[w->nunsent++].rec = buf_steal(&b);
	}
	inbox_mark_finished(w, a->name);
	buf_free(&b);
	job_assign_free(a);
	e->run = NULL;
	e->pid = 0;
	e->deadline = e->kill_at = 0;
	e->timed_out = e->revoked = false;
	e->out_path[0] = e->err_path[0] = e->res_path[0] = e->vars_path[0] = '\0';
	if (e->outfd >= 0)
		close(e->outfd);
	e->outfd = -1;
}

static void fail_now(struct worker *w, struct engine *e, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail_now(struct worker *w, struct engine *e, const char *status, const char *fmt, ...)
{
	struct outcome o = { .status = status, .exit_code = -1 };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o.reason, sizeof o.reason, fmt, ap);
	va_end(ap);
	log_info("task %s failed before it started: %s", e->run->name, o.reason);
	finish(w, e, &o);
}

static bool env_named(char **list, size_t n, const char *kv)
{
	size_t k = strcspn(kv, "=");
	for (size_t i = 0; i < n; i++)
		if (strncmp(list[i], kv, k) == 0 && list[i][k] == '=')
			return true;
	return false;
}

/* The task's environment: the engine's variables and SPOOL_* first, then the job's own
 * entries that they do not override. */
static char **build_env(const struct rec *r, const struct vars *v, char **extra, size_t nextra)
{
	char **env = xcalloc(rec_count(r, "env") + v->n + nextra + 1, sizeof *env);
	size_t n = 0;
	for (size_t i = 0; i < nextra; i++)
		env[n++] = extra[i];
	for (size_t i = 0; i < v->n; i++)
		if (!env_named(env, n, v->kv[i]))
			env[n++] = v->kv[i];
	size_t fixed = n;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, "env") == 0 && !env_named(env, fixed, r->f[i].val))
			env[n++] = (char *)r->f[i].val;
	return env;
}

/* Build NULL-terminated vectors from the record's repeated fields, plus SPOOL_* variables. */
static char **vec(const struct rec *r, const char *key, size_t extra)
{
	size_t n = rec_count(r, key), k = 0;
	char **v = xcalloc(n + extra + 1, sizeof *v);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			v[k++] = (char *)r->f[i].val;
	return v;
}

static const char *env_lookup(char **env, const char *name)
{
	size_t n = strlen(name);
	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* Child side: report (stage, errno) and exit. Only async-signal-safe calls. */
static __attribute__((noreturn)) void child_fail(int fd, char stage, int err)
{
	start_pipe_send(fd, stage, err);
	_exit(127);
}

/* The task gets stdin, stdout and stderr and nothing else of the worker's: no descriptor the
 * worker (started by root, perhaps from a shell holding other files) happened to have open.
 * Marked close-on-exec rather than closed, so the start-failure pipe works until the exec. */
void run_close_inherited(void)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd < 65536; fd++) /* kernels before 5.11: up to the first gap past 1024 */
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 && errno == EBADF && fd > 1024)
			break;
}

/* execve along the task's own PATH (execvpe would use the worker's). */
void run_child_exec(char **argv, char **envp, const char *path, int errfd)
{
	char buf[8192];
	int saved = ENOENT;
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		child_fail(errfd, 'e', errno);
	}
	for (const char *p = path; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		size_t al = strlen(argv[0]);
		if (dl + al + 2 < sizeof buf) {
			memcpy(buf, dl ? p : ".", dl ? dl : 1);
			size_t o = dl ? dl : 1;
			buf[o++] = '/';
			memcpy(buf + o, argv[0], al + 1);
			execve(buf, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	child_fail(errfd, 'e', saved);
}

/* push and pull run inside the worker, in order with the engine's other tasks. */
static void run_builtin(struct worker *w, struct engine *e, int ofd, int efd)
{
	const struct rec *r = &e->run->r;
	struct outcome o = { .status = "exited", .exit_code = 0 };
	struct err er;
	struct buf out;
	bool push = strcmp(rec_get(r, "builtin"), "push") == 0;

	e->start_wall = wall_ms();
	e->start_mono = mono_ms();
	buf_init(&out);
	for (size_t i = 0; i < r->n && o.exit_code == 0; i++) {
		const struct rec_field *f = &r->f[i];
		if (strcmp(f->key, "arg") != 0)
			continue;
		if (push) {
			if (vars_set(&e->vars, f->val, f->len, &er) < 0) {
				snprintf(o.reason, sizeof o.reason, "push: %.900s", er.msg);
				o.exit_code = 1;
			}
		} else {
			const char *v = var_name_ok(f->val, f->len) ? vars_get(&e->vars, f->val) : NULL;
			if (!v) {
				snprintf(o.reason, sizeof o.reason, "pull: no variable '%.64s' on engine %lld", f->val,
					 (long long)e->id);
				o.exit_code = 1;
			} else {
				buf_adds(&out, v);
				buf_addc(&out, '\n');
			}
		}
	}
	if (push && o.exit_code == 0 && vars_save(w, e, &er) < 0) {
		snprintf(o.reason, sizeof o.reason, "push: %.900s", er.msg);
		o.exit_code = 1;
	}
	if (o.exit_code == 0 && out.len && write(ofd, out.p, out.len) != (ssize_t)out.len) {
		snprintf(o.reason, sizeof o.reason, "pull: cannot write %.800s: %s", e->out_path, strerror(errno));
		o.exit_code = 1;
	}
	if (o.reason[0] && write(efd, o.reason, strlen(o.reason)) > 0 && write(efd, "\n", 1) > 0) {
		/* also in the task's stderr file, like any task's error */
	}
	buf_free(&out);
	close(ofd);
	close(efd);
	finish(w, e, &o);
}

/* As the task's user (the caller acts as them, with their umask): its working directory exists,
 * its output directory is verified and held open (outdir.c), its result paths are set and any
 * stale $SPOOL_VARS removed. NULL, or the failed status with the reason in why. */
static const char *prepare_files(struct worker *w, struct engine *e, char *why, size_t whysz)
{
	const struct rec *r = &e->run->r;
	const char *cwd = rec_get(r, "cwd"), *outdir = rec_get(r, "outdir");
	const char *task = rec_get(r, "task"), *attempt = rec_get(r, "attempt");
	struct stat st;
	char where[MAX_REASON_LEN];
	if (cwd[0] != '/' || stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, whysz, "working directory %.700s does not exist on node %s (or is not a directory)",
			 cwd, w->node);
		return "nodir";
	}
	e->outfd = outdir_open(outdir, where, sizeof where);
	if (e->outfd < 0) {
		snprintf(why, whysz, "%.900s (node %s)", where, w->node);
		return "error";
	}
	snprintf(e->out_path, sizeof e->out_path, "%s/%s.%s.out", outdir, task, attempt);
	snprintf(e->err_path, sizeof e->err_path, "%s/%s.%s.err", outdir, task, attempt);
	snprintf(e->res_path, sizeof e->res_path, "%s/%s.%s.res", outdir, task, attempt);
	if (rec_get(r, "builtin"))
		return NULL;
	snprintf(e->vars_path, sizeof e->vars_path, "%s/%s.%s.vars", outdir, task, attempt);
	if (outdir_vars_clear(e->outfd, strrchr(e->vars_path, '/') + 1) < 0) {
		snprintf(why, whysz, "cannot remove an old %.800s on node %s: %s", e->vars_path, w->node, strerror(errno));
		e->vars_path[0] = '\0';
		return "error";
	}
	return NULL;
}

/* RLIMIT_AS at the memory limit, soft and hard (the task cannot raise it again), where the
 * shepherd could not set it on a cgroup. Only ever lowers. Async-signal-safe. */
static void limit_address_space(uint64_t mem)
{
	struct rlimit r;
	if (!mem || shepherd_mem_in_cgroup || getrlimit(RLIMIT_AS, &r) < 0)
		return;
	if (r.rlim_max > mem)
		r.rlim_max = mem;
	if (r.rlim_cur > r.rlim_max)
		r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_AS, &r);
}

/* In the task's first process, forked by its engine's shepherd. Only async-signal-safe calls:
 * reports a failed step over errfd and exits 127. */
static void start_task(const struct launch *l)
{
	pid_t shepherd = getppid();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	/* The submitter's identity before anything is opened, so the files are theirs. */
	int uerr = cred_become(&l->cred);
	if (uerr)
		child_fail(l->errfd, 'u', uerr);
	/* Set after the switch: changing credentials clears the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != shepherd)
		_exit(127);
	if (l->cred.switch_ids)
		limits_apply(&l->cred.limits);
	umask(l->cred.umask);
	/* The child opens its own files, so the worker goes on with other engines meanwhile. */
	int ofd = outdir_create(l->outfd, l->out_name, 0666);
	if (ofd < 0)
		child_fail(l->errfd, 'o', errno);
	int efd = outdir_create(l->outfd, l->err_name, 0666);
	if (efd < 0)
		child_fail(l->errfd, 'O', errno);
	if (chdir(l->cwd) < 0)
		child_fail(l->errfd, 'c', errno);
	/* Opened as the task's user, like any file the task opens itself. */
	int nullfd = open(l->in ? l->in : "/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (nullfd < 0 && l->in)
		child_fail(l->errfd, 'i', errno);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
		child_fail(l->errfd, 'd', errno);
	run_close_inherited();
	/* Last, just before the exec: nothing of the worker's (a sanitizer's runtime reserving its
	 * shadow memory, say) may allocate under the task's limit. */
	limit_address_space(l->mem);
	run_child_exec(l->argv, l->envp, l->path, l->errfd);
}

/* The SPOOL_* variables of a task (SPOOL_VARS only when it has a variables file). */
static size_t task_extras(struct worker *w, struct engine *e, char extra[7][4300], char *xp[7])
{
	const struct rec *r = &e->run->r;
	size_t n = 0;
	snprintf(extra[n++], sizeof extra[0], "SPOOL_JOB=%s", rec_get(r, "job"));
	snprintf(extra[n++], sizeof extra[0], "SPOOL_TASK=%s", rec_get(r, "task"));
	snprintf(extra[n++], sizeof extra[0], "SPOOL_ENGINE=%lld", (long long)e->id);
	snprintf(extra[n++], sizeof extra[0], "SPOOL_NODE=%s", w->node);
	snprintf(extra[n++], sizeof extra[0], "SPOOL_ATTEMPT=%s", rec_get(r, "attempt"));
	snprintf(extra[n++], sizeof extra[0], "SPOOL_DIR=%s", w->sd.path);
	if (e->vars_path[0])
		snprintf(extra[n++], sizeof extra[0], "SPOOL_VARS=%s", e->vars_path);
	for (size_t i = 0; i < n; i++)
		xp[i] = extra[i];
	return n;
}

/* A Python call goes to the engine's persistent interpreter for the task's user (pyengine.c). */
static void start_python(struct worker *w, struct engine *e, int ofd, int efd)
{
	char extra[7][4300], *xp[7], why[MAX_REASON_LEN];
	size_t nx = task_extras(w, e, extra, xp);
	char **envp = build_env(&e->run->r, &e->vars, xp, nx);
	/* The call's own choice, else the spool's, else the client's interpreter, else python3. */
	const char *python = env_lookup(envp, "SPOOL_PYTHON");
	if (!python || !python[0])
		python = w->sd.conf.python;
	if (!python[0])
		python = env_lookup(envp, "SPOOL_CLIENT_PYTHON");
	if (!python || !python[0])
		python = "python3";
	int rc = pyengine_call(w, e, ofd, efd, envp, python, why, sizeof why);
	free(envp);
	if (rc < 0) {
		e->start_wall = wall_ms();
		e->start_mono = mono_ms();
		fail_now(w, e, "error", "%s", why);
		return;
	}
	log_debug("engine %lld started the Python call %s", (long long)e->id, e->run->name);
}

/* After poll: the engines whose interpreter answered finish their call. */
void run_python_replies(struct worker *w)
{
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		struct pyresult res;
		if (!e->run || !e->pyi || e->pyi->sock < 0 || pyengine_reply(w, e, &res) <= 0)
			continue;
		struct outcome o = { .status = res.code == 2 ? "error" : "exited", .exit_code = res.code == 2 ? -1 : res.code,
				     .user_ms = res.user_ms, .sys_ms = res.sys_ms, .maxrss_kb = res.maxrss_kb };
		snprintf(o.reason, sizeof o.reason, "%s", res.reason);
		finish(w, e, &o);
	}
}

static void start_one(struct worker *w, struct engine *e, struct job_assign *a)
{
	const struct rec *r = &a->r;
	uid_t uid = (uid_t)rec_get_u64(r, "uid", 0);
	char why[MAX_REASON_LEN];
	int pfd[2];
	e->run = a;
	e->start_wall = e->start_mono = 0;
	e->mem = 0;
	e->mem_how = 0;
	/* The controller checked it; an assignment is still input (spool-layout.md 12). */
	const char *mem = rec_get(r, "mem");
	if (mem && (parse_u64(mem, MAX_MEM, &e->mem) < 0 || e->mem < MIN_MEM || rec_get(r, "builtin"))) {
		e->mem = 0;
		fail_now(w, e, "error", "refused: its memory limit '%.40s' is not a number of bytes from %llu to %llu "
			 "on a task that runs a command", mem, (unsigned long long)MIN_MEM, (unsigned long long)MAX_MEM);
		return;
	}
	if (cred_for_task(uid, w->node, &e->cred, why, sizeof why) < 0) {
		fail_now(w, e, "error", "%s", why);
		return;
	}
	e->cred.umask = (mode_t)(rec_get_u64(r, "umask", 022) & 0777);
	if (e->vars_uid != uid)
		vars_load(w, e, uid);
	if (cred_enter(&e->cred) < 0) {
		fail_now(w, e, "error", "cannot act as user %s (uid %u) on node %s: %s", e->cred.name,
			 (unsigned)uid, w->node, strerror(errno));
		return;
	}
	const char *bad = prepare_files(w, e, why, sizeof why);
	bool builtin = rec_get(r, "builtin") != NULL;
	int bofd = -1, befd = -1, saved = 0;
	if (!bad && builtin) {
		bofd = outdir_create(e->outfd, strrchr(e->out_path, '/') + 1, 0666);
		befd = bofd >= 0 ? outdir_create(e->outfd, strrchr(e->err_path, '/') + 1, 0666) : -1;
		saved = errno;
	}
	cred_leave(&e->cred);
	if (bad) {
		fail_now(w, e, bad, "%s", why);
		return;
	}
	if (builtin && (bofd < 0 || befd < 0)) {
		const char *path = bofd < 0 ? e->out_path : e->err_path;
		if (bofd >= 0)
			close(bofd);
		e->res_path[0] = '\0';
		fail_now(w, e, "error", "cannot create %s on node %s: %s", path, w->node, outdir_why(saved));
		return;
	}
	char extra[7][4300];
	char *xp[7];
	if (builtin && strcmp(rec_get(r, "builtin"), "python") == 0) {
		start_python(w, e, bofd, befd);
		return;
	}
	if (builtin) {
		run_builtin(w, e, bofd, befd);
		return;
	}
	size_t nx = task_extras(w, e, extra, xp);
	struct launch l = { .cred = e->cred, .mem = e->mem, .grace_ms = w->sd.conf.kill_grace_ms, .outfd = e->outfd,
			    .argv = vec(r, "arg", 0),
			    .cwd = rec_get(r, "cwd"), .out_name = strrchr(e->out_path, '/') + 1,
			    .err_name = strrchr(e->err_path, '/') + 1 };
	l.envp = build_env(r, &e->vars, xp, nx);
	l.in = env_lookup(l.envp, "SPOOL_STDIN");
	if (l.in && !l.in[0])
		l.in = NULL;
	l.path = env_lookup(l.envp, "PATH");
	if (!l.path)
		l.path = "/usr/local/bin:/usr/bin:/bin";
	const char *failed = NULL;
	int err = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		failed = "cannot create a pipe";
		err = errno;
	} else {
		l.errfd = pfd[1];
		e->start_wall = wall_ms();
		e->start_mono = mono_ms();
		/* A shepherd that died since its last task (killed, say) is replaced once. */
		for (int tries = 0; tries < 2; tries++) {
			if (e->shep_pid <= 0 && shepherd_spawn(w, e, start_task) < 0) {
				failed = "cannot fork the engine's shepherd";
				err = errno;
				break;
			}
			if (launch_send(e->shep_sock, &l) == 0) {
				failed = NULL;
				break;
			}
			failed = "cannot hand the task to the engine's shepherd";
			err = errno;
			shepherd_forget(w, e);
		}
		close(pfd[1]);
		if (failed)
			close(pfd[0]);
	}
	free(l.argv);
	free(l.envp);
	if (failed) {
		fail_now(w, e, "error", "%s on node %s: %s", failed, w->node, strerror(err));
		return;
	}
	e->pid = e->shep_pid;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	e->errfd = pfd[0];
	e->nsmsg = 0;
	e->ended = e->pipe_eof = false;
	uint64_t tmo = rec_get_u64(r, "timeout_ms", 0);
	e->deadline = tmo ? e->start_mono + tmo : 0;
	log_debug("engine %lld started %s (shepherd pid %d)", (long long)e->id, a->name, (int)e->pid);
}

/* Why an exec failed, in the user's terms: no shell runs the command (so "echo hi | wc" is one
 * program's name), and a name with a slash is a path, looked up in no PATH. */
static const char *exec_hint(const char *cmd, int err)
{
	if (strpbrk(cmd, " \t|&;<>()$`*?\"'"))
		return " (the command runs without a shell, so this is taken as one program's name: to run a "
		       "shell command line, give sh -c '...')";
	if (err != ENOENT)
		return "";
	if (strchr(cmd, '/'))
		return cmd[0] == '/' ? " (no such file on this node)"
				     : " (no such file relative to the task's working directory)";
	return " (not found in the task's PATH)";
}

/* After the task's shepherd exited: the task's own wait status ('x'), or why it never started
 * (a stage letter and an errno). Fills o; returns 1 if the task did not start. */
static int start_failure(struct worker *w, struct engine *e, struct outcome *o)
{
	int failed = 0;
	if (e->pyi) /* a Python engine's start pipe is read at its start (pyengine.c) */
		return 0;
	for (int i = 0; i < e->nsmsg; i++) {
		const struct start_msg *m = &e->smsg[i];
		int err = (int)m->value;
		if (m->what == 'M') { /* how the memory limit was enforced (before 'x') */
			e->mem_how = err;
			continue;
		}
		if (m->what == 'U' || m->what == 'S' || m->what == 'R') { /* the task's, not the shepherd's */
			uint64_t v = m->value > 0 ? (uint64_t)m->value : 0;
			*(m->what == 'U' ? &o->user_ms : m->what == 'S' ? &o->sys_ms : &o->maxrss_kb) = v;
			continue;
		}
		if (m->what == 'x') {
			if (failed) {
				/* the task's 127 after a failed start: the failure says more */
			} else if (WIFEXITED(err)) {
				o->status = "exited";
				o->exit_code = WEXITSTATUS(err);
				o->sig = 0;
			} else if (WIFSIGNALED(err)) {
				o->status = "signaled";
				o->exit_code = -1;
				o->sig = WTERMSIG(err);
			}
			continue;
		}
		if (failed)
			continue; /* the first failure is the one to tell */
		failed = 1;
		const struct rec *r = &e->run->r;
		o->exit_code = -1;
		o->sig = 0;
		switch (m->what) {
		case 'c':
			o->status = "nodir";
			snprintf(o->reason, sizeof o->reason, "cannot enter working directory %.800s on node %s: %s",
				 rec_get(r, "cwd"), w->node, strerror(err));
			break;
		case 'e':
			o->status = "noexec";
			snprintf(o->reason, sizeof o->reason, "cannot execute '%.200s' on node %s: %s%s",
				 rec_get(r, "arg"), w->node, strerror(err), exec_hint(rec_get(r, "arg"), err));
			break;
		case 'o':
		case 'O':
			o->status = "error";
			snprintf(o->reason, sizeof o->reason, "cannot create %.800s on node %s: %s",
				 m->what == 'o' ? e->out_path : e->err_path, w->node, outdir_why(err));
			e->res_path[0] = '\0';
			break;
		case 'i': {
			const char *in = NULL;
			for (size_t k = 0; k < r->n; k++)
				if (strcmp(r->f[k].key, "env") == 0 && strncmp(r->f[k].val, "SPOOL_STDIN=", 12) == 0)
					in = r->f[k].val + 12;
			o->status = "error";
			snprintf(o->reason, sizeof o->reason, "cannot open the task's standard input %.800s (--stdin) "
				 "on node %s as user %s: %s", in ? in : "?", w->node, e->cred.name, strerror(err));
			break;
		}
		case 'u':
			o->status = "error";
			snprintf(o->reason, sizeof o->reason,
				 "cannot switch to the submitter %s (uid %u) on node %s: %s", e->cred.name,
				 (unsigned)e->cred.uid, w->node, strerror(err));
			e->res_path[0] = '\0';
			break;
		default:
			o->status = "error";
			snprintf(o->reason, sizeof o->reason, "cannot set up the task's files on node %s: %s",
				 w->node, strerror(err));
		}
	}
	if (e->errfd > 0)
		close(e->errfd);
	e->errfd = 0;
	e->nsmsg = 0;
	if (failed)
		log_info("task %s failed to start: %s", e->run->name, o->reason);
	return failed;
}

/* Does the end of the task's stderr file tell of a failed allocation? Read through the verified
 * output directory as the task's user, never following a link, never blocking on a FIFO. */
static bool stderr_says_no_memory(struct engine *e)
{
	static const char *const signs[] = { "MemoryError", "Cannot allocate memory", "out of memory",
					     "Out of memory", "bad_alloc", "memory exhausted" };
	char buf[4097];
	bool found = false;
	if (!e->err_path[0] || e->outfd < 0 || cred_enter(&e->cred) < 0)
		return false;
	int fd = openat(e->outfd, strrchr(e->err_path, '/') + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	cred_leave(&e->cred);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t at = st.st_size > 4096 ? st.st_size - 4096 : 0;
		ssize_t n = pread(fd, buf, sizeof buf - 1, at);
		buf[n > 0 ? n : 0] = '\0';
		for (size_t i = 0; n > 0 && i < ARRAY_LEN(signs) && !found; i++)
			found = memmem(buf, (size_t)n, signs[i], strlen(signs[i])) != NULL;
	}
	if (fd >= 0)
		close(fd);
	return found;
}

/* A task with a memory limit that failed: was it the limit? Under a cgroup the kernel says so
 * (an OOM kill in the task's cgroup). Under RLIMIT_AS an allocation just fails, which a program
 * shows as it likes: a crash (SIGSEGV, SIGBUS, SIGABRT), a kill, or an error message about
 * memory on its stderr count as the limit; any other failure says how the limit was enforced. */
static void mem_verdict(struct worker *w, struct engine *e, struct outcome *o)
{
	char size[32];
	bool failed = strcmp(o->status, "exited") != 0 || o->exit_code != 0;
	(void)w;
	if (!failed)
		return;
	format_size(e->mem, size, sizeof size);
	if (e->mem_how & MEM_CGROUP) {
		if (e->mem_how & MEM_OOM_KILLED)
			snprintf(o->reason, sizeof o->reason, "memory limit %s exceeded", size);
		return;
	}
	bool crash = strcmp(o->status, "signaled") == 0 &&
		     (o->sig == SIGSEGV || o->sig == SIGBUS || o->sig == SIGABRT || o->sig == SIGKILL);
	if (crash || stderr_says_no_memory(e))
		snprintf(o->reason, sizeof o->reason, "memory limit %s exceeded (memory limit enforced with RLIMIT_AS, "
			 "not a cgroup)", size);
	else
		snprintf(o->reason, sizeof o->reason, "ran under a memory limit of %s (memory limit enforced with "
			 "RLIMIT_AS, not a cgroup: a failed allocation may end a task so)", size);
}

/* An assignment we cannot use still gets an answer, or its task would stay assigned forever. */
void run_report_refused(struct worker *w, const char *name, const char *why)
{
	struct taskname tn;
	struct buf b;
	struct err er;

	if (taskname_parse(name, &tn) < 0 || !w->nslots)
		return;
	buf_init(&b);
	rec_begin(&b, "done");
	rec_put(&b, "job", tn.job);
	rec_put_i64(&b, "task", tn.task);
	rec_put_i64(&b, "attempt", tn.attempt);
	rec_put_i64(&b, "engine", w->eng[0].id);
	rec_put(&b, "wid", w->wid);
	rec_put(&b, "node", w->node);
	rec_put(&b, "status", "error");
	buf_printf(&b, "reason ");
	char reason[MAX_REASON_LEN];
	snprintf(reason, sizeof reason, "worker %s refused the assignment: %s", w->wid, why);
	rec_escape(&b, reason, strlen(reason));
	buf_addc(&b, '\n');
	rec_end(&b);
	if (fs_write_atomic(w->done_fd, name, b.p, b.len, 0644, 0, &er) < 0)
		log_err("cannot report refused assignment %s: %s", name, er.msg);
	buf_free(&b);
}

/* The next task of engine e: its queue in seq order (so one owner's push, pull and tasks
 * take effect in the order submitted), but owners in turn: the first task of an owner other
 * than the one it ran last, when it holds one. The controller gives a full engine one more task
 * of an owner with no work anywhere (assign.c, fair share); this makes it the next to start,
 * ahead of the tasks the engine had prefetched. -1: nothing for e. */
static long next_for(struct worker *w, const struct engine *e)
{
	long first = -1;
	for (size_t i = 0; i < w->nq; i++) {
		if (w->queue[i]->engine != e->id)
			continue;
		if (first < 0)
			first = (long)i;
		if (!e->ran || w->queue[i]->uid != e->last_uid)
			return (long)i;
	}
	return first;
}

void run_start_ready(struct worker *w)
{
	for (int k = 0; k < w->nslots; k++) {
		struct engine *e = &w->eng[k];
		long i;
		/* An immediate failure frees the engine again: take its next one. */
		while (!w->dead && !w->stop && !e->run && (i = next_for(w, e)) >= 0) {
			struct job_assign *a = w->queue[i];
			memmove(&w->queue[i], &w->queue[i + 1], (w->nq - (size_t)i - 1) * sizeof *w->queue);
			w->nq--;
			e->last_uid = a->uid;
			e->ran = true;
			start_one(w, e, a);
		}
	}
}

/* A task that died of SIGTERM or SIGINT (or a shell's exit status for them) that the worker did
 * not send: maybe the signal a batch system sends every process of the step, the worker's
 * included, which may reach the worker a moment later, after this task's end (at a load of 8,
 * hundreds of ms later). Its report waits that long for the worker's own signal. */
#define OUTSIDE_SIGNAL_GRACE_MS 2000

/* A task that ended as the worker stops: its end is not reported (finish() writes no done
 * record for a revoked task), so the controller requeues it. */
static void leave_to_requeue(struct engine *e, const struct outcome *o)
{
	log_info("task %s ended (%s %d) as the worker was told to stop: not reported, the controller requeues it",
		 e->run->name, o->status, o->sig ? o->sig : o->exit_code);
	e->revoked = true;
}

static bool killed_from_outside(const struct outcome *o)
{
	if (o->sig)
		return o->sig == SIGTERM || o->sig == SIGINT;
	return o->exit_code == 128 + SIGTERM || o->exit_code == 128 + SIGINT;
}

/* A SIGTERM for the worker not yet read from its signalfd. Under a batch system (Slurm's scancel,
 * the end of an allocation) every process of the step gets SIGTERM at once, the tasks too: one
 * that dies of it before the worker has read its own must not be reported as failed, but left
 * to the controller to requeue, like any task the stopping worker ends (a task that succeeded
 * meanwhile is reported as usual). */
static bool stop_pending(struct worker *w)
{
	sigset_t pend;
	if (!w->stop && sigpending(&pend) == 0 && (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT)))
		w->stop = 1;
	return w->stop;
}

/* Read what the task's start pipe holds so far. */
static void drain_start_pipe(struct engine *e)
{
	struct start_msg m;
	int rc;
	while (e->errfd > 0 && !e->ended && !e->pipe_eof && (rc = start_pipe_recv(e->errfd, &m)) != 0) {
		if (rc < 0) {
			e->pipe_eof = true; /* closed without an 'x': its shepherd died, and run_reap tells */
			break;
		}
		if (m.what == 'x' || e->nsmsg < (int)ARRAY_LEN(e->smsg) - 1)
			e->smsg[e->nsmsg++] = m;
		e->ended = m.what == 'x';
	}
}

/* The task ended: its 'x' came, or its shepherd (or Python interpreter) died with it, status
 * being then that process's. */
static void task_ended(struct worker *w, struct engine *e, int status)
{
	struct outcome o = { .exit_code = -1 };
	if (WIFEXITED(status)) {
		o.status = "exited";
		o.exit_code = WEXITSTATUS(status);
	} else {
		o.status = "signaled";
		o.sig = WTERMSIG(status);
	}
	if (e->pyi)
		pyengine_died(w, e, status, o.reason, sizeof o.reason);
	if (start_failure(w, e, &o)) {
		/* o says why; the task never ran */
	} else if (e->timed_out) {
		o.status = "timeout";
		snprintf(o.reason, sizeof o.reason, "killed after its timeout of %.3f s",
			 (double)rec_get_u64(&e->run->r, "timeout_ms", 0) / 1000.0);
	} else if (e->revoked) {
		o.status = "cancelled";
	} else if (o.exit_code != 0 && stop_pending(w)) { /* a success is kept */
		leave_to_requeue(e, &o);
	} else if (!e->pyi && killed_from_outside(&o)) {
		e->held = xmalloc(sizeof o);
		*e->held = o;
		e->held_until = mono_ms() + OUTSIDE_SIGNAL_GRACE_MS;
		e->pid = 0;
		return;
	} else if (e->mem) {
		mem_verdict(w, e, &o);
	}
	finish(w, e, &o);
}

/* The start pipes of running tasks: those poll found readable (p, n), or all when p is NULL.
 * A task whose 'x' came has ended, and so has everything it left (the shepherd saw to it). */
void run_task_pipes(struct worker *w, const struct pollfd *p, size_t n)
{
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		if (!e->run || e->pyi || e->pid <= 0 || e->errfd <= 0)
			continue;
		bool ready = !p;
		for (size_t k = 0; k < n && !ready; k++)
			ready = p[k].fd == e->errfd && p[k].revents;
		if (!ready)
			continue;
		drain_start_pipe(e);
		if (e->ended)
			task_ended(w, e, 0);
	}
}

size_t run_pollfds(struct worker *w, struct pollfd *p, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < w->nslots && n < max; i++) {
		struct engine *e = &w->eng[i];
		if (e->run && !e->pyi && e->pid > 0 && e->errfd > 0 && !e->pipe_eof)
			p[n++] = (struct pollfd){ .fd = e->errfd, .events = POLLIN };
	}
	return n;
}

/* Children that exited: an engine's shepherd (ending its task with it, if one ran: killed after
 * kill_grace, say), or a Python interpreter. */
void run_reap(struct worker *w)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		bool ours = false;
		for (int i = 0; i < w->nslots && !ours; i++) {
			struct engine *e = &w->eng[i];
			if (e->shep_pid == pid) {
				ours = true;
				e->shep_pid = 0;
				if (e->shep_sock >= 0)
					close(e->shep_sock);
				e->shep_sock = -1;
				cgroup_shepherd_gone(w->cg_fd, pid);
				if (e->run && e->pid == pid) {
					drain_start_pipe(e);
					task_ended(w, e, status);
				}
			} else if (e->pyi && e->run && e->pid == pid) {
				ours = true;
				task_ended(w, e, status);
			}
		}
		if (!ours)
			pyengine_reaped(w, pid, status);
	}
}

/* The tasks held by run_reap: not reported if the worker was told to stop meanwhile (the
 * controller requeues them), else reported as they ended once their grace is over. Returns
 * the earliest held_until still to come, 0 when none. */
uint64_t run_release_held(struct worker *w)
{
	uint64_t now = mono_ms(), next = 0;
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		if (!e->held)
			continue;
		if (stop_pending(w)) {
			leave_to_requeue(e, e->held);
		} else if (now < e->held_until) {
			if (!next || e->held_until < next)
				next = e->held_until;
			continue;
		}
		struct outcome o = *e->held;
		free(e->held);
		e->held = NULL;
		finish(w, e, &o);
	}
	return next;
}

void run_check_timeouts(struct worker *w)
{
	uint64_t now = mono_ms();
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		if (!e->run || e->pid <= 0)
			continue;
		if (e->kill_at && now >= e->kill_at) {
			log_warn("task %s: its shepherd (pid %d) did not end it within kill_grace: SIGKILL",
				 e->run->name, (int)e->pid);
			kill(e->pid, SIGKILL);
			e->kill_at = 0;
		} else if (e->deadline && !e->timed_out && now >= e->deadline) {
			log_info("task %s on engine %lld overran its timeout: SIGTERM to all its processes",
				 e->run->name, (long long)e->id);
			e->timed_out = true;
			run_kill(w, e, SIGTERM);
		}
	}
}

/* Shutdown: TERM every task's shepherd, which ends all the task's processes (SIGKILL after
 * kill_grace); a shepherd still there a second later is killed, and its task's first process
 * with it (its parent-death signal). So the worker ends within kill_grace plus a second. */
void run_stop_all(struct worker *w)
{
	run_release_held(w); /* stopping: ended by the signal that stops the worker, not reported */
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].run) {
			w->eng[i].revoked = true;
			run_kill(w, &w->eng[i], SIGTERM);
		}
	uint64_t until = mono_ms() + w->sd.conf.kill_grace_ms + 1000;
	while (run_running(w) && mono_ms() < until) {
		run_reap(w);
		run_task_pipes(w, NULL, 0);
		usleep(10000);
	}
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].run && w->eng[i].pid > 0)
			kill(w->eng[i].pid, SIGKILL);
	while (run_running(w)) {
		run_reap(w);
		run_task_pipes(w, NULL, 0);
		usleep(1000);
	}
}
