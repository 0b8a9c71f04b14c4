/* test_smallfmt.c - each small format's writer and parser (lib/smallfmt.h): what the writer
 * writes reads back the same, inside its record where it has one, and every malformed input
 * (a field missing or extra, overflow, a sign, a leading zero, trailing bytes, a bad name) is
 * refused. */
#include "rec.h"
#include "schema.h"
#include "smallfmt.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool taskname_refused(const char *s)
{
	struct taskname t = { "untouched", 7, 7 };
	return taskname_parse(s, &t) < 0 && strcmp(t.job, "untouched") == 0 && t.task == 7 && t.attempt == 7;
}

static bool taskname_round_trip(const char *job, int64_t task, int64_t attempt, const char *want)
{
	char name[TASKNAME_MAX];
	struct taskname t;
	return taskname_format(name, sizeof name, job, task, attempt) == 0 && strcmp(name, want) == 0 &&
	       taskname_parse(name, &t) == 0 && strcmp(t.job, job) == 0 && t.task == task && t.attempt == attempt;
}

static void test_taskname(void)
{
	char name[TASKNAME_MAX];
	CHECK(taskname_round_trip("4k7x0qz2ma", 1, 1, "4k7x0qz2ma.1.1"), "task name: JOB.TASK.ATTEMPT round trip");
	CHECK(taskname_round_trip("4k7x0qz2ma", 1000000, 3, "4k7x0qz2ma.1000000.3"), "  ... larger numbers");
	char job64[NAME_MAX_LEN + 1];
	memset(job64, 'a', NAME_MAX_LEN);
	job64[NAME_MAX_LEN] = '\0';
	char want[TASKNAME_MAX];
	snprintf(want, sizeof want, "%s.%lld.%lld", job64, (long long)INT64_MAX, (long long)INT64_MAX);
	CHECK(taskname_round_trip(job64, INT64_MAX, INT64_MAX, want),
	      "  ... the longest: a 64-byte job id and INT64_MAX twice fit TASKNAME_MAX");

	CHECK(taskname_format(name, sizeof name, "j.x", 1, 1) < 0 && !name[0], "format refuses a job id with a dot");
	CHECK(taskname_format(name, sizeof name, "../x", 1, 1) < 0, "  ... a job id that is not a name");
	CHECK(taskname_format(name, sizeof name, "", 1, 1) < 0, "  ... an empty job id");
	CHECK(taskname_format(name, sizeof name, "j", 0, 1) < 0 && taskname_format(name, sizeof name, "j", 1, 0) < 0,
	      "  ... task or attempt 0");
	CHECK(taskname_format(name, sizeof name, "j", -1, 1) < 0, "  ... a negative task");
	CHECK(taskname_format(name, 5, "j", 10, 1) < 0 && !name[0], "  ... a buffer too small (left empty)");

	static const char *bad[] = {
		"",                       /* empty */
		"j",                      /* fields missing */
		"j.1",                    /* attempt missing */
		"j.1.",                   /* attempt empty */
		"j..1",                   /* task empty */
		".1.1",                   /* job empty */
		"j.1.1.1",                /* a field too many */
		"j.1.1 ",                 /* trailing junk */
		"j.1.1\n",                /* trailing newline */
		"j.1.1x",                 /* trailing letters */
		"j.0.1",                  /* task 0 */
		"j.1.0",                  /* attempt 0 */
		"j.-1.1",                 /* negative */
		"j.+1.1",                 /* sign */
		"j. 1.1",                 /* space */
		"j.01.1",                 /* leading zero: one spelling per task */
		"j.1.01",                 /* ... in the attempt */
		"j.9223372036854775808.1", /* INT64_MAX + 1 */
		"j.1.18446744073709551616", /* UINT64_MAX + 1 */
		"j.1.99999999999999999999999", /* far over */
		"-j.1.1",                 /* not a name */
		"j/x.1.1",                /* a slash */
		"j\x01.1.1",              /* a control byte */
	};
	bool all = true;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (!taskname_refused(bad[i])) {
			fprintf(stderr, "  task name accepted: \"%s\"\n", bad[i]);
			all = false;
		}
	CHECK(all, "parse refuses missing, extra, empty, zero, negative, signed, non-canonical, overflowing and "
		   "trailing fields, and bad job ids");
	char longname[300];
	memset(longname, 'a', 65);
	strcpy(longname + 65, ".1.1");
	CHECK(taskname_refused(longname), "  ... a 65-byte job id");
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(taskname_refused(longname), "  ... a name longer than any task name");
}

/* Write x into an engines record, parse the record as a client does, and read the line back. */
static bool engine_round_trip(const struct spool_engine *x)
{
	struct buf b;
	struct rec r;
	struct err e;
	struct spool_engine y;
	bool ok = false;
	buf_init(&b);
	rec_begin(&b, "engines");
	if (engine_line_put(&b, x) == 0) {
		rec_end(&b);
		if (rec_parse(&r, b.p, b.len, &schema_engines, &e) == 0) {
			ok = r.n == 1 && engine_line_parse(r.f[0].val, &y) == 0 && y.id == x->id && y.pid == x->pid &&
			     y.beat_age_ms == x->beat_age_ms && strcmp(y.state, x->state) == 0 &&
			     strcmp(y.node, x->node) == 0 && strcmp(y.worker, x->worker) == 0 && strcmp(y.task, x->task) == 0;
			rec_free(&r);
		}
	}
	buf_free(&b);
	return ok;
}

static bool engine_put_refused(const struct spool_engine *x)
{
	struct buf b;
	buf_init(&b);
	bool ok = engine_line_put(&b, x) < 0 && b.len == 0;
	buf_free(&b);
	return ok;
}

static bool engine_refused(const char *val)
{
	struct spool_engine y = { .id = 42 };
	return engine_line_parse(val, &y) < 0 && y.id == 42;
}

static void test_engine_line(void)
{
	struct spool_engine x = { .id = 3, .state = "busy", .node = "n1", .pid = 1234, .worker = "n1-ab12",
				  .task = "4k7x0qz2ma.17", .beat_age_ms = 250 };
	CHECK(engine_round_trip(&x), "engine line: a busy engine round trip through ctl/engines");
	struct spool_engine d = { .id = INT64_MAX, .state = "dead", .node = "node.example-1", .pid = INT32_MAX,
				  .worker = "w_9", .task = "-", .beat_age_ms = -1 };
	CHECK(engine_round_trip(&d), "  ... a dead one, largest id and pid, no task, age -1");
	struct spool_engine i = x;
	snprintf(i.state, sizeof i.state, "idle");
	snprintf(i.task, sizeof i.task, "-");
	i.beat_age_ms = 0;
	CHECK(engine_round_trip(&i), "  ... an idle one, age 0");

	struct spool_engine y = x;
	snprintf(y.node, sizeof y.node, "a b");
	CHECK(engine_put_refused(&y), "put refuses a node with a space (it would shift the fields)");
	y = x;
	snprintf(y.state, sizeof y.state, "gone");
	CHECK(engine_put_refused(&y), "  ... an unknown state");
	y = x;
	y.pid = 0;
	CHECK(engine_put_refused(&y), "  ... pid 0");
	y = x;
	y.id = 0;
	CHECK(engine_put_refused(&y), "  ... engine id 0");
	y = x;
	y.beat_age_ms = -2;
	CHECK(engine_put_refused(&y), "  ... an age below -1");
	y = x;
	snprintf(y.task, sizeof y.task, "job");
	CHECK(engine_put_refused(&y), "  ... a task without its number");
	y = x;
	snprintf(y.worker, sizeof y.worker, "..");
	CHECK(engine_put_refused(&y), "  ... a worker id that is not a name");

	static const char *bad[] = {
		"",
		"3 busy n1 1234 w j.1",                 /* age missing */
		"3 busy n1 1234 w j.1 250 9",           /* a field too many */
		"3 busy n1 1234 w j.1 250 ",            /* trailing space */
		"3 busy n1 1234 w j.1 250x",            /* trailing junk */
		"3  busy n1 1234 w j.1 250",            /* two spaces */
		" 3 busy n1 1234 w j.1 250",            /* leading space */
		"3\tbusy n1 1234 w j.1 250",            /* a tab */
		"0 busy n1 1234 w j.1 250",             /* id 0 */
		"-3 busy n1 1234 w j.1 250",            /* negative id */
		"03 busy n1 1234 w j.1 250",            /* leading zero */
		"9223372036854775808 busy n1 1234 w j.1 250", /* id overflow */
		"3 BUSY n1 1234 w j.1 250",             /* unknown state */
		"3 busy .n 1234 w j.1 250",             /* node not a name */
		"3 busy n1 0 w j.1 250",                /* pid 0 */
		"3 busy n1 2147483648 w j.1 250",       /* pid above INT32_MAX */
		"3 busy n1 1234 w/x j.1 250",           /* worker not a name */
		"3 busy n1 1234 w j 250",               /* task without its number */
		"3 busy n1 1234 w j.0 250",             /* task 0 */
		"3 busy n1 1234 w j.01 250",            /* task not canonical */
		"3 busy n1 1234 w j.4294967296 250",    /* task above UINT32_MAX */
		"3 busy n1 1234 w j.1.1 250",           /* JOB.TASK.ATTEMPT is not JOB.TASK */
		"3 busy n1 1234 w -- 250",              /* not "-" */
		"3 busy n1 1234 w j.1 -2",              /* age below -1 */
		"3 busy n1 1234 w j.1 -0",              /* age "-0" */
		"3 busy n1 1234 w j.1 9223372036854775808", /* age overflow */
	};
	bool all = true;
	for (size_t k = 0; k < ARRAY_LEN(bad); k++)
		if (!engine_refused(bad[k])) {
			fprintf(stderr, "  engine line accepted: \"%s\"\n", bad[k]);
			all = false;
		}
	CHECK(all, "parse refuses missing and extra fields, stray spaces, zero, negative, non-canonical and "
		   "overflowing numbers, unknown states, bad names and bad tasks");
	char longv[600];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	memcpy(longv, "3 busy ", 7);
	CHECK(engine_refused(longv), "  ... a line longer than any engine line");
}

static bool reg_round_trip(int64_t id, int slot)
{
	struct buf b;
	struct rec r;
	struct err e;
	int64_t rid = 0;
	int rslot = -1;
	bool ok = false;
	buf_init(&b);
	rec_begin(&b, "reg");
	rec_put(&b, "wid", "w1");
	rec_put(&b, "state", "alive");
	if (reg_engine_put(&b, id, slot) == 0) {
		rec_put(&b, "mac", "x");
		rec_end(&b);
		if (rec_parse(&r, b.p, b.len, &schema_reg, &e) == 0) {
			const char *v = rec_get(&r, "engine");
			ok = v && reg_engine_parse(v, &rid, &rslot) == 0 && rid == id && rslot == slot;
			rec_free(&r);
		}
	}
	buf_free(&b);
	return ok;
}

static bool reg_refused(const char *val)
{
	int64_t id = 42;
	int slot = 42;
	return reg_engine_parse(val, &id, &slot) < 0 && id == 42 && slot == 42;
}

static void test_reg_engine(void)
{
	struct buf b;
	CHECK(reg_round_trip(1, 0), "reg engine line: ID SLOT round trip through a reg record");
	CHECK(reg_round_trip(INT64_MAX, MAX_SLOTS - 1), "  ... the largest id and slot");
	buf_init(&b);
	CHECK(reg_engine_put(&b, 0, 0) < 0 && reg_engine_put(&b, -1, 0) < 0 && reg_engine_put(&b, 1, -1) < 0 &&
		      reg_engine_put(&b, 1, MAX_SLOTS) < 0 && b.len == 0,
	      "put refuses id 0 or negative, a negative slot and one past the last");
	buf_free(&b);

	static const char *bad[] = {
		"", "1", "1 ", " 1 0", "1  0", "1 0 ", "1 0 0", "1 0x", "0 0", "-1 0", "1 -1", "+1 0", "01 0", "1 00",
		"1 1024", "1 4294967296", "9223372036854775808 0", "a 0", "1\t0",
	};
	bool all = true;
	for (size_t k = 0; k < ARRAY_LEN(bad); k++)
		if (!reg_refused(bad[k])) {
			fprintf(stderr, "  reg engine line accepted: \"%s\"\n", bad[k]);
			all = false;
		}
	CHECK(all, "parse refuses missing and extra fields, stray spaces, zero, negative, signed, non-canonical "
		   "and out-of-range numbers, trailing junk");
}

int main(void)
{
	test_taskname();
	test_engine_line();
	test_reg_engine();
	return unit_done();
}
