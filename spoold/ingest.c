/* ingest.c - take job and cancel records from incoming/ into the queue.
 *
 * A job record becomes queue state in one transaction; only once that commit is
 * durable (ingest_settle) is the record moved to ctl/jobs/ID.job (kept: with the
 * published state it is what a rebuild of the database starts from). A crash
 * between the two is repaired on the next pass: the id is in the database, so the
 * move is redone (or, if the commit was lost, the record is taken again).
 * Anything that fails validation goes to quarantine/ with a reason beside it.
 */
#include "ctl.h"
#include "depend.h"
#include "jobstate.h"
#include "queue.h"
#include "assignrec.h"
#include "repl.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INGEST_BATCH 2000           /* records per pass, so one flood cannot stall the loop */
#define JUNK_PER_PASS 1000          /* bad names quarantined per pass, after the good records */
#define JUNK_PASS_MS 50             /* ... and for at most this long (the first 1,000 are fsync'd) */
#define SETTLE_MS 1000              /* longest an accepted job's record waits for a sync ... */
#define SETTLE_MAX 1000             /* ... and most records waiting: moves are batched, each batch
				     * costs two directory fsyncs, off every job's way */
#define TRASH_PER_PASS 5000         /* entries of rejected directory trees removed per pass */


/* The count is kept in memory, but listed again (at most once a second) while it is at the
 * limit: an administrator who empties quarantine/ must get records kept again. */
static void quarantine_recount(struct ctl *c)
{
	char **names;
	if (c->quarantine_count >= 0 &&
	    (c->quarantine_count < QUARANTINE_MAX_RECORDS || c->now - c->quarantine_counted_at < 1000))
		return;
	long n = fs_list(c->sd.quarantine, &names, NULL);
	c->quarantine_count = n < 0 ? 0 : n / 2;
	c->quarantine_counted_at = c->now;
	fs_list_free(names, n);
}

/* A rejected directory (of any size or depth) leaves incoming/ at once, renamed to
 * quarantine/.trash.RAND (hidden from readers), and is removed from there a bounded number of
 * entries per pass, so no tree can stall the loop. */

static void trash_dir(struct ctl *c, int dirfd, const char *name)
{
	char rnd[9], tname[32];
	id_random(rnd, 8);
	snprintf(tname, sizeof tname, ".trash.%s", rnd);
	if (renameat(dirfd, name, c->sd.quarantine, tname) < 0) {
		log_err("cannot move rejected directory %s to quarantine/%s: %s; removing it in place", name, tname,
			strerror(errno));
		fs_remove_tree(dirfd, name);
		return;
	}
	c->trash_pending = true;
}

/* Returns true when trees remain for the next pass. */
static bool trash_sweep(struct ctl *c)
{
	if (!c->trash_pending)
		return false;
	int fd = dup(c->sd.quarantine);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	bool more = false;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, ".trash.", 7) != 0)
			continue;
		int rc = more ? 1 : fs_remove_tree_some(c->sd.quarantine, de->d_name, TRASH_PER_PASS);
		if (rc < 0)
			log_err("cannot remove rejected directory %s/quarantine/%s: %s (remove it by hand)", c->sd.path,
				de->d_name, strerror(errno));
		more |= rc == 1;
	}
	closedir(d);
	c->trash_pending = more;
	return more;
}

void quarantine_file(struct ctl *c, int dirfd, const char *name, const char *reason)
{
	struct err e;
	char qname[256], rname[300];
	char rnd[9], cname[3 * 256], creason[3 * sizeof e.msg];

	/* Names and reasons can carry bytes from hostile records (a file name with a newline):
	 * cleaned, so that each rejection stays one log line and each .reason file one line. */
	text_clean(cname, sizeof cname, name);
	text_clean(creason, sizeof creason, reason);
	log_warn("rejected %s/%s: %s", dirfd == c->sd.incoming ? "incoming" : "workers", cname, creason);
	quarantine_recount(c);
	if (c->quarantine_count >= QUARANTINE_MAX_RECORDS) {
		log_warn("quarantine holds %d records already: deleting %s instead of keeping it "
			 "(empty %s/quarantine to keep more)", QUARANTINE_MAX_RECORDS, cname, c->sd.path);
		if (unlinkat(dirfd, name, 0) < 0 && errno == EISDIR)
			trash_dir(c, dirfd, name);
		return;
	}
	id_random(rnd, 8);
	snprintf(qname, sizeof qname, "%s.%.200s", rnd, name);
	snprintf(rname, sizeof rname, "%s.reason", qname);
	if (renameat(dirfd, name, c->sd.quarantine, qname) < 0) {
		log_err("cannot move rejected record %s to quarantine: %s; deleting it", cname, strerror(errno));
		unlinkat(dirfd, name, 0);
		return;
	}
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "%s\n", creason);
	if (fs_write_atomic(c->sd.quarantine, rname, b.p, b.len, 0644, 0, &e) < 0)
		log_err("cannot write %s/quarantine/%s: %s", c->sd.path, rname, e.msg);
	buf_free(&b);
	c->quarantine_count++;
}

static int env_ok(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq && eq != kv;
}

/* Check what the schema cannot: cross-field rules and path shapes. */
#define PRIORITY_MAX 1000000000

/* The job's priority (0 when not given) in *out; -1 when it is not an integer in range. */
static int job_priority(const struct rec *r, int64_t *out)
{
	const char *v = rec_get(r, "priority");
	char *end;
	if (out)
		*out = 0;
	if (!v)
		return 0;
	errno = 0;
	long long p = strtoll(v, &end, 10);
	if (!*v || *end || errno || p < -PRIORITY_MAX || p > PRIORITY_MAX)
		return -1;
	if (out)
		*out = p;
	return 0;
}

int validate_job(const struct rec *r, const char *stem, struct err *e)
{
	const char *id = rec_get(r, "id"), *cwd = rec_get(r, "cwd"), *out = rec_get(r, "outdir");
	const char *name = rec_get(r, "name");
	int is_map = rec_get_u64(r, "map", 0) != 0;

	if (!name_ok(id) || strchr(id, '.') || strcmp(id, stem) != 0)
		return err_set(e, "job id '%s' is invalid or does not match the file name", id);
	/* The queue stores them as signed 64-bit integers: a larger one would turn negative. */
	static const char *const nums[] = { "timeout_ms", "retries" };
	for (size_t i = 0; i < ARRAY_LEN(nums); i++)
		if (rec_get_u64(r, nums[i], 0) > INT64_MAX)
			return err_set(e, "field '%s' is larger than %lld", nums[i], (long long)INT64_MAX);
	if (rec_get(r, "priority") && job_priority(r, NULL) < 0)
		return err_set(e, "priority '%s' is not an integer between %d and %d", rec_get(r, "priority"),
			       -PRIORITY_MAX, PRIORITY_MAX);
	if (rec_get_u64(r, "max_running", 0) > UINT32_MAX)
		return err_set(e, "max_running '%s' is larger than %u", rec_get(r, "max_running"), (unsigned)UINT32_MAX);
	const char *mem = rec_get(r, "mem");
	uint64_t mv;
	if (mem && (parse_u64(mem, MAX_MEM, &mv) < 0 || mv < MIN_MEM))
		return err_set(e, "memory limit '%s' is not a number of bytes from %llu to %llu", mem,
			       (unsigned long long)MIN_MEM, (unsigned long long)MAX_MEM);
	if (mem && rec_get(r, "builtin"))
		return err_set(e, "a memory limit on a builtin job, which runs inside the engine");
	if (cwd[0] != '/')
		return err_set(e, "working directory '%s' is not absolute", cwd);
	if (out && out[0] != '/')
		return err_set(e, "output directory '%s' is not absolute", out);
	if (name && !label_ok(name, MAX_LABEL_LEN))
		return err_set(e, "job name has control characters");
	if (!is_map && rec_count(r, "item") > 0)
		return err_set(e, "items given for a job that is not a map");
	const char *sched = rec_get(r, "schedule"), *tg = rec_get(r, "targets"), *bi = rec_get(r, "builtin");
	int is_apply = rec_get_u64(r, "apply", 0) != 0;
	if (sched && strcmp(sched, "balanced") != 0 && strcmp(sched, "static") != 0)
		return err_set(e, "schedule '%s' is neither balanced nor static", sched);
	if (is_apply && is_map)
		return err_set(e, "a job cannot be both an apply and a map");
	/* push and pull act on an engine's shell variables, so only an apply; a Python call may be any job. */
	if (bi && strcmp(bi, "python") != 0 &&
	    (!is_apply || (strcmp(bi, "push") != 0 && strcmp(bi, "pull") != 0)))
		return err_set(e, "builtin '%s' is not push or pull on an apply, or python", bi);
	if (bi && strcmp(bi, "python") == 0 && (!out || strchr(rec_get(r, "arg"), '/')))
		return err_set(e, "a Python call needs an output directory and the name of its call file in it");
	if (tg) {
		int64_t *ids;
		size_t n;
		if (targets_parse(tg, &ids, &n) < 0)
			return err_set(e, "targets '%.40s' is not 'all' or a list of distinct engine ids", tg);
		free(ids);
	}
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->f[i].key, "env") == 0 && !env_ok(r->f[i].val))
			return err_set(e, "environment entry on line %u is not NAME=VALUE", r->f[i].line);
		if (strcmp(r->f[i].key, "arg") == 0 && r->f[i].len == 0 && i == 0)
			return err_set(e, "empty command name");
	}
	const char *arg0 = rec_get(r, "arg");
	if (!arg0 || !*arg0)
		return err_set(e, "empty command name");
	return deps_validate(r, e);
}

/* argv and env are stored as NUL-separated blobs: decoded once, never re-parsed. */
static void join_field(const struct rec *r, const char *key, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			buf_add(b, r->f[i].val, r->f[i].len + 1);
}

/* The live engines among the targets, in id order. */
size_t live_targets(struct ctl *c, const char *targets, int64_t **out)
{
	int64_t *want = NULL, *ids = NULL;
	size_t nw = 0, n = 0, cap = 0;
	if (targets)
		targets_parse(targets, &want, &nw);
	sqlite3_stmt *st = db_prep(c, "SELECT id FROM engines WHERE alive = 1 ORDER BY id");
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (!targets_has(want, nw, id))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = id;
	}
	sqlite3_reset(st);
	free(want);
	*out = ids;
	return n;
}

/* The expanded size of every task, computed from the record (the longest item makes the largest
 * task): 0 if they all fit the assign schema, else -1 with the reason. O(record), builds nothing. */
static int check_expansion(const struct rec *r, const char *outdir, const struct buf *argv, const struct buf *env,
			   size_t ntasks, struct err *e)
{
	const char *id = rec_get(r, "id");
	struct assign_tmpl t = { .id = id, .name = rec_get(r, "name"), .cwd = rec_get(r, "cwd"), .outdir = outdir,
				 .builtin = rec_get(r, "builtin"),
				 .timeout_ms = (int64_t)rec_get_u64(r, "timeout_ms", 1), .owner = 0, .umask = 0777,
				 .mem = (int64_t)rec_get_u64(r, "mem", 0),
				 .is_map = rec_get_u64(r, "map", 0) != 0,
				 .argv = argv->p ? argv->p : "", .argv_len = argv->len,
				 .env = env->p ? env->p : "", .env_len = env->len };
	uint64_t max_len = 0, max_esc = 0;
	for (size_t i = 0; t.is_map && i < r->n; i++) {
		if (strcmp(r->f[i].key, "item") != 0)
			continue;
		uint64_t esc = rec_escaped_len(r->f[i].val, r->f[i].len);
		size_t nsrc = repl_nsrc(r->f[i].val, r->f[i].len);
		if (r->f[i].len > max_len)
			max_len = r->f[i].len;
		if (esc > max_esc)
			max_esc = esc;
		if (nsrc > t.nsrc)
			t.nsrc = nsrc;
	}
	/* The client refuses these first; a record written otherwise is refused the same. */
	size_t argno = 0;
	for (size_t o = 0; t.is_map && o < t.argv_len; o += strlen(t.argv + o) + 1)
		if (repl_check(t.argv + o, ++argno, t.nsrc, e) < 0)
			return -1;
	return assign_check(&t, max_len, max_esc, ntasks ? ntasks : 1, e);
}

/* A job whose tasks would not fit the limits is refused whole but still gets a state: one task,
 * failed with the reason (as an apply with no live engine), so `spool collect` says why. Nothing
 * of its command, environment or items is kept. Inside the caller's transaction. */
/* The command shown by status: the arguments joined by spaces, at most JOBSTATE_CMD_MAX bytes. */
static char *short_command(const struct rec *r)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < r->n && b.len < JOBSTATE_CMD_MAX; i++) {
		if (strcmp(r->f[i].key, "arg") != 0)
			continue;
		if (b.len)
			buf_addc(&b, ' ');
		buf_add(&b, r->f[i].val, r->f[i].len < JOBSTATE_CMD_MAX ? r->f[i].len : JOBSTATE_CMD_MAX);
	}
	if (b.len > JOBSTATE_CMD_MAX) {
		b.len = JOBSTATE_CMD_MAX - 3;
		while (b.len && (b.p[b.len] & 0xc0) == 0x80) /* not inside a UTF-8 character */
			b.len--;
		buf_adds(&b, "...");
	}
	buf_addc(&b, '\0');
	return buf_steal(&b);
}

static void job_from_record(struct queue_job *q, const struct rec *r, uid_t owner, const char *outdir)
{
	memset(q, 0, sizeof *q);
	q->id = rec_get(r, "id");
	q->name = rec_get(r, "name");
	q->cwd = rec_get(r, "cwd");
	q->outdir = outdir;
	q->owner = owner;
	q->umask = -1;
}

/* A job whose tasks would not fit the limits is refused whole but still gets a state: one task,
 * failed with the reason (as an apply with no live engine), so `spool collect` says why. Nothing
 * of its command, environment or items is kept. Inside the caller's transaction. */
static int insert_refused(struct ctl *c, const struct rec *r, uid_t owner, const char *outdir, const char *why)
{
	struct queue_job q;
	char reason[MAX_REASON_LEN];
	uint64_t counts[SPOOL_TASK_NSTATES] = { 0 };
	snprintf(reason, sizeof reason, "job refused: %.1000s", why);
	/* The published state holds at most MAX_PATH_LEN: a default outdir past it is shown as cwd. */
	job_from_record(&q, r, owner, strlen(outdir) <= MAX_PATH_LEN ? outdir : rec_get(r, "cwd"));
	q.ntasks = 1;
	counts[SPOOL_TASK_FAILED] = 1;
	int64_t rid = queue_job_add(c, &q);
	if (rid < 0 || queue_task_add(c, rid, 1, NULL, 0, -1, SPOOL_TASK_FAILED, reason, 0) < 0 ||
	    queue_job_added(c, rid, counts) < 0) {
		log_err("database: cannot insert refused job %s", q.id);
		return -1;
	}
	log_warn("refused job %s of uid %u: %s", q.id, (unsigned)owner, why);
	return 0;
}

/* A queued task of the job: the dependencies it waits on, or skipped (its reason in the ring). */
static int depends(struct ctl *c, const struct dep_plan *p, char (*ring)[MAX_REASON_LEN], int64_t idx,
		   enum spool_task_state *st, const char **why, int64_t *waits)
{
	char *slot = ring ? ring[(idx - 1) % QUEUE_ADD_BATCH] : NULL;
	char none[1];
	if (deps_task(c, p, idx, waits, slot ? slot : none, slot ? MAX_REASON_LEN : sizeof none) < 0)
		return -1;
	if (slot && slot[0]) {
		*st = SPOOL_TASK_SKIPPED;
		*why = slot;
		*waits = 0;
	}
	return 0;
}

int insert_job(struct ctl *c, const struct rec *r, uid_t owner, struct err *refused)
{
	const char *id = rec_get(r, "id"), *cwd = rec_get(r, "cwd"), *out = rec_get(r, "outdir");
	const char *targets = rec_get(r, "targets");
	const char *sched = rec_get(r, "schedule");
	int is_map = rec_get_u64(r, "map", 0) != 0, is_apply = rec_get_u64(r, "apply", 0) != 0;
	size_t nitems = rec_count(r, "item");
	int64_t *live = NULL;
	size_t nlive = 0;
	if (targets && strcmp(targets, "all") == 0)
		targets = NULL;
	/* apply: one task per live target engine; static: items split evenly over them, now. */
	if (is_apply || (is_map && sched && strcmp(sched, "static") == 0))
		nlive = live_targets(c, targets, &live);
	size_t ntasks = is_apply ? (nlive ? nlive : 1) : is_map ? nitems : 1;
	/* Engine ids are never reused: targets none of which is alive now can never run anything. */
	int doomed = 0;
	if (targets && !is_apply) {
		int64_t *lt;
		doomed = live_targets(c, targets, &lt) == 0;
		free(lt);
	}
	/* A submit or map aimed at one engine is pinned to it too, so that it stays in order with
	 * the push, pull and apply tasks aimed at that engine (pinned tasks are assigned first). */
	int64_t one = 0;
	if (!is_apply && !nlive && targets) {
		int64_t *t1;
		size_t n1;
		if (targets_parse(targets, &t1, &n1) == 0 && n1 == 1)
			one = t1[0];
		free(t1);
	}
	struct buf argv, env;
	char *outdir = out ? xstrdup(out) : xasprintf("%s/spool-%s", cwd, id);
	char *command = NULL;
	uint64_t counts[SPOOL_TASK_NSTATES] = { 0 };
	int rc = -1;
	struct dep_plan plan = { 0 };
	char (*ring)[MAX_REASON_LEN] = NULL;

	buf_init(&argv);
	buf_init(&env);
	join_field(r, "arg", &argv);
	join_field(r, "env", &env);
	if (check_expansion(r, outdir, &argv, &env, ntasks, refused) < 0) {
		rc = insert_refused(c, r, owner, outdir, refused->msg) < 0 ? -1 : 1;
		goto out;
	}
	refused->msg[0] = '\0';
	int dr = deps_plan(c, r, owner, ntasks, &plan, refused);
	if (dr != 0) {
		rc = dr < 0 ? -1 : insert_refused(c, r, owner, outdir, refused->msg) < 0 ? -1 : 1;
		goto out;
	}
	/* Skip reasons live until their batch of rows is inserted: one slot per row of a batch. */
	if (plan.skip || plan.each_rid)
		ring = xmalloc(QUEUE_ADD_BATCH * sizeof *ring);
	struct queue_job q;
	job_from_record(&q, r, owner, outdir);
	command = short_command(r);
	q.command = command;
	q.targets = targets;
	q.builtin = rec_get(r, "builtin");
	q.timeout_ms = (int64_t)rec_get_u64(r, "timeout_ms", c->sd.conf.timeout_ms);
	q.retries = (int64_t)rec_get_u64(r, "retries", c->sd.conf.retries);
	q.is_map = is_map;
	q.retry_on_failure = rec_get_u64(r, "retry_on_failure", 0) != 0;
	q.argv = argv.p;
	q.argv_len = argv.len;
	q.env = env.p;
	q.env_len = env.len;
	q.ntasks = ntasks;
	if (rec_get(r, "umask"))
		q.umask = (int64_t)(rec_get_u64(r, "umask", 022) & 0777);
	job_priority(r, &q.priority);
	q.max_running = rec_get_u64(r, "max_running", 0);
	q.mem = (int64_t)rec_get_u64(r, "mem", 0);
	int64_t rid = queue_job_add(c, &q);
	if (rid < 0)
		goto out;
	size_t idx = 0;
	for (size_t k = 0; !is_map && k < ntasks; k++) {
		int64_t pin = -1;
		enum spool_task_state st = SPOOL_TASK_QUEUED;
		const char *why = NULL;
		if (is_apply && nlive) {
			pin = live[k];
		} else if (doomed) {
			st = SPOOL_TASK_FAILED;
			why = DOOMED_REASON;
		} else if (one) {
			pin = one;
		} else if (is_apply) {
			st = SPOOL_TASK_FAILED;
			why = targets ? "none of the target engines is alive" : "no live engines (start spool-worker)";
		} else if (targets) {
			pin = PIN_TARGETS;
		}
		int64_t waits = 0;
		if (st == SPOOL_TASK_QUEUED && depends(c, &plan, ring, (int64_t)k + 1, &st, &why, &waits) < 0)
			goto out;
		counts[st]++;
		if (queue_task_add(c, rid, (int64_t)k + 1, NULL, 0, pin, st, why, waits) < 0)
			goto out;
	}
	for (size_t i = 0; is_map && i < r->n; i++) {
		if (strcmp(r->f[i].key, "item") != 0)
			continue;
		int64_t pin = -1;
		idx++;
		if (nlive) /* contiguous chunks, as DirectView.map splits its input */
			pin = live[(idx - 1) * nlive / nitems];
		else if (one)
			pin = one;
		else if (targets)
			pin = PIN_TARGETS;
		enum spool_task_state st = doomed ? SPOOL_TASK_FAILED : SPOOL_TASK_QUEUED;
		const char *why = doomed ? DOOMED_REASON : NULL;
		int64_t waits = 0;
		if (!doomed && depends(c, &plan, ring, (int64_t)idx, &st, &why, &waits) < 0)
			goto out;
		counts[st]++;
		if (queue_task_add(c, rid, (int64_t)idx, r->f[i].val, r->f[i].len, pin, st, why, waits) < 0)
			goto out;
	}
	if (queue_job_added(c, rid, counts) < 0 || deps_record(c, rid, &plan) < 0)
		goto out;
	log_info("accepted job %s: %zu task%s, owner uid %u", id, ntasks, ntasks == 1 ? "" : "s", (unsigned)owner);
	rc = 0;
out:
	buf_free(&argv);
	buf_free(&env);
	free(outdir);
	free(command);
	free(live);
	free(ring);
	deps_plan_free(&plan);
	return rc;
}

/* A job in the queue that was refused at ingest: its one task's reason starts "job refused: ". */
static int job_refused_reason(struct ctl *c, const char *id, struct err *e)
{
	sqlite3_stmt *q = db_prep(c, "SELECT t.reason FROM jobs j JOIN tasks t ON t.rid = j.rid AND t.idx = 1"
				     " WHERE j.id = ? AND j.ntasks = 1 AND t.reason LIKE 'job refused: %'");
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	int found = sqlite3_step(q) == SQLITE_ROW;
	if (found)
		snprintf(e->msg, sizeof e->msg, "%s", (const char *)sqlite3_column_text(q, 0) + strlen("job refused: "));
	sqlite3_reset(q);
	return found;
}

static void move_later(struct ctl *c, const char *stem, const struct stat *st);
static int settling(const struct ctl *c, const char *stem, const struct stat *st);
static bool settling_name(const struct ctl *c, const char *name, const struct stat *st);

/* Returns true when the record waits for a job it depends on, still in incoming/ (may_defer). */
static bool accept_job_step(struct ctl *c, const char *name, struct buf *data, const struct stat *st, bool may_defer)
{
	char stem[80], dest[96];
	struct rec r;
	struct err e;
	size_t n = strlen(name) - 4;

	if (n >= sizeof stem) {
		quarantine_file(c, c->sd.incoming, name, "file name too long");
		return false;
	}
	memcpy(stem, name, n);
	stem[n] = '\0';
	if (rec_parse(&r, data->p, data->len, &schema_job, &e) < 0 || validate_job(&r, stem, &e) < 0) {
		if (r.mem)
			rec_free(&r);
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return false;
	}
	/* The record holds its own copy: a map's read buffer (megabytes) goes before the insert. */
	if (data->len > MAX_SMALL_RECORD)
		buf_free(data);
	snprintf(dest, sizeof dest, "%s.job", stem);
	struct err refused;
	if (db_job_rid(c, stem) >= 0) {
		/* Already in the queue: either we crashed after the commit (finish the move, or the
		 * quarantine of a refused job), or a different record reuses an id (refuse it). The
		 * commit may have been lazy and a crash of spoold alone leaves it unsynced: sync first. */
		int own = settling(c, stem, st);
		if (own > 0)
			; /* ours, waiting for a sync (ingest_settle): taken already */
		else if (own == 0 || faccessat(c->sd.ctl_jobs, dest, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			quarantine_file(c, c->sd.incoming, name, "a job with this id already exists (resubmit it)");
		else if (db_sync(c) < 0)
			log_err("job %s stays in incoming/ until the database can be synced", stem);
		else if (job_refused_reason(c, stem, &refused)) {
			publish_job(c, db_job_rid(c, stem));
			quarantine_file(c, c->sd.incoming, name, refused.msg);
		}
		else if (renameat(c->sd.incoming, name, c->sd.ctl_jobs, dest) < 0)
			log_err("cannot move %s to ctl/jobs/%s: %s", name, dest, strerror(errno));
		rec_free(&r);
		return false;
	}
	/* A job it depends on is behind it in this pass (their mtimes tie): after the others. */
	if (may_defer && deps_in_incoming(c, &r)) {
		rec_free(&r);
		return true;
	}
	/* Committed lazily (no WAL sync): the record stays in incoming/ until a sync has made the
	 * commit durable, usually the assignment pass's own commit (ingest_settle). A crash before
	 * that loses at most the commit, and the record is still here to be taken again. */
	int rc = -1;
	if (db_begin_lazy(c) < 0 || (rc = insert_job(c, &r, st->st_uid, &refused)) < 0 || db_commit_lazy(c) < 0) {
		db_rollback(c);
		log_err("job %s stays in incoming/ and will be retried", stem);
		rec_free(&r);
		return false;
	}
	rec_free(&r);
	/* Refused whole: its state says why (published before the record leaves incoming/, so a
	 * client never finds the job nowhere); the record goes where bad records go. */
	if (rc == 1) {
		if (db_sync(c) < 0)
			return false; /* taken again on the next pass, as after a crash */
		publish_job(c, db_job_rid(c, stem));
		quarantine_file(c, c->sd.incoming, name, refused.msg);
	} else {
		move_later(c, stem, st);
	}
	c->want_assign = true;
	return false;
}

static void move_later(struct ctl *c, const char *stem, const struct stat *st)
{
	if (c->nmoves == 0)
		c->moves_since = mono_ms();
	c->moves_synced = c->synced; /* durable once a sync comes after the last of them */
	if (c->nmoves == c->capmoves) {
		c->capmoves = c->capmoves ? c->capmoves * 2 : 16;
		c->moves = xrealloc(c->moves, c->capmoves * sizeof *c->moves);
	}
	c->moves[c->nmoves++] = (struct settle_move){ xstrdup(stem), st->st_dev, st->st_ino };
}

/* Once the jobs ingested are durable (the WAL was synced since their commits: the sync before
 * a result is published usually does it), their records move to ctl/jobs/, and both
 * directories are fsync'd: a rename is not atomic across directories on every filesystem, and
 * the next client's fsync of incoming/ may make the removal durable, so the new entry must be
 * too. Nothing waits for this: a job's first tasks are assigned before it (lazily committed,
 * spool-layout.md 7), so no sync delays them. A record waits at most SETTLE_MS for another
 * step's sync; then one sync here covers the whole batch. force: sync now whatever the age. */
void ingest_settle(struct ctl *c, bool force)
{
	if (!c->nmoves)
		return;
	bool durable = c->synced != c->moves_synced;
	if (!force && c->nmoves < SETTLE_MAX && mono_ms() < c->moves_since + SETTLE_MS)
		return; /* the next batch: a submit that follows soon does not wait behind two fsyncs */
	if (!durable) {
		durable = db_sync(c) == 0;
	}
	struct sync_item *moved = NULL;
	size_t nmoved = 0;
	for (size_t i = 0; i < c->nmoves; i++) {
		const struct settle_move *m = &c->moves[i];
		char name[96];
		struct stat st;
		snprintf(name, sizeof name, "%s.job", m->stem);
		if (!durable || fstatat(c->sd.incoming, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			; /* taken again after a sync (durable), or moved already (a purge) */
		} else if (st.st_dev != m->dev || st.st_ino != m->ino) {
			/* Put in place of the record accepted (the submitter's own doing): never taken for
			 * it. The job runs as accepted; its record is kept by the database alone. */
			log_err("job %s: incoming/%s was replaced after it was accepted", m->stem, name);
			quarantine_file(c, c->sd.incoming, name, "a job with this id already exists (resubmit it)");
		} else if (renameat(c->sd.incoming, name, c->sd.ctl_jobs, name) < 0) {
			if (errno != ENOENT)
				log_err("cannot move %s to ctl/jobs/%s: %s", name, name, strerror(errno));
		} else if (c->sd.local_fs) {
			moved = xrealloc(moved, (nmoved + 1) * sizeof *moved);
			moved[nmoved] = (struct sync_item){ .rid = 0 };
			snprintf(moved[nmoved++].name, sizeof moved->name, "%s", name);
		}
		free(m->stem);
	}
	/* On a local filesystem a client renames its record into place before it syncs it (spool-
	 * layout.md 7): one killed in between leaves that sync to us. A record already synced costs
	 * a cache flush; the syncer thread does it, with the finished states. */
	for (size_t i = 0; i < nmoved && c->syncer; i++)
		syncer_add(c, moved[i].name, 0);
	if (nmoved && !c->syncer) {
		sync_items(c->sd.ctl_jobs, moved, nmoved);
		for (size_t i = 0; i < nmoved; i++)
			if (moved[i].err)
				log_err("cannot sync the accepted job record %s/ctl/jobs/%s to disk: %s", c->sd.path,
					moved[i].name, strerror(moved[i].err));
	}
	free(moved);
	if (durable) {
		fsync(c->sd.ctl_jobs);
		fsync(c->sd.incoming);
	} else {
		log_err("%zu accepted job%s stay in incoming/ until the database can be synced", c->nmoves,
			c->nmoves == 1 ? "" : "s");
	}
	c->nmoves = 0;
}

/* How long until ingest_settle must sync on its own (ms; -1: nothing waits). */
int ingest_settle_due(const struct ctl *c)
{
	if (!c->nmoves)
		return -1;
	uint64_t now = mono_ms(), due = c->moves_since + SETTLE_MS;
	return now >= due ? 0 : (int)(due - now);
}

/* A record accepted in this process and waiting to move (not the repair case of a crash): 1
 * when st is that record, 0 when another file has taken its name, -1 when none waits. */
static int settling(const struct ctl *c, const char *stem, const struct stat *st)
{
	for (size_t i = 0; i < c->nmoves; i++)
		if (strcmp(c->moves[i].stem, stem) == 0)
			return c->moves[i].dev == st->st_dev && c->moves[i].ino == st->st_ino;
	return -1;
}

/* Is incoming/NAME (STEM.job) with st the record accepted and waiting to move? */
static bool settling_name(const struct ctl *c, const char *name, const struct stat *st)
{
	size_t n = strlen(name);
	char stem[96];
	if (n < 5 || n - 4 >= sizeof stem || strcmp(name + n - 4, ".job") != 0)
		return false;
	memcpy(stem, name, n - 4);
	stem[n - 4] = '\0';
	return settling(c, stem, st) > 0;
}

/* Named in ctl/inflight while it runs: a record that kills spoold is refused on the third time. */
static bool accept_job(struct ctl *c, const char *name, struct buf *data, const struct stat *st, bool may_defer)
{
	char stem[80];
	snprintf(stem, sizeof stem, "%.*s", (int)(strlen(name) - 4), name);
	inflight_set(c, "ingest", stem);
	bool deferred = accept_job_step(c, name, data, st, may_defer);
	inflight_clear(c);
	return deferred;
}

/* End the tasks of job rid that are not terminal yet (all of them, or only task when it is not 0)
 * in state, with reason, in one transaction; assigned and running ones are revoked after the
 * commit (removing the assignment is what tells the worker to kill the task). forget_engine: also
 * clear which engine had them. Returns how many tasks changed, or -1 (logged, rolled back). */
int end_tasks(struct ctl *c, int64_t rid, const char *jobid, uint64_t task, enum spool_task_state state,
	      const char *reason, bool forget_engine)
{
	struct queue_taken *kill = NULL;
	size_t nk = 0;

	if (db_begin(c) < 0)
		return -1;
	int changed = queue_end(c, rid, task, state, reason, forget_engine, &kill, &nk);
	if (changed < 0)
		db_rollback(c);
	if (changed < 0 || db_commit(c) < 0) { /* (db_commit rolls back what it cannot commit) */
		log_err("database: cannot end the tasks of job %s", jobid);
		free(kill);
		return -1;
	}
	for (size_t i = 0; i < nk; i++)
		inbox_remove(c, kill[i].wid, kill[i].job, kill[i].idx, kill[i].attempt);
	free(kill);
	return changed;
}

static void cancel_tasks(struct ctl *c, int64_t rid, const char *jobid, uint64_t task, uid_t by)
{
	char reason[64];
	snprintf(reason, sizeof reason, "cancelled by uid %u", (unsigned)by);
	int changed = end_tasks(c, rid, jobid, task, SPOOL_TASK_CANCELLED, reason, false);
	if (changed < 0)
		return;
	log_info("cancelled %d task%s of job %s", changed, changed == 1 ? "" : "s", jobid);
	c->engines_dirty = true;
	c->want_assign = true;
}

/* A request about job `job` (a cancel, hold, release or purge) in incoming/NAME, from uid by:
 * the job exists, the request is filed under its name (as a job record's id is its file name's
 * stem), and comes from the job's owner or root (or, with spool_owner_may, the spool's owner).
 * The job's rid, or -1 with why (naming the request as `what`) in e. */
static int64_t request_job(struct ctl *c, const char *what, const char *name, const char *job, uid_t by,
			   bool spool_owner_may, struct err *e)
{
	int64_t rid = name_ok(job) ? db_job_rid(c, job) : -1;
	size_t jl = strlen(job);
	if (rid < 0) {
		snprintf(e->msg, sizeof e->msg, "%s of job '%s', which does not exist", what, job);
		return -1;
	}
	if (strncmp(name, job, jl) != 0 || name[jl] != '.') {
		snprintf(e->msg, sizeof e->msg, "%s of job '%s' filed under another job's name", what, job);
		return -1;
	}
	sqlite3_stmt *o = db_prep(c, "SELECT owner FROM jobs WHERE rid = ?");
	sqlite3_bind_int64(o, 1, rid);
	uid_t owner = sqlite3_step(o) == SQLITE_ROW ? (uid_t)sqlite3_column_int64(o, 0) : (uid_t)-1;
	sqlite3_reset(o);
	if (by != 0 && by != owner && !(spool_owner_may && by == c->sd.owner)) {
		snprintf(e->msg, sizeof e->msg, "uid %u may not %s job %s of uid %u", (unsigned)by, what, job,
			 (unsigned)owner);
		return -1;
	}
	return rid;
}

static void accept_cancel(struct ctl *c, const char *name, struct buf *data, const struct stat *st)
{
	struct rec r;
	struct err e;

	if (rec_parse(&r, data->p, data->len, &schema_cancel, &e) < 0) {
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	const char *job = rec_get(&r, "job");
	uint64_t task = rec_get_u64(&r, "task", 0);
	int64_t rid = request_job(c, "cancel", name, job, st->st_uid, false, &e);
	if (rid < 0) {
		rec_free(&r);
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	cancel_tasks(c, rid, job, task, st->st_uid);
	rec_free(&r);
	if (unlinkat(c->sd.incoming, name, 0) < 0)
		log_err("cannot remove consumed cancel record incoming/%s: %s", name, strerror(errno));
}

/* A hold or release request (JOBID.RAND.hold), checked as a cancel is: the job exists, the
 * request is filed under its name, by its owner or root. */
static void accept_hold(struct ctl *c, const char *name, struct buf *data, const struct stat *st)
{
	struct rec r;
	struct err e;

	if (rec_parse(&r, data->p, data->len, &schema_hold, &e) < 0) {
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	const char *job = rec_get(&r, "job"), *op = rec_get(&r, "op");
	bool hold = strcmp(op, "hold") == 0;
	int64_t rid = -1;
	if (!hold && strcmp(op, "release") != 0)
		snprintf(e.msg, sizeof e.msg, "hold request of job '%s' with op '%s' (expected hold or release)", job, op);
	else
		rid = request_job(c, op, name, job, st->st_uid, false, &e);
	if (rid < 0) {
		rec_free(&r);
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	int rc = -1;
	if (db_begin(c) == 0) {
		rc = queue_hold(c, rid, hold);
		if (rc < 0)
			db_rollback(c);
		else if (db_commit(c) < 0)
			rc = -1;
	}
	if (rc < 0) {
		log_err("database: cannot %s job %s; the request stays in incoming/ to be taken again", op, job);
		rec_free(&r);
		return;
	}
	log_info("%s job %s (by uid %u)%s", hold ? "held" : "released", job, (unsigned)st->st_uid,
		 rc == 0 ? ": it already was" : "");
	rec_free(&r);
	if (unlinkat(c->sd.incoming, name, 0) < 0)
		log_err("cannot remove consumed %s record incoming/%s: %s", op, name, strerror(errno));
}

/* The published files of a job (spool-layout.md 3.10) and its accepted record: what a rebuild
 * would start from. Removed inside the transaction that deletes its rows, before the commit: a
 * crash before it leaves the rows and the request (consumed last), which is taken again; a file
 * already gone is fine. */
static int purge_files(struct ctl *c, const char *job, int64_t ntasks)
{
	char name[96];
	snprintf(name, sizeof name, "%s.state", job);
	if (unlinkat(c->sd.ctl_jobs, name, 0) < 0 && errno != ENOENT)
		goto fail;
	for (int64_t k = 0; k * JOBSTATE_CHUNK < ntasks; k++) {
		jobstate_chunk_name(name, sizeof name, job, (uint64_t)k);
		if (unlinkat(c->sd.ctl_jobs, name, 0) < 0 && errno != ENOENT)
			goto fail;
	}
	snprintf(name, sizeof name, "%s.job", job);
	if (unlinkat(c->sd.ctl_jobs, name, 0) < 0 && errno != ENOENT)
		goto fail;
	return 0;
fail:
	log_err("cannot remove %s/ctl/jobs/%s of purged job %s: %s; the purge request stays in incoming/ "
		"to be taken again", c->sd.path, name, job, strerror(errno));
	return -1;
}

/* A purge request (JOBID.RAND.purge): forget a finished job. Checked as a hold is, but the
 * spool's owner may purge any job too (it runs the controller, which could anyway). */
static void accept_purge(struct ctl *c, const char *name, struct buf *data, const struct stat *st)
{
	/* A job's record may still wait in incoming/ for its move: moved first, so that the purge
	 * removes it and no later pass takes it for a new job. */
	ingest_settle(c, true);
	struct rec r;
	struct err e;

	if (rec_parse(&r, data->p, data->len, &schema_purge, &e) < 0) {
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	const char *job = rec_get(&r, "job");
	int64_t rid = request_job(c, "purge", name, job, st->st_uid, true, &e);
	if (rid < 0) {
		rec_free(&r);
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	int64_t ntasks = (int64_t)db_job_ntasks(c, rid);
	int rc = -1;
	if (db_begin(c) == 0) {
		rc = queue_purge(c, rid);
		if (rc <= 0 || purge_files(c, job, ntasks) < 0) {
			db_rollback(c);
			rc = rc == 0 ? 0 : -1;
		} else if (db_commit(c) < 0) {
			rc = -1;
		}
	}
	if (rc < 0) {
		log_err("database: cannot purge job %s; the request stays in incoming/ to be taken again", job);
		rec_free(&r);
		return;
	}
	if (rc == 0) {
		snprintf(e.msg, sizeof e.msg, "purge of job %s, which has not finished (only a finished job is purged)", job);
		rec_free(&r);
		quarantine_file(c, c->sd.incoming, name, e.msg);
		return;
	}
	log_info("purged job %s (by uid %u)", job, (unsigned)st->st_uid);
	rec_free(&r);
	if (unlinkat(c->sd.incoming, name, 0) < 0)
		log_err("cannot remove consumed purge record incoming/%s: %s", name, strerror(errno));
}

/* One dot-free part of a name in incoming/: a job id or a cancel's random tag. */
static int name_part_ok(const char *s, size_t n)
{
	char part[NAME_MAX_LEN + 1];
	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	memcpy(part, s, n);
	part[n] = '\0';
	return name_ok(part) && !strchr(part, '.');
}

/* incoming/ holds only JOBID.job (0), JOBID.RAND.cancel (1), JOBID.RAND.hold (2) and JOBID.RAND.purge (3),
 * as clients write them;
 * anything else (-1) is refused before it is opened. */
static int incoming_kind(const char *name)
{
	const char *d1 = strchr(name, '.'), *d2;
	if (!d1 || !name_part_ok(name, (size_t)(d1 - name)))
		return -1;
	if (strcmp(d1, ".job") == 0)
		return 0;
	d2 = strchr(d1 + 1, '.');
	if (d2 && strcmp(d2, ".cancel") == 0 && name_part_ok(d1 + 1, (size_t)(d2 - d1 - 1)))
		return 1;
	if (d2 && strcmp(d2, ".hold") == 0 && name_part_ok(d1 + 1, (size_t)(d2 - d1 - 1)))
		return 2;
	if (d2 && strcmp(d2, ".purge") == 0 && name_part_ok(d1 + 1, (size_t)(d2 - d1 - 1)))
		return 3;
	return -1;
}

static int cmp_submission(const void *a, const void *b)
{
	const struct submission *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	int c = timespec_cmp(&x->mtime, &y->mtime);
	if (c)
		return c;
	/* Only records whose mtimes tie get here, and all of them have their keys read. */
	c = strcmp(x->client ? x->client : "", y->client ? y->client : "");
	if (c)
		return c;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A record's client and seq. One that cannot be read or parsed sorts as a record without them
 * (an older client's); it is refused when it is taken. */
static void read_order(int dirfd, struct submission *s, struct buf *data)
{
	struct rec r;
	static const struct rec_schema *const sch_of[] = { &schema_job, &schema_cancel, &schema_hold, &schema_purge };
	const struct rec_schema *sch = sch_of[s->kind];
	if (fs_read_file(dirfd, s->name, s->kind == 0 ? MAX_JOB_RECORD : MAX_SMALL_RECORD, data, NULL, NULL) < 0 ||
	    rec_parse(&r, data->p, data->len, sch, NULL) < 0) /* (it frees what it parsed on failure) */
		return;
	const char *cl = rec_get(&r, "client");
	s->client = xstrdup(cl ? cl : "");
	s->seq = rec_get_u64(&r, "seq", 0);
	rec_free(&r);
}

/* Submission order for the first `upto` records (the rest are only behind them). The file
 * server's clock orders records of different clients; a client's own records have mtimes in
 * its order, and where they tie (a timestamp tick) its sequence numbers order them. Reading
 * the keys costs a second read of a record, so only records in a tie are read. */
void sort_submissions(int dirfd, struct submission *s, size_t n, size_t upto)
{
	struct buf data;
	bool ties = false;
	qsort(s, n, sizeof *s, cmp_submission);
	buf_init(&data);
	for (size_t i = 0; i < n && i < upto;) {
		size_t k = i + 1;
		while (k < n && s[k].kind == s[i].kind && timespec_cmp(&s[k].mtime, &s[i].mtime) == 0)
			k++;
		for (size_t m = i; k - i > 1 && m < k; m++)
			read_order(dirfd, &s[m], &data);
		ties |= k - i > 1;
		i = k;
	}
	buf_free(&data);
	if (ties)
		qsort(s, n, sizeof *s, cmp_submission);
}

void submissions_free(struct submission *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].client);
	free(s);
}

/* The records inotify named (c->in_noted); with scan_incoming, or when none was named, every
 * name in incoming/. In submission order (sort_submissions), jobs before cancels. */
void ingest_incoming(struct ctl *c)
{
	char **names;
	struct err e;
	long n;
	struct submission *p;
	size_t np = 0;
	struct buf data;

	if (c->scan_incoming || !c->in_noted.n) {
		c->scan_incoming = false;
		fs_noted_clear(&c->in_noted); /* (the listing has them) */
		n = fs_list(c->sd.incoming, &names, &e);
	} else {
		n = fs_noted_take(&c->in_noted, &names);
	}
	if (n < 0) {
		log_err("cannot list %s/incoming: %s", c->sd.path, e.msg);
		return;
	}
	p = xcalloc((size_t)n + 1, sizeof *p);
	char **bad = xcalloc((size_t)n + 1, sizeof *bad);
	size_t nbad = 0;
	for (long i = 0; i < n; i++) {
		struct stat st;
		int kind = incoming_kind(names[i]);
		if (kind < 0) {
			bad[nbad++] = names[i];
			continue;
		}
		if (fstatat(c->sd.incoming, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (kind == 0 && settling_name(c, names[i], &st))
			continue; /* taken already, waiting for its move */
		p[np].name = names[i];
		p[np].mtime = st.st_mtim;
		p[np].kind = kind;
		np++;
	}
	sort_submissions(c->sd.incoming, p, np, INGEST_BATCH);
	buf_init(&data);
	/* A job whose dependency is behind it goes once more after the other jobs (before the
	 * cancels, which may name it), then is refused if that job is still unknown: records that
	 * name each other in a cycle cannot hold it. */
	size_t batch = np < INGEST_BATCH ? np : INGEST_BATCH, njobs = 0;
	while (njobs < batch && p[njobs].kind == 0)
		njobs++;
	size_t *later = xcalloc(batch + 1, sizeof *later), nlater = 0;
	for (size_t k = 0; k < batch + nlater; k++) {
		bool first = k < njobs || k >= njobs + nlater;
		size_t i = k < njobs ? k : k < njobs + nlater ? later[k - njobs] : k - nlater;
		struct stat st;
		size_t max = p[i].kind == 0 ? MAX_JOB_RECORD : MAX_SMALL_RECORD;
		if (fs_read_file(c->sd.incoming, p[i].name, max, &data, &st, &e) < 0) {
			if (errno != ENOENT)
				quarantine_file(c, c->sd.incoming, p[i].name, e.msg);
			continue;
		}
		if (p[i].kind == 3)
			accept_purge(c, p[i].name, &data, &st);
		else if (p[i].kind == 2)
			accept_hold(c, p[i].name, &data, &st);
		else if (p[i].kind != 0)
			accept_cancel(c, p[i].name, &data, &st);
		else if (accept_job(c, p[i].name, &data, &st, first && k < njobs))
			later[nlater++] = i;
	}
	free(later);
	/* Junk after the good records, and bounded: a flood of bad names delays no good job. */
	uint64_t t0 = mono_ms();
	size_t k = 0;
	for (; k < nbad && k < JUNK_PER_PASS && mono_ms() - t0 < JUNK_PASS_MS; k++)
		quarantine_file(c, c->sd.incoming, bad[k], "unexpected file name in incoming/ (expected ID.job, ID.RAND.cancel, ID.RAND.hold or ID.RAND.purge)");
	if (np > INGEST_BATCH || k < nbad || trash_sweep(c))
		c->scan_incoming = true; /* more next time round */
	buf_free(&data);
	submissions_free(p, np);
	free(bad);
	fs_list_free(names, n);
}
