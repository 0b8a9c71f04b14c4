/* api.c - the client side of spool (include/spool.h): write job and cancel records,
 * read the state the controller publishes. */
#include "spool.h"
#include "conf.h"
#include "fsio.h"
#include "outdir.h"
#include "ids.h"
#include "log.h"
#include "repl.h"
#include "schema.h"
#include "spooldir.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Records are readable by their owner and, through the setgid incoming/ of a shared spool,
 * by the controller's group alone: other submitters cannot read them (spool-layout.md 12). */
#define SUBMIT_MODE 0640


extern char **environ;

struct spool {
	struct spooldir sd;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int spool_exit_code(int rc)
{
	if (rc >= 0)
		return SPOOL_EXIT_OK;
	switch (-rc) {
	case SPOOL_ERR_USAGE: return SPOOL_EXIT_USAGE;
	case SPOOL_ERR_NO_JOB: return SPOOL_EXIT_NO_JOB;
	case SPOOL_ERR_TIMEOUT: return SPOOL_EXIT_PENDING;
	default: return SPOOL_EXIT_ERROR;
	}
}

spool_t *spool_open(const char *dir, char *err, size_t errlen)
{
	struct err e;
	spool_t *sp = xcalloc(1, sizeof *sp);
	if (!(dir = spooldir_choose(dir, &e)) || spooldir_open(&sp->sd, dir, &e) < 0) {
		set_err(err, errlen, e.msg);
		free(sp);
		return NULL;
	}
	return sp;
}

spool_t *spool_open_inspect(const char *dir, char *problem, size_t problemlen, char *err, size_t errlen)
{
	struct err e, modes;
	spool_t *sp = xcalloc(1, sizeof *sp);
	if (!(dir = spooldir_choose(dir, &e)) || spooldir_open_inspect(&sp->sd, dir, &modes, &e) < 0) {
		set_err(err, errlen, e.msg);
		free(sp);
		return NULL;
	}
	set_err(problem, problemlen, modes.msg);
	return sp;
}

void spool_close(spool_t *sp)
{
	if (!sp)
		return;
	spooldir_close(&sp->sd);
	free(sp);
}

const char *spool_path(const spool_t *sp)
{
	return sp->sd.path;
}

struct spooldir *api_spooldir(spool_t *sp)
{
	return &sp->sd;
}

/* The environment goes into the record whole: refuse one the controller would refuse rather
 * than drop entries silently. Captured entries that are not NAME=VALUE are skipped (they
 * cannot be passed on); given ones (env_set) must all be NAME=VALUE. */
static int check_env(const char *const *env, size_t n, int given, struct err *e)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq || eq == env[i]) {
			if (given)
				return err_set(e, "environment entry '%.64s' is not NAME=VALUE", env[i]);
			continue;
		}
		if (strlen(env[i]) > MAX_ENV_LEN)
			return err_set(e, "environment variable %.*s is longer than %d bytes (unset it or use --no-env)",
				       (int)(eq - env[i] < 64 ? eq - env[i] : 64), env[i], MAX_ENV_LEN);
		kept++;
	}
	if (kept > MAX_ENV)
		return err_set(e, "%zu environment variables, limit %d (unset some or use --no-env)", kept, MAX_ENV);
	return 0;
}

static bool python_var(const char *kv)
{
	return strncmp(kv, "SPOOL_PYTHON=", 13) == 0;
}

/* SPOOL_STDIN names the task's standard input: only spec.stdin_path sets it, never an
 * environment inherited (a task that submits a job must not pass its own input on). */
static bool stdin_var(const char *kv)
{
	return strncmp(kv, "SPOOL_STDIN=", 12) == 0;
}

/* A map's values: ns per task (a multiple of the entries), each task's joined values within
 * MAX_ITEM_LEN, at most MAX_ITEMS tasks: the limits, as for any record. */
static int check_item_sizes(const struct spool_job_spec *s, struct err *e)
{
	size_t ns = s->nsources ? s->nsources : 1;
	if (ns > REPL_MAX_SOURCES)
		return err_set(e, "%zu input sources, limit %d", ns, REPL_MAX_SOURCES);
	if (s->nitems % ns)
		return err_set(e, "%zu values for %zu input sources: each task takes one of each", s->nitems, ns);
	if (s->nitems / ns > MAX_ITEMS)
		return err_set(e, "%zu input items, limit %d per job", s->nitems / ns, MAX_ITEMS);
	for (size_t k = 0; k < s->nitems; k += ns) {
		size_t len = ns - 1;
		for (size_t j = k; j < k + ns; j++)
			len += strlen(s->items[j]);
		if (len > MAX_ITEM_LEN)
			return err_set(e, "input item %zu is longer than %d bytes%s", k / ns + 1, MAX_ITEM_LEN,
				       ns > 1 ? " (its values together, one byte between each)" : "");
	}
	return 0;
}

/* What spool does not take (usage errors): a value holding the separator, a replacement
 * string it does not support (repl.h). */
static int check_items(const struct spool_job_spec *s, struct err *e)
{
	size_t ns = s->nsources ? s->nsources : 1;
	for (size_t i = 0; i < s->nitems; i++)
		if (strchr(s->items[i], REPL_SEP))
			return err_set(e, "input item %zu holds the byte 0x1F, which separates the values of several "
				       "input sources: remove it", i / ns + 1);
	for (size_t i = 0; s->is_map && i < s->argc; i++)
		if (repl_check(s->argv[i], i + 1, ns, e) < 0)
			return -1;
	return 0;
}

static int check_spec(const struct spool_job_spec *s, const char *cwd, struct err *e)
{
	if (s->builtin && strcmp(s->builtin, "python") == 0) {
		if (!s->argc || !s->argv[0] || !s->argv[0][0] || strchr(s->argv[0], '/') ||
		    strcmp(s->argv[0], ".") == 0 || strcmp(s->argv[0], "..") == 0)
			return err_set(e, "a Python call's argv[0] must name its call file in the output directory");
		if (!s->outdir)
			return err_set(e, "a Python call needs its output directory (spec.outdir), where its call file is");
		if (s->python && (!s->python[0] || strlen(s->python) > MAX_PATH_LEN || strchr(s->python, '\n')))
			return err_set(e, "python interpreter '%.64s' is not a command name or path", s->python);
	} else if (s->builtin && strcmp(s->builtin, "push") != 0 && strcmp(s->builtin, "pull") != 0) {
		return err_set(e, "builtin '%.32s' is not push, pull or python", s->builtin);
	} else if (s->builtin && !s->is_apply) {
		return err_set(e, "builtin %s is only for an apply (a job on every target engine)", s->builtin);
	}
	if (!s->argc || !s->argv[0] || !s->argv[0][0])
		return err_set(e, "no command given");
	if (s->argc > MAX_ARGS)
		return err_set(e, "%zu arguments, limit %d", s->argc, MAX_ARGS);
	for (size_t i = 0; i < s->argc; i++)
		if (strlen(s->argv[i]) > MAX_ARG_LEN)
			return err_set(e, "argument %zu is longer than %d bytes", i + 1, MAX_ARG_LEN);
	size_t nenv = 0;
	while (!s->env_set && environ && environ[nenv])
		nenv++;
	if (check_env(s->env_set ? s->env : (const char *const *)environ, s->env_set ? s->nenv : nenv,
		      s->env_set, e) < 0)
		return -1;
	if (cwd[0] != '/')
		return err_set(e, "working directory '%s' is not absolute: give a full path", cwd);
	if (strlen(cwd) > MAX_PATH_LEN)
		return err_set(e, "working directory path is longer than %d bytes", MAX_PATH_LEN);
	if (access(cwd, F_OK) < 0)
		return err_set(e, "working directory %s does not exist here: create it or give another with --cwd "
			       "(it must exist on the nodes that run the task)", cwd);
	if (s->outdir && s->outdir[0] != '/')
		return err_set(e, "output directory '%s' is not absolute: give a full path", s->outdir);
	if (s->name && !label_ok(s->name, MAX_LABEL_LEN))
		return err_set(e, "job name must be at most %d printable characters", MAX_LABEL_LEN);
	if (s->targets && strcmp(s->targets, "all") != 0) {
		int64_t *ids;
		size_t n;
		if (targets_parse(s->targets, &ids, &n) < 0)
			return err_set(e, "--targets '%s' is not 'all' or a list of engine ids like 3,4,9", s->targets);
		free(ids);
	}
	if (s->schedule && strcmp(s->schedule, "static") != 0 && strcmp(s->schedule, "balanced") != 0)
		return err_set(e, "schedule '%s' is neither static nor balanced", s->schedule);
	if (s->is_map && !s->nitems)
		return err_set(e, "map has no input items (give them after ':::' or with --input)");
	return check_item_sizes(s, e);
}

/* Where this client's records stand in its own order (spool-layout.md 7): the controller
 * takes records by mtime and, where mtimes tie, by client then seq. A client is a kernel (its
 * boot id); seq is that kernel's CLOCK_MONOTONIC in ns, so the records of every process there
 * are numbered in the order they were written, with no wait for the file server's clock. */
/* How a client record is written: where every reader shares our page cache, it goes into
 * place before its fsyncs, which then overlap the controller's work on it. */
static unsigned record_flags(spool_t *sp)
{
	return sp->sd.local_fs ? FSW_VISIBLE_FIRST : 0;
}

static void put_order(struct buf *b)
{
	static uint64_t last; /* strictly increasing within this process, whatever the clock says */
	char boot[72];
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t seq = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (seq <= last)
		seq = last + 1;
	last = seq;
	boot_id(boot, sizeof boot);
	rec_put(b, "client", boot);
	rec_put_u64(b, "seq", seq);
}

/* One dependency: well formed (-SPOOL_ERR_USAGE), a job of the caller's that exists, with that
 * task (-SPOOL_ERR_NO_JOB: spool_job_summary refuses other users' jobs as not theirs to see). A
 * job only ever depends on jobs that exist before it: no cycle can form (spool-layout.md 5.5). */
static int check_dep(spool_t *sp, const char *dep, const char *opt, size_t each_n, char *err, size_t errlen)
{
	char job[NAME_MAX_LEN + 1];
	uint64_t task;
	struct spool_job *j;
	int nf;
	if (!dep || strlen(dep) > MAX_DEP_LEN || jobref_parse(dep, job, sizeof job, &task) < 0 ||
	    (each_n && task)) {
		snprintf(err, errlen, "%s '%.100s' is not %s", opt, dep ? dep : "", each_n ? "a job id" : "JOB or JOB.TASK "
			 "(a job id like 4k7x0qz2ma, and a task number from 1)");
		return -SPOOL_ERR_USAGE;
	}
	if (spool_job_summary(sp, job, &j, &nf, err, errlen) < 0) {
		if (nf || errno == EACCES) {
			size_t n = strlen(err);
			snprintf(err + n, errlen - n, " (%s: a job may depend only on existing jobs of its owner's)", opt);
			return -SPOOL_ERR_NO_JOB;
		}
		return -1;
	}
	int rc = 0;
	if (task && j->accepted && j->ntasks && task > j->ntasks) {
		snprintf(err, errlen, "%s %s: job %s has %zu task%s, there is no task %llu", opt, dep, job, j->ntasks,
			 j->ntasks == 1 ? "" : "s", (unsigned long long)task);
		rc = -SPOOL_ERR_NO_JOB;
	} else if (each_n && j->accepted && j->ntasks && j->ntasks != each_n) {
		snprintf(err, errlen, "%s %s: that job has %zu task%s and this map %zu: task i waits on task i, so "
			 "both need as many", opt, job, j->ntasks, j->ntasks == 1 ? "" : "s", each_n);
		rc = -SPOOL_ERR_USAGE;
	}
	spool_job_free(j);
	return rc;
}

static int check_deps(spool_t *sp, const struct spool_job_spec *s, char *err, size_t errlen)
{
	int rc;
	if (s->nafter + s->nafterok > MAX_DEPS) {
		snprintf(err, errlen, "%zu dependencies, limit %d per job", s->nafter + s->nafterok, MAX_DEPS);
		return -SPOOL_ERR_USAGE;
	}
	if (s->after_each && !s->is_map) {
		snprintf(err, errlen, "--after-each pairs the tasks of two maps: this job is not a map (use --afterok)");
		return -SPOOL_ERR_USAGE;
	}
	for (size_t i = 0; i < s->nafter; i++)
		if ((rc = check_dep(sp, s->after[i], "--after", 0, err, errlen)) < 0)
			return rc;
	for (size_t i = 0; i < s->nafterok; i++)
		if ((rc = check_dep(sp, s->afterok[i], "--afterok", 0, err, errlen)) < 0)
			return rc;
	if (s->after_each && (rc = check_dep(sp, s->after_each, "--after-each", s->nitems ? s->nitems : 1, err,
					      errlen)) < 0)
		return rc;
	return 0;
}

const char *spool_conf_defaults(void)
{
	return conf_template();
}

static bool job_id_taken(spool_t *sp, const char *jobid)
{
	char job[32], state[32];
	snprintf(job, sizeof job, "%s.job", jobid);
	snprintf(state, sizeof state, "%s.state", jobid);
	return faccessat(sp->sd.incoming, job, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	       faccessat(sp->sd.ctl_jobs, job, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	       faccessat(sp->sd.ctl_jobs, state, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* 50 random bits; the controller refuses a clash with a job it already has. */
int spool_job_id_new(spool_t *sp, char jobid[16], char *err, size_t errlen)
{
	for (int tries = 0; tries <= 10; tries++) {
		if (id_random(jobid, JOBID_LEN) < 0) {
			snprintf(err, errlen, "cannot get random bytes for a job id: %s", strerror(errno));
			return -1;
		}
		if (!job_id_taken(sp, jobid))
			return 0;
	}
	snprintf(err, errlen, "cannot find a free job id in %s", sp->sd.path);
	return -1;
}

int spool_outdir_open(spool_t *sp, const char *path, char *err, size_t errlen)
{
	(void)sp;
	if (!path || path[0] != '/') {
		snprintf(err, errlen, "output directory '%s' is not absolute: give a full path", path ? path : "");
		errno = EINVAL;
		return -1;
	}
	return outdir_open(path, err, errlen);
}

int spool_submit(spool_t *sp, const struct spool_job_spec *s, char jobid[16], char *err, size_t errlen)
{
	struct err e;
	struct buf b;
	char cwdbuf[MAX_PATH_LEN + 1], name[32], node[72];
	const char *cwd = s->cwd;
	int rc = -1;

	if (!cwd) {
		if (!getcwd(cwdbuf, sizeof cwdbuf)) {
			snprintf(err, errlen, "cannot get the current directory: %s (use --cwd)", strerror(errno));
			return -1;
		}
		cwd = cwdbuf;
	}
	if (check_spec(s, cwd, &e) < 0) {
		set_err(err, errlen, e.msg);
		return -1;
	}
	if (s->stdin_path && (s->stdin_path[0] != '/' || strlen(s->stdin_path) > MAX_PATH_LEN)) {
		snprintf(err, errlen, "standard input file '%.200s' is not an absolute path of at most %d bytes",
			 s->stdin_path, MAX_PATH_LEN);
		return -SPOOL_ERR_USAGE;
	}
	if (s->mem && (s->mem < MIN_MEM || s->mem > MAX_MEM)) {
		snprintf(err, errlen, "memory limit of %" PRIu64 " bytes is out of range: give 1M to 1P", s->mem);
		return -SPOOL_ERR_USAGE;
	}
	if (s->mem && s->builtin) {
		snprintf(err, errlen, "a memory limit applies to a task's own processes, not to a builtin %s job "
			 "(it runs inside the engine)", s->builtin);
		return -SPOOL_ERR_USAGE;
	}
	if (check_items(s, &e) < 0) {
		set_err(err, errlen, e.msg);
		return -SPOOL_ERR_USAGE;
	}
	if ((rc = check_deps(sp, s, err, errlen)) < 0)
		return rc;
	rc = -1;
	if (s->jobid) {
		if (strlen(s->jobid) != JOBID_LEN || !name_ok(s->jobid) || strchr(s->jobid, '.')) {
			snprintf(err, errlen, "'%s' is not a job id from spool_job_id_new", s->jobid);
			return -SPOOL_ERR_USAGE;
		}
		memcpy(jobid, s->jobid, JOBID_LEN + 1);
		if (job_id_taken(sp, jobid)) {
			snprintf(err, errlen, "job id %s is already used in %s: get another from spool_job_id_new", jobid,
				 sp->sd.path);
			return -SPOOL_ERR_USAGE;
		}
	} else if (spool_job_id_new(sp, jobid, err, errlen) < 0) {
		return -1;
	}
	snprintf(name, sizeof name, "%s.job", jobid);
	node_name(node, sizeof node);
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", jobid);
	if (s->name)
		rec_put(&b, "name", s->name);
	rec_put(&b, "cwd", cwd);
	if (s->outdir)
		rec_put(&b, "outdir", s->outdir);
	if (s->timeout_ms)
		rec_put_u64(&b, "timeout_ms", s->timeout_ms);
	if (s->retries >= 0)
		rec_put_u64(&b, "retries", (uint64_t)s->retries);
	if (s->mem)
		rec_put_u64(&b, "mem", s->mem);
	if (s->priority) {
		char pr[16];
		snprintf(pr, sizeof pr, "%d", s->priority);
		rec_put(&b, "priority", pr);
	}
	if (s->max_running)
		rec_put_u64(&b, "max_running", s->max_running);
	if (s->is_map)
		rec_put(&b, "map", "1");
	if (s->is_apply)
		rec_put(&b, "apply", "1");
	if (s->targets)
		rec_put(&b, "targets", s->targets);
	if (s->schedule)
		rec_put(&b, "schedule", s->schedule);
	if (s->builtin)
		rec_put(&b, "builtin", s->builtin);
	for (size_t i = 0; i < s->nafter; i++)
		rec_put(&b, "after", s->after[i]);
	for (size_t i = 0; i < s->nafterok; i++)
		rec_put(&b, "afterok", s->afterok[i]);
	if (s->after_each)
		rec_put(&b, "after_each", s->after_each);
	if (s->retry_on_failure)
		rec_put(&b, "retry_on_failure", "1");
	if (s->retry_of)
		rec_put(&b, "retry_of", s->retry_of);
	rec_put(&b, "client_node", node);
	put_order(&b);
	/* The submitter's umask: the task and its files beside the data get it, as at a login. */
	mode_t mask = umask(0);
	umask(mask);
	rec_put_u64(&b, "umask", (uint64_t)(mask & 0777));
	/* The interpreter of a Python call travels as SPOOL_PYTHON in the task's environment. */
	if (s->env_set) {
		for (size_t i = 0; i < s->nenv; i++)
			if ((!s->python || !python_var(s->env[i])) && !stdin_var(s->env[i]))
				rec_put(&b, "env", s->env[i]);
	} else {
		for (char **ep = environ; ep && *ep; ep++) /* within the limits: check_env said so */
			if (strchr(*ep, '=') && **ep != '=' && (!s->python || !python_var(*ep)) && !stdin_var(*ep))
				rec_put(&b, "env", *ep);
	}
	if (s->python) {
		char *kv = xasprintf("SPOOL_PYTHON=%s", s->python);
		rec_put(&b, "env", kv);
		free(kv);
	}
	if (s->stdin_path) {
		char *kv = xasprintf("SPOOL_STDIN=%s", s->stdin_path);
		rec_put(&b, "env", kv);
		free(kv);
	}
	for (size_t i = 0; i < s->argc; i++)
		rec_put(&b, "arg", s->argv[i]);
	size_t ns = s->nsources ? s->nsources : 1;
	struct buf it;
	buf_init(&it);
	for (size_t k = 0; k < s->nitems; k += ns) { /* one field per task: its values, 0x1F between */
		buf_reset(&it);
		for (size_t j = k; j < k + ns; j++) {
			if (j > k)
				buf_addc(&it, REPL_SEP);
			buf_adds(&it, s->items[j]);
		}
		rec_putn(&b, "item", it.p ? it.p : "", it.len);
	}
	buf_free(&it);
	rec_end(&b);
	if (b.len > MAX_JOB_RECORD) {
		snprintf(err, errlen, "the job record would be %zu bytes, limit %u: split the input", b.len,
			 MAX_JOB_RECORD);
		goto out;
	}
	/* Durable before we answer: tmp + rename + fsync of the record and of incoming/ (on a local
	 * filesystem the controller may start on it during the fsyncs: spool-layout.md 3.1). */
	int wrc = fs_write_atomic(sp->sd.incoming, name, b.p, b.len, SUBMIT_MODE, record_flags(sp), &e);
	if (wrc == FSW_IN_PLACE) {
		snprintf(err, errlen, "job %s reached %s/incoming but may not be on disk: %s; it may still run "
			 "('spool status %s' tells)", jobid, sp->sd.path, e.msg, jobid);
		goto out;
	}
	if (wrc < 0) {
		snprintf(err, errlen, "cannot submit to %s/incoming: %s (nothing was submitted)", sp->sd.path, e.msg);
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* A request about a job, JOBID.RAND.KIND in incoming/ (a cancel, a hold or release): b holds
 * the record from rec_begin on; it is ordered with this client's other records, ended, written
 * durably and freed. what names the request in the error. */
static int send_request(spool_t *sp, const char *jobid, const char *kind, const char *what, struct buf *b,
			char *err, size_t errlen)
{
	struct err e;
	char rnd[9], name[96];
	int rc = 0;
	id_random(rnd, 8);
	snprintf(name, sizeof name, "%s.%s.%s", jobid, rnd, kind);
	put_order(b);
	rec_end(b);
	int wrc = fs_write_atomic(sp->sd.incoming, name, b->p, b->len, SUBMIT_MODE, record_flags(sp), &e);
	if (wrc < 0) {
		snprintf(err, errlen, "%s the %s request to %s/incoming: %s%s",
			 wrc == FSW_IN_PLACE ? "wrote" : "cannot write", what, sp->sd.path, e.msg,
			 wrc == FSW_IN_PLACE ? " (it may still take effect)" : "");
		rc = -1;
	}
	buf_free(b);
	return rc;
}

int spool_cancel(spool_t *sp, const char *jobid, uint64_t task, char *err, size_t errlen)
{
	struct spool_job *j;
	struct buf b;
	int nf;

	if (spool_job_summary(sp, jobid, &j, &nf, err, errlen) < 0)
		return nf ? -SPOOL_ERR_NO_JOB : -1;
	if (task && j->accepted && j->ntasks && task > j->ntasks) {
		snprintf(err, errlen, "job %s has %zu tasks: there is no task %llu", jobid, j->ntasks,
			 (unsigned long long)task);
		spool_job_free(j);
		return -SPOOL_ERR_NO_JOB;
	}
	spool_job_free(j);
	buf_init(&b);
	rec_begin(&b, "cancel");
	rec_put(&b, "job", jobid);
	if (task)
		rec_put_u64(&b, "task", task);
	return send_request(sp, jobid, "cancel", "cancel", &b, err, errlen);
}

/* A hold or release request, JOBID.RAND.hold (spool-layout.md 3.2). */
static int hold_request(spool_t *sp, const char *jobid, const char *op, char *err, size_t errlen)
{
	struct spool_job *j;
	struct buf b;
	int nf;

	if (spool_job_summary(sp, jobid, &j, &nf, err, errlen) < 0)
		return nf ? -SPOOL_ERR_NO_JOB : -1;
	spool_job_free(j);
	buf_init(&b);
	rec_begin(&b, "hold");
	rec_put(&b, "job", jobid);
	rec_put(&b, "op", op);
	return send_request(sp, jobid, "hold", op, &b, err, errlen);
}

/* Checked here for a clear answer; the controller checks again (anyone may write a record). */
int spool_purge(spool_t *sp, const char *jobid, char *err, size_t errlen)
{
	struct spool_job *j;
	struct buf b;
	int nf;

	if (spool_job_summary(sp, jobid, &j, &nf, err, errlen) < 0)
		return nf ? -SPOOL_ERR_NO_JOB : -1;
	if (!j->accepted || !j->done) {
		const char *why = !j->accepted ? "not accepted by the controller yet" : j->held ? "held"
				: j->waiting ? "waiting on a dependency" : "still queued or running";
		snprintf(err, errlen, "job %s is %s: only a finished job is purged (cancel it first, or wait for it)",
			 jobid, why);
		spool_job_free(j);
		return -SPOOL_ERR_USAGE;
	}
	spool_job_free(j);
	buf_init(&b);
	rec_begin(&b, "purge");
	rec_put(&b, "job", jobid);
	return send_request(sp, jobid, "purge", "purge", &b, err, errlen);
}

int spool_hold(spool_t *sp, const char *jobid, char *err, size_t errlen)
{
	return hold_request(sp, jobid, "hold", err, errlen);
}

int spool_release(spool_t *sp, const char *jobid, char *err, size_t errlen)
{
	return hold_request(sp, jobid, "release", err, errlen);
}
