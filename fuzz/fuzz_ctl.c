/* fuzz_ctl.c - what spoold publishes for clients in ctl/: job states (ctl/jobs/JOB.state),
 * the engine table (ctl/engines) and who runs the controller (ctl/controller). Clients on
 * every node read them; a torn or foreign file must be refused, not trusted.
 *
 * The task, dup and engine lines inside these records are split further by static helpers in
 * lib/api.c and lib/api_wait.c that only run on a whole spool; this target covers rec_parse. */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"

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

static void use_engines(const struct rec *r)
{
	FUZZ_CHECK(rec_count(r, "engine") == r->n);
	for (size_t i = 0; i < r->n; i++)
		fuzz_use(r->f[i].val);
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
