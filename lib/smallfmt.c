/* smallfmt.c - writers and parsers of the small formats inside records and names (smallfmt.h). */
#include "smallfmt.h"
#include "rec.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Cut s in place into exactly n non-empty fields separated by single sep bytes. */
static int split(char *s, char sep, char **field, int n)
{
	const char stop[2] = { sep, '\0' };
	for (int i = 0; i < n; i++) {
		size_t len = strcspn(s, stop);
		if (!len)
			return -1;
		field[i] = s;
		s += len;
		if (i == n - 1)
			return *s ? -1 : 0; /* more fields than n */
		if (*s != sep)
			return -1; /* fewer */
		*s++ = '\0';
	}
	return -1;
}

/* Canonical decimal: what printf("%" PRIu64) writes, nothing else (one spelling per value). */
static int canon_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	if ((s[0] == '0' && s[1]) || parse_u64(s, max, &v) < 0 || v < min)
		return -1;
	*out = v;
	return 0;
}

/* A job id as it appears inside these formats: a name without a dot (the separator). */
static int job_ok(const char *s)
{
	return name_ok(s) && !strchr(s, '.');
}

static int copy_in(char *dst, size_t dstsz, const char *src)
{
	return strlcpy_s(dst, src, dstsz) < dstsz ? 0 : -1;
}

int taskname_format(char *out, size_t outsz, const char *job, int64_t task, int64_t attempt)
{
	if (outsz)
		out[0] = '\0';
	if (!job_ok(job) || task < 1 || attempt < 1)
		return -1;
	int n = snprintf(out, outsz, "%s.%" PRId64 ".%" PRId64, job, task, attempt);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int taskname_parse(const char *s, struct taskname *t)
{
	char copy[TASKNAME_MAX], *f[3];
	uint64_t task, attempt;
	if (copy_in(copy, sizeof copy, s) < 0 || split(copy, '.', f, 3) < 0 || !job_ok(f[0]) ||
	    canon_u64(f[1], 1, INT64_MAX, &task) < 0 || canon_u64(f[2], 1, INT64_MAX, &attempt) < 0)
		return -1;
	snprintf(t->job, sizeof t->job, "%s", f[0]);
	t->task = (int64_t)task;
	t->attempt = (int64_t)attempt;
	return 0;
}

/* "-" or JOB.TASK as jobref_parse reads it, its TASK in canonical decimal. */
static int engine_task_ok(const char *s)
{
	char job[NAME_MAX_LEN + 1];
	uint64_t task;
	const char *dot = strrchr(s, '.');
	if (strcmp(s, "-") == 0)
		return 1;
	return dot && jobref_parse(s, job, sizeof job, &task) == 0 && canon_u64(dot + 1, 1, UINT32_MAX, &task) == 0;
}

/* -1, or canonical 0..INT64_MAX. */
static int beat_age(const char *s, int64_t *out)
{
	uint64_t v;
	if (strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	if (canon_u64(s, 0, INT64_MAX, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int engine_line_parse(const char *val, struct spool_engine *x)
{
	char copy[512], *f[7];
	uint64_t id, pid;
	int64_t age;
	struct spool_engine y;
	memset(&y, 0, sizeof y);
	if (copy_in(copy, sizeof copy, val) < 0 || split(copy, ' ', f, 7) < 0 || canon_u64(f[0], 1, INT64_MAX, &id) < 0)
		return -1;
	if (strcmp(f[1], "idle") != 0 && strcmp(f[1], "busy") != 0 && strcmp(f[1], "dead") != 0)
		return -1;
	if (!name_ok(f[2]) || canon_u64(f[3], 1, INT32_MAX, &pid) < 0 || !name_ok(f[4]) || !engine_task_ok(f[5]) ||
	    beat_age(f[6], &age) < 0)
		return -1;
	if (copy_in(y.state, sizeof y.state, f[1]) < 0 || copy_in(y.node, sizeof y.node, f[2]) < 0 ||
	    copy_in(y.worker, sizeof y.worker, f[4]) < 0 || copy_in(y.task, sizeof y.task, f[5]) < 0)
		return -1;
	y.id = (int64_t)id;
	y.pid = (int64_t)pid;
	y.beat_age_ms = age;
	*x = y;
	return 0;
}

/* The writers print, then check with their parser: nothing is published that readers refuse. */
int engine_line_put(struct buf *b, const struct spool_engine *x)
{
	char val[512];
	struct spool_engine back;
	int n = snprintf(val, sizeof val, "%" PRId64 " %s %s %" PRId64 " %s %s %" PRId64, x->id, x->state, x->node,
			 x->pid, x->worker, x->task, x->beat_age_ms);
	if (n < 0 || (size_t)n >= sizeof val || engine_line_parse(val, &back) < 0)
		return -1;
	rec_put(b, "engine", val);
	return 0;
}

int reg_engine_parse(const char *val, int64_t *id, int *slot)
{
	char copy[48], *f[2];
	uint64_t i, s;
	if (copy_in(copy, sizeof copy, val) < 0 || split(copy, ' ', f, 2) < 0 || canon_u64(f[0], 1, INT64_MAX, &i) < 0 ||
	    canon_u64(f[1], 0, MAX_SLOTS - 1, &s) < 0)
		return -1;
	*id = (int64_t)i;
	*slot = (int)s;
	return 0;
}

int reg_engine_put(struct buf *b, int64_t id, int slot)
{
	char val[48];
	int64_t bid;
	int bslot;
	int n = snprintf(val, sizeof val, "%" PRId64 " %d", id, slot);
	if (n < 0 || (size_t)n >= sizeof val || reg_engine_parse(val, &bid, &bslot) < 0)
		return -1;
	rec_put(b, "engine", val);
	return 0;
}
