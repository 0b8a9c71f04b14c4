/* fuzz_done.c - completion records: workers/WID/done/JOB.TASK.ATTEMPT, read by spoold, and the
 * same record kept beside the data as TASK.ATTEMPT.res, read by `spool collect`. The .res file
 * lives in the user's output directory, so anything may be in it. */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"

#include <string.h>

static void use_done(const struct rec *r)
{
	static const char *const num[] = { "task", "attempt", "engine", "exit", "signal", "start_ms",
					   "end_ms", "wall_ms", "user_ms", "sys_ms", "maxrss_kb" };
	uint64_t sum = 0;

	fuzz_use(name_ok(rec_get(r, "job")) ? "j" : "");
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
	fuzz_use(name_ok(rec_get(r, "node")) ? "n" : "");
	fuzz_use(rec_get(r, "status"));
	fuzz_use(rec_get(r, "reason"));
	fuzz_use(rec_get(r, "stdout"));
	fuzz_use(rec_get(r, "stderr"));
	for (size_t i = 0; i < sizeof num / sizeof *num; i++)
		sum |= rec_get_u64(r, num[i], 0);
	/* exit and signal are at most 3 digits by the schema. */
	FUZZ_CHECK(rec_get_u64(r, "exit", 0) <= 999 && rec_get_u64(r, "signal", 0) <= 999);
	fuzz_use(sum ? "s" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_try(data, size, &schema_done, use_done);
	fuzz_rec_peek(data, size);
	return 0;
}
