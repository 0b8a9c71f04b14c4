/* fuzz_ctl.c - what spoold publishes for clients in ctl/: job states (ctl/jobs/JOB.state),
 * the engine table (ctl/engines) and who runs the controller (ctl/controller). Clients on
 * every node read them; a torn or foreign file must be refused, not trusted.
 *
 * Engine lines are then split by engine_line_parse (lib/smallfmt.c), checked here to read back
 * through its writer; the task and dup lines of job states are split by static helpers in
 * lib/api.c that only run on a whole spool. */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"
#include "smallfmt.h"

#include <string.h>

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
	fuzz_try(data, size, &schema_engines, use_engines);
	fuzz_try(data, size, &schema_ctlinfo, use_ctlinfo);
	fuzz_rec_peek(data, size);
	return 0;
}
