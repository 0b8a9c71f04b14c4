/* fuzz_ctl.c - what spoold publishes for clients in ctl/: job states (ctl/jobs/JOB.state),
 * the engine table (ctl/engines) and who runs the controller (ctl/controller). Clients on
 * every node read them; a torn or foreign file must be refused, not trusted.
 *
 * Job states go through lib/jobstate.c, the one parser clients and the rebuild use: the
 * summary (format 2, or a whole format 1 state) and a chunk of tasks with its task, reason and
 * dup lines. Engine lines are split by engine_line_parse (lib/smallfmt.c), checked here to
 * read back through its writer. */
#include "fuzz.h"
#include "ids.h"
#include "jobstate.h"
#include "schema.h"
#include "smallfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The summary, and the tasks in it (formats 1 and 3) or in a chunk (format 2): whatever the input,
 * every task line either fills a task of the range or is refused. */
static void try_jobstate(const uint8_t *data, size_t size)
{
	struct spool_job j;
	struct rec r;
	struct err e;
	int v1;
	memset(&j, 0, sizeof j);
	if (jobstate_sum_read((const char *)data, size, &r, &j, &v1, &e) == 0) {
		size_t n = v1 && j.ntasks <= 4096 ? j.ntasks : 0;
		struct spool_task *t = calloc(n ? n : 1, sizeof *t);
		for (size_t i = 0; i < n; i++)
			jobstate_task_init(&t[i], i + 1);
		if (jobstate_tasks_read(&r, 1, n, t, &e) == 0)
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(t[i].task == i + 1 && t[i].node && (int)t[i].state < SPOOL_TASK_NSTATES);
		for (size_t i = 0; i < n; i++)
			free(t[i].duplicates);
		free(t);
		rec_free(&r);
	}
	/* A chunk names its job and number; the parser checks them against what the reader expects. */
	char job[72] = "";
	struct rec r0;
	if (rec_parse(&r0, (const char *)data, size, &schema_jobtasks, NULL) == 0) {
		snprintf(job, sizeof job, "%s", rec_get(&r0, "job"));
		rec_free(&r0);
		if (strcmp(job, "x") != 0)
			FUZZ_CHECK(jobstate_chunk_parse((const char *)data, size, "x", 0, &r0, &e) < 0);
	}
	if (job[0] && jobstate_chunk_parse((const char *)data, size, job, 0, &r, &e) == 0) {
		struct spool_task t[JOBSTATE_CHUNK];
		for (size_t i = 0; i < JOBSTATE_CHUNK; i++)
			jobstate_task_init(&t[i], i + 1);
		if (jobstate_tasks_read(&r, 1, JOBSTATE_CHUNK, t, &e) == 0)
			for (size_t i = 0; i < JOBSTATE_CHUNK; i++)
				FUZZ_CHECK(t[i].task == i + 1 && t[i].node && (int)t[i].state < SPOOL_TASK_NSTATES);
		for (size_t i = 0; i < JOBSTATE_CHUNK; i++)
			free(t[i].duplicates);
		rec_free(&r);
	}
}

static void use_jobstate(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "job")) ? "j" : "");
	fuzz_use(rec_get(r, "outdir"));
	fuzz_use(rec_get(r, "state"));
	fuzz_use(rec_get_u64(r, "ntasks", 0) | rec_get_u64(r, "owner", 0) ? "n" : "");
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, "task") == 0 || strcmp(r->f[i].key, "reason") == 0)
			fuzz_use(r->f[i].val);
}

/* An engine line the parser accepts is written back by engine_line_put to the same bytes. */
static void use_engines(const struct rec *r)
{
	FUZZ_CHECK(rec_count(r, "engine") == r->n);
	for (size_t i = 0; i < r->n; i++) {
		struct spool_engine x;
		struct buf b;
		fuzz_use(r->f[i].val);
		if (engine_line_parse(r->f[i].val, &x) < 0)
			continue;
		FUZZ_CHECK(name_ok(x.node) && name_ok(x.worker) && x.id >= 1 && x.pid >= 1 && x.beat_age_ms >= -1);
		buf_init(&b);
		FUZZ_CHECK(engine_line_put(&b, &x) == 0);
		FUZZ_CHECK(b.len == 7 + r->f[i].len + 1 && memcmp(b.p + 7, r->f[i].val, r->f[i].len) == 0);
		buf_free(&b);
	}
}

static void use_ctlinfo(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "node")) ? "n" : "");
	fuzz_use(rec_get(r, "boot"));
	fuzz_use(rec_get(r, "database"));
	fuzz_use(rec_get_u64(r, "pid", 0) | rec_get_u64(r, "start", 0) ? "p" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_try(data, size, &schema_jobstate, use_jobstate);
	try_jobstate(data, size);
	fuzz_try(data, size, &schema_engines, use_engines);
	fuzz_try(data, size, &schema_ctlinfo, use_ctlinfo);
	fuzz_rec_peek(data, size);
	return 0;
}
