/* jobstate.c - the published state of a job: the summary and chunk records, and the task,
 * reason and dup lines in them (spool-layout.md 3.10). spoold writes them and clients and the
 * rebuild read them through these functions only. */
#include "jobstate.h"
#include "ids.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jobstate_sum_name(char *out, size_t sz, const char *job)
{
	snprintf(out, sz, "%s.state", job);
}

void jobstate_chunk_name(char *out, size_t sz, const char *job, uint64_t chunk)
{
	snprintf(out, sz, "%s.tasks.%llu", job, (unsigned long long)chunk);
}

void jobstate_sum_write(struct buf *b, const struct spool_job *j)
{
	char v[64];
	int inl = jobstate_inline(j->ntasks) && j->tasks;
	rec_begin(b, "jobsum");
	rec_put_u64(b, "format", inl ? JOBSTATE_FORMAT_INLINE : JOBSTATE_FORMAT);
	rec_put(b, "job", j->id);
	if (j->name)
		rec_put(b, "name", j->name);
	rec_put_u64(b, "owner", j->owner);
	rec_put(b, "cwd", j->cwd);
	rec_put(b, "outdir", j->outdir);
	if (j->command)
		rec_put(b, "command", j->command);
	rec_put_u64(b, "ntasks", j->ntasks);
	rec_put(b, "state", spool_job_state_name(j->state));
	rec_put_u64(b, "chunk", JOBSTATE_CHUNK);
	for (int s = 0; s < SPOOL_TASK_NSTATES; s++) {
		if (!j->counts[s])
			continue;
		snprintf(v, sizeof v, "%s %llu", spool_task_state_name(s), (unsigned long long)j->counts[s]);
		rec_put(b, "count", v);
	}
	if (j->order)
		rec_put_u64(b, "order", j->order);
	if (j->submitted_ms)
		rec_put_u64(b, "submitted_ms", j->submitted_ms);
	if (j->finished_ms)
		rec_put_u64(b, "finished_ms", j->finished_ms);
	if (j->waiting && *j->waiting)
		rec_put(b, "waiting", j->waiting);
	if (j->held)
		rec_put_u64(b, "held", 1);
	if (inl) {
		for (size_t i = 0; i < j->ntasks; i++)
			jobstate_task_write(b, &j->tasks[i]);
	}
	rec_end(b);
}

/* Split v in place at single spaces into at most max tokens; the last takes the rest. */
static size_t split(char *v, char **tok, size_t max)
{
	size_t n = 0;
	while (n < max) {
		tok[n++] = v;
		if (n == max)
			break;
		char *sp = strchr(v, ' ');
		if (!sp)
			break;
		*sp = '\0';
		v = sp + 1;
	}
	return n;
}

/* "-" or a number in [min, max]. */
static int num_or_dash(const char *s, int64_t min, int64_t max, int64_t dash, int64_t *out)
{
	if (strcmp(s, "-") == 0) {
		*out = dash;
		return 0;
	}
	return parse_i64(s, min, max, out);
}

static int sum_counts(const struct rec *r, struct spool_job *j, struct err *e)
{
	uint64_t total = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->f[i].key, "count") != 0)
			continue;
		char name[32];
		const char *v = r->f[i].val, *sp = strchr(v, ' ');
		uint64_t n;
		if (!sp || (size_t)(sp - v) >= sizeof name)
			return err_set(e, "bad count line '%s'", v);
		memcpy(name, v, (size_t)(sp - v));
		name[sp - v] = '\0';
		int s = spool_task_state_parse(name);
		if (s < 0 || parse_u64(sp + 1, MAX_ITEMS, &n) < 0)
			return err_set(e, "bad count line '%s'", v);
		j->counts[s] = n;
		total += n;
	}
	if (total != j->ntasks)
		return err_set(e, "its counts add up to %llu tasks, not %zu", (unsigned long long)total, j->ntasks);
	return 0;
}

int jobstate_sum_read(const char *data, size_t len, struct rec *r, struct spool_job *j, int *tasks_here,
		      struct err *e)
{
	char type[32];
	if (rec_peek_type(data, len, type, sizeof type, e) < 0)
		return -1;
	int v1 = strcmp(type, "jobstate") == 0;
	if (rec_parse(r, data, len, v1 ? &schema_jobstate : &schema_jobsum, e) < 0)
		return -1;
	uint64_t ntasks = rec_get_u64(r, "ntasks", 0);
	if (ntasks > MAX_ITEMS) {
		rec_free(r);
		return err_set(e, "%llu tasks, more than any job has", (unsigned long long)ntasks);
	}
	uint64_t format = v1 ? 1 : rec_get_u64(r, "format", 0);
	if (format != 1 && format != JOBSTATE_FORMAT && format != JOBSTATE_FORMAT_INLINE) {
		rec_free(r);
		return err_set(e, "job state format %llu, this program reads formats 1 to %d: upgrade spool on this node",
			       (unsigned long long)format, JOBSTATE_FORMAT_INLINE);
	}
	j->name = rec_get(r, "name");
	j->owner = rec_get_u64(r, "owner", 0);
	j->cwd = rec_get(r, "cwd");
	j->outdir = rec_get(r, "outdir");
	j->command = rec_get(r, "command");
	j->ntasks = (size_t)ntasks;
	int st = spool_job_state_parse(rec_get(r, "state"));
	if (st != SPOOL_JOB_ACTIVE && st != SPOOL_JOB_DONE) {
		err_set(e, "bad state '%s'", rec_get(r, "state"));
		rec_free(r);
		return -1;
	}
	j->state = (enum spool_job_state)st;
	j->done = st == SPOOL_JOB_DONE;
	j->accepted = 1;
	j->submitted_ms = rec_get_u64(r, "submitted_ms", 0);
	j->order = rec_get_u64(r, "order", 0);
	j->finished_ms = rec_get_u64(r, "finished_ms", 0);
	j->waiting = rec_get(r, "waiting");
	j->held = rec_get_u64(r, "held", 0) != 0;
	if (!v1 && sum_counts(r, j, e) < 0) {
		rec_free(r);
		return -1;
	}
	*tasks_here = format != JOBSTATE_FORMAT;
	if (format == JOBSTATE_FORMAT_INLINE && ntasks > JOBSTATE_CHUNK) {
		rec_free(r);
		return err_set(e, "%llu tasks inline in a summary, more than a chunk holds", (unsigned long long)ntasks);
	}
	if (format == JOBSTATE_FORMAT && rec_count(r, "task") + rec_count(r, "reason") + rec_count(r, "dup")) {
		rec_free(r);
		return err_set(e, "task lines in a format %d summary (its tasks are in chunk records)", JOBSTATE_FORMAT);
	}
	return 0;
}

void jobstate_chunk_begin(struct buf *b, const char *job, uint64_t chunk)
{
	rec_begin(b, "jobtasks");
	rec_put(b, "job", job);
	rec_put_u64(b, "chunk", chunk);
}

static void put_num(struct buf *b, int64_t v, int64_t none)
{
	if (v == none)
		buf_adds(b, " -");
	else
		buf_printf(b, " %lld", (long long)v);
}

/* task IDX STATE ATTEMPT ENGINE EXIT SIGNAL WALL_MS NODE ("-" for none)
 * reason IDX TEXT
 * dup IDX ATTEMPT WID STATUS EXIT SIGNAL */
void jobstate_task_write(struct buf *b, const struct spool_task *t)
{
	buf_printf(b, "task %llu %s %llu", (unsigned long long)t->task, spool_task_state_name(t->state),
		   (unsigned long long)t->attempt);
	put_num(b, t->engine, -1);
	put_num(b, t->exit_code, -1);
	put_num(b, t->signal, 0);
	put_num(b, t->wall_ms, -1);
	buf_printf(b, " %s\n", t->node && name_ok(t->node) ? t->node : "-");
	if (t->reason) {
		buf_printf(b, "reason %llu ", (unsigned long long)t->task);
		rec_escape(b, t->reason, strlen(t->reason));
		buf_addc(b, '\n');
	}
	for (size_t i = 0; i < t->nduplicates; i++) {
		const struct spool_attempt *a = &t->duplicates[i];
		buf_printf(b, "dup %llu %llu %s %s", (unsigned long long)t->task, (unsigned long long)a->attempt,
			   name_ok(a->worker) ? a->worker : "-", name_ok(a->status) ? a->status : "-");
		put_num(b, a->exit_code, -1);
		put_num(b, a->signal, 0);
		buf_addc(b, '\n');
	}
}

int jobstate_chunk_parse(const char *data, size_t len, const char *job, uint64_t chunk, struct rec *r,
			 struct err *e)
{
	if (rec_parse(r, data, len, &schema_jobtasks, e) < 0)
		return -1;
	if (strcmp(rec_get(r, "job"), job) != 0 || rec_get_u64(r, "chunk", UINT64_MAX) != chunk) {
		err_set(e, "it is chunk %s of job %s, not chunk %llu of job %s", rec_get(r, "chunk"), rec_get(r, "job"),
			(unsigned long long)chunk, job);
		rec_free(r);
		return -1;
	}
	return 0;
}

void jobstate_task_init(struct spool_task *t, uint64_t task)
{
	memset(t, 0, sizeof *t);
	t->task = task;
	t->state = SPOOL_TASK_QUEUED;
	t->engine = -1;
	t->exit_code = -1;
	t->wall_ms = -1;
	t->node = "-";
}

/* IDX within [first, first+count): the task it names, or NULL. */
static struct spool_task *task_at(const char *s, uint64_t first, uint64_t count, struct spool_task *tasks)
{
	uint64_t idx;
	if (parse_u64(s, MAX_ITEMS, &idx) < 0 || idx < first || idx - first >= count)
		return NULL;
	return &tasks[idx - first];
}

static int task_line(char *v, uint64_t first, uint64_t count, struct spool_task *tasks)
{
	char *f[8];
	int64_t att, eng, ex, sg, wall;
	if (split(v, f, 8) != 8)
		return -1;
	struct spool_task *t = task_at(f[0], first, count, tasks);
	int st = spool_task_state_parse(f[1]);
	if (!t || st < 0 || parse_i64(f[2], 0, INT64_MAX, &att) < 0 || num_or_dash(f[3], 1, INT64_MAX, -1, &eng) < 0 ||
	    num_or_dash(f[4], 0, 255, -1, &ex) < 0 || num_or_dash(f[5], 0, 255, 0, &sg) < 0 ||
	    num_or_dash(f[6], 0, INT64_MAX, -1, &wall) < 0 || (strcmp(f[7], "-") != 0 && !name_ok(f[7])))
		return -1;
	t->state = (enum spool_task_state)st;
	t->attempt = (uint64_t)att;
	t->engine = eng;
	t->exit_code = (int)ex;
	t->signal = (int)sg;
	t->wall_ms = wall;
	t->node = f[7];
	return 0;
}

static int dup_line(char *v, uint64_t first, uint64_t count, struct spool_task *tasks)
{
	char *f[6];
	int64_t att, ex, sg;
	if (split(v, f, 6) != 6)
		return -1;
	struct spool_task *t = task_at(f[0], first, count, tasks);
	if (!t || parse_i64(f[1], 1, INT64_MAX, &att) < 0 || num_or_dash(f[4], 0, 255, -1, &ex) < 0 ||
	    num_or_dash(f[5], 0, 255, 0, &sg) < 0 || strlen(f[2]) >= sizeof t->duplicates->worker ||
	    strlen(f[3]) >= sizeof t->duplicates->status)
		return -1;
	t->duplicates = xrealloc(t->duplicates, (t->nduplicates + 1) * sizeof *t->duplicates);
	struct spool_attempt *a = &t->duplicates[t->nduplicates++];
	a->attempt = (uint64_t)att;
	snprintf(a->worker, sizeof a->worker, "%s", f[2]);
	snprintf(a->status, sizeof a->status, "%s", f[3]);
	a->exit_code = (int)ex;
	a->signal = (int)sg;
	return 0;
}

int jobstate_tasks_read(struct rec *r, uint64_t first, uint64_t count, struct spool_task *tasks, struct err *e)
{
	for (uint64_t i = 0; i < count; i++)
		jobstate_task_init(&tasks[i], first + i);
	for (size_t i = 0; r && i < r->n; i++) {
		struct rec_field *f = &r->f[i];
		char *v = (char *)f->val; /* ours: r's own copy of the record */
		int rc = 0;
		if (strcmp(f->key, "task") == 0) {
			rc = task_line(v, first, count, tasks);
		} else if (strcmp(f->key, "dup") == 0) {
			rc = dup_line(v, first, count, tasks);
		} else if (strcmp(f->key, "reason") == 0) {
			char *sp = strchr(v, ' ');
			struct spool_task *t = NULL;
			if (sp) {
				*sp = '\0';
				t = task_at(v, first, count, tasks);
			}
			if (t)
				t->reason = sp + 1;
			rc = t ? 0 : -1;
		}
		if (rc < 0) {
			for (uint64_t k = 0; k < count; k++) { /* nothing left allocated */
				free(tasks[k].duplicates);
				tasks[k].duplicates = NULL;
				tasks[k].nduplicates = 0;
			}
			return err_set(e, "bad %s line %u (tasks %llu to %llu)", f->key, f->line, (unsigned long long)first,
				       (unsigned long long)(first + count - 1));
		}
	}
	return 0;
}
