/* test_jobstate.c - the one writer/parser pair of published job states (lib/jobstate.c): the
 * summary and chunk records round-trip, a small job's summary holds its tasks (format 3), format 1
 * is still read, and malformed lines, counts and formats are refused. */
#include "unit.h"
#include "jobstate.h"
#include "schema.h"

#include <stdlib.h>

static struct spool_job sample_job(void)
{
	struct spool_job j;
	memset(&j, 0, sizeof j);
	snprintf(j.id, sizeof j.id, "4k7x0qz2ma");
	j.name = "with space %and\ncontrol";
	j.owner = 1001;
	j.cwd = "/data";
	j.outdir = "/data/spool-4k7x0qz2ma";
	j.command = "echo {}";
	j.ntasks = 3000;
	j.state = SPOOL_JOB_ACTIVE;
	j.counts[SPOOL_TASK_QUEUED] = 2000;
	j.counts[SPOOL_TASK_RUNNING] = 2;
	j.counts[SPOOL_TASK_SUCCEEDED] = 997;
	j.counts[SPOOL_TASK_FAILED] = 1;
	j.submitted_ms = 1700000000123ull;
	j.order = 42;
	return j;
}

static int sum_parse(const char *text, struct spool_job *j, int *v1)
{
	struct rec r;
	struct err e;
	memset(j, 0, sizeof *j);
	int rc = jobstate_sum_read(text, strlen(text), &r, j, v1, &e);
	if (rc == 0)
		rec_free(&r);
	return rc;
}

/* Parse a chunk text holding tasks 1..n (chunk 0 of job J); 0 or -1. */
static int chunk_parse(const char *text, size_t n, struct spool_task *t)
{
	struct rec r;
	struct err e;
	for (size_t i = 0; i < n; i++)
		jobstate_task_init(&t[i], i + 1);
	if (jobstate_chunk_parse(text, strlen(text), "J", 0, &r, &e) < 0)
		return -1;
	int rc = jobstate_tasks_read(&r, 1, n, t, &e);
	for (size_t i = 0; i < n; i++) {
		free(t[i].duplicates);
		t[i].duplicates = NULL;
	}
	rec_free(&r);
	return rc;
}

static int bad_line(const char *line)
{
	char text[512];
	struct spool_task t[4];
	snprintf(text, sizeof text, "spool-record 1 jobtasks\njob J\nchunk 0\n%s\nend\n", line);
	return chunk_parse(text, 4, t) < 0;
}

int main(void)
{
	struct buf b;
	struct spool_job j = sample_job(), k;
	struct rec r;
	struct err e;
	int v1;
	char name[96];

	jobstate_sum_name(name, sizeof name, "abc");
	CHECK(strcmp(name, "abc.state") == 0, "summary name");
	jobstate_chunk_name(name, sizeof name, "abc", 12);
	CHECK(strcmp(name, "abc.tasks.12") == 0, "chunk name");
	CHECK(jobstate_nchunks(0) == 0 && jobstate_nchunks(1) == 1 && jobstate_nchunks(1024) == 1 &&
		      jobstate_nchunks(1025) == 2,
	      "chunks per job");

	/* summary round trip */
	buf_init(&b);
	jobstate_sum_write(&b, &j);
	memset(&k, 0, sizeof k);
	CHECK(jobstate_sum_read(b.p, b.len, &r, &k, &v1, &e) == 0, "summary parses");
	CHECK(!v1 && k.ntasks == 3000 && k.owner == 1001 && k.state == SPOOL_JOB_ACTIVE && !k.done,
	      "summary: tasks, owner, state");
	CHECK(k.name && strcmp(k.name, j.name) == 0 && strcmp(k.command, "echo {}") == 0, "summary: name and command exact");
	CHECK(memcmp(k.counts, j.counts, sizeof k.counts) == 0, "summary: every count");
	CHECK(k.submitted_ms == j.submitted_ms && k.finished_ms == 0 && k.order == 42, "summary: times and order");
	rec_free(&r);

	/* counts that do not add up, a newer format, a bad state: refused */
	j.counts[SPOOL_TASK_QUEUED] = 1999;
	buf_reset(&b);
	jobstate_sum_write(&b, &j);
	buf_addc(&b, '\0');
	CHECK(sum_parse(b.p, &k, &v1) < 0, "summary whose counts do not add up is refused");
	j.counts[SPOOL_TASK_QUEUED] = 2000;
	CHECK(sum_parse("spool-record 1 jobsum\nformat 4\njob J\nowner 1\ncwd /\noutdir /o\nntasks 0\nstate done\nchunk 1024\nend\n",
			&k, &v1) < 0,
	      "summary of a newer format is refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 2\njob J\nowner 1\ncwd /\noutdir /o\nntasks 0\nstate sleeping\nchunk 1024\nend\n",
			&k, &v1) < 0,
	      "summary with an unknown job state is refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 2\njob J\nowner 1\ncwd /\noutdir /o\nntasks 1\nstate done\nchunk 1024\ncount finished 1\nend\n",
			&k, &v1) < 0,
	      "summary with an unknown task state is refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 2\njob J\nowner 1\ncwd /\noutdir /o\nntasks 1\nstate done\nchunk 1024\ncount succeeded 1x\nend\n",
			&k, &v1) < 0,
	      "summary with a bad count is refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 2\njob J\nowner 1\ncwd /\noutdir /o\nntasks 2000000\nstate done\nchunk 1024\ncount succeeded 2000000\nend\n",
			&k, &v1) < 0,
	      "summary with more tasks than a job may have is refused");

	/* format 1 is read */
	CHECK(sum_parse("spool-record 1 jobstate\njob J\nowner 5\ncwd /\noutdir /o\nntasks 2\nstate active\n"
			"task 1 succeeded 1 3 0 - 12 n1\ntask 2 queued 0 - - - - -\nend\n", &k, &v1) == 0 && v1 &&
		      k.ntasks == 2 && k.owner == 5,
	      "format 1 state is read");

	/* chunk round trip: every field, a reason with control bytes, a duplicate */
	struct spool_task t[3], u[3];
	for (int i = 0; i < 3; i++)
		jobstate_task_init(&t[i], (uint64_t)i + 1);
	t[0].state = SPOOL_TASK_SUCCEEDED;
	t[0].attempt = 2;
	t[0].engine = 7;
	t[0].exit_code = 0;
	t[0].wall_ms = 1234;
	t[0].node = "node-1";
	struct spool_attempt dup = { 1, "node-2-abc", "exited", 3, 0 };
	t[0].duplicates = &dup;
	t[0].nduplicates = 1;
	t[1].state = SPOOL_TASK_FAILED;
	t[1].attempt = 1;
	t[1].engine = 8;
	t[1].signal = 9;
	t[1].node = "node-2";
	t[1].reason = "killed\nby %signal";
	buf_reset(&b);
	jobstate_chunk_begin(&b, "J", 0);
	for (int i = 0; i < 3; i++)
		jobstate_task_write(&b, &t[i]);
	rec_end(&b);
	buf_addc(&b, '\0');
	for (int i = 0; i < 3; i++)
		jobstate_task_init(&u[i], (uint64_t)i + 1);
	CHECK(jobstate_chunk_parse(b.p, b.len - 1, "J", 0, &r, &e) == 0, "chunk parses");
	CHECK(jobstate_tasks_read(&r, 1, 3, u, &e) == 0, "its tasks are read");
	CHECK(u[0].state == SPOOL_TASK_SUCCEEDED && u[0].attempt == 2 && u[0].engine == 7 && u[0].exit_code == 0 &&
		      u[0].signal == 0 && u[0].wall_ms == 1234 && strcmp(u[0].node, "node-1") == 0 && !u[0].reason,
	      "task 1: every field");
	CHECK(u[0].nduplicates == 1 && u[0].duplicates[0].attempt == 1 && strcmp(u[0].duplicates[0].worker, "node-2-abc") == 0 &&
		      strcmp(u[0].duplicates[0].status, "exited") == 0 && u[0].duplicates[0].exit_code == 3,
	      "task 1: its duplicate");
	CHECK(u[1].state == SPOOL_TASK_FAILED && u[1].signal == 9 && u[1].exit_code == -1 && u[1].reason &&
		      strcmp(u[1].reason, "killed\nby %signal") == 0,
	      "task 2: signal and reason exact");
	CHECK(u[2].state == SPOOL_TASK_QUEUED && u[2].attempt == 0 && u[2].engine == -1 && strcmp(u[2].node, "-") == 0,
	      "task 3: never assigned");
	free(u[0].duplicates);
	rec_free(&r);
	CHECK(jobstate_chunk_parse(b.p, b.len - 1, "K", 0, &r, &e) < 0, "a chunk of another job is refused");
	CHECK(jobstate_chunk_parse(b.p, b.len - 1, "J", 1, &r, &e) < 0, "a chunk with another number is refused");

	/* format 3: a small job's summary holds its tasks, and only then */
	struct spool_job s3 = sample_job();
	memset(s3.counts, 0, sizeof s3.counts);
	s3.ntasks = 3;
	s3.counts[SPOOL_TASK_SUCCEEDED] = 1;
	s3.counts[SPOOL_TASK_FAILED] = 1;
	s3.counts[SPOOL_TASK_QUEUED] = 1;
	s3.tasks = t;
	buf_reset(&b);
	jobstate_sum_write(&b, &s3);
	memset(&k, 0, sizeof k);
	for (int i = 0; i < 3; i++)
		jobstate_task_init(&u[i], (uint64_t)i + 1);
	CHECK(jobstate_sum_read(b.p, b.len, &r, &k, &v1, &e) == 0 && v1 && k.ntasks == 3 &&
		      rec_get_u64(&r, "format", 0) == JOBSTATE_FORMAT_INLINE && k.counts[SPOOL_TASK_FAILED] == 1,
	      "format 3: a job of 3 tasks has them in its summary, with its counts");
	CHECK(jobstate_tasks_read(&r, 1, 3, u, &e) == 0 && u[0].nduplicates == 1 && u[0].engine == 7 &&
		      u[1].reason && strcmp(u[1].reason, "killed\nby %signal") == 0 && u[2].state == SPOOL_TASK_QUEUED,
	      "format 3: its tasks read back exact");
	free(u[0].duplicates);
	rec_free(&r);
	s3.tasks = NULL;
	buf_reset(&b);
	jobstate_sum_write(&b, &s3);
	CHECK(jobstate_sum_read(b.p, b.len, &r, &k, &v1, &e) == 0 && !v1 && rec_get_u64(&r, "format", 0) == JOBSTATE_FORMAT,
	      "format 2 when the writer has no tasks to put in");
	rec_free(&r);
	j.tasks = t; /* 3,000 tasks: never inline */
	buf_reset(&b);
	jobstate_sum_write(&b, &j);
	CHECK(jobstate_sum_read(b.p, b.len, &r, &k, &v1, &e) == 0 && !v1 && rec_count(&r, "task") == 0,
	      "a job of more than JOBSTATE_INLINE tasks keeps them in chunks");
	rec_free(&r);
	j.tasks = NULL;
	CHECK(sum_parse("spool-record 1 jobsum\nformat 2\njob J\nowner 1\ncwd /\noutdir /o\nntasks 1\nstate done\nchunk 1024\n"
			"count succeeded 1\ntask 1 succeeded 1 3 0 - 12 n1\nend\n", &k, &v1) < 0,
	      "task lines in a format 2 summary are refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 3\njob J\nowner 1\ncwd /\noutdir /o\nntasks 2000\nstate active\nchunk 1024\n"
			"count queued 2000\nend\n", &k, &v1) < 0,
	      "format 3 with more tasks than a chunk is refused");
	CHECK(sum_parse("spool-record 1 jobsum\nformat 3\njob J\nowner 1\ncwd /\noutdir /o\nntasks 1\nstate done\nchunk 1024\n"
			"count succeeded 1\ntask 1 succeeded 1 3 0 - 12 n1\nend\n", &k, &v1) == 0 && v1,
	      "format 3 is read");

	/* malformed lines */
	CHECK(!bad_line("task 1 succeeded 1 3 0 - 12 n1"), "a good task line passes");
	CHECK(bad_line("task 1 succeeded 1 3 0 - 12"), "a task line with a field missing is refused");
	CHECK(bad_line("task 5 succeeded 1 3 0 - 12 n1"), "a task outside the chunk is refused");
	CHECK(bad_line("task 0 succeeded 1 3 0 - 12 n1"), "task 0 is refused");
	CHECK(bad_line("task 1 done 1 3 0 - 12 n1"), "an unknown task state is refused");
	CHECK(bad_line("task 1 succeeded -1 3 0 - 12 n1"), "a negative attempt is refused");
	CHECK(bad_line("task 1 succeeded 1 3 256 - 12 n1"), "an exit status over 255 is refused");
	CHECK(bad_line("task 1 succeeded 1 3 0 - 99999999999999999999 n1"), "an overflowing number is refused");
	CHECK(bad_line("task 1 succeeded 1 3 0 - 12x n1"), "trailing junk in a number is refused");
	CHECK(bad_line("task 1 succeeded 1 3 0 - 12 ../etc"), "a node that is not a name is refused");
	CHECK(bad_line("task 1 succeeded 1 3 0 - 12 n1 extra"), "an extra field is refused");
	CHECK(bad_line("reason 9 why"), "a reason for a task outside the chunk is refused");
	CHECK(bad_line("reason x why"), "a reason with no task number is refused");
	CHECK(!bad_line("dup 1 2 w exited 0 -"), "a good dup line passes");
	CHECK(bad_line("dup 1 0 w exited 0 -"), "a dup of attempt 0 is refused");
	CHECK(bad_line("dup 1 2 w exited 0"), "a dup with a field missing is refused");
	buf_free(&b);
	return unit_done();
}
